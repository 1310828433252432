/*
 * coord.c - groups and committed offsets in __consumer_offsets (Kafka's
 * GroupMetadataManager): writing records, replaying them at startup, and
 * the offsets retention pass.
 *
 * The topic is created at startup if missing: internal, compacted,
 * offsets.topic.num.partitions partitions, segment.bytes =
 * offsets.topic.segment.bytes, and min.compaction.lag.ms = 3600000 (1 h)
 * so that the cleaner leaves at least the last hour of commits and
 * generations in place for the group-history timeline.  A group lives on
 * partition abs(javaHashCode(group_id)) % partitions.
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
 *   GroupMetadataKey v2          GroupMetadataValue v3
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
 * Strings.  Ids, protocol names and offset metadata are Java Strings for
 * Kafka, and the records hold their UTF-8 encoding.  In memory they are in
 * the held form of jstr.h: they leave through rec_str() (a NUL in an id is
 * written as the NUL byte) and come back through strdup_or_null() /
 * held_tmp(), which also read bytes that are not canonical UTF-8 (written
 * by older versions) as Kafka reads them: new String(bytes, UTF_8).
 *
 * Writes: every operation builds one uncompressed batch, appends it with
 * gr_log_append and wakes fetchers.  Offset commits are appended in groups
 * (see "group commit" below): the batches of one loop turn on one
 * partition go out in a single append from a before-sleep hook.  The
 * completion waits for an fsync when the flush policy asks for one, and
 * never runs inside the call that started the write (a zero-delay timer,
 * or the hook).  In-memory offsets change right after the append, in log
 * order (a later flush of an earlier commit cannot undo a newer one).
 *
 * Loading: one partition at a time, one read of offsets.load.buffer.size
 * per loop turn, so the listener stays responsive; requests for groups on
 * a partition still loading get COORDINATOR_LOAD_IN_PROGRESS.  Offsets are
 * applied as they are read (last value wins, tombstones delete); the last
 * GroupMetadata value per group is kept aside and applied when the
 * partition is done.  Undecodable records are counted, logged once per
 * partition and skipped.
 *
 * Not started (unit tests of other modules): writes complete with NONE
 * without touching a log, and nothing is loading.
 */
#include "coord.h"

#include "batch.h"
#include "broker.h"
#include "compress.h"
#include "fio.h"
#include "hmap.h"
#include "jstr.h"
#include "kerr.h"
#include "schema_gen.h"
#include "topic.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN_COMPACTION_LAG_MS "3600000"

/* group.c provides it; weak so that a build without it still links. */
void gr_group_loaded(gr_group_t *g) __attribute__((weak));

/* A write waiting to report. */
typedef struct op {
    struct op *next;
    gr_coord_cb *cb;
    void *arg;
    int16_t err;
} op_t;

/* A commit whose batch waits for its partition's group append.  One
 * allocation: the entries (only those that passed validation) and every
 * string they point to follow the struct. */
typedef struct pend {
    struct pend *next;
    gr_coord_cb *cb;
    void *arg;
    gr_group_t *g;                  /* stays registered: see "group commit" */
    const char *who;
    gr_coord_commit_t *c;
    int32_t n;
    int16_t err;
    size_t pos, len;                /* its batch in the partition's buffer */
} pend_t;

/* The commits of one __consumer_offsets partition since its last append. */
typedef struct pend_part {
    gr_buf_t buf;                   /* their batches, back to back */
    pend_t *head, *tail;
    bool dirty;                     /* listed in C.dirty */
} pend_part_t;

/* Last GroupMetadata value of a group seen while loading a partition. */
typedef struct pending_md {
    struct pending_md *next;
    char *group;
    size_t glen;
    uint8_t *value;                 /* owned copy, NULL = tombstone */
    int32_t vlen;
} pending_md_t;

static struct {
    bool started, stopped;
    int32_t npart;
    bool *loading;                  /* per partition */
    int32_t load_part;              /* partition being replayed, npart when done */
    int64_t load_offset;
    int64_t load_t0;
    int64_t load_records, load_skipped;
    pending_md_t **md;              /* hash of pending_md_t, MD_BUCKETS */
    gr_group_t *last_group;         /* replay cache */
    gr_group_t **created;           /* groups the replay of this partition created */
    int32_t ncreated, capcreated;
    gr_buf_t rbuf, dbuf;            /* read buffer, decompression buffer */
    gr_arena_t arena;
    gr_timer_t load_timer, expire_timer, done_timer;
    op_t *done_head, *done_tail;
    pend_part_t *pend;              /* per partition */
    int32_t *dirty;                 /* partitions with commits waiting */
    int32_t ndirty;
    gr_timer_t pend_timer;          /* fallback when no before-sleep hook runs */
    gr_ev_t *hook_ev;               /* the loop the hook is registered on */
} C;

#define MD_BUCKETS 1024u

/* ------------------------------------------------------------ helpers */

static gr_topic_t *offsets_topic(void)
{
    return gr_topic_find(GR_OFFSETS_TOPIC, sizeof(GR_OFFSETS_TOPIC) - 1);
}

int32_t gr_coord_partition_for(const char *group_id, size_t len)
{
    gr_topic_t *t = C.started ? offsets_topic() : NULL;
    int32_t n = t ? t->npart : gr_broker.cfg.offsets_topic_num_partitions;
    return gr_jstr_partition(group_id, len, GR_JSTR_HELD, n);
}

static gr_partition_t *group_partition(gr_group_t *g)
{
    gr_topic_t *t = offsets_topic();
    if (!t)
        return NULL;
    int32_t want = gr_jstr_partition(g->group_id, strlen(g->group_id), GR_JSTR_HELD, t->npart);
    if (g->coord_partition != want)
        g->coord_partition = want;
    return gr_partition_get(t, g->coord_partition);
}

bool gr_coord_loading(int32_t partition)
{
    if (!C.started || C.stopped || partition < 0 || partition >= C.npart)
        return false;
    return C.loading[partition];
}

bool gr_coord_loading_any(void)
{
    return C.started && !C.stopped && C.load_part < C.npart;
}

/* A held string (jstr.h) as the bytes a record carries, Kafka's
 * re-encoding: s itself unless it holds a NUL, else a copy in a (NULL for
 * a null string). */
static gr_str_t rec_str(gr_arena_t *a, const char *s, size_t len)
{
    if (!s)
        return GR_STR_NULL;
    if (!gr_jstr_has_nul(s, len))
        return (gr_str_t){s, (int32_t)len};
    char *o = gr_arena_alloc(a, len + 1);
    return (gr_str_t){o, (int32_t)gr_jstr_unhold(s, len, o)};
}

static gr_str_t cstr(gr_arena_t *a, const char *s)
{
    return rec_str(a, s, s ? strlen(s) : 0);
}

/* ------------------------------------------------------------ codecs */

void gr_coord_offset_key(gr_wr_t *w, const char *group, size_t glen, const char *topic, size_t tlen,
                         int32_t partition)
{
    gr_arena_t a;
    gr_arena_init(&a);
    gr_OffsetCommitKey_t k;
    gr_OffsetCommitKey_init(&k);
    k.group = rec_str(&a, group, glen);
    k.topic = (gr_str_t){topic, (int32_t)tlen};
    k.partition = partition;
    gr_wr_i16(w, 1);
    gr_OffsetCommitKey_encode(w, 1, &k);
    gr_arena_free(&a);
}

void gr_coord_offset_value(gr_wr_t *w, int64_t offset, int32_t leader_epoch, const char *metadata, size_t mlen,
                           int64_t commit_ts, int64_t expire_ts)
{
    gr_OffsetCommitValue_t v;
    gr_OffsetCommitValue_init(&v);
    /* Kafka < 2.1 (inter.broker.protocol.version) always wrote v1 with an
     * expire timestamp of commit + offsets.retention.minutes */
    if (gr_config_ibp(&gr_broker.cfg) < 201 && expire_ts < 0)
        expire_ts = GR_MAX(gr_add_sat(commit_ts, gr_broker.cfg.offsets_retention_minutes * 60000), 0);
    int16_t ver = expire_ts >= 0 ? 1 : 3;
    gr_arena_t a;
    gr_arena_init(&a);
    v.offset = offset;
    v.leaderEpoch = leader_epoch;
    v.metadata = metadata ? rec_str(&a, metadata, mlen) : (gr_str_t){"", 0};
    v.commitTimestamp = commit_ts;
    v.expireTimestamp = expire_ts;
    gr_wr_i16(w, ver);
    gr_OffsetCommitValue_encode(w, ver, &v);
    gr_arena_free(&a);
}

void gr_coord_group_key(gr_wr_t *w, const char *group, size_t glen)
{
    gr_arena_t a;
    gr_arena_init(&a);
    gr_GroupMetadataKey_t k;
    gr_GroupMetadataKey_init(&k);
    k.group = rec_str(&a, group, glen);
    gr_wr_i16(w, 2);
    gr_GroupMetadataKey_encode(w, 2, &k);
    gr_arena_free(&a);
}

/* g's GroupMetadataValue (v->members allocated, the caller frees it) and
 * the version inter.broker.protocol.version asks for. */
static int16_t group_value_fill(const gr_group_t *g, gr_GroupMetadataValue_t *out, gr_arena_t *a)
{
    gr_GroupMetadataValue_t v;
    gr_GroupMetadataValue_init(&v);
    v.protocolType = g->protocol_type ? cstr(a, g->protocol_type) : (gr_str_t){"", 0};
    v.generation = g->generation_id;
    v.protocol = cstr(a, g->protocol_name);
    v.leader = cstr(a, g->leader_id);
    v.currentStateTimestamp = g->state_timestamp_ms;
    int32_t n = 0;
    for (const gr_member_t *m = g->members; m; m = m->next)
        n++;
    gr_GroupMetadataValue_MemberMetadata_t *mm = gr_calloc((size_t)(n ? n : 1), sizeof(*mm));
    int32_t i = 0;
    for (const gr_member_t *m = g->members; m; m = m->next, i++) {
        gr_GroupMetadataValue_MemberMetadata_t *x = &mm[i];
        gr_GroupMetadataValue_MemberMetadata_init(x);
        x->memberId = cstr(a, m->member_id ? m->member_id : "");
        x->groupInstanceId = cstr(a, m->group_instance_id);
        x->clientId = cstr(a, m->client_id ? m->client_id : "");
        x->clientHost = cstr(a, m->client_host ? m->client_host : "");
        x->rebalanceTimeout = m->rebalance_timeout_ms;
        x->sessionTimeout = m->session_timeout_ms;
        x->subscription = (gr_bytes_t){(const uint8_t *)"", 0};
        for (int32_t p = 0; p < m->nprotocols; p++) {
            const gr_member_protocol_t *mp = &m->protocols[p];
            if (g->protocol_name && mp->name && !strcmp(mp->name, g->protocol_name) && mp->metadata) {
                x->subscription = (gr_bytes_t){mp->metadata, mp->metadata_len};
                break;
            }
        }
        x->assignment = m->assignment ? (gr_bytes_t){m->assignment, m->assignment_len}
                                      : (gr_bytes_t){(const uint8_t *)"", 0};
    }
    v.members = mm;
    v.members_count = n;
    *out = v;
    int ibp = gr_config_ibp(&gr_broker.cfg);
    return ibp < 10 ? 0 : ibp < 201 ? 1 : ibp < 203 ? 2 : 3;   /* 0.10.1 -> 10 */
}

void gr_coord_group_value(gr_wr_t *w, const gr_group_t *g)
{
    gr_GroupMetadataValue_t v;
    gr_arena_t a;
    gr_arena_init(&a);
    int16_t ver = group_value_fill(g, &v, &a);
    gr_wr_i16(w, ver);
    gr_GroupMetadataValue_encode(w, ver, &v);
    free(v.members);
    gr_arena_free(&a);
}

/* Bytes of an int16-length string field; *too_long when it does not fit
 * (Kafka's serializer throws: "field is too long to be serialized"). */
static size_t str_size(gr_str_t s, bool *too_long)
{
    if (s.len > INT16_MAX)
        *too_long = true;
    return 2 + (size_t)GR_MAX(s.len, 0);
}

size_t gr_coord_group_value_size(const gr_group_t *g, bool *too_long)
{
    gr_GroupMetadataValue_t v;
    gr_arena_t a;
    gr_arena_init(&a);
    int16_t ver = group_value_fill(g, &v, &a);
    *too_long = false;
    size_t n = 2 + str_size(v.protocolType, too_long) + 4 + str_size(v.protocol, too_long) +
               str_size(v.leader, too_long) + (ver >= 2 ? 8 : 0) + 4;
    for (int32_t i = 0; i < v.members_count; i++) {
        const gr_GroupMetadataValue_MemberMetadata_t *x = &v.members[i];
        n += str_size(x->memberId, too_long) + (ver >= 3 ? str_size(x->groupInstanceId, too_long) : 0) +
             str_size(x->clientId, too_long) + str_size(x->clientHost, too_long) + (ver >= 1 ? 4 : 0) + 4 +
             4 + (size_t)GR_MAX(x->subscription.len, 0) + 4 + (size_t)GR_MAX(x->assignment.len, 0);
    }
    free(v.members);
    gr_arena_free(&a);
    return n;
}

/* Bytes of a zig-zag varint. */
static size_t varint_size(int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

/* Size of a batch of one record (no headers, deltas 0) with key and value
 * of these sizes: what gr_batch_builder_finish makes of it. */
static size_t one_record_batch_size(size_t klen, size_t vlen)
{
    size_t body = 1 + 1 + 1 + varint_size((int64_t)klen) + klen + varint_size((int64_t)vlen) + vlen + 1;
    return GR_BATCH_HEADER_SIZE + varint_size((int64_t)body) + body;
}

/* Add a record whose key and value were encoded into writers. */
static void add_record(gr_batch_builder_t *b, int64_t ts, gr_wr_t *k, gr_wr_t *v)
{
    size_t kl = 0, vl = 0;
    uint8_t *kp = gr_wr_flatten(k, &kl);
    uint8_t *vp = v ? gr_wr_flatten(v, &vl) : NULL;
    gr_batch_builder_add(b, -1, ts, kp, (int32_t)kl, vp, (int32_t)vl);
}

static void add_offset_tombstone(gr_batch_builder_t *b, int64_t ts, const gr_group_t *g, const char *topic,
                                 size_t tlen, int32_t partition)
{
    gr_wr_t k;
    gr_wr_init(&k);
    gr_coord_offset_key(&k, g->group_id, strlen(g->group_id), topic, tlen, partition);
    add_record(b, ts, &k, NULL);
    gr_wr_free(&k);
}

static void add_group_tombstone(gr_batch_builder_t *b, int64_t ts, const gr_group_t *g)
{
    gr_wr_t k;
    gr_wr_init(&k);
    gr_coord_group_key(&k, g->group_id, strlen(g->group_id));
    add_record(b, ts, &k, NULL);
    gr_wr_free(&k);
}

/* ------------------------------------------------------------ completions */

static void run_done(void)
{
    while (C.done_head) {
        op_t *op = C.done_head;
        C.done_head = op->next;
        if (!C.done_head)
            C.done_tail = NULL;
        if (op->cb)
            op->cb(op->arg, op->err);
        free(op);
    }
}

static void done_timer_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    GR_UNUSED(arg);
    run_done();
}

static void complete(op_t *op)
{
    if (!gr_broker.ev || C.stopped) {
        if (op->cb)
            op->cb(op->arg, op->err);
        free(op);
        return;
    }
    op->next = NULL;
    if (C.done_tail)
        C.done_tail->next = op;
    else
        C.done_head = op;
    C.done_tail = op;
    if (!gr_timer_armed(&C.done_timer))
        gr_timer_start(gr_broker.ev, &C.done_timer, 0);
}

static op_t *op_new(gr_coord_cb *cb, void *arg)
{
    op_t *op = gr_calloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    op->err = KERR_NONE;
    return op;
}

static void flush_done(void *arg, int rc)
{
    op_t *op = arg;
    if (rc < 0 && op->err == KERR_NONE)
        op->err = KERR_NOT_COORDINATOR;      /* KAFKA_STORAGE_ERROR, as Kafka maps it */
    complete(op);
}

/* Append batch bytes (one or more whole batches) to p.  Returns a Kafka
 * error already mapped for group coordinator callers; too_large is the
 * code for oversized batches (INVALID_COMMIT_OFFSET_SIZE for commits). */
static int16_t append_bytes(gr_partition_t *p, uint8_t *data, size_t len, int64_t now_ms, int16_t too_large)
{
    if (!p)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    gr_append_info_t info;
    memset(&info, 0, sizeof(info));
    int rc = gr_log_append(p->log, data, len, p->leader_epoch, false, now_ms, &info);
    if (rc < 0) {
        int16_t e = info.error_code;
        gr_warn("coord", "Append to %s-%d failed: %s (%s)", GR_OFFSETS_TOPIC, p->index, gr_kerr_name(e),
                strerror(-rc));
        if (e == KERR_MESSAGE_TOO_LARGE || e == KERR_RECORD_LIST_TOO_LARGE || e == KERR_INVALID_FETCH_SIZE ||
            rc == GR_ETOOBIG)
            return too_large;
        if (e == KERR_KAFKA_STORAGE_ERROR || e == KERR_NOT_LEADER_OR_FOLLOWER || rc == GR_EIO || rc == GR_ENOSPC)
            return KERR_NOT_COORDINATOR;
        return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    gr_partition_appended(p);
    return KERR_NONE;
}

/* Append the finished batch to p (see append_bytes). */
static int16_t append_batch(gr_partition_t *p, gr_batch_builder_t *b, int64_t now_ms, int16_t too_large)
{
    if (!p)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    size_t len = 0;
    uint8_t *data = gr_batch_builder_finish(b, 0, -1, -1, -1, &len);
    return append_bytes(p, data, len, now_ms, too_large);
}

/* After a successful append (or a failure: err), report when durable. */
static void finish(gr_partition_t *p, int16_t err, gr_coord_cb *cb, void *arg)
{
    op_t *op = op_new(cb, arg);
    op->err = err;
    if (err == KERR_NONE && p && gr_log_flush_due(p->log))
        gr_log_flush(p->log, gr_log_end_offset(p->log), flush_done, op);
    else
        complete(op);
}

/* ------------------------------------------------------------ writes */

static void pend_flush_group(gr_group_t *g);

/* Kafka's limits on a coordinator append, checked before anything is
 * built: the batch must fit max.message.bytes of __consumer_offsets
 * (UnifiedLog: RecordTooLargeException) and its segment.bytes
 * (RecordBatchTooLargeException), and every string must fit its int16
 * length.  Kafka's coordinators map all of these to UNKNOWN_SERVER_ERROR
 * for the group's callers (appendGroupMetadataErrorToResponseError). */
static int16_t group_record_fits(gr_group_t *g, gr_partition_t *p)
{
    gr_topic_t *t = offsets_topic();
    if (!p || !t)
        return KERR_NONE;          /* the append reports it */
    bool too_long;
    size_t vlen = gr_coord_group_value_size(g, &too_long);
    size_t glen = strlen(g->group_id);
    size_t size = one_record_batch_size(2 + 2 + glen, vlen);
    gr_log_config_t lc;
    gr_config_log_config(&gr_broker.cfg, t->configs, &lc);
    const char *what = NULL;
    int64_t limit = 0;
    if ((int64_t)size > lc.max_message_bytes)
        what = "max.message.bytes", limit = lc.max_message_bytes;
    else if ((int64_t)size > lc.segment_bytes)
        what = "segment.bytes", limit = lc.segment_bytes;
    if (too_long || glen > INT16_MAX)
        gr_warn("coord", "GroupMetadata record of group %s generation %d has a string longer than 32767 bytes: "
                "returning UNKNOWN_SERVER_ERROR to the group", g->group_id, g->generation_id);
    else if (what)
        gr_warn("coord", "GroupMetadata record of group %s generation %d (%d members) is %zu bytes, which exceeds "
                "%s %lld of %s-%d: returning UNKNOWN_SERVER_ERROR to the group", g->group_id, g->generation_id,
                g->nmembers, size, what, (long long)limit, GR_OFFSETS_TOPIC, p->index);
    else
        return KERR_NONE;
    return KERR_UNKNOWN_SERVER_ERROR;
}

void gr_coord_store_group(gr_group_t *g, gr_coord_cb *cb, void *arg)
{
    if (!C.started) {
        finish(NULL, KERR_NONE, cb, arg);
        return;
    }
    pend_flush_group(g);
    int64_t now = gr_now_ms();
    gr_partition_t *p = group_partition(g);
    int16_t fit = group_record_fits(g, p);
    if (fit != KERR_NONE) {
        finish(NULL, fit, cb, arg);
        return;
    }
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, now);
    gr_wr_t k, v;
    gr_wr_init(&k);
    gr_wr_init(&v);
    gr_coord_group_key(&k, g->group_id, strlen(g->group_id));
    gr_coord_group_value(&v, g);
    add_record(&b, now, &k, &v);
    gr_wr_free(&k);
    gr_wr_free(&v);
    int16_t err = append_batch(p, &b, now, KERR_UNKNOWN_SERVER_ERROR);
    gr_batch_builder_free(&b);
    finish(p, err, cb, arg);
}

void gr_coord_delete_group(gr_group_t *g, gr_coord_cb *cb, void *arg)
{
    if (!C.started) {
        finish(NULL, KERR_NONE, cb, arg);
        return;
    }
    pend_flush_group(g);
    int64_t now = gr_now_ms();
    gr_partition_t *p = group_partition(g);
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, now);
    gr_offset_iter_t it;
    gr_offset_iter_init(&it, g->offsets);
    for (gr_offset_t *o; (o = gr_offset_iter_next(&it));)
        add_offset_tombstone(&b, now, g, o->topic, o->topic_len, o->partition);
    add_group_tombstone(&b, now, g);
    int16_t err = append_batch(p, &b, now, KERR_UNKNOWN_SERVER_ERROR);
    gr_batch_builder_free(&b);
    finish(p, err, cb, arg);
}

/* topic_nul: c->topic is NUL-terminated (no copy needed). */
static void hist_commit(gr_group_t *g, const char *who, const gr_coord_commit_t *c, int64_t from, int64_t now,
                        bool topic_nul)
{
    gr_hist_entry_t e;
    memset(&e, 0, sizeof(e));
    e.kind = GR_HIST_COMMIT;
    e.time_ms = now;
    e.member = (char *)(who ? who : "");
    char *topic = topic_nul ? NULL : gr_strndup(c->topic, c->topic_len);
    e.topic = topic ? topic : (char *)c->topic;
    e.partition = c->partition;
    e.from_offset = from;
    e.to_offset = c->offset;
    gr_group_hist_add(g, &e);
    free(topic);
}

/* The group's map after a successful append, in log order.  topic_nul:
 * the entries' topics are NUL-terminated. */
static void commit_apply(gr_group_t *g, const char *who, const gr_coord_commit_t *c, int32_t n, int64_t now,
                         bool topic_nul)
{
    gr_offset_map_t *m = gr_offsets_of(g);
    for (int32_t i = 0; i < n; i++) {
        if (c[i].error != KERR_NONE)
            continue;
        int64_t prev;
        gr_offset_put(m, c[i].topic, c[i].topic_len, c[i].partition, c[i].offset, c[i].leader_epoch,
                      c[i].metadata, c[i].metadata_len, c[i].commit_timestamp, c[i].expire_timestamp, &prev);
        if (prev != c[i].offset)
            hist_commit(g, who, &c[i], prev, now, topic_nul);
    }
}

/* ---- group commit ----
 * A commit's batch is built at once but appended later, together with the
 * other commits of the same loop turn on the same partition: one
 * gr_log_append (one write) for all of them, from the before-sleep hook.
 * Each commit keeps its own batch, so the log holds exactly what one append
 * per commit would have written.  Then, in order, each group's map is
 * updated and each commit acknowledged: directly from the hook, which runs
 * before net.c flushes output (gr_coord_start precedes gr_net_listen), or
 * after the fsync when the flush policy asks for one.  If the joint append
 * is refused (a batch too large, ...), every commit is appended alone and
 * gets its own answer, as before.
 *
 * Any other write to the partition first appends what is waiting there, so
 * the log order stays the call order, and a group cannot be removed while
 * one of its commits waits (removal always follows a write of its own). */

static void pend_free_list(pend_t *e)
{
    while (e) {
        pend_t *n = e->next;
        free(e);
        e = n;
    }
}

static void pend_report(pend_t *head, int16_t flush_err)
{
    for (pend_t *e = head; e; e = e->next)
        if (e->cb)
            e->cb(e->arg, e->err != KERR_NONE ? e->err : flush_err);
    pend_free_list(head);
}

/* Completion of a group's fsync: arg is the list. */
static void pend_flushed(void *arg, int16_t err)
{
    pend_report(arg, err);
}

/* Append everything waiting on partition `part`.  direct: acknowledge
 * right here (the hook); otherwise through the done timer. */
static void pend_flush(int32_t part, bool direct)
{
    pend_part_t *q = &C.pend[part];
    pend_t *head = q->head;
    if (!head)
        return;
    q->head = q->tail = NULL;
    gr_topic_t *t = offsets_topic();
    gr_partition_t *p = t ? gr_partition_get(t, part) : NULL;
    int64_t now = gr_now_ms();
    int16_t err = append_bytes(p, q->buf.p, q->buf.len, now, KERR_INVALID_COMMIT_OFFSET_SIZE);
    bool sync = err == KERR_NONE && gr_log_flush_due(p->log);
    if (err != KERR_NONE && head->next) {
        for (pend_t *e = head; e; e = e->next) {
            e->err = append_bytes(p, q->buf.p + e->pos, e->len, now, KERR_INVALID_COMMIT_OFFSET_SIZE);
            sync |= e->err == KERR_NONE && gr_log_flush_due(p->log);
        }
    } else {
        for (pend_t *e = head; e; e = e->next)
            e->err = err;
    }
    q->buf.len = 0;
    for (pend_t *e = head; e; e = e->next)
        if (e->err == KERR_NONE)
            commit_apply(e->g, e->who, e->c, e->n, now, true);
    if (sync) {
        gr_log_flush(p->log, gr_log_end_offset(p->log), flush_done, op_new(pend_flushed, head));
    } else if (direct) {
        pend_report(head, KERR_NONE);
    } else {
        op_t *op = op_new(pend_flushed, head);
        complete(op);
    }
}

static void pend_flush_all(bool direct)
{
    if (gr_broker.ev)
        gr_timer_stop(gr_broker.ev, &C.pend_timer);
    while (C.ndirty > 0) {
        int32_t part = C.dirty[--C.ndirty];
        C.pend[part].dirty = false;
        pend_flush(part, direct);
    }
}

/* Before another write to g's partition: what waits there goes first. */
static void pend_flush_group(gr_group_t *g)
{
    if (!C.started || !C.pend)
        return;
    gr_partition_t *p = group_partition(g);
    if (p && p->index < C.npart)
        pend_flush(p->index, false);
}

void gr_coord_flush_commits(int32_t partition)
{
    if (C.started && C.pend && partition >= 0 && partition < C.npart)
        pend_flush(partition, false);
}

static void pend_hook(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    GR_UNUSED(arg);
    if (C.ndirty > 0)
        pend_flush_all(true);
}

static void pend_timer_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    GR_UNUSED(arg);
    pend_flush_all(true);
}

/* Queue one commit (its batch and a copy of its valid entries). */
static void pend_add(gr_partition_t *p, gr_group_t *g, const char *who, const gr_coord_commit_t *c, int32_t n,
                     const uint8_t *batch, size_t blen, gr_coord_cb *cb, void *arg)
{
    size_t wl = strlen(who ? who : "");
    size_t sz = sizeof(pend_t) + wl + 1;
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        if (c[i].error != KERR_NONE)
            continue;
        k++;
        sz += c[i].topic_len + 1 + (c[i].metadata ? c[i].metadata_len + 1 : 0);
    }
    sz += (size_t)k * sizeof(gr_coord_commit_t);
    pend_t *e = gr_malloc(sz);
    e->next = NULL;
    e->cb = cb;
    e->arg = arg;
    e->g = g;
    e->n = k;
    e->err = KERR_NONE;
    e->c = (gr_coord_commit_t *)(e + 1);
    char *s = (char *)(e->c + k);
    memcpy(s, who ? who : "", wl + 1);
    e->who = s;
    s += wl + 1;
    int32_t j = 0;
    for (int32_t i = 0; i < n; i++) {
        if (c[i].error != KERR_NONE)
            continue;
        gr_coord_commit_t *x = &e->c[j++];
        *x = c[i];
        memcpy(s, c[i].topic, c[i].topic_len);
        s[c[i].topic_len] = '\0';
        x->topic = s;
        s += c[i].topic_len + 1;
        if (c[i].metadata) {
            memcpy(s, c[i].metadata, c[i].metadata_len);
            s[c[i].metadata_len] = '\0';
            x->metadata = s;
            s += c[i].metadata_len + 1;
        }
    }
    pend_part_t *q = &C.pend[p->index];
    gr_buf_reserve(&q->buf, q->buf.len + blen);
    memcpy(q->buf.p + q->buf.len, batch, blen);
    e->pos = q->buf.len;
    e->len = blen;
    q->buf.len += blen;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    if (!q->dirty) {
        q->dirty = true;
        C.dirty[C.ndirty++] = p->index;
    }
    if (!gr_timer_armed(&C.pend_timer))
        gr_timer_start(gr_broker.ev, &C.pend_timer, 0);
}

void gr_coord_commit_offsets(gr_group_t *g, const char *who, gr_coord_commit_t *c, int32_t n, gr_coord_cb *cb,
                             void *arg)
{
    int64_t now = gr_now_ms();
    int32_t nrec = 0;
    if (!C.started) {
        commit_apply(g, who, c, n, now, false);
        finish(NULL, KERR_NONE, cb, arg);
        return;
    }
    gr_partition_t *p = group_partition(g);
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, now);
    const char *gid = g->group_id;
    size_t glen = strlen(gid);
    gr_wr_t kv;
    gr_wr_init(&kv);
    for (int32_t i = 0; i < n; i++) {
        if (c[i].error != KERR_NONE)
            continue;
        /* key and value in one writer: one chunk instead of two */
        gr_coord_offset_key(&kv, gid, glen, c[i].topic, c[i].topic_len, c[i].partition);
        size_t kl = kv.total, len = 0;
        gr_coord_offset_value(&kv, c[i].offset, c[i].leader_epoch, c[i].metadata, c[i].metadata_len,
                              c[i].commit_timestamp, c[i].expire_timestamp);
        const uint8_t *rec = gr_wr_flatten(&kv, &len);
        gr_batch_builder_add(&b, -1, now, rec, (int32_t)kl, rec + kl, (int32_t)(len - kl));
        gr_wr_free(&kv);
        nrec++;
    }
    if (nrec == 0 || !p || p->index >= C.npart) {
        gr_batch_builder_free(&b);
        finish(NULL, nrec == 0 ? KERR_NONE : KERR_COORDINATOR_NOT_AVAILABLE, cb, arg);
        return;
    }
    size_t len = 0;
    uint8_t *data = gr_batch_builder_finish(&b, 0, -1, -1, -1, &len);
    if (gr_broker.ev && !C.stopped) {
        pend_add(p, g, who, c, n, data, len, cb, arg);
    } else {
        /* no loop to come back from: append now */
        int16_t err = append_bytes(p, data, len, now, KERR_INVALID_COMMIT_OFFSET_SIZE);
        if (err == KERR_NONE)
            commit_apply(g, who, c, n, now, false);
        finish(p, err, cb, arg);
    }
    gr_batch_builder_free(&b);
}

void gr_coord_delete_offsets(gr_group_t *g, gr_coord_commit_t *c, int32_t n, gr_coord_cb *cb, void *arg)
{
    pend_flush_group(g);
    int64_t now = gr_now_ms();
    int32_t nrec = 0;
    bool dead = false;
    gr_partition_t *p = NULL;
    int16_t err = KERR_NONE;
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, now);
    if (C.started) {
        p = group_partition(g);
        for (int32_t i = 0; i < n; i++) {
            if (c[i].error != KERR_NONE || !gr_offset_get(g->offsets, c[i].topic, c[i].topic_len, c[i].partition))
                continue;
            add_offset_tombstone(&b, now, g, c[i].topic, c[i].topic_len, c[i].partition);
            nrec++;
        }
        /* Kafka's cleanupGroupMetadata: an Empty group left without
         * offsets is Dead */
        dead = nrec > 0 && g->state == GR_GROUP_EMPTY && g->npending == 0 &&
               gr_offset_map_count(g->offsets) == (uint32_t)nrec;
        if (dead)
            add_group_tombstone(&b, now, g);
        if (nrec > 0)
            err = append_batch(p, &b, now, KERR_UNKNOWN_SERVER_ERROR);
    }
    gr_batch_builder_free(&b);
    if (err == KERR_NONE) {
        for (int32_t i = 0; i < n; i++)
            if (c[i].error == KERR_NONE)
                gr_offset_remove(g->offsets, c[i].topic, c[i].topic_len, c[i].partition);
        if (dead) {
            gr_info("coord", "Group %s transitioned to Dead: its last offsets were deleted", g->group_id);
            g->state = GR_GROUP_DEAD;
            gr_group_remove(g);
        }
    }
    finish(nrec > 0 ? p : NULL, err, cb, arg);
}

/* ------------------------------------------------------------ expiry */

static bool offset_expired(const gr_offset_t *o, int64_t base, int64_t now, int64_t retention_ms)
{
    if (o->expire_timestamp >= 0)
        return now >= o->expire_timestamp;     /* explicit expiry (v1 record) wins */
    /* a client's v1 CommitTimestamp may be anything: -2^63 is very old */
    return gr_sub_sat(now, base) >= retention_ms;
}

/* One group: returns offsets removed; *removed set when g was freed. */
static int expire_group(gr_group_t *g, int64_t now, int64_t retention_ms, bool *removed)
{
    *removed = false;
    bool empty = g->state == GR_GROUP_EMPTY;
    bool stable_consumer = g->state == GR_GROUP_STABLE && g->protocol_type &&
                           !strcmp(g->protocol_type, "consumer");
    if (!empty && !stable_consumer)
        return 0;
    if (g->npending > 0)
        return 0;
    gr_partition_t *p = group_partition(g);
    gr_batch_builder_t b;
    gr_batch_builder_init(&b, 0, now);
    int n = 0;
    gr_offset_iter_t it;
    gr_offset_iter_init(&it, g->offsets);
    for (gr_offset_t *o; (o = gr_offset_iter_next(&it));) {
        int64_t base;
        if (empty) {
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
        add_offset_tombstone(&b, now, g, o->topic, o->topic_len, o->partition);
        gr_info("coord", "Expiring offset %s-%d of group %s (committed %lld at %lld)", o->topic, o->partition,
                g->group_id, (long long)o->offset, (long long)o->commit_timestamp);
        gr_offset_iter_remove(&it);
        n++;
    }
    bool dead = empty && gr_offset_map_count(g->offsets) == 0;
    if (dead)
        add_group_tombstone(&b, now, g);
    if (b.count > 0 && C.started) {
        int16_t err = append_batch(p, &b, now, KERR_UNKNOWN_SERVER_ERROR);
        if (err != KERR_NONE)
            gr_warn("coord", "Could not write expiry tombstones for group %s: %s", g->group_id, gr_kerr_name(err));
        else if (p && gr_log_flush_due(p->log))
            gr_log_flush(p->log, gr_log_end_offset(p->log), NULL, NULL);
    }
    gr_batch_builder_free(&b);
    if (dead) {
        gr_info("coord", "Group %s transitioned to Dead: no members and no committed offsets left", g->group_id);
        g->state = GR_GROUP_DEAD;
        gr_group_remove(g);
        *removed = true;
    }
    return n;
}

int gr_coord_expire(int64_t now_ms)
{
    int64_t retention_ms = gr_broker.cfg.offsets_retention_minutes * 60000;
    int total = 0, dead = 0;
    if (C.started && C.pend)
        pend_flush_all(false);
    gr_group_t *g = gr_group_next(NULL);
    while (g) {
        gr_group_t *next = gr_group_next(g);
        if (!gr_coord_loading(g->coord_partition)) {
            bool removed;
            total += expire_group(g, now_ms, retention_ms, &removed);
            dead += removed;
        }
        g = next;
    }
    if (total || dead)
        gr_info("coord", "Removed %d expired offsets and %d dead groups", total, dead);
    return total;
}

static void expire_timer_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(arg);
    gr_coord_expire(gr_now_ms());
    gr_timer_start(ev, &C.expire_timer, gr_broker.cfg.offsets_retention_check_interval_ms);
}

/* ------------------------------------------------------------ loading */

static uint32_t str_hash(const char *s, size_t n)
{
    return gr_hash32(s, n);
}

static void md_put(const char *group, size_t glen, const uint8_t *value, int32_t vlen)
{
    pending_md_t **pp = &C.md[str_hash(group, glen) & (MD_BUCKETS - 1)];
    pending_md_t *e = *pp;
    while (e && !(e->glen == glen && !memcmp(e->group, group, glen)))
        e = e->next;
    if (!e) {
        e = gr_calloc(1, sizeof(*e));
        e->group = gr_strndup(group, glen);
        e->glen = glen;
        e->next = *pp;
        *pp = e;
    }
    free(e->value);
    e->value = NULL;
    e->vlen = -1;
    if (value) {
        e->value = gr_malloc((size_t)vlen);
        memcpy(e->value, value, (size_t)vlen);
        e->vlen = vlen;
    }
}

static pending_md_t *md_find(const char *group, size_t glen)
{
    pending_md_t *e = C.md[str_hash(group, glen) & (MD_BUCKETS - 1)];
    while (e && !(e->glen == glen && !memcmp(e->group, group, glen)))
        e = e->next;
    return e;
}

static gr_group_t *load_group(const char *id, size_t len, bool create)
{
    gr_group_t *g = C.last_group;
    if (g && strlen(g->group_id) == len && !memcmp(g->group_id, id, len))
        return g;
    g = gr_group_find(id, len);
    if (!g && create) {
        g = gr_group_get_or_create(id, len);
        if (C.ncreated == C.capcreated) {
            C.capcreated = C.capcreated ? C.capcreated * 2 : 64;
            C.created = gr_realloc(C.created, sizeof(*C.created) * (size_t)C.capcreated);
        }
        C.created[C.ncreated++] = g;
    }
    C.last_group = g;
    return g;
}

static uint8_t *memdup_or_null(const uint8_t *p, int32_t n)
{
    if (!p || n <= 0)
        return NULL;
    uint8_t *d = gr_malloc((size_t)n);
    memcpy(d, p, (size_t)n);
    return d;
}

/* A record's string in held form (jstr.h), malloc'ed; NULL for null. */
static char *strdup_or_null(gr_str_t s)
{
    if (s.len < 0)
        return NULL;
    const char *p = s.p ? s.p : "";
    size_t len = (size_t)s.len;
    if (!memchr(p, 0, len) && gr_jstr_is_canon(p, len, GR_JSTR_WIRE))
        return gr_strndup(p, len);
    char *o = gr_malloc(gr_jstr_canon(p, len, GR_JSTR_WIRE, NULL, GR_JSTR_HELD) + 1);
    gr_jstr_canon(p, len, GR_JSTR_WIRE, o, GR_JSTR_HELD);
    return o;
}

/* The same in C.arena (group ids and metadata while replaying); "" for null. */
static gr_str_t held_tmp(gr_str_t s)
{
    const char *p = s.p ? s.p : "";
    size_t len = (size_t)GR_MAX(s.len, 0);
    if (!memchr(p, 0, len) && gr_jstr_is_canon(p, len, GR_JSTR_WIRE))
        return (gr_str_t){p, (int32_t)len};
    char *o = gr_arena_alloc(&C.arena, gr_jstr_canon(p, len, GR_JSTR_WIRE, NULL, GR_JSTR_HELD) + 1);
    return (gr_str_t){o, (int32_t)gr_jstr_canon(p, len, GR_JSTR_WIRE, o, GR_JSTR_HELD)};
}

/* Rebuild a group from its last GroupMetadata value. */
static void apply_group_value(int32_t part, pending_md_t *e)
{
    gr_group_t *g = gr_group_find(e->group, e->glen);
    if (!e->value) {
        /* tombstone: the group is gone unless offsets outlived it */
        if (g && gr_offset_map_count(g->offsets) == 0 && g->nmembers == 0) {
            g->state = GR_GROUP_DEAD;
            if (C.last_group == g)
                C.last_group = NULL;
            gr_group_remove(g);
        }
        return;
    }
    gr_rd_t rd;
    gr_rd_init(&rd, e->value, (size_t)e->vlen);
    int16_t ver = gr_rd_i16(&rd);
    gr_GroupMetadataValue_t v;
    gr_arena_reset(&C.arena);
    if (rd.err || ver < 0 || ver > 4 || gr_GroupMetadataValue_decode(&rd, ver, &C.arena, &v) < 0) {
        gr_warn("coord", "Skipping undecodable GroupMetadata value v%d of group %.*s in %s-%d", ver, (int)e->glen,
                e->group, GR_OFFSETS_TOPIC, part);
        C.load_skipped++;
        return;
    }
    if (!g)
        g = gr_group_get_or_create(e->group, e->glen);
    if (!g)
        return;
    if (g->members) {
        gr_warn("coord", "Group %s already has members; not replacing them from %s-%d", g->group_id,
                GR_OFFSETS_TOPIC, part);
        return;
    }
    g->coord_partition = part;
    free(g->protocol_type);
    g->protocol_type = v.protocolType.len > 0 ? strdup_or_null(v.protocolType) : NULL;
    free(g->protocol_name);
    g->protocol_name = strdup_or_null(v.protocol);
    free(g->leader_id);
    g->leader_id = strdup_or_null(v.leader);
    g->generation_id = v.generation;
    g->state_timestamp_ms = ver >= 2 && v.currentStateTimestamp >= 0 ? v.currentStateTimestamp : gr_now_ms();
    gr_member_t **tail = &g->members;
    g->nmembers = 0;
    for (int32_t i = 0; i < v.members_count; i++) {
        const gr_GroupMetadataValue_MemberMetadata_t *x = &v.members[i];
        gr_member_t *m = gr_calloc(1, sizeof(*m));
        m->group = g;
        m->member_id = strdup_or_null(x->memberId.len >= 0 ? x->memberId : (gr_str_t){"", 0});
        m->group_instance_id = strdup_or_null(x->groupInstanceId);
        m->client_id = strdup_or_null(x->clientId.len >= 0 ? x->clientId : (gr_str_t){"", 0});
        m->client_host = strdup_or_null(x->clientHost.len >= 0 ? x->clientHost : (gr_str_t){"", 0});
        m->session_timeout_ms = x->sessionTimeout;
        m->rebalance_timeout_ms = ver >= 1 ? x->rebalanceTimeout : x->sessionTimeout;
        m->protocol_type = g->protocol_type ? gr_strdup(g->protocol_type) : NULL;
        m->protocols = gr_calloc(1, sizeof(*m->protocols));
        m->protocols[0].name = gr_strdup(g->protocol_name ? g->protocol_name : "");
        m->protocols[0].metadata = memdup_or_null(x->subscription.p, x->subscription.len);
        m->protocols[0].metadata_len = m->protocols[0].metadata ? x->subscription.len : 0;
        m->nprotocols = 1;
        m->assignment = memdup_or_null(x->assignment.p, x->assignment.len);
        m->assignment_len = m->assignment ? x->assignment.len : 0;
        gr_timer_init(&m->session_timer, NULL, m);
        *tail = m;
        tail = &m->next;
        g->nmembers++;
    }
    if (g->nmembers > 0) {
        g->state = GR_GROUP_STABLE;
        g->empty_since_ms = -1;
    } else {
        g->state = GR_GROUP_EMPTY;
        g->empty_since_ms = ver >= 2 && v.currentStateTimestamp >= 0 ? v.currentStateTimestamp : 0;
    }
    if (gr_group_loaded)
        gr_group_loaded(g);
    else if (g->nmembers > 0)
        gr_warn("coord", "Loaded group %s with %d members whose sessions will not expire", g->group_id,
                g->nmembers);
}

static void load_record(int32_t part, const uint8_t *key, int32_t klen, const uint8_t *val, int32_t vlen)
{
    C.load_records++;
    if (!key || klen < 2) {
        C.load_skipped++;
        return;
    }
    gr_rd_t rd;
    gr_rd_init(&rd, key, (size_t)klen);
    int16_t kver = gr_rd_i16(&rd);
    if (kver == 0 || kver == 1) {
        gr_OffsetCommitKey_t k;
        if (gr_OffsetCommitKey_decode(&rd, kver, &C.arena, &k) < 0 || k.group.len < 0 || k.topic.len < 0) {
            C.load_skipped++;
            return;
        }
        k.group = held_tmp(k.group);
        if (!val) {
            gr_group_t *g = load_group(k.group.p, (size_t)k.group.len, false);
            if (g)
                gr_offset_remove(g->offsets, k.topic.p, (size_t)k.topic.len, k.partition);
            return;
        }
        gr_rd_t vr;
        gr_rd_init(&vr, val, (size_t)vlen);
        int16_t vver = gr_rd_i16(&vr);
        gr_OffsetCommitValue_t v;
        if (vr.err || vver < 0 || vver > 4 || gr_OffsetCommitValue_decode(&vr, vver, &C.arena, &v) < 0) {
            C.load_skipped++;
            return;
        }
        gr_group_t *g = load_group(k.group.p, (size_t)k.group.len, true);
        if (!g)
            return;
        if (!g->offsets && g->nmembers == 0 && !g->protocol_type) {
            /* created by this replay: Empty since forever, so retention
             * counts from each commit */
            g->empty_since_ms = 0;
            g->coord_partition = part;
        }
        gr_str_t md = held_tmp(v.metadata);
        gr_offset_put(gr_offsets_of(g), k.topic.p, (size_t)k.topic.len, k.partition, v.offset,
                      vver >= 3 ? v.leaderEpoch : -1, md.p, (size_t)md.len, v.commitTimestamp,
                      vver == 1 ? v.expireTimestamp : -1, NULL);
    } else if (kver == 2) {
        gr_GroupMetadataKey_t k;
        if (gr_GroupMetadataKey_decode(&rd, 2, &C.arena, &k) < 0 || k.group.len < 0) {
            C.load_skipped++;
            return;
        }
        k.group = held_tmp(k.group);
        md_put(k.group.p, (size_t)k.group.len, val, vlen);
    } else {
        C.load_skipped++;
    }
}

/* Walk the records of one uncompressed record area. */
static int load_records(int32_t part, const uint8_t *p, const uint8_t *end, int32_t count)
{
    for (int32_t i = 0; i < count; i++) {
        int64_t len, v;
        int r = gr_varint_decode(p, end, &len, true, 5);
        if (r < 0 || len < 0 || (int64_t)(end - p - r) < len)
            return GR_ECORRUPT;
        p += r;
        const uint8_t *rend = p + len;
        const uint8_t *q = p + 1;                       /* attributes */
        if (q > rend)
            return GR_ECORRUPT;
        if ((r = gr_varint_decode(q, rend, &v, true, 10)) < 0)   /* timestampDelta */
            return GR_ECORRUPT;
        q += r;
        if ((r = gr_varint_decode(q, rend, &v, true, 5)) < 0)    /* offsetDelta */
            return GR_ECORRUPT;
        q += r;
        int64_t kl, vl;
        if ((r = gr_varint_decode(q, rend, &kl, true, 5)) < 0 || kl < -1 || kl > rend - q - r)
            return GR_ECORRUPT;
        q += r;
        const uint8_t *key = kl >= 0 ? q : NULL;
        q += kl > 0 ? kl : 0;
        if ((r = gr_varint_decode(q, rend, &vl, true, 5)) < 0 || vl < -1 || vl > rend - q - r)
            return GR_ECORRUPT;
        q += r;
        const uint8_t *val = vl >= 0 ? q : NULL;
        load_record(part, key, (int32_t)kl, val, (int32_t)vl);
        p = rend;
    }
    return 0;
}

static void load_batch(int32_t part, const uint8_t *b, const gr_batch_info_t *info)
{
    if (info->attributes & GR_ATTR_CONTROL)
        return;
    const uint8_t *recs = b + GR_BATCH_HEADER_SIZE, *end = b + info->size;
    int codec = info->attributes & GR_ATTR_COMPRESSION_MASK;
    if (codec != GR_COMPRESSION_NONE) {
        size_t max_out = (size_t)GR_MAX(gr_broker.cfg.offsets_load_buffer_size, 1) * 64;
        if (gr_decompress(codec, recs, (size_t)(end - recs), &C.dbuf, max_out) < 0) {
            gr_warn("coord", "Skipping undecompressable batch at offset %lld of %s-%d",
                    (long long)info->base_offset, GR_OFFSETS_TOPIC, part);
            C.load_skipped += info->record_count;
            return;
        }
        recs = C.dbuf.p;
        end = C.dbuf.p + C.dbuf.len;
    }
    if (load_records(part, recs, end, info->record_count) < 0) {
        gr_warn("coord", "Skipping unparsable records of batch at offset %lld of %s-%d",
                (long long)info->base_offset, GR_OFFSETS_TOPIC, part);
        C.load_skipped++;
    }
}

static void partition_loaded(int32_t part)
{
    /* groups created by commits whose offsets were all deleted again, and
     * without metadata, do not exist for Kafka either */
    for (int32_t i = 0; i < C.ncreated; i++) {
        gr_group_t *g = C.created[i];
        if (g->nmembers == 0 && gr_offset_map_count(g->offsets) == 0 && !md_find(g->group_id, strlen(g->group_id))) {
            g->state = GR_GROUP_DEAD;
            gr_group_remove(g);
        }
    }
    C.ncreated = 0;
    for (uint32_t i = 0; i < MD_BUCKETS; i++) {
        pending_md_t *e = C.md[i];
        while (e) {
            pending_md_t *n = e->next;
            apply_group_value(part, e);
            free(e->group);
            free(e->value);
            free(e);
            e = n;
        }
        C.md[i] = NULL;
    }
    C.last_group = NULL;
    C.loading[part] = false;
    if (C.load_skipped)
        gr_warn("coord", "Skipped %lld undecodable records while loading %s-%d", (long long)C.load_skipped,
                GR_OFFSETS_TOPIC, part);
    gr_debug("coord", "Loaded %s-%d: %lld records", GR_OFFSETS_TOPIC, part, (long long)C.load_records);
    C.load_records = C.load_skipped = 0;
}

/* One read of the current partition.  Returns false when everything is
 * loaded. */
static bool load_step(void)
{
    gr_topic_t *t = offsets_topic();
    C.last_group = NULL;            /* the loop ran since the last step */
    while (C.load_part < C.npart) {
        gr_partition_t *p = t ? gr_partition_get(t, C.load_part) : NULL;
        if (!p) {
            partition_loaded(C.load_part++);
            C.load_offset = -1;
            continue;
        }
        if (C.load_offset < 0)
            C.load_offset = gr_log_start_offset(p->log);
        int64_t end_off = gr_log_end_offset(p->log);
        gr_log_slice_t s;
        int rc = C.load_offset < end_off
                     ? gr_log_read(p->log, C.load_offset, (int32_t)GR_MIN(gr_broker.cfg.offsets_load_buffer_size,
                                                                        INT32_MAX), end_off, true, &s)
                     : (s.len = 0, 0);
        if (rc < 0 || s.len <= 0) {
            if (rc < 0)
                gr_warn("coord", "Reading %s-%d at %lld failed: %s", GR_OFFSETS_TOPIC, C.load_part,
                        (long long)C.load_offset, strerror(-rc));
            partition_loaded(C.load_part++);
            C.load_offset = -1;
            continue;
        }
        gr_buf_reserve(&C.rbuf, (size_t)s.len);
        size_t got = 0;
        while (got < (size_t)s.len) {
            int fd = gr_file_fd(s.file);
            if (fd < 0)
                break;
            ssize_t r = gr_fio_pread(fd, C.rbuf.p + got, (size_t)s.len - got, (off_t)(s.pos + (int64_t)got));
            if (r == -1 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        int64_t before = C.load_offset;
        size_t pos = 0;
        gr_arena_reset(&C.arena);
        while (pos + GR_BATCH_LOG_OVERHEAD <= got) {
            gr_batch_info_t info;
            rc = gr_batch_check(C.rbuf.p + pos, got - pos, &info);
            if (rc == GR_AGAIN)
                break;
            if (rc < 0) {
                int32_t sz = gr_batch_size(C.rbuf.p + pos);
                gr_warn("coord", "Skipping corrupt batch at offset %lld of %s-%d",
                        (long long)gr_batch_base_offset(C.rbuf.p + pos), GR_OFFSETS_TOPIC, C.load_part);
                if (sz <= GR_BATCH_LOG_OVERHEAD || (size_t)sz > got - pos)
                    break;
                pos += (size_t)sz;
                continue;
            }
            if (info.base_offset + info.last_offset_delta >= C.load_offset)
                load_batch(C.load_part, C.rbuf.p + pos, &info);
            C.load_offset = GR_MAX(C.load_offset, info.base_offset + info.last_offset_delta + 1);
            pos += (size_t)info.size;
        }
        if (C.load_offset <= before) {
            gr_warn("coord", "No progress loading %s-%d at offset %lld; stopping there", GR_OFFSETS_TOPIC,
                    C.load_part, (long long)before);
            partition_loaded(C.load_part++);
            C.load_offset = -1;
            continue;
        }
        return true;
    }
    return false;
}

static void load_timer_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(arg);
    if (load_step()) {
        gr_timer_start(ev, &C.load_timer, 0);
        return;
    }
    gr_info("coord", "Loaded %d groups from %s in %lld ms", gr_group_count(), GR_OFFSETS_TOPIC,
            (long long)(gr_mono_ms() - C.load_t0));
}

void gr_coord_load_all(void)
{
    while (load_step())
        ;
    if (gr_broker.ev)
        gr_timer_stop(gr_broker.ev, &C.load_timer);
}

/* ------------------------------------------------------------ lifecycle */

/* Buffers of the group commit (nothing may be waiting). */
static void pend_free_all(void)
{
    for (int32_t i = 0; C.pend && i < C.npart; i++) {
        assert(!C.pend[i].head);
        gr_buf_free(&C.pend[i].buf);
    }
    free(C.pend);
    C.pend = NULL;
    free(C.dirty);
    C.dirty = NULL;
    C.ndirty = 0;
}

int gr_coord_start(void)
{
    gr_topic_t *t = offsets_topic();
    if (!t) {
        char segbytes[32];
        snprintf(segbytes, sizeof(segbytes), "%lld", (long long)gr_broker.cfg.offsets_topic_segment_bytes);
        char *configs[] = {"cleanup.policy", "compact", "segment.bytes", segbytes,
                           "min.compaction.lag.ms", MIN_COMPACTION_LAG_MS, NULL};
        const char *msg = NULL;
        int e = gr_topic_create(GR_OFFSETS_TOPIC, sizeof(GR_OFFSETS_TOPIC) - 1,
                                gr_broker.cfg.offsets_topic_num_partitions, configs, true, &t, &msg);
        if (e != KERR_NONE) {
            gr_error("coord", "Cannot create %s: %s", GR_OFFSETS_TOPIC, msg ? msg : gr_kerr_name(e));
            return GR_EIO;
        }
    } else if (t->npart != gr_broker.cfg.offsets_topic_num_partitions) {
        gr_warn("coord", "%s has %d partitions, offsets.topic.num.partitions is %d: keeping %d", GR_OFFSETS_TOPIC,
                t->npart, gr_broker.cfg.offsets_topic_num_partitions, t->npart);
    }
    C.npart = t->npart;
    pend_free_all();
    C.pend = gr_calloc((size_t)C.npart, sizeof(*C.pend));
    C.dirty = gr_calloc((size_t)C.npart, sizeof(*C.dirty));
    free(C.loading);
    C.loading = gr_calloc((size_t)C.npart, sizeof(bool));
    for (int32_t i = 0; i < C.npart; i++)
        C.loading[i] = true;
    if (!C.md)
        C.md = gr_calloc(MD_BUCKETS, sizeof(*C.md));
    gr_arena_init(&C.arena);
    C.load_part = 0;
    C.load_offset = -1;
    C.load_t0 = gr_mono_ms();
    C.started = true;
    C.stopped = false;
    gr_timer_init(&C.load_timer, load_timer_cb, NULL);
    gr_timer_init(&C.expire_timer, expire_timer_cb, NULL);
    gr_timer_init(&C.done_timer, done_timer_cb, NULL);
    gr_timer_init(&C.pend_timer, pend_timer_cb, NULL);
    if (gr_broker.ev && C.hook_ev != gr_broker.ev) {
        /* before net.c's output flush: main.c starts the coordinator
         * before the listener (see "group commit") */
        gr_ev_before_sleep(gr_broker.ev, pend_hook, NULL);
        C.hook_ev = gr_broker.ev;
    }
    if (gr_broker.ev) {
        gr_timer_start(gr_broker.ev, &C.load_timer, 0);
        gr_timer_start(gr_broker.ev, &C.expire_timer, gr_broker.cfg.offsets_retention_check_interval_ms);
    }
    return 0;
}

void gr_coord_stop(void)
{
    if (!C.started)
        return;
    if (gr_broker.ev) {
        gr_timer_stop(gr_broker.ev, &C.load_timer);
        gr_timer_stop(gr_broker.ev, &C.expire_timer);
        gr_timer_stop(gr_broker.ev, &C.done_timer);
    }
    pend_flush_all(false);
    if (gr_broker.ev)
        gr_timer_stop(gr_broker.ev, &C.pend_timer);
    run_done();
    pend_free_all();
    C.stopped = true;
    if (C.md) {
        for (uint32_t i = 0; i < MD_BUCKETS; i++) {
            pending_md_t *e = C.md[i];
            while (e) {
                pending_md_t *n = e->next;
                free(e->group);
                free(e->value);
                free(e);
                e = n;
            }
        }
        free(C.md);
        C.md = NULL;
    }
    free(C.loading);
    C.loading = NULL;
    free(C.created);
    C.created = NULL;
    C.ncreated = C.capcreated = 0;
    gr_buf_free(&C.rbuf);
    gr_buf_free(&C.dbuf);
    gr_arena_free(&C.arena);
    C.started = false;
    C.npart = 0;
    C.load_part = 0;
    C.last_group = NULL;
}
