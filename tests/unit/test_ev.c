/*
 * test_ev.c - event loop (timers, hooks, helper lanes, stop) and the
 * connection layer over a socketpair (framing, pipelining, in-order
 * output, ApiVersions incl. KIP-511, closes on bad input, sendfile).
 *
 * The API handlers other than ApiVersions are replaced by the test
 * handlers below (gr_api_set_handler, in main).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api.h"
#include "ev.h"
#include "net.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------ test handlers */

static gr_req_t *parked_q[1100];    /* Metadata parks until park_release() */
static int nparked;
#define parked (nparked ? parked_q[0] : NULL)
static int cancels;
static gr_file_t *big_file;
static size_t big_len;

static void answer_i16(gr_req_t *req, int16_t v)
{
    gr_wr_t *w = gr_resp_begin(req);
    gr_wr_i16(w, v);
    gr_resp_end(req);
}

static void park_cancel(gr_req_t *req)
{
    cancels++;
    for (int i = 0; i < nparked; i++)
        if (parked_q[i] == req) {
            memmove(parked_q + i, parked_q + i + 1, sizeof(*parked_q) * (size_t)(nparked - i - 1));
            nparked--;
            break;
        }
}

static void serve_metadata(gr_req_t *req, gr_rd_t *body)
{
    GR_UNUSED(body);
    parked_q[nparked++] = req;
    req->on_cancel = park_cancel;
}

static void park_release(void)
{
    gr_req_t *r = parked_q[0];
    memmove(parked_q, parked_q + 1, sizeof(*parked_q) * (size_t)(nparked - 1));
    nparked--;
    r->on_cancel = NULL;
    answer_i16(r, 3);
}

static void serve_produce(gr_req_t *req, gr_rd_t *body)
{
    GR_UNUSED(body);
    answer_i16(req, 0);
}

static void serve_fetch(gr_req_t *req, gr_rd_t *body)
{
    /* header in memory, then a file range */
    GR_UNUSED(body);
    gr_wr_t *w = gr_resp_begin(req);
    gr_wr_i32(w, (int32_t)big_len);
    gr_wr_file(w, big_file, 0, big_len);
    gr_resp_end(req);
}

static void serve_list_offsets(gr_req_t *req, gr_rd_t *body)
{
    GR_UNUSED(body);
    answer_i16(req, 2);
}

static void serve_create_topics(gr_req_t *req, gr_rd_t *body)
{
    GR_UNUSED(body);
    gr_req_bad(req, "test says no");
}

static void serve_delete_topics(gr_req_t *req, gr_rd_t *body)
{
    GR_UNUSED(body);
    gr_resp_none(req);
}

static void serve_create_partitions(gr_req_t *req, gr_rd_t *body)
{
    GR_UNUSED(body);
    answer_i16(req, 37);
}

static void serve_describe_configs(gr_req_t *req, gr_rd_t *body)
{
    GR_UNUSED(body);
    answer_i16(req, 32);
}

static void serve_incremental_alter_configs(gr_req_t *req, gr_rd_t *body)
{
    GR_UNUSED(body);
    answer_i16(req, 44);
}

static void serve_describe_cluster(gr_req_t *req, gr_rd_t *body)
{
    GR_UNUSED(body);
    answer_i16(req, 60);
}

static void serve_alter_configs(gr_req_t *req, gr_rd_t *body)
{
    GR_UNUSED(body);
    answer_i16(req, 33);
}

/* ------------------------------------------------------------ timers */

static int order[16];
static int norder;

typedef struct tctx {
    int id;
    gr_timer_t t;
    bool stop_after;
} tctx_t;

static void timer_cb(gr_ev_t *ev, void *arg)
{
    tctx_t *c = arg;
    order[norder++] = c->id;
    if (c->stop_after)
        gr_ev_stop(ev);
}

static void test_timers_in_order(void **state)
{
    GR_UNUSED(state);
    gr_ev_t *ev = gr_ev_new();
    tctx_t t[5] = {{.id = 1}, {.id = 2}, {.id = 3}, {.id = 4}, {.id = 5, .stop_after = true}};
    for (int i = 0; i < 5; i++)
        gr_timer_init(&t[i].t, timer_cb, &t[i]);
    norder = 0;
    gr_timer_start(ev, &t[0].t, 30);
    gr_timer_start(ev, &t[1].t, 10);
    gr_timer_start(ev, &t[2].t, 20);
    gr_timer_start(ev, &t[3].t, 10);     /* same deadline as 2 or later: after 2 */
    gr_timer_start(ev, &t[4].t, 40);
    int64_t t0 = gr_mono_ms();
    assert_int_equal(gr_ev_run(ev), 0);
    assert_true(gr_mono_ms() - t0 >= 40);
    assert_int_equal(norder, 5);
    int want[] = {2, 4, 3, 1, 5};
    for (int i = 0; i < 5; i++)
        assert_int_equal(order[i], want[i]);
    gr_ev_free(ev);
}

static void test_timer_stop_restart(void **state)
{
    GR_UNUSED(state);
    gr_ev_t *ev = gr_ev_new();
    tctx_t a = {.id = 1}, b = {.id = 2}, s = {.id = 9, .stop_after = true};
    gr_timer_init(&a.t, timer_cb, &a);
    gr_timer_init(&b.t, timer_cb, &b);
    gr_timer_init(&s.t, timer_cb, &s);
    norder = 0;
    gr_timer_start(ev, &a.t, 5);
    gr_timer_start(ev, &b.t, 10);
    assert_true(gr_timer_armed(&a.t));
    gr_timer_stop(ev, &a.t);
    assert_false(gr_timer_armed(&a.t));
    gr_timer_stop(ev, &a.t);            /* twice is fine */
    gr_timer_start(ev, &b.t, 30);       /* re-arm moves it */
    gr_timer_start(ev, &a.t, 20);
    gr_timer_start(ev, &s.t, 50);
    gr_ev_run(ev);
    assert_int_equal(norder, 3);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 9);
    gr_ev_free(ev);
}

static int64_t fired_us;

static void stamp_stop_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(arg);
    fired_us = gr_mono_us();
    gr_ev_stop(ev);
}

/* A long sleep wakes the loop shortly before the deadline (kernel slack):
 * the timer itself still never fires early. */
static void test_long_timer_not_early(void **state)
{
    GR_UNUSED(state);
    gr_ev_t *ev = gr_ev_new();
    gr_timer_t t;
    gr_timer_init(&t, stamp_stop_cb, NULL);
    int64_t t0 = gr_mono_us();
    gr_timer_start(ev, &t, 300);
    fired_us = 0;
    assert_int_equal(gr_ev_run(ev), 0);
    assert_true(fired_us - t0 >= 300000);
    assert_true(fired_us - t0 < 2000000);
    gr_ev_free(ev);
}

/* A delay of 2^63-1 ms (a config at its largest) is "never": the deadline
 * saturates instead of overflowing, and the loop still runs other timers. */
static void test_timer_far_future(void **state)
{
    GR_UNUSED(state);
    gr_ev_t *ev = gr_ev_new();
    gr_timer_t far, far_us;
    tctx_t s = {.id = 1, .stop_after = true};
    gr_timer_init(&far, timer_cb, &s);
    gr_timer_init(&far_us, timer_cb, &s);
    gr_timer_init(&s.t, timer_cb, &s);
    norder = 0;
    gr_timer_start(ev, &far, INT64_MAX);
    gr_timer_start_us(ev, &far_us, INT64_MAX);
    gr_timer_start(ev, &s.t, 5);
    assert_int_equal(far.when_us, INT64_MAX);
    assert_int_equal(far_us.when_us, INT64_MAX);
    assert_true(gr_ev_run_once(ev, INT64_MAX) >= 0);     /* sleeps until s is due */
    if (norder == 0)
        assert_int_equal(gr_ev_run(ev), 0);
    assert_int_equal(norder, 1);
    assert_true(gr_timer_armed(&far) && gr_timer_armed(&far_us));
    gr_timer_stop(ev, &far);
    gr_timer_stop(ev, &far_us);
    gr_ev_free(ev);
}

/* ------------------------------------------------------------ hooks */

static int hook_runs;

static void hook_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(arg);
    if (++hook_runs == 3)
        gr_ev_stop(ev);
}

static void noop_timer(gr_ev_t *ev, void *arg)
{
    gr_timer_t *t = arg;
    gr_timer_start(ev, t, 1);
}

static void test_before_sleep(void **state)
{
    GR_UNUSED(state);
    gr_ev_t *ev = gr_ev_new();
    gr_timer_t t;
    gr_timer_init(&t, noop_timer, &t);
    gr_timer_start(ev, &t, 1);
    hook_runs = 0;
    gr_ev_before_sleep(ev, hook_cb, NULL);
    gr_ev_run(ev);
    assert_int_equal(hook_runs, 3);
    assert_true(gr_ev_now_ms(ev) > 0);
    gr_timer_stop(ev, &t);
    gr_ev_free(ev);
}

/* ------------------------------------------------------------ helper lanes */

#define NJOBS 200
static pthread_t loop_thread;
static int work_seen[GR_EV_LANES][NJOBS];
static int nwork[GR_EV_LANES];
static int done_seen[GR_EV_LANES][NJOBS];
static int ndone[GR_EV_LANES];
static int total_done;
static bool work_on_loop;
static bool done_off_loop;
static gr_ev_t *job_ev;

typedef struct job {
    int lane, n;
} job_t;
static job_t jobs[GR_EV_LANES][NJOBS];

static void job_work(void *arg)
{
    job_t *j = arg;
    if (pthread_equal(pthread_self(), loop_thread))
        work_on_loop = true;
    work_seen[j->lane][nwork[j->lane]++] = j->n;   /* one thread per lane */
    if (j->n % 50 == 0)
        usleep(1000);
}

static void job_done(void *arg)
{
    job_t *j = arg;
    if (!pthread_equal(pthread_self(), loop_thread))
        done_off_loop = true;
    done_seen[j->lane][ndone[j->lane]++] = j->n;
    if (++total_done == GR_EV_LANES * NJOBS)
        gr_ev_stop(job_ev);
}

static void test_submit_order(void **state)
{
    GR_UNUSED(state);
    gr_ev_t *ev = gr_ev_new();
    job_ev = ev;
    loop_thread = pthread_self();
    memset(nwork, 0, sizeof(nwork));
    memset(ndone, 0, sizeof(ndone));
    total_done = 0;
    for (int n = 0; n < NJOBS; n++)
        for (int l = 0; l < GR_EV_LANES; l++) {
            jobs[l][n] = (job_t){l, n};
            gr_ev_submit(ev, l, job_work, job_done, &jobs[l][n]);
        }
    gr_ev_run(ev);
    assert_false(work_on_loop);
    assert_false(done_off_loop);
    for (int l = 0; l < GR_EV_LANES; l++) {
        assert_int_equal(ndone[l], NJOBS);
        for (int n = 0; n < NJOBS; n++) {
            assert_int_equal(work_seen[l][n], n);
            assert_int_equal(done_seen[l][n], n);
        }
    }
    /* drain without running the loop */
    total_done = 0;
    memset(nwork, 0, sizeof(nwork));
    memset(ndone, 0, sizeof(ndone));
    for (int n = 0; n < 20; n++)
        gr_ev_submit(ev, 1, job_work, job_done, &jobs[1][n]);
    gr_ev_drain(ev);
    assert_int_equal(ndone[1], 20);
    gr_ev_free(ev);
}

/* ------------------------------------------------------------ stop from a thread */

static void *stopper(void *arg)
{
    usleep(20000);
    gr_ev_stop(arg);
    return NULL;
}

static void test_stop_from_thread(void **state)
{
    GR_UNUSED(state);
    gr_ev_t *ev = gr_ev_new();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopper, ev), 0);
    int64_t t0 = gr_mono_ms();
    assert_int_equal(gr_ev_run(ev), 0);
    assert_true(gr_ev_stopping(ev));
    assert_true(gr_mono_ms() - t0 < 5000);
    pthread_join(th, NULL);
    gr_ev_free(ev);
}

/* ------------------------------------------------------------ connections */

typedef struct client {
    gr_ev_t *ev;
    int fd;
    uint8_t buf[1 << 21];
    size_t len;
} client_t;

static client_t *cl;

static void put16(uint8_t *p, int16_t v) { p[0] = (uint8_t)((uint16_t)v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    p[0] = (uint8_t)(u >> 24); p[1] = (uint8_t)(u >> 16); p[2] = (uint8_t)(u >> 8); p[3] = (uint8_t)u;
}
static int32_t get32(const uint8_t *p) { return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]); }
static int16_t get16(const uint8_t *p) { return (int16_t)(p[0] << 8 | p[1]); }

/* Build a request frame into out; returns its length. */
static size_t frame(uint8_t *out, int16_t key, int16_t ver, int32_t corr, bool flex, const void *body, size_t blen)
{
    size_t n = 4;
    put16(out + n, key); n += 2;
    put16(out + n, ver); n += 2;
    put32(out + n, corr); n += 4;
    put16(out + n, 4); n += 2;
    memcpy(out + n, "test", 4); n += 4;
    if (flex)
        out[n++] = 0;
    if (blen)
        memcpy(out + n, body, blen);
    n += blen;
    put32(out, (int32_t)(n - 4));
    return n;
}

static void csend(const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(cl->fd, b, n);
        if (w == -1) {
            assert_true(errno == EAGAIN);
            gr_ev_run_once(cl->ev, 1);
            continue;
        }
        b += w;
        n -= (size_t)w;
    }
}

/* Run the loop until a whole response frame is in; returns its payload
 * length (frame at cl->buf+4), -1 on EOF, -2 on timeout. */
static int crecv(void)
{
    int64_t deadline = gr_mono_ms() + 3000;
    for (;;) {
        if (cl->len >= 4 && cl->len >= 4 + (size_t)get32(cl->buf))
            return get32(cl->buf);
        ssize_t r = read(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len);
        if (r == 0)
            return -1;
        if (r > 0) {
            cl->len += (size_t)r;
            continue;
        }
        if (errno == ECONNRESET)
            return -1;
        if (gr_mono_ms() > deadline)
            return -2;
        gr_ev_run_once(cl->ev, 5);
    }
}

static void cconsume(void)
{
    size_t n = 4 + (size_t)get32(cl->buf);
    memmove(cl->buf, cl->buf + n, cl->len - n);
    cl->len -= n;
}

static int setup_conn(void **state)
{
    GR_UNUSED(state);
    cl = calloc(1, sizeof(*cl));
    cl->ev = gr_ev_new();
    gr_net_opts_t o = {.max_request_bytes = 1 << 20, .idle_ms = -1};
    gr_net_init(cl->ev, &o);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(gr_net_adopt(sv[0], "test-peer"), 0);
    cl->fd = sv[1];
    cancels = 0;
    nparked = 0;
    return 0;
}

static int teardown_conn(void **state)
{
    GR_UNUSED(state);
    gr_net_close_all();
    assert_int_equal(gr_net_conn_count(), 0);
    close(cl->fd);
    gr_ev_free(cl->ev);
    free(cl);
    cl = NULL;
    return 0;
}

static void test_api_versions(void **state)
{
    GR_UNUSED(state);
    uint8_t b[256];
    /* v0, v3 (flexible request, header v0 response), v7 (KIP-511) pipelined */
    uint8_t body3[] = {6, 'g', 'r', 't', 'e', 's', 3, '1', '.', 0};
    size_t n = frame(b, 18, 0, 100, false, NULL, 0);
    n += frame(b + n, 18, 3, 101, true, body3, sizeof(body3));
    n += frame(b + n, 18, 7, 102, true, NULL, 0);
    csend(b, n);

    int len = crecv();
    assert_true(len > 0);
    assert_int_equal(get32(cl->buf + 4), 100);
    assert_int_equal(get16(cl->buf + 8), 0);                 /* ErrorCode */
    int32_t count = get32(cl->buf + 10);
    assert_int_equal(count, gr_api_count());
    assert_int_equal(len, 4 + 2 + 4 + 6 * count);
    bool saw_fetch = false;
    for (int i = 0; i < count; i++) {
        const uint8_t *e = cl->buf + 14 + 6 * i;
        assert_int_equal(get16(e + 2), 0);                   /* all mins are 0 */
        if (get16(e) == 1) {
            saw_fetch = true;
            assert_int_equal(get16(e + 4), 17);
        }
    }
    assert_true(saw_fetch);
    cconsume();

    len = crecv();
    assert_true(len > 0);
    assert_int_equal(get32(cl->buf + 4), 101);
    assert_int_equal(get16(cl->buf + 8), 0);                 /* no header tag byte */
    assert_int_equal(cl->buf[10], count + 1);                /* compact array */
    cconsume();

    len = crecv();
    assert_true(len > 0);
    assert_int_equal(get32(cl->buf + 4), 102);
    assert_int_equal(get16(cl->buf + 8), 35);                /* UNSUPPORTED_VERSION */
    assert_int_equal(get32(cl->buf + 10), count);            /* v0 layout */
    cconsume();
    assert_int_equal(gr_net_conn_count(), 1);
}

static void test_pipelined_in_order(void **state)
{
    GR_UNUSED(state);
    uint8_t b[512];
    size_t n = frame(b, 3, 0, 1, false, "\0\0\0\0", 4);      /* parks */
    n += frame(b + n, 0, 3, 2, false, NULL, 0);              /* answers at once */
    n += frame(b + n, 20, 0, 3, false, NULL, 0);             /* no response */
    n += frame(b + n, 2, 1, 4, false, NULL, 0);
    n += frame(b + n, 3, 9, 5, true, NULL, 0);               /* parks too, flexible */
    csend(b, n);
    for (int i = 0; i < 20; i++)
        gr_ev_run_once(cl->ev, 1);
    assert_int_equal(cl->len, 0);
    assert_int_equal(crecv(), -2);                          /* nothing before the head is done */
    assert_non_null(parked);
    gr_req_t *first = parked;
    assert_int_equal(first->correlation_id, 1);
    park_release();
    /* the second Metadata parked after the first: release order matters not */
    assert_true(crecv() > 0);
    assert_int_equal(get32(cl->buf + 4), 1);
    cconsume();
    assert_true(crecv() > 0);
    assert_int_equal(get32(cl->buf + 4), 2);
    cconsume();
    assert_true(crecv() > 0);
    assert_int_equal(get32(cl->buf + 4), 4);
    cconsume();
    assert_false(gr_net_idle());
    park_release();
    assert_true(crecv() > 0);
    assert_int_equal(get32(cl->buf + 4), 5);
    assert_int_equal(cl->buf[8], 0);                         /* header v1 tag byte */
    assert_int_equal(get16(cl->buf + 9), 3);
    cconsume();
    for (int i = 0; i < 3; i++)
        gr_ev_run_once(cl->ev, 1);
    assert_true(gr_net_idle());
}

static void test_fragmented_input(void **state)
{
    GR_UNUSED(state);
    uint8_t b[64 * 1024];
    uint8_t body[40000];
    memset(body, 'x', sizeof(body));
    size_t n = frame(b, 2, 0, 77, false, body, sizeof(body));
    n += frame(b + n, 2, 0, 78, false, NULL, 0);
    for (size_t off = 0; off < n;) {
        size_t step = off < 20 ? 1 : 3000;
        step = GR_MIN(step, n - off);
        csend(b + off, step);
        off += step;
        gr_ev_run_once(cl->ev, 0);
    }
    assert_true(crecv() > 0);
    assert_int_equal(get32(cl->buf + 4), 77);
    cconsume();
    assert_true(crecv() > 0);
    assert_int_equal(get32(cl->buf + 4), 78);
    cconsume();
}

static void expect_closed(void)
{
    assert_int_equal(crecv(), -1);
    for (int i = 0; i < 3; i++)
        gr_ev_run_once(cl->ev, 1);
    assert_int_equal(gr_net_conn_count(), 0);
}

static void test_oversized_closes(void **state)
{
    GR_UNUSED(state);
    uint8_t b[8];
    put32(b, 0x7fffffff);
    put32(b + 4, 0);
    csend(b, sizeof(b));
    expect_closed();
}

static void test_negative_size_closes(void **state)
{
    GR_UNUSED(state);
    uint8_t b[4];
    put32(b, -5);
    csend(b, sizeof(b));
    expect_closed();
}

static void test_unknown_key_closes(void **state)
{
    GR_UNUSED(state);
    uint8_t b[64];
    size_t n = frame(b, 999, 0, 1, false, NULL, 0);
    csend(b, n);
    expect_closed();
}

static void test_unsupported_version_closes(void **state)
{
    GR_UNUSED(state);
    uint8_t b[64];
    size_t n = frame(b, 0, 42, 1, true, NULL, 0);
    csend(b, n);
    expect_closed();
}

static void test_garbage_header_closes(void **state)
{
    GR_UNUSED(state);
    uint8_t b[16] = {0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f};   /* client_id claims 0x7f.. bytes */
    csend(b, 13);
    expect_closed();
}

static void test_bad_request_cancels_parked(void **state)
{
    GR_UNUSED(state);
    uint8_t b[128];
    size_t n = frame(b, 3, 0, 1, false, NULL, 0);            /* parks */
    n += frame(b + n, 19, 0, 2, false, NULL, 0);             /* gr_req_bad */
    n += frame(b + n, 2, 0, 3, false, NULL, 0);              /* never dispatched */
    csend(b, n);
    expect_closed();
    assert_int_equal(cancels, 1);
    assert_null(parked);
    assert_true(gr_net_idle());
}

static void test_peer_eof_answers_then_closes(void **state)
{
    GR_UNUSED(state);
    uint8_t b[64];
    size_t n = frame(b, 2, 0, 9, false, NULL, 0);
    csend(b, n);
    shutdown(cl->fd, SHUT_WR);
    assert_true(crecv() > 0);
    assert_int_equal(get32(cl->buf + 4), 9);
    cconsume();
    expect_closed();
}

static void test_sendfile_chunk(void **state)
{
    GR_UNUSED(state);
    char path[] = "/tmp/gr_test_ev_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    big_len = 1000 * 1000;
    uint8_t *data = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        data[i] = (uint8_t)(i * 7);
    assert_int_equal(write(fd, data, big_len), (ssize_t)big_len);
    big_file = gr_file_new(fd);
    uint8_t b[64];
    size_t n = frame(b, 1, 4, 5, false, NULL, 0);
    n += frame(b + n, 2, 0, 6, false, NULL, 0);
    csend(b, n);
    int len = crecv();
    assert_int_equal(len, 4 + 4 + (int)big_len);
    assert_int_equal(get32(cl->buf + 4), 5);
    assert_int_equal(get32(cl->buf + 8), (int32_t)big_len);
    assert_memory_equal(cl->buf + 12, data, big_len);
    cconsume();
    assert_true(crecv() > 0);
    assert_int_equal(get32(cl->buf + 4), 6);
    cconsume();
    gr_file_unref(big_file);
    big_file = NULL;
    free(data);
}

static void test_backpressure(void **state)
{
    GR_UNUSED(state);
    /* 3000 requests behind a parked one: reading pauses at 1000 queued */
    static uint8_t b[3001 * 32];
    size_t n = frame(b, 3, 0, 0, false, NULL, 0);
    for (int i = 1; i <= 3000; i++)
        n += frame(b + n, 2, 0, i, false, NULL, 0);
    size_t off = 0;
    for (int i = 0; i < 200 && off < n; i++) {
        ssize_t w = write(cl->fd, b + off, n - off);
        if (w > 0)
            off += (size_t)w;
        gr_ev_run_once(cl->ev, 1);
    }
    for (int i = 0; i < 10; i++)
        gr_ev_run_once(cl->ev, 1);
    assert_false(gr_net_idle());
    assert_non_null(parked);
    park_release();
    if (off < n)
        csend(b + off, n - off);
    for (int i = 0; i <= 3000; i++) {
        int len = crecv();
        assert_true(len > 0);
        assert_int_equal(get32(cl->buf + 4), i);
        cconsume();
    }
}

static void release_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    GR_UNUSED(arg);
    park_release();
}

static void test_drain(void **state)
{
    GR_UNUSED(state);
    uint8_t b[64];
    size_t n = frame(b, 3, 0, 11, false, NULL, 0);            /* parks */
    csend(b, n);
    for (int i = 0; i < 5 && !parked; i++)
        gr_ev_run_once(cl->ev, 1);
    assert_non_null(parked);
    gr_timer_t t;
    gr_timer_init(&t, release_cb, NULL);
    gr_timer_start(cl->ev, &t, 20);
    int64_t t0 = gr_mono_ms();
    gr_net_drain(cl->ev, 2000);
    assert_true(gr_mono_ms() - t0 < 1000);
    assert_true(gr_net_idle());
    assert_true(crecv() > 0);
    assert_int_equal(get32(cl->buf + 4), 11);
    cconsume();
    /* a drain that times out */
    n = frame(b, 3, 0, 12, false, NULL, 0);
    gr_net_init(cl->ev, &(gr_net_opts_t){.max_request_bytes = 1 << 20, .idle_ms = -1});
    csend(b, n);
    for (int i = 0; i < 5 && !parked; i++)
        gr_ev_run_once(cl->ev, 1);
    assert_non_null(parked);
    gr_net_drain(cl->ev, 30);
    assert_false(gr_net_idle());
    gr_net_close_all();
    assert_int_equal(cancels, 1);
}

static void test_idle_close(void **state)
{
    GR_UNUSED(state);
    gr_net_init(cl->ev, &(gr_net_opts_t){.idle_ms = 30});
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(gr_net_adopt(sv[0], "idle-peer"), 0);
    assert_int_equal(gr_net_conn_count(), 2);
    int64_t t0 = gr_mono_ms();
    while (gr_net_conn_count() == 2 && gr_mono_ms() - t0 < 2000)
        gr_ev_run_once(cl->ev, 10);
    assert_int_equal(gr_net_conn_count(), 1);   /* the first one has no idle timer */
    assert_true(gr_mono_ms() - t0 >= 25);
    close(sv[1]);
}

/* A peer that half-closes with a parked request is gone: the connection
 * closes at once and the parked request is cancelled (it used to wait for
 * the answer, holding the descriptor as long as the request parked). */
static void test_peer_eof_cancels_parked(void **state)
{
    GR_UNUSED(state);
    uint8_t b[64];
    size_t n = frame(b, 3, 0, 1, false, NULL, 0);            /* parks */
    csend(b, n);
    for (int i = 0; i < 5 && !parked; i++)
        gr_ev_run_once(cl->ev, 1);
    assert_non_null(parked);
    shutdown(cl->fd, SHUT_WR);
    expect_closed();
    assert_int_equal(cancels, 1);
    assert_null(parked);
    assert_true(gr_net_idle());
}

/* The same behind backpressure: reads are paused, so the EOF is never
 * read; the hang-up alone must close the connection. */
static void test_paused_peer_hangup_closes(void **state)
{
    GR_UNUSED(state);
    static uint8_t b[1100 * 32];
    size_t n = 0;
    for (int i = 0; i < 1100; i++)
        n += frame(b + n, 3, 0, i, false, NULL, 0);           /* all park: over max_pending */
    size_t off = 0;
    for (int i = 0; i < 100 && off < n; i++) {
        ssize_t w = write(cl->fd, b + off, n - off);
        if (w > 0)
            off += (size_t)w;
        gr_ev_run_once(cl->ev, 1);
    }
    assert_int_equal(nparked, 1000);                         /* paused at max_pending */
    shutdown(cl->fd, SHUT_WR);
    for (int i = 0; i < 20 && gr_net_conn_count() > 0; i++)
        gr_ev_run_once(cl->ev, 1);
    assert_int_equal(gr_net_conn_count(), 0);
    assert_int_equal(cancels, 1000);
    assert_true(gr_net_idle());
}

/* A request whose bytes stop arriving ends its connection after the read
 * timeout, however long the idle timeout is. */
static void test_partial_request_times_out(void **state)
{
    GR_UNUSED(state);
    gr_net_init(cl->ev, &(gr_net_opts_t){.max_request_bytes = 1 << 20, .idle_ms = 60000, .read_timeout_ms = 40});
    uint8_t b[64];
    size_t n = frame(b, 2, 0, 1, false, NULL, 0);
    int64_t t0 = gr_mono_ms();
    csend(b, n - 3);                                         /* all but the last bytes */
    assert_int_equal(crecv(), -1);
    assert_true(gr_mono_ms() - t0 >= 35);
    for (int i = 0; i < 3; i++)
        gr_ev_run_once(cl->ev, 1);
    assert_int_equal(gr_net_conn_count(), 0);
}

/* Bytes of a request that never completes do not count as activity: a
 * peer trickling a frame is closed by the idle timeout. */
static void test_trickle_counts_as_idle(void **state)
{
    GR_UNUSED(state);
    gr_net_init(cl->ev, &(gr_net_opts_t){.max_request_bytes = 1 << 20, .idle_ms = 60, .read_timeout_ms = 60000});
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(gr_net_adopt(sv[0], "trickle-peer"), 0);
    assert_int_equal(gr_net_conn_count(), 2);
    uint8_t b[8];
    put32(b, 1000);                                          /* a frame that never completes */
    assert_int_equal(write(sv[1], b, 4), 4);
    int64_t t0 = gr_mono_ms();
    while (gr_net_conn_count() == 2 && gr_mono_ms() - t0 < 2000) {
        uint8_t z = 0;
        assert_int_equal(write(sv[1], &z, 1), 1);           /* a byte every ~10 ms */
        for (int i = 0; i < 5; i++)
            gr_ev_run_once(cl->ev, 2);
    }
    int64_t took = gr_mono_ms() - t0;
    assert_int_equal(gr_net_conn_count(), 1);                /* setup's connection has no timer */
    assert_true(took >= 50);
    assert_true(took < 1000);
    close(sv[1]);
}

/* As in Kafka, a request in progress does not keep a connection that
 * shows no other activity: past the idle timeout it is closed and the
 * parked request cancelled (a vanished client's JoinGroup would otherwise
 * hold the descriptor for its whole rebalance timeout). */
static void test_idle_with_parked_request(void **state)
{
    GR_UNUSED(state);
    gr_net_init(cl->ev, &(gr_net_opts_t){.max_request_bytes = 1 << 20, .idle_ms = 40});
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(gr_net_adopt(sv[0], "parked-peer"), 0);
    uint8_t b[64];
    size_t n = frame(b, 3, 0, 1, false, NULL, 0);            /* parks */
    assert_int_equal(write(sv[1], b, n), (ssize_t)n);
    int64_t t0 = gr_mono_ms();
    while (gr_net_conn_count() == 2 && gr_mono_ms() - t0 < 2000)
        gr_ev_run_once(cl->ev, 5);
    assert_int_equal(gr_net_conn_count(), 1);
    assert_true(gr_mono_ms() - t0 >= 35);
    assert_int_equal(cancels, 1);
    assert_null(parked);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers_in_order),
        cmocka_unit_test(test_timer_stop_restart),
        cmocka_unit_test(test_timer_far_future),
        cmocka_unit_test(test_long_timer_not_early),
        cmocka_unit_test(test_before_sleep),
        cmocka_unit_test(test_submit_order),
        cmocka_unit_test(test_stop_from_thread),
        cmocka_unit_test_setup_teardown(test_api_versions, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_pipelined_in_order, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_fragmented_input, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_oversized_closes, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_negative_size_closes, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_unknown_key_closes, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_unsupported_version_closes, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_garbage_header_closes, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_bad_request_cancels_parked, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_peer_eof_answers_then_closes, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_sendfile_chunk, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_backpressure, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_drain, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_idle_close, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_peer_eof_cancels_parked, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_paused_peer_hangup_closes, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_partial_request_times_out, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_trickle_counts_as_idle, setup_conn, teardown_conn),
        cmocka_unit_test_setup_teardown(test_idle_with_parked_request, setup_conn, teardown_conn),
    };
    static const struct {
        int16_t key;
        gr_api_handler_t *h;
    } serve[] = {
        {0, serve_produce},
        {1, serve_fetch},
        {2, serve_list_offsets},
        {3, serve_metadata},
        {19, serve_create_topics},
        {20, serve_delete_topics},
        {32, serve_describe_configs},
        {33, serve_alter_configs},
        {37, serve_create_partitions},
        {44, serve_incremental_alter_configs},
        {60, serve_describe_cluster},
    };
    for (size_t i = 0; i < GR_ARRAY_LEN(serve); i++)
        if (gr_api_set_handler(serve[i].key, serve[i].h) == NULL)
            return 1;
    gr_log_level = getenv("GR_TEST_DEBUG") ? GR_LOG_DEBUG : GR_LOG_ERROR;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
