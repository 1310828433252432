/*
 * topics.c - placeholder until the subcommand lands.
 */
#include "cli.h"

int cli_topics_main(int argc, char **argv)
{
    (void)argc;
    cli_err("'%s' is not available in this build", argv[0]);
    return 1;
}
