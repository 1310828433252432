/*
 * regex_re2.cc - the C face of RE2 for regex_re2.h.  RE2 never throws; a pattern
 * that does not compile is reported through RE2::ok().  Options: UTF-8,
 * case-sensitive, errors not logged to stderr (the caller reports them, in
 * RE2/J's words), 8 MiB for the compiled program.
 */
#include "regex_re2.h"

#include <re2/re2.h>

#include <cstdio>
#include <new>

struct gr_regex {
    RE2 re;
    explicit gr_regex(const re2::StringPiece &p, const RE2::Options &o) : re(p, o) {}
};

/* RE2/J's description of a syntax error (PatternSyntaxException's
 * getDescription(), which Kafka puts in its message) for RE2's code. */
static const char *rej_description(RE2::ErrorCode c)
{
    switch (c) {
    case RE2::ErrorBadEscape:
        return "invalid escape sequence";
    case RE2::ErrorBadCharClass:
        return "invalid character class";
    case RE2::ErrorBadCharRange:
        return "invalid character class range";
    case RE2::ErrorMissingBracket:
        return "missing closing ]";
    case RE2::ErrorMissingParen:
        return "missing closing )";
    case RE2::ErrorTrailingBackslash:
        return "trailing backslash at end of expression";
    case RE2::ErrorRepeatArgument:
        return "missing argument to repetition operator";
    case RE2::ErrorRepeatSize:
        return "invalid repeat count";
    case RE2::ErrorRepeatOp:
        return "invalid nested repetition operator";
    case RE2::ErrorBadPerlOp:
        return "invalid or unsupported Perl syntax";
    case RE2::ErrorBadNamedCapture:
        return "invalid named capture";
    case RE2::ErrorBadUTF8:
        return "invalid UTF-8";
    case RE2::ErrorPatternTooLarge:
        return "expression too large";
    default:    /* RE2/J's answer to an unmatched ")" too */
        return "regexp/syntax: internal error";
    }
}

extern "C" gr_regex_t *gr_regex_compile(const char *pattern, size_t len, char *err, size_t errlen)
{
    RE2::Options o;
    o.set_log_errors(false);
    o.set_max_mem(8 << 20);
    gr_regex_t *r = new (std::nothrow) gr_regex(re2::StringPiece(pattern, len), o);
    if (!r) {
        if (errlen)
            std::snprintf(err, errlen, "out of memory");
        return nullptr;
    }
    if (!r->re.ok()) {
        if (errlen)
            std::snprintf(err, errlen, "%s", rej_description(r->re.error_code()));
        delete r;
        return nullptr;
    }
    return r;
}

extern "C" bool gr_regex_full_match(const gr_regex_t *re, const char *s, size_t len)
{
    return RE2::FullMatch(re2::StringPiece(s, len), re->re);
}

extern "C" void gr_regex_free(gr_regex_t *re)
{
    delete re;
}
