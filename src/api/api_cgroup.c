/*
 * api_cgroup.c - the consumer-group APIs of KIP-848: ConsumerGroupHeartbeat
 * (key 68, v0-1) and ConsumerGroupDescribe (key 69, v0), as Kafka 4's
 * GroupCoordinatorService answers them.
 *
 * ConsumerGroupHeartbeat: the group id is validated first (INVALID_GROUP_ID
 * for a null or empty one, then the coordinator's state:
 * COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR), then the request's fields
 * (gr_cgroup_validate_heartbeat: INVALID_REQUEST with Kafka's message,
 * UNSUPPORTED_ASSIGNOR), then the group (cgroup.c), which answers once the
 * records it wrote are durable: the request parks meanwhile, and a
 * connection that goes away drops the answer, not the write.  Strings go
 * in through the held form of jstr.h and come back re-encoded.
 *
 * ConsumerGroupDescribe reads the state: GROUP_ID_NOT_FOUND for a group that
 * does not exist or is not a consumer group; members with their current and
 * target assignments, topic names from the group's subscription metadata.
 */
#include "api_util.h"
#include "broker.h"
#include "cgroup.h"
#include "coord.h"
#include "kerr.h"

#include <stdlib.h>
#include <string.h>

/* AclOperation READ(3), DELETE(6), DESCRIBE(8) */
#define GROUP_AUTHORIZED_OPS ((1 << 3) | (1 << 6) | (1 << 8))

/* ------------------------------------------------------------ heartbeat */

typedef struct hb_park {
    gr_req_t *req;                  /* NULL once the connection went away */
} hb_park_t;

static void hb_respond(gr_req_t *req, const gr_cg_hb_result_t *res)
{
    gr_ConsumerGroupHeartbeatResponse_t resp;
    gr_ConsumerGroupHeartbeatResponse_init(&resp);
    resp.ErrorCode = res->error;
    resp.ErrorMessage = res->error != KERR_NONE && res->message ? gr_req_printf(req, "%s", res->message)
                                                                : GR_STR_NULL;
    resp.MemberId = res->member_id ? gr_req_wire(req, gr_arena_strndup(&req->arena, res->member_id,
                                                                       strlen(res->member_id)))
                                   : GR_STR_NULL;
    resp.MemberEpoch = res->error == KERR_NONE ? res->member_epoch : -1;
    resp.HeartbeatIntervalMs = res->error == KERR_NONE ? res->heartbeat_interval_ms : 0;
    resp.Assignment_is_null = !res->has_assignment || res->error != KERR_NONE;
    if (!resp.Assignment_is_null) {
        const gr_assign_t *a = &res->assignment;
        resp.Assignment.TopicPartitions =
            GR_ARENA_ARRAY(req, gr_ConsumerGroupHeartbeatResponse_TopicPartitions_t, a->n,
                           gr_ConsumerGroupHeartbeatResponse_TopicPartitions_init);
        for (int32_t i = 0; i < a->n; i++) {
            gr_ConsumerGroupHeartbeatResponse_TopicPartitions_t *t = &resp.Assignment.TopicPartitions[i];
            t->TopicId = a->t[i].topic;
            t->Partitions = gr_arena_alloc(&req->arena, sizeof(int32_t) * (size_t)GR_MAX(a->t[i].n, 1));
            memcpy(t->Partitions, a->t[i].p, sizeof(int32_t) * (size_t)a->t[i].n);
            t->Partitions_count = a->t[i].n;
        }
        resp.Assignment.TopicPartitions_count = a->n;
    }
    GR_RESPOND(req, ConsumerGroupHeartbeatResponse, &resp);
}

static void hb_cancel(gr_req_t *req)
{
    hb_park_t *pk = req->park;
    if (pk)
        pk->req = NULL;
    req->park = NULL;
}

static void hb_done(void *arg, gr_cg_hb_result_t *res)
{
    hb_park_t *pk = arg;
    gr_req_t *req = pk->req;
    if (req) {
        req->on_cancel = NULL;
        req->park = NULL;
        hb_respond(req, res);
    }
    free(pk);
}

static void hb_error(gr_req_t *req, gr_kerr_t err, const char *msg)
{
    gr_cg_hb_result_t res = {.error = err, .message = msg, .member_epoch = -1};
    hb_respond(req, &res);
}

void gr_api_consumer_group_heartbeat(gr_req_t *req, gr_rd_t *body)
{
    gr_ConsumerGroupHeartbeatRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, ConsumerGroupHeartbeatRequest, &r);
    gr_cg_hb_t hb = {
        .version = req->api_version,
        .group_id = gr_req_held(req, r.GroupId),
        .member_id = gr_req_held(req, r.MemberId),
        .member_epoch = r.MemberEpoch,
        .instance_id = gr_req_held(req, r.InstanceId),
        .rack_id = gr_req_held(req, r.RackId),
        .rebalance_timeout_ms = r.RebalanceTimeoutMs,
        .regex = req->api_version >= 1 ? gr_req_held(req, r.SubscribedTopicRegex) : NULL,
        .server_assignor = gr_req_held(req, r.ServerAssignor),
        .client_id = req->client_id,
        .client_host = gr_req_client_host(req),
    };
    /* Kafka's isGroupIdNotEmpty, then the coordinator's state */
    gr_kerr_t err = gr_coord_validate_group(hb.group_id, hb.group_id ? strlen(hb.group_id) : 0,
                                            GR_GROUP_API_HEARTBEAT);
    if (err != KERR_NONE) {
        hb_error(req, err, NULL);
        return;
    }
    if (r.SubscribedTopicNames_count >= 0) {
        int32_t n = r.SubscribedTopicNames_count;
        hb.topics = gr_arena_calloc(&req->arena, (size_t)GR_MAX(n, 1), sizeof(char *));
        hb.ntopics = n;
        for (int32_t i = 0; i < n; i++) {
            gr_str_t s = r.SubscribedTopicNames[i];
            hb.topics[i] = s.len >= 0 ? gr_arena_strndup(&req->arena, s.p ? s.p : "", (size_t)s.len) : "";
        }
    }
    if (r.TopicPartitions_count >= 0) {
        gr_cg_owned_t *o = gr_arena_calloc(&req->arena, (size_t)GR_MAX(r.TopicPartitions_count, 1), sizeof(*o));
        for (int32_t i = 0; i < r.TopicPartitions_count; i++) {
            o[i].topic = r.TopicPartitions[i].TopicId;
            o[i].parts = r.TopicPartitions[i].Partitions;
            o[i].n = GR_MAX(r.TopicPartitions[i].Partitions_count, 0);
        }
        hb.owned = o;
        hb.nowned = r.TopicPartitions_count;
    }
    const char *msg = NULL;
    if ((err = gr_cgroup_validate_heartbeat(&hb, &msg)) != KERR_NONE) {
        hb_error(req, err, msg);
        return;
    }
    if (!hb.member_id)
        hb.member_id = "";
    hb_park_t *pk = gr_calloc(1, sizeof(*pk));
    pk->req = req;
    req->park = pk;
    req->on_cancel = hb_cancel;
    gr_cgroup_heartbeat(&hb, hb_done, pk);
}

/* ------------------------------------------------------------ describe */

static void fill_assignment(gr_req_t *req, const gr_cgroup_t *cg, const gr_assign_t *a,
                            gr_ConsumerGroupDescribeResponse_Assignment_t *out)
{
    gr_ConsumerGroupDescribeResponse_Assignment_init(out);
    int32_t n = a ? a->n : 0;
    out->TopicPartitions = GR_ARENA_ARRAY(req, gr_ConsumerGroupDescribeResponse_TopicPartitions_t, n,
                                          gr_ConsumerGroupDescribeResponse_TopicPartitions_init);
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *name = gr_cgroup_topic_name(cg, &a->t[i].topic);
        if (!name)
            continue;           /* a deleted topic: Kafka leaves it out */
        gr_ConsumerGroupDescribeResponse_TopicPartitions_t *t = &out->TopicPartitions[k++];
        t->TopicId = a->t[i].topic;
        t->TopicName = (gr_str_t){gr_arena_strndup(&req->arena, name, strlen(name)), (int32_t)strlen(name)};
        t->Partitions = gr_arena_alloc(&req->arena, sizeof(int32_t) * (size_t)GR_MAX(a->t[i].n, 1));
        memcpy(t->Partitions, a->t[i].p, sizeof(int32_t) * (size_t)a->t[i].n);
        t->Partitions_count = a->t[i].n;
    }
    out->TopicPartitions_count = k;
}

void gr_api_consumer_group_describe(gr_req_t *req, gr_rd_t *body)
{
    gr_ConsumerGroupDescribeRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, ConsumerGroupDescribeRequest, &r);
    int32_t n = GR_MAX(r.GroupIds_count, 0);
    gr_ConsumerGroupDescribeResponse_t resp;
    gr_ConsumerGroupDescribeResponse_init(&resp);
    resp.Groups = GR_ARENA_ARRAY(req, gr_ConsumerGroupDescribeResponse_DescribedGroup_t, n,
                                 gr_ConsumerGroupDescribeResponse_DescribedGroup_init);
    /* a group named twice is described once (each answer copies every
     * member's assignments) */
    gr_keyset_t seen;
    gr_keyset_init(req, &seen, n);
    int32_t out = 0;
    for (int32_t i = 0; i < n; i++) {
        const char *id = gr_req_held(req, r.GroupIds[i]);
        if (gr_keyset_add(&seen, id ? id : "", id ? (int32_t)strlen(id) : 0, !id) > 1)
            continue;
        gr_ConsumerGroupDescribeResponse_DescribedGroup_t *d = &resp.Groups[out++];
        d->GroupId = gr_req_wire(req, id ? id : "");
        d->AuthorizedOperations = r.IncludeAuthorizedOperations ? GROUP_AUTHORIZED_OPS : INT32_MIN;
        d->ErrorCode = gr_coord_validate_group(id, id ? strlen(id) : 0, GR_GROUP_API_DESCRIBE);
        if (d->ErrorCode == KERR_NONE && (!id || !id[0]))
            d->ErrorCode = KERR_INVALID_GROUP_ID;
        if (d->ErrorCode != KERR_NONE)
            continue;
        gr_coord_flush_commits(gr_coord_partition_for(id, strlen(id)));
        gr_group_t *g = gr_group_find(id, strlen(id));
        if (!g || g->type != GR_GROUP_CONSUMER) {
            d->ErrorCode = KERR_GROUP_ID_NOT_FOUND;
            d->ErrorMessage = g ? gr_req_printf(req, "Group %s is not a consumer group.", g->group_id)
                                : gr_req_printf(req, "Group %s not found.", id);
            continue;
        }
        const gr_cgroup_t *cg = g->cg;
        d->GroupState = GR_STR(gr_cgroup_state_name(cg));
        d->GroupEpoch = cg->group_epoch;
        d->AssignmentEpoch = cg->assignment_epoch;
        d->AssignorName = GR_STR(gr_cgroup_assignor(cg));
        int32_t nm = gr_cgroup_nmembers(cg);
        d->Members = GR_ARENA_ARRAY(req, gr_ConsumerGroupDescribeResponse_Member_t, nm,
                                    gr_ConsumerGroupDescribeResponse_Member_init);
        int32_t k = 0;
        for (gr_cmember_t *m = gr_cgroup_next(cg, NULL); m && k < nm; m = gr_cgroup_next(cg, m)) {
            gr_ConsumerGroupDescribeResponse_Member_t *dm = &d->Members[k++];
            dm->MemberId = gr_req_wire(req, m->member_id);
            dm->InstanceId = gr_req_wire(req, m->instance_id);
            dm->RackId = gr_req_wire(req, m->rack_id);
            dm->MemberEpoch = m->epoch;
            dm->ClientId = gr_req_wire(req, m->client_id);
            dm->ClientHost = gr_req_wire(req, m->client_host);
            dm->SubscribedTopicNames = gr_arena_calloc(&req->arena, (size_t)GR_MAX(m->ntopics, 1), sizeof(gr_str_t));
            for (int32_t t = 0; t < m->ntopics; t++)
                dm->SubscribedTopicNames[t] = (gr_str_t){m->topics[t], (int32_t)strlen(m->topics[t])};
            dm->SubscribedTopicNames_count = m->ntopics;
            dm->SubscribedTopicRegex = m->regex && m->regex[0] ? gr_req_wire(req, m->regex) : GR_STR_NULL;
            fill_assignment(req, cg, &m->assigned, &dm->Assignment);
            fill_assignment(req, cg, gr_cgroup_target(cg, m->member_id), &dm->TargetAssignment);
        }
        d->Members_count = k;
    }
    resp.Groups_count = out;
    GR_RESPOND(req, ConsumerGroupDescribeResponse, &resp);
}
