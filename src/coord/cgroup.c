/*
 * cgroup.c - consumer groups of the KIP-848 protocol, as Kafka 4's
 * GroupMetadataManager runs them: ConsumerGroupHeartbeat (join with member
 * epoch 0, leave with -1, a static member's temporary leave with -2), the
 * group epoch, the target assignment and its epoch, and the reconciliation
 * of each member towards its target (CurrentAssignmentBuilder).
 *
 *   heartbeat --> member created / updated        (MemberMetadata record)
 *       |         subscription or its topics changed --> group epoch + 1
 *       v                                         (PartitionMetadata, Metadata)
 *   group epoch > assignment epoch --> the assignor computes every member's
 *       |         target (assignor.c)             (TargetAssignmentMember*,
 *       v                                          TargetAssignmentMetadata)
 *   reconcile the member: partitions it must give up are revoked first
 *       |  (UNREVOKED_PARTITIONS, same epoch) and only once it no longer
 *       |  reports them does it move to the new epoch and get the partitions
 *       |  their previous owners released (UNRELEASED_PARTITIONS until then)
 *       v                                         (CurrentMemberAssignment)
 *   answer: member id, epoch, heartbeat interval, the assignment when it
 *           changed or the request was a full one
 *
 * A partition is owned (assigned or pending revocation) by at most one
 * member: a member gets a partition only when no member holds it at any
 * epoch (the owner epochs, `pepochs`), so no partition is ever consumed
 * by two members at once.  Members whose target did not change are not
 * touched by a rebalance: their epoch moves forward at their next
 * heartbeat, with the same partitions.
 *
 * Records (key: int16 version = record type, then non-flexible strings;
 * value: int16 version 0, then the flexible body of the spec):
 *
 *   type  key                      value
 *   3     group                    ConsumerGroupMetadataValue: epoch
 *   4     group                    ConsumerGroupPartitionMetadataValue: topics
 *                                  (id, name, partitions) the group subscribes to
 *   5     group, member            ConsumerGroupMemberMetadataValue: instance,
 *                                  rack, client id/host, topics, regex,
 *                                  rebalance timeout, assignor, classic metadata
 *   6     group                    ConsumerGroupTargetAssignmentMetadataValue: epoch
 *   7     group, member            ConsumerGroupTargetAssignmentMemberValue
 *   8     group, member            ConsumerGroupCurrentMemberAssignmentValue:
 *                                  epoch, previous epoch, state, assigned,
 *                                  pending revocation
 *   16    group, regex             ConsumerGroupRegularExpressionValue:
 *                                  +--------------------------------------+
 *                                  | int16 version = 0                    |
 *                                  | compact array of compact strings:    |
 *                                  |   the topics the regex resolved to   |
 *                                  | int64 version (of the topic set)     |
 *                                  | int64 timestamp (ms)                 |
 *                                  | tagged fields (uvarint 0)            |
 *                                  +--------------------------------------+
 *
 * Replay is the only way this state changes.  Each record replayed live
 * pushes an undo entry holding the key and the value it replaced (encoded
 * from the state, NULL when absent); a rollback replays those, newest first,
 * so memory is again what the log holds.  A group created by a write goes
 * again on rollback (unless offsets landed on it meanwhile).
 *
 * Regular expressions (SubscribedTopicRegex) are RE2 (regex_re2.h) and match
 * whole topic names, as RE2/J's matches() in Kafka; a regex is resolved when
 * a member first subscribes to it and again at most every 10 s when the
 * topics changed (Kafka's REGEX_BATCH_REFRESH_INTERVAL_MS), here at once on
 * the heartbeat (no executor: RE2 runs in linear time).
 *
 * Bounds: a member's subscription is at most GR_CG_MAX_TOPICS names and its
 * regex at most GR_CG_MAX_REGEX bytes (INVALID_REQUEST /
 * INVALID_REGULAR_EXPRESSION beyond); the members of a group are at most
 * group.consumer.max.size.
 *
 * Never: change the state outside replay, answer a heartbeat before its
 * records are durable, hand a partition to a member while another owns it.
 */
#include "cgroup.h"

#include "broker.h"
#include "jstr.h"
#include "offsets.h"
#include "regex_re2.h"
#include "schema_gen.h"
#include "topic.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define GR_CG_MAX_TOPICS 10000
#define GR_CG_MAX_REGEX 16384
#define GR_CG_MAX_MSG (GR_CG_MAX_REGEX + 256)     /* an error message naming a regex */
#define REGEX_REFRESH_MS 10000

enum {
    REC_METADATA = 3,
    REC_PARTITION_METADATA = 4,
    REC_MEMBER = 5,
    REC_TARGET_METADATA = 6,
    REC_TARGET_MEMBER = 7,
    REC_CURRENT = 8,
    REC_REGEX = 16,
};

/* ------------------------------------------------------------ host */

static const gr_cgroup_host_t *host;

void gr_cgroup_set_host(const gr_cgroup_host_t *h)
{
    host = h;
}

static gr_crt_t *coord_rt(void)
{
    return host ? host->rt() : NULL;
}

static int32_t partition_of(const char *gid, size_t len)
{
    assert(host);               /* the coordinator installed itself */
    return host->partition_for(gid, len);
}

static void coord_write(gr_crt_result_t *r, gr_cgroup_write_cb *cb, void *arg, const char *what)
{
    assert(host);
    host->write(r, cb, arg, what);
}

/* ------------------------------------------------------------ config */

int32_t gr_cgroup_session_timeout_ms(void)
{
    const gr_config_t *c = &gr_broker.cfg;
    return GR_MIN(GR_MAX(c->group_consumer_session_timeout_ms, c->group_consumer_min_session_timeout_ms),
                  c->group_consumer_max_session_timeout_ms);
}

int32_t gr_cgroup_heartbeat_interval_ms(void)
{
    const gr_config_t *c = &gr_broker.cfg;
    int32_t v = GR_MIN(GR_MAX(c->group_consumer_heartbeat_interval_ms, c->group_consumer_min_heartbeat_interval_ms),
                       c->group_consumer_max_heartbeat_interval_ms);
    return GR_MIN(v, GR_MAX(gr_cgroup_session_timeout_ms() - 1, 1));
}

/* The first known assignor of group.consumer.assignors (canonical name)
 * that is `want` (canonical), or any when want is NULL; NULL if none. */
static const char *configured_find(const char *want)
{
    const char *s = gr_broker.cfg.group_consumer_assignors ? gr_broker.cfg.group_consumer_assignors : "";
    char buf[128];
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        size_t n = strcspn(s, ",");
        size_t k = n;
        while (k > 0 && s[k - 1] == ' ')
            k--;
        if (k > 0 && k < sizeof(buf)) {
            memcpy(buf, s, k);
            buf[k] = 0;
            const char *c = gr_assignor_canonical(buf);
            if (c && (!want || !strcmp(c, want)))
                return c;
        }
        s += n;
    }
    return NULL;
}

/* The first of group.consumer.assignors that is known, else uniform. */
static const char *default_assignor(void)
{
    const char *c = configured_find(NULL);
    return c ? c : "uniform";
}

/* Kafka's message for a ServerAssignor not configured: it names the
 * assignor and lists the configured ones in the order of Kafka's map of
 * them (a java.util.HashMap keyed by name: "uniform" before "range").
 * The text lives until the next call. */
static const char *unsupported_assignor_msg(const char *name)
{
    static char *buf;
    static const char *const order[] = {"uniform", "range"};
    char list[64] = "";
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (configured_find(order[i]))
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", list[0] ? ", " : "", order[i]);
    const char *fmt = "ServerAssignor %s is not supported. Supported assignors: %s.";
    size_t n = strlen(fmt) + strlen(name) + strlen(list) + 1;
    free(buf);
    buf = gr_malloc(n);
    snprintf(buf, n, fmt, name, list);
    return buf;
}

/* Is `name` one of group.consumer.assignors? */
static const char *configured_assignor(const char *name)
{
    const char *want = gr_assignor_canonical(name);
    return want ? configured_find(want) : NULL;
}

/* ------------------------------------------------------------ small maps */

typedef struct count_ent {
    gr_hnode_t node;
    int32_t count;                  /* subscribers */
    /* regexes: the resolution (REC_REGEX) */
    bool resolved;
    char **topics;
    int32_t ntopics;
    int64_t version, timestamp;
    char key[];
} count_ent_t;

static count_ent_t *count_find(const gr_hmap_t *m, const char *key)
{
    uint32_t h = gr_hash32(key, strlen(key));
    for (gr_hnode_t *n = gr_hmap_first(m, h); n; n = gr_hmap_next(n)) {
        count_ent_t *e = GR_CONTAINER(n, count_ent_t, node);
        if (!strcmp(e->key, key))
            return e;
    }
    return NULL;
}

static count_ent_t *count_get(gr_hmap_t *m, const char *key)
{
    count_ent_t *e = count_find(m, key);
    if (e)
        return e;
    size_t n = strlen(key);
    e = gr_calloc(1, sizeof(*e) + n + 1);
    memcpy(e->key, key, n);
    gr_hmap_insert(m, &e->node, gr_hash32(key, n));
    return e;
}

static void strv_free(char **v, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void count_drop_if_unused(gr_hmap_t *m, count_ent_t *e)
{
    if (e->count > 0 || e->resolved)
        return;
    gr_hmap_remove(m, &e->node);
    strv_free(e->topics, e->ntopics);
    free(e);
}

static void count_map_free(gr_hmap_t *m)
{
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, m);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        count_ent_t *e = GR_CONTAINER(n, count_ent_t, node);
        strv_free(e->topics, e->ntopics);
        free(e);
    }
    gr_hmap_free(m);
}

typedef struct target_ent {
    gr_hnode_t node;
    gr_assign_t a;
    char member_id[];
} target_ent_t;

static target_ent_t *target_find(const gr_cgroup_t *cg, const char *mid)
{
    uint32_t h = gr_hash32(mid, strlen(mid));
    for (gr_hnode_t *n = gr_hmap_first(&cg->targets, h); n; n = gr_hmap_next(n)) {
        target_ent_t *e = GR_CONTAINER(n, target_ent_t, node);
        if (!strcmp(e->member_id, mid))
            return e;
    }
    return NULL;
}

const gr_assign_t *gr_cgroup_target(const gr_cgroup_t *cg, const char *member_id)
{
    target_ent_t *e = target_find(cg, member_id);
    return e ? &e->a : NULL;
}

typedef struct pepoch_ent {
    gr_hnode_t node;
    gr_uuid_t topic;
    int32_t part;
    int32_t epoch;
} pepoch_ent_t;

static uint32_t pepoch_hash(const gr_uuid_t *t, int32_t p)
{
    return gr_hash_mix(gr_fnv1a64(t->b, 16, GR_FNV64_INIT) ^ (uint32_t)p);
}

static pepoch_ent_t *pepoch_find(const gr_cgroup_t *cg, const gr_uuid_t *t, int32_t p)
{
    for (gr_hnode_t *n = gr_hmap_first(&cg->pepochs, pepoch_hash(t, p)); n; n = gr_hmap_next(n)) {
        pepoch_ent_t *e = GR_CONTAINER(n, pepoch_ent_t, node);
        if (e->part == p && !gr_uuid_cmp(&e->topic, t))
            return e;
    }
    return NULL;
}

static int32_t pepoch_of(void *ctx, const gr_uuid_t *t, int32_t p)
{
    pepoch_ent_t *e = pepoch_find(ctx, t, p);
    return e ? e->epoch : -1;
}

static void pepochs_add(gr_cgroup_t *cg, const gr_assign_t *a, int32_t epoch)
{
    for (int32_t i = 0; i < a->n; i++)
        for (int32_t k = 0; k < a->t[i].n; k++) {
            pepoch_ent_t *e = pepoch_find(cg, &a->t[i].topic, a->t[i].p[k]);
            if (!e) {
                e = gr_malloc(sizeof(*e));
                e->topic = a->t[i].topic;
                e->part = a->t[i].p[k];
                gr_hmap_insert(&cg->pepochs, &e->node, pepoch_hash(&e->topic, e->part));
            }
            e->epoch = epoch;
        }
}

static void pepochs_remove(gr_cgroup_t *cg, const gr_assign_t *a)
{
    for (int32_t i = 0; i < a->n; i++)
        for (int32_t k = 0; k < a->t[i].n; k++) {
            pepoch_ent_t *e = pepoch_find(cg, &a->t[i].topic, a->t[i].p[k]);
            if (e) {
                gr_hmap_remove(&cg->pepochs, &e->node);
                free(e);
            }
        }
}

/* ------------------------------------------------------------ members */

static uint32_t str_hash(const char *s)
{
    return gr_hash32(s, strlen(s));
}

gr_cmember_t *gr_cgroup_member(const gr_cgroup_t *cg, const char *member_id)
{
    if (!cg || !member_id)
        return NULL;
    for (gr_hnode_t *n = gr_hmap_first(&cg->members, str_hash(member_id)); n; n = gr_hmap_next(n)) {
        gr_cmember_t *m = GR_CONTAINER(n, gr_cmember_t, node);
        if (!strcmp(m->member_id, member_id))
            return m;
    }
    return NULL;
}

static gr_cmember_t *static_member(const gr_cgroup_t *cg, const char *instance_id)
{
    if (!instance_id)
        return NULL;
    for (gr_hnode_t *n = gr_hmap_first(&cg->statics, str_hash(instance_id)); n; n = gr_hmap_next(n)) {
        gr_cmember_t *m = GR_CONTAINER(n, gr_cmember_t, inode);
        if (!strcmp(m->instance_id, instance_id))
            return m;
    }
    return NULL;
}

int32_t gr_cgroup_nmembers(const gr_cgroup_t *cg)
{
    return cg ? (int32_t)gr_hmap_count(&cg->members) : 0;
}

gr_cmember_t *gr_cgroup_next(const gr_cgroup_t *cg, gr_cmember_t *m)
{
    gr_hnode_t *n = gr_hmap_after(&cg->members, m ? &m->node : NULL);
    return n ? GR_CONTAINER(n, gr_cmember_t, node) : NULL;
}

static void session_cb(gr_ev_t *ev, void *arg);
static void rebalance_cb(gr_ev_t *ev, void *arg);
static void join_cb(gr_ev_t *ev, void *arg);
static void sync_cb(gr_ev_t *ev, void *arg);

static void protos_free(gr_classic_proto_t *p, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].metadata);
    }
    free(p);
}

/* A member outside any group (the heartbeat's updated copy) or in one. */
static gr_cmember_t *member_alloc(const char *member_id)
{
    gr_cmember_t *m = gr_calloc(1, sizeof(*m));
    m->member_id = gr_strdup(member_id);
    m->client_id = gr_strdup("");
    m->client_host = gr_strdup("");
    m->rebalance_timeout_ms = -1;
    m->classic_session_ms = -1;
    m->state = GR_CM_STABLE;
    gr_timer_init(&m->session_timer, session_cb, m);
    gr_timer_init(&m->rebalance_timer, rebalance_cb, m);
    gr_timer_init(&m->join_timer, join_cb, m);
    gr_timer_init(&m->sync_timer, sync_cb, m);
    return m;
}

static void member_free(gr_cmember_t *m)
{
    if (!m)
        return;
    gr_group_clock_stop(&m->session_timer);
    gr_group_clock_stop(&m->rebalance_timer);
    gr_group_clock_stop(&m->join_timer);
    gr_group_clock_stop(&m->sync_timer);
    free(m->member_id);
    free(m->instance_id);
    free(m->rack_id);
    free(m->client_id);
    free(m->client_host);
    strv_free(m->topics, m->ntopics);
    free(m->regex);
    free(m->server_assignor);
    protos_free(m->protos, m->nprotos);
    gr_assign_free(&m->assigned);
    gr_assign_free(&m->revoking);
    free(m);
}

static bool has_regex(const gr_cmember_t *m)
{
    return m->regex && m->regex[0];
}

/* What a member contributes to its group's counts and indexes. */
static void member_detach(gr_cgroup_t *cg, gr_cmember_t *m)
{
    for (int32_t i = 0; i < m->ntopics; i++) {
        count_ent_t *e = count_find(&cg->names, m->topics[i]);
        if (e) {
            e->count--;
            count_drop_if_unused(&cg->names, e);
        }
    }
    if (has_regex(m)) {
        count_ent_t *e = count_find(&cg->regexes, m->regex);
        if (e) {
            e->count--;
            count_drop_if_unused(&cg->regexes, e);
        }
    }
    pepochs_remove(cg, &m->assigned);
    pepochs_remove(cg, &m->revoking);
    if (m->instance_id && static_member(cg, m->instance_id) == m)
        gr_hmap_remove(&cg->statics, &m->inode);
    if (m->classic_session_ms >= 0)
        cg->nclassic--;
    assert(cg->nclassic >= 0);
}

static void member_attach(gr_cgroup_t *cg, gr_cmember_t *m)
{
    for (int32_t i = 0; i < m->ntopics; i++)
        count_get(&cg->names, m->topics[i])->count++;
    if (has_regex(m))
        count_get(&cg->regexes, m->regex)->count++;
    pepochs_add(cg, &m->assigned, m->epoch);
    pepochs_add(cg, &m->revoking, m->epoch);
    if (m->instance_id) {
        gr_cmember_t *o = static_member(cg, m->instance_id);
        if (o && o != m)
            gr_hmap_remove(&cg->statics, &o->inode);
        if (o != m)
            gr_hmap_insert(&cg->statics, &m->inode, str_hash(m->instance_id));
    }
    if (m->classic_session_ms >= 0)
        cg->nclassic++;
}

static gr_cmember_t *member_get_or_create(gr_cgroup_t *cg, const char *mid)
{
    gr_cmember_t *m = gr_cgroup_member(cg, mid);
    if (m)
        return m;
    m = member_alloc(mid);
    m->cg = cg;
    gr_hmap_insert(&cg->members, &m->node, str_hash(mid));
    return m;
}

static void member_remove(gr_cgroup_t *cg, gr_cmember_t *m)
{
    member_detach(cg, m);
    gr_hmap_remove(&cg->members, &m->node);
    member_free(m);
}

/* ------------------------------------------------------------ group */

static gr_cgroup_t *cgroup_new(gr_group_t *g)
{
    gr_cgroup_t *cg = gr_calloc(1, sizeof(*cg));
    cg->g = g;
    cg->assignment_epoch = 0;
    gr_hmap_init(&cg->members, 8);
    gr_hmap_init(&cg->statics, 8);
    gr_hmap_init(&cg->targets, 8);
    gr_hmap_init(&cg->names, 8);
    gr_hmap_init(&cg->regexes, 4);
    gr_hmap_init(&cg->pepochs, 16);
    return cg;
}

static void meta_free(gr_cg_topic_t *t, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        free(t[i].name);
    free(t);
}

void gr_cgroup_free(gr_cgroup_t *cg)
{
    if (!cg)
        return;
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &cg->members);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));)
        member_free(GR_CONTAINER(n, gr_cmember_t, node));
    gr_hmap_free(&cg->members);
    gr_hmap_free(&cg->statics);
    gr_hmap_iter_init(&it, &cg->targets);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        target_ent_t *e = GR_CONTAINER(n, target_ent_t, node);
        gr_assign_free(&e->a);
        free(e);
    }
    gr_hmap_free(&cg->targets);
    count_map_free(&cg->names);
    count_map_free(&cg->regexes);
    gr_hmap_iter_init(&it, &cg->pepochs);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));)
        free(GR_CONTAINER(n, pepoch_ent_t, node));
    gr_hmap_free(&cg->pepochs);
    meta_free(cg->meta, cg->nmeta);
    free(cg);
}

static bool reconciled_to(const gr_cmember_t *m, int32_t epoch)
{
    return m->state == GR_CM_STABLE && m->epoch == epoch;
}

const char *gr_cgroup_state_name(const gr_cgroup_t *cg)
{
    if (!cg || gr_hmap_count(&cg->members) == 0)
        return "Empty";
    if (cg->group_epoch > cg->assignment_epoch)
        return "Assigning";
    for (gr_cmember_t *m = gr_cgroup_next(cg, NULL); m; m = gr_cgroup_next(cg, m))
        if (!reconciled_to(m, cg->assignment_epoch))
            return "Reconciling";
    return "Stable";
}

const char *gr_cgroup_assignor(const gr_cgroup_t *cg)
{
    /* most members' ServerAssignor; ties to the name first in order */
    const char *best = NULL;
    int32_t best_n = 0;
    static const char *const names[] = {"uniform", "range"};
    for (size_t i = 0; cg && i < GR_ARRAY_LEN(names); i++) {
        int32_t n = 0;
        for (gr_cmember_t *m = gr_cgroup_next(cg, NULL); m; m = gr_cgroup_next(cg, m))
            n += m->server_assignor && !strcmp(m->server_assignor, names[i]);
        if (n > best_n) {
            best = names[i];
            best_n = n;
        }
    }
    return best ? best : default_assignor();
}

bool gr_cgroup_subscribed_to(const gr_cgroup_t *cg, const char *topic)
{
    if (!cg)
        return false;
    count_ent_t *e = count_find(&cg->names, topic);
    if (e && e->count > 0)
        return true;
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &cg->regexes);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        count_ent_t *r = GR_CONTAINER(n, count_ent_t, node);
        for (int32_t i = 0; r->count > 0 && i < r->ntopics; i++)
            if (!strcmp(r->topics[i], topic))
                return true;
    }
    return false;
}

const char *gr_cgroup_topic_name(const gr_cgroup_t *cg, const gr_uuid_t *id)
{
    for (int32_t i = 0; cg && i < cg->nmeta; i++)
        if (!gr_uuid_cmp(&cg->meta[i].id, id))
            return cg->meta[i].name;
    gr_topic_t *t = gr_topic_find_id(id);
    return t ? t->name : NULL;
}

/* ------------------------------------------------------------ record codecs */

static gr_str_t wstr(gr_arena_t *a, const char *s)
{
    return gr_group_str_wire(a, s, s ? strlen(s) : 0);
}

static void key_encode(gr_wr_t *w, int16_t kver, const char *gid, const char *second)
{
    gr_arena_t a;
    gr_arena_init(&a);
    gr_wr_i16(w, kver);
    gr_wr_str(w, false, wstr(&a, gid));
    if (second)
        gr_wr_str(w, false, wstr(&a, second));
    gr_arena_free(&a);
}

static void assign_to_cur(gr_arena_t *a, const gr_assign_t *as,
                          gr_ConsumerGroupCurrentMemberAssignmentValue_TopicPartitions_t **out, int32_t *n)
{
    *n = as->n;
    *out = gr_arena_calloc(a, (size_t)GR_MAX(as->n, 1), sizeof(**out));
    for (int32_t i = 0; i < as->n; i++) {
        (*out)[i].TopicId = as->t[i].topic;
        (*out)[i].Partitions = as->t[i].p;
        (*out)[i].Partitions_count = as->t[i].n;
    }
}

static void value_member(gr_wr_t *w, const gr_cmember_t *m)
{
    gr_arena_t a;
    gr_arena_init(&a);
    gr_ConsumerGroupMemberMetadataValue_t v;
    gr_ConsumerGroupMemberMetadataValue_init(&v);
    v.InstanceId = wstr(&a, m->instance_id);
    v.RackId = wstr(&a, m->rack_id);
    v.ClientId = wstr(&a, m->client_id ? m->client_id : "");
    v.ClientHost = wstr(&a, m->client_host ? m->client_host : "");
    v.SubscribedTopicNames = gr_arena_calloc(&a, (size_t)GR_MAX(m->ntopics, 1), sizeof(gr_str_t));
    for (int32_t i = 0; i < m->ntopics; i++)
        v.SubscribedTopicNames[i] = (gr_str_t){m->topics[i], (int32_t)strlen(m->topics[i])};
    v.SubscribedTopicNames_count = m->ntopics;
    v.SubscribedTopicRegex = wstr(&a, m->regex);
    v.RebalanceTimeoutMs = m->rebalance_timeout_ms;
    v.ServerAssignor = wstr(&a, m->server_assignor);
    v.ClassicMemberMetadata_is_null = m->classic_session_ms < 0;
    if (m->classic_session_ms >= 0) {
        v.ClassicMemberMetadata.SessionTimeoutMs = m->classic_session_ms;
        v.ClassicMemberMetadata.SupportedProtocols =
            gr_arena_calloc(&a, (size_t)GR_MAX(m->nprotos, 1), sizeof(*v.ClassicMemberMetadata.SupportedProtocols));
        for (int32_t i = 0; i < m->nprotos; i++) {
            v.ClassicMemberMetadata.SupportedProtocols[i].Name = wstr(&a, m->protos[i].name);
            v.ClassicMemberMetadata.SupportedProtocols[i].Metadata =
                (gr_bytes_t){m->protos[i].metadata ? m->protos[i].metadata : (const uint8_t *)"", m->protos[i].len};
        }
        v.ClassicMemberMetadata.SupportedProtocols_count = m->nprotos;
    }
    gr_wr_i16(w, 0);
    gr_ConsumerGroupMemberMetadataValue_encode(w, 0, &v);
    gr_arena_free(&a);
}

static void value_current(gr_wr_t *w, int32_t epoch, int32_t prev, int8_t state, const gr_assign_t *assigned,
                          const gr_assign_t *revoking)
{
    gr_arena_t a;
    gr_arena_init(&a);
    gr_ConsumerGroupCurrentMemberAssignmentValue_t v;
    gr_ConsumerGroupCurrentMemberAssignmentValue_init(&v);
    v.MemberEpoch = epoch;
    v.PreviousMemberEpoch = prev;
    v.State = state;
    assign_to_cur(&a, assigned, &v.AssignedPartitions, &v.AssignedPartitions_count);
    assign_to_cur(&a, revoking, &v.PartitionsPendingRevocation, &v.PartitionsPendingRevocation_count);
    gr_wr_i16(w, 0);
    gr_ConsumerGroupCurrentMemberAssignmentValue_encode(w, 0, &v);
    gr_arena_free(&a);
}

static void value_target(gr_wr_t *w, const gr_assign_t *as)
{
    gr_arena_t a;
    gr_arena_init(&a);
    gr_ConsumerGroupTargetAssignmentMemberValue_t v;
    gr_ConsumerGroupTargetAssignmentMemberValue_init(&v);
    v.TopicPartitions = gr_arena_calloc(&a, (size_t)GR_MAX(as->n, 1), sizeof(*v.TopicPartitions));
    for (int32_t i = 0; i < as->n; i++) {
        v.TopicPartitions[i].TopicId = as->t[i].topic;
        v.TopicPartitions[i].Partitions = as->t[i].p;
        v.TopicPartitions[i].Partitions_count = as->t[i].n;
    }
    v.TopicPartitions_count = as->n;
    gr_wr_i16(w, 0);
    gr_ConsumerGroupTargetAssignmentMemberValue_encode(w, 0, &v);
    gr_arena_free(&a);
}

static void value_epoch(gr_wr_t *w, int16_t kver, int32_t epoch)
{
    gr_wr_i16(w, 0);
    if (kver == REC_METADATA) {
        gr_ConsumerGroupMetadataValue_t v;
        gr_ConsumerGroupMetadataValue_init(&v);
        v.Epoch = epoch;
        gr_ConsumerGroupMetadataValue_encode(w, 0, &v);
    } else {
        gr_ConsumerGroupTargetAssignmentMetadataValue_t v;
        gr_ConsumerGroupTargetAssignmentMetadataValue_init(&v);
        v.AssignmentEpoch = epoch;
        gr_ConsumerGroupTargetAssignmentMetadataValue_encode(w, 0, &v);
    }
}

static void value_meta(gr_wr_t *w, const gr_cg_topic_t *t, int32_t n)
{
    gr_arena_t a;
    gr_arena_init(&a);
    gr_ConsumerGroupPartitionMetadataValue_t v;
    gr_ConsumerGroupPartitionMetadataValue_init(&v);
    v.Topics = gr_arena_calloc(&a, (size_t)GR_MAX(n, 1), sizeof(*v.Topics));
    for (int32_t i = 0; i < n; i++) {
        gr_ConsumerGroupPartitionMetadataValue_TopicMetadata_init(&v.Topics[i]);
        v.Topics[i].TopicId = t[i].id;
        v.Topics[i].TopicName = (gr_str_t){t[i].name, (int32_t)strlen(t[i].name)};
        v.Topics[i].NumPartitions = t[i].nparts;
        v.Topics[i].PartitionMetadata_count = 0;
    }
    v.Topics_count = n;
    gr_wr_i16(w, 0);
    gr_ConsumerGroupPartitionMetadataValue_encode(w, 0, &v);
    gr_arena_free(&a);
}

static void value_regex(gr_wr_t *w, char *const *topics, int32_t n, int64_t version, int64_t ts)
{
    gr_wr_i16(w, 0);
    gr_wr_array_len(w, true, n);
    for (int32_t i = 0; i < n; i++)
        gr_wr_str(w, true, (gr_str_t){topics[i], (int32_t)strlen(topics[i])});
    gr_wr_i64(w, version);
    gr_wr_i64(w, ts);
    gr_wr_uvarint(w, 0);
}

/* A record: key then value (NULL writer content = tombstone). */
static void add_rec(gr_crt_result_t *r, gr_wr_t *k, gr_wr_t *v)
{
    size_t kl = 0, vl = 0;
    uint8_t *kb = gr_wr_flatten(k, &kl);
    uint8_t *vb = v ? gr_wr_flatten(v, &vl) : NULL;
    gr_crt_result_add(r, kb, (int32_t)kl, vb, (int32_t)vl);
    gr_wr_free(k);
    if (v)
        gr_wr_free(v);
}

static void rec_tombstone(gr_crt_result_t *r, int16_t kver, const char *gid, const char *second)
{
    gr_wr_t k;
    gr_wr_init(&k);
    key_encode(&k, kver, gid, second);
    add_rec(r, &k, NULL);
}

static void rec_member(gr_crt_result_t *r, const char *gid, const gr_cmember_t *m)
{
    gr_wr_t k, v;
    gr_wr_init(&k);
    gr_wr_init(&v);
    key_encode(&k, REC_MEMBER, gid, m->member_id);
    value_member(&v, m);
    add_rec(r, &k, &v);
}

static void rec_current(gr_crt_result_t *r, const char *gid, const char *mid, int32_t epoch, int32_t prev,
                        int8_t state, const gr_assign_t *assigned, const gr_assign_t *revoking)
{
    gr_wr_t k, v;
    gr_wr_init(&k);
    gr_wr_init(&v);
    key_encode(&k, REC_CURRENT, gid, mid);
    value_current(&v, epoch, prev, state, assigned, revoking);
    add_rec(r, &k, &v);
}

static void rec_target(gr_crt_result_t *r, const char *gid, const char *mid, const gr_assign_t *a)
{
    gr_wr_t k, v;
    gr_wr_init(&k);
    gr_wr_init(&v);
    key_encode(&k, REC_TARGET_MEMBER, gid, mid);
    value_target(&v, a);
    add_rec(r, &k, &v);
}

static void rec_epoch(gr_crt_result_t *r, int16_t kver, const char *gid, int32_t epoch)
{
    gr_wr_t k, v;
    gr_wr_init(&k);
    gr_wr_init(&v);
    key_encode(&k, kver, gid, NULL);
    value_epoch(&v, kver, epoch);
    add_rec(r, &k, &v);
}

static void rec_meta(gr_crt_result_t *r, const char *gid, const gr_cg_topic_t *t, int32_t n)
{
    gr_wr_t k, v;
    gr_wr_init(&k);
    gr_wr_init(&v);
    key_encode(&k, REC_PARTITION_METADATA, gid, NULL);
    value_meta(&v, t, n);
    add_rec(r, &k, &v);
}

static void rec_regex(gr_crt_result_t *r, const char *gid, const char *re, char *const *topics, int32_t n,
                      int64_t version, int64_t ts)
{
    gr_wr_t k, v;
    gr_wr_init(&k);
    gr_wr_init(&v);
    key_encode(&k, REC_REGEX, gid, re);
    value_regex(&v, topics, n, version, ts);
    add_rec(r, &k, &v);
}

/* ------------------------------------------------------------ replay */

static bool rolling_back;          /* an undo replays the values it saved */

typedef struct key_undo {
    int32_t part;
    int16_t kver;
    int32_t klen, vlen;             /* vlen -1: absent */
    uint8_t bytes[];
} key_undo_t;

static void key_undo_fn(void *shard, void *data, bool rollback)
{
    GR_UNUSED(shard);
    if (!rollback)
        return;
    key_undo_t *u = data;
    assert(!rolling_back);          /* an undo never runs inside another */
    gr_crt_record_t rec = {.offset = -1, .producer_id = -1, .key = u->bytes, .key_len = u->klen,
                           .value = u->vlen >= 0 ? u->bytes + u->klen : NULL, .value_len = GR_MAX(u->vlen, 0)};
    rolling_back = true;
    int rc = gr_cgroup_replay(u->part, u->kver, &rec, NULL);
    rolling_back = false;
    if (rc < 0)
        gr_warn("cgroup", "Rolling back a consumer group record of type %d failed", u->kver);
}

/* Save the value the key has now (v: its encoding, NULL = absent). */
static void push_key_undo(gr_crt_undo_t *undo, int32_t part, const gr_crt_record_t *rec, int16_t kver, gr_wr_t *v)
{
    size_t vl = 0;
    uint8_t *vb = v ? gr_wr_flatten(v, &vl) : NULL;
    key_undo_t *u = gr_crt_undo_push(undo, key_undo_fn, sizeof(*u) + (size_t)rec->key_len + vl);
    u->part = part;
    u->kver = kver;
    u->klen = rec->key_len;
    u->vlen = v ? (int32_t)vl : -1;
    memcpy(u->bytes, rec->key, (size_t)rec->key_len);
    if (vb)
        memcpy(u->bytes + rec->key_len, vb, vl);
    if (v)
        gr_wr_free(v);
}

/* A group the write turned into a consumer group goes back to what it was
 * (a classic group, or nothing) when the write is rolled back. */
typedef struct created_undo {
    bool was_classic;
    char gid[];
} created_undo_t;

static void created_undo_fn(void *shard, void *data, bool rollback)
{
    GR_UNUSED(shard);
    if (!rollback)
        return;
    created_undo_t *u = data;
    gr_group_t *g = gr_group_find(u->gid, strlen(u->gid));
    if (!g)
        return;
    if (g->type == GR_GROUP_CONSUMER) {
        gr_cgroup_free(g->cg);
        g->cg = NULL;
        g->type = GR_GROUP_CLASSIC;
    }
    if (!u->was_classic && gr_offset_map_count(g->offsets) == 0 && g->nmembers == 0)
        gr_group_remove(g);
}

/* The consumer state of group gid, created (from nothing or from a
 * classic group without members) when `create`. */
static gr_cgroup_t *cg_get(const char *gid, size_t glen, int32_t part, bool create, gr_crt_undo_t *undo, int *rc)
{
    *rc = 0;
    gr_group_t *g = gr_group_find(gid, glen);
    if (g && g->type == GR_GROUP_CONSUMER)
        return g->cg;
    if (!create)
        return NULL;
    bool was_classic = g != NULL;
    if (g && g->nmembers > 0) {
        gr_warn("cgroup", "Group %s has classic members: its consumer group record is refused", g->group_id);
        *rc = GR_EINVAL;
        return NULL;
    }
    if (g)
        gr_group_drop_pending(g);   /* ids handed out that never joined: not in the log */
    if (!g)
        g = gr_group_create_simple(gid, glen, part);
    assert(g->type == GR_GROUP_CLASSIC && !g->cg && !g->members);
    g->type = GR_GROUP_CONSUMER;
    g->cg = cgroup_new(g);
    g->coord_partition = part;
    if (undo && !rolling_back) {
        created_undo_t *u = gr_crt_undo_push(undo, created_undo_fn, sizeof(*u) + glen + 1);
        u->was_classic = was_classic;
        memcpy(u->gid, gid, glen);
    }
    return g->cg;
}

/* The current encoding of a key's value, for its undo (NULL: absent). */
static gr_wr_t *current_value(gr_wr_t *w, const gr_cgroup_t *cg, int16_t kver, const char *second)
{
    if (!cg)
        return NULL;
    gr_wr_init(w);
    switch (kver) {
    case REC_METADATA:
        value_epoch(w, kver, cg->group_epoch);
        return w;
    case REC_TARGET_METADATA:
        value_epoch(w, kver, cg->assignment_epoch);
        return w;
    case REC_PARTITION_METADATA:
        value_meta(w, cg->meta, cg->nmeta);
        return w;
    case REC_MEMBER: {
        gr_cmember_t *m = gr_cgroup_member(cg, second);
        if (!m)
            break;
        value_member(w, m);
        return w;
    }
    case REC_CURRENT: {
        gr_cmember_t *m = gr_cgroup_member(cg, second);
        if (!m)
            break;
        value_current(w, m->epoch, m->prev_epoch, m->state, &m->assigned, &m->revoking);
        return w;
    }
    case REC_TARGET_MEMBER: {
        target_ent_t *e = target_find(cg, second);
        if (!e)
            break;
        value_target(w, &e->a);
        return w;
    }
    case REC_REGEX: {
        count_ent_t *e = count_find(&cg->regexes, second);
        if (!e || !e->resolved)
            break;
        value_regex(w, e->topics, e->ntopics, e->version, e->timestamp);
        return w;
    }
    }
    gr_wr_free(w);
    return NULL;
}

#define ASSIGN_FROM(a, arr, cnt)                                                  \
    do {                                                                          \
        *(a) = (gr_assign_t){0, NULL};                                            \
        for (int32_t i_ = 0; i_ < (cnt); i_++)                                    \
            gr_assign_add_many((a), &(arr)[i_].TopicId, (arr)[i_].Partitions,     \
                               (arr)[i_].Partitions_count);                       \
    } while (0)

static char *held_dup(gr_arena_t *a, gr_str_t s)
{
    if (s.len < 0)
        return NULL;
    gr_str_t h = gr_group_str_held_tmp(a, s);
    return gr_strndup(h.p, (size_t)h.len);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and deduplicate a malloc'ed vector of malloc'ed strings. */
static int32_t strv_norm(char **v, int32_t n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_str);
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        if (k > 0 && !strcmp(v[k - 1], v[i]))
            free(v[i]);
        else
            v[k++] = v[i];
    }
    return k;
}

static int replay_value(gr_cgroup_t *cg, int16_t kver, const char *second, gr_rd_t *vr, gr_arena_t *a)
{
    switch (kver) {
    case REC_METADATA: {
        gr_ConsumerGroupMetadataValue_t v;
        if (gr_ConsumerGroupMetadataValue_decode(vr, 0, a, &v) < 0)
            return GR_ECORRUPT;
        cg->group_epoch = v.Epoch;
        return 0;
    }
    case REC_TARGET_METADATA: {
        gr_ConsumerGroupTargetAssignmentMetadataValue_t v;
        if (gr_ConsumerGroupTargetAssignmentMetadataValue_decode(vr, 0, a, &v) < 0)
            return GR_ECORRUPT;
        cg->assignment_epoch = v.AssignmentEpoch;
        return 0;
    }
    case REC_PARTITION_METADATA: {
        gr_ConsumerGroupPartitionMetadataValue_t v;
        if (gr_ConsumerGroupPartitionMetadataValue_decode(vr, 0, a, &v) < 0)
            return GR_ECORRUPT;
        gr_cg_topic_t *t = gr_calloc((size_t)GR_MAX(v.Topics_count, 1), sizeof(*t));
        for (int32_t i = 0; i < v.Topics_count; i++) {
            t[i].id = v.Topics[i].TopicId;
            t[i].name = gr_strndup(v.Topics[i].TopicName.p ? v.Topics[i].TopicName.p : "",
                                   (size_t)GR_MAX(v.Topics[i].TopicName.len, 0));
            t[i].nparts = v.Topics[i].NumPartitions;
        }
        meta_free(cg->meta, cg->nmeta);
        cg->meta = t;
        cg->nmeta = v.Topics_count;
        return 0;
    }
    case REC_MEMBER: {
        gr_ConsumerGroupMemberMetadataValue_t v;
        if (gr_ConsumerGroupMemberMetadataValue_decode(vr, 0, a, &v) < 0)
            return GR_ECORRUPT;
        gr_cmember_t *m = member_get_or_create(cg, second);
        member_detach(cg, m);
        free(m->instance_id);
        m->instance_id = held_dup(a, v.InstanceId);
        free(m->rack_id);
        m->rack_id = held_dup(a, v.RackId);
        free(m->client_id);
        m->client_id = held_dup(a, v.ClientId);
        if (!m->client_id)
            m->client_id = gr_strdup("");
        free(m->client_host);
        m->client_host = held_dup(a, v.ClientHost);
        if (!m->client_host)
            m->client_host = gr_strdup("");
        strv_free(m->topics, m->ntopics);
        m->topics = gr_calloc((size_t)GR_MAX(v.SubscribedTopicNames_count, 1), sizeof(char *));
        for (int32_t i = 0; i < v.SubscribedTopicNames_count; i++)
            m->topics[i] = gr_strndup(v.SubscribedTopicNames[i].p ? v.SubscribedTopicNames[i].p : "",
                                      (size_t)GR_MAX(v.SubscribedTopicNames[i].len, 0));
        m->ntopics = strv_norm(m->topics, v.SubscribedTopicNames_count);
        free(m->regex);
        m->regex = held_dup(a, v.SubscribedTopicRegex);
        m->rebalance_timeout_ms = v.RebalanceTimeoutMs;
        free(m->server_assignor);
        m->server_assignor = held_dup(a, v.ServerAssignor);
        protos_free(m->protos, m->nprotos);
        m->protos = NULL;
        m->nprotos = 0;
        m->classic_session_ms = -1;
        if (!v.ClassicMemberMetadata_is_null) {
            const gr_ConsumerGroupMemberMetadataValue_ClassicMemberMetadata_t *c = &v.ClassicMemberMetadata;
            m->classic_session_ms = GR_MAX(c->SessionTimeoutMs, 0);
            m->nprotos = GR_MAX(c->SupportedProtocols_count, 0);
            m->protos = gr_calloc((size_t)GR_MAX(m->nprotos, 1), sizeof(*m->protos));
            for (int32_t i = 0; i < m->nprotos; i++) {
                m->protos[i].name = held_dup(a, c->SupportedProtocols[i].Name);
                if (!m->protos[i].name)
                    m->protos[i].name = gr_strdup("");
                m->protos[i].len = GR_MAX(c->SupportedProtocols[i].Metadata.len, 0);
                m->protos[i].metadata = gr_malloc((size_t)GR_MAX(m->protos[i].len, 1));
                if (m->protos[i].len)
                    memcpy(m->protos[i].metadata, c->SupportedProtocols[i].Metadata.p, (size_t)m->protos[i].len);
            }
        }
        member_attach(cg, m);
        return 0;
    }
    case REC_CURRENT: {
        gr_ConsumerGroupCurrentMemberAssignmentValue_t v;
        if (gr_ConsumerGroupCurrentMemberAssignmentValue_decode(vr, 0, a, &v) < 0)
            return GR_ECORRUPT;
        gr_cmember_t *m = member_get_or_create(cg, second);
        member_detach(cg, m);
        m->epoch = v.MemberEpoch;
        m->prev_epoch = v.PreviousMemberEpoch;
        m->state = v.State == GR_CM_STABLE || v.State == GR_CM_UNREVOKED_PARTITIONS ||
                           v.State == GR_CM_UNRELEASED_PARTITIONS
                       ? v.State
                       : GR_CM_UNKNOWN;
        gr_assign_free(&m->assigned);
        gr_assign_free(&m->revoking);
        ASSIGN_FROM(&m->assigned, v.AssignedPartitions, v.AssignedPartitions_count);
        ASSIGN_FROM(&m->revoking, v.PartitionsPendingRevocation, v.PartitionsPendingRevocation_count);
        member_attach(cg, m);
        return 0;
    }
    case REC_TARGET_MEMBER: {
        gr_ConsumerGroupTargetAssignmentMemberValue_t v;
        if (gr_ConsumerGroupTargetAssignmentMemberValue_decode(vr, 0, a, &v) < 0)
            return GR_ECORRUPT;
        target_ent_t *e = target_find(cg, second);
        if (!e) {
            size_t n = strlen(second);
            e = gr_calloc(1, sizeof(*e) + n + 1);
            memcpy(e->member_id, second, n);
            gr_hmap_insert(&cg->targets, &e->node, str_hash(second));
        }
        gr_assign_free(&e->a);
        ASSIGN_FROM(&e->a, v.TopicPartitions, v.TopicPartitions_count);
        return 0;
    }
    case REC_REGEX: {
        int32_t n = gr_rd_array_len(vr, true, 1);
        if (vr->err || n < 0)
            return GR_ECORRUPT;
        char **topics = gr_calloc((size_t)GR_MAX(n, 1), sizeof(char *));
        for (int32_t i = 0; i < n; i++) {
            gr_str_t s;
            gr_rd_str(vr, true, &s);
            if (vr->err || s.len < 0) {
                strv_free(topics, i);
                return GR_ECORRUPT;
            }
            topics[i] = gr_strndup(s.p ? s.p : "", (size_t)s.len);
        }
        int64_t version = gr_rd_i64(vr), ts = gr_rd_i64(vr);
        if (vr->err) {
            strv_free(topics, n);
            return GR_ECORRUPT;
        }
        count_ent_t *e = count_get(&cg->regexes, second);
        strv_free(e->topics, e->ntopics);
        e->topics = topics;
        e->ntopics = strv_norm(topics, n);
        e->version = version;
        e->timestamp = ts;
        e->resolved = true;
        return 0;
    }
    }
    return GR_ECORRUPT;
}

static int replay_tombstone(gr_group_t *g, gr_cgroup_t *cg, int16_t kver, const char *second, gr_crt_undo_t *undo)
{
    switch (kver) {
    case REC_METADATA: {
        if (!rolling_back && (gr_hmap_count(&cg->members) > 0 || gr_hmap_count(&cg->targets) > 0)) {
            gr_warn("cgroup", "Tombstone of consumer group %s while it has %u members: refused", g->group_id,
                    gr_hmap_count(&cg->members));
            return GR_EINVAL;
        }
        gr_cgroup_free(cg);
        g->cg = NULL;
        g->type = GR_GROUP_CLASSIC;
        /* rolled back: the undo of the write that created the consumer
         * state decides whether the group goes */
        if (rolling_back || gr_offset_map_count(g->offsets) > 0 || g->nmembers > 0)
            return 0;           /* its offsets outlive it, as a simple group */
        gr_group_detach(g);
        if (undo)
            *(gr_group_t **)gr_crt_undo_push(undo, gr_group_detach_undo, sizeof(g)) = g;
        else
            gr_group_free(g);
        return 0;
    }
    case REC_TARGET_METADATA:
        cg->assignment_epoch = -1;
        return 0;
    case REC_PARTITION_METADATA:
        meta_free(cg->meta, cg->nmeta);
        cg->meta = NULL;
        cg->nmeta = 0;
        return 0;
    case REC_MEMBER: {
        gr_cmember_t *m = gr_cgroup_member(cg, second);
        if (m)
            member_remove(cg, m);
        return 0;
    }
    case REC_CURRENT: {
        gr_cmember_t *m = gr_cgroup_member(cg, second);
        if (!m)
            return 0;
        member_detach(cg, m);
        m->epoch = m->prev_epoch = GR_CG_LEAVE_EPOCH;
        gr_assign_free(&m->assigned);
        gr_assign_free(&m->revoking);
        member_attach(cg, m);
        return 0;
    }
    case REC_TARGET_MEMBER: {
        target_ent_t *e = target_find(cg, second);
        if (e) {
            gr_hmap_remove(&cg->targets, &e->node);
            gr_assign_free(&e->a);
            free(e);
        }
        return 0;
    }
    case REC_REGEX: {
        count_ent_t *e = count_find(&cg->regexes, second);
        if (e) {
            e->resolved = false;
            strv_free(e->topics, e->ntopics);
            e->topics = NULL;
            e->ntopics = 0;
            count_drop_if_unused(&cg->regexes, e);
        }
        return 0;
    }
    }
    return GR_ECORRUPT;
}

bool gr_cgroup_is_record(int16_t kver)
{
    return (kver >= REC_METADATA && kver <= REC_CURRENT) || kver == REC_REGEX;
}

/* ------------------------------------------------------------ history */

/* What live writes change goes into the group's history (group.h), which
 * the console's timeline shows: a MemberMetadata record of a new member (a
 * join) or its tombstone (a leave or a fence) names the cause of the group
 * epoch that the ConsumerGroupMetadata record of the same write then moves;
 * each CurrentMemberAssignment is the member's epoch, what it owns and what
 * it must revoke.  Records replayed at load are not events of now. */
static struct {
    gr_rebalance_trigger_t trigger;
    char *member;                   /* owned, NULL */
} hist_pend;

static void hist_pending(gr_rebalance_trigger_t t, const char *member)
{
    free(hist_pend.member);
    hist_pend.trigger = t;
    hist_pend.member = member ? gr_strdup(member) : NULL;
}

/* "t:0,1;u:2", malloc'ed */
static char *assign_text(const gr_cgroup_t *cg, const gr_assign_t *a)
{
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    if (!f)
        return NULL;
    for (int32_t i = 0; i < a->n; i++) {
        const char *name = gr_cgroup_topic_name(cg, &a->t[i].topic);
        fprintf(f, "%s%s", i ? ";" : "", name ? name : "?");
        for (int32_t j = 0; j < a->t[i].n; j++)
            fprintf(f, "%c%" PRId32, j ? ',' : ':', a->t[i].p[j]);
    }
    fclose(f);
    return p;
}

static gr_cgroup_t *cg_find(const char *gid, size_t glen)
{
    gr_group_t *g = gr_group_find(gid, glen);
    return g && g->type == GR_GROUP_CONSUMER ? g->cg : NULL;
}

static void hist_note(const char *gid, size_t glen, int16_t kver, const char *second, bool value,
                      int32_t old_epoch, bool existed)
{
    gr_cgroup_t *cg = cg_find(gid, glen);
    if (!cg)
        return;
    if (kver == REC_MEMBER) {
        if (value && !existed)
            hist_pending(GR_TRIGGER_MEMBER_JOINED, second);
        else if (!value && existed)
            hist_pending(GR_TRIGGER_MEMBER_LEFT, second);
        return;
    }
    if (kver == REC_METADATA && value && cg->group_epoch > old_epoch) {
        gr_hist_entry_t h = {.kind = GR_HIST_REBALANCE, .time_ms = gr_now_ms(),
                             .trigger = hist_pend.member ? hist_pend.trigger : GR_TRIGGER_METADATA_CHANGE,
                             .generation = cg->group_epoch, .members = gr_cgroup_nmembers(cg),
                             .duration_ms = -1, .member = hist_pend.member, .partition = -1, .from_offset = -1,
                             .to_offset = -1};
        gr_group_hist_add(cg->g, &h);
        hist_pending(GR_TRIGGER_NONE, NULL);
        return;
    }
    if (kver == REC_CURRENT && value) {
        gr_cmember_t *m = gr_cgroup_member(cg, second);
        if (!m)
            return;
        char *owned = assign_text(cg, &m->assigned);
        char *revoking = m->revoking.n > 0 ? assign_text(cg, &m->revoking) : NULL;
        gr_hist_entry_t h = {.kind = GR_HIST_ASSIGNMENT, .time_ms = gr_now_ms(), .generation = m->epoch,
                             .members = gr_cgroup_nmembers(cg), .duration_ms = -1, .member = m->member_id,
                             .topic = owned, .detail = revoking, .partition = -1, .from_offset = -1,
                             .to_offset = -1};
        gr_group_hist_add(cg->g, &h);
        free(owned);
        free(revoking);
    }
}

int gr_cgroup_replay(int32_t part, int16_t kver, const gr_crt_record_t *rec, gr_crt_undo_t *undo)
{
    gr_rd_t rd;
    gr_rd_init(&rd, rec->key, (size_t)rec->key_len);
    if (gr_rd_i16(&rd) != kver)
        return GR_ECORRUPT;
    gr_str_t gs, ss = {NULL, -1};
    gr_rd_str(&rd, false, &gs);
    bool two = kver == REC_MEMBER || kver == REC_TARGET_MEMBER || kver == REC_CURRENT || kver == REC_REGEX;
    if (two)
        gr_rd_str(&rd, false, &ss);
    if (rd.err || gs.len < 0 || (two && ss.len < 0))
        return GR_ECORRUPT;
    gr_arena_t a;
    gr_arena_init(&a);
    int rc = 0;
    gr_str_t gid = gr_group_str_held_tmp(&a, gs);
    gr_str_t second = {NULL, 0};
    if (two) {
        /* held_tmp may point into the record: a NUL-terminated copy */
        gr_str_t h = gr_group_str_held_tmp(&a, ss);
        second = (gr_str_t){gr_arena_strndup(&a, h.p, (size_t)h.len), h.len};
    }
    if (kver == REC_REGEX && ss.len >= 0) /* a regex is not an id: kept as sent */
        second = (gr_str_t){gr_arena_strndup(&a, ss.p ? ss.p : "", (size_t)ss.len), ss.len};
    int32_t old_epoch = -1;         /* for the history */
    bool existed = false;
    if (undo) {
        const gr_cgroup_t *c0 = cg_find(gid.p, (size_t)gid.len);
        old_epoch = c0 ? c0->group_epoch : -1;
        existed = c0 && kver == REC_MEMBER && gr_cgroup_member(c0, second.p);
    }
    if (rec->value) {
        gr_rd_t vr;
        gr_rd_init(&vr, rec->value, (size_t)rec->value_len);
        int16_t vver = gr_rd_i16(&vr);
        if (vr.err || vver != 0) {
            rc = GR_ECORRUPT;
            goto out;
        }
        gr_cgroup_t *cg = cg_get(gid.p, (size_t)gid.len, part, true, undo, &rc);
        if (!cg)
            goto out;
        if (undo) {
            gr_wr_t w;
            push_key_undo(undo, part, rec, kver, current_value(&w, cg, kver, second.p));
        }
        rc = replay_value(cg, kver, second.p, &vr, &a);
    } else {
        gr_cgroup_t *cg = cg_get(gid.p, (size_t)gid.len, part, false, undo, &rc);
        if (!cg)
            goto out;           /* nothing to delete */
        if (undo) {
            gr_wr_t w;
            push_key_undo(undo, part, rec, kver, current_value(&w, cg, kver, second.p));
        }
        rc = replay_tombstone(cg->g, cg, kver, second.p, undo);
    }
    if (rc == 0 && undo)
        hist_note(gid.p, (size_t)gid.len, kver, second.p, rec->value != NULL, old_epoch, existed);
out:
    gr_arena_free(&a);
    return rc;
}

/* ------------------------------------------------------------ reconciliation */

static bool owned_has(const gr_cg_owned_t *owned, int32_t nowned, const gr_uuid_t *t, int32_t p)
{
    for (int32_t i = 0; i < nowned; i++) {
        if (gr_uuid_cmp(&owned[i].topic, t))
            continue;
        for (int32_t k = 0; k < owned[i].n; k++)
            if (owned[i].parts[k] == p)
                return true;
    }
    return false;
}

/* Does the member still own any of `revoking` (owned NULL: it did not
 * say, so it may)? */
static bool owns_any(const gr_cg_owned_t *owned, int32_t nowned, bool given, const gr_assign_t *revoking)
{
    if (!given)
        return true;
    for (int32_t i = 0; i < revoking->n; i++)
        for (int32_t k = 0; k < revoking->t[i].n; k++)
            if (owned_has(owned, nowned, &revoking->t[i].topic, revoking->t[i].p[k]))
                return true;
    return false;
}

static void next_assignment(const gr_cg_current_t *cur, int32_t epoch, const gr_assign_t *assigned,
                            int32_t target_epoch, const gr_assign_t *target, gr_cg_pepoch_fn *pepoch, void *ctx,
                            const gr_cg_owned_t *owned, int32_t nowned, bool given, gr_cg_current_t *out)
{
    gr_assign_t keep = {0, NULL}, revoke = {0, NULL}, pending = {0, NULL};
    bool unreleased = false;
    for (int32_t i = 0; i < assigned->n; i++) {
        const gr_tparts_t *t = &assigned->t[i];
        for (int32_t k = 0; k < t->n; k++) {
            if (gr_assign_has(target, &t->topic, t->p[k]))
                gr_assign_add(&keep, &t->topic, t->p[k]);
            else
                gr_assign_add(&revoke, &t->topic, t->p[k]);
        }
    }
    for (int32_t i = 0; i < target->n; i++) {
        const gr_tparts_t *t = &target->t[i];
        for (int32_t k = 0; k < t->n; k++) {
            if (gr_assign_has(&keep, &t->topic, t->p[k]))
                continue;
            if (pepoch(ctx, &t->topic, t->p[k]) != -1)
                unreleased = true;
            else
                gr_assign_add(&pending, &t->topic, t->p[k]);
        }
    }
    int32_t new_epoch;
    if (revoke.n > 0 && owns_any(owned, nowned, given, &revoke)) {
        /* revoke first, in the same epoch */
        out->state = GR_CM_UNREVOKED_PARTITIONS;
        new_epoch = epoch;
        out->assigned = keep;
        out->revoking = revoke;
        gr_assign_free(&pending);
    } else {
        for (int32_t i = 0; i < pending.n; i++)
            gr_assign_add_many(&keep, &pending.t[i].topic, pending.t[i].p, pending.t[i].n);
        gr_assign_free(&pending);
        gr_assign_free(&revoke);
        out->state = unreleased ? GR_CM_UNRELEASED_PARTITIONS : GR_CM_STABLE;
        new_epoch = target_epoch;
        out->assigned = keep;
        out->revoking = (gr_assign_t){0, NULL};
    }
    /* ConsumerGroupMember.Builder.updateMemberEpoch */
    out->prev_epoch = new_epoch != cur->epoch ? cur->epoch : cur->prev_epoch;
    out->epoch = new_epoch;
}

gr_kerr_t gr_cgroup_reconcile(const gr_cg_current_t *cur, int32_t target_epoch, const gr_assign_t *target,
                              gr_cg_pepoch_fn *pepoch, void *ctx, const gr_cg_owned_t *owned, int32_t nowned,
                              gr_cg_current_t *out)
{
    bool given = owned != NULL;
    switch (cur->state) {
    case GR_CM_STABLE:
        if (cur->epoch != target_epoch) {
            next_assignment(cur, cur->epoch, &cur->assigned, target_epoch, target, pepoch, ctx, owned, nowned,
                            given, out);
            return KERR_NONE;
        }
        break;
    case GR_CM_UNREVOKED_PARTITIONS:
        if (owns_any(owned, nowned, given, &cur->revoking))
            break;
        next_assignment(cur, cur->epoch + 1, &cur->assigned, target_epoch, target, pepoch, ctx, owned, nowned,
                        given, out);
        return KERR_NONE;
    case GR_CM_UNRELEASED_PARTITIONS:
        next_assignment(cur, cur->epoch, &cur->assigned, target_epoch, target, pepoch, ctx, owned, nowned, given,
                        out);
        return KERR_NONE;
    default:
        if (!given || nowned > 0)
            return KERR_FENCED_MEMBER_EPOCH;
        next_assignment(cur, target_epoch, &cur->assigned, target_epoch, target, pepoch, ctx, owned, nowned, given,
                        out);
        return KERR_NONE;
    }
    /* unchanged */
    out->epoch = cur->epoch;
    out->prev_epoch = cur->prev_epoch;
    out->state = cur->state;
    gr_assign_copy(&out->assigned, &cur->assigned);
    gr_assign_copy(&out->revoking, &cur->revoking);
    return KERR_NONE;
}

/* ------------------------------------------------------------ timers */

static void fence_member(gr_cgroup_t *cg, gr_cmember_t *m, const char *why);

static void session_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    gr_cmember_t *m = arg;
    if (!coord_rt() || gr_crt_status(coord_rt(), m->cg->g->coord_partition) != KERR_NONE)
        return;
    fence_member(m->cg, m, "the member session expired");
}

static void rebalance_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    gr_cmember_t *m = arg;
    m->rebalance_armed = false;
    if (!coord_rt() || gr_crt_status(coord_rt(), m->cg->g->coord_partition) != KERR_NONE)
        return;
    if (m->epoch != m->rebalance_timer_epoch || m->state != GR_CM_UNREVOKED_PARTITIONS)
        return;
    char why[96];
    snprintf(why, sizeof(why), "it failed to transition from epoch %d within %dms", m->epoch,
             m->rebalance_timeout_ms);
    fence_member(m->cg, m, why);
}

/* Classic members (online migration): a member told to rejoin must join
 * within its rebalance timeout, and one that joined must sync within it,
 * or it is fenced (Kafka's consumerGroupJoinKey / consumerGroupSyncKey). */
static void join_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    gr_cmember_t *m = arg;
    m->join_armed = false;
    if (!coord_rt() || gr_crt_status(coord_rt(), m->cg->g->coord_partition) != KERR_NONE)
        return;
    fence_member(m->cg, m, "the classic member failed to join within the rebalance timeout");
}

static void sync_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    gr_cmember_t *m = arg;
    if (!coord_rt() || gr_crt_status(coord_rt(), m->cg->g->coord_partition) != KERR_NONE)
        return;
    fence_member(m->cg, m, "the member failed to sync within timeout");
}

static void schedule_join_if_absent(gr_cmember_t *m)
{
    if (m->join_armed)
        return;
    m->join_armed = true;
    gr_group_clock_start(&m->join_timer, GR_MAX(m->rebalance_timeout_ms, 0));
}

static void cancel_join(gr_cmember_t *m)
{
    m->join_armed = false;
    gr_group_clock_stop(&m->join_timer);
}

static void schedule_session(gr_cmember_t *m, int32_t ms)
{
    gr_group_clock_stop(&m->session_timer);
    gr_group_clock_start(&m->session_timer, ms);
}

/* Armed when the member starts revoking (Kafka schedules it when the
 * member's assignment moves to UNREVOKED_PARTITIONS): later heartbeats of
 * the same epoch do not push it back. */
static void schedule_rebalance(gr_cmember_t *m)
{
    bool want = m->state == GR_CM_UNREVOKED_PARTITIONS && m->classic_session_ms < 0;
    if (want && m->rebalance_armed && m->rebalance_timer_epoch == m->epoch)
        return;
    gr_group_clock_stop(&m->rebalance_timer);
    m->rebalance_armed = false;
    if (want) {
        m->rebalance_timer_epoch = m->epoch;
        m->rebalance_armed = true;
        gr_group_clock_start(&m->rebalance_timer, GR_MAX(m->rebalance_timeout_ms, 0));
    }
}

/* The timers of a member whose state was replayed without them: its
 * session starts now, and its rebalance timeout when it is revoking. */
static void start_member_timers(gr_cmember_t *m)
{
    schedule_session(m, m->classic_session_ms >= 0 ? m->classic_session_ms : gr_cgroup_session_timeout_ms());
    schedule_rebalance(m);
}

static void start_timers(gr_cgroup_t *cg)
{
    for (gr_cmember_t *m = gr_cgroup_next(cg, NULL); m; m = gr_cgroup_next(cg, m))
        start_member_timers(m);
}

void gr_cgroup_loaded(int32_t part)
{
    for (gr_group_t *g = gr_group_next(NULL); g; g = gr_group_next(g)) {
        if (g->type != GR_GROUP_CONSUMER || g->coord_partition != part)
            continue;
        gr_info("cgroup", "Loaded consumer group %s with %d members (group epoch %d, assignment epoch %d)",
                g->group_id, gr_cgroup_nmembers(g->cg), g->cg->group_epoch, g->cg->assignment_epoch);
        start_timers(g->cg);
    }
}

/* ------------------------------------------------------------ writes */

typedef struct write_ctx {
    gr_cg_hb_cb *cb;
    void *arg;
    gr_cg_hb_result_t res;
} write_ctx_t;

static void hb_result_free(gr_cg_hb_result_t *r)
{
    free(r->member_id);
    gr_assign_free(&r->assignment);
}

static void write_done(void *arg, gr_kerr_t err)
{
    write_ctx_t *c = arg;
    if (err != KERR_NONE) {
        c->res.error = err;
        c->res.message = NULL;
        c->res.has_assignment = false;
    }
    if (c->cb)
        c->cb(c->arg, &c->res);
    hb_result_free(&c->res);
    free(c);
}

/* Topic names the group subscribes to with member `old` replaced by `nw`
 * (either may be NULL), with the regex resolutions `re` (NULL: the
 * group's): the subscription metadata it implies, sorted by name. */
typedef struct sub_names {
    char **v;
    int32_t n, cap;
} sub_names_t;

static void sub_add(sub_names_t *s, const char *name)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = gr_realloc(s->v, sizeof(char *) * (size_t)s->cap);
    }
    s->v[s->n++] = (char *)name;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void compute_meta(const gr_cgroup_t *cg, const gr_cmember_t *old, const gr_cmember_t *nw,
                         const gr_cmember_t *removed2, gr_cg_topic_t **out, int32_t *nout)
{
    sub_names_t s = {0};
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &cg->names);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        count_ent_t *e = GR_CONTAINER(n, count_ent_t, node);
        int32_t c = e->count;
        for (int32_t i = 0; old && i < old->ntopics; i++)
            c -= !strcmp(old->topics[i], e->key);
        for (int32_t i = 0; removed2 && i < removed2->ntopics; i++)
            c -= !strcmp(removed2->topics[i], e->key);
        if (c > 0)
            sub_add(&s, e->key);
    }
    for (int32_t i = 0; nw && i < nw->ntopics; i++)
        sub_add(&s, nw->topics[i]);
    gr_hmap_iter_init(&it, &cg->regexes);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        count_ent_t *e = GR_CONTAINER(n, count_ent_t, node);
        int32_t c = e->count;
        if (old && has_regex(old) && !strcmp(old->regex, e->key))
            c--;
        if (removed2 && has_regex(removed2) && !strcmp(removed2->regex, e->key))
            c--;
        if (nw && has_regex(nw) && !strcmp(nw->regex, e->key))
            c++;
        for (int32_t i = 0; c > 0 && i < e->ntopics; i++)
            sub_add(&s, e->topics[i]);
    }
    if (s.n > 1)
        qsort(s.v, (size_t)s.n, sizeof(char *), cmp_cstr);
    gr_cg_topic_t *t = gr_calloc((size_t)GR_MAX(s.n, 1), sizeof(*t));
    int32_t k = 0;
    for (int32_t i = 0; i < s.n; i++) {
        if (i > 0 && !strcmp(s.v[i], s.v[i - 1]))
            continue;
        gr_topic_t *tp = gr_topic_find(s.v[i], strlen(s.v[i]));
        if (!tp)
            continue;
        t[k].name = gr_strdup(tp->name);
        t[k].id = tp->id;
        t[k].nparts = tp->npart;
        k++;
    }
    free(s.v);
    *out = t;
    *nout = k;
}

static bool meta_eq(const gr_cg_topic_t *a, int32_t na, const gr_cg_topic_t *b, int32_t nb)
{
    if (na != nb)
        return false;
    for (int32_t i = 0; i < na; i++)
        if (strcmp(a[i].name, b[i].name) || gr_uuid_cmp(&a[i].id, &b[i].id) || a[i].nparts != b[i].nparts)
            return false;
    return true;
}

/* The topic ids a member subscribes to, given metadata and resolutions. */
static int cmp_uuid(const void *a, const void *b)
{
    return gr_uuid_cmp(a, b);
}

static gr_uuid_t *member_topic_ids(const gr_cgroup_t *cg, const gr_cmember_t *m, const gr_cg_topic_t *meta,
                                   int32_t nmeta, int32_t *n)
{
    gr_uuid_t *ids = gr_malloc(sizeof(gr_uuid_t) * (size_t)GR_MAX(nmeta, 1));
    int32_t k = 0;
    count_ent_t *re = has_regex(m) ? count_find(&cg->regexes, m->regex) : NULL;
    for (int32_t i = 0; i < nmeta; i++) {
        bool sub = m->ntopics > 0 &&
                   bsearch(&(const char *){meta[i].name}, m->topics, (size_t)m->ntopics, sizeof(char *), cmp_cstr);
        for (int32_t j = 0; !sub && re && j < re->ntopics; j++)
            sub = !strcmp(re->topics[j], meta[i].name);
        if (sub)
            ids[k++] = meta[i].id;
    }
    qsort(ids, (size_t)k, sizeof(gr_uuid_t), cmp_uuid);
    *n = k;
    return ids;
}

typedef struct asg_slot {
    const gr_cmember_t *m;
    const gr_assign_t *cur;
} asg_slot_t;

static int cmp_slot(const void *a, const void *b)
{
    return strcmp(((const asg_slot_t *)a)->m->member_id, ((const asg_slot_t *)b)->m->member_id);
}

/* Compute the group's new target at `epoch` with member `upd` added or
 * updated (`replaced`: the static member it replaces) or member `gone`
 * removed; the records of the targets that changed and of the epoch go
 * to r; *mine = upd's new target.  Kafka's TargetAssignmentBuilder. */
static void update_target(gr_cgroup_t *cg, const char *gid, int32_t epoch, const gr_cmember_t *upd,
                          const gr_cmember_t *replaced,
                          const gr_cmember_t *gone, const gr_cg_topic_t *meta, int32_t nmeta, gr_crt_result_t *r,
                          gr_assign_t *mine)
{
    int32_t cap = gr_cgroup_nmembers(cg) + 1, nm = 0;
    asg_slot_t *slots = gr_malloc(sizeof(*slots) * (size_t)cap);
    for (gr_cmember_t *m = gr_cgroup_next(cg, NULL); m; m = gr_cgroup_next(cg, m)) {
        if (m == gone || m == replaced || (upd && !strcmp(m->member_id, upd->member_id)))
            continue;
        slots[nm++] = (asg_slot_t){m, gr_cgroup_target(cg, m->member_id)};
    }
    if (upd) {
        const gr_assign_t *cur = gr_cgroup_target(cg, upd->member_id);
        if (replaced)
            cur = gr_cgroup_target(cg, replaced->member_id);
        slots[nm++] = (asg_slot_t){upd, cur};
    }
    qsort(slots, (size_t)nm, sizeof(*slots), cmp_slot);
    gr_asg_member_t *am = gr_calloc((size_t)GR_MAX(nm, 1), sizeof(*am));
    gr_uuid_t **ids = gr_calloc((size_t)GR_MAX(nm, 1), sizeof(*ids));
    for (int32_t i = 0; i < nm; i++) {
        ids[i] = member_topic_ids(cg, slots[i].m, meta, nmeta, &am[i].ntopics);
        am[i].member_id = slots[i].m->member_id;
        am[i].instance_id = slots[i].m->instance_id;
        am[i].topics = ids[i];
        am[i].current = slots[i].cur;
    }
    gr_asg_topic_t *topics = gr_malloc(sizeof(*topics) * (size_t)GR_MAX(nmeta, 1));
    for (int32_t i = 0; i < nmeta; i++)
        topics[i] = (gr_asg_topic_t){meta[i].id, meta[i].nparts};
    qsort(topics, (size_t)nmeta, sizeof(*topics), cmp_uuid);
    /* the preferred assignor, counting upd instead of the member it updates */
    const char *name = NULL;
    {
        int32_t nu = 0, nr = 0;
        for (int32_t i = 0; i < nm; i++) {
            const char *a = gr_assignor_canonical(slots[i].m->server_assignor);
            nu += a && !strcmp(a, "uniform");
            nr += a && !strcmp(a, "range");
        }
        name = nr > nu ? "range" : nu > 0 ? "uniform" : default_assignor();
    }
    gr_assign_t *out = gr_calloc((size_t)GR_MAX(nm, 1), sizeof(*out));
    int64_t t0 = gr_mono_us();
    gr_assignor_run(name, am, nm, topics, nmeta, out);
    gr_info("cgroup", "[GroupId %s] Computed a new target assignment for epoch %d with '%s' assignor in %lldus.", gid,
            epoch, name, (long long)(gr_mono_us() - t0));
    *mine = (gr_assign_t){0, NULL};
    for (int32_t i = 0; i < nm; i++) {
        const gr_assign_t *prev = gr_cgroup_target(cg, slots[i].m->member_id);
        if (!prev || !gr_assign_eq(prev, &out[i]))
            rec_target(r, gid, slots[i].m->member_id, &out[i]);
        if (upd && slots[i].m == upd)
            gr_assign_copy(mine, &out[i]);
        gr_assign_free(&out[i]);
        free(ids[i]);
    }
    rec_epoch(r, REC_TARGET_METADATA, gid, epoch);
    free(out);
    free(topics);
    free(ids);
    free(am);
    free(slots);
}

/* The records that remove member m (Kafka's removeMember): current
 * assignment, target, metadata, and its regex resolution when it was the
 * last to use it. */
static void remove_member_records(gr_cgroup_t *cg, const gr_cmember_t *m, gr_crt_result_t *r)
{
    const char *gid = cg->g->group_id;
    rec_tombstone(r, REC_CURRENT, gid, m->member_id);
    if (target_find(cg, m->member_id))
        rec_tombstone(r, REC_TARGET_MEMBER, gid, m->member_id);
    rec_tombstone(r, REC_MEMBER, gid, m->member_id);
    if (has_regex(m)) {
        count_ent_t *e = count_find(&cg->regexes, m->regex);
        if (e && e->count == 1 && e->resolved)
            rec_tombstone(r, REC_REGEX, gid, m->regex);
    }
}

/* Fence (or remove on leave) member m: its records go, the subscription
 * metadata follows, the group epoch moves on.  Kafka's
 * consumerGroupFenceMember. */
static void fence_records(gr_cgroup_t *cg, gr_cmember_t *m, gr_crt_result_t *r)
{
    remove_member_records(cg, m, r);
    gr_cg_topic_t *meta;
    int32_t nmeta;
    compute_meta(cg, m, NULL, NULL, &meta, &nmeta);
    if (!meta_eq(meta, nmeta, cg->meta, cg->nmeta))
        rec_meta(r, cg->g->group_id, meta, nmeta);
    meta_free(meta, nmeta);
    rec_epoch(r, REC_METADATA, cg->g->group_id, cg->group_epoch + 1);
    gr_group_clock_stop(&m->session_timer);
    gr_group_clock_stop(&m->rebalance_timer);
}

static bool downgrade_ok(const gr_cgroup_t *cg, const gr_cmember_t *leaving);
static bool downgrade_replacing_ok(const gr_cgroup_t *cg, const gr_cmember_t *replaced);
static void downgrade(gr_cgroup_t *cg, gr_cmember_t *leaving, const gr_cmember_t *joining, gr_crt_result_t *r);

static void downgrade_written(const char *gid, int32_t generation);
static void restart_timers(const char *gid, const char *mid);

/* A fence (or the downgrade it causes) written by a timer. */
typedef struct fence_ctx {
    char *gid, *mid;
    int32_t generation;             /* >= 0: a downgrade to this generation */
} fence_ctx_t;

static void fence_done(void *arg, gr_kerr_t err)
{
    fence_ctx_t *c = arg;
    if (err == KERR_NONE && c->generation >= 0)
        downgrade_written(c->gid, c->generation);
    else if (err != KERR_NONE)
        restart_timers(c->gid, c->generation >= 0 ? NULL : c->mid);
    free(c->gid);
    free(c->mid);
    free(c);
}

static void fence_member(gr_cgroup_t *cg, gr_cmember_t *m, const char *why)
{
    gr_info("cgroup", "[GroupId %s] Member %s fenced from the group because %s.", cg->g->group_id, m->member_id,
            why);
    fence_ctx_t *c = gr_calloc(1, sizeof(*c));
    c->gid = gr_strdup(cg->g->group_id);
    c->mid = gr_strdup(m->member_id);
    c->generation = -1;
    gr_crt_result_t r;
    gr_crt_result_init(&r, coord_rt(), cg->g->coord_partition, GR_CRT_ATOMIC);
    if (downgrade_ok(cg, m)) {
        c->generation = cg->group_epoch;
        downgrade(cg, m, NULL, &r);
        coord_write(&r, fence_done, c, "Downgrading a consumer group to a classic group");
        downgrade_written(c->gid, c->generation);
        return;
    }
    fence_records(cg, m, &r);
    coord_write(&r, fence_done, c, "Fencing a consumer group member");
}

void gr_cgroup_add_tombstones(gr_crt_result_t *r, const gr_group_t *g)
{
    const gr_cgroup_t *cg = g->cg;
    const char *gid = g->group_id;
    for (gr_cmember_t *m = gr_cgroup_next(cg, NULL); m; m = gr_cgroup_next(cg, m))
        rec_tombstone(r, REC_CURRENT, gid, m->member_id);
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &cg->targets);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));)
        rec_tombstone(r, REC_TARGET_MEMBER, gid, GR_CONTAINER(n, target_ent_t, node)->member_id);
    rec_tombstone(r, REC_TARGET_METADATA, gid, NULL);
    for (gr_cmember_t *m = gr_cgroup_next(cg, NULL); m; m = gr_cgroup_next(cg, m))
        rec_tombstone(r, REC_MEMBER, gid, m->member_id);
    gr_hmap_iter_init(&it, &cg->regexes);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        count_ent_t *e = GR_CONTAINER(n, count_ent_t, node);
        if (e->resolved)
            rec_tombstone(r, REC_REGEX, gid, e->key);
    }
    rec_tombstone(r, REC_PARTITION_METADATA, gid, NULL);
    rec_tombstone(r, REC_METADATA, gid, NULL);
}

/* ------------------------------------------------------------ heartbeat */

/* Kafka's Uuid.randomUuid().toString(): 16 random bytes, URL-safe base64
 * without padding (22 characters). */
static void random_member_id(char out[23])
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n <= 0) {
            uint64_t x = (uint64_t)gr_mono_us() ^ ((uint64_t)gr_now_ms() << 17);
            for (; got < sizeof(b); got++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                b[got] = (uint8_t)x;
            }
            break;
        }
        got += (size_t)n;
    }
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int o = 0;
    for (int i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (i + 1 < 16 ? (uint32_t)b[i + 1] << 8 : 0) | (i + 2 < 16 ? b[i + 2] : 0);
        out[o++] = al[(v >> 18) & 63];
        out[o++] = al[(v >> 12) & 63];
        if (i + 1 < 16)
            out[o++] = al[(v >> 6) & 63];
        if (i + 2 < 16)
            out[o++] = al[v & 63];
    }
    out[o] = 0;
}

static bool blank(const char *s)
{
    if (!s)
        return false;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\f' && *s != '\v' && (unsigned char)*s > ' ')
            return false;
    return true;
}

gr_kerr_t gr_cgroup_validate_heartbeat(const gr_cg_hb_t *hb, const char **msg)
{
    /* Kafka 4's throwIfConsumerGroupHeartbeatRequestIsInvalid */
    if ((hb->version >= 1 || hb->member_epoch > 0 || hb->member_epoch == GR_CG_LEAVE_EPOCH) &&
        (!hb->member_id || blank(hb->member_id))) {
        *msg = "MemberId can't be empty.";
        return KERR_INVALID_REQUEST;
    }
    if (hb->group_id && blank(hb->group_id)) {
        *msg = "GroupId can't be empty.";
        return KERR_INVALID_REQUEST;
    }
    if (hb->instance_id && blank(hb->instance_id)) {
        *msg = "InstanceId can't be empty.";
        return KERR_INVALID_REQUEST;
    }
    if (hb->rack_id && blank(hb->rack_id)) {
        *msg = "RackId can't be empty.";
        return KERR_INVALID_REQUEST;
    }
    if (hb->member_epoch == 0) {
        if (hb->rebalance_timeout_ms == -1) {
            *msg = "RebalanceTimeoutMs must be provided in first request.";
            return KERR_INVALID_REQUEST;
        }
        if (!hb->owned || hb->nowned > 0) {
            *msg = "TopicPartitions must be empty when (re-)joining.";
            return KERR_INVALID_REQUEST;
        }
        if (!hb->topics && !hb->regex) {
            *msg = "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.";
            return KERR_INVALID_REQUEST;
        }
    } else if (hb->member_epoch == GR_CG_LEAVE_STATIC_EPOCH) {
        if (!hb->instance_id) {
            *msg = "InstanceId can't be null.";
            return KERR_INVALID_REQUEST;
        }
    } else if (hb->member_epoch < GR_CG_LEAVE_STATIC_EPOCH) {
        *msg = "MemberEpoch is invalid.";
        return KERR_INVALID_REQUEST;
    }
    if (hb->server_assignor && !configured_assignor(hb->server_assignor)) {
        *msg = unsupported_assignor_msg(hb->server_assignor);
        return KERR_UNSUPPORTED_ASSIGNOR;
    }
    if (hb->ntopics > GR_CG_MAX_TOPICS) {
        *msg = "SubscribedTopicNames has more than 10000 topics.";
        return KERR_INVALID_REQUEST;
    }
    return KERR_NONE;
}

static bool subset_of(const gr_cg_owned_t *owned, int32_t n, bool given, const gr_assign_t *a)
{
    if (!given)
        return false;
    for (int32_t i = 0; i < n; i++)
        for (int32_t k = 0; k < owned[i].n; k++)
            if (!gr_assign_has(a, &owned[i].topic, owned[i].parts[k]))
                return false;
    return true;
}

static gr_kerr_t check_epoch(const gr_cmember_t *m, int32_t epoch, const gr_cg_hb_t *hb, const char **msg)
{
    if (epoch > m->epoch) {
        *msg = "The consumer group member has a greater member epoch than the one known by the group coordinator. "
               "The member must abandon all its partitions and rejoin.";
        return KERR_FENCED_MEMBER_EPOCH;
    }
    if (epoch < m->epoch && (epoch != m->prev_epoch || !subset_of(hb->owned, hb->nowned, hb->owned != NULL,
                                                                    &m->assigned))) {
        *msg = "The consumer group member has a smaller member epoch than the one known by the group coordinator. "
               "The member must abandon all its partitions and rejoin.";
        return KERR_FENCED_MEMBER_EPOCH;
    }
    return KERR_NONE;
}

/* A deep copy of m's subscription part (not in any group). */
static gr_cmember_t *member_clone(const gr_cmember_t *m, const char *new_id)
{
    gr_cmember_t *c = member_alloc(new_id ? new_id : m->member_id);
    c->instance_id = m->instance_id ? gr_strdup(m->instance_id) : NULL;
    c->rack_id = m->rack_id ? gr_strdup(m->rack_id) : NULL;
    free(c->client_id);
    c->client_id = gr_strdup(m->client_id);
    free(c->client_host);
    c->client_host = gr_strdup(m->client_host);
    c->topics = gr_calloc((size_t)GR_MAX(m->ntopics, 1), sizeof(char *));
    for (int32_t i = 0; i < m->ntopics; i++)
        c->topics[i] = gr_strdup(m->topics[i]);
    c->ntopics = m->ntopics;
    c->regex = m->regex ? gr_strdup(m->regex) : NULL;
    c->rebalance_timeout_ms = m->rebalance_timeout_ms;
    c->server_assignor = m->server_assignor ? gr_strdup(m->server_assignor) : NULL;
    c->classic_session_ms = m->classic_session_ms;
    c->nprotos = m->nprotos;
    c->protos = gr_calloc((size_t)GR_MAX(m->nprotos, 1), sizeof(*c->protos));
    for (int32_t i = 0; i < m->nprotos; i++) {
        c->protos[i].name = gr_strdup(m->protos[i].name);
        c->protos[i].len = m->protos[i].len;
        c->protos[i].metadata = gr_malloc((size_t)GR_MAX(m->protos[i].len, 1));
        memcpy(c->protos[i].metadata, m->protos[i].metadata, (size_t)m->protos[i].len);
    }
    c->epoch = m->epoch;
    c->prev_epoch = m->prev_epoch;
    c->state = m->state;
    gr_assign_copy(&c->assigned, &m->assigned);
    gr_assign_copy(&c->revoking, &m->revoking);
    return c;
}

static bool streq0(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool subscription_eq(const gr_cmember_t *a, const gr_cmember_t *b)
{
    if (a->ntopics != b->ntopics || !streq0(a->regex, b->regex))
        return false;
    for (int32_t i = 0; i < a->ntopics; i++)
        if (strcmp(a->topics[i], b->topics[i]))
            return false;
    return true;
}

static bool protos_eq(const gr_cmember_t *a, const gr_cmember_t *b)
{
    if (a->nprotos != b->nprotos)
        return false;
    for (int32_t i = 0; i < a->nprotos; i++)
        if (strcmp(a->protos[i].name, b->protos[i].name) || a->protos[i].len != b->protos[i].len ||
            (a->protos[i].len && memcmp(a->protos[i].metadata, b->protos[i].metadata, (size_t)a->protos[i].len)))
            return false;
    return true;
}

static bool metadata_eq(const gr_cmember_t *a, const gr_cmember_t *b)
{
    return subscription_eq(a, b) && streq0(a->instance_id, b->instance_id) && streq0(a->rack_id, b->rack_id) &&
           streq0(a->client_id, b->client_id) && streq0(a->client_host, b->client_host) &&
           a->rebalance_timeout_ms == b->rebalance_timeout_ms && streq0(a->server_assignor, b->server_assignor) &&
           a->classic_session_ms == b->classic_session_ms && protos_eq(a, b);
}

/* Resolve a regex against every topic (RE2, whole names), sorted. */
static int resolve_regex(const char *re, char ***out, int32_t *n, char *err, size_t errlen)
{
    gr_regex_t *rx = gr_regex_compile(re, strlen(re), err, errlen);
    if (!rx)
        return GR_EINVAL;
    sub_names_t s = {0};
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t))
        if (gr_regex_full_match(rx, t->name, strlen(t->name)))
            sub_add(&s, gr_strdup(t->name));
    gr_regex_free(rx);
    *n = s.n ? strv_norm(s.v, s.n) : 0;
    *out = s.v;
    return 0;
}

/* A signature of the topic registry (names, partition counts). */
static uint64_t topics_sig(void)
{
    uint64_t h = GR_FNV64_INIT;
    for (gr_topic_t *t = gr_topic_next(NULL); t; t = gr_topic_next(t)) {
        uint64_t x = gr_fnv1a64(t->name, strlen(t->name), GR_FNV64_INIT) ^ (uint64_t)t->npart * 0x9e3779b97f4a7c15ull;
        h += x * 0xff51afd7ed558ccdull;     /* order-independent */
    }
    return h ^ (uint64_t)gr_topic_count();
}

static bool strv_eq(char *const *a, int32_t na, char *const *b, int32_t nb)
{
    if (na != nb)
        return false;
    for (int32_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]))
            return false;
    return true;
}

/* Regex bookkeeping of a heartbeat (Kafka's maybeUpdateRegularExpressions,
 * resolved at once): records for resolutions that appear, change or go;
 * returns whether the group epoch must move.  The new resolutions are
 * replayed with the write; the metadata and the target computed below see
 * them before that: the member's new regex through a temporary entry, the
 * refreshed ones through `pending` (regex -> its new topics), swapped into
 * the entries for the computation and back after it (pending_swap), so
 * that the epoch a refresh bumps to already assigns the new topics. */
typedef struct pending_re {
    count_ent_t *e;
    char **topics;
    int32_t n;
} pending_re_t;

typedef struct pending_res {
    pending_re_t *v;
    int32_t n;
} pending_res_t;

static void pending_swap(pending_res_t *p)
{
    for (int32_t i = 0; i < p->n; i++) {
        char **t = p->v[i].e->topics;
        int32_t n = p->v[i].e->ntopics;
        p->v[i].e->topics = p->v[i].topics;
        p->v[i].e->ntopics = p->v[i].n;
        p->v[i].topics = t;
        p->v[i].n = n;
    }
}

static void pending_free(pending_res_t *p)
{
    for (int32_t i = 0; i < p->n; i++)
        strv_free(p->v[i].topics, p->v[i].n);
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

static gr_kerr_t hb_regexes(gr_cgroup_t *cg, const char *gid, const gr_cmember_t *old, const gr_cmember_t *nw,
                            gr_crt_result_t *r, bool *bump, pending_res_t *pend, const char **msg, char *errbuf,
                            size_t errlen)
{
    int64_t now = gr_group_clock_now_ms();
    bool changed = !streq0(old ? old->regex : NULL, nw->regex) &&
                   !((!old || !has_regex(old)) && !has_regex(nw));
    if (changed) {
        if (old && has_regex(old)) {
            count_ent_t *e = count_find(&cg->regexes, old->regex);
            if (e && e->count == 1 && e->resolved)
                rec_tombstone(r, REC_REGEX, gid, old->regex);
        }
        if (has_regex(nw)) {
            count_ent_t *e = count_find(&cg->regexes, nw->regex);
            if (!e || !e->resolved) {
                char **topics = NULL;
                int32_t n = 0;
                if (strlen(nw->regex) > GR_CG_MAX_REGEX) {
                    *msg = "SubscribedTopicRegex is longer than 16384 bytes.";
                    return KERR_INVALID_REGULAR_EXPRESSION;
                }
                char why[128];
                if (resolve_regex(nw->regex, &topics, &n, why, sizeof(why)) < 0) {
                    /* Kafka's throwIfRegularExpressionIsInvalid */
                    snprintf(errbuf, errlen, "SubscribedTopicRegex `%s` is not a valid regular expression: %s.",
                             nw->regex, why);
                    *msg = errbuf;
                    return KERR_INVALID_REGULAR_EXPRESSION;
                }
                rec_regex(r, gid, nw->regex, topics, n, (int64_t)topics_sig(), now);
                strv_free(topics, n);
            }
            *bump = true;
        }
    }
    /* refresh the group's resolutions when the topics changed, at most
     * every REGEX_REFRESH_MS */
    if (gr_hmap_count(&cg->regexes) > 0 && now >= cg->regex_refresh_ms + REGEX_REFRESH_MS) {
        uint64_t sig = topics_sig();
        if (sig != cg->regex_topics_sig) {
            gr_hmap_iter_t it;
            gr_hmap_iter_init(&it, &cg->regexes);
            for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
                count_ent_t *e = GR_CONTAINER(n, count_ent_t, node);
                /* not the member's new regex (resolved above), nor its
                 * old one when this write tombstones it */
                if (!e->resolved || e->count <= 0 || (has_regex(nw) && !strcmp(e->key, nw->regex) && changed) ||
                    (changed && old && has_regex(old) && !strcmp(e->key, old->regex) && e->count == 1))
                    continue;
                char **topics = NULL;
                int32_t k = 0;
                if (resolve_regex(e->key, &topics, &k, errbuf, errlen) < 0)
                    continue;
                if (!strv_eq(topics, k, e->topics, e->ntopics)) {
                    rec_regex(r, gid, e->key, topics, k, (int64_t)sig, now);
                    *bump = true;
                    pend->v = gr_realloc(pend->v, sizeof(*pend->v) * (size_t)(pend->n + 1));
                    pend->v[pend->n++] = (pending_re_t){e, topics, k};
                    continue;
                }
                strv_free(topics, k);
            }
            cg->regex_topics_sig = sig;
        }
        cg->regex_refresh_ms = now;
    }
    return KERR_NONE;
}

/* What the heartbeat decided, before its records are replayed. */
static void respond_assignment(gr_cg_hb_result_t *res, const gr_assign_t *a)
{
    res->has_assignment = true;
    gr_assign_copy(&res->assignment, a);
}

/* ------------------------------------------------------------ migration
 *
 * Online migration between classic and consumer groups, as Kafka 4's
 * GroupMetadataManager (group.consumer.migration.policy):
 *
 *   classic group, live members ---ConsumerGroupHeartbeat (epoch 0)---> consumer group
 *     records: GroupMetadata tombstone, then for the classic members
 *     MemberMetadata (with ClassicMemberMetadata), the group epoch = the
 *     generation, their targets = their assignments, the target epoch, their
 *     current assignments (Stable at the generation); the joining member's
 *     records follow (a new group epoch, so every classic member is told to
 *     rejoin, revokes, and gets its new partitions through SyncGroup)
 *
 *   consumer group, last consumer-protocol member leaves or is fenced
 *     ---> classic group (Stable at the group epoch, each member's target as
 *     its assignment, then a rebalance: every member rejoins)
 *     records: the consumer group's tombstones, then its GroupMetadata
 *
 * Both are write operations like any other: their records are replayed,
 * and the replay makes the conversion (coord.c): the GroupMetadata
 * tombstone of a classic group with members takes them out (their parked
 * JoinGroup/SyncGroup answered REBALANCE_IN_PROGRESS; its offsets and
 * history stay), the consumer records make the consumer group; the
 * consumer tombstones remove the consumer state and the GroupMetadata value
 * is decoded into the classic group, as at load.  If the append fails, the
 * runtime's undo puts back the group it was (the classic members, or the
 * consumer state); only the rebalance that follows a downgrade and the
 * timers are live actions, taken after the replay. */

static bool policy_has(const char *what)
{
    const char *p = gr_broker.cfg.group_consumer_migration_policy;
    if (!p || !p[0])
        p = "bidirectional";
    return !strcasecmp(p, "bidirectional") || !strcasecmp(p, what);
}

bool gr_cgroup_upgrade_allowed(void)
{
    return policy_has("upgrade");
}

bool gr_cgroup_downgrade_allowed(void)
{
    return policy_has("downgrade");
}

/* What a classic member's ConsumerProtocolSubscription says. */
typedef struct csub {
    const char **topics;
    int32_t ntopics;
    gr_cg_owned_t *owned;           /* never NULL: the member owns these */
    int32_t nowned;
    const char *rack;               /* NULL: none */
} csub_t;

/* Decode a ConsumerProtocolSubscription (a version above 3 is read as 3,
 * as Kafka's ConsumerProtocol does); GR_EPROTO when malformed or beyond
 * the bounds of a consumer-protocol subscription. */
static int decode_subscription(const uint8_t *p, int32_t len, gr_arena_t *a, csub_t *out)
{
    memset(out, 0, sizeof(*out));
    gr_rd_t rd;
    gr_rd_init(&rd, p ? p : (const uint8_t *)"", (size_t)GR_MAX(len, 0));
    int16_t ver = gr_rd_i16(&rd);
    gr_ConsumerProtocolSubscription_t s;
    if (rd.err || ver < 0 || gr_ConsumerProtocolSubscription_decode(&rd, GR_MIN(ver, 3), a, &s) < 0)
        return GR_EPROTO;
    if (s.Topics_count < 0 || s.Topics_count > GR_CG_MAX_TOPICS || s.OwnedPartitions_count > GR_CG_MAX_TOPICS)
        return GR_EPROTO;
    out->topics = gr_arena_calloc(a, (size_t)GR_MAX(s.Topics_count, 1), sizeof(char *));
    for (int32_t i = 0; i < s.Topics_count; i++) {
        if (s.Topics[i].len < 0)
            return GR_EPROTO;
        out->topics[i] = gr_arena_strndup(a, s.Topics[i].p ? s.Topics[i].p : "", (size_t)s.Topics[i].len);
    }
    out->ntopics = s.Topics_count;
    int32_t no = GR_MAX(s.OwnedPartitions_count, 0);
    out->owned = gr_arena_calloc(a, (size_t)GR_MAX(no, 1), sizeof(*out->owned));
    for (int32_t i = 0; i < no; i++) {
        const gr_ConsumerProtocolSubscription_TopicPartition_t *tp = &s.OwnedPartitions[i];
        gr_topic_t *t = tp->Topic.len > 0 ? gr_topic_find(tp->Topic.p, (size_t)tp->Topic.len) : NULL;
        if (!t)
            continue;       /* a topic that is gone: nothing to revoke */
        out->owned[out->nowned++] = (gr_cg_owned_t){t->id, tp->Partitions, GR_MAX(tp->Partitions_count, 0)};
    }
    if (ver >= 3 && s.RackId.len >= 0)
        out->rack = gr_arena_strndup(a, s.RackId.p ? s.RackId.p : "", (size_t)s.RackId.len);
    return 0;
}

/* A classic member's ConsumerProtocolAssignment (empty: none) into *out
 * (initialised), partitions of topics that do not exist left out. */
static int decode_assignment(const uint8_t *p, int32_t len, gr_arena_t *a, gr_assign_t *out)
{
    if (!p || len <= 0)
        return 0;
    gr_rd_t rd;
    gr_rd_init(&rd, p, (size_t)len);
    int16_t ver = gr_rd_i16(&rd);
    gr_ConsumerProtocolAssignment_t as;
    if (rd.err || ver < 0 || gr_ConsumerProtocolAssignment_decode(&rd, GR_MIN(ver, 3), a, &as) < 0)
        return GR_EPROTO;
    for (int32_t i = 0; i < as.AssignedPartitions_count; i++) {
        const gr_ConsumerProtocolAssignment_TopicPartition_t *tp = &as.AssignedPartitions[i];
        gr_topic_t *t = tp->Topic.len > 0 ? gr_topic_find(tp->Topic.p, (size_t)tp->Topic.len) : NULL;
        if (!t)
            continue;
        for (int32_t k = 0; k < tp->Partitions_count; k++)
            if (tp->Partitions[k] >= 0 && tp->Partitions[k] < t->npart)
                gr_assign_add(out, &t->id, tp->Partitions[k]);
    }
    return 0;
}

/* The version of a subscription (its first two bytes), as the version of
 * the assignment that answers it: 0..3. */
static int16_t proto_version(const uint8_t *p, int32_t len)
{
    if (!p || len < 2)
        return 0;
    int16_t v = (int16_t)((p[0] << 8) | p[1]);
    return v < 0 ? 0 : v > 3 ? 3 : v;
}

/* Partitions as a ConsumerProtocolAssignment of `version` (malloc'ed). */
static uint8_t *encode_assignment(const gr_cgroup_t *cg, const gr_assign_t *as, int16_t version, int32_t *len)
{
    gr_arena_t a;
    gr_arena_init(&a);
    gr_ConsumerProtocolAssignment_t v;
    gr_ConsumerProtocolAssignment_init(&v);
    v.AssignedPartitions = gr_arena_calloc(&a, (size_t)GR_MAX(as->n, 1), sizeof(*v.AssignedPartitions));
    for (int32_t i = 0; i < as->n; i++) {
        const char *name = gr_cgroup_topic_name(cg, &as->t[i].topic);
        if (!name)
            continue;
        gr_ConsumerProtocolAssignment_TopicPartition_t *tp = &v.AssignedPartitions[v.AssignedPartitions_count++];
        gr_ConsumerProtocolAssignment_TopicPartition_init(tp);
        tp->Topic = (gr_str_t){name, (int32_t)strlen(name)};
        tp->Partitions = as->t[i].p;
        tp->Partitions_count = as->t[i].n;
    }
    gr_wr_t w;
    gr_wr_init(&w);
    gr_wr_i16(&w, version);
    gr_ConsumerProtocolAssignment_encode(&w, version, &v);
    size_t n = 0;
    uint8_t *flat = gr_wr_flatten(&w, &n);
    uint8_t *out = gr_malloc(GR_MAX(n, 1));
    memcpy(out, flat, n);
    *len = (int32_t)n;
    gr_wr_free(&w);
    gr_arena_free(&a);
    return out;
}

static void target_set(gr_cgroup_t *cg, const char *mid, const gr_assign_t *as)
{
    target_ent_t *e = target_find(cg, mid);
    if (!e) {
        size_t n = strlen(mid);
        e = gr_calloc(1, sizeof(*e) + n + 1);
        memcpy(e->member_id, mid, n);
        gr_hmap_insert(&cg->targets, &e->node, str_hash(mid));
    } else {
        gr_assign_free(&e->a);
    }
    gr_assign_copy(&e->a, as);
}

static void protos_set(gr_cmember_t *m, const gr_join_protocol_t *p, int32_t n)
{
    protos_free(m->protos, m->nprotos);
    m->nprotos = GR_MAX(n, 0);
    m->protos = gr_calloc((size_t)GR_MAX(m->nprotos, 1), sizeof(*m->protos));
    for (int32_t i = 0; i < m->nprotos; i++) {
        m->protos[i].name = gr_strdup(p[i].name ? p[i].name : "");
        m->protos[i].len = GR_MAX(p[i].metadata_len, 0);
        m->protos[i].metadata = gr_malloc((size_t)GR_MAX(m->protos[i].len, 1));
        if (m->protos[i].len)
            memcpy(m->protos[i].metadata, p[i].metadata, (size_t)m->protos[i].len);
    }
}

/* Kafka's validateOnlineUpgrade: may the classic group g (with live
 * members) become a consumer group? */
static bool upgrade_ok(const gr_group_t *g)
{
    if (!gr_cgroup_upgrade_allowed()) {
        gr_info("cgroup", "Cannot upgrade classic group %s to consumer group because the online upgrade is "
                "disabled.", g->group_id);
        return false;
    }
    if (!g->protocol_type || strcmp(g->protocol_type, "consumer")) {
        gr_info("cgroup", "Cannot upgrade classic group %s to consumer group because the group does not use the "
                "consumer embedded protocol.", g->group_id);
        return false;
    }
    if (g->nmembers > gr_broker.cfg.group_consumer_max_size) {
        gr_info("cgroup", "Cannot upgrade classic group %s to consumer group because the group size exceeds the "
                "consumer group maximum size.", g->group_id);
        return false;
    }
    return true;
}

/* Kafka's ConsumerGroup.fromClassicGroup + createConsumerGroupRecords: the
 * classic group g's members into the (new, empty) consumer state cg, and
 * their records into r.  Each keeps the assignment of the last generation
 * (a partition two of them claim stays with the first). */
static gr_kerr_t upgrade_members(gr_group_t *g, gr_cgroup_t *cg, gr_crt_result_t *r, const char **msg, char *errbuf,
                                 size_t errlen)
{
    const char *gid = g->group_id;
    int32_t gen = g->generation_id;
    gr_arena_t a;
    gr_arena_init(&a);
    gr_kerr_t err = KERR_NONE;
    for (gr_member_t *cm = g->members; cm; cm = cm->next) {
        const gr_member_protocol_t *pr = g->protocol_name ? gr_member_protocol(cm, g->protocol_name)
                                         : cm->nprotocols > 0 ? &cm->protocols[0] : NULL;
        csub_t sub;
        gr_assign_t as = {0, NULL};
        if (!pr || decode_subscription(pr->metadata, pr->metadata_len, &a, &sub) < 0 ||
            decode_assignment(cm->assignment, cm->assignment_len, &a, &as) < 0) {
            gr_assign_free(&as);
            gr_warn("cgroup", "Cannot upgrade the classic group %s to consumer group because the embedded consumer "
                    "protocol is malformed.", gid);
            snprintf(errbuf, errlen, "Cannot upgrade the classic group %s to consumer group because the embedded "
                     "consumer protocol is malformed.", gid);
            *msg = errbuf;
            err = KERR_GROUP_ID_NOT_FOUND;
            goto out;
        }
        gr_cmember_t *m = member_get_or_create(cg, cm->member_id);
        m->instance_id = cm->group_instance_id ? gr_strdup(cm->group_instance_id) : NULL;
        m->rack_id = sub.rack ? gr_strdup(sub.rack) : NULL;
        free(m->client_id);
        m->client_id = gr_strdup(cm->client_id ? cm->client_id : "");
        free(m->client_host);
        m->client_host = gr_strdup(cm->client_host ? cm->client_host : "");
        m->topics = gr_calloc((size_t)GR_MAX(sub.ntopics, 1), sizeof(char *));
        for (int32_t i = 0; i < sub.ntopics; i++)
            m->topics[i] = gr_strdup(sub.topics[i]);
        m->ntopics = strv_norm(m->topics, sub.ntopics);
        m->rebalance_timeout_ms = cm->rebalance_timeout_ms;
        m->classic_session_ms = GR_MAX(cm->session_timeout_ms, 0);
        gr_join_protocol_t *jp = gr_arena_calloc(&a, (size_t)GR_MAX(cm->nprotocols, 1), sizeof(*jp));
        for (int32_t i = 0; i < cm->nprotocols; i++)
            jp[i] = (gr_join_protocol_t){cm->protocols[i].name, cm->protocols[i].metadata,
                                         cm->protocols[i].metadata_len};
        protos_set(m, jp, cm->nprotocols);
        m->epoch = m->prev_epoch = gen;
        m->state = GR_CM_STABLE;
        /* what another member already holds is not this one's */
        gr_assign_t mine = {0, NULL};
        for (int32_t i = 0; i < as.n; i++)
            for (int32_t k = 0; k < as.t[i].n; k++)
                if (!pepoch_find(cg, &as.t[i].topic, as.t[i].p[k]))
                    gr_assign_add(&mine, &as.t[i].topic, as.t[i].p[k]);
        gr_assign_free(&as);
        m->assigned = mine;
        member_attach(cg, m);
        target_set(cg, m->member_id, &m->assigned);
    }
    cg->group_epoch = cg->assignment_epoch = gen;
    for (gr_cmember_t *m = gr_cgroup_next(cg, NULL); m; m = gr_cgroup_next(cg, m))
        rec_member(r, gid, m);
    rec_epoch(r, REC_METADATA, gid, gen);
    for (gr_cmember_t *m = gr_cgroup_next(cg, NULL); m; m = gr_cgroup_next(cg, m))
        rec_target(r, gid, m->member_id, &m->assigned);
    rec_epoch(r, REC_TARGET_METADATA, gid, gen);
    for (gr_cmember_t *m = gr_cgroup_next(cg, NULL); m; m = gr_cgroup_next(cg, m))
        rec_current(r, gid, m->member_id, m->epoch, m->prev_epoch, m->state, &m->assigned, &m->revoking);
    gr_info("cgroup", "[GroupId %s] Upgrading the classic group with %d members (generation %d) to a consumer group.",
            gid, g->nmembers, gen);
out:
    gr_arena_free(&a);
    return err;
}

/* Kafka's validateOnlineDowngradeWithFencedMember: does the group become
 * a classic group when `leaving` goes? */
static bool downgrade_ok(const gr_cgroup_t *cg, const gr_cmember_t *leaving)
{
    int32_t n = gr_cgroup_nmembers(cg);
    int32_t others_classic = cg->nclassic - (leaving->classic_session_ms >= 0 ? 1 : 0);
    if (others_classic != n - 1 || n <= 1)
        return false;
    if (!gr_cgroup_downgrade_allowed()) {
        gr_info("cgroup", "Cannot downgrade consumer group %s to classic group because the online downgrade is "
                "disabled.", cg->g->group_id);
        return false;
    }
    if (n - 1 > gr_broker.cfg.group_max_size) {
        gr_info("cgroup", "Cannot downgrade consumer group %s to classic group because its group size is greater "
                "than classic group max size.", cg->g->group_id);
        return false;
    }
    return true;
}

/* Kafka's validateOnlineDowngradeWithReplacedMemberId: does the group
 * become a classic group when a classic member replaces the static member
 * `replaced`? */
static bool downgrade_replacing_ok(const gr_cgroup_t *cg, const gr_cmember_t *replaced)
{
    int32_t n = gr_cgroup_nmembers(cg);
    if (cg->nclassic - (replaced->classic_session_ms >= 0 ? 1 : 0) != n - 1)
        return false;
    if (!gr_cgroup_downgrade_allowed() || n > gr_broker.cfg.group_max_size) {
        gr_info("cgroup", "Cannot downgrade consumer group %s to classic group: the online downgrade is disabled "
                "or the group is larger than a classic group may be.", cg->g->group_id);
        return false;
    }
    return true;
}

/* The assignment of a classic member of a downgrade: its target, in the
 * version of the protocol the group chose. */
typedef struct down_assign {
    const gr_cgroup_t *cg;
    const gr_assign_t *targets;
} down_assign_t;

static uint8_t *down_assign(void *ctx, int32_t i, const gr_member_protocol_t *pr, int32_t *len)
{
    const down_assign_t *d = ctx;
    return encode_assignment(d->cg, &d->targets[i], pr ? proto_version(pr->metadata, pr->metadata_len) : 0, len);
}

/* Kafka's convertToClassicGroup: r (atomic) gets the consumer group's
 * tombstones and the classic group's GroupMetadata, whose replay makes the
 * classic group (coord.c), Stable at the group epoch with each member's
 * target as its assignment.  Without `joining` (a member left) its members
 * must then rejoin (downgrade_written); with it (a classic static member
 * replacing `leaving`, not in the group), that member takes the leaving
 * one's assignment and the group stays Stable.  cg is not changed. */
static void downgrade(gr_cgroup_t *cg, gr_cmember_t *leaving, const gr_cmember_t *joining, gr_crt_result_t *r)
{
    gr_group_t *g = cg->g;
    const char *gid = g->group_id;
    assert(r->nrec == 0 && !(r->flags & GR_CRT_NO_REPLAY));
    gr_cgroup_add_tombstones(r, g);
    int32_t n = gr_cgroup_nmembers(cg) - 1 + (joining ? 1 : 0), k = 0;
    gr_group_adopt_member_t *ms = gr_calloc((size_t)GR_MAX(n, 1), sizeof(*ms));
    gr_arena_t a;
    gr_arena_init(&a);
    const gr_cmember_t *m = gr_cgroup_next(cg, NULL);
    bool at_joining = false;    /* last: the member replacing `leaving` */
    for (;;) {
        if (!m && joining && !at_joining) {
            m = joining;
            at_joining = true;
        }
        if (!m)
            break;
        if (m == leaving || k >= n) {
            m = at_joining ? NULL : gr_cgroup_next(cg, (gr_cmember_t *)m);
            continue;
        }
        /* every member left is a classic one (downgrade_ok) */
        assert(m->classic_session_ms >= 0);
        gr_join_protocol_t *jp = gr_arena_calloc(&a, (size_t)GR_MAX(m->nprotos, 1), sizeof(*jp));
        for (int32_t i = 0; i < m->nprotos; i++)
            jp[i] = (gr_join_protocol_t){gr_arena_strndup(&a, m->protos[i].name, strlen(m->protos[i].name)),
                                         m->protos[i].metadata, m->protos[i].len};
        ms[k++] = (gr_group_adopt_member_t){
            .member_id = gr_arena_strndup(&a, m->member_id, strlen(m->member_id)),
            .instance_id = m->instance_id ? gr_arena_strndup(&a, m->instance_id, strlen(m->instance_id)) : NULL,
            .client_id = gr_arena_strndup(&a, m->client_id, strlen(m->client_id)),
            .client_host = gr_arena_strndup(&a, m->client_host, strlen(m->client_host)),
            .session_timeout_ms = m->classic_session_ms,
            .rebalance_timeout_ms = m->rebalance_timeout_ms,
            .protocols = jp,
            .nprotocols = m->nprotos,
        };
        m = at_joining ? NULL : gr_cgroup_next(cg, (gr_cmember_t *)m);
    }
    assert(k == n);                 /* `leaving` was a member, `joining` was not */
    /* the targets, as each member's assignment once the protocol is chosen */
    gr_assign_t *targets = gr_calloc((size_t)GR_MAX(k, 1), sizeof(*targets));
    for (int32_t i = 0; i < k; i++) {
        const gr_assign_t *t = gr_cgroup_target(cg, joining && !strcmp(ms[i].member_id, joining->member_id)
                                                        ? leaving->member_id : ms[i].member_id);
        if (t)
            gr_assign_copy(&targets[i], t);
    }
    gr_info("cgroup", "[GroupId %s] Downgrading the consumer group to a classic group with %d members (generation %d).",
            gid, k, cg->group_epoch);
    gr_wr_t k2, v;
    gr_wr_init(&k2);
    gr_wr_init(&v);
    host->group_key(&k2, gid, strlen(gid));
    down_assign_t d = {cg, targets};
    gr_group_downgrade_value(&v, g, ms, k, cg->group_epoch, down_assign, &d);
    add_rec(r, &k2, &v);
    for (int32_t j = 0; j < k; j++)
        gr_assign_free(&targets[j]);
    free(targets);
    free(ms);
    gr_arena_free(&a);
}

/* A downgrade's records were replayed (gr_coord_write): the group is
 * classic now, and when a member left (not replaced) its members rejoin
 * (Kafka's prepareRebalance of convertToClassicGroup).  Also after the
 * write landed, for a write that was replayed again when it was appended
 * alone after a failed append of the turn (the rebalance went with the
 * rollback). */
static void downgrade_written(const char *gid, int32_t generation)
{
    gr_group_t *g = gr_group_find(gid, strlen(gid));
    if (g && g->type == GR_GROUP_CLASSIC && g->members && g->state == GR_GROUP_STABLE &&
        g->generation_id == generation)
        gr_group_rebalance_after_downgrade(g);
}

/* A write that removed member mid (NULL: every member) failed: the
 * rollback put it back without its timers, which start again as at load. */
static void restart_timers(const char *gid, const char *mid)
{
    gr_group_t *g = gr_group_find(gid, strlen(gid));
    if (!g || g->type != GR_GROUP_CONSUMER)
        return;
    if (!mid) {
        start_timers(g->cg);
        return;
    }
    gr_cmember_t *m = gr_cgroup_member(g->cg, mid);
    if (m)
        start_member_timers(m);
}

/* A leave; *downgrade_to: the generation of the classic group the group
 * becomes with it, else untouched. */
static gr_kerr_t hb_leave(const gr_cg_hb_t *hb, gr_crt_result_t *r, gr_cg_hb_result_t *res, const char **msg,
                          int32_t *downgrade_to)
{
    gr_group_t *g = gr_group_find(hb->group_id, strlen(hb->group_id));
    if (!g || g->type != GR_GROUP_CONSUMER) {
        *msg = "The group does not exist or is not a consumer group.";
        return KERR_GROUP_ID_NOT_FOUND;
    }
    gr_cgroup_t *cg = g->cg;
    gr_cmember_t *m;
    res->member_id = gr_strdup(hb->member_id);
    res->member_epoch = hb->member_epoch;
    if (!hb->instance_id) {
        m = gr_cgroup_member(cg, hb->member_id);
        if (!m) {
            *msg = "The member is not a member of the group.";
            return KERR_UNKNOWN_MEMBER_ID;
        }
    } else {
        m = static_member(cg, hb->instance_id);
        if (!m) {
            *msg = "Instance id is unknown.";
            return KERR_UNKNOWN_MEMBER_ID;
        }
        if (strcmp(m->member_id, hb->member_id)) {
            *msg = "Static member was fenced by another member with the same instance id.";
            return KERR_FENCED_INSTANCE_ID;
        }
        if (hb->member_epoch == GR_CG_LEAVE_STATIC_EPOCH) {
            gr_info("cgroup", "[GroupId %s] Static Member %s with instance id %s temporarily left the consumer group.",
                    g->group_id, m->member_id, m->instance_id);
            gr_assign_t none = {0, NULL};
            rec_current(r, g->group_id, m->member_id, GR_CG_LEAVE_STATIC_EPOCH, m->prev_epoch, m->state,
                        &m->assigned, &none);
            return KERR_NONE;
        }
    }
    gr_info("cgroup", "[GroupId %s] Member %s left the consumer group.", g->group_id, m->member_id);
    if (downgrade_ok(cg, m)) {
        *downgrade_to = cg->group_epoch;
        downgrade(cg, m, NULL, r);
        return KERR_NONE;
    }
    fence_records(cg, m, r);
    return KERR_NONE;
}

/* A join or update of a member: a ConsumerGroupHeartbeat with an epoch >= 0,
 * or (hb->classic) a classic member's JoinGroup.  *upgraded: the classic
 * group that becomes a consumer group with this write (the replay of its
 * GroupMetadata tombstone, first in r, takes its members out). */
static gr_kerr_t hb_join(const gr_cg_hb_t *hb, gr_crt_result_t *r, gr_cg_hb_result_t *res, const char **msg,
                         char *errbuf, size_t errlen, gr_group_t **upgraded)
{
    gr_group_t *g = gr_group_find(hb->group_id, strlen(hb->group_id));
    const char *gid = hb->group_id;
    const gr_cg_classic_t *cl = hb->classic;
    int32_t epoch = hb->member_epoch;
    bool zero = !cl && epoch == 0;  /* a consumer-protocol member (re)joining */
    bool create = cl || epoch == 0;
    gr_cgroup_t *cg = g && g->type == GR_GROUP_CONSUMER ? g->cg : NULL;
    gr_cgroup_t *fresh = NULL;      /* a group that does not exist yet: empty state */
    gr_kerr_t err = KERR_NONE;
    gr_cmember_t *cur = NULL, *upd = NULL, *replaced = NULL;
    gr_cg_topic_t *meta = NULL;
    int32_t nmeta = 0;
    gr_assign_t target = {0, NULL};
    bool had = false;
    int32_t max = gr_broker.cfg.group_consumer_max_size;
    const char *mid = hb->member_id ? hb->member_id : "";
    char gen[23];
    *upgraded = NULL;
    if (!cg) {
        if (!create) {
            *msg = "The group does not exist or is not a consumer group.";
            return g ? KERR_GROUP_ID_NOT_FOUND : KERR_UNKNOWN_MEMBER_ID;
        }
        /* Kafka's isEmptyClassicGroup: Empty, whatever members are pending
         * (KIP-394); they are dropped with the classic group */
        bool live = g && (g->nmembers > 0 || g->state != GR_GROUP_EMPTY);
        if (live && (cl || !upgrade_ok(g))) {
            snprintf(errbuf, errlen, "Group %s is not a consumer group", gid);
            *msg = errbuf;
            return KERR_GROUP_ID_NOT_FOUND;
        }
        if (g && (g->generation_id > 0 || g->protocol_type || live)) {
            /* the classic group is replaced (its GroupMetadata goes) */
            gr_wr_t k;
            gr_wr_init(&k);
            host->group_key(&k, gid, strlen(gid));
            add_rec(r, &k, NULL);
        }
        fresh = cgroup_new(g);
        cg = fresh;
        if (live && (err = upgrade_members(g, cg, r, msg, errbuf, errlen)) != KERR_NONE)
            goto out;
        if (g && (live || g->npending > 0))
            *upgraded = g;
    }
    if (gr_cgroup_nmembers(cg) >= max && (!mid[0] || !gr_cgroup_member(cg, mid))) {
        *msg = "The consumer group has reached its maximum capacity.";
        err = KERR_GROUP_MAX_SIZE_REACHED;
        goto out;
    }
    if (!mid[0]) {
        random_member_id(gen);
        mid = gen;
    }
    /* the member */
    if (!hb->instance_id) {
        cur = gr_cgroup_member(cg, mid);
        if (!cur && !create) {
            *msg = "The member is not a member of the group.";
            err = KERR_UNKNOWN_MEMBER_ID;
            goto out;
        }
        if (cur && zero) {
            /* a member (re)joining with epoch 0 owns nothing: it starts over
             * from its target, giving up what it held */
            upd = member_clone(cur, NULL);
            upd->epoch = upd->prev_epoch = 0;
            upd->state = GR_CM_STABLE;
            gr_assign_free(&upd->assigned);
            gr_assign_free(&upd->revoking);
        } else if (cur && !cl && (err = check_epoch(cur, epoch, hb, msg)) != KERR_NONE) {
            goto out;
        }
    } else {
        gr_cmember_t *st = static_member(cg, hb->instance_id);
        if (cl && st && !strcmp(st->member_id, mid)) {
            cur = st;
        } else if (cl && st && !cl->unknown_member) {
            snprintf(errbuf, errlen, "Static member %s with instance id %s is fenced by existing member %s.", mid,
                     hb->instance_id, st->member_id);
            *msg = errbuf;
            err = KERR_FENCED_INSTANCE_ID;
            goto out;
        } else if (create) {
            if (st) {
                if (!cl && st->classic_session_ms < 0 && st->epoch != GR_CG_LEAVE_STATIC_EPOCH) {
                    *msg = "The instance id is still owned by another member of the group.";
                    err = KERR_UNRELEASED_INSTANCE_ID;
                    goto out;
                }
                /* the static member comes back: a new member id, its
                 * assignment kept */
                upd = member_clone(st, mid);
                upd->epoch = upd->prev_epoch = 0;
                upd->state = GR_CM_STABLE;
                gr_assign_free(&upd->revoking);
                replaced = st;
                remove_member_records(cg, st, r);
                gr_group_clock_stop(&st->session_timer);
                gr_group_clock_stop(&st->rebalance_timer);
                gr_info("cgroup", "[GroupId %s] Static member with instance id %s re-joins the consumer group using "
                        "the %s protocol. Created a new member %s to replace the existing member %s.", gid,
                        hb->instance_id, cl ? "classic" : "consumer", mid, st->member_id);
            } else {
                cur = gr_cgroup_member(cg, mid);
            }
        } else {
            if (!st) {
                *msg = "Instance id is unknown.";
                err = KERR_UNKNOWN_MEMBER_ID;
                goto out;
            }
            if (strcmp(st->member_id, mid)) {
                *msg = "Static member was fenced by another member with the same instance id.";
                err = KERR_FENCED_INSTANCE_ID;
                goto out;
            }
            if ((err = check_epoch(st, epoch, hb, msg)) != KERR_NONE)
                goto out;
            cur = st;
        }
    }
    had = cur != NULL && !upd;
    if (!upd)
        upd = cur ? member_clone(cur, NULL) : member_alloc(mid);
    if (!cur && !replaced)
        gr_info("cgroup", "[GroupId %s] Member %s joins the consumer group using the %s protocol.", gid, mid,
                cl ? "classic" : "consumer");
    /* the updates the request carries */
    if (hb->instance_id) {
        free(upd->instance_id);
        upd->instance_id = gr_strdup(hb->instance_id);
    }
    if (hb->rack_id) {
        free(upd->rack_id);
        upd->rack_id = gr_strdup(hb->rack_id);
    }
    if (hb->rebalance_timeout_ms != -1)
        upd->rebalance_timeout_ms = GR_MIN(hb->rebalance_timeout_ms, gr_group_max_rebalance_timeout_ms());
    if (hb->server_assignor) {
        free(upd->server_assignor);
        upd->server_assignor = gr_strdup(gr_assignor_canonical(hb->server_assignor));
    }
    if (hb->topics) {
        strv_free(upd->topics, upd->ntopics);
        upd->topics = gr_calloc((size_t)GR_MAX(hb->ntopics, 1), sizeof(char *));
        for (int32_t i = 0; i < hb->ntopics; i++)
            upd->topics[i] = gr_strdup(hb->topics[i]);
        upd->ntopics = strv_norm(upd->topics, hb->ntopics);
    }
    if (hb->regex) {
        free(upd->regex);
        upd->regex = hb->regex[0] ? gr_strdup(hb->regex) : NULL;
    }
    free(upd->client_id);
    upd->client_id = gr_strdup(hb->client_id ? hb->client_id : "");
    free(upd->client_host);
    upd->client_host = gr_strdup(hb->client_host ? hb->client_host : "");
    if (cl) {
        upd->classic_session_ms = GR_MAX(cl->session_timeout_ms, 0);
        protos_set(upd, cl->protocols, cl->nprotocols);
    } else {
        upd->classic_session_ms = -1;
        protos_free(upd->protos, upd->nprotos);
        upd->protos = NULL;
        upd->nprotos = 0;
    }

    /* 1. member and group epoch */
    const gr_cmember_t *old = replaced ? replaced : cur;
    bool bump = cg->group_epoch == 0;
    if (!old || !metadata_eq(old, upd) || replaced || (cur && !had))
        rec_member(r, gid, upd);
    if (!old || !subscription_eq(old, upd))
        bump = true;
    pending_res_t pend = {NULL, 0};
    if ((err = hb_regexes(cg, gid, old, upd, r, &bump, &pend, msg, errbuf, errlen)) != KERR_NONE)
        goto out;
    pending_swap(&pend);
    {
        /* a regex resolved by this very write: the metadata and the target
         * below see its topics through a temporary entry */
        count_ent_t *tmp = NULL;
        if (has_regex(upd)) {
            count_ent_t *e = count_find(&cg->regexes, upd->regex);
            if (!e || !e->resolved) {
                char **topics = NULL;
                int32_t n = 0;
                if (resolve_regex(upd->regex, &topics, &n, errbuf, errlen) == 0) {
                    tmp = count_get(&cg->regexes, upd->regex);
                    tmp->topics = topics;
                    tmp->ntopics = n;
                    tmp->resolved = true;
                }
            }
        }
        compute_meta(cg, old, upd, replaced && cur ? cur : NULL, &meta, &nmeta);
        if (!meta_eq(meta, nmeta, cg->meta, cg->nmeta)) {
            rec_meta(r, gid, meta, nmeta);
            bump = true;
        }
        int32_t group_epoch = cg->group_epoch;
        if (bump) {
            group_epoch++;
            rec_epoch(r, REC_METADATA, gid, group_epoch);
            gr_info("cgroup", "[GroupId %s] Bumped group epoch to %d.", gid, group_epoch);
        }
        /* 2. target assignment */
        int32_t target_epoch;
        if (group_epoch > cg->assignment_epoch) {
            update_target(cg, gid, group_epoch, upd, replaced, NULL, meta, nmeta, r, &target);
            target_epoch = group_epoch;
        } else {
            target_epoch = cg->assignment_epoch;
            const gr_assign_t *t = gr_cgroup_target(cg, replaced ? replaced->member_id : mid);
            if (t)
                gr_assign_copy(&target, t);
        }
        if (replaced && group_epoch <= cg->assignment_epoch)
            rec_target(r, gid, mid, &target);
        if (tmp) {
            tmp->resolved = false;
            strv_free(tmp->topics, tmp->ntopics);
            tmp->topics = NULL;
            tmp->ntopics = 0;
            count_drop_if_unused(&cg->regexes, tmp);
        }
        pending_swap(&pend);
        pending_free(&pend);
        /* 3. reconcile */
        gr_cg_current_t c = {upd->epoch, upd->prev_epoch, upd->state, upd->assigned, upd->revoking}, n;
        bool reconciled = reconciled_to(upd, target_epoch) && !(cur && zero && cur->epoch != 0);
        if (!reconciled) {
            if ((err = gr_cgroup_reconcile(&c, target_epoch, &target, pepoch_of, cg, hb->owned, hb->nowned, &n)) !=
                KERR_NONE) {
                *msg = "The consumer group member is in a unknown state. The member must abandon all its partitions "
                       "and rejoin.";
                goto out;
            }
            bool same = cur && n.epoch == cur->epoch && n.prev_epoch == cur->prev_epoch &&
                        n.state == cur->state && gr_assign_eq(&n.assigned, &cur->assigned) &&
                        gr_assign_eq(&n.revoking, &cur->revoking) && !replaced && !(cur && zero);
            if (!same)
                rec_current(r, gid, mid, n.epoch, n.prev_epoch, n.state, &n.assigned, &n.revoking);
            upd->epoch = n.epoch;
            upd->prev_epoch = n.prev_epoch;
            upd->state = n.state;
            gr_assign_free(&upd->assigned);
            gr_assign_free(&upd->revoking);
            upd->assigned = n.assigned;
            upd->revoking = n.revoking;
        } else if (!cur || replaced) {
            rec_current(r, gid, mid, upd->epoch, upd->prev_epoch, upd->state, &upd->assigned, &upd->revoking);
        }
    }
    /* the response */
    res->member_id = gr_strdup(mid);
    res->member_epoch = upd->epoch;
    res->heartbeat_interval_ms = gr_cgroup_heartbeat_interval_ms();
    bool full = zero || (hb->rebalance_timeout_ms != -1 && hb->topics && hb->owned);
    if (full || !cur || !gr_assign_eq(&cur->assigned, &upd->assigned))
        respond_assignment(res, &upd->assigned);
    /* timers of the member once its records are in (rescheduled below when
     * it exists already) */
    if (cur && !replaced && !*upgraded)
        schedule_session(cur, cl ? GR_MAX(cl->session_timeout_ms, 0) : gr_cgroup_session_timeout_ms());
    if (cl && replaced && downgrade_replacing_ok(cg, replaced)) {
        /* the last consumer-protocol member was a static member that a
         * classic one replaces: the group is classic again, the new member
         * holds what the old one held */
        int32_t generation = cg->group_epoch, part = r->part;
        gr_crt_result_free(r);
        gr_crt_result_init(r, coord_rt(), part, GR_CRT_ATOMIC);
        downgrade(cg, replaced, upd, r);
        res->member_epoch = generation;
    }
out:
    if (err != KERR_NONE) {
        gr_crt_result_free(r);
        gr_crt_result_init(r, coord_rt(), partition_of(gid, strlen(gid)), GR_CRT_ATOMIC);
    }
    gr_assign_free(&target);
    meta_free(meta, nmeta);
    member_free(upd);
    if (fresh) {
        fresh->g = NULL;
        gr_cgroup_free(fresh);
    }
    return err;
}

typedef struct hb_ctx {
    write_ctx_t w;
    char *gid;
    char *mid;
    bool leave;
    bool classic;                   /* a classic member's JoinGroup */
    bool upgraded;                  /* the write made a classic group a consumer group */
    int32_t downgrade_to;           /* >= 0: a leave made it a classic group of this generation */
    char msg[GR_CG_MAX_MSG];
} hb_ctx_t;

/* After the write: the member's timers, then the answer. */
static void hb_done(void *arg, gr_kerr_t err)
{
    hb_ctx_t *c = arg;
    if (err != KERR_NONE && c->upgraded)
        gr_warn("cgroup", "Group %s stays a classic group: its upgrade could not be written", c->gid);
    if (err == KERR_NONE && c->downgrade_to >= 0)
        downgrade_written(c->gid, c->downgrade_to);
    else if (err != KERR_NONE && c->leave)
        restart_timers(c->gid, c->downgrade_to >= 0 ? NULL : c->mid);
    if (err == KERR_NONE && c->w.res.error == KERR_NONE && !c->leave) {
        gr_group_t *g = gr_group_find(c->gid, strlen(c->gid));
        gr_cmember_t *m = g && g->type == GR_GROUP_CONSUMER ? gr_cgroup_member(g->cg, c->mid) : NULL;
        if (c->upgraded && m) {
            /* the sessions of the classic members start now */
            for (gr_cmember_t *o = gr_cgroup_next(m->cg, NULL); o; o = gr_cgroup_next(m->cg, o))
                if (o->classic_session_ms >= 0)
                    schedule_session(o, o->classic_session_ms);
        }
        if (m && m->classic_session_ms >= 0) {
            cancel_join(m);
            schedule_session(m, m->classic_session_ms);
            if (c->classic) {
                gr_group_clock_stop(&m->sync_timer);
                gr_group_clock_start(&m->sync_timer, GR_MAX(m->rebalance_timeout_ms, 0));
            }
        } else if (m) {
            schedule_session(m, gr_cgroup_session_timeout_ms());
            schedule_rebalance(m);
        }
    }
    free(c->gid);
    free(c->mid);
    write_done(&c->w, err);
}

static void hb_done_wrap(void *arg, gr_kerr_t err)
{
    hb_done(arg, err);
}

void gr_cgroup_heartbeat(const gr_cg_hb_t *hb, gr_cg_hb_cb *cb, void *arg)
{
    hb_ctx_t *c = gr_calloc(1, sizeof(*c));
    c->w.cb = cb;
    c->w.arg = arg;
    c->gid = gr_strdup(hb->group_id);
    c->leave = !hb->classic && hb->member_epoch < 0;
    c->classic = hb->classic != NULL;
    /* a classic member's subscription, owned partitions and rack come from
     * its ConsumerProtocolSubscription (checked by
     * gr_cgroup_classic_join_check) */
    gr_arena_t sa;
    gr_arena_init(&sa);
    gr_cg_hb_t h2;
    if (hb->classic) {
        h2 = *hb;
        csub_t sub;
        const gr_join_protocol_t *p0 = &hb->classic->protocols[0];
        if (decode_subscription(p0->metadata, p0->metadata_len, &sa, &sub) < 0)
            memset(&sub, 0, sizeof(sub));
        h2.topics = sub.topics ? sub.topics : gr_arena_calloc(&sa, 1, sizeof(char *));
        h2.ntopics = sub.ntopics;
        h2.owned = sub.owned ? sub.owned : gr_arena_calloc(&sa, 1, sizeof(gr_cg_owned_t));
        h2.nowned = sub.nowned;
        h2.rack_id = sub.rack;
        h2.member_epoch = 0;
        hb = &h2;
    }
    char errbuf[GR_CG_MAX_MSG];
    const char *msg = NULL;
    gr_group_t *upgraded = NULL;
    gr_crt_result_t r;
    gr_crt_result_init(&r, coord_rt(), partition_of(hb->group_id, strlen(hb->group_id)), GR_CRT_ATOMIC);
    c->downgrade_to = -1;
    gr_kerr_t err = c->leave ? hb_leave(hb, &r, &c->w.res, &msg, &c->downgrade_to)
                             : hb_join(hb, &r, &c->w.res, &msg, errbuf, sizeof(errbuf), &upgraded);
    /* the classic members become the consumer group's when the records are
     * replayed (the GroupMetadata tombstone comes first) */
    c->upgraded = err == KERR_NONE && upgraded;
    c->w.res.error = err;
    if (err != KERR_NONE) {
        snprintf(c->msg, sizeof(c->msg), "%s", msg ? msg : "");
        c->w.res.message = msg ? c->msg : NULL;
        free(c->w.res.member_id);
        c->w.res.member_id = NULL;
        gr_assign_free(&c->w.res.assignment);
        c->w.res.has_assignment = false;
    }
    c->mid = gr_strdup(c->w.res.member_id ? c->w.res.member_id : "");
    gr_arena_free(&sa);
    int32_t downgrade_to = c->downgrade_to;
    char *gid = downgrade_to >= 0 ? gr_strdup(c->gid) : NULL;
    coord_write(&r, hb_done_wrap, c, NULL);
    if (gid)
        downgrade_written(gid, downgrade_to);
    free(gid);
}

/* ------------------------------------------------------------ classic members */

gr_kerr_t gr_cgroup_classic_join_check(gr_group_t *g, const char *member_id, const char *instance_id,
                                       const char *protocol_type, const gr_join_protocol_t *protocols,
                                       int32_t nprotocols, bool require_known_member_id, char **out_member_id)
{
    gr_cgroup_t *cg = g->cg;
    *out_member_id = NULL;
    char gen[23];
    const char *mid = member_id;
    if (!mid[0]) {
        random_member_id(gen);
        mid = gen;
    }
    /* throwIfConsumerGroupIsFull */
    if (gr_cgroup_nmembers(cg) >= gr_broker.cfg.group_consumer_max_size && (!member_id[0] ||
                                                                             !gr_cgroup_member(cg, member_id)))
        return KERR_GROUP_MAX_SIZE_REACHED;
    /* throwIfClassicProtocolIsNotSupported: "consumer", and a protocol every
     * classic member supports (any, when there is none) */
    if (!protocol_type || strcmp(protocol_type, "consumer") || nprotocols <= 0)
        return KERR_INCONSISTENT_GROUP_PROTOCOL;
    bool any = cg->nclassic == 0;
    if (!any) {
        /* how many classic members support each protocol name (Kafka's
         * classicProtocolMembersSupportedProtocols), in time linear in the
         * members' protocols and the request's */
        gr_hmap_t votes;
        gr_hmap_init(&votes, 16);
        int64_t serial = 0;
        for (gr_cmember_t *m = gr_cgroup_next(cg, NULL); m; m = gr_cgroup_next(cg, m)) {
            if (m->classic_session_ms < 0)
                continue;
            serial++;
            for (int32_t k = 0; k < m->nprotos; k++) {
                count_ent_t *e = count_get(&votes, m->protos[k].name);
                if (e->version != serial) {     /* once per member */
                    e->version = serial;
                    e->count++;
                }
            }
        }
        for (int32_t i = 0; i < nprotocols && !any; i++) {
            count_ent_t *e = count_find(&votes, protocols[i].name ? protocols[i].name : "");
            any = e && e->count == cg->nclassic;
        }
        count_map_free(&votes);
    }
    if (!any)
        return KERR_INCONSISTENT_GROUP_PROTOCOL;
    *out_member_id = gr_strdup(mid);
    if (require_known_member_id && !instance_id && !member_id[0]) {
        gr_info("cgroup", "[GroupId %s] Dynamic member with unknown member id joins the consumer group. Created a "
                "new member id %s and requesting the member to rejoin with this id.", g->group_id, mid);
        return KERR_MEMBER_ID_REQUIRED;
    }
    /* the subscription must be one (Kafka: an IllegalStateException, so
     * UNKNOWN_SERVER_ERROR) */
    gr_arena_t a;
    gr_arena_init(&a);
    csub_t sub;
    int rc = decode_subscription(protocols[0].metadata, protocols[0].metadata_len, &a, &sub);
    gr_arena_free(&a);
    return rc < 0 ? KERR_UNKNOWN_SERVER_ERROR : KERR_NONE;
}

/* The member a classic request names (validateConsumerGroupMember +
 * throwIfMemberDoesNotUseClassicProtocol). */
static gr_kerr_t classic_member(gr_cgroup_t *cg, const char *mid, const char *iid, gr_cmember_t **out)
{
    gr_cmember_t *m;
    if (!iid) {
        m = gr_cgroup_member(cg, mid ? mid : "");
        if (!m)
            return KERR_UNKNOWN_MEMBER_ID;
    } else {
        m = static_member(cg, iid);
        if (!m)
            return KERR_UNKNOWN_MEMBER_ID;
        if (strcmp(m->member_id, mid ? mid : ""))
            return KERR_FENCED_INSTANCE_ID;
    }
    if (m->classic_session_ms < 0)
        return KERR_UNKNOWN_MEMBER_ID;
    *out = m;
    return KERR_NONE;
}

/* ConsumerGroup.waitingOnUnreleasedPartition */
static bool waiting_on_unreleased(const gr_cgroup_t *cg, const gr_cmember_t *m)
{
    if (m->state != GR_CM_UNRELEASED_PARTITIONS)
        return false;
    const gr_assign_t *t = gr_cgroup_target(cg, m->member_id);
    if (!t)
        return false;
    for (int32_t i = 0; i < t->n; i++)
        for (int32_t k = 0; k < t->t[i].n; k++)
            if (!gr_assign_has(&m->assigned, &t->t[i].topic, t->t[i].p[k]) &&
                pepoch_find(cg, &t->t[i].topic, t->t[i].p[k]))
                return true;
    return false;
}

gr_kerr_t gr_cgroup_classic_sync(gr_group_t *g, const char *member_id, const char *instance_id, int32_t generation,
                                 const char *protocol_type, const char *protocol_name, uint8_t **out, int32_t *len)
{
    gr_cgroup_t *cg = g->cg;
    gr_cmember_t *m = NULL;
    *out = NULL;
    *len = 0;
    gr_kerr_t err = classic_member(cg, member_id, instance_id, &m);
    if (err != KERR_NONE)
        return err;
    if (generation != m->epoch)
        return KERR_ILLEGAL_GENERATION;
    const char *name = m->nprotos > 0 ? m->protos[0].name : "";
    if ((protocol_type && strcmp(protocol_type, "consumer")) || (protocol_name && strcmp(protocol_name, name)))
        return KERR_INCONSISTENT_GROUP_PROTOCOL;
    /* throwIfRebalanceInProgress */
    if (cg->group_epoch > m->epoch && m->state != GR_CM_UNREVOKED_PARTITIONS) {
        schedule_join_if_absent(m);
        return KERR_REBALANCE_IN_PROGRESS;
    }
    gr_group_clock_stop(&m->sync_timer);
    schedule_session(m, m->classic_session_ms);
    *out = encode_assignment(cg, &m->assigned, m->nprotos > 0 ? proto_version(m->protos[0].metadata,
                                                                                m->protos[0].len) : 0, len);
    return KERR_NONE;
}

gr_kerr_t gr_cgroup_classic_heartbeat(gr_group_t *g, const char *member_id, const char *instance_id,
                                      int32_t generation)
{
    gr_cgroup_t *cg = g->cg;
    gr_cmember_t *m = NULL;
    gr_kerr_t err = classic_member(cg, member_id, instance_id, &m);
    if (err != KERR_NONE)
        return err;
    if (generation != m->epoch)
        return KERR_ILLEGAL_GENERATION;
    schedule_session(m, m->classic_session_ms);
    /* it must rejoin when the group epoch moved on, when it must revoke, or
     * when the partitions it waits for were released */
    if (m->epoch < cg->group_epoch || m->state == GR_CM_UNREVOKED_PARTITIONS ||
        (m->state == GR_CM_UNRELEASED_PARTITIONS && !waiting_on_unreleased(cg, m))) {
        schedule_join_if_absent(m);
        return KERR_REBALANCE_IN_PROGRESS;
    }
    return KERR_NONE;
}

bool gr_cgroup_classic_leave(gr_group_t *g, gr_leave_member_t *members, int32_t n, gr_arena_t *a,
                             void (*cb)(void *arg, gr_kerr_t err), void *arg)
{
    gr_cgroup_t *cg = g->cg;
    gr_crt_result_t r;
    gr_crt_result_init(&r, coord_rt(), g->coord_partition, GR_CRT_ATOMIC);
    gr_cmember_t *first = NULL;
    int32_t left = 0;
    for (int32_t i = 0; i < n; i++) {
        gr_leave_member_t *lm = &members[i];
        const char *mid = lm->member_id ? lm->member_id : "";
        gr_cmember_t *m = NULL;
        if (!lm->group_instance_id) {
            m = gr_cgroup_member(cg, mid);
            lm->error = !m || m->classic_session_ms < 0 ? KERR_UNKNOWN_MEMBER_ID : KERR_NONE;
        } else {
            m = static_member(cg, lm->group_instance_id);
            if (!m)
                lm->error = KERR_UNKNOWN_MEMBER_ID;
            else if (mid[0] && strcmp(mid, m->member_id))
                lm->error = KERR_FENCED_INSTANCE_ID;
            else
                lm->error = m->classic_session_ms < 0 ? KERR_UNKNOWN_MEMBER_ID : KERR_NONE;
        }
        if (lm->error != KERR_NONE)
            continue;
        gr_info("cgroup", "[GroupId %s] %s Member %s has left group through explicit `LeaveGroup` request; client "
                "reason: %s", g->group_id, lm->group_instance_id ? "Static" : "Dynamic", m->member_id,
                lm->reason ? lm->reason : "not provided");
        if (lm->group_instance_id && !mid[0])
            lm->member_id = gr_arena_strndup(a, m->member_id, strlen(m->member_id));
        remove_member_records(cg, m, &r);
        cancel_join(m);
        gr_group_clock_stop(&m->sync_timer);
        gr_group_clock_stop(&m->session_timer);
        if (!first)
            first = m;
        left++;
    }
    if (!left) {
        gr_crt_result_free(&r);
        return false;
    }
    /* the subscription metadata without the first of them (the others' go
     * at the next heartbeat that recomputes it) */
    gr_cg_topic_t *meta;
    int32_t nmeta;
    compute_meta(cg, first, NULL, NULL, &meta, &nmeta);
    if (!meta_eq(meta, nmeta, cg->meta, cg->nmeta))
        rec_meta(&r, g->group_id, meta, nmeta);
    meta_free(meta, nmeta);
    rec_epoch(&r, REC_METADATA, g->group_id, cg->group_epoch + 1);
    coord_write(&r, cb, arg, "Classic members leaving a consumer group");
    return true;
}

/* ------------------------------------------------------------ offsets */

gr_kerr_t gr_cgroup_validate_commit(gr_group_t *g, const char *member_id, int32_t epoch, bool txn,
                                    int16_t api_version)
{
    gr_cgroup_t *cg = g->cg;
    if (epoch < 0 && gr_cgroup_nmembers(cg) == 0)
        return KERR_NONE;
    gr_cmember_t *m = gr_cgroup_member(cg, member_id ? member_id : "");
    if (!m)
        return KERR_UNKNOWN_MEMBER_ID;
    if (!txn && m->classic_session_ms < 0 && api_version < 9)
        return KERR_UNSUPPORTED_VERSION;
    if (epoch != m->epoch)
        return m->classic_session_ms >= 0 ? KERR_ILLEGAL_GENERATION : KERR_STALE_MEMBER_EPOCH;
    return KERR_NONE;
}

gr_kerr_t gr_cgroup_validate_fetch(gr_group_t *g, const char *member_id, int32_t epoch)
{
    if (!member_id && epoch < 0)
        return KERR_NONE;
    gr_cmember_t *m = gr_cgroup_member(g->cg, member_id ? member_id : "");
    if (!m)
        return KERR_UNKNOWN_MEMBER_ID;
    if (epoch != m->epoch)
        return m->classic_session_ms >= 0 ? KERR_ILLEGAL_GENERATION : KERR_STALE_MEMBER_EPOCH;
    return KERR_NONE;
}

gr_kerr_t gr_cgroup_validate_offset_delete(const gr_group_t *g)
{
    (void)g;
    return KERR_NONE;
}
