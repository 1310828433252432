/*
 * config.c - the configuration table.
 *
 * Every broker key is one row of `defs`: name, type (ours and Kafka's),
 * default, fallback key, bounds and documentation.  The same rows parse
 * server.properties and --override, validate values, describe the keys to
 * DescribeConfigs, and print docs/config.md.  An unknown key or an invalid
 * value is a one-line error naming the key; gregord refuses to start.
 *
 * Topic-level keys (retention.ms, ...) are a second table: each names its
 * broker synonym, whose value is the topic default (Kafka's rule),
 * Kafka's type and the lower bound of an integer key.  A key's synonyms, as DescribeConfigs lists them, are the
 * key itself and then its chain of fallbacks.
 */
#include "config.h"

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { T_INT, T_LONG, T_BOOL, T_STRING, T_DOUBLE } cfg_type_t;

typedef struct cfg_def {
    const char *name;
    const char *alias;          /* another accepted name (broker.id) */
    cfg_type_t type;            /* how gr_config_t stores it */
    gr_config_type_t ktype;     /* what DescribeConfigs reports (Kafka's) */
    size_t off;
    const char *dflt;           /* textual default; NULL = unset */
    const char *fallback;       /* key whose value applies while unset */
    int64_t min, max;
    const char *choices;        /* comma-separated allowed values, strings */
    const char *doc;
} cfg_def_t;

/* Keys named internal.* are for tests only (Kafka 4.0's convention): not
 * documented, and described (DescribeConfigs) only when set. */
bool gr_config_is_internal(const char *key)
{
    return strncmp(key, "internal.", 9) == 0;
}

#define F(field) offsetof(gr_config_t, field)
#define CFG_STR(x) #x
#define CFG_NUM(x) CFG_STR(x)       /* a numeric macro's value as its default text */
#define L_MAX INT64_MAX
#define I_MAX INT32_MAX

static const cfg_def_t defs[] = {
    {"node.id", "broker.id", T_INT, GR_CT_INT, F(node_id), "0", NULL, 0, I_MAX, NULL,
     "The broker's id, reported in Metadata and FindCoordinator."},
    {"listeners", NULL, T_STRING, GR_CT_STRING, F(listeners), "PLAINTEXT://127.0.0.1:9092", NULL, 0, 0, NULL,
     "Listener to bind, PLAINTEXT://host:port (one listener)."},
    {"advertised.listeners", NULL, T_STRING, GR_CT_STRING, F(advertised_listeners), "", NULL, 0, 0, NULL,
     "Listener given to clients in Metadata; empty = listeners."},
    {"log.dirs", "log.dir", T_STRING, GR_CT_STRING, F(log_dirs), "./data", NULL, 0, 0, NULL,
     "Comma-separated directories holding partition logs."},
    {"num.partitions", NULL, T_INT, GR_CT_INT, F(num_partitions), "1", NULL, 1, 100000, NULL,
     "Partitions of auto-created topics and of CreateTopics requests that give -1."},
    {"default.replication.factor", NULL, T_INT, GR_CT_INT, F(default_replication_factor), "1", NULL, 1, 1, NULL,
     "Replication factor of auto-created topics (single broker: 1)."},
    {"auto.create.topics.enable", NULL, T_BOOL, GR_CT_BOOLEAN, F(auto_create_topics_enable), "true", NULL, 0, 0, NULL,
     "Create a topic when a client asks Metadata for it (or produces to it)."},
    {"log.segment.bytes", NULL, T_LONG, GR_CT_INT, F(log_segment_bytes), "1073741824", NULL, 1048576, I_MAX, NULL,
     "Maximum size of a segment file before a new one is rolled (at least 1 MiB, as Kafka 4.0)."},
    {"internal.log.segment.bytes", NULL, T_LONG, GR_CT_INT, F(internal_log_segment_bytes), NULL, NULL, 14, I_MAX,
     NULL, "Testing only: replaces log.segment.bytes, without its 1 MiB floor."},
    {"log.roll.ms", NULL, T_LONG, GR_CT_LONG, F(log_roll_ms), NULL, "log.roll.hours", 1, L_MAX, NULL,
     "Maximum age of the active segment before it is rolled; overrides log.roll.hours."},
    {"log.roll.hours", NULL, T_LONG, GR_CT_INT, F(log_roll_hours), "168", NULL, 1, L_MAX / 3600000, NULL,
     "Maximum age of the active segment in hours."},
    {"log.retention.ms", NULL, T_LONG, GR_CT_LONG, F(log_retention_ms), NULL, "log.retention.minutes", -1, L_MAX, NULL,
     "Delete segments older than this; -1 = forever.  Overrides minutes and hours."},
    {"log.retention.minutes", NULL, T_LONG, GR_CT_INT, F(log_retention_minutes),
     NULL, "log.retention.hours", -1, L_MAX / 60000, NULL,
     "Retention in minutes; overrides log.retention.hours."},
    {"log.retention.hours", NULL, T_LONG, GR_CT_INT, F(log_retention_hours), "168", NULL, -1, L_MAX / 3600000, NULL,
     "Retention in hours."},
    {"log.retention.bytes", NULL, T_LONG, GR_CT_LONG, F(log_retention_bytes), "-1", NULL, -1, L_MAX, NULL,
     "Delete old segments while a partition is larger than this; -1 = no limit."},
    {"log.retention.check.interval.ms", NULL, T_LONG, GR_CT_LONG, F(log_retention_check_interval_ms),
     "300000", NULL, 1, L_MAX, NULL,
     "How often retention and time-based rolling are checked; the first check comes 30 s after startup (or after "
     "this interval if shorter)."},
    {"log.index.interval.bytes", NULL, T_INT, GR_CT_INT, F(log_index_interval_bytes), "4096", NULL, 0, I_MAX, NULL,
     "Bytes of log between two offset-index entries."},
    {"log.flush.interval.messages", NULL, T_LONG, GR_CT_LONG, F(log_flush_interval_messages),
     "9223372036854775807", NULL, 1, L_MAX, NULL,
     "fsync a partition once this many messages are unflushed; acks wait for it.  Default: never (page cache)."},
    {"log.flush.interval.ms", NULL, T_LONG, GR_CT_LONG, F(log_flush_interval_ms), NULL, NULL, 0, L_MAX, NULL,
     "fsync a partition when its oldest unflushed message is this old.  Default: never."},
    {"message.max.bytes", NULL, T_INT, GR_CT_INT, F(message_max_bytes), "1048588", NULL, 0, I_MAX, NULL,
     "Largest record batch accepted (topic override: max.message.bytes)."},
    {"socket.request.max.bytes", NULL, T_INT, GR_CT_INT, F(socket_request_max_bytes), "104857600", NULL, 1, I_MAX, NULL,
     "Largest request frame; larger frames close the connection."},
    {"connections.max.idle.ms", NULL, T_LONG, GR_CT_LONG, F(connections_max_idle_ms), "600000", NULL, 1, L_MAX, NULL,
     "Connections are closed after this long without a complete request or a response byte written (a partial "
     "request counts as idle; so do responses the client does not read)."},
    {"request.timeout.ms", NULL, T_INT, GR_CT_INT, F(request_timeout_ms), "30000", NULL, 1, I_MAX, NULL,
     "Longest wait of a Fetch (larger MaxWaitMs are capped), and how long a request may take to arrive once its "
     "first byte did; a slower one closes its connection."},
    {"max.connections", NULL, T_INT, GR_CT_INT, F(max_connections), "2147483647", NULL, 1, I_MAX, NULL,
     "Client connections at once; also bounded by the descriptor budget (RLIMIT_NOFILE minus log.open.files.max "
     "and a reserve).  Connections above it are accepted and closed at once, with a log line."},
    {"log.open.files.max", NULL, T_INT, GR_CT_INT, F(log_open_files_max), "-1", NULL, -1, I_MAX, NULL,
     "Segment files kept open at once (least recently used ones are closed and reopened when read); -1 = a "
     "quarter of RLIMIT_NOFILE after a reserve of 64 descriptors."},
    {"queued.max.request.bytes", NULL, T_LONG, GR_CT_LONG, F(queued_max_request_bytes),
     CFG_NUM(GR_QUEUED_MAX_REQUEST_BYTES_DEFAULT), NULL, -1, L_MAX, NULL,
     "Bytes held for all clients' requests and responses: frames being read (counted whole once admitted), "
     "responses not yet written, parked requests.  A frame is admitted within this or, for a connection within its "
     "share (this / connections), within 1.5 times this; past it a connection holding more than its share is not "
     "read until it drains.  At least socket.request.max.bytes; -1 or 0 = no limit (Kafka's default)."},
    {"queued.max.requests", NULL, T_INT, GR_CT_INT, F(queued_max_requests), "500", NULL, 1, I_MAX, NULL,
     "Answered requests whose responses are not yet written, broker-wide; past it a connection with more than its "
     "share is no longer read until its client reads."},
    {"replica.alter.log.dirs.io.max.bytes.per.second", NULL, T_LONG, GR_CT_LONG,
     F(replica_alter_log_dirs_io_max_bytes_per_second), "9223372036854775807", NULL, 1, L_MAX, NULL,
     "Bytes per second a partition move between log dirs (AlterReplicaLogDirs) may copy."},
    {"max.incremental.fetch.session.cache.slots", NULL, T_INT, GR_CT_INT,
     F(max_incremental_fetch_session_cache_slots), "1000", NULL, 0, I_MAX, NULL,
     "Incremental fetch sessions (KIP-227) the broker keeps; 0 disables them (every fetch is sessionless)."},
    {"log.message.timestamp.type", NULL, T_STRING, GR_CT_STRING, F(log_message_timestamp_type),
     "CreateTime", NULL, 0, 0,
     "CreateTime,LogAppendTime", "Record timestamps as sent by the producer, or set by the broker on append."},
    {"log.message.downconversion.enable", NULL, T_BOOL, GR_CT_BOOLEAN, F(log_message_downconversion_enable),
     "true", NULL, 0, 0, NULL,
     "Down-convert the stored record batches to the message format of Fetch v0-3 (magic 0 and 1) for clients "
     "that fetch with those versions; when false they get UNSUPPORTED_VERSION.  Topic override: "
     "message.downconversion.enable."},

    {"inter.broker.protocol.version", NULL, T_STRING, GR_CT_STRING, F(inter_broker_protocol_version),
     "3.7", NULL, 0, 0, NULL,
     "Record formats written to __consumer_offsets, as Kafka: below 2.1 GroupMetadataValue v1 and OffsetCommitValue "
     "v1 (readable by old tools such as Burrow 1.2.1), below 2.3 GroupMetadataValue v2, else v3."},
    {"group.initial.rebalance.delay.ms", NULL, T_LONG, GR_CT_INT, F(group_initial_rebalance_delay_ms),
     "3000", NULL, 0, I_MAX, NULL,
     "Wait for more members before the first rebalance of an empty group; extended per new member up to the rebalance timeout."},
    {"group.min.session.timeout.ms", NULL, T_INT, GR_CT_INT, F(group_min_session_timeout_ms),
     "6000", NULL, 0, I_MAX, NULL,
     "Smallest session timeout a member may ask for (INVALID_SESSION_TIMEOUT below)."},
    {"group.max.session.timeout.ms", NULL, T_INT, GR_CT_INT, F(group_max_session_timeout_ms),
     "1800000", NULL, 0, I_MAX, NULL,
     "Largest session timeout a member may ask for (INVALID_SESSION_TIMEOUT above)."},
    {"group.max.rebalance.timeout.ms", NULL, T_INT, GR_CT_INT, F(group_max_rebalance_timeout_ms),
     "1800000", NULL, 1000, I_MAX, NULL,
     "gregor only: the longest rebalance timeout a member gets; a larger RebalanceTimeoutMs (JoinGroup, "
     "ConsumerGroupHeartbeat) is taken as this, so that one member cannot hold a rebalance for up to 2^31-1 ms "
     "(Kafka takes any value: 2147483647 does the same)."},
    {"group.max.size", NULL, T_INT, GR_CT_INT, F(group_max_size), "2147483647", NULL, 1, I_MAX, NULL,
     "Members per group (GROUP_MAX_SIZE_REACHED above)."},
    {"group.consumer.session.timeout.ms", NULL, T_INT, GR_CT_INT, F(group_consumer_session_timeout_ms), "45000",
     NULL, 1, I_MAX, NULL,
     "Session timeout of consumer-group (KIP-848) members: a member that does not heartbeat for this long is fenced "
     "(kept within group.consumer.min/max.session.timeout.ms)."},
    {"group.consumer.min.session.timeout.ms", NULL, T_INT, GR_CT_INT, F(group_consumer_min_session_timeout_ms),
     "45000", NULL, 1, I_MAX, NULL, "Lower bound of group.consumer.session.timeout.ms."},
    {"group.consumer.max.session.timeout.ms", NULL, T_INT, GR_CT_INT, F(group_consumer_max_session_timeout_ms),
     "60000", NULL, 1, I_MAX, NULL, "Upper bound of group.consumer.session.timeout.ms."},
    {"group.consumer.heartbeat.interval.ms", NULL, T_INT, GR_CT_INT, F(group_consumer_heartbeat_interval_ms),
     "5000", NULL, 1, I_MAX, NULL,
     "Heartbeat interval given to consumer-group members (kept within group.consumer.min/max.heartbeat.interval.ms "
     "and below the session timeout)."},
    {"group.consumer.min.heartbeat.interval.ms", NULL, T_INT, GR_CT_INT,
     F(group_consumer_min_heartbeat_interval_ms), "5000", NULL, 1, I_MAX, NULL,
     "Lower bound of group.consumer.heartbeat.interval.ms."},
    {"group.consumer.max.heartbeat.interval.ms", NULL, T_INT, GR_CT_INT,
     F(group_consumer_max_heartbeat_interval_ms), "15000", NULL, 1, I_MAX, NULL,
     "Upper bound of group.consumer.heartbeat.interval.ms."},
    {"group.consumer.max.size", NULL, T_INT, GR_CT_INT, F(group_consumer_max_size), "2147483647", NULL, 1, I_MAX,
     NULL, "Members per consumer group (GROUP_MAX_SIZE_REACHED above)."},
    {"group.consumer.assignors", NULL, T_STRING, GR_CT_LIST, F(group_consumer_assignors), "uniform,range", NULL, 0,
     0, NULL,
     "Server-side assignors of consumer groups, by name (uniform, range) or Kafka's class name; a member picks one "
     "with ServerAssignor, the first is the default."},
    {"group.consumer.migration.policy", NULL, T_STRING, GR_CT_STRING, F(group_consumer_migration_policy),
     "bidirectional", NULL, 0, 0, "disabled,upgrade,downgrade,bidirectional",
     "Conversion between classic and consumer groups: upgrade lets a consumer-protocol member join a classic group "
     "(which becomes a consumer group, online, its classic members served through JoinGroup/SyncGroup/Heartbeat); "
     "downgrade turns a consumer group whose last consumer-protocol member left, or an empty one a classic member "
     "joins, back into a classic group; bidirectional both; disabled neither."},
    {"group.history.max.bytes", NULL, T_LONG, GR_CT_LONG, F(group_history_max_bytes), "16777216", NULL, 0, L_MAX,
     NULL, "gregor only: memory for the rebalance and commit events that all groups together keep (each group "
     "keeps at most its last 256; at this bound the group quiet for longest loses its oldest); 0 keeps none."},
    {"offsets.topic.num.partitions", NULL, T_INT, GR_CT_INT, F(offsets_topic_num_partitions),
     "50", NULL, 1, 100000, NULL,
     "Partitions of __consumer_offsets (fixed once the topic exists)."},
    {"offsets.topic.segment.bytes", NULL, T_LONG, GR_CT_INT, F(offsets_topic_segment_bytes),
     "104857600", NULL, 14, I_MAX, NULL,
     "Segment size of __consumer_offsets."},
    {"offsets.retention.minutes", NULL, T_LONG, GR_CT_INT, F(offsets_retention_minutes),
     "10080", NULL, 1, L_MAX / 60000, NULL,
     "Committed offsets of a group are removed this long after the group became empty."},
    {"offsets.retention.check.interval.ms", NULL, T_LONG, GR_CT_LONG, F(offsets_retention_check_interval_ms),
     "600000", NULL, 1, L_MAX,
     NULL, "How often expired offsets are looked for."},
    {"offset.metadata.max.bytes", NULL, T_INT, GR_CT_INT, F(offset_metadata_max_bytes), "4096", NULL, 0, I_MAX, NULL,
     "Largest commit metadata string (OFFSET_METADATA_TOO_LARGE above)."},
    {"offsets.load.buffer.size", NULL, T_LONG, GR_CT_INT, F(offsets_load_buffer_size), "5242880", NULL, 1, I_MAX, NULL,
     "Read size used when loading __consumer_offsets at startup."},

    {"producer.id.expiration.ms", NULL, T_INT, GR_CT_INT, F(producer_id_expiration_ms), "86400000", NULL, 1, I_MAX,
     NULL, "A partition forgets an idempotent producer this long after the timestamp of its last batch (KIP-854), "
     "also when retention deleted all its batches before."},
    {"producer.id.expiration.check.interval.ms", NULL, T_INT, GR_CT_INT, F(producer_id_expiration_check_interval_ms),
     "600000", NULL, 1, I_MAX, NULL, "How often expired producers are looked for."},
    {"producer.state.max.entries", NULL, T_LONG, GR_CT_LONG, F(producer_state_max_entries),
     CFG_NUM(GR_PRODUCER_STATE_MAX_ENTRIES_DEFAULT), NULL, -1, L_MAX, NULL,
     "gregor only: (partition, producer id) entries of idempotent producers kept by all partitions together (about "
     "200 bytes each); past it the producers that appended longest ago are forgotten, as if expired.  -1 = no bound "
     "(Kafka's behaviour: producer ids a client makes up cost memory until they expire)."},
    {"transaction.max.timeout.ms", NULL, T_INT, GR_CT_INT, F(transaction_max_timeout_ms), "900000", NULL, 1, I_MAX,
     NULL, "Largest transaction timeout a producer may ask for in InitProducerId (INVALID_TRANSACTION_TIMEOUT "
     "above)."},
    {"transaction.state.log.num.partitions", NULL, T_INT, GR_CT_INT, F(transaction_state_log_num_partitions), "50",
     NULL, 1, 100000, NULL,
     "Partitions of __transaction_state (fixed once the topic exists; it is created when a client first looks for a "
     "transaction coordinator)."},
    {"transaction.state.log.segment.bytes", NULL, T_LONG, GR_CT_INT, F(transaction_state_log_segment_bytes),
     "104857600", NULL, 14, I_MAX, NULL, "Segment size of __transaction_state."},
    {"transaction.state.log.replication.factor", NULL, T_INT, GR_CT_SHORT, F(transaction_state_log_replication_factor),
     "3", NULL, 1, INT16_MAX, NULL, "Single broker: accepted and ignored (__transaction_state has one replica)."},
    {"transaction.state.log.min.isr", NULL, T_INT, GR_CT_INT, F(transaction_state_log_min_isr), "2", NULL, 1, I_MAX,
     NULL, "Single broker: accepted and ignored."},
    {"transaction.state.log.load.buffer.size", NULL, T_INT, GR_CT_INT, F(transaction_state_log_load_buffer_size),
     "5242880", NULL, 1, I_MAX, NULL, "Read size used when loading __transaction_state at startup."},
    {"transactional.id.expiration.ms", NULL, T_INT, GR_CT_INT, F(transactional_id_expiration_ms), "604800000", NULL,
     1, I_MAX, NULL,
     "A transactional id without a transaction (Empty, CompleteCommit, CompleteAbort) is forgotten this long after "
     "its last update."},
    {"transaction.abort.timed.out.transaction.cleanup.interval.ms", NULL, T_INT, GR_CT_INT,
     F(transaction_abort_timed_out_transaction_cleanup_interval_ms), "10000", NULL, 1, I_MAX, NULL,
     "How often transactions open longer than their timeout are looked for; they are aborted and their producer "
     "fenced (an epoch bump, KIP-588)."},
    {"transaction.remove.expired.transaction.cleanup.interval.ms", NULL, T_INT, GR_CT_INT,
     F(transaction_remove_expired_transaction_cleanup_interval_ms), "3600000", NULL, 1, I_MAX, NULL,
     "How often expired transactional ids (transactional.id.expiration.ms) are removed."},
    {"transaction.partition.verification.enable", NULL, T_BOOL, GR_CT_BOOLEAN,
     F(transaction_partition_verification_enable), "true", NULL, 0, 0, NULL,
     "Append a producer's first transactional batch to a partition only when its transaction coordinator says the "
     "partition is in the producer's ongoing transaction (KIP-890)."},

    {"log.cleaner.enable", NULL, T_BOOL, GR_CT_BOOLEAN, F(log_cleaner_enable), "true", NULL, 0, 0, NULL,
     "Run the log cleaner for topics with cleanup.policy=compact."},
    {"log.cleaner.backoff.ms", NULL, T_LONG, GR_CT_LONG, F(log_cleaner_backoff_ms), "15000", NULL, 0, L_MAX, NULL,
     "Sleep between cleaner passes when there is nothing to clean."},
    {"log.cleaner.min.cleanable.ratio", NULL, T_DOUBLE, GR_CT_DOUBLE, F(log_cleaner_min_cleanable_ratio),
     "0.5", NULL, 0, 1, NULL,
     "Minimum dirty/total ratio of a log before it is cleaned (topic: min.cleanable.dirty.ratio)."},
    {"log.cleaner.delete.retention.ms", NULL, T_LONG, GR_CT_LONG, F(log_cleaner_delete_retention_ms),
     "86400000", NULL, 0, L_MAX, NULL,
     "How long tombstones are kept after cleaning (topic: delete.retention.ms)."},
    {"log.cleaner.min.compaction.lag.ms", NULL, T_LONG, GR_CT_LONG, F(log_cleaner_min_compaction_lag_ms),
     "0", NULL, 0, L_MAX, NULL,
     "Records younger than this are never compacted (topic: min.compaction.lag.ms)."},

    /* observability: the HTTP listener (http.c), lag evaluation (lag.c) */
    {"http.listeners", NULL, T_STRING, GR_CT_STRING, F(http_listeners), "http://127.0.0.1:8085", NULL, 0, 0, NULL,
     "gregor only: the HTTP listener of /metrics, the Burrow-compatible /v3 API and the web console, "
     "http://host:port; empty = no HTTP listener."},
    {"http.console.write.enable", NULL, T_BOOL, GR_CT_BOOLEAN, F(http_console_write_enable), "false", NULL, 0, 0, NULL,
     "gregor only: allow the console's changes (create and delete topics, reset and undo offsets); they also need "
     "the X-Gregor-Console header, which a cross-site page cannot send."},
    {"http.max.connections", NULL, T_INT, GR_CT_INT, F(http_max_connections), "64", NULL, 1, 10000, NULL,
     "gregor only: HTTP connections at once; more are refused."},
    {"http.connection.timeout.ms", NULL, T_INT, GR_CT_INT, F(http_connection_timeout_ms), "30000", NULL, 1000,
     3600000, NULL, "gregor only: an HTTP connection idle this long is closed."},
    {"lag.window.intervals", NULL, T_INT, GR_CT_INT, F(lag_window_intervals), "10", NULL, 2, 100, NULL,
     "gregor only: commits per partition in a group's lag window (Burrow's intervals)."},
    {"lag.window.min.distance.ms", NULL, T_LONG, GR_CT_LONG, F(lag_window_min_distance_ms), "0", NULL, 0, L_MAX, NULL,
     "gregor only: a commit closer than this to the previous one replaces it in the window (Burrow's "
     "min-distance)."},
    {"lag.window.recent.ms", NULL, T_LONG, GR_CT_LONG, F(lag_window_recent_ms), "100000", NULL, 0, L_MAX, NULL,
     "gregor only: a partition whose consumer was caught up this recently is not STOP (Burrow: intervals x "
     "offset-refresh)."},
    {"lag.window.expire.group.ms", NULL, T_LONG, GR_CT_LONG, F(lag_window_expire_group_ms), "604800000", NULL, 1000,
     L_MAX, NULL, "gregor only: the lag windows of a group without commits this long are dropped (Burrow's "
     "expire-group)."},
    {"lag.window.max.partitions", NULL, T_LONG, GR_CT_LONG, F(lag_window_max_partitions), "100000", NULL, 0,
     100000000, NULL, "gregor only: lag windows (group x partition) kept broker-wide; beyond, further partitions "
     "are not evaluated."},
    {"lag.burrow.cluster", NULL, T_STRING, GR_CT_STRING, F(lag_burrow_cluster), "local", NULL, 0, 0, NULL,
     "gregor only: the cluster name of the Burrow-compatible API (/v3/kafka/<cluster>)."},
};

int64_t gr_config_segment_bytes(const gr_config_t *c)
{
    return c->internal_log_segment_bytes != GR_CFG_UNSET ? c->internal_log_segment_bytes : c->log_segment_bytes;
}

static const cfg_def_t *find_def(const char *key)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(defs); i++)
        if (!strcmp(defs[i].name, key) || (defs[i].alias && !strcmp(defs[i].alias, key)))
            return &defs[i];
    return NULL;
}

gr_config_type_t gr_config_key_type(const char *key)
{
    const cfg_def_t *d = find_def(key);
    return d ? d->ktype : GR_CT_UNKNOWN;
}

const char *gr_config_key_fallback(const char *key)
{
    const cfg_def_t *d = find_def(key);
    return d ? d->fallback : NULL;
}

static int parse_long(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return GR_EINVAL;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return GR_EINVAL;
    *out = v;
    return 0;
}

/* "2.0", "2.0-IV1", "0.10.1", "3.7.0" -> major*100+minor, or -1. */
static int parse_version(const char *v)
{
    char *end;
    long major = strtol(v, &end, 10);
    if (end == v || *end != '.' || major < 0 || major > 99)
        return -1;
    const char *m = end + 1;
    long minor = strtol(m, &end, 10);
    if (end == m || minor < 0 || minor > 99)
        return -1;
    if (*end == '.') {
        m = end + 1;
        strtol(m, &end, 10);
        if (end == m)
            return -1;
    }
    if (*end && strncmp(end, "-IV", 3))
        return -1;
    return (int)(major * 100 + minor);
}

int gr_config_ibp(const gr_config_t *c)
{
    int v = c->inter_broker_protocol_version ? parse_version(c->inter_broker_protocol_version) : -1;
    return v < 0 ? 307 : v;
}

static bool in_choices(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && !strncmp(p, v, n))
            return true;
        if (!c)
            break;
        p = c + 1;
    }
    return false;
}

static int set_def(gr_config_t *c, const cfg_def_t *d, const char *value, char *err, size_t errlen)
{
    char *base = (char *)c + d->off;
    int64_t v;
    switch (d->type) {
    case T_INT:
    case T_LONG:
        if (parse_long(value, &v) < 0 || v < d->min || v > d->max) {
            snprintf(err, errlen, "Invalid value %s for configuration %s: must be an integer in [%" PRId64 ", %" PRId64 "]",
                     value, d->name, d->min, d->max);
            return GR_EINVAL;
        }
        if (d->type == T_INT)
            *(int32_t *)base = (int32_t)v;
        else
            *(int64_t *)base = v;
        return 0;
    case T_BOOL:
        if (!strcasecmp(value, "true"))
            *(bool *)base = true;
        else if (!strcasecmp(value, "false"))
            *(bool *)base = false;
        else {
            snprintf(err, errlen, "Invalid value %s for configuration %s: Expected value to be either true or false",
                     value, d->name);
            return GR_EINVAL;
        }
        return 0;
    case T_DOUBLE: {
        char *end;
        double dv = strtod(value, &end);
        if (!*value || *end || dv < (double)d->min || dv > (double)d->max) {
            snprintf(err, errlen, "Invalid value %s for configuration %s: must be a number in [%" PRId64 ", %" PRId64 "]",
                     value, d->name, d->min, d->max);
            return GR_EINVAL;
        }
        *(double *)base = dv;
        return 0;
    }
    case T_STRING:
        if (!strcmp(d->name, "inter.broker.protocol.version") && parse_version(value) < 0) {
            snprintf(err, errlen, "Invalid value %s for configuration %s: expected a Kafka version such as 2.0 or 3.7",
                     value, d->name);
            return GR_EINVAL;
        }
        if (d->choices && !in_choices(d->choices, value)) {
            snprintf(err, errlen, "Invalid value %s for configuration %s: String must be one of: %s", value,
                     d->name, d->choices);
            return GR_EINVAL;
        }
        free(*(char **)base);
        *(char **)base = gr_strdup(value);
        return 0;
    }
    return GR_EINVAL;
}

void gr_config_init(gr_config_t *c)
{
    memset(c, 0, sizeof(*c));
    char err[256];
    for (size_t i = 0; i < GR_ARRAY_LEN(defs); i++) {
        const cfg_def_t *d = &defs[i];
        if (d->dflt) {
            int rc = set_def(c, d, d->dflt, err, sizeof(err));
            (void)rc;
        } else if (d->type == T_LONG) {
            *(int64_t *)((char *)c + d->off) = GR_CFG_UNSET;
        }
    }
}

void gr_config_free(gr_config_t *c)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(defs); i++)
        if (defs[i].type == T_STRING) {
            char **p = (char **)((char *)c + defs[i].off);
            free(*p);
            *p = NULL;
        }
}

int gr_config_set(gr_config_t *c, const char *key, const char *value, char *err, size_t errlen)
{
    const cfg_def_t *d = find_def(key);
    if (!d) {
        snprintf(err, errlen, "Unknown configuration %s", key);
        return GR_ENOENT;
    }
    return set_def(c, d, value, err, errlen);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* One physical line: [*pp, end of line), '\r' before '\n' dropped. */
static char *next_line(char **pp)
{
    char *l = *pp;
    if (!*l)
        return NULL;
    char *nl = strchr(l, '\n');
    if (nl) {
        *nl = '\0';
        *pp = nl + 1;
    } else {
        *pp = l + strlen(l);
    }
    size_t n = strlen(l);
    if (n > 0 && l[n - 1] == '\r')
        l[n - 1] = '\0';
    return l;
}

/* A line ending in an odd number of backslashes continues on the next one. */
static bool continues(const char *l)
{
    size_t n = strlen(l), k = 0;
    while (k < n && l[n - 1 - k] == '\\')
        k++;
    return k % 2 == 1;
}

/*
 * Java properties as Kafka reads them: '#'/'!' comments, blank lines,
 * key and value separated by '=', ':' or whitespace (with optional spaces
 * around '='/':'), a trailing backslash joins the next line (its leading
 * whitespace dropped).  Errors name the first physical line of the entry.
 */
int gr_config_load_file(gr_config_t *c, const char *path, char *err, size_t errlen)
{
    char *buf = NULL;
    int rc = gr_file_read_all(path, &buf, NULL);
    if (rc < 0) {
        snprintf(err, errlen, "Cannot read %s: %s", path, strerror(-rc));
        return rc;
    }
    size_t cap = strlen(buf) + 1;
    char *logical = gr_malloc(cap);
    int lineno = 0;
    char *pos = buf, *line;
    while ((line = next_line(&pos)) != NULL) {
        int first = ++lineno;
        char *l = line;
        while (isspace((unsigned char)*l))
            l++;
        if (!*l || *l == '#' || *l == '!')
            continue;
        size_t len = 0;
        for (;;) {
            bool more = continues(l);
            size_t n = strlen(l) - (more ? 1 : 0);
            memcpy(logical + len, l, n);
            len += n;
            if (!more || (l = next_line(&pos)) == NULL)
                break;
            lineno++;
            while (isspace((unsigned char)*l))
                l++;
        }
        logical[len] = '\0';
        char *key = trim(logical);
        char *sep = key + strcspn(key, "=: \t\f");
        if (!*sep || sep == key) {
            snprintf(err, errlen, "%s: line %d: expected key=value", path, first);
            rc = GR_EINVAL;
            break;
        }
        bool had_sep = *sep == '=' || *sep == ':';
        *sep = '\0';
        char *val = sep + 1;
        while (*val == ' ' || *val == '\t' || *val == '\f')
            val++;
        if (!had_sep && (*val == '=' || *val == ':'))
            val++;
        val = trim(val);
        rc = gr_config_set(c, key, val, err, errlen);
        if (rc < 0)
            break;
    }
    free(logical);
    free(buf);
    return rc;
}

int64_t gr_config_retention_ms(const gr_config_t *c)
{
    int64_t v;
    if (c->log_retention_ms != GR_CFG_UNSET)
        v = c->log_retention_ms;
    else if (c->log_retention_minutes != GR_CFG_UNSET)
        v = c->log_retention_minutes == -1 ? -1 : c->log_retention_minutes * 60000;
    else
        v = c->log_retention_hours == -1 ? -1 : c->log_retention_hours * 3600000;
    return v < 0 ? -1 : v;
}

int64_t gr_config_roll_ms(const gr_config_t *c)
{
    if (c->log_roll_ms != GR_CFG_UNSET)
        return c->log_roll_ms;
    return c->log_roll_hours * 3600000;
}

int gr_config_foreach(const gr_config_t *c, void (*fn)(void *arg, const char *key, const char *value, bool is_default),
                      void *arg)
{
    char buf[32];
    for (size_t i = 0; i < GR_ARRAY_LEN(defs); i++) {
        const cfg_def_t *d = &defs[i];
        const char *base = (const char *)c + d->off;
        const char *v = NULL;
        switch (d->type) {
        case T_INT:
            snprintf(buf, sizeof(buf), "%" PRId32, *(const int32_t *)base);
            v = buf;
            break;
        case T_LONG:
            if (*(const int64_t *)base != GR_CFG_UNSET) {
                snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *)base);
                v = buf;
            }
            break;
        case T_BOOL:
            v = *(const bool *)base ? "true" : "false";
            break;
        case T_STRING:
            v = *(char *const *)base;
            break;
        case T_DOUBLE:
            snprintf(buf, sizeof(buf), "%g", *(const double *)base);
            v = buf;
            break;
        }
        bool is_default = v ? (d->dflt && !strcmp(v, d->dflt)) : !d->dflt;
        if (!v && gr_config_is_internal(d->name))
            continue;
        fn(arg, d->name, v, is_default);
    }
    return (int)GR_ARRAY_LEN(defs);
}

void gr_config_print_docs(FILE *out)
{
    fprintf(out, "| key | default | valid values | description |\n|---|---|---|---|\n");
    for (size_t i = 0; i < GR_ARRAY_LEN(defs); i++) {
        const cfg_def_t *d = &defs[i];
        char valid[128] = "";
        if (gr_config_is_internal(d->name))
            continue;
        if (d->choices)
            snprintf(valid, sizeof(valid), "%s", d->choices);
        else if (d->type == T_BOOL)
            snprintf(valid, sizeof(valid), "true, false");
        else if (d->type == T_DOUBLE)
            snprintf(valid, sizeof(valid), "[%" PRId64 ", %" PRId64 "]", d->min, d->max);
        else if (d->type == T_INT || d->type == T_LONG)
            snprintf(valid, sizeof(valid), "[%" PRId64 ", %s]", d->min,
                     d->max == L_MAX ? "2^63-1" : d->max == I_MAX ? "2^31-1" : "");
        if ((d->type == T_INT || d->type == T_LONG) && d->max != L_MAX && d->max != I_MAX)
            snprintf(valid, sizeof(valid), "[%" PRId64 ", %" PRId64 "]", d->min, d->max);
        fprintf(out, "| `%s`%s%s%s | %s | %s | %s |\n", d->name, d->alias ? " (alias `" : "",
                d->alias ? d->alias : "", d->alias ? "`)" : "", d->dflt ? (*d->dflt ? d->dflt : "\"\"") : "(unset)",
                valid, d->doc);
    }
    fprintf(out, "\nTopic-level configs (CreateTopics / IncrementalAlterConfigs; default = the first broker synonym "
                 "that is set):\n\n"
                 "| topic key | broker synonyms | description |\n|---|---|---|\n");
    for (int i = 0; i < gr_topic_config_count(); i++) {
        const gr_topic_config_def_t *t = gr_topic_config_at(i);
        if (gr_config_is_internal(t->name))
            continue;
        fprintf(out, "| `%s` | ", t->name);
        const char *sep = "";
        for (const cfg_def_t *d = find_def(t->broker_synonym); d; d = d->fallback ? find_def(d->fallback) : NULL) {
            fprintf(out, "%s`%s`", sep, d->name);
            sep = ", ";
        }
        fprintf(out, "%s | %s |\n", *sep ? "" : "-", t->doc);
    }
}

/* ------------------------------------------------------------ topic keys */

/* The broker synonyms log.cleanup.policy, compression.type and
 * min.insync.replicas are Kafka's; this broker has no such keys, so the
 * topic default stands for them. */
static const gr_topic_config_def_t topic_defs[] = {
    {"cleanup.policy", "log.cleanup.policy", GR_CT_LIST, 0, "delete, compact or compact,delete."},
    {"retention.ms", "log.retention.ms", GR_CT_LONG, -1, "Delete segments older than this; -1 = forever."},
    {"retention.bytes", "log.retention.bytes", GR_CT_LONG, -1, "Partition size limit for deletion; -1 = none."},
    {"segment.bytes", "log.segment.bytes", GR_CT_INT, 1048576, "Segment size before rolling (at least 1 MiB)."},
    {"internal.segment.bytes", "internal.log.segment.bytes", GR_CT_INT, 14,
     "Testing only (Kafka 4.0's internal key): replaces segment.bytes, without its 1 MiB floor."},
    {"segment.ms", "log.roll.ms", GR_CT_LONG, 1, "Segment age before rolling."},
    {"message.timestamp.type", "log.message.timestamp.type", GR_CT_STRING, 0, "CreateTime or LogAppendTime."},
    {"max.message.bytes", "message.max.bytes", GR_CT_INT, 0, "Largest record batch accepted."},
    {"flush.messages", "log.flush.interval.messages", GR_CT_LONG, 1, "fsync after this many messages."},
    {"flush.ms", "log.flush.interval.ms", GR_CT_LONG, 0, "fsync after this long."},
    {"index.interval.bytes", "log.index.interval.bytes", GR_CT_INT, 0, "Bytes between offset-index entries."},
    {"delete.retention.ms", "log.cleaner.delete.retention.ms", GR_CT_LONG, 0,
     "How long tombstones are kept in compacted topics."},
    {"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", GR_CT_LONG, 0,
     "Minimum age of a record before compaction may remove it."},
    {"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", GR_CT_DOUBLE, 0,
     "Dirty/total ratio that triggers cleaning."},
    {"compression.type", "compression.type", GR_CT_STRING, 0,
     "Accepted for compatibility; batches are stored as produced."},
    {"min.insync.replicas", "min.insync.replicas", GR_CT_INT, 1, "Single broker: accepted, always satisfied at 1."},
    {"message.downconversion.enable", "log.message.downconversion.enable", GR_CT_BOOLEAN, 0,
     "Down-convert for Fetch v0-3 clients (UNSUPPORTED_VERSION when false)."},
};

int gr_topic_config_count(void) { return (int)GR_ARRAY_LEN(topic_defs); }
const gr_topic_config_def_t *gr_topic_config_at(int i) { return &topic_defs[i]; }

const gr_topic_config_def_t *gr_topic_config_find(const char *name, size_t len)
{
    for (size_t i = 0; i < GR_ARRAY_LEN(topic_defs); i++)
        if (strlen(topic_defs[i].name) == len && !memcmp(topic_defs[i].name, name, len))
            return &topic_defs[i];
    return NULL;
}

void gr_topic_config_default(const gr_config_t *c, const gr_topic_config_def_t *d, char *out, size_t n)
{
    const char *k = d->name;
    if (!strcmp(k, "cleanup.policy"))
        snprintf(out, n, "delete");
    else if (!strcmp(k, "retention.ms"))
        snprintf(out, n, "%" PRId64, gr_config_retention_ms(c));
    else if (!strcmp(k, "retention.bytes"))
        snprintf(out, n, "%" PRId64, c->log_retention_bytes);
    else if (!strcmp(k, "segment.bytes") || !strcmp(k, "internal.segment.bytes"))
        snprintf(out, n, "%" PRId64, gr_config_segment_bytes(c));
    else if (!strcmp(k, "segment.ms"))
        snprintf(out, n, "%" PRId64, gr_config_roll_ms(c));
    else if (!strcmp(k, "message.timestamp.type"))
        snprintf(out, n, "%s", c->log_message_timestamp_type);
    else if (!strcmp(k, "max.message.bytes"))
        snprintf(out, n, "%" PRId32, c->message_max_bytes);
    else if (!strcmp(k, "flush.messages"))
        snprintf(out, n, "%" PRId64, c->log_flush_interval_messages);
    else if (!strcmp(k, "flush.ms"))
        snprintf(out, n, "%" PRId64, c->log_flush_interval_ms == GR_CFG_UNSET ? INT64_MAX : c->log_flush_interval_ms);
    else if (!strcmp(k, "index.interval.bytes"))
        snprintf(out, n, "%" PRId32, c->log_index_interval_bytes);
    else if (!strcmp(k, "delete.retention.ms"))
        snprintf(out, n, "%" PRId64, c->log_cleaner_delete_retention_ms);
    else if (!strcmp(k, "min.compaction.lag.ms"))
        snprintf(out, n, "%" PRId64, c->log_cleaner_min_compaction_lag_ms);
    else if (!strcmp(k, "min.cleanable.dirty.ratio"))
        snprintf(out, n, "%g", c->log_cleaner_min_cleanable_ratio);
    else if (!strcmp(k, "compression.type"))
        snprintf(out, n, "producer");
    else if (!strcmp(k, "min.insync.replicas"))
        snprintf(out, n, "1");
    else if (!strcmp(k, "message.downconversion.enable"))
        snprintf(out, n, "%s", c->log_message_downconversion_enable ? "true" : "false");
    else
        snprintf(out, n, "%s", "");
}

int gr_topic_config_validate(const gr_topic_config_def_t *d, const char *v, char *err, size_t n)
{
    const char *k = d->name;
    int64_t x;
    if (!strcmp(k, "cleanup.policy")) {
        if (!strcmp(v, "delete") || !strcmp(v, "compact") || !strcmp(v, "compact,delete") ||
            !strcmp(v, "delete,compact"))
            return 0;
        snprintf(err, n, "Invalid value %s for configuration cleanup.policy: String must be one of: compact, delete", v);
        return GR_EINVAL;
    }
    if (!strcmp(k, "message.timestamp.type")) {
        if (!strcmp(v, "CreateTime") || !strcmp(v, "LogAppendTime"))
            return 0;
        snprintf(err, n, "Invalid value %s for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime", v);
        return GR_EINVAL;
    }
    if (!strcmp(k, "compression.type")) {
        static const char *ok[] = {"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"};
        for (size_t i = 0; i < GR_ARRAY_LEN(ok); i++)
            if (!strcmp(v, ok[i]))
                return 0;
        snprintf(err, n, "Invalid value %s for configuration compression.type", v);
        return GR_EINVAL;
    }
    if (d->type == GR_CT_BOOLEAN) {
        if (!strcasecmp(v, "true") || !strcasecmp(v, "false"))
            return 0;
        snprintf(err, n, "Invalid value %s for configuration %s: Expected value to be either true or false", v, k);
        return GR_EINVAL;
    }
    if (!strcmp(k, "min.cleanable.dirty.ratio")) {
        char *end;
        double dv = strtod(v, &end);
        if (*v && !*end && dv >= 0 && dv <= 1)
            return 0;
        snprintf(err, n, "Invalid value %s for configuration min.cleanable.dirty.ratio: must be a number in [0, 1]", v);
        return GR_EINVAL;
    }
    if (parse_long(v, &x) < 0 || (d->type == GR_CT_INT && (x < INT32_MIN || x > INT32_MAX))) {
        snprintf(err, n, "Invalid value %s for configuration %s: Not a number of type %s", v, k,
                 d->type == GR_CT_INT ? "INT" : "LONG");
        return GR_EINVAL;
    }
    if (x < d->min) {
        snprintf(err, n, "Invalid value %s for configuration %s: must be an integer >= %" PRId64, v, k, d->min);
        return GR_EINVAL;
    }
    return 0;
}

/* An INT topic key as stored: a value a client could set before INT keys
 * were range-checked is clamped, never cut to its low 32 bits. */
static int32_t int_value(const char *v)
{
    long long x = atoll(v);
    return (int32_t)(x < INT32_MIN ? INT32_MIN : x > INT32_MAX ? INT32_MAX : x);
}

static const char *override_of(char *const *ov, const char *key)
{
    for (; ov && ov[0]; ov += 2)
        if (!strcmp(ov[0], key))
            return ov[1];
    return NULL;
}

bool gr_config_downconversion(const gr_config_t *c, char *const *ov)
{
    const char *v = override_of(ov, "message.downconversion.enable");
    return v ? !strcasecmp(v, "true") : c->log_message_downconversion_enable;
}

void gr_config_log_config(const gr_config_t *c, char *const *ov, gr_log_config_t *o)
{
    const char *v;
    o->segment_bytes = (v = override_of(ov, "internal.segment.bytes")) ? int_value(v)
                       : (v = override_of(ov, "segment.bytes"))        ? int_value(v)
                                                                       : gr_config_segment_bytes(c);
    o->segment_ms = (v = override_of(ov, "segment.ms")) ? atoll(v) : gr_config_roll_ms(c);
    o->retention_ms = (v = override_of(ov, "retention.ms")) ? atoll(v) : gr_config_retention_ms(c);
    o->retention_bytes = (v = override_of(ov, "retention.bytes")) ? atoll(v) : c->log_retention_bytes;
    o->index_interval_bytes = (v = override_of(ov, "index.interval.bytes")) ? int_value(v) : c->log_index_interval_bytes;
    o->flush_messages = (v = override_of(ov, "flush.messages")) ? atoll(v) : c->log_flush_interval_messages;
    o->flush_ms = (v = override_of(ov, "flush.ms")) ? atoll(v)
                  : c->log_flush_interval_ms == GR_CFG_UNSET ? INT64_MAX : c->log_flush_interval_ms;
    o->max_message_bytes = (v = override_of(ov, "max.message.bytes")) ? int_value(v) : c->message_max_bytes;
    const char *tt = (v = override_of(ov, "message.timestamp.type")) ? v : c->log_message_timestamp_type;
    o->log_append_time = !strcmp(tt, "LogAppendTime");
    const char *cp = (v = override_of(ov, "cleanup.policy")) ? v : "delete";
    o->compact = strstr(cp, "compact") != NULL;
    o->delete_retention_ms = (v = override_of(ov, "delete.retention.ms")) ? atoll(v) : c->log_cleaner_delete_retention_ms;
    o->min_compaction_lag_ms = (v = override_of(ov, "min.compaction.lag.ms")) ? atoll(v)
                                                                              : c->log_cleaner_min_compaction_lag_ms;
    o->min_cleanable_ratio = (v = override_of(ov, "min.cleanable.dirty.ratio")) ? atof(v)
                                                                                 : c->log_cleaner_min_cleanable_ratio;
    o->delete_ = strstr(cp, "delete") != NULL;
}

int gr_topic_config_internal_check(const gr_config_t *c, const char *topic, char *const *ov, const char **key,
                                   char *err, size_t n)
{
    const char *v = override_of(ov, "cleanup.policy");
    if (!v || strcmp(v, "compact")) {
        *key = "cleanup.policy";
        snprintf(err, n, "cleanup.policy of internal topic %s must stay compact: %s would let retention delete %s",
                 topic, v ? v : "the default (delete)",
                 !strcmp(topic, "__consumer_offsets")    ? "its committed offsets and group metadata"
                 : !strcmp(topic, "__transaction_state") ? "the state of its transactions"
                                                         : "its coordinator's state");
        return GR_EINVAL;
    }
    int64_t mmb;
    v = override_of(ov, "max.message.bytes");
    if (v && (parse_long(v, &mmb) < 0 || mmb < c->message_max_bytes)) {
        *key = "max.message.bytes";
        snprintf(err, n, "max.message.bytes of internal topic %s may not be below message.max.bytes (%" PRId32
                 "): its coordinator's records would be refused", topic, c->message_max_bytes);
        return GR_EINVAL;
    }
    return 0;
}

const char *gr_topic_config_internal_value(const char *key)
{
    return !strcmp(key, "cleanup.policy") ? "compact" : NULL;
}

void gr_config_protect_internal(const gr_config_t *c, gr_log_config_t *o)
{
    o->compact = true;
    o->delete_ = false;
    if (o->max_message_bytes < c->message_max_bytes)
        o->max_message_bytes = c->message_max_bytes;
}
