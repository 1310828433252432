/*
 * disksync - the disk's physical limits in the data dir, for BENCHMARKS.md:
 *
 *   disksync dir= mb=256 secs=   sequential 1 MiB writes, one fdatasync at the end
 *   disksync dir= sync=1 count=  4 KiB appends, each followed by fdatasync
 *
 * Prints one JSON line; the file is removed afterwards.
 */
#include <fcntl.h>
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
    bench_args(argc - 1, argv + 1);
    char path[4096];
    snprintf(path, sizeof path, "%s/disksync.%d", arg_str("dir", "."), (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1)
        die("open %s", path);
    double maxs = arg_dbl("secs", 10);
    int64_t t0 = now_ns(), deadline = t0 + (int64_t)(maxs * 1e9);
    if (arg_long("sync", 0)) {
        long count = arg_long("count", 1000), n = 0;
        int64_t *v = calloc((size_t)count, sizeof *v);
        char buf[4096];
        memset(buf, 'x', sizeof buf);
        for (; n < count && now_ns() < deadline; n++) {
            int64_t t = now_ns();
            if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf || fdatasync(fd) == -1)
                die("write/fdatasync");
            v[n] = now_ns() - t;
        }
        double secs = (double)(now_ns() - t0) / 1e9;
        qsort(v, (size_t)n, sizeof *v, cmp_i64);
        printf("{\"what\":\"fdatasync\",\"ops\":%ld,\"secs\":%.3f,\"ops_per_s\":%.1f,"
               "\"p50_us\":%.1f,\"p99_us\":%.1f}\n",
               n, secs, n / secs, pct_us(v, (size_t)n, 0.5), pct_us(v, (size_t)n, 0.99));
        free(v);
    } else {
        long mb = arg_long("mb", 256), n = 0;
        char *buf = malloc(1 << 20);
        memset(buf, 'x', 1 << 20);
        for (; n < mb && now_ns() < deadline; n++)
            if (write(fd, buf, 1 << 20) != 1 << 20)
                die("write");
        if (fdatasync(fd) == -1)
            die("fdatasync");
        double secs = (double)(now_ns() - t0) / 1e9;
        printf("{\"what\":\"seqwrite\",\"mb\":%ld,\"secs\":%.3f,\"mbps\":%.1f}\n", n, secs,
               n * 1.048576 / secs);
        free(buf);
    }
    close(fd);
    unlink(path);
    return 0;
}
