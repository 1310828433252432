/*
 * group.c - the classic group coordinator (Kafka 3.7 GroupCoordinator /
 * GroupMetadata semantics): the group registry, the state machine, its
 * timers and the per-group history (bounded per group and in total).
 *
 *            JoinGroup (new member)         all joined / timeout
 *   Empty ---------------------------> PreparingRebalance -------------> CompletingRebalance
 *     ^                                   ^   |  no member left               |  leader SyncGroup
 *     |            join / leave / expiry  |   +------> Empty (gen+1)          |  + GroupMetadata stored
 *     |                                   +-------------------------------- Stable <-+
 *     +-- DeleteGroups: Empty -> Dead -> removed
 *
 * Timers (all through the injectable clock, gr_group_set_clock):
 *   join_timer      InitialDelayedJoin when the rebalance starts from Empty
 *                   (group.initial.rebalance.delay.ms, extended once per
 *                   expiry while new members arrived in generation 0, up to
 *                   the rebalance timeout; never completes early), else
 *                   DelayedJoin (max rebalance timeout of the members,
 *                   completes as soon as every member and no pending member
 *                   is left to join).
 *   sync_timer      DelayedSync: members that got their JoinGroup answer
 *                   but send no SyncGroup within the rebalance timeout are
 *                   removed and the group rebalances.
 *   session_timer   per member (DelayedHeartbeat): expired members are
 *                   removed unless they wait in JoinGroup / SyncGroup; new
 *                   members waiting in their first JoinGroup get 5 minutes.
 *   pending timer   per KIP-394 pending member id (session timeout).
 *
 * Waiters: parked JoinGroup / SyncGroup callers are answered through their
 * waiter's done(), from inside whatever event completes them.  done() must
 * not call back into this module.
 *
 * Persistence goes through the host the coordinator installs
 * (gr_group_set_host; coord.c, or a test's fake): host.store() writes the
 * group's GroupMetadata when the leader's assignment completes a generation
 * (the SyncGroups are answered from its callback), when a generation ends
 * Empty and when a static member is replaced in Stable.  As in Kafka's
 * classic groups, that record is not replayed: this state machine already
 * holds what it says.  The records the coordinator does replay reach this
 * module through gr_group_load_metadata (a group's last GroupMetadata at
 * load, or a downgrade's), gr_group_detach / gr_group_restore (a
 * GroupMetadata tombstone and its rollback), gr_group_strip /
 * gr_group_unstrip (the tombstone of an upgrade and its rollback) and the
 * offsets map (offsets.c).  Every callback context
 * carries the group id and is re-resolved, so a group removed in between is
 * never touched.  This module does not know __consumer_offsets, its
 * partitions' loading, or coord.c.
 *
 * Records: the GroupMetadataValue layout (drawn in coord.c with the other
 * __consumer_offsets records) is encoded and decoded here, since it is the
 * group's own state; a value becomes members only through
 * gr_group_load_metadata.
 *
 * Never: block, keep a pointer into a request, or answer a waiter twice.
 */
#include "group.h"
#include "broker.h"
#include "hmap.h"
#include "jstr.h"
#include "schema_gen.h"
#include "kerr.h"
#include "offsets.h"
#include "metrics.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define NEW_MEMBER_JOIN_TIMEOUT_MS (5 * 60 * 1000)

/* ------------------------------------------------------------ clock */

static int64_t def_now(void *ctx)
{
    GR_UNUSED(ctx);
    return gr_now_ms();
}

static void def_start(void *ctx, gr_timer_t *t, int64_t delay_ms)
{
    GR_UNUSED(ctx);
    gr_timer_start(gr_broker.ev, t, delay_ms);
}

static void def_stop(void *ctx, gr_timer_t *t)
{
    GR_UNUSED(ctx);
    if (gr_timer_armed(t))
        gr_timer_stop(gr_broker.ev, t);
}

static const gr_group_clock_t default_clock = {def_now, def_start, def_stop, NULL};
static gr_group_clock_t clk = {def_now, def_start, def_stop, NULL};

void gr_group_set_clock(const gr_group_clock_t *c)
{
    clk = c ? *c : default_clock;
}

int64_t gr_group_clock_now_ms(void)
{
    return clk.now_ms(clk.ctx);
}

int32_t gr_group_max_rebalance_timeout_ms(void)
{
    int32_t cap = gr_broker.cfg.group_max_rebalance_timeout_ms;
    return cap > 0 ? cap : INT32_MAX;
}

void gr_group_clock_start(gr_timer_t *t, int64_t delay_ms)
{
    clk.timer_start(clk.ctx, t, delay_ms < 0 ? 0 : delay_ms);
}

void gr_group_clock_stop(gr_timer_t *t)
{
    clk.timer_stop(clk.ctx, t);
}

/* ------------------------------------------------------------ host */

static const gr_group_host_t *host;

void gr_group_set_host(const gr_group_host_t *h)
{
    host = h;
}

static void store_group(gr_group_t *g, gr_group_store_cb *cb, void *arg)
{
    assert(host && host->store);    /* the coordinator installed itself */
    host->store(g, cb, arg);
}

/* ------------------------------------------------------------ names */

const char *gr_group_state_name(gr_group_state_t s)
{
    switch (s) {
    case GR_GROUP_EMPTY: return "Empty";
    case GR_GROUP_PREPARING_REBALANCE: return "PreparingRebalance";
    case GR_GROUP_COMPLETING_REBALANCE: return "CompletingRebalance";
    case GR_GROUP_STABLE: return "Stable";
    case GR_GROUP_DEAD: return "Dead";
    }
    return "Unknown";
}

const char *gr_rebalance_trigger_name(gr_rebalance_trigger_t t)
{
    switch (t) {
    case GR_TRIGGER_NONE: return "none";
    case GR_TRIGGER_MEMBER_JOINED: return "member joined";
    case GR_TRIGGER_MEMBER_LEFT: return "member left";
    case GR_TRIGGER_SESSION_TIMEOUT: return "session timeout";
    case GR_TRIGGER_METADATA_CHANGE: return "metadata change";
    case GR_TRIGGER_STATIC_REPLACEMENT: return "static replacement";
    case GR_TRIGGER_LEADER_REJOIN: return "leader rejoin";
    case GR_TRIGGER_SYNC_TIMEOUT: return "sync timeout";
    case GR_TRIGGER_STORE_FAILED: return "store failed";
    case GR_TRIGGER_LOADED_OVER_CAPACITY: return "loaded over capacity";
    case GR_TRIGGER_DOWNGRADE: return "downgrade from a consumer group";
    }
    return "unknown";
}

/* ------------------------------------------------------------ registry */

static gr_hmap_t reg;            /* gr_group_t by id */
static uint64_t reg_version;     /* +1 whenever a group leaves the registry */

static void member_session_cb(gr_ev_t *ev, void *arg);
static void join_timer_cb(gr_ev_t *ev, void *arg);
static void sync_timer_cb(gr_ev_t *ev, void *arg);

gr_group_t *gr_group_find(const char *id, size_t len)
{
    if (!id)
        return NULL;
    for (gr_hnode_t *n = gr_hmap_first(&reg, gr_hash32(id, len)); n; n = gr_hmap_next(n)) {
        gr_group_t *g = GR_CONTAINER(n, gr_group_t, node);
        if (strlen(g->group_id) == len && memcmp(g->group_id, id, len) == 0)
            return g;
    }
    return NULL;
}

/* A new group in the registry (id not there). */
static gr_group_t *group_new(const char *id, size_t len)
{
    if (!reg.min_nb)
        gr_hmap_init(&reg, 64);
    gr_group_t *g = gr_calloc(1, sizeof(*g));
    g->group_id = gr_strndup(id, len);
    g->state = GR_GROUP_EMPTY;
    g->state_timestamp_ms = gr_group_clock_now_ms();
    g->empty_since_ms = g->state_timestamp_ms;
    g->generation_id = 0;
    g->coord_partition = host && host->partition_for ? host->partition_for(id, len) : 0;
    gr_timer_init(&g->join_timer, join_timer_cb, g);
    gr_timer_init(&g->sync_timer, sync_timer_cb, g);
    gr_hmap_insert(&reg, &g->node, gr_hash32(id, len));
    return g;
}

gr_group_t *gr_group_get_or_create(const char *id, size_t len)
{
    gr_group_t *g = gr_group_find(id, len);
    return g ? g : group_new(id, len);
}

gr_group_t *gr_group_create_simple(const char *id, size_t len, int32_t partition)
{
    gr_group_t *g = group_new(id, len);     /* the caller looked it up */
    g->coord_partition = partition;
    g->empty_since_ms = 0;
    return g;
}

gr_group_t *gr_group_next(gr_group_t *g)
{
    gr_hnode_t *n = gr_hmap_after(&reg, g ? &g->node : NULL);
    return n ? GR_CONTAINER(n, gr_group_t, node) : NULL;
}

int gr_group_count(void)
{
    return (int)gr_hmap_count(&reg);
}

/* ------------------------------------------------------------ helpers */

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s ? gr_strdup(s) : NULL;
}

static void transition(gr_group_t *g, gr_group_state_t s)
{
    g->state = s;
    g->state_timestamp_ms = gr_group_clock_now_ms();
    g->empty_since_ms = s == GR_GROUP_EMPTY ? g->state_timestamp_ms : -1;
}

/* Java UUID.randomUUID().toString() */
static void uuid4(char out[37])
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* no entropy source: fall back to time-derived bytes */
            uint64_t x = (uint64_t)gr_mono_us() ^ ((uint64_t)gr_now_ms() << 20);
            for (size_t i = got; i < sizeof(b); i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                b[i] = (uint8_t)x;
            }
            break;
        }
        got += (size_t)n;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = 0;
}

static char *generate_member_id(const char *client_id, const char *instance_id)
{
    const char *prefix = instance_id ? instance_id : (client_id ? client_id : "");
    char u[37];
    uuid4(u);
    size_t n = strlen(prefix) + 1 + 36 + 1;
    char *id = gr_malloc(n);
    snprintf(id, n, "%s-%s", prefix, u);
    return id;
}

gr_member_t *gr_group_member(const gr_group_t *g, const char *member_id, size_t len)
{
    if (!g || !member_id)
        return NULL;
    for (gr_member_t *m = g->members; m; m = m->next)
        if (strlen(m->member_id) == len && memcmp(m->member_id, member_id, len) == 0)
            return m;
    return NULL;
}

static gr_member_t *member_get(const gr_group_t *g, const char *member_id)
{
    return member_id ? gr_group_member(g, member_id, strlen(member_id)) : NULL;
}

static gr_member_t *static_member(const gr_group_t *g, const char *instance_id)
{
    if (!instance_id)
        return NULL;
    for (gr_member_t *m = g->members; m; m = m->next)
        if (streq(m->group_instance_id, instance_id))
            return m;
    return NULL;
}

const gr_member_protocol_t *gr_member_protocol(const gr_member_t *m, const char *name)
{
    if (!name)
        return NULL;
    for (int32_t i = 0; i < m->nprotocols; i++)
        if (streq(m->protocols[i].name, name))
            return &m->protocols[i];
    return NULL;
}

static bool is_leader(const gr_group_t *g, const char *member_id)
{
    return streq(g->leader_id, member_id);
}

/* The largest rebalance timeout of the members, at most
 * group.max.rebalance.timeout.ms (members loaded from records written
 * before the cap may hold more). */
static int32_t group_rebalance_timeout(const gr_group_t *g)
{
    int32_t t = 0;
    for (gr_member_t *m = g->members; m; m = m->next)
        t = GR_MAX(t, m->rebalance_timeout_ms);
    return GR_MIN(t, gr_group_max_rebalance_timeout_ms());
}

static void free_protocols(gr_member_protocol_t *p, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].metadata);
    }
    free(p);
}

static gr_member_protocol_t *copy_protocols(const gr_join_protocol_t *p, int32_t n)
{
    gr_member_protocol_t *out = gr_calloc((size_t)GR_MAX(n, 1), sizeof(*out));
    for (int32_t i = 0; i < n; i++) {
        out[i].name = gr_strdup(p[i].name ? p[i].name : "");
        out[i].metadata_len = GR_MAX(p[i].metadata_len, 0);
        out[i].metadata = gr_malloc((size_t)GR_MAX(out[i].metadata_len, 1));
        if (out[i].metadata_len > 0)
            memcpy(out[i].metadata, p[i].metadata, (size_t)out[i].metadata_len);
    }
    return out;
}

/* MemberMetadata.matches: same protocols, same order, same bytes. */
static bool member_matches(const gr_member_t *m, const gr_join_protocol_t *p, int32_t n)
{
    if (m->nprotocols != n)
        return false;
    for (int32_t i = 0; i < n; i++) {
        const gr_member_protocol_t *q = &m->protocols[i];
        int32_t len = GR_MAX(p[i].metadata_len, 0);
        if (!streq(q->name, p[i].name ? p[i].name : "") || q->metadata_len != len)
            return false;
        if (len > 0 && memcmp(q->metadata, p[i].metadata, (size_t)len) != 0)
            return false;
    }
    return true;
}

static void set_assignment(gr_member_t *m, const uint8_t *a, int32_t len)
{
    free(m->assignment);
    m->assignment_len = GR_MAX(len, 0);
    m->assignment = gr_malloc((size_t)GR_MAX(m->assignment_len, 1));
    if (m->assignment_len > 0)
        memcpy(m->assignment, a, (size_t)m->assignment_len);
}

/* how many members support protocol `name` */
static int32_t protocol_votes(const gr_group_t *g, const char *name)
{
    int32_t n = 0;
    for (gr_member_t *m = g->members; m; m = m->next)
        if (gr_member_protocol(m, name))
            n++;
    return n;
}

/* GroupMetadata.supportsProtocols */
static bool supports_protocols(const gr_group_t *g, const char *type, const gr_join_protocol_t *p, int32_t n)
{
    if (g->state == GR_GROUP_EMPTY)
        return type && type[0] && n > 0;
    if (!streq(g->protocol_type, type))
        return false;
    for (int32_t i = 0; i < n; i++)
        if (protocol_votes(g, p[i].name ? p[i].name : "") == g->nmembers)
            return true;
    return false;
}

/* GroupMetadata.selectProtocol: the candidates are the protocols every
 * member supports; each member votes for its first candidate; most votes
 * wins (ties: the earliest in the first member's preference order). */
static const char *select_protocol(const gr_group_t *g)
{
    const gr_member_t *first = g->members;
    if (!first)
        return NULL;
    const char *best = NULL;
    int32_t best_votes = -1;
    for (int32_t i = 0; i < first->nprotocols; i++) {
        const char *cand = first->protocols[i].name;
        if (protocol_votes(g, cand) != g->nmembers)
            continue;
        int32_t votes = 0;
        for (gr_member_t *m = g->members; m; m = m->next) {
            for (int32_t j = 0; j < m->nprotocols; j++) {
                if (protocol_votes(g, m->protocols[j].name) == g->nmembers) {
                    if (streq(m->protocols[j].name, cand))
                        votes++;
                    break;
                }
            }
        }
        if (votes > best_votes) {
            best = cand;
            best_votes = votes;
        }
    }
    return best;
}

/* ------------------------------------------------------------ history
 *
 * A group's history is a FIFO list of entries, each one allocation with its
 * strings, so a group pays only for the events it holds (a group that
 * only ever committed once holds one entry).  Bounds: GR_GROUP_HISTORY_MAX
 * entries per group, group.history.max.bytes for all groups together
 * (bytes, not entries: a client id may be 32 KB).  The groups holding
 * history are listed by their latest event; at the broker-wide bound the
 * first of them (quiet for longest) gives up its oldest entry, and leaves
 * the list with its last one. */

struct gr_hist_node {
    struct gr_hist_node *next;
    size_t size;                    /* what it counts in hist.bytes */
    gr_hist_entry_t e;
    char s[];                       /* e.member and e.topic point here */
};

static struct {
    gr_group_t *head, *tail;        /* groups with hist_len > 0, latest event last */
    int64_t entries, bytes;
} hist;

static void hist_unlink(gr_group_t *g)
{
    if (g->hist_prev)
        g->hist_prev->hist_next = g->hist_next;
    else
        hist.head = g->hist_next;
    if (g->hist_next)
        g->hist_next->hist_prev = g->hist_prev;
    else
        hist.tail = g->hist_prev;
    g->hist_prev = g->hist_next = NULL;
}

/* Take g's oldest entry out of the history; the caller frees or reuses it. */
static struct gr_hist_node *hist_take_oldest(gr_group_t *g)
{
    struct gr_hist_node *n = g->hist_head;
    g->hist_head = n->next;
    if (!g->hist_head)
        g->hist_tail = NULL;
    hist.bytes -= (int64_t)n->size;
    g->hist_len--;
    hist.entries--;
    if (g->hist_len == 0)
        hist_unlink(g);
    return n;
}

static void hist_drop_oldest(gr_group_t *g)
{
    free(hist_take_oldest(g));
}

static void hist_clear(gr_group_t *g)
{
    while (g->hist_len > 0)
        hist_drop_oldest(g);
}

void gr_group_hist_add(gr_group_t *g, const gr_hist_entry_t *e)
{
    int64_t cap = gr_broker.cfg.group_history_max_bytes;
    size_t ml = e->member ? strlen(e->member) + 1 : 0, tl = e->topic ? strlen(e->topic) + 1 : 0;
    size_t dl = e->detail ? strlen(e->detail) + 1 : 0;
    size_t size = sizeof(struct gr_hist_node) + ml + tl + dl;
    if ((int64_t)size > cap)
        return;
    /* a full group's oldest entry makes room, and its memory is reused
     * (a steady stream of commits costs no allocation per entry) */
    struct gr_hist_node *n = g->hist_len >= GR_GROUP_HISTORY_MAX ? hist_take_oldest(g) : NULL;
    while (hist.bytes + (int64_t)size > cap)
        hist_drop_oldest(hist.head);
    n = n ? gr_realloc(n, size) : gr_malloc(size);
    n->next = NULL;
    n->size = size;
    n->e = *e;
    char *s = n->s;
    if (ml) {
        memcpy(s, e->member, ml);
        n->e.member = s;
        s += ml;
    }
    if (tl) {
        memcpy(s, e->topic, tl);
        n->e.topic = s;
        s += tl;
    }
    if (dl) {
        memcpy(s, e->detail, dl);
        n->e.detail = s;
    }
    if (g->hist_len > 0)
        hist_unlink(g);             /* to the end: its latest event is now */
    if (g->hist_tail)
        g->hist_tail->next = n;
    else
        g->hist_head = n;
    g->hist_tail = n;
    g->hist_len++;
    hist.entries++;
    hist.bytes += (int64_t)size;
    g->hist_prev = hist.tail;
    g->hist_next = NULL;
    if (hist.tail)
        hist.tail->hist_next = g;
    else
        hist.head = g;
    hist.tail = g;
}

const gr_hist_entry_t *gr_group_hist_at(const gr_group_t *g, int32_t i)
{
    if (i < 0 || i >= g->hist_len)
        return NULL;
    const struct gr_hist_node *n = g->hist_head;
    while (i-- > 0)
        n = n->next;
    return &n->e;
}

int64_t gr_group_hist_total(void)
{
    return hist.entries;
}

int64_t gr_group_hist_bytes(void)
{
    return hist.bytes;
}

/* ------------------------------------------------------------ waiters */

static void invoke_join(gr_member_t *m, const gr_join_result_t *res)
{
    if (!m->awaiting_join)
        return;
    m->awaiting_join = false;
    m->group->num_awaiting_join--;
    gr_join_waiter_t *w = m->join_waiter;
    m->join_waiter = NULL;
    if (w) {
        w->member = NULL;
        w->done(w, res);
    }
}

static bool invoke_sync(gr_member_t *m, const gr_sync_result_t *res)
{
    if (!m->awaiting_sync)
        return false;
    m->awaiting_sync = false;
    gr_sync_waiter_t *w = m->sync_waiter;
    m->sync_waiter = NULL;
    if (w) {
        w->member = NULL;
        w->done(w, res);
    }
    return true;
}

static void join_error(gr_join_waiter_t *w, const char *member_id, gr_kerr_t err)
{
    gr_join_result_t r = {.error = err, .member_id = member_id ? member_id : "", .generation_id = -1,
                          .leader_id = ""};
    w->member = NULL;
    w->done(w, &r);
}

static void sync_error(gr_sync_waiter_t *w, gr_kerr_t err)
{
    gr_sync_result_t r = {.error = err};
    w->member = NULL;
    w->done(w, &r);
}

static void member_join_error(gr_member_t *m, const char *member_id, gr_kerr_t err)
{
    gr_join_result_t r = {.error = err, .member_id = member_id, .generation_id = -1, .leader_id = ""};
    invoke_join(m, &r);
}

static void member_sync_error(gr_member_t *m, gr_kerr_t err)
{
    gr_sync_result_t r = {.error = err};
    invoke_sync(m, &r);
}

void gr_group_waiter_detach_join(gr_join_waiter_t *w)
{
    if (w->member && w->member->join_waiter == w)
        w->member->join_waiter = NULL;
    w->member = NULL;
}

void gr_group_waiter_detach_sync(gr_sync_waiter_t *w)
{
    if (w->member && w->member->sync_waiter == w)
        w->member->sync_waiter = NULL;
    w->member = NULL;
}

/* Park a join waiter on m (Kafka's awaitingJoinCallback = callback).  A
 * waiter it replaces is answered REBALANCE_IN_PROGRESS so that no caller
 * is left hanging (Kafka silently drops it). */
static void park_join(gr_member_t *m, gr_join_waiter_t *w)
{
    if (m->awaiting_join && m->join_waiter && m->join_waiter != w) {
        gr_join_waiter_t *old = m->join_waiter;
        m->join_waiter = NULL;
        join_error(old, m->member_id, KERR_REBALANCE_IN_PROGRESS);
    }
    if (w && !m->awaiting_join) {
        m->awaiting_join = true;
        m->group->num_awaiting_join++;
    } else if (!w && m->awaiting_join) {
        m->awaiting_join = false;
        m->group->num_awaiting_join--;
    }
    m->join_waiter = w;
    if (w)
        w->member = m;
}

static void park_sync(gr_member_t *m, gr_sync_waiter_t *w)
{
    if (m->awaiting_sync && m->sync_waiter && m->sync_waiter != w) {
        gr_sync_waiter_t *old = m->sync_waiter;
        m->sync_waiter = NULL;
        sync_error(old, KERR_REBALANCE_IN_PROGRESS);
    }
    m->awaiting_sync = true;
    m->sync_waiter = w;
    w->member = m;
}

/* ------------------------------------------------------------ members */

static void member_free(gr_member_t *m)
{
    gr_group_clock_stop(&m->session_timer);
    if (m->join_waiter)
        m->join_waiter->member = NULL;
    if (m->sync_waiter)
        m->sync_waiter->member = NULL;
    free(m->member_id);
    free(m->group_instance_id);
    free(m->client_id);
    free(m->client_host);
    free(m->protocol_type);
    free_protocols(m->protocols, m->nprotocols);
    free(m->assignment);
    free(m);
}

static void schedule_expiration(gr_member_t *m, int64_t timeout_ms)
{
    gr_group_clock_stop(&m->session_timer);
    gr_group_clock_start(&m->session_timer, timeout_ms);
}

static void schedule_heartbeat(gr_member_t *m)
{
    schedule_expiration(m, m->session_timeout_ms);
}

static gr_pending_member_t *pending_find(const gr_group_t *g, const char *member_id)
{
    for (gr_pending_member_t *p = g->pending; p; p = p->next)
        if (streq(p->member_id, member_id))
            return p;
    return NULL;
}

static void pending_remove(gr_group_t *g, const char *member_id)
{
    for (gr_pending_member_t **pp = &g->pending; *pp; pp = &(*pp)->next) {
        gr_pending_member_t *p = *pp;
        if (streq(p->member_id, member_id)) {
            *pp = p->next;
            gr_group_clock_stop(&p->timer);
            free(p->member_id);
            free(p);
            g->npending--;
            return;
        }
    }
}

/* GroupMetadata.isPendingMember */
static bool is_pending_member(const gr_group_t *g, const char *member_id)
{
    return pending_find(g, member_id) && !member_get(g, member_id);
}

static void try_complete_join(gr_group_t *g);

static void pending_expire_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    gr_pending_member_t *p = arg;
    gr_group_t *g = p->group;
    gr_info("group", "Pending member %s in group %s has been removed after session timeout expiration.",
            p->member_id, g->group_id);
    char *id = gr_strdup(p->member_id);
    pending_remove(g, id);
    free(id);
    if (g->state == GR_GROUP_PREPARING_REBALANCE)
        try_complete_join(g);
}

static void pending_add(gr_group_t *g, const char *member_id, int32_t session_timeout_ms)
{
    gr_pending_member_t *p = gr_calloc(1, sizeof(*p));
    p->group = g;
    p->member_id = gr_strdup(member_id);
    gr_timer_init(&p->timer, pending_expire_cb, p);
    p->next = g->pending;
    g->pending = p;
    g->npending++;
    gr_group_clock_start(&p->timer, session_timeout_ms);
}

/* GroupMetadata.add */
static void group_add(gr_group_t *g, gr_member_t *m, gr_join_waiter_t *w)
{
    if (!g->members)
        set_str(&g->protocol_type, m->protocol_type);
    if (!g->leader_id)
        g->leader_id = gr_strdup(m->member_id);
    gr_member_t **tail = &g->members;
    while (*tail)
        tail = &(*tail)->next;
    *tail = m;
    m->next = NULL;
    m->group = g;
    g->nmembers++;
    park_join(m, w);
    pending_remove(g, m->member_id);
}

/* GroupMetadata.remove: no waiter is answered here. */
static void group_remove(gr_group_t *g, gr_member_t *m)
{
    for (gr_member_t **pp = &g->members; *pp; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    }
    g->nmembers--;
    if (m->awaiting_join)
        g->num_awaiting_join--;
    m->awaiting_join = false;
    if (is_leader(g, m->member_id))
        set_str(&g->leader_id, g->members ? g->members->member_id : NULL);
    pending_remove(g, m->member_id);
    /* never leave a caller hanging on a member that is gone */
    if (m->join_waiter) {
        gr_join_waiter_t *w = m->join_waiter;
        m->join_waiter = NULL;
        join_error(w, "", KERR_UNKNOWN_MEMBER_ID);
    }
    if (m->sync_waiter) {
        gr_sync_waiter_t *w = m->sync_waiter;
        m->sync_waiter = NULL;
        sync_error(w, KERR_UNKNOWN_MEMBER_ID);
    }
    member_free(m);
}

static gr_member_t *member_new(gr_group_t *g, const gr_join_params_t *p, const char *member_id)
{
    gr_member_t *m = gr_calloc(1, sizeof(*m));
    m->group = g;
    m->member_id = gr_strdup(member_id);
    m->group_instance_id = p->group_instance_id ? gr_strdup(p->group_instance_id) : NULL;
    m->client_id = gr_strdup(p->client_id ? p->client_id : "");
    m->client_host = gr_strdup(p->client_host ? p->client_host : "");
    m->session_timeout_ms = p->session_timeout_ms;
    m->rebalance_timeout_ms = GR_MIN(p->rebalance_timeout_ms, gr_group_max_rebalance_timeout_ms());
    m->protocol_type = gr_strdup(p->protocol_type ? p->protocol_type : "");
    m->protocols = copy_protocols(p->protocols, p->nprotocols);
    m->nprotocols = p->nprotocols;
    m->assignment = NULL;
    m->assignment_len = 0;
    gr_timer_init(&m->session_timer, member_session_cb, m);
    return m;
}

/* GroupMetadata.updateMember */
static void update_member(gr_member_t *m, const gr_join_protocol_t *protocols, int32_t n, int32_t rebalance_timeout_ms,
                          int32_t session_timeout_ms, gr_join_waiter_t *w)
{
    free_protocols(m->protocols, m->nprotocols);
    m->protocols = copy_protocols(protocols, n);
    m->nprotocols = n;
    m->rebalance_timeout_ms = GR_MIN(rebalance_timeout_ms, gr_group_max_rebalance_timeout_ms());
    m->session_timeout_ms = session_timeout_ms;
    park_join(m, w);
}

/* ------------------------------------------------------------ rebalance */

static void prepare_rebalance(gr_group_t *g, gr_rebalance_trigger_t trigger, const char *who);
static void on_complete_join(gr_group_t *g);
static void remove_member_and_update(gr_group_t *g, gr_member_t *m, gr_rebalance_trigger_t trigger);

static bool can_rebalance(const gr_group_t *g)
{
    return g->state == GR_GROUP_STABLE || g->state == GR_GROUP_COMPLETING_REBALANCE || g->state == GR_GROUP_EMPTY;
}

static void maybe_prepare_rebalance(gr_group_t *g, gr_rebalance_trigger_t trigger, const char *who)
{
    if (can_rebalance(g))
        prepare_rebalance(g, trigger, who);
}

static bool has_all_members_joined(const gr_group_t *g)
{
    return g->nmembers == g->num_awaiting_join && g->npending == 0;
}

static void propagate_assignment(gr_group_t *g, gr_kerr_t error)
{
    for (gr_member_t *m = g->members; m; m = m->next) {
        gr_sync_result_t r = {.error = error};
        if (error == KERR_NONE) {
            r.protocol_type = g->protocol_type;
            r.protocol_name = g->protocol_name;
            r.assignment = m->assignment;
            r.assignment_len = m->assignment_len;
            if (m->assignment_len == 0)
                gr_warn("group", "Sending empty assignment to member %s of %s for generation %" PRId32
                        " with no errors", m->member_id, g->group_id, g->generation_id);
        }
        /* reset the session after answering: expirations while the
         * member waited were ignored */
        if (invoke_sync(m, &r))
            schedule_heartbeat(m);
    }
}

static void reset_and_propagate_error(gr_group_t *g, gr_kerr_t error)
{
    for (gr_member_t *m = g->members; m; m = m->next) {
        free(m->assignment);
        m->assignment = NULL;
        m->assignment_len = 0;
    }
    propagate_assignment(g, error);
}

static void remove_sync_expiration(gr_group_t *g)
{
    for (gr_member_t *m = g->members; m; m = m->next)
        m->pending_sync = false;
    gr_group_clock_stop(&g->sync_timer);
}

/* who: the member that started it (joined, left, timed out), or NULL; the
 * rebalance history shows it. */
static void prepare_rebalance(gr_group_t *g, gr_rebalance_trigger_t trigger, const char *who)
{
    if (g->state == GR_GROUP_COMPLETING_REBALANCE)
        reset_and_propagate_error(g, KERR_REBALANCE_IN_PROGRESS);
    remove_sync_expiration(g);
    gr_group_clock_stop(&g->join_timer);
    int32_t rto = group_rebalance_timeout(g);
    if (g->state == GR_GROUP_EMPTY) {
        int64_t delay = GR_MAX(gr_broker.cfg.group_initial_rebalance_delay_ms, 0);
        g->join_initial = true;
        g->join_remaining_ms = GR_MAX(gr_sub_sat(rto, delay), 0);
        g->initial_delay_deadline_ms = gr_add_sat(gr_group_clock_now_ms(), delay);
        gr_group_clock_start(&g->join_timer, delay);
        g->join_initial_delay_ms = delay;
    } else {
        g->join_initial = false;
        gr_group_clock_start(&g->join_timer, rto);
    }
    gr_group_state_t old = g->state;
    transition(g, GR_GROUP_PREPARING_REBALANCE);
    g->rebalance_start_ms = g->state_timestamp_ms;
    g->trigger = trigger;
    set_str(&g->trigger_member, who);
    gr_info("group", "Preparing to rebalance group %s in state %s with old generation %" PRId32
            " (__consumer_offsets-%" PRId32 ") (reason: %s)", g->group_id, gr_group_state_name(old),
            g->generation_id, g->coord_partition, gr_rebalance_trigger_name(trigger));
    if (!g->join_initial)
        try_complete_join(g);
}

static void try_complete_join(gr_group_t *g)
{
    if (g->state != GR_GROUP_PREPARING_REBALANCE || g->join_initial)
        return;
    if (has_all_members_joined(g)) {
        gr_group_clock_stop(&g->join_timer);
        on_complete_join(g);
    }
}

static void join_timer_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    gr_group_t *g = arg;
    if (g->state != GR_GROUP_PREPARING_REBALANCE)
        return;
    if (g->join_initial && g->new_member_added && g->join_remaining_ms != 0) {
        /* InitialDelayedJoin: new members arrived, wait once more */
        g->new_member_added = false;
        int64_t cfg_delay = GR_MAX(gr_broker.cfg.group_initial_rebalance_delay_ms, 0);
        int64_t delay = GR_MIN(cfg_delay, g->join_remaining_ms);
        g->join_remaining_ms = GR_MAX(g->join_remaining_ms - g->join_initial_delay_ms, 0);
        g->join_initial_delay_ms = delay;
        g->initial_delay_deadline_ms = gr_add_sat(gr_group_clock_now_ms(), delay);
        gr_group_clock_start(&g->join_timer, delay);
        return;
    }
    g->join_initial = false;
    on_complete_join(g);
}

static void store_empty_cb(void *arg, gr_kerr_t err)
{
    char *id = arg;
    if (err != KERR_NONE)
        gr_warn("group", "Failed to write empty metadata for group %s: %s", id, gr_kerr_name(err));
    free(id);
}

static void fill_join_result(const gr_group_t *g, const gr_member_t *m, gr_join_result_t *r)
{
    memset(r, 0, sizeof(*r));
    r->error = KERR_NONE;
    r->member_id = m->member_id;
    r->generation_id = g->generation_id;
    r->protocol_type = g->protocol_type;
    r->protocol_name = g->protocol_name;
    r->leader_id = g->leader_id ? g->leader_id : "";
    r->group = g;
    r->include_members = is_leader(g, m->member_id);
}

/* GroupMetadata.maybeElectNewJoinedLeader */
static bool maybe_elect_new_joined_leader(gr_group_t *g)
{
    gr_member_t *leader = member_get(g, g->leader_id);
    if (!leader)
        return false;
    if (leader->awaiting_join)
        return true;
    for (gr_member_t *m = g->members; m; m = m->next) {
        if (m->awaiting_join) {
            gr_info("group", "Group leader %s of %s failed to join before rebalance timeout, while new leader %s "
                    "was elected.", leader->member_id, g->group_id, m->member_id);
            set_str(&g->leader_id, m->member_id);
            return true;
        }
    }
    gr_info("group", "Group leader %s of %s failed to join before rebalance timeout, and the group couldn't "
            "proceed to next generation because no member joined.", leader->member_id, g->group_id);
    return false;
}

static void on_complete_join(gr_group_t *g)
{
    /* dynamic members that did not rejoin are out */
    for (gr_member_t *m = g->members, *next; m; m = next) {
        next = m->next;
        if (!m->awaiting_join && !m->group_instance_id) {
            gr_info("group", "Group %s removed dynamic member %s who hasn't joined", g->group_id, m->member_id);
            group_remove(g, m);
        }
    }
    if (g->state == GR_GROUP_DEAD)
        return;
    if (!maybe_elect_new_joined_leader(g) && g->nmembers > 0) {
        /* only static members are left and none rejoined: wait again */
        g->join_initial = false;
        gr_group_clock_start(&g->join_timer, group_rebalance_timeout(g));
        return;
    }
    /* initNextGeneration */
    g->generation_id++;
    if (g->nmembers > 0) {
        set_str(&g->protocol_name, select_protocol(g));
        transition(g, GR_GROUP_COMPLETING_REBALANCE);
    } else {
        set_str(&g->protocol_name, NULL);
        transition(g, GR_GROUP_EMPTY);
    }
    gr_hist_entry_t h = {.kind = GR_HIST_REBALANCE, .time_ms = g->state_timestamp_ms, .trigger = g->trigger,
                         .generation = g->generation_id, .members = g->nmembers,
                         .duration_ms = g->state_timestamp_ms - g->rebalance_start_ms, .member = g->trigger_member,
                         .partition = -1,
                         .from_offset = -1, .to_offset = -1};
    gr_group_hist_add(g, &h);
    gr_metrics_rebalance(g->trigger, h.duration_ms);

    if (g->state == GR_GROUP_EMPTY) {
        gr_info("group", "Group %s with generation %" PRId32 " is now empty (__consumer_offsets-%" PRId32 ")",
                g->group_id, g->generation_id, g->coord_partition);
        store_group(g, store_empty_cb, gr_strdup(g->group_id));
        return;
    }
    gr_info("group", "Stabilized group %s generation %" PRId32 " (__consumer_offsets-%" PRId32 ") with %" PRId32
            " members", g->group_id, g->generation_id, g->coord_partition, g->nmembers);
    for (gr_member_t *m = g->members; m; m = m->next) {
        gr_join_result_t r;
        fill_join_result(g, m, &r);
        invoke_join(m, &r);
        schedule_heartbeat(m);
        m->is_new = false;
        m->pending_sync = true;
    }
    /* DelayedSync */
    g->sync_generation = g->generation_id;
    gr_group_clock_start(&g->sync_timer, group_rebalance_timeout(g));
}

static void sync_timer_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    gr_group_t *g = arg;
    if (g->sync_generation != g->generation_id ||
        (g->state != GR_GROUP_COMPLETING_REBALANCE && g->state != GR_GROUP_STABLE))
        return;
    bool any = false;
    for (gr_member_t *m = g->members, *next; m; m = next) {
        next = m->next;
        if (m->pending_sync) {
            gr_info("group", "Group %s removed member %s who hasn't sent its sync request", g->group_id,
                    m->member_id);
            group_remove(g, m);
            any = true;
        }
    }
    if (any)
        prepare_rebalance(g, GR_TRIGGER_SYNC_TIMEOUT, NULL);
}

static void remove_pending_sync(gr_group_t *g, gr_member_t *m)
{
    m->pending_sync = false;
    for (gr_member_t *x = g->members; x; x = x->next)
        if (x->pending_sync)
            return;
    gr_group_clock_stop(&g->sync_timer);
}

/* GroupCoordinator.removeMemberAndUpdateGroup */
static void remove_member_and_update(gr_group_t *g, gr_member_t *m, gr_rebalance_trigger_t trigger)
{
    member_join_error(m, "", KERR_UNKNOWN_MEMBER_ID);
    char *who = gr_strdup(m->member_id);    /* m goes with group_remove */
    group_remove(g, m);
    switch (g->state) {
    case GR_GROUP_DEAD:
    case GR_GROUP_EMPTY:
        break;
    case GR_GROUP_STABLE:
    case GR_GROUP_COMPLETING_REBALANCE:
        maybe_prepare_rebalance(g, trigger, who);
        break;
    case GR_GROUP_PREPARING_REBALANCE:
        try_complete_join(g);
        break;
    }
    free(who);
}

static void member_session_cb(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    gr_member_t *m = arg;
    gr_group_t *g = m->group;
    if (g->state == GR_GROUP_DEAD)
        return;
    /* hasSatisfiedHeartbeat: members waiting in a rebalance are alive,
     * except new members stuck in their first JoinGroup */
    if (!m->is_new && (m->awaiting_join || m->awaiting_sync))
        return;
    gr_info("group", "Member %s in group %s has failed, removing it from the group", m->member_id, g->group_id);
    remove_member_and_update(g, m, GR_TRIGGER_SESSION_TIMEOUT);
}

/* ------------------------------------------------------------ validation */

/* GroupCoordinator.validateCurrentMember */
static gr_kerr_t validate_current_member(const gr_group_t *g, const char *member_id, const char *instance_id,
                                       const char *op)
{
    if (instance_id) {
        gr_member_t *cur = static_member(g, instance_id);
        if (!cur)
            return KERR_UNKNOWN_MEMBER_ID;
        if (!streq(cur->member_id, member_id)) {
            gr_info("group", "Request memberId=%s for static member with groupInstanceId=%s is fenced by current "
                    "memberId=%s during operation %s", member_id, instance_id, cur->member_id, op);
            return KERR_FENCED_INSTANCE_ID;
        }
    }
    return member_get(g, member_id) ? KERR_NONE : KERR_UNKNOWN_MEMBER_ID;
}

/* ------------------------------------------------------------ JoinGroup */

typedef struct static_store_ctx {
    char *group_id;
    char *instance_id;
    char *old_member_id;
    char *new_member_id;
    char *current_leader;
    gr_member_protocol_t *old_protocols;
    int32_t old_nprotocols;
    int32_t old_rebalance_timeout_ms;
    int32_t old_session_timeout_ms;
    bool support_skip;
} static_store_ctx_t;

static void static_store_ctx_free(static_store_ctx_t *c)
{
    free(c->group_id);
    free(c->instance_id);
    free(c->old_member_id);
    free(c->new_member_id);
    free(c->current_leader);
    free_protocols(c->old_protocols, c->old_nprotocols);
    free(c);
}

/* GroupMetadata.replaceStaticMember: the old id's parked requests are
 * fenced, the member keeps everything else. */
static void replace_static_member(gr_group_t *g, gr_member_t *m, const char *new_member_id)
{
    const char *old_id = m->member_id;
    member_join_error(m, old_id, KERR_FENCED_INSTANCE_ID);
    member_sync_error(m, KERR_FENCED_INSTANCE_ID);
    bool was_leader = is_leader(g, old_id);
    pending_remove(g, new_member_id);
    set_str(&m->member_id, new_member_id);
    if (was_leader)
        set_str(&g->leader_id, new_member_id);
}

static void static_store_cb(void *arg, gr_kerr_t err)
{
    static_store_ctx_t *c = arg;
    gr_group_t *g = gr_group_find(c->group_id, strlen(c->group_id));
    gr_member_t *m = g ? member_get(g, c->new_member_id) : NULL;
    if (!m || g->state != GR_GROUP_STABLE || !m->awaiting_join) {
        /* the group moved on (a rebalance answers the member) */
        static_store_ctx_free(c);
        return;
    }
    if (err != KERR_NONE) {
        gr_warn("group", "Failed to persist metadata for group %s: %s", g->group_id, gr_kerr_name(err));
        gr_join_waiter_t *w = m->join_waiter;
        m->join_waiter = NULL;
        /* revert: old protocols, timeouts and member id */
        free_protocols(m->protocols, m->nprotocols);
        m->protocols = c->old_protocols;
        m->nprotocols = c->old_nprotocols;
        c->old_protocols = NULL;
        c->old_nprotocols = 0;
        m->rebalance_timeout_ms = c->old_rebalance_timeout_ms;
        m->session_timeout_ms = c->old_session_timeout_ms;
        park_join(m, NULL);
        replace_static_member(g, m, c->old_member_id);
        schedule_heartbeat(m);
        if (w) {
            gr_join_result_t r = {.error = err, .member_id = "", .generation_id = g->generation_id,
                                  .protocol_type = g->protocol_type, .protocol_name = g->protocol_name,
                                  .leader_id = c->current_leader ? c->current_leader : ""};
            w->member = NULL;
            w->done(w, &r);
        }
    } else if (c->support_skip) {
        /* v9: the static leader learns it leads but skips the assignor */
        gr_join_result_t r;
        fill_join_result(g, m, &r);
        r.skip_assignment = r.include_members;
        invoke_join(m, &r);
    } else {
        /* older clients: the old leader id, so nobody runs the assignor */
        gr_join_result_t r;
        fill_join_result(g, m, &r);
        r.include_members = false;
        r.leader_id = c->current_leader ? c->current_leader : "";
        invoke_join(m, &r);
    }
    static_store_ctx_free(c);
}

static void update_static_member_and_rebalance(gr_group_t *g, gr_member_t *m, const char *new_member_id,
                                               const gr_join_params_t *p, gr_join_waiter_t *w)
{
    static_store_ctx_t *c = gr_calloc(1, sizeof(*c));
    c->group_id = gr_strdup(g->group_id);
    c->instance_id = gr_strdup(m->group_instance_id);
    c->old_member_id = gr_strdup(m->member_id);
    c->new_member_id = gr_strdup(new_member_id);
    c->current_leader = g->leader_id ? gr_strdup(g->leader_id) : NULL;
    c->support_skip = p->support_skip_assignment;

    replace_static_member(g, m, new_member_id);
    schedule_heartbeat(m);
    c->old_rebalance_timeout_ms = m->rebalance_timeout_ms;
    c->old_session_timeout_ms = m->session_timeout_ms;
    c->old_protocols = m->protocols;
    c->old_nprotocols = m->nprotocols;
    m->protocols = NULL;
    m->nprotocols = 0;
    update_member(m, p->protocols, p->nprotocols, p->rebalance_timeout_ms, p->session_timeout_ms, w);

    switch (g->state) {
    case GR_GROUP_STABLE: {
        const char *next = select_protocol(g);
        if (streq(g->protocol_name, next)) {
            gr_info("group", "Static member %s of group %s which joins during Stable stage and doesn't affect "
                    "selectProtocol will not trigger rebalance.", c->instance_id, g->group_id);
            store_group(g, static_store_cb, c);
            return;
        }
        maybe_prepare_rebalance(g, GR_TRIGGER_STATIC_REPLACEMENT, c->instance_id);
        break;
    }
    case GR_GROUP_COMPLETING_REBALANCE:
        prepare_rebalance(g, GR_TRIGGER_STATIC_REPLACEMENT, c->instance_id);
        break;
    default:
        break;
    }
    static_store_ctx_free(c);
}

static void add_member_and_rebalance(gr_group_t *g, const gr_join_params_t *p, const char *member_id,
                                     gr_join_waiter_t *w)
{
    gr_member_t *m = member_new(g, p, member_id);
    m->is_new = true;
    if (g->state == GR_GROUP_PREPARING_REBALANCE && g->generation_id == 0)
        g->new_member_added = true;
    group_add(g, m, w);
    /* a new member cannot heartbeat while its JoinGroup is parked */
    schedule_expiration(m, NEW_MEMBER_JOIN_TIMEOUT_MS);
    maybe_prepare_rebalance(g, GR_TRIGGER_MEMBER_JOINED, member_id);
}

static void do_new_member_join(gr_group_t *g, const gr_join_params_t *p, gr_join_waiter_t *w)
{
    if (g->state == GR_GROUP_DEAD) {
        join_error(w, "", KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    if (!supports_protocols(g, p->protocol_type, p->protocols, p->nprotocols)) {
        join_error(w, "", KERR_INCONSISTENT_GROUP_PROTOCOL);
        return;
    }
    char *new_id = generate_member_id(p->client_id, p->group_instance_id);
    if (p->group_instance_id) {
        gr_member_t *old = static_member(g, p->group_instance_id);
        if (old) {
            gr_info("group", "Static member with groupInstanceId=%s and unknown member id joins group %s in %s "
                    "state. Replacing previously mapped member %s with this groupInstanceId.",
                    p->group_instance_id, g->group_id, gr_group_state_name(g->state), old->member_id);
            update_static_member_and_rebalance(g, old, new_id, p, w);
        } else {
            add_member_and_rebalance(g, p, new_id, w);
        }
    } else if (p->require_known_member_id) {
        pending_add(g, new_id, p->session_timeout_ms);
        join_error(w, new_id, KERR_MEMBER_ID_REQUIRED);
    } else {
        add_member_and_rebalance(g, p, new_id, w);
    }
    free(new_id);
}

static void do_current_member_join(gr_group_t *g, const gr_join_params_t *p, gr_join_waiter_t *w)
{
    const char *mid = p->member_id;
    if (g->state == GR_GROUP_DEAD) {
        join_error(w, mid, KERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    if (!supports_protocols(g, p->protocol_type, p->protocols, p->nprotocols)) {
        join_error(w, mid, KERR_INCONSISTENT_GROUP_PROTOCOL);
        return;
    }
    if (is_pending_member(g, mid)) {
        if (p->group_instance_id) {
            /* Kafka: IllegalStateException */
            join_error(w, mid, KERR_UNKNOWN_SERVER_ERROR);
            return;
        }
        add_member_and_rebalance(g, p, mid, w);
        return;
    }
    gr_kerr_t err = validate_current_member(g, mid, p->group_instance_id, "join-group");
    if (err != KERR_NONE) {
        join_error(w, mid, err);
        return;
    }
    gr_member_t *m = member_get(g, mid);
    switch (g->state) {
    case GR_GROUP_PREPARING_REBALANCE:
        update_member(m, p->protocols, p->nprotocols, p->rebalance_timeout_ms, p->session_timeout_ms, w);
        break;
    case GR_GROUP_COMPLETING_REBALANCE:
        if (member_matches(m, p->protocols, p->nprotocols)) {
            /* lost its JoinGroup answer: the current generation again */
            gr_join_result_t r;
            fill_join_result(g, m, &r);
            w->member = NULL;
            w->done(w, &r);
        } else {
            update_member(m, p->protocols, p->nprotocols, p->rebalance_timeout_ms, p->session_timeout_ms, w);
            maybe_prepare_rebalance(g, GR_TRIGGER_METADATA_CHANGE, m->member_id);
        }
        break;
    case GR_GROUP_STABLE:
        if (is_leader(g, mid) || !member_matches(m, p->protocols, p->nprotocols)) {
            bool leader = is_leader(g, mid);
            update_member(m, p->protocols, p->nprotocols, p->rebalance_timeout_ms, p->session_timeout_ms, w);
            maybe_prepare_rebalance(g, leader ? GR_TRIGGER_LEADER_REJOIN : GR_TRIGGER_METADATA_CHANGE, m->member_id);
        } else {
            gr_join_result_t r;
            fill_join_result(g, m, &r);
            r.include_members = false;
            w->member = NULL;
            w->done(w, &r);
        }
        break;
    case GR_GROUP_EMPTY:
    case GR_GROUP_DEAD:
        gr_warn("group", "Attempt to add rejoining member %s of group %s in unexpected group state %s", mid,
                g->group_id, gr_group_state_name(g->state));
        join_error(w, mid, KERR_UNKNOWN_MEMBER_ID);
        break;
    }
}

/* GroupCoordinator.acceptJoiningMember */
static bool accept_joining_member(const gr_group_t *g, const char *member_id)
{
    int32_t max = gr_broker.cfg.group_max_size;
    gr_member_t *m = member_get(g, member_id);
    switch (g->state) {
    case GR_GROUP_EMPTY:
    case GR_GROUP_DEAD:
        return true;
    case GR_GROUP_PREPARING_REBALANCE:
        return (m && m->awaiting_join) || g->num_awaiting_join < max;
    case GR_GROUP_COMPLETING_REBALANCE:
    case GR_GROUP_STABLE:
        return m || g->nmembers < max;
    }
    return true;
}

void gr_group_join(const gr_join_params_t *p, gr_join_waiter_t *w)
{
    const char *mid = p->member_id ? p->member_id : "";
    assert(p->group_id && p->group_id[0]);      /* validated by the caller */
    if (p->session_timeout_ms < gr_broker.cfg.group_min_session_timeout_ms ||
        p->session_timeout_ms > gr_broker.cfg.group_max_session_timeout_ms) {
        join_error(w, mid, KERR_INVALID_SESSION_TIMEOUT);
        return;
    }
    bool unknown = mid[0] == 0;
    gr_group_t *g = gr_group_find(p->group_id, strlen(p->group_id));
    if (g && g->type != GR_GROUP_CLASSIC) {
        /* the caller converts an empty consumer group first */
        join_error(w, mid, KERR_INCONSISTENT_GROUP_PROTOCOL);
        return;
    }
    if (!g) {
        if (!unknown) {
            join_error(w, mid, KERR_UNKNOWN_MEMBER_ID);
            return;
        }
        g = gr_group_get_or_create(p->group_id, strlen(p->group_id));
    }
    gr_join_params_t q = *p;
    q.member_id = mid;
    if (!accept_joining_member(g, mid)) {
        gr_member_t *m = member_get(g, mid);
        if (m)
            group_remove(g, m);
        join_error(w, "", KERR_GROUP_MAX_SIZE_REACHED);
    } else if (unknown) {
        do_new_member_join(g, &q, w);
    } else {
        do_current_member_join(g, &q, w);
    }
    if (g->state == GR_GROUP_PREPARING_REBALANCE)
        try_complete_join(g);
}

/* ------------------------------------------------------------ SyncGroup */

typedef struct sync_store_ctx {
    char *group_id;
    int32_t generation;
    char *leader;
} sync_store_ctx_t;

static void sync_store_cb(void *arg, gr_kerr_t err)
{
    sync_store_ctx_t *c = arg;
    gr_group_t *g = gr_group_find(c->group_id, strlen(c->group_id));
    /* a member may have joined meanwhile: only act on the same generation */
    if (g && g->state == GR_GROUP_COMPLETING_REBALANCE && g->generation_id == c->generation) {
        if (err != KERR_NONE) {
            reset_and_propagate_error(g, err);
            gr_warn("group", "Error %s when storing group assignment during SyncGroup (member: %s) of %s",
                    gr_kerr_name(err), c->leader, g->group_id);
            maybe_prepare_rebalance(g, GR_TRIGGER_STORE_FAILED, NULL);
        } else {
            transition(g, GR_GROUP_STABLE);
            propagate_assignment(g, KERR_NONE);
        }
    }
    free(c->group_id);
    free(c->leader);
    free(c);
}

/* Assignments ordered by member id, equal ids by their position in the
 * request (pointer order: they are one array). */
static int assignment_cmp(const void *a, const void *b)
{
    const gr_sync_assignment_t *x = *(const gr_sync_assignment_t *const *)a;
    const gr_sync_assignment_t *y = *(const gr_sync_assignment_t *const *)b;
    int c = strcmp(x->member_id ? x->member_id : "", y->member_id ? y->member_id : "");
    if (c != 0)
        return c;
    return x < y ? -1 : x > y;
}

/* *out: the leader's assignments sorted (caller frees); returns the count. */
static int32_t sort_assignments(const gr_sync_params_t *p, const gr_sync_assignment_t ***out)
{
    int32_t n = p->nassignments > 0 ? p->nassignments : 0;
    const gr_sync_assignment_t **v = gr_malloc(sizeof(*v) * (size_t)(n ? n : 1));
    for (int32_t i = 0; i < n; i++)
        v[i] = &p->assignments[i];
    qsort(v, (size_t)n, sizeof(*v), assignment_cmp);
    *out = v;
    return n;
}

/* The assignment for member_id, the last one the leader listed for it
 * (Kafka's map keeps the last), or NULL. */
static const gr_sync_assignment_t *find_assignment(const gr_sync_assignment_t **v, int32_t n,
                                                   const char *member_id)
{
    int32_t lo = 0, hi = n;   /* first entry with an id > member_id */
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (strcmp(v[mid]->member_id ? v[mid]->member_id : "", member_id) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && !strcmp(v[lo - 1]->member_id ? v[lo - 1]->member_id : "", member_id))
        return v[lo - 1];
    return NULL;
}

void gr_group_sync(const gr_sync_params_t *p, gr_sync_waiter_t *w)
{
    gr_kerr_t err = KERR_NONE;
    assert(p->group_id && p->group_id[0]);      /* validated by the caller */
    gr_group_t *g = gr_group_find(p->group_id, strlen(p->group_id));
    if (!g || g->type != GR_GROUP_CLASSIC) {
        sync_error(w, KERR_UNKNOWN_MEMBER_ID);
        return;
    }
    const char *mid = p->member_id ? p->member_id : "";
    /* validateSyncGroup */
    if (g->state == GR_GROUP_DEAD)
        err = KERR_COORDINATOR_NOT_AVAILABLE;
    else if ((err = validate_current_member(g, mid, p->group_instance_id, "sync-group")) != KERR_NONE)
        ;
    else if (p->generation_id != g->generation_id)
        err = KERR_ILLEGAL_GENERATION;
    else if (p->protocol_type && !streq(g->protocol_type, p->protocol_type))
        err = KERR_INCONSISTENT_GROUP_PROTOCOL;
    else if (p->protocol_name && !streq(g->protocol_name, p->protocol_name))
        err = KERR_INCONSISTENT_GROUP_PROTOCOL;
    if (err != KERR_NONE) {
        sync_error(w, err);
        return;
    }
    gr_member_t *m = member_get(g, mid);
    switch (g->state) {
    case GR_GROUP_EMPTY:
        sync_error(w, KERR_UNKNOWN_MEMBER_ID);
        break;
    case GR_GROUP_PREPARING_REBALANCE:
        sync_error(w, KERR_REBALANCE_IN_PROGRESS);
        break;
    case GR_GROUP_COMPLETING_REBALANCE:
        park_sync(m, w);
        remove_pending_sync(g, m);
        if (is_leader(g, mid)) {
            gr_info("group", "Assignment received from leader %s for group %s for generation %" PRId32
                    ". The group has %" PRId32 " members.", mid, g->group_id, g->generation_id, g->nmembers);
            /* sorted by member id (then position), so that each member's
             * assignment is a binary search: a leader's SyncGroup may list
             * millions of entries, the group thousands of members */
            const gr_sync_assignment_t **sorted = NULL;
            int32_t ns = sort_assignments(p, &sorted);
            for (gr_member_t *x = g->members; x; x = x->next) {
                const gr_sync_assignment_t *a = find_assignment(sorted, ns, x->member_id);
                if (!a)
                    gr_warn("group", "Setting empty assignment for member %s of %s for generation %" PRId32,
                            x->member_id, g->group_id, g->generation_id);
                set_assignment(x, a ? a->assignment : NULL, a ? a->assignment_len : 0);
            }
            free(sorted);
            sync_store_ctx_t *c = gr_calloc(1, sizeof(*c));
            c->group_id = gr_strdup(g->group_id);
            c->generation = g->generation_id;
            c->leader = gr_strdup(mid);
            store_group(g, sync_store_cb, c);
        }
        break;
    case GR_GROUP_STABLE: {
        remove_pending_sync(g, m);
        gr_sync_result_t r = {.error = KERR_NONE, .protocol_type = g->protocol_type,
                              .protocol_name = g->protocol_name, .assignment = m->assignment,
                              .assignment_len = m->assignment_len};
        w->member = NULL;
        w->done(w, &r);
        schedule_heartbeat(m);
        break;
    }
    case GR_GROUP_DEAD:
        sync_error(w, KERR_COORDINATOR_NOT_AVAILABLE);
        break;
    }
}

/* ------------------------------------------------------------ Heartbeat */

gr_kerr_t gr_group_heartbeat(const char *group_id, const char *member_id, const char *group_instance_id,
                             int32_t generation_id)
{
    gr_kerr_t err;
    assert(group_id && group_id[0]);            /* validated by the caller */
    gr_group_t *g = gr_group_find(group_id, strlen(group_id));
    if (!g || g->type != GR_GROUP_CLASSIC)
        return KERR_UNKNOWN_MEMBER_ID;
    const char *mid = member_id ? member_id : "";
    if (g->state == GR_GROUP_DEAD)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    if ((err = validate_current_member(g, mid, group_instance_id, "heartbeat")) != KERR_NONE)
        return err;
    if (generation_id != g->generation_id)
        return KERR_ILLEGAL_GENERATION;
    gr_member_t *m = member_get(g, mid);
    switch (g->state) {
    case GR_GROUP_EMPTY:
        return KERR_UNKNOWN_MEMBER_ID;
    case GR_GROUP_COMPLETING_REBALANCE:
    case GR_GROUP_STABLE:
        schedule_heartbeat(m);
        return KERR_NONE;
    case GR_GROUP_PREPARING_REBALANCE:
        schedule_heartbeat(m);
        return KERR_REBALANCE_IN_PROGRESS;
    case GR_GROUP_DEAD:
        break;
    }
    return KERR_COORDINATOR_NOT_AVAILABLE;
}

/* ------------------------------------------------------------ LeaveGroup */

gr_kerr_t gr_group_leave(const char *group_id, gr_leave_member_t *members, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        members[i].error = KERR_NONE;
    assert(group_id && group_id[0]);            /* validated by the caller */
    gr_group_t *g = gr_group_find(group_id, strlen(group_id));
    if (!g || g->type != GR_GROUP_CLASSIC) {
        for (int32_t i = 0; i < n; i++)
            members[i].error = KERR_UNKNOWN_MEMBER_ID;
        return KERR_NONE;
    }
    if (g->state == GR_GROUP_DEAD)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    for (int32_t i = 0; i < n; i++) {
        gr_leave_member_t *lm = &members[i];
        const char *mid = lm->member_id ? lm->member_id : "";
        const char *reason = lm->reason ? lm->reason : "not provided";
        if (mid[0] == 0) {
            /* administrative removal by group.instance.id */
            gr_member_t *m = static_member(g, lm->group_instance_id);
            if (!m) {
                lm->error = KERR_UNKNOWN_MEMBER_ID;
                continue;
            }
            gr_info("group", "Member %s has left group %s through explicit `LeaveGroup`; client reason: %s",
                    m->member_id, g->group_id, reason);
            remove_member_and_update(g, m, GR_TRIGGER_MEMBER_LEFT);
        } else if (is_pending_member(g, mid)) {
            gr_info("group", "Pending member with memberId=%s has left group %s through explicit `LeaveGroup` "
                    "request", mid, g->group_id);
            pending_remove(g, mid);
            if (g->state == GR_GROUP_PREPARING_REBALANCE)
                try_complete_join(g);
        } else {
            lm->error = validate_current_member(g, mid, lm->group_instance_id, "leave-group");
            if (lm->error != KERR_NONE)
                continue;
            gr_info("group", "Member %s has left group %s through explicit `LeaveGroup`; client reason: %s", mid,
                    g->group_id, reason);
            remove_member_and_update(g, member_get(g, mid), GR_TRIGGER_MEMBER_LEFT);
        }
    }
    return KERR_NONE;
}

/* ------------------------------------------------------------ DeleteGroups */

gr_kerr_t gr_group_check_delete(const gr_group_t *g)
{
    if (!g || g->state == GR_GROUP_DEAD)
        return KERR_GROUP_ID_NOT_FOUND;
    if (g->state != GR_GROUP_EMPTY)
        return KERR_NON_EMPTY_GROUP;
    return KERR_NONE;
}

/* ------------------------------------------------------------ offsets */

/* The group checks of the offset requests, as Kafka's Group interface has
 * them: one function per request, dispatching on the group type, the
 * classic side here (ClassicGroup.validateOffsetCommit / Fetch / Delete),
 * the consumer side in cgroup.c (ConsumerGroup's). */

bool gr_group_uses_consumer_protocol(const gr_group_t *g)
{
    return g->type == GR_GROUP_CONSUMER || streq(g->protocol_type, "consumer");
}

/* ClassicGroup.validateOffsetCommit; a transactional commit (KIP-447)
 * without member and generation is accepted whatever the state, and no
 * rebalance check applies to it.  A member's accepted plain commit counts
 * as a heartbeat. */
static gr_kerr_t classic_validate_offset_commit(gr_group_t *g, const char *mid, const char *instance_id,
                                                int32_t generation, bool txn)
{
    if (g->state == GR_GROUP_DEAD)
        return KERR_COORDINATOR_NOT_AVAILABLE;
    if (generation < 0 && g->state == GR_GROUP_EMPTY)
        return KERR_NONE;       /* admin client or a consumer without group management */
    if (generation >= 0 || mid[0] || instance_id) {
        gr_kerr_t err = validate_current_member(g, mid, instance_id, txn ? "txn-offset-commit" : "offset-commit");
        if (err == KERR_NONE && generation != g->generation_id)
            err = KERR_ILLEGAL_GENERATION;
        if (err != KERR_NONE || txn)
            return err;
    } else if (txn) {
        return KERR_NONE;       /* older versions carry no member: not enforced */
    } else if (g->state != GR_GROUP_EMPTY) {
        return KERR_UNKNOWN_MEMBER_ID;
    } else {
        return KERR_NONE;
    }
    switch (g->state) {
    case GR_GROUP_STABLE:
    case GR_GROUP_PREPARING_REBALANCE: {
        gr_member_t *m = member_get(g, mid);
        if (m)
            schedule_heartbeat(m);
        return KERR_NONE;
    }
    case GR_GROUP_COMPLETING_REBALANCE:
        return KERR_REBALANCE_IN_PROGRESS;
    default:
        return KERR_NONE;
    }
}

static gr_kerr_t validate_offset_commit(gr_group_t *g, const char *member_id, size_t mlen, const char *instance_id,
                                        int32_t generation, bool txn, int16_t api_version)
{
    if (!g)
        return generation < 0 ? KERR_NONE : KERR_ILLEGAL_GENERATION;
    assert(g->type != GR_GROUP_CONSUMER || (host && host->cgroup_validate_commit));
    char *mid = gr_strndup(member_id ? member_id : "", member_id ? mlen : 0);
    gr_kerr_t err = g->type == GR_GROUP_CONSUMER
                        ? host->cgroup_validate_commit(g, mid, generation, txn, api_version)
                        : classic_validate_offset_commit(g, mid, instance_id, generation, txn);
    free(mid);
    return err;
}

gr_kerr_t gr_group_validate_commit(gr_group_t *g, const char *member_id, size_t mlen, const char *instance_id,
                                   int32_t generation, int16_t api_version)
{
    if (api_version < 7)
        instance_id = NULL;
    return validate_offset_commit(g, member_id, mlen, instance_id, generation, false, api_version);
}

gr_kerr_t gr_group_validate_txn_commit(gr_group_t *g, const char *member_id, size_t mlen, const char *instance_id,
                                       int32_t generation, int16_t api_version)
{
    gr_kerr_t err = validate_offset_commit(g, member_id, mlen, instance_id, generation, true, api_version);
    /* OffsetMetadataManager.validateTransactionalOffsetCommit */
    return err == KERR_STALE_MEMBER_EPOCH ? KERR_ILLEGAL_GENERATION : err;
}

gr_kerr_t gr_group_validate_offset_fetch(gr_group_t *g, const char *member_id, int32_t member_epoch)
{
    if (!g)
        return KERR_NONE;
    if (g->type == GR_GROUP_CONSUMER) {
        assert(host && host->cgroup_validate_fetch);
        return host->cgroup_validate_fetch(g, member_id, member_epoch);
    }
    return g->state == GR_GROUP_DEAD ? KERR_GROUP_ID_NOT_FOUND : KERR_NONE;
}

gr_kerr_t gr_group_validate_offset_delete(const gr_group_t *g)
{
    if (!g)
        return KERR_GROUP_ID_NOT_FOUND;
    if (g->type == GR_GROUP_CONSUMER) {
        assert(host && host->cgroup_validate_offset_delete);
        return host->cgroup_validate_offset_delete(g);
    }
    switch (g->state) {
    case GR_GROUP_DEAD:
        return KERR_GROUP_ID_NOT_FOUND;
    case GR_GROUP_EMPTY:
        return KERR_NONE;
    default:
        return gr_group_uses_consumer_protocol(g) ? KERR_NONE : KERR_NON_EMPTY_GROUP;
    }
}

/* ------------------------------------------------------------ strings of records */

gr_str_t gr_group_str_wire(gr_arena_t *a, const char *s, size_t len)
{
    if (!s)
        return GR_STR_NULL;
    if (!gr_jstr_has_nul(s, len))
        return (gr_str_t){s, (int32_t)len};
    char *o = gr_arena_alloc(a, len + 1);
    return (gr_str_t){o, (int32_t)gr_jstr_unhold(s, len, o)};
}

char *gr_group_str_held(gr_str_t s)
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

gr_str_t gr_group_str_held_tmp(gr_arena_t *a, gr_str_t s)
{
    const char *p = s.p ? s.p : "";
    size_t len = (size_t)GR_MAX(s.len, 0);
    if (!memchr(p, 0, len) && gr_jstr_is_canon(p, len, GR_JSTR_WIRE))
        return (gr_str_t){p, (int32_t)len};
    char *o = gr_arena_alloc(a, gr_jstr_canon(p, len, GR_JSTR_WIRE, NULL, GR_JSTR_HELD) + 1);
    return (gr_str_t){o, (int32_t)gr_jstr_canon(p, len, GR_JSTR_WIRE, o, GR_JSTR_HELD)};
}

static gr_str_t cstr_wire(gr_arena_t *a, const char *s)
{
    return gr_group_str_wire(a, s, s ? strlen(s) : 0);
}

/* ------------------------------------------------------------ GroupMetadataValue */

/* The value version inter.broker.protocol.version asks for, as Kafka. */
static int16_t value_version(void)
{
    int ibp = gr_config_ibp(&gr_broker.cfg);
    return ibp < 10 ? 0 : ibp < 201 ? 1 : ibp < 203 ? 2 : 3;   /* 0.10.1 -> 10 */
}

/* g's GroupMetadataValue (v->members allocated, the caller frees it):
 * members' subscription = their metadata for the chosen protocol. */
static void value_fill(const gr_group_t *g, gr_GroupMetadataValue_t *out, gr_arena_t *a)
{
    gr_GroupMetadataValue_t v;
    gr_GroupMetadataValue_init(&v);
    v.protocolType = g->protocol_type ? cstr_wire(a, g->protocol_type) : (gr_str_t){"", 0};
    v.generation = g->generation_id;
    v.protocol = cstr_wire(a, g->protocol_name);
    v.leader = cstr_wire(a, g->leader_id);
    v.currentStateTimestamp = g->state_timestamp_ms;
    int32_t n = 0;
    for (const gr_member_t *m = g->members; m; m = m->next)
        n++;
    gr_GroupMetadataValue_MemberMetadata_t *mm = gr_calloc((size_t)(n ? n : 1), sizeof(*mm));
    int32_t i = 0;
    for (const gr_member_t *m = g->members; m; m = m->next, i++) {
        gr_GroupMetadataValue_MemberMetadata_t *x = &mm[i];
        gr_GroupMetadataValue_MemberMetadata_init(x);
        x->memberId = cstr_wire(a, m->member_id ? m->member_id : "");
        x->groupInstanceId = cstr_wire(a, m->group_instance_id);
        x->clientId = cstr_wire(a, m->client_id ? m->client_id : "");
        x->clientHost = cstr_wire(a, m->client_host ? m->client_host : "");
        x->rebalanceTimeout = m->rebalance_timeout_ms;
        x->sessionTimeout = m->session_timeout_ms;
        x->subscription = (gr_bytes_t){(const uint8_t *)"", 0};
        const gr_member_protocol_t *mp = gr_member_protocol(m, g->protocol_name);
        if (mp && mp->metadata)
            x->subscription = (gr_bytes_t){mp->metadata, mp->metadata_len};
        x->assignment = m->assignment ? (gr_bytes_t){m->assignment, m->assignment_len}
                                      : (gr_bytes_t){(const uint8_t *)"", 0};
    }
    v.members = mm;
    v.members_count = n;
    *out = v;
}

void gr_group_value_encode(gr_wr_t *w, const gr_group_t *g)
{
    gr_GroupMetadataValue_t v;
    gr_arena_t a;
    gr_arena_init(&a);
    value_fill(g, &v, &a);
    int16_t ver = value_version();
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

size_t gr_group_value_size(const gr_group_t *g, bool *too_long)
{
    gr_GroupMetadataValue_t v;
    gr_arena_t a;
    gr_arena_init(&a);
    value_fill(g, &v, &a);
    int16_t ver = value_version();
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

static uint8_t *memdup_or_null(const uint8_t *p, int32_t n)
{
    if (!p || n <= 0)
        return NULL;
    uint8_t *d = gr_malloc((size_t)n);
    memcpy(d, p, (size_t)n);
    return d;
}

/* Kafka's onGroupLoaded: the members' sessions start now; a group loaded
 * above group.max.size rebalances. */
static void group_loaded(gr_group_t *g)
{
    gr_info("group", "Loading group metadata for %s with generation %" PRId32, g->group_id, g->generation_id);
    if (g->nmembers > gr_broker.cfg.group_max_size)
        prepare_rebalance(g, GR_TRIGGER_LOADED_OVER_CAPACITY, NULL);
    for (gr_member_t *m = g->members; m; m = m->next)
        schedule_heartbeat(m);
}

int gr_group_load_metadata(const char *id, size_t len, const uint8_t *value, int32_t vlen, int32_t partition)
{
    gr_group_t *g = gr_group_find(id, len);
    if (g && g->type == GR_GROUP_CONSUMER) {
        /* a consumer group replaced the classic group these records were of */
        if (value)
            gr_warn("group", "Group %s is a consumer group: its older GroupMetadata is ignored", g->group_id);
        return 0;
    }
    if (!value) {
        /* tombstone: the group is gone unless offsets outlived it */
        if (g && gr_offset_map_count(g->offsets) == 0 && g->nmembers == 0)
            gr_group_remove(g);
        return 0;
    }
    gr_rd_t rd;
    gr_rd_init(&rd, value, (size_t)vlen);
    int16_t ver = gr_rd_i16(&rd);
    gr_GroupMetadataValue_t v;
    gr_arena_t a;
    gr_arena_init(&a);
    int rc = 0;
    if (rd.err || ver < 0 || ver > 4 || gr_GroupMetadataValue_decode(&rd, ver, &a, &v) < 0) {
        gr_warn("group", "Skipping undecodable GroupMetadata value v%d of group %.*s in partition %d", ver,
                (int)len, id, partition);
        rc = GR_ECORRUPT;
        goto out;
    }
    if (!g)
        g = gr_group_get_or_create(id, len);
    if (g->members) {
        gr_warn("group", "Group %s already has members; not replacing them from partition %d", g->group_id,
                partition);
        goto out;
    }
    g->coord_partition = partition;
    free(g->protocol_type);
    g->protocol_type = v.protocolType.len > 0 ? gr_group_str_held(v.protocolType) : NULL;
    free(g->protocol_name);
    g->protocol_name = gr_group_str_held(v.protocol);
    free(g->leader_id);
    g->leader_id = gr_group_str_held(v.leader);
    g->generation_id = v.generation;
    g->state_timestamp_ms =
        ver >= 2 && v.currentStateTimestamp >= 0 ? v.currentStateTimestamp : gr_group_clock_now_ms();
    gr_member_t **tail = &g->members;
    g->nmembers = 0;
    g->num_awaiting_join = 0;
    for (int32_t i = 0; i < v.members_count; i++) {
        const gr_GroupMetadataValue_MemberMetadata_t *x = &v.members[i];
        gr_member_t *m = gr_calloc(1, sizeof(*m));
        m->group = g;
        m->member_id = gr_group_str_held(x->memberId.len >= 0 ? x->memberId : (gr_str_t){"", 0});
        m->group_instance_id = gr_group_str_held(x->groupInstanceId);
        m->client_id = gr_group_str_held(x->clientId.len >= 0 ? x->clientId : (gr_str_t){"", 0});
        m->client_host = gr_group_str_held(x->clientHost.len >= 0 ? x->clientHost : (gr_str_t){"", 0});
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
        gr_timer_init(&m->session_timer, member_session_cb, m);
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
    group_loaded(g);
out:
    gr_arena_free(&a);
    return rc;
}

static void clear_members(gr_group_t *g)
{
    while (g->members) {
        gr_member_t *m = g->members;
        g->members = m->next;
        if (m->join_waiter) {
            gr_join_waiter_t *w = m->join_waiter;
            m->join_waiter = NULL;
            join_error(w, "", KERR_NOT_COORDINATOR);
        }
        if (m->sync_waiter) {
            gr_sync_waiter_t *w = m->sync_waiter;
            m->sync_waiter = NULL;
            sync_error(w, KERR_NOT_COORDINATOR);
        }
        member_free(m);
    }
    g->nmembers = 0;
    g->num_awaiting_join = 0;
    set_str(&g->leader_id, NULL);
}

/* ------------------------------------------------------------ migration */

/* What gr_group_strip takes out of a group, for gr_group_unstrip. */
struct gr_group_saved {
    gr_member_t *members;
    int32_t nmembers;
    int32_t generation_id;
    char *protocol_type, *protocol_name, *leader_id;
    gr_group_state_t state;
    int64_t state_timestamp_ms, empty_since_ms;
    gr_rebalance_trigger_t trigger;
};

gr_group_saved_t *gr_group_strip(gr_group_t *g)
{
    assert(g->type == GR_GROUP_CLASSIC);
    /* Kafka's completeAllJoinFutures / completeAllSyncFutures
     * (REBALANCE_IN_PROGRESS): the members join again */
    for (gr_member_t *m = g->members; m; m = m->next) {
        if (m->join_waiter) {
            gr_join_waiter_t *w = m->join_waiter;
            m->join_waiter = NULL;
            join_error(w, m->member_id, KERR_REBALANCE_IN_PROGRESS);
        }
        if (m->sync_waiter) {
            gr_sync_waiter_t *w = m->sync_waiter;
            m->sync_waiter = NULL;
            sync_error(w, KERR_REBALANCE_IN_PROGRESS);
        }
        gr_group_clock_stop(&m->session_timer);
        m->awaiting_join = false;
    }
    gr_group_clock_stop(&g->join_timer);
    gr_group_clock_stop(&g->sync_timer);
    gr_group_saved_t *s = gr_calloc(1, sizeof(*s));
    *s = (gr_group_saved_t){g->members, g->nmembers, g->generation_id, g->protocol_type, g->protocol_name,
                            g->leader_id, g->state, g->state_timestamp_ms, g->empty_since_ms, g->trigger};
    g->members = NULL;
    g->nmembers = 0;
    g->num_awaiting_join = 0;
    g->protocol_type = s->protocol_type ? gr_strdup(s->protocol_type) : NULL;
    g->protocol_name = g->leader_id = NULL;
    while (g->pending)
        pending_remove(g, g->pending->member_id);
    transition(g, GR_GROUP_EMPTY);
    return s;
}

void gr_group_unstrip(gr_group_t *g, gr_group_saved_t *s)
{
    assert(g->type == GR_GROUP_CLASSIC && !g->members && g->npending == 0);
    gr_group_clock_stop(&g->join_timer);
    gr_group_clock_stop(&g->sync_timer);
    free(g->protocol_type);
    free(g->protocol_name);
    free(g->leader_id);
    g->members = s->members;
    g->nmembers = s->nmembers;
    g->num_awaiting_join = 0;
    g->generation_id = s->generation_id;
    g->protocol_type = s->protocol_type;
    g->protocol_name = s->protocol_name;
    g->leader_id = s->leader_id;
    g->state = s->state;
    g->state_timestamp_ms = s->state_timestamp_ms;
    g->empty_since_ms = s->empty_since_ms;
    for (gr_member_t *m = g->members; m; m = m->next) {
        m->group = g;
        schedule_heartbeat(m);
    }
    /* a rebalance under way starts again: its parked requests were answered */
    if (g->state == GR_GROUP_PREPARING_REBALANCE || g->state == GR_GROUP_COMPLETING_REBALANCE) {
        g->state = GR_GROUP_STABLE;
        prepare_rebalance(g, s->trigger, NULL);
    }
    free(s);
}

void gr_group_drop_pending(gr_group_t *g)
{
    while (g->pending)
        pending_remove(g, g->pending->member_id);
}

void gr_group_saved_free(gr_group_saved_t *s)
{
    if (!s)
        return;
    while (s->members) {
        gr_member_t *m = s->members;
        s->members = m->next;
        member_free(m);
    }
    free(s->protocol_type);
    free(s->protocol_name);
    free(s->leader_id);
    free(s);
}

void gr_group_downgrade_value(gr_wr_t *w, const gr_group_t *g, const gr_group_adopt_member_t *ms, int32_t n,
                              int32_t generation, gr_group_assign_fn *assign, void *ctx)
{
    /* a classic group that never enters the registry, nor arms a timer */
    gr_group_t c = {.group_id = g->group_id, .type = GR_GROUP_CLASSIC, .generation_id = generation,
                    .state = n > 0 ? GR_GROUP_STABLE : GR_GROUP_EMPTY,
                    .state_timestamp_ms = gr_group_clock_now_ms(), .protocol_type = (char *)"consumer"};
    gr_member_t **tail = &c.members;
    for (int32_t i = 0; i < n; i++) {
        const gr_group_adopt_member_t *x = &ms[i];
        gr_member_t *m = gr_calloc(1, sizeof(*m));
        m->group = &c;
        m->member_id = gr_strdup(x->member_id);
        m->group_instance_id = x->instance_id ? gr_strdup(x->instance_id) : NULL;
        m->client_id = gr_strdup(x->client_id ? x->client_id : "");
        m->client_host = gr_strdup(x->client_host ? x->client_host : "");
        m->session_timeout_ms = x->session_timeout_ms;
        m->rebalance_timeout_ms = x->rebalance_timeout_ms;
        m->protocol_type = gr_strdup("consumer");
        m->protocols = copy_protocols(x->protocols, x->nprotocols);
        m->nprotocols = x->nprotocols;
        gr_timer_init(&m->session_timer, member_session_cb, m);    /* never started */
        *tail = m;
        tail = &m->next;
        c.nmembers++;
    }
    const char *proto = select_protocol(&c);
    c.protocol_name = proto ? gr_strdup(proto) : NULL;
    c.leader_id = c.members ? c.members->member_id : NULL;
    int32_t i = 0;
    for (gr_member_t *m = c.members; m; m = m->next, i++)
        m->assignment = assign(ctx, i, gr_member_protocol(m, c.protocol_name), &m->assignment_len);
    gr_group_value_encode(w, &c);
    while (c.members) {
        gr_member_t *m = c.members;
        c.members = m->next;
        member_free(m);
    }
    free(c.protocol_name);
}

void gr_group_rebalance_after_downgrade(gr_group_t *g)
{
    prepare_rebalance(g, GR_TRIGGER_DOWNGRADE, NULL);
}

/* ------------------------------------------------------------ removal */

uint64_t gr_group_registry_version(void)
{
    return reg_version;
}

void gr_group_detach(gr_group_t *g)
{
    assert(g->node.hash == gr_hash32(g->group_id, strlen(g->group_id)));
    gr_hmap_remove(&reg, &g->node);
    reg_version++;
    gr_group_clock_stop(&g->join_timer);
    gr_group_clock_stop(&g->sync_timer);
    clear_members(g);
    while (g->pending)
        pending_remove(g, g->pending->member_id);
    g->detached_state = g->state;
    g->state = GR_GROUP_DEAD;
}

void gr_group_restore(gr_group_t *g)
{
    assert(g->state == GR_GROUP_DEAD);
    gr_group_t *other = gr_group_find(g->group_id, strlen(g->group_id));
    if (other) {
        /* created meanwhile by a live request; the log says the old group
         * never went away */
        gr_warn("group", "Group %s is restored: its deletion could not be written", g->group_id);
        gr_group_remove(other);
    }
    gr_hmap_insert(&reg, &g->node, gr_hash32(g->group_id, strlen(g->group_id)));
    g->state = g->detached_state;
}

void gr_group_detach_undo(void *shard, void *data, bool rollback)
{
    GR_UNUSED(shard);
    gr_group_t *g = *(gr_group_t **)data;
    assert(g->state == GR_GROUP_DEAD);
    if (rollback)
        gr_group_restore(g);
    else
        gr_group_free(g);
}

void gr_group_free(gr_group_t *g)
{
    if (g->cg) {
        assert(host && host->cgroup_free);  /* a consumer group exists only under a coordinator */
        host->cgroup_free(g->cg);
        g->cg = NULL;
    }
    gr_offsets_group_free(g);
    hist_clear(g);
    free(g->group_id);
    free(g->protocol_type);
    free(g->protocol_name);
    free(g->leader_id);
    free(g->trigger_member);
    free(g);
}

void gr_group_remove(gr_group_t *g)
{
    gr_group_detach(g);
    gr_group_free(g);
}

void gr_group_remove_all(void)
{
    gr_group_t *g;
    while ((g = gr_group_next(NULL)) != NULL)
        gr_group_remove(g);
    gr_hmap_free(&reg);
}

/* ------------------------------------------------------------ subscriptions */

/* ConsumerProtocolSubscription, parsed with the v0 prefix every version
 * shares: int16 version, [string topics], nullable bytes userData.
 * Returns 1 if topic is in it, 0 if not, -1 if unparsable. */
static int subscription_has(const uint8_t *p, int32_t len, const char *topic)
{
    gr_rd_t rd;
    gr_rd_init(&rd, p, (size_t)GR_MAX(len, 0));
    int16_t version = gr_rd_i16(&rd);
    int32_t n = gr_rd_array_len(&rd, false, 2);
    if (rd.err || version < 0 || n < 0)
        return -1;
    int found = 0;
    size_t tlen = strlen(topic);
    for (int32_t i = 0; i < n; i++) {
        gr_str_t s;
        gr_rd_str(&rd, false, &s);
        if (rd.err || s.len < 0)
            return -1;
        if ((size_t)s.len == tlen && memcmp(s.p, topic, tlen) == 0)
            found = 1;
    }
    return found;
}

bool gr_group_subscribed_to(const gr_group_t *g, const char *topic)
{
    if (g->type == GR_GROUP_CONSUMER) {
        assert(host && host->cgroup_subscribed_to);
        return host->cgroup_subscribed_to(g->cg, topic);
    }
    if (!streq(g->protocol_type, "consumer"))
        return true;
    if (!g->members)
        return false;
    if (!g->protocol_name)
        return true;
    bool any = false;
    for (const gr_member_t *m = g->members; m; m = m->next) {
        const gr_member_protocol_t *pr = gr_member_protocol(m, g->protocol_name);
        if (!pr)
            return true;
        int r = subscription_has(pr->metadata, pr->metadata_len, topic);
        if (r < 0)
            return true;
        if (r)
            any = true;
    }
    return any;
}
