/*
 * transactions.c - `gregor transactions` = Kafka's kafka-transactions.sh
 * (tools/.../TransactionsCommand.java): list, describe, describe-producers,
 * abort, find-hanging, with its options and its output (ToolsUtils.
 * prettyPrintTable: each cell left-aligned and padded to its column's
 * widest value, then a tab).
 *
 *   gregor transactions --bootstrap-server H:P [--command-config F] COMMAND [options]
 *
 * librdkafka 2.0.2 has none of the admin calls behind these commands
 * (ListTransactions, DescribeTransactions, DescribeProducers, an abort
 * through WriteTxnMarkers), so this command speaks the protocol itself
 * through kwire.c (PLAINTEXT only; see kwire.h for why it does not reuse
 * the broker's codec).  The requests go where Kafka's admin client sends
 * them: ListTransactions to every broker, DescribeTransactions to the
 * transactional id's coordinator (FindCoordinator), DescribeProducers and
 * WriteTxnMarkers to the partition's leader (or --broker-id).
 *
 * Errors: Kafka's messages ("Failed to describe transaction state of
 * transactional-id `x`: <reason>. Enable debug logging for additional
 * detail.") on stderr and exit status 1; <reason> is the broker's error
 * as librdkafka words it ("Broker: Transactional Id not found") where
 * Kafka prints its Java exception's message.  Strings from the broker are
 * escaped (cli_esc).
 */
#include "cli.h"
#include "kwire.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BATCH 500          /* FindHangingTransactionsCommand.MAX_BATCH_SIZE */

static const cli_optdef_t global_defs[] = {
    {"bootstrap-server", true, false, "REQUIRED: hostname and port for the broker to connect to, in the form "
                                      "`host:port` (multiple comma-separated entries can be given)"},
    {"command-config", true, false, "property file containing configs to be passed to admin client"},
    {"timeout", true, false, "Timeout (ms) of each request (default 5000)."},
    {"help", false, false, "Print usage information."},
    {NULL, false, false, NULL},
};
#define NGLOBAL (sizeof(global_defs) / sizeof(global_defs[0]) - 1)

static const cli_optdef_t list_defs[] = {
    {"duration-filter", true, false, "Duration (in millis) to filter by: if < 0, all transactions will be "
                                     "returned; otherwise, only transactions running longer than this duration "
                                     "will be returned"},
    {NULL, false, false, NULL},
};
static const cli_optdef_t describe_defs[] = {
    {"transactional-id", true, false, "REQUIRED: transactional id"},
    {NULL, false, false, NULL},
};
static const cli_optdef_t producers_defs[] = {
    {"broker-id", true, false, "optional broker id to describe the producer state on a specific replica"},
    {"topic", true, false, "REQUIRED: topic name"},
    {"partition", true, false, "REQUIRED: partition number"},
    {NULL, false, false, NULL},
};
static const cli_optdef_t abort_defs[] = {
    {"topic", true, false, "REQUIRED: topic name"},
    {"partition", true, false, "REQUIRED: partition number"},
    {"start-offset", true, false, "start offset of the transaction to abort (brokers on versions 3.0 and above)"},
    {"producer-id", true, false, "producer id (brokers older than 3.0, with the next two)"},
    {"producer-epoch", true, false, "producer epoch"},
    {"coordinator-epoch", true, false, "coordinator epoch"},
    {NULL, false, false, NULL},
};
static const cli_optdef_t hanging_defs[] = {
    {"broker-id", true, false, "broker id to search for hanging transactions"},
    {"max-transaction-timeout", true, false, "maximum transaction timeout in minutes to limit the scope of the "
                                             "search (15 minutes by default)"},
    {"topic", true, false, "topic name to limit search to (required if --partition is specified)"},
    {"partition", true, false, "partition number"},
    {NULL, false, false, NULL},
};

typedef struct txcmd {
    const char *name, *help;
    const cli_optdef_t *defs;
    int (*run)(kw_t *k, const cli_opts_t *o);
} txcmd_t;

/* ------------------------------------------------------------------ output */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Java's String.length() of UTF-8 text: UTF-16 code units */
static size_t jlen(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80)
            n += *p >= 0xf0 ? 2 : 1;
    return n;
}

typedef struct table {
    int ncols;
    char **cells;        /* rows * ncols, row 0 = headers */
    size_t nrows, cap;
} table_t;

static void tbl_row(table_t *t, char **cells)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = gr_realloc(t->cells, t->cap * (size_t)t->ncols * sizeof(char *));
    }
    for (int i = 0; i < t->ncols; i++)
        t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = cells[i];
    t->nrows++;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    char *s = gr_malloc((size_t)n + 1);
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
    return s;
}

static void tbl_init(table_t *t, const char *const *headers, int ncols)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    char *h[16];
    for (int i = 0; i < ncols; i++)
        h[i] = gr_strdup(headers[i]);
    tbl_row(t, h);
}

/* ToolsUtils.prettyPrintTable */
static void tbl_print(table_t *t)
{
    size_t w[16] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            size_t l = jlen(t->cells[r * (size_t)t->ncols + (size_t)c]);
            if (l > w[c])
                w[c] = l;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            fputs(s, stdout);
            for (size_t i = jlen(s); i < w[c]; i++)
                fputc(' ', stdout);
            fputc('\t', stdout);
        }
        fputc('\n', stdout);
    }
    fflush(stdout);
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

/* a held string (kw_rstr) as printed */
static char *esc(const char *held)
{
    return gr_strdup(cli_esc(held, GR_JSTR_HELD));
}

/* ------------------------------------------------------------------ numbers */

/* argparse4j's conversion of --name's value; -1 after the message */
static int num_arg(const cli_opts_t *o, const char *name, const char *type, int64_t lo, int64_t hi, int64_t *out)
{
    const char *v = cli_get(o, name);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) {
        die("argument --%s: could not convert '%s' to %s", name, cli_esc(v, GR_JSTR_WIRE), type);
        return -1;
    }
    *out = x;
    return 1;
}

#define INT_ARG(o, name, out) num_arg(o, name, "Integer", INT32_MIN, INT32_MAX, out)
#define LONG_ARG(o, name, out) num_arg(o, name, "Long", INT64_MIN, INT64_MAX, out)
#define SHORT_ARG(o, name, out) num_arg(o, name, "Short", INT16_MIN, INT16_MAX, out)

static int required(const cli_opts_t *o, const char *name)
{
    if (cli_get(o, name))
        return 0;
    die("argument --%s is required", name);
    return -1;
}

/* ------------------------------------------------------------------ calls */

/* ListTransactions (v0; v1 for a duration filter) of one broker.
 * Appends (txn id, pid, state) triples; -1 after a message in k->err. */
typedef struct listing {
    char *tid;                  /* held */
    int64_t pid;
    char *state;
    int32_t broker;
} listing_t;

typedef struct listings {
    listing_t *v;
    size_t n, cap;
} listings_t;

static void listings_free(listings_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].tid);
        free(l->v[i].state);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int list_txns(kw_t *k, kw_conn_t *c, const int64_t *pids, size_t npids, bool duration, int64_t dur,
                     listings_t *out)
{
    int v = kw_version(c, 66, duration ? 1 : 0, 1);
    if (v < 0) {
        snprintf(k->err, sizeof(k->err), "%s", duration ? "The broker does not support the duration filter "
                                                          "(ListTransactions v1)" : c->err);
        return -1;
    }
    kw_buf_t b = {0};
    kw_arr(&b, true, 0);                       /* state filters */
    kw_arr(&b, true, (int32_t)npids);
    for (size_t i = 0; i < npids; i++)
        kw_i64(&b, pids[i]);
    if (v >= 1)
        kw_i64(&b, duration ? dur : -1);
    kw_tags(&b, true);
    kw_rd_t r;
    int rc = kw_call(c, 66, v, &b, &r);
    free(b.p);
    if (rc < 0) {
        snprintf(k->err, sizeof(k->err), "%s", c->err);
        return -1;
    }
    kw_rint(&r, 4);
    int16_t err = (int16_t)kw_rint(&r, 2);
    int32_t nu = kw_rarr(&r, true, 1);
    for (int32_t i = 0; i < nu && !r.bad; i++)
        free(kw_rstr(&r, true));
    int32_t n = kw_rarr(&r, true, 11);
    for (int32_t i = 0; i < n && !r.bad; i++) {
        listing_t l = {0};
        l.tid = kw_rstr(&r, true);
        l.pid = kw_rint(&r, 8);
        l.state = kw_rstr(&r, true);
        l.broker = c->node_id;
        kw_rtags(&r, true);
        if (r.bad || !l.tid || !l.state) {
            free(l.tid);
            free(l.state);
            r.bad = true;
            break;
        }
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 16;
            out->v = gr_realloc(out->v, out->cap * sizeof(listing_t));
        }
        out->v[out->n++] = l;
    }
    if (r.bad) {
        snprintf(k->err, sizeof(k->err), "malformed ListTransactions response");
        return -1;
    }
    if (err) {
        snprintf(k->err, sizeof(k->err), "%s", kw_errstr(err));
        return -1;
    }
    return 0;
}

/* ListTransactions on every broker of the metadata, in broker id order */
static int cmp_broker(const void *a, const void *b)
{
    const kw_broker_t *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int list_all(kw_t *k, const int64_t *pids, size_t npids, bool duration, int64_t dur, listings_t *out)
{
    if (kw_metadata(k, NULL, 0) < 0)
        return -1;
    qsort(k->md.brokers, (size_t)k->md.nbrokers, sizeof(kw_broker_t), cmp_broker);
    for (int i = 0; i < k->md.nbrokers; i++) {
        kw_conn_t *c = kw_node(k, k->md.brokers[i].id);
        if (!c || list_txns(k, c, pids, npids, duration, dur, out) < 0)
            return -1;
    }
    return 0;
}

/* DescribeTransactions v0 result of one id */
typedef struct tdesc {
    int16_t err;
    char *tid, *state;
    int32_t timeout_ms;
    int64_t start_ms, pid;
    int16_t epoch;
    char **tps;                 /* "topic-partition", escaped */
    size_t ntps;
    int32_t coordinator;
} tdesc_t;

static void tdesc_free(tdesc_t *d)
{
    free(d->tid);
    free(d->state);
    for (size_t i = 0; i < d->ntps; i++)
        free(d->tps[i]);
    free(d->tps);
    memset(d, 0, sizeof(*d));
}

static int describe_txn(kw_t *k, const char *tid, tdesc_t *d)
{
    memset(d, 0, sizeof(*d));
    int16_t kerr;
    int32_t node = kw_find_coordinator(k, 1, tid, &kerr);
    if (node < 0)
        return -1;
    kw_conn_t *c = kw_node(k, node);
    if (!c)
        return -1;
    int v = kw_version(c, 65, 0, 0);
    if (v < 0) {
        snprintf(k->err, sizeof(k->err), "%s", c->err);
        return -1;
    }
    kw_buf_t b = {0};
    kw_arr(&b, true, 1);
    kw_str(&b, true, tid);
    kw_tags(&b, true);
    kw_rd_t r;
    int rc = kw_call(c, 65, v, &b, &r);
    free(b.p);
    if (rc < 0) {
        snprintf(k->err, sizeof(k->err), "%s", c->err);
        return -1;
    }
    kw_rint(&r, 4);
    int32_t n = kw_rarr(&r, true, 30);
    for (int32_t i = 0; i < n && !r.bad; i++) {
        tdesc_t x = {0};
        x.coordinator = node;
        x.err = (int16_t)kw_rint(&r, 2);
        x.tid = kw_rstr(&r, true);
        x.state = kw_rstr(&r, true);
        x.timeout_ms = (int32_t)kw_rint(&r, 4);
        x.start_ms = kw_rint(&r, 8);
        x.pid = kw_rint(&r, 8);
        x.epoch = (int16_t)kw_rint(&r, 2);
        int32_t nt = kw_rarr(&r, true, 3);
        for (int32_t j = 0; j < nt && !r.bad; j++) {
            char *t = kw_rstr(&r, true);
            int32_t np = kw_rarr(&r, true, 4);
            x.tps = gr_realloc(x.tps, (x.ntps + (size_t)(np > 0 ? np : 0) + 1) * sizeof(char *));
            for (int32_t p = 0; p < np && !r.bad; p++) {
                int32_t part = (int32_t)kw_rint(&r, 4);
                if (t && !r.bad)
                    x.tps[x.ntps++] = fmt("%s-%" PRId32, cli_esc(t, GR_JSTR_HELD), part);
            }
            kw_rtags(&r, true);
            free(t);
        }
        kw_rtags(&r, true);
        if (i == 0 && !r.bad && x.tid)
            *d = x;
        else
            tdesc_free(&x);
    }
    if (r.bad || !d->tid) {
        tdesc_free(d);
        snprintf(k->err, sizeof(k->err), "malformed DescribeTransactions response");
        return -1;
    }
    return 0;
}

/* DescribeProducers v0 of partitions of one topic-set on one broker */
typedef struct pstate {
    int64_t pid;
    int32_t epoch, last_seq;
    int64_t last_ts;
    int32_t coord_epoch;
    int64_t txn_start;
} pstate_t;

typedef struct tpart {
    const char *topic;          /* held; owned by the caller (find-hanging: by the tpart) */
    int32_t part;
    int32_t node;               /* where to ask */
    int16_t err;
    pstate_t *ps;
    size_t nps;
} tpart_t;

/* one request for parts[0..n) (all to the same node) */
static int describe_producers(kw_t *k, kw_conn_t *c, tpart_t *parts, size_t n)
{
    int v = kw_version(c, 61, 0, 0);
    if (v < 0) {
        snprintf(k->err, sizeof(k->err), "%s", c->err);
        return -1;
    }
    kw_buf_t b = {0};
    /* group consecutive partitions of the same topic */
    size_t ntop = 0;
    for (size_t i = 0; i < n; i++)
        ntop += i == 0 || strcmp(parts[i].topic, parts[i - 1].topic);
    kw_arr(&b, true, (int32_t)ntop);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && !strcmp(parts[j].topic, parts[i].topic))
            j++;
        kw_str(&b, true, parts[i].topic);
        kw_arr(&b, true, (int32_t)(j - i));
        for (size_t x = i; x < j; x++)
            kw_i32(&b, parts[x].part);
        kw_tags(&b, true);
        i = j;
    }
    kw_tags(&b, true);
    kw_rd_t r;
    int rc = kw_call(c, 61, v, &b, &r);
    free(b.p);
    if (rc < 0) {
        snprintf(k->err, sizeof(k->err), "%s", c->err);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        parts[i].err = -2;      /* not in the response */
    kw_rint(&r, 4);
    int32_t nt = kw_rarr(&r, true, 3);
    for (int32_t i = 0; i < nt && !r.bad; i++) {
        char *t = kw_rstr(&r, true);
        int32_t np = kw_rarr(&r, true, 9);
        for (int32_t j = 0; j < np && !r.bad; j++) {
            int32_t pi = (int32_t)kw_rint(&r, 4);
            int16_t err = (int16_t)kw_rint(&r, 2);
            free(kw_rstr(&r, true));
            tpart_t *tp = NULL;
            for (size_t x = 0; t && x < n && !tp; x++)
                if (parts[x].part == pi && !strcmp(parts[x].topic, t))
                    tp = &parts[x];
            int32_t na = kw_rarr(&r, true, 37);
            pstate_t *ps = gr_calloc((size_t)(na > 0 ? na : 0) + 1, sizeof(pstate_t));
            size_t nps = 0;
            for (int32_t a = 0; a < na && !r.bad; a++) {
                pstate_t *p = &ps[nps++];
                p->pid = kw_rint(&r, 8);
                p->epoch = (int32_t)kw_rint(&r, 4);
                p->last_seq = (int32_t)kw_rint(&r, 4);
                p->last_ts = kw_rint(&r, 8);
                p->coord_epoch = (int32_t)kw_rint(&r, 4);
                p->txn_start = kw_rint(&r, 8);
                kw_rtags(&r, true);
            }
            kw_rtags(&r, true);
            if (tp && !r.bad) {
                free(tp->ps);
                tp->err = err;
                tp->ps = ps;
                tp->nps = nps;
            } else {
                free(ps);
            }
        }
        kw_rtags(&r, true);
        free(t);
    }
    if (r.bad) {
        snprintf(k->err, sizeof(k->err), "malformed DescribeProducers response");
        return -1;
    }
    return 0;
}

/* The leader of topic-part from k->md, or -1 (with a message). */
static int32_t leader_of(kw_t *k, const char *topic, int32_t part, int16_t *kerr)
{
    *kerr = 0;
    const kw_topic_t *t = kw_meta_topic(&k->md, topic);
    if (!t || t->err) {
        *kerr = t ? t->err : 3;
        snprintf(k->err, sizeof(k->err), "%s", kw_errstr(*kerr));
        return -1;
    }
    for (int i = 0; i < t->nparts; i++)
        if (t->parts[i].id == part) {
            if (t->parts[i].err || t->parts[i].leader < 0) {
                *kerr = t->parts[i].err ? t->parts[i].err : 5;
                snprintf(k->err, sizeof(k->err), "%s", kw_errstr(*kerr));
                return -1;
            }
            return t->parts[i].leader;
        }
    *kerr = 3;
    snprintf(k->err, sizeof(k->err), "%s", kw_errstr(3));
    return -1;
}

/* DescribeProducers of one partition on its leader (or broker) */
static int producers_of(kw_t *k, const char *topic, int32_t part, int32_t broker, tpart_t *tp)
{
    memset(tp, 0, sizeof(*tp));
    tp->topic = topic;
    tp->part = part;
    const char *tl[1] = {topic};
    if (kw_metadata(k, tl, 1) < 0)
        return -1;
    int16_t kerr;
    int32_t node = broker >= 0 ? broker : leader_of(k, topic, part, &kerr);
    if (node < 0)
        return -1;
    kw_conn_t *c = kw_node(k, node);
    if (!c || describe_producers(k, c, tp, 1) < 0)
        return -1;
    if (tp->err) {
        snprintf(k->err, sizeof(k->err), "%s",
                 tp->err == -2 ? "the response does not have the partition" : kw_errstr(tp->err));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ list */

static int run_list(kw_t *k, const cli_opts_t *o)
{
    int64_t dur = -1;
    int hd = LONG_ARG(o, "duration-filter", &dur);
    if (hd < 0)
        return 1;
    listings_t l = {0};
    if (list_all(k, NULL, 0, hd > 0, dur, &l) < 0) {
        die("Failed to list transactions: %s. Enable debug logging for additional detail.", k->err);
        listings_free(&l);
        return 1;
    }
    static const char *const h[] = {"TransactionalId", "Coordinator", "ProducerId", "TransactionState"};
    table_t t;
    tbl_init(&t, h, 4);
    for (size_t i = 0; i < l.n; i++) {
        char *row[4] = {esc(l.v[i].tid), fmt("%" PRId32, l.v[i].broker), fmt("%" PRId64, l.v[i].pid),
                        esc(l.v[i].state)};
        tbl_row(&t, row);
    }
    tbl_print(&t);
    listings_free(&l);
    return 0;
}

/* ------------------------------------------------------------------ describe */

static int run_describe(kw_t *k, const cli_opts_t *o)
{
    if (required(o, "transactional-id") < 0)
        return 1;
    const char *tid = cli_get(o, "transactional-id");
    tdesc_t d;
    if (describe_txn(k, tid, &d) < 0 || d.err) {
        die("Failed to describe transaction state of transactional-id `%s`: %s. Enable debug logging for "
            "additional detail.",
            cli_esc(tid, GR_JSTR_WIRE), d.tid ? kw_errstr(d.err) : k->err);
        tdesc_free(&d);
        return 1;
    }
    static const char *const h[] = {"CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch",
                                    "TransactionState", "TransactionTimeoutMs", "CurrentTransactionStartTimeMs",
                                    "TransactionDurationMs", "TopicPartitions"};
    size_t tl = 1;
    for (size_t i = 0; i < d.ntps; i++)
        tl += strlen(d.tps[i]) + 1;
    char *tps = gr_calloc(tl, 1);
    for (size_t i = 0; i < d.ntps; i++) {
        if (i)
            strcat(tps, ",");
        strcat(tps, d.tps[i]);
    }
    char *row[9] = {fmt("%" PRId32, d.coordinator), gr_strdup(cli_esc(tid, GR_JSTR_WIRE)),
                    fmt("%" PRId64, d.pid), fmt("%d", d.epoch), esc(d.state), fmt("%" PRId32, d.timeout_ms),
                    d.start_ms < 0 ? gr_strdup("None") : fmt("%" PRId64, d.start_ms),
                    d.start_ms < 0 ? gr_strdup("None") : fmt("%" PRId64, wall_ms() - d.start_ms), tps};
    table_t t;
    tbl_init(&t, h, 9);
    tbl_row(&t, row);
    tbl_print(&t);
    tdesc_free(&d);
    return 0;
}

/* ------------------------------------------------------------------ describe-producers */

static int run_producers(kw_t *k, const cli_opts_t *o)
{
    int64_t part = 0, broker = -1;
    if (required(o, "topic") < 0 || required(o, "partition") < 0 || INT_ARG(o, "partition", &part) < 0 ||
        INT_ARG(o, "broker-id", &broker) < 0)
        return 1;
    const char *topic = cli_get(o, "topic");
    tpart_t tp;
    if (producers_of(k, topic, (int32_t)part, cli_has(o, "broker-id") ? (int32_t)broker : -1, &tp) < 0) {
        char where[32];
        if (cli_has(o, "broker-id"))
            snprintf(where, sizeof(where), "broker %" PRId64, broker);
        else
            snprintf(where, sizeof(where), "leader");
        die("Failed to describe producers for partition %s-%" PRId64 " on %s: %s. Enable debug logging for "
            "additional detail.",
            cli_esc(topic, GR_JSTR_WIRE), part, where, k->err);
        free(tp.ps);
        return 1;
    }
    static const char *const h[] = {"ProducerId",   "ProducerEpoch", "LatestCoordinatorEpoch",
                                    "LastSequence", "LastTimestamp", "CurrentTransactionStartOffset"};
    table_t t;
    tbl_init(&t, h, 6);
    for (size_t i = 0; i < tp.nps; i++) {
        pstate_t *p = &tp.ps[i];
        char *row[6] = {fmt("%" PRId64, p->pid),
                        fmt("%" PRId32, p->epoch),
                        fmt("%" PRId32, p->coord_epoch < 0 ? -1 : p->coord_epoch),
                        fmt("%" PRId32, p->last_seq),
                        fmt("%" PRId64, p->last_ts),
                        p->txn_start < 0 ? gr_strdup("None") : fmt("%" PRId64, p->txn_start)};
        tbl_row(&t, row);
    }
    tbl_print(&t);
    free(tp.ps);
    return 0;
}

/* ------------------------------------------------------------------ abort */

/* WriteTxnMarkers (v1, or v0) of one ABORT marker; the partition's error
 * code, or -1 after a message in k->err */
static int write_abort(kw_t *k, kw_conn_t *c, const char *topic, int32_t part, int64_t pid, int16_t epoch,
                       int32_t cepoch)
{
    int v = kw_version(c, 27, 0, 1);
    if (v < 0) {
        snprintf(k->err, sizeof(k->err), "%s", c->err);
        return -1;
    }
    bool fx = v >= 1;
    kw_buf_t b = {0};
    kw_arr(&b, fx, 1);
    kw_i64(&b, pid);
    kw_i16(&b, epoch);
    kw_i8(&b, 0);                               /* transaction_result: abort */
    kw_arr(&b, fx, 1);
    kw_str(&b, fx, topic);
    kw_arr(&b, fx, 1);
    kw_i32(&b, part);
    kw_tags(&b, fx);
    kw_i32(&b, cepoch);
    kw_tags(&b, fx);
    kw_tags(&b, fx);
    kw_rd_t r;
    int rc = kw_call(c, 27, v, &b, &r);
    free(b.p);
    if (rc < 0) {
        snprintf(k->err, sizeof(k->err), "%s", c->err);
        return -1;
    }
    int found = -1;
    int32_t nm = kw_rarr(&r, fx, 9);
    for (int32_t i = 0; i < nm && !r.bad; i++) {
        int64_t rp = kw_rint(&r, 8);
        int32_t nt = kw_rarr(&r, fx, 5);
        for (int32_t j = 0; j < nt && !r.bad; j++) {
            char *t = kw_rstr(&r, fx);
            int32_t np = kw_rarr(&r, fx, 6);
            for (int32_t x = 0; x < np && !r.bad; x++) {
                int32_t pi = (int32_t)kw_rint(&r, 4);
                int16_t e = (int16_t)kw_rint(&r, 2);
                kw_rtags(&r, fx);
                if (rp == pid && pi == part && t && !strcmp(t, topic))
                    found = e;
            }
            kw_rtags(&r, fx);
            free(t);
        }
        kw_rtags(&r, fx);
    }
    if (r.bad || found < 0) {
        snprintf(k->err, sizeof(k->err), "WriteTxnMarkers response included unexpected marker entries");
        return -1;
    }
    return found;
}

static int run_abort(kw_t *k, const cli_opts_t *o)
{
    int64_t part = 0, start = -1, pid = -1, epoch = -1, cepoch = -1;
    if (required(o, "topic") < 0 || required(o, "partition") < 0 || INT_ARG(o, "partition", &part) < 0 ||
        LONG_ARG(o, "start-offset", &start) < 0 || LONG_ARG(o, "producer-id", &pid) < 0 ||
        SHORT_ARG(o, "producer-epoch", &epoch) < 0 || INT_ARG(o, "coordinator-epoch", &cepoch) < 0)
        return 1;
    const char *topic = cli_get(o, "topic");
    const char *et = cli_esc(topic, GR_JSTR_WIRE);
    if (!cli_has(o, "start-offset") && !cli_has(o, "producer-id")) {
        die("The transaction to abort must be identified either with --start-offset (for brokers on 3.0 or "
            "above) or with --producer-id, --producer-epoch, and --coordinator-epoch (for older brokers)");
        return 1;
    }
    if (!cli_has(o, "start-offset")) {
        if (!cli_has(o, "producer-epoch")) {
            die("Missing required argument --producer-epoch");
            return 1;
        }
        if (!cli_has(o, "coordinator-epoch")) {
            die("Missing required argument --coordinator-epoch");
            return 1;
        }
        if (cepoch < 0)
            cepoch = 0;
    } else {
        tpart_t tp;
        if (producers_of(k, topic, (int32_t)part, -1, &tp) < 0) {
            die("Failed to validate producer state for partition %s-%" PRId64 ": %s. Enable debug logging for "
                "additional detail.",
                et, part, k->err);
            free(tp.ps);
            return 1;
        }
        const pstate_t *f = NULL;
        for (size_t i = 0; i < tp.nps && !f; i++)
            if (tp.ps[i].txn_start >= 0 && tp.ps[i].txn_start == start)
                f = &tp.ps[i];
        if (!f) {
            die("Could not find any open transactions starting at offset %" PRId64 " on partition %s-%" PRId64,
                start, et, part);
            free(tp.ps);
            return 1;
        }
        pid = f->pid;
        epoch = (int16_t)f->epoch;
        cepoch = f->coord_epoch < 0 ? 0 : f->coord_epoch;
        free(tp.ps);
    }
    char spec[256 + 64];
    snprintf(spec, sizeof(spec),
             "AbortTransactionSpec(topicPartition=%.200s-%" PRId64 ", producerId=%" PRId64 ", producerEpoch=%" PRId64
             ", coordinatorEpoch=%" PRId64 ")",
             et, part, pid, epoch, cepoch);
    const char *tl[1] = {topic};
    int16_t kerr;
    int32_t node;
    kw_conn_t *c;
    if (kw_metadata(k, tl, 1) < 0 || (node = leader_of(k, topic, (int32_t)part, &kerr)) < 0 ||
        !(c = kw_node(k, node))) {
        die("Failed to abort transaction %s: %s. Enable debug logging for additional detail.", spec, k->err);
        return 1;
    }
    int e = write_abort(k, c, topic, (int32_t)part, pid, (int16_t)epoch, (int32_t)cepoch);
    if (e < 0) {
        die("Failed to abort transaction %s: %s. Enable debug logging for additional detail.", spec, k->err);
        return 1;
    }
    if (e) {
        char why[800];
        if (e == 47)
            snprintf(why, sizeof(why), "WriteTxnMarkers request with %s failed due an invalid producer epoch", spec);
        else if (e == 52)
            snprintf(why, sizeof(why),
                     "WriteTxnMarkers request with %s failed since the provided coordinator epoch %" PRId64
                     " has been fenced by the active coordinator",
                     spec, cepoch);
        else
            snprintf(why, sizeof(why), "WriteTxnMarkers request with %s failed due to unexpected error: %s", spec,
                     kw_errstr((int16_t)e));
        die("Failed to abort transaction %s: %s. Enable debug logging for additional detail.", spec, why);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ find-hanging */

static int cmp_tpart(const void *a, const void *b)
{
    const tpart_t *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    int c = strcmp(x->topic, y->topic);
    if (c)
        return c;
    return x->part < y->part ? -1 : x->part > y->part;
}

typedef struct cand {
    const tpart_t *tp;
    const pstate_t *ps;
} cand_t;

static int run_hanging(kw_t *k, const cli_opts_t *o)
{
    int64_t broker = -1, part = -1, maxmin = 15;
    if (INT_ARG(o, "broker-id", &broker) < 0 || INT_ARG(o, "partition", &part) < 0 ||
        INT_ARG(o, "max-transaction-timeout", &maxmin) < 0)
        return 1;
    const char *topic = cli_get(o, "topic");
    bool has_broker = cli_has(o, "broker-id");
    if (!topic && !has_broker) {
        die("The `find-hanging` command requires either --topic or --broker-id to limit the scope of the search");
        return 1;
    }
    if (cli_has(o, "partition") && !topic) {
        die("The --partition argument requires --topic to be provided");
        return 1;
    }
    int64_t max_ms = maxmin * 60000;
    int rc = 1;
    tpart_t *tps = NULL;
    size_t ntps = 0;
    cand_t *cands = NULL;
    size_t ncands = 0;
    listings_t l = {0};
    tdesc_t *descs = NULL;
    size_t ndescs = 0;

    /* the partitions to search */
    const char *tl[1] = {topic};
    if (kw_metadata(k, topic ? tl : NULL, topic ? 1 : 0) < 0) {
        die("Failed to describe %d topics: %s. Enable debug logging for additional detail.", topic ? 1 : 0, k->err);
        return 1;
    }
    for (int i = 0; i < k->md.ntopics; i++) {
        const kw_topic_t *t = &k->md.topics[i];
        if (t->err) {
            die("Failed to describe %d topics: %s. Enable debug logging for additional detail.", k->md.ntopics,
                kw_errstr(t->err));
            return 1;
        }
        for (int j = 0; j < t->nparts; j++) {
            const kw_part_t *p = &t->parts[j];
            if (cli_has(o, "partition") && p->id != part)
                continue;
            bool has = !has_broker;
            for (int x = 0; x < p->nreplicas && !has; x++)
                has = p->replicas[x] == broker;
            if (!has)
                continue;
            tps = gr_realloc(tps, (ntps + 1) * sizeof(tpart_t));
            tps[ntps++] = (tpart_t){.topic = gr_strdup(t->name), .part = p->id,
                                    .node = has_broker ? (int32_t)broker : p->leader};
        }
    }
    if (topic && cli_has(o, "partition") && ntps == 0) {
        /* Kafka asks for the partition as given; the broker answers its error */
        tps = gr_realloc(tps, sizeof(tpart_t));
        int16_t kerr;
        int32_t node = has_broker ? (int32_t)broker : leader_of(k, topic, (int32_t)part, &kerr);
        if (node < 0) {
            die("Failed to describe producers for 1 partitions on broker Optional.empty: %s. Enable debug "
                "logging for additional detail.",
                k->err);
            goto out;
        }
        tps[ntps++] = (tpart_t){.topic = gr_strdup(k->md.ntopics ? k->md.topics[0].name : topic),
                                .part = (int32_t)part, .node = node};
    }
    qsort(tps, ntps, sizeof(tpart_t), cmp_tpart);

    /* open transactions older than the max timeout (DescribeProducers, MAX_BATCH partitions per request) */
    int64_t now = wall_ms();
    for (size_t i = 0; i < ntps;) {
        size_t j = i;
        while (j < ntps && j - i < MAX_BATCH && tps[j].node == tps[i].node)
            j++;
        kw_conn_t *c = tps[i].node >= 0 ? kw_node(k, tps[i].node) : NULL;
        if (tps[i].node < 0)
            snprintf(k->err, sizeof(k->err), "%s", kw_errstr(5));
        if (!c || describe_producers(k, c, tps + i, j - i) < 0) {
            char b[40];
            if (has_broker)
                snprintf(b, sizeof(b), "Optional[%" PRId64 "]", broker);
            else
                snprintf(b, sizeof(b), "Optional.empty");
            die("Failed to describe producers for %zu partitions on broker %s: %s. Enable debug logging for "
                "additional detail.",
                j - i, b, k->err);
            goto out;
        }
        for (size_t x = i; x < j; x++) {
            if (tps[x].err) {
                char b[40];
                if (has_broker)
                    snprintf(b, sizeof(b), "Optional[%" PRId64 "]", broker);
                else
                    snprintf(b, sizeof(b), "Optional.empty");
                die("Failed to describe producers for %zu partitions on broker %s: %s. Enable debug logging for "
                    "additional detail.",
                    j - i, b, tps[x].err == -2 ? "the response does not have a partition" : kw_errstr(tps[x].err));
                goto out;
            }
            for (size_t y = 0; y < tps[x].nps; y++) {
                const pstate_t *p = &tps[x].ps[y];
                if (p->txn_start >= 0 && now - p->last_ts > max_ms) {
                    cands = gr_realloc(cands, (ncands + 1) * sizeof(cand_t));
                    cands[ncands++] = (cand_t){&tps[x], p};
                }
            }
        }
        i = j;
    }

    if (ncands) {
        /* their transactional ids (ListTransactions filtered by producer id) */
        int64_t *pids = gr_calloc(ncands, sizeof(int64_t));
        size_t npids = 0;
        for (size_t i = 0; i < ncands; i++) {
            bool seen = false;
            for (size_t j = 0; j < npids && !seen; j++)
                seen = pids[j] == cands[i].ps->pid;
            if (!seen)
                pids[npids++] = cands[i].ps->pid;
        }
        int lr = list_all(k, pids, npids, false, -1, &l);
        free(pids);
        if (lr < 0) {
            die("Failed to list transactions for %zu producers: %s. Enable debug logging for additional detail.",
                npids, k->err);
            goto out;
        }
        /* their states (DescribeTransactions; not found = hanging) */
        descs = gr_calloc(l.n + 1, sizeof(tdesc_t));
        for (size_t i = 0; i < l.n; i++) {
            bool wanted = false;
            for (size_t j = 0; j < ncands && !wanted; j++)
                wanted = cands[j].ps->pid == l.v[i].pid;
            if (!wanted)
                continue;
            tdesc_t *d = &descs[ndescs];
            if (describe_txn(k, l.v[i].tid, d) < 0) {
                die("Failed to describe %zu transactions: %s. Enable debug logging for additional detail.", l.n,
                    k->err);
                goto out;
            }
            if (d->err && d->err != 105) {
                die("Failed to describe %zu transactions: %s. Enable debug logging for additional detail.", l.n,
                    kw_errstr(d->err));
                goto out;
            }
            d->pid = l.v[i].pid;          /* the listing's producer id identifies it */
            ndescs++;
        }
    }

    static const char *const h[] = {"Topic",       "Partition",     "ProducerId",    "ProducerEpoch",
                                    "CoordinatorEpoch", "StartOffset", "LastTimestamp", "Duration(min)"};
    table_t t;
    tbl_init(&t, h, 8);
    for (size_t i = 0; i < ncands; i++) {
        const cand_t *cd = &cands[i];
        const tdesc_t *d = NULL;
        for (size_t j = 0; j < ndescs && !d; j++)
            if (descs[j].pid == cd->ps->pid)
                d = &descs[j];
        bool hanging = !d || d->err;
        if (!hanging) {
            char *name = fmt("%s-%" PRId32, cli_esc(cd->tp->topic, GR_JSTR_HELD), cd->tp->part);
            hanging = true;
            for (size_t j = 0; j < d->ntps && hanging; j++)
                hanging = strcmp(d->tps[j], name) != 0;
            free(name);
        }
        if (!hanging)
            continue;
        char *row[8] = {esc(cd->tp->topic),
                        fmt("%" PRId32, cd->tp->part),
                        fmt("%" PRId64, cd->ps->pid),
                        fmt("%" PRId32, cd->ps->epoch),
                        fmt("%" PRId32, cd->ps->coord_epoch < 0 ? -1 : cd->ps->coord_epoch),
                        fmt("%" PRId64, cd->ps->txn_start),
                        fmt("%" PRId64, cd->ps->last_ts),
                        fmt("%" PRId64, (now - cd->ps->last_ts) / 60000)};
        tbl_row(&t, row);
    }
    tbl_print(&t);
    rc = 0;
out:
    for (size_t i = 0; i < ntps; i++) {
        free(tps[i].ps);
        free((char *)tps[i].topic);
    }
    free(tps);
    free(cands);
    listings_free(&l);
    for (size_t i = 0; i < ndescs; i++)
        tdesc_free(&descs[i]);
    free(descs);
    return rc;
}

/* ------------------------------------------------------------------ main */

static const txcmd_t commands[] = {
    {"list", "list transactions", list_defs, run_list},
    {"describe", "describe the state of an active transactional-id", describe_defs, run_describe},
    {"describe-producers", "describe the states of active producers for a topic partition", producers_defs,
     run_producers},
    {"abort", "abort a hanging transaction (requires administrative privileges)", abort_defs, run_abort},
    {"find-hanging", "find hanging transactions", hanging_defs, run_hanging},
};
#define NCMDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out, const txcmd_t *only)
{
    fprintf(out, "Usage: gregor transactions --bootstrap-server host:port [--command-config FILE] COMMAND "
                 "[options]\n\n"
                 "This tool is used to analyze the transactional state of producers in the cluster. It can be "
                 "used to detect and recover from hanging transactions (kafka-transactions.sh).\n\n");
    for (const cli_optdef_t *d = global_defs; d->name; d++)
        fprintf(out, "  --%-26s %s\n", d->name, d->help);
    for (size_t i = 0; i < NCMDS; i++) {
        if (only && only != &commands[i])
            continue;
        fprintf(out, "\nCOMMAND %s: %s\n", commands[i].name, commands[i].help);
        for (const cli_optdef_t *d = commands[i].defs; d->name; d++)
            fprintf(out, "  --%-26s %s\n", d->name, d->help);
    }
}

int cli_transactions_main(int argc, char **argv)
{
    /* the command is the first argument that is neither an option nor an option's value */
    const txcmd_t *cmd = NULL;
    int at = -1;
    for (int i = 1; i < argc && !cmd; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--", 2)) {
            const char *eq = strchr(a, '=');
            size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            bool takes = false;
            for (size_t g = 0; g < NGLOBAL; g++)
                if (strlen(global_defs[g].name) == len && !strncmp(global_defs[g].name, a + 2, len))
                    takes = global_defs[g].has_arg;
            if (!eq && takes)
                i++;
            continue;
        }
        if (!strcmp(a, "-h")) {
            usage(stdout, NULL);
            return 0;
        }
        for (size_t c = 0; c < NCMDS; c++)
            if (!strcmp(a, commands[c].name)) {
                cmd = &commands[c];
                at = i;
            }
        if (!cmd) {
            die("argument COMMAND: invalid choice: '%s' (choose from 'list', 'describe', 'describe-producers', "
                "'abort', 'find-hanging')",
                cli_esc(a, GR_JSTR_WIRE));
            return 1;
        }
    }
    /* options of both levels, in one list */
    size_t ng = NGLOBAL, nc = 0;
    while (cmd && cmd->defs[nc].name)
        nc++;
    cli_optdef_t *defs = gr_calloc(ng + nc + 1, sizeof(cli_optdef_t));
    memcpy(defs, global_defs, ng * sizeof(cli_optdef_t));
    if (cmd)
        memcpy(defs + ng, cmd->defs, nc * sizeof(cli_optdef_t));
    char **av = gr_calloc((size_t)argc + 1, sizeof(char *));
    int ac = 0;
    for (int i = 0; i < argc; i++)
        if (i != at)
            av[ac++] = argv[i];
    cli_opts_t o;
    int rc = 1;
    if (cli_parse(ac, av, defs, &o) < 0) {
        free(av);
        free(defs);
        return 1;
    }
    if (cli_has(&o, "help")) {
        usage(stdout, cmd);
        rc = 0;
        goto out;
    }
    if (!cli_get(&o, "bootstrap-server")) {
        die("argument --bootstrap-server is required");
        goto out;
    }
    if (!cmd) {
        die("too few arguments (a COMMAND: list, describe, describe-producers, abort, find-hanging)");
        goto out;
    }
    kw_t k;
    if (kw_open(&k, &o) < 0) {
        die("Failed to connect to %s: %s", cli_esc(cli_get(&o, "bootstrap-server"), GR_JSTR_WIRE), k.err);
        kw_close(&k);
        goto out;
    }
    rc = cmd->run(&k, &o);
    kw_close(&k);
out:
    cli_opts_free(&o);
    free(av);
    free(defs);
    return rc;
}
