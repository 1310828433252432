/*
 * cg_admin.c - the client side of `gregor consumer-groups` (see
 * consumer_groups.c): Kafka's exception classes and messages for the
 * errors a group command meets, the Admin API calls (with the request
 * timeout, waiting on the command's queue), metadata, watermarks, and the
 * group lookups every action starts from.  Prints nothing but error lines.
 */
#include "cg.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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

const char *cg_kmsg(rd_kafka_resp_err_t err)
{
    for (size_t i = 0; i < sizeof(kerrs) / sizeof(kerrs[0]); i++)
        if (kerrs[i].err == err)
            return kerrs[i].msg;
    return rd_kafka_err2str(err);
}

/* "org.apache.kafka.common.errors.X: message" like Java's Throwable.toString() */
void cg_kexc(char *buf, size_t n, rd_kafka_resp_err_t err)
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
void cg_note_err(cg_t *c, rd_kafka_resp_err_t err)
{
    if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE)
        c->no_destroy = true;
}

void cg_fail(cg_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_verr(fmt, ap);
    va_end(ap);
    c->rc = 1;
}

/* option error: Kafka's printUsageAndExit message, one line */
int cg_usage_err(const char *fmt, ...)
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

rd_kafka_AdminOptions_t *cg_aopts(cg_t *c, rd_kafka_admin_op_t op)
{
    char errstr[256];
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(c->rk, op);
    rd_kafka_AdminOptions_set_request_timeout(ao, c->timeout, errstr, sizeof(errstr));
    return ao;
}

/* Wait for the result of the admin call just issued; NULL after an error line. */
rd_kafka_event_t *cg_await(cg_t *c, const char *call)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(c->q, c->timeout + 5000);
    if (!ev) {
        cg_fail(c, "Executing consumer group command failed due to Timed out waiting for a node assignment. "
                "Call: %s", call);
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        cg_note_err(c, rd_kafka_event_error(ev));
        cg_fail(c, "Executing consumer group command failed due to %s (call: %s)", rd_kafka_event_error_string(ev),
                call);
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

const struct rd_kafka_metadata *cg_metadata(cg_t *c)
{
    if (!c->md) {
        rd_kafka_resp_err_t err = rd_kafka_metadata(c->rk, 1, NULL, &c->md, c->timeout);
        if (err) {
            cg_fail(c, "Executing consumer group command failed due to %s (call: describeTopics)",
                    rd_kafka_err2str(err));
            c->md = NULL;
        }
    }
    return c->md;
}

const struct rd_kafka_metadata_topic *cg_md_topic(cg_t *c, const char *topic)
{
    const struct rd_kafka_metadata *md = cg_metadata(c);
    for (int i = 0; md && i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, topic) && !md->topics[i].err)
            return &md->topics[i];
    return NULL;
}

/* latest (end) or earliest offset of a partition, -1 if unknown */
int64_t cg_log_offset(cg_t *c, const char *topic, int32_t part, bool end)
{
    int64_t lo, hi;
    if (rd_kafka_query_watermark_offsets(c->rk, topic, part, &lo, &hi, c->timeout))
        return -1;
    return end ? hi : lo;
}

/* ------------------------------------------------------------------ groups */

void cg_glist_free(cg_glist_t *g)
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
int cg_list_groups(cg_t *c, cg_glist_t *out)
{
    memset(out, 0, sizeof(*out));
    rd_kafka_AdminOptions_t *ao = cg_aopts(c, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
    rd_kafka_ListConsumerGroups(c->rk, ao, c->q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_event_t *ev = cg_await(c, "listConsumerGroups");
    if (!ev)
        return -1;
    const rd_kafka_ListConsumerGroups_result_t *res = rd_kafka_event_ListConsumerGroups_result(ev);
    size_t nv, ne;
    const rd_kafka_ConsumerGroupListing_t **v = rd_kafka_ListConsumerGroups_result_valid(res, &nv);
    const rd_kafka_error_t **e = rd_kafka_ListConsumerGroups_result_errors(res, &ne);
    if (ne && !nv) {
        cg_fail(c, "Executing consumer group command failed due to %s (call: listConsumerGroups)",
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
int cg_target_groups(cg_t *c, const char ***vals, cg_glist_t *all)
{
    memset(all, 0, sizeof(*all));
    if (cli_has(&c->o, "all-groups")) {
        if (cg_list_groups(c, all) < 0)
            return -1;
        *vals = gr_calloc(all->n + 1, sizeof(char *));
        for (size_t i = 0; i < all->n; i++)
            (*vals)[i] = all->name[i];
        return (int)all->n;
    }
    return cli_get_all(&c->o, "group", vals);
}

/* DescribeConsumerGroups; the event owns the descriptions. */
rd_kafka_event_t *cg_describe(cg_t *c, const char **groups, size_t n,
                              const rd_kafka_ConsumerGroupDescription_t ***descs, size_t *cnt)
{
    rd_kafka_AdminOptions_t *ao = cg_aopts(c, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_DescribeConsumerGroups(c->rk, groups, n, ao, c->q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_event_t *ev = cg_await(c, "describeConsumerGroups");
    if (!ev)
        return NULL;
    *descs = rd_kafka_DescribeConsumerGroups_result_groups(rd_kafka_event_DescribeConsumerGroups_result(ev), cnt);
    return ev;
}

/* committed offsets of a group (sorted), NULL after an error line */
rd_kafka_topic_partition_list_t *cg_committed(cg_t *c, const char *group)
{
    rd_kafka_ListConsumerGroupOffsets_t *req = rd_kafka_ListConsumerGroupOffsets_new(group, NULL);
    rd_kafka_AdminOptions_t *ao = cg_aopts(c, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_ListConsumerGroupOffsets(c->rk, &req, 1, ao, c->q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_event_t *ev = cg_await(c, "listConsumerGroupOffsets");
    if (!ev)
        return NULL;
    size_t n;
    const rd_kafka_group_result_t **gr =
        rd_kafka_ListConsumerGroupOffsets_result_groups(rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    rd_kafka_topic_partition_list_t *out = NULL;
    if (n < 1) {
        cg_fail(c, "no offsets result for group '%s'", group);
    } else if (rd_kafka_group_result_error(gr[0])) {
        cg_note_err(c, rd_kafka_error_code(rd_kafka_group_result_error(gr[0])));
        cg_fail(c, "Executing consumer group command failed due to %s",
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

int64_t cg_committed_of(const rd_kafka_topic_partition_list_t *l, const char *t, int32_t p)
{
    const rd_kafka_topic_partition_t *e = rd_kafka_topic_partition_list_find(l, t, p);
    return e ? e->offset : -1;
}

/* librdkafka 2.0.2's Admin API mishandles a broker without the group APIs
 * (e.g. its own mock cluster): after the request fails, a background thread
 * may abort (rd_kafka_enq_once_del_source_return assertion) or
 * rd_kafka_destroy() hangs.  The legacy rd_kafka_list_groups() fails cleanly
 * there, so every action asks DescribeGroups for a probe group through it
 * first; it also turns an unreachable cluster into one error line. */
int cg_probe_group_apis(cg_t *c)
{
    const struct rd_kafka_group_list *gl = NULL;
    rd_kafka_resp_err_t err = rd_kafka_list_groups(c->rk, "__gregor_probe", &gl, c->timeout);
    if (gl)
        rd_kafka_group_list_destroy(gl);
    if (!err || err == RD_KAFKA_RESP_ERR__PARTIAL)
        return 0;
    if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE)
        cg_fail(c, "Executing consumer group command failed due to %s (the broker does not serve the group admin "
                "APIs: DescribeGroups)", rd_kafka_err2str(err));
    else
        cg_fail(c, "Executing consumer group command failed due to %s (no broker answered within %d ms)",
                rd_kafka_err2str(err), c->timeout);
    return -1;
}
