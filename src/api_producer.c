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
 *     and otherwise NOT_COORDINATOR: this broker hosts no partition of
 *     __transaction_state (no transaction coordinator), what Kafka's
 *     TransactionStateManager answers for a transactional id whose
 *     partition it does not own.  FindCoordinator for key type
 *     TRANSACTION answers COORDINATOR_NOT_AVAILABLE accordingly.
 *
 * Errors carry ProducerId -1 and ProducerEpoch -1 (initTransactionError).
 */
#include "api_util.h"
#include "broker.h"
#include "kerr.h"
#include "producer_ids.h"

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
    } else {
        resp.ErrorCode = KERR_NOT_COORDINATOR;
    }
    GR_RESPOND(req, InitProducerIdResponse, &resp);
}
