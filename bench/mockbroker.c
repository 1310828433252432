/*
 * mockbroker - librdkafka's in-process mock cluster as a standalone server,
 * the in-memory reference peer of the benchmarks.
 *
 *   mockbroker [brokers=1] topic:partitions...
 *
 * The mock cluster does not serve CreateTopics, so the topics a run needs are
 * created here at startup.  Prints "bootstrap=<host:port>" on stdout once it
 * accepts, then runs until SIGTERM/SIGINT (or at most 3600 s).
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <unistd.h>

#include "bench.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    bench_args(argc - 1, argv + 1);
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk)
        die("rd_kafka_new: %s", err);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, (int)arg_long("brokers", 1));
    if (!mc)
        die("rd_kafka_mock_cluster_new failed");
    for (int i = 1; i < argc; i++) {
        char *colon = strrchr(argv[i], ':');
        if (!colon || strchr(argv[i], '='))
            continue;
        *colon = '\0';
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, argv[i], atoi(colon + 1), 1);
        if (e)
            die("topic %s: %s", argv[i], rd_kafka_err2str(e));
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("bootstrap=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    for (int i = 0; i < 36000 && !stop; i++)
        usleep(100000);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
