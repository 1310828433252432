#!/usr/bin/python3
"""Time a clean shutdown with many dirty partitions.

  tools/shutdown-time.py [--gregord build/gregord] [--dir DIR] N [N...]

For each N: start gregord on a fresh data dir, create a topic with N
partitions, write one record to every partition (acks=all, default flush
policy: nothing is fsynced before the shutdown), SIGTERM the broker and time
until it exits.  Then restart it and check that every record is there and
that the clean-shutdown marker was written.  Prints one line per N.

Run `ulimit -n 20000` first for 10,000 partitions (one open file each).
The data dir must be on the disk being measured (not tmpfs).
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(gregord, data, port, log):
    argv = [gregord, "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % port,
            "--override", "log.dirs=" + data, "--override", "num.partitions=1",
            "--override", "offsets.topic.num.partitions=1", "--override", "http.listeners="]
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if p.poll() is not None:
            sys.exit("gregord exited during startup")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    sys.exit("gregord did not start")


def run(gregord, base, n):
    work = tempfile.mkdtemp(prefix="shutdown-%d-" % n, dir=base)
    data = os.path.join(work, "data")
    port = free_port()
    bs = "127.0.0.1:%d" % port
    with open(os.path.join(work, "gregord.log"), "ab") as log:
        p = start(gregord, data, port, log)
        admin = AdminClient({"bootstrap.servers": bs})
        admin.create_topics([NewTopic("st", n, 1)], request_timeout=600)["st"].result(600)
        prod = Producer({"bootstrap.servers": bs, "acks": "all", "linger.ms": 20,
                         "queue.buffering.max.messages": 2 * n + 1000})
        acked = []
        for i in range(n):
            prod.produce("st", value=b"v%d" % i, partition=i,
                         on_delivery=lambda e, m: e is None and acked.append(m.partition()))
            if i % 1000 == 999:
                prod.poll(0)
        left = prod.flush(300)
        if left or len(acked) != n:
            sys.exit("only %d of %d records acknowledged" % (len(acked), n))
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc = p.wait()
        secs = time.monotonic() - t0
        marker = os.path.exists(os.path.join(data, ".kafka_cleanshutdown"))
        # read back: the high watermark of every partition is 1
        p = start(gregord, data, port, log)
        c = Consumer({"bootstrap.servers": bs, "group.id": "st"})
        md = c.list_topics("st", timeout=60)
        missing = 0
        for i in range(n):
            lo, hi = c.get_watermark_offsets(TopicPartition("st", i), timeout=60)
            missing += hi != 1
        c.close()
        p.send_signal(signal.SIGTERM)
        p.wait()
    with open(os.path.join(work, "gregord.log"), errors="replace") as f:
        m = re.search(r"with one syncfs in (\d+) ms", f.read())
    print("partitions=%d shutdown_s=%.2f syncfs_ms=%s exit=%d marker=%s partitions_missing_record=%d topic_parts=%d"
          % (n, secs, m.group(1) if m else "-", rc, marker, missing, len(md.topics["st"].partitions)), flush=True)
    shutil.rmtree(work)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gregord", default=os.path.join(os.path.dirname(__file__), "..", "build", "gregord"))
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("n", type=int, nargs="+")
    a = ap.parse_args()
    for n in a.n:
        run(os.path.abspath(a.gregord), a.dir, n)


if __name__ == "__main__":
    main()
