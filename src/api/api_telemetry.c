/*
 * api_telemetry.c - KIP-714 client metrics: GetTelemetrySubscriptions (key
 * 71, v0), PushTelemetry (72, v0) and ListClientMetricsResources (74, v0).
 *
 * This broker collects no client metrics: every client gets the
 * subscription Kafka's ClientMetricsManager gives when no client-metrics
 * resource matches it, one that asks for no metric, so a client following
 * KIP-714 never pushes and asks again after PushIntervalMs.  Nothing is
 * kept per client: the subscription id is Kafka's function of the (empty)
 * metric list, the push interval and the client instance id, so a push
 * can be checked against it without state.  A push that passes Kafka's
 * checks (instance id, subscription id, compression type, size) is
 * answered NONE and its payload dropped.  There are no client-metrics
 * resources (DescribeConfigs and the alter APIs refuse the resource type),
 * so ListClientMetricsResources lists none.
 */
#include "api_util.h"
#include "batch.h"
#include "broker.h"
#include "checkpoint.h"
#include "kerr.h"

#define PUSH_INTERVAL_MS 300000          /* ClientMetricsConfigs.DEFAULT_INTERVAL_MS */
#define TELEMETRY_MAX_BYTES (1 << 20)    /* telemetry.max.bytes default */

/* What Kafka accepts for pushes (ClientMetricsManager's
 * SUPPORTED_COMPRESSION_TYPES): zstd, lz4, gzip, snappy. */
static const int8_t accepted[] = {GR_COMPRESSION_ZSTD, GR_COMPRESSION_LZ4, GR_COMPRESSION_GZIP,
                                  GR_COMPRESSION_SNAPPY};

static int64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return (int64_t)v;
}

/* Kafka's Uuid.hashCode(). */
static int32_t uuid_hash(const gr_uuid_t *u)
{
    int64_t h = be64(u->b) ^ be64(u->b + 8);
    return (int32_t)(uint32_t)((uint64_t)h >> 32) ^ (int32_t)(uint32_t)(uint64_t)h;
}

/* computeSubscriptionId: CRC-32C of the metric set's toString() and the
 * push interval ("[]300000"), xor the instance id's hash. */
static int32_t subscription_id(const gr_uuid_t *instance)
{
    static const char text[] = "[]300000";
    uint32_t crc = gr_crc32c(0, text, sizeof(text) - 1);
    return (int32_t)crc ^ uuid_hash(instance);
}

/* Kafka's Uuid.RESERVED: the zero id and the metadata topic's (0, 1). */
static bool uuid_reserved(const gr_uuid_t *u)
{
    for (int i = 0; i < 15; i++)
        if (u->b[i])
            return false;
    return u->b[15] <= 1;
}

void gr_api_get_telemetry_subscriptions(gr_req_t *req, gr_rd_t *body)
{
    gr_GetTelemetrySubscriptionsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, GetTelemetrySubscriptionsRequest, &r);

    gr_GetTelemetrySubscriptionsResponse_t resp;
    gr_GetTelemetrySubscriptionsResponse_init(&resp);
    resp.ErrorCode = KERR_NONE;
    resp.ClientInstanceId = r.ClientInstanceId;
    gr_uuid_t zero = {{0}};
    if (!memcmp(&r.ClientInstanceId, &zero, sizeof(zero))) {
        do
            gr_uuid_random(&resp.ClientInstanceId);
        while (uuid_reserved(&resp.ClientInstanceId));
    }
    resp.SubscriptionId = subscription_id(&resp.ClientInstanceId);
    resp.AcceptedCompressionTypes = (int8_t *)accepted;
    resp.AcceptedCompressionTypes_count = (int32_t)GR_ARRAY_LEN(accepted);
    resp.PushIntervalMs = PUSH_INTERVAL_MS;
    resp.TelemetryMaxBytes = TELEMETRY_MAX_BYTES;
    resp.DeltaTemporality = true;
    resp.RequestedMetrics_count = 0;
    GR_RESPOND(req, GetTelemetrySubscriptionsResponse, &resp);
}

void gr_api_push_telemetry(gr_req_t *req, gr_rd_t *body)
{
    gr_PushTelemetryRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, PushTelemetryRequest, &r);

    gr_PushTelemetryResponse_t resp;
    gr_PushTelemetryResponse_init(&resp);
    bool codec_ok = r.CompressionType == GR_COMPRESSION_NONE;
    for (size_t i = 0; i < GR_ARRAY_LEN(accepted); i++)
        codec_ok |= r.CompressionType == accepted[i];
    if (uuid_reserved(&r.ClientInstanceId))
        resp.ErrorCode = KERR_INVALID_REQUEST;
    else if (r.SubscriptionId != subscription_id(&r.ClientInstanceId))
        resp.ErrorCode = KERR_UNKNOWN_SUBSCRIPTION_ID;
    else if (!codec_ok)
        resp.ErrorCode = KERR_UNSUPPORTED_COMPRESSION_TYPE;
    else if (r.Metrics.len > TELEMETRY_MAX_BYTES)
        resp.ErrorCode = KERR_TELEMETRY_TOO_LARGE;
    else
        resp.ErrorCode = KERR_NONE;
    GR_RESPOND(req, PushTelemetryResponse, &resp);
}

void gr_api_list_client_metrics_resources(gr_req_t *req, gr_rd_t *body)
{
    gr_ListClientMetricsResourcesRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, ListClientMetricsResourcesRequest, &r);

    gr_ListClientMetricsResourcesResponse_t resp;
    gr_ListClientMetricsResourcesResponse_init(&resp);
    resp.ErrorCode = KERR_NONE;
    resp.ClientMetricsResources_count = 0;
    GR_RESPOND(req, ListClientMetricsResourcesResponse, &resp);
}
