/*
 * fio.c - the slow paths of fio.h: fault injection and the power-loss
 * journal.  Nothing here runs unless GREGOR_FAULTS (or a signal) armed it;
 * the inline wrappers in fio.h then call the plain syscalls.
 *
 * Faults.  A fault is a kind and a scope; an operation on a file whose
 * absolute path (readlink of /proc/self/fd/N for fd-based calls) contains
 * the scope fails as the kind says (see fio.h).  The first matching rule
 * of the kinds that apply to the operation wins (write kinds never touch
 * reads and the other way round); a rule with a count (kind+N) lets the
 * first N operations it matches pass.  Injected faults are logged at the 1st, 10th, 100th... hit.
 *
 * Power-loss journal.  With journal=PATH every operation that decides what
 * survives a power cut appends one line (O_APPEND, one write(2) each, so
 * lines from helper threads never interleave; the journal lives in the
 * page cache, which a kill -9 does not lose):
 *
 *   line                   meaning
 *   ---------------------  ---------------------------------------------
 *   C <path>               file created (did not exist)
 *   T <path>               existing file opened with O_TRUNC
 *   S <size> <path>        fsync/fdatasync succeeded; size taken before it
 *   X <size> <path>        ftruncate to size
 *   R <from> <to>          rename
 *   U <path> <grave>       unlink; <grave> is a hard link kept in PATH.d/
 *   D <dir>                directory fsync succeeded
 *   (a syncfs of a dir is recorded as an S line for every file and a D
 *   line for every directory under it, sizes taken before the call)
 *   (fields separated by one tab; paths absolute)
 *
 * gr_fio_powercut() replays the journal into a per-file state: the size
 * last made durable (unknown = everything, for files that predate the
 * journal), whether the file's creation, its last rename or its unlink is
 * still waiting for a directory fsync.  Then it does what a power cut
 * would have done, in this order: delete files whose creation was not
 * synced, move renamed files back to their old names, bring back unlinked
 * files from their hard links (and rename them back too), and truncate
 * every file to its durable size.  Model: data is durable up to the size
 * at the last fsync (overwrites below it are kept); names change durably
 * only with a directory fsync; mkdir is durable at once.
 *
 * Signals (SIGUSR1 re-arm, SIGUSR2 clear) only set flags; the next slow
 * call applies them under the lock.
 */
#include "fio.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

atomic_int gr_fio_active;

enum { K_ENOSPC, K_EIO, K_SHORT, K_FSYNC, K_TRUNC, K_READ, K_SENDFILE, K_SLOWSYNC, K_DIRSYNC };
static const char *const kind_names[] = {"enospc", "eio", "short", "fsync", "trunc", "read", "sendfile",
                                         "slowsync", "dirsync"};
#define SLOWSYNC_MS 3000          /* what slowsync adds to each fsync */

#define MAX_RULES 16

typedef struct rule {
    int kind;
    char scope[256];
    long skip;                   /* kind+N: the first N matches pass */
    long passed;
    long hits;
} rule_t;

static struct {
    pthread_mutex_t mu;
    rule_t rules[MAX_RULES];
    int nrules;
    int jfd;                     /* journal, -1 = not recording */
    char jpath[PATH_MAX];
    char grave[PATH_MAX];        /* <journal>.d */
    atomic_long seq;
    const char *env_spec;        /* GREGOR_FAULTS (rules part re-armed by SIGUSR1) */
    const char *spec_file;       /* GREGOR_FAULTS_FILE */
    volatile sig_atomic_t want_reload, want_clear;
} F = {.mu = PTHREAD_MUTEX_INITIALIZER, .jfd = -1};

static void update_active(void)
{
    int on = F.nrules > 0 || F.jfd >= 0 || F.want_reload || F.want_clear;
    atomic_store_explicit(&gr_fio_active, on, memory_order_relaxed);
}

/* --------------------------------------------------------------- spec */

/* Parse the fault items of spec into rules (journal items are noted in
 * *journal / *cut when given).  0 or GR_EINVAL with a logged message. */
static int parse_spec(const char *spec, rule_t *rules, int *nrules, char *journal, size_t jlen, bool *cut)
{
    char *s = gr_strdup(spec), *save = NULL;
    int rc = 0;
    *nrules = 0;
    for (char *it = strtok_r(s, ",\n", &save); it; it = strtok_r(NULL, ",\n", &save)) {
        while (*it == ' ')
            it++;
        size_t n = strlen(it);
        while (n > 0 && (it[n - 1] == ' ' || it[n - 1] == '\r'))
            it[--n] = '\0';
        if (n == 0)
            continue;
        if (!strncmp(it, "journal=", 8)) {
            if (journal)
                snprintf(journal, jlen, "%s", it + 8);
            continue;
        }
        if (!strcmp(it, "powercut-on-start")) {
            if (cut)
                *cut = true;
            continue;
        }
        char *at = strchr(it, '@');
        if (at)
            *at = '\0';
        char *plus = strchr(it, '+'), *end = NULL;
        long skip = 0;
        if (plus) {
            *plus = '\0';
            errno = 0;
            skip = strtol(plus + 1, &end, 10);
            if (errno || end == plus + 1 || *end || skip < 0)
                skip = -1;
        }
        int kind = -1;
        for (size_t k = 0; k < GR_ARRAY_LEN(kind_names); k++)
            if (!strcmp(it, kind_names[k]))
                kind = (int)k;
        if (kind < 0 || skip < 0 || *nrules == MAX_RULES || (at && strlen(at + 1) >= sizeof(rules->scope))) {
            gr_error("fio", "Invalid fault injection item '%s' (expected "
                     "enospc|eio|short|fsync|trunc|read|sendfile[+count][@scope], "
                     "journal=path or powercut-on-start)", it);
            rc = GR_EINVAL;
            break;
        }
        rule_t *r = &rules[(*nrules)++];
        r->kind = kind;
        r->skip = skip;
        r->passed = 0;
        r->hits = 0;
        snprintf(r->scope, sizeof(r->scope), "%s", at ? at + 1 : "");
    }
    free(s);
    return rc;
}

static void log_rules(const char *why)
{
    if (F.nrules == 0) {
        gr_warn("fio", "Fault injection (testing only): no faults armed (%s)", why);
        return;
    }
    for (int i = 0; i < F.nrules; i++)
        gr_warn("fio", "Fault injection (testing only): %s armed on paths containing '%s' (%s)",
                kind_names[F.rules[i].kind], F.rules[i].scope, why);
}

int gr_fio_arm(const char *spec)
{
    rule_t rules[MAX_RULES];
    int n;
    int rc = parse_spec(spec, rules, &n, NULL, 0, NULL);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&F.mu);
    memcpy(F.rules, rules, sizeof(rules));
    F.nrules = n;
    update_active();
    pthread_mutex_unlock(&F.mu);
    return 0;
}

/* Apply SIGUSR1/SIGUSR2 requests.  Called with F.mu held. */
static void poll_signals_locked(void)
{
    if (F.want_clear) {
        F.want_clear = 0;
        F.nrules = 0;
        log_rules("SIGUSR2");
    }
    if (F.want_reload) {
        F.want_reload = 0;
        char *text = NULL;
        const char *spec = F.env_spec ? F.env_spec : "";
        if (F.spec_file) {
            if (gr_file_read_all(F.spec_file, &text, NULL) < 0)
                text = gr_strdup("");
            spec = text;
        }
        rule_t rules[MAX_RULES];
        int n;
        if (parse_spec(spec, rules, &n, NULL, 0, NULL) == 0) {
            memcpy(F.rules, rules, sizeof(rules));
            F.nrules = n;
        }
        free(text);
        log_rules("SIGUSR1");
    }
    update_active();
}

static void on_sigusr(int sig)
{
    if (sig == SIGUSR1)
        F.want_reload = 1;
    else
        F.want_clear = 1;
    atomic_store_explicit(&gr_fio_active, 1, memory_order_relaxed);
}

/* --------------------------------------------------------------- paths */

static bool fd_path(int fd, char *out, size_t len)
{
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, len - 1);
    if (n <= 0)
        return false;
    out[n] = '\0';
    return true;
}

/* Absolute form of path: its directory resolved, the last name kept. */
static void abs_path(const char *path, char *out, size_t len)
{
    char dir[PATH_MAX], res[PATH_MAX];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else if (slash)
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    else
        snprintf(dir, sizeof(dir), ".");
    if (realpath(dir, res) == NULL) {
        snprintf(out, len, "%s", path);
        return;
    }
    int n = *base ? snprintf(out, len, "%s/%s", strcmp(res, "/") ? res : "", base) : snprintf(out, len, "%s", res);
    if (n < 0 || (size_t)n >= len)
        snprintf(out, len, "%s", path);       /* too long: keep it as given */
}

/* -------------------------------------------------------------- faults */

/* The kind of the first rule in `mask` whose scope is in path, or -1.
 * Also handles pending signals. */
static int match(const char *path, unsigned mask)
{
    int kind = -1;
    long hits = 0;
    pthread_mutex_lock(&F.mu);
    if (F.want_clear || F.want_reload)
        poll_signals_locked();
    for (int i = 0; i < F.nrules && path; i++) {
        rule_t *r = &F.rules[i];
        if ((mask & (1u << r->kind)) && strstr(path, r->scope)) {
            if (r->passed < r->skip) {
                r->passed++;
                break;
            }
            kind = r->kind;
            hits = ++r->hits;
            break;
        }
    }
    pthread_mutex_unlock(&F.mu);
    if (kind >= 0) {
        long h = hits;
        while (h % 10 == 0)
            h /= 10;
        if (h == 1)
            gr_warn("fio", "Injected fault %s on %s (hit %ld)", kind_names[kind], path, hits);
    }
    return kind;
}

static bool have_rules(void)
{
    pthread_mutex_lock(&F.mu);
    if (F.want_clear || F.want_reload)
        poll_signals_locked();
    bool r = F.nrules > 0;
    pthread_mutex_unlock(&F.mu);
    return r;
}

#define M_WRITE ((1u << K_ENOSPC) | (1u << K_EIO) | (1u << K_SHORT))
#define M_SENDFILE ((1u << K_READ) | (1u << K_SENDFILE))

/* ------------------------------------------------------------- journal */

static void jlog(const char *fmt, ...) GR_PRINTF(1, 2);
static void jlog(const char *fmt, ...)
{
    char line[3 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n <= 0 || (size_t)n >= sizeof(line) || F.jfd < 0)
        return;
    if (write(F.jfd, line, (size_t)n) != n)
        gr_warn("fio", "Cannot append to the power-loss journal %s: %s", F.jpath, strerror(errno));
}

/* ---------------------------------------------------------- slow paths */

int gr_fio_open_slow(const char *path, int flags, mode_t mode)
{
    char ap[PATH_MAX];
    struct stat st;
    bool writing = (flags & (O_CREAT | O_TRUNC | O_WRONLY | O_RDWR)) != 0;
    bool existed = stat(path, &st) == 0;
    if (writing && (flags & O_CREAT) && !existed && have_rules()) {
        abs_path(path, ap, sizeof(ap));
        if (match(ap, 1u << K_ENOSPC) == K_ENOSPC) {
            errno = ENOSPC;
            return -1;
        }
    }
    int fd = open(path, flags, mode);
    if (fd >= 0 && F.jfd >= 0 && writing) {
        abs_path(path, ap, sizeof(ap));
        if ((flags & O_CREAT) && !existed)
            jlog("C\t%s\n", ap);
        else if (flags & O_TRUNC)
            jlog("T\t%s\n", ap);
    }
    return fd;
}

static ssize_t faulty_write(int fd, const void *buf, size_t n, off_t off, bool positional)
{
    char p[PATH_MAX];
    int kind = -1;
    if (have_rules() && fd_path(fd, p, sizeof(p)))
        kind = match(p, M_WRITE);
    if (kind == K_ENOSPC || (kind == K_SHORT && n <= 1)) {
        errno = ENOSPC;
        return -1;
    }
    if (kind == K_EIO) {
        errno = EIO;
        return -1;
    }
    if (kind == K_SHORT)
        n /= 2;
    return positional ? pwrite(fd, buf, n, off) : write(fd, buf, n);
}

ssize_t gr_fio_pwrite_slow(int fd, const void *buf, size_t n, off_t off)
{
    return faulty_write(fd, buf, n, off, true);
}

ssize_t gr_fio_write_slow(int fd, const void *buf, size_t n)
{
    return faulty_write(fd, buf, n, 0, false);
}

ssize_t gr_fio_pread_slow(int fd, void *buf, size_t n, off_t off)
{
    char p[PATH_MAX];
    if (have_rules() && fd_path(fd, p, sizeof(p)) && match(p, 1u << K_READ) == K_READ) {
        errno = EIO;
        return -1;
    }
    return pread(fd, buf, n, off);
}

ssize_t gr_fio_sendfile_slow(int out_fd, int in_fd, off_t *off, size_t n)
{
    char p[PATH_MAX];
    int kind = -1;
    if (have_rules() && fd_path(in_fd, p, sizeof(p)))
        kind = match(p, M_SENDFILE);
    if (kind == K_READ || (kind == K_SENDFILE && n <= 1)) {
        errno = EIO;
        return -1;
    }
    if (kind == K_SENDFILE)
        n /= 2;                  /* part of the range goes out, then EIO */
    return sendfile(out_fd, in_fd, off, n);
}

int gr_fio_ftruncate_slow(int fd, off_t len)
{
    char p[PATH_MAX];
    bool named = false;
    if (have_rules() && (named = fd_path(fd, p, sizeof(p))) && match(p, 1u << K_TRUNC) == K_TRUNC) {
        errno = EIO;
        return -1;
    }
    int rc = ftruncate(fd, len);
    if (rc == 0 && F.jfd >= 0 && (named || fd_path(fd, p, sizeof(p))))
        jlog("X\t%lld\t%s\n", (long long)len, p);
    return rc;
}

int gr_fio_sync_slow(int fd, bool data_only)
{
    char p[PATH_MAX];
    struct stat st;
    bool named = fd_path(fd, p, sizeof(p));
    int kind = named && have_rules() ? match(p, (1u << K_FSYNC) | (1u << K_SLOWSYNC)) : -1;
    if (kind == K_FSYNC) {
        errno = EIO;
        return -1;
    }
    if (kind == K_SLOWSYNC) {   /* a disk busy with write-back: the sync waits */
        struct timespec ts = {SLOWSYNC_MS / 1000, (SLOWSYNC_MS % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        }
    }
    /* the size before the sync: what it is sure to cover */
    bool sized = F.jfd >= 0 && fstat(fd, &st) == 0;
    int rc = data_only ? fdatasync(fd) : fsync(fd);
    if (rc == 0 && sized && named && !strstr(p, " (deleted)"))
        jlog("S\t%lld\t%s\n", (long long)st.st_size, p);
    return rc;
}

/* The files and directories under a dir (itself included), for syncfs. */
typedef struct tree {
    char **path;                 /* a directory's path ends with '/' */
    int64_t *size;               /* -1 for a directory */
    size_t n, cap;
} tree_t;

static void tree_push(tree_t *t, const char *path, int64_t size)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->path = gr_realloc(t->path, t->cap * sizeof(*t->path));
        t->size = gr_realloc(t->size, t->cap * sizeof(*t->size));
    }
    t->path[t->n] = gr_strdup(path);
    t->size[t->n++] = size;
}

static void tree_walk(tree_t *t, const char *dir, int depth)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/", dir);
    tree_push(t, p, -1);
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p) || lstat(p, &st) == -1)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 8)
            tree_walk(t, p, depth + 1);
        else if (S_ISREG(st.st_mode))
            tree_push(t, p, (int64_t)st.st_size);
    }
    closedir(d);
}

bool gr_fio_syncfs_reports_errors(const char *release)
{
    int major = 0, minor = 0;
    if (release == NULL || sscanf(release, "%d.%d", &major, &minor) != 2)
        return false;
    return major > 5 || (major == 5 && minor >= 8);
}

int gr_fio_syncfs_slow(int fd)
{
    char p[PATH_MAX];
    tree_t t = {0};
    int rc = -1, err = 0;
    bool rules = have_rules();
    if (fd_path(fd, p, sizeof(p)) && (rules || F.jfd >= 0))
        tree_walk(&t, p, 0);
    for (size_t i = 0; rules && i < t.n; i++)
        if (match(t.path[i], 1u << K_FSYNC) == K_FSYNC) {
            err = EIO;
            goto out;
        }
    rc = syncfs(fd);
    err = errno;
    for (size_t i = 0; rc == 0 && F.jfd >= 0 && i < t.n; i++) {
        if (t.size[i] >= 0) {
            jlog("S\t%lld\t%s\n", (long long)t.size[i], t.path[i]);
        } else {
            t.path[i][strlen(t.path[i]) - 1] = '\0';
            jlog("D\t%s\n", t.path[i]);
        }
    }
out:
    for (size_t i = 0; i < t.n; i++)
        free(t.path[i]);
    free(t.path);
    free(t.size);
    errno = err;
    return rc;
}

int gr_fio_rename_slow(const char *from, const char *to)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (F.jfd >= 0)
        abs_path(from, a, sizeof(a));
    int rc = rename(from, to);
    if (rc == 0 && F.jfd >= 0) {
        abs_path(to, b, sizeof(b));
        jlog("R\t%s\t%s\n", a, b);
    }
    return rc;
}

int gr_fio_unlink(const char *path)
{
    if (!GR_FIO_SLOW() || F.jfd < 0)
        return unlink(path);
    char ap[PATH_MAX], g[PATH_MAX + 64];
    abs_path(path, ap, sizeof(ap));
    snprintf(g, sizeof(g), "%s/%ld", F.grave, (long)atomic_fetch_add(&F.seq, 1));
    bool kept = link(path, g) == 0;
    int rc = unlink(path);
    if (rc == 0 && kept)
        jlog("U\t%s\t%s\n", ap, g);
    else if (kept)
        unlink(g);
    return rc;
}

ssize_t gr_fio_pread_full(int fd, void *buf, size_t n, int64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = gr_fio_pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + (int64_t)got));
        if (r == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int gr_fio_fsync_dir(const char *path)
{
    char ap[PATH_MAX + 1];
    if (GR_FIO_SLOW() && have_rules()) {
        abs_path(path, ap, sizeof(ap) - 1);
        strcat(ap, "/");
        if (match(ap, (1u << K_FSYNC) | (1u << K_DIRSYNC)) >= 0)
            return -EIO;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return -errno;
    int rc = fsync(fd) == -1 ? -errno : 0;
    close(fd);
    if (rc == 0 && GR_FIO_SLOW() && F.jfd >= 0) {
        abs_path(path, ap, sizeof(ap) - 1);
        jlog("D\t%s\n", ap);
    }
    return rc;
}

/* ------------------------------------------------------------ powercut */

typedef struct pstate {
    char *path;                  /* current name */
    int64_t synced;              /* durable size; INT64_MAX = all of it */
    bool created;                /* creation not yet made durable */
    char *from;                  /* durable name before a pending rename */
    char *grave;                 /* unlinked, pending: the hard link */
} pstate_t;

typedef struct pstates {
    pstate_t *v;
    size_t n, cap;
} pstates_t;

static pstate_t *ps_find(pstates_t *s, const char *path)
{
    for (size_t i = s->n; i-- > 0;)
        if (s->v[i].path && !s->v[i].grave && !strcmp(s->v[i].path, path))
            return &s->v[i];
    return NULL;
}

static pstate_t *ps_get(pstates_t *s, const char *path)
{
    pstate_t *e = ps_find(s, path);
    if (e)
        return e;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = gr_realloc(s->v, s->cap * sizeof(*s->v));
    }
    e = &s->v[s->n++];
    *e = (pstate_t){.path = gr_strdup(path), .synced = INT64_MAX};
    return e;
}

static void ps_drop(pstate_t *e)
{
    free(e->path);
    free(e->from);
    free(e->grave);
    *e = (pstate_t){0};
}

static bool in_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return path && !strncmp(path, dir, n) && path[n] == '/' && !strchr(path + n + 1, '/');
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

int gr_fio_powercut(const char *journal)
{
    char *text = NULL;
    size_t len;
    int rc = gr_file_read_all(journal, &text, &len);
    if (rc == GR_ENOENT) {
        gr_info("fio", "Power cut: no journal %s, nothing to drop", journal);
        return 0;
    }
    if (rc < 0)
        return rc;
    pstates_t s = {0};
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[3] = {NULL, NULL, NULL}, *p = line;
        int nf = 0;
        while (nf < 3 && p) {
            f[nf++] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = '\0';
        }
        if (nf < 2 || strlen(f[0]) != 1)
            continue;                    /* a torn last line */
        pstate_t *e;
        switch (f[0][0]) {
        case 'C':
            if ((e = ps_find(&s, f[1])))
                ps_drop(e);
            e = ps_get(&s, f[1]);
            e->synced = 0;
            e->created = true;
            break;
        case 'T':
            ps_get(&s, f[1])->synced = 0;
            break;
        case 'S':
        case 'X':
            if (nf < 3)
                break;
            e = ps_get(&s, f[2]);
            int64_t v = strtoll(f[1], NULL, 10);
            e->synced = f[0][0] == 'S' ? v : GR_MIN(e->synced, v);
            break;
        case 'R': {
            if (nf < 3)
                break;
            pstate_t old = {0};
            if ((e = ps_find(&s, f[1]))) {
                old = *e;
                *e = (pstate_t){0};
            } else {
                old = (pstate_t){.path = gr_strdup(f[1]), .synced = INT64_MAX};
            }
            if ((e = ps_find(&s, f[2])))
                ps_drop(e);              /* replaced: gone for good (not modelled) */
            if (!old.created && !old.from)
                old.from = gr_strdup(f[1]);
            free(old.path);
            old.path = gr_strdup(f[2]);
            e = ps_get(&s, f[2]);
            free(e->path);
            *e = old;
            break;
        }
        case 'U':
            if (nf < 3)
                break;
            e = ps_get(&s, f[1]);
            if (e->created) {
                ps_drop(e);              /* never durable: nothing to bring back */
                unlink(f[2]);
            } else {
                e->grave = gr_strdup(f[2]);
            }
            break;
        case 'D':
            for (size_t i = 0; i < s.n; i++) {
                e = &s.v[i];
                if (!in_dir(e->path, f[1]))
                    continue;
                if (e->grave) {
                    unlink(e->grave);
                    ps_drop(e);
                    continue;
                }
                e->created = false;
                free(e->from);
                e->from = NULL;
            }
            break;
        default:
            break;
        }
    }
    int64_t dropped = 0;
    int ncreated = 0, nrenamed = 0, nunlinked = 0, ntrunc = 0;
    /* 1: creations that never became durable */
    for (size_t i = 0; i < s.n; i++) {
        pstate_t *e = &s.v[i];
        if (e->path && e->created && !e->grave) {
            int64_t sz = file_size(e->path);
            if (sz >= 0 && unlink(e->path) == 0) {
                dropped += sz;
                ncreated++;
            }
            ps_drop(e);
        }
    }
    /* 2: renames, newest first */
    for (size_t i = s.n; i-- > 0;) {
        pstate_t *e = &s.v[i];
        if (e->path && e->from && !e->grave && file_size(e->from) < 0 && rename(e->path, e->from) == 0) {
            free(e->path);
            e->path = e->from;
            e->from = NULL;
            nrenamed++;
        }
    }
    /* 3: unlinks, newest first; then their own pending renames */
    for (size_t i = s.n; i-- > 0;) {
        pstate_t *e = &s.v[i];
        if (!e->path || !e->grave)
            continue;
        const char *to = e->from ? e->from : e->path;
        if (file_size(to) < 0 && link(e->grave, to) == 0) {
            nunlinked++;
            char *p = gr_strdup(to);     /* to may be e->path itself */
            free(e->path);
            e->path = p;
        }
        unlink(e->grave);
        free(e->grave);
        e->grave = NULL;
    }
    /* 4: data written since the last fsync */
    for (size_t i = 0; i < s.n; i++) {
        pstate_t *e = &s.v[i];
        int64_t sz;
        if (e->path && e->synced != INT64_MAX && (sz = file_size(e->path)) > e->synced &&
            truncate(e->path, (off_t)e->synced) == 0) {
            dropped += sz - e->synced;
            ntrunc++;
        }
        ps_drop(e);
    }
    free(s.v);
    free(text);
    gr_warn("fio", "Power cut simulated from %s: %d file(s) cut back, %d creation(s), %d rename(s) and %d "
            "unlink(s) undone, %lld bytes dropped", journal, ntrunc, ncreated, nrenamed, nunlinked,
            (long long)dropped);
    return 0;
}

/* ---------------------------------------------------------------- init */

void gr_metrics_fsync(int64_t us);     /* metrics.c */

void gr_fio_sync_done(int64_t t0_us, int rc)
{
    gr_metrics_fsync(gr_mono_us() - t0_us);
    if (rc == -1)
        gr_metrics_storage_error();
}

int gr_fio_init(void)
{
    const char *spec = getenv("GREGOR_FAULTS");
    F.spec_file = getenv("GREGOR_FAULTS_FILE");
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigusr;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    if (spec == NULL || !*spec)
        return 0;
    F.env_spec = spec;
    bool cut = false;
    char journal[PATH_MAX] = "";
    rule_t rules[MAX_RULES];
    int n;
    if (parse_spec(spec, rules, &n, journal, sizeof(journal), &cut) < 0)
        return GR_EINVAL;
    if (cut && !journal[0]) {
        gr_error("fio", "powercut-on-start needs journal=<path>");
        return GR_EINVAL;
    }
    if (journal[0]) {
        abs_path(journal, F.jpath, sizeof(F.jpath));
        if (snprintf(F.grave, sizeof(F.grave), "%s.d", F.jpath) >= (int)sizeof(F.grave)) {
            gr_error("fio", "journal path too long: %s", F.jpath);
            return GR_EINVAL;
        }
        if (cut && gr_fio_powercut(F.jpath) < 0)
            gr_error("fio", "Cannot apply the power-loss journal %s", F.jpath);
        if (cut) {
            /* kept for post-mortems; the new journal starts empty */
            char prev[PATH_MAX + 16];
            snprintf(prev, sizeof(prev), "%s.applied", F.jpath);
            rename(F.jpath, prev);
        }
        gr_rm_rf(F.grave);
        if (mkdir(F.grave, 0755) == -1 && errno != EEXIST)
            gr_warn("fio", "Cannot create %s: %s; unlinks will not be undone", F.grave, strerror(errno));
        F.jfd = open(F.jpath, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (F.jfd == -1) {
            gr_error("fio", "Cannot open the power-loss journal %s: %s", F.jpath, strerror(errno));
            return GR_EINVAL;
        }
        gr_warn("fio", "Power-loss journal (testing only): recording in %s", F.jpath);
    }
    pthread_mutex_lock(&F.mu);
    memcpy(F.rules, rules, sizeof(rules));
    F.nrules = n;
    if (n > 0)
        log_rules("GREGOR_FAULTS");
    update_active();
    pthread_mutex_unlock(&F.mu);
    return 0;
}
