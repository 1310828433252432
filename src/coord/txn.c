/*
 * txn.c - the transaction coordinator on __transaction_state (see txn.h).
 *
 * Records (key and value each an int16 version then a non-flexible body,
 * strings int16-length; a null value deletes the id):
 *
 *   TransactionLogKey v0        TransactionLogValue v0 (v1: flexible, read)
 *   +--------+--------------+   +-------+--------------------------------------+
 *   | int16  | version = 0  |   | int16 | version = 0                          |
 *   | string | transac-     |   | int64 | ProducerId                           |
 *   |        | tionalId     |   | int16 | ProducerEpoch                        |
 *   +--------+--------------+   | int32 | TransactionTimeoutMs                 |
 *                               | int8  | TransactionStatus (state id)         |
 *                               | array | TransactionPartitions, null if Empty:|
 *                               |       |   string Topic | [int32] partitions  |
 *                               | int64 | TransactionLastUpdateTimestampMs     |
 *                               | int64 | TransactionStartTimestampMs          |
 *                               +-------+--------------------------------------+
 *   v1 adds tagged fields PreviousProducerId (0), NextProducerId (1),
 *   ClientTransactionVersion (2); Kafka writes v0 until transaction.version
 *   1 is enabled, so does this coordinator (clients' transaction version 0).
 *
 * The state machine (Kafka's TransactionMetadata; a transition is prepared
 * -- the pending state -- then completed once its record is durable):
 *
 *                 AddPartitions/AddOffsets
 *   Empty ------------------------------------> Ongoing <-- AddPartitions
 *     ^  ^                                        |  |
 *     |  | InitProducerId       EndTxn(commit)     |  | EndTxn(abort), a timeout,
 *     |  +------------------+   +------------------+  | InitProducerId of a newer
 *     |                     |   v                     v producer (PrepareEpochFence)
 *   CompleteCommit <--- PrepareCommit         PrepareAbort ---> CompleteAbort
 *     (markers written to every partition)                 (markers)   |
 *     +-------------------- AddPartitions: Ongoing ---------------------+
 *   Empty / CompleteCommit / CompleteAbort idle transactional.id.expiration.ms: Dead (tombstone)
 *
 * Markers: once PrepareCommit/PrepareAbort is durable, EndTxn is answered
 * and a marker job writes the COMMIT/ABORT marker to every partition of the
 * transaction (txn_markers.h), dropping each partition that took it (so
 * DescribeTransactions shows those still waiting) or whose topic is gone,
 * and retrying the others every RETRY_MS; then it writes CompleteCommit /
 * CompleteAbort.  A partition that refuses the marker for a stale epoch is
 * dropped with a warning (Kafka stops sending the transaction's markers and
 * leaves it in PrepareX until the coordinator moves, which would leave the
 * transactional id unusable here).  When a partition of __transaction_state
 * loads, each of its transactions still in PrepareCommit/PrepareAbort gets
 * its marker job: a crash between the steps is finished then.
 *
 * Timers per partition: every transaction.abort.timed.out.transaction.
 * cleanup.interval.ms, Ongoing transactions older than their timeout are
 * aborted with an epoch bump that fences their producer (KIP-588); every
 * transaction.remove.expired.transaction.cleanup.interval.ms, ids idle for
 * transactional.id.expiration.ms get their tombstones (replayed: the ids
 * go, or come back if the append fails).
 *
 * Lifetimes: a transaction's metadata is referenced by its partition's map
 * and by every write or marker job in flight (refs); a partition stopping
 * detaches its metadata, and what is in flight completes without it.
 */
#include "txn.h"

#include "arena.h"
#include "broker.h"
#include "hmap.h"
#include "jstr.h"
#include "producer_ids.h"
#include "schema_gen.h"
#include "topic.h"
#include "txn_markers.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_MS 100                /* markers and completions: Kafka's retry.backoff.ms */
#define MIN_COMPACTION_LAG_MS "0"

static const char *const state_names[] = {"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit",
                                          "CompleteAbort", "Dead", "PrepareEpochFence"};

const char *gr_txn_state_name(int state)
{
    return state >= 0 && state < (int)GR_ARRAY_LEN(state_names) ? state_names[state] : NULL;
}

int gr_txn_state_id(const char *name, size_t len)
{
    for (int i = 0; i < (int)GR_ARRAY_LEN(state_names); i++)
        if (strlen(state_names[i]) == len && !memcmp(state_names[i], name, len))
            return i;
    return -1;
}

/* ------------------------------------------------------------ partition sets */

/* The partitions of a transaction, sorted by (topic, partition); the topic
 * strings are owned, one copy per topic (entries of a topic share it). */
typedef struct parts {
    gr_txn_tp_t *v;
    int32_t n, cap;
} parts_t;

static int tp_cmp(const char *t1, size_t l1, int32_t p1, const char *t2, size_t l2, int32_t p2)
{
    size_t m = GR_MIN(l1, l2);
    int c = memcmp(t1, t2, m);
    if (c)
        return c;
    if (l1 != l2)
        return l1 < l2 ? -1 : 1;
    return (p1 > p2) - (p1 < p2);
}

/* Index of (t, p), or -(insertion point) - 1. */
static int32_t parts_find(const parts_t *s, const char *t, size_t tl, int32_t p)
{
    int32_t lo = 0, hi = s->n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = tp_cmp(s->v[mid].topic, s->v[mid].topic_len, s->v[mid].partition, t, tl, p);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -lo - 1;
}

static bool parts_has(const parts_t *s, const char *t, size_t tl, int32_t p)
{
    return parts_find(s, t, tl, p) >= 0;
}

static void parts_add(parts_t *s, const char *t, size_t tl, int32_t p)
{
    int32_t i = parts_find(s, t, tl, p);
    if (i >= 0)
        return;
    i = -i - 1;
    /* a neighbour of the same topic shares its string */
    const char *name = NULL;
    if (i > 0 && s->v[i - 1].topic_len == tl && !memcmp(s->v[i - 1].topic, t, tl))
        name = s->v[i - 1].topic;
    else if (i < s->n && s->v[i].topic_len == tl && !memcmp(s->v[i].topic, t, tl))
        name = s->v[i].topic;
    if (!name)
        name = gr_strndup(t, tl);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4;
        s->v = gr_realloc(s->v, sizeof(*s->v) * (size_t)s->cap);
    }
    memmove(s->v + i + 1, s->v + i, sizeof(*s->v) * (size_t)(s->n - i));
    s->v[i] = (gr_txn_tp_t){name, tl, p};
    s->n++;
}

/* Is entry i the last user of its topic string? */
static bool parts_last_of_topic(const parts_t *s, int32_t i)
{
    return !(i > 0 && s->v[i - 1].topic == s->v[i].topic) && !(i + 1 < s->n && s->v[i + 1].topic == s->v[i].topic);
}

static void parts_remove(parts_t *s, const char *t, size_t tl, int32_t p)
{
    int32_t i = parts_find(s, t, tl, p);
    if (i < 0)
        return;
    if (parts_last_of_topic(s, i))
        free((char *)s->v[i].topic);
    memmove(s->v + i, s->v + i + 1, sizeof(*s->v) * (size_t)(s->n - i - 1));
    s->n--;
}

static void parts_free(parts_t *s)
{
    for (int32_t i = 0; i < s->n; i++)
        if (i == 0 || s->v[i].topic != s->v[i - 1].topic)
            free((char *)s->v[i].topic);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static void parts_copy(parts_t *dst, const parts_t *src)
{
    memset(dst, 0, sizeof(*dst));
    for (int32_t i = 0; i < src->n; i++)
        parts_add(dst, src->v[i].topic, src->v[i].topic_len, src->v[i].partition);
}

static bool parts_subset(const parts_t *a, const parts_t *b)
{
    for (int32_t i = 0; i < a->n; i++)
        if (!parts_has(b, a->v[i].topic, a->v[i].topic_len, a->v[i].partition))
            return false;
    return true;
}

/* ------------------------------------------------------------ metadata */

/* TransactionMetadata, or a transition of it (TxnTransitMetadata). */
typedef struct tdata {
    int64_t pid, prev_pid, next_pid;
    int16_t epoch, last_epoch;
    int32_t timeout_ms;
    int8_t state;
    parts_t parts;
    int64_t start_ms, update_ms;
    int16_t client_version;
} tdata_t;

struct shard;
struct mjob;

typedef struct meta {
    gr_hnode_t node;                /* in its shard's map */
    struct shard *sh;               /* NULL once detached */
    int refs;                       /* the map + writes and jobs in flight */
    char *tid;                      /* held form */
    size_t tlen;
    tdata_t d;
    int8_t pending;                 /* -1 none */
    bool failed_fence;              /* hasFailedEpochFence */
    struct mjob *job;               /* markers being written */
} meta_t;

typedef struct shard {
    int32_t part;
    int32_t coord_epoch;            /* the partition's leader epoch */
    bool loaded;
    gr_hmap_t metas;
    gr_crt_timer_t abort_timer, expire_timer;
    gr_arena_t arena;               /* decoding scratch */
} shard_t;

static struct {
    gr_crt_t *rt;
    int32_t npart;
} T;

static void tdata_free(tdata_t *d)
{
    parts_free(&d->parts);
}

static void tdata_copy(tdata_t *dst, const tdata_t *src)
{
    *dst = *src;
    parts_copy(&dst->parts, &src->parts);
}

static void meta_unref(meta_t *m)
{
    if (--m->refs > 0)
        return;
    assert(m->sh == NULL);
    tdata_free(&m->d);
    free(m->tid);
    free(m);
}

static uint32_t tid_hash(const char *tid, size_t len)
{
    return gr_hash32(tid, len);
}

static meta_t *meta_find(const shard_t *sh, const char *tid, size_t len)
{
    for (gr_hnode_t *n = gr_hmap_first(&sh->metas, tid_hash(tid, len)); n; n = gr_hmap_next(n)) {
        meta_t *m = GR_CONTAINER(n, meta_t, node);
        if (m->tlen == len && !memcmp(m->tid, tid, len))
            return m;
    }
    return NULL;
}

static meta_t *meta_new(shard_t *sh, const char *tid, size_t len)
{
    meta_t *m = gr_calloc(1, sizeof(*m));
    m->sh = sh;
    m->refs = 1;
    m->tid = gr_strndup(tid, len);
    m->tlen = len;
    m->pending = -1;
    m->d.pid = m->d.prev_pid = m->d.next_pid = -1;
    m->d.epoch = m->d.last_epoch = -1;
    m->d.start_ms = -1;
    gr_hmap_insert(&sh->metas, &m->node, tid_hash(tid, len));
    return m;
}

/* Out of the map (it stays alive while referenced). */
static void meta_detach(meta_t *m)
{
    gr_hmap_remove(&m->sh->metas, &m->node);
    m->sh = NULL;
    meta_unref(m);
}

int32_t gr_txn_partition_for(const char *tid, size_t len)
{
    int32_t n = T.rt ? T.npart : gr_broker.cfg.transaction_state_log_num_partitions;
    return gr_jstr_partition(tid, len, GR_JSTR_HELD, n);
}

bool gr_txn_running(void)
{
    return T.rt != NULL;
}

gr_kerr_t gr_txn_status(const char *tid, size_t len)
{
    if (!T.rt)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    return gr_crt_status(T.rt, gr_txn_partition_for(tid, len));
}

/* The shard of an id, or NULL with *err. */
static shard_t *shard_of(const char *tid, size_t len, gr_kerr_t *err)
{
    *err = gr_txn_status(tid, len);
    if (*err != KERR_NONE)
        return NULL;
    return gr_crt_shard(T.rt, gr_txn_partition_for(tid, len));
}

static bool epoch_exhausted(int16_t epoch)
{
    return epoch >= INT16_MAX - 1;          /* TransactionMetadata.isEpochExhausted */
}

/* ------------------------------------------------------------ records */

void gr_txn_key_encode(gr_wr_t *w, const char *tid, size_t len)
{
    char *wire = gr_malloc(len + 1);
    size_t wl = gr_jstr_unhold(tid, len, wire);
    gr_TransactionLogKey_t k;
    gr_TransactionLogKey_init(&k);
    k.TransactionalId = (gr_str_t){wire, (int32_t)wl};
    gr_wr_i16(w, 0);
    gr_TransactionLogKey_encode(w, 0, &k);
    free(wire);
}

void gr_txn_value_encode(gr_wr_t *w, const gr_txn_record_t *r)
{
    gr_TransactionLogValue_t v;
    gr_TransactionLogValue_init(&v);
    v.ProducerId = r->producer_id;
    v.ProducerEpoch = r->producer_epoch;
    v.TransactionTimeoutMs = r->timeout_ms;
    v.TransactionStatus = r->state;
    v.TransactionLastUpdateTimestampMs = r->update_ms;
    v.TransactionStartTimestampMs = r->start_ms;
    int32_t ntopics = 0;
    for (int32_t i = 0; i < r->nparts; i++)
        ntopics += i == 0 || r->parts[i].topic != r->parts[i - 1].topic;
    gr_TransactionLogValue_PartitionsSchema_t *ts = NULL;
    int32_t *ids = NULL;
    if (r->state == GR_TXN_EMPTY) {
        v.TransactionPartitions_count = -1;     /* null (TransactionLog.valueToBytes) */
    } else {
        ts = gr_calloc((size_t)GR_MAX(ntopics, 1), sizeof(*ts));
        ids = gr_malloc(sizeof(*ids) * (size_t)GR_MAX(r->nparts, 1));
        int32_t k = -1;
        for (int32_t i = 0; i < r->nparts; i++) {
            if (i == 0 || r->parts[i].topic != r->parts[i - 1].topic) {
                k++;
                gr_TransactionLogValue_PartitionsSchema_init(&ts[k]);
                ts[k].Topic = (gr_str_t){r->parts[i].topic, (int32_t)r->parts[i].topic_len};
                ts[k].PartitionIds = &ids[i];
                ts[k].PartitionIds_count = 0;
            }
            ids[i] = r->parts[i].partition;
            ts[k].PartitionIds_count++;
        }
        v.TransactionPartitions = ts;
        v.TransactionPartitions_count = ntopics;
    }
    gr_wr_i16(w, 0);
    gr_TransactionLogValue_encode(w, 0, &v);
    free(ts);
    free(ids);
}

/* Size of the record of d: to refuse a transition whose record could never
 * be written, before anything is prepared. */
static void record_of(const meta_t *m, const tdata_t *d, gr_wr_t *w, size_t *klen)
{
    gr_txn_key_encode(w, m->tid, m->tlen);
    *klen = w->total;
    gr_txn_record_t r = {d->pid, d->epoch, d->timeout_ms, d->state, d->update_ms, d->start_ms, d->parts.v,
                         d->parts.n};
    gr_txn_value_encode(w, &r);
}

/* ------------------------------------------------------------ transitions */

/* Kafka's appendTransactionToLog mapping of the append's error. */
static gr_kerr_t map_append_error(gr_kerr_t e)
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
        return KERR_UNKNOWN_SERVER_ERROR;
    default:
        return e;
    }
}

/* Apply a durable transition (completeTransitionTo, transaction version 0).
 * Returns false (the metadata unchanged) when it does not fit the current
 * state, which Kafka treats as fatal. */
static bool complete_transition(meta_t *m, const tdata_t *t)
{
    if (m->pending != t->state) {
        gr_error("txn", "Transactional id %s: completing a transition to %s while pending %d", m->tid,
                 gr_txn_state_name(t->state), m->pending);
        return false;
    }
    switch (t->state) {
    case GR_TXN_EMPTY:
        m->d.timeout_ms = t->timeout_ms;
        m->d.epoch = t->epoch;
        m->d.last_epoch = t->last_epoch;
        m->d.pid = t->pid;
        m->d.prev_pid = t->prev_pid;
        break;
    case GR_TXN_ONGOING:
        m->d.start_ms = t->start_ms;
        for (int32_t i = 0; i < t->parts.n; i++)
            parts_add(&m->d.parts, t->parts.v[i].topic, t->parts.v[i].topic_len, t->parts.v[i].partition);
        break;
    case GR_TXN_PREPARE_COMMIT:
    case GR_TXN_PREPARE_ABORT:
        break;
    case GR_TXN_COMPLETE_COMMIT:
    case GR_TXN_COMPLETE_ABORT:
        m->d.start_ms = t->start_ms;
        parts_free(&m->d.parts);
        break;
    default:
        return false;
    }
    m->d.client_version = t->client_version;
    m->d.update_ms = t->update_ms;
    m->d.state = t->state;
    m->pending = -1;
    return true;
}

/* prepareTransitionTo: the transition from the current state (NULL and
 * nothing pending when it is not a valid one). */
static bool valid_from(int to, int from)
{
    switch (to) {
    case GR_TXN_EMPTY:
        return from == GR_TXN_EMPTY || from == GR_TXN_COMPLETE_COMMIT || from == GR_TXN_COMPLETE_ABORT;
    case GR_TXN_ONGOING:
        return from == GR_TXN_ONGOING || from == GR_TXN_EMPTY || from == GR_TXN_COMPLETE_COMMIT ||
               from == GR_TXN_COMPLETE_ABORT;
    case GR_TXN_PREPARE_COMMIT:
        return from == GR_TXN_ONGOING;
    case GR_TXN_PREPARE_ABORT:
        return from == GR_TXN_ONGOING || from == GR_TXN_PREPARE_EPOCH_FENCE;
    case GR_TXN_COMPLETE_COMMIT:
        return from == GR_TXN_PREPARE_COMMIT;
    case GR_TXN_COMPLETE_ABORT:
        return from == GR_TXN_PREPARE_ABORT;
    case GR_TXN_DEAD:
        return from == GR_TXN_EMPTY || from == GR_TXN_COMPLETE_ABORT || from == GR_TXN_COMPLETE_COMMIT;
    case GR_TXN_PREPARE_EPOCH_FENCE:
        return from == GR_TXN_ONGOING;
    }
    return false;
}

static bool prepare(meta_t *m, tdata_t *t, int to)
{
    if (m->pending >= 0 || !valid_from(to, m->d.state)) {
        gr_error("txn", "Transactional id %s: no transition from %s to %s (pending %d)", m->tid,
                 gr_txn_state_name(m->d.state), gr_txn_state_name(to), m->pending);
        return false;
    }
    t->state = (int8_t)to;
    m->pending = (int8_t)to;
    return true;
}

/* A transition based on the current metadata (its partitions copied). */
static void transit_init(const meta_t *m, tdata_t *t, int64_t now)
{
    tdata_copy(t, &m->d);
    t->prev_pid = m->d.pid;
    t->next_pid = -1;
    t->update_ms = now;
    t->client_version = 0;
}

typedef struct write_ctx {
    meta_t *m;                      /* referenced */
    tdata_t t;
    bool keep_pending;              /* on error the pending state stays (a retry follows) */
    void (*done)(struct write_ctx *c, gr_kerr_t err);
    void *arg;                      /* the done function's */
    gr_txn_cb *cb;                  /* the requester's, for the common done */
    void *cb_arg;
    int64_t pid;
    int16_t epoch;
    bool flag;                      /* the done function's */
} write_ctx_t;

static void write_done(void *arg, gr_kerr_t err)
{
    write_ctx_t *c = arg;
    meta_t *m = c->m;
    gr_kerr_t e = map_append_error(err);
    if (!m->sh) {
        e = KERR_NOT_COORDINATOR;           /* the partition stopped meanwhile */
    } else if (e == KERR_NONE) {
        if (!complete_transition(m, &c->t))
            e = KERR_UNKNOWN_SERVER_ERROR;
    } else {
        gr_info("txn", "Transactional id %s: appending %s failed (%s)%s", m->tid, gr_txn_state_name(c->t.state),
                gr_kerr_name(e), c->keep_pending ? ", will retry" : "");
        if (!c->keep_pending)
            m->pending = -1;
    }
    c->done(c, e);
    tdata_free(&c->t);
    meta_unref(m);
    free(c);
}

/* Append the record of the prepared transition c->t of c->m; c->done(c,
 * err) once it is durable (the transition applied) or failed.  Takes c. */
static void write_transit(write_ctx_t *c)
{
    meta_t *m = c->m;
    m->refs++;
    gr_crt_result_t r;
    gr_crt_result_init(&r, T.rt, m->sh->part, GR_CRT_ATOMIC | GR_CRT_NO_REPLAY);
    gr_wr_t w;
    gr_wr_init(&w);
    size_t klen;
    record_of(m, &c->t, &w, &klen);
    size_t len;
    const uint8_t *rec = gr_wr_flatten(&w, &len);
    gr_crt_result_add(&r, rec, (int32_t)klen, rec + klen, (int32_t)(len - klen));
    gr_wr_free(&w);
    gr_crt_write(T.rt, &r, write_done, c);
}

static write_ctx_t *wctx_new(meta_t *m, void (*done)(write_ctx_t *, gr_kerr_t))
{
    write_ctx_t *c = gr_calloc(1, sizeof(*c));
    c->m = m;
    c->done = done;
    return c;
}

/* ------------------------------------------------------------ markers */

typedef struct mjob {
    meta_t *m;                      /* referenced; NULL once orphaned */
    bool commit;
    int64_t pid;
    int16_t epoch;
    int32_t coord_epoch;
    tdata_t complete;               /* CompleteCommit / CompleteAbort */
    int32_t inflight;
    bool retry;
    gr_crt_timer_t timer;
    int32_t timer_part;
} mjob_t;

typedef struct mctx {
    mjob_t *job;
    int32_t partition;
    size_t tlen;
    char topic[];
} mctx_t;

static void job_send(mjob_t *j);
static void job_maybe_complete(mjob_t *j);

static void job_free(mjob_t *j)
{
    tdata_free(&j->complete);
    free(j);
}

/* The partition stopped: the job ends without its metadata; markers in
 * flight free it when the last completes. */
static void job_orphan(mjob_t *j)
{
    gr_crt_timer_cancel(&j->timer);
    meta_t *m = j->m;
    j->m = NULL;
    m->job = NULL;
    meta_unref(m);
    if (j->inflight == 0)
        job_free(j);
}

static void marker_done(void *arg, gr_kerr_t err)
{
    mctx_t *c = arg;
    mjob_t *j = c->job;
    j->inflight--;
    if (!j->m) {
        if (j->inflight == 0)
            job_free(j);
        free(c);
        return;
    }
    meta_t *m = j->m;
    switch (err) {
    case KERR_NONE:
    case KERR_UNKNOWN_TOPIC_OR_PARTITION:   /* deleted meanwhile: skipped, as Kafka */
    case KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
        parts_remove(&m->d.parts, c->topic, c->tlen, c->partition);
        break;
    case KERR_INVALID_PRODUCER_EPOCH:
    case KERR_TRANSACTION_COORDINATOR_FENCED:
        gr_warn("txn", "Transactional id %s: %s-%d refused the %s marker of producer %lld epoch %d (%s); skipping it",
                m->tid, c->topic, c->partition, j->commit ? "COMMIT" : "ABORT", (long long)j->pid, j->epoch,
                gr_kerr_name(err));
        parts_remove(&m->d.parts, c->topic, c->tlen, c->partition);
        break;
    default:
        j->retry = true;                    /* storage, loading: again later */
        break;
    }
    free(c);
    if (j->inflight == 0)
        job_maybe_complete(j);
}

static void job_timer_fn(void *shard, void *arg)
{
    GR_UNUSED(shard);
    mjob_t *j = arg;
    if (j->m)
        job_maybe_complete(j);
}

static void complete_written(write_ctx_t *c, gr_kerr_t err)
{
    mjob_t *j = c->arg;
    j->inflight--;
    if (!j->m) {
        if (j->inflight == 0)
            job_free(j);                    /* orphaned meanwhile */
        return;
    }
    if (err == KERR_NONE) {
        gr_info("txn", "Completed %s of transactional id %s (producer %lld epoch %d)",
                j->commit ? "commit" : "abort", j->m->tid, (long long)j->pid, j->epoch);
        meta_t *m = j->m;
        m->job = NULL;
        j->m = NULL;
        meta_unref(m);
        job_free(j);
        return;
    }
    /* TransactionMarkerChannelManager retries the completion */
    if (err == KERR_NOT_COORDINATOR && !j->m->sh)
        return;
    gr_crt_timer_schedule(T.rt, j->timer_part, &j->timer, RETRY_MS);
}

static void job_maybe_complete(mjob_t *j)
{
    meta_t *m = j->m;
    if (!m->sh)
        return;
    if (m->d.parts.n > 0) {
        if (j->retry) {
            j->retry = false;
            gr_crt_timer_schedule(T.rt, m->sh->part, &j->timer, RETRY_MS);
        } else {
            job_send(j);
        }
        return;
    }
    /* every partition has its marker: CompleteCommit / CompleteAbort */
    write_ctx_t *c = wctx_new(m, complete_written);
    tdata_copy(&c->t, &j->complete);
    c->t.update_ms = gr_now_ms();
    c->keep_pending = true;
    c->arg = j;
    j->inflight++;
    write_transit(c);
}

static void job_send(mjob_t *j)
{
    meta_t *m = j->m;
    /* the partitions still waiting, copied: completions may remove them */
    int32_t n = m->d.parts.n;
    mctx_t **cs = gr_malloc(sizeof(*cs) * (size_t)GR_MAX(n, 1));
    for (int32_t i = 0; i < n; i++) {
        const gr_txn_tp_t *tp = &m->d.parts.v[i];
        mctx_t *c = gr_malloc(sizeof(*c) + tp->topic_len + 1);
        c->job = j;
        c->partition = tp->partition;
        c->tlen = tp->topic_len;
        memcpy(c->topic, tp->topic, tp->topic_len);
        c->topic[tp->topic_len] = '\0';
        cs[i] = c;
    }
    j->inflight += n;
    for (int32_t i = 0; i < n; i++)
        gr_txn_marker_write(cs[i]->topic, cs[i]->tlen, cs[i]->partition, j->pid, j->epoch, j->coord_epoch, j->commit,
                            marker_done, cs[i]);
    free(cs);
}

/* addTxnMarkersToSend: m is in PrepareCommit/PrepareAbort with the
 * Complete transition `complete` pending (taken). */
static void markers_start(meta_t *m, tdata_t *complete)
{
    mjob_t *j = gr_calloc(1, sizeof(*j));
    j->m = m;
    m->refs++;
    m->job = j;
    j->commit = m->d.state == GR_TXN_PREPARE_COMMIT;
    j->pid = m->d.pid;
    j->epoch = m->d.epoch;
    j->coord_epoch = m->sh->coord_epoch;
    j->complete = *complete;
    j->timer_part = m->sh->part;
    gr_crt_timer_init(&j->timer, job_timer_fn, j);
    memset(complete, 0, sizeof(*complete));
    job_maybe_complete(j);
}

/* prepareComplete */
static void prepare_complete(meta_t *m, tdata_t *t, int64_t now)
{
    transit_init(m, t, now);
    parts_free(&t->parts);
    t->last_epoch = m->d.epoch;
    m->failed_fence = false;
    prepare(m, t, m->d.state == GR_TXN_PREPARE_COMMIT ? GR_TXN_COMPLETE_COMMIT : GR_TXN_COMPLETE_ABORT);
}

/* ------------------------------------------------------------ EndTxn */

static void end_prepared(write_ctx_t *c, gr_kerr_t err)
{
    meta_t *m = c->m;
    bool commit = c->t.state == GR_TXN_PREPARE_COMMIT;
    if (err != KERR_NONE) {
        if (c->flag && m->sh) {
            /* an epoch fence whose record did not land: the bumped epoch
             * is kept, never handed out (hasFailedEpochFence) */
            m->failed_fence = true;
            gr_warn("txn", "Transactional id %s: the epoch fence to %d could not be written: %s", m->tid,
                    m->d.epoch, gr_kerr_name(err));
        }
        c->cb(c->cb_arg, err);
        return;
    }
    /* sendTxnMarkersCallback: still the same producer and state */
    gr_kerr_t e = KERR_NONE;
    if (m->d.pid != c->pid)
        e = KERR_INVALID_PRODUCER_ID_MAPPING;
    else if (m->d.epoch != c->epoch)
        e = KERR_PRODUCER_FENCED;
    else if (m->pending >= 0)
        e = KERR_CONCURRENT_TRANSACTIONS;
    else if (m->d.state != (commit ? GR_TXN_PREPARE_COMMIT : GR_TXN_PREPARE_ABORT))
        e = KERR_INVALID_TXN_STATE;
    if (e != KERR_NONE) {
        c->cb(c->cb_arg, e);
        return;
    }
    tdata_t complete;
    prepare_complete(m, &complete, gr_now_ms());
    /* answered now; the markers follow */
    c->cb(c->cb_arg, KERR_NONE);
    markers_start(m, &complete);
}

static void end_txn(meta_t *m, int64_t pid, int16_t epoch, bool commit, bool from_client, gr_txn_cb *cb, void *arg)
{
    gr_kerr_t e = KERR_NONE;
    bool fence = false;
    if (m->d.pid != pid)
        e = KERR_INVALID_PRODUCER_ID_MAPPING;
    else if (!((!from_client || epoch == m->d.epoch) && epoch >= m->d.epoch))
        e = KERR_PRODUCER_FENCED;
    else if (m->pending >= 0 && m->pending != GR_TXN_PREPARE_EPOCH_FENCE)
        e = KERR_CONCURRENT_TRANSACTIONS;
    else {
        switch (m->d.state) {
        case GR_TXN_ONGOING:
            break;
        case GR_TXN_COMPLETE_COMMIT:
            e = commit ? KERR_NONE : KERR_INVALID_TXN_STATE;
            cb(arg, e);
            return;
        case GR_TXN_COMPLETE_ABORT:
            e = !commit ? KERR_NONE : KERR_INVALID_TXN_STATE;
            cb(arg, e);
            return;
        case GR_TXN_PREPARE_COMMIT:
            e = commit ? KERR_CONCURRENT_TRANSACTIONS : KERR_INVALID_TXN_STATE;
            break;
        case GR_TXN_PREPARE_ABORT:
            e = !commit ? KERR_CONCURRENT_TRANSACTIONS : KERR_INVALID_TXN_STATE;
            break;
        case GR_TXN_EMPTY:
            e = KERR_INVALID_TXN_STATE;
            break;
        default:
            gr_error("txn", "Transactional id %s in state %s: illegal", m->tid, gr_txn_state_name(m->d.state));
            e = KERR_UNKNOWN_SERVER_ERROR;
            break;
        }
    }
    if (e != KERR_NONE) {
        if (!from_client && m->pending == GR_TXN_PREPARE_EPOCH_FENCE)
            m->pending = -1;                /* the fence does not happen */
        cb(arg, e);
        return;
    }
    if (!commit && m->pending == GR_TXN_PREPARE_EPOCH_FENCE) {
        fence = true;
        m->pending = -1;
        m->d.epoch = epoch;
        m->d.last_epoch = -1;
    }
    if (commit && m->pending == GR_TXN_PREPARE_EPOCH_FENCE) {
        cb(arg, KERR_CONCURRENT_TRANSACTIONS);
        return;
    }
    write_ctx_t *c = wctx_new(m, end_prepared);
    transit_init(m, &c->t, gr_now_ms());
    c->t.prev_pid = m->d.prev_pid;
    c->cb = cb;
    c->cb_arg = arg;
    c->pid = m->d.pid;
    c->epoch = m->d.epoch;
    c->flag = fence;
    if (!prepare(m, &c->t, commit ? GR_TXN_PREPARE_COMMIT : GR_TXN_PREPARE_ABORT)) {
        tdata_free(&c->t);
        free(c);
        cb(arg, KERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    write_transit(c);
}

void gr_txn_end(const char *tid, size_t len, int64_t pid, int16_t epoch, bool commit, gr_txn_cb *cb, void *arg)
{
    gr_kerr_t err;
    if (len == 0) {
        cb(arg, KERR_INVALID_REQUEST);
        return;
    }
    shard_t *sh = shard_of(tid, len, &err);
    meta_t *m = sh ? meta_find(sh, tid, len) : NULL;
    if (!sh) {
        cb(arg, err);
        return;
    }
    if (!m) {
        cb(arg, KERR_INVALID_PRODUCER_ID_MAPPING);
        return;
    }
    end_txn(m, pid, epoch, commit, true, cb, arg);
}

/* ------------------------------------------------------------ InitProducerId */

typedef struct init_ctx {
    gr_txn_init_cb *cb;
    void *arg;
} init_ctx_t;

static void init_written(write_ctx_t *c, gr_kerr_t err)
{
    init_ctx_t *ic = c->arg;
    if (err == KERR_NONE) {
        gr_info("txn", "Initialized transactional id %s with producer id %lld and producer epoch %d on partition "
                "%s-%d", c->m->tid, (long long)c->t.pid, c->t.epoch, GR_TXN_TOPIC, gr_txn_partition_for(c->m->tid,
                                                                                                       c->m->tlen));
        ic->cb(ic->arg, KERR_NONE, c->t.pid, c->t.epoch);
    } else {
        ic->cb(ic->arg, err, -1, -1);
    }
    free(ic);
}

/* The abort that fences the previous producer, answered
 * CONCURRENT_TRANSACTIONS (the client retries and gets the next epoch). */
static void init_fenced(void *arg, gr_kerr_t err)
{
    init_ctx_t *ic = arg;
    ic->cb(ic->arg, err == KERR_NONE ? KERR_CONCURRENT_TRANSACTIONS : err, -1, -1);
    free(ic);
}

static gr_kerr_t new_pid(int64_t *pid)
{
    return gr_pids_next(pid) == 0 ? KERR_NONE : KERR_COORDINATOR_LOAD_IN_PROGRESS;
}

/* prepareFenceProducerEpoch: the pending state PrepareEpochFence and the
 * epoch the abort will carry. */
static int16_t prepare_fence(meta_t *m)
{
    int16_t bumped = m->failed_fence ? m->d.epoch : (int16_t)(m->d.epoch + 1);
    m->pending = GR_TXN_PREPARE_EPOCH_FENCE;
    return bumped;
}

void gr_txn_init_producer(const char *tid, size_t len, int32_t timeout_ms, int64_t exp_pid, int16_t exp_epoch,
                          gr_txn_init_cb *cb, void *arg)
{
    gr_kerr_t err;
    bool expected = exp_pid != -1 || exp_epoch != -1;
    if (len == 0) {
        cb(arg, KERR_INVALID_REQUEST, -1, -1);
        return;
    }
    /* a TransactionLogKey holds an int16 string */
    if (gr_jstr_length(tid, len, GR_JSTR_HELD) > (size_t)INT16_MAX || len > (size_t)INT16_MAX) {
        cb(arg, KERR_INVALID_REQUEST, -1, -1);
        return;
    }
    shard_t *sh = shard_of(tid, len, &err);
    if (!sh) {
        cb(arg, err, -1, -1);
        return;
    }
    int64_t now = gr_now_ms();
    meta_t *m = meta_find(sh, tid, len);
    if (!m) {
        int64_t pid;
        if ((err = new_pid(&pid)) != KERR_NONE) {
            cb(arg, err, -1, -1);
            return;
        }
        m = meta_new(sh, tid, len);
        m->d.pid = pid;
        m->d.timeout_ms = timeout_ms;
        m->d.state = GR_TXN_EMPTY;
        m->d.update_ms = now;
    }
    /* isValidProducerId */
    bool valid = !expected || m->d.epoch == -1 || exp_pid == m->d.pid ||
                 (exp_pid == m->d.prev_pid && epoch_exhausted(exp_epoch));
    if (m->pending >= 0) {
        cb(arg, KERR_CONCURRENT_TRANSACTIONS, -1, -1);
        return;
    }
    if (!valid) {
        cb(arg, KERR_PRODUCER_FENCED, -1, -1);
        return;
    }
    write_ctx_t *c = NULL;
    switch (m->d.state) {
    case GR_TXN_PREPARE_ABORT:
    case GR_TXN_PREPARE_COMMIT:
        cb(arg, KERR_CONCURRENT_TRANSACTIONS, -1, -1);
        return;
    case GR_TXN_COMPLETE_ABORT:
    case GR_TXN_COMPLETE_COMMIT:
    case GR_TXN_EMPTY: {
        c = wctx_new(m, init_written);
        transit_init(m, &c->t, now);
        parts_free(&c->t.parts);
        c->t.timeout_ms = timeout_ms;
        c->t.start_ms = -1;
        if (epoch_exhausted(m->d.epoch) && (!expected || exp_epoch == m->d.epoch)) {
            /* prepareProducerIdRotation: a new producer id, epoch 0 */
            int64_t pid;
            if ((err = new_pid(&pid)) != KERR_NONE) {
                tdata_free(&c->t);
                free(c);
                cb(arg, err, -1, -1);
                return;
            }
            c->t.pid = pid;
            c->t.epoch = 0;
            c->t.last_epoch = expected ? m->d.epoch : -1;
        } else {
            /* prepareIncrementProducerEpoch */
            int16_t bumped = (int16_t)(m->d.epoch + 1);
            if (!expected) {
                c->t.epoch = bumped;
                c->t.last_epoch = -1;
            } else if (m->d.epoch == -1 || exp_epoch == m->d.epoch) {
                c->t.epoch = bumped;
                c->t.last_epoch = m->d.epoch;
            } else if (exp_epoch == m->d.last_epoch) {
                /* a retry of a bump that succeeded */
                c->t.epoch = m->d.epoch;
                c->t.last_epoch = m->d.last_epoch;
            } else {
                gr_info("txn", "Transactional id %s: expected producer epoch %d is neither the current %d nor the "
                        "previous %d", m->tid, exp_epoch, m->d.epoch, m->d.last_epoch);
                tdata_free(&c->t);
                free(c);
                cb(arg, KERR_PRODUCER_FENCED, -1, -1);
                return;
            }
        }
        if (!prepare(m, &c->t, GR_TXN_EMPTY)) {
            tdata_free(&c->t);
            free(c);
            cb(arg, KERR_UNKNOWN_SERVER_ERROR, -1, -1);
            return;
        }
        init_ctx_t *ic = gr_malloc(sizeof(*ic));
        *ic = (init_ctx_t){cb, arg};
        c->arg = ic;
        write_transit(c);
        return;
    }
    case GR_TXN_ONGOING: {
        /* fence the producer of the ongoing transaction: abort it with a
         * bumped epoch, never handed out; the client retries */
        if (m->d.epoch == INT16_MAX) {
            cb(arg, KERR_UNKNOWN_SERVER_ERROR, -1, -1);
            return;
        }
        int16_t bumped = prepare_fence(m);
        init_ctx_t *ic = gr_malloc(sizeof(*ic));
        *ic = (init_ctx_t){cb, arg};
        end_txn(m, m->d.pid, bumped, false, false, init_fenced, ic);
        return;
    }
    default:
        gr_error("txn", "Transactional id %s in state %s: illegal", m->tid, gr_txn_state_name(m->d.state));
        cb(arg, KERR_UNKNOWN_SERVER_ERROR, -1, -1);
        return;
    }
}

/* ------------------------------------------------------------ AddPartitions */

static void add_written(write_ctx_t *c, gr_kerr_t err)
{
    c->cb(c->cb_arg, err);
}

void gr_txn_add_partitions(const char *tid, size_t len, int64_t pid, int16_t epoch, const gr_txn_tp_t *tps, int32_t n,
                           gr_txn_cb *cb, void *arg)
{
    gr_kerr_t err;
    if (len == 0) {
        cb(arg, KERR_INVALID_REQUEST);
        return;
    }
    shard_t *sh = shard_of(tid, len, &err);
    if (!sh) {
        cb(arg, err);
        return;
    }
    meta_t *m = meta_find(sh, tid, len);
    if (!m || m->d.pid != pid)
        err = KERR_INVALID_PRODUCER_ID_MAPPING;
    else if (m->d.epoch != epoch)
        err = KERR_PRODUCER_FENCED;
    else if (m->pending >= 0 || m->d.state == GR_TXN_PREPARE_COMMIT || m->d.state == GR_TXN_PREPARE_ABORT)
        err = KERR_CONCURRENT_TRANSACTIONS;
    if (err != KERR_NONE) {
        cb(arg, err);
        return;
    }
    parts_t add = {0};
    for (int32_t i = 0; i < n; i++)
        parts_add(&add, tps[i].topic, tps[i].topic_len, tps[i].partition);
    if (m->d.state == GR_TXN_ONGOING && parts_subset(&add, &m->d.parts)) {
        parts_free(&add);
        cb(arg, KERR_NONE);                 /* all in already */
        return;
    }
    int64_t now = gr_now_ms();
    write_ctx_t *c = wctx_new(m, add_written);
    transit_init(m, &c->t, now);
    for (int32_t i = 0; i < add.n; i++)
        parts_add(&c->t.parts, add.v[i].topic, add.v[i].topic_len, add.v[i].partition);
    parts_free(&add);
    if (m->d.state == GR_TXN_EMPTY || m->d.state == GR_TXN_COMPLETE_ABORT || m->d.state == GR_TXN_COMPLETE_COMMIT)
        c->t.start_ms = now;
    c->cb = cb;
    c->cb_arg = arg;
    if (!prepare(m, &c->t, GR_TXN_ONGOING)) {
        tdata_free(&c->t);
        free(c);
        cb(arg, KERR_UNKNOWN_SERVER_ERROR);
        return;
    }
    write_transit(c);
}

gr_kerr_t gr_txn_verify(const char *tid, size_t len, int64_t pid, int16_t epoch, const gr_txn_tp_t *tps, int32_t n,
                        gr_kerr_t *errs)
{
    gr_kerr_t err;
    if (len == 0)
        return KERR_INVALID_REQUEST;
    shard_t *sh = shard_of(tid, len, &err);
    if (!sh)
        return err;
    meta_t *m = meta_find(sh, tid, len);
    if (!m || m->d.pid != pid)
        return KERR_INVALID_PRODUCER_ID_MAPPING;
    if (m->d.epoch != epoch)
        return KERR_PRODUCER_FENCED;
    if (m->d.state == GR_TXN_PREPARE_COMMIT || m->d.state == GR_TXN_PREPARE_ABORT)
        return KERR_CONCURRENT_TRANSACTIONS;
    for (int32_t i = 0; i < n; i++)
        errs[i] = parts_has(&m->d.parts, tps[i].topic, tps[i].topic_len, tps[i].partition)
                      ? KERR_NONE
                      : KERR_TRANSACTION_ABORTABLE;
    return KERR_NONE;
}

/* ------------------------------------------------------------ reads */

void gr_txn_describe(const char *tid, size_t len, gr_txn_desc_t *out)
{
    memset(out, 0, sizeof(*out));
    if (len == 0) {
        out->error = KERR_INVALID_REQUEST;
        return;
    }
    if (!T.rt) {
        out->error = KERR_TRANSACTIONAL_ID_NOT_FOUND;   /* no transaction was ever begun */
        return;
    }
    shard_t *sh = shard_of(tid, len, &out->error);
    if (!sh)
        return;
    meta_t *m = meta_find(sh, tid, len);
    if (!m || m->d.state == GR_TXN_DEAD) {
        out->error = KERR_TRANSACTIONAL_ID_NOT_FOUND;
        return;
    }
    out->state = m->d.state;
    out->producer_id = m->d.pid;
    out->producer_epoch = m->d.epoch;
    out->timeout_ms = m->d.timeout_ms;
    out->start_ms = m->d.start_ms;
    out->nparts = m->d.parts.n;
    out->parts = m->d.parts.v;
}

gr_kerr_t gr_txn_list(const int *states, int32_t n_states, const int64_t *pids, int32_t n_pids,
                      int64_t min_duration_ms, void (*fn)(void *arg, const char *tid, int64_t pid, int state),
                      void *arg)
{
    if (!T.rt)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    if (gr_crt_loading_any(T.rt))
        return KERR_COORDINATOR_LOAD_IN_PROGRESS;
    int64_t now = gr_now_ms();
    for (int32_t p = 0; p < T.npart; p++) {
        shard_t *sh = gr_crt_shard(T.rt, p);
        if (!sh)
            continue;
        gr_hmap_iter_t it;
        gr_hmap_iter_init(&it, &sh->metas);
        for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
            meta_t *m = GR_CONTAINER(n, meta_t, node);
            if (m->d.state == GR_TXN_DEAD)
                continue;
            bool ok = n_pids == 0;
            for (int32_t i = 0; !ok && i < n_pids; i++)
                ok = pids[i] == m->d.pid;
            if (!ok)
                continue;
            ok = n_states == 0;
            for (int32_t i = 0; !ok && i < n_states; i++)
                ok = states[i] == m->d.state;
            if (!ok)
                continue;
            if (min_duration_ms >= 0 && gr_sub_sat(now, m->d.start_ms) <= min_duration_ms)
                continue;
            fn(arg, m->tid, m->d.pid, m->d.state);
        }
    }
    return KERR_NONE;
}

int64_t gr_txn_count(void)
{
    int64_t n = 0;
    for (int32_t p = 0; T.rt && p < T.npart; p++) {
        shard_t *sh = gr_crt_shard(T.rt, p);
        n += sh ? gr_hmap_count(&sh->metas) : 0;
    }
    return n;
}

/* ------------------------------------------------------------ timers */

static void abort_done(void *arg, gr_kerr_t err)
{
    char *tid = arg;
    if (err == KERR_NONE)
        gr_info("txn", "Completed rollback of ongoing transaction for transactional id %s due to timeout", tid);
    else if (err == KERR_INVALID_PRODUCER_ID_MAPPING || err == KERR_PRODUCER_FENCED ||
             err == KERR_CONCURRENT_TRANSACTIONS)
        gr_debug("txn", "Rollback of ongoing transaction for transactional id %s has been cancelled due to error %s",
                 tid, gr_kerr_name(err));
    else
        gr_warn("txn", "Rollback of ongoing transaction for transactional id %s failed due to error %s", tid,
                gr_kerr_name(err));
    free(tid);
}

/* abortTimedOutTransactions for one partition. */
static void abort_timed_out(shard_t *sh, int64_t now)
{
    /* the ids first: an abort may change the map */
    int32_t n = 0, cap = 0;
    meta_t **v = NULL;
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &sh->metas);
    for (gr_hnode_t *x; (x = gr_hmap_iter_next(&it));) {
        meta_t *m = GR_CONTAINER(x, meta_t, node);
        if (m->pending >= 0 || m->d.state != GR_TXN_ONGOING ||
            gr_add_sat(m->d.start_ms, m->d.timeout_ms) >= now || m->d.epoch == INT16_MAX)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            v = gr_realloc(v, sizeof(*v) * (size_t)cap);
        }
        v[n++] = m;
        m->refs++;
    }
    for (int32_t i = 0; i < n; i++) {
        meta_t *m = v[i];
        if (m->sh && m->pending < 0 && m->d.state == GR_TXN_ONGOING) {
            gr_info("txn", "Aborting transactional id %s (producer %lld epoch %d): open %lld ms, timeout %d ms",
                    m->tid, (long long)m->d.pid, m->d.epoch, (long long)(now - m->d.start_ms), m->d.timeout_ms);
            int16_t bumped = prepare_fence(m);
            end_txn(m, m->d.pid, bumped, false, false, abort_done, gr_strdup(m->tid));
        }
        meta_unref(m);
    }
    free(v);
}

static void abort_timer_fn(void *shard, void *arg)
{
    GR_UNUSED(arg);
    shard_t *sh = shard;
    abort_timed_out(sh, gr_now_ms());
    gr_crt_timer_schedule(T.rt, sh->part, &sh->abort_timer,
                          gr_broker.cfg.transaction_abort_timed_out_transaction_cleanup_interval_ms);
}

void gr_txn_abort_timed_out(void)
{
    for (int32_t p = 0; T.rt && p < T.npart; p++)
        if (gr_crt_status(T.rt, p) == KERR_NONE)
            abort_timed_out(gr_crt_shard(T.rt, p), gr_now_ms());
}

static void expire_done(void *arg, gr_kerr_t err)
{
    GR_UNUSED(arg);
    if (err != KERR_NONE)
        gr_warn("txn", "Writing the tombstones of expired transactional ids failed: %s", gr_kerr_name(err));
}

/* removeExpiredTransactionalIds for one partition: tombstones (replayed:
 * the ids go now, or come back if their batch fails). */
static void expire_ids(shard_t *sh, int64_t now)
{
    gr_crt_result_t r;
    gr_crt_result_init(&r, T.rt, sh->part, 0);
    int64_t horizon = gr_sub_sat(now, gr_broker.cfg.transactional_id_expiration_ms);
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &sh->metas);
    int n = 0;
    for (gr_hnode_t *x; (x = gr_hmap_iter_next(&it));) {
        meta_t *m = GR_CONTAINER(x, meta_t, node);
        bool allowed = m->d.state == GR_TXN_EMPTY || m->d.state == GR_TXN_COMPLETE_COMMIT ||
                       m->d.state == GR_TXN_COMPLETE_ABORT;
        if (m->pending >= 0 || m->job || !allowed || m->d.update_ms > horizon)
            continue;
        gr_wr_t w;
        gr_wr_init(&w);
        gr_txn_key_encode(&w, m->tid, m->tlen);
        size_t len;
        const uint8_t *k = gr_wr_flatten(&w, &len);
        gr_crt_result_add(&r, k, (int32_t)len, NULL, 0);
        gr_wr_free(&w);
        n++;
    }
    if (n == 0) {
        gr_crt_result_free(&r);
        return;
    }
    gr_info("txn", "Expiring %d transactional ids of %s-%d", n, GR_TXN_TOPIC, sh->part);
    gr_crt_write(T.rt, &r, expire_done, NULL);
}

static void expire_timer_fn(void *shard, void *arg)
{
    GR_UNUSED(arg);
    shard_t *sh = shard;
    expire_ids(sh, gr_now_ms());
    gr_crt_timer_schedule(T.rt, sh->part, &sh->expire_timer,
                          gr_broker.cfg.transaction_remove_expired_transaction_cleanup_interval_ms);
}

/* ------------------------------------------------------------ the shard */

typedef struct removed_undo {
    meta_t *m;
    shard_t *sh;
} removed_undo_t;

static void removed_undo_fn(void *shard, void *data, bool rollback)
{
    GR_UNUSED(shard);
    removed_undo_t *u = data;
    if (rollback) {
        u->m->sh = u->sh;
        gr_hmap_insert(&u->sh->metas, &u->m->node, tid_hash(u->m->tid, u->m->tlen));
    } else {
        meta_unref(u->m);
    }
}

/* readTxnRecordValue into m. */
static int load_value(shard_t *sh, meta_t *m, const gr_crt_record_t *rec)
{
    gr_rd_t rd;
    gr_rd_init(&rd, rec->value, (size_t)rec->value_len);
    int16_t ver = gr_rd_i16(&rd);
    gr_TransactionLogValue_t v;
    if (rd.err || ver < 0 || ver > 1 || gr_TransactionLogValue_decode(&rd, ver, &sh->arena, &v) < 0 ||
        v.TransactionStatus < 0 || v.TransactionStatus > GR_TXN_PREPARE_EPOCH_FENCE)
        return GR_ECORRUPT;
    parts_free(&m->d.parts);
    m->d.pid = v.ProducerId;
    m->d.prev_pid = ver >= 1 ? v.PreviousProducerId : -1;
    m->d.next_pid = ver >= 1 ? v.NextProducerId : -1;
    m->d.epoch = v.ProducerEpoch;
    m->d.last_epoch = -1;
    m->d.timeout_ms = v.TransactionTimeoutMs;
    m->d.state = v.TransactionStatus;
    m->d.start_ms = v.TransactionStartTimestampMs;
    m->d.update_ms = v.TransactionLastUpdateTimestampMs;
    m->d.client_version = ver >= 1 ? v.ClientTransactionVersion : 0;
    if (m->d.state != GR_TXN_EMPTY)
        for (int32_t i = 0; i < v.TransactionPartitions_count; i++) {
            const gr_TransactionLogValue_PartitionsSchema_t *ps = &v.TransactionPartitions[i];
            if (ps->Topic.len < 0)
                continue;
            for (int32_t j = 0; j < ps->PartitionIds_count; j++)
                parts_add(&m->d.parts, ps->Topic.p ? ps->Topic.p : "", (size_t)ps->Topic.len, ps->PartitionIds[j]);
        }
    return 0;
}

static int shard_replay(void *shard, const gr_crt_record_t *rec, gr_crt_undo_t *undo)
{
    shard_t *sh = shard;
    if (!rec->key || rec->key_len < 2)
        return GR_ECORRUPT;
    gr_arena_reset(&sh->arena);
    gr_rd_t rd;
    gr_rd_init(&rd, rec->key, (size_t)rec->key_len);
    int16_t kver = gr_rd_i16(&rd);
    gr_TransactionLogKey_t k;
    if (rd.err || kver != 0 || gr_TransactionLogKey_decode(&rd, 0, &sh->arena, &k) < 0 || k.TransactionalId.len < 0) {
        /* Kafka skips keys of an unknown version ("left over from an
         * aborted upgrade") */
        return kver != 0 ? 0 : GR_ECORRUPT;
    }
    size_t cap = GR_JSTR_CANON_MAX((size_t)k.TransactionalId.len);
    char *tid = gr_arena_alloc(&sh->arena, cap);
    size_t tlen = gr_jstr_canon(k.TransactionalId.p ? k.TransactionalId.p : "", (size_t)k.TransactionalId.len,
                                GR_JSTR_WIRE, tid, GR_JSTR_HELD);
    meta_t *m = meta_find(sh, tid, tlen);
    if (!rec->value) {
        if (!m)
            return 0;
        if (undo) {
            /* kept aside for a rollback */
            removed_undo_t *u = gr_crt_undo_push(undo, removed_undo_fn, sizeof(*u));
            u->m = m;
            u->sh = sh;
            m->refs++;
        }
        meta_detach(m);
        return 0;
    }
    if (sh->loaded) {
        gr_warn("txn", "A transaction record of %s replayed live: refused", tid);
        return GR_EINVAL;
    }
    bool created = !m;
    if (!m)
        m = meta_new(sh, tid, tlen);
    if (load_value(sh, m, rec) < 0) {
        if (created)
            meta_detach(m);
        return GR_ECORRUPT;
    }
    return 0;
}

static void shard_loaded(void *shard)
{
    shard_t *sh = shard;
    sh->loaded = true;
    gr_arena_reset(&sh->arena);
    /* a crash between PrepareX and CompleteX: finish it now */
    int32_t n = 0, cap = 0;
    meta_t **v = NULL;
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &sh->metas);
    for (gr_hnode_t *x; (x = gr_hmap_iter_next(&it));) {
        meta_t *m = GR_CONTAINER(x, meta_t, node);
        if (m->d.state == GR_TXN_PREPARE_COMMIT || m->d.state == GR_TXN_PREPARE_ABORT) {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                v = gr_realloc(v, sizeof(*v) * (size_t)cap);
            }
            v[n++] = m;
        }
    }
    for (int32_t i = 0; i < n; i++) {
        meta_t *m = v[i];
        gr_info("txn", "Sending the %s markers of transactional id %s (producer %lld epoch %d) after loading "
                "partition %d", m->d.state == GR_TXN_PREPARE_COMMIT ? "COMMIT" : "ABORT", m->tid,
                (long long)m->d.pid, m->d.epoch, sh->part);
        tdata_t complete;
        prepare_complete(m, &complete, gr_now_ms());
        markers_start(m, &complete);
    }
    free(v);
    gr_crt_timer_schedule(T.rt, sh->part, &sh->abort_timer,
                          gr_broker.cfg.transaction_abort_timed_out_transaction_cleanup_interval_ms);
    gr_crt_timer_schedule(T.rt, sh->part, &sh->expire_timer,
                          gr_broker.cfg.transaction_remove_expired_transaction_cleanup_interval_ms);
}

static void *shard_create(void *ctx, gr_crt_t *rt, int32_t part)
{
    GR_UNUSED(ctx);
    GR_UNUSED(rt);
    shard_t *sh = gr_calloc(1, sizeof(*sh));
    sh->part = part;
    gr_hmap_init(&sh->metas, 16);
    gr_arena_init(&sh->arena);
    gr_crt_timer_init(&sh->abort_timer, abort_timer_fn, NULL);
    gr_crt_timer_init(&sh->expire_timer, expire_timer_fn, NULL);
    gr_topic_t *t = gr_topic_find(GR_TXN_TOPIC, sizeof(GR_TXN_TOPIC) - 1);
    gr_partition_t *p = t ? gr_partition_get(t, part) : NULL;
    sh->coord_epoch = p ? p->leader_epoch : 0;
    return sh;
}

static void shard_destroy(void *shard)
{
    shard_t *sh = shard;
    gr_crt_timer_cancel(&sh->abort_timer);
    gr_crt_timer_cancel(&sh->expire_timer);
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &sh->metas);
    for (gr_hnode_t *x; (x = gr_hmap_iter_next(&it));) {
        meta_t *m = GR_CONTAINER(x, meta_t, node);
        if (m->job)
            job_orphan(m->job);
        m->sh = NULL;
        meta_unref(m);
    }
    gr_hmap_free(&sh->metas);
    gr_arena_free(&sh->arena);
    free(sh);
}

static void shard_all_loaded(void *ctx, int64_t took_ms)
{
    GR_UNUSED(ctx);
    gr_info("txn", "Loaded %lld transactional ids from %s in %lld ms", (long long)gr_txn_count(), GR_TXN_TOPIC,
            (long long)took_ms);
}

static const gr_crt_shard_ops_t shard_ops = {
    .name = "txn",
    .create = shard_create,
    .replay = shard_replay,
    .on_loaded = shard_loaded,
    .destroy = shard_destroy,
    .all_loaded = shard_all_loaded,
};

/* ------------------------------------------------------------ lifecycle */

int gr_txn_start_with(const gr_crt_writer_ops_t *writer, void *ctx, int32_t npart)
{
    assert(!T.rt && gr_broker.ev);
    T.npart = npart;
    gr_crt_config_t cfg = {
        .topic = GR_TXN_TOPIC,
        .partitions = npart,
        .shard = &shard_ops,
        .writer = writer,
        .writer_ctx = ctx,
        .ev = gr_broker.ev,
        .load_buffer_bytes = gr_broker.cfg.transaction_state_log_load_buffer_size,
    };
    T.rt = gr_crt_new(&cfg);
    return 0;
}

int gr_txn_start(void)
{
    gr_topic_t *t = gr_topic_find(GR_TXN_TOPIC, sizeof(GR_TXN_TOPIC) - 1);
    if (!t || T.rt)
        return 0;
    if (t->npart != gr_broker.cfg.transaction_state_log_num_partitions)
        gr_warn("txn", "%s has %d partitions, transaction.state.log.num.partitions is %d: keeping %d", GR_TXN_TOPIC,
                t->npart, gr_broker.cfg.transaction_state_log_num_partitions, t->npart);
    return gr_txn_start_with(&gr_crt_log_writer, (void *)GR_TXN_TOPIC, t->npart);
}

int gr_txn_ensure(void)
{
    if (T.rt)
        return 0;
    gr_topic_t *t = gr_topic_find(GR_TXN_TOPIC, sizeof(GR_TXN_TOPIC) - 1);
    if (!t) {
        char segbytes[32];
        snprintf(segbytes, sizeof(segbytes), "%lld", (long long)gr_broker.cfg.transaction_state_log_segment_bytes);
        /* Kafka's transactionTopicConfigs: compacted, uncompressed */
        char *configs[] = {"cleanup.policy", "compact", "segment.bytes", segbytes, "min.compaction.lag.ms",
                           MIN_COMPACTION_LAG_MS, NULL};
        const char *msg = NULL;
        gr_serr_t e = gr_topic_create(GR_TXN_TOPIC, sizeof(GR_TXN_TOPIC) - 1,
                                      gr_broker.cfg.transaction_state_log_num_partitions, configs, true, &t, &msg);
        if (e != GR_SERR_NONE) {
            gr_error("txn", "Cannot create %s: %s", GR_TXN_TOPIC, msg);
            return GR_EIO;
        }
        gr_info("txn", "Created %s with %d partitions", GR_TXN_TOPIC, t->npart);
        int rc = gr_txn_start();
        /* nothing to read: active at once, the request that made it is
         * served now */
        if (rc == 0)
            gr_txn_load_all();
        return rc;
    }
    return gr_txn_start();
}

void gr_txn_load_all(void)
{
    gr_crt_load_all(T.rt);
}

void gr_txn_stop(void)
{
    if (!T.rt)
        return;
    gr_crt_t *rt = T.rt;
    gr_crt_free(rt);
    T.rt = NULL;
}
