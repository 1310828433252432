/*
 * txn_offsets.h - the pending transactional offsets of one partition of
 * __consumer_offsets (Kafka's OffsetMetadataManager.pendingTransactionalOffsets
 * and openTransactionsByGroup): offsets a TxnOffsetCommit wrote in a
 * transactional batch, invisible to OffsetFetch until the producer's COMMIT
 * marker lands on this partition (then they become committed offsets),
 * dropped by its ABORT marker.
 *
 * Owned by the partition's shard (coord.c), which changes it only by
 * replaying records (a transactional OffsetCommit record, a regular commit
 * or tombstone of the same key, a marker); every change pushes an undo
 * entry when given an undo log, so that a failed append takes it back.
 * Loop thread only.
 *
 * Kafka keeps the record offset of every committed offset so that a
 * transaction committing after a newer commit of the same key does not
 * bring an old offset back (the newer one wins).  Here a pending offset
 * is marked superseded instead when a newer commit of its key is replayed
 * (a regular commit, or another producer's transactional offset that
 * became committed): the committed offsets cost nothing more.
 */
#ifndef GR_TXN_OFFSETS_H
#define GR_TXN_OFFSETS_H

#include "coord_runtime.h"
#include "hmap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gr_txnoff gr_txnoff_t;

/* One pending offset: group (held form), topic and metadata are
 * NUL-terminated strings in s. */
typedef struct gr_txnoff_ent {
    gr_hnode_t node;                /* in its producer's map, by key */
    int64_t record_offset;          /* of its record in the partition */
    int64_t offset;
    int64_t commit_ts, expire_ts;
    int32_t partition;
    int32_t leader_epoch;
    uint32_t glen, tlen, mlen;
    bool superseded;                /* a newer commit of the key was replayed */
    char s[];                       /* group, NUL, topic, NUL, metadata, NUL */
} gr_txnoff_ent_t;

static inline const char *gr_txnoff_group(const gr_txnoff_ent_t *e) { return e->s; }
static inline const char *gr_txnoff_topic(const gr_txnoff_ent_t *e) { return e->s + e->glen + 1; }
static inline const char *gr_txnoff_metadata(const gr_txnoff_ent_t *e) { return e->s + e->glen + e->tlen + 2; }

gr_txnoff_t *gr_txnoff_new(void);
void gr_txnoff_free(gr_txnoff_t *t);            /* NULL is fine */
int64_t gr_txnoff_count(const gr_txnoff_t *t);  /* pending offsets held */
size_t gr_txnoff_producers(const gr_txnoff_t *t);

/* Replay of a transactional OffsetCommit record of producer pid: the key's
 * pending offset of that producer is set (replacing one it had). */
void gr_txnoff_put(gr_txnoff_t *t, int64_t pid, const char *gid, size_t glen, const char *topic, size_t tlen,
                   int32_t partition, int64_t offset, int32_t leader_epoch, const char *md, size_t mlen,
                   int64_t commit_ts, int64_t expire_ts, int64_t record_offset, gr_crt_undo_t *undo);
/* Replay of a regular (non-transactional) commit of the key: the pending
 * offsets of the key become superseded; of a tombstone: they are removed. */
void gr_txnoff_key_written(gr_txnoff_t *t, const char *gid, size_t glen, const char *topic, size_t tlen,
                           int32_t partition, bool tombstone, gr_crt_undo_t *undo);
/* Replay of a marker of pid: its pending offsets go.  With commit, each
 * that is not superseded is passed to apply(arg, entry) first (the caller
 * makes it a committed offset), and the other producers' pending offsets
 * of the same key with an older record become superseded. */
typedef void gr_txnoff_apply_fn(void *arg, const gr_txnoff_ent_t *e);
void gr_txnoff_end(gr_txnoff_t *t, int64_t pid, bool commit, gr_txnoff_apply_fn *apply, void *arg,
                   gr_crt_undo_t *undo);

/* Is an offset of the key pending (OffsetFetch RequireStable, expiry)? */
bool gr_txnoff_pending(const gr_txnoff_t *t, const char *gid, size_t glen, const char *topic, size_t tlen,
                       int32_t partition);
/* Has the group an open transaction with pending offsets here? */
bool gr_txnoff_group_open(const gr_txnoff_t *t, const char *gid, size_t glen);
/* Visit the pending offsets of a group (tombstones for DeleteGroups);
 * fn must not change t. */
void gr_txnoff_foreach_group(const gr_txnoff_t *t, const char *gid, size_t glen,
                             void (*fn)(void *arg, const gr_txnoff_ent_t *e), void *arg);

#endif
