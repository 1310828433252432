/*
 * consumer_groups.c - `gregor consumer-groups`, the kafka-consumer-groups.sh
 * of gregor: list, describe, reset offsets of, delete consumer groups and
 * delete their offsets, plus --history (history.c).
 *
 * A librdkafka client: one consumer handle (no group.id, never subscribes)
 * carries the Admin API calls (ListConsumerGroups, DescribeConsumerGroups,
 * ListConsumerGroupOffsets, AlterConsumerGroupOffsets, DeleteGroups,
 * DeleteConsumerGroupOffsets), metadata, watermark and offsets-for-times
 * queries.  Nothing here speaks the protocol by hand.
 *
 * Output follows Apache Kafka's ConsumerGroupCommand byte for byte where a
 * script could parse it: the same headers, the same printf-style column
 * widths (fixed minimums that grow to the longest value), "-" for a missing
 * value, a blank line before each table, the state banners on stderr.
 * Differences, on purpose:
 *   - errors ("Error: ...") go to stderr and make the exit status 1
 *     (Kafka prints some of them on stdout and exits 0);
 *   - option errors print one "Error: <Kafka's message>" line, not the usage;
 *   - LEADER-EPOCH (--verbose) is always "-": librdkafka 2.0.2 does not
 *     expose the committed leader epoch;
 *   - offset clamping warnings are "WARN: <Kafka's message>" on stderr
 *     (Kafka logs them through log4j).
 */
#include "cli.h"
#include "history.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MISSING "-"

static const cli_optdef_t defs[] = {
    {"bootstrap-server", true, false, "REQUIRED: The server(s) to connect to."},
    {"command-config", true, false, "Property file containing configs to be passed to Admin Client and Consumer."},
    {"timeout", true, false, "Timeout (ms) of each request (default 5000)."},
    {"list", false, false, "List all consumer groups."},
    {"describe", false, false, "Describe consumer group and list offset lag related to given group."},
    {"delete", false, false, "Pass in groups to delete topic partition offsets and ownership information over the "
                             "entire consumer group. For instance --group g1 --group g2"},
    {"reset-offsets", false, false, "Reset offsets of consumer group (dry run unless --execute)."},
    {"delete-offsets", false, false, "Delete offsets of consumer group. Supports one consumer group at the time, "
                                     "and multiple topics."},
    {"history", false, false, "Print the timeline of one group from __consumer_offsets (see below)."},
    {"group", true, false, "The consumer group we wish to act on (repeatable)."},
    {"all-groups", false, false, "Apply to all consumer groups."},
    {"topic", true, false, "Topic (repeatable); for reset-offsets also topic:0,1,2."},
    {"all-topics", false, false, "Consider all topics assigned to a group in the `reset-offsets` process."},
    {"offsets", false, false, "Describe: partitions with offsets and lag (default)."},
    {"members", false, false, "Describe: members of the group."},
    {"state", true, true, "Describe: state of the group. List: show states, or only those given (stable,empty)."},
    {"verbose", false, false, "Provide additional information, if any, when describing the group."},
    {"dry-run", false, false, "Only show results without executing changes (default)."},
    {"execute", false, false, "Execute operation. Supported operations: reset-offsets."},
    {"export", false, false, "Export operation execution to a CSV format. Supported operations: reset-offsets."},
    {"to-earliest", false, false, "Reset offsets to earliest offset."},
    {"to-latest", false, false, "Reset offsets to latest offset."},
    {"to-current", false, false, "Reset offsets to current offset."},
    {"to-offset", true, false, "Reset offsets to a specific offset."},
    {"shift-by", true, false, "Reset offsets shifting current offset by 'n', where 'n' can be positive or negative."},
    {"to-datetime", true, false, "Reset offsets to offset from datetime. Format: 'YYYY-MM-DDTHH:mm:SS.sss' "
                                 "(optional zone Z, +hh, +hhmm, +hh:mm; UTC if none)"},
    {"by-duration", true, false, "Reset offsets to offset by duration from current timestamp. Format: 'PnDTnHnMnS'"},
    {"from-file", true, false, "Reset offsets to values defined in CSV file."},
    {"help", false, false, "Print usage information."},
    {NULL, false, false, NULL},
};

typedef struct cg {
    cli_opts_t o;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    int timeout;
    const struct rd_kafka_metadata *md;   /* all topics; fetched on first use */
    int rc;                               /* exit status */
    bool no_destroy;                      /* see note_err() */
} cg_t;

/* ------------------------------------------------------------------ errors */

/* Kafka's exception class and message for the errors a group command meets,
 * so error lines read like the Java tool's. */
static const struct {
    rd_kafka_resp_err_t err;
    const char *cls, *msg;
} kerrs[] = {
    {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "UnknownTopicOrPartitionException",
     "This server does not host this topic-partition."},
    {RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, "CoordinatorNotAvailableException",
     "The coordinator is not available."},
    {RD_KAFKA_RESP_ERR_NOT_COORDINATOR, "NotCoordinatorException", "This is not the correct coordinator."},
    {RD_KAFKA_RESP_ERR_INVALID_GROUP_ID, "InvalidGroupIdException", "The configured groupId is invalid."},
    {RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, "UnknownMemberIdException", "The coordinator is not aware of this member."},
    {RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, "RebalanceInProgressException",
     "The group is rebalancing, so a rejoin is needed."},
    {RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, "GroupAuthorizationException", "Group authorization failed."},
    {RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP, "GroupNotEmptyException", "The group is not empty."},
    {RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND, "GroupIdNotFoundException", "The group id does not exist."},
    {RD_KAFKA_RESP_ERR_GROUP_SUBSCRIBED_TO_TOPIC, "GroupSubscribedToTopicException",
     "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it."},
};

static const char *kmsg(rd_kafka_resp_err_t err)
{
    for (size_t i = 0; i < sizeof(kerrs) / sizeof(kerrs[0]); i++)
        if (kerrs[i].err == err)
            return kerrs[i].msg;
    return rd_kafka_err2str(err);
}

/* "org.apache.kafka.common.errors.X: message" like Java's Throwable.toString() */
static void kexc(char *buf, size_t n, rd_kafka_resp_err_t err)
{
    for (size_t i = 0; i < sizeof(kerrs) / sizeof(kerrs[0]); i++)
        if (kerrs[i].err == err) {
            snprintf(buf, n, "org.apache.kafka.common.errors.%s: %s", kerrs[i].cls, kerrs[i].msg);
            return;
        }
    snprintf(buf, n, "%s", rd_kafka_err2str(err));
}

/* librdkafka 2.0.2 hangs or asserts (rd_kafka_enq_once_del_source_return)
 * in rd_kafka_destroy() after an admin request failed because the broker
 * lacks the API (seen with its own mock cluster): the process is about to
 * exit, so the handle is then left to the OS. */
static void note_err(cg_t *c, rd_kafka_resp_err_t err)
{
    if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE)
        c->no_destroy = true;
}

static void fail(cg_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(cg_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_verr(fmt, ap);
    va_end(ap);
    c->rc = 1;
}

/* option error: Kafka's printUsageAndExit message, one line */
static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("Error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------------ client */

static rd_kafka_AdminOptions_t *aopts(cg_t *c, rd_kafka_admin_op_t op)
{
    char errstr[256];
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(c->rk, op);
    rd_kafka_AdminOptions_set_request_timeout(ao, c->timeout, errstr, sizeof(errstr));
    return ao;
}

/* Wait for the result of the admin call just issued; NULL after an error line. */
static rd_kafka_event_t *await(cg_t *c, const char *call)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(c->q, c->timeout + 5000);
    if (!ev) {
        fail(c, "Executing consumer group command failed due to Timed out waiting for a node assignment. "
                "Call: %s", call);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        note_err(c, rd_kafka_event_error(ev));
        fail(c, "Executing consumer group command failed due to %s (call: %s)", rd_kafka_event_error_string(ev),
             call);
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

static const struct rd_kafka_metadata *metadata(cg_t *c)
{
    if (!c->md) {
        rd_kafka_resp_err_t err = rd_kafka_metadata(c->rk, 1, NULL, &c->md, c->timeout);
        if (err) {
            fail(c, "Executing consumer group command failed due to %s (call: describeTopics)",
                 rd_kafka_err2str(err));
            c->md = NULL;
        }
    }
    return c->md;
}

static const struct rd_kafka_metadata_topic *md_topic(cg_t *c, const char *topic)
{
    const struct rd_kafka_metadata *md = metadata(c);
    for (int i = 0; md && i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, topic) && !md->topics[i].err)
            return &md->topics[i];
    return NULL;
}

/* latest (end) or earliest offset of a partition, -1 if unknown */
static int64_t log_offset(cg_t *c, const char *topic, int32_t part, bool end)
{
    int64_t lo, hi;
    if (rd_kafka_query_watermark_offsets(c->rk, topic, part, &lo, &hi, c->timeout))
        return -1;
    return end ? hi : lo;
}

/* ------------------------------------------------------------------ groups */

typedef struct glist {
    char **name;
    rd_kafka_consumer_group_state_t *state;
    size_t n;
} glist_t;

static void glist_free(glist_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->name[i]);
    free(g->name);
    free(g->state);
    memset(g, 0, sizeof(*g));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* All consumer groups, sorted by name. */
static int list_groups(cg_t *c, glist_t *out)
{
    memset(out, 0, sizeof(*out));
    rd_kafka_AdminOptions_t *ao = aopts(c, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
    rd_kafka_ListConsumerGroups(c->rk, ao, c->q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_event_t *ev = await(c, "listConsumerGroups");
    if (!ev)
        return -1;
    const rd_kafka_ListConsumerGroups_result_t *res = rd_kafka_event_ListConsumerGroups_result(ev);
    size_t nv, ne;
    const rd_kafka_ConsumerGroupListing_t **v = rd_kafka_ListConsumerGroups_result_valid(res, &nv);
    const rd_kafka_error_t **e = rd_kafka_ListConsumerGroups_result_errors(res, &ne);
    if (ne && !nv) {
        fail(c, "Executing consumer group command failed due to %s (call: listConsumerGroups)",
             rd_kafka_error_string(e[0]));
        rd_kafka_event_destroy(ev);
        return -1;
    }
    /* sort by name, carrying the state along */
    char **names = gr_calloc(nv + 1, sizeof(char *));
    for (size_t i = 0; i < nv; i++) {
        const char *id = rd_kafka_ConsumerGroupListing_group_id(v[i]);
        size_t l = strlen(id);
        names[i] = gr_malloc(l + 2);
        memcpy(names[i], id, l + 1);
        names[i][l + 1] = (char)rd_kafka_ConsumerGroupListing_state(v[i]);   /* stash behind the NUL */
    }
    qsort(names, nv, sizeof(char *), cmp_str);
    out->name = names;
    out->state = gr_calloc(nv + 1, sizeof(*out->state));
    for (size_t i = 0; i < nv; i++)
        out->state[i] = (rd_kafka_consumer_group_state_t)names[i][strlen(names[i]) + 1];
    out->n = nv;
    rd_kafka_event_destroy(ev);
    return 0;
}

/* The groups named by --group, or all of them with --all-groups.
 * *vals is malloc'ed; with --all-groups its strings live in *all. */
static int target_groups(cg_t *c, const char ***vals, glist_t *all)
{
    memset(all, 0, sizeof(*all));
    if (cli_has(&c->o, "all-groups")) {
        if (list_groups(c, all) < 0)
            return -1;
        *vals = gr_calloc(all->n + 1, sizeof(char *));
        for (size_t i = 0; i < all->n; i++)
            (*vals)[i] = all->name[i];
        return (int)all->n;
    }
    return cli_get_all(&c->o, "group", vals);
}

/* DescribeConsumerGroups; the event owns the descriptions. */
static rd_kafka_event_t *describe(cg_t *c, const char **groups, size_t n,
                                  const rd_kafka_ConsumerGroupDescription_t ***descs, size_t *cnt)
{
    rd_kafka_AdminOptions_t *ao = aopts(c, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_DescribeConsumerGroups(c->rk, groups, n, ao, c->q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_event_t *ev = await(c, "describeConsumerGroups");
    if (!ev)
        return NULL;
    *descs = rd_kafka_DescribeConsumerGroups_result_groups(rd_kafka_event_DescribeConsumerGroups_result(ev), cnt);
    return ev;
}

/* committed offsets of a group (sorted), NULL after an error line */
static rd_kafka_topic_partition_list_t *committed(cg_t *c, const char *group)
{
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
    rd_kafka_AdminOptions_t *ao = aopts(c, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_ListConsumerGroupOffsets(c->rk, &req, 1, ao, c->q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_event_t *ev = await(c, "listConsumerGroupOffsets");
    if (!ev)
        return NULL;
    size_t n;
    const rd_kafka_group_result_t **gr =
        rd_kafka_ListConsumerGroupOffsets_result_groups(rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    rd_kafka_topic_partition_list_t *out = NULL;
    if (n < 1) {
        fail(c, "no offsets result for group '%s'", group);
    } else if (rd_kafka_group_result_error(gr[0])) {
        note_err(c, rd_kafka_error_code(rd_kafka_group_result_error(gr[0])));
        fail(c, "Executing consumer group command failed due to %s",
             rd_kafka_error_string(rd_kafka_group_result_error(gr[0])));
    } else {
        const rd_kafka_topic_partition_list_t *p = rd_kafka_group_result_partitions(gr[0]);
        out = rd_kafka_topic_partition_list_new(p ? p->cnt : 0);
        for (int i = 0; p && i < p->cnt; i++)
            if (!p->elems[i].err && p->elems[i].offset >= 0)
                rd_kafka_topic_partition_list_add(out, p->elems[i].topic, p->elems[i].partition)->offset =
                    p->elems[i].offset;
        rd_kafka_topic_partition_list_sort(out, NULL, NULL);
    }
    rd_kafka_event_destroy(ev);
    return out;
}

static int64_t committed_of(const rd_kafka_topic_partition_list_t *l, const char *t, int32_t p)
{
    const rd_kafka_topic_partition_t *e = rd_kafka_topic_partition_list_find(l, t, p);
    return e ? e->offset : -1;
}

static bool is_rebalancing(rd_kafka_consumer_group_state_t s)
{
    return s == RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE ||
           s == RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE;
}

/* Kafka's shouldPrintMemberState: banner or error; true if rows follow. */
static bool print_state_banner(cg_t *c, const char *group, rd_kafka_consumer_group_state_t st, size_t rows)
{
    group = cli_esc(group, GR_JSTR_WIRE);
    if (st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD || st == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN) {
        fail(c, "Consumer group '%s' does not exist.", group);
        return false;
    }
    fflush(stdout);
    if (st == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY)
        fprintf(stderr, "\nConsumer group '%s' has no active members.\n", group);
    else if (is_rebalancing(st))
        fprintf(stderr, "\nWarning: Consumer group '%s' is rebalancing.\n", group);
    fflush(stderr);
    return rows > 0;
}

static size_t maxz(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* ---- --describe --offsets ---- */

typedef struct orow {
    const char *topic;
    int32_t part;
    int64_t off, leo;
    const char *cid, *host, *client;
} orow_t;

typedef struct mref {
    const rd_kafka_MemberDescription_t *m;
    int n, idx;
} mref_t;

static int cmp_mref(const void *a, const void *b)
{
    const mref_t *x = a, *y = b;
    if (x->n != y->n)
        return y->n - x->n;           /* most partitions first */
    return x->idx - y->idx;           /* stable */
}

static const rd_kafka_topic_partition_list_t *member_parts(const rd_kafka_MemberDescription_t *m)
{
    const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(m);
    return a ? rd_kafka_MemberAssignment_partitions(a) : NULL;
}

static void num_or_missing(char *buf, size_t n, int64_t v)
{
    if (v < 0)
        snprintf(buf, n, MISSING);
    else
        snprintf(buf, n, "%" PRId64, v);
}

static void describe_offsets(cg_t *c, const rd_kafka_ConsumerGroupDescription_t *d, bool verbose)
{
    const char *group = rd_kafka_ConsumerGroupDescription_group_id(d);
    rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(d);
    if (st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
        print_state_banner(c, group, st, 0);
        return;
    }
    rd_kafka_topic_partition_list_t *co = committed(c, group);
    if (!co)
        return;
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d);
    mref_t *ms = gr_calloc(nm + 1, sizeof(mref_t));
    size_t cap = (size_t)co->cnt + 1, nr = 0, nms = 0;
    for (size_t i = 0; i < nm; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        const rd_kafka_topic_partition_list_t *p = member_parts(m);
        if (!p || p->cnt == 0)
            continue;
        ms[nms++] = (mref_t){m, p->cnt, (int)i};
        cap += (size_t)p->cnt;
    }
    qsort(ms, nms, sizeof(mref_t), cmp_mref);
    orow_t *rows = gr_calloc(cap, sizeof(orow_t));
    rd_kafka_topic_partition_list_t *assigned = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < nms; i++) {
        rd_kafka_topic_partition_list_t *p = rd_kafka_topic_partition_list_copy(member_parts(ms[i].m));
        rd_kafka_topic_partition_list_sort(p, NULL, NULL);
        for (int j = 0; j < p->cnt; j++) {
            const char *t = p->elems[j].topic;
            int32_t pp = p->elems[j].partition;
            rd_kafka_topic_partition_list_add(assigned, t, pp);
            const rd_kafka_topic_partition_t *ce = rd_kafka_topic_partition_list_find(co, t, pp);
            rows[nr++] = (orow_t){.topic = NULL, .part = pp, .off = ce ? ce->offset : -1,
                                  .leo = log_offset(c, t, pp, true),
                                  .cid = cli_esc(rd_kafka_MemberDescription_consumer_id(ms[i].m), GR_JSTR_WIRE),
                                  .host = cli_esc(rd_kafka_MemberDescription_host(ms[i].m), GR_JSTR_WIRE),
                                  .client = cli_esc(rd_kafka_MemberDescription_client_id(ms[i].m), GR_JSTR_WIRE)};
            /* topic strings must outlive p: point at the assignment list's copy */
            const rd_kafka_topic_partition_t *orig =
                rd_kafka_topic_partition_list_find(member_parts(ms[i].m), t, pp);
            rows[nr - 1].topic = cli_esc(orig->topic, GR_JSTR_WIRE);
        }
        rd_kafka_topic_partition_list_destroy(p);
    }
    for (int j = 0; j < co->cnt; j++) {
        const rd_kafka_topic_partition_t *e = &co->elems[j];
        if (rd_kafka_topic_partition_list_find(assigned, e->topic, e->partition))
            continue;
        rows[nr++] = (orow_t){cli_esc(e->topic, GR_JSTR_WIRE), e->partition, e->offset,
                              log_offset(c, e->topic, e->partition, true), MISSING, MISSING, MISSING};
    }
    if (print_state_banner(c, group, st, nr)) {
        group = cli_esc(group, GR_JSTR_WIRE);
        size_t wg = maxz(15, strlen(group)), wt = 15, wc = 15, wh = 15;
        for (size_t i = 0; i < nr; i++) {
            wt = maxz(wt, strlen(rows[i].topic));
            wc = maxz(wc, strlen(rows[i].cid));
            wh = maxz(wh, strlen(rows[i].host));
        }
        if (verbose)
            printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-15s %-*s %-*s %s", (int)wg, "GROUP", (int)wt, "TOPIC",
                   "PARTITION", "LEADER-EPOCH", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", (int)wc, "CONSUMER-ID",
                   (int)wh, "HOST", "CLIENT-ID");
        else
            printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-*s %-*s %s", (int)wg, "GROUP", (int)wt, "TOPIC",
                   "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", (int)wc, "CONSUMER-ID", (int)wh, "HOST",
                   "CLIENT-ID");
        for (size_t i = 0; i < nr; i++) {
            char off[24], leo[24], lag[24], part[16];
            snprintf(part, sizeof(part), "%" PRId32, rows[i].part);
            num_or_missing(off, sizeof(off), rows[i].off);
            num_or_missing(leo, sizeof(leo), rows[i].leo);
            if (rows[i].off >= 0 && rows[i].leo >= 0)
                snprintf(lag, sizeof(lag), "%" PRId64, rows[i].leo - rows[i].off);
            else
                snprintf(lag, sizeof(lag), MISSING);
            if (verbose)
                printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-15s %-*s %-*s %s", (int)wg, group, (int)wt,
                       rows[i].topic, part, MISSING, off, leo, lag, (int)wc, rows[i].cid, (int)wh, rows[i].host,
                       rows[i].client);
            else
                printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-*s %-*s %s", (int)wg, group, (int)wt, rows[i].topic,
                       part, off, leo, lag, (int)wc, rows[i].cid, (int)wh, rows[i].host, rows[i].client);
        }
        printf("\n");
    }
    rd_kafka_topic_partition_list_destroy(assigned);
    rd_kafka_topic_partition_list_destroy(co);
    free(rows);
    free(ms);
}

/* ---- --describe --members ---- */

/* "t1:0,1;t2:3" (topics sorted, partitions sorted); caller frees */
static char *assignment_str(const rd_kafka_topic_partition_list_t *p)
{
    if (!p || p->cnt == 0)
        return gr_strdup(MISSING);
    rd_kafka_topic_partition_list_t *s = rd_kafka_topic_partition_list_copy(p);
    rd_kafka_topic_partition_list_sort(s, NULL, NULL);
    size_t cap = 64, len = 0;
    char *out = gr_malloc(cap);
    out[0] = '\0';
    for (int i = 0; i < s->cnt; i++) {
        bool newt = i == 0 || strcmp(s->elems[i].topic, s->elems[i - 1].topic);
        const char *topic = cli_esc(s->elems[i].topic, GR_JSTR_WIRE);
        size_t need = strlen(topic) + 16;
        if (len + need >= cap) {
            cap = (len + need) * 2;
            out = gr_realloc(out, cap);
        }
        if (newt)
            len += (size_t)sprintf(out + len, "%s%s:%" PRId32, i ? ";" : "", topic, s->elems[i].partition);
        else
            len += (size_t)sprintf(out + len, ",%" PRId32, s->elems[i].partition);
    }
    rd_kafka_topic_partition_list_destroy(s);
    return out;
}

/* The strings of a member as they may be printed. */
static const char *m_cid(const rd_kafka_MemberDescription_t *m)
{
    return cli_esc(rd_kafka_MemberDescription_consumer_id(m), GR_JSTR_WIRE);
}

static const char *m_host(const rd_kafka_MemberDescription_t *m)
{
    return cli_esc(rd_kafka_MemberDescription_host(m), GR_JSTR_WIRE);
}

static const char *m_client(const rd_kafka_MemberDescription_t *m)
{
    return cli_esc(rd_kafka_MemberDescription_client_id(m), GR_JSTR_WIRE);
}

static const char *m_instance(const rd_kafka_MemberDescription_t *m)
{
    return cli_esc(rd_kafka_MemberDescription_group_instance_id(m), GR_JSTR_WIRE);
}

static void describe_members(cg_t *c, const rd_kafka_ConsumerGroupDescription_t *d, bool verbose)
{
    const char *group = rd_kafka_ConsumerGroupDescription_group_id(d);
    rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(d);
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d);
    size_t wg = 15, wc = 15, wi = 17, wh = 15, wcl = 15, wca = 20, wta = 20;
    bool inst = false;
    if (st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
        print_state_banner(c, group, st, 0);
        return;
    }
    char **as = gr_calloc(nm + 1, sizeof(char *));
    if (print_state_banner(c, group, st, nm)) {
        for (size_t i = 0; i < nm; i++) {
            const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
            const char *gi = m_instance(m);
            wg = maxz(wg, strlen(cli_esc(group, GR_JSTR_WIRE)));
            wc = maxz(wc, strlen(m_cid(m)));
            wi = maxz(wi, gi ? strlen(gi) : 0);
            wh = maxz(wh, strlen(m_host(m)));
            wcl = maxz(wcl, strlen(m_client(m)));
            inst = inst || (gi && *gi);
            as[i] = assignment_str(member_parts(m));
            wca = maxz(wca, strlen(as[i]));
        }
    }
    /* Kafka prints the header even when there are no members */
    if (inst)
        printf("\n%-*s %-*s %-*s %-*s %-*s %-15s ", (int)wg, "GROUP", (int)wc, "CONSUMER-ID", (int)wi,
               "GROUP-INSTANCE-ID", (int)wh, "HOST", (int)wcl, "CLIENT-ID", "#PARTITIONS");
    else
        printf("\n%-*s %-*s %-*s %-*s %-15s ", (int)wg, "GROUP", (int)wc, "CONSUMER-ID", (int)wh, "HOST", (int)wcl,
               "CLIENT-ID", "#PARTITIONS");
    if (verbose)
        printf("%-15s %-*s %-15s %-*s", "CURRENT-EPOCH", (int)wca, "CURRENT-ASSIGNMENT", "TARGET-EPOCH", (int)wta,
               "TARGET-ASSIGNMENT");
    printf("\n");
    group = cli_esc(group, GR_JSTR_WIRE);
    for (size_t i = 0; i < nm && as[i]; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        const rd_kafka_topic_partition_list_t *p = member_parts(m);
        const char *gi = m_instance(m);
        char np[16];
        snprintf(np, sizeof(np), "%d", p ? p->cnt : 0);
        if (inst)
            printf("%-*s %-*s %-*s %-*s %-*s %-15s ", (int)wg, group, (int)wc, m_cid(m), (int)wi, gi ? gi : "",
                   (int)wh, m_host(m), (int)wcl, m_client(m), np);
        else
            printf("%-*s %-*s %-*s %-*s %-15s ", (int)wg, group, (int)wc, m_cid(m), (int)wh, m_host(m), (int)wcl,
                   m_client(m), np);
        if (verbose)
            printf("%-15s %-*s %-15s %-*s", MISSING, (int)wca, as[i], MISSING, (int)wta, MISSING);
        printf("\n");
    }
    for (size_t i = 0; i < nm; i++)
        free(as[i]);
    free(as);
}

/* ---- --describe --state ---- */

static void describe_state(cg_t *c, const rd_kafka_ConsumerGroupDescription_t *d, bool verbose)
{
    const char *group = rd_kafka_ConsumerGroupDescription_group_id(d);
    rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(d);
    if (!print_state_banner(c, group, st, 1))
        return;
    group = cli_esc(group, GR_JSTR_WIRE);
    const rd_kafka_Node_t *n = rd_kafka_ConsumerGroupDescription_coordinator(d);
    char coord[300];
    if (n)
        snprintf(coord, sizeof(coord), "%s:%u  (%d)", rd_kafka_Node_host(n), (unsigned)rd_kafka_Node_port(n),
                 rd_kafka_Node_id(n));
    else
        snprintf(coord, sizeof(coord), MISSING);
    const char *as = cli_esc(rd_kafka_ConsumerGroupDescription_partition_assignor(d), GR_JSTR_WIRE);
    if (!as || !*as)
        as = MISSING;
    int wc = (int)maxz(25, strlen(coord)), wg = (int)maxz(15, strlen(group));
    char nm[16];
    snprintf(nm, sizeof(nm), "%zu", rd_kafka_ConsumerGroupDescription_member_count(d));
    const char *sn = rd_kafka_consumer_group_state_name(st);
    if (verbose) {
        printf("\n%-*s %-*s %-20s %-20s %-15s %-25s %s", wg, "GROUP", wc, "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY",
               "STATE", "GROUP-EPOCH", "TARGET-ASSIGNMENT-EPOCH", "#MEMBERS");
        printf("\n%-*s %-*s %-20s %-20s %-15s %-25s %s", wg, group, wc, coord, as, sn, MISSING, MISSING, nm);
    } else {
        printf("\n%-*s %-*s %-20s %-20s %s", wg, "GROUP", wc, "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE",
               "#MEMBERS");
        printf("\n%-*s %-*s %-20s %-20s %s", wg, group, wc, coord, as, sn, nm);
    }
    printf("\n");
}

static int cmp_desc(const void *a, const void *b)
{
    return strcmp(rd_kafka_ConsumerGroupDescription_group_id(*(const rd_kafka_ConsumerGroupDescription_t *const *)a),
                  rd_kafka_ConsumerGroupDescription_group_id(*(const rd_kafka_ConsumerGroupDescription_t *const *)b));
}

static void do_describe(cg_t *c)
{
    glist_t all;
    const char **groups = NULL;
    int n = target_groups(c, &groups, &all);
    if (n < 0)
        goto out;
    if (n == 0)
        goto out;
    const rd_kafka_ConsumerGroupDescription_t **ds;
    size_t nd;
    rd_kafka_event_t *ev = describe(c, groups, (size_t)n, &ds, &nd);
    if (!ev)
        goto out;
    /* Kafka prints groups in name order (TreeMap) */
    const rd_kafka_ConsumerGroupDescription_t **sorted = gr_calloc(nd + 1, sizeof(*sorted));
    memcpy(sorted, ds, nd * sizeof(*sorted));
    qsort(sorted, nd, sizeof(*sorted), cmp_desc);
    bool verbose = cli_has(&c->o, "verbose");
    for (size_t i = 0; i < nd; i++) {
        const rd_kafka_error_t *e = rd_kafka_ConsumerGroupDescription_error(sorted[i]);
        if (e) {
            note_err(c, rd_kafka_error_code(e));
            if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND)
                fail(c, "Consumer group '%s' does not exist.", rd_kafka_ConsumerGroupDescription_group_id(sorted[i]));
            else
                fail(c, "Executing consumer group command failed due to %s", rd_kafka_error_string(e));
            continue;
        }
        if (cli_has(&c->o, "members"))
            describe_members(c, sorted[i], verbose);
        else if (cli_has(&c->o, "state"))
            describe_state(c, sorted[i], verbose);
        else
            describe_offsets(c, sorted[i], verbose);
        fflush(stdout);
    }
    free(sorted);
    rd_kafka_event_destroy(ev);
out:
    free(groups);
    glist_free(&all);
}

/* ---- --list ---- */

static int parse_states(const char *v, bool want[RD_KAFKA_CONSUMER_GROUP_STATE__CNT])
{
    char *dup = gr_strdup(v), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok))
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && isspace((unsigned char)e[-1]))
            *--e = '\0';
        int found = -1;
        for (int s = 1; s < RD_KAFKA_CONSUMER_GROUP_STATE__CNT; s++)
            if (!strcasecmp(tok, rd_kafka_consumer_group_state_name((rd_kafka_consumer_group_state_t)s)))
                found = s;
        if (found < 0) {
            usage_err("Invalid state list '%s'. Valid states are: PreparingRebalance, CompletingRebalance, Stable, "
                      "Dead, Empty", v);
            rc = -1;
            break;
        }
        want[found] = true;
    }
    free(dup);
    return rc;
}

static void do_list(cg_t *c)
{
    bool want[RD_KAFKA_CONSUMER_GROUP_STATE__CNT] = {false};
    bool with_state = cli_has(&c->o, "state");
    const char *sv = cli_get(&c->o, "state");
    bool filter = sv && *sv;
    if (filter && parse_states(sv, want) < 0) {
        c->rc = 1;
        return;
    }
    glist_t g;
    if (list_groups(c, &g) < 0)
        return;
    if (!with_state) {
        for (size_t i = 0; i < g.n; i++)
            printf("%s\n", cli_esc(g.name[i], GR_JSTR_WIRE));
    } else {
        size_t w = 15;
        for (size_t i = 0; i < g.n; i++)
            if (!filter || want[g.state[i]])
                w = maxz(w, strlen(cli_esc(g.name[i], GR_JSTR_WIRE)));
        w += 10;
        printf("%-*s %-20s\n", (int)w, "GROUP", "STATE");
        for (size_t i = 0; i < g.n; i++)
            if (!filter || want[g.state[i]])
                printf("%-*s %-20s\n", (int)w, cli_esc(g.name[i], GR_JSTR_WIRE),
                       rd_kafka_consumer_group_state_name(g.state[i]));
    }
    glist_free(&g);
}

/* librdkafka 2.0.2's Admin API mishandles a broker without the group APIs
 * (e.g. its own mock cluster): after the request fails, a background thread
 * may abort (rd_kafka_enq_once_del_source_return assertion) or
 * rd_kafka_destroy() hangs.  The legacy rd_kafka_list_groups() fails cleanly
 * there, so every action asks DescribeGroups for a probe group through it
 * first; it also turns an unreachable cluster into one error line. */
static int probe_group_apis(cg_t *c)
{
    const struct rd_kafka_group_list *gl = NULL;
    rd_kafka_resp_err_t err = rd_kafka_list_groups(c->rk, "__gregor_probe", &gl, c->timeout);
    if (gl)
        rd_kafka_group_list_destroy(gl);
    if (!err || err == RD_KAFKA_RESP_ERR__PARTIAL)
        return 0;
    if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE)
        fail(c, "Executing consumer group command failed due to %s (the broker does not serve the group admin "
                "APIs: DescribeGroups)", rd_kafka_err2str(err));
    else
        fail(c, "Executing consumer group command failed due to %s (no broker answered within %d ms)",
             rd_kafka_err2str(err), c->timeout);
    return -1;
}

/* ---- --delete ---- */

static void do_delete(cg_t *c)
{
    glist_t all;
    const char **groups = NULL;
    int n = target_groups(c, &groups, &all);
    if (n <= 0)
        goto out;
    rd_kafka_DeleteGroup_t **dg = gr_calloc((size_t)n, sizeof(*dg));
    for (int i = 0; i < n; i++)
        dg[i] = rd_kafka_DeleteGroup_new(groups[i]);
    rd_kafka_AdminOptions_t *ao = aopts(c, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
    rd_kafka_DeleteGroups(c->rk, dg, (size_t)n, ao, c->q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_DeleteGroup_destroy_array(dg, (size_t)n);
    free(dg);
    rd_kafka_event_t *ev = await(c, "deleteConsumerGroups");
    if (!ev)
        goto out;
    size_t nr;
    const rd_kafka_group_result_t **gr = rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &nr);
    size_t nfail = 0;
    for (size_t i = 0; i < nr; i++)
        nfail += rd_kafka_group_result_error(gr[i]) != NULL;
    if (!nfail) {
        printf("Deletion of requested consumer groups (");
        for (size_t i = 0; i < nr; i++)
            printf("%s'%s'", i ? ", " : "", cli_esc(rd_kafka_group_result_name(gr[i]), GR_JSTR_WIRE));
        printf(") was successful.\n");
    } else {
        fail(c, "Deletion of some consumer groups failed:");
        for (size_t i = 0; i < nr; i++) {
            const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
            if (!e)
                continue;
            note_err(c, rd_kafka_error_code(e));
            char ex[512];
            kexc(ex, sizeof(ex), rd_kafka_error_code(e));
            fprintf(stderr, "* Group '%s' could not be deleted due to: %s\n",
                    cli_esc(rd_kafka_group_result_name(gr[i]), GR_JSTR_WIRE), ex);
        }
        if (nfail < nr) {
            printf("\nThese consumer groups were deleted successfully: ");
            for (size_t i = 0, k = 0; i < nr; i++)
                if (!rd_kafka_group_result_error(gr[i]))
                    printf("%s'%s'", k++ ? ", " : "", cli_esc(rd_kafka_group_result_name(gr[i]), GR_JSTR_WIRE));
            printf("\n");
        }
    }
    rd_kafka_event_destroy(ev);
out:
    free(groups);
    glist_free(&all);
}

/* ---- --delete-offsets ---- */

typedef struct dorow {
    char *topic;
    int32_t part;
    char *status;
    char key[300];      /* Kafka sorts on topic + partition as a string */
} dorow_t;

static int cmp_dorow(const void *a, const void *b)
{
    return strcmp(((const dorow_t *)a)->key, ((const dorow_t *)b)->key);
}

static int parse_topic_arg(const char *arg, rd_kafka_topic_partition_list_t *out);

static void do_delete_offsets(cg_t *c)
{
    const char *group = cli_get(&c->o, "group");
    const char **topics;
    int nt = cli_get_all(&c->o, "topic", &topics);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    size_t cap = 16, nr = 0;
    dorow_t *rows = gr_calloc(cap, sizeof(dorow_t));
    for (int i = 0; i < nt; i++) {
        if (strchr(topics[i], ':')) {
            if (parse_topic_arg(topics[i], parts) < 0) {
                c->rc = 1;
                goto out;
            }
            continue;
        }
        const struct rd_kafka_metadata_topic *mt = md_topic(c, topics[i]);
        if (!c->md)
            goto out;
        if (!mt) {
            if (nr == cap)
                rows = gr_realloc(rows, (cap *= 2) * sizeof(dorow_t));
            char ex[512];
            kexc(ex, sizeof(ex), RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
            rows[nr].topic = gr_strdup(topics[i]);
            rows[nr].part = -1;
            rows[nr].status = gr_malloc(strlen(ex) + 8);
            sprintf(rows[nr].status, "Error: %s", ex);
            nr++;
            continue;
        }
        for (int p = 0; p < mt->partition_cnt; p++)
            rd_kafka_topic_partition_list_add(parts, topics[i], mt->partitions[p].id);
    }
    rd_kafka_resp_err_t top = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (parts->cnt > 0) {
        rd_kafka_DeleteConsumerGroupOffsets_t *req = rd_kafka_DeleteConsumerGroupOffsets_new(group, parts);
        rd_kafka_AdminOptions_t *ao = aopts(c, RD_KAFKA_ADMIN_OP_DELETECONSUMERGROUPOFFSETS);
        rd_kafka_DeleteConsumerGroupOffsets(c->rk, &req, 1, ao, c->q);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_DeleteConsumerGroupOffsets_destroy(req);
        rd_kafka_event_t *ev = await(c, "deleteConsumerGroupOffsets");
        if (!ev)
            goto out;
        size_t ng;
        const rd_kafka_group_result_t **gr = rd_kafka_DeleteConsumerGroupOffsets_result_groups(
            rd_kafka_event_DeleteConsumerGroupOffsets_result(ev), &ng);
        const rd_kafka_topic_partition_list_t *res = ng ? rd_kafka_group_result_partitions(gr[0]) : NULL;
        const rd_kafka_error_t *ge = ng ? rd_kafka_group_result_error(gr[0]) : NULL;
        if (ge)
            note_err(c, top = rd_kafka_error_code(ge));
        for (int i = 0; i < parts->cnt; i++) {
            const rd_kafka_topic_partition_t *r =
                res ? rd_kafka_topic_partition_list_find(res, parts->elems[i].topic, parts->elems[i].partition)
                    : NULL;
            rd_kafka_resp_err_t err = r ? r->err : top;
            if (!top && err)
                top = err;
            if (nr == cap)
                rows = gr_realloc(rows, (cap *= 2) * sizeof(dorow_t));
            rows[nr].topic = gr_strdup(parts->elems[i].topic);
            rows[nr].part = parts->elems[i].partition;
            if (err) {
                char ex[512];
                kexc(ex, sizeof(ex), err);
                rows[nr].status = gr_malloc(strlen(ex) + 8);
                sprintf(rows[nr].status, "Error: %s", ex);
            } else {
                rows[nr].status = gr_strdup("Successful");
            }
            nr++;
        }
        rd_kafka_event_destroy(ev);
    }
    if (!top && nr > (size_t)parts->cnt)
        top = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    switch (top) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        printf("Request succeeded for deleting offsets from group %s.\n", group);
        break;
    case RD_KAFKA_RESP_ERR_INVALID_GROUP_ID:
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP:
        fail(c, "%s", kmsg(top));
        break;
    case RD_KAFKA_RESP_ERR_GROUP_SUBSCRIBED_TO_TOPIC:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        fail(c, "Encountered some partition-level error, see the follow-up details.");
        break;
    default:
        fail(c, "Encountered some unknown error: %s", rd_kafka_err2name(top));
    }
    size_t wt = 15;
    for (size_t i = 0; i < nr; i++) {
        wt = maxz(wt, strlen(rows[i].topic));
        snprintf(rows[i].key, sizeof(rows[i].key), "%s%" PRId32, rows[i].topic, rows[i].part);
    }
    qsort(rows, nr, sizeof(dorow_t), cmp_dorow);
    fflush(stderr);
    printf("\n%-*s %-10s %-15s", (int)wt, "TOPIC", "PARTITION", "STATUS");
    for (size_t i = 0; i < nr; i++) {
        char p[16];
        if (rows[i].part >= 0)
            snprintf(p, sizeof(p), "%" PRId32, rows[i].part);
        else
            snprintf(p, sizeof(p), MISSING);
        printf("\n%-*s %-10s %-15s", (int)wt, rows[i].topic, p, rows[i].status);
    }
    printf("\n");
out:
    for (size_t i = 0; i < nr; i++) {
        free(rows[i].topic);
        free(rows[i].status);
    }
    free(rows);
    free(topics);
    rd_kafka_topic_partition_list_destroy(parts);
}

/* ------------------------------------------------------------------ reset */

/* "topic:0,1,2" -> partitions added to out */
static int parse_topic_arg(const char *arg, rd_kafka_topic_partition_list_t *out)
{
    const char *colon = strchr(arg, ':');
    if (!colon || strchr(colon + 1, ':') || colon == arg || !colon[1]) {
        usage_err("Invalid topic arg '%s', expected topic name and partitions", arg);
        return -1;
    }
    char topic[256];
    snprintf(topic, sizeof(topic), "%.*s", (int)(colon - arg), arg);
    const char *p = colon + 1, *bad;
    size_t badlen;
    int32_t *ids = gr_calloc(strlen(p) / 2 + 1, sizeof(*ids));
    int n, rc;
    if ((rc = cli_partition_list(p, true, ids, &n, &bad, &badlen)) < 0)
        usage_err("Invalid partition '%.*s' specified in topic arg '%s''", (int)(badlen < 31 ? badlen : 31), bad, arg);
    for (int i = 0; rc == 0 && i < n; i++)
        rd_kafka_topic_partition_list_add(out, topic, ids[i]);
    free(ids);
    return rc;
}

static bool parse_long(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno)
        return false;
    *v = x;
    return true;
}

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

/* A --from-file plan: per group, partitions with offsets. */
typedef struct plan {
    char **group;
    rd_kafka_topic_partition_list_t **parts;
    size_t n;
} plan_t;

static rd_kafka_topic_partition_list_t *plan_for(plan_t *pl, const char *group, bool create)
{
    for (size_t i = 0; i < pl->n; i++)
        if (!strcmp(pl->group[i], group))
            return pl->parts[i];
    if (!create)
        return NULL;
    pl->group = gr_realloc(pl->group, (pl->n + 1) * sizeof(char *));
    pl->parts = gr_realloc(pl->parts, (pl->n + 1) * sizeof(void *));
    pl->group[pl->n] = gr_strdup(group);
    pl->parts[pl->n] = rd_kafka_topic_partition_list_new(8);
    return pl->parts[pl->n++];
}

static void plan_free(plan_t *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        free(pl->group[i]);
        rd_kafka_topic_partition_list_destroy(pl->parts[i]);
    }
    free(pl->group);
    free(pl->parts);
    memset(pl, 0, sizeof(*pl));
}

/* Split one CSV line (RFC 4180 quoting) into at most max fields. */
static int csv_split(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max)
            return -1;
        if (*p == '"') {
            char *w = ++p;
            f[n++] = w;
            for (;;) {
                if (!*p)
                    return -1;
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            }
            *w = '\0';
            if (*p == ',') {
                p++;
                continue;
            }
            return *p ? -1 : n;
        }
        f[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            return n;
        *comma = '\0';
        p = comma + 1;
    }
}

/* Kafka's parseResetPlan: topic,partition,offset when one --group is given
 * and the first line has that shape; group,topic,partition,offset otherwise. */
static int load_plan(cg_t *c, const char *path, int ngroups, const char *single, plan_t *pl)
{
    memset(pl, 0, sizeof(*pl));
    FILE *f = fopen(path, "r");
    if (!f) {
        fail(c, "Executing consumer group command failed due to java.nio.file.NoSuchFileException: %s", path);
        return -1;
    }
    char line[4096];
    int lineno = 0, old_fmt = -1, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
            line[--l] = '\0';
        if (!l)
            continue;
        char *fl[5];
        int nf = csv_split(line, fl, 5);
        int64_t part, off;
        if (old_fmt < 0)
            old_fmt = ngroups == 1 && nf == 3 && parse_long(fl[1], &part) && parse_long(fl[2], &off);
        if (old_fmt) {
            if (nf != 3 || !parse_long(fl[1], &part) || !parse_long(fl[2], &off)) {
                fail(c, "invalid line %d in %s (expected topic,partition,offset)", lineno, path);
                rc = -1;
                break;
            }
            rd_kafka_topic_partition_list_add(plan_for(pl, single, true), fl[0], (int32_t)part)->offset = off;
        } else {
            if (nf != 4 || !parse_long(fl[2], &part) || !parse_long(fl[3], &off)) {
                fail(c, "invalid line %d in %s (expected group,topic,partition,offset)", lineno, path);
                rc = -1;
                break;
            }
            rd_kafka_topic_partition_list_add(plan_for(pl, fl[0], true), fl[1], (int32_t)part)->offset = off;
        }
    }
    fclose(f);
    if (rc < 0)
        plan_free(pl);
    return rc;
}

static void csv_field(FILE *out, const char *s)
{
    if (strpbrk(s, ",\"\r\n") || (*s && (isspace((unsigned char)*s) || isspace((unsigned char)s[strlen(s) - 1])))) {
        fputc('"', out);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', out);
            fputc(*s, out);
        }
        fputc('"', out);
    } else {
        fputs(s, out);
    }
}

static const char *const reset_modes[] = {"to-datetime", "by-duration", "to-earliest", "to-latest",
                                          "shift-by",    "from-file",   "to-current",  "to-offset", NULL};

/* Compute the new offsets of one inactive group into *outp (NULL on error). */
static int prepare_reset(cg_t *c, const char *group, plan_t *plan, rd_kafka_topic_partition_list_t **outp)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16), *cur = NULL, *out = NULL;
    const char *v;
    int rc = -1;
    *outp = NULL;
    if (cli_has(&c->o, "all-topics")) {
        if (!(cur = committed(c, group)))
            goto out;
        for (int i = 0; i < cur->cnt; i++)
            rd_kafka_topic_partition_list_add(parts, cur->elems[i].topic, cur->elems[i].partition);
    } else if (cli_has(&c->o, "topic")) {
        const char **ts;
        int nt = cli_get_all(&c->o, "topic", &ts);
        for (int i = 0; i < nt; i++) {
            if (strchr(ts[i], ':')) {
                if (parse_topic_arg(ts[i], parts) < 0) {
                    c->rc = 1;
                    free(ts);
                    goto out;
                }
                continue;
            }
            const struct rd_kafka_metadata_topic *mt = md_topic(c, ts[i]);
            if (!c->md) {
                free(ts);
                goto out;
            }
            if (!mt) {
                char ex[512];
                kexc(ex, sizeof(ex), RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
                fail(c, "Executing consumer group command failed due to %s (topic '%s')", ex, ts[i]);
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
            const struct rd_kafka_metadata_topic *mt = md_topic(c, parts->elems[i].topic);
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
            fail(c, "Executing consumer group command failed due to "
                    "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: The partitions \"%s\" do not "
                    "exist",
                 bad);
            goto out;
        }
    }
    out = rd_kafka_topic_partition_list_new(parts->cnt + 1);
    if ((v = cli_get(&c->o, "to-offset"))) {
        int64_t off;
        if (!parse_long(v, &off)) {
            usage_err("Cannot parse argument '%s' of option to-offset", v);
            c->rc = 1;
            goto out;
        }
        for (int i = 0; i < parts->cnt; i++)
            rd_kafka_topic_partition_list_add(out, parts->elems[i].topic, parts->elems[i].partition)->offset = off;
        check_range(c, out);
    } else if (cli_has(&c->o, "to-earliest") || cli_has(&c->o, "to-latest")) {
        bool end = cli_has(&c->o, "to-latest");
        for (int i = 0; i < parts->cnt; i++) {
            int64_t o = log_offset(c, parts->elems[i].topic, parts->elems[i].partition, end);
            if (o < 0) {
                fail(c, "Error getting %s offset of topic partition: %s-%" PRId32, end ? "ending" : "starting",
                     parts->elems[i].topic, parts->elems[i].partition);
                goto out;
            }
            rd_kafka_topic_partition_list_add(out, parts->elems[i].topic, parts->elems[i].partition)->offset = o;
        }
    } else if ((v = cli_get(&c->o, "shift-by"))) {
        int64_t by;
        if (!parse_long(v, &by)) {
            usage_err("Cannot parse argument '%s' of option shift-by", v);
            c->rc = 1;
            goto out;
        }
        if (!(cur = cur ? cur : committed(c, group)))
            goto out;
        for (int i = 0; i < parts->cnt; i++) {
            int64_t o = committed_of(cur, parts->elems[i].topic, parts->elems[i].partition);
            if (o < 0) {
                usage_err("Cannot shift offset for partition %s-%" PRId32 " since there is no current committed "
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
                fail(c, "Executing consumer group command failed due to java.text.ParseException: Error parsing "
                        "timestamp. It does not contain a 'T' according to ISO8601 format");
                goto out;
            }
            if (parse_datetime(v, &ts) < 0) {
                fail(c, "Executing consumer group command failed due to java.text.ParseException: Unparseable "
                        "date: \"%s\"",
                     v);
                goto out;
            }
        } else {
            int64_t d;
            if (parse_duration(v, &d) < 0) {
                fail(c, "Executing consumer group command failed due to "
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
            fail(c, "Executing consumer group command failed due to %s (call: listOffsets)", rd_kafka_err2str(err));
            goto out;
        }
        for (int i = 0; i < out->cnt; i++) {
            rd_kafka_topic_partition_t *e = &out->elems[i];
            if (e->err || e->offset < 0) {
                printf("\nWarn: Partition %" PRId32 " from topic %s is empty. Falling back to latest known offset.\n",
                       e->partition, e->topic);
                e->offset = log_offset(c, e->topic, e->partition, true);
                e->err = 0;
                if (e->offset < 0) {
                    fail(c, "Error getting offset by timestamp of topic partition: %s-%" PRId32, e->topic,
                         e->partition);
                    goto out;
                }
            }
        }
    } else if (plan) {
        rd_kafka_topic_partition_list_t *pg = plan_for(plan, group, false);
        if (!pg) {
            fail(c, "No reset plan for group %s found.", group);
        } else {
            for (int i = 0; i < pg->cnt; i++)
                rd_kafka_topic_partition_list_add(out, pg->elems[i].topic, pg->elems[i].partition)->offset =
                    pg->elems[i].offset;
            check_range(c, out);
        }
    } else if (cli_has(&c->o, "to-current")) {
        if (!(cur = cur ? cur : committed(c, group)))
            goto out;
        for (int i = 0; i < parts->cnt; i++) {
            int64_t o = committed_of(cur, parts->elems[i].topic, parts->elems[i].partition);
            if (o < 0)
                o = log_offset(c, parts->elems[i].topic, parts->elems[i].partition, true);
            if (o < 0) {
                fail(c, "Error getting ending offset of topic partition: %s-%" PRId32, parts->elems[i].topic,
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
    rd_kafka_AdminOptions_t *ao = aopts(c, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
    rd_kafka_AlterConsumerGroupOffsets(c->rk, &req, 1, ao, c->q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    rd_kafka_event_t *ev = await(c, "alterConsumerGroupOffsets");
    if (!ev)
        return -1;
    size_t n;
    const rd_kafka_group_result_t **gr =
        rd_kafka_AlterConsumerGroupOffsets_result_groups(rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &n);
    int rc = 0;
    char ex[512];
    if (n && rd_kafka_group_result_error(gr[0])) {
        note_err(c, rd_kafka_error_code(rd_kafka_group_result_error(gr[0])));
        kexc(ex, sizeof(ex), rd_kafka_error_code(rd_kafka_group_result_error(gr[0])));
        fail(c, "Executing consumer group command failed due to %s", ex);
        rc = -1;
    } else if (n) {
        const rd_kafka_topic_partition_list_t *p = rd_kafka_group_result_partitions(gr[0]);
        for (int i = 0; p && i < p->cnt; i++)
            if (p->elems[i].err) {
                kexc(ex, sizeof(ex), p->elems[i].err);
                fail(c, "Executing consumer group command failed due to %s (%s-%" PRId32 ")", ex,
                     p->elems[i].topic, p->elems[i].partition);
                rc = -1;
                break;
            }
    }
    rd_kafka_event_destroy(ev);
    return rc;
}

static void do_reset(cg_t *c)
{
    glist_t all;
    const char **groups = NULL;
    plan_t plan = {0};
    bool has_plan = false;
    rd_kafka_topic_partition_list_t **res = NULL;
    int n = target_groups(c, &groups, &all);
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
        if (load_plan(c, file, ngroup_opts, groups[0], &plan) < 0)
            goto out;
        has_plan = true;
    }
    const rd_kafka_ConsumerGroupDescription_t **ds;
    size_t nd;
    rd_kafka_event_t *ev = describe(c, groups, (size_t)n, &ds, &nd);
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
            note_err(c, rd_kafka_error_code(e));
            fail(c, "Executing consumer group command failed due to %s", rd_kafka_error_string(e));
            break;
        }
        if (!inactive) {
            fail(c, "Assignments can only be reset if the group '%s' is inactive, but the current state is %s.",
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
                    csv_field(stdout, groups[i]);
                    putchar(',');
                }
                csv_field(stdout, res[i]->elems[j].topic);
                printf(",%" PRId32 ",%" PRId64 "\n", res[i]->elems[j].partition, res[i]->elems[j].offset);
            }
        printf("\n");
    } else {
        size_t wg = 15, wt = 15, ng = 0;
        for (int i = 0; i < n; i++) {
            if (!res[i])
                continue;
            ng++;
            wg = maxz(wg, strlen(groups[i]));
            for (int j = 0; j < res[i]->cnt; j++)
                wt = maxz(wt, strlen(res[i]->elems[j].topic));
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
    plan_free(&plan);
    free(groups);
    glist_free(&all);
}

/* ------------------------------------------------------------------ options */

static const char *const actions[] = {"list", "describe", "delete", "reset-offsets", "delete-offsets", "history",
                                      NULL};

/* Kafka's checkArgs for options that only some actions take: the first of
 * `opts` given without any of `actions` is an error, `fmt` naming it. */
static int only_with(const cli_opts_t *o, const char *const *opts, const char *const *actions, const char *fmt)
{
    for (; *opts; opts++) {
        if (!cli_has(o, *opts))
            continue;
        bool ok = false;
        for (const char *const *a = actions; *a && !ok; a++)
            ok = cli_has(o, *a);
        if (!ok)
            return usage_err(fmt, *opts);
    }
    return 0;
}

/* The actions that work on a set of groups need --group or --all-groups. */
static int needs_groups(const cli_opts_t *o, const char *action)
{
    if (cli_has(o, "group") || cli_has(o, "all-groups"))
        return 0;
    return usage_err("Option [%s] takes one of these options: [all-groups], [group]", action);
}

#define UNAVAILABLE "Option(s) [%s] are unavailable given other options on the command line"

/* Kafka's checkArgs, in its order and with its messages. */
static int check_args(const cli_opts_t *o)
{
    if (!cli_get(o, "bootstrap-server"))
        return usage_err("Missing required argument \"[bootstrap-server]\"");
    if (cli_count_given(o, actions) != 1)
        return usage_err("Command must include exactly one action: --list, --describe, --delete, --reset-offsets, "
                         "--delete-offsets, --history");
    static const char *const describe_only[] = {"members", "verbose", "offsets", NULL};
    static const char *const describe[] = {"describe", NULL};
    static const char *const state[] = {"state", NULL};
    static const char *const describe_or_list[] = {"describe", "list", NULL};
    if (only_with(o, describe_only, describe, UNAVAILABLE) < 0 ||
        only_with(o, state, describe_or_list, UNAVAILABLE) < 0)
        return -1;
    const char *t = cli_get(o, "timeout");
    int64_t tv;
    if (t && (!parse_long(t, &tv) || tv <= 0 || tv > INT32_MAX))
        return usage_err("Cannot parse argument '%s' of option timeout", t);

    bool group = cli_has(o, "group"), allg = cli_has(o, "all-groups");
    if (cli_has(o, "describe")) {
        if (needs_groups(o, "describe") < 0)
            return -1;
        static const char *const views[] = {"members", "offsets", "state", NULL};
        if (cli_count_given(o, views) > 1)
            return usage_err("Option [describe] takes at most one of these options: [members], [offsets], [state]");
        if (cli_has(o, "state") && cli_get(o, "state"))
            return usage_err("Option [describe] does not take a value for [state]");
    }
    if (cli_has(o, "delete")) {
        if (needs_groups(o, "delete") < 0)
            return -1;
        if (cli_has(o, "topic"))
            return usage_err("The consumer does not support topic-specific offset deletion from a consumer group.");
    }
    if (cli_has(o, "delete-offsets") && (!group || !cli_has(o, "topic")))
        return usage_err("Option [delete-offsets] takes the following options: [group], [topic]");
    if (cli_has(o, "reset-offsets")) {
        if (cli_has(o, "dry-run") && cli_has(o, "execute"))
            return usage_err("Option [reset-offsets] only accepts one of [execute] and [dry-run]");
        if (!cli_has(o, "dry-run") && !cli_has(o, "execute"))
            fprintf(stderr, "WARN: No action will be performed as the --execute option is missing."
                            "In a future major release, the default behavior of this command will be to prompt the "
                            "user before executing the reset rather than doing a dry run. You should add the "
                            "--dry-run option explicitly if you are scripting this command and want to keep the "
                            "current default behavior without prompting.\n");
        if (needs_groups(o, "reset-offsets") < 0)
            return -1;
        for (int i = 0; reset_modes[i]; i++)
            if (cli_invalid_with(o, reset_modes[i], reset_modes) < 0)
                return -1;
        if (!cli_count_given(o, reset_modes))
            return usage_err("Option '[reset-offsets]' requires one of the following scenarios: [to-datetime], "
                             "[by-duration], [to-earliest], [to-latest], [shift-by], [from-file], [to-current], "
                             "[to-offset]");
        static const char *const scopes[] = {"from-file", "all-topics", "topic", NULL};
        if (!cli_count_given(o, scopes))
            return usage_err("One of the reset scopes should be defined: --all-topics, --topic.");
    }
    if (cli_has(o, "history")) {
        const char **g;
        int ng = cli_get_all(o, "group", &g);
        free(g);
        if (ng != 1 || allg)
            return usage_err("Option [history] takes exactly one [group]");
    }
    static const char *const all_groups[] = {"all-groups", NULL};
    static const char *const group_levels[] = {"list", NULL};
    static const char *const topic_levels[] = {"list", "describe", NULL};
    if (cli_invalid_with(o, "group", all_groups) < 0 || cli_invalid_with(o, "group", group_levels) < 0 ||
        cli_invalid_with(o, "topic", topic_levels) < 0)
        return -1;
    static const char *const reset_only[] = {"dry-run", "execute", "export", "all-topics", "to-earliest",
                                             "to-latest", "to-current", "to-offset", "shift-by", "to-datetime",
                                             "by-duration", "from-file", NULL};
    static const char *const reset[] = {"reset-offsets", NULL};
    return only_with(o, reset_only, reset, "Option [%s] is only supported with [reset-offsets]");
}

static void help(void)
{
    cli_usage(stdout, "consumer-groups",
              "This tool helps to list all consumer groups, describe a consumer group, delete consumer group info, "
              "or reset consumer group offsets.\n"
              "Actions (exactly one): --list, --describe, --delete, --reset-offsets, --delete-offsets, --history.",
              defs);
    fputs("\n"
          "Examples:\n"
          "  gregor consumer-groups --bootstrap-server H:P --list [--state stable,empty]\n"
          "  gregor consumer-groups --bootstrap-server H:P --describe --group g [--members|--state] [--verbose]\n"
          "  gregor consumer-groups --bootstrap-server H:P --reset-offsets --group g --topic t:0,1 --to-earliest "
          "--execute\n"
          "  gregor consumer-groups --bootstrap-server H:P --reset-offsets --group g --all-topics --shift-by -10 "
          "--export > plan.csv\n"
          "  gregor consumer-groups --bootstrap-server H:P --delete --group g1 --group g2\n"
          "  gregor consumer-groups --bootstrap-server H:P --delete-offsets --group g --topic t\n"
          "  gregor consumer-groups --bootstrap-server H:P --history --group g\n",
          stdout);
    cli_history_help(stdout);
}

int cli_consumer_groups_main(int argc, char **argv)
{
    cg_t c = {.rc = 0};
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help();
            return 0;
        }
    if (cli_parse(argc, argv, defs, &c.o) < 0)
        return 1;
    if (check_args(&c.o) < 0) {
        cli_opts_free(&c.o);
        return 1;
    }
    c.timeout = cli_timeout_ms(&c.o);
    if (cli_has(&c.o, "history")) {
        int rc = cli_group_history(&c.o, cli_get(&c.o, "group"));
        cli_opts_free(&c.o);
        return rc;
    }
    c.rk = cli_client(&c.o, RD_KAFKA_CONSUMER, NULL);
    if (!c.rk) {
        cli_opts_free(&c.o);
        return 1;
    }
    c.q = rd_kafka_queue_new(c.rk);
    if (probe_group_apis(&c) < 0)
        c.no_destroy = true;      /* nothing to clean up but a client that may hang */
    else if (cli_has(&c.o, "list"))
        do_list(&c);
    else if (cli_has(&c.o, "describe"))
        do_describe(&c);
    else if (cli_has(&c.o, "reset-offsets"))
        do_reset(&c);
    else if (cli_has(&c.o, "delete"))
        do_delete(&c);
    else if (cli_has(&c.o, "delete-offsets"))
        do_delete_offsets(&c);
    fflush(stdout);
    fflush(stderr);
    if (c.no_destroy)
        _exit(c.rc);
    if (c.md)
        rd_kafka_metadata_destroy(c.md);
    rd_kafka_queue_destroy(c.q);
    rd_kafka_destroy(c.rk);
    cli_opts_free(&c.o);
    return c.rc;
}
