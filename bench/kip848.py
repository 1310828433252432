#!/usr/bin/env python3
"""bench/kip848.py - consumer groups: the classic protocol and KIP-848's
consumer protocol side by side, in the same run, against one gregord.

  /usr/bin/python3 bench/kip848.py --build build [--out part.md]

Both sides use the same client, node-rdkafka (tests/integ/js/cg848.js, its
bundled librdkafka), with group.protocol=classic (range, eager) or
group.protocol=consumer (the server's uniform assignor), default timings
(classic: heartbeat 3 s; consumer: group.consumer.heartbeat.interval.ms 5 s).
A producer writes to every partition of a 30-partition topic every 20 ms.
Classic members use librdkafka's defaults (session 45 s, heartbeat 3 s).

  join:   9 members consume, a 10th starts: the time from its start until
          it holds partitions;
  pause:  the longest gap in consumption of the members whose partitions did
          not move, from 1 s before the 10th member started until 20 s after;
  hb/s:   steady ConsumerGroupHeartbeats the coordinator answers with 1,000
          members in 100 groups (4 pipelined connections, a Python client).

Bounded in time; all traffic to 127.0.0.1; the broker is stopped by PID.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integ"))
from run import free_port  # noqa: E402  (bench/ is this script's own folder)
JS = os.path.join(ROOT, "tests", "integ", "js")


class Member:
    def __init__(self, bootstrap, group, topic, protocol, name):
        args = {"bootstrap": bootstrap, "group": group, "topics": [topic], "protocol": protocol,
                "clientId": name, "maxSeconds": 300,
                # librdkafka's defaults for the classic protocol
                "sessionTimeoutMs": 45000, "heartbeatMs": 3000}
        self.p = subprocess.Popen(["node", os.path.join(JS, "cg848.js"), json.dumps(args)], cwd=JS,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.ev, self.lock = [], threading.Lock()
        self.t0 = time.time() * 1000
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.ev.append(e)

    def events(self, kind=None):
        with self.lock:
            return [e for e in self.ev if kind is None or e["ev"] == kind]

    def owned(self):
        s = set()
        for e in self.events():
            if e["ev"] == "assign":
                s |= {tuple(x) for x in e["parts"]}
            elif e["ev"] == "revoke":
                s -= {tuple(x) for x in e["parts"]}
        return s

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(25)
        except subprocess.TimeoutExpired:
            self.p.kill()


def wait(pred, timeout, what):
    t = time.monotonic() + timeout
    while time.monotonic() < t:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def scenario(bootstrap, protocol, topic, nparts):
    group = "bench-%s" % protocol
    ms = [Member(bootstrap, group, topic, protocol, "b%d" % i) for i in range(9)]
    wait(lambda: sum(len(m.owned()) for m in ms) == nparts and all(m.owned() for m in ms), 120, "9 members")
    time.sleep(3)
    before = [m.owned() for m in ms]
    t_start = time.time() * 1000
    tenth = Member(bootstrap, group, topic, protocol, "b9")
    wait(lambda: tenth.owned(), 120, "the 10th member's partitions")
    got = min(e["t"] for e in tenth.events("assign") if e["parts"])
    wait(lambda: sum(len(m.owned()) for m in ms + [tenth]) == nparts, 120, "settled")
    time.sleep(20 - (time.time() * 1000 - t_start) / 1000 if (time.time() * 1000 - t_start) < 20000 else 0)
    lo, hi = t_start - 1000, t_start + 20000
    gaps = []
    for m, b in zip(ms, before):
        if m.owned() != b and protocol == "consumer":
            continue                    # its partitions moved
        # classic (eager): every member gives up everything, all count
        ts = sorted(e["t"] for e in m.events("msg") if lo <= e["t"] <= hi)
        if len(ts) > 1:
            gaps.append(max(y - x for x, y in zip(ts, ts[1:])))
    for m in ms + [tenth]:
        m.stop()
    return got - t_start, (max(gaps) if gaps else None), len(gaps)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--json", default=None, help="also write the figures as JSON (bench/run.py reads them)")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="gregor-kip848-bench-")
    port = free_port()
    bootstrap = "127.0.0.1:%d" % port
    log = open(os.path.join(work, "gregord.log"), "w")
    g = subprocess.Popen([os.path.join(a.build, "gregord"), "--override", "listeners=PLAINTEXT://" + bootstrap,
                          "--override", "log.dirs=" + os.path.join(work, "data")], stdout=log, stderr=log)
    rows = []
    try:
        time.sleep(1.5)
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, NewTopic
        ad = AdminClient({"bootstrap.servers": bootstrap})
        for f in ad.create_topics([NewTopic("bench-848", 30, 1), NewTopic("hbt", 12, 1)]).values():
            f.result(10)
        stop = threading.Event()

        def produce():
            p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
            i = 0
            while not stop.is_set():
                for part in range(30):
                    p.produce("bench-848", value=str(i).encode(), partition=part)
                    i += 1
                p.poll(0)
                time.sleep(0.02)
            p.flush(10)

        pt = threading.Thread(target=produce, daemon=True)
        pt.start()
        for proto in ("classic", "consumer"):
            rows.append((proto,) + scenario(bootstrap, proto, "bench-848", 30))
        stop.set()
        pt.join(15)
        hb = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "kip848_hb.py"), bootstrap],
                            capture_output=True, text=True, timeout=300)
        hbs = hb.stdout.strip()
    finally:
        g.send_signal(signal.SIGTERM)
        g.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    out = ["| protocol | 10th member holds partitions after | longest consumption gap of the old members (consumer: those whose partitions did not move) | members counted |",
           "|---|---|---|---|"]
    for proto, join_ms, gap, n in rows:
        out.append("| %s | %.0f ms | %s | %d |" % (proto, join_ms, "%.0f ms" % gap if gap is not None else "n/a", n))
    out.append("")
    out.append("Heartbeats: " + hbs)
    txt = "\n".join(out) + "\n"
    print(txt)
    if a.out:
        open(a.out, "w").write(txt)
    if a.json:
        import re
        m = re.match(r"([0-9.]+) heartbeats/s \((\d+) in ([0-9.]+) s, (\d+) errors", hbs)
        with open(a.json, "w") as f:
            json.dump({"rows": [{"protocol": p_, "join_ms": j, "gap_ms": g_, "members": n}
                                for p_, j, g_, n in rows],
                       "hb": {"hbps": float(m.group(1)), "count": int(m.group(2)), "secs": float(m.group(3)),
                              "errors": int(m.group(4))} if m else {"error": hbs or "no output"}}, f)


if __name__ == "__main__":
    main()
