/*
 * hmap.h - the hash map of the code base, and its hash function.
 *
 * Every keyed lookup of the broker goes through this one map: the topic,
 * group and fetch-session registries, a group's committed offsets, the
 * sessions' cached partitions, the log cleaner's offset map, the sets that
 * notice a name given twice in one request, the coordinator's load state,
 * a partition's producer state and the producer updates of one append.
 *
 * Intrusive and chained: the owner embeds a gr_hnode_t in its entry and
 * computes the hash; the map holds only the bucket array.  So an entry
 * costs its node (a pointer and the hash, 16 bytes) plus a share of the
 * buckets, nothing is allocated per insert, and an entry may sit in several
 * maps.  Lookups walk the bucket of a hash and leave the key comparison to
 * the caller (no callbacks, no key copies):
 *
 *     for (gr_hnode_t *n = gr_hmap_first(m, h); n; n = gr_hmap_next(n)) {
 *         foo_t *f = GR_CONTAINER(n, foo_t, node);
 *         if (f->len == len && !memcmp(f->name, name, len)) return f;
 *     }
 *
 *   buckets (power of two)   nodes (inside their owners' structs)
 *   +---+                    +------------+    +------------+
 *   | 0 |------------------->| next, hash |--->| next, hash |--> NULL
 *   +---+                    +------------+    +------------+
 *   | 1 | NULL
 *   +---+
 *
 * Growth: the bucket array doubles when the entries reach the bucket count
 * (load factor 1) and halves when removals leave it a quarter full, never
 * below the initial size, which is allocated on the first insert: an empty
 * map costs nothing, a group with three offsets four buckets.  A map over
 * caller-provided buckets (gr_hmap_init_fixed, e.g. from a request's arena)
 * never resizes.
 *
 * Why not a library: uthash (Debian's uthash-dev) was the candidate.  Its
 * handle is 56 bytes per entry and a table starts at 32 buckets plus a
 * 64-byte header, so a million committed offsets or 100,000 groups of a few
 * offsets each would cost several times what they cost here, and its
 * macros hide the allocation of the table from the arenas of requests.
 * This is 150 lines with one owner.
 *
 * Hashing: gr_fnv1a64 is the one FNV-1a (64-bit) of the code base; it is
 * also persisted (topic.c's file names of long topic names), so it must
 * never change.  gr_hash32 folds it through a finalizer for bucket indexes.
 */
#ifndef GR_HMAP_H
#define GR_HMAP_H

#include "gr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GR_FNV64_INIT 14695981039346656037ull
#define GR_FNV64_PRIME 1099511628211ull

/* One byte into an FNV-1a 64 hash (for keys hashed while transformed). */
static inline uint64_t gr_fnv1a64_byte(uint64_t h, uint8_t c)
{
    return (h ^ c) * GR_FNV64_PRIME;
}

/* FNV-1a 64 of n bytes, continuing from h (GR_FNV64_INIT to start). */
static inline uint64_t gr_fnv1a64(const void *p, size_t n, uint64_t h)
{
    const uint8_t *s = p;
    for (size_t i = 0; i < n; i++)
        h = gr_fnv1a64_byte(h, s[i]);
    return h;
}

/* A 64-bit hash mixed down to 32 bits for a bucket index (the low bits of
 * FNV alone are weak for keys that differ in their last byte only). */
static inline uint32_t gr_hash_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (uint32_t)h;
}

static inline uint32_t gr_hash32(const void *p, size_t n)
{
    return gr_hash_mix(gr_fnv1a64(p, n, GR_FNV64_INIT));
}

/* A 32-bit hash of an int (ids, partition numbers mixed into a key). */
static inline uint32_t gr_hash_int(uint64_t v)
{
    return gr_hash_mix(v * 0x9e3779b97f4a7c15ull);
}

#define GR_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

typedef struct gr_hnode {
    struct gr_hnode *next;          /* bucket chain */
    uint32_t hash;
} gr_hnode_t;

typedef struct gr_hmap {
    gr_hnode_t **b;                 /* NULL until the first insert (unless fixed) */
    uint32_t nb;                    /* buckets, a power of two (0 before the first insert) */
    uint32_t count;
    uint32_t min_nb;                /* initial size, never shrunk below */
    bool fixed;                     /* caller-provided buckets: never resized nor freed */
} gr_hmap_t;

/* An empty map that allocates min_buckets (rounded up to a power of two,
 * at least 1) on its first insert.  Nothing to free while empty. */
void gr_hmap_init(gr_hmap_t *m, uint32_t min_buckets);
/* A map over n zeroed buckets (a power of two) the caller owns, e.g. in an
 * arena: never resized, nothing to free. */
void gr_hmap_init_fixed(gr_hmap_t *m, gr_hnode_t **buckets, uint32_t n);
/* Free the buckets (the nodes belong to their owners); the map is empty. */
void gr_hmap_free(gr_hmap_t *m);

static inline uint32_t gr_hmap_count(const gr_hmap_t *m) { return m->count; }

/* The first node with hash h, NULL if none; gr_hmap_next gives the next one
 * with the same hash (the caller compares keys). */
static inline gr_hnode_t *gr_hmap_first(const gr_hmap_t *m, uint32_t h)
{
    if (m->count == 0)
        return NULL;
    gr_hnode_t *n = m->b[h & (m->nb - 1)];
    while (n && n->hash != h)
        n = n->next;
    return n;
}

static inline gr_hnode_t *gr_hmap_next(const gr_hnode_t *n)
{
    uint32_t h = n->hash;
    n = n->next;
    while (n && n->hash != h)
        n = n->next;
    return (gr_hnode_t *)n;
}

/* Insert n (not in the map) under hash h.  Duplicate keys are the
 * caller's business. */
void gr_hmap_insert(gr_hmap_t *m, gr_hnode_t *n, uint32_t h);
/* Remove n, which must be in the map (the buckets may halve). */
void gr_hmap_remove(gr_hmap_t *m, gr_hnode_t *n);
/* The same without resizing (while iterating); gr_hmap_compact afterwards. */
void gr_hmap_remove_keep(gr_hmap_t *m, gr_hnode_t *n);
/* Halve the buckets while the map is at most a quarter full. */
void gr_hmap_compact(gr_hmap_t *m);
/* Put n in the place of old (same hash, old in the map): an entry that
 * moves to a new allocation keeps its place. */
void gr_hmap_replace(gr_hmap_t *m, gr_hnode_t *old, gr_hnode_t *n);

/* Iteration in bucket order: the node after n (NULL: the first), NULL at
 * the end.  The map must not change meanwhile. */
gr_hnode_t *gr_hmap_after(const gr_hmap_t *m, const gr_hnode_t *n);

/* An iterator that allows removing (and freeing) the node it returned,
 * with gr_hmap_remove_keep (then gr_hmap_compact once done).  Nothing may
 * be inserted meanwhile. */
typedef struct gr_hmap_iter {
    const gr_hmap_t *m;
    gr_hnode_t *next;
} gr_hmap_iter_t;

static inline void gr_hmap_iter_init(gr_hmap_iter_t *it, const gr_hmap_t *m)
{
    it->m = m;
    it->next = gr_hmap_after(m, NULL);
}

static inline gr_hnode_t *gr_hmap_iter_next(gr_hmap_iter_t *it)
{
    gr_hnode_t *n = it->next;
    if (n)
        it->next = gr_hmap_after(it->m, n);
    return n;
}

/* Buckets the map would have with `entries` entries after growing (memory
 * estimates). */
uint32_t gr_hmap_buckets_for(const gr_hmap_t *m, size_t entries);

#endif
