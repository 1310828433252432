/* Unit tests for log.c / segment.c / checkpoint.c: append, read through
 * the indexes, rolling, timestamps, retention, recovery, checkpoints. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "batch.h"
#include "checkpoint.h"
#include "fio.h"
#include "log.h"

#include "batch_helper.h"
#include "log_helper.h"

/* the descriptor cache keeps at most this many .log files open unless
 * configured otherwise (gr_fcache_set_max); plus a few in use at once */
#define SEG_FD_BOUND 260

static char dir[256];
static uint8_t buf[1 << 20];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/gregor-test-log-XXXXXX");
    assert_non_null(mkdtemp(dir));
    strcat(dir, "/t-0");
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

static gr_log_t *open_log(const gr_log_config_t *c, bool clean, int64_t rp)
{
    gr_log_open_opts_t o = {.dir = dir, .cfg = c, .recovery_point = rp,
                            .log_start_offset = -1, .clean_shutdown = clean};
    gr_log_t *log = NULL;
    assert_int_equal(gr_log_open(&o, &log), 0);
    return log;
}

static void append_ok(gr_log_t *log, int n, int64_t ts0, int vlen, int codec)
{
    size_t len = build_batch(buf, n, ts0, vlen, codec);
    gr_append_info_t info;
    int64_t end = gr_log_end_offset(log);
    assert_int_equal(gr_log_append(log, buf, len, 3, true, gr_now_ms(), &info), 0);
    assert_int_equal(info.serr, GR_SERR_NONE);
    assert_int_equal(info.base_offset, end);
    assert_int_equal(info.last_offset, end + n - 1);
    assert_int_equal(gr_log_end_offset(log), end + n);
}

static int64_t be64_at(int fd, int64_t pos)
{
    uint8_t b[8];
    assert_int_equal(pread(fd, b, 8, pos), 8);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return (int64_t)v;
}

/* check a slice: whole batches, first contains offset */
static void check_slice(const gr_log_slice_t *s, int64_t offset, int per_batch)
{
    assert_non_null(s->file);
    assert_true(s->len > 0);
    int64_t base = be64_at(gr_file_fd(s->file), s->pos);
    assert_int_equal(base, offset - offset % per_batch);
    int64_t pos = s->pos, expect = base;
    while (pos < s->pos + s->len) {
        assert_int_equal(be64_at(gr_file_fd(s->file), pos), expect);
        uint8_t b[12];
        assert_int_equal(pread(gr_file_fd(s->file), b, 12, pos), 12);
        int32_t blen = (int32_t)(((uint32_t)b[8] << 24) | ((uint32_t)b[9] << 16) | ((uint32_t)b[10] << 8) | b[11]);
        pos += 12 + blen;
        expect += per_batch;
    }
    assert_int_equal(pos, s->pos + s->len);
}

static void test_append_read(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    gr_log_t *log = open_log(&c, true, 0);
    for (int i = 0; i < 10; i++)
        append_ok(log, 5, 1000, 10, i % 2);
    assert_int_equal(gr_log_end_offset(log), 50);
    gr_log_slice_t s;
    for (int64_t off = 0; off < 50; off++) {
        assert_int_equal(gr_log_read(log, off, 1 << 20, INT64_MAX, true, &s), 0);
        check_slice(&s, off, 5);
    }
    /* upper bound: only batches entirely below it */
    assert_int_equal(gr_log_read(log, 0, 1 << 20, 12, true, &s), 0);
    check_slice(&s, 0, 5);
    assert_int_equal(be64_at(gr_file_fd(s.file), s.pos), 0);
    assert_int_equal(gr_log_read(log, 50, 1 << 20, INT64_MAX, true, &s), 0);
    assert_int_equal(s.len, 0);
    assert_int_equal(gr_log_read(log, 51, 1 << 20, INT64_MAX, true, &s), GR_ERANGE);
    gr_log_close(log);
}

static void check_reads(gr_log_t *log, int64_t end, int per)
{
    gr_log_slice_t s;
    srand(3);
    for (int k = 0; k < 500; k++) {
        int64_t off = rand() % end;
        assert_int_equal(gr_log_read(log, off, 1, INT64_MAX, true, &s), 0);
        check_slice(&s, off, per);
        assert_int_equal(gr_log_read(log, off, 1000, INT64_MAX, false, &s), 0);
        if (s.len > 0) {
            check_slice(&s, off, per);
            assert_true(s.len <= 1000);
        }
        assert_int_equal(gr_log_read(log, off, 1, INT64_MAX, false, &s), 0);
        assert_int_equal(s.len, 0);
    }
}

static void test_roll_and_index(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.segment_bytes = 8192;
    c.index_interval_bytes = 300;
    gr_log_t *log = open_log(&c, true, 0);
    for (int i = 0; i < 300; i++)
        append_ok(log, 3, 1000 + i * 10, 40, i % 3 == 0);
    assert_true(gr_log_segment_count(log) > 5);
    check_reads(log, 900, 3);
    int segs = gr_log_segment_count(log);
    int64_t size = gr_log_size_bytes(log);
    gr_log_close(log);

    /* clean reopen: indexes from the files */
    log = open_log(&c, true, 0);
    assert_int_equal(gr_log_end_offset(log), 900);
    assert_int_equal(gr_log_segment_count(log), segs);
    assert_int_equal(gr_log_size_bytes(log), size);
    check_reads(log, 900, 3);
    append_ok(log, 3, 5000, 40, 0);
    gr_log_close(log);

    /* unclean reopen from the start: everything rebuilt, nothing lost */
    log = open_log(&c, false, 0);
    assert_int_equal(gr_log_end_offset(log), 903);
    check_reads(log, 903, 3);
    gr_log_close(log);

    /* damaged index file of an old segment on a clean open: rebuilt */
    char path[512];
    snprintf(path, sizeof(path), "%s/%020d.index", dir, 0);
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "garbage", 7), 7);
    close(fd);
    log = open_log(&c, true, 0);
    assert_int_equal(gr_log_end_offset(log), 903);
    check_reads(log, 903, 3);
    gr_log_close(log);
}

static void test_timestamps(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.segment_bytes = 4096;
    c.index_interval_bytes = 200;
    gr_log_t *log = open_log(&c, true, 0);
    for (int i = 0; i < 100; i++)
        append_ok(log, 5, 100000 + i * 10, 20, i % 2);
    for (int round = 0; round < 2; round++) {
        int64_t ts;
        for (int i = 0; i < 100; i += 7) {
            assert_int_equal(gr_log_offset_for_timestamp(log, 100000 + i * 10 + 2, &ts), i * 5 + 2);
            assert_int_equal(ts, 100000 + i * 10 + 2);
            /* between batches: first record of the next batch */
            assert_int_equal(gr_log_offset_for_timestamp(log, 100000 + i * 10 + 7, &ts), i * 5 + 5);
        }
        assert_int_equal(gr_log_offset_for_timestamp(log, 0, &ts), 0);
        assert_int_equal(gr_log_offset_for_timestamp(log, 200000, &ts), -1);
        assert_int_equal(ts, -1);
        int64_t off;
        gr_log_max_timestamp(log, &off, &ts);
        assert_int_equal(off, 499);
        assert_int_equal(ts, 100000 + 99 * 10 + 4);
        gr_log_close(log);
        log = open_log(&c, true, 0);
    }
    gr_log_close(log);
}

static void test_retention_bytes(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.segment_bytes = 2048;
    gr_log_t *log = open_log(&c, true, 0);
    for (int i = 0; i < 100; i++)
        append_ok(log, 2, gr_now_ms(), 50, 0);
    int segs = gr_log_segment_count(log);
    assert_int_equal(gr_log_housekeep(log, gr_now_ms()), 0);
    c.retention_bytes = 5000;
    gr_log_set_config(log, &c);
    int deleted = gr_log_housekeep(log, gr_now_ms());
    assert_true(deleted > 0);
    assert_int_equal(gr_log_segment_count(log), segs - deleted);
    assert_true(gr_log_size_bytes(log) >= 5000 - 2048);
    assert_true(gr_log_start_offset(log) > 0);
    int64_t start = gr_log_start_offset(log);
    gr_log_slice_t s;
    assert_int_equal(gr_log_read(log, start - 1, 1000, INT64_MAX, true, &s), GR_ERANGE);
    assert_int_equal(gr_log_read(log, start, 1000, INT64_MAX, true, &s), 0);
    check_slice(&s, start, 2);
    assert_int_equal(gr_log_end_offset(log), 200);
    gr_log_close(log);
}

static void test_retention_time(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.segment_bytes = 2048;
    c.retention_ms = 3600 * 1000;
    gr_log_t *log = open_log(&c, true, 0);
    int64_t now = gr_now_ms();
    for (int i = 0; i < 40; i++)
        append_ok(log, 2, now - 2 * 3600 * 1000, 50, 0);   /* old */
    for (int i = 0; i < 40; i++)
        append_ok(log, 2, now, 50, 0);                      /* fresh */
    int deleted = gr_log_housekeep(log, now);
    assert_true(deleted > 0);
    int64_t start = gr_log_start_offset(log);
    assert_true(start > 0 && start <= 80);
    int64_t ts;
    assert_true(gr_log_offset_for_timestamp(log, 0, &ts) >= start);
    /* everything expired: the active segment is rolled and deleted too */
    deleted = gr_log_housekeep(log, now + 2 * 3600 * 1000);
    assert_true(deleted > 0);
    assert_int_equal(gr_log_segment_count(log), 1);
    assert_int_equal(gr_log_start_offset(log), 160);
    assert_int_equal(gr_log_size_bytes(log), 0);
    append_ok(log, 2, now, 50, 0);
    assert_int_equal(gr_log_end_offset(log), 162);
    gr_log_close(log);
    log = open_log(&c, true, 0);
    assert_int_equal(gr_log_start_offset(log), 160);
    assert_int_equal(gr_log_end_offset(log), 162);
    gr_log_close(log);
}

static void test_advance_start(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.segment_bytes = 1024;
    gr_log_t *log = open_log(&c, true, 0);
    for (int i = 0; i < 50; i++)
        append_ok(log, 2, 1000, 50, 0);
    int segs = gr_log_segment_count(log);
    gr_log_advance_start(log, 51);
    assert_int_equal(gr_log_start_offset(log), 51);
    assert_true(gr_log_segment_count(log) < segs);
    gr_log_slice_t s;
    assert_int_equal(gr_log_read(log, 50, 1000, INT64_MAX, true, &s), GR_ERANGE);
    assert_int_equal(gr_log_read(log, 51, 1000, INT64_MAX, true, &s), 0);
    check_slice(&s, 51, 2);
    gr_log_close(log);
}

static char seg0[512];

static int64_t file_size(const char *p)
{
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_size;
}

/* three batches of 4 records, closed; returns the size of the first two */
static int64_t three_batches(void)
{
    gr_log_config_t c = cfg_default();
    gr_log_t *log = open_log(&c, true, 0);
    append_ok(log, 4, 1000, 30, 0);
    append_ok(log, 4, 1000, 30, 1);
    int64_t two = gr_log_size_bytes(log);
    append_ok(log, 4, 1000, 30, 0);
    gr_log_close(log);
    snprintf(seg0, sizeof(seg0), "%s/%020d.log", dir, 0);
    return two;
}

static void reopen_expect(int64_t end, int64_t size)
{
    gr_log_config_t c = cfg_default();
    gr_log_t *log = open_log(&c, false, 0);
    assert_int_equal(gr_log_end_offset(log), end);
    assert_int_equal(gr_log_size_bytes(log), size);
    assert_int_equal(file_size(seg0), size);
    append_ok(log, 4, 1000, 30, 0);
    assert_int_equal(gr_log_end_offset(log), end + 4);
    gr_log_slice_t s;
    assert_int_equal(gr_log_read(log, end, 1 << 20, INT64_MAX, true, &s), 0);
    check_slice(&s, end, 4);
    gr_log_close(log);
}

static void test_torn_garbage(void **state)
{
    (void)state;
    three_batches();
    int64_t size = file_size(seg0);
    int fd = open(seg0, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "\0\0\0\0\0\0\0\0\0\0\0\x50garbage-garbage", 27), 27);
    close(fd);
    reopen_expect(12, size);
}

static void test_torn_truncated(void **state)
{
    (void)state;
    int64_t two = three_batches();
    assert_int_equal(truncate(seg0, file_size(seg0) - 17), 0);
    reopen_expect(8, two);
}

static void test_torn_crc(void **state)
{
    (void)state;
    int64_t two = three_batches();
    int fd = open(seg0, O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, two + GR_BOFF_CRC + 1), 1);
    b ^= 0x10;
    assert_int_equal(pwrite(fd, &b, 1, two + GR_BOFF_CRC + 1), 1);
    close(fd);
    reopen_expect(8, two);
}

static void test_torn_later_segments(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.segment_bytes = 1024;
    gr_log_t *log = open_log(&c, true, 0);
    for (int i = 0; i < 30; i++)
        append_ok(log, 2, 1000, 50, 0);
    int segs = gr_log_segment_count(log);
    gr_log_close(log);
    /* corrupt the first batch of the first segment: later ones go */
    snprintf(seg0, sizeof(seg0), "%s/%020d.log", dir, 0);
    int fd = open(seg0, O_RDWR);
    assert_int_equal(pwrite(fd, "\x7f", 1, 70), 1);
    close(fd);
    log = open_log(&c, false, 0);
    assert_true(segs > 1);
    assert_int_equal(gr_log_segment_count(log), 1);
    assert_int_equal(gr_log_end_offset(log), 0);
    append_ok(log, 2, 1000, 50, 0);
    gr_log_close(log);
}

static void test_fuzz_recovery(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.segment_bytes = 4096;
    c.index_interval_bytes = 100;
    srand(11);
    for (int iter = 0; iter < 40; iter++) {
        gr_log_t *log = open_log(&c, true, 0);
        for (int i = 0; i < 20; i++)
            append_ok(log, 1 + i % 4, 1000, 40, i % 2);
        int64_t end = gr_log_end_offset(log);
        gr_log_close(log);
        /* random damage in random files */
        const char *sfx[] = {".log", ".index", ".timeindex"};
        for (int k = 0; k < 4; k++) {
            char p[512];
            snprintf(p, sizeof(p), "%s/%020d%s", dir, 0, sfx[rand() % 3]);
            int fd = open(p, O_RDWR);
            assert_true(fd >= 0);
            int64_t sz = file_size(p);
            if (sz > 0) {
                uint8_t b = (uint8_t)rand();
                assert_int_equal(pwrite(fd, &b, 1, rand() % sz), 1);
                if (rand() % 4 == 0)
                    assert_int_equal(ftruncate(fd, rand() % sz), 0);
            }
            close(fd);
        }
        log = open_log(&c, iter % 2 == 0, 0);
        assert_true(gr_log_end_offset(log) <= end + 0 || iter % 2 == 0);
        gr_log_slice_t s;
        for (int64_t off = gr_log_start_offset(log); off < gr_log_end_offset(log); off++)
            (void)gr_log_read(log, off, 1000, INT64_MAX, true, &s);
        int64_t ts;
        (void)gr_log_offset_for_timestamp(log, 1001, &ts);
        gr_log_close(log);
        gr_log_t *l2 = open_log(&c, false, 0);
        gr_log_delete(l2);
    }
}

static void test_append_errors(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.max_message_bytes = 500;
    gr_log_t *log = open_log(&c, true, 0);
    gr_append_info_t info;
    size_t n = build_batch(buf, 20, 0, 50, 0);
    assert_int_equal(gr_log_append(log, buf, n, 0, true, gr_now_ms(), &info), GR_ETOOBIG);
    assert_int_equal(info.serr, GR_SERR_BATCH_TOO_LARGE);

    /* second batch of the request corrupt: nothing written */
    n = build_batch(buf, 2, 0, 10, 0);
    size_t m = build_batch(buf + n, 2, 0, 10, 0);
    buf[n + m - 1] ^= 1;
    assert_int_equal(gr_log_append(log, buf, n + m, 0, true, gr_now_ms(), &info), GR_ECORRUPT);
    assert_int_equal(info.serr, GR_SERR_CORRUPT_BATCH);
    assert_int_equal(gr_log_end_offset(log), 0);
    assert_int_equal(gr_log_size_bytes(log), 0);

    /* truncated request */
    n = build_batch(buf, 2, 0, 10, 0);
    assert_int_equal(gr_log_append(log, buf, n - 1, 0, true, gr_now_ms(), &info), GR_ECORRUPT);

    /* zstd not allowed on this request version */
    n = build_batch(buf, 2, 0, 10, 0);
    buf[GR_BOFF_ATTRIBUTES + 1] = GR_COMPRESSION_ZSTD;
    fix_crc(buf);
    assert_int_equal(gr_log_append(log, buf, n, 0, false, gr_now_ms(), &info), GR_EINVAL);
    assert_int_equal(info.serr, GR_SERR_COMPRESSION);
    /* allowed but not zstd data */
    assert_int_equal(gr_log_append(log, buf, n, 0, true, gr_now_ms(), &info), GR_ECORRUPT);
    assert_int_equal(info.serr, GR_SERR_CORRUPT_BATCH);

    /* two good batches in one request */
    n = build_batch(buf, 2, 0, 10, 0);
    m = build_batch(buf + n, 3, 0, 10, 0);
    assert_int_equal(gr_log_append(log, buf, n + m, 0, true, gr_now_ms(), &info), 0);
    assert_int_equal(info.base_offset, 0);
    assert_int_equal(info.last_offset, 4);
    assert_int_equal(info.batch_count, 2);
    assert_int_equal(gr_log_end_offset(log), 5);
    gr_log_close(log);
}

static void test_log_append_time(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.log_append_time = true;
    gr_log_t *log = open_log(&c, true, 0);
    size_t n = build_batch(buf, 3, 5, 10, 0);
    gr_append_info_t info;
    assert_int_equal(gr_log_append(log, buf, n, 0, true, 123456789, &info), 0);
    assert_int_equal(info.log_append_time, 123456789);
    gr_log_slice_t s;
    assert_int_equal(gr_log_read(log, 0, 1 << 20, INT64_MAX, true, &s), 0);
    uint8_t b[256];
    assert_int_equal(pread(gr_file_fd(s.file), b, (size_t)s.len, s.pos), s.len);
    gr_batch_info_t bi;
    assert_int_equal(gr_batch_check(b, (size_t)s.len, &bi), 0);
    assert_int_equal(bi.max_timestamp, 123456789);
    gr_log_close(log);
}

static int flushed;
static void on_flush(void *arg, int rc)
{
    (void)arg;
    assert_int_equal(rc, 0);
    flushed++;
}

static void test_flush(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.flush_messages = 10;
    gr_log_t *log = open_log(&c, true, 0);
    append_ok(log, 5, 0, 10, 0);
    assert_false(gr_log_flush_due(log));
    assert_int_equal(gr_log_recovery_point(log), 0);
    append_ok(log, 5, 0, 10, 0);
    assert_true(gr_log_flush_due(log));
    assert_int_equal(gr_log_recovery_point(log), 10);
    append_ok(log, 5, 0, 10, 0);
    flushed = 0;
    gr_log_flush(log, 15, on_flush, NULL);
    assert_int_equal(flushed, 1);
    assert_int_equal(gr_log_recovery_point(log), 15);
    gr_log_flush(log, 15, on_flush, NULL);
    assert_int_equal(flushed, 2);
    gr_log_close(log);
}

/* flush by time: gr_log_flush_tick starts a flush once flush.ms has
 * elapsed since the last one (if anything is unflushed) and says when the
 * log is next due; without flush.ms it never is */
static void test_flush_tick(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    int64_t t0 = gr_now_ms();
    gr_log_t *log = open_log(&c, true, 0);
    int64_t t1 = gr_now_ms();
    append_ok(log, 5, 0, 10, 0);
    assert_true(gr_log_flush_tick(log, t1 + 86400000) == INT64_MAX);
    assert_int_equal(gr_log_recovery_point(log), 0);
    c.flush_ms = 300;
    gr_log_set_config(log, &c);
    int64_t next = gr_log_flush_tick(log, t0 + 100);     /* at most 100 ms since the open */
    assert_true(next >= 200 && next <= 300);
    assert_int_equal(gr_log_recovery_point(log), 0);
    assert_int_equal(gr_log_flush_tick(log, t1 + 300), 300);
    assert_int_equal(gr_log_recovery_point(log), 5);   /* no ev: the fsync ran inline */
    /* nothing new: not due again before another 300 ms */
    assert_int_equal(gr_log_flush_tick(log, t1 + 400), 200);
    append_ok(log, 2, 0, 10, 0);
    assert_int_equal(gr_log_flush_tick(log, t1 + 600), 300);
    assert_int_equal(gr_log_recovery_point(log), 7);
    gr_log_close(log);
}

/* fsync off the loop: callbacks only after the job's done has run */
static void test_flush_async(void **state)
{
    (void)state;
    gr_ev_t *ev = gr_ev_new();
    gr_log_config_t c = cfg_default();
    c.segment_bytes = 1024;
    gr_log_open_opts_t o = {.dir = dir, .cfg = &c, .log_start_offset = -1,
                            .clean_shutdown = true, .ev = ev, .lane = 1};
    gr_log_t *log = NULL;
    assert_int_equal(gr_log_open(&o, &log), 0);
    for (int i = 0; i < 20; i++)
        append_ok(log, 2, 1000, 50, 0);     /* rolls start flushes */
    flushed = 0;
    gr_log_flush(log, 40, on_flush, NULL);
    gr_ev_drain(ev);
    assert_int_equal(flushed, 1);
    assert_int_equal(gr_log_recovery_point(log), 40);
    /* retention deletes files off the loop; close with a job in flight */
    c.retention_bytes = 1;
    gr_log_set_config(log, &c);
    assert_true(gr_log_housekeep(log, gr_now_ms()) > 0);
    append_ok(log, 2, 1000, 50, 0);
    gr_log_flush(log, 42, on_flush, NULL);
    gr_log_close(log);
    assert_int_equal(flushed, 2);
    gr_ev_drain(ev);
    gr_ev_free(ev);
}

static void test_legacy_append(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    gr_log_t *log = open_log(&c, true, 0);
    append_ok(log, 2, 0, 10, 0);
    /* magic 1 message set of one message */
    uint8_t m[64];
    size_t q = 16;
    m[q++] = 1;
    m[q++] = 0;
    h_put64(m + q, 4242);
    q += 8;
    h_put32(m + q, (uint32_t)-1);
    q += 4;
    h_put32(m + q, 3);
    q += 4;
    memcpy(m + q, "abc", 3);
    q += 3;
    h_put64(m, 0);
    h_put32(m + 8, (uint32_t)(q - 12));
    h_put32(m + 12, gr_crc32(0, m + 16, q - 16));
    gr_append_info_t info;
    assert_int_equal(gr_log_append(log, m, q, 0, true, gr_now_ms(), &info), 0);
    assert_int_equal(info.base_offset, 2);
    assert_int_equal(gr_log_end_offset(log), 3);
    int64_t ts;
    assert_int_equal(gr_log_offset_for_timestamp(log, 4242, &ts), 2);
    gr_log_close(log);
}

static void test_checkpoint(void **state)
{
    (void)state;
    gr_mkdir_p(dir);
    char path[512];
    snprintf(path, sizeof(path), "%s/recovery-point-offset-checkpoint", dir);
    gr_ckpt_entry_t e[2] = {{"orders", 0, 1234}, {"my.topic_x", 7, 0}};
    assert_int_equal(gr_ckpt_write(path, e, 2), 0);
    char *txt;
    assert_int_equal(gr_file_read_all(path, &txt, NULL), 0);
    assert_string_equal(txt, "0\n2\norders 0 1234\nmy.topic_x 7 0\n");
    free(txt);
    gr_ckpt_entry_t *r;
    size_t n;
    assert_int_equal(gr_ckpt_read(path, &r, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(r[1].topic, "my.topic_x");
    assert_int_equal(r[1].partition, 7);
    assert_int_equal(r[0].offset, 1234);
    free(r);
    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(gr_ckpt_read(path, &r, &n), 0);
    assert_int_equal(n, 0);
    free(r);

    gr_uuid_t u = {{0}}, v;
    char s[23];
    gr_uuid_to_base64(&u, s);
    assert_string_equal(s, "AAAAAAAAAAAAAAAAAAAAAA");
    memset(u.b, 0xff, 16);
    gr_uuid_to_base64(&u, s);
    assert_string_equal(s, "_____________________w");
    for (int i = 0; i < 100; i++) {
        gr_uuid_random(&u);
        gr_uuid_to_base64(&u, s);
        assert_int_equal(strlen(s), 22);
        assert_int_equal(gr_uuid_from_base64(s, &v), 0);
        assert_memory_equal(u.b, v.b, 16);
    }
    assert_int_equal(gr_uuid_from_base64("short", &v), GR_EINVAL);
    assert_int_equal(gr_partmeta_write(dir, &u, true), 0);
    assert_int_equal(gr_partmeta_read(dir, &v), 0);
    assert_memory_equal(u.b, v.b, 16);
    gr_uuid_random(&u);
    assert_int_equal(gr_partmeta_write(dir, &u, false), 0);
    assert_int_equal(gr_partmeta_read(dir, &v), 0);
    assert_memory_equal(u.b, v.b, 16);
}

/* The shutdown sync of a whole log dir: prepare writes the indexes, a
 * successful sync moves the recovery point and leaves close nothing to
 * sync; a failed one keeps it and makes close report the failure. */
static void test_sync_prepare_done(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.index_interval_bytes = 64;
    gr_log_t *log = open_log(&c, true, 0);
    assert_false(gr_log_unflushed(log));
    for (int i = 0; i < 10; i++)
        append_ok(log, 5, 1000 + i, 100, 0);
    assert_true(gr_log_unflushed(log));
    int64_t upto = -1;
    assert_int_equal(gr_log_sync_prepare(log, &upto), 0);
    assert_int_equal(upto, 50);
    char path[600];
    snprintf(path, sizeof(path), "%s/00000000000000000000.index", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 0);               /* index entries written */
    gr_log_sync_done(log, upto, 0);
    assert_int_equal(gr_log_recovery_point(log), 50);
    assert_false(gr_log_unflushed(log));
    /* close syncs nothing more: an fsync fault does not reach it */
    assert_int_equal(gr_fio_arm("fsync@/t-0/"), 0);
    assert_int_equal(gr_log_close(log), 0);
    assert_int_equal(gr_fio_arm(""), 0);

    /* a failed sync: the recovery point stays, close reports it */
    log = open_log(&c, true, 50);
    append_ok(log, 5, 2000, 100, 0);
    assert_int_equal(gr_log_sync_prepare(log, &upto), 0);
    assert_int_equal(upto, 55);
    gr_log_sync_done(log, upto, GR_EIO);
    assert_int_equal(gr_log_recovery_point(log), 50);
    assert_true(gr_log_unflushed(log));
    assert_int_equal(gr_log_close(log), GR_EIO);
}

/* Read back the stored batch holding `offset` into b (at least 61 bytes
 * large, up to cap); returns its size. */
static int32_t stored_batch(gr_log_t *log, int64_t offset, uint8_t *b, size_t cap)
{
    gr_log_slice_t s;
    assert_int_equal(gr_log_read(log, offset, 1, INT64_MAX, true, &s), 0);
    assert_true(s.len >= GR_BATCH_HEADER_SIZE && (size_t)s.len <= cap);
    assert_int_equal(pread(s.file->fd, b, (size_t)s.len, s.pos), s.len);
    gr_batch_info_t bi;
    assert_int_equal(gr_batch_check(b, (size_t)s.len, &bi), 0);    /* CRC included */
    return s.len;
}

/* What librdkafka sends for records produced without a timestamp: every
 * record at -1, the header's maxTimestamp 0.  The segment's largest
 * timestamp comes from the records (none: the file's modification time
 * stands in), so retention does not take it for data from 1970. */
static void test_no_timestamp_retention(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.retention_ms = 60 * 1000;
    gr_log_t *log = open_log(&c, true, 0);
    size_t n = build_batch(buf, 1, -1, 10, 0);
    h_put64(buf + GR_BOFF_MAX_TS, 0);
    fix_crc(buf);
    gr_append_info_t info;
    assert_int_equal(gr_log_append(log, buf, n, 0, true, gr_now_ms(), &info), 0);
    append_ok(log, 1, -1, 10, 0);               /* header and records agree: -1 */
    assert_int_equal(gr_log_housekeep(log, gr_now_ms() + 1000), 0);
    assert_int_equal(gr_log_start_offset(log), 0);
    /* the stored header says what the records say (Kafka rewrites it) */
    uint8_t b[512];
    stored_batch(log, 0, b, sizeof(b));
    assert_int_equal((int64_t)gr_be64(b + GR_BOFF_MAX_TS), -1);
    int64_t off, ts;
    assert_int_equal(gr_log_max_timestamp(log, &off, &ts), 0);
    assert_int_equal(ts, -1);
    assert_int_equal(gr_log_offset_for_timestamp(log, 0, &ts), -1);
    /* after a restart too (index rebuilt from the files) */
    gr_log_close(log);
    log = open_log(&c, false, 0);
    assert_int_equal(gr_log_housekeep(log, gr_now_ms() + 1000), 0);
    assert_int_equal(gr_log_end_offset(log), 2);
    gr_log_close(log);
    log = open_log(&c, true, 0);
    assert_int_equal(gr_log_housekeep(log, gr_now_ms() + 1000), 0);
    /* the modification time does expire it in the end */
    assert_true(gr_log_housekeep(log, gr_now_ms() + 2 * 60 * 1000) > 0);
    assert_int_equal(gr_log_start_offset(log), 2);
    gr_log_close(log);
}

/* Header fields a client may get wrong or forge: maxTimestamp far from
 * the records', the delete-horizon bit (the cleaner's), record offset
 * deltas that are not 0..n-1. */
static void test_hostile_header_fields(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.retention_ms = 3600 * 1000;
    gr_log_t *log = open_log(&c, true, 0);
    gr_append_info_t info;
    uint8_t b[4096];
    int64_t now = gr_now_ms(), off, ts;

    /* maxTimestamp in the far future: retention would never delete it */
    size_t n = build_batch(buf, 3, 1000, 10, 0);
    h_put64(buf + GR_BOFF_MAX_TS, (uint64_t)INT64_MAX);
    fix_crc(buf);
    assert_int_equal(gr_log_append(log, buf, n, 0, true, now, &info), 0);
    stored_batch(log, 0, b, sizeof(b));
    assert_int_equal((int64_t)gr_be64(b + GR_BOFF_MAX_TS), 1002);
    assert_int_equal(gr_log_max_timestamp(log, &off, &ts), 0);
    assert_int_equal(ts, 1002);

    /* maxTimestamp 0 on records of now: retention would delete them */
    n = build_batch(buf, 3, now, 10, GR_COMPRESSION_GZIP);
    h_put64(buf + GR_BOFF_MAX_TS, 0);
    fix_crc(buf);
    assert_int_equal(gr_log_append(log, buf, n, 0, true, now, &info), 0);
    stored_batch(log, 3, b, sizeof(b));
    assert_int_equal((int64_t)gr_be64(b + GR_BOFF_MAX_TS), now + 2);
    assert_int_equal(gr_log_max_timestamp(log, &off, &ts), 0);
    assert_int_equal(ts, now + 2);
    assert_int_equal(off, 5);

    /* the delete-horizon bit is the cleaner's: cleared */
    n = build_batch(buf, 2, now, 10, 0);
    buf[GR_BOFF_ATTRIBUTES + 1] |= GR_ATTR_DELETE_HORIZON;
    fix_crc(buf);
    assert_int_equal(gr_log_append(log, buf, n, 0, true, now, &info), 0);
    stored_batch(log, 6, b, sizeof(b));
    assert_int_equal(b[GR_BOFF_ATTRIBUTES + 1] & GR_ATTR_DELETE_HORIZON, 0);

    /* offset deltas must be 0..n-1 (here 0, 0, 2) */
    n = build_batch(buf, 3, now, 10, 0);
    uint8_t *r = buf + GR_BATCH_HEADER_SIZE;
    r += 1 + 1 + 1;                 /* length, attributes, ts delta 0 */
    assert_int_equal(*r, 0);        /* offset delta 0 */
    r += 1 + 1 + 1 + 10 + 1;        /* key -1, value length, value, headers */
    r += 1 + 1 + 1;                 /* next record: length, attributes, ts delta */
    assert_int_equal(*r, 2);        /* zig-zag 1 */
    *r = 0;
    fix_crc(buf);
    assert_int_equal(gr_log_append(log, buf, n, 0, true, now, &info), GR_EINVAL);
    assert_int_equal(info.serr, GR_SERR_INVALID_RECORD);

    /* timestamps that overflow baseTimestamp + delta wrap as Java's do */
    n = build_batch(buf, 5, 0, 10, 0);
    h_put64(buf + GR_BOFF_BASE_TS, (uint64_t)(INT64_MAX - 2));
    h_put64(buf + GR_BOFF_MAX_TS, 7);
    assert_int_equal(buf[GR_BATCH_HEADER_SIZE + 2], 0);
    buf[GR_BATCH_HEADER_SIZE + 2] = 10;        /* first record: delta 5, past INT64_MAX */
    fix_crc(buf);
    assert_int_equal(gr_log_append(log, buf, n, 0, true, now, &info), 0);
    stored_batch(log, 8, b, sizeof(b));
    assert_int_equal((int64_t)gr_be64(b + GR_BOFF_MAX_TS), INT64_MAX);
    assert_int_equal(gr_log_offset_for_timestamp(log, INT64_MAX - 1, &ts), 9);
    assert_int_equal(ts, INT64_MAX - 1);
    assert_int_equal(gr_log_end_offset(log), 13);
    gr_log_close(log);
}

/* Produce-only rules (Kafka's LogValidator for AppendOrigin.CLIENT):
 * no control batches, no producer id without a sequence, no transactional
 * batch without a producer id, no LogAppendTime set by a producer.
 * (Idempotent batches: test_idempotent_appends; whether a transactional
 * batch belongs to a transaction the coordinator knows is the Produce
 * handler's verification, test_transactions.) */
static void test_client_batch_flags(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    gr_log_t *log = open_log(&c, true, 0);
    gr_append_info_t info;
    int64_t now = gr_now_ms();
    struct {
        uint16_t attr;
        int64_t pid;
        int32_t seq;
        gr_serr_t err;
        int rc;
    } cases[] = {
        {GR_ATTR_CONTROL, -1, -1, GR_SERR_INVALID_RECORD, GR_EINVAL},
        {GR_ATTR_CONTROL | GR_ATTR_TRANSACTIONAL, 7, 0, GR_SERR_INVALID_RECORD, GR_EINVAL},
        {0, 7, -1, GR_SERR_INVALID_RECORD, GR_EINVAL},
        {GR_ATTR_TRANSACTIONAL, -1, -1, GR_SERR_INVALID_RECORD, GR_EINVAL},
        {GR_ATTR_TIMESTAMP_TYPE, -1, -1, GR_SERR_INVALID_TIMESTAMP, GR_EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = build_batch(buf, 2, now, 10, 0);
        buf[GR_BOFF_ATTRIBUTES + 1] |= (uint8_t)cases[i].attr;
        h_put64(buf + GR_BOFF_PRODUCER_ID, (uint64_t)cases[i].pid);
        buf[GR_BOFF_PRODUCER_EPOCH] = buf[GR_BOFF_PRODUCER_EPOCH + 1] = 0;
        h_put32(buf + GR_BOFF_BASE_SEQ, (uint32_t)cases[i].seq);
        fix_crc(buf);
        /* behind a good batch: nothing of the request is written */
        size_t m = build_batch(buf + n, 1, now, 10, 0);
        memmove(buf + m, buf, n);
        build_batch(buf, 1, now, 10, 0);
        assert_int_equal(gr_log_append(log, buf, n + m, 0, true, now, &info), cases[i].rc);
        assert_int_equal(info.serr, cases[i].err);
        assert_int_equal(gr_log_end_offset(log), 0);
    }
    /* legacy (magic 1) LogAppendTime from a producer */
    uint8_t m[64];
    size_t q = 16;
    m[q++] = 1;
    m[q++] = 0x08;
    h_put64(m + q, 4242);
    q += 8;
    h_put32(m + q, (uint32_t)-1);
    q += 4;
    h_put32(m + q, 3);
    q += 4;
    memcpy(m + q, "abc", 3);
    q += 3;
    h_put64(m, 0);
    h_put32(m + 8, (uint32_t)(q - 12));
    h_put32(m + 12, gr_crc32(0, m + 16, q - 16));
    assert_int_equal(gr_log_append(log, m, q, 0, true, now, &info), GR_EINVAL);
    assert_int_equal(info.serr, GR_SERR_INVALID_TIMESTAMP);
    /* the broker's own batches (a transaction coordinator's markers); a
     * control batch whose record is not a marker is refused */
    size_t n = build_batch(buf, 1, now, 10, 0);
    buf[GR_BOFF_ATTRIBUTES + 1] |= GR_ATTR_CONTROL | GR_ATTR_TRANSACTIONAL;
    h_put64(buf + GR_BOFF_PRODUCER_ID, 7);
    fix_crc(buf);
    assert_int_equal(gr_log_append_as(log, buf, n, 0, true, GR_APPEND_COORDINATOR, now, &info), GR_EINVAL);
    assert_int_equal(info.serr, GR_SERR_INVALID_RECORD);
    size_t ml;
    uint8_t *mk = gr_batch_build_marker(7, 0, 0, false, now, &ml);
    assert_int_equal(gr_log_append_as(log, mk, ml, 0, true, GR_APPEND_COORDINATOR, now, &info), 0);
    free(mk);
    assert_int_equal(gr_log_end_offset(log), 1);
    gr_log_close(log);
}

/* ---- idempotent producers: the producer state of a log ---- */

/* A batch of n records of producer pid (epoch, first sequence), into buf. */
static size_t pid_batch(uint8_t *out, int n, int64_t pid, int16_t epoch, int32_t seq, int64_t ts)
{
    size_t len = build_batch(out, n, ts, 10, 0);
    h_put64(out + GR_BOFF_PRODUCER_ID, (uint64_t)pid);
    out[GR_BOFF_PRODUCER_EPOCH] = (uint8_t)((uint16_t)epoch >> 8);
    out[GR_BOFF_PRODUCER_EPOCH + 1] = (uint8_t)epoch;
    h_put32(out + GR_BOFF_BASE_SEQ, (uint32_t)seq);
    fix_crc(out);
    return len;
}

/* Append one producer batch: the error, and info. */
static gr_serr_t pid_append(gr_log_t *log, int n, int64_t pid, int16_t epoch, int32_t seq, gr_append_info_t *info)
{
    size_t len = pid_batch(buf, n, pid, epoch, seq, 1000 + seq);
    gr_log_append(log, buf, len, 0, true, gr_now_ms(), info);
    return info->serr;
}

/* A transactional batch of n records of pid (client origin, so the
 * sequence rules apply). */
static gr_serr_t txn_append(gr_log_t *log, int n, int64_t pid, int16_t epoch, int32_t seq, gr_append_info_t *info)
{
    size_t len = pid_batch(buf, n, pid, epoch, seq, 1000 + seq);
    buf[GR_BOFF_ATTRIBUTES + 1] |= GR_ATTR_TRANSACTIONAL;
    fix_crc(buf);
    gr_log_append(log, buf, len, 0, true, gr_now_ms(), info);
    return info->serr;
}

/* A COMMIT or ABORT marker of pid, as the transaction coordinator writes it. */
static gr_serr_t marker_append(gr_log_t *log, int64_t pid, int16_t epoch, int32_t coord_epoch, bool commit,
                               gr_append_info_t *info)
{
    size_t len;
    uint8_t *m = gr_batch_build_marker(pid, epoch, coord_epoch, commit, gr_now_ms(), &len);
    gr_log_append_as(log, m, len, 0, true, GR_APPEND_COORDINATOR, gr_now_ms(), info);
    free(m);
    return info->serr;
}

typedef struct txn_list {
    gr_aborted_txn_t t[32];
    int n;
} txn_list_t;

static void txn_collect(void *arg, const gr_aborted_txn_t *t)
{
    txn_list_t *l = arg;
    assert_true(l->n < 32);
    l->t[l->n++] = *t;
}

static bool file_exists_in(const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void test_idempotent_appends(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.segment_bytes = 300;               /* a roll every few batches */
    gr_log_t *log = open_log(&c, true, 0);
    gr_append_info_t info;
    int32_t seq = 0;
    int64_t base[12];
    for (int i = 0; i < 12; i++) {
        assert_int_equal(pid_append(log, 3, 42, 0, seq, &info), GR_SERR_NONE);
        assert_false(info.duplicate);
        base[i] = info.base_offset;
        seq += 3;
    }
    int64_t end = gr_log_end_offset(log);
    assert_int_equal(end, 36);
    assert_true(gr_log_segment_count(log) > 3);
    /* a retried batch: its offsets, nothing written */
    assert_int_equal(pid_append(log, 3, 42, 0, 27, &info), GR_SERR_NONE);
    assert_true(info.duplicate);
    assert_int_equal(info.base_offset, base[9]);
    assert_int_equal(info.last_offset, base[9] + 2);
    assert_int_equal(info.log_append_time, 1029);      /* its maxTimestamp, as Kafka */
    assert_int_equal(gr_log_end_offset(log), end);
    /* older than the last 5, a gap, an old epoch */
    assert_int_equal(pid_append(log, 3, 42, 0, 18, &info), GR_SERR_SEQUENCE);
    assert_int_equal(pid_append(log, 3, 42, 0, 37, &info), GR_SERR_SEQUENCE);
    assert_int_equal(pid_append(log, 3, 42, -1, 36, &info), GR_SERR_PRODUCER_EPOCH);
    assert_int_equal(gr_log_end_offset(log), end);
    /* a snapshot at every roll: the segments' base offsets */
    char name[64];
    int64_t seg2 = -1;
    int nsnap = 0;
    for (int64_t o = 1; o < end; o++) {
        snprintf(name, sizeof(name), "%020lld.snapshot", (long long)o);
        if (file_exists_in(name)) {
            nsnap++;
            seg2 = seg2 < 0 ? o : seg2;
            snprintf(name, sizeof(name), "%020lld.log", (long long)o);
            assert_true(file_exists_in(name));
        }
    }
    assert_int_equal(nsnap, gr_log_segment_count(log) - 1);
    gr_log_close(log);
    snprintf(name, sizeof(name), "%020lld.snapshot", (long long)end);
    assert_true(file_exists_in(name));

    /* clean restart: the snapshot at the log end */
    log = open_log(&c, true, end);
    assert_int_equal(pid_append(log, 3, 42, 0, 33, &info), GR_SERR_NONE);
    assert_true(info.duplicate);
    assert_int_equal(info.base_offset, base[11]);
    /* only the last batch is in a snapshot (Kafka's format) */
    assert_int_equal(pid_append(log, 3, 42, 0, 30, &info), GR_SERR_SEQUENCE);
    gr_log_close(log);

    /* unclean restart without the latest snapshot, everything up to the
     * previous one durable (the recovery point): the state is rebuilt from
     * that one (its producer's last batch) and the batches after it */
    char p[512];
    snprintf(p, sizeof(p), "%s/%020lld.snapshot", dir, (long long)end);
    assert_int_equal(unlink(p), 0);
    int64_t prev_snap = -1;
    for (int64_t o = end - 1; o > 0 && prev_snap < 0; o--) {
        snprintf(name, sizeof(name), "%020lld.snapshot", (long long)o);
        if (file_exists_in(name))
            prev_snap = o;
    }
    assert_true(prev_snap > 0 && prev_snap < end);
    log = open_log(&c, false, prev_snap);
    for (int i = 0; i < 12; i++) {
        bool known = base[i] + 3 > prev_snap || (i < 11 && base[i + 1] == prev_snap);
        assert_int_equal(pid_append(log, 3, 42, 0, 3 * i, &info),
                         known ? GR_SERR_NONE : GR_SERR_SEQUENCE);
        assert_true(info.duplicate == known);
        if (known)
            assert_int_equal(info.base_offset, base[i]);
    }
    snprintf(name, sizeof(name), "%020lld.snapshot", (long long)end);
    assert_int_equal(gr_log_producer_count(log), 1);
    /* the rebuild took a snapshot at the log end again */
    assert_true(file_exists_in(name));
    gr_log_close(log);

    /* a corrupt latest snapshot is skipped (and deleted) */
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "\xff\xff", 2, 12), 2);
    close(fd);
    log = open_log(&c, true, end);
    assert_int_equal(pid_append(log, 3, 42, 0, 33, &info), GR_SERR_NONE);
    assert_true(info.duplicate);
    assert_int_equal(pid_append(log, 3, 42, 0, 36, &info), GR_SERR_NONE);
    assert_false(info.duplicate);
    assert_int_equal(info.base_offset, end);
    /* expiration: the producer's timestamps are ~1000 ms since the epoch */
    assert_int_equal(gr_log_expire_producers(log, 1100000, 1000), 1);
    assert_int_equal(gr_log_producer_count(log), 0);
    assert_int_equal(pid_append(log, 3, 42, 0, 99, &info), GR_SERR_NONE);   /* unknown: any sequence */
    gr_log_close(log);
}

/* Retention deletes a segment's snapshot with it; the producer state
 * stays (until producer.id.expiration.ms) and a restart finds it in the
 * snapshot at the log end. */
static void test_idempotent_retention(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.segment_bytes = 600;
    gr_log_t *log = open_log(&c, true, 0);
    gr_append_info_t info;
    assert_int_equal(pid_append(log, 2, 5, 0, 0, &info), GR_SERR_NONE);
    for (int i = 0; i < 10; i++)
        append_ok(log, 3, 1000, 10, 0);
    int64_t end = gr_log_end_offset(log);
    c.retention_bytes = 1;                 /* everything but the active segment */
    gr_log_set_config(log, &c);
    assert_true(gr_log_housekeep(log, gr_now_ms()) > 0);
    assert_int_equal(gr_log_segment_count(log), 1);
    int64_t start = gr_log_start_offset(log);
    assert_true(start > 2);
    char name[64];
    for (int64_t o = 1; o < start; o++) {
        snprintf(name, sizeof(name), "%020lld.snapshot", (long long)o);
        assert_false(file_exists_in(name));
    }
    assert_int_equal(pid_append(log, 2, 5, 0, 0, &info), GR_SERR_NONE);
    assert_true(info.duplicate);
    assert_int_equal(info.base_offset, 0);
    gr_log_close(log);
    log = open_log(&c, true, end);
    assert_int_equal(pid_append(log, 2, 5, 0, 0, &info), GR_SERR_NONE);
    assert_true(info.duplicate);
    /* retention deletes everything, the active segment too (rolled): the
     * snapshot at the log start is all that knows the producer, and it is
     * kept through restarts (Kafka deletes a snapshot at the log start) */
    c.retention_bytes = -1;
    c.retention_ms = 0;
    gr_log_set_config(log, &c);
    gr_log_housekeep(log, gr_now_ms() + 1000);
    end = gr_log_end_offset(log);
    assert_int_equal(gr_log_start_offset(log), end);
    gr_log_close(log);
    log = open_log(&c, true, end);
    assert_int_equal(pid_append(log, 2, 5, 0, 0, &info), GR_SERR_NONE);
    assert_true(info.duplicate);
    gr_log_close(log);
    log = open_log(&c, false, 0);
    assert_int_equal(pid_append(log, 2, 5, 0, 0, &info), GR_SERR_NONE);
    assert_true(info.duplicate);
    assert_int_equal(pid_append(log, 2, 5, 0, 2, &info), GR_SERR_NONE);
    assert_false(info.duplicate);
    gr_log_close(log);
}

/* Open descriptors of this process (entries of /proc/self/fd). */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n - 1;                 /* the DIR's own descriptor */
}

/* Transactions in a log: the last stable offset follows the earliest
 * ongoing transaction, markers end them (epoch and coordinator epoch
 * checked), an aborted one gets a .txnindex entry in the segment of its
 * marker with the LSO of that moment, a READ_COMMITTED range collects the
 * entries that overlap it, and all of it comes back after a clean restart
 * and after kill -9 (recovery rebuilds the .txnindex of the recovered
 * segments). */
static void test_transactions(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.segment_bytes = 400;
    gr_log_t *log = open_log(&c, true, 0);
    gr_append_info_t info;
    assert_int_equal(gr_log_last_stable_offset(log), 0);
    assert_int_equal(pid_append(log, 2, 5, 0, 0, &info), GR_SERR_NONE);          /* 0-1 idempotent */
    assert_int_equal(gr_log_last_stable_offset(log), 2);
    assert_int_equal(txn_append(log, 3, 7, 0, 0, &info), GR_SERR_NONE);          /* 2-4 txn of 7 */
    assert_int_equal(gr_log_last_stable_offset(log), 2);
    assert_int_equal(txn_append(log, 1, 8, 0, 0, &info), GR_SERR_NONE);          /* 5 txn of 8 */
    assert_int_equal(pid_append(log, 1, 5, 0, 2, &info), GR_SERR_NONE);          /* 6 */
    /* a non-transactional batch of a producer inside a transaction */
    assert_int_equal(pid_append(log, 1, 7, 0, 3, &info), GR_SERR_TXN_STATE);
    assert_int_equal(gr_log_last_stable_offset(log), 2);
    /* stale producer epoch; then the ABORT of 7 at 7: LSO moves to 8's */
    assert_int_equal(marker_append(log, 7, -1, 0, false, &info), GR_SERR_PRODUCER_EPOCH);
    assert_int_equal(marker_append(log, 7, 0, 3, false, &info), GR_SERR_NONE);
    assert_int_equal(info.base_offset, 7);
    assert_int_equal(gr_log_last_stable_offset(log), 5);
    /* a zombie coordinator */
    assert_int_equal(marker_append(log, 7, 0, 2, true, &info), GR_SERR_COORDINATOR_EPOCH);
    /* COMMIT of 8: nothing ongoing */
    assert_int_equal(marker_append(log, 8, 0, 3, true, &info), GR_SERR_NONE);     /* 8 */
    assert_int_equal(gr_log_last_stable_offset(log), 9);
    /* 7 again, aborted while 8 is ongoing: that entry's LSO is 8's start */
    assert_int_equal(txn_append(log, 2, 7, 0, 3, &info), GR_SERR_NONE);          /* 9-10 */
    assert_int_equal(txn_append(log, 1, 8, 0, 1, &info), GR_SERR_NONE);          /* 11 */
    assert_int_equal(marker_append(log, 7, 0, 3, false, &info), GR_SERR_NONE);    /* 12 */
    assert_int_equal(gr_log_last_stable_offset(log), 11);
    assert_int_equal(marker_append(log, 8, 0, 3, false, &info), GR_SERR_NONE);    /* 13 */
    assert_int_equal(gr_log_last_stable_offset(log), 14);
    assert_true(gr_log_segment_count(log) >= 3);
    /* every aborted transaction */
    txn_list_t l = {0};
    assert_int_equal(gr_log_collect_aborted(log, 0, 14, txn_collect, &l), 0);
    assert_int_equal(l.n, 3);
    gr_aborted_txn_t want[3] = {{7, 2, 7, 5}, {7, 9, 12, 11}, {8, 11, 13, 14}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(l.t[i].pid, want[i].pid);
        assert_int_equal(l.t[i].first_offset, want[i].first_offset);
        assert_int_equal(l.t[i].last_offset, want[i].last_offset);
        assert_int_equal(l.t[i].lso, want[i].lso);
    }
    /* a range only overlapping the second one */
    l.n = 0;
    assert_int_equal(gr_log_collect_aborted(log, 9, 11, txn_collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.t[0].first_offset, 9);
    /* a read reports where its batches end */
    gr_log_slice_t sl;
    assert_int_equal(gr_log_read(log, 2, 1 << 20, 14, true, &sl), 0);
    assert_true(sl.len > 0 && sl.next_offset > 2 && sl.next_offset <= 14);
    gr_log_close(log);

    /* the first aborted transaction in its segment's .txnindex, as Kafka's
     * AbortedTxn: version int16 0, producerId, firstOffset, lastOffset,
     * lastStableOffset (int64s, big-endian), 34 bytes */
    {
        static const uint8_t entry[GR_TXN_ENTRY_SIZE] = {
            0, 0,                                   /* version */
            0, 0, 0, 0, 0, 0, 0, 7,                 /* producerId */
            0, 0, 0, 0, 0, 0, 0, 2,                 /* firstOffset */
            0, 0, 0, 0, 0, 0, 0, 7,                 /* lastOffset */
            0, 0, 0, 0, 0, 0, 0, 5,                 /* lastStableOffset */
        };
        uint8_t got[GR_TXN_ENTRY_SIZE] = {0};
        char ip[600];
        DIR *dd = opendir(dir);
        struct dirent *e;
        bool found = false;
        while ((e = readdir(dd)) != NULL && !found) {
            if (!strstr(e->d_name, ".txnindex"))
                continue;
            snprintf(ip, sizeof(ip), "%s/%s", dir, e->d_name);
            FILE *tf = fopen(ip, "rb");
            assert_non_null(tf);
            size_t n = fread(got, 1, sizeof(got), tf);
            fclose(tf);
            found = n == sizeof(got) && !memcmp(got, entry, sizeof(got));
        }
        closedir(dd);
        assert_true(found);
    }

    /* clean restart: the state and the index files come back */
    log = open_log(&c, true, 14);
    assert_int_equal(gr_log_last_stable_offset(log), 14);
    l.n = 0;
    assert_int_equal(gr_log_collect_aborted(log, 0, 14, txn_collect, &l), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(txn_append(log, 1, 8, 0, 2, &info), GR_SERR_NONE);          /* 14, left open */
    assert_int_equal(gr_log_last_stable_offset(log), 14);
    gr_log_close(log);

    /* kill -9: nothing durable (recovery point 0), the index files lost;
     * recovery rebuilds them and the open transaction */
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[600];
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".txnindex") || strstr(de->d_name, ".snapshot")) {
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            assert_int_equal(unlink(p), 0);
        }
    closedir(d);
    log = open_log(&c, false, 0);
    assert_int_equal(gr_log_last_stable_offset(log), 14);
    l.n = 0;
    assert_int_equal(gr_log_collect_aborted(log, 0, 15, txn_collect, &l), 0);
    assert_int_equal(l.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(l.t[i].first_offset, want[i].first_offset);
        assert_int_equal(l.t[i].last_offset, want[i].last_offset);
        assert_int_equal(l.t[i].lso, want[i].lso);
    }
    assert_int_equal(marker_append(log, 8, 0, 3, true, &info), GR_SERR_NONE);
    assert_int_equal(gr_log_last_stable_offset(log), 16);
    gr_log_close(log);

    /* a corrupt .txnindex of a trusted segment: that segment is recovered
     * and its index rebuilt */
    snprintf(p, sizeof(p), "%s/%020d.txnindex", dir, 0);
    FILE *f = fopen(p, "ab");
    if (f) {
        fputs("junk", f);
        fclose(f);
    }
    log = open_log(&c, true, 16);
    l.n = 0;
    assert_int_equal(gr_log_collect_aborted(log, 0, 16, txn_collect, &l), 0);
    assert_int_equal(l.n, 3);
    gr_log_close(log);
}

/* Descriptors are bounded by the cache, not by the number of segments:
 * 600 tiny segments written, reopened cleanly and recovered take at most
 * the cache's default of open .log files, and every record still reads
 * back (segments closed by the cache are reopened on demand). */
static void test_segment_fds_bounded(void **state)
{
    (void)state;
    gr_log_config_t c = cfg_default();
    c.segment_bytes = 300;
    c.index_interval_bytes = 100;
    int fds0 = open_fds();
    gr_log_t *log = open_log(&c, true, 0);
    for (int i = 0; i < 600; i++)
        append_ok(log, 3, 1000 + i, 40, 0);
    assert_true(gr_log_segment_count(log) >= 590);
    assert_in_range(open_fds() - fds0, 0, SEG_FD_BOUND);
    check_reads(log, 1800, 3);
    assert_in_range(open_fds() - fds0, 0, SEG_FD_BOUND);
    gr_log_close(log);
    assert_int_equal(open_fds(), fds0);

    log = open_log(&c, true, 0);             /* clean: indexes loaded */
    assert_in_range(open_fds() - fds0, 0, SEG_FD_BOUND);
    check_reads(log, 1800, 3);
    gr_log_close(log);
    log = open_log(&c, false, 0);            /* unclean: every segment recovered */
    assert_in_range(open_fds() - fds0, 0, SEG_FD_BOUND);
    assert_int_equal(gr_log_end_offset(log), 1800);
    check_reads(log, 1800, 3);
    append_ok(log, 3, 5000, 40, 0);
    gr_log_close(log);
    assert_int_equal(open_fds(), fds0);
}

/* Base offset of the batch at the start of a file handle's slice. */
static int64_t base_at(gr_file_t *f, int64_t pos)
{
    int fd = gr_file_fd(f);
    assert_true(fd >= 0);
    return be64_at(fd, pos);
}

/* Handles that output chains keep (Fetch file ranges) survive the cache
 * closing their descriptors: they reopen by name.  A deleted segment's
 * handle reads while its descriptor is open and is never reopened by its
 * old name, even when a new file takes that name. */
static void test_fd_cache_handles(void **state)
{
    (void)state;
    gr_fcache_set_max(8);
    gr_log_config_t c = cfg_default();
    c.segment_bytes = 300;
    int fds0 = open_fds();
    gr_log_t *log = open_log(&c, true, 0);
    for (int i = 0; i < 100; i++)
        append_ok(log, 3, 1000 + i, 40, 0);
    assert_true(gr_log_segment_count(log) >= 90);
    assert_in_range(gr_fcache_open(), 1, 8);
    assert_in_range(open_fds() - fds0, 1, 8);

    enum { N = 30 };
    gr_file_t *held[N];
    int64_t pos[N];
    for (int i = 0; i < N; i++) {                 /* one slice in each of 30 segments */
        gr_log_slice_t sl;
        assert_int_equal(gr_log_read(log, (int64_t)i * 9, 1, INT64_MAX, true, &sl), 0);
        held[i] = gr_file_ref(sl.file);
        pos[i] = sl.pos;
    }
    assert_in_range(open_fds() - fds0, 1, 8);
    gr_fcache_stats_t st0 = gr_fcache_stats();
    for (int i = N - 1; i >= 0; i--)              /* reopened by name as needed */
        assert_int_equal(base_at(held[i], pos[i]), (int64_t)i * 9 - (i * 9) % 3);
    assert_true(gr_fcache_stats().opens > st0.opens);
    assert_in_range(open_fds() - fds0, 1, 8);

    /* retention deletes the first ten segments: held[0] is open, held[1] is
     * closed and a stranger file appears under its name */
    assert_true(gr_file_fd(held[0]) >= 0);
    gr_file_close(held[1]);
    gr_log_advance_start(log, 90);
    assert_int_equal(base_at(held[0], pos[0]), 0);
    char name[600];
    snprintf(name, sizeof(name), "%s/%020d.log", dir, 9);
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "stranger-stranger-stranger", 26), 26);
    close(fd);
    assert_int_equal(gr_file_fd(held[1]), -ENOENT);
    unlink(name);
    /* later segments still reopen */
    assert_int_equal(base_at(held[N - 1], pos[N - 1]), (int64_t)(N - 1) * 9);
    for (int i = 0; i < N; i++)
        gr_file_unref(held[i]);
    for (int64_t off = 90; off < 300; off++) {
        gr_log_slice_t sl;
        assert_int_equal(gr_log_read(log, off, 1, INT64_MAX, true, &sl), 0);
        check_slice(&sl, off, 3);
    }
    gr_log_close(log);
    assert_int_equal(open_fds(), fds0);
    assert_int_equal(gr_fcache_open(), 0);
    gr_fcache_set_max(GR_FCACHE_DEFAULT_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roll_and_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_advance_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_crc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_later_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fuzz_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_append_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_tick, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_async, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_prepare_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_timestamp_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_header_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_batch_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_fds_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_cache_handles, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
