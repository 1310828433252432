/*
 * metrics.c - the broker's counters and the Prometheus text of /metrics.
 *
 * Counting: loop-thread counters bumped by one-line call sites (metrics.h);
 * a request's latency and sizes go into a histogram per (API key,
 * version), allocated on the first request of that version (at most 128 x
 * 32).  Per-partition counters (bytes and records in, bytes out) live in
 * the partition's gr_part_obs_t (lag.h) and are summed per topic when
 * scraped.  fsync latencies and storage errors come from helper threads
 * (fio.c) and are relaxed atomics.
 *
 * Exposition (text format 0.0.4).  A family's lines must be contiguous, so
 * the stream walks the topics once per partition family and the groups
 * once per group family, from name lists taken when the scrape starts: a
 * topic or group deleted meanwhile is skipped, one created meanwhile waits
 * for the next scrape, none is written twice.  Each gr_metrics_stream_next
 * writes about STEP_LINES lines (a big topic's partitions over several), so the HTTP layer sends a big answer as
 * it is produced and gives the loop back between pieces.
 *
 * Names: kafka_exporter's (danielqsj/kafka_exporter) for topics,
 * partitions and groups, with its labels (consumergroup, partition,
 * topic; written in sorted order as the Go client does), so dashboards
 * built for it work unchanged; everything else is gregor_*.
 */
#include "metrics.h"

#include "broker.h"
#include "cgroup.h"
#include "fetch_session.h"
#include "lag.h"
#include "net.h"
#include "offsets.h"
#include "schema_gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS 128
#define VERSIONS 32
#define STEP_LINES 256

static const int64_t bounds_us[GR_METRICS_NBUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000,
};

void gr_hist_observe(gr_hist_t *h, int64_t us)
{
    int i = 0;
    while (i < GR_METRICS_NBUCKETS && us > bounds_us[i])
        i++;
    h->b[i]++;
    h->count++;
    h->sum_us += (uint64_t)(us > 0 ? us : 0);
}

typedef struct req_stats {
    gr_hist_t lat;
    uint64_t in_bytes, out_bytes, in_count;
} req_stats_t;

#define TRIGGERS (GR_TRIGGER_LOADED_OVER_CAPACITY + 1)

static struct {
    req_stats_t *req[KEYS][VERSIONS];
    int64_t parked[KEYS];
    gr_hist_t append;
    gr_hist_t rebalance[TRIGGERS];
    uint64_t commits;
    uint64_t produce_records, produce_bytes, fetch_bytes;
    /* helper threads */
    gr_hist_t fsync;                /* atomics */
    uint64_t storage_errors;        /* atomic */
    /* a commit in progress (between gr_metrics_commit and _end) */
    gr_lag_reset_ent_t *pending;
    int32_t npending, cappending;
    bool pending_changed;
    int64_t started_ms;
} M;

static req_stats_t *req_stats(int16_t key, int16_t version)
{
    if (key < 0 || key >= KEYS || version < 0 || version >= VERSIONS)
        return NULL;
    req_stats_t *s = M.req[key][version];
    if (!s)
        s = M.req[key][version] = gr_calloc(1, sizeof(*s));
    return s;
}

void gr_metrics_request_in(int16_t key, int16_t version, size_t bytes)
{
    req_stats_t *s = req_stats(key, version);
    if (s) {
        s->in_bytes += bytes;
        s->in_count++;
    }
}

void gr_metrics_request_done(const gr_req_t *req)
{
    req_stats_t *s = req_stats(req->api_key, req->api_version);
    if (!s)
        return;
    gr_hist_observe(&s->lat, gr_mono_us() - req->recv_us);
    if (req->state == GR_REQ_DONE)
        s->out_bytes += req->out.total;
}

void gr_metrics_parked(int16_t key, int delta)
{
    if (key >= 0 && key < KEYS)
        M.parked[key] += delta;
}

int64_t gr_metrics_clock(void)
{
    return gr_mono_us();
}

void gr_metrics_produce(gr_partition_t *p, int32_t records, size_t bytes, int64_t t0_us)
{
    gr_part_obs_t *o = gr_part_obs(p);
    o->bytes_in += bytes;
    o->records_in += (uint64_t)(records > 0 ? records : 0);
    o->batches_in++;
    M.produce_records += (uint64_t)(records > 0 ? records : 0);
    M.produce_bytes += bytes;
    gr_hist_observe(&M.append, gr_mono_us() - t0_us);
}

void gr_metrics_fetch_response(const gr_FetchResponse_t *resp)
{
    for (int32_t i = 0; i < resp->Responses_count; i++) {
        const gr_FetchResponse_FetchableTopicResponse_t *tr = &resp->Responses[i];
        gr_topic_t *t = NULL;
        for (int32_t j = 0; j < tr->Partitions_count; j++) {
            const gr_FetchResponse_PartitionData_t *pd = &tr->Partitions[j];
            if (pd->Records.len <= 0 || !pd->Records.file)
                continue;
            if (!t)
                t = tr->Topic.len > 0 ? gr_topic_find(tr->Topic.p, (size_t)tr->Topic.len) : gr_topic_find_id(&tr->TopicId);
            gr_partition_t *p = t ? gr_partition_get(t, pd->PartitionIndex) : NULL;
            M.fetch_bytes += (uint64_t)pd->Records.len;
            if (!p)
                continue;
            gr_part_obs_t *o = gr_part_obs(p);
            o->bytes_out += (uint64_t)pd->Records.len;
            o->fetches++;
        }
    }
}

void gr_metrics_fsync(int64_t us)
{
    int i = 0;
    while (i < GR_METRICS_NBUCKETS && us > bounds_us[i])
        i++;
    __atomic_fetch_add(&M.fsync.b[i], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&M.fsync.count, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&M.fsync.sum_us, (uint64_t)(us > 0 ? us : 0), __ATOMIC_RELAXED);
}

void gr_metrics_storage_error(void)
{
    __atomic_fetch_add(&M.storage_errors, 1, __ATOMIC_RELAXED);
}

void gr_metrics_rebalance(gr_rebalance_trigger_t trigger, int64_t duration_ms)
{
    if ((unsigned)trigger < TRIGGERS)
        gr_hist_observe(&M.rebalance[trigger], duration_ms * 1000);
}

void gr_metrics_commit(gr_group_t *g, const char *topic, int32_t partition, int64_t from, int64_t to, int64_t now_ms)
{
    M.commits++;
    gr_topic_t *t = gr_topic_find(topic, strlen(topic));
    gr_partition_t *p = t ? gr_partition_get(t, partition) : NULL;
    gr_lag_commit(g->group_id, topic, partition, to, p ? p->high_watermark : -1, now_ms);
    if (g->nmembers > 0 || (g->type == GR_GROUP_CONSUMER && gr_cgroup_nmembers(g->cg) > 0))
        return;
    /* no members: an admin's reset (or a standalone consumer): remembered
     * whole, for undo */
    if (M.npending == M.cappending) {
        M.cappending = M.cappending ? 2 * M.cappending : 16;
        M.pending = gr_realloc(M.pending, sizeof(*M.pending) * (size_t)M.cappending);
    }
    M.pending[M.npending++] = (gr_lag_reset_ent_t){.topic = topic, .partition = partition, .from = from, .to = to};
    if (from != to)
        M.pending_changed = true;
}

void gr_metrics_commit_end(gr_group_t *g, int64_t now_ms)
{
    if (M.npending > 0 && M.pending_changed)
        gr_lag_reset_recorded(g->group_id, M.pending, M.npending, now_ms);
    M.npending = 0;
    M.pending_changed = false;
}

void gr_metrics_totals(gr_metrics_totals_t *t)
{
    memset(t, 0, sizeof(*t));
    for (int k = 0; k < KEYS; k++) {
        for (int v = 0; v < VERSIONS; v++) {
            const req_stats_t *s = M.req[k][v];
            if (!s)
                continue;
            t->requests += s->lat.count;
            t->request_bytes += s->in_bytes;
            t->response_bytes += s->out_bytes;
        }
        t->parked_total += M.parked[k];
    }
    t->parked_fetches = M.parked[1];
    t->produce_records = M.produce_records;
    t->produce_bytes = M.produce_bytes;
    t->fetch_bytes = M.fetch_bytes;
    t->commits = M.commits;
    for (int i = 0; i < TRIGGERS; i++)
        t->rebalances += M.rebalance[i].count;
    t->storage_errors = __atomic_load_n(&M.storage_errors, __ATOMIC_RELAXED);
}

void gr_metrics_api_latency(int16_t key, gr_hist_t *out)
{
    memset(out, 0, sizeof(*out));
    if (key < 0 || key >= KEYS)
        return;
    for (int v = 0; v < VERSIONS; v++) {
        const req_stats_t *s = M.req[key][v];
        if (!s)
            continue;
        for (int i = 0; i <= GR_METRICS_NBUCKETS; i++)
            out->b[i] += s->lat.b[i];
        out->count += s->lat.count;
        out->sum_us += s->lat.sum_us;
    }
}

/* ------------------------------------------------------------ text output */

/* put() and puts_() are inlined so that the length of a literal is known at
 * compile time: a scrape of 10,000 partitions writes ~100,000 lines. */
static inline void put(gr_buf_t *b, const char *s, size_t n)
{
    if (b->len + n > b->cap)
        gr_buf_reserve(b, b->len + n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static inline void puts_(gr_buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_i64(gr_buf_t *b, int64_t v)
{
    char tmp[24], *e = tmp + sizeof(tmp), *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    put(b, p, (size_t)(e - p));
}

static void put_u64(gr_buf_t *b, uint64_t u)
{
    char tmp[24], *e = tmp + sizeof(tmp), *p = e;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    put(b, p, (size_t)(e - p));
}

static void put_f(gr_buf_t *b, double v)
{
    char tmp[40];
    int n = snprintf(tmp, sizeof(tmp), "%.6g", v);
    put(b, tmp, (size_t)n);
}

/* A label value: \, " and newline escaped; the held form's C0 80 (a NUL of
 * the Java String) is not UTF-8 and becomes U+FFFD. */
static void put_lv(gr_buf_t *b, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        size_t skip = 1;
        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '"')
            rep = "\\\"";
        else if (*s == '\n')
            rep = "\\n";
        else if ((uint8_t)s[0] == 0xC0 && (uint8_t)s[1] == 0x80) {
            rep = "\xEF\xBF\xBD";
            skip = 2;
        }
        if (rep) {
            put(b, run, (size_t)(s - run));
            puts_(b, rep);
            s += skip - 1;
            run = s + 1;
        }
    }
    put(b, run, (size_t)(s - run));
}

static void head(gr_buf_t *b, const char *name, const char *type, const char *help)
{
    puts_(b, "# HELP ");
    puts_(b, name);
    puts_(b, " ");
    puts_(b, help);
    puts_(b, "\n# TYPE ");
    puts_(b, name);
    puts_(b, " ");
    puts_(b, type);
    puts_(b, "\n");
}

static void gauge1(gr_buf_t *b, const char *name, const char *type, const char *help, int64_t v)
{
    head(b, name, type, help);
    puts_(b, name);
    puts_(b, " ");
    put_i64(b, v);
    puts_(b, "\n");
}

/* One histogram series: labels is `k="v",...` or "". */
static void hist_lines(gr_buf_t *b, const char *name, const char *labels, const gr_hist_t *h)
{
    uint64_t cum = 0;
    for (int i = 0; i <= GR_METRICS_NBUCKETS; i++) {
        cum += h->b[i];
        puts_(b, name);
        puts_(b, "_bucket{");
        if (labels[0]) {
            puts_(b, labels);
            puts_(b, ",");
        }
        puts_(b, "le=\"");
        if (i < GR_METRICS_NBUCKETS)
            put_f(b, (double)bounds_us[i] / 1e6);
        else
            puts_(b, "+Inf");
        puts_(b, "\"} ");
        put_u64(b, cum);
        puts_(b, "\n");
    }
    puts_(b, name);
    puts_(b, labels[0] ? "_sum{" : "_sum");
    puts_(b, labels);
    puts_(b, labels[0] ? "} " : " ");
    put_f(b, (double)h->sum_us / 1e6);
    puts_(b, "\n");
    puts_(b, name);
    puts_(b, labels[0] ? "_count{" : "_count");
    puts_(b, labels);
    puts_(b, labels[0] ? "} " : " ");
    put_u64(b, h->count);
    puts_(b, "\n");
}

/* ------------------------------------------------------------ the stream */

enum {
    PH_BROKER,
    PH_REQUESTS,
    PH_TOPIC_FAMILIES,      /* per topic, then per partition families */
    PH_GROUP_FAMILIES,
    PH_DONE,
};

/* Families over partitions (kafka_exporter's) and over topics (ours). */
enum {
    TF_PARTITIONS,          /* per topic */
    TF_BYTES_IN,
    TF_RECORDS_IN,
    TF_BYTES_OUT,
    TF_SIZE,
    TF_FLUSH_LAG,
    TF_CURRENT,             /* per partition from here */
    TF_OLDEST,
    TF_LEADER,
    TF_REPLICAS,
    TF_ISR,
    TF_PREFERRED,
    TF_UNDER_REPLICATED,
    TF_COUNT,
};

static const struct {
    const char *name, *type, *help;
    bool per_partition;
} tfam[TF_COUNT] = {
    [TF_PARTITIONS] = {"kafka_topic_partitions", "gauge", "Number of partitions for this Topic", false},
    [TF_BYTES_IN] = {"gregor_topic_bytes_in_total", "counter", "Bytes of record batches produced to this topic",
                     false},
    [TF_RECORDS_IN] = {"gregor_topic_records_in_total", "counter", "Records produced to this topic", false},
    [TF_BYTES_OUT] = {"gregor_topic_bytes_out_total", "counter", "Bytes of record data sent by Fetch responses",
                      false},
    [TF_SIZE] = {"gregor_topic_size_bytes", "gauge", "Bytes of this topic's logs on disk", false},
    [TF_FLUSH_LAG] = {"gregor_log_flush_lag_messages", "gauge",
                      "Messages of this topic above the partitions' recovery points (not yet fsynced)", false},
    [TF_CURRENT] = {"kafka_topic_partition_current_offset", "gauge", "Current Offset of a Broker at Topic/Partition",
                    true},
    [TF_OLDEST] = {"kafka_topic_partition_oldest_offset", "gauge", "Oldest Offset of a Broker at Topic/Partition",
                   true},
    [TF_LEADER] = {"kafka_topic_partition_leader", "gauge", "Leader Broker ID of this Topic/Partition", true},
    [TF_REPLICAS] = {"kafka_topic_partition_replicas", "gauge", "Number of Replicas for this Topic/Partition", true},
    [TF_ISR] = {"kafka_topic_partition_in_sync_replica", "gauge", "Number of In-Sync Replicas for this Topic/Partition",
                true},
    [TF_PREFERRED] = {"kafka_topic_partition_leader_is_preferred", "gauge",
                      "1 if Topic/Partition is using the Preferred Broker", true},
    [TF_UNDER_REPLICATED] = {"kafka_topic_partition_under_replicated_partition", "gauge",
                             "1 if Topic/Partition is under Replicated", true},
};

enum {
    GF_CURRENT,             /* per partition */
    GF_CURRENT_SUM,         /* per topic */
    GF_LAG,
    GF_LAG_SUM,
    GF_MEMBERS,             /* per group */
    GF_LAG_SECONDS,
    GF_STATUS,
    GF_COUNT,
};

static const struct {
    const char *name, *help;
} gfam[GF_COUNT] = {
    [GF_CURRENT] = {"kafka_consumergroup_current_offset", "Current Offset of a ConsumerGroup at Topic/Partition"},
    [GF_CURRENT_SUM] = {"kafka_consumergroup_current_offset_sum",
                        "Current Offset of a ConsumerGroup at Topic for all partitions"},
    [GF_LAG] = {"kafka_consumergroup_lag", "Current Approximate Lag of a ConsumerGroup at Topic/Partition"},
    [GF_LAG_SUM] = {"kafka_consumergroup_lag_sum", "Current Approximate Lag of a ConsumerGroup at Topic for all "
                    "partitions"},
    [GF_MEMBERS] = {"kafka_consumergroup_members", "Amount of members in a consumer group"},
    [GF_LAG_SECONDS] = {"gregor_consumergroup_lag_seconds",
                        "Age of the oldest record a group has not consumed, the largest over its partitions"},
    [GF_STATUS] = {"gregor_consumergroup_status",
                   "Burrow's evaluation of the group: 0 NOTFOUND, 1 OK, 2 WARN, 3 ERR, 4 STOP, 5 STALL, 6 REWIND"},
};

struct gr_metrics_stream {
    int phase;
    int fam;
    int32_t i;                  /* topic or group index */
    int32_t part;               /* the next partition of topic i */
    char **topics;
    int32_t ntopics;
    char **groups;
    int32_t ngroups;
    size_t bytes;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

gr_metrics_stream_t *gr_metrics_stream_new(void)
{
    gr_metrics_stream_t *s = gr_calloc(1, sizeof(*s));
    int n = gr_topic_count();
    s->topics = gr_malloc(sizeof(char *) * (size_t)(n > 0 ? n : 1));
    for (gr_topic_t *t = gr_topic_next(NULL); t && s->ntopics < n; t = gr_topic_next(t)) {
        s->topics[s->ntopics++] = gr_strdup(t->name);
        s->bytes += strlen(t->name) + 1 + sizeof(char *);
    }
    qsort(s->topics, (size_t)s->ntopics, sizeof(char *), cmp_str);
    int gn = gr_group_count();
    s->groups = gr_malloc(sizeof(char *) * (size_t)(gn > 0 ? gn : 1));
    for (gr_group_t *g = gr_group_next(NULL); g && s->ngroups < gn; g = gr_group_next(g)) {
        s->groups[s->ngroups++] = gr_strdup(g->group_id);
        s->bytes += strlen(g->group_id) + 1 + sizeof(char *);
    }
    qsort(s->groups, (size_t)s->ngroups, sizeof(char *), cmp_str);
    s->bytes += sizeof(*s);
    return s;
}

void gr_metrics_stream_free(gr_metrics_stream_t *s)
{
    if (!s)
        return;
    for (int32_t i = 0; i < s->ntopics; i++)
        free(s->topics[i]);
    for (int32_t i = 0; i < s->ngroups; i++)
        free(s->groups[i]);
    free(s->topics);
    free(s->groups);
    free(s);
}

size_t gr_metrics_stream_bytes(const gr_metrics_stream_t *s)
{
    return s->bytes;
}

static void broker_section(gr_buf_t *b)
{
    int64_t now = gr_mono_ms();
    if (!M.started_ms)
        M.started_ms = now;
    gauge1(b, "kafka_brokers", "gauge", "Number of Brokers in the Kafka Cluster.", 1);
    head(b, "gregor_build_info", "gauge", "The broker's version");
    puts_(b, "gregor_build_info{version=\"" GR_VERSION "\"} 1\n");
    gauge1(b, "gregor_connections", "gauge", "Client connections open on the Kafka listener", gr_net_conn_count());
    gauge1(b, "gregor_memory_budget_used_bytes", "gauge",
           "Bytes of requests and responses held for clients (queued.max.request.bytes budget)",
           (int64_t)gr_net_mem_used());
    gauge1(b, "gregor_memory_budget_bytes", "gauge", "The memory budget (queued.max.request.bytes), 0 if none",
           gr_broker.cfg.queued_max_request_bytes > 0 ? gr_broker.cfg.queued_max_request_bytes : 0);
    gauge1(b, "gregor_fetch_sessions", "gauge", "Incremental fetch sessions (KIP-227) in the cache", gr_fsess_count());
    gauge1(b, "gregor_parked_fetches", "gauge", "Fetch requests waiting for data or their max wait", M.parked[1]);
    head(b, "gregor_parked_requests", "gauge", "Requests waiting (long polls, group joins), by API");
    for (int k = 0; k < KEYS; k++) {
        const gr_api_def_t *d = gr_api_lookup((int16_t)k);
        if (!d || !d->handler || (M.parked[k] == 0 && k != 1 && k != 11 && k != 14))
            continue;
        puts_(b, "gregor_parked_requests{api=\"");
        puts_(b, d->name);
        puts_(b, "\"} ");
        put_i64(b, M.parked[k]);
        puts_(b, "\n");
    }
    gauge1(b, "gregor_produce_records_total", "counter", "Records appended by Produce requests",
           (int64_t)M.produce_records);
    gauge1(b, "gregor_produce_bytes_total", "counter", "Bytes of record batches appended by Produce requests",
           (int64_t)M.produce_bytes);
    gauge1(b, "gregor_fetch_bytes_total", "counter", "Bytes of record data sent by Fetch responses",
           (int64_t)M.fetch_bytes);
    head(b, "gregor_log_append_latency_seconds", "histogram", "Time to validate and write one partition's batches");
    hist_lines(b, "gregor_log_append_latency_seconds", "", &M.append);
    gr_hist_t fs;
    for (int i = 0; i <= GR_METRICS_NBUCKETS; i++)
        fs.b[i] = __atomic_load_n(&M.fsync.b[i], __ATOMIC_RELAXED);
    fs.count = __atomic_load_n(&M.fsync.count, __ATOMIC_RELAXED);
    fs.sum_us = __atomic_load_n(&M.fsync.sum_us, __ATOMIC_RELAXED);
    head(b, "gregor_log_fsync_latency_seconds", "histogram", "fsync/fdatasync of log files and directories");
    hist_lines(b, "gregor_log_fsync_latency_seconds", "", &fs);
    gauge1(b, "gregor_storage_errors_total", "counter", "Storage operations (write, fsync, truncate, read) that failed",
           (int64_t)__atomic_load_n(&M.storage_errors, __ATOMIC_RELAXED));
    gauge1(b, "gregor_offset_commits_total", "counter", "Committed offsets (partitions) that landed in "
           "__consumer_offsets", (int64_t)M.commits);
    head(b, "gregor_rebalance_duration_seconds", "histogram", "Completed rebalances by what started them, and how "
         "long they took");
    for (int i = 0; i < TRIGGERS; i++) {
        char lab[64];
        snprintf(lab, sizeof(lab), "trigger=\"%s\"", gr_rebalance_trigger_name((gr_rebalance_trigger_t)i));
        hist_lines(b, "gregor_rebalance_duration_seconds", lab, &M.rebalance[i]);
    }
    /* the classic states, then those only consumer groups (KIP-848) have */
    enum { NCLASSIC = GR_GROUP_DEAD + 1, NSTATES = NCLASSIC + 2 };
    const char *names[NSTATES];
    for (int i = 0; i < NCLASSIC; i++)
        names[i] = gr_group_state_name((gr_group_state_t)i);
    names[NCLASSIC] = "Assigning";
    names[NCLASSIC + 1] = "Reconciling";
    int64_t states[NSTATES] = {0};
    for (gr_group_t *g = gr_group_next(NULL); g; g = gr_group_next(g)) {
        if (g->type == GR_GROUP_CONSUMER) {
            const char *st = gr_cgroup_state_name(g->cg);
            for (int i = 0; i < NSTATES; i++)
                if (!strcmp(names[i], st)) {
                    states[i]++;
                    break;
                }
        } else if ((unsigned)g->state <= GR_GROUP_DEAD) {
            states[g->state]++;
        }
    }
    head(b, "gregor_consumergroups", "gauge", "Consumer groups by state");
    for (int i = 0; i < NSTATES; i++) {
        puts_(b, "gregor_consumergroups{state=\"");
        puts_(b, names[i]);
        puts_(b, "\"} ");
        put_i64(b, states[i]);
        puts_(b, "\n");
    }
    gauge1(b, "gregor_lag_windows", "gauge", "Partitions whose commits the lag evaluation keeps a window of",
           gr_lag_windows());
    gauge1(b, "gregor_lag_bytes", "gauge", "Memory the lag evaluation holds (windows, series, resets)", gr_lag_bytes());
    gauge1(b, "gregor_group_history_bytes", "gauge", "Memory the groups' history holds (group.history.max.bytes)",
           gr_group_hist_bytes());
}

static void requests_section(gr_buf_t *b)
{
    static const char *const names[] = {"gregor_request_latency_seconds", "gregor_request_bytes_total",
                                        "gregor_response_bytes_total"};
    static const char *const helps[] = {
        "Time from a request's receipt to its response being complete, by API and version",
        "Bytes of requests received, by API and version", "Bytes of responses sent, by API and version"};
    for (int f = 0; f < 3; f++) {
        head(b, names[f], f == 0 ? "histogram" : "counter", helps[f]);
        for (int k = 0; k < KEYS; k++) {
            const gr_api_def_t *d = gr_api_lookup((int16_t)k);
            for (int v = 0; v < VERSIONS; v++) {
                const req_stats_t *s = M.req[k][v];
                if (!s)
                    continue;
                char lab[96];
                snprintf(lab, sizeof(lab), "api=\"%s\",version=\"%d\"", d ? d->name : "unknown", v);
                if (f == 0) {
                    hist_lines(b, names[f], lab, &s->lat);
                    continue;
                }
                puts_(b, names[f]);
                puts_(b, "{");
                puts_(b, lab);
                puts_(b, "} ");
                put_u64(b, f == 1 ? s->in_bytes : s->out_bytes);
                puts_(b, "\n");
            }
        }
    }
}

/* A partition line, `<name>{partition="<p>",topic="<topic>"} <v>`: the parts
 * around the partition number are built once per topic (pl_init). */
typedef struct pline_parts {
    char pre[96];               /* <name>{partition=" */
    size_t npre;
    char *post;                 /* ",topic="<topic>"}<space> */
    size_t npost;
} pline_parts_t;

static void pl_init(pline_parts_t *pp, const char *name, const char *topic)
{
    pp->npre = (size_t)snprintf(pp->pre, sizeof(pp->pre), "%s{partition=\"", name);
    size_t tl = strlen(topic);
    static const char mid[] = "\",topic=\"", end[] = "\"} ";
    pp->npost = sizeof(mid) - 1 + tl + sizeof(end) - 1;
    pp->post = gr_malloc(pp->npost);
    memcpy(pp->post, mid, sizeof(mid) - 1);
    memcpy(pp->post + sizeof(mid) - 1, topic, tl);
    memcpy(pp->post + sizeof(mid) - 1 + tl, end, sizeof(end) - 1);
}

static void pline(gr_buf_t *b, const pline_parts_t *pp, int32_t part, int64_t v)
{
    put(b, pp->pre, pp->npre);
    put_i64(b, part);
    put(b, pp->post, pp->npost);
    put_i64(b, v);
    put(b, "\n", 1);
}

/* One topic's lines of family f: its one line, or the lines of partitions
 * [*from, *from + STEP_LINES); *from moves on (-1 once the topic is done). */
static void topic_lines(gr_buf_t *b, int f, const gr_topic_t *t, int32_t *from)
{
    const char *name = tfam[f].name;
    if (!tfam[f].per_partition) {
        int64_t v = 0;
        for (int32_t i = 0; i < t->npart; i++) {
            const gr_partition_t *p = t->parts[i];
            const gr_part_obs_t *o = p->obs;
            switch (f) {
            case TF_PARTITIONS: v = t->npart; break;
            case TF_BYTES_IN: v += o ? (int64_t)o->bytes_in : 0; break;
            case TF_RECORDS_IN: v += o ? (int64_t)o->records_in : 0; break;
            case TF_BYTES_OUT: v += o ? (int64_t)o->bytes_out : 0; break;
            case TF_SIZE: v += gr_log_size_bytes(p->log); break;
            case TF_FLUSH_LAG: {
                int64_t d = gr_log_end_offset(p->log) - gr_log_recovery_point(p->log);
                v += d > 0 ? d : 0;
                break;
            }
            }
        }
        puts_(b, name);
        puts_(b, "{topic=\"");
        puts_(b, t->name);
        puts_(b, "\"} ");
        put_i64(b, v);
        puts_(b, "\n");
        *from = -1;
        return;
    }
    pline_parts_t pp;
    pl_init(&pp, name, t->name);
    int32_t end = *from + STEP_LINES < t->npart ? *from + STEP_LINES : t->npart;
    for (int32_t i = *from; i < end; i++) {
        const gr_partition_t *p = t->parts[i];
        int64_t v = 0;
        switch (f) {
        case TF_CURRENT: v = p->high_watermark; break;
        case TF_OLDEST: v = gr_log_start_offset(p->log); break;
        case TF_LEADER: v = gr_broker.cfg.node_id; break;
        case TF_REPLICAS: v = 1; break;
        case TF_ISR: v = 1; break;
        case TF_PREFERRED: v = 1; break;
        case TF_UNDER_REPLICATED: v = 0; break;
        }
        pline(b, &pp, i, v);
    }
    free(pp.post);
    *from = end < t->npart ? end : -1;
}

/* A group's committed offsets, sorted by topic and partition. */
typedef struct goff {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t lag;                /* -1: the partition is not served here */
} goff_t;

static int cmp_goff(const void *a, const void *b)
{
    const goff_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static goff_t *group_offsets(gr_group_t *g, int32_t *n)
{
    uint32_t cnt = gr_offset_map_count(g->offsets);
    goff_t *o = gr_malloc(sizeof(*o) * (cnt ? cnt : 1));
    int32_t k = 0;
    gr_offset_iter_t it;
    gr_offset_iter_init(&it, g->offsets);
    for (gr_offset_t *e; (e = gr_offset_iter_next(&it)) && (uint32_t)k < cnt;) {
        gr_topic_t *t = gr_topic_find(e->topic, e->topic_len);
        gr_partition_t *p = t ? gr_partition_get(t, e->partition) : NULL;
        o[k].topic = e->topic;
        o[k].partition = e->partition;
        o[k].offset = e->offset;
        o[k].lag = p ? (p->high_watermark > e->offset ? p->high_watermark - e->offset : 0) : -1;
        k++;
    }
    qsort(o, (size_t)k, sizeof(*o), cmp_goff);
    *n = k;
    return o;
}

static void glabels(gr_buf_t *b, const char *name, const char *group)
{
    puts_(b, name);
    puts_(b, "{consumergroup=\"");
    put_lv(b, group);
    puts_(b, "\"");
}

static void group_lines(gr_buf_t *b, int f, gr_group_t *g)
{
    const char *name = gfam[f].name;
    if (f == GF_MEMBERS) {
        glabels(b, name, g->group_id);
        puts_(b, "} ");
        put_i64(b, g->type == GR_GROUP_CONSUMER ? gr_cgroup_nmembers(g->cg) : g->nmembers);
        puts_(b, "\n");
        return;
    }
    if (f == GF_LAG_SECONDS || f == GF_STATUS) {
        gr_lag_group_status_t st;
        gr_lag_evaluate(g->group_id, gr_now_ms(), &st);
        if (st.status != GR_LAG_NOTFOUND || f == GF_STATUS) {
            glabels(b, name, g->group_id);
            puts_(b, "} ");
            if (f == GF_STATUS)
                put_i64(b, st.status);
            else
                put_f(b, st.max_lag_ms < 0 ? 0.0 : (double)st.max_lag_ms / 1000.0);
            puts_(b, "\n");
        }
        gr_lag_status_free(&st);
        return;
    }
    int32_t n;
    goff_t *o = group_offsets(g, &n);
    bool sum = f == GF_CURRENT_SUM || f == GF_LAG_SUM;
    bool lag = f == GF_LAG || f == GF_LAG_SUM;
    for (int32_t i = 0; i < n;) {
        if (lag && o[i].lag < 0) {
            i++;
            continue;
        }
        if (!sum) {
            glabels(b, name, g->group_id);
            puts_(b, ",partition=\"");
            put_i64(b, o[i].partition);
            puts_(b, "\",topic=\"");
            put_lv(b, o[i].topic);
            puts_(b, "\"} ");
            put_i64(b, lag ? o[i].lag : o[i].offset);
            puts_(b, "\n");
            i++;
            continue;
        }
        int64_t v = 0;
        int32_t j = i;
        for (; j < n && !strcmp(o[j].topic, o[i].topic); j++)
            if (o[j].lag >= 0 || !lag)
                v += lag ? o[j].lag : o[j].offset;
        glabels(b, name, g->group_id);
        puts_(b, ",topic=\"");
        put_lv(b, o[i].topic);
        puts_(b, "\"} ");
        put_i64(b, v);
        puts_(b, "\n");
        i = j;
    }
    free(o);
}

bool gr_metrics_stream_next(gr_metrics_stream_t *s, gr_buf_t *out)
{
    size_t start = out->len;
    while (s->phase != PH_DONE && out->len - start < 64 * 1024) {
        switch (s->phase) {
        case PH_BROKER:
            broker_section(out);
            s->phase = PH_REQUESTS;
            break;
        case PH_REQUESTS:
            requests_section(out);
            s->phase = PH_TOPIC_FAMILIES;
            s->fam = 0;
            s->i = -1;
            break;
        case PH_TOPIC_FAMILIES:
            if (s->fam >= TF_COUNT) {
                s->phase = PH_GROUP_FAMILIES;
                s->fam = 0;
                s->i = -1;
                break;
            }
            if (s->i < 0) {
                head(out, tfam[s->fam].name, tfam[s->fam].type, tfam[s->fam].help);
                s->i = 0;
                s->part = 0;
            }
            for (int lines = 0; s->i < s->ntopics && lines < STEP_LINES;) {
                gr_topic_t *t = gr_topic_find(s->topics[s->i], strlen(s->topics[s->i]));
                if (t && s->part < t->npart) {
                    int32_t from = s->part;
                    topic_lines(out, s->fam, t, &s->part);
                    lines += !tfam[s->fam].per_partition ? 1 : (s->part < 0 ? t->npart : s->part) - from;
                } else {
                    s->part = -1;
                }
                if (s->part < 0) {      /* the topic is done */
                    s->i++;
                    s->part = 0;
                }
            }
            if (s->i >= s->ntopics) {
                s->fam++;
                s->i = -1;
            }
            break;
        case PH_GROUP_FAMILIES:
            if (s->fam >= GF_COUNT) {
                s->phase = PH_DONE;
                break;
            }
            if (s->i < 0) {
                /* kafka_exporter's *_sum families are gauges named like a
                 * summary's part: declared untyped, which the exposition
                 * lint (promtool check metrics) accepts */
                bool sum = s->fam == GF_CURRENT_SUM || s->fam == GF_LAG_SUM;
                head(out, gfam[s->fam].name, sum ? "untyped" : "gauge", gfam[s->fam].help);
                s->i = 0;
            }
            for (int lines = 0; s->i < s->ngroups && lines < STEP_LINES; s->i++) {
                gr_group_t *g = gr_group_find(s->groups[s->i], strlen(s->groups[s->i]));
                if (!g)
                    continue;
                group_lines(out, s->fam, g);
                lines += (int)gr_offset_map_count(g->offsets) + 1;
            }
            if (s->i >= s->ngroups) {
                s->fam++;
                s->i = -1;
            }
            break;
        }
    }
    return s->phase != PH_DONE || out->len > start;
}
