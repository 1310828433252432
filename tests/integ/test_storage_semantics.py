"""Storage and fetch semantics: timestamps (LogAppendTime), ListOffsets by
time / max timestamp, the flush policy, long polling, fetch size limits,
segment rolling and time retention, topic lifecycle on disk, exact batch
bytes on fetch, and many concurrent connections.

Raw requests (kproto) are used where no client exposes the behaviour; every
check looks at what the client sees and, where it matters, at the data dir.
"""
import gzip
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest
from confluent_kafka import (TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, KafkaError,
                             TopicPartition)
from confluent_kafka.admin import ConfigResource, ConfigSource, NewPartitions
from kafka import KafkaConsumer
from kafka import TopicPartition as KTP
from kafka.errors import OffsetOutOfRangeError

import ck
import kproto as kp
from helpers import kcat, require, wait_until

HOUR_MS = 3600 * 1000

ERR_NONE = 0
ERR_OFFSET_OUT_OF_RANGE = 1


def now_ms():
    return int(time.time() * 1000)


def produce_raw(broker, topic, batch, partition=0, acks=-1):
    """One raw Produce v3 with one batch; returns (error, base_offset, log_append_time)."""
    resp = kp.call(broker.bootstrap, 0, 3, kp.produce_v3(topic, [(partition, batch)], acks=acks),
                   kp.parse_produce_v3)
    return resp[(topic, partition)]


def fetch_raw(broker, topic, offset, partition=0, max_wait_ms=0, min_bytes=1,
              max_bytes=0x7FFFFFFF, part_max=0x7FFFFFFF, timeout=10.0):
    resp = kp.call(broker.bootstrap, 1, 4,
                   kp.fetch_v4([(topic, [(partition, offset, part_max)])], max_wait_ms, min_bytes,
                               max_bytes),
                   kp.parse_fetch_v4, timeout=timeout)
    return resp[(topic, partition)]


def list_offsets(broker, topic, timestamp, partition=0):
    """ListOffsets v7 -> (error, timestamp, offset)."""
    resp = kp.call(broker.bootstrap, 2, 7, kp.list_offsets_v7([(topic, [(partition, timestamp)])]),
                   kp.parse_list_offsets_v7, flexible=True)
    return resp[(topic, partition)][:3]


def read_checkpoint(path):
    with open(path) as f:
        lines = f.read().splitlines()
    assert lines[0] == "0", lines
    n = int(lines[1])
    entries = {}
    for line in lines[2:2 + n]:
        t, p, o = line.split()
        entries[(t, int(p))] = int(o)
    assert len(entries) == n, lines
    return entries


def first_batch_base(path):
    with open(path, "rb") as f:
        head = f.read(61)
    return kp.batch_info(head)["base_offset"] if len(head) == 61 else None


def describe(broker, name):
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    return ck.admin(broker).describe_configs([res], request_timeout=15)[res].result(timeout=20)


def watermarks(broker, topic, partition=0):
    c = ck.consumer(broker)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        c.close()


# ------------------------------------------------------------------ 1. LogAppendTime

def check_log_append_time(b, topic, old_ts):
    t0 = now_ms()
    reps = ck.produce(b, topic, [{"value": b"lat-%d" % i, "timestamp": old_ts + i} for i in range(5)],
                      acks="all")
    assert [r[:2] for r in reps] == [(None, i) for i in range(5)]
    t1 = now_ms()
    got = ck.consume(b, topic, 5)
    for m in got:
        ttype, ts = m.timestamp()
        assert ttype == TIMESTAMP_LOG_APPEND_TIME, (m.offset(), m.timestamp())
        assert t0 - 2000 <= ts <= t1 + 2000, "timestamp %d not broker time (%d..%d), producer sent %d" \
            % (ts, t0, t1, old_ts)
    # raw view: the stored batch says LogAppendTime, carries broker time, CRC still valid
    err, base, lat = produce_raw(b, topic, kp.record_batch_ts([(None, b"raw")], [old_ts]))
    assert err == ERR_NONE and base == 5
    assert abs(lat - now_ms()) < 5000, "Produce response LogAppendTime %d" % lat
    pd = fetch_raw(b, topic, 5)
    [batch] = kp.split_batches(pd["records"])
    info = kp.batch_info(batch)
    assert info["attributes"] & kp.ATTR_LOG_APPEND_TIME, info
    assert info["max_ts"] == lat, (info, lat)
    assert kp.crc32c(batch[21:]) == info["crc"], "CRC not updated after timestamp rewrite"
    # a compressed batch gets the same treatment without being recompressed
    sent = kp.record_batch_ts([(b"k%d" % i, b"gz-%d" % i * 20) for i in range(8)],
                              [old_ts + i for i in range(8)], attributes=kp.ATTR_GZIP,
                              compress=lambda x: gzip.compress(x, 9))
    err, base, lat = produce_raw(b, topic, sent)
    assert err == ERR_NONE and base == 6
    pd = fetch_raw(b, topic, base)
    got = kp.split_batches(pd["records"])[0]
    info = kp.batch_info(got)
    assert info["attributes"] == kp.ATTR_GZIP | kp.ATTR_LOG_APPEND_TIME, info
    assert info["max_ts"] == lat and abs(lat - now_ms()) < 5000, (info, lat)
    assert kp.crc32c(got[21:]) == info["crc"]
    assert len(got) == len(sent) and got[43:] == sent[43:], "records section changed"


def test_log_append_time_topic_config(broker_factory):
    b = broker_factory(num_partitions=1)
    old = now_ms() - 5 * HOUR_MS
    ck.create_topic(b, "lat-topic", config={"message.timestamp.type": "LogAppendTime"})
    check_log_append_time(b, "lat-topic", old)
    # control: a CreateTime topic on the same broker keeps the producer's timestamps
    ck.create_topic(b, "ct-topic")
    ck.produce(b, "ct-topic", [{"value": b"x", "timestamp": old}])
    [m] = ck.consume(b, "ct-topic", 1)
    assert m.timestamp() == (TIMESTAMP_CREATE_TIME, old)


def test_log_append_time_broker_override(broker_factory):
    b = broker_factory({"log.message.timestamp.type": "LogAppendTime", "num.partitions": 1})
    ck.create_topic(b, "lat-broker")
    assert describe(b, "lat-broker")["message.timestamp.type"].value == "LogAppendTime"
    check_log_append_time(b, "lat-broker", now_ms() - 3 * HOUR_MS)


# ------------------------------------------------------------------ 2 + 6. ListOffsets, segments

def test_list_offsets_by_time_across_segments(broker_factory):
    b = broker_factory(num_partitions=1)
    topic = ck.create_topic(b, "lo-segs", config={"internal.segment.bytes": "300"})
    base = now_ms() - 60000
    # one batch per request: offset i has ts base + i*1000, except offset 17
    # which carries the largest timestamp of the log
    n = 30
    tss = [base + i * 1000 for i in range(n)]
    tss[17] = base + 100000
    for i, ts in enumerate(tss):
        err, off, _ = produce_raw(b, topic, kp.record_batch_ts([(b"k", b"v%02d-" % i + b"p" * 40)], [ts]))
        assert (err, off) == (ERR_NONE, i)

    # disk: several segments, every .log has its .index/.timeindex, named by
    # the 20-digit base offset of its first batch
    d = b.partition_dir(topic)
    logs = b.segment_files(topic)
    assert len(logs) >= 5, logs
    for f in logs:
        stem = f[:-4]
        assert len(stem) == 20 and stem.isdigit(), f
        assert os.path.exists(os.path.join(d, stem + ".index")), os.listdir(d)
        assert os.path.exists(os.path.join(d, stem + ".timeindex")), os.listdir(d)
        fb = first_batch_base(os.path.join(d, f))
        if fb is not None:
            assert fb == int(stem), (f, fb)
    assert int(logs[0][:20]) == 0

    assert list_offsets(b, topic, -2) == (ERR_NONE, -1, 0)
    assert list_offsets(b, topic, -1)[::2] == (ERR_NONE, n)
    assert list_offsets(b, topic, -3) == (ERR_NONE, base + 100000, 17)
    cases = {base - 5000: 0, base: 0, base + 1: 1, base + 500: 1, base + 9000: 9,
             base + 14500: 15, base + 16001: 17, base + 18500: 17,   # 17 is the first >= target
             base + 29000: 17, base + 16000: 16, base + 100000: 17}
    for target, want in cases.items():
        err, ts, off = list_offsets(b, topic, target)
        assert (err, off) == (ERR_NONE, want), (target - base, err, ts, off)
        assert ts == tss[want], (target - base, ts - base)
    assert list_offsets(b, topic, -1, partition=1)[0] == 3     # UNKNOWN_TOPIC_OR_PARTITION
    # nothing at or after the target: offset -1 (Kafka: no timestamp/offset)
    assert list_offsets(b, topic, base + 100001)[2] == -1
    # a client agrees (kafka-python offsets_for_times)
    kc = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, request_timeout_ms=15000,
                       api_version_auto_timeout_ms=5000)
    try:
        r = kc.offsets_for_times({KTP(topic, 0): base + 14500})[KTP(topic, 0)]
        assert (r.offset, r.timestamp) == (15, base + 15000)
    finally:
        kc.close()


@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_list_offsets_max_timestamp_within_batch(broker_factory, codec):
    b = broker_factory(num_partitions=1)
    topic = ck.create_topic(b, "lo-max-" + codec)
    base = now_ms() - 60000
    assert produce_raw(b, topic, kp.record_batch_ts([(None, b"a")], [base]))[:2] == (ERR_NONE, 0)
    recs = [(None, b"r%d" % i) for i in range(5)]
    tss = [base + 10, base + 20, base + 90000, base + 30, base + 40]   # max at offset 1+2
    batch = kp.record_batch_ts(recs, tss, attributes=kp.ATTR_GZIP if codec == "gzip" else 0,
                               compress=gzip.compress if codec == "gzip" else None)
    assert produce_raw(b, topic, batch)[:2] == (ERR_NONE, 1)
    assert produce_raw(b, topic, kp.record_batch_ts([(None, b"z")], [base + 50]))[:2] == (ERR_NONE, 6)
    assert list_offsets(b, topic, -3) == (ERR_NONE, base + 90000, 3)
    # by timestamp, inside the batch: the first record with ts >= target
    err, ts, off = list_offsets(b, topic, base + 25)
    assert (err, ts, off) == (ERR_NONE, base + 90000, 3)
    err, ts, off = list_offsets(b, topic, base + 15)
    assert (err, ts, off) == (ERR_NONE, base + 20, 2)


def test_segment_roll_by_time(broker_factory):
    b = broker_factory({"log.retention.check.interval.ms": 100, "num.partitions": 1})
    topic = ck.create_topic(b, "roll-time", config={"segment.ms": "300"})
    for i in range(3):
        assert ck.produce(b, topic, [{"value": b"t%d" % i}])[0][:2] == (None, i)
        # the active segment is rolled once it is older than segment.ms
        wait_until(lambda: len(b.segment_files(topic)) >= i + 2, timeout=20,
                   what="segment roll #%d" % (i + 1))
    logs = b.segment_files(topic)
    d = b.partition_dir(topic)
    assert [int(f[:20]) for f in logs[:4]] == [0, 1, 2, 3], logs
    for f in logs:
        for ext in (".index", ".timeindex"):
            assert os.path.exists(os.path.join(d, f[:20] + ext)), os.listdir(d)
    # an empty active segment is not rolled again and again: a witness topic
    # created after the last roll rolls its one record by time; by then the
    # empty active segment above is older than segment.ms as well
    w = ck.create_topic(b, "roll-witness", config={"segment.ms": "300"})
    assert ck.produce(b, w, [{"value": b"w"}])[0][:2] == (None, 0)
    wait_until(lambda: len(b.segment_files(w)) >= 2, timeout=20, what="the witness segment rolled")
    assert b.segment_files(topic) == logs
    got = ck.consume(b, topic, 3)
    assert [m.value() for m in got] == [b"t0", b"t1", b"t2"]


def test_retention_by_time(broker_factory):
    b = broker_factory({"log.retention.check.interval.ms": 200, "num.partitions": 1})
    topic = ck.create_topic(b, "ret-time", config={"internal.segment.bytes": "400", "retention.ms": "600000"})
    old = now_ms() - HOUR_MS
    for i in range(20):        # old records, one batch each, several segments
        assert produce_raw(b, topic, kp.record_batch_ts([(None, b"old-%02d" % i + b"o" * 60)],
                                                        [old + i]))[:2] == (ERR_NONE, i)
    for i in range(20, 25):
        assert produce_raw(b, topic, kp.record_batch_ts([(None, b"new-%02d" % i + b"n" * 60)],
                                                        [now_ms()]))[:2] == (ERR_NONE, i)
    nsegs = len(b.segment_files(topic))
    assert nsegs >= 4

    def settled():
        # the log start has advanced and the files below it are gone (they
        # are deleted off the loop thread, shortly after the start moves)
        lo = list_offsets(b, topic, -2)[2]
        logs = b.segment_files(topic)
        names = [f for f in os.listdir(b.partition_dir(topic)) if f[:20].isdigit()]
        if lo > 0 and logs and int(logs[0][:20]) == lo and all(int(f[:20]) >= lo for f in names):
            return lo
        return None
    lo = wait_until(settled, timeout=10, what="old segments deleted and the log start advanced")
    # segments holding only old records are gone; what holds new ones stays
    assert 0 < lo <= 20, lo
    assert len(b.segment_files(topic)) < nsegs
    assert watermarks(b, topic) == (lo, 25)
    got = ck.consume(b, topic, 25 - lo, offset=lo)
    assert [m.offset() for m in got] == list(range(lo, 25))
    assert [m.value()[:6] for m in got[-5:]] == [b"new-%02d" % i for i in range(20, 25)]

    # lookups only see what is left
    assert list_offsets(b, topic, old - 1000)[2] == lo
    err, ts, off = list_offsets(b, topic, -3)
    assert err == ERR_NONE and lo <= off < 25, (ts, off)
    assert fetch_raw(b, topic, 0)["error"] == ERR_OFFSET_OUT_OF_RANGE
    c = ck.consumer(b, auto_offset_reset="error")
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        err = None
        deadline = time.monotonic() + 10
        while err is None and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None:
                assert m.error(), "read offset %d below log start %d" % (m.offset(), lo)
                err = m.error()
        assert err is not None and err.code() == KafkaError._AUTO_OFFSET_RESET, err
    finally:
        c.close()
    kc = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                       auto_offset_reset="none", request_timeout_ms=15000,
                       api_version_auto_timeout_ms=5000, fetch_max_wait_ms=100)
    try:
        tp = KTP(topic, 0)
        kc.assign([tp])
        kc.seek(tp, 0)
        with pytest.raises(OffsetOutOfRangeError):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                assert not kc.poll(timeout_ms=200), "got records below the log start offset"
    finally:
        kc.close()


def test_first_retention_check_30s_after_startup(broker_factory):
    """The first retention check comes 30 s after startup (Kafka's initial
    task delay) when log.retention.check.interval.ms is longer: records
    past their retention at startup are deleted after 30 s, long before the
    interval (120 s) is up."""
    t0 = time.monotonic()
    b = broker_factory({"log.retention.check.interval.ms": 120000, "num.partitions": 1})
    topic = ck.create_topic(b, "ret-first", config={"retention.ms": "600000"})
    old = now_ms() - HOUR_MS
    assert produce_raw(b, topic, kp.record_batch_ts([(None, b"old")], [old]))[:2] == (ERR_NONE, 0)
    lo = wait_until(lambda: list_offsets(b, topic, -2)[2] or None, timeout=100, interval=0.5,
                    what="the expired record deleted by the first retention check")
    elapsed = time.monotonic() - t0
    print("first retention check: log start %d, %.1f s after the broker was started" % (lo, elapsed))
    assert lo == 1
    # t0 was taken before the broker started, so elapsed is at least the
    # broker's own delay
    assert elapsed >= 30.0, "retention ran %.1f s after startup, before the initial delay" % elapsed


# ------------------------------------------------------------------ 3. flush policy

def test_flush_every_message_moves_recovery_point(broker_factory):
    """log.flush.interval.messages=1: the recovery point (it moves only after
    a successful fsync) follows every acknowledged append while the broker
    runs; a topic with flush.messages at its maximum (no flush by count)
    keeps its recovery point at 0.  The housekeeping tick writes both to
    recovery-point-offset-checkpoint.  That the acknowledged records survive
    a power cut is shown by test_power_loss.py."""
    b = broker_factory({"log.flush.interval.messages": 1, "num.partitions": 1,
                        "log.retention.check.interval.ms": 100})
    never = ck.create_topic(b, "flush-never", config={"flush.messages": str(2 ** 63 - 1)})
    topic = ck.create_topic(b, "flush-1", partitions=2)
    rp_path = os.path.join(b.data_dir, "recovery-point-offset-checkpoint")
    # the control first: a flush started by its appends would run on the
    # same helper lane before the ones of flush-1
    reps = ck.produce(b, never, [{"value": b"n%d" % i} for i in range(40)], acks="all", linger_ms=0)
    assert all(r[0] is None for r in reps)
    reps = ck.produce(b, topic, [{"value": b"f%d" % i} for i in range(40)], acks="all", linger_ms=0)
    assert all(r[0] is None for r in reps) and [r[1] for r in reps] == list(range(40))
    reps = ck.produce(b, topic, [{"value": b"g%d" % i} for i in range(7)], partition=1, acks=1)
    assert all(r[0] is None for r in reps)

    def flushed():
        try:
            rp = read_checkpoint(rp_path)
        except (FileNotFoundError, IndexError, ValueError):
            return None
        return rp if rp.get((topic, 0)) == 40 and rp.get((topic, 1)) == 7 else None
    rp = wait_until(flushed, timeout=20, what="recovery points of flush-1 at the log end (running broker)")
    assert rp.get((never, 0)) == 0, rp
    # a clean shutdown flushes the rest and checkpoints the log ends
    assert b.stop(signal.SIGTERM) == 0
    rp = read_checkpoint(rp_path)
    assert (rp.get((topic, 0)), rp.get((topic, 1)), rp.get((never, 0))) == (40, 7, 40), rp
    ls = read_checkpoint(os.path.join(b.data_dir, "log-start-offset-checkpoint"))
    assert ls.get((topic, 0), 0) == 0, ls
    b.start()
    assert watermarks(b, topic) == (0, 40)


def count_syncs(b, action, seconds_after=0.3):
    """Run action() with strace attached to every thread of the broker;
    returns the number of fsync/fdatasync calls seen.  action() starts only
    once strace has reported every thread attached."""
    require(shutil.which("strace"), "strace is not installed (tools/deps.sh test)")
    out = os.path.join(b.workdir, "strace.txt")
    tids = os.listdir("/proc/%d/task" % b.pid)
    argv = ["strace", "-f", "-e", "trace=fsync,fdatasync", "-o", out]
    for t in tids:
        argv += ["-p", t]
    st = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        attached, err = set(), []
        deadline = time.monotonic() + 20
        while len(attached) < len(tids) and st.poll() is None and time.monotonic() < deadline:
            if not select.select([st.stderr], [], [], 0.2)[0]:
                continue
            line = st.stderr.readline()
            err.append(line)
            if line.startswith("strace: Process ") and " attached" in line:
                attached.add(line.split()[2])
        if st.poll() is not None:
            require(False, "strace cannot attach to the broker here (ptrace not permitted): %s"
                    % "".join(err + [st.stderr.read()]).strip())
        assert attached >= set(tids), "strace attached to %s of %s: %s" % (attached, tids, err)
        action()
        time.sleep(seconds_after)
    finally:
        st.terminate()
        try:
            st.wait(10)
        except subprocess.TimeoutExpired:
            st.kill()
            st.wait(5)
    with open(out) as f:
        return sum(1 for line in f if "sync(" in line and "resumed" not in line)


def test_flush_every_message_fsyncs(broker_factory):
    nreq = 15

    def produce_one_by_one(b, topic):
        def go():
            for i in range(nreq):
                err, off, _ = produce_raw(b, topic, kp.record_batch([(None, b"s%d" % i)]), acks=1)
                assert (err, off) == (ERR_NONE, i)
        return go

    b = broker_factory({"log.flush.interval.messages": 1, "num.partitions": 1})
    ck.create_topic(b, "sync-1")
    n = count_syncs(b, produce_one_by_one(b, "sync-1"))
    assert n >= nreq, "%d fsyncs for %d acknowledged appends with flush.messages=1" % (n, nreq)
    # control: the default policy leaves data in the page cache
    c = broker_factory({"num.partitions": 1})
    ck.create_topic(c, "sync-0")
    n0 = count_syncs(c, produce_one_by_one(c, "sync-0"))
    assert n0 < nreq, n0


# ------------------------------------------------------------------ 4. long polling
#
# A parked fetch must be answered by the append that satisfies it, not when
# MaxWaitMs runs out.  MaxWaitMs is long (PARK_MS) and the bound on the
# wake-up is half of it (WAKE_S): the difference between the two behaviours
# is large, and the timing of a loaded machine under sanitizers stays far
# inside it.  How fast a wake-up is belongs to `make bench`.

PARK_MS = 20000
WAKE_S = PARK_MS / 2000


def test_long_poll_wakes_on_produce(broker_factory):
    b = broker_factory(num_partitions=1)
    topic = ck.create_topic(b, "lp-wake")
    produced_at = []

    def later():
        time.sleep(1.0)
        produced_at.append(time.monotonic())
        produce_raw(b, topic, kp.record_batch([(None, b"wake")]), acks=1)

    th = threading.Thread(target=later)
    t0 = time.monotonic()
    th.start()
    try:
        pd = fetch_raw(b, topic, 0, max_wait_ms=PARK_MS, min_bytes=1, timeout=PARK_MS / 1000 + 10)
    finally:
        th.join(10)
    t1 = time.monotonic()
    assert produced_at, "producer thread did not run"
    assert pd["error"] == ERR_NONE and pd["hw"] == 1
    [batch] = kp.split_batches(pd["records"])
    assert kp.batch_info(batch)["base_offset"] == 0
    assert t1 - produced_at[0] < WAKE_S, "answered %.3fs after the produce" % (t1 - produced_at[0])
    assert t1 - t0 >= 0.9, "answered before anything was produced (%.3fs)" % (t1 - t0)


def test_long_poll_times_out(broker_factory):
    b = broker_factory(num_partitions=1)
    topic = ck.create_topic(b, "lp-timeout")
    for wait in (300, 1500):
        t0 = time.monotonic()
        pd = fetch_raw(b, topic, 0, max_wait_ms=wait, min_bytes=1, timeout=10)
        dt = time.monotonic() - t0
        assert pd["error"] == ERR_NONE and pd["records"] == b"" and pd["hw"] == 0
        # not before MaxWaitMs; after it, answered (not left parked)
        assert 0.9 * wait / 1000 <= dt <= wait / 1000 + 5, (wait, dt)
    # kafka-python: a poll on an empty partition waits for fetch_max_wait_ms
    kc = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                       request_timeout_ms=PARK_MS + 15000, api_version_auto_timeout_ms=5000,
                       fetch_max_wait_ms=PARK_MS, auto_offset_reset="earliest")
    try:
        tp = KTP(topic, 0)
        kc.assign([tp])
        kc.poll(timeout_ms=100)    # connect + offset reset
        got = []

        def later():
            time.sleep(1.0)
            produce_raw(b, topic, kp.record_batch([(None, b"kp")]), acks=1)

        th = threading.Thread(target=later)
        th.start()
        t0 = time.monotonic()
        deadline = t0 + PARK_MS / 1000 + 10
        while not got and time.monotonic() < deadline:
            for recs in kc.poll(timeout_ms=500).values():
                got.extend(recs)
        dt = time.monotonic() - t0
        th.join(10)
        assert [r.value for r in got] == [b"kp"]
        # delivered by the parked fetch, not by the next poll round
        assert dt < 1.0 + WAKE_S, dt
    finally:
        kc.close()


def test_long_poll_min_bytes(broker_factory):
    b = broker_factory(num_partitions=1)
    topic = ck.create_topic(b, "lp-minbytes")
    small = kp.record_batch([(None, b"s" * 50)])
    big = kp.record_batch([(None, b"B" * 3000)])
    marks = {}

    def later():
        time.sleep(0.5)
        produce_raw(b, topic, small, acks=1)
        marks["small"] = time.monotonic()
        time.sleep(1.0)
        marks["big"] = time.monotonic()
        produce_raw(b, topic, big, acks=1)

    th = threading.Thread(target=later)
    th.start()
    try:
        pd = fetch_raw(b, topic, 0, max_wait_ms=PARK_MS, min_bytes=2000, timeout=PARK_MS / 1000 + 10)
    finally:
        th.join(10)
    t1 = time.monotonic()
    assert "big" in marks
    assert t1 >= marks["big"], "answered with only %d bytes (< min_bytes)" % len(small)
    assert t1 - marks["big"] < WAKE_S, t1 - marks["big"]
    batches = kp.split_batches(pd["records"])
    assert [kp.batch_info(x)["base_offset"] for x in batches] == [0, 1]


def test_parked_fetch_survives_delete_and_disconnect(broker_factory):
    b = broker_factory(num_partitions=1)
    topic = ck.create_topic(b, "lp-gone", partitions=2)
    # 1. the client goes away while its fetch is parked, then data arrives
    s = kp.connect(b.bootstrap)
    s.sendall(kp.request(1, 4, 5, kp.fetch_v4([(topic, [(0, 0, 1 << 20), (1, 0, 1 << 20)])],
                                              max_wait_ms=5000)))
    time.sleep(0.3)
    s.close()
    time.sleep(0.2)
    assert produce_raw(b, topic, kp.record_batch([(None, b"after-close")]), acks=1)[:2] == (ERR_NONE, 0)
    # 2. the topic is deleted under a parked fetch: answered (error or empty),
    # well before max wait
    with kp.connect(b.bootstrap, timeout=PARK_MS / 1000 + 10) as s:
        s.sendall(kp.request(1, 4, 6, kp.fetch_v4([(topic, [(1, 0, 1 << 20)])], max_wait_ms=PARK_MS)))
        time.sleep(0.3)
        t0 = time.monotonic()
        ck.admin(b).delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(20)
        resp = kp.parse_fetch_v4(kp.recv_frame(s), 6)
        dt = time.monotonic() - t0
    assert resp[(topic, 1)]["records"] == b"", resp
    assert resp[(topic, 1)]["error"] == 3, resp     # UNKNOWN_TOPIC_OR_PARTITION
    assert dt < WAKE_S, "parked fetch answered %.2fs after the delete" % dt
    # the broker carries on: same name again, produce, fetch
    ck.create_topic(b, topic, partitions=2)
    assert produce_raw(b, topic, kp.record_batch([(None, b"again")]), partition=1)[:2] == (ERR_NONE, 0)
    pd = fetch_raw(b, topic, 0, partition=1, max_wait_ms=1000)
    assert pd["error"] == ERR_NONE and len(kp.split_batches(pd["records"])) == 1


# ------------------------------------------------------------------ 5. fetch sizes

def test_fetch_max_bytes(broker_factory):
    b = broker_factory(num_partitions=1)
    topic = ck.create_topic(b, "fmax", partitions=2)
    sizes = []
    for i in range(10):
        batch = kp.record_batch([(None, b"%d" % i + b"x" * 900)])
        sizes.append(len(batch))
        assert produce_raw(b, topic, batch)[:2] == (ERR_NONE, i)
        assert produce_raw(b, topic, batch, partition=1)[:2] == (ERR_NONE, i)
    bs = sizes[0]

    def check(pd, limit, start):
        data = pd["records"]
        assert pd["error"] == ERR_NONE
        assert len(data) <= limit, (len(data), limit)
        whole = kp.split_batches(data)
        assert [kp.batch_info(x)["base_offset"] for x in whole] == list(range(start, start + len(whole)))
        return whole

    # response limit
    whole = check(fetch_raw(b, topic, 0, max_bytes=int(2.5 * bs)), int(2.5 * bs), 0)
    assert len(whole) == 2
    # partition limit
    whole = check(fetch_raw(b, topic, 3, part_max=int(3.5 * bs)), int(3.5 * bs), 3)
    assert len(whole) == 3
    # limits smaller than the first batch: exactly that one batch, whole
    for kw in ({"max_bytes": 100}, {"part_max": 100}, {"max_bytes": 1, "part_max": 1}):
        pd = fetch_raw(b, topic, 4, **kw)
        assert pd["error"] == ERR_NONE
        assert len(pd["records"]) == bs, (kw, len(pd["records"]), bs)
        assert kp.batch_info(pd["records"])["base_offset"] == 4
    # two partitions share the response limit
    resp = kp.call(b.bootstrap, 1, 4,
                   kp.fetch_v4([(topic, [(0, 0, 1 << 20), (1, 0, 1 << 20)])], max_bytes=int(3.5 * bs)),
                   kp.parse_fetch_v4)
    total = sum(len(v["records"]) for v in resp.values())
    assert total <= int(3.5 * bs), total
    assert len(kp.split_batches(resp[(topic, 0)]["records"])) == 3
    # at the log end: empty, no error; beyond it: OFFSET_OUT_OF_RANGE
    pd = fetch_raw(b, topic, 10)
    assert (pd["error"], pd["records"], pd["hw"]) == (ERR_NONE, b"", 10)
    assert fetch_raw(b, topic, 11)["error"] == ERR_OFFSET_OUT_OF_RANGE
    # a client with small fetch limits still reads everything in order
    got = ck.consume(b, topic, 10, fetch_max_bytes=1000, max_partition_fetch_bytes=500, message_max_bytes=1000,
                     fetch_message_max_bytes=500)
    assert [m.offset() for m in got] == list(range(10))


# ------------------------------------------------------------------ 7. topic lifecycle on disk

def test_delete_and_create_partitions_on_disk(broker_factory):
    b = broker_factory(num_partitions=1)
    topic = ck.create_topic(b, "life", partitions=3)
    for p in range(3):
        ck.produce(b, topic, [{"value": b"p%d" % p}], partition=p)
        assert os.path.isdir(b.partition_dir(topic, p))
    props = os.path.join(b.data_dir, ".topics", topic + ".properties")
    assert os.path.exists(props)

    fs = ck.admin(b).delete_topics([topic], operation_timeout=10, request_timeout=15)
    fs[topic].result(timeout=20)

    def gone():
        return not [f for f in os.listdir(b.data_dir) if f.startswith(topic + "-")]
    wait_until(gone, timeout=10, what="partition directories of the deleted topic removed")
    assert not os.path.exists(props)
    assert topic not in ck.admin(b).list_topics(timeout=10).topics

    # same name again: a new, empty topic
    ck.create_topic(b, topic, partitions=1)
    assert watermarks(b, topic) == (0, 0)
    ck.admin(b).create_partitions([NewPartitions(topic, 3)], request_timeout=15)[topic].result(timeout=20)
    for p in (1, 2):
        d = b.partition_dir(topic, p)
        wait_until(lambda: os.path.isdir(d), timeout=5, what=d)
        assert "00000000000000000000.log" in os.listdir(d), os.listdir(d)
        assert "partition.metadata" in os.listdir(d), os.listdir(d)
    assert not os.path.exists(b.partition_dir(topic, 3))
    assert ck.produce(b, topic, [{"value": b"new"}], partition=2)[0] == (None, 0, 2)
    b.restart()
    md = ck.admin(b).list_topics(topic=topic, timeout=10)
    assert sorted(md.topics[topic].partitions) == [0, 1, 2]
    assert watermarks(b, topic, 2) == (0, 1)


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_topic_configs_persist(broker_factory, how):
    b = broker_factory(num_partitions=1)
    topic = ck.create_topic(b, "cfg-persist", config={"retention.ms": "7654321",
                                                      "message.timestamp.type": "LogAppendTime"})
    cfg = describe(b, topic)
    assert cfg["retention.ms"].value == "7654321"
    b.restart(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    cfg = describe(b, topic)
    assert cfg["retention.ms"].value == "7654321"
    assert cfg["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert cfg["message.timestamp.type"].value == "LogAppendTime"
    assert cfg["segment.bytes"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    # and the restored config is in force, not just reported
    ck.produce(b, topic, [{"value": b"x", "timestamp": now_ms() - HOUR_MS}])
    [m] = ck.consume(b, topic, 1)
    assert m.timestamp()[0] == TIMESTAMP_LOG_APPEND_TIME


# ------------------------------------------------------------------ 9. exact bytes

@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_fetch_returns_produced_bytes(broker_factory, codec):
    b = broker_factory(num_partitions=1)
    topic = ck.create_topic(b, "exact-" + codec)
    # something first, so the raw batch lands at a non-zero base offset
    ck.produce(b, topic, [{"value": b"pre-%d" % i} for i in range(3)], linger_ms=0)
    base = now_ms() - 1000
    recs = [(b"key-%d" % i, b"value-%d-" % i + bytes(range(256)) * 2, [("h", b"%d" % i)])
            for i in range(20)]
    sent = kp.record_batch_ts(recs, [base + i for i in range(20)],
                              attributes=kp.ATTR_GZIP if codec == "gzip" else 0,
                              compress=(lambda x: gzip.compress(x, 9)) if codec == "gzip" else None)
    err, off, _ = produce_raw(b, topic, sent)
    assert err == ERR_NONE
    pd = fetch_raw(b, topic, off)
    batches = kp.split_batches(pd["records"])
    assert batches, pd
    got = batches[0]
    assert kp.batch_info(got)["base_offset"] == off
    assert len(got) == len(sent)
    # identical except baseOffset (0..8) and partitionLeaderEpoch (12..16)
    assert got[8:12] == sent[8:12] and got[16:] == sent[16:], "batch bytes changed"
    # fetching from an offset inside the batch returns the same whole batch
    mid = kp.split_batches(fetch_raw(b, topic, off + 7)["records"])[0]
    assert mid == got
    # and on disk exactly as fetched
    path = os.path.join(b.partition_dir(topic), b.segment_files(topic)[-1])
    with open(path, "rb") as f:
        assert got in f.read()
    # a client decodes it
    ms = ck.consume(b, topic, 23)
    assert [(m.key(), m.value()) for m in ms[3:]] == [(k, v) for k, v, _ in recs]


# ------------------------------------------------------------------ 10. many connections

def test_many_idle_connections(broker_factory):
    want = 2000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = want + 512
    if soft < need:
        require(hard == resource.RLIM_INFINITY or hard >= need, "RLIMIT_NOFILE hard limit %d < %d" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    try:
        # started after raising the limit, so the broker inherits it
        b = broker_factory(num_partitions=1)
        topic = ck.create_topic(b, "many-conns")
        socks = []
        try:
            for _ in range(want):
                s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
                socks.append(s)
            # clients still work while 2000 connections sit idle
            kcat(b, "-P", "-t", topic, "-p", "0", input="one\ntwo\nthree\n")
            cp = kcat(b, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q")
            assert cp.stdout.split() == ["one", "two", "three"]
            # every idle connection was accepted and is served
            req = kp.request(18, 0, 77, b"")
            for s in socks:
                s.sendall(req)
            for s in socks:
                r = kp.Reader(kp.recv_frame(s))
                assert r.i32() == 77 and r.i16() == 0
        finally:
            for s in socks:
                s.close()
        assert b.running()
        kcat(b, "-P", "-t", topic, "-p", "0", input="four\n")
        assert watermarks(b, topic) == (0, 4)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_idle_broker_does_not_rewrite_checkpoints(broker_factory):
    """The periodic offset checkpoints are written again only when their
    content changed: with a retention check every 100 ms (each tick takes a
    checkpoint), an idle broker leaves recovery-point-offset-checkpoint as
    it is (same file: a rewrite renames a new one over it), and a change
    reaches the file at a following tick."""
    b = broker_factory({"log.retention.check.interval.ms": 100})
    topic = ck.create_topic(b, "ckpt-idle", config={"flush.messages": "1"})
    path = os.path.join(b.data_dir, "recovery-point-offset-checkpoint")

    def has(line):
        try:
            with open(path) as f:
                return line in f.read().splitlines()
        except FileNotFoundError:
            return False

    ck.produce(b, topic, [{"value": b"one"}])
    wait_until(lambda: has("%s 0 1" % topic), timeout=15, what="recovery point 1 checkpointed")
    st = os.stat(path)
    time.sleep(2.0)                     # twenty ticks
    st2 = os.stat(path)
    assert (st2.st_ino, st2.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), "an unchanged checkpoint was rewritten"
    # the ticks still write what changed
    ck.produce(b, topic, [{"value": b"two"}])
    wait_until(lambda: has("%s 0 2" % topic), timeout=15, what="recovery point 2 checkpointed")
    assert os.stat(path).st_ino != st.st_ino
