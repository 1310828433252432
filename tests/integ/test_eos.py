"""Exactly-once consume-transform-produce under kill -9 (confluent-kafka,
librdkafka's transactional producer with send_offsets_to_transaction):
eos_app.py copies N input records to the output topic, committing its
consumed offsets in the same transaction, while this test kills the
application and the broker with SIGKILL at random moments (the app's small
random pauses spread the kills over AddPartitionsToTxn, the produces,
TxnOffsetCommit and EndTxn) and restarts them until the app reports done.
Then: the output read with read_committed holds every input exactly once,
and the group's committed offsets are the input's end.

The moment between PrepareCommit and the markers is hit for sure by
test_transactions.py::test_crash_between_prepare_and_markers.

Bounded: the kill phase lasts KILL_PHASE seconds, the final run FINISH
seconds; all traffic to 127.0.0.1."""
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from confluent_kafka import TopicPartition

import ck
from helpers import HERE

N = 4000
PARTITIONS = 2
KILL_PHASE = 45.0
FINISH = 120.0
PY = "/usr/bin/python3"


def start_app(b, seed, log):
    return subprocess.Popen([PY, os.path.join(HERE, "eos_app.py"), b.bootstrap, "eos-in", "eos-out", "eos-g",
                             "eos-app", str(N), str(seed)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def stop(p):
    if p and p.poll() is None:
        p.kill()
        p.wait(10)


def test_exactly_once_with_kills(broker_factory, tmp_path):
    b = broker_factory({"num.partitions": PARTITIONS, "group.initial.rebalance.delay.ms": 0,
                        "transaction.abort.timed.out.transaction.cleanup.interval.ms": 1000})
    ck.create_topic(b, "eos-in", partitions=PARTITIONS)
    ck.create_topic(b, "eos-out", partitions=PARTITIONS)
    ins = [b"i%05d" % i for i in range(N)]
    for p in range(PARTITIONS):
        ck.produce(b, "eos-in", [{"key": v, "value": v} for v in ins[p::PARTITIONS]], partition=p)
    rnd = random.Random(int(os.environ.get("GREGOR_EOS_SEED", "7")))
    log = open(tmp_path / "app.log", "ab")
    app = None
    kills = {"app": 0, "broker": 0}
    deadline = time.monotonic() + KILL_PHASE
    try:
        app = start_app(b, rnd.randint(0, 1 << 30), log)
        while time.monotonic() < deadline and app.poll() != 0:
            time.sleep(rnd.uniform(0.2, 1.5))
            if app.poll() is not None and app.returncode != 0:
                app = start_app(b, rnd.randint(0, 1 << 30), log)       # a fatal error: restarted
                continue
            if rnd.random() < 0.6:
                stop(app)
                kills["app"] += 1
                app = start_app(b, rnd.randint(0, 1 << 30), log)
            else:
                b.kill()
                kills["broker"] += 1
                time.sleep(rnd.uniform(0, 0.5))
                b.start()
        # the last run: no more kills
        end = time.monotonic() + FINISH
        while time.monotonic() < end:
            if app.poll() is None:
                time.sleep(0.2)
                continue
            if app.returncode == 0:
                break
            app = start_app(b, rnd.randint(0, 1 << 30), log)
        assert app.poll() == 0, "the application did not finish within %.0fs (kills %s); log:\n%s" % (
            FINISH, kills, open(tmp_path / "app.log", "rb").read()[-3000:].decode(errors="replace"))
    finally:
        stop(app)
        log.close()
    assert kills["app"] + kills["broker"] >= 5, kills
    # every input exactly once in the committed output
    outs = ck.consume(b, "eos-out", N, partitions=range(PARTITIONS), timeout=60, isolation_level="read_committed")
    vals = sorted(m.value() for m in outs)
    assert vals == sorted(b"out-" + v for v in ins), "duplicates or gaps (kills %s)" % kills
    # and the group's committed offsets are the input's end
    c = ck.consumer(b, group_id="eos-g")
    try:
        committed = c.committed([TopicPartition("eos-in", p) for p in range(PARTITIONS)], timeout=20)
    finally:
        c.close()
    assert sum(tp.offset for tp in committed) == N, committed
    print("kills: %s" % kills)
