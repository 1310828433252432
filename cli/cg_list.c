/*
 * cg_list.c - `gregor consumer-groups --list`: every consumer group, one
 * per line, or with --state a GROUP/STATE table, optionally only the
 * states given (--state stable,empty).
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

void cg_do_list(cg_t *c)
{
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
