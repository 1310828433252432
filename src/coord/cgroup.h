/*
 * cgroup.h - consumer groups of the KIP-848 protocol (Kafka 4's
 * ConsumerGroup, ConsumerGroupMember, CurrentAssignmentBuilder and the
 * consumer-group half of GroupMetadataManager): members heartbeat with
 * ConsumerGroupHeartbeat, the coordinator computes the target assignment
 * (assignor.h) and reconciles each member towards it, one revocation
 * acknowledged before a partition moves.
 *
 * A consumer group is a gr_group_t of the registry (group.h) whose type is
 * GR_GROUP_CONSUMER; its consumer state (gr_cgroup_t) hangs off it, owned
 * by it, next to its committed offsets and history, which both kinds of
 * group share.  The state changes only by replaying the records of
 * __consumer_offsets (coord.c dispatches the consumer-group record types
 * here), at load and at run time alike; operations read the state, build
 * the records and hand them to the coordinator runtime.  Everything runs on
 * the loop thread.  Ids are in the held form of jstr.h.
 */
#ifndef GR_CGROUP_H
#define GR_CGROUP_H

#include "assignor.h"
#include "coord_runtime.h"
#include "ev.h"
#include "group.h"
#include "hmap.h"
#include "kerr.h"

#include <stdbool.h>
#include <stdint.h>

/* Kafka's MemberState (the byte of ConsumerGroupCurrentMemberAssignmentValue). */
typedef enum gr_cmember_state {
    GR_CM_STABLE = 1,
    GR_CM_UNREVOKED_PARTITIONS = 2,
    GR_CM_UNRELEASED_PARTITIONS = 3,
    GR_CM_UNKNOWN = 127,
} gr_cmember_state_t;

#define GR_CG_LEAVE_EPOCH -1
#define GR_CG_LEAVE_STATIC_EPOCH -2

typedef struct gr_classic_proto {
    char *name;
    uint8_t *metadata;
    int32_t len;
} gr_classic_proto_t;

/* A member (owner: its gr_cgroup_t). */
typedef struct gr_cmember {
    gr_hnode_t node;                /* cg->members, by member id */
    gr_hnode_t inode;               /* cg->statics, by instance id (when static) */
    struct gr_cgroup *cg;
    char *member_id;
    /* subscription (ConsumerGroupMemberMetadata) */
    char *instance_id, *rack_id;    /* NULL: none */
    char *client_id, *client_host;
    char **topics;                  /* subscribed names, sorted, unique */
    int32_t ntopics;
    char *regex;                    /* NULL or "": none */
    int32_t rebalance_timeout_ms;
    char *server_assignor;          /* NULL: none */
    /* classic protocol members (online migration): session timeout >= 0 */
    int32_t classic_session_ms;     /* -1: a consumer-protocol member */
    gr_classic_proto_t *protos;
    int32_t nprotos;
    /* current assignment (ConsumerGroupCurrentMemberAssignment) */
    int32_t epoch, prev_epoch;
    int8_t state;
    gr_assign_t assigned, revoking;
    /* live only */
    gr_timer_t session_timer;
    gr_timer_t rebalance_timer;
    int32_t rebalance_timer_epoch;  /* the epoch it was armed in */
    bool rebalance_armed;
    gr_timer_t join_timer;          /* classic members: rejoin within the rebalance timeout */
    bool join_armed;
    gr_timer_t sync_timer;          /* classic members: SyncGroup within the rebalance timeout */
} gr_cmember_t;

typedef struct gr_cg_topic {
    char *name;
    gr_uuid_t id;
    int32_t nparts;
} gr_cg_topic_t;

typedef struct gr_cgroup {
    struct gr_group *g;             /* owner */
    int32_t group_epoch;
    int32_t assignment_epoch;
    gr_hmap_t members;              /* gr_cmember_t */
    gr_hmap_t statics;              /* gr_cmember_t by instance id */
    gr_hmap_t targets;              /* target assignment by member id */
    gr_hmap_t names;                /* subscribed topic name -> member count */
    gr_hmap_t regexes;              /* subscribed regex -> member count, + its resolution */
    gr_hmap_t pepochs;              /* (topic id, partition) -> epoch of its owner */
    gr_cg_topic_t *meta;            /* ConsumerGroupPartitionMetadata, sorted by name */
    int32_t nmeta;
    int32_t nclassic;               /* members using the classic protocol */
    int64_t regex_refresh_ms;       /* last resolution of the regexes (wall clock) */
    uint64_t regex_topics_sig;      /* the topics it saw */
} gr_cgroup_t;

/* Kafka's consumer group states: Empty, Assigning, Reconciling, Stable. */
const char *gr_cgroup_state_name(const gr_cgroup_t *cg);
/* The assignor the group uses (most members' ServerAssignor, else the
 * first of group.consumer.assignors). */
const char *gr_cgroup_assignor(const gr_cgroup_t *cg);
gr_cmember_t *gr_cgroup_member(const gr_cgroup_t *cg, const char *member_id);
int32_t gr_cgroup_nmembers(const gr_cgroup_t *cg);
/* Iterate the members: NULL starts. */
gr_cmember_t *gr_cgroup_next(const gr_cgroup_t *cg, gr_cmember_t *m);
/* The target assignment of a member (NULL: none). */
const gr_assign_t *gr_cgroup_target(const gr_cgroup_t *cg, const char *member_id);
/* Is any member subscribed to topic (offset expiry, OffsetDelete)? */
bool gr_cgroup_subscribed_to(const gr_cgroup_t *cg, const char *topic);
/* A topic name of the group's metadata by id (describe), else the
 * registry's, else NULL. */
const char *gr_cgroup_topic_name(const gr_cgroup_t *cg, const gr_uuid_t *id);
void gr_cgroup_free(gr_cgroup_t *cg);

/* ---- the coordinator ----
 * What this module needs from the shard of __consumer_offsets that owns
 * its groups (coord.c installs it at start): the runtime (NULL when not
 * running), the partition of a group id, running a write (cb gets Kafka's
 * mapping of the append's failure; `what` names it in a failure's log
 * line), and the GroupMetadata key codec (a downgrade writes one).  Through
 * it, and not coord.h, so that dependencies point one way: coord.c calls
 * this module, never the reverse. */
typedef void gr_cgroup_write_cb(void *arg, gr_kerr_t err);
typedef struct gr_cgroup_host {
    gr_crt_t *(*rt)(void);
    int32_t (*partition_for)(const char *group_id, size_t len);
    void (*write)(gr_crt_result_t *r, gr_cgroup_write_cb *cb, void *arg, const char *what);
    void (*group_key)(gr_wr_t *w, const char *group, size_t glen);
} gr_cgroup_host_t;
void gr_cgroup_set_host(const gr_cgroup_host_t *h);

/* ---- records (coord.c's replay) ----
 * Key versions (Kafka's record types): 3 ConsumerGroupMetadata, 4
 * PartitionMetadata, 5 MemberMetadata, 6 TargetAssignmentMetadata, 7
 * TargetAssignmentMember, 8 CurrentMemberAssignment, 16 RegularExpression. */
bool gr_cgroup_is_record(int16_t key_version);
/* Replay one consumer-group record on partition `part` (value NULL: a
 * tombstone); 0 or a GR_E*.  undo NULL at load. */
int gr_cgroup_replay(int32_t part, int16_t kver, const gr_crt_record_t *rec, gr_crt_undo_t *undo);
/* The partition was loaded: every member's session starts now (and the
 * rebalance timeout of those revoking). */
void gr_cgroup_loaded(int32_t part);
/* The tombstones of the whole consumer group g (DeleteGroups, the
 * conversion to a classic group), in Kafka's order. */
void gr_cgroup_add_tombstones(gr_crt_result_t *r, const gr_group_t *g);

/* ---- ConsumerGroupHeartbeat ---- */
typedef struct gr_cg_owned {
    gr_uuid_t topic;
    const int32_t *parts;
    int32_t n;
} gr_cg_owned_t;

/* A classic member's JoinGroup into a consumer group (online migration):
 * what the consumer protocol's heartbeat does not carry. */
typedef struct gr_cg_classic {
    int32_t session_timeout_ms;
    const gr_join_protocol_t *protocols;    /* the member's, in its order (>= 1) */
    int32_t nprotocols;
    bool unknown_member;            /* joined without a member id (one was made) */
} gr_cg_classic_t;

typedef struct gr_cg_hb {
    int16_t version;
    const char *group_id;
    const char *member_id;          /* "" allowed for v0 at epoch 0 */
    int32_t member_epoch;
    const char *instance_id;        /* NULL: not given */
    const char *rack_id;
    int32_t rebalance_timeout_ms;   /* -1: unchanged */
    const char **topics;            /* NULL: unchanged */
    int32_t ntopics;
    const char *regex;              /* NULL: unchanged */
    const char *server_assignor;    /* NULL: unchanged */
    const gr_cg_owned_t *owned;     /* NULL: not given */
    int32_t nowned;
    const char *client_id, *client_host;
    const gr_cg_classic_t *classic; /* NULL: a ConsumerGroupHeartbeat */
} gr_cg_hb_t;

typedef struct gr_cg_hb_result {
    gr_kerr_t error;
    const char *message;            /* NULL: none (static or in the result's arena) */
    char *member_id;                /* malloc'ed */
    int32_t member_epoch;
    int32_t heartbeat_interval_ms;
    bool has_assignment;
    gr_assign_t assignment;         /* owned */
} gr_cg_hb_result_t;

typedef void gr_cg_hb_cb(void *arg, gr_cg_hb_result_t *res);

/* Run a heartbeat (validated request fields aside, which the API checks):
 * cb(arg, res) runs once the records it wrote are durable, never inside
 * the call; the callee frees res after cb returns. */
void gr_cgroup_heartbeat(const gr_cg_hb_t *hb, gr_cg_hb_cb *cb, void *arg);

/* Kafka's validation of a heartbeat's fields, in its order; NONE or the
 * error (*msg: Kafka's message). */
gr_kerr_t gr_cgroup_validate_heartbeat(const gr_cg_hb_t *hb, const char **msg);

/* ---- classic members of a consumer group (online migration) ----
 * Kafka's classicGroup{Join,Sync,Heartbeat,Leave}ToConsumerGroup: a
 * member of the classic protocol in a consumer group joins with JoinGroup
 * (its subscription and owned partitions decoded from its
 * ConsumerProtocolSubscription), gets the assignment the coordinator
 * computed with SyncGroup (a ConsumerProtocolAssignment) and learns from
 * Heartbeat (REBALANCE_IN_PROGRESS) that it must join again to revoke or to
 * receive partitions. */

/* JoinGroup (group g is a consumer group with members): checks what Kafka
 * checks before the member is touched; NONE, or the error to answer with
 * (*member_id: a generated id, malloc'ed, for MEMBER_ID_REQUIRED or for
 * the join).  The join itself is gr_cgroup_heartbeat with hb->classic. */
gr_kerr_t gr_cgroup_classic_join_check(gr_group_t *g, const char *member_id, const char *instance_id,
                                       const char *protocol_type, const gr_join_protocol_t *protocols,
                                       int32_t nprotocols, bool require_known_member_id, char **out_member_id);
/* SyncGroup: NONE with the member's assignment (*out, malloc'ed, *len). */
gr_kerr_t gr_cgroup_classic_sync(gr_group_t *g, const char *member_id, const char *instance_id, int32_t generation,
                                 const char *protocol_type, const char *protocol_name, uint8_t **out, int32_t *len);
gr_kerr_t gr_cgroup_classic_heartbeat(gr_group_t *g, const char *member_id, const char *instance_id,
                                      int32_t generation);
/* LeaveGroup: per-member errors into members[i].error (a static member
 * named by its instance id alone gets its member id, in a); the members
 * that left are removed by one write, the group epoch moves on.  True when
 * it wrote: cb(arg, err) runs once the records are durable, never inside
 * the call; false (no member left): cb is not called. */
bool gr_cgroup_classic_leave(gr_group_t *g, gr_leave_member_t *members, int32_t n, gr_arena_t *a,
                             void (*cb)(void *arg, gr_kerr_t err), void *arg);

/* group.consumer.migration.policy allows an online upgrade / downgrade. */
bool gr_cgroup_upgrade_allowed(void);
bool gr_cgroup_downgrade_allowed(void);

/* ---- offsets and deletion of consumer groups ---- */
/* ConsumerGroup.validateOffsetCommit (txn: a TxnOffsetCommit, which any
 * version may send). */
gr_kerr_t gr_cgroup_validate_commit(gr_group_t *g, const char *member_id, int32_t epoch, bool txn,
                                    int16_t api_version);
/* ConsumerGroup.validateOffsetFetch: member_id NULL = not given. */
gr_kerr_t gr_cgroup_validate_fetch(gr_group_t *g, const char *member_id, int32_t epoch);
/* ConsumerGroup.validateOffsetDelete: always NONE. */
gr_kerr_t gr_cgroup_validate_offset_delete(const gr_group_t *g);

/* ---- configuration, clock ---- */
int32_t gr_cgroup_session_timeout_ms(void);
int32_t gr_cgroup_heartbeat_interval_ms(void);

/* Timers and time come from the group coordinator's clock (group.h's
 * gr_group_set_clock, which the unit tests replace). */

/* ---- reconciliation (Kafka's CurrentAssignmentBuilder), pure ----
 * From the member's current assignment (epoch, state, assigned,
 * revoking), the target (epoch, partitions), the owner epoch of every
 * partition and what the member says it owns (NULL: not given), the
 * member's next assignment into *out (epoch, prev_epoch, state, assigned,
 * revoking; out's assignments uninitialised on entry).  Returns
 * FENCED_MEMBER_EPOCH for a member in an unknown state that still owns
 * partitions, else NONE. */
typedef int32_t gr_cg_pepoch_fn(void *ctx, const gr_uuid_t *topic, int32_t part);
typedef struct gr_cg_current {
    int32_t epoch, prev_epoch;
    int8_t state;
    gr_assign_t assigned, revoking;
} gr_cg_current_t;
gr_kerr_t gr_cgroup_reconcile(const gr_cg_current_t *cur, int32_t target_epoch, const gr_assign_t *target,
                              gr_cg_pepoch_fn *pepoch, void *ctx, const gr_cg_owned_t *owned, int32_t nowned,
                              gr_cg_current_t *out);

#endif
