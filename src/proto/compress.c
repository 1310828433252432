/*
 * compress.c - decompression and compression for the codecs Kafka uses
 * (see compress.h).
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

#include <lz4.h>
#include <lz4frame.h>
#include <pthread.h>
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

/* A helper thread that ends frees its spare (a key's destructor runs at
 * pthread_exit and when the thread function returns). */
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void spare_free(void *p)
{
    gr_buf_free(p);
}

static void spare_key_make(void)
{
    (void)pthread_key_create(&spare_key, spare_free);
}

static void spare_keep(gr_buf_t *b)
{
    pthread_once(&spare_once, spare_key_make);
    snappy_spare = *b;
    *b = (gr_buf_t){0};
    (void)pthread_setspecific(spare_key, &snappy_spare);
}

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
        if (s->blk.cap <= SNAPPY_KEEP && !snappy_spare.p)
            spare_keep(&s->blk);        /* small enough to keep */
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

/* ------------------------------------------------------------ compression */

#define C_WINDOW (64 * 1024)
#define C_SNAPPY_BLOCK (32 * 1024)   /* xerial's default block */
#define C_LZ4_BLOCK (64 * 1024)      /* Kafka's lz4 block size (BD 4) */
#define C_ZSTD_LEVEL 3

/* Room for n more bytes at out->p + out->len, within max_out. */
static int c_room(gr_cstream_t *z, size_t n)
{
    gr_buf_t *b = z->out;
    if (n > z->max_out || b->len > z->max_out - n)
        return GR_ETOOBIG;
    if (b->len + n > b->cap)
        gr_buf_reserve(b, GR_MIN(GR_MAX(b->len + n, b->cap * 2), z->max_out));
    return 0;
}

/* Room for the next piece of a streaming codec's output: up to C_WINDOW
 * bytes, fewer near max_out; 0 when nothing more fits. */
static size_t c_window(gr_cstream_t *z)
{
    size_t n = z->out->len < z->max_out ? GR_MIN((size_t)C_WINDOW, z->max_out - z->out->len) : 0;
    if (n > 0 && z->out->len + n > z->out->cap)
        gr_buf_reserve(z->out, GR_MIN(GR_MAX(z->out->len + n, z->out->cap * 2), z->max_out));
    return n;
}

static int c_put(gr_cstream_t *z, const void *p, size_t n)
{
    int rc = c_room(z, n);
    if (rc == 0) {
        memcpy(z->out->p + z->out->len, p, n);
        z->out->len += n;
    }
    return rc;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* XXH32 of at most 15 bytes (lz4 frame descriptors). */
static uint32_t xxh32_small(const uint8_t *p, size_t len)
{
    const uint32_t P1 = 2654435761U, P2 = 2246822519U, P3 = 3266489917U, P4 = 668265263U, P5 = 374761393U;
    uint32_t h = P5 + (uint32_t)len;
    const uint8_t *end = p + len;
    for (; p + 4 <= end; p += 4) {
        uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        h += k * P3;
        h = ((h << 17) | (h >> 15)) * P4;
    }
    for (; p < end; p++) {
        h += *p * P5;
        h = ((h << 11) | (h >> 21)) * P1;
    }
    h ^= h >> 15;
    h *= P2;
    h ^= h >> 13;
    h *= P3;
    h ^= h >> 16;
    return h;
}

/* Compress the filled snappy or lz4 block. */
static void c_block(gr_cstream_t *z)
{
    if (z->blen == 0 || z->err)
        return;
    if (z->codec == GR_COMPRESSION_SNAPPY) {
        size_t max = snappy_max_compressed_length(z->blen), olen = max;
        if ((z->err = c_room(z, 4 + max)) < 0)
            return;
        uint8_t *o = z->out->p + z->out->len;
        if (snappy_compress((const char *)z->blk, z->blen, (char *)o + 4, &olen) != SNAPPY_OK) {
            z->err = GR_EIO;
            return;
        }
        gr_put32(o, (uint32_t)olen);
        z->out->len += 4 + olen;
    } else {
        int bound = LZ4_compressBound((int)z->blen);
        if ((z->err = c_room(z, 4 + (size_t)bound)) < 0)
            return;
        uint8_t *o = z->out->p + z->out->len;
        int n = LZ4_compress_default((const char *)z->blk, (char *)o + 4, (int)z->blen, bound);
        if (n <= 0 || (size_t)n >= z->blen) {
            put_le32(o, (uint32_t)z->blen | 0x80000000u);      /* stored uncompressed */
            memcpy(o + 4, z->blk, z->blen);
            z->out->len += 4 + z->blen;
        } else {
            put_le32(o, (uint32_t)n);
            z->out->len += 4 + (size_t)n;
        }
    }
    z->blen = 0;
}

static void c_deflate(gr_cstream_t *z, const void *p, size_t n, int flush)
{
    z_stream *zs = z->ctx;
    zs->next_in = (Bytef *)p;
    zs->avail_in = (uInt)n;
    for (;;) {
        size_t w = c_window(z);
        if (w == 0) {
            z->err = GR_ETOOBIG;
            return;
        }
        zs->next_out = z->out->p + z->out->len;
        zs->avail_out = (uInt)w;
        int rc = deflate(zs, flush);
        z->out->len += w - zs->avail_out;
        if (rc == Z_STREAM_END)
            return;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            z->err = GR_EIO;
            return;
        }
        if (flush != Z_FINISH && zs->avail_in == 0 && zs->avail_out > 0)
            return;
    }
}

static void c_zstd(gr_cstream_t *z, const void *p, size_t n, ZSTD_EndDirective end)
{
    ZSTD_inBuffer in = {p, n, 0};
    for (;;) {
        size_t w = c_window(z);
        if (w == 0) {
            z->err = GR_ETOOBIG;
            return;
        }
        ZSTD_outBuffer ob = {z->out->p + z->out->len, w, 0};
        size_t left = ZSTD_compressStream2(z->ctx, &ob, &in, end);
        z->out->len += ob.pos;
        if (ZSTD_isError(left)) {
            z->err = GR_EIO;
            return;
        }
        if (end == ZSTD_e_end ? left == 0 : in.pos == in.size)
            return;
    }
}

int gr_cstream_begin(gr_cstream_t *z, int codec, int8_t magic, gr_buf_t *out, size_t max_out)
{
    memset(z, 0, sizeof(*z));
    z->codec = codec;
    z->out = out;
    z->max_out = max_out;
    switch (codec) {
    case GR_COMPRESSION_GZIP: {
        z_stream *zs = gr_calloc(1, sizeof(*zs));
        z->ctx = zs;
        if (deflateInit2(zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(zs);
            z->ctx = NULL;
            return z->err = GR_EIO;
        }
        return 0;
    }
    case GR_COMPRESSION_SNAPPY: {
        static const uint8_t hdr[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
        z->bcap = C_SNAPPY_BLOCK;
        z->blk = gr_malloc(z->bcap);
        return z->err = c_put(z, hdr, sizeof(hdr));
    }
    case GR_COMPRESSION_LZ4: {
        /* magic, FLG (version 01, independent blocks), BD (64 KiB), HC */
        uint8_t hdr[7] = {0x04, 0x22, 0x4D, 0x18, 0x60, 0x40, 0};
        hdr[6] = (uint8_t)(xxh32_small(magic == 0 ? hdr : hdr + 4, magic == 0 ? 6 : 2) >> 8);
        z->bcap = C_LZ4_BLOCK;
        z->blk = gr_malloc(z->bcap);
        return z->err = c_put(z, hdr, sizeof(hdr));
    }
    case GR_COMPRESSION_ZSTD:
        z->ctx = ZSTD_createCCtx();
        if (!z->ctx || ZSTD_isError(ZSTD_CCtx_setParameter(z->ctx, ZSTD_c_compressionLevel, C_ZSTD_LEVEL)))
            return z->err = GR_EIO;
        return 0;
    default:
        return z->err = GR_EINVAL;
    }
}

void gr_cstream_write(gr_cstream_t *z, const void *p, size_t n)
{
    if (z->err || n == 0)
        return;
    if (z->codec == GR_COMPRESSION_GZIP) {
        c_deflate(z, p, n, Z_NO_FLUSH);
        return;
    }
    if (z->codec == GR_COMPRESSION_ZSTD) {
        c_zstd(z, p, n, ZSTD_e_continue);
        return;
    }
    const uint8_t *s = p;
    while (n > 0 && !z->err) {
        size_t take = GR_MIN(n, z->bcap - z->blen);
        memcpy(z->blk + z->blen, s, take);
        z->blen += take;
        s += take;
        n -= take;
        if (z->blen == z->bcap)
            c_block(z);
    }
}

int gr_cstream_end(gr_cstream_t *z)
{
    if (!z->err) {
        if (z->codec == GR_COMPRESSION_GZIP) {
            c_deflate(z, NULL, 0, Z_FINISH);
        } else if (z->codec == GR_COMPRESSION_ZSTD) {
            c_zstd(z, NULL, 0, ZSTD_e_end);
        } else {
            c_block(z);
            if (z->codec == GR_COMPRESSION_LZ4 && !z->err) {
                static const uint8_t endmark[4] = {0};
                z->err = c_put(z, endmark, sizeof(endmark));
            }
        }
    }
    if (z->codec == GR_COMPRESSION_GZIP && z->ctx) {
        deflateEnd(z->ctx);
        free(z->ctx);
    } else if (z->codec == GR_COMPRESSION_ZSTD) {
        ZSTD_freeCCtx(z->ctx);
    }
    z->ctx = NULL;
    free(z->blk);
    z->blk = NULL;
    return z->err;
}
