/*
 * coord.h - persistence of groups and committed offsets in the internal
 * topic __consumer_offsets, and loading them back at startup (Kafka's
 * GroupMetadataManager).
 *
 * Writers append one uncompressed batch per operation to the group's
 * partition and report through a gr_coord_cb once the batch is durable
 * under the log flush policy.  The callback always runs later on the loop
 * thread, never inside the call that started the write.  The record
 * layouts are drawn in coord.c.
 */
#ifndef GR_COORD_H
#define GR_COORD_H

#include "group.h"
#include "offsets.h"
#include "wire.h"

#include <stdbool.h>
#include <stdint.h>

#define GR_OFFSETS_TOPIC "__consumer_offsets"

/* Is partition p of __consumer_offsets still being replayed?  (true also
 * before gr_coord_start.)  Group requests for a group on a loading
 * partition answer COORDINATOR_LOAD_IN_PROGRESS. */
bool gr_coord_loading(int32_t partition);
/* Any partition still loading. */
bool gr_coord_loading_any(void);

/* Completion of a write: kafka_error is KERR_NONE, or the error Kafka
 * maps a failed append to (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
 * UNKNOWN_SERVER_ERROR / INVALID_COMMIT_OFFSET_SIZE for oversized batches). */
typedef void gr_coord_cb(void *arg, int16_t kafka_error);

/* Append GroupMetadataKey v2 + GroupMetadataValue v3 of g's current state
 * (members' subscription = their metadata for the chosen protocol) to
 * partition g->coord_partition.  cb may be NULL. */
void gr_coord_store_group(gr_group_t *g, gr_coord_cb *cb, void *arg);
/* Append tombstones for g's metadata key and every committed offset key
 * of g.  The in-memory offsets are left alone (the caller removes g). */
void gr_coord_delete_group(gr_group_t *g, gr_coord_cb *cb, void *arg);

/* One partition of a commit or offset delete.  Entries whose `error` is
 * not KERR_NONE on entry are skipped (already failed validation). */
typedef struct gr_coord_commit {
    const char *topic;
    size_t topic_len;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;           /* -1 if unknown */
    const char *metadata;           /* NULL = "" */
    size_t metadata_len;
    int64_t commit_timestamp;       /* ms */
    int64_t expire_timestamp;       /* ms, -1 = none (then written as v3) */
    int16_t error;
} gr_coord_commit_t;

/* Commit: one batch of OffsetCommit records, appended together with the
 * other commits of the same loop turn on the same partition (one write;
 * group commit, see coord.c) from a before-sleep hook; then the group's map
 * is updated (in log order), one GR_HIST_COMMIT history entry per changed
 * offset (`who` = member id or client id), and cb runs (after the fsync if
 * the flush policy asks for one).  The entries are copied: c may be freed
 * when the call returns; g must stay registered (removing a group always
 * goes through a coord write first, which appends what waits).  On an
 * append failure nothing changes and cb gets the mapped error. */
void gr_coord_commit_offsets(gr_group_t *g, const char *who, gr_coord_commit_t *c, int32_t n, gr_coord_cb *cb,
                             void *arg);
/* Append now the commits still waiting on partition p of
 * __consumer_offsets (their callbacks run later, from the loop), so that
 * a reader of the offset maps sees every commit received before it: an
 * OffsetFetch pipelined behind OffsetCommits on one connection answers
 * with them, as Kafka does. */
void gr_coord_flush_commits(int32_t partition);
/* OffsetDelete: tombstones for the entries (error == KERR_NONE) that exist
 * in the map, which are then removed.  An Empty group left without offsets
 * becomes Dead (GroupMetadata tombstone in the same batch) and is removed:
 * g must not be used after the call. */
void gr_coord_delete_offsets(gr_group_t *g, gr_coord_commit_t *c, int32_t n, gr_coord_cb *cb, void *arg);

/* Startup: create __consumer_offsets if missing, then replay it partition
 * by partition from loop timers (gr_coord_loading() is true until each is
 * done) and arm the offsets expiry timer.  Returns 0 or a GR_E*. */
int gr_coord_start(void);
/* Replay whatever is still loading now, synchronously (tests). */
void gr_coord_load_all(void);
/* Shutdown: stop timers; pending completions are dropped. */
void gr_coord_stop(void);

/* The __consumer_offsets partition of a group (id in held form, jstr.h):
 * Kafka's Utils.abs(groupId.hashCode()) % partitions, gr_jstr_partition
 * (the topic's partition count once started, offsets.topic.num.partitions
 * before). */
int32_t gr_coord_partition_for(const char *group_id, size_t len);

/* One offset expiry pass (offsets.retention.minutes) at wall time now_ms:
 * tombstones for expired offsets, Empty groups left without offsets
 * become Dead and are removed with a GroupMetadata tombstone.  Returns the
 * number of offsets removed. */
int gr_coord_expire(int64_t now_ms);

/* ---- record codecs (also used by the unit tests) ----
 * Each writes the int16 version prefix followed by the body.  Group ids,
 * metadata and the group's strings are in held form (jstr.h) and written
 * as Kafka encodes them; the topic is written as it is. */
void gr_coord_offset_key(gr_wr_t *w, const char *group, size_t glen, const char *topic, size_t tlen,
                         int32_t partition);
/* v3 (offset, leaderEpoch, metadata, commitTimestamp), or v1 when
 * expire_timestamp >= 0 (offset, metadata, commitTimestamp, expireTimestamp). */
void gr_coord_offset_value(gr_wr_t *w, int64_t offset, int32_t leader_epoch, const char *metadata, size_t mlen,
                           int64_t commit_ts, int64_t expire_ts);
void gr_coord_group_key(gr_wr_t *w, const char *group, size_t glen);
void gr_coord_group_value(gr_wr_t *w, const gr_group_t *g);
/* Bytes gr_coord_group_value writes for g, without writing them;
 * *too_long when a string of it exceeds its int16 length. */
size_t gr_coord_group_value_size(const gr_group_t *g, bool *too_long);

/* ---- provided by group.c ----
 * Called once per group rebuilt from GroupMetadata at load, after its
 * state, generation and members are set (Stable if it has members, else
 * Empty): start the members' session timers, as Kafka's onGroupLoaded.
 * Members come from gr_calloc with gr_strdup'ed strings and one protocol
 * (the chosen one, metadata = stored subscription); the group frees them
 * as its own.  Declared weak in coord.c: when absent, loaded members never
 * expire and a warning is logged. */
void gr_group_loaded(gr_group_t *g);

#endif
