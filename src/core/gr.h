/*
 * gr.h - definitions shared by every gregor module.
 *
 * Return convention (see docs/internals.md): functions return int, 0 on
 * success, a negative GR_E* on failure and GR_AGAIN for "not yet / need
 * more bytes".  The GR_E* values are negated errno numbers so that a syscall
 * failure can be passed up as -errno.  Kafka protocol error codes are a
 * different space, typed gr_kerr_t (kerr.h): a function that decides one
 * (a request's validation, a record check) returns that type, and they
 * only ever end up in responses.
 *
 * Allocation failure is not handled: gr_malloc() and friends abort with a
 * message.  Logging goes to stderr in Kafka's log4j layout.
 */
#ifndef GR_H
#define GR_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define GR_OK        0
#define GR_AGAIN     (-EAGAIN)    /* need more input / try later */
#define GR_ENOENT    (-ENOENT)
#define GR_EIO       (-EIO)
#define GR_ENOMEM    (-ENOMEM)
#define GR_EEXIST    (-EEXIST)
#define GR_EINVAL    (-EINVAL)
#define GR_ENOSPC    (-ENOSPC)
#define GR_ERANGE    (-ERANGE)    /* offset out of range */
#define GR_ETOOBIG   (-EFBIG)     /* message / frame too large */
#define GR_EPROTO    (-EPROTO)    /* malformed or truncated wire data */
#define GR_ECORRUPT  (-EBADMSG)   /* bad CRC / inconsistent batch */

#define GR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define GR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GR_MAX(a, b) ((a) > (b) ? (a) : (b))
#define GR_UNUSED(x) ((void)(x))

#if defined(__GNUC__)
#define GR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define GR_NORETURN __attribute__((noreturn))
#else
#define GR_PRINTF(f, a)
#define GR_NORETURN
#endif

/* ---- checked arithmetic on client-supplied times, sizes and counts ----
 * Every sum or product with an operand a client (or a config value) chose
 * goes through one of these.  Saturating: the result stops at INT64_MIN /
 * INT64_MAX instead of overflowing, which is the right answer for deadlines
 * and ages (now + a retention of 2^63-1 ms is "never").  Wrapping: two's
 * complement, as Java's long arithmetic: a record's timestamp is base +
 * delta in Kafka's format whatever the values, and every Java reader
 * computes it that way. */
static inline int64_t gr_add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}
static inline int64_t gr_sub_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}
static inline int64_t gr_mul_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
    return r;
}
static inline int64_t gr_add_wrap(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t gr_sub_wrap(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }

/* ---- big-endian byte access (wire format, record batches, index files) ---- */
static inline uint16_t gr_be16(const uint8_t *p) { return (uint16_t)((uint16_t)p[0] << 8 | p[1]); }
static inline uint32_t gr_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t gr_be64(const uint8_t *p) { return (uint64_t)gr_be32(p) << 32 | gr_be32(p + 4); }
static inline void gr_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void gr_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void gr_put64(uint8_t *p, uint64_t v)
{
    gr_put32(p, (uint32_t)(v >> 32));
    gr_put32(p + 4, (uint32_t)v);
}

/* ---- memory (alloc.c; gr_buf_t in buf.h) ---- */
void *gr_malloc(size_t n);
void *gr_calloc(size_t nmemb, size_t n);
void *gr_realloc(void *p, size_t n);
char *gr_strdup(const char *s);
char *gr_strndup(const char *s, size_t n);
void GR_NORETURN gr_oom(size_t n);

/* ---- logging (util.c) ---- */
enum { GR_LOG_DEBUG, GR_LOG_INFO, GR_LOG_WARN, GR_LOG_ERROR };
extern int gr_log_level;
void gr_logf(int level, const char *component, const char *fmt, ...) GR_PRINTF(3, 4);
#define gr_debug(comp, ...) do { if (gr_log_level <= GR_LOG_DEBUG) gr_logf(GR_LOG_DEBUG, comp, __VA_ARGS__); } while (0)
#define gr_info(comp, ...)  gr_logf(GR_LOG_INFO, comp, __VA_ARGS__)
#define gr_warn(comp, ...)  gr_logf(GR_LOG_WARN, comp, __VA_ARGS__)
#define gr_error(comp, ...) gr_logf(GR_LOG_ERROR, comp, __VA_ARGS__)

/* ---- time (util.c) ---- */
int64_t gr_now_ms(void);     /* wall clock, ms since the epoch */
int64_t gr_mono_ms(void);    /* monotonic, ms */
int64_t gr_mono_us(void);    /* monotonic, us */

/* ---- files (util.c) ---- */
/* Write a whole small file atomically: tmp file, fsync, rename, fsync dir.
 * 0 or -errno; when only the directory fsync fails, the new content is in
 * place under the name (not surely durable) and the error is returned. */
int gr_file_write_atomic(const char *path, const void *data, size_t len);
/* Read a whole small file into a NUL-terminated malloc'ed buffer. */
int gr_file_read_all(const char *path, char **out, size_t *len);
int gr_mkdir_p(const char *path);
int gr_rm_rf(const char *path);
int gr_fsync_dir(const char *path);

#endif
