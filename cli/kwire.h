/*
 * kwire.h - a small blocking Kafka-protocol client for the admin calls
 * librdkafka 2.0.2 does not have (ListTransactions, DescribeTransactions,
 * DescribeProducers, WriteTxnMarkers), and for reading record batch
 * headers (producer id, transactional and control flags, which librdkafka
 * hides) in `consumer-groups --history`, and for the consumer groups of
 * KIP-848 (ListGroups v5, ConsumerGroupDescribe; cg_modern.c).
 *
 * Why not the broker's generated codec (src/proto/schema_gen.c): the CLI shares
 * no protocol code with the broker on purpose - a client written from the
 * message specs, not from the code under test, is what checks the broker's
 * encoding (a bug shared by both sides would pass unnoticed).  The handful
 * of messages here are encoded by hand from Kafka's JSON specs; each
 * function below names its API and version.
 *
 * Scope: PLAINTEXT connections only (cli_kw_open refuses a --command-config
 * whose security.protocol is anything else); one request in flight per
 * connection; every read bounded by the request timeout; responses are
 * parsed defensively (lengths checked against the frame, counts bounded by
 * what the frame can hold).  Errors: functions return -1 (or NULL) after
 * writing a message into the connection's err buffer; nothing is printed.
 */
#ifndef GR_CLI_KWIRE_H
#define GR_CLI_KWIRE_H

#include "cli.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- buffers ---- */

typedef struct kw_buf {
    uint8_t *p;
    size_t n, cap;
} kw_buf_t;

void kw_i8(kw_buf_t *b, int8_t v);
void kw_i16(kw_buf_t *b, int16_t v);
void kw_i32(kw_buf_t *b, int32_t v);
void kw_i64(kw_buf_t *b, int64_t v);
void kw_uvarint(kw_buf_t *b, uint64_t v);
/* string: compact (flexible versions) or int16 length; s NULL = null */
void kw_str(kw_buf_t *b, bool compact, const char *s);
/* array length: compact (n + 1 as uvarint, -1 = null) or int32 */
void kw_arr(kw_buf_t *b, bool compact, int32_t n);
void kw_tags(kw_buf_t *b, bool compact);   /* empty tagged fields when compact */

/* A reader over a response.  Any read past the end sets bad and returns 0. */
typedef struct kw_rd {
    const uint8_t *p, *end;
    bool bad;
} kw_rd_t;

/* false (and bad set) unless n more bytes are there */
bool kw_rneed(kw_rd_t *r, size_t n);
int64_t kw_rint(kw_rd_t *r, int bytes);          /* big-endian int8/16/32/64, sign-extended */
uint64_t kw_ruvarint(kw_rd_t *r);
/* string into a malloc'ed NUL-terminated copy in held form (jstr.h);
 * NULL for null and after an error */
char *kw_rstr(kw_rd_t *r, bool compact);
/* array length, -1 for null; bounded: more elements than bytes left
 * (each at least min_elem bytes) marks the reader bad */
int32_t kw_rarr(kw_rd_t *r, bool compact, size_t min_elem);
/* bytes field (int32 length or compact): pointer into the frame */
void kw_rbytes(kw_rd_t *r, bool compact, const uint8_t **p, int32_t *len);
void kw_rtags(kw_rd_t *r, bool compact);         /* skip tagged fields */

/* ---- connections ---- */

#define KW_MAX_API 128

typedef struct kw_conn {
    int fd;
    int node_id;                 /* -1 for a bootstrap connection */
    char *host;
    int port;
    int32_t corr;
    int timeout_ms;
    int16_t vmin[KW_MAX_API], vmax[KW_MAX_API];   /* -1: not served */
    kw_buf_t resp;               /* last response frame (after the length) */
    char err[512];
} kw_conn_t;

/* A broker of the cluster (Metadata). */
typedef struct kw_broker {
    int32_t id;
    char *host;
    int32_t port;
} kw_broker_t;

typedef struct kw_part {
    int32_t id, leader;
    int16_t err;
    int32_t *replicas;
    int nreplicas;
} kw_part_t;

typedef struct kw_topic {
    char *name;                  /* held form */
    int16_t err;
    bool internal;
    kw_part_t *parts;
    int nparts;
} kw_topic_t;

typedef struct kw_meta {
    kw_broker_t *brokers;
    int nbrokers;
    kw_topic_t *topics;
    int ntopics;
} kw_meta_t;

/* The client: options of the command, the bootstrap connection and one
 * connection per broker opened on demand. */
typedef struct kw {
    int timeout_ms;
    const char *client_id;
    kw_conn_t *boot;
    kw_conn_t **conns;
    int nconns;
    kw_meta_t md;                /* from the last kw_metadata */
    char err[600];
} kw_t;

/* Connect to the first reachable server of --bootstrap-server and ask its
 * API versions.  -1 after a message in k->err. */
int kw_open(kw_t *k, const cli_opts_t *o);
void kw_close(kw_t *k);
/* The connection to broker id (opened and versioned on first use), NULL
 * after a message in k->err.  Needs a kw_metadata() that listed it. */
kw_conn_t *kw_node(kw_t *k, int32_t id);

/* The version to use of api: the highest of [lo, hi] the broker serves, -1
 * when none (message in c->err). */
int kw_version(kw_conn_t *c, int api, int lo, int hi);

/* Send the request body (after the header) of api/version, wait for its
 * response: the reader r spans the response body (after the response
 * header).  -1 after a message in c->err. */
int kw_call(kw_conn_t *c, int api, int version, const kw_buf_t *body, kw_rd_t *r);

/* Metadata v9..v12 of the given topics (NULL, 0: all topics) into k->md. */
int kw_metadata(kw_t *k, const char *const *topics, int ntopics);
void kw_meta_free(kw_meta_t *m);
const kw_topic_t *kw_meta_topic(const kw_meta_t *m, const char *topic);
/* A broker of m (NULL when not there): the coordinator kw_find_coordinator
 * named, or one of kw_metadata's. */
const kw_broker_t *kw_meta_broker(const kw_meta_t *m, int32_t id);

/* FindCoordinator (v4, batched) of a transactional id (key type 1) or
 * group (0): the coordinator's node id, or -1 with a message in k->err
 * (*kerr: the Kafka error code when the broker answered one, else 0). */
int32_t kw_find_coordinator(kw_t *k, int8_t key_type, const char *key, int16_t *kerr);

/* Kafka's message for an error code (Errors.java's for the codes these
 * calls meet, else librdkafka's table, whose codes are Kafka's). */
const char *kw_errstr(int16_t code);

#endif
