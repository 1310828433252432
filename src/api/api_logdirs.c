/*
 * api_logdirs.c - the log-dir APIs: DescribeLogDirs (key 35, v0-4) and
 * AlterReplicaLogDirs (34, v0-2; the move itself is logmove.c's).
 *
 * DescribeLogDirs answers as Kafka's ReplicaManager.describeLogDirs: one
 * result per configured log dir (its absolute path), listing every topic
 * with a partition in that dir and, of each, the partitions asked for (all
 * of them for a null list; a topic none of whose partitions was asked for
 * is listed with none, as Kafka lists it): size in bytes (the sum of its
 * segments), offset lag 0 (this broker is the leader of everything), and
 * whether it is a future replica (a move in progress: then the lag is how
 * far its copy is behind).  v4 adds the dir's total and usable bytes
 * (statvfs: f_blocks and f_bavail times f_frsize); a dir whose statvfs
 * fails is KAFKA_STORAGE_ERROR.
 */
#include "api_util.h"
#include "broker.h"
#include "kerr.h"
#include "logmove.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* The absolute form of a configured log dir, as Java's toAbsolutePath()
 * makes it (no symlink or ".." resolution). */
static gr_str_t abs_dir(gr_req_t *req, const char *dir)
{
    if (dir[0] == '/')
        return GR_STR(dir);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return GR_STR(dir);
    const char *rel = dir;
    if (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    return gr_req_printf(req, "%s/%s", cwd, rel);
}

/* Kafka's adjustForLargeFileSystems: a size that does not fit is
 * Long.MAX_VALUE. */
static int64_t fs_bytes(uint64_t blocks, uint64_t frsize)
{
    if (frsize && blocks > (uint64_t)INT64_MAX / frsize)
        return INT64_MAX;
    return (int64_t)(blocks * frsize);
}

/* One partition entry of dir d: the partition itself when its log is
 * there, or a future replica of it being copied there. */
static bool part_in_dir(gr_partition_t *p, int d, gr_DescribeLogDirsResponse_DescribeLogDirsPartition_t *out)
{
    if (p->log_dir == d) {
        out->PartitionIndex = p->index;
        out->PartitionSize = gr_log_size_bytes(p->log);
        out->OffsetLag = 0;
        out->IsFutureKey = false;
        return true;
    }
    gr_logmove_status_t st;
    if (gr_logmove_status(p, &st) && st.dest_dir == d) {
        out->PartitionIndex = p->index;
        out->PartitionSize = st.copied_bytes;
        out->OffsetLag = st.offset_lag;
        out->IsFutureKey = true;
        return true;
    }
    return false;
}

void gr_api_describe_log_dirs(gr_req_t *req, gr_rd_t *body)
{
    gr_DescribeLogDirsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, DescribeLogDirsRequest, &r);

    bool all = r.Topics_count < 0;
    int64_t asked = 0;
    for (int32_t i = 0; i < r.Topics_count; i++)
        asked += GR_MAX(r.Topics[i].Partitions_count, 0);
    gr_keyset_t want;
    gr_keyset_init(req, &want, all ? 0 : asked);
    for (int32_t i = 0; i < r.Topics_count; i++)
        for (int32_t j = 0; j < r.Topics[i].Partitions_count; j++)
            gr_keyset_add(&want, r.Topics[i].Topic.p, GR_MAX(r.Topics[i].Topic.len, 0), r.Topics[i].Partitions[j]);

    gr_DescribeLogDirsResponse_t resp;
    gr_DescribeLogDirsResponse_init(&resp);
    resp.ErrorCode = KERR_NONE;
    int nd = gr_broker.nlog_dirs;
    resp.Results = GR_ARENA_ARRAY(req, gr_DescribeLogDirsResponse_DescribeLogDirsResult_t, nd,
                                  gr_DescribeLogDirsResponse_DescribeLogDirsResult_init);
    resp.Results_count = nd;
    int32_t ntopics = gr_topic_count();
    for (int d = 0; d < nd; d++) {
        gr_DescribeLogDirsResponse_DescribeLogDirsResult_t *res = &resp.Results[d];
        res->LogDir = abs_dir(req, gr_broker.log_dirs[d]);
        res->ErrorCode = KERR_NONE;
        struct statvfs sv;
        if (statvfs(gr_broker.log_dirs[d], &sv) == -1) {
            gr_warn("admin", "Cannot statvfs %s: %s", gr_broker.log_dirs[d], strerror(errno));
            res->ErrorCode = KERR_KAFKA_STORAGE_ERROR;
            res->Topics_count = 0;
            continue;
        }
        res->TotalBytes = fs_bytes(sv.f_blocks, sv.f_frsize);
        res->UsableBytes = fs_bytes(sv.f_bavail, sv.f_frsize);
        res->Topics = GR_ARENA_ARRAY(req, gr_DescribeLogDirsResponse_DescribeLogDirsTopic_t, ntopics,
                                     gr_DescribeLogDirsResponse_DescribeLogDirsTopic_init);
        res->Topics_count = 0;
        gr_DescribeLogDirsResponse_DescribeLogDirsPartition_t tmp;
        for (gr_topic_t *t = gr_topic_next(NULL); t && res->Topics_count < ntopics; t = gr_topic_next(t)) {
            int32_t here = 0, shown = 0;
            int32_t nlen = (int32_t)strlen(t->name);
            for (int32_t i = 0; i < t->npart; i++)
                if (part_in_dir(t->parts[i], d, &tmp)) {
                    here++;
                    if (all || gr_keyset_count(&want, t->name, nlen, i) > 0)
                        shown++;
                }
            if (here == 0)
                continue;
            gr_DescribeLogDirsResponse_DescribeLogDirsTopic_t *rt = &res->Topics[res->Topics_count++];
            rt->Name = (gr_str_t){t->name, nlen};
            rt->Partitions = GR_ARENA_ARRAY(req, gr_DescribeLogDirsResponse_DescribeLogDirsPartition_t, shown,
                                            gr_DescribeLogDirsResponse_DescribeLogDirsPartition_init);
            rt->Partitions_count = 0;
            for (int32_t i = 0; i < t->npart && rt->Partitions_count < shown; i++)
                if ((all || gr_keyset_count(&want, t->name, nlen, i) > 0) &&
                    part_in_dir(t->parts[i], d, &rt->Partitions[rt->Partitions_count]))
                    rt->Partitions_count++;
        }
    }
    GR_RESPOND(req, DescribeLogDirsResponse, &resp);
}

/* A log dir named by a request: its configured form, its absolute form
 * (what DescribeLogDirs reports) or the same directory by realpath.  The
 * index, or -1. */
/* realpath() resolutions one request may ask for (then names must match
 * as given), so that a request naming a million dirs stays cheap. */
#define REALPATH_MAX 64

static int find_dir(gr_req_t *req, gr_str_t path, int *resolutions)
{
    if (path.len <= 0 || path.len >= PATH_MAX)
        return -1;
    char *want = gr_arena_strndup(&req->arena, path.p, (size_t)path.len);
    if (memchr(want, '\0', (size_t)path.len))
        return -1;
    char rw[PATH_MAX], rd[PATH_MAX];
    bool have_rw = false;
    for (int d = 0; d < gr_broker.nlog_dirs; d++) {
        gr_str_t a = abs_dir(req, gr_broker.log_dirs[d]);
        if (!strcmp(want, gr_broker.log_dirs[d]) || (a.len == path.len && !memcmp(a.p, want, (size_t)a.len)))
            return d;
    }
    if (++*resolutions <= REALPATH_MAX)
        have_rw = realpath(want, rw) != NULL;
    for (int d = 0; have_rw && d < gr_broker.nlog_dirs; d++)
        if (realpath(gr_broker.log_dirs[d], rd) && !strcmp(rw, rd))
            return d;
    return -1;
}

typedef struct ent {
    gr_str_t topic;
    int32_t partition;
    int dir;                      /* -1: not a log dir */
    int32_t order;                /* place in the request */
} ent_t;

static bool ent_same(const ent_t *a, const ent_t *b)
{
    return a->partition == b->partition && a->topic.len == b->topic.len &&
           (a->topic.len <= 0 || !memcmp(a->topic.p, b->topic.p, (size_t)a->topic.len));
}

static int ent_by_key(const void *x, const void *y)
{
    const ent_t *a = x, *b = y;
    int32_t la = GR_MAX(a->topic.len, 0), lb = GR_MAX(b->topic.len, 0);
    int c = memcmp(a->topic.p ? a->topic.p : "", b->topic.p ? b->topic.p : "", (size_t)GR_MIN(la, lb));
    if (c == 0)
        c = (la > lb) - (la < lb);
    if (c == 0)
        c = (a->partition > b->partition) - (a->partition < b->partition);
    return c ? c : (a->order > b->order) - (a->order < b->order);
}

/* AlterReplicaLogDirs, as Kafka's ReplicaManager.alterReplicaLogDirs: each
 * partition goes to the dir it is named under last (the request is a map);
 * a dir that is not one of log.dirs is LOG_DIR_NOT_FOUND, a partition this
 * broker does not have REPLICA_NOT_AVAILABLE, one whose storage is failing
 * KAFKA_STORAGE_ERROR; a partition already there, or already on its way
 * there, is NONE.  The move itself runs in the background (logmove.c);
 * DescribeLogDirs shows its progress (IsFutureKey). */
void gr_api_alter_replica_log_dirs(gr_req_t *req, gr_rd_t *body)
{
    gr_AlterReplicaLogDirsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, AlterReplicaLogDirsRequest, &r);

    /* every (topic, partition) once, with the last dir it is named under:
     * sorted by key and place, so that a request of many names costs
     * n log n; the answer lists the topics in name order (Kafka's is a
     * hash map's) */
    int64_t total = 0;
    for (int32_t i = 0; i < r.Dirs_count; i++)
        for (int32_t j = 0; j < r.Dirs[i].Topics_count; j++)
            total += GR_MAX(r.Dirs[i].Topics[j].Partitions_count, 0);
    ent_t *occ = gr_arena_alloc(&req->arena, sizeof(ent_t) * (size_t)GR_MAX(total, 1));
    int32_t m = 0;
    int resolutions = 0;
    for (int32_t i = 0; i < r.Dirs_count; i++) {
        int d = find_dir(req, r.Dirs[i].Path, &resolutions);
        for (int32_t j = 0; j < r.Dirs[i].Topics_count; j++) {
            const gr_AlterReplicaLogDirsRequest_AlterReplicaLogDirTopic_t *t = &r.Dirs[i].Topics[j];
            for (int32_t k = 0; k < t->Partitions_count; k++) {
                occ[m] = (ent_t){t->Name, t->Partitions[k], d, m};
                m++;
            }
        }
    }
    qsort(occ, (size_t)m, sizeof(*occ), ent_by_key);
    ent_t *ents = gr_arena_alloc(&req->arena, sizeof(ent_t) * (size_t)GR_MAX(m, 1));
    int32_t n = 0;
    for (int32_t i = 0; i < m; i++) {
        if (i > 0 && ent_same(&occ[i], &occ[i - 1])) {
            ents[n - 1].dir = occ[i].dir;           /* named again: the later dir */
            continue;
        }
        ents[n++] = occ[i];
    }

    gr_AlterReplicaLogDirsResponse_t resp;
    gr_AlterReplicaLogDirsResponse_init(&resp);
    resp.Results = GR_ARENA_ARRAY(req, gr_AlterReplicaLogDirsResponse_AlterReplicaLogDirTopicResult_t, n,
                                  gr_AlterReplicaLogDirsResponse_AlterReplicaLogDirTopicResult_init);
    resp.Results_count = 0;
    gr_AlterReplicaLogDirsResponse_AlterReplicaLogDirTopicResult_t *tr = NULL;
    for (int32_t e = 0; e < n; e++) {
        if (!tr || tr->TopicName.len != ents[e].topic.len ||
            (ents[e].topic.len > 0 && memcmp(tr->TopicName.p, ents[e].topic.p, (size_t)ents[e].topic.len))) {
            int32_t cnt = 1;
            while (e + cnt < n && ents[e + cnt].topic.len == ents[e].topic.len &&
                   (ents[e].topic.len <= 0 ||
                    !memcmp(ents[e + cnt].topic.p, ents[e].topic.p, (size_t)ents[e].topic.len)))
                cnt++;
            tr = &resp.Results[resp.Results_count++];
            tr->TopicName = ents[e].topic;
            tr->Partitions = GR_ARENA_ARRAY(req, gr_AlterReplicaLogDirsResponse_AlterReplicaLogDirPartitionResult_t, cnt,
                                            gr_AlterReplicaLogDirsResponse_AlterReplicaLogDirPartitionResult_init);
            tr->Partitions_count = 0;
        }
        gr_AlterReplicaLogDirsResponse_AlterReplicaLogDirPartitionResult_t *pr = &tr->Partitions[tr->Partitions_count++];
        pr->PartitionIndex = ents[e].partition;
        gr_topic_t *t = ents[e].topic.len > 0 ? gr_topic_find(ents[e].topic.p, (size_t)ents[e].topic.len) : NULL;
        gr_partition_t *p = t ? gr_partition_get(t, ents[e].partition) : NULL;
        if (ents[e].dir < 0)
            pr->ErrorCode = KERR_LOG_DIR_NOT_FOUND;
        else if (!p)
            pr->ErrorCode = KERR_REPLICA_NOT_AVAILABLE;
        else
            pr->ErrorCode = gr_api_serr_kerr(gr_logmove_start(p, ents[e].dir));
        if (pr->ErrorCode == KERR_NONE && p && p->log_dir != ents[e].dir)
            gr_info("admin", "Moving %s-%d to %s (for %s)", t->name, p->index, gr_broker.log_dirs[ents[e].dir],
                    gr_req_peer(req));
    }
    GR_RESPOND(req, AlterReplicaLogDirsResponse, &resp);
}
