/*
 * buf.h - gr_buf_t, a growable malloc'ed byte buffer (alloc.c).
 *
 * Meant to be reused: a caller keeps one across calls (one batch after the
 * other) so that it is allocated once at the largest size needed, not per
 * use.  A zeroed gr_buf_t is empty and valid.  Owner: whoever holds the
 * struct; gr_buf_free() releases it.
 */
#ifndef GR_BUF_H
#define GR_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct gr_buf {
    uint8_t *p;              /* owned; NULL while cap == 0 */
    size_t len;              /* bytes in use, maintained by the caller */
    size_t cap;
} gr_buf_t;

/* Grow to at least cap bytes (doubling from 4 KiB), keeping p[0..len);
 * aborts on OOM like gr_malloc. */
void gr_buf_reserve(gr_buf_t *b, size_t cap);
/* Free p and make the buffer empty again. */
void gr_buf_free(gr_buf_t *b);

#endif
