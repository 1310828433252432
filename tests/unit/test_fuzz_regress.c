/* Regression tests for the fuzz targets (tests/fuzz/): every input under
 * tests/fuzz/regress/<target>/ (inputs that once crashed a target) and the
 * committed seed corpora under tests/fuzz/corpus/<target>/ go through the
 * targets' own entry points, built here with the normal compiler (and
 * sanitizers under `make test`).  A crash or sanitizer report fails the
 * binary.  Paths are relative to the repository root (make runs tests
 * there). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NO_MAIN
#include "../fuzz/fuzz_batch.c"
#include "../fuzz/fuzz_config.c"
#include "../fuzz/fuzz_offsets_record.c"
#include "../fuzz/fuzz_recovery.c"
#include "../fuzz/fuzz_request.c"
#include "../fuzz/fuzz_snapshot.c"

typedef int fuzz_fn(const uint8_t *data, size_t size);

/* Feed every regular file of dir to fn; returns how many. */
static int run_dir(const char *dir, fuzz_fn *fn)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        char *buf = NULL;
        size_t len = 0;
        if (gr_file_read_all(path, &buf, &len) < 0)
            continue;
        fn((const uint8_t *)buf, len);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

static void run_target(const char *name, fuzz_fn *fn, int min_seeds)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "tests/fuzz/regress/%s", name);
    run_dir(dir, fn);
    snprintf(dir, sizeof(dir), "tests/fuzz/corpus/%s", name);
    int seeds = run_dir(dir, fn);
    if (seeds < min_seeds)
        fail_msg("%s: %d seeds in %s (run from the repository root)", name, seeds, dir);
}

static void test_request(void **state)
{
    (void)state;
    run_target("request", fuzz_request_one, 1);
}

static void test_batch(void **state)
{
    (void)state;
    run_target("batch", fuzz_batch_one, 1);
}

static void test_recovery(void **state)
{
    (void)state;
    run_target("recovery", fuzz_recovery_one, 1);
}

static void test_offsets_record(void **state)
{
    (void)state;
    run_target("offsets_record", fuzz_offsets_record_one, 1);
}

static void test_snapshot(void **state)
{
    (void)state;
    run_target("snapshot", fuzz_snapshot_one, 1);
}

static void test_config(void **state)
{
    (void)state;
    run_target("config", fuzz_config_one, 1);
}

/* batchLength 0x7fffffff: 12 + batchLength overflowed int32 in
 * gr_batch_size (regress/batch/batch-size-overflow). */
static void test_batch_size_overflow(void **state)
{
    (void)state;
    uint8_t b[GR_BATCH_HEADER_SIZE];
    memset(b, 0xff, sizeof(b));
    b[GR_BOFF_LENGTH] = 0x7f;
    assert_int_equal(gr_batch_size(b), -1);
    assert_int_equal(gr_batch_check(b, sizeof(b), NULL), GR_ECORRUPT);
    b[GR_BOFF_LENGTH + 3] = 0xf3;               /* INT32_MAX - 12 still fits */
    assert_int_equal(gr_batch_size(b), INT32_MAX);
}

/* A legacy set whose gzip wrapper is followed by a malformed message:
 * legacy_set returned without freeing the wrapper's decompressed set
 * (regress/batch/legacy-inner-leak; LeakSanitizer reports it under
 * `make test`). */
static void test_legacy_inner_leak(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(gr_file_read_all("tests/fuzz/regress/batch/legacy-inner-leak", &buf, &len), 0);
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_true(gr_batch_upconvert_legacy((const uint8_t *)buf, len, 1 << 20, &out, &out_len) < 0);
    assert_null(out);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_recovery),
        cmocka_unit_test(test_offsets_record),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_batch_size_overflow),
        cmocka_unit_test(test_legacy_inner_leak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
