/* Unit tests for cleaner.c and the compaction parts of log.c: latest
 * values survive at their offsets, superseded ones go, tombstones live
 * for delete.retention.ms, min.compaction.lag.ms, the active segment,
 * bounded offset map (prefix cleaning), headers and compressed batches,
 * control batches, reads and indexes over offset gaps, reopen, crashes at
 * every step of the swap, a pass on a real event loop with appends
 * going on, and the memory of a pass over batches that decompress to
 * millions of small records or to records larger than the rebuild bound. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "batch.h"
#include "cleaner.h"
#include "compress.h"
#include "log.h"

#define NKEYS 64
#define MAXOFF 20000

static char dir[256];
static int64_t T0;                        /* base of record timestamps */

/* the model: what the log must say after compaction */
static int64_t latest[NKEYS];             /* offset of the latest record, -1 none */
static bool latest_tomb[NKEYS];
static int okey[MAXOFF];                  /* key of each offset written */
static bool otomb[MAXOFF];

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/gregor-test-cleaner-XXXXXX");
    assert_non_null(mkdtemp(dir));
    strcat(dir, "/t-0");
    for (int k = 0; k < NKEYS; k++) {
        latest[k] = -1;
        latest_tomb[k] = false;
    }
    rng = 12345;
    T0 = gr_now_ms() - 3600 * 1000;
    gr_clean_crash_after = -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    gr_rm_rf(dir);
    return 0;
}

static gr_log_config_t cfg_compact(void)
{
    gr_log_config_t c = {
        .segment_bytes = 4096, .segment_ms = 7LL * 24 * 3600 * 1000,
        .retention_ms = -1, .retention_bytes = -1, .index_interval_bytes = 300,
        .flush_messages = INT64_MAX, .flush_ms = INT64_MAX,
        .max_message_bytes = 1 << 20, .compact = true,
        .delete_retention_ms = 60000, .min_compaction_lag_ms = 0, .min_cleanable_ratio = 0.5,
    };
    return c;
}

static gr_log_t *open_log(const gr_log_config_t *c, bool clean, gr_ev_t *ev)
{
    gr_log_open_opts_t o = {.dir = dir, .cfg = c, .recovery_point = 0, .log_start_offset = -1,
                            .clean_shutdown = clean, .ev = ev, .lane = 0};
    gr_log_t *log = NULL;
    assert_int_equal(gr_log_open(&o, &log), 0);
    return log;
}

static void key_of(int k, char *out)
{
    snprintf(out, 8, "k%03d", k);
}

/* Append one batch of n records with random keys (tombstone with
 * probability tomb_pct %), timestamps ts(offset) = T0 + offset + ts_add. */
static void append_batch(gr_log_t *log, int n, int tomb_pct, int64_t ts_add, int nkeys)
{
    gr_batch_builder_t b;
    int64_t off = gr_log_end_offset(log);
    gr_batch_builder_init(&b, 0, T0 + off + ts_add);
    for (int i = 0; i < n; i++) {
        int k = (int)(rnd() % (uint32_t)nkeys);
        char key[8], val[32];
        key_of(k, key);
        bool tomb = (int)(rnd() % 100) < tomb_pct;
        snprintf(val, sizeof(val), "v%lld-padding-padding", (long long)(off + i));
        gr_batch_builder_add(&b, i, T0 + off + i + ts_add, key, 4, tomb ? NULL : val, (int32_t)strlen(val));
        assert_true(off + i < MAXOFF);
        okey[off + i] = k;
        otomb[off + i] = tomb;
        latest[k] = off + i;
        latest_tomb[k] = tomb;
    }
    size_t len;
    uint8_t *p = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
    gr_append_info_t info;
    assert_int_equal(gr_log_append(log, p, len, 7, true, gr_now_ms(), &info), 0);
    assert_int_equal(info.base_offset, off);
    gr_batch_builder_free(&b);
}

static void fill(gr_log_t *log, int batches, int tomb_pct, int nkeys)
{
    for (int i = 0; i < batches; i++)
        append_batch(log, 1 + (int)(rnd() % 5), tomb_pct, 0, nkeys);
}

/* ---- reading everything back ---- */

typedef struct rec {
    int64_t off;
    int key;
    int64_t val;                  /* offset encoded in the value, -1 for a tombstone */
    int64_t ts;
    int32_t nheaders;
} rec_t;

static rec_t recs[MAXOFF];
static int nrecs;

static void parse_into(const uint8_t *p, size_t len, int64_t from)
{
    size_t pos = 0;
    while (pos < len) {
        gr_batch_info_t bi;
        assert_int_equal(gr_batch_check(p + pos, len - pos, &bi), 0);
        gr_rec_iter_t it;
        gr_rec_iter_open(&it, p + pos, &bi);
        int64_t prev = -1;
        for (int32_t i = 0; i < bi.record_count; i++) {
            gr_record_t rc;
            assert_int_equal(gr_rec_iter_next(&it, &rc), 1);
            int64_t off = bi.base_offset + rc.offset_delta;
            assert_true(off > prev);
            assert_true(rc.offset_delta <= bi.last_offset_delta);
            prev = off;
            if (off < from || (bi.attributes & GR_ATTR_CONTROL))
                continue;
            assert_true(nrecs == 0 || off > recs[nrecs - 1].off);
            assert_true(nrecs < MAXOFF);
            rec_t *x = &recs[nrecs++];
            x->off = off;
            x->key = -1;
            if (rc.key_len == 4)
                x->key = atoi((const char *)rc.key + 1);
            x->val = -1;
            if (rc.value_len > 0) {
                char v[64];
                snprintf(v, sizeof(v), "%.*s", (int)GR_MIN(rc.value_len, 63), (const char *)rc.value);
                x->val = atoll(v + 1);
            }
            x->ts = bi.first_timestamp + rc.timestamp_delta;
            x->nheaders = rc.header_count;
        }
        gr_record_t end;
        assert_int_equal(gr_rec_iter_next(&it, &end), 0);
        gr_rec_iter_close(&it);
        pos += (size_t)bi.size;
    }
    assert_int_equal(pos, len);
}

/* Read the whole log through gr_log_read into recs[]. */
static void dump(gr_log_t *log)
{
    nrecs = 0;
    int64_t off = gr_log_start_offset(log), end = gr_log_end_offset(log);
    uint8_t *b = malloc(1 << 20);
    while (off < end) {
        gr_log_slice_t s;
        assert_int_equal(gr_log_read(log, off, 1 << 16, INT64_MAX, true, &s), 0);
        if (s.len == 0)
            break;
        assert_true(s.len <= (1 << 20));
        assert_int_equal(pread(gr_file_fd(s.file), b, (size_t)s.len, s.pos), s.len);
        parse_into(b, (size_t)s.len, off);
        /* next read starts after the last batch returned */
        size_t pos = 0;
        int64_t last = off;
        while (pos < (size_t)s.len) {
            gr_batch_info_t bi;
            assert_int_equal(gr_batch_check(b + pos, (size_t)s.len - pos, &bi), 0);
            last = bi.base_offset + bi.last_offset_delta;
            pos += (size_t)bi.size;
        }
        assert_true(last >= off);
        off = last + 1;
    }
    free(b);
}

/* The key's last offset below lim, -1 if none. */
static int64_t latest_before(int key, int64_t lim)
{
    for (int64_t o = lim - 1; o >= 0; o--)
        if (okey[o] == key)
            return o;
    return -1;
}

/* After compaction: every key's latest record is there, with its value,
 * at its offset; below `cleaned_below` nothing superseded remains; records
 * at or above `untouched_from` are all still there. */
static void check_compacted(gr_log_t *log, int64_t cleaned_below, int64_t untouched_from, bool tombs_kept)
{
    dump(log);
    int seen_latest = 0, nlatest = 0;
    for (int k = 0; k < NKEYS; k++)
        if (latest[k] >= 0 && (tombs_kept || !latest_tomb[k] || latest[k] >= cleaned_below))
            nlatest++;
    int64_t end = gr_log_end_offset(log);
    int64_t expect_untouched = end - untouched_from, got_untouched = 0;
    for (int i = 0; i < nrecs; i++) {
        rec_t *x = &recs[i];
        assert_true(x->key >= 0 && x->key < NKEYS);
        assert_int_equal(x->key, okey[x->off]);
        assert_int_equal(x->val, otomb[x->off] ? -1 : x->off);
        assert_int_equal(x->ts, T0 + x->off);
        if (x->off >= untouched_from)
            got_untouched++;
        if (x->off < cleaned_below)
            assert_int_equal(x->off, latest_before(x->key, cleaned_below));
        if (latest[x->key] == x->off)
            seen_latest++;
    }
    assert_int_equal(seen_latest, nlatest);
    assert_int_equal(got_untouched, expect_untouched);
}

typedef struct result {
    int calls;
    int rc;
    gr_clean_stats_t st;
} result_t;

static void on_clean(void *arg, int rc, const gr_clean_stats_t *st)
{
    result_t *r = arg;
    r->calls++;
    r->rc = rc;
    r->st = *st;
}

static int clean(gr_log_t *log, int64_t now_ms, size_t map_bytes, result_t *r)
{
    memset(r, 0, sizeof(*r));
    int rc = gr_log_clean(log, now_ms, map_bytes, on_clean, r);
    if (rc == 0) {
        assert_int_equal(r->calls, 1);
        return r->rc;
    }
    assert_int_equal(r->calls, 0);
    return rc;
}

static int64_t active_base(gr_log_t *log)
{
    /* the last segment's base: the highest-named .log file */
    DIR *d = opendir(dir);
    struct dirent *de;
    int64_t best = -1;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n == 24 && !strcmp(de->d_name + 20, ".log"))
            best = GR_MAX(best, atoll(de->d_name));
    }
    closedir(d);
    (void)log;
    return best;
}

static int count_files(const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name), k = strlen(suffix);
        if (l >= k && !strcmp(de->d_name + l - k, suffix))
            n++;
    }
    closedir(d);
    return n;
}

/* Every offset reads: the first record at or after it comes first. */
static void check_every_offset(gr_log_t *log)
{
    dump(log);
    int64_t start = gr_log_start_offset(log), end = gr_log_end_offset(log);
    uint8_t *b = malloc(1 << 20);
    int j = 0;
    for (int64_t off = start; off < end; off++) {
        while (j < nrecs && recs[j].off < off)
            j++;
        gr_log_slice_t s;
        assert_int_equal(gr_log_read(log, off, 1, INT64_MAX, true, &s), 0);
        if (j == nrecs) {
            continue;            /* nothing left at or after off (maybe control batches) */
        }
        assert_true(s.len > 0);
        assert_int_equal(pread(gr_file_fd(s.file), b, (size_t)s.len, s.pos), s.len);
        gr_batch_info_t bi;
        assert_int_equal(gr_batch_check(b, (size_t)s.len, &bi), 0);
        assert_int_equal(bi.size, s.len);       /* one batch: max_bytes 1 */
        assert_true(bi.base_offset + bi.last_offset_delta >= off);
        /* the record the reader wants is in this batch */
        gr_rec_iter_t it;
        gr_rec_iter_open(&it, b, &bi);
        bool found = false;
        for (int32_t i = 0; i < bi.record_count; i++) {
            gr_record_t rc;
            assert_int_equal(gr_rec_iter_next(&it, &rc), 1);
            if (bi.base_offset + rc.offset_delta >= off) {
                assert_int_equal(bi.base_offset + rc.offset_delta, recs[j].off);
                found = true;
                break;
            }
        }
        gr_rec_iter_close(&it);
        /* a rebuilt batch keeps its original last offset (Kafka's
         * overrideLastOffset), so it may end in offsets whose records were
         * removed: the record wanted then comes after it */
        if (!found)
            assert_true(recs[j].off > bi.base_offset + bi.last_offset_delta);
    }
    free(b);
}

/* ---------------------------------------------------------------- tests */

static void test_compact_basic(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_compact();
    gr_log_t *log = open_log(&c, true, NULL);
    fill(log, 400, 5, NKEYS);
    int nseg = gr_log_segment_count(log);
    assert_true(nseg > 5);
    int64_t size0 = gr_log_size_bytes(log), end = gr_log_end_offset(log);
    int64_t ab = active_base(log);
    result_t r;
    int64_t now = gr_now_ms();
    assert_int_equal(clean(log, now, 128u << 20, &r), 0);
    assert_int_equal(r.st.first_dirty, 0);
    assert_int_equal(r.st.map_end, ab);           /* everything but the active segment */
    assert_true(r.st.records_removed > 0);
    assert_true(r.st.keys <= NKEYS);
    assert_int_equal(gr_log_clean_offset(log), ab);
    assert_true(gr_log_size_bytes(log) < size0 / 2);
    assert_int_equal(gr_log_end_offset(log), end);
    assert_int_equal(gr_log_start_offset(log), 0);
    check_compacted(log, ab, ab, true);
    check_every_offset(log);
    assert_int_equal(count_files(".cleaned"), 0);
    assert_int_equal(count_files(".swap"), 0);
    assert_int_equal(count_files(".deleted"), 0);

    /* nothing dirty, horizons in the future: no pass */
    assert_int_equal(clean(log, now + 1000, 128u << 20, &r), GR_AGAIN);

    /* reopen: indexes loaded (clean) and rebuilt (unclean) */
    gr_log_close(log);
    log = open_log(&c, true, NULL);
    check_compacted(log, ab, ab, true);
    check_every_offset(log);
    gr_log_close(log);
    log = open_log(&c, false, NULL);
    assert_int_equal(gr_log_end_offset(log), end);
    check_compacted(log, ab, ab, true);
    check_every_offset(log);

    /* more updates, second pass: checkpoint carries over */
    gr_log_set_clean_offset(log, ab);
    fill(log, 400, 5, NKEYS);
    int64_t ab2 = active_base(log);
    assert_int_equal(clean(log, now + 2000, 128u << 20, &r), 0);
    assert_int_equal(r.st.first_dirty, ab);
    assert_int_equal(r.st.map_end, ab2);
    check_compacted(log, ab2, ab2, true);
    check_every_offset(log);
    gr_log_close(log);
}

static void test_tombstones_expire(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_compact();
    c.delete_retention_ms = 10000;
    gr_log_t *log = open_log(&c, true, NULL);
    fill(log, 300, 30, 16);
    /* roll so that every record is cleanable */
    gr_log_housekeep(log, gr_now_ms() + c.segment_ms + 1);
    int64_t end = gr_log_end_offset(log);
    int ntomb = 0;
    for (int k = 0; k < 16; k++)
        ntomb += latest[k] >= 0 && latest_tomb[k];
    assert_true(ntomb > 0);
    int64_t now = gr_now_ms();
    result_t r;
    assert_int_equal(clean(log, now, 128u << 20, &r), 0);
    check_compacted(log, end, end, true);          /* tombstones kept */
    /* before the horizon: nothing to do */
    assert_int_equal(clean(log, now + 9999, 128u << 20, &r), GR_AGAIN);
    /* after: tombstones and their keys are gone */
    assert_int_equal(clean(log, now + 10001, 128u << 20, &r), 0);
    assert_int_equal(r.st.tombstones_removed, ntomb);
    check_compacted(log, end, end, false);
    for (int i = 0; i < nrecs; i++)
        assert_true(recs[i].val >= 0);
    check_every_offset(log);
    /* the horizon survives a restart (stored in the batches) */
    gr_log_close(log);
    log = open_log(&c, false, NULL);
    check_compacted(log, end, end, false);
    gr_log_close(log);
}

static void test_tombstone_horizon_after_restart(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_compact();
    c.delete_retention_ms = 10000;
    gr_log_t *log = open_log(&c, true, NULL);
    fill(log, 200, 30, 16);
    gr_log_housekeep(log, gr_now_ms() + c.segment_ms + 1);
    int64_t end = gr_log_end_offset(log);
    int64_t now = gr_now_ms();
    result_t r;
    assert_int_equal(clean(log, now, 128u << 20, &r), 0);
    gr_log_close(log);
    /* after a restart the earliest horizon is unknown: a pass runs, keeps
     * the tombstones before their horizon, drops them after */
    log = open_log(&c, true, NULL);
    gr_log_set_clean_offset(log, end);
    assert_int_equal(clean(log, now + 5000, 128u << 20, &r), 0);
    assert_int_equal(r.st.tombstones_removed, 0);
    check_compacted(log, end, end, true);
    assert_int_equal(clean(log, now + 6000, 128u << 20, &r), GR_AGAIN);
    assert_int_equal(clean(log, now + 10001, 128u << 20, &r), 0);
    assert_true(r.st.tombstones_removed > 0);
    check_compacted(log, end, end, false);
    gr_log_close(log);
}

static void test_min_compaction_lag(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_compact();
    c.min_compaction_lag_ms = 600000;          /* 10 minutes */
    gr_log_t *log = open_log(&c, true, NULL);
    /* old records (T0 = now - 1 h) ... */
    fill(log, 200, 0, 16);
    gr_log_housekeep(log, gr_now_ms() + c.segment_ms + 1);
    int64_t young_from = gr_log_end_offset(log);
    /* ... then young ones: timestamps now */
    int64_t shift = gr_now_ms() - T0 - young_from;
    for (int i = 0; i < 200; i++)
        append_batch(log, 1 + (int)(rnd() % 5), 0, shift, 16);
    assert_true(active_base(log) > young_from);
    result_t r;
    assert_int_equal(clean(log, gr_now_ms(), 128u << 20, &r), 0);
    assert_int_equal(r.st.map_end, young_from);
    /* young records all there; old ones only when latest or superseded by young */
    dump(log);
    int64_t young = 0;
    for (int i = 0; i < nrecs; i++) {
        rec_t *x = &recs[i];
        if (x->off >= young_from) {
            young++;
            assert_int_equal(x->ts, T0 + x->off + shift);
        }
    }
    assert_int_equal(young, gr_log_end_offset(log) - young_from);
    /* latest among the old section per key survived */
    int64_t old_latest[16];
    for (int k = 0; k < 16; k++)
        old_latest[k] = -1;
    for (int64_t o = 0; o < young_from; o++)
        old_latest[okey[o]] = o;
    for (int k = 0; k < 16; k++) {
        bool found = false;
        for (int i = 0; i < nrecs && recs[i].off < young_from; i++) {
            assert_true(recs[i].off == old_latest[recs[i].key]);
            found |= recs[i].off == old_latest[k];
        }
        assert_true(found || old_latest[k] < 0);
    }
    /* once they age, the rest is cleaned */
    assert_int_equal(clean(log, gr_now_ms() + 3600 * 1000, 128u << 20, &r), 0);
    int64_t ab = active_base(log);
    assert_int_equal(r.st.map_end, ab);
    dump(log);
    for (int i = 0; i < nrecs; i++)
        assert_true(recs[i].off >= ab || latest_before(recs[i].key, ab) == recs[i].off);
    gr_log_close(log);
}

/* A tiny offset map: prefix passes, each advancing the checkpoint. */
static void test_map_prefix(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_compact();
    c.segment_bytes = 16384;
    c.min_cleanable_ratio = 0.01;
    gr_log_t *log = open_log(&c, true, NULL);
    /* many distinct keys: key = offset / 2 (each written twice in a row) */
    for (int i = 0; i < 600; i++) {
        gr_batch_builder_t b;
        int64_t off = gr_log_end_offset(log);
        gr_batch_builder_init(&b, 0, T0 + off);
        for (int k = 0; k < 10; k++) {
            char key[32], val[32];
            int64_t o = off + k;
            snprintf(key, sizeof(key), "key-%06lld", (long long)(o / 2));
            snprintf(val, sizeof(val), "v%lld", (long long)o);
            gr_batch_builder_add(&b, k, T0 + o, key, (int32_t)strlen(key), val, (int32_t)strlen(val));
        }
        size_t len;
        uint8_t *p = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
        gr_append_info_t info;
        assert_int_equal(gr_log_append(log, p, len, 0, true, gr_now_ms(), &info), 0);
        gr_batch_builder_free(&b);
    }
    int64_t ab = active_base(log);
    result_t r;
    int passes = 0;
    int64_t prev = 0;
    while (clean(log, gr_now_ms(), 64 * 1024, &r) == 0) {
        passes++;
        assert_true(r.st.map_end > prev);
        assert_int_equal(r.st.first_dirty, prev);
        assert_int_equal(gr_log_clean_offset(log), r.st.map_end);
        prev = r.st.map_end;
        assert_true(passes < 100);
    }
    assert_true(passes > 1);
    assert_int_equal(prev, ab);
    dump(log);
    for (int i = 0; i < nrecs; i++) {
        if (recs[i].off >= ab)
            continue;
        assert_int_equal(recs[i].off % 2, 1);   /* only the second write of each key */
        assert_int_equal(recs[i].val, recs[i].off);
    }
    assert_int_equal(nrecs, (int)(ab / 2 + (gr_log_end_offset(log) - ab)));
    gr_log_close(log);
}

/* gzip a builder batch's records (attributes get the codec) */
static size_t gzip_batch(const uint8_t *in, size_t len, uint8_t *out)
{
    memcpy(out, in, GR_BATCH_HEADER_SIZE);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = (uint8_t *)in + GR_BATCH_HEADER_SIZE;
    zs.avail_in = (uInt)(len - GR_BATCH_HEADER_SIZE);
    zs.next_out = out + GR_BATCH_HEADER_SIZE;
    zs.avail_out = (uInt)(len + 1024);
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t n = GR_BATCH_HEADER_SIZE + zs.total_out;
    deflateEnd(&zs);
    uint32_t blen = (uint32_t)(n - 12);
    out[8] = (uint8_t)(blen >> 24); out[9] = (uint8_t)(blen >> 16); out[10] = (uint8_t)(blen >> 8); out[11] = (uint8_t)blen;
    out[GR_BOFF_ATTRIBUTES + 1] |= GR_COMPRESSION_GZIP;
    uint32_t crc = gr_crc32c(0, out + GR_BOFF_ATTRIBUTES, n - GR_BOFF_ATTRIBUTES);
    out[17] = (uint8_t)(crc >> 24); out[18] = (uint8_t)(crc >> 16); out[19] = (uint8_t)(crc >> 8); out[20] = (uint8_t)crc;
    return n;
}

static void test_headers_compressed_control(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_compact();
    c.segment_bytes = 1 << 20;
    gr_log_t *log = open_log(&c, true, NULL);
    /* one gzip batch: keys a b a c with headers */
    static const uint8_t hdrs[] = {0x02, 'h', 0x04, 'v', '1'};     /* key "h", value "v1" */
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, 1000);
    const char *keys[] = {"a", "b", "a", "c"};
    for (int i = 0; i < 4; i++)
        gr_batch_builder_add_record(&b, i, 1000 + i, keys[i], 1, "val", 3, hdrs, sizeof(hdrs), 1);
    size_t len;
    uint8_t *p = gr_batch_builder_finish(&b, 0, 77, 3, 0, &len);
    uint8_t z[4096];
    size_t zl = gzip_batch(p, len, z);
    gr_batch_builder_free(&b);
    gr_append_info_t info;
    /* a batch with a producer id, and a transaction coordinator's control
     * batch (commit marker), refused from a client */
    assert_int_equal(gr_log_append_as(log, z, zl, 5, true, GR_APPEND_COORDINATOR, gr_now_ms(), &info), 0);
    gr_batch_builder_init(&b, 0, 2000);
    static const uint8_t ckey[] = {0, 0, 0, 1}, cval[] = {0, 0, 0, 0, 0, 0};
    gr_batch_builder_add(&b, 0, 2000, ckey, 4, cval, 6);
    p = gr_batch_builder_finish(&b, GR_ATTR_CONTROL | GR_ATTR_TRANSACTIONAL, 77, 3, -1, &len);
    assert_int_equal(gr_log_append(log, p, len, 5, true, gr_now_ms(), &info), GR_EINVAL);
    assert_int_equal(info.serr, GR_SERR_INVALID_RECORD);
    assert_int_equal(gr_log_append_as(log, p, len, 5, true, GR_APPEND_COORDINATOR, gr_now_ms(), &info), 0);
    gr_batch_builder_free(&b);
    /* a keyless record is refused */
    gr_batch_builder_init(&b, 0, 3000);
    gr_batch_builder_add(&b, 0, 3000, NULL, 0, "x", 1);
    p = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
    assert_int_equal(gr_log_append(log, p, len, 5, true, gr_now_ms(), &info), GR_EINVAL);
    assert_int_equal(info.serr, GR_SERR_INVALID_RECORD);
    assert_string_equal(info.error_message, "Compacted topic cannot accept message without key");
    gr_batch_builder_free(&b);
    /* a batch whose lastOffsetDelta does not match its count is refused at append */
    gr_batch_builder_init(&b, 0, 3000);
    gr_batch_builder_add(&b, 0, 3000, "k", 1, "x", 1);
    gr_batch_builder_add(&b, 2, 3000, "k", 1, "y", 1);
    p = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
    assert_int_equal(gr_log_append(log, p, len, 5, true, gr_now_ms(), &info), GR_ECORRUPT);
    gr_batch_builder_free(&b);

    gr_log_housekeep(log, gr_now_ms() + c.segment_ms + 1);      /* roll */
    result_t r;
    assert_int_equal(clean(log, gr_now_ms(), 1 << 20, &r), 0);
    assert_int_equal(r.st.records_removed, 1);
    /* read back: one batch rebuilt, gzip again (offsets 1 2 3), the control batch as is */
    gr_log_slice_t s;
    assert_int_equal(gr_log_read(log, 0, 1 << 20, INT64_MAX, true, &s), 0);
    uint8_t rb[8192];
    assert_true(s.len > 0 && s.len < (int32_t)sizeof(rb));
    assert_int_equal(pread(gr_file_fd(s.file), rb, (size_t)s.len, s.pos), s.len);
    gr_batch_info_t bi;
    assert_int_equal(gr_batch_check(rb, (size_t)s.len, &bi), 0);
    assert_int_equal(bi.base_offset, 0);
    assert_int_equal(bi.record_count, 3);
    assert_int_equal(bi.last_offset_delta, 3);
    assert_int_equal(bi.attributes & GR_ATTR_COMPRESSION_MASK, GR_COMPRESSION_GZIP);
    assert_int_equal(bi.producer_id, 77);
    assert_int_equal(bi.max_timestamp, 1003);
    assert_int_equal(bi.first_timestamp, 1001);
    assert_int_equal((rb[12] << 24) | (rb[13] << 16) | (rb[14] << 8) | rb[15], 5);  /* leader epoch */
    gr_rec_iter_t it;
    gr_rec_iter_open(&it, rb, &bi);
    const char *want[] = {"b", "a", "c"};
    for (int i = 0; i < 3; i++) {
        gr_record_t rc;
        assert_int_equal(gr_rec_iter_next(&it, &rc), 1);
        assert_int_equal(rc.offset_delta, i + 1);
        assert_memory_equal(rc.key, want[i], 1);
        assert_int_equal(rc.header_count, 1);
        assert_int_equal(rc.headers_len, sizeof(hdrs));
        assert_memory_equal(rc.headers, hdrs, sizeof(hdrs));
        assert_int_equal(bi.first_timestamp + rc.timestamp_delta, 1001 + i);
    }
    gr_record_t rc;
    assert_int_equal(gr_rec_iter_next(&it, &rc), 0);
    gr_rec_iter_close(&it);
    size_t pos = (size_t)bi.size;
    assert_true(pos < (size_t)s.len);
    assert_int_equal(gr_batch_check(rb + pos, (size_t)s.len - pos, &bi), 0);
    assert_true(bi.attributes & GR_ATTR_CONTROL);
    assert_int_equal(bi.base_offset, 4);
    /* ListOffsets by timestamp works on the rebuilt batch */
    int64_t fts;
    assert_int_equal(gr_log_offset_for_timestamp(log, 1000, &fts), 1);
    assert_int_equal(fts, 1001);
    gr_log_close(log);
}

/* A batch of each codec that loses records is rebuilt with the same codec
 * (as Kafka's cleaner does), smaller than the records uncompressed, and
 * reads back with every kept record intact; a batch that loses nothing is
 * copied as it is. */
static void append_raw(gr_log_t *log, uint8_t *p, size_t len);

static void test_rebuild_keeps_codec(void **state)
{
    (void)state;
    static const int codecs[] = {GR_COMPRESSION_GZIP, GR_COMPRESSION_SNAPPY, GR_COMPRESSION_LZ4,
                                 GR_COMPRESSION_ZSTD};
    enum { N = 400 };
    for (size_t ci = 0; ci < sizeof(codecs) / sizeof(codecs[0]); ci++) {
        int codec = codecs[ci];
        gr_log_config_t c = cfg_compact();
        c.segment_bytes = 4 << 20;
        gr_log_t *log = open_log(&c, true, NULL);
        /* N records, keys k0..k199 twice (the first 200 are superseded),
         * compressible values of 300 bytes */
        gr_batch_builder_t b;
        gr_batch_builder_init(&b, 0, T0);
        char key[16], val[300];
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof(key), "k%d", i % 200);
            memset(val, 'a' + i % 26, sizeof(val));
            snprintf(val, sizeof(val), "value of record %d", i);
            gr_batch_builder_add(&b, i, T0 + i, key, (int32_t)strlen(key), val, (int32_t)sizeof(val));
        }
        size_t len;
        uint8_t *p = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
        size_t raw_len = len;
        gr_buf_t z = {0};
        gr_buf_reserve(&z, len + 4096);
        memcpy(z.p, p, GR_BATCH_HEADER_SIZE);
        z.len = GR_BATCH_HEADER_SIZE;
        gr_cstream_t cs;
        assert_int_equal(gr_cstream_begin(&cs, codec, 2, &z, 1 << 20), 0);
        gr_cstream_write(&cs, p + GR_BATCH_HEADER_SIZE, len - GR_BATCH_HEADER_SIZE);
        assert_int_equal(gr_cstream_end(&cs), 0);
        gr_batch_builder_free(&b);
        gr_put32(z.p + GR_BOFF_LENGTH, (uint32_t)(z.len - 12));
        z.p[GR_BOFF_ATTRIBUTES + 1] = (uint8_t)codec;
        gr_put32(z.p + GR_BOFF_CRC, gr_crc32c(0, z.p + GR_BOFF_ATTRIBUTES, z.len - GR_BOFF_ATTRIBUTES));
        append_raw(log, z.p, z.len);
        /* a second batch whose one record survives: copied as it is */
        gr_batch_builder_init(&b, 0, T0);
        gr_batch_builder_add(&b, 0, T0, "solo", 4, "x", 1);
        p = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
        append_raw(log, p, len);
        gr_batch_builder_free(&b);
        gr_buf_free(&z);

        gr_log_housekeep(log, gr_now_ms() + c.segment_ms + 1);      /* roll */
        result_t r;
        assert_int_equal(clean(log, gr_now_ms(), 1 << 20, &r), 0);
        assert_int_equal(r.st.records_removed, 200);
        gr_log_slice_t s;
        assert_int_equal(gr_log_read(log, 0, 1 << 20, INT64_MAX, true, &s), 0);
        uint8_t *rb = malloc((size_t)s.len);
        assert_int_equal(pread(gr_file_fd(s.file), rb, (size_t)s.len, s.pos), s.len);
        gr_batch_info_t bi;
        assert_int_equal(gr_batch_check(rb, (size_t)s.len, &bi), 0);
        assert_int_equal(bi.attributes & GR_ATTR_COMPRESSION_MASK, codec);
        assert_int_equal(bi.record_count, 200);
        assert_int_equal(bi.base_offset, 0);
        assert_int_equal(bi.last_offset_delta, N - 1);
        assert_true((size_t)bi.size < raw_len / 4);       /* compressed, not just flagged */
        gr_rec_iter_t it;
        gr_rec_iter_open(&it, rb, &bi);
        for (int i = 200; i < N; i++) {
            gr_record_t rc;
            assert_int_equal(gr_rec_iter_next(&it, &rc), 1);
            assert_int_equal(rc.offset_delta, i);
            snprintf(key, sizeof(key), "k%d", i % 200);
            assert_int_equal(rc.key_len, (int32_t)strlen(key));
            assert_memory_equal(rc.key, key, strlen(key));
            memset(val, 'a' + i % 26, sizeof(val));
            snprintf(val, sizeof(val), "value of record %d", i);
            assert_int_equal(rc.value_len, (int32_t)sizeof(val));
            assert_memory_equal(rc.value, val, sizeof(val));
            assert_int_equal(bi.first_timestamp + rc.timestamp_delta, T0 + i);
        }
        gr_record_t rc;
        assert_int_equal(gr_rec_iter_next(&it, &rc), 0);
        gr_rec_iter_close(&it);
        size_t pos = (size_t)bi.size;
        assert_int_equal(gr_batch_check(rb + pos, (size_t)s.len - pos, &bi), 0);
        assert_int_equal(bi.base_offset, N);
        assert_int_equal(bi.attributes & GR_ATTR_COMPRESSION_MASK, GR_COMPRESSION_NONE);
        free(rb);
        gr_log_close(log);
        gr_rm_rf(dir);                  /* the next codec's log starts empty */
    }
}

/* Crash after every file operation of the swap; reopening must give a log
 * with every key's latest value, and a later pass finishes the job. */
static void test_crash_every_step(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_compact();
    c.delete_retention_ms = 0;                 /* tombstones go on the second pass */
    bool completed = false;
    for (int k = 0; !completed; k++) {
        assert_true(k < 1000);
        for (int i = 0; i < NKEYS; i++) {
            latest[i] = -1;
            latest_tomb[i] = false;
        }
        rng = 999;
        gr_log_t *log = open_log(&c, true, NULL);
        fill(log, 150, 10, 24);
        int64_t now = gr_now_ms();
        result_t r;
        assert_int_equal(clean(log, now, 128u << 20, &r), 0);     /* sets horizons */
        check_compacted(log, active_base(log), active_base(log), true);
        fill(log, 150, 10, 24);
        int64_t ab = active_base(log);
        gr_clean_crash_after = k;
        int rc = clean(log, now + 1, 128u << 20, &r);
        completed = rc == 0;
        if (!completed)
            assert_int_equal(rc, GR_CLEAN_CRASHED);
        gr_clean_crash_after = -1;
        /* the process "dies": the log is closed without further ado, and
         * reopened with a full recovery */
        gr_log_close(log);
        log = open_log(&c, false, NULL);
        assert_int_equal(count_files(".cleaned"), 0);
        assert_int_equal(count_files(".swap"), 0);
        assert_int_equal(count_files(".deleted"), 0);
        /* every key's latest value (tombstones may be gone: horizon 0) */
        dump(log);
        for (int key = 0; key < 24; key++) {
            if (latest[key] < 0 || latest_tomb[key])
                continue;
            bool found = false;
            for (int i = 0; i < nrecs; i++) {
                if (recs[i].key != key)
                    continue;
                assert_true(recs[i].off <= latest[key]);
                if (recs[i].off == latest[key]) {
                    assert_int_equal(recs[i].val, latest[key]);
                    found = true;
                }
            }
            assert_true(found);
        }
        /* no key shows a value older than a later tombstone or value:
         * the latest record of each key in the log is its true latest */
        int64_t last_seen[NKEYS];
        for (int i = 0; i < NKEYS; i++)
            last_seen[i] = -1;
        for (int i = 0; i < nrecs; i++)
            last_seen[recs[i].key] = recs[i].off;
        for (int key = 0; key < 24; key++)
            assert_true(last_seen[key] == latest[key] || (last_seen[key] == -1 && latest_tomb[key]));
        check_every_offset(log);
        /* a new pass completes the work */
        gr_log_set_clean_offset(log, 0);
        assert_int_equal(clean(log, now + 2, 128u << 20, &r), 0);
        rc = clean(log, now + 3, 128u << 20, &r);      /* tombstones first kept by the pass above */
        assert_true(rc == 0 || rc == GR_AGAIN);
        check_compacted(log, ab, ab, false);
        gr_log_close(log);
        teardown(NULL);
        setup(NULL);
    }
}

/* A retention pass deleting segments while the cleaner works: the swap
 * is abandoned, nothing is lost. */
static void test_abandon_when_segments_change(void **state)
{
    (void)state;
    gr_ev_t *ev = gr_ev_new();
    gr_log_config_t c = cfg_compact();
    gr_log_t *log = open_log(&c, true, ev);
    fill(log, 300, 5, NKEYS);
    result_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(gr_log_clean(log, gr_now_ms(), 128u << 20, on_clean, &r), 0);
    assert_int_equal(gr_log_clean(log, gr_now_ms(), 128u << 20, on_clean, &r), GR_AGAIN);   /* one at a time */
    gr_log_advance_start(log, 200);             /* DeleteRecords drops the first segments */
    gr_ev_drain(ev);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.rc, GR_AGAIN);
    assert_int_equal(count_files(".cleaned"), 0);
    /* the next pass works */
    memset(&r, 0, sizeof(r));
    assert_int_equal(gr_log_clean(log, gr_now_ms(), 128u << 20, on_clean, &r), 0);
    gr_ev_drain(ev);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.rc, 0);
    gr_log_close(log);
    gr_ev_drain(ev);
    gr_ev_free(ev);
}

/* On a real loop: the pass runs on a helper thread while appends go on. */
static void test_async_with_appends(void **state)
{
    (void)state;
    gr_ev_t *ev = gr_ev_new();
    gr_log_config_t c = cfg_compact();
    gr_log_t *log = open_log(&c, true, ev);
    fill(log, 400, 5, NKEYS);
    int64_t ab = active_base(log);
    result_t r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(gr_log_clean(log, gr_now_ms(), 128u << 20, on_clean, &r), 0);
    int64_t before = gr_log_end_offset(log);
    for (int i = 0; i < 50; i++) {
        append_batch(log, 3, 0, 0, NKEYS);
        gr_ev_run_once(ev, 0);
    }
    gr_ev_drain(ev);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.st.map_end, ab);
    assert_true(gr_log_end_offset(log) == before + 150);
    /* everything appended meanwhile is there; the cleaned part holds latest values only */
    dump(log);
    int64_t cnt = 0;
    for (int i = 0; i < nrecs; i++) {
        if (recs[i].off >= ab)
            cnt++;
        else
            assert_int_equal(latest_before(recs[i].key, ab), recs[i].off);
    }
    assert_int_equal(cnt, gr_log_end_offset(log) - ab);
    /* close with a pass in flight */
    gr_log_set_clean_offset(log, 0);
    memset(&r, 0, sizeof(r));
    assert_int_equal(gr_log_clean(log, gr_now_ms(), 128u << 20, on_clean, &r), 0);
    gr_log_close(log);
    gr_ev_drain(ev);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.rc, -ECANCELED);
    assert_int_equal(count_files(".cleaned"), 0);
    gr_ev_free(ev);
}

/* compact,delete: retention still deletes, also an empty first segment */
static void test_compact_and_delete(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_compact();
    c.delete_ = true;
    c.delete_retention_ms = 0;
    gr_log_t *log = open_log(&c, true, NULL);
    /* the first segment: one key, later deleted by a tombstone */
    for (int i = 0; i < 60; i++)
        append_batch(log, 5, 0, 0, 1);
    fill(log, 200, 0, NKEYS);
    result_t r;
    int64_t now = gr_now_ms();
    assert_int_equal(clean(log, now, 128u << 20, &r), 0);
    assert_true(r.st.segments_removed > 0);
    assert_int_equal(gr_log_start_offset(log), 0);
    check_compacted(log, active_base(log), active_base(log), true);
    check_every_offset(log);
    c.retention_ms = 1;
    gr_log_set_config(log, &c);
    assert_true(gr_log_housekeep(log, now + 3600 * 1000 * 2) > 0);
    assert_int_equal(gr_log_segment_count(log), 1);
    gr_log_close(log);
}

/* An idempotent producer's batches: each key once, all superseded later.
 * Compaction keeps the producer's last batch as a bare header (Kafka's
 * RETAIN_EMPTY), so that state rebuilt from the log still knows it, and
 * drops its older ones, and all of them once its state is gone. */
static void test_keeps_last_batch_of_producers(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_compact();
    c.segment_bytes = 1 << 20;
    gr_log_t *log = open_log(&c, true, NULL);
    gr_append_info_t info;
    size_t len;
    for (int i = 0; i < 3; i++) {         /* producer 9: seq 0..1, 2..3, 4..5 at offsets 0..5 */
        gr_batch_builder_t b;
        char key[8];
        gr_batch_builder_init(&b, 0, T0);
        for (int k = 0; k < 2; k++) {
            key_of(2 * i + k, key);
            gr_batch_builder_add(&b, k, T0 + i, key, 4, "old", 3);
        }
        uint8_t *p = gr_batch_builder_finish(&b, 0, 9, 1, 2 * i, &len);
        assert_int_equal(gr_log_append(log, p, len, 0, true, gr_now_ms(), &info), 0);
        gr_batch_builder_free(&b);
    }
    for (int k = 0; k < 6; k++) {         /* every key again, no producer id */
        gr_batch_builder_t b;
        char key[8];
        key_of(k, key);
        gr_batch_builder_init(&b, 0, T0 + 10);
        gr_batch_builder_add(&b, 0, T0 + 10, key, 4, "new", 3);
        uint8_t *p = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
        assert_int_equal(gr_log_append(log, p, len, 0, true, gr_now_ms(), &info), 0);
        gr_batch_builder_free(&b);
    }
    gr_log_housekeep(log, gr_now_ms() + c.segment_ms + 1);      /* roll */
    result_t r;
    assert_int_equal(clean(log, gr_now_ms(), 1 << 20, &r), 0);
    assert_int_equal(r.st.records_removed, 6);
    gr_log_slice_t sl;
    uint8_t rb[8192];
    assert_int_equal(gr_log_read(log, 0, 1 << 20, INT64_MAX, true, &sl), 0);
    assert_int_equal(pread(gr_file_fd(sl.file), rb, (size_t)sl.len, sl.pos), sl.len);
    gr_batch_info_t bi;
    assert_int_equal(gr_batch_check(rb, (size_t)sl.len, &bi), 0);
    /* the first batch read is the producer's last one, empty */
    assert_int_equal(bi.base_offset, 4);
    assert_int_equal(bi.last_offset_delta, 1);
    assert_int_equal(bi.record_count, 0);
    assert_int_equal(bi.size, GR_BATCH_HEADER_SIZE);
    assert_int_equal(bi.producer_id, 9);
    assert_int_equal(bi.max_timestamp, T0 + 2);
    assert_int_equal(bi.first_timestamp, T0 + 2);
    assert_int_equal((int32_t)gr_be32(rb + GR_BOFF_BASE_SEQ), 4);
    assert_int_equal((int16_t)gr_be16(rb + GR_BOFF_PRODUCER_EPOCH), 1);
    gr_log_close(log);
    /* rebuilt from the log alone (no snapshot, unclean): the producer is
     * known, its last batch is a duplicate */
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".snapshot")) {
            char p[600];
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            unlink(p);
        }
    closedir(d);
    log = open_log(&c, false, NULL);
    gr_batch_builder_t b;
    char key[8];
    key_of(4, key);
    gr_batch_builder_init(&b, 0, T0);
    gr_batch_builder_add(&b, 0, T0, key, 4, "old", 3);
    key_of(5, key);
    gr_batch_builder_add(&b, 1, T0, key, 4, "old", 3);
    uint8_t *p = gr_batch_builder_finish(&b, 0, 9, 1, 4, &len);
    assert_int_equal(gr_log_append(log, p, len, 0, true, gr_now_ms(), &info), 0);
    assert_true(info.duplicate);
    assert_int_equal(info.base_offset, 4);
    gr_batch_builder_free(&b);
    /* once the producer's state is gone, the next pass drops the header */
    assert_int_equal(gr_log_expire_producers(log, INT64_MAX, 1), 1);
    append_batch(log, 40, 0, 20, 6);
    gr_log_housekeep(log, gr_now_ms() + c.segment_ms + 1);
    assert_int_equal(clean(log, gr_now_ms(), 1 << 20, &r), 0);
    assert_int_equal(gr_log_read(log, 0, 1 << 20, INT64_MAX, true, &sl), 0);
    assert_int_equal(pread(gr_file_fd(sl.file), rb, (size_t)sl.len, sl.pos), sl.len);
    assert_int_equal(gr_batch_check(rb, (size_t)sl.len, &bi), 0);
    assert_true(bi.producer_id < 0 && bi.record_count > 0);
    gr_log_close(log);
}

/* A producer's batch that loses some (not all) records keeps its last
 * offset, so the last sequence read from it stays the producer's (Kafka's
 * overrideLastOffset): a retry of that batch after the log is all there is
 * remains a duplicate, and the producer's next batch is in order. */
static void test_rebuilt_batch_keeps_last_offset(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_compact();
    c.segment_bytes = 1 << 20;
    gr_log_t *log = open_log(&c, true, NULL);
    gr_append_info_t info;
    size_t len;
    char key[8];
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, T0);             /* producer 9, seq 0..2: keys 0, 1, 2 */
    for (int k = 0; k < 3; k++) {
        key_of(k, key);
        gr_batch_builder_add(&b, k, T0, key, 4, "old", 3);
    }
    uint8_t *p = gr_batch_builder_finish(&b, 0, 9, 1, 0, &len);
    assert_int_equal(gr_log_append(log, p, len, 0, true, gr_now_ms(), &info), 0);
    gr_batch_builder_free(&b);
    key_of(2, key);                               /* key 2 again, no producer: offset 3 */
    gr_batch_builder_init(&b, 0, T0 + 10);
    gr_batch_builder_add(&b, 0, T0 + 10, key, 4, "new", 3);
    p = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
    assert_int_equal(gr_log_append(log, p, len, 0, true, gr_now_ms(), &info), 0);
    gr_batch_builder_free(&b);
    gr_log_housekeep(log, gr_now_ms() + c.segment_ms + 1);      /* roll */
    result_t r;
    assert_int_equal(clean(log, gr_now_ms(), 1 << 20, &r), 0);
    assert_int_equal(r.st.records_removed, 1);
    gr_log_slice_t sl;
    uint8_t rb[8192];
    assert_int_equal(gr_log_read(log, 0, 1 << 20, INT64_MAX, true, &sl), 0);
    assert_int_equal(pread(gr_file_fd(sl.file), rb, (size_t)sl.len, sl.pos), sl.len);
    gr_batch_info_t bi;
    assert_int_equal(gr_batch_check(rb, (size_t)sl.len, &bi), 0);
    assert_int_equal(bi.base_offset, 0);
    assert_int_equal(bi.record_count, 2);
    assert_int_equal(bi.last_offset_delta, 2);    /* not 1: the last sequence stays 2 */
    assert_int_equal(bi.producer_id, 9);
    assert_int_equal((int32_t)gr_be32(rb + GR_BOFF_BASE_SEQ), 0);
    gr_log_close(log);
    /* state rebuilt from the log alone (no snapshot, unclean) */
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".snapshot")) {
            char path[600];
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            unlink(path);
        }
    closedir(d);
    log = open_log(&c, false, NULL);
    gr_batch_builder_init(&b, 0, T0 + 20);         /* the producer's next batch: seq 3 */
    key_of(7, key);
    gr_batch_builder_add(&b, 0, T0 + 20, key, 4, "next", 4);
    p = gr_batch_builder_finish(&b, 0, 9, 1, 3, &len);
    assert_int_equal(gr_log_append(log, p, len, 0, true, gr_now_ms(), &info), 0);
    assert_false(info.duplicate);
    assert_int_equal(info.base_offset, 4);
    gr_batch_builder_free(&b);
    gr_log_close(log);
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

/* A pass over hundreds of segments reads them one at a time and holds no
 * descriptor per rewritten segment: afterwards the log's open files are
 * what the descriptor cache allows, and everything reads back. */
static void test_many_segments_bounded_fds(void **state)
{
    (void)state;
    gr_fcache_set_max(16);
    gr_log_config_t c = cfg_compact();
    c.segment_bytes = 400;
    int fds0 = open_fds();
    gr_log_t *log = open_log(&c, true, NULL);
    fill(log, 900, 5, NKEYS);
    assert_true(gr_log_segment_count(log) > 150);
    assert_in_range(open_fds() - fds0, 1, 16);
    int64_t ab = active_base(log);
    result_t r;
    assert_int_equal(clean(log, gr_now_ms(), 128u << 20, &r), 0);
    assert_true(r.st.segments_cleaned + r.st.segments_removed > 100);
    assert_in_range(open_fds() - fds0, 1, 16);
    check_compacted(log, ab, ab, true);
    check_every_offset(log);
    assert_in_range(open_fds() - fds0, 1, 16);
    gr_log_close(log);
    assert_int_equal(open_fds(), fds0);
    gr_fcache_set_max(GR_FCACHE_DEFAULT_MAX);
}

/* ---- memory of a pass over hostile batches ---- */

/* Resident set of this process, KiB ("VmRSS" or "VmHWM"). */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, field, n) && line[n] == ':')
            v = atol(line + n + 1);
    fclose(f);
    assert_true(v >= 0);
    return v;
}

/* Start measuring the peak resident set from now (Linux >= 4.0). */
static void hwm_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    assert_non_null(f);
    assert_true(fputs("5", f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* Run one pass and return how far (MiB) the resident set rose above what
 * it was before the pass. */
static double clean_measured(gr_log_t *log, int64_t now, size_t map_bytes, result_t *r, int *rc)
{
    long before = status_kb("VmRSS");
    hwm_reset();
    *rc = clean(log, now, map_bytes, r);
    return (double)(status_kb("VmHWM") - before) / 1024.0;
}

/* What a key/value generator says about record i. */
typedef void bomb_rec_fn(int32_t i, char *key, int32_t *klen, const uint8_t **val, int32_t *vlen);

/* A zstd batch of n records from gen(), compressed as they are made (the
 * uncompressed records are never held).  Every record has timestamp ts.
 * Returns the malloc'ed batch. */
static uint8_t *zstd_bomb(int32_t n, int64_t ts, bomb_rec_fn *gen, size_t *len)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    assert_non_null(cc);
    size_t cap = (size_t)GR_BATCH_HEADER_SIZE + ZSTD_CStreamOutSize(), used = GR_BATCH_HEADER_SIZE;
    uint8_t *out = calloc(1, cap);
    static uint8_t chunk[1 << 17];
    size_t clen = 0;
    for (int32_t i = 0; i <= n; i++) {
        if (i < n) {
            char key[64];
            const uint8_t *val;
            int32_t klen, vlen;
            gen(i, key, &klen, &val, &vlen);
            uint8_t body[64];
            size_t b = 0;
            body[b++] = 0;                                          /* attributes */
            b += gr_varlong_encode(body + b, 0);                     /* timestampDelta */
            b += gr_varlong_encode(body + b, i);                     /* offsetDelta */
            b += gr_varlong_encode(body + b, klen);
            size_t tail_len = (size_t)(klen > 0 ? klen : 0);
            uint8_t vl[10];
            size_t vll = gr_varlong_encode(vl, vlen);
            size_t rec = b + tail_len + vll + (size_t)(vlen > 0 ? vlen : 0) + 1;
            uint8_t ll[10];
            size_t lll = gr_varlong_encode(ll, (int64_t)rec);
            if (clen + lll + rec > sizeof(chunk)) {
                ZSTD_inBuffer in = {chunk, clen, 0};
                while (in.pos < in.size) {
                    if (cap - used < ZSTD_CStreamOutSize())
                        out = realloc(out, cap *= 2);
                    ZSTD_outBuffer ob = {out + used, cap - used, 0};
                    assert_false(ZSTD_isError(ZSTD_compressStream2(cc, &ob, &in, ZSTD_e_continue)));
                    used += ob.pos;
                }
                clen = 0;
            }
            assert_true(lll + rec <= sizeof(chunk));
            memcpy(chunk + clen, ll, lll);
            clen += lll;
            memcpy(chunk + clen, body, b);
            clen += b;
            memcpy(chunk + clen, key, tail_len);
            clen += tail_len;
            memcpy(chunk + clen, vl, vll);
            clen += vll;
            if (vlen > 0) {
                memcpy(chunk + clen, val, (size_t)vlen);
                clen += (size_t)vlen;
            }
            chunk[clen++] = 0;                                      /* headerCount */
            continue;
        }
        ZSTD_inBuffer in = {chunk, clen, 0};
        size_t left;
        do {
            if (cap - used < ZSTD_CStreamOutSize())
                out = realloc(out, cap *= 2);
            ZSTD_outBuffer ob = {out + used, cap - used, 0};
            left = ZSTD_compressStream2(cc, &ob, &in, ZSTD_e_end);
            assert_false(ZSTD_isError(left));
            used += ob.pos;
        } while (left > 0);
    }
    ZSTD_freeCCtx(cc);
    gr_put64(out + GR_BOFF_BASE_OFFSET, 0);
    gr_put32(out + GR_BOFF_LENGTH, (uint32_t)(used - GR_BATCH_LOG_OVERHEAD));
    gr_put32(out + GR_BOFF_LEADER_EPOCH, 0);
    out[GR_BOFF_MAGIC] = 2;
    gr_put16(out + GR_BOFF_ATTRIBUTES, GR_COMPRESSION_ZSTD);
    gr_put32(out + GR_BOFF_LAST_DELTA, (uint32_t)(n - 1));
    gr_put64(out + GR_BOFF_BASE_TS, (uint64_t)ts);
    gr_put64(out + GR_BOFF_MAX_TS, (uint64_t)ts);
    gr_put64(out + GR_BOFF_PRODUCER_ID, (uint64_t)-1);
    gr_put16(out + GR_BOFF_PRODUCER_EPOCH, (uint16_t)-1);
    gr_put32(out + GR_BOFF_BASE_SEQ, (uint32_t)-1);
    gr_put32(out + GR_BOFF_RECORD_COUNT, (uint32_t)n);
    gr_put32(out + GR_BOFF_CRC, gr_crc32c(0, out + GR_BOFF_ATTRIBUTES, used - GR_BOFF_ATTRIBUTES));
    *len = used;
    return out;
}

/* Every record of the log, in order, handed to fn (with its batch). */
typedef void rec_visit_fn(const gr_batch_info_t *bi, int64_t off, const gr_record_t *r, void *arg);

static void visit_log(gr_log_t *log, rec_visit_fn *fn, void *arg)
{
    int64_t off = gr_log_start_offset(log), end = gr_log_end_offset(log);
    size_t cap = 1 << 20;
    uint8_t *b = malloc(cap);
    while (off < end) {
        gr_log_slice_t s;
        assert_int_equal(gr_log_read(log, off, 1, INT64_MAX, true, &s), 0);
        if (s.len == 0)
            break;
        if ((size_t)s.len > cap)
            b = realloc(b, cap = (size_t)s.len);
        assert_int_equal(pread(gr_file_fd(s.file), b, (size_t)s.len, s.pos), s.len);
        gr_batch_info_t bi;
        assert_int_equal(gr_batch_check(b, (size_t)s.len, &bi), 0);
        assert_int_equal(bi.size, s.len);
        gr_rec_iter_t it;
        gr_record_t rc;
        int32_t n = 0;
        int rrc;
        gr_rec_iter_open(&it, b, &bi);
        while ((rrc = gr_rec_iter_next(&it, &rc)) > 0) {
            fn(&bi, bi.base_offset + rc.offset_delta, &rc, arg);
            n++;
        }
        gr_rec_iter_close(&it);
        assert_int_equal(rrc, 0);
        assert_int_equal(n, bi.record_count);
        off = bi.base_offset + bi.last_offset_delta + 1;
    }
    free(b);
}

static gr_log_config_t cfg_bombs(void)
{
    gr_log_config_t c = cfg_compact();
    c.segment_bytes = 1 << 20;
    c.max_message_bytes = 64 << 20;
    c.min_cleanable_ratio = 0.01;
    return c;
}

static void append_raw(gr_log_t *log, uint8_t *p, size_t len)
{
    gr_append_info_t info;
    assert_int_equal(gr_log_append(log, p, len, 0, true, gr_now_ms(), &info), 0);
}

/* ...millions of small records under a thousand keys */
#define BOMB_RECS (2 * 1000 * 1000)
#define BOMB_KEYS 1000

static void few_keys(int32_t i, char *key, int32_t *klen, const uint8_t **val, int32_t *vlen)
{
    *klen = snprintf(key, 16, "k%03d", i % BOMB_KEYS);
    *val = (const uint8_t *)"v";
    *vlen = 1;
}

typedef struct seen {
    int64_t n;
    int64_t first, last;
    int64_t batches;
    int32_t max_batch;
    int64_t prev;
} seen_t;

static void count_rec(const gr_batch_info_t *bi, int64_t off, const gr_record_t *r, void *arg)
{
    seen_t *s = arg;
    (void)r;
    assert_true(off > s->prev);
    if (s->n == 0)
        s->first = off;
    s->last = s->prev = off;
    s->n++;
    if (bi->size > s->max_batch)
        s->max_batch = bi->size;
}

/* A batch of two million small records (Produce accepts it: validation
 * streams) costs the cleaner no memory per record: measured around the
 * pass, the resident set grows by the decompression window and the codec
 * state, not by the record count. */
static void test_bomb_few_keys_memory(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_bombs();
    gr_log_t *log = open_log(&c, true, NULL);
    size_t len;
    uint8_t *p = zstd_bomb(BOMB_RECS, T0, few_keys, &len);
    append_raw(log, p, len);
    free(p);
    gr_log_housekeep(log, gr_now_ms() + c.segment_ms + 1);      /* roll */
    result_t r;
    int rc;
    double grew = clean_measured(log, gr_now_ms(), 128u << 20, &r, &rc);
    print_message("pass over %d records (%zu bytes of zstd): resident set +%.1f MiB\n", BOMB_RECS, len, grew);
    assert_int_equal(rc, 0);
    assert_int_equal(r.st.records_removed, BOMB_RECS - BOMB_KEYS);
    assert_int_equal(r.st.keys, BOMB_KEYS);
    assert_true(grew < 48.0);
    seen_t s = {.prev = -1};
    visit_log(log, count_rec, &s);
    assert_int_equal(s.n, BOMB_KEYS);
    assert_int_equal(s.first, BOMB_RECS - BOMB_KEYS);
    assert_int_equal(s.last, BOMB_RECS - 1);
    gr_log_close(log);
}

/* ...a hundred thousand distinct keys against a 256 KiB map */
#define MANY_KEYS 100000

static void distinct_keys(int32_t i, char *key, int32_t *klen, const uint8_t **val, int32_t *vlen)
{
    *klen = snprintf(key, 16, "key-%07d", i);
    *val = (const uint8_t *)"x";
    *vlen = 1;
}

/* The offset map stays within its bound even when one batch holds more
 * keys than it can: the batch is mapped a part per pass, passes progress
 * inside it, and the result is the same as with a map large enough. */
static void test_bomb_map_bounded(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_bombs();
    gr_log_t *log = open_log(&c, true, NULL);
    size_t len;
    uint8_t *p = zstd_bomb(MANY_KEYS, T0, distinct_keys, &len);
    append_raw(log, p, len);
    free(p);
    /* keys 0..9 written again */
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, T0);
    for (int i = 0; i < 10; i++) {
        char key[16];
        int kl = snprintf(key, sizeof(key), "key-%07d", i);
        gr_batch_builder_add(&b, i, T0, key, kl, "y", 1);
    }
    p = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
    append_raw(log, p, len);
    gr_batch_builder_free(&b);
    gr_log_housekeep(log, gr_now_ms() + c.segment_ms + 1);      /* roll */
    const size_t map_bytes = 256 << 10;
    result_t r;
    int passes = 0, rc;
    int64_t prev = 0;
    while ((rc = clean(log, gr_now_ms(), map_bytes, &r)) == 0) {
        passes++;
        assert_true(r.st.keys * 48 <= (int64_t)map_bytes);     /* two slots of 24 bytes per key at most */
        assert_true(r.st.map_end > prev);
        prev = r.st.map_end;
        assert_true(passes < 200);
    }
    assert_int_equal(rc, GR_AGAIN);
    assert_true(passes > 1);
    assert_int_equal(prev, MANY_KEYS + 10);
    seen_t s = {.prev = -1};
    visit_log(log, count_rec, &s);
    assert_int_equal(s.n, MANY_KEYS);
    assert_int_equal(s.first, 10);
    assert_int_equal(s.last, MANY_KEYS + 9);
    gr_log_close(log);
}

/* ...records of 64 KiB, more of them than one rebuilt batch may hold */
#define BIG_RECS 300
#define BIG_VAL (64 << 10)

static void big_values(int32_t i, char *key, int32_t *klen, const uint8_t **val, int32_t *vlen)
{
    static uint8_t v[BIG_VAL];
    *klen = snprintf(key, 16, "big-%03d", i == 0 ? 1 : i);        /* record 0 is superseded by 1 */
    memset(v, 'a' + i % 26, sizeof(v));
    *val = v;
    *vlen = BIG_VAL;
}

typedef struct bigseen {
    seen_t s;
    int bad;
} bigseen_t;

static void check_big(const gr_batch_info_t *bi, int64_t off, const gr_record_t *r, void *arg)
{
    bigseen_t *b = arg;
    count_rec(bi, off, r, &b->s);
    char key[16];
    snprintf(key, sizeof(key), "big-%03d", (int)off);
    if (r->key_len != (int32_t)strlen(key) || memcmp(r->key, key, (size_t)r->key_len) || r->value_len != BIG_VAL ||
        r->value[0] != 'a' + off % 26 || r->value[BIG_VAL - 1] != 'a' + off % 26)
        b->bad++;
}

/* A batch that loses a record is rebuilt uncompressed in batches of at
 * most 16 MiB, never as one batch of whatever the records decompress to. */
static void test_bomb_rebuild_bounded(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_bombs();
    gr_log_t *log = open_log(&c, true, NULL);
    size_t len;
    uint8_t *p = zstd_bomb(BIG_RECS, T0, big_values, &len);
    append_raw(log, p, len);
    free(p);
    gr_log_housekeep(log, gr_now_ms() + c.segment_ms + 1);      /* roll */
    result_t r;
    int rc;
    double grew = clean_measured(log, gr_now_ms(), 128u << 20, &r, &rc);
    print_message("pass over %d records of %d KiB: resident set +%.1f MiB\n", BIG_RECS, BIG_VAL >> 10, grew);
    assert_int_equal(rc, 0);
    assert_int_equal(r.st.records_removed, 1);
    bigseen_t b = {.s = {.prev = -1}};
    visit_log(log, check_big, &b);
    assert_int_equal(b.bad, 0);
    assert_int_equal(b.s.n, BIG_RECS - 1);
    assert_int_equal(b.s.first, 1);
    assert_int_equal(b.s.last, BIG_RECS - 1);
    assert_true(b.s.max_batch <= (16 << 20));
    assert_true(grew < 48.0);
    gr_log_close(log);
}

/* ---- transactions ---- */

/* One record of a transactional (or plain, pid -1) producer. */
static void txn_put(gr_log_t *log, int64_t pid, const char *key, const char *val)
{
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, T0);
    gr_batch_builder_add(&b, 0, T0, key, (int32_t)strlen(key), val, val ? (int32_t)strlen(val) : 0);
    size_t len;
    uint8_t *p = gr_batch_builder_finish(&b, pid >= 0 ? GR_ATTR_TRANSACTIONAL : 0, pid, pid >= 0 ? 0 : -1,
                                         pid >= 0 ? 0 : -1, &len);
    gr_append_info_t info;
    assert_int_equal(gr_log_append_as(log, p, len, 0, true, GR_APPEND_COORDINATOR, gr_now_ms(), &info), 0);
    gr_batch_builder_free(&b);
}

static void txn_end(gr_log_t *log, int64_t pid, bool commit)
{
    size_t len;
    uint8_t *m = gr_batch_build_marker(pid, 0, 0, commit, gr_now_ms(), &len);
    gr_append_info_t info;
    assert_int_equal(gr_log_append_as(log, m, len, 0, true, GR_APPEND_COORDINATOR, gr_now_ms(), &info), 0);
    free(m);
}

typedef struct tview {
    int nmarkers[2];                /* ABORT, COMMIT markers of pid 100 */
    int horizons;                   /* markers with a delete horizon */
    char k1[32], k2[32];            /* the last value of each key, "" if none */
    int p100_records;               /* records of pid 100's aborted transaction */
} tview_t;

static void tview_read(gr_log_t *log, tview_t *v)
{
    memset(v, 0, sizeof(*v));
    int64_t off = gr_log_start_offset(log), end = gr_log_end_offset(log);
    uint8_t *b = malloc(1 << 20);
    while (off < end) {
        gr_log_slice_t sl;
        assert_int_equal(gr_log_read(log, off, 1 << 16, INT64_MAX, true, &sl), 0);
        if (sl.len == 0)
            break;
        assert_int_equal(pread(gr_file_fd(sl.file), b, (size_t)sl.len, sl.pos), sl.len);
        for (size_t pos = 0; pos < (size_t)sl.len;) {
            gr_batch_info_t bi;
            assert_int_equal(gr_batch_check(b + pos, (size_t)sl.len - pos, &bi), 0);
            if (bi.attributes & GR_ATTR_CONTROL) {
                int16_t type;
                int32_t ce;
                int64_t ts;
                if (bi.producer_id == 100 && gr_batch_control_marker(b + pos, (size_t)bi.size, &type, &ce, &ts) == 0)
                    v->nmarkers[type]++;
                v->horizons += (bi.attributes & GR_ATTR_DELETE_HORIZON) != 0;
            } else {
                gr_rec_iter_t it;
                gr_record_t r;
                gr_rec_iter_open(&it, b + pos, &bi);
                while (gr_rec_iter_next(&it, &r) > 0) {
                    char val[32];
                    snprintf(val, sizeof(val), "%.*s", (int)r.value_len, (const char *)r.value);
                    if (bi.producer_id == 100 && !strcmp(val, "B"))
                        v->p100_records++;
                    else if (r.key_len == 2 && !memcmp(r.key, "k1", 2))
                        snprintf(v->k1, sizeof(v->k1), "%s", val);
                    else if (r.key_len == 2 && !memcmp(r.key, "k2", 2))
                        snprintf(v->k2, sizeof(v->k2), "%s", val);
                }
                gr_rec_iter_close(&it);
            }
            off = bi.base_offset + bi.last_offset_delta + 1;
            pos += (size_t)bi.size;
        }
    }
    free(b);
}

static void count_cb(void *arg, const gr_aborted_txn_t *t)
{
    (void)t;
    (*(int *)arg)++;
}

static int count_aborted(gr_log_t *log)
{
    int n = 0;
    assert_int_equal(gr_log_collect_aborted(log, 0, gr_log_end_offset(log), count_cb, &n), 0);
    return n;
}

/* Kafka's transaction-aware cleaning: an aborted transaction's records go
 * at once (they never shadow a committed value of their key), its marker
 * stays while its batches are seen, then gets a delete horizon and goes
 * after it; a committed transaction's records are compacted as any; and
 * nothing at or after the segment of an ongoing transaction is cleaned. */
static void test_transactions(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_compact();
    c.segment_bytes = 300;
    c.min_cleanable_ratio = 0;
    c.delete_retention_ms = 1000;
    gr_log_t *log = open_log(&c, true, NULL);
    txn_put(log, -1, "k1", "A");
    txn_put(log, 100, "k1", "B");               /* aborted: must not shadow A */
    txn_end(log, 100, false);
    txn_put(log, 100, "k2", "C");
    txn_end(log, 100, true);
    char k[16];
    for (int i = 0; i < 12; i++) {
        snprintf(k, sizeof(k), "f%02d", i);
        txn_put(log, -1, k, "filler");
    }
    int64_t open_at = gr_log_end_offset(log);
    txn_put(log, 300, "k9", "D");               /* ongoing: bounds the cleaning */
    for (int i = 0; i < 12; i++) {
        snprintf(k, sizeof(k), "g%02d", i);
        txn_put(log, -1, k, "filler");
    }
    assert_int_equal(gr_log_last_stable_offset(log), open_at);
    assert_int_equal(count_aborted(log), 1);
    int64_t now = gr_now_ms();
    result_t r;
    assert_int_equal(clean(log, now, 1 << 20, &r), 0);
    assert_true(r.st.map_end <= open_at);
    tview_t v;
    tview_read(log, &v);
    assert_string_equal(v.k1, "A");
    assert_string_equal(v.k2, "C");
    assert_int_equal(v.p100_records, 0);
    assert_int_equal(v.nmarkers[0], 1);         /* its batch was seen: stays */
    assert_int_equal(v.nmarkers[1], 1);
    assert_int_equal(count_aborted(log), 1);    /* with its index entry */
    /* next pass (new data makes one): nothing of the aborted transaction
     * left, a horizon */
    txn_end(log, 300, true);
    for (int i = 0; i < 12; i++) {
        snprintf(k, sizeof(k), "h%02d", i);
        txn_put(log, -1, k, "filler");
    }
    assert_int_equal(clean(log, now, 1 << 20, &r), 0);
    tview_read(log, &v);
    assert_int_equal(v.nmarkers[0], 1);
    assert_true(v.horizons >= 1);
    assert_int_equal(count_aborted(log), 0);
    assert_string_equal(v.k1, "A");
    /* after the horizon it goes; the COMMIT of a transaction whose record
     * is still the latest value stays */
    assert_int_equal(clean(log, now + 2000, 1 << 20, &r), 0);
    tview_read(log, &v);
    assert_int_equal(v.nmarkers[0], 0);
    assert_int_equal(v.nmarkers[1], 1);
    assert_string_equal(v.k1, "A");
    assert_string_equal(v.k2, "C");
    assert_int_equal(count_files(".cleaned"), 0);
    assert_int_equal(count_files(".swap"), 0);
    assert_int_equal(count_files(".deleted"), 0);
    gr_log_close(log);
    /* and the cleaned log reopens to the same */
    log = open_log(&c, true, NULL);
    tview_read(log, &v);
    assert_string_equal(v.k1, "A");
    assert_int_equal(gr_log_last_stable_offset(log), gr_log_end_offset(log));
    gr_log_close(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compact_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tombstones_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keeps_last_batch_of_producers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuilt_batch_keeps_last_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tombstone_horizon_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_min_compaction_lag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_keeps_codec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers_compressed_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_every_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandon_when_segments_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_with_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compact_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_segments_bounded_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bomb_few_keys_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bomb_map_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bomb_rebuild_bounded, setup, teardown),
    };
    gr_log_level = getenv("GR_TEST_VERBOSE") ? GR_LOG_DEBUG : GR_LOG_WARN;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
