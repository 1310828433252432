/*
 * compress.h - Kafka's codecs: decompression for batch validation and
 * legacy up-conversion (gzip, snappy as a raw block or in xerial framing,
 * lz4 frame, zstd), and compression as Kafka's producers write them, for
 * the batches the log cleaner rebuilds (with the batch's own codec, as
 * Kafka's cleaner does) and for down-converted message sets.  Nothing
 * else is recompressed: appended batches are stored as they came.
 *
 * Two ways in: a pull stream (gr_dstream_*) that hands out the
 * decompressed bytes a window at a time, so that validation never holds a
 * whole decompressed batch (the record iterator of batch.c reads every
 * record through it), and gr_decompress(), which fills a buffer (legacy
 * up-conversion of a wrapper's inner message set, the offsets loader).  Both stop with GR_ETOOBIG as soon as the output would pass a
 * bound chosen by the caller, before allocating for it.
 */
#ifndef GR_COMPRESS_H
#define GR_COMPRESS_H

#include "buf.h"
#include "gr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A pull decompressor over one compressed buffer (which must outlive it).
 * Memory: the codec's own state (zlib 32 KiB window, an lz4 block of at
 * most 4 MiB, a zstd window as the frame declares it, at most 128 MiB and
 * never more than the output so far) or, for snappy, one uncompressed
 * block (at most 22 times its compressed size, and within max_out). */
typedef struct gr_dstream {
    int codec;
    const uint8_t *in;           /* borrowed */
    size_t in_len, in_pos;
    uint64_t out;                /* bytes handed out so far */
    uint64_t max_out;
    void *ctx;                   /* codec state, owned */
    gr_buf_t blk;                /* snappy: the current uncompressed block */
    size_t blk_pos;
    bool frame_done;             /* lz4, zstd: the last frame read is complete */
    int state;                   /* 0 running, 1 at the end, < 0 the error */
} gr_dstream_t;

/* Start decompressing `in` (codec GR_COMPRESSION_*, not NONE).  At most
 * max_out bytes may come out.  Returns 0 or GR_EINVAL (unknown codec); a
 * stream that was opened must be closed. */
int gr_dstream_open(gr_dstream_t *s, int codec, const uint8_t *in, size_t len, uint64_t max_out);
/* The next at most n (> 0) decompressed bytes into dst.  Returns how many
 * (> 0), 0 at the end of a well-formed stream, GR_ECORRUPT for bad or
 * truncated input, GR_ETOOBIG when the stream holds more than max_out
 * bytes.  After an error or the end, returns the same again. */
ssize_t gr_dstream_read(gr_dstream_t *s, uint8_t *dst, size_t n);
void gr_dstream_close(gr_dstream_t *s);

/* Decompress `in` (codec GR_COMPRESSION_*) into out->p[0..out->len).
 * At most `max_out` bytes are produced.  Returns 0, GR_ECORRUPT for bad
 * input, GR_ETOOBIG when the output would exceed max_out (a decompression
 * bomb), GR_EINVAL for an unknown codec. */
int gr_decompress(int codec, const uint8_t *in, size_t len, gr_buf_t *out, size_t max_out);

/* A push compressor appending one codec's stream to a growing buffer, in
 * the form Kafka's own writers give it: gzip (default level), snappy in
 * xerial framing with 32 KiB blocks, lz4 frames of independent 64 KiB
 * blocks without checksums, zstd (level 3, zstd-jni's default). */
typedef struct gr_cstream {
    int codec;
    gr_buf_t *out;               /* borrowed */
    size_t max_out;
    void *ctx;                   /* gzip: z_stream; zstd: ZSTD_CCtx */
    uint8_t *blk;                /* snappy, lz4: the block being filled */
    size_t blen, bcap;
    int err;
} gr_cstream_t;

/* Start a stream of codec (not NONE) appended to out, which may grow to at
 * most max_out bytes.  magic: the record format it goes into (lz4's
 * header checksum for magic 0 covers the frame's magic number, as Kafka
 * writes it, KAFKA-3160).  Returns 0 or GR_EINVAL (unknown codec) / GR_EIO;
 * a stream that was begun must be ended. */
int gr_cstream_begin(gr_cstream_t *z, int codec, int8_t magic, gr_buf_t *out, size_t max_out);
/* Compress n more bytes; an error is kept for gr_cstream_end. */
void gr_cstream_write(gr_cstream_t *z, const void *p, size_t n);
/* Finish the stream and free the codec's state.  Returns 0, GR_ETOOBIG
 * when out would pass max_out, or GR_EIO. */
int gr_cstream_end(gr_cstream_t *z);

#endif
