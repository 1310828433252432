/*
 * group.h - the classic group coordinator: groups, members and the state
 * machine (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead),
 * as Kafka's GroupMetadata / GroupCoordinator.
 *
 * Ownership: the registry (group.c) owns every group; a group owns its
 * members, its committed offsets (offsets.c) and its history entries.  Parked
 * JoinGroup / SyncGroup requests are gr_join_waiter_t / gr_sync_waiter_t
 * owned by the caller (api_group.c keeps them in the request arena) and
 * referenced by their member while parked; a caller that goes away first
 * detaches with gr_group_waiter_detach_*().  Everything runs on the loop
 * thread; timers are gr_timer_t embedded here, driven by a clock that the
 * unit tests replace (gr_group_clock_t).
 *
 * Ids.  Every id and name here (group, member, instance and client ids,
 * protocol type and names, reasons, offset metadata) is a Java String for
 * Kafka and is kept in the held form of jstr.h: canonical UTF-8 with
 * U+0000 as C0 80, so NUL-free, and equal exactly when Kafka's Strings are
 * equal.  The API handlers convert at the wire (gr_req_held/gr_req_wire),
 * coord.c at __consumer_offsets; log lines escape them (gr_logf).
 *
 * Persistence: the coordinator that owns __consumer_offsets (coord.c)
 * installs itself as this module's host (gr_group_set_host) and writes one
 * GroupMetadata record per generation through it; the records it replays
 * (offsets, a group's last GroupMetadata at load, tombstones) change the
 * groups only through the functions of the "replay" section below.  The
 * callers validate a group id and the coordinator's state first
 * (gr_coord_validate_group); this module assumes a valid id.
 */
#ifndef GR_GROUP_H
#define GR_GROUP_H

#include "api.h"
#include "arena.h"
#include "ev.h"
#include "hmap.h"
#include "kerr.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum gr_group_state {
    GR_GROUP_EMPTY,
    GR_GROUP_PREPARING_REBALANCE,
    GR_GROUP_COMPLETING_REBALANCE,
    GR_GROUP_STABLE,
    GR_GROUP_DEAD,
} gr_group_state_t;

/* Kafka's state names: "Empty", "PreparingRebalance", ... */
const char *gr_group_state_name(gr_group_state_t s);

typedef struct gr_member_protocol {
    char *name;                     /* assignor: "range", "roundrobin", ... */
    uint8_t *metadata;              /* subscription bytes (opaque), owned */
    int32_t metadata_len;
} gr_member_protocol_t;

struct gr_join_waiter;
struct gr_sync_waiter;

typedef struct gr_member {
    struct gr_group *group;         /* owner */
    struct gr_member *next;         /* group's member list */
    char *member_id;
    char *group_instance_id;        /* static membership, NULL if dynamic */
    char *client_id;
    char *client_host;              /* "/127.0.0.1" as Kafka prints it */
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    char *protocol_type;
    gr_member_protocol_t *protocols;/* in the member's preference order */
    int32_t nprotocols;
    uint8_t *assignment;            /* from the leader's SyncGroup, owned */
    int32_t assignment_len;
    /* Kafka's awaitingJoinCallback / awaitingSyncCallback: the flag says the
     * member waits; the waiter is NULL when its caller went away (the
     * answer is then dropped, as Kafka drops it on a closed connection). */
    bool awaiting_join;
    bool awaiting_sync;
    struct gr_join_waiter *join_waiter;
    struct gr_sync_waiter *sync_waiter;
    bool is_new;                    /* joined during this rebalance */
    bool pending_sync;              /* must send SyncGroup this generation */
    gr_timer_t session_timer;       /* heartbeat / session expiry */
} gr_member_t;

/* One entry of a group's history (beyond what Kafka keeps). */
typedef enum gr_hist_kind {
    GR_HIST_REBALANCE,              /* a generation completed */
    GR_HIST_COMMIT,                 /* an offset changed */
    GR_HIST_ASSIGNMENT,             /* a consumer-group member's assignment changed */
} gr_hist_kind_t;

typedef enum gr_rebalance_trigger {
    GR_TRIGGER_NONE,
    GR_TRIGGER_MEMBER_JOINED,
    GR_TRIGGER_MEMBER_LEFT,
    GR_TRIGGER_SESSION_TIMEOUT,
    GR_TRIGGER_METADATA_CHANGE,
    GR_TRIGGER_STATIC_REPLACEMENT,
    GR_TRIGGER_LEADER_REJOIN,
    GR_TRIGGER_SYNC_TIMEOUT,        /* members did not send SyncGroup in time */
    GR_TRIGGER_STORE_FAILED,        /* GroupMetadata could not be written */
    GR_TRIGGER_LOADED_OVER_CAPACITY,
    GR_TRIGGER_DOWNGRADE,           /* the group was a consumer group a moment ago */
} gr_rebalance_trigger_t;

/* "member joined", "member left", "session timeout", ... */
const char *gr_rebalance_trigger_name(gr_rebalance_trigger_t t);

/* An entry is allocated with its strings when it is added: a group pays
 * only for the events it holds. */
typedef struct gr_hist_entry {
    gr_hist_kind_t kind;
    int64_t time_ms;
    /* rebalance */
    gr_rebalance_trigger_t trigger;
    int32_t generation;             /* rebalance: generation or group epoch;
                                     * assignment: the member epoch */
    int32_t members;
    int64_t duration_ms;            /* -1: none (a consumer group's epoch) */
    char *member;                   /* commit: member id or client id; rebalance:
                                     * the member that started it; owned, NULL */
    /* commit */
    char *topic;                    /* commit: owned; assignment: the partitions
                                     * owned ("t:0,1;u:2"), owned */
    char *detail;                   /* assignment: those being revoked, owned, NULL */
    int32_t partition;
    int64_t from_offset;            /* -1 if none before */
    int64_t to_offset;
} gr_hist_entry_t;

/* Entries kept per group; all groups together keep at most
 * group.history.max.bytes (see gr_group_hist_add). */
#define GR_GROUP_HISTORY_MAX 256

struct gr_hist_node;                            /* group.c */

typedef struct gr_offset_map gr_offset_map_t;   /* offsets.c */

/* KIP-394 pending member: an id handed out with MEMBER_ID_REQUIRED that
 * has not joined yet; expires after the session timeout. */
typedef struct gr_pending_member {
    struct gr_pending_member *next;
    struct gr_group *group;
    char *member_id;
    gr_timer_t timer;
} gr_pending_member_t;

/* A classic group (JoinGroup/SyncGroup, this module) or a consumer group
 * of the KIP-848 protocol (cgroup.h, its state in `cg`). */
typedef enum gr_group_type {
    GR_GROUP_CLASSIC,
    GR_GROUP_CONSUMER,
} gr_group_type_t;

struct gr_cgroup;

typedef struct gr_group {
    char *group_id;
    gr_group_type_t type;
    struct gr_cgroup *cg;           /* consumer groups: their state, owned (cgroup.c) */
    gr_hnode_t node;                /* in the registry (group.c) */
    gr_group_state_t state;
    gr_group_state_t detached_state;/* before gr_group_detach, for gr_group_restore */
    int64_t state_timestamp_ms;     /* currentStateTimestamp (wall clock) */
    char *protocol_type;            /* NULL until the first member joined (kept when Empty again, as Kafka) */
    char *protocol_name;            /* chosen assignor, NULL if none */
    int32_t generation_id;
    char *leader_id;                /* NULL if none */
    gr_member_t *members;           /* in join order */
    int32_t nmembers;
    gr_pending_member_t *pending;   /* KIP-394 pending members, owned */
    int32_t npending;
    int32_t num_awaiting_join;      /* members with awaiting_join */
    gr_timer_t join_timer;          /* initial delay / rebalance timeout */
    bool join_initial;              /* join_timer is an InitialDelayedJoin */
    int64_t join_remaining_ms;      /* InitialDelayedJoin: extension budget left */
    int64_t join_initial_delay_ms;  /* InitialDelayedJoin: the current wait */
    bool new_member_added;          /* InitialDelayedJoin: extend once more */
    gr_timer_t sync_timer;          /* DelayedSync: members must sync in time */
    int32_t sync_generation;
    int64_t rebalance_start_ms;
    int64_t initial_delay_deadline_ms;
    gr_rebalance_trigger_t trigger; /* why the current rebalance started */
    char *trigger_member;           /* the member that started it (joined, left,
                                     * timed out), owned; NULL if none */
    int64_t empty_since_ms;         /* for offsets.retention.minutes; -1 if not Empty */
    gr_offset_map_t *offsets;       /* committed offsets, owned (offsets.c) */
    struct gr_hist_node *hist_head; /* history, oldest first, owned */
    struct gr_hist_node *hist_tail;
    int32_t hist_len;
    struct gr_group *hist_prev;     /* groups holding history, by their */
    struct gr_group *hist_next;     /* latest event (group.c) */
    int32_t coord_partition;        /* __consumer_offsets partition */
} gr_group_t;

/* ------------------------------------------------------------ registry */

/* Lookup / create (created groups start Empty with generation 0); id in
 * held form. */
gr_group_t *gr_group_find(const char *id, size_t len);
gr_group_t *gr_group_get_or_create(const char *id, size_t len);
/* Changes whenever a group leaves the registry: a pointer found while it
 * stays the same still points at a registered group (lookup caches). */
uint64_t gr_group_registry_version(void);
/* Iterate all groups: gr_group_next(NULL) is the first. */
gr_group_t *gr_group_next(gr_group_t *g);
int gr_group_count(void);
/* Remove a group from the registry and free it (members, pending
 * members, offsets, history).  Parked waiters get NOT_COORDINATOR
 * (as Kafka's onGroupUnloaded).  gr_group_detach + gr_group_free. */
void gr_group_remove(gr_group_t *g);
/* Free every group (shutdown, tests). */
void gr_group_remove_all(void);

/* Is any member subscribed to topic (parsing subscriptions tolerantly)?
 * True when unknown (not a "consumer" group, unparsable metadata), as
 * Kafka's isSubscribedToTopic. */
bool gr_group_subscribed_to(const gr_group_t *g, const char *topic);
gr_member_t *gr_group_member(const gr_group_t *g, const char *member_id, size_t len);
/* The member's metadata for protocol `name` (NULL if it has none). */
const gr_member_protocol_t *gr_member_protocol(const gr_member_t *m, const char *name);

/* History: copies e (and its strings).  A group keeps its last
 * GR_GROUP_HISTORY_MAX entries; all groups together keep at most
 * group.history.max.bytes (an entry counts its struct and its strings):
 * beyond, the group whose latest event is the oldest loses its oldest
 * entry.  An entry larger than the bound is not kept (0 keeps none). */
void gr_group_hist_add(gr_group_t *g, const gr_hist_entry_t *e);
/* i-th entry, 0 = oldest; NULL past the end. */
const gr_hist_entry_t *gr_group_hist_at(const gr_group_t *g, int32_t i);
/* History entries held by all groups, and their bytes. */
int64_t gr_group_hist_total(void);
int64_t gr_group_hist_bytes(void);

/* ------------------------------------------------------------ clock */

/* Time and timers for the state machine.  The default uses wall time for
 * timestamps and gr_broker.ev for timers; tests install a fake. */
typedef struct gr_group_clock {
    int64_t (*now_ms)(void *ctx);
    void (*timer_start)(void *ctx, gr_timer_t *t, int64_t delay_ms);
    void (*timer_stop)(void *ctx, gr_timer_t *t);
    void *ctx;
} gr_group_clock_t;

/* NULL restores the default (wall time, gr_broker.ev's timers).  One clock
 * drives both kinds of group (cgroup.c uses it too). */
void gr_group_set_clock(const gr_group_clock_t *c);
int64_t gr_group_clock_now_ms(void);
void gr_group_clock_start(gr_timer_t *t, int64_t delay_ms);    /* delay < 0: 0 */
void gr_group_clock_stop(gr_timer_t *t);

/* group.max.rebalance.timeout.ms: the longest rebalance timeout a member
 * gets, classic or consumer (INT32_MAX when no configuration is loaded). */
int32_t gr_group_max_rebalance_timeout_ms(void);

/* ------------------------------------------------------------ operations
 * Each takes plain C arguments; strings are NUL-terminated, in held form,
 * and copied when kept.  Results are passed to waiters, which may run before the call
 * returns.  Pointers inside a result are valid only during the callback. */

typedef struct gr_join_protocol {
    const char *name;
    const uint8_t *metadata;
    int32_t metadata_len;
} gr_join_protocol_t;

typedef struct gr_join_params {
    const char *group_id;
    const char *member_id;          /* "" = unknown */
    const char *group_instance_id;  /* NULL = dynamic member */
    const char *client_id;
    const char *client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;   /* v0: the session timeout */
    const char *protocol_type;
    const gr_join_protocol_t *protocols;
    int32_t nprotocols;
    bool require_known_member_id;   /* v4+ and no instance id (KIP-394) */
    bool support_skip_assignment;   /* v9+ */
    const char *reason;             /* may be NULL */
} gr_join_params_t;

typedef struct gr_join_result {
    gr_kerr_t error;
    const char *member_id;
    int32_t generation_id;          /* -1 on error */
    const char *protocol_type;      /* NULL if none */
    const char *protocol_name;      /* NULL if none */
    const char *leader_id;          /* "" if none */
    bool skip_assignment;
    /* the leader gets every member with its metadata for protocol_name */
    const gr_group_t *group;
    bool include_members;
} gr_join_result_t;

typedef struct gr_join_waiter {
    void (*done)(struct gr_join_waiter *w, const gr_join_result_t *res);
    void *arg;
    gr_member_t *member;            /* group.c: the member it is parked on */
} gr_join_waiter_t;

void gr_group_join(const gr_join_params_t *p, gr_join_waiter_t *w);

typedef struct gr_sync_assignment {
    const char *member_id;
    const uint8_t *assignment;
    int32_t assignment_len;
} gr_sync_assignment_t;

typedef struct gr_sync_params {
    const char *group_id;
    int32_t generation_id;
    const char *member_id;
    const char *group_instance_id;  /* NULL if none */
    const char *protocol_type;      /* NULL = not given */
    const char *protocol_name;      /* NULL = not given */
    const gr_sync_assignment_t *assignments;    /* leader only */
    int32_t nassignments;
} gr_sync_params_t;

typedef struct gr_sync_result {
    gr_kerr_t error;
    const char *protocol_type;      /* NULL on error */
    const char *protocol_name;
    const uint8_t *assignment;
    int32_t assignment_len;
} gr_sync_result_t;

typedef struct gr_sync_waiter {
    void (*done)(struct gr_sync_waiter *w, const gr_sync_result_t *res);
    void *arg;
    gr_member_t *member;
} gr_sync_waiter_t;

void gr_group_sync(const gr_sync_params_t *p, gr_sync_waiter_t *w);

/* The caller of a parked join/sync goes away: the member keeps waiting
 * (as in Kafka) but its answer will be dropped. */
void gr_group_waiter_detach_join(gr_join_waiter_t *w);
void gr_group_waiter_detach_sync(gr_sync_waiter_t *w);

gr_kerr_t gr_group_heartbeat(const char *group_id, const char *member_id, const char *group_instance_id,
                             int32_t generation_id);

typedef struct gr_leave_member {
    const char *member_id;          /* "" = by instance id */
    const char *group_instance_id;  /* NULL if none */
    const char *reason;             /* may be NULL */
    gr_kerr_t error;                /* out */
} gr_leave_member_t;

/* Returns the top-level error; per-member errors go to members[i].error
 * (left NONE when the top-level error is set). */
gr_kerr_t gr_group_leave(const char *group_id, gr_leave_member_t *members, int32_t n);

/* Kafka's validateDeleteGroup: GROUP_ID_NOT_FOUND (g NULL or Dead),
 * NON_EMPTY_GROUP, or NONE (DeleteGroups may write its tombstones). */
gr_kerr_t gr_group_check_delete(const gr_group_t *g);

/* The group checks of the offset requests, one per request as Kafka's
 * Group.validateOffsetCommit / validateOffsetFetch / validateOffsetDelete,
 * each dispatching on the group type (consumer groups: cgroup.h).
 *
 * gr_group_validate_commit: an OffsetCommit on g (NULL = no such group):
 * NONE when the commit may proceed, else the error for every partition.
 * A classic member's accepted commit counts as a heartbeat.  api_version
 * is the OffsetCommit version (the instance id is only considered from
 * v7). */
gr_kerr_t gr_group_validate_commit(gr_group_t *g, const char *member_id, size_t mlen, const char *instance_id,
                                   int32_t generation, int16_t api_version);
/* The same for a TxnOffsetCommit (isTransactional, KIP-447): a classic
 * group checks a member or generation given and accepts a request without
 * them whatever the state, with no rebalance check; a consumer group
 * checks the member and its epoch (generation) as for OffsetCommit, a
 * stale epoch answered ILLEGAL_GENERATION (Kafka's
 * validateTransactionalOffsetCommit). */
gr_kerr_t gr_group_validate_txn_commit(gr_group_t *g, const char *member_id, size_t mlen, const char *instance_id,
                                       int32_t generation, int16_t api_version);
/* OffsetFetch: NONE for g NULL; GROUP_ID_NOT_FOUND for a Dead classic
 * group (answered as a group without offsets); a consumer group checks
 * member_id (NULL = not given) and member_epoch. */
gr_kerr_t gr_group_validate_offset_fetch(gr_group_t *g, const char *member_id, int32_t member_epoch);
/* OffsetDelete: GROUP_ID_NOT_FOUND (g NULL or Dead), NON_EMPTY_GROUP (a
 * classic group with members not of the consumer protocol), or NONE. */
gr_kerr_t gr_group_validate_offset_delete(const gr_group_t *g);
/* ClassicGroup.usesConsumerGroupProtocol (always true for a consumer group). */
bool gr_group_uses_consumer_protocol(const gr_group_t *g);

/* ------------------------------------------------------------ host */

/* What this module needs from the coordinator that owns its groups
 * (coord.c installs it; tests install a fake): the partition of a group id,
 * writing a group's GroupMetadata, and the few operations on a consumer
 * group's state (cgroup.h) that a group of the registry needs, so that this
 * module does not depend on cgroup.c, which depends on it. */
typedef void gr_group_store_cb(void *arg, gr_kerr_t err);
typedef struct gr_group_host {
    int32_t (*partition_for)(const char *id, size_t len);
    /* Write g's GroupMetadata as it is now; it is not replayed (g is the
     * live state, Kafka's replayRecords = false).  cb(arg, err) runs later,
     * never inside the call, with the error for the group's callers. */
    void (*store)(gr_group_t *g, gr_group_store_cb *cb, void *arg);
    /* Consumer groups (NULL where none exist, as in a test's fake): free a
     * group's consumer state, is any member subscribed to topic (offset
     * expiry, OffsetDelete), and ConsumerGroup's validateOffsetCommit,
     * validateOffsetFetch and validateOffsetDelete. */
    void (*cgroup_free)(struct gr_cgroup *cg);
    bool (*cgroup_subscribed_to)(const struct gr_cgroup *cg, const char *topic);
    gr_kerr_t (*cgroup_validate_commit)(gr_group_t *g, const char *member_id, int32_t epoch, bool txn,
                                        int16_t api_version);
    gr_kerr_t (*cgroup_validate_fetch)(gr_group_t *g, const char *member_id, int32_t epoch);
    gr_kerr_t (*cgroup_validate_offset_delete)(const gr_group_t *g);
} gr_group_host_t;

/* NULL: none (groups are placed on partition 0; a store aborts). */
void gr_group_set_host(const gr_group_host_t *h);

/* ------------------------------------------------------------ replay
 * The coordinator's replay of __consumer_offsets records changes groups
 * through these (and the offsets map of offsets.h), nothing else. */

/* A group's last GroupMetadata value at load, or one replayed live onto a
 * group without members (a consumer group's downgrade), value NULL: its
 * tombstone: decoded into the group, members and all, which starts Stable
 * with its members' sessions running (Empty without members), as Kafka's
 * onGroupLoaded; a tombstone removes the group unless offsets outlived it.
 * Returns 0 or GR_ECORRUPT (undecodable value: nothing changes). */
int gr_group_load_metadata(const char *id, size_t len, const uint8_t *value, int32_t vlen, int32_t partition);
/* The group an offset commit's replay needs and does not find (Kafka's
 * simple group, OffsetMetadataManager.replay): Empty, generation 0, no
 * protocol, Empty since 0 so that retention counts from each commit. */
gr_group_t *gr_group_create_simple(const char *id, size_t len, int32_t partition);
/* A GroupMetadata tombstone: the group leaves the registry (Dead; timers
 * stopped, parked requests answered NOT_COORDINATOR, pending members
 * dropped) but keeps its memory, offsets and history until
 * gr_group_free, or gr_group_restore puts it back as it was (the write that
 * removed it failed).  A group of the same id created meanwhile is removed
 * by the restore. */
void gr_group_detach(gr_group_t *g);
void gr_group_restore(gr_group_t *g);
void gr_group_free(gr_group_t *g);
/* The undo entry of a gr_group_detach in a write (a gr_crt_undo_fn of
 * coord_runtime.h; data: the detached gr_group_t *): rollback restores the
 * group, else it is freed. */
void gr_group_detach_undo(void *shard, void *data, bool rollback);

/* ------------------------------------------------------------ migration
 * Online migration between classic and consumer groups (cgroup.c). */

/* The classic group becomes a consumer group (the replay of its
 * GroupMetadata tombstone with members, Kafka's convertToConsumerGroup):
 * its parked JoinGroup and SyncGroup requests get REBALANCE_IN_PROGRESS,
 * its members, protocol, generation and state are taken out (timers
 * stopped) and returned; pending members go; it is Empty (offsets and
 * history stay).  gr_group_unstrip puts what was taken back (the write
 * failed: the members' sessions start again, a rebalance under way starts
 * again) and frees it; gr_group_saved_free frees it (the write landed). */
typedef struct gr_group_saved gr_group_saved_t;
gr_group_saved_t *gr_group_strip(gr_group_t *g);
void gr_group_unstrip(gr_group_t *g, gr_group_saved_t *s);
void gr_group_saved_free(gr_group_saved_t *s);
/* The KIP-394 pending members go (ids handed out that never joined). */
void gr_group_drop_pending(gr_group_t *g);
/* A consumer group becomes a classic group (Kafka's
 * ClassicGroup.fromConsumerGroup + createClassicGroupRecords): the
 * GroupMetadataValue of group g with these members, Stable in
 * `generation`, the protocol chosen by their votes, the first one leader;
 * assign(ctx, i, protocol) returns member i's assignment for the chosen
 * protocol (malloc'ed, *len).  g is not changed: the value's replay makes
 * the classic group. */
typedef struct gr_group_adopt_member {
    const char *member_id, *instance_id, *client_id, *client_host;
    int32_t session_timeout_ms, rebalance_timeout_ms;
    const gr_join_protocol_t *protocols;
    int32_t nprotocols;
} gr_group_adopt_member_t;
typedef uint8_t *gr_group_assign_fn(void *ctx, int32_t i, const gr_member_protocol_t *protocol, int32_t *len);
void gr_group_downgrade_value(gr_wr_t *w, const gr_group_t *g, const gr_group_adopt_member_t *ms, int32_t n,
                              int32_t generation, gr_group_assign_fn *assign, void *ctx);
/* After a downgrade's GroupMetadata was replayed: every member must rejoin. */
void gr_group_rebalance_after_downgrade(gr_group_t *g);

/* ------------------------------------------------------------ records */

/* GroupMetadataValue (version prefix, then the body) of g as it is now, in
 * the version inter.broker.protocol.version asks for; the layout is drawn
 * in coord.c with the other __consumer_offsets records. */
void gr_group_value_encode(gr_wr_t *w, const gr_group_t *g);
/* Bytes gr_group_value_encode writes, without writing them; *too_long when
 * a string of it exceeds its int16 length. */
size_t gr_group_value_size(const gr_group_t *g, bool *too_long);

/* Strings between the held form (jstr.h) and record bytes, as Kafka reads
 * and writes them: _wire re-encodes (s itself unless it holds a NUL, else a
 * copy in a; NULL gives a null string); _held decodes (malloc'ed, NULL for
 * a null string); _held_tmp decodes into a ("" for null). */
gr_str_t gr_group_str_wire(gr_arena_t *a, const char *s, size_t len);
char *gr_group_str_held(gr_str_t s);
gr_str_t gr_group_str_held_tmp(gr_arena_t *a, gr_str_t s);

#endif
