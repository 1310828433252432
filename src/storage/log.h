/*
 * log.h - one partition's log: a directory of segments
 * (<base offset>.log / .index / .timeindex, Kafka's layout), append,
 * read as file ranges, roll, retention, flush policy and crash recovery.
 *
 * Owned by its partition (topic.c); used only on the loop thread except for
 * the fsync jobs it hands to gr_ev_submit().  Formats are drawn in
 * segment.c (files) and checkpoint.c (log-dir checkpoint files, declared
 * in checkpoint.h).
 */
#ifndef GR_LOG_H
#define GR_LOG_H

#include "serr.h"
#include "gr.h"
#include "wire.h"
#include "ev.h"
#include "segment.h"

#include <stdint.h>

typedef struct gr_log gr_log_t;

/* Effective configuration of a log (broker defaults + topic overrides). */
typedef struct gr_log_config {
    int64_t segment_bytes;          /* segment.bytes / log.segment.bytes */
    int64_t segment_ms;             /* segment.ms / log.roll.ms */
    int64_t retention_ms;           /* -1 = unlimited */
    int64_t retention_bytes;        /* -1 = unlimited */
    int32_t index_interval_bytes;   /* log.index.interval.bytes */
    int64_t flush_messages;         /* log.flush.interval.messages (INT64_MAX = never) */
    int64_t flush_ms;               /* log.flush.interval.ms (INT64_MAX = never) */
    int32_t max_message_bytes;      /* max.message.bytes: largest batch */
    bool log_append_time;           /* message.timestamp.type=LogAppendTime */
    bool compact;                   /* cleanup.policy contains compact */
    bool delete_;                   /* cleanup.policy contains delete */
    int64_t delete_retention_ms;    /* delete.retention.ms: tombstone lifetime after cleaning */
    int64_t min_compaction_lag_ms;  /* min.compaction.lag.ms */
    double min_cleanable_ratio;     /* min.cleanable.dirty.ratio */
} gr_log_config_t;

typedef struct gr_log_open_opts {
    const char *dir;                /* <log.dir>/<topic>-<partition> */
    const gr_log_config_t *cfg;
    int64_t recovery_point;         /* from recovery-point-offset-checkpoint, 0 if none */
    int64_t log_start_offset;       /* from log-start-offset-checkpoint, -1 if none */
    bool clean_shutdown;            /* the .kafka_cleanshutdown marker was present */
    gr_ev_t *ev;                    /* for fsync jobs; may be NULL (sync fsync, tests) */
    int lane;                       /* gr_ev_submit lane for this log's dir */
    bool fresh;                     /* dir just created (empty): nothing to list or
                                     * recover; the new segment's names are made
                                     * durable by the first flush, not now */
    int64_t producer_expiration_ms; /* producer.id.expiration.ms: producers of a
                                     * snapshot expired by then are not loaded
                                     * (<= 0: all are) */
} gr_log_open_opts_t;

/* Open (create if missing) and recover a log.  Unclean shutdown: every
 * segment from the recovery point on is scanned, each batch validated,
 * a torn or corrupt tail truncated and the indexes rebuilt; the number of
 * bytes dropped is logged.  Returns 0 or a GR_E*. */
int gr_log_open(const gr_log_open_opts_t *o, gr_log_t **out);
/* Flush (fsync) everything and close; the log stays on disk.  Returns 0,
 * or a GR_E* when something could not be made durable (logged; the
 * recovery point stays where it was). */
int gr_log_close(gr_log_t *log);
/* Close and remove the directory (DeleteTopics). */
void gr_log_delete(gr_log_t *log);
/* Change the configuration (IncrementalAlterConfigs). */
void gr_log_set_config(gr_log_t *log, const gr_log_config_t *cfg);

int64_t gr_log_start_offset(const gr_log_t *log);
int64_t gr_log_end_offset(const gr_log_t *log);     /* next offset to assign */
int64_t gr_log_recovery_point(const gr_log_t *log); /* everything below is fsynced */
int64_t gr_log_size_bytes(const gr_log_t *log);
int gr_log_segment_count(const gr_log_t *log);

/* Result of an append, for the Produce response. */
typedef struct gr_append_info {
    gr_serr_t serr;                 /* why the append was refused (serr.h) */
    int64_t base_offset;            /* offset of the first record */
    int64_t last_offset;
    int64_t log_append_time;        /* -1 unless LogAppendTime */
    int32_t record_count;
    int32_t batch_count;
    bool duplicate;                 /* a producer's retried batch: the offsets
                                     * (and log_append_time, its timestamp) are
                                     * those it got the first time; nothing
                                     * was appended */
    const char *error_message;      /* static string or NULL */
} gr_append_info_t;

/* Who writes a batch (Kafka's AppendOrigin).  A client's batches get the
 * checks of Kafka's LogValidator for AppendOrigin.CLIENT: no control
 * batches, no LogAppendTime chosen by the producer, no transactional
 * batches (no transaction coordinator yet), and the producer state's
 * epoch and sequence checks (pstate.h).  The broker's own writers (the
 * group coordinator; a transaction coordinator's markers) are trusted with
 * those fields; their batches with a producer id get the epoch check. */
typedef enum { GR_APPEND_CLIENT, GR_APPEND_COORDINATOR } gr_append_origin_t;

/* Validate and append the record batches of one produce partition.  `data`
 * is modified in place (offsets assigned; each batch's maxTimestamp set to
 * the largest of its records' timestamps and the delete-horizon attribute
 * cleared, as Kafka's LogValidator does, the CRC recomputed when that
 * changed anything).  Legacy (magic 0/1) input is up-converted into one
 * batch of at most max.message.bytes.  On a validation failure nothing is
 * written and info->serr is GR_SERR_CORRUPT_BATCH, GR_SERR_BATCH_TOO_LARGE
 * (also for compressed records beyond the decompression budget,
 * gr_batch_budget_begin), GR_SERR_INVALID_RECORD, GR_SERR_COMPRESSION
 * (zstd when allow_zstd is false), for a client's batch
 * GR_SERR_INVALID_TIMESTAMP, or from the producer state GR_SERR_SEQUENCE,
 * GR_SERR_PRODUCER_EPOCH, GR_SERR_TXN_STATE or (a marker)
 * GR_SERR_COORDINATOR_EPOCH, with info->error_message set for most, and
 * the function returns GR_ECORRUPT/GR_ETOOBIG/GR_EINVAL.  A producer's
 * retried batch returns 0 with info->duplicate set and nothing written.
 * I/O failure, or a partition offline after one, returns GR_EIO with
 * GR_SERR_IO.  The caller maps info->serr with gr_api_serr_kerr (api.h).
 * Rolls segments by size and time.
 * gr_log_append is gr_log_append_as(GR_APPEND_CLIENT). */
int gr_log_append(gr_log_t *log, uint8_t *data, size_t len, int32_t leader_epoch,
                  bool allow_zstd, int64_t now_ms, gr_append_info_t *info);
int gr_log_append_as(gr_log_t *log, uint8_t *data, size_t len, int32_t leader_epoch, bool allow_zstd,
                     gr_append_origin_t origin, int64_t now_ms, gr_append_info_t *info);

/* A slice of the log to send: whole batches from one segment file. */
typedef struct gr_log_slice {
    gr_file_t *file;       /* borrowed; take a ref (gr_wr_file does) to keep it */
    int64_t pos;
    int32_t len;           /* 0 when there is nothing to read */
    int64_t next_offset;   /* the offset after its last batch (-1 when empty):
                            * the upper bound of the aborted transactions a
                            * READ_COMMITTED fetch reports with it */
} gr_log_slice_t;

/* Find data for a fetch at `offset`: batches whose last offset >= offset,
 * from the one segment containing it, up to max_bytes (the first batch is
 * returned whole even if larger when min_one is true), and only batches
 * entirely below `upper` (high watermark / LSO).
 * Returns 0 (slice possibly empty when offset == end), GR_ERANGE when
 * offset < start offset or > end offset, GR_EIO when the log is offline or
 * reading it failed (the first batch header of the slice is always read
 * back, so a failing device is noticed here rather than in the sendfile). */
int gr_log_read(gr_log_t *log, int64_t offset, int32_t max_bytes, int64_t upper,
                bool min_one, gr_log_slice_t *out);

/* ---- transactions ----
 * The last stable offset: the first offset of the earliest ongoing
 * transaction (not below the log start), or the log end when none is
 * ongoing (on a single broker the high watermark is the log end). */
int64_t gr_log_last_stable_offset(const gr_log_t *log);
/* The aborted transactions a READ_COMMITTED fetch of [fetch_offset, upper)
 * must report (Kafka's collectAbortedTransactions): those with last offset
 * >= fetch_offset and first offset < upper, from the .txnindex files of the
 * segment holding fetch_offset and the following ones until one is
 * complete.  cb(arg, entry) for each, in order.  0 or GR_EIO. */
int gr_log_collect_aborted(gr_log_t *log, int64_t fetch_offset, int64_t upper, gr_seg_txn_cb *cb, void *arg);

/* ListOffsets support, served from the time indexes.  Offset of the first
 * record with timestamp >= ts (-1 with *found_ts = -1 if none), or GR_EIO
 * when reading the log failed (KAFKA_STORAGE_ERROR). */
int64_t gr_log_offset_for_timestamp(gr_log_t *log, int64_t ts, int64_t *found_ts);
/* Offset and timestamp of the record with the largest timestamp (-1, -1 if
 * empty).  Returns 0 or GR_EIO when reading the log failed. */
int gr_log_max_timestamp(gr_log_t *log, int64_t *offset, int64_t *ts);

/* Is the partition's storage failing: offline after a torn append, the
 * last fsync failed, or the last read of a segment failed (gr_log_read,
 * the timestamp lookups)?  A failed fsync or read is retried here at most
 * every 500 ms, so asking (Metadata does) is what notices that a fault
 * cleared. */
bool gr_log_storage_failed(gr_log_t *log, int64_t now_ms);

/* Housekeeping, called from a periodic timer: roll by segment.ms, delete
 * segments by retention.ms / retention.bytes (advancing the log start
 * offset), then gr_log_maintain.  Returns the number of segments deleted.
 * A segment's age is its largest record timestamp, or the file's
 * modification time when no record has one. */
int gr_log_housekeep(gr_log_t *log, int64_t now_ms);
/* The part of it that runs more often than retention checks: retry a
 * failed fsync or read (at most every 500 ms), start a flush when
 * log.flush.interval.ms / flush.ms elapsed (gr_log_flush_tick).  Returns
 * the ms until the log wants to be looked at again (INT64_MAX: never). */
int64_t gr_log_maintain(gr_log_t *log, int64_t now_ms);
/* Flush by time alone (log.flush.interval.ms / flush.ms): start a flush if
 * the interval elapsed and something is unflushed.  Returns the ms until
 * the log is next due (INT64_MAX: it never is). */
int64_t gr_log_flush_tick(gr_log_t *log, int64_t now_ms);
/* Advance the log start offset (DeleteRecords, compaction); deletes whole
 * segments below it. */
void gr_log_advance_start(gr_log_t *log, int64_t offset);

/* ---- producer state (pstate.h) ----
 * Forget the producers idle for producer.id.expiration.ms (the periodic
 * check, every producer.id.expiration.check.interval.ms); returns how many. */
size_t gr_log_expire_producers(gr_log_t *log, int64_t now_ms, int64_t expiration_ms);
/* The largest producer id the partition holds state for, -1 if none. */
int64_t gr_log_max_producer_id(const gr_log_t *log);
size_t gr_log_producer_count(const gr_log_t *log);
struct gr_pstate;
const struct gr_pstate *gr_log_producer_state(const gr_log_t *log);   /* NULL when none */
/* A producer's retried batch (gr_append_info_t.duplicate) ending before
 * upto: must its acknowledgement wait for a flush, as the first append's
 * may have (a log.flush.interval.messages policy, not yet durable)? */
bool gr_log_flush_needed(const gr_log_t *log, int64_t upto);

/* ---- compaction (cleanup.policy=compact; engine in cleaner.c) ---- */
typedef struct gr_clean_stats {
    int64_t first_dirty;            /* the pass mapped [first_dirty, map_end) */
    int64_t map_end;
    int64_t keys;                   /* distinct keys in the offset map */
    int64_t records_read;           /* in the rewritten segments */
    int64_t records_removed;        /* superseded, keyless and expired tombstones */
    int64_t tombstones_removed;
    int64_t bytes_read;             /* size of the segments replaced or removed */
    int64_t bytes_written;          /* size of their replacements */
    int segments_cleaned;           /* replaced */
    int segments_removed;           /* nothing survived */
} gr_clean_stats_t;

/* cb(arg, rc, stats) runs on the loop thread when a pass ends: rc 0, a
 * GR_E* (nothing changed, or a prefix of the segments was swapped and the
 * rest left as they were), -ECANCELED when the log was closed meanwhile. */
typedef void gr_log_clean_cb(void *arg, int rc, const gr_clean_stats_t *st);

/* Start a cleaning pass when the log needs one: dirty bytes / cleanable
 * bytes >= min.cleanable.dirty.ratio, or a tombstone's delete horizon has
 * passed.  The work runs on a helper thread (synchronously, cb included,
 * without an ev); map_bytes bounds the offset map.  Returns 0 when started
 * (cb will run), GR_AGAIN when there is nothing to do or a pass is already
 * running, GR_EINVAL when the log is not compacted. */
int gr_log_clean(gr_log_t *log, int64_t now_ms, size_t map_bytes, gr_log_clean_cb *cb, void *arg);
/* The dirty ratio the cleaner would see now (0 when nothing is cleanable). */
double gr_log_dirty_ratio(const gr_log_t *log, int64_t now_ms);
/* Cleaner checkpoint: offsets below were cleaned (cleaner-offset-checkpoint). */
int64_t gr_log_clean_offset(const gr_log_t *log);
void gr_log_set_clean_offset(gr_log_t *log, int64_t offset);
bool gr_log_compacted(const gr_log_t *log);

/* Flush: fsync off the loop.  cb(arg, rc) (may be NULL) runs on the loop thread once
 * everything below `upto` is durable (immediately if it already is). */
typedef void gr_log_flush_cb(void *arg, int rc);
void gr_log_flush(gr_log_t *log, int64_t upto, gr_log_flush_cb *cb, void *arg);
/* Does the flush policy require waiting for fsync before acknowledging
 * an append ending at `upto`?  (log.flush.interval.messages reached.) */
bool gr_log_flush_due(const gr_log_t *log);

/* ---- shutdown: one sync for a whole log dir (topic.c, syncfs) ----
 * Holds data above its recovery point (appended since the last flush)? */
bool gr_log_unflushed(const gr_log_t *log);
/* Will the close write a producer snapshot (appends since the last one)
 * or sync one written since the last flush? */
bool gr_log_snapshot_due(const gr_log_t *log);
/* Seal the active segment and write every pending index entry, so that a
 * sync of the filesystem (gr_fio_syncfs) covers everything the log holds;
 * *upto = the end offset covered.  GR_EIO when the log is offline,
 * GR_AGAIN with a flush in flight, or an index write error: flush and
 * close that log the usual way instead.  Nothing may be appended before
 * gr_log_sync_done. */
int gr_log_sync_prepare(gr_log_t *log, int64_t *upto);
/* After that sync: rc 0 marks the log flushed up to `upto` (its recovery
 * point); a GR_E* flags the fsync failure and makes gr_log_close skip its
 * own syncs and return GR_EIO (the caller logs the failure once for the
 * dir; the next start recovers from the recovery point).  Flush waiters
 * are answered either way. */
void gr_log_sync_done(gr_log_t *log, int64_t upto, int rc);

#endif
