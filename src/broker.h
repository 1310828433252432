/*
 * broker.h - the broker: configuration, the loop, listeners, log dirs and
 * the topic registry.  One global instance, owned by main.c and touched
 * only from the loop thread.
 */
#ifndef GR_BROKER_H
#define GR_BROKER_H

#include "config.h"
#include "ev.h"
#include "topic.h"

typedef struct gr_broker {
    gr_config_t cfg;
    gr_ev_t *ev;
    char **log_dirs;              /* from log.dirs, owned */
    int nlog_dirs;
    char cluster_id[23];          /* base64 uuid from meta.properties */
    char host[256];               /* bound listener */
    int port;
    char adv_host[256];           /* advertised to clients */
    int adv_port;
    bool clean_shutdown_found;    /* the marker was present at startup */
    gr_timer_t housekeep;         /* retention / roll / flush / checkpoints */
} gr_broker_t;

extern gr_broker_t gr_broker;

/* Parse "PLAINTEXT://host:port" (host may be empty = 0.0.0.0). */
int gr_parse_listener(const char *s, char *host, size_t hostlen, int *port);

#endif
