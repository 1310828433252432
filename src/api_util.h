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

#endif
