/*
 * http.c - the HTTP listener: libmicrohttpd (Debian's libmicrohttpd12)
 * driven from the broker's event loop.
 *
 * Why libmicrohttpd: a maintained C library in Debian with an "external
 * polling" mode made for an application's own event loop.  The daemon is
 * started with MHD_USE_EPOLL and no thread of its own: its epoll
 * descriptor sits in the broker's epoll set (gr_ev_add), a readable event
 * runs MHD_run() on the loop thread, and a loop timer follows
 * MHD_get_timeout64() (connection timeouts, resumed connections).  So every
 * callback - the access handler, the content reader of a streamed answer -
 * runs on the loop thread and reads broker state directly, with no lock and
 * no copy handed between threads.  All sockets are non-blocking; nothing
 * here waits.  (h2o and civetweb were the alternatives: h2o brings its own
 * event loop, civetweb a thread per connection.)
 *
 * Streaming.  /metrics and other big answers are produced a piece at a
 * time by a content-reader callback (chunked encoding): at most
 * TURN_BYTES are produced per loop turn for all connections together;
 * past that a connection is suspended and resumed by a zero-delay timer,
 * so a scrape of 10,000 partitions is spread over loop turns and requests
 * of Kafka clients are served between its pieces.
 *
 * Hostile input.  Request line and headers: MHD's per-connection memory
 * pool of CONN_MEMORY bytes (longer URLs, queries or headers get 414/431);
 * bodies: GR_HTTP_MAX_BODY (413); connections: http.max.connections (MHD
 * refuses more); idle connections close after http.connection.timeout.ms;
 * paths are matched against routes and the embedded files by name, never
 * opened.  What the listener holds for answers is counted (gr_http_mem)
 * and capped at MEM_MAX (503 beyond): CONN_MEMORY per connection plus the
 * answers being sent.
 *
 * Browsers.  No CORS header is ever sent, so other sites' pages cannot
 * read answers.  Changes (POST, DELETE) need http.console.write.enable and
 * the X-Gregor-Console header, which a cross-site form cannot send and a
 * cross-site script could only send after a CORS preflight that is never
 * granted; an Origin or Sec-Fetch-Site naming another site is refused too.
 * When the listener is bound to a loopback address, the Host header must
 * name a loopback host (no DNS rebinding).
 */
#include "http.h"

#include "broker.h"
#include "gr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* http_api.c: its sampling timer */
void gr_http_api_start(gr_ev_t *ev);
void gr_http_api_stop(gr_ev_t *ev);

#define CONN_MEMORY (64 * 1024)
#define TURN_BYTES (512 * 1024)
#define MEM_MAX ((size_t)256 * 1024 * 1024)
#define BLOCK 32768

typedef struct gr_http_ticket {
    gr_http_req_t *r;               /* NULL once the request is gone */
} ticket_t;

struct gr_http_req {
    struct MHD_Connection *conn;
    char method[8];
    char *path;                     /* copy, segments point into it */
    char *segs[GR_HTTP_MAX_SEGS];
    int nseg;
    bool bad_path;
    gr_buf_t body;
    bool body_too_big;
    gr_buf_t out;
    bool ready;                     /* a response is waiting to be queued */
    int status;
    char ctype[64];
    bool streamed;
    gr_http_next_fn *next;
    gr_http_free_fn *done;
    void *st;
    size_t st_bytes;
    size_t sent;                    /* of out, while streaming */
    bool stream_end;
    bool deferred;                  /* suspended, waiting for its ticket */
    bool suspended;
    ticket_t *ticket;
    size_t charged;
    char argbuf[1024];              /* gr_http_arg's decoded values... */
    size_t argused;
    struct gr_http_req *rnext;      /* on the resume list */
    struct gr_http_req *dnext, *dprev;  /* on the deferred list */
    bool on_dlist;
};

static struct {
    struct MHD_Daemon *d;
    gr_ev_t *ev;
    int lfd, epfd, port;
    bool loopback;
    gr_timer_t timer;               /* MHD's timeout */
    gr_timer_t resume;              /* resume suspended streams, next turn */
    gr_http_req_t *to_resume;
    gr_http_req_t *deferred;        /* suspended until their ticket answers */
    size_t turn_bytes;
    size_t mem;
    bool running;
} H = {.lfd = -1, .epfd = -1, .port = -1};

size_t gr_http_mem(void)
{
    return H.mem;
}

int gr_http_port(void)
{
    return H.port;
}

static void charge(gr_http_req_t *r, size_t n)
{
    r->charged += n;
    H.mem += n;
}

static void uncharge_all(gr_http_req_t *r)
{
    H.mem -= r->charged;
    r->charged = 0;
}

/* ------------------------------------------------------------ loop glue */

static void run(void);

/* MHD's next timeout, and at least once a second: at the connection limit
 * MHD takes its listening socket out of its epoll set and puts it back in
 * a later MHD_run, which nothing else would cause once the connections
 * are gone. */
static void arm(void)
{
    MHD_UNSIGNED_LONG_LONG to;
    if (MHD_get_timeout(H.d, &to) != MHD_YES)
        to = 1000;
    gr_timer_start(H.ev, &H.timer, (int64_t)GR_MIN(to, (MHD_UNSIGNED_LONG_LONG)1000));
}

static unsigned conns(void)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(H.d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return di ? di->num_connections : 0;
}

static void run(void)
{
    if (!H.d)
        return;
    H.turn_bytes = 0;
    unsigned before = conns();
    MHD_run(H.d);
    if (conns() < before)
        MHD_run(H.d);           /* listening again at once when it was at the limit */
    arm();
}

static void epoll_cb(gr_ev_t *ev, int fd, unsigned events, void *arg)
{
    GR_UNUSED(ev);
    GR_UNUSED(fd);
    GR_UNUSED(events);
    GR_UNUSED(arg);
    run();
}

static void timer_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    GR_UNUSED(arg);
    run();
}

/* Resume every connection put on the list to resume. */
static void resume_all(void)
{
    gr_http_req_t *r = H.to_resume;
    H.to_resume = NULL;
    while (r) {
        gr_http_req_t *next = r->rnext;
        r->rnext = NULL;
        if (r->suspended) {
            r->suspended = false;
            MHD_resume_connection(r->conn);
        }
        r = next;
    }
}

static void resume_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    GR_UNUSED(arg);
    resume_all();
    run();
}

static void dlist_add(gr_http_req_t *r)
{
    r->dprev = NULL;
    r->dnext = H.deferred;
    if (H.deferred)
        H.deferred->dprev = r;
    H.deferred = r;
    r->on_dlist = true;
}

static void dlist_del(gr_http_req_t *r)
{
    if (!r->on_dlist)
        return;
    if (r->dprev)
        r->dprev->dnext = r->dnext;
    else
        H.deferred = r->dnext;
    if (r->dnext)
        r->dnext->dprev = r->dprev;
    r->on_dlist = false;
}

static void resume_later(gr_http_req_t *r)
{
    r->rnext = H.to_resume;
    H.to_resume = r;
    gr_timer_start(H.ev, &H.resume, 0);
}

/* ------------------------------------------------------------ helpers */

static int hexv(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s in place ('+' as space when plus); false on a %00. */
static bool pct_decode(char *s, bool plus)
{
    char *w = s;
    for (char *p = s; *p; p++) {
        if (*p == '%' && hexv(p[1]) >= 0 && hexv(p[2]) >= 0) {
            int v = hexv(p[1]) * 16 + hexv(p[2]);
            if (v == 0)
                return false;
            *w++ = (char)v;
            p += 2;
        } else if (plus && *p == '+') {
            *w++ = ' ';
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return true;
}

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    GR_UNUSED(cls);
    GR_UNUSED(c);
    return strlen(s);
}

const char *gr_http_method(const gr_http_req_t *r)
{
    return r->method;
}

int gr_http_nseg(const gr_http_req_t *r)
{
    return r->nseg;
}

const char *gr_http_seg(const gr_http_req_t *r, int i)
{
    return i >= 0 && i < r->nseg ? r->segs[i] : NULL;
}

const char *gr_http_arg(gr_http_req_t *r, const char *name)
{
    const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    if (!v)
        return NULL;
    size_t n = strlen(v);
    if (n + 1 > sizeof(r->argbuf) - r->argused)
        return NULL;                /* bounded: a value too long is absent */
    char *d = r->argbuf + r->argused;
    memcpy(d, v, n + 1);
    if (!pct_decode(d, true))
        return NULL;
    r->argused += strlen(d) + 1;
    return d;
}

const char *gr_http_header(gr_http_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const gr_buf_t *gr_http_body(const gr_http_req_t *r)
{
    return &r->body;
}

gr_buf_t *gr_http_out(gr_http_req_t *r)
{
    return &r->out;
}

void gr_json_strn(gr_buf_t *b, const char *s, size_t n)
{
    gr_buf_reserve(b, b->len + n * 6 + 2);
    uint8_t *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == 0xC0 && i + 1 < n && (uint8_t)s[i + 1] == 0x80) {
            memcpy(o, "\\u0000", 6);
            o += 6;
            i++;
        } else if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = c;
        } else if (c < 0x20 || c == 0x7f) {
            o += sprintf((char *)o, "\\u%04x", c);
        } else if (c == '<' || c == '>' || c == '&') {
            o += sprintf((char *)o, "\\u%04x", c);      /* safe to embed anywhere */
        } else {
            *o++ = c;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

void gr_json_str(gr_buf_t *b, const char *held)
{
    if (!held) {
        gr_json_raw(b, "null");
        return;
    }
    gr_json_strn(b, held, strlen(held));
}

void gr_json_raw(gr_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    gr_buf_reserve(b, b->len + n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void gr_json_i64(gr_buf_t *b, int64_t v)
{
    gr_buf_reserve(b, b->len + 24);
    b->len += (size_t)sprintf((char *)b->p + b->len, "%lld", (long long)v);
}

void gr_json_f(gr_buf_t *b, double v)
{
    gr_buf_reserve(b, b->len + 32);
    b->len += (size_t)sprintf((char *)b->p + b->len, "%.6g", v);
}

/* ------------------------------------------------------------ responses */

static void add_headers(struct MHD_Response *resp, const char *ctype)
{
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    if (!strncmp(ctype, "text/html", 9))
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
}

void gr_http_reply(gr_http_req_t *r, int status, const char *content_type)
{
    r->ready = true;
    r->status = status;
    snprintf(r->ctype, sizeof(r->ctype), "%s", content_type);
    charge(r, r->out.cap);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    GR_UNUSED(pos);
    gr_http_req_t *r = cls;
    while (r->sent == r->out.len && !r->stream_end) {
        if (H.turn_bytes >= TURN_BYTES) {
            /* enough for this loop turn: give the loop back */
            r->suspended = true;
            MHD_suspend_connection(r->conn);
            resume_later(r);
            return 0;
        }
        r->out.len = 0;
        r->sent = 0;
        size_t cap0 = r->out.cap;
        if (!r->next(r->st, &r->out))
            r->stream_end = true;
        if (r->out.cap > cap0)
            charge(r, r->out.cap - cap0);
        H.turn_bytes += r->out.len;
    }
    if (r->sent == r->out.len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = GR_MIN(max, r->out.len - r->sent);
    memcpy(buf, r->out.p + r->sent, n);
    r->sent += n;
    return (ssize_t)n;
}

void gr_http_reply_stream(gr_http_req_t *r, const char *content_type, gr_http_next_fn *next, gr_http_free_fn *done,
                          void *st, size_t bytes)
{
    r->ready = true;
    r->streamed = true;
    r->status = 200;
    r->next = next;
    r->done = done;
    r->st = st;
    r->st_bytes = bytes;
    charge(r, bytes);
    snprintf(r->ctype, sizeof(r->ctype), "%s", content_type);
}

gr_http_ticket_t *gr_http_defer(gr_http_req_t *r)
{
    ticket_t *t = gr_malloc(sizeof(*t));
    t->r = r;
    r->ticket = t;
    r->deferred = true;
    return t;
}

gr_http_req_t *gr_http_ticket_req(gr_http_ticket_t *t)
{
    return t->r;
}

void gr_http_ticket_free(gr_http_ticket_t *t)
{
    gr_http_req_t *r = t->r;
    if (r) {
        r->ticket = NULL;
        if (r->deferred) {
            r->deferred = false;
            if (!r->ready) {
                r->out.len = 0;
                gr_json_raw(&r->out, "{\"error\":true,\"message\":\"not answered\"}");
                gr_http_reply(r, 500, "application/json");
            }
            dlist_del(r);
            if (r->suspended)
                resume_later(r);
        }
    }
    free(t);
}

static enum MHD_Result simple(struct MHD_Connection *c, int status, const char *msg)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_PERSISTENT);
    add_headers(resp, "text/plain; charset=utf-8");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result queue(gr_http_req_t *r)
{
    struct MHD_Response *resp;
    if (r->streamed)
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK, stream_read, r, NULL);
    else
        resp = MHD_create_response_from_buffer(r->out.len, r->out.p ? (void *)r->out.p : (void *)"",
                                               MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    add_headers(resp, r->ctype);
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* ------------------------------------------------------------ security */

static bool host_is_loopback(const char *host)
{
    if (!host)
        return false;
    char h[256];
    size_t n = strlen(host);
    if (n >= sizeof(h))
        return false;
    memcpy(h, host, n + 1);
    if (h[0] == '[') {
        char *e = strchr(h, ']');
        if (!e)
            return false;
        *e = '\0';
        return !strcmp(h + 1, "::1");
    }
    char *colon = strchr(h, ':');
    if (colon)
        *colon = '\0';
    if (!strcasecmp(h, "localhost"))
        return true;
    struct in_addr a;
    return inet_pton(AF_INET, h, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

bool gr_http_check_write(gr_http_req_t *r)
{
    const char *why = NULL;
    if (!gr_broker.cfg.http_console_write_enable)
        why = "changes are disabled: set http.console.write.enable=true";
    else if (!gr_http_header(r, "X-Gregor-Console"))
        why = "changes need the X-Gregor-Console header";
    else {
        const char *site = gr_http_header(r, "Sec-Fetch-Site");
        const char *origin = gr_http_header(r, "Origin");
        const char *host = gr_http_header(r, "Host");
        if (site && strcmp(site, "same-origin") && strcmp(site, "none"))
            why = "cross-site request refused";
        else if (origin && strcmp(origin, "null")) {
            const char *o = !strncmp(origin, "http://", 7) ? origin + 7 : NULL;
            if (!o || !host || strcmp(o, host))
                why = "cross-origin request refused";
        }
    }
    if (!why)
        return true;
    r->out.len = 0;
    gr_json_raw(&r->out, "{\"error\":true,\"message\":");
    gr_json_str(&r->out, why);
    gr_json_raw(&r->out, "}");
    gr_http_reply(r, 403, "application/json");
    return false;
}

/* ------------------------------------------------------------ MHD callbacks */

static gr_http_req_t *req_new(struct MHD_Connection *c, const char *url, const char *method)
{
    gr_http_req_t *r = gr_calloc(1, sizeof(*r));
    r->conn = c;
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->path = gr_strdup(url);
    charge(r, sizeof(*r) + strlen(url) + 1);
    /* cut the path into decoded segments: "/a/b%2Fc/" -> a, b/c */
    char *p = r->path;
    while (*p == '/')
        p++;
    while (*p) {
        char *e = strchr(p, '/');
        if (e)
            *e = '\0';
        if (r->nseg == GR_HTTP_MAX_SEGS || !pct_decode(p, false)) {
            r->bad_path = true;
            break;
        }
        r->segs[r->nseg++] = p;
        if (!e)
            break;
        p = e + 1;
        if (!*p)
            break;
    }
    return r;
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
    GR_UNUSED(cls);
    GR_UNUSED(c);
    GR_UNUSED(toe);
    gr_http_req_t *r = *req_cls;
    if (!r)
        return;
    *req_cls = NULL;
    if (r->ticket)
        r->ticket->r = NULL;
    dlist_del(r);
    for (gr_http_req_t **pp = &H.to_resume; *pp; pp = &(*pp)->rnext)
        if (*pp == r) {
            *pp = r->rnext;
            break;
        }
    if (r->done)
        r->done(r->st);
    uncharge_all(r);
    gr_buf_free(&r->out);
    gr_buf_free(&r->body);
    free(r->path);
    free(r);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    GR_UNUSED(cls);
    GR_UNUSED(version);
    gr_http_req_t *r = *req_cls;
    if (!r) {
        if (H.mem > MEM_MAX)
            return simple(c, 503, "busy: the HTTP listener's memory is at its bound\n");
        if (H.loopback && !host_is_loopback(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host")))
            return simple(c, 403, "Host must name a loopback address\n");
        *req_cls = req_new(c, url, method);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (r->body.len + n > GR_HTTP_MAX_BODY)
            r->body_too_big = true;
        else {
            size_t cap0 = r->body.cap;
            gr_buf_reserve(&r->body, r->body.len + n + 1);
            memcpy(r->body.p + r->body.len, upload_data, n);
            r->body.len += n;
            r->body.p[r->body.len] = '\0';
            charge(r, r->body.cap - cap0);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->ready)
        return queue(r);
    if (r->deferred) {
        /* resumed before its answer (should not happen): wait again */
        r->suspended = true;
        MHD_suspend_connection(c);
        dlist_add(r);
        return MHD_YES;
    }
    if (r->body_too_big)
        return simple(c, 413, "request body too large\n");
    if (r->bad_path)
        return simple(c, 400, "bad path\n");
    gr_http_route(r);
    if (r->ready)
        return queue(r);
    if (r->deferred) {
        r->suspended = true;
        MHD_suspend_connection(c);
        dlist_add(r);
        return MHD_YES;
    }
    return simple(c, 500, "no answer\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    GR_UNUSED(cls);
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    gr_debug("http", "%s", msg);
}

/* ------------------------------------------------------------ start/stop */

static int parse_listener(const char *s, char *host, size_t hl, int *port)
{
    if (strncmp(s, "http://", 7))
        return GR_EINVAL;
    s += 7;
    const char *colon = strrchr(s, ':');
    if (!colon)
        return GR_EINVAL;
    size_t n = (size_t)(colon - s);
    if (n >= hl)
        return GR_EINVAL;
    memcpy(host, s, n);
    host[n] = '\0';
    if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535 || end == colon + 1)
        return GR_EINVAL;
    *port = (int)p;
    return 0;
}

int gr_http_start(gr_ev_t *ev, const char *listener)
{
    char host[256];
    int port;
    if (parse_listener(listener, host, sizeof(host), &port) < 0) {
        gr_error("http", "Invalid value %s for configuration http.listeners: expected http://host:port", listener);
        return GR_EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int rc = getaddrinfo(host[0] ? host : NULL, ps, &hints, &ai);
    if (rc != 0 || !ai) {
        gr_error("http", "Cannot resolve %s: %s", host, gai_strerror(rc));
        return GR_EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 || listen(fd, 64) == -1) {
        gr_error("http", "Cannot listen on %s: %s (http.listeners sets another address, an empty value turns the "
                 "HTTP listener off)", listener, strerror(errno));
        if (fd != -1)
            close(fd);
        freeaddrinfo(ai);
        return GR_EIO;
    }
    if (ai->ai_family == AF_INET)
        H.loopback = (ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >> 24) == 127;
    else if (ai->ai_family == AF_INET6)
        H.loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    H.port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                            : ((struct sockaddr_in *)&ss)->sin_port);
    H.ev = ev;
    H.lfd = fd;
    H.d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, NULL,
                           MHD_OPTION_LISTEN_SOCKET, fd,
                           MHD_OPTION_CONNECTION_LIMIT, (unsigned)gr_broker.cfg.http_max_connections,
                           MHD_OPTION_CONNECTION_TIMEOUT,
                           (unsigned)((gr_broker.cfg.http_connection_timeout_ms + 999) / 1000),
                           MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
                           MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                           MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
                           MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                           MHD_OPTION_END);
    if (!H.d) {
        gr_error("http", "Cannot start the HTTP server on %s", listener);
        close(fd);
        H.lfd = -1;
        H.port = -1;
        return GR_EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(H.d, MHD_DAEMON_INFO_EPOLL_FD);
    H.epfd = di ? di->epoll_fd : -1;
    if (H.epfd < 0 || gr_ev_add(ev, H.epfd, GR_EV_READ, epoll_cb, NULL) < 0) {
        gr_error("http", "Cannot add the HTTP server to the event loop");
        MHD_stop_daemon(H.d);
        H.d = NULL;
        close(fd);
        return GR_EIO;
    }
    gr_timer_init(&H.timer, timer_cb, NULL);
    gr_timer_init(&H.resume, resume_cb, NULL);
    H.running = true;
    H.mem += (size_t)gr_broker.cfg.http_max_connections * CONN_MEMORY;
    gr_http_api_start(ev);
    arm();
    gr_info("http", "HTTP listener on %s (port %d): /metrics, /v3/kafka, console at /%s", listener, H.port,
            gr_broker.cfg.http_console_write_enable ? " (changes enabled)" : "");
    return 0;
}

void gr_http_stop(void)
{
    if (!H.d)
        return;
    /* resume what is suspended (MHD must not stop with suspended
     * connections); deferred requests answer 503 and their tickets let go */
    while (H.deferred) {
        gr_http_req_t *r = H.deferred;
        dlist_del(r);
        r->deferred = false;
        r->out.len = 0;
        gr_json_raw(&r->out, "{\"error\":true,\"message\":\"the broker is shutting down\"}");
        gr_http_reply(r, 503, "application/json");
        resume_later(r);
    }
    for (int round = 0; round < 3; round++) {
        resume_all();
        MHD_run(H.d);
    }
    gr_http_api_stop(H.ev);
    gr_ev_del(H.ev, H.epfd);
    gr_timer_stop(H.ev, &H.timer);
    gr_timer_stop(H.ev, &H.resume);
    MHD_stop_daemon(H.d);
    H.d = NULL;
    close(H.lfd);
    H.lfd = -1;
    H.port = -1;
    H.running = false;
    H.mem = 0;
}
