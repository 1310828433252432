/*
 * fcache.c - file handles and the descriptor cache of segment files (see
 * fcache.h).
 *
 * The cache is one LRU list of the cached files that have an open
 * descriptor, most recently used first, and a bound (log.open.files.max).
 * gr_file_fd() of an open file moves it to the front (three pointer
 * writes); of a closed one opens it by name after closing the list's tail
 * while the list is full.  An open(2) that fails with EMFILE or ENFILE
 * closes the tail and tries again, so a process at its descriptor limit
 * gives up cached segment files before it fails a read or an append.
 *
 * Who may close a descriptor: only this file, and only on the loop thread,
 * which is also the only thread that uses cached descriptors.  Helper
 * threads never see a cached file's fd: fsyncs of segment files open them
 * by name (segment.c), the cleaner reads its source segments by name and
 * owns its output files as plain files until log.c swaps them in.  A
 * caller must not keep an fd across a call that may open another cached
 * file; every use asks gr_file_fd() again.
 */
#include "fcache.h"
#include "fio.h"
#include "gr.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_MAX 8

static struct {
    gr_file_t *head, *tail;      /* open cached files, newest first */
    int n;
    int max;
    gr_fcache_stats_t st;
} C = {.max = GR_FCACHE_DEFAULT_MAX};

static void lru_del(gr_file_t *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        C.head = f->next;
    if (f->next)
        f->next->prev = f->prev;
    else
        C.tail = f->prev;
    f->prev = f->next = NULL;
    C.n--;
}

static void lru_push(gr_file_t *f)
{
    f->prev = NULL;
    f->next = C.head;
    if (C.head)
        C.head->prev = f;
    else
        C.tail = f;
    C.head = f;
    C.n++;
}

/* Close the least recently used open file; false when none is open. */
static bool evict_one(void)
{
    gr_file_t *f = C.tail;
    if (!f)
        return false;
    lru_del(f);
    close(f->fd);
    f->fd = -1;
    C.st.evictions++;
    return true;
}

static void make_room(void)
{
    while (C.n >= C.max && evict_one()) {
    }
}

gr_file_t *gr_file_new(int fd)
{
    gr_file_t *f = gr_calloc(1, sizeof(*f));
    f->fd = fd;
    f->refs = 1;
    return f;
}

gr_file_t *gr_file_new_cached(const char *path, int flags)
{
    gr_file_t *f = gr_file_new(-1);
    gr_file_cache(f, path, flags);
    return f;
}

gr_file_t *gr_file_ref(gr_file_t *f)
{
    f->refs++;
    return f;
}

void gr_file_unref(gr_file_t *f)
{
    if (!f || --f->refs > 0)
        return;
    if (f->fd >= 0) {
        if (f->cached)
            lru_del(f);
        close(f->fd);
    }
    free(f->path);
    free(f);
}

int gr_file_fd(gr_file_t *f)
{
    if (f->fd >= 0) {
        if (f->cached && f != C.head) {
            lru_del(f);
            lru_push(f);
        }
        return f->fd;
    }
    if (!f->cached || f->gone || !f->path)
        return -ENOENT;
    make_room();
    for (;;) {
        int fd = gr_fio_open(f->path, f->flags | O_CLOEXEC, 0644);
        if (fd >= 0) {
            f->fd = fd;
            lru_push(f);
            C.st.opens++;
            return fd;
        }
        if (errno == EINTR)
            continue;
        if ((errno == EMFILE || errno == ENFILE) && evict_one())
            continue;
        return -errno;
    }
}

void gr_file_cache(gr_file_t *f, const char *path, int flags)
{
    gr_file_rename(f, path);
    f->flags = flags & ~(O_CREAT | O_TRUNC | O_EXCL);
    if (f->cached)
        return;
    f->cached = true;
    if (f->fd >= 0) {
        make_room();
        lru_push(f);
    }
}

void gr_file_rename(gr_file_t *f, const char *path)
{
    char *p = gr_strdup(path);
    free(f->path);
    f->path = p;
}

void gr_file_forget_name(gr_file_t *f)
{
    f->gone = true;
}

void gr_file_close(gr_file_t *f)
{
    if (f->fd < 0)
        return;
    if (f->cached)
        lru_del(f);
    close(f->fd);
    f->fd = -1;
}

void gr_fcache_set_max(int max)
{
    C.max = GR_MAX(max, MIN_MAX);
    while (C.n > C.max && evict_one()) {
    }
}

int gr_fcache_max(void)
{
    return C.max;
}

int gr_fcache_open(void)
{
    return C.n;
}

gr_fcache_stats_t gr_fcache_stats(void)
{
    return C.st;
}
