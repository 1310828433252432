/*
 * fetch_session.c - the fetch session cache (see fetch_session.h).
 *
 * Three structures, all gr_hmap (hmap.h) or intrusive lists, no
 * per-request allocation:
 *
 *   sessions     id -> gr_fsess_t (hash), plus a doubly linked LRU list,
 *                least recently used first: eviction looks at its head only
 *   names        interned topic names, refcounted by cached partitions
 *   per session  (topic, partition) -> gr_fsess_part_t (hash) and the
 *                pending list: partitions an incremental fetch must look at
 *
 * Kafka also lets a large new session evict a smaller one that is merely
 * old; here only an idle session (least recently used, unused for longer
 * than the eviction time) makes room, which is the case that matters.
 * This file never answers requests; it calls back into the parked fetch.
 */
#include "fetch_session.h"
#include "broker.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static bool configured;
static int32_t max_slots;
static int64_t eviction_ms;

static gr_hmap_t sess_tab;       /* gr_fsess_t by id */
static int nsessions;
static gr_fsess_t *lru_head, *lru_tail;

static gr_hmap_t name_tab;       /* gr_fsess_topic_t by name */

static uint64_t rng_state;

void gr_fsess_configure(int32_t slots, int64_t evict_ms)
{
    configured = true;
    max_slots = slots < 0 ? 0 : slots;
    eviction_ms = evict_ms;
}

static void ensure_configured(void)
{
    if (!configured)
        gr_fsess_configure(gr_broker.cfg.max_incremental_fetch_session_cache_slots, GR_FSESS_EVICTION_MS);
}

int gr_fsess_count(void) { return nsessions; }

/* ------------------------------------------------------------ ids */

static uint32_t rng_next(void)
{
    if (rng_state == 0) {
        if (getrandom(&rng_state, sizeof(rng_state), 0) != (ssize_t)sizeof(rng_state))
            rng_state = (uint64_t)gr_mono_us() * 0x9E3779B97F4A7C15ull;
        rng_state |= 1;
    }
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

int32_t gr_fsess_next_epoch(int32_t epoch)
{
    if (epoch < 0)
        return -1;
    return epoch == INT32_MAX ? 1 : epoch + 1;
}

/* ------------------------------------------------------------ session table */

gr_fsess_t *gr_fsess_find(int32_t id)
{
    if (id == 0)
        return NULL;
    for (gr_hnode_t *n = gr_hmap_first(&sess_tab, gr_hash_int((uint32_t)id)); n; n = gr_hmap_next(n)) {
        gr_fsess_t *s = GR_CONTAINER(n, gr_fsess_t, node);
        if (s->id == id)
            return s;
    }
    return NULL;
}

static void sess_tab_insert(gr_fsess_t *s)
{
    if (!sess_tab.min_nb)
        gr_hmap_init(&sess_tab, 64);
    gr_hmap_insert(&sess_tab, &s->node, gr_hash_int((uint32_t)s->id));
    nsessions++;
}

static void sess_tab_remove(gr_fsess_t *s)
{
    gr_hmap_remove(&sess_tab, &s->node);
    nsessions--;
}

static void lru_unlink(gr_fsess_t *s)
{
    if (s->lru_prev)
        s->lru_prev->lru_next = s->lru_next;
    else
        lru_head = s->lru_next;
    if (s->lru_next)
        s->lru_next->lru_prev = s->lru_prev;
    else
        lru_tail = s->lru_prev;
    s->lru_prev = s->lru_next = NULL;
}

static void lru_append(gr_fsess_t *s)
{
    s->lru_prev = lru_tail;
    s->lru_next = NULL;
    if (lru_tail)
        lru_tail->lru_next = s;
    else
        lru_head = s;
    lru_tail = s;
}

void gr_fsess_touch(gr_fsess_t *s, int64_t now_ms)
{
    s->last_used_ms = now_ms;
    lru_unlink(s);
    lru_append(s);
}

/* ------------------------------------------------------------ topic names */

static gr_fsess_topic_t *name_find(const char *name, size_t len, uint32_t h)
{
    for (gr_hnode_t *n = gr_hmap_first(&name_tab, h); n; n = gr_hmap_next(n)) {
        gr_fsess_topic_t *t = GR_CONTAINER(n, gr_fsess_topic_t, node);
        if ((size_t)t->len == len && !memcmp(t->name, name, len))
            return t;
    }
    return NULL;
}

static gr_fsess_topic_t *name_ref(const char *name, size_t len)
{
    uint32_t h = gr_hash32(name, len);
    gr_fsess_topic_t *t = name_find(name, len, h);
    if (t) {
        t->refs++;
        return t;
    }
    if (!name_tab.min_nb)
        gr_hmap_init(&name_tab, 64);
    t = gr_malloc(sizeof(*t) + len + 1);
    t->refs = 1;
    t->len = (int32_t)len;
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    gr_hmap_insert(&name_tab, &t->node, h);
    return t;
}

static void name_unref(gr_fsess_topic_t *t)
{
    if (--t->refs > 0)
        return;
    gr_hmap_remove(&name_tab, &t->node);
    free(t);
    if (gr_hmap_count(&name_tab) == 0)
        gr_hmap_free(&name_tab);
}

/* ------------------------------------------------------------ cached partitions */

static uint32_t part_hash(const gr_fsess_topic_t *t, int32_t partition)
{
    return gr_hash_mix(((uint64_t)t->node.hash << 32) ^ (uint32_t)partition);
}

void gr_fsess_pend(gr_fsess_part_t *cp)
{
    if (cp->pending)
        return;
    gr_fsess_t *s = cp->sess;
    cp->pending = true;
    cp->pnext = NULL;
    cp->pprev = s->pend_tail;
    if (s->pend_tail)
        s->pend_tail->pnext = cp;
    else
        s->pend_head = cp;
    s->pend_tail = cp;
    s->npending++;
}

void gr_fsess_unpend(gr_fsess_part_t *cp)
{
    if (!cp->pending)
        return;
    gr_fsess_t *s = cp->sess;
    if (cp->pprev)
        cp->pprev->pnext = cp->pnext;
    else
        s->pend_head = cp->pnext;
    if (cp->pnext)
        cp->pnext->pprev = cp->pprev;
    else
        s->pend_tail = cp->pprev;
    cp->pnext = cp->pprev = NULL;
    cp->pending = false;
    s->npending--;
}

/* Waiter callback: an append, gr_partition_notify or the partition being
 * freed (then the waiter is already unlinked and p is going away). */
static void on_partition_event(gr_pwait_t *w)
{
    gr_fsess_part_t *cp = w->arg;
    if (!w->linked)
        cp->p = NULL;
    gr_fsess_pend(cp);
    gr_fsess_t *s = cp->sess;
    if (s->parker)
        s->parker->cb(s->parker, cp->p ? GR_FSESS_CHANGED : GR_FSESS_DETACHED);
}

static void part_attach(gr_fsess_part_t *cp)
{
    gr_topic_t *t;
    if (cp->sess->uses_ids) {
        gr_uuid_t id;
        memcpy(id.b, cp->topic->name, sizeof(id.b));
        t = cp->topic->len == (int32_t)sizeof(id.b) ? gr_topic_find_id(&id) : NULL;
    } else {
        t = gr_topic_find(cp->topic->name, (size_t)cp->topic->len);
    }
    cp->p = t ? gr_partition_get(t, cp->partition) : NULL;
    if (cp->p)
        gr_pwait_add(cp->p, &cp->wait);
}

bool gr_fsess_attach(gr_fsess_part_t *cp)
{
    if (cp->p == NULL)
        part_attach(cp);
    return cp->p != NULL;
}

static void part_free(gr_fsess_part_t *cp)
{
    gr_pwait_remove(&cp->wait);
    gr_fsess_unpend(cp);
    name_unref(cp->topic);
    free(cp);
}

static gr_fsess_part_t *part_find(gr_fsess_t *s, const gr_fsess_topic_t *t, int32_t partition)
{
    if (!t)
        return NULL;
    for (gr_hnode_t *n = gr_hmap_first(&s->parts, part_hash(t, partition)); n; n = gr_hmap_next(n)) {
        gr_fsess_part_t *cp = GR_CONTAINER(n, gr_fsess_part_t, node);
        if (cp->topic == t && cp->partition == partition)
            return cp;
    }
    return NULL;
}

gr_fsess_part_t *gr_fsess_put(gr_fsess_t *s, const char *topic, size_t len, int32_t partition, bool *added)
{
    if (topic == NULL)
        topic = "";
    gr_fsess_part_t *cp = part_find(s, name_find(topic, len, gr_hash32(topic, len)), partition);
    if (cp) {
        *added = false;
        gr_fsess_attach(cp);
    } else {
        cp = gr_calloc(1, sizeof(*cp));
        cp->sess = s;
        cp->topic = name_ref(topic, len);
        cp->partition = partition;
        cp->high_watermark = -1;
        cp->log_start_offset = -1;
        cp->fetcher_log_start = -1;
        cp->current_leader_epoch = -1;
        cp->last_fetched_epoch = -1;
        cp->wait.cb = on_partition_event;
        cp->wait.arg = cp;
        gr_hmap_insert(&s->parts, &cp->node, part_hash(cp->topic, partition));
        s->nparts++;
        part_attach(cp);
        *added = true;
    }
    gr_fsess_pend(cp);
    return cp;
}

bool gr_fsess_forget(gr_fsess_t *s, const char *topic, size_t len, int32_t partition)
{
    if (topic == NULL)
        topic = "";
    gr_fsess_part_t *cp = part_find(s, name_find(topic, len, gr_hash32(topic, len)), partition);
    if (!cp)
        return false;
    gr_hmap_remove(&s->parts, &cp->node);
    s->nparts--;
    part_free(cp);
    return true;
}

/* ------------------------------------------------------------ sessions */

static void sess_free(gr_fsess_t *s)
{
    gr_hmap_iter_t it;
    gr_hmap_iter_init(&it, &s->parts);
    for (gr_hnode_t *n; (n = gr_hmap_iter_next(&it));)
        part_free(GR_CONTAINER(n, gr_fsess_part_t, node));
    gr_hmap_free(&s->parts);
    free(s);
}

gr_fsess_t *gr_fsess_create(int64_t now_ms)
{
    ensure_configured();
    if (max_slots <= 0)
        return NULL;
    if (nsessions >= max_slots) {
        if (!lru_head || now_ms - lru_head->last_used_ms <= eviction_ms)
            return NULL;
        gr_fsess_remove(lru_head);
    }
    gr_fsess_t *s = gr_calloc(1, sizeof(*s));
    gr_hmap_init(&s->parts, 16);
    do
        s->id = (int32_t)(rng_next() % (uint32_t)(INT32_MAX - 1)) + 1;
    while (gr_fsess_find(s->id));
    s->epoch = 1;
    s->created_ms = s->last_used_ms = now_ms;
    sess_tab_insert(s);
    lru_append(s);
    return s;
}

void gr_fsess_remove(gr_fsess_t *s)
{
    if (s->parker)
        s->parker->cb(s->parker, GR_FSESS_CLOSING);
    s->parker = NULL;
    sess_tab_remove(s);
    lru_unlink(s);
    sess_free(s);
}

void gr_fsess_park(gr_fsess_t *s, gr_fsess_parker_t *pk)
{
    s->parker = pk;
}

void gr_fsess_free_all(void)
{
    while (lru_head) {
        gr_fsess_t *s = lru_head;
        s->parker = NULL;         /* requests are gone by now */
        sess_tab_remove(s);
        lru_unlink(s);
        sess_free(s);
    }
    gr_hmap_free(&sess_tab);
    nsessions = 0;
    gr_hmap_free(&name_tab);
    configured = false;
}
