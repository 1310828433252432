/*
 * epoch.h - a partition's leader epoch cache (Kafka's LeaderEpochFileCache)
 * and its leader-epoch-checkpoint file.
 *
 * Each entry says: from offset `start` on, the records were written under
 * leader epoch `epoch`.  Entries are kept in increasing order of both.
 * OffsetForLeaderEpoch answers from it (gr_epochs_end_offset), clients
 * compare that with their position to detect a truncated log (KIP-320),
 * and ListOffsets reports the epoch of the offsets it returns.
 *
 * Owned by its partition (topic.c), loop thread only.
 */
#ifndef GR_EPOCH_H
#define GR_EPOCH_H

#include "ev.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct gr_epoch_entry {
    int32_t epoch;
    int64_t start;
} gr_epoch_entry_t;

typedef struct gr_epochs {
    gr_epoch_entry_t *e;          /* owned */
    int n, cap;
    bool dirty;                   /* changed since the file was written */
} gr_epochs_t;

#define GR_EPOCHS_FILE "leader-epoch-checkpoint"

/* Read <dir>/leader-epoch-checkpoint.  Returns 0, GR_ENOENT when there is
 * no file, GR_ECORRUPT when it cannot be parsed (the cache is then empty).
 * Entries that are not increasing are dropped from the first such one. */
int gr_epochs_load(gr_epochs_t *c, const char *dir);
/* Write it (tmp file + rename; with fsync of the file and the directory
 * when durable).  Returns 0 or a GR_E*; clears dirty on success.  With
 * ev, the file the rename replaces is released on its metadata lane
 * (gr_ev_close_later): the loop does not wait for its blocks to be freed. */
int gr_epochs_write(gr_epochs_t *c, const char *dir, bool durable, gr_ev_t *ev);
void gr_epochs_free(gr_epochs_t *c);

/* Kafka's assign(): record that `epoch` starts at `start`; entries with an
 * epoch >= epoch or a start >= start are dropped first.  Nothing changes
 * when the latest entry already has this epoch and a start <= start. */
void gr_epochs_assign(gr_epochs_t *c, int32_t epoch, int64_t start);
/* Kafka's truncateFromEnd(end): drop the entries starting at or after
 * `end` (the log was truncated to end). */
void gr_epochs_truncate_end(gr_epochs_t *c, int64_t end);
/* Kafka's truncateFromStart(start): the entries starting at or before
 * `start` collapse into one, of the latest of them, starting at `start`. */
void gr_epochs_truncate_start(gr_epochs_t *c, int64_t start);

/* Latest epoch, -1 when empty. */
int32_t gr_epochs_latest(const gr_epochs_t *c);
/* The first entry (NULL when empty). */
const gr_epoch_entry_t *gr_epochs_first(const gr_epochs_t *c);
/* Kafka's epochForOffset: the epoch the record at `offset` was written
 * in, -1 when unknown. */
int32_t gr_epochs_for_offset(const gr_epochs_t *c, int64_t offset);
/* Kafka's endOffsetFor(requested, log_end): the largest epoch <= the one
 * requested and the offset where it ended (the start of the next epoch, or
 * log_end for the latest).  *epoch = *offset = -1 when unknown (requested
 * -1, or above every epoch). */
void gr_epochs_end_offset(const gr_epochs_t *c, int32_t requested, int64_t log_end, int32_t *epoch,
                          int64_t *offset);

#endif
