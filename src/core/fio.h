/*
 * fio.h - the storage engine's file I/O, with a fault-injection and
 * power-loss-simulation layer for tests (fio.c).
 *
 * Every call that changes a file of a log dir goes through here: opening a
 * file for writing, write/pwrite, ftruncate, fsync/fdatasync, directory
 * fsync, syncfs(2) of a log dir's filesystem and rename (log.c, segment.c,
 * cleaner.c, checkpoint.c, topic.c and gr_file_write_atomic).  So does every read of log data: pread of
 * segments and indexes (segment.c: fetch slicing, timestamp lookups,
 * recovery; cleaner.c; coord.c's replay) and the sendfile(2) that sends
 * Fetch data (net.c).  The wrappers keep the syscalls' contract (-1 and
 * errno on failure) so callers handle real and injected faults alike.
 *
 * Cost when nothing is armed: one relaxed atomic load and a branch
 * predicted not taken (GR_FIO_SLOW) in front of the plain syscall.
 *
 * Armed at startup from the environment (never from server.properties, so
 * a production config cannot turn it on):
 *
 *   GREGOR_FAULTS=item[,item]...
 *     enospc@SCOPE   writes (and creating files) fail with ENOSPC
 *     eio@SCOPE      writes fail with EIO
 *     short@SCOPE    every write stores half of what it was given, until a
 *                    last byte fails with ENOSPC: a torn write
 *     fsync@SCOPE    fsync/fdatasync (files and directories) fail with EIO;
 *                    so does a syncfs of a dir when the scope matches the
 *                    dir or any file or directory under it (the sync
 *                    covers them)
 *     dirsync@SCOPE  only directory fsyncs fail with EIO (a rename or a file
 *                    creation that cannot be made durable)
 *     slowsync@SCOPE fsync/fdatasync of files take 3 s longer (then succeed):
 *                    a disk busy with write-back, on which a sync waits
 *                    behind other writes
 *     trunc@SCOPE    ftruncate fails with EIO (a torn write cannot be cut
 *                    back: the partition goes offline)
 *     read@SCOPE     reads of log data (pread and sendfile) fail with EIO:
 *                    Fetch and timestamp ListOffsets answer
 *                    KAFKA_STORAGE_ERROR for the partition
 *     sendfile@SCOPE only sendfile fails: every call sends half of what it
 *                    was asked for, until a last byte fails with EIO, so
 *                    the error hits a Fetch response whose header and part
 *                    of whose data already went out (the connection is
 *                    closed)
 *     journal=PATH   record the power-loss journal in PATH (below)
 *     powercut-on-start
 *                    before anything is opened, apply the journal: drop
 *                    every byte, file creation and rename that was not
 *                    made durable by an fsync, as a power cut would; then
 *                    start a fresh journal
 *   SCOPE is matched as a substring of the file's absolute path (for a
 *   directory, of its path plus "/"), e.g. "/orders-0/".  A count after
 *   the kind lets that many matching operations pass before the fault
 *   starts: enospc+2@/.topics/ fails the third write or file creation
 *   under .topics and every one after it.
 *
 *   GREGOR_FAULTS_FILE=PATH   SIGUSR1 re-reads the fault items from PATH
 *                             (missing or empty file: no faults); without
 *                             it SIGUSR1 re-arms the GREGOR_FAULTS items.
 *   SIGUSR2                   clears every fault (the journal goes on).
 * Signals take effect at the next file operation.
 */
#ifndef GR_FIO_H
#define GR_FIO_H

#include "gr.h"

#include <stdatomic.h>
#include <sys/types.h>
#include <unistd.h>

/* Nonzero while faults are armed, a journal is recorded or a signal is
 * waiting to be handled. */
extern atomic_int gr_fio_active;

#if defined(__GNUC__)
#define GR_FIO_SLOW() __builtin_expect(atomic_load_explicit(&gr_fio_active, memory_order_relaxed), 0)
#else
#define GR_FIO_SLOW() atomic_load_explicit(&gr_fio_active, memory_order_relaxed)
#endif

/* Read GREGOR_FAULTS / GREGOR_FAULTS_FILE, apply a pending power cut when
 * asked, install the SIGUSR1/SIGUSR2 handlers.  Call once at startup,
 * before any log dir is touched.  Returns 0 or GR_EINVAL (bad spec,
 * logged). */
int gr_fio_init(void);
/* Parse a fault spec and make it the armed set (tests). */
int gr_fio_arm(const char *spec);
/* Apply a power-loss journal to the files it names (see fio.c). */
int gr_fio_powercut(const char *journal);

int gr_fio_open_slow(const char *path, int flags, mode_t mode);
ssize_t gr_fio_pwrite_slow(int fd, const void *buf, size_t n, off_t off);
ssize_t gr_fio_write_slow(int fd, const void *buf, size_t n);
ssize_t gr_fio_pread_slow(int fd, void *buf, size_t n, off_t off);
ssize_t gr_fio_sendfile_slow(int out_fd, int in_fd, off_t *off, size_t n);
int gr_fio_ftruncate_slow(int fd, off_t len);
int gr_fio_sync_slow(int fd, bool data_only);
int gr_fio_syncfs_slow(int fd);
int gr_fio_rename_slow(const char *from, const char *to);
int gr_fio_fsync_dir(const char *path);   /* open, fsync, close: 0 or -errno */
/* unlink(2); with a journal the file is kept (hard link) until its
 * directory is fsynced, so a power cut can bring it back. */
int gr_fio_unlink(const char *path);

#include <fcntl.h>
#include <stdio.h>
#include <sys/sendfile.h>

/* For /metrics (metrics.c; any thread): a storage operation failed; an
 * fsync that started at t0 (gr_mono_us) returned rc. */
void gr_metrics_storage_error(void);
void gr_fio_sync_done(int64_t t0_us, int rc);

/* open(2) of a log-dir file that may be written (O_CREAT, O_TRUNC...). */
static inline int gr_fio_open(const char *path, int flags, mode_t mode)
{
    if (GR_FIO_SLOW())
        return gr_fio_open_slow(path, flags, mode);
    return open(path, flags, mode);
}

static inline ssize_t gr_fio_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    ssize_t r = GR_FIO_SLOW() ? gr_fio_pwrite_slow(fd, buf, n, off) : pwrite(fd, buf, n, off);
    if (r == -1)
        gr_metrics_storage_error();
    return r;
}

static inline ssize_t gr_fio_write(int fd, const void *buf, size_t n)
{
    ssize_t r = GR_FIO_SLOW() ? gr_fio_write_slow(fd, buf, n) : write(fd, buf, n);
    if (r == -1)
        gr_metrics_storage_error();
    return r;
}

/* pread(2) of a log-dir file (segment, index). */
static inline ssize_t gr_fio_pread(int fd, void *buf, size_t n, off_t off)
{
    ssize_t r = GR_FIO_SLOW() ? gr_fio_pread_slow(fd, buf, n, off) : pread(fd, buf, n, off);
    if (r == -1)
        gr_metrics_storage_error();
    return r;
}

/* gr_fio_pread until n bytes or the end of the file, EINTR retried: the
 * bytes read (fewer at the end), or -1 with errno set. */
ssize_t gr_fio_pread_full(int fd, void *buf, size_t n, int64_t off);

/* sendfile(2) from a log-dir file to a socket. */
static inline ssize_t gr_fio_sendfile(int out_fd, int in_fd, off_t *off, size_t n)
{
    if (GR_FIO_SLOW())
        return gr_fio_sendfile_slow(out_fd, in_fd, off, n);
    return sendfile(out_fd, in_fd, off, n);
}

static inline int gr_fio_ftruncate(int fd, off_t len)
{
    if (GR_FIO_SLOW())
        return gr_fio_ftruncate_slow(fd, len);
    return ftruncate(fd, len);
}

static inline int gr_fio_fsync(int fd)
{
    int64_t t0 = gr_mono_us();
    int rc = GR_FIO_SLOW() ? gr_fio_sync_slow(fd, false) : fsync(fd);
    gr_fio_sync_done(t0, rc);
    return rc;
}

static inline int gr_fio_fdatasync(int fd)
{
    int64_t t0 = gr_mono_us();
    int rc = GR_FIO_SLOW() ? gr_fio_sync_slow(fd, true) : fdatasync(fd);
    gr_fio_sync_done(t0, rc);
    return rc;
}

/* Does a kernel of this release (uname(2) release, "5.10.0-21-amd64")
 * report writeback errors from syncfs(2)?  Linux 5.8 and later do; an
 * older kernel's syncfs returns 0 even when writing back a file failed, so
 * it cannot prove a log dir durable.  false for a release it cannot parse. */
bool gr_fio_syncfs_reports_errors(const char *release);

/* syncfs(2) of the filesystem holding fd, an open directory (a log dir):
 * every file and directory under it is durable on success.  Returns 0, or
 * -1 and errno like fsync (EIO: a writeback error since fd was opened). */
static inline int gr_fio_syncfs(int fd)
{
    if (GR_FIO_SLOW())
        return gr_fio_syncfs_slow(fd);
    return syncfs(fd);
}

static inline int gr_fio_rename(const char *from, const char *to)
{
    if (GR_FIO_SLOW())
        return gr_fio_rename_slow(from, to);
    return rename(from, to);
}

#endif
