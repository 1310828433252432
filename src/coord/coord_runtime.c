/*
 * coord_runtime.c - the coordinator runtime (see coord_runtime.h for the
 * contract and docs/internals.md for the design).
 *
 * Per partition:
 *
 *   state      LOADING -> ACTIVE (-> gone when the runtime stops)
 *   shard      the shard's state, changed only by its replay()
 *   pend       the batches of this loop turn's writes, back to back
 *   ops        the writes they belong to, in order (done callbacks)
 *   undo       what replaying them changed, to take back if the append fails
 *   next       the offset the next record will get (log end + pending)
 *
 * Write: the result's batches are built by the operation; gr_crt_write
 * replays their records at once (so the next operation of the same turn
 * sees them), pushes the undo entries, and queues the batches.  The
 * before-sleep hook (or gr_crt_flush, or a zero-delay timer when no hook
 * runs) settles the partition: one append of everything queued.  If it
 * lands, the undo entries are released and the writes complete (after the
 * fsync when the flush policy asks).  If it fails, every write of the turn
 * is rolled back (undo, newest first), then each write's batches are
 * appended alone, in order; those that land are replayed again (their
 * state is what the log now holds), the others fail with the append's
 * error.  So a write that is refused alone (too large, ...) costs only
 * itself, and a failing disk fails them all with memory unchanged.
 *
 * Why an undo log and not Kafka's timeline snapshots: one thread owns the
 * state and only the writes of one turn per partition can be in doubt, so
 * a list of inverse operations, each a few bytes in an arena that is reset
 * once the turn settles, costs nothing on the read path and nothing while
 * no write is pending; snapshotting every map would.
 *
 * Loading: one partition at a time, one read of load_buffer_bytes per loop
 * turn, batches checked (CRC) and decompressed, each record replayed with
 * undo NULL, transaction markers (control batches) through the shard's
 * replay_marker.  Undecodable batches and records are counted, logged once
 * per partition and skipped.
 *
 * Transactions: a result may belong to a producer's transaction
 * (gr_crt_result_set_producer: transactional batches, replayed with the
 * producer id), and a marker write (gr_crt_write_marker) is one control
 * batch queued like any write, its replay the shard's replay_marker.
 */
#include "coord_runtime.h"

#include "api.h"
#include "arena.h"
#include "broker.h"
#include "fio.h"
#include "topic.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { P_LOADING, P_ACTIVE };

typedef struct undo_ent {
    gr_crt_undo_fn *fn;
    void *data;
} undo_ent_t;

/* A write waiting for its turn's append, or a completion waiting to run. */
typedef struct op {
    struct op *next;
    gr_crt_done_fn *done;
    void *arg;
    gr_kerr_t err;
    size_t pos, len;                /* its batches in the partition's pend */
    int32_t nbatches;
    int32_t nrec;
    uint32_t undo0;                 /* undo entries before it */
    bool replay;
} op_t;

typedef struct part {
    gr_crt_t *rt;
    int32_t index;
    int state;
    void *shard;
    /* loading */
    int64_t load_offset;            /* -1: not started */
    int64_t load_records, load_skipped;
    /* writes */
    gr_buf_t pend;
    op_t *head, *tail;
    bool dirty;
    int64_t next;
    undo_ent_t *undo;
    uint32_t nundo, capundo;
    gr_arena_t undo_arena;
    /* timers */
    gr_crt_timer_t *timers;
    /* max.message.bytes and segment.bytes, read once per loop turn */
    int64_t max_batch, max_segment;
    uint64_t limits_turn;           /* the turn they were read in, +1 (0: never) */
} part_t;

struct gr_crt_undo {
    part_t *p;
};

struct gr_crt {
    gr_crt_config_t cfg;
    part_t *parts;
    int32_t npart;
    int32_t load_part;              /* partition being loaded; npart when done */
    int64_t load_t0;
    gr_buf_t rbuf;                  /* read buffer */
    gr_timer_t load_timer, done_timer, settle_timer;
    op_t *done_head, *done_tail;
    int32_t *dirty;
    int32_t ndirty;
    uint64_t turn;                  /* loop turns seen by the hook */
    bool stopping;
};

/* ------------------------------------------------------------ helpers */

static const char *pname(const gr_crt_t *rt)
{
    return rt->cfg.shard->name ? rt->cfg.shard->name : "coordinator";
}

int32_t gr_crt_partitions(const gr_crt_t *rt)
{
    return rt ? rt->npart : 0;
}

gr_kerr_t gr_crt_status(const gr_crt_t *rt, int32_t part)
{
    if (!rt || rt->stopping || part < 0 || part >= rt->npart)
        return KERR_NOT_COORDINATOR;
    return rt->parts[part].state == P_ACTIVE ? KERR_NONE : KERR_COORDINATOR_LOAD_IN_PROGRESS;
}

bool gr_crt_loading_any(const gr_crt_t *rt)
{
    return rt && !rt->stopping && rt->load_part < rt->npart;
}

void *gr_crt_shard(const gr_crt_t *rt, int32_t part)
{
    if (!rt || part < 0 || part >= rt->npart)
        return NULL;
    return rt->parts[part].shard;
}

void gr_crt_limits(gr_crt_t *rt, int32_t part, int64_t *max_batch, int64_t *segment_bytes)
{
    assert(part >= 0 && part < rt->npart);
    part_t *p = &rt->parts[part];
    if (p->limits_turn != rt->turn + 1) {
        /* the topic's configs are parsed once per turn, not per write: a
         * change applies from the next loop turn */
        rt->cfg.writer->limits(rt->cfg.writer_ctx, part, &p->max_batch, &p->max_segment);
        p->limits_turn = rt->turn + 1;
    }
    *max_batch = p->max_batch;
    *segment_bytes = p->max_segment;
}

/* ------------------------------------------------------------ completions */

static void run_done(gr_crt_t *rt)
{
    while (rt->done_head) {
        op_t *op = rt->done_head;
        rt->done_head = op->next;
        if (!rt->done_head)
            rt->done_tail = NULL;
        if (op->done)
            op->done(op->arg, op->err);
        free(op);
    }
}

static void done_timer_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    run_done(arg);
}

/* Complete a chain of ops later, from the loop. */
static void complete_later(gr_crt_t *rt, op_t *chain)
{
    if (!chain)
        return;
    op_t *last = chain;
    while (last->next)
        last = last->next;
    if (rt->done_tail)
        rt->done_tail->next = chain;
    else
        rt->done_head = chain;
    rt->done_tail = last;
    if (!gr_timer_armed(&rt->done_timer))
        gr_timer_start(rt->cfg.ev, &rt->done_timer, 0);
}

static void complete_now(op_t *chain)
{
    while (chain) {
        op_t *n = chain->next;
        if (chain->done)
            chain->done(chain->arg, chain->err);
        free(chain);
        chain = n;
    }
}

/* A chain waiting for its fsync: self-contained, it may outlive the
 * runtime (a flush in flight at shutdown completes from gr_ev_drain). */
static void flushed_cb(void *arg, int rc)
{
    op_t *chain = arg;
    for (op_t *op = chain; op; op = op->next)
        if (rc < 0 && op->err == KERR_NONE)
            op->err = KERR_KAFKA_STORAGE_ERROR;
    complete_now(chain);
}

static void fail_later(gr_crt_t *rt, gr_crt_done_fn *done, void *arg, gr_kerr_t err)
{
    op_t *op = gr_calloc(1, sizeof(*op));
    op->done = done;
    op->arg = arg;
    op->err = err;
    complete_later(rt, op);
}

/* ------------------------------------------------------------ undo */

void *gr_crt_undo_push(gr_crt_undo_t *u, gr_crt_undo_fn *fn, size_t size)
{
    assert(u && fn);
    part_t *p = u->p;
    if (p->nundo == p->capundo) {
        p->capundo = p->capundo ? p->capundo * 2 : 64;
        p->undo = gr_realloc(p->undo, sizeof(*p->undo) * p->capundo);
    }
    void *data = gr_arena_calloc(&p->undo_arena, 1, size ? size : 1);
    p->undo[p->nundo++] = (undo_ent_t){fn, data};
    return data;
}

/* Take back every change since undo entry `mark`, newest first. */
static void undo_rollback(part_t *p, uint32_t mark)
{
    while (p->nundo > mark) {
        undo_ent_t *e = &p->undo[--p->nundo];
        e->fn(p->shard, e->data, true);
    }
}

/* Memory a partition keeps between turns for its undo log; a turn that
 * needed more gives it back when it settles. */
#define UNDO_KEEP_ENTRIES 256u
#define UNDO_KEEP_BYTES (16u << 10)

static void undo_trim(part_t *p)
{
    if (p->capundo > UNDO_KEEP_ENTRIES) {
        free(p->undo);
        p->undo = NULL;
        p->capundo = 0;
    }
    if (p->undo_arena.bytes > UNDO_KEEP_BYTES)
        gr_arena_free(&p->undo_arena);
    else
        gr_arena_reset(&p->undo_arena);
}

/* The turn settled: release every entry and the arena. */
static void undo_release(part_t *p)
{
    for (uint32_t i = 0; i < p->nundo; i++)
        p->undo[i].fn(p->shard, p->undo[i].data, false);
    p->nundo = 0;
    undo_trim(p);
}

/* ------------------------------------------------------------ replay */

/* A control batch at `offset`: a COMMIT or ABORT marker goes to the
 * shard's replay_marker; other control records are not the shard's. */
static int replay_control(part_t *p, const uint8_t *b, size_t size, const gr_batch_info_t *info, int64_t offset,
                          gr_crt_undo_t *undo)
{
    const gr_crt_shard_ops_t *ops = p->rt->cfg.shard;
    int16_t type;
    int32_t coord_epoch;
    int64_t ts;
    if (!ops->replay_marker || info->producer_id < 0 ||
        gr_batch_control_marker(b, size, &type, &coord_epoch, &ts) < 0 ||
        (type != GR_MARKER_ABORT && type != GR_MARKER_COMMIT))
        return 0;
    return ops->replay_marker(p->shard, info->producer_id, (int16_t)gr_be16(b + GR_BOFF_PRODUCER_EPOCH),
                              type == GR_MARKER_COMMIT, offset, undo);
}

/* Replay the records of uncompressed batches [b, b + len) starting at log
 * offset *next (advanced).  Returns 0 or the first replay error. */
static int replay_batches(part_t *p, const uint8_t *b, size_t len, int64_t *next, gr_crt_undo_t *undo)
{
    const gr_crt_shard_ops_t *ops = p->rt->cfg.shard;
    for (size_t pos = 0; pos < len;) {
        const uint8_t *batch = b + pos;
        int32_t size = gr_batch_size(batch);
        assert(size > GR_BATCH_HEADER_SIZE && (size_t)size <= len - pos);
        /* the runtime built these batches: the header is trusted */
        gr_batch_info_t info = {
            .base_offset = *next,
            .last_offset_delta = (int32_t)gr_be32(batch + GR_BOFF_LAST_DELTA),
            .first_timestamp = (int64_t)gr_be64(batch + GR_BOFF_BASE_TS),
            .max_timestamp = (int64_t)gr_be64(batch + GR_BOFF_MAX_TS),
            .record_count = (int32_t)gr_be32(batch + GR_BOFF_RECORD_COUNT),
            .attributes = (int16_t)gr_be16(batch + GR_BOFF_ATTRIBUTES),
            .producer_id = (int64_t)gr_be64(batch + GR_BOFF_PRODUCER_ID),
            .size = size,
        };
        assert((info.attributes & GR_ATTR_COMPRESSION_MASK) == GR_COMPRESSION_NONE);
        int16_t epoch = (int16_t)gr_be16(batch + GR_BOFF_PRODUCER_EPOCH);
        if (info.attributes & GR_ATTR_CONTROL) {
            int rc = replay_control(p, batch, (size_t)size, &info, *next, undo);
            *next += (int64_t)info.last_offset_delta + 1;
            if (rc < 0)
                return rc;
            pos += (size_t)size;
            continue;
        }
        gr_rec_iter_t it;
        gr_record_t rec;
        int rc, err = 0;
        gr_rec_iter_open(&it, batch, &info);
        while (err == 0 && (rc = gr_rec_iter_next(&it, &rec)) > 0) {
            gr_crt_record_t cr = {.offset = (*next)++, .producer_id = info.producer_id, .producer_epoch = epoch,
                                  .timestamp = gr_add_wrap(info.first_timestamp, rec.timestamp_delta),
                                  .key = rec.key, .key_len = rec.key_len, .value = rec.value,
                                  .value_len = rec.value_len};
            err = ops->replay(p->shard, &cr, undo);
        }
        gr_rec_iter_close(&it);
        if (err < 0)
            return err;
        assert(rc == 0);                /* the runtime built these batches */
        pos += (size_t)size;
    }
    return 0;
}

/* Replay a result's records (their bytes in r->done) from log offset
 * `first`.  Returns 0 or the first replay error. */
static int replay_result(part_t *p, const gr_crt_result_t *r, int64_t first, gr_crt_undo_t *undo)
{
    const gr_crt_shard_ops_t *ops = p->rt->cfg.shard;
    for (int32_t i = 0; i < r->nrec; i++) {
        const gr_crt_recpos_t *x = &r->pos[i];
        gr_crt_record_t cr = {.offset = first + i, .producer_id = r->producer_id, .producer_epoch = r->producer_epoch,
                              .timestamp = r->now_ms,
                              .key = x->key_len >= 0 ? r->done.p + x->key_at : NULL, .key_len = x->key_len,
                              .value = x->value_len >= 0 ? r->done.p + x->value_at : NULL,
                              .value_len = x->value_len};
        int rc = ops->replay(p->shard, &cr, undo);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ results */

/* Bytes of a zig-zag varint. */
static size_t varint_size(int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

/* A record as gr_batch_builder_add lays it out (timestamp delta 0, no
 * headers):
 *   varint length | attributes | tsDelta | offsetDelta | varint klen | key |
 *   varint vlen | value | varint headerCount (0)
 * Returns its size; *key_at / *value_at: where key and value start in it. */
static size_t record_layout(int32_t offset_delta, int64_t klen, int64_t vlen, size_t *key_at, size_t *value_at)
{
    size_t head = 1 + 1 + varint_size(offset_delta) + varint_size(klen);
    size_t body = head + (size_t)GR_MAX(klen, 0) + varint_size(vlen) + (size_t)GR_MAX(vlen, 0) + 1;
    size_t lenlen = varint_size((int64_t)body);
    *key_at = lenlen + head;
    *value_at = *key_at + (size_t)GR_MAX(klen, 0) + varint_size(vlen);
    return lenlen + body;
}

static size_t record_size(int32_t offset_delta, int64_t klen, int64_t vlen)
{
    size_t k, v;
    return record_layout(offset_delta, klen, vlen, &k, &v);
}

size_t gr_crt_batch_size1(size_t key_len, size_t value_len)
{
    return GR_BATCH_HEADER_SIZE + record_size(0, (int64_t)key_len, (int64_t)value_len);
}

void gr_crt_result_set_producer(gr_crt_result_t *r, int64_t producer_id, int16_t producer_epoch)
{
    assert(r->nrec == 0);
    r->producer_id = producer_id;
    r->producer_epoch = producer_epoch;
}

void gr_crt_result_init(gr_crt_result_t *r, gr_crt_t *rt, int32_t part, unsigned flags)
{
    memset(r, 0, sizeof(*r));
    r->part = part;
    r->flags = flags;
    r->producer_id = -1;
    r->producer_epoch = -1;
    r->now_ms = gr_now_ms();
    r->max_batch = INT32_MAX;
    r->pos = r->pos_inline;
    r->pos_cap = (int32_t)GR_ARRAY_LEN(r->pos_inline);
    if (rt && part >= 0 && part < rt->npart && !(flags & GR_CRT_ATOMIC)) {
        int64_t mb, sb;
        gr_crt_limits(rt, part, &mb, &sb);
        r->max_batch = GR_MAX(GR_MIN(mb, sb), GR_BATCH_HEADER_SIZE + 1);
    }
    gr_batch_builder_init(&r->b, 0, r->now_ms);
}

/* Close the batch being built; more: records may follow. */
static void result_finish_batch(gr_crt_result_t *r, bool more)
{
    if (r->b.count == 0)
        return;
    size_t len;
    uint8_t *data = gr_batch_builder_finish(&r->b, r->producer_id >= 0 ? GR_ATTR_TRANSACTIONAL : 0, r->producer_id,
                                            r->producer_epoch, -1, &len);
    if (r->done.len == 0) {
        /* the first batch: take the builder's buffer as it is */
        free(r->done.p);
        r->done = (gr_buf_t){data, len, r->b.cap};
        r->b.buf = NULL;
    } else {
        gr_buf_reserve(&r->done, r->done.len + len);
        memcpy(r->done.p + r->done.len, data, len);
        r->done.len += len;
    }
    r->nbatches++;
    gr_batch_builder_free(&r->b);
    if (more)
        gr_batch_builder_init(&r->b, 0, r->now_ms);
}

void gr_crt_result_add(gr_crt_result_t *r, const void *key, int32_t key_len, const void *value, int32_t value_len)
{
    int64_t kl = key ? key_len : -1, vl = value ? value_len : -1;
    if (!(r->flags & GR_CRT_ATOMIC)) {
        size_t rs = record_size(r->b.count, kl, vl);
        if (r->b.count > 0 && r->b.len + rs > (size_t)r->max_batch) {
            result_finish_batch(r, true);
            rs = record_size(0, kl, vl);
        }
        if (GR_BATCH_HEADER_SIZE + rs > (size_t)r->max_batch && r->refused == KERR_NONE)
            r->refused = KERR_MESSAGE_TOO_LARGE;   /* fits no batch */
    }
    /* where the builder puts key and value: this batch starts at done.len
     * once finished (the first one at 0) */
    size_t key_at, value_at, at = r->done.len + r->b.len;
    size_t size = record_layout(r->b.count, kl, vl, &key_at, &value_at);
    size_t before = r->b.len;
    gr_batch_builder_add(&r->b, -1, r->now_ms, key, key_len, value, value_len);
    assert(r->b.len - before == size);     /* the builder laid it out as record_layout says */
    GR_UNUSED(before);
    GR_UNUSED(size);
    if (r->nrec == r->pos_cap) {
        int32_t cap = r->pos_cap * 2;
        gr_crt_recpos_t *n = gr_malloc(sizeof(*n) * (size_t)cap);
        memcpy(n, r->pos, sizeof(*n) * (size_t)r->nrec);
        if (r->pos != r->pos_inline)
            free(r->pos);
        r->pos = n;
        r->pos_cap = cap;
    }
    assert(at + value_at <= UINT32_MAX);
    r->pos[r->nrec++] = (gr_crt_recpos_t){(uint32_t)(at + key_at), (uint32_t)(at + value_at), (int32_t)kl,
                                          (int32_t)vl};
}

void gr_crt_result_reserve(gr_crt_result_t *r, size_t bytes)
{
    size_t want = GR_BATCH_HEADER_SIZE + bytes;
    if (r->b.count == 0 && want > r->b.cap && want <= (size_t)GR_MIN(r->max_batch, 1 << 20)) {
        r->b.buf = gr_realloc(r->b.buf, want);
        r->b.cap = want;
    }
}

void gr_crt_result_refuse(gr_crt_result_t *r, gr_kerr_t err)
{
    assert(err != KERR_NONE);
    r->refused = err;
}

void gr_crt_result_free(gr_crt_result_t *r)
{
    gr_batch_builder_free(&r->b);
    gr_buf_free(&r->done);
    if (r->pos != r->pos_inline)
        free(r->pos);
    r->pos = NULL;
    r->nrec = 0;
}

/* ------------------------------------------------------------ settling */

static void settle(gr_crt_t *rt, part_t *p, bool direct);

static void settle_all(gr_crt_t *rt, bool direct)
{
    if (gr_timer_armed(&rt->settle_timer))
        gr_timer_stop(rt->cfg.ev, &rt->settle_timer);
    while (rt->ndirty > 0) {
        part_t *p = &rt->parts[rt->dirty[--rt->ndirty]];
        p->dirty = false;
        settle(rt, p, direct);
    }
}

static void hook_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    gr_crt_t *rt = arg;
    if (rt->ndirty > 0)
        settle_all(rt, true);
    rt->turn++;
}

static void settle_timer_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    settle_all(arg, true);
}

static int append(gr_crt_t *rt, part_t *p, uint8_t *data, size_t len, gr_kerr_t *kerr)
{
    int64_t base = -1;
    *kerr = KERR_NONE;
    int rc = rt->cfg.writer->append(rt->cfg.writer_ctx, p->index, data, len, gr_now_ms(), &base, kerr);
    if (rc < 0 && *kerr == KERR_NONE)
        *kerr = KERR_UNKNOWN_SERVER_ERROR;
    return rc;
}

/* Append everything p has queued; see the top of the file. */
static void settle(gr_crt_t *rt, part_t *p, bool direct)
{
    op_t *chain = p->head;
    if (!chain)
        return;
    p->head = p->tail = NULL;
    gr_kerr_t kerr;
    int64_t end0 = rt->cfg.writer->end_offset(rt->cfg.writer_ctx, p->index);
    bool landed = false;
    if (append(rt, p, p->pend.p, p->pend.len, &kerr) == 0) {
        undo_release(p);
        landed = true;
    } else {
        gr_warn(pname(rt), "Append of %zu bytes to %s-%d failed: %s", p->pend.len, rt->cfg.topic, p->index,
                gr_kerr_name(kerr));
        undo_rollback(p, 0);
        undo_trim(p);
        int64_t next = end0;
        for (op_t *op = chain; op; op = op->next) {
            if (!chain->next && op->nbatches <= 1) {
                op->err = kerr;             /* alone: that was its own append */
                continue;
            }
            /* batch by batch: a write that is not atomic keeps what landed */
            for (size_t pos = op->pos; pos < op->pos + op->len;) {
                size_t size = (size_t)gr_batch_size(p->pend.p + pos);
                gr_kerr_t e;
                if (append(rt, p, p->pend.p + pos, size, &e) < 0) {
                    op->err = e;
                    break;
                }
                landed = true;
                if (op->replay) {
                    if (replay_batches(p, p->pend.p + pos, size, &next, NULL) < 0)
                        gr_warn(pname(rt), "A record appended to %s-%d could not be replayed", rt->cfg.topic,
                                p->index);
                }
                pos += size;
            }
            if (op->err != KERR_NONE)
                gr_warn(pname(rt), "Write of %d records to %s-%d failed: %s", op->nrec, rt->cfg.topic, p->index,
                        gr_kerr_name(op->err));
        }
    }
    p->pend.len = 0;
    p->next = rt->cfg.writer->end_offset(rt->cfg.writer_ctx, p->index);
    if (landed && rt->cfg.writer->flush_due(rt->cfg.writer_ctx, p->index))
        rt->cfg.writer->flush(rt->cfg.writer_ctx, p->index, flushed_cb, chain);
    else if (direct)
        complete_now(chain);
    else
        complete_later(rt, chain);
}

void gr_crt_flush(gr_crt_t *rt, int32_t part)
{
    if (!rt || part < 0 || part >= rt->npart)
        return;
    settle(rt, &rt->parts[part], false);
}

/* ------------------------------------------------------------ writes */

/* A write of nbatches batches, nrec records on p, not queued yet. */
static op_t *op_new(part_t *p, gr_crt_done_fn *done, void *arg, int32_t nbatches, int32_t nrec, bool replay)
{
    op_t *op = gr_calloc(1, sizeof(*op));
    op->done = done;
    op->arg = arg;
    op->nbatches = nbatches;
    op->nrec = nrec;
    op->undo0 = p->nundo;
    op->replay = replay;
    return op;
}

/* Queue op (its records replayed) with its batches, for the before-sleep
 * hook to append; the bytes are copied. */
static void op_enqueue(gr_crt_t *rt, part_t *p, op_t *op, const uint8_t *batches, size_t len)
{
    p->next += op->nrec;
    gr_buf_reserve(&p->pend, p->pend.len + len);
    memcpy(p->pend.p + p->pend.len, batches, len);
    op->pos = p->pend.len;
    op->len = len;
    p->pend.len += len;
    if (p->tail)
        p->tail->next = op;
    else
        p->head = op;
    p->tail = op;
    if (!p->dirty) {
        p->dirty = true;
        rt->dirty[rt->ndirty++] = p->index;
    }
    /* the before-sleep hook settles it; this timer only when no hook runs
     * before the loop would sleep (it never does in gregord) */
    if (!gr_timer_armed(&rt->settle_timer))
        gr_timer_start(rt->cfg.ev, &rt->settle_timer, 0);
}

void gr_crt_write(gr_crt_t *rt, gr_crt_result_t *r, gr_crt_done_fn *done, void *arg)
{
    gr_kerr_t st = gr_crt_status(rt, r->part);
    if (st == KERR_NONE)
        st = r->refused;
    if (st != KERR_NONE || r->nrec == 0) {
        gr_crt_result_free(r);
        fail_later(rt, done, arg, st);
        return;
    }
    part_t *p = &rt->parts[r->part];
    result_finish_batch(r, false);
    if (r->flags & GR_CRT_ATOMIC) {
        /* Kafka checks the batch before replaying anything */
        int64_t max_batch, seg;
        gr_crt_limits(rt, r->part, &max_batch, &seg);
        assert(r->nbatches == 1);
        gr_kerr_t e = (int64_t)r->done.len > max_batch ? KERR_MESSAGE_TOO_LARGE
                      : (int64_t)r->done.len > seg    ? KERR_RECORD_LIST_TOO_LARGE
                                                      : KERR_NONE;
        if (e != KERR_NONE) {
            gr_crt_result_free(r);
            fail_later(rt, done, arg, e);
            return;
        }
    }
    op_t *op = op_new(p, done, arg, r->nbatches, r->nrec, !(r->flags & GR_CRT_NO_REPLAY));
    if (op->replay) {
        gr_crt_undo_t u = {p};
        if (replay_result(p, r, p->next, &u) < 0) {
            gr_warn(pname(rt), "A record for %s-%d could not be applied; the write fails", rt->cfg.topic,
                    p->index);
            undo_rollback(p, op->undo0);
            op->err = KERR_UNKNOWN_SERVER_ERROR;
            gr_crt_result_free(r);
            complete_later(rt, op);
            return;
        }
    }
    op_enqueue(rt, p, op, r->done.p, r->done.len);
    gr_crt_result_free(r);
}

void gr_crt_write_marker(gr_crt_t *rt, int32_t part, int64_t producer_id, int16_t producer_epoch,
                         int32_t coordinator_epoch, bool commit, gr_crt_done_fn *done, void *arg)
{
    gr_kerr_t st = gr_crt_status(rt, part);
    if (st != KERR_NONE) {
        fail_later(rt, done, arg, st);
        return;
    }
    part_t *p = &rt->parts[part];
    size_t len;
    uint8_t *batch = gr_batch_build_marker(producer_id, producer_epoch, coordinator_epoch, commit, gr_now_ms(), &len);
    op_t *op = op_new(p, done, arg, 1, 1, true);
    const gr_crt_shard_ops_t *ops = rt->cfg.shard;
    if (ops->replay_marker) {
        gr_crt_undo_t u = {p};
        if (ops->replay_marker(p->shard, producer_id, producer_epoch, commit, p->next, &u) < 0) {
            gr_warn(pname(rt), "A transaction marker for %s-%d could not be applied; the write fails", rt->cfg.topic,
                    p->index);
            undo_rollback(p, op->undo0);
            op->err = KERR_UNKNOWN_SERVER_ERROR;
            free(batch);
            complete_later(rt, op);
            return;
        }
    }
    op_enqueue(rt, p, op, batch, len);
    free(batch);
}

/* ------------------------------------------------------------ timers */

void gr_crt_timer_init(gr_crt_timer_t *t, gr_crt_timer_fn *fn, void *arg)
{
    memset(t, 0, sizeof(*t));
    t->fn = fn;
    t->arg = arg;
    t->part = -1;
    gr_timer_init(&t->t, NULL, t);
}

static void timer_unlink(gr_crt_timer_t *t)
{
    if (!t->rt || t->part < 0)
        return;
    part_t *p = &t->rt->parts[t->part];
    if (t->prev)
        t->prev->next = t->next;
    else if (p->timers == t)
        p->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void timer_fire(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    gr_crt_timer_t *t = arg;
    gr_crt_t *rt = t->rt;
    int32_t part = t->part;
    timer_unlink(t);
    t->part = -1;
    if (gr_crt_status(rt, part) == KERR_NONE)
        t->fn(rt->parts[part].shard, t->arg);
}

void gr_crt_timer_schedule(gr_crt_t *rt, int32_t part, gr_crt_timer_t *t, int64_t delay_ms)
{
    assert(part >= 0 && part < rt->npart);
    gr_crt_timer_cancel(t);
    t->rt = rt;
    t->part = part;
    part_t *p = &rt->parts[part];
    t->prev = NULL;
    t->next = p->timers;
    if (p->timers)
        p->timers->prev = t;
    p->timers = t;
    t->t.cb = timer_fire;
    t->t.arg = t;
    gr_timer_start(rt->cfg.ev, &t->t, GR_MAX(delay_ms, 0));
}

void gr_crt_timer_cancel(gr_crt_timer_t *t)
{
    if (!t->rt)
        return;
    if (gr_timer_armed(&t->t))
        gr_timer_stop(t->rt->cfg.ev, &t->t);
    timer_unlink(t);
    t->part = -1;
}

/* ------------------------------------------------------------ loading */

static void partition_loaded(gr_crt_t *rt, part_t *p)
{
    p->state = P_ACTIVE;
    p->next = rt->cfg.writer->end_offset(rt->cfg.writer_ctx, p->index);
    if (p->load_skipped)
        gr_warn(pname(rt), "Skipped %lld undecodable records while loading %s-%d", (long long)p->load_skipped,
                rt->cfg.topic, p->index);
    gr_debug(pname(rt), "Loaded %s-%d: %lld records", rt->cfg.topic, p->index, (long long)p->load_records);
    if (rt->cfg.shard->on_loaded)
        rt->cfg.shard->on_loaded(p->shard);
}

static void load_batch(gr_crt_t *rt, part_t *p, const uint8_t *b, const gr_batch_info_t *info)
{
    if (info->attributes & GR_ATTR_CONTROL) {
        if (info->base_offset >= p->load_offset &&
            replay_control(p, b, (size_t)info->size, info, info->base_offset, NULL) < 0)
            p->load_skipped++;
        return;
    }
    int16_t epoch = (int16_t)gr_be16(b + GR_BOFF_PRODUCER_EPOCH);
    gr_rec_iter_t it;
    gr_record_t rec;
    int rc;
    gr_rec_iter_open(&it, b, info);
    while ((rc = gr_rec_iter_next(&it, &rec)) > 0) {
        int64_t off = info->base_offset + rec.offset_delta;
        if (off < p->load_offset)
            continue;                   /* read again in a batch that straddles the start */
        p->load_records++;
        gr_crt_record_t cr = {.offset = off, .producer_id = info->producer_id, .producer_epoch = epoch,
                              .timestamp = gr_add_wrap(info->first_timestamp, rec.timestamp_delta), .key = rec.key,
                              .key_len = rec.key_len, .value = rec.value, .value_len = rec.value_len};
        if (rt->cfg.shard->replay(p->shard, &cr, NULL) < 0)
            p->load_skipped++;
    }
    gr_rec_iter_close(&it);
    if (rc < 0) {
        /* the records before the bad one were replayed */
        gr_warn(pname(rt), "Skipping %s records of batch at offset %lld of %s-%d",
                rc == GR_ETOOBIG ? "oversized" : "unreadable", (long long)info->base_offset, rt->cfg.topic,
                p->index);
        p->load_skipped++;
    }
}

/* One read of the partition being loaded.  Returns false when every
 * partition is loaded. */
static bool load_step(gr_crt_t *rt)
{
    const gr_crt_writer_ops_t *w = rt->cfg.writer;
    while (rt->load_part < rt->npart) {
        part_t *p = &rt->parts[rt->load_part];
        if (p->load_offset < 0)
            p->load_offset = w->start_offset(rt->cfg.writer_ctx, p->index);
        int64_t end = w->end_offset(rt->cfg.writer_ctx, p->index);
        int rc = 0;
        rt->rbuf.len = 0;
        if (p->load_offset < end)
            rc = w->read(rt->cfg.writer_ctx, p->index, p->load_offset, GR_MAX(rt->cfg.load_buffer_bytes, 1),
                         &rt->rbuf);
        if (rc < 0 || rt->rbuf.len == 0) {
            if (rc < 0)
                gr_warn(pname(rt), "Reading %s-%d at %lld failed: %s", rt->cfg.topic, p->index,
                        (long long)p->load_offset, strerror(-rc));
            partition_loaded(rt, p);
            rt->load_part++;
            continue;
        }
        int64_t before = p->load_offset;
        size_t pos = 0, got = rt->rbuf.len;
        while (pos + GR_BATCH_LOG_OVERHEAD <= got) {
            gr_batch_info_t info;
            const uint8_t *b = rt->rbuf.p + pos;
            rc = gr_batch_check(b, got - pos, &info);
            if (rc == GR_AGAIN)
                break;
            if (rc < 0) {
                int32_t sz = gr_batch_size(b);
                gr_warn(pname(rt), "Skipping corrupt batch at offset %lld of %s-%d",
                        (long long)gr_batch_base_offset(b), rt->cfg.topic, p->index);
                if (sz <= GR_BATCH_LOG_OVERHEAD || (size_t)sz > got - pos)
                    break;
                pos += (size_t)sz;
                continue;
            }
            int64_t last = info.base_offset + info.last_offset_delta;
            if (last >= p->load_offset)
                load_batch(rt, p, b, &info);
            p->load_offset = GR_MAX(p->load_offset, last + 1);
            pos += (size_t)info.size;
        }
        if (p->load_offset <= before) {
            gr_warn(pname(rt), "No progress loading %s-%d at offset %lld; stopping there", rt->cfg.topic, p->index,
                    (long long)before);
            partition_loaded(rt, p);
            rt->load_part++;
            continue;
        }
        return true;
    }
    return false;
}

static void all_loaded(gr_crt_t *rt)
{
    gr_buf_free(&rt->rbuf);
    if (rt->cfg.shard->all_loaded)
        rt->cfg.shard->all_loaded(rt->cfg.shard_ctx, gr_mono_ms() - rt->load_t0);
}

static void load_timer_cb(gr_ev_t *ev, void *arg)
{
    gr_crt_t *rt = arg;
    if (load_step(rt)) {
        gr_timer_start(ev, &rt->load_timer, 0);
        return;
    }
    all_loaded(rt);
}

void gr_crt_load_all(gr_crt_t *rt)
{
    if (!gr_crt_loading_any(rt))
        return;
    gr_timer_stop(rt->cfg.ev, &rt->load_timer);
    while (load_step(rt))
        ;
    all_loaded(rt);
}

/* ------------------------------------------------------------ lifecycle */

gr_crt_t *gr_crt_new(const gr_crt_config_t *cfg)
{
    assert(cfg->ev && cfg->shard && cfg->shard->replay && cfg->writer && cfg->partitions >= 0);
    gr_crt_t *rt = gr_calloc(1, sizeof(*rt));
    rt->cfg = *cfg;
    rt->npart = cfg->partitions;
    rt->parts = gr_calloc((size_t)GR_MAX(rt->npart, 1), sizeof(*rt->parts));
    rt->dirty = gr_calloc((size_t)GR_MAX(rt->npart, 1), sizeof(*rt->dirty));
    for (int32_t i = 0; i < rt->npart; i++) {
        part_t *p = &rt->parts[i];
        p->rt = rt;
        p->index = i;
        p->state = P_LOADING;
        p->load_offset = -1;
        gr_arena_init(&p->undo_arena);
        p->shard = cfg->shard->create ? cfg->shard->create(cfg->shard_ctx, rt, i) : NULL;
    }
    rt->load_t0 = gr_mono_ms();
    gr_timer_init(&rt->load_timer, load_timer_cb, rt);
    gr_timer_init(&rt->done_timer, done_timer_cb, rt);
    gr_timer_init(&rt->settle_timer, settle_timer_cb, rt);
    /* before net.c's output flush, also for a runtime started after the
     * listener (__transaction_state, made on first use) */
    gr_ev_before_sleep_first(cfg->ev, hook_cb, rt);
    gr_timer_start(cfg->ev, &rt->load_timer, 0);
    return rt;
}

void gr_crt_free(gr_crt_t *rt)
{
    if (!rt)
        return;
    gr_ev_t *ev = rt->cfg.ev;
    gr_ev_before_sleep_remove(ev, hook_cb, rt);
    gr_timer_stop(ev, &rt->load_timer);
    /* what waits is appended and answered: a commit received is not lost
     * to a shutdown */
    settle_all(rt, false);
    rt->stopping = true;
    gr_timer_stop(ev, &rt->settle_timer);
    run_done(rt);                   /* writes they start fail with NOT_COORDINATOR, here */
    gr_timer_stop(ev, &rt->done_timer);
    for (int32_t i = 0; i < rt->npart; i++) {
        part_t *p = &rt->parts[i];
        while (p->timers)
            gr_crt_timer_cancel(p->timers);
        assert(!p->head && p->nundo == 0);
        if (rt->cfg.shard->destroy)
            rt->cfg.shard->destroy(p->shard);
        gr_buf_free(&p->pend);
        free(p->undo);
        gr_arena_free(&p->undo_arena);
    }
    gr_buf_free(&rt->rbuf);
    free(rt->parts);
    free(rt->dirty);
    free(rt);
}

/* ------------------------------------------------------------ the log writer */

static gr_partition_t *log_part(void *ctx, int32_t part)
{
    const char *topic = ctx;
    gr_topic_t *t = gr_topic_find(topic, strlen(topic));
    return t ? gr_partition_get(t, part) : NULL;
}

static int lw_append(void *ctx, int32_t part, uint8_t *data, size_t len, int64_t now_ms, int64_t *base,
                     gr_kerr_t *kerr)
{
    gr_partition_t *p = log_part(ctx, part);
    if (!p) {
        *kerr = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return GR_ENOENT;
    }
    gr_append_info_t info;
    int rc = gr_log_append_as(p->log, data, len, p->leader_epoch, false, GR_APPEND_COORDINATOR, now_ms, &info);
    if (rc < 0) {
        *kerr = info.serr != GR_SERR_NONE ? gr_api_serr_kerr(info.serr) : KERR_KAFKA_STORAGE_ERROR;
        return rc;
    }
    *base = info.base_offset;
    gr_partition_appended(p);
    return 0;
}

static bool lw_flush_due(void *ctx, int32_t part)
{
    gr_partition_t *p = log_part(ctx, part);
    return p && gr_log_flush_due(p->log);
}

static void lw_flush(void *ctx, int32_t part, gr_crt_flush_cb *cb, void *arg)
{
    gr_partition_t *p = log_part(ctx, part);
    if (!p) {
        cb(arg, GR_EIO);
        return;
    }
    gr_log_flush(p->log, gr_log_end_offset(p->log), cb, arg);
}

static int64_t lw_start(void *ctx, int32_t part)
{
    gr_partition_t *p = log_part(ctx, part);
    return p ? gr_log_start_offset(p->log) : 0;
}

static int64_t lw_end(void *ctx, int32_t part)
{
    gr_partition_t *p = log_part(ctx, part);
    return p ? gr_log_end_offset(p->log) : 0;
}

static int lw_read(void *ctx, int32_t part, int64_t offset, int32_t max_bytes, gr_buf_t *out)
{
    gr_partition_t *p = log_part(ctx, part);
    out->len = 0;
    if (!p)
        return 0;
    gr_log_slice_t s;
    int rc = gr_log_read(p->log, offset, max_bytes, gr_log_end_offset(p->log), true, &s);
    if (rc < 0 || s.len <= 0)
        return rc;
    gr_buf_reserve(out, (size_t)s.len);
    size_t got = 0;
    while (got < (size_t)s.len) {
        int fd = gr_file_fd(s.file);
        if (fd < 0)
            return GR_EIO;
        ssize_t r = gr_fio_pread(fd, out->p + got, (size_t)s.len - got, (off_t)(s.pos + (int64_t)got));
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    out->len = got;
    return 0;
}

static void lw_limits(void *ctx, int32_t part, int64_t *max_batch, int64_t *segment_bytes)
{
    GR_UNUSED(part);
    const char *topic = ctx;
    gr_topic_t *t = gr_topic_find(topic, strlen(topic));
    gr_log_config_t lc;
    gr_config_log_config(&gr_broker.cfg, t ? t->configs : NULL, &lc);
    *max_batch = lc.max_message_bytes;
    *segment_bytes = lc.segment_bytes;
}

const gr_crt_writer_ops_t gr_crt_log_writer = {
    .append = lw_append,
    .flush_due = lw_flush_due,
    .flush = lw_flush,
    .start_offset = lw_start,
    .end_offset = lw_end,
    .read = lw_read,
    .limits = lw_limits,
};
