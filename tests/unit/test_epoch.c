/* Unit tests for epoch.c: the leader epoch cache, against the cases of
 * Kafka's LeaderEpochFileCacheTest, and its checkpoint file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "epoch.h"
#include "gr.h"

static void assert_end(const gr_epochs_t *c, int32_t req, int64_t leo, int32_t epoch, int64_t off)
{
    int32_t e;
    int64_t o;
    gr_epochs_end_offset(c, req, leo, &e, &o);
    assert_int_equal(e, epoch);
    assert_int_equal(o, off);
}

static void test_assign_and_end_offsets(void **state)
{
    (void)state;
    gr_epochs_t c = {0};
    assert_int_equal(gr_epochs_latest(&c), -1);
    assert_end(&c, 0, 10, -1, -1);                 /* empty: unknown */
    gr_epochs_assign(&c, 2, 6);
    gr_epochs_assign(&c, 2, 7);                    /* same epoch, later start: ignored */
    gr_epochs_assign(&c, 3, 8);
    gr_epochs_assign(&c, 5, 11);
    assert_int_equal(c.n, 3);
    assert_end(&c, 5, 20, 5, 20);                  /* the latest: the log end */
    assert_end(&c, 3, 20, 3, 11);                  /* the start of the next one */
    assert_end(&c, 4, 20, 3, 11);                  /* unknown epoch between: the one below */
    assert_end(&c, 1, 20, 1, 6);                   /* below all: the first start */
    assert_end(&c, 6, 20, -1, -1);                 /* above all */
    assert_end(&c, -1, 20, -1, -1);
    assert_int_equal(gr_epochs_for_offset(&c, 5), -1);
    assert_int_equal(gr_epochs_for_offset(&c, 6), 2);
    assert_int_equal(gr_epochs_for_offset(&c, 10), 3);
    assert_int_equal(gr_epochs_for_offset(&c, 99), 5);
    /* an epoch going back, or an earlier start, drops what follows it */
    gr_epochs_assign(&c, 4, 9);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.e[2].epoch, 4);
    assert_int_equal(c.e[2].start, 9);
    gr_epochs_assign(&c, 6, 7);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.e[0].epoch, 2);
    assert_int_equal(c.e[1].epoch, 6);
    gr_epochs_free(&c);
}

static void test_truncation(void **state)
{
    (void)state;
    gr_epochs_t c = {0};
    gr_epochs_assign(&c, 0, 0);
    gr_epochs_assign(&c, 1, 6);
    gr_epochs_assign(&c, 2, 8);
    gr_epochs_truncate_end(&c, 8);                 /* the log ends at 8: epoch 2 never wrote */
    assert_int_equal(c.n, 2);
    gr_epochs_truncate_end(&c, 100);
    assert_int_equal(c.n, 2);
    c.dirty = false;
    gr_epochs_truncate_start(&c, 0);               /* nothing below */
    assert_false(c.dirty);
    gr_epochs_truncate_start(&c, 7);               /* epoch 1 starts at 7 now, epoch 0 is gone */
    assert_int_equal(c.n, 1);
    assert_int_equal(c.e[0].epoch, 1);
    assert_int_equal(c.e[0].start, 7);
    assert_true(c.dirty);
    gr_epochs_free(&c);
}

static void test_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/gr-epoch-XXXXXX";
    assert_non_null(mkdtemp(dir));
    gr_epochs_t c = {0}, d = {0};
    assert_int_equal(gr_epochs_load(&d, dir), GR_ENOENT);
    gr_epochs_assign(&c, 0, 0);
    gr_epochs_assign(&c, 3, 1200);
    assert_int_equal(gr_epochs_write(&c, dir, false, NULL), 0);
    char path[512], *text = NULL;
    snprintf(path, sizeof(path), "%s/leader-epoch-checkpoint", dir);
    assert_int_equal(gr_file_read_all(path, &text, NULL), 0);
    assert_string_equal(text, "0\n2\n0 0\n3 1200\n");
    free(text);
    assert_int_equal(gr_epochs_load(&d, dir), 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.e[1].epoch, 3);
    assert_int_equal(d.e[1].start, 1200);
    /* garbage, a wrong version, a count larger than the lines */
    static const char *bad[] = {"x\n", "1\n1\n0 0\n", "0\n3\n0 0\n", "0\n1\n-1 0\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(gr_file_write_atomic(path, bad[i], strlen(bad[i])), 0);
        assert_int_equal(gr_epochs_load(&d, dir), GR_ECORRUPT);
        assert_int_equal(d.n, 0);
    }
    /* entries that go back are dropped from there on */
    const char *back = "0\n3\n0 0\n2 5\n1 9\n";
    assert_int_equal(gr_file_write_atomic(path, back, strlen(back)), 0);
    assert_int_equal(gr_epochs_load(&d, dir), 0);
    assert_int_equal(d.n, 2);
    unlink(path);
    rmdir(dir);
    gr_epochs_free(&c);
    gr_epochs_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assign_and_end_offsets),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
