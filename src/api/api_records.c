/*
 * api_records.c - DeleteRecords (key 21, v0-2) and DescribeProducers (key
 * 61, v0): what an admin sees and trims of a partition's records.
 *
 * DeleteRecords (Kafka's ReplicaManager.deleteRecordsOnLocalLog): offset -1
 * means the high watermark; an offset below 0 or above the high watermark
 * is OFFSET_OUT_OF_RANGE; an internal topic is INVALID_TOPIC_EXCEPTION and
 * a topic without cleanup.policy=delete POLICY_VIOLATION.  Otherwise the
 * log start offset moves there (gr_log_advance_start: segments wholly below
 * it are deleted), is written to log-start-offset-checkpoint before the
 * answer, and fetch sessions hear of it; the low watermark answered is the
 * log start offset (single broker: every replica's).  A start offset below
 * the current one changes nothing.
 *
 * DescribeProducers (Kafka's Partition.activeProducerState): the producer
 * state of each partition.  A partition named twice in one request is
 * answered once and INVALID_REQUEST at its other places, so a request of a
 * few bytes cannot make the broker copy a large producer state many times.
 */
#include "api_util.h"
#include "broker.h"
#include "config.h"
#include "kerr.h"
#include "pstate.h"
#include "topic.h"

#include <string.h>

/* ------------------------------------------------------------ DeleteRecords */

static void delete_partition(gr_topic_t *t, int32_t idx, int64_t offset,
                             gr_DeleteRecordsResponse_DeleteRecordsPartitionResult_t *pr, bool *moved)
{
    pr->PartitionIndex = idx;
    pr->LowWatermark = -1;
    gr_partition_t *p = t ? gr_partition_get(t, idx) : NULL;
    if (!p) {
        pr->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (t->internal) {
        pr->ErrorCode = KERR_INVALID_TOPIC_EXCEPTION;
        return;
    }
    gr_log_config_t lc;
    gr_config_log_config(&gr_broker.cfg, t->configs, &lc);
    if (!lc.delete_) {
        pr->ErrorCode = KERR_POLICY_VIOLATION;
        return;
    }
    int64_t hw = p->high_watermark;
    int64_t target = offset == -1 ? hw : offset;
    if (target < 0 || target > hw) {
        pr->ErrorCode = KERR_OFFSET_OUT_OF_RANGE;
        return;
    }
    int64_t before = gr_log_start_offset(p->log);
    if (target > before) {
        gr_log_advance_start(p->log, target);
        gr_info("log", "Incremented log start offset of %s-%d to %lld due to client delete records request", t->name,
                idx, (long long)gr_log_start_offset(p->log));
        gr_partition_notify(p);
        *moved = true;
    }
    pr->ErrorCode = KERR_NONE;
    pr->LowWatermark = gr_log_start_offset(p->log);
}

void gr_api_delete_records(gr_req_t *req, gr_rd_t *body)
{
    gr_DeleteRecordsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, DeleteRecordsRequest, &r);
    gr_DeleteRecordsResponse_t resp;
    gr_DeleteRecordsResponse_init(&resp);
    int32_t nt = GR_MAX(r.Topics_count, 0);
    resp.Topics = GR_ARENA_ARRAY(req, gr_DeleteRecordsResponse_DeleteRecordsTopicResult_t, nt,
                                 gr_DeleteRecordsResponse_DeleteRecordsTopicResult_init);
    resp.Topics_count = nt;
    bool moved = false;
    for (int32_t i = 0; i < nt; i++) {
        const gr_DeleteRecordsRequest_DeleteRecordsTopic_t *td = &r.Topics[i];
        gr_DeleteRecordsResponse_DeleteRecordsTopicResult_t *tr = &resp.Topics[i];
        int32_t np = GR_MAX(td->Partitions_count, 0);
        tr->Name = gr_str_keep(req, td->Name);
        tr->Partitions = GR_ARENA_ARRAY(req, gr_DeleteRecordsResponse_DeleteRecordsPartitionResult_t, np,
                                        gr_DeleteRecordsResponse_DeleteRecordsPartitionResult_init);
        tr->Partitions_count = np;
        gr_topic_t *t = td->Name.len > 0 ? gr_topic_find(td->Name.p, (size_t)td->Name.len) : NULL;
        for (int32_t j = 0; j < np; j++)
            delete_partition(t, td->Partitions[j].PartitionIndex, td->Partitions[j].Offset, &tr->Partitions[j], &moved);
    }
    /* the new log start offsets survive a crash from the answer on */
    if (moved)
        gr_topics_checkpoint();
    GR_RESPOND(req, DeleteRecordsResponse, &resp);
}

/* ------------------------------------------------------------ DescribeProducers */

typedef struct prod_acc {
    gr_DescribeProducersResponse_ProducerState_t *v;
    int32_t n;
} prod_acc_t;

static void add_producer(void *arg, const gr_pentry_t *e)
{
    prod_acc_t *a = arg;
    gr_DescribeProducersResponse_ProducerState_t *o = &a->v[a->n++];
    gr_DescribeProducersResponse_ProducerState_init(o);
    o->ProducerId = e->pid;
    o->ProducerEpoch = e->epoch;
    o->LastSequence = e->nb ? e->b[(e->first + e->nb - 1) % GR_PSTATE_BATCHES].last_seq : -1;
    o->LastTimestamp = e->last_timestamp;
    o->CoordinatorEpoch = e->coordinator_epoch;
    o->CurrentTxnStartOffset = e->txn_first_offset;
}

void gr_api_describe_producers(gr_req_t *req, gr_rd_t *body)
{
    gr_DescribeProducersRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, DescribeProducersRequest, &r);
    gr_DescribeProducersResponse_t resp;
    gr_DescribeProducersResponse_init(&resp);
    int32_t nt = GR_MAX(r.Topics_count, 0);
    int64_t total = 0;
    for (int32_t i = 0; i < nt; i++)
        total += GR_MAX(r.Topics[i].PartitionIndexes_count, 0);
    gr_keyset_t seen;
    gr_keyset_init(req, &seen, total);
    resp.Topics = GR_ARENA_ARRAY(req, gr_DescribeProducersResponse_TopicResponse_t, nt,
                                 gr_DescribeProducersResponse_TopicResponse_init);
    resp.Topics_count = nt;
    for (int32_t i = 0; i < nt; i++) {
        const gr_DescribeProducersRequest_TopicRequest_t *td = &r.Topics[i];
        gr_DescribeProducersResponse_TopicResponse_t *tr = &resp.Topics[i];
        int32_t np = GR_MAX(td->PartitionIndexes_count, 0);
        tr->Name = gr_str_keep(req, td->Name);
        tr->Partitions = GR_ARENA_ARRAY(req, gr_DescribeProducersResponse_PartitionResponse_t, np,
                                        gr_DescribeProducersResponse_PartitionResponse_init);
        tr->Partitions_count = np;
        size_t tl = (size_t)GR_MAX(td->Name.len, 0);
        gr_kerr_t terr = KERR_NONE;
        if (gr_topic_validate_name(td->Name.p ? td->Name.p : "", tl) != GR_SERR_NONE)
            terr = KERR_INVALID_TOPIC_EXCEPTION;
        gr_topic_t *t = terr == KERR_NONE ? gr_topic_find(td->Name.p, tl) : NULL;
        if (terr == KERR_NONE && !t)
            terr = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        for (int32_t j = 0; j < np; j++) {
            gr_DescribeProducersResponse_PartitionResponse_t *pr = &tr->Partitions[j];
            int32_t idx = td->PartitionIndexes[j];
            pr->PartitionIndex = idx;
            pr->ActiveProducers_count = 0;
            gr_partition_t *p = t ? gr_partition_get(t, idx) : NULL;
            if (terr != KERR_NONE || !p) {
                pr->ErrorCode = terr != KERR_NONE ? terr : KERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            if (gr_keyset_add(&seen, td->Name.p, td->Name.len, idx) > 1) {
                pr->ErrorCode = KERR_INVALID_REQUEST;
                pr->ErrorMessage = GR_STR("Partition named more than once");
                continue;
            }
            const gr_pstate_t *ps = gr_log_producer_state(p->log);
            size_t n = gr_pstate_count(ps);
            prod_acc_t a = {gr_arena_alloc(&req->arena, sizeof(*a.v) * (n ? n : 1)), 0};
            gr_pstate_foreach(ps, add_producer, &a);
            pr->ErrorCode = KERR_NONE;
            pr->ActiveProducers = a.v;
            pr->ActiveProducers_count = a.n;
        }
    }
    GR_RESPOND(req, DescribeProducersResponse, &resp);
}
