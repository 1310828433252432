/*
 * consumer_groups.c - `gregor consumer-groups`, the kafka-consumer-groups.sh
 * of gregor: its options, their checks (Kafka's checkArgs, in its order and
 * with its messages), the usage text, and the dispatch to one action.
 *
 * The command is split along its seams, one file per part, sharing cg.h:
 *   consumer_groups.c  options, checks, help, main (this file)
 *   cg_admin.c         the client: Admin API calls, metadata, watermarks,
 *                      Kafka's error classes and messages
 *   cg_list.c          --list
 *   cg_describe.c      --describe (--offsets, --members, --state)
 *   cg_modern.c        consumer groups of KIP-848: --list --type, --describe in Kafka 4's layout
 *   cg_delete.c        --delete, --delete-offsets
 *   cg_reset.c         --reset-offsets: the new offsets of each scenario,
 *                      applying them, the result table or --export
 *   cg_csv.c           reset plans: --from-file CSV in, --export CSV out
 *   history.c          --history (its own client, reads __consumer_offsets)
 *
 * A librdkafka client: one consumer handle (no group.id, never subscribes)
 * carries the Admin API calls (ListConsumerGroups, DescribeConsumerGroups,
 * ListConsumerGroupOffsets, AlterConsumerGroupOffsets, DeleteGroups,
 * DeleteConsumerGroupOffsets), metadata, watermark and offsets-for-times
 * queries.  Only what librdkafka 2.0.2 lacks goes over the CLI's raw
 * protocol client (kwire.c): ListGroups v5 and ConsumerGroupDescribe
 * (cg_modern.c) and the reads of --history.
 *
 * Output follows Apache Kafka's ConsumerGroupCommand byte for byte where a
 * script could parse it: the same headers, the same printf-style column
 * widths (fixed minimums that grow to the longest value), "-" for a missing
 * value, a blank line before each table, the state banners on stderr.
 * Differences, on purpose:
 *   - errors ("Error: ...") go to stderr and make the exit status 1
 *     (Kafka prints some of them on stdout and exits 0);
 *   - option errors print one "Error: <Kafka's message>" line, not the usage;
 *   - LEADER-EPOCH (--verbose) is always "-": librdkafka 2.0.2 does not
 *     expose the committed leader epoch;
 *   - offset clamping warnings are "WARN: <Kafka's message>" on stderr
 *     (Kafka logs them through log4j).
 */
#include "cg.h"
#include "history.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_optdef_t defs[] = {
    {"bootstrap-server", true, false, "REQUIRED: The server(s) to connect to."},
    {"command-config", true, false, "Property file containing configs to be passed to Admin Client and Consumer."},
    {"timeout", true, false, "Timeout (ms) of each request (default 5000)."},
    {"list", false, false, "List all consumer groups."},
    {"describe", false, false, "Describe consumer group and list offset lag related to given group."},
    {"delete", false, false, "Pass in groups to delete topic partition offsets and ownership information over the "
                             "entire consumer group. For instance --group g1 --group g2"},
    {"reset-offsets", false, false, "Reset offsets of consumer group (dry run unless --execute)."},
    {"delete-offsets", false, false, "Delete offsets of consumer group. Supports one consumer group at the time, "
                                     "and multiple topics."},
    {"history", false, false, "Print the timeline of one group from __consumer_offsets (see below)."},
    {"group", true, false, "The consumer group we wish to act on (repeatable)."},
    {"all-groups", false, false, "Apply to all consumer groups."},
    {"topic", true, false, "Topic (repeatable); for reset-offsets also topic:0,1,2."},
    {"all-topics", false, false, "Consider all topics assigned to a group in the `reset-offsets` process."},
    {"offsets", false, false, "Describe: partitions with offsets and lag (default)."},
    {"members", false, false, "Describe: members of the group."},
    {"state", true, true, "Describe: state of the group. List: show states, or only those given (stable,empty)."},
    {"type", true, true, "List: show group types (classic, consumer), or only those given (consumer)."},
    {"verbose", false, false, "Provide additional information, if any, when describing the group."},
    {"isolation-level", true, false, "Describe: read_uncommitted (default, as Kafka's tool: LOG-END-OFFSET and LAG "
                                     "against the high watermark) or read_committed (against the last stable "
                                     "offset: the lag of a consumer that reads committed; see below)."},
    {"dry-run", false, false, "Only show results without executing changes (default)."},
    {"execute", false, false, "Execute operation. Supported operations: reset-offsets."},
    {"export", false, false, "Export operation execution to a CSV format. Supported operations: reset-offsets."},
    {"to-earliest", false, false, "Reset offsets to earliest offset."},
    {"to-latest", false, false, "Reset offsets to latest offset."},
    {"to-current", false, false, "Reset offsets to current offset."},
    {"to-offset", true, false, "Reset offsets to a specific offset."},
    {"shift-by", true, false, "Reset offsets shifting current offset by 'n', where 'n' can be positive or negative."},
    {"to-datetime", true, false, "Reset offsets to offset from datetime. Format: 'YYYY-MM-DDTHH:mm:SS.sss' "
                                 "(optional zone Z, +hh, +hhmm, +hh:mm; UTC if none)"},
    {"by-duration", true, false, "Reset offsets to offset by duration from current timestamp. Format: 'PnDTnHnMnS'"},
    {"from-file", true, false, "Reset offsets to values defined in CSV file."},
    {"undo", false, false, "Reset offsets to those the group had before its last reset (read from "
                           "__consumer_offsets)."},
    {"status", false, false, "Describe: the lag evaluation of the group by Burrow's rules, from gregord's HTTP "
                             "listener."},
    {"http-server", true, false, "gregord's HTTP listener for --status (default: http://<first bootstrap host>:8085)."},
    {"help", false, false, "Print usage information."},
    {NULL, false, false, NULL},
};

static const char *const reset_modes[] = {"to-datetime", "by-duration", "to-earliest", "to-latest", "shift-by",
                                          "from-file",   "to-current",  "to-offset",   "undo",      NULL};

/* ----------------------------------------------------------- option values */

/* "topic:0,1,2" -> partitions added to out */
int cg_parse_topic_arg(const char *arg, rd_kafka_topic_partition_list_t *out)
{
    const char *colon = strchr(arg, ':');
    if (!colon || strchr(colon + 1, ':') || colon == arg || !colon[1]) {
        cg_usage_err("Invalid topic arg '%s', expected topic name and partitions", arg);
        return -1;
    }
    char topic[256];
    snprintf(topic, sizeof(topic), "%.*s", (int)(colon - arg), arg);
    const char *p = colon + 1, *bad;
    size_t badlen;
    int32_t *ids = gr_calloc(strlen(p) / 2 + 1, sizeof(*ids));
    int n, rc;
    if ((rc = cli_partition_list(p, true, ids, &n, &bad, &badlen)) < 0)
        cg_usage_err("Invalid partition '%.*s' specified in topic arg '%s''", (int)(badlen < 31 ? badlen : 31), bad,
                     arg);
    for (int i = 0; rc == 0 && i < n; i++)
        rd_kafka_topic_partition_list_add(out, topic, ids[i]);
    free(ids);
    return rc;
}

bool cg_parse_long(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno)
        return false;
    *v = x;
    return true;
}

/* ------------------------------------------------------------------ options */

static const char *const actions[] = {"list", "describe", "delete", "reset-offsets", "delete-offsets", "history",
                                      NULL};

/* Kafka's checkArgs for options that only some actions take: the first of
 * `opts` given without any of `actions` is an error, `fmt` naming it. */
static int only_with(const cli_opts_t *o, const char *const *opts, const char *const *actions, const char *fmt)
{
    for (; *opts; opts++) {
        if (!cli_has(o, *opts))
            continue;
        bool ok = false;
        for (const char *const *a = actions; *a && !ok; a++)
            ok = cli_has(o, *a);
        if (!ok)
            return cg_usage_err(fmt, *opts);
    }
    return 0;
}

/* The actions that work on a set of groups need --group or --all-groups. */
static int needs_groups(const cli_opts_t *o, const char *action)
{
    if (cli_has(o, "group") || cli_has(o, "all-groups"))
        return 0;
    return cg_usage_err("Option [%s] takes one of these options: [all-groups], [group]", action);
}

#define UNAVAILABLE "Option(s) [%s] are unavailable given other options on the command line"

/* Kafka's checkArgs, in its order and with its messages. */
static int check_args(const cli_opts_t *o)
{
    if (!cli_get(o, "bootstrap-server"))
        return cg_usage_err("Missing required argument \"[bootstrap-server]\"");
    if (cli_count_given(o, actions) != 1)
        return cg_usage_err("Command must include exactly one action: --list, --describe, --delete, --reset-offsets, "
                            "--delete-offsets, --history");
    static const char *const describe_only[] = {"members", "verbose", "offsets", "status", "http-server", "isolation-level", NULL};
    static const char *const describe[] = {"describe", NULL};
    static const char *const state[] = {"state", NULL};
    static const char *const type[] = {"type", NULL};
    static const char *const describe_or_list[] = {"describe", "list", NULL};
    static const char *const list[] = {"list", NULL};
    if (only_with(o, describe_only, describe, UNAVAILABLE) < 0 ||
        only_with(o, state, describe_or_list, UNAVAILABLE) < 0 || only_with(o, type, list, UNAVAILABLE) < 0)
        return -1;
    const char *il = cli_get(o, "isolation-level");
    if (il && strcmp(il, "read_committed") && strcmp(il, "read_uncommitted"))
        return cg_usage_err("Option [isolation-level] takes read_committed or read_uncommitted, not '%s'",
                            cli_esc(il, GR_JSTR_WIRE));
    const char *t = cli_get(o, "timeout");
    int64_t tv;
    if (t && (!cg_parse_long(t, &tv) || tv <= 0 || tv > INT32_MAX))
        return cg_usage_err("Cannot parse argument '%s' of option timeout", t);

    bool group = cli_has(o, "group"), allg = cli_has(o, "all-groups");
    if (cli_has(o, "describe")) {
        if (needs_groups(o, "describe") < 0)
            return -1;
        static const char *const views[] = {"members", "offsets", "state", "status", NULL};
        if (cli_count_given(o, views) > 1)
            return cg_usage_err("Option [describe] takes at most one of these options: [members], [offsets], [state], "
                                "[status]");
        if (cli_has(o, "state") && cli_get(o, "state"))
            return cg_usage_err("Option [describe] does not take a value for [state]");
    }
    if (cli_has(o, "delete")) {
        if (needs_groups(o, "delete") < 0)
            return -1;
        if (cli_has(o, "topic"))
            return cg_usage_err("The consumer does not support topic-specific offset deletion from a consumer group.");
    }
    if (cli_has(o, "delete-offsets") && (!group || !cli_has(o, "topic")))
        return cg_usage_err("Option [delete-offsets] takes the following options: [group], [topic]");
    if (cli_has(o, "reset-offsets")) {
        if (cli_has(o, "dry-run") && cli_has(o, "execute"))
            return cg_usage_err("Option [reset-offsets] only accepts one of [execute] and [dry-run]");
        if (!cli_has(o, "dry-run") && !cli_has(o, "execute"))
            fprintf(stderr, "WARN: No action will be performed as the --execute option is missing."
                            "In a future major release, the default behavior of this command will be to prompt the "
                            "user before executing the reset rather than doing a dry run. You should add the "
                            "--dry-run option explicitly if you are scripting this command and want to keep the "
                            "current default behavior without prompting.\n");
        if (needs_groups(o, "reset-offsets") < 0)
            return -1;
        for (int i = 0; reset_modes[i]; i++)
            if (cli_invalid_with(o, reset_modes[i], reset_modes) < 0)
                return -1;
        if (!cli_count_given(o, reset_modes))
            return cg_usage_err("Option '[reset-offsets]' requires one of the following scenarios: [to-datetime], "
                                "[by-duration], [to-earliest], [to-latest], [shift-by], [from-file], [to-current], "
                                "[to-offset], [undo]");
        static const char *const scopes[] = {"from-file", "all-topics", "topic", "undo", NULL};
        if (!cli_count_given(o, scopes))
            return cg_usage_err("One of the reset scopes should be defined: --all-topics, --topic.");
    }
    if (cli_has(o, "history")) {
        const char **g;
        int ng = cli_get_all(o, "group", &g);
        free(g);
        if (ng != 1 || allg)
            return cg_usage_err("Option [history] takes exactly one [group]");
    }
    static const char *const all_groups[] = {"all-groups", NULL};
    static const char *const group_levels[] = {"list", NULL};
    static const char *const topic_levels[] = {"list", "describe", NULL};
    if (cli_invalid_with(o, "group", all_groups) < 0 || cli_invalid_with(o, "group", group_levels) < 0 ||
        cli_invalid_with(o, "topic", topic_levels) < 0)
        return -1;
    static const char *const reset_only[] = {"dry-run", "execute", "export", "all-topics", "to-earliest",
                                             "to-latest", "to-current", "to-offset", "shift-by", "to-datetime",
                                             "by-duration", "from-file", "undo", NULL};
    static const char *const reset[] = {"reset-offsets", NULL};
    return only_with(o, reset_only, reset, "Option [%s] is only supported with [reset-offsets]");
}

static void help(void)
{
    cli_usage(stdout, "consumer-groups",
              "This tool helps to list all consumer groups, describe a consumer group, delete consumer group info, "
              "or reset consumer group offsets.\n"
              "Actions (exactly one): --list, --describe, --delete, --reset-offsets, --delete-offsets, --history.",
              defs);
    fputs("\n"
          "Examples:\n"
          "  gregor consumer-groups --bootstrap-server H:P --list [--state stable,empty] [--type consumer,classic]\n"
          "  gregor consumer-groups --bootstrap-server H:P --describe --group g [--members|--state] [--verbose]\n"
          "  gregor consumer-groups --bootstrap-server H:P --reset-offsets --group g --topic t:0,1 --to-earliest "
          "--execute\n"
          "  gregor consumer-groups --bootstrap-server H:P --reset-offsets --group g --all-topics --shift-by -10 "
          "--export > plan.csv\n"
          "  gregor consumer-groups --bootstrap-server H:P --delete --group g1 --group g2\n"
          "  gregor consumer-groups --bootstrap-server H:P --delete-offsets --group g --topic t\n"
          "  gregor consumer-groups --bootstrap-server H:P --history --group g\n"
          "  gregor consumer-groups --bootstrap-server H:P --describe --group g --status [--http-server URL]\n"
          "  gregor consumer-groups --bootstrap-server H:P --reset-offsets --group g --undo --execute\n",
          stdout);
    fputs("\n--isolation-level read_committed: a group's consumers choose their isolation level in each\n"
          "Fetch request, which the group protocol does not carry, so no broker (Kafka's included) knows it;\n"
          "the tool cannot detect it and asks.  A transactional consume-transform-produce application reads\n"
          "committed: its lag is up to the last stable offset, the end of what it can read (records after an\n"
          "open transaction's first record are not readable yet).  The default is Kafka's: the high watermark.\n",
          stdout);
    cli_history_help(stdout);
}

int cli_consumer_groups_main(int argc, char **argv)
{
    cg_t c = {.rc = 0};
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help();
            return 0;
        }
    if (cli_parse(argc, argv, defs, &c.o) < 0)
        return 1;
    if (check_args(&c.o) < 0) {
        cli_opts_free(&c.o);
        return 1;
    }
    c.timeout = cli_timeout_ms(&c.o);
    if (cli_has(&c.o, "history")) {
        int rc = cli_group_history(&c.o, cli_get(&c.o, "group"));
        cli_opts_free(&c.o);
        return rc;
    }
    if (cli_has(&c.o, "status")) {
        int rc = cg_status(&c.o);
        cli_opts_free(&c.o);
        return rc;
    }
    /* librdkafka's ListOffsets (the watermark query of cg_log_offset) carries the
     * handle's isolation.level, whose librdkafka default is read_committed:
     * Kafka's Admin client asks read_uncommitted (the high watermark), for
     * --describe and for reset-offsets --to-latest alike */
    const char *il = cli_get(&c.o, "isolation-level");
    const char *const isol[] = {"isolation.level", il ? il : "read_uncommitted", NULL};
    c.rk = cli_client(&c.o, RD_KAFKA_CONSUMER, isol);
    if (!c.rk) {
        cli_opts_free(&c.o);
        return 1;
    }
    c.q = rd_kafka_queue_new(c.rk);
    if (cg_probe_group_apis(&c) < 0)
        c.no_destroy = true;      /* nothing to clean up but a client that may hang */
    else if (cli_has(&c.o, "list"))
        cg_do_list(&c);
    else if (cli_has(&c.o, "describe"))
        cg_do_describe(&c);
    else if (cli_has(&c.o, "reset-offsets"))
        cg_do_reset(&c);
    else if (cli_has(&c.o, "delete"))
        cg_do_delete(&c);
    else if (cli_has(&c.o, "delete-offsets"))
        cg_do_delete_offsets(&c);
    fflush(stdout);
    fflush(stderr);
    if (c.no_destroy)
        _exit(c.rc);
    cg_modern_close(&c);
    if (c.md)
        rd_kafka_metadata_destroy(c.md);
    rd_kafka_queue_destroy(c.q);
    rd_kafka_destroy(c.rk);
    cli_opts_free(&c.o);
    return c.rc;
}
