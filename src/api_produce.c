/*
 * api_produce.c - Produce (key 0), versions 0-11 (v10-11: KIP-951 leader
 * discovery fields, which only NOT_LEADER_OR_FOLLOWER and
 * FENCED_LEADER_EPOCH carry; this broker leads every partition).
 *
 * Each partition's record data is validated and appended in place by
 * gr_log_append (offsets rewritten inside the request buffer, then one
 * write to the segment): no per-record allocation or copy here.  One bad
 * partition does not fail the others.  acks=0 gets no response at all.
 * When the flush policy (log.flush.interval.messages) requires an fsync,
 * the response is parked until the flush job reports back; the request
 * is then answered from the loop thread.
 *
 * As Kafka's handleProduceRequest, a request carrying a transactional
 * batch without a TransactionalId gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED
 * on every partition; the rules for each batch (no control batches, the
 * producer state's epochs and sequences, ...) are gr_log_append's.  A
 * producer's retried batch is answered NONE with the offsets it got the
 * first time (Kafka's DUPLICATE_SEQUENCE_NUMBER handling), and, under a
 * log.flush.interval.messages policy, once they are flushed.
 * Decompression: what the batches of one request decompress while they
 * are validated comes out of one budget, DECOMPRESS_BUDGET bytes (batch.h,
 * gr_batch_budget_begin); a partition whose batches need more than is left
 * gets MESSAGE_TOO_LARGE.  Validation streams through compressed records,
 * so the budget bounds the CPU a request costs, not its memory.  The bytes
 * used are reported as the request's work, which net.c bounds per loop
 * turn.
 */
#include "api_util.h"
#include "batch.h"
#include "broker.h"
#include "kerr.h"
#include "metrics.h"

#include <string.h>

/* Decompressed bytes all the batches of one Produce request may expand to
 * while they are validated: one batch at the per-batch cap. */
#define DECOMPRESS_BUDGET ((int64_t)256 << 20)

typedef struct produce_park {
    gr_req_t *req;                  /* NULL once the connection is gone */
    gr_ProduceResponse_t resp;      /* lives in req->arena */
    int pending;                    /* flushes outstanding */
    int16_t flush_error;
} produce_park_t;

static void park_cancel(gr_req_t *req)
{
    produce_park_t *pk = req->park;
    pk->req = NULL;
}

static void park_finish(produce_park_t *pk)
{
    if (pk->req) {
        gr_req_t *req = pk->req;
        req->on_cancel = NULL;
        req->park = NULL;
        GR_RESPOND(req, ProduceResponse, &pk->resp);
    }
    free(pk);
}

static void flush_done(void *arg, int rc)
{
    produce_park_t *pk = arg;
    if (rc < 0 && pk->req) {
        /* fsync failed: the data is not durable, do not acknowledge it */
        for (int32_t t = 0; t < pk->resp.Responses_count; t++) {
            gr_ProduceResponse_TopicProduceResponse_t *tr = &pk->resp.Responses[t];
            for (int32_t p = 0; p < tr->PartitionResponses_count; p++)
                if (tr->PartitionResponses[p].ErrorCode == KERR_NONE)
                    tr->PartitionResponses[p].ErrorCode = KERR_KAFKA_STORAGE_ERROR;
        }
    }
    if (--pk->pending == 0)
        park_finish(pk);
}

/* Does any partition of the request hold a transactional batch? */
static bool has_transactional(const gr_ProduceRequest_t *r)
{
    for (int32_t i = 0; i < r->TopicData_count; i++)
        for (int32_t j = 0; j < r->TopicData[i].PartitionData_count; j++) {
            const gr_records_t *rec = &r->TopicData[i].PartitionData[j].Records;
            if (rec->len > 0 && rec->mem && gr_batch_any_transactional(rec->mem, (size_t)rec->len))
                return true;
        }
    return false;
}

static void produce_partition(gr_req_t *req, gr_topic_t *t, const gr_log_config_t *lc, int16_t acks,
                              bool txn_refused, const gr_ProduceRequest_PartitionProduceData_t *pd,
                              gr_ProduceResponse_PartitionProduceResponse_t *pr, gr_partition_t **flushp)
{
    pr->Index = pd->Index;
    pr->BaseOffset = -1;
    if (acks != 0 && acks != 1 && acks != -1) {
        pr->ErrorCode = KERR_INVALID_REQUIRED_ACKS;
        return;
    }
    if (txn_refused) {
        pr->ErrorCode = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        return;
    }
    if (!t) {
        pr->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (t->internal) {
        pr->ErrorCode = KERR_INVALID_TOPIC_EXCEPTION;
        pr->ErrorMessage = GR_STR("Cannot append to internal topic");
        return;
    }
    gr_partition_t *p = gr_partition_get(t, pd->Index);
    if (!p) {
        pr->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (pd->Records.len <= 0 || !pd->Records.mem) {
        pr->ErrorCode = KERR_CORRUPT_MESSAGE;
        return;
    }
    if ((int64_t)pd->Records.len > lc->segment_bytes) {
        pr->ErrorCode = KERR_RECORD_LIST_TOO_LARGE;
        return;
    }
    gr_append_info_t info;
    memset(&info, 0, sizeof(info));
    int64_t t0 = gr_metrics_clock();
    int rc = gr_log_append(p->log, (uint8_t *)pd->Records.mem, (size_t)pd->Records.len, p->leader_epoch,
                           req->api_version >= 7, gr_now_ms(), &info);
    pr->LogStartOffset = gr_log_start_offset(p->log);
    if (rc < 0) {
        pr->ErrorCode = info.error_code != KERR_NONE ? info.error_code
                        : rc == GR_EIO || rc == GR_ENOSPC ? KERR_KAFKA_STORAGE_ERROR
                                                          : KERR_CORRUPT_MESSAGE;
        if (info.error_message)
            pr->ErrorMessage = GR_STR(info.error_message);
        gr_debug("produce", "Rejected append to %s-%d from %s: %s", t->name, pd->Index, gr_req_peer(req),
                 gr_kerr_name(pr->ErrorCode));
        if (pr->ErrorCode == KERR_KAFKA_STORAGE_ERROR)
            gr_partition_notify(p);     /* fetch sessions report the storage state */
        return;
    }
    pr->ErrorCode = KERR_NONE;
    pr->BaseOffset = info.base_offset;
    pr->LogAppendTimeMs = info.log_append_time;
    if (info.duplicate) {
        /* a retried batch, answered with its first offsets: acknowledged
         * no sooner than the first append could have been */
        if (acks != 0 && gr_log_flush_needed(p->log, info.last_offset + 1))
            *flushp = p;
        return;
    }
    gr_metrics_produce(p, info.record_count, (size_t)pd->Records.len, t0);
    gr_partition_appended(p);
    if (acks != 0 && gr_log_flush_due(p->log))
        *flushp = p;
}

void gr_api_produce(gr_req_t *req, gr_rd_t *body)
{
    gr_ProduceRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, ProduceRequest, &r);

    produce_park_t *pk = NULL;
    gr_ProduceResponse_t resp_local, *resp = &resp_local;
    gr_ProduceResponse_init(resp);
    int32_t nt = r.TopicData_count > 0 ? r.TopicData_count : 0;
    resp->Responses = GR_ARENA_ARRAY(req, gr_ProduceResponse_TopicProduceResponse_t, nt,
                                     gr_ProduceResponse_TopicProduceResponse_init);
    resp->Responses_count = nt;

    /* partitions whose flush policy asks for an fsync before the ack */
    int nflush = 0, maxflush = 0;
    for (int32_t i = 0; i < nt; i++)
        maxflush += r.TopicData[i].PartitionData_count > 0 ? r.TopicData[i].PartitionData_count : 0;
    gr_partition_t **flush = gr_arena_alloc(&req->arena, sizeof(*flush) * (size_t)(maxflush + 1));
    bool txn_refused = r.TransactionalId.len < 0 && has_transactional(&r);
    gr_batch_budget_begin(DECOMPRESS_BUDGET);
    for (int32_t i = 0; i < nt; i++) {
        const gr_ProduceRequest_TopicProduceData_t *td = &r.TopicData[i];
        gr_ProduceResponse_TopicProduceResponse_t *tr = &resp->Responses[i];
        tr->Name = gr_str_keep(req, td->Name);
        int32_t np = td->PartitionData_count > 0 ? td->PartitionData_count : 0;
        tr->PartitionResponses = GR_ARENA_ARRAY(req, gr_ProduceResponse_PartitionProduceResponse_t, np,
                                                gr_ProduceResponse_PartitionProduceResponse_init);
        tr->PartitionResponses_count = np;
        gr_topic_t *t = td->Name.len > 0 ? gr_topic_find(td->Name.p, (size_t)td->Name.len) : NULL;
        gr_log_config_t lc;
        if (t)
            gr_config_log_config(&gr_broker.cfg, t->configs, &lc);
        for (int32_t j = 0; j < np; j++) {
            gr_partition_t *fp = NULL;
            produce_partition(req, t, &lc, r.Acks, txn_refused, &td->PartitionData[j], &tr->PartitionResponses[j],
                              &fp);
            if (fp)
                flush[nflush++] = fp;
        }
    }
    req->work += (uint64_t)(DECOMPRESS_BUDGET - gr_batch_budget_end());

    if (r.Acks == 0) {
        gr_resp_none(req);
        return;
    }
    if (nflush == 0) {
        GR_RESPOND(req, ProduceResponse, resp);
        return;
    }
    pk = gr_calloc(1, sizeof(*pk));
    pk->req = req;
    pk->resp = *resp;
    pk->pending = nflush + 1;
    req->park = pk;
    req->on_cancel = park_cancel;
    for (int i = 0; i < nflush; i++)
        gr_log_flush(flush[i]->log, gr_log_end_offset(flush[i]->log), flush_done, pk);
    flush_done(pk, 0);   /* drop the guard reference */
}
