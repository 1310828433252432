/*
 * wire.c - Kafka wire primitives (see wire.h for the encodings).
 *
 * Reader: every primitive checks bounds first.  On a short or malformed read
 * rd->err becomes GR_EPROTO, the reader is parked at its end (so any later
 * read fails too) and a zero / empty / null value is returned.  Decoders
 * check rd->err once when they are done.  Strings, bytes and records point
 * into the input buffer: nothing is copied.
 *
 * Writer: an output chain of chunks.  Appends go to the tail chunk while it
 * is a memory chunk, growing it geometrically with realloc; a file range is
 * its own chunk and the next append starts a fresh memory chunk after it.
 * A gr_wpos_t names {chunk, offset}, not a pointer, so it survives the
 * realloc of its chunk (but not gr_wr_flatten(), which merges chunks).
 *
 * Varints (records and KIP-482 flexible versions):
 *
 *   byte   bit 7          bits 6..0
 *   ----   -------------  ----------------------------
 *   0      1 = more       value bits 0..6
 *   1      1 = more       value bits 7..13
 *   ...
 *   4      must be 0      bits 28..31 (uvarint / varint: high 3 bits 0)
 *   9      must be 0      bit 63 (varlong: only bit 0 may be set)
 *
 * A varint longer than its type allows, or one whose last byte carries bits
 * the type cannot hold, is malformed (GR_EPROTO).  Zig-zag maps
 * 0,-1,1,-2,... to 0,1,2,3,... .
 */
#include "wire.h"
#include "jstr.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WR_MIN_CHUNK 512

/* ------------------------------------------------------------ reader */

void gr_rd_init(gr_rd_t *rd, const void *p, size_t len)
{
    rd->p = p;
    rd->end = rd->p + len;
    rd->err = 0;
}

static inline void rd_fail(gr_rd_t *rd)
{
    rd->err = GR_EPROTO;
    rd->p = rd->end;
}

/* Returns a pointer to n readable bytes and advances, or NULL (error set). */
static inline const uint8_t *rd_take(gr_rd_t *rd, size_t n)
{
    if ((size_t)(rd->end - rd->p) < n) {
        rd_fail(rd);
        return NULL;
    }
    const uint8_t *p = rd->p;
    rd->p += n;
    return p;
}

int8_t gr_rd_i8(gr_rd_t *rd)
{
    const uint8_t *p = rd_take(rd, 1);
    return p ? (int8_t)p[0] : 0;
}

int16_t gr_rd_i16(gr_rd_t *rd)
{
    const uint8_t *p = rd_take(rd, 2);
    return p ? (int16_t)gr_be16(p) : 0;
}

int32_t gr_rd_i32(gr_rd_t *rd)
{
    const uint8_t *p = rd_take(rd, 4);
    return p ? (int32_t)gr_be32(p) : 0;
}

int64_t gr_rd_i64(gr_rd_t *rd)
{
    const uint8_t *p = rd_take(rd, 8);
    return p ? (int64_t)gr_be64(p) : 0;
}

uint16_t gr_rd_u16(gr_rd_t *rd)
{
    const uint8_t *p = rd_take(rd, 2);
    return p ? gr_be16(p) : 0;
}

uint32_t gr_rd_u32(gr_rd_t *rd)
{
    const uint8_t *p = rd_take(rd, 4);
    return p ? gr_be32(p) : 0;
}

double gr_rd_f64(gr_rd_t *rd)
{
    const uint8_t *p = rd_take(rd, 8);
    if (!p)
        return 0.0;
    uint64_t u = gr_be64(p);
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

bool gr_rd_bool(gr_rd_t *rd)
{
    const uint8_t *p = rd_take(rd, 1);
    return p ? p[0] != 0 : false;
}

int gr_varint_decode(const uint8_t *p, const uint8_t *end, int64_t *out, bool zigzag, int maxbytes)
{
    uint64_t v = 0;
    int i;
    if (maxbytes > 10)
        maxbytes = 10;
    for (i = 0; i < maxbytes; i++) {
        if (p + i >= end)
            return GR_EPROTO;
        uint8_t b = p[i];
        if (i == maxbytes - 1) {
            /* last allowed byte: no continuation, no bits past the type */
            int shift = 7 * i;
            int bits = maxbytes <= 5 ? 32 : 64;
            if (b & 0x80)
                return GR_EPROTO;
            if (bits - shift < 7 && (b >> (bits - shift)) != 0)
                return GR_EPROTO;
        }
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (zigzag)
                *out = (int64_t)((v >> 1) ^ (~(v & 1) + 1));
            else
                *out = (int64_t)v;
            return i + 1;
        }
    }
    return GR_EPROTO;
}

/* One varint of at most max bytes, zigzag-decoded as 64 bits when zigzag;
 * 0 with rd->err set when it is short or too long. */
static inline int64_t rd_varint(gr_rd_t *rd, bool zigzag, int max)
{
    int64_t v;
    int n = gr_varint_decode(rd->p, rd->end, &v, zigzag, max);
    if (n < 0) {
        rd_fail(rd);
        return 0;
    }
    rd->p += n;
    return v;
}

uint32_t gr_rd_uvarint(gr_rd_t *rd)
{
    /* fast path: one byte */
    if (rd->p < rd->end && !(rd->p[0] & 0x80))
        return *rd->p++;
    return (uint32_t)rd_varint(rd, false, 5);
}

int32_t gr_rd_varint(gr_rd_t *rd)
{
    uint32_t u = (uint32_t)rd_varint(rd, false, 5);
    return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

int64_t gr_rd_varlong(gr_rd_t *rd)
{
    return rd_varint(rd, true, 10);
}

void gr_rd_uuid(gr_rd_t *rd, gr_uuid_t *out)
{
    const uint8_t *p = rd_take(rd, 16);
    if (p)
        memcpy(out->b, p, 16);
    else
        memset(out->b, 0, 16);
}

/* Length of a string/bytes/array: -1 for null, -2 on error (err set). */
static inline int64_t rd_len(gr_rd_t *rd, bool flex, bool wide)
{
    int64_t n;
    if (flex) {
        uint32_t u = gr_rd_uvarint(rd);
        if (rd->err)
            return -2;
        n = (int64_t)u - 1;
    } else {
        n = wide ? gr_rd_i32(rd) : gr_rd_i16(rd);
        if (rd->err)
            return -2;
    }
    if (n < -1 || n > INT32_MAX) {
        rd_fail(rd);
        return -2;
    }
    return n;
}

void gr_rd_str(gr_rd_t *rd, bool flex, gr_str_t *out)
{
    int64_t n = rd_len(rd, flex, false);
    out->p = NULL;
    out->len = -1;
    if (n < 0) {
        if (n == -2)
            out->len = 0, out->p = "";
        return;
    }
    const uint8_t *p = rd_take(rd, (size_t)n);
    /* Kafka's generated readers refuse a string longer than 0x7fff bytes,
     * compact ones too ("string field ... had invalid length"), and cannot
     * serialize one whose Java String re-encodes longer than that; an
     * invalid byte can become 3 (U+FFFD), so only long strings need the
     * second look. */
    if (p && (n > GR_STR_MAX ||
              (n > GR_STR_MAX / 3 && gr_jstr_canon(p, (size_t)n, GR_JSTR_WIRE, NULL, GR_JSTR_WIRE) > GR_STR_MAX))) {
        rd_fail(rd);
        p = NULL;
    }
    if (!p) {
        out->p = "";
        out->len = 0;
        return;
    }
    out->p = (const char *)p;
    out->len = (int32_t)n;
}

void gr_rd_bytes(gr_rd_t *rd, bool flex, gr_bytes_t *out)
{
    int64_t n = rd_len(rd, flex, true);
    out->p = NULL;
    out->len = n == -2 ? 0 : -1;
    if (n < 0)
        return;
    const uint8_t *p = rd_take(rd, (size_t)n);
    if (!p) {
        out->len = 0;
        return;
    }
    out->p = p;
    out->len = (int32_t)n;
}

void gr_rd_records(gr_rd_t *rd, bool flex, gr_records_t *out)
{
    gr_bytes_t b;
    gr_rd_bytes(rd, flex, &b);
    out->len = b.len;
    out->mem = b.p;
    out->file = NULL;
    out->file_off = 0;
    out->lazy = NULL;
    out->lazy_src = NULL;
}

int32_t gr_rd_array_len(gr_rd_t *rd, bool flex, size_t min_elem_size)
{
    int64_t n = rd_len(rd, flex, true);
    if (n == -2)
        return 0;
    if (n > 0 && min_elem_size > 0 &&
        (uint64_t)n > (uint64_t)gr_rd_left(rd) / min_elem_size) {
        rd_fail(rd);
        return 0;
    }
    return (int32_t)n;
}

void gr_rd_skip(gr_rd_t *rd, size_t n)
{
    (void)rd_take(rd, n);
}

const uint8_t *gr_rd_raw(gr_rd_t *rd, size_t n)
{
    return rd_take(rd, n);
}

/* ------------------------------------------------------------ writer */

void gr_wr_init(gr_wr_t *w)
{
    w->head = NULL;
    w->tail = NULL;
    w->total = 0;
}

static void chunk_free(gr_chunk_t *c)
{
    free(c->mem);
    c->mem = NULL;
    gr_file_unref(c->file);
    c->file = NULL;
    if (c->lazy)
        c->lazy->free(c->src);
    c->lazy = NULL;
    c->src = NULL;
    free(c);
}

void gr_wr_free(gr_wr_t *w)
{
    gr_chunk_t *c = w->head;
    while (c) {
        gr_chunk_t *next = c->next;
        chunk_free(c);
        c = next;
    }
    gr_wr_init(w);
}

static void wr_append_chunk(gr_wr_t *w, gr_chunk_t *c)
{
    c->next = NULL;
    if (w->tail)
        w->tail->next = c;
    else
        w->head = c;
    w->tail = c;
}

static gr_chunk_t *mem_chunk_new(size_t cap)
{
    gr_chunk_t *c = gr_calloc(1, sizeof(*c));
    c->mem = gr_malloc(cap);
    c->cap = cap;
    return c;
}

/* Slow path of wr_room: make the tail a memory chunk with n free bytes. */
static uint8_t *wr_grow(gr_wr_t *w, size_t n)
{
    gr_chunk_t *t = w->tail;
    if (t && t->mem) {
        size_t cap = t->cap * 2;
        while (cap - t->len < n) {
            if (cap > SIZE_MAX / 2)
                gr_oom(n);
            cap *= 2;
        }
        t->mem = gr_realloc(t->mem, cap);
        t->cap = cap;
    } else {
        size_t cap = WR_MIN_CHUNK;
        while (cap < n) {
            if (cap > SIZE_MAX / 2)
                gr_oom(n);
            cap *= 2;
        }
        t = mem_chunk_new(cap);
        wr_append_chunk(w, t);
    }
    return t->mem + t->len;
}

/* A pointer to n writable bytes at the end of the tail memory chunk; the
 * caller then calls wr_commit(w, n). */
static inline uint8_t *wr_room(gr_wr_t *w, size_t n)
{
    gr_chunk_t *t = w->tail;
    if (t && t->mem && t->cap - t->len >= n)
        return t->mem + t->len;
    return wr_grow(w, n);
}

static inline void wr_commit(gr_wr_t *w, size_t n)
{
    w->tail->len += n;
    w->total += n;
}

void gr_wr_raw(gr_wr_t *w, const void *p, size_t n)
{
    if (n == 0)
        return;
    uint8_t *d = wr_room(w, n);
    memcpy(d, p, n);
    wr_commit(w, n);
}

void gr_wr_i8(gr_wr_t *w, int8_t v)
{
    uint8_t *d = wr_room(w, 1);
    d[0] = (uint8_t)v;
    wr_commit(w, 1);
}

void gr_wr_i16(gr_wr_t *w, int16_t v)
{
    gr_put16(wr_room(w, 2), (uint16_t)v);
    wr_commit(w, 2);
}

void gr_wr_i32(gr_wr_t *w, int32_t v)
{
    gr_put32(wr_room(w, 4), (uint32_t)v);
    wr_commit(w, 4);
}

void gr_wr_i64(gr_wr_t *w, int64_t v)
{
    gr_put64(wr_room(w, 8), (uint64_t)v);
    wr_commit(w, 8);
}

void gr_wr_u16(gr_wr_t *w, uint16_t v)
{
    gr_put16(wr_room(w, 2), v);
    wr_commit(w, 2);
}

void gr_wr_u32(gr_wr_t *w, uint32_t v)
{
    gr_put32(wr_room(w, 4), v);
    wr_commit(w, 4);
}

void gr_wr_f64(gr_wr_t *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    gr_put64(wr_room(w, 8), u);
    wr_commit(w, 8);
}

void gr_wr_bool(gr_wr_t *w, bool v)
{
    gr_wr_i8(w, v ? 1 : 0);
}

static inline size_t uvarint64_put(uint8_t *d, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        d[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    d[n++] = (uint8_t)v;
    return n;
}

void gr_wr_uvarint(gr_wr_t *w, uint32_t v)
{
    uint8_t *d = wr_room(w, 5);
    wr_commit(w, uvarint64_put(d, v));
}

void gr_wr_varint(gr_wr_t *w, int32_t v)
{
    uint32_t z = ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
    gr_wr_uvarint(w, z);
}

size_t gr_varlong_encode(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    return uvarint64_put(p, z);
}

void gr_wr_varlong(gr_wr_t *w, int64_t v)
{
    uint8_t *d = wr_room(w, 10);
    wr_commit(w, gr_varlong_encode(d, v));
}

size_t gr_uvarint_size(uint32_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t gr_varint_size(int32_t v)
{
    return gr_uvarint_size(((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

size_t gr_varlong_size(int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}

void gr_wr_uuid(gr_wr_t *w, const gr_uuid_t *u)
{
    gr_wr_raw(w, u->b, 16);
}

void gr_wr_str(gr_wr_t *w, bool flex, gr_str_t s)
{
    if (s.len < 0) {
        if (flex)
            gr_wr_uvarint(w, 0);
        else
            gr_wr_i16(w, -1);
        return;
    }
    assert(flex || s.len <= GR_STR_MAX);   /* Kafka strings are <= 32767 bytes (gr_rd_str) */
    if (flex)
        gr_wr_uvarint(w, (uint32_t)s.len + 1);
    else
        gr_wr_i16(w, (int16_t)s.len);
    gr_wr_raw(w, s.p, (size_t)s.len);
}

void gr_wr_cstr(gr_wr_t *w, bool flex, const char *s)
{
    gr_str_t v = {s, -1};
    if (s)
        v.len = (int32_t)strlen(s);
    gr_wr_str(w, flex, v);
}

void gr_wr_array_len(gr_wr_t *w, bool flex, int32_t n)
{
    if (flex)
        gr_wr_uvarint(w, n < 0 ? 0 : (uint32_t)n + 1);
    else
        gr_wr_i32(w, n < 0 ? -1 : n);
}

void gr_wr_bytes(gr_wr_t *w, bool flex, gr_bytes_t b)
{
    gr_wr_array_len(w, flex, b.len);
    if (b.len > 0)
        gr_wr_raw(w, b.p, (size_t)b.len);
}

void gr_wr_file(gr_wr_t *w, gr_file_t *f, int64_t off, size_t len)
{
    if (len == 0)
        return;
    gr_chunk_t *c = gr_calloc(1, sizeof(*c));
    c->file = gr_file_ref(f);
    c->file_off = off;
    c->len = len;
    wr_append_chunk(w, c);
    w->total += len;
}

void gr_wr_lazy(gr_wr_t *w, const gr_lazy_ops_t *ops, void *src, size_t len)
{
    if (len == 0) {
        ops->free(src);
        return;
    }
    gr_chunk_t *c = gr_calloc(1, sizeof(*c));
    c->lazy = ops;
    c->src = src;
    c->len = len;
    wr_append_chunk(w, c);
    w->total += len;
}

size_t gr_wr_mem(const gr_wr_t *w)
{
    size_t n = 0;
    for (const gr_chunk_t *k = w->head; k; k = k->next)
        if (k->mem)
            n += k->cap;
        else if (k->lazy)
            n += k->lazy->mem(k->src);
    return n;
}

void gr_wr_records(gr_wr_t *w, bool flex, const gr_records_t *r)
{
    gr_wr_array_len(w, flex, r->len);
    if (r->lazy) {
        /* the writer owns the source from here on (a Records field is
         * encoded once) */
        gr_wr_lazy(w, r->lazy, r->lazy_src, (size_t)GR_MAX(r->len, 0));
        return;
    }
    if (r->len <= 0)
        return;
    if (r->file)
        gr_wr_file(w, r->file, r->file_off, (size_t)r->len);
    else
        gr_wr_raw(w, r->mem, (size_t)r->len);
}

gr_wpos_t gr_wr_reserve(gr_wr_t *w, size_t n)
{
    uint8_t *d = wr_room(w, n);
    memset(d, 0, n);
    gr_wpos_t pos = {w->tail, w->tail->len};
    wr_commit(w, n);
    return pos;
}

void gr_wr_patch_i32(gr_wr_t *w, gr_wpos_t pos, int32_t v)
{
    GR_UNUSED(w);
    gr_put32(pos.chunk->mem + pos.off, (uint32_t)v);
}

void gr_wr_splice(gr_wr_t *dst, gr_wr_t *src)
{
    if (!src->head)
        return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    dst->total += src->total;
    gr_wr_init(src);
}

uint8_t *gr_wr_flatten(gr_wr_t *w, size_t *len)
{
    gr_chunk_t *c;
    for (c = w->head; c; c = c->next)
        if (!c->mem)
            return NULL;
    if (!w->head)
        (void)wr_grow(w, 1);             /* an empty chunk: valid pointer */
    if (w->head != w->tail) {
        gr_chunk_t *m = mem_chunk_new(w->total ? w->total : 1);
        for (c = w->head; c;) {
            gr_chunk_t *next = c->next;
            memcpy(m->mem + m->len, c->mem, c->len);
            m->len += c->len;
            chunk_free(c);
            c = next;
        }
        w->head = w->tail = m;
        m->next = NULL;
    }
    *len = w->total;
    return w->head->mem;
}
