/*
 * coord.c - the group coordinator on __consumer_offsets: the service the
 * API handlers call (validation, writes) and the shard the coordinator
 * runtime (coord_runtime.c) runs on each partition of the topic, as
 * Kafka's GroupCoordinatorService and GroupCoordinatorShard.
 *
 * The topic is created at startup if missing: internal, compacted,
 * offsets.topic.num.partitions partitions, segment.bytes =
 * offsets.topic.segment.bytes, and min.compaction.lag.ms = 3600000 (1 h)
 * so that the cleaner leaves at least the last hour of commits and
 * generations in place for the group-history timeline.  A group lives on
 * partition abs(javaHashCode(group_id)) % partitions, with the topic's own
 * partition count.
 *
 * Records (key and value are each an int16 version followed by a
 * non-flexible big-endian body, strings int16-length; a null value is a
 * tombstone that deletes the key):
 *
 *   OffsetCommitKey v1           OffsetCommitValue v3        v1 (with expiry)
 *   +---------+---------------+  +-----------------+-------+ +-----------------+
 *   | int16   | version = 1   |  | int16 version=3 |       | | int16 version=1 |
 *   | string  | group         |  | int64 offset    |       | | int64 offset    |
 *   | string  | topic         |  | int32 leaderEpoch       | | string metadata |
 *   | int32   | partition     |  | string metadata |       | | int64 commitTs  |
 *   +---------+---------------+  | int64 commitTimestamp   | | int64 expireTs  |
 *                                +-----------------+-------+ +-----------------+
 *   GroupMetadataKey v2          GroupMetadataValue v3 (group.c encodes it)
 *   +---------+---------------+  +--------------------------------------------+
 *   | int16   | version = 2   |  | int16 version = 3                          |
 *   | string  | group         |  | string protocolType ("" if none)           |
 *   +---------+---------------+  | int32 generation                           |
 *                                | string? protocol | string? leader          |
 *                                | int64 currentStateTimestamp                |
 *                                | int32 count, per member:                   |
 *                                |   string memberId | string? groupInstanceId|
 *                                |   string clientId | string clientHost      |
 *                                |   int32 rebalanceTimeout | int32 sessionTo |
 *                                |   bytes subscription | bytes assignment    |
 *                                +--------------------------------------------+
 *   Key versions 0/1 = offset commit, 2 = group metadata (Kafka's rule).
 *   OffsetCommitValue v0-v4 and GroupMetadataValue v0-v4 are read.
 *
 * The shard (one per partition) replays them, and that is the only way
 * the groups' persisted state changes (Kafka's GroupMetadataManager and
 * OffsetMetadataManager replay):
 *
 *   OffsetCommit value      the offset is set; an unknown group is created
 *                           first (a simple group: Empty, generation 0)
 *   OffsetCommit tombstone  the offset is removed
 *   GroupMetadata value     at load: the last one of each group is decoded
 *                           into it (group.c) once the partition is read;
 *                           a classic group's are written live with replay
 *                           off (Kafka's replayRecords = false), since its
 *                           state machine holds that state already; the
 *                           one of a consumer group turned classic (after
 *                           its tombstones) is decoded into it at once
 *   GroupMetadata tombstone the group is removed unless offsets outlived it;
 *                           a classic group with members loses them (it
 *                           becomes a consumer group, cgroup.c)
 *
 *   transactional OffsetCommit   (a TxnOffsetCommit's, in a transactional
 *   value                        batch of its producer) a pending offset of
 *                                that producer (txn_offsets.h); an unknown
 *                                group is created as for a commit
 *   COMMIT / ABORT marker        the producer's pending offsets become
 *                                committed offsets / are dropped (Kafka's
 *                                replayEndTransactionMarker)
 *
 * Each live change pushes an undo entry (the offset's previous value, the
 * group created, the group detached, the members taken out, the classic
 * group a downgrade made) that the runtime runs if the append fails.  Groups created by commits whose offsets are all deleted again,
 * without any GroupMetadata, do not survive a load (Kafka has no such
 * group either).
 *
 * Writes (commits, DeleteGroups, OffsetDelete, expiry) read the groups,
 * build the records and hand them to the runtime; each reports through a
 * callback with Kafka's mapping of the append's failure
 * (appendGroupMetadataErrorToResponseError; INVALID_COMMIT_OFFSET_SIZE for
 * a commit too large, as the classic coordinator).  Tombstones carry the
 * exact key bytes of the records they delete (same codec), so compaction
 * removes both; they are written only for keys that exist.
 *
 * Strings.  Ids, protocol names and offset metadata are Java Strings for
 * Kafka, and the records hold their UTF-8 encoding.  In memory they are in
 * the held form of jstr.h: they leave through gr_group_str_wire() and come
 * back through gr_group_str_held*(), which also read bytes that are not
 * canonical UTF-8 (written by older versions) as Kafka reads them.
 */
#include "coord.h"

#include "batch.h"
#include "broker.h"
#include "cgroup.h"
#include "hmap.h"
#include "jstr.h"
#include "lag.h"
#include "metrics.h"
#include "schema_gen.h"
#include "topic.h"
#include "txn_offsets.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_COMPACTION_LAG_MS "3600000"

/* The last GroupMetadata value of a group seen while loading a partition. */
typedef struct pending_md {
    gr_hnode_t node;
    char *group;                    /* held form */
    size_t glen;
    uint8_t *value;                 /* owned copy, NULL = tombstone */
    int32_t vlen;
    bool has_members;               /* value's members array is not empty */
} pending_md_t;

/* While loading: the commits of one request (contiguous records with one
 * commit timestamp) made while their group had no members, i.e. an admin's
 * reset.  The last one of a group becomes its last reset (lag.h), which the
 * console offers to undo, as gr_metrics_commit_end does for a live one. */
typedef struct load_run {
    char *group;                    /* held form, owned; NULL: no run */
    size_t glen;
    int64_t ts;
    bool changed;                   /* an offset moved */
    gr_lag_reset_ent_t *e;          /* topics owned */
    int32_t n, cap;
} load_run_t;

/* The state of one partition: its groups are the registry's groups whose
 * coord_partition is this one (group.c owns them). */
typedef struct shard {
    int32_t part;
    bool loaded;
    /* while loading */
    gr_hmap_t md;                   /* pending_md_t by group id */
    gr_group_t **created;           /* groups a commit's replay created */
    int32_t ncreated, capcreated;
    gr_group_t *last;               /* replay cache: the last group looked up ... */
    uint64_t last_version;          /* ... while the registry was at this version */
    gr_arena_t arena;               /* decoding scratch, reset per record */
    gr_crt_timer_t expire_timer;
    gr_txnoff_t *txn;               /* pending transactional offsets */
    load_run_t run;                 /* while loading */
} shard_t;

/* History entries of a commit being replayed: filled by the replay, added
 * to the group once the write landed. */
typedef struct commit_ctx {
    gr_coord_cb *cb;
    void *arg;
    gr_group_t *g;                  /* the group the replay committed to ... */
    uint64_t g_version;             /* ... valid while the registry is at this version */
    char *gid;
    char *who;
    int32_t n, filled;
    struct {
        const char *topic;          /* in this allocation */
        int32_t partition;
        int64_t from, to;
    } h[];
} commit_ctx_t;

static struct {
    gr_crt_t *rt;
    int32_t npart;
    commit_ctx_t *hist_sink;        /* the commit being written, for its history */
    int64_t load_groups_t0;
} C;

/* ------------------------------------------------------------ placement, status */

int32_t gr_coord_partition_for(const char *group_id, size_t len)
{
    int32_t n = C.rt ? C.npart : gr_broker.cfg.offsets_topic_num_partitions;
    return gr_jstr_partition(group_id, len, GR_JSTR_HELD, n);
}

bool gr_coord_loading_any(void)
{
    return gr_crt_loading_any(C.rt);
}

gr_kerr_t gr_coord_validate_group(const char *id, size_t len, gr_group_api_t api)
{
    bool empty_ok = api == GR_GROUP_API_OFFSET_COMMIT || api == GR_GROUP_API_OFFSET_FETCH ||
                    api == GR_GROUP_API_DESCRIBE || api == GR_GROUP_API_DELETE;
    if (!id || (len == 0 && !empty_ok))
        return KERR_INVALID_GROUP_ID;
    if (!C.rt)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    return gr_crt_status(C.rt, gr_coord_partition_for(id, len));
}

/* ------------------------------------------------------------ codecs */

void gr_coord_offset_key(gr_wr_t *w, const char *group, size_t glen, const char *topic, size_t tlen,
                         int32_t partition)
{
    gr_arena_t a;
    gr_arena_init(&a);
    gr_OffsetCommitKey_t k;
    gr_OffsetCommitKey_init(&k);
    k.group = gr_group_str_wire(&a, group, glen);
    k.topic = (gr_str_t){topic, (int32_t)tlen};
    k.partition = partition;
    gr_wr_i16(w, 1);
    gr_OffsetCommitKey_encode(w, 1, &k);
    gr_arena_free(&a);
}

/* ibp: gr_config_ibp(), read once per write by the callers */
static void offset_value(gr_wr_t *w, int64_t offset, int32_t leader_epoch, const char *metadata, size_t mlen,
                         int64_t commit_ts, int64_t expire_ts, int ibp)
{
    gr_OffsetCommitValue_t v;
    gr_OffsetCommitValue_init(&v);
    /* Kafka < 2.1 (inter.broker.protocol.version) always wrote v1 with an
     * expire timestamp of commit + offsets.retention.minutes */
    if (ibp < 201 && expire_ts < 0)
        expire_ts = GR_MAX(gr_add_sat(commit_ts, gr_broker.cfg.offsets_retention_minutes * 60000), 0);
    int16_t ver = expire_ts >= 0 ? 1 : 3;
    gr_arena_t a;
    gr_arena_init(&a);
    v.offset = offset;
    v.leaderEpoch = leader_epoch;
    v.metadata = metadata ? gr_group_str_wire(&a, metadata, mlen) : (gr_str_t){"", 0};
    v.commitTimestamp = commit_ts;
    v.expireTimestamp = expire_ts;
    gr_wr_i16(w, ver);
    gr_OffsetCommitValue_encode(w, ver, &v);
    gr_arena_free(&a);
}

void gr_coord_offset_value(gr_wr_t *w, int64_t offset, int32_t leader_epoch, const char *metadata, size_t mlen,
                           int64_t commit_ts, int64_t expire_ts)
{
    offset_value(w, offset, leader_epoch, metadata, mlen, commit_ts, expire_ts, gr_config_ibp(&gr_broker.cfg));
}

void gr_coord_group_key(gr_wr_t *w, const char *group, size_t glen)
{
    gr_arena_t a;
    gr_arena_init(&a);
    gr_GroupMetadataKey_t k;
    gr_GroupMetadataKey_init(&k);
    k.group = gr_group_str_wire(&a, group, glen);
    gr_wr_i16(w, 2);
    gr_GroupMetadataKey_encode(w, 2, &k);
    gr_arena_free(&a);
}

/* Add the record whose key (and value, unless NULL: a tombstone) were
 * encoded into w, key first: k_len bytes. */
static void add_record(gr_crt_result_t *r, gr_wr_t *w, size_t k_len, bool tombstone)
{
    size_t len = 0;
    const uint8_t *rec = gr_wr_flatten(w, &len);
    gr_crt_result_add(r, rec, (int32_t)k_len, tombstone ? NULL : rec + k_len, (int32_t)(len - k_len));
    gr_wr_free(w);
    gr_wr_init(w);
}

static void add_offset_tombstone(gr_crt_result_t *r, const char *gid, size_t glen, const char *topic, size_t tlen,
                                 int32_t partition)
{
    gr_wr_t w;
    gr_wr_init(&w);
    gr_coord_offset_key(&w, gid, glen, topic, tlen, partition);
    add_record(r, &w, w.total, true);
    gr_wr_free(&w);
}

static void add_group_tombstone(gr_crt_result_t *r, const char *gid, size_t glen)
{
    gr_wr_t w;
    gr_wr_init(&w);
    gr_coord_group_key(&w, gid, glen);
    add_record(r, &w, w.total, true);
    gr_wr_free(&w);
}

/* ------------------------------------------------------------ errors */

/* Kafka's appendGroupMetadataErrorToResponseError (also its
 * handleOperationException for the coordinator's other writes). */
static gr_kerr_t map_group_error(gr_kerr_t e)
{
    switch (e) {
    case KERR_UNKNOWN_TOPIC_OR_PARTITION:
    case KERR_NOT_ENOUGH_REPLICAS:
    case KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case KERR_REQUEST_TIMED_OUT:
        return KERR_COORDINATOR_NOT_AVAILABLE;
    case KERR_NOT_LEADER_OR_FOLLOWER:
    case KERR_KAFKA_STORAGE_ERROR:
        return KERR_NOT_COORDINATOR;
    case KERR_MESSAGE_TOO_LARGE:
    case KERR_RECORD_LIST_TOO_LARGE:
    case KERR_INVALID_FETCH_SIZE:
        return KERR_UNKNOWN_SERVER_ERROR;
    default:
        return e;
    }
}

/* The classic coordinator's mapping of an offset commit's append
 * (GroupMetadataManager.storeOffsets): too large is
 * INVALID_COMMIT_OFFSET_SIZE. */
static gr_kerr_t map_commit_error(gr_kerr_t e)
{
    if (e == KERR_MESSAGE_TOO_LARGE || e == KERR_RECORD_LIST_TOO_LARGE || e == KERR_INVALID_FETCH_SIZE)
        return KERR_INVALID_COMMIT_OFFSET_SIZE;
    return map_group_error(e);
}

/* A write's own completion: map, then the caller's callback. */
typedef struct done_ctx {
    gr_coord_cb *cb;
    void *arg;
    const char *what;
} done_ctx_t;

static void group_write_done(void *arg, gr_kerr_t err)
{
    done_ctx_t *d = arg;
    if (err != KERR_NONE && d->what)
        gr_warn("coord", "%s failed: %s", d->what, gr_kerr_name(err));
    if (d->cb)
        d->cb(d->arg, map_group_error(err));
    free(d);
}

static void coord_write(gr_crt_result_t *r, gr_coord_cb *cb, void *arg, const char *what)
{
    done_ctx_t *d = gr_malloc(sizeof(*d));
    *d = (done_ctx_t){cb, arg, what};
    gr_crt_write(C.rt, r, group_write_done, d);
}

void gr_coord_write(gr_crt_result_t *r, gr_coord_cb *cb, void *arg, const char *what)
{
    coord_write(r, cb, arg, what);
}

gr_crt_t *gr_coord_rt(void)
{
    return C.rt;
}

/* ------------------------------------------------------------ undo */

typedef struct offset_undo {
    bool existed;
    int32_t partition;
    int32_t leader_epoch;
    int64_t offset, commit_ts, expire_ts;
    size_t glen, tlen, mlen;
    char s[];                       /* group, topic, metadata, each NUL-terminated */
} offset_undo_t;

/* Put back the offset as it was before the record (or remove it). */
static void offset_undo_fn(void *shard, void *data, bool rollback)
{
    GR_UNUSED(shard);
    offset_undo_t *u = data;
    if (!rollback)
        return;
    const char *gid = u->s, *topic = u->s + u->glen + 1, *md = topic + u->tlen + 1;
    gr_group_t *g = gr_group_find(gid, u->glen);
    if (u->existed) {
        assert(g);
        gr_offset_put(gr_offsets_of(g), topic, u->tlen, u->partition, u->offset, u->leader_epoch, md, u->mlen,
                      u->commit_ts, u->expire_ts, NULL);
    } else if (g) {
        gr_offset_remove(g->offsets, topic, u->tlen, u->partition);
    }
}

static void push_offset_undo(gr_crt_undo_t *undo, const char *gid, size_t glen, const char *topic, size_t tlen,
                             int32_t partition, const gr_offset_t *o)
{
    size_t mlen = o ? strlen(o->metadata) : 0;
    offset_undo_t *u = gr_crt_undo_push(undo, offset_undo_fn, sizeof(*u) + glen + tlen + mlen + 3);
    u->existed = o != NULL;
    u->partition = partition;
    u->glen = glen;
    u->tlen = tlen;
    u->mlen = mlen;
    memcpy(u->s, gid, glen);
    memcpy(u->s + glen + 1, topic, tlen);
    if (o) {
        u->offset = o->offset;
        u->leader_epoch = o->leader_epoch;
        u->commit_ts = o->commit_timestamp;
        u->expire_ts = o->expire_timestamp;
        memcpy(u->s + glen + tlen + 2, o->metadata, mlen);
    }
}

/* A group a commit's replay created goes again (unless the live state
 * machine gave it members meanwhile). */
static void created_undo_fn(void *shard, void *data, bool rollback)
{
    GR_UNUSED(shard);
    if (!rollback)
        return;
    const char *gid = data;
    gr_group_t *g = gr_group_find(gid, strlen(gid));
    if (g && g->nmembers == 0 && g->npending == 0 && gr_offset_map_count(g->offsets) == 0)
        gr_group_remove(g);
}

/* ------------------------------------------------------------ replay */

/* gr_group_find with a cache of the last group: the records of a commit
 * or of a load come group by group. */
static gr_group_t *shard_find(shard_t *s, const char *id, size_t len)
{
    gr_group_t *g = s->last;
    if (g && s->last_version == gr_group_registry_version() && strlen(g->group_id) == len &&
        !memcmp(g->group_id, id, len))
        return g;
    g = gr_group_find(id, len);
    s->last = g;
    s->last_version = gr_group_registry_version();
    return g;
}

static pending_md_t *md_find(shard_t *s, const char *group, size_t glen, uint32_t h)
{
    for (gr_hnode_t *n = gr_hmap_first(&s->md, h); n; n = gr_hmap_next(n)) {
        pending_md_t *e = GR_CONTAINER(n, pending_md_t, node);
        if (e->glen == glen && !memcmp(e->group, group, glen))
            return e;
    }
    return NULL;
}

/* Whether a GroupMetadataValue's members array is not empty, read from the
 * fields before it (the members themselves are not decoded: this runs for
 * every such record while loading). */
static bool value_has_members(const uint8_t *value, int32_t vlen)
{
    gr_rd_t rd;
    gr_rd_init(&rd, value, (size_t)vlen);
    int16_t ver = gr_rd_i16(&rd);
    if (rd.err || ver < 0 || ver > 4)
        return false;
    bool flex = ver >= 4;
    gr_str_t str;
    gr_rd_str(&rd, flex, &str);     /* protocolType */
    gr_rd_i32(&rd);                 /* generation */
    gr_rd_str(&rd, flex, &str);     /* protocol */
    gr_rd_str(&rd, flex, &str);     /* leader */
    if (ver >= 2)
        gr_rd_i64(&rd);             /* currentStateTimestamp */
    int64_t n = flex ? (int64_t)gr_rd_uvarint(&rd) - 1 : gr_rd_i32(&rd);
    return !rd.err && n > 0;
}

static void md_put(shard_t *s, const char *group, size_t glen, const uint8_t *value, int32_t vlen)
{
    uint32_t h = gr_hash32(group, glen);
    pending_md_t *e = md_find(s, group, glen, h);
    if (!e) {
        e = gr_calloc(1, sizeof(*e));
        e->group = gr_strndup(group, glen);
        e->glen = glen;
        gr_hmap_insert(&s->md, &e->node, h);
    }
    free(e->value);
    e->value = NULL;
    e->vlen = -1;
    e->has_members = false;
    if (value) {
        e->value = gr_malloc((size_t)GR_MAX(vlen, 1));
        memcpy(e->value, value, (size_t)vlen);
        e->vlen = vlen;
        e->has_members = value_has_members(value, vlen);
    }
}

static void run_finish(shard_t *s)
{
    load_run_t *r = &s->run;
    if (r->group && r->changed)
        gr_lag_reset_recorded(r->group, r->e, r->n, r->ts);
    for (int32_t i = 0; i < r->n; i++)
        free((char *)r->e[i].topic);
    free(r->group);
    r->group = NULL;
    r->n = 0;
    r->changed = false;
}

/* A commit replayed at load: part of a reset run when the group's metadata
 * so far has no members (a consumer group's records are replayed as they
 * come; a classic group's last GroupMetadata is applied at the end). */
static void run_add(shard_t *s, const gr_group_t *g, const char *gid, size_t glen, const char *topic, size_t tlen,
                    int32_t partition, int64_t from, int64_t to, int64_t ts)
{
    load_run_t *r = &s->run;
    if (r->group && (r->ts != ts || r->glen != glen || memcmp(r->group, gid, glen)))
        run_finish(s);
    pending_md_t *md = md_find(s, gid, glen, gr_hash32(gid, glen));
    if ((md && md->has_members) || (g && g->type == GR_GROUP_CONSUMER && gr_cgroup_nmembers(g->cg) > 0)) {
        run_finish(s);
        return;
    }
    if (!r->group) {
        r->group = gr_strndup(gid, glen);
        r->glen = glen;
        r->ts = ts;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->e = gr_realloc(r->e, sizeof(*r->e) * (size_t)r->cap);
    }
    r->e[r->n++] = (gr_lag_reset_ent_t){.topic = gr_strndup(topic, tlen), .partition = partition, .from = from,
                                        .to = to};
    if (from != to)
        r->changed = true;
}

/* The group of a record being replayed, created (a simple group, Kafka's
 * OffsetMetadataManager.replay) when it does not exist. */
static gr_group_t *replay_group_of(shard_t *s, gr_group_t *g, const char *gid, size_t glen, gr_crt_undo_t *undo)
{
    if (g)
        return g;
    g = gr_group_create_simple(gid, glen, s->part);
    s->last = g;
    s->last_version = gr_group_registry_version();
    if (!s->loaded) {
        if (s->ncreated == s->capcreated) {
            s->capcreated = s->capcreated ? s->capcreated * 2 : 64;
            s->created = gr_realloc(s->created, sizeof(*s->created) * (size_t)s->capcreated);
        }
        s->created[s->ncreated++] = g;
    }
    if (undo) {
        char *u = gr_crt_undo_push(undo, created_undo_fn, glen + 1);
        memcpy(u, gid, glen);
    }
    return g;
}

static int replay_offset(shard_t *s, gr_rd_t *rd, int16_t kver, const gr_crt_record_t *rec, gr_crt_undo_t *undo)
{
    gr_OffsetCommitKey_t k;
    if (gr_OffsetCommitKey_decode(rd, kver, &s->arena, &k) < 0 || k.group.len < 0 || k.topic.len < 0)
        return GR_ECORRUPT;
    /* the records of a commit or a load come group by group: bytes equal
     * to the last group's id (without C0, which the held form gives its own
     * meaning) are that group, without decoding them */
    gr_group_t *g = s->last;
    gr_str_t gid;
    if (g && s->last_version == gr_group_registry_version() && strlen(g->group_id) == (size_t)k.group.len &&
        !memcmp(g->group_id, k.group.p, (size_t)k.group.len) && !memchr(k.group.p, 0xc0, (size_t)k.group.len)) {
        gid = (gr_str_t){g->group_id, k.group.len};
    } else {
        gid = gr_group_str_held_tmp(&s->arena, k.group);
        g = shard_find(s, gid.p, (size_t)gid.len);
    }
    size_t glen = (size_t)gid.len, tlen = (size_t)k.topic.len;
    if (!rec->value) {
        if (!undo)
            run_finish(s);
        /* the key's pending transactional offsets go with it */
        gr_txnoff_key_written(s->txn, gid.p, glen, k.topic.p, tlen, k.partition, true, undo);
        gr_offset_t *o = g ? gr_offset_get(g->offsets, k.topic.p, tlen, k.partition) : NULL;
        if (!o)
            return 0;
        if (undo)
            push_offset_undo(undo, gid.p, glen, k.topic.p, tlen, k.partition, o);
        gr_offset_remove(g->offsets, k.topic.p, tlen, k.partition);
        return 0;
    }
    gr_rd_t vr;
    gr_rd_init(&vr, rec->value, (size_t)rec->value_len);
    int16_t vver = gr_rd_i16(&vr);
    gr_OffsetCommitValue_t v;
    if (vr.err || vver < 0 || vver > 4 || gr_OffsetCommitValue_decode(&vr, vver, &s->arena, &v) < 0)
        return GR_ECORRUPT;
    /* Kafka's OffsetMetadataManager.replay: a commit without group
     * management creates a simple group */
    g = replay_group_of(s, g, gid.p, glen, undo);
    if (rec->producer_id >= 0) {
        if (!undo)
            run_finish(s);
        /* a TxnOffsetCommit's: pending until its producer's marker */
        gr_str_t pmd = gr_group_str_held_tmp(&s->arena, v.metadata);
        gr_txnoff_put(s->txn, rec->producer_id, gid.p, glen, k.topic.p, tlen, k.partition, v.offset,
                      vver >= 3 ? v.leaderEpoch : -1, pmd.p, (size_t)GR_MAX(pmd.len, 0), v.commitTimestamp,
                      vver == 1 ? v.expireTimestamp : -1, rec->offset, undo);
        return 0;
    }
    /* a newer commit of the key than any pending one */
    gr_txnoff_key_written(s->txn, gid.p, glen, k.topic.p, tlen, k.partition, false, undo);
    gr_offset_map_t *m = gr_offsets_of(g);
    if (undo)
        push_offset_undo(undo, gid.p, glen, k.topic.p, tlen, k.partition, gr_offset_get(m, k.topic.p, tlen, k.partition));
    gr_str_t md = gr_group_str_held_tmp(&s->arena, v.metadata);
    int64_t prev;
    gr_offset_put(m, k.topic.p, tlen, k.partition, v.offset, vver >= 3 ? v.leaderEpoch : -1, md.p, (size_t)md.len,
                  v.commitTimestamp, vver == 1 ? v.expireTimestamp : -1, &prev);
    if (!undo)
        run_add(s, g, gid.p, glen, k.topic.p, tlen, k.partition, prev, v.offset, v.commitTimestamp);
    commit_ctx_t *c = C.hist_sink;
    if (c && undo && c->filled < c->n) {
        c->h[c->filled].from = prev;
        c->h[c->filled].to = v.offset;
        c->filled++;
        c->g = g;
        c->g_version = gr_group_registry_version();
    }
    return 0;
}

/* A GroupMetadata value replayed live made a classic group of a consumer
 * group (its tombstones came first): undone, the group goes back to what
 * it was before the value (gone, or the empty group its offsets kept). */
typedef struct loaded_undo {
    gr_group_saved_t *before;       /* NULL: the value created the group */
    char gid[];
} loaded_undo_t;

static void loaded_undo_fn(void *shard, void *data, bool rollback)
{
    GR_UNUSED(shard);
    loaded_undo_t *u = data;
    gr_group_t *g = rollback ? gr_group_find(u->gid, strlen(u->gid)) : NULL;
    if (!g || g->type != GR_GROUP_CLASSIC) {
        gr_group_saved_free(u->before);
        return;
    }
    if (!u->before) {
        gr_group_remove(g);
        return;
    }
    gr_group_saved_free(gr_group_strip(g));
    gr_group_unstrip(g, u->before);
}

/* A GroupMetadata tombstone replayed live on a classic group with members
 * took them out (the upgrade to a consumer group); undone, they are put
 * back. */
typedef struct stripped_undo {
    gr_group_saved_t *saved;
    char gid[];
} stripped_undo_t;

static void stripped_undo_fn(void *shard, void *data, bool rollback)
{
    GR_UNUSED(shard);
    stripped_undo_t *u = data;
    gr_group_t *g = rollback ? gr_group_find(u->gid, strlen(u->gid)) : NULL;
    if (g && g->type == GR_GROUP_CLASSIC && !g->members && g->npending == 0)
        gr_group_unstrip(g, u->saved);
    else
        gr_group_saved_free(u->saved);
}

static int replay_group(shard_t *s, gr_rd_t *rd, const gr_crt_record_t *rec, gr_crt_undo_t *undo)
{
    gr_GroupMetadataKey_t k;
    if (gr_GroupMetadataKey_decode(rd, 2, &s->arena, &k) < 0 || k.group.len < 0)
        return GR_ECORRUPT;
    gr_str_t gid = gr_group_str_held_tmp(&s->arena, k.group);
    size_t glen = (size_t)gid.len;
    if (!s->loaded) {
        /* the last value of each group is applied once the partition is read */
        md_put(s, gid.p, glen, rec->value, rec->value_len);
        return 0;
    }
    gr_group_t *g = gr_group_find(gid.p, glen);
    s->last = NULL;                 /* the registry may change under the cache */
    if (rec->value) {
        /* a classic group writes its own with replay off (its state machine
         * holds it); replayed live is only the value of a consumer group
         * becoming a classic group, after its tombstones (Kafka's
         * convertToClassicGroup): decoded into the group as at load */
        if (g && (g->type != GR_GROUP_CLASSIC || g->members || g->npending > 0)) {
            gr_warn("coord", "GroupMetadata of group %s replayed live: refused", gid.p);
            return GR_EINVAL;
        }
        gr_group_saved_t *before = g ? gr_group_strip(g) : NULL;
        int rc = gr_group_load_metadata(gid.p, glen, rec->value, rec->value_len, s->part);
        if (rc < 0) {
            if (before)
                gr_group_unstrip(g, before);
            return rc;
        }
        if (undo) {
            loaded_undo_t *u = gr_crt_undo_push(undo, loaded_undo_fn, sizeof(*u) + glen + 1);
            u->before = before;
            memcpy(u->gid, gid.p, glen);
        } else {
            gr_group_saved_free(before);
        }
        return 0;
    }
    if (!g || g->type != GR_GROUP_CLASSIC)
        return 0;
    if (g->nmembers > 0 || g->state != GR_GROUP_EMPTY) {
        /* a classic group with members becomes a consumer group (Kafka's
         * convertToConsumerGroup): its members go, its offsets stay */
        gr_group_saved_t *saved = gr_group_strip(g);
        if (undo) {
            stripped_undo_t *u = gr_crt_undo_push(undo, stripped_undo_fn, sizeof(*u) + glen + 1);
            u->saved = saved;
            memcpy(u->gid, gid.p, glen);
        } else {
            gr_group_saved_free(saved);
        }
        return 0;
    }
    if (gr_offset_map_count(g->offsets) > 0)
        return 0;
    gr_info("coord", "Group %s removed: its GroupMetadata tombstone", g->group_id);
    gr_group_detach(g);
    if (undo)
        *(gr_group_t **)gr_crt_undo_push(undo, gr_group_detach_undo, sizeof(g)) = g;
    else
        gr_group_free(g);
    return 0;
}

static int shard_replay(void *shard, const gr_crt_record_t *rec, gr_crt_undo_t *undo)
{
    shard_t *s = shard;
    if (!rec->key || rec->key_len < 2)
        return GR_ECORRUPT;
    gr_arena_reset(&s->arena);
    gr_rd_t rd;
    gr_rd_init(&rd, rec->key, (size_t)rec->key_len);
    int16_t kver = gr_rd_i16(&rd);
    if (kver == 0 || kver == 1)
        return replay_offset(s, &rd, kver, rec, undo);
    if (!undo)
        run_finish(s);
    if (kver == 2)
        return replay_group(s, &rd, rec, undo);
    if (gr_cgroup_is_record(kver)) {
        s->last = NULL;             /* the registry may change under the cache */
        return gr_cgroup_replay(s->part, kver, rec, undo);
    }
    return GR_ECORRUPT;
}

typedef struct apply_ctx {
    shard_t *s;
    gr_crt_undo_t *undo;
} apply_ctx_t;

/* A pending offset of a committed transaction becomes a committed one. */
static void apply_pending(void *arg, const gr_txnoff_ent_t *e)
{
    apply_ctx_t *a = arg;
    const char *gid = gr_txnoff_group(e), *topic = gr_txnoff_topic(e);
    gr_group_t *g = replay_group_of(a->s, shard_find(a->s, gid, e->glen), gid, e->glen, a->undo);
    gr_offset_map_t *m = gr_offsets_of(g);
    if (a->undo)
        push_offset_undo(a->undo, gid, e->glen, topic, e->tlen, e->partition,
                         gr_offset_get(m, topic, e->tlen, e->partition));
    gr_offset_put(m, topic, e->tlen, e->partition, e->offset, e->leader_epoch, gr_txnoff_metadata(e), e->mlen,
                  e->commit_ts, e->expire_ts, NULL);
}

static int shard_replay_marker(void *shard, int64_t producer_id, int16_t producer_epoch, bool commit, int64_t offset,
                               gr_crt_undo_t *undo)
{
    GR_UNUSED(producer_epoch);
    GR_UNUSED(offset);
    shard_t *s = shard;
    apply_ctx_t a = {s, undo};
    gr_txnoff_end(s->txn, producer_id, commit, apply_pending, &a, undo);
    return 0;
}

static void expire_timer_fn(void *shard, void *arg);

static void shard_loaded(void *shard)
{
    shard_t *s = shard;
    run_finish(s);
    free(s->run.e);
    s->run = (load_run_t){0};
    s->loaded = true;
    s->last = NULL;
    /* groups created by commits whose offsets were all deleted again, and
     * without metadata, do not exist for Kafka either */
    for (int32_t i = 0; i < s->ncreated; i++) {
        gr_group_t *g = s->created[i];
        if (g->type == GR_GROUP_CLASSIC && g->nmembers == 0 && gr_offset_map_count(g->offsets) == 0 &&
            !gr_txnoff_group_open(s->txn, g->group_id, strlen(g->group_id)) &&
            !md_find(s, g->group_id, strlen(g->group_id), gr_hash32(g->group_id, strlen(g->group_id))))
            gr_group_remove(g);
    }
    free(s->created);
    s->created = NULL;
    s->ncreated = s->capcreated = 0;
    int64_t skipped = 0;
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &s->md);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        pending_md_t *e = GR_CONTAINER(n, pending_md_t, node);
        if (gr_group_load_metadata(e->group, e->glen, e->value, e->vlen, s->part) < 0)
            skipped++;
        free(e->group);
        free(e->value);
        free(e);
    }
    gr_hmap_free(&s->md);
    if (skipped)
        gr_warn("coord", "Skipped %lld undecodable GroupMetadata values of %s-%d", (long long)skipped,
                GR_OFFSETS_TOPIC, s->part);
    gr_arena_reset(&s->arena);
    gr_cgroup_loaded(s->part);
    gr_crt_timer_schedule(C.rt, s->part, &s->expire_timer, gr_broker.cfg.offsets_retention_check_interval_ms);
}

static void *shard_create(void *ctx, gr_crt_t *rt, int32_t part)
{
    GR_UNUSED(ctx);
    GR_UNUSED(rt);
    shard_t *s = gr_calloc(1, sizeof(*s));
    s->part = part;
    gr_hmap_init(&s->md, 64);
    gr_arena_init(&s->arena);
    gr_crt_timer_init(&s->expire_timer, expire_timer_fn, s);
    s->txn = gr_txnoff_new();
    return s;
}

static void shard_destroy(void *shard)
{
    shard_t *s = shard;
    gr_crt_timer_cancel(&s->expire_timer);
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &s->md);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        pending_md_t *e = GR_CONTAINER(n, pending_md_t, node);
        free(e->group);
        free(e->value);
        free(e);
    }
    gr_hmap_free(&s->md);
    for (int32_t i = 0; i < s->run.n; i++)
        free((char *)s->run.e[i].topic);
    free(s->run.group);
    free(s->run.e);
    free(s->created);
    gr_arena_free(&s->arena);
    gr_txnoff_free(s->txn);
    free(s);
}

static void shard_all_loaded(void *ctx, int64_t took_ms)
{
    GR_UNUSED(ctx);
    gr_info("coord", "Loaded %d groups from %s in %lld ms", gr_group_count(), GR_OFFSETS_TOPIC, (long long)took_ms);
}

static const gr_crt_shard_ops_t shard_ops = {
    .name = "coord",
    .create = shard_create,
    .replay = shard_replay,
    .on_loaded = shard_loaded,
    .destroy = shard_destroy,
    .all_loaded = shard_all_loaded,
    .replay_marker = shard_replay_marker,
};

/* ------------------------------------------------------------ GroupMetadata (group.c's host) */

/* Kafka's limits on the GroupMetadata append, checked before anything is
 * built: the batch must fit max.message.bytes of __consumer_offsets
 * (RecordTooLargeException) and its segment.bytes
 * (RecordBatchTooLargeException), and every string its int16 length.
 * Kafka's coordinators answer all of these UNKNOWN_SERVER_ERROR. */
static gr_kerr_t group_record_fits(gr_group_t *g, int32_t part)
{
    bool too_long;
    size_t vlen = gr_group_value_size(g, &too_long);
    size_t glen = strlen(g->group_id);
    size_t size = gr_crt_batch_size1(2 + 2 + glen, vlen);
    int64_t max_batch, seg;
    gr_crt_limits(C.rt, part, &max_batch, &seg);
    const char *what = NULL;
    int64_t limit = 0;
    if ((int64_t)size > max_batch)
        what = "max.message.bytes", limit = max_batch;
    else if ((int64_t)size > seg)
        what = "segment.bytes", limit = seg;
    if (too_long || glen > INT16_MAX)
        gr_warn("coord", "GroupMetadata record of group %s generation %d has a string longer than 32767 bytes: "
                "returning UNKNOWN_SERVER_ERROR to the group", g->group_id, g->generation_id);
    else if (what)
        gr_warn("coord", "GroupMetadata record of group %s generation %d (%d members) is %zu bytes, which exceeds "
                "%s %lld of %s-%d: returning UNKNOWN_SERVER_ERROR to the group", g->group_id, g->generation_id,
                g->nmembers, size, what, (long long)limit, GR_OFFSETS_TOPIC, part);
    else
        return KERR_NONE;
    return KERR_UNKNOWN_SERVER_ERROR;
}

void gr_coord_store_group(gr_group_t *g, gr_group_store_cb *cb, void *arg)
{
    if (!C.rt) {
        /* stopped (shutdown): nothing is written, and no loop runs a
         * completion later */
        cb(arg, KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    int32_t part = gr_coord_partition_for(g->group_id, strlen(g->group_id));
    gr_crt_result_t r;
    gr_crt_result_init(&r, C.rt, part, GR_CRT_ATOMIC | GR_CRT_NO_REPLAY);
    gr_kerr_t fit = gr_crt_status(C.rt, part) == KERR_NONE ? group_record_fits(g, part) : KERR_NONE;
    if (fit != KERR_NONE) {
        gr_crt_result_refuse(&r, fit);
    } else {
        gr_wr_t w;
        gr_wr_init(&w);
        gr_coord_group_key(&w, g->group_id, strlen(g->group_id));
        size_t klen = w.total;
        gr_group_value_encode(&w, g);
        add_record(&r, &w, klen, false);
        gr_wr_free(&w);
    }
    coord_write(&r, cb, arg, NULL);
}

static const gr_group_host_t group_host = {
    .partition_for = gr_coord_partition_for,
    .store = gr_coord_store_group,
    .cgroup_free = gr_cgroup_free,
    .cgroup_subscribed_to = gr_cgroup_subscribed_to,
    .cgroup_validate_commit = gr_cgroup_validate_commit,
    .cgroup_validate_fetch = gr_cgroup_validate_fetch,
    .cgroup_validate_offset_delete = gr_cgroup_validate_offset_delete,
};

static const gr_cgroup_host_t cgroup_host = {
    .rt = gr_coord_rt,
    .partition_for = gr_coord_partition_for,
    .write = gr_coord_write,
    .group_key = gr_coord_group_key,
};

/* ------------------------------------------------------------ commits */

static void commit_done(void *arg, gr_kerr_t err)
{
    commit_ctx_t *c = arg;
    gr_kerr_t e = map_commit_error(err);
    gr_group_t *g = NULL;
    if (e == KERR_NONE && c->filled > 0)
        g = c->g && c->g_version == gr_group_registry_version() ? c->g : gr_group_find(c->gid, strlen(c->gid));
    int64_t now = g ? gr_now_ms() : 0;
    for (int32_t i = 0; g && i < c->filled; i++)
        gr_metrics_commit(g, c->h[i].topic, c->h[i].partition, c->h[i].from, c->h[i].to, now);
    if (g)
        gr_metrics_commit_end(g, now);
    for (int32_t i = 0; g && i < c->filled; i++) {
        if (c->h[i].from == c->h[i].to)
            continue;
        gr_hist_entry_t h;
        memset(&h, 0, sizeof(h));
        h.kind = GR_HIST_COMMIT;
        h.time_ms = now;
        h.member = c->who;
        h.topic = (char *)c->h[i].topic;
        h.partition = c->h[i].partition;
        h.from_offset = c->h[i].from;
        h.to_offset = c->h[i].to;
        gr_group_hist_add(g, &h);
    }
    if (c->cb)
        c->cb(c->arg, e);
    free(c);
}

void gr_coord_commit_offsets(const char *gid, size_t glen, const char *who, const gr_coord_commit_t *c, int32_t n,
                             gr_coord_cb *cb, void *arg)
{
    assert(C.rt);
    int32_t part = gr_coord_partition_for(gid, glen);
    /* one allocation: the context, its history slots and their strings */
    size_t wl = strlen(who ? who : ""), sz = sizeof(commit_ctx_t) + glen + 1 + wl + 1;
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++)
        if (c[i].error == KERR_NONE) {
            k++;
            sz += c[i].topic_len + 1;
        }
    sz += (size_t)k * sizeof(((commit_ctx_t *)0)->h[0]);
    commit_ctx_t *ctx = gr_malloc(sz);
    ctx->cb = cb;
    ctx->arg = arg;
    ctx->g = NULL;
    ctx->n = k;
    ctx->filled = 0;
    char *s = (char *)&ctx->h[k];
    ctx->gid = s;
    memcpy(s, gid, glen);
    s[glen] = '\0';
    s += glen + 1;
    ctx->who = s;
    memcpy(s, who ? who : "", wl + 1);
    s += wl + 1;

    /* every key and value into one writer, then the records from its
     * bytes: one buffer for the commit, not one per record */
    gr_crt_result_t r;
    gr_crt_result_init(&r, C.rt, part, GR_CRT_ATOMIC);
    gr_wr_t w;
    gr_wr_init(&w);
    size_t stack_pos[3 * 16];
    size_t *pos = k <= 16 ? stack_pos : gr_malloc(sizeof(*pos) * 3 * (size_t)k);
    int ibp = gr_config_ibp(&gr_broker.cfg);
    for (int32_t i = 0, j = 0; i < n; i++) {
        if (c[i].error != KERR_NONE)
            continue;
        memcpy(s, c[i].topic, c[i].topic_len);
        s[c[i].topic_len] = '\0';
        ctx->h[j].topic = s;
        ctx->h[j].partition = c[i].partition;
        s += c[i].topic_len + 1;
        pos[3 * j] = w.total;
        gr_coord_offset_key(&w, gid, glen, c[i].topic, c[i].topic_len, c[i].partition);
        pos[3 * j + 1] = w.total;
        offset_value(&w, c[i].offset, c[i].leader_epoch, c[i].metadata, c[i].metadata_len, c[i].commit_timestamp,
                     c[i].expire_timestamp, ibp);
        pos[3 * j + 2] = w.total;
        j++;
    }
    size_t total = 0;
    const uint8_t *bytes = k > 0 ? gr_wr_flatten(&w, &total) : NULL;
    gr_crt_result_reserve(&r, total + 16 * (size_t)k);
    for (int32_t j = 0; j < k; j++)
        gr_crt_result_add(&r, bytes + pos[3 * j], (int32_t)(pos[3 * j + 1] - pos[3 * j]), bytes + pos[3 * j + 1],
                          (int32_t)(pos[3 * j + 2] - pos[3 * j + 1]));
    if (pos != stack_pos)
        free(pos);
    gr_wr_free(&w);
    C.hist_sink = ctx;
    gr_crt_write(C.rt, &r, commit_done, ctx);
    C.hist_sink = NULL;
}

void gr_coord_flush_commits(int32_t partition)
{
    gr_crt_flush(C.rt, partition);
}

/* ------------------------------------------------------------ transactions */

typedef struct txn_commit_ctx {
    gr_coord_cb *cb;
    void *arg;
} txn_commit_ctx_t;

static void txn_commit_done(void *arg, gr_kerr_t err)
{
    txn_commit_ctx_t *c = arg;
    if (c->cb)
        c->cb(c->arg, map_commit_error(err));
    free(c);
}

void gr_coord_txn_commit_offsets(const char *gid, size_t glen, int64_t producer_id, int16_t producer_epoch,
                                 const gr_coord_commit_t *c, int32_t n, gr_coord_cb *cb, void *arg)
{
    assert(C.rt);
    int32_t part = gr_coord_partition_for(gid, glen);
    gr_crt_result_t r;
    gr_crt_result_init(&r, C.rt, part, GR_CRT_ATOMIC);
    gr_crt_result_set_producer(&r, producer_id, producer_epoch);
    int ibp = gr_config_ibp(&gr_broker.cfg);
    gr_wr_t w;
    gr_wr_init(&w);
    for (int32_t i = 0; i < n; i++) {
        if (c[i].error != KERR_NONE)
            continue;
        gr_coord_offset_key(&w, gid, glen, c[i].topic, c[i].topic_len, c[i].partition);
        size_t klen = w.total;
        offset_value(&w, c[i].offset, c[i].leader_epoch, c[i].metadata, c[i].metadata_len, c[i].commit_timestamp,
                     c[i].expire_timestamp, ibp);
        add_record(&r, &w, klen, false);
    }
    gr_wr_free(&w);
    txn_commit_ctx_t *ctx = gr_malloc(sizeof(*ctx));
    *ctx = (txn_commit_ctx_t){cb, arg};
    gr_crt_write(C.rt, &r, txn_commit_done, ctx);
}

static void complete_done(void *arg, gr_kerr_t err)
{
    txn_commit_ctx_t *c = arg;
    gr_kerr_t e = map_group_error(err);
    /* KafkaApis.handleWriteTxnMarkersRequest: the transaction coordinator
     * does not expect coordinator errors: "not ready yet" */
    if (e == KERR_COORDINATOR_NOT_AVAILABLE || e == KERR_COORDINATOR_LOAD_IN_PROGRESS || e == KERR_NOT_COORDINATOR)
        e = KERR_NOT_LEADER_OR_FOLLOWER;
    if (c->cb)
        c->cb(c->arg, e);
    free(c);
}

void gr_coord_complete_txn(int32_t partition, int64_t producer_id, int16_t producer_epoch, int32_t coordinator_epoch,
                           bool commit, gr_coord_cb *cb, void *arg)
{
    txn_commit_ctx_t *ctx = gr_malloc(sizeof(*ctx));
    *ctx = (txn_commit_ctx_t){cb, arg};
    if (!C.rt) {
        complete_done(ctx, KERR_NOT_COORDINATOR);
        return;
    }
    gr_crt_write_marker(C.rt, partition, producer_id, producer_epoch, coordinator_epoch, commit, complete_done, ctx);
}

bool gr_coord_offset_pending(const char *gid, size_t glen, const char *topic, size_t tlen, int32_t partition)
{
    const shard_t *sh = C.rt ? gr_crt_shard(C.rt, gr_coord_partition_for(gid, glen)) : NULL;
    return sh && gr_txnoff_pending(sh->txn, gid, glen, topic, tlen, partition);
}

int64_t gr_coord_pending_offsets(void)
{
    int64_t n = 0;
    for (int32_t p = 0; C.rt && p < C.npart; p++) {
        const shard_t *sh = gr_crt_shard(C.rt, p);
        n += sh ? gr_txnoff_count(sh->txn) : 0;
    }
    return n;
}

/* ------------------------------------------------------------ deletions */

/* A (topic, partition) of a request, to count each once. */
typedef struct tp_ent {
    gr_hnode_t node;
    const gr_coord_commit_t *c;
} tp_ent_t;

void gr_coord_delete_offsets(gr_group_t *g, const gr_coord_commit_t *c, int32_t n, gr_coord_cb *cb, void *arg)
{
    assert(C.rt);
    const char *gid = g->group_id;
    size_t glen = strlen(gid);
    gr_crt_result_t r;
    gr_crt_result_init(&r, C.rt, gr_coord_partition_for(gid, glen), 0);
    /* each existing offset once, however often the request names it */
    tp_ent_t *ents = gr_malloc(sizeof(*ents) * (size_t)GR_MAX(n, 1));
    gr_hmap_t seen;
    gr_hmap_init(&seen, 16);
    uint32_t ndel = 0, ncommitted = 0;
    const shard_t *sh = gr_crt_shard(C.rt, gr_coord_partition_for(gid, glen));
    for (int32_t i = 0; i < n; i++) {
        if (c[i].error != KERR_NONE)
            continue;
        /* a tombstone for a committed offset or a pending one (Kafka) */
        bool committed = gr_offset_get(g->offsets, c[i].topic, c[i].topic_len, c[i].partition) != NULL;
        if (!committed && !(sh && gr_txnoff_pending(sh->txn, gid, glen, c[i].topic, c[i].topic_len, c[i].partition)))
            continue;
        uint32_t h = gr_hash_mix(gr_fnv1a64(c[i].topic, c[i].topic_len, GR_FNV64_INIT) ^ (uint32_t)c[i].partition);
        bool dup = false;
        for (gr_hnode_t *x = gr_hmap_first(&seen, h); x && !dup; x = gr_hmap_next(x)) {
            const gr_coord_commit_t *o = GR_CONTAINER(x, tp_ent_t, node)->c;
            dup = o->partition == c[i].partition && o->topic_len == c[i].topic_len &&
                  !memcmp(o->topic, c[i].topic, c[i].topic_len);
        }
        if (dup)
            continue;
        ents[ndel].c = &c[i];
        gr_hmap_insert(&seen, &ents[ndel].node, h);
        add_offset_tombstone(&r, gid, glen, c[i].topic, c[i].topic_len, c[i].partition);
        ndel++;
        ncommitted += committed;
    }
    gr_hmap_free(&seen);
    free(ents);
    /* the old coordinator's cleanupGroupMetadata: an Empty group left
     * without offsets is Dead */
    if (ncommitted > 0 && g->type == GR_GROUP_CLASSIC && g->state == GR_GROUP_EMPTY && g->npending == 0 &&
        ncommitted == gr_offset_map_count(g->offsets) && !(sh && gr_txnoff_group_open(sh->txn, gid, glen))) {
        gr_info("coord", "Group %s transitioned to Dead: its last offsets were deleted", gid);
        add_group_tombstone(&r, gid, glen);
    }
    coord_write(&r, cb, arg, NULL);
}

typedef struct pend_tomb {
    gr_crt_result_t *r;
    const char *gid;
    size_t glen;
} pend_tomb_t;

static void pending_tombstone(void *arg, const gr_txnoff_ent_t *e)
{
    pend_tomb_t *pt = arg;
    add_offset_tombstone(pt->r, pt->gid, pt->glen, gr_txnoff_topic(e), e->tlen, e->partition);
}

gr_kerr_t gr_coord_delete_group(const char *id, size_t len, gr_coord_cb *cb, void *arg)
{
    gr_kerr_t err = gr_coord_validate_group(id, len, GR_GROUP_API_DELETE);
    if (err != KERR_NONE)
        return err;
    gr_group_t *g = gr_group_find(id, len);
    if (g && g->type == GR_GROUP_CONSUMER)
        err = gr_cgroup_nmembers(g->cg) > 0 ? KERR_NON_EMPTY_GROUP : KERR_NONE;
    else
        err = gr_group_check_delete(g);
    if (err != KERR_NONE)
        return err;
    gr_crt_result_t r;
    gr_crt_result_init(&r, C.rt, gr_coord_partition_for(id, len), 0);
    gr_offset_iter_t it;
    gr_offset_iter_init(&it, g->offsets);
    uint32_t n = 0;
    for (gr_offset_t *o; (o = gr_offset_iter_next(&it)); n++)
        add_offset_tombstone(&r, g->group_id, len, o->topic, o->topic_len, o->partition);
    /* and the keys of pending transactional offsets (Kafka's
     * deleteAllOffsets) */
    const shard_t *sh = gr_crt_shard(C.rt, gr_coord_partition_for(id, len));
    pend_tomb_t pt = {&r, g->group_id, len};
    if (sh)
        gr_txnoff_foreach_group(sh->txn, g->group_id, len, pending_tombstone, &pt);
    if (g->type == GR_GROUP_CONSUMER)
        gr_cgroup_add_tombstones(&r, g);
    else
        add_group_tombstone(&r, g->group_id, len);
    gr_info("coord", "Group %s deleted (%u offsets)", g->group_id, n);
    coord_write(&r, cb, arg, "Tombstones of a deleted group");
    return KERR_NONE;
}

/* ------------------------------------------------------------ expiry */

static bool offset_expired(const gr_offset_t *o, int64_t base, int64_t now, int64_t retention_ms)
{
    if (o->expire_timestamp >= 0)
        return now >= o->expire_timestamp;     /* explicit expiry (v1 record) wins */
    /* a client's v1 CommitTimestamp may be anything: -2^63 is very old */
    return gr_sub_sat(now, base) >= retention_ms;
}

/* The tombstones of g's expired offsets (and of g, when it is Empty and
 * keeps none); returns the offsets expired, *dead when g goes too. */
static int expire_group(gr_crt_result_t *r, const gr_txnoff_t *txn, gr_group_t *g, int64_t now, int64_t retention_ms,
                        bool *dead)
{
    *dead = false;
    bool modern = g->type == GR_GROUP_CONSUMER;
    bool empty = modern ? gr_cgroup_nmembers(g->cg) == 0 : g->state == GR_GROUP_EMPTY;
    bool stable_consumer = modern || (g->state == GR_GROUP_STABLE && gr_group_uses_consumer_protocol(g));
    if ((!empty && !stable_consumer) || g->npending > 0)
        return 0;
    size_t glen = strlen(g->group_id);
    int n = 0;
    gr_offset_iter_t it;
    gr_offset_iter_init(&it, g->offsets);
    for (gr_offset_t *o; (o = gr_offset_iter_next(&it));) {
        int64_t base;
        if (modern) {
            /* consumer groups: from the commit, topics nobody subscribes to */
            if (!empty && gr_cgroup_subscribed_to(g->cg, o->topic))
                continue;
            base = o->commit_timestamp;
        } else if (empty) {
            /* Empty: retention counts from when the group became empty, or
             * from the commit when that is later (standalone commits) */
            base = GR_MAX(g->empty_since_ms, o->commit_timestamp);
        } else {
            /* Stable consumer group: only topics nobody subscribes to */
            if (gr_group_subscribed_to(g, o->topic))
                continue;
            base = o->commit_timestamp;
        }
        if (!offset_expired(o, base, now, retention_ms))
            continue;
        /* not while a transaction may still commit one (Kafka) */
        if (gr_txnoff_pending(txn, g->group_id, glen, o->topic, o->topic_len, o->partition))
            continue;
        gr_info("coord", "Expiring offset %s-%d of group %s (committed %lld at %lld)", o->topic, o->partition,
                g->group_id, (long long)o->offset, (long long)o->commit_timestamp);
        add_offset_tombstone(r, g->group_id, glen, o->topic, o->topic_len, o->partition);
        n++;
    }
    if (empty && (uint32_t)n == gr_offset_map_count(g->offsets) && !gr_txnoff_group_open(txn, g->group_id, glen)) {
        gr_info("coord", "Group %s transitioned to Dead: no members and no committed offsets left", g->group_id);
        if (modern)
            gr_cgroup_add_tombstones(r, g);
        else
            add_group_tombstone(r, g->group_id, glen);
        *dead = true;
    }
    return n;
}

/* Kafka's cleanupGroupMetadata for one partition: one write that is not
 * atomic. */
static int expire_partition(int32_t part, int64_t now_ms, int *ndead)
{
    int64_t retention_ms = gr_mul_sat(gr_broker.cfg.offsets_retention_minutes, 60000);
    gr_crt_result_t r;
    gr_crt_result_init(&r, C.rt, part, 0);
    const shard_t *sh = gr_crt_shard(C.rt, part);
    int total = 0;
    for (gr_group_t *g = gr_group_next(NULL); g; g = gr_group_next(g)) {
        if (g->coord_partition != part)
            continue;
        bool dead;
        total += expire_group(&r, sh ? sh->txn : NULL, g, now_ms, retention_ms, &dead);
        *ndead += dead;
    }
    if (r.nrec > 0)
        coord_write(&r, NULL, NULL, "Writing expiry tombstones");
    else
        gr_crt_result_free(&r);
    return total;
}

static void expire_timer_fn(void *shard, void *arg)
{
    GR_UNUSED(arg);
    shard_t *s = shard;
    int dead = 0;
    int n = expire_partition(s->part, gr_now_ms(), &dead);
    if (n || dead)
        gr_info("coord", "Removed %d expired offsets and %d dead groups from %s-%d", n, dead, GR_OFFSETS_TOPIC,
                s->part);
    gr_crt_timer_schedule(C.rt, s->part, &s->expire_timer, gr_broker.cfg.offsets_retention_check_interval_ms);
}

int gr_coord_expire(int64_t now_ms)
{
    int total = 0, dead = 0;
    for (int32_t p = 0; C.rt && p < C.npart; p++)
        if (gr_crt_status(C.rt, p) == KERR_NONE)
            total += expire_partition(p, now_ms, &dead);
    if (total || dead)
        gr_info("coord", "Removed %d expired offsets and %d dead groups", total, dead);
    return total;
}

/* ------------------------------------------------------------ lifecycle */

int gr_coord_start_with(const gr_crt_writer_ops_t *writer, void *ctx, int32_t npart)
{
    assert(!C.rt && gr_broker.ev);
    C.npart = npart;
    gr_crt_config_t cfg = {
        .topic = GR_OFFSETS_TOPIC,
        .partitions = npart,
        .shard = &shard_ops,
        .writer = writer,
        .writer_ctx = ctx,
        .ev = gr_broker.ev,
        .load_buffer_bytes = (int32_t)GR_MIN(gr_broker.cfg.offsets_load_buffer_size, INT32_MAX),
    };
    gr_group_set_host(&group_host);
    gr_cgroup_set_host(&cgroup_host);
    C.rt = gr_crt_new(&cfg);
    return 0;
}

int gr_coord_start(void)
{
    gr_topic_t *t = gr_topic_find(GR_OFFSETS_TOPIC, sizeof(GR_OFFSETS_TOPIC) - 1);
    if (!t) {
        char segbytes[32];
        snprintf(segbytes, sizeof(segbytes), "%lld", (long long)gr_broker.cfg.offsets_topic_segment_bytes);
        char *configs[] = {"cleanup.policy", "compact", "segment.bytes", segbytes,
                           "min.compaction.lag.ms", MIN_COMPACTION_LAG_MS, NULL};
        const char *msg = NULL;
        gr_kerr_t e = gr_topic_create(GR_OFFSETS_TOPIC, sizeof(GR_OFFSETS_TOPIC) - 1,
                                gr_broker.cfg.offsets_topic_num_partitions, configs, true, &t, &msg);
        if (e != KERR_NONE) {
            gr_error("coord", "Cannot create %s: %s", GR_OFFSETS_TOPIC, msg ? msg : gr_kerr_name(e));
            return GR_EIO;
        }
    } else if (t->npart != gr_broker.cfg.offsets_topic_num_partitions) {
        gr_warn("coord", "%s has %d partitions, offsets.topic.num.partitions is %d: keeping %d", GR_OFFSETS_TOPIC,
                t->npart, gr_broker.cfg.offsets_topic_num_partitions, t->npart);
    }
    /* the writer finds the topic by this name; the partition count is the
     * topic's, fixed (the admin APIs refuse to change it) */
    return gr_coord_start_with(&gr_crt_log_writer, (void *)GR_OFFSETS_TOPIC, t->npart);
}

void gr_coord_load_all(void)
{
    gr_crt_load_all(C.rt);
}

void gr_coord_stop(void)
{
    if (!C.rt)
        return;
    gr_crt_t *rt = C.rt;
    gr_crt_free(rt);
    C.rt = NULL;
}
