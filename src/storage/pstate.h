/*
 * pstate.h - a partition's producer state: per producer id, its epoch and
 * the sequence ranges of its last 5 batches (Kafka's ProducerStateManager,
 * ProducerStateEntry, BatchMetadata and ProducerAppendInfo), the codec of
 * the <offset>.snapshot files, expiration (producer.id.expiration.ms) and
 * a broker-wide bound on the number of entries.
 *
 * Owned by its partition log (log.c), which decides when batches are
 * validated, applied, snapshotted and loaded; everything here runs on the
 * loop thread.  Formats are drawn in pstate.c.
 *
 * Transactions: an entry carries the first offset of its ongoing
 * transaction (txn_first_offset, -1 when none) and the epoch of the last
 * coordinator that wrote a marker; both are in the snapshot format.  The
 * entries with an ongoing transaction are also on a list ordered by that
 * first offset (Kafka's ongoingTxns), whose head is the partition's first
 * unstable offset: the last stable offset is min(it, high watermark).  A
 * transaction marker (a COMMIT or ABORT control batch, written by the
 * broker only) ends the producer's transaction (gr_pupdate_marker) and
 * reports it as completed, so that the log can index the aborted ones
 * (.txnindex, segment.h).  An entry with an ongoing transaction is never
 * expired nor evicted.
 */
#ifndef GR_PSTATE_H
#define GR_PSTATE_H

#include "serr.h"
#include "gr.h"
#include "hmap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GR_PSTATE_BATCHES 5         /* ProducerStateEntry.NUM_BATCHES_TO_RETAIN */
#define GR_NO_PRODUCER_EPOCH (-1)
#define GR_NO_SEQUENCE (-1)
#define GR_PSTATE_SNAPSHOT_ENTRY 46 /* bytes of one ProducerEntry in a snapshot */

/* One batch a producer appended (Kafka's BatchMetadata). */
typedef struct gr_pbatch {
    int64_t last_offset;
    int64_t timestamp;              /* the batch's maxTimestamp */
    int32_t last_seq;
    int32_t offset_delta;           /* last_offset - first offset */
} gr_pbatch_t;

/* One producer of a partition (Kafka's ProducerStateEntry).  Owned by its
 * gr_pstate_t. */
typedef struct gr_pentry {
    int64_t pid;
    int64_t last_timestamp;         /* of its last append: expiration */
    int64_t txn_first_offset;       /* currentTxnFirstOffset, -1 = none */
    int32_t coordinator_epoch;      /* -1 until a transaction marker */
    int16_t epoch;                  /* GR_NO_PRODUCER_EPOCH when unknown */
    uint8_t nb;                     /* batches held, oldest at b[first] */
    uint8_t first;
    gr_pbatch_t b[GR_PSTATE_BATCHES];
    struct gr_pentry *lru_prev, *lru_next;   /* broker-wide, least recently appended first */
    struct gr_pentry *txn_prev, *txn_next;   /* the partition's ongoing transactions,
                                              * by txn_first_offset */
    struct gr_pstate *owner;
    gr_hnode_t node;                /* in owner's map, by pid */
} gr_pentry_t;

typedef struct gr_pstate gr_pstate_t;

/* Who appends (Kafka's AppendOrigin): a client gets the epoch and sequence
 * checks, the broker's coordinators the epoch check only, and the log's
 * own replay at load none. */
typedef enum { GR_PORIGIN_CLIENT, GR_PORIGIN_COORDINATOR, GR_PORIGIN_REPLAY } gr_porigin_t;

/* ---- broker-wide bound ----
 * At most max_entries (partition, producer) entries in all partitions
 * together (<= 0: no bound).  Past it, gr_pstate_enforce_limit() forgets
 * the entries appended to least recently, as an expiration would. */
void gr_pstate_set_max_entries(int64_t max_entries);
int64_t gr_pstate_total(void);      /* entries now held, all partitions */
int64_t gr_pstate_evictions(void);  /* forgotten by the bound since startup */
/* Evict down to the bound; returns the number evicted.  Called after an
 * append's updates are all applied and after a load. */
int64_t gr_pstate_enforce_limit(void);

/* ---- a partition's state ---- */
gr_pstate_t *gr_pstate_new(void);
void gr_pstate_free(gr_pstate_t *ps);       /* NULL is fine */
void gr_pstate_clear(gr_pstate_t *ps);
size_t gr_pstate_count(const gr_pstate_t *ps);
const gr_pentry_t *gr_pstate_get(const gr_pstate_t *ps, int64_t pid);
/* Visit every entry (any order); fn must not change the state. */
void gr_pstate_foreach(const gr_pstate_t *ps, void (*fn)(void *arg, const gr_pentry_t *e), void *arg);

/* The batch of `pid` with exactly this sequence range, in the committed
 * state, when the epoch is the entry's (ProducerStateEntry.findDuplicateBatch),
 * or NULL. */
const gr_pbatch_t *gr_pstate_find_duplicate(const gr_pstate_t *ps, int64_t pid, int16_t epoch,
                                            int32_t first_seq, int32_t last_seq);

/* ---- an append's updates (Kafka's ProducerAppendInfo) ----
 * One per producer id of an append, initialised from the committed entry
 * (none: an empty one).  It checks each batch of the producer in order
 * against what it has seen so far; once the append succeeded, each batch
 * is added with gr_pstate_add_batch() and then the update applied with
 * gr_pstate_update().  Small (no batch copies), so a request of many tiny
 * batches of distinct producers needs less memory for its updates than
 * the request itself takes. */
typedef struct gr_pupdate {
    int64_t pid;
    int64_t last_timestamp;         /* updated entry: of its last batch */
    int64_t txn_first_offset;
    int32_t coordinator_epoch;
    int32_t cur_last_seq;           /* the committed entry when the update began */
    int32_t last_seq;               /* of the last batch of this append (nb > 0) */
    int16_t cur_epoch;
    int16_t epoch;                  /* updated entry's epoch */
    uint8_t origin;                 /* gr_porigin_t */
    bool nb;                        /* a batch was added in the current epoch */
} gr_pupdate_t;

void gr_pupdate_init(gr_pupdate_t *u, const gr_pstate_t *ps, int64_t pid, gr_porigin_t origin);
/* A data batch (ProducerAppendInfo.appendDataBatch).  Returns GR_SERR_NONE,
 * or GR_SERR_PRODUCER_EPOCH (an epoch older than the producer's; Kafka's
 * INVALID_PRODUCER_EPOCH), GR_SERR_SEQUENCE (client origin: not the next
 * sequence, or a new epoch not starting at 0; OUT_OF_ORDER_SEQUENCE_NUMBER)
 * or GR_SERR_TXN_STATE (a non-transactional batch inside a transaction;
 * INVALID_TXN_STATE), with *msg set; the update is then unchanged. */
gr_serr_t gr_pupdate_data(gr_pupdate_t *u, int16_t epoch, int32_t first_seq, int32_t last_seq,
                        int64_t first_offset, int64_t timestamp, bool transactional, const char **msg);
/* A transaction that a marker ended (Kafka's CompletedTxn). */
typedef struct gr_completed_txn {
    int64_t pid;
    int64_t first_offset;           /* of its first batch in this partition */
    int64_t last_offset;            /* the marker's offset */
    bool aborted;
} gr_completed_txn_t;

/* A transaction marker of the producer at `offset` (ProducerAppendInfo.
 * appendEndTxnMarker): an epoch older than the producer's is
 * GR_SERR_PRODUCER_EPOCH (INVALID_PRODUCER_EPOCH), a coordinator epoch older
 * than the last marker's GR_SERR_COORDINATOR_EPOCH (Kafka's
 * TRANSACTION_COORDINATOR_FENCED); replay checks neither; with *msg
 * set and the update unchanged.  Otherwise the update takes the marker's
 * epoch, coordinator epoch and timestamp and ends the ongoing transaction;
 * *completed is set (and *done filled) when there was one (a marker
 * without data changes nothing else). */
gr_serr_t gr_pupdate_marker(gr_pupdate_t *u, int16_t epoch, int32_t coordinator_epoch, int64_t offset,
                          int64_t timestamp, bool aborted, gr_completed_txn_t *done, bool *completed,
                          const char **msg);
/* Add an appended batch to its producer's entry (created when missing):
 * a new epoch forgets the older batches, the oldest of 6 goes.  The entry
 * becomes the most recently used. */
void gr_pstate_add_batch(gr_pstate_t *ps, int64_t pid, int16_t epoch, const gr_pbatch_t *b);
/* Apply the rest of an update (ProducerStateManager.update): epoch,
 * coordinator epoch, ongoing transaction, last timestamp. */
void gr_pstate_update(gr_pstate_t *ps, const gr_pupdate_t *u);

/* Forget producers whose last append is producer.id.expiration.ms old
 * (now - last_timestamp >= expiration_ms) and that have no ongoing
 * transaction (ProducerStateManager.removeExpiredProducers).  Returns the
 * number removed. */
size_t gr_pstate_expire(gr_pstate_t *ps, int64_t now_ms, int64_t expiration_ms);

/* ---- ongoing transactions ----
 * The first offset of the earliest ongoing transaction (Kafka's
 * firstUndecidedOffset), -1 when none. */
int64_t gr_pstate_first_unstable(const gr_pstate_t *ps);
/* The first offset of the earliest ongoing transaction of a producer
 * other than pid, -1 when none (the last stable offset an aborted
 * transaction's index entry records, ProducerStateManager.lastStableOffset). */
int64_t gr_pstate_first_unstable_other(const gr_pstate_t *ps, int64_t pid);
/* The entry of the earliest ongoing transaction (then e->txn_next), or
 * NULL. */
const gr_pentry_t *gr_pstate_ongoing_first(const gr_pstate_t *ps);
/* Ongoing transactions held. */
size_t gr_pstate_ongoing(const gr_pstate_t *ps);
/* Visit the entries with an ongoing transaction, earliest first. */
void gr_pstate_foreach_ongoing(const gr_pstate_t *ps, void (*fn)(void *arg, const gr_pentry_t *e), void *arg);

/* ---- snapshots (the <offset>.snapshot files; layout in pstate.c) ----
 * Encode the whole state, entries by ascending producer id, into a
 * malloc'ed buffer (*out, *len; the caller frees it). */
void gr_pstate_encode(const gr_pstate_t *ps, uint8_t **out, size_t *len);
/* Decode a snapshot into ps (entries replace those of the same id),
 * skipping producers expired at now_ms (expiration_ms; <= 0: none).
 * Returns the number of entries loaded, or GR_ECORRUPT (unknown version,
 * CRC mismatch, short) with nothing changed. */
int64_t gr_pstate_decode(gr_pstate_t *ps, const uint8_t *p, size_t len, int64_t now_ms, int64_t expiration_ms);

/* ---- sequence numbers (DefaultRecordBatch), wrapping at INT32_MAX ---- */
int32_t gr_seq_increment(int32_t seq, int32_t inc);
int32_t gr_seq_decrement(int32_t seq, int32_t dec);

#endif
