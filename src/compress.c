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
 */
#include "compress.h"
#include "batch.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

void gr_buf_reserve(gr_buf_t *b, size_t cap)
{
    if (b->cap >= cap)
        return;
    size_t n = b->cap ? b->cap : 4096;
    while (n < cap)
        n *= 2;
    b->p = gr_realloc(b->p, n);
    b->cap = n;
}

void gr_buf_free(gr_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Output space available at out->p + out->len, never beyond max_out;
 * grows the buffer when full.  0 when max_out is reached. */
static size_t room(gr_buf_t *out, size_t max_out)
{
    if (out->len >= max_out)
        return 0;
    if (out->len == out->cap) {
        size_t want = out->cap < 4096 ? 4096 : out->cap * 2;
        gr_buf_reserve(out, GR_MIN(want, max_out));
    }
    return GR_MIN(out->cap, max_out) - out->len;
}

static int do_gzip(const uint8_t *in, size_t len, gr_buf_t *out, size_t max_out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 32) != Z_OK)   /* gzip or zlib header */
        return GR_ECORRUPT;
    int rc = GR_ECORRUPT;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)GR_MIN(len, (size_t)UINT32_MAX);
    for (;;) {
        size_t avail = room(out, max_out);
        if (avail == 0)
            goto out;
        zs.next_out = out->p + out->len;
        zs.avail_out = (uInt)GR_MIN(avail, (size_t)UINT32_MAX);
        size_t before = zs.avail_out;
        int z = inflate(&zs, Z_NO_FLUSH);
        out->len += before - zs.avail_out;
        if (z == Z_STREAM_END) {
            /* concatenated gzip members are legal; accept trailing members */
            if (zs.avail_in == 0) {
                rc = 0;
                goto out;
            }
            if (inflateReset(&zs) != Z_OK)
                goto out;
            continue;
        }
        if (z == Z_BUF_ERROR && zs.avail_out != 0)
            goto out;           /* truncated input */
        if (z != Z_OK && z != Z_BUF_ERROR)
            goto out;
    }
out:
    inflateEnd(&zs);
    return rc;
}

static int snappy_block(const uint8_t *in, size_t len, gr_buf_t *out, size_t max_out)
{
    size_t ulen;
    if (snappy_uncompressed_length((const char *)in, len, &ulen) != SNAPPY_OK)
        return GR_ECORRUPT;
    if (ulen > max_out - out->len)
        return GR_ECORRUPT;
    gr_buf_reserve(out, out->len + ulen + 1);
    size_t n = ulen;
    if (snappy_uncompress((const char *)in, len, (char *)out->p + out->len, &n) != SNAPPY_OK || n != ulen)
        return GR_ECORRUPT;
    out->len += n;
    return 0;
}

static int do_snappy(const uint8_t *in, size_t len, gr_buf_t *out, size_t max_out)
{
    static const uint8_t magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
    if (len < 16 || memcmp(in, magic, 8) != 0)
        return snappy_block(in, len, out, max_out);
    size_t pos = 16;
    while (pos < len) {
        if (len - pos < 4)
            return GR_ECORRUPT;
        uint32_t blen = gr_be32(in + pos);
        pos += 4;
        if (blen > len - pos)
            return GR_ECORRUPT;
        int rc = snappy_block(in + pos, blen, out, max_out);
        if (rc < 0)
            return rc;
        pos += blen;
    }
    return 0;
}

static int do_lz4(const uint8_t *in, size_t len, gr_buf_t *out, size_t max_out)
{
    LZ4F_dctx *dctx;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
        return GR_ECORRUPT;
    int rc = GR_ECORRUPT;
    size_t pos = 0;
    for (;;) {
        size_t dst = room(out, max_out), src = len - pos;
        if (dst == 0)
            goto out;
        size_t r = LZ4F_decompress(dctx, out->p + out->len, &dst, in + pos, &src, NULL);
        if (LZ4F_isError(r))
            goto out;
        out->len += dst;
        pos += src;
        if (r == 0) {           /* frame complete */
            if (pos == len) {
                rc = 0;
                goto out;
            }
            continue;           /* another frame follows */
        }
        if (pos == len && dst == 0)
            goto out;           /* truncated */
    }
out:
    LZ4F_freeDecompressionContext(dctx);
    return rc;
}

static int do_zstd(const uint8_t *in, size_t len, gr_buf_t *out, size_t max_out)
{
    ZSTD_DStream *ds = ZSTD_createDStream();
    if (ds == NULL)
        gr_oom(0);
    int rc = GR_ECORRUPT;
    ZSTD_inBuffer ib = {in, len, 0};
    size_t last = 1;
    for (;;) {
        size_t avail = room(out, max_out);
        if (avail == 0)
            goto out;
        ZSTD_outBuffer ob = {out->p + out->len, avail, 0};
        size_t in_before = ib.pos;
        last = ZSTD_decompressStream(ds, &ob, &ib);
        if (ZSTD_isError(last))
            goto out;
        out->len += ob.pos;
        if (last == 0 && ib.pos == ib.size) {
            rc = 0;
            goto out;
        }
        if (ib.pos == in_before && ob.pos == 0)
            goto out;           /* no progress: truncated frame */
    }
out:
    ZSTD_freeDStream(ds);
    return rc;
}

int gr_decompress(int codec, const uint8_t *in, size_t len, gr_buf_t *out, size_t max_out)
{
    out->len = 0;
    switch (codec) {
    case GR_COMPRESSION_NONE:
        if (len > max_out)
            return GR_ECORRUPT;
        gr_buf_reserve(out, len + 1);
        memcpy(out->p, in, len);
        out->len = len;
        return 0;
    case GR_COMPRESSION_GZIP:
        return do_gzip(in, len, out, max_out);
    case GR_COMPRESSION_SNAPPY:
        return do_snappy(in, len, out, max_out);
    case GR_COMPRESSION_LZ4:
        return do_lz4(in, len, out, max_out);
    case GR_COMPRESSION_ZSTD:
        return do_zstd(in, len, out, max_out);
    default:
        return GR_EINVAL;
    }
}
