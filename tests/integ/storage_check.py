"""Helpers for the reliability tests (faults, power loss, crash loop,
overload): a Broker that starts with extra environment (GREGOR_FAULTS, see
src/core/fio.h) and process limits, raw produce, and a full read-back of a
partition that checks every batch (CRC-32C, offsets) on the way.

Everything goes to 127.0.0.1 and every wait is bounded."""
import os
import resource
import signal
import struct

import pytest

import kproto as kp
from helpers import _LIVE, Broker, BrokerDied, _teardown

KAFKA_STORAGE_ERROR = 56


class EnvBroker(Broker):
    """A Broker started with extra environment variables and, optionally,
    a raised RLIMIT_NOFILE."""

    def __init__(self, workdir, overrides=None, env=None, nofile=None):
        super().__init__(workdir, overrides)
        self.env = dict(env or {})
        self.nofile = nofile

    def start(self):
        saved = {k: os.environ.get(k) for k in self.env}
        old_lim = resource.getrlimit(resource.RLIMIT_NOFILE)
        os.environ.update(self.env)
        try:
            if self.nofile:
                # inherited by the child; restored below for the test process
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, max(old_lim[1], self.nofile)))
            return super().start()
        finally:
            if self.nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, old_lim)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    # -- runtime fault switch (src/core/fio.h) -------------------------------
    @property
    def faults_file(self):
        return os.path.join(self.workdir, "faults")

    def arm(self, spec):
        """Arm faults now: write GREGOR_FAULTS_FILE and send SIGUSR1."""
        with open(self.faults_file, "w") as f:
            f.write(spec)
        os.kill(self.pid, signal.SIGUSR1)

    def clear(self):
        os.kill(self.pid, signal.SIGUSR2)


def env_broker_factory(tmp_path):
    """Generator body for a fixture: yields make(overrides, env, nofile)."""
    made = []

    def make(overrides=None, env=None, nofile=None, start=True):
        b = EnvBroker(tmp_path / ("b%d" % len(made)), {k: str(v) for k, v in (overrides or {}).items()},
                      env, nofile)
        b.env.setdefault("GREGOR_FAULTS_FILE", b.faults_file)
        made.append(b)
        _LIVE.append(b)
        if start:
            try:
                b.start()
            except BrokerDied as e:
                pytest.fail(str(e))
        return b

    yield make
    probs = []
    for b in made:
        probs += _teardown(b)
    if probs:
        pytest.fail("broker: %s\n--- log tail ---\n%s"
                    % ("; ".join(probs), "\n".join(b.log_tail() for b in made)))


# ------------------------------------------------------------------ wire

def produce_raw(b, topic, partition, values, acks=-1, key=b"k", timeout=10.0):
    """One batch of records (key, value) -> (error_code, base_offset)."""
    batch = kp.record_batch([(key, v) for v in values])
    res = kp.call(b.bootstrap, 0, 3, kp.produce_v3(topic, [(partition, batch)], acks=acks),
                  kp.parse_produce_v3, timeout=timeout)
    err, base, _ = res[(topic, partition)]
    return err, base


def fetch_raw(b, topic, partition, offset, max_bytes=1 << 20, timeout=10.0):
    res = kp.call(b.bootstrap, 1, 4, kp.fetch_v4([(topic, [(partition, offset, max_bytes)])]),
                  kp.parse_fetch_v4, timeout=timeout)
    return res[(topic, partition)]


def _uvarint(d, p):
    v = s = 0
    while True:
        c = d[p]
        p += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, p


def _varint(d, p):
    v, p = _uvarint(d, p)
    return (v >> 1) ^ -(v & 1), p


def batch_records(bt):
    """[(offset, key, value)] of one uncompressed v2 batch; asserts the CRC."""
    info = kp.batch_info(bt)
    assert info["magic"] == 2, info
    assert kp.crc32c(bt[21:]) == info["crc"], "CRC mismatch in batch at offset %d" % info["base_offset"]
    assert info["attributes"] & 0x07 == 0, "compressed batch: not decoded here"
    out, p = [], 61
    for _ in range(info["count"]):
        ln, p = _varint(bt, p)
        end = p + ln
        p += 1                                   # attributes
        _, p = _varint(bt, p)                    # timestamp delta
        od, p = _varint(bt, p)
        kl, p = _varint(bt, p)
        key = None if kl < 0 else bytes(bt[p:p + kl])
        p += max(kl, 0)
        vl, p = _varint(bt, p)
        val = None if vl < 0 else bytes(bt[p:p + vl])
        p = end
        out.append((info["base_offset"] + od, key, val))
    assert p == len(bt), "batch at %d: records do not fill the batch" % info["base_offset"]
    return out


def read_log(b, topic, partition, start=0, timeout=10.0):
    """Every record from `start` to the high watermark, via raw Fetch v4.
    Checks each batch's CRC and that batches never overlap or go back.
    Returns (records, batches) where records = [(offset, key, value)] and
    batches = [(base_offset, last_offset)]."""
    recs, batches, off = [], [], start
    hw = None
    for _ in range(100000):
        r = fetch_raw(b, topic, partition, off, timeout=timeout)
        assert r["error"] == 0, "fetch %s-%d at %d: error %d" % (topic, partition, off, r["error"])
        hw = r["hw"]
        bts = kp.split_batches(r["records"])
        if not bts:
            break
        for bt in bts:
            info = kp.batch_info(bt)
            last = info["base_offset"] + info["last_offset_delta"]
            if last < off:
                continue                         # the batch holding `start`, before it
            assert not batches or info["base_offset"] > batches[-1][1], \
                "batch %d..%d overlaps the previous one %s" % (info["base_offset"], last, batches[-1])
            batches.append((info["base_offset"], last))
            recs += [r_ for r_ in batch_records(bt) if r_[0] >= off]
            off = last + 1
        if off >= hw:
            break
    return recs, batches


def rss_kb(pid):
    """(VmRSS, VmHWM) in KiB from /proc/<pid>/status."""
    vals = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                vals[k] = int(v.split()[0])
    return vals.get("VmRSS", 0), vals.get("VmHWM", 0)


def be32(b, p=0):
    return struct.unpack_from(">i", b, p)[0]
