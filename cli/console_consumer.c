/*
 * console_consumer.c - `gregor console-consumer`, the
 * kafka-console-consumer.sh of gregor: a librdkafka consumer that prints
 * records to stdout with Kafka's DefaultMessageFormatter layout:
 *
 *   [CreateTime:<ms>|LogAppendTime:<ms>|NO_TIMESTAMP] [Partition:<p>] [Offset:<o>]
 *   [h1:v1<hsep>h2:v2|NO_HEADERS] [key] [value]<line.separator>
 *
 * each field enabled by print.timestamp / print.partition / print.offset /
 * print.headers / print.key / print.value (only the value by default) and
 * separated by key.separator (TAB); null keys, values and header values
 * print as null.literal ("null").
 *
 * Consumption, as ConsoleConsumer does it:
 *   --topic t                  subscribe (group from --group, group.id in the
 *   --include regex            config, or a random console-consumer-<n> with
 *                              enable.auto.commit=false), auto.offset.reset
 *                              earliest with --from-beginning, else latest;
 *   --topic t --partition p    assign p at --offset (number, earliest,
 *                              latest; default latest, earliest with
 *                              --from-beginning); no group allowed.
 * --include is matched against the whole topic name (',' means '|', POSIX
 * extended syntax through librdkafka's regex subscription).
 *
 * gregor additions, so a script never hangs: the cluster must answer a
 * metadata request within --timeout-ms (default 10000) at startup, and a
 * --topic that does not exist is an error.  --timeout-ms ends the run when
 * no record arrived for that long, with Kafka's two log lines
 * (ERROR ... terminating consumer process / TimeoutException) and status 0.
 * "Processed a total of N messages" always ends stderr.
 */
#include "cli.h"

#include <ctype.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const cli_optdef_t defs[] = {
    {"bootstrap-server", true, false, "REQUIRED: The server(s) to connect to."},
    {"topic", true, false, "The topic to consume from."},
    {"include", true, false, "Regular expression specifying list of topics to include for consumption."},
    {"partition", true, false, "The partition to consume from. Consumption starts from the end of the "
                               "partition unless '--offset' is specified."},
    {"offset", true, false, "The offset to consume from (a non-negative number), or 'earliest' which means "
                            "from beginning, or 'latest' which means from end (default: latest)"},
    {"from-beginning", false, false, "If the consumer does not already have an established offset to consume "
                                     "from, start with the earliest message present in the log rather than "
                                     "the latest message."},
    {"group", true, false, "The consumer group id of the consumer."},
    {"max-messages", true, false, "The maximum number of messages to consume before exiting. If not set, "
                                  "consumption is continual."},
    {"timeout-ms", true, false, "If specified, exit if no message is available for consumption for the "
                                "specified interval."},
    {"skip-message-on-error", false, false, "If there is an error when processing a message, skip it instead "
                                            "of halt."},
    {"isolation-level", true, false, "Set to read_committed in order to filter out transactional messages "
                                     "which are not committed. Set to read_uncommitted to read all messages. "
                                     "(default: read_uncommitted)"},
    {"formatter", true, false, "Only the default formatter (kafka.tools.DefaultMessageFormatter) is "
                               "available."},
    {"property", true, false, "Formatter property: print.timestamp, print.key, print.offset, "
                              "print.partition, print.headers, print.value (true|false), key.separator, "
                              "line.separator, headers.separator, null.literal."},
    {"formatter-property", true, false, "Same as --property."},
    {"formatter-config", true, false, "Config properties file to initialize the message formatter."},
    {"consumer-property", true, false, "Consumer config property key=value (librdkafka names)."},
    {"command-property", true, false, "Same as --consumer-property."},
    {"consumer.config", true, false, "Consumer config properties file."},
    {"command-config", true, false, "Same as --consumer.config."},
    {"help", false, false, "Print usage information."},
    {NULL, false, false, NULL},
};

/* ---- DefaultMessageFormatter ---- */
typedef struct {
    bool ts, key, value, partition, offset, headers;
    const char *key_sep, *line_sep, *hdr_sep, *null_lit;
} fmt_t;

static bool truthy(const char *v)
{
    while (v && isspace((unsigned char)*v))
        v++;
    if (!v || strncasecmp(v, "true", 4))
        return false;
    for (v += 4; isspace((unsigned char)*v); v++)
        ;
    return !*v;
}

static void fmt_configure(fmt_t *f, const cli_kv_t *p)
{
    const char *v;
    f->ts = truthy(cli_kv_get(p, "print.timestamp"));
    f->key = truthy(cli_kv_get(p, "print.key"));
    f->value = (v = cli_kv_get(p, "print.value")) ? truthy(v) : true;
    f->partition = truthy(cli_kv_get(p, "print.partition"));
    f->offset = truthy(cli_kv_get(p, "print.offset"));
    f->headers = truthy(cli_kv_get(p, "print.headers"));
    f->key_sep = (v = cli_kv_get(p, "key.separator")) ? v : "\t";
    f->line_sep = (v = cli_kv_get(p, "line.separator")) ? v : "\n";
    f->hdr_sep = (v = cli_kv_get(p, "headers.separator")) ? v : ",";
    f->null_lit = (v = cli_kv_get(p, "null.literal")) ? v : "null";
}

static void put_bytes(const void *p, size_t n, const char *null_lit)
{
    if (p)
        fwrite(p, 1, n, stdout);
    else
        fputs(null_lit, stdout);
}

static void fmt_write(const fmt_t *f, const rd_kafka_message_t *m)
{
    /* each field is followed by key.separator when a later field is
     * printed, else by line.separator (the value always by line.separator) */
#define SEP(more) fputs((more) ? f->key_sep : f->line_sep, stdout)
    if (f->ts) {
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        if (tt == RD_KAFKA_TIMESTAMP_CREATE_TIME)
            printf("CreateTime:%lld", (long long)ts);
        else if (tt == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME)
            printf("LogAppendTime:%lld", (long long)ts);
        else
            fputs("NO_TIMESTAMP", stdout);
        SEP(f->partition || f->offset || f->headers || f->key || f->value);
    }
    if (f->partition) {
        printf("Partition:%d", (int)m->partition);
        SEP(f->offset || f->headers || f->key || f->value);
    }
    if (f->offset) {
        printf("Offset:%lld", (long long)m->offset);
        SEP(f->headers || f->key || f->value);
    }
    if (f->headers) {
        rd_kafka_headers_t *h = NULL;
        if (rd_kafka_message_headers(m, &h) || !h || !rd_kafka_header_cnt(h)) {
            fputs("NO_HEADERS", stdout);
        } else {
            const char *name;
            const void *val;
            size_t sz;
            for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &val, &sz); i++) {
                if (i)
                    fputs(f->hdr_sep, stdout);
                printf("%s:", name);
                put_bytes(val, sz, f->null_lit);
            }
        }
        SEP(f->key || f->value);
    }
    if (f->key) {
        put_bytes(m->key, m->key_len, f->null_lit);
        SEP(f->value);
    }
    if (f->value) {
        put_bytes(m->payload, m->len, f->null_lit);
        fputs(f->line_sep, stdout);
    }
#undef SEP
}

/* ---- consumer ---- */
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Kafka's log4j layout for tools: "[yyyy-MM-dd HH:mm:ss,SSS] LEVEL msg (logger)". */
static void log4j(const char *level, const char *msg, const char *logger)
{
    struct timeval tv;
    struct tm tm;
    char buf[64];
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(stderr, "[%s,%03d] %s %s (%s)\n", buf, (int)(tv.tv_usec / 1000), level, msg, logger);
}

static int parse_long(const char *s, long long *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    long long v = strtoll(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

/* Usage checks in ConsoleConsumerOptions order; 0 ok, -1 after the message. */
static int check_args(const cli_opts_t *o)
{
    if (cli_has(o, "topic") == cli_has(o, "include")) {
        cli_err("Exactly one of the following arguments is required: [topic], [include]");
        return -1;
    }
    if (cli_has(o, "partition")) {
        if (!cli_has(o, "topic")) {
            cli_err("The topic is required when partition is specified.");
            return -1;
        }
        if (cli_has(o, "from-beginning") && cli_has(o, "offset")) {
            cli_err("Options from-beginning and offset cannot be specified together.");
            return -1;
        }
    } else if (cli_has(o, "offset")) {
        cli_err("The partition is required when offset is specified.");
        return -1;
    }
    if (!cli_has(o, "bootstrap-server")) {
        cli_err("Missing required argument \"[bootstrap-server]\"");
        return -1;
    }
    if (cli_has(o, "consumer-property") && cli_has(o, "command-property")) {
        cli_err("Options --consumer-property and --command-property cannot be specified together.");
        return -1;
    }
    if (cli_has(o, "consumer.config") && cli_has(o, "command-config")) {
        cli_err("Options --consumer.config and --command-config cannot be specified together.");
        return -1;
    }
    if (cli_has(o, "property") && cli_has(o, "formatter-property")) {
        cli_err("Options --property and --formatter-property cannot be specified together.");
        return -1;
    }
    const char *f = cli_get(o, "formatter");
    if (f && strcmp(f, "kafka.tools.DefaultMessageFormatter") &&
        strcmp(f, "org.apache.kafka.tools.consumer.DefaultMessageFormatter")) {
        cli_err("formatter %s is not available: gregor has only the default message formatter", f);
        return -1;
    }
    return 0;
}

int cli_console_consumer_main(int argc, char **argv)
{
    cli_opts_t o;
    cli_kv_t user = {0}, fprops = {0};
    fmt_t fmt;
    rd_kafka_t *rk = NULL;
    rd_kafka_conf_t *conf = NULL;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *rkt = NULL;
    char errstr[512], group[64];
    const char **vals;
    int rc = 1, n;
    long long count = 0, max_messages = -1, timeout_ms = -1, partition = -1, offset = RD_KAFKA_OFFSET_END;
    bool started = false, report = false; /* report: the count is printed once a client ran, like Kafka */

    if (cli_parse(argc, argv, defs, &o) < 0)
        return 1;
    if (argc < 2 || cli_has(&o, "help")) {
        cli_usage(argc < 2 ? stderr : stdout, "console-consumer",
                  "This tool helps to read data from Kafka topics and outputs it to standard output "
                  "(kafka-console-consumer.sh).", defs);
        cli_opts_free(&o);
        return argc < 2;
    }
    if (check_args(&o) < 0)
        goto out;

    /* consumer properties: file, then key=value pairs */
    const char *cfile = cli_get(&o, "consumer.config") ? cli_get(&o, "consumer.config") : cli_get(&o, "command-config");
    if (cfile && cli_kv_file(&user, cfile) < 0)
        goto out;
    const char *popt = cli_has(&o, "consumer-property") ? "consumer-property" : "command-property";
    n = cli_get_all(&o, popt, &vals);
    for (int i = 0; i < n; i++)
        if (cli_kv_arg(&user, vals[i], popt) < 0) {
            free(vals);
            goto out;
        }
    free(vals);

    /* group: --group, group.id in the file or the properties must agree */
    const char *gid = cli_get(&o, "group"), *g2 = cli_kv_get(&user, "group.id");
    if (gid && g2 && strcmp(gid, g2)) {
        cli_err("The group ids provided in different places (directly using '--group', via "
                "'--consumer-property', or via '--consumer.config') do not match. Detected group ids: '%s', '%s'",
                gid, g2);
        goto out;
    }
    if (!gid)
        gid = g2;
    if (gid && cli_has(&o, "partition")) {
        cli_err("Options group and partition cannot be specified together.");
        goto out;
    }
    const char *aor = cli_kv_get(&user, "auto.offset.reset");
    if (aor && cli_has(&o, "from-beginning") && strcmp(aor, "earliest")) {
        fprintf(stderr, "Can't simultaneously specify --from-beginning and 'auto.offset.reset=%s', please remove "
                        "one option\n", aor);
        goto out;
    }
    if (cli_has(&o, "offset")) {
        const char *ov = cli_get(&o, "offset");
        if (!strcasecmp(ov, "earliest"))
            offset = RD_KAFKA_OFFSET_BEGINNING;
        else if (!strcasecmp(ov, "latest"))
            offset = RD_KAFKA_OFFSET_END;
        else if (parse_long(ov, &offset) < 0 || offset < 0) {
            cli_err("The provided offset value '%s' is incorrect. Valid values are 'earliest', 'latest', or a "
                    "non-negative long.", ov);
            goto out;
        }
    } else if (cli_has(&o, "from-beginning")) {
        offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    if (cli_has(&o, "partition") && (parse_long(cli_get(&o, "partition"), &partition) < 0 || partition < 0)) {
        cli_err("Cannot parse argument '%s' of option partition", cli_get(&o, "partition"));
        goto out;
    }
    if (cli_has(&o, "max-messages") && parse_long(cli_get(&o, "max-messages"), &max_messages) < 0) {
        cli_err("Cannot parse argument '%s' of option max-messages", cli_get(&o, "max-messages"));
        goto out;
    }
    if (cli_has(&o, "timeout-ms") && parse_long(cli_get(&o, "timeout-ms"), &timeout_ms) < 0) {
        cli_err("Cannot parse argument '%s' of option timeout-ms", cli_get(&o, "timeout-ms"));
        goto out;
    }

    /* formatter properties: file, then --property / --formatter-property */
    if (cli_get(&o, "formatter-config") && cli_kv_file(&fprops, cli_get(&o, "formatter-config")) < 0)
        goto out;
    const char *fopt = cli_has(&o, "property") ? "property" : "formatter-property";
    n = cli_get_all(&o, fopt, &vals);
    for (int i = 0; i < n; i++)
        if (cli_kv_arg(&fprops, vals[i], fopt) < 0) {
            free(vals);
            goto out;
        }
    free(vals);
    fmt_configure(&fmt, &fprops);

    /* librdkafka configuration, Kafka's precedence */
    bool random_group = !gid;
    if (random_group) {
        srand((unsigned)(time(NULL) ^ getpid()));
        snprintf(group, sizeof(group), "console-consumer-%d", rand() % 100000);
        gid = group;
    }
    if (!(conf = cli_conf(&o, NULL)))
        goto out;
    struct {
        const char *k, *v;
        bool force;
    } set[] = {
        {"client.id", "console-consumer", false},
        {"auto.offset.reset", cli_has(&o, "from-beginning") ? "earliest" : "latest", false},
        {"isolation.level", cli_get(&o, "isolation-level") ? cli_get(&o, "isolation-level") : "read_uncommitted",
         cli_has(&o, "isolation-level")},
        {"enable.auto.commit", "false", false},
        {"enable.partition.eof", "false", true},
        {"group.id", gid, true},
    };
    for (int i = 0; i < user.n; i++)
        if (rd_kafka_conf_set(conf, user.k[i], user.v[i], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
            goto conf_err;
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++) {
        if (!strcmp(set[i].k, "enable.auto.commit") && !random_group)
            continue;
        if (!set[i].force && cli_kv_get(&user, set[i].k))
            continue;
        if (rd_kafka_conf_set(conf, set[i].k, set[i].v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
            goto conf_err;
    }
    cli_conf_quiet(conf);
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr))))
        goto conf_err;
    conf = NULL;
    report = true;
    rd_kafka_poll_set_consumer(rk);

    /* startup: the cluster answers, the topic exists */
    int startup_ms = timeout_ms >= 0 && timeout_ms < 10000 ? (int)(timeout_ms > 1000 ? timeout_ms : 1000) : 10000;
    const char *topic = cli_get(&o, "topic");
    if (topic)
        rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, rkt ? 0 : 1, rkt, &md, startup_ms);
    if (err) {
        cli_err("Could not get metadata from %s within %d ms: %s", cli_get(&o, "bootstrap-server"), startup_ms,
                rd_kafka_err2str(err));
        goto out;
    }
    if (topic) {
        const rd_kafka_metadata_topic_t *t = md->topic_cnt ? &md->topics[0] : NULL;
        if (!t || t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            cli_err("Topic '%s' does not exist", topic);
            goto out;
        }
        if (t->err) {
            cli_err("Topic '%s': %s", topic, rd_kafka_err2str(t->err));
            goto out;
        }
        if (partition >= t->partition_cnt) {
            cli_err("Partition %lld of topic '%s' does not exist (the topic has %d)", partition, topic,
                    t->partition_cnt);
            goto out;
        }
    }
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    if (partition >= 0) {
        rd_kafka_topic_partition_list_add(tl, topic, (int32_t)partition)->offset = offset;
        err = rd_kafka_assign(rk, tl);
    } else {
        char *re = topic ? NULL : cli_include_regex(cli_get(&o, "include"));
        rd_kafka_topic_partition_list_add(tl, topic ? topic : re, RD_KAFKA_PARTITION_UA);
        free(re);
        err = rd_kafka_subscribe(rk, tl);
    }
    rd_kafka_topic_partition_list_destroy(tl);
    if (err) {
        cli_err("%s", rd_kafka_err2str(err));
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    started = true;
    rc = 0;
    int64_t last = now_ms();
    while (!stop && (max_messages < 0 || count < max_messages)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            if (timeout_ms >= 0 && now_ms() - last > timeout_ms) {
                log4j("ERROR", "Error processing message, terminating consumer process: ", "kafka.tools.ConsoleConsumer$");
                fputs("org.apache.kafka.common.errors.TimeoutException\n", stderr);
                break;
            }
            continue;
        }
        if (m->err) {
            rd_kafka_resp_err_t e = m->err;
            bool fatal = e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                         e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                         e == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED || e == RD_KAFKA_RESP_ERR__FATAL;
            if (fatal) {
                char msg[600];
                snprintf(msg, sizeof(msg), "Error processing message, terminating consumer process: %s",
                         rd_kafka_message_errstr(m));
                log4j("ERROR", msg, "kafka.tools.ConsoleConsumer$");
                rd_kafka_message_destroy(m);
                rc = 1;
                break;
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        count++;
        fmt_write(&fmt, m);
        rd_kafka_message_destroy(m);
        last = now_ms();
        if (fflush(stdout) == EOF || ferror(stdout)) {
            fputs("Unable to write to standard out, closing consumer.\n", stderr);
            break;
        }
    }
    goto out;
conf_err:
    cli_err("%s", errstr);
out:
    if (rk) {
        if (md)
            rd_kafka_metadata_destroy(md);
        if (rkt)
            rd_kafka_topic_destroy(rkt);
        if (started)
            rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (report)
        fprintf(stderr, "Processed a total of %lld messages\n", count);
    cli_kv_free(&user);
    cli_kv_free(&fprops);
    cli_opts_free(&o);
    return rc;
}
