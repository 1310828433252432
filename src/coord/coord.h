/*
 * coord.h - the group coordinator's service and its shard of
 * __consumer_offsets (Kafka's GroupCoordinatorService and
 * GroupCoordinatorShard): the partitions of __consumer_offsets run on the
 * coordinator runtime (coord_runtime.h); each partition's shard holds its
 * groups and committed offsets, which change only by replaying the
 * partition's records (OffsetCommit, GroupMetadata, their tombstones).
 *
 * The API handlers validate with gr_coord_validate_group, then either call
 * the group state machine (group.h) or one of the writes below; a write
 * builds the records, the runtime replays and appends them, and the
 * callback reports once they are durable, with the error Kafka maps the
 * append's failure to.  The record layouts are drawn in coord.c.
 */
#ifndef GR_COORD_H
#define GR_COORD_H

#include "coord_runtime.h"
#include "group.h"
#include "kerr.h"
#include "offsets.h"
#include "wire.h"

#include <stdbool.h>
#include <stdint.h>

#define GR_OFFSETS_TOPIC "__consumer_offsets"

/* The API a group id comes with: Kafka's isValidGroupId accepts "" for
 * OffsetCommit, OffsetFetch, DescribeGroups and DeleteGroups (backward
 * compatibility), and only a non-empty id for the others. */
typedef enum gr_group_api {
    GR_GROUP_API_OFFSET_COMMIT,
    GR_GROUP_API_OFFSET_FETCH,
    GR_GROUP_API_DESCRIBE,
    GR_GROUP_API_DELETE,
    GR_GROUP_API_OFFSET_DELETE,
    GR_GROUP_API_TXN_OFFSET_COMMIT,
    GR_GROUP_API_JOIN,
    GR_GROUP_API_SYNC,
    GR_GROUP_API_HEARTBEAT,
    GR_GROUP_API_LEAVE,
} gr_group_api_t;

/* The one validation of a group request before it touches a group
 * (Kafka's validateGroupStatus), in Kafka's order: INVALID_GROUP_ID (id
 * NULL, i.e. a null string, or "" for an API that needs a group),
 * COORDINATOR_NOT_AVAILABLE (not started or stopping),
 * COORDINATOR_LOAD_IN_PROGRESS (the group's partition is loading),
 * NOT_COORDINATOR, or NONE.  id in held form (jstr.h). */
gr_kerr_t gr_coord_validate_group(const char *id, size_t len, gr_group_api_t api);
/* Any partition of __consumer_offsets still loading (ListGroups). */
bool gr_coord_loading_any(void);

/* The __consumer_offsets partition of a group id (held form): Kafka's
 * Utils.abs(groupId.hashCode()) % partitions (gr_jstr_partition, shared
 * with the CLI), over the topic's real partition count once started,
 * offsets.topic.num.partitions before. */
int32_t gr_coord_partition_for(const char *group_id, size_t len);

/* Startup: create __consumer_offsets if missing (compacted, internal), then
 * load it partition by partition from the loop (COORDINATOR_LOAD_IN_PROGRESS
 * meanwhile) and run each partition's offsets expiry.  Installs itself as
 * group.c's host.  Returns 0 or a GR_E*. */
int gr_coord_start(void);
/* The same over another log (tests: crt_memlog.h), npart partitions. */
int gr_coord_start_with(const gr_crt_writer_ops_t *writer, void *ctx, int32_t npart);
/* Load whatever is still loading now, synchronously (tests). */
void gr_coord_load_all(void);
/* Shutdown: what waits is appended and answered, timers stop, groups stay. */
void gr_coord_stop(void);

/* Completion of a write: NONE, or the error for the request (Kafka's
 * mapping of the append's failure; COORDINATOR_LOAD_IN_PROGRESS /
 * NOT_COORDINATOR when the partition is not active). */
typedef void gr_coord_cb(void *arg, gr_kerr_t err);

/* The runtime of __consumer_offsets, NULL when not started or stopped. */
gr_crt_t *gr_coord_rt(void);
/* Run a write of the group coordinator (cgroup.c's operations): the
 * runtime's gr_crt_write, with cb(arg, err) getting Kafka's mapping of the
 * append's failure (appendGroupMetadataErrorToResponseError); `what`
 * (may be NULL) names it in the log line of a failure. */
void gr_coord_write(gr_crt_result_t *r, gr_coord_cb *cb, void *arg, const char *what);

/* One partition of a commit or offset delete.  Entries whose `error` is
 * not NONE on entry are skipped (already failed validation). */
typedef struct gr_coord_commit {
    const char *topic;
    size_t topic_len;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;           /* -1 if unknown */
    const char *metadata;           /* NULL = "" (held form) */
    size_t metadata_len;
    int64_t commit_timestamp;       /* ms */
    int64_t expire_timestamp;       /* ms, -1 = none (then written as v3) */
    gr_kerr_t error;
} gr_coord_commit_t;

/* OffsetCommit of group `gid` (validated by the caller, gr_group_validate_commit):
 * one atomic batch of OffsetCommit records, appended with the other writes
 * of the loop turn on the partition.  Replaying them creates the group (a
 * simple, Empty group) when it does not exist.  On success each changed
 * offset gets a GR_HIST_COMMIT history entry (`who` = member id or client
 * id).  Errors as Kafka's classic coordinator maps a commit's append
 * (INVALID_COMMIT_OFFSET_SIZE for a batch too large).  The entries are
 * copied. */
void gr_coord_commit_offsets(const char *gid, size_t glen, const char *who, const gr_coord_commit_t *c, int32_t n,
                             gr_coord_cb *cb, void *arg);
/* Append now what waits on partition p, so that a reader of the offset
 * maps sees no commit that could still be rolled back (OffsetFetch). */
void gr_coord_flush_commits(int32_t partition);
/* ---- transactions ----
 * TxnOffsetCommit of group gid by producer (id, epoch), validated by the
 * caller: one atomic transactional batch of the producer's OffsetCommit
 * records (the log checks the epoch); replaying them makes pending
 * offsets, committed by the producer's COMMIT marker.  Errors as for
 * gr_coord_commit_offsets (INVALID_PRODUCER_EPOCH from the log as is). */
void gr_coord_txn_commit_offsets(const char *gid, size_t glen, int64_t producer_id, int16_t producer_epoch,
                                 const gr_coord_commit_t *c, int32_t n, gr_coord_cb *cb, void *arg);
/* Write the producer's COMMIT or ABORT marker on a partition of
 * __consumer_offsets (Kafka's completeTransaction): its pending offsets
 * become committed or go.  cb(arg, err) once durable: NONE, the log's
 * epoch errors (INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED), or
 * NOT_LEADER_OR_FOLLOWER while the partition loads or the coordinator is
 * not running (the marker writer retries). */
void gr_coord_complete_txn(int32_t partition, int64_t producer_id, int16_t producer_epoch, int32_t coordinator_epoch,
                           bool commit, gr_coord_cb *cb, void *arg);
/* Is a transactional offset of the key pending (OffsetFetch RequireStable)? */
bool gr_coord_offset_pending(const char *gid, size_t glen, const char *topic, size_t tlen, int32_t partition);
/* Pending transactional offsets held by every partition. */
int64_t gr_coord_pending_offsets(void);

/* OffsetDelete on g (validated by the caller): tombstones for the entries
 * (error NONE) g holds or a transaction holds pending; an Empty group left
 * without offsets (and without open transactions) gets its GroupMetadata
 * tombstone too (it is removed).  Not atomic: batches of at
 * most max.message.bytes.  g must not be used after the call. */
void gr_coord_delete_offsets(gr_group_t *g, const gr_coord_commit_t *c, int32_t n, gr_coord_cb *cb, void *arg);
/* DeleteGroups of one group: validates (gr_coord_validate_group,
 * gr_group_check_delete) and returns the error, or NONE: the tombstones of
 * every offset and of the group are written (not atomic), the group is
 * removed at once, and cb(arg, err) runs once they are durable; a failure
 * puts back what did not land. */
gr_kerr_t gr_coord_delete_group(const char *id, size_t len, gr_coord_cb *cb, void *arg);

/* Write g's GroupMetadata as it is now (group.c's host.store, public for
 * tests): refused with UNKNOWN_SERVER_ERROR, before anything is built, when
 * the record would exceed max.message.bytes or segment.bytes of the
 * partition or a string its int16 length; not replayed (g holds it). */
void gr_coord_store_group(gr_group_t *g, gr_group_store_cb *cb, void *arg);

/* One offsets expiry pass (offsets.retention.minutes) over every active
 * partition at wall time now_ms: tombstones for expired offsets; an Empty
 * group left without offsets gets its GroupMetadata tombstone.  Returns the
 * number of offsets removed.  Each partition also runs it every
 * offsets.retention.check.interval.ms. */
int gr_coord_expire(int64_t now_ms);

/* ---- record codecs (also used by the unit tests) ----
 * Each writes the int16 version prefix followed by the body.  Group ids
 * and metadata are in held form (jstr.h) and written as Kafka encodes
 * them; the topic is written as it is.  GroupMetadataValue: group.h. */
void gr_coord_offset_key(gr_wr_t *w, const char *group, size_t glen, const char *topic, size_t tlen,
                         int32_t partition);
/* v3 (offset, leaderEpoch, metadata, commitTimestamp), or v1 when
 * expire_timestamp >= 0 or inter.broker.protocol.version < 2.1 (offset,
 * metadata, commitTimestamp, expireTimestamp). */
void gr_coord_offset_value(gr_wr_t *w, int64_t offset, int32_t leader_epoch, const char *metadata, size_t mlen,
                           int64_t commit_ts, int64_t expire_ts);
void gr_coord_group_key(gr_wr_t *w, const char *group, size_t glen);

#endif
