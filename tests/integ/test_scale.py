"""Many partitions: a broker holds about one open file per partition (the
index files are opened only while read, written or synced), creates
thousands of partitions quickly, serves them and recovers them after a
restart and after kill -9."""
import os
import signal
import time

import ck
from helpers import wait_until

NPART = 3000
FD_SLACK = 64        # listener, epoll, eventfds, journal, logs, clients...
PROBE = [0, 1, 7, 1499, 2998, 2999]


def open_fds(b):
    return len(os.listdir("/proc/%d/fd" % b.pid))


def check_fds(b, n):
    fds = open_fds(b)
    assert fds <= n + FD_SLACK, "%d open files for %d partitions" % (fds, n)
    return fds


def test_many_partitions(broker_factory):
    # small index interval and a flush per message: index entries are
    # written and synced while producing
    b = broker_factory({"num.partitions": 1, "offsets.topic.num.partitions": 1,
                        "log.index.interval.bytes": 64, "log.flush.interval.messages": 1})
    t0 = time.monotonic()
    ck.create_topic(b, "many", partitions=NPART, timeout=120)
    secs = time.monotonic() - t0
    assert secs < 120, secs
    check_fds(b, NPART + 1)

    for p in PROBE:
        msgs = [{"value": b"p%d-%d-" % (p, i) + b"x" * 100} for i in range(20)]
        reps = ck.produce(b, "many", msgs, partition=p, batch_num_messages=1)
        assert [r[:3] for r in reps] == [(None, i, p) for i in range(20)]
    check_fds(b, NPART + 1)
    d = b.partition_dir("many", 0)
    wait_until(lambda: os.path.getsize(os.path.join(d, "00000000000000000000.index")) > 0,
               timeout=10, what="index entries written")

    def verify():
        for p in PROBE:
            got = ck.consume(b, "many", 20, partitions=(p,), timeout=60)
            assert [m.value() for m in got] == [b"p%d-%d-" % (p, i) + b"x" * 100 for i in range(20)]
        other = ck.consume(b, "many", 0, partitions=(2,), timeout=5)
        assert other == []

    verify()
    b.restart()
    check_fds(b, NPART + 1)
    verify()
    # unclean: every partition from its recovery point on is recovered
    b.stop(signal.SIGKILL)
    b.start()
    check_fds(b, NPART + 1)
    verify()
    assert "ERROR" not in b.log_text().split("==== start #3")[-1]
