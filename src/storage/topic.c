/*
 * topic.c - the topic registry (see topic.h).
 *
 * Topics live in a gr_hmap (hmap.h) keyed by name, hashed with '.' and
 * '_' made the same so that a name's collisions ("a.b" vs "a_b", whose
 * metric names would clash) share its hash: gr_topic_create refuses
 * them for every caller (CreateTopics, auto-create).  Each topic's
 * metadata is one small properties file, rewritten atomically on change:
 *
 *   <first log dir>/.topics/<file>.properties
 *   +---------------------------+-------------------------------------+
 *   | name=<topic>              | the topic's name (absent in files   |
 *   |                           | of older versions: the file name)   |
 *   | topic.id=<base64 uuid>    | Kafka's topic id (also in           |
 *   |                           | partition.metadata of each dir)     |
 *   | partitions=<N>            | partition count                     |
 *   | internal=<true|false>     | __consumer_offsets and friends      |
 *   | config.<key>=<value>      | one line per topic config override  |
 *   +---------------------------+-------------------------------------+
 *
 * <file> is the topic name when "<name>.properties.tmp" (the atomic
 * write's temporary) fits in a file name of 255 bytes, i.e. for names of
 * up to 240 characters.  Longer legal names (241..249) use
 * "<first 200 characters>~<FNV-1a 64 of the name, 16 hex digits>": '~' is
 * not legal in a topic name, so no other name maps there.  A file that
 * cannot be written or made durable (its directory fsync, or the log
 * dirs' fsync for new partition directories) fails the creation (or the
 * partition count change, or the config change) with KAFKA_STORAGE_ERROR,
 * and what was made for it is undone (a file already renamed into place
 * is removed or written back): nothing is acknowledged for a topic that
 * would not come back after a restart.
 *
 * A partition is placed in the log dir holding the fewest partitions;
 * at startup every log dir is searched for <topic>-<n> (Kafka's layout: a
 * 249-character name leaves room for partition numbers up to 99999).
 *
 * Internal topics (internal=true: __consumer_offsets) hold the broker's
 * state.  Their logs are compacted and never deleted by retention,
 * whatever their overrides say (gr_config_protect_internal), and an
 * override that says otherwise, left by an older version, is replaced when
 * the topic is loaded (logged).
 *
 * Creating a partition costs no fsync of its own: its directory, empty
 * segment and partition.metadata become durable with the log's first
 * flush (as in Kafka), and a power cut before that leaves a directory
 * that the next start fills in again.  Creating a topic fsyncs each log
 * dir once (the new partition directories) and its properties file.
 *
 * Shutdown sync.  A log dir where more than GR_SYNCFS_MIN_PARTS partitions
 * hold data above their recovery point is made durable with one syncfs(2)
 * of its filesystem (on a helper lane, the dirs concurrently) instead of
 * an fdatasync per file, each of which costs a journal commit: with
 * thousands of partitions the per-file syncs take minutes, the syncfs
 * about as long as writing the dirty data.  syncfs writes back every
 * dirty inode of the filesystem, directories included, so the names of
 * new segment files are durable too without a directory fsync.  The dir's
 * descriptor is opened at startup and kept: syncfs reports the writeback
 * errors of the filesystem since the descriptor was opened, so an error
 * that hit any file of the dir while the broker ran fails it too.  Older
 * kernels' syncfs (before Linux 5.8) reports no writeback error, so there
 * every dir is synced file by file (no descriptor is opened).  On
 * success every log of the dir gets its recovery point at the end offset
 * it had before the sync; on failure no recovery point of the dir moves,
 * nothing is synced again file by file and the dir gets no clean-shutdown
 * marker: the next start recovers it.  Fewer dirty partitions: each log is
 * flushed (fsync per file) as before.
 */
#include "topic.h"
#include "logmove.h"
#include "broker.h"
#include "checkpoint.h"
#include "fio.h"
#include "hmap.h"
#include "lag.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

static gr_hmap_t table;          /* gr_topic_t by name_hash */
static int *dir_parts;           /* [log dir] -> partitions placed there */
static int *dir_fds;             /* [log dir] -> open descriptor for syncfs, -1 */

/* FNV-1a with '.' hashed as '_': colliding names share a hash. */
static uint32_t hash_name(const char *s, size_t len)
{
    uint64_t h = GR_FNV64_INIT;
    for (size_t i = 0; i < len; i++)
        h = gr_fnv1a64_byte(h, (uint8_t)(s[i] == '.' ? '_' : s[i]));
    return gr_hash_mix(h);
}

static void table_insert(gr_topic_t *t)
{
    if (!table.min_nb)
        gr_hmap_init(&table, 64);
    gr_hmap_insert(&table, &t->node, hash_name(t->name, strlen(t->name)));
}

static void table_remove(gr_topic_t *t)
{
    gr_hmap_remove(&table, &t->node);
}

gr_topic_t *gr_topic_find(const char *name, size_t len)
{
    for (gr_hnode_t *n = gr_hmap_first(&table, hash_name(name, len)); n; n = gr_hmap_next(n)) {
        gr_topic_t *t = GR_CONTAINER(n, gr_topic_t, node);
        if (strlen(t->name) == len && !memcmp(t->name, name, len))
            return t;
    }
    return NULL;
}

const gr_topic_t *gr_topic_colliding(const char *name, size_t len)
{
    if (!memchr(name, '.', len) && !memchr(name, '_', len))
        return NULL;
    for (gr_hnode_t *n = gr_hmap_first(&table, hash_name(name, len)); n; n = gr_hmap_next(n)) {
        const gr_topic_t *t = GR_CONTAINER(n, gr_topic_t, node);
        if (strlen(t->name) != len || !memcmp(t->name, name, len))
            continue;
        size_t i = 0;
        while (i < len && (t->name[i] == name[i] || (t->name[i] == '.' && name[i] == '_') ||
                           (t->name[i] == '_' && name[i] == '.')))
            i++;
        if (i == len)
            return t;
    }
    return NULL;
}

gr_topic_t *gr_topic_find_id(const gr_uuid_t *id)
{
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        if (!memcmp(t->id.b, id->b, 16))
            return t;
    return NULL;
}

gr_topic_t *gr_topic_next(gr_topic_t *t)
{
    gr_hnode_t *n = gr_hmap_after(&table, t ? &t->node : NULL);
    return n ? GR_CONTAINER(n, gr_topic_t, node) : NULL;
}

int gr_topic_count(void) { return (int)gr_hmap_count(&table); }

gr_serr_t gr_topic_validate_name(const char *name, size_t len)
{
    if (len == 0 || len > 249)
        return GR_SERR_TOPIC_NAME;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return GR_SERR_TOPIC_NAME;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return GR_SERR_TOPIC_NAME;
    }
    return GR_SERR_NONE;
}

/* Kafka's Topic.INTERNAL_TOPICS. */
static const char *const internal_names[] = {"__consumer_offsets", "__transaction_state", "__share_group_state"};

static bool name_is(const char *name, size_t len, const char *s)
{
    return strlen(s) == len && !memcmp(name, s, len);
}

bool gr_topic_name_internal(const char *name, size_t len)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(internal_names); i++)
        if (name_is(name, len, internal_names[i]))
            return true;
    return false;
}

bool gr_topic_name_reserved(const char *name, size_t len)
{
    return gr_topic_name_internal(name, len) || name_is(name, len, "__cluster_metadata");
}

/* The log config of t: broker defaults, its overrides, and for an internal
 * topic the protections no override may lift. */
static void topic_log_config(const gr_topic_t *t, gr_log_config_t *lc)
{
    gr_config_log_config(&gr_broker.cfg, t->configs, lc);
    if (t->internal)
        gr_config_protect_internal(&gr_broker.cfg, lc);
}

/* ------------------------------------------------------------ metadata */

#define META_SUFFIX ".properties"
/* the longest name whose "<name>.properties.tmp" fits in 255 bytes */
#define META_PLAIN_MAX (255 - (sizeof(META_SUFFIX ".tmp") - 1))
#define META_PREFIX 200

/* <first log dir>/.topics/<file>.properties of a valid topic name (see the top). */
static void meta_path(const char *name, size_t len, char *out, size_t n)
{
    if (len <= META_PLAIN_MAX) {
        snprintf(out, n, "%s/.topics/%.*s" META_SUFFIX, gr_broker.log_dirs[0], (int)len, name);
        return;
    }
    uint64_t h = gr_fnv1a64(name, len, GR_FNV64_INIT);
    snprintf(out, n, "%s/.topics/%.*s~%016llx" META_SUFFIX, gr_broker.log_dirs[0], META_PREFIX, name,
             (unsigned long long)h);
}

static int topic_save(const gr_topic_t *t)
{
    char path[PATH_MAX], id[23];
    gr_uuid_to_base64(&t->id, id);
    size_t cap = 512, len = 0;
    char *buf = gr_malloc(cap);
    len += (size_t)snprintf(buf, cap, "name=%s\ntopic.id=%s\npartitions=%d\ninternal=%s\n", t->name, id,
                            t->npart, t->internal ? "true" : "false");
    for (char **c = t->configs; c && c[0]; c += 2) {
        size_t need = strlen(c[0]) + strlen(c[1]) + 16;
        if (len + need > cap) {
            cap = (len + need) * 2;
            buf = gr_realloc(buf, cap);
        }
        len += (size_t)snprintf(buf + len, cap - len, "config.%s=%s\n", c[0], c[1]);
    }
    snprintf(path, sizeof(path), "%s/.topics", gr_broker.log_dirs[0]);
    gr_mkdir_p(path);
    meta_path(t->name, strlen(t->name), path, sizeof(path));
    int rc = gr_file_write_atomic(path, buf, len);
    free(buf);
    if (rc < 0)
        gr_error("topic", "Cannot write %s: %s", path, strerror(-rc));
    return rc;
}

static int count_in_dir(int d)
{
    return dir_parts ? dir_parts[d] : 0;
}

static void part_dir(const gr_topic_t *t, int32_t idx, int d, char *out, size_t n)
{
    snprintf(out, n, "%s/%s-%d", gr_broker.log_dirs[d], t->name, idx);
}

static int find_existing_dir(const gr_topic_t *t, int32_t idx)
{
    char path[PATH_MAX];
    struct stat st;
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        part_dir(t, idx, d, path, sizeof(path));
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return d;
    }
    return -1;
}

/* a loaded partition's leader-epoch-checkpoint was written (gr_topics_load
 * syncs the log dirs) */
static bool epochs_written;

/* checkpoints read at startup: [dir] -> entries */
static gr_ckpt_entry_t **ck_rp, **ck_ls;
static size_t *ck_rp_n, *ck_ls_n;

static int ckpt_cmp(const void *a, const void *b)
{
    const gr_ckpt_entry_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* e is sorted by ckpt_cmp (gr_topics_load) */
static int64_t ckpt_lookup(gr_ckpt_entry_t *e, size_t n, const char *topic, int32_t part, int64_t dflt)
{
    gr_ckpt_entry_t key = {.partition = part};
    snprintf(key.topic, sizeof(key.topic), "%s", topic);
    const gr_ckpt_entry_t *f = n ? bsearch(&key, e, n, sizeof(*e), ckpt_cmp) : NULL;
    return f ? f->offset : dflt;
}

/* Leader epochs.  This broker becomes the partition's leader each time it
 * opens it, and, as Kafka's controller bumps the leader epoch of every
 * partition a restarted broker leads again, a partition loaded from disk
 * gets the next epoch, starting at its log end offset (Kafka's
 * Partition.makeLeader); a new partition starts at epoch 0.  The cache is
 * first trimmed to the log as recovery left it (truncateFromEnd) and to
 * its log start offset.  A partition written before the cache existed
 * (no leader-epoch-checkpoint) was written in epoch 0.  The file is
 * written without fsync here; gr_topics_load makes the new epochs durable
 * with one sync per log dir before anything is appended. */
static void partition_epochs_open(gr_partition_t *p, const char *dir, bool fresh)
{
    gr_epochs_t *c = &p->epochs;
    int64_t start = gr_log_start_offset(p->log), end = gr_log_end_offset(p->log);
    int rc = fresh ? GR_ENOENT : gr_epochs_load(c, dir);
    if (rc == GR_ECORRUPT)
        gr_warn("topic", "%s/" GR_EPOCHS_FILE " is corrupt: leader epochs start anew", dir);
    if (rc < 0 && end > start)
        gr_epochs_assign(c, 0, start);
    gr_epochs_truncate_end(c, end);
    gr_epochs_truncate_start(c, start);
    p->leader_epoch = fresh ? 0 : gr_epochs_latest(c) + 1;
    gr_epochs_assign(c, p->leader_epoch, end);
    if (gr_epochs_write(c, dir, false, gr_broker.ev) < 0)
        gr_warn("topic", "Cannot write %s/" GR_EPOCHS_FILE ": %s", dir, strerror(errno));
    else if (!fresh)
        epochs_written = true;
}

void gr_partition_dir(const gr_partition_t *p, char *out, size_t n)
{
    part_dir(p->topic, p->index, p->log_dir, out, n);
}

int gr_partition_log_close(gr_partition_t *p, int64_t *end, int64_t *start)
{
    *end = gr_log_end_offset(p->log);
    *start = gr_log_start_offset(p->log);
    int rc = gr_log_close(p->log);
    p->log = NULL;
    return rc;
}

int gr_partition_log_open(gr_partition_t *p, int d, int64_t end, int64_t start)
{
    char dir[PATH_MAX];
    part_dir(p->topic, p->index, d, dir, sizeof(dir));
    gr_log_config_t lc;
    topic_log_config(p->topic, &lc);
    gr_log_open_opts_t o = {
        .dir = dir,
        .cfg = &lc,
        .recovery_point = end,
        .log_start_offset = start,
        .clean_shutdown = true,
        .ev = gr_broker.ev,
        .lane = d % GR_EV_DIR_LANES,
        .fresh = false,
    };
    gr_log_t *log;
    int rc = gr_log_open(&o, &log);
    if (rc < 0) {
        gr_error("topic", "Cannot open log %s: %s", dir, strerror(-rc));
        return rc;
    }
    dir_parts[p->log_dir]--;
    dir_parts[d]++;
    p->log_dir = d;
    p->log = log;
    p->last_stable_offset = gr_log_last_stable_offset(log);
    return 0;
}

static int partition_open(gr_topic_t *t, int32_t idx, gr_partition_t **out)
{
    int d = find_existing_dir(t, idx);
    bool fresh = d < 0;
    if (dir_parts == NULL)
        dir_parts = gr_calloc((size_t)gr_broker.nlog_dirs, sizeof(*dir_parts));
    if (fresh) {
        d = 0;
        int best = INT_MAX;
        for (int i = 0; i < gr_broker.nlog_dirs; i++) {
            int c = count_in_dir(i);
            if (c < best) {
                best = c;
                d = i;
            }
        }
    }
    char dir[PATH_MAX];
    part_dir(t, idx, d, dir, sizeof(dir));
    gr_log_config_t lc;
    topic_log_config(t, &lc);
    gr_log_open_opts_t o = {
        .dir = dir,
        .cfg = &lc,
        .recovery_point = ck_rp ? ckpt_lookup(ck_rp[d], ck_rp_n[d], t->name, idx, 0) : 0,
        .log_start_offset = ck_ls ? ckpt_lookup(ck_ls[d], ck_ls_n[d], t->name, idx, -1) : -1,
        .clean_shutdown = fresh || gr_broker.clean_shutdown_found,
        .ev = gr_broker.ev,
        .lane = d % GR_EV_DIR_LANES,
        .fresh = fresh,
        .producer_expiration_ms = gr_broker.cfg.producer_id_expiration_ms,
    };
    gr_log_t *log;
    int rc = gr_log_open(&o, &log);
    if (rc < 0) {
        gr_error("topic", "Cannot open log %s: %s", dir, strerror(-rc));
        return rc;
    }
    gr_uuid_t id;
    if (fresh || gr_partmeta_read(dir, &id) < 0 || memcmp(id.b, t->id.b, 16) != 0)
        gr_partmeta_write(dir, &t->id, !fresh);
    dir_parts[d]++;
    gr_partition_t *p = gr_calloc(1, sizeof(*p));
    p->topic = t;
    p->index = idx;
    p->log = log;
    p->log_dir = d;
    partition_epochs_open(p, dir, fresh);
    p->high_watermark = gr_log_end_offset(log);
    p->last_stable_offset = gr_log_last_stable_offset(log);
    p->waiters.next = p->waiters.prev = &p->waiters;
    *out = p;
    return 0;
}

/* Open the log dirs' descriptors for the shutdown syncfs (see the top). */
static void dir_fds_open(void)
{
    if (dir_fds)
        return;
    dir_fds = gr_malloc((size_t)gr_broker.nlog_dirs * sizeof(*dir_fds));
    struct utsname u;
    const char *release = uname(&u) == 0 ? u.release : NULL;
    bool reports = gr_fio_syncfs_reports_errors(release);
    if (!reports)
        gr_info("topic", "syncfs(2) of this kernel (%s) reports no writeback errors (Linux 5.8 and later do): "
                "logs are synced file by file at shutdown", release ? release : "unknown");
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        dir_fds[d] = -1;
        if (!reports)
            continue;
        dir_fds[d] = open(gr_broker.log_dirs[d], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fds[d] == -1)
            gr_warn("topic", "Cannot open log dir %s: %s; its logs will be synced file by file at shutdown",
                    gr_broker.log_dirs[d], strerror(errno));
    }
}

static int partition_free(gr_partition_t *p, bool delete_data)
{
    int rc = 0;
    gr_logmove_cancel(p, delete_data);
    /* wake any parked fetch so it answers (it will see the topic gone) */
    while (p->waiters.next != &p->waiters) {
        gr_pwait_t *w = p->waiters.next;
        gr_pwait_remove(w);
        w->cb(w);
    }
    if (delete_data)
        gr_log_delete(p->log);
    else
        rc = gr_log_close(p->log);
    dir_parts[p->log_dir]--;
    gr_epochs_free(&p->epochs);
    gr_lag_partition_free(p);
    free(p);
    return rc;
}

static void configs_free(char **cfg)
{
    for (char **c = cfg; c && *c; c++)
        free(*c);
    free(cfg);
}

static void topic_free(gr_topic_t *t)
{
    configs_free(t->configs);
    free(t->parts);
    free(t->name);
    free(t);
}

static char **configs_dup(char *const *cfg)
{
    size_t n = 0;
    while (cfg && cfg[n])
        n++;
    char **out = gr_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = gr_strdup(cfg[i]);
    return out;
}

/* Open partitions [from, to) of t.  existed (NULL at startup): filled
 * with whether each partition's directory was already on disk, so that a
 * creation that fails can remove what it made (parts_discard); a failure
 * here already did that. */
static int topic_open_parts(gr_topic_t *t, int32_t from, int32_t to, bool *existed)
{
    t->parts = gr_realloc(t->parts, sizeof(*t->parts) * (size_t)(to ? to : 1));
    for (int32_t i = from; i < to; i++) {
        if (existed)
            existed[i - from] = find_existing_dir(t, i) >= 0;
        int rc = partition_open(t, i, &t->parts[i]);
        if (rc < 0) {
            for (int32_t j = from; j < i; j++)
                partition_free(t->parts[j], existed && !existed[j - from]);
            return rc;
        }
    }
    t->npart = to;
    return 0;
}

/* Undo topic_open_parts(t, from, to, existed) of a change that cannot be
 * recorded: the directories it made are deleted, directories that were on
 * disk before (an earlier life of the name) are only closed. */
static void parts_discard(gr_topic_t *t, int32_t from, int32_t to, const bool *existed)
{
    for (int32_t i = from; i < to; i++)
        partition_free(t->parts[i], !existed[i - from]);
    t->npart = from;
}

/* The new partition directories' names: one fsync per log dir.  0, or
 * <0 when one failed (the new partitions may not survive a power cut). */
static int sync_log_dirs(void)
{
    int rc = 0;
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        int r = gr_fsync_dir(gr_broker.log_dirs[d]);
        if (r < 0) {
            gr_error("topic", "Cannot fsync %s: %s", gr_broker.log_dirs[d], strerror(-r));
            rc = r;
        }
    }
    return rc;
}

/* A topic_save that failed may have left its new content in place (the
 * rename done, the directory fsync failed): write what memory says again,
 * as far as the disk lets us. */
static void topic_save_again(const gr_topic_t *t)
{
    if (topic_save(t) < 0)
        gr_error("topic", "Cannot restore the metadata of topic %s: its file may hold a change that was refused",
                 t->name);
}

gr_serr_t gr_topic_check_new(const char *name, size_t len, const gr_topic_t **collides)
{
    *collides = NULL;
    if (gr_topic_validate_name(name, len) != GR_SERR_NONE)
        return GR_SERR_TOPIC_NAME;
    if (gr_topic_find(name, len))
        return GR_SERR_TOPIC_EXISTS;
    if ((*collides = gr_topic_colliding(name, len)) != NULL)
        return GR_SERR_TOPIC_NAME;
    return GR_SERR_NONE;
}

gr_serr_t gr_topic_create(const char *name, size_t len, int32_t npart, char *const *configs, bool internal,
                          gr_topic_t **out, const char **msg)
{
    *msg = NULL;
    const gr_topic_t *col;
    switch (gr_topic_check_new(name, len, &col)) {
    case GR_SERR_NONE:
        break;
    case GR_SERR_TOPIC_EXISTS:
        *msg = "Topic already exists.";
        return GR_SERR_TOPIC_EXISTS;
    default:
        *msg = col ? "Topic collides with an existing topic: '.' and '_' in topic names are the same."
                   : "Topic name is illegal, it can't be empty, \".\" or \"..\", longer than 249 characters, or "
                     "contain characters other than ASCII alphanumerics, '.', '_' and '-'";
        return GR_SERR_TOPIC_NAME;
    }
    if (npart <= 0) {
        *msg = "Number of partitions must be larger than 0.";
        return GR_SERR_PARTITIONS;
    }
    /* A topic whose logs failed to load at startup keeps its metadata
     * file: creating it again would reuse (and could overwrite) its data. */
    char mpath[PATH_MAX];
    meta_path(name, len, mpath, sizeof(mpath));
    if (access(mpath, F_OK) == 0) {
        gr_error("topic", "Not creating topic %.*s: %s exists but the topic was not loaded from it", (int)len, name,
                 mpath);
        *msg = "The topic exists on disk but its logs could not be loaded.";
        return GR_SERR_IO;
    }
    gr_topic_t *t = gr_calloc(1, sizeof(*t));
    t->name = gr_strndup(name, len);
    gr_uuid_random(&t->id);
    t->internal = internal;
    t->configs = configs_dup(configs);
    bool *existed = gr_malloc((size_t)npart * sizeof(*existed));
    if (topic_open_parts(t, 0, npart, existed) < 0) {
        *msg = "Cannot create the partition logs.";
        goto err;
    }
    if (sync_log_dirs() < 0) {
        parts_discard(t, 0, npart, existed);
        *msg = "Cannot make the partition directories durable.";
        goto err;
    }
    if (topic_save(t) < 0) {
        parts_discard(t, 0, npart, existed);
        /* the file may be in place already: a topic that was refused must
         * not come back at the next start (nor block its name now) */
        if (gr_fio_unlink(mpath) == 0) {
            char *slash = strrchr(mpath, '/');
            *slash = '\0';
            gr_fsync_dir(mpath);
        }
        *msg = "Cannot write the topic's metadata.";
        goto err;
    }
    free(existed);
    table_insert(t);
    gr_info("topic", "Created topic %s with %d partitions", t->name, npart);
    if (out)
        *out = t;
    return GR_SERR_NONE;
err:
    gr_error("topic", "Topic %.*s not created: %s", (int)len, name, *msg);
    free(existed);
    topic_free(t);
    return GR_SERR_IO;
}

void gr_topic_delete(gr_topic_t *t)
{
    char path[PATH_MAX];
    gr_info("topic", "Deleting topic %s", t->name);
    table_remove(t);
    meta_path(t->name, strlen(t->name), path, sizeof(path));
    /* the name's removal made durable (as its creation is, topic_save):
     * a power cut must not bring the topic back, empty */
    if (gr_fio_unlink(path) == 0) {
        char *slash = strrchr(path, '/');
        *slash = '\0';
        if (gr_fsync_dir(path) < 0)
            gr_warn("topic", "Cannot fsync %s", path);
    }
    for (int32_t i = 0; i < t->npart; i++)
        partition_free(t->parts[i], true);
    topic_free(t);
}

gr_serr_t gr_topic_add_partitions(gr_topic_t *t, int32_t total, const char **msg)
{
    *msg = NULL;
    if (total <= t->npart) {
        *msg = total == t->npart ? "Topic already has the requested number of partitions."
                                 : "Topic currently has more partitions than requested.";
        return GR_SERR_PARTITIONS;
    }
    int32_t from = t->npart;
    bool *existed = gr_malloc((size_t)(total - from) * sizeof(*existed));
    gr_serr_t rc = GR_SERR_NONE;
    if (topic_open_parts(t, from, total, existed) < 0) {
        *msg = "Cannot create the partition logs.";
        rc = GR_SERR_IO;
    } else if (sync_log_dirs() < 0) {
        parts_discard(t, from, total, existed);
        *msg = "Cannot make the partition directories durable.";
        rc = GR_SERR_IO;
    } else if (topic_save(t) < 0) {
        parts_discard(t, from, total, existed);
        topic_save_again(t);        /* the old partition count */
        *msg = "Cannot write the topic's metadata.";
        rc = GR_SERR_IO;
    }
    free(existed);
    return rc;
}

const char *gr_topic_get_config(const gr_topic_t *t, const char *key)
{
    for (char **c = t->configs; c && c[0]; c += 2)
        if (!strcmp(c[0], key))
            return c[1];
    return NULL;
}

/* Replace one override in memory and in the logs, no saving. */
/* Set key to value (NULL: remove it) in the override array *cfg (key,
 * value, ..., NULL; owned strings). */
static void configs_put(char ***cfg, const char *key, const char *value)
{
    char **c = *cfg;
    size_t n = 0;
    while (c && c[n])
        n += 2;
    size_t i;
    for (i = 0; i < n; i += 2)
        if (!strcmp(c[i], key))
            break;
    if (i < n) {
        free(c[i + 1]);
        if (value) {
            c[i + 1] = gr_strdup(value);
        } else {
            free(c[i]);
            memmove(&c[i], &c[i + 2], (n - i - 2 + 1) * sizeof(char *));
        }
    } else if (value) {
        c = gr_realloc(c, (n + 3) * sizeof(char *));
        c[n] = gr_strdup(key);
        c[n + 1] = gr_strdup(value);
        c[n + 2] = NULL;
        *cfg = c;
    }
}

int gr_topic_replace_configs(gr_topic_t *t, char *const *configs)
{
    char **old = t->configs;
    t->configs = configs_dup(configs);
    int rc = topic_save(t);
    if (rc < 0) {
        configs_free(t->configs);
        t->configs = old;
        topic_save_again(t);            /* the file says so again */
        return rc;
    }
    configs_free(old);
    gr_log_config_t lc;
    topic_log_config(t, &lc);
    for (int32_t p = 0; p < t->npart; p++)
        gr_log_set_config(t->parts[p]->log, &lc);
    return 0;
}

int gr_topic_set_config(gr_topic_t *t, const char *key, const char *value)
{
    char **cfg = configs_dup(t->configs);
    configs_put(&cfg, key, value);
    int rc = gr_topic_replace_configs(t, cfg);
    configs_free(cfg);
    return rc;
}

/* ------------------------------------------------------------ waiters */

void gr_pwait_add(gr_partition_t *p, gr_pwait_t *w)
{
    if (w->linked)
        return;
    w->prev = p->waiters.prev;
    w->next = &p->waiters;
    p->waiters.prev->next = w;
    p->waiters.prev = w;
    w->linked = true;
}

void gr_pwait_remove(gr_pwait_t *w)
{
    if (!w->linked)
        return;
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->next = w->prev = NULL;
    w->linked = false;
}

void gr_partition_appended(gr_partition_t *p)
{
    p->high_watermark = gr_log_end_offset(p->log);
    gr_lag_appended(p, gr_broker.ev ? gr_ev_now_ms(gr_broker.ev) : gr_mono_ms());
    gr_partition_notify(p);
}

void gr_partition_notify(gr_partition_t *p)
{
    /* a marker, or a log start offset moved past a transaction's start */
    if (p->log)
        p->last_stable_offset = gr_log_last_stable_offset(p->log);
    /* A callback may unlink and free any waiter of the list, not only its
     * own (answering a fetch that makes a session can evict another
     * session, whose waiters go with it).  A cursor (cb NULL) linked after
     * the waiter being called keeps the place: it is never freed by
     * anyone else, and waiters added meanwhile go after it. */
    gr_pwait_t cur = {.cb = NULL};
    gr_pwait_t *w = p->waiters.next;
    while (w != &p->waiters) {
        if (w->cb == NULL) {            /* another walk's cursor */
            w = w->next;
            continue;
        }
        cur.prev = w;
        cur.next = w->next;
        w->next->prev = &cur;
        w->next = &cur;
        cur.linked = true;
        w->cb(w);
        w = cur.next;
        gr_pwait_remove(&cur);
    }
}

/* ------------------------------------------------------------ load/close */

/* Replace the overrides of internal topic t (loaded, its logs open) that
 * would let retention delete its state or make its coordinator's writes
 * fail: an older version accepted them.  Its logs already run with the
 * protections (topic_log_config); this makes the file and DescribeConfigs
 * say so. */
static void repair_internal_configs(gr_topic_t *t)
{
    const char *key;
    char err[256];
    /* each round replaces one key's override with a value that passes */
    for (int round = 0; round < 4; round++) {
        if (gr_topic_config_internal_check(&gr_broker.cfg, t->name, t->configs, &key, err, sizeof(err)) == 0)
            return;
        const char *safe = gr_topic_config_internal_value(key);
        const char *cur = gr_topic_get_config(t, key);
        gr_warn("topic", "Internal topic %s: replacing %s=%s with %s (%s)", t->name, key, cur ? cur : "(default)",
                safe ? safe : "the default", err);
        if (gr_topic_set_config(t, key, safe) < 0) {
            gr_warn("topic", "Cannot rewrite the configuration of %s; the override stays ignored", t->name);
            return;
        }
    }
}

/* fname: the file's name without ".properties", the topic's name in
 * files without a name= line (older versions). */
static int load_topic_file(const char *path, const char *fname)
{
    char *buf = NULL;
    int rc = gr_file_read_all(path, &buf, NULL);
    if (rc < 0)
        return rc;
    gr_topic_t *t = gr_calloc(1, sizeof(*t));
    t->configs = gr_calloc(1, sizeof(char *));
    int32_t npart = 0;
    size_t ncfg = 0;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(l, '=');
        if (!eq)
            continue;
        *eq = '\0';
        const char *v = eq + 1;
        if (!strcmp(l, "name") && !t->name)
            t->name = gr_strdup(v);
        else if (!strcmp(l, "topic.id"))
            gr_uuid_from_base64(v, &t->id);
        else if (!strcmp(l, "partitions"))
            npart = atoi(v);
        else if (!strcmp(l, "internal"))
            t->internal = !strcmp(v, "true");
        else if (!strncmp(l, "config.", 7)) {
            t->configs = gr_realloc(t->configs, (ncfg + 3) * sizeof(char *));
            t->configs[ncfg++] = gr_strdup(l + 7);
            t->configs[ncfg++] = gr_strdup(v);
            t->configs[ncfg] = NULL;
        }
    }
    free(buf);
    if (!t->name)
        t->name = gr_strdup(fname);
    char want[PATH_MAX];
    meta_path(t->name, strlen(t->name), want, sizeof(want));
    if (gr_topic_validate_name(t->name, strlen(t->name)) != GR_SERR_NONE || gr_topic_find(t->name, strlen(t->name)) ||
        strcmp(strrchr(want, '/'), strrchr(path, '/'))) {
        gr_error("topic", "Not loading %s: it names topic %s, whose metadata file would be %s", path, t->name, want);
        topic_free(t);
        return GR_EIO;
    }
    if (npart <= 0 || topic_open_parts(t, 0, npart, NULL) < 0) {
        gr_error("topic", "Cannot load topic %s from %s", t->name, path);
        topic_free(t);
        return GR_EIO;
    }
    table_insert(t);
    if (t->internal)
        repair_internal_configs(t);
    return 0;
}

/* The leader epochs written while loading must be on disk before records
 * of those epochs are appended (a lost one would let an epoch number be
 * used twice): one syncfs per log dir, which also covers the renames. */
static void sync_epochs(void)
{
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        int fd = open(gr_broker.log_dirs[d], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd == -1 || gr_fio_syncfs(fd) == -1)
            gr_warn("topic", "Cannot sync the leader epochs of %s: %s", gr_broker.log_dirs[d], strerror(errno));
        if (fd != -1)
            close(fd);
    }
    epochs_written = false;
}

int gr_topics_load(void)
{
    int nd = gr_broker.nlog_dirs;
    dir_fds_open();
    gr_logmove_recover_dirs();
    ck_rp = gr_calloc((size_t)nd, sizeof(*ck_rp));
    ck_ls = gr_calloc((size_t)nd, sizeof(*ck_ls));
    ck_rp_n = gr_calloc((size_t)nd, sizeof(size_t));
    ck_ls_n = gr_calloc((size_t)nd, sizeof(size_t));
    char path[PATH_MAX];
    for (int d = 0; d < nd; d++) {
        snprintf(path, sizeof(path), "%s/recovery-point-offset-checkpoint", gr_broker.log_dirs[d]);
        gr_ckpt_read(path, &ck_rp[d], &ck_rp_n[d]);
        snprintf(path, sizeof(path), "%s/log-start-offset-checkpoint", gr_broker.log_dirs[d]);
        gr_ckpt_read(path, &ck_ls[d], &ck_ls_n[d]);
        if (ck_rp_n[d] > 1)
            qsort(ck_rp[d], ck_rp_n[d], sizeof(*ck_rp[d]), ckpt_cmp);
        if (ck_ls_n[d] > 1)
            qsort(ck_ls[d], ck_ls_n[d], sizeof(*ck_ls[d]), ckpt_cmp);
    }
    int rc = 0;
    snprintf(path, sizeof(path), "%s/.topics", gr_broker.log_dirs[0]);
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            size_t l = strlen(de->d_name);
            if (l <= 11 || strcmp(de->d_name + l - 11, ".properties"))
                continue;
            char name[NAME_MAX + 1];
            snprintf(name, sizeof(name), "%.*s", (int)(l - 11), de->d_name);
            char fpath[PATH_MAX + 256];
            snprintf(fpath, sizeof(fpath), "%s/%s", path, de->d_name);
            if (load_topic_file(fpath, name) < 0)
                rc = GR_EIO;
        }
        closedir(dir);
    }
    for (int d = 0; d < nd; d++) {
        free(ck_rp[d]);
        free(ck_ls[d]);
    }
    free(ck_rp);
    free(ck_ls);
    free(ck_rp_n);
    free(ck_ls_n);
    ck_rp = ck_ls = NULL;
    ck_rp_n = ck_ls_n = NULL;
    if (epochs_written)
        sync_epochs();
    gr_info("topic", "Loaded %d topics", gr_topic_count());
    gr_logmove_resume_all();
    return rc;
}

/* ------------------------------------------------------------ checkpoints
 *
 * The two offset checkpoints of a log dir are taken on the loop (a copy of
 * every partition's recovery point and log start offset) and written
 * (tmp + fsync + rename + directory fsync) on the metadata lane: on a
 * busy disk such an fsync waits behind the write-back of the segments, for
 * hundreds of milliseconds during which the loop would serve nobody.
 * Contents reach the disk in the order they were taken: each carries a
 * sequence number, and the writer, under the dir's mutex, skips one older
 * than what is on disk (the synchronous writes - DeleteRecords before its
 * answer, a moved log, shutdown - take the same mutex, so at most they wait
 * for a write in progress).  While a periodic write is still on the lane,
 * the next periodic one is not queued: the tick after it carries newer
 * offsets anyway.  A later content only ever has larger offsets, so a
 * checkpoint written late is older, never wrong (recovery starts earlier).
 * The metadata lane is not a data lane: a checkpoint never waits behind a
 * segment's fsync, nor a flush (an acknowledgement with
 * flush.messages=1) behind a checkpoint.  A periodic checkpoint whose
 * content is the one last taken (a hash of every entry) is not taken nor
 * written again, unless that write failed: an idle broker does not rewrite
 * its checkpoint files at every tick (a short log.retention.check.interval.ms
 * makes ticks frequent). */
typedef struct ckpt_dir {
    pthread_mutex_t mu;
    uint64_t written;            /* sequence of the content on disk */
    bool failed;                 /* the last write failed (under mu) */
    bool queued;                 /* a periodic write is on the lane (loop) */
    bool taken;                  /* taken_hash is set (loop) */
    uint64_t taken_hash;         /* hash of the last content taken (loop) */
} ckpt_dir_t;

typedef struct ckpt_job {
    int dir;
    uint64_t seq;
    size_t n;
    gr_ckpt_entry_t *rp, *ls;
} ckpt_job_t;

static ckpt_dir_t *ckpt_dirs;    /* [log dir] */
static uint64_t ckpt_seq;        /* last sequence handed out (loop) */

static ckpt_dir_t *ckpt_dir(int d)
{
    if (!ckpt_dirs) {
        ckpt_dirs = gr_calloc((size_t)gr_broker.nlog_dirs, sizeof(*ckpt_dirs));
        for (int i = 0; i < gr_broker.nlog_dirs; i++)
            pthread_mutex_init(&ckpt_dirs[i].mu, NULL);
    }
    return &ckpt_dirs[d];
}

/* One walk over log dir d's partitions: the leader epochs before the log
 * start are dropped (and written), and the checkpoint content is counted
 * (*n) and hashed. */
static uint64_t ckpt_scan(int d, size_t *n)
{
    uint64_t h = GR_FNV64_INIT;
    *n = 0;
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        for (int32_t i = 0; i < t->npart; i++) {
            gr_partition_t *p = t->parts[i];
            if (p->log_dir != d)
                continue;
            int64_t e[3] = {i, gr_log_recovery_point(p->log), gr_log_start_offset(p->log)};
            h = gr_fnv1a64(t->name, strlen(t->name) + 1, h);
            h = gr_fnv1a64(e, sizeof(e), h);
            (*n)++;
            /* the epochs before the log start went with their records */
            gr_epochs_truncate_start(&p->epochs, e[2]);
            if (p->epochs.dirty) {
                char pdir[PATH_MAX];
                gr_partition_dir(p, pdir, sizeof(pdir));
                gr_epochs_write(&p->epochs, pdir, false, gr_broker.ev);
            }
        }
    return h;
}

/* A copy of the offsets of log dir d's partitions, next in sequence; for a
 * periodic checkpoint (only_changed), NULL when the content is the one last
 * taken and its write did not fail. */
static ckpt_job_t *ckpt_take(int d, bool only_changed)
{
    ckpt_dir_t *cd = ckpt_dir(d);
    size_t n;
    uint64_t h = ckpt_scan(d, &n);
    if (only_changed && cd->taken && h == cd->taken_hash) {
        pthread_mutex_lock(&cd->mu);
        bool failed = cd->failed;
        pthread_mutex_unlock(&cd->mu);
        if (!failed)
            return NULL;
    }
    cd->taken = true;
    cd->taken_hash = h;
    ckpt_job_t *j = gr_calloc(1, sizeof(*j));
    j->dir = d;
    j->seq = ++ckpt_seq;
    j->rp = gr_malloc(GR_MAX(n, 1) * sizeof(*j->rp));
    j->ls = gr_malloc(GR_MAX(n, 1) * sizeof(*j->ls));
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        for (int32_t i = 0; i < t->npart; i++) {
            gr_partition_t *p = t->parts[i];
            if (p->log_dir != d)
                continue;
            assert(j->n < n);
            gr_ckpt_entry_t *rp = &j->rp[j->n], *ls = &j->ls[j->n];
            snprintf(rp->topic, sizeof(rp->topic), "%s", t->name);
            snprintf(ls->topic, sizeof(ls->topic), "%s", t->name);
            rp->partition = ls->partition = i;
            rp->offset = gr_log_recovery_point(p->log);
            ls->offset = gr_log_start_offset(p->log);
            j->n++;
        }
    return j;
}

/* Write a taken content unless a newer one is on disk (any thread). */
static void ckpt_write(void *arg)
{
    ckpt_job_t *j = arg;
    ckpt_dir_t *cd = &ckpt_dirs[j->dir];
    pthread_mutex_lock(&cd->mu);
    if (j->seq > cd->written) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/recovery-point-offset-checkpoint", gr_broker.log_dirs[j->dir]);
        int rc = gr_ckpt_write(path, j->rp, j->n);
        if (rc == 0) {
            snprintf(path, sizeof(path), "%s/log-start-offset-checkpoint", gr_broker.log_dirs[j->dir]);
            rc = gr_ckpt_write(path, j->ls, j->n);
        }
        if (rc < 0)
            gr_warn("topic", "Cannot write the offset checkpoints of %s: %s (the next one retries)",
                    gr_broker.log_dirs[j->dir], strerror(-rc));
        else
            cd->written = j->seq;
        cd->failed = rc < 0;
    }
    pthread_mutex_unlock(&cd->mu);
}

static void ckpt_free(ckpt_job_t *j)
{
    free(j->rp);
    free(j->ls);
    free(j);
}

static void ckpt_done(void *arg)
{
    ckpt_job_t *j = arg;
    ckpt_dirs[j->dir].queued = false;
    ckpt_free(j);
}

void gr_topics_checkpoint(void)
{
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        ckpt_job_t *j = ckpt_take(d, false);
        ckpt_write(j);
        ckpt_free(j);
    }
}

/* The periodic checkpoint: taken now, written on the metadata lane. */
static void topics_checkpoint_async(void)
{
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        ckpt_dir_t *cd = ckpt_dir(d);
        if (cd->queued)
            continue;
        ckpt_job_t *j = ckpt_take(d, true);
        if (!j)
            continue;                /* nothing changed since the last content */
        cd->queued = true;
        gr_ev_submit(gr_broker.ev, GR_EV_LANE_META, ckpt_write, ckpt_done, j);
    }
}

void gr_topics_housekeep(int64_t now_ms, bool retention)
{
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        for (int32_t i = 0; i < t->npart; i++) {
            gr_partition_t *p = t->parts[i];
            int64_t start = gr_log_start_offset(p->log);
            if (retention)
                gr_log_housekeep(p->log, now_ms);
            else
                gr_log_maintain(p->log, now_ms);
            if (gr_log_start_offset(p->log) != start)
                gr_partition_notify(p);     /* fetch sessions report it */
        }
    topics_checkpoint_async();
}

size_t gr_topics_expire_producers(int64_t now_ms)
{
    size_t n = 0;
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        for (int32_t i = 0; i < t->npart; i++)
            n += gr_log_expire_producers(t->parts[i]->log, now_ms, gr_broker.cfg.producer_id_expiration_ms);
    return n;
}

int64_t gr_topics_max_producer_id(void)
{
    int64_t m = -1;
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        for (int32_t i = 0; i < t->npart; i++)
            m = GR_MAX(m, gr_log_max_producer_id(t->parts[i]->log));
    return m;
}

/* One log dir's shutdown syncfs, run on a helper lane. */
typedef struct dir_sync {
    int fd;
    int rc;                      /* 0 or -errno */
    int64_t ms;                  /* how long it took */
} dir_sync_t;

static void syncfs_work(void *arg)
{
    dir_sync_t *s = arg;
    int64_t t0 = gr_mono_ms();
    s->rc = gr_fio_syncfs(s->fd) == -1 ? -errno : 0;
    s->ms = gr_mono_ms() - t0;
}

static void syncfs_done(void *arg)
{
    GR_UNUSED(arg);
}

static void close_flush_cb(void *arg, int rc)
{
    bool *ok = arg;
    if (rc < 0)
        *ok = false;
}

void gr_topics_close(bool *clean)
{
    int nd = gr_broker.nlog_dirs, np = 0;
    bool *ok = gr_malloc((size_t)nd * sizeof(*ok));
    int *dirty = gr_calloc((size_t)nd, sizeof(*dirty));
    bool *bulk = gr_calloc((size_t)nd, sizeof(*bulk));
    dir_sync_t *ds = gr_calloc((size_t)nd, sizeof(*ds));
    for (int d = 0; d < nd; d++)
        ok[d] = true;
    dir_fds_open();
    /* flushes in flight finish first: a log in a syncfs dir has none */
    gr_ev_drain(gr_broker.ev);
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        for (int32_t i = 0; i < t->npart; i++, np++)
            /* unflushed data, or a producer snapshot to write at the log
             * end (a new file to make durable) */
            if (gr_log_unflushed(t->parts[i]->log) || gr_log_snapshot_due(t->parts[i]->log))
                dirty[t->parts[i]->log_dir]++;
    for (int d = 0; d < nd; d++)
        bulk[d] = dirty[d] > GR_SYNCFS_MIN_PARTS && dir_fds[d] >= 0;
    /* [partition, in iteration order] -> end offset the syncfs covers, -1
     * when the log is flushed on its own; gr_log_close fsyncs whatever a
     * flush left, so the recovery points written below are true */
    int64_t *upto = gr_malloc((size_t)(np ? np : 1) * sizeof(*upto));
    int k = 0;
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        for (int32_t i = 0; i < t->npart; i++, k++) {
            gr_partition_t *p = t->parts[i];
            if (!bulk[p->log_dir] || gr_log_sync_prepare(p->log, &upto[k]) < 0) {
                upto[k] = -1;
                gr_log_flush(p->log, gr_log_end_offset(p->log), close_flush_cb, &ok[p->log_dir]);
            }
        }
    for (int d = 0; d < nd; d++) {
        if (!bulk[d])
            continue;
        ds[d].fd = dir_fds[d];
        gr_ev_submit(gr_broker.ev, d % GR_EV_DIR_LANES, syncfs_work, syncfs_done, &ds[d]);
    }
    gr_ev_drain(gr_broker.ev);
    for (int d = 0; d < nd; d++) {
        if (!bulk[d])
            continue;
        if (ds[d].rc < 0) {
            ok[d] = false;
            gr_error("topic", "syncfs of log dir %s failed: %s; its recovery points stay where they were and it "
                     "gets no clean shutdown marker: the next start recovers its %d partitions with unflushed "
                     "data", gr_broker.log_dirs[d], strerror(-ds[d].rc), dirty[d]);
        } else {
            gr_info("topic", "Synced log dir %s (%d partitions with unflushed data) with one syncfs in %lld ms",
                    gr_broker.log_dirs[d], dirty[d], (long long)ds[d].ms);
        }
    }
    k = 0;
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        for (int32_t i = 0; i < t->npart; i++, k++)
            if (upto[k] >= 0)
                gr_log_sync_done(t->parts[i]->log, upto[k], ds[t->parts[i]->log_dir].rc);
    gr_topics_checkpoint();
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &table);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        gr_topic_t *t = GR_CONTAINER(n, gr_topic_t, node);
        for (int32_t i = 0; i < t->npart; i++) {
            int d = t->parts[i]->log_dir;
            if (partition_free(t->parts[i], false) < 0)
                ok[d] = false;
        }
        topic_free(t);
    }
    /* flush jobs of logs closed meanwhile end here */
    gr_ev_drain(gr_broker.ev);
    if (clean)
        memcpy(clean, ok, (size_t)nd * sizeof(*ok));
    for (int d = 0; d < nd; d++)
        if (dir_fds[d] != -1)
            close(dir_fds[d]);
    free(dir_fds);
    dir_fds = NULL;
    free(upto);
    free(ds);
    free(bulk);
    free(dirty);
    free(ok);
    gr_hmap_free(&table);
    free(dir_parts);
    dir_parts = NULL;
    if (ckpt_dirs) {
        for (int d = 0; d < nd; d++)
            pthread_mutex_destroy(&ckpt_dirs[d].mu);
        free(ckpt_dirs);
        ckpt_dirs = NULL;
    }
}
