/*
 * memwarm - the cost of memory the machine has not handed out yet, for
 * BENCHMARKS.md, and a page-cache ballast for the produce workload:
 *
 *   memwarm dir= mb=N anon_mb=M secs=S ballast=PATH
 *
 *   1. anon_mb MiB of fresh anonymous memory: the first memset of every MiB
 *      (each page is faulted in) and a second memset of the same memory;
 *   2. N MiB written with 1 MiB pwrites into a new file in dir (the page
 *      cache grows into page frames nobody used lately), the file removed;
 *   3. N MiB written the same way into PATH right after (the page cache takes
 *      the frames step 2 freed).  PATH is kept: the caller deletes it just
 *      before a measurement, so that the measured broker finds recycled
 *      frames, as a broker whose retention deletes old segments does.
 *
 * On a bare-metal Linux host all four rates are memory-bandwidth figures
 * (GB/s).  In a VM whose hypervisor backs guest memory lazily and takes
 * freed memory back (free page reporting), the first-touch rates can be
 * tens of times lower than the re-touch rates.
 *
 * Prints one JSON line.  Stops a step early when secs= runs out.
 */
#include <fcntl.h>
#include <unistd.h>

#include "bench.h"

static int64_t deadline;

/* Writes up to mb MiB of buf into a new file at path; returns MiB written. */
static long fill(const char *path, const char *buf, long mb, double *secs)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1)
        die("open %s", path);
    int64_t t0 = now_ns();
    long n = 0;
    for (; n < mb && now_ns() < deadline; n++)
        if (pwrite(fd, buf, 1 << 20, (off_t)n << 20) != 1 << 20)
            die("pwrite %s", path);
    *secs = (double)(now_ns() - t0) / 1e9;
    if (close(fd) == -1)
        die("close %s", path);
    return n;
}

int main(int argc, char **argv)
{
    bench_args(argc - 1, argv + 1);
    const char *dir = arg_str("dir", ".");
    const char *ballast = arg_str("ballast", NULL);
    long mb = arg_long("mb", 256), anon_mb = arg_long("anon_mb", 64);
    deadline = now_ns() + (int64_t)(arg_dbl("secs", 60) * 1e9);

    /* 1. anonymous memory: first touch, then again */
    char *m = malloc((size_t)anon_mb << 20);
    if (!m)
        die("malloc %ld MiB", anon_mb);
    long an = 0;
    int64_t t0 = now_ns();
    for (; an < anon_mb && now_ns() < deadline; an++)
        memset(m + ((size_t)an << 20), 1, 1 << 20);
    double first = (double)(now_ns() - t0) / 1e9;
    t0 = now_ns();
    for (long i = 0; i < an; i++)
        memset(m + ((size_t)i << 20), 2, 1 << 20);
    double again = (double)(now_ns() - t0) / 1e9;
    free(m);

    /* 2. and 3. page cache: fresh frames, then recycled ones */
    char *buf = malloc(1 << 20);
    if (!buf)
        die("malloc");
    memset(buf, 'x', 1 << 20);
    char path[4096];
    snprintf(path, sizeof path, "%s/memwarm.%d", dir, (int)getpid());
    double fs = 0, rs = 0;
    long fn = fill(path, buf, mb, &fs);
    if (unlink(path) == -1)
        die("unlink %s", path);
    long rn = 0;
    if (ballast)
        rn = fill(ballast, buf, fn, &rs);
    free(buf);

    printf("{\"what\":\"memwarm\",\"anon_mb\":%ld,\"anon_first_mbps\":%.1f,\"anon_again_mbps\":%.1f,"
           "\"file_mb\":%ld,\"file_fresh_mbps\":%.1f,\"ballast_mb\":%ld,\"file_recycled_mbps\":%.1f}\n",
           an, an * 1.048576 / (first > 0 ? first : 1e-9), an * 1.048576 / (again > 0 ? again : 1e-9),
           fn, fn * 1.048576 / (fs > 0 ? fs : 1e-9), rn, rn * 1.048576 / (rs > 0 ? rs : 1e-9));
    return 0;
}
