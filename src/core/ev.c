/*
 * ev.c - the event loop (see ev.h).
 *
 * One iteration:
 *
 *   before_sleep hooks  ->  epoll_pwait2(timeout = next timer)  ->  fd callbacks
 *   ->  due timers  ->  (next iteration)
 *
 * so anything a callback or a timer completes (a response, a close) is
 * handled by a before_sleep hook before the loop sleeps again: no extra
 * wake-up, no added latency.
 *
 * epoll is used LEVEL-triggered: an owner may read only part of what is
 * available (fairness between connections, backpressure) and is called
 * again on the next iteration.  Each registration carries a generation
 * number in the epoll data so that an event already fetched for an fd that
 * a callback closed (and that accept() then reused) is dropped.
 *
 * Timers: a binary min-heap of gr_timer_t pointers keyed by (deadline,
 * start sequence); the gr_timer_t lives inside its owner, so arming a timer
 * never allocates once the heap array has grown.  The loop sleeps with
 * epoll_pwait2() and a microsecond timeout, so a timer fires at its
 * deadline and not up to a millisecond later (epoll_wait() takes whole
 * milliseconds, rounded up); kernels without it get epoll_wait().  A long
 * sleep wakes shortly before the deadline and sleeps the rest, since the
 * kernel lets a sleep overrun by 0.1 % of its length.  A timer armed while the
 * due timers are being run fires on a later pass at the earliest, so a
 * callback that re-arms itself with delay 0 cannot starve the loop.
 *
 * Wake-ups: one eventfd.  gr_ev_stop() sets a flag and writes to it
 * (both async-signal-safe); helper threads write to it when they finish a
 * job.
 *
 * Helper threads: one per lane.  Each lane has a FIFO of submitted jobs
 * and a FIFO of finished jobs, both under the lane's mutex; the lane's
 * single thread runs `work` in order, so `done` callbacks (run on the loop
 * thread when the eventfd fires) come back in submission order per lane.
 * Jobs are recycled through a freelist.  This file must never call a
 * callback from a helper thread other than `work`.
 */
#include "ev.h"
#include "gr.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct fd_slot {
    gr_ev_fd_cb *cb;
    void *arg;
    unsigned mask;
    uint32_t gen;            /* bumped on every add */
    bool used;
} fd_slot_t;

typedef struct hook {
    gr_ev_hook_cb *cb;
    void *arg;
} hook_t;

typedef struct job {
    struct job *next;
    gr_ev_work_cb *work;
    gr_ev_work_cb *done;
    void *arg;
} job_t;

typedef struct lane {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *q_head, *q_tail;       /* submitted, not yet run */
    job_t *d_head, *d_tail;       /* run, done not yet called */
    job_t *free;                  /* recycled job structs */
    bool quit;
    bool started;
    struct gr_ev *ev;
} lane_t;

struct gr_ev {
    int epfd;
    int wakefd;                   /* eventfd */
    atomic_int stop;
    fd_slot_t *fds;               /* indexed by fd */
    int nfds;
    gr_timer_t **heap;
    int heap_len, heap_cap;
    uint32_t timer_seq;           /* start order, breaks deadline ties */
    hook_t *hooks;
    int nhooks;
    bool in_hooks;                  /* run_hooks is running them */
    int64_t now_us;               /* cached per iteration */
    bool no_pwait2;               /* epoll_pwait2() unavailable: epoll_wait() */
    int inflight;                 /* jobs submitted whose done has not run */
    lane_t lanes[GR_EV_LANES];
    struct epoll_event events[256];
};

#define WAKE_TAG UINT64_MAX

/* ------------------------------------------------------------ helpers */

static void wake(gr_ev_t *ev)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: a wake-up is pending */
    ssize_t n = write(ev->wakefd, &one, sizeof(one));
    (void)n;
}

static void *lane_main(void *arg)
{
    lane_t *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->q_head && !l->quit)
            pthread_cond_wait(&l->cv, &l->mu);
        if (!l->q_head)
            break;    /* quit with an empty queue */
        job_t *j = l->q_head;
        l->q_head = j->next;
        if (!l->q_head)
            l->q_tail = NULL;
        pthread_mutex_unlock(&l->mu);
        if (j->work)
            j->work(j->arg);
        pthread_mutex_lock(&l->mu);
        j->next = NULL;
        if (l->d_tail)
            l->d_tail->next = j;
        else
            l->d_head = j;
        l->d_tail = j;
        wake(l->ev);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Run the done callbacks of finished jobs (loop thread).  Returns the
 * number run. */
static int run_completions(gr_ev_t *ev)
{
    int n = 0;
    for (int i = 0; i < GR_EV_LANES; i++) {
        lane_t *l = &ev->lanes[i];
        if (!l->started)
            continue;
        pthread_mutex_lock(&l->mu);
        job_t *j = l->d_head;
        l->d_head = l->d_tail = NULL;
        pthread_mutex_unlock(&l->mu);
        while (j) {
            job_t *next = j->next;
            if (j->done)
                j->done(j->arg);
            ev->inflight--;
            n++;
            pthread_mutex_lock(&l->mu);
            j->next = l->free;
            l->free = j;
            pthread_mutex_unlock(&l->mu);
            j = next;
        }
    }
    return n;
}

static void drain_wakefd(gr_ev_t *ev)
{
    uint64_t v;
    while (read(ev->wakefd, &v, sizeof(v)) == (ssize_t)sizeof(v))
        ;
}

/* ------------------------------------------------------------ lifecycle */

gr_ev_t *gr_ev_new(void)
{
    gr_ev_t *ev = gr_calloc(1, sizeof(*ev));
    ev->epfd = epoll_create1(EPOLL_CLOEXEC);
    ev->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ev->epfd == -1 || ev->wakefd == -1) {
        gr_error("ev", "Cannot create the event loop: %s", strerror(errno));
        if (ev->epfd != -1)
            close(ev->epfd);
        if (ev->wakefd != -1)
            close(ev->wakefd);
        free(ev);
        return NULL;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = WAKE_TAG};
    if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, ev->wakefd, &e) == -1) {
        gr_error("ev", "Cannot register the wake-up fd: %s", strerror(errno));
        close(ev->epfd);
        close(ev->wakefd);
        free(ev);
        return NULL;
    }
    atomic_init(&ev->stop, 0);
    for (int i = 0; i < GR_EV_LANES; i++) {
        lane_t *l = &ev->lanes[i];
        pthread_mutex_init(&l->mu, NULL);
        pthread_cond_init(&l->cv, NULL);
        l->ev = ev;
    }
    ev->now_us = gr_mono_us();
    return ev;
}

void gr_ev_free(gr_ev_t *ev)
{
    if (!ev)
        return;
    gr_ev_drain(ev);
    for (int i = 0; i < GR_EV_LANES; i++) {
        lane_t *l = &ev->lanes[i];
        if (l->started) {
            pthread_mutex_lock(&l->mu);
            l->quit = true;
            pthread_cond_signal(&l->cv);
            pthread_mutex_unlock(&l->mu);
            pthread_join(l->thread, NULL);
        }
        job_t *j = l->free;
        while (j) {
            job_t *next = j->next;
            free(j);
            j = next;
        }
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
    }
    for (int i = 0; i < ev->heap_len; i++)
        ev->heap[i]->heap_idx = -1;
    close(ev->epfd);
    close(ev->wakefd);
    free(ev->fds);
    free(ev->heap);
    free(ev->hooks);
    free(ev);
}

void gr_ev_stop(gr_ev_t *ev)
{
    atomic_store(&ev->stop, 1);
    wake(ev);
}

bool gr_ev_stopping(gr_ev_t *ev)
{
    return atomic_load(&ev->stop) != 0;
}

int64_t gr_ev_now_ms(gr_ev_t *ev)
{
    return ev->now_us / 1000;
}

int64_t gr_ev_now_us(gr_ev_t *ev)
{
    return ev->now_us;
}

/* ------------------------------------------------------------ fds */

static unsigned to_epoll(unsigned mask)
{
    return (mask & GR_EV_READ ? EPOLLIN | EPOLLRDHUP : 0) | (mask & GR_EV_WRITE ? EPOLLOUT : 0) |
           (mask & GR_EV_HUP ? EPOLLRDHUP : 0);
}

int gr_ev_add(gr_ev_t *ev, int fd, unsigned mask, gr_ev_fd_cb *cb, void *arg)
{
    if (fd < 0)
        return GR_EINVAL;
    if (fd >= ev->nfds) {
        int n = ev->nfds ? ev->nfds : 64;
        while (n <= fd)
            n *= 2;
        ev->fds = gr_realloc(ev->fds, sizeof(*ev->fds) * (size_t)n);
        memset(ev->fds + ev->nfds, 0, sizeof(*ev->fds) * (size_t)(n - ev->nfds));
        ev->nfds = n;
    }
    fd_slot_t *s = &ev->fds[fd];
    s->gen++;
    struct epoll_event e = {.events = to_epoll(mask), .data.u64 = (uint64_t)s->gen << 32 | (uint32_t)fd};
    if (epoll_ctl(ev->epfd, EPOLL_CTL_ADD, fd, &e) == -1)
        return -errno;
    s->cb = cb;
    s->arg = arg;
    s->mask = mask;
    s->used = true;
    return 0;
}

int gr_ev_mod(gr_ev_t *ev, int fd, unsigned mask)
{
    if (fd < 0 || fd >= ev->nfds || !ev->fds[fd].used)
        return GR_EINVAL;
    fd_slot_t *s = &ev->fds[fd];
    if (s->mask == mask)
        return 0;
    struct epoll_event e = {.events = to_epoll(mask), .data.u64 = (uint64_t)s->gen << 32 | (uint32_t)fd};
    if (epoll_ctl(ev->epfd, EPOLL_CTL_MOD, fd, &e) == -1)
        return -errno;
    s->mask = mask;
    return 0;
}

void gr_ev_del(gr_ev_t *ev, int fd)
{
    if (fd < 0 || fd >= ev->nfds || !ev->fds[fd].used)
        return;
    /* ENOENT/EBADF only if the owner closed first; nothing to undo */
    epoll_ctl(ev->epfd, EPOLL_CTL_DEL, fd, NULL);
    ev->fds[fd].used = false;
    ev->fds[fd].cb = NULL;
    ev->fds[fd].arg = NULL;
    ev->fds[fd].mask = 0;
}

/* ------------------------------------------------------------ timers */

static bool timer_less(const gr_timer_t *a, const gr_timer_t *b)
{
    if (a->when_us != b->when_us)
        return a->when_us < b->when_us;
    return (int32_t)(a->seq - b->seq) < 0;
}

static void heap_set(gr_ev_t *ev, int i, gr_timer_t *t)
{
    ev->heap[i] = t;
    t->heap_idx = i;
}

static void heap_up(gr_ev_t *ev, int i)
{
    gr_timer_t *t = ev->heap[i];
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!timer_less(t, ev->heap[p]))
            break;
        heap_set(ev, i, ev->heap[p]);
        i = p;
    }
    heap_set(ev, i, t);
}

static void heap_down(gr_ev_t *ev, int i)
{
    gr_timer_t *t = ev->heap[i];
    for (;;) {
        int c = 2 * i + 1;
        if (c >= ev->heap_len)
            break;
        if (c + 1 < ev->heap_len && timer_less(ev->heap[c + 1], ev->heap[c]))
            c++;
        if (!timer_less(ev->heap[c], t))
            break;
        heap_set(ev, i, ev->heap[c]);
        i = c;
    }
    heap_set(ev, i, t);
}

void gr_timer_init(gr_timer_t *t, gr_ev_timer_cb *cb, void *arg)
{
    t->when_us = 0;
    t->heap_idx = -1;
    t->cb = cb;
    t->arg = arg;
    t->seq = 0;
}

void gr_timer_stop(gr_ev_t *ev, gr_timer_t *t)
{
    int i = t->heap_idx;
    if (i < 0)
        return;
    gr_timer_t *last = ev->heap[--ev->heap_len];
    t->heap_idx = -1;
    if (last != t) {
        heap_set(ev, i, last);
        heap_up(ev, i);
        heap_down(ev, last->heap_idx);
    }
}

void gr_timer_start_us(gr_ev_t *ev, gr_timer_t *t, int64_t delay_us)
{
    if (delay_us < 0)
        delay_us = 0;
    gr_timer_stop(ev, t);
    t->when_us = gr_add_sat(gr_mono_us(), delay_us);   /* 2^63-1 from a config: never */
    t->seq = ev->timer_seq++;
    if (ev->heap_len == ev->heap_cap) {
        ev->heap_cap = ev->heap_cap ? ev->heap_cap * 2 : 64;
        ev->heap = gr_realloc(ev->heap, sizeof(*ev->heap) * (size_t)ev->heap_cap);
    }
    heap_set(ev, ev->heap_len++, t);
    heap_up(ev, t->heap_idx);
}

void gr_timer_start(gr_ev_t *ev, gr_timer_t *t, int64_t delay_ms)
{
    gr_timer_start_us(ev, t, gr_mul_sat(delay_ms, 1000));
}

/* Fire timers due at `now`; timers armed during this pass wait for the
 * next one. */
static void run_timers(gr_ev_t *ev)
{
    uint32_t limit = ev->timer_seq;
    int64_t now = ev->now_us;
    while (ev->heap_len > 0) {
        gr_timer_t *t = ev->heap[0];
        if (t->when_us > now || (int32_t)(t->seq - limit) >= 0)
            break;
        gr_timer_stop(ev, t);
        t->cb(ev, t->arg);
    }
}

/* ------------------------------------------------------------ hooks, jobs */

void gr_ev_before_sleep(gr_ev_t *ev, gr_ev_hook_cb *cb, void *arg)
{
    ev->hooks = gr_realloc(ev->hooks, sizeof(*ev->hooks) * (size_t)(ev->nhooks + 1));
    ev->hooks[ev->nhooks++] = (hook_t){cb, arg};
}

void gr_ev_before_sleep_first(gr_ev_t *ev, gr_ev_hook_cb *cb, void *arg)
{
    if (ev->in_hooks) {
        gr_ev_before_sleep(ev, cb, arg);    /* the hooks running keep their places */
        return;
    }
    ev->hooks = gr_realloc(ev->hooks, sizeof(*ev->hooks) * (size_t)(ev->nhooks + 1));
    memmove(ev->hooks + 1, ev->hooks, sizeof(*ev->hooks) * (size_t)ev->nhooks);
    ev->hooks[0] = (hook_t){cb, arg};
    ev->nhooks++;
}

/* The entry is cleared, not moved: a hook may remove itself (or another)
 * while the hooks run; cleared entries are dropped before the next run. */
void gr_ev_before_sleep_remove(gr_ev_t *ev, gr_ev_hook_cb *cb, void *arg)
{
    for (int i = 0; i < ev->nhooks; i++)
        if (ev->hooks[i].cb == cb && ev->hooks[i].arg == arg) {
            ev->hooks[i].cb = NULL;
            ev->hooks[i].arg = NULL;
        }
}

static void run_hooks(gr_ev_t *ev)
{
    int n = 0;
    for (int i = 0; i < ev->nhooks; i++)
        if (ev->hooks[i].cb)
            ev->hooks[n++] = ev->hooks[i];
    ev->nhooks = n;
    ev->in_hooks = true;
    for (int i = 0; i < ev->nhooks; i++)
        if (ev->hooks[i].cb)
            ev->hooks[i].cb(ev, ev->hooks[i].arg);
    ev->in_hooks = false;
}

static void close_work(void *arg)
{
    close((int)(intptr_t)arg);
}

void gr_ev_close_later(gr_ev_t *ev, int fd)
{
    if (fd >= 0)
        gr_ev_submit(ev, GR_EV_LANE_META, close_work, NULL, (void *)(intptr_t)fd);
}

void gr_ev_submit(gr_ev_t *ev, int lane, gr_ev_work_cb *work, gr_ev_work_cb *done, void *arg)
{
    if (lane < 0)
        lane = 0;
    lane_t *l = &ev->lanes[lane % GR_EV_LANES];
    pthread_mutex_lock(&l->mu);
    if (!l->started) {
        sigset_t all, old;
        sigfillset(&all);
        /* signals stay with the loop thread */
        pthread_sigmask(SIG_BLOCK, &all, &old);
        int rc = pthread_create(&l->thread, NULL, lane_main, l);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            gr_error("ev", "Cannot start a helper thread: %s", strerror(rc));
            abort();
        }
        l->started = true;
    }
    job_t *j = l->free;
    if (j)
        l->free = j->next;
    else
        j = gr_malloc(sizeof(*j));
    j->next = NULL;
    j->work = work;
    j->done = done;
    j->arg = arg;
    if (l->q_tail)
        l->q_tail->next = j;
    else
        l->q_head = j;
    l->q_tail = j;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    ev->inflight++;
}

void gr_ev_drain(gr_ev_t *ev)
{
    while (ev->inflight > 0) {
        struct pollfd p = {.fd = ev->wakefd, .events = POLLIN};
        if (poll(&p, 1, 100) == -1 && errno != EINTR)
            break;
        drain_wakefd(ev);
        run_completions(ev);
    }
}

/* ------------------------------------------------------------ loop */

/* Wait for events for up to wait_us microseconds (< 0: no limit). */
static int loop_wait(gr_ev_t *ev, int64_t wait_us)
{
    if (!ev->no_pwait2) {
        struct timespec ts, *tp = NULL;
        if (wait_us >= 0) {
            ts.tv_sec = (time_t)(wait_us / 1000000);
            ts.tv_nsec = (long)(wait_us % 1000000) * 1000;
            tp = &ts;
        }
        int n = epoll_pwait2(ev->epfd, ev->events, (int)GR_ARRAY_LEN(ev->events), tp, NULL);
        /* a seccomp filter that does not know the call may say EPERM */
        if (n != -1 || (errno != ENOSYS && errno != EPERM))
            return n;
        ev->no_pwait2 = true;
    }
    int timeout = wait_us < 0 ? -1 : (int)GR_MIN(gr_add_sat(wait_us, 999) / 1000, INT32_MAX);
    return epoll_wait(ev->epfd, ev->events, (int)GR_ARRAY_LEN(ev->events), timeout);
}

int gr_ev_run_once(gr_ev_t *ev, int64_t max_wait_ms)
{
    ev->now_us = gr_mono_us();
    run_hooks(ev);

    int64_t wait_us = max_wait_ms < 0 ? -1 : gr_mul_sat(max_wait_ms, 1000);
    if (ev->heap_len > 0) {
        int64_t d = ev->heap[0]->when_us - gr_mono_us();
        if (d < 0)
            d = 0;
        /* Linux lets a sleep of d end up to d/1000 late (the poll slack
         * of a non-realtime task; d/200 when niced; at most 100 ms): a 3 s
         * join delay would fire ~3 ms late.  A long sleep stops 1 % short
         * of the deadline and the next one sleeps the rest, whose slack is
         * a few microseconds. */
        if (d > 50000)
            d -= d / 100;
        if (wait_us < 0 || d < wait_us)
            wait_us = d;
    }
    int n = loop_wait(ev, wait_us);
    if (n == -1) {
        if (errno != EINTR) {
            gr_error("ev", "epoll_wait: %s", strerror(errno));
            return -errno;
        }
        n = 0;
    }
    ev->now_us = gr_mono_us();
    for (int i = 0; i < n; i++) {
        struct epoll_event *e = &ev->events[i];
        if (e->data.u64 == WAKE_TAG) {
            drain_wakefd(ev);
            run_completions(ev);
            continue;
        }
        int fd = (int)(uint32_t)e->data.u64;
        uint32_t gen = (uint32_t)(e->data.u64 >> 32);
        if (fd >= ev->nfds)
            continue;
        fd_slot_t *s = &ev->fds[fd];
        if (!s->used || s->gen != gen)
            continue;    /* closed (and maybe reused) by an earlier callback */
        unsigned mask = 0;
        if (e->events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
            mask |= GR_EV_READ;
        if (e->events & EPOLLOUT)
            mask |= GR_EV_WRITE;
        /* an error with only WRITE interest must still reach the owner */
        if ((e->events & (EPOLLERR | EPOLLHUP)) && !(s->mask & GR_EV_READ))
            mask |= GR_EV_WRITE;
        if (e->events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP))
            mask |= GR_EV_HUP;
        s->cb(ev, fd, mask, s->arg);
    }
    run_timers(ev);
    return n;
}

int gr_ev_run(gr_ev_t *ev)
{
    int rc = 0;
    while (!gr_ev_stopping(ev)) {
        rc = gr_ev_run_once(ev, -1);
        if (rc < 0)
            break;
        rc = 0;
    }
    return rc;
}
