/*
 * log_helper.h - the log configuration the storage unit tests start from:
 * Kafka's defaults, no retention, no time- or count-based flush.
 */
#ifndef GR_TEST_LOG_HELPER_H
#define GR_TEST_LOG_HELPER_H

#include "log.h"

#include <stdint.h>

static inline gr_log_config_t cfg_default(void)
{
    gr_log_config_t c = {
        .segment_bytes = 1 << 30, .segment_ms = 7LL * 24 * 3600 * 1000,
        .retention_ms = -1, .retention_bytes = -1, .index_interval_bytes = 4096,
        .flush_messages = INT64_MAX, .flush_ms = INT64_MAX,
        .max_message_bytes = 1 << 20, .delete_ = true,
    };
    return c;
}

#endif
