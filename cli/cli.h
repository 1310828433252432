/*
 * cli.h - shared pieces of the `gregor` command-line tool.
 *
 * gregor is a Kafka client built on librdkafka (Admin API, consumer,
 * producer): each subcommand takes the option names of the Kafka script it
 * replaces (kafka-topics.sh -> `gregor topics`, ...), so an existing command
 * line works by swapping the script name for the subcommand, and prints
 * the same output so scripts that parse it keep working.
 *
 * Errors: one clear line on stderr ("Error: ...") and a non-zero exit.
 * Memory: every allocation goes through the project's wrappers (gr_malloc,
 * gr_calloc, gr_realloc, gr_strdup, gr_strndup of src/core/alloc.c), which abort
 * with a message when memory runs out: no result is checked for NULL.
 */
#ifndef GR_CLI_H
#define GR_CLI_H

#include "gr.h"
#include "jstr.h"

#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- options ----
 * Kafka's scripts use GNU-style long options ("--topic t" and "--topic=t").
 * cli_opts_t collects them generically; each subcommand declares the options
 * it accepts (name, takes a value, may repeat) and reads them by name. */
typedef struct cli_optdef {
    const char *name;          /* without the leading "--" */
    bool has_arg;              /* takes a value */
    bool optional_arg;         /* value may be omitted (e.g. --state, --compression-codec) */
    const char *help;
} cli_optdef_t;

typedef struct cli_opt {
    const char *name;
    const char *value;         /* NULL for flags / omitted optional values */
} cli_opt_t;

typedef struct cli_opts {
    cli_opt_t *v;
    int n;
} cli_opts_t;

/* Parse argv[1..] against defs.  Unknown options, missing values:
 * prints "Error: ..." plus usage hint, returns -1. */
int cli_parse(int argc, char **argv, const cli_optdef_t *defs, cli_opts_t *out);
void cli_opts_free(cli_opts_t *o);
bool cli_has(const cli_opts_t *o, const char *name);
const char *cli_get(const cli_opts_t *o, const char *name);          /* last value or NULL */
int cli_count_given(const cli_opts_t *o, const char *const *names);  /* how many of names (NULL-ended) */
/* Kafka's CommandLineUtils.checkInvalidArgs: when `used` is given, the
 * first of `invalid` (NULL-ended) also given is an error line; 0 or -1. */
int cli_invalid_with(const cli_opts_t *o, const char *used, const char *const *invalid);
int cli_get_all(const cli_opts_t *o, const char *name, const char ***vals); /* malloc'ed array */
void cli_usage(FILE *out, const char *cmd, const char *summary, const cli_optdef_t *defs);

/* ---- librdkafka configuration ----
 * bootstrap.servers from --bootstrap-server, then every key=value of
 * --command-config (Java properties file), then extra key/value pairs
 * (NULL-terminated).  Returns NULL after printing an error. */
rd_kafka_conf_t *cli_conf(const cli_opts_t *o, const char *const *extra);
/* Drop librdkafka's log lines (every failed connection attempt) unless
 * `debug` is configured: the command reports the outcome in one line. */
void cli_conf_quiet(rd_kafka_conf_t *conf);
/* Create a client of the given type from cli_conf(), quieted as above;
 * NULL after an error line. */
rd_kafka_t *cli_client(const cli_opts_t *o, rd_kafka_type_t type, const char *const *extra);

/* ---- key=value property sets (--producer-property, --property, files) ---- */
typedef struct cli_kv {
    char **k, **v;
    int n, cap;
} cli_kv_t;

void cli_kv_put(cli_kv_t *kv, const char *k, size_t kl, const char *v);   /* replaces an existing key */
const char *cli_kv_get(const cli_kv_t *kv, const char *k);
void cli_kv_free(cli_kv_t *kv);
/* "k=v" from option --opt (Kafka's parseKeyValueArgs); -1 after an error line. */
int cli_kv_arg(cli_kv_t *kv, const char *a, const char *opt);
/* A Java properties file ("k=v" / "k: v", '#'/'!' comments); -1 after an error line. */
int cli_kv_file(cli_kv_t *kv, const char *path);

/* A string from the broker (or the user) as it may be printed: s itself
 * when it is plain text, else a copy with control characters, bytes that
 * are not UTF-8 and the like escaped (gr_jstr_escape of src/core/jstr.h) so that
 * no group, member or client id can forge output or drive the terminal.
 * flags: GR_JSTR_WIRE for strings as received, GR_JSTR_HELD for strings
 * read with cli_held.  Copies live until exit.  NULL stays NULL. */
const char *cli_esc(const char *s, int flags);

/* Print "Error: <fmt>" to stderr (cli_verr: from a va_list). */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_verr(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Kafka's IncludeList pattern ("a,b.*": blanks and quotes around it
 * trimmed, spaces dropped, ',' = '|') as a POSIX extended regex that must
 * match the whole topic name; malloc'ed. */
char *cli_include_regex(const char *raw);

/* A comma-separated list of partition ids ("0,1,5"), each a decimal int32
 * (strtol syntax), into ids (room for strlen(s) / 2 + 1 entries); *n gets
 * the count.  An empty element is an error, except a single trailing comma
 * when trailing_comma.  Returns 0, or -1 with the offending element in
 * *bad, *badlen (no message printed: the callers word it as Kafka does). */
int cli_partition_list(const char *s, bool trailing_comma, int32_t *ids, int *n, const char **bad, size_t *badlen);

/* One server of --bootstrap-server, "host:port" or "[v6 address]:port",
 * split in place (s is written): *host and *port, 0; -1 when it is not
 * one (no port, or not a port number). */
int cli_host_port(char *s, char **host, int *port);

/* Request timeout (ms) from --timeout, default 5000 like Kafka's tools. */
int cli_timeout_ms(const cli_opts_t *o);

/* Subcommands: argv[0] is the subcommand name. */
int cli_topics_main(int argc, char **argv);
int cli_consumer_groups_main(int argc, char **argv);
int cli_console_producer_main(int argc, char **argv);
int cli_console_consumer_main(int argc, char **argv);
int cli_get_offsets_main(int argc, char **argv);
int cli_transactions_main(int argc, char **argv);

#endif
