/*
 * cg.h - what the parts of `gregor consumer-groups` share (the files are
 * listed in consumer_groups.c): the command's state, the client calls of
 * cg_admin.c, the option parsers of consumer_groups.c, the reset plans of
 * cg_csv.c and the action entry points.  Private to those files.
 *
 * Errors: a function that fails prints one "Error: ..." line (cg_fail: and
 * sets the exit status) and returns NULL or -1; the caller just stops.
 */
#ifndef GR_CG_H
#define GR_CG_H

#include "cli.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CG_MISSING "-"              /* Kafka's MISSING_COLUMN_VALUE */

struct kw;

/* One run of the command.  Owner: cli_consumer_groups_main (its stack). */
typedef struct cg {
    cli_opts_t o;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    int timeout;
    const struct rd_kafka_metadata *md;   /* all topics; fetched on first use */
    int rc;                               /* exit status */
    bool no_destroy;                      /* see cg_note_err() */
    struct kw *kw;                        /* cg_modern.c's raw client, opened on first use */
} cg_t;

/* ---- errors (cg_admin.c) ---- */

/* Kafka's message for err ("The group id does not exist.") */
const char *cg_kmsg(rd_kafka_resp_err_t err);
/* "org.apache.kafka.common.errors.X: message", as Java's Throwable.toString() */
void cg_kexc(char *buf, size_t n, rd_kafka_resp_err_t err);
/* Note an error code a request ended with (see cg_t.no_destroy). */
void cg_note_err(cg_t *c, rd_kafka_resp_err_t err);
/* Print "Error: <fmt>" and make the exit status 1. */
void cg_fail(cg_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An option error: Kafka's printUsageAndExit message as one line; -1. */
int cg_usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the client (cg_admin.c) ---- */

/* Admin options with the request timeout (--timeout). */
rd_kafka_AdminOptions_t *cg_aopts(cg_t *c, rd_kafka_admin_op_t op);
/* Wait for the result of the admin call just issued; NULL after an error line. */
rd_kafka_event_t *cg_await(cg_t *c, const char *call);
/* Metadata of all topics, fetched once (c->md); NULL after an error line. */
const struct rd_kafka_metadata *cg_metadata(cg_t *c);
/* A topic of that metadata, NULL when unknown (or after an error line: c->md NULL). */
const struct rd_kafka_metadata_topic *cg_md_topic(cg_t *c, const char *topic);
/* Latest (end) or earliest offset of a partition, -1 if unknown. */
int64_t cg_log_offset(cg_t *c, const char *topic, int32_t part, bool end);
/* Ask the legacy group API first (see cg_admin.c); -1 after an error line. */
int cg_probe_group_apis(cg_t *c);

/* Consumer groups with their states, sorted by name.  Owns its strings. */
typedef struct cg_glist {
    char **name;
    rd_kafka_consumer_group_state_t *state;
    size_t n;
} cg_glist_t;
void cg_glist_free(cg_glist_t *g);
/* All consumer groups (ListConsumerGroups); -1 after an error line. */
int cg_list_groups(cg_t *c, cg_glist_t *out);
/* The groups named by --group, or all of them with --all-groups: their
 * count, -1 after an error line.  *vals is malloc'ed; with --all-groups
 * its strings live in *all (free both). */
int cg_target_groups(cg_t *c, const char ***vals, cg_glist_t *all);
/* DescribeConsumerGroups; the event owns the descriptions (destroy it). */
rd_kafka_event_t *cg_describe(cg_t *c, const char **groups, size_t n,
                              const rd_kafka_ConsumerGroupDescription_t ***descs, size_t *cnt);
/* Committed offsets of a group (sorted), NULL after an error line. */
rd_kafka_topic_partition_list_t *cg_committed(cg_t *c, const char *group);
/* The offset for t-p in l, -1 when there is none. */
int64_t cg_committed_of(const rd_kafka_topic_partition_list_t *l, const char *t, int32_t p);

/* ---- option values (consumer_groups.c) ---- */

/* A decimal int64 and nothing else (strtoll syntax). */
bool cg_parse_long(const char *s, int64_t *v);
/* "topic:0,1,2" -> partitions added to out; -1 after an option error line. */
int cg_parse_topic_arg(const char *arg, rd_kafka_topic_partition_list_t *out);

/* ---- reset plans (cg_csv.c) ---- */

/* A --from-file plan: per group, partitions with offsets. */
typedef struct cg_plan {
    char **group;
    rd_kafka_topic_partition_list_t **parts;
    size_t n;
} cg_plan_t;
/* The partitions planned for group (NULL if none; created when create). */
rd_kafka_topic_partition_list_t *cg_plan_for(cg_plan_t *pl, const char *group, bool create);
void cg_plan_free(cg_plan_t *pl);
/* Read a --from-file plan (ngroups: how many --group were given, single:
 * the first); -1 after an error line. */
int cg_load_plan(cg_t *c, const char *path, int ngroups, const char *single, cg_plan_t *pl);
/* One CSV field, quoted when it needs to be (RFC 4180). */
void cg_csv_field(FILE *out, const char *s);

/* ---- consumer groups of KIP-848 (cg_modern.c: ListGroups v5 and
 * ConsumerGroupDescribe over kwire.c, which Debian's librdkafka lacks) ---- */
typedef struct cg_mlist {
    char **name, **type, **state;   /* malloc'ed, held form (jstr.h); name never NULL */
    size_t n;
} cg_mlist_t;
/* Every group with its type and state (ListGroups v5); -1 when the broker
 * does not answer it (then nothing is printed). */
int cg_modern_list(cg_t *c, cg_mlist_t *out);
void cg_mlist_free(cg_mlist_t *l);
/* Describe group in Kafka 4's layout if it is a consumer group (true);
 * false: not one (or not answered), describe it the classic way. */
bool cg_modern_describe(cg_t *c, const char *group);
/* Close c->kw (if open). */
void cg_modern_close(cg_t *c);

/* ---- the --offsets table (cg_describe.c) ---- */

/* One row; every string printable (escaped), "-" where missing. */
typedef struct cg_orow {
    const char *topic;
    int32_t part;
    int64_t off, leo;               /* committed, log end; -1: unknown */
    const char *cid, *host, *client;
} cg_orow_t;
/* Kafka's offsets table of a group (printable) after its blank line. */
void cg_print_offsets(const char *group, const cg_orow_t *rows, size_t nr, bool verbose);

/* ---- the actions ---- */
void cg_do_list(cg_t *c);            /* cg_list.c */
void cg_do_describe(cg_t *c);        /* cg_describe.c */
void cg_do_delete(cg_t *c);          /* cg_delete.c */
void cg_do_delete_offsets(cg_t *c);  /* cg_delete.c */
void cg_do_reset(cg_t *c);           /* cg_reset.c */
/* --describe --status: the broker's lag evaluation (cg_status.c); exit status. */
int cg_status(const cli_opts_t *o);

static inline size_t cg_maxz(size_t a, size_t b)
{
    return a > b ? a : b;
}

#endif
