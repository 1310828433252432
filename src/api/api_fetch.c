/*
 * api_fetch.c - Fetch (key 1), versions 0-17, with KIP-227 incremental
 * fetch sessions (v7+; state in fetch_session.c).
 *
 * Versions: v13+ name topics by id (KIP-516): an id no topic has is
 * UNKNOWN_TOPIC_ID, so a fetcher of a topic deleted and created again
 * under its name notices (by name it would read the new topic); a session
 * is made by ids or by names and stays so (FETCH_SESSION_TOPIC_ID_ERROR
 * for a request of the other kind).  v12+ LastFetchedEpoch is checked
 * against the leader epoch cache as Kafka's leader does (KIP-320): a
 * fetcher whose epoch ended before its fetch offset gets a DivergingEpoch
 * and no records.  Below v10 a topic whose compression.type is zstd gets
 * UNSUPPORTED_COMPRESSION_TYPE (KIP-110); v0-3 get their records
 * down-converted (fetch_downconvert, downconv.c).  v16+ (KIP-951) names the leader in CurrentLeader and
 * NodeEndpoints when a fetch is fenced.  v0-5 get NOT_LEADER_OR_FOLLOWER
 * for KAFKA_STORAGE_ERROR, which they do not know.
 *
 * Record data is never copied: each partition's answer is a file range of
 * a segment (gr_log_read) that the output chain sends with sendfile(2),
 * batches exactly as stored.
 *
 * Long polling: when less than MinBytes is available and MaxWaitMs > 0
 * (capped by request.timeout.ms: the client's own request timeout ends a
 * longer wait anyway, and a wait must not hold broker resources for days),
 * the request parks.  Its state (a copy of what it asked for, in the
 * request arena) registers a gr_pwait_t on every partition it reads and
 * arms a timer; an append to any of them re-evaluates the fetch at once,
 * and the timer answers with whatever is there.  No polling, no threads.
 *
 * Sessions, as Kafka's FetchManager.newContext decides:
 *
 *   SessionId  SessionEpoch  what happens
 *   ---------  ------------  ------------------------------------------------
 *   any        -1 (FINAL)    close the named session; sessionless full fetch
 *   any         0 (INITIAL)  close the named session; full fetch; at answer
 *                            time a session is made of its partitions
 *                            (SessionId 0 in the answer when the cache is full)
 *   0          >0            FETCH_SESSION_ID_NOT_FOUND
 *   unknown    >0            FETCH_SESSION_ID_NOT_FOUND
 *   known      != expected   INVALID_FETCH_SESSION_EPOCH
 *   known      == expected   incremental: Topics add/update cached partitions,
 *                            ForgottenTopicsData removes them; an emptied
 *                            session is closed and the request answered
 *                            sessionless; else the epoch advances
 *
 * The sessionless path is the one real clients (librdkafka, kafkajs,
 * kafka-python, sarama) use and is unchanged by sessions.  An incremental
 * fetch reads only the session's pending partitions (fetch_session.h): the
 * ones named in the request and the ones whose partition fired its waiters
 * (append, gr_partition_notify, deletion).  A pending partition leaves the
 * list once it has no error and nothing left to read at its cached fetch
 * offset, so data held back by the response budget is read again next time.
 * A partition is in the answer when Kafka's
 * CachedPartition.maybeUpdateResponseData says so: records, a high
 * watermark or log start offset unlike the last one reported, or an error
 * (which also resets the reported high watermark to -1, so recovery shows).
 * A partition that was unknown (deleted, or not created yet) is looked up
 * again each time it is read, so CreatePartitions or a topic created again
 * under the name serves it without the client naming it again.  A
 * partition that returned records moves to the end of the pending list,
 * so one busy partition cannot take every response's budget.
 * A parked incremental fetch registers nothing per partition: the session's
 * permanent waiters wake it through its parker.
 *
 * READ_COMMITTED (IsolationLevel 1) reads up to the last stable offset
 * instead of the high watermark and answers, for the records it returns,
 * the aborted transactions that overlap them (gr_log_collect_aborted, from
 * the .txnindex files), which clients use to drop aborted records; the
 * records themselves still go out with sendfile, exactly as stored.  The
 * list is read once, when the answer is sent, not at each re-evaluation of
 * a parked fetch.
 */
#include "api_util.h"
#include "broker.h"
#include "downconv.h"
#include "fetch_session.h"
#include "kerr.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

typedef struct fpart {
    int32_t partition;
    int32_t current_leader_epoch;
    int32_t last_fetched_epoch;   /* v12+, -1 = none */
    int64_t fetch_offset;
    int64_t slice_next;           /* the answer's records end here (aborted
                                   * transactions' upper bound) */
    int64_t log_start_offset;     /* the fetcher's (followers); kept in a session */
    int32_t max_bytes;
    gr_pwait_t wait;
    struct fetch_state *fs;
} fpart_t;

typedef struct ftopic {
    gr_str_t name;                /* arena copy (v0-12) */
    gr_uuid_t id;                 /* v13+: the topic by its id */
    bool by_id;
    int32_t nparts;
    fpart_t *parts;
} ftopic_t;

typedef struct fetch_state {
    gr_req_t *req;
    int16_t version;
    int32_t min_bytes;
    int32_t max_bytes;
    int8_t isolation_level;
    int32_t ntopics;
    ftopic_t *topics;
    gr_timer_t timer;
    bool parked;
    bool create_session;          /* SessionEpoch 0: make a session when answering */
} fetch_state_t;

static const uint8_t empty_records[1];

/* The aborted transactions of one partition's answer, in the arena. */
typedef struct aborted_acc {
    gr_arena_t *arena;
    gr_FetchResponse_AbortedTransaction_t *v;
    int32_t n, cap;
} aborted_acc_t;

static void aborted_add(void *arg, const gr_aborted_txn_t *t)
{
    aborted_acc_t *a = arg;
    if (a->n == a->cap) {
        int32_t cap = a->cap ? a->cap * 2 : 8;
        gr_FetchResponse_AbortedTransaction_t *v = gr_arena_alloc(a->arena, sizeof(*v) * (size_t)cap);
        if (a->n)
            memcpy(v, a->v, sizeof(*v) * (size_t)a->n);
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n].ProducerId = t->pid;
    a->v[a->n].FirstOffset = t->first_offset;
    a->n++;
}

/* READ_COMMITTED: the aborted transactions overlapping the records of pd
 * ([fetch_offset, next)).  A .txnindex that cannot be read fails the
 * partition (KAFKA_STORAGE_ERROR, no records). */
static void add_aborted(gr_req_t *req, gr_partition_t *p, int64_t fetch_offset, int64_t next,
                        gr_FetchResponse_PartitionData_t *pd)
{
    if (pd->Records.len <= 0 || next <= fetch_offset)
        return;
    aborted_acc_t a = {.arena = &req->arena};
    if (gr_log_collect_aborted(p->log, fetch_offset, next, aborted_add, &a) < 0) {
        pd->ErrorCode = KERR_KAFKA_STORAGE_ERROR;
        pd->Records = (gr_records_t){.len = 0, .mem = empty_records};
        pd->AbortedTransactions_count = 0;
        return;
    }
    pd->AbortedTransactions = a.v;
    pd->AbortedTransactions_count = a.n;
}

/* The wait a long poll gets: MaxWaitMs capped by request.timeout.ms. */
static int32_t max_wait_ms(int32_t asked)
{
    int32_t cap = gr_broker.cfg.request_timeout_ms;
    return cap > 0 && asked > cap ? cap : asked;
}

static gr_topic_t *ft_lookup(const ftopic_t *ft)
{
    if (ft->by_id)
        return gr_topic_find_id(&ft->id);
    return ft->name.len > 0 ? gr_topic_find(ft->name.p, (size_t)ft->name.len) : NULL;
}

/* One partition read now, as Kafka's Partition.fetchRecords: the leader
 * epoch fence, then (v12+, LastFetchedEpoch given) the divergence check
 * against the leader epoch cache, then the log.  Returns a Kafka error
 * code; on a divergence *div is set and nothing is read.  budget and
 * first_data carry the response's byte budget across partitions. */
static gr_kerr_t part_read(gr_partition_t *p, int32_t cur_epoch, int32_t last_epoch, int64_t offset,
                         int32_t part_max, int8_t isolation, int32_t *budget, bool *first_data,
                         gr_log_slice_t *sl, gr_FetchResponse_EpochEndOffset_t *div, bool *diverged)
{
    memset(sl, 0, sizeof(*sl));
    *diverged = false;
    if (cur_epoch >= 0 && cur_epoch != p->leader_epoch)
        return cur_epoch < p->leader_epoch ? KERR_FENCED_LEADER_EPOCH : KERR_UNKNOWN_LEADER_EPOCH;
    if (last_epoch >= 0) {
        int32_t e;
        int64_t end;
        gr_epochs_end_offset(&p->epochs, last_epoch, gr_log_end_offset(p->log), &e, &end);
        if (e < 0 || end < 0 || offset < gr_log_start_offset(p->log))
            return KERR_OFFSET_OUT_OF_RANGE;
        if (e < last_epoch || end < offset) {
            div->Epoch = e;
            div->EndOffset = end;
            *diverged = true;
            return KERR_NONE;
        }
    }
    int64_t upper = isolation ? p->last_stable_offset : p->high_watermark;
    int32_t mb = GR_MIN(part_max, *budget);
    if (mb < 0)
        mb = 0;
    int rc = gr_log_read(p->log, offset, mb, upper, *first_data, sl);
    if (rc == GR_ERANGE)
        return KERR_OFFSET_OUT_OF_RANGE;
    if (rc < 0)
        return KERR_KAFKA_STORAGE_ERROR;
    if (sl->len > 0) {
        *budget -= sl->len;
        *first_data = false;
    }
    return KERR_NONE;
}

/* Fields an error brings along: v16+ (KIP-951) names the current leader
 * when a fetch was fenced (this broker, at its epoch). */
static void part_error(gr_FetchResponse_PartitionData_t *pd, gr_partition_t *p, gr_kerr_t err)
{
    pd->ErrorCode = err;
    if (p && (err == KERR_FENCED_LEADER_EPOCH || err == KERR_NOT_LEADER_OR_FOLLOWER)) {
        pd->CurrentLeader.LeaderId = gr_broker.cfg.node_id;
        pd->CurrentLeader.LeaderEpoch = p->leader_epoch;
    }
}

/* A partition's answer replaced by an error, as Kafka's
 * FetchResponse.partitionResponse(tp, error) makes it. */
static void part_replace(gr_FetchResponse_PartitionData_t *pd, gr_kerr_t err)
{
    pd->ErrorCode = err;
    pd->HighWatermark = -1;
    pd->LastStableOffset = -1;
    pd->LogStartOffset = -1;
    pd->Records = (gr_records_t){.len = 0, .mem = empty_records};
}

/* The last touches of every answer, full or incremental: v16+ lists the
 * leaders named by CurrentLeader in NodeEndpoints; v0-5 clients know no
 * KAFKA_STORAGE_ERROR, so they get NOT_LEADER_OR_FOLLOWER (retriable),
 * as Kafka's maybeDownConvertStorageError does. */
static void fetch_finish(gr_req_t *req, gr_FetchResponse_t *resp)
{
    bool leader = false;
    if (req->api_version >= 4 && req->api_version < 10) {
        /* before v10 (KIP-110) a topic whose compression.type is zstd is
         * not served; v0-3 had this in fetch_downconvert */
        for (int32_t i = 0; i < resp->Responses_count; i++) {
            gr_str_t n = resp->Responses[i].Topic;
            gr_topic_t *t = n.len > 0 ? gr_topic_find(n.p, (size_t)n.len) : NULL;
            const char *ct = t ? gr_topic_get_config(t, "compression.type") : NULL;
            if (ct && !strcmp(ct, "zstd"))
                for (int32_t j = 0; j < resp->Responses[i].Partitions_count; j++)
                    part_replace(&resp->Responses[i].Partitions[j], KERR_UNSUPPORTED_COMPRESSION_TYPE);
        }
    }
    for (int32_t i = 0; i < resp->Responses_count; i++)
        for (int32_t j = 0; j < resp->Responses[i].Partitions_count; j++) {
            gr_FetchResponse_PartitionData_t *pd = &resp->Responses[i].Partitions[j];
            if (req->api_version <= 5 && pd->ErrorCode == KERR_KAFKA_STORAGE_ERROR)
                pd->ErrorCode = KERR_NOT_LEADER_OR_FOLLOWER;
            leader |= pd->CurrentLeader.LeaderId >= 0;
        }
    if (leader && req->api_version >= 16) {
        resp->NodeEndpoints = GR_ARENA_ARRAY(req, gr_FetchResponse_NodeEndpoint_t, 1, gr_FetchResponse_NodeEndpoint_init);
        resp->NodeEndpoints_count = 1;
        resp->NodeEndpoints[0].NodeId = gr_broker.cfg.node_id;
        resp->NodeEndpoints[0].Host = GR_STR(gr_broker.adv_host);
        resp->NodeEndpoints[0].Port = gr_broker.adv_port;
        resp->NodeEndpoints[0].Rack = GR_STR_NULL;
    }
}

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
        tr->TopicId = ft->id;
        tr->Partitions = GR_ARENA_ARRAY(req, gr_FetchResponse_PartitionData_t, ft->nparts,
                                        gr_FetchResponse_PartitionData_init);
        tr->Partitions_count = ft->nparts;
        gr_topic_t *t = ft_lookup(ft);
        for (int32_t j = 0; j < ft->nparts; j++) {
            fpart_t *fp = &ft->parts[j];
            gr_FetchResponse_PartitionData_t *pd = &tr->Partitions[j];
            pd->PartitionIndex = fp->partition;
            pd->Records = (gr_records_t){.len = 0, .mem = empty_records};
            pd->AbortedTransactions_count = fs->isolation_level ? 0 : -1;
            gr_partition_t *p = t ? gr_partition_get(t, fp->partition) : NULL;
            if (!p) {
                pd->ErrorCode = !t && ft->by_id ? KERR_UNKNOWN_TOPIC_ID : KERR_UNKNOWN_TOPIC_OR_PARTITION;
                pd->HighWatermark = -1;
                *any_error = true;
                continue;
            }
            pd->HighWatermark = p->high_watermark;
            pd->LastStableOffset = p->last_stable_offset;
            pd->LogStartOffset = gr_log_start_offset(p->log);
            gr_log_slice_t sl;
            bool diverged;
            gr_kerr_t err = part_read(p, fp->current_leader_epoch, fp->last_fetched_epoch, fp->fetch_offset,
                                    fp->max_bytes, fs->isolation_level, &budget, &first_data, &sl,
                                    &pd->DivergingEpoch, &diverged);
            if (err != KERR_NONE || diverged) {
                part_error(pd, p, err);
                *any_error = true;
                continue;
            }
            fp->slice_next = sl.next_offset;
            if (sl.len > 0) {
                pd->Records = (gr_records_t){.len = sl.len, .file = sl.file, .file_off = sl.pos};
                total += sl.len;
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
        gr_topic_t *t = ft_lookup(ft);
        if (t == NULL)
            return false;
        for (int32_t j = 0; j < ft->nparts; j++) {
            const fpart_t *fp = &ft->parts[j];
            gr_partition_t *p = gr_partition_get(t, fp->partition);
            if (p == NULL || (fp->current_leader_epoch >= 0 && fp->current_leader_epoch != p->leader_epoch) ||
                fp->last_fetched_epoch >= 0)
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

/* Add or update one partition of session s with what a request asked. */
/* The session key of a topic: its name, or in a session that uses topic
 * ids (v13+) the 16 bytes of its id. */
static gr_str_t topic_key(const gr_fsess_t *s, const gr_str_t *name, const gr_uuid_t *id)
{
    if (s->uses_ids)
        return (gr_str_t){(const char *)id->b, (int32_t)sizeof(id->b)};
    return *name;
}

static gr_fsess_part_t *session_put(gr_fsess_t *s, gr_str_t topic, int32_t partition, int64_t fetch_offset,
                                    int64_t log_start, int32_t max_bytes, int32_t leader_epoch,
                                    int32_t last_fetched_epoch)
{
    bool added;
    gr_fsess_part_t *cp = gr_fsess_put(s, topic.p, (size_t)GR_MAX(topic.len, 0), partition, &added);
    cp->fetch_offset = fetch_offset;
    cp->fetcher_log_start = log_start;
    cp->max_bytes = max_bytes;
    cp->current_leader_epoch = leader_epoch;
    cp->last_fetched_epoch = last_fetched_epoch;
    return cp;
}

/* A new session holding every partition of the full fetch `fs`, with what
 * `resp` reports as the last reported state.  Returns its id, or 0 when the
 * cache has no room. */
static int32_t session_create(fetch_state_t *fs, const gr_FetchResponse_t *resp)
{
    gr_fsess_t *s = gr_fsess_create(gr_mono_ms());
    if (s == NULL)
        return 0;
    s->uses_ids = fs->version >= 13;
    for (int32_t i = 0; i < fs->ntopics; i++) {
        const ftopic_t *ft = &fs->topics[i];
        const gr_FetchResponse_FetchableTopicResponse_t *tr = &resp->Responses[i];
        for (int32_t j = 0; j < ft->nparts; j++) {
            const fpart_t *fp = &ft->parts[j];
            const gr_FetchResponse_PartitionData_t *pd = &tr->Partitions[j];
            gr_fsess_part_t *cp = session_put(s, topic_key(s, &ft->name, &ft->id), fp->partition, fp->fetch_offset,
                                              fp->log_start_offset, fp->max_bytes, fp->current_leader_epoch,
                                              fp->last_fetched_epoch);
            cp->high_watermark = pd->ErrorCode != KERR_NONE ? -1 : pd->HighWatermark;
            cp->log_start_offset = pd->LogStartOffset;
            /* pending stays only for an error or data not read yet */
            gr_partition_t *p = cp->p;
            if (pd->ErrorCode == KERR_NONE && p &&
                cp->fetch_offset >= (fs->isolation_level ? p->last_stable_offset : p->high_watermark))
                gr_fsess_unpend(cp);
        }
    }
    return s->id;
}

/* Fetch v0-3 (Kafka's maybeConvertFetchedData): the clients read magic 0
 * (v0-1) or 1 (v2-3) message sets, the log holds v2 batches.  For each
 * partition of an existing topic: a topic whose compression.type is zstd
 * is not served below v10 (UNSUPPORTED_COMPRESSION_TYPE), a topic with
 * message.downconversion.enable=false answers UNSUPPORTED_VERSION, and
 * records are handed to the output chain as a lazy down-conversion
 * (downconv.c), whose first batch is converted here. */
static void fetch_downconvert(fetch_state_t *fs, gr_FetchResponse_t *resp)
{
    int8_t magic = fs->version <= 1 ? 0 : 1;
    for (int32_t i = 0; i < resp->Responses_count; i++) {
        gr_topic_t *t = ft_lookup(&fs->topics[i]);
        if (!t)
            continue;
        const char *ct = gr_topic_get_config(t, "compression.type");
        bool zstd = ct && !strcmp(ct, "zstd");
        bool enabled = gr_config_downconversion(&gr_broker.cfg, t->configs);
        for (int32_t j = 0; j < resp->Responses[i].Partitions_count; j++) {
            gr_FetchResponse_PartitionData_t *pd = &resp->Responses[i].Partitions[j];
            if (zstd || !enabled) {
                part_replace(pd, zstd ? KERR_UNSUPPORTED_COMPRESSION_TYPE : KERR_UNSUPPORTED_VERSION);
                continue;
            }
            if (!pd->Records.file || pd->Records.len <= 0)
                continue;
            gr_downconv_t *dc;
            int32_t size;
            int rc = gr_downconv_open(pd->Records.file, pd->Records.file_off, pd->Records.len, magic,
                                      fs->topics[i].parts[j].fetch_offset, &dc, &size);
            if (rc < 0) {
                part_replace(pd, rc == GR_EINVAL  ? KERR_UNSUPPORTED_COMPRESSION_TYPE
                                 : rc == GR_EIO   ? KERR_KAFKA_STORAGE_ERROR
                                                  : KERR_CORRUPT_MESSAGE);
                continue;
            }
            pd->Records = dc ? (gr_records_t){.len = size, .lazy = &gr_downconv_ops, .lazy_src = dc}
                             : (gr_records_t){.len = 0, .mem = empty_records};
        }
    }
}

/* Queue the answer; with SessionEpoch 0 a session is made of it first. */
static void fetch_answer(fetch_state_t *fs, gr_FetchResponse_t *resp)
{
    if (fs->isolation_level) {
        for (int32_t i = 0; i < fs->ntopics; i++) {
            gr_topic_t *t = NULL;
            for (int32_t j = 0; j < fs->topics[i].nparts; j++) {
                gr_FetchResponse_PartitionData_t *pd = &resp->Responses[i].Partitions[j];
                if (pd->Records.len <= 0)
                    continue;
                if (!t)
                    t = gr_topic_find(fs->topics[i].name.p, (size_t)fs->topics[i].name.len);
                gr_partition_t *p = t ? gr_partition_get(t, fs->topics[i].parts[j].partition) : NULL;
                if (p)
                    add_aborted(fs->req, p, fs->topics[i].parts[j].fetch_offset, fs->topics[i].parts[j].slice_next,
                                pd);
            }
        }
    }
    if (fs->create_session)
        resp->SessionId = session_create(fs, resp);
    if (fs->version <= 3)
        fetch_downconvert(fs, resp);
    fetch_finish(fs->req, resp);
    gr_metrics_fetch_response(resp);
    GR_RESPOND(fs->req, FetchResponse, resp);
}

static void fetch_respond(fetch_state_t *fs, gr_FetchResponse_t *resp)
{
    gr_req_t *req = fs->req;
    fetch_unpark(fs);
    req->on_cancel = NULL;
    req->park = NULL;
    fetch_answer(fs, resp);
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

/* A full fetch of the request's partitions: sessionless, or (create) the
 * first fetch of a new session. */
static void fetch_full(gr_req_t *req, const gr_FetchRequest_t *rq, bool create)
{
    gr_FetchRequest_t r = *rq;
    fetch_state_t *fs = gr_arena_calloc(&req->arena, 1, sizeof(*fs));
    fs->req = req;
    fs->version = req->api_version;
    fs->min_bytes = r.MinBytes;
    fs->max_bytes = req->api_version >= 3 ? r.MaxBytes : INT32_MAX;
    if (fs->max_bytes <= 0)
        fs->max_bytes = INT32_MAX;
    fs->isolation_level = r.IsolationLevel;
    fs->create_session = create;
    fs->ntopics = r.Topics_count > 0 ? r.Topics_count : 0;
    fs->topics = gr_arena_calloc(&req->arena, (size_t)GR_MAX(fs->ntopics, 1), sizeof(ftopic_t));
    for (int32_t i = 0; i < fs->ntopics; i++) {
        const gr_FetchRequest_FetchTopic_t *ft = &r.Topics[i];
        ftopic_t *t = &fs->topics[i];
        t->by_id = req->api_version >= 13;
        t->id = ft->TopicId;
        t->name = t->by_id ? GR_STR("") : gr_str_keep(req, ft->Topic);
        t->nparts = ft->Partitions_count > 0 ? ft->Partitions_count : 0;
        t->parts = gr_arena_calloc(&req->arena, (size_t)GR_MAX(t->nparts, 1), sizeof(fpart_t));
        for (int32_t j = 0; j < t->nparts; j++) {
            const gr_FetchRequest_FetchPartition_t *p = &ft->Partitions[j];
            fpart_t *fp = &t->parts[j];
            fp->partition = p->Partition;
            fp->current_leader_epoch = p->CurrentLeaderEpoch;
            fp->last_fetched_epoch = p->LastFetchedEpoch;
            fp->fetch_offset = p->FetchOffset;
            fp->log_start_offset = p->LogStartOffset;
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
        fetch_answer(fs, &resp);            /* nothing registered yet */
        return;
    }
    /* park until an append or the timeout */
    for (int32_t i = 0; i < fs->ntopics; i++) {
        gr_topic_t *t = ft_lookup(&fs->topics[i]);
        for (int32_t j = 0; j < fs->topics[i].nparts; j++) {
            gr_partition_t *p = t ? gr_partition_get(t, fs->topics[i].parts[j].partition) : NULL;
            if (p)
                gr_pwait_add(p, &fs->topics[i].parts[j].wait);
        }
    }
    gr_timer_init(&fs->timer, on_timeout, fs);
    gr_timer_start(gr_broker.ev, &fs->timer, max_wait_ms(r.MaxWaitMs));
    fs->parked = true;
    req->park = fs;
    req->on_cancel = on_cancel;
}

/* ------------------------------------------------------------ incremental */

/* An incremental fetch parked on its session.  In the request arena. */
typedef struct sfetch {
    gr_fsess_parker_t pk;         /* first: the session calls back with it */
    gr_req_t *req;
    gr_fsess_t *sess;
    int32_t min_bytes;
    int32_t max_bytes;
    int8_t isolation_level;
    bool timer_on;
    gr_timer_t timer;
} sfetch_t;

/* One cached partition read against the log now. */
typedef struct peval {
    gr_fsess_part_t *cp;
    gr_kerr_t err;
    bool more;                    /* data left to read at the cached fetch offset */
    bool diverged;                /* answered with a DivergingEpoch */
    int64_t hw, lso, log_start;
    int32_t leader_epoch;         /* for a fenced fetch's CurrentLeader */
    gr_FetchResponse_EpochEndOffset_t div;
    gr_log_slice_t sl;
} peval_t;

static void part_eval(const sfetch_t *sf, gr_fsess_part_t *cp, int32_t *budget, bool *first_data, peval_t *e)
{
    memset(e, 0, sizeof(*e));
    e->cp = cp;
    e->hw = e->lso = e->log_start = -1;
    e->leader_epoch = -1;
    gr_FetchResponse_EpochEndOffset_init(&e->div);
    if (!gr_fsess_attach(cp)) {
        /* a session by topic ids: an id no topic has is UNKNOWN_TOPIC_ID
         * (the topic was deleted, perhaps created again under its name) */
        bool known = true;
        if (cp->sess->uses_ids) {
            gr_uuid_t id;
            memcpy(id.b, cp->topic->name, sizeof(id.b));
            known = gr_topic_find_id(&id) != NULL;
        }
        e->err = known ? KERR_UNKNOWN_TOPIC_OR_PARTITION : KERR_UNKNOWN_TOPIC_ID;
        return;
    }
    gr_partition_t *p = cp->p;
    e->hw = p->high_watermark;
    e->lso = p->last_stable_offset;
    e->log_start = gr_log_start_offset(p->log);
    e->leader_epoch = p->leader_epoch;
    e->err = part_read(p, cp->current_leader_epoch, cp->last_fetched_epoch, cp->fetch_offset, cp->max_bytes,
                       sf->isolation_level, budget, first_data, &e->sl, &e->div, &e->diverged);
    if (e->err != KERR_NONE || e->diverged)
        return;
    e->more = cp->fetch_offset < (sf->isolation_level ? p->last_stable_offset : p->high_watermark);
}

/* Bytes the pending partitions would return now; nothing changes. */
static int64_t sess_scan(const sfetch_t *sf, bool *any_error)
{
    int32_t budget = sf->max_bytes;
    bool first_data = true;
    int64_t total = 0;
    for (gr_fsess_part_t *cp = sf->sess->pend_head; cp; cp = cp->pnext) {
        peval_t e;
        part_eval(sf, cp, &budget, &first_data, &e);
        if (e.err != KERR_NONE || e.diverged)
            *any_error = true;
        total += e.sl.len;
    }
    return total;
}

static int peval_cmp(const void *a, const void *b)
{
    const peval_t *x = a, *y = b;
    uintptr_t tx = (uintptr_t)x->cp->topic, ty = (uintptr_t)y->cp->topic;
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return (x->cp->partition > y->cp->partition) - (x->cp->partition < y->cp->partition);
}

/* Answer now: read the pending partitions, keep in the answer those that
 * must respond, record what was reported, and drop from the pending list
 * those with nothing more to say. */
static void sess_answer(sfetch_t *sf)
{
    gr_req_t *req = sf->req;
    gr_fsess_t *s = sf->sess;
    if (sf->timer_on)
        gr_timer_stop(gr_broker.ev, &sf->timer);
    sf->timer_on = false;
    if (s->parker == &sf->pk)
        gr_fsess_park(s, NULL);
    req->on_cancel = NULL;
    req->park = NULL;

    peval_t *items = gr_arena_alloc(&req->arena, sizeof(*items) * (size_t)GR_MAX(s->npending, 1));
    int32_t n = 0, budget = sf->max_bytes;
    bool first_data = true;
    for (gr_fsess_part_t *cp = s->pend_head, *next; cp; cp = next) {
        next = cp->pnext;
        peval_t *e = &items[n];
        part_eval(sf, cp, &budget, &first_data, e);
        bool must = e->sl.len > 0 || e->hw != cp->high_watermark || e->log_start != cp->log_start_offset ||
                    e->err != KERR_NONE || e->diverged;
        if (must) {
            cp->high_watermark = e->err != KERR_NONE ? -1 : e->hw;
            cp->log_start_offset = e->log_start;
            n++;
        }
        if (e->err == KERR_NONE && !e->more && !e->diverged)
            gr_fsess_unpend(cp);
    }
    /* partitions that returned records go to the end of the pending list,
     * so the next response's budget goes to the others first (Kafka moves
     * them to the end of the session's order) */
    for (int32_t i = 0; i < n; i++)
        if (items[i].sl.len > 0 && items[i].cp->pending) {
            gr_fsess_unpend(items[i].cp);
            gr_fsess_pend(items[i].cp);
        }
    if (n > 1)
        qsort(items, (size_t)n, sizeof(*items), peval_cmp);

    gr_FetchResponse_t resp;
    gr_FetchResponse_init(&resp);
    resp.SessionId = s->id;
    int32_t ntopics = 0;
    for (int32_t i = 0; i < n; i++)
        if (i == 0 || items[i].cp->topic != items[i - 1].cp->topic)
            ntopics++;
    resp.Responses = GR_ARENA_ARRAY(req, gr_FetchResponse_FetchableTopicResponse_t, ntopics,
                                    gr_FetchResponse_FetchableTopicResponse_init);
    resp.Responses_count = ntopics;
    gr_FetchResponse_FetchableTopicResponse_t *tr = NULL;
    for (int32_t i = 0, k = 0; i < n; i++) {
        const peval_t *e = &items[i];
        if (i == 0 || e->cp->topic != items[i - 1].cp->topic) {
            int32_t cnt = 1;
            while (i + cnt < n && items[i + cnt].cp->topic == e->cp->topic)
                cnt++;
            tr = &resp.Responses[k++];
            if (s->uses_ids)
                memcpy(tr->TopicId.b, e->cp->topic->name, sizeof(tr->TopicId.b));
            else
                tr->Topic = (gr_str_t){e->cp->topic->name, e->cp->topic->len};   /* encoded below */
            tr->Partitions = GR_ARENA_ARRAY(req, gr_FetchResponse_PartitionData_t, cnt,
                                            gr_FetchResponse_PartitionData_init);
            tr->Partitions_count = 0;
        }
        gr_FetchResponse_PartitionData_t *pd = &tr->Partitions[tr->Partitions_count++];
        pd->PartitionIndex = e->cp->partition;
        pd->ErrorCode = e->err;
        if (e->err == KERR_FENCED_LEADER_EPOCH) {
            pd->CurrentLeader.LeaderId = gr_broker.cfg.node_id;
            pd->CurrentLeader.LeaderEpoch = e->leader_epoch;
        }
        pd->DivergingEpoch = e->div;
        pd->HighWatermark = e->hw;
        pd->LastStableOffset = e->lso;
        pd->LogStartOffset = e->log_start;
        pd->AbortedTransactions_count = sf->isolation_level ? 0 : -1;
        pd->Records = e->sl.len > 0 ? (gr_records_t){.len = e->sl.len, .file = e->sl.file, .file_off = e->sl.pos}
                                    : (gr_records_t){.len = 0, .mem = empty_records};
        if (sf->isolation_level && e->sl.len > 0 && e->cp->p)
            add_aborted(req, e->cp->p, e->cp->fetch_offset, e->sl.next_offset, pd);
    }
    fetch_finish(req, &resp);
    gr_metrics_fetch_response(&resp);
    GR_RESPOND(req, FetchResponse, &resp);
}

/* Answer if satisfied (or forced), else stay parked. */
static void sess_eval(sfetch_t *sf, bool force)
{
    if (!force) {
        bool any_error = false;
        int64_t n = sf->sess->npending ? sess_scan(sf, &any_error) : 0;
        if (!any_error && n < sf->min_bytes && n < sf->max_bytes)
            return;
    }
    sess_answer(sf);
}

static void sess_wake(gr_fsess_parker_t *pk, gr_fsess_wake_t why)
{
    sfetch_t *sf = (sfetch_t *)pk;
    if (why == GR_FSESS_DETACHED) {
        /* a topic deletion frees its partitions one by one: answer on the
         * next loop turn, with all of them */
        gr_timer_start(gr_broker.ev, &sf->timer, 0);
        sf->timer_on = true;
        return;
    }
    sess_eval(sf, why == GR_FSESS_CLOSING);
}

static void sess_timeout(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    sfetch_t *sf = arg;
    sf->timer_on = false;           /* already fired */
    sess_eval(sf, true);
}

static void sess_cancel(gr_req_t *req)
{
    sfetch_t *sf = req->park;
    if (sf->timer_on)
        gr_timer_stop(gr_broker.ev, &sf->timer);
    sf->timer_on = false;
    if (sf->sess->parker == &sf->pk)
        gr_fsess_park(sf->sess, NULL);
    req->park = NULL;
}

static void session_error(gr_req_t *req, gr_kerr_t err)
{
    gr_FetchResponse_t resp;
    gr_FetchResponse_init(&resp);
    resp.ErrorCode = err;
    resp.SessionId = 0;
    resp.Responses_count = 0;
    GR_RESPOND(req, FetchResponse, &resp);
}

static void fetch_incremental(gr_req_t *req, const gr_FetchRequest_t *r)
{
    gr_fsess_t *s = gr_fsess_find(r->SessionId);
    if (s == NULL) {
        session_error(req, KERR_FETCH_SESSION_ID_NOT_FOUND);
        return;
    }
    if (s->epoch != r->SessionEpoch) {
        session_error(req, KERR_INVALID_FETCH_SESSION_EPOCH);
        return;
    }
    if (s->uses_ids != (req->api_version >= 13)) {
        /* a session is by topic ids or by names, for its whole life */
        session_error(req, KERR_FETCH_SESSION_TOPIC_ID_ERROR);
        return;
    }
    /* a fetch still parked on the session is answered before this one */
    if (s->parker)
        s->parker->cb(s->parker, GR_FSESS_CLOSING);
    for (int32_t i = 0; i < r->Topics_count; i++) {
        const gr_FetchRequest_FetchTopic_t *ft = &r->Topics[i];
        for (int32_t j = 0; j < ft->Partitions_count; j++) {
            const gr_FetchRequest_FetchPartition_t *p = &ft->Partitions[j];
            session_put(s, topic_key(s, &ft->Topic, &ft->TopicId), p->Partition, p->FetchOffset, p->LogStartOffset,
                        p->PartitionMaxBytes, p->CurrentLeaderEpoch, p->LastFetchedEpoch);
        }
    }
    for (int32_t i = 0; i < r->ForgottenTopicsData_count; i++) {
        const gr_FetchRequest_ForgottenTopic_t *ft = &r->ForgottenTopicsData[i];
        gr_str_t key = topic_key(s, &ft->Topic, &ft->TopicId);
        for (int32_t j = 0; j < ft->Partitions_count; j++)
            gr_fsess_forget(s, key.p, (size_t)GR_MAX(key.len, 0), ft->Partitions[j]);
    }
    if (s->nparts == 0) {
        gr_fsess_remove(s);
        fetch_full(req, r, false);
        return;
    }
    gr_fsess_touch(s, gr_mono_ms());
    s->epoch = gr_fsess_next_epoch(s->epoch);

    sfetch_t *sf = gr_arena_calloc(&req->arena, 1, sizeof(*sf));
    sf->pk.cb = sess_wake;
    sf->req = req;
    sf->sess = s;
    sf->min_bytes = r->MinBytes;
    sf->max_bytes = r->MaxBytes > 0 ? r->MaxBytes : INT32_MAX;
    sf->isolation_level = r->IsolationLevel;
    if (r->MaxWaitMs <= 0) {
        sess_answer(sf);
        return;
    }
    if (s->npending > 0) {
        bool any_error = false;
        int64_t n = sess_scan(sf, &any_error);
        if (any_error || n >= sf->min_bytes || n >= sf->max_bytes) {
            sess_answer(sf);
            return;
        }
    } else if (sf->min_bytes <= 0) {
        sess_answer(sf);
        return;
    }
    gr_fsess_park(s, &sf->pk);
    gr_timer_init(&sf->timer, sess_timeout, sf);
    gr_timer_start(gr_broker.ev, &sf->timer, max_wait_ms(r->MaxWaitMs));
    sf->timer_on = true;
    req->park = sf;
    req->on_cancel = sess_cancel;
}

void gr_api_fetch(gr_req_t *req, gr_rd_t *body)
{
    gr_FetchRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, FetchRequest, &r);

    if (req->api_version < 7 || (r.SessionId == 0 && r.SessionEpoch == -1)) {
        fetch_full(req, &r, false);          /* sessionless: the common case */
        return;
    }
    if (r.SessionEpoch == -1 || r.SessionEpoch == 0) {
        /* any session named in a full request is closed first */
        gr_fsess_t *s = r.SessionId != 0 ? gr_fsess_find(r.SessionId) : NULL;
        if (s)
            gr_fsess_remove(s);
        fetch_full(req, &r, r.SessionEpoch == 0);
        return;
    }
    fetch_incremental(req, &r);
}
