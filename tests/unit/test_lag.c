/* Unit tests for lag.c: Burrow 1.2.1's partition rules on the vectors of
 * its own test (core/internal/evaluator/caching_test.go, TestCachingEvaluator_
 * CheckRules; the "recent lag zero" input is given as Burrow computes it),
 * the window (ring of lag.window.intervals, min-distance), the group
 * status (worst partition, STOP/STALL/REWIND as ERR; complete; maxlag),
 * the append samples behind the time lag, and the bound on windows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "group.h"
#include "lag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E(o, t, l) {o, t, l}

typedef struct vec {
    gr_lag_entry_t e[16];
    int n;
    int64_t current_lag;
    int64_t now_s;
    bool recent_zero;
    gr_lag_status_t want;
} vec_t;

static const vec_t vecs[] = {
    /* 0: zero lag somewhere */
    {{E(1000, 100000, 0), E(2000, 200000, 50), E(3000, 300000, 100), E(4000, 400000, 150), E(5000, 500000, 200)},
     5, 200, 600, false, GR_LAG_OK},
    /* 1: not stopped: 400 s since the last commit = the window's span */
    {{E(1000, 100000, 0), E(2000, 200000, 50), E(3000, 300000, 100), E(4000, 400000, 150), E(5000, 500000, 200)},
     5, 200, 900, false, GR_LAG_OK},
    /* 2: stopped even though lag was zero at the start (#290) */
    {{E(1000, 100000, 0), E(2000, 200000, 50), E(3000, 300000, 100), E(4000, 400000, 150), E(5000, 500000, 200)},
     5, 200, 1000, false, GR_LAG_STOP},
    /* 3: stopped with lag always non-zero */
    {{E(1000, 100000, 50), E(2000, 200000, 100), E(3000, 300000, 150), E(4000, 400000, 200), E(5000, 500000, 250)},
     5, 250, 1000, false, GR_LAG_STOP},
    /* 4: the same offset, but zero lag once: OK */
    {{E(1000, 100000, 0), E(1000, 200000, 50), E(1000, 300000, 100), E(1000, 400000, 150), E(1000, 500000, 200)},
     5, 200, 600, false, GR_LAG_OK},
    /* 5: stall */
    {{E(1000, 100000, 100), E(1000, 200000, 150), E(1000, 300000, 200), E(1000, 400000, 250), E(1000, 500000, 300)},
     5, 300, 600, false, GR_LAG_STALL},
    /* 6: stall with constant lag */
    {{E(1000, 100000, 100), E(1000, 200000, 100), E(1000, 300000, 100), E(1000, 400000, 100), E(1000, 500000, 100)},
     5, 100, 600, false, GR_LAG_STALL},
    /* 7: rewind beats the lag decreasing */
    {{E(1000, 100000, 100), E(2000, 200000, 150), E(3000, 300000, 200), E(2000, 400000, 1250), E(4000, 500000, 300)},
     5, 300, 600, false, GR_LAG_REWIND},
    /* 8: current lag 0: OK whatever the window says */
    {{E(1000, 100000, 50), E(2000, 200000, 100), E(3000, 300000, 150), E(4000, 400000, 200), E(5000, 500000, 250)},
     5, 0, 1000, false, GR_LAG_OK},
    /* 9: stopped: new data since, not caught up recently */
    {{E(792748079, 1512224618356, 0), E(792748085, 1512224624378, 0), E(792748093, 1512224632397, 0)},
     3, 931, 1512224650, false, GR_LAG_STOP},
    /* 10: would be stopped, but caught up within the recent window (#303) */
    {{E(792748079, 1512224618356, 0), E(792748085, 1512224624378, 0), E(792748093, 1512224632397, 0)},
     3, 1, 1512224650, true, GR_LAG_OK},
    /* 11: offsets advance, lag never decreases: WARN */
    {{E(10, 1000, 10), E(12, 2000, 20), E(14, 3000, 30), E(16, 4000, 30)}, 4, 40, 4, false, GR_LAG_WARN},
};

static void test_rules(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
        const vec_t *v = &vecs[i];
        gr_lag_status_t got = gr_lag_rule(v->e, v->n, v->current_lag, v->now_s * 1000 + 999, v->recent_zero);
        if (got != v->want)
            fail_msg("vector %zu: %s, expected %s", i, gr_lag_status_name(got), gr_lag_status_name(v->want));
    }
    assert_string_equal(gr_lag_status_name(GR_LAG_REWIND), "REWIND");
    assert_string_equal(gr_lag_status_name(GR_LAG_NOTFOUND), "NOTFOUND");
}

static void test_window(void **state)
{
    (void)state;
    gr_lag_configure(&(gr_lag_config_t){.intervals = 3, .min_distance_ms = 100, .recent_ms = 1000,
                                        .expire_group_ms = 1000000, .max_partitions = 2});
    gr_lag_entry_t w[8];
    assert_int_equal(gr_lag_window("g", "t", 0, w, 8), -1);
    gr_lag_commit("g", "t", 0, 5, 10, 1000);
    gr_lag_commit("g", "t", 0, 6, 10, 1050);       /* within min-distance: replaces, keeps the time */
    assert_int_equal(gr_lag_window("g", "t", 0, w, 8), 1);
    assert_int_equal(w[0].offset, 6);
    assert_int_equal(w[0].timestamp, 1000);
    assert_int_equal(w[0].lag, 4);
    for (int i = 0; i < 4; i++)
        gr_lag_commit("g", "t", 0, 10 + i, 12, 2000 + 1000 * i);
    assert_int_equal(gr_lag_window("g", "t", 0, w, 8), 3);  /* the last 3 */
    assert_int_equal(w[0].offset, 11);
    assert_int_equal(w[2].offset, 13);
    assert_int_equal(w[2].lag, 0);                           /* past the end: 0, as Burrow */
    /* the bound: a third window is not kept */
    gr_lag_commit("g", "t", 1, 1, 5, 1000);
    gr_lag_commit("g2", "t", 0, 1, 5, 1000);
    assert_int_equal(gr_lag_windows(), 2);
    assert_int_equal(gr_lag_window("g2", "t", 0, w, 8), -1);
    assert_true(gr_lag_bytes() > 0);
    /* unknown end offset (topic not served): not tracked */
    gr_lag_commit("g", "u", 0, 1, -1, 1000);
    assert_int_equal(gr_lag_window("g", "u", 0, w, 8), -1);
    /* the last reset, for undo */
    assert_null(gr_lag_last_reset("g"));
    gr_lag_reset_ent_t r[2] = {{"t", 0, 13, 0}, {"t", 1, -1, 0}};
    gr_lag_reset_recorded("g", r, 2, 5000);
    const gr_lag_reset_t *lr = gr_lag_last_reset("g");
    assert_non_null(lr);
    assert_int_equal(lr->n, 2);
    assert_string_equal(lr->e[0].topic, "t");
    assert_int_equal(lr->e[0].from, 13);
    assert_int_equal(lr->e[1].from, -1);
    gr_lag_reset_all();
    assert_int_equal(gr_lag_windows(), 0);
    assert_int_equal(gr_lag_bytes(), 0);
    assert_null(gr_lag_last_reset("g"));
}

static void test_evaluate_group(void **state)
{
    (void)state;
    gr_lag_configure(&(gr_lag_config_t){.intervals = 4, .recent_ms = 1000, .expire_group_ms = 1000000,
                                        .max_partitions = 100});
    gr_lag_group_status_t st;
    gr_lag_evaluate("nobody", 1000, &st);
    assert_int_equal(st.status, GR_LAG_NOTFOUND);
    assert_null(st.parts);
    /* topics not served here: evaluated from the windows alone */
    for (int i = 0; i < 4; i++) {
        gr_lag_commit("g", "a", 0, 100, 150 + 10 * i, 1000 + 1000 * i);    /* stall */
        gr_lag_commit("g", "a", 1, 10 * i, 10 * i, 1000 + 1000 * i);       /* caught up */
    }
    gr_lag_commit("g", "b", 0, 7, 9, 4000);                                 /* one entry: incomplete */
    gr_lag_evaluate("g", 4500, &st);
    assert_int_equal(st.npart, 3);
    /* the lag now is the window's last (no partition to ask): 80 + 0 + 2 */
    assert_int_equal(st.totallag, 82);
    assert_int_equal(st.status, GR_LAG_OK);      /* not served here: nothing to evaluate against */
    assert_true(st.complete > 0.6f && st.complete < 0.7f);
    assert_true(st.maxlag >= 0);
    assert_int_equal(st.parts[st.maxlag].current_lag, 80);
    gr_lag_status_free(&st);
    /* expired groups are not found */
    gr_lag_evaluate("g", 4000 + 1000001, &st);
    assert_int_equal(st.status, GR_LAG_NOTFOUND);
    gr_lag_status_free(&st);
    assert_string_equal(gr_lag_group_next(NULL), "g");
    assert_null(gr_lag_group_next("g"));
    gr_lag_reset_all();
}

static void test_time_lag_samples(void **state)
{
    (void)state;
    gr_topic_t t = {.name = "s", .internal = false};
    gr_partition_t p = {.topic = &t};
    assert_int_equal(gr_lag_ms(&p, 0, 1000), 0);        /* nothing to consume */
    p.high_watermark = 10;
    assert_int_equal(gr_lag_ms(&p, 0, 1000), -1);       /* no samples yet */
    /* appends: 10 records by t=1000, 20 by 2000, 30 by 3500 */
    gr_lag_appended(&p, 1000);
    p.high_watermark = 20;
    gr_lag_appended(&p, 2000);
    p.high_watermark = 30;
    gr_lag_appended(&p, 3500);
    /* offset 25: appended between 2000 and 3500, interpolated: 2000 + 1500 * 6/10 */
    assert_int_equal(gr_lag_ms(&p, 25, 10000), 10000 - 2900);
    /* offset 15: between 1000 and 2000 */
    assert_int_equal(gr_lag_ms(&p, 15, 10000), 10000 - 1600);
    /* older than the samples reach: the oldest sample (a lower bound) */
    assert_int_equal(gr_lag_ms(&p, 3, 10000), 9000);
    assert_int_equal(gr_lag_ms(&p, 30, 10000), 0);
    /* many seconds of appends: the fine ring wraps, the coarse one answers */
    for (int i = 0; i < 100; i++) {
        p.high_watermark += 10;
        gr_lag_appended(&p, 4000 + 1000 * i);
    }
    int64_t l = gr_lag_ms(&p, 35, 200000);
    assert_true(l >= 200000 - 33000 && l <= 200000 - 3000);
    gr_lag_partition_free(&p);
    assert_null(p.obs);
}

/* Groups are bounded like windows: once lag.window.max.partitions windows
 * (or groups) are kept, a commit or reset of a group not yet known makes no
 * state at all, so the lag state is bounded in total. */
static void test_group_bound(void **state)
{
    (void)state;
    gr_lag_configure(&(gr_lag_config_t){.intervals = 3, .min_distance_ms = 0, .recent_ms = 1000,
                                        .expire_group_ms = 1000000, .max_partitions = 2});
    gr_lag_commit("a", "t", 0, 1, 5, 1000);
    gr_lag_commit("b", "t", 0, 1, 5, 1000);
    int64_t bytes = gr_lag_bytes();
    for (int i = 0; i < 100; i++) {
        char id[16];
        snprintf(id, sizeof(id), "x%d", i);
        gr_lag_commit(id, "t", 0, 1, 5, 1000);
        gr_lag_reset_ent_t r = {"t", 0, 1, 0};
        gr_lag_reset_recorded(id, &r, 1, 1000);
        assert_null(gr_lag_last_reset(id));
    }
    assert_int_equal(gr_lag_bytes(), bytes);
    assert_int_equal(gr_lag_windows(), 2);
    int n = 0;
    for (const char *g = gr_lag_group_next(NULL); g && n < 10; g = gr_lag_group_next(g))
        n++;
    assert_int_equal(n, 2);
    /* a known group still records its reset */
    gr_lag_reset_ent_t r = {"t", 0, 1, 0};
    gr_lag_reset_recorded("a", &r, 1, 1000);
    assert_non_null(gr_lag_last_reset("a"));
    gr_lag_reset_all();
    assert_int_equal(gr_lag_bytes(), 0);
}

/* The series: one run per value, so an idle group keeps one entry; read
 * back as samples GR_LAG_SERIES_MS apart, the last GR_LAG_SERIES_LEN. */
static void test_series_runs(void **state)
{
    (void)state;
    gr_lag_configure(&(gr_lag_config_t){.intervals = 3, .min_distance_ms = 0, .recent_ms = 1000,
                                        .expire_group_ms = INT64_MAX / 2, .max_partitions = 10});
    assert_non_null(gr_group_get_or_create("sg", 2));
    gr_lag_commit("sg", "t", 0, 1, 5, 1000);                /* lag 4 */
    int64_t bytes = gr_lag_bytes();
    int64_t t = 10000;
    for (int i = 0; i < 100; i++, t += GR_LAG_SERIES_MS)
        gr_lag_sample_all(t);
    int64_t idle = gr_lag_bytes() - bytes;
    assert_true(idle > 0 && idle <= 64);                     /* one run, not 100 samples */
    gr_lag_sample_t out[GR_LAG_SERIES_LEN];
    assert_int_equal(gr_lag_series("sg", out, GR_LAG_SERIES_LEN), 100);
    assert_int_equal(out[99].time_ms, t - GR_LAG_SERIES_MS);
    assert_int_equal(out[0].time_ms, t - 100 * GR_LAG_SERIES_MS);
    assert_int_equal(out[0].lag, 4);
    assert_int_equal(out[99].lag, 4);
    /* the lag moves every sample: one run each, 130 samples keep the last 120 */
    for (int i = 0; i < 130; i++, t += GR_LAG_SERIES_MS) {
        gr_lag_commit("sg", "t", 0, 1, 6 + i, t);
        gr_lag_sample_all(t);
    }
    assert_int_equal(gr_lag_series("sg", out, GR_LAG_SERIES_LEN), GR_LAG_SERIES_LEN);
    for (int i = 0; i < GR_LAG_SERIES_LEN; i++) {
        assert_int_equal(out[i].lag, 5 + 10 + i);             /* samples 10..129 of the second part */
        assert_int_equal(out[i].time_ms, t - (GR_LAG_SERIES_LEN - i) * GR_LAG_SERIES_MS);
    }
    assert_int_equal(gr_lag_series("sg", out, 2), 2);         /* the newest */
    assert_int_equal(out[1].lag, 5 + 129);
    /* and idle again: the last value's run grows, the oldest runs go */
    for (int i = 0; i < 200; i++, t += GR_LAG_SERIES_MS)
        gr_lag_sample_all(t);
    assert_int_equal(gr_lag_series("sg", out, GR_LAG_SERIES_LEN), GR_LAG_SERIES_LEN);
    assert_int_equal(out[0].lag, 5 + 129);
    assert_int_equal(out[0].time_ms, t - GR_LAG_SERIES_LEN * GR_LAG_SERIES_MS);
    gr_lag_reset_all();
    assert_int_equal(gr_lag_bytes(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_evaluate_group),
        cmocka_unit_test(test_time_lag_samples),
        cmocka_unit_test(test_group_bound),
        cmocka_unit_test(test_series_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
