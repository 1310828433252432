/*
 * cg_modern.c - consumer groups of the KIP-848 protocol in `gregor
 * consumer-groups`: --list with --type (and their states), --describe
 * (--offsets, --members, --state, --verbose) in Kafka 4's layout.
 *
 * Debian's librdkafka (2.0.2) speaks neither ConsumerGroupDescribe nor
 * ListGroups v5, and its DescribeGroups sees a consumer group as Dead (as
 * Kafka 4 answers), so these two requests are sent here over a plain
 * socket: FindCoordinator v3 for the group's coordinator, then
 * ConsumerGroupDescribe v0 to it; ListGroups v5 to the bootstrap broker
 * (gregord is one broker).  Writing the two request and response layouts
 * by hand is smaller than a newer client library, and keeps the CLI on
 * Debian's packages.  Everything printed that came from the wire is
 * escaped (cli_esc).  Bounds: one response of at most 64 MiB, arrays no
 * longer than the bytes that carry them.
 */
#include "cg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ------------------------------------------------------------ wire */

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
} wbuf_t;

static void put(wbuf_t *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = gr_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put_be(wbuf_t *b, uint64_t v, int bytes)
{
    uint8_t x[8];
    for (int i = 0; i < bytes; i++)
        x[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    put(b, x, (size_t)bytes);
}

static void put_uv(wbuf_t *b, uint32_t v)
{
    while (v >= 0x80) {
        uint8_t c = (uint8_t)(v | 0x80);
        put(b, &c, 1);
        v >>= 7;
    }
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static void put_cstr(wbuf_t *b, const char *s)         /* compact string */
{
    put_uv(b, (uint32_t)strlen(s) + 1);
    put(b, s, strlen(s));
}

typedef struct rbuf {
    const uint8_t *p, *end;
    bool bad;
} rbuf_t;

static bool has(rbuf_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n)
        r->bad = true;
    return !r->bad;
}

static int64_t get_be(rbuf_t *r, int bytes)
{
    if (!has(r, (size_t)bytes))
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | r->p[i];
    r->p += bytes;
    return bytes == 1 ? (int8_t)v : bytes == 2 ? (int16_t)v : bytes == 4 ? (int32_t)v : (int64_t)v;
}

static uint32_t get_uv(rbuf_t *r)
{
    uint32_t v = 0;
    for (int s = 0; s < 35; s += 7) {
        if (!has(r, 1))
            return 0;
        uint8_t c = *r->p++;
        v |= (uint32_t)(c & 0x7f) << s;
        if (!(c & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

/* a compact (nullable) string, malloc'ed; NULL for null */
static char *get_cstr(rbuf_t *r)
{
    int64_t n = (int64_t)get_uv(r) - 1;
    if (n < 0 || !has(r, (size_t)n))
        return NULL;
    char *s = gr_malloc((size_t)n + 1);
    memcpy(s, r->p, (size_t)n);
    s[n] = 0;
    r->p += n;
    return s;
}

static void skip_tags(rbuf_t *r)
{
    uint32_t n = get_uv(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        get_uv(r);
        uint32_t sz = get_uv(r);
        if (has(r, sz))
            r->p += sz;
    }
}

/* an array length that the remaining bytes can hold (each element >= min bytes) */
static int64_t get_count(rbuf_t *r, size_t min)
{
    int64_t n = (int64_t)get_uv(r) - 1;
    if (n < 0)
        return 0;
    if ((size_t)(r->end - r->p) / (min ? min : 1) < (size_t)n) {
        r->bad = true;
        return 0;
    }
    return n;
}

/* ------------------------------------------------------------ socket */

static int dial(const char *host, const char *port, int timeout_ms)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

static bool io_all(int fd, void *p, size_t n, bool wr)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t k = wr ? send(fd, b, n, MSG_NOSIGNAL) : recv(fd, b, n, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        b += k;
        n -= (size_t)k;
    }
    return true;
}

/* One request (flexible header v2) to host:port; the response body (after
 * the correlation id and header tags) in *out (malloc'ed). */
static int roundtrip(cg_t *c, const char *host, const char *port, int16_t key, int16_t ver, bool flex_resp,
                     const wbuf_t *body, uint8_t **out, size_t *outlen)
{
    int fd = dial(host, port, c->timeout);
    if (fd < 0)
        return -1;
    wbuf_t f = {0};
    put_be(&f, 0, 4);
    put_be(&f, (uint16_t)key, 2);
    put_be(&f, (uint16_t)ver, 2);
    put_be(&f, 1, 4);
    put_be(&f, 6, 2);
    put(&f, "gregor", 6);
    put_uv(&f, 0);
    put(&f, body->p, body->n);
    uint32_t len = (uint32_t)(f.n - 4);
    for (int i = 0; i < 4; i++)
        f.p[i] = (uint8_t)(len >> (24 - 8 * i));
    int rc = -1;
    uint8_t hdr[4];
    *out = NULL;
    if (io_all(fd, f.p, f.n, true) && io_all(fd, hdr, 4, false)) {
        uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
        if (n >= 4 && n <= (64u << 20)) {
            uint8_t *b = gr_malloc(n);
            if (io_all(fd, b, n, false)) {
                rbuf_t r = {b + 4, b + n, false};
                if (flex_resp)
                    skip_tags(&r);
                *outlen = (size_t)(r.end - r.p);
                *out = gr_malloc(*outlen + 1);
                memcpy(*out, r.p, *outlen);
                rc = r.bad ? -1 : 0;
                if (rc < 0) {
                    free(*out);
                    *out = NULL;
                }
            }
            free(b);
        }
    }
    free(f.p);
    close(fd);
    return rc;
}

/* The bootstrap broker: the first host:port of --bootstrap-server. */
static void bootstrap(cg_t *c, char *host, size_t hn, char *port, size_t pn)
{
    const char *bs = cli_get(&c->o, "bootstrap-server");
    size_t n = strcspn(bs, ",");
    char one[512];
    snprintf(one, sizeof(one), "%.*s", (int)GR_MIN(n, sizeof(one) - 1), bs);
    char *colon = strrchr(one, ':');
    if (colon) {
        *colon = 0;
        snprintf(port, pn, "%s", colon + 1);
    } else {
        snprintf(port, pn, "9092");
    }
    char *h = one;
    if (h[0] == '[') {
        h++;
        h[strcspn(h, "]")] = 0;
    }
    size_t k = strlen(h);
    if (k >= hn)
        k = hn - 1;
    memcpy(host, h, k);
    host[k] = 0;
}

/* ------------------------------------------------------------ ListGroups v5 */

int cg_modern_list(cg_t *c, cg_mlist_t *out)
{
    memset(out, 0, sizeof(*out));
    char host[256], port[32];
    bootstrap(c, host, sizeof(host), port, sizeof(port));
    wbuf_t b = {0};
    put_uv(&b, 1);              /* StatesFilter: [] */
    put_uv(&b, 1);              /* TypesFilter: [] */
    put_uv(&b, 0);
    uint8_t *resp;
    size_t len;
    int rc = roundtrip(c, host, port, 16, 5, true, &b, &resp, &len);
    free(b.p);
    if (rc < 0)
        return -1;
    rbuf_t r = {resp, resp + len, false};
    get_be(&r, 4);
    int16_t err = (int16_t)get_be(&r, 2);
    int64_t n = get_count(&r, 4);
    out->name = gr_calloc((size_t)n + 1, sizeof(char *));
    out->type = gr_calloc((size_t)n + 1, sizeof(char *));
    out->state = gr_calloc((size_t)n + 1, sizeof(char *));
    for (int64_t i = 0; i < n && !r.bad; i++) {
        out->name[i] = get_cstr(&r);
        free(get_cstr(&r));                     /* protocol type */
        out->state[i] = get_cstr(&r);
        out->type[i] = get_cstr(&r);
        skip_tags(&r);
        if (!r.bad)
            out->n++;
    }
    free(resp);
    if (r.bad || err) {
        cg_mlist_free(out);
        return -1;
    }
    return 0;
}

void cg_mlist_free(cg_mlist_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->name[i]);
        free(l->type[i]);
        free(l->state[i]);
    }
    free(l->name);
    free(l->type);
    free(l->state);
    memset(l, 0, sizeof(*l));
}

/* ------------------------------------------------------------ describe */

typedef struct tps {
    char *s;                        /* "t:0,1;u:2" or "-" */
    int n;                          /* partitions */
    char **topic;                   /* per partition */
    int32_t *part;
} tps_t;

typedef struct mdesc {
    char *id, *instance, *client, *host;
    int32_t epoch;
    tps_t cur, target;
} mdesc_t;

typedef struct gdesc {
    int16_t error;
    char *state, *assignor;
    int32_t epoch, aepoch;
    mdesc_t *m;
    int nm;
    char coord[300];
} gdesc_t;

static void tps_free(tps_t *t)
{
    free(t->s);
    for (int i = 0; i < t->n; i++)
        free(t->topic[i]);
    free(t->topic);
    free(t->part);
}

static void gdesc_free(gdesc_t *g)
{
    for (int i = 0; i < g->nm; i++) {
        free(g->m[i].id);
        free(g->m[i].instance);
        free(g->m[i].client);
        free(g->m[i].host);
        tps_free(&g->m[i].cur);
        tps_free(&g->m[i].target);
    }
    free(g->m);
    free(g->state);
    free(g->assignor);
}

/* Assignment: [TopicId, TopicName, [Partitions], tags], tags */
static void get_assignment(rbuf_t *r, tps_t *t)
{
    memset(t, 0, sizeof(*t));
    int64_t nt = get_count(r, 19);
    char **names = gr_calloc((size_t)nt + 1, sizeof(char *));
    int32_t **parts = gr_calloc((size_t)nt + 1, sizeof(int32_t *));
    int64_t *np = gr_calloc((size_t)nt + 1, sizeof(int64_t));
    for (int64_t i = 0; i < nt && !r->bad; i++) {
        if (has(r, 16))
            r->p += 16;
        names[i] = get_cstr(r);
        np[i] = get_count(r, 4);
        parts[i] = gr_calloc((size_t)np[i] + 1, sizeof(int32_t));
        for (int64_t k = 0; k < np[i]; k++)
            parts[i][k] = (int32_t)get_be(r, 4);
        skip_tags(r);
        t->n += (int)np[i];
    }
    skip_tags(r);
    /* sorted by topic, partitions ascending: "t:0,1;u:2" */
    int64_t *ord = gr_calloc((size_t)nt + 1, sizeof(int64_t));
    for (int64_t i = 0; i < nt; i++)
        ord[i] = i;
    for (int64_t i = 1; i < nt; i++)
        for (int64_t j = i; j > 0 && strcmp(names[ord[j]] ? names[ord[j]] : "", names[ord[j - 1]] ? names[ord[j - 1]] : "") < 0; j--) {
            int64_t x = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = x;
        }
    t->topic = gr_calloc((size_t)t->n + 1, sizeof(char *));
    t->part = gr_calloc((size_t)t->n + 1, sizeof(int32_t));
    size_t cap = 64, len = 0;
    t->s = gr_malloc(cap);
    t->s[0] = 0;
    int k = 0;
    for (int64_t oi = 0; oi < nt; oi++) {
        int64_t i = ord[oi];
        for (int64_t a = 1; a < np[i]; a++)
            for (int64_t b = a; b > 0 && parts[i][b] < parts[i][b - 1]; b--) {
                int32_t x = parts[i][b];
                parts[i][b] = parts[i][b - 1];
                parts[i][b - 1] = x;
            }
        const char *tn = cli_esc(names[i] ? names[i] : "?", GR_JSTR_WIRE);
        for (int64_t p = 0; p < np[i]; p++) {
            size_t need = strlen(tn) + 24;
            if (len + need >= cap) {
                cap = (len + need) * 2;
                t->s = gr_realloc(t->s, cap);
            }
            if (p == 0)
                len += (size_t)sprintf(t->s + len, "%s%s:%" PRId32, len ? ";" : "", tn, parts[i][p]);
            else
                len += (size_t)sprintf(t->s + len, ",%" PRId32, parts[i][p]);
            t->topic[k] = gr_strdup(names[i] ? names[i] : "?");
            t->part[k++] = parts[i][p];
        }
    }
    if (!len) {
        free(t->s);
        t->s = gr_strdup(CG_MISSING);
    }
    for (int64_t i = 0; i < nt; i++) {
        free(names[i]);
        free(parts[i]);
    }
    free(names);
    free(parts);
    free(np);
    free(ord);
}

/* FindCoordinator v3 then ConsumerGroupDescribe v0: 1 = a consumer group
 * described in *g, 0 = not a consumer group, -1 = failed. */
static int describe_one(cg_t *c, const char *group, gdesc_t *g)
{
    memset(g, 0, sizeof(*g));
    char host[256], port[32];
    bootstrap(c, host, sizeof(host), port, sizeof(port));
    wbuf_t b = {0};
    put_cstr(&b, group);
    put_be(&b, 0, 1);
    put_uv(&b, 0);
    uint8_t *resp;
    size_t len;
    if (roundtrip(c, host, port, 10, 3, true, &b, &resp, &len) < 0) {
        free(b.p);
        return -1;
    }
    free(b.p);
    rbuf_t r = {resp, resp + len, false};
    get_be(&r, 4);
    int16_t err = (int16_t)get_be(&r, 2);
    free(get_cstr(&r));
    int32_t node = (int32_t)get_be(&r, 4);
    char *ch = get_cstr(&r);
    int32_t cport = (int32_t)get_be(&r, 4);
    free(resp);
    if (r.bad || err || !ch) {
        free(ch);
        return -1;
    }
    snprintf(g->coord, sizeof(g->coord), "%s:%d  (%d)", ch, cport, node);
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", cport);
    b = (wbuf_t){0};
    put_uv(&b, 2);
    put_cstr(&b, group);
    put_be(&b, 0, 1);
    put_uv(&b, 0);
    int rc = roundtrip(c, ch, ps, 69, 0, true, &b, &resp, &len);
    free(b.p);
    free(ch);
    if (rc < 0)
        return -1;
    r = (rbuf_t){resp, resp + len, false};
    get_be(&r, 4);
    int64_t ng = get_count(&r, 8);
    rc = 0;
    for (int64_t i = 0; i < ng && i < 1 && !r.bad; i++) {
        g->error = (int16_t)get_be(&r, 2);
        free(get_cstr(&r));
        free(get_cstr(&r));
        g->state = get_cstr(&r);
        g->epoch = (int32_t)get_be(&r, 4);
        g->aepoch = (int32_t)get_be(&r, 4);
        g->assignor = get_cstr(&r);
        int64_t nm = get_count(&r, 12);
        g->m = gr_calloc((size_t)nm + 1, sizeof(mdesc_t));
        for (int64_t k = 0; k < nm && !r.bad; k++) {
            mdesc_t *m = &g->m[k];
            m->id = get_cstr(&r);
            m->instance = get_cstr(&r);
            free(get_cstr(&r));                 /* rack */
            m->epoch = (int32_t)get_be(&r, 4);
            m->client = get_cstr(&r);
            m->host = get_cstr(&r);
            for (int64_t t = 0, nt = get_count(&r, 1); t < nt && !r.bad; t++)
                free(get_cstr(&r));
            free(get_cstr(&r));                 /* regex */
            get_assignment(&r, &m->cur);
            get_assignment(&r, &m->target);
            skip_tags(&r);
            g->nm++;
        }
        get_be(&r, 4);
        skip_tags(&r);
        rc = r.bad ? -1 : g->error == 0 ? 1 : 0;
    }
    free(resp);
    if (rc <= 0)
        gdesc_free(g);
    return rc;
}

static const char *S(const char *s)
{
    return s ? cli_esc(s, GR_JSTR_WIRE) : "";
}

/* Kafka's shouldPrintMemberState for consumer groups; true if rows follow. */
static bool banner(const char *group, const char *state, size_t rows)
{
    fflush(stdout);
    if (!strcmp(state, "Empty"))
        fprintf(stderr, "\nConsumer group '%s' has no active members.\n", S(group));
    else if (!strcmp(state, "Assigning") || !strcmp(state, "Reconciling"))
        fprintf(stderr, "\nWarning: Consumer group '%s' is rebalancing.\n", S(group));
    fflush(stderr);
    return rows > 0;
}

static void print_members(const char *group, gdesc_t *g, bool verbose)
{
    size_t wg = cg_maxz(15, strlen(S(group))), wc = 15, wi = 17, wh = 15, wcl = 15, wca = 20, wta = 20;
    bool inst = false;
    for (int i = 0; i < g->nm; i++) {
        wc = cg_maxz(wc, strlen(S(g->m[i].id)));
        wi = cg_maxz(wi, strlen(S(g->m[i].instance)));
        wh = cg_maxz(wh, strlen(S(g->m[i].host)));
        wcl = cg_maxz(wcl, strlen(S(g->m[i].client)));
        wca = cg_maxz(wca, strlen(g->m[i].cur.s));
        wta = cg_maxz(wta, strlen(g->m[i].target.s));
        inst = inst || (g->m[i].instance && *g->m[i].instance);
    }
    banner(group, g->state, (size_t)g->nm);
    if (inst)
        printf("\n%-*s %-*s %-*s %-*s %-*s %-15s ", (int)wg, "GROUP", (int)wc, "CONSUMER-ID", (int)wi,
               "GROUP-INSTANCE-ID", (int)wh, "HOST", (int)wcl, "CLIENT-ID", "#PARTITIONS");
    else
        printf("\n%-*s %-*s %-*s %-*s %-15s ", (int)wg, "GROUP", (int)wc, "CONSUMER-ID", (int)wh, "HOST", (int)wcl,
               "CLIENT-ID", "#PARTITIONS");
    if (verbose)
        printf("%-15s %-*s %-15s %-*s", "CURRENT-EPOCH", (int)wca, "CURRENT-ASSIGNMENT", "TARGET-EPOCH", (int)wta,
               "TARGET-ASSIGNMENT");
    printf("\n");
    for (int i = 0; i < g->nm; i++) {
        mdesc_t *m = &g->m[i];
        char np[16];
        snprintf(np, sizeof(np), "%d", m->cur.n);
        if (inst)
            printf("%-*s %-*s %-*s %-*s %-*s %-15s ", (int)wg, S(group), (int)wc, S(m->id), (int)wi,
                   S(m->instance), (int)wh, S(m->host), (int)wcl, S(m->client), np);
        else
            printf("%-*s %-*s %-*s %-*s %-15s ", (int)wg, S(group), (int)wc, S(m->id), (int)wh, S(m->host),
                   (int)wcl, S(m->client), np);
        if (verbose) {
            char ce[16], te[16];
            snprintf(ce, sizeof(ce), "%d", m->epoch);
            snprintf(te, sizeof(te), "%d", g->aepoch);
            printf("%-15s %-*s %-15s %-*s", ce, (int)wca, m->cur.s, te, (int)wta, m->target.s);
        }
        printf("\n");
    }
}

static void print_state(const char *group, gdesc_t *g, bool verbose)
{
    banner(group, g->state, 1);
    int wc = (int)cg_maxz(25, strlen(g->coord)), wg = (int)cg_maxz(15, strlen(S(group)));
    char nm[16];
    snprintf(nm, sizeof(nm), "%d", g->nm);
    const char *as = g->assignor && *g->assignor ? S(g->assignor) : CG_MISSING;
    if (verbose) {
        char ge[16], te[16];
        snprintf(ge, sizeof(ge), "%d", g->epoch);
        snprintf(te, sizeof(te), "%d", g->aepoch);
        printf("\n%-*s %-*s %-20s %-20s %-15s %-25s %s", wg, "GROUP", wc, "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY",
               "STATE", "GROUP-EPOCH", "TARGET-ASSIGNMENT-EPOCH", "#MEMBERS");
        printf("\n%-*s %-*s %-20s %-20s %-15s %-25s %s", wg, S(group), wc, g->coord, as, S(g->state), ge, te, nm);
    } else {
        printf("\n%-*s %-*s %-20s %-20s %s", wg, "GROUP", wc, "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE",
               "#MEMBERS");
        printf("\n%-*s %-*s %-20s %-20s %s", wg, S(group), wc, g->coord, as, S(g->state), nm);
    }
    printf("\n");
}

typedef struct orow {
    const char *topic;
    int32_t part;
    int64_t off, leo;
    const char *cid, *host, *client;
} orow_t;

static int cmp_member_n(const void *a, const void *b)
{
    const mdesc_t *x = a, *y = b;
    return y->cur.n - x->cur.n;
}

static void print_offsets(cg_t *c, const char *group, gdesc_t *g, bool verbose)
{
    rd_kafka_topic_partition_list_t *co = cg_committed(c, group);
    if (!co)
        return;
    qsort(g->m, (size_t)g->nm, sizeof(mdesc_t), cmp_member_n);     /* most partitions first */
    size_t cap = (size_t)co->cnt + 1, nr = 0;
    for (int i = 0; i < g->nm; i++)
        cap += (size_t)g->m[i].cur.n;
    orow_t *rows = gr_calloc(cap, sizeof(orow_t));
    for (int i = 0; i < g->nm; i++) {
        mdesc_t *m = &g->m[i];
        for (int k = 0; k < m->cur.n; k++) {
            const rd_kafka_topic_partition_t *ce = rd_kafka_topic_partition_list_find(co, m->cur.topic[k], m->cur.part[k]);
            rows[nr++] = (orow_t){m->cur.topic[k], m->cur.part[k], ce ? ce->offset : -1,
                                  cg_log_offset(c, m->cur.topic[k], m->cur.part[k], true), S(m->id), S(m->host),
                                  S(m->client)};
        }
    }
    for (int j = 0; j < co->cnt; j++) {
        const rd_kafka_topic_partition_t *e = &co->elems[j];
        bool owned = false;
        for (size_t i = 0; i < nr && !owned; i++)
            owned = rows[i].part == e->partition && !strcmp(rows[i].topic, e->topic);
        if (!owned)
            rows[nr++] = (orow_t){e->topic, e->partition, e->offset, cg_log_offset(c, e->topic, e->partition, true),
                                  CG_MISSING, CG_MISSING, CG_MISSING};
    }
    if (banner(group, g->state, nr)) {
        size_t wg = cg_maxz(15, strlen(S(group))), wt = 15, wc = 15, wh = 15;
        for (size_t i = 0; i < nr; i++) {
            wt = cg_maxz(wt, strlen(S(rows[i].topic)));
            wc = cg_maxz(wc, strlen(rows[i].cid));
            wh = cg_maxz(wh, strlen(rows[i].host));
        }
        if (verbose)
            printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-15s %-*s %-*s %s", (int)wg, "GROUP", (int)wt, "TOPIC",
                   "PARTITION", "LEADER-EPOCH", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", (int)wc, "CONSUMER-ID",
                   (int)wh, "HOST", "CLIENT-ID");
        else
            printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-*s %-*s %s", (int)wg, "GROUP", (int)wt, "TOPIC",
                   "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", (int)wc, "CONSUMER-ID", (int)wh, "HOST",
                   "CLIENT-ID");
        for (size_t i = 0; i < nr; i++) {
            char off[24], leo[24], lag[24], part[16];
            snprintf(part, sizeof(part), "%" PRId32, rows[i].part);
            snprintf(off, sizeof(off), rows[i].off >= 0 ? "%" PRId64 : CG_MISSING, rows[i].off);
            snprintf(leo, sizeof(leo), rows[i].leo >= 0 ? "%" PRId64 : CG_MISSING, rows[i].leo);
            if (rows[i].off >= 0 && rows[i].leo >= 0)
                snprintf(lag, sizeof(lag), "%" PRId64, rows[i].leo - rows[i].off);
            else
                snprintf(lag, sizeof(lag), CG_MISSING);
            if (verbose)
                printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-15s %-*s %-*s %s", (int)wg, S(group), (int)wt,
                       S(rows[i].topic), part, CG_MISSING, off, leo, lag, (int)wc, rows[i].cid, (int)wh,
                       rows[i].host, rows[i].client);
            else
                printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-*s %-*s %s", (int)wg, S(group), (int)wt,
                       S(rows[i].topic), part, off, leo, lag, (int)wc, rows[i].cid, (int)wh, rows[i].host,
                       rows[i].client);
        }
        printf("\n");
    }
    free(rows);
    rd_kafka_topic_partition_list_destroy(co);
}

bool cg_modern_describe(cg_t *c, const char *group)
{
    gdesc_t g;
    if (describe_one(c, group, &g) <= 0)
        return false;
    bool verbose = cli_has(&c->o, "verbose");
    if (cli_has(&c->o, "members"))
        print_members(group, &g, verbose);
    else if (cli_has(&c->o, "state"))
        print_state(group, &g, verbose);
    else
        print_offsets(c, group, &g, verbose);
    fflush(stdout);
    gdesc_free(&g);
    return true;
}
