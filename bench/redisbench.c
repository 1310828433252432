/*
 * redisbench - the Redis Streams client of the benchmark harness, on hiredis.
 * It runs the workloads of kbench that Streams can express, with pipelining in
 * place of the Kafka client's batching:
 *
 *   redisbench xadd    port= key= size= count= secs= clients= pipeline=
 *   redisbench xread   port= key= count= secs= batch=
 *   redisbench latency port= key= mode=pingpong|rate [rate=] count= secs= size=
 *
 * xadd keeps `pipeline` XADDs in flight per connection (clients are threads,
 * each with its own connection).  xread reads with XREADGROUP COUNT batch and
 * acknowledges each batch with one XACK, pipelined with the next read.
 * latency: a consumer thread blocks in XREADGROUP; the producer XADDs records
 * stamped as in bench.h (one at a time, or paced at rate=/s).
 * Prints one JSON line like kbench.  Loops stop at count or secs=.
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "bench.h"

static int port;
static const char *key;

static redisContext *conn(void)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err)
        die("redis connect 127.0.0.1:%d: %s", port, c ? c->errstr : "alloc");
    return c;
}

static redisReply *cmd_ok(redisContext *c, redisReply *r, const char *what)
{
    if (!r)
        die("%s: %s", what, c->errstr);
    if (r->type == REDIS_REPLY_ERROR)
        die("%s: %s", what, r->str);
    return r;
}

/* -------------------------------------------------------------------- xadd */

struct client {
    pthread_t th;
    long count, done;
    int64_t t0, t1;
};

static pthread_barrier_t bar;
static int g_size, g_pipe;
static double g_secs;

static void *xadd_main(void *arg)
{
    struct client *cl = arg;
    redisContext *c = conn();
    char *buf = malloc((size_t)g_size);
    memset(buf, 'x', (size_t)g_size);
    pthread_barrier_wait(&bar);
    cl->t0 = now_ns();
    int64_t deadline = cl->t0 + (int64_t)(g_secs * 1e9);
    while (cl->done < cl->count && now_ns() < deadline) {
        long n = cl->count - cl->done < g_pipe ? cl->count - cl->done : g_pipe;
        for (long i = 0; i < n; i++)
            redisAppendCommand(c, "XADD %s * d %b", key, buf, (size_t)g_size);
        for (long i = 0; i < n; i++) {
            redisReply *r;
            if (redisGetReply(c, (void **)&r) != REDIS_OK)
                die("XADD: %s", c->errstr);
            cmd_ok(c, r, "XADD");
            freeReplyObject(r);
        }
        cl->done += n;
    }
    cl->t1 = now_ns();
    free(buf);
    redisFree(c);
    return NULL;
}

static int cmd_xadd(void)
{
    int n = (int)arg_long("clients", 1);
    long count = arg_long("count", 100000);
    g_size = (int)arg_long("size", 100);
    g_pipe = (int)arg_long("pipeline", 1000);
    g_secs = arg_dbl("secs", 5);
    struct client *cs = calloc((size_t)n, sizeof *cs);
    pthread_barrier_init(&bar, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        cs[i].count = count / n;
        pthread_create(&cs[i].th, NULL, xadd_main, &cs[i]);
    }
    pthread_barrier_wait(&bar);
    double cpu0 = cpu_secs();
    for (int i = 0; i < n; i++)
        pthread_join(cs[i].th, NULL);
    double cpu = cpu_secs() - cpu0;
    long total = 0;
    int64_t t0 = INT64_MAX, t1 = 0;
    for (int i = 0; i < n; i++) {
        total += cs[i].done;
        t0 = cs[i].t0 < t0 ? cs[i].t0 : t0;
        t1 = cs[i].t1 > t1 ? cs[i].t1 : t1;
    }
    double secs = (double)(t1 - t0) / 1e9;
    printf("{\"what\":\"xadd\",\"records\":%ld,\"secs\":%.3f,\"rps\":%.1f,\"mbps\":%.2f,"
           "\"us_per_record\":%.3f,\"cpu_s\":%.3f}\n",
           total, secs, total / secs, total * (double)g_size / secs / 1e6, secs * 1e6 / total, cpu);
    free(cs);
    return 0;
}

/* ------------------------------------------------------------------- xread */

static void group_create(redisContext *c, const char *group, const char *from)
{
    redisReply *r = redisCommand(c, "XGROUP CREATE %s %s %s MKSTREAM", key, group, from);
    if (!r)
        die("XGROUP: %s", c->errstr);
    if (r->type == REDIS_REPLY_ERROR && !strstr(r->str, "BUSYGROUP"))
        die("XGROUP: %s", r->str);
    freeReplyObject(r);
}

/* Entries of an XREADGROUP reply for one stream, or NULL. */
static redisReply *entries_of(redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1)
        return NULL;
    redisReply *s = r->element[0];
    if (s->type != REDIS_REPLY_ARRAY || s->elements < 2)
        return NULL;
    return s->element[1];
}

/* Appends XACK for every entry of e (no-op when empty); returns 1 if sent. */
static int append_xack(redisContext *c, redisReply *e, const char *group)
{
    if (!e || e->elements == 0)
        return 0;
    size_t n = e->elements + 3;
    const char **av = malloc(n * sizeof *av);
    size_t *al = malloc(n * sizeof *al);
    av[0] = "XACK";
    av[1] = key;
    av[2] = group;
    for (size_t i = 0; i < e->elements; i++)
        av[i + 3] = e->element[i]->element[0]->str;
    for (size_t i = 0; i < n; i++)
        al[i] = strlen(av[i]);
    redisAppendCommandArgv(c, (int)n, av, al);
    free(av);
    free(al);
    return 1;
}

static int cmd_xread(void)
{
    long count = arg_long("count", 100000);
    long batch = arg_long("batch", 1000);
    double maxs = arg_dbl("secs", 10);
    char group[64];
    snprintf(group, sizeof group, "g%d-%ld", (int)getpid(), (long)(now_ns() % 1000000));
    redisContext *c = conn();
    group_create(c, group, "0");
    long got = 0;
    double bytes = 0;
    int64_t t0 = now_ns(), deadline = t0 + (int64_t)(maxs * 1e9);
    int acks_pending = 0;
    while (got < count && now_ns() < deadline) {
        redisAppendCommand(c, "XREADGROUP GROUP %s c1 COUNT %ld STREAMS %s >", group, batch, key);
        redisReply *r;
        for (; acks_pending > 0; acks_pending--) {
            if (redisGetReply(c, (void **)&r) != REDIS_OK)
                die("XACK: %s", c->errstr);
            freeReplyObject(cmd_ok(c, r, "XACK"));
        }
        if (redisGetReply(c, (void **)&r) != REDIS_OK)
            die("XREADGROUP: %s", c->errstr);
        cmd_ok(c, r, "XREADGROUP");
        redisReply *e = entries_of(r);
        if (!e || e->elements == 0) {
            freeReplyObject(r);
            break; /* stream drained */
        }
        for (size_t i = 0; i < e->elements; i++) {
            redisReply *fv = e->element[i]->element[1];
            if (fv->elements >= 2)
                bytes += (double)fv->element[1]->len;
        }
        got += (long)e->elements;
        acks_pending = append_xack(c, e, group);
        freeReplyObject(r);
    }
    for (; acks_pending > 0; acks_pending--) {
        redisReply *r;
        if (redisGetReply(c, (void **)&r) == REDIS_OK)
            freeReplyObject(r);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    redisFree(c);
    if (got == 0)
        die("no entry read");
    printf("{\"what\":\"xread\",\"records\":%ld,\"secs\":%.3f,\"rps\":%.1f,\"mbps\":%.2f}\n", got,
           secs, got / secs, bytes / secs / 1e6);
    return 0;
}

/* ----------------------------------------------------------------- latency */

struct lat {
    int64_t *v;
    long cap;
    atomic_long nv;
    atomic_long last_seq;
    atomic_int stop;
    char group[64];
    pthread_mutex_t mu; /* with cv: wakes the pingpong producer */
    pthread_cond_t cv;
};

static void *lat_consumer(void *arg)
{
    struct lat *l = arg;
    redisContext *c = conn();
    while (!l->stop) {
        redisReply *r = redisCommand(c, "XREADGROUP GROUP %s c1 COUNT 1000 BLOCK 100 STREAMS %s >",
                                     l->group, key);
        int64_t rt = now_ns();
        cmd_ok(c, r, "XREADGROUP");
        redisReply *e = entries_of(r);
        for (size_t i = 0; e && i < e->elements; i++) {
            redisReply *fv = e->element[i]->element[1];
            if (fv->elements < 2 || fv->element[1]->len < 16)
                continue;
            int64_t ts, seq;
            unstamp(fv->element[1]->str, &ts, &seq);
            if (seq >= 0 && l->nv < l->cap)
                l->v[l->nv++] = rt - ts;
            pthread_mutex_lock(&l->mu);
            l->last_seq = seq;
            pthread_cond_signal(&l->cv);
            pthread_mutex_unlock(&l->mu);
        }
        if (append_xack(c, e, l->group)) {
            redisReply *a;
            if (redisGetReply(c, (void **)&a) == REDIS_OK)
                freeReplyObject(a);
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

static int cmd_latency(void)
{
    const char *mode = arg_str("mode", "pingpong");
    long count = arg_long("count", 10000);
    double rate = arg_dbl("rate", 10000), maxs = arg_dbl("secs", 5);
    int size = (int)arg_long("size", 100);
    if (size < 16)
        size = 16;
    struct lat l = {.cap = count, .last_seq = -2};
    pthread_mutex_init(&l.mu, NULL);
    pthread_cond_init(&l.cv, NULL);
    l.v = calloc((size_t)count + 1, sizeof *l.v);
    snprintf(l.group, sizeof l.group, "lat%d-%ld", (int)getpid(), (long)(now_ns() % 1000000));
    redisContext *c = conn();
    group_create(c, l.group, "$");
    pthread_t th;
    pthread_create(&th, NULL, lat_consumer, &l);
    char *buf = malloc((size_t)size);
    memset(buf, 'x', (size_t)size);
    /* warm up: the consumer is blocked once it has seen a record */
    int64_t wend = now_ns() + 10000000000LL;
    while (l.last_seq != -1 && now_ns() < wend) {
        stamp(buf, now_ns(), -1);
        freeReplyObject(cmd_ok(c, redisCommand(c, "XADD %s * d %b", key, buf, (size_t)size), "XADD"));
        usleep(20000);
    }
    if (l.last_seq != -1)
        die("latency: consumer saw nothing");
    usleep(20000);
    long sent = 0;
    int64_t t0 = now_ns(), deadline = t0 + (int64_t)(maxs * 1e9);
    if (strcmp(mode, "pingpong") == 0) {
        for (long i = 0; i < count && now_ns() < deadline; i++) {
            stamp(buf, now_ns(), i);
            freeReplyObject(
                cmd_ok(c, redisCommand(c, "XADD %s * d %b", key, buf, (size_t)size), "XADD"));
            sent++;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 2;
            pthread_mutex_lock(&l.mu);
            while (l.last_seq != i)
                if (pthread_cond_timedwait(&l.cv, &l.mu, &ts) != 0)
                    break;
            pthread_mutex_unlock(&l.mu);
            if (l.last_seq != i)
                break;
        }
    } else {
        int64_t period = (int64_t)(1e9 / rate), t = now_ns();
        for (long i = 0; i < count && now_ns() < deadline; i++) {
            t += period;
            if (t > now_ns())
                sleep_until_ns(t);
            stamp(buf, now_ns(), i);
            freeReplyObject(
                cmd_ok(c, redisCommand(c, "XADD %s * d %b", key, buf, (size_t)size), "XADD"));
            sent++;
        }
        int64_t wait_end = now_ns() + 2000000000LL;
        while (l.nv < sent && now_ns() < wait_end)
            usleep(1000);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    l.stop = 1;
    pthread_join(th, NULL);
    redisFree(c);
    if (l.nv == 0)
        die("latency: no sample");
    print_latency(mode, l.v, (size_t)l.nv, sent, secs);
    free(l.v);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: redisbench xadd|xread|latency key=value...");
    bench_args(argc - 2, argv + 2);
    port = (int)arg_long("port", 6379);
    key = arg_str("key", "bench");
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(argv[1], "xadd"))
        return cmd_xadd();
    if (!strcmp(argv[1], "xread"))
        return cmd_xread();
    if (!strcmp(argv[1], "latency"))
        return cmd_latency();
    die("unknown command %s", argv[1]);
    return 2;
}
