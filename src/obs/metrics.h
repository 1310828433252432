/*
 * metrics.h - what the broker counts about itself, for /metrics (metrics.c
 * writes the Prometheus text) and the web console.
 *
 * The call sites are single lines in the subsystems (gr_metrics_*): plain
 * increments of loop-thread counters, no locks, no allocation after the
 * first use of an API version.  The two exceptions run on helper threads
 * (fsync latency, storage errors, from fio.c) and use relaxed atomics.
 */
#ifndef GR_METRICS_H
#define GR_METRICS_H

#include "api.h"
#include "buf.h"
#include "group.h"
#include "topic.h"

#include <stddef.h>
#include <stdint.h>

/* The version the console and gregor_build_info report. */
#define GR_VERSION "0.9.0"

/* Latency buckets (upper bounds, microseconds) shared by every histogram;
 * exported in seconds. */
#define GR_METRICS_NBUCKETS 16
typedef struct gr_hist {
    uint64_t b[GR_METRICS_NBUCKETS + 1];   /* the last one is +Inf */
    uint64_t count;
    uint64_t sum_us;
} gr_hist_t;
void gr_hist_observe(gr_hist_t *h, int64_t us);

/* ---- call sites ---- */

/* net.c: a request frame was read (bytes with its size field) / its answer
 * is complete (DONE or NORESP): latency from its receipt. */
void gr_metrics_request_in(int16_t key, int16_t version, size_t bytes);
void gr_metrics_request_done(const gr_req_t *req);
/* net.c: a request's handler returned without answering (parked: a Fetch
 * long poll, a JoinGroup) / it left that state. */
void gr_metrics_parked(int16_t key, int delta);

/* api_produce.c: records appended to p by a client, with the time the
 * append took (t0 from gr_metrics_clock()). */
int64_t gr_metrics_clock(void);
void gr_metrics_produce(gr_partition_t *p, int32_t records, size_t bytes, int64_t t0_us);
/* api_fetch.c: a Fetch response is sent: its record bytes per topic. */
struct gr_FetchResponse;
void gr_metrics_fetch_response(const struct gr_FetchResponse *resp);

/* fio.c (any thread): an fsync/fdatasync took us; a storage operation
 * failed. */
void gr_metrics_fsync(int64_t us);
void gr_metrics_storage_error(void);

/* group.c: a rebalance completed (trigger, how long it took). */
void gr_metrics_rebalance(gr_rebalance_trigger_t trigger, int64_t duration_ms);

/* coord.c: one partition of a commit landed (from = -1: no offset before),
 * then the end of that commit.  Feeds the lag windows (lag.h) and, for a
 * commit made while the group had no members, its last reset (undo). */
void gr_metrics_commit(gr_group_t *g, const char *topic, int32_t partition, int64_t from, int64_t to,
                       int64_t now_ms);
void gr_metrics_commit_end(gr_group_t *g, int64_t now_ms);

/* ---- readers ---- */

typedef struct gr_metrics_totals {
    uint64_t requests, request_bytes, response_bytes;
    uint64_t produce_records, produce_bytes, fetch_bytes;
    uint64_t commits, rebalances, storage_errors;
    int64_t parked_fetches, parked_total;
} gr_metrics_totals_t;
void gr_metrics_totals(gr_metrics_totals_t *t);
/* Latency of all requests of one API key (all versions), merged. */
void gr_metrics_api_latency(int16_t key, gr_hist_t *out);

/* A Prometheus text exposition, produced a piece at a time: each call
 * appends the next piece (a few KiB at most) to out and returns false once
 * everything is written.  The topics and groups are named in a list taken
 * at the start, so topics and groups that come or go meanwhile are never
 * written twice. */
typedef struct gr_metrics_stream gr_metrics_stream_t;
gr_metrics_stream_t *gr_metrics_stream_new(void);
bool gr_metrics_stream_next(gr_metrics_stream_t *s, gr_buf_t *out);
void gr_metrics_stream_free(gr_metrics_stream_t *s);
/* Bytes the stream holds (its name lists), for the HTTP memory account. */
size_t gr_metrics_stream_bytes(const gr_metrics_stream_t *s);

#endif
