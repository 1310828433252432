/*
 * producer_ids.h - the producer id manager (Kafka's ProducerIdManager and
 * ProducerIdsBlock): unique producer ids for InitProducerId, never handed
 * out twice, across restarts and crashes.
 *
 * Ids come in blocks of GR_PID_BLOCK_SIZE.  A block is recorded durably in
 * <first log dir>/producer-id-block before any id of it is used; after a
 * restart the next block starts after the recorded one.  Used on the loop
 * thread only; the next block is recorded on a helper thread when 90% of
 * the current one is used (Kafka's prefetch), and while none is ready
 * gr_pids_next() answers GR_AGAIN (InitProducerId answers
 * COORDINATOR_LOAD_IN_PROGRESS, which clients retry, as Kafka does).
 */
#ifndef GR_PRODUCER_IDS_H
#define GR_PRODUCER_IDS_H

#include "ev.h"
#include "gr.h"

#define GR_PID_BLOCK_SIZE 1000      /* ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE */
#define GR_PID_BLOCK_FILE "producer-id-block"

/* Read the block file in dir (missing: first block at 0), start after it
 * and after min_next (one more than the largest producer id found in the
 * partitions' state), record the first block (synchronously: before the
 * broker serves) and keep ev for later blocks (NULL: record them
 * synchronously).  Returns 0, GR_ECORRUPT (the file cannot be parsed:
 * ids could be reused, so the broker must not start) or an I/O error. */
int gr_pids_init(const char *dir, int32_t broker_id, int64_t min_next, gr_ev_t *ev);
/* The next producer id: 0 and *pid, or GR_AGAIN while the next block is
 * being recorded (or recording it failed; retried 50 ms later). */
int gr_pids_next(int64_t *pid);
/* Forget everything (tests, shutdown); a block being recorded finishes
 * first (gr_ev_drain). */
void gr_pids_reset(void);

#endif
