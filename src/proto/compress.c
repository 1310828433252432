/*
 * compress.c - decompression for the codecs Kafka uses (see compress.h).
 *
 * xerial snappy framing (Java clients, kafka-python):
 *
 *   offset  size  field
 *   ------  ----  ---------------------------------------
 *   0       8     magic 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00
 *   8       4     version (int32 BE, 1)
 *   12      4     min compatible version (int32 BE, 1)
 *   16      ...   [ int32 BE block length | raw snappy block ]*
 *
 * Anything not starting with the magic is a raw snappy block (librdkafka).
 * lz4 is the standard LZ4 frame format (magic >= 1 legacy sets and v2).
 *
 * Every codec is read as a pull stream (gr_dstream_read): gzip, lz4 and
 * zstd decompress straight into the caller's window, keeping only their
 * own history; snappy, which has no streaming form, decompresses one block
 * at a time into a buffer of the size the block declares, checked first
 * against what the block could possibly expand to and against the output
 * still allowed.  A stream ends only where its input ends with a complete
 * frame (or gzip member); anything else is corrupt.  gr_decompress() is the
 * same stream drained into a growing buffer.
 */
#include "compress.h"
#include "batch.h"

#include <lz4frame.h>
#include <stdbool.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

/* ------------------------------------------------------------ streams */

#define SNAPPY_MAX_RATIO 22     /* a 3-byte copy makes at most 64 bytes */
#define SNAPPY_KEEP (4u << 20)  /* block buffer a thread keeps for the next stream */

static _Thread_local gr_buf_t snappy_spare;

static ssize_t gzip_read(gr_dstream_t *s, uint8_t *dst, size_t room)
{
    z_stream *zs = s->ctx;
    for (;;) {
        uInt in_before = zs->avail_in;
        zs->next_out = dst;
        zs->avail_out = (uInt)GR_MIN(room, (size_t)UINT32_MAX);
        int z = inflate(zs, Z_NO_FLUSH);
        size_t got = GR_MIN(room, (size_t)UINT32_MAX) - zs->avail_out;
        if (z == Z_STREAM_END) {
            if (got > 0 || zs->avail_in == 0)
                return (ssize_t)got;            /* 0: the end */
            /* concatenated gzip members are legal */
            if (inflateReset(zs) != Z_OK)
                return GR_ECORRUPT;
            continue;
        }
        if (z != Z_OK && z != Z_BUF_ERROR)
            return GR_ECORRUPT;
        if (got > 0)
            return (ssize_t)got;
        if (zs->avail_in == 0 || zs->avail_in == in_before)
            return GR_ECORRUPT;                 /* truncated, or no progress */
    }
}

static ssize_t zstd_read(gr_dstream_t *s, uint8_t *dst, size_t room)
{
    for (;;) {
        if (s->frame_done && s->in_pos == s->in_len)
            return 0;                           /* the last frame ended with the input */
        ZSTD_inBuffer ib = {s->in, s->in_len, s->in_pos};
        ZSTD_outBuffer ob = {dst, room, 0};
        size_t r = ZSTD_decompressStream(s->ctx, &ob, &ib);
        if (ZSTD_isError(r))
            return GR_ECORRUPT;
        bool progress = ib.pos != s->in_pos;
        s->in_pos = ib.pos;
        s->frame_done = r == 0;                 /* a frame is complete and flushed */
        if (ob.pos > 0)
            return (ssize_t)ob.pos;
        if (!s->frame_done && !progress)
            return GR_ECORRUPT;                 /* truncated frame */
    }
}

static ssize_t lz4_read(gr_dstream_t *s, uint8_t *dst, size_t room)
{
    for (;;) {
        if (s->frame_done && s->in_pos == s->in_len)
            return 0;
        size_t dn = room, sn = s->in_len - s->in_pos;
        size_t r = LZ4F_decompress(s->ctx, dst, &dn, s->in + s->in_pos, &sn, NULL);
        if (LZ4F_isError(r))
            return GR_ECORRUPT;
        s->in_pos += sn;
        s->frame_done = r == 0;                 /* a frame is complete */
        if (dn > 0)
            return (ssize_t)dn;
        if (!s->frame_done && sn == 0)
            return GR_ECORRUPT;                 /* truncated frame */
    }
}

/* Decompress one raw snappy block into s->blk, after checking that its
 * declared size is possible for its length and fits what may still come
 * out. */
static int snappy_block(gr_dstream_t *s, const uint8_t *in, size_t len)
{
    size_t ulen;
    if (snappy_uncompressed_length((const char *)in, len, &ulen) != SNAPPY_OK)
        return GR_ECORRUPT;
    if (ulen / SNAPPY_MAX_RATIO > len)
        return GR_ECORRUPT;
    if (ulen > s->max_out - s->out)
        return GR_ETOOBIG;
    gr_buf_reserve(&s->blk, ulen + 1);
    size_t n = ulen;
    if (snappy_uncompress((const char *)in, len, (char *)s->blk.p, &n) != SNAPPY_OK || n != ulen)
        return GR_ECORRUPT;
    s->blk.len = n;
    s->blk_pos = 0;
    return 0;
}

static ssize_t snappy_read(gr_dstream_t *s, uint8_t *dst, size_t room)
{
    static const uint8_t magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    while (s->blk_pos == s->blk.len) {
        if (s->in_pos == s->in_len)
            return 0;
        int rc;
        if (s->in_pos == 0 && (s->in_len < 16 || memcmp(s->in, magic, 8) != 0)) {
            rc = snappy_block(s, s->in, s->in_len);     /* one raw block */
            s->in_pos = s->in_len;
        } else {
            if (s->in_pos == 0)
                s->in_pos = 16;                         /* xerial header */
            if (s->in_pos == s->in_len)
                return 0;
            if (s->in_len - s->in_pos < 4)
                return GR_ECORRUPT;
            uint32_t blen = gr_be32(s->in + s->in_pos);
            s->in_pos += 4;
            if (blen > s->in_len - s->in_pos)
                return GR_ECORRUPT;
            rc = snappy_block(s, s->in + s->in_pos, blen);
            s->in_pos += blen;
        }
        if (rc < 0)
            return rc;
    }
    size_t n = GR_MIN(room, s->blk.len - s->blk_pos);
    memcpy(dst, s->blk.p + s->blk_pos, n);
    s->blk_pos += n;
    return (ssize_t)n;
}

int gr_dstream_open(gr_dstream_t *s, int codec, const uint8_t *in, size_t len, uint64_t max_out)
{
    memset(s, 0, sizeof(*s));
    s->codec = codec;
    s->in = in;
    s->in_len = len;
    s->max_out = max_out;
    switch (codec) {
    case GR_COMPRESSION_GZIP: {
        z_stream *zs = gr_calloc(1, sizeof(*zs));
        s->ctx = zs;
        if (inflateInit2(zs, 15 + 32) != Z_OK) {    /* gzip or zlib header */
            free(zs);
            s->ctx = NULL;
            s->state = GR_ECORRUPT;
            return 0;
        }
        zs->next_in = (Bytef *)(uintptr_t)in;
        zs->avail_in = (uInt)GR_MIN(len, (size_t)UINT32_MAX);
        return 0;
    }
    case GR_COMPRESSION_SNAPPY:
        s->blk = snappy_spare;          /* reuse the thread's block buffer */
        s->blk.len = 0;
        snappy_spare = (gr_buf_t){0};
        return 0;
    case GR_COMPRESSION_LZ4: {
        LZ4F_dctx *d;
        if (LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)))
            gr_oom(0);
        s->ctx = d;
        return 0;
    }
    case GR_COMPRESSION_ZSTD:
        s->ctx = ZSTD_createDStream();
        if (s->ctx == NULL)
            gr_oom(0);
        return 0;
    default:
        return GR_EINVAL;
    }
}

ssize_t gr_dstream_read(gr_dstream_t *s, uint8_t *dst, size_t n)
{
    if (s->state)
        return s->state > 0 ? 0 : s->state;
    /* one byte more than may come out tells a stream that holds more
     * apart from one that ends exactly there */
    uint64_t allow = s->max_out - s->out + 1;
    size_t room = allow < n ? (size_t)allow : n;
    ssize_t got;
    switch (s->codec) {
    case GR_COMPRESSION_GZIP:
        got = gzip_read(s, dst, room);
        break;
    case GR_COMPRESSION_SNAPPY:
        got = snappy_read(s, dst, room);
        break;
    case GR_COMPRESSION_LZ4:
        got = lz4_read(s, dst, room);
        break;
    default:
        got = zstd_read(s, dst, room);
        break;
    }
    if (got > 0) {
        s->out += (uint64_t)got;
        if (s->out > s->max_out)
            got = GR_ETOOBIG;
    }
    if (got <= 0)
        s->state = got == 0 ? 1 : (int)got;
    return got;
}

void gr_dstream_close(gr_dstream_t *s)
{
    switch (s->codec) {
    case GR_COMPRESSION_GZIP:
        if (s->ctx)
            inflateEnd(s->ctx);
        free(s->ctx);
        break;
    case GR_COMPRESSION_LZ4:
        LZ4F_freeDecompressionContext(s->ctx);
        break;
    case GR_COMPRESSION_ZSTD:
        ZSTD_freeDStream(s->ctx);
        break;
    case GR_COMPRESSION_SNAPPY:
        if (s->blk.cap <= SNAPPY_KEEP && !snappy_spare.p) {
            snappy_spare = s->blk;      /* small enough to keep */
            s->blk = (gr_buf_t){0};
        }
        break;
    default:
        break;
    }
    s->ctx = NULL;
    gr_buf_free(&s->blk);
}

/* ------------------------------------------------------------ whole */

int gr_decompress(int codec, const uint8_t *in, size_t len, gr_buf_t *out, size_t max_out)
{
    out->len = 0;
    if (codec == GR_COMPRESSION_NONE) {
        if (len > max_out)
            return GR_ETOOBIG;
        gr_buf_reserve(out, len + 1);
        memcpy(out->p, in, len);
        out->len = len;
        return 0;
    }
    gr_dstream_t s;
    int rc = gr_dstream_open(&s, codec, in, len, max_out);
    if (rc < 0)
        return rc;
    /* grow by doubling, never beyond max_out + 1 (the probe byte) */
    size_t limit = max_out < SIZE_MAX ? max_out + 1 : max_out;
    for (;;) {
        if (out->len == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 4096;
            cap = GR_MIN(cap, limit);
            if (cap <= out->cap) {
                rc = GR_ETOOBIG;
                break;
            }
            out->p = gr_realloc(out->p, cap);
            out->cap = cap;
        }
        ssize_t n = gr_dstream_read(&s, out->p + out->len, out->cap - out->len);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        out->len += (size_t)n;
    }
    gr_dstream_close(&s);
    return rc;
}
