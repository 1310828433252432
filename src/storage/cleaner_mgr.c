/*
 * cleaner_mgr.c - schedules the log cleaner (Kafka's LogCleanerManager)
 * and owns the cleaner-offset-checkpoint file of each log dir.
 *
 * Driven by its own timer (main.c, every log.cleaner.backoff.ms): when no pass is
 * running, the compacted log with the highest dirty ratio that needs
 * cleaning gets a pass (gr_log_clean decides, see log.c); one pass at a
 * time in the whole broker, like Kafka's default log.cleaner.threads=1.
 * When nothing needs cleaning it waits log.cleaner.backoff.ms (the tick
 * itself may be coarser).
 *
 * cleaner-offset-checkpoint, in Kafka's checkpoint text format (drawn in
 * checkpoint.c): one line "topic partition offset" per compacted
 * partition of that dir, the offset being the cleaner checkpoint (first
 * dirty offset).  Rewritten after every pass, on the metadata helper lane
 * (its fsync never holds the loop); a missing or stale file only means
 * more of the log is treated as dirty.
 */
#include "cleaner.h"
#include "broker.h"
#include "checkpoint.h"
#include "topic.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAP_BYTES ((size_t)128 << 20)    /* log.cleaner.dedupe.buffer.size */

static bool loaded;
static bool busy;
static int64_t idle_until;

static void load_checkpoints(void)
{
    char path[PATH_MAX];
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        gr_ckpt_entry_t *e = NULL;
        size_t n = 0;
        snprintf(path, sizeof(path), "%s/cleaner-offset-checkpoint", gr_broker.log_dirs[d]);
        if (gr_ckpt_read(path, &e, &n) < 0)
            gr_warn("cleaner", "cannot read %s: cleaning those logs from their start", path);
        for (size_t i = 0; i < n; i++) {
            gr_topic_t *t = gr_topic_find(e[i].topic, strlen(e[i].topic));
            gr_partition_t *p = t ? gr_partition_get(t, e[i].partition) : NULL;
            if (p && p->log_dir == d)
                gr_log_set_clean_offset(p->log, e[i].offset);
        }
        free(e);
    }
}

/* One log dir's cleaner-offset-checkpoint, taken on the loop, written
 * where the caller says. */
typedef struct clean_ckpt {
    char path[PATH_MAX];
    gr_ckpt_entry_t *e;
    size_t n;
} clean_ckpt_t;

static clean_ckpt_t *clean_ckpt_take(int d)
{
    clean_ckpt_t *c = gr_calloc(1, sizeof(*c));
    size_t cap = 0;
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        for (int32_t i = 0; i < t->npart; i++) {
            gr_partition_t *p = t->parts[i];
            if (p->log_dir != d || !gr_log_compacted(p->log))
                continue;
            if (c->n == cap) {
                cap = cap ? cap * 2 : 16;
                c->e = gr_realloc(c->e, cap * sizeof(*c->e));
            }
            snprintf(c->e[c->n].topic, sizeof(c->e[c->n].topic), "%s", t->name);
            c->e[c->n].partition = i;
            c->e[c->n].offset = gr_log_clean_offset(p->log);
            c->n++;
        }
    snprintf(c->path, sizeof(c->path), "%s/cleaner-offset-checkpoint", gr_broker.log_dirs[d]);
    return c;
}

static void clean_ckpt_write(void *arg)
{
    clean_ckpt_t *c = arg;
    if (gr_ckpt_write(c->path, c->e, c->n) < 0)
        gr_error("cleaner", "cannot write %s", c->path);
}

static void clean_ckpt_free(void *arg)
{
    clean_ckpt_t *c = arg;
    free(c->e);
    free(c);
}

void gr_cleaner_checkpoint(bool async)
{
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        clean_ckpt_t *c = clean_ckpt_take(d);
        if (async) {
            /* the metadata lane keeps the writes in order, off the loop */
            gr_ev_submit(gr_broker.ev, GR_EV_LANE_META, clean_ckpt_write, clean_ckpt_free, c);
        } else {
            clean_ckpt_write(c);
            clean_ckpt_free(c);
        }
    }
}

static void pass_done(void *arg, int rc, const gr_clean_stats_t *st)
{
    GR_UNUSED(arg);
    GR_UNUSED(st);
    busy = false;
    if (rc == 0)
        gr_cleaner_checkpoint(true);
    else if (rc != GR_AGAIN)
        idle_until = gr_add_sat(gr_now_ms(), gr_broker.cfg.log_cleaner_backoff_ms);   /* do not spin on a failing log */
}

static bool try_clean(gr_log_t *log, int64_t now_ms)
{
    busy = true;                /* before: the pass may finish synchronously */
    if (gr_log_clean(log, now_ms, MAP_BYTES, pass_done, NULL) == 0)
        return true;
    busy = false;
    return false;
}

void gr_cleaner_tick(int64_t now_ms)
{
    if (!gr_broker.cfg.log_cleaner_enable)
        return;
    if (!loaded) {
        load_checkpoints();
        loaded = true;
        gr_cleaner_checkpoint(false);        /* drops entries of deleted topics */
    }
    if (busy || now_ms < idle_until)
        return;
    /* the dirtiest log first, then any that needs a pass for its tombstones */
    gr_log_t *best = NULL;
    double best_ratio = -1;
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        for (int32_t i = 0; i < t->npart; i++) {
            gr_log_t *log = t->parts[i]->log;
            if (!gr_log_compacted(log))
                continue;
            double r = gr_log_dirty_ratio(log, now_ms);
            if (r > best_ratio) {
                best_ratio = r;
                best = log;
            }
        }
    if (best && try_clean(best, now_ms))
        return;
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        for (int32_t i = 0; i < t->npart; i++) {
            gr_log_t *log = t->parts[i]->log;
            if (log != best && gr_log_compacted(log) && try_clean(log, now_ms))
                return;
        }
    idle_until = gr_add_sat(now_ms, gr_broker.cfg.log_cleaner_backoff_ms);
}
