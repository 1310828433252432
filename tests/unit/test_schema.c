/*
 * test_schema.c - the generated codecs (schema_gen.c): round trips of
 * representative messages and versions, byte-exact checks against
 * hand-assembled frames, tagged fields, truncated and hostile input, and a
 * random-input smoke run over every API and version through the dispatch.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "arena.h"
#include "schema_gen.h"
#include "wire.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Encoded buffers that decoded structs point into; freed per test. */
static uint8_t *kept[64];
static size_t nkept;

static uint8_t *keep(uint8_t *p)
{
    assert_true(nkept < GR_ARRAY_LEN(kept));
    kept[nkept++] = p;
    return p;
}

static int teardown(void **state)
{
    (void)state;
    while (nkept)
        free(kept[--nkept]);
    return 0;
}

static uint8_t *take(gr_wr_t *w, size_t *len)
{
    uint8_t *p = gr_wr_flatten(w, len);
    assert_non_null(p);
    uint8_t *c = malloc(*len ? *len : 1);
    memcpy(c, p, *len);
    gr_wr_free(w);
    return c;
}

/* Encode `in`, decode into `out`, check all bytes were consumed, encode
 * `out` again and check the bytes are identical.  Leaves the encoding in
 * rt_buf/rt_len. */
static uint8_t *rt_buf;
static size_t rt_len;

#define ROUNDTRIP(M, ver, in, out, arena)                                      \
    do {                                                                       \
        gr_wr_t w_;                                                            \
        gr_rd_t rd_;                                                           \
        size_t n2_;                                                            \
        gr_wr_init(&w_);                                                       \
        gr_##M##_encode(&w_, (ver), (in));                                     \
        rt_buf = keep(take(&w_, &rt_len));                                     \
        gr_rd_init(&rd_, rt_buf, rt_len);                                      \
        assert_int_equal(gr_##M##_decode(&rd_, (ver), (arena), (out)), 0);    \
        assert_int_equal(gr_rd_left(&rd_), 0);                                 \
        gr_wr_init(&w_);                                                       \
        gr_##M##_encode(&w_, (ver), (out));                                    \
        uint8_t *b2_ = take(&w_, &n2_);                                        \
        assert_int_equal(rt_len, n2_);                                         \
        assert_memory_equal(rt_buf, b2_, rt_len);                              \
        free(b2_);                                                             \
    } while (0)

/* Every strict prefix of buf must fail to decode, without reading past it
 * (each prefix is copied into an exact-size heap buffer for ASan). */
#define TRUNCATIONS(M, ver, buf, len)                                          \
    do {                                                                       \
        for (size_t cut_ = 0; cut_ < (len); cut_++) {                          \
            uint8_t *p_ = malloc(cut_ ? cut_ : 1);                             \
            memcpy(p_, (buf), cut_);                                           \
            gr_arena_t a_;                                                     \
            gr_arena_init(&a_);                                                \
            gr_rd_t rd_;                                                       \
            gr_##M##_t m_;                                                     \
            gr_rd_init(&rd_, p_, cut_);                                        \
            assert_int_equal(gr_##M##_decode(&rd_, (ver), &a_, &m_), GR_EPROTO); \
            gr_arena_free(&a_);                                                \
            free(p_);                                                          \
        }                                                                      \
    } while (0)

static gr_str_t S(const char *s)
{
    return (gr_str_t){s, (int32_t)strlen(s)};
}

static bool str_eq(gr_str_t a, const char *s)
{
    return GR_STR_EQ(a, s);
}

/* ------------------------------------------------------------ Produce */

static void fill_produce(gr_ProduceRequest_t *m, gr_ProduceRequest_TopicProduceData_t *t,
                         gr_ProduceRequest_PartitionProduceData_t *p)
{
    static const uint8_t batch[] = "not really a record batch but 61 bytes of payload.........!";
    gr_ProduceRequest_init(m);
    m->TransactionalId = S("txn-1");
    m->Acks = -1;
    m->TimeoutMs = 30000;
    m->TopicData = t;
    m->TopicData_count = 1;
    gr_ProduceRequest_TopicProduceData_init(t);
    t->Name = S("orders");
    t->PartitionData = p;
    t->PartitionData_count = 2;
    for (int i = 0; i < 2; i++) {
        gr_ProduceRequest_PartitionProduceData_init(&p[i]);
        p[i].Index = i;
        p[i].Records = (gr_records_t){.len = (int32_t)sizeof(batch), .mem = batch};
    }
    p[1].Records.len = -1;
}

static void test_produce(void **state)
{
    (void)state;
    static const int16_t versions[] = {3, 9};
    for (size_t vi = 0; vi < GR_ARRAY_LEN(versions); vi++) {
        int16_t v = versions[vi];
        gr_ProduceRequest_t m, o;
        gr_ProduceRequest_TopicProduceData_t t;
        gr_ProduceRequest_PartitionProduceData_t p[2];
        gr_arena_t a;
        gr_arena_init(&a);
        fill_produce(&m, &t, p);
        ROUNDTRIP(ProduceRequest, v, &m, &o, &a);
        assert_true(str_eq(o.TransactionalId, "txn-1"));
        assert_int_equal(o.Acks, -1);
        assert_int_equal(o.TimeoutMs, 30000);
        assert_int_equal(o.TopicData_count, 1);
        assert_true(str_eq(o.TopicData[0].Name, "orders"));
        assert_int_equal(o.TopicData[0].PartitionData_count, 2);
        assert_int_equal(o.TopicData[0].PartitionData[1].Index, 1);
        gr_records_t *r = &o.TopicData[0].PartitionData[0].Records;
        assert_int_equal(r->len, p[0].Records.len);
        assert_memory_equal(r->mem, p[0].Records.mem, (size_t)r->len);
        /* zero copy: records point into the request buffer */
        assert_true(r->mem > rt_buf && r->mem < rt_buf + rt_len);
        assert_int_equal(o.TopicData[0].PartitionData[1].Records.len, -1);
        TRUNCATIONS(ProduceRequest, v, rt_buf, rt_len);
        gr_arena_free(&a);
    }
}

static void test_hostile_count(void **state)
{
    (void)state;
    /* ProduceRequest v3: TransactionalId null, acks, timeout, then a topic
     * count of 2^31-1 with 8 bytes behind it. */
    static const uint8_t v3[] = {0xff, 0xff, 0, 1, 0, 0, 0x75, 0x30,
                                 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0};
    gr_arena_t a;
    gr_arena_init(&a);
    gr_rd_t rd;
    gr_ProduceRequest_t m;
    gr_rd_init(&rd, v3, sizeof(v3));
    assert_int_equal(gr_ProduceRequest_decode(&rd, 3, &a, &m), GR_EPROTO);
    assert_null(a.head);                     /* nothing allocated */
    /* the same in compact form (v9) */
    static const uint8_t v9[] = {0x00, 0, 1, 0, 0, 0x75, 0x30,
                                 0xff, 0xff, 0xff, 0xff, 0x07, 0, 0, 0, 0};
    gr_rd_init(&rd, v9, sizeof(v9));
    assert_int_equal(gr_ProduceRequest_decode(&rd, 9, &a, &m), GR_EPROTO);
    assert_null(a.head);
    /* a count that fits in bytes but not in minimal partition records */
    static const uint8_t fit[] = {0xff, 0xff, 0, 1, 0, 0, 0x75, 0x30,
                                  0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    gr_rd_init(&rd, fit, sizeof(fit));
    assert_int_equal(gr_ProduceRequest_decode(&rd, 3, &a, &m), GR_EPROTO);
    assert_null(a.head);
    gr_arena_free(&a);
}

/* -------------------------------------------------------------- Fetch */

static int tmp_fd(void)
{
    char path[] = "/tmp/gregor-test-schema-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

static void test_fetch_response(void **state)
{
    (void)state;
    static const uint8_t recs[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    static const int16_t versions[] = {4, 12};
    for (size_t vi = 0; vi < GR_ARRAY_LEN(versions); vi++) {
        int16_t v = versions[vi];
        gr_FetchResponse_t m, o;
        gr_FetchResponse_FetchableTopicResponse_t t;
        gr_FetchResponse_PartitionData_t p;
        gr_FetchResponse_AbortedTransaction_t ab[2] = {{10, 100}, {11, 110}};
        gr_arena_t a;
        gr_arena_init(&a);
        gr_FetchResponse_init(&m);
        m.ThrottleTimeMs = 5;
        m.SessionId = 77;
        m.Responses = &t;
        m.Responses_count = 1;
        gr_FetchResponse_FetchableTopicResponse_init(&t);
        t.Topic = S("logs");
        t.Partitions = &p;
        t.Partitions_count = 1;
        gr_FetchResponse_PartitionData_init(&p);
        assert_true(p.LastStableOffset == -1 && p.PreferredReadReplica == -1);
        assert_int_equal(p.CurrentLeader.LeaderId, -1);
        p.PartitionIndex = 3;
        p.HighWatermark = 1234567890123LL;
        p.LastStableOffset = 1234567890000LL;
        p.AbortedTransactions = ab;
        p.AbortedTransactions_count = 2;
        p.CurrentLeader.LeaderId = 1;           /* tagged (v12+) */
        p.CurrentLeader.LeaderEpoch = 9;
        p.Records = (gr_records_t){.len = (int32_t)sizeof(recs), .mem = recs};
        ROUNDTRIP(FetchResponse, v, &m, &o, &a);
        assert_int_equal(o.Responses_count, 1);
        gr_FetchResponse_PartitionData_t *q = &o.Responses[0].Partitions[0];
        assert_int_equal(q->PartitionIndex, 3);
        assert_true(q->HighWatermark == 1234567890123LL);
        assert_int_equal(q->AbortedTransactions_count, 2);
        assert_true(q->AbortedTransactions[1].FirstOffset == 110);
        assert_int_equal(q->Records.len, (int32_t)sizeof(recs));
        if (v >= 12) {
            assert_int_equal(q->CurrentLeader.LeaderId, 1);
            assert_int_equal(q->CurrentLeader.LeaderEpoch, 9);
            assert_int_equal(o.SessionId, 77);
        } else {
            assert_int_equal(q->CurrentLeader.LeaderId, -1);
        }
        assert_int_equal(q->DivergingEpoch.Epoch, -1);
        TRUNCATIONS(FetchResponse, v, rt_buf, rt_len);

        /* file-backed records become a file chunk of the chain */
        gr_file_t *f = gr_file_new(tmp_fd());
        p.Records = (gr_records_t){.len = 4096, .file = f, .file_off = 8192};
        gr_wr_t w;
        gr_wr_init(&w);
        gr_FetchResponse_encode(&w, v, &m);
        int files = 0;
        for (gr_chunk_t *c = w.head; c; c = c->next)
            if (c->file) {
                files++;
                assert_int_equal(c->len, 4096);
                assert_true(c->file_off == 8192);
            }
        assert_int_equal(files, 1);
        assert_int_equal(f->refs, 2);
        gr_wr_free(&w);
        assert_int_equal(f->refs, 1);
        gr_file_unref(f);
        gr_arena_free(&a);
    }
}

/* ----------------------------------------------------------- Metadata */

static void test_metadata_response(void **state)
{
    (void)state;
    static const int16_t versions[] = {1, 12};
    for (size_t vi = 0; vi < GR_ARRAY_LEN(versions); vi++) {
        int16_t v = versions[vi];
        gr_MetadataResponse_t m, o;
        gr_MetadataResponse_MetadataResponseBroker_t b[2];
        gr_MetadataResponse_MetadataResponseTopic_t t;
        gr_MetadataResponse_MetadataResponsePartition_t p;
        int32_t replicas[3] = {1, 2, 3}, isr[2] = {1, 2};
        gr_arena_t a;
        gr_arena_init(&a);
        gr_MetadataResponse_init(&m);
        for (int i = 0; i < 2; i++) {
            gr_MetadataResponse_MetadataResponseBroker_init(&b[i]);
            b[i].NodeId = i + 1;
            b[i].Host = S("localhost");
            b[i].Port = 9092 + i;
        }
        b[1].Rack = S("rack-b");
        m.Brokers = b;
        m.Brokers_count = 2;
        m.ClusterId = S("gregor-cluster");
        m.ControllerId = 1;
        gr_MetadataResponse_MetadataResponseTopic_init(&t);
        t.Name = S("orders");
        t.TopicId.b[15] = 0x42;
        t.Partitions = &p;
        t.Partitions_count = 1;
        gr_MetadataResponse_MetadataResponsePartition_init(&p);
        p.PartitionIndex = 0;
        p.LeaderId = 1;
        p.LeaderEpoch = 4;
        p.ReplicaNodes = replicas;
        p.ReplicaNodes_count = 3;
        p.IsrNodes = isr;
        p.IsrNodes_count = 2;
        m.Topics = &t;
        m.Topics_count = 1;
        ROUNDTRIP(MetadataResponse, v, &m, &o, &a);
        assert_int_equal(o.Brokers_count, 2);
        assert_true(str_eq(o.Brokers[0].Host, "localhost"));
        assert_int_equal(o.Brokers[0].Rack.len, -1);
        assert_true(str_eq(o.Brokers[1].Rack, "rack-b"));
        assert_int_equal(o.ControllerId, 1);
        assert_int_equal(o.Topics[0].Partitions[0].ReplicaNodes_count, 3);
        assert_int_equal(o.Topics[0].Partitions[0].ReplicaNodes[2], 3);
        assert_int_equal(o.Topics[0].Partitions[0].IsrNodes[1], 2);
        if (v >= 12) {
            assert_true(str_eq(o.ClusterId, "gregor-cluster"));
            assert_int_equal(o.Topics[0].TopicId.b[15], 0x42);
            assert_int_equal(o.Topics[0].Partitions[0].LeaderEpoch, 4);
        } else {
            assert_int_equal(o.ClusterId.len, -1);    /* v2+ only: default null */
            assert_int_equal(o.Topics[0].TopicId.b[15], 0);
        }
        TRUNCATIONS(MetadataResponse, v, rt_buf, rt_len);
        gr_arena_free(&a);
    }
}

/* -------------------------------------------------------- ApiVersions */

static void test_api_versions_response(void **state)
{
    (void)state;
    static const int16_t versions[] = {0, 3};
    for (size_t vi = 0; vi < GR_ARRAY_LEN(versions); vi++) {
        int16_t v = versions[vi];
        gr_ApiVersionsResponse_t m, o;
        gr_ApiVersionsResponse_ApiVersion_t k[3];
        gr_arena_t a;
        gr_arena_init(&a);
        gr_ApiVersionsResponse_init(&m);
        assert_true(m.FinalizedFeaturesEpoch == -1);
        for (int i = 0; i < 3; i++) {
            k[i].ApiKey = (int16_t)i;
            k[i].MinVersion = 0;
            k[i].MaxVersion = (int16_t)(9 + i);
        }
        m.ApiKeys = k;
        m.ApiKeys_count = 3;
        m.ThrottleTimeMs = 0;
        m.ZkMigrationReady = true;
        ROUNDTRIP(ApiVersionsResponse, v, &m, &o, &a);
        assert_int_equal(o.ApiKeys_count, 3);
        assert_int_equal(o.ApiKeys[2].MaxVersion, 11);
        assert_int_equal(o.ZkMigrationReady, v >= 3);
        if (v == 0)
            assert_int_equal(rt_len, 2 + 4 + 3 * 6);
        gr_arena_free(&a);
    }
}

static void test_api_versions_tags(void **state)
{
    (void)state;
    /* v3: ErrorCode, ApiKeys[1], ThrottleTimeMs, tags {3: true, 9: unknown} */
    static const uint8_t in[] = {
        0, 0,
        0x02, 0, 18, 0, 0, 0, 3, 0x00,
        0, 0, 0, 0,
        0x02, 0x03, 0x01, 0x01, 0x09, 0x02, 0xaa, 0xbb};
    gr_arena_t a;
    gr_arena_init(&a);
    gr_rd_t rd;
    gr_ApiVersionsResponse_t m;
    gr_rd_init(&rd, in, sizeof(in));
    assert_int_equal(gr_ApiVersionsResponse_decode(&rd, 3, &a, &m), 0);
    assert_int_equal(gr_rd_left(&rd), 0);
    assert_int_equal(m.ApiKeys_count, 1);
    assert_int_equal(m.ApiKeys[0].ApiKey, 18);
    assert_int_equal(m.ApiKeys[0].MaxVersion, 3);
    assert_true(m.ZkMigrationReady);             /* known tag decoded */
    assert_true(m.FinalizedFeaturesEpoch == -1);  /* absent tag: default */
    assert_int_equal(m.SupportedFeatures_count, 0);
    /* re-encoded: the unknown tag is dropped, the known one kept */
    gr_wr_t w;
    gr_wr_init(&w);
    gr_ApiVersionsResponse_encode(&w, 3, &m);
    size_t len;
    uint8_t *out = take(&w, &len);
    assert_int_equal(len, sizeof(in) - 4);
    assert_memory_equal(out, in, 14);
    assert_int_equal(out[14], 0x01);             /* one tag */
    assert_memory_equal(out + 15, in + 15, 3);   /* 3: size 1, true */
    free(out);
    /* a tag whose size runs past the end */
    static const uint8_t bad[] = {0, 0, 0x01, 0, 0, 0, 0, 0x01, 0x03, 0x05, 0x01};
    gr_rd_init(&rd, bad, sizeof(bad));
    assert_int_equal(gr_ApiVersionsResponse_decode(&rd, 3, &a, &m), GR_EPROTO);
    gr_arena_free(&a);
}

/* librdkafka's first frame: ApiVersionsRequest v3, header v2. */
static const uint8_t rdkafka_apiversions[] = {
    0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x07, 'r', 'd', 'k', 'a', 'f', 'k', 'a',
    0x00,
    0x0b, 'l', 'i', 'b', 'r', 'd', 'k', 'a', 'f', 'k', 'a',
    0x06, '2', '.', '0', '.', '2',
    0x00};

static void test_request_header_bytes(void **state)
{
    (void)state;
    gr_arena_t a;
    gr_arena_init(&a);
    gr_rd_t rd;
    gr_RequestHeader_t h;
    gr_ApiVersionsRequest_t r;
    gr_rd_init(&rd, rdkafka_apiversions, sizeof(rdkafka_apiversions));
    assert_int_equal(gr_schema_request_header_version(18, 3), 2);
    assert_int_equal(gr_RequestHeader_decode(&rd, 2, &a, &h), 0);
    assert_int_equal(h.RequestApiKey, 18);
    assert_int_equal(h.RequestApiVersion, 3);
    assert_int_equal(h.CorrelationId, 1);
    assert_true(str_eq(h.ClientId, "rdkafka"));
    assert_int_equal(gr_ApiVersionsRequest_decode(&rd, 3, &a, &r), 0);
    assert_true(str_eq(r.ClientSoftwareName, "librdkafka"));
    assert_true(str_eq(r.ClientSoftwareVersion, "2.0.2"));
    assert_int_equal(gr_rd_left(&rd), 0);

    gr_wr_t w;
    gr_wr_init(&w);
    gr_RequestHeader_t eh;
    gr_RequestHeader_init(&eh);
    eh.RequestApiKey = 18;
    eh.RequestApiVersion = 3;
    eh.CorrelationId = 1;
    eh.ClientId = S("rdkafka");
    gr_RequestHeader_encode(&w, 2, &eh);
    gr_ApiVersionsRequest_t er;
    gr_ApiVersionsRequest_init(&er);
    er.ClientSoftwareName = S("librdkafka");
    er.ClientSoftwareVersion = S("2.0.2");
    gr_ApiVersionsRequest_encode(&w, 3, &er);
    size_t len;
    uint8_t *out = take(&w, &len);
    assert_int_equal(len, sizeof(rdkafka_apiversions));
    assert_memory_equal(out, rdkafka_apiversions, len);
    free(out);

    /* header v1 with a null client id; v2 round trip */
    gr_RequestHeader_t o;
    eh.ClientId = GR_STR_NULL;
    ROUNDTRIP(RequestHeader, 1, &eh, &o, &a);
    assert_int_equal(rt_len, 10);
    assert_int_equal(o.ClientId.len, -1);
    eh.ClientId = S("c");
    ROUNDTRIP(RequestHeader, 2, &eh, &o, &a);
    assert_int_equal(rt_len, 12);
    assert_int_equal(rt_buf[8], 0);              /* int16 length, not compact */
    assert_int_equal(rt_buf[9], 1);
    TRUNCATIONS(RequestHeader, 2, rdkafka_apiversions, 18);
    gr_arena_free(&a);
}

/* ---------------------------------------------------------- JoinGroup */

static void test_join_group(void **state)
{
    (void)state;
    static const int16_t versions[] = {5, 6};
    for (size_t vi = 0; vi < GR_ARRAY_LEN(versions); vi++) {
        int16_t v = versions[vi];
        gr_JoinGroupRequest_t m, o;
        gr_JoinGroupRequest_JoinGroupRequestProtocol_t p[2];
        gr_arena_t a;
        gr_arena_init(&a);
        gr_JoinGroupRequest_init(&m);
        assert_int_equal(m.RebalanceTimeoutMs, -1);
        assert_int_equal(m.GroupInstanceId.len, -1);
        m.GroupId = S("g1");
        m.SessionTimeoutMs = 10000;
        m.RebalanceTimeoutMs = 300000;
        m.MemberId = S("");
        m.ProtocolType = S("consumer");
        p[0].Name = S("range");
        p[0].Metadata = (gr_bytes_t){(const uint8_t *)"\0\1\0\0\0\0", 6};
        p[1].Name = S("roundrobin");
        p[1].Metadata = (gr_bytes_t){NULL, 0};
        m.Protocols = p;
        m.Protocols_count = 2;
        ROUNDTRIP(JoinGroupRequest, v, &m, &o, &a);
        assert_true(str_eq(o.GroupId, "g1"));
        assert_int_equal(o.RebalanceTimeoutMs, 300000);
        assert_int_equal(o.MemberId.len, 0);
        assert_int_equal(o.GroupInstanceId.len, -1);
        assert_int_equal(o.Protocols_count, 2);
        assert_true(str_eq(o.Protocols[1].Name, "roundrobin"));
        assert_int_equal(o.Protocols[0].Metadata.len, 6);
        assert_int_equal(o.Protocols[1].Metadata.len, 0);
        m.GroupInstanceId = S("static-1");
        ROUNDTRIP(JoinGroupRequest, v, &m, &o, &a);
        assert_true(str_eq(o.GroupInstanceId, "static-1"));
        TRUNCATIONS(JoinGroupRequest, v, rt_buf, rt_len);
        gr_arena_free(&a);
    }
    /* a null GroupId is rejected (not nullable) */
    static const uint8_t nullgid[] = {0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0,
                                      0xff, 0xff, 0, 0, 0, 0, 0, 0};
    gr_arena_t a;
    gr_arena_init(&a);
    gr_rd_t rd;
    gr_JoinGroupRequest_t m;
    gr_rd_init(&rd, nullgid, sizeof(nullgid));
    assert_int_equal(gr_JoinGroupRequest_decode(&rd, 5, &a, &m), GR_EPROTO);
    gr_arena_free(&a);
}

/* ------------------------------------------------------- CreateTopics */

static void test_create_topics_tags(void **state)
{
    (void)state;
    static const uint8_t in[] = {
        0x02,                                   /* Topics: 1 */
        0x04, 'f', 'o', 'o',                    /* Name */
        0, 0, 0, 3,                             /* NumPartitions */
        0, 1,                                   /* ReplicationFactor */
        0x02, 0, 0, 0, 0, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0x00,  /* Assignments */
        0x03,                                   /* Configs: 2 */
        0x03, 'a', 'b', 0x00,                   /*   ab = null */
        0x01, 0x00, 0x01, 0xff,                 /*   tags: {0: ff} unknown */
        0x02, 'c', 0x02, 'd', 0x00,             /*   c = d */
        0x00,                                   /* topic tags */
        0, 0, 0xea, 0x60,                       /* timeoutMs 60000 */
        0x01,                                   /* validateOnly */
        0x02, 0x05, 0x00, 0x07, 0x03, 1, 2, 3}; /* tags: {5: -, 7: 3 bytes} */
    gr_arena_t a;
    gr_arena_init(&a);
    gr_rd_t rd;
    gr_CreateTopicsRequest_t m, o;
    gr_rd_init(&rd, in, sizeof(in));
    assert_int_equal(gr_CreateTopicsRequest_decode(&rd, 5, &a, &m), 0);
    assert_int_equal(gr_rd_left(&rd), 0);
    assert_int_equal(m.Topics_count, 1);
    gr_CreateTopicsRequest_CreatableTopic_t *t = &m.Topics[0];
    assert_true(str_eq(t->Name, "foo"));
    assert_int_equal(t->NumPartitions, 3);
    assert_int_equal(t->ReplicationFactor, 1);
    assert_int_equal(t->Assignments_count, 1);
    assert_int_equal(t->Assignments[0].BrokerIds_count, 2);
    assert_int_equal(t->Assignments[0].BrokerIds[1], 2);
    assert_int_equal(t->Configs_count, 2);
    assert_true(str_eq(t->Configs[0].Name, "ab"));
    assert_int_equal(t->Configs[0].Value.len, -1);
    assert_true(str_eq(t->Configs[1].Value, "d"));
    assert_int_equal(m.timeoutMs, 60000);
    assert_true(m.validateOnly);
    ROUNDTRIP(CreateTopicsRequest, 5, &m, &o, &a);
    assert_int_equal(rt_len, sizeof(in) - 3 - 7);   /* unknown tags dropped */
    TRUNCATIONS(CreateTopicsRequest, 5, in, sizeof(in));

    gr_CreateTopicsRequest_init(&m);
    assert_int_equal(m.timeoutMs, 60000);
    assert_false(m.validateOnly);
    gr_arena_free(&a);
}

/* ---------------------------------------------------- __consumer_offsets */

static void test_offset_commit_value(void **state)
{
    (void)state;
    gr_OffsetCommitValue_t m, o;
    gr_arena_t a;
    gr_arena_init(&a);
    gr_OffsetCommitValue_init(&m);
    assert_int_equal(m.leaderEpoch, -1);
    assert_true(m.expireTimestamp == -1);
    m.offset = 42;
    m.leaderEpoch = 7;
    m.metadata = S("meta");
    m.commitTimestamp = 1700000000000LL;
    m.expireTimestamp = 1700000600000LL;
    ROUNDTRIP(OffsetCommitValue, 1, &m, &o, &a);
    assert_int_equal(rt_len, 8 + 2 + 4 + 8 + 8);
    assert_true(o.offset == 42);
    assert_int_equal(o.leaderEpoch, -1);           /* not in v1 */
    assert_true(o.expireTimestamp == 1700000600000LL);
    ROUNDTRIP(OffsetCommitValue, 3, &m, &o, &a);
    assert_int_equal(rt_len, 8 + 4 + 2 + 4 + 8);
    assert_int_equal(o.leaderEpoch, 7);
    assert_true(o.expireTimestamp == -1);          /* v1 only */
    assert_true(str_eq(o.metadata, "meta"));
    TRUNCATIONS(OffsetCommitValue, 3, rt_buf, rt_len);
    gr_arena_free(&a);
}

static void test_group_metadata_value(void **state)
{
    (void)state;
    gr_GroupMetadataValue_t m, o;
    gr_GroupMetadataValue_MemberMetadata_t mm[2];
    gr_arena_t a;
    gr_arena_init(&a);
    gr_GroupMetadataValue_init(&m);
    m.protocolType = S("consumer");
    m.generation = 3;
    m.protocol = S("range");
    m.leader = S("m-1");
    m.currentStateTimestamp = 1700000000000LL;
    for (int i = 0; i < 2; i++) {
        gr_GroupMetadataValue_MemberMetadata_init(&mm[i]);
        mm[i].memberId = S(i ? "m-2" : "m-1");
        mm[i].clientId = S("client");
        mm[i].clientHost = S("/127.0.0.1");
        mm[i].rebalanceTimeout = 300000;
        mm[i].sessionTimeout = 45000;
        mm[i].subscription = (gr_bytes_t){(const uint8_t *)"sub", 3};
        mm[i].assignment = (gr_bytes_t){(const uint8_t *)"asg", 3};
    }
    mm[1].groupInstanceId = S("static");
    m.members = mm;
    m.members_count = 2;
    ROUNDTRIP(GroupMetadataValue, 3, &m, &o, &a);
    assert_true(str_eq(o.protocolType, "consumer"));
    assert_int_equal(o.generation, 3);
    assert_true(o.currentStateTimestamp == 1700000000000LL);
    assert_int_equal(o.members_count, 2);
    assert_int_equal(o.members[0].groupInstanceId.len, -1);
    assert_true(str_eq(o.members[1].groupInstanceId, "static"));
    assert_int_equal(o.members[1].rebalanceTimeout, 300000);
    assert_memory_equal(o.members[1].assignment.p, "asg", 3);
    TRUNCATIONS(GroupMetadataValue, 3, rt_buf, rt_len);
    gr_arena_free(&a);
}

/* ----------------------------------------------------------- dispatch */

/* A nullable struct (DescribeTopicPartitions' Cursor) decodes as present
 * when it is, and as null when it is not. */
static void test_nullable_struct(void **state)
{
    (void)state;
    gr_arena_t a;
    gr_arena_init(&a);
    gr_DescribeTopicPartitionsRequest_t m, o;
    gr_DescribeTopicPartitionsRequest_init(&m);
    assert_true(m.Cursor_is_null);
    m.ResponsePartitionLimit = 7;
    m.Cursor_is_null = false;
    m.Cursor.TopicName = GR_STR("abc");
    m.Cursor.PartitionIndex = 3;
    ROUNDTRIP(DescribeTopicPartitionsRequest, 0, &m, &o, &a);
    assert_false(o.Cursor_is_null);
    assert_int_equal(o.Cursor.PartitionIndex, 3);
    assert_int_equal(o.Cursor.TopicName.len, 3);
    m.Cursor_is_null = true;
    ROUNDTRIP(DescribeTopicPartitionsRequest, 0, &m, &o, &a);
    assert_true(o.Cursor_is_null);
    gr_arena_free(&a);
}

static void test_api_table(void **state)
{
    (void)state;
    const gr_api_spec_t *s = gr_api_spec(0);
    assert_non_null(s);
    assert_string_equal(s->name, "Produce");
    assert_int_equal(s->flex_min, 9);
    s = gr_api_spec(18);
    assert_string_equal(s->name, "ApiVersions");
    assert_int_equal(s->flex_min, 3);
    assert_null(gr_api_spec(4));
    assert_null(gr_api_spec(-1));
    assert_null(gr_api_spec(1000));
    assert_int_equal(gr_api_spec(61)->key, 61);   /* DescribeProducers */
    assert_int_equal(gr_schema_request_size(0), sizeof(gr_ProduceRequest_t));
    assert_int_equal(gr_schema_response_size(1), sizeof(gr_FetchResponse_t));
    assert_int_equal(gr_schema_request_size(4), 0);
    assert_int_equal(gr_schema_response_header_version(18, 3), 0);
    assert_int_equal(gr_schema_response_header_version(3, 9), 1);
    assert_int_equal(gr_schema_response_header_version(3, 8), 0);
    assert_int_equal(gr_schema_request_header_version(3, 8), 1);

    gr_arena_t a;
    gr_arena_init(&a);
    gr_rd_t rd;
    void *out;
    gr_rd_init(&rd, rdkafka_apiversions + 18, sizeof(rdkafka_apiversions) - 18);
    assert_int_equal(gr_schema_decode_request(18, &rd, 3, &a, &out), 0);
    assert_true(str_eq(((gr_ApiVersionsRequest_t *)out)->ClientSoftwareVersion, "2.0.2"));
    assert_int_equal(gr_schema_decode_request(4, &rd, 0, &a, &out), GR_ENOENT);
    assert_int_equal(gr_schema_decode_request(18, &rd, 99, &a, &out), GR_EINVAL);
    gr_arena_free(&a);
}

/* Random and mostly-zero bodies for every API, version and direction:
 * nothing may crash or read out of bounds; whatever decodes must encode
 * and decode again to the same bytes. */
static int smoke_decoded;

static void smoke_one(int16_t key, int16_t v, bool req, const uint8_t *buf, size_t len)
{
    gr_arena_t a;
    gr_arena_init(&a);
    gr_rd_t rd;
    void *out;
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    gr_rd_init(&rd, copy, len);
    int rc = req ? gr_schema_decode_request(key, &rd, v, &a, &out)
                 : gr_schema_decode_response(key, &rd, v, &a, &out);
    assert_true(rc == 0 || rc == GR_EPROTO);
    if (rc == 0) {
        smoke_decoded++;
        gr_wr_t w;
        gr_wr_init(&w);
        assert_int_equal(req ? gr_schema_encode_request(key, &w, v, out)
                             : gr_schema_encode_response(key, &w, v, out), 0);
        size_t n1;
        uint8_t *b1 = take(&w, &n1);
        gr_rd_init(&rd, b1, n1);
        rc = req ? gr_schema_decode_request(key, &rd, v, &a, &out)
                 : gr_schema_decode_response(key, &rd, v, &a, &out);
        assert_int_equal(rc, 0);
        assert_int_equal(gr_rd_left(&rd), 0);
        gr_wr_init(&w);
        (void)(req ? gr_schema_encode_request(key, &w, v, out)
                   : gr_schema_encode_response(key, &w, v, out));
        size_t n2;
        uint8_t *b2 = take(&w, &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(b1, b2, n1);
        free(b1);
        free(b2);
    }
    free(copy);
    gr_arena_free(&a);
}

static void test_smoke_all(void **state)
{
    (void)state;
    uint32_t seed = 12345;
    uint8_t buf[96];
    int ok = 0;
    for (int16_t key = 0; key < 100; key++) {
        const gr_api_spec_t *s = gr_api_spec(key);
        if (!s)
            continue;
        for (int16_t v = s->min_version; v <= s->max_version; v++) {
            for (int it = 0; it < 60; it++) {
                size_t len = it % (sizeof(buf) + 1);
                for (size_t i = 0; i < len; i++) {
                    seed = seed * 1103515245u + 12345u;
                    uint8_t r = (uint8_t)(seed >> 16);
                    /* mostly zeros and small values keep lengths plausible */
                    buf[i] = (r & 3) ? (uint8_t)(r & (it & 1 ? 0x01 : 0x03)) : r;
                }
                smoke_one(key, v, true, buf, len);
                smoke_one(key, v, false, buf, len);
                ok++;
            }
        }
    }
    assert_true(ok > 1000);
    print_message("smoke: %d bodies, %d decoded\n", 2 * ok, smoke_decoded);
    assert_true(smoke_decoded > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_produce, teardown),
        cmocka_unit_test_teardown(test_hostile_count, teardown),
        cmocka_unit_test_teardown(test_fetch_response, teardown),
        cmocka_unit_test_teardown(test_metadata_response, teardown),
        cmocka_unit_test_teardown(test_api_versions_response, teardown),
        cmocka_unit_test_teardown(test_api_versions_tags, teardown),
        cmocka_unit_test_teardown(test_request_header_bytes, teardown),
        cmocka_unit_test_teardown(test_join_group, teardown),
        cmocka_unit_test_teardown(test_create_topics_tags, teardown),
        cmocka_unit_test_teardown(test_offset_commit_value, teardown),
        cmocka_unit_test_teardown(test_group_metadata_value, teardown),
        cmocka_unit_test_teardown(test_nullable_struct, teardown),
        cmocka_unit_test_teardown(test_api_table, teardown),
        cmocka_unit_test_teardown(test_smoke_all, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
