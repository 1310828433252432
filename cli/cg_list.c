/*
 * cg_list.c - `gregor consumer-groups --list`: every consumer group, one
 * per line, or with --state a GROUP/STATE table, optionally only the
 * states given (--state stable,empty); with --type (Kafka 4) a GROUP TYPE
 * [STATE] table of classic and consumer groups over ListGroups v5
 * (cg_modern.c), optionally only the types given (--type consumer).
 */
#include "cg.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int parse_states(const char *v, bool want[RD_KAFKA_CONSUMER_GROUP_STATE__CNT])
{
    char *dup = gr_strdup(v), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok))
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && isspace((unsigned char)e[-1]))
            *--e = '\0';
        int found = -1;
        for (int s = 1; s < RD_KAFKA_CONSUMER_GROUP_STATE__CNT; s++)
            if (!strcasecmp(tok, rd_kafka_consumer_group_state_name((rd_kafka_consumer_group_state_t)s)))
                found = s;
        if (found < 0) {
            cg_usage_err("Invalid state list '%s'. Valid states are: PreparingRebalance, CompletingRebalance, Stable, "
                         "Dead, Empty", v);
            rc = -1;
            break;
        }
        want[found] = true;
    }
    free(dup);
    return rc;
}

/* Kafka's client GroupType names */
static const char *type_name(const char *t)
{
    if (!t)
        return "Unknown";
    if (!strcasecmp(t, "consumer"))
        return "Consumer";
    if (!strcasecmp(t, "classic"))
        return "Classic";
    if (!strcasecmp(t, "share"))
        return "Share";
    return "Unknown";
}

/* a comma-separated list value contains tok (case-insensitive, trimmed) */
static bool in_list(const char *list, const char *tok)
{
    char *dup = gr_strdup(list), *save = NULL;
    bool found = false;
    for (char *t = strtok_r(dup, ",", &save); t && !found; t = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*t))
            t++;
        char *e = t + strlen(t);
        while (e > t && isspace((unsigned char)e[-1]))
            *--e = '\0';
        found = !strcasecmp(t, tok);
    }
    free(dup);
    return found;
}

/* --list with --type and/or --state over ListGroups v5: Kafka 4's
 * printGroupInfo (GROUP [TYPE] [STATE]); false if the broker does not
 * answer it. */
static bool list_typed(cg_t *c)
{
    bool with_type = cli_has(&c->o, "type"), with_state = cli_has(&c->o, "state");
    const char *tv = cli_get(&c->o, "type"), *sv = cli_get(&c->o, "state");
    if (tv && *tv) {
        char *dup = gr_strdup(tv), *save = NULL;
        for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            while (isspace((unsigned char)*t))
                t++;
            if (strcasecmp(t, "consumer") && strcasecmp(t, "classic")) {
                cg_usage_err("Invalid types list '%s'. Valid types are: consumer, classic", tv);
                c->rc = 1;
                free(dup);
                return true;
            }
        }
        free(dup);
    }
    cg_mlist_t l;
    if (cg_modern_list(c, &l) < 0)
        return false;
    /* sorted by name */
    for (size_t i = 1; i < l.n; i++)
        for (size_t j = i; j > 0 && strcmp(l.name[j], l.name[j - 1]) < 0; j--) {
            char *x;
            x = l.name[j], l.name[j] = l.name[j - 1], l.name[j - 1] = x;
            x = l.type[j], l.type[j] = l.type[j - 1], l.type[j - 1] = x;
            x = l.state[j], l.state[j] = l.state[j - 1], l.state[j - 1] = x;
        }
    bool *keep = gr_calloc(l.n + 1, sizeof(bool));
    size_t w = 15;
    for (size_t i = 0; i < l.n; i++) {
        keep[i] = (!tv || !*tv || in_list(tv, l.type[i] ? l.type[i] : "")) &&
                  (!sv || !*sv || in_list(sv, l.state[i] ? l.state[i] : ""));
        if (keep[i])
            w = cg_maxz(w, strlen(cli_esc(l.name[i], GR_JSTR_HELD)));
    }
    w += 10;
    if (!with_type && !with_state) {
        for (size_t i = 0; i < l.n; i++)
            printf("%s\n", cli_esc(l.name[i], GR_JSTR_HELD));
    } else {
        printf("%-*s", (int)w, "GROUP");
        if (with_type)
            printf(" %-20s", "TYPE");
        if (with_state)
            printf(" %-20s", "STATE");
        printf("\n");
        for (size_t i = 0; i < l.n; i++) {
            if (!keep[i])
                continue;
            printf("%-*s", (int)w, cli_esc(l.name[i], GR_JSTR_HELD));
            if (with_type)
                printf(" %-20s", type_name(l.type[i]));
            if (with_state)
                printf(" %-20s", l.state[i] ? cli_esc(l.state[i], GR_JSTR_HELD) : "Unknown");
            printf("\n");
        }
    }
    free(keep);
    cg_mlist_free(&l);
    return true;
}

void cg_do_list(cg_t *c)
{
    if (cli_has(&c->o, "type") && list_typed(c))
        return;
    bool want[RD_KAFKA_CONSUMER_GROUP_STATE__CNT] = {false};
    bool with_state = cli_has(&c->o, "state");
    const char *sv = cli_get(&c->o, "state");
    bool filter = sv && *sv;
    if (filter && parse_states(sv, want) < 0) {
        c->rc = 1;
        return;
    }
    cg_glist_t g;
    if (cg_list_groups(c, &g) < 0)
        return;
    if (!with_state) {
        for (size_t i = 0; i < g.n; i++)
            printf("%s\n", cli_esc(g.name[i], GR_JSTR_WIRE));
    } else {
        size_t w = 15;
        for (size_t i = 0; i < g.n; i++)
            if (!filter || want[g.state[i]])
                w = cg_maxz(w, strlen(cli_esc(g.name[i], GR_JSTR_WIRE)));
        w += 10;
        printf("%-*s %-20s\n", (int)w, "GROUP", "STATE");
        for (size_t i = 0; i < g.n; i++)
            if (!filter || want[g.state[i]])
                printf("%-*s %-20s\n", (int)w, cli_esc(g.name[i], GR_JSTR_WIRE),
                       rd_kafka_consumer_group_state_name(g.state[i]));
    }
    cg_glist_free(&g);
}
