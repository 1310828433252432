/*
 * fuzz_recovery.c - libFuzzer target for log recovery after an unclean
 * shutdown: the input becomes a segment's files, gr_log_open recovers
 * them (clean_shutdown = false, recovery point 0), then reads at a few
 * offsets, one append, and gr_log_close.
 *
 * Input layout:
 *   +--------+------------+--------------------------------------------+
 *   | uint8  | flags      | bit 0: write .index, bit 1: .timeindex,    |
 *   |        |            | bit 2: base offset 100 instead of 0        |
 *   | uint16 | index_len  | big-endian; clamped to what is left        |
 *   | uint16 | tindex_len | big-endian; clamped to what is left        |
 *   | bytes  | index      | index_len bytes (when bit 0)               |
 *   | bytes  | timeindex  | tindex_len bytes (when bit 1)              |
 *   | bytes  | log        | the rest: the .log file                    |
 *   +--------+------------+--------------------------------------------+
 * A real segment is seeded as {0, 0,0, 0,0, <.log bytes>} (indexes are
 * rebuilt anyway) or with its real index files.
 *
 * The partition directory, in the per-process temp dir (tmpfs when there
 * is one), is kept from one input to the next: each input rewrites the
 * files it describes (O_TRUNC) and unlinks the ones it does not have, so
 * the directory holds exactly that segment when gr_log_open runs.  The
 * segment files the previous input left (its base's .log, .index and
 * .timeindex, and the producer snapshots at its base and end offsets,
 * unlinked after the close) are known; anything else (a roll during the append) makes
 * the next input empty the directory first (saves a readdir and an
 * lstat + unlink per file on most inputs; the bulk of the per-input cost
 * is gr_log_open/gr_log_close's own file work, see docs/fuzzing.md).
 *
 * Properties checked: every slice gr_log_read returns consists of whole
 * batches that gr_batch_check accepts, and the recovered log accepts an
 * append at its end offset.
 */
#include "fuzz.h"

#include "batch.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

static char rec_dir[300];
static gr_buf_t rec_buf;
static const char *const rec_base[2] = {"00000000000000000000", "00000000000000000100"};
static const char *const rec_sfx[3] = {".log", ".index", ".timeindex"};
static int rec_left = -1;            /* base (0/1) whose 3 files exist, -1 none */
static bool rec_dirty = true;        /* unknown files may exist: empty the dir */

static void rec_path(char *path, size_t n, int base, int sfx)
{
    snprintf(path, n, "%s/%s%s", rec_dir, rec_base[base], rec_sfx[sfx]);
}

static void rec_empty_dir(void)
{
    DIR *d = opendir(rec_dir);
    if (!d) {
        perror(rec_dir);
        abort();
    }
    struct dirent *e;
    char path[600];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof(path), "%s/%s", rec_dir, e->d_name);
        gr_rm_rf(path);
    }
    closedir(d);
    rec_left = -1;
    rec_dirty = false;
}

/* Make <base><sfx> hold p[0..len) (want) or not exist (!want). */
static void rec_put(int base, int sfx, bool want, const uint8_t *p, size_t len)
{
    char path[600];
    rec_path(path, sizeof(path), base, sfx);
    if (!want) {
        if (rec_left == base && unlink(path) == -1 && errno != ENOENT) {
            perror(path);
            abort();
        }
        return;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        perror(path);
        abort();
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w <= 0) {
            perror(path);
            abort();
        }
        done += (size_t)w;
    }
    close(fd);
}

static void rec_check_slice(const gr_log_slice_t *s)
{
    if (s->len <= 0)
        return;
    gr_buf_reserve(&rec_buf, (size_t)s->len);
    ssize_t n = pread(gr_file_fd(s->file), rec_buf.p, (size_t)s->len, (off_t)s->pos);
    FUZZ_CHECK(n == s->len);
    size_t pos = 0;
    while (pos < (size_t)n) {
        gr_batch_info_t info;
        int rc = gr_batch_check(rec_buf.p + pos, (size_t)n - pos, &info);
        if (rc != 0) {
            fprintf(stderr, "recovered log returned a bad batch at slice byte %zu (rc %d)\n", pos, rc);
            abort();
        }
        pos += (size_t)info.size;
    }
}

static void rec_read(gr_log_t *log, int64_t off)
{
    gr_log_slice_t s;
    int rc = gr_log_read(log, off, 1 << 20, INT64_MAX, true, &s);
    FUZZ_CHECK(rc == 0 || rc == GR_ERANGE);
    if (rc == 0)
        rec_check_slice(&s);
}

int fuzz_recovery_one(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    if (!rec_dir[0]) {
        snprintf(rec_dir, sizeof(rec_dir), "%s/p", fuzz_tmpdir());
        if (mkdir(rec_dir, 0755) == -1 && errno != EEXIST) {
            perror(rec_dir);
            abort();
        }
    }
    if (size < 5)
        return 0;
    uint8_t flags = data[0];
    size_t ilen = fuzz_be16(data + 1), tlen = fuzz_be16(data + 3);
    const uint8_t *p = data + 5;
    size_t left = size - 5;
    if (!(flags & 1))
        ilen = 0;
    if (!(flags & 2))
        tlen = 0;
    ilen = GR_MIN(ilen, left);
    const uint8_t *index = p;
    p += ilen, left -= ilen;
    tlen = GR_MIN(tlen, left);
    const uint8_t *tindex = p;
    p += tlen, left -= tlen;

    if (rec_dirty)
        rec_empty_dir();
    int base = (flags & 4) ? 1 : 0;
    if (rec_left == 1 - base) {
        for (int i = 0; i < 3; i++)
            rec_put(1 - base, i, false, NULL, 0);
    }
    rec_put(base, 0, true, p, left);
    rec_put(base, 1, flags & 1, index, ilen);
    rec_put(base, 2, flags & 2, tindex, tlen);
    /* from here on the files of this base may exist, whatever happens */
    rec_left = base;
    rec_dirty = true;

    gr_log_config_t cfg = {
        .segment_bytes = 1 << 30, .segment_ms = 7LL * 24 * 3600 * 1000,
        .retention_ms = -1, .retention_bytes = -1, .index_interval_bytes = 64,
        .flush_messages = INT64_MAX, .flush_ms = INT64_MAX,
        .max_message_bytes = 1 << 20, .delete_ = true,
    };
    gr_log_open_opts_t o = {.dir = rec_dir, .cfg = &cfg, .recovery_point = 0, .log_start_offset = -1,
                            .clean_shutdown = false};
    gr_log_t *log = NULL;
    if (gr_log_open(&o, &log) == 0) {
        int64_t start = gr_log_start_offset(log), end = gr_log_end_offset(log);
        FUZZ_CHECK(start <= end);
        rec_read(log, start);
        rec_read(log, start + (end - start) / 2);
        rec_read(log, end > start ? end - 1 : end);
        rec_read(log, end);

        /* the recovered log takes an append at its end */
        gr_batch_builder_t b;
        gr_batch_builder_init(&b, 0, 1700000000000LL);
        gr_batch_builder_add(&b, -1, 1700000000000LL, "k", 1, "v", 1);
        size_t blen;
        uint8_t *batch = gr_batch_builder_finish(&b, 0, -1, -1, -1, &blen);
        gr_append_info_t ai;
        int rc = gr_log_append(log, batch, blen, 0, true, 1700000000000LL, &ai);
        gr_batch_builder_free(&b);
        if (rc == 0) {
            FUZZ_CHECK(ai.base_offset == end);
            FUZZ_CHECK(gr_log_end_offset(log) == end + 1);
            rec_read(log, end);
        }
        /* one segment: the directory holds only this base's files, and the
         * producer snapshots the open and the close wrote (at the base
         * offset and the log end), removed here */
        rec_dirty = gr_log_segment_count(log) != 1;
        int64_t fin = gr_log_end_offset(log);
        gr_log_close(log);
        int64_t snap_at[3] = {base ? 100 : 0, end, fin};
        for (int i = 0; i < 3; i++) {
            char path[400];
            snprintf(path, sizeof(path), "%s/%020lld.snapshot", rec_dir, (long long)snap_at[i]);
            if (unlink(path) == -1 && errno != ENOENT)
                rec_dirty = true;
        }
    }
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_recovery_one(data, size);
}
#endif
