/*
 * kwire.c - the raw Kafka-protocol client of the CLI (see kwire.h).
 *
 * Framing: int32 size | request header | body.  Request header v1 (non-
 * flexible versions): api_key int16, api_version int16, correlation_id
 * int32, client_id int16-length string; v2 (flexible): the same plus empty
 * tagged fields.  Response header v0: correlation_id; v1 (flexible, except
 * ApiVersions): plus tagged fields.
 */
#include "kwire.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KW_MAX_FRAME (64 * 1024 * 1024)   /* larger responses are refused */

/* ------------------------------------------------------------------ buffers */

static void grow(kw_buf_t *b, size_t n)
{
    if (b->n + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n)
        cap *= 2;
    b->p = gr_realloc(b->p, cap);
    b->cap = cap;
}

static void put(kw_buf_t *b, const void *p, size_t n)
{
    grow(b, n);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_be(kw_buf_t *b, uint64_t v, int bytes)
{
    uint8_t t[8];
    for (int i = 0; i < bytes; i++)
        t[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    put(b, t, (size_t)bytes);
}

void kw_i8(kw_buf_t *b, int8_t v) { put_be(b, (uint8_t)v, 1); }
void kw_i16(kw_buf_t *b, int16_t v) { put_be(b, (uint16_t)v, 2); }
void kw_i32(kw_buf_t *b, int32_t v) { put_be(b, (uint32_t)v, 4); }
void kw_i64(kw_buf_t *b, int64_t v) { put_be(b, (uint64_t)v, 8); }

void kw_uvarint(kw_buf_t *b, uint64_t v)
{
    while (v >= 0x80) {
        uint8_t c = (uint8_t)(v | 0x80);
        put(b, &c, 1);
        v >>= 7;
    }
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

void kw_str(kw_buf_t *b, bool compact, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (compact)
        kw_uvarint(b, s ? n + 1 : 0);
    else
        kw_i16(b, s ? (int16_t)n : -1);
    if (s)
        put(b, s, n);
}

void kw_arr(kw_buf_t *b, bool compact, int32_t n)
{
    if (compact)
        kw_uvarint(b, n < 0 ? 0 : (uint64_t)n + 1);
    else
        kw_i32(b, n);
}

void kw_tags(kw_buf_t *b, bool compact)
{
    if (compact)
        kw_uvarint(b, 0);
}

bool kw_rneed(kw_rd_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return false;
    }
    return true;
}

int64_t kw_rint(kw_rd_t *r, int bytes)
{
    if (!kw_rneed(r, (size_t)bytes))
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | r->p[i];
    r->p += bytes;
    switch (bytes) {
    case 1: return (int8_t)v;
    case 2: return (int16_t)v;
    case 4: return (int32_t)v;
    default: return (int64_t)v;
    }
}

uint64_t kw_ruvarint(kw_rd_t *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (!kw_rneed(r, 1))
            return 0;
        uint8_t c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

char *kw_rstr(kw_rd_t *r, bool compact)
{
    int64_t n = compact ? (int64_t)kw_ruvarint(r) - 1 : kw_rint(r, 2);
    if (n < -1)                                 /* only -1 is null */
        r->bad = true;
    if (r->bad || n < 0 || !kw_rneed(r, (size_t)n))
        return NULL;
    char *s = gr_malloc(gr_jstr_canon(r->p, (size_t)n, GR_JSTR_WIRE, NULL, GR_JSTR_HELD) + 1);
    gr_jstr_canon(r->p, (size_t)n, GR_JSTR_WIRE, s, GR_JSTR_HELD);
    r->p += n;
    return s;
}

int32_t kw_rarr(kw_rd_t *r, bool compact, size_t min_elem)
{
    int64_t n = compact ? (int64_t)kw_ruvarint(r) - 1 : kw_rint(r, 4);
    if (r->bad)
        return 0;
    if (n < -1 || (n > 0 && (uint64_t)n * (min_elem ? min_elem : 1) > (uint64_t)(r->end - r->p))) {
        r->bad = true;
        return 0;
    }
    return (int32_t)n;
}

void kw_rbytes(kw_rd_t *r, bool compact, const uint8_t **p, int32_t *len)
{
    int64_t n = compact ? (int64_t)kw_ruvarint(r) - 1 : kw_rint(r, 4);
    *p = NULL;
    *len = -1;
    if (n < -1)
        r->bad = true;
    if (r->bad || n < 0 || !kw_rneed(r, (size_t)n))
        return;
    *p = r->p;
    *len = (int32_t)n;
    r->p += n;
}

void kw_rtags(kw_rd_t *r, bool compact)
{
    if (!compact)
        return;
    uint64_t n = kw_ruvarint(r);
    for (uint64_t i = 0; i < n && !r->bad; i++) {
        kw_ruvarint(r);
        uint64_t sz = kw_ruvarint(r);
        if (kw_rneed(r, sz))
            r->p += sz;
    }
}

/* ------------------------------------------------------------------ sockets */

static void cerr(kw_conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cerr(kw_conn_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait for fd to be ready for ev until deadline; 0, or -1 on timeout */
static int wait_fd(int fd, short ev, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {fd, ev, 0};
        int n = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static int conn_tcp(kw_conn_t *c)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", c->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(c->host, port, &hints, &res);
    if (rc) {
        cerr(c, "cannot resolve %s: %s", cli_esc(c->host, GR_JSTR_HELD), gai_strerror(rc));
        return -1;
    }
    int64_t deadline = now_ms() + c->timeout_ms;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
            cerr(c, "cannot connect to %s:%d: %s", cli_esc(c->host, GR_JSTR_HELD), c->port, strerror(errno));
            close(fd);
            continue;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (wait_fd(fd, POLLOUT, deadline) < 0) {
            cerr(c, "timed out connecting to %s:%d", cli_esc(c->host, GR_JSTR_HELD), c->port);
            close(fd);
            continue;
        }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) {
            cerr(c, "cannot connect to %s:%d: %s", cli_esc(c->host, GR_JSTR_HELD), c->port, strerror(soerr));
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        freeaddrinfo(res);
        return 0;
    }
    freeaddrinfo(res);
    return -1;
}

static int send_all(kw_conn_t *c, const uint8_t *p, size_t n, int64_t deadline)
{
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            cerr(c, "sending to %s:%d: %s", cli_esc(c->host, GR_JSTR_HELD), c->port, strerror(errno));
            return -1;
        }
        if (wait_fd(c->fd, POLLOUT, deadline) < 0) {
            cerr(c, "timed out sending to %s:%d", cli_esc(c->host, GR_JSTR_HELD), c->port);
            return -1;
        }
    }
    return 0;
}

static int recv_all(kw_conn_t *c, uint8_t *p, size_t n, int64_t deadline)
{
    while (n) {
        ssize_t r = recv(c->fd, p, n, 0);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
            continue;
        }
        if (r == 0) {
            cerr(c, "%s:%d closed the connection", cli_esc(c->host, GR_JSTR_HELD), c->port);
            return -1;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            cerr(c, "reading from %s:%d: %s", cli_esc(c->host, GR_JSTR_HELD), c->port, strerror(errno));
            return -1;
        }
        if (wait_fd(c->fd, POLLIN, deadline) < 0) {
            cerr(c, "timed out waiting for %s:%d", cli_esc(c->host, GR_JSTR_HELD), c->port);
            return -1;
        }
    }
    return 0;
}

/* ApiVersions v0's response keeps header v0 whatever the version; every
 * other flexible version answers with header v1. */
static bool flexible(int api, int v)
{
    switch (api) {
    case 1: return v >= 12;    /* Fetch */
    case 3: return v >= 9;     /* Metadata */
    case 10: return v >= 3;    /* FindCoordinator */
    case 16: return v >= 3;    /* ListGroups */
    case 18: return v >= 3;    /* ApiVersions (request only) */
    case 27: return v >= 1;    /* WriteTxnMarkers */
    case 61: case 65: case 66: return true;   /* DescribeProducers, DescribeTransactions, ListTransactions */
    case 69: return true;      /* ConsumerGroupDescribe */
    default: return false;
    }
}

int kw_call(kw_conn_t *c, int api, int version, const kw_buf_t *body, kw_rd_t *r)
{
    bool fx = flexible(api, version);
    kw_buf_t req = {0};
    kw_i32(&req, 0);
    kw_i16(&req, (int16_t)api);
    kw_i16(&req, (int16_t)version);
    int32_t corr = ++c->corr;
    kw_i32(&req, corr);
    kw_str(&req, false, "gregor-cli");
    kw_tags(&req, fx);
    if (body && body->n)
        put(&req, body->p, body->n);
    uint32_t sz = (uint32_t)(req.n - 4);
    req.p[0] = (uint8_t)(sz >> 24);
    req.p[1] = (uint8_t)(sz >> 16);
    req.p[2] = (uint8_t)(sz >> 8);
    req.p[3] = (uint8_t)sz;
    int64_t deadline = now_ms() + c->timeout_ms;
    int rc = send_all(c, req.p, req.n, deadline);
    free(req.p);
    if (rc < 0)
        return -1;
    uint8_t hdr[4];
    if (recv_all(c, hdr, 4, deadline) < 0)
        return -1;
    uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (n < 4 || n > KW_MAX_FRAME) {
        cerr(c, "bad response size %u from %s:%d", n, cli_esc(c->host, GR_JSTR_HELD), c->port);
        return -1;
    }
    c->resp.n = 0;
    grow(&c->resp, n);
    if (recv_all(c, c->resp.p, n, deadline) < 0)
        return -1;
    c->resp.n = n;
    *r = (kw_rd_t){c->resp.p, c->resp.p + n, false};
    if (kw_rint(r, 4) != corr) {
        cerr(c, "response out of order from %s:%d", cli_esc(c->host, GR_JSTR_HELD), c->port);
        return -1;
    }
    if (api != 18)
        kw_rtags(r, fx);
    if (r->bad) {
        cerr(c, "truncated response from %s:%d", cli_esc(c->host, GR_JSTR_HELD), c->port);
        return -1;
    }
    return 0;
}

int kw_version(kw_conn_t *c, int api, int lo, int hi)
{
    if (api >= 0 && api < KW_MAX_API && c->vmax[api] >= 0) {
        int v = hi < c->vmax[api] ? hi : c->vmax[api];
        if (v >= lo && v >= c->vmin[api])
            return v;
    }
    cerr(c, "the broker %s:%d does not serve API key %d in versions %d-%d", cli_esc(c->host, GR_JSTR_HELD),
         c->port, api, lo, hi);
    return -1;
}

/* ApiVersions v0: error_code, [api_key, min_version, max_version] */
static int conn_versions(kw_conn_t *c)
{
    kw_rd_t r;
    for (int i = 0; i < KW_MAX_API; i++)
        c->vmin[i] = c->vmax[i] = -1;
    if (kw_call(c, 18, 0, NULL, &r) < 0)
        return -1;
    int16_t err = (int16_t)kw_rint(&r, 2);
    int32_t n = kw_rarr(&r, false, 6);
    for (int32_t i = 0; i < n && !r.bad; i++) {
        int16_t key = (int16_t)kw_rint(&r, 2), lo = (int16_t)kw_rint(&r, 2), hi = (int16_t)kw_rint(&r, 2);
        if (key >= 0 && key < KW_MAX_API) {
            c->vmin[key] = lo;
            c->vmax[key] = hi;
        }
    }
    if (err || r.bad) {
        cerr(c, "ApiVersions of %s:%d failed: %s", cli_esc(c->host, GR_JSTR_HELD), c->port,
             err ? kw_errstr(err) : "bad response");
        return -1;
    }
    return 0;
}

static kw_conn_t *conn_open(const char *host, int port, int node_id, int timeout_ms, char *err, size_t errlen)
{
    kw_conn_t *c = gr_calloc(1, sizeof(*c));
    c->fd = -1;
    c->host = gr_strdup(host);
    c->port = port;
    c->node_id = node_id;
    c->timeout_ms = timeout_ms;
    if (conn_tcp(c) == 0 && conn_versions(c) == 0)
        return c;
    snprintf(err, errlen, "%s", c->err);
    if (c->fd >= 0)
        close(c->fd);
    free(c->resp.p);
    free(c->host);
    free(c);
    return NULL;
}

static void conn_free(kw_conn_t *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->resp.p);
    free(c->host);
    free(c);
}

/* ------------------------------------------------------------------ client */

int kw_open(kw_t *k, const cli_opts_t *o)
{
    memset(k, 0, sizeof(*k));
    k->timeout_ms = cli_timeout_ms(o);
    const char *cfg = cli_get(o, "command-config");
    if (cfg) {
        cli_kv_t kv = {0};
        if (cli_kv_file(&kv, cfg) < 0) {
            snprintf(k->err, sizeof(k->err), "cannot read %s", cfg);
            return -1;
        }
        const char *sp = cli_kv_get(&kv, "security.protocol");
        if (sp && strcasecmp(sp, "PLAINTEXT")) {
            snprintf(k->err, sizeof(k->err), "security.protocol=%s: this command speaks PLAINTEXT only",
                     cli_esc(sp, GR_JSTR_WIRE));
            cli_kv_free(&kv);
            return -1;
        }
        cli_kv_free(&kv);
    }
    const char *bs = cli_get(o, "bootstrap-server");
    if (!bs || !*bs) {
        snprintf(k->err, sizeof(k->err), "--bootstrap-server is required");
        return -1;
    }
    char *list = gr_strdup(bs), *save = NULL;
    k->err[0] = 0;
    for (char *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        while (*s == ' ')
            s++;
        char *host;
        int port;
        if (cli_host_port(s, &host, &port) < 0) {
            snprintf(k->err, sizeof(k->err), "Please provide valid host:port like host1:9091,host2:9092");
            continue;
        }
        k->boot = conn_open(host, port, -1, k->timeout_ms, k->err, sizeof(k->err));
        if (k->boot)
            break;
    }
    free(list);
    return k->boot ? 0 : -1;
}

void kw_meta_free(kw_meta_t *m)
{
    for (int i = 0; i < m->nbrokers; i++)
        free(m->brokers[i].host);
    for (int i = 0; i < m->ntopics; i++) {
        for (int j = 0; j < m->topics[i].nparts; j++)
            free(m->topics[i].parts[j].replicas);
        free(m->topics[i].parts);
        free(m->topics[i].name);
    }
    free(m->brokers);
    free(m->topics);
    memset(m, 0, sizeof(*m));
}

void kw_close(kw_t *k)
{
    conn_free(k->boot);
    for (int i = 0; i < k->nconns; i++)
        conn_free(k->conns[i]);
    free(k->conns);
    kw_meta_free(&k->md);
    memset(k, 0, sizeof(*k));
}

kw_conn_t *kw_node(kw_t *k, int32_t id)
{
    for (int i = 0; i < k->nconns; i++)
        if (k->conns[i]->node_id == id)
            return k->conns[i];
    const kw_broker_t *b = kw_meta_broker(&k->md, id);
    if (!b) {
        snprintf(k->err, sizeof(k->err), "broker %d is not in the cluster's metadata", id);
        return NULL;
    }
    kw_conn_t *c = conn_open(b->host, b->port, id, k->timeout_ms, k->err, sizeof(k->err));
    if (!c)
        return NULL;
    k->conns = gr_realloc(k->conns, (size_t)(k->nconns + 1) * sizeof(*k->conns));
    k->conns[k->nconns++] = c;
    return c;
}

const kw_broker_t *kw_meta_broker(const kw_meta_t *m, int32_t id)
{
    for (int i = 0; i < m->nbrokers; i++)
        if (m->brokers[i].id == id)
            return &m->brokers[i];
    return NULL;
}

const kw_topic_t *kw_meta_topic(const kw_meta_t *m, const char *topic)
{
    for (int i = 0; i < m->ntopics; i++)
        if (!strcmp(m->topics[i].name, topic))
            return &m->topics[i];
    return NULL;
}

/* Metadata v9-v12 (flexible).  Request: topics (nullable compact array of
 * {topic_id uuid (v10+), name nullable string, tags}), allow_auto_topic_creation,
 * include_cluster_authorized_operations (v8-v10), include_topic_authorized_operations. */
int kw_metadata(kw_t *k, const char *const *topics, int ntopics)
{
    kw_conn_t *c = k->boot;
    int v = kw_version(c, 3, 9, 12);
    if (v < 0) {
        snprintf(k->err, sizeof(k->err), "%s", c->err);
        return -1;
    }
    kw_buf_t b = {0};
    if (!topics) {
        kw_arr(&b, true, -1);
    } else {
        kw_arr(&b, true, ntopics);
        for (int i = 0; i < ntopics; i++) {
            if (v >= 10) {
                kw_i64(&b, 0);
                kw_i64(&b, 0);
            }
            kw_str(&b, true, topics[i]);
            kw_tags(&b, true);
        }
    }
    kw_i8(&b, 0);
    if (v <= 10)
        kw_i8(&b, 0);
    kw_i8(&b, 0);
    kw_tags(&b, true);
    kw_rd_t r;
    int rc = kw_call(c, 3, v, &b, &r);
    free(b.p);
    if (rc < 0) {
        snprintf(k->err, sizeof(k->err), "%s", c->err);
        return -1;
    }
    kw_meta_free(&k->md);
    kw_meta_t *m = &k->md;
    kw_rint(&r, 4);                                   /* throttle */
    int32_t nb = kw_rarr(&r, true, 10);
    m->brokers = gr_calloc((size_t)(nb > 0 ? nb : 0) + 1, sizeof(kw_broker_t));
    for (int32_t i = 0; i < nb && !r.bad; i++) {
        kw_broker_t *br = &m->brokers[m->nbrokers];
        br->id = (int32_t)kw_rint(&r, 4);
        br->host = kw_rstr(&r, true);
        br->port = (int32_t)kw_rint(&r, 4);
        free(kw_rstr(&r, true));                      /* rack */
        kw_rtags(&r, true);
        if (!br->host)
            r.bad = true;
        else
            m->nbrokers++;
    }
    free(kw_rstr(&r, true));                          /* cluster id */
    kw_rint(&r, 4);                                   /* controller */
    int32_t nt = kw_rarr(&r, true, 8);
    m->topics = gr_calloc((size_t)(nt > 0 ? nt : 0) + 1, sizeof(kw_topic_t));
    for (int32_t i = 0; i < nt && !r.bad; i++) {
        kw_topic_t *t = &m->topics[m->ntopics];
        t->err = (int16_t)kw_rint(&r, 2);
        t->name = kw_rstr(&r, true);
        if (v >= 10)
            kw_rint(&r, 8), kw_rint(&r, 8);
        t->internal = kw_rint(&r, 1) != 0;
        int32_t np = kw_rarr(&r, true, 20);
        t->parts = gr_calloc((size_t)(np > 0 ? np : 0) + 1, sizeof(kw_part_t));
        for (int32_t j = 0; j < np && !r.bad; j++) {
            kw_part_t *p = &t->parts[t->nparts++];
            p->err = (int16_t)kw_rint(&r, 2);
            p->id = (int32_t)kw_rint(&r, 4);
            p->leader = (int32_t)kw_rint(&r, 4);
            kw_rint(&r, 4);                           /* leader epoch */
            int32_t nr = kw_rarr(&r, true, 4);
            p->replicas = gr_calloc((size_t)(nr > 0 ? nr : 0) + 1, sizeof(int32_t));
            for (int32_t x = 0; x < nr && !r.bad; x++)
                p->replicas[p->nreplicas++] = (int32_t)kw_rint(&r, 4);
            for (int arr = 0; arr < 2; arr++) {       /* isr, offline */
                int32_t n = kw_rarr(&r, true, 4);
                for (int32_t x = 0; x < n && !r.bad; x++)
                    kw_rint(&r, 4);
            }
            kw_rtags(&r, true);
        }
        kw_rint(&r, 4);                               /* topic authorized operations */
        kw_rtags(&r, true);
        m->ntopics++;
        if (!t->name)
            r.bad = true;
    }
    if (r.bad) {
        snprintf(k->err, sizeof(k->err), "malformed Metadata response from %s:%d", cli_esc(c->host, GR_JSTR_HELD),
                 c->port);
        return -1;
    }
    return 0;
}

/* FindCoordinator v4: key_type int8, coordinator_keys [compact string];
 * response: throttle, [key, node_id, host, port, error_code, error_message, tags]. */
int32_t kw_find_coordinator(kw_t *k, int8_t key_type, const char *key, int16_t *kerr)
{
    kw_conn_t *c = k->boot;
    *kerr = 0;
    int v = kw_version(c, 10, 4, 4);
    if (v < 0) {
        snprintf(k->err, sizeof(k->err), "%s", c->err);
        return -1;
    }
    kw_buf_t b = {0};
    kw_i8(&b, key_type);
    kw_arr(&b, true, 1);
    kw_str(&b, true, key);
    kw_tags(&b, true);
    kw_rd_t r;
    int rc = kw_call(c, 10, v, &b, &r);
    free(b.p);
    if (rc < 0) {
        snprintf(k->err, sizeof(k->err), "%s", c->err);
        return -1;
    }
    kw_rint(&r, 4);
    int32_t n = kw_rarr(&r, true, 12);
    int32_t node = -1;
    for (int32_t i = 0; i < n && !r.bad; i++) {
        free(kw_rstr(&r, true));
        int32_t id = (int32_t)kw_rint(&r, 4);
        char *host = kw_rstr(&r, true);
        int32_t port = (int32_t)kw_rint(&r, 4);
        int16_t e = (int16_t)kw_rint(&r, 2);
        free(kw_rstr(&r, true));
        kw_rtags(&r, true);
        if (i == 0 && !r.bad) {
            *kerr = e;
            if (!e) {
                node = id;
                /* make sure the node is known for kw_node() */
                if (!kw_meta_broker(&k->md, id) && host) {
                    k->md.brokers = gr_realloc(k->md.brokers, (size_t)(k->md.nbrokers + 1) * sizeof(kw_broker_t));
                    k->md.brokers[k->md.nbrokers++] = (kw_broker_t){id, gr_strdup(host), port};
                }
            }
        }
        free(host);
    }
    if (r.bad || n < 1) {
        snprintf(k->err, sizeof(k->err), "malformed FindCoordinator response");
        return -1;
    }
    if (*kerr)
        snprintf(k->err, sizeof(k->err), "%s", kw_errstr(*kerr));
    return node;
}

/* Kafka's messages (Errors.java) for the codes these calls meet */
static const struct {
    int16_t code;
    const char *msg;
} kmsgs[] = {
    {3, "This server does not host this topic-partition."},
    {5, "There is no leader for this topic-partition as we are in the middle of a leadership election."},
    {6, "For requests intended only for the leader, this error indicates that the broker is not the current "
        "leader. For requests intended for any replica, this error indicates that the broker is not a replica of "
        "the topic partition."},
    {7, "The request timed out."},
    {14, "The coordinator is loading and hence can't process requests."},
    {15, "The coordinator is not available."},
    {16, "This is not the correct coordinator."},
    {35, "The version of API is not supported."},
    {42, "This most likely occurs because of a request being malformed by the client library or the message was "
         "sent to an incompatible broker. See the broker logs for more details."},
    {47, "Producer attempted to produce with an old epoch."},
    {48, "The producer attempted a transactional operation in an invalid state."},
    {51, "The producer attempted to update a transaction while another concurrent operation on the same "
         "transaction was ongoing."},
    {52, "Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current "
         "coordinator for a given producer."},
    {105, "The transactionalId could not be found."},
    {120, "The server encountered an error with the transaction. The client can abort the transaction to continue "
          "using this transactional ID."},
};

const char *kw_errstr(int16_t code)
{
    for (size_t i = 0; i < sizeof(kmsgs) / sizeof(kmsgs[0]); i++)
        if (kmsgs[i].code == code)
            return kmsgs[i].msg;
    return rd_kafka_err2str((rd_kafka_resp_err_t)code);
}
