/*
 * downconv.h - Fetch v0-3 down-conversion: stored v2 record batches turned
 * into magic 0 / 1 message sets while the response is being written
 * (Kafka's LazyDownConversionRecords), as a lazy chunk of the output chain
 * (wire.h).  The byte layouts and the rules are in downconv.c.
 */
#ifndef GR_DOWNCONV_H
#define GR_DOWNCONV_H

#include "fcache.h"
#include "wire.h"

#include <stdint.h>

/* A conversion in progress: owned by the lazy chunk once handed over. */
typedef struct gr_downconv gr_downconv_t;

extern const gr_lazy_ops_t gr_downconv_ops;

/* Start converting the stored batches file[pos, pos+len) to `magic` (0 or
 * 1) for a fetch at fetch_offset.  The first batch that converts to
 * something is converted now (Kafka does, to size the answer), so that an
 * unconvertible first batch is an error of the partition rather than of
 * the connection.  On success *out (NULL when nothing converts and the
 * slice was empty) and *size: the length the response declares for the
 * partition, max(len, the first converted batch) (Kafka's), which the
 * lazy chunk fills exactly: converted batches, cut at *size, or after the
 * last one an overflow message the client ignores.  Returns 0,
 * GR_EINVAL (the first batch is zstd: UNSUPPORTED_COMPRESSION_TYPE),
 * GR_ECORRUPT (it cannot be read as a batch), GR_ETOOBIG (it holds a
 * record beyond the conversion bounds) or GR_EIO (reading failed). */
int gr_downconv_open(gr_file_t *file, int64_t pos, int32_t len, int8_t magic, int64_t fetch_offset,
                     gr_downconv_t **out, int32_t *size);
/* Bytes of memory a conversion holds now. */
size_t gr_downconv_mem(const gr_downconv_t *dc);
void gr_downconv_free(gr_downconv_t *dc);

/* Convert whole v2 batches in memory (p, len) to a message set of
 * `magic`, appended to *out (malloc'ed, *out_len bytes): the same rules,
 * for tests and tools.  Returns 0 or the errors of gr_downconv_open. */
int gr_downconv_buf(const uint8_t *p, size_t len, int8_t magic, int64_t fetch_offset, uint8_t **out,
                    size_t *out_len);

#endif
