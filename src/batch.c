/*
 * batch.c - RecordBatch v2: validation, offset assignment, and up-conversion
 * of legacy (magic 0/1) message sets.
 *
 * Validation walks records in place and never allocates for uncompressed
 * batches; compressed batches are inflated into one reused per-thread
 * buffer.  Nothing here touches files or broker state.
 *
 * A producer writes the whole header; what the broker keeps from it is
 * what the records confirm: maxTimestamp is recomputed from the records
 * (the _into validators, gr_batch_set_max_timestamp) before the
 * segment's largest timestamp, its time index and retention see it, and a
 * record's timestamp (baseTimestamp + timestampDelta, both any int64)
 * wraps as a Java long does.
 *
 * RecordBatch v2 (all integers big-endian):
 *
 *   offset  size  field                  notes
 *   ------  ----  ---------------------  ----------------------------------
 *   0       8     baseOffset             assigned by the broker
 *   8       4     batchLength            bytes after this field (>= 49)
 *   12      4     partitionLeaderEpoch   assigned by the broker
 *   16      1     magic                  2
 *   17      4     crc                    CRC-32C of bytes 21..end
 *   21      2     attributes             0-2 codec, 3 LogAppendTime,
 *                                        4 transactional, 5 control,
 *                                        6 delete horizon: baseTimestamp
 *                                        is the time after which the
 *                                        cleaner drops its tombstones
 *   23      4     lastOffsetDelta        recordCount - 1 unless compacted
 *   27      8     baseTimestamp
 *   35      8     maxTimestamp
 *   43      8     producerId             -1 when not idempotent
 *   51      2     producerEpoch
 *   53      4     baseSequence
 *   57      4     recordCount            plaintext even when compressed
 *   61      ...   records                compressed as a whole if codec != 0
 *
 * Record (varints are zig-zag LEB128):
 *
 *   length varint | attributes int8 | timestampDelta varlong |
 *   offsetDelta varint | keyLength varint (-1 null) | key |
 *   valueLength varint (-1 null) | value | headerCount varint |
 *   [ headerKeyLength varint | headerKey | headerValueLength varint | value ]*
 *
 * Legacy message (magic 0/1), a message set is a sequence of these:
 *
 *   offset  size  field
 *   ------  ----  ---------------------------------------------------
 *   0       8     offset   (v1 compressed wrapper: offset of last inner)
 *   8       4     messageSize (bytes after this field)
 *   12      4     crc      CRC-32 (IEEE) of bytes 16..end
 *   16      1     magic    0 or 1
 *   17      1     attributes (0-2 codec, 3 LogAppendTime for v1)
 *   18      8     timestamp (v1 only)
 *   ..      4+n   key   (int32 length, -1 null)
 *   ..      4+n   value (int32 length, -1 null; compressed inner set)
 */
#include "batch.h"
#include "compress.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DECOMPRESSED (256u << 20)

static _Thread_local gr_buf_t scratch;

/* zig-zag varint of at most maxb bytes; false on overrun or overlong */
static inline bool rd_varint(const uint8_t **pp, const uint8_t *end, int maxb, int64_t *out)
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

/* a varint length (-1 = null allowed when nullable) followed by its bytes */
static inline bool skip_field(const uint8_t **pp, const uint8_t *end, bool nullable)
{
    int64_t n;
    if (!rd_varint(pp, end, 5, &n))
        return false;
    if (n < 0)
        return nullable && n == -1;
    if (n > end - *pp)
        return false;
    *pp += n;
    return true;
}

/* One record at *pp; on success *pp moves past it and ts/off deltas are
 * returned. */
static bool parse_record(const uint8_t **pp, const uint8_t *end, int64_t *ts_delta, int64_t *off_delta)
{
    int64_t len, v, nh;
    const uint8_t *p = *pp;
    if (!rd_varint(&p, end, 5, &len) || len < 0 || len > end - p)
        return false;
    const uint8_t *rend = p + len;
    if (p >= rend)
        return false;
    p++;                                        /* attributes */
    if (!rd_varint(&p, rend, 10, ts_delta) || !rd_varint(&p, rend, 5, &v))
        return false;
    *off_delta = v;
    if (!skip_field(&p, rend, true) || !skip_field(&p, rend, true))
        return false;
    if (!rd_varint(&p, rend, 5, &nh) || nh < 0)
        return false;
    for (int64_t i = 0; i < nh; i++)
        if (!skip_field(&p, rend, false) || !skip_field(&p, rend, true))
            return false;
    if (p != rend)
        return false;
    *pp = rend;
    return true;
}

/* Parse `count` records filling [p, end) exactly; when out is not NULL,
 * also learn what they say (base_ts: the batch's baseTimestamp). */
static bool parse_records(const uint8_t *p, const uint8_t *end, int32_t count, int64_t base_ts,
                          gr_batch_recs_t *out)
{
    int64_t t, o;
    if (out) {
        out->max_timestamp = -1;
        out->offsets_in_order = true;
    }
    for (int32_t i = 0; i < count; i++) {
        if (!parse_record(&p, end, &t, &o))
            return false;
        if (out) {
            int64_t ts = gr_add_wrap(base_ts, t);
            if (ts > out->max_timestamp)
                out->max_timestamp = ts;
            if (o != i)
                out->offsets_in_order = false;
        }
    }
    return p == end;
}

int gr_batch_check(const uint8_t *p, size_t avail, gr_batch_info_t *info)
{
    return gr_batch_check_into(p, avail, info, NULL);
}

int gr_batch_check_into(const uint8_t *p, size_t avail, gr_batch_info_t *info, gr_batch_recs_t *recs)
{
    if (avail < GR_BATCH_LOG_OVERHEAD)
        return GR_AGAIN;
    int32_t blen = (int32_t)gr_be32(p + GR_BOFF_LENGTH);
    if (blen < GR_BATCH_HEADER_SIZE - GR_BATCH_LOG_OVERHEAD || blen > INT32_MAX - GR_BATCH_LOG_OVERHEAD)
        return GR_ECORRUPT;
    if (avail > GR_BOFF_MAGIC && p[GR_BOFF_MAGIC] != 2)
        return GR_ECORRUPT;
    size_t size = (size_t)blen + GR_BATCH_LOG_OVERHEAD;
    if (size > avail)
        return GR_AGAIN;
    uint32_t crc = gr_be32(p + GR_BOFF_CRC);
    if (gr_crc32c(0, p + GR_BOFF_ATTRIBUTES, size - GR_BOFF_ATTRIBUTES) != crc)
        return GR_ECORRUPT;
    int16_t attr = (int16_t)((p[GR_BOFF_ATTRIBUTES] << 8) | p[GR_BOFF_ATTRIBUTES + 1]);
    int codec = attr & GR_ATTR_COMPRESSION_MASK;
    if (codec > GR_COMPRESSION_ZSTD)
        return GR_ECORRUPT;
    int32_t last_delta = (int32_t)gr_be32(p + GR_BOFF_LAST_DELTA);
    int32_t count = (int32_t)gr_be32(p + GR_BOFF_RECORD_COUNT);
    /* A batch written by a producer holds exactly lastOffsetDelta+1
     * records (gr_log_append checks that); one rewritten by the log
     * cleaner may hold fewer, with gaps in its offset deltas. */
    if (count <= 0 || last_delta < 0 || count > last_delta + 1)
        return GR_ECORRUPT;
    if (codec == GR_COMPRESSION_NONE) {
        if (!parse_records(p + GR_BATCH_HEADER_SIZE, p + size, count, (int64_t)gr_be64(p + GR_BOFF_BASE_TS), recs))
            return GR_ECORRUPT;
        if (recs && (attr & GR_ATTR_TIMESTAMP_TYPE))
            recs->max_timestamp = (int64_t)gr_be64(p + GR_BOFF_MAX_TS);
    }
    if (info) {
        info->base_offset = (int64_t)gr_be64(p + GR_BOFF_BASE_OFFSET);
        info->last_offset_delta = last_delta;
        info->first_timestamp = (int64_t)gr_be64(p + GR_BOFF_BASE_TS);
        info->max_timestamp = (int64_t)gr_be64(p + GR_BOFF_MAX_TS);
        info->record_count = count;
        info->attributes = attr;
        info->producer_id = (int64_t)gr_be64(p + GR_BOFF_PRODUCER_ID);
        info->size = (int32_t)size;
    }
    return 0;
}

int gr_batch_check_records(const uint8_t *p, const gr_batch_info_t *info)
{
    return gr_batch_check_records_into(p, info, NULL);
}

int gr_batch_check_records_into(const uint8_t *p, const gr_batch_info_t *info, gr_batch_recs_t *recs)
{
    int codec = info->attributes & GR_ATTR_COMPRESSION_MASK;
    if (codec == GR_COMPRESSION_NONE)
        return 0;                    /* gr_batch_check(_into) parsed them */
    int rc = gr_decompress(codec, p + GR_BATCH_HEADER_SIZE, (size_t)info->size - GR_BATCH_HEADER_SIZE,
                           &scratch, MAX_DECOMPRESSED);
    if (rc < 0)
        return GR_ECORRUPT;
    if (!parse_records(scratch.p, scratch.p + scratch.len, info->record_count, info->first_timestamp, recs))
        return GR_EINVAL;
    if (recs && (info->attributes & GR_ATTR_TIMESTAMP_TYPE))
        recs->max_timestamp = info->max_timestamp;
    return 0;
}

bool gr_batch_set_max_timestamp(uint8_t *p, int64_t max_timestamp)
{
    uint16_t attr = gr_be16(p + GR_BOFF_ATTRIBUTES);
    if ((int64_t)gr_be64(p + GR_BOFF_MAX_TS) == max_timestamp && !(attr & GR_ATTR_DELETE_HORIZON))
        return false;
    gr_put16(p + GR_BOFF_ATTRIBUTES, (uint16_t)(attr & ~GR_ATTR_DELETE_HORIZON));
    gr_put64(p + GR_BOFF_MAX_TS, (uint64_t)max_timestamp);
    size_t size = (size_t)gr_batch_size(p);
    gr_put32(p + GR_BOFF_CRC, gr_crc32c(0, p + GR_BOFF_ATTRIBUTES, size - GR_BOFF_ATTRIBUTES));
    return true;
}

bool gr_batch_any_transactional(const uint8_t *p, size_t len)
{
    for (size_t off = 0; len - off >= GR_BATCH_HEADER_SIZE;) {
        const uint8_t *b = p + off;
        int32_t size = gr_batch_size(b);
        if (b[GR_BOFF_MAGIC] != 2 || size < GR_BATCH_HEADER_SIZE)
            return false;
        if (gr_be16(b + GR_BOFF_ATTRIBUTES) & GR_ATTR_TRANSACTIONAL)
            return true;
        if ((size_t)size > len - off)
            return false;
        off += (size_t)size;
    }
    return false;
}

int gr_batch_find_timestamp(const uint8_t *p, size_t size, int64_t ts, int64_t min_offset,
                            int64_t *offset, int64_t *found_ts)
{
    gr_batch_info_t bi;
    if (gr_batch_check(p, size, &bi) < 0)
        return GR_ECORRUPT;
    if (bi.max_timestamp < ts)
        return GR_ENOENT;
    if (bi.base_offset + bi.last_offset_delta < min_offset)
        return GR_ENOENT;
    if (bi.attributes & GR_ATTR_TIMESTAMP_TYPE) {
        *offset = GR_MAX(bi.base_offset, min_offset);
        *found_ts = bi.max_timestamp;
        return 0;
    }
    const uint8_t *r = p + GR_BATCH_HEADER_SIZE, *end = p + bi.size;
    int codec = bi.attributes & GR_ATTR_COMPRESSION_MASK;
    if (codec != GR_COMPRESSION_NONE) {
        if (gr_decompress(codec, r, (size_t)(end - r), &scratch, MAX_DECOMPRESSED) < 0)
            return GR_ECORRUPT;
        r = scratch.p;
        end = scratch.p + scratch.len;
    }
    for (int32_t i = 0; i < bi.record_count; i++) {
        int64_t td, od;
        if (!parse_record(&r, end, &td, &od))
            return GR_ECORRUPT;
        int64_t t = gr_add_wrap(bi.first_timestamp, td);      /* Java's long arithmetic */
        if (t >= ts && bi.base_offset + od >= min_offset) {
            *offset = bi.base_offset + od;
            *found_ts = t;
            return 0;
        }
    }
    return GR_ENOENT;
}

void gr_batch_assign(uint8_t *p, int64_t base_offset, int32_t leader_epoch, int64_t log_append_time)
{
    gr_put64(p + GR_BOFF_BASE_OFFSET, (uint64_t)base_offset);
    gr_put32(p + GR_BOFF_LEADER_EPOCH, (uint32_t)leader_epoch);
    if (log_append_time >= 0) {
        /* DefaultRecordBatch.setMaxTimestamp: type bit + maxTimestamp, new CRC;
         * baseTimestamp is left alone. */
        uint16_t attr = (uint16_t)((p[GR_BOFF_ATTRIBUTES] << 8) | p[GR_BOFF_ATTRIBUTES + 1]);
        gr_put16(p + GR_BOFF_ATTRIBUTES, attr | GR_ATTR_TIMESTAMP_TYPE);
        gr_put64(p + GR_BOFF_MAX_TS, (uint64_t)log_append_time);
        size_t size = (size_t)gr_batch_size(p);
        gr_put32(p + GR_BOFF_CRC, gr_crc32c(0, p + GR_BOFF_ATTRIBUTES, size - GR_BOFF_ATTRIBUTES));
    }
}

int64_t gr_batch_base_offset(const uint8_t *p)
{
    return (int64_t)gr_be64(p + GR_BOFF_BASE_OFFSET);
}

int32_t gr_batch_size(const uint8_t *p)
{
    /* unchecked input: a batchLength near INT32_MAX has no int32 size */
    int32_t blen = (int32_t)gr_be32(p + GR_BOFF_LENGTH);
    return blen > INT32_MAX - GR_BATCH_LOG_OVERHEAD ? -1 : blen + GR_BATCH_LOG_OVERHEAD;
}

/* ------------------------------------------------------- legacy sets */

typedef struct upconv {
    gr_buf_t out;            /* the v2 batch being built */
    int32_t count;
    int64_t base_ts;
    int64_t max_ts;
    bool log_append_time;
} upconv_t;

static size_t wr_varint(uint8_t *p, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (u >= 0x80) {
        p[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    p[n++] = (uint8_t)u;
    return n;
}

static size_t varint_len(int64_t v)
{
    uint8_t tmp[10];
    return wr_varint(tmp, v);
}

static void add_record(upconv_t *u, int64_t ts, const uint8_t *key, int32_t klen,
                       const uint8_t *val, int32_t vlen)
{
    if (u->count == 0)
        u->base_ts = ts;
    if (ts > u->max_ts)
        u->max_ts = ts;
    int64_t tsd = (ts >= 0 && u->base_ts >= 0) ? ts - u->base_ts : 0;
    size_t body = 1 + varint_len(tsd) + varint_len(u->count) +
                  varint_len(klen) + (klen > 0 ? (size_t)klen : 0) +
                  varint_len(vlen) + (vlen > 0 ? (size_t)vlen : 0) + 1;
    gr_buf_reserve(&u->out, u->out.len + body + 10);
    uint8_t *p = u->out.p + u->out.len;
    p += wr_varint(p, (int64_t)body);
    *p++ = 0;
    p += wr_varint(p, tsd);
    p += wr_varint(p, u->count);
    p += wr_varint(p, klen);
    if (klen > 0) {
        memcpy(p, key, (size_t)klen);
        p += klen;
    }
    p += wr_varint(p, vlen);
    if (vlen > 0) {
        memcpy(p, val, (size_t)vlen);
        p += vlen;
    }
    *p++ = 0;                                   /* no headers */
    u->out.len = (size_t)(p - u->out.p);
    u->count++;
}

static int legacy_set(upconv_t *u, const uint8_t *p, size_t len, int depth, int64_t wrapper_ts)
{
    size_t pos = 0;
    int rc = 0;
    gr_buf_t inner = {0};
    while (pos < len) {
        if (len - pos < 12 + 14)
            goto corrupt;
        int32_t msize = (int32_t)gr_be32(p + pos + 8);
        if (msize < 14 || (size_t)msize > len - pos - 12)
            goto corrupt;
        const uint8_t *m = p + pos + 12, *end = m + msize;
        if (gr_crc32(0, m + 4, (size_t)msize - 4) != gr_be32(m))
            goto corrupt;
        int magic = m[4], attr = m[5];
        const uint8_t *q = m + 6;
        int64_t ts = -1;
        if (magic == 1) {
            if (end - q < 8)
                goto corrupt;
            ts = (int64_t)gr_be64(q);
            q += 8;
            if (attr & 0x08)
                u->log_append_time = true;
        } else if (magic != 0) {
            goto corrupt;
        }
        if (depth > 0 && wrapper_ts >= 0)
            ts = wrapper_ts;        /* inner messages of a LogAppendTime wrapper */
        if (end - q < 4)
            goto corrupt;
        int32_t klen = (int32_t)gr_be32(q);
        q += 4;
        if (klen < -1 || klen > end - q)
            goto corrupt;
        const uint8_t *key = q;
        q += klen > 0 ? klen : 0;
        if (end - q < 4)
            goto corrupt;
        int32_t vlen = (int32_t)gr_be32(q);
        q += 4;
        if (vlen == -1 ? q != end : vlen != end - q)
            goto corrupt;
        int codec = attr & 0x07;
        if (codec == GR_COMPRESSION_NONE) {
            add_record(u, ts, key, klen, q, vlen);
        } else {
            if (depth > 0 || vlen < 0)
                goto corrupt;
            if (codec > GR_COMPRESSION_LZ4) {
                rc = GR_EINVAL;
                goto out;
            }
            rc = gr_decompress(codec, q, (size_t)vlen, &inner, MAX_DECOMPRESSED);
            if (rc < 0)
                goto out;
            rc = legacy_set(u, inner.p, inner.len, depth + 1,
                            (magic == 1 && (attr & 0x08)) ? ts : -1);
            if (rc < 0)
                goto out;
        }
        pos += 12 + (size_t)msize;
    }
    goto out;
corrupt:
    /* every exit frees `inner`: a bad message after a compressed wrapper
     * leaked the wrapper's decompressed set */
    rc = GR_ECORRUPT;
out:
    gr_buf_free(&inner);
    return rc;
}

int gr_batch_upconvert_legacy(const uint8_t *p, size_t len, uint8_t **out, size_t *out_len)
{
    upconv_t u = {.base_ts = -1, .max_ts = -1};
    gr_buf_reserve(&u.out, GR_BATCH_HEADER_SIZE + len + 64);
    u.out.len = GR_BATCH_HEADER_SIZE;
    int rc = legacy_set(&u, p, len, 0, -1);
    if (rc == 0 && u.count == 0)
        rc = GR_ECORRUPT;
    if (rc == 0 && u.out.len > INT32_MAX)
        rc = GR_ECORRUPT;
    if (rc < 0) {
        gr_buf_free(&u.out);
        return rc;
    }
    uint8_t *b = u.out.p;
    gr_put64(b + GR_BOFF_BASE_OFFSET, 0);
    gr_put32(b + GR_BOFF_LENGTH, (uint32_t)(u.out.len - GR_BATCH_LOG_OVERHEAD));
    gr_put32(b + GR_BOFF_LEADER_EPOCH, (uint32_t)-1);
    b[GR_BOFF_MAGIC] = 2;
    gr_put16(b + GR_BOFF_ATTRIBUTES, u.log_append_time ? GR_ATTR_TIMESTAMP_TYPE : 0);
    gr_put32(b + GR_BOFF_LAST_DELTA, (uint32_t)(u.count - 1));
    gr_put64(b + GR_BOFF_BASE_TS, (uint64_t)u.base_ts);
    gr_put64(b + GR_BOFF_MAX_TS, (uint64_t)u.max_ts);
    gr_put64(b + GR_BOFF_PRODUCER_ID, (uint64_t)-1);
    gr_put16(b + GR_BOFF_PRODUCER_EPOCH, (uint16_t)-1);
    gr_put32(b + GR_BOFF_BASE_SEQ, (uint32_t)-1);
    gr_put32(b + GR_BOFF_RECORD_COUNT, (uint32_t)u.count);
    gr_put32(b + GR_BOFF_CRC, gr_crc32c(0, b + GR_BOFF_ATTRIBUTES, u.out.len - GR_BOFF_ATTRIBUTES));
    *out = b;
    *out_len = u.out.len;
    return 0;
}
