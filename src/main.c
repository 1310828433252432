/*
 * main.c - gregord entry point.
 *
 *   gregord [server.properties] [--override key=value]...
 *
 * Startup: configuration (file, then overrides; unknown keys and bad values
 * stop startup with one line naming the key), log dirs and meta.properties
 * (cluster id), the clean-shutdown marker, topic logs (recovery), then the
 * listener.  SIGTERM/SIGINT: stop accepting, let in-flight requests finish
 * (bounded), flush every log (one syncfs per log dir with many dirty
 * partitions, topic.c), write checkpoints and, in each log dir whose logs
 * all became durable, the marker; exit 0.
 *
 * Descriptors (descriptor_budget): RLIMIT_NOFILE minus a reserve of
 * FD_RESERVE (+1 per log dir) for the loop, the listener, log dir handles
 * and the files opened for a moment (index files, checkpoints, syncs by
 * name, the cleaner) is split between segment files (the descriptor cache,
 * log.open.files.max, by default a quarter) and client connections (the
 * rest, or max.connections when lower).  Neither can take the other's
 * share, so a flood of connections cannot stop appends and many segments
 * cannot stop the listener.
 *
 * Each log dir holds Kafka's files:
 *   meta.properties                    version=1, cluster.id, node.id
 *   .kafka_cleanshutdown               present only after a clean shutdown
 *   recovery-point-offset-checkpoint   see log.h
 *   log-start-offset-checkpoint        see log.h
 * and the first one also the latest block of producer ids
 * (producer-id-block, producer_ids.c).
 */
#include "broker.h"
#include "fetch_session.h"
#include "checkpoint.h"
#include "cleaner.h"
#include "coord.h"
#include "txn.h"
#include "txn_markers.h"
#include "fcache.h"
#include "fio.h"
#include "http.h"
#include "lag.h"
#include "kerr.h"
#include "net.h"
#include "producer_ids.h"
#include "pstate.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLEAN_MARKER ".kafka_cleanshutdown"
#define FD_RESERVE 64
#define FD_MIN_FILES 8               /* the cache's own minimum */
#define FD_MIN_CONNS 16

static void usage(void)
{
    fprintf(stderr, "USAGE: gregord [server.properties] [--override property=value]*\n"
                    "       gregord --print-config-docs\n");
}

static int split_log_dirs(void)
{
    char *s = gr_strdup(gr_broker.cfg.log_dirs), *save = NULL;
    for (char *d = strtok_r(s, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
        while (*d == ' ')
            d++;
        if (!*d)
            continue;
        gr_broker.log_dirs = gr_realloc(gr_broker.log_dirs, sizeof(char *) * (size_t)(gr_broker.nlog_dirs + 1));
        gr_broker.log_dirs[gr_broker.nlog_dirs++] = gr_strdup(d);
    }
    free(s);
    return gr_broker.nlog_dirs > 0 ? 0 : GR_EINVAL;
}

/* meta.properties: reuse the cluster id found in any dir, else create. */
static int init_log_dirs(void)
{
    char path[PATH_MAX];
    char found[64] = "";
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        int rc = gr_mkdir_p(gr_broker.log_dirs[d]);
        if (rc < 0) {
            gr_error("broker", "Cannot create log dir %s: %s", gr_broker.log_dirs[d], strerror(-rc));
            return rc;
        }
        snprintf(path, sizeof(path), "%s/meta.properties", gr_broker.log_dirs[d]);
        char *buf;
        if (gr_file_read_all(path, &buf, NULL) == 0) {
            char *p = strstr(buf, "cluster.id=");
            if (p && !found[0])
                sscanf(p + 11, "%63[^\n]", found);
            /* like Kafka: a log dir belongs to one node id */
            p = strstr(buf, "node.id=");
            if (!p)
                p = strstr(buf, "broker.id=");
            if (p) {
                long stored = strtol(strchr(p, '=') + 1, NULL, 10);
                if (stored != gr_broker.cfg.node_id) {
                    gr_error("broker", "Stored node id %ld in %s doesn't match configured node.id %d", stored, path,
                             gr_broker.cfg.node_id);
                    free(buf);
                    return GR_EINVAL;
                }
            }
            free(buf);
        }
    }
    if (!found[0]) {
        gr_uuid_t u;
        gr_uuid_random(&u);
        gr_uuid_to_base64(&u, found);
    }
    snprintf(gr_broker.cluster_id, sizeof(gr_broker.cluster_id), "%s", found);
    gr_broker.clean_shutdown_found = true;
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        char meta[256];
        int n = snprintf(meta, sizeof(meta), "#\nversion=1\ncluster.id=%s\nnode.id=%d\n", gr_broker.cluster_id,
                         gr_broker.cfg.node_id);
        snprintf(path, sizeof(path), "%s/meta.properties", gr_broker.log_dirs[d]);
        gr_file_write_atomic(path, meta, (size_t)n);
        /* a log dir with data but no marker was not shut down cleanly */
        snprintf(path, sizeof(path), "%s/" CLEAN_MARKER, gr_broker.log_dirs[d]);
        struct stat st;
        if (stat(path, &st) == 0) {
            /* durably gone before anything is appended: a marker that a
             * power cut brings back would skip the recovery of this run */
            int rc = gr_fio_unlink(path) == -1 ? -errno : gr_fsync_dir(gr_broker.log_dirs[d]);
            if (rc < 0)
                gr_warn("broker", "Cannot remove %s durably: %s; the next checkpoint write syncs %s", path,
                        strerror(-rc), gr_broker.log_dirs[d]);
        } else {
            char rp[PATH_MAX];
            snprintf(rp, sizeof(rp), "%s/recovery-point-offset-checkpoint", gr_broker.log_dirs[d]);
            char tp[PATH_MAX];
            snprintf(tp, sizeof(tp), "%s/.topics", gr_broker.log_dirs[d]);
            if (stat(rp, &st) == 0 || stat(tp, &st) == 0)
                gr_broker.clean_shutdown_found = false;
        }
    }
    if (!gr_broker.clean_shutdown_found)
        gr_warn("broker", "No clean shutdown marker: recovering logs from their recovery points");
    return 0;
}

/* Only in the dirs whose logs were all made durable (gr_topics_close). */
static void write_clean_markers(const bool *clean)
{
    char path[PATH_MAX];
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        if (!clean[d]) {
            gr_error("broker", "Not writing the clean shutdown marker in %s: syncing its logs failed; the next "
                     "start recovers them", gr_broker.log_dirs[d]);
            continue;
        }
        snprintf(path, sizeof(path), "%s/" CLEAN_MARKER, gr_broker.log_dirs[d]);
        gr_file_write_atomic(path, "", 0);
    }
}

/* The housekeeping tick.  Retention (and rolling by segment.ms) runs every
 * log.retention.check.interval.ms, the first time after Kafka's initial
 * task delay (log.initial.task.delay.ms, 30 s) or the interval if shorter;
 * the checkpoints at least every 60 s (Kafka's
 * log.flush.offset.checkpoint.interval.ms); flush-by-time as often as
 * log.flush.interval.ms asks (at most every 10 ms). */
#define INITIAL_TASK_DELAY_MS 30000
#define CHECKPOINT_INTERVAL_MS 60000

static int64_t next_retention_ms;

static int64_t housekeep_delay(int64_t now)
{
    int64_t d = GR_MIN(GR_MAX(next_retention_ms - now, 0), CHECKPOINT_INTERVAL_MS);
    if (gr_broker.cfg.log_flush_interval_ms != GR_CFG_UNSET)
        d = GR_MIN(d, GR_MAX(gr_broker.cfg.log_flush_interval_ms, 10));
    return GR_MAX(d, 1);
}

static void housekeep_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(arg);
    int64_t now = gr_now_ms();
    bool retention = now >= next_retention_ms;
    if (retention) {
        int64_t iv = gr_broker.cfg.log_retention_check_interval_ms;     /* 1..INT64_MAX */
        next_retention_ms = iv > INT64_MAX - now ? INT64_MAX : now + iv;
    }
    gr_topics_housekeep(now, retention);
    gr_timer_start(ev, &gr_broker.housekeep, housekeep_delay(now));
}

/* Flush by time and the retries of failed fsyncs and reads have their own
 * tick: a topic's flush.ms may be far shorter than the housekeeping
 * interval (log.retention.check.interval.ms, 5 min by default), and a
 * partition whose storage failed should serve again soon after the device
 * recovers.  It runs when the earliest log is due, and at least every
 * second so that a topic created or altered meanwhile is picked up. */
static gr_timer_t flush_timer;

static void flush_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(arg);
    int64_t now = gr_now_ms(), next = 1000;
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        for (int32_t i = 0; i < t->npart; i++)
            next = GR_MIN(next, gr_log_maintain(t->parts[i]->log, now));
    gr_timer_start(ev, &flush_timer, GR_MAX(next, 10));
}

/* The log cleaner runs on its own tick so log.cleaner.backoff.ms is honoured
 * independently of the (usually much coarser) retention check. */
static gr_timer_t cleaner_timer;

static void cleaner_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(arg);
    gr_cleaner_tick(gr_now_ms());
    gr_timer_start(ev, &cleaner_timer, GR_MAX(gr_broker.cfg.log_cleaner_backoff_ms, 50));
}

/* Producers idle for producer.id.expiration.ms are forgotten, checked
 * every producer.id.expiration.check.interval.ms (Kafka's
 * PeriodicProducerExpirationCheck, the first one after an interval). */
static gr_timer_t producer_expiry_timer;

static void producer_expiry_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(arg);
    size_t n = gr_topics_expire_producers(gr_now_ms());
    if (n)
        gr_info("broker", "Expired %zu producer ids (producer.id.expiration.ms=%d)", n,
                gr_broker.cfg.producer_id_expiration_ms);
    gr_timer_start(ev, &producer_expiry_timer, gr_broker.cfg.producer_id_expiration_check_interval_ms);
}

/* Split RLIMIT_NOFILE between segment files and connections (see the
 * header).  Returns 0, or GR_EINVAL (logged) when the limit leaves too
 * little for both. */
static int descriptor_budget(int *files, int *conns)
{
    struct rlimit rl;
    int64_t nofile = INT32_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)INT32_MAX)
        nofile = (int64_t)rl.rlim_cur;
    int64_t reserve = FD_RESERVE + gr_broker.nlog_dirs;
    int64_t avail = nofile - reserve;
    if (avail < FD_MIN_FILES + FD_MIN_CONNS) {
        gr_error("broker", "RLIMIT_NOFILE is %lld: too low, gregord needs at least %lld descriptors",
                 (long long)nofile, (long long)(reserve + FD_MIN_FILES + FD_MIN_CONNS));
        return GR_EINVAL;
    }
    int64_t f = gr_broker.cfg.log_open_files_max >= 0 ? gr_broker.cfg.log_open_files_max : avail / 4;
    if (f > avail - FD_MIN_CONNS) {
        gr_warn("broker", "log.open.files.max=%lld leaves no descriptors for connections under RLIMIT_NOFILE %lld; "
                "using %lld", (long long)f, (long long)nofile, (long long)(avail - FD_MIN_CONNS));
        f = avail - FD_MIN_CONNS;
    }
    f = GR_MAX(f, FD_MIN_FILES);
    *files = (int)f;
    *conns = (int)GR_MIN(avail - f, (int64_t)gr_broker.cfg.max_connections);
    gr_info("broker", "Descriptors: RLIMIT_NOFILE %lld; up to %d segment files open (log.open.files.max), up to "
            "%d client connections (max.connections), %lld in reserve", (long long)nofile, *files, *conns,
            (long long)reserve);
    return 0;
}

static void on_signal(int sig)
{
    GR_UNUSED(sig);
    if (gr_broker.ev)
        gr_ev_stop(gr_broker.ev);
}

int main(int argc, char **argv)
{
    char err[512];
    int rc;
    gr_config_init(&gr_broker.cfg);
    int i = 1;
    if (argc > 1 && !strcmp(argv[1], "--print-config-docs")) {
        gr_config_print_docs(stdout);
        return 0;
    }
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage();
        return 0;
    }
    if (argc > 1 && strncmp(argv[1], "--", 2)) {
        if (gr_config_load_file(&gr_broker.cfg, argv[1], err, sizeof(err)) < 0) {
            fprintf(stderr, "gregord: %s\n", err);
            return 1;
        }
        i = 2;
    }
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--override") || i + 1 >= argc) {
            usage();
            return 1;
        }
        char *kv = argv[++i], *eq = strchr(kv, '=');
        if (!eq) {
            fprintf(stderr, "gregord: --override expects property=value, got %s\n", kv);
            return 1;
        }
        *eq = '\0';
        rc = gr_config_set(&gr_broker.cfg, kv, eq + 1, err, sizeof(err));
        *eq = '=';
        if (rc < 0) {
            fprintf(stderr, "gregord: %s\n", err);
            return 1;
        }
    }
    if (gr_parse_listener(gr_broker.cfg.listeners, gr_broker.host, sizeof(gr_broker.host), &gr_broker.port) < 0) {
        fprintf(stderr, "gregord: Invalid value %s for configuration listeners: expected PLAINTEXT://host:port\n",
                gr_broker.cfg.listeners);
        return 1;
    }
    const char *adv = gr_broker.cfg.advertised_listeners[0] ? gr_broker.cfg.advertised_listeners
                                                             : gr_broker.cfg.listeners;
    if (gr_parse_listener(adv, gr_broker.adv_host, sizeof(gr_broker.adv_host), &gr_broker.adv_port) < 0) {
        fprintf(stderr, "gregord: Invalid value %s for configuration advertised.listeners: expected "
                        "PLAINTEXT://host:port\n", adv);
        return 1;
    }
    if (!gr_broker.adv_host[0] || !strcmp(gr_broker.adv_host, "0.0.0.0"))
        snprintf(gr_broker.adv_host, sizeof(gr_broker.adv_host), "127.0.0.1");
    /* Kafka's rule; the default budget grows with socket.request.max.bytes
     * instead of refusing to start */
    if (gr_broker.cfg.queued_max_request_bytes > 0 &&
        gr_broker.cfg.queued_max_request_bytes < gr_broker.cfg.socket_request_max_bytes) {
        if (gr_broker.cfg.queued_max_request_bytes != GR_QUEUED_MAX_REQUEST_BYTES_DEFAULT) {
            fprintf(stderr, "gregord: queued.max.request.bytes must be larger or equal to socket.request.max.bytes\n");
            return 1;
        }
        gr_broker.cfg.queued_max_request_bytes = gr_broker.cfg.socket_request_max_bytes;
    }
    if (split_log_dirs() < 0) {
        fprintf(stderr, "gregord: Invalid value for configuration log.dirs: empty\n");
        return 1;
    }

    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    /* testing only: GREGOR_FAULTS arms storage faults / the power-loss
     * journal (fio.h); a pending simulated power cut is applied here,
     * before any log dir is read */
    if (gr_fio_init() < 0)
        return 1;
    int max_files, max_conns;
    if (descriptor_budget(&max_files, &max_conns) < 0)
        return 1;
    gr_fcache_set_max(max_files);
    gr_broker.ev = gr_ev_new();
    if (init_log_dirs() < 0)
        return 1;
    int64_t t0 = gr_mono_ms();
    gr_pstate_set_max_entries(gr_broker.cfg.producer_state_max_entries);
    if (gr_topics_load() < 0)
        gr_warn("broker", "Some topics could not be loaded");
    gr_info("broker", "Log recovery finished in %lld ms", (long long)(gr_mono_ms() - t0));
    if (gr_pstate_evictions() > 0)
        gr_warn("broker", "Forgot %lld idempotent producers' state at startup: more than producer.state.max.entries=%lld",
                (long long)gr_pstate_evictions(), (long long)gr_broker.cfg.producer_state_max_entries);
    /* producer ids: after the recorded block and every id in the state */
    int64_t max_pid = gr_topics_max_producer_id();
    int prc = gr_pids_init(gr_broker.log_dirs[0], gr_broker.cfg.node_id, max_pid < INT64_MAX ? max_pid + 1 : max_pid,
                           gr_broker.ev);
    if (prc < 0) {
        gr_error("broker", "Cannot record a block of producer ids in %s: %s", gr_broker.log_dirs[0], strerror(-prc));
        gr_topics_close(NULL);
        return 1;
    }
    /* __consumer_offsets: created if missing, replayed from loop timers
     * (group requests answer COORDINATOR_LOAD_IN_PROGRESS meanwhile); also
     * arms the offsets.retention.check.interval.ms expiry timer.  Before
     * the listener: coord's before-sleep hook (the group commit of offset
     * commits) must run before net.c's output flush. */
    if (gr_coord_start() < 0)
        gr_warn("broker", "The group coordinator is not available: %s is missing", GR_OFFSETS_TOPIC);
    /* __transaction_state, when a client ever asked for a transaction
     * coordinator (else made on the first ask); loaded as the offsets are,
     * transactions left between PrepareCommit/PrepareAbort and their end
     * are finished once their partition is loaded */
    if (gr_txn_start() < 0)
        gr_warn("broker", "The transaction coordinator is not available");

    gr_net_opts_t nopts = {
        .max_request_bytes = gr_broker.cfg.socket_request_max_bytes,
        .idle_ms = gr_broker.cfg.connections_max_idle_ms,
        .read_timeout_ms = gr_broker.cfg.request_timeout_ms,
        .max_conns = max_conns,
        .queued_max_bytes = gr_broker.cfg.queued_max_request_bytes == 0 ? -1 : gr_broker.cfg.queued_max_request_bytes,
        .queued_max_requests = gr_broker.cfg.queued_max_requests,
    };
    const char *bind_host = gr_broker.host[0] ? gr_broker.host : "0.0.0.0";
    if (gr_net_listen(gr_broker.ev, bind_host, gr_broker.port, &nopts) < 0) {
        gr_error("broker", "Cannot listen on %s:%d", bind_host, gr_broker.port);
        gr_topics_close(NULL);
        return 1;
    }
    gr_lag_configure(&(gr_lag_config_t){
        .intervals = gr_broker.cfg.lag_window_intervals,
        .min_distance_ms = gr_broker.cfg.lag_window_min_distance_ms,
        .recent_ms = gr_broker.cfg.lag_window_recent_ms,
        .expire_group_ms = gr_broker.cfg.lag_window_expire_group_ms,
        .max_partitions = gr_broker.cfg.lag_window_max_partitions,
    });
    gr_lag_start();
    if (gr_broker.cfg.http_listeners[0] && gr_http_start(gr_broker.ev, gr_broker.cfg.http_listeners) < 0) {
        gr_net_close_all();
        gr_topics_close(NULL);
        return 1;
    }
    gr_timer_init(&gr_broker.housekeep, housekeep_cb, NULL);
    int64_t now = gr_now_ms();
    next_retention_ms = now + GR_MIN(gr_broker.cfg.log_retention_check_interval_ms, INITIAL_TASK_DELAY_MS);
    gr_timer_start(gr_broker.ev, &gr_broker.housekeep, GR_MIN(housekeep_delay(now), 1000));
    gr_timer_init(&cleaner_timer, cleaner_cb, NULL);
    gr_timer_start(gr_broker.ev, &cleaner_timer, GR_MAX(gr_broker.cfg.log_cleaner_backoff_ms, 50));
    gr_timer_init(&flush_timer, flush_cb, NULL);
    gr_timer_start(gr_broker.ev, &flush_timer, 1000);
    gr_timer_init(&producer_expiry_timer, producer_expiry_cb, NULL);
    gr_timer_start(gr_broker.ev, &producer_expiry_timer, gr_broker.cfg.producer_id_expiration_check_interval_ms);
    gr_info("broker", "[KafkaServer id=%d] started (gregord, cluster id %s, listening on %s:%d, log dirs %s)",
            gr_broker.cfg.node_id, gr_broker.cluster_id, bind_host, gr_broker.port, gr_broker.cfg.log_dirs);

    gr_ev_run(gr_broker.ev);

    gr_info("broker", "[KafkaServer id=%d] shutting down", gr_broker.cfg.node_id);
    gr_net_stop_accepting();
    gr_http_stop();
    gr_lag_stop();
    gr_net_drain(gr_broker.ev, 5000);
    gr_net_close_all();
    gr_fsess_free_all();            /* before the partitions their waiters sit on */
    gr_timer_stop(gr_broker.ev, &gr_broker.housekeep);
    gr_timer_stop(gr_broker.ev, &cleaner_timer);
    gr_timer_stop(gr_broker.ev, &flush_timer);
    gr_timer_stop(gr_broker.ev, &producer_expiry_timer);
    gr_txn_stop();
    gr_coord_stop();
    gr_txn_markers_drain();
    bool *clean = gr_malloc((size_t)gr_broker.nlog_dirs * sizeof(*clean));
    gr_topics_close(clean);
    gr_txn_markers_drain();         /* markers whose flush the close completed */
    write_clean_markers(clean);
    free(clean);
    gr_pids_reset();
    gr_ev_free(gr_broker.ev);
    gr_info("broker", "[KafkaServer id=%d] shut down completed", gr_broker.cfg.node_id);
    for (int d = 0; d < gr_broker.nlog_dirs; d++)
        free(gr_broker.log_dirs[d]);
    free(gr_broker.log_dirs);
    gr_config_free(&gr_broker.cfg);
    return 0;
}
