/*
 * api_partitions.c - the partition-level APIs of a single-node cluster:
 * OffsetForLeaderEpoch (key 23, v0-4), ElectLeaders (key 43, v0-2), AlterPartitionReassignments (45,
 * v0), ListPartitionReassignments (46, v0) and DescribeTopicPartitions (75,
 * v0, the paginated describeTopics of Kafka 3.8+ admin clients).
 *
 * This broker is the only replica of every partition and always its
 * leader, so these answer as Kafka's KRaft controller answers for a
 * cluster of one node (ReplicationControlManager):
 *
 *   ElectLeaders         every named partition: ELECTION_NOT_NEEDED (its
 *                        preferred leader leads, for PREFERRED; it has a
 *                        leader, for UNCLEAN); all partitions (null list):
 *                        each topic with no partition result, since those
 *                        not needing an election are left out
 *   AlterPartition-      replicas = [this node]: done at once (NONE); null
 *   Reassignments        (cancel): NO_REASSIGNMENT_IN_PROGRESS; any other
 *                        list: INVALID_REPLICA_ASSIGNMENT with the
 *                        controller's message
 *   ListPartition-       no reassignment is ever in progress: empty
 *   Reassignments
 *
 * DescribeTopicPartitions follows Kafka's DescribeTopicPartitionsRequestHandler:
 * the topics named (or all, when none are) from the cursor's topic on, in
 * name order, at most ResponsePartitionLimit partitions (capped at 2000,
 * Kafka's max.request.partition.size.limit, at least 1) per response, and
 * a NextCursor where the next page starts.
 *
 * OffsetForLeaderEpoch (key 23, v0-4) answers from each partition's leader
 * epoch cache (epoch.h): the end offset of the requested epoch, as
 * Kafka's leader answers a consumer validating its position (KIP-320).
 *
 * Nothing here allocates beyond the request's arena or outlives the
 * handler; work is linear in what the request names plus the partitions
 * answered.
 */
#include "api_util.h"
#include "broker.h"
#include "kerr.h"

#include <inttypes.h>

/* ElectionType */
enum { ELECT_PREFERRED = 0, ELECT_UNCLEAN = 1 };

/* Kafka's max.request.partition.size.limit default. */
#define DESCRIBE_PARTITIONS_MAX 2000

static gr_topic_t *find_topic(gr_str_t name)
{
    return name.len > 0 ? gr_topic_find(name.p, (size_t)name.len) : NULL;
}

/* ------------------------------------------------------------ ElectLeaders */

static void elect_one(gr_req_t *req, gr_str_t topic, int32_t partition, gr_kerr_t type_err,
                      gr_ElectLeadersResponse_PartitionResult_t *pr)
{
    pr->PartitionId = partition;
    pr->ErrorMessage = GR_STR_NULL;
    if (type_err != KERR_NONE) {
        pr->ErrorCode = type_err;
        return;
    }
    gr_topic_t *t = find_topic(topic);
    if (!t) {
        pr->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        pr->ErrorMessage = gr_req_printf(req, "No such topic as %.*s", (int)GR_MAX(topic.len, 0), topic.p);
        return;
    }
    if (!gr_partition_get(t, partition)) {
        pr->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        pr->ErrorMessage = gr_req_printf(req, "No such partition as %s-%" PRId32, t->name, partition);
        return;
    }
    pr->ErrorCode = KERR_ELECTION_NOT_NEEDED;
    pr->ErrorMessage = GR_STR("Leader election not needed for topic partition.");
}

void gr_api_elect_leaders(gr_req_t *req, gr_rd_t *body)
{
    gr_ElectLeadersRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, ElectLeadersRequest, &r);

    gr_ElectLeadersResponse_t resp;
    gr_ElectLeadersResponse_init(&resp);
    int8_t type = req->api_version >= 1 ? r.ElectionType : ELECT_PREFERRED;
    gr_kerr_t type_err = KERR_NONE;
    if (type != ELECT_PREFERRED && type != ELECT_UNCLEAN) {
        /* "Unknown election type": the whole request fails */
        type_err = KERR_INVALID_REQUEST;
        resp.ErrorCode = KERR_INVALID_REQUEST;
    }
    if (r.TopicPartitions_count < 0) {
        /* every partition: each topic listed, none of its partitions needs
         * an election */
        int32_t n = type_err == KERR_NONE ? gr_topic_count() : 0;
        resp.ReplicaElectionResults = GR_ARENA_ARRAY(req, gr_ElectLeadersResponse_ReplicaElectionResult_t, n,
                                                     gr_ElectLeadersResponse_ReplicaElectionResult_init);
        int32_t i = 0;
        for (gr_topic_t *t = n ? gr_topic_next(NULL) : NULL; t && i < n; t = gr_topic_next(t)) {
            resp.ReplicaElectionResults[i].Topic = GR_STR(t->name);
            resp.ReplicaElectionResults[i].PartitionResult_count = 0;
            i++;
        }
        resp.ReplicaElectionResults_count = i;
        GR_RESPOND(req, ElectLeadersResponse, &resp);
        return;
    }
    int32_t n = r.TopicPartitions_count;
    resp.ReplicaElectionResults = GR_ARENA_ARRAY(req, gr_ElectLeadersResponse_ReplicaElectionResult_t, n,
                                                 gr_ElectLeadersResponse_ReplicaElectionResult_init);
    resp.ReplicaElectionResults_count = n;
    for (int32_t i = 0; i < n; i++) {
        const gr_ElectLeadersRequest_TopicPartitions_t *tp = &r.TopicPartitions[i];
        gr_ElectLeadersResponse_ReplicaElectionResult_t *res = &resp.ReplicaElectionResults[i];
        res->Topic = tp->Topic;
        int32_t np = GR_MAX(tp->Partitions_count, 0);
        res->PartitionResult = GR_ARENA_ARRAY(req, gr_ElectLeadersResponse_PartitionResult_t, np,
                                              gr_ElectLeadersResponse_PartitionResult_init);
        res->PartitionResult_count = np;
        for (int32_t j = 0; j < np; j++)
            elect_one(req, tp->Topic, tp->Partitions[j], type_err, &res->PartitionResult[j]);
    }
    GR_RESPOND(req, ElectLeadersResponse, &resp);
}

/* ------------------------------------------------- partition reassignments */

/* Kafka's validateManualPartitionAssignment over the sorted ids, for a
 * cluster whose only broker is `node`: the smallest id that is not this
 * node is unregistered, this node twice is a duplicate.  Linear, whatever
 * the length of the list.  Null string when the list is [node]. */
static gr_str_t replicas_check(gr_req_t *req, const int32_t *ids, int32_t n, int32_t node)
{
    if (n <= 0)
        return GR_STR("The manual partition assignment includes an empty replica list.");
    int32_t lowest_other = 0, mine = 0;
    bool below = false, other = false;
    for (int32_t i = 0; i < n; i++) {
        if (ids[i] == node) {
            mine++;
        } else {
            if (!other || ids[i] < lowest_other)
                lowest_other = ids[i];
            other = true;
            below |= ids[i] < node;
        }
    }
    if (other && (below || mine <= 1))
        return gr_req_printf(req, "The manual partition assignment includes broker %" PRId32
                             ", but no such broker is registered.", lowest_other);
    if (mine > 1)
        return gr_req_printf(req, "The manual partition assignment includes the broker %" PRId32 " more than once.",
                             node);
    return GR_STR_NULL;
}

void gr_api_alter_partition_reassignments(gr_req_t *req, gr_rd_t *body)
{
    gr_AlterPartitionReassignmentsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, AlterPartitionReassignmentsRequest, &r);

    gr_AlterPartitionReassignmentsResponse_t resp;
    gr_AlterPartitionReassignmentsResponse_init(&resp);
    resp.ErrorCode = KERR_NONE;
    resp.ErrorMessage = GR_STR_NULL;
    int32_t n = GR_MAX(r.Topics_count, 0);
    resp.Responses = GR_ARENA_ARRAY(req, gr_AlterPartitionReassignmentsResponse_ReassignableTopicResponse_t, n,
                                    gr_AlterPartitionReassignmentsResponse_ReassignableTopicResponse_init);
    resp.Responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        const gr_AlterPartitionReassignmentsRequest_ReassignableTopic_t *rt = &r.Topics[i];
        gr_AlterPartitionReassignmentsResponse_ReassignableTopicResponse_t *res = &resp.Responses[i];
        res->Name = rt->Name;
        int32_t np = GR_MAX(rt->Partitions_count, 0);
        res->Partitions = GR_ARENA_ARRAY(req, gr_AlterPartitionReassignmentsResponse_ReassignablePartitionResponse_t,
                                         np, gr_AlterPartitionReassignmentsResponse_ReassignablePartitionResponse_init);
        res->Partitions_count = np;
        gr_topic_t *t = find_topic(rt->Name);
        for (int32_t j = 0; j < np; j++) {
            const gr_AlterPartitionReassignmentsRequest_ReassignablePartition_t *rp = &rt->Partitions[j];
            gr_AlterPartitionReassignmentsResponse_ReassignablePartitionResponse_t *pr = &res->Partitions[j];
            pr->PartitionIndex = rp->PartitionIndex;
            pr->ErrorCode = KERR_NONE;
            pr->ErrorMessage = GR_STR_NULL;
            if (!t) {
                pr->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                pr->ErrorMessage = gr_req_printf(req, "Unable to find a topic named %.*s.",
                                                 (int)GR_MAX(rt->Name.len, 0), rt->Name.p);
            } else if (!gr_partition_get(t, rp->PartitionIndex)) {
                pr->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                pr->ErrorMessage = gr_req_printf(req, "Unable to find partition %s:%" PRId32 ".", t->name,
                                                 rp->PartitionIndex);
            } else if (rp->Replicas_count < 0) {
                pr->ErrorCode = KERR_NO_REASSIGNMENT_IN_PROGRESS;
                pr->ErrorMessage = GR_STR("No partition reassignment is in progress.");
            } else {
                pr->ErrorMessage = replicas_check(req, rp->Replicas, rp->Replicas_count, gr_broker.cfg.node_id);
                if (pr->ErrorMessage.len >= 0)
                    pr->ErrorCode = KERR_INVALID_REPLICA_ASSIGNMENT;
            }
        }
    }
    GR_RESPOND(req, AlterPartitionReassignmentsResponse, &resp);
}

void gr_api_list_partition_reassignments(gr_req_t *req, gr_rd_t *body)
{
    gr_ListPartitionReassignmentsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, ListPartitionReassignmentsRequest, &r);

    gr_ListPartitionReassignmentsResponse_t resp;
    gr_ListPartitionReassignmentsResponse_init(&resp);
    resp.ErrorCode = KERR_NONE;
    resp.ErrorMessage = GR_STR_NULL;
    resp.Topics_count = 0;                  /* nothing is ever being moved */
    GR_RESPOND(req, ListPartitionReassignmentsResponse, &resp);
}

/* ------------------------------------------------- DescribeTopicPartitions */

static int cmp_name(const void *a, const void *b)
{
    const gr_str_t *x = a, *y = b;
    int32_t lx = GR_MAX(x->len, 0), ly = GR_MAX(y->len, 0);
    int c = memcmp(x->p ? x->p : "", y->p ? y->p : "", (size_t)GR_MIN(lx, ly));
    return c ? c : (lx > ly) - (lx < ly);
}

static bool name_eq(gr_str_t a, gr_str_t b)
{
    return cmp_name(&a, &b) == 0;
}

static void dtp_partition(gr_partition_t *p, int32_t *node,
                          gr_DescribeTopicPartitionsResponse_DescribeTopicPartitionsResponsePartition_t *rp)
{
    rp->ErrorCode = KERR_NONE;
    rp->PartitionIndex = p->index;
    rp->LeaderId = gr_broker.cfg.node_id;
    rp->LeaderEpoch = p->leader_epoch;
    rp->ReplicaNodes = rp->IsrNodes = node;
    rp->ReplicaNodes_count = rp->IsrNodes_count = 1;
    rp->EligibleLeaderReplicas = rp->LastKnownElr = node;     /* empty lists */
    rp->EligibleLeaderReplicas_count = rp->LastKnownElr_count = 0;
    rp->OfflineReplicas = node;
    rp->OfflineReplicas_count = gr_log_storage_failed(p->log, gr_now_ms()) ? 1 : 0;
}

void gr_api_describe_topic_partitions(gr_req_t *req, gr_rd_t *body)
{
    gr_DescribeTopicPartitionsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, DescribeTopicPartitionsRequest, &r);

    gr_DescribeTopicPartitionsResponse_t resp;
    gr_DescribeTopicPartitionsResponse_init(&resp);
    bool all = r.Topics_count <= 0;
    bool has_cursor = !r.Cursor_is_null;
    gr_str_t from = has_cursor ? r.Cursor.TopicName : GR_STR("");

    /* the names to describe: named or all, from the cursor's on, sorted,
     * each once */
    int32_t cap = all ? gr_topic_count() : r.Topics_count;
    gr_str_t *names = gr_arena_alloc(&req->arena, sizeof(*names) * (size_t)GR_MAX(cap, 1));
    int32_t n = 0;
    if (all) {
        for (gr_topic_t *t = gr_topic_next(NULL); t && n < cap; t = gr_topic_next(t)) {
            gr_str_t s = GR_STR(t->name);
            if (cmp_name(&s, &from) >= 0)
                names[n++] = s;
        }
    } else {
        for (int32_t i = 0; i < r.Topics_count; i++)
            if (cmp_name(&r.Topics[i].Name, &from) >= 0)
                names[n++] = r.Topics[i].Name;
    }
    qsort(names, (size_t)n, sizeof(*names), cmp_name);
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++)
        if (m == 0 || !name_eq(names[i], names[m - 1]))
            names[m++] = names[i];
    n = m;

    gr_kerr_t err = KERR_NONE;
    gr_str_t why = GR_STR_NULL;
    if (has_cursor && !all) {
        bool found = false;
        for (int32_t i = 0; i < n && !found; i++)
            found = name_eq(names[i], from);
        if (!found) {
            err = KERR_INVALID_REQUEST;
            why = gr_req_printf(req, "DescribeTopicPartitionsRequest topic list should contain the cursor topic: %.*s",
                                (int)GR_MAX(from.len, 0), from.p);
        }
    }
    if (has_cursor && r.Cursor.PartitionIndex < 0) {
        err = KERR_INVALID_REQUEST;
        why = GR_STR("DescribeTopicPartitionsRequest cursor partition must be valid");
    }
    if (err != KERR_NONE) {
        /* the request fails: each named topic gets the error */
        int32_t nt = GR_MAX(r.Topics_count, 0);
        resp.Topics = GR_ARENA_ARRAY(req, gr_DescribeTopicPartitionsResponse_DescribeTopicPartitionsResponseTopic_t, nt,
                                     gr_DescribeTopicPartitionsResponse_DescribeTopicPartitionsResponseTopic_init);
        for (int32_t i = 0; i < nt; i++) {
            resp.Topics[i].ErrorCode = err;
            resp.Topics[i].Name = r.Topics[i].Name;
            resp.Topics[i].Partitions_count = 0;
        }
        resp.Topics_count = nt;
        gr_debug("admin", "DescribeTopicPartitions from %s refused: %.*s", gr_req_peer(req), (int)why.len, why.p);
        GR_RESPOND(req, DescribeTopicPartitionsResponse, &resp);
        return;
    }

    int32_t limit = GR_MAX(GR_MIN(r.ResponsePartitionLimit, DESCRIBE_PARTITIONS_MAX), 1);
    int32_t remaining = limit;
    int32_t *node = gr_arena_alloc(&req->arena, sizeof(int32_t));
    *node = gr_broker.cfg.node_id;
    resp.Topics = GR_ARENA_ARRAY(req, gr_DescribeTopicPartitionsResponse_DescribeTopicPartitionsResponseTopic_t, n,
                                 gr_DescribeTopicPartitionsResponse_DescribeTopicPartitionsResponseTopic_init);
    resp.Topics_count = 0;
    for (int32_t i = 0; i < n; i++) {
        if (remaining == 0) {
            resp.NextCursor.TopicName = names[i];
            resp.NextCursor.PartitionIndex = 0;
            resp.NextCursor_is_null = false;
            break;
        }
        gr_topic_t *t = find_topic(names[i]);
        gr_DescribeTopicPartitionsResponse_DescribeTopicPartitionsResponseTopic_t *rt = &resp.Topics[resp.Topics_count];
        if (!t) {
            if (all)
                continue;
            rt->ErrorCode = gr_topic_validate_name(names[i].p, (size_t)GR_MAX(names[i].len, 0)) == GR_SERR_NONE
                                ? KERR_UNKNOWN_TOPIC_OR_PARTITION
                                : KERR_INVALID_TOPIC_EXCEPTION;
            rt->Name = names[i];
            rt->IsInternal = gr_topic_name_internal(names[i].p, (size_t)GR_MAX(names[i].len, 0));
            rt->Partitions_count = 0;
            resp.Topics_count++;
            continue;
        }
        int32_t start = has_cursor && name_eq(names[i], from) ? r.Cursor.PartitionIndex : 0;
        int32_t upper = (int32_t)GR_MIN((int64_t)t->npart, (int64_t)start + remaining);
        int32_t cnt = upper > start ? upper - start : 0;
        rt->ErrorCode = KERR_NONE;
        rt->Name = GR_STR(t->name);
        rt->TopicId = t->id;
        rt->IsInternal = t->internal;
        rt->TopicAuthorizedOperations = GR_TOPIC_AUTHORIZED_OPS;
        rt->Partitions = GR_ARENA_ARRAY(req, gr_DescribeTopicPartitionsResponse_DescribeTopicPartitionsResponsePartition_t,
                                        cnt, gr_DescribeTopicPartitionsResponse_DescribeTopicPartitionsResponsePartition_init);
        rt->Partitions_count = cnt;
        for (int32_t j = 0; j < cnt; j++)
            dtp_partition(t->parts[start + j], node, &rt->Partitions[j]);
        resp.Topics_count++;
        if (upper < t->npart) {
            resp.NextCursor.TopicName = rt->Name;
            resp.NextCursor.PartitionIndex = upper;
            resp.NextCursor_is_null = false;
            break;
        }
        remaining -= cnt;
    }
    GR_RESPOND(req, DescribeTopicPartitionsResponse, &resp);
}

/* ---------------------------------------------------- OffsetForLeaderEpoch */

/* Kafka's Partition.lastOffsetForLeaderEpoch on the leader: the epoch
 * fence first, then the end offset of the requested epoch from the cache
 * (-1/-1 when it knows none). */
static void epoch_end_one(const gr_OffsetForLeaderEpochRequest_OffsetForLeaderPartition_t *rp, gr_topic_t *t,
                          gr_OffsetForLeaderEpochResponse_EpochEndOffset_t *pr)
{
    pr->Partition = rp->Partition;
    pr->LeaderEpoch = -1;
    pr->EndOffset = -1;
    gr_partition_t *p = t ? gr_partition_get(t, rp->Partition) : NULL;
    if (!p) {
        pr->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (rp->CurrentLeaderEpoch >= 0 && rp->CurrentLeaderEpoch != p->leader_epoch) {
        pr->ErrorCode = rp->CurrentLeaderEpoch < p->leader_epoch ? KERR_FENCED_LEADER_EPOCH
                                                                 : KERR_UNKNOWN_LEADER_EPOCH;
        return;
    }
    pr->ErrorCode = KERR_NONE;
    gr_epochs_end_offset(&p->epochs, rp->LeaderEpoch, gr_log_end_offset(p->log), &pr->LeaderEpoch, &pr->EndOffset);
}

void gr_api_offset_for_leader_epoch(gr_req_t *req, gr_rd_t *body)
{
    gr_OffsetForLeaderEpochRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, OffsetForLeaderEpochRequest, &r);

    gr_OffsetForLeaderEpochResponse_t resp;
    gr_OffsetForLeaderEpochResponse_init(&resp);
    int32_t n = GR_MAX(r.Topics_count, 0);
    resp.Topics = GR_ARENA_ARRAY(req, gr_OffsetForLeaderEpochResponse_OffsetForLeaderTopicResult_t, n,
                                 gr_OffsetForLeaderEpochResponse_OffsetForLeaderTopicResult_init);
    resp.Topics_count = n;
    for (int32_t i = 0; i < n; i++) {
        const gr_OffsetForLeaderEpochRequest_OffsetForLeaderTopic_t *rt = &r.Topics[i];
        gr_OffsetForLeaderEpochResponse_OffsetForLeaderTopicResult_t *res = &resp.Topics[i];
        res->Topic = rt->Topic;
        int32_t np = GR_MAX(rt->Partitions_count, 0);
        res->Partitions = GR_ARENA_ARRAY(req, gr_OffsetForLeaderEpochResponse_EpochEndOffset_t, np,
                                         gr_OffsetForLeaderEpochResponse_EpochEndOffset_init);
        res->Partitions_count = np;
        gr_topic_t *t = find_topic(rt->Topic);
        for (int32_t j = 0; j < np; j++)
            epoch_end_one(&rt->Partitions[j], t, &res->Partitions[j]);
    }
    GR_RESPOND(req, OffsetForLeaderEpochResponse, &resp);
}
