/*
 * fuzz_batch.c - libFuzzer target for record batches as a producer sends
 * them: gr_batch_check, gr_batch_check_records (decompression and record
 * parsing), the record iterator, timestamp search, offset assignment,
 * legacy (magic 0/1) up-conversion, and gr_decompress on the record area
 * whatever the CRC says.
 *
 * Input: the bytes of a Produce partition's `records` field (one or more
 * v2 batches, or a legacy message set).
 *
 * Properties checked:
 *  - a batch gr_batch_check and gr_batch_check_records accept yields
 *    exactly recordCount records through the record iterator, with offset
 *    deltas in 0..lastOffsetDelta, when its deltas are in order (as
 *    gr_log_append requires: validation leaves that check to it);
 *  - gr_batch_assign keeps a checked batch valid;
 *  - an up-converted legacy set is a valid v2 batch no larger than allowed.
 */
#include "fuzz.h"

#include "batch.h"
#include "compress.h"

#define BATCH_MAX_OUT (4u << 20)

static gr_buf_t batch_dec;

/* Read every record of an accepted batch; in_order: its offset deltas
 * are 0..count-1 (gr_batch_check_records_into said so). */
static void batch_records(const uint8_t *p, const gr_batch_info_t *info, bool in_order)
{
    gr_rec_iter_t it;
    gr_record_t rec;
    int32_t i = 0;
    int rc;
    gr_rec_iter_open(&it, p, info);
    while ((rc = gr_rec_iter_next(&it, &rec)) > 0) {
        FUZZ_CHECK(rec.offset_delta >= 0 && rec.offset_delta <= info->last_offset_delta);
        FUZZ_CHECK(rec.key_len >= -1 && rec.value_len >= -1);
        FUZZ_CHECK((rec.key == NULL) == (rec.key_len < 0) && (rec.value == NULL) == (rec.value_len < 0));
        i++;
    }
    gr_rec_iter_close(&it);
    if (in_order && (rc != 0 || i != info->record_count)) {
        fprintf(stderr, "record %d of %d does not read (%d) after the batch was accepted\n", i,
                info->record_count, rc);
        abort();
    }
    FUZZ_CHECK(rc == 0 || rc == GR_ECORRUPT);
}

static void batch_one(const uint8_t *p, size_t avail)
{
    gr_batch_info_t info;
    if (gr_batch_check(p, avail, &info) != 0)
        return;
    FUZZ_CHECK(info.size >= GR_BATCH_HEADER_SIZE && (size_t)info.size <= avail);
    FUZZ_CHECK(gr_batch_size(p) == info.size);
    int rc = gr_batch_check_records(p, &info);
    FUZZ_CHECK(rc == 0 || rc == GR_ECORRUPT || rc == GR_EINVAL || rc == GR_ETOOBIG);
    if (rc != 0)
        return;

    int64_t off, ts;
    rc = gr_batch_find_timestamp(p, (size_t)info.size, info.first_timestamp, info.base_offset, &off, &ts);
    FUZZ_CHECK(rc == 0 || rc == GR_ENOENT || rc == GR_ECORRUPT);

    uint8_t *copy = gr_malloc((size_t)info.size);
    memcpy(copy, p, (size_t)info.size);
    gr_batch_assign(copy, 1000, 7, (info.attributes & 1) ? 1700000000000LL : -1);
    gr_batch_info_t again;
    FUZZ_CHECK(gr_batch_check(copy, (size_t)info.size, &again) == 0);
    FUZZ_CHECK(again.base_offset == 1000 && again.record_count == info.record_count);

    /* the header made to say what the records say, as gr_log_append does */
    gr_batch_recs_t rs;
    FUZZ_CHECK(gr_batch_check_into(p, avail, &again, &rs) == 0);
    FUZZ_CHECK(gr_batch_check_records_into(p, &again, &rs) == 0);
    FUZZ_CHECK(rs.max_timestamp >= -1 || (info.attributes & GR_ATTR_TIMESTAMP_TYPE));
    batch_records(p, &info, rs.offsets_in_order);
    memcpy(copy, p, (size_t)info.size);
    gr_batch_set_max_timestamp(copy, rs.max_timestamp);
    FUZZ_CHECK(gr_batch_check(copy, (size_t)info.size, &again) == 0);
    FUZZ_CHECK(again.max_timestamp == rs.max_timestamp && !(again.attributes & GR_ATTR_DELETE_HORIZON));
    FUZZ_CHECK(!gr_batch_set_max_timestamp(copy, rs.max_timestamp));
    free(copy);
}

int fuzz_batch_one(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    (void)gr_batch_any_transactional(data, size);
    /* every batch of the input, as gr_log_append walks them */
    size_t pos = 0;
    while (pos + GR_BATCH_LOG_OVERHEAD <= size) {
        batch_one(data + pos, size - pos);
        int32_t sz = gr_batch_size(data + pos);
        if (sz <= GR_BATCH_LOG_OVERHEAD || (size_t)sz > size - pos)
            break;
        pos += (size_t)sz;
    }

    /* the codec of the record area, whatever the CRC says */
    if (size > GR_BATCH_HEADER_SIZE) {
        int codec = data[GR_BOFF_ATTRIBUTES + 1] & GR_ATTR_COMPRESSION_MASK;
        int rc = gr_decompress(codec, data + GR_BATCH_HEADER_SIZE, size - GR_BATCH_HEADER_SIZE, &batch_dec,
                               BATCH_MAX_OUT);
        FUZZ_CHECK(rc == 0 || rc == GR_ECORRUPT || rc == GR_EINVAL || rc == GR_ETOOBIG);
        FUZZ_CHECK(rc != 0 || batch_dec.len <= BATCH_MAX_OUT);
    }

    /* legacy message sets */
    if (size > 16 && data[16] < 2) {
        uint8_t *out = NULL;
        size_t out_len = 0;
        int rc = gr_batch_upconvert_legacy(data, size, BATCH_MAX_OUT, &out, &out_len);
        FUZZ_CHECK(rc == 0 || rc == GR_ECORRUPT || rc == GR_EINVAL || rc == GR_ETOOBIG);
        FUZZ_CHECK(rc != 0 || out_len <= BATCH_MAX_OUT);
        if (rc == 0) {
            gr_batch_info_t info;
            FUZZ_CHECK(gr_batch_check(out, out_len, &info) == 0);
            FUZZ_CHECK((size_t)info.size == out_len);
            FUZZ_CHECK(gr_batch_check_records(out, &info) == 0);
            batch_records(out, &info, true);
            free(out);
        }
    }
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_batch_one(data, size);
}
#endif
