#!/usr/bin/env python3
"""Two gregord builds side by side on the offset-commit and group workloads
of `make bench` (the Offset commits and Consumer groups tables): each round
starts a fresh broker of each build, in alternating order (A then B, then B
then A), and runs the same kbench commands against it.  Prints a markdown
table of the medians over rounds and the ratio B ÷ A (for the rebalance
time, A ÷ B, so that above 1 is better for B either way).

    bench/ab.py --a OLD/gregord --b NEW/gregord [--kbench build-chk/bench/kbench]
                [--rounds 4] [--secs 3]

Build an older tree with `git worktree add DIR COMMIT && make -C DIR
BUILD=build-chk build-chk/gregord`.  Keys unknown to a build are not
passed (an older gregord refuses http.listeners, so its HTTP listener is
turned off only where it exists)."""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

from run import free_port

WORKLOADS = [("1 consumer, sync", ["commit", "topic=commit", "consumers=1", "mode=sync"], "cps", 1),
             ("10 consumers, sync", ["commit", "topic=commit", "consumers=10", "mode=sync"], "cps", 1),
             ("1 consumer, async", ["commit", "topic=commit", "consumers=1", "mode=async", "inflight=100"], "cps", 1),
             ("10 consumers, async", ["commit", "topic=commit", "consumers=10", "mode=async", "inflight=100"], "cps", 1),
             ("10-member rebalance (10th joins), ms", ["rebalance", "topic=grp", "members=10"], "rebalance_ms", -1)]


def knows_http(binary):
    cp = subprocess.run([binary, "--print-config-docs"], capture_output=True, text=True, timeout=10)
    return "http.listeners" in cp.stdout + cp.stderr


def start(binary, d):
    port = free_port()
    argv = [binary, "--override", "log.dirs=" + d,
            "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % port]
    if knows_http(binary):
        argv += ["--override", "http.listeners="]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(d + ".log", "w"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, "127.0.0.1:%d" % port
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise SystemExit("%s did not start (see %s.log)" % (binary, d))


def kbench(kb, bs, args, secs):
    cp = subprocess.run([kb, args[0], "bootstrap=" + bs] + args[1:] + ["count=10000000", "secs=%d" % secs],
                        capture_output=True, text=True, timeout=secs + 120)
    try:
        return json.loads(cp.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": cp.stderr[-300:]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--kbench", default="build-chk/bench/kbench")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--secs", type=int, default=3)
    o = ap.parse_args()
    work = tempfile.mkdtemp(prefix="gregor-ab-")
    res = {}
    n = 0
    try:
        for rnd in range(o.rounds):
            for side in (("a", "b") if rnd % 2 == 0 else ("b", "a")):
                d = os.path.join(work, "d%d" % n)
                n += 1
                p, bs = start(getattr(o, side), d)
                try:
                    kbench(o.kbench, bs, ["create", "topic=commit", "partitions=10"], 10)
                    kbench(o.kbench, bs, ["create", "topic=grp", "partitions=8"], 10)
                    for name, args, key, _ in WORKLOADS:
                        r = kbench(o.kbench, bs, args, o.secs if args[0] == "commit" else 30)
                        if key in r:
                            res.setdefault((name, side), []).append(r[key])
                finally:
                    p.send_signal(signal.SIGKILL)
                    p.wait()
                    shutil.rmtree(d, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| workload | A (median) | B (median) | B vs A | rounds A | rounds B |")
    print("|---|---|---|---|---|---|")
    for name, _, _, sense in WORKLOADS:
        a, b = res.get((name, "a"), []), res.get((name, "b"), [])
        if not a or not b:
            print("| %s | n/a | n/a | n/a | | |" % name)
            continue
        ma, mb = statistics.median(a), statistics.median(b)
        ratio = mb / ma if sense > 0 else ma / mb
        print("| %s | %.1f | %.1f | %.2f× | %s | %s |" % (name, ma, mb, ratio, ", ".join("%.0f" % x for x in a),
                                                         ", ".join("%.0f" % x for x in b)))


if __name__ == "__main__":
    main()
