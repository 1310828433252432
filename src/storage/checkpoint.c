/*
 * checkpoint.c - log-dir checkpoint files and partition.metadata, in
 * Kafka's text formats, plus topic-id (UUID) helpers.  Files are written
 * atomically (tmp + fsync + rename, gr_file_write_atomic), except the
 * partition.metadata of a new partition (see gr_partmeta_write).
 *
 * recovery-point-offset-checkpoint / log-start-offset-checkpoint:
 *
 *   line   content                  example
 *   -----  -----------------------  ----------------
 *   1      version                  0
 *   2      number of entries N      2
 *   3..    topic partition offset   orders 0 1234
 *
 * partition.metadata (in each partition directory):
 *
 *   line   content
 *   -----  ------------------------------------------------------
 *   1      version: 0
 *   2      topic_id: <22 chars, url-safe base64 without padding>
 *
 * The topic id text is Kafka's Uuid.toString(): the 16 bytes in
 * base64url ("-" and "_"), "==" padding dropped.
 */
#include "checkpoint.h"
#include "fio.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

int gr_ckpt_write(const char *path, const gr_ckpt_entry_t *e, size_t n)
{
    size_t cap = 32 + n * (sizeof(e->topic) + 48), len = 0;
    char *buf = gr_malloc(cap);
    len += (size_t)snprintf(buf + len, cap - len, "0\n%zu\n", n);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%.*s %" PRId32 " %" PRId64 "\n",
                                (int)strnlen(e[i].topic, sizeof(e[i].topic) - 1), e[i].topic,
                                e[i].partition, e[i].offset);
    int rc = gr_file_write_atomic(path, buf, len);
    free(buf);
    return rc;
}

/* next line of s (modified in place), NULL at the end */
static char *next_line(char **s)
{
    if (**s == '\0')
        return NULL;
    char *line = *s, *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *s = nl + 1;
    } else {
        *s = line + strlen(line);
    }
    return line;
}

static bool parse_i64(const char *s, int64_t *v)
{
    char *end;
    if (*s == '\0')
        return false;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *v = x;
    return true;
}

int gr_ckpt_read(const char *path, gr_ckpt_entry_t **out, size_t *nout)
{
    char *buf = NULL, *s, *line;
    gr_ckpt_entry_t *e = NULL;
    int64_t version, count;
    size_t n = 0;
    int rc = gr_file_read_all(path, &buf, NULL);
    *out = NULL;
    *nout = 0;
    if (rc == GR_ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    s = buf;
    rc = GR_ECORRUPT;
    if ((line = next_line(&s)) == NULL || !parse_i64(line, &version) || version != 0)
        goto out;
    if ((line = next_line(&s)) == NULL || !parse_i64(line, &count) || count < 0 ||
        count > (int64_t)strlen(s))
        goto out;
    e = gr_calloc((size_t)count + 1, sizeof(*e));
    for (int64_t i = 0; i < count; i++) {
        if ((line = next_line(&s)) == NULL)
            goto out;
        /* topic names have no spaces; split on the last two spaces */
        char *sp2 = strrchr(line, ' ');
        if (sp2 == NULL)
            goto out;
        *sp2 = '\0';
        char *sp1 = strrchr(line, ' ');
        if (sp1 == NULL || sp1 == line || (size_t)(sp1 - line) >= sizeof(e->topic))
            goto out;
        *sp1 = '\0';
        int64_t part, off;
        if (!parse_i64(sp1 + 1, &part) || part < 0 || part > INT32_MAX || !parse_i64(sp2 + 1, &off))
            goto out;
        memcpy(e[n].topic, line, (size_t)(sp1 - line) + 1);
        e[n].partition = (int32_t)part;
        e[n].offset = off;
        n++;
    }
    rc = 0;
out:
    free(buf);
    if (rc < 0) {
        free(e);
        gr_warn("log", "malformed checkpoint file %s", path);
        return rc;
    }
    *out = e;
    *nout = n;
    return 0;
}

/* ------------------------------------------------------------- uuid */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void gr_uuid_to_base64(const gr_uuid_t *u, char out[23])
{
    size_t o = 0;
    for (int i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)u->b[i] << 16;
        int n = 16 - i >= 3 ? 3 : 16 - i;
        if (n > 1)
            v |= (uint32_t)u->b[i + 1] << 8;
        if (n > 2)
            v |= u->b[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (n > 1)
            out[o++] = b64[(v >> 6) & 63];
        if (n > 2)
            out[o++] = b64[v & 63];
    }
    out[o] = '\0';
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-' || c == '+')
        return 62;
    if (c == '_' || c == '/')
        return 63;
    return -1;
}

int gr_uuid_from_base64(const char *s, gr_uuid_t *u)
{
    size_t len = strlen(s);
    while (len > 22 && s[len - 1] == '=')
        len--;
    if (len != 22)
        return GR_EINVAL;
    uint32_t acc = 0;
    int bits = 0, o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            return GR_EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            u->b[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* the 4 leftover bits must be zero */
    if ((acc & ((1u << bits) - 1)) != 0)
        return GR_EINVAL;
    return 0;
}

void gr_uuid_random(gr_uuid_t *u)
{
    size_t got = 0;
    while (got < sizeof(u->b)) {
        ssize_t r = getrandom(u->b + got, sizeof(u->b) - got, 0);
        if (r == -1) {
            if (errno == EINTR)
                continue;
            int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
            if (fd == -1 || read(fd, u->b, sizeof(u->b)) != (ssize_t)sizeof(u->b)) {
                gr_error("log", "no random source: %s", strerror(errno));
                abort();
            }
            close(fd);
            got = sizeof(u->b);
            break;
        }
        got += (size_t)r;
    }
    /* version 4, variant 1 (java.util.UUID.randomUUID) */
    u->b[6] = (uint8_t)((u->b[6] & 0x0f) | 0x40);
    u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80);
}

int gr_partmeta_write(const char *dir, const gr_uuid_t *topic_id, bool durable)
{
    char path[PATH_MAX], id[23], buf[64];
    if (snprintf(path, sizeof(path), "%s/partition.metadata", dir) >= (int)sizeof(path))
        return GR_EINVAL;
    gr_uuid_to_base64(topic_id, id);
    int n = snprintf(buf, sizeof(buf), "version: 0\ntopic_id: %s\n", id);
    if (durable)
        return gr_file_write_atomic(path, buf, (size_t)n);
    int fd = gr_fio_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1)
        return -errno;
    int rc = 0;
    for (int off = 0; off < n && rc == 0;) {
        ssize_t w = gr_fio_write(fd, buf + off, (size_t)(n - off));
        if (w > 0)
            off += (int)w;
        else if (w == 0 || errno != EINTR)
            rc = w == 0 ? GR_EIO : -errno;
    }
    close(fd);
    return rc;
}

int gr_partmeta_read(const char *dir, gr_uuid_t *topic_id)
{
    char path[PATH_MAX], *buf = NULL, *s, *line;
    if (snprintf(path, sizeof(path), "%s/partition.metadata", dir) >= (int)sizeof(path))
        return GR_EINVAL;
    int rc = gr_file_read_all(path, &buf, NULL);
    if (rc < 0)
        return rc;
    s = buf;
    rc = GR_ECORRUPT;
    if ((line = next_line(&s)) == NULL || strcmp(line, "version: 0") != 0)
        goto out;
    if ((line = next_line(&s)) == NULL || strncmp(line, "topic_id: ", 10) != 0)
        goto out;
    if (gr_uuid_from_base64(line + 10, topic_id) == 0)
        rc = 0;
out:
    free(buf);
    return rc;
}
