/*
 * config.h - broker configuration: one table of keys (config.c) drives the
 * server.properties parser, --override, validation and the generated docs.
 * Keys are Kafka's.  Topic-level keys (retention.ms, ...) and their broker
 * synonyms live in the same file.
 */
#ifndef GR_CONFIG_H
#define GR_CONFIG_H

#include "gr.h"
#include "log.h"

#include <stdint.h>
#include <stdio.h>

#define GR_CFG_UNSET INT64_MIN

/* queued.max.request.bytes when not set (256 MiB); config.c's table spells
 * the same number. */
#define GR_QUEUED_MAX_REQUEST_BYTES_DEFAULT 268435456
/* producer.state.max.entries: about 200 MiB of producer state at most */
#define GR_PRODUCER_STATE_MAX_ENTRIES_DEFAULT 1000000

typedef struct gr_config {
    int32_t node_id;
    char *listeners;                    /* PLAINTEXT://host:port */
    char *advertised_listeners;         /* "" = same as listeners */
    char *log_dirs;                     /* comma-separated */
    int32_t num_partitions;
    int32_t default_replication_factor;
    bool auto_create_topics_enable;
    int64_t log_segment_bytes;
    int64_t internal_log_segment_bytes; /* testing only: UNSET, or replaces
                                           log.segment.bytes without its floor */
    int64_t log_roll_ms;                /* UNSET -> log_roll_hours */
    int64_t log_roll_hours;
    int64_t log_retention_ms;           /* UNSET -> minutes -> hours */
    int64_t log_retention_minutes;
    int64_t log_retention_hours;
    int64_t log_retention_bytes;
    int64_t log_retention_check_interval_ms;
    int32_t log_index_interval_bytes;
    int64_t log_flush_interval_messages;
    int64_t log_flush_interval_ms;      /* UNSET -> never (Kafka: log.flush.scheduler) */
    int32_t message_max_bytes;
    int32_t socket_request_max_bytes;
    int64_t connections_max_idle_ms;
    int32_t request_timeout_ms;         /* caps Fetch MaxWaitMs; a request must
                                           arrive within it once it started */
    int32_t max_connections;
    int32_t log_open_files_max;         /* -1 = a quarter of the descriptor budget */
    int64_t queued_max_request_bytes;   /* broker-wide memory budget; -1 = none */
    int32_t queued_max_requests;
    int32_t max_incremental_fetch_session_cache_slots;  /* KIP-227 sessions; 0 = none */
    int64_t replica_alter_log_dirs_io_max_bytes_per_second;  /* partition moves' copy rate */
    char *log_message_timestamp_type;   /* CreateTime | LogAppendTime */
    bool log_message_downconversion_enable;  /* Fetch v0-3 get magic 0/1 */

    char *inter_broker_protocol_version;  /* record versions written, as Kafka's IBP */

    /* group coordinator and offsets */
    int64_t group_initial_rebalance_delay_ms;
    int32_t group_min_session_timeout_ms;
    int32_t group_max_session_timeout_ms;
    int32_t group_max_rebalance_timeout_ms;  /* the cap on a member's RebalanceTimeoutMs */
    int32_t group_max_size;
    int64_t group_history_max_bytes;    /* all groups' history entries together */
    /* consumer groups (KIP-848) */
    int32_t group_consumer_session_timeout_ms;
    int32_t group_consumer_min_session_timeout_ms;
    int32_t group_consumer_max_session_timeout_ms;
    int32_t group_consumer_heartbeat_interval_ms;
    int32_t group_consumer_min_heartbeat_interval_ms;
    int32_t group_consumer_max_heartbeat_interval_ms;
    int32_t group_consumer_max_size;
    char *group_consumer_assignors;     /* "uniform,range": the first is the default */
    char *group_consumer_migration_policy;  /* disabled | upgrade | downgrade | bidirectional */
    int32_t offsets_topic_num_partitions;
    int64_t offsets_topic_segment_bytes;
    int64_t offsets_retention_minutes;
    int64_t offsets_retention_check_interval_ms;
    int32_t offset_metadata_max_bytes;
    int64_t offsets_load_buffer_size;

    /* producers (idempotence, transactions) */
    int32_t producer_id_expiration_ms;
    int32_t producer_id_expiration_check_interval_ms;
    int64_t producer_state_max_entries; /* broker-wide; -1 = no bound */
    int32_t transaction_max_timeout_ms;
    int32_t transaction_state_log_num_partitions;
    int64_t transaction_state_log_segment_bytes;
    int32_t transaction_state_log_replication_factor;   /* accepted; one broker */
    int32_t transaction_state_log_min_isr;              /* accepted; one broker */
    int32_t transaction_state_log_load_buffer_size;
    int32_t transactional_id_expiration_ms;
    int32_t transaction_abort_timed_out_transaction_cleanup_interval_ms;
    int32_t transaction_remove_expired_transaction_cleanup_interval_ms;
    bool transaction_partition_verification_enable;

    /* log cleaner (compaction) */
    bool log_cleaner_enable;
    int64_t log_cleaner_backoff_ms;
    double log_cleaner_min_cleanable_ratio;
    int64_t log_cleaner_delete_retention_ms;
    int64_t log_cleaner_min_compaction_lag_ms;

    /* observability (http.c, lag.c) */
    char *http_listeners;               /* http://host:port, "" = off */
    bool http_console_write_enable;
    int32_t http_max_connections;
    int32_t http_connection_timeout_ms;
    int32_t lag_window_intervals;
    int64_t lag_window_min_distance_ms;
    int64_t lag_window_recent_ms;
    int64_t lag_window_expire_group_ms;
    int64_t lag_window_max_partitions;
    char *lag_burrow_cluster;
} gr_config_t;

/* Fill defaults. */
void gr_config_init(gr_config_t *c);
void gr_config_free(gr_config_t *c);
/* Set one key from text.  Returns 0, or GR_ENOENT (unknown key) /
 * GR_EINVAL (bad value) with a one-line message in err. */
int gr_config_set(gr_config_t *c, const char *key, const char *value, char *err, size_t errlen);
/* Parse a server.properties file (Java properties subset: key=value or
 * key:value, # and ! comments, leading/trailing blanks trimmed). */
int gr_config_load_file(gr_config_t *c, const char *path, char *err, size_t errlen);
/* Effective values after synonyms. */
int64_t gr_config_retention_ms(const gr_config_t *c);
int64_t gr_config_segment_bytes(const gr_config_t *c);   /* internal.log.segment.bytes or log.segment.bytes */
int64_t gr_config_roll_ms(const gr_config_t *c);
/* Kafka's ConfigDef.Type, the ConfigType that DescribeConfigs v3+ reports. */
typedef enum {
    GR_CT_UNKNOWN = 0,
    GR_CT_BOOLEAN = 1,
    GR_CT_STRING = 2,
    GR_CT_INT = 3,
    GR_CT_SHORT = 4,
    GR_CT_LONG = 5,
    GR_CT_DOUBLE = 6,
    GR_CT_LIST = 7,
} gr_config_type_t;

/* internal.* keys (broker or topic) are for tests: undocumented, and
 * described only when set. */
bool gr_config_is_internal(const char *key);
/* Kafka's type of broker key `key` (GR_CT_UNKNOWN for an unknown key). */
gr_config_type_t gr_config_key_type(const char *key);
/* The broker key whose value applies while `key` is unset (log.retention.ms
 * -> log.retention.minutes -> log.retention.hours), or NULL.  Following the
 * chain from a key gives Kafka's synonyms of it, in Kafka's order. */
const char *gr_config_key_fallback(const char *key);
/* Call fn for every broker key in table order with its current value as
 * text (NULL when unset) and whether that value is the built-in default;
 * internal (testing-only) keys only when they are set.
 * The strings are valid only during the call.  Returns the number of keys. */
int gr_config_foreach(const gr_config_t *c, void (*fn)(void *arg, const char *key, const char *value, bool is_default),
                      void *arg);
/* inter.broker.protocol.version as major*100+minor (3.7 -> 307). */
int gr_config_ibp(const gr_config_t *c);
/* Print the reference as a Markdown table. */
void gr_config_print_docs(FILE *out);

/* ---- topic-level configs ----
 * Each topic key has a broker synonym whose value (or, while unset, that of
 * its fallback chain) is the default. */
typedef struct gr_topic_config_def {
    const char *name;               /* retention.ms */
    const char *broker_synonym;     /* log.retention.ms: Kafka's name, which
                                       may not be a key of this broker */
    gr_config_type_t type;          /* Kafka's type of the topic key */
    int64_t min;                    /* smallest value of an INT or LONG key */
    const char *doc;
} gr_topic_config_def_t;

int gr_topic_config_count(void);
const gr_topic_config_def_t *gr_topic_config_at(int i);
const gr_topic_config_def_t *gr_topic_config_find(const char *name, size_t len);
/* Broker default for a topic key, as text (static buffer per call site ok). */
void gr_topic_config_default(const gr_config_t *c, const gr_topic_config_def_t *d, char *out, size_t outlen);
/* Validate a topic config value: 0 or GR_EINVAL with a message. */
int gr_topic_config_validate(const gr_topic_config_def_t *d, const char *value, char *err, size_t errlen);

/* message.downconversion.enable of a topic with overrides ov (else the
 * broker's log.message.downconversion.enable). */
bool gr_config_downconversion(const gr_config_t *c, char *const *overrides);

/* Build the effective log config from broker defaults plus topic
 * overrides (a NULL-terminated list of key, value pairs). */
void gr_config_log_config(const gr_config_t *c, char *const *overrides, gr_log_config_t *out);

/* ---- internal topics (__consumer_offsets) ----
 * Their segments hold state that must outlive any retention (committed
 * offsets, group metadata), written by the broker's coordinator.  The
 * overrides of an internal topic may not make retention delete it
 * (cleanup.policy must be "compact") nor make the coordinator's writes
 * fail (max.message.bytes below message.max.bytes).
 * Are the overrides `ov` (key, value, ..., NULL) of internal topic `topic`
 * acceptable?  0, or GR_EINVAL with a message and *key = the first key at
 * fault. */
int gr_topic_config_internal_check(const gr_config_t *c, const char *topic, char *const *ov, const char **key,
                                   char *err, size_t errlen);
/* The override to put in place of `key` when that check refused it
 * (NULL: none, the default is safe). */
const char *gr_topic_config_internal_value(const char *key);
/* Enforce the same on an effective log config, whatever the overrides say:
 * compacted, never deleted by retention, max.message.bytes at least
 * message.max.bytes. */
void gr_config_protect_internal(const gr_config_t *c, gr_log_config_t *o);

#endif
