/* Unit tests for fio.c's read faults: the spec (read@ / sendfile@ next to
 * the write kinds, which never touch reads), pread and sendfile under each
 * kind, and how a partition log reports and recovers from a read fault.
 * Then gr_fio_syncfs: the fsync fault of any path under the dir fails it,
 * and the power-loss journal counts it as a sync of every file under it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "batch.h"
#include "fio.h"
#include "log.h"

#include "batch_helper.h"
#include "log_helper.h"

static char root[256];
static uint8_t buf[1 << 16];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/gregor-test-fio-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(gr_fio_arm(""), 0);
    gr_rm_rf(root);
    return 0;
}

/* <root>/<dir>/data, filled with 0, 1, 2, ... (n bytes); returns an O_RDWR fd. */
static int make_file(const char *dir, size_t n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, dir);
    mkdir(path, 0755);
    strcat(path, "/data");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(pwrite(fd, buf, n, 0), (ssize_t)n);
    return fd;
}

static void test_spec(void **state)
{
    (void)state;
    assert_int_equal(gr_fio_arm("read@/a-0/"), 0);
    assert_int_equal(gr_fio_arm("sendfile@/a-0/"), 0);
    assert_int_equal(gr_fio_arm(" read@/a-0/ , sendfile@/b-0/,enospc@/c-0/\n"), 0);
    assert_int_equal(gr_fio_arm("read"), 0);                /* no scope: every file */
    assert_int_equal(gr_fio_arm("journal=/tmp/x,read@/a/"), 0);
    assert_int_equal(gr_fio_arm("reed@/a-0/"), GR_EINVAL);
    assert_int_equal(gr_fio_arm("Read@/a-0/"), GR_EINVAL);
    assert_int_equal(gr_fio_arm("read@/a-0/,bogus"), GR_EINVAL);
    char long_spec[400] = "read@";
    memset(long_spec + 5, 'x', 300);
    long_spec[305] = '\0';
    assert_int_equal(gr_fio_arm(long_spec), GR_EINVAL);
    /* 16 rules fit, 17 do not */
    char many[512] = "";
    for (int i = 0; i < 16; i++)
        strcat(many, i ? ",read@/x/" : "read@/x/");
    assert_int_equal(gr_fio_arm(many), 0);
    strcat(many, ",read@/x/");
    assert_int_equal(gr_fio_arm(many), GR_EINVAL);
    assert_int_equal(gr_fio_arm(""), 0);
}

static void test_pread(void **state)
{
    (void)state;
    uint8_t b[64];
    int a = make_file("a-0", 64), o = make_file("b-0", 64);
    assert_int_equal(gr_fio_arm("read@/a-0/"), 0);
    errno = 0;
    assert_int_equal(gr_fio_pread(a, b, sizeof(b), 0), -1);
    assert_int_equal(errno, EIO);
    assert_int_equal(gr_fio_pread(o, b, sizeof(b), 0), 64);
    assert_int_equal(b[10], 10);
    /* a read fault leaves writes alone */
    assert_int_equal(gr_fio_pwrite(a, "zz", 2, 0), 2);
    /* and the write kinds leave reads alone (their syntax is unchanged) */
    assert_int_equal(gr_fio_arm("eio@/a-0/,enospc@/a-0/,short@/a-0/,fsync@/a-0/,trunc@/a-0/"), 0);
    assert_int_equal(gr_fio_pread(a, b, sizeof(b), 0), 64);
    assert_int_equal(b[0], 'z');
    assert_int_equal(gr_fio_pwrite(a, "y", 1, 0), -1);
    assert_int_equal(errno, EIO);
    /* sendfile@ does not fail preads either */
    assert_int_equal(gr_fio_arm("sendfile@/a-0/"), 0);
    assert_int_equal(gr_fio_pread(a, b, sizeof(b), 0), 64);
    /* cleared */
    assert_int_equal(gr_fio_arm(""), 0);
    assert_int_equal(gr_fio_pread(a, b, sizeof(b), 0), 64);
    close(a);
    close(o);
}

static void test_sendfile(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int a = make_file("a-0", 1000), o = make_file("b-0", 1000);
    uint8_t got[1000];
    off_t off = 0;

    /* read@: nothing goes out */
    assert_int_equal(gr_fio_arm("read@/a-0/"), 0);
    assert_int_equal(gr_fio_sendfile(sv[0], a, &off, 1000), -1);
    assert_int_equal(errno, EIO);
    assert_int_equal(off, 0);
    assert_int_equal(gr_fio_sendfile(sv[0], o, &off, 100), 100);
    assert_int_equal(read(sv[1], got, sizeof(got)), 100);

    /* sendfile@: halves, then EIO; what went out is the file's prefix */
    assert_int_equal(gr_fio_arm("sendfile@/a-0/"), 0);
    off = 0;
    size_t left = 1000, sent = 0;
    int calls = 0;
    for (;;) {
        ssize_t n = gr_fio_sendfile(sv[0], a, &off, left);
        if (n == -1) {
            assert_int_equal(errno, EIO);
            break;
        }
        assert_int_equal((size_t)n, left / 2);
        sent += (size_t)n;
        left -= (size_t)n;
        calls++;
    }
    assert_true(calls >= 5);
    assert_int_equal(left, 1);
    assert_int_equal((size_t)off, sent);
    size_t rd = 0;
    while (rd < sent) {
        ssize_t n = read(sv[1], got + rd, sizeof(got) - rd);
        assert_true(n > 0);
        rd += (size_t)n;
    }
    for (size_t i = 0; i < sent; i++)
        assert_int_equal(got[i], (uint8_t)i);

    assert_int_equal(gr_fio_arm(""), 0);
    off = 0;
    assert_int_equal(gr_fio_sendfile(sv[0], a, &off, 1000), 1000);
    close(a);
    close(o);
    close(sv[0]);
    close(sv[1]);
}

static void test_log_read_fault(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/t-0", root);
    gr_log_config_t c = cfg_default();
    gr_log_open_opts_t o = {.dir = dir, .cfg = &c, .log_start_offset = -1, .clean_shutdown = true};
    gr_log_t *log = NULL;
    assert_int_equal(gr_log_open(&o, &log), 0);
    for (int i = 0; i < 4; i++) {
        size_t len = build_batch(buf, 5, 1000 + i * 100, 20, 0);
        gr_append_info_t info;
        assert_int_equal(gr_log_append(log, buf, len, 0, true, gr_now_ms(), &info), 0);
    }
    gr_log_slice_t sl;
    int64_t now = gr_now_ms(), fts;
    assert_int_equal(gr_log_read(log, 0, 1 << 20, INT64_MAX, true, &sl), 0);
    assert_true(sl.len > 0);
    assert_false(gr_log_storage_failed(log, now));

    /* another partition's fault does not touch this one */
    assert_int_equal(gr_fio_arm("read@/t-1/"), 0);
    assert_int_equal(gr_log_read(log, 7, 1 << 20, INT64_MAX, true, &sl), 0);
    assert_false(gr_log_storage_failed(log, now));

    assert_int_equal(gr_fio_arm("read@/t-0/"), 0);
    /* the recent batches (no pread needed to find them) fail too: the
     * first header of the slice is read back */
    assert_int_equal(gr_log_read(log, 17, 1 << 20, INT64_MAX, true, &sl), GR_EIO);
    assert_int_equal(gr_log_read(log, 0, 1 << 20, INT64_MAX, true, &sl), GR_EIO);
    assert_true(gr_log_storage_failed(log, now));
    assert_int_equal(gr_log_offset_for_timestamp(log, 1150, &fts), GR_EIO);
    int64_t off, ts;
    assert_int_equal(gr_log_max_timestamp(log, &off, &ts), GR_EIO);
    /* end of log: nothing to read, no error */
    assert_int_equal(gr_log_read(log, 20, 1 << 20, INT64_MAX, true, &sl), 0);
    assert_int_equal(sl.len, 0);
    /* appends are not affected by a read fault */
    size_t len = build_batch(buf, 5, 2000, 20, 0);
    gr_append_info_t info;
    assert_int_equal(gr_log_append(log, buf, len, 0, true, now, &info), 0);
    /* the probe keeps failing while armed */
    assert_true(gr_log_storage_failed(log, now + 1000));

    /* cleared: the next probe (500 ms on) notices */
    assert_int_equal(gr_fio_arm(""), 0);
    assert_true(gr_log_storage_failed(log, now + 1100));
    assert_false(gr_log_storage_failed(log, now + 2000));
    assert_int_equal(gr_log_read(log, 17, 1 << 20, INT64_MAX, true, &sl), 0);
    assert_true(sl.len > 0);
    assert_int_equal(gr_log_offset_for_timestamp(log, 1150, &fts), 10);
    assert_int_equal(gr_log_max_timestamp(log, &off, &ts), 0);
    assert_int_equal(ts, 2004);

    /* a successful fetch clears the state as well */
    assert_int_equal(gr_fio_arm("read@/t-0/"), 0);
    assert_int_equal(gr_log_read(log, 0, 1 << 20, INT64_MAX, true, &sl), GR_EIO);
    assert_int_equal(gr_fio_arm(""), 0);
    assert_int_equal(gr_log_read(log, 0, 1 << 20, INT64_MAX, true, &sl), 0);
    assert_false(gr_log_storage_failed(log, now));
    gr_log_close(log);
}

static int open_dir(const char *sub)
{
    char path[512];
    snprintf(path, sizeof(path), "%s%s%s", root, *sub ? "/" : "", sub);
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    return fd;
}

static void test_syncfs_fault(void **state)
{
    (void)state;
    int a = make_file("a-0", 64), o = make_file("b-0", 64);
    int dir = open_dir(""), bdir = open_dir("b-0");
    assert_int_equal(gr_fio_syncfs(dir), 0);
    /* a file under the dir: the sync covers it, so it fails */
    assert_int_equal(gr_fio_arm("fsync@/a-0/"), 0);
    errno = 0;
    assert_int_equal(gr_fio_syncfs(dir), -1);
    assert_int_equal(errno, EIO);
    assert_int_equal(gr_fio_fsync(a), -1);
    /* a dir that does not hold the faulty path */
    assert_int_equal(gr_fio_syncfs(bdir), 0);
    assert_int_equal(gr_fio_fsync(o), 0);
    /* the scope naming the dir itself */
    char scope[300];
    snprintf(scope, sizeof(scope), "fsync@%s/", strrchr(root, '/'));
    assert_int_equal(gr_fio_arm(scope), 0);
    assert_int_equal(gr_fio_syncfs(dir), -1);
    assert_int_equal(errno, EIO);
    assert_int_equal(gr_fio_syncfs(bdir), -1);
    /* the other kinds leave syncs alone */
    assert_int_equal(gr_fio_arm("eio@/a-0/,enospc@/a-0/,short@/a-0/,trunc@/a-0/,read@/a-0/,sendfile@/a-0/"), 0);
    assert_int_equal(gr_fio_syncfs(dir), 0);
    assert_int_equal(gr_fio_arm(""), 0);
    assert_int_equal(gr_fio_syncfs(dir), 0);
    close(bdir);
    close(dir);
    close(a);
    close(o);
}

/* syncfs reports writeback errors from Linux 5.8 on: older kernels'
 * cannot prove a dir durable. */
static void test_syncfs_reports_errors(void **state)
{
    (void)state;
    assert_true(gr_fio_syncfs_reports_errors("5.8.0"));
    assert_true(gr_fio_syncfs_reports_errors("5.10.0-21-amd64"));
    assert_true(gr_fio_syncfs_reports_errors("6.1.55"));
    assert_true(gr_fio_syncfs_reports_errors("10.0"));
    assert_false(gr_fio_syncfs_reports_errors("5.7.19"));
    assert_false(gr_fio_syncfs_reports_errors("5.4.0-150-generic"));
    assert_false(gr_fio_syncfs_reports_errors("4.19.0-18-amd64"));
    assert_false(gr_fio_syncfs_reports_errors("3.10.0-1160.el7.x86_64"));
    assert_false(gr_fio_syncfs_reports_errors(""));
    assert_false(gr_fio_syncfs_reports_errors("linux"));
    assert_false(gr_fio_syncfs_reports_errors(NULL));
}

static int64_t size_of(const char *sub)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", root, sub);
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* Last: the journal stays on for the rest of the process. */
static void test_syncfs_journal(void **state)
{
    (void)state;
    char path[512], journal[512];
    snprintf(journal, sizeof(journal), "%s/journal", root);
    snprintf(path, sizeof(path), "%s/logs", root);
    assert_int_equal(mkdir(path, 0755), 0);
    char spec[600];
    snprintf(spec, sizeof(spec), "journal=%s", journal);
    assert_int_equal(setenv("GREGOR_FAULTS", spec, 1), 0);
    assert_int_equal(gr_fio_init(), 0);
    unsetenv("GREGOR_FAULTS");
    /* created and written (not synced), then covered by a syncfs of logs/ */
    snprintf(path, sizeof(path), "%s/logs/p-0", root);
    assert_int_equal(mkdir(path, 0755), 0);
    strcat(path, "/0.log");
    int fd = gr_fio_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(gr_fio_write(fd, "0123456789", 10), 10);
    int dir = open_dir("logs");
    assert_int_equal(gr_fio_syncfs(dir), 0);
    /* a file that predates the journal, unlinked without a directory
     * fsync: the power cut brings it back */
    snprintf(path, sizeof(path), "%s/logs/marker", root);
    int mfd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(mfd >= 0);
    close(mfd);
    assert_int_equal(gr_fio_unlink(path), 0);
    /* written after it, and a file created after it: lost in a power cut */
    assert_int_equal(gr_fio_write(fd, "abcdef", 6), 6);
    snprintf(path, sizeof(path), "%s/logs/p-0/1.log", root);
    int fd2 = gr_fio_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd2 >= 0);
    close(fd2);
    close(fd);
    close(dir);
    assert_int_equal(size_of("logs/p-0/0.log"), 16);
    assert_int_equal(gr_fio_powercut(journal), 0);
    assert_int_equal(size_of("logs/p-0/0.log"), 10);
    assert_int_equal(size_of("logs/p-0/1.log"), -1);
    assert_int_equal(size_of("logs/marker"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sendfile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_read_fault, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syncfs_fault, setup, teardown),
        cmocka_unit_test(test_syncfs_reports_errors),
        cmocka_unit_test_setup_teardown(test_syncfs_journal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
