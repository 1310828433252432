/*
 * history.h - `gregor consumer-groups --history` (history.c).
 */
#ifndef GR_CLI_HISTORY_H
#define GR_CLI_HISTORY_H

#include "cli.h"

/* Print the timeline of `group` read from __consumer_offsets; exit status. */
int cli_group_history(const cli_opts_t *o, const char *group);

/* The --history part of `gregor consumer-groups --help`. */
void cli_history_help(FILE *out);

#endif
