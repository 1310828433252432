/*
 * checkpoint.h - the small text files next to the logs, in Kafka's formats
 * (drawn in checkpoint.c): the log-dir checkpoint files
 * (recovery-point-offset-checkpoint and log-start-offset-checkpoint, owned
 * by topic.c; cleaner-offset-checkpoint, owned by cleaner_mgr.c), each
 * partition's partition.metadata, and the topic-id (UUID) text form.
 */
#ifndef GR_CHECKPOINT_H
#define GR_CHECKPOINT_H

#include "gr.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One line of a log-dir checkpoint file:
 *   0            <- version
 *   N            <- number of entries
 *   topic part offset   (N lines)
 */
typedef struct gr_ckpt_entry {
    char topic[256];
    int32_t partition;
    int64_t offset;
} gr_ckpt_entry_t;
/* Write atomically (tmp + fsync + rename + directory fsync). */
int gr_ckpt_write(const char *path, const gr_ckpt_entry_t *e, size_t n);
/* Reads into a malloc'ed array; a missing file is 0 entries. */
int gr_ckpt_read(const char *path, gr_ckpt_entry_t **e, size_t *n);

/* ---- partition.metadata (topic id), Kafka's format ----
 *   version: 0
 *   topic_id: <22-char url-safe base64 uuid>
 */
/* durable: tmp + fsync + rename + directory fsync; else the file is
 * written in place without fsync (a new partition: its first flush makes
 * the directory durable, and a torn file is rewritten at the next open). */
int gr_partmeta_write(const char *dir, const gr_uuid_t *topic_id, bool durable);
int gr_partmeta_read(const char *dir, gr_uuid_t *topic_id);

/* ---- topic ids: Kafka's Uuid.toString() (base64url, no padding) ---- */
void gr_uuid_to_base64(const gr_uuid_t *u, char out[23]);
int gr_uuid_from_base64(const char *s, gr_uuid_t *u);
void gr_uuid_random(gr_uuid_t *u);

#endif
