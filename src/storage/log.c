/*
 * log.c - a partition log: an ordered array of segments (segment.c), the
 * last one active.  Owns the segments; owned by its partition.
 *
 * Append validates every batch of a produce request first (batch.c), then
 * assigns offsets in place and writes the whole request with one pwrite:
 * a request is written entirely or not at all.  Validation follows Kafka's
 * LogValidator: a batch's maxTimestamp becomes the largest of its records'
 * (a batch without timestamps gets -1, so its segment falls back to the
 * file's modification time for retention, as Kafka's
 * LogSegment.largestTimestamp does), and a client's batch may not be a
 * control batch or ask for LogAppendTime.  Rolling happens before an
 * append by size, age (segment.ms) or relative-offset overflow.
 *
 * Transactions (Kafka's UnifiedLog with ProducerStateManager): the
 * producer state (pstate.h) knows every ongoing transaction; its earliest
 * first offset bounds the last stable offset.  A COMMIT or ABORT marker,
 * a control batch only the broker's own writers append (one per append
 * from the marker writer, or among a turn's coordinator records), ends its
 * producer's transaction after the epoch checks; an aborted one gets an
 * entry in the active segment's .txnindex, written before the marker
 * itself (an append that fails takes it back), with the last stable
 * offset of that moment.  Recovery rebuilds the .txnindex of every
 * recovered segment while it replays the producer state, from a snapshot
 * no later than the first recovered segment (later ones are dropped, as
 * Kafka's LogLoader does).
 *
 * Durability follows Kafka: data sits in the page cache until a flush,
 * started by log.flush.interval.messages/ms, by rolling (the old segment
 * is synced) or by gr_log_flush().  fsync runs on a helper thread
 * (gr_ev_submit), which opens the files by name; the recovery point
 * advances when it completes.  Segment files are deleted off the loop
 * too; a reader's gr_file_t keeps a deleted file readable while the
 * descriptor cache keeps it open (fcache.h).
 *
 * Recovery: segments before the recovery point are trusted (indexes
 * loaded and sanity-checked); from the segment holding the recovery point
 * on, an unclean shutdown means every batch is re-validated and the log is
 * cut at the first bad one, later segments deleted.  An interrupted
 * cleaner swap is completed or rolled back first (cleaner.c).
 *
 * Compaction (gr_log_clean): the non-active segments below the first one
 * younger than min.compaction.lag.ms are snapshotted (base, size, a file
 * reference) and rewritten on a helper thread by cleaner.c; the swap runs
 * here on the loop thread, after checking that the segments are still
 * the log's.  The cleaner uses the last data lane, so with more log dirs
 * than lanes a long pass can delay the fsyncs of a dir sharing it.
 */
#include "log.h"
#include "batch.h"
#include "cleaner.h"
#include "fio.h"
#include "hmap.h"
#include "pstate.h"
#include "segment.h"

#include <assert.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct waiter {
    int64_t upto;
    gr_log_flush_cb *cb;
    void *arg;
} waiter_t;

struct gr_log {
    /* first: what a Fetch reads of every partition it names, even idle
     * ones (one cache line per partition and fetch) */
    int64_t start;               /* log start offset */
    int64_t end;                 /* next offset to assign */
    bool offline;                /* a torn append could not be cut back: every
                                  * request fails until a restart recovers it */
    char *dir;                   /* owned */
    gr_log_config_t cfg;
    gr_segment_t **segs;         /* owned, ascending base offsets; last = active */
    int nseg, capseg;
    int64_t rp;                  /* recovery point */
    int64_t size;                /* sum of segment sizes */
    gr_ev_t *ev;
    int lane;
    int64_t unflushed;           /* messages appended since the last flush started */
    int64_t last_flush_ms;
    bool flush_due;              /* the last append hit log.flush.interval.messages */
    bool flushing;               /* a flush job is in flight */
    bool flush_again;            /* start another when it completes */
    bool dir_dirty;              /* files created: fsync the directory */
    bool closed;                 /* closed with jobs in flight: freed by the last done */
    int jobs;                    /* flush and clean jobs in flight */
    int64_t clean_off;           /* cleaner checkpoint: below is cleaned */
    int64_t min_horizon;         /* earliest tombstone delete horizon; 0 = unknown */
    bool cleaning;               /* a clean job is in flight */
    bool sync_failed;            /* the last fsync failed: appends are refused
                                  * until a retried one succeeds */
    bool sync_abandoned;         /* the shutdown sync of its log dir failed:
                                  * close syncs nothing more (gr_log_sync_done) */
    int64_t sync_retry_ms;       /* when the last retry was started (gr_now_ms) */
    bool read_failed;            /* a read of segment read_fail_base failed
                                  * with an I/O error; cleared by the next
                                  * read of it that succeeds */
    int64_t read_fail_base;
    int64_t read_retry_ms;       /* last probe (gr_log_storage_failed) */
    waiter_t *w;
    int nw, capw;
    /* producer state (pstate.h) and its <offset>.snapshot files */
    gr_pstate_t *ps;             /* owned; NULL until a producer appends or
                                  * a snapshot holds one */
    int64_t snap_end;            /* offset of the latest snapshot taken
                                  * (Kafka's lastSnapOffset) */
    int64_t *snaps;              /* offsets of the snapshot files, ascending */
    int nsnap, capsnap;
    int64_t *snap_new;           /* written since the last flush job: fsync */
    int nsnap_new, capsnap_new;
};

static void start_flush(gr_log_t *log);

/* ---------------------------------------------------------- helpers */

static int seg_index(const gr_log_t *log, int64_t offset)
{
    int lo = 0, hi = log->nseg;      /* first segment with base > offset */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo - 1;                   /* -1 when before the first segment */
}

static void segs_push(gr_log_t *log, gr_segment_t *s)
{
    if (log->nseg == log->capseg) {
        log->capseg = log->capseg ? log->capseg * 2 : 8;
        log->segs = gr_realloc(log->segs, (size_t)log->capseg * sizeof(*log->segs));
    }
    log->segs[log->nseg++] = s;
}

static gr_segment_t *active(const gr_log_t *log)
{
    return log->segs[log->nseg - 1];
}

static void unlink_files(const char *path)
{
    static const char *suffix[] = {".log", ".index", ".timeindex", ".txnindex"};
    char name[PATH_MAX];
    for (size_t i = 0; i < GR_ARRAY_LEN(suffix); i++) {
        snprintf(name, sizeof(name), "%s%s", path, suffix[i]);
        if (gr_fio_unlink(name) == -1 && errno != ENOENT)
            gr_warn("log", "cannot delete %s: %s", name, strerror(errno));
    }
}

static void del_work(void *arg)
{
    unlink_files(arg);
}

/* -------------------------------------------------------- snapshots */

static void del_done(void *arg);

static void snap_path(const gr_log_t *log, int64_t off, char *out, size_t n)
{
    snprintf(out, n, "%s/%020lld.snapshot", log->dir, (long long)off);
}

static void i64_push(int64_t **v, int *n, int *cap, int64_t x)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *v = gr_realloc(*v, (size_t)*cap * sizeof(**v));
    }
    (*v)[(*n)++] = x;
}

/* Remove x from a sorted array; true when it was there. */
static bool i64_remove(int64_t *v, int *n, int64_t x)
{
    for (int i = 0; i < *n; i++)
        if (v[i] == x) {
            memmove(v + i, v + i + 1, (size_t)(*n - i - 1) * sizeof(*v));
            (*n)--;
            return true;
        }
    return false;
}

/* Write the producer state as <off>.snapshot (no fsync: the next flush
 * job, or the close, syncs it; a torn or lost one fails its CRC or is
 * missing at the next open, which then takes an older one or the log).
 * Kafka's takeSnapshot: only when off is past the latest snapshot. */
static int snap_take(gr_log_t *log, int64_t off)
{
    if (off <= log->snap_end)
        return 0;
    char path[PATH_MAX];
    uint8_t *buf;
    size_t len;
    int rc = 0;
    snap_path(log, off, path, sizeof(path));
    gr_pstate_encode(log->ps, &buf, &len);
    int fd = gr_fio_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        rc = -errno;
        goto out;
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = gr_fio_write(fd, buf + done, len - done);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1) {
            rc = -errno;
            break;
        }
        done += (size_t)w;
    }
    close(fd);
    if (rc < 0) {
        gr_fio_unlink(path);
        goto out;
    }
    /* offsets only grow: the new file is the last */
    i64_push(&log->snaps, &log->nsnap, &log->capsnap, off);
    i64_push(&log->snap_new, &log->nsnap_new, &log->capsnap_new, off);
    log->snap_end = off;
    log->dir_dirty = true;
    gr_debug("log", "Wrote producer snapshot of %s at offset %lld with %zu producer ids", log->dir, (long long)off,
             gr_pstate_count(log->ps));
out:
    if (rc < 0)
        gr_error("log", "Cannot write producer snapshot %s: %s", path, strerror(-rc));
    free(buf);
    return rc;
}

static void snap_del_work(void *arg)
{
    if (gr_fio_unlink(arg) == -1 && errno != ENOENT)
        gr_warn("log", "cannot delete %s: %s", (char *)arg, strerror(errno));
}

/* Delete the snapshot at off, if there is one (off the loop when async). */
static void snap_drop(gr_log_t *log, int64_t off, bool async)
{
    if (!i64_remove(log->snaps, &log->nsnap, off))
        return;
    i64_remove(log->snap_new, &log->nsnap_new, off);
    char path[PATH_MAX];
    snap_path(log, off, path, sizeof(path));
    char *p = gr_strdup(path);
    if (async && log->ev) {
        gr_ev_submit(log->ev, log->lane, snap_del_work, del_done, p);
    } else {
        snap_del_work(p);
        del_done(p);
    }
}

/* fsync a snapshot file by name (gone: nothing to sync). */
static int snap_sync_name(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return errno == ENOENT ? 0 : -errno;
    int rc = gr_fio_fsync(fd) == -1 ? -errno : 0;
    close(fd);
    return rc;
}

/* After segments were deleted from the head (Kafka's
 * onLogStartOffsetIncremented): the latest snapshot, or the log start. */
static void snap_after_head_deleted(gr_log_t *log)
{
    log->snap_end = log->nsnap ? log->snaps[log->nsnap - 1] : log->start;
}

static void del_done(void *arg)
{
    free(arg);
}

/* Remove segment i from the log and delete its files (off the loop when
 * there is one).  Open fds stay valid for in-flight readers. */
static void drop_segment(gr_log_t *log, int i, bool async)
{
    gr_segment_t *s = log->segs[i];
    log->size -= s->size;
    memmove(log->segs + i, log->segs + i + 1, (size_t)(log->nseg - i - 1) * sizeof(*log->segs));
    log->nseg--;
    snap_drop(log, s->base, async);          /* a snapshot goes with its segment */
    char *path = gr_strdup(s->path);
    gr_seg_free(s);
    if (async && log->ev) {
        gr_ev_submit(log->ev, log->lane, del_work, del_done, path);
    } else {
        del_work(path);
        del_done(path);
    }
}

/* ------------------------------------------------------------ flush */

typedef struct flush_file {
    char *path;                  /* "<dir>/<base>": its .log is synced by name;
                                  * a producer snapshot's full name when snapshot */
    bool indexes;                /* its index files too */
    bool snapshot;
    int64_t snap_off;            /* the snapshot's offset */
} flush_file_t;

typedef struct flush_job {
    gr_log_t *log;
    int64_t target;
    int rc;
    bool sync_failed;            /* rc comes from fsync (not an index write) */
    char *dir;                   /* set when the directory needs an fsync */
    int n;
    flush_file_t *files;
} flush_job_t;

static void flush_work(void *arg)
{
    flush_job_t *j = arg;
    for (int i = 0; i < j->n; i++) {
        int rc = j->files[i].snapshot ? snap_sync_name(j->files[i].path)
                                      : gr_seg_sync_files(j->files[i].path, j->files[i].indexes);
        if (rc < 0 && !j->sync_failed) {
            j->sync_failed = true;
            j->rc = rc;
        }
    }
    if (j->dir && j->rc == 0) {
        int rc = gr_fsync_dir(j->dir);
        if (rc < 0) {
            j->sync_failed = true;
            j->rc = rc;
        }
    }
}

static void fire_waiters(gr_log_t *log, int64_t upto, int rc)
{
    /* callbacks may call gr_log_flush again: take the due ones out first */
    int k = 0, nd = 0;
    waiter_t due[16];
    for (;;) {
        nd = 0;
        k = 0;
        for (int i = 0; i < log->nw; i++) {
            if (log->w[i].upto <= upto && nd < (int)GR_ARRAY_LEN(due))
                due[nd++] = log->w[i];
            else
                log->w[k++] = log->w[i];
        }
        log->nw = k;
        if (nd == 0)
            break;
        for (int i = 0; i < nd; i++)
            if (due[i].cb)
                due[i].cb(due[i].arg, rc);
    }
}

static void flush_done(void *arg)
{
    flush_job_t *j = arg;
    gr_log_t *log = j->log;
    bool had_dir = j->dir != NULL;
    for (int i = 0; i < j->n; i++) {
        /* a snapshot this job did not make durable is synced again later */
        if (j->rc != 0 && !log->closed && j->files[i].snapshot)
            for (int k = 0; k < log->nsnap; k++)
                if (log->snaps[k] == j->files[i].snap_off)
                    i64_push(&log->snap_new, &log->nsnap_new, &log->capsnap_new, j->files[i].snap_off);
        free(j->files[i].path);
    }
    free(j->files);
    free(j->dir);
    log->jobs--;
    log->flushing = false;
    if (log->closed) {
        if (log->jobs == 0)
            free(log);
        free(j);
        return;
    }
    if (j->rc == 0) {
        if (j->target > log->rp)
            log->rp = j->target;
        if (log->sync_failed)
            gr_info("log", "fsync of %s succeeded again: accepting appends, recovery point %lld", log->dir,
                    (long long)log->rp);
        log->sync_failed = false;
        fire_waiters(log, log->rp, 0);
    } else {
        if (j->sync_failed && !log->sync_failed)
            gr_error("log", "fsync of %s failed: %s; refusing appends (KAFKA_STORAGE_ERROR) until an fsync "
                     "succeeds", log->dir, strerror(-j->rc));
        else if (!j->sync_failed)
            gr_error("log", "flush of %s failed: %s", log->dir, strerror(-j->rc));
        log->sync_failed |= j->sync_failed;
        /* whatever this job covered is not known to be durable: the next
         * flush syncs it again */
        for (int i = 0; i < log->nseg; i++)
            if (log->segs[i]->next > log->rp || i == log->nseg - 1)
                log->segs[i]->dirty = log->segs[i]->idx_unsynced = true;
        if (had_dir)
            log->dir_dirty = true;
        fire_waiters(log, j->target, j->rc);
    }
    free(j);
    if (log->flush_again || (log->nw > 0 && log->end > log->rp)) {
        log->flush_again = false;
        start_flush(log);
    }
}

static void start_flush(gr_log_t *log)
{
    if (log->offline) {
        fire_waiters(log, INT64_MAX, GR_EIO);
        return;
    }
    if (log->flushing) {
        log->flush_again = true;
        return;
    }
    flush_job_t *j = gr_calloc(1, sizeof(*j));
    j->log = log;
    j->target = log->end;
    int cap = 0;
    for (int i = 0; i < log->nseg; i++) {
        gr_segment_t *s = log->segs[i];
        if (!s->dirty && !s->idx_unsynced && s->idx_written == s->n_idx && s->tidx_written == s->n_tidx)
            continue;
        int rc = gr_seg_write_indexes(s);
        if (rc < 0 && j->rc == 0)
            j->rc = rc;
        if (j->n == cap) {
            cap = cap ? cap * 2 : 4;
            j->files = gr_realloc(j->files, (size_t)cap * sizeof(*j->files));
        }
        j->files[j->n++] = (flush_file_t){gr_strdup(s->path), s->idx_unsynced, false, -1};
        s->dirty = s->idx_unsynced = false;
    }
    /* producer snapshots written since the last job (Kafka syncs a roll's
     * snapshot with the flush of the old segment) */
    for (int i = 0; i < log->nsnap_new; i++) {
        char path[PATH_MAX];
        snap_path(log, log->snap_new[i], path, sizeof(path));
        if (j->n == cap) {
            cap = cap ? cap * 2 : 4;
            j->files = gr_realloc(j->files, (size_t)cap * sizeof(*j->files));
        }
        j->files[j->n++] = (flush_file_t){gr_strdup(path), false, true, log->snap_new[i]};
    }
    log->nsnap_new = 0;
    if (log->dir_dirty) {
        j->dir = gr_strdup(log->dir);
        log->dir_dirty = false;
    }
    log->unflushed = 0;
    log->flushing = true;
    log->jobs++;
    if (log->ev) {
        gr_ev_submit(log->ev, log->lane, flush_work, flush_done, j);
    } else {
        flush_work(j);
        flush_done(j);
    }
}

/* After a failed fsync: sync again everything above the recovery point
 * (at most every 500 ms). */
static void retry_sync(gr_log_t *log, int64_t now_ms)
{
    if (log->flushing || now_ms - log->sync_retry_ms < 500)
        return;
    log->sync_retry_ms = now_ms;
    for (int i = 0; i < log->nseg; i++)
        if (log->segs[i]->next > log->rp || i == log->nseg - 1)
            log->segs[i]->dirty = log->segs[i]->idx_unsynced = true;
    log->dir_dirty = true;
    start_flush(log);
}

void gr_log_flush(gr_log_t *log, int64_t upto, gr_log_flush_cb *cb, void *arg)
{
    if (upto > log->end)
        upto = log->end;
    if (log->rp >= upto) {
        if (cb)
            cb(arg, 0);
        return;
    }
    if (log->nw == log->capw) {
        log->capw = log->capw ? log->capw * 2 : 8;
        log->w = gr_realloc(log->w, (size_t)log->capw * sizeof(*log->w));
    }
    log->w[log->nw++] = (waiter_t){upto, cb, arg};
    start_flush(log);
}

bool gr_log_flush_due(const gr_log_t *log)
{
    return log->flush_due;
}

bool gr_log_unflushed(const gr_log_t *log)
{
    return log->end > log->rp;
}

bool gr_log_snapshot_due(const gr_log_t *log)
{
    return !log->offline && (log->end > log->snap_end || log->nsnap_new > 0);
}

int gr_log_sync_prepare(gr_log_t *log, int64_t *upto)
{
    if (log->offline || log->flushing)
        return log->offline ? GR_EIO : GR_AGAIN;
    int rc = gr_seg_seal(active(log));
    for (int i = 0; i < log->nseg && rc == 0; i++)
        rc = gr_seg_write_indexes(log->segs[i]);
    /* the clean shutdown's producer snapshot, covered by the sync */
    if (rc == 0)
        rc = snap_take(log, log->end);
    *upto = log->end;
    return rc;
}

void gr_log_sync_done(gr_log_t *log, int64_t upto, int rc)
{
    assert(!log->flushing);
    if (rc == 0) {
        for (int i = 0; i < log->nseg; i++) {
            gr_segment_t *s = log->segs[i];
            if (s->idx_written == s->n_idx && s->tidx_written == s->n_tidx)
                s->dirty = s->idx_unsynced = false;
        }
        log->dir_dirty = false;
        log->unflushed = 0;
        log->nsnap_new = 0;
        if (upto > log->rp)
            log->rp = upto;
        log->sync_failed = false;
        fire_waiters(log, log->rp, 0);
    } else {
        log->sync_failed = true;
        log->sync_abandoned = true;
        fire_waiters(log, INT64_MAX, rc);
    }
}

/* ------------------------------------------------------------- roll */

static int roll(gr_log_t *log, int64_t now_ms)
{
    gr_segment_t *s;
    int rc = gr_seg_seal(active(log));
    if (rc < 0)
        return rc;
    if (active(log)->size == 0)
        return 0;
    if ((rc = gr_seg_create(log->dir, log->end, now_ms, &s)) < 0)
        return rc;
    segs_push(log, s);
    log->dir_dirty = true;
    gr_debug("log", "rolled %s at offset %lld", log->dir, (long long)log->end);
    /* Kafka's roll: a producer snapshot at the new segment's base offset,
     * so that recovery can start from it and scan only this segment (a
     * failure is logged: recovery then starts from an older one) */
    snap_take(log, log->end);
    start_flush(log);            /* the old segment becomes durable */
    return 0;
}

/* ------------------------------------------------------------ append */

/* The rules for a producer's batch header (Kafka's LogValidator.validateBatch
 * for AppendOrigin.CLIENT, and the producer state it would find).  true
 * (info->serr set) when the batch is refused. */
static bool client_header_refused(const uint8_t *p, const gr_batch_info_t *bi, gr_append_info_t *info)
{
    if (bi->attributes & GR_ATTR_CONTROL) {
        info->serr = GR_SERR_INVALID_RECORD;
        info->error_message = "Clients are not allowed to write control records";
    } else if (bi->producer_id >= 0 && (int32_t)gr_be32(p + GR_BOFF_BASE_SEQ) < 0) {
        info->serr = GR_SERR_INVALID_RECORD;
        info->error_message = "Invalid sequence number in a record batch with a producer id";
    } else if ((bi->attributes & GR_ATTR_TRANSACTIONAL) && bi->producer_id < 0) {
        /* a transaction belongs to a producer id (the coordinator's) */
        info->serr = GR_SERR_INVALID_RECORD;
        info->error_message = "Transactional record batch without a producer id";
    } else if (bi->attributes & GR_ATTR_TIMESTAMP_TYPE) {
        /* Kafka refuses this for LogAppendTime topics and, for CreateTime
         * ones, turns the batch into CreateTime with the producer's
         * maxTimestamp: refused for both here */
        info->serr = GR_SERR_INVALID_TIMESTAMP;
        info->error_message = "Invalid timestamp type in message. Producer should not set timestamp type to "
                              "LogAppendTime.";
    } else {
        return false;
    }
    return true;
}

/* The producer updates of one append: one per producer id, in the order
 * their first batch comes, found by a linear search while few, by a hash
 * map beyond (rebuilt when the array moves). */
typedef struct pend_ent {
    gr_pupdate_t u;
    gr_hnode_t node;
} pend_ent_t;

typedef struct pend {
    pend_ent_t *e;
    int n, cap;
    gr_hmap_t map;               /* by pid, while cap > PEND_LINEAR */
    pend_ent_t inl[4];
} pend_t;

#define PEND_LINEAR 8

static gr_pupdate_t *pend_find(const pend_t *p, int64_t pid)
{
    if (p->cap <= PEND_LINEAR) {
        for (int k = 0; k < p->n; k++)
            if (p->e[k].u.pid == pid)
                return &p->e[k].u;
        return NULL;
    }
    for (gr_hnode_t *n = gr_hmap_first(&p->map, gr_hash_int((uint64_t)pid)); n; n = gr_hmap_next(n)) {
        pend_ent_t *x = GR_CONTAINER(n, pend_ent_t, node);
        if (x->u.pid == pid)
            return &x->u;
    }
    return NULL;
}

static gr_pupdate_t *pend_get(pend_t *p, const gr_pstate_t *ps, int64_t pid, gr_porigin_t origin)
{
    gr_pupdate_t *found = pend_find(p, pid);
    if (found)
        return found;
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : (int)GR_ARRAY_LEN(p->inl);
        if (p->cap == 0) {
            p->e = p->inl;
        } else if (p->e == p->inl) {
            p->e = gr_malloc((size_t)cap * sizeof(*p->e));
            memcpy(p->e, p->inl, (size_t)p->n * sizeof(*p->e));
        } else {
            p->e = gr_realloc(p->e, (size_t)cap * sizeof(*p->e));
        }
        p->cap = cap;
        if (p->cap > PEND_LINEAR) {         /* the nodes moved: map them again */
            gr_hmap_free(&p->map);
            gr_hmap_init(&p->map, (uint32_t)cap);
            for (int k = 0; k < p->n; k++)
                gr_hmap_insert(&p->map, &p->e[k].node, gr_hash_int((uint64_t)p->e[k].u.pid));
        }
    }
    pend_ent_t *x = &p->e[p->n++];
    gr_pupdate_init(&x->u, ps, pid, origin);
    if (p->cap > PEND_LINEAR)
        gr_hmap_insert(&p->map, &x->node, gr_hash_int((uint64_t)pid));
    return &x->u;
}

static void pend_free(pend_t *p)
{
    if (p->e != p->inl)
        free(p->e);
    gr_hmap_free(&p->map);
}

/* The transactions an append aborts (its ABORT markers), with the last
 * stable offset of each for its .txnindex entry. */
typedef struct aborts {
    gr_aborted_txn_t *a;
    int n, cap;
    gr_aborted_txn_t inl[2];
} aborts_t;

static void aborts_push(aborts_t *t, const gr_aborted_txn_t *x)
{
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : (int)GR_ARRAY_LEN(t->inl);
        if (t->cap == 0) {
            t->a = t->inl;
        } else if (t->a == t->inl) {
            t->a = gr_malloc((size_t)cap * sizeof(*t->a));
            memcpy(t->a, t->inl, (size_t)t->n * sizeof(*t->a));
        } else {
            t->a = gr_realloc(t->a, (size_t)cap * sizeof(*t->a));
        }
        t->cap = cap;
    }
    t->a[t->n++] = *x;
}

static void aborts_free(aborts_t *t)
{
    if (t->a != t->inl)
        free(t->a);
}

/* The last stable offset recorded with a transaction of pid that a marker
 * at marker_offset aborts (ProducerStateManager.lastStableOffset): the
 * first offset of the earliest transaction of another producer still
 * ongoing at that point of the append (its state before the append, as
 * the append's earlier batches changed it), else the marker's offset + 1. */
static int64_t abort_lso(const gr_log_t *log, const pend_t *pend, int64_t pid, int64_t marker_offset)
{
    for (const gr_pentry_t *e = gr_pstate_ongoing_first(log->ps); e; e = e->txn_next) {
        if (e->pid == pid)
            continue;
        const gr_pupdate_t *u = pend_find(pend, e->pid);
        if (!u || u->txn_first_offset >= 0)
            return u ? u->txn_first_offset : e->txn_first_offset;
    }
    /* transactions begun earlier in this append come after every one
     * that was ongoing before it */
    int64_t best = -1;
    for (int k = 0; k < pend->n; k++) {
        const gr_pupdate_t *u = &pend->e[k].u;
        const gr_pentry_t *e = gr_pstate_get(log->ps, u->pid);
        if (u->pid != pid && u->txn_first_offset >= 0 && (!e || e->txn_first_offset < 0) &&
            (best < 0 || u->txn_first_offset < best))
            best = u->txn_first_offset;
    }
    return best >= 0 ? best : marker_offset + 1;
}

/* Kafka's analyzeAndValidateProducerState, once every batch passed the
 * record checks: each batch with a producer id (control batches are the
 * transaction coordinator's markers, not producer data) is checked against
 * its producer's state at the offsets it would get.  A client's batch
 * that repeats one of the last 5 of its producer makes the whole append
 * answer with that batch's offsets (info->duplicate) and write nothing.
 * Returns 0 (go on, or *dup), or GR_EINVAL with info->serr set. */
static int producer_checks(gr_log_t *log, const uint8_t *data, size_t len, gr_porigin_t origin, int64_t lat,
                           pend_t *pend, aborts_t *aborts, gr_append_info_t *info, bool *dup)
{
    int64_t next = log->end;
    *dup = false;
    for (size_t off = 0; off < len;) {
        const uint8_t *p = data + off;
        int32_t delta = (int32_t)gr_be32(p + GR_BOFF_LAST_DELTA);
        int64_t first = next, pid = (int64_t)gr_be64(p + GR_BOFF_PRODUCER_ID);
        int16_t attr = (int16_t)gr_be16(p + GR_BOFF_ATTRIBUTES);
        int32_t size = gr_batch_size(p);
        next += (int64_t)delta + 1;
        off += (size_t)size;
        if (pid < 0)
            continue;
        int16_t epoch = (int16_t)gr_be16(p + GR_BOFF_PRODUCER_EPOCH);
        if (attr & GR_ATTR_CONTROL) {
            /* a transaction marker (clients' control batches were refused) */
            int16_t type;
            int32_t coord_epoch;
            int64_t mts;
            int r = gr_batch_control_marker(p, (size_t)size, &type, &coord_epoch, &mts);
            if (r == GR_ENOENT || (r == 0 && type != GR_MARKER_ABORT && type != GR_MARKER_COMMIT))
                continue;
            if (r < 0) {
                info->serr = GR_SERR_INVALID_RECORD;
                info->error_message = "Invalid transaction marker";
                return GR_EINVAL;
            }
            gr_pupdate_t *u = pend_get(pend, log->ps, pid, origin);
            gr_completed_txn_t done;
            bool completed;
            const char *msg = NULL;
            gr_serr_t err = gr_pupdate_marker(u, epoch, coord_epoch, first, lat >= 0 ? lat : mts,
                                            type == GR_MARKER_ABORT, &done, &completed, &msg);
            if (err != GR_SERR_NONE) {
                info->serr = err;
                info->error_message = msg;
                return GR_EINVAL;
            }
            if (completed && done.aborted) {
                /* the state before this marker: u already ended the
                 * transaction, abort_lso skips pid anyway */
                gr_aborted_txn_t a = {pid, done.first_offset, done.last_offset,
                                      abort_lso(log, pend, pid, done.last_offset)};
                aborts_push(aborts, &a);
            }
            continue;
        }
        int32_t seq = (int32_t)gr_be32(p + GR_BOFF_BASE_SEQ);
        int32_t last_seq = gr_seq_increment(seq, delta);
        if (origin == GR_PORIGIN_CLIENT) {
            const gr_pbatch_t *d = gr_pstate_find_duplicate(log->ps, pid, epoch, seq, last_seq);
            if (d) {
                info->base_offset = gr_sub_sat(d->last_offset, d->offset_delta);
                info->last_offset = d->last_offset;
                info->log_append_time = d->timestamp;   /* as Kafka's appendInfo */
                info->duplicate = true;
                *dup = true;
                return 0;
            }
        }
        int64_t ts = lat >= 0 ? lat : (int64_t)gr_be64(p + GR_BOFF_MAX_TS);
        const char *msg = NULL;
        gr_serr_t err = gr_pupdate_data(pend_get(pend, log->ps, pid, origin), epoch, seq, last_seq, first, ts,
                                      (attr & GR_ATTR_TRANSACTIONAL) != 0, &msg);
        if (err != GR_SERR_NONE) {
            info->serr = err;
            info->error_message = msg;
            return GR_EINVAL;
        }
    }
    return 0;
}

/* After the append: the batches and updates go into the producer state. */
static void producer_apply(gr_log_t *log, const uint8_t *data, size_t len, int64_t lat, pend_t *pend)
{
    for (size_t off = 0; off < len;) {
        const uint8_t *p = data + off;
        int64_t pid = (int64_t)gr_be64(p + GR_BOFF_PRODUCER_ID);
        int16_t attr = (int16_t)gr_be16(p + GR_BOFF_ATTRIBUTES);
        off += (size_t)gr_batch_size(p);
        if (pid < 0 || (attr & GR_ATTR_CONTROL))
            continue;
        int32_t delta = (int32_t)gr_be32(p + GR_BOFF_LAST_DELTA);
        gr_pbatch_t b = {
            .last_offset = (int64_t)gr_be64(p) + delta,
            .timestamp = lat >= 0 ? lat : (int64_t)gr_be64(p + GR_BOFF_MAX_TS),
            .last_seq = gr_seq_increment((int32_t)gr_be32(p + GR_BOFF_BASE_SEQ), delta),
            .offset_delta = delta,
        };
        gr_pstate_add_batch(log->ps, pid, (int16_t)gr_be16(p + GR_BOFF_PRODUCER_EPOCH), &b);
    }
    for (int k = 0; k < pend->n; k++)
        gr_pstate_update(log->ps, &pend->e[k].u);
    gr_pstate_enforce_limit();
}

int gr_log_append(gr_log_t *log, uint8_t *data, size_t len, int32_t leader_epoch,
                  bool allow_zstd, int64_t now_ms, gr_append_info_t *info)
{
    return gr_log_append_as(log, data, len, leader_epoch, allow_zstd, GR_APPEND_CLIENT, now_ms, info);
}

int gr_log_append_as(gr_log_t *log, uint8_t *data, size_t len, int32_t leader_epoch, bool allow_zstd,
                     gr_append_origin_t origin, int64_t now_ms, gr_append_info_t *info)
{
    uint8_t *conv = NULL;
    size_t conv_len = 0;
    int rc = 0;
    int64_t noffsets = 0, nrecords = 0, txn0 = -1;
    int32_t nbatches = 0, nproducer = 0;
    pend_t pend;
    aborts_t aborts;
    memset(&pend, 0, sizeof(pend));
    memset(&aborts, 0, sizeof(aborts));
    memset(info, 0, sizeof(*info));
    info->base_offset = info->last_offset = info->log_append_time = -1;
    log->flush_due = false;
    if (log->offline || log->sync_failed) {
        if (log->sync_failed)
            retry_sync(log, now_ms);
        info->serr = GR_SERR_IO;
        info->error_message = log->offline ? "the partition is offline after a storage error"
                                           : "the last fsync of the partition failed";
        return GR_EIO;
    }

    if (len > GR_BOFF_MAGIC && data[GR_BOFF_MAGIC] < 2) {
        /* the converted batch is stored uncompressed: it may not exceed
         * max.message.bytes (Kafka checks the batch it writes too) */
        rc = gr_batch_upconvert_legacy(data, len, (size_t)GR_MAX(log->cfg.max_message_bytes, 0), &conv,
                                       &conv_len);
        if (rc == GR_ETOOBIG) {
            info->serr = GR_SERR_BATCH_TOO_LARGE;
            info->error_message = "legacy message set too large once converted (max.message.bytes)";
            goto out;
        }
        if (rc < 0) {
            info->serr = GR_SERR_CORRUPT_BATCH;
            info->error_message = "invalid legacy message set";
            rc = GR_ECORRUPT;
            goto out;
        }
        data = conv;
        len = conv_len;
    }
    if (len == 0 || len > INT32_MAX) {
        info->serr = len ? GR_SERR_BATCH_TOO_LARGE : GR_SERR_CORRUPT_BATCH;
        rc = len ? GR_ETOOBIG : GR_ECORRUPT;
        goto out;
    }
    for (size_t off = 0; off < len;) {
        gr_batch_info_t bi;
        gr_batch_recs_t recs;
        rc = gr_batch_check_into(data + off, len - off, &bi, &recs);
        if (rc < 0) {
            info->serr = GR_SERR_CORRUPT_BATCH;
            info->error_message = rc == GR_AGAIN ? "truncated record batch" : "corrupt record batch";
            rc = GR_ECORRUPT;
            goto out;
        }
        if (bi.size > log->cfg.max_message_bytes) {
            info->serr = GR_SERR_BATCH_TOO_LARGE;
            rc = GR_ETOOBIG;
            goto out;
        }
        if ((bi.attributes & GR_ATTR_COMPRESSION_MASK) == GR_COMPRESSION_ZSTD && !allow_zstd) {
            info->serr = GR_SERR_COMPRESSION;
            rc = GR_EINVAL;
            goto out;
        }
        if (bi.record_count != bi.last_offset_delta + 1) {
            /* only the cleaner writes batches with offset gaps */
            info->serr = GR_SERR_CORRUPT_BATCH;
            info->error_message = "record count does not match lastOffsetDelta";
            rc = GR_ECORRUPT;
            goto out;
        }
        if (origin == GR_APPEND_CLIENT && client_header_refused(data + off, &bi, info)) {
            rc = GR_EINVAL;
            goto out;
        }
        gr_batch_scan_t scan;
        rc = gr_batch_scan_into(data + off, &bi, log->cfg.compact ? &scan : NULL, &recs);
        if (rc == GR_ETOOBIG) {
            info->serr = GR_SERR_BATCH_TOO_LARGE;
            info->error_message = "record batch decompresses to more than the broker accepts";
            goto out;
        }
        if (rc < 0) {
            info->serr = rc == GR_EINVAL ? GR_SERR_INVALID_RECORD : GR_SERR_CORRUPT_BATCH;
            info->error_message = "records do not parse";
            goto out;
        }
        if (!recs.offsets_in_order) {
            /* the cleaner and every reader take them for offsets */
            info->serr = GR_SERR_INVALID_RECORD;
            info->error_message = "record offset deltas must be 0, 1, ..., recordCount-1";
            rc = GR_EINVAL;
            goto out;
        }
        if (log->cfg.compact && !(bi.attributes & GR_ATTR_CONTROL) && scan.null_key) {
            info->serr = GR_SERR_INVALID_RECORD;
            info->error_message = "Compacted topic cannot accept message without key";
            rc = GR_EINVAL;
            goto out;
        }
        /* the segment's largest timestamp (retention, ListOffsets) comes
         * from what the records say, not from the producer's header */
        if (!(bi.attributes & GR_ATTR_TIMESTAMP_TYPE))
            gr_batch_set_max_timestamp(data + off, recs.max_timestamp);
        noffsets += (int64_t)bi.last_offset_delta + 1;
        nrecords += bi.record_count;
        nbatches++;
        if (bi.producer_id >= 0)
            nproducer++;
        off += (size_t)bi.size;
    }

    int64_t lat = log->cfg.log_append_time ? now_ms : -1;
    if (nproducer > 0) {
        bool dup;
        if (log->ps == NULL)
            log->ps = gr_pstate_new();
        rc = producer_checks(log, data, len, origin == GR_APPEND_CLIENT ? GR_PORIGIN_CLIENT : GR_PORIGIN_COORDINATOR,
                             lat, &pend, &aborts, info, &dup);
        if (rc < 0 || dup)
            goto out;
    }

    gr_segment_t *s = active(log);
    int64_t last = log->end + noffsets - 1;
    if (s->size > 0 &&
        (s->size + (int64_t)len > log->cfg.segment_bytes ||
         s->size + (int64_t)len > INT32_MAX ||
         now_ms - s->roll_base_ms > log->cfg.segment_ms ||
         last - s->base > INT32_MAX)) {
        if ((rc = roll(log, now_ms)) < 0)
            goto io_err;
        s = active(log);
    }
    int64_t next = log->end;
    for (size_t off = 0; off < len;) {
        uint8_t *p = data + off;
        gr_batch_assign(p, next, leader_epoch, lat);
        next += (int64_t)(int32_t)gr_be32(p + GR_BOFF_LAST_DELTA) + 1;
        off += (size_t)gr_batch_size(p);
    }
    /* the aborted transactions' index entries first: a marker in the log
     * always has its entry */
    txn0 = s->ntxn;
    for (int i = 0; i < aborts.n; i++)
        if ((rc = gr_seg_txn_append(s, &aborts.a[i])) < 0)
            goto io_err;
    if ((rc = gr_seg_append(s, data, len, now_ms, log->cfg.index_interval_bytes)) < 0)
        goto io_err;
    info->base_offset = log->end;
    info->last_offset = next - 1;
    info->log_append_time = lat;
    info->record_count = (int32_t)nrecords;
    info->batch_count = nbatches;
    log->end = next;
    log->size += (int64_t)len;
    if (pend.n > 0)
        producer_apply(log, data, len, lat, &pend);
    log->unflushed += nrecords;
    if (log->unflushed >= log->cfg.flush_messages) {
        log->flush_due = true;
        start_flush(log);
    }
    rc = 0;
    goto out;
io_err:
    gr_error("log", "append to %s failed: %s", log->dir, strerror(-rc));
    if (txn0 >= 0 && active(log)->ntxn > txn0 && gr_seg_txn_truncate(active(log), txn0) < 0)
        active(log)->broken = true;     /* an entry without its marker: recovery rebuilds it */
    if (active(log)->broken && !log->offline) {
        log->offline = true;
        gr_error("log", "Partition log %s is offline: a failed append could not be rolled back; every request "
                 "gets KAFKA_STORAGE_ERROR until a restart recovers it", log->dir);
    }
    info->serr = GR_SERR_IO;
    rc = GR_EIO;
out:
    pend_free(&pend);
    aborts_free(&aborts);
    free(conv);
    return rc;
}

/* -------------------------------------------------------------- read */

/* Track read errors of segment s (rc from a gr_seg_* read). */
static void read_result(gr_log_t *log, const gr_segment_t *s, int rc)
{
    if (rc == GR_EIO) {
        if (!log->read_failed)
            gr_error("log", "Read of %s.log failed: %s; Fetch and ListOffsets by timestamp get "
                     "KAFKA_STORAGE_ERROR until a read succeeds", s->path, strerror(-rc));
        log->read_failed = true;
        log->read_fail_base = s->base;
    } else if (rc == 0 && log->read_failed && s->base == log->read_fail_base) {
        log->read_failed = false;
        gr_info("log", "Reads of %s.log succeed again", s->path);
    }
}

/* After a read error: read the failed segment's first batch header again
 * (at most every 500 ms). */
static void retry_read(gr_log_t *log, int64_t now_ms)
{
    if (now_ms - log->read_retry_ms < 500)
        return;
    log->read_retry_ms = now_ms;
    int i = seg_index(log, log->read_fail_base);
    if (i < 0 || log->segs[i]->base != log->read_fail_base) {
        log->read_failed = false;        /* that segment is gone */
        return;
    }
    gr_segment_t *s = log->segs[i];
    int64_t pos;
    int32_t len;
    int rc = gr_seg_read(s, s->base, INT64_MAX, 1, true, &pos, &len, NULL);
    read_result(log, s, rc == GR_ENOENT ? 0 : rc);
}

bool gr_log_storage_failed(gr_log_t *log, int64_t now_ms)
{
    if (log->sync_failed)
        retry_sync(log, now_ms);
    if (log->read_failed)
        retry_read(log, now_ms);
    return log->offline || log->sync_failed || log->read_failed;
}

int gr_log_read(gr_log_t *log, int64_t offset, int32_t max_bytes, int64_t upper,
                bool min_one, gr_log_slice_t *out)
{
    memset(out, 0, sizeof(*out));
    out->next_offset = -1;
    if (log->offline)
        return GR_EIO;
    if (offset < log->start || offset > log->end)
        return GR_ERANGE;
    if (offset == log->end)
        return 0;
    int i = seg_index(log, offset);
    if (i < 0)
        i = 0;
    for (; i < log->nseg; i++) {
        gr_segment_t *s = log->segs[i];
        int64_t pos;
        int32_t len;
        int rc = gr_seg_read(s, offset, upper, max_bytes, min_one, &pos, &len, &out->next_offset);
        if (rc == GR_ENOENT)
            continue;
        read_result(log, s, rc);
        if (rc < 0)
            return rc == GR_ECORRUPT ? GR_EIO : rc;
        out->file = s->log;
        out->pos = pos;
        out->len = len;
        return 0;
    }
    return 0;
}

int64_t gr_log_last_stable_offset(const gr_log_t *log)
{
    int64_t fu = gr_pstate_first_unstable(log->ps);
    if (fu < 0)
        return log->end;
    return GR_MIN(GR_MAX(fu, log->start), log->end);
}

int gr_log_collect_aborted(gr_log_t *log, int64_t fetch_offset, int64_t upper, gr_seg_txn_cb *cb, void *arg)
{
    bool complete = false;
    for (int i = GR_MAX(0, seg_index(log, fetch_offset)); i < log->nseg && !complete; i++) {
        int rc = gr_seg_txn_collect(log->segs[i], fetch_offset, upper, cb, arg, &complete);
        if (rc < 0) {
            gr_error("log", "Cannot read %s.txnindex: %s", log->segs[i]->path, strerror(-rc));
            return GR_EIO;
        }
    }
    return 0;
}

int64_t gr_log_offset_for_timestamp(gr_log_t *log, int64_t ts, int64_t *found_ts)
{
    for (int i = 0; i < log->nseg; i++) {
        gr_segment_t *s = log->segs[i];
        if (s->max_ts < ts || s->next <= log->start)
            continue;
        int64_t off, fts;
        int rc = gr_seg_find_ts(s, ts, log->start, &off, &fts);
        read_result(log, s, rc);
        if (rc == 0) {
            *found_ts = fts;
            return off;
        }
        if (rc == GR_EIO || rc == GR_ETOOBIG) {
            *found_ts = -1;
            return rc;                  /* a read error; over the caller's budget */
        }
        if (rc != GR_ENOENT)
            gr_warn("log", "timestamp lookup in %s.log failed: %s", s->path, strerror(-rc));
    }
    *found_ts = -1;
    return -1;
}

int gr_log_max_timestamp(gr_log_t *log, int64_t *offset, int64_t *ts)
{
    gr_segment_t *best = NULL;
    for (int i = 0; i < log->nseg; i++) {
        gr_segment_t *s = log->segs[i];
        if (s->max_ts >= 0 && s->next > log->start && (best == NULL || s->max_ts > best->max_ts))
            best = s;
    }
    *offset = *ts = -1;
    if (best == NULL)
        return 0;
    int64_t off, fts;
    /* the first record carrying the max timestamp */
    int rc = gr_seg_find_ts(best, best->max_ts, log->start, &off, &fts);
    read_result(log, best, rc);
    if (rc == GR_EIO || rc == GR_ETOOBIG)
        return rc;
    if (rc == 0) {
        *offset = off;
        *ts = fts;
    } else {
        *offset = best->max_ts_off;
        *ts = best->max_ts;
    }
    return 0;
}

/* ------------------------------------------------------ housekeeping */

int64_t gr_log_flush_tick(gr_log_t *log, int64_t now_ms)
{
    if (log->cfg.flush_ms == INT64_MAX || log->offline)
        return INT64_MAX;
    int64_t since = gr_sub_sat(now_ms, log->last_flush_ms);
    if (since < log->cfg.flush_ms)
        return log->cfg.flush_ms - since;
    /* a failed fsync is retried by gr_log_maintain and appends */
    if (log->end > log->rp && !log->sync_failed) {
        log->last_flush_ms = now_ms;
        start_flush(log);
    }
    return log->cfg.flush_ms;
}

int64_t gr_log_maintain(gr_log_t *log, int64_t now_ms)
{
    if (log->offline)
        return INT64_MAX;
    if (log->read_failed)
        retry_read(log, now_ms);
    if (log->sync_failed) {
        retry_sync(log, now_ms);
        return 500;
    }
    int64_t next = gr_log_flush_tick(log, now_ms);
    return log->read_failed ? GR_MIN(next, 500) : next;
}

int gr_log_housekeep(gr_log_t *log, int64_t now_ms)
{
    int deleted = 0;
    gr_segment_t *s = active(log);
    if (log->offline)
        return 0;
    if (s->size > 0 && now_ms - s->roll_base_ms > log->cfg.segment_ms) {
        if (roll(log, now_ms) < 0)
            gr_error("log", "cannot roll %s", log->dir);
    }
    if (log->cfg.delete_ && log->cfg.retention_ms >= 0) {
        while (log->nseg > 0) {
            s = log->segs[0];
            int64_t ts = s->max_ts >= 0 ? s->max_ts : s->mtime_ms;
            if (s->size == 0 && log->nseg > 1) {
                /* an empty first segment left by the cleaner */
                log->start = GR_MAX(log->start, log->segs[1]->base);
                drop_segment(log, 0, true);
                deleted++;
                continue;
            }
            if (s->size == 0 || now_ms - ts <= log->cfg.retention_ms)
                break;
            if (log->nseg == 1) {
                if (roll(log, now_ms) < 0 || log->nseg == 1)
                    break;
            }
            log->start = GR_MAX(log->start, log->segs[1]->base);
            drop_segment(log, 0, true);
            deleted++;
        }
    }
    if (log->cfg.delete_ && log->cfg.retention_bytes >= 0) {
        while (log->nseg > 1 && log->size - log->segs[0]->size >= log->cfg.retention_bytes) {
            log->start = GR_MAX(log->start, log->segs[1]->base);
            drop_segment(log, 0, true);
            deleted++;
        }
    }
    gr_log_maintain(log, now_ms);
    if (deleted) {
        snap_after_head_deleted(log);
        gr_info("log", "Deleted %d segment(s) of %s, log start offset %lld", deleted, log->dir,
                (long long)log->start);
    }
    return deleted;
}

void gr_log_advance_start(gr_log_t *log, int64_t offset)
{
    if (offset > log->end)
        offset = log->end;
    if (offset <= log->start)
        return;
    log->start = offset;
    while (log->nseg > 1 && log->segs[1]->base <= offset)
        drop_segment(log, 0, true);
    snap_after_head_deleted(log);
}

/* -------------------------------------------------------- compaction */

/* The cleanable segments: [0, n) with n the first non-active segment from
 * the dirty one on that is younger than min.compaction.lag.ms (or the
 * active segment).  *first_dirty is the cleaner checkpoint clamped to the
 * log start. */
static int clean_range(const gr_log_t *log, int64_t now_ms, int64_t *first_dirty)
{
    int64_t fd = GR_MAX(log->clean_off, log->start);
    int n = log->nseg - 1;
    int from = GR_MAX(0, seg_index(log, fd));
    if (log->cfg.min_compaction_lag_ms > 0) {
        for (int i = from; i < n; i++) {
            const gr_segment_t *s = log->segs[i];
            int64_t ts = s->max_ts >= 0 ? s->max_ts : s->mtime_ms;
            if (s->size > 0 && ts > now_ms - log->cfg.min_compaction_lag_ms) {
                n = i;
                break;
            }
        }
    }
    *first_dirty = fd;
    return n;
}

static double ratio_of(const gr_log_t *log, int n, int64_t first_dirty, int64_t *dirty_out)
{
    int64_t clean = 0, dirty = 0;
    for (int i = 0; i < n; i++) {
        if (log->segs[i]->next <= first_dirty)
            clean += log->segs[i]->size;
        else
            dirty += log->segs[i]->size;
    }
    *dirty_out = dirty;
    return clean + dirty > 0 ? (double)dirty / (double)(clean + dirty) : 0.0;
}

double gr_log_dirty_ratio(const gr_log_t *log, int64_t now_ms)
{
    int64_t fd, dirty;
    int n = clean_range(log, now_ms, &fd);
    return ratio_of(log, n, fd, &dirty);
}

int64_t gr_log_clean_offset(const gr_log_t *log) { return log->clean_off; }
void gr_log_set_clean_offset(gr_log_t *log, int64_t offset)
{
    /* beyond the end: a stale checkpoint (topic re-created), clean it all */
    log->clean_off = offset > log->end ? 0 : GR_MAX(0, offset);
}
bool gr_log_compacted(const gr_log_t *log) { return log->cfg.compact; }

static void clean_work(void *arg)
{
    gr_clean_work(arg);
}

/* Swap the cleaned segments in, in ascending order; stop at the first
 * failure (a prefix stays swapped: see cleaner.c). */
static int clean_swap(gr_log_t *log, gr_clean_job_t *j)
{
    /* every segment to change must still be the same, non-active segment
     * (retention may have deleted some meanwhile) */
    for (int i = 0; i < j->nseg; i++) {
        const gr_clean_seg_t *c = &j->segs[i];
        if (c->action == GR_CLEAN_KEEP)
            continue;
        int k = seg_index(log, c->base);
        if (k < 0 || k >= log->nseg - 1 || log->segs[k]->base != c->base || log->segs[k]->log != c->file ||
            (c->action == GR_CLEAN_REMOVE && k == 0))
            return GR_AGAIN;
    }
    for (int i = 0; i < j->nseg; i++) {
        gr_clean_seg_t *c = &j->segs[i];
        if (c->action == GR_CLEAN_KEEP)
            continue;
        int k = seg_index(log, c->base);
        gr_segment_t *old = log->segs[k];
        int rc;
        log->dir_dirty = true;
        if (c->action == GR_CLEAN_REPLACE) {
            if ((rc = gr_clean_swap_files(old->path)) < 0)
                return rc;
            log->size += c->out->size - old->size;
            c->out->cleaned = false;     /* its files have their final names */
            gr_seg_adopt(c->out);
            log->segs[k] = c->out;
            c->out = NULL;
        } else {
            if ((rc = gr_clean_remove_files(old->path)) < 0)
                return rc;
            snap_drop(log, old->base, true);
            log->size -= old->size;
            memmove(log->segs + k, log->segs + k + 1, (size_t)(log->nseg - k - 1) * sizeof(*log->segs));
            log->nseg--;
        }
        gr_seg_free(old);        /* readers keep their own file references */
    }
    return 0;
}

static void clean_done(void *arg)
{
    gr_clean_job_t *j = arg;
    gr_log_t *log = j->log;
    int rc = j->rc;
    log->jobs--;
    log->cleaning = false;
    if (log->closed) {
        if (j->cb)
            j->cb(j->arg, -ECANCELED, &j->stats);
        gr_clean_job_free(j, true);
        if (log->jobs == 0)
            free(log);
        return;
    }
    if (rc == 0)
        rc = clean_swap(log, j);
    if (rc == 0) {
        log->clean_off = GR_MAX(log->clean_off, j->map_end);
        log->min_horizon = j->min_horizon;
        if (j->stats.segments_cleaned || j->stats.segments_removed)
            gr_info("cleaner", "Cleaned %s: offsets %lld..%lld mapped (%lld keys), %d segment(s) rewritten, "
                    "%d removed, %lld of %lld records removed, %lld -> %lld bytes", log->dir,
                    (long long)j->stats.first_dirty, (long long)j->map_end,
                    (long long)j->stats.keys, j->stats.segments_cleaned, j->stats.segments_removed,
                    (long long)j->stats.records_removed, (long long)j->stats.records_read,
                    (long long)j->stats.bytes_read, (long long)j->stats.bytes_written);
    } else if (rc == GR_AGAIN) {
        gr_info("cleaner", "Cleaning of %s abandoned: its segments changed meanwhile", log->dir);
    } else if (rc != GR_CLEAN_CRASHED) {
        gr_error("cleaner", "Cleaning of %s failed: %s", log->dir, strerror(-rc));
    }
    if (j->cb)
        j->cb(j->arg, rc, &j->stats);
    /* a simulated crash leaves its files for recovery to find */
    gr_clean_job_free(j, rc != GR_CLEAN_CRASHED);
}

static int cmp_i64(const void *a, const void *b);

static void collect_last(void *arg, const gr_pentry_t *e)
{
    gr_clean_job_t *j = arg;
    if (e->nb > 0)
        j->keep_last[j->nkeep++] = e->b[(e->first + e->nb - 1) % GR_PSTATE_BATCHES].last_offset;
    else
        j->keep_ctl[j->nkeepctl++] = (gr_clean_ctl_t){e->pid, e->epoch};
}

static int cmp_ctl(const void *a, const void *b)
{
    const gr_clean_ctl_t *x = a, *y = b;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

int gr_log_clean(gr_log_t *log, int64_t now_ms, size_t map_bytes, gr_log_clean_cb *cb, void *arg)
{
    if (!log->cfg.compact)
        return GR_EINVAL;
    if (log->cleaning || log->closed || log->offline)
        return GR_AGAIN;
    int64_t first_dirty, dirty;
    int n = clean_range(log, now_ms, &first_dirty);
    /* Kafka cleans below the segment holding the first unstable offset:
     * every transaction the pass sees is decided */
    int64_t fu = gr_pstate_first_unstable(log->ps);
    if (fu >= 0)
        n = GR_MIN(n, seg_index(log, GR_MAX(fu, log->start)));
    if (n <= 0)
        return GR_AGAIN;
    double ratio = ratio_of(log, n, first_dirty, &dirty);
    if (!(dirty > 0 && ratio >= log->cfg.min_cleanable_ratio) && log->min_horizon > now_ms)
        return GR_AGAIN;
    gr_clean_job_t *j = gr_calloc(1, sizeof(*j));
    j->dir = gr_strdup(log->dir);
    j->segs = gr_calloc((size_t)n, sizeof(*j->segs));
    j->nseg = n;
    for (int i = 0; i < n; i++) {
        gr_segment_t *s = log->segs[i];
        /* sealed: their index entries are all written, the files immutable */
        j->segs[i] = (gr_clean_seg_t){.base = s->base, .next = s->next, .size = s->size,
                                      .file = gr_file_ref(s->log)};
    }
    /* Kafka's lastRecordsOfActiveProducers: their last batches stay */
    j->nkeep = 0;
    if (log->ps) {
        j->keep_last = gr_malloc((gr_pstate_count(log->ps) + 1) * sizeof(*j->keep_last));
        j->keep_ctl = gr_malloc((gr_pstate_count(log->ps) + 1) * sizeof(*j->keep_ctl));
        gr_pstate_foreach(log->ps, collect_last, j);
        qsort(j->keep_last, j->nkeep, sizeof(*j->keep_last), cmp_i64);
        qsort(j->keep_ctl, j->nkeepctl, sizeof(*j->keep_ctl), cmp_ctl);
    }
    /* the aborted transactions, whichever segment their markers are in */
    for (int i = 0; i < log->nseg; i++)
        if (log->segs[i]->ntxn > 0) {
            j->txnsegs = gr_realloc(j->txnsegs, (size_t)(j->ntxnsegs + 1) * sizeof(*j->txnsegs));
            j->txnsegs[j->ntxnsegs++] = (gr_clean_txnseg_t){log->segs[i]->base, log->segs[i]->ntxn};
        }
    j->first_dirty = first_dirty;
    j->now_ms = now_ms;
    j->delete_retention_ms = log->cfg.delete_retention_ms;
    j->index_interval = log->cfg.index_interval_bytes;
    j->map_bytes = map_bytes;
    j->log = log;
    j->cb = cb;
    j->arg = arg;
    log->cleaning = true;
    log->jobs++;
    gr_debug("cleaner", "Cleaning %s: %d segment(s), first dirty offset %lld, dirty ratio %.2f", log->dir, n,
             (long long)first_dirty, ratio);
    if (log->ev) {
        gr_ev_submit(log->ev, GR_EV_DIR_LANES - 1, clean_work, clean_done, j);
    } else {
        clean_work(j);
        clean_done(j);
    }
    return 0;
}

/* -------------------------------------------------------------- open */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static bool parse_base(const char *name, const char *suffix, int64_t *base)
{
    size_t n = strlen(name), sl = strlen(suffix);
    if (n != 20 + sl || strcmp(name + 20, suffix) != 0)
        return false;
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (name[i] - '0');
    }
    *base = v;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* List segment base offsets and producer snapshot offsets (into the
 * log's snaps, sorted); delete stray temporary files. */
static int list_dir(const char *dir, int64_t **bases, int *n, gr_log_t *log)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -errno;
    int cap = 0;
    *bases = NULL;
    *n = 0;
    struct dirent *de;
    char path[PATH_MAX];
    while ((de = readdir(d)) != NULL) {
        int64_t base;
        if (ends_with(de->d_name, ".tmp") || ends_with(de->d_name, ".deleted") ||
            ends_with(de->d_name, ".cleaned") || ends_with(de->d_name, ".swap")) {
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            if (unlink(path) == -1)
                gr_warn("log", "cannot delete %s: %s", path, strerror(errno));
            continue;
        }
        if (parse_base(de->d_name, ".snapshot", &base)) {
            i64_push(&log->snaps, &log->nsnap, &log->capsnap, base);
            continue;
        }
        if (!parse_base(de->d_name, ".log", &base))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *bases = gr_realloc(*bases, (size_t)cap * sizeof(**bases));
        }
        (*bases)[(*n)++] = base;
    }
    closedir(d);
    if (*n > 1)
        qsort(*bases, (size_t)*n, sizeof(**bases), cmp_i64);
    if (log->nsnap > 1)
        qsort(log->snaps, (size_t)log->nsnap, sizeof(*log->snaps), cmp_i64);
    return 0;
}

/* ------------------------------------------------ producer state at open */

typedef struct replay {
    gr_log_t *log;
    int64_t upto;                /* replay batches below this offset */
    int64_t batches;
    gr_segment_t *seg;           /* the segment being read */
} replay_t;

/* A transaction marker of the log (appendEndTxnMarker, origin
 * REPLICATION): the producer's transaction ends; in a recovered segment an
 * aborted one gets its .txnindex entry back. */
static void replay_marker(replay_t *r, const uint8_t *h, int64_t pid)
{
    int32_t size = gr_batch_size(h);
    int16_t type;
    int32_t coord_epoch;
    int64_t ts;
    if (size > GR_SEG_SCAN_CONTROL_MAX ||
        gr_batch_control_marker(h, (size_t)size, &type, &coord_epoch, &ts) < 0 ||
        (type != GR_MARKER_ABORT && type != GR_MARKER_COMMIT))
        return;
    gr_log_t *log = r->log;
    int64_t offset = (int64_t)gr_be64(h);
    gr_pupdate_t u;
    gr_completed_txn_t done;
    bool completed;
    const char *msg;
    if (log->ps == NULL)
        log->ps = gr_pstate_new();
    gr_pupdate_init(&u, log->ps, pid, GR_PORIGIN_REPLAY);
    gr_pupdate_marker(&u, (int16_t)gr_be16(h + GR_BOFF_PRODUCER_EPOCH), coord_epoch, offset, ts,
                      type == GR_MARKER_ABORT, &done, &completed, &msg);
    if (completed && done.aborted && r->seg && r->seg->txn_rebuild) {
        int64_t other = gr_pstate_first_unstable_other(log->ps, pid);
        gr_aborted_txn_t a = {pid, done.first_offset, done.last_offset, other >= 0 ? other : offset + 1};
        int rc = gr_seg_txn_append(r->seg, &a);
        if (rc < 0)
            gr_error("log", "Cannot rebuild %s.txnindex: %s", r->seg->path, strerror(-rc));
    }
    gr_pstate_update(log->ps, &u);
    r->batches++;
}

/* One batch of the log, as Kafka's loadProducersFromRecords (origin
 * REPLICATION: nothing is checked). */
static int replay_batch(void *arg, const uint8_t *h, int64_t pos)
{
    replay_t *r = arg;
    GR_UNUSED(pos);
    int64_t base = (int64_t)gr_be64(h);
    if (base >= r->upto)
        return 1;
    int64_t pid = (int64_t)gr_be64(h + GR_BOFF_PRODUCER_ID);
    int16_t attr = (int16_t)gr_be16(h + GR_BOFF_ATTRIBUTES);
    if (pid < 0)
        return 0;
    if (attr & GR_ATTR_CONTROL) {
        replay_marker(r, h, pid);
        return 0;
    }
    int32_t delta = (int32_t)gr_be32(h + GR_BOFF_LAST_DELTA);
    int16_t epoch = (int16_t)gr_be16(h + GR_BOFF_PRODUCER_EPOCH);
    int32_t seq = (int32_t)gr_be32(h + GR_BOFF_BASE_SEQ);
    gr_pbatch_t b = {.last_offset = base + delta, .timestamp = (int64_t)gr_be64(h + GR_BOFF_MAX_TS),
                     .last_seq = gr_seq_increment(seq, delta), .offset_delta = delta};
    gr_pupdate_t u;
    const char *msg;
    if (r->log->ps == NULL)
        r->log->ps = gr_pstate_new();
    gr_pupdate_init(&u, r->log->ps, pid, GR_PORIGIN_REPLAY);
    gr_pupdate_data(&u, epoch, seq, b.last_seq, base, b.timestamp, (attr & GR_ATTR_TRANSACTIONAL) != 0, &msg);
    gr_pstate_add_batch(r->log->ps, pid, epoch, &b);
    gr_pstate_update(r->log->ps, &u);
    gr_pstate_enforce_limit();           /* O(1) below the bound */
    r->batches++;
    return 0;
}

/* Kafka's LogLoader: removeStraySnapshots, then rebuildProducerState up to
 * the log end.  Snapshots not at a segment's base offset go, except the
 * largest when it is past every segment's base (a clean shutdown's, at the
 * log end).  Without any snapshot after a clean shutdown (a log written
 * before producer state existed, or that never had a producer) nothing is
 * read: empty snapshots are written at the last two segments' bases and
 * the log end.  Otherwise snapshots above the log end or below the log
 * start are deleted, the latest one that loads (CRC, version) is
 * loaded (dropping producers expired at now) and the batch headers from
 * its offset to the log end are replayed, snapshots taken at the last two
 * segments' bases on the way and at the log end.  Snapshots are written
 * without fsync (the next flush or the close syncs them). */
static void load_producer_state(gr_log_t *log, bool clean, int64_t expiration_ms, int64_t recovered_base)
{
    int64_t t0 = gr_mono_ms(), now = gr_now_ms(), end = log->end;
    int64_t max_base = log->segs[log->nseg - 1]->base;
    /* removeStraySnapshots */
    int64_t stray = -1;
    int nold = log->nsnap;
    int64_t *old = gr_malloc((size_t)(nold ? nold : 1) * sizeof(*old));
    if (nold)
        memcpy(old, log->snaps, (size_t)nold * sizeof(*old));
    for (int i = 0; i < nold; i++) {
        int k = seg_index(log, old[i]);
        if (k >= 0 && log->segs[k]->base == old[i])
            continue;
        if (stray >= 0)
            snap_drop(log, stray, false);
        stray = old[i];
    }
    free(old);
    if (stray >= 0 && stray < max_base)
        snap_drop(log, stray, false);
    /* recovered segments are replayed from their base (their .txnindex is
     * rebuilt on the way): no snapshot after the first of them */
    for (int i = log->nsnap - 1; recovered_base >= 0 && i >= 0; i--)
        if (log->snaps[i] > recovered_base)
            snap_drop(log, log->snaps[i], false);

    int64_t to_snap[3];
    int nto = 0;
    if (log->nseg >= 2)
        to_snap[nto++] = log->segs[log->nseg - 2]->base;
    to_snap[nto++] = max_base;
    to_snap[nto++] = end;
    log->snap_end = 0;
    if (log->nsnap == 0 && clean && recovered_base < 0) {
        for (int i = 0; i < nto; i++)
            snap_take(log, to_snap[i]);
        return;
    }
    /* truncateAndReload, except that a snapshot at the log start stays
     * (Kafka drops it too): after retention deleted every batch it is the
     * only record of producers that keep their state until they expire */
    for (int i = log->nsnap - 1; i >= 0; i--)
        if (log->snaps[i] > end || log->snaps[i] < log->start)
            snap_drop(log, log->snaps[i], false);
    int64_t map_end = log->start, loaded = -1;
    while (log->nsnap > 0) {
        int64_t o = log->snaps[log->nsnap - 1];
        char path[PATH_MAX];
        char *buf = NULL;
        size_t len = 0;
        snap_path(log, o, path, sizeof(path));
        int rc = gr_file_read_all(path, &buf, &len);
        if (rc == 0) {
            if (log->ps == NULL)
                log->ps = gr_pstate_new();
            loaded = gr_pstate_decode(log->ps, (const uint8_t *)buf, len, now, expiration_ms);
        }
        free(buf);
        if (rc == 0 && loaded >= 0) {
            map_end = o;
            break;
        }
        gr_warn("log", "Failed to load producer snapshot from '%s': %s", path,
                rc < 0 ? strerror(-rc) : "corrupt (version or CRC)");
        snap_drop(log, o, false);
    }
    log->snap_end = map_end;
    int64_t replayed = 0;
    if (end > map_end) {
        replay_t r = {.log = log, .upto = end};
        for (int i = GR_MAX(0, seg_index(log, map_end)); i < log->nseg; i++) {
            gr_segment_t *s = log->segs[i];
            int64_t from = GR_MAX(GR_MAX(s->base, map_end), log->start);
            if (from >= end)
                break;
            for (int k = 0; k < nto; k++)
                if (to_snap[k] == s->base)
                    snap_take(log, from);
            r.seg = s;
            int rc = gr_seg_scan_headers(s, from, replay_batch, &r);
            if (rc < 0) {
                /* the segment was recovered or loaded a moment ago */
                gr_error("log", "Cannot read %s.log to rebuild the producer state: %s", s->path, strerror(-rc));
                break;
            }
        }
        replayed = r.batches;
    }
    snap_take(log, end);
    for (int i = 0; i < log->nseg; i++)
        log->segs[i]->txn_rebuild = false;
    if (log->ps && gr_pstate_count(log->ps) == 0) {
        gr_pstate_free(log->ps);
        log->ps = NULL;
    }
    gr_pstate_enforce_limit();
    if (loaded > 0 || replayed > 0)
        gr_info("log", "Loaded producer state of %s: %lld producer ids from the snapshot at offset %lld, %lld "
                "batches replayed up to %lld, in %lld ms", log->dir, (long long)GR_MAX(loaded, 0),
                (long long)map_end, (long long)replayed, (long long)end, (long long)(gr_mono_ms() - t0));
}

static void free_log(gr_log_t *log)
{
    gr_pstate_free(log->ps);
    log->ps = NULL;
    free(log->snaps);
    log->snaps = NULL;
    log->nsnap = 0;
    free(log->snap_new);
    log->snap_new = NULL;
    log->nsnap_new = 0;
    for (int i = 0; i < log->nseg; i++)
        gr_seg_free(log->segs[i]);
    free(log->segs);
    log->segs = NULL;
    log->nseg = 0;
    free(log->w);
    log->w = NULL;
    free(log->dir);
    log->dir = NULL;
}

int gr_log_open(const gr_log_open_opts_t *o, gr_log_t **out)
{
    int64_t *bases = NULL;
    int nb = 0, rc;
    int64_t now = gr_now_ms();
    gr_log_t *log = gr_calloc(1, sizeof(*log));
    log->dir = gr_strdup(o->dir);
    log->cfg = *o->cfg;
    log->ev = o->ev;
    log->lane = o->lane;
    log->last_flush_ms = now;
    if ((rc = gr_mkdir_p(o->dir)) < 0)
        goto err;
    if (!o->fresh && ((rc = gr_clean_recover_dir(o->dir)) < 0 || (rc = list_dir(o->dir, &bases, &nb, log)) < 0))
        goto err;
    for (int i = 0; i < nb; i++) {
        gr_segment_t *s;
        if ((rc = gr_seg_open(o->dir, bases[i], &s)) < 0)
            goto err;
        segs_push(log, s);
    }
    int from = log->nseg;            /* first segment to recover */
    if (!o->clean_shutdown && log->nseg > 0)
        from = GR_MAX(0, seg_index(log, o->recovery_point));
    for (int i = 0; i < from; i++) {
        gr_segment_t *s = log->segs[i];
        rc = gr_seg_load(s);
        if (rc == 0 && i + 1 < log->nseg && log->segs[i + 1]->base < s->next)
            rc = GR_ECORRUPT;
        if (rc == GR_ECORRUPT) {
            gr_warn("log", "index or log of %s is inconsistent, recovering from offset %lld",
                    s->path, (long long)s->base);
            from = i;
            break;
        }
        if (rc < 0)
            goto err;
    }
    int64_t dropped = 0, recovered_base = from < log->nseg ? log->segs[from]->base : -1;
    bool recovered = false;
    for (int i = from; i < log->nseg; i++) {
        gr_segment_t *s = log->segs[i];
        int64_t d;
        recovered = true;
        if ((rc = gr_seg_recover(s, log->cfg.index_interval_bytes, &d)) < 0)
            goto err;
        dropped += d;
        /* an empty segment left as it was holds nothing to make durable */
        if ((s->size > 0 || d > 0 || s->idx_unsynced) && (rc = gr_seg_sync(s)) < 0)
            goto err;
        if (d > 0 || (i + 1 < log->nseg && log->segs[i + 1]->base < s->next)) {
            while (log->nseg > i + 1) {
                dropped += log->segs[log->nseg - 1]->size;
                drop_segment(log, log->nseg - 1, false);
            }
        }
    }
    if (log->nseg == 0) {
        gr_segment_t *s;
        if ((rc = gr_seg_create(o->dir, GR_MAX(0, o->log_start_offset), now, &s)) < 0)
            goto err;
        segs_push(log, s);
        /* a power cut before the first flush may lose the empty segment's
         * names: the next open creates it again */
        if (o->fresh)
            log->dir_dirty = true;
        else if ((rc = gr_fsync_dir(o->dir)) < 0)
            goto err;
    }
    log->size = 0;
    for (int i = 0; i < log->nseg; i++)
        log->size += log->segs[i]->size;
    log->end = active(log)->next;
    log->start = GR_MAX(o->log_start_offset, log->segs[0]->base);
    if (log->start > log->end)
        log->start = log->end;
    log->rp = log->end;
    active(log)->roll_base_ms = now;
    if (!o->fresh)
        load_producer_state(log, o->clean_shutdown, o->producer_expiration_ms, recovered_base);
    if (recovered && dropped > 0)
        gr_info("log", "Recovered %s: dropped %lld bytes after offset %lld", o->dir,
                (long long)dropped, (long long)log->end);
    free(bases);
    *out = log;
    return 0;
err:
    gr_error("log", "cannot open log %s: %s", o->dir, strerror(-rc));
    free(bases);
    free_log(log);
    free(log);
    return rc < 0 && rc != GR_ECORRUPT ? rc : GR_EIO;
}

/* Close; `snapshot`: write the clean shutdown's producer snapshot (not
 * for a log about to be deleted). */
static int log_close(gr_log_t *log, bool snapshot)
{
    if (log == NULL)
        return 0;
    if (log->offline) {
        /* one more try at cutting the torn append back; if that fails too,
         * recovery at the next start finds and truncates it */
        gr_segment_t *s = active(log);
        int fd = gr_file_fd(s->log);
        if (fd >= 0 && gr_fio_ftruncate(fd, (off_t)s->size) == 0)
            s->broken = false;
        else
            gr_error("log", "%s.log still cannot be truncated: %s", s->path, strerror(errno));
    }
    int rc = gr_seg_seal(active(log));
    for (int i = 0; i < log->nseg; i++) {
        gr_segment_t *s = log->segs[i];
        int r = gr_seg_write_indexes(s);
        /* a segment that a finished flush covered needs no second fsync
         * (shutdown flushes every log first); with a flush in flight the
         * active one is synced here too */
        if (r == 0 && !log->sync_abandoned &&
            (s->dirty || s->idx_unsynced || (i == log->nseg - 1 && log->flushing)))
            r = gr_seg_sync(s);
        if (r < 0)
            rc = r;
    }
    /* the producer snapshot at the log end (Kafka's close), and every one
     * written since the last flush, made durable before the clean
     * shutdown marker can say so */
    if (snapshot && !log->offline && !log->sync_abandoned) {
        int r = snap_take(log, log->end);
        if (r < 0)
            rc = r;
        for (int i = 0; i < log->nsnap_new; i++) {
            char path[PATH_MAX];
            snap_path(log, log->snap_new[i], path, sizeof(path));
            if ((r = snap_sync_name(path)) < 0)
                rc = r;
        }
        log->nsnap_new = 0;
    }
    /* an empty log's lost names are created again, identical, at the next
     * open: no directory fsync for never-written partitions */
    bool empty = log->nseg == 1 && active(log)->size == 0 && log->end == active(log)->base;
    if (log->sync_abandoned)
        rc = GR_EIO;             /* logged once for the whole dir (topic.c) */
    else if (log->dir_dirty && !empty && gr_fsync_dir(log->dir) < 0)
        rc = GR_EIO;
    if (rc < 0 && !log->sync_abandoned)
        gr_error("log", "flush of %s on close failed: %s", log->dir, strerror(-rc));
    else if (rc == 0)
        log->rp = log->end;
    fire_waiters(log, INT64_MAX, rc);
    free_log(log);
    if (log->jobs > 0)
        log->closed = true;   /* the last flush_done frees it */
    else
        free(log);
    return rc;
}

int gr_log_close(gr_log_t *log)
{
    return log_close(log, true);
}

void gr_log_delete(gr_log_t *log)
{
    char *dir = gr_strdup(log->dir);
    log_close(log, false);
    int rc = gr_rm_rf(dir);
    if (rc < 0)
        gr_warn("log", "cannot delete %s: %s", dir, strerror(-rc));
    free(dir);
}

void gr_log_set_config(gr_log_t *log, const gr_log_config_t *cfg)
{
    log->cfg = *cfg;
}

int64_t gr_log_start_offset(const gr_log_t *log) { return log->start; }
int64_t gr_log_end_offset(const gr_log_t *log) { return log->end; }
int64_t gr_log_recovery_point(const gr_log_t *log) { return log->rp; }
int64_t gr_log_size_bytes(const gr_log_t *log) { return log->size; }
int gr_log_segment_count(const gr_log_t *log) { return log->nseg; }

/* ------------------------------------------------- producer state */

size_t gr_log_expire_producers(gr_log_t *log, int64_t now_ms, int64_t expiration_ms)
{
    size_t n = gr_pstate_expire(log->ps, now_ms, expiration_ms);
    if (n)
        gr_debug("log", "Expired %zu producer ids of %s", n, log->dir);
    if (log->ps && gr_pstate_count(log->ps) == 0) {
        gr_pstate_free(log->ps);
        log->ps = NULL;
    }
    return n;
}

static void max_pid(void *arg, const gr_pentry_t *e)
{
    int64_t *m = arg;
    if (e->pid > *m)
        *m = e->pid;
}

int64_t gr_log_max_producer_id(const gr_log_t *log)
{
    int64_t m = -1;
    gr_pstate_foreach(log->ps, max_pid, &m);
    return m;
}

size_t gr_log_producer_count(const gr_log_t *log)
{
    return gr_pstate_count(log->ps);
}

const gr_pstate_t *gr_log_producer_state(const gr_log_t *log)
{
    return log->ps;
}

bool gr_log_flush_needed(const gr_log_t *log, int64_t upto)
{
    return log->cfg.flush_messages != INT64_MAX && log->rp < upto;
}
