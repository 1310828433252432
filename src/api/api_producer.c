/*
 * api_producer.c - InitProducerId (key 22), versions 0-5.
 *
 * As Kafka's KafkaApis.handleInitProducerIdRequest and
 * TransactionCoordinator.handleInitProducerId:
 *
 *   - v3+: ProducerId and ProducerEpoch are both -1 or both given, else
 *     INVALID_REQUEST;
 *   - no transactional id (null): a new producer id with epoch 0, always.
 *     Kafka answers every idempotent producer so, also one that sends its
 *     current id and epoch (KIP-360): such a producer bumps its epoch
 *     itself, and asks for a new id only when the epoch is exhausted or
 *     its state is lost; the broker keeps nothing per producer id here.
 *     COORDINATOR_LOAD_IN_PROGRESS (retriable) while the next block of ids
 *     is being recorded (producer_ids.c);
 *   - a transactional id: an empty one is INVALID_REQUEST, a timeout
 *     outside 1..transaction.max.timeout.ms INVALID_TRANSACTION_TIMEOUT,
 *     otherwise the transaction coordinator (txn.h) answers once its
 *     record is durable: the producer id of the transactional id with its
 *     epoch bumped (the previous producer fenced; its open transaction
 *     aborted first, meanwhile CONCURRENT_TRANSACTIONS).  The coordinator
 *     (and __transaction_state) is made on first use if FindCoordinator
 *     did not make it.  PRODUCER_FENCED is INVALID_PRODUCER_EPOCH for
 *     versions before 4, as Kafka answers old clients.
 *
 * Errors carry ProducerId -1 and ProducerEpoch -1 (initTransactionError).
 */
#include "api_util.h"
#include "broker.h"
#include "kerr.h"
#include "producer_ids.h"
#include "txn.h"

#include <stdlib.h>
#include <string.h>

typedef struct init_park {
    gr_req_t *req;                  /* NULL once the connection is gone */
} init_park_t;

static void init_cancel(gr_req_t *req)
{
    init_park_t *pk = req->park;
    pk->req = NULL;
}

static void init_done(void *arg, gr_kerr_t err, int64_t pid, int16_t epoch)
{
    init_park_t *pk = arg;
    gr_req_t *req = pk->req;
    free(pk);
    if (!req)
        return;
    req->on_cancel = NULL;
    req->park = NULL;
    gr_InitProducerIdResponse_t resp;
    gr_InitProducerIdResponse_init(&resp);
    resp.ThrottleTimeMs = 0;
    resp.ErrorCode = req->api_version < 4 && err == KERR_PRODUCER_FENCED ? KERR_INVALID_PRODUCER_EPOCH : err;
    resp.ProducerId = err == KERR_NONE ? pid : -1;
    resp.ProducerEpoch = err == KERR_NONE ? epoch : -1;
    GR_RESPOND(req, InitProducerIdResponse, &resp);
}

void gr_api_init_producer_id(gr_req_t *req, gr_rd_t *body)
{
    gr_InitProducerIdRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, InitProducerIdRequest, &r);

    gr_InitProducerIdResponse_t resp;
    gr_InitProducerIdResponse_init(&resp);
    resp.ThrottleTimeMs = 0;
    resp.ProducerId = -1;
    resp.ProducerEpoch = -1;
    int64_t pid;
    if (req->api_version >= 3 && (r.ProducerId == -1) != (r.ProducerEpoch == -1)) {
        resp.ErrorCode = KERR_INVALID_REQUEST;
    } else if (r.TransactionalId.len < 0) {
        if (gr_pids_next(&pid) == 0) {
            resp.ErrorCode = KERR_NONE;
            resp.ProducerId = pid;
            resp.ProducerEpoch = 0;
        } else {
            resp.ErrorCode = KERR_COORDINATOR_LOAD_IN_PROGRESS;
        }
    } else if (r.TransactionalId.len == 0) {
        resp.ErrorCode = KERR_INVALID_REQUEST;
    } else if (r.TransactionTimeoutMs <= 0 || r.TransactionTimeoutMs > gr_broker.cfg.transaction_max_timeout_ms) {
        resp.ErrorCode = KERR_INVALID_TRANSACTION_TIMEOUT;
    } else if (gr_txn_ensure() < 0) {
        resp.ErrorCode = KERR_COORDINATOR_NOT_AVAILABLE;
    } else {
        const char *tid = gr_req_held(req, r.TransactionalId);
        init_park_t *pk = gr_malloc(sizeof(*pk));
        pk->req = req;
        req->park = pk;
        req->on_cancel = init_cancel;
        gr_txn_init_producer(tid, strlen(tid), r.TransactionTimeoutMs, req->api_version >= 3 ? r.ProducerId : -1,
                             req->api_version >= 3 ? r.ProducerEpoch : -1, init_done, pk);
        return;
    }
    GR_RESPOND(req, InitProducerIdResponse, &resp);
}
