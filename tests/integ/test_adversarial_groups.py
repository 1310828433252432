"""Adversarial suite, groups and offsets: what a hostile client can do to the
group coordinator with raw protocol (kproto.py).

* Overflowing times and sizes: every place that adds or multiplies a
  client-supplied time, size or count (OffsetCommit RetentionTimeMs and
  CommitTimestamp, offset expiry, record timestamps read by ListOffsets and
  the cleaner, topic configs, timer deadlines from configs at 2^63-1).
* Memory per group: standalone commits under 50,000 group ids must cost what
  the groups hold (no per-group history ring allocated whole), survive a
  restart, and every commit comes back.
* A 2,000-member group whose GroupMetadata record (~20 MB) exceeds
  max.message.bytes of __consumer_offsets gets Kafka's answer: every
  SyncGroup of the generation fails with UNKNOWN_SERVER_ERROR and the group
  rebalances; the record is never built or written, round after round.

After each attack a Canary checks that a fresh client is served within 1 s
and that no acknowledged record or commit is lost; the module ends with a
peak-RSS assertion (the broker runs under ASan in the test suite, which
roughly doubles what a plain build needs)."""
import time
import urllib.request

import pytest

import ck
import helpers
import kproto as kp
from adversary import Canary, assert_peak_rss, peak_rss_mb, restart
from kproto import i8, i16, i32, i64, u32
from storage_check import read_log, rss_kb

I64_MAX = (1 << 63) - 1
I64_MIN = -(1 << 63)
UNKNOWN_SERVER_ERROR = -1
INVALID_CONFIG = 40

# Peak RSS (VmHWM) bounds, for the ASan build the suite runs (ASan keeps
# up to 256 MiB of freed memory in quarantine, so a busy broker's peak is
# its live memory plus most of that; a plain build needs far less).
# The module broker: every attack below on one broker (measured 14 MiB).
MODULE_PEAK_RSS_MB = 150
# 50,000 groups x 4 offsets: before the fix 1,673 MiB under ASan (1,002 MiB
# plain: the history rings); now 362 MiB under ASan, 59 MiB plain.
MANY_GROUPS = 50_000
MANY_GROUPS_PEAK_RSS_MB = 500
# ... and once they are deleted: the freed groups fill ASan's quarantine
# (measured 506 MiB under ASan, 73 MiB plain); the suite's bound, which
# the README states
MANY_GROUPS_DELETED_PEAK_RSS_MB = 640
# What the README (Limits, "groups") states a group costs in the optimised
# build: PER_GROUP_B plus PER_OFFSET_B per committed offset, plus the lag
# evaluation, bounded in total by lag.window.max.partitions (100,000 windows
# of ~300 B and the groups that hold them: LAG_BOUND_B, also the bound on
# gregor_lag_bytes).  ASan's redzones and quarantine cost ASAN_FACTOR more
# (measured 1.8-2.1x).  Before the lag state was bounded every group's first
# commit made a 3 KB lag record: 7.4 KB per group under ASan, 5.1 KB plain.
PER_GROUP_B = 600
PER_OFFSET_B = 120
LAG_BOUND_B = 48 << 20
ASAN_FACTOR = 3
# 20,000 commits from a 32 KB client id: 640 MB of history before it was
# bounded in bytes
HISTORY_COMMITS = 20_000
HISTORY_PEAK_RSS_MB = 450
# the 2,000-member group: its members hold 20 MB of metadata, the leader's
# JoinGroup answer is 20 MB more (measured 321 MiB under ASan, 54 MiB plain)
BIG_GROUP_PEAK_RSS_MB = 450

BROKER_OVERRIDES = {"offsets.topic.num.partitions": "4",
                    "group.initial.rebalance.delay.ms": "0",
                    "offsets.retention.check.interval.ms": "500",
                    "log.cleaner.backoff.ms": "200",
                    "auto.create.topics.enable": "false"}


# ------------------------------------------------------------------ helpers

def commit(broker, group, offsets, version=2, **kw):
    with kp.Conn(broker.bootstrap) as c:
        return c.call(kp.OFFSET_COMMIT, version, group, offsets, **kw)["errors"]


def fetch(broker, group, topics):
    with kp.Conn(broker.bootstrap) as c:
        return c.call(kp.OFFSET_FETCH, 1, group, topics)["offsets"]


def enc_commit_v1(group, generation, member, topic, parts):
    """OffsetCommit v1 body; parts: [(partition, offset, commit_timestamp)]."""
    ps = [i32(p) + i64(o) + i64(ts) + kp.string("") for p, o, ts in parts]
    return (kp.string(group) + i32(generation) + kp.string(member)
            + kp.array([kp.string(topic) + kp.array(ps)]))


def commit_v1(broker, group, generation, member, topic, parts):
    with kp.Conn(broker.bootstrap) as c:
        r = c.raw(kp.OFFSET_COMMIT, 1, enc_commit_v1(group, generation, member, topic, parts))
        return kp.dec_offset_commit(r, 1)["errors"]


def batch(base_ts, deltas, keys, max_ts=None):
    """An uncompressed v2 batch: record i has key keys[i] and timestamp
    delta deltas[i] from base_ts (any int64, as a hostile producer sends)."""
    recs = b"".join(kp.record(i, k, b"v-" + k, ts_delta=d) for i, (k, d) in enumerate(zip(keys, deltas)))
    after = (i16(0) + i32(len(keys) - 1) + i64(base_ts) + i64(base_ts if max_ts is None else max_ts)
             + i64(-1) + i16(-1) + i32(-1) + i32(len(keys)) + recs)
    tail = i32(-1) + i8(2) + u32(kp.crc32c(after)) + after
    return i64(0) + i32(len(tail)) + tail


def produce_batch(broker, topic, bt):
    r = kp.call(broker.bootstrap, 0, 3, kp.produce_v3(topic, [(0, bt)]), kp.parse_produce_v3)
    return r[(topic, 0)]


def incremental_alter(broker, topic, ops):
    """IncrementalAlterConfigs v0 on a topic; ops: [(name, op, value)].
    Returns the error code."""
    cfgs = [kp.string(n) + kp.i8(op) + kp.string(v) for n, op, v in ops]
    body = kp.array([kp.i8(2) + kp.string(topic) + kp.array(cfgs)]) + kp.i8(0)
    r = kp.Reader(kp.roundtrip(broker.bootstrap, kp.request(44, 0, 77, body)))
    assert r.i32() == 77
    r.i32()
    assert r.i32() == 1
    return r.i16()


def pipeline(broker, frames, window=500, timeout=60.0):
    """Send request frames (built with correlation ids 1..n) on one
    connection, at most `window` unanswered; returns the response payloads
    (correlation id stripped) in order."""
    out = []
    with kp.connect(broker.bootstrap, timeout) as s:
        for i in range(0, len(frames), window):
            chunk = frames[i:i + window]
            s.sendall(b"".join(chunk))
            for j in range(len(chunk)):
                r = kp.Reader(kp.recv_frame(s))
                assert r.i32() == i + j + 1
                out.append(r)
    return out


def enc_offset_fetch_v8(groups):
    """OffsetFetch v8 body: groups = [(group, {topic: [partition]})]."""
    gs = []
    for g, topics in groups:
        ts = [kp.compact_string(t) + kp.compact_array([i32(p) for p in ps]) + kp.TAGS0
              for t, ps in topics.items()]
        gs.append(kp.compact_string(g) + kp.compact_array(ts) + kp.TAGS0)
    return kp.compact_array(gs) + i8(0) + kp.TAGS0


def dec_offset_fetch_v8(r):
    """-> {group: (error, {(topic, partition): (offset, error)})}"""
    r.tags()
    r.i32()
    out = {}
    for _ in range(r.uvarint() - 1):
        g = r.compact_string()
        offs = {}
        for _ in range(r.uvarint() - 1):
            t = r.compact_string()
            for _ in range(r.uvarint() - 1):
                p, o = r.i32(), r.i64()
                r.i32()
                r.compact_string()
                offs[(t, p)] = (o, r.i16())
                r.tags()
            r.tags()
        out[g] = (r.i16(), offs)
        r.tags()
    r.tags()
    return out


def join_one(broker, group, topics, session_timeout=30000):
    """A one-member consumer group (JoinGroup v1 + SyncGroup v0): returns
    (generation, member_id) once it is Stable."""
    with kp.Conn(broker.bootstrap) as c:
        j = c.call(kp.JOIN_GROUP, 1, group, protocols=(("range", kp.subscription(topics)),),
                   session_timeout=session_timeout, rebalance_timeout=session_timeout)
        assert j["error"] == 0, j
        s = c.call(kp.SYNC_GROUP, 0, group, j["generation"], j["member_id"],
                   [(j["member_id"], kp.assignment({t: [0] for t in topics}))])
        assert s["error"] == 0, s
    return j["generation"], j["member_id"]


def heartbeat(broker, group, generation, member):
    with kp.Conn(broker.bootstrap) as c:
        return c.call(kp.HEARTBEAT, 0, group, generation, member)["error"]


# ------------------------------------------------------------------ overflowing times

def test_commit_retention_overflow(broker):
    """OffsetCommit v2-4 RetentionTimeMs is added to the current time: 2^63-1
    overflowed (the sanitized build aborted).  Now the sum saturates: such a
    commit never expires; -2^63 expires at the next pass, as in Kafka (whose
    sum lies in the past)."""
    canary = Canary(broker, topic="adv-ret-canary", group="adv-ret-canary-g").plant()
    ck.create_topic(broker, "adv-ret", 1)
    for v in (2, 3, 4):
        assert commit(broker, "adv-ret-max-%d" % v, {"adv-ret": [(0, 40 + v, "")]}, version=v,
                      retention=I64_MAX) == {("adv-ret", 0): 0}
    assert commit(broker, "adv-ret-min", {"adv-ret": [(0, 7, "")]}, version=2,
                  retention=I64_MIN) == {("adv-ret", 0): 0}
    time.sleep(1.5)                                  # expiry passes run every 500 ms
    for v in (2, 3, 4):
        assert fetch(broker, "adv-ret-max-%d" % v, {"adv-ret": [0]}) == {("adv-ret", 0): (40 + v, "", 0)}
    assert fetch(broker, "adv-ret-min", {"adv-ret": [0]})[("adv-ret", 0)][0] == -1
    canary.check()


def test_commit_timestamp_overflow(broker_factory):
    """OffsetCommit v1 CommitTimestamp: with inter.broker.protocol.version
    below 2.1 every record carries commit + offsets.retention.minutes as its
    expire timestamp, which overflowed for 2^63-1."""
    b = broker_factory({"offsets.topic.num.partitions": "2", "inter.broker.protocol.version": "2.0",
                        "auto.create.topics.enable": "false"})
    canary = Canary(b).plant()
    ck.create_topic(b, "adv-cts", 2)
    assert commit_v1(b, "adv-cts-g", -1, "", "adv-cts", [(0, 11, I64_MAX), (1, 12, I64_MIN)]) == \
        {("adv-cts", 0): 0, ("adv-cts", 1): 0}
    assert fetch(b, "adv-cts-g", {"adv-cts": [0]}) == {("adv-cts", 0): (11, "", 0)}
    canary.check()
    restart(b)
    assert fetch(b, "adv-cts-g", {"adv-cts": [0]}) == {("adv-cts", 0): (11, "", 0)}
    canary.check()
    assert_peak_rss(b, 300)


def test_expiry_of_ancient_commit_timestamp(broker):
    """The expiry pass computes now - commit timestamp for the unsubscribed
    topics of a Stable consumer group: a v1 commit stamped -2^63 overflowed
    it.  Such a commit is older than any retention: it expires, the
    subscribed topic's commit stays."""
    canary = Canary(broker, topic="adv-exp-canary", group="adv-exp-canary-g").plant()
    ck.create_topic(broker, "adv-sub", 1)
    ck.create_topic(broker, "adv-unsub", 1)
    gen, member = join_one(broker, "adv-exp", ["adv-sub"])
    assert commit_v1(broker, "adv-exp", gen, member, "adv-unsub", [(0, 5, I64_MIN)]) == {("adv-unsub", 0): 0}
    assert commit_v1(broker, "adv-exp", gen, member, "adv-sub", [(0, 6, I64_MIN)]) == {("adv-sub", 0): 0}
    for _ in range(4):                               # expiry passes every 500 ms; keep the member alive
        time.sleep(0.5)
        assert heartbeat(broker, "adv-exp", gen, member) == 0
    assert fetch(broker, "adv-exp", {"adv-unsub": [0]})[("adv-unsub", 0)][0] == -1
    assert fetch(broker, "adv-exp", {"adv-sub": [0]}) == {("adv-sub", 0): (6, "", 0)}
    canary.check()


def test_timer_deadlines_from_huge_configs(broker_factory):
    """Timer deadlines are now + delay: the LONG keys that may be 2^63-1
    (connections.max.idle.ms, offsets.retention.check.interval.ms,
    log.cleaner.backoff.ms, log.retention.check.interval.ms) overflowed the
    event loop's deadline at the first connection."""
    big = str(I64_MAX)
    b = broker_factory({"connections.max.idle.ms": big, "offsets.retention.check.interval.ms": big,
                        "log.cleaner.backoff.ms": big, "log.retention.check.interval.ms": big,
                        "offsets.topic.num.partitions": "2"})
    canary = Canary(b).plant()
    join_one(b, "adv-timers", ["adv-canary"])
    canary.check()
    assert_peak_rss(b, 300)


def test_rebalance_delay_is_an_int(tmp_path):
    """group.initial.rebalance.delay.ms is an INT in Kafka: 2^63-1 was
    accepted and the first JoinGroup overflowed its deadline.  gregord now
    refuses the value at startup as Kafka does; 2^31-1 works."""
    b = helpers.Broker(tmp_path / "bad", {"group.initial.rebalance.delay.ms": str(I64_MAX)})
    with pytest.raises(helpers.BrokerDied):
        b.start()
    assert "group.initial.rebalance.delay.ms" in b.log_text()
    b = helpers.Broker(tmp_path / "ok", {"group.initial.rebalance.delay.ms": str((1 << 31) - 1),
                                         "offsets.topic.num.partitions": "2"})
    b.start()
    try:
        with kp.Conn(b.bootstrap) as c:           # parks for the delay; the close cancels it
            c.send(kp.JOIN_GROUP, 1, kp.enc_join_group("adv-delay", version=1))
            time.sleep(0.3)
        canary = Canary(b).plant()
        canary.check()
        assert not b.health_problems()
    finally:
        b.stop()
    assert not b.health_problems()


def test_rebalance_timeout_capped(broker_factory):
    """JoinGroup's RebalanceTimeoutMs is the client's: Kafka takes up to
    2^31-1 ms (24.8 days), and a member that joined once and never rejoins
    (its session as long as group.max.session.timeout.ms allows, 30
    minutes) holds every other member's JoinGroup until it is removed.
    gregord grants at most group.max.rebalance.timeout.ms: past it the
    silent member is removed and the rebalance completes without it."""
    b = broker_factory({"group.max.rebalance.timeout.ms": "3000", "group.initial.rebalance.delay.ms": "0",
                        "offsets.topic.num.partitions": "2", "auto.create.topics.enable": "false"})
    canary = Canary(b).plant()
    ck.create_topic(b, "adv-rto", 2)
    sub = (("range", kp.subscription(["adv-rto"])),)
    with kp.Conn(b.bootstrap) as c:
        j = c.call(kp.JOIN_GROUP, 1, "adv-rto-g", protocols=sub, session_timeout=1800000,
                   rebalance_timeout=(1 << 31) - 1)
        assert j["error"] == 0, j
        s = c.call(kp.SYNC_GROUP, 0, "adv-rto-g", j["generation"], j["member_id"],
                   [(j["member_id"], kp.assignment({"adv-rto": [0, 1]}))])
        assert s["error"] == 0, s
    hostile = j["member_id"]
    t0 = time.monotonic()
    with kp.Conn(b.bootstrap, timeout=60) as c:
        j2 = c.call(kp.JOIN_GROUP, 1, "adv-rto-g", protocols=sub, session_timeout=30000, rebalance_timeout=30000)
    took = time.monotonic() - t0
    print("a second member joined after %.1f s" % took)
    assert j2["error"] == 0, j2
    assert j2["leader"] == j2["member_id"] != hostile
    assert [m["member_id"] for m in j2["members"]] == [j2["member_id"]]
    assert took < 30, "JoinGroup answered after %.1f s (rebalance timeout 3 s)" % took
    canary.check()


def test_list_offsets_record_timestamp_overflow(broker):
    """ListOffsets by timestamp reads record timestamps as base + delta, which
    a producer chooses: 10 + (2^63-1) overflowed.  Kafka's arithmetic wraps
    (the record's timestamp is negative to every Java reader), so no record
    qualifies and the answer is offset -1."""
    canary = Canary(broker, topic="adv-lo-canary", group="adv-lo-canary-g").plant()
    ck.create_topic(broker, "adv-lo", 1)
    err, base, _ = produce_batch(broker, "adv-lo", batch(10, [0, I64_MAX], [b"a", b"b"], max_ts=I64_MAX))
    assert (err, base) == (0, 0)
    r = kp.call(broker.bootstrap, 2, 7, kp.list_offsets_v7([("adv-lo", [(0, 20)])]),
                kp.parse_list_offsets_v7, flexible=True)
    err, ts, off, _ = r[("adv-lo", 0)]
    assert (err, off, ts) == (0, -1, -1), r
    canary.check()


def test_cleaner_record_timestamp_overflow(broker):
    """The cleaner rebuilds a batch from its kept records, each timestamp
    base + delta: a batch stamped 2^63-1 with a record at delta 1 overflowed
    the cleaner thread.  Timestamps now wrap as Kafka's do, so the rebuilt
    batch reads back exactly the same."""
    canary = Canary(broker, topic="adv-cl-canary", group="adv-cl-canary-g").plant()
    ck.create_topic(broker, "adv-cl", 1, config={"cleanup.policy": "compact", "segment.ms": "100",
                                                 "min.cleanable.dirty.ratio": "0.01"})
    assert produce_batch(broker, "adv-cl", batch(I64_MAX, [0, 1], [b"k1", b"k2"]))[:2] == (0, 0)
    time.sleep(0.2)
    assert produce_batch(broker, "adv-cl", batch(1000, [0], [b"k1"]))[:2] == (0, 2)
    time.sleep(0.2)
    assert produce_batch(broker, "adv-cl", batch(1000, [0], [b"k3"]))[:2] == (0, 3)   # rolls again
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        recs, _ = read_log(broker, "adv-cl", 0)
        if [o for o, _, _ in recs][:1] == [1]:
            break
        time.sleep(0.2)
    recs, batches = read_log(broker, "adv-cl", 0)
    assert [(o, k) for o, k, _ in recs] == [(1, b"k2"), (2, b"k1"), (3, b"k3")], recs
    # the rewritten batch keeps k2's timestamp: base + delta, in wrapping arithmetic
    r = kp.call(broker.bootstrap, 1, 4, kp.fetch_v4([("adv-cl", [(0, 1, 1 << 20)])]), kp.parse_fetch_v4)
    bt = kp.split_batches(r[("adv-cl", 0)]["records"])[0]
    info = kp.batch_info(bt)
    assert info["base_offset"] <= 1 and info["base_ts"] in (I64_MIN, I64_MAX), info
    canary.check()


def test_topic_config_ranges(broker):
    """Topic keys of Kafka type INT (segment.bytes, max.message.bytes,
    index.interval.bytes, min.insync.replicas) must fit in 32 bits: Kafka
    answers INVALID_CONFIG, gregord accepted 2^32 and cut it (max.message.bytes
    became 0: every produce was refused).  LONG keys at 2^63-1 are legal
    and must not overflow anything that adds to them."""
    canary = Canary(broker, topic="adv-tc-canary", group="adv-tc-canary-g").plant()
    for key in ("segment.bytes", "max.message.bytes", "index.interval.bytes", "min.insync.replicas"):
        with pytest.raises(Exception) as ei:
            ck.create_topic(broker, "adv-tc-int", 1, config={key: str(1 << 32)})
        assert ck.error_code(ei.value) == INVALID_CONFIG, (key, ei.value)
    ck.create_topic(broker, "adv-tc-int", 1)
    for key in ("segment.bytes", "max.message.bytes", "index.interval.bytes"):
        assert incremental_alter(broker, "adv-tc-int", [(key, 0, str(I64_MAX))]) == INVALID_CONFIG, key
    assert produce_batch(broker, "adv-tc-int", batch(1000, [0], [b"x"]))[0] == 0
    big = str(I64_MAX)
    ck.create_topic(broker, "adv-tc-long", 1, config={
        "retention.ms": big, "segment.ms": big, "retention.bytes": big, "flush.ms": big,
        "flush.messages": big, "delete.retention.ms": big, "min.compaction.lag.ms": big})
    assert produce_batch(broker, "adv-tc-long", batch(I64_MAX, [0], [b"x"]))[:2] == (0, 0)
    assert produce_batch(broker, "adv-tc-long", batch(I64_MIN, [0], [b"y"]))[:2] == (0, 1)
    assert incremental_alter(broker, "adv-tc-long", [("cleanup.policy", 0, "compact,delete")]) == 0
    time.sleep(1.0)                                  # cleaner passes every 200 ms
    assert [k for _, k, _ in read_log(broker, "adv-tc-long", 0)[0]] == [b"x", b"y"]
    canary.check()


# ------------------------------------------------------------------ memory per group

def lag_metrics(b):
    """(gregor_lag_bytes, gregor_lag_windows) from /metrics."""
    with urllib.request.urlopen(b.http + "/metrics", timeout=60) as r:
        text = r.read().decode()
    vals = dict(ln.rsplit(" ", 1) for ln in text.splitlines()
                if ln.startswith(("gregor_lag_bytes ", "gregor_lag_windows ")))
    return float(vals["gregor_lag_bytes"]), float(vals["gregor_lag_windows"])


def test_many_groups_memory(broker_factory):
    """Standalone commits under 50,000 group ids, 4 offsets each (200,000
    offsets).  Before, every group allocated its whole 256-entry history
    ring (18 KB) at its first commit: 1.0 GB for this state; and every
    group's first commit made a lag record with a whole 120-sample series,
    unbounded by lag.window.max.partitions.  Now memory grows with what each
    group holds, the README's cost per group and per offset holds (with
    ASan's overhead), and the lag state is bounded in total and goes when
    the groups go.  After a restart every commit is back."""
    b = broker_factory({"offsets.topic.num.partitions": "10", "auto.create.topics.enable": "false"})
    canary = Canary(b).plant()
    ck.create_topic(b, "adv-many", 4)
    time.sleep(0.5)
    rss0 = rss_kb(b.pid)[0] * 1024
    frames = [kp.request(kp.OFFSET_COMMIT, 2, i + 1,
                         kp.enc_offset_commit("adv-g%d" % i, {"adv-many": [(p, i * 10 + p, "") for p in range(4)]},
                                              version=2))
              for i in range(MANY_GROUPS)]
    t0 = time.monotonic()
    for r in pipeline(b, frames):
        errs = kp.dec_offset_commit(r, 2)["errors"]
        assert set(errs.values()) == {0}, errs
    took = time.monotonic() - t0
    rss1 = rss_kb(b.pid)[0] * 1024
    canary.check()
    peak = peak_rss_mb(b)
    lag_bytes, lag_windows = lag_metrics(b)
    per_group = (rss1 - rss0) / MANY_GROUPS
    bound = ASAN_FACTOR * (MANY_GROUPS * (PER_GROUP_B + 4 * PER_OFFSET_B) + LAG_BOUND_B) / MANY_GROUPS
    print("50,000 groups x 4 offsets: %.1f s, RSS %.0f -> %.0f MiB (%.0f B per group, bound %.0f), "
          "peak %.0f MiB, lag state %.1f MiB in %d windows"
          % (took, rss0 / 2**20, rss1 / 2**20, per_group, bound, peak, lag_bytes / 2**20, lag_windows))
    assert per_group <= bound, "%.0f bytes per group > %.0f" % (per_group, bound)
    assert lag_windows <= 100_000
    assert lag_bytes <= LAG_BOUND_B, "the lag evaluation holds %.0f MiB" % (lag_bytes / 2**20)
    assert peak <= MANY_GROUPS_PEAK_RSS_MB, "peak RSS %.0f MiB > %d MiB" % (peak, MANY_GROUPS_PEAK_RSS_MB)

    restart(b)
    canary.check()              # waits for nothing: the canary's group may still be loading
    deadline = time.monotonic() + 120
    want = {"adv-g%d" % i for i in range(MANY_GROUPS)}
    got = {}
    while want and time.monotonic() < deadline:
        ids = sorted(want)
        frames = [kp.request(9, 8, n + 1, enc_offset_fetch_v8([(g, {"adv-many": [0, 1, 2, 3]})
                                                               for g in ids[k:k + 1000]]), flexible=True)
                  for n, k in enumerate(range(0, len(ids), 1000))]
        for r in pipeline(b, frames, window=10):
            for g, (err, offs) in dec_offset_fetch_v8(r).items():
                if err == kp.COORDINATOR_LOAD_IN_PROGRESS:
                    continue
                assert err == 0, (g, err)
                got[g] = offs
                want.discard(g)
        if want:
            time.sleep(0.2)
    assert not want, "%d groups not loaded within 120 s" % len(want)
    for i in range(MANY_GROUPS):
        assert got["adv-g%d" % i] == {("adv-many", p): (i * 10 + p, 0) for p in range(4)}, i
    canary.check()
    print("after restart: RSS %.0f MiB (peak %.0f), lag state %.1f MiB"
          % (rss_kb(b.pid)[0] / 1024, rss_kb(b.pid)[1] / 1024, lag_metrics(b)[0] / 2**20))
    assert lag_metrics(b)[0] <= LAG_BOUND_B

    assert_peak_rss(b, MANY_GROUPS_PEAK_RSS_MB)

    # the groups go: so does their lag state (dropped when sampled, every 5 s)
    ids = ["adv-g%d" % i for i in range(MANY_GROUPS)]
    frames = [kp.request(kp.DELETE_GROUPS, 0, n + 1, kp.enc_delete_groups(ids[k:k + 1000]))
              for n, k in enumerate(range(0, MANY_GROUPS, 1000))]
    for r in pipeline(b, frames, window=10):
        res = kp.dec_delete_groups(r)["results"]
        assert set(res.values()) == {0}, res
    deadline = time.monotonic() + 30
    while lag_metrics(b)[0] > 64 << 10 and time.monotonic() < deadline:
        time.sleep(1)
    assert lag_metrics(b)[0] <= 64 << 10, "the lag state of deleted groups is still held"
    print("after deleting the groups: RSS %.0f MiB (peak %.0f)" % (rss_kb(b.pid)[0] / 1024, rss_kb(b.pid)[1] / 1024))
    canary.check()
    assert_peak_rss(b, MANY_GROUPS_DELETED_PEAK_RSS_MB)


def test_history_long_client_ids(broker_factory):
    """Every commit that moves an offset is a history event holding the
    committer's id: for a standalone commit the client id, up to 32 KB.
    20,000 such commits under as many groups would keep 640 MB; the
    history is bounded in bytes (group.history.max.bytes, 16 MiB)."""
    b = broker_factory({"offsets.topic.num.partitions": "10", "auto.create.topics.enable": "false"})
    canary = Canary(b).plant()
    ck.create_topic(b, "adv-hist", 1)
    cid = "c" * 32000
    frames = [kp.request(kp.OFFSET_COMMIT, 2, i + 1,
                         kp.enc_offset_commit("adv-h%d" % i, {"adv-hist": [(0, i, "")]}, version=2),
                         client_id=cid)
              for i in range(HISTORY_COMMITS)]
    for r in pipeline(b, frames, window=100):
        assert kp.dec_offset_commit(r, 2)["errors"] == {("adv-hist", 0): 0}
    canary.check()
    assert fetch(b, "adv-h%d" % (HISTORY_COMMITS - 1), {"adv-hist": [0]}) == \
        {("adv-hist", 0): (HISTORY_COMMITS - 1, "", 0)}
    print("20,000 commits with 32 KB client ids: peak RSS %.0f MiB" % peak_rss_mb(b))
    assert_peak_rss(b, HISTORY_PEAK_RSS_MB)


# ------------------------------------------------------------------ a group too large to store

def big_group_round(b, conns, group, n, sub, member_ids=None):
    """All n members JoinGroup (v1, pipelined over conns) with their
    subscription, then every follower sends SyncGroup and, a moment later,
    the leader with the assignment.  Returns (member ids, generation, the
    leader's SyncGroup error, {follower SyncGroup error: count})."""
    per = (n + len(conns) - 1) // len(conns)
    for i in range(n):
        c = conns[i // per]
        mid = member_ids[i] if member_ids else ""
        c.send(kp.JOIN_GROUP, 1, kp.enc_join_group(group, member_id=mid, protocols=(("range", sub),),
                                                   session_timeout=60000, rebalance_timeout=60000,
                                                   version=1))
    joins = []
    for i in range(n):
        c = conns[i // per]
        r = kp.Reader(kp.recv_frame(c.s))
        r.i32()
        joins.append(kp.dec_join_group(r, 1))
    assert {j["error"] for j in joins} == {0}, {j["error"] for j in joins}
    gens = {j["generation"] for j in joins}
    assert len(gens) == 1, gens
    gen = gens.pop()
    [leader] = [j for j in joins if j["member_id"] == j["leader"]]
    assert len(leader["members"]) == n
    lc = kp.Conn(b.bootstrap, timeout=120)
    try:
        for i, j in enumerate(joins):
            if j is not leader:
                conns[i // per].send(kp.SYNC_GROUP, 0, kp.enc_sync_group(group, gen, j["member_id"]))
        time.sleep(0.3)             # followers first, as they usually are: they wait for the leader
        asg = [(m["member_id"], kp.assignment({"adv-big": [k % 4]})) for k, m in enumerate(leader["members"])]
        leader_err = lc.call(kp.SYNC_GROUP, 0, group, gen, leader["member_id"], asg)["error"]
    finally:
        lc.close()
    errs = {}
    for i, j in enumerate(joins):
        if j is leader:
            continue
        r = kp.Reader(kp.recv_frame(conns[i // per].s))
        r.i32()
        e = kp.dec_sync_group(r, 0)["error"]
        errs[e] = errs.get(e, 0) + 1
    return [j["member_id"] for j in joins], gen, leader_err, errs


def big_group(b, rounds, n=2000, md_bytes=10 * 1024):
    ck.create_topic(b, "adv-big", 4)
    sub = kp.subscription(["adv-big"], user_data=b"u" * md_bytes)
    conns = [kp.Conn(b.bootstrap, timeout=120) for _ in range(40)]
    try:
        out, ids = [], None
        for _ in range(rounds):
            ids, gen, leader_err, errs = big_group_round(b, conns, "adv-big-g", n, sub, ids)
            out.append((gen, leader_err, errs))
        return out
    finally:
        for c in conns:
            c.close()


# the SyncGroup with 1.5 M assignments is an 80 MB request: decoded, sorted and
# matched (measured 461 MiB peak under ASan, most of it ASan's quarantine)
SYNC_MANY_PEAK_RSS_MB = 640


def test_sync_group_with_millions_of_assignments(broker_factory):
    """A leader's SyncGroup may list any number of assignments (a 100 MB
    frame holds millions) for a group of thousands of members: matching each
    member with its assignment must not cost members x assignments (before:
    2,000 x 1,500,000 string compares on the event loop, everyone else
    waiting).  The last entry for a member wins, as in Kafka's map."""
    # an initial delay, so that all 2,000 pipelined joins make one generation
    broker = broker_factory(dict(BROKER_OVERRIDES, **{"group.initial.rebalance.delay.ms": "3000"}))
    n, junk = 2000, 1_500_000
    group = "adv-sync-many"
    conns = [kp.Conn(broker.bootstrap, timeout=120) for _ in range(20)]
    try:
        per = n // len(conns)
        for i in range(n):
            conns[i // per].send(kp.JOIN_GROUP, 1, kp.enc_join_group(group, session_timeout=60000,
                                                                     rebalance_timeout=60000, version=1))
        joins = []
        for i in range(n):
            r = kp.Reader(kp.recv_frame(conns[i // per].s))
            r.i32()
            joins.append(kp.dec_join_group(r, 1))
        assert {j["error"] for j in joins} == {0}
        assert len({j["generation"] for j in joins}) == 1
        gen = joins[0]["generation"]
        [leader] = [j for j in joins if j["member_id"] == j["leader"]]
        follower = next(j for j in joins if j is not leader)
        # junk ids that share a long prefix with the real ones (each compare
        # walks it), an early entry for the follower, then the real ones
        stem = leader["member_id"].encode()[:-8]
        asg = [(stem + b"%08d" % k, b"") for k in range(junk)]
        asg.append((follower["member_id"], b"early"))
        asg += [(j["member_id"], b"late-" + j["member_id"].encode()) for j in joins]
        fconn = kp.Conn(broker.bootstrap, timeout=120)
        fconn.send(kp.SYNC_GROUP, 0, kp.enc_sync_group(group, gen, follower["member_id"]))
        time.sleep(0.2)
        lc = kp.Conn(broker.bootstrap, timeout=120)
        t0 = time.monotonic()
        res = lc.call(kp.SYNC_GROUP, 0, group, gen, leader["member_id"], asg)
        took = time.monotonic() - t0
        lc.close()
        assert res["error"] == 0 and res["assignment"] == b"late-" + leader["member_id"].encode(), res
        r = fconn.recv()
        f = kp.dec_sync_group(r, 0)
        fconn.close()
        assert f == {"error": 0, "assignment": b"late-" + follower["member_id"].encode()}, f
        print("SyncGroup with %d assignments for %d members: %.1fs" % (len(asg), n, took))
        # measured: 2.4 s under ASan; the quadratic match took 16.4 s in an
        # optimised build (and far longer under ASan)
        assert took < 10, "SyncGroup took %.1fs" % took
    finally:
        for c in conns:
            c.close()
    Canary(broker, topic="adv-sync-canary", group="adv-sync-canary-g").plant().check()
    assert_peak_rss(broker, SYNC_MANY_PEAK_RSS_MB)


def test_big_group_record_too_large(broker_factory):
    """2,000 members with 10 KB of metadata each: the GroupMetadata record
    would be ~20 MB, above max.message.bytes of __consumer_offsets (1 MiB by
    default).  Kafka (both coordinators) maps the append's MESSAGE_TOO_LARGE
    to UNKNOWN_SERVER_ERROR for every SyncGroup of the generation and
    prepares a rebalance; the group never stabilises.  gregord answers the
    same, round after round, without building the record (the sizes are
    added up first), and other clients are served meanwhile."""
    b = broker_factory({"offsets.topic.num.partitions": "2", "group.initial.rebalance.delay.ms": "200",
                        "auto.create.topics.enable": "false"})
    canary = Canary(b).plant()
    end0 = read_offsets_end(b)
    rounds = big_group(b, 3)
    print("2,000 members x 10 KB, 3 rounds refused: peak RSS %.0f MiB" % peak_rss_mb(b))
    for i, (gen, leader_err, errs) in enumerate(rounds):
        # the leader and the followers that waited for it get the store's
        # error; a follower that syncs after it finds the group rebalancing
        assert gen == i + 1 and leader_err == UNKNOWN_SERVER_ERROR, rounds
        assert set(errs) <= {UNKNOWN_SERVER_ERROR, kp.REBALANCE_IN_PROGRESS} and sum(errs.values()) == 1999, rounds
    assert kp.describe_group(b.bootstrap, "adv-big-g")["state"] == "PreparingRebalance"
    assert read_offsets_end(b) == end0                  # nothing was written for the group
    assert "exceeds max.message.bytes" in b.log_text()
    canary.check()
    restart(b)
    canary.check()
    assert_peak_rss(b, BIG_GROUP_PEAK_RSS_MB)


def test_big_group_record_above_segment_size(broker_factory):
    """With message.max.bytes raised above the record but segment.bytes of
    __consumer_offsets below it, Kafka's log refuses the append
    (RecordBatchTooLargeException, RECORD_LIST_TOO_LARGE), which its
    coordinator also maps to UNKNOWN_SERVER_ERROR: a record never exceeds
    the segment size.  gregord wrote it."""
    b = broker_factory({"offsets.topic.num.partitions": "2", "group.initial.rebalance.delay.ms": "200",
                        "message.max.bytes": str(64 << 20), "offsets.topic.segment.bytes": str(16 << 20),
                        "auto.create.topics.enable": "false"})
    canary = Canary(b).plant()
    [(gen, leader_err, errs)] = big_group(b, 1)
    assert leader_err == UNKNOWN_SERVER_ERROR, (leader_err, errs)
    assert set(errs) <= {UNKNOWN_SERVER_ERROR, kp.REBALANCE_IN_PROGRESS}, errs
    assert "exceeds segment.bytes" in b.log_text()
    canary.check()
    assert_peak_rss(b, BIG_GROUP_PEAK_RSS_MB)


def test_big_group_stores_when_allowed(broker_factory):
    """Kafka's remedy: a max.message.bytes (here the broker's
    message.max.bytes) that holds the record.  The group then stabilises
    and is back after a restart."""
    b = broker_factory({"offsets.topic.num.partitions": "2", "group.initial.rebalance.delay.ms": "200",
                        "message.max.bytes": str(32 << 20), "auto.create.topics.enable": "false"})
    canary = Canary(b).plant()
    [(gen, leader_err, errs)] = big_group(b, 1)
    assert (leader_err, errs) == (0, {0: 1999}), (leader_err, errs)
    assert kp.describe_group(b.bootstrap, "adv-big-g")["state"] == "Stable"
    canary.check()
    restart(b)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        g = kp.describe_group(b.bootstrap, "adv-big-g")
        if g["error"] != kp.COORDINATOR_LOAD_IN_PROGRESS:
            break
        time.sleep(0.2)
    assert (g["error"], g["state"], len(g["members"])) == (0, "Stable", 2000)
    canary.check()
    print("2,000 members x 10 KB stored, after restart: peak RSS %.0f MiB" % peak_rss_mb(b))
    assert_peak_rss(b, BIG_GROUP_PEAK_RSS_MB)


def read_offsets_end(b, nparts=2):
    """Sum of the high watermarks of __consumer_offsets."""
    res = kp.call(b.bootstrap, 1, 4, kp.fetch_v4([("__consumer_offsets", [(p, 0, 0) for p in range(nparts)])]),
                  kp.parse_fetch_v4)
    assert all(v["error"] == 0 for v in res.values()), res
    return sum(v["hw"] for v in res.values())


# ------------------------------------------------------------------ last

def test_module_peak_rss(broker):
    """Peak RSS of the module broker through every attack above."""
    peak = assert_peak_rss(broker, MODULE_PEAK_RSS_MB)
    print("module broker peak RSS: %.0f MiB (bound %d MiB)" % (peak, MODULE_PEAK_RSS_MB))
