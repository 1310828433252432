/*
 * serr.h - the errors storage reports to the layers above it.
 *
 * Storage decides what went wrong (the disk refused a write, a name is
 * taken); what a client is told is the API layer's business: the one
 * mapping to Kafka error codes is gr_api_serr_kerr (api.h).  Failures
 * that stay inside storage keep the GR_E* convention of gr.h.
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
} gr_serr_t;

#endif
