/*
 * group.h - the classic group coordinator: groups, members and the state
 * machine (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead),
 * as Kafka's GroupMetadata / GroupCoordinator.
 *
 * Ownership: the coordinator (group.c) owns every group; a group owns its
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
 * Persistence (coord.c) writes one GroupMetadata record per generation and
 * OffsetCommit records to __consumer_offsets; at startup the same records
 * rebuild the groups before the coordinator answers (until then:
 * COORDINATOR_LOAD_IN_PROGRESS).
 */
#ifndef GR_GROUP_H
#define GR_GROUP_H

#include "api.h"
#include "ev.h"
#include "hmap.h"

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
    int32_t generation;
    int32_t members;
    int64_t duration_ms;
    /* commit */
    char *member;                   /* member id or client id, owned */
    char *topic;                    /* owned */
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

typedef struct gr_group {
    char *group_id;
    gr_hnode_t node;                /* in the registry (group.c) */
    gr_group_state_t state;
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
/* Iterate all groups: gr_group_next(NULL) is the first. */
gr_group_t *gr_group_next(gr_group_t *g);
int gr_group_count(void);
/* Remove a group from the coordinator and free it (members, pending
 * members, offsets, history).  Parked waiters get NOT_COORDINATOR
 * (as Kafka's onGroupUnloaded). */
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

/* NULL restores the default. */
void gr_group_set_clock(const gr_group_clock_t *c);

/* ------------------------------------------------------------ operations
 * Each takes plain C arguments; strings are NUL-terminated, in held form,
 * and copied when kept.  Results are passed to waiters, which may run before the call
 * returns.  Pointers inside a result are valid only during the callback. */

/* Kafka's validateGroupStatus: INVALID_GROUP_ID (id NULL, or empty where
 * the API needs a real group), COORDINATOR_LOAD_IN_PROGRESS, else NONE.
 * allow_empty: OffsetCommit / OffsetFetch / DescribeGroups / DeleteGroups. */
int16_t gr_group_validate_status(const char *id, size_t len, bool allow_empty);

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
    int16_t error;
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
    int16_t error;
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

int16_t gr_group_heartbeat(const char *group_id, const char *member_id, const char *group_instance_id,
                           int32_t generation_id);

typedef struct gr_leave_member {
    const char *member_id;          /* "" = by instance id */
    const char *group_instance_id;  /* NULL if none */
    const char *reason;             /* may be NULL */
    int16_t error;                  /* out */
} gr_leave_member_t;

/* Returns the top-level error; per-member errors go to members[i].error
 * (left NONE when the top-level error is set). */
int16_t gr_group_leave(const char *group_id, gr_leave_member_t *members, int32_t n);

/* DeleteGroups for one group: returns an error (cb not called), or NONE
 * when the group is now Dead and its tombstones are being written; cb(arg,
 * error) then runs once they are durable, after the group was removed. */
typedef void gr_group_delete_cb(void *arg, int16_t kafka_error);
int16_t gr_group_delete(const char *id, size_t len, gr_group_delete_cb *cb, void *arg);

/* Kafka's validateOffsetCommit (+ the state checks of doCommitOffsets)
 * for an OffsetCommit on g (NULL = no such group): NONE when the commit
 * may proceed, else the error for every partition.  A member's accepted
 * commit counts as a heartbeat.  api_version is the OffsetCommit version
 * (the instance id is only considered from v7). */
int16_t gr_group_validate_commit(gr_group_t *g, const char *member_id, size_t mlen, const char *instance_id,
                                 int32_t generation, int16_t api_version);

/* Load hook (coord.c): after a group was rebuilt from its GroupMetadata
 * record with members allocated by gr_calloc: initialise the members'
 * timers and start their session expiry, as Kafka's onGroupLoaded. */
void gr_group_loaded(gr_group_t *g);
/* Free all members of g (a newer GroupMetadata record replaces them). */
void gr_group_clear_members(gr_group_t *g);

#endif
