"""Durability: clean shutdown + restart, SIGINT finishing an in-flight
request, acks=0 answered with nothing at the wire level, kill -9 with
acks=all, recovery from a corrupt segment tail, and size-based retention.
Each test has its own broker (function scope) and data dir."""
import os
import random
import signal
import socket
import threading
import time

import pytest
from confluent_kafka import KafkaError, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KTP
from kafka.errors import OffsetOutOfRangeError

import ck
import kproto as kp
from helpers import wait_until

MARKER = ".kafka_cleanshutdown"


def records(n, tag="r"):
    # recent timestamps: older ones would be due for time-based retention
    base = int(time.time() * 1000) - 60000
    return [{"key": b"%s-key-%d" % (tag.encode(), i),
             "value": b"%s-value-%d-" % (tag.encode(), i) + bytes(range(i % 200)),
             "headers": [("i", b"%d" % i)],
             "timestamp": base + i} for i in range(n)]


def as_tuples(msgs):
    return [(m.offset(), m.key(), m.value(), m.headers(), m.timestamp()[1]) for m in msgs]


def watermarks(broker, topic, partition=0):
    c = ck.consumer(broker)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        c.close()


def test_sigterm_restart_reads_back(broker_factory):
    b = broker_factory(num_partitions=1)
    ck.create_topic(b, "dur-term", partitions=2)
    recs = records(500)
    reps = ck.produce(b, "dur-term", recs, acks="all", compression_type="lz4")
    assert [r[1] for r in reps] == list(range(500))
    ck.produce(b, "dur-term", recs[:50], partition=1, acks=1)
    before = as_tuples(ck.consume(b, "dur-term", 500))

    assert b.stop(signal.SIGTERM) == 0
    assert os.path.exists(os.path.join(b.data_dir, MARKER)), os.listdir(b.data_dir)
    b.start()
    wait_until(lambda: not os.path.exists(os.path.join(b.data_dir, MARKER)), timeout=10,
               what="clean-shutdown marker removed after startup")

    after = as_tuples(ck.consume(b, "dur-term", 500))
    assert after == before
    assert [(o, k, v) for o, k, v, _, _ in after] == \
        [(i, r["key"], r["value"]) for i, r in enumerate(recs)]
    assert watermarks(b, "dur-term", 1) == (0, 50)
    # appends continue where the log ended
    assert ck.produce(b, "dur-term", [{"value": b"next"}])[0] == (None, 500, 0)
    assert ck.produce(b, "dur-term", [{"value": b"next"}], partition=1)[0] == (None, 50, 1)


def test_kill9_keeps_acknowledged(broker_factory):
    b = broker_factory(num_partitions=1)
    ck.create_topic(b, "dur-kill")
    p = ck.producer(b, acks="all", linger_ms=2, batch_num_messages=50,
                    message_timeout_ms=3000, retries=0)
    acked = {}
    failed = []

    def cb(err, m):
        if err is None:
            acked[m.offset()] = m.value()
        else:
            failed.append(err)

    sent = 0
    deadline = time.monotonic() + 20
    # produce until a good number is acknowledged, then kill mid-stream
    while len(acked) < 2000 and time.monotonic() < deadline:
        try:
            p.produce("dur-kill", value=b"v%06d" % sent, partition=0, on_delivery=cb)
            sent += 1
        except BufferError:
            pass
        p.poll(0)
    assert len(acked) >= 2000, "only %d acknowledged" % len(acked)
    b.kill()
    p.flush(15)
    assert not os.path.exists(os.path.join(b.data_dir, MARKER))
    b.start()
    lo, hi = watermarks(b, "dur-kill")
    assert lo == 0 and hi >= max(acked) + 1, (lo, hi, max(acked))
    got = {m.offset(): m.value() for m in ck.consume(b, "dur-kill", hi, timeout=30)}
    assert sorted(got) == list(range(hi))
    lost = [o for o, v in acked.items() if got.get(o) != v]
    assert not lost, "acknowledged offsets lost or changed: %s" % lost[:20]
    # what the log holds is a prefix of what was sent, in order, no duplicates
    assert [got[o] for o in range(hi)] == [b"v%06d" % i for i in range(hi)]


def valid_batch_prefix():
    return kp.record_batch([(b"k", b"v" * 100)])[:40]


@pytest.mark.parametrize("garbage", ["random", "zeros", "truncated_batch"])
def test_garbage_tail_recovery(broker_factory, garbage):
    b = broker_factory(num_partitions=1)
    ck.create_topic(b, "dur-tail")
    recs = records(100, "g")
    for i in range(0, 100, 20):   # several batches
        ck.produce(b, "dur-tail", recs[i:i + 20], acks=1, linger_ms=0)
    b.kill()
    [seg] = b.segment_files("dur-tail")[-1:]
    path = os.path.join(b.partition_dir("dur-tail"), seg)
    good_size = os.path.getsize(path)
    junk = {"random": random.Random(7).randbytes(3000),
            "zeros": b"\0" * 4096,
            "truncated_batch": valid_batch_prefix()}[garbage]
    with open(path, "ab") as f:
        f.write(junk)
    b.start()
    assert watermarks(b, "dur-tail") == (0, 100)
    assert os.path.getsize(path) == good_size, "corrupt tail not truncated"
    got = ck.consume(b, "dur-tail", 100)
    assert [(m.offset(), m.key(), m.value()) for m in got] == \
        [(i, r["key"], r["value"]) for i, r in enumerate(recs)]
    assert ck.produce(b, "dur-tail", [{"value": b"after"}])[0] == (None, 100, 0)
    assert [m.value() for m in ck.consume(b, "dur-tail", 101)][-1] == b"after"
    # and it survives a further clean restart
    b.restart()
    assert watermarks(b, "dur-tail") == (0, 101)


def test_retention_by_size(broker_factory):
    b = broker_factory({"internal.log.segment.bytes": 2048, "log.retention.bytes": 8192,
                        "log.retention.check.interval.ms": 300, "num.partitions": 1})
    ck.create_topic(b, "dur-ret")
    n = 200
    p = ck.producer(b, acks=1, linger_ms=0)
    for i in range(n):
        # one batch per message (~280 bytes each)
        p.produce("dur-ret", value=b"%05d-" % i + b"x" * 200, partition=0)
        assert p.flush(10) == 0
    assert len(b.segment_files("dur-ret")) > 1

    lo = wait_until(lambda: watermarks(b, "dur-ret")[0], timeout=15,
                    what="log start offset to advance")
    lo, hi = watermarks(b, "dur-ret")
    assert hi == n and 0 < lo < n
    wait_until(lambda: int(b.segment_files("dur-ret")[0][:20]) == lo, timeout=10,
               what="first remaining segment to start at the log start offset")
    segs = b.segment_files("dur-ret")
    total = sum(os.path.getsize(os.path.join(b.partition_dir("dur-ret"), s)) for s in segs)
    # everything but the active segment fits within retention.bytes
    last = os.path.getsize(os.path.join(b.partition_dir("dur-ret"), segs[-1]))
    assert total - last <= 8192, (segs, total)

    # what remains reads back correctly from the log start offset
    got = ck.consume(b, "dur-ret", n - lo, offset=lo)
    assert [m.offset() for m in got] == list(range(lo, n))
    assert all(m.value().startswith(b"%05d-" % m.offset()) for m in got)

    # below the log start offset: OFFSET_OUT_OF_RANGE, seen by both clients
    c = ck.consumer(b, auto_offset_reset="error")
    try:
        c.assign([TopicPartition("dur-ret", 0, 0)])
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
        tp = KTP("dur-ret", 0)
        kc.assign([tp])
        kc.seek(tp, 0)
        with pytest.raises(OffsetOutOfRangeError):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                recs = kc.poll(timeout_ms=200)
                assert not recs, "got records below the log start offset"
    finally:
        kc.close()


def test_sigint_finishes_in_flight_requests(broker_factory):
    """SIGINT shuts down like SIGTERM: stop accepting, finish in-flight
    requests (a Fetch parked at the log end is answered when its MaxWaitMs
    runs out), flush, write the marker, exit 0."""
    b = broker_factory(num_partitions=1)
    topic = ck.create_topic(b, "dur-sigint")
    assert ck.produce(b, topic, [{"value": b"before"}])[0][:2] == (None, 0)
    park_ms = 3000                  # below the 5 s the shutdown waits for requests
    s = kp.connect(b.bootstrap, timeout=30)
    try:
        s.sendall(kp.request(1, 4, 77, kp.fetch_v4([(topic, [(0, 1, 1 << 20)])], max_wait_ms=park_ms)))
        # the Fetch was on the wire before these round trips on another
        # connection began: the broker has read it when they are answered
        for corr in (1, 2):
            kp.roundtrip(b.bootstrap, kp.request(18, 0, corr, b""))
        got = {}

        def read():
            try:
                got["frame"] = kp.recv_frame(s)
            except (OSError, ConnectionError) as e:
                got["error"] = e
        th = threading.Thread(target=read)
        th.start()
        os.kill(b.pid, signal.SIGINT)
        # no new connections once the signal is handled, while the Fetch is
        # still parked
        wait_until(lambda: not port_accepts(b.port), timeout=park_ms / 1000,
                   what="the listener closed after SIGINT")
        th.join(30)
        assert "frame" in got, "the parked Fetch was not answered: %r" % got.get("error")
        resp = kp.parse_fetch_v4(got["frame"], 77)[(topic, 0)]
        assert (resp["error"], resp["records"], resp["hw"]) == (0, b"", 1), resp
        rc = b.proc.wait(timeout=30)
    finally:
        s.close()
        b.expected_exit = True
    assert rc == 0, "gregord exited with %s after SIGINT" % rc
    text = b.log_text()
    assert "shut down completed" in text
    assert "still in flight" not in text, text[-2000:]
    assert os.path.exists(os.path.join(b.data_dir, MARKER))
    b.start()
    assert watermarks(b, topic) == (0, 1)


def port_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_acks0_gets_no_response(broker_factory):
    """Produce with acks=0 is appended and answered with nothing at all: the
    next response on the connection is the next request's, with its own
    correlation id."""
    b = broker_factory(num_partitions=1)
    topic = ck.create_topic(b, "dur-acks0")
    with kp.connect(b.bootstrap, timeout=10) as s:
        zero = kp.record_batch([(None, b"zero-%d" % i) for i in range(3)])
        one = kp.record_batch([(None, b"one")])
        s.sendall(kp.request(0, 3, 101, kp.produce_v3(topic, [(0, zero)], acks=0)) +
                  kp.request(0, 3, 102, kp.produce_v3(topic, [(0, one)], acks=1)))
        # the first frame back is 102's (parse_produce_v3 checks the id):
        # appended after the 3 records of 101
        assert kp.parse_produce_v3(kp.recv_frame(s), 102)[(topic, 0)][:2] == (0, 3)
        # and 101's never comes: the next frame is the next request's
        s.sendall(kp.request(18, 0, 103, b""))
        assert kp.Reader(kp.recv_frame(s)).i32() == 103
        s.sendall(kp.request(0, 3, 104, kp.produce_v3(topic, [(0, zero)], acks=0)))
        s.sendall(kp.request(18, 0, 105, b""))
        assert kp.Reader(kp.recv_frame(s)).i32() == 105
    got = ck.consume(b, topic, 7)
    assert [m.value() for m in got] == [b"zero-0", b"zero-1", b"zero-2", b"one",
                                        b"zero-0", b"zero-1", b"zero-2"]
