/*
 * alloc.c - memory: the allocation wrappers every module uses (gregord and
 * the gregor CLI both link this file) and the growable byte buffer
 * gr_buf_t (buf.h).
 *
 * Allocation failure is not handled anywhere: gr_malloc() and friends
 * print one line naming the size and abort(), so no caller carries a
 * half-tested OOM path and no result needs checking.  A size of 0 asks
 * for 1 byte, so a successful call never returns NULL.
 */
#include "gr.h"
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gr_oom(size_t n)
{
    fprintf(stderr, "gregor: out of memory allocating %zu bytes\n", n);
    abort();
}

void *gr_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        gr_oom(n);
    return p;
}

void *gr_calloc(size_t nmemb, size_t n)
{
    void *p = calloc(nmemb ? nmemb : 1, n ? n : 1);
    if (!p) {
        size_t total;
        gr_oom(__builtin_mul_overflow(nmemb, n, &total) ? SIZE_MAX : total);
    }
    return p;
}

void *gr_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        gr_oom(n);
    return q;
}

char *gr_strdup(const char *s)
{
    return gr_strndup(s, strlen(s));
}

char *gr_strndup(const char *s, size_t n)
{
    char *p = gr_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ------------------------------------------------------------ gr_buf_t */

void gr_buf_reserve(gr_buf_t *b, size_t cap)
{
    if (b->cap >= cap)
        return;
    size_t n = b->cap ? b->cap : 4096;
    while (n < cap)
        n *= 2;
    b->p = gr_realloc(b->p, n);
    b->cap = n;
}

void gr_buf_free(gr_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
