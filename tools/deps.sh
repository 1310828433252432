#!/bin/bash
# Install what gregor needs, from Debian's packages (and npm for the kafkajs
# tests), only when something is missing.
#
#   tools/deps.sh build   compiler + compression libraries + libmicrohttpd
#   tools/deps.sh fuzz    build deps + clang's libFuzzer/sanitizer runtime
#   tools/deps.sh test    build + fuzz deps + cmocka, kcat, librdkafka, Python
#                         clients (and the codecs kafka-python reads old message
#                         sets with), pytest, Burrow, ZooKeeper, strace, Go with
#                         kafka-go and sarama (built by the tests), Prometheus
#                         (promtool), headless Chromium + chromedriver + Selenium
#                         (the console's browser test), node/npm, then `npm ci` in
#                         tests/integ/js (kafkajs, @platformatic/kafka, node-rdkafka;
#                         g++ builds node-rdkafka's addon)
#                         when its node_modules is stale; plus the
#                         bench deps (the suite smoke-tests the bench harness)
#   tools/deps.sh bench   build deps + librdkafka (client and mock cluster),
#                         redis-server + hiredis, iperf3, confluent-kafka and
#                         node-rdkafka (npm ci; the consumer-protocol benchmark)
#                         (make bench); linux-perf is optional and only
#                         installed with BENCH_PERF=1
#
# Installed packages are detected with dpkg-query; `apt-get update` runs at
# most once, and only when something must be installed.  Runs as root, or
# through sudo when available; otherwise prints what is missing and fails.
set -euo pipefail

cd "$(dirname "$0")/.."

BUILD_PKGS=(gcc g++ make clang zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev librdkafka-dev libmicrohttpd-dev
            libre2-dev)
FUZZ_PKGS=(clang libclang-rt-14-dev)
# g++, make and python3 (node-gyp) build node-rdkafka's native addon and the
# librdkafka it bundles during `npm ci` (with librdkafka-dev's libssl-dev,
# zlib, zstd and lz4 headers); about 2 minutes on one core.
TEST_PKGS=(libcmocka-dev kcat librdkafka-dev python3-confluent-kafka
           python3-kafka python3-pytest python3-pytest-timeout burrow zookeeper strace
           python3-snappy python3-lz4 python3-xxhash python3-zstandard
           golang-go golang-github-segmentio-kafka-go-dev golang-github-shopify-sarama-dev
           prometheus chromium chromium-driver python3-selenium
           g++ make python3 libssl-dev)   # node-rdkafka's native build (node-gyp, its librdkafka with TLS)
# the consumer-protocol benchmark runs node-rdkafka members (bench/kip848.py)
BENCH_PKGS=(librdkafka-dev redis-server libhiredis-dev iperf3 python3-confluent-kafka g++ make python3 libssl-dev)

mode=${1:-}
case "$mode" in
    build) want=("${BUILD_PKGS[@]}") ;;
    fuzz)  want=("${BUILD_PKGS[@]}" "${FUZZ_PKGS[@]}") ;;
    bench) want=("${BUILD_PKGS[@]}" "${BENCH_PKGS[@]}")
           [ "${BENCH_PERF:-0}" = 1 ] && want+=(linux-perf)
           command -v node >/dev/null 2>&1 || want+=(nodejs)
           command -v npm  >/dev/null 2>&1 || want+=(npm) ;;
    test)  want=("${BUILD_PKGS[@]}" "${FUZZ_PKGS[@]}" "${TEST_PKGS[@]}" "${BENCH_PKGS[@]}")
           # Any node/npm on PATH will do; Debian's only when there is none.
           command -v node >/dev/null 2>&1 || want+=(nodejs)
           command -v npm  >/dev/null 2>&1 || want+=(npm) ;;
    *)     echo "usage: $0 build|fuzz|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$st" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "deps: missing Debian packages: ${missing[*]}" >&2
        echo "deps: run as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # iperf3's package asks whether to start a system daemon: answer no.
    if printf '%s\n' "${missing[@]}" | grep -qx iperf3; then
        echo 'iperf3 iperf3/start_daemon boolean false' | "${sudo[@]}" debconf-set-selections
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ "$mode" = test ] || [ "$mode" = bench ]; then
    js=tests/integ/js
    if [ ! -d "$js/node_modules" ] || [ "$js/package-lock.json" -nt "$js/node_modules" ]; then
        echo "deps: npm ci in $js"
        (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
        touch "$js/node_modules"
    fi
fi
