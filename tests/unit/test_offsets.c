/* Unit tests for offsets.c / coord.c: the offset map, __consumer_offsets
 * record layouts (byte-exact against Kafka's), Java hashCode partitioning,
 * commit -> restart -> same offsets, tombstones, group metadata rebuild,
 * offset expiry with a fake clock, corrupt records, a 1M-record load, and
 * the group commit (one append for the commits of a loop turn).
 *
 * The group registry is replaced by a small fake below (the functions of
 * group.h that coord.c calls), so these tests exercise only offsets.c and
 * coord.c over real topic logs in a temp dir. */
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

/* ------------------------------------------------------------ fake group registry */

static gr_group_t *groups[1024];
static int ngroups;
static int nloaded;          /* gr_group_loaded calls */
static int nhist;

static void member_free(gr_member_t *m)
{
    free(m->member_id);
    free(m->group_instance_id);
    free(m->client_id);
    free(m->client_host);
    free(m->protocol_type);
    for (int32_t i = 0; i < m->nprotocols; i++) {
        free(m->protocols[i].name);
        free(m->protocols[i].metadata);
    }
    free(m->protocols);
    free(m->assignment);
    free(m);
}

static void group_free(gr_group_t *g)
{
    gr_offsets_group_free(g);
    while (g->members) {
        gr_member_t *n = g->members->next;
        member_free(g->members);
        g->members = n;
    }
    free(g->group_id);
    free(g->protocol_type);
    free(g->protocol_name);
    free(g->leader_id);
    free(g);
}

gr_group_t *gr_group_find(const char *id, size_t len)
{
    for (int i = 0; i < ngroups; i++)
        if (strlen(groups[i]->group_id) == len && !memcmp(groups[i]->group_id, id, len))
            return groups[i];
    return NULL;
}

gr_group_t *gr_group_get_or_create(const char *id, size_t len)
{
    gr_group_t *g = gr_group_find(id, len);
    if (g)
        return g;
    g = calloc(1, sizeof(*g));
    g->group_id = strndup(id, len);
    g->state = GR_GROUP_EMPTY;
    g->empty_since_ms = gr_now_ms();
    g->coord_partition = gr_coord_partition_for(id, len);
    assert_true(ngroups < 1024);
    groups[ngroups++] = g;
    return g;
}

gr_group_t *gr_group_next(gr_group_t *g)
{
    if (!g)
        return ngroups ? groups[0] : NULL;
    for (int i = 0; i + 1 < ngroups; i++)
        if (groups[i] == g)
            return groups[i + 1];
    return NULL;
}

int gr_group_count(void)
{
    return ngroups;
}

void gr_group_remove(gr_group_t *g)
{
    for (int i = 0; i < ngroups; i++)
        if (groups[i] == g) {
            memmove(groups + i, groups + i + 1, sizeof(*groups) * (size_t)(ngroups - i - 1));
            ngroups--;
            break;
        }
    group_free(g);
}

bool gr_group_subscribed_to(const gr_group_t *g, const char *topic)
{
    /* the fake: subscription bytes are the topic name itself */
    for (gr_member_t *m = g->members; m; m = m->next)
        for (int32_t i = 0; i < m->nprotocols; i++)
            if (m->protocols[i].metadata && (size_t)m->protocols[i].metadata_len == strlen(topic) &&
                !memcmp(m->protocols[i].metadata, topic, strlen(topic)))
                return true;
    return false;
}

void gr_group_hist_add(gr_group_t *g, const gr_hist_entry_t *e)
{
    (void)g;
    assert_int_equal(e->kind, GR_HIST_COMMIT);
    nhist++;
}

void gr_group_loaded(gr_group_t *g)
{
    (void)g;
    nloaded++;
}

static void groups_clear(void)
{
    while (ngroups > 0)
        group_free(groups[--ngroups]);
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
    groups_clear();
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
    gr_log_level = GR_LOG_ERROR;
    nloaded = nhist = ncb = 0;
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

/* Run the loop until queued completions have run. */
static void spin(void)
{
    for (int i = 0; i < 5; i++)
        gr_ev_run_once(gr_broker.ev, 0);
}

static void cb(void *arg, int16_t err)
{
    (void)arg;
    last_err = err;
    ncb++;
}

static void commit1(gr_group_t *g, const char *topic, int32_t part, int64_t off, const char *md, int64_t ts,
                    int64_t expire)
{
    gr_coord_commit_t c = {.topic = topic, .topic_len = strlen(topic), .partition = part, .offset = off,
                           .leader_epoch = 7, .metadata = md, .metadata_len = md ? strlen(md) : 0,
                           .commit_timestamp = ts, .expire_timestamp = expire, .error = KERR_NONE};
    int before = ncb;
    gr_coord_commit_offsets(g, "member-1", &c, 1, cb, NULL);
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
    gr_coord_group_value(&w, &g);
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
    gr_group_t *s = gr_group_get_or_create("stable", 6);
    s->protocol_type = strdup("consumer");
    s->state = GR_GROUP_STABLE;
    s->empty_since_ms = -1;
    gr_member_t *m = calloc(1, sizeof(*m));
    m->group = s;
    m->member_id = strdup("m");
    m->protocols = calloc(1, sizeof(*m->protocols));
    m->protocols[0].name = strdup("range");
    m->protocols[0].metadata = (uint8_t *)strdup("sub");
    m->protocols[0].metadata_len = 3;
    m->nprotocols = 1;
    s->members = m;
    s->nmembers = 1;
    commit1(s, "old", 0, 1, "", INT64_MIN, -1);
    commit1(s, "new", 0, 2, "", INT64_MAX, -1);
    commit1(s, "sub", 0, 3, "", INT64_MIN, -1);
    /* explicit expire timestamp 2^63-1 (RetentionTimeMs 2^63-1): never */
    gr_group_t *g = gr_group_get_or_create("forever", 7);
    commit1(g, "a", 0, 1, "", now, INT64_MAX);
    assert_int_equal(gr_coord_expire(now), 1);
    assert_null(gr_offset_get(s->offsets, "old", 3, 0));
    assert_non_null(gr_offset_get(s->offsets, "new", 3, 0));
    assert_non_null(gr_offset_get(s->offsets, "sub", 3, 0));
    /* committed at the end of time: never old enough; expire 2^63-1: not yet */
    assert_int_equal(gr_coord_expire(INT64_MAX - 1), 0);
    assert_non_null(gr_offset_get(g->offsets, "a", 1, 0));
    assert_int_equal(gr_coord_expire(INT64_MIN), 0);
    broker_restart();
    g = gr_group_find("forever", 7);
    assert_non_null(g);
    assert_int_equal(gr_offset_get(g->offsets, "a", 1, 0)->expire_timestamp, INT64_MAX);
    gr_coord_expire(INT64_MAX - 1);
    g = gr_group_find("forever", 7);
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
    gr_group_t *g = gr_group_get_or_create("my-group", 8);
    commit1(g, "orders", 0, 42, "", 1000, -1);
    commit1(g, "orders", 1, 7, "meta", 1001, -1);
    commit1(g, "orders", 0, 43, NULL, 1002, -1);
    commit1(g, "audit", 0, 5, "x", 1003, 99999);
    assert_int_equal(nhist, 4);
    assert_int_equal(gr_offset_map_count(g->offsets), 3);

    broker_restart();
    g = gr_group_find("my-group", 8);
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
    gr_group_t *g = gr_group_get_or_create("g1", 2);
    commit1(g, "a", 0, 1, "", 1000, -1);
    commit1(g, "a", 1, 2, "", 1000, -1);
    commit1(g, "b", 0, 3, "", 1000, -1);
    gr_group_t *g2 = gr_group_get_or_create("g2", 2);
    commit1(g2, "a", 0, 10, "", 1000, -1);

    /* OffsetDelete of a/1 and an absent b/9 */
    gr_coord_commit_t c[2] = {{.topic = "a", .topic_len = 1, .partition = 1, .error = KERR_NONE},
                              {.topic = "b", .topic_len = 1, .partition = 9, .error = KERR_NONE}};
    gr_coord_delete_offsets(g, c, 2, cb, NULL);
    spin();
    assert_int_equal(last_err, KERR_NONE);
    assert_int_equal(gr_offset_map_count(g->offsets), 2);

    /* group delete: tombstones for the metadata and every offset */
    gr_coord_delete_group(g2, cb, NULL);
    spin();
    assert_int_equal(last_err, KERR_NONE);

    broker_restart();
    g = gr_group_find("g1", 2);
    assert_non_null(g);
    assert_int_equal(gr_offset_map_count(g->offsets), 2);
    assert_null(gr_offset_get(g->offsets, "a", 1, 1));
    assert_non_null(gr_offset_get(g->offsets, "a", 1, 0));
    assert_null(gr_group_find("g2", 2));

    /* deleting the last offsets of an Empty group makes it Dead */
    gr_coord_commit_t d[2] = {{.topic = "a", .topic_len = 1, .partition = 0, .error = KERR_NONE},
                              {.topic = "b", .topic_len = 1, .partition = 0, .error = KERR_NONE}};
    gr_coord_delete_offsets(g, d, 2, cb, NULL);
    spin();
    assert_null(gr_group_find("g1", 2));
    broker_restart();
    assert_null(gr_group_find("g1", 2));
}

static void test_group_metadata(void **state)
{
    (void)state;
    gr_group_t *g = gr_group_get_or_create("cg", 2);
    gr_member_t *m = calloc(1, sizeof(*m));
    m->group = g;
    m->member_id = strdup("m-1");
    m->group_instance_id = strdup("inst");
    m->client_id = strdup("cli");
    m->client_host = strdup("/127.0.0.1");
    m->session_timeout_ms = 10000;
    m->rebalance_timeout_ms = 30000;
    m->protocols = calloc(1, sizeof(*m->protocols));
    m->protocols[0].name = strdup("range");
    m->protocols[0].metadata = (uint8_t *)strdup("orders");
    m->protocols[0].metadata_len = 6;
    m->nprotocols = 1;
    m->assignment = (uint8_t *)strdup("asg");
    m->assignment_len = 3;
    g->members = m;
    g->nmembers = 1;
    g->protocol_type = strdup("consumer");
    g->protocol_name = strdup("range");
    g->leader_id = strdup("m-1");
    g->generation_id = 3;
    g->state = GR_GROUP_STABLE;
    g->state_timestamp_ms = 5000;
    g->empty_since_ms = -1;
    gr_coord_store_group(g, cb, NULL);
    assert_int_equal(ncb, 0);
    spin();
    assert_int_equal(ncb, 1);
    assert_int_equal(last_err, KERR_NONE);
    commit1(g, "orders", 0, 99, "", 1000, -1);

    broker_restart();
    g = gr_group_find("cg", 2);
    assert_non_null(g);
    assert_int_equal(nloaded, 1);
    assert_int_equal(g->state, GR_GROUP_STABLE);
    assert_int_equal(g->generation_id, 3);
    assert_string_equal(g->protocol_type, "consumer");
    assert_string_equal(g->protocol_name, "range");
    assert_string_equal(g->leader_id, "m-1");
    assert_int_equal(g->state_timestamp_ms, 5000);
    assert_int_equal(g->nmembers, 1);
    m = g->members;
    assert_string_equal(m->member_id, "m-1");
    assert_string_equal(m->group_instance_id, "inst");
    assert_string_equal(m->client_id, "cli");
    assert_string_equal(m->client_host, "/127.0.0.1");
    assert_int_equal(m->session_timeout_ms, 10000);
    assert_int_equal(m->rebalance_timeout_ms, 30000);
    assert_int_equal(m->nprotocols, 1);
    assert_string_equal(m->protocols[0].name, "range");
    assert_int_equal(m->protocols[0].metadata_len, 6);
    assert_memory_equal(m->protocols[0].metadata, "orders", 6);
    assert_int_equal(m->assignment_len, 3);
    assert_int_equal(gr_offset_get(g->offsets, "orders", 6, 0)->offset, 99);

    /* the group empties: stored again without members -> Empty on load */
    while (g->members) {
        gr_member_t *n = g->members->next;
        member_free(g->members);
        g->members = n;
    }
    g->nmembers = 0;
    free(g->protocol_name);
    g->protocol_name = NULL;
    free(g->leader_id);
    g->leader_id = NULL;
    g->generation_id = 4;
    g->state = GR_GROUP_EMPTY;
    g->state_timestamp_ms = 6000;
    gr_coord_store_group(g, cb, NULL);
    spin();
    broker_restart();
    g = gr_group_find("cg", 2);
    assert_non_null(g);
    assert_int_equal(g->state, GR_GROUP_EMPTY);
    assert_int_equal(g->empty_since_ms, 6000);
    assert_int_equal(g->generation_id, 4);
    assert_null(g->protocol_name);
    assert_null(g->members);
}

static void test_expiry(void **state)
{
    (void)state;
    int64_t day = 24 * 3600 * 1000LL, ret = gr_broker.cfg.offsets_retention_minutes * 60000;
    int64_t t0 = 1000 * day;
    /* standalone group: retention counts from each commit */
    gr_group_t *g = gr_group_get_or_create("standalone", 10);
    g->empty_since_ms = t0;
    commit1(g, "a", 0, 1, "", t0, -1);
    commit1(g, "a", 1, 2, "", t0 + day, -1);
    /* explicit expire timestamp wins */
    commit1(g, "a", 2, 3, "", t0 + 5 * day, t0 + 6 * day);

    /* consumer group that became Empty at t0 + 2 days */
    gr_group_t *c = gr_group_get_or_create("cgroup", 6);
    c->protocol_type = strdup("consumer");
    c->empty_since_ms = t0 + 2 * day;
    commit1(c, "a", 0, 1, "", t0, -1);

    assert_int_equal(ret, 7 * day);
    assert_int_equal(gr_coord_expire(t0 + 6 * day - 1), 0);
    assert_int_equal(gr_coord_expire(t0 + 6 * day), 1);              /* a/2: its expire timestamp */
    assert_null(gr_offset_get(g->offsets, "a", 1, 2));
    assert_int_equal(gr_coord_expire(t0 + 7 * day), 1);              /* a/0: committed at t0 */
    assert_non_null(gr_group_find("standalone", 10));
    assert_int_equal(gr_coord_expire(t0 + 8 * day), 1);              /* a/1: committed a day later */
    assert_null(gr_group_find("standalone", 10));                    /* Empty, no offsets: Dead */
    /* the consumer group: from when it became Empty, not from the commit */
    assert_non_null(gr_group_find("cgroup", 6));
    assert_int_equal(gr_coord_expire(t0 + 9 * day - 1), 0);
    assert_int_equal(gr_coord_expire(t0 + 9 * day), 1);
    assert_null(gr_group_find("cgroup", 6));

    /* Stable consumer group: only unsubscribed topics expire, by commit time */
    gr_group_t *s = gr_group_get_or_create("stable", 6);
    s->protocol_type = strdup("consumer");
    s->state = GR_GROUP_STABLE;
    s->empty_since_ms = -1;
    gr_member_t *m = calloc(1, sizeof(*m));
    m->group = s;
    m->member_id = strdup("m");
    m->protocols = calloc(1, sizeof(*m->protocols));
    m->protocols[0].name = strdup("range");
    m->protocols[0].metadata = (uint8_t *)strdup("sub");
    m->protocols[0].metadata_len = 3;
    m->nprotocols = 1;
    s->members = m;
    s->nmembers = 1;
    commit1(s, "sub", 0, 1, "", t0, -1);
    commit1(s, "old", 0, 1, "", t0, -1);
    assert_int_equal(gr_coord_expire(t0 + 100 * ret), 1);
    assert_non_null(gr_offset_get(s->offsets, "sub", 3, 0));
    assert_null(gr_offset_get(s->offsets, "old", 3, 0));
    assert_non_null(gr_group_find("stable", 6));

    /* what expired stays expired after a restart */
    broker_restart();
    assert_null(gr_group_find("cgroup", 6));
    assert_null(gr_group_find("standalone", 10));
    s = gr_group_find("stable", 6);
    assert_non_null(s);
    assert_null(gr_offset_get(s->offsets, "old", 3, 0));
    assert_non_null(gr_offset_get(s->offsets, "sub", 3, 0));
}

/* Garbage keys, unknown versions and bad values are skipped; good records
 * around them still load. */
static void test_corrupt_records(void **state)
{
    (void)state;
    gr_group_t *g = gr_group_get_or_create("cg", 2);
    commit1(g, "t", 0, 1, "", 1000, -1);
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
    commit1(g, "t", 2, 3, "", 1000, -1);

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
        gr_group_t *g = gr_group_get_or_create(names[gi], strlen(names[gi]));
        for (int r = 0; r < ROUNDS; r++) {
            for (int i = 0; i < PER; i++)
                c[i] = (gr_coord_commit_t){.topic = (i & 1) ? "topic-odd" : "topic-even", .topic_len = (i & 1) ? 9 : 10,
                                           .partition = i, .offset = r * 1000 + i, .leader_epoch = -1,
                                           .commit_timestamp = 1000, .expire_timestamp = -1, .error = KERR_NONE};
            gr_coord_commit_offsets(g, "m", c, PER, NULL, NULL);
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
    gr_group_t *g = gr_group_get_or_create("fg", 2);
    gr_coord_commit_t c = {.topic = "t", .topic_len = 1, .partition = 0, .offset = 5, .leader_epoch = -1,
                           .commit_timestamp = 1000, .expire_timestamp = -1, .error = KERR_NONE};
    ncb = 0;
    gr_coord_commit_offsets(g, "m", &c, 1, cb, NULL);
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

static void cb_slot(void *arg, int16_t err)
{
    int16_t *slot = arg;
    *slot = err;
    ncb++;
}

static void commit_to(gr_group_t *g, int32_t part, int64_t off, const char *md, size_t mdlen, int16_t *slot)
{
    gr_coord_commit_t c = {.topic = "t", .topic_len = 1, .partition = part, .offset = off, .leader_epoch = -1,
                           .metadata = md, .metadata_len = mdlen, .commit_timestamp = 1000,
                           .expire_timestamp = -1, .error = KERR_NONE};
    gr_coord_commit_offsets(g, "m", &c, 1, cb_slot, slot);
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

/* Commits of one loop turn on one partition go out in one append, each
 * in its own batch, in call order; the map changes and the callbacks run
 * only after it.  Another write to the partition appends them first. */
static void test_group_commit(void **state)
{
    (void)state;
    broker_close();
    gr_broker.cfg.message_max_bytes = 250;         /* the 400-byte metadata below does not fit */
    broker_open();
    char a[16], b[16];
    same_partition(a, b, sizeof(a));
    gr_group_t *g1 = gr_group_get_or_create(a, strlen(a));
    gr_group_t *g2 = gr_group_get_or_create(b, strlen(b));
    gr_topic_t *t = gr_topic_find(GR_OFFSETS_TOPIC, strlen(GR_OFFSETS_TOPIC));
    gr_partition_t *p = t->parts[gr_coord_partition_for(a, strlen(a))];
    int64_t end0 = gr_log_end_offset(p->log);
    int16_t e[4] = {-1, -1, -1, -1};
    ncb = 0;
    commit_to(g1, 0, 1, NULL, 0, &e[0]);
    commit_to(g2, 0, 2, "x", 1, &e[1]);
    commit_to(g1, 0, 3, NULL, 0, &e[2]);
    assert_int_equal(ncb, 0);
    assert_int_equal(gr_log_end_offset(p->log), end0);        /* not appended yet */
    assert_null(gr_offset_get(g1->offsets, "t", 1, 0));       /* nor visible */
    gr_ev_run_once(gr_broker.ev, 0);
    assert_int_equal(ncb, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(e[i], KERR_NONE);
    assert_int_equal(gr_log_end_offset(p->log), end0 + 3);
    assert_int_equal(gr_offset_get(g1->offsets, "t", 1, 0)->offset, 3);
    assert_int_equal(gr_offset_get(g2->offsets, "t", 1, 0)->offset, 2);
    assert_string_equal(gr_offset_get(g2->offsets, "t", 1, 0)->metadata, "x");

    /* a batch the log refuses fails alone; the other commit still lands */
    size_t big = 400;
    char *md = malloc(big);
    memset(md, 'm', big);
    commit_to(g1, 1, 10, md, big, &e[0]);
    commit_to(g2, 1, 20, NULL, 0, &e[1]);
    free(md);                                                 /* copied at the call */
    spin();
    assert_int_equal(ncb, 5);
    assert_int_equal(e[0], KERR_INVALID_COMMIT_OFFSET_SIZE);
    assert_int_equal(e[1], KERR_NONE);
    assert_null(gr_offset_get(g1->offsets, "t", 1, 1));
    assert_int_equal(gr_offset_get(g2->offsets, "t", 1, 1)->offset, 20);

    /* a group write appends the waiting commit first, still reporting later */
    commit_to(g1, 0, 4, NULL, 0, &e[3]);
    int64_t end1 = gr_log_end_offset(p->log);
    gr_coord_store_group(g1, cb, NULL);
    assert_int_equal(gr_log_end_offset(p->log), end1 + 2);
    assert_int_equal(gr_offset_get(g1->offsets, "t", 1, 0)->offset, 4);
    assert_int_equal(ncb, 5);
    spin();
    assert_int_equal(ncb, 7);
    assert_int_equal(e[3], KERR_NONE);

    /* replay gives the same offsets */
    commit_to(g2, 0, 5, NULL, 0, &e[1]);
    broker_restart();                                         /* stop appends what waits */
    assert_int_equal(ncb, 8);
    g1 = gr_group_find(a, strlen(a));
    g2 = gr_group_find(b, strlen(b));
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
        *tail = m;
        tail = &m->next;
        g->nmembers++;
    }
    g->leader_id = strdup("member-0");
    return g;
}

/* The GroupMetadata record's size is known before it is built: exactly
 * what gr_coord_group_value writes, at every record version. */
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
        gr_coord_group_value(&w, g);
        bool too_long = true;
        assert_int_equal(gr_coord_group_value_size(g, &too_long), w.total);
        assert_false(too_long);
        gr_wr_free(&w);
    }
    /* a string field beyond its int16 length cannot be written */
    free(g->members->client_id);
    g->members->client_id = malloc(40000);
    memset(g->members->client_id, 'c', 39999);
    g->members->client_id[39999] = 0;
    bool too_long = false;
    gr_coord_group_value_size(g, &too_long);
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
    gr_coord_group_value(&v, g);
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

/* Not started: writes complete with NONE and nothing is loading. */
static void test_not_started(void **state)
{
    (void)state;
    gr_coord_stop();
    assert_false(gr_coord_loading(0));
    gr_group_t *g = gr_group_get_or_create("x", 1);
    ncb = 0;
    gr_coord_store_group(g, cb, NULL);
    assert_int_equal(ncb, 1);
    assert_int_equal(last_err, KERR_NONE);
    assert_int_equal(gr_coord_start(), 0);
    assert_true(gr_coord_loading_any());
    assert_true(gr_coord_loading(0));
    gr_coord_load_all();
    assert_false(gr_coord_loading(0));
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
