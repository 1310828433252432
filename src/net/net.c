/*
 * net.c - listener, connections, framing, dispatch and output (see net.h).
 *
 * Frame and request header (Kafka's RequestHeader, v1 and v2):
 *
 *   +----------+---------+-------------+----------------+-----------+-----------+------+
 *   | int32    | int16   | int16       | int32          | int16 len | (v2 only) | body |
 *   | size     | api_key | api_version | correlation_id | client_id | tags      |      |
 *   +----------+---------+-------------+----------------+-----------+-----------+------+
 *   size counts everything after itself; client_id is a classic nullable
 *   string even in header v2; v2 (flexible versions) adds a tagged-field
 *   section.
 *
 * Input.  A connection reads into the loop's shared 64 KiB buffer while it
 * holds no partial frame, dispatches every complete frame in place and
 * copies only a trailing partial frame into its own buffer.  Once the size
 * prefix is in, a frame up to SPARE_MAX gets a buffer that holds all of it
 * (a power of two, so buffers are interchangeable); a larger frame's buffer
 * grows geometrically from there as bytes arrive, never beyond the frame's
 * size.  A size prefix above socket.request.max.bytes (or negative) closes
 * the connection before anything is allocated for it.  Idle connections
 * hold no input buffer larger than SMALL_BUF: a buffer that empties goes
 * to a small loop-wide spare list (at most NSPARE buffers of at most
 * SPARE_MAX), where the next partial frame of any connection takes it.
 * Reusing buffers matters because every fresh page is a page fault while
 * the socket read copies into it, and a producer sends one ~1 MB frame
 * after another.
 *
 * Requests.  Each frame becomes a gr_req_t (recycled through a freelist,
 * with its arena) appended to the connection's in-order queue, then its
 * handler runs.  Frames are dispatched as they arrive, also behind a parked
 * request (pipelining).
 *
 * Output.  gr_resp_end() marks the request DONE and puts the connection on
 * the pending list; the before_sleep hook flushes every pending connection
 * once per loop iteration, so responses completed by a handler, a timer or
 * another connection's event leave before the loop sleeps, and all the
 * responses of one read go out in one sendmsg.  Flushing walks the queue
 * head while it is DONE: consecutive memory chunks (across responses) go in
 * one sendmsg (MSG_MORE when a file range follows), file ranges with
 * sendfile(2).  A lazy chunk (a Fetch v0-3 answer being down-converted,
 * downconv.c) is asked for its next piece once the previous one is out, and
 * the request is charged anew for what its source holds.  A partial write
 * arms EPOLLOUT and resumes there.  NORESP requests leave the queue
 * silently.
 *
 * Backpressure.  Above opts.max_pending queued requests or
 * opts.out_high_bytes of unsent output a connection stops reading (and
 * leaves the rest of its input buffered); it resumes below half of both.
 * A connection that is not read still watches for its peer's hang-up
 * (GR_EV_HUP).
 *
 * End of input.  A peer that closes or half-closes its connection is gone
 * (Kafka's Selector closes a channel on EOF too): the responses already
 * complete get one last write attempt, then the connection closes at once
 * and its parked requests are cancelled, so an abandoned long poll holds
 * no descriptor.  Input not yet dispatched (behind backpressure) is
 * dropped with it.
 *
 * Timeouts (one timer per connection, idle_cb).  A connection is idle
 * when it neither completed a request nor wrote a response byte for
 * opts.idle_ms (connections.max.idle.ms).  Bytes of a request that does
 * not complete do not count, so a client trickling a frame is as idle as
 * a silent one; nor does a request in progress, as in Kafka (its Selector
 * expires a channel without I/O whatever is in flight): a JoinGroup parked
 * longer than that, from a client that vanished without a FIN, does not
 * hold its connection for the whole client-chosen rebalance timeout.  A
 * request must arrive within opts.read_timeout_ms (request.timeout.ms) of
 * its first byte.  Responses that cannot be written because the client
 * does not read (the socket is full) close the connection after
 * opts.idle_ms without progress, however many new requests it sends.
 *
 * Descriptors.  At most opts.max_conns connections (max.connections and
 * the descriptor budget of main.c, which keeps room for segment files):
 * beyond it a connection is accepted and closed at once with a log line,
 * so a client never hangs in the backlog of a broker at its limit.
 *
 * Memory budget (queued.max.request.bytes, queued.max.requests).  Every
 * byte held for a client is charged to its connection and to the broker:
 * its input buffer (once a partial frame is admitted, the whole frame,
 * whether or not it has arrived yet) and, per queued request, the memory
 * of its response chain plus, while it is parked, its arena (a request
 * answered by its handler empties its arena at once, keeping one small
 * block).  A partial frame
 * is admitted, and only then given room beyond the bytes already read,
 * when the broker-wide total stays within the budget, or when the
 * connection stays within its fair share (budget / connections) and the
 * total within 1.5 times the budget; otherwise the connection stops being
 * read until memory frees up.  An admitted frame is always read to its end,
 * so reservations never deadlock.  Above the budget (or above
 * queued.max.requests answered-but-unsent responses), a connection holding
 * more than its share stops being read after the request it is on, until
 * its client has read enough of its responses.  A small connection is
 * never stopped by a big one: complete frames are served from the shared
 * read buffer and cost nothing until answered.  Once TRIM_MIN bytes were
 * given back and the total is a quarter of its recent peak or less (at
 * most once a second), the spare buffers and most pooled requests are
 * freed and glibc is asked to return free memory to the system
 * (malloc_trim; the sanitizer's purge in ASan builds).
 *
 * Work per loop turn.  Handlers report the work they did (req->work: the
 * bytes a Produce decompressed, at most 256 MiB a request; a ListOffsets,
 * at most 1 GiB).  Once a loop turn has done TURN_WORK_MAX of it, Produce
 * and ListOffsets frames are left buffered until the next turn, so that
 * other connections are served in between.
 *
 * Connections waiting for memory or for the next turn sit on a waiting
 * list; a zero-delay timer retries them at the next turn once memory was
 * freed or work deferred.
 *
 * Closing.  Only from top-level contexts (an fd callback after the handlers
 * returned, the before_sleep hook, a timer): gr_req_bad() and protocol
 * errors found while dispatching set `closing` and the connection is
 * closed when control is back at the top.  Parked requests get on_cancel
 * and are freed; a PENDING request without on_cancel is orphaned
 * (conn = NULL) and freed when its handler finally completes it.
 *
 * Epoll is level-triggered (ev.c): reads are bounded per event for
 * fairness and the loop comes back for the rest.
 */
#include "net.h"
#include "fio.h"
#include "metrics.h"
#include "gr.h"
#include "schema_gen.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define RBUF_SIZE (64 * 1024)
#define SMALL_BUF (16 * 1024)
#define SPARE_MAX (4u << 20)     /* largest input buffer kept for reuse */
#define NSPARE 4
#define MAX_IOV 64
#define READS_PER_EVENT 4
#define ACCEPTS_PER_EVENT 64
#define REQ_POOL_MAX 1024
#define REQ_POOL_IDLE 64               /* ... of which kept once the load went */
#define ARENA_KEEP (16 * 1024)         /* largest arena a pooled request keeps */
#define TURN_WORK_MAX (64u << 20)      /* work per loop turn before Produce waits */
#define TRIM_MIN (32u << 20)           /* freed bytes worth a malloc_trim */

/* why a connection is not read */
#define PAUSE_OUT  1u                  /* its own unsent output (out_high_bytes, max_pending) */
#define PAUSE_MEM  2u                  /* the broker-wide memory budget */
#define PAUSE_WORK 4u                  /* this loop turn's work is done */

typedef struct gr_conn {
    int fd;
    char peer[64];
    uint8_t *in;                 /* partial input, owned */
    size_t in_off, in_len, in_cap;  /* [in_off, in_len) not dispatched yet */
    gr_req_t *qhead, *qtail;     /* in-order request queue, owned */
    int nreq;
    size_t out_queued;           /* unsent bytes of DONE responses */
    size_t mem;                  /* bytes charged: in_res + its requests' charges */
    size_t in_res;               /* charged for input: in_cap, or the admitted frame */
    bool admitted;               /* the partial frame in `in` may grow to its size */
    int ndone;                   /* answered, not yet written (queued.max.requests) */
    unsigned mask;               /* current epoll interest */
    unsigned pause;              /* PAUSE_* reasons not to read */
    bool waiting;                /* on the waiting list */
    bool closing;
    bool pending;                /* on the pending list */
    bool want_write;             /* the socket was full: wait for EPOLLOUT */
    bool dead;                   /* conn_close() in progress */
    int64_t last_active_ms;      /* connected, last complete request or output progress */
    int64_t frame_start_ms;      /* first byte of an incomplete request, 0 = none */
    int64_t out_blocked_ms;      /* want_write: last output progress (or since blocked) */
    gr_timer_t idle;             /* idle_cb: every timeout of the connection */
    struct gr_conn *prev, *next;            /* all connections */
    struct gr_conn *pprev, *pnext;          /* pending list */
    struct gr_conn *wprev, *wnext;          /* waiting list (PAUSE_MEM, PAUSE_WORK) */
} conn_t;

/* Under AddressSanitizer, malloc_trim() does not reach the allocator in
 * use; its own purge does. */
#if defined(__SANITIZE_ADDRESS__)
#define GR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GR_ASAN 1
#endif
#endif
#ifndef GR_ASAN
#define GR_ASAN 0
#endif
#if GR_ASAN
void __sanitizer_purge_allocator(void);
#endif

static struct {
    gr_ev_t *ev;
    gr_net_opts_t opts;
    int lfd;
    int port;
    int reserve_fd;              /* spare fd to shed connections on EMFILE */
    gr_timer_t accept_retry;
    int64_t emfile_logged_ms;
    int64_t refused;             /* connections refused over opts.max_conns */
    conn_t *conns;
    int nconns;
    conn_t *phead, *ptail;       /* connections to flush or close */
    gr_req_t *req_free;
    int nreq_free;
    int64_t nreqs;               /* requests queued on all connections */
    size_t mem;                  /* bytes charged to all connections */
    size_t mem_peak;             /* highest mem since the last trim */
    size_t freed;                /* charged bytes given back since then */
    int64_t trim_ms;             /* when memory was last given back */
    int64_t ndone;               /* answered requests not yet written */
    uint64_t turn_work;          /* work of the handlers this loop turn */
    gr_req_t *dispatching;       /* the request whose handler is running */
    conn_t *whead, *wtail;       /* waiting for memory or the next turn */
    gr_timer_t resume;           /* retries the waiting list, next turn */
    bool draining;
    uint8_t *spare[NSPARE];      /* emptied input buffers, owned */
    size_t spare_cap[NSPARE];
    int nspare;
    uint8_t rbuf[RBUF_SIZE];
} net = {.lfd = -1, .port = -1, .reserve_fd = -1};

static void conn_flush(conn_t *c);
static void conn_update_mask(conn_t *c);
static size_t process_frames(conn_t *c, uint8_t *buf, size_t len);
static bool write_some(conn_t *c);
static void conn_arm(conn_t *c, int64_t due_ms);
static void process_buffered(conn_t *c);

/* Gives an input buffer back: kept on the spare list when it is larger than
 * SMALL_BUF, at most SPARE_MAX and the list has room (then the smallest
 * spare makes way for a larger one), else freed. */
static void spare_put(uint8_t *b, size_t cap)
{
    if (!b)
        return;
    if (cap > SMALL_BUF && cap <= SPARE_MAX) {
        if (net.nspare < NSPARE) {
            net.spare[net.nspare] = b;
            net.spare_cap[net.nspare++] = cap;
            return;
        }
        int min = 0;
        for (int i = 1; i < NSPARE; i++)
            if (net.spare_cap[i] < net.spare_cap[min])
                min = i;
        if (net.spare_cap[min] < cap) {
            uint8_t *old = net.spare[min];
            net.spare[min] = b;
            net.spare_cap[min] = cap;
            b = old;
        }
    }
    free(b);
}

/* ------------------------------------------------------------ memory budget */

static bool budget_on(void)
{
    return net.opts.queued_max_bytes > 0;
}

static size_t budget(void)
{
    return (size_t)net.opts.queued_max_bytes;
}

/* A connection's fair share of the budget. */
static size_t share(void)
{
    return budget() / (size_t)GR_MAX(net.nconns, 1);
}

static void wait_kick(void);

static void mem_add(conn_t *c, size_t n)
{
    c->mem += n;
    net.mem += n;
    if (net.mem > net.mem_peak)
        net.mem_peak = net.mem;
}

static void mem_sub(conn_t *c, size_t n)
{
    c->mem -= n;
    net.mem -= n;
    net.freed += n;
    if (n > 0)
        wait_kick();
}

/* Size of the first frame not dispatched yet, 0 while its prefix is
 * incomplete. */
static size_t frame_total(const conn_t *c)
{
    if (c->in_len - c->in_off < 4)
        return 0;
    uint32_t sz = gr_be32(c->in + c->in_off);
    return (size_t)sz + 4;  /* validated when the prefix was first seen */
}

/* Charge c for its input buffer: its capacity, or the whole frame once
 * the partial frame in it was admitted. */
static void in_charge(conn_t *c)
{
    size_t want = c->in_cap;
    if (c->admitted)
        want = GR_MAX(want, frame_total(c));
    if (want > c->in_res)
        mem_add(c, want - c->in_res);
    else
        mem_sub(c, c->in_res - want);
    c->in_res = want;
}

/* May c hold `more` bytes on top of what it holds?  Within the budget, or
 * within its fair share and 1.5 times the budget. */
static bool mem_admit(const conn_t *c, size_t more)
{
    if (!budget_on())
        return true;
    size_t b = budget();
    if (net.mem + more <= b)
        return true;
    return c->mem + more <= share() && net.mem + more <= b + b / 2;
}

/* Admit the partial frame at in_off (its size is known): the whole frame
 * is charged from now on, and it is read to its end. */
static bool admit_frame(conn_t *c)
{
    if (c->admitted)
        return true;
    size_t total = frame_total(c);
    if (!mem_admit(c, total > c->in_res ? total - c->in_res : 0))
        return false;
    c->admitted = true;
    in_charge(c);
    return true;
}

/* Above the budget (or queued.max.requests), does c hold more than its
 * share?  A frame being read is not counted: it was admitted and goes on. */
static bool over_share(const conn_t *c)
{
    size_t held = c->mem - (c->admitted ? c->in_res : 0);
    if (budget_on() && net.mem > budget() && held > share())
        return true;
    int64_t q = net.opts.queued_max_requests;
    return q > 0 && net.ndone >= q && (int64_t)c->ndone * GR_MAX(net.nconns, 1) > q;
}

/* Must c (paused for memory) keep waiting? */
static bool mem_blocked(conn_t *c)
{
    if (over_share(c))
        return true;
    return frame_total(c) > c->in_len - c->in_off && !admit_frame(c);
}

/* Bytes of memory held by a response chain (file ranges cost none, lazy
 * chunks what their source holds now). */
static size_t wr_mem(const gr_wr_t *w)
{
    return gr_wr_mem(w);
}

/* Empty a request's arena, keeping one block of at most ARENA_KEEP for the
 * next request (no allocation per request in the steady state). */
static void arena_shrink(gr_req_t *r)
{
    if (r->arena.bytes > ARENA_KEEP)
        gr_arena_free(&r->arena);
    else
        gr_arena_reset(&r->arena);
    r->client_id = "";
}

/* Charge c for a queued request (called when its handler returned and when
 * it completes later): its response chain, and its arena while parked.  A
 * request answered within its handler gives its arena back here
 * (release): nothing refers to it once the response is built. */
static void req_settle(conn_t *c, gr_req_t *r, bool release)
{
    if (r->state == GR_REQ_NORESP)
        return;                     /* leaves the queue at the next flush */
    if (r->state == GR_REQ_DONE && release)
        arena_shrink(r);
    size_t ch = r->arena.bytes + wr_mem(&r->out);
    if (ch > r->charge)
        mem_add(c, ch - r->charge);
    else
        mem_sub(c, r->charge - ch);
    r->charge = ch;
    if (r->state == GR_REQ_DONE && !r->done_counted) {
        r->done_counted = true;
        c->ndone++;
        net.ndone++;
    }
}

/* A request leaves c's queue: give back what it was charged. */
static void req_uncharge(conn_t *c, gr_req_t *r)
{
    mem_sub(c, r->charge);
    r->charge = 0;
    if (r->done_counted) {
        r->done_counted = false;
        c->ndone--;
        net.ndone--;
        wait_kick();
    }
}

/* ------------------------------------------------------------ waiting list */

static void wait_add(conn_t *c)
{
    if (c->waiting)
        return;
    c->waiting = true;
    c->wnext = NULL;
    c->wprev = net.wtail;
    if (net.wtail)
        net.wtail->wnext = c;
    else
        net.whead = c;
    net.wtail = c;
}

static void wait_del(conn_t *c)
{
    if (!c->waiting)
        return;
    if (c->wprev)
        c->wprev->wnext = c->wnext;
    else
        net.whead = c->wnext;
    if (c->wnext)
        c->wnext->wprev = c->wprev;
    else
        net.wtail = c->wprev;
    c->waiting = false;
    c->wprev = c->wnext = NULL;
}

/* Memory was freed: retry the waiting connections at the next turn. */
static void wait_kick(void)
{
    if (net.whead && net.ev && !gr_timer_armed(&net.resume))
        gr_timer_start(net.ev, &net.resume, 0);
}

/* ------------------------------------------------------------ requests */

static gr_req_t *req_get(void)
{
    gr_req_t *r = net.req_free;
    if (r) {
        net.req_free = r->next;
        net.nreq_free--;
    } else {
        r = gr_calloc(1, sizeof(*r));
        gr_arena_init(&r->arena);
        gr_wr_init(&r->out);
    }
    r->next = NULL;
    r->state = GR_REQ_PENDING;
    r->on_cancel = NULL;
    r->park = NULL;
    r->conn = NULL;
    r->size_pos = (gr_wpos_t){NULL, 0};
    r->work = 0;
    r->charge = 0;
    r->done_counted = false;
    return r;
}

/* Empty a response writer but keep its first memory chunk (when small)
 * for the next response: no allocation per response in the steady state. */
static void wr_recycle(gr_wr_t *w)
{
    gr_chunk_t *keep = w->head;
    if (!keep || !keep->mem || keep->cap > SMALL_BUF) {
        gr_wr_free(w);
        return;
    }
    gr_wr_t rest = {keep->next, keep->next ? w->tail : NULL, 0};
    gr_wr_free(&rest);
    keep->next = NULL;
    keep->len = 0;
    keep->sent = 0;
    w->head = w->tail = keep;
    w->total = 0;
}

static void req_unpark(gr_req_t *r)
{
    if (r->parked) {
        r->parked = false;
        gr_metrics_parked(r->api_key, -1);
    }
}

static void req_put(gr_req_t *r)
{
    req_unpark(r);
    wr_recycle(&r->out);
    r->conn = NULL;
    r->park = NULL;
    r->on_cancel = NULL;
    r->client_id = NULL;
    if (net.nreq_free >= REQ_POOL_MAX) {
        gr_wr_free(&r->out);
        gr_arena_free(&r->arena);
        free(r);
        return;
    }
    /* a pooled request keeps a small arena, not the largest it ever had */
    arena_shrink(r);
    r->next = net.req_free;
    net.req_free = r;
    net.nreq_free++;
}

/* ------------------------------------------------------------ pending list */

static void pending_add(conn_t *c)
{
    if (c->pending || c->dead)
        return;
    c->pending = true;
    c->pnext = NULL;
    c->pprev = net.ptail;
    if (net.ptail)
        net.ptail->pnext = c;
    else
        net.phead = c;
    net.ptail = c;
}

static void pending_del(conn_t *c)
{
    if (!c->pending)
        return;
    if (c->pprev)
        c->pprev->pnext = c->pnext;
    else
        net.phead = c->pnext;
    if (c->pnext)
        c->pnext->pprev = c->pprev;
    else
        net.ptail = c->pprev;
    c->pending = false;
    c->pprev = c->pnext = NULL;
}

static void close_later(conn_t *c)
{
    c->closing = true;
    pending_add(c);
}

/* ------------------------------------------------------------ connections */

static void conn_close(conn_t *c)
{
    pending_del(c);
    c->dead = true;
    c->closing = true;
    gr_timer_stop(net.ev, &c->idle);
    gr_ev_del(net.ev, c->fd);
    close(c->fd);
    /* A cancel callback may complete or fail other requests of this
     * connection: those still carry conn == c and gr_net_req_done()
     * leaves them to this loop (dead). */
    gr_req_t *r = c->qhead;
    c->qhead = c->qtail = NULL;
    while (r) {
        gr_req_t *next = r->next;
        net.nreqs--;
        r->conn = NULL;
        r->next = NULL;
        r->charge = 0;               /* given back with c->mem below */
        r->done_counted = false;
        if (r->state == GR_REQ_PENDING) {
            if (r->on_cancel) {
                gr_req_cancel_cb *cb = r->on_cancel;
                r->on_cancel = NULL;
                cb(r);
                req_put(r);
            }
            /* else orphaned: gr_net_req_done() frees it */
        } else {
            req_put(r);
        }
        r = next;
    }
    spare_put(c->in, c->in_cap);
    c->in = NULL;
    wait_del(c);
    net.mem -= c->mem;
    net.freed += c->mem;
    net.ndone -= c->ndone;
    if (c->mem > 0 || c->ndone > 0)
        wait_kick();
    if (c->prev)
        c->prev->next = c->next;
    else
        net.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    net.nconns--;
    free(c);
}

static void conn_update_mask(conn_t *c)
{
    unsigned m = GR_EV_HUP;
    if (!c->pause && !c->closing && !net.draining)
        m |= GR_EV_READ;
    if (c->want_write)
        m |= GR_EV_WRITE;
    if (m != c->mask) {
        int rc = gr_ev_mod(net.ev, c->fd, m);
        if (rc < 0) {
            gr_warn("net", "Cannot update events of connection from %s: %s", c->peer, strerror(-rc));
            close_later(c);
            return;
        }
        c->mask = m;
    }
}

static bool over_high(const conn_t *c)
{
    return c->nreq >= net.opts.max_pending || c->out_queued >= net.opts.out_high_bytes;
}

static bool under_low(const conn_t *c)
{
    return c->nreq <= net.opts.max_pending / 2 && c->out_queued <= net.opts.out_high_bytes / 2;
}

/* At most one line per RATELOG_MS per kind; the line counts the events
 * not logged since the previous one. */
#define RATELOG_MS 5000

typedef struct ratelog {
    int64_t last_ms;
    long suppressed;
} ratelog_t;

static bool ratelog_ok(ratelog_t *r, int64_t now, long *suppressed)
{
    if (r->last_ms != 0 && now - r->last_ms < RATELOG_MS) {
        r->suppressed++;
        return false;
    }
    *suppressed = r->suppressed;
    r->suppressed = 0;
    r->last_ms = now;
    return true;
}

/* Backpressure: stop reading c (the caller updates the epoll mask). */
static void conn_pause(conn_t *c)
{
    static ratelog_t rl;
    long more;
    c->pause |= PAUSE_OUT;
    if (ratelog_ok(&rl, gr_ev_now_ms(net.ev), &more))
        gr_info("net", "Backpressure: pausing reads from %s (%d requests queued, %zu bytes of responses unsent; "
                "%ld more pauses since the last message)", c->peer, c->nreq, c->out_queued, more);
}

/* The memory budget: stop reading c until memory frees up (the caller
 * updates the epoll mask). */
static void conn_pause_mem(conn_t *c)
{
    static ratelog_t rl;
    long more;
    c->pause |= PAUSE_MEM;
    wait_add(c);
    if (ratelog_ok(&rl, gr_ev_now_ms(net.ev), &more))
        gr_info("net", "Memory budget: pausing reads from %s (it holds %zu bytes, %d responses unsent; %zu bytes "
                "held for all %d connections, queued.max.request.bytes %" PRId64 "; %ld more pauses since the last "
                "message)", c->peer, c->mem, c->ndone, net.mem, net.nconns, net.opts.queued_max_bytes, more);
}

/* This loop turn's work is done: c's frames wait for the next turn. */
static void conn_pause_work(conn_t *c)
{
    c->pause |= PAUSE_WORK;
    wait_add(c);
    if (!gr_timer_armed(&net.resume))
        gr_timer_start(net.ev, &net.resume, 0);
}

/* Make room for want bytes of input in c->in (the caller bounds want by
 * the frame size).  Up to SPARE_MAX the capacity is a power of two, taken
 * from the spare list when one is there. */
static void in_grow(conn_t *c, size_t want)
{
    if (c->in_cap >= want)
        return;
    size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
    if (cap < want)
        cap = want;
    if (cap <= SPARE_MAX) {
        size_t p2 = 4096;
        while (p2 < cap)
            p2 <<= 1;
        cap = p2;
        for (int i = 0; i < net.nspare; i++) {
            if (net.spare_cap[i] < cap)
                continue;
            uint8_t *b = net.spare[i];
            size_t bcap = net.spare_cap[i];
            net.nspare--;
            net.spare[i] = net.spare[net.nspare];
            net.spare_cap[i] = net.spare_cap[net.nspare];
            if (c->in_len > 0)
                memcpy(b, c->in, c->in_len);
            spare_put(c->in, c->in_cap);
            c->in = b;
            c->in_cap = bcap;
            return;
        }
    }
    c->in = gr_realloc(c->in, cap);
    c->in_cap = cap;
}

/* Move the bytes not dispatched yet to the front of c->in. */
static void in_compact(conn_t *c)
{
    if (c->in_off == 0)
        return;
    memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
    c->in_len -= c->in_off;
    c->in_off = 0;
}

/* After input was consumed: note when an incomplete request started to
 * arrive (dispatch() clears it for every complete one) and make sure the
 * timer fires by its read deadline. */
static void note_partial(conn_t *c)
{
    if (c->in_len == c->in_off) {
        c->frame_start_ms = 0;
        return;
    }
    if (c->frame_start_ms == 0 && !c->pause) {
        c->frame_start_ms = gr_ev_now_ms(net.ev);
        conn_arm(c, c->frame_start_ms + net.opts.read_timeout_ms);
    }
}

/* The peer closed or shut down its side: it is gone.  One last write of
 * the responses already complete, then close (parked requests are
 * cancelled by conn_close). */
static void peer_gone(conn_t *c)
{
    gr_debug("net", "Connection from %s: the peer closed its side; closing (%d requests in flight)", c->peer,
             c->nreq);
    if (c->qhead && !c->closing)
        write_some(c);
    close_later(c);
}

/* Dispatch complete frames held in c->in.  Frames left behind by a pause
 * stay where they are (in_off moves): moving the rest after every few
 * frames would cost quadratic time on a buffer full of small ones. */
static void process_buffered(conn_t *c)
{
    size_t used = process_frames(c, c->in + c->in_off, c->in_len - c->in_off);
    if (used > 0) {
        c->in_off += used;
        c->admitted = false;        /* the admitted frame was the first one */
    }
    if (c->in_off == c->in_len) {
        c->in_off = c->in_len = 0;
        if (c->in_cap > SMALL_BUF) {
            spare_put(c->in, c->in_cap);
            c->in = NULL;
            c->in_cap = 0;
        }
    } else if (!c->pause && used > 0) {
        in_compact(c);              /* only a partial frame is left */
    }
    in_charge(c);
}

static void conn_read(conn_t *c)
{
    for (int round = 0; round < READS_PER_EVENT; round++) {
        if (c->pause || c->closing || net.draining)
            break;
        uint8_t *dst;
        size_t room;
        bool shared = c->in_len == 0;
        if (shared) {
            dst = net.rbuf;
            room = sizeof(net.rbuf);
        } else {
            in_compact(c);
            size_t total = frame_total(c);
            /* more of a partial frame: only once it is admitted */
            if (total > c->in_len && !admit_frame(c)) {
                conn_pause_mem(c);
                conn_update_mask(c);
                break;
            }
            if (c->in_len == c->in_cap || (total > c->in_cap && total <= SPARE_MAX))
                in_grow(c, total > c->in_len ? (total <= SPARE_MAX ? total : GR_MIN(total, c->in_cap * 2))
                                             : c->in_cap + 1);
            dst = c->in + c->in_len;
            room = c->in_cap - c->in_len;
            /* do not read past the frame when the buffer is big (large
             * frames): the rest comes with the next read */
        }
        ssize_t n = read(c->fd, dst, room);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            gr_debug("net", "Connection from %s: read: %s", c->peer, strerror(errno));
            close_later(c);
            break;
        }
        if (n == 0) {
            peer_gone(c);
            break;
        }
        if (shared) {
            size_t used = process_frames(c, dst, (size_t)n);
            size_t left = (size_t)n - used;
            if (left > 0 && !c->closing) {
                /* a frame that fits SPARE_MAX gets its whole buffer now,
                 * once admitted; left may hold several frames when
                 * backpressure stopped the dispatch */
                size_t want = left >= 4 ? (size_t)gr_be32(dst + used) + 4 : left;
                bool partial = left >= 4 && want > left;
                bool ok = !partial || mem_admit(c, want > c->in_res ? want - c->in_res : 0);
                in_grow(c, ok ? GR_MAX(GR_MAX(want <= SPARE_MAX ? want : left, left), (size_t)4096)
                              : GR_MAX(left, (size_t)4096));
                memcpy(c->in, dst + used, left);
                c->in_len = left;
                c->admitted = partial && ok;
                in_charge(c);
                if (!ok) {
                    conn_pause_mem(c);
                    conn_update_mask(c);
                    break;
                }
            }
        } else {
            c->in_len += (size_t)n;
            process_buffered(c);
        }
        if ((size_t)n < room)
            break;   /* socket drained */
    }
    in_charge(c);
    if (!c->closing && !c->pause) {
        if (over_high(c))
            conn_pause(c);
        else if (over_share(c))
            conn_pause_mem(c);
        conn_update_mask(c);
    }
    if (!c->closing)
        note_partial(c);
}

static void conn_cb(gr_ev_t *ev, int fd, unsigned events, void *arg)
{
    GR_UNUSED(ev);
    GR_UNUSED(fd);
    conn_t *c = arg;
    if (events & GR_EV_WRITE)
        conn_flush(c);
    if ((events & GR_EV_READ) && !c->closing && (c->mask & GR_EV_READ))
        conn_read(c);
    /* a hang-up while not reading (backpressure, draining): the EOF would
     * never be read; while reading, conn_read reaches it after the data */
    if ((events & GR_EV_HUP) && !c->closing && !(c->mask & GR_EV_READ))
        peer_gone(c);
    if (c->closing)
        conn_close(c);
}

/* (Re)arm the connection's timer to fire by due_ms (loop clock) at the
 * latest. */
static void conn_arm(conn_t *c, int64_t due_ms)
{
    int64_t now = gr_ev_now_ms(net.ev);
    if (gr_timer_armed(&c->idle) && c->idle.when_us <= due_ms * 1000)
        return;
    gr_timer_start(net.ev, &c->idle, GR_MAX(due_ms - now, 0));
}

static void idle_cb(gr_ev_t *ev, void *arg)
{
    static ratelog_t rl_idle, rl_stuck, rl_slow;
    conn_t *c = arg;
    int64_t now = gr_ev_now_ms(ev);
    int64_t due = INT64_MAX;
    long more;
    /* a request that does not finish arriving (not while we stopped
     * reading: then the client cannot send) */
    if (c->frame_start_ms > 0 && !c->pause) {
        int64_t d = c->frame_start_ms + net.opts.read_timeout_ms;
        if (now >= d) {
            if (ratelog_ok(&rl_slow, now, &more))
                gr_info("net", "Closing connection from %s: a request did not arrive within %" PRId32 " ms "
                        "(request.timeout.ms; %zu bytes of it came; %ld more since the last message)", c->peer,
                        net.opts.read_timeout_ms, c->in_len, more);
            conn_close(c);
            return;
        }
        due = d;
    }
    if (net.opts.idle_ms > 0) {
        int64_t d;
        if (c->want_write) {
            /* responses the peer does not read */
            d = c->out_blocked_ms + net.opts.idle_ms;
            if (now >= d) {
                if (ratelog_ok(&rl_stuck, now, &more))
                    gr_info("net", "Closing connection from %s: %zu bytes of responses unread for %" PRId64 " ms "
                            "(%ld more since the last message)", c->peer, c->out_queued, now - c->out_blocked_ms,
                            more);
                conn_close(c);
                return;
            }
        } else {
            d = c->last_active_ms + net.opts.idle_ms;
            if (now >= d) {
                if (ratelog_ok(&rl_idle, now, &more))
                    gr_info("net", "Closing idle connection from %s after %" PRId64 " ms (connections.max.idle.ms; "
                            "%d requests in progress%s; %ld more since the last message)", c->peer,
                            now - c->last_active_ms, c->nreq,
                            c->in_len > 0 ? ", an incomplete request counts as idle" : "", more);
                conn_close(c);
                return;
            }
        }
        due = GR_MIN(due, d);
    }
    if (due != INT64_MAX)
        gr_timer_start(ev, &c->idle, due - now);
}

static conn_t *conn_new(int fd, const char *peer)
{
    conn_t *c = gr_calloc(1, sizeof(*c));
    c->fd = fd;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    c->last_active_ms = gr_ev_now_ms(net.ev);
    gr_timer_init(&c->idle, idle_cb, c);
    if (gr_ev_add(net.ev, fd, GR_EV_READ | GR_EV_HUP, conn_cb, c) < 0) {
        gr_warn("net", "Cannot register connection from %s: %s", peer, strerror(errno));
        close(fd);
        free(c);
        return NULL;
    }
    c->mask = GR_EV_READ | GR_EV_HUP;
    if (net.opts.idle_ms > 0)
        gr_timer_start(net.ev, &c->idle, net.opts.idle_ms);
    c->next = net.conns;
    if (net.conns)
        net.conns->prev = c;
    net.conns = c;
    net.nconns++;
    return c;
}

/* ------------------------------------------------------------ framing */

static void dispatch(conn_t *c, const uint8_t *frame, size_t size)
{
    gr_rd_t rd;
    gr_rd_init(&rd, frame, size);
    int16_t key = gr_rd_i16(&rd);
    int16_t ver = gr_rd_i16(&rd);
    int32_t corr = gr_rd_i32(&rd);
    if (rd.err) {
        gr_warn("net", "Closing connection from %s: truncated request header (%zu bytes)", c->peer, size);
        close_later(c);
        return;
    }
    const gr_api_def_t *def = gr_api_lookup(key);
    if (!def || !def->handler) {
        gr_warn("net", "Closing connection from %s: unknown API key %d", c->peer, key);
        close_later(c);
        return;
    }
    bool unsupported = ver < def->min_version || ver > def->max_version;
    if (unsupported && key != GR_API_VERSIONS_KEY) {
        gr_warn("net", "Closing connection from %s: unsupported %s request version %d (supported %d-%d)", c->peer,
                def->name, ver, def->min_version, def->max_version);
        close_later(c);
        return;
    }
    gr_str_t client_id = GR_STR_NULL;
    bool flex = ver >= def->flex_min;
    if (!unsupported) {
        /* the whole header again: v1, or v2 (tagged fields) when flexible */
        gr_RequestHeader_t h;
        gr_rd_init(&rd, frame, size);
        if (gr_RequestHeader_decode(&rd, flex ? 2 : 1, NULL, &h) < 0) {
            gr_warn("net", "Closing connection from %s: malformed %s v%d request header", c->peer, def->name, ver);
            close_later(c);
            return;
        }
        client_id = h.ClientId;
    }

    c->last_active_ms = gr_ev_now_ms(net.ev);
    c->frame_start_ms = 0;
    gr_req_t *r = req_get();
    r->conn = c;
    r->api_key = key;
    r->api_version = ver;
    r->correlation_id = corr;
    r->flexible = unsupported ? false : flex;
    r->client_id = client_id.len > 0 ? gr_req_held(r, client_id) : "";
    r->recv_us = gr_mono_us();
    gr_metrics_request_in(key, ver, size + 4);
    if (c->qtail)
        c->qtail->next = r;
    else
        c->qhead = r;
    c->qtail = r;
    c->nreq++;
    net.nreqs++;
    net.dispatching = r;
    if (unsupported)
        gr_api_versions_unsupported(r);
    else
        def->handler(r, &rd);
    net.dispatching = NULL;
    if (r->state == GR_REQ_PENDING) {
        r->parked = true;
        gr_metrics_parked(key, 1);
    }
    net.turn_work += r->work;
    req_settle(c, r, true);
}

/* Dispatch the complete frames in buf; returns the bytes consumed.  Stops
 * early when the connection is closing or over its high-water mark. */
static size_t process_frames(conn_t *c, uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (len - off >= 4 && !c->closing && !c->pause) {
        const uint8_t *p = buf + off;
        int32_t size = (int32_t)gr_be32(p);
        if (size < 0) {
            gr_warn("net", "Closing connection from %s: invalid request size %" PRId32, c->peer, size);
            close_later(c);
            break;
        }
        if (size > net.opts.max_request_bytes) {
            gr_warn("net", "Closing connection from %s: request size %" PRId32
                    " exceeds socket.request.max.bytes %" PRId32, c->peer, size, net.opts.max_request_bytes);
            close_later(c);
            break;
        }
        if (size < 8) {
            gr_warn("net", "Closing connection from %s: request size %" PRId32 " is too small for a header",
                    c->peer, size);
            close_later(c);
            break;
        }
        if (len - off - 4 < (size_t)size)
            break;
        /* requests that decompress (Produce, ListOffsets) wait once this
         * turn's work is done */
        uint16_t key = gr_be16(p + 4);
        if (net.turn_work >= TURN_WORK_MAX && (key == 0 || key == 2)) {
            conn_pause_work(c);
            conn_update_mask(c);
            break;
        }
        dispatch(c, p + 4, (size_t)size);
        off += 4 + (size_t)size;
        if (over_high(c)) {
            conn_pause(c);
            conn_update_mask(c);
        } else if (over_share(c)) {
            conn_pause_mem(c);
            conn_update_mask(c);
        }
    }
    return off;
}

/* ------------------------------------------------------------ output */

static void req_unlink_head(conn_t *c)
{
    gr_req_t *r = c->qhead;
    c->qhead = r->next;
    if (!c->qhead)
        c->qtail = NULL;
    c->nreq--;
    net.nreqs--;
    req_uncharge(c, r);
    req_put(r);
}

static gr_chunk_t *first_unsent(gr_req_t *r)
{
    gr_chunk_t *ch = r->out.head;
    while (ch && ch->sent >= ch->len)
        ch = ch->next;
    return ch;
}

/* A lazy chunk (Fetch down-conversion): ask its source for the next
 * piece once the last one is out, recharge the request for the memory the
 * source holds now, send.  Returns 1 after progress, 0 when the socket is
 * full, -1 when the connection was closed (a source that cannot go on:
 * the response header is already out). */
static int write_lazy(conn_t *c, gr_req_t *r, gr_chunk_t *ch)
{
    if (ch->piece_off >= ch->piece_len) {
        const uint8_t *p = NULL;
        ssize_t n = ch->lazy->next(ch->src, ch->len - ch->sent, &p);
        if (n <= 0 || (size_t)n > ch->len - ch->sent) {
            gr_warn("net", "Closing connection from %s: a down-converted Fetch response cannot be completed (%s)",
                    c->peer, n < 0 ? strerror((int)-n) : "short");
            close_later(c);
            return -1;
        }
        ch->piece = p;
        ch->piece_len = (size_t)n;
        ch->piece_off = 0;
        req_settle(c, r, false);
    }
    bool more = ch->next != NULL || ch->piece_len - ch->piece_off < ch->len - ch->sent;
    for (gr_req_t *q = r->next; q && !more; q = q->next)
        more = q->state == GR_REQ_DONE;
    ssize_t n = send(c->fd, ch->piece + ch->piece_off, ch->piece_len - ch->piece_off,
                     MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    if (n == -1) {
        if (errno == EINTR)
            return 1;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        gr_debug("net", "Connection from %s: write: %s", c->peer, strerror(errno));
        close_later(c);
        return -1;
    }
    ch->piece_off += (size_t)n;
    ch->sent += (size_t)n;
    c->out_queued -= GR_MIN(c->out_queued, (size_t)n);
    if (n > 0)
        c->last_active_ms = c->out_blocked_ms = gr_ev_now_ms(net.ev);
    return 1;
}

/* Write what can be written; returns false when the socket is full. */
static bool write_some(conn_t *c)
{
    for (;;) {
        while (c->qhead && (c->qhead->state == GR_REQ_NORESP ||
                            (c->qhead->state == GR_REQ_DONE && !first_unsent(c->qhead))))
            req_unlink_head(c);
        gr_req_t *r = c->qhead;
        if (!r || r->state != GR_REQ_DONE)
            return true;
        gr_chunk_t *ch = first_unsent(r);
        if (ch->lazy) {
            int rc = write_lazy(c, r, ch);
            if (rc > 0)
                continue;
            return rc == 0 ? false : true;
        }
        if (ch->file) {
            off_t off = (off_t)(ch->file_off + (int64_t)ch->sent);
            int ffd = gr_file_fd(ch->file);
            if (ffd < 0) {
                /* closed by the descriptor cache and deleted (or replaced)
                 * since: the client fetches again */
                gr_info("net", "Closing connection from %s: the segment of a Fetch response is gone (%s)",
                        c->peer, strerror(-ffd));
                close_later(c);
                return true;
            }
            ssize_t n = gr_fio_sendfile(c->fd, ffd, &off, ch->len - ch->sent);
            if (n == -1) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return false;
                /* the response header is out: a failed read of the segment
                 * can only end the connection (the client retries) */
                if (errno == EIO)
                    gr_error("net", "Closing connection from %s: reading segment data for a Fetch response "
                             "failed: %s", c->peer, strerror(errno));
                else
                    gr_debug("net", "Connection from %s: sendfile: %s", c->peer, strerror(errno));
                close_later(c);
                return true;
            }
            if (n == 0) {
                gr_error("net", "Closing connection from %s: segment data shorter than the response claims",
                         c->peer);
                close_later(c);
                return true;
            }
            ch->sent += (size_t)n;
            c->out_queued -= GR_MIN(c->out_queued, (size_t)n);
            c->last_active_ms = c->out_blocked_ms = gr_ev_now_ms(net.ev);
            continue;
        }
        /* gather memory chunks, across responses, up to a file chunk */
        struct iovec iov[MAX_IOV];
        int niov = 0;
        bool more = false;
        for (gr_req_t *q = r; q && niov < MAX_IOV; q = q->next) {
            if (q->state == GR_REQ_NORESP)
                continue;
            if (q->state != GR_REQ_DONE)
                break;
            gr_chunk_t *k = q == r ? ch : q->out.head;
            for (; k && niov < MAX_IOV; k = k->next) {
                if (k->file || k->lazy) {
                    more = true;
                    break;
                }
                if (k->sent >= k->len)
                    continue;
                iov[niov].iov_base = k->mem + k->sent;
                iov[niov].iov_len = k->len - k->sent;
                niov++;
            }
            if (more)
                break;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
        ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return false;
            gr_debug("net", "Connection from %s: write: %s", c->peer, strerror(errno));
            close_later(c);
            return true;
        }
        c->out_queued -= GR_MIN(c->out_queued, (size_t)n);
        if (n > 0)
            c->last_active_ms = c->out_blocked_ms = gr_ev_now_ms(net.ev);
        /* account the written bytes to the chunks in order */
        size_t left = (size_t)n;
        for (gr_req_t *q = r; q && left > 0; q = q->next) {
            for (gr_chunk_t *k = q->out.head; k && left > 0; k = k->next) {
                if (k->file || k->lazy || k->sent >= k->len)
                    continue;
                size_t take = GR_MIN(left, k->len - k->sent);
                k->sent += take;
                left -= take;
            }
        }
    }
}

/* Does c hold a complete frame not dispatched yet? */
static bool has_frame(const conn_t *c)
{
    size_t total = frame_total(c);
    return total > 0 && total <= c->in_len - c->in_off;
}

/* Clear the reasons to pause c that no longer hold.  Frames it buffered
 * while paused are dispatched here when `dispatch` (the resume timer), else
 * at the next turn: a flush never runs handlers, so that one connection
 * cannot keep the flush going (answer, write, dispatch, answer...) while
 * others wait. */
static void conn_resume(conn_t *c, bool dispatch)
{
    unsigned was = c->pause;
    if ((c->pause & PAUSE_OUT) && under_low(c))
        c->pause &= ~PAUSE_OUT;
    if ((c->pause & PAUSE_MEM) && !mem_blocked(c))
        c->pause &= ~PAUSE_MEM;
    if ((c->pause & PAUSE_WORK) && dispatch && net.turn_work < TURN_WORK_MAX)
        c->pause &= ~PAUSE_WORK;
    if (!c->pause && !c->closing && has_frame(c)) {
        if (!dispatch) {
            conn_pause_work(c);
        } else {
            process_buffered(c);
            if (!c->pause && !c->closing) {
                if (over_high(c))
                    conn_pause(c);
                else if (over_share(c))
                    conn_pause_mem(c);
            }
        }
    }
    if (!(c->pause & (PAUSE_MEM | PAUSE_WORK)))
        wait_del(c);
    if (was && !c->pause && !c->closing) {
        c->frame_start_ms = 0;        /* the client could not send meanwhile */
        note_partial(c);
    }
    if (!c->closing)
        conn_update_mask(c);
}

static void flush_pending(void);

/* The resume timer: a turn after work was deferred or memory freed, retry
 * the connections waiting then, in order. */
static void resume_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    GR_UNUSED(arg);
    /* what this turn answered leaves first: deferred work must not delay
     * the responses of the connections served in between */
    flush_pending();
    /* connections are only freed at the top level, not by the handlers the
     * resumed frames run, so `next` stays valid; one pass over those
     * waiting now (a connection that waits again goes to the tail) */
    conn_t *last = net.wtail;
    for (conn_t *c = net.whead, *next; c; c = next) {
        next = c == last ? NULL : c->wnext;
        if (c->closing)
            wait_del(c);
        else
            conn_resume(c, true);
    }
    for (conn_t *c = net.whead; c; c = c->wnext)
        if ((c->pause & PAUSE_WORK) && !gr_timer_armed(&net.resume)) {
            gr_timer_start(net.ev, &net.resume, 0);
            break;
        }
}

static void conn_flush(conn_t *c)
{
    if (c->closing)
        return;
    bool was_blocked = c->want_write;
    c->want_write = !write_some(c);
    if (c->closing)
        return;
    if (c->want_write && !was_blocked) {
        /* the socket is full: unread responses count from now */
        c->out_blocked_ms = gr_ev_now_ms(net.ev);
        if (net.opts.idle_ms > 0)
            conn_arm(c, c->out_blocked_ms + net.opts.idle_ms);
    }
    conn_resume(c, false);
}

/* Flush or close every pending connection (top-level contexts only). */
static void flush_pending(void)
{
    conn_t *c;
    while ((c = net.phead) != NULL) {
        pending_del(c);
        if (!c->closing)
            conn_flush(c);
        if (c->closing) {
            pending_del(c);
            conn_close(c);
        }
    }
}

/* before_sleep: flush or close every pending connection; the loop turn
 * ends. */
static void net_before_sleep(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(arg);
    flush_pending();
    net.turn_work = 0;
    /* the load went: give what was freed back to the system, at most once
     * a second */
    int64_t now = gr_ev_now_ms(ev);
    if (net.freed >= TRIM_MIN && net.mem <= net.mem_peak / 4 && now - net.trim_ms >= 1000) {
        while (net.nspare > 0) {
            net.nspare--;
            free(net.spare[net.nspare]);
            net.spare[net.nspare] = NULL;
        }
        while (net.nreq_free > REQ_POOL_IDLE) {
            gr_req_t *r = net.req_free;
            net.req_free = r->next;
            net.nreq_free--;
            gr_arena_free(&r->arena);
            gr_wr_free(&r->out);
            free(r);
        }
#ifdef __GLIBC__
        malloc_trim(0);
#endif
#if GR_ASAN
        __sanitizer_purge_allocator();  /* the sanitizer's allocator keeps it otherwise */
#endif
        net.freed = 0;
        net.mem_peak = net.mem;
        net.trim_ms = now;
    }
}

void gr_net_req_done(gr_req_t *req)
{
    conn_t *c = req->conn;
    req_unpark(req);
    gr_metrics_request_done(req);
    if (!c) {
        /* orphaned by a closed connection: nobody is waiting */
        req_put(req);
        return;
    }
    if (c->dead)
        return;   /* conn_close() frees it */
    if (req->state == GR_REQ_DONE)
        c->out_queued += req->out.total;
    if (req != net.dispatching)
        req_settle(c, req, false);  /* completed later: dispatch() settles its own */
    pending_add(c);
}

void gr_net_req_close(gr_req_t *req)
{
    if (req->conn)
        close_later(req->conn);
}

const char *gr_req_peer(const gr_req_t *req)
{
    return req->conn ? req->conn->peer : "-";
}

/* ------------------------------------------------------------ listener */

static void accept_cb(gr_ev_t *ev, int fd, unsigned events, void *arg);

static void accept_retry_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(arg);
    if (net.lfd >= 0)
        gr_ev_mod(ev, net.lfd, GR_EV_READ);
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
        snprintf(out, outlen, "%s:%d", host, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(out, outlen, "[%s]:%d", host, port);
    } else {
        snprintf(out, outlen, "unix");
    }
}

/* Over opts.max_conns: accepted and closed at once, so the client sees a
 * close instead of waiting in the backlog. */
static void refuse(int cfd, const char *peer)
{
    static ratelog_t rl;
    long more;
    net.refused++;
    if (ratelog_ok(&rl, gr_ev_now_ms(net.ev), &more))
        gr_warn("net", "Refusing connection from %s: %d connections open, the most that max.connections and the "
                "descriptor budget allow (%ld more refused since the last message, %" PRId64 " in all)", peer,
                net.nconns, more, net.refused);
    close(cfd);
}

static void accept_cb(gr_ev_t *ev, int fd, unsigned events, void *arg)
{
    GR_UNUSED(events);
    GR_UNUSED(arg);
    /* bounded per loop turn: a connection flood must not starve the
     * connections already there (level-triggered: the rest comes next) */
    for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                int64_t now = gr_ev_now_ms(ev);
                if (now - net.emfile_logged_ms >= 1000) {
                    gr_warn("net", "Cannot accept connections: %s (%d open); refusing new ones", strerror(errno),
                            net.nconns);
                    net.emfile_logged_ms = now;
                }
                /* shed the pending connection with the spare fd so that the
                 * client sees a close instead of a hang */
                if (errno == EMFILE && net.reserve_fd >= 0) {
                    close(net.reserve_fd);
                    net.reserve_fd = -1;
                    int x = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
                    if (x >= 0)
                        close(x);
                    net.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                    if (x >= 0 && net.reserve_fd >= 0)
                        continue;
                }
                /* back off instead of spinning on a readable listener */
                gr_ev_mod(ev, fd, 0);
                gr_timer_start(ev, &net.accept_retry, 100);
                return;
            }
            gr_warn("net", "accept: %s", strerror(errno));
            return;
        }
        int one = 1;
        if (setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1 && errno != EOPNOTSUPP)
            gr_debug("net", "TCP_NODELAY: %s", strerror(errno));
        char peer[64];
        format_peer(&ss, peer, sizeof(peer));
        if (net.nconns >= net.opts.max_conns) {
            refuse(cfd, peer);
            continue;
        }
        conn_new(cfd, peer);
    }
}

void gr_net_init(gr_ev_t *ev, const gr_net_opts_t *opts)
{
    if (net.ev != ev) {
        net.ev = ev;
        gr_ev_before_sleep(ev, net_before_sleep, NULL);
        gr_timer_init(&net.accept_retry, accept_retry_cb, NULL);
        gr_timer_init(&net.resume, resume_cb, NULL);
    }
    gr_net_opts_t o = opts ? *opts : (gr_net_opts_t){0};
    if (o.max_request_bytes <= 0)
        o.max_request_bytes = 104857600;
    if (o.idle_ms == 0)
        o.idle_ms = 600000;
    if (o.out_high_bytes == 0)
        o.out_high_bytes = (size_t)16 << 20;
    if (o.max_pending <= 0)
        o.max_pending = 1000;
    if (o.read_timeout_ms <= 0)
        o.read_timeout_ms = 30000;
    if (o.max_conns <= 0)
        o.max_conns = INT_MAX;
    if (o.queued_max_bytes == 0)
        o.queued_max_bytes = (int64_t)256 << 20;
    /* one frame of the largest size must always fit (Kafka requires the
     * key to be at least socket.request.max.bytes) */
    if (o.queued_max_bytes > 0 && o.queued_max_bytes < o.max_request_bytes)
        o.queued_max_bytes = o.max_request_bytes;
    if (o.queued_max_requests == 0)
        o.queued_max_requests = 500;
    net.opts = o;
    if (net.draining) {
        net.draining = false;
        for (conn_t *c = net.conns; c; c = c->next)
            conn_update_mask(c);
    }
}

int gr_net_listen(gr_ev_t *ev, const char *host, int port, const gr_net_opts_t *opts)
{
    gr_net_init(ev, opts);
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int grc = getaddrinfo(host && *host ? host : NULL, portstr, &hints, &ai);
    if (grc != 0) {
        gr_error("net", "Cannot resolve listener host %s: %s", host ? host : "", gai_strerror(grc));
        return GR_EINVAL;
    }
    int rc = GR_EIO, fd = -1;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd == -1) {
            rc = -errno;
            continue;
        }
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
            bind(fd, a->ai_addr, a->ai_addrlen) == -1 || listen(fd, 4096) == -1) {
            rc = -errno;
            close(fd);
            fd = -1;
            continue;
        }
        break;
    }
    freeaddrinfo(ai);
    if (fd == -1) {
        gr_error("net", "Cannot listen on %s:%d: %s", host ? host : "", port, strerror(-rc));
        return rc;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        net.port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
    rc = gr_ev_add(ev, fd, GR_EV_READ, accept_cb, NULL);
    if (rc < 0) {
        gr_error("net", "Cannot watch the listener: %s", strerror(-rc));
        close(fd);
        return rc;
    }
    net.lfd = fd;
    if (net.reserve_fd < 0)
        net.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return 0;
}

int gr_net_port(void)
{
    return net.port;
}

int gr_net_adopt(int fd, const char *peer)
{
    if (!net.ev)
        return GR_EINVAL;
    return conn_new(fd, peer) ? 0 : GR_EIO;
}

void gr_net_stop_accepting(void)
{
    if (net.lfd < 0)
        return;
    gr_timer_stop(net.ev, &net.accept_retry);
    gr_ev_del(net.ev, net.lfd);
    close(net.lfd);
    net.lfd = -1;
}

size_t gr_net_mem_used(void)
{
    return net.mem;
}

int gr_net_conn_count(void)
{
    return net.nconns;
}


bool gr_net_idle(void)
{
    return net.nreqs == 0;
}

void gr_net_drain(gr_ev_t *ev, int64_t timeout_ms)
{
    net.draining = true;
    for (conn_t *c = net.conns; c; c = c->next)
        conn_update_mask(c);
    int64_t deadline = gr_mono_ms() + timeout_ms;
    while (!gr_net_idle()) {
        int64_t left = deadline - gr_mono_ms();
        if (left <= 0) {
            gr_warn("net", "%" PRId64 " requests still in flight after %" PRId64 " ms; closing connections",
                    net.nreqs, timeout_ms);
            break;
        }
        if (gr_ev_run_once(ev, GR_MIN(left, 100)) < 0)
            break;
    }
    /* flush what the last iteration completed */
    net_before_sleep(ev, NULL);
}

void gr_net_close_all(void)
{
    gr_net_stop_accepting();
    while (net.conns)
        conn_close(net.conns);
    if (net.ev)
        gr_timer_stop(net.ev, &net.resume);
    net.phead = net.ptail = NULL;
    while (net.req_free) {
        gr_req_t *r = net.req_free;
        net.req_free = r->next;
        gr_arena_free(&r->arena);
        gr_wr_free(&r->out);
        free(r);
    }
    net.nreq_free = 0;
    while (net.nspare > 0) {
        net.nspare--;
        free(net.spare[net.nspare]);
        net.spare[net.nspare] = NULL;
    }
    if (net.reserve_fd >= 0) {
        close(net.reserve_fd);
        net.reserve_fd = -1;
    }
    /* detached: the next gr_net_init() hooks into whatever loop it gets */
    net.ev = NULL;
    net.port = -1;
}
