"""Adversarial suite, memory amplification: requests that make the broker
expand what it was sent, and clients that make it hold memory.

Attacks (each bounded in count and time, each followed by a Canary check:
a fresh client is served within 1 s and no acknowledged record or commit
is lost):

* legacy (magic 0/1) message sets of many gzip wrappers whose inner sets
  up-convert to hundreds of MiB, and nested wrappers;
* decompression bombs (zstd, gzip, lz4, snappy) in many partition entries of
  one Produce, and pipelined on one connection;
* many connections each sending most of a 100 MB frame;
* many clients pipelining Metadata for a large topic without reading;
* many clients pipelining small requests without reading;
* Metadata naming one large topic thousands of times, DescribeGroups naming
  a group with large member metadata thousands of times, OffsetFetch naming
  a group with many offsets thousands of times;
* ListOffsets by timestamp over partitions holding heavy compressed batches,
  one partition named thousands of times;
* zstd batches of millions of small records on a compacted topic, which the
  log cleaner (log.cleaner.backoff.ms short here) reads back on its thread.

After each attack the broker's resident set must come back down (VmRSS
within RSS_BACK_MB of where it was), and the module ends by asserting that
the broker's peak resident set (VmHWM) stayed under PEAK_RSS_MB.

The broker runs with a small AddressSanitizer quarantine (see BROKER_ENV):
ASan keeps up to 256 MiB of freed memory resident by default to catch uses
after free, which would add up to 256 MiB to every figure here and hide
whether the broker gave its memory back.

A guard thread kills the broker if its RSS ever passes GUARD_MB, so that a
broker without the bounds cannot take the machine down; the test then
fails.  All traffic goes to 127.0.0.1."""
import ctypes
import ctypes.util
import os
import re
import signal
import socket
import struct
import threading
import time
import zlib

import pytest

import ck
import kproto as kp
from adversary import Canary, assert_peak_rss, peak_rss_mb
from helpers import _LIVE, BrokerDied, _teardown
from storage_check import EnvBroker, rss_kb

MIB = 1 << 20
# Peak RSS of the broker over the whole module, under ASan+UBSan, with the
# default queued.max.request.bytes (256 MiB): what the budget lets clients
# hold (at most 1.5 x 256 MiB) plus the broker itself.  Measured: 246 MiB
# (two admitted 100 MB frames of the partial-frame attack); without the
# bounds: 1,398 MiB for the partial frames alone, over 2.6 GB (killed by
# the guard) for the non-reading Metadata clients.
PEAK_RSS_MB = 512
# After an attack, VmRSS must come back to within this much of its value
# before the attack.
RSS_BACK_MB = 64
RSS_BACK_WAIT_S = 15.0
GUARD_MB = 2600

BROKER_ENV = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
              + ":quarantine_size_mb=16"}

T = "adv-mem"              # 8 partitions
BIG = "adv-mem-big"        # many partitions: large Metadata answers
BIG_PARTS = 2000

PRODUCE = 0
METADATA = 3
API_VERSIONS = 18
NONE, GZIP, SNAPPY, LZ4, ZSTD = range(5)
CORRUPT_MESSAGE, REQUEST_TIMED_OUT, MESSAGE_TOO_LARGE, INVALID_REQUEST = 2, 7, 10, 42
# While bombs are decompressed another client's ApiVersions is answered
# within this (one request decompresses at most 256 MiB, and a loop turn
# takes no further Produce after 64 MiB).
BOMB_SERVED_WITHIN_S = 10.0

# ------------------------------------------------------------------ broker


class RssGuard(threading.Thread):
    """Kills the broker (SIGKILL) if its VmRSS passes GUARD_MB."""

    def __init__(self, broker):
        super().__init__(daemon=True)
        self.b = broker
        self.tripped = None
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.05):
            try:
                rss = rss_kb(self.b.pid)[0] / 1024.0
            except (OSError, TypeError):
                continue
            if rss > GUARD_MB:
                self.tripped = rss
                try:
                    os.kill(self.b.pid, signal.SIGKILL)
                except OSError:
                    pass


@pytest.fixture(scope="module")
def mb(tmp_path_factory):
    b = EnvBroker(tmp_path_factory.mktemp("gregord-mem"), {"num.partitions": "1", "log.cleaner.backoff.ms": "200"},
                  BROKER_ENV)
    _LIVE.append(b)
    try:
        b.start()
    except BrokerDied as e:
        pytest.fail(str(e))
    guard = RssGuard(b)
    guard.start()
    b.guard = guard
    yield b
    guard.stop.set()
    guard.join(2)
    probs = _teardown(b)
    if probs:
        pytest.fail("broker at module teardown: %s\n--- log tail ---\n%s" % ("; ".join(probs), b.log_tail()))


@pytest.fixture(scope="module")
def canary(mb):
    # batches of up to 4 MiB, so that lz4 bombs (255:1 at most) reach the
    # decompression checks rather than max.message.bytes
    ck.create_topic(mb, T, 8, config={"max.message.bytes": str(4 * MIB)})
    ck.create_topic(mb, BIG, BIG_PARTS, timeout=120)
    return Canary(mb).plant()


def rss_mb(b):
    return rss_kb(b.pid)[0] / 1024.0


class RssPeak(threading.Thread):
    """with RssPeak(broker) as s: ... -> s.peak, the highest VmRSS (MiB)
    sampled every 20 ms while the block ran (VmHWM covers the whole module,
    so it cannot tell one attack from the others)."""

    def __init__(self, broker):
        super().__init__(daemon=True)
        self.b, self.peak = broker, rss_mb(broker)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.02):
            try:
                self.peak = max(self.peak, rss_mb(self.b))
            except OSError:
                return

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.join(5)
        try:
            self.peak = max(self.peak, rss_mb(self.b))
        except OSError:
            pass


class Prober(threading.Thread):
    """with Prober(broker) as p: ... -> p.trips, the (start, end) of every
    ApiVersions round trip that another client made, one after the other
    on its own connection, while the block ran (the first one before the
    block starts)."""

    def __init__(self, broker):
        super().__init__(daemon=True)
        self.b, self.trips = broker, []
        self.done = threading.Event()
        self.first = threading.Event()

    def run(self):
        with kp.connect(self.b.bootstrap, timeout=120) as s:
            while not self.done.is_set():
                t0 = time.monotonic()
                s.sendall(kp.request(API_VERSIONS, 0, 1, b""))
                kp.recv_frame(s)
                self.trips.append((t0, time.monotonic()))
                self.first.set()
                time.sleep(0.01)

    def __enter__(self):
        self.start()
        assert self.first.wait(10), "no ApiVersions answer before the attack"
        return self

    def __exit__(self, *a):
        self.done.set()
        self.join(120)

    def check(self, since, until, within_s, what):
        """Another client was served while [since, until] went on: round
        trips overlapped it, each answered within within_s."""
        assert not self.is_alive(), "another client's ApiVersions was not answered during %s" % what
        during = [t1 - t0 for t0, t1 in self.trips if t0 < until and t1 > since]
        assert during, "no round trip of another client during %s" % what
        worst = max(during)
        assert worst <= within_s, "another client waited %.2f s (> %.1f s) during %s" % (worst, within_s, what)
        return len(during), worst


def alive(b):
    assert b.guard.tripped is None, "broker RSS reached %.0f MiB: killed by the guard" % b.guard.tripped
    assert b.running(), "broker died:\n%s" % b.log_tail()


def assert_rss_back(b, before_mb, what):
    """VmRSS returns to within RSS_BACK_MB of before_mb once the attack has
    left (buffers freed and given back to the system)."""
    deadline = time.monotonic() + RSS_BACK_WAIT_S
    while True:
        now = rss_mb(b)
        if now <= before_mb + RSS_BACK_MB:
            return now
        if time.monotonic() > deadline:
            pytest.fail("%s: broker VmRSS %.0f MiB, %.0f MiB before the attack: memory not given back"
                        % (what, now, before_mb))
        time.sleep(0.2)


def report(b, what, before_mb, during_mb=None):
    print("\n%s: VmRSS before %.0f MiB, %s now %.0f MiB, VmHWM %.0f MiB"
          % (what, before_mb, "" if during_mb is None else "during %.0f MiB," % during_mb, rss_mb(b),
             peak_rss_mb(b)))

# ------------------------------------------------------------------ bombs


def record_head(vlen):
    """The head of one record whose value is vlen bytes; the value and the
    trailing headerCount (0) are zero bytes, so the record is
    head + (vlen + 1) zero bytes."""
    body = b"\x00" + kp.varint(0) + kp.varint(0) + kp.varint(-1) + kp.varint(vlen)
    return kp.varint(len(body) + vlen + 1) + body


def zstd_zeros(head, nzero):
    """zstd frame of head + nzero zero bytes, by hand: one raw block, then
    RLE blocks of 128 KiB (4 bytes each)."""
    def blk(typ, size, last):
        v = (size << 3) | (typ << 1) | last
        return bytes((v & 0xFF, (v >> 8) & 0xFF, v >> 16))
    out = [b"\x28\xb5\x2f\xfd", b"\x00", bytes((7 << 3,)), blk(0, len(head), 0), head]
    while nzero > 0:
        run = min(nzero, 128 * 1024)
        nzero -= run
        out.append(blk(1, run, 1 if nzero == 0 else 0) + b"\x00")
    return b"".join(out)


def gzip_zeros(head, nzero):
    c = zlib.compressobj(9, zlib.DEFLATED, 31, 9)
    out = [c.compress(head)]
    zero = bytes(MIB)
    while nzero > 0:
        n = min(nzero, MIB)
        nzero -= n
        out.append(c.compress(zero if n == MIB else bytes(n)))
    out.append(c.flush())
    return b"".join(out)


def _xxh32(data, seed=0):
    P1, P2, P3, P4, P5, M = 2654435761, 2246822519, 3266489917, 668265263, 374761393, 0xFFFFFFFF
    assert len(data) < 16
    h = (seed + P5 + len(data)) & M
    i = 0
    while i + 4 <= len(data):
        h = (h + struct.unpack_from("<I", data, i)[0] * P3) & M
        h = (((h << 17) | (h >> 15)) & M) * P4 & M
        i += 4
    while i < len(data):
        h = (h + data[i] * P5) & M
        h = (((h << 11) | (h >> 21)) & M) * P1 & M
        i += 1
    h ^= h >> 15
    h = h * P2 & M
    h ^= h >> 13
    h = h * P3 & M
    h ^= h >> 16
    return h


def _lz4_len(n):
    return b"\xff" * (n // 255) + bytes((n % 255,))


def lz4_zeros(head, nzero):
    """LZ4 frame (independent 4 MiB blocks) of head + nzero zero bytes: per
    block one literal run, one match at offset 1, and the 5 literals a block
    must end with."""
    def lits(raw):
        n = len(raw)
        return (_lz4_len(n - 15) if n >= 15 else b""), min(n, 15)
    desc = bytes((0x60, 0x70))
    out = [b"\x04\x22\x4d\x18", desc, bytes(((_xxh32(desc) >> 8) & 0xFF,))]
    first = True
    while nzero > 0:
        lit = (head if first else b"") + b"\x00"
        first = False
        if nzero < 10:
            raw = lit + bytes(nzero - 1)
            ext, nib = lits(raw)
            blk = bytes((nib << 4,)) + ext + raw
            nzero = 0
        else:
            m = min(4 * MIB - len(lit) - 5, nzero - 6)
            ext, nib = lits(lit)
            blk = bytes(((nib << 4) | min(m - 4, 15),)) + ext + lit + b"\x01\x00"
            blk += _lz4_len(m - 4 - 15) if m - 4 >= 15 else b""
            blk += bytes((5 << 4,)) + bytes(5)
            nzero -= 1 + m + 5
        out.append(struct.pack("<I", len(blk)) + blk)
    out.append(b"\x00\x00\x00\x00")
    return b"".join(out)


def snappy_zeros(head, nzero):
    """Raw snappy block of head + nzero zero bytes: a literal, then copies
    of 64 bytes at offset 1 (3 bytes each)."""
    total = len(head) + nzero
    out = [kp.uvarint(total)]
    lit = head + b"\x00"
    out.append(bytes(((len(lit) - 1) << 2,)) + lit)
    left = nzero - 1
    while left > 0:
        n = min(left, 64)
        left -= n
        out.append(bytes((((n - 1) << 2) | 2, 1, 0)))
    return b"".join(out)


CODECS = {ZSTD: zstd_zeros, GZIP: gzip_zeros, LZ4: lz4_zeros, SNAPPY: snappy_zeros}
_bombs = {}


def bomb(codec, vlen):
    """A v2 batch of one record of vlen zero bytes, compressed with codec."""
    key = (codec, vlen)
    if key not in _bombs:
        comp = CODECS[codec](record_head(vlen), vlen + 1)
        _bombs[key] = raw_batch(comp, codec, 1)
    return _bombs[key]


def raw_batch(records_area, attributes, count):
    ts = int(time.time() * 1000)
    after_crc = (kp.i16(attributes) + kp.i32(count - 1) + kp.i64(ts) + kp.i64(ts) + kp.i64(-1) + kp.i16(-1)
                 + kp.i32(-1) + kp.i32(count) + records_area)
    tail = kp.i32(-1) + kp.i8(2) + kp.u32(kp.crc32c(after_crc)) + after_crc
    return kp.i64(0) + kp.i32(len(tail)) + tail

# ------------------------------------------------------------------ produce


def produce_body(version, topic, parts, acks=-1, timeout_ms=30000):
    ps = [kp.i32(p) + kp.bytes32(b) for p, b in parts]
    body = kp.i16(acks) + kp.i32(timeout_ms) + kp.array([kp.string(topic) + kp.array(ps)])
    return (kp.string(None) + body) if version >= 3 else body


def parse_produce(r, version):
    """-> list of (partition, error) in response order."""
    out = []
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            p, err = r.i32(), r.i16()
            r.i64()                               # base offset
            if version >= 2:
                r.i64()                           # log append time
            if version >= 5:
                r.i64()                           # log start offset
            if version >= 8:
                for _ in range(r.i32()):
                    r.i32()
                    r.string()
                r.string()
            out.append((p, err))
    return out


def produce(b, version, topic, parts, timeout=60.0):
    with kp.Conn(b.bootstrap, timeout=timeout) as c:
        return parse_produce(c.raw(PRODUCE, version, produce_body(version, topic, parts)), version)

# ------------------------------------------------------------------ legacy


def legacy_msg(value, attr=0, offset=0, ts=1000, magic=1, key=None):
    body = kp.i8(magic) + kp.i8(attr) + (kp.i64(ts) if magic == 1 else b"") + kp.bytes32(key) + kp.bytes32(value)
    msg = kp.u32(zlib.crc32(body)) + body
    return kp.i64(offset) + kp.i32(len(msg)) + msg


def gzip(data):
    c = zlib.compressobj(9, zlib.DEFLATED, 31, 9)
    return c.compress(data) + c.flush()


def legacy_bomb(wrappers, inner, vlen):
    """A message set of `wrappers` gzip wrappers, each holding `inner`
    messages of vlen zero bytes."""
    one = b"".join(legacy_msg(bytes(vlen), offset=i, ts=1000 + i) for i in range(inner))
    gz = gzip(one)
    return b"".join(legacy_msg(gz, attr=GZIP, offset=(w + 1) * inner - 1) for w in range(wrappers))


def test_legacy_wrappers(mb, canary):
    """Item: legacy compressed sets up-converted before any size check.
    40 wrappers of 8 MiB each (330 KB sent) would up-convert to 320 MiB; the
    converted batch may not exceed max.message.bytes (4 MiB on this topic),
    so the set is refused with MESSAGE_TOO_LARGE before it grows.  Nested
    wrappers are corrupt."""
    before = rss_mb(mb)
    data = legacy_bomb(40, 128, 64 * 1024)
    with RssPeak(mb) as peak:
        for attempt in range(3):
            res = produce(mb, 2, T, [(attempt % 8, data)])
            alive(mb)
            assert res == [(attempt % 8, MESSAGE_TOO_LARGE)], res
        # the same bytes in many partition entries of one request
        res = produce(mb, 2, T, [(p % 8, data) for p in range(30)])
        alive(mb)
    assert res == [(p % 8, MESSAGE_TOO_LARGE) for p in range(30)], res
    print("\nlegacy wrappers: peak VmRSS %.0f MiB, %.0f MiB before" % (peak.peak, before))
    assert peak.peak - before < 64, "up-converting took %.0f MiB" % (peak.peak - before)
    # a wrapper inside a wrapper
    inner = legacy_msg(gzip(legacy_msg(b"x" * 100)), attr=GZIP)
    nested = legacy_msg(gzip(inner * 50), attr=GZIP)
    res = produce(mb, 2, T, [(p % 8, nested) for p in range(50)])
    assert all(err == CORRUPT_MESSAGE for _, err in res), res
    # an honest legacy set is still accepted
    ok = legacy_msg(gzip(b"".join(legacy_msg(b"v%d" % i, offset=i) for i in range(10))), attr=GZIP, offset=9)
    assert produce(mb, 2, T, [(3, ok)]) == [(3, 0)]
    alive(mb)
    report(mb, "legacy wrappers", before)
    canary.check()
    assert_rss_back(mb, before, "legacy wrappers")

# ------------------------------------------------------------------ bombs


def test_bombs_in_many_partitions(mb, canary):
    """Item: decompression bombs repeated across the partition entries of
    one Produce.  Each bomb holds one record of 300 MiB of zeros (zstd: 10
    KB, gzip: 300 KB, lz4: 1.2 MB) or, snappy expanding 21:1 at most, of 80
    MiB (3.7 MB, below this topic's max.message.bytes).  What one request
    decompresses is bounded (256 MiB): it is answered in bounded time, every
    bomb past the budget is refused with MESSAGE_TOO_LARGE, and no buffer of
    a bomb's size stays resident."""
    before = rss_mb(mb)
    zb = bomb(ZSTD, 300 * MIB)
    gb = bomb(GZIP, 300 * MIB)
    lb = bomb(LZ4, 300 * MIB)
    sb = bomb(SNAPPY, 80 * MIB)
    print("\nbomb sizes: zstd %d, gzip %d, lz4 %d, snappy %d bytes" % (len(zb), len(gb), len(lb), len(sb)))
    for name, parts in (("zstd", [(p % 8, zb) for p in range(500)]),
                        ("gzip", [(p % 8, gb) for p in range(40)]),
                        ("lz4", [(p % 8, lb) for p in range(12)]),
                        ("snappy", [(p % 8, sb) for p in range(20)]),
                        ("mixed", [(p % 8, (zb, gb, lb, sb)[p % 4]) for p in range(40)])):
        with Prober(mb) as probe:
            t0 = time.monotonic()
            with RssPeak(mb) as peak:
                res = produce(mb, 7, T, parts, timeout=120)
            t1 = time.monotonic()
        took = t1 - t0
        alive(mb)
        trips, worst = probe.check(t0, t1, BOMB_SERVED_WITHIN_S, "%s bombs" % name)
        print("%s: %d bombs answered in %.2fs, peak VmRSS %.0f MiB, now %.0f MiB; another client served %d times "
              "meanwhile, slowest %.2fs" % (name, len(parts), took, peak.peak, rss_mb(mb), trips, worst))
        # a bomb is streamed through a window; snappy, which has no
        # streaming form, holds one block (80 MiB here, 22 x its size at most)
        assert peak.peak - before < (64 if name in ("zstd", "gzip", "lz4") else 192), \
            "%s bombs took %.0f MiB" % (name, peak.peak - before)
        assert rss_mb(mb) - before < 32, "a %s bomb's buffer stayed resident" % name
        assert len(res) == len(parts)
        if name == "snappy":
            # 80 MiB each is legal: three fit the request's budget
            assert [err for _, err in res] == [0, 0, 0] + [MESSAGE_TOO_LARGE] * (len(parts) - 3), res
        else:
            assert all(err == MESSAGE_TOO_LARGE for _, err in res), res
        assert took < 15.0, "%d %s bombs in one request took %.1fs" % (len(parts), name, took)
    report(mb, "bombs in many partitions", before)
    canary.check()
    assert_rss_back(mb, before, "decompression bombs")


def test_pipelined_bombs(mb, canary):
    """Bombs pipelined on one connection (one partition each, 256 MiB of
    decompression apiece): the work of one loop turn is bounded, so a client
    on another connection is answered between two bombs, not after a run
    of them.  Measured as the number of bomb answers that arrive while one
    ApiVersions round trip of the other client is under way: without the
    bound the broker worked through several bombs per turn."""
    gb = bomb(GZIP, 300 * MIB)
    n = 16
    frames = b"".join(kp.request(PRODUCE, 7, i + 1, produce_body(7, T, [(i % 8, gb)])) for i in range(n))
    answers = []
    with Prober(mb) as probe:
        with kp.connect(mb.bootstrap, timeout=120) as s:
            t0 = time.monotonic()
            s.sendall(frames)
            for i in range(n):
                r = kp.Reader(kp.recv_frame(s))
                answers.append(time.monotonic())
                assert r.i32() == i + 1
                assert parse_produce(r, 7) == [(i % 8, MESSAGE_TOO_LARGE)]
    alive(mb)
    ntrips, slowest = probe.check(t0, answers[-1], BOMB_SERVED_WITHIN_S, "pipelined bombs")
    during = [sum(1 for a in answers if t0 < a < t1) for t0, t1 in probe.trips]
    worst = max(during)
    print("\n%d pipelined gzip bombs answered in %.2fs; %d ApiVersions meanwhile, slowest %.2fs, at most %s bomb "
          "answers during one" % (n, answers[-1] - t0, ntrips, slowest, worst))
    assert ntrips >= n // 4, "another client was answered only %d times during %d bombs" % (ntrips, n)
    assert worst <= 2, "another client waited through %d bombs" % worst
    canary.check()

# ------------------------------------------------------------------ partial frames


def test_partial_big_frames(mb, canary):
    """Item: no broker-wide bound.  15 connections each send 95 MB of a 100
    MB frame and stop there.  The broker holds at most its budget
    (queued.max.request.bytes) for them; a connection over its share is no
    longer read.  When they leave, the memory goes back."""
    before = rss_mb(mb)
    size = 100 * 1000 * 1000
    chunk = bytes(MIB)
    socks, sent = [], [0] * 15
    stop = threading.Event()

    def attacker(i):
        s = socket.socket()
        s.settimeout(3.0)
        s.connect(("127.0.0.1", mb.port))
        socks.append(s)
        try:
            s.sendall(struct.pack(">i", size) + kp.i16(PRODUCE) + kp.i16(3) + kp.i32(1) + kp.string("x"))
            while sent[i] < 95 * 1000 * 1000 and not stop.is_set():
                s.sendall(chunk)
                sent[i] += len(chunk)
        except (socket.timeout, OSError):
            pass                                  # the broker stopped reading this one

    threads = [threading.Thread(target=attacker, args=(i,), daemon=True) for i in range(15)]
    with RssPeak(mb) as peak:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        for t in threads:
            t.join(max(0.1, deadline - time.monotonic()))
        stop.set()
    alive(mb)
    during = peak.peak
    # queued.max.request.bytes (256 MiB), 1.5 x for connections within their share
    assert during - before < 400, "15 partial 100 MB frames took %.0f MiB" % (during - before)
    print("\npartial frames: %d MB sent in all, %d connections sent all 95 MB"
          % (sum(sent) // 1000000, sum(1 for x in sent if x >= 95 * 1000 * 1000)))
    took = canary.check()
    for s in socks:
        s.close()
    report(mb, "partial big frames", before, during)
    print("canary served in %.3fs during the attack" % took)
    assert_rss_back(mb, before, "partial big frames")

# ------------------------------------------------------------------ non-readers


def non_reader(b, frame, stop, counts, i, seconds):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", b.port))
    s.settimeout(0.2)
    deadline = time.monotonic() + seconds
    burst = frame * 50
    while not stop.is_set() and time.monotonic() < deadline and counts[i] < 200000:
        try:
            s.sendall(burst)
            counts[i] += 50
        except socket.timeout:
            continue                              # not read any more: backpressure
        except OSError:
            break
    return s


def run_non_readers(b, frame, nclients, seconds):
    stop = threading.Event()
    counts = [0] * nclients
    socks = []
    threads = [threading.Thread(target=lambda i=i: socks.append(non_reader(b, frame, stop, counts, i, seconds)),
                                daemon=True) for i in range(nclients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 20)
    alive(b)
    return socks, counts


def test_non_reading_metadata_clients(mb, canary):
    """Item: 50 clients pipeline Metadata for a 2,000-partition topic and
    never read the answers.  Responses built whole count against the
    budget: past it, the clients over their share are no longer read."""
    before = rss_mb(mb)
    frame = kp.request(METADATA, 1, 7, kp.array([kp.string(BIG)]))
    with RssPeak(mb) as peak:
        socks, counts = run_non_readers(mb, frame, 50, 8.0)
    during = peak.peak
    assert during - before < 400, "50 non-reading Metadata clients took %.0f MiB" % (during - before)
    took = canary.check()
    for s in socks:
        s.close()
    report(mb, "non-reading Metadata clients (%d requests sent)" % sum(counts), before, during)
    print("canary served in %.3fs during the attack" % took)
    assert_rss_back(mb, before, "non-reading Metadata clients")


def test_non_reading_small_requests(mb, canary):
    """200 clients pipeline ApiVersions without reading: every queued
    request costs memory of its own, bounded by queued.max.requests and the
    byte budget, not by 1,000 per connection."""
    before = rss_mb(mb)
    frame = kp.request(API_VERSIONS, 2, 7, b"")
    with RssPeak(mb) as peak:
        socks, counts = run_non_readers(mb, frame, 200, 6.0)
    during = peak.peak
    took = canary.check()
    for s in socks:
        s.close()
    report(mb, "non-reading ApiVersions clients (%d requests sent)" % sum(counts), before, during)
    print("canary served in %.3fs during the attack" % took)
    assert during - before < 200, "200 non-reading clients of ApiVersions took %.0f MiB" % (during - before)
    assert_rss_back(mb, before, "non-reading ApiVersions clients")


def test_metadata_repeated_topic(mb, canary):
    """Metadata naming the same 2,000-partition topic 5,000 times (70 KB
    sent): Kafka answers each distinct topic once; so must we."""
    before = rss_mb(mb)
    body = kp.array([kp.string(BIG)] * 5000)
    with kp.Conn(mb.bootstrap, timeout=60) as c:
        r = c.raw(METADATA, 1, body)
        for _ in range(r.i32()):                  # brokers: id, host, port, rack
            r.i32()
            r.string()
            r.i32()
            r.string()
        r.i32()                                   # controller
        ntopics = r.i32()
    assert ntopics == 1, "Metadata answered %d topic entries for one topic named 5,000 times" % ntopics
    report(mb, "Metadata with a repeated topic", before)
    canary.check()
    assert_rss_back(mb, before, "repeated Metadata topic")


def test_describe_groups_repeated(mb, canary):
    """Rest of the class: DescribeGroups copies every member's metadata and
    assignment.  One member joins with 300 KB of protocol metadata and gets a
    300 KB assignment; a DescribeGroups naming that group 4,000 times (100 KB
    sent) would build a 2.4 GB answer: a group named twice is described
    once."""
    group = "adv-mem-big-group"
    big = bytes(300 * 1000)
    before = rss_mb(mb)
    with kp.Conn(mb.bootstrap, timeout=60) as c:
        j = c.call(kp.JOIN_GROUP, 1, group, protocols=(("range", big),))
        assert j["error"] == 0, j
        sy = c.call(kp.SYNC_GROUP, 0, group, j["generation"], j["member_id"],
                    assignments=((j["member_id"], big),))
        assert sy["error"] == 0 and len(sy["assignment"]) == len(big), sy["error"]
        with RssPeak(mb) as peak:
            r = c.raw(kp.DESCRIBE_GROUPS, 0, kp.enc_describe_groups([group] * 4000))
        n = r.i32()
        alive(mb)
        print("\nDescribeGroups naming a 600 KB group 4,000 times: %d answers, peak VmRSS %.0f MiB" % (n, peak.peak))
        assert n == 1, "DescribeGroups answered %d entries for one group named 4,000 times" % n
        assert peak.peak - before < 64
        c.call(kp.LEAVE_GROUP, 0, group, j["member_id"])
    canary.check()
    assert_rss_back(mb, before, "repeated DescribeGroups")


def test_offset_fetch_repeated(mb, canary):
    """Rest of the class: OffsetFetch v8 with all topics of a group named
    2,000 times.  The group holds 2,000 offsets with 4 KB of metadata each (8
    MB); the answer would be 16 GB: a group named twice is answered once."""
    group = "adv-mem-offsets"
    md = "m" * 4000
    before = rss_mb(mb)
    with kp.Conn(mb.bootstrap, timeout=60) as c:
        for first in range(0, BIG_PARTS, 200):       # 800 KB a commit
            r = c.call(kp.OFFSET_COMMIT, 2, group, {BIG: [(p, 1, md) for p in range(first, first + 200)]})
            assert set(r["errors"].values()) == {0}, set(r["errors"].values())
        one = kp.compact_string(group) + b"\x00" + kp.TAGS0        # all topics
        body = kp.uvarint(2000 + 1) + one * 2000 + kp.i8(0) + kp.TAGS0
        with RssPeak(mb) as peak:
            r = c.raw(kp.OFFSET_FETCH, 8, body, flexible=True)
        r.tags()
        r.i32()                                   # throttle
        n = r.uvarint() - 1
    alive(mb)
    print("\nOffsetFetch v8 naming an 8 MB group 2,000 times: %d answers, peak VmRSS %.0f MiB" % (n, peak.peak))
    assert n == 1, "OffsetFetch answered %d groups for one group named 2,000 times" % n
    assert peak.peak - before < 96
    canary.check()
    assert_rss_back(mb, before, "repeated OffsetFetch")


LO = "adv-mem-lo"          # 8 partitions, each ending with one heavy batch


def list_offsets_v1(b, topic, parts):
    """ListOffsets v1 for [(partition, timestamp)] -> [(partition, error, offset)]."""
    body = kp.i32(-1) + kp.array([kp.string(topic) + kp.array([kp.i32(p) + kp.i64(t) for p, t in parts])])
    with kp.Conn(b.bootstrap, timeout=120) as c:
        r = c.raw(2, 1, body)
    out = []
    for _ in range(r.i32()):
        r.string()
        for _ in range(r.i32()):
            p, err = r.i32(), r.i16()
            r.i64()                           # timestamp
            off = r.i64()
            out.append((p, err, off))
    return out


def test_list_offsets_lookups(mb, canary):
    """Rest of the class: a ListOffsets by timestamp decompresses the batch
    holding the answer.  Each partition of LO ends with a legal batch of one
    200 MiB record (6 KB of zstd).  Naming one partition 2,000 times would
    decompress it 2,000 times: a partition named twice is INVALID_REQUEST
    (Kafka's rule).  Naming the 8 distinct partitions reads 1.6 GB: the
    lookups of one request stop at 1 GiB (REQUEST_TIMED_OUT, retriable)."""
    ck.create_topic(mb, LO, 8)
    ts = int(time.time() * 1000)
    heavy = raw_batch(zstd_zeros(record_head(200 * MIB), 200 * MIB + 1), ZSTD, 1)
    for p in range(8):
        assert produce(mb, 7, LO, [(p, heavy)], timeout=60) == [(p, 0)]
    t0 = time.monotonic()
    res = list_offsets_v1(mb, LO, [(0, ts)] * 2000)
    took = time.monotonic() - t0
    alive(mb)
    print("\nListOffsets naming one partition 2,000 times: answered in %.2fs" % took)
    assert res == [(0, INVALID_REQUEST, -1)] * 2000, res[:3]
    res = list_offsets_v1(mb, LO, [(p, ts) for p in range(8)])
    alive(mb)
    errs = [err for _, err, _ in res]
    print("ListOffsets over 8 heavy partitions: %r" % errs)
    assert errs[:5] == [0] * 5 and errs[5:] == [REQUEST_TIMED_OUT] * 3, res
    assert [off for _, _, off in res[:5]] == [0] * 5
    canary.check()


# ------------------------------------------------------------------ log cleaner

COMPACT = "adv-mem-compact"
SMALL_RECS = 4 * 1000 * 1000       # records per zstd batch (59 MB of records, 7.9 MB of zstd)
SMALL_KEYS = 1000


def zstd_compress(data, level=3):
    """One zstd frame (libzstd, which gregord links, through ctypes)."""
    lib = ctypes.CDLL(ctypes.util.find_library("zstd") or "libzstd.so.1")
    lib.ZSTD_compressBound.restype = ctypes.c_size_t
    lib.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
    lib.ZSTD_compress.restype = ctypes.c_size_t
    lib.ZSTD_compress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
    cap = lib.ZSTD_compressBound(len(data))
    out = ctypes.create_string_buffer(cap)
    n = lib.ZSTD_compress(out, cap, data, len(data), level)
    assert not lib.ZSTD_isError(n)
    return out.raw[:n]


def small_record_bomb():
    """A zstd batch of SMALL_RECS records of 15 bytes: key "k%03d" % (i mod
    SMALL_KEYS), value "v", offset deltas in order, so that Produce
    validation (which streams the records) accepts it."""
    keys = [kp.varint(4) + b"k%03d" % k for k in range(SMALL_KEYS)]
    tail = kp.varint(1) + b"v" + kp.varint(0)
    area = bytearray()
    for i in range(SMALL_RECS):
        body = b"\x00\x00" + kp.varint(i) + keys[i % SMALL_KEYS] + tail
        area += kp.varint(len(body))
        area += body
    return raw_batch(zstd_compress(bytes(area)), ZSTD, SMALL_RECS)


def cleaned_up_to(b, topic):
    """The highest offset a cleaner pass of topic-0 has mapped up to (-1:
    none yet); fails on a failed pass."""
    text = b.log_text()
    assert not re.search(r"Cleaning of \S*/%s-0 failed" % re.escape(topic), text), b.log_tail(20)
    ends = re.findall(r"Cleaned \S*/%s-0: offsets -?\d+\.\.(\d+) mapped" % re.escape(topic), text)
    return max((int(e) for e in ends), default=-1)


def test_compacted_topic_small_record_bombs(mb, canary):
    """Item: the log cleaner sized an array of records (80 bytes each) from a
    compressed batch's record count and inflated the batch whole.  Two zstd
    batches of 4 million records each (7.9 MB sent apiece, accepted: the
    records are valid and Produce validation streams them) on a compacted
    topic made its pass take about 390 MiB.  It now streams the records:
    the pass costs the decompression window and the codec's state.  The
    result is the compacted log: the latest record of each key."""
    bomb1 = small_record_bomb()
    print("\nsmall-record bomb: %d records, %d bytes of zstd" % (SMALL_RECS, len(bomb1)))
    # one bomb per segment; the small batch after them rolls the second
    ck.create_topic(mb, COMPACT, 1, config={
        "cleanup.policy": "compact", "max.message.bytes": str(16 * MIB),
        "internal.segment.bytes": str(len(bomb1) + 16), "min.cleanable.dirty.ratio": "0.01",
        "min.compaction.lag.ms": "0"})
    before = rss_mb(mb)
    with RssPeak(mb) as peak:
        for _ in range(2):
            assert produce(mb, 7, COMPACT, [(0, bomb1)], timeout=120) == [(0, 0)]
            alive(mb)
        # one more batch rolls the segment: the bombs become cleanable
        body = b"\x00" + kp.varint(0) + kp.varint(0) + kp.varint(1) + b"k" + kp.varint(1) + b"w" + kp.varint(0)
        assert produce(mb, 7, COMPACT, [(0, raw_batch(kp.varint(len(body)) + body, 0, 1))]) == [(0, 0)]
        deadline = time.monotonic() + 180
        while cleaned_up_to(mb, COMPACT) < 2 * SMALL_RECS:
            alive(mb)
            assert time.monotonic() < deadline, "no cleaner pass within 180 s:\n%s" % mb.log_tail(20)
            time.sleep(0.2)
    alive(mb)
    print("cleaner pass over 2 x %d records: peak VmRSS %.0f MiB, %.0f MiB before"
          % (SMALL_RECS, peak.peak, before))
    assert peak.peak - before < 64, "the cleaner's pass took %.0f MiB" % (peak.peak - before)
    # what is left: the latest record of each key (all in the second
    # batch), then the small batch
    msgs = ck.consume(mb, COMPACT, SMALL_KEYS + 1, timeout=60)
    offs = [m.offset() for m in msgs]
    assert offs == list(range(2 * SMALL_RECS - SMALL_KEYS, 2 * SMALL_RECS + 1)), (offs[:3], offs[-3:])
    assert sorted(m.key() for m in msgs[:-1]) == sorted(b"k%03d" % k for k in range(SMALL_KEYS))
    assert all(m.value() == b"v" for m in msgs[:-1])
    report(mb, "small-record bombs on a compacted topic", before, peak.peak)
    canary.check()
    assert_rss_back(mb, before, "small-record bombs on a compacted topic")


def test_peak_rss(mb, canary):
    """Over the whole module, the broker's peak RSS stayed bounded."""
    alive(mb)
    canary.check()
    peak = assert_peak_rss(mb, PEAK_RSS_MB)
    print("\nbroker peak RSS over the module: %.0f MiB (bound %d MiB)" % (peak, PEAK_RSS_MB))
