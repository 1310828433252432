/*
 * jstr.c - Kafka's wire strings as Java Strings (see jstr.h).
 *
 * One decoder, decode_one(), follows the JDK's String(byte[], UTF_8)
 * (java.lang.String.decodeUTF8_UTF16; checked against Java 17 on about a
 * million inputs, and JDK 25's source has the same code) step by step,
 * including its quirks: one U+FFFD covers an encoded surrogate
 * (ED A0 80) whole, a truncated sequence at the end of the input is one
 * U+FFFD however many bytes it has, and a bad continuation byte is decoded
 * again as the start of the next character.  Everything else (canonical
 * bytes, hashCode, escaping) walks the input with it.  The unit test
 * (tests/unit/test_jstr.c) holds vectors computed by Java 17
 * (tools/JStrVectors.java).
 */
#include "jstr.h"

#include <string.h>

#define REPL 0xfffdu

static inline bool cont(uint8_t b)
{
    return (b & 0xc0) == 0x80;
}

/* Decode one step at p (p < end): *cp gets the code point (U+FFFD for
 * malformed input) and *ok whether the bytes were a well-formed (hence
 * canonical) sequence.  Returns the bytes consumed: where the JDK stops
 * decoding at a truncated sequence, everything left. */
static size_t decode_one(const uint8_t *p, const uint8_t *end, int flags, uint32_t *cp, bool *ok)
{
    size_t left = (size_t)(end - p);
    uint8_t b1 = p[0];
    *ok = true;
    if (b1 < 0x80) {
        *cp = b1;
        return 1;
    }
    if ((flags & GR_JSTR_HELD) && b1 == 0xc0 && left >= 2 && p[1] == 0x80) {
        *cp = 0;
        return 2;
    }
    *ok = false;
    *cp = REPL;
    if (b1 >= 0xc2 && b1 <= 0xdf) {
        if (left < 2)
            return left;
        if (!cont(p[1]))
            return 1;
        *cp = ((uint32_t)(b1 & 0x1f) << 6) | (p[1] & 0x3f);
        *ok = true;
        return 2;
    }
    if (b1 >= 0xe0 && b1 <= 0xef) {
        if (left >= 3) {
            uint8_t b2 = p[1], b3 = p[2];
            bool bad2 = (b1 == 0xe0 && (b2 & 0xe0) == 0x80) || !cont(b2);
            if (bad2 || !cont(b3))
                return bad2 ? 1 : 2;
            uint32_t c = ((uint32_t)(b1 & 0x0f) << 12) | ((uint32_t)(b2 & 0x3f) << 6) | (b3 & 0x3f);
            if (c >= 0xd800 && c <= 0xdfff)
                return 3;                               /* an encoded surrogate: one U+FFFD */
            *cp = c;
            *ok = true;
            return 3;
        }
        if (left == 2 && ((b1 == 0xe0 && (p[1] & 0xe0) == 0x80) || !cont(p[1])))
            return 1;
        return left;
    }
    if (b1 >= 0xf0 && b1 <= 0xf7) {
        if (left >= 4) {
            uint8_t b2 = p[1], b3 = p[2], b4 = p[3];
            uint32_t c = ((uint32_t)(b1 & 0x07) << 18) | ((uint32_t)(b2 & 0x3f) << 12) |
                         ((uint32_t)(b3 & 0x3f) << 6) | (b4 & 0x3f);
            if (!cont(b2) || !cont(b3) || !cont(b4) || c < 0x10000 || c > 0x10ffff) {
                if (b1 > 0xf4 || (b1 == 0xf0 && (b2 < 0x90 || b2 > 0xbf)) || (b1 == 0xf4 && (b2 & 0xf0) != 0x80) ||
                    !cont(b2))
                    return 1;
                return cont(b3) ? 3 : 2;
            }
            *cp = c;
            *ok = true;
            return 4;
        }
        if (b1 > 0xf4 || (left >= 2 && ((b1 == 0xf0 && (p[1] < 0x90 || p[1] > 0xbf)) ||
                                        (b1 == 0xf4 && (p[1] & 0xf0) != 0x80) || !cont(p[1]))))
            return 1;
        if (left >= 3 && !cont(p[2]))
            return 2;
        return left;
    }
    return 1;                                           /* 80..c1, f8..ff */
}

static size_t put_utf8(uint32_t cp, int flags, char *o)
{
    uint8_t *u = (uint8_t *)o;
    if (cp == 0 && (flags & GR_JSTR_HELD)) {
        u[0] = 0xc0;
        u[1] = 0x80;
        return 2;
    }
    if (cp < 0x80) {
        u[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (uint8_t)(0xc0 | (cp >> 6));
        u[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (uint8_t)(0xe0 | (cp >> 12));
        u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    u[0] = (uint8_t)(0xf0 | (cp >> 18));
    u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    u[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

size_t gr_jstr_canon(const void *in, size_t len, int in_flags, char *out, int out_flags)
{
    const uint8_t *p = in, *end = p + len;
    size_t o = 0;
    while (p < end) {
        uint32_t cp;
        bool ok;
        p += decode_one(p, end, in_flags, &cp, &ok);
        char tmp[4];
        o += put_utf8(cp, out_flags, out ? out + o : tmp);
    }
    if (out)
        out[o] = '\0';
    return o;
}

bool gr_jstr_is_canon(const void *in, size_t len, int flags)
{
    const uint8_t *p = in, *end = p + len;
    while (p < end) {
        uint32_t cp;
        bool ok;
        if (*p == 0 && (flags & GR_JSTR_HELD))
            return false;
        p += decode_one(p, end, flags, &cp, &ok);
        if (!ok)
            return false;
    }
    return true;
}

bool gr_jstr_has_nul(const char *held, size_t len)
{
    return memchr(held, 0xc0, len) != NULL;     /* held form has C0 only in C0 80 */
}

size_t gr_jstr_unhold(const char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if ((uint8_t)in[i] == 0xc0 && i + 1 < len && (uint8_t)in[i + 1] == 0x80) {
            out[o++] = '\0';
            i++;
        } else {
            out[o++] = in[i];
        }
    }
    return o;
}

size_t gr_jstr_length(const void *in, size_t len, int flags)
{
    const uint8_t *p = in, *end = p + len;
    size_t n = 0;
    while (p < end) {
        uint32_t cp;
        bool ok;
        p += decode_one(p, end, flags, &cp, &ok);
        n += cp >= 0x10000 ? 2 : 1;
    }
    return n;
}

int32_t gr_jstr_hash(const void *in, size_t len, int flags)
{
    const uint8_t *p = in, *end = p + len;
    uint32_t h = 0;
    while (p < end) {
        uint32_t cp;
        bool ok;
        p += decode_one(p, end, flags, &cp, &ok);
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = h * 31u + (0xd800u + (cp >> 10));
            h = h * 31u + (0xdc00u + (cp & 0x3ff));
        } else {
            h = h * 31u + cp;
        }
    }
    return (int32_t)h;
}

int32_t gr_jstr_partition(const void *in, size_t len, int flags, int32_t n)
{
    if (n <= 0)
        return 0;
    int32_t h = gr_jstr_hash(in, len, flags);
    /* Utils.abs: Integer.MIN_VALUE -> 0 */
    uint32_t a = h == INT32_MIN ? 0u : (uint32_t)(h < 0 ? -h : h);
    return (int32_t)(a % (uint32_t)n);
}

static bool format_char(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t gr_jstr_escape(const void *in, size_t len, int flags, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = in, *end = p + len;
    size_t need = 0, w = 0;
    bool full = cap == 0;
    while (p < end) {
        uint32_t cp;
        bool ok;
        const uint8_t *s = p;
        p += decode_one(p, end, flags, &cp, &ok);
        char piece[16];                                 /* a step is at most 4 bytes */
        size_t n = 0;
        if (!ok) {
            for (const uint8_t *b = s; b < p; b++) {
                piece[n++] = '\\';
                piece[n++] = 'x';
                piece[n++] = hex[*b >> 4];
                piece[n++] = hex[*b & 15];
            }
        } else if (cp < 0x20 || cp == 0x7f) {
            piece[n++] = '\\';
            piece[n++] = 'x';
            piece[n++] = hex[cp >> 4];
            piece[n++] = hex[cp & 15];
        } else if (cp == '\\') {
            piece[n++] = '\\';
            piece[n++] = '\\';
        } else if (format_char(cp)) {
            piece[n++] = '\\';
            piece[n++] = 'u';
            for (int sh = 12; sh >= 0; sh -= 4)
                piece[n++] = hex[(cp >> sh) & 15];
        } else {
            n = (size_t)(p - s);
            memcpy(piece, s, n);
        }
        if (!full && w + n < cap) {
            memcpy(out + w, piece, n);
            w += n;
        } else {
            full = true;
        }
        need += n;
    }
    if (cap > 0)
        out[w] = '\0';
    return need;
}
