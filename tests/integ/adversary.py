"""Shared pieces of the adversarial suite (tests/integ/test_adversarial*.py).

Each attack test follows the same shape:

    canary = Canary(broker)          # acknowledged records + a committed offset
    canary.plant()
    ... attack, bounded in time and count ...
    canary.check()                   # a fresh client is served within 1 s and
                                     # nothing acknowledged is missing
    # optionally broker.restart() / kill -9 + start, then canary.check() again

and the module ends with `assert_peak_rss(broker, limit_mb)`, which reads the
broker's VmHWM (the kernel's peak resident set size of the process since it
started) so that no sampling gap can hide a spike.  VmHWM starts again with
each process: restart the broker with `restart(broker)` (or call
`keep_peak(broker)` before stopping it), which keeps the peak of the process
that stops, so that the assertion covers every process of the test.

Everything goes to 127.0.0.1, every loop is bounded."""
import socket
import time

import ck
import kproto as kp
from storage_check import produce_raw, read_log, rss_kb

SERVED_WITHIN_S = 1.0


class Canary:
    """Records and a commit that an attack must not lose.

    plant() produces `n` acknowledged records (acks=-1) to `topic` and commits
    offset `n // 2` for `group`; check() reads them back over the wire and
    times a fresh client's Metadata + Fetch + OffsetFetch round trips."""

    def __init__(self, broker, topic="adv-canary", group="adv-canary-group", n=20):
        self.b, self.topic, self.group, self.n = broker, topic, group, n
        self.values = []

    def plant(self):
        ck.create_topic(self.b, self.topic, 1)
        self.add(self.n)
        with kp.Conn(self.b.bootstrap) as c:
            r = c.call(kp.OFFSET_COMMIT, 2, self.group, {self.topic: [(0, self.n // 2, "")]})
        assert r["errors"] == {(self.topic, 0): 0}, "canary commit failed: %r" % r
        return self

    def add(self, n):
        """Produce n more acknowledged records."""
        vals = [b"canary-%d" % (len(self.values) + i) for i in range(n)]
        err, base = produce_raw(self.b, self.topic, 0, vals)
        assert err == 0, "canary produce failed with error %d" % err
        assert base == len(self.values), "canary produce at offset %d, expected %d" % (base, len(self.values))
        self.values += vals

    def served_in(self):
        """Seconds a fresh client needs for Metadata, Fetch and OffsetFetch."""
        t0 = time.monotonic()
        with kp.Conn(self.b.bootstrap, timeout=SERVED_WITHIN_S * 10) as c:
            c.raw(3, 1, kp.array([kp.string(self.topic)]))
            r = c.raw(1, 4, kp.fetch_v4([(self.topic, [(0, 0, 1 << 20)])]))
            c.call(kp.OFFSET_FETCH, 1, self.group, {self.topic: [0]})
        del r
        return time.monotonic() - t0

    def check(self, served_within=SERVED_WITHIN_S):
        took = self.served_in()
        assert took <= served_within, \
            "a normal client needed %.2fs (> %.1fs) to be served after the attack" % (took, served_within)
        recs, _ = read_log(self.b, self.topic, 0)
        got = [v for _, _, v in recs]
        assert got == self.values, "canary records lost or changed: %d of %d back" % (len(got), len(self.values))
        # after a restart __consumer_offsets may still be loading: clients
        # retry COORDINATOR_LOAD_IN_PROGRESS (14), so does the canary (bounded)
        deadline = time.monotonic() + 30
        while True:
            with kp.Conn(self.b.bootstrap) as c:
                r = c.call(kp.OFFSET_FETCH, 1, self.group, {self.topic: [0]})
            o, _, err = r["offsets"][(self.topic, 0)]
            if err != 14 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert (o, err) == (self.n // 2, 0), "canary commit lost or changed: %r" % r
        return took


def wait_groups_loaded(broker, timeout=60):
    """After a (re)start: until ListGroups no longer answers
    COORDINATOR_LOAD_IN_PROGRESS, i.e. every partition of __consumer_offsets
    has loaded (clients retry that error; tests that read offsets wait)."""
    deadline = time.monotonic() + timeout
    while True:
        r = kp.Reader(kp.roundtrip(broker.bootstrap, kp.request(16, 0, 1, b"")))
        r.i32()                                         # correlation id
        err = r.i16()
        if err != kp.COORDINATOR_LOAD_IN_PROGRESS:
            return err
        assert time.monotonic() < deadline, "__consumer_offsets still loading after %ds" % timeout
        time.sleep(0.1)


def keep_peak(broker):
    """Remember the running process's peak RSS before it stops: VmHWM
    starts again with the next process."""
    if broker.proc is not None and broker.proc.poll() is None:
        broker.peak_before_mb = max(getattr(broker, "peak_before_mb", 0.0), rss_kb(broker.pid)[1] / 1024.0)


def restart(broker, kill=False):
    """Restart the broker (SIGTERM, or kill -9 and start again), keeping
    the peak RSS of the process that stops for peak_rss_mb."""
    keep_peak(broker)
    if kill:
        broker.kill()
        broker.start()
    else:
        broker.restart()


def peak_rss_mb(broker):
    """The broker's peak resident set size (VmHWM), MiB: the largest of the
    running process's and of the processes restart() or keep_peak() saw
    stop."""
    return max(rss_kb(broker.pid)[1] / 1024.0, getattr(broker, "peak_before_mb", 0.0))


def assert_peak_rss(broker, limit_mb):
    peak = peak_rss_mb(broker)
    assert peak <= limit_mb, "broker peak RSS %.0f MiB exceeds the %d MiB bound" % (peak, limit_mb)
    return peak


def raw_socket(broker, rcvbuf=None, timeout=5.0):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", broker.port))
    return s
