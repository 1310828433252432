/*
 * api_util.h - small helpers shared by the API handlers.
 */
#ifndef GR_API_UTIL_H
#define GR_API_UTIL_H

#include "api.h"
#include "schema_gen.h"

#include <stdlib.h>
#include <string.h>

/* Encode and queue a response of message type M (e.g. ProduceResponse). */
#define GR_RESPOND(req, M, resp)                                   \
    do {                                                           \
        gr_wr_t *w_ = gr_resp_begin(req);                          \
        gr_##M##_encode(w_, (req)->api_version, (resp));           \
        gr_resp_end(req);                                          \
    } while (0)

/* Decode the body of a request of message type M, or close the connection
 * with a log line and return from the handler. */
#define GR_DECODE_OR_CLOSE(req, body, M, out)                                  \
    do {                                                                       \
        gr_##M##_init(out);                                                    \
        if (gr_##M##_decode((body), (req)->api_version, &(req)->arena, (out)) < 0) { \
            gr_req_bad((req), "truncated or malformed body");                  \
            return;                                                            \
        }                                                                      \
    } while (0)

/* Allocate n initialised elements of a generated struct type in the arena. */
#define GR_ARENA_ARRAY(req, T, n, initfn)                                      \
    ({                                                                         \
        T *a_ = gr_arena_alloc(&(req)->arena, sizeof(T) * (size_t)((n) > 0 ? (n) : 1)); \
        for (int32_t i_ = 0; i_ < (n); i_++)                                   \
            initfn(&a_[i_]);                                                   \
        a_;                                                                    \
    })

/* Copy a wire string into the arena (for responses outliving the request). */
static inline gr_str_t gr_str_keep(gr_req_t *req, gr_str_t s)
{
    if (s.len <= 0)
        return s;
    return (gr_str_t){gr_arena_strndup(&req->arena, s.p, (size_t)s.len), s.len};
}

/* A set of keys (bytes + an int32 tag: a topic name and a partition, a
 * topic id and 0) counted per request, in its arena: open addressing sized
 * for n keys.  For requests that must notice a name given twice. */
typedef struct gr_keyset {
    const void **key;
    int32_t *len;
    int32_t *tag;
    int32_t *count;          /* 0 = empty slot */
    size_t mask;
} gr_keyset_t;

static inline void gr_keyset_init(gr_req_t *req, gr_keyset_t *ks, int64_t n)
{
    size_t cap = 16;
    while ((int64_t)cap < n * 2)
        cap *= 2;
    ks->key = gr_arena_calloc(&req->arena, cap, sizeof(*ks->key));
    ks->len = gr_arena_calloc(&req->arena, cap, sizeof(*ks->len));
    ks->tag = gr_arena_calloc(&req->arena, cap, sizeof(*ks->tag));
    ks->count = gr_arena_calloc(&req->arena, cap, sizeof(*ks->count));
    ks->mask = cap - 1;
}

/* Count one more (p, n, tag); returns how many times it was added so far
 * (1 the first time).  The bytes must outlive the set. */
static inline int32_t gr_keyset_add(gr_keyset_t *ks, const void *p, int32_t n, int32_t tag)
{
    uint64_t h = 1469598103934665603ull ^ (uint32_t)tag;     /* FNV-1a */
    for (int32_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ull;
    h ^= h >> 29;
    for (size_t i = (size_t)h & ks->mask;; i = (i + 1) & ks->mask) {
        if (ks->count[i] == 0) {
            ks->key[i] = p;
            ks->len[i] = n;
            ks->tag[i] = tag;
            ks->count[i] = 1;
            return 1;
        }
        if (ks->len[i] == n && ks->tag[i] == tag && (n == 0 || !memcmp(ks->key[i], p, (size_t)n)))
            return ++ks->count[i];
    }
}

/* How many times (p, n, tag) was added. */
static inline int32_t gr_keyset_count(const gr_keyset_t *ks, const void *p, int32_t n, int32_t tag)
{
    uint64_t h = 1469598103934665603ull ^ (uint32_t)tag;
    for (int32_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ull;
    h ^= h >> 29;
    for (size_t i = (size_t)h & ks->mask;; i = (i + 1) & ks->mask) {
        if (ks->count[i] == 0)
            return 0;
        if (ks->len[i] == n && ks->tag[i] == tag && (n == 0 || !memcmp(ks->key[i], p, (size_t)n)))
            return ks->count[i];
    }
}

#endif
