/*
 * history.h - `gregor consumer-groups --history` (history.c) and the client
 * factory it shares with consumer_groups.c.
 */
#ifndef GR_CLI_HISTORY_H
#define GR_CLI_HISTORY_H

#include "cli.h"

/* A librdkafka consumer handle from cli_conf() + extra (NULL-terminated
 * key/value pairs) whose log lines are dropped unless `debug` is set, so a
 * failure ends as one "Error:" line.  NULL after printing an error. */
rd_kafka_t *cli_groups_client(const cli_opts_t *o, const char *const *extra);

/* Print the timeline of `group` read from __consumer_offsets; exit status. */
int cli_group_history(const cli_opts_t *o, const char *group);

/* The --history part of `gregor consumer-groups --help`. */
void cli_history_help(FILE *out);

#endif
