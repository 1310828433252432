"""Storage faults on one partition (src/core/fio.h: GREGOR_FAULTS_FILE + SIGUSR1
arms, SIGUSR2 clears): ENOSPC, EIO and torn (short) writes, a torn write
that cannot be rolled back (partition offline until restart) and fsync
failure.  In every case the faulty partition answers KAFKA_STORAGE_ERROR,
the other partitions and topics keep serving, the partition takes appends
again once the fault is gone (or after a restart when offline), and a full
read-back finds no corrupt, torn or duplicated batch.

Read faults: EIO on reads of log data makes Fetch and ListOffsets by
timestamp answer KAFKA_STORAGE_ERROR for that partition only (Fetch v0-5,
whose clients do not know that error, NOT_LEADER_OR_FOLLOWER, as Kafka's
maybeDownConvertStorageError answers them: the raw fetches here are v4); EIO in the
middle of the sendfile of a Fetch response closes the connection (never a
short frame passed off as whole); Metadata lists a partition whose storage
fails with KAFKA_STORAGE_ERROR and the broker in OfflineReplicas until the
fault clears; and a librdkafka consumer reading through a transient read
fault ends up with every record exactly once."""
import os
import re
import socket
import time

import pytest
from confluent_kafka import KafkaError, TopicPartition

import ck
import kproto as kp
from helpers import wait_until
from storage_check import (KAFKA_STORAGE_ERROR, env_broker_factory, fetch_raw, produce_raw,
                           read_log)

# what a Fetch v4 (kproto's raw fetches) answers for KAFKA_STORAGE_ERROR:
# NOT_LEADER_OR_FOLLOWER, as Kafka answers Fetch v0-5
V4_STORAGE_ERROR = 6


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
    assert fetch_raw(b, T, 0, 0)["error"] == V4_STORAGE_ERROR
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


# ------------------------------------------------------------ read faults

def fetch_many(b, parts, timeout=10.0):
    """One Fetch v4 for [(topic, partition, offset)] -> {(topic, p): {...}}."""
    topics = {}
    for t, p, o in parts:
        topics.setdefault(t, []).append((p, o, 1 << 20))
    return kp.call(b.bootstrap, 1, 4, kp.fetch_v4(list(topics.items())), kp.parse_fetch_v4,
                   timeout=timeout)


def list_offsets(b, parts):
    """ListOffsets v7 for [(topic, partition, timestamp)] -> {(t, p): (err, ts, off, epoch)}."""
    topics = {}
    for t, p, ts in parts:
        topics.setdefault(t, []).append((p, ts))
    return kp.call(b.bootstrap, 2, 7, kp.list_offsets_v7(list(topics.items())),
                   kp.parse_list_offsets_v7, flexible=True)


def metadata(b, topics, version=5):
    """Metadata v1 or v5 -> {(topic, p): (error, leader, isr, offline)}
    (offline is None before v5)."""
    body = kp.array([kp.string(t) for t in topics])
    if version >= 4:
        body += kp.i8(0)                        # allow_auto_topic_creation

    def parse(payload, corr):
        r = kp.Reader(payload)
        assert r.i32() == corr
        if version >= 3:
            r.i32()                             # throttle
        for _ in range(r.i32()):
            r.i32(), r.string(), r.i32(), r.string()
        if version >= 2:
            r.string()                          # cluster id
        r.i32()                                 # controller
        out = {}
        for _ in range(r.i32()):
            r.i16()
            name = r.string()
            r.i8()                              # is_internal
            for _ in range(r.i32()):
                err, p, leader = r.i16(), r.i32(), r.i32()
                [r.i32() for _ in range(r.i32())]
                isr = [r.i32() for _ in range(r.i32())]
                off = [r.i32() for _ in range(r.i32())] if version >= 5 else None
                out[(name, p)] = (err, leader, isr, off)
        assert r.remaining() == 0
        return out
    return kp.call(b.bootstrap, 3, version, body, parse)


def test_read_fault_fetch_and_list_offsets_storage_error(env_broker):
    b = env_broker({"num.partitions": 1})
    acked = seed(b)
    b.arm("read@/%s-0/" % T)
    for i in range(3):
        # one request for both partitions: only the faulty one fails
        res = fetch_many(b, [(T, 0, 0), (T, 1, 0), (T, 0, 19)])
        assert res[(T, 0)]["error"] == V4_STORAGE_ERROR, res[(T, 0)]
        with kp.Conn(b.bootstrap) as c:        # v6+ clients know the error
            assert c.fetch([(T, [(0, 0, 1 << 20)])], version=12)["parts"][(T, 0)]["error"] == KAFKA_STORAGE_ERROR
        assert res[(T, 0)]["records"] == b""
        assert res[(T, 1)]["error"] == 0
        assert len(kp.split_batches(res[(T, 1)]["records"])) >= 20
        # the newest batch too (found without reading the index)
        assert fetch_raw(b, T, 0, 19)["error"] == V4_STORAGE_ERROR
        # ListOffsets: the timestamp lookup reads the log, earliest/latest do not
        lo = list_offsets(b, [(T, 0, 1), (T, 1, 1)])
        assert lo[(T, 0)][0] == KAFKA_STORAGE_ERROR and lo[(T, 1)][0] == 0, lo
        assert list_offsets(b, [(T, 0, 1)])[(T, 0)][:3] == (KAFKA_STORAGE_ERROR, -1, -1)
        assert list_offsets(b, [(T, 0, -3)])[(T, 0)][0] == KAFKA_STORAGE_ERROR
        assert list_offsets(b, [(T, 0, -1)])[(T, 0)][:3] == (0, -1, 20 + i)
        assert list_offsets(b, [(T, 0, -2)])[(T, 0)][:3] == (0, -1, 0)
        assert list_offsets(b, [(T, 1, 1)])[(T, 1)][0] == 0
        # writes are not affected by a read fault; others serve
        err, off = produce_raw(b, T, 0, [b"during-read-fault-%d" % i])
        assert err == 0, err
        acked[0][off] = b"during-read-fault-%d" % i
        others_serve(b, acked, b"read-%d" % i)
    text = b.log_text()
    assert "Injected fault read" in text
    assert "KAFKA_STORAGE_ERROR until a read succeeds" in text
    b.clear()
    assert fetch_raw(b, T, 0, 0)["error"] == 0
    lo = list_offsets(b, [(T, 0, 1)])[(T, 0)]
    assert lo[0] == 0 and lo[2] == 0, lo
    wait_until(lambda: "succeed again" in b.log_text(), timeout=5, what="recovery log line")
    check_readback(b, acked[0], 0)
    check_readback(b, acked[1], 1)


def test_sendfile_fault_closes_connection(env_broker):
    b = env_broker({"num.partitions": 1})
    acked = seed(b, 200)
    # only the sendfile fails: the response header and part of the data
    # are out when it does
    b.arm("sendfile@/%s-0/" % T)
    for i in range(3):
        with kp.connect(b.bootstrap) as s:
            s.sendall(kp.request(1, 4, 7, kp.fetch_v4([(T, [(0, 0, 1 << 20)])])))
            with pytest.raises((ConnectionError, socket.timeout)):
                kp.recv_frame(s)                 # never a whole frame
        # the other partition, on a new connection, is served in full
        r = fetch_raw(b, T, 1, 0)
        assert r["error"] == 0 and len(kp.split_batches(r["records"])) >= 200
        others_serve(b, acked, b"sendfile-%d" % i)
    assert "Closing connection from" in b.log_text()
    assert "reading segment data for a Fetch response failed" in b.log_text()
    b.clear()
    check_readback(b, acked[0], 0)
    check_readback(b, acked[1], 1)


def test_metadata_flags_failing_storage(env_broker):
    b = env_broker({"num.partitions": 1, "log.flush.interval.messages": 1,
                    "log.retention.check.interval.ms": 200})
    acked = seed(b, 5)
    node = metadata(b, [T])[(T, 0)][1]
    assert metadata(b, [T]) == {(T, 0): (0, node, [node], []), (T, 1): (0, node, [node], [])}

    # a read fault: flagged once a read failed
    b.arm("read@/%s-0/" % T)
    assert fetch_raw(b, T, 0, 0)["error"] == V4_STORAGE_ERROR
    md = metadata(b, [T, "flt-other"])
    assert md[(T, 0)] == (KAFKA_STORAGE_ERROR, node, [node], [node]), md
    assert md[(T, 1)] == (0, node, [node], [])
    assert md[("flt-other", 0)] == (0, node, [node], [])
    # v0-v4 have no OfflineReplicas, the error is the same
    md1 = metadata(b, [T], version=1)
    assert md1[(T, 0)] == (KAFKA_STORAGE_ERROR, node, [node], None), md1
    assert md1[(T, 1)] == (0, node, [node], None), md1
    # librdkafka sees the partition error too
    lt = ck.admin(b).list_topics(T, timeout=10)
    assert lt.topics[T].partitions[0].error.code() == KafkaError.KAFKA_STORAGE_ERROR
    assert lt.topics[T].partitions[1].error is None
    # still flagged while the fault lasts: 0.7 s is more than the 500 ms
    # spacing of retries, so this Metadata request retries the read
    time.sleep(0.7)
    assert metadata(b, [T])[(T, 0)][0] == KAFKA_STORAGE_ERROR
    b.clear()
    wait_until(lambda: metadata(b, [T])[(T, 0)] == (0, node, [node], []), timeout=5,
               what="metadata back to normal after the read fault")
    assert fetch_raw(b, T, 0, 0)["error"] == 0

    # an fsync failure: flagged while appends are refused
    b.arm("fsync@/%s-0/" % T)
    err, _ = produce_raw(b, T, 0, [b"unsynced"])
    assert err == KAFKA_STORAGE_ERROR
    wait_until(lambda: metadata(b, [T])[(T, 0)] == (KAFKA_STORAGE_ERROR, node, [node], [node]),
               timeout=5, what="metadata flags the fsync failure")
    assert metadata(b, [T])[(T, 1)] == (0, node, [node], [])
    b.clear()
    # no produce needed: asking for metadata retries the fsync
    wait_until(lambda: metadata(b, [T])[(T, 0)] == (0, node, [node], []), timeout=5,
               what="metadata back to normal after the fsync failure")
    err, off = produce_raw(b, T, 0, [b"after"])
    assert err == 0, err
    acked[0][off] = b"after"
    check_readback(b, acked[0], 0)
    check_readback(b, acked[1], 1)


def logged_read_hits(b):
    """The highest read-fault hit count the broker logged so far."""
    return max((int(n) for n in re.findall(r"Injected fault read on \S+ \(hit (\d+)\)", b.log_text())),
               default=0)


def test_consumer_reads_through_transient_read_fault(env_broker):
    b = env_broker({"num.partitions": 1})
    ck.create_topic(b, T, partitions=2)
    n0 = 300
    ck.produce(b, T, [{"value": b"a-%04d" % i} for i in range(n0)], partition=0)
    ck.produce(b, T, [{"value": b"b-%04d" % i} for i in range(n0)], partition=1)
    # small fetches: the fault hits in the middle of the partition
    c = ck.consumer(b, **{"fetch.max.bytes": 4096, "message.max.bytes": 4096,
                          "max.partition.fetch.bytes": 2048, "fetch.error.backoff.ms": 100})
    got = {0: [], 1: []}
    errors = []

    def poll_for(secs, until=None):
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            if until and until():
                return
            m = c.poll(0.1)
            if m is None:
                continue
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    errors.append(m.error())
                continue
            got[m.partition()].append((m.offset(), m.value()))

    try:
        c.assign([TopicPartition(T, 0, 0), TopicPartition(T, 1, 0)])
        poll_for(20, lambda: len(got[0]) >= 50)
        assert len(got[0]) >= 50, "consumer did not start: %d" % len(got[0])
        b.arm("read@/%s-0/" % T)
        # more records arrive meanwhile (writes still work)
        ck.produce(b, T, [{"value": b"a-%04d" % i} for i in range(n0, n0 + 50)], partition=0)
        ck.produce(b, T, [{"value": b"b-%04d" % i} for i in range(n0, n0 + 50)], partition=1)
        # partition 1 keeps flowing: its new records were fetched after the
        # fault was armed, in the same requests as partition 0, and handed
        # over after whatever partition 0 had fetched before
        poll_for(30, lambda: len(got[1]) >= n0 + 50)
        assert len(got[1]) == n0 + 50, len(got[1])
        # partition 0 stalls: nothing it gets from now on while the fault
        # lasts, and none of the records written after the fault was armed
        stalled_at = len(got[0])
        assert stalled_at <= n0, "records written under the read fault were read: %d" % stalled_at
        # the consumer keeps trying partition 0 and failing: wait for the
        # broker to log the next power of ten of failed reads (fio logs the
        # 1st, 10th, 100th... hit), then take what was fetched
        h = logged_read_hits(b)
        poll_for(60, lambda: logged_read_hits(b) > h)
        assert logged_read_hits(b) > h, "no further failed read of partition 0 logged"
        poll_for(0.5)
        assert len(got[0]) == stalled_at, "partition 0 advanced under the read fault: %d -> %d" \
            % (stalled_at, len(got[0]))
        b.clear()
        poll_for(30, lambda: len(got[0]) >= n0 + 50)
        # nothing extra shows up: a marker written now is the next record of
        # partition 0 (a duplicate would come before it)
        ck.produce(b, T, [{"value": b"a-end"}], partition=0)
        poll_for(30, lambda: got[0] and got[0][-1][1] == b"a-end")
    finally:
        c.close()
    # librdkafka retries a KAFKA_STORAGE_ERROR of a fetch by itself: the
    # application sees no error at all
    assert not errors, errors
    assert got[0][-1] == (n0 + 50, b"a-end"), got[0][-3:]
    del got[0][-1]
    for p, tag in ((0, b"a"), (1, b"b")):
        offs = [o for o, _ in got[p]]
        assert offs == list(range(n0 + 50)), "partition %d: offsets %s" % (p, offs[:20])
        assert [v for _, v in got[p]] == [b"%s-%04d" % (tag, i) for i in range(n0 + 50)]


def test_topic_that_fails_to_load_is_not_recreated(env_broker):
    """A read fault while recovering a topic at startup leaves the topic
    unloaded; creating it again (CreateTopics or auto-creation) must not
    reuse its directories, and its data is back once the fault is gone."""
    b = env_broker({"num.partitions": 1, "auto.create.topics.enable": "true"})
    acked = seed(b)
    b.kill()                       # recovery reads the segments at startup
    b.env["GREGOR_FAULTS"] = "read@/%s-0/" % T
    b.start()
    wait_until(lambda: "Cannot load topic %s" % T in b.log_text(), timeout=10, what="load failure line")
    with pytest.raises(Exception) as e:
        ck.create_topic(b, T, partitions=2)
    assert "KAFKA_STORAGE_ERROR" in str(e.value) or "could not be loaded" in str(e.value), e.value
    assert "Not creating topic %s" % T in b.log_text()
    err, _ = produce_raw(b, "flt-other", 0, [b"other-unloaded"])
    assert err == 0, "another topic affected: %d" % err
    b.kill()
    del b.env["GREGOR_FAULTS"]
    b.start()
    check_readback(b, acked[0], 0)
    check_readback(b, acked[1], 1)


def test_slow_checkpoint_fsync_does_not_stall_requests(env_broker):
    """The periodic offset checkpoints (recovery points, log start offsets)
    are written off the event loop: with every fsync of a checkpoint file
    taking 3 s longer (a disk busy with write-back), requests are still
    answered at once, and the checkpoints still reach the disk."""
    b = env_broker({"log.retention.check.interval.ms": 200, "log.flush.interval.messages": 1},
                   env={"GREGOR_FAULTS": "slowsync@offset-checkpoint"})
    ck.create_topic(b, T, partitions=1)
    worst = 0.0
    with kp.Conn(b.bootstrap, timeout=30) as c:
        end = time.monotonic() + 8.0       # several checkpoint ticks (every 200 ms)
        n = 0
        while time.monotonic() < end:
            t0 = time.monotonic()
            if n % 4 == 0:
                err, _ = produce_raw(b, T, 0, [b"ckpt-%03d" % n], timeout=30)
                assert err == 0, err
            else:
                c.raw(18, 0, b"")           # ApiVersions v0
            worst = max(worst, time.monotonic() - t0)
            n += 1
            time.sleep(0.05)
    produced = (n + 3) // 4
    assert "Injected fault slowsync" in b.log_text(), "the fault never hit a checkpoint"
    # a checkpoint written on the loop would hold every request for 3 s or more
    assert worst < 2.0, "a request waited %.2f s" % worst
    cp = os.path.join(b.data_dir, "recovery-point-offset-checkpoint")

    def flushed():
        with open(cp) as f:
            lines = f.read().splitlines()
        got = dict(((t, int(p)), int(o)) for t, p, o in (x.split() for x in lines[2:]))
        return got.get((T, 0)) == produced
    wait_until(flushed, timeout=30, interval=0.2, what="recovery point %d in the checkpoint" % produced)
