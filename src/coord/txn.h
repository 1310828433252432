/*
 * txn.h - the transaction coordinator (Kafka's TransactionCoordinator,
 * TransactionStateManager and TransactionMarkerChannelManager): a second
 * shard type of the coordinator runtime (coord_runtime.h), on the
 * partitions of __transaction_state.
 *
 * Each partition's shard holds the transactional ids that hash to it
 * (abs(String.hashCode) % partitions, as groups) with their
 * TransactionMetadata: producer id and epoch, state, partitions, timeout,
 * timestamps.  Loading replays Kafka's TransactionLogKey/Value records.
 * Live state changes follow Kafka's two steps: a request prepares a
 * transition (the metadata's pending state, which makes concurrent
 * requests CONCURRENT_TRANSACTIONS), its record is appended, and the
 * transition completes when the record is durable (the runtime's
 * GR_CRT_NO_REPLAY writes), so a transition that a failed append refused
 * never happened.  Markers are written through txn_markers.h.
 *
 * Transactional ids are Java Strings for Kafka: they are kept in the held
 * form of jstr.h (callers pass gr_req_held strings) and written re-encoded.
 * A transactional id longer than an int16 string (32767 bytes) cannot be
 * recorded: InitProducerId answers INVALID_REQUEST for it and keeps
 * nothing.  Loop thread only.
 */
#ifndef GR_TXN_H
#define GR_TXN_H

#include "coord_runtime.h"
#include "kerr.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GR_TXN_TOPIC "__transaction_state"

/* Kafka's TransactionState ids (the TransactionStatus of the records). */
enum {
    GR_TXN_EMPTY = 0,
    GR_TXN_ONGOING = 1,
    GR_TXN_PREPARE_COMMIT = 2,
    GR_TXN_PREPARE_ABORT = 3,
    GR_TXN_COMPLETE_COMMIT = 4,
    GR_TXN_COMPLETE_ABORT = 5,
    GR_TXN_DEAD = 6,
    GR_TXN_PREPARE_EPOCH_FENCE = 7,
};
/* "Empty", "Ongoing", ... (DescribeTransactions, ListTransactions); NULL
 * for an unknown id.  gr_txn_state_id: -1 for an unknown name. */
const char *gr_txn_state_name(int state);
int gr_txn_state_id(const char *name, size_t len);

/* A partition of a transaction. */
typedef struct gr_txn_tp {
    const char *topic;
    size_t topic_len;
    int32_t partition;
} gr_txn_tp_t;

/* ---- lifecycle ----
 * Startup: start the coordinator when __transaction_state exists (a data
 * dir without it gets none until a client asks for one). */
int gr_txn_start(void);
/* Create __transaction_state when missing (internal, compacted,
 * transaction.state.log.num.partitions, segment.bytes =
 * transaction.state.log.segment.bytes) and start; 0 or a GR_E*. */
int gr_txn_ensure(void);
/* The same over another log (tests), npart partitions. */
int gr_txn_start_with(const gr_crt_writer_ops_t *writer, void *ctx, int32_t npart);
void gr_txn_load_all(void);
/* Shutdown: what waits is written, timers stop, markers in flight finish
 * without the coordinator. */
void gr_txn_stop(void);
bool gr_txn_running(void);

/* The partition of a transactional id (held form). */
int32_t gr_txn_partition_for(const char *tid, size_t len);
/* COORDINATOR_NOT_AVAILABLE (not running), COORDINATOR_LOAD_IN_PROGRESS,
 * NOT_COORDINATOR or NONE for the id's partition. */
gr_kerr_t gr_txn_status(const char *tid, size_t len);

/* ---- requests (callbacks may run inside the call for early errors) ---- */
typedef void gr_txn_cb(void *arg, gr_kerr_t err);
typedef void gr_txn_init_cb(void *arg, gr_kerr_t err, int64_t pid, int16_t epoch);

/* InitProducerId with a transactional id (handleInitProducerId): expected
 * pid and epoch -1 when none (KIP-360 otherwise).  The timeout must have
 * been validated.  CONCURRENT_TRANSACTIONS while the previous producer's
 * transaction is aborted (it is fenced first, an epoch bump). */
void gr_txn_init_producer(const char *tid, size_t len, int32_t timeout_ms, int64_t pid, int16_t epoch,
                          gr_txn_init_cb *cb, void *arg);
/* AddPartitionsToTxn / AddOffsetsToTxn (handleAddPartitionsToTransaction). */
void gr_txn_add_partitions(const char *tid, size_t len, int64_t pid, int16_t epoch, const gr_txn_tp_t *tps, int32_t n,
                           gr_txn_cb *cb, void *arg);
/* KIP-890 verification (handleVerifyPartitionsInTransaction): NONE with
 * errs[i] per partition (NONE, or TRANSACTION_ABORTABLE when it is not in
 * the transaction), or the error of every partition. */
gr_kerr_t gr_txn_verify(const char *tid, size_t len, int64_t pid, int16_t epoch, const gr_txn_tp_t *tps, int32_t n,
                        gr_kerr_t *errs);
/* EndTxn (handleEndTransaction), clients' transaction version 0/1. */
void gr_txn_end(const char *tid, size_t len, int64_t pid, int16_t epoch, bool commit, gr_txn_cb *cb, void *arg);

/* ---- reads ---- */
typedef struct gr_txn_desc {
    gr_kerr_t error;
    int state;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t timeout_ms;
    int64_t start_ms;
    int32_t nparts;
    const gr_txn_tp_t *parts;       /* valid until the loop runs again */
} gr_txn_desc_t;
/* DescribeTransactions of one id: TRANSACTIONAL_ID_NOT_FOUND, the status
 * errors, or NONE. */
void gr_txn_describe(const char *tid, size_t len, gr_txn_desc_t *out);
/* ListTransactions: COORDINATOR_LOAD_IN_PROGRESS while a partition loads
 * (then nothing is listed), else fn for each id that passes the filters
 * (states: ids, n_states 0 = all; pids likewise; min_duration_ms < 0 =
 * any, else only transactions started more than that long ago). */
gr_kerr_t gr_txn_list(const int *states, int32_t n_states, const int64_t *pids, int32_t n_pids,
                      int64_t min_duration_ms, void (*fn)(void *arg, const char *tid, int64_t pid, int state),
                      void *arg);

/* Transactional ids held (all partitions), for tests and measurements. */
int64_t gr_txn_count(void);

/* Run each partition's timed-out transaction abort now (tests). */
void gr_txn_abort_timed_out(void);

/* ---- the records (also used by the unit tests) ----
 * TransactionLogKey v0 and TransactionLogValue v0 (Kafka's
 * transaction.version 0), each prefixed with its int16 version. */
typedef struct gr_txn_record {
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t timeout_ms;
    int8_t state;
    int64_t update_ms, start_ms;
    const gr_txn_tp_t *parts;
    int32_t nparts;
} gr_txn_record_t;
void gr_txn_key_encode(gr_wr_t *w, const char *tid, size_t len);
void gr_txn_value_encode(gr_wr_t *w, const gr_txn_record_t *r);

#endif
