/*
 * wire.h - Kafka wire primitives: a bounds-checked reader and an output
 * chain writer.
 *
 * Reader: gr_rd_t walks a byte range.  Every read checks the bounds; on a
 * short or bad read the reader's `err` becomes GR_EPROTO (sticky), the read
 * returns 0 / an empty value, and the caller checks rd->err once at the end
 * (librdkafka's err_parse idea without the goto in every macro).
 *
 * Writer: gr_wr_t is an output chain (nginx's ngx_chain_t idea).  A chunk is
 * either memory (grown with realloc while it is the tail) or a file range
 * {gr_file_t, offset, length} that net.c sends with sendfile(2).  Encoding
 * a response never copies record data that lives in a segment file.
 *
 * Flexible versions (KIP-482): every string/bytes/array primitive takes a
 * `flex` flag; compact forms are written as uvarint(len+1) with 0 = null.
 * Tagged-field sections are uvarint count + (uvarint tag, uvarint size, data).
 *
 *   type              classic encoding           compact (flex) encoding
 *   ----------------  -------------------------  -------------------------
 *   string            int16 len, -1 = null        uvarint len+1, 0 = null
 *   bytes / records   int32 len, -1 = null        uvarint len+1, 0 = null
 *   array             int32 count, -1 = null      uvarint count+1, 0 = null
 *   varint / varlong  zig-zag LEB128 (records only)
 *   uuid              16 raw bytes
 */
#ifndef GR_WIRE_H
#define GR_WIRE_H

#include "fcache.h"
#include "gr.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A string or byte range pointing into a request buffer (not NUL-terminated).
 * len == -1 means null. */
typedef struct gr_str {
    const char *p;
    int32_t len;
} gr_str_t;

typedef struct gr_bytes {
    const uint8_t *p;
    int32_t len;
} gr_bytes_t;

typedef struct gr_uuid {
    uint8_t b[16];
} gr_uuid_t;


/* A lazy chunk's source: bytes made while the response is being written
 * (Fetch v0-3 down-conversion, downconv.c), in bounded pieces, because
 * they cannot be sent from a file and should not all be in memory at once.
 * The source hands out exactly the chunk's length, piece by piece. */
typedef struct gr_lazy_ops {
    /* The next piece, at most `room` (> 0) bytes: *p points at bytes the
     * source owns until the next call or free.  Returns the piece's length
     * (> 0), or a GR_E* when it cannot go on (the connection is closed: the
     * response header is out). */
    ssize_t (*next)(void *src, size_t room, const uint8_t **p);
    size_t (*mem)(const void *src);    /* bytes of memory the source holds now */
    void (*free)(void *src);
} gr_lazy_ops_t;

/* Record data for a `records` field: either memory (mem), a file range
 * (file != NULL, file_off) or a lazy source (lazy != NULL, owned by the
 * record until it is encoded, then by the writer).  len == -1 means null.
 * Decoding always yields memory; the Fetch handler fills the others. */
typedef struct gr_records {
    int32_t len;
    const uint8_t *mem;
    gr_file_t *file;
    int64_t file_off;
    const gr_lazy_ops_t *lazy;
    void *lazy_src;
} gr_records_t;

#define GR_STR_NULL ((gr_str_t){NULL, -1})
/* The longest string Kafka reads or writes (its generated code refuses
 * longer ones, compact strings included). */
#define GR_STR_MAX 0x7fff
#define GR_STR(s) ((gr_str_t){(s), (int32_t)strlen(s)})
#define GR_STR_EQ(a, cstr) ((a).len >= 0 && (size_t)(a).len == strlen(cstr) && memcmp((a).p, (cstr), (size_t)(a).len) == 0)

/* ---------------------------------------------------------------- reader */

typedef struct gr_rd {
    const uint8_t *p;
    const uint8_t *end;
    int err;            /* 0 or GR_EPROTO, sticky */
} gr_rd_t;

void gr_rd_init(gr_rd_t *rd, const void *p, size_t len);
static inline size_t gr_rd_left(const gr_rd_t *rd) { return (size_t)(rd->end - rd->p); }

int8_t gr_rd_i8(gr_rd_t *rd);
int16_t gr_rd_i16(gr_rd_t *rd);
int32_t gr_rd_i32(gr_rd_t *rd);
int64_t gr_rd_i64(gr_rd_t *rd);
uint16_t gr_rd_u16(gr_rd_t *rd);
uint32_t gr_rd_u32(gr_rd_t *rd);
double gr_rd_f64(gr_rd_t *rd);
bool gr_rd_bool(gr_rd_t *rd);
uint32_t gr_rd_uvarint(gr_rd_t *rd);      /* unsigned LEB128, max 5 bytes */
int32_t gr_rd_varint(gr_rd_t *rd);        /* zig-zag, max 5 bytes */
int64_t gr_rd_varlong(gr_rd_t *rd);       /* zig-zag, max 10 bytes */
void gr_rd_uuid(gr_rd_t *rd, gr_uuid_t *out);
/* strings/bytes: point into the buffer; null -> len -1 */
void gr_rd_str(gr_rd_t *rd, bool flex, gr_str_t *out);
void gr_rd_bytes(gr_rd_t *rd, bool flex, gr_bytes_t *out);
void gr_rd_records(gr_rd_t *rd, bool flex, gr_records_t *out);
/* array length: -1 for null.  Fails (GR_EPROTO) when the count cannot
 * possibly fit in the remaining bytes (each element >= min_elem_size),
 * so a hostile count never drives a huge allocation. */
int32_t gr_rd_array_len(gr_rd_t *rd, bool flex, size_t min_elem_size);
/* Skip `n` bytes. */
void gr_rd_skip(gr_rd_t *rd, size_t n);
/* Read a raw span of n bytes (pointer into the buffer, NULL on error). */
const uint8_t *gr_rd_raw(gr_rd_t *rd, size_t n);

/* ---------------------------------------------------------------- writer */

typedef struct gr_chunk {
    struct gr_chunk *next;
    uint8_t *mem;        /* memory chunk data (owned), NULL for a file or lazy chunk */
    size_t cap;
    size_t len;          /* bytes of data in this chunk */
    size_t sent;         /* bytes already written to the socket */
    gr_file_t *file;     /* file chunk: a reference, released on free */
    int64_t file_off;
    const gr_lazy_ops_t *lazy;   /* lazy chunk: its source (owned) ... */
    void *src;
    const uint8_t *piece;        /* ... and the piece being sent */
    size_t piece_len, piece_off;
} gr_chunk_t;

typedef struct gr_wr {
    gr_chunk_t *head;
    gr_chunk_t *tail;
    size_t total;        /* total bytes in all chunks */
} gr_wr_t;

/* A position in a writer to patch later (e.g. a length prefix). */
typedef struct gr_wpos {
    gr_chunk_t *chunk;
    size_t off;
} gr_wpos_t;

void gr_wr_init(gr_wr_t *w);
void gr_wr_free(gr_wr_t *w);                 /* frees chunks, unrefs files */
/* Move all chunks of src to the end of dst (src becomes empty). */
void gr_wr_splice(gr_wr_t *dst, gr_wr_t *src);
/* For writers with memory chunks only: a pointer to the contiguous bytes
 * (merging chunks if needed); NULL if a file chunk is present. */
uint8_t *gr_wr_flatten(gr_wr_t *w, size_t *len);

void gr_wr_raw(gr_wr_t *w, const void *p, size_t n);
void gr_wr_i8(gr_wr_t *w, int8_t v);
void gr_wr_i16(gr_wr_t *w, int16_t v);
void gr_wr_i32(gr_wr_t *w, int32_t v);
void gr_wr_i64(gr_wr_t *w, int64_t v);
void gr_wr_u16(gr_wr_t *w, uint16_t v);
void gr_wr_u32(gr_wr_t *w, uint32_t v);
void gr_wr_f64(gr_wr_t *w, double v);
void gr_wr_bool(gr_wr_t *w, bool v);
void gr_wr_uvarint(gr_wr_t *w, uint32_t v);
void gr_wr_varint(gr_wr_t *w, int32_t v);
void gr_wr_varlong(gr_wr_t *w, int64_t v);
void gr_wr_uuid(gr_wr_t *w, const gr_uuid_t *u);
void gr_wr_str(gr_wr_t *w, bool flex, gr_str_t s);
void gr_wr_cstr(gr_wr_t *w, bool flex, const char *s);   /* NULL -> null */
void gr_wr_bytes(gr_wr_t *w, bool flex, gr_bytes_t b);
void gr_wr_records(gr_wr_t *w, bool flex, const gr_records_t *r); /* file ranges become file chunks (ref taken) */
void gr_wr_array_len(gr_wr_t *w, bool flex, int32_t n);  /* -1 -> null */
void gr_wr_file(gr_wr_t *w, gr_file_t *f, int64_t off, size_t len); /* takes a new ref */
/* Append a lazy chunk of len bytes from src (ownership moves to w). */
void gr_wr_lazy(gr_wr_t *w, const gr_lazy_ops_t *ops, void *src, size_t len);
/* Bytes of memory a writer holds: memory chunks' capacity plus what lazy
 * sources hold (file ranges cost none). */
size_t gr_wr_mem(const gr_wr_t *w);

/* Reserve n bytes to patch later (lives in a memory chunk). */
gr_wpos_t gr_wr_reserve(gr_wr_t *w, size_t n);
void gr_wr_patch_i32(gr_wr_t *w, gr_wpos_t pos, int32_t v);

/* Encoded sizes, for tagged fields and frame length computations. */
size_t gr_uvarint_size(uint32_t v);
size_t gr_varint_size(int32_t v);
size_t gr_varlong_size(int64_t v);

/* Varint helpers on raw memory (record parsing in batch.c). */
int gr_varint_decode(const uint8_t *p, const uint8_t *end, int64_t *out, bool zigzag, int maxbytes);
size_t gr_varlong_encode(uint8_t *p, int64_t v);   /* zig-zag, returns bytes written (<=10) */

#endif
