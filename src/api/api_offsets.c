/*
 * api_offsets.c - OffsetCommit (key 8, v0-9), OffsetFetch (key 9, v0-9)
 * and OffsetDelete (key 47, v0), as Kafka's coordinator answers them:
 * classic groups as Kafka 3.7's, consumer groups (KIP-848, cgroup.h) as
 * Kafka 4's: a member commits with v9 and its member epoch
 * (STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, UNSUPPORTED_VERSION below v9 for
 * consumer-protocol members) and fetches with its id and epoch (v9).
 *
 * OffsetCommit order of checks: unknown topic or partition (per
 * partition), then the group: gr_coord_validate_group (the one validation
 * of group requests: null id, coordinator loading), member / generation
 * checks (gr_group_validate_commit in group.c; an unknown group is fine
 * for a standalone commit, generation < 0, whose records create it when
 * replayed), then metadata longer than offset.metadata.max.bytes (per
 * partition; the others still commit).  An empty group id is accepted for
 * commits and fetches, as Kafka does for backward compatibility; only
 * OffsetDelete rejects it.  The commit is acknowledged once its records
 * are appended to __consumer_offsets (and fsynced when the flush policy
 * asks): the request parks until coord.c reports.
 *
 * Group, member and instance ids and the commits' metadata are Java
 * Strings for Kafka: they are kept in the held form of jstr.h
 * (gr_req_held) and answered re-encoded (gr_req_wire).
 *
 * OffsetFetch answers from memory, after appending the writes still
 * waiting for their loop turn's joint append on the group's partition
 * (coord.c), so that it sees every commit received before it and none that
 * could still be rolled back.  Partitions without a commit get
 * offset -1, metadata "" and NONE; an unknown group is not an error.  Errors are
 * per partition in v0/v1, top level in v2-7 and per group in v8.  With
 * RequireStable (v7+, KIP-447) a partition whose transactional offset is
 * still pending (its transaction not ended) is UNSTABLE_OFFSET_COMMIT.
 *
 * The group's own checks of the three requests (and of TxnOffsetCommit,
 * api_txn.c) are group.c's gr_group_validate_commit / _offset_fetch /
 * _offset_delete, one per request dispatching on the group type as
 * Kafka's Group interface.
 */
#include "api_util.h"
#include "broker.h"
#include "cgroup.h"
#include "coord.h"
#include "jstr.h"
#include "kerr.h"
#include "offsets.h"

#include <stdlib.h>
#include <string.h>

enum { KEY_OFFSET_COMMIT = 8, KEY_OFFSET_DELETE = 47 };

/* A request waiting for its records to become durable. */
typedef struct offsets_park {
    gr_req_t *req;                  /* NULL once the connection is gone */
    int16_t api_key;                /* KEY_OFFSET_COMMIT or KEY_OFFSET_DELETE */
    gr_OffsetCommitResponse_t commit;     /* in req->arena */
    gr_OffsetDeleteResponse_t del;        /* in req->arena */
} offsets_park_t;

static void park_cancel(gr_req_t *req)
{
    offsets_park_t *pk = req->park;
    pk->req = NULL;
}

static offsets_park_t *park(gr_req_t *req)
{
    offsets_park_t *pk = gr_calloc(1, sizeof(*pk));
    pk->req = req;
    pk->api_key = req->api_key;
    req->park = pk;
    req->on_cancel = park_cancel;
    return pk;
}

/* Every partition of resp (an OffsetCommitResponse or OffsetDeleteResponse)
 * not already failed gets err. */
#define FILL_ERRORS(resp, err)                                                  \
    do {                                                                        \
        for (int32_t t_ = 0; t_ < (resp)->Topics_count; t_++)                   \
            for (int32_t p_ = 0; p_ < (resp)->Topics[t_].Partitions_count; p_++) \
                if ((resp)->Topics[t_].Partitions[p_].ErrorCode == KERR_NONE)   \
                    (resp)->Topics[t_].Partitions[p_].ErrorCode = (err);        \
    } while (0)

/* The store finished (gr_coord_cb): answer the parked OffsetCommit or
 * OffsetDelete, err filling the partitions that had none, unless the
 * connection is gone; frees the park either way. */
static void store_done(void *arg, gr_kerr_t err)
{
    offsets_park_t *pk = arg;
    gr_req_t *req = pk->req;
    if (req) {
        req->on_cancel = NULL;
        req->park = NULL;
        if (pk->api_key == KEY_OFFSET_COMMIT) {
            if (err != KERR_NONE)
                FILL_ERRORS(&pk->commit, err);
            GR_RESPOND(req, OffsetCommitResponse, &pk->commit);
        } else {
            if (err != KERR_NONE)
                FILL_ERRORS(&pk->del, err);
            GR_RESPOND(req, OffsetDeleteResponse, &pk->del);
        }
    }
    free(pk);
}

/* A wire string in held form (jstr.h); "" for null. */
static const char *cdup(gr_req_t *req, gr_str_t s)
{
    const char *h = gr_req_held(req, s);
    return h ? h : "";
}

/* ------------------------------------------------------------ OffsetCommit */

void gr_api_offset_commit(gr_req_t *req, gr_rd_t *body)
{
    gr_OffsetCommitRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, OffsetCommitRequest, &r);

    offsets_park_t *pk = park(req);
    gr_OffsetCommitResponse_t *resp = &pk->commit;
    gr_OffsetCommitResponse_init(resp);
    int32_t nt = r.Topics_count > 0 ? r.Topics_count : 0, total = 0;
    resp->Topics = GR_ARENA_ARRAY(req, gr_OffsetCommitResponse_OffsetCommitResponseTopic_t, nt,
                                  gr_OffsetCommitResponse_OffsetCommitResponseTopic_init);
    resp->Topics_count = nt;
    for (int32_t i = 0; i < nt; i++)
        total += r.Topics[i].Partitions_count > 0 ? r.Topics[i].Partitions_count : 0;
    gr_coord_commit_t *c = gr_arena_calloc(&req->arena, (size_t)(total ? total : 1), sizeof(*c));
    int16_t **errp = gr_arena_alloc(&req->arena, sizeof(*errp) * (size_t)(total ? total : 1));

    int64_t now = gr_now_ms();
    int64_t expire = -1;
    /* Kafka: now + RetentionTimeMs unless -1.  The sum saturates (2^63-1 =
     * never expires); a sum in the past expires at the next pass (0, since
     * a negative expire timestamp here means "none"). */
    if (req->api_version >= 2 && req->api_version <= 4 && r.RetentionTimeMs != -1)
        expire = GR_MAX(gr_add_sat(now, r.RetentionTimeMs), 0);
    int32_t n = 0;
    for (int32_t i = 0; i < nt; i++) {
        const gr_OffsetCommitRequest_OffsetCommitRequestTopic_t *td = &r.Topics[i];
        gr_OffsetCommitResponse_OffsetCommitResponseTopic_t *tr = &resp->Topics[i];
        tr->Name = gr_str_keep(req, td->Name);
        int32_t np = td->Partitions_count > 0 ? td->Partitions_count : 0;
        tr->Partitions = GR_ARENA_ARRAY(req, gr_OffsetCommitResponse_OffsetCommitResponsePartition_t, np,
                                        gr_OffsetCommitResponse_OffsetCommitResponsePartition_init);
        tr->Partitions_count = np;
        gr_topic_t *t = td->Name.len > 0 ? gr_topic_find(td->Name.p, (size_t)td->Name.len) : NULL;
        for (int32_t j = 0; j < np; j++) {
            const gr_OffsetCommitRequest_OffsetCommitRequestPartition_t *pd = &td->Partitions[j];
            tr->Partitions[j].PartitionIndex = pd->PartitionIndex;
            tr->Partitions[j].ErrorCode = (t && gr_partition_get(t, pd->PartitionIndex))
                                              ? KERR_NONE : KERR_UNKNOWN_TOPIC_OR_PARTITION;
            gr_coord_commit_t *x = &c[n];
            x->topic = tr->Name.p ? tr->Name.p : "";
            x->topic_len = (size_t)(tr->Name.len > 0 ? tr->Name.len : 0);
            x->partition = pd->PartitionIndex;
            x->offset = pd->CommittedOffset;
            x->leader_epoch = pd->CommittedLeaderEpoch;
            x->metadata = gr_req_held(req, pd->CommittedMetadata);
            x->metadata_len = x->metadata ? strlen(x->metadata) : 0;
            x->commit_timestamp = req->api_version == 1 && pd->CommitTimestamp != -1 ? pd->CommitTimestamp : now;
            x->expire_timestamp = expire;
            x->error = tr->Partitions[j].ErrorCode;
            errp[n] = &tr->Partitions[j].ErrorCode;
            n++;
        }
    }

    /* group-level checks apply to every partition not already failed */
    const char *gid = cdup(req, r.GroupId);
    size_t glen = strlen(gid);
    gr_kerr_t gerr = gr_coord_validate_group(r.GroupId.len < 0 ? NULL : gid, glen, GR_GROUP_API_OFFSET_COMMIT);
    if (gerr == KERR_NONE) {
        /* no group: a standalone commit (generation < 0) is accepted, its
         * records create the group */
        const char *mid = cdup(req, r.MemberId);
        const char *iid = gr_req_held(req, r.GroupInstanceId);
        gerr = gr_group_validate_commit(gr_group_find(gid, glen), mid, strlen(mid), iid, r.GenerationIdOrMemberEpoch,
                                        req->api_version);
    }
    int32_t ok = gr_api_commit_errors(c, errp, n, gerr);
    if (gerr != KERR_NONE)
        gr_debug("offsets", "OffsetCommit for group %.*s from %s: %s", (int)glen, gid, gr_req_peer(req),
                 gr_kerr_name(gerr));
    if (ok == 0) {
        store_done(pk, KERR_NONE);
        return;
    }
    const char *who = r.MemberId.len > 0 ? cdup(req, r.MemberId) : req->client_id;
    gr_coord_commit_offsets(gid, glen, who, c, n, store_done, pk);
}

int32_t gr_api_commit_errors(gr_coord_commit_t *c, int16_t *const *errp, int32_t n, gr_kerr_t gerr)
{
    int32_t ok = 0;
    for (int32_t i = 0; i < n; i++) {
        if (c[i].error != KERR_NONE)
            continue;
        if (gerr != KERR_NONE)
            c[i].error = gerr;
        else if (c[i].metadata && gr_jstr_length(c[i].metadata, c[i].metadata_len, GR_JSTR_HELD) >
                                      (size_t)gr_broker.cfg.offset_metadata_max_bytes)
            c[i].error = KERR_OFFSET_METADATA_TOO_LARGE;
        *errp[i] = c[i].error;
        ok += c[i].error == KERR_NONE;
    }
    return ok;
}

/* ------------------------------------------------------------ OffsetFetch */

static int cmp_offset(const void *a, const void *b)
{
    const gr_offset_t *x = *(const gr_offset_t *const *)a, *y = *(const gr_offset_t *const *)b;
    int c = strcmp(x->topic, y->topic);
    if (c)
        return c;
    return x->partition < y->partition ? -1 : x->partition > y->partition;
}

/* The answer for one group, in the v8 shape (older versions are copied
 * from it).  topics_count < 0 = all committed offsets. */
typedef struct fetch_topic_req {
    gr_str_t name;
    const int32_t *parts;
    int32_t nparts;
} fetch_topic_req_t;

static void fill_partition(gr_req_t *req, gr_OffsetFetchResponse_OffsetFetchResponsePartitions_t *rp,
                           const gr_offset_t *o, int32_t part, gr_kerr_t err)
{
    gr_OffsetFetchResponse_OffsetFetchResponsePartitions_init(rp);
    rp->PartitionIndex = part;
    rp->ErrorCode = err;
    if (o && err == KERR_NONE) {
        rp->CommittedOffset = o->offset;
        rp->CommittedLeaderEpoch = o->leader_epoch;
        rp->Metadata = gr_req_wire(req, o->metadata);
    } else {
        rp->CommittedOffset = -1;
        rp->CommittedLeaderEpoch = -1;
        rp->Metadata = (gr_str_t){"", 0};
    }
}

static void fetch_group(gr_req_t *req, gr_str_t group_id, const fetch_topic_req_t *tq, int32_t nt,
                        bool per_partition_errors, bool require_stable, const char *member_id,
                        int32_t member_epoch,
                        gr_OffsetFetchResponse_OffsetFetchResponseGroup_t *out)
{
    gr_OffsetFetchResponse_OffsetFetchResponseGroup_init(out);
    const char *gid = cdup(req, group_id);
    size_t glen = strlen(gid);
    out->GroupId = group_id.len >= 0 ? gr_req_wire(req, gid) : group_id;
    gr_kerr_t gerr = gr_coord_validate_group(group_id.len < 0 ? NULL : gid, glen, GR_GROUP_API_OFFSET_FETCH);
    out->ErrorCode = gerr;
    if (gerr != KERR_NONE && !per_partition_errors) {
        out->Topics_count = 0;
        return;
    }
    if (gerr == KERR_NONE)
        gr_coord_flush_commits(gr_coord_partition_for(gid, glen));  /* commits received before count */
    gr_group_t *g = gerr == KERR_NONE ? gr_group_find(gid, glen) : NULL;
    gr_kerr_t verr = gr_group_validate_offset_fetch(g, member_id, member_epoch);
    if (verr == KERR_GROUP_ID_NOT_FOUND) {
        g = NULL;       /* a Dead group: its offsets are answered as none committed */
    } else if (verr != KERR_NONE) {
        out->ErrorCode = gerr = verr;
        out->Topics_count = 0;
        return;
    }
    gr_offset_map_t *m = g ? g->offsets : NULL;

    if (nt >= 0) {
        out->Topics = GR_ARENA_ARRAY(req, gr_OffsetFetchResponse_OffsetFetchResponseTopics_t, nt,
                                     gr_OffsetFetchResponse_OffsetFetchResponseTopics_init);
        out->Topics_count = nt;
        for (int32_t i = 0; i < nt; i++) {
            gr_OffsetFetchResponse_OffsetFetchResponseTopics_t *tr = &out->Topics[i];
            tr->Name = gr_str_keep(req, tq[i].name);
            int32_t np = tq[i].nparts > 0 ? tq[i].nparts : 0;
            tr->Partitions = gr_arena_alloc(&req->arena, sizeof(*tr->Partitions) * (size_t)(np ? np : 1));
            tr->Partitions_count = np;
            for (int32_t j = 0; j < np; j++) {
                const char *tn = tq[i].name.p ? tq[i].name.p : "";
                size_t tl = (size_t)(tq[i].name.len > 0 ? tq[i].name.len : 0);
                const gr_offset_t *o = gr_offset_get(m, tn, tl, tq[i].parts[j]);
                gr_kerr_t perr = gerr;
                if (perr == KERR_NONE && require_stable && gr_coord_offset_pending(gid, glen, tn, tl, tq[i].parts[j]))
                    perr = KERR_UNSTABLE_OFFSET_COMMIT;
                fill_partition(req, &tr->Partitions[j], o, tq[i].parts[j], perr);
            }
        }
        return;
    }
    /* all committed offsets, grouped by topic, sorted */
    uint32_t cnt = gr_offset_map_count(m);
    const gr_offset_t **v = gr_arena_alloc(&req->arena, sizeof(*v) * (cnt ? cnt : 1));
    uint32_t k = 0;
    gr_offset_iter_t it;
    gr_offset_iter_init(&it, m);
    for (gr_offset_t *o; (o = gr_offset_iter_next(&it));)
        v[k++] = o;
    qsort(v, k, sizeof(*v), cmp_offset);
    int32_t ntopics = 0;
    for (uint32_t i = 0; i < k; i++)
        ntopics += i == 0 || strcmp(v[i]->topic, v[i - 1]->topic) != 0;
    out->Topics = GR_ARENA_ARRAY(req, gr_OffsetFetchResponse_OffsetFetchResponseTopics_t, ntopics,
                                 gr_OffsetFetchResponse_OffsetFetchResponseTopics_init);
    out->Topics_count = ntopics;
    int32_t ti = -1;
    for (uint32_t i = 0; i < k; i++) {
        if (i == 0 || strcmp(v[i]->topic, v[i - 1]->topic) != 0) {
            uint32_t e = i;
            while (e < k && !strcmp(v[e]->topic, v[i]->topic))
                e++;
            ti++;
            gr_OffsetFetchResponse_OffsetFetchResponseTopics_t *tr = &out->Topics[ti];
            tr->Name = (gr_str_t){gr_arena_strndup(&req->arena, v[i]->topic, v[i]->topic_len),
                                  (int32_t)v[i]->topic_len};
            tr->Partitions = gr_arena_alloc(&req->arena, sizeof(*tr->Partitions) * (e - i));
            tr->Partitions_count = 0;
        }
        gr_OffsetFetchResponse_OffsetFetchResponseTopics_t *tr = &out->Topics[ti];
        gr_OffsetFetchResponse_OffsetFetchResponsePartitions_t *rp = &tr->Partitions[tr->Partitions_count++];
        fill_partition(req, rp, v[i], v[i]->partition,
                       require_stable && gr_coord_offset_pending(gid, glen, v[i]->topic, v[i]->topic_len,
                                                                 v[i]->partition)
                           ? KERR_UNSTABLE_OFFSET_COMMIT
                           : KERR_NONE);
        /* the metadata string must outlive nothing but this handler */
    }
}

void gr_api_offset_fetch(gr_req_t *req, gr_rd_t *body)
{
    gr_OffsetFetchRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, OffsetFetchRequest, &r);

    gr_OffsetFetchResponse_t resp;
    gr_OffsetFetchResponse_init(&resp);
    bool require_stable = req->api_version >= 7 && r.RequireStable;
    if (req->api_version >= 8) {
        int32_t ng = r.Groups_count > 0 ? r.Groups_count : 0;
        resp.Groups = GR_ARENA_ARRAY(req, gr_OffsetFetchResponse_OffsetFetchResponseGroup_t, ng,
                                     gr_OffsetFetchResponse_OffsetFetchResponseGroup_init);
        /* a group named twice is answered once: all of a large group's
         * offsets, asked for thousands of times in one small request, would
         * be built thousands of times over */
        gr_keyset_t seen;
        gr_keyset_init(req, &seen, ng);
        int32_t out = 0;
        for (int32_t i = 0; i < ng; i++) {
            const gr_OffsetFetchRequest_OffsetFetchRequestGroup_t *gq = &r.Groups[i];
            if (gr_keyset_add(&seen, gq->GroupId.p, GR_MAX(gq->GroupId.len, 0), gq->GroupId.len < 0) > 1)
                continue;
            int32_t nt = gq->Topics_count;
            fetch_topic_req_t *tq = gr_arena_alloc(&req->arena, sizeof(*tq) * (size_t)(nt > 0 ? nt : 1));
            for (int32_t j = 0; j < nt; j++)
                tq[j] = (fetch_topic_req_t){gq->Topics[j].Name, gq->Topics[j].PartitionIndexes,
                                            gq->Topics[j].PartitionIndexes_count};
            fetch_group(req, gq->GroupId, tq, nt, false, require_stable,
                        req->api_version >= 9 ? gr_req_held(req, gq->MemberId) : NULL,
                        req->api_version >= 9 ? gq->MemberEpoch : -1, &resp.Groups[out++]);
        }
        resp.Groups_count = out;
        GR_RESPOND(req, OffsetFetchResponse, &resp);
        return;
    }
    int32_t nt = r.Topics_count;
    if (req->api_version < 2 && nt < 0)
        nt = 0;
    fetch_topic_req_t *tq = gr_arena_alloc(&req->arena, sizeof(*tq) * (size_t)(nt > 0 ? nt : 1));
    for (int32_t j = 0; j < nt; j++)
        tq[j] = (fetch_topic_req_t){r.Topics[j].Name, r.Topics[j].PartitionIndexes, r.Topics[j].PartitionIndexes_count};
    gr_OffsetFetchResponse_OffsetFetchResponseGroup_t one;
    fetch_group(req, r.GroupId, tq, nt, req->api_version < 2, require_stable, NULL, -1, &one);
    resp.ErrorCode = req->api_version >= 2 ? one.ErrorCode : KERR_NONE;
    /* same layout, v0-7 names */
    resp.Topics = GR_ARENA_ARRAY(req, gr_OffsetFetchResponse_OffsetFetchResponseTopic_t, one.Topics_count,
                                 gr_OffsetFetchResponse_OffsetFetchResponseTopic_init);
    resp.Topics_count = one.Topics_count;
    for (int32_t i = 0; i < one.Topics_count; i++) {
        gr_OffsetFetchResponse_OffsetFetchResponseTopic_t *tr = &resp.Topics[i];
        const gr_OffsetFetchResponse_OffsetFetchResponseTopics_t *src = &one.Topics[i];
        tr->Name = src->Name;
        tr->Partitions_count = src->Partitions_count;
        tr->Partitions = GR_ARENA_ARRAY(req, gr_OffsetFetchResponse_OffsetFetchResponsePartition_t,
                                        src->Partitions_count, gr_OffsetFetchResponse_OffsetFetchResponsePartition_init);
        for (int32_t j = 0; j < src->Partitions_count; j++) {
            tr->Partitions[j].PartitionIndex = src->Partitions[j].PartitionIndex;
            tr->Partitions[j].CommittedOffset = src->Partitions[j].CommittedOffset;
            tr->Partitions[j].CommittedLeaderEpoch = src->Partitions[j].CommittedLeaderEpoch;
            tr->Partitions[j].Metadata = src->Partitions[j].Metadata;
            tr->Partitions[j].ErrorCode = src->Partitions[j].ErrorCode;
        }
    }
    GR_RESPOND(req, OffsetFetchResponse, &resp);
}

/* ------------------------------------------------------------ OffsetDelete */

void gr_api_offset_delete(gr_req_t *req, gr_rd_t *body)
{
    gr_OffsetDeleteRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, OffsetDeleteRequest, &r);

    offsets_park_t *pk = park(req);
    gr_OffsetDeleteResponse_t *resp = &pk->del;
    gr_OffsetDeleteResponse_init(resp);
    const char *gid = cdup(req, r.GroupId);
    size_t glen = strlen(gid);
    gr_group_t *g = NULL;
    resp->ErrorCode = gr_coord_validate_group(r.GroupId.len < 0 ? NULL : gid, glen, GR_GROUP_API_OFFSET_DELETE);
    if (resp->ErrorCode == KERR_NONE)
        resp->ErrorCode = gr_group_validate_offset_delete(g = gr_group_find(gid, glen));
    if (resp->ErrorCode != KERR_NONE) {
        store_done(pk, KERR_NONE);
        return;
    }
    bool empty = g->type == GR_GROUP_CONSUMER ? gr_cgroup_nmembers(g->cg) == 0 : g->state == GR_GROUP_EMPTY;
    int32_t nt = r.Topics_count > 0 ? r.Topics_count : 0, total = 0;
    for (int32_t i = 0; i < nt; i++)
        total += r.Topics[i].Partitions_count > 0 ? r.Topics[i].Partitions_count : 0;
    gr_coord_commit_t *c = gr_arena_calloc(&req->arena, (size_t)(total ? total : 1), sizeof(*c));
    int32_t n = 0;
    resp->Topics = GR_ARENA_ARRAY(req, gr_OffsetDeleteResponse_OffsetDeleteResponseTopic_t, nt,
                                  gr_OffsetDeleteResponse_OffsetDeleteResponseTopic_init);
    resp->Topics_count = nt;
    for (int32_t i = 0; i < nt; i++) {
        const gr_OffsetDeleteRequest_OffsetDeleteRequestTopic_t *td = &r.Topics[i];
        gr_OffsetDeleteResponse_OffsetDeleteResponseTopic_t *tr = &resp->Topics[i];
        tr->Name = gr_str_keep(req, td->Name);
        int32_t np = td->Partitions_count > 0 ? td->Partitions_count : 0;
        tr->Partitions = GR_ARENA_ARRAY(req, gr_OffsetDeleteResponse_OffsetDeleteResponsePartition_t, np,
                                        gr_OffsetDeleteResponse_OffsetDeleteResponsePartition_init);
        tr->Partitions_count = np;
        gr_topic_t *t = td->Name.len > 0 ? gr_topic_find(td->Name.p, (size_t)td->Name.len) : NULL;
        const char *tname = t ? t->name : "";      /* no topic: every partition fails */
        bool subscribed = t && !empty && gr_group_subscribed_to(g, tname);
        for (int32_t j = 0; j < np; j++) {
            int32_t pi = td->Partitions[j].PartitionIndex;
            gr_kerr_t e = KERR_NONE;
            if (!t || !gr_partition_get(t, pi))
                e = KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (subscribed)
                e = KERR_GROUP_SUBSCRIBED_TO_TOPIC;
            tr->Partitions[j].PartitionIndex = pi;
            tr->Partitions[j].ErrorCode = e;
            c[n++] = (gr_coord_commit_t){.topic = tname, .topic_len = strlen(tname), .partition = pi,
                                         .leader_epoch = -1, .expire_timestamp = -1, .error = e};
        }
    }
    gr_coord_delete_offsets(g, c, n, store_done, pk);
}
