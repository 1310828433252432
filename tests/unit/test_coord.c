/* Unit tests for coord.c, the group coordinator's service and its shard of
 * __consumer_offsets:
 *   - the one validation of group requests (ids per API, loading, not
 *     started);
 *   - over an in-memory log (crt_memlog.h): a failed append takes back what
 *     the commit, OffsetDelete, DeleteGroups or expiry applied, and their
 *     callers get Kafka's mapped error;
 *   - property: over random sequences of commits, offset and group
 *     deletions, expiry passes and generations of real groups (group.c),
 *     with random append failures, the state built by the live operations
 *     equals the state a restart loads from the log they wrote;
 *   - the __consumer_offsets of tests/fixtures/coord-2eca498 (written by
 *     gregord 2eca498) loads into exactly the groups, members and offsets
 *     that version loaded (expected-state.txt, dumped by its dump_state.c
 *     in the same format). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker.h"
#include "coord.h"
#include "crt_memlog.h"
#include "group.h"
#include "jstr.h"
#include "offsets.h"
#include "topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gr_broker_t gr_broker;

static memlog_t ml;
static int64_t t_start;

static void spin(void)
{
    for (int i = 0; i < 5; i++)
        gr_ev_run_once(gr_broker.ev, 0);
}

static int setup(void **st)
{
    (void)st;
    memset(&gr_broker, 0, sizeof(gr_broker));
    gr_config_init(&gr_broker.cfg);
    gr_broker.cfg.group_initial_rebalance_delay_ms = 0;
    gr_log_level = GR_LOG_ERROR + 1;
    gr_broker.ev = gr_ev_new();
    memlog_init(&ml, gr_broker.ev, 4);
    t_start = gr_now_ms();
    assert_int_equal(gr_coord_start_with(&memlog_writer, &ml, 4), 0);
    gr_coord_load_all();
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    gr_coord_stop();
    gr_group_remove_all();
    memlog_free(&ml);
    gr_ev_free(gr_broker.ev);
    gr_broker.ev = NULL;
    gr_config_free(&gr_broker.cfg);
    return 0;
}

static gr_group_t *G(const char *id)
{
    return gr_group_find(id, strlen(id));
}

typedef struct res {
    int done;
    gr_kerr_t err;
} res_t;

static void on_done(void *arg, gr_kerr_t err)
{
    res_t *r = arg;
    r->done++;
    r->err = err;
}

static void commit(const char *gid, const char *topic, int32_t part, int64_t off, int64_t ts, int64_t expire,
                   res_t *r)
{
    gr_coord_commit_t c = {.topic = topic, .topic_len = strlen(topic), .partition = part, .offset = off,
                           .leader_epoch = (int32_t)(off % 5) - 1, .metadata = "md", .metadata_len = 2,
                           .commit_timestamp = ts, .expire_timestamp = expire, .error = KERR_NONE};
    gr_coord_commit_offsets(gid, strlen(gid), "m", &c, 1, on_done, r);
}

/* ------------------------------------------------------------ the state, as text */

static void hexs(char **o, size_t *cap, size_t *len, const void *p, size_t n);

static void app(char **o, size_t *cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(*o + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return;
        }
        *cap = (*cap + (size_t)n) * 2;
        *o = realloc(*o, *cap);
    }
}

static void hexs(char **o, size_t *cap, size_t *len, const void *p, size_t n)
{
    if (!p) {
        app(o, cap, len, "null");
        return;
    }
    app(o, cap, len, "x");
    for (size_t i = 0; i < n; i++)
        app(o, cap, len, "%02x", ((const unsigned char *)p)[i]);
}

static void strs(char **o, size_t *cap, size_t *len, const char *s)
{
    hexs(o, cap, len, s, s ? strlen(s) : 0);
}

static void tss(char **o, size_t *cap, size_t *len, int64_t v)
{
    if (v >= t_start)
        app(o, cap, len, "now");
    else
        app(o, cap, len, "%lld", (long long)v);
}

static int cmp_g(const void *a, const void *b)
{
    return strcmp((*(gr_group_t *const *)a)->group_id, (*(gr_group_t *const *)b)->group_id);
}

static int cmp_o(const void *a, const void *b)
{
    const gr_offset_t *x = *(const gr_offset_t *const *)a, *y = *(const gr_offset_t *const *)b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Every group, member and offset, in the format of
 * tests/fixtures/coord-2eca498/dump_state.c (malloc'ed). */
static char *dump_state(void)
{
    size_t cap = 4096, len = 0;
    char *o = calloc(1, cap);
    int n = gr_group_count(), k = 0;
    gr_group_t **v = malloc(sizeof(*v) * (size_t)(n + 1));
    for (gr_group_t *g = gr_group_next(NULL); g; g = gr_group_next(g))
        v[k++] = g;
    qsort(v, (size_t)k, sizeof(*v), cmp_g);
    for (int i = 0; i < k; i++) {
        gr_group_t *g = v[i];
        app(&o, &cap, &len, "group ");
        strs(&o, &cap, &len, g->group_id);
        app(&o, &cap, &len, " state=%s gen=%d ptype=", gr_group_state_name(g->state), g->generation_id);
        strs(&o, &cap, &len, g->protocol_type);
        app(&o, &cap, &len, " proto=");
        strs(&o, &cap, &len, g->protocol_name);
        app(&o, &cap, &len, " leader=");
        strs(&o, &cap, &len, g->leader_id);
        app(&o, &cap, &len, " ts=");
        tss(&o, &cap, &len, g->state_timestamp_ms);
        app(&o, &cap, &len, " empty_since=");
        tss(&o, &cap, &len, g->empty_since_ms);
        app(&o, &cap, &len, " partition=%d members=%d\n", g->coord_partition, g->nmembers);
        for (gr_member_t *m = g->members; m; m = m->next) {
            app(&o, &cap, &len, "  member ");
            strs(&o, &cap, &len, m->member_id);
            app(&o, &cap, &len, " instance=");
            strs(&o, &cap, &len, m->group_instance_id);
            app(&o, &cap, &len, " client=");
            strs(&o, &cap, &len, m->client_id);
            app(&o, &cap, &len, " host=");
            strs(&o, &cap, &len, m->client_host);
            app(&o, &cap, &len, " session=%d rebalance=%d ptype=", m->session_timeout_ms, m->rebalance_timeout_ms);
            strs(&o, &cap, &len, m->protocol_type);
            for (int32_t p = 0; p < m->nprotocols; p++) {
                app(&o, &cap, &len, " protocol=");
                strs(&o, &cap, &len, m->protocols[p].name);
                app(&o, &cap, &len, ":");
                hexs(&o, &cap, &len, m->protocols[p].metadata, (size_t)m->protocols[p].metadata_len);
            }
            app(&o, &cap, &len, " assignment=");
            hexs(&o, &cap, &len, m->assignment, (size_t)m->assignment_len);
            app(&o, &cap, &len, "\n");
        }
        uint32_t no = gr_offset_map_count(g->offsets), j = 0;
        gr_offset_t **os = malloc(sizeof(*os) * (no + 1));
        gr_offset_iter_t it;
        gr_offset_iter_init(&it, g->offsets);
        for (gr_offset_t *e; (e = gr_offset_iter_next(&it));)
            os[j++] = e;
        qsort(os, j, sizeof(*os), cmp_o);
        for (uint32_t q = 0; q < j; q++) {
            app(&o, &cap, &len, "  offset ");
            strs(&o, &cap, &len, os[q]->topic);
            app(&o, &cap, &len, " %d offset=%lld epoch=%d metadata=", os[q]->partition, (long long)os[q]->offset,
                os[q]->leader_epoch);
            strs(&o, &cap, &len, os[q]->metadata);
            app(&o, &cap, &len, " commit=");
            tss(&o, &cap, &len, os[q]->commit_timestamp);
            app(&o, &cap, &len, " expire=%lld\n", (long long)os[q]->expire_timestamp);
        }
        free(os);
    }
    free(v);
    return o;
}

static int seen_members, seen_offsets;   /* what the comparisons covered */

/* Stop, load the log again into an empty registry, compare. */
static void assert_reload_equal(void)
{
    gr_coord_stop();                    /* appends what waits */
    spin();
    char *live = dump_state();
    gr_group_remove_all();
    assert_int_equal(gr_coord_start_with(&memlog_writer, &ml, ml.npart), 0);
    gr_coord_load_all();
    char *loaded = dump_state();
    for (const char *q = live; (q = strstr(q, "\n  ")); q++)
        q[3] == 'm' ? seen_members++ : seen_offsets++;
    if (strcmp(live, loaded)) {
        fprintf(stderr, "--- live\n%s--- loaded\n%s", live, loaded);
        fail_msg("the state loaded from the log differs from the live state");
    }
    free(live);
    free(loaded);
}

/* ------------------------------------------------------------ tests */

static void txn_commit(const char *gid, int64_t pid, const char *topic, int32_t part, int64_t off, res_t *r)
{
    gr_coord_commit_t c = {.topic = topic, .topic_len = strlen(topic), .partition = part, .offset = off,
                           .leader_epoch = -1, .metadata = "tx", .metadata_len = 2, .commit_timestamp = gr_now_ms(),
                           .expire_timestamp = -1, .error = KERR_NONE};
    gr_coord_txn_commit_offsets(gid, strlen(gid), pid, 0, &c, 1, on_done, r);
}

static void txn_end(const char *gid, int64_t pid, bool commit, res_t *r)
{
    gr_coord_complete_txn(gr_coord_partition_for(gid, strlen(gid)), pid, 0, 0, commit, on_done, r);
}

static int64_t offset_of(const char *gid, const char *topic, int32_t part)
{
    gr_group_t *g = G(gid);
    gr_offset_t *o = g ? gr_offset_get(g->offsets, topic, strlen(topic), part) : NULL;
    return o ? o->offset : -1;
}

static bool pending(const char *gid, const char *topic, int32_t part)
{
    return gr_coord_offset_pending(gid, strlen(gid), topic, strlen(topic), part);
}

/* TxnOffsetCommit's pending offsets (Kafka's OffsetMetadataManager):
 * invisible until the producer's COMMIT marker, dropped by its ABORT; a
 * newer commit of the key wins over an older pending one; a failed marker
 * append takes its effect back; a restart loads the same. */
static void test_txn_offsets(void **st)
{
    (void)st;
    res_t r = {0};
    commit("g1", "t", 0, 5, gr_now_ms(), -1, &r);
    txn_commit("g1", 100, "t", 0, 10, &r);
    txn_commit("g1", 100, "t", 1, 11, &r);
    spin();
    assert_int_equal(r.done, 3);
    assert_int_equal(r.err, KERR_NONE);
    assert_true(pending("g1", "t", 0) && pending("g1", "t", 1));
    assert_int_equal(offset_of("g1", "t", 0), 5);
    assert_int_equal(offset_of("g1", "t", 1), -1);
    txn_end("g1", 100, false, &r);
    spin();
    assert_int_equal(r.err, KERR_NONE);
    assert_false(pending("g1", "t", 0) || pending("g1", "t", 1));
    assert_int_equal(offset_of("g1", "t", 0), 5);
    assert_int_equal(offset_of("g1", "t", 1), -1);

    /* committed; a regular commit after the pending one wins */
    txn_commit("g1", 101, "t", 0, 20, &r);
    txn_commit("g1", 101, "t", 1, 21, &r);
    commit("g1", "t", 0, 25, gr_now_ms(), -1, &r);
    txn_end("g1", 101, true, &r);
    spin();
    assert_int_equal(r.err, KERR_NONE);
    assert_int_equal(offset_of("g1", "t", 0), 25);
    assert_int_equal(offset_of("g1", "t", 1), 21);

    /* a group made by a transactional commit */
    txn_commit("g2", 102, "t", 0, 7, &r);
    spin();
    assert_non_null(G("g2"));
    assert_int_equal(offset_of("g2", "t", 0), -1);
    txn_end("g2", 102, true, &r);
    spin();
    assert_int_equal(offset_of("g2", "t", 0), 7);

    /* two producers on one key: the newer record wins whatever commits last */
    txn_commit("g1", 103, "t", 2, 30, &r);
    txn_commit("g1", 104, "t", 2, 40, &r);
    spin();
    txn_end("g1", 104, true, &r);
    spin();
    txn_end("g1", 103, true, &r);
    spin();
    assert_int_equal(offset_of("g1", "t", 2), 40);

    /* a marker whose append fails: still pending, nothing committed */
    txn_commit("g1", 105, "t", 3, 50, &r);
    spin();
    ml.fail_next = 1;
    res_t f = {0};
    txn_end("g1", 105, true, &f);
    spin();
    assert_int_equal(f.done, 1);
    assert_int_not_equal(f.err, KERR_NONE);
    assert_true(pending("g1", "t", 3));
    assert_int_equal(offset_of("g1", "t", 3), -1);

    /* a pending offset keeps its group through a load; a tombstone of the
     * key drops it */
    assert_reload_equal();
    assert_true(pending("g1", "t", 3));
    assert_int_equal(offset_of("g1", "t", 0), 25);
    assert_int_equal(offset_of("g1", "t", 2), 40);
    txn_commit("g3", 106, "t", 0, 1, &r);
    spin();
    assert_reload_equal();
    assert_non_null(G("g3"));
    assert_true(pending("g3", "t", 0));
    txn_end("g1", 105, false, &r);
    txn_end("g3", 106, true, &r);
    spin();
    assert_false(pending("g1", "t", 3));
    assert_int_equal(offset_of("g3", "t", 0), 1);
    assert_int_equal(gr_coord_pending_offsets(), 0);
    assert_reload_equal();
    assert_int_equal(offset_of("g3", "t", 0), 1);
}

static void test_validate(void **st)
{
    (void)st;
    /* "" is a group for OffsetCommit/OffsetFetch/DescribeGroups/DeleteGroups only */
    static const gr_group_api_t empty_ok[] = {GR_GROUP_API_OFFSET_COMMIT, GR_GROUP_API_OFFSET_FETCH,
                                              GR_GROUP_API_DESCRIBE, GR_GROUP_API_DELETE};
    static const gr_group_api_t empty_bad[] = {GR_GROUP_API_OFFSET_DELETE, GR_GROUP_API_TXN_OFFSET_COMMIT,
                                               GR_GROUP_API_JOIN, GR_GROUP_API_SYNC, GR_GROUP_API_HEARTBEAT,
                                               GR_GROUP_API_LEAVE};
    for (size_t i = 0; i < GR_ARRAY_LEN(empty_ok); i++) {
        assert_int_equal(gr_coord_validate_group("", 0, empty_ok[i]), KERR_NONE);
        assert_int_equal(gr_coord_validate_group(NULL, 0, empty_ok[i]), KERR_INVALID_GROUP_ID);
    }
    for (size_t i = 0; i < GR_ARRAY_LEN(empty_bad); i++) {
        assert_int_equal(gr_coord_validate_group("", 0, empty_bad[i]), KERR_INVALID_GROUP_ID);
        assert_int_equal(gr_coord_validate_group("g", 1, empty_bad[i]), KERR_NONE);
    }
    /* loading: after the id check, per partition */
    res_t r = {0};
    commit("g", "t", 0, 1, 1000, -1, &r);
    spin();
    gr_coord_stop();
    gr_group_remove_all();
    assert_int_equal(gr_coord_start_with(&memlog_writer, &ml, ml.npart), 0);
    int32_t p = gr_coord_partition_for("g", 1);
    assert_int_equal(gr_coord_validate_group("g", 1, GR_GROUP_API_OFFSET_FETCH), KERR_COORDINATOR_LOAD_IN_PROGRESS);
    assert_int_equal(gr_coord_validate_group("", 0, GR_GROUP_API_JOIN), KERR_INVALID_GROUP_ID);
    assert_true(gr_coord_loading_any());
    gr_coord_load_all();
    assert_int_equal(gr_coord_validate_group("g", 1, GR_GROUP_API_OFFSET_FETCH), KERR_NONE);
    assert_non_null(G("g"));
    assert_int_equal(G("g")->coord_partition, p);
    /* not started */
    gr_coord_stop();
    assert_int_equal(gr_coord_validate_group("g", 1, GR_GROUP_API_HEARTBEAT), KERR_COORDINATOR_NOT_AVAILABLE);
    assert_int_equal(gr_coord_start_with(&memlog_writer, &ml, ml.npart), 0);
    gr_coord_load_all();
    /* placement: the runtime's partition count, not the config's */
    gr_broker.cfg.offsets_topic_num_partitions = 50;
    assert_int_equal(gr_coord_partition_for("g1", 2), gr_jstr_partition("g1", 2, GR_JSTR_HELD, 4));
}

/* A failed append takes back what each write applied, and its caller gets
 * the error Kafka maps a storage failure to. */
static void test_failed_append_rolls_back(void **st)
{
    (void)st;
    res_t r = {0};
    commit("a", "t", 0, 10, 1000, -1, &r);
    commit("a", "t", 1, 11, 1000, -1, &r);
    commit("b", "t", 0, 20, 1000, -1, &r);
    spin();
    assert_int_equal(r.done, 3);
    assert_int_equal(r.err, KERR_NONE);
    char *before = dump_state();

    /* a commit: applied at once, taken back, NOT_COORDINATOR */
    ml.fail_next = 100;
    res_t c = {0};
    commit("a", "t", 0, 99, 2000, -1, &c);
    commit("new-group", "t", 0, 1, 2000, -1, &c);
    assert_int_equal(gr_offset_get(G("a")->offsets, "t", 1, 0)->offset, 99);
    assert_non_null(G("new-group"));
    spin();
    assert_int_equal(c.done, 2);
    assert_int_equal(c.err, KERR_NOT_COORDINATOR);
    assert_int_equal(gr_offset_get(G("a")->offsets, "t", 1, 0)->offset, 10);
    assert_null(G("new-group"));

    /* DeleteGroups: the group is gone at once, back with its offsets */
    res_t d = {0};
    assert_int_equal(gr_coord_delete_group("a", 1, on_done, &d), KERR_NONE);
    assert_null(G("a"));
    spin();
    assert_int_equal(d.err, KERR_NOT_COORDINATOR);
    assert_non_null(G("a"));
    assert_int_equal(G("a")->state, GR_GROUP_EMPTY);
    assert_int_equal(gr_offset_map_count(G("a")->offsets), 2);

    /* OffsetDelete of every offset (the group's tombstone too) */
    gr_coord_commit_t od[2] = {{.topic = "t", .topic_len = 1, .partition = 0},
                               {.topic = "t", .topic_len = 1, .partition = 1}};
    res_t o = {0};
    gr_coord_delete_offsets(G("a"), od, 2, on_done, &o);
    assert_null(G("a"));
    spin();
    assert_int_equal(o.err, KERR_NOT_COORDINATOR);
    assert_int_equal(gr_offset_map_count(G("a")->offsets), 2);

    /* expiry */
    assert_int_equal(gr_coord_expire(INT64_MAX - 1), 3);
    assert_null(G("a"));
    assert_null(G("b"));
    spin();
    assert_non_null(G("a"));
    assert_non_null(G("b"));

    char *after = dump_state();
    assert_string_equal(before, after);
    free(before);
    free(after);
    ml.fail_next = 0;
    assert_reload_equal();

    /* and with the disk back, each of them lands */
    assert_int_equal(gr_coord_delete_group("a", 1, on_done, &d), KERR_NONE);
    spin();
    assert_int_equal(d.err, KERR_NONE);
    assert_null(G("a"));
    assert_reload_equal();
    assert_null(G("a"));
    assert_non_null(G("b"));
}

/* A storage failure during an fsync: the records are in the log, the
 * caller hears NOT_COORDINATOR, memory keeps them. */
static void test_fsync_failure(void **st)
{
    (void)st;
    ml.flush_due = true;
    ml.flush_fails = true;
    res_t r = {0};
    commit("f", "t", 0, 5, 1000, -1, &r);
    spin();
    assert_int_equal(r.err, KERR_NOT_COORDINATOR);
    assert_int_equal(gr_offset_get(G("f")->offsets, "t", 1, 0)->offset, 5);
    ml.flush_due = ml.flush_fails = false;
    assert_reload_equal();
}

/* ------------------------------------------------------------ property */

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

/* One generation more of group id with one member (new or rejoining). */
static void generation(const char *id)
{
    gr_group_t *g = G(id);
    char mid[128] = "";
    if (g && g->nmembers == 1)
        snprintf(mid, sizeof(mid), "%s", g->members->member_id);
    else if (g && g->nmembers > 1)
        return;
    static const uint8_t sub[] = {0, 0, 0, 0, 0, 1, 0, 1, 't', 0xff, 0xff, 0xff, 0xff};
    gr_join_protocol_t proto = {"range", sub, sizeof(sub)};
    gr_join_params_t p = {.group_id = id, .member_id = mid, .client_id = "cli", .client_host = "/h",
                          .session_timeout_ms = 30000, .rebalance_timeout_ms = 60000, .protocol_type = "consumer",
                          .protocols = &proto, .nprotocols = 1};
    jw_t j = {.w.done = jw_done};
    gr_group_join(&p, &j.w);
    for (int i = 0; i < 20 && !j.done; i++)
        gr_ev_run_once(gr_broker.ev, 5);
    assert_true(j.done);
    if (j.err != KERR_NONE)
        return;
    gr_sync_assignment_t as = {j.member_id, (const uint8_t *)"A", 1};
    gr_sync_params_t sp = {.group_id = id, .generation_id = j.gen, .member_id = j.member_id, .assignments = &as,
                           .nassignments = 1};
    sw_t s = {.w.done = sw_done};
    gr_group_sync(&sp, &s.w);
    spin();
    assert_true(s.done);
}

static void leave_all(const char *id)
{
    gr_group_t *g = G(id);
    if (!g || g->nmembers == 0)
        return;
    gr_leave_member_t lm = {.member_id = g->members->member_id};
    gr_group_leave(id, &lm, 1);
    spin();
}

static void test_property_reload_equals_live(void **st)
{
    (void)st;
    unsigned seed = 2024;
    const char *env = getenv("GR_TEST_SEED");
    if (env)
        seed = (unsigned)strtoul(env, NULL, 10);
    srand(seed);
    static const char *groups[] = {"g0", "g1", "g2", "g3", "g4", "g5", "grp\xc0\x80nul", "gr\xc3\xbcppe"};
    static const char *topics[] = {"orders", "audit", "t"};
    enum { ROUNDS = 25, OPS = 120 };
    int64_t day = 24 * 3600 * 1000LL;
    int64_t t0 = 1000 * day;
    int nok = 0, nfail = 0;
    ml.max_batch = 400;                 /* deletions take several batches */
    static res_t r[OPS];
    for (int round = 0; round < ROUNDS; round++) {
        memset(r, 0, sizeof(r));
        for (int i = 0; i < OPS; i++) {
            const char *g = groups[rand() % (int)GR_ARRAY_LEN(groups)];
            int kind = rand() % 20;
            ml.fail_next = rand() % 6 == 0 ? 1 + rand() % 2 : 0;
            if (kind < 9) {
                int n = 1 + rand() % 6;
                gr_coord_commit_t c[6];
                for (int k = 0; k < n; k++) {
                    const char *t = topics[rand() % 3];
                    c[k] = (gr_coord_commit_t){.topic = t, .topic_len = strlen(t), .partition = rand() % 4,
                                               .offset = rand() % 1000, .leader_epoch = rand() % 3 - 1,
                                               .metadata = rand() % 2 ? "meta" : NULL, .metadata_len = 4,
                                               .commit_timestamp = t0 + (rand() % 20) * day,
                                               .expire_timestamp = rand() % 8 == 0 ? t0 + (rand() % 20) * day : -1};
                }
                gr_coord_commit_offsets(g, strlen(g), "m", c, n, on_done, &r[i]);
            } else if (kind < 12) {
                gr_group_t *gg = G(g);
                if (!gg) {
                    r[i].done = 1;
                    continue;
                }
                int n = 1 + rand() % 4;
                gr_coord_commit_t c[4];
                for (int k = 0; k < n; k++) {
                    const char *t = topics[rand() % 3];
                    c[k] = (gr_coord_commit_t){.topic = t, .topic_len = strlen(t), .partition = rand() % 4};
                }
                gr_coord_delete_offsets(gg, c, n, on_done, &r[i]);
            } else if (kind < 14) {
                if (gr_coord_delete_group(g, strlen(g), on_done, &r[i]) != KERR_NONE)
                    r[i].done = 1;
            } else if (kind < 15) {
                gr_coord_expire(t0 + (10 + rand() % 30) * day);
                r[i].done = 1;
            } else {
                /* membership: the classic group's GroupMetadata writes are
                 * not replayed, so they happen on a disk that works */
                ml.fail_next = 0;
                spin();
                if (kind < 18)
                    generation(g);
                else
                    leave_all(g);
                r[i].done = 1;
            }
            if (rand() % 4 == 0)
                gr_ev_run_once(gr_broker.ev, 0);
        }
        ml.fail_next = 0;
        spin();
        for (int i = 0; i < OPS; i++) {
            assert_int_equal(r[i].done, 1);
            if (r[i].err == KERR_NONE)
                nok++;
            else
                nfail++;
        }
        assert_reload_equal();
    }
    assert_true(nok > ROUNDS * OPS / 2);
    assert_true(nfail > ROUNDS);
    assert_true(seen_members > ROUNDS / 2);
    assert_true(seen_offsets > ROUNDS * 10);
}

/* ------------------------------------------------------------ the fixture */

static char fixdir[256];

static void test_fixture_loads_as_before(void **st)
{
    (void)st;
    /* over the real logs of a copy of the fixture's log dir */
    gr_coord_stop();
    gr_group_remove_all();
    snprintf(fixdir, sizeof(fixdir), "/tmp/gr_coord_fixture_XXXXXX");
    assert_non_null(mkdtemp(fixdir));
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "cp -r tests/fixtures/coord-2eca498/data/. %s/", fixdir);
    assert_int_equal(system(cmd), 0);
    gr_broker.log_dirs = malloc(sizeof(char *));
    gr_broker.log_dirs[0] = fixdir;
    gr_broker.nlog_dirs = 1;
    gr_log_level = GR_LOG_ERROR;
    assert_int_equal(gr_topics_load(), 0);
    assert_int_equal(gr_coord_start(), 0);      /* 50 configured, the topic has 3 */
    gr_coord_load_all();
    char *got = dump_state();
    char *want = NULL;
    size_t wlen;
    assert_int_equal(gr_file_read_all("tests/fixtures/coord-2eca498/expected-state.txt", &want, &wlen), 0);
    if (strcmp(got, want))
        fprintf(stderr, "--- loaded now\n%s--- loaded by 2eca498\n%s", got, want);
    assert_string_equal(got, want);
    free(got);
    free(want);
    gr_coord_stop();
    gr_group_remove_all();
    gr_topics_close(NULL);
    free(gr_broker.log_dirs);
    gr_broker.log_dirs = NULL;
    gr_rm_rf(fixdir);
    assert_int_equal(gr_coord_start_with(&memlog_writer, &ml, ml.npart), 0);
    gr_coord_load_all();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_append_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_property_reload_equals_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fixture_loads_as_before, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
