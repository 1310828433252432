/*
 * batch_build.c - building uncompressed RecordBatch v2 (layout in batch.c)
 * record by record: the coordinator's __consumer_offsets records and the
 * log cleaner's rewritten batches.
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

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
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
    put_be(b->buf + GR_BOFF_BASE_OFFSET, (uint64_t)base_offset, 8);
    b->len = GR_BATCH_HEADER_SIZE;
    b->base_timestamp = base_timestamp;
    b->max_timestamp = base_timestamp;
    b->last_offset_delta = -1;
}

void gr_batch_builder_add(gr_batch_builder_t *b, int32_t offset_delta, int64_t timestamp, const void *key,
                          int32_t key_len, const void *value, int32_t value_len)
{
    if (offset_delta < 0)
        offset_delta = b->last_offset_delta + 1;
    if (!key)
        key_len = -1;
    if (!value)
        value_len = -1;
    uint8_t hdr[64];
    size_t h = 0;
    hdr[h++] = 0;                                            /* attributes */
    h += put_varint(hdr + h, timestamp - b->base_timestamp); /* timestampDelta */
    h += put_varint(hdr + h, offset_delta);                  /* offsetDelta */
    h += put_varint(hdr + h, key_len);
    size_t body = h + (key_len > 0 ? (size_t)key_len : 0);
    uint8_t vlen[10];
    size_t vl = put_varint(vlen, value_len);
    body += vl + (value_len > 0 ? (size_t)value_len : 0) + 1; /* + headerCount 0 */
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
    *p++ = 0;                                                /* headerCount */
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
    put_be(p + GR_BOFF_LENGTH, (uint64_t)(b->len - GR_BATCH_LOG_OVERHEAD), 4);
    put_be(p + GR_BOFF_LEADER_EPOCH, 0, 4);
    p[GR_BOFF_MAGIC] = 2;
    put_be(p + GR_BOFF_ATTRIBUTES, (uint16_t)(attributes & ~GR_ATTR_COMPRESSION_MASK), 2);
    put_be(p + GR_BOFF_LAST_DELTA, (uint32_t)(b->last_offset_delta < 0 ? 0 : b->last_offset_delta), 4);
    put_be(p + GR_BOFF_BASE_TS, (uint64_t)b->base_timestamp, 8);
    put_be(p + GR_BOFF_MAX_TS, (uint64_t)b->max_timestamp, 8);
    put_be(p + GR_BOFF_PRODUCER_ID, (uint64_t)producer_id, 8);
    put_be(p + GR_BOFF_PRODUCER_EPOCH, (uint16_t)producer_epoch, 2);
    put_be(p + GR_BOFF_BASE_SEQ, (uint32_t)base_sequence, 4);
    put_be(p + GR_BOFF_RECORD_COUNT, (uint32_t)b->count, 4);
    uint32_t crc = gr_crc32c(0, p + GR_BOFF_ATTRIBUTES, b->len - GR_BOFF_ATTRIBUTES);
    put_be(p + GR_BOFF_CRC, crc, 4);
    *len = b->len;
    return b->buf;
}

void gr_batch_builder_free(gr_batch_builder_t *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
}
