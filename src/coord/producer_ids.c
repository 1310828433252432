/*
 * producer_ids.c - producer id blocks (see producer_ids.h).
 *
 * Kafka keeps the latest block in ZooKeeper (/latest_producer_id_block)
 * or, with KRaft, in the metadata log; this broker has neither, so the
 * block is a file in the first log dir, in the ZooKeeper node's JSON:
 *
 *   {"version":1,"broker":<node.id>,"block_start":"<first id>","block_end":"<last id>"}
 *
 * written with gr_file_write_atomic (tmp file, fsync, rename, fsync of the
 * dir), so after a crash it holds either the old or the new block, whole.
 * A block is recorded before its first id is handed out, so every id ever
 * handed out is at most the recorded block_end, and a restart continues
 * at block_end + 1: ids are never reused, whatever the crash.  The ids of
 * a block not used up before a restart are skipped (2^63 ids: harmless).
 *
 * As a second guard (a log dir replaced, the file deleted), the first block
 * after a restart also starts above every producer id found in the
 * partitions' producer state.
 */
#include "producer_ids.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
    int64_t first;                  /* first id */
    int64_t next;                   /* next id to hand out */
    int64_t last;                   /* last id (inclusive) */
    bool valid;
} block_t;

static struct {
    char *path;                     /* the block file */
    int32_t broker;
    gr_ev_t *ev;
    block_t cur, pending;           /* pending: recorded, not yet used */
    int64_t recorded_last;          /* block_end of the last block recorded */
    bool in_flight;                 /* a block is being recorded */
    int64_t retry_after_ms;         /* after a failed recording (mono) */
} P;

typedef struct job {
    char *path;
    char json[160];
    block_t b;
    int rc;
} job_t;

static void job_format(job_t *j, int32_t broker, const block_t *b)
{
    snprintf(j->json, sizeof(j->json),
             "{\"version\":1,\"broker\":%" PRId32 ",\"block_start\":\"%" PRId64 "\",\"block_end\":\"%" PRId64 "\"}",
             broker, b->first, b->last);
}

static void job_work(void *arg)
{
    job_t *j = arg;
    j->rc = gr_file_write_atomic(j->path, j->json, strlen(j->json));
}

static void job_done(void *arg)
{
    job_t *j = arg;
    P.in_flight = false;
    if (P.path && j->rc == 0) {
        P.pending = j->b;
        gr_info("pids", "Recorded producer id block %" PRId64 "..%" PRId64, j->b.first, j->b.last);
    } else if (P.path) {
        P.recorded_last = GR_MAX(P.recorded_last, j->b.last);      /* may be on disk: never reuse */
        P.retry_after_ms = gr_mono_ms() + 50;
        gr_error("pids", "Cannot record producer id block %" PRId64 "..%" PRId64 " in %s: %s", j->b.first,
                 j->b.last, j->path, strerror(-j->rc));
    }
    free(j->path);
    free(j);
}

/* The block after everything recorded so far. */
static int next_block(block_t *b)
{
    if (P.recorded_last > INT64_MAX - GR_PID_BLOCK_SIZE)
        return GR_ERANGE;                   /* Kafka: "Have exhausted all producerIds." */
    b->first = b->next = P.recorded_last + 1;
    b->last = b->first + GR_PID_BLOCK_SIZE - 1;
    b->valid = true;
    return 0;
}

/* Record the next block: off the loop when there is one. */
static void request_block(void)
{
    if (P.in_flight || P.pending.valid || gr_mono_ms() < P.retry_after_ms)
        return;
    job_t *j = gr_calloc(1, sizeof(*j));
    if (next_block(&j->b) < 0) {
        free(j);
        return;
    }
    j->path = gr_strdup(P.path);
    job_format(j, P.broker, &j->b);
    P.recorded_last = j->b.last;
    P.in_flight = true;
    if (P.ev) {
        gr_ev_submit(P.ev, 0, job_work, job_done, j);
    } else {
        job_work(j);
        job_done(j);
    }
}

/* "<key>":"<digits>" or "<key>":<digits> in a small JSON object. */
static int json_i64(const char *s, const char *key, int64_t *out)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\"", key);
    const char *p = strstr(s, pat);
    if (!p)
        return GR_ECORRUPT;
    p += strlen(pat);
    while (*p == ' ' || *p == ':' || *p == '"')
        p++;
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno)
        return GR_ECORRUPT;
    *out = v;
    return 0;
}

int gr_pids_init(const char *dir, int32_t broker_id, int64_t min_next, gr_ev_t *ev)
{
    char path[PATH_MAX];
    char *text = NULL;
    size_t len;
    int rc;
    gr_pids_reset();
    if (snprintf(path, sizeof(path), "%s/%s", dir, GR_PID_BLOCK_FILE) >= (int)sizeof(path))
        return GR_EINVAL;
    P.path = gr_strdup(path);
    P.broker = broker_id;
    P.recorded_last = -1;
    rc = gr_file_read_all(path, &text, &len);
    if (rc == 0) {
        int64_t version, start, end;
        if (json_i64(text, "version", &version) < 0 || version != 1 || json_i64(text, "block_start", &start) < 0 ||
            json_i64(text, "block_end", &end) < 0 || start < 0 || end < start) {
            gr_error("pids", "Cannot parse the producer id block in %s (%s): producer ids could be handed out "
                     "twice; remove the file to start over from the largest id in the partitions' state", path,
                     text);
            free(text);
            gr_pids_reset();
            return GR_ECORRUPT;
        }
        P.recorded_last = end;
        free(text);
    } else if (rc != GR_ENOENT) {
        gr_error("pids", "Cannot read %s: %s", path, strerror(-rc));
        gr_pids_reset();
        return rc;
    }
    if (min_next - 1 > P.recorded_last)
        P.recorded_last = min_next - 1;
    /* the first block, recorded before the broker serves */
    P.ev = NULL;
    request_block();
    P.ev = ev;
    if (!P.pending.valid) {
        gr_pids_reset();
        return GR_EIO;
    }
    P.cur = P.pending;
    P.pending.valid = false;
    return 0;
}

int gr_pids_next(int64_t *pid)
{
    if (P.path == NULL)
        return GR_AGAIN;
    for (int i = 0; i < 2; i++) {
        if (P.cur.valid && P.cur.next <= P.cur.last) {
            *pid = P.cur.next++;
            /* at 90% of the block, record the next one */
            if (*pid == P.cur.first + GR_PID_BLOCK_SIZE * 9 / 10)
                request_block();
            return 0;
        }
        if (!P.pending.valid)
            break;
        P.cur = P.pending;
        P.pending.valid = false;
    }
    request_block();
    return GR_AGAIN;
}

void gr_pids_reset(void)
{
    free(P.path);
    memset(&P, 0, sizeof(P));
}
