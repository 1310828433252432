/*
 * api_txn.c - the transaction APIs, as Kafka's KafkaApis answers them:
 * AddPartitionsToTxn (key 24, v0-5), AddOffsetsToTxn (25, v0-4), EndTxn
 * (26, v0-5), WriteTxnMarkers (27, v0-1), TxnOffsetCommit (28, v0-4),
 * DescribeTransactions (65, v0) and ListTransactions (66, v0-1).
 * InitProducerId is in api_producer.c, FindCoordinator in api_group.c.
 *
 * The handlers translate between the wire and the transaction coordinator
 * (txn.h), the marker writer (txn_markers.h) and the group coordinator
 * (coord.h).  Transactional and group ids are Java Strings for Kafka: they
 * go in through gr_req_held and come back through gr_req_wire.
 *
 * Versions: clients use AddPartitionsToTxn up to v3 (one transaction); v4+
 * is the brokers' batched form, with VerifyOnly (KIP-890 part 1), served
 * to anyone.  EndTxn v5 (KIP-890 part 2, an epoch bump per transaction) is
 * answered with v4's semantics: transaction.version 2 is not a finalized
 * feature here (ApiVersions advertises none), so no client sends v5 for
 * it; a v5 request gets the producer id and epoch it has, unbumped.
 * PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH for versions older than
 * 2 (InitProducerId: 4), as Kafka does for old clients.
 *
 * Parking: a request waiting for a coordinator keeps a heap context; its
 * response lives in the request's arena and is only touched while the
 * connection is there (on_cancel clears the context's request).
 */
#include "api_util.h"
#include "broker.h"
#include "coord.h"
#include "group.h"
#include "kerr.h"
#include "pstate.h"
#include "topic.h"
#include "txn.h"
#include "txn_markers.h"

#include <stdlib.h>
#include <string.h>

/* A request answered when its `pending` completions are done. */
typedef struct park {
    gr_req_t *req;                  /* NULL once the connection is gone */
    int pending;
    void (*respond)(struct park *pk);
    void *resp;                     /* in req->arena */
    int64_t pid;                    /* EndTxn's answer */
    int16_t epoch;
} park_t;

static void park_cancel(gr_req_t *req)
{
    park_t *pk = req->park;
    pk->req = NULL;
}

static park_t *park_new(gr_req_t *req, void (*respond)(park_t *), void *resp)
{
    park_t *pk = gr_calloc(1, sizeof(*pk));
    pk->req = req;
    pk->pending = 1;                /* the handler's own, released by park_release */
    pk->respond = respond;
    pk->resp = resp;
    req->park = pk;
    req->on_cancel = park_cancel;
    return pk;
}

static void park_release(park_t *pk)
{
    if (--pk->pending > 0)
        return;
    if (pk->req) {
        pk->req->on_cancel = NULL;
        pk->req->park = NULL;
        pk->respond(pk);
    }
    free(pk);
}

static gr_kerr_t old_fenced(gr_req_t *req, int16_t min_version, gr_kerr_t e)
{
    return req->api_version < min_version && e == KERR_PRODUCER_FENCED ? KERR_INVALID_PRODUCER_EPOCH : e;
}

/* ------------------------------------------------------------ AddPartitionsToTxn */

typedef gr_AddPartitionsToTxnResponse_AddPartitionsToTxnTopicResult_t apt_topic_t;

typedef struct apt_one {
    park_t *pk;
    int32_t ntopics;
    apt_topic_t *topics;            /* in the arena */
    int16_t version;
} apt_one_t;

/* Every partition of a transaction's results that has no error yet. */
static void apt_fill(apt_topic_t *topics, int32_t ntopics, gr_kerr_t err)
{
    for (int32_t i = 0; i < ntopics; i++)
        for (int32_t j = 0; j < topics[i].ResultsByPartition_count; j++)
            if (topics[i].ResultsByPartition[j].PartitionErrorCode == KERR_NONE)
                topics[i].ResultsByPartition[j].PartitionErrorCode = err;
}

static void apt_done(void *arg, gr_kerr_t err)
{
    apt_one_t *o = arg;
    if (o->pk->req && err != KERR_NONE)
        apt_fill(o->topics, o->ntopics, old_fenced(o->pk->req, 2, err));
    park_release(o->pk);
    free(o);
}

static void apt_respond(park_t *pk)
{
    GR_RESPOND(pk->req, AddPartitionsToTxnResponse, (gr_AddPartitionsToTxnResponse_t *)pk->resp);
}

/* One transaction of the request: the partition checks, then the
 * coordinator.  results: its topic results (arena), filled. */
static void apt_transaction(gr_req_t *req, park_t *pk, gr_str_t tid_w, int64_t pid, int16_t epoch, bool verify,
                            const gr_AddPartitionsToTxnRequest_AddPartitionsToTxnTopic_t *topics, int32_t ntopics,
                            apt_topic_t *res)
{
    int32_t total = 0;
    bool failed = false;
    for (int32_t i = 0; i < ntopics; i++) {
        const gr_AddPartitionsToTxnRequest_AddPartitionsToTxnTopic_t *t = &topics[i];
        int32_t np = GR_MAX(t->Partitions_count, 0);
        res[i].Name = gr_str_keep(req, t->Name);
        res[i].ResultsByPartition = GR_ARENA_ARRAY(req, gr_AddPartitionsToTxnResponse_AddPartitionsToTxnPartitionResult_t,
                                                   np, gr_AddPartitionsToTxnResponse_AddPartitionsToTxnPartitionResult_init);
        res[i].ResultsByPartition_count = np;
        size_t tl = (size_t)GR_MAX(t->Name.len, 0);
        gr_topic_t *tp = tl > 0 ? gr_topic_find(t->Name.p, tl) : NULL;
        for (int32_t j = 0; j < np; j++) {
            gr_kerr_t e = KERR_NONE;
            /* clients (v0-3) may not add internal topics: only WRITE on
             * non-internal topics is authorized (Kafka) */
            if (req->api_version < 4 && gr_topic_name_internal(t->Name.p ? t->Name.p : "", tl))
                e = KERR_TOPIC_AUTHORIZATION_FAILED;
            else if (!tp || !gr_partition_get(tp, t->Partitions[j]))
                e = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            res[i].ResultsByPartition[j].PartitionIndex = t->Partitions[j];
            res[i].ResultsByPartition[j].PartitionErrorCode = e;
            failed |= e != KERR_NONE;
            total++;
        }
    }
    if (failed) {
        /* any failed partition fails the transaction: the others were not
         * attempted */
        apt_fill(res, ntopics, KERR_OPERATION_NOT_ATTEMPTED);
        return;
    }
    const char *tid = gr_req_held(req, tid_w);
    size_t tlen = tid ? strlen(tid) : 0;
    gr_txn_tp_t *tps = gr_arena_alloc(&req->arena, sizeof(*tps) * (size_t)GR_MAX(total, 1));
    int32_t k = 0;
    for (int32_t i = 0; i < ntopics; i++)
        for (int32_t j = 0; j < res[i].ResultsByPartition_count; j++)
            tps[k++] = (gr_txn_tp_t){res[i].Name.p, (size_t)res[i].Name.len, res[i].ResultsByPartition[j].PartitionIndex};
    if (!tid || tlen == 0) {
        apt_fill(res, ntopics, KERR_INVALID_REQUEST);
        return;
    }
    if (verify) {
        gr_kerr_t *errs = gr_arena_alloc(&req->arena, sizeof(*errs) * (size_t)GR_MAX(total, 1));
        gr_kerr_t e = gr_txn_verify(tid, tlen, pid, epoch, tps, total, errs);
        if (e != KERR_NONE) {
            apt_fill(res, ntopics, e);
            return;
        }
        k = 0;
        for (int32_t i = 0; i < ntopics; i++)
            for (int32_t j = 0; j < res[i].ResultsByPartition_count; j++)
                res[i].ResultsByPartition[j].PartitionErrorCode = errs[k++];
        return;
    }
    apt_one_t *o = gr_calloc(1, sizeof(*o));
    o->pk = pk;
    o->topics = res;
    o->ntopics = ntopics;
    o->version = req->api_version;
    pk->pending++;
    gr_txn_add_partitions(tid, tlen, pid, epoch, tps, total, apt_done, o);
}

void gr_api_add_partitions_to_txn(gr_req_t *req, gr_rd_t *body)
{
    gr_AddPartitionsToTxnRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, AddPartitionsToTxnRequest, &r);
    gr_AddPartitionsToTxnResponse_t *resp = gr_arena_alloc(&req->arena, sizeof(*resp));
    gr_AddPartitionsToTxnResponse_init(resp);
    park_t *pk = park_new(req, apt_respond, resp);
    if (req->api_version < 4) {
        int32_t nt = GR_MAX(r.V3AndBelowTopics_count, 0);
        resp->ResultsByTopicV3AndBelow = GR_ARENA_ARRAY(req, apt_topic_t, nt,
                                                        gr_AddPartitionsToTxnResponse_AddPartitionsToTxnTopicResult_init);
        resp->ResultsByTopicV3AndBelow_count = nt;
        apt_transaction(req, pk, r.V3AndBelowTransactionalId, r.V3AndBelowProducerId, r.V3AndBelowProducerEpoch,
                        false, r.V3AndBelowTopics, nt, resp->ResultsByTopicV3AndBelow);
        park_release(pk);
        return;
    }
    int32_t n = GR_MAX(r.Transactions_count, 0);
    for (int32_t i = 0; i < n; i++)
        if (r.Transactions[i].TransactionalId.len < 0) {
            /* "Transactional ID can not be null in request" */
            resp->ErrorCode = KERR_INVALID_REQUEST;
            park_release(pk);
            return;
        }
    resp->ResultsByTransaction = GR_ARENA_ARRAY(req, gr_AddPartitionsToTxnResponse_AddPartitionsToTxnResult_t, n,
                                                gr_AddPartitionsToTxnResponse_AddPartitionsToTxnResult_init);
    resp->ResultsByTransaction_count = n;
    for (int32_t i = 0; i < n; i++) {
        const gr_AddPartitionsToTxnRequest_AddPartitionsToTxnTransaction_t *tx = &r.Transactions[i];
        gr_AddPartitionsToTxnResponse_AddPartitionsToTxnResult_t *out = &resp->ResultsByTransaction[i];
        int32_t nt = GR_MAX(tx->Topics_count, 0);
        out->TransactionalId = gr_str_keep(req, tx->TransactionalId);
        out->TopicResults = GR_ARENA_ARRAY(req, apt_topic_t, nt,
                                           gr_AddPartitionsToTxnResponse_AddPartitionsToTxnTopicResult_init);
        out->TopicResults_count = nt;
        apt_transaction(req, pk, tx->TransactionalId, tx->ProducerId, tx->ProducerEpoch, tx->VerifyOnly, tx->Topics, nt,
                        out->TopicResults);
    }
    park_release(pk);
}

/* ------------------------------------------------------------ AddOffsetsToTxn */

static void error_only_done(void *arg, gr_kerr_t err)
{
    park_t *pk = arg;
    if (pk->req)
        *(int16_t *)pk->resp = err;
    park_release(pk);
}

static void aot_respond(park_t *pk)
{
    gr_AddOffsetsToTxnResponse_t resp;
    gr_AddOffsetsToTxnResponse_init(&resp);
    resp.ErrorCode = old_fenced(pk->req, 2, *(int16_t *)pk->resp);
    GR_RESPOND(pk->req, AddOffsetsToTxnResponse, &resp);
}

void gr_api_add_offsets_to_txn(gr_req_t *req, gr_rd_t *body)
{
    gr_AddOffsetsToTxnRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, AddOffsetsToTxnRequest, &r);
    gr_kerr_t *err = gr_arena_calloc(&req->arena, 1, sizeof(*err));
    park_t *pk = park_new(req, aot_respond, err);
    const char *tid = gr_req_held(req, r.TransactionalId);
    const char *gid = gr_req_held(req, r.GroupId);
    gid = gid ? gid : "";
    gr_txn_tp_t tp = {GR_OFFSETS_TOPIC, sizeof(GR_OFFSETS_TOPIC) - 1, gr_coord_partition_for(gid, strlen(gid))};
    pk->pending++;
    gr_txn_add_partitions(tid ? tid : "", tid ? strlen(tid) : 0, r.ProducerId, r.ProducerEpoch, &tp, 1,
                          error_only_done, pk);
    park_release(pk);
}

/* ------------------------------------------------------------ EndTxn */

typedef struct end_park {
    park_t *pk;
    const char *tid;                /* in the arena (valid while pk->req) */
} end_park_t;

static void end_done(void *arg, gr_kerr_t err)
{
    end_park_t *e = arg;
    park_t *pk = e->pk;
    if (pk->req) {
        *(int16_t *)pk->resp = err;
        pk->pid = pk->epoch = -1;
        if (err == KERR_NONE) {
            gr_txn_desc_t d;
            gr_txn_describe(e->tid, strlen(e->tid), &d);
            if (d.error == KERR_NONE) {
                pk->pid = d.producer_id;
                pk->epoch = d.producer_epoch;
            }
        }
    }
    park_release(pk);
    free(e);
}

static void end_respond(park_t *pk)
{
    gr_EndTxnResponse_t resp;
    gr_EndTxnResponse_init(&resp);
    resp.ErrorCode = old_fenced(pk->req, 2, *(int16_t *)pk->resp);
    resp.ProducerId = pk->pid;
    resp.ProducerEpoch = pk->epoch;
    GR_RESPOND(pk->req, EndTxnResponse, &resp);
}

void gr_api_end_txn(gr_req_t *req, gr_rd_t *body)
{
    gr_EndTxnRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, EndTxnRequest, &r);
    gr_kerr_t *err = gr_arena_calloc(&req->arena, 1, sizeof(*err));
    park_t *pk = park_new(req, end_respond, err);
    pk->pid = pk->epoch = -1;
    const char *tid = gr_req_held(req, r.TransactionalId);
    end_park_t *e = gr_malloc(sizeof(*e));
    *e = (end_park_t){pk, tid ? tid : ""};
    pk->pending++;
    gr_txn_end(e->tid, strlen(e->tid), r.ProducerId, r.ProducerEpoch, r.Committed, end_done, e);
    park_release(pk);
}

/* ------------------------------------------------------------ TxnOffsetCommit */

typedef gr_TxnOffsetCommitResponse_TxnOffsetCommitResponseTopic_t toc_topic_t;

static void toc_done(void *arg, gr_kerr_t err)
{
    park_t *pk = arg;
    if (pk->req && err != KERR_NONE) {
        gr_TxnOffsetCommitResponse_t *resp = pk->resp;
        for (int32_t i = 0; i < resp->Topics_count; i++)
            for (int32_t j = 0; j < resp->Topics[i].Partitions_count; j++)
                if (resp->Topics[i].Partitions[j].ErrorCode == KERR_NONE)
                    resp->Topics[i].Partitions[j].ErrorCode = err;
    }
    park_release(pk);
}

static void toc_respond(park_t *pk)
{
    gr_TxnOffsetCommitResponse_t *resp = pk->resp;
    /* clients before 2.0 do not expect COORDINATOR_LOAD_IN_PROGRESS */
    for (int32_t i = 0; pk->req->api_version < 2 && i < resp->Topics_count; i++)
        for (int32_t j = 0; j < resp->Topics[i].Partitions_count; j++)
            if (resp->Topics[i].Partitions[j].ErrorCode == KERR_COORDINATOR_LOAD_IN_PROGRESS)
                resp->Topics[i].Partitions[j].ErrorCode = KERR_COORDINATOR_NOT_AVAILABLE;
    GR_RESPOND(pk->req, TxnOffsetCommitResponse, resp);
}

/* KIP-890: the producer's first transactional write to this partition of
 * __consumer_offsets must be in its transaction (the verification a
 * TxnOffsetCommit's append gets, as a Produce's). */
static gr_kerr_t toc_verify(gr_req_t *req, const char *tid, int64_t pid, int16_t epoch, int32_t part)
{
    if (!gr_broker.cfg.transaction_partition_verification_enable)
        return KERR_NONE;
    gr_topic_t *t = gr_topic_find(GR_OFFSETS_TOPIC, sizeof(GR_OFFSETS_TOPIC) - 1);
    gr_partition_t *p = t ? gr_partition_get(t, part) : NULL;
    const gr_pentry_t *e = p ? gr_pstate_get(gr_log_producer_state(p->log), pid) : NULL;
    if (e && e->txn_first_offset >= 0)
        return KERR_NONE;               /* already in its transaction here */
    gr_txn_tp_t tp = {GR_OFFSETS_TOPIC, sizeof(GR_OFFSETS_TOPIC) - 1, part};
    gr_kerr_t perr = KERR_NONE;
    gr_kerr_t err = gr_txn_verify(tid ? tid : "", tid ? strlen(tid) : 0, pid, epoch, &tp, 1, &perr);
    if (err == KERR_NONE)
        err = perr;
    if (err == KERR_PRODUCER_FENCED)
        return KERR_INVALID_PRODUCER_EPOCH;
    if (err == KERR_TRANSACTION_ABORTABLE && req->api_version < 4)
        return KERR_INVALID_TXN_STATE;
    return err;
}

void gr_api_txn_offset_commit(gr_req_t *req, gr_rd_t *body)
{
    gr_TxnOffsetCommitRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, TxnOffsetCommitRequest, &r);
    gr_TxnOffsetCommitResponse_t *resp = gr_arena_alloc(&req->arena, sizeof(*resp));
    gr_TxnOffsetCommitResponse_init(resp);
    park_t *pk = park_new(req, toc_respond, resp);
    int32_t nt = GR_MAX(r.Topics_count, 0), total = 0;
    resp->Topics = GR_ARENA_ARRAY(req, toc_topic_t, nt, gr_TxnOffsetCommitResponse_TxnOffsetCommitResponseTopic_init);
    resp->Topics_count = nt;
    for (int32_t i = 0; i < nt; i++)
        total += GR_MAX(r.Topics[i].Partitions_count, 0);
    gr_coord_commit_t *c = gr_arena_calloc(&req->arena, (size_t)GR_MAX(total, 1), sizeof(*c));
    int16_t **errp = gr_arena_alloc(&req->arena, sizeof(*errp) * (size_t)GR_MAX(total, 1));
    int64_t now = gr_now_ms();
    int32_t n = 0;
    for (int32_t i = 0; i < nt; i++) {
        const gr_TxnOffsetCommitRequest_TxnOffsetCommitRequestTopic_t *td = &r.Topics[i];
        toc_topic_t *tr = &resp->Topics[i];
        int32_t np = GR_MAX(td->Partitions_count, 0);
        tr->Name = gr_str_keep(req, td->Name);
        tr->Partitions = GR_ARENA_ARRAY(req, gr_TxnOffsetCommitResponse_TxnOffsetCommitResponsePartition_t, np,
                                        gr_TxnOffsetCommitResponse_TxnOffsetCommitResponsePartition_init);
        tr->Partitions_count = np;
        gr_topic_t *t = td->Name.len > 0 ? gr_topic_find(td->Name.p, (size_t)td->Name.len) : NULL;
        for (int32_t j = 0; j < np; j++) {
            const gr_TxnOffsetCommitRequest_TxnOffsetCommitRequestPartition_t *pd = &td->Partitions[j];
            gr_coord_commit_t *x = &c[n];
            tr->Partitions[j].PartitionIndex = pd->PartitionIndex;
            tr->Partitions[j].ErrorCode = t && gr_partition_get(t, pd->PartitionIndex)
                                              ? KERR_NONE : KERR_UNKNOWN_TOPIC_OR_PARTITION;
            x->topic = tr->Name.p ? tr->Name.p : "";
            x->topic_len = (size_t)GR_MAX(tr->Name.len, 0);
            x->partition = pd->PartitionIndex;
            x->offset = pd->CommittedOffset;
            x->leader_epoch = pd->CommittedLeaderEpoch;
            x->metadata = gr_req_held(req, pd->CommittedMetadata);
            x->metadata_len = x->metadata ? strlen(x->metadata) : 0;
            x->commit_timestamp = now;
            x->expire_timestamp = -1;
            x->error = tr->Partitions[j].ErrorCode;
            errp[n++] = &tr->Partitions[j].ErrorCode;
        }
    }
    const char *gid = gr_req_held(req, r.GroupId);
    size_t glen = gid ? strlen(gid) : 0;
    const char *tid = gr_req_held(req, r.TransactionalId);
    /* Kafka's order: the group id, the verification of the transaction
     * (scheduleTransactionalWriteOperation), then the group's checks */
    gr_kerr_t gerr = gr_coord_validate_group(gid, glen, GR_GROUP_API_TXN_OFFSET_COMMIT);
    if (gerr == KERR_NONE)
        gerr = toc_verify(req, tid, r.ProducerId, r.ProducerEpoch, gr_coord_partition_for(gid, glen));
    if (gerr == KERR_NONE) {
        const char *mid = gr_req_held(req, r.MemberId);
        const char *iid = gr_req_held(req, r.GroupInstanceId);
        gerr = gr_group_validate_txn_commit(gr_group_find(gid, glen), mid, mid ? strlen(mid) : 0, iid,
                                            req->api_version >= 3 ? r.GenerationId : -1, req->api_version);
    }
    int32_t ok = gr_api_commit_errors(c, errp, n, gerr);
    if (ok > 0) {
        pk->pending++;
        gr_coord_txn_commit_offsets(gid, glen, r.ProducerId, r.ProducerEpoch, c, n, toc_done, pk);
    }
    park_release(pk);
}

/* ------------------------------------------------------------ WriteTxnMarkers */

typedef struct wtm_one {
    park_t *pk;
    gr_kerr_t *err;                   /* in the arena */
} wtm_one_t;

static void wtm_done(void *arg, gr_kerr_t err)
{
    wtm_one_t *o = arg;
    if (o->pk->req)
        *o->err = err;
    park_release(o->pk);
    free(o);
}

static void wtm_respond(park_t *pk)
{
    GR_RESPOND(pk->req, WriteTxnMarkersResponse, (gr_WriteTxnMarkersResponse_t *)pk->resp);
}

void gr_api_write_txn_markers(gr_req_t *req, gr_rd_t *body)
{
    gr_WriteTxnMarkersRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, WriteTxnMarkersRequest, &r);
    gr_WriteTxnMarkersResponse_t *resp = gr_arena_alloc(&req->arena, sizeof(*resp));
    gr_WriteTxnMarkersResponse_init(resp);
    park_t *pk = park_new(req, wtm_respond, resp);
    int32_t nm = GR_MAX(r.Markers_count, 0);
    resp->Markers = GR_ARENA_ARRAY(req, gr_WriteTxnMarkersResponse_WritableTxnMarkerResult_t, nm,
                                   gr_WriteTxnMarkersResponse_WritableTxnMarkerResult_init);
    resp->Markers_count = nm;
    for (int32_t i = 0; i < nm; i++) {
        const gr_WriteTxnMarkersRequest_WritableTxnMarker_t *m = &r.Markers[i];
        gr_WriteTxnMarkersResponse_WritableTxnMarkerResult_t *mo = &resp->Markers[i];
        int32_t nt = GR_MAX(m->Topics_count, 0);
        mo->ProducerId = m->ProducerId;
        mo->Topics = GR_ARENA_ARRAY(req, gr_WriteTxnMarkersResponse_WritableTxnMarkerTopicResult_t, nt,
                                    gr_WriteTxnMarkersResponse_WritableTxnMarkerTopicResult_init);
        mo->Topics_count = nt;
        for (int32_t j = 0; j < nt; j++) {
            const gr_WriteTxnMarkersRequest_WritableTxnMarkerTopic_t *t = &m->Topics[j];
            int32_t np = GR_MAX(t->PartitionIndexes_count, 0);
            mo->Topics[j].Name = gr_str_keep(req, t->Name);
            mo->Topics[j].Partitions = GR_ARENA_ARRAY(req, gr_WriteTxnMarkersResponse_WritableTxnMarkerPartitionResult_t,
                                                      np, gr_WriteTxnMarkersResponse_WritableTxnMarkerPartitionResult_init);
            mo->Topics[j].Partitions_count = np;
            for (int32_t k = 0; k < np; k++) {
                gr_WriteTxnMarkersResponse_WritableTxnMarkerPartitionResult_t *pr = &mo->Topics[j].Partitions[k];
                pr->PartitionIndex = t->PartitionIndexes[k];
                wtm_one_t *o = gr_malloc(sizeof(*o));
                *o = (wtm_one_t){pk, &pr->ErrorCode};
                pk->pending++;
                gr_txn_marker_write(t->Name.p ? t->Name.p : "", (size_t)GR_MAX(t->Name.len, 0), pr->PartitionIndex,
                                    m->ProducerId, m->ProducerEpoch, m->CoordinatorEpoch, m->TransactionResult, wtm_done,
                                    o);
            }
        }
    }
    park_release(pk);
}

/* ------------------------------------------------------------ DescribeTransactions */

void gr_api_describe_transactions(gr_req_t *req, gr_rd_t *body)
{
    gr_DescribeTransactionsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, DescribeTransactionsRequest, &r);
    gr_DescribeTransactionsResponse_t resp;
    gr_DescribeTransactionsResponse_init(&resp);
    int32_t n = GR_MAX(r.TransactionalIds_count, 0);
    resp.TransactionStates = GR_ARENA_ARRAY(req, gr_DescribeTransactionsResponse_TransactionState_t, n,
                                            gr_DescribeTransactionsResponse_TransactionState_init);
    resp.TransactionStates_count = n;
    for (int32_t i = 0; i < n; i++) {
        gr_DescribeTransactionsResponse_TransactionState_t *o = &resp.TransactionStates[i];
        const char *tid = gr_req_held(req, r.TransactionalIds[i]);
        o->TransactionalId = gr_req_wire(req, tid ? tid : "");
        o->TransactionState = GR_STR("");
        o->ProducerId = -1;
        o->ProducerEpoch = -1;
        o->TransactionStartTimeMs = -1;
        o->Topics_count = 0;
        if (!tid) {
            o->ErrorCode = KERR_INVALID_REQUEST;        /* a null id */
            continue;
        }
        gr_txn_desc_t d;
        gr_txn_describe(tid, strlen(tid), &d);
        o->ErrorCode = d.error;
        if (d.error != KERR_NONE)
            continue;
        o->TransactionState = GR_STR(gr_txn_state_name(d.state));
        o->TransactionTimeoutMs = d.timeout_ms;
        o->TransactionStartTimeMs = d.start_ms;
        o->ProducerId = d.producer_id;
        o->ProducerEpoch = d.producer_epoch;
        int32_t nt = 0;
        for (int32_t k = 0; k < d.nparts; k++)
            nt += k == 0 || d.parts[k].topic != d.parts[k - 1].topic;
        o->Topics = GR_ARENA_ARRAY(req, gr_DescribeTransactionsResponse_TopicData_t, nt,
                                   gr_DescribeTransactionsResponse_TopicData_init);
        o->Topics_count = nt;
        int32_t *ids = gr_arena_alloc(&req->arena, sizeof(*ids) * (size_t)GR_MAX(d.nparts, 1));
        for (int32_t k = 0, t = -1; k < d.nparts; k++) {
            if (k == 0 || d.parts[k].topic != d.parts[k - 1].topic) {
                t++;
                o->Topics[t].Topic = (gr_str_t){gr_arena_strndup(&req->arena, d.parts[k].topic, d.parts[k].topic_len),
                                                (int32_t)d.parts[k].topic_len};
                o->Topics[t].Partitions = &ids[k];
                o->Topics[t].Partitions_count = 0;
            }
            ids[k] = d.parts[k].partition;
            o->Topics[t].Partitions_count++;
        }
    }
    GR_RESPOND(req, DescribeTransactionsResponse, &resp);
}

/* ------------------------------------------------------------ ListTransactions */

typedef struct list_acc {
    gr_req_t *req;
    gr_ListTransactionsResponse_TransactionState_t *v;
    int32_t n, cap;
} list_acc_t;

static void list_add(void *arg, const char *tid, int64_t pid, int state)
{
    list_acc_t *a = arg;
    if (a->n == a->cap) {
        int32_t cap = a->cap ? a->cap * 2 : 16;
        gr_ListTransactionsResponse_TransactionState_t *v = gr_arena_alloc(&a->req->arena, sizeof(*v) * (size_t)cap);
        if (a->n)
            memcpy(v, a->v, sizeof(*v) * (size_t)a->n);
        a->v = v;
        a->cap = cap;
    }
    gr_ListTransactionsResponse_TransactionState_t *o = &a->v[a->n++];
    gr_ListTransactionsResponse_TransactionState_init(o);
    o->TransactionalId = gr_req_wire(a->req, gr_arena_strndup(&a->req->arena, tid, strlen(tid)));
    o->ProducerId = pid;
    o->TransactionState = GR_STR(gr_txn_state_name(state));
}

void gr_api_list_transactions(gr_req_t *req, gr_rd_t *body)
{
    gr_ListTransactionsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, ListTransactionsRequest, &r);
    gr_ListTransactionsResponse_t resp;
    gr_ListTransactionsResponse_init(&resp);
    int32_t ns = GR_MAX(r.StateFilters_count, 0), known = 0, unknown = 0;
    int *states = gr_arena_alloc(&req->arena, sizeof(*states) * (size_t)GR_MAX(ns, 1));
    resp.UnknownStateFilters = gr_arena_alloc(&req->arena, sizeof(gr_str_t) * (size_t)GR_MAX(ns, 1));
    for (int32_t i = 0; i < ns; i++) {
        gr_str_t f = r.StateFilters[i];
        int id = f.len >= 0 ? gr_txn_state_id(f.p ? f.p : "", (size_t)f.len) : -1;
        if (id >= 0)
            states[known++] = id;
        else
            resp.UnknownStateFilters[unknown++] = gr_str_keep(req, f);
    }
    resp.UnknownStateFilters_count = unknown;
    list_acc_t a = {.req = req};
    if (ns > 0 && known == 0) {
        resp.ErrorCode = gr_txn_running() ? KERR_NONE : KERR_COORDINATOR_NOT_AVAILABLE;   /* nothing matches */
    } else {
        resp.ErrorCode = gr_txn_list(states, known, r.ProducerIdFilters, GR_MAX(r.ProducerIdFilters_count, 0),
                                     req->api_version >= 1 ? r.DurationFilter : -1, list_add, &a);
    }
    if (resp.ErrorCode == KERR_COORDINATOR_NOT_AVAILABLE) {
        /* no coordinator has ever been asked for: no transaction to list */
        resp.ErrorCode = KERR_NONE;
    }
    resp.TransactionStates = a.v;
    resp.TransactionStates_count = a.n;
    GR_RESPOND(req, ListTransactionsResponse, &resp);
}
