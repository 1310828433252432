/*
 * cg_csv.c - reset plans of `gregor consumer-groups --reset-offsets`:
 * the --from-file CSV (Kafka's parseResetPlan: "topic,partition,offset"
 * for one group, "group,topic,partition,offset" otherwise, RFC 4180
 * quoting) read into a plan per group, and the quoting of --export's
 * fields.
 */
#include "cg.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

rd_kafka_topic_partition_list_t *cg_plan_for(cg_plan_t *pl, const char *group, bool create)
{
    for (size_t i = 0; i < pl->n; i++)
        if (!strcmp(pl->group[i], group))
            return pl->parts[i];
    if (!create)
        return NULL;
    pl->group = gr_realloc(pl->group, (pl->n + 1) * sizeof(char *));
    pl->parts = gr_realloc(pl->parts, (pl->n + 1) * sizeof(void *));
    pl->group[pl->n] = gr_strdup(group);
    pl->parts[pl->n] = rd_kafka_topic_partition_list_new(8);
    return pl->parts[pl->n++];
}

void cg_plan_free(cg_plan_t *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        free(pl->group[i]);
        rd_kafka_topic_partition_list_destroy(pl->parts[i]);
    }
    free(pl->group);
    free(pl->parts);
    memset(pl, 0, sizeof(*pl));
}

/* Split one CSV line (RFC 4180 quoting) into at most max fields. */
static int csv_split(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max)
            return -1;
        if (*p == '"') {
            char *w = ++p;
            f[n++] = w;
            for (;;) {
                if (!*p)
                    return -1;
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            }
            *w = '\0';
            if (*p == ',') {
                p++;
                continue;
            }
            return *p ? -1 : n;
        }
        f[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            return n;
        *comma = '\0';
        p = comma + 1;
    }
}

/* Kafka's parseResetPlan: topic,partition,offset when one --group is given
 * and the first line has that shape; group,topic,partition,offset otherwise. */
int cg_load_plan(cg_t *c, const char *path, int ngroups, const char *single, cg_plan_t *pl)
{
    memset(pl, 0, sizeof(*pl));
    FILE *f = fopen(path, "r");
    if (!f) {
        cg_fail(c, "Executing consumer group command failed due to java.nio.file.NoSuchFileException: %s", path);
        return -1;
    }
    char line[4096];
    int lineno = 0, old_fmt = -1, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
            line[--l] = '\0';
        if (!l)
            continue;
        char *fl[5];
        int nf = csv_split(line, fl, 5);
        int64_t part, off;
        if (old_fmt < 0)
            old_fmt = ngroups == 1 && nf == 3 && cg_parse_long(fl[1], &part) && cg_parse_long(fl[2], &off);
        if (old_fmt) {
            if (nf != 3 || !cg_parse_long(fl[1], &part) || !cg_parse_long(fl[2], &off)) {
                cg_fail(c, "invalid line %d in %s (expected topic,partition,offset)", lineno, path);
                rc = -1;
                break;
            }
            rd_kafka_topic_partition_list_add(cg_plan_for(pl, single, true), fl[0], (int32_t)part)->offset = off;
        } else {
            if (nf != 4 || !cg_parse_long(fl[2], &part) || !cg_parse_long(fl[3], &off)) {
                cg_fail(c, "invalid line %d in %s (expected group,topic,partition,offset)", lineno, path);
                rc = -1;
                break;
            }
            rd_kafka_topic_partition_list_add(cg_plan_for(pl, fl[0], true), fl[1], (int32_t)part)->offset = off;
        }
    }
    fclose(f);
    if (rc < 0)
        cg_plan_free(pl);
    return rc;
}

void cg_csv_field(FILE *out, const char *s)
{
    if (strpbrk(s, ",\"\r\n") || (*s && (isspace((unsigned char)*s) || isspace((unsigned char)s[strlen(s) - 1])))) {
        fputc('"', out);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', out);
            fputc(*s, out);
        }
        fputc('"', out);
    } else {
        fputs(s, out);
    }
}
