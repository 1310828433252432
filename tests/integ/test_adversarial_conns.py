"""Adversarial clients against connections and descriptors: requests parked
and then abandoned (Fetch and JoinGroup long polls followed by a close or a
half-close, also behind backpressure), client-chosen waits, slow senders,
clients that never read, tiny segments, many topics and a flood of idle
connections under a low RLIMIT_NOFILE.

After each attack a Canary checks that a fresh client is served within 1 s
and that no acknowledged record or commit is lost (also after a restart
where storage was attacked).  The module ends with a peak-RSS bound over
every broker it started.

Every loop is bounded in count and time; all traffic goes to 127.0.0.1."""
import os
import socket
import struct
import time

import pytest
from confluent_kafka.admin import NewTopic

import ck
import kproto as kp
from adversary import Canary, peak_rss_mb, raw_socket, restart
from helpers import wait_until
from storage_check import env_broker_factory, produce_raw, read_log

NOFILE = 256            # RLIMIT_NOFILE of the brokers under descriptor attacks
STORM = 1500            # parked-then-closed requests per storm: far above NOFILE
FOREVER_MS = 0x7FFFFFFF
RSS_LIMIT_MB = 128      # measured: 37 MiB at most under ASan+UBSan (many topics)
_peaks = {}


@pytest.fixture
def make(tmp_path, request):
    gen = env_broker_factory(tmp_path)
    factory = next(gen)
    made = []

    def mk(overrides=None, **kw):
        ov = {"num.partitions": 1, "offsets.topic.num.partitions": 1}
        ov.update(overrides or {})
        b = factory(ov, **kw)
        made.append(b)
        return b

    yield mk
    for b in made:
        # the running process's VmHWM and those of the processes restart() stopped
        peak = peak_rss_mb(b) if b.running() else getattr(b, "peak_before_mb", 0.0)
        _peaks[request.node.name] = max(_peaks.get(request.node.name, 0), peak)
    try:
        next(gen)
    except StopIteration:
        pass


def open_fds(b):
    return len(os.listdir("/proc/%d/fd" % b.pid))


def wait_fds_at_most(b, n, timeout=5.0, what="descriptors released"):
    wait_until(lambda: open_fds(b) <= n, timeout=timeout, what="%s (%d open, want <= %d)" % (what, open_fds(b), n))


def parked_fetch(topic, corr=1):
    return kp.request(1, 4, corr, kp.fetch_v4([(topic, [(0, 0, 1 << 20)])], max_wait_ms=FOREVER_MS,
                                              min_bytes=1))


def storm(b, frame_of, n, half_close_every=3):
    """n connections that each send one request that parks and then go
    away: a close, or every `half_close_every`-th a shutdown(SHUT_WR)."""
    t0 = time.monotonic()
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
        try:
            s.sendall(frame_of(i))
            if i % half_close_every == 0:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass                                 # refused by a broker out of descriptors
        finally:
            s.close()
        assert time.monotonic() - t0 < 120, "storm too slow (%d of %d)" % (i, n)


# ------------------------------------------------------------ parked, then gone

def test_parked_fetch_then_close_storm(make):
    b = make(nofile=NOFILE)
    canary = Canary(b).plant()
    ck.create_topic(b, "adv-empty")
    base = open_fds(b)
    storm(b, lambda i: parked_fetch("adv-empty", i + 1), STORM)
    # every abandoned connection is released at once, not when its wait ends
    wait_fds_at_most(b, base + 8, what="descriptors of closed connections with parked Fetches")
    canary.check()


def test_parked_join_then_close_storm(make):
    # the join phase of a new group waits group.initial.rebalance.delay.ms:
    # every JoinGroup parks for a minute
    b = make({"group.initial.rebalance.delay.ms": 60000}, nofile=NOFILE)
    canary = Canary(b).plant()
    base = open_fds(b)

    def join(i):
        body = kp.enc_join_group("adv-join-%d" % (i % 50), session_timeout=10000, rebalance_timeout=FOREVER_MS,
                                 protocols=(("range", kp.subscription(["adv-canary"])),), version=1)
        return kp.request(kp.JOIN_GROUP, 1, i + 1, body)

    storm(b, join, STORM)
    wait_fds_at_most(b, base + 8, what="descriptors of closed connections with parked JoinGroups")
    canary.check()


def test_paused_connection_closed_at_once(make):
    """A client pipelines more parked Fetches than a connection may queue
    (the broker stops reading it: backpressure) and goes away; its EOF is
    not read while reads are paused, but the hang-up must still release
    the connection and its parked requests."""
    b = make()
    canary = Canary(b).plant()
    ck.create_topic(b, "adv-empty")
    base = open_fds(b)
    frames = b"".join(parked_fetch("adv-empty", c) for c in range(1, 1301))
    socks = []
    for _ in range(4):
        s = raw_socket(b)
        s.sendall(frames)
        socks.append(s)
    wait_until(lambda: "Backpressure: pausing reads" in b.log_text(), timeout=10, what="backpressure")
    time.sleep(0.3)
    socks[0].shutdown(socket.SHUT_WR)            # a half-close, then full closes
    for s in socks[1:]:
        s.close()
    wait_fds_at_most(b, base + 1, what="descriptors of paused connections that hung up")
    assert kp.wait_closed(socks[0], 5), "the half-closed connection was not closed"
    socks[0].close()
    canary.check()


def test_client_waits_are_capped(make):
    """MaxWaitMs is capped by request.timeout.ms, sessionless and in a
    fetch session: a client is answered (empty) instead of parking its
    request for 24 days."""
    b = make({"request.timeout.ms": 1500})
    canary = Canary(b).plant()
    ck.create_topic(b, "adv-empty")
    with kp.Conn(b.bootstrap, timeout=10) as c:
        t0 = time.monotonic()
        r = c.raw(1, 4, kp.fetch_v4([("adv-empty", [(0, 0, 1 << 20)])], max_wait_ms=FOREVER_MS, min_bytes=1))
        took = time.monotonic() - t0
        res = kp.parse_fetch_v4(r.d, c.corr)
        assert res[("adv-empty", 0)]["error"] == 0 and not res[("adv-empty", 0)]["records"], res
        assert 1.0 <= took < 6.0, "sessionless Fetch answered after %.1fs" % took
        first = c.fetch([("adv-empty", [(0, 0, 1 << 20)])], epoch=0, max_wait_ms=0)
        assert first["error"] == 0 and first["session_id"] != 0, first
        t0 = time.monotonic()
        inc = c.fetch([], session_id=first["session_id"], epoch=1, max_wait_ms=FOREVER_MS, min_bytes=1)
        took = time.monotonic() - t0
        assert inc["error"] == 0, inc
        assert 1.0 <= took < 6.0, "incremental Fetch answered after %.1fs" % took
    canary.check()


# ------------------------------------------------------------ slow senders, non-readers

def test_slow_senders_are_closed(make):
    """Connections trickling a request one byte at a time count as idle:
    with connections.max.idle.ms = 3 s every one of them is closed even
    though bytes keep arriving."""
    idle_ms = 3000
    b = make({"connections.max.idle.ms": idle_ms})
    canary = Canary(b).plant()
    # an ApiVersions v0 header claiming more bytes than will ever be sent
    frame = struct.pack(">i", 4000) + kp.request(18, 0, 1, b"")[4:]
    socks = [raw_socket(b, timeout=0.5) for _ in range(200)]
    open_ = set(range(len(socks)))
    t0 = time.monotonic()
    k = 0
    while open_ and time.monotonic() - t0 < idle_ms / 1000 + 8:
        for i in list(open_):
            try:
                socks[i].sendall(frame[k % len(frame):k % len(frame) + 1])
            except OSError:
                open_.discard(i)
        k += 1
        time.sleep(0.25)
        for i in list(open_):
            socks[i].setblocking(False)
            try:
                if socks[i].recv(1) == b"":
                    open_.discard(i)
            except BlockingIOError:
                pass
            except OSError:
                open_.discard(i)
            socks[i].setblocking(True)
    took = time.monotonic() - t0
    for s in socks:
        s.close()
    assert not open_, "%d of %d trickling connections still open after %.1fs" % (len(open_), len(socks), took)
    canary.check()


def test_partial_request_read_timeout(make):
    """A request whose bytes do not all arrive within request.timeout.ms
    ends its connection, even when connections.max.idle.ms is long; a
    large request that arrives at an ordinary speed is served."""
    b = make({"request.timeout.ms": 2000, "connections.max.idle.ms": 600000})
    canary = Canary(b).plant()
    s = raw_socket(b)
    s.sendall(struct.pack(">i", 100))
    t0 = time.monotonic()
    closed = False
    while time.monotonic() - t0 < 10:
        try:
            s.sendall(b"\x00")
        except OSError:
            closed = True
            break
        if kp.wait_closed(s, 0.2):
            closed = True
            break
    took = time.monotonic() - t0
    s.close()
    assert closed and 1.5 <= took < 6, "trickled request: closed=%s after %.1fs" % (closed, took)
    assert "request.timeout.ms" in b.log_text()
    # a 4.5 MB produce request (five 900 KB batches) is not hurt
    ck.create_topic(b, "adv-big")
    data = b"".join(kp.record_batch([(b"k", b"%d" % i + b"x" * 900000)]) for i in range(5))
    res = kp.call(b.bootstrap, 0, 3, kp.produce_v3("adv-big", [(0, data)]), kp.parse_produce_v3, timeout=30)
    assert res[("adv-big", 0)][:2] == (0, 0), res
    canary.check()


def test_non_reading_clients_are_closed(make):
    """Clients that ask for data and never read the answers, while sending
    a small request now and then, are closed after connections.max.idle.ms
    without output progress."""
    idle_ms = 3000
    b = make({"connections.max.idle.ms": idle_ms})
    canary = Canary(b).plant()
    ck.create_topic(b, "adv-data")
    for _ in range(8):
        assert produce_raw(b, "adv-data", 0, [b"d" * 10000] * 50)[0] == 0     # 4 MB
    socks = []
    for _ in range(20):
        s = raw_socket(b, rcvbuf=4096)
        s.sendall(kp.request(1, 4, 1, kp.fetch_v4([("adv-data", [(0, 0, 8 << 20)])], max_bytes=8 << 20)))
        socks.append(s)
    t0 = time.monotonic()
    meta = kp.request(3, 0, 2, kp.array([kp.string("adv-data")]))
    alive = set(range(len(socks)))
    while alive and time.monotonic() - t0 < idle_ms / 1000 + 10:
        for i in list(alive):
            try:
                socks[i].sendall(meta)
            except OSError:
                alive.discard(i)
        time.sleep(0.5)
    took = time.monotonic() - t0
    for s in socks:
        s.close()
    assert not alive, "%d of 20 non-reading clients still served after %.1fs" % (len(alive), took)
    assert "responses unread" in b.log_text()
    canary.check()


# ------------------------------------------------------------ descriptors and storage

def test_tiny_segments_keep_descriptors_bounded(make):
    """segment.bytes below Kafka 4.0's floor (1 MiB) is refused; the
    testing-only internal.segment.bytes still makes ~1,500 segments of
    2 KB, which must neither fail writes nor exhaust descriptors, and read
    back whole before and after a restart."""
    b = make(nofile=NOFILE)
    canary = Canary(b).plant()
    with pytest.raises(Exception) as ei:
        ck.create_topic(b, "adv-small", config={"segment.bytes": "2000"})
    assert ck.error_code(ei.value) == 40, ei.value           # INVALID_CONFIG
    ck.create_topic(b, "adv-tiny", config={"internal.segment.bytes": "2000"})
    vals = []
    for i in range(300):
        batch = [b"%05d-%s" % (i * 5 + k, b"t" * 250) for k in range(5)]
        err, base = produce_raw(b, "adv-tiny", 0, batch)
        assert err == 0, "produce %d failed with error %d" % (i, err)
        assert base == len(vals)
        vals += batch
    segs = len(b.segment_files("adv-tiny"))
    assert segs >= 250, segs
    assert open_fds(b) < NOFILE - 32, "%d descriptors open for %d segments" % (open_fds(b), segs)
    canary.check()
    recs, _ = read_log(b, "adv-tiny", 0)
    assert [v for _, _, v in recs] == vals
    restart(b)
    assert open_fds(b) < NOFILE - 32
    recs, _ = read_log(b, "adv-tiny", 0)
    assert [v for _, _, v in recs] == vals
    canary.check()


def test_many_topics_keep_descriptors_bounded(make):
    b = make(nofile=NOFILE)
    canary = Canary(b).plant()
    names = ["adv-many-%04d" % i for i in range(600)]
    a = ck.admin(b)
    for k in range(0, len(names), 100):
        fs = a.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names[k:k + 100]],
                             operation_timeout=30, request_timeout=60)
        for f in fs.values():
            f.result(timeout=60)
    for k in range(0, len(names), 100):
        parts = [(n, [(0, kp.record_batch([(b"k", n.encode())]))]) for n in names[k:k + 100]]
        body = b"".join(kp.string(n) + kp.array([kp.i32(p) + kp.bytes32(bt) for p, bt in ps]) for n, ps in parts)
        body = kp.string(None) + kp.i16(-1) + kp.i32(10000) + kp.i32(len(parts)) + body
        r = kp.Reader(kp.roundtrip(b.bootstrap, kp.request(0, 3, 1, body), timeout=30))
        r.i32()
        for _ in range(r.i32()):
            t = r.string()
            for _ in range(r.i32()):
                r.i32()
                err = r.i16()
                r.i64()
                r.i64()
                assert err == 0, "produce to %s failed with %d" % (t, err)
            assert t in names
    assert open_fds(b) < NOFILE - 32, "%d descriptors open for %d topics" % (open_fds(b), len(names))
    canary.check()
    for n in (names[0], names[299], names[-1]):
        recs, _ = read_log(b, n, 0)
        assert [v for _, _, v in recs] == [n.encode()]
    restart(b)
    assert open_fds(b) < NOFILE - 32
    for n in (names[1], names[-2]):
        recs, _ = read_log(b, n, 0)
        assert [v for _, _, v in recs] == [n.encode()]
    canary.check()


def test_connection_flood_leaves_descriptors_in_reserve(make):
    """More connections than the descriptor budget allows: the extra ones
    are refused at once with a log line (not left hanging), and the
    descriptors kept for segment files let a new partition be created and
    written by an existing client meanwhile."""
    b = make(nofile=NOFILE)
    canary = Canary(b).plant()
    admin = kp.Conn(b.bootstrap, timeout=10)
    flood = []
    refused = 0
    for _ in range(NOFILE + 100):
        try:
            s = socket.create_connection(("127.0.0.1", b.port), timeout=5)
        except OSError:
            refused += 1
            continue
        flood.append(s)
    time.sleep(0.5)
    # at the limit, the descriptors kept for segment files let a new topic
    # be created and written
    body = (kp.array([kp.string("adv-at-limit") + kp.i32(1) + kp.i16(1) + kp.array([]) + kp.array([])])
            + kp.i32(10000))
    r = admin.raw(19, 0, body)
    r.i32()
    assert (r.string(), r.i16()) == ("adv-at-limit", 0)
    batch = kp.record_batch([(b"k", b"at-limit")])
    r = admin.raw(0, 3, kp.produce_v3("adv-at-limit", [(0, batch)]))
    assert kp.parse_produce_v3(r.d, admin.corr)[("adv-at-limit", 0)][0] == 0
    # the connections over the budget were closed at once, and said so
    for s in flood:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                refused += 1
        except BlockingIOError:
            pass
        except OSError:
            refused += 1
    assert refused >= 100, "only %d of %d connections refused" % (refused, len(flood))
    assert "Refusing connection" in b.log_text()
    admin.close()
    for s in flood:
        s.close()
    time.sleep(0.5)
    canary.check()
    recs, _ = read_log(b, "adv-at-limit", 0)
    assert [v for _, _, v in recs] == [b"at-limit"]


# ------------------------------------------------------------ memory

def test_peak_rss_bounded():
    assert _peaks, "no broker peak recorded"
    worst = max(_peaks.values())
    print("peak RSS per attack (MiB): %s" % ", ".join("%s %.0f" % kv for kv in sorted(_peaks.items())))
    assert worst <= RSS_LIMIT_MB, "a broker peaked at %.0f MiB (> %d MiB)" % (worst, RSS_LIMIT_MB)
