/*
 * batch_helper.h - test helper shared by the storage unit tests: builds
 * RecordBatch v2 byte by byte (independently of batch_build.c, so the
 * builder under test is not used to check itself).
 */
#ifndef GR_TEST_BATCH_HELPER_H
#define GR_TEST_BATCH_HELPER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "batch.h"

/* ---- test helper: build RecordBatch v2 with n records ---- */
static void h_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static void h_put64(uint8_t *p, uint64_t v)
{
    h_put32(p, (uint32_t)(v >> 32));
    h_put32(p + 4, (uint32_t)v);
}

static size_t h_varint(uint8_t *p, int64_t v)
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

static void fix_crc(uint8_t *b)
{
    size_t size = (size_t)gr_batch_size(b);
    h_put32(b + GR_BOFF_CRC, gr_crc32c(0, b + GR_BOFF_ATTRIBUTES, size - GR_BOFF_ATTRIBUTES));
}

/* Build a batch of n records (values of vlen bytes, timestamps ts0 + i)
 * into out (large enough); codec 0 or gzip.  Returns the batch size. */
static size_t build_batch(uint8_t *out, int n, int64_t ts0, int vlen, int codec)
{
    uint8_t *recs = malloc((size_t)n * ((size_t)vlen + 32) + 64);
    size_t rl = 0;
    for (int i = 0; i < n; i++) {
        uint8_t body[64];
        size_t bl = 0;
        body[bl++] = 0;                       /* attributes */
        bl += h_varint(body + bl, i);         /* timestamp delta */
        bl += h_varint(body + bl, i);         /* offset delta */
        bl += h_varint(body + bl, -1);        /* null key */
        bl += h_varint(body + bl, vlen);
        rl += h_varint(recs + rl, (int64_t)(bl + (size_t)vlen + 1));
        memcpy(recs + rl, body, bl);
        rl += bl;
        memset(recs + rl, 'a' + i % 26, (size_t)vlen);
        rl += (size_t)vlen;
        recs[rl++] = 0;                       /* no headers */
    }
    size_t plen = rl;
    if (codec == GR_COMPRESSION_GZIP) {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
        zs.next_in = recs;
        zs.avail_in = (uInt)rl;
        zs.next_out = out + GR_BATCH_HEADER_SIZE;
        zs.avail_out = (uInt)(rl + 1024);
        deflate(&zs, Z_FINISH);
        plen = zs.total_out;
        deflateEnd(&zs);
    } else {
        memcpy(out + GR_BATCH_HEADER_SIZE, recs, rl);
    }
    free(recs);
    size_t size = GR_BATCH_HEADER_SIZE + plen;
    memset(out, 0, GR_BATCH_HEADER_SIZE);
    h_put32(out + GR_BOFF_LENGTH, (uint32_t)(size - 12));
    h_put32(out + GR_BOFF_LEADER_EPOCH, (uint32_t)-1);
    out[GR_BOFF_MAGIC] = 2;
    out[GR_BOFF_ATTRIBUTES + 1] = (uint8_t)codec;
    h_put32(out + GR_BOFF_LAST_DELTA, (uint32_t)(n - 1));
    h_put64(out + GR_BOFF_BASE_TS, (uint64_t)ts0);
    h_put64(out + GR_BOFF_MAX_TS, (uint64_t)(ts0 + n - 1));
    h_put64(out + GR_BOFF_PRODUCER_ID, (uint64_t)-1);
    out[GR_BOFF_PRODUCER_EPOCH] = out[GR_BOFF_PRODUCER_EPOCH + 1] = 0xff;
    h_put32(out + GR_BOFF_BASE_SEQ, (uint32_t)-1);
    h_put32(out + GR_BOFF_RECORD_COUNT, (uint32_t)n);
    fix_crc(out);
    return size;
}

#endif
