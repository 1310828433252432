/*
 * ev.h - the event loop: epoll, timers, a before_sleep hook, and a small
 * pool of helper threads for blocking work (fsync, file deletion) that
 * report back on the loop thread.
 *
 * One loop owns all broker state; nothing else touches it.  Helper threads
 * only run a job's `work` function, which must not touch broker state; the
 * job's `done` function then runs on the loop thread.
 */
#ifndef GR_EV_H
#define GR_EV_H

#include <stdint.h>
#include <stdbool.h>

typedef struct gr_ev gr_ev_t;

#define GR_EV_READ  1u
#define GR_EV_WRITE 2u
#define GR_EV_HUP   4u    /* interest in the peer's hang-up alone (EPOLLRDHUP) */

/* fd callback: events is a mask of GR_EV_READ/GR_EV_WRITE (errors and
 * hang-ups are reported as READ so the owner's read sees them), plus
 * GR_EV_HUP when the peer hung up or shut down its sending side, or the
 * socket failed: an owner that is not reading learns that its peer is
 * gone (the event stays pending, level-triggered, until it acts). */
typedef void gr_ev_fd_cb(gr_ev_t *ev, int fd, unsigned events, void *arg);
typedef void gr_ev_timer_cb(gr_ev_t *ev, void *arg);
typedef void gr_ev_hook_cb(gr_ev_t *ev, void *arg);

/* A timer handle embedded in its owner (no allocation per timer). */
typedef struct gr_timer {
    int64_t when_us;            /* monotonic deadline */
    int32_t heap_idx;           /* -1 when not armed */
    gr_ev_timer_cb *cb;
    void *arg;
    uint32_t seq;               /* start order: equal deadlines fire FIFO */
} gr_timer_t;

gr_ev_t *gr_ev_new(void);
void gr_ev_free(gr_ev_t *ev);
int gr_ev_run(gr_ev_t *ev);                 /* until gr_ev_stop() */
void gr_ev_stop(gr_ev_t *ev);               /* async-signal-safe */
bool gr_ev_stopping(gr_ev_t *ev);
/* One iteration (before_sleep hooks, wait at most max_wait_ms or until the
 * next timer (-1 = no bound), callbacks, due timers), whether or not the
 * loop is stopping: used to drain connections at shutdown.  Returns the
 * number of fd events or a negative error. */
int gr_ev_run_once(gr_ev_t *ev, int64_t max_wait_ms);

/* fd registration; mask 0 keeps the fd registered but quiet. */
int gr_ev_add(gr_ev_t *ev, int fd, unsigned mask, gr_ev_fd_cb *cb, void *arg);
int gr_ev_mod(gr_ev_t *ev, int fd, unsigned mask);
void gr_ev_del(gr_ev_t *ev, int fd);

void gr_timer_init(gr_timer_t *t, gr_ev_timer_cb *cb, void *arg);
void gr_timer_start(gr_ev_t *ev, gr_timer_t *t, int64_t delay_ms);  /* (re)arm */
void gr_timer_start_us(gr_ev_t *ev, gr_timer_t *t, int64_t delay_us);
void gr_timer_stop(gr_ev_t *ev, gr_timer_t *t);
static inline bool gr_timer_armed(const gr_timer_t *t) { return t->heap_idx >= 0; }

/* Run cb before each epoll_wait (Redis' beforeSleep): flush output,
 * complete deferred work.  Several hooks run in registration order. */
void gr_ev_before_sleep(gr_ev_t *ev, gr_ev_hook_cb *cb, void *arg);
/* The same, run before the hooks registered so far (a coordinator runtime
 * made after the listener: its completions' responses must be queued
 * before net.c's hook flushes output). */
void gr_ev_before_sleep_first(gr_ev_t *ev, gr_ev_hook_cb *cb, void *arg);
/* Unregister a hook (cb and arg as registered); absent: nothing happens. */
void gr_ev_before_sleep_remove(gr_ev_t *ev, gr_ev_hook_cb *cb, void *arg);

/* Blocking work off the loop: `work` runs on a helper thread, then `done`
 * runs on the loop thread with the same arg.  Jobs run in FIFO order per
 * `lane` (lane 0..GR_EV_LANES-1; e.g. one lane per log dir), concurrently
 * across lanes. */
#define GR_EV_LANES 3
/* Lanes 0..GR_EV_DIR_LANES-1 carry the log dirs' data work (dir d on
 * d % GR_EV_DIR_LANES: flushes, deletions, moves; the cleaner on the last
 * of them); GR_EV_LANE_META carries small metadata files (the offset
 * checkpoints), which must not wait behind a data fsync of seconds. */
#define GR_EV_DIR_LANES (GR_EV_LANES - 1)
#define GR_EV_LANE_META (GR_EV_LANES - 1)
typedef void gr_ev_work_cb(void *arg);
void gr_ev_submit(gr_ev_t *ev, int lane, gr_ev_work_cb *work, gr_ev_work_cb *done, void *arg);
/* close(fd) on the metadata lane: the descriptor of a file just replaced
 * by a rename, so that freeing its blocks (ext4 with online discard waits
 * for the device) happens there, not on the loop. */
void gr_ev_close_later(gr_ev_t *ev, int fd);
/* Wait for every submitted job to finish and run its done (shutdown). */
void gr_ev_drain(gr_ev_t *ev);

/* The loop's idea of now (monotonic clock), refreshed once per iteration. */
int64_t gr_ev_now_ms(gr_ev_t *ev);
int64_t gr_ev_now_us(gr_ev_t *ev);

#endif
