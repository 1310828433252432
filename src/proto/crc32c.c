/*
 * crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) for
 * RecordBatch v2, and CRC-32 (IEEE) for legacy message sets.
 *
 * gr_crc32c() picks its implementation once: the SSE4.2 `crc32` instruction
 * (8 bytes per step) when the CPU has it, otherwise slicing-by-8 tables.
 * The instruction has a latency of three cycles but can start one per
 * cycle, so the hardware version runs three independent CRCs over three
 * adjacent blocks (3 x 8 KiB, then 3 x 256 B) and combines them: shifting
 * a CRC over n zero bytes is a linear map, applied with four table lookups
 * (tables built once per block size; Mark Adler's crc32c.c does the same).
 * Both take and return a finished CRC (pre/post inversion done inside), so
 * calls chain: gr_crc32c(gr_crc32c(0, a, n), b, m) == crc of a||b.
 * gr_crc32() is zlib's crc32().
 */
#include "batch.h"

#include <string.h>
#include <zlib.h>

static uint32_t tab[8][256];
static int tab_ready;

static void tab_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            tab[t][i] = (tab[t - 1][i] >> 8) ^ tab[0][tab[t - 1][i] & 0xff];
    __atomic_store_n(&tab_ready, 1, __ATOMIC_RELEASE);
}

uint32_t gr_crc32c_sw(uint32_t crc, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    if (!__atomic_load_n(&tab_ready, __ATOMIC_ACQUIRE))
        tab_init();   /* idempotent: racing threads compute the same table */
    crc = ~crc;
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        crc = tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        n--;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        w ^= crc;
        crc = tab[7][w & 0xff] ^ tab[6][(w >> 8) & 0xff] ^
              tab[5][(w >> 16) & 0xff] ^ tab[4][(w >> 24) & 0xff] ^
              tab[3][(w >> 32) & 0xff] ^ tab[2][(w >> 40) & 0xff] ^
              tab[1][(w >> 48) & 0xff] ^ tab[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        crc = tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256

/* shift[0]: a CRC over LONG_BLOCK zero bytes, shift[1]: over SHORT_BLOCK */
static uint32_t shift[2][4][256];
static int shift_ready;

/* GF(2) 32x32 matrix (one column per bit) times a vector. */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    for (; vec; vec >>= 1, mat++)
        if (vec & 1)
            sum ^= *mat;
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
    for (int n = 0; n < 32; n++)
        square[n] = gf2_times(mat, mat[n]);
}

/* Fills zeros[][] to shift a (pre-inverted) CRC over len zero bytes; len is
 * a power of two. */
static void shift_init(uint32_t zeros[4][256], size_t len)
{
    uint32_t odd[32], even[32];
    odd[0] = 0x82F63B78u;          /* one zero bit */
    for (int n = 1; n < 32; n++)
        odd[n] = 1u << (n - 1);
    gf2_square(even, odd);         /* two zero bits */
    gf2_square(odd, even);         /* four */
    for (;;) {
        gf2_square(even, odd);     /* one byte, then 4, 16, ... */
        len >>= 1;
        if (len == 0) {
            memcpy(odd, even, sizeof(odd));
            break;
        }
        gf2_square(odd, even);     /* 2, 8, 32, ... bytes */
        len >>= 1;
        if (len == 0)
            break;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int k = 0; k < 4; k++)
            zeros[k][n] = gf2_times(odd, n << (8 * k));
}

static void shift_tables_init(void)
{
    shift_init(shift[0], LONG_BLOCK);
    shift_init(shift[1], SHORT_BLOCK);
    __atomic_store_n(&shift_ready, 1, __ATOMIC_RELEASE);
}

static inline uint32_t crc_shift(uint32_t zeros[4][256], uint32_t crc)
{
    return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^
           zeros[3][crc >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    uint64_t c = ~crc;
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        n--;
    }
    if (n >= 3 * SHORT_BLOCK && !__atomic_load_n(&shift_ready, __ATOMIC_ACQUIRE))
        shift_tables_init();   /* idempotent: racing threads compute the same tables */
    for (int t = 0; t < 2; t++) {
        size_t blk = t == 0 ? LONG_BLOCK : SHORT_BLOCK;
        while (n >= 3 * blk) {
            uint64_t c1 = 0, c2 = 0;
            for (const uint8_t *end = p + blk; p < end; p += 8) {
                uint64_t w0, w1, w2;
                memcpy(&w0, p, 8);
                memcpy(&w1, p + blk, 8);
                memcpy(&w2, p + 2 * blk, 8);
                c = __builtin_ia32_crc32di(c, w0);
                c1 = __builtin_ia32_crc32di(c1, w1);
                c2 = __builtin_ia32_crc32di(c2, w2);
            }
            c = crc_shift(shift[t], (uint32_t)c) ^ (uint32_t)c1;
            c = crc_shift(shift[t], (uint32_t)c) ^ (uint32_t)c2;
            p += 2 * blk;
            n -= 3 * blk;
        }
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
#endif

bool gr_crc32c_hw_available(void)
{
#if defined(__x86_64__)
    return __builtin_cpu_supports("sse4.2");
#else
    return false;
#endif
}

uint32_t gr_crc32c_hw(uint32_t crc, const void *p, size_t n)
{
#if defined(__x86_64__)
    if (gr_crc32c_hw_available())
        return crc32c_hw(crc, p, n);
#endif
    return gr_crc32c_sw(crc, p, n);
}

typedef uint32_t crc_fn(uint32_t, const void *, size_t);
static crc_fn *impl;

uint32_t gr_crc32c(uint32_t crc, const void *p, size_t n)
{
    crc_fn *f = __atomic_load_n(&impl, __ATOMIC_RELAXED);
    if (f == NULL) {
#if defined(__x86_64__)
        f = gr_crc32c_hw_available() ? crc32c_hw : gr_crc32c_sw;
#else
        f = gr_crc32c_sw;
#endif
        __atomic_store_n(&impl, f, __ATOMIC_RELAXED);
    }
    return f(crc, p, n);
}

uint32_t gr_crc32(uint32_t crc, const void *p, size_t n)
{
    uLong c = crc;
    const uint8_t *b = p;
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, b, k);
        b += k;
        n -= k;
    }
    return (uint32_t)c;
}
