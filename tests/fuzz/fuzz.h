/*
 * fuzz.h - helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * Each target is one file defining LLVMFuzzerTestOneInput (and, when it
 * needs process-wide setup, LLVMFuzzerInitialize).  The targets call the
 * same entry points the broker uses on untrusted bytes; a property that
 * must hold for every input is checked with FUZZ_CHECK, which aborts so
 * that libFuzzer records the input as a crash.
 *
 * The regression test (tests/unit/test_fuzz_regress.c) includes the target
 * sources with FUZZ_NO_MAIN defined and feeds the inputs committed under
 * tests/fuzz/regress/ through the same LLVMFuzzerTestOneInput.
 */
#ifndef GR_FUZZ_H
#define GR_FUZZ_H

#include "gr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_CHECK(cond)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/* Silence the broker's log lines (recovery and config errors are
 * expected on every other input). */
static inline void fuzz_quiet(void)
{
    gr_log_level = GR_LOG_ERROR + 1;
}

/* A private temporary directory for the process, under /dev/shm when it
 * exists (fsync on tmpfs costs nothing).  Created on first use; removed
 * at exit. */
static char fuzz_tmp[256];

static void fuzz_tmp_cleanup(void)
{
    if (fuzz_tmp[0])
        gr_rm_rf(fuzz_tmp);
}

static inline const char *fuzz_tmpdir(void)
{
    if (!fuzz_tmp[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_tmp, sizeof(fuzz_tmp), "%s/gregor-fuzz-XXXXXX", base);
        if (!mkdtemp(fuzz_tmp)) {
            perror("mkdtemp");
            abort();
        }
        atexit(fuzz_tmp_cleanup);
    }
    return fuzz_tmp;
}

/* Write len bytes to path (truncating).  Aborts on failure: the harness,
 * not the input, is broken then. */
static inline void fuzz_write_file(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(p, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

static inline uint16_t fuzz_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

#endif
