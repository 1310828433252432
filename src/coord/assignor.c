/*
 * assignor.c - topic-partition assignments and the server-side assignors
 * of consumer groups (KIP-848), as Kafka's UniformAssignor and
 * RangeAssignor compute them, made deterministic: members come sorted by
 * member id (range sorts them again, below) and every tie is broken by
 * that order, so a target computed again from the same input is the same.
 *
 * uniform, every member subscribed to the same topics (homogeneous):
 *   P partitions, N members: each member gets P/N, P%N of them one more.
 *   The extra slots go to the members that already hold the most of their
 *   previous target, so that nothing moves that need not move; each member
 *   keeps its previous partitions up to its quota (lowest first), and the
 *   rest (new partitions, those of departed members, the surplus) fill the
 *   members below quota in member order.  Balance first, stickiness next,
 *   as Kafka's UniformHomogeneousAssignmentBuilder.
 * uniform, different subscriptions (heterogeneous):
 *   members keep what they held and still subscribe to; the unassigned
 *   partitions go, topic by topic (topics with fewest subscribers first),
 *   to the least loaded subscriber; then a partition moves from a
 *   subscriber to another of the same topic while their loads differ by
 *   more than one (at most one move per partition of the group).
 * range:
 *   members ordered by instance id (static members first) then member id;
 *   each topic's partitions are cut into contiguous ranges among its
 *   subscribers, the first P%S of them getting one more (Kafka's
 *   co-partitioning: same ranges of every topic for the same member when
 *   the topics have as many partitions).  The ranges are recomputed from
 *   scratch every time, the previous target ignored, as Kafka's server-side
 *   RangeAssignor does since 3.9 (stickiness and co-partitioning do not go
 *   together): a member joining or leaving can move every range after its
 *   place in the order.  Static members keep their ranges across restarts
 *   through their instance ids, which order them first.
 *
 * Work is bounded by the members, topics and partitions of one group;
 * nothing here allocates per call more than a few arrays of those sizes.
 */
#include "assignor.h"

#include "gr.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ assignments */

int gr_uuid_cmp(const gr_uuid_t *a, const gr_uuid_t *b)
{
    return memcmp(a->b, b->b, sizeof(a->b));
}

void gr_assign_free(gr_assign_t *a)
{
    for (int32_t i = 0; i < a->n; i++)
        free(a->t[i].p);
    free(a->t);
    a->t = NULL;
    a->n = 0;
}

void gr_assign_copy(gr_assign_t *dst, const gr_assign_t *src)
{
    dst->n = src->n;
    dst->t = src->n ? gr_malloc(sizeof(*dst->t) * (size_t)src->n) : NULL;
    for (int32_t i = 0; i < src->n; i++) {
        dst->t[i] = src->t[i];
        dst->t[i].p = gr_malloc(sizeof(int32_t) * (size_t)GR_MAX(src->t[i].n, 1));
        memcpy(dst->t[i].p, src->t[i].p, sizeof(int32_t) * (size_t)src->t[i].n);
    }
}

bool gr_assign_eq(const gr_assign_t *a, const gr_assign_t *b)
{
    if (a->n != b->n)
        return false;
    for (int32_t i = 0; i < a->n; i++) {
        if (gr_uuid_cmp(&a->t[i].topic, &b->t[i].topic) || a->t[i].n != b->t[i].n ||
            memcmp(a->t[i].p, b->t[i].p, sizeof(int32_t) * (size_t)a->t[i].n))
            return false;
    }
    return true;
}

/* Index of topic in a, or -(insertion point) - 1. */
static int32_t topic_index(const gr_assign_t *a, const gr_uuid_t *topic)
{
    int32_t lo = 0, hi = a->n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = gr_uuid_cmp(&a->t[mid].topic, topic);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -lo - 1;
}

const gr_tparts_t *gr_assign_topic(const gr_assign_t *a, const gr_uuid_t *topic)
{
    int32_t i = topic_index(a, topic);
    return i >= 0 ? &a->t[i] : NULL;
}

static bool parts_has(const gr_tparts_t *t, int32_t part)
{
    int32_t lo = 0, hi = t->n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (t->p[mid] == part)
            return true;
        if (t->p[mid] < part)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool gr_assign_has(const gr_assign_t *a, const gr_uuid_t *topic, int32_t part)
{
    const gr_tparts_t *t = gr_assign_topic(a, topic);
    return t && parts_has(t, part);
}

int64_t gr_assign_count(const gr_assign_t *a)
{
    int64_t n = 0;
    for (int32_t i = 0; i < a->n; i++)
        n += a->t[i].n;
    return n;
}

static int cmp_i32(const void *x, const void *y)
{
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return a < b ? -1 : a > b;
}

void gr_assign_add_many(gr_assign_t *a, const gr_uuid_t *topic, const int32_t *parts, int32_t n)
{
    if (n <= 0)
        return;
    int32_t i = topic_index(a, topic);
    if (i < 0) {
        i = -i - 1;
        a->t = gr_realloc(a->t, sizeof(*a->t) * (size_t)(a->n + 1));
        memmove(&a->t[i + 1], &a->t[i], sizeof(*a->t) * (size_t)(a->n - i));
        a->n++;
        a->t[i].topic = *topic;
        a->t[i].n = 0;
        a->t[i].p = NULL;
    }
    gr_tparts_t *t = &a->t[i];
    t->p = gr_realloc(t->p, sizeof(int32_t) * (size_t)(t->n + n));
    memcpy(t->p + t->n, parts, sizeof(int32_t) * (size_t)n);
    int32_t m = t->n + n;
    qsort(t->p, (size_t)m, sizeof(int32_t), cmp_i32);
    int32_t k = 0;
    for (int32_t j = 0; j < m; j++)
        if (k == 0 || t->p[k - 1] != t->p[j])
            t->p[k++] = t->p[j];
    t->n = k;
}

void gr_assign_add(gr_assign_t *a, const gr_uuid_t *topic, int32_t part)
{
    gr_assign_add_many(a, topic, &part, 1);
}

/* ------------------------------------------------------------ helpers */

const char *gr_assignor_canonical(const char *name)
{
    if (!name)
        return NULL;
    if (!strcmp(name, "uniform") || !strcmp(name, "org.apache.kafka.coordinator.group.assignor.UniformAssignor"))
        return "uniform";
    if (!strcmp(name, "range") || !strcmp(name, "org.apache.kafka.coordinator.group.assignor.RangeAssignor"))
        return "range";
    return NULL;
}

static int32_t find_topic(const gr_asg_topic_t *topics, int32_t nt, const gr_uuid_t *id)
{
    int32_t lo = 0, hi = nt;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = gr_uuid_cmp(&topics[mid].id, id);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static bool member_subscribes(const gr_asg_member_t *m, const gr_uuid_t *id)
{
    int32_t lo = 0, hi = m->ntopics;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = gr_uuid_cmp(&m->topics[mid], id);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Partition ownership per topic: owner[topic][partition] = member or -1. */
typedef struct owners {
    int32_t nt;
    int32_t **o;
} owners_t;

static void owners_init(owners_t *w, const gr_asg_topic_t *topics, int32_t nt)
{
    w->nt = nt;
    w->o = gr_calloc((size_t)GR_MAX(nt, 1), sizeof(*w->o));
    for (int32_t i = 0; i < nt; i++) {
        int32_t np = GR_MAX(topics[i].nparts, 0);
        w->o[i] = gr_malloc(sizeof(int32_t) * (size_t)GR_MAX(np, 1));
        for (int32_t p = 0; p < np; p++)
            w->o[i][p] = -1;
    }
}

static void owners_free(owners_t *w)
{
    for (int32_t i = 0; i < w->nt; i++)
        free(w->o[i]);
    free(w->o);
}

/* out[i] from the owners table. */
static void owners_emit(const owners_t *w, const gr_asg_topic_t *topics, int32_t nm, gr_assign_t *out)
{
    for (int32_t i = 0; i < nm; i++)
        out[i] = (gr_assign_t){0, NULL};
    int32_t *buf = NULL;
    int32_t cap = 0;
    int32_t *cnt = gr_calloc((size_t)GR_MAX(nm, 1), sizeof(int32_t));
    for (int32_t t = 0; t < w->nt; t++) {
        int32_t np = GR_MAX(topics[t].nparts, 0);
        /* one pass per member that owns something of this topic */
        memset(cnt, 0, sizeof(int32_t) * (size_t)nm);
        for (int32_t p = 0; p < np; p++)
            if (w->o[t][p] >= 0)
                cnt[w->o[t][p]]++;
        for (int32_t m = 0; m < nm; m++) {
            if (!cnt[m])
                continue;
            if (cap < cnt[m]) {
                cap = cnt[m];
                buf = gr_realloc(buf, sizeof(int32_t) * (size_t)cap);
            }
            int32_t k = 0;
            for (int32_t p = 0; p < np && k < cnt[m]; p++)
                if (w->o[t][p] == m)
                    buf[k++] = p;
            gr_assign_add_many(&out[m], &topics[t].id, buf, k);
        }
    }
    free(cnt);
    free(buf);
}

/* ------------------------------------------------------------ uniform */

static bool homogeneous(const gr_asg_member_t *m, int32_t nm)
{
    for (int32_t i = 1; i < nm; i++) {
        if (m[i].ntopics != m[0].ntopics ||
            memcmp(m[i].topics, m[0].topics, sizeof(gr_uuid_t) * (size_t)m[0].ntopics))
            return false;
    }
    return true;
}

typedef struct rank {
    int32_t idx;
    int64_t kept;
} rank_t;

static int cmp_rank(const void *x, const void *y)
{
    const rank_t *a = x, *b = y;
    if (a->kept != b->kept)
        return a->kept > b->kept ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static void uniform_homogeneous(const gr_asg_member_t *m, int32_t nm, const gr_asg_topic_t *topics, int32_t nt,
                                gr_assign_t *out)
{
    owners_t w;
    owners_init(&w, topics, nt);
    /* the topics of the common subscription, as indexes of `topics` */
    int64_t total = 0;
    int32_t *sub = gr_malloc(sizeof(int32_t) * (size_t)GR_MAX(m[0].ntopics, 1));
    int32_t ns = 0;
    for (int32_t i = 0; i < m[0].ntopics; i++) {
        int32_t t = find_topic(topics, nt, &m[0].topics[i]);
        if (t >= 0) {
            sub[ns++] = t;
            total += GR_MAX(topics[t].nparts, 0);
        }
    }
    int64_t minq = total / nm, extra = total % nm;
    /* what each member keeps of its previous target (each partition once) */
    rank_t *rk = gr_malloc(sizeof(*rk) * (size_t)nm);
    for (int32_t i = 0; i < nm; i++) {
        rk[i] = (rank_t){i, 0};
        const gr_assign_t *cur = m[i].current;
        for (int32_t j = 0; cur && j < cur->n; j++) {
            int32_t t = find_topic(topics, nt, &cur->t[j].topic);
            if (t < 0 || !member_subscribes(&m[i], &cur->t[j].topic))
                continue;
            for (int32_t k = 0; k < cur->t[j].n; k++) {
                int32_t p = cur->t[j].p[k];
                if (p >= 0 && p < topics[t].nparts && w.o[t][p] < 0) {
                    w.o[t][p] = i;
                    rk[i].kept++;
                }
            }
        }
    }
    /* quotas: the extra slots to those holding the most */
    qsort(rk, (size_t)nm, sizeof(*rk), cmp_rank);
    int64_t *quota = gr_malloc(sizeof(int64_t) * (size_t)nm);
    int64_t *held = gr_calloc((size_t)nm, sizeof(int64_t));
    for (int32_t r = 0; r < nm; r++)
        quota[rk[r].idx] = minq + (r < extra ? 1 : 0);
    /* keep up to the quota, lowest partitions first; release the surplus */
    for (int32_t si = 0; si < ns; si++) {
        int32_t t = sub[si];
        for (int32_t p = 0; p < topics[t].nparts; p++) {
            int32_t o = w.o[t][p];
            if (o < 0)
                continue;
            if (held[o] < quota[o])
                held[o]++;
            else
                w.o[t][p] = -1;
        }
    }
    /* fill the members below quota, in member order */
    int32_t mi = 0;
    for (int32_t si = 0; si < ns; si++) {
        int32_t t = sub[si];
        for (int32_t p = 0; p < topics[t].nparts; p++) {
            if (w.o[t][p] >= 0)
                continue;
            while (mi < nm && held[mi] >= quota[mi])
                mi++;
            if (mi == nm)
                break;          /* cannot happen: the quotas add up to the partitions */
            w.o[t][p] = mi;
            held[mi]++;
        }
    }
    owners_emit(&w, topics, nm, out);
    free(held);
    free(quota);
    free(rk);
    free(sub);
    owners_free(&w);
}

typedef struct topic_order {
    int32_t t;
    int32_t subscribers;
} topic_order_t;

static int cmp_topic_order(const void *x, const void *y)
{
    const topic_order_t *a = x, *b = y;
    if (a->subscribers != b->subscribers)
        return a->subscribers < b->subscribers ? -1 : 1;
    return a->t < b->t ? -1 : a->t > b->t;
}

static void uniform_heterogeneous(const gr_asg_member_t *m, int32_t nm, const gr_asg_topic_t *topics, int32_t nt,
                                  gr_assign_t *out)
{
    owners_t w;
    owners_init(&w, topics, nt);
    int64_t *load = gr_calloc((size_t)nm, sizeof(int64_t));
    int64_t total = 0;
    /* subscribers of each topic (member indexes, ascending) */
    int32_t **subs = gr_calloc((size_t)GR_MAX(nt, 1), sizeof(*subs));
    int32_t *nsubs = gr_calloc((size_t)GR_MAX(nt, 1), sizeof(int32_t));
    for (int32_t t = 0; t < nt; t++) {
        for (int32_t i = 0; i < nm; i++)
            if (member_subscribes(&m[i], &topics[t].id))
                nsubs[t]++;
        subs[t] = gr_malloc(sizeof(int32_t) * (size_t)GR_MAX(nsubs[t], 1));
        int32_t k = 0;
        for (int32_t i = 0; i < nm; i++)
            if (member_subscribes(&m[i], &topics[t].id))
                subs[t][k++] = i;
        if (nsubs[t] > 0)
            total += GR_MAX(topics[t].nparts, 0);
    }
    /* keep */
    for (int32_t i = 0; i < nm; i++) {
        const gr_assign_t *cur = m[i].current;
        for (int32_t j = 0; cur && j < cur->n; j++) {
            int32_t t = find_topic(topics, nt, &cur->t[j].topic);
            if (t < 0 || !member_subscribes(&m[i], &cur->t[j].topic))
                continue;
            for (int32_t k = 0; k < cur->t[j].n; k++) {
                int32_t p = cur->t[j].p[k];
                if (p >= 0 && p < topics[t].nparts && w.o[t][p] < 0) {
                    w.o[t][p] = i;
                    load[i]++;
                }
            }
        }
    }
    /* the unassigned ones to the least loaded subscriber */
    topic_order_t *ord = gr_malloc(sizeof(*ord) * (size_t)GR_MAX(nt, 1));
    for (int32_t t = 0; t < nt; t++)
        ord[t] = (topic_order_t){t, nsubs[t]};
    qsort(ord, (size_t)nt, sizeof(*ord), cmp_topic_order);
    for (int32_t oi = 0; oi < nt; oi++) {
        int32_t t = ord[oi].t;
        if (!nsubs[t])
            continue;
        for (int32_t p = 0; p < topics[t].nparts; p++) {
            if (w.o[t][p] >= 0)
                continue;
            int32_t best = subs[t][0];
            for (int32_t k = 1; k < nsubs[t]; k++)
                if (load[subs[t][k]] < load[best])
                    best = subs[t][k];
            w.o[t][p] = best;
            load[best]++;
        }
    }
    /* even out within each topic's subscribers */
    int64_t moves = 0;
    for (bool moved = true; moved && moves < total;) {
        moved = false;
        for (int32_t oi = 0; oi < nt && moves < total; oi++) {
            int32_t t = ord[oi].t;
            if (nsubs[t] < 2)
                continue;
            int32_t lo = subs[t][0], hi = -1;
            for (int32_t k = 0; k < nsubs[t]; k++) {
                int32_t s = subs[t][k];
                if (load[s] < load[lo])
                    lo = s;
            }
            /* the most loaded subscriber that holds a partition of t */
            for (int32_t k = 0; k < nsubs[t]; k++) {
                int32_t s = subs[t][k];
                if ((hi < 0 || load[s] > load[hi]) && load[s] - load[lo] > 1) {
                    for (int32_t p = 0; p < topics[t].nparts; p++)
                        if (w.o[t][p] == s) {
                            hi = s;
                            break;
                        }
                }
            }
            if (hi < 0)
                continue;
            for (int32_t p = topics[t].nparts - 1; p >= 0; p--) {
                if (w.o[t][p] == hi) {
                    w.o[t][p] = lo;
                    load[hi]--;
                    load[lo]++;
                    moves++;
                    moved = true;
                    break;
                }
            }
        }
    }
    owners_emit(&w, topics, nm, out);
    for (int32_t t = 0; t < nt; t++)
        free(subs[t]);
    free(subs);
    free(nsubs);
    free(ord);
    free(load);
    owners_free(&w);
}

/* ------------------------------------------------------------ range */

static const gr_asg_member_t *range_members;

static int cmp_range(const void *x, const void *y)
{
    const gr_asg_member_t *a = &range_members[*(const int32_t *)x], *b = &range_members[*(const int32_t *)y];
    if (a->instance_id && b->instance_id)
        return strcmp(a->instance_id, b->instance_id);
    if (a->instance_id)
        return -1;
    if (b->instance_id)
        return 1;
    return strcmp(a->member_id, b->member_id);
}

static void range_assign(const gr_asg_member_t *m, int32_t nm, const gr_asg_topic_t *topics, int32_t nt,
                         gr_assign_t *out)
{
    int32_t *order = gr_malloc(sizeof(int32_t) * (size_t)nm);
    for (int32_t i = 0; i < nm; i++)
        order[i] = i;
    range_members = m;
    qsort(order, (size_t)nm, sizeof(int32_t), cmp_range);
    range_members = NULL;
    for (int32_t i = 0; i < nm; i++)
        out[i] = (gr_assign_t){0, NULL};
    int32_t *buf = NULL;
    int32_t cap = 0;
    for (int32_t t = 0; t < nt; t++) {
        int32_t s = 0;
        for (int32_t i = 0; i < nm; i++)
            s += member_subscribes(&m[i], &topics[t].id);
        if (!s)
            continue;
        int32_t np = GR_MAX(topics[t].nparts, 0), minq = np / s, extra = np % s, next = 0;
        for (int32_t r = 0; r < nm; r++) {
            int32_t i = order[r];
            if (!member_subscribes(&m[i], &topics[t].id))
                continue;
            int32_t q = minq + (extra > 0 ? 1 : 0);
            if (extra > 0)
                extra--;
            int32_t end = GR_MIN(next + q, np);
            if (end - next > cap) {
                cap = end - next;
                buf = gr_realloc(buf, sizeof(int32_t) * (size_t)cap);
            }
            for (int32_t p = next; p < end; p++)
                buf[p - next] = p;
            gr_assign_add_many(&out[i], &topics[t].id, buf, end - next);
            next = end;
        }
    }
    free(buf);
    free(order);
}

/* ------------------------------------------------------------ entry */

void gr_assignor_run(const char *name, const gr_asg_member_t *members, int32_t nm, const gr_asg_topic_t *topics,
                     int32_t nt, gr_assign_t *out)
{
    if (nm <= 0)
        return;
    if (name && !strcmp(name, "range"))
        range_assign(members, nm, topics, nt, out);
    else if (homogeneous(members, nm))
        uniform_homogeneous(members, nm, topics, nt, out);
    else
        uniform_heterogeneous(members, nm, topics, nt, out);
}
