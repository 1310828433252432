/*
 * serr.h - the errors storage reports to the layers above it.
 *
 * Storage decides what went wrong (the disk refused a write, a name is
 * taken, a batch or a producer's write is refused); what a client is told
 * is the business of the layers above: the one mapping to Kafka error
 * codes is gr_api_serr_kerr (api.h), which the request handlers and the
 * coordinators' writers call.  Each value is one kind of refusal and maps
 * to exactly one Kafka code.  Failures that stay inside storage keep the
 * GR_E* convention of gr.h.
 */
#ifndef GR_SERR_H
#define GR_SERR_H

typedef enum gr_serr {
    GR_SERR_NONE = 0,
    GR_SERR_IO,                 /* a file or directory could not be written or read */
    GR_SERR_TOPIC_EXISTS,       /* a topic of that name exists */
    GR_SERR_TOPIC_NAME,         /* an illegal topic name, one that collides with
                                 * another's, or one too long for a file name */
    GR_SERR_PARTITIONS,         /* a partition count that cannot be had */
    /* an append refused (log.h gr_log_append, pstate.h gr_pupdate_*) */
    GR_SERR_CORRUPT_BATCH,      /* a batch or legacy message set that does not
                                 * parse, is truncated or fails its CRC */
    GR_SERR_BATCH_TOO_LARGE,    /* beyond max.message.bytes or the
                                 * decompression budget */
    GR_SERR_INVALID_RECORD,     /* a well-formed batch breaking a rule of the
                                 * log (control batch from a client, record
                                 * offsets, null key on a compacted topic...) */
    GR_SERR_INVALID_TIMESTAMP,  /* a client asking for LogAppendTime */
    GR_SERR_COMPRESSION,        /* a compression codec the request's version
                                 * may not use (zstd before Produce v7) */
    GR_SERR_PRODUCER_EPOCH,     /* a producer epoch older than the producer's */
    GR_SERR_SEQUENCE,           /* a sequence number out of order */
    GR_SERR_TXN_STATE,          /* a non-transactional write inside the
                                 * producer's transaction */
    GR_SERR_COORDINATOR_EPOCH,  /* a transaction marker from an older
                                 * coordinator epoch than the last marker's */
} gr_serr_t;

#endif
