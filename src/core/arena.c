/*
 * arena.c - bump allocator (see arena.h).  Never frees individual objects.
 */
#include "arena.h"
#include "gr.h"

#include <stdlib.h>
#include <string.h>

struct gr_arena_block {
    gr_arena_block_t *next;   /* older block */
    size_t cap;
    _Alignas(16) unsigned char data[];
};

#define ARENA_MIN_BLOCK 4096

void gr_arena_init(gr_arena_t *a)
{
    a->head = NULL;
    a->used = 0;
    a->bytes = 0;
}

void *gr_arena_alloc(gr_arena_t *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n)
        gr_oom(n);
    if (!a->head || a->head->cap - a->used < need) {
        size_t cap = a->head ? a->head->cap * 2 : ARENA_MIN_BLOCK;
        while (cap < need)
            cap *= 2;
        gr_arena_block_t *b = gr_malloc(sizeof(*b) + cap);
        b->cap = cap;
        b->next = a->head;
        a->head = b;
        a->used = 0;
        a->bytes += cap;
    }
    void *p = a->head->data + a->used;
    a->used += need;
    return p;
}

void *gr_arena_calloc(gr_arena_t *a, size_t nmemb, size_t n)
{
    if (n && nmemb > SIZE_MAX / n)
        gr_oom(SIZE_MAX);
    void *p = gr_arena_alloc(a, nmemb * n);
    memset(p, 0, nmemb * n);
    return p;
}

char *gr_arena_strndup(gr_arena_t *a, const char *s, size_t n)
{
    char *p = gr_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void gr_arena_reset(gr_arena_t *a)
{
    if (!a->head)
        return;
    /* keep the newest (largest) block */
    gr_arena_block_t *b = a->head->next;
    while (b) {
        gr_arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    a->head->next = NULL;
    a->used = 0;
    a->bytes = a->head->cap;
}

void gr_arena_free(gr_arena_t *a)
{
    gr_arena_block_t *b = a->head;
    while (b) {
        gr_arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
    a->bytes = 0;
}
