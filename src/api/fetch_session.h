/*
 * fetch_session.h - KIP-227 incremental fetch sessions: the session cache
 * (Kafka's FetchSessionCache) and each session's cached partitions
 * (FetchSession / CachedPartition).  All session state lives here;
 * api_fetch.c decides what a request does with it.
 *
 * A session belongs to the broker, not to a connection.  Each cached
 * partition keeps a gr_pwait_t registered on its gr_partition_t for the
 * session's lifetime; whatever fires the partition's waiters (an append,
 * gr_partition_notify, the partition being freed) puts it on the session's
 * pending list and wakes the fetch parked on the session, if any.  An
 * incremental fetch looks only at pending partitions, so an idle fetch
 * costs the same for 10 or 10,000 partitions.
 *
 * Ownership: the cache owns its sessions, a session owns its cached
 * partitions; topic names are interned here once and shared by every
 * cached partition of that topic (refcounted).
 */
#ifndef GR_FETCH_SESSION_H
#define GR_FETCH_SESSION_H

#include "topic.h"

#include <stdbool.h>
#include <stdint.h>

/* Kafka's MinIncrementalFetchSessionEvictionMsDefault: a session must have
 * been idle this long before a new one may evict it.  Kafka has no public
 * key for it. */
#define GR_FSESS_EVICTION_MS 120000

typedef struct gr_fsess gr_fsess_t;

/* An interned topic name, shared by all cached partitions of the topic. */
typedef struct gr_fsess_topic {
    gr_hnode_t node;              /* in the names map (fetch_session.c) */
    int32_t refs;
    int32_t len;
    char name[];                  /* NUL-terminated */
} gr_fsess_topic_t;

/* One partition of a session (Kafka's CachedPartition).  Owned by its
 * session. */
typedef struct gr_fsess_part {
    gr_pwait_t wait;              /* on p's waiter list while p != NULL */
    gr_fsess_t *sess;             /* owner */
    gr_fsess_topic_t *topic;
    gr_partition_t *p;            /* NULL: detached (deleted or unknown) */
    gr_hnode_t node;              /* in its session's map */
    struct gr_fsess_part *pnext, *pprev;  /* pending list */
    int32_t partition;
    int32_t max_bytes;            /* PartitionMaxBytes */
    int32_t current_leader_epoch;
    int32_t last_fetched_epoch;   /* LastFetchedEpoch (v12+), -1 = none */
    bool pending;
    int64_t fetch_offset;
    int64_t fetcher_log_start;    /* LogStartOffset of the request (followers) */
    int64_t high_watermark;       /* last reported; -1: report next time */
    int64_t log_start_offset;     /* last reported local log start offset */
} gr_fsess_part_t;

/* Why a parked fetch is called back. */
typedef enum gr_fsess_wake {
    GR_FSESS_CHANGED,             /* a partition became pending: evaluate */
    GR_FSESS_DETACHED,            /* a partition is being deleted: answer soon,
                                   * once the rest of its topic is gone too */
    GR_FSESS_CLOSING,             /* the session is being removed: answer now */
} gr_fsess_wake_t;

/* A fetch parked on a session.  The parker detaches with
 * gr_fsess_park(s, NULL) when it answers. */
typedef struct gr_fsess_parker {
    void (*cb)(struct gr_fsess_parker *pk, gr_fsess_wake_t why);
} gr_fsess_parker_t;

struct gr_fsess {
    int32_t id;
    int32_t epoch;                /* expected epoch of the next request */
    int64_t created_ms;
    int64_t last_used_ms;
    gr_fsess_t *lru_prev, *lru_next;  /* cache LRU list, least recent first */
    gr_hnode_t node;              /* in the session cache, by id */
    gr_hmap_t parts;              /* gr_fsess_part_t by (topic, partition) */
    uint32_t nparts;
    uint32_t npending;
    gr_fsess_part_t *pend_head, *pend_tail;
    gr_fsess_parker_t *parker;    /* the fetch parked on this session, or NULL */
    bool uses_ids;                /* made by a v13+ fetch: its topics are keyed
                                   * by their 16-byte topic ids (KIP-516) */
};

/* Cache size (max.incremental.fetch.session.cache.slots; 0 disables
 * sessions) and eviction time.  Without a call, the first use takes the
 * broker configuration. */
void gr_fsess_configure(int32_t slots, int64_t eviction_ms);
/* Free every session (shutdown, before the topics close). */
void gr_fsess_free_all(void);
int gr_fsess_count(void);

gr_fsess_t *gr_fsess_find(int32_t id);
/* A new empty session with a fresh random id in [1, INT32_MAX) and epoch 1.
 * When the cache is full, the least recently used session is evicted if it
 * has been idle longer than the eviction time; otherwise NULL. */
gr_fsess_t *gr_fsess_create(int64_t now_ms);
/* Close a session.  A parked fetch is answered first (parker cb, closing). */
void gr_fsess_remove(gr_fsess_t *s);
/* The session was used now: moves it to the recent end of the LRU list. */
void gr_fsess_touch(gr_fsess_t *s, int64_t now_ms);
/* Kafka's FetchMetadata.nextEpoch: +1, wrapping to 1 after INT32_MAX. */
int32_t gr_fsess_next_epoch(int32_t epoch);

/* Find or add the cached partition (topic, partition) and make it pending.
 * In a session that uses topic ids, `topic` is the 16 bytes of the id.
 * A new one starts with high_watermark -1 (it is reported).  A detached one
 * is looked up again in the topic registry (a topic created again under the
 * same name).  *added tells which.  The caller sets the request fields. */
gr_fsess_part_t *gr_fsess_put(gr_fsess_t *s, const char *topic, size_t len, int32_t partition, bool *added);
/* Remove (topic, partition) from the session; false if it was not there. */
bool gr_fsess_forget(gr_fsess_t *s, const char *topic, size_t len, int32_t partition);

/* A detached cached partition looks its partition up again (a partition
 * added by CreatePartitions, a topic created again under the name): true
 * when it is attached now. */
bool gr_fsess_attach(gr_fsess_part_t *cp);

void gr_fsess_pend(gr_fsess_part_t *cp);
void gr_fsess_unpend(gr_fsess_part_t *cp);
/* Set (or clear, NULL) the fetch parked on the session. */
void gr_fsess_park(gr_fsess_t *s, gr_fsess_parker_t *pk);

#endif
