/* Unit tests for txn.c, the transaction coordinator, over an in-memory
 * __transaction_state (crt_memlog.h):
 *   - TransactionLogKey/Value v0 bytes as Kafka's TransactionLog writes them;
 *   - the state machine of one transactional id through InitProducerId,
 *     AddPartitions, EndTxn (Empty -> Ongoing -> PrepareCommit ->
 *     CompleteCommit, the abort path, retries, fencing, wrong producer ids
 *     and epochs), with the records it wrote, in order;
 *   - InitProducerId during a transaction fences it: PrepareEpochFence,
 *     an abort with the bumped epoch, CONCURRENT_TRANSACTIONS until it
 *     completes, then the next epoch; KIP-360 expected pid/epoch;
 *   - epoch exhaustion rolls the producer id;
 *   - a failed append changes nothing (the transition is not applied);
 *   - timed-out transactions are aborted with an epoch bump (KIP-588);
 *   - loading: the state replays from the records, a transaction left in
 *     PrepareCommit is completed after the load, unknown key versions are
 *     skipped;
 *   - property: random operations on a few ids, with random append
 *     failures; the state then equals the state a reload builds.
 * The markers go to partitions that do not exist here: they complete as
 * Kafka's do for a deleted topic (skipped), so the Complete records follow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker.h"
#include "crt_memlog.h"
#include "producer_ids.h"
#include "txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

gr_broker_t gr_broker;

static memlog_t ml;
static char piddir[64];

static void spin(void)
{
    for (int i = 0; i < 8; i++)
        gr_ev_run_once(gr_broker.ev, 0);
}

static void start(void)
{
    assert_int_equal(gr_txn_start_with(&memlog_writer, &ml, ml.npart), 0);
    gr_txn_load_all();
    spin();
}

static int setup(void **st)
{
    (void)st;
    memset(&gr_broker, 0, sizeof(gr_broker));
    gr_config_init(&gr_broker.cfg);
    gr_log_level = GR_LOG_ERROR + 1;
    gr_broker.ev = gr_ev_new();
    snprintf(piddir, sizeof(piddir), "/tmp/gr-test-txn-XXXXXX");
    assert_non_null(mkdtemp(piddir));
    assert_int_equal(gr_pids_init(piddir, 0, 0, NULL), 0);
    memlog_init(&ml, gr_broker.ev, 3);
    start();
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    gr_txn_stop();
    spin();
    memlog_free(&ml);
    gr_pids_reset();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", piddir);
    assert_int_equal(system(cmd), 0);
    gr_ev_free(gr_broker.ev);
    gr_broker.ev = NULL;
    gr_config_free(&gr_broker.cfg);
    return 0;
}

static void restart(void)
{
    gr_txn_stop();
    spin();
    start();
}

/* ------------------------------------------------------------ calls */

typedef struct ires {
    int done;
    gr_kerr_t err;
    int64_t pid;
    int16_t epoch;
} ires_t;

static void on_init(void *arg, gr_kerr_t err, int64_t pid, int16_t epoch)
{
    ires_t *r = arg;
    r->done++;
    r->err = err;
    r->pid = pid;
    r->epoch = epoch;
}

static void on_done(void *arg, gr_kerr_t err)
{
    ires_t *r = arg;
    r->done++;
    r->err = err;
}

static ires_t init_x(const char *tid, int32_t timeout, int64_t pid, int16_t epoch)
{
    ires_t r = {0};
    gr_txn_init_producer(tid, strlen(tid), timeout, pid, epoch, on_init, &r);
    for (int i = 0; i < 100 && !r.done; i++)
        spin();
    assert_int_equal(r.done, 1);
    return r;
}

static ires_t init(const char *tid)
{
    return init_x(tid, 60000, -1, -1);
}

static gr_kerr_t add(const char *tid, int64_t pid, int16_t epoch, const char *topic, int32_t part)
{
    ires_t r = {0};
    gr_txn_tp_t tp = {topic, strlen(topic), part};
    gr_txn_add_partitions(tid, strlen(tid), pid, epoch, &tp, 1, on_done, &r);
    for (int i = 0; i < 100 && !r.done; i++)
        spin();
    assert_int_equal(r.done, 1);
    return r.err;
}

static gr_kerr_t end(const char *tid, int64_t pid, int16_t epoch, bool commit)
{
    ires_t r = {0};
    gr_txn_end(tid, strlen(tid), pid, epoch, commit, on_done, &r);
    for (int i = 0; i < 100 && !r.done; i++)
        spin();
    assert_int_equal(r.done, 1);
    spin();                      /* the markers and the Complete record */
    return r.err;
}

static gr_txn_desc_t desc(const char *tid)
{
    gr_txn_desc_t d;
    gr_txn_describe(tid, strlen(tid), &d);
    return d;
}

/* ------------------------------------------------------------ the records */

typedef struct rec {
    char tid[64];
    bool tombstone;
    int64_t pid;
    int16_t epoch;
    int32_t timeout;
    int8_t state;
    int32_t nparts;
    int64_t start;
} rec_t;

static int be16(const uint8_t *p) { return (int16_t)(p[0] << 8 | p[1]); }
static int32_t be32s(const uint8_t *p) { return (int32_t)gr_be32(p); }
static int64_t be64s(const uint8_t *p) { return (int64_t)((uint64_t)gr_be32(p) << 32 | gr_be32(p + 4)); }

/* every record of every partition, in offset order per partition */
static int records(rec_t *out, int max)
{
    int n = 0;
    for (int32_t p = 0; p < ml.npart; p++) {
        gr_buf_t *d = &ml.parts[p].data;
        for (size_t pos = 0; pos < d->len;) {
            gr_batch_info_t bi;
            assert_int_equal(gr_batch_check(d->p + pos, d->len - pos, &bi), 0);
            gr_rec_iter_t it;
            gr_rec_iter_open(&it, d->p + pos, &bi);
            gr_record_t r;
            while (gr_rec_iter_next(&it, &r) == 1) {
                assert_true(n < max);
                rec_t *o = &out[n++];
                memset(o, 0, sizeof(*o));
                assert_int_equal(be16(r.key), 0);
                int kl = be16(r.key + 2);
                assert_int_equal(r.key_len, 4 + kl);
                snprintf(o->tid, sizeof(o->tid), "%.*s", kl, (const char *)r.key + 4);
                if (!r.value) {
                    o->tombstone = true;
                    continue;
                }
                const uint8_t *v = r.value;
                assert_int_equal(be16(v), 0);
                o->pid = be64s(v + 2);
                o->epoch = (int16_t)be16(v + 10);
                o->timeout = be32s(v + 12);
                o->state = (int8_t)v[16];
                o->nparts = be32s(v + 17);          /* topics; -1 = null */
                o->start = be64s(r.value + r.value_len - 8);
            }
            gr_rec_iter_close(&it);
            pos += (size_t)bi.size;
        }
    }
    return n;
}

static void put_record(const char *tid, const gr_txn_record_t *rec)
{
    gr_wr_t kw, vw;
    gr_wr_init(&kw);
    gr_wr_init(&vw);
    gr_txn_key_encode(&kw, tid, strlen(tid));
    size_t kl, vl = 0;
    uint8_t *k = gr_wr_flatten(&kw, &kl), *v = NULL;
    if (rec) {
        gr_txn_value_encode(&vw, rec);
        v = gr_wr_flatten(&vw, &vl);
    }
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, gr_now_ms());
    gr_batch_builder_add(&b, -1, gr_now_ms(), k, (int32_t)kl, v, rec ? (int32_t)vl : -1);
    size_t len;
    uint8_t *batch = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
    int64_t base;
    gr_kerr_t kerr;
    assert_int_equal(ml_append(&ml, gr_txn_partition_for(tid, strlen(tid)), batch, len, gr_now_ms(), &base, &kerr),
                     0);
    gr_batch_builder_free(&b);
    gr_wr_free(&kw);
    gr_wr_free(&vw);
}

/* ------------------------------------------------------------ tests */

static void test_record_bytes(void **st)
{
    (void)st;
    gr_wr_t w;
    gr_wr_init(&w);
    gr_txn_key_encode(&w, "tx", 2);
    size_t n;
    uint8_t *p = gr_wr_flatten(&w, &n);
    static const uint8_t key[] = {0, 0, 0, 2, 't', 'x'};
    assert_int_equal(n, sizeof(key));
    assert_memory_equal(p, key, n);
    gr_wr_free(&w);

    /* Ongoing, partitions a-0, a-3, b-1 (grouped by topic), v0 */
    gr_txn_tp_t parts[] = {{"a", 1, 0}, {"a", 1, 3}, {"b", 1, 1}};
    parts[1].topic = parts[0].topic;
    gr_txn_record_t r = {.producer_id = 0x0102030405060708LL, .producer_epoch = 7, .timeout_ms = 60000,
                         .state = GR_TXN_ONGOING, .update_ms = 1000, .start_ms = 999, .parts = parts, .nparts = 3};
    gr_wr_init(&w);
    gr_txn_value_encode(&w, &r);
    p = gr_wr_flatten(&w, &n);
    static const uint8_t val[] = {
        0, 0,                                   /* version 0 */
        1, 2, 3, 4, 5, 6, 7, 8,                 /* ProducerId */
        0, 7,                                   /* ProducerEpoch */
        0, 0, 0xea, 0x60,                       /* TransactionTimeoutMs 60000 */
        1,                                      /* TransactionStatus Ongoing */
        0, 0, 0, 2,                             /* 2 topics */
        0, 1, 'a', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3,
        0, 1, 'b', 0, 0, 0, 1, 0, 0, 0, 1,
        0, 0, 0, 0, 0, 0, 0x03, 0xe8,           /* TransactionLastUpdateTimestampMs */
        0, 0, 0, 0, 0, 0, 0x03, 0xe7,           /* TransactionStartTimestampMs */
    };
    assert_int_equal(n, sizeof(val));
    assert_memory_equal(p, val, n);
    gr_wr_free(&w);

    /* Empty: the partitions are null (TransactionLog.valueToBytes) */
    r.state = GR_TXN_EMPTY;
    gr_wr_init(&w);
    gr_txn_value_encode(&w, &r);
    p = gr_wr_flatten(&w, &n);
    assert_int_equal(n, 2 + 8 + 2 + 4 + 1 + 4 + 8 + 8);
    assert_int_equal(be32s(p + 17), -1);
    gr_wr_free(&w);

    for (int s = 0; s <= GR_TXN_PREPARE_EPOCH_FENCE; s++) {
        const char *name = gr_txn_state_name(s);
        assert_non_null(name);
        assert_int_equal(gr_txn_state_id(name, strlen(name)), s);
    }
    assert_string_equal(gr_txn_state_name(GR_TXN_PREPARE_EPOCH_FENCE), "PrepareEpochFence");
    assert_int_equal(gr_txn_state_id("Bogus", 5), -1);
}

static void test_lifecycle(void **st)
{
    (void)st;
    ires_t r = init("t1");
    assert_int_equal(r.err, KERR_NONE);
    assert_int_equal(r.epoch, 0);
    int64_t pid = r.pid;
    gr_txn_desc_t d = desc("t1");
    assert_int_equal(d.error, KERR_NONE);
    assert_int_equal(d.state, GR_TXN_EMPTY);
    assert_int_equal(d.start_ms, -1);

    /* EndTxn in Empty, AddPartitions with another pid or epoch */
    assert_int_equal(end("t1", pid, 0, true), KERR_INVALID_TXN_STATE);
    assert_int_equal(add("t1", pid + 1, 0, "a", 0), KERR_INVALID_PRODUCER_ID_MAPPING);
    assert_int_equal(add("t1", pid, 1, "a", 0), KERR_PRODUCER_FENCED);
    assert_int_equal(add("nobody", pid, 0, "a", 0), KERR_INVALID_PRODUCER_ID_MAPPING);

    int appends = ml.appends;
    assert_int_equal(add("t1", pid, 0, "a", 0), KERR_NONE);
    assert_int_equal(add("t1", pid, 0, "b", 2), KERR_NONE);
    assert_int_equal(ml.appends, appends + 2);
    assert_int_equal(add("t1", pid, 0, "a", 0), KERR_NONE);     /* in already: no record */
    assert_int_equal(ml.appends, appends + 2);
    d = desc("t1");
    assert_int_equal(d.state, GR_TXN_ONGOING);
    assert_int_equal(d.nparts, 2);
    assert_true(d.start_ms > 0);

    assert_int_equal(end("t1", pid + 1, 0, true), KERR_INVALID_PRODUCER_ID_MAPPING);
    assert_int_equal(end("t1", pid, 1, true), KERR_PRODUCER_FENCED);
    assert_int_equal(end("t1", pid, 0, true), KERR_NONE);
    d = desc("t1");
    assert_int_equal(d.state, GR_TXN_COMPLETE_COMMIT);
    assert_int_equal(d.nparts, 0);
    /* a retried commit succeeds, an abort does not */
    assert_int_equal(end("t1", pid, 0, true), KERR_NONE);
    assert_int_equal(end("t1", pid, 0, false), KERR_INVALID_TXN_STATE);

    /* the next transaction, aborted */
    assert_int_equal(add("t1", pid, 0, "c", 1), KERR_NONE);
    assert_int_equal(end("t1", pid, 0, false), KERR_NONE);
    assert_int_equal(desc("t1").state, GR_TXN_COMPLETE_ABORT);
    assert_int_equal(end("t1", pid, 0, false), KERR_NONE);
    assert_int_equal(end("t1", pid, 0, true), KERR_INVALID_TXN_STATE);

    /* the records, in order */
    rec_t rs[32];
    int n = records(rs, 32);
    static const int8_t want[] = {GR_TXN_EMPTY,         GR_TXN_ONGOING,       GR_TXN_ONGOING,
                                  GR_TXN_PREPARE_COMMIT, GR_TXN_COMPLETE_COMMIT, GR_TXN_ONGOING,
                                  GR_TXN_PREPARE_ABORT,  GR_TXN_COMPLETE_ABORT};
    assert_int_equal(n, (int)sizeof(want));
    for (int i = 0; i < n; i++) {
        assert_string_equal(rs[i].tid, "t1");
        assert_int_equal(rs[i].state, want[i]);
        assert_int_equal(rs[i].pid, pid);
        assert_int_equal(rs[i].epoch, 0);
        assert_int_equal(rs[i].timeout, 60000);
    }
    assert_int_equal(rs[0].nparts, -1);           /* Empty: null partitions */
    assert_int_equal(rs[2].nparts, 2);            /* topics a and b */
    assert_int_equal(rs[3].nparts, 2);            /* PrepareCommit keeps them */
    assert_int_equal(rs[4].nparts, 0);            /* CompleteCommit: none */

    /* the same state after a reload */
    restart();
    d = desc("t1");
    assert_int_equal(d.state, GR_TXN_COMPLETE_ABORT);
    assert_int_equal(d.producer_id, pid);
    r = init("t1");
    assert_int_equal(r.err, KERR_NONE);
    assert_int_equal(r.pid, pid);
    assert_int_equal(r.epoch, 1);
}

static void test_fence_ongoing(void **st)
{
    (void)st;
    ires_t a = init("f");
    assert_int_equal(add("f", a.pid, a.epoch, "t", 0), KERR_NONE);
    /* a second producer: the ongoing transaction is aborted with epoch+1,
     * the caller told to retry */
    ml.flush_due = true;
    ml.flush_hold = true;                          /* the abort's records wait */
    ires_t b = {0};
    gr_txn_init_producer("f", 1, 30000, -1, -1, on_init, &b);
    spin();
    assert_int_equal(b.done, 0);
    /* meanwhile: concurrent */
    assert_int_equal(init("f").err, KERR_CONCURRENT_TRANSACTIONS);
    ml.flush_hold = false;
    memlog_flush_release(&ml);
    for (int i = 0; i < 50 && !b.done; i++)
        spin();
    assert_int_equal(b.err, KERR_CONCURRENT_TRANSACTIONS);
    for (int i = 0; i < 20; i++) {
        memlog_flush_release(&ml);
        spin();
    }
    ml.flush_due = false;
    gr_txn_desc_t d = desc("f");
    assert_int_equal(d.state, GR_TXN_COMPLETE_ABORT);
    assert_int_equal(d.producer_epoch, a.epoch + 1);
    /* the old producer is fenced */
    assert_int_equal(add("f", a.pid, a.epoch, "t", 1), KERR_PRODUCER_FENCED);
    assert_int_equal(end("f", a.pid, a.epoch, true), KERR_PRODUCER_FENCED);
    b = init_x("f", 30000, -1, -1);
    assert_int_equal(b.err, KERR_NONE);
    assert_int_equal(b.pid, a.pid);
    assert_int_equal(b.epoch, a.epoch + 2);
    assert_int_equal(desc("f").timeout_ms, 30000);

    /* KIP-360: an expected pid/epoch that is the current one bumps, a
     * retry of that bump gets the same answer, a stale one is fenced */
    ires_t c = init_x("f", 30000, b.pid, b.epoch);
    assert_int_equal(c.err, KERR_NONE);
    assert_int_equal(c.epoch, b.epoch + 1);
    ires_t again = init_x("f", 30000, b.pid, b.epoch);
    assert_int_equal(again.err, KERR_NONE);
    assert_int_equal(again.epoch, c.epoch);
    assert_int_equal(init_x("f", 30000, b.pid + 100, 0).err, KERR_PRODUCER_FENCED);
    assert_int_equal(init_x("f", 30000, b.pid, (int16_t)(b.epoch - 2)).err, KERR_PRODUCER_FENCED);
}

static void test_epoch_exhaustion(void **st)
{
    (void)st;
    ires_t a = init("ex");
    /* its record again with the last usable epoch, as if bumped that far */
    gr_txn_record_t r = {.producer_id = a.pid, .producer_epoch = INT16_MAX - 1, .timeout_ms = 60000,
                         .state = GR_TXN_COMPLETE_COMMIT, .update_ms = gr_now_ms(), .start_ms = gr_now_ms()};
    put_record("ex", &r);
    restart();
    assert_int_equal(desc("ex").producer_epoch, INT16_MAX - 1);
    ires_t b = init("ex");
    assert_int_equal(b.err, KERR_NONE);
    assert_true(b.pid != a.pid);
    assert_int_equal(b.epoch, 0);
    /* the old producer id is gone */
    assert_int_equal(add("ex", a.pid, INT16_MAX - 1, "t", 0), KERR_INVALID_PRODUCER_ID_MAPPING);
    assert_int_equal(add("ex", b.pid, 0, "t", 0), KERR_NONE);
}

static void test_failed_append(void **st)
{
    (void)st;
    ires_t a = init("fa");
    ml.fail_next = 1;
    ml.fail_err = KERR_KAFKA_STORAGE_ERROR;
    assert_int_equal(add("fa", a.pid, a.epoch, "t", 0), KERR_NOT_COORDINATOR);
    gr_txn_desc_t d = desc("fa");
    assert_int_equal(d.state, GR_TXN_EMPTY);
    assert_int_equal(d.nparts, 0);
    assert_int_equal(add("fa", a.pid, a.epoch, "t", 0), KERR_NONE);
    ml.fail_next = 1;
    ml.fail_err = KERR_NOT_ENOUGH_REPLICAS;
    assert_int_equal(end("fa", a.pid, a.epoch, true), KERR_COORDINATOR_NOT_AVAILABLE);
    assert_int_equal(desc("fa").state, GR_TXN_ONGOING);
    assert_int_equal(end("fa", a.pid, a.epoch, true), KERR_NONE);
    assert_int_equal(desc("fa").state, GR_TXN_COMPLETE_COMMIT);
    /* a new id whose first record fails stays in memory only, epoch -1
     * (Kafka's putTransactionStateIfNotExists before the append) */
    int64_t before = gr_txn_count();
    ml.fail_next = 1;
    ml.fail_err = KERR_KAFKA_STORAGE_ERROR;
    assert_int_equal(init("fb").err, KERR_NOT_COORDINATOR);
    d = desc("fb");
    assert_int_equal(d.error, KERR_NONE);
    assert_int_equal(d.state, GR_TXN_EMPTY);
    assert_int_equal(d.producer_epoch, -1);
    assert_int_equal(gr_txn_count(), before + 1);
    restart();
    assert_int_equal(desc("fa").state, GR_TXN_COMPLETE_COMMIT);
    assert_int_equal(desc("fb").error, KERR_TRANSACTIONAL_ID_NOT_FOUND);
}

static void test_timeout_abort(void **st)
{
    (void)st;
    ires_t a = init_x("to", 1, -1, -1);
    assert_int_equal(add("to", a.pid, a.epoch, "t", 0), KERR_NONE);
    ires_t b = init_x("keep", 600000, -1, -1);
    assert_int_equal(add("keep", b.pid, b.epoch, "t", 0), KERR_NONE);
    usleep(20000);
    gr_txn_abort_timed_out();
    for (int i = 0; i < 10; i++)
        spin();
    gr_txn_desc_t d = desc("to");
    assert_int_equal(d.state, GR_TXN_COMPLETE_ABORT);
    assert_int_equal(d.producer_epoch, a.epoch + 1);       /* fenced */
    assert_int_equal(end("to", a.pid, a.epoch, true), KERR_PRODUCER_FENCED);
    assert_int_equal(desc("keep").state, GR_TXN_ONGOING);
    /* the fenced producer's InitProducerId (KIP-360) gets the next epoch */
    ires_t c = init_x("to", 1000, a.pid, a.epoch);
    assert_int_equal(c.err, KERR_PRODUCER_FENCED);
    c = init_x("to", 1000, -1, -1);
    assert_int_equal(c.err, KERR_NONE);
    assert_int_equal(c.epoch, a.epoch + 2);
}

static void test_load_finishes_prepared(void **st)
{
    (void)st;
    gr_txn_tp_t parts[] = {{"t", 1, 0}, {"t", 1, 1}};
    parts[1].topic = parts[0].topic;
    gr_txn_record_t r = {.producer_id = 4242, .producer_epoch = 3, .timeout_ms = 60000,
                         .state = GR_TXN_PREPARE_COMMIT, .update_ms = gr_now_ms(), .start_ms = gr_now_ms() - 10,
                         .parts = parts, .nparts = 2};
    put_record("crashed", &r);
    r.state = GR_TXN_ONGOING;
    put_record("ongoing", &r);
    r.state = GR_TXN_EMPTY;
    put_record("gone", &r);
    put_record("gone", NULL);                               /* tombstone */
    restart();
    for (int i = 0; i < 10; i++)
        spin();
    gr_txn_desc_t d = desc("crashed");
    assert_int_equal(d.state, GR_TXN_COMPLETE_COMMIT);
    assert_int_equal(d.producer_id, 4242);
    assert_int_equal(d.producer_epoch, 3);
    assert_int_equal(desc("ongoing").state, GR_TXN_ONGOING);
    assert_int_equal(desc("ongoing").nparts, 2);
    assert_int_equal(desc("gone").error, KERR_TRANSACTIONAL_ID_NOT_FOUND);
    /* the completion was written: a second load has it */
    restart();
    assert_int_equal(desc("crashed").state, GR_TXN_COMPLETE_COMMIT);
}

/* ------------------------------------------------------------ property */

typedef struct snap {
    gr_kerr_t error;
    int state;
    int64_t pid;
    int16_t epoch;
    int32_t timeout, nparts;
} snap_t;

static void snapshot(const char *const *ids, int n, snap_t *out)
{
    for (int i = 0; i < n; i++) {
        gr_txn_desc_t d = desc(ids[i]);
        out[i] = (snap_t){d.error, d.state, d.producer_id, d.producer_epoch, d.timeout_ms, d.nparts};
        /* an id whose first record failed lives in memory only (epoch -1) */
        if (d.error == KERR_NONE && d.producer_epoch == -1)
            d.error = KERR_TRANSACTIONAL_ID_NOT_FOUND;
        if (d.error)
            out[i] = (snap_t){d.error, 0, 0, 0, 0, 0};
    }
}

static void test_random_ops_reload(void **st)
{
    (void)st;
    static const char *const ids[] = {"r0", "r1", "r2", "r3", "r4"};
    enum { N = 5 };
    int64_t pid[N];
    int16_t ep[N];
    /* an epoch fence (InitProducerId during a transaction) whose record
     * failed keeps the bumped epoch in memory only (Kafka's
     * hasFailedEpochFence), until the id's next record */
    bool fence_failed[N] = {false};
    int ends_ok = 0, fences = 0, reloads = 0;
    for (int i = 0; i < N; i++)
        pid[i] = ep[i] = -1;
    srand(12345);
    for (int step = 0; step < 1500; step++) {
        int i = rand() % N;
        bool failing = rand() % 7 == 0;
        if (failing) {
            ml.fail_next = 1;
            ml.fail_err = rand() % 2 ? KERR_KAFKA_STORAGE_ERROR : KERR_NOT_ENOUGH_REPLICAS;
        }
        switch (rand() % 4) {
        case 0: {
            bool ongoing = desc(ids[i]).state == GR_TXN_ONGOING;
            ires_t r = init_x(ids[i], 1000 + rand() % 5000, -1, -1);
            if (r.err == KERR_NONE) {
                pid[i] = r.pid;
                ep[i] = r.epoch;
                fence_failed[i] = false;
            } else if (failing && ongoing) {
                fence_failed[i] = true;
            }
            fences += ongoing && r.err == KERR_CONCURRENT_TRANSACTIONS;
            break;
        }
        case 1:
            add(ids[i], pid[i], ep[i], rand() % 2 ? "x" : "y", rand() % 3);
            break;
        default:
            if (end(ids[i], pid[i], ep[i], rand() % 2) == KERR_NONE) {
                fence_failed[i] = false;
                ends_ok++;
            }
            break;
        }
        ml.fail_next = 0;
        for (int k = 0; k < 3; k++)
            spin();
        if (step % 100 == 99) {
            snap_t a[N], b[N];
            snapshot(ids, N, a);
            reloads++;
            restart();
            for (int k = 0; k < 5; k++)
                spin();
            snapshot(ids, N, b);
            for (int k = 0; k < N; k++) {
                /* a Prepare state is completed at load; everything else is identical */
                if (a[k].state == GR_TXN_PREPARE_COMMIT)
                    a[k].state = GR_TXN_COMPLETE_COMMIT, a[k].nparts = 0;
                if (a[k].state == GR_TXN_PREPARE_ABORT)
                    a[k].state = GR_TXN_COMPLETE_ABORT, a[k].nparts = 0;
                assert_int_equal(a[k].error, b[k].error);
                assert_int_equal(a[k].state, b[k].state);
                assert_int_equal(a[k].pid, b[k].pid);
                if (fence_failed[k] && a[k].epoch == b[k].epoch + 1)
                    b[k].epoch++;
                fence_failed[k] = false;
                assert_int_equal(a[k].epoch, b[k].epoch);
                assert_int_equal(a[k].timeout, b[k].timeout);
                assert_int_equal(a[k].nparts, b[k].nparts);
            }
        }
    }
    /* the walk went through the interesting transitions */
    assert_true(ends_ok > 100);
    assert_true(fences > 20);
    assert_int_equal(reloads, 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fence_ongoing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epoch_exhaustion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_finishes_prepared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_ops_reload, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
