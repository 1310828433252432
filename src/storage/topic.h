/*
 * topic.h - topics and partitions: the registry of what this broker
 * serves.  Owns the partition logs (gr_log_t).  A partition carries the
 * fields replication and transactions build on: leader epoch, high
 * watermark, last stable offset (log start/end offsets live in the log).
 *
 * Topic metadata (id, partition count, config overrides) is persisted per
 * topic in <first log dir>/.topics/<name>.properties (a shortened, hashed
 * file name for names over 240 characters, see topic.c); partition data
 * directories follow Kafka's layout <log dir>/<topic>-<partition>/.
 */
#ifndef GR_TOPIC_H
#define GR_TOPIC_H

#include "hmap.h"
#include "epoch.h"
#include "log.h"
#include "serr.h"
#include "wire.h"

#include <stdbool.h>
#include <stdint.h>

/* Someone waiting for appends to a partition (a parked Fetch, or a fetch
 * session for its whole life).  Owned by the waiter; linked into the
 * partition's list while registered.  When the partition is freed, each
 * waiter is unlinked and then called (linked == false in the callback). */
typedef struct gr_pwait {
    struct gr_pwait *next, *prev;
    void (*cb)(struct gr_pwait *w);
    void *arg;
    bool linked;
} gr_pwait_t;

struct gr_topic;
struct gr_part_obs;

typedef struct gr_partition {
    struct gr_topic *topic;       /* owner */
    int32_t index;
    gr_log_t *log;                /* owned */
    int log_dir;                  /* index into gr_broker.log_dirs */
    int32_t leader_epoch;         /* the latest epoch of `epochs` */
    gr_epochs_t epochs;           /* leader epoch cache, leader-epoch-checkpoint */
    int64_t high_watermark;       /* = log end offset on a single broker */
    int64_t last_stable_offset;   /* gr_log_last_stable_offset, as of the last
                                   * gr_partition_appended / _notify */
    gr_pwait_t waiters;           /* list head (sentinel) */
    struct gr_part_obs *obs;      /* counters and append samples (lag.h), owned; NULL until used */
} gr_partition_t;

typedef struct gr_topic {
    char *name;
    gr_uuid_t id;
    bool internal;
    int32_t npart;
    gr_partition_t **parts;       /* owned */
    char **configs;               /* overrides: key, value, ..., NULL (owned) */
    gr_hnode_t node;              /* in the registry (topic.c) */
} gr_topic_t;

/* Startup: read topic metadata and open every partition log (recovery). */
int gr_topics_load(void);
/* Shutdown: flush, write checkpoints, close logs.  A log dir with more
 * than GR_SYNCFS_MIN_PARTS partitions holding unflushed data is synced
 * with one syncfs(2) instead of an fsync per file.  clean (may be NULL):
 * [log dir] -> everything in it was made durable (no fsync or syncfs
 * failed), i.e. the clean-shutdown marker may be written there. */
#define GR_SYNCFS_MIN_PARTS 32
void gr_topics_close(bool *clean);
/* Periodic: flush by time, checkpoints, and when `retention` (every
 * log.retention.check.interval.ms) rolling by time and retention. */
void gr_topics_housekeep(int64_t now_ms, bool retention);
/* Write recovery-point and log-start-offset checkpoints now. */
void gr_topics_checkpoint(void);
/* Forget producers idle for producer.id.expiration.ms in every partition
 * (every producer.id.expiration.check.interval.ms); returns how many. */
size_t gr_topics_expire_producers(int64_t now_ms);
/* The largest producer id any partition holds state for, -1 if none. */
int64_t gr_topics_max_producer_id(void);

gr_topic_t *gr_topic_find(const char *name, size_t len);
gr_topic_t *gr_topic_find_id(const gr_uuid_t *id);
/* Iterate all topics: for (t = gr_topic_next(NULL); t; t = gr_topic_next(t)). */
gr_topic_t *gr_topic_next(gr_topic_t *t);
int gr_topic_count(void);

/* Kafka's topic name rules: [a-zA-Z0-9._-], 1..249 chars, not "." or "..".
 * Returns GR_SERR_NONE or GR_SERR_TOPIC_NAME. */
gr_serr_t gr_topic_validate_name(const char *name, size_t len);
/* Kafka's internal topic names (Topic.isInternal): __consumer_offsets,
 * __transaction_state, __share_group_state. */
bool gr_topic_name_internal(const char *name, size_t len);
/* Names only the broker may create: the internal ones and
 * __cluster_metadata (KRaft's metadata log). */
bool gr_topic_name_reserved(const char *name, size_t len);
/* An existing topic other than `name` whose name equals it once '.' and
 * '_' are the same (their metric names would clash), or NULL. */
const gr_topic_t *gr_topic_colliding(const char *name, size_t len);
/* Whether a topic of this name may be created, as Kafka decides it, for
 * every creator (CreateTopics, auto-create): GR_SERR_TOPIC_NAME for an
 * illegal name or a collision (*collides set), GR_SERR_TOPIC_EXISTS, or
 * GR_SERR_NONE. */
gr_serr_t gr_topic_check_new(const char *name, size_t len, const gr_topic_t **collides);
/* Create a topic: gr_topic_check_new, then its partitions and its metadata
 * file; when the file cannot be written nothing is created (what was made
 * is removed) and the error is GR_SERR_IO.  configs: key, value, ...,
 * NULL (validated already).  Returns GR_SERR_NONE, or an error with msg
 * set (GR_SERR_PARTITIONS: npart <= 0). */
gr_serr_t gr_topic_create(const char *name, size_t len, int32_t npart, char *const *configs, bool internal,
                          gr_topic_t **out, const char **msg);
/* Delete a topic and its data. */
void gr_topic_delete(gr_topic_t *t);
/* Grow to `total` partitions.  GR_SERR_PARTITIONS (msg set) when total is
 * not above the count; GR_SERR_IO (and no new partition) when the new count
 * cannot be recorded. */
gr_serr_t gr_topic_add_partitions(gr_topic_t *t, int32_t total, const char **msg);
/* Replace one config override (value NULL = remove) and apply it; when it
 * cannot be recorded the old value stays and a GR_E* is returned. */
int gr_topic_set_config(gr_topic_t *t, const char *key, const char *value);
/* Make `configs` (key, value, ..., NULL; validated already, copied) the
 * topic's overrides and apply them, recorded with one atomic write of its
 * metadata file: when that fails nothing changes and a GR_E* is returned. */
int gr_topic_replace_configs(gr_topic_t *t, char *const *configs);
/* The override for key, or NULL. */
const char *gr_topic_get_config(const gr_topic_t *t, const char *key);

static inline gr_partition_t *gr_partition_get(const gr_topic_t *t, int32_t idx)
{
    return (idx >= 0 && idx < t->npart) ? t->parts[idx] : NULL;
}

/* The directory of p's log: <log dir>/<topic>-<partition>. */
void gr_partition_dir(const gr_partition_t *p, char *out, size_t n);

/* Moving p's log to another log dir (logmove.c): close it (fsync; p->log
 * is NULL until it is opened again, within the same loop turn), and open
 * it in log dir d, whose files are the closed log's (recovery point `end`,
 * log start `start`).  0 or a GR_E*. */
int gr_partition_log_close(gr_partition_t *p, int64_t *end, int64_t *start);
int gr_partition_log_open(gr_partition_t *p, int d, int64_t end, int64_t start);

/* After an append: advance the high watermark and the last stable offset
 * and wake waiters. */
void gr_partition_appended(gr_partition_t *p);
/* Something a fetch reports other than new data changed (log start offset,
 * storage state): update the last stable offset, fire the waiters as an
 * append does. */
void gr_partition_notify(gr_partition_t *p);
void gr_pwait_add(gr_partition_t *p, gr_pwait_t *w);
void gr_pwait_remove(gr_pwait_t *w);

#endif
