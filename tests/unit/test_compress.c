/* Unit tests for the memory and work bounds of decompression (compress.c)
 * and of the validation and up-conversion that use it (batch.c):
 * decompression bombs in every codec, legacy (magic 0/1) compressed
 * wrappers that expand, and the per-request decompression budget.
 *
 * Memory is measured as the growth of the process' peak resident set
 * (VmHWM, reset through /proc/self/clear_refs before each measured call),
 * so a buffer that is allocated and filled for a moment is seen too. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "batch.h"
#include "compress.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <zstd.h>

#include "batch_helper.h"

#define MIB (1024 * 1024)

/* ------------------------------------------------------------ memory */

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    fclose(f);
    assert_true(v >= 0);
    return v;
}

/* What one measured call did: its result, the peak growth of the resident
 * set during it and what it left resident afterwards (MiB). */
typedef struct measured {
    long rc;
    double peak_mib, kept_mib;
} measured_t;

/* Run fn(arg) in a child process (so that what an earlier test left
 * resident cannot hide a buffer) with VmHWM reset to VmRSS first. */
static measured_t measure(long (*fn)(void *), void *arg)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        int fd = open("/proc/self/clear_refs", O_WRONLY);
        if (fd < 0 || write(fd, "5", 1) != 1)
            _exit(2);
        close(fd);
        long base = status_kb("VmRSS");
        measured_t m;
        m.rc = fn(arg);
        m.peak_mib = (double)(status_kb("VmHWM") - base) / 1024.0;
        m.kept_mib = (double)(status_kb("VmRSS") - base) / 1024.0;
        _exit(write(pfd[1], &m, sizeof(m)) == (ssize_t)sizeof(m) ? 0 : 3);
    }
    close(pfd[1]);
    measured_t m;
    assert_int_equal(read(pfd[0], &m, sizeof(m)), (ssize_t)sizeof(m));
    close(pfd[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return m;
}

/* ------------------------------------------------------------ bombs */

/* The head of one record whose value is vlen bytes (the value and the
 * record's trailing headerCount are zero bytes, so a record is head +
 * vlen + 1 zero bytes). */
static size_t record_head(uint8_t *p, int64_t vlen)
{
    size_t n = 0;
    uint8_t body[32];
    size_t bl = 0;
    body[bl++] = 0;                          /* attributes */
    bl += h_varint(body + bl, 0);            /* timestamp delta */
    bl += h_varint(body + bl, 0);            /* offset delta */
    bl += h_varint(body + bl, -1);           /* null key */
    bl += h_varint(body + bl, vlen);
    n += h_varint(p, (int64_t)bl + vlen + 1);
    memcpy(p + n, body, bl);
    return n + bl;
}

static void put_le24(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
}

/* A zstd frame of `head` followed by nzero zero bytes, written by hand
 * with RLE blocks (4 bytes per 128 KiB).  Returns a malloc'ed frame. */
static uint8_t *zstd_bomb(const uint8_t *head, size_t hl, uint64_t nzero, size_t *len)
{
    size_t cap = 64 + hl + (size_t)(nzero / (128 * 1024) + 2) * 4;
    uint8_t *f = malloc(cap);
    size_t n = 0;
    f[n++] = 0x28; f[n++] = 0xb5; f[n++] = 0x2f; f[n++] = 0xfd;
    f[n++] = 0x00;                           /* no content size, no checksum */
    f[n++] = 7 << 3;                         /* window 128 KiB */
    put_le24(f + n, (uint32_t)(hl << 3) | (nzero == 0));   /* raw block */
    n += 3;
    memcpy(f + n, head, hl);
    n += hl;
    while (nzero > 0) {
        uint32_t run = nzero > 128 * 1024 ? 128 * 1024 : (uint32_t)nzero;
        nzero -= run;
        put_le24(f + n, (run << 3) | (1u << 1) | (nzero == 0));   /* RLE block */
        n += 3;
        f[n++] = 0;
    }
    *len = n;
    return f;
}

/* The same stream with another codec, compressed in 1 MiB steps. */
static uint8_t *gzip_bomb(const uint8_t *head, size_t hl, uint64_t nzero, size_t *len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = (size_t)(nzero / 1000) + 4096;
    uint8_t *out = malloc(cap);
    static uint8_t zeros[MIB];
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    zs.next_in = (Bytef *)(uintptr_t)head;
    zs.avail_in = (uInt)hl;
    assert_int_equal(deflate(&zs, Z_NO_FLUSH), Z_OK);
    while (nzero > 0) {
        size_t step = nzero > MIB ? MIB : (size_t)nzero;
        nzero -= step;
        zs.next_in = zeros;
        zs.avail_in = (uInt)step;
        assert_int_equal(deflate(&zs, nzero ? Z_NO_FLUSH : Z_FINISH), nzero ? Z_OK : Z_STREAM_END);
    }
    *len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static uint8_t *lz4_bomb(const uint8_t *head, size_t hl, uint64_t nzero, size_t *len)
{
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max4MB;
    size_t cap = (size_t)(nzero / 200) + 16 * MIB;
    uint8_t *out = malloc(cap);
    LZ4F_cctx *cc;
    assert_false(LZ4F_isError(LZ4F_createCompressionContext(&cc, LZ4F_VERSION)));
    size_t n = LZ4F_compressBegin(cc, out, cap, &prefs);
    assert_false(LZ4F_isError(n));
    size_t r = LZ4F_compressUpdate(cc, out + n, cap - n, head, hl, NULL);
    assert_false(LZ4F_isError(r));
    n += r;
    static uint8_t zeros[MIB];
    while (nzero > 0) {
        size_t step = nzero > MIB ? MIB : (size_t)nzero;
        nzero -= step;
        assert_true(cap - n >= LZ4F_compressBound(step, &prefs));
        r = LZ4F_compressUpdate(cc, out + n, cap - n, zeros, step, NULL);
        assert_false(LZ4F_isError(r));
        n += r;
    }
    r = LZ4F_compressEnd(cc, out + n, cap - n, NULL);
    assert_false(LZ4F_isError(r));
    n += r;
    LZ4F_freeCompressionContext(cc);
    *len = n;
    return out;
}

/* A v2 batch of `count` records whose compressed record area is comp. */
static uint8_t *batch_around(const uint8_t *comp, size_t cl, int codec, int32_t count, size_t *len)
{
    size_t n = GR_BATCH_HEADER_SIZE + cl;
    uint8_t *b = calloc(1, n);
    h_put32(b + GR_BOFF_LENGTH, (uint32_t)(n - GR_BATCH_LOG_OVERHEAD));
    b[GR_BOFF_MAGIC] = 2;
    b[GR_BOFF_ATTRIBUTES + 1] = (uint8_t)codec;
    h_put32(b + GR_BOFF_LAST_DELTA, (uint32_t)(count - 1));
    h_put64(b + GR_BOFF_PRODUCER_ID, (uint64_t)-1);
    h_put32(b + GR_BOFF_RECORD_COUNT, (uint32_t)count);
    memcpy(b + GR_BATCH_HEADER_SIZE, comp, cl);
    fix_crc(b);
    *len = n;
    return b;
}

typedef uint8_t *bomb_fn(const uint8_t *head, size_t hl, uint64_t nzero, size_t *len);

/* One batch holding one record of vlen zero bytes, compressed by mk. */
static uint8_t *bomb_batch(bomb_fn *mk, int codec, int64_t vlen, size_t *len)
{
    uint8_t head[32];
    size_t hl = record_head(head, vlen);
    size_t cl;
    uint8_t *comp = mk(head, hl, (uint64_t)vlen + 1, &cl);
    uint8_t *b = batch_around(comp, cl, codec, 1, len);
    free(comp);
    return b;
}

typedef struct batch_arg {
    const uint8_t *b;
    gr_batch_info_t bi;
} batch_arg_t;

static long check_records(void *arg)
{
    batch_arg_t *a = arg;
    return gr_batch_check_records(a->b, &a->bi);
}

/* A decompression bomb (300 MiB of zeros inside one valid record) is
 * refused, and validating it neither fills a buffer of its size nor leaves
 * one behind. */
static void check_bomb(bomb_fn *mk, int codec, int64_t vlen)
{
    size_t n;
    uint8_t *b = bomb_batch(mk, codec, vlen, &n);
    batch_arg_t a = {.b = b};
    assert_int_equal(gr_batch_check(b, n, &a.bi), 0);
    measured_t m = measure(check_records, &a);
    print_message("codec %d, %lld-byte record in %zu bytes: rc %ld, peak +%.1f MiB, kept +%.1f MiB\n", codec,
                  (long long)vlen, n, m.rc, m.peak_mib, m.kept_mib);
    assert_true(m.rc < 0);
    assert_true(m.peak_mib < 24.0);
    assert_true(m.kept_mib < 16.0);
    free(b);
}

static void test_zstd_bomb(void **state)
{
    (void)state;
    check_bomb(zstd_bomb, GR_COMPRESSION_ZSTD, 300LL * MIB);
}

static void test_gzip_bomb(void **state)
{
    (void)state;
    check_bomb(gzip_bomb, GR_COMPRESSION_GZIP, 300LL * MIB);
}

static void test_lz4_bomb(void **state)
{
    (void)state;
    check_bomb(lz4_bomb, GR_COMPRESSION_LZ4, 300LL * MIB);
}

/* A large but legal record (64 MiB of zeros) is accepted, streamed through
 * a small window rather than inflated whole. */
static void test_large_record_streamed(void **state)
{
    (void)state;
    bomb_fn *mk[] = {zstd_bomb, gzip_bomb, lz4_bomb};
    int codec[] = {GR_COMPRESSION_ZSTD, GR_COMPRESSION_GZIP, GR_COMPRESSION_LZ4};
    for (int i = 0; i < 3; i++) {
        size_t n;
        uint8_t *b = bomb_batch(mk[i], codec[i], 64LL * MIB, &n);
        batch_arg_t a = {.b = b};
        assert_int_equal(gr_batch_check(b, n, &a.bi), 0);
        measured_t m = measure(check_records, &a);
        print_message("codec %d, 64 MiB record: rc %ld, peak +%.1f MiB, kept +%.1f MiB\n", codec[i], m.rc,
                      m.peak_mib, m.kept_mib);
        assert_int_equal(m.rc, 0);
        assert_true(m.peak_mib < 24.0);
        assert_true(m.kept_mib < 16.0);
        free(b);
    }
}

/* Ordinary compressed batches still validate, also back to back. */
static void test_ordinary(void **state)
{
    (void)state;
    static uint8_t b[1 << 16];
    for (int i = 0; i < 100; i++) {
        size_t n = build_batch(b, 1 + i % 50, 1000, i * 7 % 300, GR_COMPRESSION_GZIP);
        gr_batch_info_t bi;
        assert_int_equal(gr_batch_check(b, n, &bi), 0);
        assert_int_equal(gr_batch_check_records(b, &bi), 0);
    }
}

/* ------------------------------------------------------------ legacy */


/* A legacy message (magic 1) at p; returns its size. */
static size_t legacy_msg(uint8_t *p, int attr, int64_t off, int64_t ts, const uint8_t *val, int32_t vlen)
{
    size_t q = 12;
    p[q + 4] = 1;
    p[q + 5] = (uint8_t)attr;
    h_put64(p + q + 6, (uint64_t)ts);
    q += 14;
    h_put32(p + q, (uint32_t)-1);            /* null key */
    q += 4;
    h_put32(p + q, (uint32_t)vlen);
    q += 4;
    memcpy(p + q, val, (size_t)vlen);
    q += (size_t)vlen;
    h_put64(p, (uint64_t)off);
    h_put32(p + 8, (uint32_t)(q - 12));
    h_put32(p + 12, gr_crc32(0, p + 16, q - 16));
    return q;
}

/* A message set of `wrappers` gzip wrappers, each holding `inner` messages
 * of `vlen` zero bytes (which compress to almost nothing). */
static uint8_t *legacy_bomb(int wrappers, int inner, int32_t vlen, size_t *len)
{
    size_t msz = 34 + (size_t)vlen;
    uint8_t *set = malloc((size_t)inner * msz);
    uint8_t *val = calloc(1, (size_t)vlen);
    size_t sl = 0;
    for (int i = 0; i < inner; i++)
        sl += legacy_msg(set + sl, 0, i, 1000 + i, val, vlen);
    uLongf gl = compressBound((uLong)sl) + 64;
    uint8_t *gz = malloc(gl);
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = set;
    zs.avail_in = (uInt)sl;
    zs.next_out = gz;
    zs.avail_out = (uInt)gl;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t gzl = zs.total_out;
    deflateEnd(&zs);
    size_t one = 34 + gzl;
    uint8_t *out = malloc((size_t)wrappers * one);
    size_t n = 0;
    for (int w = 0; w < wrappers; w++)
        n += legacy_msg(out + n, GR_COMPRESSION_GZIP, (int64_t)(w + 1) * inner - 1, 1000, gz, (int32_t)gzl);
    free(set);
    free(val);
    free(gz);
    *len = n;
    return out;
}

typedef struct legacy_arg {
    const uint8_t *set;
    size_t len;
} legacy_arg_t;

static long upconvert(void *arg)
{
    legacy_arg_t *a = arg;
    uint8_t *out = NULL;
    size_t olen = 0;
    int rc = gr_batch_upconvert_legacy(a->set, a->len, 1048588, &out, &olen);
    free(out);
    return rc;
}

/* Up-conversion stops at what the log may accept (max_out) before the
 * converted batch or any wrapper's inner set can grow past it. */
static void test_legacy_bomb(void **state)
{
    (void)state;
    size_t n;
    /* 32 wrappers x 8 MiB of messages = 256 MiB once converted, from ~300 KB */
    uint8_t *set = legacy_bomb(32, 128, 64 * 1024, &n);
    legacy_arg_t a = {set, n};
    measured_t m = measure(upconvert, &a);
    print_message("legacy set of %zu bytes: rc %ld, peak +%.1f MiB\n", n, m.rc, m.peak_mib);
    assert_true(m.rc < 0);
    assert_true(m.peak_mib < 24.0);
    free(set);
}

/* The converted batch may be exactly max_out bytes, not one more; a
 * message of the set larger than max_out is refused as it is. */
static void test_legacy_limits(void **state)
{
    (void)state;
    size_t sl;
    uint8_t *set = legacy_bomb(3, 10, 1000, &sl);
    uint8_t *out;
    size_t olen;
    assert_int_equal(gr_batch_upconvert_legacy(set, sl, 1 << 20, &out, &olen), 0);
    free(out);
    size_t exact = olen;
    assert_int_equal(gr_batch_upconvert_legacy(set, sl, exact, &out, &olen), 0);
    assert_int_equal(olen, exact);
    gr_batch_info_t bi;
    assert_int_equal(gr_batch_check(out, olen, &bi), 0);
    assert_int_equal(bi.record_count, 30);
    free(out);
    assert_int_equal(gr_batch_upconvert_legacy(set, sl, exact - 1, &out, &olen), GR_ETOOBIG);
    /* the first wrapper alone is larger than max_out */
    size_t first = 12 + (size_t)(int32_t)((set[8] << 24) | (set[9] << 16) | (set[10] << 8) | set[11]);
    assert_int_equal(gr_batch_upconvert_legacy(set, sl, first - 1, &out, &olen), GR_ETOOBIG);
    free(set);
}

/* ------------------------------------------------------------ streaming */

/* Append one record (key/value NULL = null, lengths as given; headers hn
 * of hl-byte keys and values) to r at *n. */
static void put_record(uint8_t *r, size_t *n, int32_t i, const uint8_t *key, int32_t kl, const uint8_t *val,
                       int32_t vl, int hn, int32_t hl)
{
    static uint8_t fill[300 * 1024];
    memset(fill, 'h', sizeof(fill));
    uint8_t body[64];
    size_t bl = 0;
    body[bl++] = 0;
    bl += h_varint(body + bl, i * 3);        /* timestamp delta */
    bl += h_varint(body + bl, i);            /* offset delta */
    size_t total = bl;
    uint8_t tmp[16];
    total += h_varint(tmp, key ? kl : -1) + (key ? (size_t)kl : 0);
    total += h_varint(tmp, val ? vl : -1) + (val ? (size_t)vl : 0);
    total += h_varint(tmp, hn);
    for (int h = 0; h < hn; h++)
        total += 2 * (h_varint(tmp, hl) + (size_t)hl);
    *n += h_varint(r + *n, (int64_t)total);
    memcpy(r + *n, body, bl);
    *n += bl;
    *n += h_varint(r + *n, key ? kl : -1);
    if (key) {
        memcpy(r + *n, key, (size_t)kl);
        *n += (size_t)kl;
    }
    *n += h_varint(r + *n, val ? vl : -1);
    if (val) {
        memcpy(r + *n, val, (size_t)vl);
        *n += (size_t)vl;
    }
    *n += h_varint(r + *n, hn);
    for (int h = 0; h < 2 * hn; h++) {
        *n += h_varint(r + *n, hl);
        memcpy(r + *n, fill, (size_t)hl);
        *n += (size_t)hl;
    }
}

/* Compress plain with codec into a new buffer. */
static uint8_t *compress_with(int codec, const uint8_t *plain, size_t n, size_t *cl)
{
    size_t cap = n + n / 2 + 65536;
    uint8_t *c = malloc(cap);
    switch (codec) {
    case GR_COMPRESSION_GZIP: {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
        zs.next_in = (Bytef *)(uintptr_t)plain;
        zs.avail_in = (uInt)n;
        zs.next_out = c;
        zs.avail_out = (uInt)cap;
        assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
        *cl = zs.total_out;
        deflateEnd(&zs);
        break;
    }
    case GR_COMPRESSION_SNAPPY:
        *cl = cap;
        assert_int_equal(snappy_compress((const char *)plain, n, (char *)c, cl), SNAPPY_OK);
        break;
    case GR_COMPRESSION_LZ4:
        *cl = LZ4F_compressFrame(c, cap, plain, n, NULL);
        assert_false(LZ4F_isError(*cl));
        break;
    default:
        *cl = ZSTD_compress(c, cap, plain, n, 3);
        assert_false(ZSTD_isError(*cl));
        break;
    }
    return c;
}

/* Records around the window size: small ones, a 200 KiB value, a 100 KiB
 * key, 3 headers of 70 KiB, a null-key record of 65,536 bytes exactly. */
static size_t mixed_records(uint8_t *r, int *count)
{
    static uint8_t big[300 * 1024];
    memset(big, 'v', sizeof(big));
    size_t n = 0;
    int i = 0;
    put_record(r, &n, i++, (const uint8_t *)"k", 1, (const uint8_t *)"small", 5, 0, 0);
    put_record(r, &n, i++, (const uint8_t *)"k2", 2, big, 200 * 1024, 1, 10);
    put_record(r, &n, i++, big, 100 * 1024, NULL, 0, 0, 0);
    put_record(r, &n, i++, (const uint8_t *)"k3", 2, big, 7, 3, 70 * 1024);
    for (int j = 0; j < 50; j++)
        put_record(r, &n, i++, (const uint8_t *)"kk", 2, big, j * 37, 0, 0);
    put_record(r, &n, i++, NULL, 0, big, 65536 - 8, 0, 0);
    put_record(r, &n, i++, (const uint8_t *)"last", 4, big, 3, 0, 0);
    *count = i;
    return n;
}

/* Streaming validation and the record iterator agree with the records
 * read in place from the uncompressed batch, for records smaller and
 * larger than the window, in every codec; and validation finds the record
 * without a key. */
static void test_stream_matches_whole(void **state)
{
    (void)state;
    static uint8_t recs[2 * 1024 * 1024];
    int count;
    size_t rl = mixed_records(recs, &count);
    int codecs[] = {GR_COMPRESSION_NONE, GR_COMPRESSION_GZIP, GR_COMPRESSION_SNAPPY, GR_COMPRESSION_LZ4,
                    GR_COMPRESSION_ZSTD};
    for (int ci = 0; ci < 5; ci++) {
        int codec = codecs[ci];
        size_t cl = rl;
        uint8_t *comp = codec ? compress_with(codec, recs, rl, &cl) : recs;
        size_t n;
        uint8_t *b = batch_around(comp, cl, codec, count, &n);
        gr_batch_info_t bi;
        assert_int_equal(gr_batch_check(b, n, &bi), 0);
        gr_batch_scan_t scan;
        assert_int_equal(gr_batch_scan(b, &bi, &scan), 0);
        assert_true(scan.null_key);
        assert_int_equal(gr_batch_check_records(b, &bi), 0);
        /* the same records through the iterator as read in place from
         * the uncompressed batch (two iterators at once) */
        size_t pn;
        uint8_t *plain = batch_around(recs, rl, GR_COMPRESSION_NONE, count, &pn);
        gr_batch_info_t pbi;
        assert_int_equal(gr_batch_check(plain, pn, &pbi), 0);
        gr_rec_iter_t it, pit;
        gr_record_t x, y;
        int got = 0, rc;
        gr_rec_iter_open(&it, b, &bi);
        gr_rec_iter_open(&pit, plain, &pbi);
        while ((rc = gr_rec_iter_next(&it, &x)) > 0) {
            assert_int_equal(gr_rec_iter_next(&pit, &y), 1);
            assert_int_equal(x.offset_delta, y.offset_delta);
            assert_int_equal(x.offset_delta, got);
            assert_int_equal(x.timestamp_delta, y.timestamp_delta);
            assert_int_equal(x.key_len, y.key_len);
            assert_int_equal(x.value_len, y.value_len);
            assert_int_equal(x.header_count, y.header_count);
            assert_int_equal(x.headers_len, y.headers_len);
            if (x.key_len > 0)
                assert_memory_equal(x.key, y.key, (size_t)x.key_len);
            if (x.value_len > 0)
                assert_memory_equal(x.value, y.value, (size_t)x.value_len);
            if (x.headers_len > 0)
                assert_memory_equal(x.headers, y.headers, x.headers_len);
            assert_true((x.key == NULL) == (x.key_len < 0) && (x.value == NULL) == (x.value_len < 0));
            got++;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(gr_rec_iter_next(&it, &x), 0);
        assert_int_equal(gr_rec_iter_next(&pit, &y), 0);
        assert_int_equal(got, count);
        gr_rec_iter_close(&it);
        gr_rec_iter_close(&pit);
        free(plain);
        /* the timestamp search reads through the large records too */
        int64_t off, ts;
        h_put64(b + GR_BOFF_MAX_TS, (uint64_t)(3 * (count - 1)));
        fix_crc(b);
        assert_int_equal(gr_batch_check(b, n, &bi), 0);
        assert_int_equal(gr_batch_find_timestamp(b, n, 3 * (count - 1), 0, &off, &ts), 0);
        assert_int_equal(off, count - 1);
        assert_int_equal(gr_batch_find_timestamp(b, n, 3 * 53, 0, &off, &ts), 0);
        assert_int_equal(off, 53);
        /* one record fewer than the stream holds: INVALID_RECORD */
        h_put32(b + GR_BOFF_RECORD_COUNT, (uint32_t)(count - 1));
        h_put32(b + GR_BOFF_LAST_DELTA, (uint32_t)(count - 2));
        fix_crc(b);
        assert_int_equal(gr_batch_check(b, n, &bi), codec ? 0 : GR_ECORRUPT);
        if (codec)
            assert_int_equal(gr_batch_check_records(b, &bi), GR_EINVAL);
        free(b);
        if (codec)
            free(comp);
    }
}

/* A compressed stream cut short, or ending inside a record larger than the
 * window, or holding bytes after the records, is refused. */
static void test_stream_truncated(void **state)
{
    (void)state;
    static uint8_t recs[2 * 1024 * 1024];
    int count;
    size_t rl = mixed_records(recs, &count);
    int codecs[] = {GR_COMPRESSION_GZIP, GR_COMPRESSION_SNAPPY, GR_COMPRESSION_LZ4, GR_COMPRESSION_ZSTD};
    for (int ci = 0; ci < 4; ci++) {
        int codec = codecs[ci];
        /* records cut inside the 200 KiB value */
        size_t cl;
        uint8_t *comp = compress_with(codec, recs, 150 * 1024, &cl);
        size_t n;
        uint8_t *b = batch_around(comp, cl, codec, count, &n);
        gr_batch_info_t bi;
        assert_int_equal(gr_batch_check(b, n, &bi), 0);
        assert_int_equal(gr_batch_check_records(b, &bi), GR_EINVAL);
        free(b);
        free(comp);
        /* the compressed stream itself cut short */
        comp = compress_with(codec, recs, rl, &cl);
        b = batch_around(comp, cl - cl / 3, codec, count, &n);
        assert_int_equal(gr_batch_check(b, n, &bi), 0);
        int rc = gr_batch_check_records(b, &bi);
        assert_true(rc == GR_ECORRUPT || rc == GR_EINVAL);
        free(b);
        free(comp);
        /* a byte after the last record */
        recs[rl] = 0;
        comp = compress_with(codec, recs, rl + 1, &cl);
        b = batch_around(comp, cl, codec, count, &n);
        assert_int_equal(gr_batch_check(b, n, &bi), 0);
        assert_int_equal(gr_batch_check_records(b, &bi), GR_EINVAL);
        free(b);
        free(comp);
    }
}

/* gr_dstream: a stream of exactly max_out bytes is whole; one byte less
 * allowed is GR_ETOOBIG; reads of any size see the same bytes. */
static void test_dstream_limits(void **state)
{
    (void)state;
    static uint8_t plain[300000], got[300000];
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (uint8_t)(i * 7 / 1000);
    int codecs[] = {GR_COMPRESSION_GZIP, GR_COMPRESSION_SNAPPY, GR_COMPRESSION_LZ4, GR_COMPRESSION_ZSTD};
    for (int ci = 0; ci < 4; ci++) {
        size_t cl;
        uint8_t *comp = compress_with(codecs[ci], plain, sizeof(plain), &cl);
        size_t steps[] = {1, 7, 4096, 65536, 1 << 20};
        for (int si = 0; si < 5; si++) {
            gr_dstream_t ds;
            assert_int_equal(gr_dstream_open(&ds, codecs[ci], comp, cl, sizeof(plain)), 0);
            size_t have = 0;
            ssize_t r;
            while ((r = gr_dstream_read(&ds, got + have, GR_MIN(steps[si], sizeof(got) - have + 1))) > 0)
                have += (size_t)r;
            assert_int_equal(r, 0);
            assert_int_equal(have, sizeof(plain));
            assert_memory_equal(got, plain, sizeof(plain));
            assert_int_equal(gr_dstream_read(&ds, got, 10), 0);
            gr_dstream_close(&ds);
        }
        gr_buf_t out = {0};
        assert_int_equal(gr_decompress(codecs[ci], comp, cl, &out, sizeof(plain)), 0);
        assert_int_equal(out.len, sizeof(plain));
        gr_buf_free(&out);
        /* never more room than the bound and the byte that proves it passed */
        assert_int_equal(gr_decompress(codecs[ci], comp, cl, &out, sizeof(plain) - 1), GR_ETOOBIG);
        assert_true(out.cap <= sizeof(plain));
        gr_buf_free(&out);
        free(comp);
    }
}

/* A snappy block declaring more than its length could expand to is corrupt
 * before anything is allocated for it. */
static long snappy_liar(void *arg)
{
    (void)arg;
    uint8_t in[64] = {0};
    size_t n = 0;
    uint64_t ulen = 1ull << 30;                /* 1 GiB from 64 bytes */
    while (ulen >= 0x80) {
        in[n++] = (uint8_t)(ulen | 0x80);
        ulen >>= 7;
    }
    in[n++] = (uint8_t)ulen;
    gr_buf_t out = {0};
    int rc = gr_decompress(GR_COMPRESSION_SNAPPY, in, sizeof(in), &out, 2u << 30);
    gr_buf_free(&out);
    return rc;
}

static void test_snappy_declared_size(void **state)
{
    (void)state;
    measured_t m = measure(snappy_liar, NULL);
    assert_int_equal(m.rc, GR_ECORRUPT);
    assert_true(m.peak_mib < 4.0);
}

/* The per-thread budget: what one batch decompresses is taken from it; the
 * batch that needs more than is left fails with GR_ETOOBIG, cheaply. */
static void test_budget(void **state)
{
    (void)state;
    static uint8_t b[1 << 16];
    size_t n = build_batch(b, 20, 1000, 1000, GR_COMPRESSION_GZIP);   /* ~20 KB of records */
    gr_batch_info_t bi;
    assert_int_equal(gr_batch_check(b, n, &bi), 0);
    gr_batch_budget_begin(50 * 1000);
    assert_int_equal(gr_batch_check_records(b, &bi), 0);
    assert_int_equal(gr_batch_check_records(b, &bi), 0);
    assert_int_equal(gr_batch_check_records(b, &bi), GR_ETOOBIG);
    assert_int_equal(gr_batch_check_records(b, &bi), GR_ETOOBIG);
    assert_int_equal(gr_batch_budget_end(), 0);
    /* without a budget only the per-batch cap applies */
    for (int i = 0; i < 10; i++)
        assert_int_equal(gr_batch_check_records(b, &bi), 0);
    /* legacy up-conversion draws from it too */
    size_t sl;
    uint8_t *set = legacy_bomb(4, 16, 4096, &sl);              /* 4 x 66 KB inside */
    uint8_t *out;
    size_t olen;
    gr_batch_budget_begin(100 * 1000);
    assert_int_equal(gr_batch_upconvert_legacy(set, sl, 1 << 20, &out, &olen), GR_ETOOBIG);
    gr_batch_budget_end();
    gr_batch_budget_begin(1 << 20);
    assert_int_equal(gr_batch_upconvert_legacy(set, sl, 1 << 20, &out, &olen), 0);
    assert_true(gr_batch_budget_end() < (1 << 20) - 4 * 16 * 4096);
    free(out);
    free(set);
}

/* ------------------------------------------------------------ compression */

/* Every codec's compressor writes what the decompressors (and so every
 * Kafka client) read back byte for byte, in one piece or many, empty or
 * several blocks long, compressible or not; it stops at max_out. */
static void test_cstream_roundtrip(void **state)
{
    (void)state;
    static const int codecs[] = {GR_COMPRESSION_GZIP, GR_COMPRESSION_SNAPPY, GR_COMPRESSION_LZ4,
                                 GR_COMPRESSION_ZSTD};
    static const size_t sizes[] = {0, 1, 100, 32 * 1024, 64 * 1024 + 7, 300 * 1024};
    size_t max = 300 * 1024;
    uint8_t *text = malloc(max), *noise = malloc(max);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < max; i++) {
        text[i] = (uint8_t)"the quick brown fox "[i % 20];
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise[i] = (uint8_t)x;
    }
    for (size_t ci = 0; ci < sizeof(codecs) / sizeof(codecs[0]); ci++) {
        for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
            for (int kind = 0; kind < 2; kind++) {
                const uint8_t *in = kind ? noise : text;
                size_t n = sizes[si];
                gr_buf_t z = {0};
                gr_cstream_t cs;
                assert_int_equal(gr_cstream_begin(&cs, codecs[ci], 2, &z, 2 * max), 0);
                /* in uneven pieces */
                for (size_t off = 0, step = 1; off < n; off += step, step = step * 3 + 1)
                    gr_cstream_write(&cs, in + off, GR_MIN(step, n - off));
                assert_int_equal(gr_cstream_end(&cs), 0);
                if (kind == 0 && n >= 32 * 1024)
                    assert_true(z.len < n / 4);
                gr_buf_t back = {0};
                assert_int_equal(gr_decompress(codecs[ci], z.p, z.len, &back, max), 0);
                assert_int_equal(back.len, n);
                if (n)
                    assert_memory_equal(back.p, in, n);
                gr_buf_free(&back);
                gr_buf_free(&z);
            }
        }
        /* noise does not fit in half its size */
        gr_buf_t z = {0};
        gr_cstream_t cs;
        assert_int_equal(gr_cstream_begin(&cs, codecs[ci], 2, &z, max / 2), 0);
        gr_cstream_write(&cs, noise, max);
        assert_int_equal(gr_cstream_end(&cs), GR_ETOOBIG);
        assert_true(z.len <= max / 2);
        gr_buf_free(&z);
    }
    gr_buf_t z = {0};
    gr_cstream_t cs;
    assert_int_equal(gr_cstream_begin(&cs, GR_COMPRESSION_NONE, 2, &z, max), GR_EINVAL);
    assert_int_equal(gr_cstream_end(&cs), GR_EINVAL);
    gr_buf_free(&z);
    free(text);
    free(noise);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zstd_bomb),
        cmocka_unit_test(test_gzip_bomb),
        cmocka_unit_test(test_lz4_bomb),
        cmocka_unit_test(test_large_record_streamed),
        cmocka_unit_test(test_ordinary),
        cmocka_unit_test(test_legacy_bomb),
        cmocka_unit_test(test_legacy_limits),
        cmocka_unit_test(test_stream_matches_whole),
        cmocka_unit_test(test_stream_truncated),
        cmocka_unit_test(test_dstream_limits),
        cmocka_unit_test(test_snappy_declared_size),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_cstream_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
