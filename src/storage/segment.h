/*
 * segment.h - one log segment: <base>.log, <base>.index, <base>.timeindex
 * and, once a transaction aborted in it, <base>.txnindex.
 * File formats are drawn in segment.c.  Owned by its log (log.c); used on
 * the loop thread only, except that flush jobs fsync the files by name
 * (gr_seg_sync_files) and the cleaner builds its output segments on a
 * helper thread.  The .log is a cached file (fcache.h), open while it is
 * used; index files are opened when used.
 */
#ifndef GR_SEGMENT_H
#define GR_SEGMENT_H

#include "gr.h"
#include "wire.h"
#include "batch.h"

#include <stdint.h>

typedef struct gr_idx_entry {
    int32_t rel;                /* batch last offset - segment base */
    int32_t pos;                /* file position of the batch */
} gr_idx_entry_t;

typedef struct gr_tidx_entry {
    int64_t ts;                 /* max timestamp so far */
    int32_t rel;                /* offset (relative) where it was seen */
} gr_tidx_entry_t;

/* One entry of the aborted-transaction index (Kafka's AbortedTxn): a
 * transaction of `pid` over [first_offset, last_offset] (last: its ABORT
 * marker, which is in this segment) and the partition's last stable
 * offset when the marker was written. */
typedef struct gr_aborted_txn {
    int64_t pid;
    int64_t first_offset;
    int64_t last_offset;
    int64_t lso;
} gr_aborted_txn_t;

#define GR_TXN_ENTRY_SIZE 34        /* AbortedTxn.TOTAL_SIZE */

typedef struct gr_segment {
    int64_t base;               /* base offset, from the file name */
    int64_t next;               /* offset after the last batch (base if empty) */
    int64_t size;               /* bytes in .log */
    char *path;                 /* "<dir>/<20 digits>" without suffix, owned */
    gr_file_t *log;             /* .log, owned reference; cached (fcache.h)
                                 * except for a cleaner output not swapped in */
    bool cleaned;               /* files still named <path>.*.cleaned (cleaner) */
    bool idx_unsynced;          /* index files written since their last sync */

    gr_idx_entry_t *idx;        /* sparse offset index (every index.interval.bytes) */
    uint32_t n_idx, cap_idx, idx_written;
    gr_tidx_entry_t *tidx;      /* time index */
    uint32_t n_tidx, cap_tidx, tidx_written;
    /* Fine index: every batch of a suffix of the segment (the batches
     * appended or scanned since open), so tail reads need no syscall.
     * Covers relative offsets >= fine_start_rel.  Bounded in size. */
    gr_idx_entry_t *fine;
    uint32_t n_fine, cap_fine;
    int64_t fine_start_rel;

    int64_t bytes_since_idx;
    int64_t max_ts;             /* largest batch maxTimestamp, -1 if none */
    int64_t max_ts_off;         /* last offset of the batch holding it */
    int64_t roll_base_ms;       /* first append (or open) time, for segment.ms */
    int64_t mtime_ms;           /* last modification, retention fallback */
    bool dirty;                 /* written since the last flush was started */
    int64_t ntxn;               /* entries in .txnindex (no file: 0) */
    int64_t txn_last;           /* last offset of its last entry, -1 */
    bool txn_rebuild;           /* recovered: the log rebuilds .txnindex (log.c) */
    bool broken;                /* a failed append could not be cut back: the
                                 * file may end in a torn batch; no more writes */
} gr_segment_t;

/* Create a new empty segment (truncating stale files of that name). */
int gr_seg_create(const char *dir, int64_t base, int64_t now_ms, gr_segment_t **out);
/* Create the files of a segment being written by the log cleaner:
 * <base>.log.cleaned, <base>.index.cleaned, <base>.timeindex.cleaned
 * (seg->cleaned set).  seg->path is "<dir>/<base>" as for any segment, so
 * the open .log keeps working once cleaner.c has renamed the files to
 * their final names; whoever renames them clears seg->cleaned. */
int gr_seg_create_cleaned(const char *dir, int64_t base, int64_t now_ms, gr_segment_t **out);
/* Forget the fine index (reads fall back to the sparse index): a cleaned
 * segment is old data, not worth 8 bytes per batch of memory. */
void gr_seg_drop_fine(gr_segment_t *seg);
/* A cleaner output swapped into its log (files renamed, seg->cleaned
 * cleared): its .log joins the descriptor cache under its final name
 * (loop thread).  gr_seg_create does the same for a new segment. */
void gr_seg_adopt(gr_segment_t *seg);
/* Close the .log's descriptor now; the cleaner does so for each output
 * segment once it is written and synced, so a pass holds one at a time. */
void gr_seg_release_fd(gr_segment_t *seg);
/* Look up an existing segment (its size and modification time); nothing
 * is opened and the indexes are not loaded yet. */
int gr_seg_open(const char *dir, int64_t base, gr_segment_t **out);
/* Load the index files and check them (monotonic, within the log; the
 * .txnindex as Kafka's sanityCheck), then scan the batch headers after
 * the last index entry to find the end.
 * GR_ECORRUPT when anything is inconsistent (the caller recovers). */
int gr_seg_load(gr_segment_t *seg);
/* Validate every batch from the start, truncate at the first bad or torn
 * one, rebuild and rewrite the indexes.  The .txnindex is deleted and
 * seg->txn_rebuild set: the log's replay of its producer state finds the
 * aborted transactions again.  *dropped = bytes cut off. */
int gr_seg_recover(gr_segment_t *seg, int32_t index_interval, int64_t *dropped);
/* Append whole, validated, offset-assigned batches (one pwrite); on
 * failure the file is cut back to its size before the call and
 * GR_EIO/GR_ENOSPC returned.  When even the cut fails, seg->broken is set
 * and every later append fails (the caller takes the log offline). */
int gr_seg_append(gr_segment_t *seg, const uint8_t *data, size_t len, int64_t now_ms,
                  int32_t index_interval);
/* Write index entries not yet in the files (before an fsync); opens and
 * closes the index files, sets seg->idx_unsynced when it wrote. */
int gr_seg_write_indexes(gr_segment_t *seg);
/* The segment stops being active: final time index entry, write indexes. */
int gr_seg_seal(gr_segment_t *seg);
/* fdatasync .log, and .index, .timeindex and .txnindex when
 * seg->idx_unsynced (cleared on success). */
int gr_seg_sync(gr_segment_t *seg);
/* The same for a flush job off the loop thread, holding no segment:
 * <path>.log and, when indexes, <path>.index, <path>.timeindex and
 * <path>.txnindex, opened by name (a file gone or never made needs no
 * sync). */
int gr_seg_sync_files(const char *path, bool indexes);
/* Whole batches with last offset >= offset and < upper, up to max_bytes
 * (the first one even if larger when min_one); *next (may be NULL): the
 * offset after the last of them, -1 when none.  GR_ENOENT when the
 * segment holds nothing at or after offset. */
int gr_seg_read(gr_segment_t *seg, int64_t offset, int64_t upper, int32_t max_bytes, bool min_one,
                int64_t *pos, int32_t *len, int64_t *next);
/* Walk the batch headers (GR_BATCH_HEADER_SIZE bytes each) from the batch
 * holding `from` (or the first after it) to the end of the file, reading
 * 64 KiB at a time; cb(arg, header, file position) for each batch whose
 * last offset >= from, until it returns non-zero.  A control batch of at
 * most GR_SEG_SCAN_CONTROL_MAX bytes (a transaction marker) is given whole.
 * Returns 0, GR_EIO or GR_ECORRUPT (a header that does not fit). */
#define GR_SEG_SCAN_CONTROL_MAX 1024
typedef int gr_seg_scan_cb(void *arg, const uint8_t *hdr, int64_t pos);
int gr_seg_scan_headers(gr_segment_t *seg, int64_t from, gr_seg_scan_cb *cb, void *arg);
/* ---- the aborted-transaction index, <base>.txnindex (layout in segment.c) ----
 * Append one entry (its last offset must be larger than the last one's);
 * sets idx_unsynced.  GR_EIO/GR_ENOSPC/GR_EINVAL. */
int gr_seg_txn_append(gr_segment_t *seg, const gr_aborted_txn_t *t);
/* Keep the first n entries (an append undone; recovery: 0 deletes the
 * file). */
int gr_seg_txn_truncate(gr_segment_t *seg, int64_t n);
/* The entries overlapping [fetch_offset, upper): last >= fetch_offset and
 * first < upper, in order, through cb(arg, entry).  *complete when an
 * entry's last stable offset reaches upper (Kafka's
 * TransactionIndex.collectAbortedTxns: no later segment can hold an
 * overlapping one).  0 or GR_EIO / GR_ECORRUPT. */
typedef void gr_seg_txn_cb(void *arg, const gr_aborted_txn_t *t);
int gr_seg_txn_collect(gr_segment_t *seg, int64_t fetch_offset, int64_t upper, gr_seg_txn_cb *cb, void *arg,
                       bool *complete);
/* Every entry, in order (the cleaner's input, tests). */
int gr_seg_txn_read_all(const gr_segment_t *seg, gr_aborted_txn_t **out, int64_t *n);

/* First record with timestamp >= ts and offset >= min_offset. */
int gr_seg_find_ts(gr_segment_t *seg, int64_t ts, int64_t min_offset, int64_t *offset, int64_t *found_ts);
/* Release memory and file references (files stay on disk). */
void gr_seg_free(gr_segment_t *seg);

#endif
