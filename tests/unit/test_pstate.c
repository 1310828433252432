/* Unit tests for pstate.c (the producer state machine, Kafka's
 * ProducerAppendInfo rules, the snapshot codec, expiration, the
 * broker-wide bound) and producer_ids.c (blocks of producer ids). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "producer_ids.h"
#include "pstate.h"

/* One client batch of `n` records of producer pid: validate, then apply
 * (what log.c does for an append of one batch).  Returns the error. */
static gr_serr_t append(gr_pstate_t *ps, int64_t pid, int16_t epoch, int32_t seq, int32_t n, int64_t first_offset,
                        int64_t ts)
{
    gr_pupdate_t u;
    const char *msg = NULL;
    int32_t last_seq = gr_seq_increment(seq, n - 1);
    gr_pupdate_init(&u, ps, pid, GR_PORIGIN_CLIENT);
    gr_serr_t err = gr_pupdate_data(&u, epoch, seq, last_seq, first_offset, ts, false, &msg);
    if (err != GR_SERR_NONE) {
        assert_non_null(msg);
        return err;
    }
    gr_pbatch_t b = {.last_offset = first_offset + n - 1, .timestamp = ts, .last_seq = last_seq,
                     .offset_delta = n - 1};
    gr_pstate_add_batch(ps, pid, epoch, &b);
    gr_pstate_update(ps, &u);
    return GR_SERR_NONE;
}

/* A transactional batch of pid at first_offset (coordinator origin: no
 * sequence checks), applied.  Returns the error. */
static gr_serr_t append_txn(gr_pstate_t *ps, int64_t pid, int16_t epoch, int64_t first_offset, bool transactional)
{
    gr_pupdate_t u;
    const char *msg = NULL;
    gr_pupdate_init(&u, ps, pid, GR_PORIGIN_COORDINATOR);
    gr_serr_t err = gr_pupdate_data(&u, epoch, -1, -1, first_offset, first_offset, transactional, &msg);
    if (err != GR_SERR_NONE)
        return err;
    gr_pbatch_t b = {.last_offset = first_offset, .timestamp = first_offset, .last_seq = -1, .offset_delta = 0};
    gr_pstate_add_batch(ps, pid, epoch, &b);
    gr_pstate_update(ps, &u);
    return GR_SERR_NONE;
}

/* A marker of pid at offset, applied when accepted. */
static gr_serr_t marker(gr_pstate_t *ps, int64_t pid, int16_t epoch, int32_t coord_epoch, int64_t offset, bool abort,
                        gr_completed_txn_t *done, bool *completed)
{
    gr_pupdate_t u;
    const char *msg = NULL;
    gr_pupdate_init(&u, ps, pid, GR_PORIGIN_COORDINATOR);
    gr_serr_t err = gr_pupdate_marker(&u, epoch, coord_epoch, offset, offset, abort, done, completed, &msg);
    if (err != GR_SERR_NONE) {
        assert_non_null(msg);
        return err;
    }
    gr_pstate_update(ps, &u);
    return GR_SERR_NONE;
}

static void test_sequence_arithmetic(void **state)
{
    (void)state;
    assert_int_equal(gr_seq_increment(5, 3), 8);
    assert_int_equal(gr_seq_increment(INT32_MAX, 1), 0);
    assert_int_equal(gr_seq_increment(INT32_MAX - 1, 3), 1);
    assert_int_equal(gr_seq_decrement(8, 3), 5);
    assert_int_equal(gr_seq_decrement(1, 3), INT32_MAX - 1);
    assert_int_equal(gr_seq_decrement(0, 1), INT32_MAX);
    /* whatever a snapshot file says: Java's wrapping int arithmetic */
    assert_int_equal(gr_seq_decrement(1214729159, -956301312), -2123936825);
    assert_int_equal(gr_seq_increment(INT32_MIN, -1), INT32_MAX);
}

static void test_sequences_and_epochs(void **state)
{
    (void)state;
    gr_pstate_t *ps = gr_pstate_new();
    /* a producer without state starts anywhere (KIP-360) */
    assert_int_equal(append(ps, 7, 0, 42, 2, 0, 1000), GR_SERR_NONE);
    assert_int_equal(append(ps, 7, 0, 44, 1, 2, 1001), GR_SERR_NONE);
    /* a gap, a repeat, an overlap */
    assert_int_equal(append(ps, 7, 0, 46, 1, 3, 1002), GR_SERR_SEQUENCE);
    assert_int_equal(append(ps, 7, 0, 44, 1, 3, 1002), GR_SERR_SEQUENCE);
    assert_int_equal(append(ps, 7, 0, 43, 3, 3, 1002), GR_SERR_SEQUENCE);
    /* a new epoch starts at 0; then the old one is fenced */
    assert_int_equal(append(ps, 7, 1, 45, 1, 3, 1003), GR_SERR_SEQUENCE);
    assert_int_equal(append(ps, 7, 1, 0, 1, 3, 1003), GR_SERR_NONE);
    assert_int_equal(append(ps, 7, 0, 45, 1, 4, 1004), GR_SERR_PRODUCER_EPOCH);
    assert_int_equal(append(ps, 7, 1, 1, 1, 4, 1004), GR_SERR_NONE);
    const gr_pentry_t *e = gr_pstate_get(ps, 7);
    assert_non_null(e);
    assert_int_equal(e->epoch, 1);
    assert_int_equal(e->nb, 2);                     /* the epoch bump forgot the older batches */
    assert_int_equal(e->last_timestamp, 1004);
    /* wrap at Int.MAX */
    assert_int_equal(append(ps, 8, 0, INT32_MAX - 1, 4, 10, 1), GR_SERR_NONE);
    assert_int_equal(append(ps, 8, 0, 2, 1, 14, 1), GR_SERR_NONE);
    assert_int_equal(append(ps, 9, 0, INT32_MAX, 1, 15, 1), GR_SERR_NONE);
    assert_int_equal(append(ps, 9, 0, 0, 1, 16, 1), GR_SERR_NONE);
    assert_int_equal(gr_pstate_count(ps), 3);
    gr_pstate_free(ps);
    assert_int_equal(gr_pstate_total(), 0);
}

static void test_duplicates_last_five(void **state)
{
    (void)state;
    gr_pstate_t *ps = gr_pstate_new();
    int64_t off = 100;
    int32_t seq = 0;
    for (int i = 0; i < 7; i++) {
        int n = 1 + i % 3;
        assert_int_equal(append(ps, 3, 2, seq, n, off, 5000 + i), GR_SERR_NONE);
        seq += n;
        off += n;
    }
    /* batches: (0,0) (1,2) (3,5) (6,6) (7,8) (9,11) (12,12) at offsets 100.. */
    assert_null(gr_pstate_find_duplicate(ps, 3, 2, 0, 0));
    assert_null(gr_pstate_find_duplicate(ps, 3, 2, 1, 2));
    const gr_pbatch_t *d = gr_pstate_find_duplicate(ps, 3, 2, 3, 5);
    assert_non_null(d);
    assert_int_equal(d->last_offset - d->offset_delta, 103);
    assert_int_equal(d->last_offset, 105);
    assert_int_equal(d->timestamp, 5002);
    d = gr_pstate_find_duplicate(ps, 3, 2, 12, 12);
    assert_non_null(d);
    assert_int_equal(d->last_offset, 112);
    /* a range inside a batch, another epoch, another producer: no */
    assert_null(gr_pstate_find_duplicate(ps, 3, 2, 4, 5));
    assert_null(gr_pstate_find_duplicate(ps, 3, 1, 12, 12));
    assert_null(gr_pstate_find_duplicate(ps, 4, 2, 12, 12));
    gr_pstate_free(ps);
}

/* Several batches of one producer in one append (ProducerAppendInfo keeps
 * going from the batches it has seen), and an epoch change inside it. */
static void test_update_spans_batches(void **state)
{
    (void)state;
    gr_pstate_t *ps = gr_pstate_new();
    assert_int_equal(append(ps, 1, 0, 0, 2, 0, 1), GR_SERR_NONE);
    gr_pupdate_t u;
    const char *msg;
    gr_pupdate_init(&u, ps, 1, GR_PORIGIN_CLIENT);
    assert_int_equal(gr_pupdate_data(&u, 0, 2, 2, 2, 2, false, &msg), GR_SERR_NONE);
    assert_int_equal(gr_pupdate_data(&u, 0, 3, 4, 3, 3, false, &msg), GR_SERR_NONE);
    assert_int_equal(gr_pupdate_data(&u, 0, 4, 4, 5, 4, false, &msg), GR_SERR_SEQUENCE);
    assert_int_equal(gr_pupdate_data(&u, 1, 0, 0, 5, 5, false, &msg), GR_SERR_NONE);
    assert_int_equal(gr_pupdate_data(&u, 1, 1, 1, 6, 6, false, &msg), GR_SERR_NONE);
    assert_int_equal(gr_pupdate_data(&u, 0, 2, 2, 7, 7, false, &msg), GR_SERR_PRODUCER_EPOCH);
    /* nothing applied yet */
    assert_int_equal(gr_pstate_get(ps, 1)->epoch, 0);
    gr_pbatch_t b[] = {{2, 2, 2, 0}, {4, 3, 4, 1}, {5, 5, 0, 0}, {6, 6, 1, 0}};
    int16_t ep[] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++)
        gr_pstate_add_batch(ps, 1, ep[i], &b[i]);
    gr_pstate_update(ps, &u);
    const gr_pentry_t *e = gr_pstate_get(ps, 1);
    assert_int_equal(e->epoch, 1);
    assert_int_equal(e->nb, 2);
    assert_int_equal(e->last_timestamp, 6);
    assert_non_null(gr_pstate_find_duplicate(ps, 1, 1, 0, 0));
    assert_null(gr_pstate_find_duplicate(ps, 1, 0, 3, 4));
    /* a transactional batch opens a transaction; a plain one inside it is
     * INVALID_TXN_STATE (the rules transactions build on) */
    gr_pupdate_init(&u, ps, 1, GR_PORIGIN_CLIENT);
    assert_int_equal(gr_pupdate_data(&u, 1, 2, 2, 7, 7, true, &msg), GR_SERR_NONE);
    assert_int_equal(u.txn_first_offset, 7);
    assert_int_equal(gr_pupdate_data(&u, 1, 3, 3, 8, 8, false, &msg), GR_SERR_TXN_STATE);
    gr_pstate_free(ps);
}

/* Ongoing transactions, the first unstable offset (the LSO's bound),
 * markers ending them (Kafka's appendEndTxnMarker), and their snapshot. */
static void test_transactions(void **state)
{
    (void)state;
    gr_pstate_t *ps = gr_pstate_new();
    gr_completed_txn_t done;
    bool completed;
    assert_int_equal(gr_pstate_first_unstable(ps), -1);
    assert_int_equal(append_txn(ps, 1, 0, 10, true), GR_SERR_NONE);
    assert_int_equal(gr_pstate_first_unstable(ps), 10);
    assert_int_equal(append_txn(ps, 2, 3, 15, true), GR_SERR_NONE);
    assert_int_equal(append_txn(ps, 1, 0, 16, true), GR_SERR_NONE);      /* same transaction */
    assert_int_equal(append_txn(ps, 3, 0, 17, false), GR_SERR_NONE);     /* idempotent only */
    assert_int_equal(gr_pstate_first_unstable(ps), 10);
    assert_int_equal(gr_pstate_ongoing(ps), 2);
    assert_int_equal(gr_pstate_first_unstable_other(ps, 1), 15);
    assert_int_equal(gr_pstate_first_unstable_other(ps, 2), 10);
    assert_int_equal(gr_pstate_first_unstable_other(ps, 3), 10);
    /* a non-transactional batch inside a transaction */
    assert_int_equal(append_txn(ps, 1, 0, 18, false), GR_SERR_TXN_STATE);
    /* stale producer epoch, stale coordinator epoch */
    assert_int_equal(marker(ps, 2, 2, 0, 19, false, &done, &completed), GR_SERR_PRODUCER_EPOCH);
    assert_int_equal(marker(ps, 1, 0, 5, 19, false, &done, &completed), GR_SERR_NONE);
    assert_true(completed);
    assert_int_equal(done.pid, 1);
    assert_int_equal(done.first_offset, 10);
    assert_int_equal(done.last_offset, 19);
    assert_false(done.aborted);
    assert_int_equal(gr_pstate_get(ps, 1)->coordinator_epoch, 5);
    assert_int_equal(gr_pstate_get(ps, 1)->txn_first_offset, -1);
    assert_int_equal(gr_pstate_first_unstable(ps), 15);
    assert_int_equal(marker(ps, 1, 0, 4, 20, true, &done, &completed), GR_SERR_COORDINATOR_EPOCH);
    /* a marker without data ends nothing (no index entry) */
    assert_int_equal(marker(ps, 1, 0, 5, 20, true, &done, &completed), GR_SERR_NONE);
    assert_false(completed);
    /* a new transaction after the first: at the tail */
    assert_int_equal(append_txn(ps, 1, 0, 21, true), GR_SERR_NONE);
    assert_int_equal(gr_pstate_first_unstable(ps), 15);
    /* the snapshot keeps both, in order, and the list survives a load
     * that replaces entries */
    uint8_t *buf;
    size_t len;
    gr_pstate_encode(ps, &buf, &len);
    gr_pstate_t *ps2 = gr_pstate_new();
    assert_int_equal(append_txn(ps2, 2, 3, 5, true), GR_SERR_NONE);       /* replaced by the snapshot's */
    assert_int_equal(gr_pstate_decode(ps2, buf, len, 0, 0), 3);
    free(buf);
    assert_int_equal(gr_pstate_ongoing(ps2), 2);
    assert_int_equal(gr_pstate_first_unstable(ps2), 15);
    assert_int_equal(gr_pstate_first_unstable_other(ps2, 2), 21);
    /* abort with a bumped epoch (a fenced producer's transaction): the
     * entry takes the epoch, its batches go */
    assert_int_equal(marker(ps2, 2, 4, 5, 30, true, &done, &completed), GR_SERR_NONE);
    assert_true(completed && done.aborted && done.first_offset == 15 && done.last_offset == 30);
    assert_int_equal(gr_pstate_get(ps2, 2)->epoch, 4);
    assert_int_equal(gr_pstate_get(ps2, 2)->nb, 0);
    assert_int_equal(gr_pstate_first_unstable(ps2), 21);
    /* an entry with an open transaction is never expired */
    assert_int_equal(gr_pstate_expire(ps2, INT64_MAX, 1), 2);
    assert_int_equal(gr_pstate_count(ps2), 1);
    assert_int_equal(gr_pstate_first_unstable(ps2), 21);
    /* a replayed marker is taken as the log says */
    gr_pupdate_t u;
    const char *msg = NULL;
    gr_pupdate_init(&u, ps2, 1, GR_PORIGIN_REPLAY);
    assert_int_equal(gr_pupdate_marker(&u, -5, -9, 40, 40, false, &done, &completed, &msg), GR_SERR_NONE);
    gr_pstate_update(ps2, &u);
    assert_true(completed && done.first_offset == 21);
    assert_int_equal(gr_pstate_first_unstable(ps2), -1);
    assert_int_equal(gr_pstate_ongoing(ps2), 0);
    gr_pstate_free(ps2);
    gr_pstate_free(ps);
    assert_int_equal(gr_pstate_total(), 0);
}

static void test_expiration(void **state)
{
    (void)state;
    gr_pstate_t *ps = gr_pstate_new();
    for (int64_t pid = 0; pid < 100; pid++)
        assert_int_equal(append(ps, pid, 0, 0, 1, pid, 1000 + pid), GR_SERR_NONE);
    /* expired: now - last timestamp >= expiration */
    assert_int_equal(gr_pstate_expire(ps, 1050 + 500, 500), 51);
    assert_int_equal(gr_pstate_count(ps), 49);
    for (int64_t pid = 0; pid < 100; pid++)
        assert_true((gr_pstate_get(ps, pid) != NULL) == (pid > 50));
    assert_int_equal(gr_pstate_expire(ps, INT64_MAX, 1), 49);
    assert_int_equal(gr_pstate_count(ps), 0);
    assert_int_equal(gr_pstate_total(), 0);
    gr_pstate_free(ps);
}

static void test_snapshot_codec(void **state)
{
    (void)state;
    gr_pstate_t *ps = gr_pstate_new();
    assert_int_equal(append(ps, 9, 3, 10, 4, 200, 7777), GR_SERR_NONE);
    assert_int_equal(append(ps, 2, 0, 0, 1, 204, 8888), GR_SERR_NONE);
    assert_int_equal(append(ps, 2, 0, 1, 2, 205, 9999), GR_SERR_NONE);
    uint8_t *buf;
    size_t len;
    gr_pstate_encode(ps, &buf, &len);
    assert_int_equal(len, 10 + 2 * GR_PSTATE_SNAPSHOT_ENTRY);
    /* Kafka's layout: version 1, CRC-32C of the rest, count, entries by id */
    static const uint8_t want[] = {
        0x00, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x02,
        /* pid 2, epoch 0, last seq 2, last offset 206, delta 1, ts 9999, coord -1, txn -1 */
        0, 0, 0, 0, 0, 0, 0, 2, 0x00, 0x00, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 206, 0, 0, 0, 1,
        0, 0, 0, 0, 0, 0, 0x27, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        /* pid 9, epoch 3, last seq 13, last offset 203, delta 3, ts 7777, coord -1, txn -1 */
        0, 0, 0, 0, 0, 0, 0, 9, 0x00, 0x03, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 203, 0, 0, 0, 3,
        0, 0, 0, 0, 0, 0, 0x1e, 0x61, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    };
    assert_int_equal(sizeof(want), len);
    assert_memory_equal(buf, want, 2);
    assert_memory_equal(buf + 6, want + 6, len - 6);
    assert_int_equal(gr_be32(buf + 2), gr_crc32c(0, buf + 6, len - 6));

    /* decode into a fresh state: each producer with its last batch */
    gr_pstate_t *b = gr_pstate_new();
    assert_int_equal(gr_pstate_decode(b, buf, len, 10000, -1), 2);
    const gr_pentry_t *e = gr_pstate_get(b, 2);
    assert_non_null(e);
    assert_int_equal(e->epoch, 0);
    assert_int_equal(e->nb, 1);
    assert_int_equal(e->last_timestamp, 9999);
    assert_int_equal(e->txn_first_offset, -1);
    assert_int_equal(e->coordinator_epoch, -1);
    assert_non_null(gr_pstate_find_duplicate(b, 2, 0, 1, 2));
    assert_null(gr_pstate_find_duplicate(b, 2, 0, 0, 0));      /* only the last batch is kept */
    assert_non_null(gr_pstate_find_duplicate(b, 9, 3, 10, 13));
    assert_int_equal(append(b, 9, 3, 14, 1, 300, 1), GR_SERR_NONE);
    assert_int_equal(append(b, 2, 0, 5, 1, 301, 1), GR_SERR_SEQUENCE);
    gr_pstate_free(b);

    /* expired producers are skipped (now - timestamp >= expiration) */
    b = gr_pstate_new();
    assert_int_equal(gr_pstate_decode(b, buf, len, 9999 + 2222, 3000), 1);
    assert_non_null(gr_pstate_get(b, 2));
    assert_null(gr_pstate_get(b, 9));
    gr_pstate_free(b);

    /* corrupt: CRC, version, truncated, a count beyond the data; nothing
     * is loaded */
    b = gr_pstate_new();
    uint8_t *c = malloc(len);
    for (size_t i = 0; i < len; i++) {
        memcpy(c, buf, len);
        c[i] ^= 0x10;
        assert_int_equal(gr_pstate_decode(b, c, len, 0, -1), GR_ECORRUPT);
    }
    memcpy(c, buf, len);
    assert_int_equal(gr_pstate_decode(b, c, len - 1, 0, -1), GR_ECORRUPT);
    assert_int_equal(gr_pstate_decode(b, c, 9, 0, -1), GR_ECORRUPT);
    gr_put32(c + 6, 3);
    gr_put32(c + 2, gr_crc32c(0, c + 6, len - 6));
    assert_int_equal(gr_pstate_decode(b, c, len, 0, -1), GR_ECORRUPT);
    gr_put32(c + 6, (uint32_t)-1);
    gr_put32(c + 2, gr_crc32c(0, c + 6, len - 6));
    assert_int_equal(gr_pstate_decode(b, c, len, 0, -1), GR_ECORRUPT);
    assert_int_equal(gr_pstate_count(b), 0);
    /* an empty state: 10 bytes, no entries */
    free(buf);
    gr_pstate_encode(b, &buf, &len);
    assert_int_equal(len, 10);
    assert_int_equal(gr_pstate_decode(b, buf, len, 0, -1), 0);
    /* an entry without a batch (LastOffset -1) loads without one */
    static const uint8_t nobatch[] = {
        0, 0, 0, 0, 0, 0, 0, 5, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t one[10 + sizeof(nobatch)];
    gr_put16(one, 1);
    gr_put32(one + 6, 1);
    memcpy(one + 10, nobatch, sizeof(nobatch));
    gr_put32(one + 2, gr_crc32c(0, one + 6, sizeof(one) - 6));
    assert_int_equal(gr_pstate_decode(b, one, sizeof(one), 0, -1), 1);
    e = gr_pstate_get(b, 5);
    assert_non_null(e);
    assert_int_equal(e->nb, 0);
    assert_int_equal(e->epoch, 1);
    assert_int_equal(e->coordinator_epoch, 4);
    /* no batch: a batch of the same epoch may continue anywhere? no: the
     * epoch is known, the last sequence is not (NO_SEQUENCE + 1 = 0) */
    assert_int_equal(append(b, 5, 1, 3, 1, 0, 1), GR_SERR_SEQUENCE);
    assert_int_equal(append(b, 5, 1, 0, 1, 0, 1), GR_SERR_NONE);
    free(c);
    free(buf);
    gr_pstate_free(b);
    gr_pstate_free(ps);
    assert_int_equal(gr_pstate_total(), 0);
}

static void test_broker_wide_bound(void **state)
{
    (void)state;
    gr_pstate_t *a = gr_pstate_new(), *b = gr_pstate_new();
    gr_pstate_set_max_entries(10);
    int64_t ev0 = gr_pstate_evictions();
    for (int64_t pid = 0; pid < 8; pid++)
        assert_int_equal(append(a, pid, 0, 0, 1, pid, 1), GR_SERR_NONE);
    for (int64_t pid = 100; pid < 106; pid++)
        assert_int_equal(append(b, pid, 0, 0, 1, pid, 1), GR_SERR_NONE);
    /* producer 0 appends again: it is the most recently used now */
    assert_int_equal(append(a, 0, 0, 1, 1, 50, 1), GR_SERR_NONE);
    assert_int_equal(gr_pstate_total(), 14);
    assert_int_equal(gr_pstate_enforce_limit(), 4);
    assert_int_equal(gr_pstate_total(), 10);
    assert_int_equal(gr_pstate_evictions() - ev0, 4);
    /* the four least recently appended (1..4) went, 0 stayed */
    assert_non_null(gr_pstate_get(a, 0));
    for (int64_t pid = 1; pid <= 4; pid++)
        assert_null(gr_pstate_get(a, pid));
    assert_non_null(gr_pstate_get(a, 5));
    assert_int_equal(gr_pstate_count(a) + gr_pstate_count(b), 10);
    /* an entry with an open transaction is never evicted */
    gr_pupdate_t u;
    const char *msg;
    gr_pupdate_init(&u, a, 5, GR_PORIGIN_CLIENT);
    assert_int_equal(gr_pupdate_data(&u, 0, 1, 1, 60, 1, true, &msg), GR_SERR_NONE);
    gr_pstate_update(a, &u);
    gr_pstate_set_max_entries(1);
    gr_pstate_enforce_limit();
    assert_int_equal(gr_pstate_total(), 1);
    assert_non_null(gr_pstate_get(a, 5));
    gr_pstate_set_max_entries(-1);
    gr_pstate_free(a);
    gr_pstate_free(b);
    assert_int_equal(gr_pstate_total(), 0);
}

/* Many producers: the table grows, shrinks, and finds every one. */
static void test_table(void **state)
{
    (void)state;
    gr_pstate_t *ps = gr_pstate_new();
    for (int64_t pid = 0; pid < 20000; pid++)
        assert_int_equal(append(ps, pid * 7919, 0, 0, 1, pid, pid), GR_SERR_NONE);
    assert_int_equal(gr_pstate_count(ps), 20000);
    for (int64_t pid = 0; pid < 20000; pid++)
        assert_non_null(gr_pstate_get(ps, pid * 7919));
    assert_null(gr_pstate_get(ps, 1));
    /* expire all but the last 100: the rest are still found */
    assert_int_equal(gr_pstate_expire(ps, 19900 + 10, 11), 19900);
    for (int64_t pid = 19900; pid < 20000; pid++)
        assert_non_null(gr_pstate_get(ps, pid * 7919));
    gr_pstate_free(ps);
}

/* Blocks of producer ids: recorded before use, never reused. */
static void test_producer_id_blocks(void **state)
{
    (void)state;
    char dir[] = "/tmp/gregor-test-pids-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int64_t pid, prev = -1;
    assert_int_equal(gr_pids_init(dir, 3, 0, NULL), 0);
    for (int i = 0; i < 2500; i++) {
        assert_int_equal(gr_pids_next(&pid), 0);
        assert_true(pid > prev);
        prev = pid;
    }
    assert_int_equal(prev, 2499);
    char path[512], *text;
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", dir, GR_PID_BLOCK_FILE);
    assert_int_equal(gr_file_read_all(path, &text, &len), 0);
    /* the block after the current one was recorded at 90% of it */
    assert_string_equal(text, "{\"version\":1,\"broker\":3,\"block_start\":\"2000\",\"block_end\":\"2999\"}");
    free(text);
    /* a restart continues after the recorded block (ids 2500..2999 unused) */
    assert_int_equal(gr_pids_init(dir, 3, 0, NULL), 0);
    assert_int_equal(gr_pids_next(&pid), 0);
    assert_int_equal(pid, 3000);
    /* ... and after every id found in the partitions' state */
    assert_int_equal(gr_pids_init(dir, 3, 123456, NULL), 0);
    assert_int_equal(gr_pids_next(&pid), 0);
    assert_int_equal(pid, 123456);
    /* an unreadable block file stops the broker rather than reuse ids */
    FILE *f = fopen(path, "w");
    fputs("{\"version\":1,\"broker\":3,\"block_start\":\"x", f);
    fclose(f);
    assert_int_equal(gr_pids_init(dir, 3, 0, NULL), GR_ECORRUPT);
    assert_int_equal(gr_pids_next(&pid), GR_AGAIN);
    gr_pids_reset();
    gr_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence_arithmetic),
        cmocka_unit_test(test_sequences_and_epochs),
        cmocka_unit_test(test_duplicates_last_five),
        cmocka_unit_test(test_update_spans_batches),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_expiration),
        cmocka_unit_test(test_snapshot_codec),
        cmocka_unit_test(test_broker_wide_bound),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_producer_id_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
