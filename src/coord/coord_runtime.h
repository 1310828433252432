/*
 * coord_runtime.h - the coordinator runtime (Kafka's CoordinatorRuntime):
 * owns the partitions of an internal compacted topic (__consumer_offsets,
 * __transaction_state), builds each partition's state by replaying its
 * records, and runs write operations against that state.  It knows record
 * bytes and shards, not groups or transactions: a shard is a vtable.
 *
 *   operation --reads--> shard state
 *       | records + response (a gr_crt_result_t and a done callback)
 *       v
 *   gr_crt_write: replay(record) now, in order ---> shard state changes
 *       |          (undo entries kept until the append settles)
 *       v
 *   this loop turn's batches of the partition, one append (group commit)
 *       |                         |
 *       | ok (+ fsync if due)     | failed
 *       v                         v
 *   done(arg, NONE)            undo, then done(arg, the append's error)
 *
 *   loading: every record of the log, in order ---> the same replay
 *
 * The shard's replay() is the only way its persisted state changes, at load
 * and at run time alike.  A partition is LOADING (writes and reads answer
 * COORDINATOR_LOAD_IN_PROGRESS) until all its records were replayed, one
 * bounded read per loop turn so the listener stays responsive, then ACTIVE.
 * Completions never run on the caller's stack: from the before-sleep hook
 * that appends the turn's batches, from a zero-delay timer, or from the
 * fsync's completion.  Everything runs on the loop thread.
 *
 * Atomic results are one batch that lands or fails whole; results that are
 * not atomic (deleting a group's offsets, expiry) are split into batches of
 * at most max.message.bytes (and segment.bytes) and each batch lands or
 * fails on its own: what landed stays applied, what failed is rolled back,
 * so memory is always what the log says.  The design is drawn in
 * docs/internals.md ("The coordinator runtime").
 */
#ifndef GR_COORD_RUNTIME_H
#define GR_COORD_RUNTIME_H

#include "batch.h"
#include "buf.h"
#include "ev.h"
#include "kerr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gr_crt gr_crt_t;

/* One record as replayed (pointers valid during the call only). */
typedef struct gr_crt_record {
    int64_t offset;                 /* in the partition's log */
    int64_t producer_id;            /* -1 unless transactional */
    int16_t producer_epoch;
    int64_t timestamp;
    const uint8_t *key;             /* NULL: no key */
    int32_t key_len;
    const uint8_t *value;           /* NULL: a tombstone */
    int32_t value_len;
} gr_crt_record_t;

/* ---- undo ----
 * While a write's records are replayed, the shard records how to take each
 * change back: gr_crt_undo_push returns `size` zeroed bytes (in the
 * partition's undo arena, valid until the write settles) for the shard to
 * fill, and fn(shard, data, rollback) runs once per entry when the append
 * settles: rollback == true, newest entry first, if it failed (restore the
 * state before the change); rollback == false if it landed (release what the
 * entry holds, e.g. a group removed from the registry but kept for a
 * rollback).  The undo log is NULL at load time: nothing to undo there. */
typedef struct gr_crt_undo gr_crt_undo_t;
typedef void gr_crt_undo_fn(void *shard, void *data, bool rollback);
void *gr_crt_undo_push(gr_crt_undo_t *u, gr_crt_undo_fn *fn, size_t size);

/* ---- shards (Kafka's CoordinatorShard) ---- */
typedef struct gr_crt_shard_ops {
    const char *name;               /* log lines: "group coordinator" */
    /* The state of one partition, created when the partition starts loading
     * (ctx: the config's shard_ctx). */
    void *(*create)(void *ctx, gr_crt_t *rt, int32_t partition);
    /* Apply one record; value NULL = tombstone.  Returns 0, or a GR_E*
     * when the record cannot be applied (undecodable, unknown type): at load
     * it is counted and skipped, in a write the write is rolled back and
     * fails with UNKNOWN_SERVER_ERROR.  undo is NULL at load time. */
    int (*replay)(void *shard, const gr_crt_record_t *rec, gr_crt_undo_t *undo);
    /* Every record of the partition was replayed (Kafka's onLoaded). */
    void (*on_loaded)(void *shard);
    /* The runtime stops: free the state (timers were cancelled). */
    void (*destroy)(void *shard);
    /* Optional: every partition is loaded (load time in ms). */
    void (*all_loaded)(void *ctx, int64_t took_ms);
    /* Optional: a transaction marker of the partition (Kafka's
     * replayEndTransactionMarker), at load and when written
     * (gr_crt_write_marker); undo as for replay.  Returns 0 or a GR_E*. */
    int (*replay_marker)(void *shard, int64_t producer_id, int16_t producer_epoch, bool commit, int64_t offset,
                         gr_crt_undo_t *undo);
} gr_crt_shard_ops_t;

/* ---- the log behind (Kafka's PartitionWriter, plus reading for loading) ---- */
typedef void gr_crt_flush_cb(void *arg, int rc);
typedef struct gr_crt_writer_ops {
    /* Append whole uncompressed batches (the log assigns offsets): 0 with
     * *base = the first offset, or a GR_E* with *kerr = the Kafka error the
     * log reports (KAFKA_STORAGE_ERROR, MESSAGE_TOO_LARGE, ...; a partition
     * without a log: UNKNOWN_TOPIC_OR_PARTITION). */
    int (*append)(void *ctx, int32_t part, uint8_t *data, size_t len, int64_t now_ms, int64_t *base,
                  gr_kerr_t *kerr);
    /* After an append: must its acknowledgement wait for an fsync (the
     * flush policy)?  Then flush() calls cb(arg, rc) on the loop once it
     * is durable (rc < 0: the fsync failed). */
    bool (*flush_due)(void *ctx, int32_t part);
    void (*flush)(void *ctx, int32_t part, gr_crt_flush_cb *cb, void *arg);
    /* Loading: the first offset, the end offset, and a read of whole batches
     * from `offset`, at most max_bytes unless the first batch is larger
     * (GR_E* on failure; out->len 0 at the end). */
    int64_t (*start_offset)(void *ctx, int32_t part);
    int64_t (*end_offset)(void *ctx, int32_t part);
    int (*read)(void *ctx, int32_t part, int64_t offset, int32_t max_bytes, gr_buf_t *out);
    /* Largest batch the partition accepts (max.message.bytes) and its
     * segment.bytes. */
    void (*limits)(void *ctx, int32_t part, int64_t *max_batch, int64_t *segment_bytes);
} gr_crt_writer_ops_t;

typedef struct gr_crt_config {
    const char *topic;              /* log lines */
    int32_t partitions;
    const gr_crt_shard_ops_t *shard;
    void *shard_ctx;
    const gr_crt_writer_ops_t *writer;
    void *writer_ctx;
    gr_ev_t *ev;                    /* the loop: load steps, completions, group commit, timers */
    int32_t load_buffer_bytes;      /* one read while loading (offsets.load.buffer.size) */
} gr_crt_config_t;

/* Start: every partition LOADING, loaded one read per loop turn from a
 * timer.  The config is copied. */
gr_crt_t *gr_crt_new(const gr_crt_config_t *cfg);
/* Stop: append what waits and complete it, cancel the timers, destroy the
 * shards.  Operations still waiting for an fsync complete when it ends. */
void gr_crt_free(gr_crt_t *rt);
/* Load whatever is still loading now, synchronously (startup tests). */
void gr_crt_load_all(gr_crt_t *rt);

int32_t gr_crt_partitions(const gr_crt_t *rt);
/* NONE when the partition is ACTIVE, COORDINATOR_LOAD_IN_PROGRESS while it
 * loads, NOT_COORDINATOR when the runtime does not own it. */
gr_kerr_t gr_crt_status(const gr_crt_t *rt, int32_t part);
bool gr_crt_loading_any(const gr_crt_t *rt);
/* The partition's shard (also while loading), NULL when not owned. */
void *gr_crt_shard(const gr_crt_t *rt, int32_t part);

/* ---- write operations (Kafka's CoordinatorResult + scheduleWriteOperation) ---- */
enum {
    GR_CRT_ATOMIC = 1u,             /* one batch: lands or fails whole */
    GR_CRT_NO_REPLAY = 2u,          /* the caller's live state holds it already
                                     * (Kafka's replayRecords = false) */
};

/* The records an operation writes.  Build with _init/_add, hand to
 * gr_crt_write (which frees it), or drop with _free. */
/* Where a record's key and value sit in the result's batches (offsets in
 * `done`, -1 lengths for null), so that the write replays the very bytes
 * it appends without parsing its own batches again. */
typedef struct gr_crt_recpos {
    uint32_t key_at, value_at;
    int32_t key_len, value_len;
} gr_crt_recpos_t;

typedef struct gr_crt_result {
    int32_t part;
    unsigned flags;
    int64_t producer_id;            /* >= 0: transactional batches of this producer
                                     * (gr_crt_result_set_producer) */
    int16_t producer_epoch;
    int64_t now_ms;                 /* the records' timestamp */
    int64_t max_batch;              /* batches are split at this size (not atomic) */
    gr_batch_builder_t b;           /* the batch being built */
    gr_buf_t done;                  /* finished batches, back to back */
    int32_t nrec;
    int32_t nbatches;
    gr_kerr_t refused;              /* NONE, or why nothing is written */
    gr_crt_recpos_t *pos;           /* nrec entries: pos_inline or malloc'ed */
    int32_t pos_cap;
    gr_crt_recpos_t pos_inline[16];
} gr_crt_result_t;

void gr_crt_result_init(gr_crt_result_t *r, gr_crt_t *rt, int32_t part, unsigned flags);
/* The records are part of a transaction of this producer: transactional
 * batches (producer id and epoch, no sequence), replayed with the producer
 * id; the log checks the epoch (Kafka's transactional write operation).
 * Before the first record is added. */
void gr_crt_result_set_producer(gr_crt_result_t *r, int64_t producer_id, int16_t producer_epoch);
/* Make room for about `bytes` of records (keys, values and their framing,
 * at most 16 bytes each): a sizing hint. */
void gr_crt_result_reserve(gr_crt_result_t *r, size_t bytes);
/* Add a record (value NULL: a tombstone).  The bytes are copied. */
void gr_crt_result_add(gr_crt_result_t *r, const void *key, int32_t key_len, const void *value, int32_t value_len);
void gr_crt_result_free(gr_crt_result_t *r);
/* The write is not done: gr_crt_write completes it with err (the operation
 * found out before building its records, e.g. a record too large). */
void gr_crt_result_refuse(gr_crt_result_t *r, gr_kerr_t err);
/* Exact size of one batch of one record with key and value of these sizes. */
size_t gr_crt_batch_size1(size_t key_len, size_t value_len);
/* max.message.bytes and segment.bytes of the partition. */
void gr_crt_limits(gr_crt_t *rt, int32_t part, int64_t *max_batch, int64_t *segment_bytes);

/* Run a write: the records are replayed now (unless GR_CRT_NO_REPLAY),
 * appended with the other writes of this loop turn on the partition, and
 * done(arg, err) runs later (never inside this call) once they are durable
 * by the flush policy: err NONE, or the Kafka error of what failed (the
 * append's: KAFKA_STORAGE_ERROR, UNKNOWN_TOPIC_OR_PARTITION; too large for
 * one batch: MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE, before anything is
 * replayed; the partition's status when not ACTIVE; a record the shard
 * cannot replay: UNKNOWN_SERVER_ERROR), with the failed records' state
 * rolled back.  A result without records completes with NONE.  Takes r. */
typedef void gr_crt_done_fn(void *arg, gr_kerr_t err);
void gr_crt_write(gr_crt_t *rt, gr_crt_result_t *r, gr_crt_done_fn *done, void *arg);
/* Write a transaction marker (Kafka's scheduleTransactionCompletion): a
 * COMMIT or ABORT control batch of the producer, appended in order with the
 * partition's other writes and replayed (shard replay_marker) at once;
 * done(arg, err) as for gr_crt_write (the log's epoch checks may refuse it:
 * INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED). */
void gr_crt_write_marker(gr_crt_t *rt, int32_t part, int64_t producer_id, int16_t producer_epoch,
                         int32_t coordinator_epoch, bool commit, gr_crt_done_fn *done, void *arg);
/* Append the partition's waiting writes now (their completions still run
 * later): a reader then sees no write that could still be rolled back. */
void gr_crt_flush(gr_crt_t *rt, int32_t part);

/* ---- timers of a shard (Kafka's CoordinatorTimer) ----
 * Embedded in the shard.  When it fires, fn(shard, arg) runs if the
 * partition is ACTIVE (it may write); a partition that stops cancels its
 * timers. */
typedef void gr_crt_timer_fn(void *shard, void *arg);
typedef struct gr_crt_timer {
    gr_timer_t t;
    gr_crt_t *rt;
    int32_t part;
    gr_crt_timer_fn *fn;
    void *arg;
    struct gr_crt_timer *prev, *next;   /* the partition's armed timers */
} gr_crt_timer_t;

void gr_crt_timer_init(gr_crt_timer_t *t, gr_crt_timer_fn *fn, void *arg);
void gr_crt_timer_schedule(gr_crt_t *rt, int32_t part, gr_crt_timer_t *t, int64_t delay_ms);
void gr_crt_timer_cancel(gr_crt_timer_t *t);

/* ---- the writer over a topic's partition logs (topic.c / log.c) ----
 * ctx: the topic name (a NUL-terminated string that outlives the runtime). */
extern const gr_crt_writer_ops_t gr_crt_log_writer;

#endif
