/*
 * txn_offsets.c - pending transactional offsets of a __consumer_offsets
 * partition (see txn_offsets.h for what and why).
 *
 *   by_pid:   producer id -> prod { its pending offsets by (group, topic,
 *                                   partition); the groups it is open in }
 *   by_group: group id    -> gopen { producer ids with an open transaction
 *                                    that wrote offsets of the group }
 *
 * A producer enters a group's set with its first pending offset of the
 * group and leaves it with its marker, as Kafka's openTransactionsByGroup
 * (a tombstone removes pending offsets, not the open transaction).
 *
 * Undo: whatever a replay removes (an entry replaced, a tombstoned entry,
 * a producer ended by its marker) is kept aside in the undo entry, not
 * freed, until the write settles: a rollback (newest first) puts the very
 * objects back, a landed write frees them.
 */
#include "txn_offsets.h"

#include <stdlib.h>
#include <string.h>

typedef struct prod {
    gr_hnode_t node;                /* in by_pid */
    int64_t pid;
    gr_hmap_t ents;                 /* gr_txnoff_ent_t by key */
    char **groups;                  /* the groups it is open in (owned copies) */
    int32_t ngroups, capgroups;
} prod_t;

typedef struct gopen {
    gr_hnode_t node;                /* in by_group */
    char *group;
    size_t glen;
    int64_t *pids;
    int32_t n, cap;
} gopen_t;

struct gr_txnoff {
    gr_hmap_t by_pid;
    gr_hmap_t by_group;
    int64_t count;
};

/* ------------------------------------------------------------ lookups */

static uint32_t key_hash(const char *g, size_t glen, const char *t, size_t tlen, int32_t part)
{
    uint64_t h = gr_fnv1a64(g, glen, GR_FNV64_INIT);
    h = gr_fnv1a64_byte(h, 0);
    h = gr_fnv1a64(t, tlen, h);
    return gr_hash_mix(h ^ (uint32_t)part);
}

static prod_t *prod_find(const gr_txnoff_t *t, int64_t pid)
{
    for (gr_hnode_t *n = gr_hmap_first(&t->by_pid, gr_hash_int((uint64_t)pid)); n; n = gr_hmap_next(n)) {
        prod_t *p = GR_CONTAINER(n, prod_t, node);
        if (p->pid == pid)
            return p;
    }
    return NULL;
}

static gr_txnoff_ent_t *ent_find(const prod_t *p, const char *g, size_t glen, const char *tp, size_t tlen,
                                 int32_t part, uint32_t h)
{
    for (gr_hnode_t *n = gr_hmap_first(&p->ents, h); n; n = gr_hmap_next(n)) {
        gr_txnoff_ent_t *e = GR_CONTAINER(n, gr_txnoff_ent_t, node);
        if (e->partition == part && e->glen == glen && e->tlen == tlen && !memcmp(e->s, g, glen) &&
            !memcmp(gr_txnoff_topic(e), tp, tlen))
            return e;
    }
    return NULL;
}

static gopen_t *gopen_find(const gr_txnoff_t *t, const char *g, size_t glen)
{
    for (gr_hnode_t *n = gr_hmap_first(&t->by_group, gr_hash32(g, glen)); n; n = gr_hmap_next(n)) {
        gopen_t *o = GR_CONTAINER(n, gopen_t, node);
        if (o->glen == glen && !memcmp(o->group, g, glen))
            return o;
    }
    return NULL;
}

static bool gopen_has(const gopen_t *o, int64_t pid)
{
    for (int32_t i = 0; o && i < o->n; i++)
        if (o->pids[i] == pid)
            return true;
    return false;
}

/* Add pid to the group's set (creating it); true when it was not there. */
static bool gopen_add(gr_txnoff_t *t, const char *g, size_t glen, int64_t pid)
{
    gopen_t *o = gopen_find(t, g, glen);
    if (!o) {
        o = gr_calloc(1, sizeof(*o));
        o->group = gr_strndup(g, glen);
        o->glen = glen;
        gr_hmap_insert(&t->by_group, &o->node, gr_hash32(g, glen));
    } else if (gopen_has(o, pid)) {
        return false;
    }
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 2;
        o->pids = gr_realloc(o->pids, sizeof(*o->pids) * (size_t)o->cap);
    }
    o->pids[o->n++] = pid;
    return true;
}

static void gopen_del(gr_txnoff_t *t, const char *g, size_t glen, int64_t pid)
{
    gopen_t *o = gopen_find(t, g, glen);
    if (!o)
        return;
    for (int32_t i = 0; i < o->n; i++)
        if (o->pids[i] == pid) {
            o->pids[i] = o->pids[--o->n];
            break;
        }
    if (o->n == 0) {
        gr_hmap_remove(&t->by_group, &o->node);
        free(o->pids);
        free(o->group);
        free(o);
    }
}

static void prod_group_push(prod_t *p, const char *g, size_t glen)
{
    if (p->ngroups == p->capgroups) {
        p->capgroups = p->capgroups ? p->capgroups * 2 : 2;
        p->groups = gr_realloc(p->groups, sizeof(*p->groups) * (size_t)p->capgroups);
    }
    p->groups[p->ngroups++] = gr_strndup(g, glen);
}

static void prod_group_pop(prod_t *p, const char *g, size_t glen)
{
    for (int32_t i = p->ngroups - 1; i >= 0; i--)
        if (strlen(p->groups[i]) == glen && !memcmp(p->groups[i], g, glen)) {
            free(p->groups[i]);
            p->groups[i] = p->groups[--p->ngroups];
            return;
        }
}

static void prod_free(prod_t *p)
{
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &p->ents);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));)
        free(GR_CONTAINER(n, gr_txnoff_ent_t, node));
    gr_hmap_free(&p->ents);
    for (int32_t i = 0; i < p->ngroups; i++)
        free(p->groups[i]);
    free(p->groups);
    free(p);
}

/* ------------------------------------------------------------ lifecycle */

gr_txnoff_t *gr_txnoff_new(void)
{
    gr_txnoff_t *t = gr_calloc(1, sizeof(*t));
    gr_hmap_init(&t->by_pid, 8);
    gr_hmap_init(&t->by_group, 8);
    return t;
}

void gr_txnoff_free(gr_txnoff_t *t)
{
    if (!t)
        return;
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &t->by_pid);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));)
        prod_free(GR_CONTAINER(n, prod_t, node));
    gr_hmap_free(&t->by_pid);
    gr_hmap_iter_init(&it, &t->by_group);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
        gopen_t *o = GR_CONTAINER(n, gopen_t, node);
        free(o->pids);
        free(o->group);
        free(o);
    }
    gr_hmap_free(&t->by_group);
    free(t);
}

int64_t gr_txnoff_count(const gr_txnoff_t *t)
{
    return t ? t->count : 0;
}

size_t gr_txnoff_producers(const gr_txnoff_t *t)
{
    return t ? gr_hmap_count(&t->by_pid) : 0;
}

/* ------------------------------------------------------------ put */

typedef struct put_undo {
    gr_txnoff_t *t;
    int64_t pid;
    gr_txnoff_ent_t *added, *replaced;
    bool created_prod, opened;
} put_undo_t;

static void put_undo_fn(void *shard, void *data, bool rollback)
{
    GR_UNUSED(shard);
    put_undo_t *u = data;
    if (!rollback) {
        free(u->replaced);
        return;
    }
    prod_t *p = prod_find(u->t, u->pid);
    gr_hmap_remove(&p->ents, &u->added->node);
    u->t->count--;
    if (u->replaced) {
        gr_hmap_insert(&p->ents, &u->replaced->node, u->added->node.hash);
        u->t->count++;
    }
    if (u->opened) {
        gopen_del(u->t, u->added->s, u->added->glen, u->pid);
        prod_group_pop(p, u->added->s, u->added->glen);
    }
    free(u->added);
    if (u->created_prod) {
        gr_hmap_remove(&u->t->by_pid, &p->node);
        prod_free(p);
    }
}

void gr_txnoff_put(gr_txnoff_t *t, int64_t pid, const char *gid, size_t glen, const char *topic, size_t tlen,
                   int32_t partition, int64_t offset, int32_t leader_epoch, const char *md, size_t mlen,
                   int64_t commit_ts, int64_t expire_ts, int64_t record_offset, gr_crt_undo_t *undo)
{
    prod_t *p = prod_find(t, pid);
    bool created = false;
    if (!p) {
        p = gr_calloc(1, sizeof(*p));
        p->pid = pid;
        gr_hmap_init(&p->ents, 4);
        gr_hmap_insert(&t->by_pid, &p->node, gr_hash_int((uint64_t)pid));
        created = true;
    }
    uint32_t h = key_hash(gid, glen, topic, tlen, partition);
    gr_txnoff_ent_t *old = ent_find(p, gid, glen, topic, tlen, partition, h);
    if (old) {
        gr_hmap_remove(&p->ents, &old->node);
        t->count--;
    }
    gr_txnoff_ent_t *e = gr_malloc(sizeof(*e) + glen + tlen + mlen + 3);
    e->record_offset = record_offset;
    e->offset = offset;
    e->commit_ts = commit_ts;
    e->expire_ts = expire_ts;
    e->partition = partition;
    e->leader_epoch = leader_epoch;
    e->glen = (uint32_t)glen;
    e->tlen = (uint32_t)tlen;
    e->mlen = (uint32_t)mlen;
    e->superseded = false;
    memcpy(e->s, gid, glen);
    e->s[glen] = '\0';
    memcpy(e->s + glen + 1, topic, tlen);
    e->s[glen + 1 + tlen] = '\0';
    if (mlen)
        memcpy(e->s + glen + tlen + 2, md, mlen);
    e->s[glen + tlen + 2 + mlen] = '\0';
    gr_hmap_insert(&p->ents, &e->node, h);
    t->count++;
    bool opened = gopen_add(t, gid, glen, pid);
    if (opened)
        prod_group_push(p, gid, glen);
    if (undo) {
        put_undo_t *u = gr_crt_undo_push(undo, put_undo_fn, sizeof(*u));
        *u = (put_undo_t){t, pid, e, old, created, opened};
    } else {
        free(old);
    }
}

/* ------------------------------------------------------------ superseding, tombstones */

static void flag_undo_fn(void *shard, void *data, bool rollback)
{
    GR_UNUSED(shard);
    if (rollback)
        (*(gr_txnoff_ent_t **)data)->superseded = false;
}

static void supersede(gr_txnoff_ent_t *e, gr_crt_undo_t *undo)
{
    if (e->superseded)
        return;
    e->superseded = true;
    if (undo)
        *(gr_txnoff_ent_t **)gr_crt_undo_push(undo, flag_undo_fn, sizeof(e)) = e;
}

typedef struct del_undo {
    gr_txnoff_t *t;
    int64_t pid;
    gr_txnoff_ent_t *e;
} del_undo_t;

static void del_undo_fn(void *shard, void *data, bool rollback)
{
    GR_UNUSED(shard);
    del_undo_t *u = data;
    if (!rollback) {
        free(u->e);
        return;
    }
    prod_t *p = prod_find(u->t, u->pid);
    gr_hmap_insert(&p->ents, &u->e->node, u->e->node.hash);
    u->t->count++;
}

void gr_txnoff_key_written(gr_txnoff_t *t, const char *gid, size_t glen, const char *topic, size_t tlen,
                           int32_t partition, bool tombstone, gr_crt_undo_t *undo)
{
    gopen_t *o = gopen_find(t, gid, glen);
    if (!o)
        return;                     /* the common case: nothing pending */
    uint32_t h = key_hash(gid, glen, topic, tlen, partition);
    for (int32_t i = 0; i < o->n; i++) {
        prod_t *p = prod_find(t, o->pids[i]);
        gr_txnoff_ent_t *e = p ? ent_find(p, gid, glen, topic, tlen, partition, h) : NULL;
        if (!e)
            continue;
        if (!tombstone) {
            supersede(e, undo);
            continue;
        }
        gr_hmap_remove(&p->ents, &e->node);
        t->count--;
        if (undo) {
            del_undo_t *u = gr_crt_undo_push(undo, del_undo_fn, sizeof(*u));
            *u = (del_undo_t){t, p->pid, e};
        } else {
            free(e);
        }
    }
}

/* ------------------------------------------------------------ markers */

typedef struct end_undo {
    gr_txnoff_t *t;
    prod_t *p;
} end_undo_t;

static void end_undo_fn(void *shard, void *data, bool rollback)
{
    GR_UNUSED(shard);
    end_undo_t *u = data;
    if (!rollback) {
        prod_free(u->p);
        return;
    }
    gr_hmap_insert(&u->t->by_pid, &u->p->node, gr_hash_int((uint64_t)u->p->pid));
    u->t->count += gr_hmap_count(&u->p->ents);
    for (int32_t i = 0; i < u->p->ngroups; i++)
        gopen_add(u->t, u->p->groups[i], strlen(u->p->groups[i]), u->p->pid);
}

void gr_txnoff_end(gr_txnoff_t *t, int64_t pid, bool commit, gr_txnoff_apply_fn *apply, void *arg,
                   gr_crt_undo_t *undo)
{
    prod_t *p = prod_find(t, pid);
    if (!p)
        return;                     /* no offsets in this transaction here */
    gr_hmap_remove(&t->by_pid, &p->node);
    t->count -= gr_hmap_count(&p->ents);
    for (int32_t i = 0; i < p->ngroups; i++)
        gopen_del(t, p->groups[i], strlen(p->groups[i]), pid);
    if (commit) {
        gr_hmap_iter_t it;
        gr_hmap_iter_init(&it, &p->ents);
        for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
            gr_txnoff_ent_t *e = GR_CONTAINER(n, gr_txnoff_ent_t, node);
            if (e->superseded)
                continue;
            apply(arg, e);
            /* OffsetMetadataManager keeps the newest record of a key: an
             * older pending one of another producer loses to this one */
            gopen_t *o = gopen_find(t, e->s, e->glen);
            for (int32_t i = 0; o && i < o->n; i++) {
                prod_t *q = prod_find(t, o->pids[i]);
                gr_txnoff_ent_t *x = q ? ent_find(q, e->s, e->glen, gr_txnoff_topic(e), e->tlen, e->partition,
                                                  e->node.hash)
                                       : NULL;
                if (x && x->record_offset < e->record_offset)
                    supersede(x, undo);
            }
        }
    }
    if (undo) {
        end_undo_t *u = gr_crt_undo_push(undo, end_undo_fn, sizeof(*u));
        *u = (end_undo_t){t, p};
    } else {
        prod_free(p);
    }
}

/* ------------------------------------------------------------ reads */

bool gr_txnoff_pending(const gr_txnoff_t *t, const char *gid, size_t glen, const char *topic, size_t tlen,
                       int32_t partition)
{
    gopen_t *o = t ? gopen_find(t, gid, glen) : NULL;
    if (!o)
        return false;
    uint32_t h = key_hash(gid, glen, topic, tlen, partition);
    for (int32_t i = 0; i < o->n; i++) {
        prod_t *p = prod_find(t, o->pids[i]);
        if (p && ent_find(p, gid, glen, topic, tlen, partition, h))
            return true;
    }
    return false;
}

bool gr_txnoff_group_open(const gr_txnoff_t *t, const char *gid, size_t glen)
{
    return t && gopen_find(t, gid, glen) != NULL;
}

void gr_txnoff_foreach_group(const gr_txnoff_t *t, const char *gid, size_t glen,
                             void (*fn)(void *arg, const gr_txnoff_ent_t *e), void *arg)
{
    gopen_t *o = t ? gopen_find(t, gid, glen) : NULL;
    for (int32_t i = 0; o && i < o->n; i++) {
        prod_t *p = prod_find(t, o->pids[i]);
        if (!p)
            continue;
        gr_hmap_iter_t it;
        gr_hmap_iter_init(&it, &p->ents);
        for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));) {
            gr_txnoff_ent_t *e = GR_CONTAINER(n, gr_txnoff_ent_t, node);
            if (e->glen == glen && !memcmp(e->s, gid, glen))
                fn(arg, e);
        }
    }
}
