/*
 * fcache.h - refcounted file handles and the descriptor cache of segment
 * files: a segment's .log is opened when it is used and closed again when
 * the least recently used of more than log.open.files.max open files, so
 * the number of descriptors the logs hold is bounded by configuration and
 * not by how many segments exist.
 *
 * A gr_file_t is either plain (an fd the owner opened; closed at the last
 * unref) or cached (it has a name and the cache opens and closes its fd).
 * Output chains hold references to cached files (the file ranges of Fetch
 * responses): a reference keeps the handle, not the descriptor, and
 * gr_file_fd() reopens the file by name when the cache closed it.  A file
 * whose name stops referring to it (deleted by retention, replaced by the
 * cleaner, its log closed) is marked gone: its descriptor, while open,
 * still reads it; once the cache closes it, gr_file_fd() fails instead of
 * opening whatever now has that name.
 *
 * Cached files are used on the loop thread only.  Plain files may live on
 * a helper thread (the cleaner's output segments) as long as one thread
 * owns them; they join the cache (gr_file_cache) on the loop thread.
 */
#ifndef GR_FCACHE_H
#define GR_FCACHE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct gr_file {
    int fd;                      /* -1 while closed */
    int refs;
    char *path;                  /* cached files: reopened by this name, owned */
    int flags;                   /* open(2) flags of a reopen */
    bool cached;                 /* the cache opens and closes fd (loop thread) */
    bool gone;                   /* the name no longer refers to this file */
    struct gr_file *prev, *next; /* cached and open: the LRU list, newest first */
} gr_file_t;

/* A plain file owning fd (may be -1): refs = 1. */
gr_file_t *gr_file_new(int fd);
/* A cached file, not opened yet: refs = 1. */
gr_file_t *gr_file_new_cached(const char *path, int flags);
gr_file_t *gr_file_ref(gr_file_t *f);
/* Closes the descriptor and frees the handle at the last reference. */
void gr_file_unref(gr_file_t *f);
/* The descriptor, opened (by name, closing the least recently used cached
 * file when the cache is full) if the cache had closed it; -errno when it
 * cannot be opened, -ENOENT for a file that is gone.  Valid until the next
 * call that may open a cached file. */
int gr_file_fd(gr_file_t *f);
/* Hand a plain file to the cache under `path` (loop thread); an open fd
 * joins the LRU list. */
void gr_file_cache(gr_file_t *f, const char *path, int flags);
/* The file's name changed (it was renamed): reopen it by `path`. */
void gr_file_rename(gr_file_t *f, const char *path);
/* The name no longer refers to this file: never reopen it. */
void gr_file_forget_name(gr_file_t *f);
/* Close the descriptor now (a cached file reopens on demand; a plain one
 * stays closed until gr_file_cache). */
void gr_file_close(gr_file_t *f);

/* Most cached files open at once (log.open.files.max, at least 8); lowering
 * it closes the excess now.  Default GR_FCACHE_DEFAULT_MAX. */
#define GR_FCACHE_DEFAULT_MAX 256
void gr_fcache_set_max(int max);
int gr_fcache_max(void);
/* Cached files with an open descriptor now. */
int gr_fcache_open(void);

typedef struct gr_fcache_stats {
    int64_t opens;               /* reopens of cached files */
    int64_t evictions;           /* descriptors closed to make room */
} gr_fcache_stats_t;
gr_fcache_stats_t gr_fcache_stats(void);

#endif
