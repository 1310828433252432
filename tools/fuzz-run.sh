#!/bin/bash
# Run one libFuzzer target for a bounded time:
#
#   tools/fuzz-run.sh fuzz_<name> SECONDS [RUNS]
#
# RUNS (optional) stops the run after that many executions.
# Seeds: tests/fuzz/corpus/<name>/ (committed, read only).  New inputs go to
# tests/fuzz/corpus-work/<name>/ (git-ignored), crash/leak/timeout inputs
# to tests/fuzz/corpus-work/artifacts/<name>/.  libFuzzer's output goes to
# build-fuzz/logs/<name>.log; its tail is shown when the run fails.
# The last line printed is the summary:
#
#   fuzz_<name>: <execs> execs (<n>/s, cov: <c> ft: <f>), <k> crashes
#
# Exits non-zero on any crash, sanitizer report, leak or timeout.
# FUZZ_BUILD (default build-fuzz) picks the build dir, e.g.
# build-fuzz-noasan from `make fuzz-build FUZZ_ASAN=0` for long runs.
set -uo pipefail
cd "$(dirname "$0")/.."

target=${1:?usage: $0 fuzz_<name> SECONDS}
secs=${2:-60}
runs=${3:--1}
name=${target#fuzz_}
build=${FUZZ_BUILD:-build-fuzz}
bin=$build/$target
seeds=tests/fuzz/corpus/$name
work=tests/fuzz/corpus-work/$name
art=tests/fuzz/corpus-work/artifacts/$name
log=$build/logs/$name.log
mkdir -p "$work" "$art" "$(dirname "$log")" "$seeds"
before=$(ls "$art" | wc -l)

dict=()
[ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")

# -timeout: one input taking longer is a hang (reported as a crash);
# -rss_limit_mb: the machine is shared.
"$bin" -max_total_time="$secs" -runs="$runs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    "${dict[@]}" -artifact_prefix="$art/" "$work" "$seeds" >"$log" 2>&1
rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
cov=$(grep -E '^#[0-9]+' "$log" | grep -o 'cov: [0-9]* ft: [0-9]*' | tail -1)
# libFuzzer stops at the first crash: one artifact per failed run
crashes=0
if [ "$rc" -ne 0 ]; then
    crashes=$(( $(ls "$art" | wc -l) - before ))
    [ "$crashes" -ge 1 ] || crashes=1
fi
if [ "$rc" -ne 0 ]; then
    echo "---- $target failed (exit $rc); end of $log:"
    tail -n 40 "$log"
    ls "$art" 2>/dev/null | sed 's/^/artifact: /'
fi
echo "$target: ${execs:-0} execs (${speed:-0}/s, ${cov:-cov: ? ft: ?}), $crashes crashes"
exit $rc
