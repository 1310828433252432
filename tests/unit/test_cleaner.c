/* Unit tests for cleaner.c and the compaction parts of log.c: latest
 * values survive at their offsets, superseded ones go, tombstones live
 * for delete.retention.ms, min.compaction.lag.ms, the active segment,
 * bounded offset map (prefix cleaning), headers and compressed batches,
 * control batches, reads and indexes over offset gaps, reopen, crashes at
 * every step of the swap, and a pass on a real event loop with appends
 * going on. */
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

#include "batch.h"
#include "cleaner.h"
#include "kerr.h"
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
    static gr_buf_t dec;
    size_t pos = 0;
    while (pos < len) {
        gr_batch_info_t bi;
        assert_int_equal(gr_batch_check(p + pos, len - pos, &bi), 0);
        const uint8_t *r, *end;
        assert_int_equal(gr_batch_records(p + pos, &bi, &dec, &r, &end), 0);
        int64_t prev = -1;
        for (int32_t i = 0; i < bi.record_count; i++) {
            gr_record_t rc;
            assert_int_equal(gr_record_next(&r, end, &rc), 0);
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
        static gr_buf_t dec;
        const uint8_t *r, *e;
        assert_int_equal(gr_batch_records(b, &bi, &dec, &r, &e), 0);
        bool found = false;
        for (int32_t i = 0; i < bi.record_count; i++) {
            gr_record_t rc;
            assert_int_equal(gr_record_next(&r, e, &rc), 0);
            if (bi.base_offset + rc.offset_delta >= off) {
                assert_int_equal(bi.base_offset + rc.offset_delta, recs[j].off);
                found = true;
                break;
            }
        }
        assert_true(found);
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
    assert_int_equal(info.error_code, KERR_INVALID_RECORD);
    assert_int_equal(gr_log_append_as(log, p, len, 5, true, GR_APPEND_COORDINATOR, gr_now_ms(), &info), 0);
    gr_batch_builder_free(&b);
    /* a keyless record is refused */
    gr_batch_builder_init(&b, 0, 3000);
    gr_batch_builder_add(&b, 0, 3000, NULL, 0, "x", 1);
    p = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
    assert_int_equal(gr_log_append(log, p, len, 5, true, gr_now_ms(), &info), GR_EINVAL);
    assert_int_equal(info.error_code, KERR_INVALID_RECORD);
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
    /* read back: one batch rebuilt uncompressed (offsets 1 2 3), the control batch as is */
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
    assert_int_equal(bi.attributes & GR_ATTR_COMPRESSION_MASK, GR_COMPRESSION_NONE);
    assert_int_equal(bi.producer_id, 77);
    assert_int_equal(bi.max_timestamp, 1003);
    assert_int_equal(bi.first_timestamp, 1001);
    assert_int_equal((rb[12] << 24) | (rb[13] << 16) | (rb[14] << 8) | rb[15], 5);  /* leader epoch */
    const uint8_t *rp, *re;
    gr_buf_t dec = {0};
    assert_int_equal(gr_batch_records(rb, &bi, &dec, &rp, &re), 0);
    const char *want[] = {"b", "a", "c"};
    for (int i = 0; i < 3; i++) {
        gr_record_t rc;
        assert_int_equal(gr_record_next(&rp, re, &rc), 0);
        assert_int_equal(rc.offset_delta, i + 1);
        assert_memory_equal(rc.key, want[i], 1);
        assert_int_equal(rc.header_count, 1);
        assert_int_equal(rc.headers_len, sizeof(hdrs));
        assert_memory_equal(rc.headers, hdrs, sizeof(hdrs));
        assert_int_equal(bi.first_timestamp + rc.timestamp_delta, 1001 + i);
    }
    gr_buf_free(&dec);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_compact_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tombstones_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keeps_last_batch_of_producers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tombstone_horizon_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_min_compaction_lag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers_compressed_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_every_step, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandon_when_segments_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_with_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compact_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_segments_bounded_fds, setup, teardown),
    };
    gr_log_level = getenv("GR_TEST_VERBOSE") ? GR_LOG_DEBUG : GR_LOG_WARN;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
