/*
 * get_offsets.c - `gregor get-offsets`, the kafka-get-offsets.sh
 * (GetOffsetShell) of gregor: prints "topic:partition:offset" for every
 * selected partition.
 *
 * Selection: --topic <regex> (whole-name match, ',' means '|', POSIX
 * extended syntax) with --partitions 0,1,..., or --topic-partitions, a
 * comma-separated list of rules "regex:N", "regex:N-M" (lower inclusive,
 * upper exclusive), "regex:N-", "regex:-M" or "regex" (a missing regex
 * matches every topic).  Internal topics are included unless
 * --exclude-internal-topics.
 *
 * --time: -1/latest (default), -2/earliest or a timestamp in ms (first
 * offset whose timestamp is >= it).  The offsets come from librdkafka's
 * rd_kafka_offsets_for_times(), i.e. ListOffsets with that timestamp, which
 * the broker reads as latest/earliest for -1/-2, with
 * isolation.level=read_uncommitted like Kafka's Admin client.
 *
 * -3/max-timestamp (the offset of the record with the largest timestamp,
 * the first one on ties, partitions with no records skipped) needs
 * ListOffsets v7, which librdkafka 2.0.2 does not send, so it is computed
 * by reading the partitions: their watermarks, then every record from the
 * low to the high watermark through a consumer using assign() (a throwaway
 * group.id that never joins or commits, no auto commit).  Records with no
 * timestamp are ignored.  The whole scan is bounded by --timeout; the cost
 * is proportional to the size of the partitions.  -4/earliest-local (v8),
 * -5/latest-tiered (v9) and -6/earliest-pending-upload need ListOffsets
 * versions librdkafka 2.0.2 does not send and have no such fallback, so
 * they are refused with an error rather than answered with something else.
 *
 * Partitions with no offset for the time are skipped, as in Kafka.  Output
 * is sorted by topic, then partition number (Kafka >= 3.5 sorts by the
 * string "topic-partition", which differs only for topics with 10 or more
 * partitions; this is the order of the Scala tool it replaced).
 * Errors: "Error occurred: <message>" on stderr, exit 1, as GetOffsetShell.
 * --timeout (ms, default 5000) bounds every request (gregor addition).
 */
#include "cli.h"

#include <ctype.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const cli_optdef_t defs[] = {
    {"bootstrap-server", true, false, "REQUIRED. The server(s) to connect to in the form HOST1:PORT1,HOST2:PORT2."},
    {"topic-partitions", true, false, "Comma separated list of topic-partition patterns to get the offsets for, "
                                      "e.g. topic1:1,topic2:0-3,topic3,topic4:5-,topic5:-3. Cannot be used with "
                                      "--topic or --partitions."},
    {"topic", true, false, "The topic to get the offsets for. It also accepts a regular expression. If not "
                           "present, all authorized topics are queried."},
    {"partitions", true, false, "Comma separated list of partition ids to get the offsets for. If not present, "
                                "all partitions of the authorized topics are queried."},
    {"time", true, false, "timestamp of the offsets before that: <timestamp> / -1 or latest / -2 or earliest "
                          "/ -3 or max-timestamp (default: latest). -3 reads the partitions (cost proportional "
                          "to their size, bounded by --timeout) because the client library (librdkafka 2.0.2) "
                          "cannot send the newer ListOffsets request it needs. -4/earliest-local, "
                          "-5/latest-tiered and -6/earliest-pending-upload are not supported (librdkafka 2.0.2 "
                          "has no ListOffsets v8+)."},
    {"command-config", true, false, "Property file containing configs to be passed to the client."},
    {"exclude-internal-topics", false, false, "By default, internal topics are included. If specified, "
                                              "internal topics are excluded."},
    {"timeout", true, false, "gregor: milliseconds to wait for the cluster (default 5000)."},
    {"help", false, false, "Print usage information."},
    {NULL, false, false, NULL},
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("Error occurred: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

/* One selection rule: topic regex and partition range [lo, hi) or a set. */
typedef struct {
    regex_t re;
    int lo, hi;
    int32_t *set; /* --partitions ids, NULL: the range applies */
    int nset;
} rule_t;

static int include_compile(const char *raw, regex_t *re)
{
    char *p = cli_include_regex(raw);
    int rc = regcomp(re, p, REG_EXTENDED | REG_NOSUB);
    free(p);
    if (rc)
        return fail("%s is an invalid regex.", raw);
    return 0;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int to_int(const char *s, size_t n, int def)
{
    if (!n)
        return def;
    long long v = 0;
    for (size_t i = 0; i < n && v <= INT_MAX; i++)
        v = v * 10 + (s[i] - '0');
    return v > INT_MAX ? INT_MAX : (int)v;
}

/* "regex(:(N|N-M|N-|-M|))?" as GetOffsetShell's TOPIC_PARTITION_PATTERN. */
static int parse_rule(const char *spec, size_t len, rule_t *r)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%.*s", (int)len, spec);
    char *colon = strchr(buf, ':');
    r->lo = 0;
    r->hi = INT_MAX;
    r->set = NULL;
    if (colon) {
        const char *p = colon + 1, *dash = strchr(p, '-');
        if (strchr(p, ':'))
            return fail("Invalid rule specification: %s", buf);
        if (!dash) {
            if (!all_digits(p, strlen(p)))
                return fail("Invalid rule specification: %s", buf);
            if (*p)
                r->lo = to_int(p, strlen(p), 0), r->hi = r->lo + 1;
        } else {
            if (!all_digits(p, (size_t)(dash - p)) || !all_digits(dash + 1, strlen(dash + 1)))
                return fail("Invalid rule specification: %s", buf);
            r->lo = to_int(p, (size_t)(dash - p), 0);
            r->hi = to_int(dash + 1, strlen(dash + 1), INT_MAX);
        }
        *colon = '\0';
    }
    return include_compile(*buf ? buf : ".*", &r->re);
}

static bool topic_ok(const rule_t *r, const char *t)
{
    return !regexec(&r->re, t, 0, NULL, 0);
}

static bool part_ok(const rule_t *r, int p)
{
    if (r->set) {
        for (int i = 0; i < r->nset; i++)
            if (r->set[i] == p)
                return true;
        return r->nset == 0;
    }
    return p >= r->lo && p < r->hi;
}

static bool is_internal(const char *t)
{
    return !strcmp(t, "__consumer_offsets") || !strcmp(t, "__transaction_state");
}

static int cmp_tp(const void *a, const void *b)
{
    const rd_kafka_topic_partition_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* --time as a ListOffsets timestamp; -1 after the error. */
static int parse_time(const char *t, int64_t *ts)
{
    static const char *const names[] = {"latest", "earliest", "max-timestamp", "earliest-local",
                                        "latest-tiered", "earliest-pending-upload"};
    long long v = 0;
    char *end;
    for (int i = 0; i < 6; i++)
        if (!strcmp(t, names[i]))
            v = -1 - i;
    if (!v) {
        v = strtoll(t, &end, 10);
        if (!*t || *end) {
            fail("Malformed time argument %s. Please use -1 or latest / -2 or earliest / -3 or max-timestamp / -4 "
                 "or earliest-local / -5 or latest-tiered / -6 or earliest-pending-upload, or a specified long "
                 "format timestamp", t);
            return -1;
        }
    }
    if (v <= -4 && v >= -6) {
        fail("--time %s (%s) needs a ListOffsets version that librdkafka 2.0.2 does not send; it is not "
             "supported by gregor get-offsets", t, names[-1 - v]);
        return -1;
    }
    *ts = v;
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Per-partition state of the -3 scan. */
typedef struct {
    int64_t lo, hi;     /* watermarks at the start */
    int64_t max_ts;     /* largest timestamp seen, -1: none */
    int64_t max_off;    /* first offset with max_ts */
    bool done;
} scan_t;

/*
 * --time -3: sets every element's offset to the offset of its record with
 * the largest timestamp (-1 for an empty partition or no timestamps), or
 * its err when its watermarks cannot be read.  0, or -1 after the error.
 */
static int max_timestamp_scan(const cli_opts_t *o, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *tpl,
                              int timeout_ms)
{
    int rc = -1, left = 0;
    int64_t deadline = now_ms() + timeout_ms;
    scan_t *st = gr_calloc((size_t)tpl->cnt, sizeof(*st));
    rd_kafka_topic_partition_list_t *asg = rd_kafka_topic_partition_list_new(tpl->cnt > 0 ? tpl->cnt : 1);
    rd_kafka_t *c = NULL;
    char errstr[512];

    for (int i = 0; i < tpl->cnt; i++) {
        rd_kafka_topic_partition_t *e = &tpl->elems[i];
        e->offset = -1;
        st[i].max_ts = -1;
        st[i].max_off = -1;
        st[i].done = true;
        int64_t wait = deadline - now_ms();
        if (wait <= 0) {
            fail("Could not read the offsets of %s-%d within %d ms", e->topic, (int)e->partition, timeout_ms);
            goto out;
        }
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, e->topic, e->partition, &st[i].lo, &st[i].hi, (int)wait);
        if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
            fail("Could not read the offsets of %s-%d within %d ms", e->topic, (int)e->partition, timeout_ms);
            goto out;
        }
        if (err) {
            e->err = err;
            continue;
        }
        if (st[i].hi > st[i].lo) {
            st[i].done = false;
            left++;
            rd_kafka_topic_partition_list_add(asg, e->topic, e->partition)->offset = st[i].lo;
        }
    }
    if (!left) {
        rc = 0;
        goto out;
    }

    char gid[96];
    snprintf(gid, sizeof(gid), "gregor-get-offsets-max-timestamp-%ld-%lld", (long)getpid(), (long long)now_ms());
    const char *const extra[] = {"client.id", "GetOffsetShell", "isolation.level", "read_uncommitted",
                                 "group.id", gid, "enable.auto.commit", "false", "enable.auto.offset.store",
                                 "false", "enable.partition.eof", "true", "auto.offset.reset", "earliest", NULL};
    rd_kafka_conf_t *conf = cli_conf(o, extra);
    if (!conf)
        goto out;
    cli_conf_quiet(conf);
    if (!(c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
        rd_kafka_conf_destroy(conf);
        fail("%s", errstr);
        goto out;
    }
    rd_kafka_poll_set_consumer(c);
    rd_kafka_resp_err_t err = rd_kafka_assign(c, asg);
    if (err) {
        fail("%s", rd_kafka_err2str(err));
        goto out;
    }
    while (left > 0) {
        int64_t wait = deadline - now_ms();
        if (wait <= 0) {
            for (int i = 0; i < tpl->cnt; i++)
                if (!st[i].done) {
                    fail("Could not read %s-%d up to offset %lld within %d ms (--time -3 reads the partitions; "
                         "raise --timeout)", tpl->elems[i].topic, (int)tpl->elems[i].partition,
                         (long long)st[i].hi, timeout_ms);
                    break;
                }
            goto out;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, wait > 100 ? 100 : (int)wait);
        if (!m)
            continue;
        int i = -1;
        if (m->rkt) {
            const char *tn = rd_kafka_topic_name(m->rkt);
            for (int k = 0; k < tpl->cnt && i < 0; k++)
                if (tpl->elems[k].partition == m->partition && !strcmp(tpl->elems[k].topic, tn))
                    i = k;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (i >= 0 && !st[i].done && m->offset >= st[i].hi) {
                st[i].done = true;
                left--;
            }
        } else if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__TRANSPORT && m->err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
                if (i >= 0)
                    fail("Could not read %s-%d: %s", tpl->elems[i].topic, (int)tpl->elems[i].partition,
                         rd_kafka_message_errstr(m));
                else
                    fail("%s", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                goto out;
            }
        } else if (i >= 0 && !st[i].done && m->offset < st[i].hi) {
            int64_t ts = rd_kafka_message_timestamp(m, NULL);
            if (ts >= 0 && ts > st[i].max_ts) {
                st[i].max_ts = ts;
                st[i].max_off = m->offset;
            }
            if (m->offset >= st[i].hi - 1) {
                st[i].done = true;
                left--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    for (int i = 0; i < tpl->cnt; i++)
        if (!tpl->elems[i].err)
            tpl->elems[i].offset = st[i].max_off;
    rc = 0;
out:
    if (c) {
        rd_kafka_assign(c, NULL);
        rd_kafka_destroy_flags(c, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    rd_kafka_topic_partition_list_destroy(asg);
    free(st);
    return rc;
}

int cli_get_offsets_main(int argc, char **argv)
{
    cli_opts_t o;
    int rc = 1, nrules = 0, nset = 0;
    rule_t *rules = NULL;
    int32_t *set = NULL;
    rd_kafka_t *rk = NULL;
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_partition_list_t *tpl = NULL;
    int64_t ts = -1;
    char errstr[512];

    if (cli_parse(argc, argv, defs, &o) < 0)
        return 1;
    if (argc < 2 || cli_has(&o, "help")) {
        cli_usage(argc < 2 ? stderr : stdout, "get-offsets",
                  "An interactive shell for getting topic-partition offsets (kafka-get-offsets.sh).", defs);
        cli_opts_free(&o);
        return argc < 2;
    }
    if (!cli_has(&o, "bootstrap-server")) {
        cli_err("Missing required argument \"[bootstrap-server]\"");
        goto out;
    }
    if (cli_has(&o, "topic-partitions") && (cli_has(&o, "topic") || cli_has(&o, "partitions"))) {
        fail("--topic-partitions cannot be used with --topic or --partitions");
        goto out;
    }
    if (cli_get(&o, "time") && parse_time(cli_get(&o, "time"), &ts) < 0)
        goto out;

    if (cli_has(&o, "topic-partitions")) {
        const char *s = cli_get(&o, "topic-partitions");
        rules = gr_calloc(strlen(s) + 2, sizeof(*rules));
        for (const char *p = s;;) {
            size_t len = strcspn(p, ",");
            if (parse_rule(p, len, &rules[nrules]) < 0)
                goto out;
            nrules++;
            if (!p[len])
                break;
            p += len + 1;
        }
    } else {
        const char *ps = cli_get(&o, "partitions");
        set = gr_calloc(ps ? strlen(ps) / 2 + 1 : 1, sizeof(*set));
        const char *bad;
        size_t badlen;
        if (ps && *ps && cli_partition_list(ps, false, set, &nset, &bad, &badlen) < 0) {
            fail("--partitions expects a comma separated list of numeric partition ids, but received: %s", ps);
            goto out;
        }
        rules = gr_calloc(1, sizeof(*rules));
        const char *t = cli_get(&o, "topic");
        if (include_compile(t ? t : ".*", &rules[0].re) < 0)
            goto out;
        rules[0].set = set;
        rules[0].nset = nset;
        nrules = 1;
    }

    int timeout_ms = cli_timeout_ms(&o);
    const char *const extra[] = {"client.id", "GetOffsetShell", "isolation.level", "read_uncommitted", NULL};
    rd_kafka_conf_t *conf = cli_conf(&o, extra);
    if (!conf)
        goto out;
    cli_conf_quiet(conf);
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
        rd_kafka_conf_destroy(conf);
        fail("%s", errstr);
        goto out;
    }
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (err) {
        fail("Could not get metadata from %s within %d ms: %s", cli_get(&o, "bootstrap-server"), timeout_ms,
             rd_kafka_err2str(err));
        goto out;
    }
    bool excl = cli_has(&o, "exclude-internal-topics");
    tpl = rd_kafka_topic_partition_list_new(16);
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || (excl && is_internal(t->topic)))
            continue;
        for (int p = 0; p < t->partition_cnt; p++) {
            bool ok = false;
            for (int r = 0; r < nrules && !ok; r++)
                ok = topic_ok(&rules[r], t->topic) && part_ok(&rules[r], t->partitions[p].id);
            if (ok)
                rd_kafka_topic_partition_list_add(tpl, t->topic, t->partitions[p].id)->offset = ts;
        }
    }
    if (tpl->cnt == 0) {
        fail("Could not match any topic-partitions with the specified filters");
        goto out;
    }
    if (ts == -3) {
        if (max_timestamp_scan(&o, rk, tpl, timeout_ms) < 0)
            goto out;
        err = RD_KAFKA_RESP_ERR_NO_ERROR;
    } else
        err = rd_kafka_offsets_for_times(rk, tpl, timeout_ms);
    if (err && err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && err != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
        err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
        fail("%s", rd_kafka_err2str(err));
        goto out;
    }
    qsort(tpl->elems, (size_t)tpl->cnt, sizeof(*tpl->elems), cmp_tp);
    for (int i = 0; i < tpl->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &tpl->elems[i];
        if (e->err)
            fprintf(stderr, "Skip getting offsets for topic-partition %s-%d due to error: %s\n", e->topic,
                    (int)e->partition, rd_kafka_err2str(e->err));
        else if (e->offset >= 0)
            printf("%s:%d:%lld\n", e->topic, (int)e->partition, (long long)e->offset);
    }
    rc = 0;
out:
    if (tpl)
        rd_kafka_topic_partition_list_destroy(tpl);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rk)
        rd_kafka_destroy(rk);
    for (int i = 0; i < nrules; i++)
        regfree(&rules[i].re);
    free(rules);
    free(set);
    cli_opts_free(&o);
    return rc;
}
