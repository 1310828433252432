/*
 * api.h - requests and responses as handlers see them, and the dispatch
 * table.
 *
 * net.c frames a request, decodes its header and calls the handler for
 * its API key (api.c's dispatch table) with a reader positioned at the body.  The handler decodes
 * the body with the generated codec (schema_gen.h), does the work, and
 * answers with gr_resp_begin() / <Msg>_encode() / gr_resp_end().  A handler
 * that must wait (Fetch long poll, JoinGroup) keeps the gr_req_t and
 * answers later; it must copy anything it needs from the decoded request,
 * because the request bytes live only until the handler returns.  If the
 * connection closes first, req->on_cancel runs and the parker lets go.
 *
 * Responses leave each connection in request order, whatever order the
 * handlers finish in.
 */
#ifndef GR_API_H
#define GR_API_H

#include "arena.h"
#include "kerr.h"
#include "serr.h"
#include "wire.h"

#include <stdbool.h>
#include <stdint.h>

struct gr_conn;

typedef enum gr_req_state {
    GR_REQ_PENDING,     /* handler running or parked */
    GR_REQ_DONE,        /* response framed in req->out */
    GR_REQ_NORESP,      /* no response at all (Produce acks=0) */
} gr_req_state_t;

typedef struct gr_req gr_req_t;
typedef void gr_req_cancel_cb(gr_req_t *req);

struct gr_req {
    struct gr_conn *conn;        /* owner; NULL once the connection is gone */
    gr_req_t *next;              /* connection's in-order queue */
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    bool flexible;               /* request header v2 / response header v1 */
    const char *client_id;       /* held form (jstr.h) in arena, "" if null */
    gr_req_state_t state;
    gr_arena_t arena;            /* scratch memory, freed with the request */
    gr_wr_t out;                 /* framed response once DONE */
    gr_wpos_t size_pos;          /* frame length to patch */
    int64_t recv_us;             /* monotonic receive time */
    gr_req_cancel_cb *on_cancel; /* set by a parking handler */
    void *park;                  /* parking handler's state */
    uint64_t work;               /* work the handler did (bytes decompressed),
                                  * for net.c's bound per loop turn */
    size_t charge;               /* net.c: bytes charged to the connection */
    bool done_counted;           /* net.c: counted as a queued response */
    bool parked;                 /* net.c: counted as parked (metrics.h) */
};

/* Handler: body is the request after its header. */
typedef void gr_api_handler_t(gr_req_t *req, gr_rd_t *body);

typedef struct gr_api_def {
    int16_t key;
    int16_t min_version;         /* advertised range (always 0 for a served API) */
    int16_t max_version;
    gr_api_handler_t *handler;   /* NULL = not served */
    int16_t flex_min;            /* first flexible version (request header v2) */
    const char *name;            /* Kafka's name, for log lines: "Produce" */
} gr_api_def_t;

#define GR_API_VERSIONS_KEY 18

/* Served APIs, indexed by API key (NULL handler = not served). */
const gr_api_def_t *gr_api_lookup(int16_t key);
/* Serve the API `key` with h instead; returns the handler it replaces
 * (NULL, and nothing changed, for a key not in the table).  For tests that drive the connection layer with
 * handlers of their own. */
gr_api_handler_t *gr_api_set_handler(int16_t key, gr_api_handler_t *h);
int gr_api_count(void);
const gr_api_def_t *gr_api_at(int i);

/* Start the response: writes the frame length placeholder and response
 * header (v1 with tagged fields for flexible requests, except ApiVersions
 * which always answers with header v0).  Encode the body into the returned
 * writer, then call gr_resp_end(). */
gr_wr_t *gr_resp_begin(gr_req_t *req);
void gr_resp_end(gr_req_t *req);
/* Complete with no response (Produce acks=0). */
void gr_resp_none(gr_req_t *req);
/* The request was malformed: log one line naming the peer and API, close
 * the connection.  The handler must return right after. */
void gr_req_bad(gr_req_t *req, const char *why);

/* KIP-511: answer an ApiVersions request of a version we do not serve
 * with a v0 body (UNSUPPORTED_VERSION + our ranges) and response header v0,
 * so the client can retry with a version from the list. */
void gr_api_versions_unsupported(gr_req_t *req);

/* The client's address as Kafka prints it (InetAddress.toString,
 * "/127.0.0.1"), in the request's arena. */
const char *gr_req_client_host(gr_req_t *req);

/* Peer address of a request's connection ("127.0.0.1:40312"), "-" if gone. */
const char *gr_req_peer(const gr_req_t *req);

/* Ids and other strings that Kafka reads as Java Strings (group, member,
 * instance and client ids, protocol names, offset metadata, reasons) are
 * kept in the held form of jstr.h: canonical, NUL-free, compared with
 * strcmp.  gr_req_held: a wire string in held form, copied into the
 * request's arena (NULL for a null string).  gr_req_wire: a held string as
 * the wire bytes of a response (Kafka's re-encoding): s itself unless it
 * holds a NUL, then an arena copy; a null string for NULL. */
const char *gr_req_held(gr_req_t *req, gr_str_t s);
gr_str_t gr_req_wire(gr_req_t *req, const char *held);

/* A formatted message in the request's arena, as a wire string (error
 * messages of responses). */
gr_str_t gr_req_printf(gr_req_t *req, const char *fmt, ...) GR_PRINTF(2, 3);

/* What a client is told of a storage error (serr.h): the one mapping from
 * storage's errors to Kafka error codes. */
gr_kerr_t gr_api_serr_kerr(gr_serr_t e);

/* Handlers (api_*.c) */
gr_api_handler_t gr_api_produce, gr_api_fetch, gr_api_list_offsets, gr_api_metadata,
    gr_api_api_versions, gr_api_create_topics, gr_api_delete_topics, gr_api_create_partitions,
    gr_api_describe_configs, gr_api_incremental_alter_configs, gr_api_describe_cluster, gr_api_init_producer_id;
gr_api_handler_t gr_api_find_coordinator, gr_api_join_group, gr_api_heartbeat, gr_api_leave_group,
    gr_api_sync_group, gr_api_describe_groups, gr_api_list_groups, gr_api_delete_groups;
gr_api_handler_t gr_api_offset_commit, gr_api_offset_fetch, gr_api_offset_delete;
gr_api_handler_t gr_api_alter_configs, gr_api_elect_leaders, gr_api_alter_partition_reassignments,
    gr_api_list_partition_reassignments;
gr_api_handler_t gr_api_describe_log_dirs, gr_api_alter_replica_log_dirs;
gr_api_handler_t gr_api_offset_for_leader_epoch, gr_api_describe_topic_partitions;
gr_api_handler_t gr_api_get_telemetry_subscriptions, gr_api_push_telemetry, gr_api_list_client_metrics_resources;
gr_api_handler_t gr_api_update_features;
gr_api_handler_t gr_api_add_partitions_to_txn, gr_api_add_offsets_to_txn, gr_api_end_txn, gr_api_write_txn_markers,
    gr_api_txn_offset_commit, gr_api_describe_transactions, gr_api_list_transactions, gr_api_delete_records,
    gr_api_describe_producers;
gr_api_handler_t gr_api_consumer_group_heartbeat, gr_api_consumer_group_describe;

#endif
