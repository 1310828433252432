/* Unit tests for batch.c: validation of every kind of corruption, offset
 * assignment, legacy up-conversion, timestamp search. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "batch.h"
#include "compress.h"

#include <snappy-c.h>
#include <zstd.h>

#include "batch_helper.h"

static uint8_t buf[1 << 16];

static void test_valid(void **state)
{
    (void)state;
    size_t n = build_batch(buf, 5, 1000, 10, 0);
    gr_batch_info_t bi;
    assert_int_equal(gr_batch_check(buf, n, &bi), 0);
    assert_int_equal(bi.size, (int32_t)n);
    assert_int_equal(bi.record_count, 5);
    assert_int_equal(bi.last_offset_delta, 4);
    assert_int_equal(bi.first_timestamp, 1000);
    assert_int_equal(bi.max_timestamp, 1004);
    assert_int_equal(gr_batch_check_records(buf, &bi), 0);
    /* trailing bytes after the batch are the next batch's business */
    assert_int_equal(gr_batch_check(buf, n + 100, &bi), 0);
}

static void test_gzip(void **state)
{
    (void)state;
    size_t n = build_batch(buf, 50, 1000, 100, GR_COMPRESSION_GZIP);
    gr_batch_info_t bi;
    assert_int_equal(gr_batch_check(buf, n, &bi), 0);
    assert_int_equal(gr_batch_check_records(buf, &bi), 0);
    int64_t off, ts;
    assert_int_equal(gr_batch_find_timestamp(buf, n, 1010, 0, &off, &ts), 0);
    assert_int_equal(off, 10);
    assert_int_equal(ts, 1010);
    /* garbage payload with a valid CRC: decompression fails */
    memset(buf + GR_BATCH_HEADER_SIZE + 10, 0x55, 20);
    fix_crc(buf);
    assert_int_equal(gr_batch_check(buf, n, &bi), 0);
    assert_int_equal(gr_batch_check_records(buf, &bi), GR_ECORRUPT);
    /* wrong record count inside a valid compressed stream: INVALID_RECORD */
    n = build_batch(buf, 50, 1000, 100, GR_COMPRESSION_GZIP);
    h_put32(buf + GR_BOFF_RECORD_COUNT, 49);
    h_put32(buf + GR_BOFF_LAST_DELTA, 48);
    fix_crc(buf);
    assert_int_equal(gr_batch_check(buf, n, &bi), 0);
    assert_int_equal(gr_batch_check_records(buf, &bi), GR_EINVAL);
}

/* Record timestamps are base + delta in wrapping (Java) arithmetic: a
 * batch based at 2^63-1 whose second record has delta 1 holds a record at
 * -2^63, which no search for a positive time finds. */
static void test_find_timestamp_wraps(void **state)
{
    (void)state;
    size_t n = build_batch(buf, 2, 0, 4, 0);
    h_put64(buf + GR_BOFF_BASE_TS, (uint64_t)INT64_MAX);
    h_put64(buf + GR_BOFF_MAX_TS, (uint64_t)INT64_MAX);
    fix_crc(buf);
    int64_t off = -1, ts = -1;
    assert_int_equal(gr_batch_find_timestamp(buf, n, 5, 1, &off, &ts), GR_ENOENT);
    assert_int_equal(gr_batch_find_timestamp(buf, n, 5, 0, &off, &ts), 0);
    assert_int_equal(off, 0);
    assert_int_equal(ts, INT64_MAX);
    assert_int_equal(gr_batch_find_timestamp(buf, n, INT64_MIN, 1, &off, &ts), 0);
    assert_int_equal(off, 1);
    assert_int_equal(ts, INT64_MIN);
}

static void test_bad_magic(void **state)
{
    (void)state;
    size_t n = build_batch(buf, 3, 0, 10, 0);
    buf[GR_BOFF_MAGIC] = 1;
    assert_int_equal(gr_batch_check(buf, n, NULL), GR_ECORRUPT);
}

static void test_bad_crc(void **state)
{
    (void)state;
    size_t n = build_batch(buf, 3, 0, 10, 0);
    buf[n - 3] ^= 1;
    assert_int_equal(gr_batch_check(buf, n, NULL), GR_ECORRUPT);
    n = build_batch(buf, 3, 0, 10, 0);
    buf[GR_BOFF_CRC] ^= 0x80;
    assert_int_equal(gr_batch_check(buf, n, NULL), GR_ECORRUPT);
}

static void test_short_length(void **state)
{
    (void)state;
    size_t n = build_batch(buf, 3, 0, 10, 0);
    h_put32(buf + GR_BOFF_LENGTH, 48);
    assert_int_equal(gr_batch_check(buf, n, NULL), GR_ECORRUPT);
    h_put32(buf + GR_BOFF_LENGTH, (uint32_t)-5);
    assert_int_equal(gr_batch_check(buf, n, NULL), GR_ECORRUPT);
}

static void test_beyond_buffer(void **state)
{
    (void)state;
    size_t n = build_batch(buf, 3, 0, 10, 0);
    assert_int_equal(gr_batch_check(buf, n - 1, NULL), GR_AGAIN);
    assert_int_equal(gr_batch_check(buf, 11, NULL), GR_AGAIN);
    h_put32(buf + GR_BOFF_LENGTH, 100000);
    assert_int_equal(gr_batch_check(buf, n, NULL), GR_AGAIN);
}

static void test_count_mismatch(void **state)
{
    (void)state;
    size_t n = build_batch(buf, 3, 0, 10, 0);
    h_put32(buf + GR_BOFF_RECORD_COUNT, 2);
    fix_crc(buf);
    assert_int_equal(gr_batch_check(buf, n, NULL), GR_ECORRUPT);
    /* consistent header, but records do not match the count */
    h_put32(buf + GR_BOFF_LAST_DELTA, 1);
    fix_crc(buf);
    assert_int_equal(gr_batch_check(buf, n, NULL), GR_ECORRUPT);
    h_put32(buf + GR_BOFF_RECORD_COUNT, 0);
    h_put32(buf + GR_BOFF_LAST_DELTA, (uint32_t)-1);
    fix_crc(buf);
    assert_int_equal(gr_batch_check(buf, n, NULL), GR_ECORRUPT);
}

static void test_unknown_codec(void **state)
{
    (void)state;
    size_t n = build_batch(buf, 3, 0, 10, 0);
    buf[GR_BOFF_ATTRIBUTES + 1] = 5;
    fix_crc(buf);
    assert_int_equal(gr_batch_check(buf, n, NULL), GR_ECORRUPT);
}

static void test_truncated_records(void **state)
{
    (void)state;
    size_t n = build_batch(buf, 3, 0, 10, 0);
    h_put32(buf + GR_BOFF_LENGTH, (uint32_t)(n - 12 - 5));
    fix_crc(buf);
    assert_int_equal(gr_batch_check(buf, n, NULL), GR_ECORRUPT);
    /* a record length varint pointing past the batch */
    n = build_batch(buf, 3, 0, 10, 0);
    buf[GR_BATCH_HEADER_SIZE] = 0x7e;
    fix_crc(buf);
    assert_int_equal(gr_batch_check(buf, n, NULL), GR_ECORRUPT);
    /* extra bytes after the last record */
    n = build_batch(buf, 3, 0, 10, 0);
    buf[n] = 0;
    h_put32(buf + GR_BOFF_LENGTH, (uint32_t)(n + 1 - 12));
    fix_crc(buf);
    assert_int_equal(gr_batch_check(buf, n + 1, NULL), GR_ECORRUPT);
}

static void test_assign(void **state)
{
    (void)state;
    size_t n = build_batch(buf, 4, 500, 10, 0);
    gr_batch_assign(buf, 1234, 7, -1);
    gr_batch_info_t bi;
    assert_int_equal(gr_batch_check(buf, n, &bi), 0);
    assert_int_equal(gr_batch_base_offset(buf), 1234);
    assert_int_equal(bi.max_timestamp, 503);
    gr_batch_assign(buf, 99, 7, 777777);
    assert_int_equal(gr_batch_check(buf, n, &bi), 0);
    assert_int_equal(bi.max_timestamp, 777777);
    assert_int_equal(bi.first_timestamp, 500);
    assert_true(bi.attributes & GR_ATTR_TIMESTAMP_TYPE);
}

/* legacy message: offset, size, crc, magic, attr, [ts], key, value */
static size_t legacy_msg(uint8_t *p, int magic, int attr, int64_t off, int64_t ts,
                         const void *val, int32_t vlen)
{
    size_t q = 12;
    q += 4;
    p[q++] = (uint8_t)magic;
    p[q++] = (uint8_t)attr;
    if (magic == 1) {
        h_put64(p + q, (uint64_t)ts);
        q += 8;
    }
    h_put32(p + q, (uint32_t)-1);
    q += 4;
    h_put32(p + q, (uint32_t)vlen);
    q += 4;
    memcpy(p + q, val, (size_t)vlen);
    q += (size_t)vlen;
    h_put64(p, (uint64_t)off);
    h_put32(p + 8, (uint32_t)(q - 12));
    h_put32(p + 12, gr_crc32(0, p + 16, q - 16));
    return q;
}

static void test_legacy(void **state)
{
    (void)state;
    uint8_t set[512];
    size_t n = legacy_msg(set, 0, 0, 0, -1, "hello", 5);
    n += legacy_msg(set + n, 0, 0, 1, -1, "world!", 6);
    uint8_t *out;
    size_t olen;
    assert_int_equal(gr_batch_upconvert_legacy(set, n, 1 << 20, &out, &olen), 0);
    gr_batch_info_t bi;
    assert_int_equal(gr_batch_check(out, olen, &bi), 0);
    assert_int_equal(bi.record_count, 2);
    assert_int_equal(bi.max_timestamp, -1);
    free(out);

    n = legacy_msg(set, 1, 0, 0, 5000, "a", 1);
    n += legacy_msg(set + n, 1, 0, 1, 5007, "b", 1);
    assert_int_equal(gr_batch_upconvert_legacy(set, n, 1 << 20, &out, &olen), 0);
    assert_int_equal(gr_batch_check(out, olen, &bi), 0);
    assert_int_equal(bi.first_timestamp, 5000);
    assert_int_equal(bi.max_timestamp, 5007);
    free(out);

    /* gzip wrapper around an inner v1 set */
    uint8_t inner[256], gz[512];
    size_t in = legacy_msg(inner, 1, 0, 0, 100, "x1", 2);
    in += legacy_msg(inner + in, 1, 0, 1, 101, "x2", 2);
    in += legacy_msg(inner + in, 1, 0, 2, 102, "x3", 2);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = inner;
    zs.avail_in = (uInt)in;
    zs.next_out = gz;
    zs.avail_out = sizeof(gz);
    deflate(&zs, Z_FINISH);
    size_t gzlen = zs.total_out;
    deflateEnd(&zs);
    n = legacy_msg(set, 1, GR_COMPRESSION_GZIP, 2, 102, gz, (int32_t)gzlen);
    assert_int_equal(gr_batch_upconvert_legacy(set, n, 1 << 20, &out, &olen), 0);
    assert_int_equal(gr_batch_check(out, olen, &bi), 0);
    assert_int_equal(bi.record_count, 3);
    assert_int_equal(bi.max_timestamp, 102);
    free(out);

    /* bad CRC */
    n = legacy_msg(set, 0, 0, 0, -1, "hello", 5);
    set[n - 1] ^= 1;
    assert_int_equal(gr_batch_upconvert_legacy(set, n, 1 << 20, &out, &olen), GR_ECORRUPT);
    /* truncated */
    n = legacy_msg(set, 0, 0, 0, -1, "hello", 5);
    assert_int_equal(gr_batch_upconvert_legacy(set, n - 2, 1 << 20, &out, &olen), GR_ECORRUPT);
}

static void test_fuzz_no_crash(void **state)
{
    (void)state;
    srand(1);
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = build_batch(buf, 1 + iter % 7, 0, iter % 40, iter % 2);
        int flips = 1 + rand() % 4;
        for (int f = 0; f < flips; f++)
            buf[(size_t)rand() % n] ^= (uint8_t)(1 + rand() % 255);
        if (iter % 3 == 0)   /* CRC over the original extent */
            h_put32(buf + GR_BOFF_CRC, gr_crc32c(0, buf + GR_BOFF_ATTRIBUTES, n - GR_BOFF_ATTRIBUTES));
        gr_batch_info_t bi;
        size_t avail = (size_t)rand() % (n + 1);
        if (gr_batch_check(buf, avail, &bi) == 0)
            (void)gr_batch_check_records(buf, &bi);
        uint8_t *out;
        size_t olen;
        if (gr_batch_upconvert_legacy(buf, avail, 1 << 20, &out, &olen) == 0)
            free(out);
    }
}

static void test_decompress(void **state)
{
    (void)state;
    static uint8_t plain[10000], comp[20000], framed[20000];
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (uint8_t)(i % 13);
    gr_buf_t out = {0};
    /* snappy raw and xerial-framed (two blocks) */
    size_t cl = sizeof(comp);
    assert_int_equal(snappy_compress((const char *)plain, sizeof(plain), (char *)comp, &cl), SNAPPY_OK);
    assert_int_equal(gr_decompress(GR_COMPRESSION_SNAPPY, comp, cl, &out, 1 << 20), 0);
    assert_int_equal(out.len, sizeof(plain));
    assert_memory_equal(out.p, plain, sizeof(plain));
    static const uint8_t hdr[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    memcpy(framed, hdr, 16);
    size_t fl = 16;
    for (int b = 0; b < 2; b++) {
        size_t l = sizeof(framed) - fl - 4;
        assert_int_equal(snappy_compress((const char *)plain + b * 5000, 5000, (char *)framed + fl + 4, &l), SNAPPY_OK);
        h_put32(framed + fl, (uint32_t)l);
        fl += 4 + l;
    }
    assert_int_equal(gr_decompress(GR_COMPRESSION_SNAPPY, framed, fl, &out, 1 << 20), 0);
    assert_int_equal(out.len, sizeof(plain));
    assert_memory_equal(out.p, plain, sizeof(plain));
    /* zstd */
    cl = ZSTD_compress(comp, sizeof(comp), plain, sizeof(plain), 3);
    assert_false(ZSTD_isError(cl));
    assert_int_equal(gr_decompress(GR_COMPRESSION_ZSTD, comp, cl, &out, 1 << 20), 0);
    assert_memory_equal(out.p, plain, sizeof(plain));
    assert_int_equal(gr_decompress(GR_COMPRESSION_ZSTD, comp, cl - 3, &out, 1 << 20), GR_ECORRUPT);
    /* bomb limit */
    assert_int_equal(gr_decompress(GR_COMPRESSION_ZSTD, comp, cl, &out, 100), GR_ETOOBIG);
    assert_int_equal(gr_decompress(9, comp, cl, &out, 100), GR_EINVAL);
    /* random garbage never crashes */
    srand(5);
    for (int iter = 0; iter < 4000; iter++) {
        size_t n = (size_t)rand() % 200;
        for (size_t i = 0; i < n; i++)
            comp[i] = (uint8_t)rand();
        if (iter % 4 == 2 && n >= 16)
            memcpy(comp, hdr, 16);
        (void)gr_decompress(1 + iter % 4, comp, n, &out, 1 << 16);
    }
    gr_buf_free(&out);
}

/* What the records say, against what the header claims. */
static void test_records_say(void **state)
{
    (void)state;
    gr_batch_info_t bi;
    gr_batch_recs_t rs;
    for (int codec = 0; codec <= GR_COMPRESSION_GZIP; codec++) {
        /* librdkafka without timestamps: records at -1, header max 0 */
        size_t n = build_batch(buf, 1, -1, 10, codec);
        h_put64(buf + GR_BOFF_MAX_TS, 0);
        fix_crc(buf);
        assert_int_equal(gr_batch_check_into(buf, n, &bi, &rs), 0);
        assert_int_equal(gr_batch_check_records_into(buf, &bi, &rs), 0);
        assert_int_equal(rs.max_timestamp, -1);
        assert_true(rs.offsets_in_order);
        assert_true(gr_batch_set_max_timestamp(buf, rs.max_timestamp));
        assert_int_equal(gr_batch_check(buf, n, &bi), 0);          /* new CRC */
        assert_int_equal(bi.max_timestamp, -1);
        assert_false(gr_batch_set_max_timestamp(buf, -1));        /* nothing to change */
        /* a header max in the far future */
        n = build_batch(buf, 4, 5000, 10, codec);
        h_put64(buf + GR_BOFF_MAX_TS, (uint64_t)INT64_MAX);
        fix_crc(buf);
        assert_int_equal(gr_batch_check_into(buf, n, &bi, &rs), 0);
        assert_int_equal(gr_batch_check_records_into(buf, &bi, &rs), 0);
        assert_int_equal(rs.max_timestamp, 5003);
        /* the delete-horizon bit alone is changed too */
        n = build_batch(buf, 2, 5000, 10, codec);
        buf[GR_BOFF_ATTRIBUTES + 1] |= GR_ATTR_DELETE_HORIZON;
        fix_crc(buf);
        assert_true(gr_batch_set_max_timestamp(buf, 5001));
        assert_int_equal(gr_batch_check(buf, n, &bi), 0);
        assert_int_equal(bi.attributes, codec);
        assert_int_equal(bi.max_timestamp, 5001);
    }
    /* records older than -1 do not lower the maximum below -1 */
    size_t n = build_batch(buf, 3, -10, 10, 0);
    assert_int_equal(gr_batch_check_into(buf, n, &bi, &rs), 0);
    assert_int_equal(gr_batch_check_records_into(buf, &bi, &rs), 0);
    assert_int_equal(rs.max_timestamp, -1);
    /* LogAppendTime: the header's time is every record's */
    n = build_batch(buf, 3, 100, 10, 0);
    buf[GR_BOFF_ATTRIBUTES + 1] |= GR_ATTR_TIMESTAMP_TYPE;
    h_put64(buf + GR_BOFF_MAX_TS, 777);
    fix_crc(buf);
    assert_int_equal(gr_batch_check_into(buf, n, &bi, &rs), 0);
    assert_int_equal(gr_batch_check_records_into(buf, &bi, &rs), 0);
    assert_int_equal(rs.max_timestamp, 777);
    /* offset deltas 0, 0, 2 */
    n = build_batch(buf, 3, 100, 10, 0);
    buf[GR_BATCH_HEADER_SIZE + 17 + 3] = 0;
    fix_crc(buf);
    assert_int_equal(gr_batch_check_into(buf, n, &bi, &rs), 0);
    assert_int_equal(gr_batch_check_records_into(buf, &bi, &rs), 0);
    assert_false(rs.offsets_in_order);
    /* a broken record still fails as in gr_batch_check_records */
    n = build_batch(buf, 3, 100, 10, GR_COMPRESSION_GZIP);
    h_put32(buf + GR_BOFF_RECORD_COUNT, 2);
    h_put32(buf + GR_BOFF_LAST_DELTA, 1);
    fix_crc(buf);
    assert_int_equal(gr_batch_check_into(buf, n, &bi, &rs), 0);
    assert_int_equal(gr_batch_check_records_into(buf, &bi, &rs), GR_EINVAL);
}

static void test_any_transactional(void **state)
{
    (void)state;
    size_t n = build_batch(buf, 2, 100, 10, 0);
    size_t m = build_batch(buf + n, 2, 100, 10, 0);
    assert_false(gr_batch_any_transactional(buf, n + m));
    buf[n + GR_BOFF_ATTRIBUTES + 1] |= GR_ATTR_TRANSACTIONAL;
    assert_true(gr_batch_any_transactional(buf, n + m));
    /* headers only: a batch cut short still shows its attributes */
    assert_true(gr_batch_any_transactional(buf, n + GR_BATCH_HEADER_SIZE));
    assert_false(gr_batch_any_transactional(buf, n + GR_BATCH_HEADER_SIZE - 1));
    /* a legacy message set or garbage is not transactional */
    buf[GR_BOFF_MAGIC] = 1;
    assert_false(gr_batch_any_transactional(buf, n + m));
    buf[GR_BOFF_MAGIC] = 2;
    h_put32(buf + GR_BOFF_LENGTH, 3);
    assert_false(gr_batch_any_transactional(buf, n + m));
    assert_false(gr_batch_any_transactional(buf, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_find_timestamp_wraps),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_bad_crc),
        cmocka_unit_test(test_short_length),
        cmocka_unit_test(test_beyond_buffer),
        cmocka_unit_test(test_count_mismatch),
        cmocka_unit_test(test_unknown_codec),
        cmocka_unit_test(test_truncated_records),
        cmocka_unit_test(test_assign),
        cmocka_unit_test(test_legacy),
        cmocka_unit_test(test_fuzz_no_crash),
        cmocka_unit_test(test_decompress),
        cmocka_unit_test(test_records_say),
        cmocka_unit_test(test_any_transactional),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
