/*
 * console_producer.c - `gregor console-producer`, the
 * kafka-console-producer.sh of gregor: one record per stdin line, parsed
 * like Kafka's LineMessageReader, produced with librdkafka.
 *
 * Line layout (reader properties, --property k=v or --reader-config file):
 *
 *   parse.headers=true parse.key=true:   h1:v1,h2:v2<TAB>key<TAB>value
 *   parse.key=true:                      key<TAB>value
 *   parse.headers=true:                  h1:v1,h2:v2<TAB>value
 *
 * with key.separator (default TAB), headers.delimiter (TAB),
 * headers.separator (","; a literal string here, a Java regex in Kafka),
 * headers.key.separator (":"), null.marker (a field equal to it becomes
 * null) and ignore.error.
 *
 * Producer settings, lowest precedence first: librdkafka defaults, Kafka's
 * console-producer defaults for every key the user did not set (acks=-1,
 * linger.ms=1000, request.timeout.ms=1500, retries=3, retry.backoff.ms=100,
 * batch.size=16384, client.id=console-producer, and partitioner=
 * murmur2_random so keys land on the partitions a Java producer picks),
 * --command-config / --producer.config files, --producer-property pairs,
 * then the explicit options.  --max-block-ms (default 60000) bounds how long
 * a record may wait for an unreachable cluster (librdkafka
 * message.timeout.ms), so a dead bootstrap server ends in an error, not a
 * hang.
 *
 * A failed record prints Kafka's ErrorLoggingCallback line on stderr.
 * --sync stops at the first failure.  Unlike Kafka (which exits 0 after
 * logging async failures), the exit status is 1 if any record failed.  At
 * EOF every record is flushed before exit.
 */
#include "cli.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_optdef_t defs[] = {
    {"bootstrap-server", true, false, "REQUIRED: The server(s) to connect to."},
    {"topic", true, false, "REQUIRED: The topic id to produce messages to."},
    {"sync", false, false, "If set message send requests to the brokers are synchronously, one at a time as "
                           "they arrive."},
    {"compression-codec", true, true, "The compression codec: either 'none', 'gzip', 'snappy', 'lz4', or "
                                      "'zstd'. If specified without value, then it defaults to 'gzip'"},
    {"batch-size", true, false, "batch.size of the producer (default: 16384)"},
    {"message-send-max-retries", true, false, "retries of the producer (default: 3)"},
    {"retry-backoff-ms", true, false, "retry.backoff.ms of the producer (default: 100)"},
    {"timeout", true, false, "linger.ms of the producer, in ms (default: 1000)"},
    {"request-required-acks", true, false, "The required `acks` of the producer requests (default: -1)"},
    {"request-timeout-ms", true, false, "The ack timeout of the producer requests (default: 1500)"},
    {"metadata-expiry-ms", true, false, "metadata.max.age.ms of the producer (default: 300000)"},
    {"max-block-ms", true, false, "How long a record may wait for the cluster before it fails "
                                  "(librdkafka message.timeout.ms; default: 60000)"},
    {"max-memory-bytes", true, false, "Producer buffer memory in bytes (default: 33554432)"},
    {"socket-buffer-size", true, false, "socket.send.buffer.bytes of the producer (default: 102400)"},
    {"property", true, false, "Message reader property key=value: parse.key, key.separator, parse.headers, "
                              "headers.delimiter, headers.separator, headers.key.separator, null.marker, "
                              "ignore.error"},
    {"reader-config", true, false, "Config properties file for the message reader."},
    {"producer-property", true, false, "Producer config property key=value (librdkafka names)."},
    {"producer.config", true, false, "Producer config properties file."},
    {"command-property", true, false, "Same as --producer-property."},
    {"command-config", true, false, "Same as --producer.config."},
    {"help", false, false, "Print usage information."},
    {NULL, false, false, NULL},
};

/* ---- the line reader (LineMessageReader) ---- */
typedef struct {
    bool parse_key, parse_headers, ignore_error;
    const char *key_sep, *hdr_delim, *hdr_sep, *hdr_key_sep, *null_marker;
} reader_t;

static bool truthy(const char *v)
{
    if (!v)
        return false;
    while (isspace((unsigned char)*v))
        v++;
    return !strncasecmp(v, "true", 4) && (!v[4] || isspace((unsigned char)v[4]));
}

static int reader_configure(reader_t *r, const cli_kv_t *p)
{
    const char *v;
    r->parse_key = truthy(cli_kv_get(p, "parse.key"));
    r->parse_headers = truthy(cli_kv_get(p, "parse.headers"));
    r->ignore_error = truthy(cli_kv_get(p, "ignore.error"));
    r->key_sep = (v = cli_kv_get(p, "key.separator")) ? v : "\t";
    r->hdr_delim = (v = cli_kv_get(p, "headers.delimiter")) ? v : "\t";
    r->hdr_sep = (v = cli_kv_get(p, "headers.separator")) ? v : ",";
    r->hdr_key_sep = (v = cli_kv_get(p, "headers.key.separator")) ? v : ":";
    r->null_marker = cli_kv_get(p, "null.marker");
    static const struct {
        const char *a, *b;
    } names[] = {{"headers.delimiter", "headers.separator"}, {"headers.delimiter", "headers.key.separator"},
                 {"headers.separator", "headers.key.separator"}, {"null.marker", "key.separator"},
                 {"null.marker", "headers.separator"}, {"null.marker", "headers.delimiter"},
                 {"null.marker", "headers.key.separator"}};
    const char *vals[][2] = {{r->hdr_delim, r->hdr_sep}, {r->hdr_delim, r->hdr_key_sep},
                             {r->hdr_sep, r->hdr_key_sep}, {r->null_marker, r->key_sep},
                             {r->null_marker, r->hdr_sep}, {r->null_marker, r->hdr_delim},
                             {r->null_marker, r->hdr_key_sep}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (vals[i][0] && vals[i][1] && !strcmp(vals[i][0], vals[i][1])) {
            cli_err("%s and %s may not be equal", names[i].a, names[i].b);
            return -1;
        }
    if (!*r->key_sep || !*r->hdr_delim || !*r->hdr_sep || !*r->hdr_key_sep) {
        cli_err("separators may not be empty");
        return -1;
    }
    return 0;
}

static bool is_null(const reader_t *r, const char *s, size_t n)
{
    return r->null_marker && strlen(r->null_marker) == n && !memcmp(r->null_marker, s, n);
}

/* Find delim in [s, e); NULL if absent. */
static const char *find(const char *s, const char *e, const char *delim)
{
    size_t dl = strlen(delim);
    for (; s + dl <= e; s++)
        if (!memcmp(s, delim, dl))
            return s;
    return NULL;
}

/* Parse one line into headers/key/value and produce it.  Returns 0, or -1
 * after printing Kafka's parse error. */
static int parse_line(const reader_t *r, long lineno, const char *line, size_t len, rd_kafka_headers_t **hdrs,
                      const char **key, size_t *klen, const char **val, size_t *vlen)
{
    const char *p = line, *end = line + len;
    *hdrs = NULL;
    *key = NULL;
    *klen = 0;
    if (r->parse_headers) {
        const char *d = find(p, end, r->hdr_delim);
        if (!d && !r->ignore_error) {
            cli_err("No headers delimiter found on line number %ld: '%.*s'", lineno, (int)len, line);
            return -1;
        }
        if (d) {
            if (!is_null(r, p, (size_t)(d - p))) {
                *hdrs = rd_kafka_headers_new(8);
                /* split on headers.separator; trailing empty pieces dropped like String.split */
                const char *hs = p, *he = d;
                size_t sl = strlen(r->hdr_sep);
                while ((size_t)(he - hs) >= sl && !memcmp(he - sl, r->hdr_sep, sl))
                    he -= sl;
                while (he > hs) {
                    const char *sep = find(hs, he, r->hdr_sep);
                    const char *pe = sep ? sep : he;
                    const char *ks = find(hs, pe, r->hdr_key_sep);
                    if (!ks) {
                        if (!r->ignore_error) {
                            cli_err("No header key separator found in pair '%.*s' on line number %ld",
                                    (int)(pe - hs), hs, lineno);
                            rd_kafka_headers_destroy(*hdrs);
                            *hdrs = NULL;
                            return -1;
                        }
                        rd_kafka_header_add(*hdrs, hs, pe - hs, NULL, 0);
                    } else {
                        if (is_null(r, hs, (size_t)(ks - hs))) {
                            cli_err("Header keys should not be equal to the null marker '%s' as they can't be "
                                    "null", r->null_marker);
                            rd_kafka_headers_destroy(*hdrs);
                            *hdrs = NULL;
                            return -1;
                        }
                        const char *vs = ks + strlen(r->hdr_key_sep);
                        if (is_null(r, vs, (size_t)(pe - vs)))
                            rd_kafka_header_add(*hdrs, hs, ks - hs, NULL, 0);
                        else
                            rd_kafka_header_add(*hdrs, hs, ks - hs, vs, pe - vs);
                    }
                    if (!sep)
                        break;
                    hs = sep + strlen(r->hdr_sep);
                }
            }
            p = d + strlen(r->hdr_delim);
        }
    }
    if (r->parse_key) {
        const char *k = find(p, end, r->key_sep);
        if (!k && !r->ignore_error) {
            cli_err("No key separator found on line number %ld: '%.*s'", lineno, (int)len, line);
            if (*hdrs)
                rd_kafka_headers_destroy(*hdrs);
            *hdrs = NULL;
            return -1;
        }
        if (k) {
            if (!is_null(r, p, (size_t)(k - p))) {
                *key = p;
                *klen = (size_t)(k - p);
            }
            p = k + strlen(r->key_sep);
        }
    }
    *val = is_null(r, p, (size_t)(end - p)) ? NULL : p;
    *vlen = *val ? (size_t)(end - p) : 0;
    return 0;
}

/* ---- producing ---- */
static int failed;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk, (void)opaque;
    if (!m->err)
        return;
    failed++;
    char ks[32], vs[32];
    if (m->key)
        snprintf(ks, sizeof(ks), "%zu bytes", m->key_len);
    else
        strcpy(ks, "null");
    if (m->payload)
        snprintf(vs, sizeof(vs), "%zu bytes", m->len);
    else
        strcpy(vs, "null");
    fprintf(stderr, "ERROR Error when sending message to topic %s with key: %s, value: %s with error: %s\n",
            rd_kafka_topic_name(m->rkt), ks, vs, rd_kafka_err2str(m->err));
}

/* Producer configuration in Kafka's precedence order (see the header). */
static rd_kafka_conf_t *build_conf(const cli_opts_t *o)
{
    static const struct {
        const char *opt, *key, *def;
    } map[] = {
        {"timeout", "linger.ms", "1000"},
        {"request-required-acks", "acks", "-1"},
        {"request-timeout-ms", "request.timeout.ms", "1500"},
        {"message-send-max-retries", "retries", "3"},
        {"retry-backoff-ms", "retry.backoff.ms", "100"},
        {"socket-buffer-size", "socket.send.buffer.bytes", "102400"},
        {"batch-size", "batch.size", "16384"},
        {"metadata-expiry-ms", "metadata.max.age.ms", "300000"},
        {"max-block-ms", "message.timeout.ms", "60000"},
        {NULL, "client.id", "console-producer"},
        {NULL, "partitioner", "murmur2_random"},
    };
    char errstr[512];
    cli_kv_t user = {0};
    rd_kafka_conf_t *conf = NULL;
    const char **vals;
    int n;
    const char *files[] = {cli_get(o, "command-config"), cli_get(o, "producer.config")};
    for (int i = 0; i < 2; i++)
        if (files[i] && cli_kv_file(&user, files[i]) < 0)
            goto err;
    for (int pass = 0; pass < 2; pass++) {
        n = cli_get_all(o, pass ? "command-property" : "producer-property", &vals);
        for (int i = 0; i < n; i++)
            if (cli_kv_arg(&user, vals[i], pass ? "command-property" : "producer-property") < 0) {
                free(vals);
                goto err;
            }
        free(vals);
    }
    if (!(conf = cli_conf(o, NULL)))
        goto err;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        const char *v = map[i].opt ? cli_get(o, map[i].opt) : NULL;
        if (!v && (cli_kv_get(&user, map[i].key) ||
                   (!strcmp(map[i].key, "message.timeout.ms") &&
                    (cli_kv_get(&user, "delivery.timeout.ms") || cli_kv_get(&user, "message.timeout.ms")))))
            continue;
        if (rd_kafka_conf_set(conf, map[i].key, v ? v : map[i].def, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
            goto conf_err;
    }
    for (int i = 0; i < user.n; i++)
        if (rd_kafka_conf_set(conf, user.k[i], user.v[i], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
            goto conf_err;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        const char *v = map[i].opt ? cli_get(o, map[i].opt) : NULL;
        if (v && rd_kafka_conf_set(conf, map[i].key, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
            goto conf_err;
    }
    const char *mem = cli_get(o, "max-memory-bytes");
    if (mem) {
        char kb[32];
        snprintf(kb, sizeof(kb), "%lld", (atoll(mem) + 1023) / 1024);
        if (rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", kb, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
            goto conf_err;
    }
    if (cli_has(o, "compression-codec")) {
        const char *c = cli_get(o, "compression-codec");
        if (!c || !*c)
            c = "gzip";
        if (strcmp(c, "none") && strcmp(c, "gzip") && strcmp(c, "snappy") && strcmp(c, "lz4") && strcmp(c, "zstd")) {
            cli_err("Invalid value %s for configuration compression.type: String must be one of: none, gzip, "
                    "snappy, lz4, zstd", c);
            goto err;
        }
        if (rd_kafka_conf_set(conf, "compression.codec", c, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
            goto conf_err;
    }
    cli_conf_quiet(conf);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    cli_kv_free(&user);
    return conf;
conf_err:
    cli_err("%s", errstr);
err:
    if (conf)
        rd_kafka_conf_destroy(conf);
    cli_kv_free(&user);
    return NULL;
}

int cli_console_producer_main(int argc, char **argv)
{
    cli_opts_t o;
    cli_kv_t rprops = {0};
    reader_t rd;
    rd_kafka_t *rk = NULL;
    char *line = NULL;
    size_t cap = 0;
    int rc = 1;
    char errstr[512];

    if (cli_parse(argc, argv, defs, &o) < 0)
        return 1;
    if (argc < 2 || cli_has(&o, "help")) {
        cli_usage(argc < 2 ? stderr : stdout, "console-producer",
                  "This tool helps to read data from standard input and publish it to Kafka "
                  "(kafka-console-producer.sh).", defs);
        cli_opts_free(&o);
        return argc < 2;
    }
    if (!cli_has(&o, "topic")) {
        cli_err("Missing required argument \"[topic]\"");
        goto out;
    }
    if (!cli_has(&o, "bootstrap-server")) {
        cli_err("Missing required argument \"[bootstrap-server]\"");
        goto out;
    }
    const char *topic = cli_get(&o, "topic");
    const char **vals;
    if (cli_get(&o, "reader-config") && cli_kv_file(&rprops, cli_get(&o, "reader-config")) < 0)
        goto out;
    int n = cli_get_all(&o, "property", &vals);
    for (int i = 0; i < n; i++)
        if (cli_kv_arg(&rprops, vals[i], "property") < 0) {
            free(vals);
            goto out;
        }
    free(vals);
    if (reader_configure(&rd, &rprops) < 0)
        goto out;

    rd_kafka_conf_t *conf = build_conf(&o);
    if (!conf)
        goto out;
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)))) {
        cli_err("%s", errstr);
        rd_kafka_conf_destroy(conf);
        goto out;
    }

    bool sync = cli_has(&o, "sync"), prompt = isatty(0) && isatty(1);
    long lineno = 0;
    rc = 0;
    for (;;) {
        lineno++;
        if (prompt) {
            fputc('>', stdout);
            fflush(stdout);
        }
        ssize_t len = getline(&line, &cap, stdin);
        if (len < 0)
            break;
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        rd_kafka_headers_t *hdrs;
        const char *key, *val;
        size_t klen, vlen;
        if (parse_line(&rd, lineno, line, (size_t)len, &hdrs, &key, &klen, &val, &vlen) < 0) {
            rc = 1;
            break;
        }
        rd_kafka_resp_err_t err;
        do {
            err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                    RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
                                    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(rk, 100);
        } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
        if (err) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            char ks[32];
            if (key)
                snprintf(ks, sizeof(ks), "%zu bytes", klen);
            else
                strcpy(ks, "null");
            fprintf(stderr, "ERROR Error when sending message to topic %s with key: %s, value: %zu bytes with "
                    "error: %s\n", topic, ks, vlen, rd_kafka_err2str(err));
            failed++;
            if (sync)
                break;
            continue;
        }
        if (sync) {
            rd_kafka_flush(rk, -1);
            if (failed)
                break;
        } else {
            rd_kafka_poll(rk, 0);
        }
    }
    /* EOF, a parse error or a --sync failure: deliver what was accepted */
    rd_kafka_flush(rk, -1);
    if (failed)
        rc = 1;
out:
    free(line);
    if (rk)
        rd_kafka_destroy(rk);
    cli_kv_free(&rprops);
    cli_opts_free(&o);
    return rc;
}
