/*
 * batch.h - RecordBatch v2 (magic 2): validation, offset assignment, CRC-32C,
 * the record iterator every reader of records uses, building batches
 * (batch_build.c), and up-conversion of legacy message sets (magic 0/1)
 * to v2.  The byte layout is drawn in batch.c.
 */
#ifndef GR_BATCH_H
#define GR_BATCH_H

#include "gr.h"
#include "compress.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GR_BATCH_HEADER_SIZE   61   /* baseOffset .. recordCount */
#define GR_BATCH_LOG_OVERHEAD  12   /* baseOffset + batchLength */

/* field offsets inside a v2 batch */
#define GR_BOFF_BASE_OFFSET     0
#define GR_BOFF_LENGTH          8
#define GR_BOFF_LEADER_EPOCH   12
#define GR_BOFF_MAGIC          16
#define GR_BOFF_CRC            17
#define GR_BOFF_ATTRIBUTES     21
#define GR_BOFF_LAST_DELTA     23
#define GR_BOFF_BASE_TS        27
#define GR_BOFF_MAX_TS         35
#define GR_BOFF_PRODUCER_ID    43
#define GR_BOFF_PRODUCER_EPOCH 51
#define GR_BOFF_BASE_SEQ       53
#define GR_BOFF_RECORD_COUNT   57

/* The zig-zag varint of a record field, at most maxb bytes, at *pp (moved
 * past it); false on overrun or overlong.  Inline: every record parser's
 * inner loop. */
static inline bool gr_rec_varint(const uint8_t **pp, const uint8_t *end, int maxb, int64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < maxb; i++) {
        if (p >= end)
            return false;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            *pp = p;
            return true;
        }
    }
    return false;
}

#define GR_ATTR_COMPRESSION_MASK 0x07
#define GR_ATTR_TIMESTAMP_TYPE   0x08   /* 1 = LogAppendTime */
#define GR_ATTR_TRANSACTIONAL    0x10
#define GR_ATTR_CONTROL          0x20
#define GR_ATTR_DELETE_HORIZON   0x40   /* KIP-534: baseTimestamp = delete horizon */

enum { GR_COMPRESSION_NONE, GR_COMPRESSION_GZIP, GR_COMPRESSION_SNAPPY,
       GR_COMPRESSION_LZ4, GR_COMPRESSION_ZSTD };

uint32_t gr_crc32c(uint32_t crc, const void *p, size_t n);   /* crc 0 to start */
uint32_t gr_crc32(uint32_t crc, const void *p, size_t n);    /* IEEE, legacy sets */
/* The two CRC-32C implementations, for tests (gr_crc32c picks one). */
uint32_t gr_crc32c_sw(uint32_t crc, const void *p, size_t n);   /* slicing-by-8 */
uint32_t gr_crc32c_hw(uint32_t crc, const void *p, size_t n);   /* SSE4.2; sw if absent */
bool gr_crc32c_hw_available(void);

/* Summary of one validated batch. */
typedef struct gr_batch_info {
    int64_t base_offset;
    int32_t last_offset_delta;
    int64_t first_timestamp;
    int64_t max_timestamp;
    int32_t record_count;
    int16_t attributes;
    int64_t producer_id;
    int32_t size;            /* total bytes, 12 + batchLength */
} gr_batch_info_t;

/* Validate one v2 batch at p (at most avail bytes): magic, lengths, CRC,
 * record count vs lastOffsetDelta (at most lastOffsetDelta+1 records: a
 * batch rewritten by the cleaner may have fewer, an uncompressed one
 * none), compression codec, and (when
 * uncompressed) that the records parse and fill the batch exactly.
 * Returns 0, GR_AGAIN if fewer than a whole batch is available,
 * GR_ECORRUPT for a bad batch.  Does not modify anything. */
int gr_batch_check(const uint8_t *p, size_t avail, gr_batch_info_t *info);

/* Deep validation after gr_batch_check() accepted the batch: for a
 * compressed batch, stream through the decompressed records (a 64 KiB
 * window, never the whole batch) and parse every one; the stream must end
 * right after the last.  Returns 0, GR_ECORRUPT (does not decompress),
 * GR_EINVAL (records do not parse: INVALID_RECORD) or GR_ETOOBIG (it
 * decompresses to more than 256 MiB or than the thread's budget allows).
 * Uncompressed batches were already fully checked and return 0 at once. */
int gr_batch_check_records(const uint8_t *p, const gr_batch_info_t *info);

/* What the records of a batch say, as opposed to its header (which the
 * producer wrote and nothing checks). */
typedef struct gr_batch_recs {
    int64_t max_timestamp;   /* largest record timestamp, -1 when no record has
                              * one (Kafka's maxBatchTimestamp: starts at
                              * NO_TIMESTAMP); for LogAppendTime batches the
                              * header's maxTimestamp, which is every record's */
    bool offsets_in_order;   /* the offset deltas are 0, 1, ..., count-1 */
} gr_batch_recs_t;

/* gr_batch_check() and gr_batch_check_records() that also fill *recs from
 * the records they parse: gr_batch_check_into for an uncompressed batch,
 * gr_batch_check_records_into for a compressed one (call both, in this
 * order, as gr_log_append does: each walk of the records happens once).
 * Same results as the functions without _into. */
int gr_batch_check_into(const uint8_t *p, size_t avail, gr_batch_info_t *info, gr_batch_recs_t *recs);
int gr_batch_check_records_into(const uint8_t *p, const gr_batch_info_t *info, gr_batch_recs_t *recs);

/* Make the header of a validated batch (whole, at p) agree with its
 * records, as Kafka's LogValidator does for CreateTime batches:
 * maxTimestamp := max_timestamp, and the delete-horizon attribute (the log
 * cleaner's, never a producer's) cleared.  The CRC is recomputed only when
 * something changed.  Returns true when it did. */
bool gr_batch_set_max_timestamp(uint8_t *p, int64_t max_timestamp);

/* Does any v2 batch of a Produce partition's record data carry the
 * transactional attribute?  Walks batch headers only (no CRC check), stops
 * at the first one that is malformed or not v2. */
bool gr_batch_any_transactional(const uint8_t *p, size_t len);

/* What gr_batch_scan() saw in the records. */
typedef struct gr_batch_scan {
    bool null_key;           /* a record without a key */
} gr_batch_scan_t;

/* gr_batch_check_records() that also reports on the records (of
 * uncompressed batches too). */
int gr_batch_scan(const uint8_t *p, const gr_batch_info_t *info, gr_batch_scan_t *scan);
/* Both in one walk: gr_batch_scan (scan may be NULL) and what
 * gr_batch_check_records_into learns (recs, after gr_batch_check_into). */
int gr_batch_scan_into(const uint8_t *p, const gr_batch_info_t *info, gr_batch_scan_t *scan, gr_batch_recs_t *recs);

/* Decompression budget of the calling thread: while set, what validation
 * and up-conversion decompress (gr_batch_scan, gr_batch_check_records,
 * gr_batch_upconvert_legacy) is taken from `bytes`; a batch that needs
 * more than is left fails with GR_ETOOBIG.  The Produce handler sets one
 * per request.  _end() clears it and returns what was left. */
void gr_batch_budget_begin(int64_t bytes);
int64_t gr_batch_budget_end(void);

/* First record of a whole batch (p, size bytes) with timestamp >= ts and
 * offset >= min_offset: its offset and timestamp.  Returns 0, GR_ENOENT when no
 * record qualifies, GR_ECORRUPT when the records cannot be read, GR_ETOOBIG
 * when reading up to the record exceeds the thread's decompression budget.
 * A compressed batch is streamed, up to the record found.  LogAppendTime
 * batches answer with the base offset and maxTimestamp. */
int gr_batch_find_timestamp(const uint8_t *p, size_t size, int64_t ts, int64_t min_offset,
                            int64_t *offset, int64_t *found_ts);

/* Assign offsets in place: rewrite baseOffset and partitionLeaderEpoch
 * (both outside the CRC).  When log_append_time >= 0, set the timestamp
 * type bit and maxTimestamp and recompute the CRC. */
void gr_batch_assign(uint8_t *p, int64_t base_offset, int32_t leader_epoch, int64_t log_append_time);

/* Read helpers on a stored batch. */
int64_t gr_batch_base_offset(const uint8_t *p);
int32_t gr_batch_size(const uint8_t *p);          /* 12 + batchLength; -1 if that overflows */

/* Up-convert a legacy message set (magic 0 or 1; uncompressed, gzip,
 * snappy or lz4) into one v2 batch in a new malloc'ed buffer of at most
 * max_out bytes (the log's max.message.bytes: gregord stores the batch
 * uncompressed).  Returns 0, GR_ECORRUPT, GR_EINVAL (unsupported codec) or
 * GR_ETOOBIG (a message of the set, or the converted batch, would exceed
 * max_out; found before anything of that size is allocated). */
int gr_batch_upconvert_legacy(const uint8_t *p, size_t len, size_t max_out, uint8_t **out, size_t *out_len);

/* ---- building batches (coordinator records, compaction) ----
 * An uncompressed v2 batch built record by record into a gr_wr_t-free
 * growable buffer.  baseOffset is 0 (the log assigns it on append) unless
 * set; records carry offset deltas 0..n-1 unless given explicitly. */
typedef struct gr_batch_builder {
    uint8_t *buf;            /* owned, malloc'ed */
    size_t len, cap;
    int32_t count;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int32_t last_offset_delta;
} gr_batch_builder_t;

void gr_batch_builder_init(gr_batch_builder_t *b, int64_t base_offset, int64_t base_timestamp);
/* Append a record; key/value NULL = null (value NULL = tombstone).
 * offset_delta < 0 means "next" (count so far). */
void gr_batch_builder_add(gr_batch_builder_t *b, int32_t offset_delta, int64_t timestamp, const void *key,
                          int32_t key_len, const void *value, int32_t value_len);
/* Finish: fill the header (lastOffsetDelta, timestamps, count, CRC).
 * attributes: timestamp type / control bits (no compression).
 * Returns the batch; ownership stays with the builder until _free. */
uint8_t *gr_batch_builder_finish(gr_batch_builder_t *b, int16_t attributes, int64_t producer_id,
                                 int16_t producer_epoch, int32_t base_sequence, size_t *len);
void gr_batch_builder_free(gr_batch_builder_t *b);

/* ---- transaction markers (Kafka's EndTransactionMarker) ----
 * A COMMIT or ABORT marker is a control batch (attributes transactional |
 * control, baseSequence -1) of one record, the broker's only:
 *
 *   key   int16 version (0) | int16 type (0 = ABORT, 1 = COMMIT)
 *   value int16 version (0) | int32 coordinatorEpoch
 *
 * gr_batch_build_marker: such a batch (baseOffset 0) in a malloc'ed buffer
 * of *len bytes. */
#define GR_MARKER_ABORT 0
#define GR_MARKER_COMMIT 1
uint8_t *gr_batch_build_marker(int64_t producer_id, int16_t producer_epoch, int32_t coordinator_epoch, bool commit,
                               int64_t timestamp, size_t *len);
/* The marker of a whole control batch p of `size` bytes: 0 with *type
 * (GR_MARKER_*, or another control type) and *coordinator_epoch (-1 when
 * the record has no marker value), GR_ENOENT for a control batch without
 * records (emptied by the cleaner), GR_ECORRUPT when it does not parse. */
int gr_batch_control_marker(const uint8_t *p, size_t size, int16_t *type, int32_t *coordinator_epoch,
                            int64_t *timestamp);
/* Append a record with its headers: `headers` is the encoded header
 * array after headerCount (header_count entries, headers_len bytes), as
 * gr_rec_iter_next() returns it.  Otherwise as gr_batch_builder_add(). */
void gr_batch_builder_add_record(gr_batch_builder_t *b, int32_t offset_delta, int64_t timestamp,
                                 const void *key, int32_t key_len, const void *value, int32_t value_len,
                                 const uint8_t *headers, size_t headers_len, int32_t header_count);

/* ---- reading records: the one record iterator ----
 * Every reader of the records of a stored batch (the log cleaner, the
 * coordinator's loader, tests, fuzz targets) walks them with
 * gr_rec_iter_t, which shares its record parser with validation (batch.c):
 *
 *     gr_rec_iter_t it;
 *     gr_record_t r;
 *     int rc;
 *     gr_rec_iter_open(&it, batch, &info);        (info from gr_batch_check)
 *     while ((rc = gr_rec_iter_next(&it, &r)) > 0)
 *         use r (its pointers are valid until the next call);
 *     gr_rec_iter_close(&it);
 *     rc: 0 = every record read, else GR_ECORRUPT or GR_ETOOBIG
 *
 * A compressed batch is never inflated whole: the records stream through
 * a 64 KiB window refilled from a decompression stream (compress.h), so
 * the memory an iterator costs is the window, the codec's state, and the
 * largest record longer than the window (assembled whole, so that a
 * record's fields are always contiguous); never anything per record.  An
 * uncompressed batch is read in place.  Decompression stops past 256 MiB,
 * or past the calling thread's budget (gr_batch_budget_begin) when one is
 * set, which the iterator's output is charged to on close. */
typedef struct gr_record {
    int64_t timestamp_delta;     /* timestamp = gr_add_wrap(baseTimestamp, this) */
    int32_t offset_delta;        /* 0..lastOffsetDelta */
    const uint8_t *key;          /* NULL when key_len == -1 */
    int32_t key_len;
    const uint8_t *value;        /* NULL when value_len == -1 (tombstone) */
    int32_t value_len;
    const uint8_t *headers;      /* encoded headers after headerCount */
    size_t headers_len;
    int32_t header_count;
} gr_record_t;

/* The records of one batch as a byte stream: in place when uncompressed,
 * else a window refilled from a decompression stream.  Private to batch.c
 * (validation uses it with a per-thread window). */
typedef struct gr_rec_cursor {
    const uint8_t *p, *end;      /* unread bytes of the window */
    const uint8_t *start;        /* window start, at stream offset base */
    uint64_t base;
    gr_dstream_t *ds;            /* NULL: [p, end) is all there is */
    uint8_t *win;                /* the window when ds */
    int err;                     /* the stream's error, once it failed */
} gr_rec_cursor_t;

/* An iterator over the records of one whole, checked batch.  Fields are
 * private; owned by the caller (usually on its stack), which must close
 * what it opened.  The batch bytes must outlive it. */
typedef struct gr_rec_iter {
    gr_rec_cursor_t cur;
    gr_dstream_t ds;
    uint8_t *win;                /* owned, compressed batches only */
    gr_buf_t big;                /* a record longer than the window */
    int32_t left;                /* records still to read */
    int32_t last_delta;
    int state;                   /* 0 reading, 1 at the end, < 0 the error */
} gr_rec_iter_t;

/* Start reading the records of batch p (whole, checked: info from
 * gr_batch_check).  Never fails: a batch whose records cannot be read
 * reports it from gr_rec_iter_next. */
void gr_rec_iter_open(gr_rec_iter_t *it, const uint8_t *p, const gr_batch_info_t *info);
/* The next record into *r.  Returns 1 with a record, 0 once recordCount
 * records were read and the record area (or decompressed stream) ends
 * exactly after the last; GR_ECORRUPT for a record that does not parse,
 * an offset delta outside 0..lastOffsetDelta, bytes left over or a bad
 * compressed stream; GR_ETOOBIG when the records decompress to more than
 * allowed.  After 0 or an error, returns the same again. */
int gr_rec_iter_next(gr_rec_iter_t *it, gr_record_t *r);
/* Release what the iterator holds (idempotent). */
void gr_rec_iter_close(gr_rec_iter_t *it);

#endif
