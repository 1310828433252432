/*
 * assignor.h - assignments of topic partitions and the server-side
 * assignors of consumer groups (KIP-848): `uniform` (Kafka's
 * UniformAssignor) and `range` (Kafka's server-side RangeAssignor).
 *
 * An assignment (gr_assign_t) is a set of (topic id, partition): topics
 * sorted by id (memcmp), each with its partitions sorted ascending and
 * unique.  It owns its arrays; the functions below keep it normalized.
 *
 * The assignors are pure functions of their input (members sorted by the
 * caller, topics with their partition counts, each member's previous
 * target): the same input gives the same assignment, byte for byte.
 */
#ifndef GR_ASSIGNOR_H
#define GR_ASSIGNOR_H

#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gr_tparts {
    gr_uuid_t topic;
    int32_t n;
    int32_t *p;                     /* sorted, unique, owned */
} gr_tparts_t;

typedef struct gr_assign {
    int32_t n;
    gr_tparts_t *t;                 /* sorted by topic id, no empty entry, owned */
} gr_assign_t;

void gr_assign_free(gr_assign_t *a);
void gr_assign_copy(gr_assign_t *dst, const gr_assign_t *src);   /* dst uninitialised */
bool gr_assign_eq(const gr_assign_t *a, const gr_assign_t *b);
bool gr_assign_has(const gr_assign_t *a, const gr_uuid_t *topic, int32_t part);
int64_t gr_assign_count(const gr_assign_t *a);
/* The partitions of topic in a, or NULL. */
const gr_tparts_t *gr_assign_topic(const gr_assign_t *a, const gr_uuid_t *topic);
/* Add one partition (no-op if present). */
void gr_assign_add(gr_assign_t *a, const gr_uuid_t *topic, int32_t part);
/* Add parts[0..n) of topic, in any order, duplicates allowed. */
void gr_assign_add_many(gr_assign_t *a, const gr_uuid_t *topic, const int32_t *parts, int32_t n);
int gr_uuid_cmp(const gr_uuid_t *a, const gr_uuid_t *b);

/* ---- assignors ---- */
typedef struct gr_asg_member {
    const char *member_id;
    const char *instance_id;        /* NULL: dynamic */
    const gr_uuid_t *topics;        /* subscribed topics that exist, sorted, unique */
    int32_t ntopics;
    const gr_assign_t *current;     /* the previous target assignment, NULL = none */
} gr_asg_member_t;

typedef struct gr_asg_topic {
    gr_uuid_t id;
    int32_t nparts;
} gr_asg_topic_t;

/* Known assignor names ("uniform", "range"; Kafka's class names are
 * accepted too): the canonical name, or NULL. */
const char *gr_assignor_canonical(const char *name);
/* Compute the target of every member: out[i] (uninitialised on entry) for
 * members[i].  members sorted by member id; topics sorted by id (every
 * topic a member subscribes to is among them).  name: canonical. */
void gr_assignor_run(const char *name, const gr_asg_member_t *members, int32_t nm, const gr_asg_topic_t *topics,
                     int32_t nt, gr_assign_t *out);

#endif
