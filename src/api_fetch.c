/*
 * api_fetch.c - Fetch (key 1), versions 0-12.
 *
 * Record data is never copied: each partition's answer is a file range of
 * a segment (gr_log_read) that the output chain sends with sendfile(2),
 * batches exactly as stored.
 *
 * Long polling: when less than MinBytes is available and MaxWaitMs > 0,
 * the request parks.  Its state (a copy of what it asked for, in the
 * request arena) registers a gr_pwait_t on every partition it reads and
 * arms a timer; an append to any of them re-evaluates the fetch at once,
 * and the timer answers with whatever is there.  No polling, no threads.
 */
#include "api_util.h"
#include "broker.h"
#include "kerr.h"

#include <string.h>

typedef struct fpart {
    int32_t partition;
    int32_t current_leader_epoch;
    int64_t fetch_offset;
    int32_t max_bytes;
    gr_pwait_t wait;
    struct fetch_state *fs;
} fpart_t;

typedef struct ftopic {
    gr_str_t name;                /* arena copy */
    int32_t nparts;
    fpart_t *parts;
} ftopic_t;

typedef struct fetch_state {
    gr_req_t *req;
    int32_t min_bytes;
    int32_t max_bytes;
    int8_t isolation_level;
    int32_t ntopics;
    ftopic_t *topics;
    gr_timer_t timer;
    bool parked;
} fetch_state_t;

static const uint8_t empty_records[1];

/* Build the response for the current log state; returns bytes of data. */
static int64_t fetch_build(fetch_state_t *fs, gr_FetchResponse_t *resp, bool *any_error)
{
    gr_req_t *req = fs->req;
    int64_t total = 0;
    int32_t budget = fs->max_bytes;
    bool first_data = true;
    gr_FetchResponse_init(resp);
    resp->Responses = GR_ARENA_ARRAY(req, gr_FetchResponse_FetchableTopicResponse_t, fs->ntopics,
                                     gr_FetchResponse_FetchableTopicResponse_init);
    resp->Responses_count = fs->ntopics;
    for (int32_t i = 0; i < fs->ntopics; i++) {
        ftopic_t *ft = &fs->topics[i];
        gr_FetchResponse_FetchableTopicResponse_t *tr = &resp->Responses[i];
        tr->Topic = ft->name;
        tr->Partitions = GR_ARENA_ARRAY(req, gr_FetchResponse_PartitionData_t, ft->nparts,
                                        gr_FetchResponse_PartitionData_init);
        tr->Partitions_count = ft->nparts;
        gr_topic_t *t = ft->name.len > 0 ? gr_topic_find(ft->name.p, (size_t)ft->name.len) : NULL;
        for (int32_t j = 0; j < ft->nparts; j++) {
            fpart_t *fp = &ft->parts[j];
            gr_FetchResponse_PartitionData_t *pd = &tr->Partitions[j];
            pd->PartitionIndex = fp->partition;
            pd->Records = (gr_records_t){0, empty_records, NULL, 0};
            pd->AbortedTransactions_count = fs->isolation_level ? 0 : -1;
            gr_partition_t *p = t ? gr_partition_get(t, fp->partition) : NULL;
            if (!p) {
                pd->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                pd->HighWatermark = -1;
                *any_error = true;
                continue;
            }
            pd->HighWatermark = p->high_watermark;
            pd->LastStableOffset = p->last_stable_offset;
            pd->LogStartOffset = gr_log_start_offset(p->log);
            if (fp->current_leader_epoch >= 0 && fp->current_leader_epoch != p->leader_epoch) {
                pd->ErrorCode = fp->current_leader_epoch < p->leader_epoch ? KERR_FENCED_LEADER_EPOCH
                                                                           : KERR_UNKNOWN_LEADER_EPOCH;
                *any_error = true;
                continue;
            }
            int64_t upper = fs->isolation_level ? p->last_stable_offset : p->high_watermark;
            int32_t mb = GR_MIN(fp->max_bytes, budget);
            if (mb < 0)
                mb = 0;
            gr_log_slice_t sl = {0};
            int rc = gr_log_read(p->log, fp->fetch_offset, mb, upper, first_data, &sl);
            if (rc == GR_ERANGE) {
                pd->ErrorCode = KERR_OFFSET_OUT_OF_RANGE;
                *any_error = true;
                continue;
            }
            if (rc < 0) {
                pd->ErrorCode = KERR_KAFKA_STORAGE_ERROR;
                *any_error = true;
                continue;
            }
            if (sl.len > 0) {
                pd->Records = (gr_records_t){sl.len, NULL, sl.file, sl.pos};
                total += sl.len;
                budget -= sl.len;
                first_data = false;
            }
        }
    }
    return total;
}

/* Nothing to answer yet: every partition exists, its leader epoch matches
 * and the fetch offset is at the end of what it may read.  Cheaper than
 * fetch_build (no response), which matters for sessionless fetches of
 * thousands of idle partitions. */
static bool fetch_idle(const fetch_state_t *fs)
{
    for (int32_t i = 0; i < fs->ntopics; i++) {
        const ftopic_t *ft = &fs->topics[i];
        gr_topic_t *t = ft->name.len > 0 ? gr_topic_find(ft->name.p, (size_t)ft->name.len) : NULL;
        if (t == NULL)
            return false;
        for (int32_t j = 0; j < ft->nparts; j++) {
            const fpart_t *fp = &ft->parts[j];
            gr_partition_t *p = gr_partition_get(t, fp->partition);
            if (p == NULL || (fp->current_leader_epoch >= 0 && fp->current_leader_epoch != p->leader_epoch))
                return false;
            int64_t upper = fs->isolation_level ? p->last_stable_offset : p->high_watermark;
            gr_log_slice_t sl;
            if (fp->fetch_offset != upper || gr_log_read(p->log, fp->fetch_offset, 0, upper, false, &sl) != 0 ||
                sl.len > 0)
                return false;
        }
    }
    return true;
}

static void fetch_unpark(fetch_state_t *fs)
{
    for (int32_t i = 0; i < fs->ntopics; i++)
        for (int32_t j = 0; j < fs->topics[i].nparts; j++)
            gr_pwait_remove(&fs->topics[i].parts[j].wait);
    if (fs->parked)
        gr_timer_stop(gr_broker.ev, &fs->timer);
    fs->parked = false;
}

static void fetch_respond(fetch_state_t *fs, gr_FetchResponse_t *resp)
{
    gr_req_t *req = fs->req;
    fetch_unpark(fs);
    req->on_cancel = NULL;
    req->park = NULL;
    GR_RESPOND(req, FetchResponse, resp);
}

/* Evaluate: answer if satisfied (or forced), else stay parked. */
static void fetch_eval(fetch_state_t *fs, bool force)
{
    gr_FetchResponse_t resp;
    bool any_error = false;
    int64_t n = fetch_build(fs, &resp, &any_error);
    if (force || any_error || n >= fs->min_bytes || n >= fs->max_bytes) {
        fetch_respond(fs, &resp);
        return;
    }
    /* the response built above stays in the arena until the request ends;
     * re-evaluations are rare (one per append) and bounded by max wait */
}

static void on_append(gr_pwait_t *w)
{
    fpart_t *fp = w->arg;
    fetch_eval(fp->fs, false);
}

static void on_timeout(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    fetch_state_t *fs = arg;
    fs->parked = false;            /* timer already fired */
    fetch_eval(fs, true);
}

static void on_cancel(gr_req_t *req)
{
    fetch_state_t *fs = req->park;
    fetch_unpark(fs);
    req->park = NULL;
}

void gr_api_fetch(gr_req_t *req, gr_rd_t *body)
{
    gr_FetchRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, FetchRequest, &r);

    if (req->api_version >= 7 && (r.SessionId != 0 || r.SessionEpoch > 0)) {
        /* no incremental fetch sessions: the client falls back to full fetches */
        gr_FetchResponse_t resp;
        gr_FetchResponse_init(&resp);
        resp.ErrorCode = r.SessionId != 0 ? KERR_FETCH_SESSION_ID_NOT_FOUND : KERR_INVALID_FETCH_SESSION_EPOCH;
        resp.Responses_count = 0;
        GR_RESPOND(req, FetchResponse, &resp);
        return;
    }

    fetch_state_t *fs = gr_arena_calloc(&req->arena, 1, sizeof(*fs));
    fs->req = req;
    fs->min_bytes = r.MinBytes;
    fs->max_bytes = req->api_version >= 3 ? r.MaxBytes : INT32_MAX;
    if (fs->max_bytes <= 0)
        fs->max_bytes = INT32_MAX;
    fs->isolation_level = r.IsolationLevel;
    fs->ntopics = r.Topics_count > 0 ? r.Topics_count : 0;
    fs->topics = gr_arena_calloc(&req->arena, (size_t)GR_MAX(fs->ntopics, 1), sizeof(ftopic_t));
    for (int32_t i = 0; i < fs->ntopics; i++) {
        const gr_FetchRequest_FetchTopic_t *ft = &r.Topics[i];
        ftopic_t *t = &fs->topics[i];
        t->name = gr_str_keep(req, ft->Topic);
        t->nparts = ft->Partitions_count > 0 ? ft->Partitions_count : 0;
        t->parts = gr_arena_calloc(&req->arena, (size_t)GR_MAX(t->nparts, 1), sizeof(fpart_t));
        for (int32_t j = 0; j < t->nparts; j++) {
            const gr_FetchRequest_FetchPartition_t *p = &ft->Partitions[j];
            fpart_t *fp = &t->parts[j];
            fp->partition = p->Partition;
            fp->current_leader_epoch = p->CurrentLeaderEpoch;
            fp->fetch_offset = p->FetchOffset;
            fp->max_bytes = p->PartitionMaxBytes;
            fp->fs = fs;
            fp->wait.cb = on_append;
            fp->wait.arg = fp;
        }
    }

    gr_FetchResponse_t resp;
    bool any_error = false;
    bool idle = r.MaxWaitMs > 0 && fs->min_bytes > 0 && fs->ntopics > 0 && fetch_idle(fs);
    int64_t n = idle ? 0 : fetch_build(fs, &resp, &any_error);
    if (!idle &&
        (r.MaxWaitMs <= 0 || any_error || n >= fs->min_bytes || n >= fs->max_bytes || fs->ntopics == 0)) {
        GR_RESPOND(req, FetchResponse, &resp);
        return;
    }
    /* park until an append or the timeout */
    for (int32_t i = 0; i < fs->ntopics; i++) {
        gr_topic_t *t = gr_topic_find(fs->topics[i].name.p, (size_t)fs->topics[i].name.len);
        for (int32_t j = 0; j < fs->topics[i].nparts; j++) {
            gr_partition_t *p = t ? gr_partition_get(t, fs->topics[i].parts[j].partition) : NULL;
            if (p)
                gr_pwait_add(p, &fs->topics[i].parts[j].wait);
        }
    }
    gr_timer_init(&fs->timer, on_timeout, fs);
    gr_timer_start(gr_broker.ev, &fs->timer, r.MaxWaitMs);
    fs->parked = true;
    req->park = fs;
    req->on_cancel = on_cancel;
}
