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
 * on every partition, and one whose transactional batches carry more than
 * one producer INVALID_PRODUCER_ID_MAPPING; the rules for each batch (no
 * control batches, the producer state's epochs and sequences, ...) are
 * gr_log_append's.  KIP-890 verification (transaction.partition.
 * verification.enable): a producer's first transactional batch on a
 * partition (its state there holds no ongoing transaction) is appended only
 * if the transaction coordinator says the partition is in the producer's
 * ongoing transaction of that id and epoch; its errors are answered as
 * Kafka's ReplicaManager does (INVALID_TXN_STATE "Partition was not added
 * to the transaction", INVALID_PRODUCER_EPOCH for a fenced producer,
 * NOT_ENOUGH_REPLICAS for the retriable ones).  The coordinator is local,
 * so the check costs a lookup, no round trip.  A
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
#include "pstate.h"
#include "txn.h"

#include <string.h>

/* Decompressed bytes all the batches of one Produce request may expand to
 * while they are validated: one batch at the per-batch cap. */
#define DECOMPRESS_BUDGET ((int64_t)256 << 20)

typedef struct produce_park {
    gr_req_t *req;                  /* NULL once the connection is gone */
    gr_ProduceResponse_t resp;      /* lives in req->arena */
    int pending;                    /* flushes outstanding */
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

/* The producer id and epoch of the first transactional v2 batch with a
 * producer id of a partition's records (headers only); false when there
 * is none. */
static bool first_transactional(const uint8_t *p, size_t len, int64_t *pid, int16_t *epoch)
{
    for (size_t off = 0; len - off >= GR_BATCH_HEADER_SIZE;) {
        const uint8_t *b = p + off;
        int32_t size = gr_batch_size(b);
        if (b[GR_BOFF_MAGIC] != 2 || size < GR_BATCH_HEADER_SIZE)
            return false;
        if ((gr_be16(b + GR_BOFF_ATTRIBUTES) & GR_ATTR_TRANSACTIONAL) && (int64_t)gr_be64(b + GR_BOFF_PRODUCER_ID) >= 0) {
            *pid = (int64_t)gr_be64(b + GR_BOFF_PRODUCER_ID);
            *epoch = (int16_t)gr_be16(b + GR_BOFF_PRODUCER_EPOCH);
            return true;
        }
        if ((size_t)size > len - off)
            return false;
        off += (size_t)size;
    }
    return false;
}

/* More than one (producer id, epoch) among the transactional batches of
 * the request (Kafka: InvalidPidMappingException for the request). */
static bool several_producers(const gr_ProduceRequest_t *r)
{
    bool any = false;
    int64_t pid0 = -1;
    int16_t epoch0 = -1;
    for (int32_t i = 0; i < r->TopicData_count; i++)
        for (int32_t j = 0; j < r->TopicData[i].PartitionData_count; j++) {
            const gr_records_t *rec = &r->TopicData[i].PartitionData[j].Records;
            if (rec->len <= 0 || !rec->mem)
                continue;
            for (size_t off = 0; (size_t)rec->len - off >= GR_BATCH_HEADER_SIZE;) {
                const uint8_t *b = (const uint8_t *)rec->mem + off;
                int32_t size = gr_batch_size(b);
                if (b[GR_BOFF_MAGIC] != 2 || size < GR_BATCH_HEADER_SIZE)
                    break;
                if ((gr_be16(b + GR_BOFF_ATTRIBUTES) & GR_ATTR_TRANSACTIONAL) &&
                    (int64_t)gr_be64(b + GR_BOFF_PRODUCER_ID) >= 0) {
                    int64_t pid = (int64_t)gr_be64(b + GR_BOFF_PRODUCER_ID);
                    int16_t epoch = (int16_t)gr_be16(b + GR_BOFF_PRODUCER_EPOCH);
                    if (any && (pid != pid0 || epoch != epoch0))
                        return true;
                    any = true;
                    pid0 = pid;
                    epoch0 = epoch;
                }
                if ((size_t)size > (size_t)rec->len - off)
                    break;
                off += (size_t)size;
            }
        }
    return false;
}

/* KIP-890 verification of a partition's transactional records (see the
 * top); NONE when they may be appended. */
static gr_kerr_t verify_txn(const char *tid, gr_topic_t *t, gr_partition_t *p,
                            const gr_ProduceRequest_PartitionProduceData_t *pd, const char **msg)
{
    int64_t pid;
    int16_t epoch;
    if (!tid || !gr_broker.cfg.transaction_partition_verification_enable ||
        !first_transactional(pd->Records.mem, (size_t)pd->Records.len, &pid, &epoch))
        return KERR_NONE;
    const gr_pentry_t *e = gr_pstate_get(gr_log_producer_state(p->log), pid);
    if (e && e->txn_first_offset >= 0)
        return KERR_NONE;                   /* its transaction is ongoing here */
    gr_txn_tp_t tp = {t->name, strlen(t->name), p->index};
    gr_kerr_t perr = KERR_NONE;
    gr_kerr_t err = gr_txn_verify(tid, strlen(tid), pid, epoch, &tp, 1, &perr);
    if (err == KERR_NONE)
        err = perr;
    switch (err) {
    case KERR_NONE:
        return KERR_NONE;
    case KERR_INVALID_TXN_STATE:
    case KERR_TRANSACTION_ABORTABLE:
        *msg = "Partition was not added to the transaction";
        return KERR_INVALID_TXN_STATE;
    case KERR_PRODUCER_FENCED:
        return KERR_INVALID_PRODUCER_EPOCH;
    case KERR_CONCURRENT_TRANSACTIONS:
    case KERR_NETWORK_EXCEPTION:
    case KERR_COORDINATOR_LOAD_IN_PROGRESS:
    case KERR_COORDINATOR_NOT_AVAILABLE:
    case KERR_NOT_COORDINATOR:
        *msg = "Unable to verify the partition has been added to the transaction";
        return KERR_NOT_ENOUGH_REPLICAS;
    default:
        return err;
    }
}

static void produce_partition(gr_req_t *req, gr_topic_t *t, const gr_log_config_t *lc, int16_t acks,
                              bool txn_refused, const char *tid, const gr_ProduceRequest_PartitionProduceData_t *pd,
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
    const char *vmsg = NULL;
    gr_kerr_t verr = verify_txn(tid, t, p, pd, &vmsg);
    if (verr != KERR_NONE) {
        pr->ErrorCode = verr;
        if (vmsg)
            pr->ErrorMessage = GR_STR(vmsg);
        pr->LogStartOffset = gr_log_start_offset(p->log);
        return;
    }
    gr_append_info_t info;
    memset(&info, 0, sizeof(info));
    int64_t t0 = gr_metrics_clock();
    int rc = gr_log_append(p->log, (uint8_t *)pd->Records.mem, (size_t)pd->Records.len, p->leader_epoch,
                           req->api_version >= 7, gr_now_ms(), &info);
    pr->LogStartOffset = gr_log_start_offset(p->log);
    if (rc < 0) {
        pr->ErrorCode = info.serr != GR_SERR_NONE ? gr_api_serr_kerr(info.serr)
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
    const char *tid = r.TransactionalId.len >= 0 ? gr_req_held(req, r.TransactionalId) : NULL;
    bool pid_mapping = tid && several_producers(&r);
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
            if (pid_mapping) {
                tr->PartitionResponses[j].Index = td->PartitionData[j].Index;
                tr->PartitionResponses[j].BaseOffset = -1;
                tr->PartitionResponses[j].ErrorCode = KERR_INVALID_PRODUCER_ID_MAPPING;
                tr->PartitionResponses[j].ErrorMessage = GR_STR("Transactional records contained more than one "
                                                                "producer ID");
                continue;
            }
            produce_partition(req, t, &lc, r.Acks, txn_refused, tid, &td->PartitionData[j], &tr->PartitionResponses[j],
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
