/*
 * cg_describe.c - `gregor consumer-groups --describe`: for each group (in
 * name order, as Kafka's TreeMap) its partitions with offsets and lag
 * (--offsets, the default), its members (--members) or its state
 * (--state), with Kafka's banners for empty, rebalancing and missing groups
 * on stderr.
 */
#include "cg.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static bool is_rebalancing(rd_kafka_consumer_group_state_t s)
{
    return s == RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE ||
           s == RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE;
}

/* Kafka's shouldPrintMemberState: banner or error; true if rows follow. */
static bool print_state_banner(cg_t *c, const char *group, rd_kafka_consumer_group_state_t st, size_t rows)
{
    group = cli_esc(group, GR_JSTR_WIRE);
    if (st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD || st == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN) {
        cg_fail(c, "Consumer group '%s' does not exist.", group);
        return false;
    }
    fflush(stdout);
    if (st == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY)
        fprintf(stderr, "\nConsumer group '%s' has no active members.\n", group);
    else if (is_rebalancing(st))
        fprintf(stderr, "\nWarning: Consumer group '%s' is rebalancing.\n", group);
    fflush(stderr);
    return rows > 0;
}

/* ---- --describe --offsets ---- */

typedef struct mref {
    const rd_kafka_MemberDescription_t *m;
    int n, idx;
} mref_t;

static int cmp_mref(const void *a, const void *b)
{
    const mref_t *x = a, *y = b;
    if (x->n != y->n)
        return y->n - x->n;           /* most partitions first */
    return x->idx - y->idx;           /* stable */
}

static const rd_kafka_topic_partition_list_t *member_parts(const rd_kafka_MemberDescription_t *m)
{
    const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(m);
    return a ? rd_kafka_MemberAssignment_partitions(a) : NULL;
}

static void num_or_missing(char *buf, size_t n, int64_t v)
{
    if (v < 0)
        snprintf(buf, n, CG_MISSING);
    else
        snprintf(buf, n, "%" PRId64, v);
}

void cg_print_offsets(const char *group, const cg_orow_t *rows, size_t nr, bool verbose)
{
    size_t wg = cg_maxz(15, strlen(group)), wt = 15, wc = 15, wh = 15;
    for (size_t i = 0; i < nr; i++) {
        wt = cg_maxz(wt, strlen(rows[i].topic));
        wc = cg_maxz(wc, strlen(rows[i].cid));
        wh = cg_maxz(wh, strlen(rows[i].host));
    }
    if (verbose)
        printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-15s %-*s %-*s %s", (int)wg, "GROUP", (int)wt, "TOPIC",
               "PARTITION", "LEADER-EPOCH", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", (int)wc, "CONSUMER-ID",
               (int)wh, "HOST", "CLIENT-ID");
    else
        printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-*s %-*s %s", (int)wg, "GROUP", (int)wt, "TOPIC",
               "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", (int)wc, "CONSUMER-ID", (int)wh, "HOST",
               "CLIENT-ID");
    for (size_t i = 0; i < nr; i++) {
        char off[24], leo[24], lag[24], part[16];
        snprintf(part, sizeof(part), "%" PRId32, rows[i].part);
        num_or_missing(off, sizeof(off), rows[i].off);
        num_or_missing(leo, sizeof(leo), rows[i].leo);
        if (rows[i].off >= 0 && rows[i].leo >= 0)
            snprintf(lag, sizeof(lag), "%" PRId64, rows[i].leo - rows[i].off);
        else
            snprintf(lag, sizeof(lag), CG_MISSING);
        if (verbose)
            printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-15s %-*s %-*s %s", (int)wg, group, (int)wt,
                   rows[i].topic, part, CG_MISSING, off, leo, lag, (int)wc, rows[i].cid, (int)wh, rows[i].host,
                   rows[i].client);
        else
            printf("\n%-*s %-*s %-10s %-15s %-15s %-15s %-*s %-*s %s", (int)wg, group, (int)wt, rows[i].topic,
                   part, off, leo, lag, (int)wc, rows[i].cid, (int)wh, rows[i].host, rows[i].client);
    }
    printf("\n");
}

static void describe_offsets(cg_t *c, const rd_kafka_ConsumerGroupDescription_t *d, bool verbose)
{
    const char *group = rd_kafka_ConsumerGroupDescription_group_id(d);
    rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(d);
    if (st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
        print_state_banner(c, group, st, 0);
        return;
    }
    rd_kafka_topic_partition_list_t *co = cg_committed(c, group);
    if (!co)
        return;
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d);
    mref_t *ms = gr_calloc(nm + 1, sizeof(mref_t));
    size_t cap = (size_t)co->cnt + 1, nr = 0, nms = 0;
    for (size_t i = 0; i < nm; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        const rd_kafka_topic_partition_list_t *p = member_parts(m);
        if (!p || p->cnt == 0)
            continue;
        ms[nms++] = (mref_t){m, p->cnt, (int)i};
        cap += (size_t)p->cnt;
    }
    qsort(ms, nms, sizeof(mref_t), cmp_mref);
    cg_orow_t *rows = gr_calloc(cap, sizeof(cg_orow_t));
    rd_kafka_topic_partition_list_t *assigned = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < nms; i++) {
        rd_kafka_topic_partition_list_t *p = rd_kafka_topic_partition_list_copy(member_parts(ms[i].m));
        rd_kafka_topic_partition_list_sort(p, NULL, NULL);
        for (int j = 0; j < p->cnt; j++) {
            const char *t = p->elems[j].topic;
            int32_t pp = p->elems[j].partition;
            rd_kafka_topic_partition_list_add(assigned, t, pp);
            const rd_kafka_topic_partition_t *ce = rd_kafka_topic_partition_list_find(co, t, pp);
            rows[nr++] = (cg_orow_t){.topic = NULL, .part = pp, .off = ce ? ce->offset : -1,
                                     .leo = cg_log_offset(c, t, pp, true),
                                     .cid = cli_esc(rd_kafka_MemberDescription_consumer_id(ms[i].m), GR_JSTR_WIRE),
                                     .host = cli_esc(rd_kafka_MemberDescription_host(ms[i].m), GR_JSTR_WIRE),
                                     .client = cli_esc(rd_kafka_MemberDescription_client_id(ms[i].m), GR_JSTR_WIRE)};
            /* topic strings must outlive p: point at the assignment list's copy */
            const rd_kafka_topic_partition_t *orig =
                rd_kafka_topic_partition_list_find(member_parts(ms[i].m), t, pp);
            rows[nr - 1].topic = cli_esc(orig->topic, GR_JSTR_WIRE);
        }
        rd_kafka_topic_partition_list_destroy(p);
    }
    for (int j = 0; j < co->cnt; j++) {
        const rd_kafka_topic_partition_t *e = &co->elems[j];
        if (rd_kafka_topic_partition_list_find(assigned, e->topic, e->partition))
            continue;
        rows[nr++] = (cg_orow_t){cli_esc(e->topic, GR_JSTR_WIRE), e->partition, e->offset,
                                 cg_log_offset(c, e->topic, e->partition, true), CG_MISSING, CG_MISSING, CG_MISSING};
    }
    if (print_state_banner(c, group, st, nr))
        cg_print_offsets(cli_esc(group, GR_JSTR_WIRE), rows, nr, verbose);
    rd_kafka_topic_partition_list_destroy(assigned);
    rd_kafka_topic_partition_list_destroy(co);
    free(rows);
    free(ms);
}

/* ---- --describe --members ---- */

/* "t1:0,1;t2:3" (topics sorted, partitions sorted); caller frees */
static char *assignment_str(const rd_kafka_topic_partition_list_t *p)
{
    if (!p || p->cnt == 0)
        return gr_strdup(CG_MISSING);
    rd_kafka_topic_partition_list_t *s = rd_kafka_topic_partition_list_copy(p);
    rd_kafka_topic_partition_list_sort(s, NULL, NULL);
    size_t cap = 64, len = 0;
    char *out = gr_malloc(cap);
    out[0] = '\0';
    for (int i = 0; i < s->cnt; i++) {
        bool newt = i == 0 || strcmp(s->elems[i].topic, s->elems[i - 1].topic);
        const char *topic = cli_esc(s->elems[i].topic, GR_JSTR_WIRE);
        size_t need = strlen(topic) + 16;
        if (len + need >= cap) {
            cap = (len + need) * 2;
            out = gr_realloc(out, cap);
        }
        if (newt)
            len += (size_t)sprintf(out + len, "%s%s:%" PRId32, i ? ";" : "", topic, s->elems[i].partition);
        else
            len += (size_t)sprintf(out + len, ",%" PRId32, s->elems[i].partition);
    }
    rd_kafka_topic_partition_list_destroy(s);
    return out;
}

/* The strings of a member as they may be printed. */
static const char *m_cid(const rd_kafka_MemberDescription_t *m)
{
    return cli_esc(rd_kafka_MemberDescription_consumer_id(m), GR_JSTR_WIRE);
}

static const char *m_host(const rd_kafka_MemberDescription_t *m)
{
    return cli_esc(rd_kafka_MemberDescription_host(m), GR_JSTR_WIRE);
}

static const char *m_client(const rd_kafka_MemberDescription_t *m)
{
    return cli_esc(rd_kafka_MemberDescription_client_id(m), GR_JSTR_WIRE);
}

static const char *m_instance(const rd_kafka_MemberDescription_t *m)
{
    return cli_esc(rd_kafka_MemberDescription_group_instance_id(m), GR_JSTR_WIRE);
}

static void describe_members(cg_t *c, const rd_kafka_ConsumerGroupDescription_t *d, bool verbose)
{
    const char *group = rd_kafka_ConsumerGroupDescription_group_id(d);
    rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(d);
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(d);
    size_t wg = 15, wc = 15, wi = 17, wh = 15, wcl = 15, wca = 20, wta = 20;
    bool inst = false;
    if (st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
        print_state_banner(c, group, st, 0);
        return;
    }
    char **as = gr_calloc(nm + 1, sizeof(char *));
    if (print_state_banner(c, group, st, nm)) {
        for (size_t i = 0; i < nm; i++) {
            const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
            const char *gi = m_instance(m);
            wg = cg_maxz(wg, strlen(cli_esc(group, GR_JSTR_WIRE)));
            wc = cg_maxz(wc, strlen(m_cid(m)));
            wi = cg_maxz(wi, gi ? strlen(gi) : 0);
            wh = cg_maxz(wh, strlen(m_host(m)));
            wcl = cg_maxz(wcl, strlen(m_client(m)));
            inst = inst || (gi && *gi);
            as[i] = assignment_str(member_parts(m));
            wca = cg_maxz(wca, strlen(as[i]));
        }
    }
    /* Kafka prints the header even when there are no members */
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
    group = cli_esc(group, GR_JSTR_WIRE);
    for (size_t i = 0; i < nm && as[i]; i++) {
        const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
        const rd_kafka_topic_partition_list_t *p = member_parts(m);
        const char *gi = m_instance(m);
        char np[16];
        snprintf(np, sizeof(np), "%d", p ? p->cnt : 0);
        if (inst)
            printf("%-*s %-*s %-*s %-*s %-*s %-15s ", (int)wg, group, (int)wc, m_cid(m), (int)wi, gi ? gi : "",
                   (int)wh, m_host(m), (int)wcl, m_client(m), np);
        else
            printf("%-*s %-*s %-*s %-*s %-15s ", (int)wg, group, (int)wc, m_cid(m), (int)wh, m_host(m), (int)wcl,
                   m_client(m), np);
        if (verbose)
            printf("%-15s %-*s %-15s %-*s", CG_MISSING, (int)wca, as[i], CG_MISSING, (int)wta, CG_MISSING);
        printf("\n");
    }
    for (size_t i = 0; i < nm; i++)
        free(as[i]);
    free(as);
}

/* ---- --describe --state ---- */

static void describe_state(cg_t *c, const rd_kafka_ConsumerGroupDescription_t *d, bool verbose)
{
    const char *group = rd_kafka_ConsumerGroupDescription_group_id(d);
    rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(d);
    if (!print_state_banner(c, group, st, 1))
        return;
    group = cli_esc(group, GR_JSTR_WIRE);
    const rd_kafka_Node_t *n = rd_kafka_ConsumerGroupDescription_coordinator(d);
    char coord[300];
    if (n)
        snprintf(coord, sizeof(coord), "%s:%u  (%d)", rd_kafka_Node_host(n), (unsigned)rd_kafka_Node_port(n),
                 rd_kafka_Node_id(n));
    else
        snprintf(coord, sizeof(coord), CG_MISSING);
    const char *as = cli_esc(rd_kafka_ConsumerGroupDescription_partition_assignor(d), GR_JSTR_WIRE);
    if (!as || !*as)
        as = CG_MISSING;
    int wc = (int)cg_maxz(25, strlen(coord)), wg = (int)cg_maxz(15, strlen(group));
    char nm[16];
    snprintf(nm, sizeof(nm), "%zu", rd_kafka_ConsumerGroupDescription_member_count(d));
    const char *sn = rd_kafka_consumer_group_state_name(st);
    if (verbose) {
        printf("\n%-*s %-*s %-20s %-20s %-15s %-25s %s", wg, "GROUP", wc, "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY",
               "STATE", "GROUP-EPOCH", "TARGET-ASSIGNMENT-EPOCH", "#MEMBERS");
        printf("\n%-*s %-*s %-20s %-20s %-15s %-25s %s", wg, group, wc, coord, as, sn, CG_MISSING, CG_MISSING, nm);
    } else {
        printf("\n%-*s %-*s %-20s %-20s %s", wg, "GROUP", wc, "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE",
               "#MEMBERS");
        printf("\n%-*s %-*s %-20s %-20s %s", wg, group, wc, coord, as, sn, nm);
    }
    printf("\n");
}

static int cmp_desc(const void *a, const void *b)
{
    return strcmp(rd_kafka_ConsumerGroupDescription_group_id(*(const rd_kafka_ConsumerGroupDescription_t *const *)a),
                  rd_kafka_ConsumerGroupDescription_group_id(*(const rd_kafka_ConsumerGroupDescription_t *const *)b));
}

void cg_do_describe(cg_t *c)
{
    cg_glist_t all;
    const char **groups = NULL;
    int n = cg_target_groups(c, &groups, &all);
    if (n < 0)
        goto out;
    if (n == 0)
        goto out;
    /* consumer groups (KIP-848) first, in Kafka 4's layout; the others
     * through DescribeGroups */
    {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (!cg_modern_describe(c, groups[i]))
                groups[k++] = groups[i];
        n = k;
        if (n == 0)
            goto out;
    }
    const rd_kafka_ConsumerGroupDescription_t **ds;
    size_t nd;
    rd_kafka_event_t *ev = cg_describe(c, groups, (size_t)n, &ds, &nd);
    if (!ev)
        goto out;
    /* Kafka prints groups in name order (TreeMap) */
    const rd_kafka_ConsumerGroupDescription_t **sorted = gr_calloc(nd + 1, sizeof(*sorted));
    memcpy(sorted, ds, nd * sizeof(*sorted));
    qsort(sorted, nd, sizeof(*sorted), cmp_desc);
    bool verbose = cli_has(&c->o, "verbose");
    for (size_t i = 0; i < nd; i++) {
        const rd_kafka_error_t *e = rd_kafka_ConsumerGroupDescription_error(sorted[i]);
        if (e) {
            cg_note_err(c, rd_kafka_error_code(e));
            if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND)
                cg_fail(c, "Consumer group '%s' does not exist.",
                        rd_kafka_ConsumerGroupDescription_group_id(sorted[i]));
            else
                cg_fail(c, "Executing consumer group command failed due to %s", rd_kafka_error_string(e));
            continue;
        }
        if (cli_has(&c->o, "members"))
            describe_members(c, sorted[i], verbose);
        else if (cli_has(&c->o, "state"))
            describe_state(c, sorted[i], verbose);
        else
            describe_offsets(c, sorted[i], verbose);
        fflush(stdout);
    }
    free(sorted);
    rd_kafka_event_destroy(ev);
out:
    free(groups);
    cg_glist_free(&all);
}
