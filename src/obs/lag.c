/*
 * lag.c - Burrow's consumer lag evaluation, fed by the coordinator's
 * commits and the logs' appends instead of polling (see lag.h).
 *
 * State, all on the loop thread:
 *
 *   groups (hmap by id) -> lgroup_t: windows (hmap by topic, partition),
 *                          the lag series (the last GR_LAG_SERIES_LEN
 *                          samples as a ring of runs of equal samples,
 *                          grown as runs arrive), the last reset (for undo)
 *   window  -> ring of `intervals` gr_lag_entry_t, oldest at head
 *   gr_partition_t.obs -> gr_part_obs_t: append samples and counters
 *
 * The rules (Burrow 1.2.1, core/internal/evaluator/caching.go), for a
 * window w[0..n-1] (oldest first) and the lag now:
 *
 *   lag now == 0                                   OK
 *   now - w[n-1].ts > w[n-1].ts - w[0].ts and the consumer was not caught
 *     up within lag.window.recent.ms               STOP
 *   some w[i].lag == 0                             OK
 *   some w[i].offset < w[i-1].offset               REWIND
 *   every offset equal                             STALL
 *   lag never decreases between two commits        WARN
 *   otherwise                                      OK
 *
 * The group's status is the worst partition's, STOP/STALL/REWIND counting
 * as ERR; `complete` is the share of partitions whose window is full;
 * maxlag the partition with the largest lag now.  Burrow learns the log
 * end offsets by polling (offset-refresh) and so sees lag late; here the
 * end offset at a commit is read when the commit lands, and "caught up
 * recently" is the append time of the record at the last committed
 * offset (when the log end moved past it), from the append samples.
 *
 * Bounds: at most lag.window.max.partitions windows broker-wide (a window
 * is one allocation of ~64 + 24 x intervals bytes) and as many groups: a
 * commit of a group not yet known when either is full is not evaluated,
 * and no state is made for it.  A group costs ~100 bytes, its last reset
 * and its series: 25 bytes per run of equal samples (an idle group's lag
 * does not change: one run), at most GR_LAG_SERIES_LEN runs, sampled while
 * the group has windows.  Groups without commits for
 * lag.window.expire.group.ms and groups the coordinator no longer has are
 * dropped, with all they hold, when sampled (every 5 s).  The append
 * samples are one allocation per partition that was appended to (about
 * 800 bytes).
 */
#include "lag.h"

#include "broker.h"
#include "group.h"
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {"NOTFOUND", "OK", "WARN", "ERR", "STOP", "STALL", "REWIND"};

const char *gr_lag_status_name(gr_lag_status_t s)
{
    return (unsigned)s < GR_ARRAY_LEN(status_names) ? status_names[s] : "UNKNOWN";
}

/* ------------------------------------------------------------ rules */

gr_lag_status_t gr_lag_rule(const gr_lag_entry_t *w, int n, int64_t current_lag, int64_t now_ms, bool recent_zero)
{
    if (n <= 0 || current_lag <= 0)
        return GR_LAG_OK;
    /* Burrow compares whole seconds of now with ms timestamps */
    int64_t now = (now_ms / 1000) * 1000;
    int64_t first = w[0].timestamp, last = w[n - 1].timestamp;
    if (now - last > last - first && !recent_zero)
        return GR_LAG_STOP;
    for (int i = 0; i < n; i++)
        if (w[i].lag == 0)
            return GR_LAG_OK;
    for (int i = 1; i < n; i++)
        if (w[i].offset < w[i - 1].offset)
            return GR_LAG_REWIND;
    bool stalled = true;
    for (int i = 1; i < n && stalled; i++)
        stalled = w[i].offset == w[i - 1].offset;
    if (stalled)
        return GR_LAG_STALL;
    for (int i = 1; i < n; i++)
        if (w[i].lag < w[i - 1].lag)
            return GR_LAG_OK;
    return GR_LAG_WARN;
}

/* ------------------------------------------------------------ state */

typedef struct window {
    gr_hnode_t node;                /* in its group's map, by (topic, partition) */
    int32_t partition;
    uint16_t head, n;               /* ring: oldest at head */
    char *topic;                    /* in this allocation */
    gr_lag_entry_t e[];             /* cfg.intervals */
} window_t;

typedef struct lgroup {
    gr_hnode_t node;                /* in G.groups by id */
    char *id;                       /* in this allocation */
    gr_hmap_t windows;
    int64_t last_commit_ms;
    gr_lag_reset_t *reset;          /* owned, NULL if none */
    size_t reset_bytes;
    /* the series: a ring of r_cap runs, oldest at r_head; run i is
     * runs[i] (its last sample) repeated reps[i] times, the samples
     * GR_LAG_SERIES_MS apart; s_n samples in all */
    uint16_t r_head, r_n, r_cap, s_n;
    gr_lag_sample_t *runs;          /* owned, one allocation with reps; NULL if none */
    uint8_t *reps;                  /* r_cap counts after runs[r_cap] */
} lgroup_t;

#define RUN_BYTES (sizeof(gr_lag_sample_t) + 1)

static struct {
    gr_lag_config_t cfg;
    gr_hmap_t groups;
    int64_t windows;
    int64_t bytes;
    bool warned_full;
    gr_timer_t timer;
    bool timer_on;
} G = {.cfg = {.intervals = 10, .min_distance_ms = 0, .recent_ms = 100000, .expire_group_ms = 604800000,
               .max_partitions = 100000}};

static size_t window_size(size_t tlen)
{
    return sizeof(window_t) + sizeof(gr_lag_entry_t) * (size_t)G.cfg.intervals + tlen + 1;
}

void gr_lag_configure(const gr_lag_config_t *c)
{
    gr_lag_reset_all();
    G.cfg = *c;
    if (G.cfg.intervals < 1)
        G.cfg.intervals = 1;
    if (G.cfg.intervals > 1000)
        G.cfg.intervals = 1000;
}

static uint32_t tp_hash(const char *topic, size_t tlen, int32_t partition)
{
    return gr_hash_mix(gr_fnv1a64(&partition, sizeof(partition), gr_fnv1a64(topic, tlen, GR_FNV64_INIT)));
}

static lgroup_t *group_find(const char *id, size_t len)
{
    uint32_t h = gr_hash32(id, len);
    for (gr_hnode_t *n = gr_hmap_first(&G.groups, h); n; n = gr_hmap_next(n)) {
        lgroup_t *g = GR_CONTAINER(n, lgroup_t, node);
        if (!strcmp(g->id, id))
            return g;
    }
    return NULL;
}

static window_t *window_find(const lgroup_t *g, const char *topic, int32_t partition)
{
    size_t tl = strlen(topic);
    uint32_t h = tp_hash(topic, tl, partition);
    for (gr_hnode_t *n = gr_hmap_first(&g->windows, h); n; n = gr_hmap_next(n)) {
        window_t *w = GR_CONTAINER(n, window_t, node);
        if (w->partition == partition && !strcmp(w->topic, topic))
            return w;
    }
    return NULL;
}

/* Everything g holds but its node in G.groups, and g itself. */
static void group_release(lgroup_t *g)
{
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &g->windows);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        window_t *w = GR_CONTAINER(n, window_t, node);
        gr_hmap_remove_keep(&g->windows, n);
        G.windows--;
        G.bytes -= (int64_t)window_size(strlen(w->topic));
        free(w);
    }
    gr_hmap_free(&g->windows);
    G.bytes -= (int64_t)(sizeof(*g) + strlen(g->id) + 1 + g->reset_bytes + RUN_BYTES * g->r_cap);
    free(g->reset);
    free(g->runs);
    free(g);
}

static void group_free(lgroup_t *g)
{
    gr_hmap_remove(&G.groups, &g->node);
    group_release(g);
}

void gr_lag_reset_all(void)
{
    for (gr_hnode_t *n; (n = gr_hmap_after(&G.groups, NULL));)
        group_free(GR_CONTAINER(n, lgroup_t, node));
    gr_hmap_free(&G.groups);
    G.windows = 0;
    G.bytes = 0;
    G.warned_full = false;
}

/* The group's state, made if absent and there is room (fewer than
 * lag.window.max.partitions groups and windows); NULL when there is not. */
static lgroup_t *group_get(const char *id)
{
    size_t len = strlen(id);
    lgroup_t *g = group_find(id, len);
    if (g)
        return g;
    if (G.windows >= G.cfg.max_partitions || (int64_t)gr_hmap_count(&G.groups) >= G.cfg.max_partitions) {
        if (!G.warned_full)
            gr_warn("lag", "lag.window.max.partitions=%lld windows or groups are kept: the lag of further "
                    "groups and partitions is not evaluated", (long long)G.cfg.max_partitions);
        G.warned_full = true;
        return NULL;
    }
    g = gr_calloc(1, sizeof(*g) + len + 1);
    g->id = (char *)(g + 1);
    memcpy(g->id, id, len + 1);
    gr_hmap_init(&g->windows, 4);
    if (gr_hmap_count(&G.groups) == 0)
        gr_hmap_init(&G.groups, 64);
    gr_hmap_insert(&G.groups, &g->node, gr_hash32(id, len));
    G.bytes += (int64_t)(sizeof(*g) + len + 1);
    return g;
}

void gr_lag_commit(const char *group, const char *topic, int32_t partition, int64_t offset, int64_t end_offset,
                   int64_t now_ms)
{
    if (end_offset < 0)
        return;
    lgroup_t *g = group_get(group);
    if (!g)
        return;
    g->last_commit_ms = now_ms;
    window_t *w = window_find(g, topic, partition);
    if (!w) {
        if (G.windows >= G.cfg.max_partitions) {
            if (!G.warned_full)
                gr_warn("lag", "lag.window.max.partitions=%lld windows or groups are kept: the lag of further "
                        "groups and partitions is not evaluated", (long long)G.cfg.max_partitions);
            G.warned_full = true;
            return;
        }
        size_t tl = strlen(topic), sz = window_size(tl);
        w = gr_calloc(1, sz);
        w->partition = partition;
        w->topic = (char *)&w->e[G.cfg.intervals];
        memcpy(w->topic, topic, tl + 1);
        gr_hmap_insert(&g->windows, &w->node, tp_hash(topic, tl, partition));
        G.windows++;
        G.bytes += (int64_t)sz;
    }
    gr_lag_entry_t e = {.offset = offset, .timestamp = now_ms, .lag = end_offset > offset ? end_offset - offset : 0};
    int cap = G.cfg.intervals;
    if (w->n > 0) {
        gr_lag_entry_t *last = &w->e[(w->head + w->n - 1) % cap];
        /* Burrow's min-distance: a commit too close to the last one takes
         * its place, keeping the stored time */
        if (e.timestamp - last->timestamp < G.cfg.min_distance_ms) {
            e.timestamp = last->timestamp;
            *last = e;
            return;
        }
    }
    if (w->n < cap) {
        w->e[(w->head + w->n) % cap] = e;
        w->n++;
    } else {
        w->e[w->head] = e;
        w->head = (uint16_t)((w->head + 1) % cap);
    }
}

void gr_lag_reset_recorded(const char *group, const gr_lag_reset_ent_t *e, int32_t n, int64_t now_ms)
{
    if (n <= 0)
        return;
    lgroup_t *g = group_get(group);
    if (!g)
        return;
    size_t sz = sizeof(gr_lag_reset_t) + sizeof(gr_lag_reset_ent_t) * (size_t)n;
    for (int32_t i = 0; i < n; i++)
        sz += strlen(e[i].topic) + 1;
    gr_lag_reset_t *r = gr_malloc(sz);
    r->time_ms = now_ms;
    r->n = n;
    char *s = (char *)&r->e[n];
    for (int32_t i = 0; i < n; i++) {
        size_t tl = strlen(e[i].topic);
        r->e[i] = e[i];
        r->e[i].topic = s;
        memcpy(s, e[i].topic, tl + 1);
        s += tl + 1;
    }
    if (g->reset)
        G.bytes -= (int64_t)g->reset_bytes;
    free(g->reset);
    g->reset = r;
    g->reset_bytes = sz;
    G.bytes += (int64_t)sz;
}

const gr_lag_reset_t *gr_lag_last_reset(const char *group)
{
    lgroup_t *g = group_find(group, strlen(group));
    return g ? g->reset : NULL;
}

/* ------------------------------------------------------------ append samples */

gr_part_obs_t *gr_part_obs(gr_partition_t *p)
{
    if (!p->obs)
        p->obs = gr_calloc(1, sizeof(gr_part_obs_t));
    return p->obs;
}

static void sample_put(gr_lag_sample_pt_t *ring, uint8_t *head, uint8_t *n, int cap, int64_t bucket_ms,
                       int64_t now, int64_t end)
{
    if (*n > 0) {
        gr_lag_sample_pt_t *last = &ring[(*head + *n - 1) % cap];
        if (last->mono_ms / bucket_ms == now / bucket_ms) {
            last->mono_ms = now;
            last->end = end;
            return;
        }
    }
    if (*n < cap) {
        ring[(*head + *n) % cap] = (gr_lag_sample_pt_t){now, end};
        (*n)++;
    } else {
        ring[*head] = (gr_lag_sample_pt_t){now, end};
        *head = (uint8_t)((*head + 1) % cap);
    }
}

void gr_lag_appended(gr_partition_t *p, int64_t mono_ms)
{
    if (p->topic && p->topic->internal)
        return;
    gr_part_obs_t *o = gr_part_obs(p);
    int64_t end = p->high_watermark;
    sample_put(o->fine, &o->fine_head, &o->fine_n, GR_LAG_FINE, 1000, mono_ms, end);
    sample_put(o->coarse, &o->coarse_head, &o->coarse_n, GR_LAG_COARSE, 30000, mono_ms, end);
}

void gr_lag_partition_free(gr_partition_t *p)
{
    free(p->obs);
    p->obs = NULL;
}

/* When was `offset` appended, by one ring: 1 found (interpolated between
 * the samples around it), 0 older than the ring reaches (*t = the oldest
 * sample), -1 empty. */
static int ring_time(const gr_lag_sample_pt_t *ring, int head, int n, int cap, int64_t offset, int64_t *t)
{
    if (n == 0)
        return -1;
    const gr_lag_sample_pt_t *prev = NULL;
    for (int i = 0; i < n; i++) {
        const gr_lag_sample_pt_t *s = &ring[(head + i) % cap];
        if (s->end > offset) {
            if (!prev) {
                *t = s->mono_ms;
                return 0;
            }
            int64_t span = s->end - prev->end;
            int64_t into = offset - prev->end + 1;
            *t = prev->mono_ms + (span > 0 ? (s->mono_ms - prev->mono_ms) * into / span : 0);
            return 1;
        }
        prev = s;
    }
    *t = ring[(head + n - 1) % cap].mono_ms;
    return 1;
}

int64_t gr_lag_ms(const gr_partition_t *p, int64_t offset, int64_t mono_now_ms)
{
    if (offset >= p->high_watermark)
        return 0;
    const gr_part_obs_t *o = p->obs;
    if (!o || o->fine_n == 0)
        return -1;
    int64_t t, tc;
    int rc = ring_time(o->fine, o->fine_head, o->fine_n, GR_LAG_FINE, offset, &t);
    if (rc == 0) {
        /* older than the fine samples: the coarse ones place it, or the
         * oldest sample of either is a lower bound of its age */
        int rcc = ring_time(o->coarse, o->coarse_head, o->coarse_n, GR_LAG_COARSE, offset, &tc);
        if (rcc == 1 || (rcc == 0 && tc < t))
            t = tc;
    }
    if (rc < 0)
        return -1;
    return mono_now_ms > t ? mono_now_ms - t : 0;
}

/* ------------------------------------------------------------ evaluation */

static gr_partition_t *part_of(const char *topic, int32_t partition)
{
    gr_topic_t *t = gr_topic_find(topic, strlen(topic));
    return t ? gr_partition_get(t, partition) : NULL;
}

static void eval_window(const window_t *w, int64_t now_ms, int64_t mono_now, gr_lag_part_status_t *ps)
{
    int cap = G.cfg.intervals;
    gr_lag_entry_t buf[64], *e = w->n <= 64 ? buf : gr_malloc(sizeof(*e) * w->n);
    for (int i = 0; i < w->n; i++)
        e[i] = w->e[(w->head + i) % cap];
    memset(ps, 0, sizeof(*ps));
    ps->topic = w->topic;
    ps->partition = w->partition;
    ps->status = GR_LAG_OK;
    ps->nentries = w->n;
    ps->lag_ms = -1;
    ps->complete = (float)w->n / (float)cap;
    if (w->n > 0) {
        ps->start = e[0];
        ps->end = e[w->n - 1];
    }
    gr_partition_t *p = part_of(w->topic, w->partition);
    if (p && w->n > 0) {
        int64_t last = ps->end.offset;
        ps->current_lag = p->high_watermark > last ? p->high_watermark - last : 0;
        ps->lag_ms = gr_lag_ms(p, last, mono_now);
        bool recent = ps->lag_ms >= 0 && ps->lag_ms <= G.cfg.recent_ms;
        ps->status = gr_lag_rule(e, w->n, ps->current_lag, now_ms, recent);
    } else if (w->n > 0) {
        ps->current_lag = ps->end.lag;
    }
    if (e != buf)
        free(e);
}

void gr_lag_evaluate(const char *group, int64_t now_ms, gr_lag_group_status_t *out)
{
    memset(out, 0, sizeof(*out));
    out->maxlag = -1;
    out->max_lag_ms = -1;
    lgroup_t *g = group_find(group, strlen(group));
    if (!g || gr_hmap_count(&g->windows) == 0 || now_ms - g->last_commit_ms > G.cfg.expire_group_ms) {
        out->status = GR_LAG_NOTFOUND;
        out->complete = 1.0f;
        return;
    }
    int64_t mono_now = gr_broker.ev ? gr_ev_now_ms(gr_broker.ev) : gr_mono_ms();
    out->status = GR_LAG_OK;
    out->parts = gr_malloc(sizeof(*out->parts) * gr_hmap_count(&g->windows));
    int complete = 0;
    for (gr_hnode_t *n = gr_hmap_after(&g->windows, NULL); n; n = gr_hmap_after(&g->windows, n)) {
        const window_t *w = GR_CONTAINER(n, window_t, node);
        gr_lag_part_status_t *ps = &out->parts[out->npart];
        eval_window(w, now_ms, mono_now, ps);
        out->totallag += ps->current_lag;
        gr_lag_status_t st = ps->status > GR_LAG_ERR ? GR_LAG_ERR : ps->status;
        if (st > out->status)
            out->status = st;
        if (out->maxlag < 0 || ps->current_lag > out->parts[out->maxlag].current_lag)
            out->maxlag = out->npart;
        if (ps->complete >= 1.0f)
            complete++;
        if (ps->lag_ms > out->max_lag_ms)
            out->max_lag_ms = ps->lag_ms;
        out->npart++;
    }
    out->complete = out->npart > 0 ? (float)complete / (float)out->npart : 0.0f;
}

void gr_lag_status_free(gr_lag_group_status_t *s)
{
    free(s->parts);
    s->parts = NULL;
}

const char *gr_lag_group_next(const char *after)
{
    gr_hnode_t *n = NULL;
    if (after) {
        lgroup_t *g = group_find(after, strlen(after));
        if (!g)
            return NULL;
        n = &g->node;
    }
    n = gr_hmap_after(&G.groups, n);
    return n ? GR_CONTAINER(n, lgroup_t, node)->id : NULL;
}

int gr_lag_window(const char *group, const char *topic, int32_t partition, gr_lag_entry_t *out, int cap)
{
    lgroup_t *g = group_find(group, strlen(group));
    window_t *w = g ? window_find(g, topic, partition) : NULL;
    if (!w)
        return -1;
    int n = GR_MIN(cap, (int)w->n);
    for (int i = 0; i < n; i++)
        out[i] = w->e[(w->head + w->n - n + i) % G.cfg.intervals];
    return n;
}

/* ------------------------------------------------------------ series */

int gr_lag_series(const char *group, gr_lag_sample_t *out, int cap)
{
    lgroup_t *g = group_find(group, strlen(group));
    if (!g)
        return 0;
    int n = GR_MIN(cap, (int)g->s_n), skip = g->s_n - n, k = 0;
    for (int i = 0; i < g->r_n && k < n; i++) {
        int r = (g->r_head + i) % g->r_cap;
        for (int j = 0; j < g->reps[r] && k < n; j++) {
            if (skip > 0) {
                skip--;
                continue;
            }
            out[k] = g->runs[r];
            out[k].time_ms -= (int64_t)(g->reps[r] - 1 - j) * GR_LAG_SERIES_MS;
            k++;
        }
    }
    return k;
}

/* Append a sample to g's series, dropping the oldest beyond
 * GR_LAG_SERIES_LEN; a sample equal to the last one lengthens its run. */
static void series_put(lgroup_t *g, const gr_lag_sample_t *s)
{
    if (g->s_n == GR_LAG_SERIES_LEN) {
        if (--g->reps[g->r_head] == 0) {
            g->r_head = (uint16_t)((g->r_head + 1) % g->r_cap);
            g->r_n--;
        }
        g->s_n--;
    }
    if (g->r_n > 0) {
        int last = (g->r_head + g->r_n - 1) % g->r_cap;
        gr_lag_sample_t *l = &g->runs[last];
        if (l->lag == s->lag && l->lag_ms == s->lag_ms && g->reps[last] < UINT8_MAX) {
            l->time_ms = s->time_ms;
            g->reps[last]++;
            g->s_n++;
            return;
        }
    }
    if (g->r_n == g->r_cap) {
        /* at most GR_LAG_SERIES_LEN runs (one sample each at least) */
        uint16_t cap = (uint16_t)GR_MIN(GR_LAG_SERIES_LEN, g->r_cap ? 2 * g->r_cap : 2);
        gr_lag_sample_t *runs = gr_malloc(RUN_BYTES * cap);
        uint8_t *reps = (uint8_t *)&runs[cap];
        for (int i = 0; i < g->r_n; i++) {
            runs[i] = g->runs[(g->r_head + i) % g->r_cap];
            reps[i] = g->reps[(g->r_head + i) % g->r_cap];
        }
        free(g->runs);
        G.bytes += (int64_t)(RUN_BYTES * (size_t)(cap - g->r_cap));
        g->runs = runs;
        g->reps = reps;
        g->r_cap = cap;
        g->r_head = 0;
    }
    int at = (g->r_head + g->r_n) % g->r_cap;
    g->runs[at] = *s;
    g->reps[at] = 1;
    g->r_n++;
    g->s_n++;
}

static bool group_gone(const lgroup_t *g, int64_t now_ms)
{
    return !gr_group_find(g->id, strlen(g->id)) || now_ms - g->last_commit_ms > G.cfg.expire_group_ms;
}

void gr_lag_sample_all(int64_t now_ms)
{
    /* the groups the coordinator deleted (or silent for
     * lag.window.expire.group.ms) go first: the iterator allows removing
     * the node it returned */
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &G.groups);
    bool removed = false;
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        lgroup_t *g = GR_CONTAINER(n, lgroup_t, node);
        if (!group_gone(g, now_ms))
            continue;
        gr_hmap_remove_keep(&G.groups, n);
        group_release(g);
        removed = true;
    }
    if (removed)
        gr_hmap_compact(&G.groups);
    for (gr_hnode_t *n = gr_hmap_after(&G.groups, NULL); n; n = gr_hmap_after(&G.groups, n)) {
        lgroup_t *g = GR_CONTAINER(n, lgroup_t, node);
        if (gr_hmap_count(&g->windows) == 0)
            continue;
        gr_lag_group_status_t st;
        gr_lag_evaluate(g->id, now_ms, &st);
        gr_lag_sample_t s = {.time_ms = now_ms, .lag = st.totallag, .lag_ms = st.max_lag_ms};
        gr_lag_status_free(&st);
        series_put(g, &s);
    }
}

static void sample_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(arg);
    gr_lag_sample_all(gr_now_ms());
    gr_timer_start(ev, &G.timer, GR_LAG_SERIES_MS);
}

void gr_lag_start(void)
{
    gr_timer_init(&G.timer, sample_cb, NULL);
    gr_timer_start(gr_broker.ev, &G.timer, GR_LAG_SERIES_MS);
    G.timer_on = true;
}

void gr_lag_stop(void)
{
    if (G.timer_on)
        gr_timer_stop(gr_broker.ev, &G.timer);
    G.timer_on = false;
}

int64_t gr_lag_windows(void)
{
    return G.windows;
}

int64_t gr_lag_bytes(void)
{
    return G.bytes;
}
