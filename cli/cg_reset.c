/*
 * cg_reset.c - `gregor consumer-groups --reset-offsets`: for each inactive
 * group, the new offset of each partition in scope (--topic, --all-topics
 * or a --from-file plan) by the scenario given (--to-earliest,
 * --to-latest, --to-current, --to-offset, --shift-by, --to-datetime,
 * --by-duration, --from-file), clamped to the log's range as Kafka's
 * checkOffsetsRange does; applied with AlterConsumerGroupOffsets on
 * --execute, and printed as Kafka's table or, with --export, as a CSV plan
 * (cg_csv.c) that --from-file reads back.
 */
#include "cg.h"
#include "history.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

/* Kafka's Utils.getDateTime: yyyy-MM-ddTHH:mm:ss.SSS plus an optional zone
 * (Z, +hh, +hhmm, +hh:mm); UTC when there is none.  -1 on a bad value. */
static int parse_datetime(const char *s, int64_t *ms)
{
    const char *p = s;
    int Y = digits(&p, 4);
    if (Y < 0 || *p++ != '-')
        return -1;
    int M = digits(&p, 2);
    if (M < 1 || M > 12 || *p++ != '-')
        return -1;
    int D = digits(&p, 2);
    if (D < 1 || D > 31 || *p++ != 'T')
        return -1;
    int h = digits(&p, 2);
    if (h < 0 || h > 23 || *p++ != ':')
        return -1;
    int mi = digits(&p, 2);
    if (mi < 0 || mi > 59 || *p++ != ':')
        return -1;
    int sec = digits(&p, 2);
    if (sec < 0 || sec > 59 || *p++ != '.')
        return -1;
    int milli = digits(&p, 3);
    if (milli < 0)
        return -1;
    int zone = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int zh = digits(&p, 2), zm = 0;
        if (zh < 0 || zh > 23)
            return -1;
        if (*p == ':')
            p++;
        if (*p) {
            zm = digits(&p, 2);
            if (zm < 0 || zm > 59)
                return -1;
        }
        zone = sign * (zh * 60 + zm);
    }
    if (*p)
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (D > mdays[M - 1] || (M == 2 && D == 29 && !leap))
        return -1;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - (int64_t)zone * 60) * 1000 + milli;
    return 0;
}

/* java.time.Duration.parse: [+-]P[nD][T[nH][nM][n[.n]S]] (case-insensitive,
 * each number may carry a sign).  Milliseconds, -1 on a bad value. */
static int parse_duration(const char *s, int64_t *ms)
{
    const char *p = s;
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (toupper((unsigned char)*p++) != 'P')
        return -1;
    double total = 0;
    bool any = false, in_t = false;
    while (*p) {
        if (toupper((unsigned char)*p) == 'T') {
            if (in_t || !p[1])
                return -1;
            in_t = true;
            p++;
            continue;
        }
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno)
            return -1;
        bool frac = memchr(p, '.', (size_t)(end - p)) != NULL;
        char u = (char)toupper((unsigned char)*end);
        if (!in_t && u == 'D' && !frac)
            total += v * 86400e3;
        else if (in_t && u == 'H' && !frac)
            total += v * 3600e3;
        else if (in_t && u == 'M' && !frac)
            total += v * 60e3;
        else if (in_t && u == 'S')
            total += v * 1e3;
        else
            return -1;
        any = true;
        p = end + 1;
    }
    if (!any)
        return -1;
    *ms = (int64_t)(sign * total);
    return 0;
}

static void clamp_warn(const char *t, int32_t p, int64_t req, int64_t to, bool high)
{
    fprintf(stderr, "WARN: New offset (%" PRId64 ") is %s than %s offset for topic partition %s-%" PRId32
                    ". Value will be set to %" PRId64 ".\n",
            req, high ? "higher" : "lower", high ? "latest" : "earliest", t, p, to);
}

/* Kafka's checkOffsetsRange: clamp each requested offset to [start, end]. */
static void check_range(cg_t *c, rd_kafka_topic_partition_list_t *l)
{
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_topic_partition_t *e = &l->elems[i];
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(c->rk, e->topic, e->partition, &lo, &hi, c->timeout))
            continue;
        if (e->offset > hi) {
            clamp_warn(e->topic, e->partition, e->offset, hi, true);
            e->offset = hi;
        } else if (e->offset < lo) {
            clamp_warn(e->topic, e->partition, e->offset, lo, false);
            e->offset = lo;
        }
    }
}

/* Compute the new offsets of one inactive group into *outp (NULL on error). */
static int prepare_reset(cg_t *c, const char *group, cg_plan_t *plan, rd_kafka_topic_partition_list_t **outp)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16), *cur = NULL, *out = NULL;
    const char *v;
    int rc = -1;
    *outp = NULL;
    if (cli_has(&c->o, "all-topics")) {
        if (!(cur = cg_committed(c, group)))
            goto out;
        for (int i = 0; i < cur->cnt; i++)
            rd_kafka_topic_partition_list_add(parts, cur->elems[i].topic, cur->elems[i].partition);
    } else if (cli_has(&c->o, "topic")) {
        const char **ts;
        int nt = cli_get_all(&c->o, "topic", &ts);
        for (int i = 0; i < nt; i++) {
            if (strchr(ts[i], ':')) {
                if (cg_parse_topic_arg(ts[i], parts) < 0) {
                    c->rc = 1;
                    free(ts);
                    goto out;
                }
                continue;
            }
            const struct rd_kafka_metadata_topic *mt = cg_md_topic(c, ts[i]);
            if (!c->md) {
                free(ts);
                goto out;
            }
            if (!mt) {
                char ex[512];
                cg_kexc(ex, sizeof(ex), RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
                cg_fail(c, "Executing consumer group command failed due to %s (topic '%s')", ex, ts[i]);
                free(ts);
                goto out;
            }
            for (int p = 0; p < mt->partition_cnt; p++)
                rd_kafka_topic_partition_list_add(parts, ts[i], mt->partitions[p].id);
        }
        free(ts);
    }
    /* checkAllTopicPartitionsValid */
    {
        size_t bad_len = 0;
        char bad[1024] = "";
        for (int i = 0; i < parts->cnt; i++) {
            const struct rd_kafka_metadata_topic *mt = cg_md_topic(c, parts->elems[i].topic);
            if (!c->md)
                goto out;
            bool ok = false;
            for (int p = 0; mt && p < mt->partition_cnt; p++)
                ok = ok || mt->partitions[p].id == parts->elems[i].partition;
            if (!ok && bad_len < sizeof(bad) - 1)
                bad_len += (size_t)snprintf(bad + bad_len, sizeof(bad) - bad_len, "%s%s-%" PRId32,
                                            bad_len ? "," : "", parts->elems[i].topic, parts->elems[i].partition);
        }
        if (bad_len) {
            cg_fail(c, "Executing consumer group command failed due to "
                    "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: The partitions \"%s\" do not "
                    "exist",
                    bad);
            goto out;
        }
    }
    out = rd_kafka_topic_partition_list_new(parts->cnt + 1);
    if ((v = cli_get(&c->o, "to-offset"))) {
        int64_t off;
        if (!cg_parse_long(v, &off)) {
            cg_usage_err("Cannot parse argument '%s' of option to-offset", v);
            c->rc = 1;
            goto out;
        }
        for (int i = 0; i < parts->cnt; i++)
            rd_kafka_topic_partition_list_add(out, parts->elems[i].topic, parts->elems[i].partition)->offset = off;
        check_range(c, out);
    } else if (cli_has(&c->o, "to-earliest") || cli_has(&c->o, "to-latest")) {
        bool end = cli_has(&c->o, "to-latest");
        for (int i = 0; i < parts->cnt; i++) {
            int64_t o = cg_log_offset(c, parts->elems[i].topic, parts->elems[i].partition, end);
            if (o < 0) {
                cg_fail(c, "Error getting %s offset of topic partition: %s-%" PRId32, end ? "ending" : "starting",
                        parts->elems[i].topic, parts->elems[i].partition);
                goto out;
            }
            rd_kafka_topic_partition_list_add(out, parts->elems[i].topic, parts->elems[i].partition)->offset = o;
        }
    } else if ((v = cli_get(&c->o, "shift-by"))) {
        int64_t by;
        if (!cg_parse_long(v, &by)) {
            cg_usage_err("Cannot parse argument '%s' of option shift-by", v);
            c->rc = 1;
            goto out;
        }
        if (!(cur = cur ? cur : cg_committed(c, group)))
            goto out;
        for (int i = 0; i < parts->cnt; i++) {
            int64_t o = cg_committed_of(cur, parts->elems[i].topic, parts->elems[i].partition);
            if (o < 0) {
                cg_usage_err("Cannot shift offset for partition %s-%" PRId32 " since there is no current committed "
                             "offset",
                             parts->elems[i].topic, parts->elems[i].partition);
                c->rc = 1;
                goto out;
            }
            rd_kafka_topic_partition_list_add(out, parts->elems[i].topic, parts->elems[i].partition)->offset = o + by;
        }
        check_range(c, out);
    } else if ((v = cli_get(&c->o, "to-datetime")) || (v = cli_get(&c->o, "by-duration"))) {
        int64_t ts;
        if (cli_has(&c->o, "to-datetime")) {
            if (!strchr(v, 'T')) {
                cg_fail(c, "Executing consumer group command failed due to java.text.ParseException: Error parsing "
                        "timestamp. It does not contain a 'T' according to ISO8601 format");
                goto out;
            }
            if (parse_datetime(v, &ts) < 0) {
                cg_fail(c, "Executing consumer group command failed due to java.text.ParseException: Unparseable "
                        "date: \"%s\"",
                        v);
                goto out;
            }
        } else {
            int64_t d;
            if (parse_duration(v, &d) < 0) {
                cg_fail(c, "Executing consumer group command failed due to "
                        "java.time.format.DateTimeParseException: Text cannot be parsed to a Duration");
                goto out;
            }
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            ts = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - d;
        }
        for (int i = 0; i < parts->cnt; i++)
            rd_kafka_topic_partition_list_add(out, parts->elems[i].topic, parts->elems[i].partition)->offset = ts;
        rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(c->rk, out, c->timeout);
        if (err) {
            cg_fail(c, "Executing consumer group command failed due to %s (call: listOffsets)", rd_kafka_err2str(err));
            goto out;
        }
        for (int i = 0; i < out->cnt; i++) {
            rd_kafka_topic_partition_t *e = &out->elems[i];
            if (e->err || e->offset < 0) {
                printf("\nWarn: Partition %" PRId32 " from topic %s is empty. Falling back to latest known offset.\n",
                       e->partition, e->topic);
                e->offset = cg_log_offset(c, e->topic, e->partition, true);
                e->err = 0;
                if (e->offset < 0) {
                    cg_fail(c, "Error getting offset by timestamp of topic partition: %s-%" PRId32, e->topic,
                            e->partition);
                    goto out;
                }
            }
        }
    } else if (plan) {
        rd_kafka_topic_partition_list_t *pg = cg_plan_for(plan, group, false);
        if (!pg) {
            cg_fail(c, "No reset plan for group %s found.", group);
        } else {
            for (int i = 0; i < pg->cnt; i++)
                rd_kafka_topic_partition_list_add(out, pg->elems[i].topic, pg->elems[i].partition)->offset =
                    pg->elems[i].offset;
            check_range(c, out);
        }
    } else if (cli_has(&c->o, "to-current")) {
        if (!(cur = cur ? cur : cg_committed(c, group)))
            goto out;
        for (int i = 0; i < parts->cnt; i++) {
            int64_t o = cg_committed_of(cur, parts->elems[i].topic, parts->elems[i].partition);
            if (o < 0)
                o = cg_log_offset(c, parts->elems[i].topic, parts->elems[i].partition, true);
            if (o < 0) {
                cg_fail(c, "Error getting ending offset of topic partition: %s-%" PRId32, parts->elems[i].topic,
                        parts->elems[i].partition);
                goto out;
            }
            rd_kafka_topic_partition_list_add(out, parts->elems[i].topic, parts->elems[i].partition)->offset = o;
        }
    }
    rd_kafka_topic_partition_list_sort(out, NULL, NULL);
    *outp = out;
    out = NULL;
    rc = 0;
out:
    if (out)
        rd_kafka_topic_partition_list_destroy(out);
    if (cur)
        rd_kafka_topic_partition_list_destroy(cur);
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

static int alter_offsets(cg_t *c, const char *group, const rd_kafka_topic_partition_list_t *l)
{
    if (l->cnt == 0)
        return 0;
    rd_kafka_AlterConsumerGroupOffsets_t *req = rd_kafka_AlterConsumerGroupOffsets_new(group, l);
    rd_kafka_AdminOptions_t *ao = cg_aopts(c, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    rd_kafka_AlterConsumerGroupOffsets(c->rk, &req, 1, ao, c->q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    rd_kafka_event_t *ev = cg_await(c, "alterConsumerGroupOffsets");
    if (!ev)
        return -1;
    size_t n;
    const rd_kafka_group_result_t **gr =
        rd_kafka_AlterConsumerGroupOffsets_result_groups(rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
    int rc = 0;
    char ex[512];
    if (n && rd_kafka_group_result_error(gr[0])) {
        cg_note_err(c, rd_kafka_error_code(rd_kafka_group_result_error(gr[0])));
        cg_kexc(ex, sizeof(ex), rd_kafka_error_code(rd_kafka_group_result_error(gr[0])));
        cg_fail(c, "Executing consumer group command failed due to %s", ex);
        rc = -1;
    } else if (n) {
        const rd_kafka_topic_partition_list_t *p = rd_kafka_group_result_partitions(gr[0]);
        for (int i = 0; p && i < p->cnt; i++)
            if (p->elems[i].err) {
                cg_kexc(ex, sizeof(ex), p->elems[i].err);
                cg_fail(c, "Executing consumer group command failed due to %s (%s-%" PRId32 ")", ex,
                        p->elems[i].topic, p->elems[i].partition);
                rc = -1;
                break;
            }
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

void cg_do_reset(cg_t *c)
{
    cg_glist_t all;
    const char **groups = NULL;
    cg_plan_t plan = {0};
    bool has_plan = false;
    rd_kafka_topic_partition_list_t **res = NULL;
    int n = cg_target_groups(c, &groups, &all);
    if (n <= 0)
        goto out;
    const char *file = cli_get(&c->o, "from-file");
    int ngroup_opts = 0;
    {
        const char **tmp;
        ngroup_opts = cli_get_all(&c->o, "group", &tmp);
        free(tmp);
    }
    if (file) {
        if (cg_load_plan(c, file, ngroup_opts, groups[0], &plan) < 0)
            goto out;
        has_plan = true;
    }
    if (cli_has(&c->o, "undo")) {
        /* the offsets each group had before its last reset, from
         * __consumer_offsets; then as a --from-file plan */
        for (int i = 0; i < n; i++) {
            rd_kafka_topic_partition_list_t *before = NULL;
            int64_t when = -1;
            if (cli_group_last_reset(&c->o, groups[i], &before, &when) != 0) {
                c->rc = 1;
                goto out;
            }
            if (!before) {
                cg_fail(c, "No reset of group '%s' found in __consumer_offsets (compaction keeps at least the last "
                        "hour of commits).", cli_esc(groups[i], GR_JSTR_WIRE));
                goto out;
            }
            rd_kafka_topic_partition_list_t *pg = cg_plan_for(&plan, groups[i], true);
            char t[40];
            time_t secs = (time_t)(when / 1000);
            struct tm tm;
            gmtime_r(&secs, &tm);
            strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
            fprintf(stderr, "Undoing the reset of group '%s' at %s.%03dZ (%d partitions)\n",
                    cli_esc(groups[i], GR_JSTR_WIRE), t, (int)(when % 1000), before->cnt);
            for (int j = 0; j < before->cnt; j++) {
                if (before->elems[j].offset < 0) {
                    fprintf(stderr, "Warn: %s-%d had no committed offset before the reset; left as it is.\n",
                            cli_esc(before->elems[j].topic, GR_JSTR_WIRE), (int)before->elems[j].partition);
                    continue;
                }
                rd_kafka_topic_partition_list_add(pg, before->elems[j].topic, before->elems[j].partition)->offset =
                    before->elems[j].offset;
            }
            rd_kafka_topic_partition_list_destroy(before);
        }
        has_plan = true;
    }
    const rd_kafka_ConsumerGroupDescription_t **ds;
    size_t nd;
    rd_kafka_event_t *ev = cg_describe(c, groups, (size_t)n, &ds, &nd);
    if (!ev)
        goto out;
    bool dry = cli_has(&c->o, "dry-run") || !cli_has(&c->o, "execute");
    res = gr_calloc((size_t)n + 1, sizeof(*res));
    for (int i = 0; i < n; i++) {
        const rd_kafka_ConsumerGroupDescription_t *d = NULL;
        for (size_t j = 0; j < nd; j++)
            if (!strcmp(rd_kafka_ConsumerGroupDescription_group_id(ds[j]), groups[i]))
                d = ds[j];
        const rd_kafka_error_t *e = d ? rd_kafka_ConsumerGroupDescription_error(d) : NULL;
        rd_kafka_consumer_group_state_t st = d ? rd_kafka_ConsumerGroupDescription_state(d)
                                               : RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN;
        bool inactive = st == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY || st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD ||
                        (e && rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND);
        if (e && !inactive) {
            cg_note_err(c, rd_kafka_error_code(e));
            cg_fail(c, "Executing consumer group command failed due to %s", rd_kafka_error_string(e));
            break;
        }
        if (!inactive) {
            cg_fail(c, "Assignments can only be reset if the group '%s' is inactive, but the current state is %s.",
                    groups[i], rd_kafka_consumer_group_state_name(st));
            res[i] = rd_kafka_topic_partition_list_new(0);
            continue;
        }
        if (prepare_reset(c, groups[i], has_plan ? &plan : NULL, &res[i]) < 0)
            break;
        if (!dry && alter_offsets(c, groups[i], res[i]) < 0)
            break;
    }
    rd_kafka_event_destroy(ev);
    fflush(stderr);
    if (c->rc && !res[0])
        goto out;
    if (cli_has(&c->o, "export")) {
        bool single = ngroup_opts == 1;
        for (int i = 0; i < n; i++)
            for (int j = 0; res[i] && j < res[i]->cnt; j++) {
                if (!single) {
                    cg_csv_field(stdout, groups[i]);
                    putchar(',');
                }
                cg_csv_field(stdout, res[i]->elems[j].topic);
                printf(",%" PRId32 ",%" PRId64 "\n", res[i]->elems[j].partition, res[i]->elems[j].offset);
            }
        printf("\n");
    } else {
        size_t wg = 15, wt = 15, ng = 0;
        for (int i = 0; i < n; i++) {
            if (!res[i])
                continue;
            ng++;
            wg = cg_maxz(wg, strlen(groups[i]));
            for (int j = 0; j < res[i]->cnt; j++)
                wt = cg_maxz(wt, strlen(res[i]->elems[j].topic));
        }
        if (ng)
            printf("\n%-*s %-*s %-10s %s", (int)wg, "GROUP", (int)wt, "TOPIC", "PARTITION", "NEW-OFFSET");
        for (int i = 0; i < n; i++)
            for (int j = 0; res[i] && j < res[i]->cnt; j++)
                printf("\n%-*s %-*s %-10" PRId32 " %" PRId64, (int)wg, groups[i], (int)wt, res[i]->elems[j].topic,
                       res[i]->elems[j].partition, res[i]->elems[j].offset);
        printf("\n");
    }
out:
    for (int i = 0; res && i < n; i++)
        if (res[i])
            rd_kafka_topic_partition_list_destroy(res[i]);
    free(res);
    cg_plan_free(&plan);
    free(groups);
    cg_glist_free(&all);
}
