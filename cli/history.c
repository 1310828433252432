/*
 * history.c - `gregor consumer-groups --history --group g`: the timeline of
 * one consumer group, rebuilt from the records the coordinator keeps in
 * __consumer_offsets.  No Kafka tool has this; it relies on nothing but
 * Kafka's own record schemas, so it works against Apache Kafka too (for the
 * records compaction has not removed yet).
 *
 * How: the group lives in partition abs(String.hashCode(group)) % N of
 * __consumer_offsets (Java's hash over UTF-16 code units, Kafka's Utils.abs:
 * gr_jstr_partition of src/core/jstr.c, the function the broker uses).  A
 * librdkafka consumer assign()s that partition from its low watermark and
 * reads up to the high watermark; records of other groups are skipped.
 *
 * Strings are read as Kafka reads them (new String(bytes, UTF_8)) into the
 * held form of src/core/jstr.h, so a group id is matched whole (a NUL in it
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
 *   <time>  OFFSET ... txn=<producer-id>:COMMITTED|ABORTED|PENDING   (a TxnOffsetCommit, see below)
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
 *
 * Transactional offset commits (TxnOffsetCommit, KIP-98/447) are offset records in a transactional
 * batch; they take effect when the producer's COMMIT marker lands in the partition and are dropped by
 * its ABORT marker.  librdkafka hides both the batch's producer id and the control batches, so before
 * reading the records the partition's batch headers are scanned with raw Fetch requests (kwire.c, read
 * uncommitted): each transactional batch's offset range and producer id, and the first COMMIT/ABORT
 * marker of that producer after it, give each record its outcome: COMMITTED (the offset changes,
 * printed like any change), ABORTED or PENDING (no marker yet: printed, the offset does not change).
 * When the scan is impossible (e.g. a non-PLAINTEXT --command-config) the header line says so and
 * such records count as plain commits.
 */
#include "history.h"
#include "kwire.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OFFSETS_TOPIC "__consumer_offsets"

/* Records are read with kwire.h's protocol reader (kw_rd_t). */

/* A string's bytes in held form (src/core/jstr.h), malloc'ed. */
static char *held(const void *p, size_t n)
{
    char *s = gr_malloc(gr_jstr_canon(p, n, GR_JSTR_WIRE, NULL, GR_JSTR_HELD) + 1);
    gr_jstr_canon(p, n, GR_JSTR_WIRE, s, GR_JSTR_HELD);
    return s;
}

/* for output: a held string escaped */
static const char *E(const char *s)
{
    return cli_esc(s, GR_JSTR_HELD);
}

/* ------------------------------------------------------------------ transactions */

enum { TX_PENDING, TX_COMMITTED, TX_ABORTED };

typedef struct txr {
    int64_t first, last, pid;
    int outcome;
} txr_t;

typedef struct txidx {
    txr_t *v;
    size_t n, cap;
    bool ok;                    /* the scan covered the range */
    char why[600];              /* else: why not */
} txidx_t;

/* one v2 batch header: the transactional batch's range, or a marker's outcome */
static void tx_batch(txidx_t *x, const uint8_t *b, size_t len)
{
    kw_rd_t r = {b, b + len, false};
    int64_t base = kw_rint(&r, 8);
    kw_rint(&r, 4);                       /* length */
    kw_rint(&r, 4);                       /* partition leader epoch */
    int8_t magic = (int8_t)kw_rint(&r, 1);
    kw_rint(&r, 4);                       /* crc */
    int16_t attrs = (int16_t)kw_rint(&r, 2);
    int32_t lod = (int32_t)kw_rint(&r, 4);
    kw_rint(&r, 8);
    kw_rint(&r, 8);
    int64_t pid = kw_rint(&r, 8);
    kw_rint(&r, 2);
    kw_rint(&r, 4);
    int32_t cnt = (int32_t)kw_rint(&r, 4);
    if (r.bad || magic != 2 || !(attrs & 0x10) || pid < 0)
        return;
    if (!(attrs & 0x20)) {              /* transactional data */
        if (x->n == x->cap) {
            x->cap = x->cap ? x->cap * 2 : 64;
            x->v = gr_realloc(x->v, x->cap * sizeof(txr_t));
        }
        x->v[x->n++] = (txr_t){base, base + lod, pid, TX_PENDING};
        return;
    }
    if (cnt < 1 || (attrs & 0x07))      /* markers are never compressed */
        return;
    /* first record: length, attributes, timestampDelta, offsetDelta (varints), key */
    for (int i = 0; i < 4; i++) {
        if (i == 1)
            kw_rint(&r, 1);
        else
            kw_ruvarint(&r);
    }
    uint64_t zk = kw_ruvarint(&r);
    int64_t klen = (int64_t)(zk >> 1) ^ -(int64_t)(zk & 1);
    if (r.bad || klen < 4)
        return;
    kw_rint(&r, 2);                       /* version */
    int16_t type = (int16_t)kw_rint(&r, 2);
    if (r.bad || (type != 0 && type != 1))
        return;
    /* this producer's undecided batches before the marker */
    for (size_t i = x->n; i-- > 0;) {
        if (x->v[i].pid != pid)
            continue;
        if (x->v[i].outcome != TX_PENDING)
            break;
        if (x->v[i].last < base)
            x->v[i].outcome = type == 1 ? TX_COMMITTED : TX_ABORTED;
    }
}

/* Fetch (v4..v11, read_uncommitted) of topic-part from lo to hi, batch
 * headers only; sets x->ok, or x->why */
static void tx_scan(const cli_opts_t *o, txidx_t *x, const char *topic, int32_t part, int64_t lo, int64_t hi)
{
    kw_t k;
    x->ok = false;
    if (kw_open(&k, o) < 0) {
        snprintf(x->why, sizeof(x->why), "%s", k.err);
        kw_close(&k);
        return;
    }
    const char *tl[1] = {topic};
    const kw_topic_t *t;
    kw_conn_t *c = NULL;
    int v = -1;
    if (kw_metadata(&k, tl, 1) < 0) {
        snprintf(x->why, sizeof(x->why), "%s", k.err);
        goto out;
    }
    t = kw_meta_topic(&k.md, topic);
    for (int i = 0; t && i < t->nparts && !c; i++)
        if (t->parts[i].id == part && t->parts[i].leader >= 0)
            c = kw_node(&k, t->parts[i].leader);
    if (!c) {
        snprintf(x->why, sizeof(x->why), "no leader for %s-%" PRId32 " (%.500s)", topic, part, k.err);
        goto out;
    }
    if ((v = kw_version(c, 1, 4, 11)) < 0) {
        snprintf(x->why, sizeof(x->why), "%s", c->err);
        goto out;
    }
    int32_t maxb = 1 << 20;
    for (int64_t off = lo; off < hi;) {
        kw_buf_t b = {0};
        kw_i32(&b, -1);                           /* replica id */
        kw_i32(&b, 0);                            /* max wait */
        kw_i32(&b, 1);                            /* min bytes */
        kw_i32(&b, maxb);
        kw_i8(&b, 0);                             /* read_uncommitted */
        if (v >= 7) {
            kw_i32(&b, 0);                        /* session id */
            kw_i32(&b, -1);                       /* session epoch: none */
        }
        kw_i32(&b, 1);
        kw_str(&b, false, topic);
        kw_i32(&b, 1);
        kw_i32(&b, part);
        if (v >= 9)
            kw_i32(&b, -1);                       /* current leader epoch */
        kw_i64(&b, off);
        if (v >= 5)
            kw_i64(&b, -1);                       /* log start offset */
        kw_i32(&b, maxb);
        if (v >= 7)
            kw_i32(&b, 0);                        /* forgotten topics */
        if (v >= 11)
            kw_str(&b, false, "");                /* rack */
        kw_rd_t r;
        int rc = kw_call(c, 1, v, &b, &r);
        free(b.p);
        if (rc < 0) {
            snprintf(x->why, sizeof(x->why), "%s", c->err);
            goto out;
        }
        if (v >= 1)
            kw_rint(&r, 4);                       /* throttle */
        int16_t top_err = v >= 7 ? (int16_t)kw_rint(&r, 2) : 0;
        if (v >= 7)
            kw_rint(&r, 4);
        int32_t nt = kw_rarr(&r, false, 6);
        const uint8_t *recs = NULL;
        int32_t rlen = -1;
        int16_t perr = 0;
        for (int32_t i = 0; i < nt && !r.bad; i++) {
            free(kw_rstr(&r, false));
            int32_t np = kw_rarr(&r, false, 14);
            for (int32_t j = 0; j < np && !r.bad; j++) {
                kw_rint(&r, 4);
                perr = (int16_t)kw_rint(&r, 2);
                kw_rint(&r, 8);                   /* high watermark */
                kw_rint(&r, 8);                   /* last stable offset */
                if (v >= 5)
                    kw_rint(&r, 8);               /* log start offset */
                int32_t na = kw_rarr(&r, false, 16);
                for (int32_t a = 0; a < na && !r.bad; a++)
                    kw_rint(&r, 8), kw_rint(&r, 8);
                if (v >= 11)
                    kw_rint(&r, 4);               /* preferred read replica */
                kw_rbytes(&r, false, &recs, &rlen);
            }
        }
        if (r.bad || top_err || perr) {
            snprintf(x->why, sizeof(x->why), "Fetch of %s-%" PRId32 " at %" PRId64 ": %s", topic, part, off,
                     r.bad ? "malformed response" : kw_errstr(top_err ? top_err : perr));
            goto out;
        }
        if (!recs || rlen <= 0)
            break;                                /* nothing more up to hi (e.g. removed by cleaning) */
        int64_t next = off;
        for (size_t p = 0; recs && rlen > 0 && (size_t)rlen - p >= 61;) {
            kw_rd_t h = {recs + p + 8, recs + rlen, false};
            int32_t blen = (int32_t)kw_rint(&h, 4);
            if (blen < 49 || (size_t)blen + 12 > (size_t)rlen - p)
                break;                            /* partial batch at the end */
            const uint8_t *bb = recs + p;
            int64_t base = (int64_t)((uint64_t)bb[0] << 56 | (uint64_t)bb[1] << 48 | (uint64_t)bb[2] << 40 |
                                     (uint64_t)bb[3] << 32 | (uint64_t)bb[4] << 24 | (uint64_t)bb[5] << 16 |
                                     (uint64_t)bb[6] << 8 | bb[7]);
            int32_t lod = (int32_t)((uint32_t)bb[23] << 24 | (uint32_t)bb[24] << 16 | (uint32_t)bb[25] << 8 | bb[26]);
            if (base + lod >= next) {
                tx_batch(x, bb, (size_t)blen + 12);
                next = base + lod + 1;
            }
            p += (size_t)blen + 12;
        }
        if (next == off) {
            if (maxb >= (64 << 20)) {
                snprintf(x->why, sizeof(x->why), "no progress reading %s-%" PRId32 " at %" PRId64, topic, part, off);
                goto out;
            }
            maxb *= 4;                            /* a batch larger than the limit */
            continue;
        }
        off = next;
    }
    x->ok = true;
out:
    kw_close(&k);
}

/* the transactional batch holding offset, NULL for a plain record */
static const txr_t *tx_find(const txidx_t *x, int64_t off)
{
    size_t lo = 0, hi = x->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (x->v[mid].last < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->n && x->v[lo].first <= off ? &x->v[lo] : NULL;
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
    kw_rd_t r = {p, p + len, false};
    if (!p || len < 2)
        return NULL;
    int16_t v = (int16_t)kw_rint(&r, 2);
    int32_t nt = (int32_t)kw_rint(&r, 4);
    if (v < 0 || r.bad || nt < 0 || nt > 100000)
        return NULL;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nt > 0 ? nt : 1);
    for (int32_t i = 0; i < nt && !r.bad; i++) {
        char *t = kw_rstr(&r, false);
        int32_t np = (int32_t)kw_rint(&r, 4);
        if (!t || np < 0 || np > 1000000) {
            free(t);
            r.bad = true;
            break;
        }
        for (int32_t j = 0; j < np && !r.bad; j++) {
            int32_t part = (int32_t)kw_rint(&r, 4);
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
    kw_rd_t r = {p, p + len, false};
    memset(g, 0, sizeof(*g));
    *ts = -1;
    int16_t v = (int16_t)kw_rint(&r, 2);
    if (r.bad || v < 0 || v > 4)
        return -1;
    bool fx = v >= 4;
    char *ptype = kw_rstr(&r, fx);
    g->generation = (int32_t)kw_rint(&r, 4);
    g->protocol = kw_rstr(&r, fx);
    g->leader = kw_rstr(&r, fx);
    if (v >= 2)
        *ts = kw_rint(&r, 8);
    int64_t n = fx ? (int64_t)kw_ruvarint(&r) - 1 : kw_rint(&r, 4);
    if (r.bad || n < 0 || n > 100000) {
        free(ptype);
        gen_free(g);
        return r.bad ? -1 : 0;
    }
    g->m = gr_calloc((size_t)n + 1, sizeof(member_t));
    bool consumer = ptype && !strcmp(ptype, "consumer");
    for (int64_t i = 0; i < n && !r.bad; i++) {
        member_t *m = &g->m[g->n];
        m->id = kw_rstr(&r, fx);
        if (v >= 3)
            m->instance = kw_rstr(&r, fx);
        m->client = kw_rstr(&r, fx);
        m->host = kw_rstr(&r, fx);
        if (v >= 1)
            kw_rint(&r, 4);
        kw_rint(&r, 4);
        const uint8_t *b;
        int32_t bl;
        kw_rbytes(&r, fx, &b, &bl);              /* subscription */
        kw_rbytes(&r, fx, &b, &bl);              /* assignment */
        if (consumer)
            m->assignment = parse_assignment(b, bl > 0 ? (size_t)bl : 0);
        if (fx)
            kw_rtags(&r, true);
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
    /* --undo (quiet: nothing printed): the last reset, i.e. the last run of
     * commits with one commit timestamp made while the group had no
     * members, and the offsets they replaced */
    bool quiet;
    int64_t batch_ts;           /* commit timestamp of the run being read, -1 */
    bool batch_changed;
    rd_kafka_topic_partition_list_t *batch, *last_reset;
    int64_t last_reset_ts;
    txidx_t tx;         /* transactional batches of the partition */
    int pending_del;    /* a group tombstone not printed yet: 2 classic, 3 consumer, 0 none */
    int64_t pending_ts;
} hist_t;

/* A commit record at commit time cts: part of a reset run when the group
 * had no members; runs end at any other record of the group. */
static void reset_track(hist_t *h, const char *topic, int32_t part, int64_t old, int64_t off, int64_t cts,
                        bool no_members)
{
    if (!no_members || cts != h->batch_ts) {
        if (h->batch && h->batch_changed) {
            if (h->last_reset)
                rd_kafka_topic_partition_list_destroy(h->last_reset);
            h->last_reset = h->batch;
            h->last_reset_ts = h->batch_ts;
        } else if (h->batch) {
            rd_kafka_topic_partition_list_destroy(h->batch);
        }
        h->batch = NULL;
        h->batch_changed = false;
        h->batch_ts = -1;
    }
    if (!no_members)
        return;
    if (!h->batch)
        h->batch = rd_kafka_topic_partition_list_new(8);
    h->batch_ts = cts;
    rd_kafka_topic_partition_list_add(h->batch, topic, part)->offset = old;
    if (old != off)
        h->batch_changed = true;
}

/* A group's tombstone is printed once the next record of the group shows
 * what it was: the classic group's followed by consumer-group records is an
 * online upgrade, the consumer group's followed by a GroupMetadata value a
 * downgrade; anything else (or nothing) a deletion.  next_kv: the next
 * record's key version (-1: the end), next_value: it has a value. */
static void flush_deleted(hist_t *h, int next_kv, bool next_value)
{
    if (!h->pending_del || h->quiet) {
        h->pending_del = 0;
        return;
    }
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

static void on_offset(hist_t *h, const char *topic, int32_t part, const uint8_t *val, size_t vlen, int64_t rec_ts,
                      const txr_t *tx)
{
    char t[40];
    poff_t *po = poff_get(h, topic, part);
    if (!val) {
        reset_track(h, topic, part, -1, -1, -2, false);
        po->off = -1;
        if (h->quiet)
            return;
        fmt_time(t, sizeof(t), rec_ts);
        printf("%s  OFFSET %s-%" PRId32 " deleted\n", t, E(topic), part);
        po->off = -1;
        h->prev_ts = rec_ts;
        return;
    }
    kw_rd_t r = {val, val + vlen, false};
    int16_t v = (int16_t)kw_rint(&r, 2);
    bool fx = v >= 4;
    int64_t off = kw_rint(&r, 8);
    if (v >= 3)
        kw_rint(&r, 4);
    free(kw_rstr(&r, fx));
    int64_t cts = kw_rint(&r, 8);
    if (r.bad || v < 0 || v > 4) {
        fmt_time(t, sizeof(t), rec_ts);
        printf("%s  OFFSET %s-%" PRId32 " (unreadable value version %d)\n", t, E(topic), part, v);
        return;
    }
    int64_t ts = cts >= 0 ? cts : rec_ts;
    int64_t old = po->off;
    bool takes = !tx || tx->outcome == TX_COMMITTED;
    if (takes)
        po->off = off;
    /* only what took effect is part of a reset (a transactional commit is
     * never one) */
    reset_track(h, topic, part, old, takes ? off : old, ts, takes && h->cur.n == 0 && h->ncm == 0);
    if ((old == off && takes) || h->quiet) {
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
    char txs[48] = "";
    if (tx)
        snprintf(txs, sizeof(txs), " txn=%" PRId64 ":%s", tx->pid,
                 tx->outcome == TX_COMMITTED ? "COMMITTED" : tx->outcome == TX_ABORTED ? "ABORTED" : "PENDING");
    printf("%s  OFFSET %s-%" PRId32 " %s -> %" PRId64 " member=%s client=%s%s%s%s\n", t, E(topic), part, olds, off,
           or_dash(mid), or_dash(cid), old >= 0 && h->cur.n == 0 && takes ? " RESET" : "",
           old >= 0 && off < old ? " REWIND" : "", txs);
    h->prev_ts = ts;
}

static void on_group(hist_t *h, const uint8_t *val, size_t vlen, int64_t rec_ts)
{
    char t[40];
    reset_track(h, "", 0, -1, -1, -2, false);
    if (h->quiet) {
        gen_t g;
        int64_t ts;
        gen_free(&h->cur);
        h->have_gen = false;
        if (val && parse_group_value(val, vlen, &g, &ts) == 0) {
            h->cur = g;
            h->have_gen = true;
        }
        return;
    }
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

/* printf, except with --undo (quiet), which reads consumer-group records
 * only for the membership they tell. */
static void hprintf(const hist_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hprintf(const hist_t *h, const char *fmt, ...)
{
    if (h->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

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
            hprintf(h, "%s", E(h->tn[i].name));
            return;
        }
    for (int i = 0; i < 16; i++)
        hprintf(h, "%02x", id[i]);
}

/* [topic id, [partition]] of a flexible value, printed "t:0,1;u:2" ("-" if none) */
static void print_tps(const hist_t *h, kw_rd_t *r)
{
    int64_t n = (int64_t)kw_ruvarint(r) - 1;
    bool any = false;
    for (int64_t i = 0; i < n && !r->bad; i++) {
        if (!kw_rneed(r, 16))
            break;
        const uint8_t *id = r->p;
        r->p += 16;
        int64_t np = (int64_t)kw_ruvarint(r) - 1;
        if (np > 0) {
            hprintf(h, "%s", any ? ";" : "");
            print_topic_id(h, id);
            for (int64_t k = 0; k < np && !r->bad; k++)
                hprintf(h, "%s%" PRId32, k ? "," : ":", (int32_t)kw_rint(r, 4));
            any = true;
        }
        kw_rtags(r, true);
    }
    if (!any)
        hprintf(h, "-");
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
    kw_rd_t r = {val, val ? val + vlen : NULL, false};
    if (val && kw_rint(&r, 2) != 0) {
        hprintf(h, "%s  (unreadable consumer group record, type %d)\n", t, kv);
        return;
    }
    switch (kv) {
    case 3:
        if (!val) {
            h->pending_del = 3;
            h->pending_ts = rec_ts;
        } else
            hprintf(h, "%s  GROUP-EPOCH %" PRId32 "\n", t, (int32_t)kw_rint(&r, 4));
        break;
    case 4:
        if (!val)
            break;
        for (int64_t n = (int64_t)kw_ruvarint(&r) - 1, i = 0; i < n && !r.bad; i++) {
            if (!kw_rneed(&r, 16))
                break;
            const uint8_t *id = r.p;
            r.p += 16;
            char *name = kw_rstr(&r, true);
            kw_rint(&r, 4);
            for (int64_t k = 0, np = (int64_t)kw_ruvarint(&r) - 1; k < np && !r.bad; k++) {
                kw_rint(&r, 4);
                for (int64_t j = 0, nr = (int64_t)kw_ruvarint(&r) - 1; j < nr && !r.bad; j++)
                    free(kw_rstr(&r, true));
                kw_rtags(&r, true);
            }
            kw_rtags(&r, true);
            if (name && !r.bad)
                tn_set(h, id, name);
            free(name);
        }
        break;
    case 5:
        if (!val) {
            if (cm_has(h, member, true))
                hprintf(h, "%s    LEFT member=%s\n", t, E(member));
            break;
        }
        if (!cm_has(h, member, false)) {
            char *inst = kw_rstr(&r, true), *rack = kw_rstr(&r, true), *client = kw_rstr(&r, true), *host = kw_rstr(&r, true);
            hprintf(h, "%s    JOINED member=%s client=%s instance=%s subscribed=", t, E(member), or_dash(client),
                   or_dash(inst));
            int64_t n = (int64_t)kw_ruvarint(&r) - 1;
            for (int64_t i = 0; i < n && !r.bad; i++) {
                char *tp = kw_rstr(&r, true);
                hprintf(h, "%s%s", i ? "," : "", tp ? E(tp) : "?");
                free(tp);
            }
            char *re = kw_rstr(&r, true);
            if (re)
                hprintf(h, "%s/%s/", n > 0 ? "," : "", E(re));
            else if (n <= 0)
                hprintf(h, "-");
            hprintf(h, "\n");
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
            hprintf(h, "%s  TARGET-ASSIGNMENT epoch=%" PRId32 "\n", t, (int32_t)kw_rint(&r, 4));
        break;
    case 7:
        if (!val)
            break;
        hprintf(h, "%s    TARGET member=%s assignment=", t, E(member));
        print_tps(h, &r);
        hprintf(h, "\n");
        break;
    case 8: {
        if (!val)
            break;
        int32_t e = (int32_t)kw_rint(&r, 4);
        kw_rint(&r, 4);
        int st = (int)kw_rint(&r, 1);
        hprintf(h, "%s    MEMBER member=%s epoch=%" PRId32 " state=%s assigned=", t, E(member), e, member_state_name(st));
        print_tps(h, &r);
        hprintf(h, " revoking=");
        print_tps(h, &r);
        hprintf(h, "\n");
        break;
    }
    }
    h->prev_ts = rec_ts;
}

static void on_record(hist_t *h, const rd_kafka_message_t *m)
{
    if (!m->key || m->key_len < 2)
        return;
    kw_rd_t r = {m->key, (const uint8_t *)m->key + m->key_len, false};
    int16_t kv = (int16_t)kw_rint(&r, 2);
    if (kv < 0 || kv > 8)
        return;
    char *group = kw_rstr(&r, false);
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
        reset_track(h, "", 0, -1, -1, -2, false);     /* a reset run ends at any other record */
        char *member = kv == 5 || kv == 7 || kv == 8 ? kw_rstr(&r, false) : NULL;
        if (!r.bad && (member || !(kv == 5 || kv == 7 || kv == 8)))
            on_consumer_record(h, kv, member, m->payload, m->len, rec_ts);
        free(member);
    } else if (kv <= 1) {
        char *topic = kw_rstr(&r, false);
        int32_t part = (int32_t)kw_rint(&r, 4);
        if (topic && !r.bad)
            on_offset(h, topic, part, m->payload, m->len, rec_ts, h->tx.ok ? tx_find(&h->tx, m->offset) : NULL);
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
          "  <time>  OFFSET ... txn=<producer-id>:COMMITTED|ABORTED|PENDING   (TxnOffsetCommit)\n"
          "  <time>  GROUP converted to a consumer group (online upgrade): its classic members follow\n"
          "  <time>  GROUP converted to a classic group (downgrade): its members rejoin\n"
          "Times are UTC (a group record's currentStateTimestamp, a commit's commitTimestamp).\n"
          "JOINED/LEFT compare each group record's members with the previous one's; STATIC-REJOIN is the\n"
          "same group.instance.id with a new member id.  rebalance= is the time from the group's previous\n"
          "record (commit or group record) to this one: an estimate, since the log does not record when a\n"
          "rebalance began.  OFFSET lines show changes only; member/client own the partition in the\n"
          "current generation.  RESET: moved while the group had no members (admin or standalone commit);\n"
          "REWIND: moved backwards.  Compaction may have removed older records.\n"
          "Transactional commits apply when their transaction commits: the batch headers are read with\n"
          "raw Fetch requests (PLAINTEXT only) to find each one's producer and COMMIT/ABORT marker;\n"
          "ABORTED and PENDING ones leave the offset as it was.\n",
          out);
}

static int read_group(const cli_opts_t *o, const char *group, hist_t *hp);

int cli_group_history(const cli_opts_t *o, const char *group)
{
    hist_t h = {.prev_ts = -1, .batch_ts = -1};
    int rc = read_group(o, group, &h);
    if (h.last_reset)           /* the last reset run: only --reset-offsets' undo keeps it */
        rd_kafka_topic_partition_list_destroy(h.last_reset);
    return rc;
}

int cli_group_last_reset(const cli_opts_t *o, const char *group, rd_kafka_topic_partition_list_t **before,
                         int64_t *when)
{
    hist_t h = {.prev_ts = -1, .batch_ts = -1, .quiet = true};
    h.quiet = true;
    *before = NULL;
    int rc = read_group(o, group, &h);
    reset_track(&h, "", 0, -1, -1, -2, false);      /* the run at the end counts */
    if (rc == 0) {
        *before = h.last_reset;
        *when = h.last_reset_ts;
        h.last_reset = NULL;
    }
    if (h.last_reset)
        rd_kafka_topic_partition_list_destroy(h.last_reset);
    return rc;
}

static int read_group(const cli_opts_t *o, const char *group, hist_t *hp)
{
    int rc = 1, timeout = cli_timeout_ms(o);
    static const char *const extra[] = {"group.id", "gregor-history-reader", "enable.auto.commit", "false",
                                        "enable.auto.offset.store", "false", "enable.partition.eof", "true",
                                        "auto.offset.reset", "earliest",
                                        /* every record, those of open and aborted transactions too */
                                        "isolation.level", "read_uncommitted", NULL};
    char *hg = held(group, strlen(group));
    hist_t h = *hp;
    h.group = hg;
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
    if (hi > lo)
        tx_scan(o, &h.tx, OFFSETS_TOPIC, part, lo, hi);
    else
        h.tx.ok = true;
    if (!h.quiet) {
        printf("# group '%s': %s-%" PRId32 ", offsets %" PRId64 "..%" PRId64 "\n", E(hg), OFFSETS_TOPIC, part, lo,
               hi);
        if (!h.tx.ok)
            printf("# transactional commits not told apart: %s\n", h.tx.why);
    }
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
    free(h.tx.v);
    for (size_t i = 0; i < h.ntn; i++)
        free(h.tn[i].name);
    free(h.tn);
    for (size_t i = 0; i < h.ncm; i++)
        free(h.cmembers[i]);
    free(h.cmembers);
    free(hg);
    if (h.batch && h.batch_changed) {
        if (h.last_reset)
            rd_kafka_topic_partition_list_destroy(h.last_reset);
        h.last_reset = h.batch;
        h.last_reset_ts = h.batch_ts;
    } else if (h.batch) {
        rd_kafka_topic_partition_list_destroy(h.batch);
    }
    hp->last_reset = h.last_reset;
    hp->last_reset_ts = h.last_reset_ts;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
