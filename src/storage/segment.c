/*
 * segment.c - one log segment and its two index files, in Kafka's format.
 *
 * The .log file is a plain concatenation of RecordBatch v2 (drawn in
 * batch.c), offsets assigned.  Index entries live in memory and are
 * appended to their files with pwrite() when a flush starts, when the
 * segment is rolled and on close (Kafka preallocates and mmaps them; we
 * do not, so the files are always exactly as long as their entries).
 * After an unclean shutdown the indexes of segments from the recovery
 * point on are rebuilt from the log, so lagging index files are harmless.
 *
 * File descriptors: the .log is a cached file (fcache.h): opened when it
 * is read or written, closed again by the cache when more than
 * log.open.files.max segment files are open, so the descriptors a broker
 * holds do not grow with its segments.  The index files are opened by
 * name for the moment they are read (load), written (gr_seg_write_indexes,
 * recovery) or synced, and closed again.  Syncs off the loop thread open
 * the .log by name too (a helper thread never uses a cached descriptor).
 * The cleaner's output segments (gr_seg_create_cleaned) own a plain file
 * on the helper thread until gr_seg_adopt hands it to the cache.
 *
 * <base>.index - one entry per index.interval.bytes of log:
 *
 *   offset  size  field
 *   ------  ----  ------------------------------------------------------
 *   0       4     relativeOffset  int32 BE: batch last offset - base
 *   4       4     position        int32 BE: file position of that batch
 *
 * <base>.timeindex - an entry when the max timestamp grows, at the same
 * interval, plus a final one when the segment is sealed:
 *
 *   offset  size  field
 *   ------  ----  ------------------------------------------------------
 *   0       8     timestamp       int64 BE: max timestamp so far
 *   8       4     relativeOffset  int32 BE: last offset of its batch - base
 *
 * <base>.txnindex - the transactions aborted by an ABORT marker in this
 * segment (Kafka's TransactionIndex, AbortedTxn), in marker order; made
 * when the first one is, written at once (synced with the other indexes),
 * read on demand (a READ_COMMITTED fetch, the cleaner):
 *
 *   offset  size  field
 *   ------  ----  ------------------------------------------------------
 *   0       2     version          int16 BE, 0
 *   2       8     producerId       int64 BE
 *   10      8     firstOffset      int64 BE: the transaction's first batch
 *   18      8     lastOffset       int64 BE: its ABORT marker
 *   26      8     lastStableOffset int64 BE: the partition's LSO then
 *
 * File names are the base offset zero-padded to 20 digits.
 *
 * Reads look up a start position (fine index of recent batches, else the
 * sparse index and a scan of batch headers, one 61-byte pread each) and
 * never return part of a batch.  Nothing here trusts file content: every
 * header read is bounds-checked against the file size and offsets.
 */
#include "segment.h"
#include "buf.h"
#include "fio.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define FINE_MAX (1u << 20)          /* fine index entries kept per segment */
#define RECOVER_CHUNK (1u << 20)

static const char *const idx_suffix[2] = {".index", ".timeindex"};
#define TXN_SUFFIX ".txnindex"
static int64_t idx_lookup(const gr_segment_t *s, int64_t rel);

/* Open <path><suffix><sfx> for writing: an fd or a negative errno. */
static int open_fd(const char *path, const char *suffix, const char *sfx, int flags)
{
    char name[PATH_MAX];
    if (snprintf(name, sizeof(name), "%s%s%s", path, suffix, sfx) >= (int)sizeof(name))
        return GR_EINVAL;
    int fd = gr_fio_open(name, flags | O_CLOEXEC, 0644);
    return fd == -1 ? -errno : fd;
}

static const char *seg_sfx(const gr_segment_t *s)
{
    return s->cleaned ? ".cleaned" : "";
}

/* Open one index file (0 .index, 1 .timeindex) of s for writing. */
static int open_idx(const gr_segment_t *s, int which, int flags)
{
    return open_fd(s->path, idx_suffix[which], seg_sfx(s), O_RDWR | O_CREAT | flags);
}

/* The .log's descriptor (opened by the cache if needed), or -errno. */
static int log_fd(gr_segment_t *s)
{
    return gr_file_fd(s->log);
}

static char *log_name(const gr_segment_t *s, char *out, size_t n)
{
    snprintf(out, n, "%s.log%s", s->path, seg_sfx(s));
    return out;
}

static int pwrite_full(int fd, const void *buf, size_t n, int64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = gr_fio_pwrite(fd, (const uint8_t *)buf + done, n - done, (off_t)(off + (int64_t)done));
        if (r == -1) {
            if (errno == EINTR)
                continue;
            return errno == ENOSPC ? GR_ENOSPC : GR_EIO;
        }
        done += (size_t)r;
    }
    return 0;
}

static gr_segment_t *seg_new(const char *dir, int64_t base)
{
    gr_segment_t *s = gr_calloc(1, sizeof(*s));
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%020lld", dir, (long long)base);
    s->path = gr_strdup(path);
    s->base = s->next = base;
    s->max_ts = -1;
    s->max_ts_off = -1;
    s->txn_last = -1;
    return s;
}

void gr_seg_free(gr_segment_t *s)
{
    if (s == NULL)
        return;
    if (s->log) {
        /* readers may keep the handle: its name is not the segment's any
         * more once the segment is gone (deleted, replaced, closed) */
        if (s->log->refs > 1)
            gr_file_forget_name(s->log);
        gr_file_unref(s->log);
    }
    free(s->idx);
    free(s->tidx);
    free(s->fine);
    free(s->path);
    free(s);
}

/* Open the .log (kept) and create the two index files (closed again),
 * all truncated: a new segment. */
static int create_all(gr_segment_t *s)
{
    int fd = open_fd(s->path, ".log", seg_sfx(s), O_RDWR | O_CREAT | O_TRUNC);
    if (fd < 0)
        return fd;
    s->log = gr_file_new(fd);
    for (int i = 0; i < 2; i++) {
        if ((fd = open_idx(s, i, O_TRUNC)) < 0)
            return fd;
        close(fd);
    }
    /* a new segment has no aborted transaction: a stale .txnindex goes;
     * the cleaner's output always has one (empty or not), so that its
     * swap replaces the old segment's */
    char name[PATH_MAX];
    snprintf(name, sizeof(name), "%s" TXN_SUFFIX "%s", s->path, seg_sfx(s));
    if (s->cleaned) {
        if ((fd = open_fd(s->path, TXN_SUFFIX, seg_sfx(s), O_RDWR | O_CREAT | O_TRUNC)) < 0)
            return fd;
        close(fd);
    } else if (gr_fio_unlink(name) == -1 && errno != ENOENT) {
        return -errno;
    }
    return 0;
}

int gr_seg_create(const char *dir, int64_t base, int64_t now_ms, gr_segment_t **out)
{
    gr_segment_t *s = seg_new(dir, base);
    int rc = create_all(s);
    if (rc < 0) {
        gr_seg_free(s);
        return rc;
    }
    gr_seg_adopt(s);
    s->roll_base_ms = now_ms;
    s->mtime_ms = now_ms;
    s->fine_start_rel = 0;
    *out = s;
    return 0;
}

int gr_seg_create_cleaned(const char *dir, int64_t base, int64_t now_ms, gr_segment_t **out)
{
    gr_segment_t *s = seg_new(dir, base);
    s->cleaned = true;
    int rc = create_all(s);
    if (rc < 0) {
        gr_seg_free(s);
        return rc;
    }
    s->roll_base_ms = now_ms;
    s->mtime_ms = now_ms;
    *out = s;
    return 0;
}

void gr_seg_drop_fine(gr_segment_t *s)
{
    free(s->fine);
    s->fine = NULL;
    s->n_fine = s->cap_fine = 0;
    s->fine_start_rel = 0;
}

void gr_seg_adopt(gr_segment_t *s)
{
    char name[PATH_MAX];
    gr_file_cache(s->log, log_name(s, name, sizeof(name)), O_RDWR);
}

void gr_seg_release_fd(gr_segment_t *s)
{
    gr_file_close(s->log);
}

int gr_seg_open(const char *dir, int64_t base, gr_segment_t **out)
{
    gr_segment_t *s = seg_new(dir, base);
    char name[PATH_MAX];
    struct stat st;
    int rc;
    s->log = gr_file_new_cached(log_name(s, name, sizeof(name)), O_RDWR);
    if (stat(name, &st) == -1) {
        rc = -errno;
        goto err;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = GR_EINVAL;
        goto err;
    }
    s->size = st.st_size;
    s->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    *out = s;
    return 0;
err:
    gr_seg_free(s);
    return rc;
}

/* ---------------------------------------------------------- indexing */

static void fine_add(gr_segment_t *s, int32_t rel_last, int32_t pos, int64_t rel_base)
{
    if (s->n_fine == 0)
        s->fine_start_rel = rel_base;
    if (s->n_fine == FINE_MAX) {
        /* keep the newer half */
        uint32_t keep = FINE_MAX / 2;
        s->fine_start_rel = (int64_t)s->fine[s->n_fine - keep - 1].rel + 1;
        memmove(s->fine, s->fine + (s->n_fine - keep), keep * sizeof(*s->fine));
        s->n_fine = keep;
    }
    if (s->n_fine == s->cap_fine) {
        s->cap_fine = s->cap_fine ? s->cap_fine * 2 : 16;
        s->fine = gr_realloc(s->fine, s->cap_fine * sizeof(*s->fine));
    }
    s->fine[s->n_fine++] = (gr_idx_entry_t){rel_last, pos};
}

static void idx_add(gr_segment_t *s, int32_t rel, int32_t pos)
{
    if (s->n_idx == s->cap_idx) {
        s->cap_idx = s->cap_idx ? s->cap_idx * 2 : 64;
        s->idx = gr_realloc(s->idx, s->cap_idx * sizeof(*s->idx));
    }
    s->idx[s->n_idx++] = (gr_idx_entry_t){rel, pos};
}

static void tidx_maybe_add(gr_segment_t *s)
{
    if (s->max_ts < 0 || (s->n_tidx > 0 && s->max_ts <= s->tidx[s->n_tidx - 1].ts))
        return;
    if (s->n_tidx == s->cap_tidx) {
        s->cap_tidx = s->cap_tidx ? s->cap_tidx * 2 : 64;
        s->tidx = gr_realloc(s->tidx, s->cap_tidx * sizeof(*s->tidx));
    }
    s->tidx[s->n_tidx++] = (gr_tidx_entry_t){s->max_ts, (int32_t)(s->max_ts_off - s->base)};
}

/* Account one batch at pos (Kafka's LogSegment.append per batch). */
static void index_batch(gr_segment_t *s, int64_t pos, int64_t base_off, int64_t last_off,
                        int64_t max_ts, int32_t size, int32_t interval)
{
    if (max_ts > s->max_ts) {
        s->max_ts = max_ts;
        s->max_ts_off = last_off;
    }
    int32_t rel = (int32_t)(last_off - s->base);
    if (s->bytes_since_idx > interval) {
        idx_add(s, rel, (int32_t)pos);
        tidx_maybe_add(s);
        s->bytes_since_idx = 0;
    }
    s->bytes_since_idx += size;
    fine_add(s, rel, (int32_t)pos, base_off - s->base);
    s->next = last_off + 1;
}

int gr_seg_write_indexes(gr_segment_t *s)
{
    uint8_t buf[4096];
    int rc = 0, fd = -1;
    if (s->idx_written < s->n_idx) {
        if ((fd = open_idx(s, 0, 0)) < 0)
            return fd == -ENOSPC ? GR_ENOSPC : GR_EIO;
        s->idx_unsynced = true;
    }
    while (s->idx_written < s->n_idx) {
        uint32_t n = GR_MIN(s->n_idx - s->idx_written, (uint32_t)(sizeof(buf) / 8));
        for (uint32_t i = 0; i < n; i++) {
            gr_put32(buf + 8 * i, (uint32_t)s->idx[s->idx_written + i].rel);
            gr_put32(buf + 8 * i + 4, (uint32_t)s->idx[s->idx_written + i].pos);
        }
        if ((rc = pwrite_full(fd, buf, n * 8, (int64_t)s->idx_written * 8)) < 0)
            goto out;
        s->idx_written += n;
    }
    if (fd != -1) {
        close(fd);
        fd = -1;
    }
    if (s->tidx_written < s->n_tidx) {
        if ((fd = open_idx(s, 1, 0)) < 0)
            return fd == -ENOSPC ? GR_ENOSPC : GR_EIO;
        s->idx_unsynced = true;
    }
    while (s->tidx_written < s->n_tidx) {
        uint32_t n = GR_MIN(s->n_tidx - s->tidx_written, (uint32_t)(sizeof(buf) / 12));
        for (uint32_t i = 0; i < n; i++) {
            const gr_tidx_entry_t *e = &s->tidx[s->tidx_written + i];
            gr_put32(buf + 12 * i, (uint32_t)((uint64_t)e->ts >> 32));
            gr_put32(buf + 12 * i + 4, (uint32_t)e->ts);
            gr_put32(buf + 12 * i + 8, (uint32_t)e->rel);
        }
        if ((rc = pwrite_full(fd, buf, n * 12, (int64_t)s->tidx_written * 12)) < 0)
            goto out;
        s->tidx_written += n;
    }
out:
    if (fd != -1)
        close(fd);
    return rc;
}

int gr_seg_seal(gr_segment_t *s)
{
    tidx_maybe_add(s);
    return gr_seg_write_indexes(s);
}

/* fdatasync a file by name; one that is gone (deleted by retention or
 * replaced meanwhile) needs no sync. */
static int sync_name(const char *path, const char *suffix, const char *sfx)
{
    char name[PATH_MAX];
    if (snprintf(name, sizeof(name), "%s%s%s", path, suffix, sfx) >= (int)sizeof(name))
        return GR_EINVAL;
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return errno == ENOENT ? 0 : -errno;
    int rc = gr_fio_fdatasync(fd) == -1 ? -errno : 0;
    close(fd);
    return rc;
}

/* fdatasync the .log (through its descriptor when it is open, else by
 * name) and, when indexes, the index files by name. */
static int sync_files(gr_file_t *log, const char *path, const char *sfx, bool indexes)
{
    int rc = 0, r;
    if (log && log->fd >= 0) {
        if (gr_fio_fdatasync(log->fd) == -1)
            rc = -errno;
    } else if ((r = sync_name(path, ".log", sfx)) < 0) {
        rc = r;
    }
    for (int i = 0; indexes && i < 2; i++)
        if ((r = sync_name(path, idx_suffix[i], sfx)) < 0)
            rc = r;
    if (indexes && (r = sync_name(path, TXN_SUFFIX, sfx)) < 0)
        rc = r;
    return rc;
}

int gr_seg_sync_files(const char *path, bool indexes)
{
    return sync_files(NULL, path, "", indexes);
}

int gr_seg_sync(gr_segment_t *s)
{
    int rc = sync_files(s->log, s->path, seg_sfx(s), s->idx_unsynced);
    if (rc == 0)
        s->idx_unsynced = false;
    return rc;
}

static void reset_indexes(gr_segment_t *s)
{
    s->n_idx = s->idx_written = 0;
    s->n_tidx = s->tidx_written = 0;
    s->n_fine = 0;
    s->fine_start_rel = 0;
    s->bytes_since_idx = 0;
    s->max_ts = s->max_ts_off = -1;
    s->next = s->base;
}

/* ------------------------------------------------------ batch headers */

typedef struct hdr {
    int64_t base;
    int64_t last;
    int64_t max_ts;
    int32_t size;
} hdr_t;

/* Read and sanity-check the header of the batch at pos.  GR_ENOENT at
 * the end of the file, GR_ECORRUPT for a bad or torn header. */
static int read_hdr(gr_segment_t *s, int64_t pos, hdr_t *h)
{
    uint8_t b[GR_BATCH_HEADER_SIZE];
    if (pos >= s->size)
        return GR_ENOENT;
    if (s->size - pos < GR_BATCH_HEADER_SIZE)
        return GR_ECORRUPT;
    int fd = log_fd(s);
    if (fd < 0)
        return GR_EIO;
    ssize_t n = gr_fio_pread_full(fd, b, sizeof(b), pos);
    if (n < 0)
        return GR_EIO;
    if (n < (ssize_t)sizeof(b))
        return GR_ECORRUPT;
    int32_t blen = (int32_t)gr_be32(b + GR_BOFF_LENGTH);
    int32_t delta = (int32_t)gr_be32(b + GR_BOFF_LAST_DELTA);
    h->base = (int64_t)gr_be64(b);
    if (blen < GR_BATCH_HEADER_SIZE - GR_BATCH_LOG_OVERHEAD || b[GR_BOFF_MAGIC] != 2 || delta < 0 ||
        (int64_t)blen + GR_BATCH_LOG_OVERHEAD > s->size - pos ||
        h->base < s->base || h->base - s->base > INT32_MAX - (int64_t)delta)
        return GR_ECORRUPT;
    h->size = blen + GR_BATCH_LOG_OVERHEAD;
    h->last = h->base + delta;
    h->max_ts = (int64_t)gr_be64(b + GR_BOFF_MAX_TS);
    return 0;
}

/* ------------------------------------------------ .txnindex */

#define TXN_READ_CHUNK 120          /* entries per read */

static void txn_encode(uint8_t *p, const gr_aborted_txn_t *t)
{
    gr_put16(p, 0);
    gr_put64(p + 2, (uint64_t)t->pid);
    gr_put64(p + 10, (uint64_t)t->first_offset);
    gr_put64(p + 18, (uint64_t)t->last_offset);
    gr_put64(p + 26, (uint64_t)t->lso);
}

static void txn_decode(const uint8_t *p, gr_aborted_txn_t *t)
{
    t->pid = (int64_t)gr_be64(p + 2);
    t->first_offset = (int64_t)gr_be64(p + 10);
    t->last_offset = (int64_t)gr_be64(p + 18);
    t->lso = (int64_t)gr_be64(p + 26);
}

int gr_seg_txn_append(gr_segment_t *s, const gr_aborted_txn_t *t)
{
    uint8_t b[GR_TXN_ENTRY_SIZE];
    if (t->last_offset <= s->txn_last)
        return GR_EINVAL;           /* Kafka: must increase sequentially */
    txn_encode(b, t);
    int fd = open_fd(s->path, TXN_SUFFIX, seg_sfx(s), O_RDWR | O_CREAT);
    if (fd < 0)
        return fd == -ENOSPC ? GR_ENOSPC : GR_EIO;
    int rc = pwrite_full(fd, b, sizeof(b), s->ntxn * GR_TXN_ENTRY_SIZE);
    close(fd);
    if (rc < 0)
        return rc;
    s->ntxn++;
    s->txn_last = t->last_offset;
    s->idx_unsynced = true;
    return 0;
}

int gr_seg_txn_truncate(gr_segment_t *s, int64_t n)
{
    char name[PATH_MAX];
    if (n >= s->ntxn && n > 0)
        return 0;
    snprintf(name, sizeof(name), "%s" TXN_SUFFIX "%s", s->path, seg_sfx(s));
    if (n <= 0) {
        if (gr_fio_unlink(name) == -1 && errno != ENOENT)
            return GR_EIO;
        s->ntxn = 0;
        s->txn_last = -1;
        return 0;
    }
    int fd = gr_fio_open(name, O_RDWR | O_CLOEXEC, 0644);
    if (fd == -1)
        return GR_EIO;
    uint8_t b[GR_TXN_ENTRY_SIZE];
    int rc = 0;
    if (gr_fio_ftruncate(fd, (off_t)(n * GR_TXN_ENTRY_SIZE)) == -1 ||
        gr_fio_pread_full(fd, b, sizeof(b), (n - 1) * GR_TXN_ENTRY_SIZE) != (ssize_t)sizeof(b)) {
        rc = GR_EIO;
    } else {
        gr_aborted_txn_t t;
        txn_decode(b, &t);
        s->ntxn = n;
        s->txn_last = t.last_offset;
        s->idx_unsynced = true;
    }
    close(fd);
    return rc;
}

static int txn_open_read(const gr_segment_t *s)
{
    char name[PATH_MAX];
    snprintf(name, sizeof(name), "%s" TXN_SUFFIX "%s", s->path, seg_sfx(s));
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    return fd == -1 ? -errno : fd;
}

int gr_seg_txn_collect(gr_segment_t *s, int64_t fetch_offset, int64_t upper, gr_seg_txn_cb *cb, void *arg,
                       bool *complete)
{
    *complete = false;
    if (s->ntxn == 0 || s->txn_last < fetch_offset)
        return 0;
    int fd = txn_open_read(s);
    if (fd < 0)
        return GR_EIO;
    uint8_t buf[TXN_READ_CHUNK * GR_TXN_ENTRY_SIZE];
    gr_aborted_txn_t t;
    int rc = 0;
    /* first entry with last >= fetch_offset: entries are in marker order,
     * and an earlier one's last stable offset is at most its last + 1, so
     * it can neither overlap nor end the search (Kafka reads them all) */
    int64_t lo = 0, hi = s->ntxn;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (gr_fio_pread_full(fd, buf, GR_TXN_ENTRY_SIZE, mid * GR_TXN_ENTRY_SIZE) != GR_TXN_ENTRY_SIZE) {
            rc = GR_EIO;
            goto out;
        }
        txn_decode(buf, &t);
        if (t.last_offset < fetch_offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int64_t i = lo; i < s->ntxn && !*complete;) {
        int64_t n = GR_MIN((int64_t)TXN_READ_CHUNK, s->ntxn - i);
        if (gr_fio_pread_full(fd, buf, (size_t)(n * GR_TXN_ENTRY_SIZE), i * GR_TXN_ENTRY_SIZE) !=
            (ssize_t)(n * GR_TXN_ENTRY_SIZE)) {
            rc = GR_EIO;
            break;
        }
        for (int64_t k = 0; k < n; k++) {
            txn_decode(buf + k * GR_TXN_ENTRY_SIZE, &t);
            if (t.last_offset >= fetch_offset && t.first_offset < upper)
                cb(arg, &t);
            if (t.lso >= upper) {
                *complete = true;
                break;
            }
        }
        i += n;
    }
out:
    close(fd);
    return rc;
}

int gr_seg_txn_read_all(const gr_segment_t *s, gr_aborted_txn_t **out, int64_t *n)
{
    *out = NULL;
    *n = 0;
    if (s->ntxn == 0)
        return 0;
    int fd = txn_open_read(s);
    if (fd < 0)
        return GR_EIO;
    size_t len = (size_t)s->ntxn * GR_TXN_ENTRY_SIZE;
    uint8_t *b = gr_malloc(len);
    int rc = 0;
    if (gr_fio_pread_full(fd, b, len, 0) != (ssize_t)len) {
        rc = GR_EIO;
    } else {
        *out = gr_malloc((size_t)s->ntxn * sizeof(**out));
        for (int64_t i = 0; i < s->ntxn; i++)
            txn_decode(b + i * GR_TXN_ENTRY_SIZE, &(*out)[i]);
        *n = s->ntxn;
    }
    free(b);
    close(fd);
    return rc;
}

/* Load .txnindex and check it (Kafka's TransactionIndex.sanityCheck, plus
 * the order appends keep): whole entries of version 0, last offsets
 * increasing, inside the segment.  GR_ECORRUPT otherwise. */
static int txn_load(gr_segment_t *s)
{
    s->ntxn = 0;
    s->txn_last = -1;
    int fd = txn_open_read(s);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return GR_EIO;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) == -1) {
        rc = GR_EIO;
        goto out;
    }
    if (st.st_size % GR_TXN_ENTRY_SIZE != 0) {
        rc = GR_ECORRUPT;
        goto out;
    }
    int64_t n = st.st_size / GR_TXN_ENTRY_SIZE;
    uint8_t buf[TXN_READ_CHUNK * GR_TXN_ENTRY_SIZE];
    for (int64_t i = 0; i < n && rc == 0;) {
        int64_t k = GR_MIN((int64_t)TXN_READ_CHUNK, n - i);
        if (gr_fio_pread_full(fd, buf, (size_t)(k * GR_TXN_ENTRY_SIZE), i * GR_TXN_ENTRY_SIZE) !=
            (ssize_t)(k * GR_TXN_ENTRY_SIZE)) {
            rc = GR_EIO;
            break;
        }
        for (int64_t j = 0; j < k; j++) {
            const uint8_t *p = buf + j * GR_TXN_ENTRY_SIZE;
            gr_aborted_txn_t t;
            txn_decode(p, &t);
            if (gr_be16(p) != 0 || t.last_offset < s->base || t.last_offset <= s->txn_last ||
                t.first_offset > t.last_offset) {
                rc = GR_ECORRUPT;
                break;
            }
            s->txn_last = t.last_offset;
        }
        i += k;
    }
    if (rc == 0)
        s->ntxn = n;
out:
    close(fd);
    return rc;
}

/* ------------------------------------------------- header scan */

#define SCAN_WINDOW (64u << 10)

int gr_seg_scan_headers(gr_segment_t *s, int64_t from, gr_seg_scan_cb *cb, void *arg)
{
    uint8_t *win = NULL;
    int64_t win_off = 0, win_len = 0;
    int64_t rel = from - s->base;
    int64_t pos = idx_lookup(s, rel < 0 ? 0 : rel);
    int64_t prev_next = s->base;
    int rc = 0;
    while (pos < s->size) {
        if (s->size - pos < GR_BATCH_HEADER_SIZE) {
            rc = GR_ECORRUPT;
            break;
        }
        if (pos < win_off || pos + GR_BATCH_HEADER_SIZE > win_off + win_len) {
            int64_t want = GR_MIN((int64_t)SCAN_WINDOW, s->size - pos);
            if (win == NULL)
                win = gr_malloc(SCAN_WINDOW);
            int fd = log_fd(s);
            ssize_t r = fd < 0 ? -1 : gr_fio_pread_full(fd, win, (size_t)want, pos);
            if (r < 0) {
                rc = GR_EIO;
                break;
            }
            win_off = pos;
            win_len = r;
            if (win_len < GR_BATCH_HEADER_SIZE) {
                rc = GR_ECORRUPT;
                break;
            }
        }
        const uint8_t *h = win + (pos - win_off);
        int32_t blen = (int32_t)gr_be32(h + GR_BOFF_LENGTH);
        int32_t delta = (int32_t)gr_be32(h + GR_BOFF_LAST_DELTA);
        int64_t base = (int64_t)gr_be64(h);
        if (blen < GR_BATCH_HEADER_SIZE - GR_BATCH_LOG_OVERHEAD || h[GR_BOFF_MAGIC] != 2 || delta < 0 ||
            (int64_t)blen + GR_BATCH_LOG_OVERHEAD > s->size - pos || base < prev_next ||
            base - s->base > INT32_MAX - (int64_t)delta) {
            rc = GR_ECORRUPT;
            break;
        }
        prev_next = base + delta + 1;
        int64_t bsize = (int64_t)blen + GR_BATCH_LOG_OVERHEAD;
        if ((gr_be16(h + GR_BOFF_ATTRIBUTES) & GR_ATTR_CONTROL) && bsize <= GR_SEG_SCAN_CONTROL_MAX &&
            pos + bsize > win_off + win_len) {
            /* a transaction marker: its record (the marker type) too */
            int64_t want = GR_MIN((int64_t)SCAN_WINDOW, s->size - pos);
            int fd = log_fd(s);
            ssize_t r = fd < 0 ? -1 : gr_fio_pread_full(fd, win, (size_t)want, pos);
            if (r < bsize) {
                rc = r < 0 ? GR_EIO : GR_ECORRUPT;
                break;
            }
            win_off = pos;
            win_len = r;
            h = win;
        }
        if (base + delta >= from && (rc = cb(arg, h, pos)) != 0)
            break;
        pos += (int64_t)blen + GR_BATCH_LOG_OVERHEAD;
    }
    free(win);
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------- loading */

/* Read a whole index file; a missing one reads as empty. */
static int read_idx(const gr_segment_t *s, int which, uint8_t **out, size_t *len)
{
    char name[PATH_MAX];
    struct stat st;
    int rc = 0;
    *out = NULL;
    *len = 0;
    if (snprintf(name, sizeof(name), "%s%s%s", s->path, idx_suffix[which], seg_sfx(s)) >= (int)sizeof(name))
        return GR_EINVAL;
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) == -1) {
        rc = -errno;
        goto out;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *b = gr_malloc(n ? n : 1);
    ssize_t r = gr_fio_pread_full(fd, b, n, 0);
    if (r < 0) {
        free(b);
        rc = GR_EIO;
        goto out;
    }
    *out = b;
    *len = (size_t)r;
out:
    close(fd);
    return rc;
}

int gr_seg_load(gr_segment_t *s)
{
    uint8_t *b = NULL;
    size_t len;
    int rc;
    reset_indexes(s);
    if ((rc = read_idx(s, 0, &b, &len)) < 0)
        goto out;
    rc = GR_ECORRUPT;
    if (len % 8 != 0)
        goto out;
    for (size_t i = 0; i < len; i += 8) {
        int32_t rel = (int32_t)gr_be32(b + i), pos = (int32_t)gr_be32(b + i + 4);
        if (rel < 0 || pos <= 0 || pos >= s->size)
            goto out;
        if (s->n_idx > 0 && (rel <= s->idx[s->n_idx - 1].rel || pos <= s->idx[s->n_idx - 1].pos))
            goto out;
        idx_add(s, rel, pos);
    }
    free(b);
    b = NULL;
    if ((rc = read_idx(s, 1, &b, &len)) < 0)
        goto out;
    rc = GR_ECORRUPT;
    if (len % 12 != 0)
        goto out;
    for (size_t i = 0; i < len; i += 12) {
        int64_t ts = (int64_t)gr_be64(b + i);
        int32_t rel = (int32_t)gr_be32(b + i + 8);
        if (rel < 0 || ts < 0)
            goto out;
        if (s->n_tidx > 0 && (ts <= s->tidx[s->n_tidx - 1].ts || rel < s->tidx[s->n_tidx - 1].rel))
            goto out;
        s->max_ts = ts;
        s->max_ts_off = s->base + rel;
        tidx_maybe_add(s);
    }
    s->idx_written = s->n_idx;
    s->tidx_written = s->n_tidx;

    /* Scan the tail after the last index entry to find the end. */
    int64_t pos = s->n_idx ? s->idx[s->n_idx - 1].pos : 0;
    int64_t prev_next = s->base;
    bool first = true;
    for (;;) {
        hdr_t h;
        rc = read_hdr(s, pos, &h);
        if (rc == GR_ENOENT)
            break;
        if (rc < 0)
            goto out;
        rc = GR_ECORRUPT;
        if (h.base < prev_next)
            goto out;
        if (first && s->n_idx && h.last != s->base + s->idx[s->n_idx - 1].rel)
            goto out;
        first = false;
        if (h.max_ts > s->max_ts) {
            s->max_ts = h.max_ts;
            s->max_ts_off = h.last;
        }
        s->bytes_since_idx += h.size;   /* 0 at the last index entry */
        fine_add(s, (int32_t)(h.last - s->base), (int32_t)pos, h.base - s->base);
        s->next = h.last + 1;
        prev_next = h.last + 1;
        pos += h.size;
    }
    rc = GR_ECORRUPT;
    if (s->n_tidx > 0 && s->base + s->tidx[s->n_tidx - 1].rel >= s->next)
        goto out;
    if (s->n_idx > 0 && s->base + s->idx[s->n_idx - 1].rel >= s->next)
        goto out;
    if ((rc = txn_load(s)) < 0)
        goto out;
    rc = GR_ECORRUPT;
    if (s->ntxn > 0 && s->txn_last >= s->next)
        goto out;
    rc = 0;
out:
    free(b);
    return rc;
}

/* ---------------------------------------------------------- recovery */

static int truncate_indexes(gr_segment_t *s)
{
    for (int i = 0; i < 2; i++) {
        int fd = open_idx(s, i, 0);
        if (fd < 0)
            return GR_EIO;
        int r = gr_fio_ftruncate(fd, 0);
        close(fd);
        if (r == -1)
            return GR_EIO;
    }
    s->idx_written = s->tidx_written = 0;
    s->idx_unsynced = true;
    return 0;
}

/* Are both index files empty (or missing)? */
static bool indexes_empty(const gr_segment_t *s)
{
    char name[PATH_MAX];
    struct stat st;
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "%s%s%s", s->path, idx_suffix[i], seg_sfx(s));
        if (stat(name, &st) == 0 ? st.st_size != 0 : errno != ENOENT)
            return false;
    }
    return true;
}

int gr_seg_recover(gr_segment_t *s, int32_t interval, int64_t *dropped)
{
    gr_buf_t win = {0};
    int64_t win_off = 0;            /* file offset of win.p[0] */
    int64_t pos = 0, prev_next = s->base;
    int rc = 0;
    reset_indexes(s);
    *dropped = 0;
    /* the aborted transactions are found again by the log's replay of the
     * recovered segments (log.c) */
    s->txn_rebuild = true;
    if ((rc = gr_seg_txn_truncate(s, 0)) < 0)
        return rc;
    if (s->size == 0 && indexes_empty(s))
        return 0;                   /* nothing to check, nothing to rewrite */
    /* a small segment gets a window of its size (reserve grows it later) */
    gr_buf_reserve(&win, (size_t)GR_MIN((int64_t)RECOVER_CHUNK, GR_MAX(s->size, (int64_t)GR_BATCH_LOG_OVERHEAD)));
    win.len = 0;
    while (pos < s->size) {
        /* make [pos, pos + need) available in the window */
        size_t need = GR_BATCH_LOG_OVERHEAD;
        if (s->size - pos < (int64_t)need)
            break;
        for (int pass = 0; pass < 2; pass++) {
            if (pos < win_off || pos + (int64_t)need > win_off + (int64_t)win.len) {
                size_t want = GR_MAX(need, (size_t)RECOVER_CHUNK);
                want = (size_t)GR_MIN((int64_t)want, s->size - pos);
                gr_buf_reserve(&win, want);
                int fd = log_fd(s);
                ssize_t r = fd < 0 ? -1 : gr_fio_pread_full(fd, win.p, want, pos);
                if (r < 0) {
                    rc = GR_EIO;
                    goto out;
                }
                win_off = pos;
                win.len = (size_t)r;
                if (win.len < need)
                    goto torn;
            }
            if (pass == 0) {
                const uint8_t *p = win.p + (pos - win_off);
                int32_t blen = (int32_t)gr_be32(p + GR_BOFF_LENGTH);
                if (blen < GR_BATCH_HEADER_SIZE - GR_BATCH_LOG_OVERHEAD ||
                    (int64_t)blen + GR_BATCH_LOG_OVERHEAD > s->size - pos)
                    goto torn;
                need = (size_t)blen + GR_BATCH_LOG_OVERHEAD;
            }
        }
        const uint8_t *p = win.p + (pos - win_off);
        gr_batch_info_t bi;
        if (gr_batch_check(p, need, &bi) < 0)
            goto torn;
        int64_t last = bi.base_offset + bi.last_offset_delta;
        if (bi.base_offset < prev_next || last - s->base > INT32_MAX)
            goto torn;
        index_batch(s, pos, bi.base_offset, last, bi.max_timestamp, bi.size, interval);
        prev_next = last + 1;
        pos += bi.size;
    }
torn:
    if (pos < s->size) {
        int fd = log_fd(s);
        if (fd < 0 || gr_fio_ftruncate(fd, (off_t)pos) == -1) {
            rc = GR_EIO;
            goto out;
        }
        *dropped = s->size - pos;
        s->size = pos;
    }
    if ((rc = truncate_indexes(s)) < 0)
        goto out;
    rc = gr_seg_write_indexes(s);
out:
    gr_buf_free(&win);
    return rc;
}

/* ------------------------------------------------------------ append */

int gr_seg_append(gr_segment_t *s, const uint8_t *data, size_t len, int64_t now_ms,
                  int32_t interval)
{
    if (s->broken)
        return GR_EIO;
    int fd = log_fd(s);
    if (fd < 0)
        return fd == -ENOSPC ? GR_ENOSPC : GR_EIO;   /* nothing written */
    int rc = pwrite_full(fd, data, len, s->size);
    if (rc < 0) {
        /* cut a partial write back so the log stays whole batches */
        if (gr_fio_ftruncate(fd, (off_t)s->size) == -1) {
            gr_error("log", "cannot truncate %s.log back to %lld bytes after a failed write: %s", s->path,
                     (long long)s->size, strerror(errno));
            s->broken = true;
        }
        return rc;
    }
    if (s->size == 0)
        s->roll_base_ms = now_ms;
    int64_t pos = s->size;
    size_t off = 0;
    while (off < len) {
        const uint8_t *p = data + off;
        int32_t size = (int32_t)gr_be32(p + GR_BOFF_LENGTH) + GR_BATCH_LOG_OVERHEAD;
        int64_t base = (int64_t)gr_be64(p);
        int64_t last = base + (int32_t)gr_be32(p + GR_BOFF_LAST_DELTA);
        index_batch(s, pos, base, last, (int64_t)gr_be64(p + GR_BOFF_MAX_TS), size, interval);
        pos += size;
        off += (size_t)size;
    }
    s->size = pos;
    s->mtime_ms = now_ms;
    s->dirty = true;
    return 0;
}

/* -------------------------------------------------------------- read */

/* Position of a batch at or before the one holding rel (sparse index). */
static int64_t idx_lookup(const gr_segment_t *s, int64_t rel)
{
    uint32_t lo = 0, hi = s->n_idx;          /* first entry with rel > target */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->idx[mid].rel <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? 0 : s->idx[lo - 1].pos;
}

/* First fine entry with rel >= target. */
static uint32_t fine_lower(const gr_segment_t *s, int64_t rel)
{
    uint32_t lo = 0, hi = s->n_fine;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->fine[mid].rel < rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int gr_seg_read(gr_segment_t *s, int64_t offset, int64_t upper, int32_t max_bytes, bool min_one,
                int64_t *pos_out, int32_t *len_out, int64_t *next_out)
{
    int64_t rel = offset - s->base;
    int64_t start, end, next = -1;
    int rc;
    *pos_out = 0;
    *len_out = 0;
    if (next_out)
        *next_out = -1;
    hdr_t h;
    if (offset >= s->next)
        return GR_ENOENT;
    if (rel < 0)
        rel = 0;
    if (s->n_fine > 0 && rel >= s->fine_start_rel) {
        uint32_t i = fine_lower(s, rel);
        if (i >= s->n_fine)
            return GR_ENOENT;
        start = end = s->fine[i].pos;
        /* read the first header back, as the sparse path does: a failing
         * device shows here (KAFKA_STORAGE_ERROR), not in the sendfile */
        if ((rc = read_hdr(s, start, &h)) < 0)
            return rc == GR_ENOENT ? GR_ECORRUPT : rc;
        for (uint32_t j = i; j < s->n_fine; j++) {
            int64_t bend = j + 1 < s->n_fine ? s->fine[j + 1].pos : s->size;
            if (s->base + s->fine[j].rel >= upper)
                break;
            if (bend - start > max_bytes && !(j == i && min_one))
                break;
            end = bend;
            next = s->base + s->fine[j].rel + 1;
        }
        goto done;
    }
    int64_t pos = idx_lookup(s, rel);
    for (;;) {
        if ((rc = read_hdr(s, pos, &h)) < 0)
            return rc;
        if (h.last >= offset)
            break;
        pos += h.size;
    }
    start = end = pos;
    for (bool first = true;; first = false) {
        if (h.last >= upper)
            break;
        if (pos + h.size - start > max_bytes && !(first && min_one))
            break;
        pos += h.size;
        end = pos;
        next = h.last + 1;
        rc = read_hdr(s, pos, &h);
        if (rc == GR_ENOENT)
            break;
        if (rc < 0)
            return rc;
    }
done:
    *pos_out = start;
    *len_out = (int32_t)(end - start);
    if (next_out)
        *next_out = next;
    return 0;
}

int gr_seg_find_ts(gr_segment_t *s, int64_t ts, int64_t min_offset, int64_t *offset, int64_t *found_ts)
{
    /* last time index entry with timestamp < ts: everything up to its
     * offset is older than ts */
    int64_t from = GR_MAX(min_offset, s->base);
    uint32_t lo = 0, hi = s->n_tidx;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->tidx[mid].ts < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0)
        from = GR_MAX(from, s->base + s->tidx[lo - 1].rel + 1);
    if (from >= s->next)
        return GR_ENOENT;
    int64_t pos = idx_lookup(s, from - s->base);
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc;
    for (;;) {
        hdr_t h;
        if ((rc = read_hdr(s, pos, &h)) < 0)
            goto out;
        if (h.last >= from && h.max_ts >= ts) {
            if ((size_t)h.size > cap) {
                cap = (size_t)h.size;
                buf = gr_realloc(buf, cap);
            }
            int fd = log_fd(s);
            ssize_t r = fd < 0 ? -1 : gr_fio_pread_full(fd, buf, (size_t)h.size, pos);
            if (r < 0) {
                rc = GR_EIO;
                goto out;
            }
            if (r < h.size) {
                rc = GR_ECORRUPT;
                goto out;
            }
            rc = gr_batch_find_timestamp(buf, (size_t)h.size, ts, from, offset, found_ts);
            if (rc != GR_ENOENT)
                goto out;
        }
        pos += h.size;
    }
out:
    free(buf);
    return rc;
}
