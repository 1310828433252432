"""Crash consistency loop: produce (acks=all) to several partitions, a
compacted topic and a short-retention topic while committing group offsets,
kill -9 the broker at a random moment, restart it, and check everything that
was acknowledged.  Small segments make segments roll, a small
log.cleaner.backoff.ms makes the cleaner run and a short retention.ms makes
retention delete segments, so kills land in the middle of all of them.

GREGOR_CRASH_CYCLES (default 5; 100 for the long mode) sets the number of
cycles, GREGOR_CRASH_SEED the RNG seed (printed either way).

After each restart:
  * every acknowledged record is in the log exactly once at its offset,
    offsets are contiguous (the retention topic: from its log start on);
  * compacted topic: offsets increase and every key's latest acknowledged
    value is there (or a later record of the key that was written but not
    acknowledged before the kill);
  * no committed offset is older than the last acknowledged commit (each
    cycle's kill waits for at least one acknowledged commit);
  * at the end: the cleaner and retention ran (their log lines counted);
  * the indexes agree with the log: a Fetch at each acknowledged offset
    (still in the log) returns first the batch holding it.
"""
import json
import os
import random
import re
import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

import ck
import kproto as kp
from storage_check import env_broker_factory, read_log

CYCLES = int(os.environ.get("GREGOR_CRASH_CYCLES", "5"))
DATA, COMPACT, RET = "cl-data", "cl-compact", "cl-ret"
NDATA = 3
GROUP = "cl-group"
KEYS = 40


@pytest.fixture
def env_broker(tmp_path):
    yield from env_broker_factory(tmp_path)


def _committer_main(cfg):
    """Committer process: commits increasing offsets of DATA-0 for GROUP,
    one at a time, and appends each acknowledged offset to cfg["out"],
    until it is killed (with the broker) or its parent goes away."""
    out = open(cfg["out"], "a")
    state = {}

    def on_commit(err, parts):
        state["err"] = err or parts[0].error
        state["done"] = True

    c = Consumer({"bootstrap.servers": cfg["bootstrap"], "group.id": GROUP, "enable.auto.commit": False,
                  "socket.timeout.ms": 10000, "on_commit": on_commit})
    c.assign([TopicPartition(DATA, 0)])
    nxt, ppid = cfg["start"], os.getppid()
    deadline = time.monotonic() + 120
    while os.getppid() == ppid and time.monotonic() < deadline:
        state.clear()
        c.commit(offsets=[TopicPartition(DATA, 0, nxt)], asynchronous=True)
        while not state.get("done") and os.getppid() == ppid and time.monotonic() < deadline:
            c.poll(0.02)
        if state.get("done") and state["err"] is None:
            out.write("%d\n" % nxt)
            out.flush()
            nxt += 1
        elif state.get("done"):
            time.sleep(0.05)


class Committer:
    """The committer process (this file as a script).  It is SIGKILLed with
    the broker, so no commit it had in flight can be sent again to the
    restarted broker and stand in for a lost one."""

    def __init__(self, b, workdir, cycle, start_at):
        self.out = os.path.join(workdir, "commits-%d" % cycle)
        cfg = {"bootstrap": b.bootstrap, "start": start_at, "out": self.out}
        self.err = open(os.path.join(workdir, "committer-%d.stderr" % cycle), "ab")
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "committer", json.dumps(cfg)],
                                     stdout=subprocess.DEVNULL, stderr=self.err, stdin=subprocess.DEVNULL,
                                     cwd=os.path.dirname(os.path.abspath(__file__)))

    def acked(self):
        """Offsets whose commit was acknowledged so far."""
        try:
            with open(self.out) as f:
                return [int(x) for x in f.read().split("\n")[:-1]]
        except FileNotFoundError:
            return []

    @property
    def last(self):
        a = self.acked()
        return a[-1] if a else None

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)
        self.err.close()


def committed(b):
    c = ck.consumer(b, group_id=GROUP)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                [tp] = c.committed([TopicPartition(DATA, 0)], timeout=5)
                if tp.error is None:
                    return tp.offset
            except Exception:
                pass
            assert time.monotonic() < deadline, "committed() did not answer after restart"
            time.sleep(0.2)
    finally:
        c.close()


def log_start(b, topic, partition):
    res = kp.call(b.bootstrap, 2, 7, kp.list_offsets_v7([(topic, [(partition, -2)])]),
                  kp.parse_list_offsets_v7, flexible=True)
    err, _, off, _ = res[(topic, partition)]
    assert err == 0, err
    return off


def check_index(b, topic, partition, offsets, compacted, retention=False):
    """Fetch at each offset on one connection: the first batch returned must
    hold it (compacted: the first batch whose last offset >= it).  With
    retention, an offset that retention deleted meanwhile may be out of
    range."""
    with kp.connect(b.bootstrap, 10) as s:
        for corr, o in enumerate(offsets, 1):
            body = kp.fetch_v4([(topic, [(partition, o, 1)])])
            s.sendall(kp.request(1, 4, corr, body))
            r = kp.parse_fetch_v4(kp.recv_frame(s), corr)[(topic, partition)]
            if retention and r["error"] == 1 and o < log_start(b, topic, partition):
                continue
            assert r["error"] == 0, "fetch %s-%d at %d: error %d" % (topic, partition, o, r["error"])
            bts = kp.split_batches(r["records"])
            assert bts, "fetch %s-%d at %d returned no batch (hw %d)" % (topic, partition, o, r["hw"])
            info = kp.batch_info(bts[0])
            last = info["base_offset"] + info["last_offset_delta"]
            assert last >= o and (compacted or info["base_offset"] <= o), \
                "fetch %s-%d at %d returned batch %d..%d" % (topic, partition, o, info["base_offset"], last)


def test_crash_loop(env_broker):
    seed = int(os.environ.get("GREGOR_CRASH_SEED", random.randrange(1 << 30)))
    print("crash loop: %d cycles, seed %d (GREGOR_CRASH_SEED=%d to replay)" % (CYCLES, seed, seed))
    rng = random.Random(seed)
    b = env_broker({"num.partitions": 1, "internal.log.segment.bytes": 16384, "offsets.topic.num.partitions": 3,
                    "log.cleaner.backoff.ms": 100, "log.retention.check.interval.ms": 200,
                    "group.initial.rebalance.delay.ms": 0})
    ck.create_topic(b, DATA, partitions=NDATA)
    ck.create_topic(b, COMPACT, config={"cleanup.policy": "compact", "internal.segment.bytes": "4096",
                                        "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "1000"})
    ck.create_topic(b, RET, config={"retention.ms": "300", "internal.segment.bytes": "4096"})

    acked = {(DATA, p): {} for p in range(NDATA)}
    acked[(RET, 0)] = {}
    acked[(COMPACT, 0)] = {}
    seq = {k: 0 for k in acked}
    next_commit, last_commit = 1, None
    t_start = time.monotonic()
    for cycle in range(CYCLES):
        p = ck.producer(b, acks="all", linger_ms=2, retries=0, message_timeout_ms=4000)
        cyc_acked = []

        def cb(err, m):
            if err is None:
                cyc_acked.append((m.topic(), m.partition(), m.offset(), m.key(), m.value()))

        # warm up (metadata, connections) so the kill lands mid-traffic
        for key in acked:
            topic, part = key
            v = b"c%d-%s-%d-%07d" % (cycle, topic.encode(), part, seq[key])
            seq[key] += 1
            p.produce(topic, key=b"key-0" if topic == COMPACT else None, value=v, partition=part,
                      on_delivery=cb)
        assert p.flush(15) == 0
        committer = Committer(b, str(b.workdir), cycle, next_commit)
        kill_after = rng.uniform(0.2, 1.2)
        t0 = time.monotonic()
        # the kill comes after kill_after and after at least one commit of
        # this cycle was acknowledged (so every cycle checks a commit)
        while time.monotonic() - t0 < kill_after or committer.last is None:
            assert time.monotonic() - t0 < 30, "no commit acknowledged within 30 s"
            for key in acked:
                topic, part = key
                n = seq[key]
                seq[key] += 1
                v = b"c%d-%s-%d-%07d" % (cycle, topic.encode(), part, n)
                k = b"key-%d" % rng.randrange(KEYS) if topic == COMPACT else None
                try:
                    p.produce(topic, key=k, value=v, partition=part, on_delivery=cb)
                except BufferError:
                    pass
            p.poll(0.002)
        b.kill()
        committer.kill()
        p.purge()
        p.flush(5)
        last_commit = committer.last
        assert last_commit is not None
        next_commit = last_commit + 2       # past one that may have been in flight
        for topic, part, off, k, v in cyc_acked:
            assert off not in acked[(topic, part)], "offset %d of %s-%d acknowledged twice" % (off, topic, part)
            acked[(topic, part)][off] = (k, v)

        b.start()
        # ---- data partitions: all acknowledged, contiguous, once each
        for part in range(NDATA):
            recs, _ = read_log(b, DATA, part)
            offs = [o for o, _, _ in recs]
            assert offs == list(range(len(recs))), "cycle %d: %s-%d offsets not contiguous" % (cycle, DATA, part)
            vals = [v for _, _, v in recs]
            assert len(set(vals)) == len(vals), "cycle %d: duplicate in %s-%d" % (cycle, DATA, part)
            got = {o: v for o, _, v in recs}
            bad = [o for o, (_, v) in acked[(DATA, part)].items() if got.get(o) != v]
            assert not bad, "cycle %d: acknowledged offsets of %s-%d lost: %s" % (cycle, DATA, part, bad[:10])
            sample = sorted(rng.sample(sorted(acked[(DATA, part)]), min(300, len(acked[(DATA, part)]))))
            check_index(b, DATA, part, sample, False)
        # ---- retention topic: contiguous from its log start
        for attempt in range(10):          # retention may move the start while we read
            start = log_start(b, RET, 0)
            try:
                recs, _ = read_log(b, RET, 0, start=start)
                break
            except AssertionError as e:
                if "error 1" not in str(e) or attempt == 9:
                    raise
        offs = [o for o, _, _ in recs]
        assert offs == list(range(start, start + len(recs))), "cycle %d: %s offsets not contiguous" % (cycle, RET)
        got = {o: v for o, _, v in recs}
        bad = [o for o, (_, v) in acked[(RET, 0)].items() if o >= start and got.get(o) != v]
        assert not bad, "cycle %d: acknowledged offsets of %s lost: %s" % (cycle, RET, bad[:10])
        check_index(b, RET, 0, sorted(o for o in acked[(RET, 0)] if o >= start)[-200:], False, retention=True)
        # ---- compacted topic: increasing offsets, latest acked value per key
        recs, _ = read_log(b, COMPACT, 0, start=log_start(b, COMPACT, 0))
        offs = [o for o, _, _ in recs]
        assert offs == sorted(set(offs)), "cycle %d: %s offsets not increasing" % (cycle, COMPACT)
        by_off = {o: (k, v) for o, k, v in recs}
        latest_in_log = {}
        for o, k, _ in recs:
            latest_in_log[k] = o
        latest_acked = {}
        for o, (k, v) in acked[(COMPACT, 0)].items():
            if o > latest_acked.get(k, (-1, None))[0]:
                latest_acked[k] = (o, v)
        for k, (o, v) in latest_acked.items():
            assert latest_in_log.get(k, -1) >= o, \
                "cycle %d: %s key %r: latest acknowledged offset %d missing" % (cycle, COMPACT, k, o)
            if o in by_off:
                assert by_off[o] == (k, v), "cycle %d: %s offset %d changed" % (cycle, COMPACT, o)
        for o, kv in by_off.items():
            if o in acked[(COMPACT, 0)]:
                assert acked[(COMPACT, 0)][o] == kv, "cycle %d: %s offset %d changed" % (cycle, COMPACT, o)
        check_index(b, COMPACT, 0, sorted(o for o, _ in latest_acked.values()), True)
        # ---- group offsets
        c = committed(b)
        assert c >= last_commit, "cycle %d: committed offset %d older than acknowledged %d" \
            % (cycle, c, last_commit)
        print("cycle %d: killed after %.2fs; acknowledged so far %s; last commit %s"
              % (cycle, kill_after, {"%s-%d" % k: len(v) for k, v in acked.items()}, last_commit))
    text = b.log_text()
    cleaned = len(re.findall(r"Cleaned \S*/%s-0: " % COMPACT, text))
    deleted = len(re.findall(r"Deleted \d+ segment\(s\) of \S*/%s-0," % RET, text))
    print("crash loop: %d cycles in %.1fs; cleaner passes %d, retention deletions %d"
          % (CYCLES, time.monotonic() - t_start, cleaned, deleted))
    # the cleaner and retention did run during the loop, so the kills could
    # land in the middle of them
    assert cleaned > 0, "the cleaner never ran"
    assert deleted > 0, "retention never deleted a segment"


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "committer":
    _committer_main(json.loads(sys.argv[2]))
