/*
 * api.c - the dispatch table, response framing and ApiVersions.
 *
 * Adding an API is one line in `apis` below (key, name, advertised range,
 * first flexible version, handler).  Every advertised range starts at 0:
 * librdkafka enables a feature only when the broker's range overlaps the
 * versions its feature map lists (rdkafka_feature.c; e.g. the consumer
 * group needs JoinGroup, SyncGroup, Heartbeat and LeaveGroup v0), so a
 * raised minimum silently disables features in older clients; and the
 * clients Kafka 4.0 abandoned (KIP-896) still have a broker here.
 *
 * Response frame as gr_resp_begin() lays it out in req->out:
 *
 *   +--------+----------------+-------------------------+------+
 *   | int32  | int32          | tagged fields (uvarint) | body |
 *   | size   | correlation_id | header v1 only          |      |
 *   +--------+----------------+-------------------------+------+
 *   header v1 iff the request was flexible, except ApiVersions, which
 *   always answers with header v0 (clients parse it before they know what
 *   the broker speaks).
 */
#include "api_util.h"
#include "jstr.h"
#include "kerr.h"
#include "net.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define API(key, name, min, max, flex, fn) {key, min, max, fn, flex, name}

static gr_api_def_t apis[] = {
    API(0, "Produce", 0, 11, 9, gr_api_produce),
    API(1, "Fetch", 0, 17, 12, gr_api_fetch),
    API(2, "ListOffsets", 0, 10, 6, gr_api_list_offsets),
    API(3, "Metadata", 0, 12, 9, gr_api_metadata),
    API(8, "OffsetCommit", 0, 9, 8, gr_api_offset_commit),
    API(9, "OffsetFetch", 0, 9, 6, gr_api_offset_fetch),
    API(10, "FindCoordinator", 0, 6, 3, gr_api_find_coordinator),
    API(11, "JoinGroup", 0, 9, 6, gr_api_join_group),
    API(12, "Heartbeat", 0, 4, 4, gr_api_heartbeat),
    API(13, "LeaveGroup", 0, 5, 4, gr_api_leave_group),
    API(14, "SyncGroup", 0, 5, 4, gr_api_sync_group),
    API(15, "DescribeGroups", 0, 5, 5, gr_api_describe_groups),
    API(16, "ListGroups", 0, 5, 3, gr_api_list_groups),
    API(18, "ApiVersions", 0, 4, 3, gr_api_api_versions),
    API(19, "CreateTopics", 0, 7, 5, gr_api_create_topics),
    API(20, "DeleteTopics", 0, 6, 4, gr_api_delete_topics),
    API(21, "DeleteRecords", 0, 2, 2, gr_api_delete_records),
    API(22, "InitProducerId", 0, 5, 2, gr_api_init_producer_id),
    API(23, "OffsetForLeaderEpoch", 0, 4, 4, gr_api_offset_for_leader_epoch),
    API(24, "AddPartitionsToTxn", 0, 5, 3, gr_api_add_partitions_to_txn),
    API(25, "AddOffsetsToTxn", 0, 4, 3, gr_api_add_offsets_to_txn),
    API(26, "EndTxn", 0, 5, 3, gr_api_end_txn),
    API(27, "WriteTxnMarkers", 0, 1, 1, gr_api_write_txn_markers),
    API(28, "TxnOffsetCommit", 0, 4, 3, gr_api_txn_offset_commit),
    API(32, "DescribeConfigs", 0, 4, 4, gr_api_describe_configs),
    API(33, "AlterConfigs", 0, 2, 2, gr_api_alter_configs),
    API(34, "AlterReplicaLogDirs", 0, 2, 2, gr_api_alter_replica_log_dirs),
    API(35, "DescribeLogDirs", 0, 4, 2, gr_api_describe_log_dirs),
    API(37, "CreatePartitions", 0, 3, 2, gr_api_create_partitions),
    API(42, "DeleteGroups", 0, 2, 2, gr_api_delete_groups),
    API(43, "ElectLeaders", 0, 2, 2, gr_api_elect_leaders),
    API(44, "IncrementalAlterConfigs", 0, 1, 1, gr_api_incremental_alter_configs),
    API(45, "AlterPartitionReassignments", 0, 0, 0, gr_api_alter_partition_reassignments),
    API(46, "ListPartitionReassignments", 0, 0, 0, gr_api_list_partition_reassignments),
    API(47, "OffsetDelete", 0, 0, INT16_MAX, gr_api_offset_delete),
    API(57, "UpdateFeatures", 0, 2, 0, gr_api_update_features),
    API(60, "DescribeCluster", 0, 1, 0, gr_api_describe_cluster),
    API(61, "DescribeProducers", 0, 0, 0, gr_api_describe_producers),
    API(65, "DescribeTransactions", 0, 0, 0, gr_api_describe_transactions),
    API(66, "ListTransactions", 0, 1, 0, gr_api_list_transactions),
    API(71, "GetTelemetrySubscriptions", 0, 0, 0, gr_api_get_telemetry_subscriptions),
    API(72, "PushTelemetry", 0, 0, 0, gr_api_push_telemetry),
    API(74, "ListClientMetricsResources", 0, 0, 0, gr_api_list_client_metrics_resources),
    API(68, "ConsumerGroupHeartbeat", 0, 1, 0, gr_api_consumer_group_heartbeat),
    API(69, "ConsumerGroupDescribe", 0, 0, 0, gr_api_consumer_group_describe),
    API(75, "DescribeTopicPartitions", 0, 0, 0, gr_api_describe_topic_partitions),
};

#define KEY_LIMIT 128
static gr_api_def_t *by_key[KEY_LIMIT];
static bool indexed;

static void build_index(void)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(apis); i++) {
        gr_api_def_t *d = &apis[i];
        const gr_api_spec_t *spec = gr_api_spec(d->key);
        /* the table must agree with the generated codecs */
        assert(spec && spec->flex_min == d->flex_min && d->max_version <= spec->max_version);
        (void)spec;
        by_key[d->key] = d;
    }
    indexed = true;
}

const gr_api_def_t *gr_api_lookup(int16_t key)
{
    if (!indexed)
        build_index();
    if (key < 0 || key >= KEY_LIMIT)
        return NULL;
    return by_key[key];
}

gr_api_handler_t *gr_api_set_handler(int16_t key, gr_api_handler_t *h)
{
    if (!indexed)
        build_index();
    gr_api_def_t *d = key >= 0 && key < KEY_LIMIT ? by_key[key] : NULL;
    if (d == NULL)
        return NULL;
    gr_api_handler_t *old = d->handler;
    d->handler = h;
    return old;
}

int gr_api_count(void)
{
    return (int)GR_ARRAY_LEN(apis);
}

const gr_api_def_t *gr_api_at(int i)
{
    if (i < 0 || i >= (int)GR_ARRAY_LEN(apis))
        return NULL;
    return &apis[i];
}

/* ------------------------------------------------------------ responses */

gr_wr_t *gr_resp_begin(gr_req_t *req)
{
    gr_wr_t *w = &req->out;
    req->size_pos = gr_wr_reserve(w, 4);
    gr_wr_i32(w, req->correlation_id);
    if (req->flexible && req->api_key != GR_API_VERSIONS_KEY)
        gr_wr_uvarint(w, 0);
    return w;
}

void gr_resp_end(gr_req_t *req)
{
    gr_wr_patch_i32(&req->out, req->size_pos, (int32_t)(req->out.total - 4));
    req->state = GR_REQ_DONE;
    gr_net_req_done(req);
}

void gr_resp_none(gr_req_t *req)
{
    req->state = GR_REQ_NORESP;
    gr_net_req_done(req);
}

void gr_req_bad(gr_req_t *req, const char *why)
{
    const gr_api_def_t *def = gr_api_lookup(req->api_key);
    gr_warn("net", "Closing connection from %s: malformed %s v%d request (%s)", gr_req_peer(req),
            def ? def->name : "unknown", req->api_version, why);
    /* nothing will be sent for it; the close frees it */
    req->state = GR_REQ_NORESP;
    if (req->conn)
        gr_net_req_close(req);
    else
        gr_net_req_done(req);
}

/* ------------------------------------------------------------ ApiVersions */

/* The finalized features a Kafka 4.0 broker reports in ApiVersions (v3+),
 * for what this broker serves.  metadata.version is the level of the
 * protocol versions served (4.0-IV0, the specs' production level), from
 * 3.3-IV3 (the lowest a Kafka 4.0 cluster runs) up.  group.version 1 means
 * KIP-848 consumer groups (served: finalized at 1, as a Kafka 4.0 cluster);
 * transaction.version 1-2 the KIP-890 transactions, not served, so
 * supported at level 0 only and, at level 0, not finalized (Kafka lists no
 * feature at level 0).
 * The features never change, so their epoch is a constant. */
typedef struct feature {
    const char *name;
    int16_t min, max;            /* supported levels */
    int16_t finalized;           /* 0 = not listed */
} feature_t;

static const feature_t features[] = {
    {"metadata.version", 7, 22, 22},
    {"group.version", 0, 1, 1},
    {"transaction.version", 0, 0, 0},
};

#define FEATURES_EPOCH 0

void gr_api_versions_unsupported(gr_req_t *req)
{
    /* v0 body: ErrorCode, [ApiKey MinVersion MaxVersion] */
    gr_wr_t *w = gr_resp_begin(req);
    gr_wr_i16(w, KERR_UNSUPPORTED_VERSION);
    gr_wr_array_len(w, false, gr_api_count());
    for (int i = 0; i < gr_api_count(); i++) {
        const gr_api_def_t *d = gr_api_at(i);
        gr_wr_i16(w, d->key);
        gr_wr_i16(w, d->min_version);
        gr_wr_i16(w, d->max_version);
    }
    gr_resp_end(req);
}

void gr_api_api_versions(gr_req_t *req, gr_rd_t *body)
{
    gr_ApiVersionsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, ApiVersionsRequest, &r);

    gr_ApiVersionsResponse_t resp;
    gr_ApiVersionsResponse_init(&resp);
    int n = gr_api_count();
    resp.ErrorCode = KERR_NONE;
    resp.ApiKeys = GR_ARENA_ARRAY(req, gr_ApiVersionsResponse_ApiVersion_t, n, gr_ApiVersionsResponse_ApiVersion_init);
    resp.ApiKeys_count = n;
    for (int i = 0; i < n; i++) {
        const gr_api_def_t *d = gr_api_at(i);
        resp.ApiKeys[i].ApiKey = d->key;
        resp.ApiKeys[i].MinVersion = d->min_version;
        resp.ApiKeys[i].MaxVersion = d->max_version;
    }
    resp.ThrottleTimeMs = 0;

    /* features (v3+ tagged fields): a feature whose lowest level is 0 is
     * left out below v4, as Kafka does (KAFKA-17492: older clients cannot
     * read a 0 there); finalized levels of 0 are never listed */
    size_t nf = 0;
    resp.SupportedFeatures = GR_ARENA_ARRAY(req, gr_ApiVersionsResponse_SupportedFeatureKey_t,
                                            (int32_t)GR_ARRAY_LEN(features),
                                            gr_ApiVersionsResponse_SupportedFeatureKey_init);
    resp.FinalizedFeatures = GR_ARENA_ARRAY(req, gr_ApiVersionsResponse_FinalizedFeatureKey_t,
                                            (int32_t)GR_ARRAY_LEN(features),
                                            gr_ApiVersionsResponse_FinalizedFeatureKey_init);
    for (size_t i = 0; i < GR_ARRAY_LEN(features); i++) {
        const feature_t *f = &features[i];
        if (req->api_version >= 4 || f->min > 0) {
            gr_ApiVersionsResponse_SupportedFeatureKey_t *k = &resp.SupportedFeatures[resp.SupportedFeatures_count++];
            k->Name = GR_STR(f->name);
            k->MinVersion = f->min;
            k->MaxVersion = f->max;
        }
        if (f->finalized > 0) {
            gr_ApiVersionsResponse_FinalizedFeatureKey_t *k = &resp.FinalizedFeatures[nf++];
            k->Name = GR_STR(f->name);
            k->MinVersionLevel = f->finalized;
            k->MaxVersionLevel = f->finalized;
        }
    }
    resp.FinalizedFeatures_count = (int32_t)nf;
    resp.FinalizedFeaturesEpoch = FEATURES_EPOCH;
    GR_RESPOND(req, ApiVersionsResponse, &resp);
}

/* ------------------------------------------------------------ UpdateFeatures */

/* FeatureUpdate.UpgradeType */
enum { UPGRADE = 1, SAFE_DOWNGRADE = 2, UNSAFE_DOWNGRADE = 3 };

static const feature_t *feature_find(gr_str_t name)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(features); i++)
        if (name.len >= 0 && (size_t)name.len == strlen(features[i].name) &&
            !memcmp(name.p, features[i].name, (size_t)name.len))
            return &features[i];
    return NULL;
}

/* Kafka's controller checks an update in this order (FeatureControlManager
 * .updateFeature); here the levels never change, so only an update to the
 * level a feature is at (0 for one not finalized or unknown) passes, as a
 * no-op.  The reason it is refused, or NULL. */
static const char *feature_update_refused(gr_req_t *req, const gr_UpdateFeaturesRequest_FeatureUpdateKey_t *u)
{
    int type = req->api_version == 0 ? (u->AllowDowngrade ? SAFE_DOWNGRADE : UPGRADE) : u->UpgradeType;
    const feature_t *f = feature_find(u->Feature);
    int16_t cur = f ? f->finalized : 0;
    if (type < UPGRADE || type > UNSAFE_DOWNGRADE)
        return "The controller does not support the given upgrade type.";
    if (u->MaxVersionLevel < 0)
        return "A feature version cannot be less than 0.";
    if (u->MaxVersionLevel == cur)
        return NULL;
    if (!f)
        return "This broker does not support this feature.";
    return gr_req_printf(req, "The feature levels of this broker are fixed: %s is at level %d.", f->name, cur).p;
}

void gr_api_update_features(gr_req_t *req, gr_rd_t *body)
{
    gr_UpdateFeaturesRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, UpdateFeaturesRequest, &r);

    gr_UpdateFeaturesResponse_t resp;
    gr_UpdateFeaturesResponse_init(&resp);
    resp.ThrottleTimeMs = 0;
    resp.ErrorCode = KERR_NONE;
    resp.ErrorMessage = GR_STR_NULL;
    int32_t n = r.FeatureUpdates_count > 0 ? r.FeatureUpdates_count : 0;
    for (int32_t i = 0; i < n; i++) {
        const gr_UpdateFeaturesRequest_FeatureUpdateKey_t *u = &r.FeatureUpdates[i];
        const char *why = feature_update_refused(req, u);
        if (why) {
            /* one refusal fails them all; no per-feature results then */
            resp.ErrorCode = KERR_INVALID_UPDATE_VERSION;
            resp.ErrorMessage = gr_req_printf(req, "The update failed for all features since the following "
                                                   "feature had an error: Invalid update version %d for feature "
                                                   "%.*s. %s",
                                              u->MaxVersionLevel, (int)GR_MAX(u->Feature.len, 0), u->Feature.p, why);
            GR_RESPOND(req, UpdateFeaturesResponse, &resp);
            return;
        }
    }
    resp.Results = GR_ARENA_ARRAY(req, gr_UpdateFeaturesResponse_UpdatableFeatureResult_t, n,
                                  gr_UpdateFeaturesResponse_UpdatableFeatureResult_init);
    resp.Results_count = n;
    for (int32_t i = 0; i < n; i++) {
        resp.Results[i].Feature = r.FeatureUpdates[i].Feature;
        resp.Results[i].ErrorCode = KERR_NONE;
        resp.Results[i].ErrorMessage = GR_STR_NULL;
    }
    GR_RESPOND(req, UpdateFeaturesResponse, &resp);
}

const char *gr_req_held(gr_req_t *req, gr_str_t s)
{
    if (s.len < 0)
        return NULL;
    size_t len = (size_t)s.len;
    const char *p = s.p ? s.p : "";
    if (!memchr(p, 0, len) && gr_jstr_is_canon(p, len, GR_JSTR_WIRE))
        return gr_arena_strndup(&req->arena, p, len);
    char *out = gr_arena_alloc(&req->arena, gr_jstr_canon(p, len, GR_JSTR_WIRE, NULL, GR_JSTR_HELD) + 1);
    gr_jstr_canon(p, len, GR_JSTR_WIRE, out, GR_JSTR_HELD);
    return out;
}

gr_str_t gr_req_wire(gr_req_t *req, const char *held)
{
    if (!held)
        return GR_STR_NULL;
    size_t len = strlen(held);
    if (!gr_jstr_has_nul(held, len))
        return (gr_str_t){held, (int32_t)len};
    char *out = gr_arena_alloc(&req->arena, len + 1);
    return (gr_str_t){out, (int32_t)gr_jstr_unhold(held, len, out)};
}

gr_str_t gr_req_printf(gr_req_t *req, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return GR_STR_NULL;
    char *buf = gr_arena_alloc(&req->arena, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(buf, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return (gr_str_t){buf, n};
}

gr_kerr_t gr_api_serr_kerr(gr_serr_t e)
{
    switch (e) {
    case GR_SERR_NONE:
        return KERR_NONE;
    case GR_SERR_IO:
        return KERR_KAFKA_STORAGE_ERROR;
    case GR_SERR_TOPIC_EXISTS:
        return KERR_TOPIC_ALREADY_EXISTS;
    case GR_SERR_TOPIC_NAME:
        return KERR_INVALID_TOPIC_EXCEPTION;
    case GR_SERR_PARTITIONS:
        return KERR_INVALID_PARTITIONS;
    case GR_SERR_CORRUPT_BATCH:
        return KERR_CORRUPT_MESSAGE;
    case GR_SERR_BATCH_TOO_LARGE:
        return KERR_MESSAGE_TOO_LARGE;
    case GR_SERR_INVALID_RECORD:
        return KERR_INVALID_RECORD;
    case GR_SERR_INVALID_TIMESTAMP:
        return KERR_INVALID_TIMESTAMP;
    case GR_SERR_COMPRESSION:
        return KERR_UNSUPPORTED_COMPRESSION_TYPE;
    case GR_SERR_PRODUCER_EPOCH:
        return KERR_INVALID_PRODUCER_EPOCH;
    case GR_SERR_SEQUENCE:
        return KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    case GR_SERR_TXN_STATE:
        return KERR_INVALID_TXN_STATE;
    case GR_SERR_COORDINATOR_EPOCH:
        return KERR_TRANSACTION_COORDINATOR_FENCED;
    }
    return KERR_UNKNOWN_SERVER_ERROR;
}
