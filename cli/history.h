/*
 * history.h - `gregor consumer-groups --history` (history.c).
 */
#ifndef GR_CLI_HISTORY_H
#define GR_CLI_HISTORY_H

#include "cli.h"

/* Print the timeline of `group` read from __consumer_offsets; exit status. */
int cli_group_history(const cli_opts_t *o, const char *group);

/* --reset-offsets --undo: the last reset of `group` read from
 * __consumer_offsets (the last run of commits with one commit timestamp
 * made while the group had no members, in which an offset changed): the
 * partitions with the offsets they had before it (-1: none), and its time.
 * *before is NULL when no reset is found.  Returns 0, or 1 after an error
 * line. */
int cli_group_last_reset(const cli_opts_t *o, const char *group, rd_kafka_topic_partition_list_t **before,
                         int64_t *when);

/* The --history part of `gregor consumer-groups --help`. */
void cli_history_help(FILE *out);

#endif
