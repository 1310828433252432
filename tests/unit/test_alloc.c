/*
 * Unit tests for alloc.c: the allocation wrappers print one line naming the
 * size and abort when the C library cannot allocate (checked in a forked
 * child), never return NULL, and gr_buf_t grows keeping its bytes and is
 * reusable after gr_buf_free.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "gr.h"

/* The failure path needs malloc to fail: under AddressSanitizer that takes
 * allocator_may_return_null (ASan reports and stops otherwise).  Unused in
 * other builds. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

#define HUGE ((size_t)1 << 62)

enum { MALLOC, CALLOC, CALLOC_OVERFLOW, REALLOC, STRNDUP };

/* Run one failing allocation in a child: it must die of SIGABRT after
 * printing `want` as the last line on stderr (AddressSanitizer warns
 * first). */
static void dies_with(int which, const char *want)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        void *p = NULL;
        switch (which) {
        case MALLOC:
            p = gr_malloc(HUGE);
            break;
        case CALLOC:
            p = gr_calloc(2, HUGE);
            break;
        case CALLOC_OVERFLOW:
            p = gr_calloc(HUGE, 8);
            break;
        case REALLOC:
            p = gr_realloc(gr_malloc(16), HUGE);
            break;
        case STRNDUP:
            p = gr_strndup("x", HUGE);
            break;
        }
        fprintf(stderr, "returned %p\n", p);   /* not reached */
        _exit(0);
    }
    close(fds[1]);
    char out[256];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(out) - 1 && (r = read(fds[0], out + n, sizeof(out) - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
    size_t wl = strlen(want);
    if (n < wl || strcmp(out + n - wl, want) != 0)
        fail_msg("stderr was \"%s\", wanted it to end with \"%s\"", out, want);
}

static void test_oom_aborts_with_a_message(void **state)
{
    (void)state;
    char want[128];
    snprintf(want, sizeof(want), "gregor: out of memory allocating %zu bytes\n", HUGE);
    dies_with(MALLOC, want);
    dies_with(REALLOC, want);
    snprintf(want, sizeof(want), "gregor: out of memory allocating %zu bytes\n", 2 * HUGE);
    dies_with(CALLOC, want);
    snprintf(want, sizeof(want), "gregor: out of memory allocating %zu bytes\n", (size_t)SIZE_MAX);
    dies_with(CALLOC_OVERFLOW, want);        /* the product does not fit a size_t */
    snprintf(want, sizeof(want), "gregor: out of memory allocating %zu bytes\n", HUGE + 1);
    dies_with(STRNDUP, want);
}

static void test_wrappers(void **state)
{
    (void)state;
    void *p = gr_malloc(0);                  /* a size of 0 is one byte, never NULL */
    assert_non_null(p);
    free(p);
    uint8_t *z = gr_calloc(0, 0);
    assert_non_null(z);
    free(z);
    z = gr_calloc(100, 3);
    for (int i = 0; i < 300; i++)
        assert_int_equal(z[i], 0);
    memset(z, 7, 300);
    z = gr_realloc(z, 100000);
    for (int i = 0; i < 300; i++)
        assert_int_equal(z[i], 7);
    free(z);
    char *s = gr_strdup("group-1");
    assert_string_equal(s, "group-1");
    free(s);
    s = gr_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
}

static void test_buf(void **state)
{
    (void)state;
    gr_buf_t b = {0};
    gr_buf_reserve(&b, 10);
    assert_non_null(b.p);
    assert_int_equal(b.cap, 4096);           /* the smallest size it takes */
    assert_int_equal(b.len, 0);
    memcpy(b.p, "abc", 3);
    b.len = 3;
    uint8_t *before = b.p;
    gr_buf_reserve(&b, 4096);                /* enough already: nothing moves */
    assert_ptr_equal(b.p, before);
    gr_buf_reserve(&b, 5000);                /* doubles, keeps the bytes */
    assert_int_equal(b.cap, 8192);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.p, "abc", 3);
    gr_buf_reserve(&b, 100000);
    assert_int_equal(b.cap, 131072);
    gr_buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.len, 0);
    gr_buf_free(&b);                         /* twice is fine */
    gr_buf_reserve(&b, 1);                   /* and it is usable again */
    assert_int_equal(b.cap, 4096);
    gr_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_aborts_with_a_message),
        cmocka_unit_test(test_wrappers),
        cmocka_unit_test(test_buf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
