"""The gregor CLI allocates only through the project's wrapper
(src/core/alloc.c: gr_malloc, gr_calloc, gr_realloc, gr_strdup, gr_strndup),
which prints one line and aborts when memory runs out, so no result needs
a check and none goes unchecked.  A source check over cli/: every call of
the C library's allocators there is a finding, with its file and line."""
import os
import re

from helpers import HERE

CLI = os.path.abspath(os.path.join(HERE, "../../cli"))

# the C library's allocators (getline allocates too, but reports failure
# through its result, which the callers check)
RAW = re.compile(r"(?<![\w.>])(malloc|calloc|realloc|reallocarray|strdup|strndup|asprintf|vasprintf)\s*\(")


def code_only(text):
    """The C text with comments and string/char literals blanked, line
    structure kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def test_cli_allocates_through_the_wrapper():
    found = []
    files = sorted(f for f in os.listdir(CLI) if f.endswith((".c", ".h")))
    assert files, "no sources in %s" % CLI
    for f in files:
        with open(os.path.join(CLI, f)) as fh:
            text = code_only(fh.read())
        for no, line in enumerate(text.splitlines(), 1):
            for m in RAW.finditer(line):
                found.append("%s:%d: %s()" % (f, no, m.group(1)))
    assert not found, "allocations that bypass gr_malloc & co. (%d):\n%s" % (len(found), "\n".join(found))


def test_cli_has_no_abort_on_null():
    """The `if (!p) abort();` of each call site is gone with the wrapper."""
    found = []
    for f in sorted(os.listdir(CLI)):
        if not f.endswith(".c"):
            continue
        with open(os.path.join(CLI, f)) as fh:
            for no, line in enumerate(code_only(fh.read()).splitlines(), 1):
                if re.search(r"\babort\s*\(", line):
                    found.append("%s:%d" % (f, no))
    assert not found, "abort() calls left in cli/ (%d): %s" % (len(found), ", ".join(found))
