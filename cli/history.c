/*
 * history.c - `gregor consumer-groups --history --group g`: the timeline of
 * one consumer group, rebuilt from the records the coordinator keeps in
 * __consumer_offsets.  No Kafka tool has this; it relies on nothing but
 * Kafka's own record schemas, so it works against Apache Kafka too (for the
 * records compaction has not removed yet).
 *
 * How: the group lives in partition abs(String.hashCode(group)) % N of
 * __consumer_offsets (Java's hash over UTF-16 code units, Kafka's Utils.abs:
 * gr_jstr_partition of src/jstr.c, the function the broker uses).  A
 * librdkafka consumer assign()s that partition from its low watermark and
 * reads up to the high watermark; records of other groups are skipped.
 *
 * Strings are read as Kafka reads them (new String(bytes, UTF_8)) into the
 * held form of src/jstr.h, so a group id is matched whole (a NUL in it
 * included) and by Kafka's equality; everything printed that came from
 * the records is escaped (cli_esc).
 *
 * Records (key and value: int16 version, then big-endian fields, int16-length
 * strings; version 4 values are "flexible": unsigned-varint lengths + 1 and
 * tagged fields):
 *
 *   key v0/v1  OffsetCommitKey     group string | topic string | partition int32
 *   key v2     GroupMetadataKey    group string
 *   key v3-v8  consumer groups (KIP-848): group string [| member string for v5, v7, v8]
 *   (other key versions - share groups, regexes, transactions - are skipped)
 *
 *   OffsetCommitValue v0-v4
 *   +--------+-------------------+-----------------+------------------+-------------------+
 *   | offset | leaderEpoch int32 | metadata string | commitTimestamp  | expireTimestamp   |
 *   | int64  | (v3+)             |                 | int64            | int64 (v1 only)   |
 *   +--------+-------------------+-----------------+------------------+-------------------+
 *
 *   GroupMetadataValue v0-v4
 *   +--------------+------------+-----------------+---------------+-----------------------+---------+
 *   | protocolType | generation | protocol        | leader        | currentStateTimestamp | members |
 *   | string       | int32      | nullable string | nullable str. | int64 (v2+)           | array   |
 *   +--------------+------------+-----------------+---------------+-----------------------+---------+
 *   member: memberId string | groupInstanceId nullable string (v3+) | clientId string | clientHost string |
 *           rebalanceTimeout int32 (v1+) | sessionTimeout int32 | subscription bytes | assignment bytes
 *
 *   ConsumerProtocolAssignment (the member's assignment bytes when protocolType is "consumer"; every
 *   version has this prefix): version int16 | [topic string | [partition int32]] | userData bytes.
 *   Parsed tolerantly: bytes that do not fit leave the member's assignment unknown.
 *
 * A null value (tombstone) deletes its key: an offset ("deleted") or the whole group.
 *
 * Output (stdout), one event per line, time first (UTC, ms):
 *
 *   # group 'g': __consumer_offsets-<p>, offsets <lo>..<hi>
 *   <time>  GENERATION <g> protocol=<name> leader=<member-id> members=<n> rebalance=<secs>s
 *   <time>    JOINED member=<member-id> client=<client-id> instance=<instance-id|-> host=<host> assignment=<t:0,1;u:2|->
 *   <time>    LEFT member=<member-id> client=<client-id> instance=<instance-id|->
 *   <time>    STATIC-REJOIN instance=<instance-id> member=<old-id> -> <new-id> client=<client-id>
 *   <time>  EMPTY generation=<g> rebalance=<secs>s            (followed by LEFT lines)
 *   <time>  OFFSET <topic>-<partition> <old|-> -> <new> member=<id|-> client=<id|-> [RESET] [REWIND]
 *   <time>  OFFSET <topic>-<partition> deleted
 *   <time>  GROUP deleted
 *   <time>  GROUP converted to a consumer group (online upgrade): its classic members follow
 *   <time>  GROUP converted to a classic group (downgrade): its members rejoin
 *   consumer groups (KIP-848), from their records:
 *   <time>  GROUP-EPOCH <n>                                   the group epoch moved (a rebalance)
 *   <time>    JOINED member=<id> client=<client-id> instance=<id|-> subscribed=<topics|/regex/>
 *   <time>    LEFT member=<id>
 *   <time>  TARGET-ASSIGNMENT epoch=<n>                       the assignor ran
 *   <time>    TARGET member=<id> assignment=<t:0,1|->
 *   <time>    MEMBER member=<id> epoch=<e> state=<STABLE|UNREVOKED_PARTITIONS|UNRELEASED_PARTITIONS>
 *                    assigned=<t:0,1|-> revoking=<t:2|->    (revoking: partitions it must give up)
 *   Consumer-group topics are named through the group's partition-metadata record (their id otherwise).
 *
 * JOINED/LEFT compare a generation's members with the previous group record's (by member id); a member that
 * left and one that joined with the same group.instance.id are one STATIC-REJOIN (a static member restarted:
 * same instance id, new member id; the coordinator persists it without a new generation).
 * rebalance= is the time from the group's previous record (commit or group record) to this record's
 * currentStateTimestamp (v2+; else the record's timestamp): the log does not record when a rebalance began,
 * so this is an estimate - an idle group over-estimates, commits made during the rebalance under-estimate.
 * OFFSET lines show commits that changed the offset (repeated commits of the same offset are not shown);
 * member/client are the members of the current generation whose assignment holds the partition.
 * RESET: the offset moved while the group had no members (Empty, or no generation yet): an admin
 * (reset-offsets) or standalone commit.  REWIND: the new offset is lower than the old one.
 */
#include "history.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OFFSETS_TOPIC "__consumer_offsets"

/* ------------------------------------------------------------------ reader */

typedef struct rd {
    const uint8_t *p, *end;
    bool bad;
} rd_t;

static bool need(rd_t *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return false;
    }
    return true;
}

static int64_t rdint(rd_t *r, int bytes)
{
    if (!need(r, (size_t)bytes))
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | r->p[i];
    r->p += bytes;
    if (bytes == 2)
        return (int16_t)v;
    if (bytes == 4)
        return (int32_t)v;
    return (int64_t)v;
}

static uint64_t ruvarint(rd_t *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (!need(r, 1))
            return 0;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

/* length of a string/bytes field; -1 = null */
static int64_t rlen(rd_t *r, bool compact, bool bytes32)
{
    if (compact)
        return (int64_t)ruvarint(r) - 1;
    return bytes32 ? rdint(r, 4) : rdint(r, 2);
}

/* A string's bytes in held form (src/jstr.h), malloc'ed. */
static char *held(const void *p, size_t n)
{
    char *s = gr_malloc(gr_jstr_canon(p, n, GR_JSTR_WIRE, NULL, GR_JSTR_HELD) + 1);
    gr_jstr_canon(p, n, GR_JSTR_WIRE, s, GR_JSTR_HELD);
    return s;
}

/* held copy of a (nullable) string field; NULL for null or bad input */
static char *rstr(rd_t *r, bool compact)
{
    int64_t n = rlen(r, compact, false);
    if (n < 0 || !need(r, (size_t)n))
        return NULL;
    char *s = held(r->p, (size_t)n);
    r->p += n;
    return s;
}

/* for output: a held string escaped */
static const char *E(const char *s)
{
    return cli_esc(s, GR_JSTR_HELD);
}

static void rbytes(rd_t *r, bool compact, const uint8_t **p, size_t *len)
{
    int64_t n = rlen(r, compact, true);
    *p = NULL;
    *len = 0;
    if (n < 0 || !need(r, (size_t)n))
        return;
    *p = r->p;
    *len = (size_t)n;
    r->p += n;
}

static void skip_tags(rd_t *r)
{
    uint64_t n = ruvarint(r);
    for (uint64_t i = 0; i < n && !r->bad; i++) {
        ruvarint(r);
        uint64_t sz = ruvarint(r);
        if (need(r, sz))
            r->p += sz;
    }
}

/* ------------------------------------------------------------------ model */

typedef struct member {
    char *id, *instance, *client, *host;
    rd_kafka_topic_partition_list_t *assignment;   /* NULL if unknown */
} member_t;

typedef struct gen {
    int32_t generation;
    char *protocol, *leader;
    member_t *m;
    int n;
} gen_t;

static void gen_free(gen_t *g)
{
    for (int i = 0; i < g->n; i++) {
        free(g->m[i].id);
        free(g->m[i].instance);
        free(g->m[i].client);
        free(g->m[i].host);
        if (g->m[i].assignment)
            rd_kafka_topic_partition_list_destroy(g->m[i].assignment);
    }
    free(g->m);
    free(g->protocol);
    free(g->leader);
    memset(g, 0, sizeof(*g));
}

/* ConsumerProtocolAssignment, tolerantly: NULL if the bytes do not fit */
static rd_kafka_topic_partition_list_t *parse_assignment(const uint8_t *p, size_t len)
{
    rd_t r = {p, p + len, false};
    if (!p || len < 2)
        return NULL;
    int16_t v = (int16_t)rdint(&r, 2);
    int32_t nt = (int32_t)rdint(&r, 4);
    if (v < 0 || r.bad || nt < 0 || nt > 100000)
        return NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nt > 0 ? nt : 1);
    for (int32_t i = 0; i < nt && !r.bad; i++) {
        char *t = rstr(&r, false);
        int32_t np = (int32_t)rdint(&r, 4);
        if (!t || np < 0 || np > 1000000) {
            free(t);
            r.bad = true;
            break;
        }
        for (int32_t j = 0; j < np && !r.bad; j++) {
            int32_t part = (int32_t)rdint(&r, 4);
            if (!r.bad)
                rd_kafka_topic_partition_list_add(l, t, part);
        }
        free(t);
    }
    if (r.bad) {
        rd_kafka_topic_partition_list_destroy(l);
        return NULL;
    }
    rd_kafka_topic_partition_list_sort(l, NULL, NULL);
    return l;
}

/* GroupMetadataValue v0-v4 into g; *ts = currentStateTimestamp or -1 */
static int parse_group_value(const uint8_t *p, size_t len, gen_t *g, int64_t *ts)
{
    rd_t r = {p, p + len, false};
    memset(g, 0, sizeof(*g));
    *ts = -1;
    int16_t v = (int16_t)rdint(&r, 2);
    if (r.bad || v < 0 || v > 4)
        return -1;
    bool fx = v >= 4;
    char *ptype = rstr(&r, fx);
    g->generation = (int32_t)rdint(&r, 4);
    g->protocol = rstr(&r, fx);
    g->leader = rstr(&r, fx);
    if (v >= 2)
        *ts = rdint(&r, 8);
    int64_t n = fx ? (int64_t)ruvarint(&r) - 1 : rdint(&r, 4);
    if (r.bad || n < 0 || n > 100000) {
        free(ptype);
        gen_free(g);
        return r.bad ? -1 : 0;
    }
    g->m = gr_calloc((size_t)n + 1, sizeof(member_t));
    bool consumer = ptype && !strcmp(ptype, "consumer");
    for (int64_t i = 0; i < n && !r.bad; i++) {
        member_t *m = &g->m[g->n];
        m->id = rstr(&r, fx);
        if (v >= 3)
            m->instance = rstr(&r, fx);
        m->client = rstr(&r, fx);
        m->host = rstr(&r, fx);
        if (v >= 1)
            rdint(&r, 4);
        rdint(&r, 4);
        const uint8_t *b;
        size_t bl;
        rbytes(&r, fx, &b, &bl);                 /* subscription */
        rbytes(&r, fx, &b, &bl);                 /* assignment */
        if (consumer)
            m->assignment = parse_assignment(b, bl);
        if (fx)
            skip_tags(&r);
        g->n++;
        if (!m->id)
            r.bad = true;
    }
    free(ptype);
    if (r.bad) {
        gen_free(g);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ output */

static void fmt_time(char *buf, size_t n, int64_t ms)
{
    if (ms < 0) {
        snprintf(buf, n, "%-24s", "-");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char d[32];
    strftime(d, sizeof(d), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%03dZ", d, (int)(ms % 1000));
}

static const char *or_dash(const char *s)
{
    return s && *s ? E(s) : "-";
}

static void print_assignment(const rd_kafka_topic_partition_list_t *l)
{
    if (!l || !l->cnt) {
        fputs("-", stdout);
        return;
    }
    for (int i = 0; i < l->cnt; i++) {
        if (i == 0 || strcmp(l->elems[i].topic, l->elems[i - 1].topic))
            printf("%s%s:%" PRId32, i ? ";" : "", E(l->elems[i].topic), l->elems[i].partition);
        else
            printf(",%" PRId32, l->elems[i].partition);
    }
}

static const member_t *find_member(const gen_t *g, const char *id)
{
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->m[i].id, id))
            return &g->m[i];
    return NULL;
}

static const member_t *find_instance(const gen_t *g, const char *inst)
{
    for (int i = 0; inst && i < g->n; i++)
        if (g->m[i].instance && !strcmp(g->m[i].instance, inst))
            return &g->m[i];
    return NULL;
}

static void print_rebalance(int64_t prev, int64_t now)
{
    if (prev < 0 || now < 0)
        printf(" rebalance=-");
    else
        printf(" rebalance=%.3fs", (double)(now - prev) / 1000.0);
}

/* One group record: header line, then who joined, left or was replaced. */
static void print_generation(const gen_t *prev, const gen_t *g, int64_t ts, int64_t prev_ts)
{
    char t[40];
    fmt_time(t, sizeof(t), ts);
    if (g->n == 0)
        printf("%s  EMPTY generation=%" PRId32, t, g->generation);
    else
        printf("%s  GENERATION %" PRId32 " protocol=%s leader=%s members=%d", t, g->generation,
               or_dash(g->protocol), or_dash(g->leader), g->n);
    print_rebalance(prev_ts, ts);
    printf("\n");
    for (int i = 0; i < g->n; i++) {
        const member_t *m = &g->m[i];
        if (find_member(prev, m->id))
            continue;
        const member_t *old = m->instance ? find_instance(prev, m->instance) : NULL;
        if (old && !find_member(g, old->id)) {
            printf("%s    STATIC-REJOIN instance=%s member=%s -> %s client=%s\n", t, E(m->instance), E(old->id),
                   E(m->id), or_dash(m->client));
            continue;
        }
        printf("%s    JOINED member=%s client=%s instance=%s host=%s assignment=", t, E(m->id), or_dash(m->client),
               or_dash(m->instance), or_dash(m->host));
        print_assignment(m->assignment);
        printf("\n");
    }
    for (int i = 0; i < prev->n; i++) {
        const member_t *m = &prev->m[i];
        if (find_member(g, m->id))
            continue;
        const member_t *rep = m->instance ? find_instance(g, m->instance) : NULL;
        if (rep && !find_member(prev, rep->id))
            continue;   /* reported as STATIC-REJOIN */
        printf("%s    LEFT member=%s client=%s instance=%s\n", t, E(m->id), or_dash(m->client), or_dash(m->instance));
    }
}

/* ------------------------------------------------------------------ state */

typedef struct poff {
    char *topic;
    int32_t part;
    int64_t off;        /* -1: none */
} poff_t;

typedef struct tname {
    uint8_t id[16];
    char *name;
} tname_t;

typedef struct hist {
    const char *group;  /* held form */
    tname_t *tn;        /* consumer groups: topic ids of the metadata record */
    size_t ntn;
    char **cmembers;    /* consumer groups: members with metadata */
    size_t ncm;
    gen_t cur;          /* last group record (n == 0: Empty or none yet) */
    bool have_gen;
    int64_t prev_ts;    /* time of the previous record of the group */
    poff_t *offs;
    size_t noffs, cap;
    size_t records;
    int pending_del;    /* a group tombstone not printed yet: 2 classic, 3 consumer, 0 none */
    int64_t pending_ts;
} hist_t;

/* A group's tombstone is printed once the next record of the group shows
 * what it was: the classic group's followed by consumer-group records is an
 * online upgrade, the consumer group's followed by a GroupMetadata value a
 * downgrade; anything else (or nothing) a deletion.  next_kv: the next
 * record's key version (-1: the end), next_value: it has a value. */
static void flush_deleted(hist_t *h, int next_kv, bool next_value)
{
    if (!h->pending_del)
        return;
    char t[40];
    fmt_time(t, sizeof(t), h->pending_ts);
    if (h->pending_del == 2 && next_kv >= 3)
        printf("%s  GROUP converted to a consumer group (online upgrade): its classic members follow\n", t);
    else if (h->pending_del == 3 && next_kv == 2 && next_value)
        printf("%s  GROUP converted to a classic group (downgrade): its members rejoin\n", t);
    else
        printf("%s  GROUP deleted\n", t);
    h->pending_del = 0;
}

static poff_t *poff_get(hist_t *h, const char *topic, int32_t part)
{
    for (size_t i = 0; i < h->noffs; i++)
        if (h->offs[i].part == part && !strcmp(h->offs[i].topic, topic))
            return &h->offs[i];
    if (h->noffs == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->offs = gr_realloc(h->offs, h->cap * sizeof(poff_t));
    }
    h->offs[h->noffs] = (poff_t){gr_strdup(topic), part, -1};
    return &h->offs[h->noffs++];
}

static void on_offset(hist_t *h, const char *topic, int32_t part, const uint8_t *val, size_t vlen, int64_t rec_ts)
{
    char t[40];
    poff_t *po = poff_get(h, topic, part);
    if (!val) {
        fmt_time(t, sizeof(t), rec_ts);
        printf("%s  OFFSET %s-%" PRId32 " deleted\n", t, E(topic), part);
        po->off = -1;
        h->prev_ts = rec_ts;
        return;
    }
    rd_t r = {val, val + vlen, false};
    int16_t v = (int16_t)rdint(&r, 2);
    bool fx = v >= 4;
    int64_t off = rdint(&r, 8);
    if (v >= 3)
        rdint(&r, 4);
    free(rstr(&r, fx));
    int64_t cts = rdint(&r, 8);
    if (r.bad || v < 0 || v > 4) {
        fmt_time(t, sizeof(t), rec_ts);
        printf("%s  OFFSET %s-%" PRId32 " (unreadable value version %d)\n", t, E(topic), part, v);
        return;
    }
    int64_t ts = cts >= 0 ? cts : rec_ts;
    int64_t old = po->off;
    po->off = off;
    if (old == off) {
        h->prev_ts = ts;
        return;
    }
    fmt_time(t, sizeof(t), ts);
    const char *mid = NULL, *cid = NULL;
    for (int i = 0; i < h->cur.n && !mid; i++)
        if (h->cur.m[i].assignment && rd_kafka_topic_partition_list_find(h->cur.m[i].assignment, topic, part)) {
            mid = h->cur.m[i].id;
            cid = h->cur.m[i].client;
        }
    char olds[24];
    if (old < 0)
        snprintf(olds, sizeof(olds), "-");
    else
        snprintf(olds, sizeof(olds), "%" PRId64, old);
    printf("%s  OFFSET %s-%" PRId32 " %s -> %" PRId64 " member=%s client=%s%s%s\n", t, E(topic), part, olds, off,
           or_dash(mid), or_dash(cid), old >= 0 && h->cur.n == 0 ? " RESET" : "",
           old >= 0 && off < old ? " REWIND" : "");
    h->prev_ts = ts;
}

static void on_group(hist_t *h, const uint8_t *val, size_t vlen, int64_t rec_ts)
{
    char t[40];
    if (!val) {
        h->pending_del = 2;
        h->pending_ts = rec_ts;
        gen_free(&h->cur);
        h->have_gen = false;
        h->prev_ts = rec_ts;
        return;
    }
    gen_t g;
    int64_t ts;
    if (parse_group_value(val, vlen, &g, &ts) < 0) {
        fmt_time(t, sizeof(t), rec_ts);
        printf("%s  GROUP (unreadable group metadata value)\n", t);
        return;
    }
    if (ts < 0)
        ts = rec_ts;
    print_generation(&h->cur, &g, ts, h->prev_ts);
    gen_free(&h->cur);
    h->cur = g;
    h->have_gen = true;
    h->prev_ts = ts;
}

/* ------------------------------------------------------------------ consumer groups */

static void tn_set(hist_t *h, const uint8_t *id, const char *name)
{
    for (size_t i = 0; i < h->ntn; i++)
        if (!memcmp(h->tn[i].id, id, 16)) {
            free(h->tn[i].name);
            h->tn[i].name = gr_strdup(name);
            return;
        }
    h->tn = gr_realloc(h->tn, (h->ntn + 1) * sizeof(*h->tn));
    memcpy(h->tn[h->ntn].id, id, 16);
    h->tn[h->ntn].name = gr_strdup(name);
    h->ntn++;
}

static void print_topic_id(const hist_t *h, const uint8_t *id)
{
    for (size_t i = 0; i < h->ntn; i++)
        if (!memcmp(h->tn[i].id, id, 16)) {
            printf("%s", E(h->tn[i].name));
            return;
        }
    for (int i = 0; i < 16; i++)
        printf("%02x", id[i]);
}

/* [topic id, [partition]] of a flexible value, printed "t:0,1;u:2" ("-" if none) */
static void print_tps(const hist_t *h, rd_t *r)
{
    int64_t n = (int64_t)ruvarint(r) - 1;
    bool any = false;
    for (int64_t i = 0; i < n && !r->bad; i++) {
        if (!need(r, 16))
            break;
        const uint8_t *id = r->p;
        r->p += 16;
        int64_t np = (int64_t)ruvarint(r) - 1;
        if (np > 0) {
            printf("%s", any ? ";" : "");
            print_topic_id(h, id);
            for (int64_t k = 0; k < np && !r->bad; k++)
                printf("%s%" PRId32, k ? "," : ":", (int32_t)rdint(r, 4));
            any = true;
        }
        skip_tags(r);
    }
    if (!any)
        printf("-");
}

static const char *member_state_name(int s)
{
    return s == 1 ? "STABLE" : s == 2 ? "UNREVOKED_PARTITIONS" : s == 3 ? "UNRELEASED_PARTITIONS" : "UNKNOWN";
}

static bool cm_has(hist_t *h, const char *id, bool remove)
{
    for (size_t i = 0; i < h->ncm; i++)
        if (!strcmp(h->cmembers[i], id)) {
            if (remove) {
                free(h->cmembers[i]);
                h->cmembers[i] = h->cmembers[--h->ncm];
            }
            return true;
        }
    return false;
}

static void on_consumer_record(hist_t *h, int kv, const char *member, const uint8_t *val, size_t vlen,
                               int64_t rec_ts)
{
    char t[40];
    fmt_time(t, sizeof(t), rec_ts);
    rd_t r = {val, val ? val + vlen : NULL, false};
    if (val && rdint(&r, 2) != 0) {
        printf("%s  (unreadable consumer group record, type %d)\n", t, kv);
        return;
    }
    switch (kv) {
    case 3:
        if (!val) {
            h->pending_del = 3;
            h->pending_ts = rec_ts;
        } else
            printf("%s  GROUP-EPOCH %" PRId32 "\n", t, (int32_t)rdint(&r, 4));
        break;
    case 4:
        if (!val)
            break;
        for (int64_t n = (int64_t)ruvarint(&r) - 1, i = 0; i < n && !r.bad; i++) {
            if (!need(&r, 16))
                break;
            const uint8_t *id = r.p;
            r.p += 16;
            char *name = rstr(&r, true);
            rdint(&r, 4);
            for (int64_t k = 0, np = (int64_t)ruvarint(&r) - 1; k < np && !r.bad; k++) {
                rdint(&r, 4);
                for (int64_t j = 0, nr = (int64_t)ruvarint(&r) - 1; j < nr && !r.bad; j++)
                    free(rstr(&r, true));
                skip_tags(&r);
            }
            skip_tags(&r);
            if (name && !r.bad)
                tn_set(h, id, name);
            free(name);
        }
        break;
    case 5:
        if (!val) {
            if (cm_has(h, member, true))
                printf("%s    LEFT member=%s\n", t, E(member));
            break;
        }
        if (!cm_has(h, member, false)) {
            char *inst = rstr(&r, true), *rack = rstr(&r, true), *client = rstr(&r, true), *host = rstr(&r, true);
            printf("%s    JOINED member=%s client=%s instance=%s subscribed=", t, E(member), or_dash(client),
                   or_dash(inst));
            int64_t n = (int64_t)ruvarint(&r) - 1;
            for (int64_t i = 0; i < n && !r.bad; i++) {
                char *tp = rstr(&r, true);
                printf("%s%s", i ? "," : "", tp ? E(tp) : "?");
                free(tp);
            }
            char *re = rstr(&r, true);
            if (re)
                printf("%s/%s/", n > 0 ? "," : "", E(re));
            else if (n <= 0)
                printf("-");
            printf("\n");
            free(re);
            free(inst);
            free(rack);
            free(client);
            free(host);
            h->cmembers = gr_realloc(h->cmembers, (h->ncm + 1) * sizeof(char *));
            h->cmembers[h->ncm++] = gr_strdup(member);
        }
        break;
    case 6:
        if (val)
            printf("%s  TARGET-ASSIGNMENT epoch=%" PRId32 "\n", t, (int32_t)rdint(&r, 4));
        break;
    case 7:
        if (!val)
            break;
        printf("%s    TARGET member=%s assignment=", t, E(member));
        print_tps(h, &r);
        printf("\n");
        break;
    case 8: {
        if (!val)
            break;
        int32_t e = (int32_t)rdint(&r, 4);
        rdint(&r, 4);
        int st = (int)rdint(&r, 1);
        printf("%s    MEMBER member=%s epoch=%" PRId32 " state=%s assigned=", t, E(member), e, member_state_name(st));
        print_tps(h, &r);
        printf(" revoking=");
        print_tps(h, &r);
        printf("\n");
        break;
    }
    }
    h->prev_ts = rec_ts;
}

static void on_record(hist_t *h, const rd_kafka_message_t *m)
{
    if (!m->key || m->key_len < 2)
        return;
    rd_t r = {m->key, (const uint8_t *)m->key + m->key_len, false};
    int16_t kv = (int16_t)rdint(&r, 2);
    if (kv < 0 || kv > 8)
        return;
    char *group = rstr(&r, false);
    if (!group || strcmp(group, h->group)) {
        free(group);
        return;
    }
    free(group);
    rd_kafka_timestamp_type_t tt;
    int64_t rec_ts = rd_kafka_message_timestamp(m, &tt);
    h->records++;
    flush_deleted(h, kv, m->payload != NULL);
    if (kv >= 3) {
        char *member = kv == 5 || kv == 7 || kv == 8 ? rstr(&r, false) : NULL;
        if (!r.bad && (member || !(kv == 5 || kv == 7 || kv == 8)))
            on_consumer_record(h, kv, member, m->payload, m->len, rec_ts);
        free(member);
    } else if (kv <= 1) {
        char *topic = rstr(&r, false);
        int32_t part = (int32_t)rdint(&r, 4);
        if (topic && !r.bad)
            on_offset(h, topic, part, m->payload, m->len, rec_ts);
        free(topic);
    } else {
        on_group(h, m->payload, m->len, rec_ts);
    }
}

/* ------------------------------------------------------------------ main */

void cli_history_help(FILE *out)
{
    fputs("\n--history --group g: the group's timeline from __consumer_offsets (its partition\n"
          "abs(hashCode(g)) % partitions, read from the low to the high watermark), one event per line:\n"
          "  # group 'g': __consumer_offsets-<p>, offsets <lo>..<hi>\n"
          "  <time>  GENERATION <g> protocol=<name> leader=<member-id> members=<n> rebalance=<secs>s\n"
          "  <time>    JOINED member=<id> client=<client-id> instance=<instance-id|-> host=<host> "
          "assignment=<t:0,1;u:2|->\n"
          "  <time>    LEFT member=<id> client=<client-id> instance=<instance-id|->\n"
          "  <time>    STATIC-REJOIN instance=<instance-id> member=<old-id> -> <new-id> client=<client-id>\n"
          "  <time>  EMPTY generation=<g> rebalance=<secs>s\n"
          "  <time>  OFFSET <topic>-<partition> <old|-> -> <new> member=<id|-> client=<id|-> [RESET] [REWIND]\n"
          "  <time>  OFFSET <topic>-<partition> deleted\n"
          "  <time>  GROUP deleted\n"
          "  <time>  GROUP converted to a consumer group (online upgrade): its classic members follow\n"
          "  <time>  GROUP converted to a classic group (downgrade): its members rejoin\n"
          "Times are UTC (a group record's currentStateTimestamp, a commit's commitTimestamp).\n"
          "JOINED/LEFT compare each group record's members with the previous one's; STATIC-REJOIN is the\n"
          "same group.instance.id with a new member id.  rebalance= is the time from the group's previous\n"
          "record (commit or group record) to this one: an estimate, since the log does not record when a\n"
          "rebalance began.  OFFSET lines show changes only; member/client own the partition in the\n"
          "current generation.  RESET: moved while the group had no members (admin or standalone commit);\n"
          "REWIND: moved backwards.  Compaction may have removed older records.\n",
          out);
}

int cli_group_history(const cli_opts_t *o, const char *group)
{
    int rc = 1, timeout = cli_timeout_ms(o);
    static const char *const extra[] = {"group.id", "gregor-history-reader", "enable.auto.commit", "false",
                                        "enable.auto.offset.store", "false", "enable.partition.eof", "true",
                                        "auto.offset.reset", "earliest", NULL};
    char *hg = held(group, strlen(group));
    hist_t h = {.group = hg, .prev_ts = -1};
    rd_kafka_topic_partition_list_t *tp = NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_t *rk = cli_client(o, RD_KAFKA_CONSUMER, extra);
    if (!rk) {
        free(hg);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, OFFSETS_TOPIC, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout);
    rd_kafka_topic_destroy(rkt);
    if (err) {
        cli_err("Executing consumer group command failed due to %s (reading metadata of %s)", rd_kafka_err2str(err),
                OFFSETS_TOPIC);
        goto out;
    }
    if (md->topic_cnt < 1 || md->topics[0].err || md->topics[0].partition_cnt < 1) {
        cli_err("%s does not exist: no group has committed offsets yet", OFFSETS_TOPIC);
        goto out;
    }
    int32_t part = gr_jstr_partition(hg, strlen(hg), GR_JSTR_HELD, md->topics[0].partition_cnt);
    int64_t lo, hi;
    err = rd_kafka_query_watermark_offsets(rk, OFFSETS_TOPIC, part, &lo, &hi, timeout);
    if (err) {
        cli_err("Executing consumer group command failed due to %s (watermarks of %s-%" PRId32 ")",
                rd_kafka_err2str(err), OFFSETS_TOPIC, part);
        goto out;
    }
    printf("# group '%s': %s-%" PRId32 ", offsets %" PRId64 "..%" PRId64 "\n", E(hg), OFFSETS_TOPIC, part, lo, hi);
    if (hi > lo) {
        tp = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(tp, OFFSETS_TOPIC, part)->offset = lo;
        if ((err = rd_kafka_assign(rk, tp))) {
            cli_err("cannot assign %s-%" PRId32 ": %s", OFFSETS_TOPIC, part, rd_kafka_err2str(err));
            goto out;
        }
        struct timespec last, now;
        clock_gettime(CLOCK_MONOTONIC, &last);
        for (;;) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (!m) {
                if ((now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000 > timeout) {
                    cli_err("Timed out reading %s-%" PRId32 " (no record for %d ms)", OFFSETS_TOPIC, part, timeout);
                    goto out;
                }
                continue;
            }
            last = now;
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                rd_kafka_message_destroy(m);
                break;
            }
            if (m->err) {
                cli_err("reading %s-%" PRId32 ": %s", OFFSETS_TOPIC, part, rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                goto out;
            }
            on_record(&h, m);
            bool done = m->offset >= hi - 1;
            rd_kafka_message_destroy(m);
            if (done)
                break;
        }
    }
    flush_deleted(&h, -1, false);
    fflush(stdout);
    if (!h.records) {
        cli_err("Consumer group '%s' has no records in %s-%" PRId32 " (it never committed, or they were "
                "compacted away).",
                E(hg), OFFSETS_TOPIC, part);
        goto out;
    }
    rc = 0;
out:
    fflush(stdout);
    if (tp)
        rd_kafka_topic_partition_list_destroy(tp);
    if (md)
        rd_kafka_metadata_destroy(md);
    gen_free(&h.cur);
    for (size_t i = 0; i < h.noffs; i++)
        free(h.offs[i].topic);
    free(h.offs);
    for (size_t i = 0; i < h.ntn; i++)
        free(h.tn[i].name);
    free(h.tn);
    for (size_t i = 0; i < h.ncm; i++)
        free(h.cmembers[i]);
    free(h.cmembers);
    free(hg);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
