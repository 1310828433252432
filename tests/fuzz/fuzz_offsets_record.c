/*
 * fuzz_offsets_record.c - libFuzzer target for the __consumer_offsets
 * record decoders the group coordinator's replay runs (coord.c
 * shard_replay, group.c gr_group_load_metadata): an int16 version prefix,
 * then OffsetCommitKey (v0/v1) / OffsetCommitValue (v0-v4) or
 * GroupMetadataKey (v2) / GroupMetadataValue (v0-v4) from schema_gen.c,
 * with the same version checks as the replay.  Records are split here with
 * the record iterator of batch.c (gr_rec_iter_*) over a batch header put
 * around the area, as the coordinator runtime splits them.
 *
 * Input layout:
 *   byte 0, bit 0 clear: the rest is a record area (the records of an
 *            uncompressed batch, as stored in a __consumer_offsets segment);
 *   byte 0, bit 0 set:   uint16 key_len, key, then the value (bit 1 set:
 *            the value is null, a tombstone).
 *
 * Property checked: a key or value that decodes re-encodes, and the
 * re-encoding decodes and re-encodes to the same bytes.
 */
#include "fuzz.h"

#include "arena.h"
#include "batch.h"
#include "schema_gen.h"
#include "wire.h"

static gr_arena_t ofs_arena;

#define OFS_ROUNDTRIP(T, ver, m)                                                              \
    do {                                                                                      \
        gr_wr_t w1_, w2_;                                                                     \
        gr_wr_init(&w1_);                                                                     \
        gr_##T##_encode(&w1_, (ver), (m));                                                    \
        size_t n1_ = 0, n2_ = 0;                                                              \
        uint8_t *b1_ = gr_wr_flatten(&w1_, &n1_);                                             \
        gr_rd_t r_;                                                                           \
        gr_rd_init(&r_, b1_, n1_);                                                            \
        gr_##T##_t m2_;                                                                       \
        int rc_ = gr_##T##_decode(&r_, (ver), &ofs_arena, &m2_);                              \
        if (rc_ < 0 || r_.err || gr_rd_left(&r_)) {                                           \
            fprintf(stderr, #T " v%d: re-decode failed (rc %d, %zu left)\n", (ver), rc_,      \
                    gr_rd_left(&r_));                                                         \
            abort();                                                                          \
        }                                                                                     \
        gr_wr_init(&w2_);                                                                     \
        gr_##T##_encode(&w2_, (ver), &m2_);                                                   \
        uint8_t *b2_ = gr_wr_flatten(&w2_, &n2_);                                             \
        if (n1_ != n2_ || (n1_ && memcmp(b1_, b2_, n1_))) {                                   \
            fprintf(stderr, #T " v%d: re-encoding differs\n", (ver));                         \
            abort();                                                                          \
        }                                                                                     \
        gr_wr_free(&w1_);                                                                     \
        gr_wr_free(&w2_);                                                                     \
    } while (0)

static void ofs_offset_value(const uint8_t *val, int32_t vlen)
{
    gr_rd_t vr;
    gr_rd_init(&vr, val, (size_t)vlen);
    int16_t vver = gr_rd_i16(&vr);
    if (vr.err || vver < 0 || vver > 4)
        return;
    gr_OffsetCommitValue_t v;
    if (gr_OffsetCommitValue_decode(&vr, vver, &ofs_arena, &v) < 0 || vr.err)
        return;
    FUZZ_CHECK(v.metadata.len >= -1);
    OFS_ROUNDTRIP(OffsetCommitValue, vver, &v);
}

static void ofs_group_value(const uint8_t *val, int32_t vlen)
{
    gr_rd_t vr;
    gr_rd_init(&vr, val, (size_t)vlen);
    int16_t vver = gr_rd_i16(&vr);
    if (vr.err || vver < 0 || vver > 4)
        return;
    gr_GroupMetadataValue_t v;
    if (gr_GroupMetadataValue_decode(&vr, vver, &ofs_arena, &v) < 0 || vr.err)
        return;
    FUZZ_CHECK(v.members_count >= -1);
    for (int32_t i = 0; i < v.members_count; i++) {
        /* what apply_group_value copies out of each member */
        const gr_GroupMetadataValue_MemberMetadata_t *x = &v.members[i];
        FUZZ_CHECK(x->memberId.len < 0 || x->memberId.p != NULL || x->memberId.len == 0);
        FUZZ_CHECK(x->subscription.len >= -1 && x->assignment.len >= -1);
    }
    OFS_ROUNDTRIP(GroupMetadataValue, vver, &v);
}

/* One record, as coord.c load_record decodes it. */
static void ofs_record(const uint8_t *key, int32_t klen, const uint8_t *val, int32_t vlen)
{
    gr_arena_reset(&ofs_arena);
    if (!key || klen < 2)
        goto any_value;
    gr_rd_t rd;
    gr_rd_init(&rd, key, (size_t)klen);
    int16_t kver = gr_rd_i16(&rd);
    if (kver == 0 || kver == 1) {
        gr_OffsetCommitKey_t k;
        if (gr_OffsetCommitKey_decode(&rd, kver, &ofs_arena, &k) < 0 || rd.err)
            goto any_value;
        OFS_ROUNDTRIP(OffsetCommitKey, kver, &k);
        if (val)
            ofs_offset_value(val, vlen);
        return;
    }
    if (kver == 2) {
        gr_GroupMetadataKey_t k;
        if (gr_GroupMetadataKey_decode(&rd, 2, &ofs_arena, &k) < 0 || rd.err)
            goto any_value;
        OFS_ROUNDTRIP(GroupMetadataKey, 2, &k);
        if (val)
            ofs_group_value(val, vlen);
        return;
    }
any_value:
    /* the loader skips these; decode the value both ways anyway so the
     * value decoders stay reachable from any key */
    if (val) {
        ofs_offset_value(val, vlen);
        ofs_group_value(val, vlen);
    }
}

int fuzz_offsets_record_one(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        fuzz_quiet();
        gr_arena_init(&ofs_arena);
        init = true;
    }
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        if (size < 3)
            return 0;
        size_t klen = GR_MIN((size_t)fuzz_be16(data + 1), size - 3);
        const uint8_t *key = data + 3, *val = key + klen;
        size_t vlen = size - 3 - klen;
        ofs_record(key, (int32_t)klen, (data[0] & 2) ? NULL : val, (data[0] & 2) ? -1 : (int32_t)vlen);
        return 0;
    }
    /* an uncompressed batch around the area, claiming up to 10,000
     * records: the iterator stops at the first that does not parse */
    size_t n = GR_BATCH_HEADER_SIZE + size - 1;
    uint8_t *b = gr_calloc(1, n);
    memcpy(b + GR_BATCH_HEADER_SIZE, data + 1, size - 1);
    gr_batch_info_t info = {.last_offset_delta = INT32_MAX, .record_count = 10000, .size = (int32_t)n};
    gr_rec_iter_t it;
    gr_record_t r;
    gr_rec_iter_open(&it, b, &info);
    while (gr_rec_iter_next(&it, &r) > 0)
        ofs_record(r.key, r.key_len, r.value, r.value_len);
    gr_rec_iter_close(&it);
    free(b);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_offsets_record_one(data, size);
}
#endif
