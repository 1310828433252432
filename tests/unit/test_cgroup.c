/* Unit tests for cgroup.c, consumer groups of KIP-848:
 *   - the reconciliation state machine (gr_cgroup_reconcile, Kafka's
 *     CurrentAssignmentBuilder): revoke before moving on, unreleased
 *     partitions, the previous epoch, unknown states;
 *   - heartbeats over a real __consumer_offsets with an injected clock: a
 *     partition moves only once its owner acknowledged its revocation; a
 *     member that stops heartbeating is fenced after the session timeout,
 *     one that does not revoke after its rebalance timeout; a member whose
 *     target does not change keeps its partitions; the state a restart
 *     loads equals the live one;
 *   - online migration: a classic group with a live member becomes a
 *     consumer group when a consumer-protocol member joins (the classic
 *     member kept with its assignment, told to rejoin, served its share by
 *     the coordinator), survives a restart, and becomes a classic group
 *     again when the consumer-protocol member leaves; a classic member that
 *     does not rejoin in time is fenced; the policy can forbid both;
 *   - the group checks of OffsetCommit, TxnOffsetCommit, OffsetFetch and
 *     OffsetDelete on a consumer group;
 *   - over an in-memory log (crt_memlog.h) whose appends fail: a downgrade
 *     (a leave or a fence) or an upgrade the log refuses leaves the state as
 *     it was, and random heartbeats, commits, migrations and timeouts leave
 *     a log that loads into the live state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker.h"
#include "cgroup.h"
#include "coord.h"
#include "crt_memlog.h"
#include "group.h"
#include "topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gr_broker_t gr_broker;

/* ------------------------------------------------------------ reconcile */

static gr_uuid_t T1;

typedef struct owners {
    int32_t epoch[16];              /* -1: free */
} owners_t;

static int32_t pe(void *ctx, const gr_uuid_t *t, int32_t p)
{
    GR_UNUSED(t);
    owners_t *o = ctx;
    return p < 16 ? o->epoch[p] : -1;
}

static gr_assign_t parts(const int32_t *p, int n)
{
    gr_assign_t a = {0, NULL};
    gr_assign_add_many(&a, &T1, p, n);
    return a;
}

static void cur_free(gr_cg_current_t *c)
{
    gr_assign_free(&c->assigned);
    gr_assign_free(&c->revoking);
}

static void test_reconcile(void **st)
{
    (void)st;
    memset(&T1, 0, sizeof(T1));
    T1.b[0] = 1;
    owners_t o;
    for (int i = 0; i < 16; i++)
        o.epoch[i] = -1;
    /* member at epoch 1 with {0,1,2}; the target of epoch 2 is {0,1,3} and
     * 3 is owned by another member */
    gr_cg_current_t c = {1, 0, GR_CM_STABLE, parts((int32_t[]){0, 1, 2}, 3), {0, NULL}}, n, n2, n3;
    gr_assign_t target = parts((int32_t[]){0, 1, 3}, 3);
    o.epoch[3] = 1;
    o.epoch[0] = o.epoch[1] = o.epoch[2] = 1;
    /* owned not given: it may still hold 2 -> revoke first, same epoch */
    assert_int_equal(gr_cgroup_reconcile(&c, 2, &target, pe, &o, NULL, 0, &n), KERR_NONE);
    assert_int_equal(n.state, GR_CM_UNREVOKED_PARTITIONS);
    assert_int_equal(n.epoch, 1);
    assert_int_equal(gr_assign_count(&n.assigned), 2);
    assert_true(gr_assign_has(&n.revoking, &T1, 2));
    /* still reporting 2: no progress */
    gr_cg_owned_t own = {T1, (int32_t[]){0, 1, 2}, 3};
    assert_int_equal(gr_cgroup_reconcile(&n, 2, &target, pe, &o, &own, 1, &n2), KERR_NONE);
    assert_int_equal(n2.state, GR_CM_UNREVOKED_PARTITIONS);
    assert_int_equal(n2.epoch, 1);
    cur_free(&n2);
    /* 2 given up; 3 still owned elsewhere -> next epoch, UNRELEASED */
    own.n = 2;
    o.epoch[2] = -1;
    assert_int_equal(gr_cgroup_reconcile(&n, 2, &target, pe, &o, &own, 1, &n2), KERR_NONE);
    assert_int_equal(n2.state, GR_CM_UNRELEASED_PARTITIONS);
    assert_int_equal(n2.epoch, 2);
    assert_int_equal(n2.prev_epoch, 1);
    assert_int_equal(gr_assign_count(&n2.assigned), 2);
    assert_false(gr_assign_has(&n2.assigned, &T1, 3));
    /* 3 released -> STABLE with it */
    o.epoch[3] = -1;
    assert_int_equal(gr_cgroup_reconcile(&n2, 2, &target, pe, &o, &own, 1, &n3), KERR_NONE);
    assert_int_equal(n3.state, GR_CM_STABLE);
    assert_int_equal(n3.epoch, 2);
    assert_true(gr_assign_has(&n3.assigned, &T1, 3));
    cur_free(&n3);
    cur_free(&n2);
    cur_free(&n);
    /* owned given and already without the revoked partition: straight on */
    own.n = 2;
    assert_int_equal(gr_cgroup_reconcile(&c, 2, &target, pe, &o, &own, 1, &n), KERR_NONE);
    assert_int_equal(n.state, GR_CM_STABLE);
    assert_int_equal(n.epoch, 2);
    cur_free(&n);
    /* reconciled: unchanged */
    gr_cg_current_t s = {2, 1, GR_CM_STABLE, parts((int32_t[]){0, 1, 3}, 3), {0, NULL}};
    assert_int_equal(gr_cgroup_reconcile(&s, 2, &target, pe, &o, NULL, 0, &n), KERR_NONE);
    assert_int_equal(n.epoch, 2);
    assert_int_equal(n.prev_epoch, 1);
    assert_true(gr_assign_eq(&n.assigned, &s.assigned));
    cur_free(&n);
    cur_free(&s);
    /* unknown state: fenced unless it owns nothing */
    gr_cg_current_t u = {3, 2, GR_CM_UNKNOWN, {0, NULL}, {0, NULL}};
    assert_int_equal(gr_cgroup_reconcile(&u, 4, &target, pe, &o, &own, 1, &n), KERR_FENCED_MEMBER_EPOCH);
    gr_cg_owned_t none = {T1, NULL, 0};
    assert_int_equal(gr_cgroup_reconcile(&u, 4, &target, pe, &o, &none, 0, &n), KERR_NONE);
    assert_int_equal(n.epoch, 4);
    cur_free(&n);
    cur_free(&c);
    gr_assign_free(&target);
}

/* ------------------------------------------------------------ fake clock */

static int64_t fake_now;
static gr_timer_t *armed[512];
static int narmed;

static int64_t fk_now(void *ctx)
{
    GR_UNUSED(ctx);
    return fake_now;
}

static void fk_stop(void *ctx, gr_timer_t *t)
{
    GR_UNUSED(ctx);
    /* initialised by gr_timer_init: a zeroed timer looks armed to the real
     * loop, whose stop would then take another timer off its heap */
    assert_int_equal(t->heap_idx, -1);
    for (int i = 0; i < narmed; i++)
        if (armed[i] == t) {
            armed[i] = armed[--narmed];
            break;
        }
}

static void fk_start(void *ctx, gr_timer_t *t, int64_t ms)
{
    fk_stop(ctx, t);
    t->when_us = (fake_now + ms) * 1000;
    assert_true(narmed < 512);
    armed[narmed++] = t;
}

static const gr_group_clock_t fake_clock = {fk_now, fk_start, fk_stop, NULL};

static void spin(void)
{
    for (int i = 0; i < 6; i++)
        gr_ev_run_once(gr_broker.ev, 0);
}

static void advance(int64_t ms)
{
    int64_t target = fake_now + ms;
    for (;;) {
        int best = -1;
        for (int i = 0; i < narmed; i++)
            if (armed[i]->when_us <= target * 1000 && (best < 0 || armed[i]->when_us < armed[best]->when_us))
                best = i;
        if (best < 0)
            break;
        gr_timer_t *t = armed[best];
        armed[best] = armed[--narmed];
        fake_now = t->when_us / 1000;
        t->cb(NULL, t->arg);
        spin();
    }
    fake_now = target;
}

/* ------------------------------------------------------------ broker */

static char dir[256];
static memlog_t ml;
static bool use_memlog;             /* __consumer_offsets on ml, not on disk */

static void broker_open(void)
{
    gr_broker.log_dirs = malloc(sizeof(char *));
    gr_broker.log_dirs[0] = dir;
    gr_broker.nlog_dirs = 1;
    assert_int_equal(gr_topics_load(), 0);
    if (use_memlog)
        assert_int_equal(gr_coord_start_with(&memlog_writer, &ml, ml.npart), 0);
    else
        assert_int_equal(gr_coord_start(), 0);
    gr_coord_load_all();
    spin();
}

static void broker_close(void)
{
    gr_coord_stop();
    gr_group_remove_all();
    narmed = 0;
    gr_topics_close(NULL);
    free(gr_broker.log_dirs);
    gr_broker.log_dirs = NULL;
}

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof(dir), "/tmp/gr_cgroup_test_XXXXXX");
    assert_non_null(mkdtemp(dir));
    gr_config_init(&gr_broker.cfg);
    gr_broker.cfg.offsets_topic_num_partitions = 3;
    gr_broker.cfg.group_initial_rebalance_delay_ms = 0;
    gr_broker.ev = gr_ev_new();
    gr_log_level = getenv("CG_DEBUG") ? GR_LOG_INFO : GR_LOG_ERROR;
    fake_now = 1000000;
    narmed = 0;
    gr_group_set_clock(&fake_clock);
    if (use_memlog)
        memlog_init(&ml, gr_broker.ev, 3);
    broker_open();
    gr_topic_t *t = NULL;
    const char *msg = NULL;
    char *cfg[] = {NULL};
    assert_int_equal(gr_topic_create("t", 1, 6, cfg, false, &t, &msg), GR_SERR_NONE);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    broker_close();
    if (use_memlog)
        memlog_free(&ml);           /* after the runtime that wrote to it */
    gr_group_set_clock(NULL);
    gr_ev_free(gr_broker.ev);
    gr_broker.ev = NULL;
    gr_config_free(&gr_broker.cfg);
    gr_rm_rf(dir);
    return 0;
}

typedef struct hb_out {
    int done;
    gr_kerr_t err;
    int32_t epoch;
    bool has;
    gr_assign_t a;
} hb_out_t;

static void hb_cb(void *arg, gr_cg_hb_result_t *res)
{
    hb_out_t *o = arg;
    o->done++;
    o->err = res->error;
    o->epoch = res->member_epoch;
    o->has = res->has_assignment;
    gr_assign_free(&o->a);
    if (res->has_assignment)
        gr_assign_copy(&o->a, &res->assignment);
}

static const char *topics1[] = {"t"};

/* A heartbeat: join (epoch 0) or at `epoch` reporting `owned` (NULL: not
 * given, n: its partitions of t). */
static hb_out_t hb(const char *mid, int32_t epoch, const int32_t *owned, int n)
{
    gr_topic_t *t = gr_topic_find("t", 1);
    gr_cg_owned_t own = {t->id, owned, n};
    gr_cg_hb_t h = {
        .version = 1, .group_id = "g", .member_id = mid, .member_epoch = epoch, .rebalance_timeout_ms = epoch ? -1 : 10000,
        .topics = epoch ? NULL : topics1, .ntopics = epoch ? 0 : 1,
        .owned = epoch == 0 ? &own : owned ? &own : NULL, .nowned = epoch == 0 ? 0 : owned ? 1 : 0,
        .client_id = "c", .client_host = "/127.0.0.1",
    };
    hb_out_t o = {0};
    gr_cgroup_heartbeat(&h, hb_cb, &o);
    for (int i = 0; i < 20 && !o.done; i++)
        gr_ev_run_once(gr_broker.ev, 5);
    assert_int_equal(o.done, 1);
    return o;
}

static gr_cgroup_t *CG(void)
{
    gr_group_t *g = gr_group_find("g", 1);
    assert_non_null(g);
    assert_int_equal(g->type, GR_GROUP_CONSUMER);
    return g->cg;
}

static void parts_of(const gr_assign_t *a, int32_t *out, int *n)
{
    *n = 0;
    for (int i = 0; i < a->n; i++)
        for (int k = 0; k < a->t[i].n; k++)
            out[(*n)++] = a->t[i].p[k];
}

static void test_revoke_before_move_and_timeouts(void **st)
{
    (void)st;
    hb_out_t a = hb("A", 0, NULL, 0);
    assert_int_equal(a.err, KERR_NONE);
    assert_int_equal(a.epoch, 1);
    assert_int_equal(gr_assign_count(&a.a), 6);
    gr_assign_free(&a.a);
    /* B joins: nothing for it while A holds everything */
    hb_out_t b = hb("B", 0, NULL, 0);
    assert_int_equal(b.epoch, 2);
    assert_int_equal(gr_assign_count(&b.a), 0);
    gr_assign_free(&b.a);
    assert_string_equal(gr_cgroup_state_name(CG()), "Reconciling");
    /* A is told to keep 3 (revoke the others) in its epoch */
    int32_t all[] = {0, 1, 2, 3, 4, 5};
    a = hb("A", 1, all, 6);
    assert_int_equal(a.epoch, 1);
    int32_t kept[6];
    int nk;
    parts_of(&a.a, kept, &nk);
    assert_int_equal(nk, 3);
    gr_assign_free(&a.a);
    /* B still gets nothing: the partitions are A's until it says so */
    b = hb("B", 2, NULL, 0);
    assert_int_equal(gr_assign_count(&b.a), 0);
    gr_assign_free(&b.a);
    /* A acknowledges -> epoch 2; then B gets the other 3 */
    a = hb("A", 1, kept, nk);
    assert_int_equal(a.epoch, 2);
    gr_assign_free(&a.a);
    b = hb("B", 2, NULL, 0);
    assert_int_equal(gr_assign_count(&b.a), 3);
    gr_assign_free(&b.a);
    assert_string_equal(gr_cgroup_state_name(CG()), "Stable");
    int32_t bp[6];
    int nb;
    parts_of(gr_cgroup_target(CG(), "B"), bp, &nb);
    /* C joins; A keeps heartbeating, B goes silent: after the session
     * timeout (45 s) B is fenced and its partitions go on */
    hb_out_t c = hb("C", 0, NULL, 0);
    assert_int_equal(c.epoch, 3);
    gr_assign_free(&c.a);
    int64_t sess = gr_cgroup_session_timeout_ms();
    assert_int_equal(sess, 45000);
    for (int i = 0; i < 10; i++) {
        advance(5000);
        a = hb("A", a.epoch, kept, 2);
        gr_assign_free(&a.a);
        c = hb("C", c.epoch, NULL, 0);
        gr_assign_free(&c.a);
    }
    assert_null(gr_cgroup_member(CG(), "B"));
    assert_non_null(gr_cgroup_member(CG(), "A"));
    assert_non_null(gr_cgroup_member(CG(), "C"));
    assert_true(CG()->group_epoch >= 4);
    /* a member that does not revoke within its rebalance timeout (10 s) is
     * fenced too */
    gr_cmember_t *ma = gr_cgroup_member(CG(), "A");
    if (ma->state == GR_CM_UNREVOKED_PARTITIONS) {
        advance(11000);
        assert_null(gr_cgroup_member(CG(), "A"));
    }
}

/* A member that keeps heartbeating but never gives up what it must revoke
 * is fenced after its rebalance timeout, whatever its heartbeats; its
 * partitions then go to the member that waited for them. */
static void test_rebalance_timeout(void **st)
{
    (void)st;
    hb_out_t a = hb("A", 0, NULL, 0);
    gr_assign_free(&a.a);
    hb_out_t b = hb("B", 0, NULL, 0);
    gr_assign_free(&b.a);
    int32_t all[] = {0, 1, 2, 3, 4, 5};
    for (int i = 0; i < 4; i++) {
        advance(2000);
        a = hb("A", 1, all, 6);          /* still reports all six */
        assert_int_equal(a.err, KERR_NONE);
        gr_assign_free(&a.a);
        b = hb("B", 2, NULL, 0);
        assert_int_equal(gr_assign_count(&b.a), 0);
        gr_assign_free(&b.a);
    }
    assert_non_null(gr_cgroup_member(CG(), "A"));
    assert_int_equal(gr_cgroup_member(CG(), "A")->state, GR_CM_UNREVOKED_PARTITIONS);
    advance(4500);                        /* 10.5 s after it was told to revoke (at 2 s) */
    assert_null(gr_cgroup_member(CG(), "A"));
    a = hb("A", 1, all, 6);
    assert_int_equal(a.err, KERR_UNKNOWN_MEMBER_ID);
    b = hb("B", 2, NULL, 0);
    assert_int_equal(b.err, KERR_NONE);
    assert_int_equal(gr_assign_count(&b.a), 6);
    gr_assign_free(&b.a);
}

static void test_unchanged_members_undisturbed_and_restart(void **st)
{
    (void)st;
    hb_out_t a = hb("A", 0, NULL, 0);
    gr_assign_free(&a.a);
    hb_out_t b = hb("B", 0, NULL, 0);
    gr_assign_free(&b.a);
    int32_t all[] = {0, 1, 2, 3, 4, 5};
    a = hb("A", 1, all, 6);
    int32_t kept[6];
    int nk;
    parts_of(&a.a, kept, &nk);
    gr_assign_free(&a.a);
    a = hb("A", 1, kept, nk);
    gr_assign_free(&a.a);
    b = hb("B", 2, NULL, 0);
    int32_t bp[6];
    int nb;
    parts_of(&b.a, bp, &nb);
    gr_assign_free(&b.a);
    b = hb("B", 2, bp, nb);
    gr_assign_free(&b.a);
    /* B leaves then... A's target is all 6, B's go back; now a member
     * re-joins: with 2 members of 3 partitions each A's set stays */
    gr_cgroup_t *cg = CG();
    int32_t e = cg->group_epoch, ae = cg->assignment_epoch;
    gr_assign_t ta;
    gr_assign_copy(&ta, gr_cgroup_target(cg, "A"));
    /* restart: the state comes back from the log */
    broker_close();
    broker_open();
    cg = CG();
    assert_int_equal(cg->group_epoch, e);
    assert_int_equal(cg->assignment_epoch, ae);
    assert_true(gr_assign_eq(gr_cgroup_target(cg, "A"), &ta));
    gr_cmember_t *ma = gr_cgroup_member(cg, "A");
    assert_int_equal(ma->epoch, 2);
    assert_true(gr_assign_eq(&ma->assigned, &ta));
    /* the members go on at their epochs, nothing moves */
    a = hb("A", 2, kept, nk);
    assert_int_equal(a.err, KERR_NONE);
    assert_int_equal(a.epoch, 2);
    gr_assign_free(&a.a);
    b = hb("B", 2, bp, nb);
    assert_int_equal(b.err, KERR_NONE);
    gr_assign_free(&b.a);
    assert_int_equal(CG()->group_epoch, e);
    gr_assign_free(&ta);
}

/* ------------------------------------------------------------ migration */

static uint8_t sub_t[] = {0, 0, 0, 0, 0, 1, 0, 1, 't', 0xff, 0xff, 0xff, 0xff};

/* ConsumerProtocolAssignment v0 of partitions of t */
static int32_t assign_bytes(uint8_t *out, const int32_t *p, int n)
{
    int32_t k = 0;
    out[k++] = 0, out[k++] = 0;
    out[k++] = 0, out[k++] = 0, out[k++] = 0, out[k++] = 1;
    out[k++] = 0, out[k++] = 1, out[k++] = 't';
    out[k++] = 0, out[k++] = 0, out[k++] = 0, out[k++] = (uint8_t)n;
    for (int i = 0; i < n; i++)
        out[k++] = 0, out[k++] = 0, out[k++] = 0, out[k++] = (uint8_t)p[i];
    out[k++] = 0xff, out[k++] = 0xff, out[k++] = 0xff, out[k++] = 0xff;
    return k;
}

static int decoded_parts(const uint8_t *b, int32_t len, int32_t *out)
{
    /* version, 1 topic "t", count, partitions */
    assert_true(len >= 13);
    int32_t nt = (b[2] << 24) | (b[3] << 16) | (b[4] << 8) | b[5];
    if (nt == 0)
        return 0;
    assert_int_equal(nt, 1);
    assert_int_equal(b[8], 't');
    int n = (b[9] << 24) | (b[10] << 16) | (b[11] << 8) | b[12];
    for (int i = 0; i < n; i++)
        out[i] = b[13 + 4 * i + 3];
    return n;
}

typedef struct cjoin_out {
    int done;
    gr_kerr_t err;
    char mid[64];
    int32_t gen;
} cjoin_out_t;

static void cjoin_cb(gr_join_waiter_t *w, const gr_join_result_t *r)
{
    cjoin_out_t *o = w->arg;
    o->done++;
    o->err = r->error;
    o->gen = r->generation_id;
    snprintf(o->mid, sizeof(o->mid), "%s", r->member_id ? r->member_id : "");
}

static void csync_cb(gr_sync_waiter_t *w, const gr_sync_result_t *r)
{
    int *o = w->arg;
    *o = r->error == KERR_NONE ? 1 : -1;
}

/* A classic group g with one member owning the 6 partitions of t; its
 * member id into mid, the generation returned. */
static int32_t classic_group(char *mid, int32_t session_ms, int32_t rebalance_ms)
{
    gr_join_protocol_t pr = {"range", sub_t, sizeof(sub_t)};
    gr_join_params_t p = {.group_id = "g", .member_id = "", .client_id = "c", .client_host = "/127.0.0.1",
                          .session_timeout_ms = session_ms, .rebalance_timeout_ms = rebalance_ms,
                          .protocol_type = "consumer", .protocols = &pr, .nprotocols = 1};
    cjoin_out_t o = {0};
    gr_join_waiter_t w = {cjoin_cb, &o, NULL};
    gr_group_join(&p, &w);
    for (int i = 0; i < 40 && !o.done; i++) {
        advance(0);             /* the classic group's timers run on the same (fake) clock */
        gr_ev_run_once(gr_broker.ev, 5);
    }
    assert_int_equal(o.done, 1);
    assert_int_equal(o.err, KERR_NONE);
    strcpy(mid, o.mid);
    int32_t all[] = {0, 1, 2, 3, 4, 5};
    uint8_t ab[64];
    int32_t al = assign_bytes(ab, all, 6);
    gr_sync_assignment_t sa = {mid, ab, al};
    gr_sync_params_t sp = {.group_id = "g", .generation_id = o.gen, .member_id = mid, .assignments = &sa,
                           .nassignments = 1};
    int synced = 0;
    gr_sync_waiter_t sw = {csync_cb, &synced, NULL};
    gr_group_sync(&sp, &sw);
    for (int i = 0; i < 40 && !synced; i++) {
        advance(0);
        gr_ev_run_once(gr_broker.ev, 5);
    }
    assert_int_equal(synced, 1);
    return o.gen;
}

/* A classic member's JoinGroup into the consumer group g (owning nothing,
 * as an eager client does). */
static hb_out_t classic_join(const char *mid, int32_t session_ms)
{
    gr_join_protocol_t pr = {"range", sub_t, sizeof(sub_t)};
    gr_cg_classic_t cl = {session_ms, &pr, 1, false};
    gr_cg_hb_t h = {.group_id = "g", .member_id = mid, .rebalance_timeout_ms = 5000, .client_id = "c",
                    .client_host = "/127.0.0.1", .classic = &cl};
    hb_out_t o = {0};
    gr_cgroup_heartbeat(&h, hb_cb, &o);
    for (int i = 0; i < 20 && !o.done; i++)
        gr_ev_run_once(gr_broker.ev, 5);
    assert_int_equal(o.done, 1);
    return o;
}

static void commit_cb(void *arg, gr_kerr_t err)
{
    hb_out_t *o = arg;
    o->done++;
    o->err = err;
}

static void test_migration_upgrade_restart_downgrade(void **st)
{
    (void)st;
    char c1[64];
    int32_t gen = classic_group(c1, 30000, 5000);
    gr_group_t *g = gr_group_find("g", 1);
    assert_int_equal(g->type, GR_GROUP_CLASSIC);
    /* the consumer-protocol member A joins: g is a consumer group whose
     * classic member keeps its 6 partitions; A waits for its 3 */
    hb_out_t a = hb("A", 0, NULL, 0);
    assert_int_equal(a.err, KERR_NONE);
    assert_int_equal(a.epoch, gen + 1);
    int32_t got[6];
    int n;
    parts_of(&a.a, got, &n);
    assert_int_equal(n, 0);
    gr_assign_free(&a.a);
    gr_cgroup_t *cg = CG();
    assert_int_equal(gr_cgroup_nmembers(cg), 2);
    assert_int_equal(cg->nclassic, 1);
    gr_cmember_t *m = gr_cgroup_member(cg, c1);
    assert_non_null(m);
    assert_int_equal(m->classic_session_ms, 30000);
    assert_int_equal(m->epoch, gen);
    assert_int_equal(gr_assign_count(&m->assigned), 6);
    assert_int_equal(gr_assign_count(gr_cgroup_target(cg, c1)), 3);
    assert_int_equal(gr_assign_count(gr_cgroup_target(cg, "A")), 3);
    g = gr_group_find("g", 1);
    assert_int_equal(g->nmembers, 0);     /* no classic member left behind */
    /* the classic member is told to rejoin, rejoins and gets its 3 */
    assert_int_equal(gr_cgroup_classic_heartbeat(g, c1, NULL, gen - 1), KERR_ILLEGAL_GENERATION);
    assert_int_equal(gr_cgroup_classic_heartbeat(g, c1, NULL, gen), KERR_REBALANCE_IN_PROGRESS);
    assert_int_equal(gr_cgroup_classic_heartbeat(g, "nobody", NULL, gen), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(gr_cgroup_classic_heartbeat(g, "A", NULL, gen + 1), KERR_UNKNOWN_MEMBER_ID);
    hb_out_t j = classic_join(c1, 30000);
    assert_int_equal(j.err, KERR_NONE);
    assert_int_equal(j.epoch, gen + 1);
    gr_assign_free(&j.a);
    uint8_t *ab = NULL;
    int32_t al = 0;
    assert_int_equal(gr_cgroup_classic_sync(g, c1, NULL, gen + 1, "consumer", "roundrobin", &ab, &al),
                     KERR_INCONSISTENT_GROUP_PROTOCOL);
    assert_int_equal(gr_cgroup_classic_sync(g, c1, NULL, gen + 1, "consumer", "range", &ab, &al), KERR_NONE);
    int32_t mine[6];
    int nm = decoded_parts(ab, al, mine);
    free(ab);
    assert_int_equal(nm, 3);
    assert_int_equal(gr_cgroup_classic_heartbeat(g, c1, NULL, gen + 1), KERR_NONE);
    /* A gets the other 3 */
    a = hb("A", gen + 1, NULL, 0);
    parts_of(&a.a, got, &n);
    gr_assign_free(&a.a);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < nm; k++)
            assert_int_not_equal(got[i], mine[k]);
    /* a restart keeps both, the classic member with its protocols */
    broker_close();
    broker_open();
    cg = CG();
    m = gr_cgroup_member(cg, c1);
    assert_non_null(m);
    assert_int_equal(m->classic_session_ms, 30000);
    assert_int_equal(m->nprotos, 1);
    assert_string_equal(m->protos[0].name, "range");
    assert_int_equal(m->epoch, gen + 1);
    assert_int_equal(gr_assign_count(&m->assigned), 3);
    g = gr_group_find("g", 1);
    assert_int_equal(gr_cgroup_classic_heartbeat(g, c1, NULL, gen + 1), KERR_NONE);
    /* A leaves: the group is classic again, its member must rejoin */
    a = hb("A", -1, NULL, 0);
    assert_int_equal(a.err, KERR_NONE);
    gr_assign_free(&a.a);
    g = gr_group_find("g", 1);
    assert_int_equal(g->type, GR_GROUP_CLASSIC);
    assert_null(g->cg);
    assert_int_equal(g->nmembers, 1);
    assert_string_equal(g->members->member_id, c1);
    assert_int_equal(g->generation_id, gen + 1);
    assert_int_equal(g->state, GR_GROUP_PREPARING_REBALANCE);
    assert_string_equal(g->protocol_name, "range");
    nm = decoded_parts(g->members->assignment, g->members->assignment_len, mine);
    assert_int_equal(nm, 3);        /* its target at the downgrade, as Kafka's */
    assert_int_equal(gr_group_heartbeat("g", c1, NULL, gen + 1), KERR_REBALANCE_IN_PROGRESS);
    /* and classic after a restart */
    broker_close();
    broker_open();
    g = gr_group_find("g", 1);
    assert_non_null(g);
    assert_int_equal(g->type, GR_GROUP_CLASSIC);
    assert_int_equal(g->nmembers, 1);
    assert_int_equal(g->generation_id, gen + 1);
}

static void test_migration_join_timeout_and_policy(void **st)
{
    (void)st;
    char c1[64];
    free(gr_broker.cfg.group_consumer_migration_policy);
    gr_broker.cfg.group_consumer_migration_policy = gr_strdup("downgrade");
    int32_t gen = classic_group(c1, 30000, 5000);
    hb_out_t a = hb("A", 0, NULL, 0);
    assert_int_equal(a.err, KERR_GROUP_ID_NOT_FOUND);
    gr_assign_free(&a.a);
    gr_group_t *g = gr_group_find("g", 1);
    assert_int_equal(g->type, GR_GROUP_CLASSIC);
    assert_int_equal(g->nmembers, 1);
    assert_int_equal(gr_group_heartbeat("g", c1, NULL, gen), KERR_NONE);
    free(gr_broker.cfg.group_consumer_migration_policy);
    gr_broker.cfg.group_consumer_migration_policy = gr_strdup("upgrade");
    a = hb("A", 0, NULL, 0);
    assert_int_equal(a.err, KERR_NONE);
    gr_assign_free(&a.a);
    /* the classic member is told to rejoin and does not: fenced after its
     * rebalance timeout, its partitions go to A */
    g = gr_group_find("g", 1);
    assert_int_equal(gr_cgroup_classic_heartbeat(g, c1, NULL, gen), KERR_REBALANCE_IN_PROGRESS);
    advance(4000);
    assert_non_null(gr_cgroup_member(CG(), c1));
    advance(1001);
    spin();
    assert_null(gr_cgroup_member(CG(), c1));
    /* only upgrade: the group stays a consumer group */
    assert_int_equal(gr_group_find("g", 1)->type, GR_GROUP_CONSUMER);
    assert_int_equal(CG()->group_epoch, gen + 2);
    a = hb("A", gen + 1, NULL, 0);
    int32_t got[6];
    int n;
    parts_of(&a.a, got, &n);
    gr_assign_free(&a.a);
    assert_int_equal(a.epoch, gen + 2);
    assert_int_equal(n, 6);
}

static void test_migration_static_replacement_downgrade(void **st)
{
    (void)st;
    char c1[64];
    int32_t gen = classic_group(c1, 30000, 5000);
    /* a static consumer-protocol member upgrades the group */
    gr_topic_t *t = gr_topic_find("t", 1);
    gr_cg_owned_t own = {t->id, NULL, 0};
    gr_cg_hb_t h = {.version = 1, .group_id = "g", .member_id = "S", .member_epoch = 0, .instance_id = "i1",
                    .rebalance_timeout_ms = 10000, .topics = topics1, .ntopics = 1, .owned = &own, .nowned = 0,
                    .client_id = "c", .client_host = "/127.0.0.1"};
    hb_out_t o = {0};
    gr_cgroup_heartbeat(&h, hb_cb, &o);
    for (int i = 0; i < 20 && !o.done; i++)
        gr_ev_run_once(gr_broker.ev, 5);
    assert_int_equal(o.err, KERR_NONE);
    gr_assign_free(&o.a);
    gr_cgroup_t *cg = CG();
    int32_t epoch = cg->group_epoch;
    gr_assign_t ts;
    gr_assign_copy(&ts, gr_cgroup_target(cg, "S"));
    assert_int_equal(gr_assign_count(&ts), 3);
    /* a classic member with the same instance id and no member id replaces
     * it: every member is classic, the group is classic again, Stable, the
     * new member with S's target */
    gr_join_protocol_t pr = {"range", sub_t, sizeof(sub_t)};
    gr_cg_classic_t cl = {20000, &pr, 1, true};
    gr_cg_hb_t j = {.group_id = "g", .member_id = "N", .instance_id = "i1", .rebalance_timeout_ms = 5000,
                    .client_id = "c2", .client_host = "/127.0.0.1", .classic = &cl};
    o = (hb_out_t){0};
    gr_cgroup_heartbeat(&j, hb_cb, &o);
    for (int i = 0; i < 20 && !o.done; i++)
        gr_ev_run_once(gr_broker.ev, 5);
    assert_int_equal(o.done, 1);
    assert_int_equal(o.err, KERR_NONE);
    assert_int_equal(o.epoch, epoch);
    gr_assign_free(&o.a);
    gr_group_t *g = gr_group_find("g", 1);
    assert_int_equal(g->type, GR_GROUP_CLASSIC);
    assert_int_equal(g->state, GR_GROUP_STABLE);
    assert_int_equal(g->generation_id, epoch);
    assert_int_equal(g->nmembers, 2);
    gr_member_t *n = gr_group_member(g, "N", 1);
    assert_non_null(n);
    assert_string_equal(n->group_instance_id, "i1");
    assert_int_equal(n->session_timeout_ms, 20000);
    int32_t got[6];
    assert_int_equal(decoded_parts(n->assignment, n->assignment_len, got), 3);
    for (int i = 0; i < 3; i++)
        assert_true(gr_assign_has(&ts, &t->id, got[i]));
    assert_null(gr_group_member(g, "S", 1));
    assert_non_null(gr_group_member(g, c1, strlen(c1)));
    gr_assign_free(&ts);
    (void)gen;
    /* a restart loads the classic group */
    broker_close();
    broker_open();
    g = gr_group_find("g", 1);
    assert_int_equal(g->type, GR_GROUP_CLASSIC);
    assert_int_equal(g->nmembers, 2);
}

/* The group checks of the offset requests on a consumer group, as Kafka's
 * ConsumerGroup.validateOffsetCommit (plain and transactional),
 * validateOffsetFetch and validateOffsetDelete. */
static void test_offset_validators(void **st)
{
    (void)st;
    hb_out_t a = hb("A", 0, NULL, 0);
    assert_int_equal(a.err, KERR_NONE);
    assert_int_equal(a.epoch, 1);
    gr_assign_free(&a.a);
    gr_group_t *g = gr_group_find("g", 1);
    /* OffsetCommit: v9 with the member epoch */
    assert_int_equal(gr_group_validate_commit(g, "A", 1, NULL, 1, 9), KERR_NONE);
    assert_int_equal(gr_group_validate_commit(g, "A", 1, NULL, 0, 9), KERR_STALE_MEMBER_EPOCH);
    assert_int_equal(gr_group_validate_commit(g, "A", 1, NULL, 1, 8), KERR_UNSUPPORTED_VERSION);
    assert_int_equal(gr_group_validate_commit(g, "Z", 1, NULL, 1, 9), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(gr_group_validate_commit(g, "", 0, NULL, -1, 9), KERR_UNKNOWN_MEMBER_ID);
    /* TxnOffsetCommit: any version, a stale epoch is ILLEGAL_GENERATION */
    assert_int_equal(gr_group_validate_txn_commit(g, "A", 1, NULL, 1, 3), KERR_NONE);
    assert_int_equal(gr_group_validate_txn_commit(g, "A", 1, NULL, 0, 3), KERR_ILLEGAL_GENERATION);
    assert_int_equal(gr_group_validate_txn_commit(g, "A", 1, NULL, 2, 4), KERR_ILLEGAL_GENERATION);
    assert_int_equal(gr_group_validate_txn_commit(g, "Z", 1, NULL, 1, 3), KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(gr_group_validate_txn_commit(g, "", 0, NULL, -1, 0), KERR_UNKNOWN_MEMBER_ID);
    /* OffsetFetch: without member id and epoch, or the member's */
    assert_int_equal(gr_group_validate_offset_fetch(g, NULL, -1), KERR_NONE);
    assert_int_equal(gr_group_validate_offset_fetch(g, "A", 1), KERR_NONE);
    assert_int_equal(gr_group_validate_offset_fetch(g, "A", 0), KERR_STALE_MEMBER_EPOCH);
    assert_int_equal(gr_group_validate_offset_fetch(g, "Z", 1), KERR_UNKNOWN_MEMBER_ID);
    /* OffsetDelete: always (the subscribed topics are refused per partition) */
    assert_int_equal(gr_group_validate_offset_delete(g), KERR_NONE);
    assert_int_equal(gr_group_validate_offset_delete(NULL), KERR_GROUP_ID_NOT_FOUND);
    assert_true(gr_group_uses_consumer_protocol(g));
    /* no group: a commit without generation is a standalone one */
    assert_int_equal(gr_group_validate_txn_commit(NULL, "", 0, NULL, -1, 3), KERR_NONE);
    assert_int_equal(gr_group_validate_txn_commit(NULL, "A", 1, NULL, 1, 3), KERR_ILLEGAL_GENERATION);
    assert_int_equal(gr_group_validate_offset_fetch(NULL, "A", 1), KERR_NONE);
    /* the member leaves: an Empty group takes commits without a member */
    a = hb("A", -1, NULL, 0);
    assert_int_equal(a.err, KERR_NONE);
    gr_assign_free(&a.a);
    assert_int_equal(gr_cgroup_nmembers(CG()), 0);
    assert_int_equal(gr_group_validate_commit(g, "", 0, NULL, -1, 9), KERR_NONE);
    assert_int_equal(gr_group_validate_txn_commit(g, "", 0, NULL, -1, 3), KERR_NONE);
    assert_int_equal(gr_group_validate_txn_commit(g, "A", 1, NULL, 1, 3), KERR_UNKNOWN_MEMBER_ID);
}

/* A member moving from one regex to another at a heartbeat that also
 * refreshes the resolutions: the old regex's resolution goes (its
 * tombstone is not followed by a refreshed record), now and after a
 * restart. */
static hb_out_t hb_regex(const char *mid, int32_t epoch, const char *re)
{
    gr_cg_owned_t own = {{{0}}, NULL, 0};
    gr_cg_hb_t h = {.version = 1, .group_id = "g", .member_id = mid, .member_epoch = epoch,
                    .rebalance_timeout_ms = 10000, .regex = re, .owned = &own, .nowned = 0,
                    .client_id = "c", .client_host = "/127.0.0.1"};
    hb_out_t o = {0};
    gr_cgroup_heartbeat(&h, hb_cb, &o);
    for (int i = 0; i < 20 && !o.done; i++)
        gr_ev_run_once(gr_broker.ev, 5);
    assert_int_equal(o.done, 1);
    return o;
}

static void test_regex_change_during_refresh(void **st)
{
    (void)st;
    hb_out_t r = hb_regex("R", 0, "t.*");
    assert_int_equal(r.err, KERR_NONE);
    assert_int_equal(gr_assign_count(&r.a), 6);
    gr_assign_free(&r.a);
    assert_int_equal(gr_hmap_count(&CG()->regexes), 1);
    gr_topic_t *t2 = NULL;
    const char *msg = NULL;
    char *cfg[] = {NULL};
    assert_int_equal(gr_topic_create("t2", 2, 2, cfg, false, &t2, &msg), KERR_NONE);
    advance(11000);
    r = hb_regex("R", r.epoch, "x.*");
    assert_int_equal(r.err, KERR_NONE);
    gr_assign_free(&r.a);
    assert_int_equal(gr_hmap_count(&CG()->regexes), 1);
    broker_close();
    broker_open();
    assert_int_equal(gr_hmap_count(&CG()->regexes), 1);
}

/* ------------------------------------------------------------ over an in-memory log
 * __consumer_offsets on crt_memlog.h, whose appends can be made to fail:
 * a write the log refuses leaves the state as it was before it, and the
 * state a load builds from the log equals the live one. */

/* Every group as text, members and targets sorted: what the log holds
 * (live-only state, timers and a classic group's rebalance under way, is
 * left out). */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf_t;

static void sb(sbuf_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (s->len + (size_t)n + 1 > s->cap) {
        s->cap = (s->len + (size_t)n + 1) * 2;
        s->p = realloc(s->p, s->cap);
    }
    va_start(ap, fmt);
    vsnprintf(s->p + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

static void sb_hex(sbuf_t *s, const uint8_t *p, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        sb(s, "%02x", p[i]);
}

static void sb_assign(sbuf_t *s, const gr_assign_t *a)
{
    sb(s, "[");
    for (int32_t i = 0; a && i < a->n; i++) {
        sb(s, "%02x%02x:", a->t[i].topic.b[0], a->t[i].topic.b[15]);
        for (int32_t k = 0; k < a->t[i].n; k++)
            sb(s, "%d,", a->t[i].p[k]);
    }
    sb(s, "]");
}

static int cmp_cstrp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *dump_groups(void)
{
    sbuf_t s = {0};
    char *ids[64];
    int n = 0;
    for (gr_group_t *g = gr_group_next(NULL); g && n < 64; g = gr_group_next(g))
        ids[n++] = g->group_id;
    qsort(ids, (size_t)n, sizeof(*ids), cmp_cstrp);
    for (int i = 0; i < n; i++) {
        gr_group_t *g = gr_group_find(ids[i], strlen(ids[i]));
        sb(&s, "group %s offsets=%u", g->group_id, gr_offset_map_count(g->offsets));
        if (g->type == GR_GROUP_CLASSIC) {
            sb(&s, " classic gen=%d ptype=%s proto=%s leader=%s members=%d\n", g->generation_id,
               g->protocol_type ? g->protocol_type : "-", g->protocol_name ? g->protocol_name : "-",
               g->leader_id ? g->leader_id : "-", g->nmembers);
            for (gr_member_t *m = g->members; m; m = m->next) {
                sb(&s, "  member %s instance=%s session=%d rebalance=%d assignment=", m->member_id,
                   m->group_instance_id ? m->group_instance_id : "-", m->session_timeout_ms,
                   m->rebalance_timeout_ms);
                sb_hex(&s, m->assignment, m->assignment_len);
                sb(&s, "\n");
            }
            continue;
        }
        gr_cgroup_t *cg = g->cg;
        sb(&s, " consumer epoch=%d assignment_epoch=%d classic=%d targets=%u meta=", cg->group_epoch,
           cg->assignment_epoch, cg->nclassic, gr_hmap_count(&cg->targets));
        for (int32_t k = 0; k < cg->nmeta; k++)
            sb(&s, "%s/%d,", cg->meta[k].name, cg->meta[k].nparts);
        sb(&s, "\n");
        char *mids[64];
        int nm = 0;
        for (gr_cmember_t *m = gr_cgroup_next(cg, NULL); m && nm < 64; m = gr_cgroup_next(cg, m))
            mids[nm++] = m->member_id;
        qsort(mids, (size_t)nm, sizeof(*mids), cmp_cstrp);
        for (int k = 0; k < nm; k++) {
            gr_cmember_t *m = gr_cgroup_member(cg, mids[k]);
            sb(&s, "  member %s instance=%s epoch=%d prev=%d state=%d classic=%d rebalance=%d topics=", m->member_id,
               m->instance_id ? m->instance_id : "-", m->epoch, m->prev_epoch, m->state, m->classic_session_ms,
               m->rebalance_timeout_ms);
            for (int32_t t = 0; t < m->ntopics; t++)
                sb(&s, "%s,", m->topics[t]);
            for (int32_t p = 0; p < m->nprotos; p++) {
                sb(&s, " proto=%s:", m->protos[p].name);
                sb_hex(&s, m->protos[p].metadata, m->protos[p].len);
            }
            sb(&s, " assigned=");
            sb_assign(&s, &m->assigned);
            sb(&s, " revoking=");
            sb_assign(&s, &m->revoking);
            sb(&s, " target=");
            sb_assign(&s, gr_cgroup_target(cg, m->member_id));
            sb(&s, "\n");
        }
    }
    if (!s.p)
        sb(&s, "");
    return s.p;
}

static int setup_ml(void **st)
{
    use_memlog = true;
    return setup(st);
}

static int teardown_ml(void **st)
{
    teardown(st);
    use_memlog = false;
    return 0;
}

/* Stop, load the log again, compare with the live state. */
static void assert_reload_equal(void)
{
    spin();
    char *live = dump_groups();
    broker_close();
    broker_open();
    char *loaded = dump_groups();
    if (strcmp(live, loaded)) {
        fprintf(stderr, "--- live\n%s--- loaded\n%s", live, loaded);
        fail_msg("the state loaded from the log differs from the live state");
    }
    free(live);
    free(loaded);
}

/* An upgraded group: classic member c1 (rejoined, 3 partitions) and the
 * consumer-protocol member A (the other 3). */
static int32_t mixed_group(char *c1)
{
    int32_t gen = classic_group(c1, 120000, 5000);  /* a session longer than A's */
    hb_out_t a = hb("A", 0, NULL, 0);
    assert_int_equal(a.err, KERR_NONE);
    gr_assign_free(&a.a);
    hb_out_t j = classic_join(c1, 120000);
    assert_int_equal(j.err, KERR_NONE);
    gr_assign_free(&j.a);
    uint8_t *ab = NULL;
    int32_t al = 0;
    assert_int_equal(gr_cgroup_classic_sync(gr_group_find("g", 1), c1, NULL, gen + 1, "consumer", "range", &ab, &al),
                     KERR_NONE);
    free(ab);
    a = hb("A", gen + 1, NULL, 0);
    assert_int_equal(a.err, KERR_NONE);
    gr_assign_free(&a.a);
    return gen;
}

static void test_downgrade_append_fails(void **st)
{
    (void)st;
    char c1[64];
    int32_t gen = mixed_group(c1);
    char *before = dump_groups();
    /* A leaves: the downgrade's append fails, the group stays what the log
     * says, a consumer group with both members */
    ml.fail_next = 1;
    hb_out_t a = hb("A", -1, NULL, 0);
    assert_int_not_equal(a.err, KERR_NONE);
    gr_assign_free(&a.a);
    gr_group_t *g = gr_group_find("g", 1);
    assert_int_equal(g->type, GR_GROUP_CONSUMER);
    assert_int_equal(g->nmembers, 0);
    char *after = dump_groups();
    assert_string_equal(before, after);
    free(after);
    assert_reload_equal();
    /* the session of A (restored) runs again: A is fenced, and the group
     * becomes classic then, its member told to rejoin */
    assert_int_equal(gr_cgroup_classic_heartbeat(gr_group_find("g", 1), c1, NULL, gen + 1), KERR_NONE);
    advance(gr_cgroup_session_timeout_ms() + 1);
    spin();
    g = gr_group_find("g", 1);
    assert_int_equal(g->type, GR_GROUP_CLASSIC);
    assert_int_equal(g->nmembers, 1);
    assert_int_equal(g->state, GR_GROUP_PREPARING_REBALANCE);
    assert_int_equal(gr_group_heartbeat("g", c1, NULL, gen + 1), KERR_REBALANCE_IN_PROGRESS);
    free(before);
    assert_reload_equal();
}

static void test_downgrade_fence_append_fails(void **st)
{
    (void)st;
    char c1[64];
    int32_t gen = mixed_group(c1);
    char *before = dump_groups();
    /* A stops heartbeating (c1 goes on): its fence is a downgrade whose
     * append fails */
    ml.fail_next = 1;
    int64_t session = gr_cgroup_session_timeout_ms();
    advance(session / 2);
    assert_int_equal(gr_cgroup_classic_heartbeat(gr_group_find("g", 1), c1, NULL, gen + 1), KERR_NONE);
    advance(session / 2 + 1);
    spin();
    gr_group_t *g = gr_group_find("g", 1);
    assert_int_equal(g->type, GR_GROUP_CONSUMER);
    char *after = dump_groups();
    assert_string_equal(before, after);
    free(after);
    free(before);
    /* A's session runs again: fenced for good once the log takes it */
    assert_int_equal(gr_cgroup_classic_heartbeat(g, c1, NULL, gen + 1), KERR_NONE);
    advance(session + 1);
    spin();
    g = gr_group_find("g", 1);
    assert_int_equal(g->type, GR_GROUP_CLASSIC);
    assert_int_equal(g->nmembers, 1);
    assert_reload_equal();
}

static void test_upgrade_append_fails(void **st)
{
    (void)st;
    char c1[64];
    int32_t gen = classic_group(c1, 30000, 5000);
    char *before = dump_groups();
    gr_group_t *g = gr_group_find("g", 1);
    gr_group_state_t state = g->state;
    /* A joins: the upgrade's append fails; once the append failed (before
     * A is answered) the classic group is back with its member */
    ml.fail_next = 1;
    gr_topic_t *t = gr_topic_find("t", 1);
    gr_cg_owned_t own = {t->id, NULL, 0};
    gr_cg_hb_t h = {.version = 1, .group_id = "g", .member_id = "A", .member_epoch = 0, .rebalance_timeout_ms = 10000,
                    .topics = topics1, .ntopics = 1, .owned = &own, .client_id = "c", .client_host = "/127.0.0.1"};
    hb_out_t o = {0};
    gr_cgroup_heartbeat(&h, hb_cb, &o);
    g = gr_group_find("g", 1);
    assert_int_equal(g->type, GR_GROUP_CONSUMER);       /* replayed at once */
    gr_coord_flush_commits(g->coord_partition);          /* the append fails */
    assert_int_equal(o.done, 0);
    g = gr_group_find("g", 1);
    assert_int_equal(g->type, GR_GROUP_CLASSIC);
    assert_int_equal(g->nmembers, 1);
    assert_int_equal(g->state, state);
    char *after = dump_groups();
    assert_string_equal(before, after);
    free(after);
    for (int i = 0; i < 20 && !o.done; i++)
        gr_ev_run_once(gr_broker.ev, 5);
    assert_int_equal(o.done, 1);
    assert_int_not_equal(o.err, KERR_NONE);
    gr_assign_free(&o.a);
    assert_int_equal(gr_group_heartbeat("g", c1, NULL, gen), KERR_NONE);
    after = dump_groups();
    assert_string_equal(before, after);
    free(after);
    free(before);
    assert_reload_equal();
    /* and the upgrade goes through once the log takes it */
    hb_out_t a = hb("A", 0, NULL, 0);
    assert_int_equal(a.err, KERR_NONE);
    gr_assign_free(&a.a);
    assert_int_equal(gr_group_find("g", 1)->type, GR_GROUP_CONSUMER);
    assert_reload_equal();
}

/* Random heartbeats (joins, updates, leaves, classic members' joins),
 * commits, session timeouts, some of them on a log that refuses the
 * append: the state a load builds from the log equals the live one. */
static void test_property_reload_equals_live_cgroups(void **st)
{
    (void)st;
    unsigned seed = 848;
    const char *env = getenv("GR_TEST_SEED");
    if (env)
        seed = (unsigned)strtoul(env, NULL, 10);
    srand(seed);
    static const char *mids[] = {"A", "B", "C"};
    enum { ROUNDS = 20, OPS = 40 };
    int32_t epoch[3] = {0};         /* a member's last epoch, 0: not a member */
    int nfail = 0, ndown = 0, nup = 0, ndown_refused = 0;
    char c1[64] = "";
    (void)classic_group(c1, 120000, 5000);
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < OPS; i++) {
            int kind = rand() % 12;
            int k = rand() % 3;
            bool fail = rand() % 5 == 0;
            ml.fail_next = fail ? 1 : 0;
            gr_group_t *g = gr_group_find("g", 1);
            bool was_consumer = g && g->type == GR_GROUP_CONSUMER;
            bool classic_live = g && g->type == GR_GROUP_CLASSIC && g->nmembers > 0;
            if (kind < 5) {
                /* a consumer-protocol member: join, or heartbeat with what
                 * it was last given */
                int32_t e = epoch[k];
                if (e && was_consumer && !gr_cgroup_member(g->cg, mids[k]))
                    e = 0;
                hb_out_t o = hb(mids[k], e, NULL, 0);
                if (o.err == KERR_NONE)
                    epoch[k] = o.epoch;
                else if (o.err == KERR_FENCED_MEMBER_EPOCH || o.err == KERR_UNKNOWN_MEMBER_ID ||
                         o.err == KERR_GROUP_ID_NOT_FOUND)
                    epoch[k] = 0;       /* it joins again */
                else
                    nfail++;
                if (o.err == KERR_NONE && classic_live)
                    nup++;
                gr_assign_free(&o.a);
            } else if (kind < 8) {
                if (!epoch[k])
                    continue;
                /* the last consumer-protocol member among classic ones */
                bool last = was_consumer && gr_cgroup_member(g->cg, mids[k]) && gr_cgroup_nmembers(g->cg) > 1 &&
                            g->cg->nclassic == gr_cgroup_nmembers(g->cg) - 1;
                if (last && rand() % 2) {
                    fail = true;    /* a downgrade the log refuses, often */
                    ml.fail_next = 1;
                }
                hb_out_t o = hb(mids[k], -1, NULL, 0);
                if (o.err == KERR_NONE) {
                    epoch[k] = 0;
                    gr_group_t *g2 = gr_group_find("g", 1);
                    if (was_consumer && g2 && g2->type == GR_GROUP_CLASSIC)
                        ndown++;
                } else {
                    nfail++;
                    if (last && fail)
                        ndown_refused++;
                }
                gr_assign_free(&o.a);
            } else if (kind < 9) {
                /* the classic member joins: the consumer group (and syncs),
                 * or the classic group it left */
                if (!was_consumer) {
                    if (g && g->nmembers > 0)
                        continue;
                    ml.fail_next = 0;
                    (void)classic_group(c1, 120000, 5000);
                    continue;
                }
                hb_out_t o = classic_join(c1, 120000);
                gr_assign_free(&o.a);
                if (o.err != KERR_NONE) {
                    nfail++;
                    continue;
                }
                uint8_t *ab = NULL;
                int32_t al = 0;
                gr_cgroup_classic_sync(gr_group_find("g", 1), c1, NULL, o.epoch, "consumer", "range", &ab, &al);
                free(ab);
            } else if (kind < 11) {
                gr_coord_commit_t c = {.topic = "t", .topic_len = 1, .partition = rand() % 6,
                                       .offset = rand() % 1000, .leader_epoch = -1, .commit_timestamp = fake_now,
                                       .expire_timestamp = -1};
                hb_out_t o = {0};
                gr_coord_commit_offsets("g", 1, "m", &c, 1, commit_cb, &o);
                for (int w = 0; w < 20 && !o.done; w++)
                    gr_ev_run_once(gr_broker.ev, 5);
                assert_int_equal(o.done, 1);
            } else {
                /* time passes on a log that works (a classic group's
                 * GroupMetadata is not rolled back): sessions expire */
                ml.fail_next = 0;
                advance(rand() % 2 ? 1000 : gr_cgroup_session_timeout_ms() + 1);
                spin();
                gr_group_t *g2 = gr_group_find("g", 1);
                if (was_consumer && g2 && g2->type == GR_GROUP_CLASSIC && g2->nmembers > 0)
                    ndown++;        /* the last consumer-protocol member was fenced */
            }
            /* an append failed, or now and then: the log loads into the
             * live state (the members' sessions start again) */
            bool refused = fail && ml.fail_next == 0;
            ml.fail_next = 0;
            if (refused || rand() % 8 == 0)
                assert_reload_equal();
        }
        ml.fail_next = 0;
        assert_reload_equal();
    }
    if (getenv("CG_DEBUG"))
        fprintf(stderr, "failed %d, downgrades %d (refused %d), upgrades %d\n", nfail, ndown, ndown_refused, nup);
    assert_true(nfail > 0);
    assert_true(ndown > 0 && nup > 0 && ndown_refused > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reconcile),
        cmocka_unit_test_setup_teardown(test_revoke_before_move_and_timeouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebalance_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_members_undisturbed_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_upgrade_restart_downgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_join_timeout_and_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_static_replacement_downgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_validators, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regex_change_during_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_downgrade_append_fails, setup_ml, teardown_ml),
        cmocka_unit_test_setup_teardown(test_downgrade_fence_append_fails, setup_ml, teardown_ml),
        cmocka_unit_test_setup_teardown(test_upgrade_append_fails, setup_ml, teardown_ml),
        cmocka_unit_test_setup_teardown(test_property_reload_equals_live_cgroups, setup_ml, teardown_ml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
