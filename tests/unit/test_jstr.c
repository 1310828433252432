/*
 * Unit tests for jstr.c: Kafka's wire strings as the Java Strings Kafka
 * makes of them.  The vectors are data computed by Java 17 (OpenJDK
 * 17.0.15): for each input, new String(bytes, UTF_8).hashCode(), the bytes
 * of getBytes(UTF_8) on that String, Kafka's placement Utils.abs(hashCode)
 * % 50 and the String's length().  They cover valid ids, NUL bytes, overlong,
 * truncated, surrogate, 4-byte and malformed sequences.  (The C
 * implementation was also compared with Java on about a million generated
 * inputs, every 1- and 2-byte string among them.)  tools/JStrVectors.java
 * computes them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "jstr.h"

typedef struct vec {
    const char *in;
    size_t len;
    const char *canon;             /* new String(in, UTF_8).getBytes(UTF_8) */
    size_t clen;
    int32_t hash;                  /* new String(in, UTF_8).hashCode() */
    int32_t part50;                /* Utils.abs(hash) % 50 */
    size_t jlen;                   /* new String(in, UTF_8).length() */
} vec_t;

static const vec_t V[] = {
    {"", 0, "", 0, 0, 0, 0},
    {"grp", 3, "grp", 3, 102629, 29, 3},
    {"my-consumer-group", 17, "my-consumer-group", 17, 1513705513, 13, 17},
    {"victim", 6, "victim", 6, -816693624, 24, 6},
    {"victim\x00" "evil", 11, "victim\x00" "evil", 11, -1465432052, 2, 11},
    {"\x00", 1, "\x00", 1, 0, 0, 1},
    {"a\x00\x00" "b", 4, "a\x00\x00" "b", 4, 2889825, 25, 4},
    {"\xc0\x80grp", 5, "\xef\xbf\xbd\xef\xbf\xbdgrp", 9, -1951011515, 15, 5},
    {"\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6, 2097056, 6, 2},
    {"\xc1\xbf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6, 2097056, 6, 2},
    {"\xe0\x80\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, 65074269, 19, 3},
    {"\xe0\x9f\xbf", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, 65074269, 19, 3},
    {"\xf0\x80\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12, 2017367872, 22, 4},
    {"\xf0\x8f\xbf\xbf", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12, 2017367872, 22, 4},
    {"\xe2\x82", 2, "\xef\xbf\xbd", 3, 65533, 33, 1},
    {"ab\xe2\x82", 4, "ab\xef\xbf\xbd", 5, 161788, 38, 3},
    {"\xe2", 1, "\xef\xbf\xbd", 3, 65533, 33, 1},
    {"\xc3", 1, "\xef\xbf\xbd", 3, 65533, 33, 1},
    {"x\xc3", 2, "x\xef\xbf\xbd", 4, 69253, 3, 2},
    {"\xf0\x9f\x98", 3, "\xef\xbf\xbd", 3, 65533, 33, 1},
    {"\xf0\x9f", 2, "\xef\xbf\xbd", 3, 65533, 33, 1},
    {"\xf0", 1, "\xef\xbf\xbd", 3, 65533, 33, 1},
    {"\xf0\x9f" "A", 3, "\xef\xbf\xbd" "A", 4, 2031588, 38, 2},
    {"\xe0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6, 2097056, 6, 2},
    {"\xe2" "AB", 3, "\xef\xbf\xbd" "AB", 5, 62979294, 44, 3},
    {"\xe2\x82" "A", 3, "\xef\xbf\xbd" "A", 4, 2031588, 38, 2},
    {"\xc3" "A", 2, "\xef\xbf\xbd" "A", 4, 2031588, 38, 2},
    {"\xed\xa0\x80", 3, "\xef\xbf\xbd", 3, 65533, 33, 1},
    {"\xed\xb0\x80", 3, "\xef\xbf\xbd", 3, 65533, 33, 1},
    {"\xed\xa0\xbd\xed\xb8\x80", 6, "\xef\xbf\xbd\xef\xbf\xbd", 6, 2097056, 6, 2},
    {"\xed\xa0", 2, "\xef\xbf\xbd", 3, 65533, 33, 1},
    {"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", 4, 1772899, 49, 2},
    {"g\xf0\x9f\x98\x80p", 6, "g\xf0\x9f\x98\x80p", 6, 58028454, 4, 4},
    {"\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf", 4, 1803232, 32, 2},
    {"\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12, 2017367872, 22, 4},
    {"\xf5\x80\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12, 2017367872, 22, 4},
    {"\xf7\xbf\xbf\xbf", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12, 2017367872, 22, 4},
    {"\xf8\x88\x80\x80\x80", 5, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 15, -1886039875, 25, 5},
    {"\xff", 1, "\xef\xbf\xbd", 3, 65533, 33, 1},
    {"\xfe\xff", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6, 2097056, 6, 2},
    {"\x80", 1, "\xef\xbf\xbd", 3, 65533, 33, 1},
    {"\xbf\x80\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, 65074269, 19, 3},
    {"grp\xff", 4, "grp\xef\xbf\xbd", 6, 3247032, 32, 4},
    {"grp\xfe", 4, "grp\xef\xbf\xbd", 6, 3247032, 32, 4},
    {"\xc3\xa9t\xc3\xa9", 5, "\xc3\xa9t\xc3\xa9", 5, 227742, 42, 3},
    {"\xe2\x82\xac", 3, "\xe2\x82\xac", 3, 8364, 14, 1},
    {"\xef\xbf\xbd", 3, "\xef\xbf\xbd", 3, 65533, 33, 1},
    {"\xef\xbb\xbf", 3, "\xef\xbb\xbf", 3, 65279, 29, 1},
    {"\xe2\x80\xae", 3, "\xe2\x80\xae", 3, 8238, 38, 1},
    {"\x1b[31mred\x1b[0m", 12, "\x1b[31mred\x1b[0m", 12, 1141999839, 39, 12},
    {"line\x0a" "forged", 11, "line\x0a" "forged", 11, 2033674227, 27, 11},
    {"polygenelubricants", 18, "polygenelubricants", 18, INT32_MIN, 0, 18},
    {"\x7f", 1, "\x7f", 1, 127, 27, 1},
    {"\xc2\x9b", 2, "\xc2\x9b", 2, 155, 5, 1},
};
#define NV (sizeof(V) / sizeof(V[0]))

static void test_java_vectors(void **state)
{
    (void)state;
    char out[256], held[256], back[256];
    for (size_t i = 0; i < NV; i++) {
        const vec_t *v = &V[i];
        assert_int_equal(gr_jstr_hash(v->in, v->len, GR_JSTR_WIRE), v->hash);
        assert_int_equal(gr_jstr_partition(v->in, v->len, GR_JSTR_WIRE, 50), v->part50);
        assert_int_equal(gr_jstr_length(v->in, v->len, GR_JSTR_WIRE), v->jlen);
        size_t n = gr_jstr_canon(v->in, v->len, GR_JSTR_WIRE, out, GR_JSTR_WIRE);
        assert_int_equal(n, v->clen);
        assert_int_equal(gr_jstr_canon(v->in, v->len, GR_JSTR_WIRE, NULL, GR_JSTR_WIRE), v->clen);
        assert_memory_equal(out, v->canon, n);
        assert_true(n <= GR_JSTR_CANON_MAX(v->len) - 1);
        assert_int_equal(gr_jstr_is_canon(v->in, v->len, GR_JSTR_WIRE),
                         v->len == v->clen && !memcmp(v->in, v->canon, v->len));
        assert_true(gr_jstr_is_canon(out, n, GR_JSTR_WIRE));
        /* the held form: NUL-free, same String, same hash, back to the same bytes */
        size_t h = gr_jstr_canon(v->in, v->len, GR_JSTR_WIRE, held, GR_JSTR_HELD);
        assert_int_equal(strlen(held), h);
        assert_int_equal(gr_jstr_canon(v->in, v->len, GR_JSTR_WIRE, NULL, GR_JSTR_HELD), h);
        assert_true(gr_jstr_is_canon(held, h, GR_JSTR_HELD));
        assert_int_equal(gr_jstr_hash(held, h, GR_JSTR_HELD), v->hash);
        assert_int_equal(gr_jstr_partition(held, h, GR_JSTR_HELD, 50), v->part50);
        assert_int_equal(gr_jstr_length(held, h, GR_JSTR_HELD), v->jlen);
        assert_int_equal(gr_jstr_has_nul(held, h), memchr(v->canon, 0, v->clen) != NULL);
        size_t b = gr_jstr_unhold(held, h, back);
        assert_int_equal(b, v->clen);
        assert_memory_equal(back, v->canon, b);
        /* canonical held input stays as it is; wire -> held of the canonical bytes too */
        size_t h2 = gr_jstr_canon(held, h, GR_JSTR_HELD, out, GR_JSTR_HELD);
        assert_int_equal(h2, h);
        assert_memory_equal(out, held, h);
        h2 = gr_jstr_canon(v->canon, v->clen, GR_JSTR_WIRE, out, GR_JSTR_HELD);
        assert_int_equal(h2, h);
        assert_memory_equal(out, held, h);
    }
}

/* Ids that decode to the same Java String are the same id (the same held
 * form); ids that differ after a NUL are different ones. */
static void test_equality_is_java_equality(void **state)
{
    (void)state;
    char a[64], b[64];
    size_t na = gr_jstr_canon("grp\xff", 4, GR_JSTR_WIRE, a, GR_JSTR_HELD);
    size_t nb = gr_jstr_canon("grp\xfe", 4, GR_JSTR_WIRE, b, GR_JSTR_HELD);
    assert_int_equal(na, nb);
    assert_string_equal(a, b);
    na = gr_jstr_canon("victim", 6, GR_JSTR_WIRE, a, GR_JSTR_HELD);
    nb = gr_jstr_canon("victim\0evil", 11, GR_JSTR_WIRE, b, GR_JSTR_HELD);
    assert_int_equal(na, 6);
    assert_int_equal(nb, 12);
    assert_string_equal(b, "victim\xc0\x80" "evil");
    assert_true(strcmp(a, b) != 0);
    /* a raw C0 80 is two U+FFFD, never the held NUL */
    nb = gr_jstr_canon("victim\xc0\x80", 8, GR_JSTR_WIRE, b, GR_JSTR_HELD);
    assert_string_equal(b, "victim\xef\xbf\xbd\xef\xbf\xbd");
    /* held form: a raw 00 is not canonical, C0 80 is */
    assert_false(gr_jstr_is_canon("a\0b", 3, GR_JSTR_HELD));
    assert_true(gr_jstr_is_canon("a\xc0\x80" "b", 4, GR_JSTR_HELD));
    assert_false(gr_jstr_is_canon("a\xc0\x80" "b", 4, GR_JSTR_WIRE));
    assert_true(gr_jstr_is_canon("a\0b", 3, GR_JSTR_WIRE));
}

static void test_partition_edges(void **state)
{
    (void)state;
    assert_int_equal(gr_jstr_partition("polygenelubricants", 18, GR_JSTR_WIRE, 7), 0);  /* hash INT32_MIN */
    assert_int_equal(gr_jstr_partition("grp", 3, GR_JSTR_WIRE, 0), 0);
    assert_int_equal(gr_jstr_partition("grp", 3, GR_JSTR_WIRE, -3), 0);
    assert_int_equal(gr_jstr_partition("grp", 3, GR_JSTR_WIRE, 1), 0);
    assert_int_equal(gr_jstr_partition("", 0, GR_JSTR_WIRE, 50), 0);
}

static void test_escape(void **state)
{
    (void)state;
    char out[128];
    struct { const char *in; size_t len; int flags; const char *want; } E[] = {
        {"plain-id.1", 10, GR_JSTR_WIRE, "plain-id.1"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, GR_JSTR_WIRE, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"a\nb\rc\td", 7, GR_JSTR_WIRE, "a\\x0ab\\x0dc\\x09d"},
        {"\x1b[2J\x7f", 5, GR_JSTR_WIRE, "\\x1b[2J\\x7f"},
        {"back\\slash", 10, GR_JSTR_WIRE, "back\\\\slash"},
        {"v\0e", 3, GR_JSTR_WIRE, "v\\x00e"},
        {"v\xc0\x80" "e", 4, GR_JSTR_HELD, "v\\x00e"},
        {"v\xc0\x80" "e", 4, GR_JSTR_WIRE, "v\\xc0\\x80e"},
        {"bad\xff\xfe", 5, GR_JSTR_WIRE, "bad\\xff\\xfe"},
        {"trunc\xe2\x82", 7, GR_JSTR_WIRE, "trunc\\xe2\\x82"},
        {"sur\xed\xa0\x80", 6, GR_JSTR_WIRE, "sur\\xed\\xa0\\x80"},
        {"c1\xc2\x9b" "x", 5, GR_JSTR_WIRE, "c1\\u009bx"},
        {"bidi\xe2\x80\xae" "x", 8, GR_JSTR_WIRE, "bidi\\u202ex"},
        {"ls\xe2\x80\xa8", 5, GR_JSTR_WIRE, "ls\\u2028"},
    };
    for (size_t i = 0; i < sizeof(E) / sizeof(E[0]); i++) {
        size_t need = gr_jstr_escape(E[i].in, E[i].len, E[i].flags, out, sizeof(out));
        assert_string_equal(out, E[i].want);
        assert_int_equal(need, strlen(E[i].want));
    }
    /* cut between escapes only; the length needed is still reported */
    size_t need = gr_jstr_escape("ab\ncd", 5, GR_JSTR_WIRE, out, 5);
    assert_int_equal(need, 8);
    assert_string_equal(out, "ab");
    need = gr_jstr_escape("ab\ncd", 5, GR_JSTR_WIRE, out, 7);
    assert_string_equal(out, "ab\\x0a");
    need = gr_jstr_escape("\xe2\x82\xac", 3, GR_JSTR_WIRE, out, 3);
    assert_string_equal(out, "");
    assert_int_equal(gr_jstr_escape("abc", 3, GR_JSTR_WIRE, NULL, 0), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_java_vectors),
        cmocka_unit_test(test_equality_is_java_equality),
        cmocka_unit_test(test_partition_edges),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
