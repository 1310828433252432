/* Unit tests for offsets.c / coord.c over real topic logs in a temp dir:
 * the offset map, __consumer_offsets record layouts (byte-exact against
 * Kafka's), Java hashCode partitioning, commit -> restart -> same offsets,
 * tombstones, group metadata rebuild, offset expiry with explicit times,
 * corrupt records, a 1M-record load, the group commit (one append for the
 * writes of a loop turn) and the GroupMetadata size limits.  Groups are
 * the real ones of group.c, formed through its JoinGroup / SyncGroup. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "batch.h"
#include "broker.h"
#include "coord.h"
#include "kerr.h"
#include "offsets.h"
#include "topic.h"

gr_broker_t gr_broker;

/* ------------------------------------------------------------ groups through group.c */

typedef struct jw {
    gr_join_waiter_t w;
    bool done;
    gr_kerr_t err;
    char member_id[128];
    int32_t gen;
    bool leader;
} jw_t;

static void jw_done(gr_join_waiter_t *w, const gr_join_result_t *r)
{
    jw_t *j = (jw_t *)w;
    j->done = true;
    j->err = r->error;
    snprintf(j->member_id, sizeof(j->member_id), "%s", r->member_id ? r->member_id : "");
    j->gen = r->generation_id;
    j->leader = r->include_members;
}

typedef struct sw {
    gr_sync_waiter_t w;
    bool done;
    gr_kerr_t err;
} sw_t;

static void sw_done(gr_sync_waiter_t *w, const gr_sync_result_t *r)
{
    sw_t *x = (sw_t *)w;
    x->done = true;
    x->err = r->error;
}

/* Run the loop until queued completions have run. */
static void spin(void)
{
    for (int i = 0; i < 5; i++)
        gr_ev_run_once(gr_broker.ev, 0);
}

/* ConsumerProtocolSubscription v0 of one topic, with user_data bytes of
 * user data (0: null). */
static uint8_t *subscription(const char *topic, size_t user_data, int32_t *len)
{
    size_t tl = strlen(topic), n = 2 + 4 + 2 + tl + 4 + user_data;
    uint8_t *p = calloc(1, n);
    p[5] = 1;
    p[6] = (uint8_t)(tl >> 8);
    p[7] = (uint8_t)tl;
    memcpy(p + 8, topic, tl);
    gr_put32(p + 8 + tl, user_data ? (uint32_t)user_data : 0xffffffffu);
    memset(p + 12 + tl, 'u', user_data);
    *len = (int32_t)n;
    return p;
}

/* A Stable consumer group of n members subscribed to topic, formed with
 * JoinGroup / SyncGroup (even members are static: instance "inst-<i>");
 * its GroupMetadata is stored.  Returns the group; the result of the
 * store in *store_err. */
static gr_group_t *stable_group(const char *id, int n, const char *topic, size_t user_data, gr_kerr_t *store_err)
{
    int32_t sl;
    uint8_t *sub = subscription(topic, user_data, &sl);
    gr_join_protocol_t proto = {"range", sub, sl};
    jw_t *j = calloc((size_t)n, sizeof(*j));
    char inst[32];
    for (int i = 0; i < n; i++) {
        snprintf(inst, sizeof(inst), "inst-%d", i);
        gr_join_params_t p = {.group_id = id, .member_id = "", .group_instance_id = i % 2 == 0 ? inst : NULL,
                              .client_id = "cli", .client_host = "/127.0.0.1", .session_timeout_ms = 30000,
                              .rebalance_timeout_ms = 60000, .protocol_type = "consumer", .protocols = &proto,
                              .nprotocols = 1};
        j[i].w.done = jw_done;
        gr_group_join(&p, &j[i].w);
    }
    for (int t = 0; t < 100; t++) {
        bool all = true;
        for (int i = 0; i < n; i++)
            all &= j[i].done;
        if (all)
            break;
        gr_ev_run_once(gr_broker.ev, 10);
    }
    gr_sync_assignment_t *as = calloc((size_t)n, sizeof(*as));
    for (int i = 0; i < n; i++) {
        assert_true(j[i].done);
        assert_int_equal(j[i].err, KERR_NONE);
        as[i] = (gr_sync_assignment_t){j[i].member_id, (const uint8_t *)"asg", 3};
    }
    sw_t *s = calloc((size_t)n, sizeof(*s));
    for (int i = 0; i < n; i++) {
        snprintf(inst, sizeof(inst), "inst-%d", i);
        gr_sync_params_t p = {.group_id = id, .generation_id = j[i].gen, .member_id = j[i].member_id,
                              .group_instance_id = i % 2 == 0 ? inst : NULL, .assignments = j[i].leader ? as : NULL,
                              .nassignments = j[i].leader ? n : 0};
        s[i].w.done = sw_done;
        gr_group_sync(&p, &s[i].w);
    }
    spin();
    for (int i = 0; i < n; i++)
        assert_true(s[i].done);
    *store_err = s[0].err;
    free(j);
    free(s);
    free(as);
    free(sub);
    return gr_group_find(id, strlen(id));
}

static gr_group_t *G(const char *id)
{
    return gr_group_find(id, strlen(id));
}

/* ------------------------------------------------------------ broker fixture */

static char dir[256];
static int16_t last_err;
static int ncb;

static void broker_open(void)
{
    gr_broker.log_dirs = malloc(sizeof(char *));
    gr_broker.log_dirs[0] = dir;
    gr_broker.nlog_dirs = 1;
    assert_int_equal(gr_topics_load(), 0);
    assert_int_equal(gr_coord_start(), 0);
    gr_coord_load_all();
    assert_false(gr_coord_loading_any());
}

static void broker_close(void)
{
    gr_coord_stop();
    gr_group_remove_all();
    gr_topics_close(NULL);
    free(gr_broker.log_dirs);
    gr_broker.log_dirs = NULL;
}

static void broker_restart(void)
{
    broker_close();
    broker_open();
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/gr_offsets_test_XXXXXX");
    assert_non_null(mkdtemp(dir));
    gr_config_init(&gr_broker.cfg);
    gr_broker.cfg.offsets_topic_num_partitions = 5;
    gr_broker.ev = gr_ev_new();
    gr_broker.cfg.group_initial_rebalance_delay_ms = 0;
    gr_log_level = GR_LOG_ERROR;
    ncb = 0;
    broker_open();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    broker_close();
    gr_ev_free(gr_broker.ev);
    gr_broker.ev = NULL;
    gr_config_free(&gr_broker.cfg);
    gr_rm_rf(dir);
    return 0;
}

static void cb(void *arg, gr_kerr_t err)
{
    (void)arg;
    last_err = err;
    ncb++;
}

static void commit1(const char *gid, const char *topic, int32_t part, int64_t off, const char *md, int64_t ts,
                    int64_t expire)
{
    gr_coord_commit_t c = {.topic = topic, .topic_len = strlen(topic), .partition = part, .offset = off,
                           .leader_epoch = 7, .metadata = md, .metadata_len = md ? strlen(md) : 0,
                           .commit_timestamp = ts, .expire_timestamp = expire, .error = KERR_NONE};
    int before = ncb;
    gr_coord_commit_offsets(gid, strlen(gid), "member-1", &c, 1, cb, NULL);
    assert_int_equal(ncb, before);      /* never inside the call */
    spin();
    assert_int_equal(ncb, before + 1);
    assert_int_equal(last_err, KERR_NONE);
}

static const uint8_t *flat(gr_wr_t *w, size_t *len)
{
    return gr_wr_flatten(w, len);
}

/* ------------------------------------------------------------ tests */

static void test_record_bytes(void **state)
{
    (void)state;
    gr_wr_t w;
    size_t len;

    /* OffsetCommitValue v3: offset 42, epoch -1, metadata "", ts 1000 */
    static const uint8_t v3[] = {0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 42, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00,
                                 0, 0, 0, 0, 0, 0, 0x03, 0xe8};
    gr_wr_init(&w);
    gr_coord_offset_value(&w, 42, -1, "", 0, 1000, -1);
    const uint8_t *p = flat(&w, &len);
    assert_int_equal(len, sizeof(v3));
    assert_memory_equal(p, v3, sizeof(v3));
    gr_wr_free(&w);

    /* v1 (expire timestamp present): offset 5, metadata "m", ts 1000, expire 2000 */
    static const uint8_t v1[] = {0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 5, 0x00, 0x01, 'm',
                                 0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 0, 0, 0x07, 0xd0};
    gr_wr_init(&w);
    gr_coord_offset_value(&w, 5, 9, "m", 1, 1000, 2000);
    p = flat(&w, &len);
    assert_int_equal(len, sizeof(v1));
    assert_memory_equal(p, v1, sizeof(v1));
    gr_wr_free(&w);

    /* OffsetCommitKey v1: group "g", topic "t", partition 3 */
    static const uint8_t k1[] = {0x00, 0x01, 0x00, 0x01, 'g', 0x00, 0x01, 't', 0, 0, 0, 3};
    gr_wr_init(&w);
    gr_coord_offset_key(&w, "g", 1, "t", 1, 3);
    p = flat(&w, &len);
    assert_int_equal(len, sizeof(k1));
    assert_memory_equal(p, k1, sizeof(k1));
    gr_wr_free(&w);

    /* GroupMetadataKey v2 */
    static const uint8_t k2[] = {0x00, 0x02, 0x00, 0x02, 'g', 'g'};
    gr_wr_init(&w);
    gr_coord_group_key(&w, "gg", 2);
    p = flat(&w, &len);
    assert_int_equal(len, sizeof(k2));
    assert_memory_equal(p, k2, sizeof(k2));
    gr_wr_free(&w);

    /* GroupMetadataValue v3 of a group with one member */
    gr_group_t g;
    memset(&g, 0, sizeof(g));
    gr_member_t m;
    memset(&m, 0, sizeof(m));
    gr_member_protocol_t protos[2] = {{"range", (uint8_t *)"RR", 2}, {"rr", (uint8_t *)"XX", 2}};
    g.group_id = "g";
    g.protocol_type = "consumer";
    g.protocol_name = "rr";
    g.generation_id = 2;
    g.leader_id = "m1";
    g.state_timestamp_ms = 1000;
    g.members = &m;
    m.member_id = "m1";
    m.client_id = "c";
    m.client_host = "/h";
    m.rebalance_timeout_ms = 300;
    m.session_timeout_ms = 100;
    m.protocols = protos;
    m.nprotocols = 2;
    m.assignment = (uint8_t *)"A";
    m.assignment_len = 1;
    static const uint8_t gv[] = {
        0x00, 0x03,                                         /* version */
        0x00, 0x08, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r', /* protocolType */
        0, 0, 0, 2,                                         /* generation */
        0x00, 0x02, 'r', 'r',                               /* protocol */
        0x00, 0x02, 'm', '1',                               /* leader */
        0, 0, 0, 0, 0, 0, 0x03, 0xe8,                       /* currentStateTimestamp */
        0, 0, 0, 1,                                         /* members */
        0x00, 0x02, 'm', '1',                               /* memberId */
        0xff, 0xff,                                         /* groupInstanceId null */
        0x00, 0x01, 'c',                                    /* clientId */
        0x00, 0x02, '/', 'h',                               /* clientHost */
        0, 0, 0x01, 0x2c,                                   /* rebalanceTimeout 300 */
        0, 0, 0, 100,                                       /* sessionTimeout */
        0, 0, 0, 2, 'X', 'X',                               /* subscription: chosen protocol's */
        0, 0, 0, 1, 'A',                                    /* assignment */
    };
    gr_wr_init(&w);
    gr_group_value_encode(&w, &g);
    p = flat(&w, &len);
    assert_int_equal(len, sizeof(gv));
    assert_memory_equal(p, gv, sizeof(gv));
    gr_wr_free(&w);
}

static void test_partition_for(void **state)
{
    (void)state;
    /* expected values: Utils.abs(groupId.hashCode()) % 50 computed in Java semantics */
    gr_broker.cfg.offsets_topic_num_partitions = 50;
    gr_coord_stop();      /* use the configured count, not the test topic's 5 */
    assert_int_equal(gr_coord_partition_for("my-group", 8), 12);
    assert_int_equal(gr_coord_partition_for("test-group", 10), 12);
    assert_int_equal(gr_coord_partition_for("console-consumer-1", 18), 24);
    assert_int_equal(gr_coord_partition_for("", 0), 0);
    /* hashCode == Integer.MIN_VALUE: Utils.abs gives 0 */
    assert_int_equal(gr_coord_partition_for("polygenelubricants", 18), 0);
    /* UTF-16 code units: a 2-byte UTF-8 char and a surrogate pair */
    assert_int_equal(gr_coord_partition_for("gr\xc3\xbcppe", 7), 12);
    assert_int_equal(gr_coord_partition_for("\xf0\x9f\x98\x80-group", 10), 43);
    /* ids in held form (jstr.h): "victim\0evil" is C0 80 inside; Java 17 gives 2 */
    assert_int_equal(gr_coord_partition_for("victim\xc0\x80" "evil", 12), 2);
    assert_int_equal(gr_coord_partition_for("\xef\xbf\xbd\xef\xbf\xbdgrp", 9), 15);
    gr_broker.cfg.offsets_topic_num_partitions = 5;
    assert_int_equal(gr_coord_start(), 0);
    gr_coord_load_all();
}

static void test_map(void **state)
{
    (void)state;
    gr_offset_map_t *m = gr_offset_map_new();
    int64_t prev;
    char t[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(t, sizeof(t), "topic-%d", i % 100);
        gr_offset_put(m, t, strlen(t), i / 100, i, -1, NULL, 0, 1, -1, &prev);
        assert_int_equal(prev, -1);
    }
    assert_int_equal(gr_offset_map_count(m), 10000);
    gr_offset_put(m, "topic-5", 7, 0, 77, 3, "md", 2, 2, -1, &prev);
    assert_int_equal(prev, 5);
    gr_offset_t *o = gr_offset_get(m, "topic-5", 7, 0);
    assert_non_null(o);
    assert_int_equal(o->offset, 77);
    assert_string_equal(o->metadata, "md");
    assert_true(gr_offset_remove(m, "topic-5", 7, 0));
    assert_false(gr_offset_remove(m, "topic-5", 7, 0));
    assert_null(gr_offset_get(m, "topic-5", 7, 0));
    gr_offset_iter_t it;
    gr_offset_iter_init(&it, m);
    int n = 0;
    for (gr_offset_t *e; (e = gr_offset_iter_next(&it));) {
        if (e->partition % 2)
            gr_offset_iter_remove(&it);
        n++;
    }
    assert_int_equal(n, 9999);
    assert_int_equal(gr_offset_map_count(m), 4999);
    gr_offset_map_free(m);
}

/* Memory per offset: one allocation holding the strings, a small table
 * for a group of a few offsets that grows with it and shrinks when
 * removals leave it mostly empty; an update with longer metadata moves the
 * entry and keeps the chain intact. */
static void test_map_memory(void **state)
{
    (void)state;
    gr_offset_map_t *m = gr_offset_map_new();
    assert_true(m->h.nb <= 4);
    gr_offset_t *o = gr_offset_put(m, "orders", 6, 0, 1, -1, NULL, 0, 1, -1, NULL);
    assert_ptr_equal(o->topic, o->s);
    assert_true(o->metadata > o->topic && o->metadata < o->topic + 16);
    assert_string_equal(o->metadata, "");
    char t[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(t, sizeof(t), "t%d", i);
        gr_offset_put(m, t, strlen(t), i, i, -1, "x", 1, 1, -1, NULL);
    }
    assert_int_equal(gr_offset_map_count(m), 1001);
    assert_true(m->h.nb >= 1001 / 1 && m->h.nb <= 2048);
    o = gr_offset_put(m, "t7", 2, 7, 70, 3, "a much longer metadata string", 29, 2, -1, NULL);
    assert_string_equal(gr_offset_get(m, "t7", 2, 7)->metadata, "a much longer metadata string");
    assert_ptr_equal(gr_offset_get(m, "t7", 2, 7), o);
    o = gr_offset_put(m, "t7", 2, 7, 71, 3, "short", 5, 2, -1, NULL);
    assert_string_equal(o->metadata, "short");
    assert_int_equal(o->offset, 71);
    for (int i = 0; i < 1000; i++) {
        snprintf(t, sizeof(t), "t%d", i);
        assert_true(gr_offset_remove(m, t, strlen(t), i));
    }
    assert_int_equal(gr_offset_map_count(m), 1);
    assert_true(m->h.nb <= 8);
    assert_int_equal(gr_offset_get(m, "orders", 6, 0)->offset, 1);
    gr_offset_map_free(m);
}

/* Times a client chose, at the ends of int64: no overflow anywhere, and
 * the answers Kafka gives where its arithmetic does not overflow. */
static void test_time_overflow(void **state)
{
    (void)state;
    int64_t now = gr_now_ms();
    /* Stable consumer group, unsubscribed topic committed at -2^63 (v1
     * CommitTimestamp): older than any retention */
    gr_kerr_t se;
    gr_group_t *s = stable_group("stable", 1, "sub", 0, &se);
    assert_int_equal(se, KERR_NONE);
    commit1("stable", "old", 0, 1, "", INT64_MIN, -1);
    commit1("stable", "new", 0, 2, "", INT64_MAX, -1);
    commit1("stable", "sub", 0, 3, "", INT64_MIN, -1);
    /* explicit expire timestamp 2^63-1 (RetentionTimeMs 2^63-1): never */
    commit1("forever", "a", 0, 1, "", now, INT64_MAX);
    assert_int_equal(gr_coord_expire(now), 1);
    assert_null(gr_offset_get(s->offsets, "old", 3, 0));
    assert_non_null(gr_offset_get(s->offsets, "new", 3, 0));
    assert_non_null(gr_offset_get(s->offsets, "sub", 3, 0));
    /* committed at the end of time: never old enough; expire 2^63-1: not yet */
    assert_int_equal(gr_coord_expire(INT64_MAX - 1), 0);
    assert_non_null(gr_offset_get(G("forever")->offsets, "a", 1, 0));
    assert_int_equal(gr_coord_expire(INT64_MIN), 0);
    broker_restart();
    gr_group_t *g = G("forever");
    assert_non_null(g);
    assert_int_equal(gr_offset_get(g->offsets, "a", 1, 0)->expire_timestamp, INT64_MAX);
    gr_coord_expire(INT64_MAX - 1);
    g = G("forever");
    assert_non_null(g);
    assert_non_null(gr_offset_get(g->offsets, "a", 1, 0));

    /* inter.broker.protocol.version < 2.1: every value is v1 with commit +
     * retention as its expire timestamp, which saturates */
    free(gr_broker.cfg.inter_broker_protocol_version);
    gr_broker.cfg.inter_broker_protocol_version = strdup("2.0");
    gr_wr_t w;
    size_t len;
    gr_wr_init(&w);
    gr_coord_offset_value(&w, 5, -1, "", 0, INT64_MAX, -1);
    const uint8_t *p = gr_wr_flatten(&w, &len);
    assert_int_equal(len, 2 + 8 + 2 + 8 + 8);
    assert_int_equal(p[1], 1);
    assert_int_equal((int64_t)gr_be64(p + len - 8), INT64_MAX);
    gr_wr_free(&w);
    gr_wr_init(&w);
    gr_coord_offset_value(&w, 5, -1, "", 0, INT64_MIN, -1);
    p = gr_wr_flatten(&w, &len);
    assert_int_equal(p[1], 1);                                        /* still v1: expired at once */
    assert_int_equal((int64_t)gr_be64(p + len - 8), 0);
    gr_wr_free(&w);
}

static void test_commit_restart(void **state)
{
    (void)state;
    commit1("my-group", "orders", 0, 42, "", 1000, -1);
    commit1("my-group", "orders", 1, 7, "meta", 1001, -1);
    commit1("my-group", "orders", 0, 43, NULL, 1002, -1);
    commit1("my-group", "audit", 0, 5, "x", 1003, 99999);
    gr_group_t *g = G("my-group");
    assert_non_null(g);                         /* created by the first commit's replay */
    assert_int_equal(g->hist_len, 4);           /* one history entry per change */
    assert_int_equal(gr_group_hist_at(g, 2)->from_offset, 42);
    assert_int_equal(gr_group_hist_at(g, 2)->to_offset, 43);
    assert_int_equal(gr_offset_map_count(g->offsets), 3);

    broker_restart();
    g = G("my-group");
    assert_non_null(g);
    assert_int_equal(g->state, GR_GROUP_EMPTY);
    assert_int_equal(gr_offset_map_count(g->offsets), 3);
    gr_offset_t *o = gr_offset_get(g->offsets, "orders", 6, 0);
    assert_non_null(o);
    assert_int_equal(o->offset, 43);
    assert_int_equal(o->leader_epoch, 7);
    assert_string_equal(o->metadata, "");
    assert_int_equal(o->commit_timestamp, 1002);
    assert_int_equal(o->expire_timestamp, -1);
    o = gr_offset_get(g->offsets, "orders", 6, 1);
    assert_int_equal(o->offset, 7);
    assert_string_equal(o->metadata, "meta");
    o = gr_offset_get(g->offsets, "audit", 5, 0);
    assert_int_equal(o->offset, 5);
    assert_int_equal(o->leader_epoch, -1);       /* v1 has no epoch */
    assert_int_equal(o->expire_timestamp, 99999);

    /* the records landed on the group's partition */
    gr_topic_t *t = gr_topic_find(GR_OFFSETS_TOPIC, strlen(GR_OFFSETS_TOPIC));
    assert_non_null(t);
    assert_true(t->internal);
    assert_string_equal(gr_topic_get_config(t, "cleanup.policy"), "compact");
    int32_t p = gr_coord_partition_for("my-group", 8);
    assert_int_equal(gr_log_end_offset(t->parts[p]->log), 4);
}

static void test_tombstones(void **state)
{
    (void)state;
    commit1("g1", "a", 0, 1, "", 1000, -1);
    commit1("g1", "a", 1, 2, "", 1000, -1);
    commit1("g1", "b", 0, 3, "", 1000, -1);
    commit1("g2", "a", 0, 10, "", 1000, -1);

    /* OffsetDelete of a/1 (named twice) and an absent b/9 */
    gr_coord_commit_t c[3] = {{.topic = "a", .topic_len = 1, .partition = 1, .error = KERR_NONE},
                              {.topic = "b", .topic_len = 1, .partition = 9, .error = KERR_NONE},
                              {.topic = "a", .topic_len = 1, .partition = 1, .error = KERR_NONE}};
    gr_coord_delete_offsets(G("g1"), c, 3, cb, NULL);
    assert_int_equal(gr_offset_map_count(G("g1")->offsets), 2);      /* replayed at once */
    spin();
    assert_int_equal(last_err, KERR_NONE);

    /* group delete: tombstones for the metadata and every offset; the group
     * is gone at once */
    assert_int_equal(gr_coord_delete_group("g2", 2, cb, NULL), KERR_NONE);
    assert_null(G("g2"));
    assert_int_equal(gr_coord_delete_group("g2", 2, cb, NULL), KERR_GROUP_ID_NOT_FOUND);
    spin();
    assert_int_equal(last_err, KERR_NONE);

    broker_restart();
    gr_group_t *g = G("g1");
    assert_non_null(g);
    assert_int_equal(gr_offset_map_count(g->offsets), 2);
    assert_null(gr_offset_get(g->offsets, "a", 1, 1));
    assert_non_null(gr_offset_get(g->offsets, "a", 1, 0));
    assert_null(G("g2"));

    /* deleting the last offsets of an Empty group removes it */
    gr_coord_commit_t d[2] = {{.topic = "a", .topic_len = 1, .partition = 0, .error = KERR_NONE},
                              {.topic = "b", .topic_len = 1, .partition = 0, .error = KERR_NONE}};
    gr_coord_delete_offsets(g, d, 2, cb, NULL);
    assert_null(G("g1"));
    spin();
    broker_restart();
    assert_null(G("g1"));
}

static void test_group_metadata(void **state)
{
    (void)state;
    gr_kerr_t se;
    int64_t t0 = gr_now_ms();
    gr_group_t *g = stable_group("cg", 1, "orders", 0, &se);
    int64_t t1 = gr_now_ms();
    assert_int_equal(se, KERR_NONE);
    assert_int_equal(g->state, GR_GROUP_STABLE);
    char mid[128];
    snprintf(mid, sizeof(mid), "%s", g->members->member_id);
    commit1("cg", "orders", 0, 99, "", 1000, -1);

    broker_restart();
    g = G("cg");
    assert_non_null(g);
    assert_int_equal(g->state, GR_GROUP_STABLE);
    assert_int_equal(g->generation_id, 1);
    assert_string_equal(g->protocol_type, "consumer");
    assert_string_equal(g->protocol_name, "range");
    assert_string_equal(g->leader_id, mid);
    /* the record's currentStateTimestamp: when the generation completed
     * (the live group's Stable transition comes after the store) */
    assert_true(g->state_timestamp_ms >= t0 && g->state_timestamp_ms <= t1);
    assert_int_equal(g->nmembers, 1);
    gr_member_t *m = g->members;
    assert_string_equal(m->member_id, mid);
    assert_string_equal(m->group_instance_id, "inst-0");
    assert_string_equal(m->client_id, "cli");
    assert_string_equal(m->client_host, "/127.0.0.1");
    assert_int_equal(m->session_timeout_ms, 30000);
    assert_int_equal(m->rebalance_timeout_ms, 60000);
    assert_int_equal(m->nprotocols, 1);
    assert_string_equal(m->protocols[0].name, "range");
    int32_t sl;
    uint8_t *sub = subscription("orders", 0, &sl);
    assert_int_equal(m->protocols[0].metadata_len, sl);
    assert_memory_equal(m->protocols[0].metadata, sub, (size_t)sl);
    free(sub);
    assert_int_equal(m->assignment_len, 3);
    assert_int_equal(gr_offset_get(g->offsets, "orders", 6, 0)->offset, 99);

    /* the member leaves: the Empty generation is stored -> Empty on load */
    gr_leave_member_t lm = {.member_id = mid, .group_instance_id = "inst-0"};
    assert_int_equal(gr_group_leave("cg", &lm, 1), KERR_NONE);
    assert_int_equal(lm.error, KERR_NONE);
    g = G("cg");
    assert_int_equal(g->state, GR_GROUP_EMPTY);
    int64_t ts = g->state_timestamp_ms;
    spin();
    broker_restart();
    g = G("cg");
    assert_non_null(g);
    assert_int_equal(g->state, GR_GROUP_EMPTY);
    assert_int_equal(g->empty_since_ms, ts);
    assert_int_equal(g->generation_id, 2);
    assert_null(g->protocol_name);
    assert_null(g->members);
}

static void test_expiry(void **state)
{
    (void)state;
    int64_t day = 24 * 3600 * 1000LL, ret = gr_broker.cfg.offsets_retention_minutes * 60000;
    int64_t t0 = 1000 * day;
    /* standalone group: retention counts from each commit */
    commit1("standalone", "a", 0, 1, "", t0, -1);
    commit1("standalone", "a", 1, 2, "", t0 + day, -1);
    /* explicit expire timestamp wins */
    commit1("standalone", "a", 2, 3, "", t0 + 5 * day, t0 + 6 * day);
    gr_group_t *g = G("standalone");
    assert_int_equal(g->empty_since_ms, 0);

    /* consumer group that became Empty at t0 + 2 days */
    gr_kerr_t se;
    gr_group_t *c = stable_group("cgroup", 2, "a", 0, &se);
    gr_leave_member_t lm[2] = {{.member_id = c->members->member_id, .group_instance_id = "inst-0"},
                               {.member_id = c->members->next->member_id}};
    assert_int_equal(gr_group_leave("cgroup", lm, 2), KERR_NONE);
    assert_int_equal(c->state, GR_GROUP_EMPTY);
    spin();
    c->empty_since_ms = t0 + 2 * day;
    commit1("cgroup", "a", 0, 1, "", t0, -1);

    assert_int_equal(ret, 7 * day);
    assert_int_equal(gr_coord_expire(t0 + 6 * day - 1), 0);
    assert_int_equal(gr_coord_expire(t0 + 6 * day), 1);              /* a/2: its expire timestamp */
    assert_null(gr_offset_get(g->offsets, "a", 1, 2));
    assert_int_equal(gr_coord_expire(t0 + 7 * day), 1);              /* a/0: committed at t0 */
    assert_non_null(G("standalone"));
    assert_int_equal(gr_coord_expire(t0 + 8 * day), 1);              /* a/1: committed a day later */
    assert_null(G("standalone"));                                    /* Empty, no offsets: removed */
    /* the consumer group: from when it became Empty, not from the commit */
    assert_non_null(G("cgroup"));
    assert_int_equal(gr_coord_expire(t0 + 9 * day - 1), 0);
    assert_int_equal(gr_coord_expire(t0 + 9 * day), 1);
    assert_null(G("cgroup"));

    /* Stable consumer group: only unsubscribed topics expire, by commit time */
    gr_group_t *s = stable_group("stable", 1, "sub", 0, &se);
    commit1("stable", "sub", 0, 1, "", t0, -1);
    commit1("stable", "old", 0, 1, "", t0, -1);
    assert_int_equal(gr_coord_expire(t0 + 100 * ret), 1);
    assert_non_null(gr_offset_get(s->offsets, "sub", 3, 0));
    assert_null(gr_offset_get(s->offsets, "old", 3, 0));
    assert_non_null(G("stable"));
    spin();

    /* what expired stays expired after a restart */
    broker_restart();
    assert_null(G("cgroup"));
    assert_null(G("standalone"));
    s = G("stable");
    assert_non_null(s);
    assert_null(gr_offset_get(s->offsets, "old", 3, 0));
    assert_non_null(gr_offset_get(s->offsets, "sub", 3, 0));
}

/* Garbage keys, unknown versions and bad values are skipped; good records
 * around them still load. */
static void test_corrupt_records(void **state)
{
    (void)state;
    commit1("cg", "t", 0, 1, "", 1000, -1);
    gr_group_t *g = G("cg");
    gr_topic_t *t = gr_topic_find(GR_OFFSETS_TOPIC, strlen(GR_OFFSETS_TOPIC));
    gr_partition_t *p = t->parts[g->coord_partition];

    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, 1000);
    gr_batch_builder_add(&b, -1, 1000, "\x00", 1, "x", 1);                          /* short key */
    gr_batch_builder_add(&b, -1, 1000, "\x00\x09zzzz", 6, "x", 1);                  /* unknown key version */
    gr_wr_t k;
    gr_wr_init(&k);
    gr_coord_offset_key(&k, "cg", 2, "t", 1, 1);
    size_t kl;
    uint8_t *kp = gr_wr_flatten(&k, &kl);
    gr_batch_builder_add(&b, -1, 1000, kp, (int32_t)kl, "\x00\x07junk", 6);         /* unknown value version */
    gr_batch_builder_add(&b, -1, 1000, kp, (int32_t)kl, "\x00\x03\x00", 3);         /* truncated v3 */
    gr_batch_builder_add(&b, -1, 1000, "\x00\x02\x00\x02" "cg", 6, "\x00\x03\x00\xff", 4); /* bad group value */
    size_t len;
    uint8_t *data = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
    gr_append_info_t info;
    assert_int_equal(gr_log_append(p->log, data, len, 0, false, 1000, &info), 0);
    gr_batch_builder_free(&b);
    gr_wr_free(&k);
    commit1("cg", "t", 2, 3, "", 1000, -1);

    broker_restart();
    g = gr_group_find("cg", 2);
    assert_non_null(g);
    assert_int_equal(gr_offset_map_count(g->offsets), 2);
    assert_int_equal(gr_offset_get(g->offsets, "t", 1, 0)->offset, 1);
    assert_int_equal(gr_offset_get(g->offsets, "t", 1, 2)->offset, 3);
    assert_null(gr_offset_get(g->offsets, "t", 1, 1));
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Records in a gzip batch (as a Kafka broker with
 * offsets.topic.compression.codec=gzip writes them) load too. */
static void test_compressed_batch(void **state)
{
    (void)state;
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, 1000);
    for (int i = 0; i < 3; i++) {
        gr_wr_t k, v;
        gr_wr_init(&k);
        gr_wr_init(&v);
        gr_coord_offset_key(&k, "zg", 2, "t", 1, i);
        gr_coord_offset_value(&v, 100 + i, -1, "z", 1, 1000, -1);
        size_t kl, vl;
        uint8_t *kp = gr_wr_flatten(&k, &kl), *vp = gr_wr_flatten(&v, &vl);
        gr_batch_builder_add(&b, -1, 1000, kp, (int32_t)kl, vp, (int32_t)vl);
        gr_wr_free(&k);
        gr_wr_free(&v);
    }
    size_t len;
    uint8_t *plain = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
    /* gzip the records area, keep the header */
    uint8_t out[4096];
    memcpy(out, plain, GR_BATCH_HEADER_SIZE);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = plain + GR_BATCH_HEADER_SIZE;
    zs.avail_in = (uInt)(len - GR_BATCH_HEADER_SIZE);
    zs.next_out = out + GR_BATCH_HEADER_SIZE;
    zs.avail_out = (uInt)(sizeof(out) - GR_BATCH_HEADER_SIZE);
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t clen = GR_BATCH_HEADER_SIZE + zs.total_out;
    deflateEnd(&zs);
    gr_batch_builder_free(&b);
    put32(out + GR_BOFF_LENGTH, (uint32_t)(clen - GR_BATCH_LOG_OVERHEAD));
    out[GR_BOFF_ATTRIBUTES + 1] = (uint8_t)(out[GR_BOFF_ATTRIBUTES + 1] | GR_COMPRESSION_GZIP);
    put32(out + GR_BOFF_CRC, gr_crc32c(0, out + GR_BOFF_ATTRIBUTES, clen - GR_BOFF_ATTRIBUTES));

    gr_topic_t *t = gr_topic_find(GR_OFFSETS_TOPIC, strlen(GR_OFFSETS_TOPIC));
    gr_partition_t *p = t->parts[gr_coord_partition_for("zg", 2)];
    gr_append_info_t info;
    assert_int_equal(gr_log_append(p->log, out, clen, 0, false, 1000, &info), 0);
    broker_restart();
    gr_group_t *g = gr_group_find("zg", 2);
    assert_non_null(g);
    assert_int_equal(gr_offset_map_count(g->offsets), 3);
    assert_int_equal(gr_offset_get(g->offsets, "t", 1, 2)->offset, 102);
    assert_string_equal(gr_offset_get(g->offsets, "t", 1, 2)->metadata, "z");
}

/* A million offset records load back (the load time is printed; its
 * speed is a benchmark figure, not asserted here). */
static void test_load_1m(void **state)
{
    (void)state;
    enum { GROUPS = 10, PER = 1000, ROUNDS = 100 };
    static gr_coord_commit_t c[PER];
    char names[GROUPS][16];
    for (int gi = 0; gi < GROUPS; gi++) {
        snprintf(names[gi], sizeof(names[gi]), "grp-%d", gi);
        for (int r = 0; r < ROUNDS; r++) {
            for (int i = 0; i < PER; i++)
                c[i] = (gr_coord_commit_t){.topic = (i & 1) ? "topic-odd" : "topic-even", .topic_len = (i & 1) ? 9 : 10,
                                           .partition = i, .offset = r * 1000 + i, .leader_epoch = -1,
                                           .commit_timestamp = 1000, .expire_timestamp = -1, .error = KERR_NONE};
            gr_coord_commit_offsets(names[gi], strlen(names[gi]), "m", c, PER, NULL, NULL);
            gr_ev_run_once(gr_broker.ev, 0);        /* a loop turn per commit */
        }
    }
    spin();
    int64_t t0 = gr_mono_ms();
    broker_restart();
    int64_t took = gr_mono_ms() - t0;
    print_message("loaded %d offset records in %lld ms\n", GROUPS * PER * ROUNDS, (long long)took);
    for (int gi = 0; gi < GROUPS; gi++) {
        gr_group_t *g = gr_group_find(names[gi], strlen(names[gi]));
        assert_non_null(g);
        assert_int_equal(gr_offset_map_count(g->offsets), PER);
        assert_int_equal(gr_offset_get(g->offsets, "topic-odd", 9, 999)->offset, (ROUNDS - 1) * 1000 + 999);
    }
}

/* log.flush.interval.messages=1: the commit reports only after the fsync
 * job came back through the loop. */
static void test_flush_policy(void **state)
{
    (void)state;
    broker_close();
    gr_broker.cfg.log_flush_interval_messages = 1;
    broker_open();
    gr_coord_commit_t c = {.topic = "t", .topic_len = 1, .partition = 0, .offset = 5, .leader_epoch = -1,
                           .commit_timestamp = 1000, .expire_timestamp = -1, .error = KERR_NONE};
    ncb = 0;
    gr_coord_commit_offsets("fg", 2, "m", &c, 1, cb, NULL);
    assert_int_equal(ncb, 0);
    int64_t t0 = gr_mono_ms();
    while (ncb == 0 && gr_mono_ms() - t0 < 5000)
        gr_ev_run_once(gr_broker.ev, 10);
    assert_int_equal(ncb, 1);
    assert_int_equal(last_err, KERR_NONE);
    gr_topic_t *t = gr_topic_find(GR_OFFSETS_TOPIC, strlen(GR_OFFSETS_TOPIC));
    gr_partition_t *p = t->parts[gr_coord_partition_for("fg", 2)];
    assert_int_equal(gr_log_recovery_point(p->log), gr_log_end_offset(p->log));
    gr_broker.cfg.log_flush_interval_messages = INT64_MAX;
}

static void cb_slot(void *arg, gr_kerr_t err)
{
    int16_t *slot = arg;
    *slot = err;
    ncb++;
}

static void commit_to(const char *gid, int32_t part, int64_t off, const char *md, size_t mdlen, gr_kerr_t *slot)
{
    gr_coord_commit_t c = {.topic = "t", .topic_len = 1, .partition = part, .offset = off, .leader_epoch = -1,
                           .metadata = md, .metadata_len = mdlen, .commit_timestamp = 1000,
                           .expire_timestamp = -1, .error = KERR_NONE};
    gr_coord_commit_offsets(gid, strlen(gid), "m", &c, 1, cb_slot, slot);
}

/* Two group ids on the same __consumer_offsets partition. */
static void same_partition(char *a, char *b, size_t n)
{
    snprintf(a, n, "gc-0");
    int32_t want = gr_coord_partition_for(a, strlen(a));
    for (int i = 1; i < 1000; i++) {
        snprintf(b, n, "gc-%d", i);
        if (gr_coord_partition_for(b, strlen(b)) == want)
            return;
    }
    fail_msg("no second group id on partition %d", want);
}

/* Writes of one loop turn on one partition go out in one append, each in
 * its own batch, in call order; each is replayed at once (the next
 * operation sees it) and its callback runs only after the append. */
static void test_group_commit(void **state)
{
    (void)state;
    broker_close();
    gr_broker.cfg.message_max_bytes = 250;         /* the 400-byte metadata below does not fit */
    broker_open();
    char a[16], b[16];
    same_partition(a, b, sizeof(a));
    gr_topic_t *t = gr_topic_find(GR_OFFSETS_TOPIC, strlen(GR_OFFSETS_TOPIC));
    gr_partition_t *p = t->parts[gr_coord_partition_for(a, strlen(a))];
    int64_t end0 = gr_log_end_offset(p->log);
    gr_kerr_t e[4] = {-2, -2, -2, -2};
    ncb = 0;
    commit_to(a, 0, 1, NULL, 0, &e[0]);
    commit_to(b, 0, 2, "x", 1, &e[1]);
    commit_to(a, 0, 3, NULL, 0, &e[2]);
    assert_int_equal(ncb, 0);
    assert_int_equal(gr_log_end_offset(p->log), end0);        /* not appended yet */
    assert_int_equal(gr_offset_get(G(a)->offsets, "t", 1, 0)->offset, 3);   /* but replayed */
    gr_ev_run_once(gr_broker.ev, 0);
    assert_int_equal(ncb, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(e[i], KERR_NONE);
    assert_int_equal(gr_log_end_offset(p->log), end0 + 3);
    assert_int_equal(gr_offset_get(G(a)->offsets, "t", 1, 0)->offset, 3);
    assert_int_equal(gr_offset_get(G(b)->offsets, "t", 1, 0)->offset, 2);
    assert_string_equal(gr_offset_get(G(b)->offsets, "t", 1, 0)->metadata, "x");

    /* a batch above max.message.bytes is refused before it is applied;
     * the other commit still lands */
    size_t big = 400;
    char *md = malloc(big);
    memset(md, 'm', big);
    commit_to(a, 1, 10, md, big, &e[0]);
    commit_to(b, 1, 20, NULL, 0, &e[1]);
    free(md);                                                 /* copied at the call */
    assert_null(gr_offset_get(G(a)->offsets, "t", 1, 1));
    spin();
    assert_int_equal(ncb, 5);
    assert_int_equal(e[0], KERR_INVALID_COMMIT_OFFSET_SIZE);
    assert_int_equal(e[1], KERR_NONE);
    assert_null(gr_offset_get(G(a)->offsets, "t", 1, 1));
    assert_int_equal(gr_offset_get(G(b)->offsets, "t", 1, 1)->offset, 20);

    /* a group write joins the same append, in order */
    commit_to(a, 0, 4, NULL, 0, &e[3]);
    int64_t end1 = gr_log_end_offset(p->log);
    gr_coord_store_group(G(a), cb, NULL);
    assert_int_equal(gr_log_end_offset(p->log), end1);
    assert_int_equal(ncb, 5);
    gr_ev_run_once(gr_broker.ev, 0);
    assert_int_equal(gr_log_end_offset(p->log), end1 + 2);
    assert_int_equal(ncb, 7);
    assert_int_equal(e[3], KERR_NONE);

    /* replay gives the same offsets */
    commit_to(b, 0, 5, NULL, 0, &e[1]);
    broker_restart();                                         /* stop appends what waits */
    assert_int_equal(ncb, 8);
    gr_group_t *g1 = G(a), *g2 = G(b);
    assert_non_null(g1);
    assert_non_null(g2);
    assert_int_equal(gr_offset_get(g1->offsets, "t", 1, 0)->offset, 4);
    assert_int_equal(gr_offset_get(g2->offsets, "t", 1, 0)->offset, 5);
    assert_int_equal(gr_offset_get(g2->offsets, "t", 1, 1)->offset, 20);
    assert_null(gr_offset_get(g1->offsets, "t", 1, 1));
    gr_broker.cfg.message_max_bytes = 1048588;
}

/* A fresh data dir with the current config (the topic's configs are fixed
 * when it is created). */
static void broker_recreate(void)
{
    broker_close();
    gr_rm_rf(dir);
    assert_int_equal(gr_mkdir_p(dir), 0);
    broker_open();
}

/* n members, each with md bytes of subscription for "range" */
static gr_group_t *big_group(const char *id, int n, size_t md)
{
    gr_group_t *g = gr_group_get_or_create(id, strlen(id));
    g->protocol_type = strdup("consumer");
    g->protocol_name = strdup("range");
    g->generation_id = 1;
    g->state = GR_GROUP_COMPLETING_REBALANCE;
    g->empty_since_ms = -1;
    gr_member_t **tail = &g->members;
    for (int i = 0; i < n; i++) {
        gr_member_t *m = calloc(1, sizeof(*m));
        char mid[32];
        snprintf(mid, sizeof(mid), "member-%d", i);
        m->group = g;
        m->member_id = strdup(mid);
        m->group_instance_id = i % 2 ? strdup("inst") : NULL;
        m->client_id = strdup("client");
        m->client_host = strdup("/127.0.0.1");
        m->protocols = calloc(1, sizeof(*m->protocols));
        m->protocols[0].name = strdup("range");
        m->protocols[0].metadata = malloc(md ? md : 1);
        memset(m->protocols[0].metadata, 'u', md);
        m->protocols[0].metadata_len = (int32_t)md;
        m->nprotocols = 1;
        m->assignment = (uint8_t *)strdup("asg");
        m->assignment_len = 3;
        gr_timer_init(&m->session_timer, NULL, m);
        *tail = m;
        tail = &m->next;
        g->nmembers++;
    }
    g->leader_id = strdup("member-0");
    return g;
}

/* The GroupMetadata record's size is known before it is built: exactly
 * what gr_group_value_encode writes, at every record version. */
static void test_group_value_size(void **state)
{
    (void)state;
    gr_group_t *g = big_group("sized", 5, 100);
    static const char *ibp[] = {"0.10.0", "0.10.1", "2.0", "2.2", "3.7"};
    for (size_t i = 0; i < sizeof(ibp) / sizeof(ibp[0]); i++) {
        free(gr_broker.cfg.inter_broker_protocol_version);
        gr_broker.cfg.inter_broker_protocol_version = strdup(ibp[i]);
        gr_wr_t w;
        gr_wr_init(&w);
        gr_group_value_encode(&w, g);
        bool too_long = true;
        assert_int_equal(gr_group_value_size(g, &too_long), w.total);
        assert_false(too_long);
        gr_wr_free(&w);
    }
    /* a string field beyond its int16 length cannot be written */
    free(g->members->client_id);
    g->members->client_id = malloc(40000);
    memset(g->members->client_id, 'c', 39999);
    g->members->client_id[39999] = 0;
    bool too_long = false;
    gr_group_value_size(g, &too_long);
    assert_true(too_long);
}

/* Kafka's limits on the GroupMetadata append: max.message.bytes of
 * __consumer_offsets (RecordTooLargeException) and its segment.bytes
 * (RecordBatchTooLargeException), both UNKNOWN_SERVER_ERROR for the group;
 * nothing is appended.  The size is exact: one byte less than the batch
 * refuses it, the batch's size accepts it. */
static void test_group_record_limits(void **state)
{
    (void)state;
    gr_group_t *g = big_group("big", 200, 10 * 1024);    /* ~2 MB */
    gr_topic_t *t = gr_topic_find(GR_OFFSETS_TOPIC, strlen(GR_OFFSETS_TOPIC));
    gr_partition_t *p = t->parts[gr_coord_partition_for("big", 3)];
    int64_t end = gr_log_end_offset(p->log);
    ncb = 0;
    gr_coord_store_group(g, cb, NULL);                    /* 1 MiB default: too large */
    spin();
    assert_int_equal(ncb, 1);
    assert_int_equal(last_err, KERR_UNKNOWN_SERVER_ERROR);
    assert_int_equal(gr_log_end_offset(p->log), end);

    /* the batch as the store builds it */
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, 1000);
    gr_wr_t k, v;
    gr_wr_init(&k);
    gr_wr_init(&v);
    gr_coord_group_key(&k, "big", 3);
    gr_group_value_encode(&v, g);
    size_t kl, vl;
    uint8_t *kp = gr_wr_flatten(&k, &kl), *vp = gr_wr_flatten(&v, &vl);
    gr_batch_builder_add(&b, -1, 1000, kp, (int32_t)kl, vp, (int32_t)vl);
    size_t size;
    gr_batch_builder_finish(&b, 0, -1, -1, -1, &size);
    gr_batch_builder_free(&b);
    gr_wr_free(&k);
    gr_wr_free(&v);
    gr_group_remove(g);

    gr_broker.cfg.message_max_bytes = (int32_t)size - 1;
    broker_recreate();
    g = big_group("big", 200, 10 * 1024);
    t = gr_topic_find(GR_OFFSETS_TOPIC, strlen(GR_OFFSETS_TOPIC));
    p = t->parts[gr_coord_partition_for("big", 3)];
    gr_coord_store_group(g, cb, NULL);
    spin();
    assert_int_equal(last_err, KERR_UNKNOWN_SERVER_ERROR);
    assert_int_equal(gr_log_end_offset(p->log), 0);
    gr_group_remove(g);

    gr_broker.cfg.message_max_bytes = (int32_t)size;
    broker_recreate();
    g = big_group("big", 200, 10 * 1024);
    t = gr_topic_find(GR_OFFSETS_TOPIC, strlen(GR_OFFSETS_TOPIC));
    p = t->parts[gr_coord_partition_for("big", 3)];
    gr_coord_store_group(g, cb, NULL);
    spin();
    assert_int_equal(last_err, KERR_NONE);
    assert_int_equal(gr_log_end_offset(p->log), 1);
    gr_group_remove(g);

    /* above segment.bytes of __consumer_offsets: refused although
     * max.message.bytes would take it */
    gr_broker.cfg.message_max_bytes = 64 << 20;
    gr_broker.cfg.offsets_topic_segment_bytes = (int64_t)size - 1;
    broker_recreate();
    g = big_group("big", 200, 10 * 1024);
    t = gr_topic_find(GR_OFFSETS_TOPIC, strlen(GR_OFFSETS_TOPIC));
    p = t->parts[gr_coord_partition_for("big", 3)];
    gr_coord_store_group(g, cb, NULL);
    spin();
    assert_int_equal(last_err, KERR_UNKNOWN_SERVER_ERROR);
    assert_int_equal(gr_log_end_offset(p->log), 0);
    gr_broker.cfg.message_max_bytes = 1048588;
    gr_broker.cfg.offsets_topic_segment_bytes = 104857600;
}

/* Not started: group requests answer COORDINATOR_NOT_AVAILABLE, groups
 * are placed by offsets.topic.num.partitions; started, every partition
 * loads first. */
static void test_not_started(void **state)
{
    (void)state;
    gr_coord_stop();
    assert_false(gr_coord_loading_any());
    assert_int_equal(gr_coord_validate_group("x", 1, GR_GROUP_API_JOIN), KERR_COORDINATOR_NOT_AVAILABLE);
    assert_int_equal(gr_coord_validate_group(NULL, 0, GR_GROUP_API_JOIN), KERR_INVALID_GROUP_ID);
    assert_int_equal(gr_coord_start(), 0);
    assert_true(gr_coord_loading_any());
    assert_int_equal(gr_coord_validate_group("x", 1, GR_GROUP_API_JOIN), KERR_COORDINATOR_LOAD_IN_PROGRESS);
    gr_coord_load_all();
    assert_false(gr_coord_loading_any());
    assert_int_equal(gr_coord_validate_group("x", 1, GR_GROUP_API_JOIN), KERR_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partition_for, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_value_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_record_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tombstones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressed_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_1m, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_started, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
