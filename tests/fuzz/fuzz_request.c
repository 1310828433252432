/*
 * fuzz_request.c - libFuzzer target for request decoding: the request
 * header and the generated body decoders of every API and version in
 * schema_gen.c, exactly as net.c and the handlers run them on a frame.
 *
 * Input layout:
 *   +--------+---------+-------------------------------------------------+
 *   | uint8  | api     | API key; a key without a generated spec picks   |
 *   |        |         | the (api mod n)-th generated API instead        |
 *   | uint8  | version | used as is when in the spec's range, else       |
 *   |        |         | min + version mod (max - min + 1)               |
 *   | bytes  | frame   | a request frame without its int32 size: header  |
 *   |        |         | (v0/v1/v2 as gr_schema_request_header_version)  |
 *   |        |         | then the body                                   |
 *   +--------+---------+-------------------------------------------------+
 * A captured frame of key k, version v is thus the seed {k, v, frame}.
 * When the header does not decode, the whole frame is decoded as a body
 * so that the body decoders stay reachable.
 *
 * Property checked: a body that decodes re-encodes, and the re-encoding
 * decodes and re-encodes to the same bytes (the codec is stable).
 */
#include "fuzz.h"

#include "arena.h"
#include "schema_gen.h"
#include "wire.h"

static int16_t req_keys[256];
static int req_nkeys;
static gr_arena_t req_arena;

static void req_init(void)
{
    if (req_nkeys)
        return;
    fuzz_quiet();
    for (int k = 0; k < 256 && req_nkeys < 256; k++)
        if (gr_api_spec((int16_t)k))
            req_keys[req_nkeys++] = (int16_t)k;
    FUZZ_CHECK(req_nkeys > 0);
    gr_arena_init(&req_arena);
}

/* Encode m (a decoded request) and return the flattened bytes (malloc'ed). */
static uint8_t *req_encode(int16_t key, int16_t ver, const void *m, size_t *len)
{
    gr_wr_t w;
    gr_wr_init(&w);
    FUZZ_CHECK(gr_schema_encode_request(key, &w, ver, m) == 0);
    size_t n = 0;
    uint8_t *flat = gr_wr_flatten(&w, &n);
    FUZZ_CHECK(flat != NULL || n == 0);
    uint8_t *copy = gr_malloc(n + 1);
    if (n)
        memcpy(copy, flat, n);
    gr_wr_free(&w);
    *len = n;
    return copy;
}

static void req_roundtrip(int16_t key, int16_t ver, const void *m)
{
    size_t n1, n2;
    uint8_t *b1 = req_encode(key, ver, m, &n1);
    gr_arena_t a;
    gr_arena_init(&a);
    gr_rd_t rd;
    gr_rd_init(&rd, b1, n1);
    void *m2 = NULL;
    int rc = gr_schema_decode_request(key, &rd, ver, &a, &m2);
    if (rc != 0 || rd.err || gr_rd_left(&rd) != 0) {
        fprintf(stderr, "re-decode of api %d v%d failed: rc %d err %d left %zu\n", key, ver, rc, rd.err,
                gr_rd_left(&rd));
        abort();
    }
    uint8_t *b2 = req_encode(key, ver, m2, &n2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0) {
        fprintf(stderr, "api %d v%d: re-encoding differs (%zu vs %zu bytes)\n", key, ver, n1, n2);
        abort();
    }
    free(b1);
    free(b2);
    gr_arena_free(&a);
}

int fuzz_request_one(const uint8_t *data, size_t size)
{
    req_init();
    if (size < 2)
        return 0;
    int16_t key = data[0];
    const gr_api_spec_t *spec = gr_api_spec(key);
    if (!spec) {
        key = req_keys[data[0] % req_nkeys];
        spec = gr_api_spec(key);
    }
    int16_t ver = data[1];
    if (ver < spec->min_version || ver > spec->max_version)
        ver = (int16_t)(spec->min_version + data[1] % (spec->max_version - spec->min_version + 1));
    const uint8_t *frame = data + 2;
    size_t flen = size - 2;

    gr_arena_reset(&req_arena);
    gr_rd_t rd;
    gr_rd_init(&rd, frame, flen);
    gr_RequestHeader_t h;
    int16_t hver = gr_schema_request_header_version(key, ver);
    if (gr_RequestHeader_decode(&rd, hver, &req_arena, &h) < 0 || rd.err)
        gr_rd_init(&rd, frame, flen);

    void *m = NULL;
    int rc = gr_schema_decode_request(key, &rd, ver, &req_arena, &m);
    FUZZ_CHECK(rc == 0 || rc == GR_EPROTO);
    FUZZ_CHECK(rd.p <= rd.end);
    if (rc == 0 && !rd.err)
        req_roundtrip(key, ver, m);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_request_one(data, size);
}
#endif
