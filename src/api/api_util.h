/*
 * api_util.h - small helpers shared by the API handlers.
 */
#ifndef GR_API_UTIL_H
#define GR_API_UTIL_H

#include "api.h"
#include "hmap.h"
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

/* The authorized operations of a resource without an authorizer: every
 * AclOperation the resource type supports, as Kafka's AuthHelper reports
 * them (a bit per operation code).  A topic: READ, WRITE, CREATE, DELETE,
 * ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS; the cluster: CREATE,
 * CLUSTER_ACTION, DESCRIBE, ALTER, DESCRIBE_CONFIGS, ALTER_CONFIGS,
 * IDEMPOTENT_WRITE. */
#define GR_TOPIC_AUTHORIZED_OPS                                                                     \
    ((1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11))
#define GR_CLUSTER_AUTHORIZED_OPS ((1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12))

/* The checks of OffsetCommit and TxnOffsetCommit after the group's
 * (api_offsets.c): each entry of c not failed already gets the group's
 * verdict gerr, else OFFSET_METADATA_TOO_LARGE when its metadata is longer
 * than offset.metadata.max.bytes; its error is copied to its answer
 * (*errp[i]).  Returns the entries left to commit. */
struct gr_coord_commit;
int32_t gr_api_commit_errors(struct gr_coord_commit *c, int16_t *const *errp, int32_t n, gr_kerr_t gerr);

/* Copy a wire string into the arena (for responses outliving the request). */
static inline gr_str_t gr_str_keep(gr_req_t *req, gr_str_t s)
{
    if (s.len <= 0)
        return s;
    return (gr_str_t){gr_arena_strndup(&req->arena, s.p, (size_t)s.len), s.len};
}

/* A set of keys (bytes + an int32 tag: a topic name and a partition, a
 * topic id and 0) counted per request, in its arena: a gr_hmap (hmap.h)
 * over buckets sized for n keys, never resized.  For requests that must
 * notice a name given twice. */
typedef struct gr_keyset_ent {
    gr_hnode_t node;
    const void *key;
    int32_t len;
    int32_t tag;
    int32_t count;
    int32_t first;                  /* the value given with its first add */
} gr_keyset_ent_t;

typedef struct gr_keyset {
    gr_hmap_t h;
    gr_arena_t *arena;
} gr_keyset_t;

static inline void gr_keyset_init(gr_req_t *req, gr_keyset_t *ks, int64_t n)
{
    uint32_t cap = 16;
    while ((int64_t)cap < n && cap < (1u << 30))
        cap *= 2;
    gr_hmap_init_fixed(&ks->h, gr_arena_calloc(&req->arena, cap, sizeof(gr_hnode_t *)), cap);
    ks->arena = &req->arena;
}

static inline uint32_t gr_keyset_hash(const void *p, int32_t n, int32_t tag)
{
    return gr_hash_mix(gr_fnv1a64(p, (size_t)(n > 0 ? n : 0), GR_FNV64_INIT ^ (uint32_t)tag));
}

static inline gr_keyset_ent_t *gr_keyset_find(const gr_keyset_t *ks, const void *p, int32_t n, int32_t tag,
                                              uint32_t h)
{
    for (gr_hnode_t *x = gr_hmap_first(&ks->h, h); x; x = gr_hmap_next(x)) {
        gr_keyset_ent_t *e = GR_CONTAINER(x, gr_keyset_ent_t, node);
        if (e->len == n && e->tag == tag && (n <= 0 || !memcmp(e->key, p, (size_t)n)))
            return e;
    }
    return NULL;
}

/* Count one more (p, n, tag); returns its entry (count 1 the first time,
 * when `first` is recorded).  The bytes must outlive the set. */
static inline gr_keyset_ent_t *gr_keyset_put(gr_keyset_t *ks, const void *p, int32_t n, int32_t tag, int32_t first)
{
    uint32_t h = gr_keyset_hash(p, n, tag);
    gr_keyset_ent_t *e = gr_keyset_find(ks, p, n, tag, h);
    if (e) {
        e->count++;
        return e;
    }
    e = gr_arena_alloc(ks->arena, sizeof(*e));
    *e = (gr_keyset_ent_t){.key = p, .len = n, .tag = tag, .count = 1, .first = first};
    gr_hmap_insert(&ks->h, &e->node, h);
    return e;
}

/* Count one more (p, n, tag); returns how many times it was added so far
 * (1 the first time). */
static inline int32_t gr_keyset_add(gr_keyset_t *ks, const void *p, int32_t n, int32_t tag)
{
    return gr_keyset_put(ks, p, n, tag, 0)->count;
}

/* How many times (p, n, tag) was added. */
static inline int32_t gr_keyset_count(const gr_keyset_t *ks, const void *p, int32_t n, int32_t tag)
{
    gr_keyset_ent_t *e = gr_keyset_find(ks, p, n, tag, gr_keyset_hash(p, n, tag));
    return e ? e->count : 0;
}

#endif
