/*
 * cleaner.c - the log compaction engine (Kafka's LogCleaner), for logs
 * with cleanup.policy=compact.  log.c decides when to clean and snapshots
 * the segments (gr_log_clean); this file does the heavy part on a helper
 * thread and owns the file protocol that makes the swap crash-safe.
 *
 * A pass over one log:
 *
 *   segments:  [ cleaned ......... | dirty ............ | young | active ]
 *              ^log start          ^first_dirty         ^U      ^
 *                                  (cleaner checkpoint)  (min.compaction.lag.ms
 *                                                         or the active segment)
 *
 *   1. Offset map: key -> latest offset over the dirty section, batch by
 *      batch from first_dirty, until the map reaches its memory bound
 *      (then only a prefix is cleaned: map_end is where the map stops,
 *      and becomes the new checkpoint).  A batch that alone holds more
 *      keys than the bound allows is mapped a part per pass: map_end then
 *      stops inside it.  Keys are stored in full and compared byte for
 *      byte, so a hash collision can never make a key shadow another one.
 *   2. Rewrite every source segment below map_end, from the log start:
 *      a record survives when its key is not in the map or the map says
 *      it is the latest (offset >= mapped offset).  Dropped: superseded
 *      records, records without a key (Kafka does the same), tombstones
 *      whose delete horizon has passed.  Control batches are copied as
 *      they are.
 *   3. A batch whose records all survive is copied byte for byte (still
 *      compressed).  A batch that loses records is rebuilt, compressed
 *      again with its own codec as Kafka's cleaner does (compress.h), with
 *      the kept records, their
 *      original offset deltas, timestamps and headers, the original
 *      baseOffset, producer fields and leader epoch: offsets never move,
 *      the log just has gaps (reads and indexes look up "first batch
 *      whose last offset >= target").  Kept records that would make the
 *      rebuilt batch larger than 16 MiB (what a compressed batch of a few
 *      hundred KiB may decompress to) go into further batches of at most
 *      16 MiB, each starting at the offset of its first record.  A batch
 *      that keeps nothing is dropped, except the last batch of a producer
 *      the log holds state for (Kafka's RETAIN_EMPTY): it stays as a bare
 *      header (no records, same offsets, producer id, epoch and sequences,
 *      both timestamps its maxTimestamp), so that producer state rebuilt
 *      from the log still knows the producer.  A segment that keeps nothing is
 *      removed, except the log's first one which stays, empty, so the
 *      log start offset does not move.
 *   4. Tombstones (KIP-534): the first pass that keeps a tombstone
 *      rebuilds its batch with attribute bit 6 set and baseTimestamp =
 *      now + delete.retention.ms (record timestamps are kept: their
 *      deltas are relative to the new base).  A later pass after that
 *      time drops the tombstones.  log.c remembers the earliest horizon
 *      so that a log with nothing dirty is still cleaned when it passes
 *      (unknown after a restart: the first tick runs a pass).
 *   5. Each rewritten segment is written as <base>.{log,index,timeindex,
 *      txnindex}.cleaned with fresh indexes, fsynced; a segment with no
 *      change is discarded (GR_CLEAN_KEEP).  Then, on the loop thread,
 *      log.c swaps the segments in ascending offset order.
 *   6. Transactions (Kafka's transaction-aware cleaning): log.c cleans
 *      only segments below the one holding the first unstable offset, so
 *      every transaction seen is decided.  The aborted ones come from the
 *      .txnindex files (read by name, up to the entry count log.c saw);
 *      walking the batches in offset order tells, for each transactional
 *      batch, whether its producer's transaction is an aborted one
 *      (CleanedTransactionMetadata).  Aborted batches are never mapped
 *      and never kept (but for a producer's last batch, as a header).  A
 *      marker stays while a batch of its transaction was seen in this pass;
 *      an ABORT marker that stays keeps its .txnindex entry in the cleaned
 *      segment.  A marker whose transaction has no data left gets a delete
 *      horizon (as a tombstone does, now + delete.retention.ms) and is
 *      removed by a pass after it, unless it is the last entry of a
 *      producer the log still knows (then it stays as a header).
 *
 * Swap protocol, per segment (file states; "x" exists):
 *
 *   step                         .log.cleaned .log.swap .log.deleted .log  recovery
 *   --------------------------   ------------ --------- ------------ ----  --------------------
 *   cleaned written                   x                                x   delete .cleaned
 *   idx/tidx .cleaned -> .swap        x                                x   delete .swap, .cleaned
 *   .log.cleaned -> .log.swap                   x                      x   finish: all .swap -> final
 *   old files -> .deleted                       x         x                finish, delete .deleted
 *   idx/tidx .swap -> final                     x         x                finish, delete .deleted
 *   .log.swap -> .log                                     x            x   delete .deleted
 *   unlink .deleted                                                    x   -
 *
 * Segments are swapped in ascending order, so after a crash the log is a
 * prefix of cleaned segments followed by untouched ones.  That is always
 * a valid log: a record is only ever dropped because a later record of
 * its key (kept in both versions of a later segment) supersedes it, or
 * because it is an expired tombstone whose older values live in earlier,
 * already swapped segments.  Open descriptors survive the renames, so a
 * reader whose gr_file_t of an old segment is open keeps reading it; the
 * descriptor cache never reopens an old segment by its reused name
 * (fcache.h).  The pass reads its source segments by name, one at a
 * time, and closes each output once it is written: a pass holds two
 * descriptors whatever the number of segments.
 *
 * Bounded memory, whatever clients wrote: records are never held per
 * batch.  Each pass over a batch streams its records through the record
 * iterator (batch.h), once to decide and, for a rebuilt batch, once more
 * to copy the survivors (a compressed batch is decompressed two to four
 * times; nothing is sized from its record count).  A pass holds at most:
 *   - the offset map: map_bytes (or one key, when a single key is larger);
 *   - the source batch as stored (what Produce accepted: max.message.bytes
 *     when it was written);
 *   - the iterator's 64 KiB window plus the codec's state (a zstd window
 *     of at most 128 MiB, only as far as the output reached), and one
 *     record when it is larger than the window (at most the 256 MiB a
 *     batch may decompress to);
 *   - a rebuilt batch of at most 16 MiB, or one record when it is larger,
 *     and, for a compressed batch, its compressed copy (at most its size
 *     plus an eighth) with the compressor's state (zstd level 3: a few MiB);
 *   - the 1 MiB write buffer (larger batches are written from where they
 *     are).
 */
#include "cleaner.h"
#include "batch.h"
#include "compress.h"
#include "fio.h"
#include "hmap.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRITE_CHUNK (1u << 20)
#define REBUILD_MAX (16u << 20)  /* largest rebuilt batch, unless one record is larger */
#define RECORD_OVERHEAD 36        /* a record's bytes besides key, value, headers: at most */

int gr_clean_crash_after = -1;

/* ------------------------------------------------------- offset map */

/* A gr_hmap (hmap.h) of entries allocated in chunks that never move (64
 * entries, doubling up to 64Ki per chunk, so the memory follows the keys);
 * the keys live in one growing arena and are compared byte for byte. */
typedef struct ment {
    gr_hnode_t node;
    int64_t off;
    uint32_t koff, klen;
} ment_t;

#define OMAP_CHUNK0 64u
#define OMAP_CHUNK_MAX 65536u

typedef struct omap {
    gr_hmap_t h;
    ment_t **chunks;
    size_t nchunks, n;          /* n: entries */
    size_t cap;                 /* entries the chunks hold */
    uint8_t *keys;
    size_t klen, kcap;
} omap_t;

static uint32_t hash_key(const uint8_t *k, size_t n)
{
    return gr_hash_mix(gr_fnv1a64(k, n, GR_FNV64_INIT) ^ (uint64_t)n);
}

static size_t chunk_size(size_t i)
{
    return i >= 10 ? OMAP_CHUNK_MAX : GR_MIN((size_t)OMAP_CHUNK0 << i, (size_t)OMAP_CHUNK_MAX);
}

static void omap_init(omap_t *m)
{
    memset(m, 0, sizeof(*m));
    gr_hmap_init(&m->h, 1024);
}

static void omap_free(omap_t *m)
{
    for (size_t i = 0; i < m->nchunks; i++)
        free(m->chunks[i]);
    free(m->chunks);
    gr_hmap_free(&m->h);
    free(m->keys);
    memset(m, 0, sizeof(*m));
}

static ment_t *omap_find(const omap_t *m, const uint8_t *k, uint32_t n, uint32_t h)
{
    for (gr_hnode_t *x = gr_hmap_first(&m->h, h); x; x = gr_hmap_next(x)) {
        ment_t *e = GR_CONTAINER(x, ment_t, node);
        if (e->klen == n && (n == 0 || memcmp(m->keys + e->koff, k, n) == 0))
            return e;
    }
    return NULL;
}

static void omap_put(omap_t *m, const uint8_t *k, uint32_t n, int64_t off)
{
    uint32_t h = hash_key(k, n);
    ment_t *e = omap_find(m, k, n, h);
    if (e) {
        if (off > e->off)
            e->off = off;
        return;
    }
    if (m->klen + n > m->kcap) {
        size_t cap = m->kcap ? m->kcap : 4096;
        while (cap < m->klen + n)
            cap *= 2;
        m->keys = gr_realloc(m->keys, cap);
        m->kcap = cap;
    }
    if (n > 0)
        memcpy(m->keys + m->klen, k, n);
    if (m->n == m->cap) {
        size_t sz = chunk_size(m->nchunks);
        m->chunks = gr_realloc(m->chunks, sizeof(*m->chunks) * (m->nchunks + 1));
        m->chunks[m->nchunks++] = gr_malloc(sz * sizeof(ment_t));
        m->cap += sz;
    }
    /* the free entry: the first unused one of the last chunk */
    size_t last = chunk_size(m->nchunks - 1);
    e = &m->chunks[m->nchunks - 1][last - (m->cap - m->n)];
    e->off = off;
    e->koff = (uint32_t)m->klen;
    e->klen = n;
    m->klen += n;
    m->n++;
    gr_hmap_insert(&m->h, &e->node, h);
}

/* Latest offset of key k, -1 when it is not in the map. */
static int64_t omap_get(const omap_t *m, const uint8_t *k, uint32_t n)
{
    ment_t *e = omap_find(m, k, n, hash_key(k, n));
    return e ? e->off : -1;
}

/* Would adding up to `keys` keys of `kbytes` bytes stay within limit? */
static bool omap_fits(const omap_t *m, size_t keys, size_t kbytes, size_t limit)
{
    size_t n = m->n + keys, cap = m->cap, nch = m->nchunks;
    while (cap < n)
        cap += chunk_size(nch++);
    size_t kcap = m->kcap ? m->kcap : 4096;
    while (kcap < m->klen + kbytes)
        kcap *= 2;
    return (size_t)gr_hmap_buckets_for(&m->h, n) * sizeof(gr_hnode_t *) + cap * sizeof(ment_t) + kcap <= limit;
}

/* --------------------------------------------------- reading batches */

typedef struct src {
    int fd;
    int64_t pos, size;
    gr_buf_t buf;            /* the current batch */
} src_t;

/* The next whole, checked batch: 0, GR_ENOENT at the end, GR_EIO or
 * GR_ECORRUPT (the segment was valid when it was sealed: corruption
 * aborts the pass instead of guessing). */
static int src_next(src_t *s, const uint8_t **p, gr_batch_info_t *bi)
{
    uint8_t hdr[GR_BATCH_LOG_OVERHEAD];
    if (s->pos >= s->size)
        return GR_ENOENT;
    if (s->size - s->pos < GR_BATCH_HEADER_SIZE)
        return GR_ECORRUPT;
    ssize_t r = gr_fio_pread_full(s->fd, hdr, sizeof(hdr), s->pos);
    if (r < 0)
        return GR_EIO;
    if (r < (ssize_t)sizeof(hdr))
        return GR_ECORRUPT;
    int64_t size = (int64_t)(int32_t)gr_be32(hdr + GR_BOFF_LENGTH) + GR_BATCH_LOG_OVERHEAD;
    if (size < GR_BATCH_HEADER_SIZE || size > s->size - s->pos)
        return GR_ECORRUPT;
    gr_buf_reserve(&s->buf, (size_t)size);
    r = gr_fio_pread_full(s->fd, s->buf.p, (size_t)size, s->pos);
    if (r < 0)
        return GR_EIO;
    if (r < size || gr_batch_check(s->buf.p, (size_t)size, bi) < 0)
        return GR_ECORRUPT;
    s->buf.len = (size_t)size;
    s->pos += size;
    *p = s->buf.p;
    return 0;
}

/* --------------------------------------------------------- the pass */

/* Delete a cleaned segment's files and free it. */
static void discard_out(gr_segment_t *out)
{
    static const char *const names[] = {".log.cleaned", ".index.cleaned", ".timeindex.cleaned",
                                        ".txnindex.cleaned"};
    char a[PATH_MAX];
    if (out == NULL)
        return;
    for (size_t i = 0; i < GR_ARRAY_LEN(names); i++) {
        snprintf(a, sizeof(a), "%s%s", out->path, names[i]);
        if (gr_fio_unlink(a) == -1 && errno != ENOENT)
            gr_warn("cleaner", "cannot delete %s: %s", a, strerror(errno));
    }
    gr_seg_free(out);
}

void gr_clean_job_free(gr_clean_job_t *j, bool discard)
{
    if (j == NULL)
        return;
    for (int i = 0; i < j->nseg; i++) {
        gr_clean_seg_t *s = &j->segs[i];
        if (s->file)
            gr_file_unref(s->file);
        if (discard)
            discard_out(s->out);
        else
            gr_seg_free(s->out);
        s->out = NULL;
    }
    free(j->segs);
    free(j->dir);
    free(j->keep_last);
    free(j->keep_ctl);
    free(j->txnsegs);
    free(j);
}

/* ------------------------------------------------- transactions */

/* An aborted transaction whose first batch the walk has reached. */
typedef struct ab_ent {
    gr_hnode_t node;            /* by pid */
    gr_aborted_txn_t t;
    bool seen;                  /* a batch of it was walked over in this pass */
} ab_ent_t;

typedef struct cm_ent {
    gr_hnode_t node;            /* by pid */
    int64_t pid;
} cm_ent_t;

/* Kafka's CleanedTransactionMetadata: one per walk (the map phase, the
 * cleaning phase).  ab: every aborted transaction, by first offset. */
typedef struct txn_walk {
    const gr_aborted_txn_t *ab;
    int64_t nab, next;
    gr_hmap_t aborted;          /* ab_ent_t: ongoing aborted transactions */
    gr_hmap_t committed;        /* cm_ent_t: ongoing committed ones */
} txn_walk_t;

static void walk_init(txn_walk_t *w, const gr_aborted_txn_t *ab, int64_t nab)
{
    memset(w, 0, sizeof(*w));
    w->ab = ab;
    w->nab = nab;
    gr_hmap_init(&w->aborted, 8);
    gr_hmap_init(&w->committed, 8);
}

static void walk_free(txn_walk_t *w)
{
    gr_hmap_t *maps[] = {&w->aborted, &w->committed};
    for (size_t i = 0; i < 2; i++) {
        gr_hmap_iter_t it;
        gr_hmap_iter_init(&it, maps[i]);
        for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));)
            free(n);                /* the node is each entry's first member */
        gr_hmap_free(maps[i]);
    }
}

static ab_ent_t *ab_find(const txn_walk_t *w, int64_t pid)
{
    for (gr_hnode_t *n = gr_hmap_first(&w->aborted, gr_hash_int((uint64_t)pid)); n; n = gr_hmap_next(n))
        if (GR_CONTAINER(n, ab_ent_t, node)->t.pid == pid)
            return GR_CONTAINER(n, ab_ent_t, node);
    return NULL;
}

static cm_ent_t *cm_find(const txn_walk_t *w, int64_t pid)
{
    for (gr_hnode_t *n = gr_hmap_first(&w->committed, gr_hash_int((uint64_t)pid)); n; n = gr_hmap_next(n))
        if (GR_CONTAINER(n, cm_ent_t, node)->pid == pid)
            return GR_CONTAINER(n, cm_ent_t, node);
    return NULL;
}

/* consumeAbortedTxnsUpTo */
static void walk_to(txn_walk_t *w, int64_t offset)
{
    while (w->next < w->nab && w->ab[w->next].first_offset <= offset) {
        const gr_aborted_txn_t *t = &w->ab[w->next++];
        if (ab_find(w, t->pid))
            continue;
        ab_ent_t *e = gr_calloc(1, sizeof(*e));
        e->t = *t;
        gr_hmap_insert(&w->aborted, &e->node, gr_hash_int((uint64_t)t->pid));
    }
}

/* A data batch (onBatchRead): true when it belongs to an aborted
 * transaction. */
static bool walk_data(txn_walk_t *w, const gr_batch_info_t *bi)
{
    walk_to(w, bi->base_offset + bi->last_offset_delta);
    if (!(bi->attributes & GR_ATTR_TRANSACTIONAL) || bi->producer_id < 0)
        return false;
    ab_ent_t *a = ab_find(w, bi->producer_id);
    if (a) {
        a->seen = true;
        return true;
    }
    if (!cm_find(w, bi->producer_id)) {
        cm_ent_t *c = gr_calloc(1, sizeof(*c));
        c->pid = bi->producer_id;
        gr_hmap_insert(&w->committed, &c->node, gr_hash_int((uint64_t)c->pid));
    }
    return false;
}

/* A control batch (onControlBatchRead): true when it may go (its
 * transaction has no batch left).  An ABORT marker that stays copies its
 * index entry into *keep (*kept set). */
static bool walk_control(txn_walk_t *w, const uint8_t *p, const gr_batch_info_t *bi, gr_aborted_txn_t *keep,
                         bool *kept)
{
    *kept = false;
    walk_to(w, bi->base_offset + bi->last_offset_delta);
    int16_t type;
    int32_t ce;
    int64_t ts;
    int rc = gr_batch_control_marker(p, (size_t)bi->size, &type, &ce, &ts);
    if (rc == GR_ENOENT)
        return true;                /* emptied before: nothing left of it */
    if (rc < 0 || bi->producer_id < 0)
        return false;
    if (type == GR_MARKER_ABORT) {
        ab_ent_t *a = ab_find(w, bi->producer_id);
        if (!a)
            return true;
        bool stays = a->seen;
        if (stays) {
            *keep = a->t;
            *kept = true;
        }
        gr_hmap_remove(&w->aborted, &a->node);
        free(a);
        return !stays;
    }
    if (type == GR_MARKER_COMMIT) {
        cm_ent_t *c = cm_find(w, bi->producer_id);
        if (!c)
            return true;
        gr_hmap_remove(&w->committed, &c->node);
        free(c);
        return false;
    }
    return false;
}

static int cmp_first(const void *a, const void *b)
{
    const gr_aborted_txn_t *x = a, *y = b;
    return x->first_offset < y->first_offset ? -1 : x->first_offset > y->first_offset;
}

/* Read the aborted transactions of the job's .txnindex files (by name, up
 * to the count log.c saw), sorted by first offset. */
static int read_aborted(const gr_clean_job_t *j, gr_aborted_txn_t **out, int64_t *nout)
{
    int64_t total = 0;
    for (int i = 0; i < j->ntxnsegs; i++)
        total += j->txnsegs[i].n;
    *out = gr_malloc((size_t)GR_MAX(total, 1) * sizeof(**out));
    *nout = 0;
    uint8_t b[GR_TXN_ENTRY_SIZE];
    for (int i = 0; i < j->ntxnsegs; i++) {
        char name[PATH_MAX];
        snprintf(name, sizeof(name), "%s/%020lld.txnindex", j->dir, (long long)j->txnsegs[i].base);
        int fd = open(name, O_RDONLY | O_CLOEXEC);
        if (fd == -1) {
            if (errno == ENOENT)
                continue;           /* retention deleted it meanwhile */
            return GR_EIO;
        }
        for (int64_t k = 0; k < j->txnsegs[i].n; k++) {
            if (gr_fio_pread_full(fd, b, sizeof(b), k * GR_TXN_ENTRY_SIZE) != (ssize_t)sizeof(b)) {
                close(fd);
                return GR_EIO;
            }
            gr_aborted_txn_t *t = &(*out)[(*nout)++];
            t->pid = (int64_t)gr_be64(b + 2);
            t->first_offset = (int64_t)gr_be64(b + 10);
            t->last_offset = (int64_t)gr_be64(b + 18);
            t->lso = (int64_t)gr_be64(b + 26);
        }
        close(fd);
    }
    qsort(*out, (size_t)*nout, sizeof(**out), cmp_first);
    return 0;
}

typedef struct pass {
    gr_clean_job_t *j;
    omap_t map;
    src_t src;
    gr_buf_t wbuf;           /* batches waiting to be appended */
    gr_buf_t zbuf;           /* a rebuilt batch compressed again */
    gr_aborted_txn_t *ab;    /* every aborted transaction, by first offset */
    int64_t nab;
    txn_walk_t walk;         /* of the phase running */
} pass_t;

static void src_end(pass_t *ps)
{
    if (ps->src.fd >= 0)
        close(ps->src.fd);
    ps->src.fd = -1;
}

/* Open source segment s by name (the helper thread never uses the log's
 * cached descriptors): GR_AGAIN when it is gone (retention deleted it
 * meanwhile: the swap would be abandoned anyway). */
static int src_begin(pass_t *ps, const gr_clean_seg_t *s)
{
    char name[PATH_MAX];
    src_end(ps);
    snprintf(name, sizeof(name), "%s/%020lld.log", ps->j->dir, (long long)s->base);
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return errno == ENOENT ? GR_AGAIN : GR_EIO;
    ps->src.fd = fd;
    ps->src.pos = 0;
    ps->src.size = s->size;
    return 0;
}

/* The keys of a batch, counted as the map would hold them (every keyed
 * record, as the map check has always counted).  GR_ECORRUPT when the
 * records cannot be read: a stored batch was valid when it was written. */
static int count_keys(const uint8_t *p, const gr_batch_info_t *bi, size_t *nkeys, size_t *kbytes)
{
    gr_rec_iter_t it;
    gr_record_t r;
    int rc;
    *nkeys = *kbytes = 0;
    gr_rec_iter_open(&it, p, bi);
    while ((rc = gr_rec_iter_next(&it, &r)) > 0)
        if (r.key_len >= 0) {
            (*nkeys)++;
            *kbytes += (size_t)r.key_len;
        }
    gr_rec_iter_close(&it);
    return rc < 0 ? GR_ECORRUPT : 0;
}

/* Map the keys of one batch.  The whole batch when it fits the map's bound
 * (j->map_end moves past it; returns 0), or nothing when the map already
 * holds keys (returns 1: the map is full, the pass cleans the prefix mapped
 * so far).  A batch that alone holds more keys than the map may is mapped
 * in part: its records from first_dirty on, up to the first that does not
 * fit (at least one), and j->map_end stops at that record, inside the
 * batch (returns 1); the next pass goes on from there.  Nothing is held per
 * record: the records stream through the iterator, once to count and once
 * to map. */
static int map_batch(pass_t *ps, const uint8_t *p, const gr_batch_info_t *bi)
{
    gr_clean_job_t *j = ps->j;
    size_t nkeys = (size_t)bi->record_count, kbytes = (size_t)bi->size;
    int rc;
    /* an uncompressed batch's keys are bounded by its size: count them
     * only when that bound does not fit */
    if ((bi->attributes & GR_ATTR_COMPRESSION_MASK) != GR_COMPRESSION_NONE ||
        !omap_fits(&ps->map, nkeys, kbytes, j->map_bytes)) {
        if ((rc = count_keys(p, bi, &nkeys, &kbytes)) < 0)
            return rc;
    }
    bool whole = omap_fits(&ps->map, nkeys, kbytes, j->map_bytes);
    if (!whole && ps->map.n > 0)
        return 1;
    gr_rec_iter_t it;
    gr_record_t r;
    gr_rec_iter_open(&it, p, bi);
    while ((rc = gr_rec_iter_next(&it, &r)) > 0) {
        int64_t off = bi->base_offset + r.offset_delta;
        if (r.key_len < 0 || (!whole && off < j->first_dirty))
            continue;
        if (!whole && ps->map.n > 0 && !omap_fits(&ps->map, 1, (size_t)r.key_len, j->map_bytes)) {
            j->map_end = off;
            break;
        }
        omap_put(&ps->map, r.key, (uint32_t)r.key_len, off);
    }
    gr_rec_iter_close(&it);
    if (rc < 0)
        return GR_ECORRUPT;
    if (rc > 0)
        return 1;
    j->map_end = bi->base_offset + bi->last_offset_delta + 1;
    return 0;
}

/* Phase 1: map the dirty section.  Sets j->map_end. */
static int build_map(pass_t *ps)
{
    gr_clean_job_t *j = ps->j;
    int rc = 0;
    j->map_end = j->first_dirty;
    for (int i = 0; i < j->nseg; i++) {
        gr_clean_seg_t *s = &j->segs[i];
        if (s->next <= j->first_dirty)
            continue;
        if ((rc = src_begin(ps, s)) < 0)
            return rc;
        const uint8_t *p;
        gr_batch_info_t bi;
        while ((rc = src_next(&ps->src, &p, &bi)) == 0) {
            int64_t last = bi.base_offset + bi.last_offset_delta;
            if (last < j->first_dirty)
                continue;
            if (bi.attributes & GR_ATTR_CONTROL) {
                gr_aborted_txn_t keep;
                bool kept;
                walk_control(&ps->walk, p, &bi, &keep, &kept);
                j->map_end = last + 1;
                continue;
            }
            if (walk_data(&ps->walk, &bi)) {
                j->map_end = last + 1;      /* aborted: not a key's latest value */
                continue;
            }
            if ((rc = map_batch(ps, p, &bi)) != 0)
                return rc < 0 ? rc : 0;          /* full: clean the prefix mapped so far */
        }
        if (rc != GR_ENOENT)
            return rc;
        j->map_end = GR_MAX(j->map_end, s->next);
    }
    return 0;
}

static int wflush(pass_t *ps, gr_segment_t *out)
{
    if (ps->wbuf.len == 0)
        return 0;
    int rc = gr_seg_append(out, ps->wbuf.p, ps->wbuf.len, ps->j->now_ms, ps->j->index_interval);
    ps->wbuf.len = 0;
    return rc;
}

/* Append one batch to the output: gathered in the write buffer, or, when
 * larger than the buffer's chunk, written from where it is (no copy). */
static int emit(pass_t *ps, gr_segment_t *out, const uint8_t *p, size_t n)
{
    int rc;
    if (out->size + (int64_t)ps->wbuf.len + (int64_t)n > INT32_MAX)
        return GR_ETOOBIG;                      /* index positions are int32 */
    if (ps->wbuf.len > 0 && ps->wbuf.len + n > WRITE_CHUNK && (rc = wflush(ps, out)) < 0)
        return rc;
    if (n > WRITE_CHUNK)
        return gr_seg_append(out, p, n, ps->j->now_ms, ps->j->index_interval);
    gr_buf_reserve(&ps->wbuf, ps->wbuf.len + n);
    memcpy(ps->wbuf.p + ps->wbuf.len, p, n);
    ps->wbuf.len += n;
    return 0;
}

/* Does record r of a batch survive?  horizon: the batch's delete horizon,
 * -1 when it has none.  *tomb: r is a tombstone that survives (for now);
 * *expired: r is a tombstone dropped because its horizon passed. */
static bool survives(const pass_t *ps, int64_t base_offset, int64_t horizon, const gr_record_t *r, bool *tomb,
                     bool *expired)
{
    bool keep = r->key_len >= 0 &&
                omap_get(&ps->map, r->key, (uint32_t)r->key_len) <= base_offset + r->offset_delta;
    *tomb = *expired = false;
    if (keep && r->value_len < 0) {
        if (horizon >= 0 && horizon <= ps->j->now_ms) {
            keep = false;
            *expired = true;
        } else {
            *tomb = true;
        }
    }
    return keep;
}

/* Kafka's DefaultRecordBatch.incrementSequence: sequences wrap to 0 after
 * INT32_MAX. */
static int32_t seq_add(int32_t seq, int32_t inc)
{
    if (seq > INT32_MAX - inc)
        return inc - (INT32_MAX - seq) - 1;
    return seq + inc;
}

/* Batch nb (len bytes, its records uncompressed) with its records
 * compressed by codec into ps->zbuf: same header, the codec in its
 * attributes, its length set again (the CRC is the caller's).  0 or a
 * GR_E* (the output may not pass the uncompressed size by more than a
 * codec's framing). */
static int recompress(pass_t *ps, const uint8_t *nb, size_t len, int codec)
{
    gr_buf_t *z = &ps->zbuf;
    z->len = 0;
    gr_buf_reserve(z, GR_BATCH_HEADER_SIZE + 4096);
    memcpy(z->p, nb, GR_BATCH_HEADER_SIZE);
    z->len = GR_BATCH_HEADER_SIZE;
    gr_cstream_t cs;
    int rc = gr_cstream_begin(&cs, codec, 2, z, len + len / 8 + 4096);
    gr_cstream_write(&cs, nb + GR_BATCH_HEADER_SIZE, len - GR_BATCH_HEADER_SIZE);
    int erc = gr_cstream_end(&cs);
    if (rc == 0)
        rc = erc;
    if (rc < 0)
        return rc;
    gr_put32(z->p + GR_BOFF_LENGTH, (uint32_t)(z->len - 12));
    uint16_t attr = (uint16_t)((gr_be16(z->p + GR_BOFF_ATTRIBUTES) & ~GR_ATTR_COMPRESSION_MASK) | codec);
    gr_put16(z->p + GR_BOFF_ATTRIBUTES, attr);
    return 0;
}

/* Finish and emit one rebuilt batch (first: the records' offset delta in
 * the original batch of this piece's first record), compressed with the
 * original batch's codec. */
static int rebuild_emit(pass_t *ps, gr_segment_t *out, gr_batch_builder_t *b, const uint8_t *p,
                        const gr_batch_info_t *bi, int64_t horizon, int32_t first, bool last)
{
    if (bi->attributes & GR_ATTR_TIMESTAMP_TYPE)
        b->max_timestamp = bi->max_timestamp;   /* LogAppendTime: the batch's time */
    int16_t attr = (int16_t)(bi->attributes & ~(GR_ATTR_COMPRESSION_MASK | GR_ATTR_DELETE_HORIZON));
    if (horizon >= 0)
        attr |= GR_ATTR_DELETE_HORIZON;
    int32_t seq = (int32_t)gr_be32(p + GR_BOFF_BASE_SEQ);
    if (seq >= 0 && first > 0)
        seq = seq_add(seq, first);
    size_t len;
    uint8_t *nb = gr_batch_builder_finish(b, attr, bi->producer_id, (int16_t)gr_be16(p + GR_BOFF_PRODUCER_EPOCH),
                                          seq, &len);
    bool recrc = false;
    if (last && (int32_t)gr_be32(nb + GR_BOFF_LAST_DELTA) != bi->last_offset_delta - first) {
        /* the last piece keeps the original batch's last offset, so that the
         * last sequence a reader derives from it is the producer's (Kafka's
         * overrideLastOffset): a batch the cleaner shrank still tells the
         * producer state where the producer stood */
        gr_put32(nb + GR_BOFF_LAST_DELTA, (uint32_t)(bi->last_offset_delta - first));
        recrc = true;
    }
    int codec = bi->attributes & GR_ATTR_COMPRESSION_MASK, rc;
    if (codec != GR_COMPRESSION_NONE && b->count > 0) {
        if ((rc = recompress(ps, nb, len, codec)) == 0) {
            nb = ps->zbuf.p;
            len = ps->zbuf.len;
            recrc = true;
        } else {
            /* the records stay readable uncompressed: better than a pass
             * that fails for ever */
            gr_warn("cleaner", "Cannot compress a rebuilt batch at offset %lld again: %s; it is written uncompressed",
                    (long long)bi->base_offset, strerror(-rc));
        }
    }
    if (recrc)
        gr_put32(nb + GR_BOFF_CRC, gr_crc32c(0, nb + GR_BOFF_ATTRIBUTES, len - GR_BOFF_ATTRIBUTES));
    memcpy(nb + GR_BOFF_LEADER_EPOCH, p + GR_BOFF_LEADER_EPOCH, 4);   /* outside the CRC */
    rc = emit(ps, out, nb, len);
    gr_batch_builder_free(b);
    return rc;
}

/* Rebuild a batch with the records that survive (compressed again with
 * its codec), their
 * offsets, timestamps and headers unchanged: one batch with the original
 * baseOffset, producer fields and leader epoch, or, when the records kept
 * would make it larger than REBUILD_MAX, several of at most REBUILD_MAX
 * (or one record), each starting at the offset of its first record
 * (baseSequence moved along as Kafka numbers a batch's records); the last
 * one ends at the original batch's last offset (Kafka's overrideLastOffset),
 * so the last sequence derived from it stays the producer's.
 * first_ts: the first surviving record's timestamp; new_horizon: the delete
 * horizon to set (-1 for none); horizon: the batch's own (-1 if none). */
static int rebuild(pass_t *ps, gr_segment_t *out, const uint8_t *p, const gr_batch_info_t *bi, int64_t first_ts,
                   int64_t new_horizon, int64_t horizon)
{
    gr_batch_builder_t b;
    gr_rec_iter_t it;
    gr_record_t r;
    bool tomb, expired;
    int rc, erc = 0;
    int64_t base_ts = (int64_t)gr_be64(p + GR_BOFF_BASE_TS);
    int32_t first = 0;                          /* offset delta of the piece's first record */
    gr_batch_builder_init(&b, bi->base_offset, new_horizon >= 0 ? new_horizon : first_ts);
    b.max_timestamp = INT64_MIN;                /* from the kept records only */
    gr_rec_iter_open(&it, p, bi);
    while ((rc = gr_rec_iter_next(&it, &r)) > 0) {
        if (!survives(ps, bi->base_offset, horizon, &r, &tomb, &expired))
            continue;
        int64_t ts = gr_add_wrap(base_ts, r.timestamp_delta);
        size_t need = RECORD_OVERHEAD + (size_t)GR_MAX(r.key_len, 0) + (size_t)GR_MAX(r.value_len, 0) + r.headers_len;
        if (b.count > 0 && need > REBUILD_MAX - b.len) {
            if ((erc = rebuild_emit(ps, out, &b, p, bi, new_horizon, first, false)) < 0)
                break;
            first = r.offset_delta;
            gr_batch_builder_init(&b, bi->base_offset + first, new_horizon >= 0 ? new_horizon : ts);
            b.max_timestamp = INT64_MIN;
        }
        gr_batch_builder_add_record(&b, r.offset_delta - first, ts, r.key, r.key_len, r.value, r.value_len,
                                    r.headers, r.headers_len, r.header_count);
    }
    gr_rec_iter_close(&it);
    if (erc == 0 && rc < 0)
        erc = GR_ECORRUPT;
    if (erc == 0)
        return rebuild_emit(ps, out, &b, p, bi, new_horizon, first, true);
    gr_batch_builder_free(&b);
    return erc;
}

/* Is `last` the last offset of a producer's last batch? */
static bool keep_last(const gr_clean_job_t *j, int64_t last)
{
    size_t lo = 0, hi = j->nkeep;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->keep_last[mid] < last)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < j->nkeep && j->keep_last[lo] == last;
}

/* Is the control batch the last entry of a producer the log knows
 * (Kafka's isBatchLastRecordOfProducer for a producer without data)? */
static bool keep_ctl(const gr_clean_job_t *j, int64_t pid, int16_t epoch)
{
    size_t lo = 0, hi = j->nkeepctl;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->keep_ctl[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < j->nkeepctl && j->keep_ctl[lo].pid == pid && j->keep_ctl[lo].epoch == epoch;
}

/* A control batch with a delete horizon (KIP-534, as a tombstone's): its
 * record copied with its timestamp, baseTimestamp = horizon. */
static int emit_ctl_horizon(pass_t *ps, gr_segment_t *out, const uint8_t *p, const gr_batch_info_t *bi,
                            int64_t horizon)
{
    gr_batch_builder_t b;
    gr_rec_iter_t it;
    gr_record_t r;
    int rc;
    int64_t base_ts = (int64_t)gr_be64(p + GR_BOFF_BASE_TS);
    gr_batch_builder_init(&b, bi->base_offset, horizon);
    b.max_timestamp = INT64_MIN;
    gr_rec_iter_open(&it, p, bi);
    while ((rc = gr_rec_iter_next(&it, &r)) > 0)
        gr_batch_builder_add_record(&b, r.offset_delta, gr_add_wrap(base_ts, r.timestamp_delta), r.key, r.key_len,
                                    r.value, r.value_len, r.headers, r.headers_len, r.header_count);
    gr_rec_iter_close(&it);
    if (rc < 0) {
        gr_batch_builder_free(&b);
        return GR_ECORRUPT;
    }
    if (b.count == 0)
        b.max_timestamp = bi->max_timestamp;
    int16_t attr = (int16_t)((bi->attributes & ~GR_ATTR_COMPRESSION_MASK) | GR_ATTR_DELETE_HORIZON);
    size_t len;
    uint8_t *nb = gr_batch_builder_finish(&b, attr, bi->producer_id, (int16_t)gr_be16(p + GR_BOFF_PRODUCER_EPOCH),
                                          (int32_t)gr_be32(p + GR_BOFF_BASE_SEQ), &len);
    if ((int32_t)gr_be32(nb + GR_BOFF_LAST_DELTA) != bi->last_offset_delta) {
        gr_put32(nb + GR_BOFF_LAST_DELTA, (uint32_t)bi->last_offset_delta);
        gr_put32(nb + GR_BOFF_CRC, gr_crc32c(0, nb + GR_BOFF_ATTRIBUTES, len - GR_BOFF_ATTRIBUTES));
    }
    memcpy(nb + GR_BOFF_LEADER_EPOCH, p + GR_BOFF_LEADER_EPOCH, 4);
    rc = emit(ps, out, nb, len);
    gr_batch_builder_free(&b);
    return rc;
}

/* A batch reduced to its header (DefaultRecordBatch.writeEmptyHeader). */
static int emit_empty(pass_t *ps, gr_segment_t *out, const uint8_t *p, const gr_batch_info_t *bi)
{
    uint8_t h[GR_BATCH_HEADER_SIZE];
    memcpy(h, p, sizeof(h));
    gr_put32(h + GR_BOFF_LENGTH, GR_BATCH_HEADER_SIZE - GR_BATCH_LOG_OVERHEAD);
    gr_put16(h + GR_BOFF_ATTRIBUTES,
             (uint16_t)(bi->attributes & ~(GR_ATTR_COMPRESSION_MASK | GR_ATTR_DELETE_HORIZON)));
    gr_put64(h + GR_BOFF_BASE_TS, (uint64_t)bi->max_timestamp);
    gr_put64(h + GR_BOFF_MAX_TS, (uint64_t)bi->max_timestamp);
    gr_put32(h + GR_BOFF_RECORD_COUNT, 0);
    gr_put32(h + GR_BOFF_CRC, gr_crc32c(0, h + GR_BOFF_ATTRIBUTES, sizeof(h) - GR_BOFF_ATTRIBUTES));
    return emit(ps, out, h, sizeof(h));
}

/* Phase 2 for one source segment. */
static int clean_segment(pass_t *ps, gr_clean_seg_t *s, bool first)
{
    gr_clean_job_t *j = ps->j;
    gr_segment_t *out = NULL;
    bool changed = false;
    int rc = src_begin(ps, s);
    if (rc < 0)
        return rc;
    if ((rc = gr_seg_create_cleaned(j->dir, s->base, j->now_ms, &out)) < 0)
        return rc;
    ps->wbuf.len = 0;
    const uint8_t *p;
    gr_batch_info_t bi;
    while ((rc = src_next(&ps->src, &p, &bi)) == 0) {
        j->stats.records_read += bi.record_count;
        int64_t horizon = (bi.attributes & GR_ATTR_DELETE_HORIZON) ? (int64_t)gr_be64(p + GR_BOFF_BASE_TS) : -1;
        if (bi.attributes & GR_ATTR_CONTROL) {
            gr_aborted_txn_t keep;
            bool kept;
            bool can_go = walk_control(&ps->walk, p, &bi, &keep, &kept);
            bool last_entry = bi.producer_id >= 0 && keep_ctl(j, bi.producer_id,
                                                             (int16_t)gr_be16(p + GR_BOFF_PRODUCER_EPOCH));
            if (kept && (rc = gr_seg_txn_append(out, &keep)) < 0)
                goto err;
            if (can_go && horizon >= 0 && horizon <= j->now_ms) {
                changed = true;
                rc = last_entry && bi.record_count > 0 ? emit_empty(ps, out, p, &bi)
                     : last_entry                     ? emit(ps, out, p, (size_t)bi.size)
                                                      : 0;
                j->stats.records_removed += bi.record_count;
            } else if (can_go && horizon < 0) {
                changed = true;
                horizon = gr_add_sat(j->now_ms, j->delete_retention_ms);
                rc = emit_ctl_horizon(ps, out, p, &bi, horizon);
                if (horizon < j->min_horizon)
                    j->min_horizon = horizon;
            } else {
                rc = emit(ps, out, p, (size_t)bi.size);
                if (can_go && horizon < j->min_horizon)
                    j->min_horizon = horizon;
            }
            if (rc < 0)
                goto err;
            continue;
        }
        bool aborted = walk_data(&ps->walk, &bi);
        int64_t base_ts = (int64_t)gr_be64(p + GR_BOFF_BASE_TS), first_ts = base_ts;
        int32_t kept = 0, tombs = 0;
        gr_rec_iter_t it;
        gr_record_t r;
        bool tomb, expired;
        gr_rec_iter_open(&it, p, &bi);
        while (!aborted && (rc = gr_rec_iter_next(&it, &r)) > 0) {
            bool keep = survives(ps, bi.base_offset, horizon, &r, &tomb, &expired);
            if (keep && kept == 0)
                first_ts = gr_add_wrap(base_ts, r.timestamp_delta);
            kept += keep;
            tombs += tomb;
            j->stats.tombstones_removed += expired;
        }
        gr_rec_iter_close(&it);
        if (aborted)
            rc = 0;                         /* an aborted transaction's records all go */
        if (rc < 0) {
            rc = GR_ECORRUPT;
            goto err;
        }
        j->stats.records_removed += bi.record_count - kept;
        bool last_of_producer = bi.producer_id >= 0 && keep_last(j, bi.base_offset + bi.last_offset_delta);
        if (bi.record_count == 0 && !last_of_producer) {
            changed = true;                     /* kept for a producer that is gone */
            rc = 0;
        } else if (kept == bi.record_count && (tombs == 0 || horizon >= 0)) {
            rc = emit(ps, out, p, (size_t)bi.size);
        } else if (kept == 0) {
            changed = true;
            rc = 0;
            if (last_of_producer)
                rc = emit_empty(ps, out, p, &bi);
        } else {
            changed = true;
            if (tombs > 0 && horizon < 0)
                horizon = gr_add_sat(j->now_ms, j->delete_retention_ms);
            rc = rebuild(ps, out, p, &bi, first_ts, tombs > 0 ? horizon : -1,
                         (bi.attributes & GR_ATTR_DELETE_HORIZON) ? base_ts : -1);
        }
        if (rc < 0)
            goto err;
        if (tombs > 0 && horizon < j->min_horizon)
            j->min_horizon = horizon;
    }
    if (rc != GR_ENOENT)
        goto err;
    if (!changed) {
        s->action = GR_CLEAN_KEEP;
        discard_out(out);
        return 0;
    }
    if ((rc = wflush(ps, out)) < 0 || (rc = gr_seg_seal(out)) < 0 ||
        (rc = gr_seg_sync(out)) < 0)
        goto err;
    out->dirty = false;
    gr_seg_drop_fine(out);
    gr_seg_release_fd(out);     /* reopened by the cache once swapped in */
    j->stats.bytes_read += s->size;
    j->stats.bytes_written += out->size;
    if (out->size == 0 && !first) {
        s->action = GR_CLEAN_REMOVE;
        discard_out(out);
        j->stats.segments_removed++;
    } else {
        s->action = GR_CLEAN_REPLACE;
        s->out = out;
        j->stats.segments_cleaned++;
    }
    return 0;
err:
    discard_out(out);
    return rc;
}

void gr_clean_work(gr_clean_job_t *j)
{
    pass_t ps;
    memset(&ps, 0, sizeof(ps));
    ps.j = j;
    ps.src.fd = -1;
    omap_init(&ps.map);
    j->min_horizon = INT64_MAX;
    j->rc = read_aborted(j, &ps.ab, &ps.nab);
    walk_init(&ps.walk, ps.ab, ps.nab);
    if (j->rc == 0)
        j->rc = build_map(&ps);
    walk_free(&ps.walk);
    walk_init(&ps.walk, ps.ab, ps.nab);
    j->stats.first_dirty = j->first_dirty;
    j->stats.map_end = j->map_end;
    j->stats.keys = (int64_t)ps.map.n;
    bool wrote = false;
    for (int i = 0; i < j->nseg && j->rc == 0; i++) {
        gr_clean_seg_t *s = &j->segs[i];
        s->action = GR_CLEAN_KEEP;
        if (s->base >= j->map_end)
            continue;
        j->rc = clean_segment(&ps, s, i == 0);
        wrote |= s->action != GR_CLEAN_KEEP;
    }
    if (j->rc == 0 && wrote)
        j->rc = gr_fsync_dir(j->dir);
    src_end(&ps);
    walk_free(&ps.walk);
    free(ps.ab);
    omap_free(&ps.map);
    gr_buf_free(&ps.src.buf);
    gr_buf_free(&ps.wbuf);
    gr_buf_free(&ps.zbuf);
}

/* ------------------------------------------------------ files, swap */

/* .log last: the commit point.  A cleaned segment always has a
 * .txnindex (maybe empty), so its swap replaces the old segment's. */
static const char *const sfx[] = {".index", ".timeindex", ".txnindex", ".log"};

static int fs_step(void)
{
    if (gr_clean_crash_after < 0)
        return 0;
    if (gr_clean_crash_after == 0)
        return GR_CLEAN_CRASHED;
    gr_clean_crash_after--;
    return 0;
}

static int do_rename(const char *path, const char *s, const char *from, const char *to)
{
    char a[PATH_MAX], b[PATH_MAX];
    int rc = fs_step();
    if (rc < 0)
        return rc;
    snprintf(a, sizeof(a), "%s%s%s", path, s, from);
    snprintf(b, sizeof(b), "%s%s%s", path, s, to);
    if (gr_fio_rename(a, b) == -1) {
        rc = -errno;
        if (errno == ENOENT && !strcmp(s, ".txnindex"))
            return rc;              /* a segment without aborted transactions */
        gr_error("cleaner", "cannot rename %s to %s: %s", a, b, strerror(errno));
        return rc;
    }
    return 0;
}

static int do_unlink(const char *path, const char *s, const char *suffix)
{
    char a[PATH_MAX];
    int rc = fs_step();
    if (rc < 0)
        return rc;
    snprintf(a, sizeof(a), "%s%s%s", path, s, suffix);
    if (gr_fio_unlink(a) == -1 && errno != ENOENT) {
        gr_warn("cleaner", "cannot delete %s: %s", a, strerror(errno));
        return -errno;
    }
    return 0;
}

int gr_clean_swap_files(const char *path)
{
    int rc;
    /* 1: .cleaned -> .swap, the log last */
    for (size_t i = 0; i < GR_ARRAY_LEN(sfx); i++)
        if ((rc = do_rename(path, sfx[i], ".cleaned", ".swap")) < 0) {
            if (rc != GR_CLEAN_CRASHED)
                for (size_t k = 0; k < i; k++)
                    do_unlink(path, sfx[k], ".swap");
            return rc;
        }
    /* 2: old -> .deleted; 3: .swap -> final, the log last */
    for (size_t i = 0; i < GR_ARRAY_LEN(sfx); i++)
        if ((rc = do_rename(path, sfx[i], "", ".deleted")) < 0 && rc == GR_CLEAN_CRASHED)
            return rc;
    for (size_t i = 0; i < GR_ARRAY_LEN(sfx); i++)
        if ((rc = do_rename(path, sfx[i], ".swap", "")) < 0)
            return rc;
    /* 4 */
    for (size_t i = 0; i < GR_ARRAY_LEN(sfx); i++)
        if ((rc = do_unlink(path, sfx[i], ".deleted")) == GR_CLEAN_CRASHED)
            return rc;
    return 0;
}

int gr_clean_remove_files(const char *path)
{
    static const char *const order[] = {".log", ".index", ".timeindex", ".txnindex"};
    int rc;
    for (size_t i = 0; i < GR_ARRAY_LEN(order); i++)
        if ((rc = do_rename(path, order[i], "", ".deleted")) < 0 && (rc == GR_CLEAN_CRASHED || i == 0))
            return rc;
    for (size_t i = 0; i < GR_ARRAY_LEN(order); i++)
        if ((rc = do_unlink(path, order[i], ".deleted")) == GR_CLEAN_CRASHED)
            return rc;
    return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "<20 digits><s>" */
static bool is_seg_file(const char *name, const char *s)
{
    size_t n = strlen(name), k = strlen(s);
    if (n != 20 + k || strcmp(name + 20, s) != 0)
        return false;
    for (int i = 0; i < 20; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return true;
}

int gr_clean_recover_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -errno;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!has_suffix(de->d_name, ".swap") && !has_suffix(de->d_name, ".cleaned") &&
            !has_suffix(de->d_name, ".deleted"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = gr_realloc(names, cap * sizeof(*names));
        }
        names[n++] = gr_strdup(de->d_name);
    }
    closedir(d);
    /* decide first: renaming a .log.swap must not make its indexes look
     * incomplete */
    bool *finish = gr_calloc(n ? n : 1, sizeof(*finish));
    char a[PATH_MAX], b[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        const char *nm = names[i];
        if (is_seg_file(nm, ".log.swap") || is_seg_file(nm, ".index.swap") || is_seg_file(nm, ".timeindex.swap") ||
            is_seg_file(nm, ".txnindex.swap")) {
            snprintf(a, sizeof(a), "%s/%.20s.log.swap", dir, nm);
            finish[i] = access(a, F_OK) == 0;
        }
    }
    int rc = 0;
    bool renamed = false;
    for (size_t i = 0; i < n; i++) {
        const char *nm = names[i];
        snprintf(a, sizeof(a), "%s/%s", dir, nm);
        if (finish[i]) {
            snprintf(b, sizeof(b), "%s/%.*s", dir, (int)(strlen(nm) - 5), nm);
            if (gr_fio_rename(a, b) == -1) {
                rc = -errno;
                gr_error("cleaner", "cannot rename %s to %s: %s", a, b, strerror(errno));
            } else {
                renamed = true;
                gr_info("cleaner", "Completed an interrupted swap: %s", b);
            }
            continue;
        }
        if (gr_fio_unlink(a) == -1 && errno != ENOENT)
            gr_warn("cleaner", "cannot delete %s: %s", a, strerror(errno));
    }
    free(finish);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (renamed && rc == 0)
        rc = gr_fsync_dir(dir);
    return rc;
}
