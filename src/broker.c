/*
 * broker.c - the broker's global state (see broker.h) and listener parsing.
 * Kept out of main.c so that every module, and the unit tests that link
 * them, find the one instance in the library.
 */
#include "broker.h"

#include <stdlib.h>
#include <string.h>

gr_broker_t gr_broker;

int gr_parse_listener(const char *s, char *host, size_t hostlen, int *port)
{
    const char *p = strstr(s, "://");
    if (p) {
        if (strncmp(s, "PLAINTEXT://", 12))
            return GR_EINVAL;
        p += 3;
    } else {
        p = s;
    }
    const char *colon = strrchr(p, ':');
    if (!colon)
        return GR_EINVAL;
    size_t hl = (size_t)(colon - p);
    if (hl >= hostlen)
        return GR_EINVAL;
    memcpy(host, p, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    char *end;
    long v = strtol(colon + 1, &end, 10);
    if (*end || v < 0 || v > 65535)
        return GR_EINVAL;
    *port = (int)v;
    return 0;
}

