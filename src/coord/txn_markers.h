/*
 * txn_markers.h - writing transaction markers (COMMIT / ABORT control
 * batches) to this broker's partitions: the one path behind the
 * WriteTxnMarkers API (admin clients' KIP-664 aborts) and the transaction
 * coordinator, which calls it directly (Kafka's coordinator sends
 * WriteTxnMarkers to each partition's leader; here every partition is
 * local, so there is no network hop).
 *
 * A data partition gets the marker appended by gr_log_append_as (origin
 * COORDINATOR: the producer state's epoch and coordinator-epoch checks); a
 * partition of __consumer_offsets through the group coordinator's runtime
 * (gr_coord_complete_txn), whose shard commits or drops the producer's
 * pending offsets.  Loop thread only.
 */
#ifndef GR_TXN_MARKERS_H
#define GR_TXN_MARKERS_H

#include "kerr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Completion of one marker: NONE once it is appended (and fsynced when the
 * flush policy asks), or the partition's error: UNKNOWN_TOPIC_OR_PARTITION,
 * INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED,
 * KAFKA_STORAGE_ERROR, NOT_LEADER_OR_FOLLOWER (__consumer_offsets loading),
 * ... .  Always called later, from the loop, never inside the call. */
typedef void gr_txn_marker_cb(void *arg, gr_kerr_t err);

void gr_txn_marker_write(const char *topic, size_t tlen, int32_t partition, int64_t producer_id,
                         int16_t producer_epoch, int32_t coordinator_epoch, bool commit, gr_txn_marker_cb *cb,
                         void *arg);

/* Run the completions still queued (shutdown: before the loop is freed). */
void gr_txn_markers_drain(void);

#endif
