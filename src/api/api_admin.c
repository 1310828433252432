/*
 * api_admin.c - the admin APIs: CreateTopics (key 19, v0-7), DeleteTopics
 * (20, v0-6), DescribeConfigs (32, v0-4), CreatePartitions (37, v0-3),
 * IncrementalAlterConfigs (44, v0-1) and DescribeCluster (60, v0).
 *
 * Every handler answers per entity (topic or config resource): one bad
 * entry gets its own error code and message and never fails its
 * neighbours.  The codes and messages are Kafka's (the KRaft controller's
 * wording where ZooKeeper and KRaft differ, except the replication-factor
 * message, which keeps the ZooKeeper text clients have long matched on).
 * This broker is the whole cluster: one node, replication factor 1, and a
 * manual assignment may name only this node.
 *
 * Order of checks for a CreateTopics entry (first failure wins):
 *
 *   +---+------------------------------+-----------------------------+
 *   | 1 | name appears twice           | INVALID_REQUEST             |
 *   | 2 | name illegal                 | INVALID_TOPIC_EXCEPTION     |
 *   | 3 | topic exists                 | TOPIC_ALREADY_EXISTS        |
 *   | 3b| name reserved (internal)     | INVALID_REQUEST             |
 *   | 4 | name collides ('.' vs '_')   | INVALID_TOPIC_EXCEPTION     |
 *   | 5 | config unknown / null / bad  | INVALID_CONFIG              |
 *   | 6 | manual assignment malformed  | INVALID_REQUEST /           |
 *   |   |                              | INVALID_REPLICA_ASSIGNMENT  |
 *   | 7 | replication factor           | INVALID_REPLICATION_FACTOR  |
 *   | 8 | partition count              | INVALID_PARTITIONS          |
 *   | - | > 10000 partitions in total  | POLICY_VIOLATION (all)      |
 *   +---+------------------------------+-----------------------------+
 *
 * Config descriptions (DescribeConfigs, CreateTopics v5+) list each topic
 * key with its effective value; the source is the first synonym that has
 * a value: the topic override (TOPIC_CONFIG), then the broker keys that
 * supply the default (STATIC_BROKER_CONFIG when set in server.properties
 * or --override, DEFAULT_CONFIG otherwise).  Dynamic broker configs do not
 * exist here: broker keys are read-only and altering them is refused.
 *
 * Internal topics.  Only the broker creates them (__consumer_offsets; the
 * names Kafka reserves, __transaction_state, __share_group_state and
 * __cluster_metadata, are refused with the error and message Kafka's
 * controller gives for __cluster_metadata).  Their data is the broker's
 * state, so where Kafka's broker leaves the protection to its tools, the
 * requests that would lose it are refused here: DeleteTopics (the text of
 * kafka-topics' refusal), CreatePartitions (a group's partition is its
 * hash modulo the partition count: the text of kafka-topics' refusal, with
 * INVALID_TOPIC_EXCEPTION as Kafka's broker answers other operations on
 * internal topics), and IncrementalAlterConfigs that would let retention
 * delete them or their coordinator's writes fail
 * (gr_topic_config_internal_check; POLICY_VIOLATION, what Kafka answers
 * when an alter-config policy refuses a change).
 *
 * Everything a handler builds lives in req->arena; nothing outlives the
 * handler, and no handler parks.
 */
#include "api_util.h"
#include "broker.h"
#include "kerr.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ConfigResource.Type ids */
enum { RT_TOPIC = 2, RT_GROUP = 3, RT_BROKER = 4, RT_BROKER_LOGGER = 8, RT_CLIENT_METRICS = 16 };
/* DescribeConfigsResponse.ConfigSource ids */
enum { CS_TOPIC_CONFIG = 1, CS_STATIC_BROKER_CONFIG = 4, CS_DEFAULT_CONFIG = 5 };
/* AlterConfigOp.OpType ids */
enum { OP_SET = 0, OP_DELETE = 1, OP_APPEND = 2, OP_SUBTRACT = 3 };

/* Kafka's cap on partitions created by one request (MAX_RECORDS_PER_USER_OP). */
#define MAX_PARTITIONS_PER_REQUEST 10000

/* --------------------------------------------------------------- helpers */

/* A wire string (config names and values, broker ids) as a C string in
 * the arena, "" for null: in the held form of jstr.h, so that a NUL inside
 * cannot cut "retention.ms\0junk" down to a valid key or value. */
static char *cstr(gr_req_t *req, gr_str_t s)
{
    const char *h = gr_req_held(req, s);
    return (char *)(h ? h : "");
}

static gr_str_t str_of(const char *s)
{
    return s ? (gr_str_t){s, (int32_t)strlen(s)} : GR_STR_NULL;
}

/* first[i] = index of the first entry whose (tag, name) equals entry i's:
 * a gr_keyset in the arena, so a request with a million names costs linear
 * time.  tags may be NULL. */
static int32_t *find_firsts(gr_req_t *req, const gr_str_t *names, const int8_t *tags, int32_t n)
{
    int32_t *first = gr_arena_alloc(&req->arena, sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    gr_keyset_t seen;
    gr_keyset_init(req, &seen, n);
    for (int32_t i = 0; i < n; i++)
        first[i] = gr_keyset_put(&seen, names[i].p, names[i].len, tags ? tags[i] : 0, i)->first;
    return first;
}

/* dup[i]: entry i shares its key with another entry. */
/* Flags every entry whose key appears more than once; *distinct (if not
 * NULL) gets the number of distinct keys, i.e. of response entries. */
static bool *mark_dups(gr_req_t *req, const int32_t *first, int32_t n, int32_t *distinct)
{
    bool *dup = gr_arena_calloc(&req->arena, (size_t)(n > 0 ? n : 1), sizeof(bool));
    int32_t d = 0;
    for (int32_t i = 0; i < n; i++) {
        if (first[i] != i)
            dup[i] = dup[first[i]] = true;
        else
            d++;
    }
    if (distinct)
        *distinct = d;
    return dup;
}

/* Kafka's Topic.validate() message for an illegal name, or NULL. */
static gr_str_t name_error(gr_req_t *req, gr_str_t name)
{
    int32_t len = name.len > 0 ? name.len : 0;
    if (gr_topic_validate_name(name.p, (size_t)len) == GR_SERR_NONE)
        return GR_STR_NULL;
    if (len == 0)
        return gr_req_printf(req, "Topic name is illegal, it can't be empty");
    if ((len == 1 && name.p[0] == '.') || (len == 2 && name.p[0] == '.' && name.p[1] == '.'))
        return gr_req_printf(req, "Topic name cannot be \".\" or \"..\"");
    if (len > 249)
        return gr_req_printf(req, "Topic name is illegal, it can't be longer than 249 characters, Topic name: %.*s", (int)len,
                    name.p);
    return gr_req_printf(req,
                "Topic name \"%.*s\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' "
                "and '-'",
                (int)len, name.p);
}

/* Check the broker ids of one manual partition assignment: a message for
 * INVALID_REPLICA_ASSIGNMENT, or null when it is fine. */
static gr_str_t replicas_error(gr_req_t *req, const int32_t *ids, int32_t n)
{
    if (n <= 0)
        return gr_req_printf(req, "The manual partition assignment includes an empty replica list.");
    for (int32_t i = 0; i < n; i++)
        for (int32_t j = 0; j < i; j++)
            if (ids[i] == ids[j])
                return gr_req_printf(req, "The manual partition assignment includes the broker %" PRId32 " more than once.",
                            ids[i]);
    for (int32_t i = 0; i < n; i++)
        if (ids[i] != gr_broker.cfg.node_id)
            return gr_req_printf(req,
                        "The manual partition assignment includes broker %" PRId32
                        ", but no broker with that ID is registered.",
                        ids[i]);
    return GR_STR_NULL;
}

/* ------------------------------------------------------- config entries */

typedef struct syn {
    const char *name;
    const char *value;
    int8_t source;
} syn_t;

typedef struct centry {
    const char *name;
    const char *value;          /* NULL = unset */
    const char *doc;
    int8_t source;
    int8_t type;
    bool read_only;
    int nsyn;
    syn_t syn[4];
} centry_t;

/* Broker keys with their current values, collected once per request. */
typedef struct bval {
    const char *key;
    const char *value;
    bool is_default;
} bval_t;

typedef struct bvals {
    gr_req_t *req;
    bval_t *v;
    int n, cap;
} bvals_t;

static void bvals_add(void *arg, const char *key, const char *value, bool is_default)
{
    bvals_t *b = arg;
    if (b->n == b->cap) {
        int ncap = b->cap ? b->cap * 2 : 32;
        bval_t *nv = gr_arena_alloc(&b->req->arena, sizeof(bval_t) * (size_t)ncap);
        if (b->n)
            memcpy(nv, b->v, sizeof(bval_t) * (size_t)b->n);
        b->v = nv;
        b->cap = ncap;
    }
    b->v[b->n].key = key;
    b->v[b->n].value = value ? gr_arena_strndup(&b->req->arena, value, strlen(value)) : NULL;
    b->v[b->n].is_default = is_default;
    b->n++;
}

static void bvals_load(gr_req_t *req, bvals_t *b)
{
    if (b->req)
        return;
    b->req = req;
    gr_config_foreach(&gr_broker.cfg, bvals_add, b);
}

static const bval_t *bvals_get(const bvals_t *b, const char *key)
{
    for (int i = 0; i < b->n; i++)
        if (!strcmp(b->v[i].key, key))
            return &b->v[i];
    return NULL;
}

static void add_syn(centry_t *e, const char *name, const char *value, int8_t source)
{
    if (e->nsyn < (int)GR_ARRAY_LEN(e->syn))
        e->syn[e->nsyn++] = (syn_t){name, value, source};
}

/* Add broker key `name` and its chain of fallback keys as synonyms, each
 * that has a value.  A first key this broker does not have (Kafka's
 * log.cleanup.policy) is reported with value `dflt` as DEFAULT_CONFIG when
 * dflt is not NULL. */
static void add_broker_syns(centry_t *e, const bvals_t *b, const char *name, const char *dflt)
{
    if (dflt && !bvals_get(b, name))
        add_syn(e, name, dflt, CS_DEFAULT_CONFIG);
    for (; name; name = gr_config_key_fallback(name)) {
        const bval_t *bv = bvals_get(b, name);
        if (bv && bv->value)
            add_syn(e, name, bv->value, bv->is_default ? CS_DEFAULT_CONFIG : CS_STATIC_BROKER_CONFIG);
    }
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const centry_t *)a)->name, ((const centry_t *)b)->name);
}

/* The effective configuration of a topic with overrides `ov` (key, value,
 * ..., NULL): one entry per topic key, sorted by name.  *n = count. */
static centry_t *topic_entries(gr_req_t *req, bvals_t *b, char *const *ov, int *n)
{
    bvals_load(req, b);
    int cnt = gr_topic_config_count();
    centry_t *es = gr_arena_calloc(&req->arena, (size_t)(cnt > 0 ? cnt : 1), sizeof(centry_t));
    int k = 0;
    for (int i = 0; i < cnt; i++) {
        const gr_topic_config_def_t *d = gr_topic_config_at(i);
        centry_t *e = &es[k];
        char dflt[64];
        gr_topic_config_default(&gr_broker.cfg, d, dflt, sizeof(dflt));
        const char *dv = gr_arena_strndup(&req->arena, dflt, strlen(dflt));
        const char *over = NULL;
        for (char *const *c = ov; c && c[0] && c[1]; c += 2)
            if (!strcmp(c[0], d->name))
                over = c[1];
        if (!over && gr_config_is_internal(d->name))
            continue;                       /* testing-only keys: only when set */
        k++;
        e->name = d->name;
        e->doc = d->doc;
        e->value = over ? over : dv;
        e->type = (int8_t)d->type;
        if (over)
            add_syn(e, d->name, over, CS_TOPIC_CONFIG);
        add_broker_syns(e, b, d->broker_synonym, dv);
        e->source = e->nsyn ? e->syn[0].source : CS_DEFAULT_CONFIG;
    }
    qsort(es, (size_t)k, sizeof(centry_t), cmp_entry);
    *n = k;
    return es;
}

/* The broker's own keys, in table order.  All read-only: there are no
 * dynamic broker configs. */
static centry_t *broker_entries(gr_req_t *req, bvals_t *b, int *n)
{
    bvals_load(req, b);
    centry_t *es = gr_arena_calloc(&req->arena, (size_t)(b->n > 0 ? b->n : 1), sizeof(centry_t));
    for (int i = 0; i < b->n; i++) {
        centry_t *e = &es[i];
        const bval_t *bv = &b->v[i];
        e->name = bv->key;
        e->value = bv->value;
        e->read_only = true;
        e->source = bv->is_default ? CS_DEFAULT_CONFIG : CS_STATIC_BROKER_CONFIG;
        e->type = (int8_t)gr_config_key_type(bv->key);
        add_broker_syns(e, b, bv->key, NULL);
        if (!bv->value)
            e->source = e->nsyn ? e->syn[0].source : CS_DEFAULT_CONFIG;
    }
    *n = b->n;
    return es;
}

/* ------------------------------------------------------------ CreateTopics */

typedef struct ct_plan {
    gr_kerr_t err;
    gr_str_t msg;
    int32_t npart;
    int16_t rf;
    char **configs;             /* key, value, ..., NULL (arena) */
} ct_plan_t;

/* Validate one CreateTopics entry (not a duplicate); fills p. */
static void ct_check(gr_req_t *req, const gr_CreateTopicsRequest_CreatableTopic_t *ct, ct_plan_t *p)
{
    p->err = KERR_NONE;
    p->msg = GR_STR_NULL;
    p->npart = -1;
    p->rf = -1;

    gr_str_t nm = name_error(req, ct->Name);
    if (nm.len >= 0) {
        p->err = KERR_INVALID_TOPIC_EXCEPTION;
        p->msg = nm;
        return;
    }
    /* the checks every creation makes (gr_topic_create does them again) */
    const gr_topic_t *col;
    if (gr_topic_check_new(ct->Name.p, (size_t)ct->Name.len, &col) == GR_SERR_TOPIC_EXISTS) {
        p->err = KERR_TOPIC_ALREADY_EXISTS;
        p->msg = gr_req_printf(req, "Topic '%.*s' already exists.", (int)ct->Name.len, ct->Name.p);
        return;
    }
    if (gr_topic_name_reserved(ct->Name.p, (size_t)ct->Name.len)) {
        p->err = KERR_INVALID_REQUEST;
        p->msg = gr_req_printf(req, "Creation of internal topic %.*s is prohibited.", (int)ct->Name.len, ct->Name.p);
        return;
    }
    if (col) {
        p->err = KERR_INVALID_TOPIC_EXCEPTION;
        p->msg = gr_req_printf(req, "Topic '%.*s' collides with existing topic: %s", (int)ct->Name.len, ct->Name.p, col->name);
        return;
    }

    /* configs: later entries for the same key replace earlier ones */
    int32_t nc = ct->Configs_count > 0 ? ct->Configs_count : 0;
    p->configs = gr_arena_alloc(&req->arena, sizeof(char *) * (size_t)(2 * nc + 1));
    int32_t used = 0;
    for (int32_t i = 0; i < nc; i++) {
        const gr_CreateTopicsRequest_CreatableTopicConfig_t *c = &ct->Configs[i];
        char *key = cstr(req, c->Name);
        if (c->Value.len < 0) {
            p->err = KERR_INVALID_CONFIG;
            p->msg = gr_req_printf(req, "Null value not supported for topic configs: %s", key);
            return;
        }
        const gr_topic_config_def_t *d = gr_topic_config_find(key, strlen(key));
        if (!d) {
            p->err = KERR_INVALID_CONFIG;
            p->msg = gr_req_printf(req, "Unknown topic config name: %s", key);
            return;
        }
        char *val = cstr(req, c->Value);
        char err[256];
        if (gr_topic_config_validate(d, val, err, sizeof(err)) < 0) {
            p->err = KERR_INVALID_CONFIG;
            p->msg = gr_req_printf(req, "%s", err);
            return;
        }
        int32_t k;
        for (k = 0; k < used; k += 2)
            if (!strcmp(p->configs[k], d->name))
                break;
        p->configs[k] = (char *)d->name;
        p->configs[k + 1] = val;
        if (k == used)
            used += 2;
    }
    p->configs[used] = NULL;

    int32_t na = ct->Assignments_count > 0 ? ct->Assignments_count : 0;
    if (na > 0) {
        if (ct->ReplicationFactor != -1) {
            p->err = KERR_INVALID_REQUEST;
            p->msg = gr_req_printf(req, "A manual partition assignment was specified, but replication factor was not set to -1.");
            return;
        }
        if (ct->NumPartitions != -1) {
            p->err = KERR_INVALID_REQUEST;
            p->msg = gr_req_printf(req, "A manual partition assignment was specified, but numPartitions was not set to -1.");
            return;
        }
        bool *seen = gr_arena_calloc(&req->arena, (size_t)na, sizeof(bool));
        bool gap = false;
        for (int32_t i = 0; i < na; i++) {
            const gr_CreateTopicsRequest_CreatableReplicaAssignment_t *a = &ct->Assignments[i];
            int32_t idx = a->PartitionIndex;
            if (idx >= 0 && idx < na) {
                if (seen[idx]) {
                    p->err = KERR_INVALID_REPLICA_ASSIGNMENT;
                    p->msg = gr_req_printf(req, "Found multiple manual partition assignments for partition %" PRId32, idx);
                    return;
                }
                seen[idx] = true;
            } else {
                gap = true;
            }
            gr_str_t e = replicas_error(req, a->BrokerIds, a->BrokerIds_count);
            if (e.len >= 0) {
                p->err = KERR_INVALID_REPLICA_ASSIGNMENT;
                p->msg = e;
                return;
            }
        }
        if (gap) {
            p->err = KERR_INVALID_REPLICA_ASSIGNMENT;
            p->msg = gr_req_printf(req, "partitions should be a consecutive 0-based integer sequence");
            return;
        }
        p->npart = na;
        p->rf = (int16_t)ct->Assignments[0].BrokerIds_count;
        return;
    }

    if (ct->ReplicationFactor < -1 || ct->ReplicationFactor == 0) {
        p->err = KERR_INVALID_REPLICATION_FACTOR;
        p->msg = gr_req_printf(req, "Replication factor must be larger than 0, or -1 to use the default value.");
        return;
    }
    if (ct->NumPartitions < -1 || ct->NumPartitions == 0) {
        p->err = KERR_INVALID_PARTITIONS;
        p->msg = gr_req_printf(req, "Number of partitions was set to an invalid non-positive value.");
        return;
    }
    p->npart = ct->NumPartitions == -1 ? gr_broker.cfg.num_partitions : ct->NumPartitions;
    p->rf = ct->ReplicationFactor == -1 ? (int16_t)gr_broker.cfg.default_replication_factor : ct->ReplicationFactor;
    if (p->rf > 1) {
        p->err = KERR_INVALID_REPLICATION_FACTOR;
        p->msg = gr_req_printf(req, "Replication factor: %d larger than available brokers: 1.", (int)p->rf);
        return;
    }
}

static void ct_fill_configs(gr_req_t *req, bvals_t *b, char *const *ov, gr_CreateTopicsResponse_CreatableTopicResult_t *res)
{
    int n;
    centry_t *es = topic_entries(req, b, ov, &n);
    res->Configs = GR_ARENA_ARRAY(req, gr_CreateTopicsResponse_CreatableTopicConfigs_t, n,
                                  gr_CreateTopicsResponse_CreatableTopicConfigs_init);
    res->Configs_count = n;
    for (int i = 0; i < n; i++) {
        gr_CreateTopicsResponse_CreatableTopicConfigs_t *c = &res->Configs[i];
        c->Name = str_of(es[i].name);
        c->Value = str_of(es[i].value);
        c->ReadOnly = es[i].read_only;
        c->ConfigSource = es[i].source;
        c->IsSensitive = false;
    }
}

void gr_api_create_topics(gr_req_t *req, gr_rd_t *body)
{
    gr_CreateTopicsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, CreateTopicsRequest, &r);
    int16_t v = req->api_version;
    bool validate_only = v >= 1 && r.validateOnly;
    int32_t n = r.Topics_count > 0 ? r.Topics_count : 0;

    gr_str_t *names = gr_arena_alloc(&req->arena, sizeof(gr_str_t) * (size_t)(n > 0 ? n : 1));
    for (int32_t i = 0; i < n; i++)
        names[i] = r.Topics[i].Name;
    int32_t *first = find_firsts(req, names, NULL, n);
    bool *dup = mark_dups(req, first, n, NULL);

    ct_plan_t *plan = gr_arena_calloc(&req->arena, (size_t)(n > 0 ? n : 1), sizeof(ct_plan_t));
    int64_t total = 0;
    int32_t nout = 0;
    for (int32_t i = 0; i < n; i++) {
        const gr_CreateTopicsRequest_CreatableTopic_t *ct = &r.Topics[i];
        /* Kafka's request-wide cap counts every entry as asked */
        if (ct->Assignments_count > 0)
            total += ct->Assignments_count;
        else if (ct->NumPartitions == -1)
            total += gr_broker.cfg.num_partitions;
        else if (ct->NumPartitions > 0)
            total += ct->NumPartitions;
        if (first[i] != i)
            continue;
        nout++;
        if (dup[i]) {
            plan[i].err = KERR_INVALID_REQUEST;
            plan[i].msg = gr_req_printf(req, "Duplicate topic name.");
            plan[i].npart = plan[i].rf = -1;
            continue;
        }
        ct_check(req, ct, &plan[i]);
    }
    bool too_many = total > MAX_PARTITIONS_PER_REQUEST;

    gr_CreateTopicsResponse_t resp;
    gr_CreateTopicsResponse_init(&resp);
    resp.ThrottleTimeMs = 0;
    resp.Topics = GR_ARENA_ARRAY(req, gr_CreateTopicsResponse_CreatableTopicResult_t, nout,
                                 gr_CreateTopicsResponse_CreatableTopicResult_init);
    resp.Topics_count = nout;
    bvals_t b = {0};
    int32_t o = 0;
    for (int32_t i = 0; i < n && o < nout; i++) {
        if (first[i] != i)
            continue;
        const gr_CreateTopicsRequest_CreatableTopic_t *ct = &r.Topics[i];
        gr_CreateTopicsResponse_CreatableTopicResult_t *res = &resp.Topics[o++];
        ct_plan_t *p = &plan[i];
        res->Name = ct->Name;
        res->NumPartitions = -1;
        res->ReplicationFactor = -1;
        res->Configs = NULL;
        res->Configs_count = 0;
        if (too_many) {
            p->err = KERR_POLICY_VIOLATION;
            p->msg = gr_req_printf(req, "Excessively large number of partitions per request.");
        }
        if (p->err == KERR_NONE && !validate_only) {
            char *name = cstr(req, ct->Name);
            gr_topic_t *t = NULL;
            const char *emsg = NULL;
            gr_serr_t rc = gr_topic_create(name, strlen(name), p->npart, p->configs, false, &t, &emsg);
            if (rc != GR_SERR_NONE || !t) {
                p->err = rc != GR_SERR_NONE ? gr_api_serr_kerr(rc) : KERR_UNKNOWN_SERVER_ERROR;
                p->msg = str_of(emsg);
            } else {
                res->TopicId = t->id;
                gr_info("admin", "Created topic %s (%d partitions) for %s", name, p->npart, gr_req_peer(req));
            }
        }
        res->ErrorCode = p->err;
        res->ErrorMessage = p->err == KERR_NONE ? GR_STR_NULL : p->msg;
        if (p->err == KERR_NONE && v >= 5) {
            res->NumPartitions = p->npart;
            res->ReplicationFactor = p->rf;
            res->TopicConfigErrorCode = KERR_NONE;
            ct_fill_configs(req, &b, p->configs, res);
        }
    }
    GR_RESPOND(req, CreateTopicsResponse, &resp);
}

/* ------------------------------------------------------------ DeleteTopics */

static void dt_delete(gr_req_t *req, gr_topic_t *t, gr_DeleteTopicsResponse_DeletableTopicResult_t *res)
{
    res->TopicId = t->id;
    if (t->internal) {
        res->ErrorCode = KERR_INVALID_TOPIC_EXCEPTION;
        res->ErrorMessage =
            gr_req_printf(req, "Topic %s is a Kafka internal topic and is not allowed to be marked for deletion.", t->name);
        return;
    }
    gr_info("admin", "Deleting topic %s for %s", t->name, gr_req_peer(req));
    gr_topic_delete(t);
    res->ErrorCode = KERR_NONE;
    res->ErrorMessage = GR_STR_NULL;
}

void gr_api_delete_topics(gr_req_t *req, gr_rd_t *body)
{
    gr_DeleteTopicsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, DeleteTopicsRequest, &r);
    int16_t v = req->api_version;

    /* one key per entry: by name, or (v6) by id when the name is null */
    int32_t n = v >= 6 ? r.Topics_count : r.TopicNames_count;
    if (n < 0)
        n = 0;
    gr_str_t *keys = gr_arena_alloc(&req->arena, sizeof(gr_str_t) * (size_t)(n > 0 ? n : 1));
    int8_t *tags = gr_arena_alloc(&req->arena, (size_t)(n > 0 ? n : 1));
    for (int32_t i = 0; i < n; i++) {
        if (v >= 6 && r.Topics[i].Name.len < 0) {
            keys[i] = (gr_str_t){(const char *)r.Topics[i].TopicId.b, 16};
            tags[i] = 1;
        } else {
            keys[i] = v >= 6 ? r.Topics[i].Name : r.TopicNames[i];
            tags[i] = 0;
        }
    }
    int32_t *first = find_firsts(req, keys, tags, n);
    int32_t nout;
    bool *dup = mark_dups(req, first, n, &nout);
    gr_DeleteTopicsResponse_t resp;
    gr_DeleteTopicsResponse_init(&resp);
    resp.ThrottleTimeMs = 0;
    resp.Responses = GR_ARENA_ARRAY(req, gr_DeleteTopicsResponse_DeletableTopicResult_t, nout,
                                    gr_DeleteTopicsResponse_DeletableTopicResult_init);
    resp.Responses_count = nout;
    static const gr_uuid_t zero_id;
    int32_t o = 0;
    for (int32_t i = 0; i < n && o < nout; i++) {
        if (first[i] != i)
            continue;
        gr_DeleteTopicsResponse_DeletableTopicResult_t *res = &resp.Responses[o++];
        res->TopicId = zero_id;
        res->ErrorMessage = GR_STR_NULL;
        bool by_id = tags[i] == 1;
        if (by_id) {
            res->Name = GR_STR_NULL;
            res->TopicId = r.Topics[i].TopicId;
        } else {
            res->Name = keys[i];
        }
        if (dup[i]) {
            res->ErrorCode = KERR_INVALID_REQUEST;
            res->ErrorMessage = gr_req_printf(req, by_id ? "Duplicate topic id." : "Duplicate topic name.");
            continue;
        }
        if (v >= 6 && !by_id && memcmp(r.Topics[i].TopicId.b, zero_id.b, 16)) {
            res->ErrorCode = KERR_INVALID_REQUEST;
            res->ErrorMessage = gr_req_printf(req, "You may not specify both topic name and topic id.");
            continue;
        }
        if (by_id && !memcmp(r.Topics[i].TopicId.b, zero_id.b, 16)) {
            res->ErrorCode = KERR_INVALID_REQUEST;
            res->ErrorMessage = gr_req_printf(req, "Neither topic name nor id were specified.");
            continue;
        }
        gr_topic_t *t;
        if (by_id) {
            t = gr_topic_find_id(&r.Topics[i].TopicId);
            if (!t) {
                res->ErrorCode = KERR_UNKNOWN_TOPIC_ID;
                res->ErrorMessage = gr_req_printf(req, "This server does not host this topic ID.");
                continue;
            }
            res->Name = gr_req_printf(req, "%s", t->name);
        } else {
            t = keys[i].len > 0 ? gr_topic_find(keys[i].p, (size_t)keys[i].len) : NULL;
            if (!t) {
                res->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                res->ErrorMessage = gr_req_printf(req, "This server does not host this topic-partition.");
                continue;
            }
        }
        dt_delete(req, t, res);
    }
    GR_RESPOND(req, DeleteTopicsResponse, &resp);
}

/* -------------------------------------------------------- CreatePartitions */

static void cp_one(gr_req_t *req, const gr_CreatePartitionsRequest_CreatePartitionsTopic_t *ct, bool validate_only,
                   gr_CreatePartitionsResponse_CreatePartitionsTopicResult_t *res)
{
    gr_topic_t *t = ct->Name.len > 0 ? gr_topic_find(ct->Name.p, (size_t)ct->Name.len) : NULL;
    if (!t) {
        res->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (t->internal) {
        res->ErrorCode = KERR_INVALID_TOPIC_EXCEPTION;
        res->ErrorMessage = !strcmp(t->name, "__consumer_offsets")
                                ? gr_req_printf(req, "The number of partitions for the offsets topic cannot be changed.")
                                : gr_req_printf(req, "The number of partitions for internal topic %s cannot be changed.",
                                       t->name);
        return;
    }
    if (ct->Count == t->npart) {
        res->ErrorCode = KERR_INVALID_PARTITIONS;
        res->ErrorMessage = gr_req_printf(req, "Topic already has %" PRId32 " partition(s).", t->npart);
        return;
    }
    if (ct->Count < t->npart) {
        res->ErrorCode = KERR_INVALID_PARTITIONS;
        res->ErrorMessage = gr_req_printf(req, "The topic %s currently has %" PRId32 " partition(s); %" PRId32
                                      " would not be an increase.",
                                 t->name, t->npart, ct->Count);
        return;
    }
    int32_t add = ct->Count - t->npart;
    if (ct->Assignments_count >= 0) {
        if (ct->Assignments_count != add) {
            res->ErrorCode = KERR_INVALID_REPLICA_ASSIGNMENT;
            res->ErrorMessage = gr_req_printf(req, "Attempted to add %" PRId32 " additional partition(s), but only %" PRId32
                                          " assignment(s) were specified.",
                                     add, ct->Assignments_count);
            return;
        }
        for (int32_t i = 0; i < ct->Assignments_count; i++) {
            const gr_CreatePartitionsRequest_CreatePartitionsAssignment_t *a = &ct->Assignments[i];
            gr_str_t e = replicas_error(req, a->BrokerIds, a->BrokerIds_count);
            if (e.len >= 0) {
                res->ErrorCode = KERR_INVALID_REPLICA_ASSIGNMENT;
                res->ErrorMessage = e;
                return;
            }
        }
    }
    if (add > MAX_PARTITIONS_PER_REQUEST) {
        res->ErrorCode = KERR_POLICY_VIOLATION;
        res->ErrorMessage = gr_req_printf(req, "Excessively large number of partitions per request.");
        return;
    }
    if (validate_only)
        return;
    const char *emsg = NULL;
    gr_serr_t rc = gr_topic_add_partitions(t, ct->Count, &emsg);
    if (rc != GR_SERR_NONE) {
        res->ErrorCode = gr_api_serr_kerr(rc);
        res->ErrorMessage = str_of(emsg);
        return;
    }
    gr_info("admin", "Topic %s now has %" PRId32 " partitions (for %s)", t->name, ct->Count, gr_req_peer(req));
}

void gr_api_create_partitions(gr_req_t *req, gr_rd_t *body)
{
    gr_CreatePartitionsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, CreatePartitionsRequest, &r);
    int32_t n = r.Topics_count > 0 ? r.Topics_count : 0;
    gr_str_t *names = gr_arena_alloc(&req->arena, sizeof(gr_str_t) * (size_t)(n > 0 ? n : 1));
    for (int32_t i = 0; i < n; i++)
        names[i] = r.Topics[i].Name;
    int32_t *first = find_firsts(req, names, NULL, n);
    int32_t nout;
    bool *dup = mark_dups(req, first, n, &nout);

    gr_CreatePartitionsResponse_t resp;
    gr_CreatePartitionsResponse_init(&resp);
    resp.ThrottleTimeMs = 0;
    resp.Results = GR_ARENA_ARRAY(req, gr_CreatePartitionsResponse_CreatePartitionsTopicResult_t, nout,
                                  gr_CreatePartitionsResponse_CreatePartitionsTopicResult_init);
    resp.Results_count = nout;
    int32_t o = 0;
    for (int32_t i = 0; i < n && o < nout; i++) {
        if (first[i] != i)
            continue;
        gr_CreatePartitionsResponse_CreatePartitionsTopicResult_t *res = &resp.Results[o++];
        res->Name = r.Topics[i].Name;
        res->ErrorCode = KERR_NONE;
        res->ErrorMessage = GR_STR_NULL;
        if (dup[i]) {
            res->ErrorCode = KERR_INVALID_REQUEST;
            res->ErrorMessage = gr_req_printf(req, "Duplicate topic name.");
            continue;
        }
        cp_one(req, &r.Topics[i], r.ValidateOnly, res);
    }
    GR_RESPOND(req, CreatePartitionsResponse, &resp);
}

/* --------------------------------------------------------- DescribeConfigs */

static const char *resource_type_name(int8_t t)
{
    switch (t) {
    case 1: return "ANY";
    case RT_TOPIC: return "TOPIC";
    case RT_GROUP: return "GROUP";
    case RT_BROKER: return "BROKER";
    case RT_BROKER_LOGGER: return "BROKER_LOGGER";
    case RT_CLIENT_METRICS: return "CLIENT_METRICS";
    default: return "UNKNOWN";
    }
}

/* Parse a broker resource name; "" is the cluster default (*is_default).
 * Returns KERR_NONE or KERR_INVALID_REQUEST with *msg, worded as Kafka's
 * describe or alter path words it. */
static gr_kerr_t broker_resource(gr_req_t *req, gr_str_t name, bool alter, bool *is_default, gr_str_t *msg)
{
    *is_default = name.len <= 0;
    if (*is_default)
        return KERR_NONE;
    char *s = cstr(req, name), *end;
    errno = 0;
    long id = strtol(s, &end, 10);
    if (errno || *end || end == s || id < INT32_MIN || id > INT32_MAX) {
        *msg = gr_req_printf(req, "Broker id must be an integer, but it is: %s", s);
        return KERR_INVALID_REQUEST;
    }
    if (id != gr_broker.cfg.node_id) {
        *msg = gr_req_printf(req, "Unexpected broker id, expected %" PRId32 "%s, but received %s", gr_broker.cfg.node_id,
                    alter ? "" : " or empty string", s);
        return KERR_INVALID_REQUEST;
    }
    return KERR_NONE;
}

static bool key_wanted(const gr_DescribeConfigsRequest_DescribeConfigsResource_t *rs, const char *name)
{
    if (rs->ConfigurationKeys_count <= 0)
        return true;
    for (int32_t i = 0; i < rs->ConfigurationKeys_count; i++)
        if (GR_STR_EQ(rs->ConfigurationKeys[i], name))
            return true;
    return false;
}

static void dc_fill(gr_req_t *req, const gr_DescribeConfigsRequest_t *r,
                    const gr_DescribeConfigsRequest_DescribeConfigsResource_t *rs, const centry_t *es, int n,
                    gr_DescribeConfigsResponse_DescribeConfigsResult_t *res)
{
    int16_t v = req->api_version;
    int32_t m = 0;
    for (int i = 0; i < n; i++)
        if (key_wanted(rs, es[i].name))
            m++;
    res->Configs = GR_ARENA_ARRAY(req, gr_DescribeConfigsResponse_DescribeConfigsResourceResult_t, m,
                                  gr_DescribeConfigsResponse_DescribeConfigsResourceResult_init);
    res->Configs_count = m;
    int32_t o = 0;
    for (int i = 0; i < n && o < m; i++) {
        const centry_t *e = &es[i];
        if (!key_wanted(rs, e->name))
            continue;
        gr_DescribeConfigsResponse_DescribeConfigsResourceResult_t *c = &res->Configs[o++];
        c->Name = str_of(e->name);
        c->Value = str_of(e->value);
        c->ReadOnly = e->read_only;
        c->IsDefault = e->source == CS_DEFAULT_CONFIG;
        c->ConfigSource = e->source;
        c->IsSensitive = false;
        c->ConfigType = e->type;
        c->Documentation = v >= 3 && r->IncludeDocumentation ? str_of(e->doc) : GR_STR_NULL;
        c->Synonyms = NULL;
        c->Synonyms_count = 0;
        if (v >= 1 && r->IncludeSynonyms && e->nsyn > 0) {
            c->Synonyms = GR_ARENA_ARRAY(req, gr_DescribeConfigsResponse_DescribeConfigsSynonym_t, e->nsyn,
                                         gr_DescribeConfigsResponse_DescribeConfigsSynonym_init);
            c->Synonyms_count = e->nsyn;
            for (int s = 0; s < e->nsyn; s++) {
                c->Synonyms[s].Name = str_of(e->syn[s].name);
                c->Synonyms[s].Value = str_of(e->syn[s].value);
                c->Synonyms[s].Source = e->syn[s].source;
            }
        }
    }
}

void gr_api_describe_configs(gr_req_t *req, gr_rd_t *body)
{
    gr_DescribeConfigsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, DescribeConfigsRequest, &r);
    int32_t n = r.Resources_count > 0 ? r.Resources_count : 0;

    gr_DescribeConfigsResponse_t resp;
    gr_DescribeConfigsResponse_init(&resp);
    resp.ThrottleTimeMs = 0;
    resp.Results = GR_ARENA_ARRAY(req, gr_DescribeConfigsResponse_DescribeConfigsResult_t, n,
                                  gr_DescribeConfigsResponse_DescribeConfigsResult_init);
    resp.Results_count = n;
    bvals_t b = {0};
    for (int32_t i = 0; i < n; i++) {
        const gr_DescribeConfigsRequest_DescribeConfigsResource_t *rs = &r.Resources[i];
        gr_DescribeConfigsResponse_DescribeConfigsResult_t *res = &resp.Results[i];
        res->ResourceType = rs->ResourceType;
        res->ResourceName = rs->ResourceName;
        res->ErrorCode = KERR_NONE;
        res->ErrorMessage = GR_STR_NULL;
        res->Configs = NULL;
        res->Configs_count = 0;
        int cnt = 0;
        centry_t *es;
        if (rs->ResourceType == RT_TOPIC) {
            gr_str_t nm = name_error(req, rs->ResourceName);
            if (nm.len >= 0) {
                res->ErrorCode = KERR_INVALID_TOPIC_EXCEPTION;
                res->ErrorMessage = nm;
                continue;
            }
            gr_topic_t *t = gr_topic_find(rs->ResourceName.p, (size_t)rs->ResourceName.len);
            if (!t) {
                res->ErrorCode = KERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            es = topic_entries(req, &b, t->configs, &cnt);
            dc_fill(req, &r, rs, es, cnt, res);
        } else if (rs->ResourceType == RT_BROKER) {
            bool dflt;
            gr_str_t msg = GR_STR_NULL;
            gr_kerr_t err = broker_resource(req, rs->ResourceName, false, &dflt, &msg);
            if (err != KERR_NONE) {
                res->ErrorCode = err;
                res->ErrorMessage = msg;
                continue;
            }
            if (dflt) /* cluster-wide dynamic defaults: there are none */
                continue;
            es = broker_entries(req, &b, &cnt);
            dc_fill(req, &r, rs, es, cnt, res);
        } else {
            res->ErrorCode = KERR_INVALID_REQUEST;
            res->ErrorMessage = gr_req_printf(req, "Unsupported resource type: %s", resource_type_name(rs->ResourceType));
        }
    }
    GR_RESPOND(req, DescribeConfigsResponse, &resp);
}

/* ------------------------------------------------- IncrementalAlterConfigs */

/* Look up key in a working override list (key, value pairs, n entries). */
static int32_t ov_find(char **ov, int32_t n, const char *key)
{
    for (int32_t i = 0; i < n; i += 2)
        if (!strcmp(ov[i], key))
            return i;
    return -1;
}

/* APPEND / SUBTRACT on a list value: Kafka's element-wise rules (empty
 * elements dropped, APPEND skips elements already present). */
static char *list_op(gr_req_t *req, const char *cur, const char *arg, int op)
{
    size_t cap = strlen(cur) + strlen(arg) + 2;
    char *out = gr_arena_alloc(&req->arena, cap);
    size_t len = 0;
    out[0] = '\0';
    /* elements of cur (minus arg's for SUBTRACT), then arg's new ones */
    for (int pass = 0; pass < 2; pass++) {
        const char *src = pass == 0 ? cur : arg;
        if (pass == 1 && op != OP_APPEND)
            break;
        for (const char *p = src; *p;) {
            const char *c = strchr(p, ',');
            size_t el = c ? (size_t)(c - p) : strlen(p);
            bool keep = el > 0;
            if (keep && pass == 0 && op == OP_SUBTRACT) {
                for (const char *q = arg; *q && keep;) {
                    const char *qc = strchr(q, ',');
                    size_t ql = qc ? (size_t)(qc - q) : strlen(q);
                    if (ql == el && !memcmp(q, p, el))
                        keep = false;
                    q = qc ? qc + 1 : q + ql;
                }
            }
            if (keep) { /* skip elements already in out */
                for (const char *q = out; *q && keep;) {
                    const char *qc = strchr(q, ',');
                    size_t ql = qc ? (size_t)(qc - q) : strlen(q);
                    if (ql == el && !memcmp(q, p, el))
                        keep = false;
                    q = qc ? qc + 1 : q + ql;
                }
            }
            if (keep) {
                if (len)
                    out[len++] = ',';
                memcpy(out + len, p, el);
                len += el;
                out[len] = '\0';
            }
            p = c ? c + 1 : p + el;
        }
    }
    return out;
}

static gr_kerr_t topic_apply(gr_req_t *req, gr_topic_t *t, char **ov, int32_t n, bool validate_only, gr_str_t *msg);

/* The topic of a config resource, or NULL with the error (Kafka's). */
static gr_topic_t *config_topic(gr_req_t *req, gr_str_t name, gr_kerr_t *err, gr_str_t *msg)
{
    if (name.len <= 0) {
        *msg = gr_req_printf(req, "Default topic resources are not allowed.");
        *err = KERR_INVALID_REQUEST;
        return NULL;
    }
    gr_str_t nm = name_error(req, name);
    if (nm.len >= 0) {
        *msg = nm;
        *err = KERR_INVALID_TOPIC_EXCEPTION;
        return NULL;
    }
    gr_topic_t *t = gr_topic_find(name.p, (size_t)name.len);
    if (!t) {
        *msg = gr_req_printf(req, "The topic '%.*s' does not exist.", (int)name.len, name.p);
        *err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    return t;
}

static gr_kerr_t iac_topic(gr_req_t *req, const gr_IncrementalAlterConfigsRequest_AlterConfigsResource_t *rs,
                         bool validate_only, gr_str_t *msg)
{
    gr_kerr_t terr;
    gr_topic_t *t = config_topic(req, rs->ResourceName, &terr, msg);
    if (!t)
        return terr;

    /* working copy of the overrides, with room for every op */
    int32_t have = 0;
    while (t->configs && t->configs[have])
        have++;
    int32_t nops = rs->Configs_count > 0 ? rs->Configs_count : 0;
    char **ov = gr_arena_alloc(&req->arena, sizeof(char *) * (size_t)(have + 2 * nops + 1));
    int32_t n;
    for (n = 0; n + 1 < have; n += 2) {
        ov[n] = t->configs[n];
        ov[n + 1] = t->configs[n + 1];
    }

    for (int32_t i = 0; i < nops; i++) {
        const gr_IncrementalAlterConfigsRequest_AlterableConfig_t *c = &rs->Configs[i];
        char *key = cstr(req, c->Name);
        int op = c->ConfigOperation;
        if (op < OP_SET || op > OP_SUBTRACT) {
            *msg = gr_req_printf(req, "Unknown operation type %d", op);
            return KERR_INVALID_REQUEST;
        }
        const gr_topic_config_def_t *d = gr_topic_config_find(key, strlen(key));
        int32_t at = ov_find(ov, n, key);
        if (op == OP_DELETE) {
            if (at >= 0) {
                memmove(&ov[at], &ov[at + 2], sizeof(char *) * (size_t)(n - at - 2));
                n -= 2;
            }
            continue;
        }
        if ((op == OP_APPEND || op == OP_SUBTRACT) && (!d || strcmp(key, "cleanup.policy"))) {
            *msg = gr_req_printf(req, "Can't %s to key %s because its type is not LIST.", op == OP_APPEND ? "APPEND" : "SUBTRACT",
                        key);
            return KERR_INVALID_CONFIG;
        }
        if (!d) {
            *msg = gr_req_printf(req, "Unknown topic config name: %s", key);
            return KERR_INVALID_CONFIG;
        }
        char *val = cstr(req, c->Value);
        if (op == OP_APPEND || op == OP_SUBTRACT) {
            const char *cur = at >= 0 ? ov[at + 1] : NULL;
            char dflt[64];
            if (!cur) {
                gr_topic_config_default(&gr_broker.cfg, d, dflt, sizeof(dflt));
                cur = dflt;
            }
            val = list_op(req, cur, val, op);
        }
        char err[256];
        if (gr_topic_config_validate(d, val, err, sizeof(err)) < 0) {
            *msg = gr_req_printf(req, "%s", err);
            return KERR_INVALID_CONFIG;
        }
        if (at >= 0) {
            ov[at + 1] = val;
        } else {
            ov[n] = (char *)d->name;
            ov[n + 1] = val;
            n += 2;
        }
    }
    ov[n] = NULL;
    return topic_apply(req, t, ov, n, validate_only, msg);
}

/* Make topic t's overrides exactly `ov` (n entries, key, value, ...,
 * NULL; validated already): the internal-topic policy first, then all the
 * keys that differ at once.  Kafka error code, *msg on error. */
static gr_kerr_t topic_apply(gr_req_t *req, gr_topic_t *t, char **ov, int32_t n, bool validate_only, gr_str_t *msg)
{
    const char *bad_key;
    char err[256];
    if (t->internal && gr_topic_config_internal_check(&gr_broker.cfg, t->name, ov, &bad_key, err, sizeof(err)) < 0) {
        *msg = gr_req_printf(req, "%s", err);
        return KERR_POLICY_VIOLATION;
    }
    if (validate_only)
        return KERR_NONE;

    /* the keys that change; their new values live in the request (an
     * entry of ov points into t->configs only where nothing changes) */
    int nkeys = gr_topic_config_count(), nchanged = 0;
    const char **changed = gr_arena_alloc(&req->arena, sizeof(char *) * (size_t)nkeys);
    for (int i = 0; i < nkeys; i++) {
        int32_t at = ov_find(ov, n, gr_topic_config_at(i)->name);
        const char *want = at >= 0 ? ov[at + 1] : NULL;
        const char *cur = gr_topic_get_config(t, gr_topic_config_at(i)->name);
        bool same = (!want && !cur) || (want && cur && !strcmp(want, cur));
        changed[i] = same ? NULL : want ? want : "(default)";
        nchanged += !same;
    }
    if (nchanged == 0)
        return KERR_NONE;
    /* all of them or none: one write of the topic's file (which frees the
     * old overrides, so ov is not looked at again) */
    if (gr_topic_replace_configs(t, ov) < 0) {
        *msg = gr_req_printf(req, "Cannot persist the configuration of topic %s.", t->name);
        return KERR_KAFKA_STORAGE_ERROR;
    }
    for (int i = 0; i < nkeys; i++)
        if (changed[i])
            gr_info("admin", "Topic %s: %s=%s (for %s)", t->name, gr_topic_config_at(i)->name, changed[i],
                    gr_req_peer(req));
    return KERR_NONE;
}

/* A broker resource: there are no dynamic broker configs, so any key
 * named is refused (nothing named: nothing to change). */
static gr_kerr_t alter_broker(gr_req_t *req, gr_str_t name, const gr_str_t *names, int32_t nkeys, gr_str_t *msg)
{
    bool dflt;
    gr_kerr_t err = broker_resource(req, name, true, &dflt, msg);
    if (err != KERR_NONE)
        return err;
    if (nkeys <= 0)
        return KERR_NONE;
    size_t len = 0;
    for (int32_t i = 0; i < nkeys; i++)
        len += (size_t)(names[i].len > 0 ? names[i].len : 0) + 2;
    char *keys = gr_arena_alloc(&req->arena, len + 1);
    size_t o = 0;
    for (int32_t i = 0; i < nkeys; i++) {
        gr_str_t k = names[i];
        if (i) {
            keys[o++] = ',';
            keys[o++] = ' ';
        }
        if (k.len > 0) {
            memcpy(keys + o, k.p, (size_t)k.len);
            o += (size_t)k.len;
        }
    }
    keys[o] = '\0';
    *msg = gr_req_printf(req, "Cannot update these configs dynamically: %s (dynamic broker configs are not supported)", keys);
    return KERR_INVALID_REQUEST;
}

void gr_api_incremental_alter_configs(gr_req_t *req, gr_rd_t *body)
{
    gr_IncrementalAlterConfigsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, IncrementalAlterConfigsRequest, &r);
    int32_t n = r.Resources_count > 0 ? r.Resources_count : 0;

    gr_str_t *names = gr_arena_alloc(&req->arena, sizeof(gr_str_t) * (size_t)(n > 0 ? n : 1));
    int8_t *types = gr_arena_alloc(&req->arena, (size_t)(n > 0 ? n : 1));
    for (int32_t i = 0; i < n; i++) {
        names[i] = r.Resources[i].ResourceName;
        types[i] = r.Resources[i].ResourceType;
    }
    int32_t *first = find_firsts(req, names, types, n);
    bool *dup = mark_dups(req, first, n, NULL);

    gr_IncrementalAlterConfigsResponse_t resp;
    gr_IncrementalAlterConfigsResponse_init(&resp);
    resp.ThrottleTimeMs = 0;
    resp.Responses = GR_ARENA_ARRAY(req, gr_IncrementalAlterConfigsResponse_AlterConfigsResourceResponse_t, n,
                                    gr_IncrementalAlterConfigsResponse_AlterConfigsResourceResponse_init);
    resp.Responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        const gr_IncrementalAlterConfigsRequest_AlterConfigsResource_t *rs = &r.Resources[i];
        gr_IncrementalAlterConfigsResponse_AlterConfigsResourceResponse_t *res = &resp.Responses[i];
        res->ResourceType = rs->ResourceType;
        res->ResourceName = rs->ResourceName;
        res->ErrorCode = KERR_NONE;
        res->ErrorMessage = GR_STR_NULL;
        if (dup[i]) {
            res->ErrorCode = KERR_INVALID_REQUEST;
            res->ErrorMessage = gr_req_printf(req, "Each resource must appear at most once.");
            continue;
        }
        int32_t nc = rs->Configs_count > 0 ? rs->Configs_count : 0;
        gr_str_t *keys = gr_arena_alloc(&req->arena, sizeof(gr_str_t) * (size_t)(nc > 0 ? nc : 1));
        for (int32_t k = 0; k < nc; k++)
            keys[k] = rs->Configs[k].Name;
        int32_t *kfirst = find_firsts(req, keys, NULL, nc);
        bool dupkey = false;
        for (int32_t k = 0; k < nc && !dupkey; k++)
            dupkey = kfirst[k] != k;
        if (dupkey) {
            res->ErrorCode = KERR_INVALID_REQUEST;
            res->ErrorMessage = gr_req_printf(req, "Error due to duplicate config keys");
            continue;
        }
        size_t nulls_len = 0;
        for (int32_t k = 0; k < nc; k++)
            if (rs->Configs[k].ConfigOperation != OP_DELETE && rs->Configs[k].Value.len < 0)
                nulls_len += (size_t)(keys[k].len > 0 ? keys[k].len : 0) + 2;
        if (nulls_len) {
            char *s = gr_arena_alloc(&req->arena, nulls_len + 1);
            size_t o = 0;
            for (int32_t k = 0; k < nc; k++) {
                if (rs->Configs[k].ConfigOperation == OP_DELETE || rs->Configs[k].Value.len >= 0)
                    continue;
                if (o) {
                    s[o++] = ',';
                    s[o++] = ' ';
                }
                if (keys[k].len > 0) {
                    memcpy(s + o, keys[k].p, (size_t)keys[k].len);
                    o += (size_t)keys[k].len;
                }
            }
            s[o] = '\0';
            res->ErrorCode = KERR_INVALID_REQUEST;
            res->ErrorMessage = gr_req_printf(req, "Null value not supported for : %s", s);
            continue;
        }
        gr_str_t msg = GR_STR_NULL;
        if (rs->ResourceType == RT_TOPIC)
            res->ErrorCode = iac_topic(req, rs, r.ValidateOnly, &msg);
        else if (rs->ResourceType == RT_BROKER)
            res->ErrorCode = alter_broker(req, rs->ResourceName, keys, nc, &msg);
        else {
            res->ErrorCode = KERR_INVALID_REQUEST;
            msg = gr_req_printf(req, "Unknown resource type %d", (int)rs->ResourceType);
        }
        res->ErrorMessage = res->ErrorCode == KERR_NONE ? GR_STR_NULL : msg;
    }
    GR_RESPOND(req, IncrementalAlterConfigsResponse, &resp);
}

/* ------------------------------------------------------------ AlterConfigs */

/* "k1, k2, ..." of the names whose flag is set (all when flags is NULL). */
static char *join_names(gr_req_t *req, const gr_str_t *names, const bool *flags, int32_t n)
{
    size_t len = 0;
    for (int32_t i = 0; i < n; i++)
        if (!flags || flags[i])
            len += (size_t)(names[i].len > 0 ? names[i].len : 0) + 2;
    char *s = gr_arena_alloc(&req->arena, len + 1);
    size_t o = 0;
    for (int32_t i = 0; i < n; i++) {
        if (flags && !flags[i])
            continue;
        if (o) {
            s[o++] = ',';
            s[o++] = ' ';
        }
        if (names[i].len > 0) {
            memcpy(s + o, names[i].p, (size_t)names[i].len);
            o += (size_t)names[i].len;
        }
    }
    s[o] = '\0';
    return s;
}

/* Legacy AlterConfigs on a topic: its overrides become exactly the keys
 * given, every key not named is removed (Kafka's
 * legacyAlterConfigResource).  Keys were checked for duplicates and null
 * values. */
static gr_kerr_t ac_topic(gr_req_t *req, const gr_AlterConfigsRequest_AlterConfigsResource_t *rs, bool validate_only,
                        gr_str_t *msg)
{
    gr_kerr_t terr;
    gr_topic_t *t = config_topic(req, rs->ResourceName, &terr, msg);
    if (!t)
        return terr;
    int32_t nc = rs->Configs_count > 0 ? rs->Configs_count : 0;
    char **ov = gr_arena_alloc(&req->arena, sizeof(char *) * ((size_t)nc * 2 + 1));
    int32_t n = 0;
    for (int32_t i = 0; i < nc; i++) {
        const gr_AlterConfigsRequest_AlterableConfig_t *c = &rs->Configs[i];
        char *key = cstr(req, c->Name);
        const gr_topic_config_def_t *d = gr_topic_config_find(key, strlen(key));
        if (!d) {
            *msg = gr_req_printf(req, "Unknown topic config name: %s", key);
            return KERR_INVALID_CONFIG;
        }
        char *val = cstr(req, c->Value);
        char err[256];
        if (gr_topic_config_validate(d, val, err, sizeof(err)) < 0) {
            *msg = gr_req_printf(req, "%s", err);
            return KERR_INVALID_CONFIG;
        }
        ov[n++] = (char *)d->name;
        ov[n++] = val;
    }
    ov[n] = NULL;
    return topic_apply(req, t, ov, n, validate_only, msg);
}

void gr_api_alter_configs(gr_req_t *req, gr_rd_t *body)
{
    gr_AlterConfigsRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, AlterConfigsRequest, &r);
    int32_t n = r.Resources_count > 0 ? r.Resources_count : 0;

    gr_str_t *names = gr_arena_alloc(&req->arena, sizeof(gr_str_t) * (size_t)(n > 0 ? n : 1));
    int8_t *types = gr_arena_alloc(&req->arena, (size_t)(n > 0 ? n : 1));
    for (int32_t i = 0; i < n; i++) {
        names[i] = r.Resources[i].ResourceName;
        types[i] = r.Resources[i].ResourceType;
    }
    bool *dup = mark_dups(req, find_firsts(req, names, types, n), n, NULL);

    gr_AlterConfigsResponse_t resp;
    gr_AlterConfigsResponse_init(&resp);
    resp.ThrottleTimeMs = 0;
    resp.Responses = GR_ARENA_ARRAY(req, gr_AlterConfigsResponse_AlterConfigsResourceResponse_t, n,
                                    gr_AlterConfigsResponse_AlterConfigsResourceResponse_init);
    resp.Responses_count = n;
    for (int32_t i = 0; i < n; i++) {
        const gr_AlterConfigsRequest_AlterConfigsResource_t *rs = &r.Resources[i];
        gr_AlterConfigsResponse_AlterConfigsResourceResponse_t *res = &resp.Responses[i];
        res->ResourceType = rs->ResourceType;
        res->ResourceName = rs->ResourceName;
        res->ErrorCode = KERR_NONE;
        res->ErrorMessage = GR_STR_NULL;
        if (dup[i]) {
            res->ErrorCode = KERR_INVALID_REQUEST;
            res->ErrorMessage = gr_req_printf(req, "Each resource must appear at most once.");
            continue;
        }
        int32_t nc = rs->Configs_count > 0 ? rs->Configs_count : 0;
        gr_str_t *keys = gr_arena_alloc(&req->arena, sizeof(gr_str_t) * (size_t)(nc > 0 ? nc : 1));
        bool *nulls = gr_arena_calloc(&req->arena, (size_t)(nc > 0 ? nc : 1), sizeof(bool));
        bool any_null = false, dupkey = false;
        for (int32_t k = 0; k < nc; k++) {
            keys[k] = rs->Configs[k].Name;
            nulls[k] = rs->Configs[k].Value.len < 0;
            any_null |= nulls[k];
        }
        int32_t *kfirst = find_firsts(req, keys, NULL, nc);
        for (int32_t k = 0; k < nc && !dupkey; k++)
            dupkey = kfirst[k] != k;
        gr_str_t msg = GR_STR_NULL;
        if (dupkey) {
            res->ErrorCode = KERR_INVALID_REQUEST;
            msg = gr_req_printf(req, "Error due to duplicate config keys");
        } else if (any_null) {
            res->ErrorCode = KERR_INVALID_REQUEST;
            msg = gr_req_printf(req, "Null value not supported for : %s", join_names(req, keys, nulls, nc));
        } else if (rs->ResourceType == RT_TOPIC) {
            res->ErrorCode = ac_topic(req, rs, r.ValidateOnly, &msg);
        } else if (rs->ResourceType == RT_BROKER) {
            res->ErrorCode = alter_broker(req, rs->ResourceName, keys, nc, &msg);
        } else {
            res->ErrorCode = KERR_INVALID_REQUEST;
            msg = gr_req_printf(req, "Unknown resource type %d", (int)rs->ResourceType);
        }
        res->ErrorMessage = res->ErrorCode == KERR_NONE ? GR_STR_NULL : msg;
    }
    GR_RESPOND(req, AlterConfigsResponse, &resp);
}

/* --------------------------------------------------------- DescribeCluster */

/* DescribeCluster EndpointType (KIP-919) */
enum { ENDPOINT_BROKER = 1, ENDPOINT_CONTROLLER = 2 };

void gr_api_describe_cluster(gr_req_t *req, gr_rd_t *body)
{
    gr_DescribeClusterRequest_t r;
    GR_DECODE_OR_CLOSE(req, body, DescribeClusterRequest, &r);

    gr_DescribeClusterResponse_t resp;
    gr_DescribeClusterResponse_init(&resp);
    resp.ThrottleTimeMs = 0;
    resp.ErrorCode = KERR_NONE;
    resp.ErrorMessage = GR_STR_NULL;
    resp.EndpointType = ENDPOINT_BROKER;
    /* v1 (KIP-919): this listener is a broker's; a request for the
     * controllers' endpoints is refused as Kafka refuses it (v0 cannot
     * ask for another type) */
    if (r.EndpointType != ENDPOINT_BROKER) {
        bool known = r.EndpointType == ENDPOINT_CONTROLLER;
        resp.ErrorCode = known ? KERR_MISMATCHED_ENDPOINT_TYPE : KERR_UNSUPPORTED_ENDPOINT_TYPE;
        resp.ErrorMessage = known ? gr_req_printf(req, "The request was sent to an endpoint of type BROKER, but we wanted an "
                                              "endpoint of type CONTROLLER")
                                  : gr_req_printf(req, "Unsupported endpoint type %d", (int)r.EndpointType);
        resp.ClusterId = GR_STR("");
        GR_RESPOND(req, DescribeClusterResponse, &resp);
        return;
    }
    resp.ClusterId = str_of(gr_broker.cluster_id);
    resp.ControllerId = gr_broker.cfg.node_id;
    resp.Brokers = GR_ARENA_ARRAY(req, gr_DescribeClusterResponse_DescribeClusterBroker_t, 1,
                                  gr_DescribeClusterResponse_DescribeClusterBroker_init);
    resp.Brokers_count = 1;
    resp.Brokers[0].BrokerId = gr_broker.cfg.node_id;
    resp.Brokers[0].Host = str_of(gr_broker.adv_host);
    resp.Brokers[0].Port = gr_broker.adv_port;
    resp.Brokers[0].Rack = GR_STR_NULL;
    resp.ClusterAuthorizedOperations = r.IncludeClusterAuthorizedOperations ? GR_CLUSTER_AUTHORIZED_OPS : INT32_MIN;
    GR_RESPOND(req, DescribeClusterResponse, &resp);
}
