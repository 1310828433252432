/*
 * crt_memlog.h - an in-memory log behind the coordinator runtime (Kafka's
 * InMemoryPartitionWriter), for unit tests: partitions are byte buffers of
 * batches with offsets assigned on append, reads return whole batches, and
 * appends and fsyncs can be made to fail.
 */
#ifndef CRT_MEMLOG_H
#define CRT_MEMLOG_H

#include "batch.h"
#include "coord_runtime.h"
#include "kerr.h"

#include <stdlib.h>
#include <string.h>

typedef struct memlog_part {
    gr_buf_t data;                  /* batches back to back */
    int64_t end;                    /* next offset */
} memlog_part_t;

typedef struct memlog {
    int32_t npart;
    memlog_part_t *parts;
    gr_ev_t *ev;
    int appends;                    /* append calls */
    int fail_next;                  /* the next n appends fail ... */
    size_t fail_above;              /* ... and so does every append larger than this (0: none) */
    gr_kerr_t fail_err;
    int64_t max_batch, segment_bytes;
    bool flush_due;                 /* every append must wait for an fsync */
    bool flush_fails;
    bool flush_hold;                /* fsyncs complete only at memlog_flush_release() */
    int flushes;
    gr_timer_t flush_timer;
    struct memlog_flush *pending;
} memlog_t;

typedef struct memlog_flush {
    struct memlog_flush *next;
    gr_crt_flush_cb *cb;
    void *arg;
} memlog_flush_t;

static void memlog_flush_timer(gr_ev_t *ev, void *arg)
{
    (void)ev;
    memlog_t *m = arg;
    while (m->pending) {
        memlog_flush_t *f = m->pending;
        m->pending = f->next;
        f->cb(f->arg, m->flush_fails ? GR_EIO : 0);
        free(f);
    }
}

static inline void memlog_init(memlog_t *m, gr_ev_t *ev, int32_t npart)
{
    memset(m, 0, sizeof(*m));
    m->npart = npart;
    m->parts = calloc((size_t)npart, sizeof(*m->parts));
    m->ev = ev;
    m->fail_err = KERR_KAFKA_STORAGE_ERROR;
    m->max_batch = 1048588;
    m->segment_bytes = 104857600;
    gr_timer_init(&m->flush_timer, memlog_flush_timer, m);
}

static inline void memlog_free(memlog_t *m)
{
    memlog_flush_timer(NULL, m);
    if (gr_timer_armed(&m->flush_timer))
        gr_timer_stop(m->ev, &m->flush_timer);
    for (int32_t i = 0; i < m->npart; i++)
        gr_buf_free(&m->parts[i].data);
    free(m->parts);
}

static int ml_append(void *ctx, int32_t part, uint8_t *data, size_t len, int64_t now_ms, int64_t *base,
                     gr_kerr_t *kerr)
{
    (void)now_ms;
    memlog_t *m = ctx;
    m->appends++;
    if (part < 0 || part >= m->npart) {
        *kerr = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return GR_ENOENT;
    }
    if (m->fail_next > 0 || (m->fail_above && len > m->fail_above)) {
        if (m->fail_next > 0)
            m->fail_next--;
        *kerr = m->fail_err;
        return GR_EIO;
    }
    /* as the log: every batch checked, none above max.message.bytes */
    for (size_t off = 0; off < len;) {
        gr_batch_info_t bi;
        if (gr_batch_check(data + off, len - off, &bi) < 0) {
            *kerr = KERR_CORRUPT_MESSAGE;
            return GR_ECORRUPT;
        }
        if (bi.size > m->max_batch) {
            *kerr = KERR_MESSAGE_TOO_LARGE;
            return GR_ETOOBIG;
        }
        off += (size_t)bi.size;
    }
    memlog_part_t *p = &m->parts[part];
    *base = p->end;
    for (size_t off = 0; off < len;) {
        gr_batch_assign(data + off, p->end, 0, -1);
        p->end += (int64_t)(int32_t)gr_be32(data + off + GR_BOFF_LAST_DELTA) + 1;
        off += (size_t)gr_batch_size(data + off);
    }
    gr_buf_reserve(&p->data, p->data.len + len);
    memcpy(p->data.p + p->data.len, data, len);
    p->data.len += len;
    return 0;
}

static bool ml_flush_due(void *ctx, int32_t part)
{
    (void)part;
    return ((memlog_t *)ctx)->flush_due;
}

static void ml_flush(void *ctx, int32_t part, gr_crt_flush_cb *cb, void *arg)
{
    (void)part;
    memlog_t *m = ctx;
    m->flushes++;
    memlog_flush_t *f = calloc(1, sizeof(*f));
    f->cb = cb;
    f->arg = arg;
    memlog_flush_t **pp = &m->pending;
    while (*pp)
        pp = &(*pp)->next;
    *pp = f;
    if (!m->flush_hold && !gr_timer_armed(&m->flush_timer))
        gr_timer_start(m->ev, &m->flush_timer, 0);
}

/* Complete the fsyncs held back (flush_hold). */
static inline void memlog_flush_release(memlog_t *m)
{
    memlog_flush_timer(NULL, m);
}

static int64_t ml_start(void *ctx, int32_t part)
{
    (void)ctx;
    (void)part;
    return 0;
}

static int64_t ml_end(void *ctx, int32_t part)
{
    memlog_t *m = ctx;
    return part >= 0 && part < m->npart ? m->parts[part].end : 0;
}

static int ml_read(void *ctx, int32_t part, int64_t offset, int32_t max_bytes, gr_buf_t *out)
{
    memlog_t *m = ctx;
    out->len = 0;
    if (part < 0 || part >= m->npart)
        return 0;
    gr_buf_t *d = &m->parts[part].data;
    size_t pos = 0;
    while (pos < d->len) {
        const uint8_t *b = d->p + pos;
        int64_t last = gr_batch_base_offset(b) + (int32_t)gr_be32(b + GR_BOFF_LAST_DELTA);
        if (last >= offset)
            break;
        pos += (size_t)gr_batch_size(b);
    }
    size_t end = pos;
    while (end < d->len) {
        size_t sz = (size_t)gr_batch_size(d->p + end);
        if (end > pos && end + sz - pos > (size_t)max_bytes)
            break;
        end += sz;
    }
    gr_buf_reserve(out, end - pos + 1);
    memcpy(out->p, d->p + pos, end - pos);
    out->len = end - pos;
    return 0;
}

static void ml_limits(void *ctx, int32_t part, int64_t *max_batch, int64_t *segment_bytes)
{
    (void)part;
    memlog_t *m = ctx;
    *max_batch = m->max_batch;
    *segment_bytes = m->segment_bytes;
}

static const gr_crt_writer_ops_t memlog_writer = {
    .append = ml_append,
    .flush_due = ml_flush_due,
    .flush = ml_flush,
    .start_offset = ml_start,
    .end_offset = ml_end,
    .read = ml_read,
    .limits = ml_limits,
};

#endif
