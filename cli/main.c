/*
 * main.c - the `gregor` command-line tool: dispatch to subcommands.
 *
 *   gregor topics ...            = kafka-topics.sh
 *   gregor consumer-groups ...   = kafka-consumer-groups.sh (+ --history)
 *   gregor console-producer ...  = kafka-console-producer.sh
 *   gregor console-consumer ...  = kafka-console-consumer.sh
 *   gregor get-offsets ...       = kafka-get-offsets.sh
 *   gregor transactions ...      = kafka-transactions.sh
 */
#include "cli.h"

#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} cmds[] = {
    {"topics", cli_topics_main, "create, delete, describe, alter or list topics (kafka-topics.sh)"},
    {"consumer-groups", cli_consumer_groups_main,
     "list, describe, reset offsets of, delete consumer groups; --history (kafka-consumer-groups.sh)"},
    {"console-producer", cli_console_producer_main, "produce lines from stdin (kafka-console-producer.sh)"},
    {"console-consumer", cli_console_consumer_main, "print records to stdout (kafka-console-consumer.sh)"},
    {"get-offsets", cli_get_offsets_main, "print topic:partition:offset (kafka-get-offsets.sh)"},
    {"transactions", cli_transactions_main,
     "list, describe, describe-producers, abort, find-hanging transactions (kafka-transactions.sh)"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: gregor <command> [options]   (gregor <command> --help for its options)\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        fprintf(out, "  %-18s %s\n", cmds[i].name, cmds[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].fn(argc - 1, argv + 1);
    cli_err("unknown command '%s'", argv[1]);
    usage(stderr);
    return 1;
}
