/*
 * api_list_offsets.c - ListOffsets (key 2), versions 0-7.
 *
 * Timestamp -2 = earliest (log start offset), -1 = latest (high watermark,
 * or LSO for READ_COMMITTED), -3 = the record with the largest timestamp
 * (v7+), otherwise the first offset whose timestamp >= the given one,
 * from the time indexes.  v0 answers with an array of offsets
 * (OldStyleOffsets, at most MaxNumOffsets).  A lookup by timestamp that
 * cannot read the log answers KAFKA_STORAGE_ERROR for that partition;
 * earliest and latest come from memory and are always answered.
 */
#include "api_util.h"
#include "broker.h"
#include "kerr.h"

#define TS_LATEST   (-1)
#define TS_EARLIEST (-2)
#define TS_MAX      (-3)

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
    pr->LeaderEpoch = p->leader_epoch;
    int64_t ts = rp->Timestamp, off = -1, found_ts = -1;
    if (ts == TS_EARLIEST) {
        off = gr_log_start_offset(p->log);
    } else if (ts == TS_LATEST) {
        off = isolation ? p->last_stable_offset : p->high_watermark;
    } else if (ts == TS_MAX && req->api_version >= 7) {
        if (gr_log_max_timestamp(p->log, &off, &found_ts) < 0)
            goto storage_error;
    } else if (ts < 0) {
        pr->ErrorCode = KERR_INVALID_REQUEST;   /* unknown special timestamp */
        return;
    } else {
        off = gr_log_offset_for_timestamp(p->log, ts, &found_ts);
        if (off < -1)
            goto storage_error;
    }
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
    for (int32_t i = 0; i < nt; i++) {
        const gr_ListOffsetsRequest_ListOffsetsTopic_t *rt = &r.Topics[i];
        gr_ListOffsetsResponse_ListOffsetsTopicResponse_t *tr = &resp.Topics[i];
        tr->Name = rt->Name;
        int32_t np = rt->Partitions_count > 0 ? rt->Partitions_count : 0;
        tr->Partitions = GR_ARENA_ARRAY(req, gr_ListOffsetsResponse_ListOffsetsPartitionResponse_t, np,
                                        gr_ListOffsetsResponse_ListOffsetsPartitionResponse_init);
        tr->Partitions_count = np;
        gr_topic_t *t = rt->Name.len > 0 ? gr_topic_find(rt->Name.p, (size_t)rt->Name.len) : NULL;
        for (int32_t j = 0; j < np; j++)
            list_partition(req, t, r.IsolationLevel, &rt->Partitions[j], &tr->Partitions[j]);
    }
    GR_RESPOND(req, ListOffsetsResponse, &resp);
}
