/*
 * offsets.h - a group's committed offsets: a hash map from (topic,
 * partition) to the last committed offset, as Kafka keeps it in
 * GroupMetadata.offsets.
 *
 * Owned by its group (gr_group_t.offsets, created on first use and freed
 * by gr_offsets_group_free).  Used only on the loop thread.  The entries
 * change only through the coordinator's replay of __consumer_offsets
 * records (coord.c) and its rollback; this map is the in-memory view that
 * OffsetFetch answers from.
 */
#ifndef GR_OFFSETS_H
#define GR_OFFSETS_H

#include "group.h"
#include "hmap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One allocation: the strings follow the struct (a map of a million
 * offsets is a million allocations, not three million). */
typedef struct gr_offset {
    gr_hnode_t node;                /* in its map, by (topic, partition) */
    char *topic;                    /* NUL-terminated, in this allocation */
    char *metadata;                 /* NUL-terminated, in this allocation, never NULL */
    int64_t offset;
    int64_t commit_timestamp;       /* ms */
    int64_t expire_timestamp;       /* ms, -1 = none (OffsetCommitValue v1 only) */
    int32_t partition;
    int32_t leader_epoch;           /* -1 if unknown */
    uint32_t topic_len;
    uint32_t metadata_cap;          /* bytes the metadata may take, NUL included */
    char s[];                       /* topic, NUL, metadata, NUL */
} gr_offset_t;

struct gr_offset_map {
    gr_hmap_t h;                    /* of gr_offset_t, 4 buckets to start */
};

/* Iterator over a map; entries may not be added or removed while iterating
 * except the current one through gr_offset_iter_remove(). */
typedef struct gr_offset_iter {
    gr_offset_map_t *m;
    gr_hmap_iter_t it;
    gr_offset_t *cur;
    bool removed;
} gr_offset_iter_t;

gr_offset_map_t *gr_offset_map_new(void);
void gr_offset_map_free(gr_offset_map_t *m);
static inline uint32_t gr_offset_map_count(const gr_offset_map_t *m) { return m ? gr_hmap_count(&m->h) : 0; }

/* The entry for (topic, partition) or NULL.  m may be NULL. */
gr_offset_t *gr_offset_get(const gr_offset_map_t *m, const char *topic, size_t tlen, int32_t partition);
/* Insert or update: copies topic and metadata (metadata NULL = "").  Returns
 * the entry (an update may move it: pointers to the old one are stale);
 * *prev_offset gets the offset before (-1 if it was new). */
gr_offset_t *gr_offset_put(gr_offset_map_t *m, const char *topic, size_t tlen, int32_t partition, int64_t offset,
                           int32_t leader_epoch, const char *metadata, size_t mlen, int64_t commit_ts,
                           int64_t expire_ts, int64_t *prev_offset);
/* Remove and free an entry; false if it was not there. */
bool gr_offset_remove(gr_offset_map_t *m, const char *topic, size_t tlen, int32_t partition);

void gr_offset_iter_init(gr_offset_iter_t *it, gr_offset_map_t *m);   /* m may be NULL */
gr_offset_t *gr_offset_iter_next(gr_offset_iter_t *it);
void gr_offset_iter_remove(gr_offset_iter_t *it);                    /* frees it->cur */

/* The group's map, created if missing. */
gr_offset_map_t *gr_offsets_of(gr_group_t *g);
/* Free the group's offsets (group teardown); g->offsets becomes NULL. */
void gr_offsets_group_free(gr_group_t *g);

#endif
