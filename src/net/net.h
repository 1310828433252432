/*
 * net.h - the listener and client connections: accept, framing, request
 * dispatch, in-order output with writev/sendfile, backpressure, idle
 * timeouts and graceful shutdown.
 *
 * One listener per process (module state in net.c), driven by the broker's
 * event loop.  Requests are handed to the handlers of api.h; responses go
 * back through gr_resp_end()/gr_resp_none(), which call gr_net_req_done().
 */
#ifndef GR_NET_H
#define GR_NET_H

#include "api.h"
#include "ev.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Zero fields take the default shown. */
typedef struct gr_net_opts {
    int32_t max_request_bytes;   /* socket.request.max.bytes: 104857600 */
    int64_t idle_ms;             /* connections.max.idle.ms: 600000; < 0 = never */
    size_t out_high_bytes;       /* stop reading a connection above: 16 MiB queued output */
    int max_pending;             /* ... or above this many queued requests: 1000 */
    int32_t read_timeout_ms;     /* request.timeout.ms: a request arrives within it: 30000 */
    int max_conns;               /* connections at once (more are refused): INT_MAX */
    int64_t queued_max_bytes;    /* queued.max.request.bytes, broker-wide: 256 MiB;
                                  * < 0 = no limit (raised to max_request_bytes) */
    int32_t queued_max_requests; /* queued.max.requests, broker-wide: 500 */
} gr_net_opts_t;

/* Bind host:port (SO_REUSEADDR, port 0 = any free port) and start
 * accepting on ev.  Returns 0 or a negative GR_E* (logged). */
int gr_net_listen(gr_ev_t *ev, const char *host, int port, const gr_net_opts_t *opts);
/* The bound port (useful after listening on port 0), -1 if none. */
int gr_net_port(void);
/* Close the listening socket; existing connections carry on. */
void gr_net_stop_accepting(void);
int gr_net_conn_count(void);
/* Bytes held for clients under the memory budget (queued.max.request.bytes). */
size_t gr_net_mem_used(void);
/* True when no connection has a request in flight or output queued. */
bool gr_net_idle(void);
/* Graceful shutdown: stop reading requests, run the loop until every
 * in-flight request is answered and its output written, or timeout_ms. */
void gr_net_drain(gr_ev_t *ev, int64_t timeout_ms);
/* Close every connection (parked requests are cancelled) and the listener;
 * the module lets go of the loop (gr_ev_free may follow). */
void gr_net_close_all(void);

/* Set options and hook into ev without listening (gr_net_listen does this). */
void gr_net_init(gr_ev_t *ev, const gr_net_opts_t *opts);
/* Serve an already connected, non-blocking socket (tests, socketpairs).
 * Takes ownership of fd.  peer names it in log lines. */
int gr_net_adopt(int fd, const char *peer);

/* ---- for api.c ---- */
/* The request's response is complete (DONE or NORESP): queue the
 * connection for flushing before the loop sleeps. */
void gr_net_req_done(gr_req_t *req);
/* Close the request's connection once the current handler returns. */
void gr_net_req_close(gr_req_t *req);

#endif
