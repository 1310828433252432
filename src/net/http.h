/*
 * http.h - the HTTP listener (http.listeners): /metrics, the Burrow v3 API
 * and the web console, served by libmicrohttpd driven from the broker's
 * event loop (http.c).  Route handlers (http_api.c) run on the loop thread
 * and read broker state directly.
 */
#ifndef GR_HTTP_H
#define GR_HTTP_H

#include "buf.h"
#include "ev.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Start listening on `listener` (http://host:port; port 0 = any free).
 * Returns 0 or a negative GR_E* (logged). */
int gr_http_start(gr_ev_t *ev, const char *listener);
/* The bound port, -1 when not listening. */
int gr_http_port(void);
/* Answer what waits, close every connection. */
void gr_http_stop(void);
/* Bytes the listener holds for responses and scrapes (its memory account). */
size_t gr_http_mem(void);

/* ---- for route handlers (http_api.c) ---- */

typedef struct gr_http_req gr_http_req_t;

#define GR_HTTP_MAX_SEGS 12

const char *gr_http_method(const gr_http_req_t *r);
/* Path segments, percent-decoded (may hold any byte but NUL; a %00 makes
 * the request a 400). */
int gr_http_nseg(const gr_http_req_t *r);
const char *gr_http_seg(const gr_http_req_t *r, int i);
/* A query argument, percent- and '+'-decoded, NULL if absent. */
const char *gr_http_arg(gr_http_req_t *r, const char *name);
/* A request header, NULL if absent. */
const char *gr_http_header(gr_http_req_t *r, const char *name);
/* The request body (at most GR_HTTP_MAX_BODY bytes; more is a 413). */
#define GR_HTTP_MAX_BODY (256 * 1024)
const gr_buf_t *gr_http_body(const gr_http_req_t *r);
/* Changes are allowed: http.console.write.enable, the custom header, and
 * no cross-site Origin / Sec-Fetch-Site.  Otherwise answers 403 and
 * returns false. */
bool gr_http_check_write(gr_http_req_t *r);

/* The response body is built in gr_http_out(r), then gr_http_reply()
 * sends it.  A handler that cannot answer at once calls gr_http_defer()
 * and gets a ticket; whoever completes the work later replies through the
 * ticket (gr_http_ticket_req is NULL once the client went away), then
 * frees the ticket. */
gr_buf_t *gr_http_out(gr_http_req_t *r);
void gr_http_reply(gr_http_req_t *r, int status, const char *content_type);
typedef struct gr_http_ticket gr_http_ticket_t;
gr_http_ticket_t *gr_http_defer(gr_http_req_t *r);
gr_http_req_t *gr_http_ticket_req(gr_http_ticket_t *t);
void gr_http_ticket_free(gr_http_ticket_t *t);
/* A streamed answer: next(st, out) appends the next piece, false when
 * done; done(st) frees st.  bytes: what st holds, for the account. */
typedef bool gr_http_next_fn(void *st, gr_buf_t *out);
typedef void gr_http_free_fn(void *st);
void gr_http_reply_stream(gr_http_req_t *r, const char *content_type, gr_http_next_fn *next, gr_http_free_fn *done,
                          void *st, size_t bytes);

/* JSON output helpers (http_api.c, lag and CLI answers). */
void gr_json_raw(gr_buf_t *b, const char *s);
void gr_json_str(gr_buf_t *b, const char *held);     /* quoted; held form's C0 80 as \u0000 */
void gr_json_strn(gr_buf_t *b, const char *s, size_t n);
void gr_json_i64(gr_buf_t *b, int64_t v);
void gr_json_f(gr_buf_t *b, double v);

/* Routing (http_api.c): answer r, or defer it. */
void gr_http_route(gr_http_req_t *r);

#endif
