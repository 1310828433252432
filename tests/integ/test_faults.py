"""Storage faults on one partition (src/fio.h: GREGOR_FAULTS_FILE + SIGUSR1
arms, SIGUSR2 clears): ENOSPC, EIO and torn (short) writes, a torn write
that cannot be rolled back (partition offline until restart) and fsync
failure.  In every case the faulty partition answers KAFKA_STORAGE_ERROR,
the other partitions and topics keep serving, the partition takes appends
again once the fault is gone (or after a restart when offline), and a full
read-back finds no corrupt, torn or duplicated batch."""
import os
import time

import pytest
from confluent_kafka import KafkaError

import ck
from helpers import wait_until
from storage_check import (KAFKA_STORAGE_ERROR, env_broker_factory, fetch_raw, produce_raw,
                           read_log)

T = "flt"


@pytest.fixture
def env_broker(tmp_path):
    yield from env_broker_factory(tmp_path)


def seed(b, n=20):
    ck.create_topic(b, T, partitions=2)
    ck.create_topic(b, "flt-other")
    acked = {0: {}, 1: {}}
    for p in (0, 1):
        for i in range(n):
            v = b"p%d-seed-%03d" % (p, i)
            err, off = produce_raw(b, T, p, [v])
            assert err == 0, err
            acked[p][off] = v
    return acked


def check_readback(b, acked, partition):
    """Every acknowledged value at its offset, offsets contiguous, each
    value once."""
    recs, _ = read_log(b, T, partition)
    offs = [o for o, _, _ in recs]
    assert offs == list(range(len(recs))), "offsets not contiguous: %s" % offs[:50]
    vals = [v for _, _, v in recs]
    assert len(set(vals)) == len(vals), "duplicated record"
    got = {o: v for o, _, v in recs}
    for o, v in acked.items():
        assert got.get(o) == v, "acknowledged offset %d: %r != %r" % (o, got.get(o), v)
    return recs


def log_size(b, partition):
    d = b.partition_dir(T, partition)
    return sum(os.path.getsize(os.path.join(d, f)) for f in b.segment_files(T, partition))


def others_serve(b, acked, tag):
    """Partition 1 and another topic keep taking appends and serving reads."""
    v = b"p1-" + tag
    err, off = produce_raw(b, T, 1, [v])
    assert err == 0, "partition 1 affected: %d" % err
    acked[1][off] = v
    err, _ = produce_raw(b, "flt-other", 0, [tag])
    assert err == 0, "other topic affected: %d" % err
    assert fetch_raw(b, T, 1, 0)["error"] == 0


@pytest.mark.parametrize("kind", ["enospc", "eio", "short"])
def test_write_fault_rolls_back_and_recovers(env_broker, kind):
    b = env_broker({"num.partitions": 1})
    acked = seed(b)
    size0 = log_size(b, 0)
    b.arm("%s@/%s-0/" % (kind, T))
    for i in range(5):
        err, _ = produce_raw(b, T, 0, [b"during-%d" % i, b"x" * 3000])
        assert err == KAFKA_STORAGE_ERROR, "produce under %s: error %d" % (kind, err)
        others_serve(b, acked, b"during-%s-%d" % (kind.encode(), i))
    # nothing of the failed appends is left on disk
    assert log_size(b, 0) == size0
    # reads of the faulty partition still work (only writes fail)
    assert fetch_raw(b, T, 0, 0)["error"] == 0
    # librdkafka sees the error in its delivery report
    p = ck.producer(b, acks="all", retries=0, message_timeout_ms=5000, linger_ms=0)
    errs = []
    p.produce(T, value=b"ck-during", partition=0, on_delivery=lambda e, m: errs.append(e))
    p.flush(10)
    assert errs and errs[0] is not None and errs[0].code() == KafkaError.KAFKA_STORAGE_ERROR, errs
    assert "Injected fault %s" % kind in b.log_text()

    b.clear()
    err, off = produce_raw(b, T, 0, [b"after"])
    assert err == 0 and off == 20, (err, off)
    acked[0][off] = b"after"
    check_readback(b, acked[0], 0)
    check_readback(b, acked[1], 1)
    # and the same after a crash and recovery
    b.kill()
    b.start()
    check_readback(b, acked[0], 0)
    check_readback(b, acked[1], 1)
    err, off = produce_raw(b, T, 0, [b"after-restart"])
    assert (err, off) == (0, 21)


@pytest.mark.parametrize("restart", ["sigterm", "kill9"])
def test_unrecoverable_torn_write_takes_partition_offline(env_broker, restart):
    b = env_broker({"num.partitions": 1})
    acked = seed(b)
    # a torn write, and the truncate that should cut it back fails too
    b.arm("short@/%s-0/,trunc@/%s-0/" % (T, T))
    err, _ = produce_raw(b, T, 0, [b"torn-" + b"y" * 5000])
    assert err == KAFKA_STORAGE_ERROR
    wait_until(lambda: "is offline" in b.log_text(), timeout=5, what="offline log line")
    b.clear()
    # offline until restart: produce and fetch both fail, others serve
    err, _ = produce_raw(b, T, 0, [b"still-offline"])
    assert err == KAFKA_STORAGE_ERROR
    assert fetch_raw(b, T, 0, 0)["error"] == KAFKA_STORAGE_ERROR
    others_serve(b, acked, b"offline")
    if restart == "sigterm":
        b.restart()
    else:
        b.kill()
        b.start()
    recs = check_readback(b, acked[0], 0)
    assert len(recs) == 20, "the torn batch survived: %s" % recs[20:]
    err, off = produce_raw(b, T, 0, [b"back"])
    assert (err, off) == (0, 20)
    acked[0][20] = b"back"
    check_readback(b, acked[0], 0)
    check_readback(b, acked[1], 1)


def test_fsync_failure_stops_acks_until_a_sync_succeeds(env_broker):
    b = env_broker({"num.partitions": 1, "log.flush.interval.messages": 1,
                    "log.retention.check.interval.ms": 200})
    acked = seed(b, 10)
    b.arm("fsync@/%s-0/" % T)
    # written but not durable: not acknowledged
    err, _ = produce_raw(b, T, 0, [b"unsynced-0"])
    assert err == KAFKA_STORAGE_ERROR
    wait_until(lambda: "refusing appends" in b.log_text(), timeout=5, what="fsync failure log line")
    # the log refuses appends while fsync fails
    for i in range(3):
        err, _ = produce_raw(b, T, 0, [b"refused-%d" % i])
        assert err == KAFKA_STORAGE_ERROR
        others_serve(b, acked, b"fsync-%d" % i)
        time.sleep(0.3)
    b.clear()
    # the housekeeping tick (and the next append) retries the fsync
    deadline = time.monotonic() + 10
    while True:
        err, off = produce_raw(b, T, 0, [b"after"])
        if err == 0:
            break
        assert err == KAFKA_STORAGE_ERROR and time.monotonic() < deadline, err
        time.sleep(0.2)
    acked[0][off] = b"after"
    assert "succeeded again" in b.log_text()
    recs = check_readback(b, acked[0], 0)
    # the unacknowledged append is in the log once (Kafka keeps it too);
    # the refused ones were never written
    vals = [v for _, _, v in recs]
    assert vals.count(b"unsynced-0") == 1
    assert not [v for v in vals if v.startswith(b"refused-")]
    check_readback(b, acked[1], 1)
