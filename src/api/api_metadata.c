/*
 * api_metadata.c - Metadata (key 3), versions 0-12.
 *
 * v0: an empty topic list means all topics.  v1+: null means all, empty
 * means none.  Unknown topics are created when auto.create.topics.enable
 * is set and (v4+) the request allows it; an invalid name gets
 * INVALID_TOPIC_EXCEPTION.  v10+ carries topic ids in the answer; a
 * request asks by id only from v12: a v10-11 request with a topic id or a
 * null name is refused whole, as Kafka refuses it (InvalidRequestException
 * turned into MetadataRequest's error response: INVALID_REQUEST for every
 * topic asked, no brokers, no cluster id, no controller).  Internal topics
 * are flagged.  Authorized operations (v8+), when asked for, are every
 * operation of the resource type, what Kafka reports without an
 * authorizer: the cluster's up to v10, each topic's except those of
 * unknown topic ids.  The names only the broker creates
 * (gr_topic_name_reserved) are never auto-created:
 * UNKNOWN_TOPIC_OR_PARTITION, what a KRaft broker answers while its
 * controller refuses the creation.  This broker is the only one, leader of
 * everything, epoch 0.
 *
 * A partition whose storage is failing (gr_log_storage_failed: offline
 * after a torn append, a failed fsync, a failed read) is listed with this
 * broker in OfflineReplicas (v5+), as Kafka's metadata cache lists the
 * replicas of an offline log dir, and with ErrorCode KAFKA_STORAGE_ERROR,
 * a retriable metadata error: clients refresh and retry.  Unlike Kafka,
 * whose controller would move leadership away (and, with no other
 * replica, leave the partition without a leader), the leader stays: its
 * requests are how a cleared fault is noticed, and asking
 * gr_log_storage_failed retries the failed fsync or read, so the error
 * goes away by itself once the fault clears.
 *
 * A topic named (or identified) more than once is answered once, as Kafka
 * does (it reads the names into a set): otherwise a request naming one
 * large topic thousands of times would have its answer built thousands of
 * times over.
 */
#include "api_util.h"
#include "broker.h"
#include "kerr.h"

static void fill_topic(gr_req_t *req, gr_topic_t *t, gr_MetadataResponse_MetadataResponseTopic_t *mt)
{
    mt->ErrorCode = KERR_NONE;
    mt->Name = (gr_str_t){t->name, (int32_t)strlen(t->name)};
    mt->TopicId = t->id;
    mt->IsInternal = t->internal;
    mt->Partitions = GR_ARENA_ARRAY(req, gr_MetadataResponse_MetadataResponsePartition_t, t->npart,
                                    gr_MetadataResponse_MetadataResponsePartition_init);
    mt->Partitions_count = t->npart;
    int32_t *node = gr_arena_alloc(&req->arena, sizeof(int32_t));
    *node = gr_broker.cfg.node_id;
    int64_t now_ms = gr_now_ms();
    for (int32_t i = 0; i < t->npart; i++) {
        gr_MetadataResponse_MetadataResponsePartition_t *mp = &mt->Partitions[i];
        mp->ErrorCode = KERR_NONE;
        mp->PartitionIndex = i;
        mp->LeaderId = gr_broker.cfg.node_id;
        mp->LeaderEpoch = t->parts[i]->leader_epoch;
        mp->ReplicaNodes = node;
        mp->ReplicaNodes_count = 1;
        mp->IsrNodes = node;
        mp->IsrNodes_count = 1;
        mp->OfflineReplicas_count = 0;
        if (gr_log_storage_failed(t->parts[i]->log, now_ms)) {
            mp->ErrorCode = KERR_KAFKA_STORAGE_ERROR;
            mp->OfflineReplicas = node;
            mp->OfflineReplicas_count = 1;
        }
    }
}

/* v10-11: topics are asked for by name only.  A topic id, or a null name,
 * gets Kafka's error response (MetadataRequest.getErrorResponse): every
 * topic asked, in request order, INVALID_REQUEST, its name ("" for null)
 * and id echoed; nothing else.  Returns whether it answered. */
static bool refuse_by_id(gr_req_t *req, const gr_MetadataRequest_t *r)
{
    static const uint8_t zero[16];
    int32_t n = r->Topics_count;
    int32_t i = 0;
    while (i < n && r->Topics[i].Name.len >= 0 && !memcmp(&r->Topics[i].TopicId, zero, sizeof(zero)))
        i++;
    if (i == n)
        return false;
    gr_MetadataResponse_t resp;
    gr_MetadataResponse_init(&resp);
    resp.ClusterId = GR_STR_NULL;
    resp.ControllerId = -1;
    resp.Brokers_count = 0;
    resp.Topics = GR_ARENA_ARRAY(req, gr_MetadataResponse_MetadataResponseTopic_t, n,
                                 gr_MetadataResponse_MetadataResponseTopic_init);
    resp.Topics_count = n;
    for (i = 0; i < n; i++) {
        gr_MetadataResponse_MetadataResponseTopic_t *mt = &resp.Topics[i];
        mt->ErrorCode = KERR_INVALID_REQUEST;
        mt->Name = r->Topics[i].Name.len >= 0 ? gr_str_keep(req, r->Topics[i].Name) : GR_STR("");
        mt->TopicId = r->Topics[i].TopicId;
        mt->IsInternal = false;
        mt->Partitions_count = 0;
    }
    GR_RESPOND(req, MetadataResponse, &resp);
    return true;
}

void gr_api_metadata(gr_req_t *req, gr_rd_t *body)
{
    gr_MetadataRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, MetadataRequest, &r);

    gr_MetadataResponse_t resp;
    gr_MetadataResponse_init(&resp);
    resp.Brokers = GR_ARENA_ARRAY(req, gr_MetadataResponse_MetadataResponseBroker_t, 1,
                                  gr_MetadataResponse_MetadataResponseBroker_init);
    resp.Brokers_count = 1;
    resp.Brokers[0].NodeId = gr_broker.cfg.node_id;
    resp.Brokers[0].Host = GR_STR(gr_broker.adv_host);
    resp.Brokers[0].Port = gr_broker.adv_port;
    resp.Brokers[0].Rack = GR_STR_NULL;
    resp.ClusterId = GR_STR(gr_broker.cluster_id);
    resp.ControllerId = gr_broker.cfg.node_id;

    bool all = r.Topics_count < 0 || (req->api_version == 0 && r.Topics_count == 0);
    if (!all && req->api_version < 12 && refuse_by_id(req, &r))
        return;
    bool topic_ops = req->api_version >= 8 && r.IncludeTopicAuthorizedOperations;
    if (req->api_version >= 8 && req->api_version <= 10 && r.IncludeClusterAuthorizedOperations)
        resp.ClusterAuthorizedOperations = GR_CLUSTER_AUTHORIZED_OPS;
    if (all) {
        int32_t n = gr_topic_count();
        resp.Topics = GR_ARENA_ARRAY(req, gr_MetadataResponse_MetadataResponseTopic_t, n,
                                     gr_MetadataResponse_MetadataResponseTopic_init);
        int32_t i = 0;
        for (gr_topic_t *t = gr_topic_next(NULL); t && i < n; t = gr_topic_next(t)) {
            fill_topic(req, t, &resp.Topics[i]);
            if (topic_ops)
                resp.Topics[i].TopicAuthorizedOperations = GR_TOPIC_AUTHORIZED_OPS;
            i++;
        }
        resp.Topics_count = i;
        GR_RESPOND(req, MetadataResponse, &resp);
        return;
    }

    bool allow_create = gr_broker.cfg.auto_create_topics_enable && (req->api_version < 4 || r.AllowAutoTopicCreation);
    int32_t n = r.Topics_count;
    resp.Topics = GR_ARENA_ARRAY(req, gr_MetadataResponse_MetadataResponseTopic_t, n,
                                 gr_MetadataResponse_MetadataResponseTopic_init);
    gr_keyset_t seen;
    gr_keyset_init(req, &seen, n);
    int32_t out = 0;
    for (int32_t i = 0; i < n; i++) {
        const gr_MetadataRequest_MetadataRequestTopic_t *rt = &r.Topics[i];
        if (rt->Name.len >= 0 ? gr_keyset_add(&seen, rt->Name.p, rt->Name.len, 0) > 1
                              : gr_keyset_add(&seen, &rt->TopicId, (int32_t)sizeof(rt->TopicId), 1) > 1)
            continue;
        gr_MetadataResponse_MetadataResponseTopic_t *mt = &resp.Topics[out++];
        gr_topic_t *t = NULL;
        if (topic_ops)
            mt->TopicAuthorizedOperations = GR_TOPIC_AUTHORIZED_OPS;
        if (rt->Name.len >= 0) {
            mt->Name = gr_str_keep(req, rt->Name);
            t = gr_topic_find(rt->Name.p, (size_t)rt->Name.len);
        } else {
            t = gr_topic_find_id(&rt->TopicId);
            mt->TopicId = rt->TopicId;
            if (!t) {
                mt->ErrorCode = KERR_UNKNOWN_TOPIC_ID;
                mt->Name = GR_STR_NULL;
                mt->TopicAuthorizedOperations = INT32_MIN;
                continue;
            }
        }
        if (!t) {
            if (gr_topic_validate_name(rt->Name.p, (size_t)rt->Name.len) != GR_SERR_NONE) {
                mt->ErrorCode = KERR_INVALID_TOPIC_EXCEPTION;
                continue;
            }
            mt->IsInternal = gr_topic_name_internal(rt->Name.p, (size_t)rt->Name.len);
            if (!allow_create || gr_topic_name_reserved(rt->Name.p, (size_t)rt->Name.len)) {
                mt->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            const char *msg;
            gr_serr_t serr = gr_topic_create(rt->Name.p, (size_t)rt->Name.len, gr_broker.cfg.num_partitions, NULL,
                                             false, &t, &msg);
            if (serr != GR_SERR_NONE) {
                mt->ErrorCode = gr_api_serr_kerr(serr);
                continue;
            }
        }
        fill_topic(req, t, mt);
    }
    resp.Topics_count = out;
    GR_RESPOND(req, MetadataResponse, &resp);
}
