/*
 * batch.c - RecordBatch v2: validation, offset assignment, the record
 * iterator, and up-conversion of legacy (magic 0/1) message sets.
 *
 * One record parser (parse_body, and cur_record over a stream) serves
 * validation and every reader (gr_rec_iter_*), so what Produce accepts is
 * exactly what the cleaner and the coordinator can read.
 *
 * Validation walks records in place and never allocates for uncompressed
 * batches.  A compressed batch is never inflated whole: its records are
 * read through a 64 KiB window refilled from a decompression stream
 * (compress.h), as Kafka streams through them, so the memory it costs is
 * the window plus the codec's state whatever the batch expands to, and the
 * stream stops one byte after the last record.  The decompressed bytes
 * count against a per-thread budget (gr_batch_budget_begin: one Produce
 * request) and against MAX_DECOMPRESSED per batch.  Legacy up-conversion
 * builds one v2 batch that may not exceed what the log accepts (max_out),
 * checked before each step allocates.  Nothing here touches files or broker
 * state.
 *
 * A producer writes the whole header; what the broker keeps from it is
 * what the records confirm: maxTimestamp is recomputed from the records
 * (the _into validators, gr_batch_set_max_timestamp) before the
 * segment's largest timestamp, its time index and retention see it, and a
 * record's timestamp (baseTimestamp + timestampDelta, both any int64)
 * wraps as a Java long does.
 *
 * RecordBatch v2 (all integers big-endian):
 *
 *   offset  size  field                  notes
 *   ------  ----  ---------------------  ----------------------------------
 *   0       8     baseOffset             assigned by the broker
 *   8       4     batchLength            bytes after this field (>= 49)
 *   12      4     partitionLeaderEpoch   assigned by the broker
 *   16      1     magic                  2
 *   17      4     crc                    CRC-32C of bytes 21..end
 *   21      2     attributes             0-2 codec, 3 LogAppendTime,
 *                                        4 transactional, 5 control,
 *                                        6 delete horizon: baseTimestamp
 *                                        is the time after which the
 *                                        cleaner drops its tombstones
 *   23      4     lastOffsetDelta        recordCount - 1 unless compacted
 *   27      8     baseTimestamp
 *   35      8     maxTimestamp
 *   43      8     producerId             -1 when not idempotent
 *   51      2     producerEpoch
 *   53      4     baseSequence
 *   57      4     recordCount            plaintext even when compressed
 *   61      ...   records                compressed as a whole if codec != 0
 *
 * Record (varints are zig-zag LEB128):
 *
 *   length varint | attributes int8 | timestampDelta varlong |
 *   offsetDelta varint | keyLength varint (-1 null) | key |
 *   valueLength varint (-1 null) | value | headerCount varint |
 *   [ headerKeyLength varint | headerKey | headerValueLength varint | value ]*
 *
 * Legacy message (magic 0/1), a message set is a sequence of these:
 *
 *   offset  size  field
 *   ------  ----  ---------------------------------------------------
 *   0       8     offset   (v1 compressed wrapper: offset of last inner)
 *   8       4     messageSize (bytes after this field)
 *   12      4     crc      CRC-32 (IEEE) of bytes 16..end
 *   16      1     magic    0 or 1
 *   17      1     attributes (0-2 codec, 3 LogAppendTime for v1)
 *   18      8     timestamp (v1 only)
 *   ..      4+n   key   (int32 length, -1 null)
 *   ..      4+n   value (int32 length, -1 null; compressed inner set)
 */
#include "batch.h"
#include "compress.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DECOMPRESSED (256u << 20)   /* per batch */
#define WIN (64u * 1024)                  /* streaming window */

/* Decompressed bytes validation may still produce on this thread; -1 when
 * no budget is set (only the per-batch cap applies). */
static _Thread_local int64_t budget_left = -1;

/* The streaming window of the thread's cursor (cursors do not nest). */
static _Thread_local uint8_t cur_win[WIN];

/* a varint length (-1 = null allowed when nullable) followed by its bytes */
static inline bool skip_field(const uint8_t **pp, const uint8_t *end, bool nullable)
{
    int64_t n;
    if (!gr_rec_varint(pp, end, 5, &n))
        return false;
    if (n < 0)
        return nullable && n == -1;
    if (n > end - *pp)
        return false;
    *pp += n;
    return true;
}

/* A varint length (-1 = null when nullable) and its bytes, kept in *f,
 * *flen (NULL, -1 for null). */
static inline bool rd_field(const uint8_t **pp, const uint8_t *end, bool nullable, const uint8_t **f, int32_t *flen)
{
    int64_t n;
    if (!gr_rec_varint(pp, end, 5, &n))
        return false;
    if (n < 0) {
        *f = NULL;
        *flen = -1;
        return nullable && n == -1;
    }
    if (n > end - *pp)
        return false;
    *f = *pp;
    *flen = (int32_t)n;
    *pp += n;
    return true;
}

/* The body of one record, [p, rend) after its length, into *r: every field
 * in bounds and nothing left over.  *off gets the offset delta as read (a
 * 5-byte varint: any 35-bit value; the callers check its range). */
static bool parse_body(const uint8_t *p, const uint8_t *rend, gr_record_t *r, int64_t *off)
{
    int64_t nh;
    if (p >= rend)
        return false;
    p++;                                        /* attributes */
    if (!gr_rec_varint(&p, rend, 10, &r->timestamp_delta) || !gr_rec_varint(&p, rend, 5, off))
        return false;
    if (!rd_field(&p, rend, true, &r->key, &r->key_len) || !rd_field(&p, rend, true, &r->value, &r->value_len))
        return false;
    if (!gr_rec_varint(&p, rend, 5, &nh) || nh < 0)
        return false;
    r->headers = p;
    r->header_count = (int32_t)GR_MIN(nh, (int64_t)INT32_MAX);
    for (int64_t i = 0; i < nh; i++)
        if (!skip_field(&p, rend, false) || !skip_field(&p, rend, true))
            return false;
    r->headers_len = (size_t)(p - r->headers);
    return p == rend;
}

/* One record at *pp; on success *pp moves past it. */
static bool parse_record(const uint8_t **pp, const uint8_t *end, gr_record_t *r, int64_t *off)
{
    int64_t len;
    const uint8_t *p = *pp;
    if (!gr_rec_varint(&p, end, 5, &len) || len < 0 || len > end - p)
        return false;
    if (!parse_body(p, p + len, r, off))
        return false;
    *pp = p + len;
    return true;
}

/* What one record adds to what the records of a batch say (base_ts: the
 * batch's baseTimestamp; i: the record's position; off: its offset delta). */
static void recs_add(gr_batch_recs_t *out, int64_t base_ts, int32_t i, const gr_record_t *r, int64_t off)
{
    int64_t ts = gr_add_wrap(base_ts, r->timestamp_delta);
    if (ts > out->max_timestamp)
        out->max_timestamp = ts;
    if (off != i)
        out->offsets_in_order = false;
}

static void recs_init(gr_batch_recs_t *out)
{
    out->max_timestamp = -1;
    out->offsets_in_order = true;
}

/* Parse `count` records filling [p, end) exactly; when out is not NULL,
 * also learn what they say. */
static bool parse_records(const uint8_t *p, const uint8_t *end, int32_t count, int64_t base_ts,
                          gr_batch_recs_t *out)
{
    gr_record_t r;
    int64_t off;
    if (out)
        recs_init(out);
    for (int32_t i = 0; i < count; i++) {
        if (!parse_record(&p, end, &r, &off))
            return false;
        if (out)
            recs_add(out, base_ts, i, &r, off);
    }
    return p == end;
}

/* ------------------------------------------------------------ streaming */

/* The records of a batch as a byte stream (gr_rec_cursor_t, batch.h): in
 * place when uncompressed, else a WIN-byte window refilled from a
 * decompression stream.  pos() is the offset of p in the record stream. */
typedef gr_rec_cursor_t cursor_t;

static inline uint64_t cur_pos(const cursor_t *c)
{
    return c->base + (uint64_t)(c->p - c->start);
}

/* Make at least want (<= WIN) unread bytes available; false when the
 * stream ends (or fails: c->err) first.  Unread bytes stay in order. */
static bool cur_fill(cursor_t *c, size_t want)
{
    if ((size_t)(c->end - c->p) >= want)
        return true;
    if (!c->ds || c->err)
        return false;
    size_t have = (size_t)(c->end - c->p);
    c->base = cur_pos(c);
    memmove(c->win, c->p, have);
    c->start = c->p = c->win;
    c->end = c->win + have;
    while (have < want) {
        ssize_t n = gr_dstream_read(c->ds, c->win + have, WIN - have);
        if (n <= 0) {
            c->err = (int)n;
            return false;
        }
        have += (size_t)n;
        c->end = c->win + have;
    }
    return true;
}

/* Consume n bytes. */
static bool cur_skip(cursor_t *c, uint64_t n)
{
    while (n > 0) {
        if (c->p == c->end && !cur_fill(c, 1))
            return false;
        size_t k = (size_t)GR_MIN((uint64_t)(c->end - c->p), n);
        c->p += k;
        n -= k;
    }
    return true;
}

/* A varint of at most maxb bytes ending before stream offset rend. */
static bool cur_varint(cursor_t *c, uint64_t rend, int maxb, int64_t *v)
{
    cur_fill(c, (size_t)maxb);                  /* fewer at the end: checked below */
    uint64_t left = rend - cur_pos(c);
    const uint8_t *lim = c->p + GR_MIN((uint64_t)(c->end - c->p), left);
    return gr_rec_varint(&c->p, lim, maxb, v);
}

/* A varint length (-1 = null when nullable) and its bytes, before rend. */
static bool cur_field(cursor_t *c, uint64_t rend, bool nullable, int64_t *len)
{
    if (!cur_varint(c, rend, 5, len))
        return false;
    if (*len < 0)
        return nullable && *len == -1;
    return (uint64_t)*len <= rend - cur_pos(c) && cur_skip(c, (uint64_t)*len);
}

/* The next n bytes of the stream into buf (from its start): buf grows
 * with the bytes that actually arrive, never to what n claims ahead. */
static bool cur_take(cursor_t *c, gr_buf_t *buf, uint64_t n)
{
    buf->len = 0;
    while (buf->len < n) {
        if (c->p == c->end && !cur_fill(c, 1))
            return false;
        size_t k = (size_t)GR_MIN((uint64_t)(c->end - c->p), n - buf->len);
        gr_buf_reserve(buf, buf->len + k);
        memcpy(buf->p + buf->len, c->p, k);
        buf->len += k;
        c->p += k;
    }
    return true;
}

/* The next record, with the checks of parse_record, into *r and *off.  A
 * record read in place or fitting the window is parsed there.  A larger
 * one, from a stream, is assembled whole in *big when the caller gives one
 * (the iterator: r's pointers then point into it), else read field by
 * field, its key, value and headers skipped through the window (validation:
 * then only r's timestamp_delta, key_len and value_len are set). */
static bool cur_record(cursor_t *c, gr_record_t *r, int64_t *off, gr_buf_t *big)
{
    int64_t len, nh, n;
    if (!cur_varint(c, UINT64_MAX, 5, &len) || len <= 0)
        return false;
    if (!c->ds || (uint64_t)len <= WIN) {
        if (!cur_fill(c, (size_t)len) || !parse_body(c->p, c->p + len, r, off))
            return false;
        c->p += len;
        return true;
    }
    if (big)
        return cur_take(c, big, (uint64_t)len) && parse_body(big->p, big->p + len, r, off);
    uint64_t rend = cur_pos(c) + (uint64_t)len;
    if (!cur_skip(c, 1))                        /* attributes */
        return false;
    if (!cur_varint(c, rend, 10, &r->timestamp_delta) || !cur_varint(c, rend, 5, off))
        return false;
    if (!cur_field(c, rend, true, &n))
        return false;
    r->key_len = n < 0 ? -1 : (int32_t)GR_MIN(n, (int64_t)INT32_MAX);
    if (!cur_field(c, rend, true, &n))
        return false;
    r->value_len = n < 0 ? -1 : (int32_t)GR_MIN(n, (int64_t)INT32_MAX);
    if (!cur_varint(c, rend, 5, &nh) || nh < 0)
        return false;
    for (int64_t i = 0; i < nh; i++)
        if (!cur_field(c, rend, false, &n) || !cur_field(c, rend, true, &n))
            return false;
    return cur_pos(c) == rend;
}

/* Open a cursor on the records of a checked batch, streaming through win
 * (WIN bytes) when compressed.  A compressed batch gets a stream allowed
 * min(MAX_DECOMPRESSED, the thread's budget). */
static void cur_open(cursor_t *c, gr_dstream_t *ds, uint8_t *win, const uint8_t *p, const gr_batch_info_t *info)
{
    memset(c, 0, sizeof(*c));
    const uint8_t *r = p + GR_BATCH_HEADER_SIZE;
    size_t n = (size_t)info->size - GR_BATCH_HEADER_SIZE;
    int codec = info->attributes & GR_ATTR_COMPRESSION_MASK;
    if (codec == GR_COMPRESSION_NONE) {
        c->p = c->start = r;
        c->end = r + n;
        return;
    }
    uint64_t max_out = MAX_DECOMPRESSED;
    if (budget_left >= 0 && (uint64_t)budget_left < max_out)
        max_out = (uint64_t)budget_left;
    if (gr_dstream_open(ds, codec, r, n, max_out) < 0) {
        c->err = GR_ECORRUPT;                   /* gr_batch_check refused such codecs */
        return;
    }
    c->ds = ds;
    c->win = win;
    c->p = c->start = c->end = c->win;
}

/* Close the cursor; what its stream produced is charged to the budget. */
static void cur_close(cursor_t *c)
{
    if (!c->ds)
        return;
    if (budget_left >= 0)
        budget_left -= (int64_t)GR_MIN(c->ds->out, (uint64_t)budget_left);
    gr_dstream_close(c->ds);
    c->win = NULL;
    c->ds = NULL;
}

void gr_batch_budget_begin(int64_t bytes)
{
    budget_left = bytes < 0 ? 0 : bytes;
}

int64_t gr_batch_budget_end(void)
{
    int64_t left = budget_left;
    budget_left = -1;
    return left;
}

/* ------------------------------------------------------ the iterator */

void gr_rec_iter_open(gr_rec_iter_t *it, const uint8_t *p, const gr_batch_info_t *info)
{
    memset(it, 0, sizeof(*it));
    if ((info->attributes & GR_ATTR_COMPRESSION_MASK) != GR_COMPRESSION_NONE)
        it->win = gr_malloc(WIN);
    cur_open(&it->cur, &it->ds, it->win, p, info);
    it->left = info->record_count;
    it->last_delta = info->last_offset_delta;
    if (it->cur.err < 0)
        it->state = it->cur.err;
}

int gr_rec_iter_next(gr_rec_iter_t *it, gr_record_t *r)
{
    if (it->state != 0)
        return it->state < 0 ? it->state : 0;
    if (it->left == 0) {
        /* the records fill the area or the stream exactly: one more byte
         * read tells (Kafka's ensureNoneRemaining) */
        if (cur_fill(&it->cur, 1))
            it->state = GR_ECORRUPT;
        else
            it->state = it->cur.err < 0 ? it->cur.err : 1;
        return it->state < 0 ? it->state : 0;
    }
    int64_t off;
    if (!cur_record(&it->cur, r, &off, &it->big) || off < 0 || off > it->last_delta) {
        it->state = it->cur.err < 0 ? it->cur.err : GR_ECORRUPT;
        return it->state;
    }
    r->offset_delta = (int32_t)off;
    it->left--;
    return 1;
}

void gr_rec_iter_close(gr_rec_iter_t *it)
{
    cur_close(&it->cur);
    free(it->win);
    it->win = NULL;
    gr_buf_free(&it->big);
    if (it->state == 0)
        it->state = GR_ECORRUPT;
}

int gr_batch_check(const uint8_t *p, size_t avail, gr_batch_info_t *info)
{
    return gr_batch_check_into(p, avail, info, NULL);
}

int gr_batch_check_into(const uint8_t *p, size_t avail, gr_batch_info_t *info, gr_batch_recs_t *recs)
{
    if (avail < GR_BATCH_LOG_OVERHEAD)
        return GR_AGAIN;
    int32_t blen = (int32_t)gr_be32(p + GR_BOFF_LENGTH);
    if (blen < GR_BATCH_HEADER_SIZE - GR_BATCH_LOG_OVERHEAD || blen > INT32_MAX - GR_BATCH_LOG_OVERHEAD)
        return GR_ECORRUPT;
    if (avail > GR_BOFF_MAGIC && p[GR_BOFF_MAGIC] != 2)
        return GR_ECORRUPT;
    size_t size = (size_t)blen + GR_BATCH_LOG_OVERHEAD;
    if (size > avail)
        return GR_AGAIN;
    uint32_t crc = gr_be32(p + GR_BOFF_CRC);
    if (gr_crc32c(0, p + GR_BOFF_ATTRIBUTES, size - GR_BOFF_ATTRIBUTES) != crc)
        return GR_ECORRUPT;
    int16_t attr = (int16_t)((p[GR_BOFF_ATTRIBUTES] << 8) | p[GR_BOFF_ATTRIBUTES + 1]);
    int codec = attr & GR_ATTR_COMPRESSION_MASK;
    if (codec > GR_COMPRESSION_ZSTD)
        return GR_ECORRUPT;
    int32_t last_delta = (int32_t)gr_be32(p + GR_BOFF_LAST_DELTA);
    int32_t count = (int32_t)gr_be32(p + GR_BOFF_RECORD_COUNT);
    /* A batch written by a producer holds exactly lastOffsetDelta+1
     * records (gr_log_append checks that); one rewritten by the log
     * cleaner may hold fewer, with gaps in its offset deltas, or none at
     * all (uncompressed, a bare header: the last batch of an idempotent
     * producer, kept for its producer state, as Kafka's RETAIN_EMPTY). */
    if (count < 0 || (count == 0 && codec != GR_COMPRESSION_NONE) || last_delta < 0 || count > last_delta + 1)
        return GR_ECORRUPT;
    if (codec == GR_COMPRESSION_NONE) {
        if (!parse_records(p + GR_BATCH_HEADER_SIZE, p + size, count, (int64_t)gr_be64(p + GR_BOFF_BASE_TS), recs))
            return GR_ECORRUPT;
        if (recs && (attr & GR_ATTR_TIMESTAMP_TYPE))
            recs->max_timestamp = (int64_t)gr_be64(p + GR_BOFF_MAX_TS);
    }
    if (info) {
        info->base_offset = (int64_t)gr_be64(p + GR_BOFF_BASE_OFFSET);
        info->last_offset_delta = last_delta;
        info->first_timestamp = (int64_t)gr_be64(p + GR_BOFF_BASE_TS);
        info->max_timestamp = (int64_t)gr_be64(p + GR_BOFF_MAX_TS);
        info->record_count = count;
        info->attributes = attr;
        info->producer_id = (int64_t)gr_be64(p + GR_BOFF_PRODUCER_ID);
        info->size = (int32_t)size;
    }
    return 0;
}

/* Walk the records of a validated batch (through the decompression
 * stream when compressed): what gr_batch_scan and the _into validator
 * report.  An uncompressed batch's records were parsed by gr_batch_check;
 * they are walked again only when scan asks about them. */
static int walk_records(const uint8_t *p, const gr_batch_info_t *info, gr_batch_scan_t *scan,
                        gr_batch_recs_t *recs)
{
    int codec = info->attributes & GR_ATTR_COMPRESSION_MASK;
    if (scan)
        memset(scan, 0, sizeof(*scan));
    else if (codec == GR_COMPRESSION_NONE)
        return 0;                               /* gr_batch_check(_into) parsed them */
    if (recs)
        recs_init(recs);
    gr_dstream_t ds;
    cursor_t c;
    cur_open(&c, &ds, cur_win, p, info);
    int rc = 0;
    gr_record_t r;
    int64_t off;
    for (int32_t i = 0; i < info->record_count && rc == 0; i++) {
        if (!cur_record(&c, &r, &off, NULL)) {
            rc = GR_EINVAL;
            break;
        }
        if (scan && r.key_len < 0)
            scan->null_key = true;
        if (recs)
            recs_add(recs, info->first_timestamp, i, &r, off);
    }
    /* the records must fill the stream exactly, and the stream be whole:
     * one more byte read tells (Kafka's ensureNoneRemaining) */
    if (rc == 0 && cur_fill(&c, 1))
        rc = GR_EINVAL;
    if (c.err < 0)
        rc = c.err;                             /* GR_ECORRUPT or GR_ETOOBIG */
    cur_close(&c);
    if (rc == 0 && recs && (info->attributes & GR_ATTR_TIMESTAMP_TYPE))
        recs->max_timestamp = info->max_timestamp;
    return rc;
}

int gr_batch_scan(const uint8_t *p, const gr_batch_info_t *info, gr_batch_scan_t *scan)
{
    return walk_records(p, info, scan, NULL);
}

int gr_batch_check_records(const uint8_t *p, const gr_batch_info_t *info)
{
    return walk_records(p, info, NULL, NULL);
}

int gr_batch_check_records_into(const uint8_t *p, const gr_batch_info_t *info, gr_batch_recs_t *recs)
{
    return walk_records(p, info, NULL, recs);
}

int gr_batch_scan_into(const uint8_t *p, const gr_batch_info_t *info, gr_batch_scan_t *scan, gr_batch_recs_t *recs)
{
    return walk_records(p, info, scan, recs);
}

bool gr_batch_set_max_timestamp(uint8_t *p, int64_t max_timestamp)
{
    uint16_t attr = gr_be16(p + GR_BOFF_ATTRIBUTES);
    if ((int64_t)gr_be64(p + GR_BOFF_MAX_TS) == max_timestamp && !(attr & GR_ATTR_DELETE_HORIZON))
        return false;
    gr_put16(p + GR_BOFF_ATTRIBUTES, (uint16_t)(attr & ~GR_ATTR_DELETE_HORIZON));
    gr_put64(p + GR_BOFF_MAX_TS, (uint64_t)max_timestamp);
    size_t size = (size_t)gr_batch_size(p);
    gr_put32(p + GR_BOFF_CRC, gr_crc32c(0, p + GR_BOFF_ATTRIBUTES, size - GR_BOFF_ATTRIBUTES));
    return true;
}

bool gr_batch_any_transactional(const uint8_t *p, size_t len)
{
    for (size_t off = 0; len - off >= GR_BATCH_HEADER_SIZE;) {
        const uint8_t *b = p + off;
        int32_t size = gr_batch_size(b);
        if (b[GR_BOFF_MAGIC] != 2 || size < GR_BATCH_HEADER_SIZE)
            return false;
        if (gr_be16(b + GR_BOFF_ATTRIBUTES) & GR_ATTR_TRANSACTIONAL)
            return true;
        if ((size_t)size > len - off)
            return false;
        off += (size_t)size;
    }
    return false;
}

int gr_batch_find_timestamp(const uint8_t *p, size_t size, int64_t ts, int64_t min_offset,
                            int64_t *offset, int64_t *found_ts)
{
    gr_batch_info_t bi;
    if (gr_batch_check(p, size, &bi) < 0)
        return GR_ECORRUPT;
    if (bi.max_timestamp < ts)
        return GR_ENOENT;
    if (bi.base_offset + bi.last_offset_delta < min_offset)
        return GR_ENOENT;
    if (bi.attributes & GR_ATTR_TIMESTAMP_TYPE) {
        *offset = GR_MAX(bi.base_offset, min_offset);
        *found_ts = bi.max_timestamp;
        return 0;
    }
    gr_dstream_t ds;
    cursor_t c;
    cur_open(&c, &ds, cur_win, p, &bi);
    int rc = GR_ENOENT;
    for (int32_t i = 0; i < bi.record_count; i++) {
        gr_record_t r;
        int64_t off;
        if (!cur_record(&c, &r, &off, NULL)) {
            rc = c.err < 0 ? c.err : GR_ECORRUPT;   /* GR_ETOOBIG: over the budget */
            break;
        }
        int64_t t = gr_add_wrap(bi.first_timestamp, r.timestamp_delta);      /* Java's long arithmetic */
        if (t >= ts && bi.base_offset + off >= min_offset) {
            *offset = bi.base_offset + off;
            *found_ts = t;
            rc = 0;
            break;
        }
    }
    cur_close(&c);
    return rc;
}

void gr_batch_assign(uint8_t *p, int64_t base_offset, int32_t leader_epoch, int64_t log_append_time)
{
    gr_put64(p + GR_BOFF_BASE_OFFSET, (uint64_t)base_offset);
    gr_put32(p + GR_BOFF_LEADER_EPOCH, (uint32_t)leader_epoch);
    if (log_append_time >= 0) {
        /* DefaultRecordBatch.setMaxTimestamp: type bit + maxTimestamp, new CRC;
         * baseTimestamp is left alone. */
        uint16_t attr = (uint16_t)((p[GR_BOFF_ATTRIBUTES] << 8) | p[GR_BOFF_ATTRIBUTES + 1]);
        gr_put16(p + GR_BOFF_ATTRIBUTES, attr | GR_ATTR_TIMESTAMP_TYPE);
        gr_put64(p + GR_BOFF_MAX_TS, (uint64_t)log_append_time);
        size_t size = (size_t)gr_batch_size(p);
        gr_put32(p + GR_BOFF_CRC, gr_crc32c(0, p + GR_BOFF_ATTRIBUTES, size - GR_BOFF_ATTRIBUTES));
    }
}

int64_t gr_batch_base_offset(const uint8_t *p)
{
    return (int64_t)gr_be64(p + GR_BOFF_BASE_OFFSET);
}

int32_t gr_batch_size(const uint8_t *p)
{
    /* unchecked input: a batchLength near INT32_MAX has no int32 size */
    int32_t blen = (int32_t)gr_be32(p + GR_BOFF_LENGTH);
    return blen > INT32_MAX - GR_BATCH_LOG_OVERHEAD ? -1 : blen + GR_BATCH_LOG_OVERHEAD;
}

/* ------------------------------------------------------- legacy sets */

typedef struct upconv {
    gr_buf_t out;            /* the v2 batch being built */
    size_t max_out;          /* ... may not grow beyond this */
    int32_t count;
    int64_t base_ts;
    int64_t max_ts;
    bool log_append_time;
} upconv_t;

/* A legacy message is at least 26 bytes (magic 0; 34 for magic 1, whose
 * timestamp may make a 10-byte delta); the record it becomes at least 7.
 * So an inner message set more than LEGACY_EXPANSION times the room left
 * in the converted batch cannot fit it. */
#define LEGACY_EXPANSION 5

static size_t wr_varint(uint8_t *p, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (u >= 0x80) {
        p[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    p[n++] = (uint8_t)u;
    return n;
}

static size_t varint_len(int64_t v)
{
    uint8_t tmp[10];
    return wr_varint(tmp, v);
}

/* Append one record; GR_ETOOBIG when the batch would pass max_out. */
static int add_record(upconv_t *u, int64_t ts, const uint8_t *key, int32_t klen,
                      const uint8_t *val, int32_t vlen)
{
    int64_t base_ts = u->count == 0 ? ts : u->base_ts;
    int64_t tsd = (ts >= 0 && base_ts >= 0) ? ts - base_ts : 0;
    size_t body = 1 + varint_len(tsd) + varint_len(u->count) +
                  varint_len(klen) + (klen > 0 ? (size_t)klen : 0) +
                  varint_len(vlen) + (vlen > 0 ? (size_t)vlen : 0) + 1;
    size_t need = varint_len((int64_t)body) + body;
    if (need > u->max_out - u->out.len)
        return GR_ETOOBIG;
    u->base_ts = base_ts;
    if (ts > u->max_ts)
        u->max_ts = ts;
    gr_buf_reserve(&u->out, GR_MIN(u->out.len + need, u->max_out));
    uint8_t *p = u->out.p + u->out.len;
    p += wr_varint(p, (int64_t)body);
    *p++ = 0;
    p += wr_varint(p, tsd);
    p += wr_varint(p, u->count);
    p += wr_varint(p, klen);
    if (klen > 0) {
        memcpy(p, key, (size_t)klen);
        p += klen;
    }
    p += wr_varint(p, vlen);
    if (vlen > 0) {
        memcpy(p, val, (size_t)vlen);
        p += vlen;
    }
    *p++ = 0;                                   /* no headers */
    u->out.len = (size_t)(p - u->out.p);
    u->count++;
    return 0;
}

/* Decompress a wrapper's inner set into inner: at most what could still
 * fit the converted batch, the per-batch cap and the thread's budget. */
static int legacy_inflate(upconv_t *u, int codec, const uint8_t *q, size_t len, gr_buf_t *inner)
{
    uint64_t room = (uint64_t)(u->max_out - u->out.len);
    uint64_t limit = GR_MIN(room * LEGACY_EXPANSION + 64, (uint64_t)MAX_DECOMPRESSED);
    if (budget_left >= 0 && (uint64_t)budget_left < limit)
        limit = (uint64_t)budget_left;
    int rc = gr_decompress(codec, q, len, inner, (size_t)limit);
    if (budget_left >= 0)
        budget_left -= (int64_t)GR_MIN((uint64_t)inner->len, (uint64_t)budget_left);
    return rc;
}

static int legacy_set(upconv_t *u, const uint8_t *p, size_t len, int depth, int64_t wrapper_ts)
{
    size_t pos = 0;
    int rc = 0;
    gr_buf_t inner = {0};
    while (pos < len) {
        if (len - pos < 12 + 14)
            goto corrupt;
        int32_t msize = (int32_t)gr_be32(p + pos + 8);
        if (msize < 14 || (size_t)msize > len - pos - 12)
            goto corrupt;
        if (depth == 0 && 12 + (size_t)msize > u->max_out) {
            rc = GR_ETOOBIG;            /* Kafka: one message over max.message.bytes */
            goto out;
        }
        const uint8_t *m = p + pos + 12, *end = m + msize;
        if (gr_crc32(0, m + 4, (size_t)msize - 4) != gr_be32(m))
            goto corrupt;
        int magic = m[4], attr = m[5];
        const uint8_t *q = m + 6;
        int64_t ts = -1;
        if (magic == 1) {
            if (end - q < 8)
                goto corrupt;
            ts = (int64_t)gr_be64(q);
            q += 8;
            if (attr & 0x08)
                u->log_append_time = true;
        } else if (magic != 0) {
            goto corrupt;
        }
        if (depth > 0 && wrapper_ts >= 0)
            ts = wrapper_ts;        /* inner messages of a LogAppendTime wrapper */
        if (end - q < 4)
            goto corrupt;
        int32_t klen = (int32_t)gr_be32(q);
        q += 4;
        if (klen < -1 || klen > end - q)
            goto corrupt;
        const uint8_t *key = q;
        q += klen > 0 ? klen : 0;
        if (end - q < 4)
            goto corrupt;
        int32_t vlen = (int32_t)gr_be32(q);
        q += 4;
        if (vlen == -1 ? q != end : vlen != end - q)
            goto corrupt;
        int codec = attr & 0x07;
        if (codec == GR_COMPRESSION_NONE) {
            if ((rc = add_record(u, ts, key, klen, q, vlen)) < 0)
                goto out;
        } else {
            if (depth > 0 || vlen < 0)
                goto corrupt;
            if (codec > GR_COMPRESSION_LZ4) {
                rc = GR_EINVAL;
                goto out;
            }
            rc = legacy_inflate(u, codec, q, (size_t)vlen, &inner);
            if (rc < 0)
                goto out;
            rc = legacy_set(u, inner.p, inner.len, depth + 1,
                            (magic == 1 && (attr & 0x08)) ? ts : -1);
            if (rc < 0)
                goto out;
        }
        pos += 12 + (size_t)msize;
    }
    goto out;
corrupt:
    /* every exit frees `inner`: a bad message after a compressed wrapper
     * leaked the wrapper's decompressed set */
    rc = GR_ECORRUPT;
out:
    gr_buf_free(&inner);
    return rc;
}

int gr_batch_upconvert_legacy(const uint8_t *p, size_t len, size_t max_out, uint8_t **out, size_t *out_len)
{
    upconv_t u = {.base_ts = -1, .max_ts = -1};
    u.max_out = GR_MIN(max_out, (size_t)INT32_MAX);
    if (u.max_out < GR_BATCH_HEADER_SIZE)
        return GR_ETOOBIG;
    /* uncompressed messages shrink when converted */
    gr_buf_reserve(&u.out, GR_MIN(GR_BATCH_HEADER_SIZE + len + 64, u.max_out));
    u.out.len = GR_BATCH_HEADER_SIZE;
    int rc = legacy_set(&u, p, len, 0, -1);
    if (rc == 0 && u.count == 0)
        rc = GR_ECORRUPT;
    if (rc < 0) {
        gr_buf_free(&u.out);
        return rc;
    }
    uint8_t *b = u.out.p;
    gr_put64(b + GR_BOFF_BASE_OFFSET, 0);
    gr_put32(b + GR_BOFF_LENGTH, (uint32_t)(u.out.len - GR_BATCH_LOG_OVERHEAD));
    gr_put32(b + GR_BOFF_LEADER_EPOCH, (uint32_t)-1);
    b[GR_BOFF_MAGIC] = 2;
    gr_put16(b + GR_BOFF_ATTRIBUTES, u.log_append_time ? GR_ATTR_TIMESTAMP_TYPE : 0);
    gr_put32(b + GR_BOFF_LAST_DELTA, (uint32_t)(u.count - 1));
    gr_put64(b + GR_BOFF_BASE_TS, (uint64_t)u.base_ts);
    gr_put64(b + GR_BOFF_MAX_TS, (uint64_t)u.max_ts);
    gr_put64(b + GR_BOFF_PRODUCER_ID, (uint64_t)-1);
    gr_put16(b + GR_BOFF_PRODUCER_EPOCH, (uint16_t)-1);
    gr_put32(b + GR_BOFF_BASE_SEQ, (uint32_t)-1);
    gr_put32(b + GR_BOFF_RECORD_COUNT, (uint32_t)u.count);
    gr_put32(b + GR_BOFF_CRC, gr_crc32c(0, b + GR_BOFF_ATTRIBUTES, u.out.len - GR_BOFF_ATTRIBUTES));
    *out = b;
    *out_len = u.out.len;
    return 0;
}
