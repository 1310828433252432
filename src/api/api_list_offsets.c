/*
 * api_list_offsets.c - ListOffsets (key 2), versions 0-10.
 *
 * The special timestamps, from the version that defines each on (Kafka's
 * timestampMinSupportedVersion; earlier, and for negative timestamps no
 * version defines, UNSUPPORTED_VERSION):
 *
 *   timestamp  from  answer
 *   ---------  ----  ----------------------------------------------------
 *   -1 latest    0   high watermark (LSO for READ_COMMITTED), the current
 *                    leader epoch
 *   -2 earliest  0   log start offset, with the epoch of the first cached
 *                    epoch entry when that starts at or before it
 *   -3 max ts    7   the record with the largest timestamp, its batch's
 *                    epoch
 *   -4 earliest  8   without tiered storage the local log is the whole
 *      local         log: as -2
 *   -5 latest    9   nothing is in remote storage: offset -1, epoch -1
 *      tiered
 *
 * otherwise the first offset whose timestamp >= the given one, from the
 * time indexes, with the epoch it was written in.  v0 answers with an
 * array of offsets (OldStyleOffsets, at most MaxNumOffsets) and keeps its
 * old rules (no special timestamp beyond -1 and -2).  For READ_COMMITTED an
 * answer by timestamp at or past the LSO is "none" (-1), as Kafka's
 * lastFetchableOffset makes it.  v10's TimeoutMs only
 * matters for lookups in remote storage, of which there are none.  A
 * lookup by timestamp that cannot read the log answers KAFKA_STORAGE_ERROR
 * for that partition; earliest and latest come from memory and are always
 * answered.
 *
 * A partition named twice gets INVALID_REQUEST at each place, as in Kafka.
 * A lookup by timestamp reads (decompresses) the batch holding the answer;
 * what one request decompresses is bounded by LOOKUP_BUDGET, past which a
 * lookup answers REQUEST_TIMED_OUT (retriable), and reported as the
 * request's work (net.c bounds it per loop turn).
 */
#include "api_util.h"
#include "batch.h"
#include "broker.h"
#include "kerr.h"

/* Decompressed bytes the timestamp lookups of one request may read. */
#define LOOKUP_BUDGET ((int64_t)1 << 30)

#define TS_LATEST         (-1)
#define TS_EARLIEST       (-2)
#define TS_MAX            (-3)
#define TS_EARLIEST_LOCAL (-4)
#define TS_LATEST_TIERED  (-5)

/* Is special timestamp ts defined in version v (v1+)? */
static bool ts_supported(int64_t ts, int16_t v)
{
    switch (ts) {
    case TS_LATEST:
    case TS_EARLIEST:
        return true;
    case TS_MAX:
        return v >= 7;
    case TS_EARLIEST_LOCAL:
        return v >= 8;
    case TS_LATEST_TIERED:
        return v >= 9;
    default:
        return false;
    }
}

static void list_partition(gr_req_t *req, gr_topic_t *t, int8_t isolation,
                           const gr_ListOffsetsRequest_ListOffsetsPartition_t *rp,
                           gr_ListOffsetsResponse_ListOffsetsPartitionResponse_t *pr)
{
    pr->PartitionIndex = rp->PartitionIndex;
    pr->Timestamp = -1;
    pr->Offset = -1;
    pr->OldStyleOffsets_count = 0;
    gr_partition_t *p = t ? gr_partition_get(t, rp->PartitionIndex) : NULL;
    if (!p) {
        pr->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (rp->CurrentLeaderEpoch >= 0 && rp->CurrentLeaderEpoch != p->leader_epoch) {
        pr->ErrorCode = rp->CurrentLeaderEpoch < p->leader_epoch ? KERR_FENCED_LEADER_EPOCH
                                                                 : KERR_UNKNOWN_LEADER_EPOCH;
        return;
    }
    int64_t ts = rp->Timestamp, off = -1, found_ts = -1;
    int32_t epoch = -1;
    if (ts < 0 && req->api_version >= 1 && !ts_supported(ts, req->api_version)) {
        pr->ErrorCode = KERR_UNSUPPORTED_VERSION;
        return;
    }
    if (ts == TS_EARLIEST || ts == TS_EARLIEST_LOCAL) {
        off = gr_log_start_offset(p->log);
        const gr_epoch_entry_t *first = gr_epochs_first(&p->epochs);
        epoch = first && first->start <= off ? first->epoch : -1;
    } else if (ts == TS_LATEST) {
        off = isolation ? p->last_stable_offset : p->high_watermark;
        epoch = p->leader_epoch;
    } else if (ts == TS_LATEST_TIERED) {
        off = -1;
    } else if (ts == TS_MAX) {
        int rc = gr_log_max_timestamp(p->log, &off, &found_ts);
        if (rc == GR_ETOOBIG)
            goto over_budget;
        if (rc < 0)
            goto storage_error;
        epoch = off >= 0 ? gr_epochs_for_offset(&p->epochs, off) : -1;
    } else if (ts < 0) {
        pr->ErrorCode = KERR_INVALID_REQUEST;   /* v0: no other special timestamp */
        return;
    } else {
        off = gr_log_offset_for_timestamp(p->log, ts, &found_ts);
        if (off == GR_ETOOBIG)
            goto over_budget;
        if (off < -1)
            goto storage_error;
        epoch = off >= 0 ? gr_epochs_for_offset(&p->epochs, off) : -1;
    }
    /* READ_COMMITTED: nothing at or past the last stable offset is found
     * (Kafka's lastFetchableOffset) */
    if (isolation && ts != TS_LATEST && ts != TS_EARLIEST && off >= p->last_stable_offset) {
        off = -1;
        found_ts = -1;
        epoch = -1;
    }
    pr->LeaderEpoch = epoch;
    pr->ErrorCode = KERR_NONE;
    pr->Offset = off;
    pr->Timestamp = found_ts;
    if (req->api_version == 0) {
        /* v0: an array; latest also lists the log start when asked for more */
        int32_t max = rp->MaxNumOffsets > 0 ? rp->MaxNumOffsets : 1;
        int64_t *arr = gr_arena_alloc(&req->arena, sizeof(int64_t) * 2);
        int32_t n = 0;
        if (off >= 0)
            arr[n++] = off;
        if (ts == TS_LATEST && max > 1 && gr_log_start_offset(p->log) != off)
            arr[n++] = gr_log_start_offset(p->log);
        pr->OldStyleOffsets = arr;
        pr->OldStyleOffsets_count = n;
    }
    return;
storage_error:
    /* the time index pointed into a segment that could not be read */
    pr->ErrorCode = KERR_KAFKA_STORAGE_ERROR;
    pr->Offset = -1;
    pr->Timestamp = -1;
    return;
over_budget:
    pr->ErrorCode = KERR_REQUEST_TIMED_OUT;
    pr->Offset = -1;
    pr->Timestamp = -1;
}

void gr_api_list_offsets(gr_req_t *req, gr_rd_t *body)
{
    gr_ListOffsetsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, ListOffsetsRequest, &r);

    gr_ListOffsetsResponse_t resp;
    gr_ListOffsetsResponse_init(&resp);
    int32_t nt = r.Topics_count > 0 ? r.Topics_count : 0;
    resp.Topics = GR_ARENA_ARRAY(req, gr_ListOffsetsResponse_ListOffsetsTopicResponse_t, nt,
                                 gr_ListOffsetsResponse_ListOffsetsTopicResponse_init);
    resp.Topics_count = nt;
    /* partitions named more than once (Kafka's duplicatePartitions) */
    int64_t total = 0;
    for (int32_t i = 0; i < nt; i++)
        total += r.Topics[i].Partitions_count > 0 ? r.Topics[i].Partitions_count : 0;
    gr_keyset_t named;
    gr_keyset_init(req, &named, total);
    for (int32_t i = 0; i < nt; i++)
        for (int32_t j = 0; j < r.Topics[i].Partitions_count; j++)
            gr_keyset_add(&named, r.Topics[i].Name.p, GR_MAX(r.Topics[i].Name.len, 0),
                          r.Topics[i].Partitions[j].PartitionIndex);
    gr_batch_budget_begin(LOOKUP_BUDGET);
    for (int32_t i = 0; i < nt; i++) {
        const gr_ListOffsetsRequest_ListOffsetsTopic_t *rt = &r.Topics[i];
        gr_ListOffsetsResponse_ListOffsetsTopicResponse_t *tr = &resp.Topics[i];
        tr->Name = rt->Name;
        int32_t np = rt->Partitions_count > 0 ? rt->Partitions_count : 0;
        tr->Partitions = GR_ARENA_ARRAY(req, gr_ListOffsetsResponse_ListOffsetsPartitionResponse_t, np,
                                        gr_ListOffsetsResponse_ListOffsetsPartitionResponse_init);
        tr->Partitions_count = np;
        gr_topic_t *t = rt->Name.len > 0 ? gr_topic_find(rt->Name.p, (size_t)rt->Name.len) : NULL;
        for (int32_t j = 0; j < np; j++) {
            gr_ListOffsetsResponse_ListOffsetsPartitionResponse_t *pr = &tr->Partitions[j];
            if (gr_keyset_count(&named, rt->Name.p, GR_MAX(rt->Name.len, 0), rt->Partitions[j].PartitionIndex) > 1) {
                pr->PartitionIndex = rt->Partitions[j].PartitionIndex;
                pr->ErrorCode = KERR_INVALID_REQUEST;
                pr->Timestamp = -1;
                pr->Offset = -1;
                continue;
            }
            list_partition(req, t, r.IsolationLevel, &rt->Partitions[j], pr);
        }
    }
    req->work += (uint64_t)(LOOKUP_BUDGET - gr_batch_budget_end());
    GR_RESPOND(req, ListOffsetsResponse, &resp);
}
