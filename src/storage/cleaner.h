/*
 * cleaner.h - log compaction (Kafka's log cleaner) for logs with
 * cleanup.policy=compact.
 *
 * Split in two:
 *   cleaner.c      the engine: offset map, segment rewriting (helper
 *                  thread) and the crash-safe file swap protocol (loop
 *                  thread, and recovery from gr_log_open).  No broker
 *                  state; log.c drives it (gr_log_clean).
 *   cleaner_mgr.c  the scheduler: which compacted logs to clean, one
 *                  pass at a time, and the cleaner-offset-checkpoint file
 *                  of each log dir.
 * The design and the on-disk protocol are described in cleaner.c.
 */
#ifndef GR_CLEANER_H
#define GR_CLEANER_H

#include "gr.h"
#include "log.h"
#include "segment.h"
#include "wire.h"

#include <stdbool.h>
#include <stdint.h>

/* What the cleaner decided for one source segment. */
enum {
    GR_CLEAN_KEEP,          /* unchanged (or beyond the cleaned range): nothing to swap */
    GR_CLEAN_REPLACE,       /* replace with `out` (files <base>.*.cleaned) */
    GR_CLEAN_REMOVE,        /* nothing survived: delete the segment */
};

/* One source segment: a snapshot taken on the loop thread, so the helper
 * thread never looks at the log's own segment objects. */
typedef struct gr_clean_seg {
    int64_t base, next, size;
    gr_file_t *file;        /* a reference to its .log, released on the loop thread:
                             * tells log.c the segment is still the same; the
                             * helper thread reads <dir>/<base>.log by name */
    int action;             /* output: GR_CLEAN_* */
    gr_segment_t *out;      /* output for GR_CLEAN_REPLACE, owned by the job until swapped */
} gr_clean_seg_t;

typedef struct gr_clean_ctl {
    int64_t pid;
    int16_t epoch;
} gr_clean_ctl_t;

/* A segment's .txnindex as it was when the pass began: the helper thread
 * reads these entries of <dir>/<base>.txnindex by name. */
typedef struct gr_clean_txnseg {
    int64_t base;
    int64_t n;
} gr_clean_txnseg_t;

/* A cleaning pass over one log.  Built and finished by log.c on the loop
 * thread; gr_clean_work() runs on a helper thread and touches only the
 * job.  Owner: log.c (freed with gr_clean_job_free). */
typedef struct gr_clean_job {
    /* input */
    char *dir;
    gr_clean_seg_t *segs;   /* the log's first segments, ascending, all below the uncleanable offset */
    int nseg;
    int64_t first_dirty;    /* cleaner checkpoint: everything below was cleaned before */
    int64_t now_ms;
    int64_t delete_retention_ms;
    int32_t index_interval;
    size_t map_bytes;       /* offset map memory bound */
    int64_t *keep_last;     /* owned, ascending: last offsets of the last batch of
                             * each producer the log holds state for */
    size_t nkeep;
    gr_clean_ctl_t *keep_ctl;   /* owned, by pid: producers whose state holds no
                                 * batch (their last entry is a marker), with
                                 * their epoch: such markers stay (as a header) */
    size_t nkeepctl;
    gr_clean_txnseg_t *txnsegs; /* owned: every segment of the log with aborted
                                 * transactions (its .txnindex), ascending */
    int ntxnsegs;
    /* output */
    int rc;
    int64_t map_end;        /* the dirty section was mapped up to here: the new checkpoint */
    int64_t min_horizon;    /* earliest delete horizon of a kept tombstone, INT64_MAX if none */
    gr_clean_stats_t stats;
    /* for log.c */
    gr_log_t *log;
    gr_log_clean_cb *cb;
    void *arg;
} gr_clean_job_t;

/* Helper thread: build the offset map over [first_dirty, ...) and write
 * cleaned copies of the segments below map_end.  Sets rc, map_end, the
 * per-segment actions and stats.  Cleaned files are fsynced (and the
 * directory) before it returns. */
void gr_clean_work(gr_clean_job_t *j);
/* Free the job: unref the source files, delete (discard = true) or just
 * forget the .cleaned outputs still owned by the job. */
void gr_clean_job_free(gr_clean_job_t *j, bool discard);

/* The swap protocol, for one segment "<dir>/<base>" (path without suffix):
 *   1. .index/.timeindex/.txnindex .cleaned -> .swap, then .log.cleaned -> .log.swap
 *      (the .log.swap is the commit point: from here recovery completes)
 *   2. old .log/.index/.timeindex -> .deleted
 *   3. .index/.timeindex .swap -> final, then .log.swap -> .log
 *   4. unlink the .deleted files
 * Returns 0, a negative errno (nothing was changed if it failed in step 1,
 * else recovery finishes the job), or GR_CLEAN_CRASHED (test hook). */
int gr_clean_swap_files(const char *path);
/* Delete the files of a segment that came out empty: .log -> .log.deleted
 * first (the commit point), then the indexes (a missing .txnindex is
 * fine), then unlink. */
int gr_clean_remove_files(const char *path);
/* gr_log_open: finish or roll back an interrupted swap in dir.  A segment
 * with a .log.swap has every .swap renamed into place; .swap files without
 * it, .cleaned and .deleted files are deleted.  Returns 0 or -errno. */
int gr_clean_recover_dir(const char *dir);

/* Test hook: when >= 0, the swap "crashes" (stops, leaving the files as
 * they are, and returns GR_CLEAN_CRASHED) after that many file renames or
 * unlinks.  -1 (default) disables it. */
extern int gr_clean_crash_after;
#define GR_CLEAN_CRASHED (-ECANCELED)

/* ---- scheduler (cleaner_mgr.c, uses the broker and topic registry) ---- */

/* Periodic (from gr_topics_housekeep): when log.cleaner.enable, start a
 * pass on the compacted log that needs it most, at most one at a time and
 * not more often than log.cleaner.backoff.ms when idle.  Reads the
 * cleaner-offset-checkpoint files on the first call. */
void gr_cleaner_tick(int64_t now_ms);
/* Write <log dir>/cleaner-offset-checkpoint for every log dir: now, or
 * (async) on the event loop's metadata lane with the content of now. */
void gr_cleaner_checkpoint(bool async);

#endif
