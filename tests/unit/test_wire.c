/*
 * test_wire.c - wire primitives: varints, (compact) strings/bytes/arrays,
 * sticky reader errors, the output chain (file chunks, reserve/patch).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "wire.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Encode with the writer, return a malloc'ed copy of the bytes. */
static uint8_t *wr_take(gr_wr_t *w, size_t *len)
{
    uint8_t *p = gr_wr_flatten(w, len);
    assert_non_null(p);
    uint8_t *c = malloc(*len ? *len : 1);
    memcpy(c, p, *len);
    gr_wr_free(w);
    return c;
}

static void test_varint_roundtrip(void **state)
{
    (void)state;
    static const int32_t v32[] = {0, -1, 1, 63, -64, 64, -65, 300, INT32_MIN, INT32_MAX};
    static const int64_t v64[] = {0, -1, 1, INT64_MIN, INT64_MAX, (int64_t)1 << 40, -((int64_t)1 << 40)};
    static const uint32_t u32[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX};
    gr_wr_t w;
    gr_wr_init(&w);
    for (size_t i = 0; i < GR_ARRAY_LEN(v32); i++)
        gr_wr_varint(&w, v32[i]);
    for (size_t i = 0; i < GR_ARRAY_LEN(v64); i++)
        gr_wr_varlong(&w, v64[i]);
    for (size_t i = 0; i < GR_ARRAY_LEN(u32); i++)
        gr_wr_uvarint(&w, u32[i]);
    size_t expect = 0;
    for (size_t i = 0; i < GR_ARRAY_LEN(v32); i++)
        expect += gr_varint_size(v32[i]);
    for (size_t i = 0; i < GR_ARRAY_LEN(v64); i++)
        expect += gr_varlong_size(v64[i]);
    for (size_t i = 0; i < GR_ARRAY_LEN(u32); i++)
        expect += gr_uvarint_size(u32[i]);
    assert_int_equal(w.total, expect);

    size_t len;
    uint8_t *buf = wr_take(&w, &len);
    gr_rd_t rd;
    gr_rd_init(&rd, buf, len);
    for (size_t i = 0; i < GR_ARRAY_LEN(v32); i++)
        assert_int_equal(gr_rd_varint(&rd), v32[i]);
    for (size_t i = 0; i < GR_ARRAY_LEN(v64); i++)
        assert_true(gr_rd_varlong(&rd) == v64[i]);
    for (size_t i = 0; i < GR_ARRAY_LEN(u32); i++)
        assert_int_equal(gr_rd_uvarint(&rd), u32[i]);
    assert_int_equal(rd.err, 0);
    assert_int_equal(gr_rd_left(&rd), 0);
    free(buf);
}

static void test_varint_bytes(void **state)
{
    (void)state;
    /* zig-zag: 0->00, -1->01, 1->02, INT32_MIN -> ff ff ff ff 0f */
    uint8_t b[16];
    gr_rd_t rd;
    static const uint8_t m1[] = {0x01}, p1[] = {0x02};
    static const uint8_t min32[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    static const uint8_t max32[] = {0xfe, 0xff, 0xff, 0xff, 0x0f};
    gr_rd_init(&rd, m1, 1);
    assert_int_equal(gr_rd_varint(&rd), -1);
    gr_rd_init(&rd, p1, 1);
    assert_int_equal(gr_rd_varint(&rd), 1);
    gr_rd_init(&rd, min32, 5);
    assert_int_equal(gr_rd_varint(&rd), INT32_MIN);
    assert_int_equal(rd.err, 0);
    gr_rd_init(&rd, max32, 5);
    assert_int_equal(gr_rd_varint(&rd), INT32_MAX);
    gr_rd_init(&rd, min32, 5);
    assert_int_equal(gr_rd_uvarint(&rd), UINT32_MAX);
    assert_int_equal(rd.err, 0);

    /* varlong INT64_MIN = 19 x ff .. 01 */
    assert_int_equal(gr_varlong_encode(b, INT64_MIN), 10);
    for (int i = 0; i < 9; i++)
        assert_int_equal(b[i], 0xff);
    assert_int_equal(b[9], 0x01);
    int64_t v;
    assert_int_equal(gr_varint_decode(b, b + 10, &v, true, 10), 10);
    assert_true(v == INT64_MIN);
    assert_int_equal(gr_varlong_encode(b, 0), 1);
    assert_int_equal(b[0], 0);
}

static void test_varint_malformed(void **state)
{
    (void)state;
    gr_rd_t rd;
    int64_t v;
    /* overlong: 6 bytes for a 32-bit varint */
    static const uint8_t over6[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    gr_rd_init(&rd, over6, sizeof(over6));
    assert_int_equal(gr_rd_uvarint(&rd), 0);
    assert_int_equal(rd.err, GR_EPROTO);
    gr_rd_init(&rd, over6, sizeof(over6));
    (void)gr_rd_varint(&rd);
    assert_int_equal(rd.err, GR_EPROTO);
    /* 5th byte carries bits beyond 32 */
    static const uint8_t hi5[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
    gr_rd_init(&rd, hi5, sizeof(hi5));
    (void)gr_rd_uvarint(&rd);
    assert_int_equal(rd.err, GR_EPROTO);
    /* truncated */
    static const uint8_t trunc[] = {0x80, 0x80};
    gr_rd_init(&rd, trunc, sizeof(trunc));
    (void)gr_rd_varlong(&rd);
    assert_int_equal(rd.err, GR_EPROTO);
    assert_int_equal(gr_varint_decode(trunc, trunc + 2, &v, false, 5), GR_EPROTO);
    /* 11-byte varlong, and a 10th byte above 1 */
    uint8_t b[11];
    memset(b, 0x80, sizeof(b));
    b[10] = 0;
    assert_int_equal(gr_varint_decode(b, b + 11, &v, true, 10), GR_EPROTO);
    b[9] = 0x02;
    assert_int_equal(gr_varint_decode(b, b + 11, &v, true, 10), GR_EPROTO);
    b[9] = 0x01;
    assert_int_equal(gr_varint_decode(b, b + 11, &v, false, 10), 10);
    assert_true((uint64_t)v == (uint64_t)1 << 63);
    /* empty input */
    gr_rd_init(&rd, b, 0);
    (void)gr_rd_uvarint(&rd);
    assert_int_equal(rd.err, GR_EPROTO);
}

static void test_fixed_and_sticky(void **state)
{
    (void)state;
    gr_wr_t w;
    gr_wr_init(&w);
    gr_wr_i8(&w, -2);
    gr_wr_i16(&w, -3);
    gr_wr_i32(&w, INT32_MIN);
    gr_wr_i64(&w, INT64_MAX);
    gr_wr_u16(&w, 65535);
    gr_wr_u32(&w, 0xdeadbeef);
    gr_wr_f64(&w, 2.5);
    gr_wr_bool(&w, true);
    gr_uuid_t u, u2;
    for (int i = 0; i < 16; i++)
        u.b[i] = (uint8_t)i;
    gr_wr_uuid(&w, &u);
    size_t len;
    uint8_t *buf = wr_take(&w, &len);
    assert_int_equal(len, 1 + 2 + 4 + 8 + 2 + 4 + 8 + 1 + 16);
    assert_int_equal(buf[1], 0xff);
    assert_int_equal(buf[2], 0xfd);
    assert_int_equal(buf[3], 0x80);

    gr_rd_t rd;
    gr_rd_init(&rd, buf, len);
    assert_int_equal(gr_rd_i8(&rd), -2);
    assert_int_equal(gr_rd_i16(&rd), -3);
    assert_int_equal(gr_rd_i32(&rd), INT32_MIN);
    assert_true(gr_rd_i64(&rd) == INT64_MAX);
    assert_int_equal(gr_rd_u16(&rd), 65535);
    assert_int_equal(gr_rd_u32(&rd), 0xdeadbeef);
    assert_true(gr_rd_f64(&rd) == 2.5);
    assert_true(gr_rd_bool(&rd));
    gr_rd_uuid(&rd, &u2);
    assert_memory_equal(u.b, u2.b, 16);
    assert_int_equal(rd.err, 0);
    /* past the end: error is sticky, values are zero */
    assert_int_equal(gr_rd_i32(&rd), 0);
    assert_int_equal(rd.err, GR_EPROTO);
    assert_int_equal(gr_rd_i8(&rd), 0);
    assert_int_equal(rd.err, GR_EPROTO);
    assert_null(gr_rd_raw(&rd, 1));

    /* a partial read does not advance into the following bytes */
    gr_rd_init(&rd, buf, 3);
    assert_int_equal(gr_rd_i32(&rd), 0);
    assert_int_equal(rd.err, GR_EPROTO);
    assert_int_equal(gr_rd_left(&rd), 0);
    free(buf);
}

static void test_strings(void **state)
{
    (void)state;
    gr_wr_t w;
    gr_wr_init(&w);
    gr_wr_str(&w, false, GR_STR("abc"));
    gr_wr_str(&w, false, GR_STR_NULL);
    gr_wr_str(&w, true, GR_STR("abc"));
    gr_wr_str(&w, true, GR_STR_NULL);
    gr_wr_cstr(&w, true, "");
    gr_wr_cstr(&w, false, NULL);
    gr_wr_bytes(&w, false, (gr_bytes_t){(const uint8_t *)"xy", 2});
    gr_wr_bytes(&w, false, (gr_bytes_t){NULL, -1});
    gr_wr_bytes(&w, true, (gr_bytes_t){(const uint8_t *)"xy", 2});
    gr_wr_bytes(&w, true, (gr_bytes_t){NULL, -1});
    size_t len;
    uint8_t *buf = wr_take(&w, &len);
    static const uint8_t expect[] = {
        0, 3, 'a', 'b', 'c', 0xff, 0xff, 4, 'a', 'b', 'c', 0, 1, 0xff, 0xff,
        0, 0, 0, 2, 'x', 'y', 0xff, 0xff, 0xff, 0xff, 3, 'x', 'y', 0};
    assert_int_equal(len, sizeof(expect));
    assert_memory_equal(buf, expect, len);

    gr_rd_t rd;
    gr_str_t s;
    gr_bytes_t b;
    gr_rd_init(&rd, buf, len);
    gr_rd_str(&rd, false, &s);
    assert_true(GR_STR_EQ(s, "abc"));
    assert_ptr_equal(s.p, buf + 2);             /* zero copy */
    gr_rd_str(&rd, false, &s);
    assert_int_equal(s.len, -1);
    gr_rd_str(&rd, true, &s);
    assert_true(GR_STR_EQ(s, "abc"));
    gr_rd_str(&rd, true, &s);
    assert_int_equal(s.len, -1);
    gr_rd_str(&rd, true, &s);
    assert_int_equal(s.len, 0);
    gr_rd_str(&rd, false, &s);
    assert_int_equal(s.len, -1);
    gr_rd_bytes(&rd, false, &b);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.p, "xy", 2);
    gr_rd_bytes(&rd, false, &b);
    assert_int_equal(b.len, -1);
    gr_rd_bytes(&rd, true, &b);
    assert_int_equal(b.len, 2);
    gr_rd_bytes(&rd, true, &b);
    assert_int_equal(b.len, -1);
    assert_int_equal(rd.err, 0);
    assert_int_equal(gr_rd_left(&rd), 0);
    free(buf);
}

static void test_string_bounds(void **state)
{
    (void)state;
    gr_rd_t rd;
    gr_str_t s;
    gr_bytes_t b;
    /* length beyond the buffer */
    static const uint8_t long16[] = {0, 5, 'a', 'b'};
    gr_rd_init(&rd, long16, sizeof(long16));
    gr_rd_str(&rd, false, &s);
    assert_int_equal(rd.err, GR_EPROTO);
    assert_true(s.len >= 0 && s.len <= 0);
    /* negative length other than -1 */
    static const uint8_t neg16[] = {0xff, 0xfe, 'a'};
    gr_rd_init(&rd, neg16, sizeof(neg16));
    gr_rd_str(&rd, false, &s);
    assert_int_equal(rd.err, GR_EPROTO);
    static const uint8_t neg32[] = {0x80, 0, 0, 0};
    gr_rd_init(&rd, neg32, sizeof(neg32));
    gr_rd_bytes(&rd, false, &b);
    assert_int_equal(rd.err, GR_EPROTO);
    /* compact length beyond the buffer */
    static const uint8_t longc[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 'a'};
    gr_rd_init(&rd, longc, sizeof(longc));
    gr_rd_bytes(&rd, true, &b);
    assert_int_equal(rd.err, GR_EPROTO);
    gr_rd_init(&rd, longc, sizeof(longc));
    gr_rd_str(&rd, true, &s);
    assert_int_equal(rd.err, GR_EPROTO);
}

static void test_array_len(void **state)
{
    (void)state;
    gr_rd_t rd;
    uint8_t buf[64];
    memset(buf, 0, sizeof(buf));
    /* classic: 2 elements of 4 bytes fit in the 8 left */
    buf[3] = 2;
    gr_rd_init(&rd, buf, 12);
    assert_int_equal(gr_rd_array_len(&rd, false, 4), 2);
    assert_int_equal(rd.err, 0);
    /* 3 do not */
    buf[3] = 3;
    gr_rd_init(&rd, buf, 12);
    assert_int_equal(gr_rd_array_len(&rd, false, 4), 0);
    assert_int_equal(rd.err, GR_EPROTO);
    /* null and hostile */
    static const uint8_t null32[] = {0xff, 0xff, 0xff, 0xff};
    gr_rd_init(&rd, null32, 4);
    assert_int_equal(gr_rd_array_len(&rd, false, 1), -1);
    assert_int_equal(rd.err, 0);
    static const uint8_t neg2[] = {0xff, 0xff, 0xff, 0xfe};
    gr_rd_init(&rd, neg2, 4);
    (void)gr_rd_array_len(&rd, false, 1);
    assert_int_equal(rd.err, GR_EPROTO);
    static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    gr_rd_init(&rd, huge, sizeof(huge));
    (void)gr_rd_array_len(&rd, false, 1);
    assert_int_equal(rd.err, GR_EPROTO);
    /* compact: 0 = null, n+1 */
    static const uint8_t c0[] = {0x00}, c3[] = {0x03, 1, 2};
    gr_rd_init(&rd, c0, 1);
    assert_int_equal(gr_rd_array_len(&rd, true, 1), -1);
    gr_rd_init(&rd, c3, sizeof(c3));
    assert_int_equal(gr_rd_array_len(&rd, true, 1), 2);
    assert_int_equal(rd.err, 0);
    static const uint8_t chuge[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0};
    gr_rd_init(&rd, chuge, sizeof(chuge));
    (void)gr_rd_array_len(&rd, true, 1);
    assert_int_equal(rd.err, GR_EPROTO);

    gr_wr_t w;
    gr_wr_init(&w);
    gr_wr_array_len(&w, true, -1);
    gr_wr_array_len(&w, true, 0);
    gr_wr_array_len(&w, false, -1);
    size_t len;
    uint8_t *out = wr_take(&w, &len);
    static const uint8_t expect[] = {0, 1, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(len, sizeof(expect));
    assert_memory_equal(out, expect, len);
    free(out);
}

static int tmp_file(const char *content)
{
    char path[] = "/tmp/gregor-test-wire-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    return fd;
}

static void test_writer_chain(void **state)
{
    (void)state;
    gr_file_t *f = gr_file_new(tmp_file("0123456789"));
    gr_wr_t w;
    gr_wr_init(&w);
    gr_wpos_t size = gr_wr_reserve(&w, 4);
    for (int i = 0; i < 1000; i++)          /* grows the first chunk by realloc */
        gr_wr_i32(&w, i);
    gr_records_t r = {.len = 10, .file = f};
    gr_wr_records(&w, false, &r);            /* int32 len + file chunk */
    assert_int_equal(f->refs, 2);
    gr_wr_file(&w, f, 2, 3);
    gr_wr_file(&w, f, 0, 0);                 /* empty range: no chunk */
    assert_int_equal(f->refs, 3);
    gr_wr_str(&w, false, GR_STR("tail"));
    gr_wr_patch_i32(&w, size, (int32_t)(w.total - 4));

    /* memory(4+4000+4), file(10), file(3), memory(6) */
    gr_chunk_t *c = w.head;
    assert_non_null(c->mem);
    assert_int_equal(c->len, 4 + 4000 + 4);
    assert_int_equal(c->mem[0] << 24 | c->mem[1] << 16 | c->mem[2] << 8 | c->mem[3],
                     4000 + 4 + 10 + 3 + 6);
    assert_int_equal(c->mem[4 + 4000 + 3], 10);
    c = c->next;
    assert_null(c->mem);
    assert_ptr_equal(c->file, f);
    assert_int_equal(c->len, 10);
    c = c->next;
    assert_int_equal(c->file_off, 2);
    assert_int_equal(c->len, 3);
    c = c->next;
    assert_non_null(c->mem);
    assert_int_equal(c->len, 6);
    assert_null(c->next);
    assert_ptr_equal(c, w.tail);
    assert_int_equal(w.total, 4 + 4000 + 4 + 10 + 3 + 6);

    size_t len;
    assert_null(gr_wr_flatten(&w, &len));    /* file chunks cannot flatten */

    /* splice */
    gr_wr_t w2;
    gr_wr_init(&w2);
    gr_wr_i8(&w2, 7);
    size_t before = w.total;
    gr_wr_splice(&w, &w2);
    assert_null(w2.head);
    assert_int_equal(w2.total, 0);
    assert_int_equal(w.total, before + 1);
    assert_int_equal(w.tail->mem[0], 7);

    gr_wr_free(&w);
    assert_int_equal(f->refs, 1);
    gr_file_unref(f);
}

static void test_flatten(void **state)
{
    (void)state;
    gr_wr_t a, b;
    gr_wr_init(&a);
    gr_wr_init(&b);
    size_t len;
    uint8_t *p = gr_wr_flatten(&a, &len);    /* empty writer */
    assert_non_null(p);
    assert_int_equal(len, 0);
    gr_wr_free(&a);
    gr_wr_init(&a);
    gr_wpos_t pos = gr_wr_reserve(&a, 4);
    gr_wr_raw(&a, "hello", 5);
    gr_wr_raw(&b, " world", 6);
    gr_wr_splice(&a, &b);
    gr_wr_patch_i32(&a, pos, 11);
    p = gr_wr_flatten(&a, &len);
    assert_int_equal(len, 15);
    assert_memory_equal(p, "\0\0\0\x0bhello world", 15);
    assert_ptr_equal(a.head, a.tail);
    gr_wr_raw(&a, "!", 1);
    p = gr_wr_flatten(&a, &len);
    assert_int_equal(len, 16);
    assert_int_equal(p[15], '!');
    gr_wr_free(&a);
    gr_wr_free(&b);
}

static void test_records(void **state)
{
    (void)state;
    gr_wr_t w;
    gr_wr_init(&w);
    gr_records_t r = {.len = 3, .mem = (const uint8_t *)"abc"}, n = {.len = -1};
    gr_wr_records(&w, true, &r);
    gr_wr_records(&w, true, &n);
    gr_wr_records(&w, false, &n);
    size_t len;
    uint8_t *buf = wr_take(&w, &len);
    static const uint8_t expect[] = {4, 'a', 'b', 'c', 0, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(len, sizeof(expect));
    assert_memory_equal(buf, expect, len);
    gr_rd_t rd;
    gr_rd_init(&rd, buf, len);
    gr_records_t o;
    gr_rd_records(&rd, true, &o);
    assert_int_equal(o.len, 3);
    assert_ptr_equal(o.mem, buf + 1);
    assert_null(o.file);
    gr_rd_records(&rd, true, &o);
    assert_int_equal(o.len, -1);
    gr_rd_records(&rd, false, &o);
    assert_int_equal(o.len, -1);
    assert_int_equal(rd.err, 0);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_roundtrip),
        cmocka_unit_test(test_varint_bytes),
        cmocka_unit_test(test_varint_malformed),
        cmocka_unit_test(test_fixed_and_sticky),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_string_bounds),
        cmocka_unit_test(test_array_len),
        cmocka_unit_test(test_writer_chain),
        cmocka_unit_test(test_flatten),
        cmocka_unit_test(test_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
