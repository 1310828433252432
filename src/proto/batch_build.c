/*
 * batch_build.c - building uncompressed RecordBatch v2 (layout in batch.c)
 * record by record: the coordinator's __consumer_offsets records and the
 * log cleaner's rewritten batches.  Records are read with the iterator of
 * batch.c (gr_rec_iter_*).
 */
#include "batch.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

static void ensure(gr_batch_builder_t *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    b->buf = gr_realloc(b->buf, cap);
    b->cap = cap;
}

static size_t put_varint(uint8_t *p, int64_t v)
{
    return gr_varlong_encode(p, v);
}

void gr_batch_builder_init(gr_batch_builder_t *b, int64_t base_offset, int64_t base_timestamp)
{
    memset(b, 0, sizeof(*b));
    ensure(b, GR_BATCH_HEADER_SIZE);
    memset(b->buf, 0, GR_BATCH_HEADER_SIZE);
    gr_put64(b->buf + GR_BOFF_BASE_OFFSET, (uint64_t)base_offset);
    b->len = GR_BATCH_HEADER_SIZE;
    b->base_timestamp = base_timestamp;
    b->max_timestamp = base_timestamp;
    b->last_offset_delta = -1;
}

void gr_batch_builder_add(gr_batch_builder_t *b, int32_t offset_delta, int64_t timestamp, const void *key,
                          int32_t key_len, const void *value, int32_t value_len)
{
    gr_batch_builder_add_record(b, offset_delta, timestamp, key, key_len, value, value_len, NULL, 0, 0);
}

void gr_batch_builder_add_record(gr_batch_builder_t *b, int32_t offset_delta, int64_t timestamp,
                                 const void *key, int32_t key_len, const void *value, int32_t value_len,
                                 const uint8_t *headers, size_t headers_len, int32_t header_count)
{
    if (offset_delta < 0)
        offset_delta = b->last_offset_delta + 1;
    if (!key)
        key_len = -1;
    if (!value)
        value_len = -1;
    if (header_count <= 0 || !headers) {
        header_count = 0;
        headers_len = 0;
    }
    uint8_t hdr[64];
    size_t h = 0;
    hdr[h++] = 0;                                            /* attributes */
    h += put_varint(hdr + h, gr_sub_wrap(timestamp, b->base_timestamp)); /* timestampDelta (wraps as Java's) */
    h += put_varint(hdr + h, offset_delta);                  /* offsetDelta */
    h += put_varint(hdr + h, key_len);
    size_t body = h + (key_len > 0 ? (size_t)key_len : 0);
    uint8_t vlen[10], hcnt[10];
    size_t vl = put_varint(vlen, value_len);
    size_t hl = put_varint(hcnt, header_count);
    body += vl + (value_len > 0 ? (size_t)value_len : 0) + hl + headers_len;
    uint8_t lenbuf[10];
    size_t ll = put_varint(lenbuf, (int64_t)body);
    ensure(b, ll + body);
    uint8_t *p = b->buf + b->len;
    memcpy(p, lenbuf, ll);
    p += ll;
    memcpy(p, hdr, h);
    p += h;
    if (key_len > 0) {
        memcpy(p, key, (size_t)key_len);
        p += key_len;
    }
    memcpy(p, vlen, vl);
    p += vl;
    if (value_len > 0) {
        memcpy(p, value, (size_t)value_len);
        p += value_len;
    }
    memcpy(p, hcnt, hl);                                     /* headerCount */
    p += hl;
    if (headers_len > 0) {
        memcpy(p, headers, headers_len);
        p += headers_len;
    }
    b->len = (size_t)(p - b->buf);
    b->count++;
    b->last_offset_delta = offset_delta;
    if (timestamp > b->max_timestamp)
        b->max_timestamp = timestamp;
}

uint8_t *gr_batch_builder_finish(gr_batch_builder_t *b, int16_t attributes, int64_t producer_id,
                                 int16_t producer_epoch, int32_t base_sequence, size_t *len)
{
    uint8_t *p = b->buf;
    gr_put32(p + GR_BOFF_LENGTH, (uint32_t)(b->len - GR_BATCH_LOG_OVERHEAD));
    gr_put32(p + GR_BOFF_LEADER_EPOCH, (uint32_t)0);
    p[GR_BOFF_MAGIC] = 2;
    gr_put16(p + GR_BOFF_ATTRIBUTES, (uint16_t)(attributes & ~GR_ATTR_COMPRESSION_MASK));
    gr_put32(p + GR_BOFF_LAST_DELTA, (uint32_t)(b->last_offset_delta < 0 ? 0 : b->last_offset_delta));
    gr_put64(p + GR_BOFF_BASE_TS, (uint64_t)b->base_timestamp);
    gr_put64(p + GR_BOFF_MAX_TS, (uint64_t)b->max_timestamp);
    gr_put64(p + GR_BOFF_PRODUCER_ID, (uint64_t)producer_id);
    gr_put16(p + GR_BOFF_PRODUCER_EPOCH, (uint16_t)producer_epoch);
    gr_put32(p + GR_BOFF_BASE_SEQ, (uint32_t)base_sequence);
    gr_put32(p + GR_BOFF_RECORD_COUNT, (uint32_t)b->count);
    uint32_t crc = gr_crc32c(0, p + GR_BOFF_ATTRIBUTES, b->len - GR_BOFF_ATTRIBUTES);
    gr_put32(p + GR_BOFF_CRC, (uint32_t)crc);
    *len = b->len;
    return b->buf;
}

void gr_batch_builder_free(gr_batch_builder_t *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}

uint8_t *gr_batch_build_marker(int64_t producer_id, int16_t producer_epoch, int32_t coordinator_epoch, bool commit,
                               int64_t timestamp, size_t *len)
{
    uint8_t key[4], value[6];
    gr_put16(key, 0);
    gr_put16(key + 2, commit ? GR_MARKER_COMMIT : GR_MARKER_ABORT);
    gr_put16(value, 0);
    gr_put32(value + 2, (uint32_t)coordinator_epoch);
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, timestamp);
    gr_batch_builder_add(&b, 0, timestamp, key, sizeof(key), value, sizeof(value));
    size_t n;
    uint8_t *p = gr_batch_builder_finish(&b, GR_ATTR_TRANSACTIONAL | GR_ATTR_CONTROL, producer_id, producer_epoch, -1,
                                         &n);
    uint8_t *out = gr_malloc(n);
    memcpy(out, p, n);
    gr_batch_builder_free(&b);
    *len = n;
    return out;
}

int gr_batch_control_marker(const uint8_t *p, size_t size, int16_t *type, int32_t *coordinator_epoch,
                            int64_t *timestamp)
{
    gr_batch_info_t bi;
    gr_rec_iter_t it;
    gr_record_t r;
    if (gr_batch_check(p, size, &bi) < 0 || !(bi.attributes & GR_ATTR_CONTROL))
        return GR_ECORRUPT;
    gr_rec_iter_open(&it, p, &bi);
    int rc = gr_rec_iter_next(&it, &r);
    if (rc > 0) {
        /* ControlRecordType.parse / EndTransactionMarker.deserialize */
        if (r.key_len < 4 || (int16_t)gr_be16(r.key) < 0) {
            rc = GR_ECORRUPT;
        } else {
            *type = (int16_t)gr_be16(r.key + 2);
            *coordinator_epoch = r.value_len >= 6 ? (int32_t)gr_be32(r.value + 2) : -1;
            *timestamp = gr_add_wrap((int64_t)gr_be64(p + GR_BOFF_BASE_TS), r.timestamp_delta);
            rc = 0;
        }
    } else {
        rc = rc == 0 ? GR_ENOENT : GR_ECORRUPT;
    }
    gr_rec_iter_close(&it);
    return rc;
}
