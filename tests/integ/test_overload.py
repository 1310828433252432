"""Overload: 10,000 idle connections, consumers that never read their socket,
a client that pipelines requests without reading responses, frames claiming
2 GiB and a 1-byte-per-second sender, all at once.  Meanwhile an ordinary
confluent-kafka producer and consumer must be served (not starved),
the broker's memory (VmRSS / VmHWM) must stay bounded, and the broker must
say what it did (oversized frames, backpressure, connections closed for
being idle or for not reading their responses).

Every loop is bounded in count and time; all traffic is on 127.0.0.1."""
import resource
import socket
import statistics
import struct
import threading
import time

import pytest

import ck
import kproto as kp
from helpers import require, wait_until
from storage_check import env_broker_factory, rss_kb

IDLE_CONNS = 10000
IDLE_MS = 10000
LOAD_SECONDS = 6.0
RSS_LIMIT_MB = 256          # measured: ~12 MiB plain, ~33 MiB under ASan+UBSan
T = "ov"


@pytest.fixture
def env_broker(tmp_path):
    yield from env_broker_factory(tmp_path)


@pytest.fixture
def nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE_CONNS + 2000
    require(hard >= want, "RLIMIT_NOFILE hard limit %d < %d" % (hard, want))
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def latencies(p, n, topic="ov-normal"):
    out = []
    for i in range(n):
        done = []
        t = time.monotonic()
        p.produce(topic, value=b"normal-%d" % i, partition=0, on_delivery=lambda e, m: done.append(e))
        p.flush(10)
        assert done and done[0] is None, done
        out.append(time.monotonic() - t)
    return out


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak = pid, 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.05):
            try:
                self.peak = max(self.peak, rss_kb(self.pid)[0])
            except OSError:
                return


def non_reader(b, stop, n_requests=40):
    """Asks for lots of data (Fetch from offset 0, 8 MiB a partition) and
    never reads a byte of the answers."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", b.port))
    s.settimeout(0.5)
    for corr in range(1, n_requests + 1):
        if stop.is_set():
            break
        body = kp.fetch_v4([(T, [(0, 0, 8 << 20)])], max_bytes=64 << 20)
        try:
            s.sendall(kp.request(1, 4, corr, body))
        except (socket.timeout, OSError):
            break
    stop.wait(LOAD_SECONDS + 2)
    return s                                      # closed by the test, after the idle check


def pipeliner(b, stop, out):
    """Sends Metadata requests back to back and never reads."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", b.port))
    s.settimeout(0.2)
    frame = kp.request(3, 0, 7, kp.array([kp.string(T)]))
    sent = 0
    deadline = time.monotonic() + LOAD_SECONDS
    while not stop.is_set() and time.monotonic() < deadline and sent < 200000:
        try:
            s.sendall(frame * 100)
            sent += 100
        except socket.timeout:
            continue                              # the broker stopped reading: backpressure
        except OSError:
            break
    out["pipelined"] = sent
    out["pipe_sock"] = s


def slow_sender(b, stop, out, seconds=5):
    """One byte of an ApiVersions request per second."""
    frame = kp.request(18, 0, 1, b"")
    s = kp.connect(b.bootstrap)
    n = 0
    deadline = time.monotonic() + seconds
    while n < len(frame) and time.monotonic() < deadline and not stop.is_set():
        s.sendall(frame[n:n + 1])
        n += 1
        stop.wait(1.0)
    out["slow_bytes"] = n
    s.close()


def open_idle(port, n):
    socks = []
    t0 = time.monotonic()
    for i in range(n):
        s = socket.socket()
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        socks.append(s)
        if i % 1000 == 999:
            time.sleep(0.05)
        assert time.monotonic() - t0 < 60, "opening idle connections took too long (%d)" % i
    return socks


def test_overload(env_broker, nofile):
    b = env_broker({"num.partitions": 1, "connections.max.idle.ms": IDLE_MS}, nofile=nofile)
    ck.create_topic(b, T)
    ck.create_topic(b, "ov-normal")
    # data for the non-reading consumers to ask for: ~16 MiB
    p = ck.producer(b, acks=1, linger_ms=20)
    for i in range(1600):
        while True:
            try:
                p.produce(T, value=b"%06d" % i + b"z" * 10234, partition=0)
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(30) == 0

    normal = ck.producer(b, acks=1, linger_ms=0)
    base = latencies(normal, 30)
    rss0 = rss_kb(b.pid)[0]

    sampler = RssSampler(b.pid)
    sampler.start()
    t_idle = time.monotonic()
    idle = open_idle(b.port, IDLE_CONNS)
    print("opened %d idle connections in %.1fs; broker RSS %d -> %d KiB"
          % (len(idle), time.monotonic() - t_idle, rss0, rss_kb(b.pid)[0]))

    stop = threading.Event()
    out = {}
    readers = []
    threads = [threading.Thread(target=lambda: readers.append(non_reader(b, stop)), daemon=True)
               for _ in range(4)]
    threads.append(threading.Thread(target=pipeliner, args=(b, stop, out), daemon=True))
    threads.append(threading.Thread(target=slow_sender, args=(b, stop, out), daemon=True))
    for t in threads:
        t.start()

    # frames claiming 2 GiB (-1 byte: positive int32; and exactly: negative)
    for size in (0x7FFFFFFF, 0x80000000):
        with kp.connect(b.bootstrap) as s:
            s.sendall(struct.pack(">I", size) + b"\x00\x12\x00\x00" * 4)
            assert kp.wait_closed(s, 5), "connection with a %d-byte frame not closed" % size

    t_load = time.monotonic()
    during = []
    while time.monotonic() - t_load < LOAD_SECONDS:
        during += latencies(normal, 10)
    stop.set()
    for t in threads:
        t.join(15)
    sampler.stop.set()
    sampler.join(5)
    vm_rss, vm_hwm = rss_kb(b.pid)
    peak = max(sampler.peak, vm_rss)
    p50b, p50 = statistics.median(base), statistics.median(during)
    print("normal producer: baseline p50 %.1f ms; under load p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d sends)"
          % (1000 * p50b, 1000 * p50, 1000 * sorted(during)[int(len(during) * 0.99)], 1000 * max(during),
             len(during)))
    print("broker memory: VmRSS before %d KiB, peak sampled %d KiB, VmHWM %d KiB; pipelined %s requests; "
          "slow sender sent %s bytes" % (rss0, peak, vm_hwm, out.get("pipelined"), out.get("slow_bytes")))
    # served, not starved: the bounds are wide enough for a loaded machine
    # under sanitizers (latency is the subject of make bench)
    assert p50 < max(1.0, 10 * p50b), "normal client slowed down: p50 %.3fs" % p50
    assert max(during) < 10.0, "a normal request took %.2fs" % max(during)
    assert vm_hwm < RSS_LIMIT_MB * 1024, "broker VmHWM %d KiB above %d MiB" % (vm_hwm, RSS_LIMIT_MB)
    assert out.get("pipelined", 0) > 0

    # a normal consumer reads what the normal producer wrote
    got = ck.consume(b, "ov-normal", len(base) + len(during), timeout=30)
    assert got[-1].value() == b"normal-%d" % 9

    text = b.log_text()
    assert "exceeds socket.request.max.bytes" in text
    assert "invalid request size" in text
    assert "Backpressure: pausing reads" in text

    # idle connections and connections whose responses go unread are closed
    # after connections.max.idle.ms
    wait_until(lambda: "Closing idle connection" in b.log_text(), timeout=IDLE_MS / 1000 + 15,
               what="idle connections closed")
    wait_until(lambda: "responses unread" in b.log_text(), timeout=IDLE_MS / 1000 + 15,
               what="non-reading connections closed")
    closed = sum(kp.wait_closed(s, 0.2) for s in idle[:50])
    assert closed == 50, "only %d of 50 idle connections were closed" % closed
    for s in idle + readers + [out.get("pipe_sock")]:
        if s is not None:
            s.close()
    # still serving
    assert latencies(normal, 5)
