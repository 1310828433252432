/* Unit tests for hmap.h: the hash function's values (persisted in file
 * names), insert / lookup / remove with colliding hashes, growth and
 * shrinking, iteration with removal, replace, fixed buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct item {
    gr_hnode_t node;
    int key;
} item_t;

static item_t *find(gr_hmap_t *m, int key, uint32_t h)
{
    for (gr_hnode_t *n = gr_hmap_first(m, h); n; n = gr_hmap_next(n)) {
        item_t *it = GR_CONTAINER(n, item_t, node);
        if (it->key == key)
            return it;
    }
    return NULL;
}

static void test_fnv(void **st)
{
    (void)st;
    /* FNV-1a 64 reference values */
    assert_true(gr_fnv1a64("", 0, GR_FNV64_INIT) == 0xcbf29ce484222325ull);
    assert_true(gr_fnv1a64("a", 1, GR_FNV64_INIT) == 0xaf63dc4c8601ec8cull);
    assert_true(gr_fnv1a64("foobar", 6, GR_FNV64_INIT) == 0x85944171f73967e8ull);
    /* continuing a hash is hashing the concatenation */
    assert_true(gr_fnv1a64("bar", 3, gr_fnv1a64("foo", 3, GR_FNV64_INIT)) == 0x85944171f73967e8ull);
    assert_int_not_equal(gr_hash32("a", 1), gr_hash32("b", 1));
}

static void test_basic(void **st)
{
    (void)st;
    enum { N = 10000 };
    item_t *items = calloc(N, sizeof(*items));
    gr_hmap_t m;
    gr_hmap_init(&m, 4);
    assert_null(m.b);                       /* nothing until the first insert */
    assert_null(gr_hmap_first(&m, 1));
    for (int i = 0; i < N; i++) {
        items[i].key = i;
        gr_hmap_insert(&m, &items[i].node, (uint32_t)(i % 97));   /* many equal hashes */
    }
    assert_int_equal(gr_hmap_count(&m), N);
    assert_true(m.nb >= N && m.nb <= 2 * N);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(find(&m, i, (uint32_t)(i % 97)), &items[i]);
    assert_null(find(&m, N + 1, 3));
    /* every node once, in some order */
    int seen = 0;
    for (gr_hnode_t *n = gr_hmap_after(&m, NULL); n; n = gr_hmap_after(&m, n))
        seen++;
    assert_int_equal(seen, N);
    /* removal while iterating, then compaction */
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &m);
    int left = 0;
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        item_t *x = GR_CONTAINER(n, item_t, node);
        if (x->key % 10)
            gr_hmap_remove_keep(&m, n);
        else
            left++;
    }
    assert_int_equal(left, N / 10);
    assert_int_equal(gr_hmap_count(&m), N / 10);
    gr_hmap_compact(&m);
    assert_true(m.nb <= 4 * (N / 10));
    for (int i = 0; i < N; i += 10)
        assert_ptr_equal(find(&m, i, (uint32_t)(i % 97)), &items[i]);
    /* remove shrinks down to the initial size, not below */
    for (int i = 0; i < N; i += 10)
        gr_hmap_remove(&m, &items[i].node);
    assert_int_equal(gr_hmap_count(&m), 0);
    assert_int_equal(m.nb, 4);
    gr_hmap_compact(&m);
    assert_null(m.b);
    gr_hmap_free(&m);
    free(items);
}

static void test_replace_and_fixed(void **st)
{
    (void)st;
    item_t a = {.key = 1}, b = {.key = 2}, c = {.key = 1};
    gr_hmap_t m;
    gr_hmap_init(&m, 1);
    gr_hmap_insert(&m, &a.node, 7);
    gr_hmap_insert(&m, &b.node, 7);
    gr_hmap_replace(&m, &a.node, &c.node);
    assert_ptr_equal(find(&m, 1, 7), &c);
    assert_ptr_equal(find(&m, 2, 7), &b);
    assert_int_equal(gr_hmap_count(&m), 2);
    gr_hmap_free(&m);

    gr_hnode_t *buckets[8] = {0};
    gr_hmap_init_fixed(&m, buckets, 8);
    item_t xs[20];
    for (int i = 0; i < 20; i++) {
        xs[i].key = i;
        gr_hmap_insert(&m, &xs[i].node, gr_hash_int((uint64_t)i));
    }
    assert_int_equal(m.nb, 8);              /* fixed: no growth */
    for (int i = 0; i < 20; i++)
        assert_ptr_equal(find(&m, i, gr_hash_int((uint64_t)i)), &xs[i]);
    gr_hmap_remove(&m, &xs[3].node);
    assert_null(find(&m, 3, gr_hash_int(3)));
    assert_int_equal(gr_hmap_buckets_for(&m, 1000), 8);
    gr_hmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv),
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_replace_and_fixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
