/*
 * kbench - the Kafka client of the benchmark harness, on librdkafka.  The same
 * binary and the same client settings drive gregord and the librdkafka mock
 * cluster, so that their figures compare.
 *
 *   kbench create    bootstrap= topic= partitions=
 *   kbench delete    bootstrap= topic=
 *   kbench produce   bootstrap= topic= partitions= size= acks= count= secs= producers= [linger=]
 *                    [partitioner=sticky] [copy=1] [idempotence=1]
 *                    [txn=1 commit_ms=100 | txn_records=N [abort_pct=10]]
 *                    (SIGUSR1 ends a produce run early, as secs= would)
 *   kbench consume   bootstrap= topic= partitions= count= secs= [eof=1]
 *   kbench fetchraw  bootstrap= topic= version=2|4 count= secs=   (raw Fetch of partition 0)
 *   kbench produceraw bootstrap= topic= size= count= secs= [batch=] [inflight=5] [idempotence=1]
 *                    (raw Produce to partition 0, pipelined as the Java producer sends)
 *   kbench ctp       bootstrap= topic= out= group= count= secs= commit_ms=
 *   kbench latency   bootstrap= topic= partitions= mode=pingpong|rate [rate=] count= secs= size=
 *   kbench subscribe bootstrap= topic= secs= [committed=1] [stamps=1]
 *   kbench rebalance bootstrap= topic= members= secs=
 *   kbench commit    bootstrap= topic= consumers= count= secs= [mode=sync|async inflight=]
 *   kbench groups    bootstrap= topic= groups=
 *
 * Each prints one JSON line on stdout.  Producers run as threads, each with its
 * own rd_kafka_t.  Plain consumption uses the queue-based simple consumer
 * (no group) so that it needs nothing but Metadata, ListOffsets and Fetch;
 * the group workloads use the high-level consumer.  Every loop stops at its
 * count or after secs=, whichever comes first; a run that times out reports
 * what it got so far.  Arguments rk.<property>=<value> set any librdkafka
 * property on every client (rk.debug=cgrp,protocol,fetch traces a run).
 *
 * Transactions: produce txn=1 gives each producer a transactional.id and
 * commits its transaction every commit_ms, or every txn_records records
 * (abort_pct=N aborts every (100/N)th transaction instead); consume eof=1 stops once every partition
 * reported its end (read the whole log, whatever isolation.level the
 * rk.isolation.level argument sets); ctp is a consume-transform-produce
 * loop: a group consumer (read_committed) of topic=, a transactional
 * producer copying each record to the same partition of out=, the
 * consumer's positions sent with send_offsets_to_transaction and the
 * transaction committed every commit_ms.
 */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

static const char *bootstrap;
static const char *topic;

static rd_kafka_conf_t *mkconf(void)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[256];
    if (rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err, sizeof err) != RD_KAFKA_CONF_OK)
        die("%s", err);
    rd_kafka_conf_set(c, "log_level", "3", err, sizeof err);
    rd_kafka_conf_set(c, "socket.nagle.disable", "true", err, sizeof err);
    /* rk.<property>=<value> arguments pass straight to librdkafka
     * (e.g. rk.debug=cgrp,fetch,protocol to trace a run) */
    for (int i = 0; i < bench_argc; i++) {
        const char *a = bench_argv[i], *eq = strchr(a, '=');
        if (strncmp(a, "rk.", 3) != 0 || !eq)
            continue;
        char k[128];
        snprintf(k, sizeof k, "%.*s", (int)(eq - a - 3), a + 3);
        if (rd_kafka_conf_set(c, k, eq + 1, err, sizeof err) != RD_KAFKA_CONF_OK)
            die("%s: %s", a, err);
    }
    return c;
}

/* With stamps=1, a wall-clock line on stderr, to line up with debug logs. */
static void wallclock(const char *what)
{
    if (!arg_long("stamps", 0))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fprintf(stderr, "kbench: %ld.%06ld %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000, what);
}

static void cset(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
        die("%s=%s: %s", k, v, err);
}

static rd_kafka_t *mk(rd_kafka_type_t type, rd_kafka_conf_t *c)
{
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
    if (!rk)
        die("rd_kafka_new: %s", err);
    return rk;
}

/* Number of partitions of topic (waits up to 10 s for it to appear). */
static int topic_partitions(rd_kafka_t *rk)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;
    int64_t end = now_ns() + 10000000000LL;
    while (now_ns() < end) {
        const struct rd_kafka_metadata *md;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && md->topics[0].err == 0 && md->topics[0].partition_cnt > 0)
                n = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
            if (n > 0)
                break;
        }
        usleep(100000);
    }
    rd_kafka_topic_destroy(rkt);
    if (n <= 0)
        die("topic %s not found", topic);
    return n;
}

/* ------------------------------------------------------------------ create */

/* AdminOptions for op, with the long timeouts a create or delete of many
 * partitions may need. */
static rd_kafka_AdminOptions_t *admin_options(rd_kafka_t *rk, rd_kafka_admin_op_t op)
{
    char err[256];
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
    rd_kafka_AdminOptions_set_operation_timeout(o, 120000, err, sizeof err);
    rd_kafka_AdminOptions_set_request_timeout(o, 180000, err, sizeof err);
    return o;
}

/* The result of the admin call `what` sent to q; dies when it times out
 * or fails as a whole. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, const char *what)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 200000);
    if (!ev)
        die("%s timed out", what);
    if (rd_kafka_event_error(ev))
        die("%s: %s", what, rd_kafka_event_error_string(ev));
    return ev;
}

/* topic= and partitions= may be comma-separated lists of the same length. */
static int cmd_create(void)
{
    rd_kafka_t *rk = mk(RD_KAFKA_PRODUCER, mkconf());
    char *names = strdup(topic), *parts = strdup(arg_str("partitions", "1"));
    char *sn = NULL, *sp = NULL, err[256];
    rd_kafka_NewTopic_t *nt[256];
    int n = 0, total = 0;
    for (char *t = strtok_r(names, ",", &sn), *p = strtok_r(parts, ",", &sp); t && n < 256;
         t = strtok_r(NULL, ",", &sn), p = p ? strtok_r(NULL, ",", &sp) : NULL) {
        int np = p ? atoi(p) : 1;
        total += np;
        if (!(nt[n++] = rd_kafka_NewTopic_new(t, np, 1, err, sizeof err)))
            die("NewTopic: %s", err);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = admin_options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    int64_t t0 = now_ns();
    rd_kafka_CreateTopics(rk, nt, (size_t)n, o, q);
    rd_kafka_event_t *ev = admin_wait(q, "CreateTopics");
    size_t nr;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nr);
    for (size_t i = 0; i < nr; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            die("CreateTopics %s: %s", rd_kafka_topic_result_name(tr[i]), rd_kafka_err2str(e));
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    for (int i = 0; i < n; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    free(names);
    free(parts);
    printf("{\"what\":\"create\",\"topics\":%d,\"partitions\":%d,\"secs\":%.3f}\n", n, total, secs);
    return 0;
}

/* The topics of topic= (comma-separated) deleted. */
static int cmd_delete(void)
{
    rd_kafka_t *rk = mk(RD_KAFKA_PRODUCER, mkconf());
    char *names = strdup(topic), *sn = NULL;
    rd_kafka_DeleteTopic_t *dt[256];
    int n = 0;
    for (char *t = strtok_r(names, ",", &sn); t && n < 256; t = strtok_r(NULL, ",", &sn))
        dt[n++] = rd_kafka_DeleteTopic_new(t);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = admin_options(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
    int64_t t0 = now_ns();
    rd_kafka_DeleteTopics(rk, dt, (size_t)n, o, q);
    rd_kafka_event_t *ev = admin_wait(q, "DeleteTopics");
    size_t nr;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &nr);
    for (size_t i = 0; i < nr; i++)
        if (rd_kafka_topic_result_error(tr[i]))
            die("DeleteTopics %s: %s", rd_kafka_topic_result_name(tr[i]),
                rd_kafka_err2str(rd_kafka_topic_result_error(tr[i])));
    double secs = (double)(now_ns() - t0) / 1e9;
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    for (int i = 0; i < n; i++)
        rd_kafka_DeleteTopic_destroy(dt[i]);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    free(names);
    printf("{\"what\":\"delete\",\"topics\":%d,\"secs\":%.3f}\n", n, secs);
    return 0;
}

/* ----------------------------------------------------------------- produce */

struct prod {
    pthread_t th;
    rd_kafka_t *rk;
    long count;
    atomic_long delivered, failed;
    int64_t t_start, t_end;
    long txns, aborted_txns, committed, aborted;   /* txn=1: transactions and their records */
    char errstr[256];
};

static pthread_barrier_t bar;
static int g_parts, g_size;
static bool g_sticky;             /* partitioner=sticky: librdkafka picks the partition */
static int g_msgflags;            /* copy=1: librdkafka copies each value (RD_KAFKA_MSG_F_COPY) */
static char *g_value;             /* every record's value; freed after the clients */
static double g_secs;
static volatile sig_atomic_t g_stop;   /* SIGUSR1: producers end as at secs= */
static bool g_txn;                /* txn=1: transactional producers */
static int64_t g_commit_ns;       /* commit_ms= */
static long g_abort_every;        /* abort_pct=N: every (100/N)th transaction aborts; 0 none */
static long g_txn_records;        /* txn_records=N: a transaction of N records (else by time) */

static void txn_check(rd_kafka_error_t *e, const char *what)
{
    if (e) {
        const char *m = rd_kafka_error_string(e);
        die("%s: %s", what, m);
    }
}

/* end the open transaction (commit, or abort every g_abort_every-th) and begin the next */
static void txn_roll(struct prod *p, long *in_txn, bool last)
{
    bool abort = g_abort_every && (p->txns % g_abort_every) == g_abort_every - 1;
    if (abort) {
        /* the records reach the log first: an aborted transaction's data is there to skip */
        rd_kafka_flush(p->rk, 60000);
        txn_check(rd_kafka_abort_transaction(p->rk, 60000), "abort_transaction");
        p->aborted += *in_txn;
        p->aborted_txns++;
    } else {
        txn_check(rd_kafka_commit_transaction(p->rk, 60000), "commit_transaction");
        p->committed += *in_txn;
    }
    p->txns++;
    *in_txn = 0;
    if (!last)
        txn_check(rd_kafka_begin_transaction(p->rk), "begin_transaction");
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct prod *p = opaque;
    if (m->err) {
        if (atomic_fetch_add(&p->failed, 1) == 0)
            snprintf(p->errstr, sizeof p->errstr, "%s", rd_kafka_err2str(m->err));
    } else {
        atomic_fetch_add(&p->delivered, 1);
    }
}

static void *prod_main(void *arg)
{
    struct prod *p = arg;
    char *buf = g_value;
    pthread_barrier_wait(&bar);
    p->t_start = now_ns();
    int64_t deadline = p->t_start + (int64_t)(g_secs * 1e9), next_commit = p->t_start + g_commit_ns;
    long in_txn = 0;
    if (g_txn)
        txn_check(rd_kafka_begin_transaction(p->rk), "begin_transaction");
    for (long i = 0; i < p->count; i++) {
        if ((i & 1023) == 0) {
            rd_kafka_poll(p->rk, 0);
            if (now_ns() > deadline || g_stop)
                break;
        }
        if (g_txn && (g_txn_records ? in_txn >= g_txn_records : (i & 63) == 0 && now_ns() >= next_commit)) {
            txn_roll(p, &in_txn, false);
            next_commit = now_ns() + g_commit_ns;
        }
        in_txn++;
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                p->rk, RD_KAFKA_V_TOPIC(topic),
                RD_KAFKA_V_PARTITION(g_sticky ? RD_KAFKA_PARTITION_UA : (int32_t)(i % g_parts)),
                RD_KAFKA_V_VALUE(buf, (size_t)g_size), RD_KAFKA_V_MSGFLAGS(g_msgflags),
                RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die("produce: %s", rd_kafka_err2str(e));
            rd_kafka_poll(p->rk, 1);
        }
    }
    if (g_txn)
        txn_roll(p, &in_txn, true);
    rd_kafka_flush(p->rk, 30000);
    p->t_end = now_ns();
    return NULL;
}

static void on_usr1(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int cmd_produce(void)
{
    int n = (int)arg_long("producers", 1);
    signal(SIGUSR1, on_usr1);
    long count = arg_long("count", 100000);
    g_size = (int)arg_long("size", 100);
    g_secs = arg_dbl("secs", 5);
    g_sticky = strcmp(arg_str("partitioner", "modulo"), "sticky") == 0;
    /* the value buffer outlives every delivery, so by default librdkafka may
     * point at it instead of copying each record first */
    g_msgflags = arg_long("copy", 0) ? RD_KAFKA_MSG_F_COPY : 0;
    g_txn = arg_long("txn", 0) != 0;
    g_commit_ns = (int64_t)arg_long("commit_ms", 100) * 1000000;
    long apct = arg_long("abort_pct", 0);
    g_abort_every = apct > 0 ? 100 / apct : 0;
    g_txn_records = arg_long("txn_records", 0);
    if (g_size < 16)
        g_size = 16;
    g_value = malloc((size_t)g_size);
    memset(g_value, 'x', (size_t)g_size);
    struct prod *ps = calloc((size_t)n, sizeof *ps);
    pthread_barrier_init(&bar, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        rd_kafka_conf_t *c = mkconf();
        cset(c, "acks", arg_str("acks", "1"));
        cset(c, "linger.ms", arg_str("linger", "5"));
        cset(c, "batch.num.messages", "10000");
        cset(c, "batch.size", "1000000");
        cset(c, "queue.buffering.max.messages", "1000000");
        cset(c, "queue.buffering.max.kbytes", "1048576");
        cset(c, "message.timeout.ms", "60000");
        /* idempotence=1: InitProducerId, then every batch with the producer
         * id and sequences (librdkafka requires acks=all for it) */
        if (arg_long("idempotence", 0))
            cset(c, "enable.idempotence", "true");
        if (g_txn) {
            char tid[64];
            snprintf(tid, sizeof tid, "kbench-%d-%d", (int)getpid(), i);
            cset(c, "transactional.id", tid);
        }
        rd_kafka_conf_set_dr_msg_cb(c, dr_cb);
        rd_kafka_conf_set_opaque(c, &ps[i]);
        ps[i].rk = mk(RD_KAFKA_PRODUCER, c);
        ps[i].count = count / n;
        if (g_txn)
            txn_check(rd_kafka_init_transactions(ps[i].rk, 60000), "init_transactions");
        /* connect and learn the partitions before the clock starts */
        int np = topic_partitions(ps[i].rk);
        if (i == 0)
            g_parts = (int)arg_long("partitions", 0) > 0 ? (int)arg_long("partitions", 0) : np;
        pthread_create(&ps[i].th, NULL, prod_main, &ps[i]);
    }
    pthread_barrier_wait(&bar);
    double cpu0 = cpu_secs();
    for (int i = 0; i < n; i++)
        pthread_join(ps[i].th, NULL);
    double cpu = cpu_secs() - cpu0;
    long deliv = 0, failed = 0, txns = 0, atxns = 0, committed = 0, aborted = 0;
    int64_t t0 = INT64_MAX, t1 = 0;
    const char *err = NULL;
    for (int i = 0; i < n; i++) {
        deliv += ps[i].delivered;
        failed += ps[i].failed;
        txns += ps[i].txns;
        atxns += ps[i].aborted_txns;
        committed += ps[i].committed;
        aborted += ps[i].aborted;
        if (ps[i].failed && !err)
            err = ps[i].errstr;
        if (ps[i].t_start < t0)
            t0 = ps[i].t_start;
        if (ps[i].t_end > t1)
            t1 = ps[i].t_end;
        rd_kafka_destroy(ps[i].rk);
    }
    double secs = (double)(t1 - t0) / 1e9;
    if (deliv == 0)
        die("no record delivered%s%s", err ? ": " : "", err ? err : "");
    if (g_txn) {
        /* records count once their transaction committed */
        printf("{\"what\":\"produce\",\"records\":%ld,\"failed\":%ld,\"secs\":%.3f,\"rps\":%.1f,"
               "\"mbps\":%.2f,\"us_per_record\":%.3f,\"cpu_s\":%.3f,\"txns\":%ld,\"aborted_txns\":%ld,"
               "\"committed\":%ld,\"aborted\":%ld}\n",
               committed, failed, secs, committed / secs, committed * (double)g_size / secs / 1e6,
               committed ? secs * 1e6 / committed : 0.0, cpu, txns, atxns, committed, aborted);
    } else {
        printf("{\"what\":\"produce\",\"records\":%ld,\"failed\":%ld,\"secs\":%.3f,\"rps\":%.1f,"
               "\"mbps\":%.2f,\"us_per_record\":%.3f,\"cpu_s\":%.3f}\n",
               deliv, failed, secs, deliv / secs, deliv * (double)g_size / secs / 1e6,
               secs * 1e6 / deliv, cpu);
    }
    free(ps);
    free(g_value);
    return 0;
}

/* ----------------------------------------------------------------- consume */

/* A simple (group-less) consumer reading every partition into one queue. */
struct sc {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *q;
    int parts;
};

static void sc_open(struct sc *s, int64_t start)
{
    rd_kafka_conf_t *c = mkconf();
    if (arg_long("eof", 0))
        cset(c, "enable.partition.eof", "true");
    cset(c, "fetch.wait.max.ms", arg_str("fetch_wait", "500"));
    cset(c, "fetch.error.backoff.ms", "10");
    cset(c, "fetch.message.max.bytes", "1048576");
    cset(c, "queued.max.messages.kbytes", "65536");
    cset(c, "queued.min.messages", "100000");
    s->rk = mk(RD_KAFKA_CONSUMER, c);
    rd_kafka_topic_conf_t *tc = rd_kafka_topic_conf_new();
    char err[256];
    rd_kafka_topic_conf_set(tc, "auto.commit.enable", "false", err, sizeof err);
    rd_kafka_topic_conf_set(tc, "auto.offset.reset", "earliest", err, sizeof err);
    s->rkt = rd_kafka_topic_new(s->rk, topic, tc);
    s->parts = topic_partitions(s->rk);
    s->q = rd_kafka_queue_new(s->rk);
    for (int p = 0; p < s->parts; p++)
        if (rd_kafka_consume_start_queue(s->rkt, p, start, s->q) == -1)
            die("consume_start: %s", rd_kafka_err2str(rd_kafka_last_error()));
}

static void sc_close(struct sc *s)
{
    for (int p = 0; p < s->parts; p++)
        rd_kafka_consume_stop(s->rkt, p);
    rd_kafka_queue_destroy(s->q);
    rd_kafka_topic_destroy(s->rkt);
    rd_kafka_destroy(s->rk);
}

static int cmd_consume(void)
{
    long count = arg_long("count", 100000);
    double maxs = arg_dbl("secs", 10);
    struct sc s;
    sc_open(&s, RD_KAFKA_OFFSET_BEGINNING);
    rd_kafka_message_t *ms[10000];
    long got = 0;
    double bytes = 0;
    int64_t t_open = now_ns(), t0 = 0, t1 = 0, deadline = t_open + (int64_t)(maxs * 1e9);
    /* eof=1: until every partition reported its end */
    bool eof = arg_long("eof", 0) != 0;
    char *at_end = calloc((size_t)s.parts, 1);
    int ends = 0;
    while (got < count && now_ns() < deadline && !(eof && ends == s.parts)) {
        ssize_t n = rd_kafka_consume_batch_queue(s.q, 200, ms, 10000);
        for (ssize_t i = 0; i < n; i++) {
            if (!ms[i]->err) {
                if (!got)
                    t0 = now_ns();
                got++;
                bytes += (double)ms[i]->len;
                if (ms[i]->partition >= 0 && ms[i]->partition < s.parts && at_end[ms[i]->partition]) {
                    at_end[ms[i]->partition] = 0;
                    ends--;
                }
            } else if (ms[i]->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && got && ms[i]->partition >= 0 &&
                       ms[i]->partition < s.parts && !at_end[ms[i]->partition]) {
                at_end[ms[i]->partition] = 1;
                ends++;
            }
            rd_kafka_message_destroy(ms[i]);
        }
    }
    free(at_end);
    t1 = now_ns();
    sc_close(&s);
    if (got == 0)
        die("no record consumed");
    double secs = (double)(t1 - t0) / 1e9;
    printf("{\"what\":\"consume\",\"records\":%ld,\"secs\":%.3f,\"first_ms\":%.1f,\"rps\":%.1f,"
           "\"mbps\":%.2f}\n",
           got, secs, (double)(t0 - t_open) / 1e6, got / secs, bytes / secs / 1e6);
    return 0;
}

/* ----------------------------------------------------------------- fetchraw */

/* Fetch partition 0 of `topic` from offset 0 with raw Fetch requests of
 * version=2 (magic 1 message sets: the broker down-converts) or version=4
 * (v2 batches), one request in flight, max 1 MiB per answer, counting the
 * records of whole messages / batches.  For the down-conversion cost
 * (bench/run.py): the same trivial client for both, so the difference is
 * the broker's. */
static int raw_fd = -1;

static void raw_connect(void)
{
    char host[256];
    snprintf(host, sizeof host, "%s", bootstrap);
    char *colon = strrchr(host, ':');
    if (!colon)
        die("bootstrap %s: no port", bootstrap);
    *colon = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        die("cannot resolve %s", bootstrap);
    raw_fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (raw_fd == -1 || connect(raw_fd, ai->ai_addr, ai->ai_addrlen) == -1)
        die("connect %s: %s", bootstrap, strerror(errno));
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(raw_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void raw_full(void *p, size_t n, bool wr)
{
    for (size_t off = 0; off < n;) {
        ssize_t r = wr ? write(raw_fd, (char *)p + off, n - off) : read(raw_fd, (char *)p + off, n - off);
        if (r <= 0)
            die("raw client: connection %s", r == 0 ? "closed" : strerror(errno));
        off += (size_t)r;
    }
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) << 32 | rd32(p + 4); }
static uint8_t *wr16(uint8_t *p, int v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; return p + 2; }
static uint8_t *wr32(uint8_t *p, int32_t v) { for (int i = 3; i >= 0; i--) *p++ = (uint8_t)((uint32_t)v >> (8 * i)); return p; }
static uint8_t *wr64(uint8_t *p, int64_t v) { p = wr32(p, (int32_t)((uint64_t)v >> 32)); return wr32(p, (int32_t)v); }

static int cmd_fetchraw(void)
{
    int ver = (int)arg_long("version", 4);
    long count = arg_long("count", 100000);
    double maxs = arg_dbl("secs", 10);
    if (ver != 2 && ver != 4)
        die("fetchraw: version=2 or version=4");
    raw_connect();
    size_t tlen = strlen(topic), cap = 2 << 20;
    uint8_t req[512], *buf = malloc(cap);
    if (!buf || tlen > 200)
        die("fetchraw: setup");
    long got = 0;
    double wire = 0;
    int64_t next = 0, t0 = now_ns(), deadline = t0 + (int64_t)(maxs * 1e9);
    for (int32_t corr = 1; got < count && now_ns() < deadline; corr++) {
        uint8_t *p = req + 4;
        p = wr16(p, 1);
        p = wr16(p, ver);
        p = wr32(p, corr);
        p = wr16(p, 6);
        memcpy(p, "kbench", 6);
        p += 6;
        p = wr32(p, -1);                 /* ReplicaId */
        p = wr32(p, 500);                /* MaxWaitMs */
        p = wr32(p, 1);                  /* MinBytes */
        if (ver >= 3)
            p = wr32(p, 1 << 20);        /* MaxBytes */
        if (ver >= 4)
            *p++ = 0;                    /* IsolationLevel */
        p = wr32(p, 1);
        p = wr16(p, (int)tlen);
        memcpy(p, topic, tlen);
        p += tlen;
        p = wr32(p, 1);
        p = wr32(p, 0);                  /* partition */
        p = wr64(p, next);
        p = wr32(p, 1 << 20);
        wr32(req, (int32_t)(p - req - 4));
        raw_full(req, (size_t)(p - req), true);
        uint8_t hdr[4];
        raw_full(hdr, 4, false);
        size_t n = rd32(hdr);
        if (n > cap) {
            cap = n;
            if (!(buf = realloc(buf, cap)))
                die("fetchraw: %zu bytes", n);
        }
        raw_full(buf, n, false);
        wire += (double)n + 4;
        /* corr, throttle, [topic: name, [partition: index, err, hw, (v4: lso,
         * aborted[]), records]] */
        const uint8_t *q = buf + 8, *end = buf + n;
        q = buf + 12;                                    /* after corr, throttle, topics count */
        q += 2 + (((size_t)q[0] << 8) | q[1]);           /* name */
        q += 4 + 4;                                      /* partitions count, index */
        int err = (int16_t)((q[0] << 8) | q[1]);
        q += 2 + 8;                                      /* error, hw */
        if (err)
            die("fetchraw: partition error %d", err);
        if (ver >= 4) {
            q += 8;                                      /* lso */
            int32_t na = (int32_t)rd32(q);
            q += 4 + (na > 0 ? 16 * (size_t)na : 0);
        }
        int32_t rlen = (int32_t)rd32(q);
        q += 4;
        const uint8_t *r = q, *rend = q + (rlen > 0 ? rlen : 0);
        if (rend > end)
            die("fetchraw: short answer");
        while (rend - r >= 12) {
            int64_t off = (int64_t)rd64(r);
            int32_t len = (int32_t)rd32(r + 8);
            if (len < 0 || rend - r - 12 < len)
                break;                                   /* partial at the end */
            if (ver >= 4) {
                got += (int32_t)rd32(r + 57);
                next = off + (int32_t)rd32(r + 23) + 1;
            } else if (off >= next) {
                got++;
                next = off + 1;
            }
            r += 12 + len;
        }
    }
    int64_t t1 = now_ns();
    close(raw_fd);
    free(buf);
    if (got == 0)
        die("no record fetched");
    double secs = (double)(t1 - t0) / 1e9;
    printf("{\"what\":\"fetchraw\",\"version\":%d,\"records\":%ld,\"secs\":%.3f,\"rps\":%.1f,"
           "\"wire_mbps\":%.2f}\n", ver, got, secs, got / secs, wire / secs / 1e6);
    return 0;
}

/* --------------------------------------------------------------- produceraw */

/* A producer that sends as the Java client does, for the idempotence cost
 * (bench/run.py): batches of batch= bytes (records of size= bytes) for
 * partition 0 of `topic`, acks=all, up to inflight= ProduceRequests in flight
 * on one connection.  The Java producer keeps up to
 * max.in.flight.requests.per.connection (at most 5) requests in flight also
 * when it is idempotent, each batch numbered when it is made; librdkafka sends
 * an idempotent producer's next batch for a partition only when fewer than 5
 * of its records are in flight, i.e. one request at a time for big batches.
 * idempotence=1 asks InitProducerId first and gives every batch the producer
 * id, epoch and its base sequence.  Plain and idempotent runs do the same
 * work on this side (a CRC-32C per batch), so the difference is the broker's. */

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse(const uint8_t *p, size_t n)
{
    uint64_t c = 0xffffffffu;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
    }
    uint32_t c32 = (uint32_t)c;
    for (; n; p++, n--)
        c32 = __builtin_ia32_crc32qi(c32, *p);
    return ~c32;
}

static uint8_t *put_varint(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *p++ = (uint8_t)z;
    return p;
}

static uint8_t *wr_hdr(uint8_t *p, int key, int ver, int32_t corr)
{
    p = wr16(p, key);
    p = wr16(p, ver);
    p = wr32(p, corr);
    p = wr16(p, 6);
    memcpy(p, "kbench", 6);
    return p + 6;
}

/* one answer frame into *buf (grown as needed); returns its length */
static size_t raw_answer(uint8_t **buf, size_t *cap)
{
    uint8_t hdr[4];
    raw_full(hdr, 4, false);
    size_t n = rd32(hdr);
    if (n < 8 || n > (64u << 20))
        die("produceraw: answer of %zu bytes", n);
    if (n > *cap) {
        *cap = n;
        if (!(*buf = realloc(*buf, *cap)))
            die("produceraw: %zu bytes", n);
    }
    raw_full(*buf, n, false);
    return n;
}

static int cmd_produceraw(void)
{
    long size = arg_long("size", 1024), count = arg_long("count", 1000000);
    long batch = arg_long("batch", 1000000), inflight = arg_long("inflight", 5);
    bool idem = arg_long("idempotence", 0) != 0;
    double maxs = arg_dbl("secs", 10);
    size_t tlen = strlen(topic);
    if (size < 1 || size > (1 << 20) || inflight < 1 || inflight > 100 || tlen > 200)
        die("produceraw: size=1..1048576, inflight=1..100");
    long per = batch / (size + 16);                 /* records per batch */
    if (per < 1)
        per = 1;
    if (per > 100000)
        per = 100000;
    size_t rec_max = (size_t)size + 32, cap = 2 << 20;
    size_t req_cap = 256 + tlen + 61 + (size_t)per * rec_max;
    uint8_t *req = malloc(req_cap), *buf = malloc(cap);
    if (!req || !buf)
        die("produceraw: setup");
    raw_connect();
    signal(SIGUSR1, on_usr1);

    int64_t pid = -1;
    int16_t epoch = -1;
    int32_t corr = 1;
    if (idem) {
        uint8_t *p = wr_hdr(req + 4, 22, 1, corr++);   /* InitProducerId v1 */
        p = wr16(p, -1);                             /* TransactionalId: null */
        p = wr32(p, 60000);
        wr32(req, (int32_t)(p - req - 4));
        raw_full(req, (size_t)(p - req), true);
        raw_answer(&buf, &cap);
        int err = (int16_t)((buf[8] << 8) | buf[9]);  /* corr, throttle, error */
        if (err)
            die("produceraw: InitProducerId error %d", err);
        pid = (int64_t)rd64(buf + 10);
        epoch = (int16_t)((buf[18] << 8) | buf[19]);
    }

    /* the request around the batch: header, acks=-1, one topic, partition 0 */
    uint8_t *p = wr_hdr(req + 4, 0, 7, 0);          /* Produce v7: the mock serves up to 7 */
    uint8_t *corr_at = req + 8;
    p = wr16(p, -1);                                 /* TransactionalId */
    p = wr16(p, -1);                                 /* Acks: all */
    p = wr32(p, 30000);
    p = wr32(p, 1);
    p = wr16(p, (int)tlen);
    memcpy(p, topic, tlen);
    p += tlen;
    p = wr32(p, 1);
    p = wr32(p, 0);                                  /* partition */
    uint8_t *bytes_at = p, *b = p + 4;
    /* the records, made once: every batch carries the same values */
    uint8_t *r = b + 61;
    for (long i = 0; i < per; i++) {
        uint8_t body[32], *q = body;
        *q++ = 0;                                    /* attributes */
        q = put_varint(q, 0);                        /* timestamp delta */
        q = put_varint(q, i);                        /* offset delta */
        q = put_varint(q, -1);                       /* key: null */
        q = put_varint(q, size);
        size_t blen = (size_t)(q - body) + (size_t)size + 1;
        r = put_varint(r, (int64_t)blen);
        memcpy(r, body, (size_t)(q - body));
        r += q - body;
        memset(r, 'v', (size_t)size);
        r += size;
        *r++ = 0;                                    /* no headers */
    }
    size_t blen = (size_t)(r - b);
    wr32(bytes_at, (int32_t)blen);
    wr32(req, (int32_t)(r - req - 4));
    memset(b, 0, 61);
    wr32(b + 8, (int32_t)(blen - 12));
    wr32(b + 12, -1);                                /* partition leader epoch */
    b[16] = 2;                                       /* magic */
    wr32(b + 23, (int32_t)(per - 1));                /* last offset delta */
    wr64(b + 43, pid);
    wr16(b + 51, epoch);
    wr32(b + 57, (int32_t)per);

    long sent = 0, acked = 0, pending = 0;
    int32_t seq = 0;
    double cpu0 = cpu_secs();
    int64_t t0 = now_ns(), deadline = t0 + (int64_t)(maxs * 1e9);
    for (;;) {
        bool more = sent < count && !g_stop && now_ns() < deadline;
        if (more && pending < inflight) {
            struct timespec rt;
            clock_gettime(CLOCK_REALTIME, &rt);
            int64_t ts = (int64_t)rt.tv_sec * 1000 + rt.tv_nsec / 1000000;
            wr32(corr_at, corr++);
            wr64(b + 27, ts);
            wr64(b + 35, ts);
            wr32(b + 53, idem ? seq : -1);
            wr32(b + 17, (int32_t)crc32c_sse(b + 21, blen - 21));
            raw_full(req, (size_t)(r - req), true);
            if (idem)
                seq = (int32_t)(((int64_t)seq + per) & 0x7fffffff);
            sent += per;
            pending++;
            continue;
        }
        if (!pending)
            break;
        size_t n = raw_answer(&buf, &cap);
        /* corr, [topic: name, [partition: index, error, ...]] */
        const uint8_t *q = buf + 8;
        q += 2 + (((size_t)q[0] << 8) | q[1]);
        if ((size_t)(q + 10 - buf) > n)
            die("produceraw: short answer");
        int err = (int16_t)((q[8] << 8) | q[9]);
        if (err)
            die("produceraw: partition error %d", err);
        acked += per;
        pending--;
    }
    int64_t t1 = now_ns();
    double cpu = cpu_secs() - cpu0;
    close(raw_fd);
    free(req);
    free(buf);
    if (acked == 0)
        die("no record acknowledged");
    double secs = (double)(t1 - t0) / 1e9;
    printf("{\"what\":\"produceraw\",\"records\":%ld,\"failed\":0,\"secs\":%.3f,\"rps\":%.1f,"
           "\"mbps\":%.2f,\"us_per_record\":%.3f,\"cpu_s\":%.3f,\"idempotence\":%d,\"inflight\":%ld,"
           "\"batch_records\":%ld}\n",
           acked, secs, acked / secs, acked * (double)size / secs / 1e6, secs * 1e6 / (double)acked,
           cpu, idem, inflight, per);
    return 0;
}

/* ----------------------------------------------------------------- latency */

struct lat {
    rd_kafka_t *p;
    long count;
    double rate;
    int size;
    atomic_long sent;
    atomic_int done, finished;
};

static void *rate_main(void *arg)
{
    struct lat *l = arg;
    char *buf = malloc((size_t)l->size);
    memset(buf, 'x', (size_t)l->size);
    int64_t period = (int64_t)(1e9 / l->rate), t = now_ns();
    for (long i = 0; i < l->count && !l->done; i++) {
        t += period;
        if (t > now_ns())
            sleep_until_ns(t);
        stamp(buf, now_ns(), i);
        if (rd_kafka_producev(l->p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)(i % g_parts)),
                              RD_KAFKA_V_VALUE(buf, (size_t)l->size),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) == 0)
            atomic_fetch_add(&l->sent, 1);
        rd_kafka_poll(l->p, 0);
    }
    free(buf);
    l->finished = 1;
    return NULL;
}

static int cmd_latency(void)
{
    const char *mode = arg_str("mode", "pingpong");
    struct lat l = {.count = arg_long("count", 10000), .rate = arg_dbl("rate", 10000),
                    .size = (int)arg_long("size", 100)};
    double maxs = arg_dbl("secs", 5);
    if (l.size < 16)
        l.size = 16;
    rd_kafka_conf_t *c = mkconf();
    cset(c, "acks", arg_str("acks", "1"));
    cset(c, "linger.ms", "0");
    l.p = mk(RD_KAFKA_PRODUCER, c);
    struct sc s;
    sc_open(&s, RD_KAFKA_OFFSET_END);
    g_parts = s.parts;
    int64_t *v = calloc((size_t)l.count + 1, sizeof *v);
    size_t nv = 0;
    char *buf = malloc((size_t)l.size);
    memset(buf, 'x', (size_t)l.size);
    rd_kafka_message_t *ms[1000];

    /* Warm up: the consumer has resolved its offsets once it sees a record. */
    int64_t wend = now_ns() + 15000000000LL;
    int warm = 0;
    while (!warm && now_ns() < wend) {
        stamp(buf, now_ns(), -1);
        rd_kafka_producev(l.p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_VALUE(buf, (size_t)l.size),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        rd_kafka_flush(l.p, 1000);
        ssize_t n = rd_kafka_consume_batch_queue(s.q, 500, ms, 1000);
        for (ssize_t i = 0; i < n; i++) {
            if (!ms[i]->err)
                warm = 1;
            rd_kafka_message_destroy(ms[i]);
        }
    }
    if (!warm)
        die("latency: consumer saw nothing within 15 s");
    /* drain what the warm-up left behind */
    for (ssize_t n = 1; n > 0;) {
        n = rd_kafka_consume_batch_queue(s.q, 200, ms, 1000);
        for (ssize_t i = 0; i < n; i++)
            rd_kafka_message_destroy(ms[i]);
    }

    int64_t t0 = now_ns(), deadline = t0 + (int64_t)(maxs * 1e9);
    if (strcmp(mode, "pingpong") == 0) {
        for (long i = 0; i < l.count && now_ns() < deadline; i++) {
            stamp(buf, now_ns(), i);
            if (rd_kafka_producev(l.p, RD_KAFKA_V_TOPIC(topic),
                                  RD_KAFKA_V_PARTITION((int32_t)(i % g_parts)),
                                  RD_KAFKA_V_VALUE(buf, (size_t)l.size),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) != 0)
                die("produce failed");
            l.sent++;
            int seen = 0;
            while (!seen && now_ns() < deadline + 1000000000LL) {
                rd_kafka_poll(l.p, 0);
                rd_kafka_message_t *m = rd_kafka_consume_queue(s.q, 100);
                if (!m)
                    continue;
                if (!m->err && m->len >= 16) {
                    int64_t ts, seq;
                    unstamp(m->payload, &ts, &seq);
                    if (seq == i) {
                        v[nv++] = now_ns() - ts;
                        seen = 1;
                    }
                }
                rd_kafka_message_destroy(m);
            }
            if (!seen)
                break;
        }
    } else {
        pthread_t th;
        pthread_create(&th, NULL, rate_main, &l);
        int64_t grace = 0;
        for (;;) {
            int64_t now = now_ns();
            if (now > deadline)
                l.done = 1;
            if (l.finished && !grace)
                grace = now + 1000000000LL; /* for records still in flight */
            if (grace && ((long)nv >= l.sent || now > grace))
                break;
            /* one at a time: a batch call would wait for a full batch */
            rd_kafka_message_t *m1 = rd_kafka_consume_queue(s.q, 50);
            int64_t rt = now_ns();
            ssize_t n = m1 ? 1 : 0;
            ms[0] = m1;
            for (ssize_t i = 0; i < n; i++) {
                if (!ms[i]->err && ms[i]->len >= 16) {
                    int64_t ts, seq;
                    unstamp(ms[i]->payload, &ts, &seq);
                    if (seq >= 0 && (long)nv < l.count)
                        v[nv++] = rt - ts;
                }
                rd_kafka_message_destroy(ms[i]);
            }
        }
        l.done = 1;
        pthread_join(th, NULL);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    rd_kafka_flush(l.p, 5000);
    sc_close(&s);
    rd_kafka_destroy(l.p);
    if (nv == 0)
        die("latency: no sample");
    print_latency(mode, v, nv, l.sent, secs);
    free(v);
    free(buf);
    return 0;
}

/* ------------------------------------------------------------ group: join */

static rd_kafka_t *group_consumer(const char *group, const char *extra_hb)
{
    rd_kafka_conf_t *c = mkconf();
    cset(c, "group.id", group);
    cset(c, "auto.offset.reset", "earliest");
    cset(c, "enable.auto.commit", "false");
    cset(c, "session.timeout.ms", "10000");
    if (extra_hb)
        cset(c, "heartbeat.interval.ms", extra_hb);
    return mk(RD_KAFKA_CONSUMER, c);
}

static void subscribe_to(rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        die("subscribe: %s", rd_kafka_err2str(e));
}

/* With committed=1 the group already holds a committed offset (0) for
 * every partition, stored by another client before the clock starts: the
 * consumer then starts fetching at once instead of resetting its offsets
 * (librdkafka waits 100 ms before that reset's ListOffsets). */
static void commit_zero(const char *group)
{
    rd_kafka_t *rk = group_consumer(group, NULL);
    int n = topic_partitions(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = 0;
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, l, 0);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        die("commit: %s", rd_kafka_err2str(e));
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static int cmd_subscribe(void)
{
    char group[64];
    snprintf(group, sizeof group, "bench-sub-%d-%ld", (int)getpid(), (long)(now_ns() % 1000000));
    if (arg_long("committed", 0))
        commit_zero(group);
    rd_kafka_t *rk = group_consumer(group, NULL);
    topic_partitions(rk);
    double maxs = arg_dbl("secs", 20);
    int64_t t0 = now_ns(), deadline = t0 + (int64_t)(maxs * 1e9);
    wallclock("subscribe");
    subscribe_to(rk);
    int64_t t1 = 0;
    const char *err = NULL;
    while (!t1 && now_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            t1 = now_ns();
            wallclock("first record");
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            err = rd_kafka_err2name(m->err);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (!t1)
        die("no record within %.0f s%s%s", maxs, err ? ", last error " : "", err ? err : "");
    printf("{\"what\":\"subscribe\",\"first_record_ms\":%.1f}\n", (double)(t1 - t0) / 1e6);
    return 0;
}

/* ------------------------------------------------------- group: rebalance */

struct member {
    pthread_t th;
    rd_kafka_t *rk;
    atomic_int assigned;     /* last rebalance event was an assign */
    atomic_long assigns;     /* number of assign events */
    atomic_llong last_assign;
};

static atomic_int members_stop;

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct member *m = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        m->last_assign = now_ns();
        m->assigns++;
        m->assigned = 1;
    } else {
        m->assigned = 0;
        rd_kafka_assign(rk, NULL);
    }
}

static void *member_main(void *arg)
{
    struct member *m = arg;
    subscribe_to(m->rk);
    while (!members_stop) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->rk, 20);
        if (msg)
            rd_kafka_message_destroy(msg);
    }
    return NULL;
}

static void member_start(struct member *m, const char *group)
{
    rd_kafka_conf_t *c = mkconf();
    cset(c, "group.id", group);
    cset(c, "enable.auto.commit", "false");
    cset(c, "session.timeout.ms", "10000");
    cset(c, "heartbeat.interval.ms", "100");
    rd_kafka_conf_set_rebalance_cb(c, rebalance_cb);
    rd_kafka_conf_set_opaque(c, m);
    m->rk = mk(RD_KAFKA_CONSUMER, c);
    pthread_create(&m->th, NULL, member_main, m);
}

/* All n members assigned, each with an assign event after t (0: any). */
static int all_assigned(struct member *ms, int n, int64_t t)
{
    for (int i = 0; i < n; i++)
        if (!ms[i].assigned || ms[i].last_assign < t)
            return 0;
    return 1;
}

static int cmd_rebalance(void)
{
    int n = (int)arg_long("members", 10);
    double maxs = arg_dbl("secs", 30);
    char group[64];
    snprintf(group, sizeof group, "bench-reb-%d-%ld", (int)getpid(), (long)(now_ns() % 1000000));
    struct member *ms = calloc((size_t)n, sizeof *ms);
    int64_t deadline = now_ns() + (int64_t)(maxs * 1e9);
    int64_t tf = now_ns();
    for (int i = 0; i < n - 1; i++)
        member_start(&ms[i], group);
    while (!all_assigned(ms, n - 1, 0) && now_ns() < deadline)
        usleep(1000);
    double form_ms = (double)(now_ns() - tf) / 1e6;
    usleep(300000); /* let the group settle */
    int64_t t0 = now_ns();
    member_start(&ms[n - 1], group);
    while (!all_assigned(ms, n, t0) && now_ns() < deadline)
        usleep(500);
    int64_t t1 = now_ns();
    int ok = all_assigned(ms, n, t0);
    members_stop = 1;
    /* No LeaveGroup: a close in the middle of a rebalance can take a whole
     * session timeout per member.  The group id is never used again. */
    for (int i = 0; i < n; i++) {
        if (ms[i].rk) {
            pthread_join(ms[i].th, NULL);
            rd_kafka_destroy_flags(ms[i].rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        }
    }
    if (!ok)
        die("group of %d did not rebalance within %.0f s", n, maxs);
    printf("{\"what\":\"rebalance\",\"members\":%d,\"form_ms\":%.1f,\"rebalance_ms\":%.1f}\n", n,
           form_ms, (double)(t1 - t0) / 1e6);
    free(ms);
    return 0;
}

/* ---------------------------------------------------------- group: commit */

/* mode=sync: rd_kafka_commit(async=0) in a loop, one commit in flight.
 * mode=async: rd_kafka_commit_queue() with at most inflight= commits
 * outstanding per consumer; completions are OFFSET_COMMIT events on the
 * consumer's own queue.  Each commit advances the offset by one; only
 * commits whose completion reports no error (top level and partition)
 * count.  At the end an OffsetFetch (rd_kafka_committed) must return the
 * highest offset acknowledged, or the run fails. */
struct committer {
    pthread_t th;
    rd_kafka_t *rk;
    int partition;
    long count, done, failed;
    int64_t t0, t1;
    int64_t last_ok;              /* highest offset acknowledged without error */
    char err[128];
};

static double commit_secs;
static int commit_async, commit_inflight;

/* Completion of one async commit: 1 ok, 0 failed (first error kept). */
static int commit_event_ok(struct committer *c, rd_kafka_event_t *ev)
{
    rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
    const rd_kafka_topic_partition_list_t *l = rd_kafka_event_topic_partition_list(ev);
    int64_t off = -1;
    for (int i = 0; !e && l && i < l->cnt; i++) {
        e = l->elems[i].err;
        off = l->elems[i].offset;
    }
    if (e || off < 0) {
        if (!c->err[0])
            snprintf(c->err, sizeof c->err, "%s", e ? rd_kafka_err2name(e) : "no offset in result");
        return 0;
    }
    if (off > c->last_ok)
        c->last_ok = off;
    return 1;
}

static void commit_run_async(struct committer *c, rd_kafka_topic_partition_list_t *l, int64_t deadline)
{
    rd_kafka_topic_partition_t *tp = &l->elems[0];
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    long sent = 0, outstanding = 0;
    int stop = 0;
    /* completions get secs + 30 s after the last send, then the run fails */
    int64_t hard = deadline + 30000000000LL;
    while (sent < c->count || outstanding > 0) {
        while (!stop && outstanding < commit_inflight && sent < c->count) {
            tp->offset = ++sent;
            rd_kafka_resp_err_t e = rd_kafka_commit_queue(c->rk, l, q, NULL, NULL);
            if (e) {
                snprintf(c->err, sizeof c->err, "%s", rd_kafka_err2name(e));
                stop = 1;
                break;
            }
            outstanding++;
            if ((sent & 63) == 0 && now_ns() > deadline)
                stop = 1;
        }
        if (stop && outstanding == 0)
            break;
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);
        if (!ev) {
            if (now_ns() > deadline)
                stop = 1;
            if (now_ns() > hard) {
                snprintf(c->err, sizeof c->err, "%ld commits unanswered", outstanding);
                break;
            }
            continue;
        }
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT) {
            outstanding--;
            if (commit_event_ok(c, ev))
                c->done++;
            else
                c->failed++;
            c->t1 = now_ns();
        }
        rd_kafka_event_destroy(ev);
        if (!stop && (c->done & 63) == 0 && now_ns() > deadline)
            stop = 1;
    }
    rd_kafka_queue_destroy(q);
}

static void commit_run_sync(struct committer *c, rd_kafka_topic_partition_list_t *l, int64_t deadline)
{
    rd_kafka_topic_partition_t *tp = &l->elems[0];
    for (long i = 1; !c->err[0] && i <= c->count; i++) {
        tp->offset = i;
        rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, l, 0);
        if (e) {
            snprintf(c->err, sizeof c->err, "%s", rd_kafka_err2name(e));
            c->failed++;
            break;
        }
        c->done++;
        c->last_ok = i;
        if ((i & 63) == 0 && now_ns() > deadline)
            break;
    }
    c->t1 = now_ns();
}

static void *commit_main(void *arg)
{
    struct committer *c = arg;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, topic, c->partition);
    tp->offset = 0;
    /* first commit (coordinator lookup) outside the clock */
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, l, 0);
    if (e)
        snprintf(c->err, sizeof c->err, "%s", rd_kafka_err2name(e));
    pthread_barrier_wait(&bar);
    c->t0 = c->t1 = now_ns();
    int64_t deadline = c->t0 + (int64_t)(commit_secs * 1e9);
    if (!c->err[0]) {
        if (commit_async)
            commit_run_async(c, l, deadline);
        else
            commit_run_sync(c, l, deadline);
    }
    /* what the group coordinator now answers for the partition */
    if (!c->err[0]) {
        tp->offset = RD_KAFKA_OFFSET_INVALID;
        e = rd_kafka_committed(c->rk, l, 30000);
        if (e || tp->err)
            snprintf(c->err, sizeof c->err, "OffsetFetch: %s", rd_kafka_err2name(e ? e : tp->err));
        else if (tp->offset != c->last_ok)
            snprintf(c->err, sizeof c->err, "committed offset %lld, expected %lld", (long long)tp->offset,
                     (long long)c->last_ok);
    }
    rd_kafka_topic_partition_list_destroy(l);
    return NULL;
}

static int cmd_commit(void)
{
    int n = (int)arg_long("consumers", 1);
    long count = arg_long("count", 100000);
    commit_secs = arg_dbl("secs", 5);
    const char *mode = arg_str("mode", "sync");
    commit_async = !strcmp(mode, "async");
    if (!commit_async && strcmp(mode, "sync"))
        die("mode=sync|async");
    commit_inflight = (int)arg_long("inflight", 100);
    if (commit_inflight < 1)
        commit_inflight = 1;
    struct committer *cs = calloc((size_t)n, sizeof *cs);
    pthread_barrier_init(&bar, NULL, (unsigned)n + 1);
    int parts = 0;
    for (int i = 0; i < n; i++) {
        char group[64];
        snprintf(group, sizeof group, "bench-commit-%d-%d", (int)getpid(), i);
        cs[i].rk = group_consumer(group, NULL);
        if (!parts)
            parts = topic_partitions(cs[i].rk);
        cs[i].partition = i % parts;
        cs[i].count = count / n;
        pthread_create(&cs[i].th, NULL, commit_main, &cs[i]);
    }
    pthread_barrier_wait(&bar);
    long total = 0, failed = 0;
    int64_t t0 = INT64_MAX, t1 = 0;
    const char *err = NULL;
    for (int i = 0; i < n; i++) {
        pthread_join(cs[i].th, NULL);
        total += cs[i].done;
        failed += cs[i].failed;
        if (cs[i].err[0] && !err)
            err = cs[i].err;
        if (cs[i].t0 < t0)
            t0 = cs[i].t0;
        if (cs[i].t1 > t1)
            t1 = cs[i].t1;
    }
    for (int i = 0; i < n; i++)
        rd_kafka_destroy(cs[i].rk);
    if (err)
        die("commit: %s (%ld ok, %ld failed)", err, total, failed);
    double secs = (double)(t1 - t0) / 1e9;
    printf("{\"what\":\"commit\",\"mode\":\"%s\",\"inflight\":%d,\"consumers\":%d,\"commits\":%ld,"
           "\"secs\":%.3f,\"cps\":%.1f}\n",
           mode, commit_async ? commit_inflight : 1, n, total, secs, total / secs);
    free(cs);
    return 0;
}

/* ------------------------------------------------- groups (for RSS figures) */

/* Creates groups= groups, each with one committed offset (AlterConsumerGroupOffsets). */
static int cmd_groups(void)
{
    long n = arg_long("groups", 1000);
    rd_kafka_t *rk = mk(RD_KAFKA_PRODUCER, mkconf());
    int parts = topic_partitions(rk);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    char err[256];
    int64_t t0 = now_ns();
    long ok = 0;
    for (long i = 0; i < n; i++) {
        char group[64];
        snprintf(group, sizeof group, "bench-idle-%ld", i);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, (int32_t)(i % parts))->offset = 1;
        rd_kafka_AlterConsumerGroupOffsets_t *a = rd_kafka_AlterConsumerGroupOffsets_new(group, l);
        rd_kafka_AdminOptions_t *o =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
        rd_kafka_AdminOptions_set_request_timeout(o, 10000, err, sizeof err);
        rd_kafka_AlterConsumerGroupOffsets(rk, &a, 1, o, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
        if (ev && !rd_kafka_event_error(ev))
            ok++;
        else if (i == 0)
            die("AlterConsumerGroupOffsets: %s",
                ev ? rd_kafka_event_error_string(ev) : "timed out");
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_AlterConsumerGroupOffsets_destroy(a);
        rd_kafka_topic_partition_list_destroy(l);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    printf("{\"what\":\"groups\",\"groups\":%ld,\"secs\":%.3f}\n", ok,
           (double)(now_ns() - t0) / 1e9);
    return 0;
}

/* --------------------------------------------------- consume-transform-produce */

static int cmd_ctp(void)
{
    long count = arg_long("count", 100000);
    double maxs = arg_dbl("secs", 10);
    const char *out = arg_str("out", "ctp-out");
    int64_t commit_ns = (int64_t)arg_long("commit_ms", 100) * 1000000;
    char tid[64];
    snprintf(tid, sizeof tid, "kbench-ctp-%d", (int)getpid());

    rd_kafka_conf_t *cc = mkconf();
    cset(cc, "group.id", arg_str("group", "kbench-ctp"));
    cset(cc, "isolation.level", "read_committed");
    cset(cc, "enable.auto.commit", "false");
    cset(cc, "auto.offset.reset", "earliest");
    cset(cc, "fetch.wait.max.ms", "100");
    cset(cc, "fetch.message.max.bytes", "1048576");
    cset(cc, "queued.min.messages", "100000");
    rd_kafka_t *c = mk(RD_KAFKA_CONSUMER, cc);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_conf_t *pc = mkconf();
    cset(pc, "transactional.id", tid);
    cset(pc, "linger.ms", "5");
    cset(pc, "batch.num.messages", "10000");
    cset(pc, "queue.buffering.max.messages", "1000000");
    cset(pc, "queue.buffering.max.kbytes", "1048576");
    rd_kafka_t *p = mk(RD_KAFKA_PRODUCER, pc);
    txn_check(rd_kafka_init_transactions(p, 60000), "init_transactions");
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e)
        die("subscribe: %s", rd_kafka_err2str(e));
    txn_check(rd_kafka_begin_transaction(p), "begin_transaction");
    long committed = 0, in_txn = 0, txns = 0;
    int64_t t_open = now_ns(), t0 = 0, deadline = t_open + (int64_t)(maxs * 1e9), next = 0;
    double cpu0 = cpu_secs();
    while (committed < count && now_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 50);
        if (m) {
            if (!m->err) {
                if (!t0) {
                    t0 = now_ns();
                    next = t0 + commit_ns;
                }
                for (;;) {
                    e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(out), RD_KAFKA_V_PARTITION(m->partition),
                                          RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_KEY(m->key, m->key_len),
                                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                    rd_kafka_poll(p, 1);
                }
                if (e)
                    die("produce: %s", rd_kafka_err2str(e));
                in_txn++;
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_poll(p, 0);
        if (t0 && in_txn && (now_ns() >= next || committed + in_txn >= count)) {
            rd_kafka_topic_partition_list_t *pos;
            if ((e = rd_kafka_assignment(c, &pos)))
                die("assignment: %s", rd_kafka_err2str(e));
            rd_kafka_position(c, pos);
            rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(c);
            txn_check(rd_kafka_send_offsets_to_transaction(p, pos, gm, 60000), "send_offsets_to_transaction");
            rd_kafka_consumer_group_metadata_destroy(gm);
            rd_kafka_topic_partition_list_destroy(pos);
            txn_check(rd_kafka_commit_transaction(p, 60000), "commit_transaction");
            committed += in_txn;
            in_txn = 0;
            txns++;
            txn_check(rd_kafka_begin_transaction(p), "begin_transaction");
            next = now_ns() + commit_ns;
        }
    }
    int64_t t1 = now_ns();
    double cpu = cpu_secs() - cpu0;
    rd_kafka_abort_transaction(p, 30000);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    rd_kafka_destroy(p);
    if (committed == 0)
        die("no transaction committed");
    double secs = (double)(t1 - t0) / 1e9;
    printf("{\"what\":\"ctp\",\"records\":%ld,\"txns\":%ld,\"secs\":%.3f,\"first_ms\":%.1f,\"rps\":%.1f,"
           "\"cpu_s\":%.3f}\n",
           committed, txns, secs, (double)(t0 - t_open) / 1e6, committed / secs, cpu);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: kbench create|delete|produce|consume|fetchraw|produceraw|latency|subscribe|rebalance|commit|groups|ctp key=value...");
    bench_args(argc - 2, argv + 2);
    bootstrap = arg_str("bootstrap", "127.0.0.1:9092");
    topic = arg_str("topic", "bench");
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "delete"))
        return cmd_delete();
    if (!strcmp(cmd, "create"))
        return cmd_create();
    if (!strcmp(cmd, "produce"))
        return cmd_produce();
    if (!strcmp(cmd, "consume"))
        return cmd_consume();
    if (!strcmp(cmd, "fetchraw"))
        return cmd_fetchraw();
    if (!strcmp(cmd, "produceraw"))
        return cmd_produceraw();
    if (!strcmp(cmd, "latency"))
        return cmd_latency();
    if (!strcmp(cmd, "subscribe"))
        return cmd_subscribe();
    if (!strcmp(cmd, "rebalance"))
        return cmd_rebalance();
    if (!strcmp(cmd, "commit"))
        return cmd_commit();
    if (!strcmp(cmd, "groups"))
        return cmd_groups();
    if (!strcmp(cmd, "ctp"))
        return cmd_ctp();
    die("unknown command %s", cmd);
    return 2;
}
