/*
 * arena.h - bump allocator for per-request scratch memory.
 *
 * A request's decoded structures (arrays of partitions, ...) live in its
 * arena and are released all at once when the response is queued.  Blocks
 * grow geometrically; gr_arena_reset() keeps the first block for reuse.
 */
#ifndef GR_ARENA_H
#define GR_ARENA_H

#include <stddef.h>

typedef struct gr_arena_block gr_arena_block_t;

typedef struct gr_arena {
    gr_arena_block_t *head;   /* current block, owned */
    size_t used;              /* bytes used in head */
    size_t bytes;             /* capacity of all blocks (memory accounting) */
} gr_arena_t;

void gr_arena_init(gr_arena_t *a);
void *gr_arena_alloc(gr_arena_t *a, size_t n);          /* 16-byte aligned, uninitialised */
void *gr_arena_calloc(gr_arena_t *a, size_t nmemb, size_t n);
char *gr_arena_strndup(gr_arena_t *a, const char *s, size_t n);
void gr_arena_reset(gr_arena_t *a);     /* keeps the newest (largest) block */
void gr_arena_free(gr_arena_t *a);

#endif
