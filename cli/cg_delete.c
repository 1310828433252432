/*
 * cg_delete.c - `gregor consumer-groups --delete` (DeleteGroups: groups
 * and their offsets) and `--delete-offsets` (DeleteConsumerGroupOffsets:
 * one group's offsets of some topics or partitions), with Kafka's result
 * lines and per-partition table.
 */
#include "cg.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void cg_do_delete(cg_t *c)
{
    cg_glist_t all;
    const char **groups = NULL;
    int n = cg_target_groups(c, &groups, &all);
    if (n <= 0)
        goto out;
    rd_kafka_DeleteGroup_t **dg = gr_calloc((size_t)n, sizeof(*dg));
    for (int i = 0; i < n; i++)
        dg[i] = rd_kafka_DeleteGroup_new(groups[i]);
    rd_kafka_AdminOptions_t *ao = cg_aopts(c, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
    rd_kafka_DeleteGroups(c->rk, dg, (size_t)n, ao, c->q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_DeleteGroup_destroy_array(dg, (size_t)n);
    free(dg);
    rd_kafka_event_t *ev = cg_await(c, "deleteConsumerGroups");
    if (!ev)
        goto out;
    size_t nr;
    const rd_kafka_group_result_t **gr = rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &nr);
    size_t nfail = 0;
    for (size_t i = 0; i < nr; i++)
        nfail += rd_kafka_group_result_error(gr[i]) != NULL;
    if (!nfail) {
        printf("Deletion of requested consumer groups (");
        for (size_t i = 0; i < nr; i++)
            printf("%s'%s'", i ? ", " : "", cli_esc(rd_kafka_group_result_name(gr[i]), GR_JSTR_WIRE));
        printf(") was successful.\n");
    } else {
        cg_fail(c, "Deletion of some consumer groups failed:");
        for (size_t i = 0; i < nr; i++) {
            const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
            if (!e)
                continue;
            cg_note_err(c, rd_kafka_error_code(e));
            char ex[512];
            cg_kexc(ex, sizeof(ex), rd_kafka_error_code(e));
            fprintf(stderr, "* Group '%s' could not be deleted due to: %s\n",
                    cli_esc(rd_kafka_group_result_name(gr[i]), GR_JSTR_WIRE), ex);
        }
        if (nfail < nr) {
            printf("\nThese consumer groups were deleted successfully: ");
            for (size_t i = 0, k = 0; i < nr; i++)
                if (!rd_kafka_group_result_error(gr[i]))
                    printf("%s'%s'", k++ ? ", " : "", cli_esc(rd_kafka_group_result_name(gr[i]), GR_JSTR_WIRE));
            printf("\n");
        }
    }
    rd_kafka_event_destroy(ev);
out:
    free(groups);
    cg_glist_free(&all);
}

/* ---- --delete-offsets ---- */

typedef struct dorow {
    char *topic;
    int32_t part;
    char *status;
    char key[300];      /* Kafka sorts on topic + partition as a string */
} dorow_t;

static int cmp_dorow(const void *a, const void *b)
{
    return strcmp(((const dorow_t *)a)->key, ((const dorow_t *)b)->key);
}

void cg_do_delete_offsets(cg_t *c)
{
    const char *group = cli_get(&c->o, "group");
    const char **topics;
    int nt = cli_get_all(&c->o, "topic", &topics);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    size_t cap = 16, nr = 0;
    dorow_t *rows = gr_calloc(cap, sizeof(dorow_t));
    for (int i = 0; i < nt; i++) {
        if (strchr(topics[i], ':')) {
            if (cg_parse_topic_arg(topics[i], parts) < 0) {
                c->rc = 1;
                goto out;
            }
            continue;
        }
        const struct rd_kafka_metadata_topic *mt = cg_md_topic(c, topics[i]);
        if (!c->md)
            goto out;
        if (!mt) {
            if (nr == cap)
                rows = gr_realloc(rows, (cap *= 2) * sizeof(dorow_t));
            char ex[512];
            cg_kexc(ex, sizeof(ex), RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
            rows[nr].topic = gr_strdup(topics[i]);
            rows[nr].part = -1;
            rows[nr].status = gr_malloc(strlen(ex) + 8);
            sprintf(rows[nr].status, "Error: %s", ex);
            nr++;
            continue;
        }
        for (int p = 0; p < mt->partition_cnt; p++)
            rd_kafka_topic_partition_list_add(parts, topics[i], mt->partitions[p].id);
    }
    rd_kafka_resp_err_t top = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (parts->cnt > 0) {
        rd_kafka_DeleteConsumerGroupOffsets_t *req = rd_kafka_DeleteConsumerGroupOffsets_new(group, parts);
        rd_kafka_AdminOptions_t *ao = cg_aopts(c, RD_KAFKA_ADMIN_OP_DELETECONSUMERGROUPOFFSETS);
        rd_kafka_DeleteConsumerGroupOffsets(c->rk, &req, 1, ao, c->q);
        rd_kafka_AdminOptions_destroy(ao);
        rd_kafka_DeleteConsumerGroupOffsets_destroy(req);
        rd_kafka_event_t *ev = cg_await(c, "deleteConsumerGroupOffsets");
        if (!ev)
            goto out;
        size_t ng;
        const rd_kafka_group_result_t **gr = rd_kafka_DeleteConsumerGroupOffsets_result_groups(
            rd_kafka_event_DeleteConsumerGroupOffsets_result(ev), &ng);
        const rd_kafka_topic_partition_list_t *res = ng ? rd_kafka_group_result_partitions(gr[0]) : NULL;
        const rd_kafka_error_t *ge = ng ? rd_kafka_group_result_error(gr[0]) : NULL;
        if (ge)
            cg_note_err(c, top = rd_kafka_error_code(ge));
        for (int i = 0; i < parts->cnt; i++) {
            const rd_kafka_topic_partition_t *r =
                res ? rd_kafka_topic_partition_list_find(res, parts->elems[i].topic, parts->elems[i].partition)
                    : NULL;
            rd_kafka_resp_err_t err = r ? r->err : top;
            if (!top && err)
                top = err;
            if (nr == cap)
                rows = gr_realloc(rows, (cap *= 2) * sizeof(dorow_t));
            rows[nr].topic = gr_strdup(parts->elems[i].topic);
            rows[nr].part = parts->elems[i].partition;
            if (err) {
                char ex[512];
                cg_kexc(ex, sizeof(ex), err);
                rows[nr].status = gr_malloc(strlen(ex) + 8);
                sprintf(rows[nr].status, "Error: %s", ex);
            } else {
                rows[nr].status = gr_strdup("Successful");
            }
            nr++;
        }
        rd_kafka_event_destroy(ev);
    }
    if (!top && nr > (size_t)parts->cnt)
        top = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    switch (top) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        printf("Request succeeded for deleting offsets from group %s.\n", group);
        break;
    case RD_KAFKA_RESP_ERR_INVALID_GROUP_ID:
    case RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_NON_EMPTY_GROUP:
        cg_fail(c, "%s", cg_kmsg(top));
        break;
    case RD_KAFKA_RESP_ERR_GROUP_SUBSCRIBED_TO_TOPIC:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        cg_fail(c, "Encountered some partition-level error, see the follow-up details.");
        break;
    default:
        cg_fail(c, "Encountered some unknown error: %s", rd_kafka_err2name(top));
    }
    size_t wt = 15;
    for (size_t i = 0; i < nr; i++) {
        wt = cg_maxz(wt, strlen(rows[i].topic));
        snprintf(rows[i].key, sizeof(rows[i].key), "%s%" PRId32, rows[i].topic, rows[i].part);
    }
    qsort(rows, nr, sizeof(dorow_t), cmp_dorow);
    fflush(stderr);
    printf("\n%-*s %-10s %-15s", (int)wt, "TOPIC", "PARTITION", "STATUS");
    for (size_t i = 0; i < nr; i++) {
        char p[16];
        if (rows[i].part >= 0)
            snprintf(p, sizeof(p), "%" PRId32, rows[i].part);
        else
            snprintf(p, sizeof(p), CG_MISSING);
        printf("\n%-*s %-10s %-15s", (int)wt, rows[i].topic, p, rows[i].status);
    }
    printf("\n");
out:
    for (size_t i = 0; i < nr; i++) {
        free(rows[i].topic);
        free(rows[i].status);
    }
    free(rows);
    free(topics);
    rd_kafka_topic_partition_list_destroy(parts);
}
