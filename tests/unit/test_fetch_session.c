/*
 * test_fetch_session.c - the fetch session cache on its own (no topics are
 * registered, so every cached partition is detached): id allocation, epoch
 * wrap, LRU eviction of idle sessions only, a full cache and slots = 0,
 * cached partitions (add, update, forget, shared topic names, the pending
 * list), the parked fetch being answered when its session goes, and a
 * session evicted from inside a partition's waiter walk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fetch_session.h"

#include <limits.h>
#include <string.h>

static int teardown(void **state)
{
    (void)state;
    gr_fsess_free_all();
    assert_int_equal(gr_fsess_count(), 0);
    return 0;
}

static void test_ids(void **state)
{
    (void)state;
    gr_fsess_configure(500, GR_FSESS_EVICTION_MS);
    int32_t ids[500];
    for (int i = 0; i < 500; i++) {
        gr_fsess_t *s = gr_fsess_create(0);
        assert_non_null(s);
        assert_true(s->id > 0 && s->id < INT32_MAX);
        assert_int_equal(s->epoch, 1);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(ids[j], s->id);
        ids[i] = s->id;
        assert_ptr_equal(gr_fsess_find(s->id), s);
    }
    assert_int_equal(gr_fsess_count(), 500);
    assert_null(gr_fsess_find(0));
    assert_null(gr_fsess_create(0));           /* full, nothing idle */
    gr_fsess_remove(gr_fsess_find(ids[7]));
    assert_null(gr_fsess_find(ids[7]));
    assert_int_equal(gr_fsess_count(), 499);
    assert_non_null(gr_fsess_create(0));
}

static void test_epochs(void **state)
{
    (void)state;
    assert_int_equal(gr_fsess_next_epoch(1), 2);
    assert_int_equal(gr_fsess_next_epoch(0), 1);
    assert_int_equal(gr_fsess_next_epoch(INT32_MAX - 1), INT32_MAX);
    assert_int_equal(gr_fsess_next_epoch(INT32_MAX), 1);
    assert_int_equal(gr_fsess_next_epoch(-1), -1);
}

static void test_disabled(void **state)
{
    (void)state;
    gr_fsess_configure(0, GR_FSESS_EVICTION_MS);
    assert_null(gr_fsess_create(0));
    assert_null(gr_fsess_create(INT64_MAX / 2));
    assert_int_equal(gr_fsess_count(), 0);
}

static void test_eviction(void **state)
{
    (void)state;
    gr_fsess_configure(3, 1000);
    gr_fsess_t *a = gr_fsess_create(0), *b = gr_fsess_create(0), *c = gr_fsess_create(0);
    int32_t ia = a->id, ib = b->id, ic = c->id;
    assert_null(gr_fsess_create(1000));        /* idle exactly the eviction time: kept */
    gr_fsess_touch(a, 500);                     /* b is now the least recently used */
    gr_fsess_t *d = gr_fsess_create(1001);
    assert_non_null(d);
    assert_null(gr_fsess_find(ib));
    assert_non_null(gr_fsess_find(ia));
    assert_non_null(gr_fsess_find(ic));
    /* next candidate is c (used at 0); a (500) and d (1001) are recent */
    assert_null(gr_fsess_create(1000));
    gr_fsess_t *e = gr_fsess_create(1001);
    assert_non_null(e);
    assert_null(gr_fsess_find(ic));
    /* then a, idle since 500 */
    assert_null(gr_fsess_create(1500));
    assert_non_null(gr_fsess_create(1501));
    assert_null(gr_fsess_find(ia));
    assert_int_equal(gr_fsess_count(), 3);
}

static void test_partitions(void **state)
{
    (void)state;
    gr_fsess_configure(10, GR_FSESS_EVICTION_MS);
    gr_fsess_t *s = gr_fsess_create(0);
    bool added;
    gr_fsess_part_t *p0 = gr_fsess_put(s, "alpha", 5, 0, &added);
    assert_true(added);
    assert_null(p0->p);                         /* no such topic: detached */
    assert_int_equal(p0->high_watermark, -1);   /* reported the first time */
    assert_true(p0->pending);
    gr_fsess_part_t *p1 = gr_fsess_put(s, "alpha", 5, 1, &added);
    assert_ptr_equal(p0->topic, p1->topic);     /* one copy of the name */
    assert_string_equal(p0->topic->name, "alpha");
    gr_fsess_part_t *q = gr_fsess_put(s, "beta", 4, 0, &added);
    assert_ptr_not_equal(q->topic, p0->topic);
    assert_int_equal(s->nparts, 3);
    assert_int_equal(s->npending, 3);

    gr_fsess_unpend(p1);
    gr_fsess_unpend(p1);
    assert_int_equal(s->npending, 2);
    assert_ptr_equal(s->pend_head, p0);
    assert_ptr_equal(s->pend_tail, q);
    assert_ptr_equal(gr_fsess_put(s, "alpha", 5, 1, &added), p1);
    assert_false(added);
    assert_true(p1->pending);
    assert_ptr_equal(s->pend_tail, p1);

    /* many partitions: the hash grows */
    for (int32_t i = 2; i < 3000; i++)
        gr_fsess_put(s, "alpha", 5, i, &added);
    assert_int_equal(s->nparts, 3001);
    for (int32_t i = 0; i < 3000; i++)
        assert_true(gr_fsess_forget(s, "alpha", 5, i));
    assert_false(gr_fsess_forget(s, "alpha", 5, 0));
    assert_false(gr_fsess_forget(s, "gamma", 5, 0));
    assert_int_equal(s->nparts, 1);
    assert_int_equal(s->npending, 1);
    assert_ptr_equal(s->pend_head, q);
    assert_ptr_equal(s->pend_tail, q);
    /* an empty (null) topic name is a name like any other */
    gr_fsess_put(s, NULL, 0, 0, &added);
    assert_true(added);
    assert_true(gr_fsess_forget(s, NULL, 0, 0));
}

static int closing_calls, wake_calls;

static void parker_cb(gr_fsess_parker_t *pk, gr_fsess_wake_t why)
{
    (void)pk;
    if (why == GR_FSESS_CLOSING)
        closing_calls++;
    else
        wake_calls++;
}

static void test_parked_fetch_on_removal(void **state)
{
    (void)state;
    gr_fsess_configure(1, 10);
    gr_fsess_parker_t pk = {parker_cb};
    gr_fsess_t *s = gr_fsess_create(0);
    gr_fsess_park(s, &pk);
    closing_calls = wake_calls = 0;
    /* eviction by a new session answers the parked fetch first */
    assert_non_null(gr_fsess_create(11));
    assert_int_equal(closing_calls, 1);
    assert_int_equal(wake_calls, 0);
}

/* A waiter called by gr_partition_notify makes a session, which evicts an
 * idle one whose cached partition waits on the same partition, next in
 * the list (a parked SessionEpoch 0 fetch answered by an append).  The
 * walk must not step onto the freed waiter. */
static int evictor_calls, part_events;
static gr_fsess_t *made;

static void evictor_cb(gr_pwait_t *w)
{
    (void)w;
    evictor_calls++;
    made = gr_fsess_create(10);
}

static void counter_cb(gr_pwait_t *w)
{
    (void)w;
    part_events++;
}

static void test_eviction_during_notify(void **state)
{
    (void)state;
    gr_fsess_configure(1, 5);
    gr_partition_t part;
    memset(&part, 0, sizeof(part));
    part.waiters.next = part.waiters.prev = &part.waiters;
    gr_pwait_t first = {.cb = evictor_cb}, last = {.cb = counter_cb};
    gr_pwait_add(&part, &first);
    gr_fsess_t *old = gr_fsess_create(0);
    int32_t old_id = old->id;
    bool added;
    gr_fsess_part_t *cp = gr_fsess_put(old, "t", 1, 0, &added);
    cp->p = &part;                              /* attached by hand: no registry */
    gr_pwait_add(&part, &cp->wait);
    gr_pwait_add(&part, &last);
    evictor_calls = part_events = 0;
    made = NULL;
    gr_partition_notify(&part);
    assert_int_equal(evictor_calls, 1);
    assert_int_equal(part_events, 1);
    assert_non_null(made);
    assert_null(gr_fsess_find(old_id));
    assert_ptr_equal(part.waiters.next, &first);
    assert_ptr_equal(first.next, &last);
    assert_ptr_equal(last.next, &part.waiters);
    gr_pwait_remove(&first);
    gr_pwait_remove(&last);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ids, teardown),
        cmocka_unit_test(test_epochs),
        cmocka_unit_test_teardown(test_disabled, teardown),
        cmocka_unit_test_teardown(test_eviction, teardown),
        cmocka_unit_test_teardown(test_partitions, teardown),
        cmocka_unit_test_teardown(test_parked_fetch_on_removal, teardown),
        cmocka_unit_test_teardown(test_eviction_during_notify, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
