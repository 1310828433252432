/*
 * compress.h - decompression of Kafka's codecs for batch validation and
 * legacy up-conversion: gzip, snappy (raw block and xerial framing),
 * lz4 frame, zstd.  The broker never recompresses what it stores.
 */
#ifndef GR_COMPRESS_H
#define GR_COMPRESS_H

#include "gr.h"

#include <stddef.h>
#include <stdint.h>

/* A growable malloc'ed byte buffer; reused across calls to avoid
 * allocating per batch.  Owner frees p. */
typedef struct gr_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
} gr_buf_t;

void gr_buf_reserve(gr_buf_t *b, size_t cap);
void gr_buf_free(gr_buf_t *b);

/* Decompress `in` (codec GR_COMPRESSION_*) into out->p[0..out->len).
 * At most `max_out` bytes are produced (a decompression bomb is an error).
 * Returns 0, GR_ECORRUPT for bad or oversized input, GR_EINVAL for an
 * unknown codec. */
int gr_decompress(int codec, const uint8_t *in, size_t len, gr_buf_t *out, size_t max_out);

#endif
