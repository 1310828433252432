/*
 * test_group.c - the classic group coordinator state machine (group.c)
 * driven with synthetic requests and a fake clock: initial rebalance delay
 * and its extension, rebalance timeout removing members that did not
 * rejoin, session expiry, KIP-394 pending members, DelayedSync, protocol
 * vote, static membership (replacement, fencing, SkipAssignment), error
 * precedence, group.max.size, LeaveGroup, DeleteGroups, commit validation,
 * history and the coordinator partition hash.
 *
 * The coordinator is replaced by a fake host (gr_group_set_host, the
 * seam group.c has for it): stores are queued and completed by the test,
 * so the "answered only once durable" rule is checked too.  Validation of
 * group ids and of the coordinator's loading is coord.c's (test_coord.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker.h"
#include "group.h"
#include "jstr.h"
#include "kerr.h"
#include "offsets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ fake host */

typedef struct store_op {
    gr_group_store_cb *cb;
    void *arg;
} store_op_t;
static store_op_t stores[64];
static int nstores;

/* the coordinator's placement before it starts: the configured count */
static int32_t fake_partition_for(const char *id, size_t len)
{
    return gr_jstr_partition(id, len, GR_JSTR_HELD, gr_broker.cfg.offsets_topic_num_partitions);
}

static void fake_store(gr_group_t *g, gr_group_store_cb *cb, void *arg)
{
    GR_UNUSED(g);
    assert_true(nstores < 64);
    stores[nstores++] = (store_op_t){cb, arg};
}

static const gr_group_host_t fake_host = {.partition_for = fake_partition_for, .store = fake_store};

/* complete every queued write with err (callbacks may queue more) */
static int complete_stores(gr_kerr_t err)
{
    int n = 0;
    while (nstores > 0) {
        store_op_t op = stores[0];
        memmove(stores, stores + 1, sizeof(stores[0]) * (size_t)(nstores - 1));
        nstores--;
        if (op.cb)
            op.cb(op.arg, err);
        n++;
    }
    return n;
}

/* ------------------------------------------------------------ fake clock */

static int64_t fake_now;
static gr_timer_t *armed[256];
static int narmed;
static uint32_t seqc;

static int64_t fk_now(void *ctx)
{
    GR_UNUSED(ctx);
    return fake_now;
}

static void fk_stop(void *ctx, gr_timer_t *t)
{
    GR_UNUSED(ctx);
    for (int i = 0; i < narmed; i++)
        if (armed[i] == t) {
            armed[i] = armed[--narmed];
            break;
        }
    t->heap_idx = -1;
}

static void fk_start(void *ctx, gr_timer_t *t, int64_t delay_ms)
{
    fk_stop(ctx, t);
    t->when_us = delay_ms > INT64_MAX / 1000 - fake_now ? INT64_MAX : (fake_now + delay_ms) * 1000;
    t->seq = seqc++;
    t->heap_idx = 0;
    assert_true(narmed < 256);
    armed[narmed++] = t;
}

static const gr_group_clock_t fake_clock = {fk_now, fk_start, fk_stop, NULL};

/* run every timer due up to now + ms, in deadline order */
static void advance(int64_t ms)
{
    int64_t target = fake_now + ms;
    for (;;) {
        int best = -1;
        for (int i = 0; i < narmed; i++) {
            gr_timer_t *t = armed[i];
            if (t->when_us > target * 1000)
                continue;
            if (best < 0 || t->when_us < armed[best]->when_us ||
                (t->when_us == armed[best]->when_us && t->seq < armed[best]->seq))
                best = i;
        }
        if (best < 0)
            break;
        gr_timer_t *t = armed[best];
        armed[best] = armed[--narmed];
        t->heap_idx = -1;
        fake_now = t->when_us / 1000;
        t->cb(NULL, t->arg);
    }
    fake_now = target;
}

/* ------------------------------------------------------------ helpers */

typedef struct jw {
    gr_join_waiter_t w;
    bool done;
    int16_t err;
    char member_id[128];
    int32_t gen;
    char leader[128];
    char proto[32];
    bool has_proto;
    int nmembers;           /* members in the response (-1: not the leader) */
    bool skip;
} jw_t;

static void jw_done(gr_join_waiter_t *w, const gr_join_result_t *r)
{
    jw_t *j = (jw_t *)w;
    assert_false(j->done);
    j->done = true;
    j->err = r->error;
    snprintf(j->member_id, sizeof(j->member_id), "%s", r->member_id ? r->member_id : "");
    j->gen = r->generation_id;
    snprintf(j->leader, sizeof(j->leader), "%s", r->leader_id ? r->leader_id : "");
    j->has_proto = r->protocol_name != NULL;
    snprintf(j->proto, sizeof(j->proto), "%s", r->protocol_name ? r->protocol_name : "");
    j->nmembers = r->include_members ? r->group->nmembers : -1;
    j->skip = r->skip_assignment;
}

typedef struct sw {
    gr_sync_waiter_t w;
    bool done;
    int16_t err;
    char assignment[64];
} sw_t;

static void sw_done(gr_sync_waiter_t *w, const gr_sync_result_t *r)
{
    sw_t *s = (sw_t *)w;
    assert_false(s->done);
    s->done = true;
    s->err = r->error;
    snprintf(s->assignment, sizeof(s->assignment), "%.*s", r->assignment_len,
             r->assignment ? (const char *)r->assignment : "");
}

static const gr_join_protocol_t P_RANGE[] = {{"range", (const uint8_t *)"m1", 2}};
static const gr_join_protocol_t P_RANGE2[] = {{"range", (const uint8_t *)"m2", 2}};
static const gr_join_protocol_t P_RR_RANGE[] = {{"roundrobin", (const uint8_t *)"x", 1},
                                                {"range", (const uint8_t *)"x", 1}};
static const gr_join_protocol_t P_RANGE_RR[] = {{"range", (const uint8_t *)"y", 1},
                                                {"roundrobin", (const uint8_t *)"y", 1}};
static const gr_join_protocol_t P_STICKY[] = {{"sticky", (const uint8_t *)"z", 1}};

static int32_t session_ms = 10000;
static int32_t rebalance_ms = 30000;

/* waiters live until teardown: a parked one may be answered by the
 * final gr_group_remove_all() */
static void *allocs[512];
static int nallocs;

static void *talloc(size_t n)
{
    assert_true(nallocs < 512);
    return allocs[nallocs++] = calloc(1, n);
}

static gr_join_params_t params(const char *mid, const char *inst, const gr_join_protocol_t *p, int n)
{
    return (gr_join_params_t){.group_id = "g", .member_id = mid, .group_instance_id = inst, .client_id = "cli",
                              .client_host = "/127.0.0.1", .session_timeout_ms = session_ms,
                              .rebalance_timeout_ms = rebalance_ms, .protocol_type = "consumer",
                              .protocols = p, .nprotocols = n};
}

static jw_t *join_p(const gr_join_params_t *p)
{
    jw_t *j = talloc(sizeof(*j));
    j->w.done = jw_done;
    gr_group_join(p, &j->w);
    return j;
}

static jw_t *join(const char *mid, const char *inst, const gr_join_protocol_t *p, int n)
{
    gr_join_params_t q = params(mid, inst, p, n);
    return join_p(&q);
}

static sw_t *sync_g(const char *mid, const char *inst, int32_t gen, const gr_sync_assignment_t *a, int na)
{
    sw_t *s = talloc(sizeof(*s));
    s->w.done = sw_done;
    gr_sync_params_t p = {.group_id = "g", .generation_id = gen, .member_id = mid, .group_instance_id = inst,
                          .assignments = a, .nassignments = na};
    gr_group_sync(&p, &s->w);
    return s;
}

static gr_group_t *G(void)
{
    return gr_group_find("g", 1);
}

/* Two dynamic members A (leader) and B, Stable at generation 1. */
static void two_stable(char *a, char *b)
{
    jw_t *ja = join("", NULL, P_RANGE, 1);
    jw_t *jb = join("", NULL, P_RANGE, 1);
    advance(0);
    assert_true(ja->done && jb->done);
    assert_int_equal(ja->gen, 1);
    strcpy(a, ja->member_id);
    strcpy(b, jb->member_id);
    gr_sync_assignment_t as[] = {{a, (const uint8_t *)"AA", 2}, {b, (const uint8_t *)"BB", 2}};
    sw_t *sb = sync_g(b, NULL, 1, NULL, 0);
    sw_t *sa = sync_g(a, NULL, 1, as, 2);
    assert_false(sa->done);
    complete_stores(KERR_NONE);
    assert_true(sa->done && sb->done);
    assert_int_equal(G()->state, GR_GROUP_STABLE);
}

static int setup(void **st)
{
    GR_UNUSED(st);
    memset(&gr_broker, 0, sizeof(gr_broker));
    gr_config_init(&gr_broker.cfg);
    gr_broker.cfg.group_initial_rebalance_delay_ms = 0;
    gr_broker.cfg.group_min_session_timeout_ms = 6000;
    gr_broker.cfg.group_max_session_timeout_ms = 1800000;
    gr_broker.cfg.group_max_size = 1000;
    gr_broker.cfg.offsets_topic_num_partitions = 50;
    fake_now = 1000000;
    narmed = 0;
    nstores = 0;
    session_ms = 10000;
    rebalance_ms = 30000;
    gr_log_level = GR_LOG_WARN + 1;
    gr_group_set_clock(&fake_clock);
    gr_group_set_host(&fake_host);
    return 0;
}

static int teardown(void **st)
{
    GR_UNUSED(st);
    complete_stores(KERR_NONE);
    gr_group_remove_all();
    assert_int_equal(narmed, 0);
    while (nallocs > 0)
        free(allocs[--nallocs]);    /* every timer was stopped */
    gr_group_set_clock(NULL);
    gr_group_set_host(NULL);
    gr_config_free(&gr_broker.cfg);
    return 0;
}

/* ------------------------------------------------------------ tests */

static void test_single_member(void **st)
{
    GR_UNUSED(st);
    jw_t *j = join("", NULL, P_RANGE, 1);
    assert_false(j->done);              /* InitialDelayedJoin(0) never completes inline */
    assert_int_equal(G()->state, GR_GROUP_PREPARING_REBALANCE);
    advance(0);
    assert_true(j->done);
    assert_int_equal(j->err, KERR_NONE);
    assert_int_equal(j->gen, 1);
    assert_string_equal(j->leader, j->member_id);
    assert_string_equal(j->proto, "range");
    assert_int_equal(j->nmembers, 1);
    assert_int_equal(strncmp(j->member_id, "cli-", 4), 0);
    assert_int_equal(strlen(j->member_id), 4 + 36);
    assert_int_equal(G()->state, GR_GROUP_COMPLETING_REBALANCE);
    assert_int_equal(gr_group_heartbeat("g", j->member_id, NULL, 1), KERR_NONE);

    gr_sync_assignment_t a = {j->member_id, (const uint8_t *)"ASSIGN", 6};
    sw_t *s = sync_g(j->member_id, NULL, 1, &a, 1);
    assert_false(s->done);              /* answered once stored */
    assert_int_equal(nstores, 1);
    complete_stores(KERR_NONE);
    assert_true(s->done);
    assert_int_equal(s->err, KERR_NONE);
    assert_string_equal(s->assignment, "ASSIGN");
    assert_int_equal(G()->state, GR_GROUP_STABLE);
    /* a Stable follower-style sync returns the stored assignment */
    sw_t *s2 = sync_g(j->member_id, NULL, 1, NULL, 0);
    assert_true(s2->done);
    assert_string_equal(s2->assignment, "ASSIGN");
    const gr_hist_entry_t *h = gr_group_hist_at(G(), 0);
    assert_non_null(h);
    assert_int_equal(h->kind, GR_HIST_REBALANCE);
    assert_int_equal(h->trigger, GR_TRIGGER_MEMBER_JOINED);
    assert_int_equal(h->generation, 1);
    assert_int_equal(h->members, 1);
    assert_true(gr_group_subscribed_to(G(), "anything") || true);
}

static void test_initial_delay_extension(void **st)
{
    GR_UNUSED(st);
    gr_broker.cfg.group_initial_rebalance_delay_ms = 3000;
    rebalance_ms = 10000;
    jw_t *a = join("", NULL, P_RANGE, 1);           /* t=0: wait 3000, budget 7000 */
    advance(1000);
    jw_t *b = join("", NULL, P_RANGE, 1);           /* new member: extend at expiry */
    advance(1999);
    assert_false(a->done);
    advance(1);                                     /* t=3000: extend 3000, budget 4000 */
    assert_false(a->done);
    advance(1000);
    jw_t *c = join("", NULL, P_RANGE, 1);           /* t=4000 */
    advance(1999);                                  /* t=5999 */
    assert_false(a->done);
    advance(1);                                     /* t=6000: extend 3000, budget 1000 */
    assert_false(a->done);
    advance(2999);                                  /* all joined, but no early completion */
    assert_false(a->done);
    advance(1);                                     /* t=9000 */
    assert_true(a->done && b->done && c->done);
    assert_int_equal(a->gen, 1);
    assert_int_equal(a->nmembers, 3);
    assert_int_equal(b->nmembers, -1);              /* followers get no member list */
    const gr_hist_entry_t *h = gr_group_hist_at(G(), 0);
    assert_int_equal(h->duration_ms, 9000);
    assert_int_equal(h->members, 3);
}

static void test_initial_delay_capped_by_rebalance_timeout(void **st)
{
    GR_UNUSED(st);
    gr_broker.cfg.group_initial_rebalance_delay_ms = 3000;
    rebalance_ms = 4000;
    jw_t *a = join("", NULL, P_RANGE, 1);           /* wait 3000, budget 1000 */
    advance(500);
    jw_t *b = join("", NULL, P_RANGE, 1);
    advance(2500);                                  /* t=3000: extend min(3000,1000)=1000 */
    assert_false(a->done);
    jw_t *c = join("", NULL, P_RANGE, 1);           /* budget is now 0: no further extension */
    advance(999);
    assert_false(a->done);
    advance(1);                                     /* t=4000 */
    assert_true(a->done && b->done && c->done);
    assert_int_equal(a->nmembers, 3);
}

static void test_rebalance_timeout_removes_laggard(void **st)
{
    GR_UNUSED(st);
    session_ms = 45000;     /* longer than the rebalance timeout */
    char a[128], b[128];
    two_stable(a, b);
    jw_t *c = join("", NULL, P_RANGE, 1);           /* Stable -> PreparingRebalance */
    assert_int_equal(G()->state, GR_GROUP_PREPARING_REBALANCE);
    assert_int_equal(gr_group_heartbeat("g", a, NULL, 1), KERR_REBALANCE_IN_PROGRESS);
    jw_t *ra = join(a, NULL, P_RANGE, 1);
    advance(29999);
    assert_false(c->done);
    advance(1);                                     /* DelayedJoin(30000) expires */
    assert_true(c->done && ra->done);
    assert_int_equal(ra->gen, 2);
    assert_int_equal(ra->nmembers, 2);              /* B was removed */
    assert_string_equal(ra->leader, a);
    assert_null(gr_group_member(G(), b, strlen(b)));
    assert_int_equal(gr_group_heartbeat("g", b, NULL, 2), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(gr_group_hist_at(G(), 1)->trigger, GR_TRIGGER_MEMBER_JOINED);
}

static void test_all_rejoined_completes_early(void **st)
{
    GR_UNUSED(st);
    char a[128], b[128];
    two_stable(a, b);
    jw_t *ra = join(a, NULL, P_RANGE, 1);           /* leader rejoin */
    assert_false(ra->done);
    assert_int_equal(G()->trigger, GR_TRIGGER_LEADER_REJOIN);
    jw_t *rb = join(b, NULL, P_RANGE, 1);
    assert_true(ra->done && rb->done);              /* no timer needed */
    assert_int_equal(rb->gen, 2);
}

static void test_follower_same_metadata_stable(void **st)
{
    GR_UNUSED(st);
    char a[128], b[128];
    two_stable(a, b);
    jw_t *rb = join(b, NULL, P_RANGE, 1);           /* no change: current generation */
    assert_true(rb->done);
    assert_int_equal(rb->gen, 1);
    assert_int_equal(rb->nmembers, -1);
    assert_int_equal(G()->state, GR_GROUP_STABLE);
    jw_t *rb2 = join(b, NULL, P_RANGE2, 1);         /* changed metadata: rebalance */
    assert_false(rb2->done);
    assert_int_equal(G()->state, GR_GROUP_PREPARING_REBALANCE);
    assert_int_equal(G()->trigger, GR_TRIGGER_METADATA_CHANGE);
}

static void test_session_timeout(void **st)
{
    GR_UNUSED(st);
    char a[128], b[128];
    two_stable(a, b);
    for (int i = 0; i < 2; i++) {
        advance(4000);
        assert_int_equal(gr_group_heartbeat("g", a, NULL, 1), KERR_NONE);
    }
    assert_non_null(gr_group_member(G(), b, strlen(b)));
    advance(2000);
    /* B was silent for 10 s: removed, rebalance */
    assert_null(gr_group_member(G(), b, strlen(b)));
    assert_int_equal(G()->state, GR_GROUP_PREPARING_REBALANCE);
    assert_int_equal(gr_group_heartbeat("g", a, NULL, 1), KERR_REBALANCE_IN_PROGRESS);
    jw_t *ra = join(a, NULL, P_RANGE, 1);
    assert_true(ra->done);
    assert_int_equal(ra->gen, 2);
    assert_int_equal(ra->nmembers, 1);
    assert_int_equal(gr_group_hist_at(G(), 1)->trigger, GR_TRIGGER_SESSION_TIMEOUT);
    /* sync and commit refresh the session too */
    gr_sync_assignment_t as = {a, (const uint8_t *)"x", 1};
    sw_t *s = sync_g(a, NULL, 2, &as, 1);
    complete_stores(KERR_NONE);
    assert_true(s->done);
    advance(9000);
    assert_int_equal(gr_group_validate_commit(G(), a, strlen(a), NULL, 2, 8), KERR_NONE);
    advance(9000);
    assert_non_null(gr_group_member(G(), a, strlen(a)));
    advance(1000);                                  /* 10 s after the commit */
    assert_null(gr_group_member(G(), a, strlen(a)));
    assert_int_equal(G()->state, GR_GROUP_EMPTY);   /* last member gone: Empty at once */
    assert_int_equal(G()->generation_id, 3);
}

static void test_new_member_join_timeout(void **st)
{
    GR_UNUSED(st);
    char a[128], b[128];
    session_ms = 1000000;   /* B stays, silent, for the whole rebalance */
    two_stable(a, b);
    rebalance_ms = 600000;
    jw_t *c = join("", NULL, P_RANGE, 1);           /* new member, long rebalance timeout */
    jw_t *ra = join(a, NULL, P_RANGE, 1);
    advance(299999);
    assert_false(c->done);
    advance(1);                                     /* NewMemberJoinTimeoutMs */
    assert_true(c->done);
    assert_int_equal(c->err, KERR_UNKNOWN_MEMBER_ID);
    assert_string_equal(c->member_id, "");
    assert_false(ra->done);
    advance(300000);                                /* DelayedJoin: B is dropped */
    assert_true(ra->done);
    assert_int_equal(ra->nmembers, 1);
    assert_int_equal(ra->gen, 2);
}

static void test_pending_member(void **st)
{
    GR_UNUSED(st);
    gr_join_params_t p = params("", NULL, P_RANGE, 1);
    p.require_known_member_id = true;
    jw_t *j = join_p(&p);
    assert_true(j->done);
    assert_int_equal(j->err, KERR_MEMBER_ID_REQUIRED);
    assert_int_equal(strncmp(j->member_id, "cli-", 4), 0);
    assert_int_equal(G()->npending, 1);
    assert_int_equal(G()->state, GR_GROUP_EMPTY);
    /* it rejoins with the id: a real member now */
    jw_t *j2 = join(j->member_id, NULL, P_RANGE, 1);
    assert_int_equal(G()->npending, 0);
    advance(0);
    assert_true(j2->done);
    assert_int_equal(j2->err, KERR_NONE);
    assert_string_equal(j2->member_id, j->member_id);

    /* a pending id that never comes back blocks the join until it expires */
    char a[128];
    strcpy(a, j->member_id);
    gr_sync_assignment_t as = {a, (const uint8_t *)"x", 1};
    sw_t *s = sync_g(a, NULL, 1, &as, 1);
    complete_stores(KERR_NONE);
    assert_true(s->done);
    j = join_p(&p);                                 /* pending P */
    assert_int_equal(j->err, KERR_MEMBER_ID_REQUIRED);
    jw_t *ra = join(a, NULL, P_RANGE, 1);           /* leader rejoin: waits for P */
    assert_false(ra->done);
    advance(9999);
    assert_false(ra->done);
    advance(1);                                     /* pending expiry (session timeout) */
    assert_true(ra->done);
    assert_int_equal(G()->npending, 0);
    jw_t *late = join(j->member_id, NULL, P_RANGE, 1);
    assert_int_equal(late->err, KERR_UNKNOWN_MEMBER_ID);
}

static void test_protocol_vote(void **st)
{
    GR_UNUSED(st);
    jw_t *a = join("", NULL, P_RR_RANGE, 2);
    jw_t *b = join("", NULL, P_RR_RANGE, 2);
    jw_t *c = join("", NULL, P_RANGE_RR, 2);
    advance(0);
    assert_string_equal(a->proto, "roundrobin");    /* 2 votes to 1 */
    assert_string_equal(c->proto, "roundrobin");
    /* a member that shares no protocol, or another type, is refused */
    jw_t *d = join("", NULL, P_STICKY, 1);
    assert_int_equal(d->err, KERR_INCONSISTENT_GROUP_PROTOCOL);
    assert_string_equal(d->member_id, "");
    gr_join_params_t q = params("", NULL, P_RANGE, 1);
    q.protocol_type = "connect";
    jw_t *e = join_p(&q);
    assert_int_equal(e->err, KERR_INCONSISTENT_GROUP_PROTOCOL);
    /* a member supporting only range: the candidates shrink to range */
    jw_t *f = join("", NULL, P_RANGE, 1);
    assert_int_equal(G()->state, GR_GROUP_PREPARING_REBALANCE);
    jw_t *ra = join(a->member_id, NULL, P_RR_RANGE, 2);
    jw_t *rb = join(b->member_id, NULL, P_RR_RANGE, 2);
    jw_t *rc = join(c->member_id, NULL, P_RANGE_RR, 2);
    assert_true(f->done && ra->done && rb->done && rc->done);
    assert_string_equal(ra->proto, "range");
    assert_int_equal(ra->gen, 2);
    /* an Empty group accepts any non-empty type and protocol list */
    gr_join_params_t z = params("", NULL, P_RANGE, 0);
    z.group_id = "other";
    jw_t *zz = join_p(&z);
    assert_int_equal(zz->err, KERR_INCONSISTENT_GROUP_PROTOCOL);
}

static void test_static_replacement(void **st)
{
    GR_UNUSED(st);
    jw_t *a = join("", "ia", P_RANGE, 1);
    jw_t *b = join("", "ib", P_RANGE, 1);
    advance(0);
    assert_int_equal(strncmp(a->member_id, "ia-", 3), 0);
    char olda[128], bid[128];
    strcpy(olda, a->member_id);
    strcpy(bid, b->member_id);
    gr_sync_assignment_t as[] = {{olda, (const uint8_t *)"AA", 2}, {bid, (const uint8_t *)"BB", 2}};
    sw_t *sa = sync_g(olda, "ia", 1, as, 2);
    sw_t *sb = sync_g(bid, "ib", 1, NULL, 0);
    complete_stores(KERR_NONE);
    assert_true(sa->done && sb->done);

    /* the leader's process restarts: same instance id, unknown member id */
    jw_t *na = join("", "ia", P_RANGE, 1);
    assert_false(na->done);                         /* answered once the group is stored */
    assert_int_equal(nstores, 1);
    complete_stores(KERR_NONE);
    assert_true(na->done);
    assert_int_equal(na->err, KERR_NONE);
    assert_int_equal(na->gen, 1);                   /* no rebalance */
    assert_string_equal(na->leader, olda);          /* old leader id: no assignor run */
    assert_int_equal(na->nmembers, -1);
    assert_int_equal(G()->state, GR_GROUP_STABLE);
    assert_int_equal(G()->generation_id, 1);
    assert_string_equal(G()->leader_id, na->member_id);
    /* the old id is fenced, the new one keeps the assignment */
    assert_int_equal(gr_group_heartbeat("g", olda, "ia", 1), KERR_FENCED_INSTANCE_ID);
    assert_int_equal(gr_group_heartbeat("g", olda, NULL, 1), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(gr_group_heartbeat("g", na->member_id, "ia", 1), KERR_NONE);
    sw_t *s2 = sync_g(na->member_id, "ia", 1, NULL, 0);
    assert_string_equal(s2->assignment, "AA");
    /* v9: the static leader rejoining learns it leads but skips assignment */
    gr_join_params_t q = params("", "ia", P_RANGE, 1);
    q.support_skip_assignment = true;
    jw_t *na2 = join_p(&q);
    complete_stores(KERR_NONE);
    assert_true(na2->done);
    assert_true(na2->skip);
    assert_int_equal(na2->nmembers, 2);
    assert_string_equal(na2->leader, na2->member_id);
    /* a join with a changed protocol from a replaced instance rebalances */
    jw_t *nb = join("", "ib", P_RR_RANGE, 2);
    assert_int_equal(nstores, 1);                   /* range is still selected */
    complete_stores(KERR_NONE);
    assert_true(nb->done);
    assert_int_equal(G()->state, GR_GROUP_STABLE);
}

static void test_static_fencing_parked(void **st)
{
    GR_UNUSED(st);
    session_ms = 60000;
    jw_t *a = join("", "ia", P_RANGE, 1);
    jw_t *b = join("", "ib", P_RANGE, 1);
    advance(0);
    /* CompletingRebalance: B's sync is parked, then B's instance restarts */
    sw_t *sb = sync_g(b->member_id, "ib", 1, NULL, 0);
    assert_false(sb->done);
    jw_t *nb = join("", "ib", P_RANGE, 1);
    assert_true(sb->done);
    assert_int_equal(sb->err, KERR_FENCED_INSTANCE_ID);
    assert_int_equal(G()->state, GR_GROUP_PREPARING_REBALANCE);
    assert_int_equal(G()->trigger, GR_TRIGGER_STATIC_REPLACEMENT);
    /* the old B id joining is fenced */
    jw_t *ob = join(b->member_id, "ib", P_RANGE, 1);
    assert_int_equal(ob->err, KERR_FENCED_INSTANCE_ID);
    /* static members are not dropped at join completion */
    advance(30000);
    assert_true(nb->done);
    assert_int_equal(nb->gen, 2);
    assert_non_null(gr_group_member(G(), a->member_id, strlen(a->member_id)));
    /* LeaveGroup by instance id */
    gr_leave_member_t lm[] = {{.member_id = "", .group_instance_id = "ia"},
                              {.member_id = "", .group_instance_id = "nope"}};
    assert_int_equal(gr_group_leave("g", lm, 2), KERR_NONE);
    assert_int_equal(lm[0].error, KERR_NONE);
    assert_int_equal(lm[1].error, KERR_UNKNOWN_MEMBER_ID);
    assert_null(gr_group_member(G(), a->member_id, strlen(a->member_id)));
    assert_int_equal(G()->state, GR_GROUP_PREPARING_REBALANCE);
}

static void test_errors(void **st)
{
    GR_UNUSED(st);
    /* session timeout bounds */
    gr_join_params_t p = params("", NULL, P_RANGE, 1);
    p.session_timeout_ms = 5999;
    jw_t *j = join_p(&p);
    assert_int_equal(j->err, KERR_INVALID_SESSION_TIMEOUT);
    p.session_timeout_ms = 1800001;
    j = join_p(&p);
    assert_int_equal(j->err, KERR_INVALID_SESSION_TIMEOUT);
    /* unknown group with a member id */
    j = join("someone", NULL, P_RANGE, 1);
    assert_int_equal(j->err, KERR_UNKNOWN_MEMBER_ID);
    assert_null(G());
    assert_int_equal(gr_group_heartbeat("g", "x", NULL, 1), KERR_UNKNOWN_MEMBER_ID);
    sw_t *s = sync_g("x", NULL, 1, NULL, 0);
    assert_int_equal(s->err, KERR_UNKNOWN_MEMBER_ID);

    char a[128], b[128];
    two_stable(a, b);
    /* member before generation, generation before protocol */
    assert_int_equal(gr_group_heartbeat("g", "ghost", NULL, 7), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(gr_group_heartbeat("g", a, NULL, 7), KERR_ILLEGAL_GENERATION);
    s = sync_g("ghost", NULL, 7, NULL, 0);
    assert_int_equal(s->err, KERR_UNKNOWN_MEMBER_ID);
    s = sync_g(a, NULL, 7, NULL, 0);
    assert_int_equal(s->err, KERR_ILLEGAL_GENERATION);
    s = talloc(sizeof(*s));
    s->w.done = sw_done;
    gr_sync_params_t sp = {.group_id = "g", .generation_id = 1, .member_id = a, .protocol_type = "connect",
                           .protocol_name = "range"};
    gr_group_sync(&sp, &s->w);
    assert_int_equal(s->err, KERR_INCONSISTENT_GROUP_PROTOCOL);
    s = talloc(sizeof(*s));
    s->w.done = sw_done;
    sp.protocol_type = "consumer";
    sp.protocol_name = "roundrobin";
    gr_group_sync(&sp, &s->w);
    assert_int_equal(s->err, KERR_INCONSISTENT_GROUP_PROTOCOL);
    s = talloc(sizeof(*s));
    s->w.done = sw_done;
    sp.protocol_name = "range";
    gr_group_sync(&sp, &s->w);
    assert_int_equal(s->err, KERR_NONE);
    /* a rebalance answers SyncGroup with REBALANCE_IN_PROGRESS */
    jw_t *ja = join(a, NULL, P_RANGE, 1);
    assert_false(ja->done);
    s = sync_g(b, NULL, 1, NULL, 0);
    assert_int_equal(s->err, KERR_REBALANCE_IN_PROGRESS);
}

static void test_max_size(void **st)
{
    GR_UNUSED(st);
    gr_broker.cfg.group_max_size = 2;
    char a[128], b[128];
    two_stable(a, b);
    jw_t *c = join("", NULL, P_RANGE, 1);
    assert_true(c->done);
    assert_int_equal(c->err, KERR_GROUP_MAX_SIZE_REACHED);
    assert_string_equal(c->member_id, "");
    assert_int_equal(G()->state, GR_GROUP_STABLE);
    /* existing members may still rejoin */
    jw_t *ra = join(a, NULL, P_RANGE, 1);
    assert_false(ra->done);
    jw_t *c2 = join("", NULL, P_RANGE, 1);          /* 1 awaiting < 2: accepted */
    assert_false(c2->done);
    jw_t *rb = join(b, NULL, P_RANGE, 1);           /* B not awaiting, 2 awaiting: shed */
    assert_int_equal(rb->err, KERR_GROUP_MAX_SIZE_REACHED);
    assert_true(ra->done && c2->done);
    assert_int_equal(ra->nmembers, 2);
}

static void test_pending_sync_timeout(void **st)
{
    GR_UNUSED(st);
    jw_t *a = join("", NULL, P_RANGE, 1);
    jw_t *b = join("", NULL, P_RANGE, 1);
    advance(0);
    gr_sync_assignment_t as = {a->member_id, (const uint8_t *)"x", 1};
    sw_t *sa = sync_g(a->member_id, NULL, 1, &as, 1);
    complete_stores(KERR_NONE);
    assert_true(sa->done);
    /* B got its JoinGroup answer and heartbeats but never syncs */
    for (int i = 0; i < 7; i++) {
        advance(4000);
        assert_int_equal(gr_group_heartbeat("g", b->member_id, NULL, 1), KERR_NONE);
        assert_int_equal(gr_group_heartbeat("g", a->member_id, NULL, 1), KERR_NONE);
    }
    advance(2000);                                  /* t=30000: DelayedSync expires */
    assert_null(gr_group_member(G(), b->member_id, strlen(b->member_id)));
    assert_int_equal(G()->state, GR_GROUP_PREPARING_REBALANCE);
    assert_int_equal(G()->trigger, GR_TRIGGER_SYNC_TIMEOUT);
}

static void test_store_error(void **st)
{
    GR_UNUSED(st);
    jw_t *a = join("", NULL, P_RANGE, 1);
    jw_t *b = join("", NULL, P_RANGE, 1);
    advance(0);
    sw_t *sb = sync_g(b->member_id, NULL, 1, NULL, 0);
    gr_sync_assignment_t as = {a->member_id, (const uint8_t *)"x", 1};
    sw_t *sa = sync_g(a->member_id, NULL, 1, &as, 1);
    assert_false(sa->done || sb->done);
    complete_stores(KERR_NOT_COORDINATOR);
    assert_true(sa->done && sb->done);
    assert_int_equal(sa->err, KERR_NOT_COORDINATOR);
    assert_int_equal(sb->err, KERR_NOT_COORDINATOR);
    assert_int_equal(G()->state, GR_GROUP_PREPARING_REBALANCE);
}

static void test_leave_and_delete(void **st)
{
    GR_UNUSED(st);
    char a[128], b[128];
    two_stable(a, b);
    assert_int_equal(gr_group_check_delete(G()), KERR_NON_EMPTY_GROUP);
    assert_int_equal(gr_group_check_delete(gr_group_find("nope", 4)), KERR_GROUP_ID_NOT_FOUND);
    gr_leave_member_t lm[] = {{.member_id = b}, {.member_id = "ghost"}};
    assert_int_equal(gr_group_leave("g", lm, 2), KERR_NONE);
    assert_int_equal(lm[0].error, KERR_NONE);
    assert_int_equal(lm[1].error, KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(G()->state, GR_GROUP_PREPARING_REBALANCE);
    gr_leave_member_t la = {.member_id = a};
    assert_int_equal(gr_group_leave("g", &la, 1), KERR_NONE);
    assert_int_equal(G()->state, GR_GROUP_EMPTY);
    assert_int_equal(nstores, 1);                   /* the Empty generation is stored */
    complete_stores(KERR_NONE);
    assert_int_equal(gr_group_hist_at(G(), 1)->trigger, GR_TRIGGER_MEMBER_LEFT);
    gr_leave_member_t lu = {.member_id = "x"};
    assert_int_equal(gr_group_leave("unknown", &lu, 1), KERR_NONE);
    assert_int_equal(lu.error, KERR_UNKNOWN_MEMBER_ID);

    /* DeleteGroups may go ahead (coord.c writes the tombstones, whose
     * replay detaches the group) */
    assert_int_equal(gr_group_check_delete(G()), KERR_NONE);
    gr_group_t *g = G();
    gr_group_detach(g);
    assert_null(G());
    assert_int_equal(g->state, GR_GROUP_DEAD);
    assert_int_equal(gr_group_check_delete(g), KERR_GROUP_ID_NOT_FOUND);
    jw_t *j = join("", NULL, P_RANGE, 1);           /* a new group of the same id */
    assert_false(j->done);
    assert_ptr_not_equal(G(), g);
    gr_group_restore(g);                            /* the tombstones failed: the old one is back */
    assert_ptr_equal(G(), g);
    assert_int_equal(g->state, GR_GROUP_EMPTY);
    assert_true(j->done);
    assert_int_equal(j->err, KERR_NOT_COORDINATOR);
    gr_group_detach(g);
    gr_group_free(g);
    assert_null(G());
}

static void test_validate_commit(void **st)
{
    GR_UNUSED(st);
    assert_int_equal(gr_group_validate_commit(NULL, "", 0, NULL, -1, 8), KERR_NONE);
    assert_int_equal(gr_group_validate_commit(NULL, "m", 1, NULL, 3, 8), KERR_ILLEGAL_GENERATION);
    gr_group_t *g = gr_group_get_or_create("g", 1);
    assert_int_equal(gr_group_validate_commit(g, "", 0, NULL, -1, 8), KERR_NONE);
    assert_int_equal(gr_group_validate_commit(g, "m", 1, NULL, 1, 8), KERR_UNKNOWN_MEMBER_ID);
    char a[128], b[128];
    two_stable(a, b);
    g = G();
    assert_int_equal(gr_group_validate_commit(g, "", 0, NULL, -1, 8), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(gr_group_validate_commit(g, a, strlen(a), NULL, 1, 8), KERR_NONE);
    assert_int_equal(gr_group_validate_commit(g, a, strlen(a), NULL, 0, 8), KERR_ILLEGAL_GENERATION);
    assert_int_equal(gr_group_validate_commit(g, "zz", 2, NULL, 1, 8), KERR_UNKNOWN_MEMBER_ID);
    /* instance ids only count from v7 */
    assert_int_equal(gr_group_validate_commit(g, a, strlen(a), "inst", 1, 6), KERR_NONE);
    assert_int_equal(gr_group_validate_commit(g, a, strlen(a), "inst", 1, 7), KERR_UNKNOWN_MEMBER_ID);
    /* PreparingRebalance: the previous generation may commit */
    jw_t *ra = join(a, NULL, P_RANGE, 1);
    assert_int_equal(gr_group_validate_commit(g, b, strlen(b), NULL, 1, 8), KERR_NONE);
    jw_t *rb = join(b, NULL, P_RANGE, 1);
    assert_true(ra->done && rb->done);
    assert_int_equal(g->state, GR_GROUP_COMPLETING_REBALANCE);
    assert_int_equal(gr_group_validate_commit(g, b, strlen(b), NULL, 2, 8), KERR_REBALANCE_IN_PROGRESS);
}

static void test_history_ring(void **st)
{
    GR_UNUSED(st);
    gr_group_t *g = gr_group_get_or_create("g", 1);
    for (int i = 0; i < GR_GROUP_HISTORY_MAX + 10; i++) {
        gr_hist_entry_t e = {.kind = GR_HIST_COMMIT, .time_ms = i, .member = "m", .topic = "t",
                             .partition = i, .from_offset = i - 1, .to_offset = i};
        gr_group_hist_add(g, &e);
    }
    assert_int_equal(g->hist_len, GR_GROUP_HISTORY_MAX);
    assert_int_equal(gr_group_hist_at(g, 0)->partition, 10);
    assert_int_equal(gr_group_hist_at(g, GR_GROUP_HISTORY_MAX - 1)->partition, GR_GROUP_HISTORY_MAX + 9);
    assert_null(gr_group_hist_at(g, GR_GROUP_HISTORY_MAX));
    assert_string_equal(gr_group_hist_at(g, 5)->topic, "t");
}

/* All groups together keep at most group.history.max.bytes: the groups
 * quiet for longest lose their oldest entries first; a group holds only
 * the entries it has; removal gives them back; entries with 32 KB client
 * ids count what they hold; 0 keeps none. */
static void test_history_bounded_in_total(void **st)
{
    GR_UNUSED(st);
    gr_hist_entry_t p = {.kind = GR_HIST_COMMIT, .member = "m", .topic = "t", .partition = 0};
    gr_group_t *probe = gr_group_get_or_create("probe", 5);
    gr_group_hist_add(probe, &p);
    int64_t one = gr_group_hist_bytes();
    assert_true(one > 0 && one < 256);
    gr_group_remove(probe);
    assert_int_equal(gr_group_hist_bytes(), 0);
    gr_broker.cfg.group_history_max_bytes = 100 * one;
    char id[16];
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof(id), "h%d", i);
        gr_group_t *g = gr_group_get_or_create(id, strlen(id));
        assert_int_equal(g->hist_len, 0);
        for (int k = 0; k < 10; k++) {
            gr_hist_entry_t e = {.kind = GR_HIST_COMMIT, .time_ms = k, .member = "m", .topic = "t",
                                 .partition = k, .from_offset = -1, .to_offset = k};
            gr_group_hist_add(g, &e);
        }
        assert_true(gr_group_hist_total() <= 100);
    }
    assert_int_equal(gr_group_hist_total(), 100);
    assert_int_equal(gr_group_hist_bytes(), 100 * one);
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof(id), "h%d", i);
        gr_group_t *g = gr_group_find(id, strlen(id));
        assert_int_equal(g->hist_len, i >= 40 ? 10 : 0);
        if (i >= 40)
            assert_int_equal(gr_group_hist_at(g, 0)->partition, 0);
        else
            assert_null(gr_group_hist_at(g, 0));
    }
    /* a new event of an old group makes it the latest; h40 pays for it */
    gr_group_t *g0 = gr_group_find("h0", 2);
    gr_hist_entry_t e = {.kind = GR_HIST_REBALANCE, .time_ms = 1, .generation = 7, .partition = -1};
    gr_group_hist_add(g0, &e);
    assert_int_equal(g0->hist_len, 1);
    assert_int_equal(gr_group_hist_at(g0, 0)->generation, 7);
    assert_null(gr_group_hist_at(g0, 0)->member);
    assert_int_equal(gr_group_find("h40", 3)->hist_len, 9);
    assert_int_equal(gr_group_hist_at(gr_group_find("h40", 3), 0)->partition, 1);
    assert_int_equal(gr_group_hist_total(), 100);
    gr_group_remove(gr_group_find("h45", 3));
    assert_int_equal(gr_group_hist_total(), 90);
    gr_group_remove(g0);
    assert_int_equal(gr_group_hist_total(), 89);
    /* long client ids: the bound is in bytes */
    char *big = malloc(32768);
    memset(big, 'c', 32767);
    big[32767] = 0;
    gr_broker.cfg.group_history_max_bytes = 200000;
    for (int i = 0; i < 50; i++) {
        gr_hist_entry_t b = {.kind = GR_HIST_COMMIT, .member = big, .topic = "t", .partition = i};
        gr_group_hist_add(gr_group_find("h49", 3), &b);
        assert_true(gr_group_hist_bytes() <= 200000);
    }
    assert_int_equal(gr_group_find("h49", 3)->hist_len, 6);          /* 6 x 32 KB fit in 200,000 */
    assert_int_equal(gr_group_hist_at(gr_group_find("h49", 3), 5)->partition, 49);
    gr_broker.cfg.group_history_max_bytes = 1000;                   /* one entry above the bound: not kept */
    gr_group_t *z = gr_group_get_or_create("z", 1);
    gr_hist_entry_t b = {.kind = GR_HIST_COMMIT, .member = big, .topic = "t"};
    gr_group_hist_add(z, &b);
    assert_int_equal(z->hist_len, 0);
    free(big);
    gr_broker.cfg.group_history_max_bytes = 0;
    gr_group_hist_add(z, &e);
    assert_int_equal(z->hist_len, 0);
    gr_group_remove_all();
    assert_int_equal(gr_group_hist_total(), 0);
    assert_int_equal(gr_group_hist_bytes(), 0);
}

/* group.initial.rebalance.delay.ms at its largest: the deadline saturates
 * instead of overflowing, and a negative rebalance timeout (a client's
 * choice) leaves no extension budget. */
static void test_huge_initial_delay(void **st)
{
    GR_UNUSED(st);
    gr_broker.cfg.group_initial_rebalance_delay_ms = INT64_MAX;
    rebalance_ms = INT32_MIN;
    jw_t *a = join("", NULL, P_RANGE, 1);
    assert_int_equal(G()->state, GR_GROUP_PREPARING_REBALANCE);
    assert_int_equal(G()->initial_delay_deadline_ms, INT64_MAX);
    assert_int_equal(G()->join_remaining_ms, 0);
    advance(100000);
    assert_false(a->done);
}

static void test_partition_and_subscription(void **st)
{
    GR_UNUSED(st);
    /* placement is jstr.c's, on held ids (the host's, above); 50 partitions */
    assert_int_equal(fake_partition_for("g1", 2), 42);
    assert_int_equal(fake_partition_for("\xc3\xa9", 2), 233 % 50);
    assert_int_equal(fake_partition_for("\xf0\x9f\x98\x80", 4), 1772899 % 50);
    assert_int_equal(fake_partition_for("", 0), 0);
    /* "polygenelubricants".hashCode() == Integer.MIN_VALUE -> Utils.abs gives 0 */
    assert_int_equal(fake_partition_for("polygenelubricants", 18), 0);
    /* held "victim\0evil" (Java 17: 2) and the held form of the wire bytes
     * "\xc0\x80grp", two U+FFFD (Java 17: 15) */
    assert_int_equal(fake_partition_for("victim\xc0\x80" "evil", 12), 2);
    assert_int_equal(fake_partition_for("\xef\xbf\xbd\xef\xbf\xbdgrp", 9), 15);
    /* a group created for a held id is placed by the host's function */
    assert_int_equal(gr_group_get_or_create("victim\xc0\x80" "evil", 12)->coord_partition, 2);
    assert_null(gr_group_find("victim", 6));
    /* subscription v0: int16 version, [topics], userData */
    static const uint8_t sub[] = {0, 1, 0, 0, 0, 2, 0, 1, 'a', 0, 2, 'b', 'c', 0xff, 0xff, 0xff, 0xff};
    gr_join_protocol_t p = {"range", sub, sizeof(sub)};
    jw_t *j = join("", NULL, &p, 1);
    advance(0);
    assert_true(j->done);
    assert_true(gr_group_subscribed_to(G(), "a"));
    assert_true(gr_group_subscribed_to(G(), "bc"));
    assert_false(gr_group_subscribed_to(G(), "z"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_single_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_bounded_in_total, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_initial_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initial_delay_extension, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initial_delay_capped_by_rebalance_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebalance_timeout_removes_laggard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_rejoined_completes_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_follower_same_metadata_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_member_join_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protocol_vote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_replacement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_fencing_parked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_sync_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leave_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_ring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partition_and_subscription, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
