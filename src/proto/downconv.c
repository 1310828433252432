/*
 * downconv.c - Fetch v0-3 down-conversion (see downconv.h), Kafka's
 * LazyDownConversionRecords / RecordsUtil.downConvert.
 *
 * Clients of Fetch v0-1 read magic 0 message sets, v2-3 magic 1; the log
 * holds v2 batches.  The Fetch handler converts the first batch when it
 * builds the answer (gr_downconv_open) and hands the rest to the output
 * chain as a lazy chunk: each time the previous piece is on the wire, the
 * next group of stored batches (up to READ_MAX bytes of them, at least
 * one) is read with pread and converted.  A connection holds one group's
 * conversion at a time; the sendfile path cannot be used for these bytes.
 *
 * Legacy message (magic 0 and 1), all integers big-endian:
 *
 *   +--------+--------+-------+-------+-------+-----------+--------+-----+--------+-------+
 *   | offset | size   | crc   | magic | attrs | timestamp | keylen | key | vallen | value |
 *   | int64  | int32  | uint32| int8  | int8  | int64     | int32  |     | int32  |       |
 *   |        |        |       |       |       | magic 1   | -1 =   |     | -1 =   |       |
 *   |        |        |       |       |       | only      | null   |     | null   |       |
 *   +--------+--------+-------+-------+-------+-----------+--------+-----+--------+-------+
 *   size counts from crc to the end; crc is CRC-32 (IEEE) of magic..end;
 *   attrs: bits 0-2 codec, bit 3 (magic 1) LogAppendTime.
 *
 * Rules (Kafka's):
 *   - control batches are dropped; headers are dropped (0/1 have none);
 *     a batch without records is dropped.
 *   - uncompressed: one message per record at or after the fetch offset,
 *     with its absolute offset; the timestamp is the record's, or the
 *     batch's maxTimestamp for LogAppendTime batches.
 *   - compressed (gzip, snappy, lz4: the batch's own codec): one wrapper
 *     message per batch holding every record as an inner message, whose
 *     offsets are relative to the first record for magic 1 and absolute
 *     for magic 0; the wrapper carries the last record's offset, the codec,
 *     and the largest inner timestamp (LogAppendTime: the batch's).  The
 *     codecs write what Kafka's do: gzip; snappy in xerial framing with
 *     32 KiB blocks; lz4 frames with 64 KiB independent blocks and no
 *     checksums, whose header checksum for magic 0 covers the magic number
 *     as Kafka's (KAFKA-3160, "broken" for compatibility).
 *   - zstd cannot be converted: UNSUPPORTED_COMPRESSION_TYPE when it is
 *     the first batch, else the answer ends before it (the client fetches
 *     from there and gets the error).
 *   - the answer's size is declared first: max(the stored slice, the first
 *     converted batch).  Converted bytes beyond it are cut (a partial
 *     message, which clients skip); when the conversion ends before it,
 *     the rest is an "overflow" message (offset -1, a size past the end).
 *
 * Bounds: a record of at most RECORD_MAX bytes, a batch's records of at
 * most DECOMP_MAX bytes decompressed (streamed through a window, never
 * whole), a converted group of at most OUT_MAX bytes.  Between pieces a
 * conversion holds only its converted bytes (the stored batch and the
 * window are freed after each group); net.c charges that to the
 * connection's share of queued.max.request.bytes.
 */
#include "downconv.h"
#include "batch.h"
#include "compress.h"
#include "fio.h"
#include "gr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define READ_MAX (128 * 1024)            /* Kafka's MAX_READ_SIZE */
#define RECORD_MAX ((size_t)64 << 20)
#define DECOMP_MAX ((uint64_t)256 << 20)
#define OUT_MAX ((size_t)256 << 20)
#define WINDOW (64 * 1024)
#define MIN_BATCH 61                     /* Kafka's RECORD_BATCH_OVERHEAD */
#define ATTR_LOG_APPEND 0x08

struct gr_downconv {
    gr_file_t *file;              /* a reference; NULL for gr_downconv_buf */
    const uint8_t *mem;           /* gr_downconv_buf's batches */
    int64_t pos, end;             /* stored batches still to convert */
    int8_t magic;
    int64_t fetch_offset;
    size_t size;                  /* declared length of the answer */
    size_t emitted;               /* handed out so far */
    gr_buf_t in;                  /* the stored batch being converted */
    gr_buf_t out;                 /* converted bytes; [out_pos, out.len) not yet handed out */
    size_t out_pos;
    gr_buf_t win;                 /* decompressed-record window */
    bool done;                    /* nothing more to convert */
    uint8_t ovf[12];              /* the overflow message's header */
};

/* ------------------------------------------------------------ buffers */

static int put(gr_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (n > OUT_MAX - b->len)
        return GR_ETOOBIG;
    if (b->len + n > b->cap)
        gr_buf_reserve(b, GR_MAX(b->len + n, b->cap * 2));
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}


/* ------------------------------------------------------------ records */

typedef struct rec {
    int64_t ts_delta;
    int64_t off_delta;
    const uint8_t *key, *value;
    int32_t klen, vlen;           /* -1 = null */
} rec_t;

static bool field(const uint8_t **pp, const uint8_t *end, const uint8_t **f, int32_t *len)
{
    int64_t n;
    if (!gr_rec_varint(pp, end, 5, &n) || n < -1 || n > end - *pp)
        return false;
    *f = n < 0 ? NULL : *pp;
    *len = (int32_t)n;
    if (n > 0)
        *pp += n;
    return true;
}

/* Parse the body of one record (after its length) in [p, end). */
static int parse_body(const uint8_t *p, const uint8_t *end, rec_t *r)
{
    int64_t nh;
    const uint8_t *f;
    int32_t fl;
    if (end - p < 1)
        return GR_ECORRUPT;
    p++;                                     /* attributes */
    if (!gr_rec_varint(&p, end, 10, &r->ts_delta) || !gr_rec_varint(&p, end, 5, &r->off_delta) ||
        !field(&p, end, &r->key, &r->klen) || !field(&p, end, &r->value, &r->vlen) || !gr_rec_varint(&p, end, 5, &nh) ||
        nh < 0)
        return GR_ECORRUPT;
    for (int64_t i = 0; i < nh; i++)         /* headers: dropped, but must parse */
        if (!field(&p, end, &f, &fl) || fl < 0 || !field(&p, end, &f, &fl))
            return GR_ECORRUPT;
    return p == end ? 0 : GR_ECORRUPT;
}

/* A pull reader of the records of a compressed batch: a window over the
 * decompressed stream that grows only for a record larger than itself. */
typedef struct rstream {
    gr_dstream_t ds;
    gr_buf_t *w;                  /* [pos, w->len) not consumed */
    size_t pos;
    bool eof;
} rstream_t;

/* At least `need` bytes in the window, fewer only at the end.  0 or a
 * GR_E* of the stream. */
static int rs_fill(rstream_t *rs, size_t need)
{
    gr_buf_t *w = rs->w;
    if (w->len - rs->pos >= need || rs->eof)
        return 0;
    if (rs->pos > 0) {
        memmove(w->p, w->p + rs->pos, w->len - rs->pos);
        w->len -= rs->pos;
        rs->pos = 0;
    }
    if (w->cap < GR_MAX(need, (size_t)WINDOW))
        gr_buf_reserve(w, GR_MAX(need, (size_t)WINDOW));
    while (w->len < need || (w->len < w->cap && w->len < WINDOW)) {
        ssize_t n = gr_dstream_read(&rs->ds, w->p + w->len, w->cap - w->len);
        if (n < 0)
            return (int)n;
        if (n == 0) {
            rs->eof = true;
            break;
        }
        w->len += (size_t)n;
    }
    return 0;
}

/* The next record: 1 with *r (pointing into the window until the next
 * call), 0 at the end of the stream, or a GR_E*. */
static int rs_next(rstream_t *rs, rec_t *r)
{
    int rc = rs_fill(rs, 5);
    if (rc < 0)
        return rc;
    if (rs->w->len == rs->pos)
        return 0;
    const uint8_t *p = rs->w->p + rs->pos, *start = p;
    int64_t len;
    if (!gr_rec_varint(&p, rs->w->p + rs->w->len, 5, &len) || len <= 0)
        return GR_ECORRUPT;
    if ((uint64_t)len > RECORD_MAX)
        return GR_ETOOBIG;
    size_t hl = (size_t)(p - start);
    if ((rc = rs_fill(rs, hl + (size_t)len)) < 0)
        return rc;
    if (rs->w->len - rs->pos < hl + (size_t)len)
        return GR_ECORRUPT;                  /* the stream ends inside it */
    const uint8_t *body = rs->w->p + rs->pos + hl;
    if ((rc = parse_body(body, body + len, r)) < 0)
        return rc;
    rs->pos += hl + (size_t)len;
    return 1;
}

/* ------------------------------------------------------------ messages */

typedef void sink_fn(void *arg, const void *p, size_t n);

static void sink_zout(void *arg, const void *p, size_t n)
{
    gr_cstream_write(arg, p, n);
}

typedef struct bsink {
    gr_buf_t *b;
    int err;
} bsink_t;

static void sink_buf(void *arg, const void *p, size_t n)
{
    bsink_t *s = arg;
    if (!s->err)
        s->err = put(s->b, p, n);
}

/* One legacy message, written through sink. */
static void write_msg(sink_fn *sink, void *arg, int64_t offset, int8_t magic, int8_t attrs, int64_t ts,
                      const uint8_t *key, int32_t klen, const uint8_t *value, int32_t vlen)
{
    uint8_t h[34], v[4];
    size_t hl = 0;
    gr_put64(h, (uint64_t)offset);
    int64_t size = 4 + 1 + 1 + (magic > 0 ? 8 : 0) + 4 + GR_MAX(klen, 0) + 4 + (int64_t)GR_MAX(vlen, 0);
    gr_put32(h + 8, (uint32_t)size);
    hl = 16;
    h[hl++] = (uint8_t)magic;
    h[hl++] = (uint8_t)attrs;
    if (magic > 0) {
        gr_put64(h + hl, (uint64_t)ts);
        hl += 8;
    }
    gr_put32(h + hl, (uint32_t)klen);
    hl += 4;
    gr_put32(v, (uint32_t)vlen);
    uint32_t crc = gr_crc32(0, h + 16, hl - 16);
    if (klen > 0)
        crc = gr_crc32(crc, key, (size_t)klen);
    crc = gr_crc32(crc, v, 4);
    if (vlen > 0)
        crc = gr_crc32(crc, value, (size_t)vlen);
    gr_put32(h + 12, crc);
    sink(arg, h, hl);
    if (klen > 0)
        sink(arg, key, (size_t)klen);
    sink(arg, v, 4);
    if (vlen > 0)
        sink(arg, value, (size_t)vlen);
}

/* ------------------------------------------------------------ batches */

/* Convert one stored batch (b, size bytes, read whole), appending to out.
 * 0, or GR_EINVAL (zstd), GR_ECORRUPT, GR_ETOOBIG; out is left as it was
 * on failure. */
static int convert_batch(const uint8_t *b, size_t size, int8_t magic, int64_t fetch_offset, gr_buf_t *out,
                         gr_buf_t *win)
{
    if (size < MIN_BATCH || b[GR_BOFF_MAGIC] != 2)
        return GR_ECORRUPT;
    int16_t attr = (int16_t)gr_be16(b + GR_BOFF_ATTRIBUTES);
    if (attr & GR_ATTR_CONTROL)
        return 0;
    int codec = attr & GR_ATTR_COMPRESSION_MASK;
    if (codec == GR_COMPRESSION_ZSTD)
        return GR_EINVAL;
    if (codec > GR_COMPRESSION_ZSTD)
        return GR_ECORRUPT;
    int64_t base = (int64_t)gr_be64(b + GR_BOFF_BASE_OFFSET);
    int64_t base_ts = (int64_t)gr_be64(b + GR_BOFF_BASE_TS);
    int64_t max_ts = (int64_t)gr_be64(b + GR_BOFF_MAX_TS);
    int32_t count = (int32_t)gr_be32(b + GR_BOFF_RECORD_COUNT);
    bool lat = (attr & GR_ATTR_TIMESTAMP_TYPE) != 0;
    int8_t inner_attrs = magic > 0 && lat ? ATTR_LOG_APPEND : 0;
    size_t mark = out->len;
    rec_t r;
    int rc = 0;

    if (codec == GR_COMPRESSION_NONE) {
        bsink_t bs = {out, 0};
        const uint8_t *p = b + GR_BATCH_HEADER_SIZE, *end = b + size;
        for (int32_t i = 0; i < count && p < end && !bs.err; i++) {
            int64_t len;
            if (!gr_rec_varint(&p, end, 5, &len) || len <= 0 || len > end - p ||
                (rc = parse_body(p, p + len, &r)) < 0) {
                rc = rc < 0 ? rc : GR_ECORRUPT;
                goto fail;
            }
            p += len;
            int64_t off = base + r.off_delta;
            if (off < fetch_offset)
                continue;
            write_msg(sink_buf, &bs, off, magic, inner_attrs, lat ? max_ts : base_ts + r.ts_delta, r.key, r.klen,
                      r.value, r.vlen);
        }
        if (bs.err) {
            rc = bs.err;
            goto fail;
        }
        return 0;
    }

    /* compressed: one wrapper message, its header filled in at the end */
    size_t hl = 12 + 4 + 1 + 1 + (magic > 0 ? 8 : 0) + 4 + 4;
    uint8_t zero[34] = {0};
    if ((rc = put(out, zero, hl)) < 0)
        goto fail;
    gr_cstream_t z;
    rstream_t rs = {.w = win, .pos = 0, .eof = false};
    win->len = 0;
    if ((rc = gr_cstream_begin(&z, codec, magic, out, OUT_MAX)) < 0) {
        gr_cstream_end(&z);
        goto fail;
    }
    if (gr_dstream_open(&rs.ds, codec, b + GR_BATCH_HEADER_SIZE, size - GR_BATCH_HEADER_SIZE, DECOMP_MAX) < 0) {
        gr_cstream_end(&z);
        rc = GR_ECORRUPT;
        goto fail;
    }
    int64_t first = -1, last = -1, maxseen = -1;
    int32_t n = 0;
    while (n < count && !z.err) {
        int got = rs_next(&rs, &r);
        if (got < 0) {
            rc = got;
            break;
        }
        if (got == 0)
            break;
        int64_t off = base + r.off_delta;
        if (first < 0)
            first = off;
        last = off;
        int64_t ts = lat ? max_ts : base_ts + r.ts_delta;
        if (ts > maxseen)
            maxseen = ts;
        write_msg(sink_zout, &z, magic > 0 ? off - first : off, magic, inner_attrs, ts, r.key, r.klen, r.value,
                  r.vlen);
        n++;
    }
    gr_dstream_close(&rs.ds);
    int zrc = gr_cstream_end(&z);
    if (rc == 0)
        rc = zrc;
    if (rc < 0)
        goto fail;
    if (n == 0) {
        out->len = mark;                     /* nothing in it: dropped */
        return 0;
    }
    /* the wrapper's header */
    uint8_t *h = out->p + mark;
    size_t total = out->len - mark, vlen = total - hl;
    if (total - 12 > INT32_MAX) {
        rc = GR_ETOOBIG;
        goto fail;
    }
    gr_put64(h, (uint64_t)last);
    gr_put32(h + 8, (uint32_t)(total - 12));
    size_t k = 16;
    h[k++] = (uint8_t)magic;
    h[k++] = (uint8_t)(codec | (magic > 0 && lat ? ATTR_LOG_APPEND : 0));
    if (magic > 0) {
        gr_put64(h + k, (uint64_t)(lat ? max_ts : maxseen));
        k += 8;
    }
    gr_put32(h + k, (uint32_t)-1);           /* key: null */
    k += 4;
    gr_put32(h + k, (uint32_t)vlen);
    gr_put32(h + 12, gr_crc32(0, h + 16, total - 16));
    return 0;
fail:
    out->len = mark;
    return rc;
}

/* ------------------------------------------------------------ the source */

/* The next stored batch at dc->pos: 1 with *b and *size, 0 when the slice
 * holds no more whole batch, GR_EIO when reading fails. */
static int read_batch(gr_downconv_t *dc, const uint8_t **b, size_t *size)
{
    if (dc->end - dc->pos < 12)
        return 0;
    uint8_t hdr[12];
    const uint8_t *h;
    int fd = -1;
    if (dc->mem) {
        h = dc->mem + dc->pos;
    } else {
        fd = gr_file_fd(dc->file);
        if (fd < 0 || gr_fio_pread(fd, hdr, 12, (off_t)dc->pos) != 12)
            return GR_EIO;
        h = hdr;
    }
    int32_t blen = (int32_t)gr_be32(h + 8);
    if (blen < MIN_BATCH - 12)
        return GR_ECORRUPT;
    size_t n = 12 + (size_t)blen;
    if ((int64_t)n > dc->end - dc->pos)
        return 0;
    if (dc->mem) {
        *b = dc->mem + dc->pos;
    } else {
        if (dc->in.cap < n)
            gr_buf_reserve(&dc->in, n);
        for (size_t got = 0; got < n;) {
            ssize_t r = gr_fio_pread(fd, dc->in.p + got, n - got, (off_t)(dc->pos + (int64_t)got));
            if (r <= 0) {
                if (r == -1 && errno == EINTR)
                    continue;
                return GR_EIO;
            }
            got += (size_t)r;
        }
        *b = dc->in.p;
    }
    *size = n;
    return 1;
}

/* Convert the next group into dc->out (emptied first): one batch that
 * converts to something when `first`, else batches up to READ_MAX stored
 * bytes (at least one), going on to the next group while a group converts
 * to nothing.  A batch that cannot be converted ends the conversion:
 * returned when nothing was converted before it in this call with `first`
 * (the partition's error), else dc->done is set and what was converted
 * stays. */
static int convert_group(gr_downconv_t *dc, bool first)
{
    dc->out.len = 0;
    dc->out_pos = 0;
    int rc = 0;
    while (!dc->done && dc->out.len == 0) {
        int64_t stored = 0;
        for (;;) {
            const uint8_t *b;
            size_t size;
            int got = read_batch(dc, &b, &size);
            if (got <= 0) {
                dc->done = true;
                if (got < 0 && first)
                    rc = got;
                break;
            }
            if (stored > 0 && (first || stored + (int64_t)size > READ_MAX))
                break;
            int crc = convert_batch(b, size, dc->magic, dc->fetch_offset, &dc->out, &dc->win);
            if (crc < 0) {
                dc->done = true;
                if (first)
                    rc = crc;
                break;
            }
            dc->pos += (int64_t)size;
            stored += (int64_t)size;
            if (first && dc->out.len > 0)
                break;
        }
        if (rc < 0)
            break;
    }
    /* between groups only the converted bytes are kept */
    gr_buf_free(&dc->in);
    gr_buf_free(&dc->win);
    return rc;
}

static ssize_t dc_next(void *src, size_t space, const uint8_t **p)
{
    gr_downconv_t *dc = src;
    size_t left = dc->size - dc->emitted;
    if (left == 0 || space == 0)
        return GR_EINVAL;
    if (dc->out_pos == dc->out.len && !dc->done)
        convert_group(dc, false);
    size_t n;
    if (dc->out_pos < dc->out.len) {
        n = GR_MIN(dc->out.len - dc->out_pos, GR_MIN(space, left));
        *p = dc->out.p + dc->out_pos;
        dc->out_pos += n;
    } else {
        /* the overflow message: offset -1 and a size beyond the answer,
         * then zeros (Kafka's buildOverflowBatch) */
        static const uint8_t zeros[4096];
        size_t ovf_total = dc->size - dc->emitted;       /* bytes of it still due */
        if (dc->ovf[0] == 0) {
            memset(dc->ovf, 0xff, 8);
            int64_t len = GR_MAX((int64_t)ovf_total + 1, (int64_t)MIN_BATCH);
            gr_put32(dc->ovf + 8, (uint32_t)GR_MIN(len, (int64_t)INT32_MAX));
            dc->out_pos = dc->out.len = 0;               /* header not started */
            gr_buf_free(&dc->out);
            *p = dc->ovf;
            n = GR_MIN((size_t)12, GR_MIN(space, left));
            dc->out_pos = n;                              /* header bytes given */
        } else if (dc->out_pos < 12) {
            *p = dc->ovf + dc->out_pos;
            n = GR_MIN(12 - dc->out_pos, GR_MIN(space, left));
            dc->out_pos += n;
        } else {
            *p = zeros;
            n = GR_MIN(sizeof(zeros), GR_MIN(space, left));
        }
    }
    dc->emitted += n;
    if (dc->emitted == dc->size) {
        gr_buf_free(&dc->in);
        gr_buf_free(&dc->win);
    }
    return (ssize_t)n;
}

static size_t dc_mem(const void *src)
{
    const gr_downconv_t *dc = src;
    return dc->in.cap + dc->out.cap + dc->win.cap;
}

static void dc_free(void *src)
{
    gr_downconv_free(src);
}

const gr_lazy_ops_t gr_downconv_ops = {dc_next, dc_mem, dc_free};

size_t gr_downconv_mem(const gr_downconv_t *dc)
{
    return dc_mem(dc);
}

void gr_downconv_free(gr_downconv_t *dc)
{
    if (!dc)
        return;
    gr_file_unref(dc->file);
    gr_buf_free(&dc->in);
    gr_buf_free(&dc->out);
    gr_buf_free(&dc->win);
    free(dc);
}

static gr_downconv_t *dc_new(int64_t pos, int32_t len, int8_t magic, int64_t fetch_offset)
{
    gr_downconv_t *dc = gr_calloc(1, sizeof(*dc));
    dc->pos = pos;
    dc->end = pos + len;
    dc->magic = magic;
    dc->fetch_offset = fetch_offset;
    return dc;
}

int gr_downconv_open(gr_file_t *file, int64_t pos, int32_t len, int8_t magic, int64_t fetch_offset,
                     gr_downconv_t **out, int32_t *size)
{
    *out = NULL;
    *size = 0;
    if (len <= 0)
        return 0;
    gr_downconv_t *dc = dc_new(pos, len, magic, fetch_offset);
    dc->file = gr_file_ref(file);
    int rc = convert_group(dc, true);
    if (rc < 0) {
        gr_downconv_free(dc);
        return rc;
    }
    /* Kafka: at least the first converted batch; with batches but nothing
     * converted, an overflow message alone */
    int64_t declared = dc->out.len > 0 ? GR_MAX((int64_t)len, (int64_t)dc->out.len) : 12;
    if (declared > INT32_MAX)
        declared = INT32_MAX;
    dc->size = (size_t)declared;
    *out = dc;
    *size = (int32_t)declared;
    return 0;
}

int gr_downconv_buf(const uint8_t *p, size_t len, int8_t magic, int64_t fetch_offset, uint8_t **out,
                    size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    gr_downconv_t *dc = dc_new(0, (int32_t)GR_MIN(len, (size_t)INT32_MAX), magic, fetch_offset);
    dc->mem = p;
    gr_buf_t all = {0};
    int rc = 0;
    bool first = true;
    while (!dc->done) {
        if ((rc = convert_group(dc, first)) < 0)
            break;
        first = false;
        if ((rc = put(&all, dc->out.p ? dc->out.p : (const uint8_t *)"", dc->out.len)) < 0)
            break;
    }
    gr_downconv_free(dc);
    if (rc < 0) {
        gr_buf_free(&all);
        return rc;
    }
    *out = all.p;
    *out_len = all.len;
    return 0;
}
