/*
 * jstr.h - Kafka's wire strings as the Java Strings Kafka makes of them.
 *
 * Kafka reads every string field of a request (group ids, member ids,
 * instance ids, client ids, protocol names, offset metadata, ...) with
 * new String(bytes, UTF_8): malformed UTF-8 becomes U+FFFD, by the JDK's
 * own rules for how many bytes one replacement covers, and U+0000 is an
 * ordinary character.  So two byte strings that decode to the same String
 * are the same group for Kafka, and whatever Kafka writes back (responses,
 * __consumer_offsets keys and values) is that String re-encoded as UTF-8:
 * the canonical bytes.  A group lives on __consumer_offsets partition
 * Utils.abs(groupId.hashCode()) % partitions, String.hashCode taken over
 * the UTF-16 code units.
 *
 * Held form.  The broker keeps such strings as NUL-terminated C strings:
 * the canonical bytes with U+0000 written as C0 80 (the modified UTF-8 in
 * which the JVM hands Strings to C code).  Canonical UTF-8 never contains
 * C0 80 (an overlong form), so the held form is NUL-free and one-to-one
 * with Java Strings: strcmp() on held strings is Kafka's String.equals,
 * and no id is ever cut at a NUL.  Held strings go back to wire bytes
 * (C0 80 -> 00) wherever they leave the process: responses and records.
 *
 *   wire bytes --gr_jstr_canon(HELD)--> held form --gr_jstr_unhold--> canonical wire bytes
 *   "a\xff\0"                           "a\xef\xbf\xbd\xc0\x80"        "a\xef\xbf\xbd\0"
 *
 * gregord and the CLI (gregor) both build this file: nothing here
 * allocates or uses another module.
 */
#ifndef GR_JSTR_H
#define GR_JSTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Flags: the input (and, for gr_jstr_canon, the output) is in held form. */
#define GR_JSTR_WIRE 0
#define GR_JSTR_HELD 1

/* Bytes gr_jstr_canon may write for len input bytes (NUL included): every
 * byte can become U+FFFD (3 bytes), or U+0000 in held form (2 bytes). */
#define GR_JSTR_CANON_MAX(len) (3 * (size_t)(len) + 1)

/* The canonical bytes of in[0..len) (wire bytes, or held form with
 * GR_JSTR_HELD in in_flags), written in held form when out_flags has
 * GR_JSTR_HELD, else as wire bytes.  out must hold the returned length + 1
 * (at most GR_JSTR_CANON_MAX(len)); it is NUL-terminated.  Returns the
 * length (NUL not counted); out NULL: only the length. */
size_t gr_jstr_canon(const void *in, size_t len, int in_flags, char *out, int out_flags);

/* Is in[0..len) already canonical in the given form (so that
 * gr_jstr_canon would copy it unchanged)?  Wire form: valid UTF-8 as the
 * JDK decodes it.  Held form: the same, without 00 bytes, C0 80 allowed. */
bool gr_jstr_is_canon(const void *in, size_t len, int flags);

/* Held form to wire bytes: C0 80 -> 00, in place allowed (out may be in).
 * Returns the new length.  gr_jstr_has_nul: whether there is any C0 80. */
size_t gr_jstr_unhold(const char *in, size_t len, char *out);
bool gr_jstr_has_nul(const char *held, size_t len);

/* Java's String.length() (UTF-16 code units) of the String the bytes
 * decode to: what Kafka's size limits on strings count. */
size_t gr_jstr_length(const void *in, size_t len, int flags);

/* Java's String.hashCode of the String the bytes decode to. */
int32_t gr_jstr_hash(const void *in, size_t len, int flags);

/* Kafka's partitionFor: Utils.abs(hashCode) % n (Utils.abs maps
 * Integer.MIN_VALUE to 0); 0 when n <= 0. */
int32_t gr_jstr_partition(const void *in, size_t len, int flags, int32_t n);

/* For log lines and terminal output: printable text as it is, the rest
 * escaped so that a client's string cannot forge lines or control a
 * terminal: '\\' -> "\\\\", C0 controls and DEL -> "\xNN", C1 controls and
 * bidirectional / line-separator format characters -> "\uNNNN", bytes that
 * are not UTF-8 -> "\xNN", and in held form C0 80 -> "\x00".  Writes at most
 * cap bytes, NUL included (cap 0: nothing); cuts only between escapes or
 * characters.  Returns the length the whole escaped string needs. */
size_t gr_jstr_escape(const void *in, size_t len, int flags, char *out, size_t cap);

#endif
