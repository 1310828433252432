/*
 * epoch.c - the leader epoch cache (see epoch.h), Kafka's
 * LeaderEpochFileCache, and its file.
 *
 * <partition dir>/leader-epoch-checkpoint, Kafka's LeaderEpochCheckpointFile:
 *
 *   line   content                  example
 *   -----  -----------------------  -------
 *   1      version                  0
 *   2      number of entries N      2
 *   3..    epoch start-offset       0 0
 *                                   3 1200
 *
 * The file is rewritten whole (tmp + rename).  Whether that is durable is
 * the caller's choice: the cache only loses precision if an update is lost
 * (an older first entry, which the next truncation from the start
 * corrects), except for a new epoch, whose write the caller makes durable
 * before records of that epoch are appended (topic.c).
 */
#include "epoch.h"
#include "fio.h"
#include "gr.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Entries a file may hold: far more than any partition's history. */
#define MAX_ENTRIES 1000000

static void push(gr_epochs_t *c, int32_t epoch, int64_t start)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4;
        c->e = gr_realloc(c->e, sizeof(*c->e) * (size_t)c->cap);
    }
    c->e[c->n++] = (gr_epoch_entry_t){epoch, start};
    c->dirty = true;
}

static bool parse_num(const char **s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(*s, &end, 10);
    if (errno || end == *s)
        return false;
    *s = end;
    *v = x;
    return true;
}

int gr_epochs_load(gr_epochs_t *c, const char *dir)
{
    char path[PATH_MAX];
    char *buf = NULL;
    c->n = 0;
    c->dirty = false;
    if (snprintf(path, sizeof(path), "%s/" GR_EPOCHS_FILE, dir) >= (int)sizeof(path))
        return GR_EINVAL;
    int rc = gr_file_read_all(path, &buf, NULL);
    if (rc < 0)
        return rc == -ENOENT ? GR_ENOENT : rc;
    const char *s = buf;
    int64_t version, n;
    rc = GR_ECORRUPT;
    if (!parse_num(&s, &version) || version != 0 || !parse_num(&s, &n) || n < 0 || n > MAX_ENTRIES)
        goto out;
    for (int64_t i = 0; i < n; i++) {
        int64_t epoch, start;
        if (!parse_num(&s, &epoch) || !parse_num(&s, &start))
            goto out;
        if (epoch < 0 || epoch > INT32_MAX || start < 0)
            goto out;
        /* keep the increasing prefix */
        if (c->n > 0 && (epoch <= c->e[c->n - 1].epoch || start < c->e[c->n - 1].start))
            break;
        push(c, (int32_t)epoch, start);
    }
    rc = 0;
out:
    if (rc < 0)
        c->n = 0;
    c->dirty = false;
    free(buf);
    return rc;
}

int gr_epochs_write(gr_epochs_t *c, const char *dir, bool durable, gr_ev_t *ev)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/" GR_EPOCHS_FILE, dir) >= (int)sizeof(path) ||
        snprintf(tmp, sizeof(tmp), "%s/" GR_EPOCHS_FILE ".tmp", dir) >= (int)sizeof(tmp))
        return GR_EINVAL;
    size_t cap = 32 + (size_t)c->n * 34, len = 0;
    char *buf = gr_malloc(cap);
    len += (size_t)snprintf(buf, cap, "0\n%d\n", c->n);
    for (int i = 0; i < c->n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%" PRId32 " %" PRId64 "\n", c->e[i].epoch, c->e[i].start);
    int rc;
    if (durable) {
        rc = gr_file_write_atomic(path, buf, len);
    } else {
        rc = 0;
        /* the old file stays open across the rename, closed off the loop */
        int old = ev ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        int fd = gr_fio_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd == -1) {
            rc = -errno;
        } else {
            for (size_t off = 0; off < len && rc == 0;) {
                ssize_t w = gr_fio_write(fd, buf + off, len - off);
                if (w > 0)
                    off += (size_t)w;
                else if (w == 0 || errno != EINTR)
                    rc = w == 0 ? GR_EIO : -errno;
            }
            close(fd);
            if (rc == 0 && gr_fio_rename(tmp, path) == -1)
                rc = -errno;
        }
        if (old >= 0)
            gr_ev_close_later(ev, old);
    }
    free(buf);
    if (rc == 0)
        c->dirty = false;
    return rc;
}

void gr_epochs_free(gr_epochs_t *c)
{
    free(c->e);
    c->e = NULL;
    c->n = c->cap = 0;
}

void gr_epochs_assign(gr_epochs_t *c, int32_t epoch, int64_t start)
{
    if (epoch < 0 || start < 0)
        return;
    if (c->n > 0 && c->e[c->n - 1].epoch == epoch && start >= c->e[c->n - 1].start)
        return;
    while (c->n > 0 && (c->e[c->n - 1].epoch >= epoch || c->e[c->n - 1].start >= start))
        c->n--;
    push(c, epoch, start);
}

void gr_epochs_truncate_end(gr_epochs_t *c, int64_t end)
{
    if (end < 0)
        return;
    while (c->n > 0 && c->e[c->n - 1].start >= end) {
        c->n--;
        c->dirty = true;
    }
}

void gr_epochs_truncate_start(gr_epochs_t *c, int64_t start)
{
    if (start < 0)
        return;
    int k = 0;
    while (k < c->n && c->e[k].start <= start)
        k++;
    if (k == 0)
        return;
    /* e[k-1] is the latest entry at or before start: it now starts there */
    if (k == 1 && c->e[0].start == start)
        return;
    c->e[k - 1].start = start;
    memmove(c->e, c->e + (k - 1), sizeof(*c->e) * (size_t)(c->n - (k - 1)));
    c->n -= k - 1;
    c->dirty = true;
}

int32_t gr_epochs_latest(const gr_epochs_t *c)
{
    return c->n > 0 ? c->e[c->n - 1].epoch : -1;
}

const gr_epoch_entry_t *gr_epochs_first(const gr_epochs_t *c)
{
    return c->n > 0 ? &c->e[0] : NULL;
}

int32_t gr_epochs_for_offset(const gr_epochs_t *c, int64_t offset)
{
    int32_t prev = -1;
    for (int i = 0; i < c->n; i++) {
        if (c->e[i].start == offset)
            return c->e[i].epoch;
        if (c->e[i].start > offset)
            return prev;
        prev = c->e[i].epoch;
    }
    return prev;
}

void gr_epochs_end_offset(const gr_epochs_t *c, int32_t requested, int64_t log_end, int32_t *epoch,
                          int64_t *offset)
{
    *epoch = -1;
    *offset = -1;
    if (requested == -1)
        return;
    if (c->n > 0 && c->e[c->n - 1].epoch == requested) {
        *epoch = requested;
        *offset = log_end;
        return;
    }
    /* the first entry with a higher epoch, and the one before it */
    int hi = 0;
    while (hi < c->n && c->e[hi].epoch <= requested)
        hi++;
    if (hi == c->n)
        return;                       /* above every epoch known */
    if (hi == 0) {
        *epoch = requested;           /* below every epoch: its data is gone */
        *offset = c->e[0].start;
        return;
    }
    *epoch = c->e[hi - 1].epoch;
    *offset = c->e[hi].start;
}
