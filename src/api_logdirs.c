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

void gr_api_alter_replica_log_dirs(gr_req_t *req, gr_rd_t *body)
{
    gr_AlterReplicaLogDirsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, AlterReplicaLogDirsRequest, &r);
    gr_AlterReplicaLogDirsResponse_t resp;
    gr_AlterReplicaLogDirsResponse_init(&resp);
    GR_RESPOND(req, AlterReplicaLogDirsResponse, &resp);
}
