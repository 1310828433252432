/*
 * pstate.c - producer state of a partition (Kafka's ProducerStateManager
 * and friends); see pstate.h for who owns what.
 *
 * The entries of a partition are in a hash map (hmap.h) keyed by producer
 * id.  Each entry holds its last 5 batches in a ring.  All
 * entries of all partitions are also on one list, least recently appended
 * first, so that the broker-wide bound (producer.state.max.entries) forgets
 * the producers idle longest, in O(1) per entry.  Cost per producer and
 * partition: the entry (gr_pentry_t, 208 bytes with its map node, one
 * allocation) and its share of the map's buckets (8 to 16 bytes).
 *
 * The rules are Kafka's (ProducerAppendInfo): a batch of an epoch older
 * than the producer's is INVALID_PRODUCER_EPOCH; a client's batch must
 * continue the sequence of the producer's last batch in the same epoch
 * (lastSeq + 1, or 0 after Int.MAX); a new epoch starts at sequence 0; a
 * producer without state (never seen, expired, evicted, all its batches
 * deleted before a restart without snapshot) may start anywhere (KIP-360).
 * A retried batch is recognised by its exact sequence range among the last
 * 5 of the same epoch: the log answers it with the offsets it got the
 * first time and does not append it again.
 *
 * Snapshot file <offset>.snapshot (ProducerStateManager.writeSnapshot, the
 * ProducerSnapshot schema version 1), all big-endian:
 *
 *   offset  size  field
 *   ------  ----  ------------------------------------------------------
 *   0       2     Version            int16, 1
 *   2       4     Crc                uint32, CRC-32C of bytes 6..end
 *   6       4     ProducerEntries    int32 count N, then N entries:
 *
 *   entry   size  field
 *   ------  ----  ------------------------------------------------------
 *   0       8     ProducerId         int64
 *   8       2     Epoch              int16
 *   10      4     LastSequence       int32, -1 when no batch is held
 *   14      8     LastOffset         int64, last offset of the last batch, -1
 *   22      4     OffsetDelta        int32, its last offset - first offset, 0
 *   26      8     Timestamp          int64, of the producer's last append
 *   34      4     CoordinatorEpoch   int32, -1 without transactions
 *   38      8     CurrentTxnFirstOffset int64, -1 when none
 *
 * Only the last batch of a producer is in a snapshot (Kafka's format): a
 * state loaded from one knows that batch, and the batches appended after
 * the snapshot's offset once the log tail is replayed.
 */
#include "pstate.h"
#include "batch.h"

#include <stdlib.h>
#include <string.h>

struct gr_pstate {
    gr_hmap_t map;                  /* gr_pentry_t by pid */
    gr_pentry_t *txn_head, *txn_tail;   /* ongoing transactions, earliest first */
    size_t ntxn;
};

/* ------------------------------------------------------ broker-wide */

static gr_pentry_t *lru_head, *lru_tail;     /* least recently appended first */
static int64_t total, max_entries, evictions;

void gr_pstate_set_max_entries(int64_t max) { max_entries = max; }
int64_t gr_pstate_total(void) { return total; }
int64_t gr_pstate_evictions(void) { return evictions; }

static void lru_unlink(gr_pentry_t *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push(gr_pentry_t *e)
{
    e->lru_next = NULL;
    e->lru_prev = lru_tail;
    if (lru_tail)
        lru_tail->lru_next = e;
    else
        lru_head = e;
    lru_tail = e;
}

/* ------------------------------------------------- ongoing transactions */

static void txn_unlink(gr_pstate_t *ps, gr_pentry_t *e)
{
    if (e->txn_first_offset < 0)
        return;
    if (e->txn_prev)
        e->txn_prev->txn_next = e->txn_next;
    else
        ps->txn_head = e->txn_next;
    if (e->txn_next)
        e->txn_next->txn_prev = e->txn_prev;
    else
        ps->txn_tail = e->txn_prev;
    e->txn_prev = e->txn_next = NULL;
    ps->ntxn--;
}

/* Link e (txn_first_offset >= 0) in order: transactions start in offset
 * order, so this is the tail but for a snapshot's entries. */
static void txn_link(gr_pstate_t *ps, gr_pentry_t *e)
{
    gr_pentry_t *after = ps->txn_tail;
    while (after && after->txn_first_offset > e->txn_first_offset)
        after = after->txn_prev;
    e->txn_prev = after;
    e->txn_next = after ? after->txn_next : ps->txn_head;
    if (e->txn_next)
        e->txn_next->txn_prev = e;
    else
        ps->txn_tail = e;
    if (after)
        after->txn_next = e;
    else
        ps->txn_head = e;
    ps->ntxn++;
}

/* Set e's ongoing transaction (-1: none), keeping the list in order. */
static void set_txn(gr_pstate_t *ps, gr_pentry_t *e, int64_t first)
{
    if (first < 0)
        first = -1;
    if (e->txn_first_offset == first)
        return;
    txn_unlink(ps, e);
    e->txn_first_offset = first;
    if (first >= 0)
        txn_link(ps, e);
}

int64_t gr_pstate_first_unstable(const gr_pstate_t *ps)
{
    return ps && ps->txn_head ? ps->txn_head->txn_first_offset : -1;
}

int64_t gr_pstate_first_unstable_other(const gr_pstate_t *ps, int64_t pid)
{
    for (const gr_pentry_t *e = ps ? ps->txn_head : NULL; e; e = e->txn_next)
        if (e->pid != pid)
            return e->txn_first_offset;
    return -1;
}

const gr_pentry_t *gr_pstate_ongoing_first(const gr_pstate_t *ps)
{
    return ps ? ps->txn_head : NULL;
}

size_t gr_pstate_ongoing(const gr_pstate_t *ps)
{
    return ps ? ps->ntxn : 0;
}

void gr_pstate_foreach_ongoing(const gr_pstate_t *ps, void (*fn)(void *arg, const gr_pentry_t *e), void *arg)
{
    for (const gr_pentry_t *e = ps ? ps->txn_head : NULL; e; e = e->txn_next)
        fn(arg, e);
}

/* ------------------------------------------------------------ table */

static gr_pentry_t *table_find(const gr_pstate_t *ps, int64_t pid)
{
    for (gr_hnode_t *n = gr_hmap_first(&ps->map, gr_hash_int((uint64_t)pid)); n; n = gr_hmap_next(n)) {
        gr_pentry_t *e = GR_CONTAINER(n, gr_pentry_t, node);
        if (e->pid == pid)
            return e;
    }
    return NULL;
}

/* After removals: the buckets shrink, and go when no entry is left. */
static void map_settle(gr_pstate_t *ps)
{
    if (gr_hmap_count(&ps->map) == 0)
        gr_hmap_free(&ps->map);
    else
        gr_hmap_compact(&ps->map);
}

static gr_pentry_t *entry_of(gr_hnode_t *n) { return n ? GR_CONTAINER(n, gr_pentry_t, node) : NULL; }

/* Forget e, leaving the buckets as they are (safe while iterating):
 * map_settle once done. */
static void entry_free(gr_pstate_t *ps, gr_pentry_t *e)
{
    txn_unlink(ps, e);
    gr_hmap_remove_keep(&ps->map, &e->node);
    lru_unlink(e);
    total--;
    free(e);
}

gr_pstate_t *gr_pstate_new(void)
{
    gr_pstate_t *ps = gr_calloc(1, sizeof(gr_pstate_t));
    gr_hmap_init(&ps->map, 4);
    return ps;
}

void gr_pstate_clear(gr_pstate_t *ps)
{
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &ps->map);
    for (gr_pentry_t *e; (e = entry_of(gr_hmap_iter_next(&it))) != NULL;) {
        lru_unlink(e);
        total--;
        free(e);
    }
    gr_hmap_free(&ps->map);
    ps->txn_head = ps->txn_tail = NULL;
    ps->ntxn = 0;
}

void gr_pstate_free(gr_pstate_t *ps)
{
    if (ps == NULL)
        return;
    gr_pstate_clear(ps);
    free(ps);
}

size_t gr_pstate_count(const gr_pstate_t *ps) { return ps ? gr_hmap_count(&ps->map) : 0; }

const gr_pentry_t *gr_pstate_get(const gr_pstate_t *ps, int64_t pid)
{
    return ps ? table_find(ps, pid) : NULL;
}

void gr_pstate_foreach(const gr_pstate_t *ps, void (*fn)(void *arg, const gr_pentry_t *e), void *arg)
{
    for (const gr_hnode_t *n = ps ? gr_hmap_after(&ps->map, NULL) : NULL; n; n = gr_hmap_after(&ps->map, n))
        fn(arg, GR_CONTAINER(n, gr_pentry_t, node));
}

int64_t gr_pstate_enforce_limit(void)
{
    int64_t n = 0;
    gr_pentry_t *e = lru_head;
    while (max_entries > 0 && total > max_entries && e) {
        gr_pentry_t *next = e->lru_next;
        if (e->txn_first_offset < 0) {          /* an open transaction stays */
            gr_pstate_t *ps = e->owner;
            entry_free(ps, e);
            map_settle(ps);
            evictions++;
            n++;
        }
        e = next;
    }
    return n;
}

/* ---------------------------------------------------------- entries */

static const gr_pbatch_t *batch_at(const gr_pbatch_t *b, uint8_t first, uint8_t k)
{
    return &b[(first + k) % GR_PSTATE_BATCHES];
}

static void ring_add(gr_pbatch_t *b, uint8_t *first, uint8_t *nb, const gr_pbatch_t *x)
{
    if (*nb == GR_PSTATE_BATCHES) {
        b[*first] = *x;                         /* the oldest goes */
        *first = (uint8_t)((*first + 1) % GR_PSTATE_BATCHES);
    } else {
        b[(*first + *nb) % GR_PSTATE_BATCHES] = *x;
        (*nb)++;
    }
}

static int32_t entry_last_seq(const gr_pentry_t *e)
{
    return e->nb ? batch_at(e->b, e->first, (uint8_t)(e->nb - 1))->last_seq : GR_NO_SEQUENCE;
}

const gr_pbatch_t *gr_pstate_find_duplicate(const gr_pstate_t *ps, int64_t pid, int16_t epoch,
                                            int32_t first_seq, int32_t last_seq)
{
    const gr_pentry_t *e = gr_pstate_get(ps, pid);
    if (e == NULL || e->epoch != epoch)
        return NULL;
    for (uint8_t k = 0; k < e->nb; k++) {
        const gr_pbatch_t *b = batch_at(e->b, e->first, k);
        if (b->last_seq == last_seq && gr_seq_decrement(b->last_seq, b->offset_delta) == first_seq)
            return b;
    }
    return NULL;
}

/* ---------------------------------------------------------- updates */

/* Java's int arithmetic (two's complement, wrapping): the operands can
 * come from a snapshot file, where nothing bounds them. */
static int32_t jadd(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static int32_t jsub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

int32_t gr_seq_increment(int32_t seq, int32_t inc)
{
    if (seq > jsub(INT32_MAX, inc))
        return jsub(jsub(inc, jsub(INT32_MAX, seq)), 1);
    return jadd(seq, inc);
}

int32_t gr_seq_decrement(int32_t seq, int32_t dec)
{
    if (seq < dec)
        return jadd(jsub(INT32_MAX, jsub(dec, seq)), 1);
    return jsub(seq, dec);
}

static bool in_sequence(int32_t last, int32_t next)
{
    return (int64_t)next == (int64_t)last + 1 || (next == 0 && last == INT32_MAX);
}

void gr_pupdate_init(gr_pupdate_t *u, const gr_pstate_t *ps, int64_t pid, gr_porigin_t origin)
{
    const gr_pentry_t *e = gr_pstate_get(ps, pid);
    memset(u, 0, sizeof(*u));
    u->pid = pid;
    u->origin = (uint8_t)origin;
    u->cur_epoch = e ? e->epoch : GR_NO_PRODUCER_EPOCH;
    u->cur_last_seq = e ? entry_last_seq(e) : GR_NO_SEQUENCE;
    u->epoch = u->cur_epoch;
    u->last_seq = GR_NO_SEQUENCE;
    u->coordinator_epoch = e ? e->coordinator_epoch : -1;
    u->last_timestamp = e ? e->last_timestamp : -1;
    u->txn_first_offset = e ? e->txn_first_offset : -1;
}

gr_serr_t gr_pupdate_data(gr_pupdate_t *u, int16_t epoch, int32_t first_seq, int32_t last_seq,
                        int64_t first_offset, int64_t timestamp, bool transactional, const char **msg)
{
    /* checkProducerEpoch: a replay takes the log as it is */
    if (epoch < u->epoch && u->origin != GR_PORIGIN_REPLAY) {
        *msg = "Producer's epoch is smaller than the last seen epoch of its producer id";
        return GR_SERR_PRODUCER_EPOCH;
    }
    if (u->origin == GR_PORIGIN_CLIENT) {               /* checkSequence */
        if (epoch != u->epoch) {
            if (first_seq != 0 && u->epoch != GR_NO_PRODUCER_EPOCH) {
                *msg = "Invalid sequence number for a new epoch of the producer: it must start at 0";
                return GR_SERR_SEQUENCE;
            }
        } else {
            int32_t cur_last;
            if (u->nb)
                cur_last = u->last_seq;
            else if (epoch == u->cur_epoch)
                cur_last = u->cur_last_seq;
            else
                cur_last = GR_NO_SEQUENCE;
            /* a producer without state (expired, or all its batches
             * deleted) may start at any sequence */
            if (!(u->cur_epoch == GR_NO_PRODUCER_EPOCH || in_sequence(cur_last, first_seq))) {
                *msg = "Out of order sequence number for the producer";
                return GR_SERR_SEQUENCE;
            }
        }
    }
    if (u->txn_first_offset >= 0 && !transactional && u->origin != GR_PORIGIN_REPLAY) {
        *msg = "Expected a transactional write from the producer";
        return GR_SERR_TXN_STATE;
    }
    u->epoch = epoch;                                   /* addBatch */
    u->last_seq = last_seq;
    u->nb = true;
    u->last_timestamp = timestamp;
    if (transactional && u->txn_first_offset < 0)
        u->txn_first_offset = first_offset;
    return GR_SERR_NONE;
}

gr_serr_t gr_pupdate_marker(gr_pupdate_t *u, int16_t epoch, int32_t coordinator_epoch, int64_t offset,
                          int64_t timestamp, bool aborted, gr_completed_txn_t *done, bool *completed,
                          const char **msg)
{
    *completed = false;
    if (u->origin != GR_PORIGIN_REPLAY) {
        if (epoch < u->epoch) {                          /* checkProducerEpoch */
            *msg = "Producer's epoch in the transaction marker is smaller than the last seen epoch";
            return GR_SERR_PRODUCER_EPOCH;
        }
        if (u->coordinator_epoch > coordinator_epoch) {  /* checkCoordinatorEpoch */
            *msg = "Invalid coordinator epoch in the transaction marker (zombie coordinator)";
            return GR_SERR_COORDINATOR_EPOCH;
        }
    }
    if (u->txn_first_offset >= 0) {
        *done = (gr_completed_txn_t){u->pid, u->txn_first_offset, offset, aborted};
        *completed = true;
    }
    /* ProducerStateEntry.update(epoch, coordinatorEpoch, timestamp) */
    if (u->epoch != epoch)
        u->nb = false;
    u->epoch = epoch;
    u->coordinator_epoch = coordinator_epoch;
    u->last_timestamp = timestamp;
    u->txn_first_offset = -1;
    return GR_SERR_NONE;
}

static gr_pentry_t *entry_new(gr_pstate_t *ps, int64_t pid)
{
    gr_pentry_t *e = gr_calloc(1, sizeof(*e));
    e->pid = pid;
    e->epoch = GR_NO_PRODUCER_EPOCH;
    e->coordinator_epoch = -1;
    e->last_timestamp = -1;
    e->txn_first_offset = -1;
    e->owner = ps;
    gr_hmap_insert(&ps->map, &e->node, gr_hash_int((uint64_t)pid));
    lru_push(e);
    total++;
    return e;
}

/* The entry of pid, created when missing, made the most recently used. */
static gr_pentry_t *entry_touch(gr_pstate_t *ps, int64_t pid)
{
    gr_pentry_t *e = (gr_pentry_t *)gr_pstate_get(ps, pid);
    if (e == NULL)
        return entry_new(ps, pid);
    lru_unlink(e);
    lru_push(e);
    return e;
}

void gr_pstate_add_batch(gr_pstate_t *ps, int64_t pid, int16_t epoch, const gr_pbatch_t *b)
{
    gr_pentry_t *e = entry_touch(ps, pid);
    if (e->epoch != epoch) {                            /* maybeUpdateProducerEpoch */
        e->nb = e->first = 0;
        e->epoch = epoch;
    }
    ring_add(e->b, &e->first, &e->nb, b);
    e->last_timestamp = b->timestamp;
}

void gr_pstate_update(gr_pstate_t *ps, const gr_pupdate_t *u)
{
    gr_pentry_t *e = entry_touch(ps, u->pid);
    if (e->epoch != u->epoch) {
        e->nb = e->first = 0;
        e->epoch = u->epoch;
    }
    e->coordinator_epoch = u->coordinator_epoch;
    set_txn(ps, e, u->txn_first_offset);
    e->last_timestamp = u->last_timestamp;
}

size_t gr_pstate_expire(gr_pstate_t *ps, int64_t now_ms, int64_t expiration_ms)
{
    size_t n = 0;
    if (ps == NULL)
        return 0;
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &ps->map);
    for (gr_pentry_t *e; (e = entry_of(gr_hmap_iter_next(&it))) != NULL;) {
        if (e->txn_first_offset < 0 && gr_sub_sat(now_ms, e->last_timestamp) >= expiration_ms) {
            entry_free(ps, e);
            n++;
        }
    }
    if (n)
        map_settle(ps);
    return n;
}

/* -------------------------------------------------------- snapshots */

static int cmp_entry(const void *a, const void *b)
{
    int64_t x = (*(gr_pentry_t *const *)a)->pid, y = (*(gr_pentry_t *const *)b)->pid;
    return x < y ? -1 : x > y;
}

void gr_pstate_encode(const gr_pstate_t *ps, uint8_t **out, size_t *len)
{
    size_t n = gr_pstate_count(ps);
    size_t size = 10 + n * GR_PSTATE_SNAPSHOT_ENTRY;
    uint8_t *buf = gr_malloc(size);
    gr_pentry_t **v = gr_malloc((n ? n : 1) * sizeof(*v));
    size_t k = 0;
    for (const gr_hnode_t *nd = ps ? gr_hmap_after(&ps->map, NULL) : NULL; nd; nd = gr_hmap_after(&ps->map, nd))
        v[k++] = GR_CONTAINER(nd, gr_pentry_t, node);
    qsort(v, n, sizeof(*v), cmp_entry);
    gr_put16(buf, 1);
    gr_put32(buf + 6, (uint32_t)n);
    uint8_t *p = buf + 10;
    for (size_t i = 0; i < n; i++, p += GR_PSTATE_SNAPSHOT_ENTRY) {
        const gr_pentry_t *e = v[i];
        const gr_pbatch_t *last = e->nb ? batch_at(e->b, e->first, (uint8_t)(e->nb - 1)) : NULL;
        gr_put64(p, (uint64_t)e->pid);
        gr_put16(p + 8, (uint16_t)e->epoch);
        gr_put32(p + 10, (uint32_t)(last ? last->last_seq : GR_NO_SEQUENCE));
        gr_put64(p + 14, (uint64_t)(last ? last->last_offset : -1));
        gr_put32(p + 22, (uint32_t)(last ? last->offset_delta : 0));
        gr_put64(p + 26, (uint64_t)e->last_timestamp);
        gr_put32(p + 34, (uint32_t)e->coordinator_epoch);
        gr_put64(p + 38, (uint64_t)e->txn_first_offset);
    }
    gr_put32(buf + 2, gr_crc32c(0, buf + 6, size - 6));
    free(v);
    *out = buf;
    *len = size;
}

int64_t gr_pstate_decode(gr_pstate_t *ps, const uint8_t *p, size_t len, int64_t now_ms, int64_t expiration_ms)
{
    if (len < 10 || (int16_t)gr_be16(p) != 1 || gr_be32(p + 2) != gr_crc32c(0, p + 6, len - 6))
        return GR_ECORRUPT;
    int32_t n = (int32_t)gr_be32(p + 6);
    /* Kafka's reader takes what the count says and ignores the rest */
    if (n < 0 || (size_t)n > (len - 10) / GR_PSTATE_SNAPSHOT_ENTRY)
        return GR_ECORRUPT;
    int64_t loaded = 0;
    const uint8_t *q = p + 10;
    for (int32_t i = 0; i < n; i++, q += GR_PSTATE_SNAPSHOT_ENTRY) {
        int64_t pid = (int64_t)gr_be64(q);
        int64_t last_offset = (int64_t)gr_be64(q + 14);
        int64_t ts = (int64_t)gr_be64(q + 26);
        int64_t txn = (int64_t)gr_be64(q + 38);
        if (txn < 0 && expiration_ms > 0 && gr_sub_sat(now_ms, ts) >= expiration_ms)
            continue;                       /* expired (isProducerExpired) */
        gr_pentry_t *e = (gr_pentry_t *)gr_pstate_get(ps, pid);
        if (e == NULL)
            e = entry_new(ps, pid);
        e->epoch = (int16_t)gr_be16(q + 8);
        e->coordinator_epoch = (int32_t)gr_be32(q + 34);
        e->last_timestamp = ts;
        set_txn(ps, e, txn);
        e->nb = e->first = 0;
        if (last_offset >= 0) {
            e->b[0] = (gr_pbatch_t){.last_offset = last_offset, .timestamp = ts,
                                    .last_seq = (int32_t)gr_be32(q + 10),
                                    .offset_delta = (int32_t)gr_be32(q + 22)};
            e->nb = 1;
        }
        loaded++;
        gr_pstate_enforce_limit();          /* a huge snapshot never holds more */
    }
    return loaded;
}
