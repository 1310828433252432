/*
 * bench.h - small helpers shared by the bench programs (kbench, redisbench,
 * mockbroker, disksync): key=value arguments, clocks, percentiles, and the
 * one-line JSON result every program prints on stdout.
 *
 * The programs are measurement tools, not part of the broker: they abort on
 * setup errors with a message on stderr and exit status 2, which the driver
 * (bench/run.py) reports as "n/a" with that message.  Every loop they run is
 * bounded both by a count and by a time limit (secs=).
 */
#ifndef GR_BENCH_H
#define GR_BENCH_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static int bench_argc;
static char **bench_argv;

static inline void bench_args(int argc, char **argv)
{
    bench_argc = argc;
    bench_argv = argv;
}

/* Value of "name=value" among the arguments, or def. */
static inline const char *arg_str(const char *name, const char *def)
{
    size_t n = strlen(name);
    for (int i = 0; i < bench_argc; i++)
        if (strncmp(bench_argv[i], name, n) == 0 && bench_argv[i][n] == '=')
            return bench_argv[i] + n + 1;
    return def;
}

static inline long arg_long(const char *name, long def)
{
    const char *v = arg_str(name, NULL);
    return v ? strtol(v, NULL, 10) : def;
}

static inline double arg_dbl(const char *name, double def)
{
    const char *v = arg_str(name, NULL);
    return v ? strtod(v, NULL) : def;
}

static inline void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time (user + system) of the whole process so far, in seconds. */
static inline double cpu_secs(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static inline void sleep_until_ns(int64_t t)
{
    struct timespec ts = {.tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts v in place; returns the q-quantile (0..1) in microseconds. */
static inline double pct_us(int64_t *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

/* Prints the latency summary of n samples (ns) as a JSON line. */
static inline void print_latency(const char *what, int64_t *v, size_t n, long sent, double secs)
{
    qsort(v, n, sizeof *v, cmp_i64);
    printf("{\"what\":\"%s\",\"samples\":%zu,\"sent\":%ld,\"secs\":%.3f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}\n",
           what, n, sent, secs, pct_us(v, n, 0.50), pct_us(v, n, 0.99), pct_us(v, n, 0.999),
           n ? (double)v[n - 1] / 1000.0 : 0.0);
}

/* Payload layout of the latency workloads (little-endian host order):
 *
 *   +--------+--------+----------------+
 *   | 0..7   | 8..15  | 16..size-1     |
 *   | send   | seq    | filler 'x'     |
 *   | ns     |        |                |
 *   +--------+--------+----------------+
 *   send ns is CLOCK_MONOTONIC: producer and consumer share one process.
 */
static inline void stamp(char *buf, int64_t t, int64_t seq)
{
    memcpy(buf, &t, 8);
    memcpy(buf + 8, &seq, 8);
}

static inline void unstamp(const void *buf, int64_t *t, int64_t *seq)
{
    memcpy(t, buf, 8);
    memcpy(seq, (const char *)buf + 8, 8);
}

#endif
