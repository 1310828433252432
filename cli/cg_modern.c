/*
 * cg_modern.c - consumer groups of the KIP-848 protocol in `gregor
 * consumer-groups`: --list with --type (and their states), --describe
 * (--offsets, --members, --state, --verbose) in Kafka 4's layout.
 *
 * Debian's librdkafka (2.0.2) speaks neither ConsumerGroupDescribe nor
 * ListGroups v5, and its DescribeGroups sees a consumer group as Dead (as
 * Kafka 4 answers), so these two requests go through the CLI's raw
 * protocol client (kwire.c, with the command's --bootstrap-server,
 * --command-config and --timeout): FindCoordinator for the group's
 * coordinator, then ConsumerGroupDescribe v0 to it; ListGroups v5 to the
 * bootstrap broker.  The client is opened on first use and kept for the
 * command (c->kw, closed by cg_modern_close); after a failed call it is
 * dropped, and the next call opens a new one.  Any failure is silent: the
 * caller falls back to the classic (librdkafka) way.
 *
 * Strings from the wire are in held form (kw_rstr; jstr.h) and everything
 * printed that came from the wire is escaped (cli_esc).  Bounds: those of
 * kwire - one response of at most 64 MiB within the request timeout,
 * arrays no longer than the bytes that carry them (kw_rarr).
 */
#include "cg.h"
#include "kwire.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the client */

/* The command's raw client, opened on first use; NULL when it cannot be. */
static kw_t *client(cg_t *c)
{
    if (!c->kw) {
        kw_t *k = gr_calloc(1, sizeof(*k));
        if (kw_open(k, &c->o) < 0) {
            kw_close(k);
            free(k);
            return NULL;
        }
        c->kw = k;
    }
    return c->kw;
}

void cg_modern_close(cg_t *c)
{
    if (c->kw) {
        kw_close(c->kw);
        free(c->kw);
        c->kw = NULL;
    }
}

/* After a failed call: a connection may be left mid-frame. */
static int drop(cg_t *c)
{
    cg_modern_close(c);
    return -1;
}

/* An array length, null counted as empty (bounded by kw_rarr). */
static int32_t count(kw_rd_t *r, size_t min_elem)
{
    int32_t n = kw_rarr(r, true, min_elem);
    return n > 0 ? n : 0;
}

/* ------------------------------------------------------------ ListGroups v5 */

int cg_modern_list(cg_t *c, cg_mlist_t *out)
{
    memset(out, 0, sizeof(*out));
    kw_t *k = client(c);
    if (!k)
        return -1;
    int v = kw_version(k->boot, 16, 5, 5);
    if (v < 0)
        return -1;
    kw_buf_t b = {0};
    kw_arr(&b, true, 0);        /* StatesFilter */
    kw_arr(&b, true, 0);        /* TypesFilter */
    kw_tags(&b, true);
    kw_rd_t r;
    int rc = kw_call(k->boot, 16, v, &b, &r);
    free(b.p);
    if (rc < 0)
        return drop(c);
    kw_rint(&r, 4);
    int16_t err = (int16_t)kw_rint(&r, 2);
    int32_t n = count(&r, 4);
    out->name = gr_calloc((size_t)n + 1, sizeof(char *));
    out->type = gr_calloc((size_t)n + 1, sizeof(char *));
    out->state = gr_calloc((size_t)n + 1, sizeof(char *));
    for (int32_t i = 0; i < n && !r.bad; i++) {
        char *name = kw_rstr(&r, true);
        free(kw_rstr(&r, true));                /* protocol type */
        char *state = kw_rstr(&r, true), *type = kw_rstr(&r, true);
        kw_rtags(&r, true);
        if (r.bad || !name) {                   /* a group id is never null */
            r.bad = true;
            free(name), free(state), free(type);
            break;
        }
        out->name[out->n] = name;
        out->state[out->n] = state;
        out->type[out->n++] = type;
    }
    if (r.bad || err) {
        cg_mlist_free(out);
        return -1;
    }
    return 0;
}

void cg_mlist_free(cg_mlist_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->name[i]);
        free(l->type[i]);
        free(l->state[i]);
    }
    free(l->name);
    free(l->type);
    free(l->state);
    memset(l, 0, sizeof(*l));
}

/* ------------------------------------------------------------ describe */

typedef struct tps {
    char *s;                        /* "t:0,1;u:2" or "-" */
    int n;                          /* partitions */
    char **topic;                   /* per partition */
    int32_t *part;
} tps_t;

typedef struct mdesc {
    char *id, *instance, *client, *host;
    int32_t epoch;
    tps_t cur, target;
} mdesc_t;

typedef struct gdesc {
    int16_t error;
    char *state, *assignor;
    int32_t epoch, aepoch;
    mdesc_t *m;
    int nm;
    char coord[300];
} gdesc_t;

static void tps_free(tps_t *t)
{
    free(t->s);
    for (int i = 0; i < t->n; i++)
        free(t->topic[i]);
    free(t->topic);
    free(t->part);
}

static void gdesc_free(gdesc_t *g)
{
    for (int i = 0; i < g->nm; i++) {
        free(g->m[i].id);
        free(g->m[i].instance);
        free(g->m[i].client);
        free(g->m[i].host);
        tps_free(&g->m[i].cur);
        tps_free(&g->m[i].target);
    }
    free(g->m);
    free(g->state);
    free(g->assignor);
}

/* Assignment: [TopicId, TopicName, [Partitions], tags], tags */
static void get_assignment(kw_rd_t *r, tps_t *t)
{
    memset(t, 0, sizeof(*t));
    int32_t nt = count(r, 19);
    char **names = gr_calloc((size_t)nt + 1, sizeof(char *));
    int32_t **parts = gr_calloc((size_t)nt + 1, sizeof(int32_t *));
    int32_t *np = gr_calloc((size_t)nt + 1, sizeof(int32_t));
    for (int32_t i = 0; i < nt && !r->bad; i++) {
        kw_rint(r, 8), kw_rint(r, 8);           /* topic id */
        names[i] = kw_rstr(r, true);
        np[i] = count(r, 4);
        parts[i] = gr_calloc((size_t)np[i] + 1, sizeof(int32_t));
        for (int32_t k = 0; k < np[i]; k++)
            parts[i][k] = (int32_t)kw_rint(r, 4);
        kw_rtags(r, true);
        t->n += np[i];
    }
    kw_rtags(r, true);
    /* sorted by topic, partitions ascending: "t:0,1;u:2" */
    int32_t *ord = gr_calloc((size_t)nt + 1, sizeof(int32_t));
    for (int32_t i = 0; i < nt; i++)
        ord[i] = i;
    for (int32_t i = 1; i < nt; i++)
        for (int32_t j = i; j > 0 && strcmp(names[ord[j]] ? names[ord[j]] : "", names[ord[j - 1]] ? names[ord[j - 1]] : "") < 0; j--) {
            int32_t x = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = x;
        }
    t->topic = gr_calloc((size_t)t->n + 1, sizeof(char *));
    t->part = gr_calloc((size_t)t->n + 1, sizeof(int32_t));
    size_t cap = 64, len = 0;
    t->s = gr_malloc(cap);
    t->s[0] = 0;
    int k = 0;
    for (int32_t oi = 0; oi < nt; oi++) {
        int32_t i = ord[oi];
        for (int32_t a = 1; a < np[i]; a++)
            for (int32_t b = a; b > 0 && parts[i][b] < parts[i][b - 1]; b--) {
                int32_t x = parts[i][b];
                parts[i][b] = parts[i][b - 1];
                parts[i][b - 1] = x;
            }
        const char *tn = cli_esc(names[i] ? names[i] : "?", GR_JSTR_HELD);
        for (int32_t p = 0; p < np[i]; p++) {
            size_t need = strlen(tn) + 24;
            if (len + need >= cap) {
                cap = (len + need) * 2;
                t->s = gr_realloc(t->s, cap);
            }
            if (p == 0)
                len += (size_t)sprintf(t->s + len, "%s%s:%" PRId32, len ? ";" : "", tn, parts[i][p]);
            else
                len += (size_t)sprintf(t->s + len, ",%" PRId32, parts[i][p]);
            t->topic[k] = gr_strdup(names[i] ? names[i] : "?");
            t->part[k++] = parts[i][p];
        }
    }
    if (!len) {
        free(t->s);
        t->s = gr_strdup(CG_MISSING);
    }
    for (int32_t i = 0; i < nt; i++) {
        free(names[i]);
        free(parts[i]);
    }
    free(names);
    free(parts);
    free(np);
    free(ord);
}

/* FindCoordinator then ConsumerGroupDescribe v0: 1 = a consumer group
 * described in *g, 0 = not a consumer group, -1 = failed. */
static int describe_one(cg_t *c, const char *group, gdesc_t *g)
{
    memset(g, 0, sizeof(*g));
    kw_t *k = client(c);
    if (!k)
        return -1;
    int16_t kerr;
    int32_t node = kw_find_coordinator(k, 0, group, &kerr);
    if (node < 0)
        return drop(c);
    const kw_broker_t *co = kw_meta_broker(&k->md, node);
    if (!co)
        return -1;
    snprintf(g->coord, sizeof(g->coord), "%s:%d  (%d)", cli_esc(co->host, GR_JSTR_HELD), co->port, node);
    kw_conn_t *cn = kw_node(k, node);
    if (!cn)
        return drop(c);
    int v = kw_version(cn, 69, 0, 0);
    if (v < 0)
        return -1;
    kw_buf_t b = {0};
    kw_arr(&b, true, 1);                        /* GroupIds */
    kw_str(&b, true, group);
    kw_i8(&b, 0);                               /* IncludeAuthorizedOperations */
    kw_tags(&b, true);
    kw_rd_t r;
    int rc = kw_call(cn, 69, v, &b, &r);
    free(b.p);
    if (rc < 0)
        return drop(c);
    kw_rint(&r, 4);
    int32_t ng = count(&r, 8);
    for (int32_t i = 0; i < ng && i < 1 && !r.bad; i++) {
        g->error = (int16_t)kw_rint(&r, 2);
        free(kw_rstr(&r, true));                /* error message */
        free(kw_rstr(&r, true));                /* group id */
        g->state = kw_rstr(&r, true);
        g->epoch = (int32_t)kw_rint(&r, 4);
        g->aepoch = (int32_t)kw_rint(&r, 4);
        g->assignor = kw_rstr(&r, true);
        int32_t nm = count(&r, 12);
        g->m = gr_calloc((size_t)nm + 1, sizeof(mdesc_t));
        for (int32_t j = 0; j < nm && !r.bad; j++) {
            mdesc_t *m = &g->m[j];
            m->id = kw_rstr(&r, true);
            m->instance = kw_rstr(&r, true);
            free(kw_rstr(&r, true));            /* rack */
            m->epoch = (int32_t)kw_rint(&r, 4);
            m->client = kw_rstr(&r, true);
            m->host = kw_rstr(&r, true);
            for (int32_t t = 0, nt = count(&r, 1); t < nt && !r.bad; t++)
                free(kw_rstr(&r, true));        /* subscribed topic names */
            free(kw_rstr(&r, true));            /* regex */
            get_assignment(&r, &m->cur);
            get_assignment(&r, &m->target);
            kw_rtags(&r, true);
            g->nm++;
        }
        kw_rint(&r, 4);                         /* authorized operations */
        kw_rtags(&r, true);
        if (!g->error && !g->state)             /* a described group has a state */
            r.bad = true;
        rc = r.bad ? -1 : g->error == 0 ? 1 : 0;
    }
    if (rc <= 0)
        gdesc_free(g);
    return rc;
}

/* printable: S for the group (the command line's or librdkafka's bytes),
 * H for strings of the wire in held form; "" for null */
static const char *S(const char *s)
{
    return s ? cli_esc(s, GR_JSTR_WIRE) : "";
}

static const char *H(const char *s)
{
    return s ? cli_esc(s, GR_JSTR_HELD) : "";
}

/* Kafka's shouldPrintMemberState for consumer groups; true if rows follow. */
static bool banner(const char *group, const char *state, size_t rows)
{
    fflush(stdout);
    if (!strcmp(state, "Empty"))
        fprintf(stderr, "\nConsumer group '%s' has no active members.\n", S(group));
    else if (!strcmp(state, "Assigning") || !strcmp(state, "Reconciling"))
        fprintf(stderr, "\nWarning: Consumer group '%s' is rebalancing.\n", S(group));
    fflush(stderr);
    return rows > 0;
}

static void print_members(const char *group, gdesc_t *g, bool verbose)
{
    size_t wg = cg_maxz(15, strlen(S(group))), wc = 15, wi = 17, wh = 15, wcl = 15, wca = 20, wta = 20;
    bool inst = false;
    for (int i = 0; i < g->nm; i++) {
        wc = cg_maxz(wc, strlen(H(g->m[i].id)));
        wi = cg_maxz(wi, strlen(H(g->m[i].instance)));
        wh = cg_maxz(wh, strlen(H(g->m[i].host)));
        wcl = cg_maxz(wcl, strlen(H(g->m[i].client)));
        wca = cg_maxz(wca, strlen(g->m[i].cur.s));
        wta = cg_maxz(wta, strlen(g->m[i].target.s));
        inst = inst || (g->m[i].instance && *g->m[i].instance);
    }
    banner(group, g->state, (size_t)g->nm);
    if (inst)
        printf("\n%-*s %-*s %-*s %-*s %-*s %-15s ", (int)wg, "GROUP", (int)wc, "CONSUMER-ID", (int)wi,
               "GROUP-INSTANCE-ID", (int)wh, "HOST", (int)wcl, "CLIENT-ID", "#PARTITIONS");
    else
        printf("\n%-*s %-*s %-*s %-*s %-15s ", (int)wg, "GROUP", (int)wc, "CONSUMER-ID", (int)wh, "HOST", (int)wcl,
               "CLIENT-ID", "#PARTITIONS");
    if (verbose)
        printf("%-15s %-*s %-15s %-*s", "CURRENT-EPOCH", (int)wca, "CURRENT-ASSIGNMENT", "TARGET-EPOCH", (int)wta,
               "TARGET-ASSIGNMENT");
    printf("\n");
    for (int i = 0; i < g->nm; i++) {
        mdesc_t *m = &g->m[i];
        char np[16];
        snprintf(np, sizeof(np), "%d", m->cur.n);
        if (inst)
            printf("%-*s %-*s %-*s %-*s %-*s %-15s ", (int)wg, S(group), (int)wc, H(m->id), (int)wi,
                   H(m->instance), (int)wh, H(m->host), (int)wcl, H(m->client), np);
        else
            printf("%-*s %-*s %-*s %-*s %-15s ", (int)wg, S(group), (int)wc, H(m->id), (int)wh, H(m->host),
                   (int)wcl, H(m->client), np);
        if (verbose) {
            char ce[16], te[16];
            snprintf(ce, sizeof(ce), "%d", m->epoch);
            snprintf(te, sizeof(te), "%d", g->aepoch);
            printf("%-15s %-*s %-15s %-*s", ce, (int)wca, m->cur.s, te, (int)wta, m->target.s);
        }
        printf("\n");
    }
}

static void print_state(const char *group, gdesc_t *g, bool verbose)
{
    banner(group, g->state, 1);
    int wc = (int)cg_maxz(25, strlen(g->coord)), wg = (int)cg_maxz(15, strlen(S(group)));
    char nm[16];
    snprintf(nm, sizeof(nm), "%d", g->nm);
    const char *as = g->assignor && *g->assignor ? H(g->assignor) : CG_MISSING;
    if (verbose) {
        char ge[16], te[16];
        snprintf(ge, sizeof(ge), "%d", g->epoch);
        snprintf(te, sizeof(te), "%d", g->aepoch);
        printf("\n%-*s %-*s %-20s %-20s %-15s %-25s %s", wg, "GROUP", wc, "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY",
               "STATE", "GROUP-EPOCH", "TARGET-ASSIGNMENT-EPOCH", "#MEMBERS");
        printf("\n%-*s %-*s %-20s %-20s %-15s %-25s %s", wg, S(group), wc, g->coord, as, H(g->state), ge, te, nm);
    } else {
        printf("\n%-*s %-*s %-20s %-20s %s", wg, "GROUP", wc, "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE",
               "#MEMBERS");
        printf("\n%-*s %-*s %-20s %-20s %s", wg, S(group), wc, g->coord, as, H(g->state), nm);
    }
    printf("\n");
}

static int cmp_member_n(const void *a, const void *b)
{
    const mdesc_t *x = a, *y = b;
    return y->cur.n - x->cur.n;
}

static void print_offsets(cg_t *c, const char *group, gdesc_t *g, bool verbose)
{
    rd_kafka_topic_partition_list_t *co = cg_committed(c, group);
    if (!co)
        return;
    qsort(g->m, (size_t)g->nm, sizeof(mdesc_t), cmp_member_n);     /* most partitions first */
    size_t cap = (size_t)co->cnt + 1, nr = 0;
    for (int i = 0; i < g->nm; i++)
        cap += (size_t)g->m[i].cur.n;
    cg_orow_t *rows = gr_calloc(cap, sizeof(cg_orow_t));
    const char **topic = gr_calloc(cap, sizeof(char *));           /* of rows[i], as matched */
    for (int i = 0; i < g->nm; i++) {
        mdesc_t *m = &g->m[i];
        for (int k = 0; k < m->cur.n; k++) {
            const char *t = m->cur.topic[k];
            const rd_kafka_topic_partition_t *ce = rd_kafka_topic_partition_list_find(co, t, m->cur.part[k]);
            topic[nr] = t;
            rows[nr++] = (cg_orow_t){H(t), m->cur.part[k], ce ? ce->offset : -1,
                                     cg_log_offset(c, t, m->cur.part[k], true), H(m->id), H(m->host), H(m->client)};
        }
    }
    for (int j = 0; j < co->cnt; j++) {
        const rd_kafka_topic_partition_t *e = &co->elems[j];
        bool owned = false;
        for (size_t i = 0; i < nr && !owned; i++)
            owned = rows[i].part == e->partition && !strcmp(topic[i], e->topic);
        if (!owned) {
            topic[nr] = e->topic;
            rows[nr++] = (cg_orow_t){S(e->topic), e->partition, e->offset,
                                     cg_log_offset(c, e->topic, e->partition, true), CG_MISSING, CG_MISSING,
                                     CG_MISSING};
        }
    }
    if (banner(group, g->state, nr))
        cg_print_offsets(S(group), rows, nr, verbose);
    free(topic);
    free(rows);
    rd_kafka_topic_partition_list_destroy(co);
}

bool cg_modern_describe(cg_t *c, const char *group)
{
    gdesc_t g;
    if (describe_one(c, group, &g) <= 0)
        return false;
    bool verbose = cli_has(&c->o, "verbose");
    if (cli_has(&c->o, "members"))
        print_members(group, &g, verbose);
    else if (cli_has(&c->o, "state"))
        print_state(group, &g, verbose);
    else
        print_offsets(c, group, &g, verbose);
    fflush(stdout);
    gdesc_free(&g);
    return true;
}
