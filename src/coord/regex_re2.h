/*
 * regex_re2.h - regular expressions of consumer-group subscriptions
 * (ConsumerGroupHeartbeat's SubscribedTopicRegex).  Kafka compiles them
 * with Google's RE2/J and matches whole topic names (Matcher.matches());
 * this is RE2 (Debian's libre2), whose syntax RE2/J reproduces: no
 * back-references or look-around, and matching in time linear in the
 * input whatever the pattern, so a pattern a client sends cannot make the
 * broker backtrack.  The wrapper (regex_re2.cc) is the only C++ in the broker.
 */
#ifndef GR_REGEX_H
#define GR_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gr_regex gr_regex_t;

/* Compile pattern[0..len) (UTF-8).  NULL on a syntax error (or a pattern
 * beyond RE2's memory bound, 8 MiB of program), with the reason in err as
 * RE2/J describes it ("missing closing )", "invalid escape sequence"...). */
gr_regex_t *gr_regex_compile(const char *pattern, size_t len, char *err, size_t errlen);
/* Whether the whole of s[0..len) matches. */
bool gr_regex_full_match(const gr_regex_t *re, const char *s, size_t len);
void gr_regex_free(gr_regex_t *re);

#ifdef __cplusplus
}
#endif

#endif
