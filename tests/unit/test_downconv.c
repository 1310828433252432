/* Unit tests for downconv.c: v2 batches to magic 0 / 1 message sets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "batch.h"
#include "compress.h"
#include "downconv.h"
#include "gr.h"

/* An uncompressed batch of n records "k<i>" -> "value-<i>" with a header,
 * base offset `base`, timestamps ts0 + i. */
static uint8_t *make_batch(int n, int64_t base, int64_t ts0, size_t *len)
{
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, base, ts0);
    static const uint8_t hdr[] = {2, 'h', 2, 'x'};       /* key "h", value "x" */
    for (int i = 0; i < n; i++) {
        char k[16], v[16];
        int kl = snprintf(k, sizeof k, "k%d", i), vl = snprintf(v, sizeof v, "value-%d", i);
        gr_batch_builder_add_record(&b, -1, ts0 + i, k, kl, v, vl, hdr, sizeof(hdr), 1);
    }
    size_t l;
    uint8_t *p = gr_batch_builder_finish(&b, 0, -1, -1, -1, &l);
    uint8_t *out = malloc(l);
    memcpy(out, p, l);
    gr_batch_builder_free(&b);
    *len = l;
    return out;
}

/* The same batch with its records compressed by `codec` (gzip or lz4). */
static uint8_t *compress_batch(const uint8_t *b, size_t len, int codec, size_t *out_len)
{
    const uint8_t *recs = b + GR_BATCH_HEADER_SIZE;
    size_t rl = len - GR_BATCH_HEADER_SIZE, cap = rl * 2 + 1024, cl = 0;
    uint8_t *c = malloc(GR_BATCH_HEADER_SIZE + cap);
    if (codec == GR_COMPRESSION_GZIP) {
        z_stream zs = {0};
        assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
        zs.next_in = (Bytef *)recs;
        zs.avail_in = (uInt)rl;
        zs.next_out = c + GR_BATCH_HEADER_SIZE;
        zs.avail_out = (uInt)cap;
        assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
        cl = cap - zs.avail_out;
        deflateEnd(&zs);
    } else {
        cl = LZ4F_compressFrame(c + GR_BATCH_HEADER_SIZE, cap, recs, rl, NULL);
        assert_false(LZ4F_isError(cl));
    }
    memcpy(c, b, GR_BATCH_HEADER_SIZE);
    gr_put32(c + GR_BOFF_LENGTH, (uint32_t)(GR_BATCH_HEADER_SIZE + cl - 12));
    gr_put16(c + GR_BOFF_ATTRIBUTES, (uint16_t)codec);
    gr_put32(c + GR_BOFF_CRC, gr_crc32c(0, c + GR_BOFF_ATTRIBUTES, GR_BATCH_HEADER_SIZE + cl - GR_BOFF_ATTRIBUTES));
    *out_len = GR_BATCH_HEADER_SIZE + cl;
    return c;
}

typedef struct msg {
    int64_t offset;
    int8_t magic, attrs;
    int64_t ts;
    const uint8_t *key, *value;
    int32_t klen, vlen;
} msg_t;

/* Parse and check (size, CRC) the messages of a set. */
static int parse_set(const uint8_t *p, size_t len, msg_t *out, int max)
{
    int n = 0;
    for (size_t o = 0; o + 12 <= len && n < max;) {
        msg_t *m = &out[n++];
        m->offset = (int64_t)gr_be64(p + o);
        int32_t size = (int32_t)gr_be32(p + o + 8);
        assert_true(o + 12 + (size_t)size <= len);
        const uint8_t *q = p + o + 12;
        assert_int_equal(gr_be32(q), gr_crc32(0, q + 4, (size_t)size - 4));
        m->magic = (int8_t)q[4];
        m->attrs = (int8_t)q[5];
        size_t k = 6;
        m->ts = -1;
        if (m->magic == 1) {
            m->ts = (int64_t)gr_be64(q + k);
            k += 8;
        }
        m->klen = (int32_t)gr_be32(q + k);
        k += 4;
        m->key = q + k;
        k += m->klen > 0 ? (size_t)m->klen : 0;
        m->vlen = (int32_t)gr_be32(q + k);
        k += 4;
        m->value = q + k;
        k += m->vlen > 0 ? (size_t)m->vlen : 0;
        assert_int_equal(k, (size_t)size);
        o += 12 + (size_t)size;
    }
    return n;
}

static void test_uncompressed(void **state)
{
    (void)state;
    size_t bl, ol;
    uint8_t *b = make_batch(3, 100, 5000, &bl), *out;
    for (int magic = 0; magic <= 1; magic++) {
        assert_int_equal(gr_downconv_buf(b, bl, (int8_t)magic, 0, &out, &ol), 0);
        msg_t m[8];
        assert_int_equal(parse_set(out, ol, m, 8), 3);
        for (int i = 0; i < 3; i++) {
            char v[16];
            snprintf(v, sizeof v, "value-%d", i);
            assert_int_equal(m[i].offset, 100 + i);
            assert_int_equal(m[i].magic, magic);
            assert_int_equal(m[i].attrs, 0);
            assert_int_equal(m[i].ts, magic ? 5000 + i : -1);
            assert_int_equal(m[i].vlen, (int32_t)strlen(v));
            assert_memory_equal(m[i].value, v, strlen(v));
        }
        /* v0: 26 bytes of header per message, v1: 34 (no headers carried) */
        assert_int_equal(ol, 3 * (size_t)(magic ? 34 : 26) + 3 * 2 + 3 * 7);
        free(out);
        /* from offset 102: the messages before it are left out */
        assert_int_equal(gr_downconv_buf(b, bl, (int8_t)magic, 102, &out, &ol), 0);
        assert_int_equal(parse_set(out, ol, m, 8), 1);
        assert_int_equal(m[0].offset, 102);
        free(out);
    }
    free(b);
}

static void test_compressed_wrappers(void **state)
{
    (void)state;
    int codecs[] = {GR_COMPRESSION_GZIP, GR_COMPRESSION_LZ4};
    for (size_t c = 0; c < 2; c++) {
        size_t bl, cl, ol;
        uint8_t *b = make_batch(4, 10, 7000, &bl);
        uint8_t *cb = compress_batch(b, bl, codecs[c], &cl), *out;
        for (int magic = 0; magic <= 1; magic++) {
            assert_int_equal(gr_downconv_buf(cb, cl, (int8_t)magic, 12, &out, &ol), 0);
            msg_t w[2], in[8];
            assert_int_equal(parse_set(out, ol, w, 2), 1);
            assert_int_equal(w[0].offset, 13);                   /* the last record's */
            assert_int_equal(w[0].attrs, codecs[c]);
            assert_int_equal(w[0].klen, -1);
            if (magic)
                assert_int_equal(w[0].ts, 7003);                 /* the largest inner timestamp */
            if (codecs[c] == GR_COMPRESSION_LZ4) {
                /* the frame header checksum: correct for magic 1, over the
                 * magic number too for magic 0 (Kafka's KAFKA-3160) */
                LZ4F_dctx *d;
                LZ4F_createDecompressionContext(&d, LZ4F_VERSION);
                uint8_t tmp[4096];
                size_t dn = sizeof(tmp), sn = (size_t)w[0].vlen;
                size_t r = LZ4F_decompress(d, tmp, &dn, w[0].value, &sn, NULL);
                assert_int_equal(LZ4F_isError(r), magic == 0);
                LZ4F_freeDecompressionContext(d);
            }
            gr_buf_t dec = {0};
            uint8_t *fixed = malloc((size_t)w[0].vlen);
            memcpy(fixed, w[0].value, (size_t)w[0].vlen);
            if (codecs[c] == GR_COMPRESSION_LZ4 && magic == 0) {
                /* put the standard checksum in to read it with liblz4 */
                LZ4F_frameInfo_t fi;
                (void)fi;
                uint8_t good[256];
                size_t gl = LZ4F_compressFrame(good, sizeof(good), "", 0, &(LZ4F_preferences_t){
                    .frameInfo = {.blockSizeID = LZ4F_max64KB, .blockMode = LZ4F_blockIndependent}});
                assert_false(LZ4F_isError(gl));
                fixed[6] = good[6];
            }
            assert_int_equal(gr_decompress(codecs[c], fixed, (size_t)w[0].vlen, &dec, 1 << 20), 0);
            /* all four records, inner offsets relative (magic 1) or absolute */
            assert_int_equal(parse_set(dec.p, dec.len, in, 8), 4);
            for (int i = 0; i < 4; i++) {
                assert_int_equal(in[i].offset, magic ? i : 10 + i);
                assert_int_equal(in[i].magic, magic);
                assert_int_equal(in[i].ts, magic ? 7000 + i : -1);
            }
            gr_buf_free(&dec);
            free(fixed);
            free(out);
        }
        free(b);
        free(cb);
    }
}

static void test_control_and_zstd(void **state)
{
    (void)state;
    size_t bl, ol;
    uint8_t *b = make_batch(2, 0, 1, &bl), *out;
    /* a control batch converts to nothing */
    uint8_t *ctl = malloc(bl);
    memcpy(ctl, b, bl);
    gr_put16(ctl + GR_BOFF_ATTRIBUTES, GR_ATTR_CONTROL | GR_ATTR_TRANSACTIONAL);
    assert_int_equal(gr_downconv_buf(ctl, bl, 1, 0, &out, &ol), 0);
    assert_int_equal(ol, 0);
    free(out);
    /* zstd cannot be converted */
    gr_put16(ctl + GR_BOFF_ATTRIBUTES, GR_COMPRESSION_ZSTD);
    assert_int_equal(gr_downconv_buf(ctl, bl, 1, 0, &out, &ol), GR_EINVAL);
    /* not a batch */
    ctl[GR_BOFF_MAGIC] = 1;
    assert_int_equal(gr_downconv_buf(ctl, bl, 1, 0, &out, &ol), GR_ECORRUPT);
    free(ctl);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uncompressed),
        cmocka_unit_test(test_compressed_wrappers),
        cmocka_unit_test(test_control_and_zstd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
