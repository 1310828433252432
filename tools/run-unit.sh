#!/bin/sh
# Run every cmocka unit test binary; fail if any fails.  Each binary prints
# cmocka's own summary ("[  PASSED  ] N test(s).").
rc=0
for t in "$@"; do
    echo "== $t"
    "$t" || rc=1
done
exit $rc
