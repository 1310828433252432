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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assign_sets),
        cmocka_unit_test(test_uniform_balance_stickiness_determinism),
        cmocka_unit_test(test_uniform_many_members),
        cmocka_unit_test(test_uniform_heterogeneous),
        cmocka_unit_test(test_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
