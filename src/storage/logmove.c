/*
 * logmove.c - moving a partition between the log dirs of this broker
 * (AlterReplicaLogDirs), online and crash-safe, Kafka's future-replica way.
 *
 * While the partition stays online, its directory is copied into
 *
 *   <dest log dir>/<topic>-<partition>.<32 hex digits>-future
 *
 * by jobs on a helper lane, file by file (segments, indexes,
 * partition.metadata, leader-epoch-checkpoint; the cleaner's temporary
 * files are left out): a file that grew (the active segment) gets its new
 * tail, one that was replaced (the cleaner, a rewritten index) is copied
 * again, one that disappeared (retention) is removed.  A job copies at most
 * COPY_CHUNK bytes, and at most replica.alter.log.dirs.io.max.bytes.per.second
 * per second (Kafka's key).  Once what differs is at most FINAL_MAX bytes,
 * the swap runs on the loop thread, so that nothing is appended meanwhile:
 *
 *   1. the log is closed (everything fsynced, indexes written)
 *   2. the copy is brought up to date and each file written is fsynced,
 *      then the future directory
 *   3. <src>/<name>            -> <src>/<name>.<id>-delete, fsync <src>
 *   4. <dest>/<name>.<id>-future -> <dest>/<name>,         fsync <dest>
 *   5. the log is opened in <dest>; the checkpoints are written; the
 *      -delete directory is removed by a helper job
 *
 * A failure before 3 reopens the log where it was and gives up the move.
 * After a crash (gr_logmove_recover_dirs, before the logs open):
 *
 *   found at startup                              means            done
 *   --------------------------------------------  ---------------  ------------------
 *   <name>.<id>-future and <name> somewhere        not swapped yet  the move starts
 *                                                                   again (the copy
 *                                                                   is made anew)
 *   <name>.<id>-future, <name>.<id>-delete,        crashed between  the future dir
 *   no <name>                                      3 and 4          becomes <name>
 *   <name>.<id>-future alone                       topic deleted    removed
 *   <name>.<id>-delete                             swapped          removed
 *
 * The copy is complete and durable before step 3, so step 3 is the commit
 * point: once the current directory has been renamed away, the future one
 * is the partition.  A fetch answer still sending from the old segments
 * when they are renamed ends its connection (fcache.h); the client fetches
 * again.  A move to another dir replaces a move in progress; a partition
 * deleted meanwhile loses its future directory too.
 */
#include "logmove.h"
#include "broker.h"
#include "checkpoint.h"
#include "fio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_CHUNK ((int64_t)16 << 20)      /* bytes one job copies */
#define FINAL_MAX ((int64_t)4 << 20)        /* what the swap may still copy */
#define STEP_MS 100                         /* pacing under the rate limit */
#define MAX_FILES 100000                    /* files of one partition dir */

typedef struct copied {
    char name[NAME_MAX + 1];
    ino_t ino;
    struct timespec mtime;
    int64_t size;                 /* bytes copied (== source size when equal) */
    bool partial;                 /* a copy in progress: go on from size */
    bool seen;                    /* present in the last pass over the source */
} copied_t;

typedef struct move {
    gr_partition_t *p;            /* NULL once cancelled */
    int dest;
    char id[33];                  /* the -future / -delete suffix's id */
    char src[PATH_MAX];           /* the partition dir now */
    char future[PATH_MAX];
    copied_t *files;              /* what the copy holds; owned */
    int nfiles, capfiles;
    /* a job in flight (helper thread): its input and result */
    bool job;
    int64_t budget;
    int64_t left;                 /* bytes still different after the last pass */
    int rc;
    bool remove_future;           /* cancelled: remove the copy once idle */
    int64_t copied_total;         /* bytes written to the copy so far */
    int64_t copied_log;           /* segment bytes the copy holds, as of the
                                   * last pass (read by the loop thread while
                                   * a job runs) */
    gr_timer_t timer;
    bool timer_on;
    struct move *next;
} move_t;

static move_t *moves;

/* ------------------------------------------------------------ names */

static bool temp_file(const char *n)
{
    static const char *sfx[] = {".cleaned", ".swap", ".deleted", ".tmp"};
    size_t l = strlen(n);
    for (size_t i = 0; i < GR_ARRAY_LEN(sfx); i++) {
        size_t k = strlen(sfx[i]);
        if (l >= k && !strcmp(n + l - k, sfx[i]))
            return true;
    }
    return false;
}

static void new_id(char out[33])
{
    gr_uuid_t u;
    gr_uuid_random(&u);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", u.b[i]);
}

/* "<name>.<32 hex>-<suffix>": *name_len and the id, when it has that form. */
static bool parse_suffixed(const char *n, const char *suffix, size_t *name_len, char id[33])
{
    size_t l = strlen(n), sl = strlen(suffix);
    if (l < 1 + 32 + 1 + sl + 1 || strcmp(n + l - sl, suffix) || n[l - sl - 1] != '-' || n[l - sl - 34] != '.')
        return false;
    for (size_t i = l - sl - 33; i < l - sl - 1; i++)
        if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
            return false;
    memcpy(id, n + l - sl - 33, 32);
    id[32] = '\0';
    *name_len = l - sl - 34;
    return true;
}

static int rate_per_step(void)
{
    int64_t r = gr_broker.cfg.replica_alter_log_dirs_io_max_bytes_per_second;
    if (r <= 0 || r > INT32_MAX)
        return INT32_MAX;
    return (int)GR_MAX(r * STEP_MS / 1000, 1);
}

/* ------------------------------------------------------------ copying (any thread) */

static copied_t *file_rec(move_t *m, const char *name)
{
    for (int i = 0; i < m->nfiles; i++)
        if (!strcmp(m->files[i].name, name))
            return &m->files[i];
    if (m->nfiles == m->capfiles) {
        m->capfiles = m->capfiles ? m->capfiles * 2 : 16;
        m->files = gr_realloc(m->files, sizeof(*m->files) * (size_t)m->capfiles);
    }
    copied_t *c = &m->files[m->nfiles++];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->size = -1;
    return c;
}

/* Copy src[from, to) to dst at the same offsets.  0 or -errno. */
static int copy_range(int in, int out, int64_t from, int64_t to)
{
    while (from < to) {
        loff_t a = from, b = from;
        ssize_t n = copy_file_range(in, &a, out, &b, (size_t)GR_MIN(to - from, (int64_t)1 << 30), 0);
        if (n == -1 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
            char buf[65536];
            ssize_t r = pread(in, buf, (size_t)GR_MIN(to - from, (int64_t)sizeof(buf)), from);
            if (r <= 0)
                return r == 0 ? -EIO : -errno;
            ssize_t w = gr_fio_pwrite(out, buf, (size_t)r, from);
            if (w != r)
                return w < 0 ? -errno : -EIO;
            n = r;
        } else if (n <= 0) {
            if (n == -1 && errno == EINTR)
                continue;
            return n == 0 ? -EIO : -errno;
        }
        from += n;
    }
    return 0;
}

/* One pass making m->future converge on m->src: at most `budget` bytes
 * (< 0: no limit); fsync each file it finishes when `sync`.  Sets m->left
 * (bytes still different) and returns 0 or -errno. */
static int sync_pass(move_t *m, int64_t budget, bool sync)
{
    DIR *d = opendir(m->src);
    if (!d)
        return -errno;
    int rc = 0;
    int64_t left = 0;
    for (int i = 0; i < m->nfiles; i++)
        m->files[i].seen = false;
    struct dirent *de;
    int seen = 0;
    while ((de = readdir(d)) != NULL && rc == 0) {
        const char *n = de->d_name;
        if (n[0] == '.' || temp_file(n))
            continue;
        if (++seen > MAX_FILES) {
            rc = -EFBIG;
            break;
        }
        char sp[PATH_MAX + NAME_MAX + 2], dp[PATH_MAX + NAME_MAX + 2];
        snprintf(sp, sizeof(sp), "%s/%s", m->src, n);
        snprintf(dp, sizeof(dp), "%s/%s", m->future, n);
        struct stat st;
        if (stat(sp, &st) == -1) {
            if (errno == ENOENT)
                continue;                       /* gone meanwhile (retention) */
            rc = -errno;
            break;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        copied_t *c = file_rec(m, n);
        c->seen = true;
        bool same = c->ino == st.st_ino && c->size >= 0;
        bool grew = same && st.st_size >= c->size;
        size_t nl = strlen(n);
        bool appendable = nl > 4 && !strcmp(n + nl - 4, ".log");
        bool unchanged = c->mtime.tv_sec == st.st_mtim.tv_sec && c->mtime.tv_nsec == st.st_mtim.tv_nsec;
        if (grew && !c->partial && st.st_size == c->size && (appendable || unchanged))
            continue;                           /* as copied */
        /* a segment only grows; anything else rewritten is copied whole,
         * unless its copy is under way and it has not changed since */
        int64_t from = grew && (appendable || (c->partial && unchanged)) ? c->size : 0;
        int64_t want = (int64_t)st.st_size - from;
        int64_t upto = st.st_size;
        if (budget >= 0 && want > budget) {
            left += want - budget;
            if (budget == 0)
                continue;
            upto = from + budget;               /* part of it now, the rest later */
            want = budget;
        }
        int in = open(sp, O_RDONLY | O_CLOEXEC);
        if (in == -1) {
            if (errno == ENOENT)
                continue;
            rc = -errno;
            break;
        }
        int out = gr_fio_open(dp, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (out == -1) {
            rc = -errno;
            close(in);
            break;
        }
        if (from == 0 && gr_fio_ftruncate(out, 0) == -1)
            rc = -errno;
        if (rc == 0)
            rc = copy_range(in, out, from, upto);
        if (rc == 0 && sync && gr_fio_fsync(out) == -1)
            rc = -errno;
        close(in);
        close(out);
        if (rc < 0)
            break;
        c->ino = st.st_ino;
        c->mtime = st.st_mtim;
        c->size = upto;
        c->partial = upto < st.st_size;
        m->copied_total += want;
        if (budget >= 0)
            budget -= want;
    }
    closedir(d);
    /* files the source no longer has */
    for (int i = 0; i < m->nfiles && rc == 0;) {
        if (m->files[i].seen) {
            i++;
            continue;
        }
        char dp[PATH_MAX + NAME_MAX + 2];
        snprintf(dp, sizeof(dp), "%s/%s", m->future, m->files[i].name);
        if (gr_fio_unlink(dp) < 0 && errno != ENOENT)
            rc = -errno;
        m->files[i] = m->files[--m->nfiles];
    }
    m->left = left;
    return rc;
}

/* ------------------------------------------------------------ the loop side */

static void step(move_t *m);

static void move_free(move_t *m)
{
    for (move_t **pp = &moves; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    if (m->timer_on)
        gr_timer_stop(gr_broker.ev, &m->timer);
    if (m->remove_future) {
        int rc = gr_rm_rf(m->future);
        if (rc < 0 && rc != GR_ENOENT)
            gr_warn("logmove", "Cannot remove %s: %s", m->future, strerror(-rc));
    }
    free(m->files);
    free(m);
}

static void on_timer(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    move_t *m = arg;
    m->timer_on = false;
    step(m);
}

static void later(move_t *m, int64_t ms)
{
    if (m->timer_on)
        return;
    gr_timer_start(gr_broker.ev, &m->timer, ms);
    m->timer_on = true;
}

static void job_work(void *arg)
{
    move_t *m = arg;
    m->rc = sync_pass(m, m->budget, true);
}

/* Segment bytes the copy holds (loop thread, no job running). */
static void note_copied(move_t *m)
{
    int64_t size = 0;
    for (int i = 0; i < m->nfiles; i++) {
        size_t l = strlen(m->files[i].name);
        if (l > 4 && !strcmp(m->files[i].name + l - 4, ".log") && m->files[i].size > 0)
            size += m->files[i].size;
    }
    m->copied_log = size;
}

static void job_done(void *arg)
{
    move_t *m = arg;
    m->job = false;
    note_copied(m);
    if (!m->p) {
        move_free(m);
        return;
    }
    if (m->rc < 0) {
        gr_error("logmove", "Moving %s to %s failed: %s; the partition stays where it is", m->src,
                 gr_broker.log_dirs[m->dest], strerror(-m->rc));
        m->remove_future = true;
        move_free(m);
        return;
    }
    /* the rate limit paces the jobs: a job's budget is one step's worth */
    later(m, m->budget >= rate_per_step() ? STEP_MS : 0);
}

static void rm_work(void *arg)
{
    int rc = gr_rm_rf(arg);
    if (rc < 0 && rc != GR_ENOENT)
        gr_warn("logmove", "Cannot remove %s: %s", (char *)arg, strerror(-rc));
}

static void rm_done(void *arg)
{
    free(arg);
}

static int rename_durable(const char *from, const char *to, const char *parent)
{
    if (gr_fio_rename(from, to) == -1)
        return -errno;
    return gr_fio_fsync_dir(parent);
}

/* The swap (steps 1-5 of the top comment), on the loop thread. */
static void swap(move_t *m)
{
    gr_partition_t *p = m->p;
    int from = p->log_dir;
    int64_t end, start;
    char del[PATH_MAX + 64], dst[PATH_MAX];
    int rc = gr_partition_log_close(p, &end, &start);
    if (rc == 0)
        rc = sync_pass(m, -1, true);
    if (rc == 0)
        rc = gr_fio_fsync_dir(m->future);
    if (rc == 0) {
        snprintf(del, sizeof(del), "%s.%s-delete", m->src, m->id);
        if (gr_fio_rename(m->src, del) == -1)
            rc = -errno;
        else if (gr_fio_fsync_dir(gr_broker.log_dirs[from]) < 0)
            /* renamed: committed, whether or not the rename is durable yet
             * (after a crash either name leads to the same data) */
            gr_warn("logmove", "Cannot fsync %s after renaming %s", gr_broker.log_dirs[from], m->src);
    }
    if (rc < 0) {
        gr_error("logmove", "Moving %s to %s failed: %s; the partition stays where it is", m->src,
                 gr_broker.log_dirs[m->dest], strerror(-rc));
        if (gr_partition_log_open(p, from, end, start) < 0) {
            gr_error("logmove", "Cannot reopen %s: stopping (the next start recovers it)", m->src);
            abort();
        }
        m->remove_future = true;
        move_free(m);
        return;
    }
    /* committed: the copy is the partition */
    snprintf(dst, sizeof(dst), "%s/%s", gr_broker.log_dirs[m->dest], strrchr(m->src, '/') + 1);
    if (gr_fio_rename(m->future, dst) == -1) {
        gr_error("logmove", "Cannot put %s in place (%s): stopping (the next start completes the move)", dst,
                 strerror(errno));
        abort();
    }
    if (gr_fio_fsync_dir(gr_broker.log_dirs[m->dest]) < 0)
        gr_warn("logmove", "Cannot fsync %s after moving %s there", gr_broker.log_dirs[m->dest], dst);
    if (gr_partition_log_open(p, m->dest, end, start) < 0) {
        gr_error("logmove", "Cannot open %s: stopping (the next start recovers it)", dst);
        abort();
    }
    gr_info("logmove", "Moved %s to %s (%" PRId64 " bytes copied)", m->src, gr_broker.log_dirs[m->dest],
            m->copied_total);
    gr_ev_submit(gr_broker.ev, from % GR_EV_DIR_LANES, rm_work, rm_done, gr_strdup(del));
    gr_topics_checkpoint();
    gr_partition_notify(p);
    m->remove_future = false;
    move_free(m);
}

static void step(move_t *m)
{
    if (m->job)
        return;
    if (!m->p) {
        move_free(m);
        return;
    }
    /* what differs now (no copying), then a job or the swap */
    int rc = sync_pass(m, 0, false);
    note_copied(m);
    if (rc < 0) {
        m->rc = rc;
        job_done(m);
        return;
    }
    if (m->left <= FINAL_MAX && m->left <= rate_per_step()) {
        swap(m);
        return;
    }
    m->budget = GR_MIN(COPY_CHUNK, (int64_t)rate_per_step());
    m->job = true;
    gr_ev_submit(gr_broker.ev, m->dest % GR_EV_DIR_LANES, job_work, job_done, m);
}

static move_t *find(const gr_partition_t *p)
{
    for (move_t *m = moves; m; m = m->next)
        if (m->p == p)
            return m;
    return NULL;
}

bool gr_logmove_status(const gr_partition_t *p, gr_logmove_status_t *st)
{
    move_t *m = find(p);
    if (!m)
        return false;
    int64_t size = m->copied_log;
    st->dest_dir = m->dest;
    st->copied_bytes = size;
    /* Kafka reports the current log end offset minus the future replica's;
     * the copy goes by bytes, so the records still to copy are estimated
     * from the bytes */
    int64_t total = gr_log_size_bytes(p->log), recs = gr_log_end_offset(p->log) - gr_log_start_offset(p->log);
    st->offset_lag = size >= total || total <= 0 ? 0 : (int64_t)((double)recs * (double)(total - size) / (double)total);
    return true;
}

void gr_logmove_cancel(gr_partition_t *p, bool remove_future)
{
    move_t *m = find(p);
    if (!m)
        return;
    m->p = NULL;
    m->remove_future = remove_future;
    if (m->timer_on) {
        gr_timer_stop(gr_broker.ev, &m->timer);
        m->timer_on = false;
    }
    if (!m->job)
        move_free(m);
}

gr_serr_t gr_logmove_start(gr_partition_t *p, int dest)
{
    move_t *m = find(p);
    if (m && m->dest == dest)
        return GR_SERR_NONE;                   /* already on its way there */
    if (m)
        gr_logmove_cancel(p, true);         /* elsewhere: that move stops */
    if (p->log_dir == dest)
        return GR_SERR_NONE;
    if (gr_log_storage_failed(p->log, gr_now_ms()))
        return GR_SERR_IO;
    m = gr_calloc(1, sizeof(*m));
    m->p = p;
    m->dest = dest;
    new_id(m->id);
    gr_partition_dir(p, m->src, sizeof(m->src));
    const char *base = strrchr(m->src, '/') + 1;
    if (strlen(base) + 1 + 32 + 7 > NAME_MAX) {
        free(m);
        return GR_SERR_TOPIC_NAME;             /* Kafka: "The topic name is too long." */
    }
    snprintf(m->future, sizeof(m->future), "%s/%s.%s-future", gr_broker.log_dirs[dest], base, m->id);
    if (mkdir(m->future, 0755) == -1 || gr_fio_fsync_dir(gr_broker.log_dirs[dest]) < 0) {
        gr_error("logmove", "Cannot create %s: %s", m->future, strerror(errno));
        free(m);
        return GR_SERR_IO;
    }
    gr_timer_init(&m->timer, on_timer, m);
    m->next = moves;
    moves = m;
    gr_info("logmove", "Moving %s to %s", m->src, gr_broker.log_dirs[dest]);
    later(m, 0);
    return GR_SERR_NONE;
}

/* ------------------------------------------------------------ startup */

typedef struct pending {
    char name[NAME_MAX + 1];
    int dest;
} pending_t;

static pending_t *resume;
static int nresume;

static bool exists_in_any(const char *name, const char *suffix_id, const char *suffix)
{
    char path[PATH_MAX + NAME_MAX + 64];
    struct stat st;
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        if (suffix_id)
            snprintf(path, sizeof(path), "%s/%s.%s-%s", gr_broker.log_dirs[d], name, suffix_id, suffix);
        else
            snprintf(path, sizeof(path), "%s/%s", gr_broker.log_dirs[d], name);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return true;
    }
    return false;
}

/* fn(d, path, name, id) for each entry <name>.<id>-<suffix> of each log
 * dir d. */
typedef void suffixed_fn(int d, const char *path, const char *name, const char *id);

static void each_suffixed(const char *suffix, suffixed_fn *fn)
{
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        DIR *dir = opendir(gr_broker.log_dirs[d]);
        if (!dir)
            continue;
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            size_t nl;
            char id[33], name[NAME_MAX + 1], path[PATH_MAX + NAME_MAX + 2];
            if (!parse_suffixed(de->d_name, suffix, &nl, id))
                continue;
            snprintf(name, sizeof(name), "%.*s", (int)nl, de->d_name);
            snprintf(path, sizeof(path), "%s/%s", gr_broker.log_dirs[d], de->d_name);
            fn(d, path, name, id);
        }
        closedir(dir);
    }
}

static void remove_warn(const char *path)
{
    int rc = gr_rm_rf(path);
    if (rc < 0)
        gr_warn("logmove", "Cannot remove %s: %s", path, strerror(-rc));
}

static void recover_future(int d, const char *path, const char *name, const char *id)
{
    if (exists_in_any(name, NULL, NULL)) {
        /* not swapped yet: copied anew once the topics are loaded */
        gr_info("logmove", "Resuming the move of %s to %s", name, gr_broker.log_dirs[d]);
        resume = gr_realloc(resume, sizeof(*resume) * (size_t)(nresume + 1));
        snprintf(resume[nresume].name, sizeof(resume[nresume].name), "%s", name);
        resume[nresume++].dest = d;
        remove_warn(path);
    } else if (exists_in_any(name, id, "delete")) {
        /* crashed between the two renames: the copy is complete */
        char to[PATH_MAX + NAME_MAX + 2];
        snprintf(to, sizeof(to), "%s/%s", gr_broker.log_dirs[d], name);
        if (rename_durable(path, to, gr_broker.log_dirs[d]) < 0)
            gr_error("logmove", "Cannot complete the move of %s: %s", name, strerror(errno));
        else
            gr_info("logmove", "Completed the move of %s to %s", name, gr_broker.log_dirs[d]);
    } else {
        gr_info("logmove", "Removing %s: its partition is gone", path);
        gr_rm_rf(path);
    }
}

static void remove_deleted(int d, const char *path, const char *name, const char *id)
{
    GR_UNUSED(d);
    GR_UNUSED(name);
    GR_UNUSED(id);
    remove_warn(path);
}

void gr_logmove_recover_dirs(void)
{
    each_suffixed("future", recover_future);
    /* what swapped moves left behind */
    each_suffixed("delete", remove_deleted);
}

void gr_logmove_resume_all(void)
{
    for (int i = 0; i < nresume; i++) {
        char *dash = strrchr(resume[i].name, '-');
        if (!dash)
            continue;
        char *end;
        long part = strtol(dash + 1, &end, 10);
        gr_topic_t *t = gr_topic_find(resume[i].name, (size_t)(dash - resume[i].name));
        gr_partition_t *p = t && *end == '\0' && part >= 0 && part <= INT32_MAX ? gr_partition_get(t, (int32_t)part)
                                                                                 : NULL;
        if (p)
            gr_logmove_start(p, resume[i].dest);
    }
    free(resume);
    resume = NULL;
    nresume = 0;
}
