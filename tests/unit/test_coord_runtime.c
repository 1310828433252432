/* Unit tests for coord_runtime.c, with a toy key-value shard over an
 * in-memory log (crt_memlog.h, Kafka's InMemoryPartitionWriter):
 *   - a write is replayed at once, appended with the other writes of the
 *     loop turn in one append, and completed after it, never on the
 *     caller's stack;
 *   - a failed append rolls the applied state back and fails the waiting
 *     writes; a joint append that fails is retried write by write;
 *   - writes that are not atomic are split at max.message.bytes, and a
 *     batch that fails keeps what landed before it;
 *   - an atomic write too large fails before anything is replayed;
 *   - loading is bounded per loop turn, writes meanwhile get
 *     COORDINATOR_LOAD_IN_PROGRESS; fsync waits and failures; timers;
 *   - property: over random operation sequences with random append
 *     failures, the state the writes built equals the state a fresh load
 *     of the log builds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker.h"
#include "coord_runtime.h"
#include "crt_memlog.h"
#include "hmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gr_broker_t gr_broker;

/* ------------------------------------------------------------ the toy shard */

typedef struct kv {
    gr_hnode_t node;
    char *key;
    char *val;
} kv_t;

typedef struct kvshard {
    int32_t part;
    gr_hmap_t map;
    bool loaded;
    int replays;
} kvshard_t;

static kv_t *kv_find(kvshard_t *s, const char *k, size_t n)
{
    for (gr_hnode_t *x = gr_hmap_first(&s->map, gr_hash32(k, n)); x; x = gr_hmap_next(x)) {
        kv_t *e = GR_CONTAINER(x, kv_t, node);
        if (strlen(e->key) == n && !memcmp(e->key, k, n))
            return e;
    }
    return NULL;
}

static void kv_set(kvshard_t *s, const char *k, size_t n, const char *v)
{
    kv_t *e = kv_find(s, k, n);
    if (!v) {
        if (e) {
            gr_hmap_remove(&s->map, &e->node);
            free(e->key);
            free(e->val);
            free(e);
        }
        return;
    }
    if (!e) {
        e = calloc(1, sizeof(*e));
        e->key = strndup(k, n);
        gr_hmap_insert(&s->map, &e->node, gr_hash32(k, n));
    }
    free(e->val);
    e->val = strdup(v);
}

typedef struct kv_undo {
    char *key;
    char *old;                      /* NULL: the key was absent */
} kv_undo_t;

static void kv_undo(void *shard, void *data, bool rollback)
{
    kv_undo_t *u = data;
    if (rollback)
        kv_set(shard, u->key, strlen(u->key), u->old);
    free(u->key);
    free(u->old);
}

static void *kv_create(void *ctx, gr_crt_t *rt, int32_t part)
{
    (void)ctx;
    (void)rt;
    kvshard_t *s = calloc(1, sizeof(*s));
    s->part = part;
    gr_hmap_init(&s->map, 4);
    return s;
}

static int kv_replay(void *shard, const gr_crt_record_t *r, gr_crt_undo_t *undo)
{
    kvshard_t *s = shard;
    s->replays++;
    if (!r->key || (r->key_len >= 3 && !memcmp(r->key, "bad", 3)))
        return GR_EINVAL;
    char *v = r->value ? strndup((const char *)r->value, (size_t)r->value_len) : NULL;
    if (undo) {
        kv_undo_t *u = gr_crt_undo_push(undo, kv_undo, sizeof(*u));
        u->key = strndup((const char *)r->key, (size_t)r->key_len);
        kv_t *e = kv_find(s, (const char *)r->key, (size_t)r->key_len);
        u->old = e ? strdup(e->val) : NULL;
    }
    kv_set(s, (const char *)r->key, (size_t)r->key_len, v);
    free(v);
    return 0;
}

static void kv_loaded(void *shard)
{
    ((kvshard_t *)shard)->loaded = true;
}

static void kv_destroy(void *shard)
{
    kvshard_t *s = shard;
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &s->map);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        kv_t *e = GR_CONTAINER(n, kv_t, node);
        free(e->key);
        free(e->val);
        free(e);
    }
    gr_hmap_free(&s->map);
    free(s);
}

static int nall_loaded;

static void kv_all_loaded(void *ctx, int64_t ms)
{
    (void)ctx;
    (void)ms;
    nall_loaded++;
}

static const gr_crt_shard_ops_t kv_ops = {"kv", kv_create, kv_replay, kv_loaded, kv_destroy, kv_all_loaded, NULL};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "k=v\n" lines, sorted (caller frees). */
static char *kv_dump(kvshard_t *s)
{
    uint32_t n = gr_hmap_count(&s->map), i = 0;
    char **lines = calloc(n + 1, sizeof(*lines));
    size_t total = 1;
    for (gr_hnode_t *x = gr_hmap_after(&s->map, NULL); x; x = gr_hmap_after(&s->map, x)) {
        kv_t *e = GR_CONTAINER(x, kv_t, node);
        size_t l = strlen(e->key) + strlen(e->val) + 3;
        lines[i] = malloc(l);
        snprintf(lines[i], l, "%s=%s\n", e->key, e->val);
        total += l;
        i++;
    }
    qsort(lines, n, sizeof(*lines), cmp_str);
    char *out = calloc(1, total);
    for (i = 0; i < n; i++) {
        strcat(out, lines[i]);
        free(lines[i]);
    }
    free(lines);
    return out;
}

/* ------------------------------------------------------------ harness */

static gr_ev_t *ev;
static memlog_t ml;
static gr_crt_t *rt;

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

static gr_crt_t *start(int32_t nparts, int32_t load_bytes)
{
    gr_crt_config_t c = {.topic = "kv", .partitions = nparts, .shard = &kv_ops, .writer = &memlog_writer,
                         .writer_ctx = &ml, .ev = ev, .load_buffer_bytes = load_bytes};
    return gr_crt_new(&c);
}

static int setup(void **st)
{
    (void)st;
    gr_log_level = GR_LOG_ERROR + 1;
    ev = gr_ev_new();
    memlog_init(&ml, ev, 3);
    rt = start(3, 1 << 20);
    gr_crt_load_all(rt);
    nall_loaded = 0;
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    gr_crt_free(rt);
    rt = NULL;
    memlog_free(&ml);
    gr_ev_free(ev);
    return 0;
}

static void spin(void)
{
    for (int i = 0; i < 4; i++)
        gr_ev_run_once(ev, 0);
}

static kvshard_t *S(int32_t p)
{
    return gr_crt_shard(rt, p);
}

static const char *get(int32_t p, const char *k)
{
    kv_t *e = kv_find(S(p), k, strlen(k));
    return e ? e->val : NULL;
}

static void put(int32_t p, const char *k, const char *v, res_t *r)
{
    gr_crt_result_t res;
    gr_crt_result_init(&res, rt, p, GR_CRT_ATOMIC);
    gr_crt_result_add(&res, k, (int32_t)strlen(k), v, v ? (int32_t)strlen(v) : 0);
    gr_crt_write(rt, &res, on_done, r);
}

/* The state a fresh runtime loads from the same log equals the live one. */
static void assert_replay_equal(void)
{
    gr_crt_t *fresh = start(ml.npart, 1 << 20);
    gr_crt_load_all(fresh);
    for (int32_t p = 0; p < ml.npart; p++) {
        char *a = kv_dump(S(p)), *b = kv_dump(gr_crt_shard(fresh, p));
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    gr_crt_free(fresh);
}

/* ------------------------------------------------------------ tests */

static void test_write_replays_and_group_commits(void **st)
{
    (void)st;
    res_t r[3] = {{0}};
    put(0, "a", "1", &r[0]);
    put(0, "b", "2", &r[1]);
    put(0, "a", "3", &r[2]);
    /* replayed at once, in order; nothing appended or completed yet */
    assert_string_equal(get(0, "a"), "3");
    assert_string_equal(get(0, "b"), "2");
    assert_int_equal(ml.appends, 0);
    assert_int_equal(r[0].done + r[1].done + r[2].done, 0);
    gr_ev_run_once(ev, 0);
    /* one append for the turn, each write its own batch */
    assert_int_equal(ml.appends, 1);
    assert_int_equal(ml.parts[0].end, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].done, 1);
        assert_int_equal(r[i].err, KERR_NONE);
    }
    assert_replay_equal();
    /* a tombstone */
    res_t d = {0};
    put(0, "a", NULL, &d);
    assert_null(get(0, "a"));
    spin();
    assert_int_equal(d.err, KERR_NONE);
    assert_replay_equal();
}

static void test_failed_append_rolls_back(void **st)
{
    (void)st;
    res_t ok = {0};
    put(1, "x", "old", &ok);
    spin();
    assert_int_equal(ok.err, KERR_NONE);
    /* the disk fails: every write of the turn is taken back and fails */
    ml.fail_next = 100;
    res_t r[3] = {{0}};
    put(1, "x", "new", &r[0]);
    put(1, "y", "1", &r[1]);
    put(1, "x", NULL, &r[2]);
    assert_null(get(1, "x"));           /* applied while in doubt */
    assert_string_equal(get(1, "y"), "1");
    spin();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].done, 1);
        assert_int_equal(r[i].err, KERR_KAFKA_STORAGE_ERROR);
    }
    assert_string_equal(get(1, "x"), "old");
    assert_null(get(1, "y"));
    assert_int_equal(ml.parts[1].end, 1);
    ml.fail_next = 0;
    assert_replay_equal();
}

static void test_joint_failure_retries_each(void **st)
{
    (void)st;
    /* an append of more than one write's batches fails: each is retried
     * alone; one of them is refused alone too */
    ml.fail_above = 100;
    char big[200];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    res_t r[3] = {{0}};
    put(2, "p", "1", &r[0]);
    put(2, "q", big, &r[1]);
    put(2, "r", "3", &r[2]);
    spin();
    assert_int_equal(ml.appends, 4);    /* joint + three alone */
    assert_int_equal(r[0].err, KERR_NONE);
    assert_int_equal(r[1].err, KERR_KAFKA_STORAGE_ERROR);
    assert_int_equal(r[2].err, KERR_NONE);
    assert_string_equal(get(2, "p"), "1");
    assert_null(get(2, "q"));
    assert_string_equal(get(2, "r"), "3");
    ml.fail_above = 0;
    assert_replay_equal();
}

static void test_non_atomic_split(void **st)
{
    (void)st;
    ml.max_batch = 300;
    gr_crt_result_t res;
    gr_crt_result_init(&res, rt, 0, 0);
    char k[16];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "k%03d", i);
        gr_crt_result_add(&res, k, (int32_t)strlen(k), "value-value", 11);
    }
    res_t r = {0};
    gr_crt_write(rt, &res, on_done, &r);
    spin();
    assert_int_equal(r.err, KERR_NONE);
    assert_int_equal(ml.parts[0].end, 100);
    /* every batch within the limit, more than one of them */
    int batches = 0;
    for (size_t pos = 0; pos < ml.parts[0].data.len; batches++) {
        int32_t sz = gr_batch_size(ml.parts[0].data.p + pos);
        assert_true(sz <= 300);
        pos += (size_t)sz;
    }
    assert_true(batches > 5);
    assert_replay_equal();

    /* tombstones for all of them; the joint append fails, each batch alone
     * lands */
    gr_crt_result_init(&res, rt, 0, 0);
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "k%03d", i);
        gr_crt_result_add(&res, k, (int32_t)strlen(k), NULL, 0);
    }
    res_t r2 = {0};
    gr_crt_write(rt, &res, on_done, &r2);
    assert_int_equal(gr_hmap_count(&S(0)->map), 0);
    ml.fail_next = 1;
    int before = ml.appends;
    size_t pos0 = ml.parts[0].data.len;
    gr_ev_run_once(ev, 0);
    assert_int_equal(r2.done, 1);
    assert_int_equal(r2.err, KERR_NONE);
    int tomb_batches = 0;
    for (size_t pos = pos0; pos < ml.parts[0].data.len; tomb_batches++)
        pos += (size_t)gr_batch_size(ml.parts[0].data.p + pos);
    assert_true(tomb_batches > 1);
    assert_int_equal(ml.appends, before + 1 + tomb_batches);
    assert_int_equal(gr_hmap_count(&S(0)->map), 0);
    assert_replay_equal();
}

/* A write whose batches fail after some landed: memory keeps exactly what
 * the log holds. */
static unsigned fail_mask;              /* append call k (from 0) fails if bit k is set */
static int ncalls;

static int ml_append_masked(void *ctx, int32_t part, uint8_t *data, size_t len, int64_t now_ms, int64_t *base,
                            gr_kerr_t *kerr)
{
    int k = ncalls++;
    if (k < 32 && (fail_mask >> k) & 1) {
        ((memlog_t *)ctx)->appends++;
        *kerr = KERR_KAFKA_STORAGE_ERROR;
        return GR_EIO;
    }
    return ml_append(ctx, part, data, len, now_ms, base, kerr);
}

static void delete_all(int32_t part, res_t *r)
{
    char k[16];
    gr_crt_result_t res;
    gr_crt_result_init(&res, rt, part, 0);
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "k%03d", i);
        gr_crt_result_add(&res, k, (int32_t)strlen(k), NULL, 0);
    }
    assert_true(res.nbatches >= 3);
    gr_crt_write(rt, &res, on_done, r);
}

static void test_partial_non_atomic(void **st)
{
    (void)st;
    gr_crt_free(rt);
    gr_crt_writer_ops_t w = memlog_writer;
    w.append = ml_append_masked;
    gr_crt_config_t c = {.topic = "kv", .partitions = 3, .shard = &kv_ops, .writer = &w, .writer_ctx = &ml,
                         .ev = ev, .load_buffer_bytes = 1 << 20};
    rt = gr_crt_new(&c);
    gr_crt_load_all(rt);
    ml.max_batch = 300;
    fail_mask = 0;
    gr_crt_result_t res;
    gr_crt_result_init(&res, rt, 0, 0);
    char k[16];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "k%03d", i);
        gr_crt_result_add(&res, k, (int32_t)strlen(k), "value-value", 11);
    }
    res_t r = {0};
    gr_crt_write(rt, &res, on_done, &r);
    spin();
    assert_int_equal(r.err, KERR_NONE);

    /* the joint append fails, the first two batches land alone, the third
     * fails: the tombstones of two batches stay applied, the rest is taken
     * back and the write fails */
    res_t r2 = {0};
    delete_all(0, &r2);
    ncalls = 0;
    fail_mask = 1u | 1u << 3;
    gr_ev_run_once(ev, 0);
    assert_int_equal(r2.done, 1);
    assert_int_equal(r2.err, KERR_KAFKA_STORAGE_ERROR);
    assert_int_equal(ncalls, 4);                /* joint, two alone, the failing one */
    uint32_t left = gr_hmap_count(&S(0)->map);
    assert_true(left > 0 && left < 100);
    assert_null(get(0, "k000"));                /* first batch: deleted */
    assert_string_equal(get(0, "k099"), "value-value");
    assert_replay_equal();

    /* and the rest of the delete lands next time */
    res_t r3 = {0};
    fail_mask = 0;
    delete_all(0, &r3);
    spin();
    assert_int_equal(r3.err, KERR_NONE);
    assert_int_equal(gr_hmap_count(&S(0)->map), 0);
    assert_replay_equal();
}

static void test_atomic_too_large(void **st)
{
    (void)st;
    ml.max_batch = 200;
    char big[300];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    res_t r = {0};
    int replays = S(0)->replays;
    put(0, "k", big, &r);
    assert_int_equal(S(0)->replays, replays);   /* nothing replayed */
    assert_null(get(0, "k"));
    assert_int_equal(r.done, 0);                /* not on the caller's stack */
    spin();
    assert_int_equal(r.err, KERR_MESSAGE_TOO_LARGE);
    assert_int_equal(ml.appends, 0);
    /* above segment.bytes */
    ml.max_batch = 100000;
    ml.segment_bytes = 200;
    put(0, "k", big, &r);
    spin();
    assert_int_equal(r.err, KERR_RECORD_LIST_TOO_LARGE);
    /* a record the shard refuses: the whole write is rolled back */
    ml.segment_bytes = 100000;
    gr_crt_result_t res;
    gr_crt_result_init(&res, rt, 0, 0);
    gr_crt_result_add(&res, "good", 4, "1", 1);
    gr_crt_result_add(&res, "bad!", 4, "2", 1);
    gr_crt_write(rt, &res, on_done, &r);
    assert_null(get(0, "good"));
    spin();
    assert_int_equal(r.err, KERR_UNKNOWN_SERVER_ERROR);
    assert_int_equal(ml.appends, 0);
    /* an empty result completes with NONE */
    gr_crt_result_init(&res, rt, 0, GR_CRT_ATOMIC);
    r.done = 0;
    gr_crt_write(rt, &res, on_done, &r);
    assert_int_equal(r.done, 0);
    spin();
    assert_int_equal(r.done, 1);
    assert_int_equal(r.err, KERR_NONE);
}

static void test_loading(void **st)
{
    (void)st;
    char k[16];
    res_t r = {0};
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof(k), "key-%d", i);
        put(i % 3, k, "v", &r);
        if (i % 10 == 0)
            spin();
    }
    spin();
    gr_crt_free(rt);
    nall_loaded = 0;
    rt = start(3, 256);                         /* a few batches per read */
    for (int32_t p = 0; p < 3; p++)
        assert_int_equal(gr_crt_status(rt, p), KERR_COORDINATOR_LOAD_IN_PROGRESS);
    assert_true(gr_crt_loading_any(rt));
    assert_int_equal(gr_crt_status(rt, 3), KERR_NOT_COORDINATOR);
    res_t w = {0};
    put(0, "x", "y", &w);
    spin();
    assert_int_equal(w.err, KERR_COORDINATOR_LOAD_IN_PROGRESS);
    int turns = 0;
    while (gr_crt_loading_any(rt)) {
        gr_ev_run_once(ev, 0);
        turns++;
        assert_true(turns < 1000);
    }
    assert_true(turns > 10);                    /* bounded reads */
    assert_int_equal(nall_loaded, 1);
    for (int32_t p = 0; p < 3; p++) {
        assert_int_equal(gr_crt_status(rt, p), KERR_NONE);
        assert_true(S(p)->loaded);
    }
    assert_string_equal(get(2, "key-2"), "v");
    assert_int_equal(gr_hmap_count(&S(0)->map) + gr_hmap_count(&S(1)->map) + gr_hmap_count(&S(2)->map), 200);
}

static void test_fsync(void **st)
{
    (void)st;
    ml.flush_due = true;
    ml.flush_hold = true;
    res_t r = {0};
    put(0, "a", "1", &r);
    spin();
    assert_int_equal(ml.appends, 1);
    assert_int_equal(r.done, 0);                /* waits for the fsync */
    assert_int_equal(ml.flushes, 1);
    memlog_flush_release(&ml);
    assert_int_equal(r.done, 1);
    ml.flush_hold = false;
    assert_int_equal(r.err, KERR_NONE);
    ml.flush_fails = true;
    put(0, "a", "2", &r);
    spin();
    assert_int_equal(r.done, 2);
    assert_int_equal(r.err, KERR_KAFKA_STORAGE_ERROR);
    /* the record is in the log: memory keeps it */
    assert_string_equal(get(0, "a"), "2");
    ml.flush_fails = false;
    ml.flush_due = false;
    assert_replay_equal();
}

/* gr_crt_flush: appended now, completed later */
static void test_flush_now(void **st)
{
    (void)st;
    res_t r = {0};
    put(1, "a", "1", &r);
    gr_crt_flush(rt, 1);
    assert_int_equal(ml.appends, 1);
    assert_int_equal(r.done, 0);
    spin();
    assert_int_equal(r.done, 1);
    assert_int_equal(ml.appends, 1);
}

static int fired;
static int32_t fired_part;

static void timer_fn(void *shard, void *arg)
{
    (void)arg;
    fired++;
    fired_part = ((kvshard_t *)shard)->part;
    /* a timer may write */
    put(fired_part, "timer", "ran", arg);
}

static void test_timers(void **st)
{
    (void)st;
    gr_crt_timer_t t;
    res_t r = {0};
    gr_crt_timer_init(&t, timer_fn, &r);
    gr_crt_timer_schedule(rt, 2, &t, 0);
    spin();
    assert_int_equal(fired, 1);
    assert_int_equal(fired_part, 2);
    assert_string_equal(get(2, "timer"), "ran");
    assert_int_equal(r.err, KERR_NONE);
    gr_crt_timer_schedule(rt, 1, &t, 10000);
    gr_crt_timer_cancel(&t);
    spin();
    assert_int_equal(fired, 1);
    /* armed when the runtime stops: cancelled */
    gr_crt_timer_schedule(rt, 1, &t, 10000);
    gr_crt_free(rt);
    rt = start(3, 1 << 20);
    gr_crt_load_all(rt);
    assert_false(gr_timer_armed(&t.t));
}

/* Property: random writes (puts, tombstones, multi-record writes that are
 * and are not atomic, records the shard refuses) with random append
 * failures, in random loop turns: the live state equals a fresh load of
 * the log, and every write completed exactly once. */
static void test_property_replay_equals_live(void **st)
{
    (void)st;
    unsigned seed = 12345;
    const char *env = getenv("GR_TEST_SEED");
    if (env)
        seed = (unsigned)strtoul(env, NULL, 10);
    srand(seed);
    enum { ROUNDS = 40, OPS = 300 };
    static res_t r[OPS];
    int nok = 0, nfail = 0;
    for (int round = 0; round < ROUNDS; round++) {
        memset(r, 0, sizeof(r));
        ml.max_batch = 150 + rand() % 600;
        for (int i = 0; i < OPS; i++) {
            int32_t p = rand() % 3;
            char k[16], v[64];
            snprintf(k, sizeof(k), "k%d", rand() % 40);
            snprintf(v, sizeof(v), "v%d-%d", round, i);
            int kind = rand() % 10;
            if (kind < 4) {
                put(p, k, v, &r[i]);
            } else if (kind < 6) {
                put(p, k, NULL, &r[i]);
            } else {
                gr_crt_result_t res;
                gr_crt_result_init(&res, rt, p, kind == 9 ? GR_CRT_ATOMIC : 0);
                int n = 1 + rand() % 20;
                for (int j = 0; j < n; j++) {
                    snprintf(k, sizeof(k), "%sk%d", rand() % 50 == 0 ? "bad" : "", rand() % 40);
                    bool tomb = rand() % 3 == 0;
                    gr_crt_result_add(&res, k, (int32_t)strlen(k), tomb ? NULL : v, tomb ? 0 : (int32_t)strlen(v));
                }
                gr_crt_write(rt, &res, on_done, &r[i]);
            }
            if (rand() % 8 == 0) {
                ml.fail_next = rand() % 3 == 0 ? 1 + rand() % 3 : 0;
                ml.fail_above = rand() % 4 == 0 ? (size_t)(100 + rand() % 400) : 0;
                gr_ev_run_once(ev, 0);
            }
        }
        ml.fail_next = 0;
        ml.fail_above = 0;
        spin();
        for (int i = 0; i < OPS; i++) {
            assert_int_equal(r[i].done, 1);
            if (r[i].err == KERR_NONE)
                nok++;
            else
                nfail++;
        }
        assert_replay_equal();
    }
    /* both kinds of outcome were exercised */
    assert_true(nok > ROUNDS * OPS / 2);
    assert_true(nfail > ROUNDS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_replays_and_group_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_append_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_joint_failure_retries_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_atomic_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_non_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loading, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_now, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_property_replay_equals_live, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
