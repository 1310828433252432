/*
 * logmove.h - moving a partition between the log dirs of this broker
 * (AlterReplicaLogDirs), Kafka's future-replica way: a copy is made in
 * <dest>/<topic>-<partition>.<uuid>-future while the partition stays
 * online, then the copy replaces it (see logmove.c for the crash-safe
 * order of renames).
 */
#ifndef GR_LOGMOVE_H
#define GR_LOGMOVE_H

#include "serr.h"
#include "topic.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct gr_logmove_status {
    int dest_dir;                 /* index into gr_broker.log_dirs */
    int64_t copied_bytes;         /* size of the future replica so far */
    int64_t offset_lag;           /* log end offset minus the copy's */
} gr_logmove_status_t;

/* Is p being moved?  Fills st when it is. */
bool gr_logmove_status(const gr_partition_t *p, gr_logmove_status_t *st);
/* Move p to log dir `dest`: starts the copy (replacing a move to another
 * dir), or nothing when p is there already.  GR_SERR_IO when p's log
 * failed or the copy cannot be created, GR_SERR_TOPIC_NAME when the
 * copy's directory name would be too long. */
gr_serr_t gr_logmove_start(gr_partition_t *p, int dest);
/* Before a partition is freed (deletion, shutdown): its move stops and
 * the future replica is removed (deletion) or left for the next start
 * to resume (shutdown). */
void gr_logmove_cancel(gr_partition_t *p, bool remove_future);
/* Startup, before any partition is opened: settle what a crash left in
 * the log dirs (a future replica whose current one was already renamed
 * for deletion replaces it; leftover -delete dirs are removed). */
void gr_logmove_recover_dirs(void);
/* Startup, after the topics loaded: resume the moves whose future
 * replicas are on disk. */
void gr_logmove_resume_all(void);

#endif
