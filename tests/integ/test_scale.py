"""Many partitions: 10,000 single-segment partitions are created, written,
served and recovered (after a restart and after kill -9) by a broker whose
open-files limit is 20,000 - the README's claim.  Whatever the broker keeps
open, it must stay under that limit: no EMFILE, every record read back.

The open-file count is printed; while each segment keeps its .log open it is
about one per partition (the index files are opened only while read,
written or synced)."""
import os
import resource
import signal
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

import ck
from helpers import require, wait_until
from storage_check import env_broker_factory

NPART = 10000
NOFILE = 20000
FD_SLACK = 64        # listener, epoll, eventfds, logs, clients...
PROBE = [0, 1, 7, 4999, 9998, 9999]
T = "many"
STOP_START_LIMIT = 170      # against hangs only


@pytest.fixture
def env_broker(tmp_path):
    yield from env_broker_factory(tmp_path)


def open_fds(b):
    return len(os.listdir("/proc/%d/fd" % b.pid))


def check_fds(b, what):
    fds = open_fds(b)
    print("%s: %d open files for %d partitions (limit %d)" % (what, fds, NPART, NOFILE))
    assert fds <= NPART + FD_SLACK, "%s: %d open files for %d partitions" % (what, fds, NPART)
    assert fds < NOFILE
    return fds


def read_all(b):
    """Every record of every partition."""
    n = NPART + len(PROBE) * 19
    msgs = ck.consume(b, T, n, partitions=range(NPART), timeout=150)
    got = {(m.partition(), m.offset()): m.value() for m in msgs}
    assert len(got) == n
    assert all(got[(p, 0)] == b"one-%d" % p for p in range(NPART))


@pytest.mark.timeout(900)
def test_ten_thousand_partitions_within_20000_files(env_broker):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    require(hard == resource.RLIM_INFINITY or hard >= NOFILE,
            "RLIMIT_NOFILE hard limit %d < %d" % (hard, NOFILE))
    # small index interval and a flush per message: index entries are
    # written and synced while producing
    b = env_broker({"num.partitions": 1, "offsets.topic.num.partitions": 1,
                    "log.index.interval.bytes": 64, "log.flush.interval.messages": 1},
                   nofile=NOFILE, start=False)
    # recovery and the clean shutdown of 10,000 partitions take a while
    # under sanitizers; only hangs are caught here (tools/shutdown-time.py
    # measures the shutdown)
    b.start_timeout = STOP_START_LIMIT
    b.start()
    t0 = time.monotonic()
    admin = AdminClient(dict(ck.COMMON, **{"bootstrap.servers": b.bootstrap, "socket.timeout.ms": 170000}))
    fs = admin.create_topics([NewTopic(T, num_partitions=NPART, replication_factor=1)],
                             operation_timeout=160, request_timeout=170)
    fs[T].result(timeout=180)
    print("created %d partitions in %.1f s" % (NPART, time.monotonic() - t0))
    check_fds(b, "created")

    # one record in every partition, more in a few
    # idempotent: a produce request that times out under load (10,000
    # partitions, an fsync per message, sanitizers) is retried, and only the
    # producer state keeps the retry from appending the record twice
    p = Producer(dict(ck.COMMON, **{"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 20,
                                    "enable.idempotence": True, "socket.timeout.ms": 60000,
                                    "message.timeout.ms": 120000, "queue.buffering.max.messages": 4 * NPART}))
    errs = []
    for i in range(NPART):
        p.produce(T, value=b"one-%d" % i, partition=i, on_delivery=lambda e, m: e and errs.append(e))
        if i % 500 == 499:
            p.poll(0)
    assert p.flush(150) == 0 and not errs, errs[:5]
    del p
    for part in PROBE:
        msgs = [{"value": b"p%d-%d-" % (part, i) + b"x" * 100} for i in range(1, 20)]
        reps = ck.produce(b, T, msgs, partition=part, batch_num_messages=1)
        assert [r[:3] for r in reps] == [(None, i, part) for i in range(1, 20)]
    check_fds(b, "written")
    d = b.partition_dir(T, 0)
    wait_until(lambda: os.path.getsize(os.path.join(d, "00000000000000000000.index")) > 0,
               timeout=10, what="index entries written")

    def verify_probes():
        for part in PROBE:
            got = ck.consume(b, T, 20, partitions=(part,), timeout=60)
            assert [m.value() for m in got] == [b"one-%d" % part] + \
                [b"p%d-%d-" % (part, i) + b"x" * 100 for i in range(1, 20)]

    verify_probes()
    t0 = time.monotonic()
    assert b.stop(signal.SIGTERM, timeout=STOP_START_LIMIT) == 0
    b.start()
    print("clean restart in %.1f s" % (time.monotonic() - t0))
    check_fds(b, "after a restart")
    verify_probes()
    # unclean: every partition from its recovery point on is recovered
    b.stop(signal.SIGKILL)
    t0 = time.monotonic()
    b.start()
    print("recovery after kill -9 in %.1f s" % (time.monotonic() - t0))
    check_fds(b, "after kill -9")
    verify_probes()
    read_all(b)
    text = b.log_text()
    assert "Too many open files" not in text and "EMFILE" not in text
    assert "ERROR" not in text.split("==== start #3")[-1]
