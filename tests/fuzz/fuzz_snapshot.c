/*
 * fuzz_snapshot.c - libFuzzer target for the producer snapshot decoder
 * (<offset>.snapshot files, pstate.c's gr_pstate_decode), which a log
 * runs on whatever it finds in its directory when it opens.
 *
 * Input layout:
 *   byte 0        flags: bit 0 set: the CRC field is recomputed first (so
 *                 that inputs reach the entries instead of failing the
 *                 CRC); bit 1 set: expiration on (producers whose
 *                 timestamp is more than 1000 ms before 10^12 are skipped)
 *   the rest      the snapshot file
 *
 * Properties checked: a snapshot that decodes yields at most its count of
 * entries; encoding the state and decoding that again gives the same
 * state (same bytes on a second encoding); a batch of each producer then
 * goes through the producer checks without crashing; every entry is freed
 * with its state (the broker-wide count returns to 0).
 */
#include "fuzz.h"

#include "batch.h"
#include "pstate.h"

static void snap_append_each(void *arg, const gr_pentry_t *e)
{
    int64_t *n = arg;
    (*n)++;
    (void)e;
}

int fuzz_snapshot_one(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    size_t len = size - 1;
    uint8_t *buf = malloc(len ? len : 1);
    memcpy(buf, data + 1, len);
    if ((flags & 1) && len >= 10)
        gr_put32(buf + 2, gr_crc32c(0, buf + 6, len - 6));
    int64_t now = 1000000000000LL, exp = (flags & 2) ? 1000 : -1;
    gr_pstate_t *ps = gr_pstate_new();
    int64_t n = gr_pstate_decode(ps, buf, len, now, exp);
    FUZZ_CHECK(n == GR_ECORRUPT || n >= 0);
    if (n >= 0) {
        FUZZ_CHECK(len >= 10 && n <= (int64_t)(int32_t)gr_be32(buf + 6));
        FUZZ_CHECK((int64_t)gr_pstate_count(ps) <= n);
        uint8_t *e1, *e2;
        size_t l1, l2;
        gr_pstate_encode(ps, &e1, &l1);
        gr_pstate_t *again = gr_pstate_new();
        FUZZ_CHECK(gr_pstate_decode(again, e1, l1, now, -1) == (int64_t)gr_pstate_count(ps));
        gr_pstate_encode(again, &e2, &l2);
        FUZZ_CHECK(l1 == l2 && memcmp(e1, e2, l1) == 0);
        free(e1);
        free(e2);
        gr_pstate_free(again);
        /* each producer's next batch, and a retry of its last one */
        int64_t seen = 0;
        gr_pstate_foreach(ps, snap_append_each, &seen);
        FUZZ_CHECK(seen == (int64_t)gr_pstate_count(ps));
        for (size_t i = 10; i + GR_PSTATE_SNAPSHOT_ENTRY <= len && i < 10 + 64 * GR_PSTATE_SNAPSHOT_ENTRY;
             i += GR_PSTATE_SNAPSHOT_ENTRY) {
            int64_t pid = (int64_t)gr_be64(buf + i);
            int16_t epoch = (int16_t)gr_be16(buf + i + 8);
            int32_t last = (int32_t)gr_be32(buf + i + 10);
            (void)gr_pstate_find_duplicate(ps, pid, epoch, last, last);
            gr_pupdate_t u;
            const char *msg = NULL;
            gr_pupdate_init(&u, ps, pid, GR_PORIGIN_CLIENT);
            int32_t seq = gr_seq_increment(last < 0 ? -1 : last, 1);
            gr_serr_t err = gr_pupdate_data(&u, epoch, seq, gr_seq_increment(seq, 2), 1000, now, false, &msg);
            FUZZ_CHECK(err == GR_SERR_NONE || msg != NULL);
            if (err == GR_SERR_NONE) {
                gr_pbatch_t b = {.last_offset = 1002, .timestamp = now, .last_seq = gr_seq_increment(seq, 2),
                                 .offset_delta = 2};
                gr_pstate_add_batch(ps, pid, epoch, &b);
                gr_pstate_update(ps, &u);
                FUZZ_CHECK(gr_pstate_find_duplicate(ps, pid, epoch, seq, b.last_seq) != NULL);
            }
        }
        (void)gr_pstate_expire(ps, now, 1);
    }
    gr_pstate_free(ps);
    FUZZ_CHECK(gr_pstate_total() == 0);
    free(buf);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_snapshot_one(data, size);
}
#endif
