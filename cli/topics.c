/*
 * topics.c - `gregor topics`, the kafka-topics.sh of gregor.
 *
 * Actions (exactly one): --list, --describe, --create, --alter (partition
 * count only), --delete.  --topic is a regular expression for every action
 * but --create, matched against the whole name like Kafka's IncludeList
 * (',' means '|'; POSIX extended syntax, so Java-only escapes such as \d do
 * not work).  Everything goes through librdkafka: Metadata for the topic
 * list and partition layout, DescribeConfigs for the overridden configs,
 * CreateTopics / CreatePartitions / DeleteTopics for the changes.
 *
 * Output is Kafka 3.7's:
 *
 *   Topic: t<TAB>PartitionCount: 3<TAB>ReplicationFactor: 1<TAB>Configs: k=v,...
 *   <TAB>Topic: t<TAB>Partition: 0<TAB>Leader: 0<TAB>Replicas: 0<TAB>Isr: 0
 *
 * Two documented differences: librdkafka 2.0.2 does not expose topic ids, so
 * the "TopicId: ..." column is left out, exactly as Kafka prints a topic whose
 * id is unknown (the zero UUID); and the "Elr:"/"LastKnownElr:" columns that
 * Kafka 3.8+ appends (KIP-966) are not printed, as in 3.7.  "Configs:" lists
 * the entries DescribeConfigs does not mark as defaults, in the order Kafka's
 * Admin client prints them (iteration order of a java.util.HashMap keyed by
 * config name; see java_map_order()).
 *
 * Errors: "Error while executing topic command : <message>" on stderr (Kafka
 * prints that line on stdout; stderr keeps parsed output clean), exit 1.
 * Usage errors: "Error: <Kafka's wording>", exit 1.
 */
#include "cli.h"
#include "jstr.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

static const cli_optdef_t defs[] = {
    {"bootstrap-server", true, false, "REQUIRED: The Kafka server to connect to."},
    {"command-config", true, false, "Property file containing configs to be passed to Admin Client."},
    {"list", false, false, "List all available topics."},
    {"describe", false, false, "List details for the given topics."},
    {"create", false, false, "Create a new topic."},
    {"alter", false, false, "Alter the number of partitions."},
    {"delete", false, false, "Delete a topic."},
    {"topic", true, false, "The topic to create, alter, describe or delete. It also accepts a regular "
                           "expression (POSIX extended, whole name), except for --create option."},
    {"partitions", true, false, "The number of partitions for the topic being created or altered. If not "
                                "supplied with --create, the topic uses the cluster default."},
    {"replication-factor", true, false, "The replication factor for each partition in the topic being "
                                        "created. If not supplied, the topic uses the cluster default."},
    {"config", true, false, "A topic configuration override name=value for the topic being created "
                            "(repeatable). It is supported only in combination with --create."},
    {"if-exists", false, false, "If set when altering or deleting or describing topics, the action will "
                                "only execute if the topic exists."},
    {"if-not-exists", false, false, "If set when creating topics, the create request will not fail if the "
                                    "topic already exists."},
    {"exclude-internal", false, false, "Exclude internal topics when listing or describing topics."},
    {"timeout", true, false, "gregor: milliseconds to wait for the cluster (default 5000)."},
    {"help", false, false, "Print usage information."},
    {NULL, false, false, NULL},
};

static int fail(const char *msg)
{
    fprintf(stderr, "Error while executing topic command : %s\n", msg);
    return 1;
}

static bool is_internal(const char *t)
{
    return !strcmp(t, "__consumer_offsets") || !strcmp(t, "__transaction_state");
}

/* Kafka's IncludeList, compiled; -1 after the error line. */
static int include_compile(const char *raw, regex_t *re)
{
    char *p = cli_include_regex(raw);
    int rc = regcomp(re, p, REG_EXTENDED | REG_NOSUB);
    free(p);
    if (rc) {
        cli_err("%s is an invalid regex.", raw);
        return -1;
    }
    return 0;
}

static int cmp_topic(const void *a, const void *b)
{
    const rd_kafka_metadata_topic_t *const *x = a, *const *y = b;
    return strcmp((*x)->topic, (*y)->topic);
}

/* The metadata topics that the --topic filter selects, sorted by name
 * (pointers into md). */
static int select_topics(const rd_kafka_metadata_t *md, const char *pattern, bool excl_internal,
                         const rd_kafka_metadata_topic_t ***out)
{
    regex_t re;
    if (pattern && include_compile(pattern, &re) < 0)
        return -1;
    const rd_kafka_metadata_topic_t **v = gr_calloc((size_t)md->topic_cnt + 1, sizeof(*v));
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            continue;
        if (excl_internal && is_internal(t->topic))
            continue;
        if (pattern && regexec(&re, t->topic, 0, NULL, 0))
            continue;
        v[n++] = t;
    }
    if (pattern)
        regfree(&re);
    qsort(v, (size_t)n, sizeof(*v), cmp_topic);
    *out = v;
    return n;
}

/* ---- admin request plumbing ---- */
static const char *bootstrap; /* --bootstrap-server, for error messages */

static rd_kafka_AdminOptions_t *admin_opts(rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms)
{
    char errstr[256];
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, op);
    rd_kafka_AdminOptions_set_request_timeout(ao, timeout_ms, errstr, sizeof(errstr));
    if (op != RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS)
        rd_kafka_AdminOptions_set_operation_timeout(ao, timeout_ms, errstr, sizeof(errstr));
    return ao;
}

/* Wait for the result event of one admin call; NULL after printing an error. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, int timeout_ms)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (!ev) {
        fail("Timed out waiting for the cluster");
        return NULL;
    }
    if (rd_kafka_event_error(ev)) {
        rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
        char msg[768];
        if (err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT)
            snprintf(msg, sizeof(msg), "%s (no answer from %s within %d ms)", rd_kafka_event_error_string(ev),
                     bootstrap, timeout_ms);
        else
            snprintf(msg, sizeof(msg), "%s", rd_kafka_event_error_string(ev));
        fail(msg);
        rd_kafka_event_destroy(ev);
        return NULL;
    }
    return ev;
}

/* ---- describe: configs in the order Kafka's Admin client prints them ----
 * org.apache.kafka.clients.admin.Config keeps its entries in a HashMap<String,
 * ConfigEntry> (default capacity 16, load factor 0.75) filled in response
 * order, and TopicCommand prints entries() in that map's iteration order:
 * by bucket (spread String.hashCode() masked to the table size), then by
 * insertion within a bucket (resizes keep that relative order). */
typedef struct {
    const rd_kafka_ConfigEntry_t *e;
    uint32_t bucket;
    size_t pos;
} cfg_slot_t;

/* HashMap.hash: String.hashCode spread by its high half. */
static uint32_t java_map_hash(const char *s)
{
    uint32_t h = (uint32_t)gr_jstr_hash(s, strlen(s), GR_JSTR_WIRE);
    return h ^ (h >> 16);
}

static int cmp_slot(const void *a, const void *b)
{
    const cfg_slot_t *x = a, *y = b;
    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void print_configs(const rd_kafka_ConfigEntry_t **ents, size_t n)
{
    uint32_t cap = 16;
    while ((double)n > cap * 0.75)
        cap *= 2;
    cfg_slot_t *s = gr_calloc(n + 1, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        s[i].e = ents[i];
        s[i].bucket = java_map_hash(rd_kafka_ConfigEntry_name(ents[i])) & (cap - 1);
        s[i].pos = i;
    }
    qsort(s, n, sizeof(*s), cmp_slot);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        /* a later duplicate name replaces the earlier value in the map */
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            if (s[j].pos > s[i].pos &&
                !strcmp(rd_kafka_ConfigEntry_name(s[j].e), rd_kafka_ConfigEntry_name(s[i].e)))
                dup = true;
        if (dup || rd_kafka_ConfigEntry_is_default(s[i].e) == 1)
            continue;
        const char *v = rd_kafka_ConfigEntry_value(s[i].e);
        printf("%s%s=%s", first ? "" : ",", rd_kafka_ConfigEntry_name(s[i].e), v ? v : "null");
        first = false;
    }
    free(s);
}

static void print_ids(const int32_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        printf("%s%d", i ? "," : "", ids[i]);
}

static int cmp_part(const void *a, const void *b)
{
    const rd_kafka_metadata_partition_t *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int describe(rd_kafka_t *rk, const rd_kafka_metadata_topic_t **tv, int n, int timeout_ms)
{
    int rc = 1;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_ConfigResource_t **res = gr_calloc((size_t)n + 1, sizeof(*res));
    rd_kafka_event_t *ev = NULL;
    for (int i = 0; i < n; i++)
        res[i] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, tv[i]->topic);
    rd_kafka_AdminOptions_t *ao = admin_opts(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms);
    rd_kafka_DescribeConfigs(rk, res, (size_t)n, ao, q);
    rd_kafka_AdminOptions_destroy(ao);
    if (!(ev = admin_wait(q, timeout_ms)))
        goto out;
    size_t rn;
    const rd_kafka_ConfigResource_t **rr =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &rn);
    for (int i = 0; i < n; i++) {
        const rd_kafka_metadata_topic_t *t = tv[i];
        const rd_kafka_ConfigResource_t *cr = NULL;
        for (size_t j = 0; j < rn; j++)
            if (!strcmp(rd_kafka_ConfigResource_name(rr[j]), t->topic))
                cr = rr[j];
        if (!cr) {
            fail("no DescribeConfigs result for a requested topic");
            goto out;
        }
        if (rd_kafka_ConfigResource_error(cr)) {
            fail(rd_kafka_ConfigResource_error_string(cr) ? rd_kafka_ConfigResource_error_string(cr)
                                                          : rd_kafka_err2str(rd_kafka_ConfigResource_error(cr)));
            goto out;
        }
        rd_kafka_metadata_partition_t *parts = gr_calloc((size_t)t->partition_cnt + 1, sizeof(*parts));
        if (t->partition_cnt)
            memcpy(parts, t->partitions, (size_t)t->partition_cnt * sizeof(*parts));
        qsort(parts, (size_t)t->partition_cnt, sizeof(*parts), cmp_part);
        size_t cn;
        const rd_kafka_ConfigEntry_t **ce = rd_kafka_ConfigResource_configs(cr, &cn);
        printf("Topic: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: ", t->topic, t->partition_cnt,
               t->partition_cnt ? parts[0].replica_cnt : 0);
        print_configs(ce, cn);
        putchar('\n');
        for (int p = 0; p < t->partition_cnt; p++) {
            printf("\tTopic: %s\tPartition: %d\tLeader: ", t->topic, parts[p].id);
            if (parts[p].leader >= 0)
                printf("%d", parts[p].leader);
            else
                fputs("none", stdout);
            fputs("\tReplicas: ", stdout);
            print_ids(parts[p].replicas, parts[p].replica_cnt);
            fputs("\tIsr: ", stdout);
            print_ids(parts[p].isrs, parts[p].isr_cnt);
            putchar('\n');
        }
        free(parts);
    }
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_ConfigResource_destroy_array(res, (size_t)n);
    free(res);
    rd_kafka_queue_destroy(q);
    return rc;
}

/* ---- create / alter / delete ---- */

static int parse_int(const char *s, const char *opt, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < -2147483647L || v > 2147483647L) {
        cli_err("Cannot parse argument '%s' of option %s", s, opt);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int create(rd_kafka_t *rk, const cli_opts_t *o, int timeout_ms)
{
    const char *name = cli_get(o, "topic");
    int parts = -1, rf = -1, rc = 1;
    char errstr[512];
    if (cli_get(o, "partitions") && parse_int(cli_get(o, "partitions"), "partitions", &parts) < 0)
        return 1;
    if (cli_get(o, "replication-factor") && parse_int(cli_get(o, "replication-factor"), "replication-factor", &rf) < 0)
        return 1;
    if (cli_has(o, "replication-factor") && (rf < 1 || rf > 32767))
        return fail("The replication factor must be between 1 and 32767 inclusive");
    if (cli_has(o, "partitions") && parts < 1)
        return fail("The partitions must be greater than 0");
    if (strchr(name, '.') || strchr(name, '_'))
        printf("WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') "
               "could collide. To avoid issues it is best to use either, but not both.\n");
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, parts, rf, errstr, sizeof(errstr));
    if (!nt)
        return fail(errstr);
    const char **cfgs;
    int nc = cli_get_all(o, "config", &cfgs);
    for (int i = 0; i < nc; i++) {
        const char *eq = strchr(cfgs[i], '=');
        if (!eq || strchr(eq + 1, '=')) {
            free(cfgs);
            rd_kafka_NewTopic_destroy(nt);
            return fail("requirement failed: Invalid topic config: all configs to be added must be in the "
                        "format \"key=val\".");
        }
        char key[256];
        size_t kl = (size_t)(eq - cfgs[i]);
        const char *v = eq + 1;
        while (kl && (cfgs[i][kl - 1] == ' ' || cfgs[i][kl - 1] == '\t'))
            kl--;
        while (*v == ' ' || *v == '\t')
            v++;
        snprintf(key, sizeof(key), "%.*s", (int)kl, cfgs[i]);
        rd_kafka_NewTopic_set_config(nt, key, v);
    }
    free(cfgs);

    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = admin_opts(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms);
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_event_t *ev = admin_wait(q, timeout_ms);
    if (ev) {
        size_t n;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t err = n ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR__FAIL;
        if (!err) {
            printf("Created topic %s.\n", name);
            rc = 0;
        } else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            if (cli_has(o, "if-not-exists")) {
                rc = 0;
            } else {
                snprintf(errstr, sizeof(errstr), "Topic '%s' already exists.", name);
                fail(errstr);
            }
        } else {
            const char *es = n ? rd_kafka_topic_result_error_string(tr[0]) : NULL;
            fail(es && *es ? es : rd_kafka_err2str(err));
        }
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return rc;
}

/* Check the per-topic results of CreatePartitions / DeleteTopics. */
static int topic_results(const rd_kafka_topic_result_t **tr, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(tr[i]);
        if (err) {
            const char *es = rd_kafka_topic_result_error_string(tr[i]);
            return fail(es && *es ? es : rd_kafka_err2str(err));
        }
    }
    return 0;
}

/* Wait for the CreatePartitions / DeleteTopics result on q, check its
 * per-topic results and destroy q: 0 ok, 1 after the error line. */
static int await_topic_results(rd_kafka_queue_t *q, int timeout_ms)
{
    int rc = 1;
    rd_kafka_event_t *ev = admin_wait(q, timeout_ms);
    if (ev) {
        size_t rn = 0;
        const rd_kafka_topic_result_t **tr = NULL;
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT)
            tr = rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &rn);
        else if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DELETETOPICS_RESULT)
            tr = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &rn);
        rc = topic_results(tr, rn);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return rc;
}

static int alter(rd_kafka_t *rk, const rd_kafka_metadata_topic_t **tv, int n, int parts, int timeout_ms)
{
    char errstr[512];
    rd_kafka_NewPartitions_t **np = gr_calloc((size_t)n + 1, sizeof(*np));
    for (int i = 0; i < n; i++)
        if (!(np[i] = rd_kafka_NewPartitions_new(tv[i]->topic, (size_t)parts, errstr, sizeof(errstr)))) {
            rd_kafka_NewPartitions_destroy_array(np, (size_t)i);
            free(np);
            return fail(errstr);
        }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = admin_opts(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, timeout_ms);
    rd_kafka_CreatePartitions(rk, np, (size_t)n, ao, q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewPartitions_destroy_array(np, (size_t)n);
    free(np);
    return await_topic_results(q, timeout_ms);
}

static int delete_topics(rd_kafka_t *rk, const rd_kafka_metadata_topic_t **tv, int n, int timeout_ms)
{
    rd_kafka_DeleteTopic_t **dt = gr_calloc((size_t)n + 1, sizeof(*dt));
    for (int i = 0; i < n; i++)
        dt[i] = rd_kafka_DeleteTopic_new(tv[i]->topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = admin_opts(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout_ms);
    rd_kafka_DeleteTopics(rk, dt, (size_t)n, ao, q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_DeleteTopic_destroy_array(dt, (size_t)n);
    free(dt);
    return await_topic_results(q, timeout_ms);
}

/* ---- argument checks, in TopicCommandOptions.checkArgs order ---- */

static const char *const actions[] = {"alter", "create", "describe", "list", "delete", NULL};

/* checkInvalidArgs against every action but allowed_actions. */
static int check_invalid(const cli_opts_t *o, const char *opt, const char *const *allowed_actions)
{
    const char *invalid[sizeof(actions) / sizeof(actions[0])];
    int n = 0;
    for (const char *const *a = actions; *a; a++) {
        bool ok = false;
        for (const char *const *b = allowed_actions; *b; b++)
            ok |= !strcmp(*a, *b);
        if (!ok)
            invalid[n++] = *a;
    }
    invalid[n] = NULL;
    return cli_invalid_with(o, opt, invalid);
}

static int check_args(const cli_opts_t *o)
{
    static const char *const ac[] = {"alter", "create", NULL}, *const c[] = {"create", NULL},
                             *const ade[] = {"alter", "delete", "describe", NULL},
                             *const ld[] = {"list", "describe", NULL};
    if (cli_count_given(o, actions) != 1) {
        cli_err("Command must include exactly one action: --list, --describe, --create, --alter or --delete");
        return -1;
    }
    if (!cli_has(o, "bootstrap-server")) {
        cli_err("--bootstrap-server must be specified");
        return -1;
    }
    if (cli_has(o, "describe") && cli_has(o, "if-exists") && !cli_has(o, "topic")) {
        cli_err("--topic or --topic-id is required to describe a topic");
        return -1;
    }
    if (!cli_has(o, "list") && !cli_has(o, "describe") && !cli_has(o, "topic")) {
        cli_err("Missing required argument \"[topic]\"");
        return -1;
    }
    if (cli_has(o, "alter") && cli_has(o, "config")) {
        cli_err("Option \"[config]\" can't be used with option \"[alter]\" (To alter topic configurations, "
                "the kafka-configs tool can be used.)");
        return -1;
    }
    if (cli_has(o, "alter") && !cli_has(o, "partitions")) {
        cli_err("Missing required argument \"[partitions]\"");
        return -1;
    }
    if (check_invalid(o, "config", ac) || check_invalid(o, "partitions", ac) ||
        check_invalid(o, "replication-factor", c) || check_invalid(o, "if-exists", ade) ||
        check_invalid(o, "if-not-exists", c) || check_invalid(o, "exclude-internal", ld))
        return -1;
    return 0;
}

int cli_topics_main(int argc, char **argv)
{
    cli_opts_t o;
    int rc = 1;
    if (cli_parse(argc, argv, defs, &o) < 0)
        return 1;
    if (argc < 2 || cli_has(&o, "help")) {
        cli_usage(argc < 2 ? stderr : stdout, "topics",
                  "This tool helps to create, delete, describe, or change a topic (kafka-topics.sh).", defs);
        cli_opts_free(&o);
        return argc < 2;
    }
    if (check_args(&o) < 0) {
        cli_opts_free(&o);
        return 1;
    }
    int timeout_ms = cli_timeout_ms(&o), parts = 0;
    bootstrap = cli_get(&o, "bootstrap-server");
    if (cli_has(&o, "alter") && parse_int(cli_get(&o, "partitions"), "partitions", &parts) < 0) {
        cli_opts_free(&o);
        return 1;
    }
    rd_kafka_t *rk = cli_client(&o, RD_KAFKA_PRODUCER, NULL);
    if (!rk) {
        cli_opts_free(&o);
        return 1;
    }
    if (cli_has(&o, "create")) {
        rc = create(rk, &o, timeout_ms);
        goto out;
    }

    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (err) {
        char msg[512];
        snprintf(msg, sizeof(msg), "Could not get metadata from %s within %d ms: %s", cli_get(&o, "bootstrap-server"),
                 timeout_ms, rd_kafka_err2str(err));
        fail(msg);
        goto out;
    }
    const rd_kafka_metadata_topic_t **tv = NULL;
    const char *pattern = cli_get(&o, "topic");
    int n = select_topics(md, pattern, cli_has(&o, "exclude-internal"), &tv);
    if (n < 0)
        goto out_md;
    if (cli_has(&o, "list")) {
        /* Kafka prints the names joined by "\n" with println: one empty
         * line when nothing matches */
        for (int i = 0; i < n; i++)
            printf("%s%s", i ? "\n" : "", tv[i]->topic);
        putchar('\n');
        rc = 0;
        goto out_md;
    }
    if (n == 0 && pattern && *pattern && !cli_has(&o, "if-exists")) {
        char msg[512];
        snprintf(msg, sizeof(msg), "Topic '%s' does not exist as expected", pattern);
        fail(msg);
        goto out_md;
    }
    if (n == 0)
        rc = 0;
    else if (cli_has(&o, "describe"))
        rc = describe(rk, tv, n, timeout_ms);
    else if (cli_has(&o, "alter"))
        rc = alter(rk, tv, n, parts, timeout_ms);
    else
        rc = delete_topics(rk, tv, n, timeout_ms);
out_md:
    free(tv);
    rd_kafka_metadata_destroy(md);
out:
    rd_kafka_destroy(rk);
    cli_opts_free(&o);
    fflush(stdout);
    return rc;
}
