/*
 * lag.h - consumer lag evaluation with Burrow's rules, event-driven.
 *
 * Every offset commit that lands (coord.c) enters the group's window for
 * its partition: the last `lag.window.intervals` commits, each with its
 * offset, time and the lag at that moment (log end offset - offset, the
 * log end offset read when the commit landed, not polled).  Appends keep,
 * per partition, when each offset was appended (a few coarse samples), so
 * the time lag of a committed offset - how long ago the first record not
 * yet consumed was appended - needs no read of the log.  Evaluation is a
 * pure function of a window, the partition's current end offset and now
 * (Burrow's CachingEvaluator rules, lag.c), run when someone asks (HTTP,
 * metrics, the CLI's status).
 *
 * All of it lives on the loop thread; nothing here takes a lock.
 */
#ifndef GR_LAG_H
#define GR_LAG_H

#include "topic.h"

#include <stdbool.h>
#include <stdint.h>

/* Burrow's StatusConstant, same numbers and names. */
typedef enum gr_lag_status {
    GR_LAG_NOTFOUND = 0,
    GR_LAG_OK = 1,
    GR_LAG_WARN = 2,
    GR_LAG_ERR = 3,
    GR_LAG_STOP = 4,
    GR_LAG_STALL = 5,
    GR_LAG_REWIND = 6,
} gr_lag_status_t;

/* "NOTFOUND", "OK", "WARN", "ERR", "STOP", "STALL", "REWIND". */
const char *gr_lag_status_name(gr_lag_status_t s);

/* One commit in a window (Burrow's ConsumerOffset). */
typedef struct gr_lag_entry {
    int64_t offset;
    int64_t timestamp;              /* ms, wall clock */
    int64_t lag;                    /* log end offset - offset at the commit, >= 0 */
} gr_lag_entry_t;

/* Burrow's calculatePartitionStatus over a window (oldest first, n >= 1):
 * current_lag is the lag now; recent_zero says the consumer was caught up
 * within lag.window.recent.ms (Burrow: a recent broker offset <= the last
 * committed offset). */
gr_lag_status_t gr_lag_rule(const gr_lag_entry_t *w, int n, int64_t current_lag, int64_t now_ms, bool recent_zero);

typedef struct gr_lag_config {
    int intervals;                  /* window length, Burrow's intervals (10) */
    int64_t min_distance_ms;        /* commits closer than this replace the last one (0) */
    int64_t recent_ms;              /* caught up this recently: not STOP (Burrow: intervals x offset-refresh) */
    int64_t expire_group_ms;        /* windows of a group without commits this long are dropped */
    int64_t max_partitions;         /* windows kept broker-wide; beyond, new ones are not tracked */
} gr_lag_config_t;

void gr_lag_configure(const gr_lag_config_t *c);
/* Free everything (shutdown, tests). */
void gr_lag_reset_all(void);

/* A commit of `group` (held form) landed: offset for topic/partition at
 * now_ms.  end_offset is the partition's log end offset (-1: unknown, the
 * topic is not served here; the commit is not tracked). */
void gr_lag_commit(const char *group, const char *topic, int32_t partition, int64_t offset, int64_t end_offset,
                   int64_t now_ms);
/* A batch of commits made while the group had no members (an admin's reset
 * or a standalone consumer) landed: kept as the group's last reset, for
 * undo.  from[i] = -1: no offset before. */
typedef struct gr_lag_reset_ent {
    const char *topic;
    int32_t partition;
    int64_t from, to;
} gr_lag_reset_ent_t;
void gr_lag_reset_recorded(const char *group, const gr_lag_reset_ent_t *e, int32_t n, int64_t now_ms);
/* The group's last reset (NULL if none known since the broker started). */
typedef struct gr_lag_reset {
    int64_t time_ms;
    int32_t n;
    gr_lag_reset_ent_t e[];
} gr_lag_reset_t;
const gr_lag_reset_t *gr_lag_last_reset(const char *group);

/* What the broker observes of one partition (owned by the partition,
 * allocated on its first append or fetch; freed by gr_lag_partition_free):
 * counters for /metrics (metrics.c) and the append samples of the time
 * lag: per bucket (1 s fine, 30 s coarse) the time of its last append and
 * the end offset after it. */
#define GR_LAG_FINE 24
#define GR_LAG_COARSE 24
typedef struct gr_lag_sample_pt {
    int64_t mono_ms;
    int64_t end;
} gr_lag_sample_pt_t;
typedef struct gr_part_obs {
    uint64_t bytes_in, records_in, batches_in, bytes_out, fetches;
    uint8_t fine_head, fine_n, coarse_head, coarse_n;
    gr_lag_sample_pt_t fine[GR_LAG_FINE];
    gr_lag_sample_pt_t coarse[GR_LAG_COARSE];
} gr_part_obs_t;
/* The partition's observations, allocated when missing. */
gr_part_obs_t *gr_part_obs(gr_partition_t *p);

/* Appends: the partition's end offset moved (topic.c).  O(1). */
void gr_lag_appended(gr_partition_t *p, int64_t mono_ms);
/* The partition goes away (topic.c). */
void gr_lag_partition_free(gr_partition_t *p);
/* Milliseconds since the record at `offset` was appended (0 when offset is
 * at or past the log end), as the append samples know it; a record older
 * than the samples reach gets the age of the oldest sample (a lower bound).
 * -1 when the partition has no samples (nothing appended since startup). */
int64_t gr_lag_ms(const gr_partition_t *p, int64_t offset, int64_t mono_now_ms);

/* Evaluation of one group (Burrow's ConsumerGroupStatus). */
typedef struct gr_lag_part_status {
    const char *topic;              /* valid until the next call that changes lag state */
    int32_t partition;
    gr_lag_status_t status;
    int nentries;                   /* entries in the window, 0: start/end absent */
    gr_lag_entry_t start, end;
    int64_t current_lag;
    float complete;
    int64_t lag_ms;                 /* time lag, -1 unknown */
} gr_lag_part_status_t;

typedef struct gr_lag_group_status {
    gr_lag_status_t status;
    float complete;
    int32_t npart;
    gr_lag_part_status_t *parts;    /* malloc'ed, gr_lag_status_free */
    int32_t maxlag;                 /* index into parts, -1 if none */
    int64_t totallag;
    int64_t max_lag_ms;             /* largest time lag, -1 unknown */
} gr_lag_group_status_t;

/* NOTFOUND (parts NULL) when no window of the group is known. */
void gr_lag_evaluate(const char *group, int64_t now_ms, gr_lag_group_status_t *out);
void gr_lag_status_free(gr_lag_group_status_t *s);

/* Groups with windows: iterate by name (the next group after `after`, in
 * no particular but stable order while nothing changes); NULL: the first. */
const char *gr_lag_group_next(const char *after);
/* The window of one partition of a group: n entries copied (oldest first),
 * returns how many; -1 if unknown. */
int gr_lag_window(const char *group, const char *topic, int32_t partition, gr_lag_entry_t *out, int cap);

/* Lag over time, sampled every GR_LAG_SERIES_MS for the chart. */
#define GR_LAG_SERIES_LEN 120
#define GR_LAG_SERIES_MS 5000
typedef struct gr_lag_sample {
    int64_t time_ms;
    int64_t lag;                    /* total records */
    int64_t lag_ms;                 /* the largest time lag, -1 unknown */
} gr_lag_sample_t;
/* Samples of a group, oldest first; returns how many (<= cap). */
int gr_lag_series(const char *group, gr_lag_sample_t *out, int cap);
/* Take a sample of every group now (the timer does; tests call it). */
void gr_lag_sample_all(int64_t now_ms);
/* Arm the sampling timer on the broker's loop / stop it. */
void gr_lag_start(void);
void gr_lag_stop(void);

/* Windows and bytes held (metrics). */
int64_t gr_lag_windows(void);
int64_t gr_lag_bytes(void);

#endif
