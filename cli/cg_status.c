/*
 * cg_status.c - `gregor consumer-groups --describe --group g --status`: the
 * lag evaluation of each group by Burrow's rules, as gregord computes it
 * (src/obs/lag.c), read from its HTTP listener.
 *
 * The answer of GET /api/groups/<g>/status is tab-separated text (fields
 * escaped by the broker, src/obs/http_api.c):
 *
 *   G <group> <status> <complete> <total lag> <partitions> <max time lag ms>
 *   P <topic> <partition> <status> <window first offset> <window last offset> <lag> <time lag ms> <owner>
 *
 * printed as two tables.  The request is one HTTP/1.0 GET on a blocking
 * socket with a timeout (--timeout); the answer is read to EOF, at most
 * MAX_ANSWER bytes.  The address is --http-server, or the first bootstrap
 * host with port 8085 (http.listeners' default).
 */
#include "cg.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_ANSWER (16 * 1024 * 1024)

static void pct(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;
    for (; *s && w + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '_' || ch == '.' || ch == '~') {
            out[w++] = (char)ch;
        } else {
            out[w++] = '%';
            out[w++] = hex[ch >> 4];
            out[w++] = hex[ch & 15];
        }
    }
    out[w] = '\0';
}

/* GET path from host:port; the body (malloc'ed) and the status, or -1
 * after an error line. */
static int http_get(const char *host, const char *port, const char *path, int timeout_ms, char **body)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        cli_err("Cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        cli_err("Cannot connect to gregord's HTTP listener at %s:%s: %s (set --http-server)", host, port,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    char req[8192];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s:%s\r\nUser-Agent: gregor-cli\r\n\r\n", path, host,
                     port);
    if (n < 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
        cli_err("Cannot send the request to %s:%s", host, port);
        close(fd);
        return -1;
    }
    size_t len = 0, cap = 65536;
    char *buf = gr_malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap >= MAX_ANSWER) {
                cli_err("The answer of %s:%s is larger than %d bytes", host, port, MAX_ANSWER);
                free(buf);
                close(fd);
                return -1;
            }
            cap *= 2;
            buf = gr_realloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            cli_err("Reading the answer of %s:%s failed: %s", host, port, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    int status = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || !sep) {
        cli_err("Not an HTTP answer from %s:%s", host, port);
        free(buf);
        return -1;
    }
    memmove(buf, sep + 4, len - (size_t)(sep + 4 - buf) + 1);
    *body = buf;
    return status;
}

static void fmt_ms(char *out, size_t n, const char *ms)
{
    long long v = strtoll(ms, NULL, 10);
    if (v < 0)
        snprintf(out, n, "-");
    else if (v < 1000)
        snprintf(out, n, "%lldms", v);
    else
        snprintf(out, n, "%.1fs", (double)v / 1000.0);
}

/* Split a line into at most max tab-separated fields (in place). */
static int fields(char *line, char **f, int max)
{
    int n = 0;
    while (n < max) {
        f[n++] = line;
        char *t = strchr(line, '\t');
        if (!t)
            break;
        *t = '\0';
        line = t + 1;
    }
    return n;
}

int cg_status(const cli_opts_t *o)
{
    char host[256] = "127.0.0.1", port[16] = "8085";
    const char *hs = cli_get(o, "http-server");
    if (hs) {
        const char *p = strncmp(hs, "http://", 7) ? hs : hs + 7;
        const char *colon = strrchr(p, ':');
        size_t hl = colon ? (size_t)(colon - p) : strlen(p);
        if (hl == 0 || hl >= sizeof(host) || (colon && strlen(colon + 1) >= sizeof(port))) {
            cli_err("Invalid --http-server %s: expected http://host:port", hs);
            return 1;
        }
        memcpy(host, p, hl);
        host[hl] = '\0';
        if (colon)
            snprintf(port, sizeof(port), "%s", colon + 1);
        char *slash = strchr(port, '/');
        if (slash)
            *slash = '\0';
    } else {
        const char *bs = cli_get(o, "bootstrap-server");
        char *first = gr_strndup(bs, strcspn(bs, ",")), *h = first;
        int bport;
        cli_host_port(first, &h, &bport);       /* no port: the whole entry is the host */
        if (*h && strlen(h) < sizeof(host))
            snprintf(host, sizeof(host), "%s", h);
        free(first);
    }
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        char *e = strchr(host, ']');
        if (e)
            *e = '\0';
    }
    const char **groups;
    int ng = cli_get_all(o, "group", &groups);
    int rc = 0;
    bool first = true;
    for (int i = 0; i < ng; i++) {
        char enc[3 * 4096 + 1], path[3 * 4096 + 64];
        if (strlen(groups[i]) > 4096) {
            cli_err("Group id too long");
            rc = 1;
            continue;
        }
        pct(enc, sizeof(enc), groups[i]);
        snprintf(path, sizeof(path), "/api/groups/%s/status", enc);
        char *body = NULL;
        int st = http_get(host, port, path, cli_timeout_ms(o), &body);
        if (st < 0) {
            rc = 1;
            break;
        }
        if (st == 404) {
            fprintf(stderr, "Consumer group '%s' has no lag evaluation: it has not committed since the broker "
                            "started, or does not exist.\n", cli_esc(groups[i], GR_JSTR_WIRE));
            free(body);
            rc = 1;
            continue;
        }
        if (st != 200) {
            cli_err("gregord answered HTTP %d for group '%s'", st, cli_esc(groups[i], GR_JSTR_WIRE));
            free(body);
            rc = 1;
            continue;
        }
        /* widths from the content, as the other tables */
        size_t wt = 15;
        for (char *l = body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            if (l[0] == 'P' && l[1] == '\t') {
                const char *t = l + 2, *e = strchr(t, '\t');
                wt = cg_maxz(wt, e ? (size_t)(e - t) : strlen(t));
            }
        }
        char *save = NULL;
        for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *f[9];
            int nf = fields(line, f, 9);
            char ms[32];
            if (!strcmp(f[0], "G") && nf >= 7) {
                fmt_ms(ms, sizeof(ms), f[6]);
                if (!first)
                    printf("\n");
                first = false;
                size_t wg = cg_maxz(15, strlen(f[1]));
                printf("%-*s %-8s %-9s %-12s %-11s %s\n", (int)wg, "GROUP", "STATUS", "COMPLETE", "TOTAL-LAG",
                       "PARTITIONS", "MAX-TIME-LAG");
                printf("%-*s %-8s %-9.2f %-12s %-11s %s\n\n", (int)wg, f[1], f[2], strtod(f[3], NULL), f[4], f[5], ms);
                printf("%-*s %-10s %-8s %-15s %-15s %-12s %-12s %s\n", (int)wt, "TOPIC", "PARTITION", "STATUS",
                       "WINDOW-START", "WINDOW-END", "LAG", "TIME-LAG", "OWNER");
            } else if (!strcmp(f[0], "P") && nf >= 9) {
                fmt_ms(ms, sizeof(ms), f[7]);
                printf("%-*s %-10s %-8s %-15s %-15s %-12s %-12s %s\n", (int)wt, f[1], f[2], f[3],
                       strcmp(f[4], "-1") ? f[4] : "-", strcmp(f[5], "-1") ? f[5] : "-", f[6], ms, f[8]);
            }
        }
        free(body);
    }
    free(groups);
    return rc;
}
