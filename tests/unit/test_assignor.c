/* Unit tests for assignor.c: assignments as sets, and the uniform and
 * range assignors: balance (sizes differ by at most one, every partition
 * of the subscribed topics assigned once), stickiness (a member joining or
 * leaving moves only the partitions it must), determinism (the same input
 * gives the same output), heterogeneous subscriptions, range's contiguous
 * co-partitioned ranges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "assignor.h"
#include "broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gr_broker_t gr_broker;

static gr_uuid_t tid(int i)
{
    gr_uuid_t u;
    memset(&u, 0, sizeof(u));
    u.b[15] = (uint8_t)i;
    return u;
}

typedef struct grp {
    int n;
    char ids[64][16];
    gr_uuid_t topics[64][4];
    gr_asg_member_t m[64];
    gr_assign_t prev[64];
    gr_assign_t out[64];
} grp_t;

/* n members m00..mNN subscribed to topics [0, nt) (or per-member sets) */
static void grp_init(grp_t *g, int n, int nt)
{
    memset(g, 0, sizeof(*g));
    g->n = n;
    for (int i = 0; i < n; i++) {
        snprintf(g->ids[i], sizeof(g->ids[i]), "m%02d", i);
        for (int t = 0; t < nt; t++)
            g->topics[i][t] = tid(t + 1);
        g->m[i] = (gr_asg_member_t){g->ids[i], NULL, g->topics[i], nt, NULL};
    }
}

static void grp_free(grp_t *g)
{
    for (int i = 0; i < 64; i++) {
        gr_assign_free(&g->prev[i]);
        gr_assign_free(&g->out[i]);
    }
}

static void run(grp_t *g, const char *name, const gr_asg_topic_t *topics, int nt)
{
    for (int i = 0; i < g->n; i++)
        gr_assign_free(&g->out[i]);
    gr_assignor_run(name, g->m, g->n, topics, nt, g->out);
}

/* out becomes prev (the next round's current target) */
static void roll(grp_t *g)
{
    for (int i = 0; i < 64; i++) {
        gr_assign_free(&g->prev[i]);
        g->prev[i] = g->out[i];
        g->out[i] = (gr_assign_t){0, NULL};
        g->m[i].current = &g->prev[i];
    }
}

/* every partition once; sizes within one */
static void check_balanced(const grp_t *g, const gr_asg_topic_t *topics, int nt)
{
    int64_t total = 0, lo = INT64_MAX, hi = 0;
    for (int t = 0; t < nt; t++)
        total += topics[t].nparts;
    int64_t sum = 0;
    for (int i = 0; i < g->n; i++) {
        int64_t c = gr_assign_count(&g->out[i]);
        sum += c;
        lo = c < lo ? c : lo;
        hi = c > hi ? c : hi;
    }
    assert_int_equal(sum, total);
    assert_true(hi - lo <= 1);
    for (int t = 0; t < nt; t++)
        for (int p = 0; p < topics[t].nparts; p++) {
            int owners = 0;
            for (int i = 0; i < g->n; i++)
                owners += gr_assign_has(&g->out[i], &topics[t].id, p);
            assert_int_equal(owners, 1);
        }
}

static int64_t moved(const grp_t *g, int n_old)
{
    int64_t m = 0;
    for (int i = 0; i < n_old; i++)
        for (int k = 0; k < g->prev[i].n; k++)
            for (int j = 0; j < g->prev[i].t[k].n; j++)
                m += !gr_assign_has(&g->out[i], &g->prev[i].t[k].topic, g->prev[i].t[k].p[j]);
    return m;
}

static void test_assign_sets(void **st)
{
    (void)st;
    gr_assign_t a = {0, NULL}, b = {0, NULL};
    gr_uuid_t t1 = tid(1), t2 = tid(2);
    int32_t ps[] = {5, 1, 3, 1, 5};
    gr_assign_add_many(&a, &t2, ps, 5);
    gr_assign_add(&a, &t1, 7);
    assert_int_equal(a.n, 2);
    assert_int_equal(gr_uuid_cmp(&a.t[0].topic, &t1), 0);
    assert_int_equal(a.t[1].n, 3);
    assert_int_equal(a.t[1].p[0], 1);
    assert_int_equal(a.t[1].p[2], 5);
    assert_int_equal(gr_assign_count(&a), 4);
    assert_true(gr_assign_has(&a, &t2, 3));
    assert_false(gr_assign_has(&a, &t2, 2));
    gr_assign_copy(&b, &a);
    assert_true(gr_assign_eq(&a, &b));
    gr_assign_add(&b, &t1, 8);
    assert_false(gr_assign_eq(&a, &b));
    gr_assign_free(&a);
    gr_assign_free(&b);
    assert_string_equal(gr_assignor_canonical("org.apache.kafka.coordinator.group.assignor.RangeAssignor"), "range");
    assert_null(gr_assignor_canonical("sticky"));
}

static void test_uniform_balance_stickiness_determinism(void **st)
{
    (void)st;
    gr_asg_topic_t topics[] = {{tid(1), 7}, {tid(2), 5}};
    static grp_t g, h;
    grp_init(&g, 3, 2);
    run(&g, "uniform", topics, 2);
    check_balanced(&g, topics, 2);
    /* determinism: the same input, the same output */
    grp_init(&h, 3, 2);
    run(&h, "uniform", topics, 2);
    for (int i = 0; i < 3; i++)
        assert_true(gr_assign_eq(&g.out[i], &h.out[i]));
    grp_free(&h);
    /* the same group again: nothing moves */
    roll(&g);
    run(&g, "uniform", topics, 2);
    assert_int_equal(moved(&g, 3), 0);
    /* 1 -> 4 members: each old member gives up only its surplus */
    roll(&g);
    g.n = 4;
    snprintf(g.ids[3], sizeof(g.ids[3]), "m03");
    g.topics[3][0] = tid(1);
    g.topics[3][1] = tid(2);
    g.m[3] = (gr_asg_member_t){g.ids[3], NULL, g.topics[3], 2, NULL};
    run(&g, "uniform", topics, 2);
    check_balanced(&g, topics, 2);
    /* 12 partitions, 4 members: 3 each; the old ones held 4, 4, 4 */
    assert_int_equal(moved(&g, 3), 3);
    /* a member leaves: only its partitions move */
    roll(&g);
    g.m[1] = g.m[3];
    gr_assign_free(&g.prev[1]);
    g.prev[1] = g.prev[3];
    g.prev[3] = (gr_assign_t){0, NULL};
    memcpy(g.ids[1], g.ids[3], sizeof(g.ids[1]));
    g.m[1].member_id = g.ids[1];
    g.m[1].current = &g.prev[1];
    g.n = 3;
    run(&g, "uniform", topics, 2);
    check_balanced(&g, topics, 2);
    assert_int_equal(moved(&g, 3), 0);
    /* partitions added to a topic: spread, nothing taken away */
    roll(&g);
    topics[0].nparts = 10;
    run(&g, "uniform", topics, 2);
    check_balanced(&g, topics, 2);
    assert_int_equal(moved(&g, 3), 0);
    grp_free(&g);
}

static void test_uniform_many_members(void **st)
{
    (void)st;
    gr_asg_topic_t topics[] = {{tid(1), 12}};
    static grp_t g;
    grp_init(&g, 64, 1);
    run(&g, "uniform", topics, 1);
    check_balanced(&g, topics, 1);
    int with = 0;
    for (int i = 0; i < 64; i++)
        with += g.out[i].n > 0;
    assert_int_equal(with, 12);
    grp_free(&g);
}

static void test_uniform_heterogeneous(void **st)
{
    (void)st;
    gr_asg_topic_t topics[] = {{tid(1), 6}, {tid(2), 6}, {tid(3), 2}};
    static grp_t g;
    grp_init(&g, 3, 1);
    /* m00: t1; m01: t1, t2; m02: t2, t3 */
    g.topics[1][1] = tid(2);
    g.m[1].ntopics = 2;
    g.topics[2][0] = tid(2);
    g.topics[2][1] = tid(3);
    g.m[2].ntopics = 2;
    run(&g, "uniform", topics, 3);
    int64_t total = 0;
    for (int i = 0; i < 3; i++) {
        total += gr_assign_count(&g.out[i]);
        for (int k = 0; k < g.out[i].n; k++) {
            bool sub = false;
            for (int j = 0; j < g.m[i].ntopics; j++)
                sub |= !gr_uuid_cmp(&g.m[i].topics[j], &g.out[i].t[k].topic);
            assert_true(sub);
        }
    }
    assert_int_equal(total, 14);
    for (int i = 0; i < 3; i++) {
        int64_t c = gr_assign_count(&g.out[i]);
        assert_true(c >= 4 && c <= 5);
    }
    /* again: sticky */
    roll(&g);
    run(&g, "uniform", topics, 3);
    assert_int_equal(moved(&g, 3), 0);
    grp_free(&g);
}

static void test_range(void **st)
{
    (void)st;
    gr_asg_topic_t topics[] = {{tid(1), 5}, {tid(2), 5}};
    static grp_t g;
    grp_init(&g, 2, 2);
    run(&g, "range", topics, 2);
    /* co-partitioned (not balanced across topics, as Kafka's range):
     * m00 gets 0-2 of both topics, m01 3-4 */
    gr_uuid_t t1 = tid(1), t2 = tid(2);
    for (int p = 0; p < 5; p++) {
        int who = p < 3 ? 0 : 1;
        assert_true(gr_assign_has(&g.out[who], &t1, p));
        assert_true(gr_assign_has(&g.out[who], &t2, p));
        assert_false(gr_assign_has(&g.out[1 - who], &t1, p));
    }
    /* static members come first, by instance id */
    g.m[1].instance_id = "a";
    run(&g, "range", topics, 2);
    assert_true(gr_assign_has(&g.out[1], &t1, 0));
    grp_free(&g);
}

/* the partitions of topic t member i gets: a contiguous range [*lo, *hi) */
static void range_of(const grp_t *g, int i, const gr_asg_topic_t *t, int32_t *lo, int32_t *hi)
{
    const gr_tparts_t *tp = gr_assign_topic(&g->out[i], &t->id);
    *lo = *hi = 0;
    if (!tp)
        return;
    *lo = tp->p[0];
    *hi = tp->p[tp->n - 1] + 1;
    assert_int_equal(tp->n, *hi - *lo);
}

/* Kafka's server-side range assignor recomputes the ranges every time
 * (no stickiness to the previous target, which would break
 * co-partitioning); static members keep their ranges through their
 * instance ids. */
static void test_range_recomputed_balanced_static(void **st)
{
    (void)st;
    static grp_t g;
    gr_asg_topic_t topics[] = {{tid(1), 7}, {tid(2), 7}};
    grp_init(&g, 3, 2);
    run(&g, "range", topics, 2);
    /* per topic: contiguous, in member order, the first 7 % 3 one more */
    int32_t want[3][2] = {{0, 3}, {3, 5}, {5, 7}};
    for (int i = 0; i < 3; i++)
        for (int t = 0; t < 2; t++) {
            int32_t lo, hi;
            range_of(&g, i, &topics[t], &lo, &hi);
            assert_int_equal(lo, want[i][0]);
            assert_int_equal(hi, want[i][1]);
        }
    /* the same input, whatever the previous target: the same output */
    roll(&g);
    gr_assign_t scrambled[3] = {{0, NULL}, {0, NULL}, {0, NULL}};
    for (int p = 0; p < 7; p++) {
        gr_assign_add(&scrambled[p % 3], &topics[0].id, p);
        gr_assign_add(&scrambled[(p + 1) % 3], &topics[1].id, p);
    }
    for (int i = 0; i < 3; i++)
        g.m[i].current = &scrambled[i];
    run(&g, "range", topics, 2);
    for (int i = 0; i < 3; i++)
        assert_true(gr_assign_eq(&g.out[i], &g.prev[i]));
    for (int i = 0; i < 3; i++) {
        gr_assign_free(&scrambled[i]);
        g.m[i].current = &g.prev[i];
    }
    /* a member joins: the ranges are cut again (7 = 2+2+2+1) */
    grp_free(&g);
    grp_init(&g, 4, 2);
    run(&g, "range", topics, 2);
    int32_t want4[4][2] = {{0, 2}, {2, 4}, {4, 6}, {6, 7}};
    for (int i = 0; i < 4; i++) {
        int32_t lo, hi;
        range_of(&g, i, &topics[1], &lo, &hi);
        assert_int_equal(lo, want4[i][0]);
        assert_int_equal(hi, want4[i][1]);
    }
    /* static members: new member ids in the opposite order (a rolling
     * bounce), the same instance ids: every instance keeps its ranges */
    grp_free(&g);
    grp_init(&g, 3, 2);
    const char *inst[3] = {"i-a", "i-b", "i-c"};
    for (int i = 0; i < 3; i++)
        g.m[i].instance_id = inst[i];
    run(&g, "range", topics, 2);
    roll(&g);
    static grp_t h;
    grp_init(&h, 3, 2);
    for (int i = 0; i < 3; i++) {
        snprintf(h.ids[i], sizeof(h.ids[i]), "z%02d", 9 - i);    /* reversed order of member ids */
        h.m[i].member_id = h.ids[i];
        h.m[i].instance_id = inst[2 - i];
    }
    run(&h, "range", topics, 2);
    for (int i = 0; i < 3; i++)
        assert_true(gr_assign_eq(&h.out[2 - i], &g.prev[i]));
    /* static members first: a dynamic member sorting before them by
     * member id still comes after them */
    h.m[0].instance_id = NULL;      /* z09, the instance i-c gone dynamic */
    snprintf(h.ids[0], sizeof(h.ids[0]), "a00");
    run(&h, "range", topics, 2);
    int32_t lo, hi;
    range_of(&h, 0, &topics[0], &lo, &hi);
    assert_int_equal(lo, 5);
    assert_int_equal(hi, 7);
    grp_free(&g);
    grp_free(&h);
}

/* Different subscriptions: each topic is cut among its own subscribers
 * (Kafka's testFirstAssignmentThreeMembersThreeTopicsDifferentSubscriptions). */
static void test_range_heterogeneous(void **st)
{
    (void)st;
    static grp_t g;
    gr_asg_topic_t topics[] = {{tid(1), 3}, {tid(2), 3}, {tid(3), 2}};
    grp_init(&g, 3, 0);
    g.topics[0][0] = tid(1), g.topics[0][1] = tid(2), g.m[0].ntopics = 2;    /* A: t1 t2 */
    g.topics[1][0] = tid(3), g.m[1].ntopics = 1;                             /* B: t3 */
    g.topics[2][0] = tid(2), g.topics[2][1] = tid(3), g.m[2].ntopics = 2;    /* C: t2 t3 */
    run(&g, "range", topics, 3);
    struct { int m, t; int32_t lo, hi; } want[] = {
        {0, 0, 0, 3}, {0, 1, 0, 2}, {1, 2, 0, 1}, {2, 1, 2, 3}, {2, 2, 1, 2},
    };
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        int32_t lo, hi;
        range_of(&g, want[k].m, &topics[want[k].t], &lo, &hi);
        assert_int_equal(lo, want[k].lo);
        assert_int_equal(hi, want[k].hi);
    }
    assert_int_equal(gr_assign_count(&g.out[0]), 5);
    assert_int_equal(gr_assign_count(&g.out[1]), 1);
    assert_int_equal(gr_assign_count(&g.out[2]), 2);
    /* more subscribers than partitions: the last ones get nothing */
    gr_asg_topic_t one[] = {{tid(1), 1}};
    grp_free(&g);
    grp_init(&g, 3, 1);
    run(&g, "range", one, 1);
    assert_int_equal(gr_assign_count(&g.out[0]), 1);
    assert_int_equal(g.out[1].n, 0);
    assert_int_equal(g.out[2].n, 0);
    grp_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assign_sets),
        cmocka_unit_test(test_uniform_balance_stickiness_determinism),
        cmocka_unit_test(test_uniform_many_members),
        cmocka_unit_test(test_uniform_heterogeneous),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_range_recomputed_balanced_static),
        cmocka_unit_test(test_range_heterogeneous),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
