/*
 * util.c - logging, clocks and small-file helpers.
 *
 * Log lines follow Kafka's log4j layout so existing log scrapers work:
 *   [2026-01-01 12:00:00,123] INFO message (component)
 * Messages carry strings that clients chose (group, member and client
 * ids, ...): each message is escaped (gr_jstr_escape, held form) so that
 * none can forge a line or send control sequences to a terminal.
 */
#include "gr.h"
#include "fio.h"
#include "jstr.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int gr_log_level = GR_LOG_INFO;

void gr_logf(int level, const char *component, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < gr_log_level)
        return;
    char msg[2048], esc[4 * sizeof(msg)];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gr_jstr_escape(msg, n < 0 ? 0 : GR_MIN((size_t)n, sizeof(msg) - 1), GR_JSTR_HELD, esc, sizeof(esc));

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(stderr, "[%s,%03ld] %s %s (%s)\n", when, ts.tv_nsec / 1000000,
            names[level < 0 ? 0 : level > 3 ? 3 : level], esc, component);
}

int64_t gr_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gr_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gr_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int gr_fsync_dir(const char *path)
{
    return gr_fio_fsync_dir(path);
}

int gr_file_write_atomic(const char *path, const void *data, size_t len)
{
    char tmp[PATH_MAX];
    int rc = 0;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return GR_EINVAL;
    int fd = gr_fio_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1)
        return -errno;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = gr_fio_write(fd, p, left);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto err;
        }
        p += n;
        left -= (size_t)n;
    }
    if (gr_fio_fsync(fd) == -1) {
        rc = -errno;
        goto err;
    }
    close(fd);
    fd = -1;
    if (gr_fio_rename(tmp, path) == -1) {
        rc = -errno;
        goto err;
    }
    /* fsync the directory so the rename itself is durable; when that
     * fails the new content is in place but may not survive a power cut:
     * the write failed (the caller puts back what it must, as Kafka fails
     * a checkpoint whose directory flush fails) */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    return gr_fsync_dir(slash ? (slash == dir ? "/" : dir) : ".");
err:
    if (fd != -1)
        close(fd);
    gr_fio_unlink(tmp);
    return rc;
}

int gr_file_read_all(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -errno;
    size_t cap = 4096, n = 0;
    char *buf = gr_malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = gr_realloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r == -1) {
            if (errno == EINTR)
                continue;
            int rc = -errno;
            free(buf);
            close(fd);
            return rc;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

int gr_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return GR_EINVAL;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) == -1 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) == -1 && errno != EEXIST)
        return -errno;
    return 0;
}

int gr_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == -1)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == -1 ? -errno : 0;
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        int r = gr_rm_rf(sub);
        if (r < 0)
            rc = r;
    }
    closedir(d);
    if (rmdir(path) == -1)
        rc = -errno;
    return rc;
}
