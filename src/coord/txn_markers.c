/*
 * txn_markers.c - transaction markers on this broker's partitions (see
 * txn_markers.h).  Kafka's handleWriteTxnMarkersRequest with the replica
 * manager's appendRecords (acks -1, origin COORDINATOR) for one partition:
 * on a single broker an append is replicated once it is written, so the
 * marker completes when the log took it, or when the flush the policy asks
 * for is done.  Completions go through a queue run by a zero-delay timer,
 * so a caller never sees its callback inside its own call.
 */
#include "txn_markers.h"

#include "api.h"
#include "batch.h"
#include "broker.h"
#include "coord.h"
#include "topic.h"

#include <stdlib.h>
#include <string.h>

typedef struct done {
    struct done *next;
    gr_txn_marker_cb *cb;
    void *arg;
    gr_kerr_t err;
} done_t;

static struct {
    done_t *head, *tail;
    gr_timer_t timer;
    bool timer_init;
} M;

static void run_queue(gr_ev_t *ev, void *arg)
{
    GR_UNUSED(ev);
    GR_UNUSED(arg);
    while (M.head) {
        done_t *d = M.head;
        M.head = d->next;
        if (!M.head)
            M.tail = NULL;
        d->cb(d->arg, d->err);
        free(d);
    }
}

static void complete_later(gr_txn_marker_cb *cb, void *arg, gr_kerr_t err)
{
    done_t *d = gr_calloc(1, sizeof(*d));
    d->cb = cb;
    d->arg = arg;
    d->err = err;
    if (M.tail)
        M.tail->next = d;
    else
        M.head = d;
    M.tail = d;
    if (!M.timer_init) {
        gr_timer_init(&M.timer, run_queue, NULL);
        M.timer_init = true;
    }
    if (!gr_timer_armed(&M.timer))
        gr_timer_start(gr_broker.ev, &M.timer, 0);
}

void gr_txn_markers_drain(void)
{
    if (M.timer_init && gr_timer_armed(&M.timer))
        gr_timer_stop(gr_broker.ev, &M.timer);
    run_queue(NULL, NULL);
}

typedef struct flushing {
    gr_txn_marker_cb *cb;
    void *arg;
} flushing_t;

static void flushed(void *arg, int rc)
{
    flushing_t *f = arg;
    /* a flush may complete inside gr_log_flush: through the queue */
    complete_later(f->cb, f->arg, rc < 0 ? KERR_KAFKA_STORAGE_ERROR : KERR_NONE);
    free(f);
}

void gr_txn_marker_write(const char *topic, size_t tlen, int32_t partition, int64_t producer_id,
                         int16_t producer_epoch, int32_t coordinator_epoch, bool commit, gr_txn_marker_cb *cb,
                         void *arg)
{
    gr_topic_t *t = tlen > 0 ? gr_topic_find(topic, tlen) : NULL;
    gr_partition_t *p = t ? gr_partition_get(t, partition) : NULL;
    if (!p) {
        complete_later(cb, arg, KERR_UNKNOWN_TOPIC_OR_PARTITION);
        return;
    }
    if (tlen == sizeof(GR_OFFSETS_TOPIC) - 1 && !memcmp(topic, GR_OFFSETS_TOPIC, tlen)) {
        /* the group coordinator writes it and commits the pending offsets */
        gr_coord_complete_txn(partition, producer_id, producer_epoch, coordinator_epoch, commit, cb, arg);
        return;
    }
    size_t len;
    int64_t now = gr_now_ms();
    uint8_t *m = gr_batch_build_marker(producer_id, producer_epoch, coordinator_epoch, commit, now, &len);
    gr_append_info_t info;
    int rc = gr_log_append_as(p->log, m, len, p->leader_epoch, false, GR_APPEND_COORDINATOR, now, &info);
    free(m);
    if (rc < 0) {
        gr_kerr_t err = info.serr != GR_SERR_NONE ? gr_api_serr_kerr(info.serr) : KERR_KAFKA_STORAGE_ERROR;
        if (err == KERR_KAFKA_STORAGE_ERROR)
            gr_partition_notify(p);
        complete_later(cb, arg, err);
        return;
    }
    gr_partition_appended(p);
    if (gr_log_flush_due(p->log)) {
        flushing_t *f = gr_malloc(sizeof(*f));
        *f = (flushing_t){cb, arg};
        gr_log_flush(p->log, gr_log_end_offset(p->log), flushed, f);
        return;
    }
    complete_later(cb, arg, KERR_NONE);
}
