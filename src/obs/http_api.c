/*
 * http_api.c - what the HTTP listener answers (http.c routes every request
 * here, on the loop thread):
 *
 *   GET  /metrics                      Prometheus text, streamed (metrics.c)
 *   GET  /burrow/admin                 "GOOD"
 *   GET  /v3/kafka[/<c>[/topic[/<t>]|/consumer[/<g>[/status|/lag]]]]
 *                                      Burrow's v3 API, same JSON shapes (lag.c)
 *   GET  /, /ui/<file>                 the web console (src/obs/console/, embedded)
 *   GET  /api/overview | /api/topics | /api/topics/<t> | /api/topics/<t>/messages
 *        /api/groups | /api/groups/<g> | /api/groups/<g>/reset | /api/groups/<g>/undo
 *                                      the console's JSON (GET of reset/undo: the dry run)
 *   POST /api/topics?name=&partitions= DELETE /api/topics/<t>
 *   POST /api/groups/<g>/reset?...     POST /api/groups/<g>/undo
 *                                      changes: gr_http_check_write first
 *
 * Lists page (offset, limit <= 10,000), message browsing reads at most
 * BROWSE_BYTES of the log and BROWSE_MAX records per request, values are
 * cut at max_value bytes (<= 1 MiB): every answer but /metrics is bounded
 * and built whole.
 *
 * Offset resets follow kafka-consumer-groups.sh: the eight modes
 * (to-earliest, to-latest, to-current, to-offset, shift-by, to-datetime,
 * by-duration, from-file), new offsets clamped to [log start, log end],
 * only for a group without members; GET computes the plan (the dry run),
 * POST commits it as one OffsetCommit of the group.  Undo commits the
 * offsets the group had before its last reset (lag.h keeps the last batch
 * of commits made while the group had no members).
 */
#include "http.h"

#include "api.h"
#include "batch.h"
#include "broker.h"
#include "cgroup.h"
#include "console_files.h"
#include "coord.h"
#include "fcache.h"
#include "fio.h"
#include "jstr.h"
#include "kerr.h"
#include "lag.h"
#include "metrics.h"
#include "net.h"
#include "offsets.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE_MAX 10000
#define BROWSE_BYTES (1024 * 1024)
#define BROWSE_MAX 500
#define VALUE_MAX (1024 * 1024)
#define ID_MAX 4096

#define JS "application/json"

static int64_t started_ms;

/* ------------------------------------------------------------ helpers */

static void err_json(gr_http_req_t *r, int status, const char *msg)
{
    gr_buf_t *b = gr_http_out(r);
    b->len = 0;
    gr_json_raw(b, "{\"error\":true,\"message\":");
    gr_json_str(b, msg);
    gr_json_raw(b, "}");
    gr_http_reply(r, status, JS);
}

/* A client's id (UTF-8 from the URL) in held form (jstr.h), malloc'ed;
 * NULL when too long. */
static char *held(const char *s)
{
    size_t n = strlen(s);
    if (n > ID_MAX)
        return NULL;
    size_t m = gr_jstr_canon(s, n, GR_JSTR_WIRE, NULL, GR_JSTR_HELD);
    char *o = gr_malloc(m + 1);
    gr_jstr_canon(s, n, GR_JSTR_WIRE, o, GR_JSTR_HELD);
    o[m] = '\0';
    return o;
}

static bool parse_i64(const char *s, int64_t *v)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (*end || errno)
        return false;
    *v = x;
    return true;
}

static int64_t arg_i64(gr_http_req_t *r, const char *name, int64_t dflt, int64_t lo, int64_t hi)
{
    int64_t v;
    if (!parse_i64(gr_http_arg(r, name), &v))
        return dflt;
    return v < lo ? lo : v > hi ? hi : v;
}

static void b64(gr_buf_t *b, const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    gr_buf_reserve(b, b->len + (n + 2) / 3 * 4 + 2);
    char *o = (char *)b->p + b->len;
    *o++ = '"';
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o++ = '"';
    b->len = (size_t)(o - (char *)b->p);
}

static bool match(const char *name, const char *filter)
{
    return !filter || !*filter || strstr(name, filter);
}

/* ------------------------------------------------------------ assignments */

/* ConsumerProtocolAssignment: version int16 | [topic string | [partition
 * int32]] | userData bytes; cb(topic, len, partition, arg) per partition.
 * Tolerant: stops at the first thing that does not fit. */
typedef void assign_cb(const char *topic, size_t tlen, int32_t partition, void *arg);

static void parse_assignment(const uint8_t *p, int32_t len, assign_cb *cb, void *arg)
{
    gr_rd_t rd;
    if (!p || len < 6)
        return;
    gr_rd_init(&rd, p, (size_t)len);
    (void)gr_rd_i16(&rd);
    int32_t nt = gr_rd_i32(&rd);
    for (int32_t i = 0; i < nt && !rd.err; i++) {
        int16_t tl = gr_rd_i16(&rd);
        if (rd.err || tl < 0 || (size_t)tl > (size_t)(rd.end - rd.p))
            return;
        const char *topic = (const char *)rd.p;
        rd.p += tl;
        int32_t np = gr_rd_i32(&rd);
        for (int32_t j = 0; j < np && !rd.err; j++) {
            int32_t part = gr_rd_i32(&rd);
            if (!rd.err)
                cb(topic, (size_t)tl, part, arg);
        }
    }
}

typedef struct owner_find {
    const char *topic;
    int32_t partition;
    bool found;
} owner_find_t;

static void owner_cb(const char *topic, size_t tlen, int32_t partition, void *arg)
{
    owner_find_t *o = arg;
    if (partition == o->partition && strlen(o->topic) == tlen && !memcmp(topic, o->topic, tlen))
        o->found = true;
}

static const gr_member_t *owner_of(const gr_group_t *g, const char *topic, int32_t partition)
{
    if (!g || !g->protocol_type || strcmp(g->protocol_type, "consumer"))
        return NULL;
    for (const gr_member_t *m = g->members; m; m = m->next) {
        owner_find_t o = {topic, partition, false};
        parse_assignment(m->assignment, m->assignment_len, owner_cb, &o);
        if (o.found)
            return m;
    }
    return NULL;
}

typedef struct assign_json {
    gr_buf_t *b;
    bool first;
} assign_json_t;

static void assign_json_cb(const char *topic, size_t tlen, int32_t partition, void *arg)
{
    assign_json_t *a = arg;
    if (!a->first)
        gr_json_raw(a->b, ",");
    a->first = false;
    gr_json_raw(a->b, "{\"topic\":");
    gr_json_strn(a->b, topic, tlen);
    gr_json_raw(a->b, ",\"partition\":");
    gr_json_i64(a->b, partition);
    gr_json_raw(a->b, "}");
}

/* A consumer group's (KIP-848) assignment, as assign_json_cb's list. */
static void cg_assign_json(gr_buf_t *b, const gr_cgroup_t *cg, const gr_assign_t *a)
{
    assign_json_t aj = {b, true};
    for (int32_t i = 0; i < a->n; i++) {
        const char *name = gr_cgroup_topic_name(cg, &a->t[i].topic);
        for (int32_t j = 0; j < a->t[i].n; j++)
            assign_json_cb(name ? name : "?", name ? strlen(name) : 1, a->t[i].p[j], &aj);
    }
}

/* The member owning topic/partition in g, of either kind of group. */
typedef struct owner {
    const char *member_id, *client_id, *client_host;
} owner_t;

static const owner_t *owner_get(const gr_group_t *g, const char *topic, int32_t partition, owner_t *o)
{
    if (g && g->type == GR_GROUP_CONSUMER) {
        gr_topic_t *t = gr_topic_find(topic, strlen(topic));
        for (gr_cmember_t *m = t ? gr_cgroup_next(g->cg, NULL) : NULL; m; m = gr_cgroup_next(g->cg, m))
            if (gr_assign_has(&m->assigned, &t->id, partition)) {
                *o = (owner_t){m->member_id, m->client_id, m->client_host};
                return o;
            }
        return NULL;
    }
    const gr_member_t *m = owner_of(g, topic, partition);
    if (!m)
        return NULL;
    *o = (owner_t){m->member_id, m->client_id, m->client_host};
    return o;
}

static const char *owner_id(const gr_group_t *g, const char *topic, int32_t partition)
{
    owner_t o;
    return owner_get(g, topic, partition, &o) ? o.member_id : NULL;
}

static const char *group_state(const gr_group_t *g)
{
    return g->type == GR_GROUP_CONSUMER ? gr_cgroup_state_name(g->cg) : gr_group_state_name(g->state);
}

static int32_t group_members(const gr_group_t *g)
{
    return g->type == GR_GROUP_CONSUMER ? gr_cgroup_nmembers(g->cg) : g->nmembers;
}

static const char *const cm_state_names[] = {"", "STABLE", "UNREVOKED_PARTITIONS", "UNRELEASED_PARTITIONS"};

static void cg_members_json(gr_buf_t *b, const gr_group_t *g)
{
    bool first = true;
    for (gr_cmember_t *m = gr_cgroup_next(g->cg, NULL); m; m = gr_cgroup_next(g->cg, m)) {
        if (!first)
            gr_json_raw(b, ",");
        first = false;
        gr_json_raw(b, "{\"member_id\":");
        gr_json_str(b, m->member_id);
        gr_json_raw(b, ",\"instance_id\":");
        gr_json_str(b, m->instance_id);
        gr_json_raw(b, ",\"client_id\":");
        gr_json_str(b, m->client_id);
        gr_json_raw(b, ",\"host\":");
        gr_json_str(b, m->client_host);
        gr_json_raw(b, ",\"session_timeout_ms\":");
        gr_json_i64(b, m->classic_session_ms >= 0 ? m->classic_session_ms : gr_cgroup_session_timeout_ms());
        gr_json_raw(b, ",\"protocol\":");
        gr_json_str(b, m->classic_session_ms >= 0 ? "classic" : "consumer");
        gr_json_raw(b, ",\"member_epoch\":");
        gr_json_i64(b, m->epoch);
        gr_json_raw(b, ",\"member_state\":");
        gr_json_str(b, m->state >= 1 && m->state <= 3 ? cm_state_names[m->state] : "UNKNOWN");
        gr_json_raw(b, ",\"assignment\":[");
        cg_assign_json(b, g->cg, &m->assigned);
        gr_json_raw(b, "],\"revoking\":[");
        cg_assign_json(b, g->cg, &m->revoking);
        gr_json_raw(b, "]}");
    }
}

/* ------------------------------------------------------------ static files */

static void serve_file(gr_http_req_t *r, const char *name)
{
    for (const gr_console_file_t *f = gr_console_files; f->name; f++) {
        if (strcmp(f->name, name))
            continue;
        gr_buf_t *b = gr_http_out(r);
        gr_buf_reserve(b, f->len + 1);
        memcpy(b->p, f->data, f->len);
        b->len = f->len;
        gr_http_reply(r, 200, f->content_type);
        return;
    }
    err_json(r, 404, "not found");
}

/* ------------------------------------------------------------ /metrics */

static bool metrics_next(void *st, gr_buf_t *out)
{
    return gr_metrics_stream_next(st, out);
}

static void metrics_free(void *st)
{
    gr_metrics_stream_free(st);
}

static void serve_metrics(gr_http_req_t *r)
{
    gr_metrics_stream_t *s = gr_metrics_stream_new();
    gr_http_reply_stream(r, "text/plain; version=0.0.4; charset=utf-8", metrics_next, metrics_free, s,
                         gr_metrics_stream_bytes(s));
}

/* ------------------------------------------------------------ Burrow v3 */

static void burrow_begin(gr_buf_t *b, const char *msg)
{
    b->len = 0;
    gr_json_raw(b, "{\"error\":false,\"message\":");
    gr_json_str(b, msg);
    gr_json_raw(b, ",");
}

static void burrow_end(gr_http_req_t *r, int status)
{
    gr_buf_t *b = gr_http_out(r);
    gr_json_raw(b, ",\"request\":{\"url\":");
    char path[512] = "";
    size_t n = 0;
    for (int i = 0; i < gr_http_nseg(r) && n < sizeof(path) - 2; i++)
        n += (size_t)snprintf(path + n, sizeof(path) - n, "/%s", gr_http_seg(r, i));
    gr_json_str(b, path);
    gr_json_raw(b, ",\"host\":");
    char host[256] = "gregord";
    gethostname(host, sizeof(host) - 1);
    gr_json_str(b, host);
    gr_json_raw(b, "}}");
    gr_http_reply(r, status, JS);
}

static void burrow_error(gr_http_req_t *r, int status, const char *msg)
{
    gr_buf_t *b = gr_http_out(r);
    b->len = 0;
    gr_json_raw(b, "{\"error\":true,\"message\":");
    gr_json_str(b, msg);
    burrow_end(r, status);
}

static void offset_json(gr_buf_t *b, const gr_lag_entry_t *e)
{
    gr_json_raw(b, "{\"offset\":");
    gr_json_i64(b, e->offset);
    gr_json_raw(b, ",\"timestamp\":");
    gr_json_i64(b, e->timestamp);
    gr_json_raw(b, ",\"lag\":");
    gr_json_i64(b, e->lag);
    gr_json_raw(b, "}");
}

static void pstatus_json(gr_buf_t *b, const gr_lag_part_status_t *p, const gr_group_t *g)
{
    owner_t ob;
    const owner_t *m = owner_get(g, p->topic, p->partition, &ob);
    gr_json_raw(b, "{\"topic\":");
    gr_json_str(b, p->topic);
    gr_json_raw(b, ",\"partition\":");
    gr_json_i64(b, p->partition);
    gr_json_raw(b, ",\"owner\":");
    gr_json_str(b, m ? m->client_host : "");
    gr_json_raw(b, ",\"client_id\":");
    gr_json_str(b, m ? m->client_id : "");
    gr_json_raw(b, ",\"status\":");
    gr_json_str(b, gr_lag_status_name(p->status));
    gr_json_raw(b, ",\"start\":");
    if (p->nentries > 0)
        offset_json(b, &p->start);
    else
        gr_json_raw(b, "null");
    gr_json_raw(b, ",\"end\":");
    if (p->nentries > 0)
        offset_json(b, &p->end);
    else
        gr_json_raw(b, "null");
    gr_json_raw(b, ",\"current_lag\":");
    gr_json_i64(b, p->current_lag);
    gr_json_raw(b, ",\"complete\":");
    gr_json_f(b, p->complete);
    gr_json_raw(b, "}");
}

static int cmp_pstatus(const void *a, const void *b)
{
    const gr_lag_part_status_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Burrow's ConsumerGroupStatus (all: /lag; else /status, only the
 * partitions that are not OK). */
static void status_json(gr_buf_t *b, const char *cluster, const char *gid, const gr_lag_group_status_t *st,
                        bool all)
{
    gr_group_t *g = gr_group_find(gid, strlen(gid));
    gr_json_raw(b, "{\"cluster\":");
    gr_json_str(b, cluster);
    gr_json_raw(b, ",\"group\":");
    gr_json_str(b, gid);
    gr_json_raw(b, ",\"status\":");
    gr_json_str(b, gr_lag_status_name(st->status));
    gr_json_raw(b, ",\"complete\":");
    gr_json_f(b, st->complete);
    gr_json_raw(b, ",\"partitions\":[");
    bool first = true;
    for (int32_t i = 0; i < st->npart; i++) {
        if (!all && st->parts[i].status <= GR_LAG_OK)
            continue;
        if (!first)
            gr_json_raw(b, ",");
        first = false;
        pstatus_json(b, &st->parts[i], g);
    }
    gr_json_raw(b, "],\"partition_count\":");
    gr_json_i64(b, st->npart);
    gr_json_raw(b, ",\"maxlag\":");
    if (st->maxlag >= 0)
        pstatus_json(b, &st->parts[st->maxlag], g);
    else
        gr_json_raw(b, "null");
    gr_json_raw(b, ",\"totallag\":");
    gr_json_i64(b, st->totallag);
    gr_json_raw(b, "}");
}

static void burrow(gr_http_req_t *r)
{
    const char *cl = gr_broker.cfg.lag_burrow_cluster;
    int n = gr_http_nseg(r);
    gr_buf_t *b = gr_http_out(r);
    if (n == 2) {
        burrow_begin(b, "cluster list returned");
        gr_json_raw(b, "\"clusters\":[");
        gr_json_str(b, cl);
        gr_json_raw(b, "]");
        burrow_end(r, 200);
        return;
    }
    if (strcmp(gr_http_seg(r, 2), cl)) {
        burrow_error(r, 404, n == 3 ? "cluster module not found" : "cluster not found");
        return;
    }
    const char *what = n > 3 ? gr_http_seg(r, 3) : NULL;
    if (n == 3) {
        burrow_begin(b, "cluster module detail returned");
        gr_json_raw(b, "\"module\":{\"class-name\":\"kafka\",\"servers\":[");
        char s[300];
        snprintf(s, sizeof(s), "%s:%d", gr_broker.adv_host, gr_broker.adv_port);
        gr_json_str(b, s);
        gr_json_raw(b, "],\"client-profile\":{\"name\":\"gregord\",\"client-id\":\"gregord\",\"kafka-version\":"
                       "\"2.0.0\",\"tls\":null,\"sasl\":null},\"topic-refresh\":0,\"offset-refresh\":0}");
        burrow_end(r, 200);
        return;
    }
    if (!strcmp(what, "topic") && n == 4) {
        burrow_begin(b, "topic list returned");
        gr_json_raw(b, "\"topics\":[");
        bool first = true;
        for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t)) {
            if (!first)
                gr_json_raw(b, ",");
            first = false;
            gr_json_str(b, t->name);
        }
        gr_json_raw(b, "]");
        burrow_end(r, 200);
        return;
    }
    if (!strcmp(what, "topic") && (n == 5 || (n == 6 && !strcmp(gr_http_seg(r, 5), "consumers")))) {
        const char *tn = gr_http_seg(r, 4);
        gr_topic_t *t = gr_topic_find(tn, strlen(tn));
        if (!t) {
            burrow_error(r, 404, n == 5 ? "cluster or topic not found" : "cluster not found");
            return;
        }
        if (n == 5) {
            burrow_begin(b, "topic offsets returned");
            gr_json_raw(b, "\"offsets\":[");
            for (int32_t i = 0; i < t->npart; i++) {
                if (i)
                    gr_json_raw(b, ",");
                gr_json_i64(b, t->parts[i]->high_watermark);
            }
            gr_json_raw(b, "]");
        } else {
            burrow_begin(b, "consumers of topic returned");
            gr_json_raw(b, "\"consumers\":[");
            bool first = true;
            for (gr_group_t *g = gr_group_next(NULL); g; g = gr_group_next(g)) {
                bool has = false;
                gr_offset_iter_t it;
                gr_offset_iter_init(&it, g->offsets);
                for (gr_offset_t *e; !has && (e = gr_offset_iter_next(&it));)
                    has = !strcmp(e->topic, t->name);
                if (!has)
                    continue;
                if (!first)
                    gr_json_raw(b, ",");
                first = false;
                gr_json_str(b, g->group_id);
            }
            gr_json_raw(b, "]");
        }
        burrow_end(r, 200);
        return;
    }
    if (!strcmp(what, "consumer") && n == 4) {
        burrow_begin(b, "consumer list returned");
        gr_json_raw(b, "\"consumers\":[");
        bool first = true;
        for (const char *g = gr_lag_group_next(NULL); g; g = gr_lag_group_next(g)) {
            if (!first)
                gr_json_raw(b, ",");
            first = false;
            gr_json_str(b, g);
        }
        gr_json_raw(b, "]");
        burrow_end(r, 200);
        return;
    }
    if (!strcmp(what, "consumer") && n >= 5 && n <= 6) {
        char *gid = held(gr_http_seg(r, 4));
        if (!gid) {
            burrow_error(r, 400, "group id too long");
            return;
        }
        const char *sub = n == 6 ? gr_http_seg(r, 5) : NULL;
        gr_lag_group_status_t st;
        gr_lag_evaluate(gid, gr_now_ms(), &st);
        if (!sub) {
            if (st.status == GR_LAG_NOTFOUND) {
                burrow_error(r, 404, "cluster or consumer not found");
            } else {
                /* Burrow's ConsumerTopics: topic -> [partition] with the window */
                if (st.npart > 1)
                    qsort(st.parts, (size_t)st.npart, sizeof(*st.parts), cmp_pstatus);
                gr_group_t *g = gr_group_find(gid, strlen(gid));
                burrow_begin(b, "consumer detail returned");
                gr_json_raw(b, "\"topics\":{");
                for (int32_t i = 0; i < st.npart;) {
                    const char *topic = st.parts[i].topic;
                    gr_topic_t *t = gr_topic_find(topic, strlen(topic));
                    int32_t np = t ? t->npart : 0, j = i;
                    for (; j < st.npart && !strcmp(st.parts[j].topic, topic); j++)
                        if (st.parts[j].partition >= np)
                            np = st.parts[j].partition + 1;
                    if (i)
                        gr_json_raw(b, ",");
                    gr_json_str(b, topic);
                    gr_json_raw(b, ":[");
                    int32_t k = i;
                    for (int32_t p = 0; p < np; p++) {
                        if (p)
                            gr_json_raw(b, ",");
                        owner_t ob;
                        const owner_t *m = owner_get(g, topic, p, &ob);
                        gr_json_raw(b, "{\"offsets\":[");
                        if (k < j && st.parts[k].partition == p) {
                            gr_lag_entry_t w[128];
                            int wn = gr_lag_window(gid, topic, p, w, 128);
                            int pad = gr_broker.cfg.lag_window_intervals - wn;
                            for (int x = 0; x < pad; x++)
                                gr_json_raw(b, x ? ",null" : "null");
                            for (int x = 0; x < wn; x++) {
                                if (x || pad > 0)
                                    gr_json_raw(b, ",");
                                offset_json(b, &w[x]);
                            }
                        }
                        gr_json_raw(b, "],\"owner\":");
                        gr_json_str(b, m ? m->client_host : "");
                        gr_json_raw(b, ",\"client_id\":");
                        gr_json_str(b, m ? m->client_id : "");
                        gr_json_raw(b, ",\"current-lag\":");
                        gr_json_i64(b, k < j && st.parts[k].partition == p ? st.parts[k].current_lag : 0);
                        gr_json_raw(b, "}");
                        if (k < j && st.parts[k].partition == p)
                            k++;
                    }
                    gr_json_raw(b, "]");
                    i = j;
                }
                gr_json_raw(b, "}");
                burrow_end(r, 200);
            }
        } else if (!strcmp(sub, "status") || !strcmp(sub, "lag")) {
            if (st.npart > 1)
            if (st.npart > 1)
                qsort(st.parts, (size_t)st.npart, sizeof(*st.parts), cmp_pstatus);
            if (st.status == GR_LAG_NOTFOUND) {
                st.complete = 1.0f;
            }
            burrow_begin(b, "consumer status returned");
            gr_json_raw(b, "\"status\":");
            status_json(b, cl, gid, &st, !strcmp(sub, "lag"));
            burrow_end(r, st.status == GR_LAG_NOTFOUND ? 404 : 200);
        } else {
            burrow_error(r, 404, "not found");
        }
        gr_lag_status_free(&st);
        free(gid);
        return;
    }
    burrow_error(r, 404, "not found");
}

/* ------------------------------------------------------------ overview */

#define OV_LEN 60
#define OV_MS 2000
typedef struct ov_sample {
    int64_t t;
    uint64_t bytes_in, bytes_out, records, requests;
    double p99_ms;
} ov_sample_t;

static struct {
    ov_sample_t s[OV_LEN];
    int head, n;
    gr_timer_t timer;
    gr_hist_t last_lat;
} OV;

static double hist_quantile_ms(const gr_hist_t *now, const gr_hist_t *before, double q)
{
    static const double ub_ms[GR_METRICS_NBUCKETS] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500,
                                                      1000, 2500, 5000, 10000};
    uint64_t total = now->count - before->count;
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)total + 0.5), cum = 0;
    for (int i = 0; i < GR_METRICS_NBUCKETS; i++) {
        cum += now->b[i] - before->b[i];
        if (cum >= want)
            return ub_ms[i];
    }
    return ub_ms[GR_METRICS_NBUCKETS - 1];
}

static void ov_sample(void)
{
    gr_metrics_totals_t t;
    gr_metrics_totals(&t);
    gr_hist_t lat, sum;
    memset(&sum, 0, sizeof(sum));
    for (int k = 0; k < 128; k++) {
        gr_metrics_api_latency((int16_t)k, &lat);
        if (k == 1 || k == 11 || k == 14)
            continue;       /* long polls would drown the latency */
        for (int i = 0; i <= GR_METRICS_NBUCKETS; i++)
            sum.b[i] += lat.b[i];
        sum.count += lat.count;
        sum.sum_us += lat.sum_us;
    }
    ov_sample_t s = {.t = gr_now_ms(), .bytes_in = t.produce_bytes, .bytes_out = t.fetch_bytes,
                     .records = t.produce_records, .requests = t.requests,
                     .p99_ms = hist_quantile_ms(&sum, &OV.last_lat, 0.99)};
    OV.last_lat = sum;
    if (OV.n < OV_LEN)
        OV.s[(OV.head + OV.n++) % OV_LEN] = s;
    else {
        OV.s[OV.head] = s;
        OV.head = (OV.head + 1) % OV_LEN;
    }
}

static void ov_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(arg);
    ov_sample();
    gr_timer_start(ev, &OV.timer, OV_MS);
}

void gr_http_api_start(gr_ev_t *ev);
void gr_http_api_stop(gr_ev_t *ev);

void gr_http_api_start(gr_ev_t *ev)
{
    started_ms = gr_now_ms();
    gr_timer_init(&OV.timer, ov_cb, NULL);
    ov_sample();
    gr_timer_start(ev, &OV.timer, OV_MS);
}

void gr_http_api_stop(gr_ev_t *ev)
{
    gr_timer_stop(ev, &OV.timer);
}

static void overview(gr_http_req_t *r)
{
    gr_buf_t *b = gr_http_out(r);
    int32_t parts = 0;
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        parts += t->npart;
    gr_metrics_totals_t t;
    gr_metrics_totals(&t);
    gr_json_raw(b, "{\"version\":");
    gr_json_str(b, GR_VERSION);
    gr_json_raw(b, ",\"node_id\":");
    gr_json_i64(b, gr_broker.cfg.node_id);
    gr_json_raw(b, ",\"cluster_id\":");
    gr_json_str(b, gr_broker.cluster_id);
    gr_json_raw(b, ",\"listeners\":");
    gr_json_str(b, gr_broker.cfg.listeners);
    gr_json_raw(b, ",\"advertised\":");
    char adv[300];
    snprintf(adv, sizeof(adv), "%s:%d", gr_broker.adv_host, gr_broker.adv_port);
    gr_json_str(b, adv);
    gr_json_raw(b, ",\"http\":");
    gr_json_str(b, gr_broker.cfg.http_listeners);
    gr_json_raw(b, ",\"log_dirs\":");
    gr_json_str(b, gr_broker.cfg.log_dirs);
    gr_json_raw(b, ",\"write_enabled\":");
    gr_json_raw(b, gr_broker.cfg.http_console_write_enable ? "true" : "false");
    gr_json_raw(b, ",\"uptime_ms\":");
    gr_json_i64(b, gr_now_ms() - started_ms);
    gr_json_raw(b, ",\"topics\":");
    gr_json_i64(b, gr_topic_count());
    gr_json_raw(b, ",\"partitions\":");
    gr_json_i64(b, parts);
    gr_json_raw(b, ",\"groups\":");
    gr_json_i64(b, gr_group_count());
    gr_json_raw(b, ",\"connections\":");
    gr_json_i64(b, gr_net_conn_count());
    gr_json_raw(b, ",\"memory_budget_used\":");
    gr_json_i64(b, (int64_t)gr_net_mem_used());
    gr_json_raw(b, ",\"requests\":");
    gr_json_i64(b, (int64_t)t.requests);
    gr_json_raw(b, ",\"produce_records\":");
    gr_json_i64(b, (int64_t)t.produce_records);
    gr_json_raw(b, ",\"series\":[");
    for (int i = 0; i < OV.n; i++) {
        const ov_sample_t *s = &OV.s[(OV.head + i) % OV_LEN];
        if (i)
            gr_json_raw(b, ",");
        gr_json_raw(b, "{\"t\":");
        gr_json_i64(b, s->t);
        gr_json_raw(b, ",\"bytes_in\":");
        gr_json_i64(b, (int64_t)s->bytes_in);
        gr_json_raw(b, ",\"bytes_out\":");
        gr_json_i64(b, (int64_t)s->bytes_out);
        gr_json_raw(b, ",\"records\":");
        gr_json_i64(b, (int64_t)s->records);
        gr_json_raw(b, ",\"requests\":");
        gr_json_i64(b, (int64_t)s->requests);
        gr_json_raw(b, ",\"p99_ms\":");
        gr_json_f(b, s->p99_ms);
        gr_json_raw(b, "}");
    }
    gr_json_raw(b, "]}");
    gr_http_reply(r, 200, JS);
}

/* ------------------------------------------------------------ topics */

static int cmp_topic(const void *a, const void *b)
{
    return strcmp((*(gr_topic_t *const *)a)->name, (*(gr_topic_t *const *)b)->name);
}

static void topics_list(gr_http_req_t *r)
{
    const char *filter = gr_http_arg(r, "filter");
    int64_t off = arg_i64(r, "offset", 0, 0, INT32_MAX), lim = arg_i64(r, "limit", 1000, 1, PAGE_MAX);
    int n = gr_topic_count(), k = 0;
    gr_topic_t **ts = gr_malloc(sizeof(*ts) * (size_t)(n > 0 ? n : 1));
    for (gr_topic_t *t = gr_topic_next(NULL); t && k < n; t = gr_topic_next(t))
        if (match(t->name, filter))
            ts[k++] = t;
    qsort(ts, (size_t)k, sizeof(*ts), cmp_topic);
    gr_buf_t *b = gr_http_out(r);
    gr_json_raw(b, "{\"total\":");
    gr_json_i64(b, k);
    gr_json_raw(b, ",\"topics\":[");
    for (int64_t i = off; i < k && i < off + lim; i++) {
        gr_topic_t *t = ts[i];
        int64_t size = 0, msgs = 0;
        for (int32_t p = 0; p < t->npart; p++) {
            size += gr_log_size_bytes(t->parts[p]->log);
            msgs += t->parts[p]->high_watermark - gr_log_start_offset(t->parts[p]->log);
        }
        if (i > off)
            gr_json_raw(b, ",");
        gr_json_raw(b, "{\"name\":");
        gr_json_str(b, t->name);
        gr_json_raw(b, ",\"partitions\":");
        gr_json_i64(b, t->npart);
        gr_json_raw(b, ",\"internal\":");
        gr_json_raw(b, t->internal ? "true" : "false");
        gr_json_raw(b, ",\"size\":");
        gr_json_i64(b, size);
        gr_json_raw(b, ",\"messages\":");
        gr_json_i64(b, msgs);
        gr_json_raw(b, "}");
    }
    gr_json_raw(b, "]}");
    free(ts);
    gr_http_reply(r, 200, JS);
}

static void topic_detail(gr_http_req_t *r, gr_topic_t *t)
{
    gr_buf_t *b = gr_http_out(r);
    gr_json_raw(b, "{\"name\":");
    gr_json_str(b, t->name);
    gr_json_raw(b, ",\"internal\":");
    gr_json_raw(b, t->internal ? "true" : "false");
    gr_json_raw(b, ",\"partitions\":[");
    for (int32_t i = 0; i < t->npart; i++) {
        gr_partition_t *p = t->parts[i];
        if (i)
            gr_json_raw(b, ",");
        gr_json_raw(b, "{\"partition\":");
        gr_json_i64(b, i);
        gr_json_raw(b, ",\"start\":");
        gr_json_i64(b, gr_log_start_offset(p->log));
        gr_json_raw(b, ",\"end\":");
        gr_json_i64(b, p->high_watermark);
        gr_json_raw(b, ",\"size\":");
        gr_json_i64(b, gr_log_size_bytes(p->log));
        gr_json_raw(b, ",\"segments\":");
        gr_json_i64(b, gr_log_segment_count(p->log));
        gr_json_raw(b, ",\"leader\":");
        gr_json_i64(b, gr_broker.cfg.node_id);
        gr_json_raw(b, ",\"bytes_in\":");
        gr_json_i64(b, p->obs ? (int64_t)p->obs->bytes_in : 0);
        gr_json_raw(b, ",\"bytes_out\":");
        gr_json_i64(b, p->obs ? (int64_t)p->obs->bytes_out : 0);
        gr_json_raw(b, "}");
    }
    gr_json_raw(b, "],\"configs\":{");
    for (int i = 0; t->configs && t->configs[i]; i += 2) {
        if (i)
            gr_json_raw(b, ",");
        gr_json_str(b, t->configs[i]);
        gr_json_raw(b, ":");
        gr_json_str(b, t->configs[i + 1]);
    }
    gr_json_raw(b, "}}");
    gr_http_reply(r, 200, JS);
}

static void topic_create(gr_http_req_t *r)
{
    if (!gr_http_check_write(r))
        return;
    const char *name = gr_http_arg(r, "name");
    int64_t np = arg_i64(r, "partitions", gr_broker.cfg.num_partitions, 1, 10000);
    if (!name || !*name) {
        err_json(r, 400, "name is required");
        return;
    }
    gr_topic_t *t = NULL;
    const char *msg = NULL;
    gr_serr_t rc = gr_topic_create(name, strlen(name), (int32_t)np, NULL, false, &t, &msg);
    if (rc != GR_SERR_NONE || !t) {
        char m[512];
        snprintf(m, sizeof(m), "%s%s%s", gr_kerr_name(gr_api_serr_kerr(rc)), msg ? ": " : "", msg ? msg : "");
        err_json(r, rc == GR_SERR_TOPIC_EXISTS ? 409 : 400, m);
        return;
    }
    gr_info("admin", "Created topic %s (%d partitions) from the web console", t->name, (int)np);
    topic_detail(r, t);
}

static void topic_delete(gr_http_req_t *r, gr_topic_t *t)
{
    if (!gr_http_check_write(r))
        return;
    if (t->internal) {
        err_json(r, 400, "internal topics cannot be deleted");
        return;
    }
    gr_info("admin", "Deleting topic %s from the web console", t->name);
    gr_topic_delete(t);
    gr_json_raw(gr_http_out(r), "{\"deleted\":true}");
    gr_http_reply(r, 200, JS);
}

/* ------------------------------------------------------------ messages */

/* Read records of p from `from` (forward) into the answer: at most max
 * records, at most BROWSE_BYTES of the log read. */
static int browse(gr_buf_t *b, gr_partition_t *p, int32_t pidx, int64_t from, int64_t upto, int max,
                  int64_t max_value, bool *first, int *count)
{
    gr_buf_t data = {0};
    int64_t off = from;
    size_t read_total = 0;
    int rc = 0;
    while (off < upto && *count < max && read_total < BROWSE_BYTES) {
        gr_log_slice_t s;
        rc = gr_log_read(p->log, off, 256 * 1024, upto, true, &s);
        if (rc < 0 || s.len <= 0)
            break;
        gr_buf_reserve(&data, (size_t)s.len);
        size_t got = 0;
        while (got < (size_t)s.len) {
            int fd = gr_file_fd(s.file);
            if (fd < 0) {
                rc = GR_EIO;
                break;
            }
            ssize_t n = gr_fio_pread(fd, data.p + got, (size_t)s.len - got, (off_t)(s.pos + (int64_t)got));
            if (n == -1 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (rc < 0 || got == 0)
            break;
        read_total += got;
        size_t pos = 0;
        int64_t next = off;
        while (pos < got && *count < max) {
            gr_batch_info_t bi;
            if (gr_batch_check(data.p + pos, got - pos, &bi) < 0)
                break;
            next = bi.base_offset + bi.last_offset_delta + 1;
            gr_rec_iter_t it;
            gr_record_t rec;
            gr_rec_iter_open(&it, data.p + pos, &bi);
            while (*count < max && gr_rec_iter_next(&it, &rec) > 0) {
                int64_t o = bi.base_offset + rec.offset_delta;
                if (o < from || o >= upto)
                    continue;
                if (!*first)
                    gr_json_raw(b, ",");
                *first = false;
                gr_json_raw(b, "{\"partition\":");
                gr_json_i64(b, pidx);
                gr_json_raw(b, ",\"offset\":");
                gr_json_i64(b, o);
                gr_json_raw(b, ",\"timestamp\":");
                gr_json_i64(b, gr_add_wrap(bi.first_timestamp, rec.timestamp_delta));
                gr_json_raw(b, ",\"key\":");
                if (rec.key)
                    b64(b, rec.key, (size_t)rec.key_len);
                else
                    gr_json_raw(b, "null");
                gr_json_raw(b, ",\"key_size\":");
                gr_json_i64(b, rec.key_len);
                gr_json_raw(b, ",\"value\":");
                if (rec.value)
                    b64(b, rec.value, (size_t)GR_MIN((int64_t)rec.value_len, max_value));
                else
                    gr_json_raw(b, "null");
                gr_json_raw(b, ",\"value_size\":");
                gr_json_i64(b, rec.value_len);
                gr_json_raw(b, ",\"headers\":[");
                gr_rd_t hr;
                gr_rd_init(&hr, rec.headers, rec.headers_len);
                for (int32_t h = 0; h < rec.header_count && !hr.err; h++) {
                    int64_t kl = gr_rd_varint(&hr);
                    if (hr.err || kl < 0 || kl > hr.end - hr.p)
                        break;
                    const uint8_t *k = hr.p;
                    hr.p += kl;
                    int64_t vl = gr_rd_varint(&hr);
                    if (hr.err || vl > hr.end - hr.p)
                        break;
                    const uint8_t *v = vl >= 0 ? hr.p : NULL;
                    if (vl > 0)
                        hr.p += vl;
                    if (h)
                        gr_json_raw(b, ",");
                    gr_json_raw(b, "{\"key\":");
                    gr_json_strn(b, (const char *)k, (size_t)kl);
                    gr_json_raw(b, ",\"value\":");
                    if (v)
                        b64(b, v, (size_t)GR_MIN(vl, max_value));
                    else
                        gr_json_raw(b, "null");
                    gr_json_raw(b, "}");
                }
                gr_json_raw(b, "]}");
                (*count)++;
            }
            gr_rec_iter_close(&it);
            pos += (size_t)bi.size;
        }
        if (next <= off)
            break;
        off = next;
    }
    gr_buf_free(&data);
    return rc;
}

static void messages(gr_http_req_t *r, gr_topic_t *t)
{
    int64_t part = arg_i64(r, "partition", 0, 0, INT32_MAX);
    gr_partition_t *p = gr_partition_get(t, (int32_t)part);
    if (!p) {
        err_json(r, 404, "no such partition");
        return;
    }
    int limit = (int)arg_i64(r, "limit", 50, 1, BROWSE_MAX);
    int64_t max_value = arg_i64(r, "max_value", 1024, 0, VALUE_MAX);
    const char *order = gr_http_arg(r, "order");
    bool newest = order && !strcmp(order, "newest");
    int64_t start = gr_log_start_offset(p->log), end = p->high_watermark, from = start;
    int64_t v;
    if (parse_i64(gr_http_arg(r, "offset"), &v)) {
        from = v;
    } else if (parse_i64(gr_http_arg(r, "timestamp"), &v)) {
        int64_t ts;
        int64_t o = gr_log_offset_for_timestamp(p->log, v, &ts);
        from = o < 0 ? end : o;
    } else if (newest) {
        from = end - limit;
    }
    if (newest && gr_http_arg(r, "offset"))
        from = from - limit + 1;        /* the `limit` records up to and including offset */
    from = GR_MAX(start, GR_MIN(from, end));
    int64_t upto = newest && parse_i64(gr_http_arg(r, "offset"), &v) ? GR_MIN(v + 1, end) : end;
    gr_buf_t *b = gr_http_out(r);
    gr_json_raw(b, "{\"topic\":");
    gr_json_str(b, t->name);
    gr_json_raw(b, ",\"partition\":");
    gr_json_i64(b, part);
    gr_json_raw(b, ",\"start\":");
    gr_json_i64(b, start);
    gr_json_raw(b, ",\"end\":");
    gr_json_i64(b, end);
    gr_json_raw(b, ",\"order\":");
    gr_json_str(b, newest ? "newest" : "oldest");
    gr_json_raw(b, ",\"messages\":[");
    bool first = true;
    int count = 0;
    int rc = browse(b, p, (int32_t)part, from, upto, limit, max_value, &first, &count);
    gr_json_raw(b, "],\"error\":");
    gr_json_raw(b, rc < 0 ? "\"KAFKA_STORAGE_ERROR\"" : "null");
    gr_json_raw(b, "}");
    gr_http_reply(r, 200, JS);
}

/* ------------------------------------------------------------ groups */

static int cmp_group(const void *a, const void *b)
{
    return strcmp((*(gr_group_t *const *)a)->group_id, (*(gr_group_t *const *)b)->group_id);
}

static void groups_list(gr_http_req_t *r)
{
    const char *filter = gr_http_arg(r, "filter");
    int64_t off = arg_i64(r, "offset", 0, 0, INT32_MAX), lim = arg_i64(r, "limit", 1000, 1, PAGE_MAX);
    int n = gr_group_count(), k = 0;
    gr_group_t **gs = gr_malloc(sizeof(*gs) * (size_t)(n > 0 ? n : 1));
    for (gr_group_t *g = gr_group_next(NULL); g && k < n; g = gr_group_next(g))
        if (match(g->group_id, filter))
            gs[k++] = g;
    qsort(gs, (size_t)k, sizeof(*gs), cmp_group);
    gr_buf_t *b = gr_http_out(r);
    gr_json_raw(b, "{\"total\":");
    gr_json_i64(b, k);
    gr_json_raw(b, ",\"groups\":[");
    int64_t now = gr_now_ms();
    for (int64_t i = off; i < k && i < off + lim; i++) {
        gr_group_t *g = gs[i];
        int64_t lag = 0;
        gr_offset_iter_t it;
        gr_offset_iter_init(&it, g->offsets);
        for (gr_offset_t *e; (e = gr_offset_iter_next(&it));) {
            gr_topic_t *t = gr_topic_find(e->topic, e->topic_len);
            gr_partition_t *p = t ? gr_partition_get(t, e->partition) : NULL;
            if (p && p->high_watermark > e->offset)
                lag += p->high_watermark - e->offset;
        }
        gr_lag_group_status_t st;
        gr_lag_evaluate(g->group_id, now, &st);
        if (i > off)
            gr_json_raw(b, ",");
        gr_json_raw(b, "{\"group\":");
        gr_json_str(b, g->group_id);
        gr_json_raw(b, ",\"type\":");
        gr_json_str(b, g->type == GR_GROUP_CONSUMER ? "consumer" : "classic");
        gr_json_raw(b, ",\"state\":");
        gr_json_str(b, group_state(g));
        gr_json_raw(b, ",\"members\":");
        gr_json_i64(b, group_members(g));
        gr_json_raw(b, ",\"protocol\":");
        gr_json_str(b, g->type == GR_GROUP_CONSUMER ? gr_cgroup_assignor(g->cg) : g->protocol_name);
        gr_json_raw(b, ",\"offsets\":");
        gr_json_i64(b, gr_offset_map_count(g->offsets));
        gr_json_raw(b, ",\"lag\":");
        gr_json_i64(b, lag);
        gr_json_raw(b, ",\"lag_ms\":");
        gr_json_i64(b, st.max_lag_ms);
        gr_json_raw(b, ",\"status\":");
        gr_json_str(b, gr_lag_status_name(st.status));
        gr_json_raw(b, "}");
        gr_lag_status_free(&st);
    }
    gr_json_raw(b, "]}");
    free(gs);
    gr_http_reply(r, 200, JS);
}

static int cmp_off(const void *a, const void *b)
{
    const gr_offset_t *x = *(gr_offset_t *const *)a, *y = *(gr_offset_t *const *)b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static void group_detail(gr_http_req_t *r, gr_group_t *g)
{
    gr_buf_t *b = gr_http_out(r);
    int64_t now = gr_now_ms();
    int64_t mono = gr_broker.ev ? gr_ev_now_ms(gr_broker.ev) : gr_mono_ms();
    gr_lag_group_status_t st;
    gr_lag_evaluate(g->group_id, now, &st);
    gr_json_raw(b, "{\"group\":");
    gr_json_str(b, g->group_id);
    bool modern = g->type == GR_GROUP_CONSUMER;
    gr_json_raw(b, ",\"type\":");
    gr_json_str(b, modern ? "consumer" : "classic");
    gr_json_raw(b, ",\"state\":");
    gr_json_str(b, group_state(g));
    gr_json_raw(b, ",\"protocol_type\":");
    gr_json_str(b, modern ? "consumer" : g->protocol_type);
    gr_json_raw(b, ",\"protocol\":");
    gr_json_str(b, modern ? gr_cgroup_assignor(g->cg) : g->protocol_name);
    gr_json_raw(b, ",\"generation\":");         /* a consumer group's epoch */
    gr_json_i64(b, modern ? g->cg->group_epoch : g->generation_id);
    if (modern) {
        gr_json_raw(b, ",\"assignment_epoch\":");
        gr_json_i64(b, g->cg->assignment_epoch);
    }
    gr_json_raw(b, ",\"leader\":");
    gr_json_str(b, modern ? NULL : g->leader_id);
    gr_json_raw(b, ",\"coordinator_partition\":");
    gr_json_i64(b, g->coord_partition);
    gr_json_raw(b, ",\"status\":");
    status_json(b, gr_broker.cfg.lag_burrow_cluster, g->group_id, &st, true);
    gr_json_raw(b, ",\"members\":[");
    if (modern)
        cg_members_json(b, g);
    for (const gr_member_t *m = modern ? NULL : g->members; m; m = m->next) {
        if (m != g->members)
            gr_json_raw(b, ",");
        gr_json_raw(b, "{\"member_id\":");
        gr_json_str(b, m->member_id);
        gr_json_raw(b, ",\"instance_id\":");
        gr_json_str(b, m->group_instance_id);
        gr_json_raw(b, ",\"client_id\":");
        gr_json_str(b, m->client_id);
        gr_json_raw(b, ",\"host\":");
        gr_json_str(b, m->client_host);
        gr_json_raw(b, ",\"session_timeout_ms\":");
        gr_json_i64(b, m->session_timeout_ms);
        gr_json_raw(b, ",\"assignment\":[");
        assign_json_t a = {b, true};
        if (g->protocol_type && !strcmp(g->protocol_type, "consumer"))
            parse_assignment(m->assignment, m->assignment_len, assign_json_cb, &a);
        gr_json_raw(b, "]}");
    }
    gr_json_raw(b, "],\"offsets\":[");
    uint32_t cnt = gr_offset_map_count(g->offsets), k = 0;
    gr_offset_t **os = gr_malloc(sizeof(*os) * (cnt ? cnt : 1));
    gr_offset_iter_t it;
    gr_offset_iter_init(&it, g->offsets);
    for (gr_offset_t *e; (e = gr_offset_iter_next(&it)) && k < cnt;)
        os[k++] = e;
    qsort(os, k, sizeof(*os), cmp_off);
    for (uint32_t i = 0; i < k; i++) {
        const gr_offset_t *e = os[i];
        gr_topic_t *t = gr_topic_find(e->topic, e->topic_len);
        gr_partition_t *p = t ? gr_partition_get(t, e->partition) : NULL;
        const char *owner = owner_id(g, e->topic, e->partition);
        if (i)
            gr_json_raw(b, ",");
        gr_json_raw(b, "{\"topic\":");
        gr_json_str(b, e->topic);
        gr_json_raw(b, ",\"partition\":");
        gr_json_i64(b, e->partition);
        gr_json_raw(b, ",\"offset\":");
        gr_json_i64(b, e->offset);
        gr_json_raw(b, ",\"end\":");
        gr_json_i64(b, p ? p->high_watermark : -1);
        gr_json_raw(b, ",\"lag\":");
        gr_json_i64(b, p ? GR_MAX(p->high_watermark - e->offset, 0) : -1);
        gr_json_raw(b, ",\"lag_ms\":");
        gr_json_i64(b, p ? gr_lag_ms(p, e->offset, mono) : -1);
        gr_json_raw(b, ",\"commit_timestamp\":");
        gr_json_i64(b, e->commit_timestamp);
        gr_json_raw(b, ",\"metadata\":");
        gr_json_str(b, e->metadata);
        gr_json_raw(b, ",\"member\":");
        gr_json_str(b, owner);
        gr_json_raw(b, "}");
    }
    free(os);
    gr_json_raw(b, "],\"series\":[");
    gr_lag_sample_t ser[GR_LAG_SERIES_LEN];
    int sn = gr_lag_series(g->group_id, ser, GR_LAG_SERIES_LEN);
    for (int i = 0; i < sn; i++) {
        if (i)
            gr_json_raw(b, ",");
        gr_json_raw(b, "{\"t\":");
        gr_json_i64(b, ser[i].time_ms);
        gr_json_raw(b, ",\"lag\":");
        gr_json_i64(b, ser[i].lag);
        gr_json_raw(b, ",\"lag_ms\":");
        gr_json_i64(b, ser[i].lag_ms);
        gr_json_raw(b, "}");
    }
    gr_json_raw(b, "],\"history\":[");
    for (int32_t i = 0; i < g->hist_len; i++) {
        const gr_hist_entry_t *h = gr_group_hist_at(g, i);
        if (i)
            gr_json_raw(b, ",");
        gr_json_raw(b, "{\"time\":");
        gr_json_i64(b, h->time_ms);
        if (h->kind == GR_HIST_REBALANCE) {
            gr_json_raw(b, ",\"kind\":\"rebalance\",\"trigger\":");
            gr_json_str(b, gr_rebalance_trigger_name(h->trigger));
            gr_json_raw(b, ",\"generation\":");
            gr_json_i64(b, h->generation);
            gr_json_raw(b, ",\"members\":");
            gr_json_i64(b, h->members);
            gr_json_raw(b, ",\"duration_ms\":");
            if (h->duration_ms >= 0)
                gr_json_i64(b, h->duration_ms);
            else
                gr_json_raw(b, "null");
            gr_json_raw(b, ",\"member\":");
            if (h->member)
                gr_json_str(b, h->member);
            else
                gr_json_raw(b, "null");
        } else if (h->kind == GR_HIST_ASSIGNMENT) {
            gr_json_raw(b, ",\"kind\":\"assignment\",\"member\":");
            gr_json_str(b, h->member);
            gr_json_raw(b, ",\"member_epoch\":");
            gr_json_i64(b, h->generation);
            gr_json_raw(b, ",\"assigned\":");
            gr_json_str(b, h->topic ? h->topic : "");
            gr_json_raw(b, ",\"revoking\":");
            gr_json_str(b, h->detail ? h->detail : "");
        } else {
            gr_json_raw(b, ",\"kind\":\"commit\",\"member\":");
            gr_json_str(b, h->member);
            gr_json_raw(b, ",\"topic\":");
            gr_json_str(b, h->topic);
            gr_json_raw(b, ",\"partition\":");
            gr_json_i64(b, h->partition);
            gr_json_raw(b, ",\"from\":");
            gr_json_i64(b, h->from_offset);
            gr_json_raw(b, ",\"to\":");
            gr_json_i64(b, h->to_offset);
        }
        gr_json_raw(b, "}");
    }
    const gr_lag_reset_t *rs = gr_lag_last_reset(g->group_id);
    gr_json_raw(b, "],\"last_reset\":");
    if (rs) {
        gr_json_raw(b, "{\"time\":");
        gr_json_i64(b, rs->time_ms);
        gr_json_raw(b, ",\"partitions\":");
        gr_json_i64(b, rs->n);
        gr_json_raw(b, "}");
    } else {
        gr_json_raw(b, "null");
    }
    gr_json_raw(b, "}");
    gr_lag_status_free(&st);
    gr_http_reply(r, 200, JS);
}

/* The evaluation as tab-separated text for `gregor consumer-groups
 * --describe --status`: a G line (group, status, complete, total lag,
 * partitions, largest time lag in ms), then a P line per partition (topic,
 * partition, status, first and last offset of the window, lag, time lag in
 * ms, owner); strings escaped (jstr.h) so no id can break a line. */
static void tsv_str(gr_buf_t *b, const char *held_s)
{
    size_t n = gr_jstr_escape(held_s, strlen(held_s), GR_JSTR_HELD, NULL, 0);
    gr_buf_reserve(b, b->len + n + 1);
    gr_jstr_escape(held_s, strlen(held_s), GR_JSTR_HELD, (char *)b->p + b->len, n + 1);
    b->len += n;
}

static void group_status_text(gr_http_req_t *r, const char *gid)
{
    gr_lag_group_status_t st;
    gr_lag_evaluate(gid, gr_now_ms(), &st);
    if (st.npart > 1)
        qsort(st.parts, (size_t)st.npart, sizeof(*st.parts), cmp_pstatus);
    gr_group_t *g = gr_group_find(gid, strlen(gid));
    gr_buf_t *b = gr_http_out(r);
    gr_json_raw(b, "G\t");
    tsv_str(b, gid);
    gr_json_raw(b, "\t");
    gr_json_raw(b, gr_lag_status_name(st.status));
    gr_json_raw(b, "\t");
    gr_json_f(b, st.complete);
    gr_json_raw(b, "\t");
    gr_json_i64(b, st.totallag);
    gr_json_raw(b, "\t");
    gr_json_i64(b, st.npart);
    gr_json_raw(b, "\t");
    gr_json_i64(b, st.max_lag_ms);
    gr_json_raw(b, "\n");
    for (int32_t i = 0; i < st.npart; i++) {
        const gr_lag_part_status_t *p = &st.parts[i];
        owner_t ob;
        const owner_t *m = owner_get(g, p->topic, p->partition, &ob);
        gr_json_raw(b, "P\t");
        tsv_str(b, p->topic);
        gr_json_raw(b, "\t");
        gr_json_i64(b, p->partition);
        gr_json_raw(b, "\t");
        gr_json_raw(b, gr_lag_status_name(p->status));
        gr_json_raw(b, "\t");
        gr_json_i64(b, p->nentries ? p->start.offset : -1);
        gr_json_raw(b, "\t");
        gr_json_i64(b, p->nentries ? p->end.offset : -1);
        gr_json_raw(b, "\t");
        gr_json_i64(b, p->current_lag);
        gr_json_raw(b, "\t");
        gr_json_i64(b, p->lag_ms);
        gr_json_raw(b, "\t");
        tsv_str(b, m ? m->client_host : "-");
        gr_json_raw(b, "\n");
    }
    gr_lag_status_free(&st);
    gr_http_reply(r, st.status == GR_LAG_NOTFOUND ? 404 : 200, "text/plain; charset=utf-8");
}

/* ------------------------------------------------------------ reset / undo */

typedef struct plan_ent {
    char *topic;
    int32_t partition;
    int64_t current;                /* -1: none committed */
    int64_t target;
} plan_ent_t;

typedef struct plan {
    plan_ent_t *e;
    int32_t n, cap;
} plan_t;

static void plan_add(plan_t *pl, const char *topic, int32_t partition, int64_t current, int64_t target)
{
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? 2 * pl->cap : 16;
        pl->e = gr_realloc(pl->e, sizeof(*pl->e) * (size_t)pl->cap);
    }
    pl->e[pl->n++] = (plan_ent_t){gr_strdup(topic), partition, current, target};
}

static void plan_free(plan_t *pl)
{
    for (int32_t i = 0; i < pl->n; i++)
        free(pl->e[i].topic);
    free(pl->e);
    pl->e = NULL;
    pl->n = pl->cap = 0;
}

/* 'YYYY-MM-DDTHH:mm:SS[.sss]' (UTC, or with a Z / +hh:mm / -hh:mm suffix)
 * to ms since the epoch; false if it does not parse. */
static bool parse_datetime(const char *s, int64_t *ms)
{
    int Y, M, D, h, m, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6)
        return false;
    const char *p = s + n;
    int frac = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
            digits++;
            p++;
        }
        while (digits > 0 && digits < 3) {
            frac *= 10;
            digits++;
        }
    }
    int tz = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int th, tm;
        if (sscanf(p + 1, "%2d:%2d", &th, &tm) != 2)
            return false;
        tz = (th * 60 + tm) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    if (*p)
        return false;
    struct tm t = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = sec};
    time_t secs = timegm(&t);
    *ms = ((int64_t)secs - tz * 60) * 1000 + frac;
    return true;
}

/* ISO-8601 duration 'PnDTnHnMnS' to ms. */
static bool parse_duration(const char *s, int64_t *ms)
{
    if (*s != 'P')
        return false;
    s++;
    bool time = false;
    int64_t total = 0;
    while (*s) {
        if (*s == 'T') {
            time = true;
            s++;
            continue;
        }
        char *end;
        double v = strtod(s, &end);
        if (end == s || v < 0 || v > 1e12)
            return false;
        int64_t unit;
        switch (*end) {
        case 'D': unit = 86400000; break;
        case 'H': unit = time ? 3600000 : -1; break;
        case 'M': unit = time ? 60000 : -1; break;
        case 'S': unit = time ? 1000 : -1; break;
        default: unit = -1;
        }
        if (unit < 0)
            return false;
        total += (int64_t)(v * (double)unit);
        s = end + 1;
    }
    *ms = total;
    return true;
}

static int64_t clamp_offset(const gr_partition_t *p, int64_t o)
{
    int64_t lo = gr_log_start_offset(p->log), hi = p->high_watermark;
    return o < lo ? lo : o > hi ? hi : o;
}

/* The reset plan of group g (may be NULL: no such group yet) as
 * kafka-consumer-groups.sh computes it.  Returns NULL or an error message. */
static const char *reset_plan(gr_http_req_t *r, gr_group_t *g, plan_t *pl)
{
    const char *mode = gr_http_arg(r, "mode");
    const char *value = gr_http_arg(r, "value");
    const char *topic = gr_http_arg(r, "topic");
    if (!mode)
        return "mode is required: to-earliest, to-latest, to-current, to-offset, shift-by, to-datetime, "
               "by-duration or from-file";
    bool from_file = !strcmp(mode, "from-file");
    int64_t num = 0, ts = 0;
    if (!strcmp(mode, "to-offset") || !strcmp(mode, "shift-by")) {
        if (!parse_i64(value, &num))
            return "value must be an integer";
    } else if (!strcmp(mode, "to-datetime")) {
        if (!value || !parse_datetime(value, &ts))
            return "value must be a date-time YYYY-MM-DDTHH:mm:SS.sss";
    } else if (!strcmp(mode, "by-duration")) {
        int64_t d;
        if (!value || !parse_duration(value, &d))
            return "value must be a duration PnDTnHnMnS";
        ts = gr_now_ms() - d;
    } else if (!from_file && strcmp(mode, "to-earliest") && strcmp(mode, "to-latest") &&
               strcmp(mode, "to-current")) {
        return "unknown mode";
    }
    if (from_file) {
        /* CSV body: topic,partition,offset (or group,topic,partition,offset) */
        const gr_buf_t *body = gr_http_body(r);
        char *text = gr_malloc(body->len + 1);
        memcpy(text, body->p ? (const char *)body->p : "", body->len);
        text[body->len] = '\0';
        const char *err = NULL;
        char *save = NULL;
        for (char *line = strtok_r(text, "\r\n", &save); line && !err; line = strtok_r(NULL, "\r\n", &save)) {
            char *f[4];
            int nf = 0;
            char *s2 = NULL;
            for (char *x = strtok_r(line, ",", &s2); x && nf < 4; x = strtok_r(NULL, ",", &s2))
                f[nf++] = x;
            if (nf == 4) {
                if (!g || strcmp(f[0], g->group_id))
                    continue;
                f[0] = f[1];
                f[1] = f[2];
                f[2] = f[3];
                nf = 3;
            }
            int64_t part, off;
            if (nf != 3 || !parse_i64(f[1], &part) || !parse_i64(f[2], &off) || part < 0 || part > INT32_MAX) {
                err = "from-file: each line must be topic,partition,offset";
                break;
            }
            gr_topic_t *t = gr_topic_find(f[0], strlen(f[0]));
            gr_partition_t *p = t ? gr_partition_get(t, (int32_t)part) : NULL;
            if (!p) {
                err = "from-file: a topic or partition does not exist";
                break;
            }
            gr_offset_t *cur = g ? gr_offset_get(g->offsets, t->name, strlen(t->name), (int32_t)part) : NULL;
            plan_add(pl, t->name, (int32_t)part, cur ? cur->offset : -1, clamp_offset(p, off));
            if (pl->n > 100000)
                err = "from-file: too many partitions";
        }
        free(text);
        return err;
    }
    /* scope: --topic t[:p,q] or --all-topics (the group's topics) */
    char tname[256] = "";
    int32_t want[64];
    int nwant = 0;
    if (topic && *topic) {
        const char *colon = strchr(topic, ':');
        size_t tl = colon ? (size_t)(colon - topic) : strlen(topic);
        if (tl >= sizeof(tname))
            return "topic name too long";
        memcpy(tname, topic, tl);
        tname[tl] = '\0';
        if (colon) {
            char *s2 = NULL, list[512];
            snprintf(list, sizeof(list), "%s", colon + 1);
            for (char *x = strtok_r(list, ",", &s2); x && nwant < 64; x = strtok_r(NULL, ",", &s2)) {
                int64_t v;
                if (!parse_i64(x, &v) || v < 0 || v > INT32_MAX)
                    return "partitions must be numbers: topic:0,1,2";
                want[nwant++] = (int32_t)v;
            }
        }
        if (!gr_topic_find(tname, strlen(tname)))
            return "topic does not exist";
    }
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t)) {
        if (tname[0] ? strcmp(t->name, tname) : t->internal)
            continue;
        for (int32_t i = 0; i < t->npart; i++) {
            bool in = nwant == 0;
            for (int k = 0; k < nwant && !in; k++)
                in = want[k] == i;
            if (!in)
                continue;
            gr_partition_t *p = t->parts[i];
            gr_offset_t *cur = g ? gr_offset_get(g->offsets, t->name, strlen(t->name), i) : NULL;
            if (!tname[0] && !cur)
                continue;           /* --all-topics: the partitions the group has offsets for */
            int64_t c = cur ? cur->offset : -1, target;
            if (!strcmp(mode, "to-earliest"))
                target = gr_log_start_offset(p->log);
            else if (!strcmp(mode, "to-latest"))
                target = p->high_watermark;
            else if (!strcmp(mode, "to-current"))
                target = c >= 0 ? c : p->high_watermark;
            else if (!strcmp(mode, "to-offset"))
                target = num;
            else if (!strcmp(mode, "shift-by"))
                target = (c >= 0 ? c : p->high_watermark) + num;
            else {
                int64_t fts;
                int64_t o = gr_log_offset_for_timestamp(p->log, ts, &fts);
                if (o == GR_EIO)
                    return "KAFKA_STORAGE_ERROR reading a time index";
                target = o < 0 ? p->high_watermark : o;
            }
            plan_add(pl, t->name, i, c, clamp_offset(p, target));
        }
    }
    return NULL;
}

static void plan_json(gr_buf_t *b, const char *gid, const plan_t *pl, bool executed, const char *note)
{
    gr_json_raw(b, "{\"group\":");
    gr_json_str(b, gid);
    gr_json_raw(b, ",\"dry_run\":");
    gr_json_raw(b, executed ? "false" : "true");
    if (note) {
        gr_json_raw(b, ",\"note\":");
        gr_json_str(b, note);
    }
    gr_json_raw(b, ",\"partitions\":[");
    for (int32_t i = 0; i < pl->n; i++) {
        if (i)
            gr_json_raw(b, ",");
        gr_json_raw(b, "{\"topic\":");
        gr_json_str(b, pl->e[i].topic);
        gr_json_raw(b, ",\"partition\":");
        gr_json_i64(b, pl->e[i].partition);
        gr_json_raw(b, ",\"current\":");
        gr_json_i64(b, pl->e[i].current);
        gr_json_raw(b, ",\"new\":");
        gr_json_i64(b, pl->e[i].target);
        gr_json_raw(b, "}");
    }
    gr_json_raw(b, "]}");
}

typedef struct exec_ctx {
    gr_http_ticket_t *ticket;
    char *gid;
    plan_t plan;
} exec_ctx_t;

static void exec_done(void *arg, gr_kerr_t err)
{
    exec_ctx_t *x = arg;
    gr_http_req_t *r = gr_http_ticket_req(x->ticket);
    if (r) {
        gr_buf_t *b = gr_http_out(r);
        b->len = 0;
        if (err != KERR_NONE) {
            char m[160];
            snprintf(m, sizeof(m), "the commit failed: %s", gr_kerr_name(err));
            err_json(r, 500, m);
        } else {
            plan_json(b, x->gid, &x->plan, true, NULL);
            gr_http_reply(r, 200, JS);
        }
    }
    gr_http_ticket_free(x->ticket);
    plan_free(&x->plan);
    free(x->gid);
    free(x);
}

/* Commit the plan as one OffsetCommit of the group (inactive only). */
static void plan_execute(gr_http_req_t *r, const char *gid, plan_t *pl)
{
    gr_group_t *g = gr_group_find(gid, strlen(gid));
    if (g && (group_members(g) > 0 || (g->type != GR_GROUP_CONSUMER && g->state != GR_GROUP_EMPTY))) {
        char m[512];
        snprintf(m, sizeof(m), "Assignments can only be reset if the group '%.300s' is inactive, but the current "
                 "state is %s.", gid, group_state(g));
        err_json(r, 409, m);
        plan_free(pl);
        return;
    }
    gr_kerr_t e = gr_coord_validate_group(gid, strlen(gid), GR_GROUP_API_OFFSET_COMMIT);
    if (e != KERR_NONE) {
        err_json(r, 503, gr_kerr_name(e));
        plan_free(pl);
        return;
    }
    if (pl->n == 0) {
        plan_json(gr_http_out(r), gid, pl, true, "nothing to change");
        gr_http_reply(r, 200, JS);
        plan_free(pl);
        return;
    }
    int64_t now = gr_now_ms();
    gr_coord_commit_t *c = gr_calloc((size_t)pl->n, sizeof(*c));
    for (int32_t i = 0; i < pl->n; i++) {
        c[i].topic = pl->e[i].topic;
        c[i].topic_len = strlen(pl->e[i].topic);
        c[i].partition = pl->e[i].partition;
        c[i].offset = pl->e[i].target;
        c[i].leader_epoch = -1;
        c[i].commit_timestamp = now;
        c[i].expire_timestamp = -1;
        c[i].error = KERR_NONE;
    }
    exec_ctx_t *x = gr_calloc(1, sizeof(*x));
    x->ticket = gr_http_defer(r);
    x->gid = gr_strdup(gid);
    x->plan = *pl;
    memset(pl, 0, sizeof(*pl));
    gr_info("admin", "Resetting the offsets of group %s (%d partitions) from the web console", gid, (int)x->plan.n);
    gr_coord_commit_offsets(gid, strlen(gid), "gregord-console", c, x->plan.n, exec_done, x);
    free(c);
}

static void group_reset(gr_http_req_t *r, const char *gid, bool execute)
{
    /* POST ...&dry_run=1: the plan of a from-file reset, whose CSV is the body */
    const char *dry = gr_http_arg(r, "dry_run");
    if (dry && !strcmp(dry, "1"))
        execute = false;
    if (execute && !gr_http_check_write(r))
        return;
    gr_group_t *g = gr_group_find(gid, strlen(gid));
    plan_t pl = {0};
    const char *err = reset_plan(r, g, &pl);
    if (err) {
        plan_free(&pl);
        err_json(r, 400, err);
        return;
    }
    if (!execute) {
        plan_json(gr_http_out(r), gid, &pl, false, NULL);
        plan_free(&pl);
        gr_http_reply(r, 200, JS);
        return;
    }
    plan_execute(r, gid, &pl);
}

static void group_undo(gr_http_req_t *r, const char *gid, bool execute)
{
    if (execute && !gr_http_check_write(r))
        return;
    const gr_lag_reset_t *rs = gr_lag_last_reset(gid);
    if (!rs) {
        err_json(r, 404, "no reset of this group is known since the broker started (gregor consumer-groups "
                         "--reset-offsets --undo reads older ones from __consumer_offsets)");
        return;
    }
    gr_group_t *g = gr_group_find(gid, strlen(gid));
    plan_t pl = {0};
    int skipped = 0;
    for (int32_t i = 0; i < rs->n; i++) {
        const gr_lag_reset_ent_t *e = &rs->e[i];
        gr_topic_t *t = gr_topic_find(e->topic, strlen(e->topic));
        gr_partition_t *p = t ? gr_partition_get(t, e->partition) : NULL;
        if (!p || e->from < 0) {
            skipped++;
            continue;
        }
        gr_offset_t *cur = g ? gr_offset_get(g->offsets, e->topic, strlen(e->topic), e->partition) : NULL;
        plan_add(&pl, e->topic, e->partition, cur ? cur->offset : -1, clamp_offset(p, e->from));
    }
    char note[160];
    snprintf(note, sizeof(note), "restores the offsets from before the reset at %lld%s", (long long)rs->time_ms,
             skipped ? "; partitions without an offset before it are left as they are" : "");
    if (!execute) {
        plan_json(gr_http_out(r), gid, &pl, false, note);
        plan_free(&pl);
        gr_http_reply(r, 200, JS);
        return;
    }
    plan_execute(r, gid, &pl);
}

/* ------------------------------------------------------------ routing */

static bool is(const char *a, const char *b)
{
    return a && !strcmp(a, b);
}

void gr_http_route(gr_http_req_t *r)
{
    const char *m = gr_http_method(r);
    bool get = is(m, "GET") || is(m, "HEAD"), post = is(m, "POST"), del = is(m, "DELETE");
    int n = gr_http_nseg(r);
    const char *s0 = gr_http_seg(r, 0), *s1 = gr_http_seg(r, 1), *s2 = gr_http_seg(r, 2), *s3 = gr_http_seg(r, 3);
    if (!get && !post && !del) {
        err_json(r, 405, "method not allowed");
        return;
    }
    if (n == 0 && get) {
        serve_file(r, "index.html");
        return;
    }
    if (is(s0, "ui") && n == 2 && get) {
        serve_file(r, s1);
        return;
    }
    if (is(s0, "metrics") && n == 1 && get) {
        serve_metrics(r);
        return;
    }
    if (is(s0, "burrow") && is(s1, "admin") && n == 2 && get) {
        gr_json_raw(gr_http_out(r), "GOOD");
        gr_http_reply(r, 200, "text/plain; charset=utf-8");
        return;
    }
    if (is(s0, "v3") && is(s1, "kafka") && get) {
        burrow(r);
        return;
    }
    if (!is(s0, "api")) {
        err_json(r, 404, "not found");
        return;
    }
    if (is(s1, "overview") && n == 2 && get) {
        overview(r);
        return;
    }
    if (is(s1, "topics")) {
        if (n == 2 && get) {
            topics_list(r);
            return;
        }
        if (n == 2 && post) {
            topic_create(r);
            return;
        }
        gr_topic_t *t = n >= 3 ? gr_topic_find(s2, strlen(s2)) : NULL;
        if (n >= 3 && !t) {
            err_json(r, 404, "no such topic");
            return;
        }
        if (n == 3 && get) {
            topic_detail(r, t);
            return;
        }
        if (n == 3 && del) {
            topic_delete(r, t);
            return;
        }
        if (n == 4 && is(s3, "messages") && get) {
            messages(r, t);
            return;
        }
    }
    if (is(s1, "groups")) {
        if (n == 2 && get) {
            groups_list(r);
            return;
        }
        char *gid = n >= 3 ? held(s2) : NULL;
        if (n >= 3 && !gid) {
            err_json(r, 400, "group id too long");
            return;
        }
        gr_group_t *g = gid ? gr_group_find(gid, strlen(gid)) : NULL;
        if (n == 3 && get) {
            if (g)
                group_detail(r, g);
            else
                err_json(r, 404, "no such group");
        } else if (n == 4 && is(s3, "status") && get) {
            group_status_text(r, gid);
        } else if (n == 4 && is(s3, "reset") && (get || post)) {
            group_reset(r, gid, post);
        } else if (n == 4 && is(s3, "undo") && (get || post)) {
            group_undo(r, gid, post);
        } else {
            err_json(r, 404, "not found");
        }
        free(gid);
        return;
    }
    err_json(r, 404, "not found");
}
