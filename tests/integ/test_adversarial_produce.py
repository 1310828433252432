"""Adversarial producers and admins: what a hostile client may write into a
log, and what it may do to the internal topics.

* Record batch headers are the producer's: control batches, transactional
  batches and LogAppendTime are refused with Kafka's errors, idempotent
  batches get the producer state's checks (test_idempotence.py);
  maxTimestamp, the delete-horizon bit, offsets and leader epoch are never
  taken from the client.  Records produced without a timestamp (librdkafka
  writes a header maxTimestamp of 0 for them) survive retention.
* Retention runs every log.retention.check.interval.ms, not every minute.
* __consumer_offsets cannot be deleted, grown, reconfigured into retention
  or shadowed by client-created internal topics, and a data dir whose
  __consumer_offsets carries a destructive override from an older version
  keeps its commits.

Every attack is bounded in count and time and followed by a Canary check
(a normal client served within 1 s, nothing acknowledged lost), after a
restart where the attack aims at what survives one.  The module ends with a
peak-RSS bound on its shared broker (PEAK_RSS_MB, ASan build included)."""
import os
import re
import time
import zlib

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ConfigResource, NewPartitions, NewTopic

import ck
import kproto as kp
import ktxn as kt
from adversary import Canary, assert_peak_rss, keep_peak, restart
from helpers import kcat, wait_until
from storage_check import fetch_raw, read_log

BROKER_OVERRIDES = {"num.partitions": "1", "log.retention.check.interval.ms": "100"}

# Peak RSS (VmHWM) of any broker of this module, sanitized build included:
# measured 13-15 MiB for the shared broker, 23 MiB with __consumer_offsets'
# 50 partitions loaded and restarted.
PEAK_RSS_MB = 64

NONE = 0
INVALID_TOPIC_EXCEPTION = 17
INVALID_TIMESTAMP = 32
TOPIC_ALREADY_EXISTS = 36
INVALID_REQUEST = 42
POLICY_VIOLATION = 44
INVALID_PRODUCER_ID_MAPPING = 49
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
INVALID_RECORD = 87
UNKNOWN_TOPIC_OR_PARTITION = 3

ATTR_LOG_APPEND_TIME = 0x08
ATTR_TRANSACTIONAL = 0x10
ATTR_CONTROL = 0x20
ATTR_DELETE_HORIZON = 0x40
INT64_MAX = (1 << 63) - 1
HOUR_MS = 3600 * 1000


def now_ms():
    return int(time.time() * 1000)

# ------------------------------------------------------------------ wire


def batch(values, timestamps=None, base_ts=None, max_ts=None, attributes=0, producer_id=-1,
          producer_epoch=-1, base_sequence=-1, offset_deltas=None, base_offset=0, leader_epoch=-1):
    """A v2 batch with every header field chosen by the caller.  Record i
    has timestamp timestamps[i] (delta from base_ts) and offset delta
    offset_deltas[i]; max_ts defaults to what the records say."""
    n = len(values)
    if timestamps is None:
        timestamps = [now_ms()] * n
    if base_ts is None:
        base_ts = min(timestamps)
    if max_ts is None:
        max_ts = max(timestamps)
    if offset_deltas is None:
        offset_deltas = list(range(n))
    recs = b"".join(kp.record(od, b"k%d" % i, v, ts_delta=t - base_ts)
                    for i, (v, t, od) in enumerate(zip(values, timestamps, offset_deltas)))
    after_crc = (kp.i16(attributes) + kp.i32(n - 1) + kp.i64(base_ts) + kp.i64(max_ts)
                 + kp.i64(producer_id) + kp.i16(producer_epoch) + kp.i32(base_sequence) + kp.i32(n) + recs)
    tail = kp.i32(leader_epoch) + kp.i8(2) + kp.u32(kp.crc32c(after_crc)) + after_crc
    return kp.i64(base_offset) + kp.i32(len(tail)) + tail


def legacy_message(value, ts, attributes=0):
    """A magic 1 message set of one message."""
    body = kp.i8(1) + kp.i8(attributes) + kp.i64(ts) + kp.i32(-1) + kp.i32(len(value)) + value
    msg = kp.u32(zlib.crc32(body) & 0xFFFFFFFF) + body
    return kp.i64(0) + kp.i32(len(msg)) + msg


def produce(b, parts, transactional_id=None, acks=-1):
    """parts: [(topic, partition, record data)] in one Produce v3 request.
    Returns {(topic, partition): error}."""
    by_topic = {}
    for t, p, data in parts:
        by_topic.setdefault(t, []).append(kp.i32(p) + kp.bytes32(data))
    body = (kp.string(transactional_id) + kp.i16(acks) + kp.i32(5000)
            + kp.array([kp.string(t) + kp.array(ps) for t, ps in by_topic.items()]))
    res = kp.call(b.bootstrap, 0, 3, body, kp.parse_produce_v3)
    return {k: v[0] for k, v in res.items()}


def produce1(b, topic, data, **kw):
    return produce(b, [(topic, 0, data)], **kw)[(topic, 0)]


def stored_batches(b, topic, offset=0):
    """The batches the broker serves from `offset` (raw Fetch v4)."""
    r = fetch_raw(b, topic, 0, offset)
    assert r["error"] == 0, r
    return [kp.batch_info(x) for x in kp.split_batches(r["records"])], r["hw"]


def log_start(b, topic):
    res = kp.call(b.bootstrap, 2, 7, kp.list_offsets_v7([(topic, [(0, -2)])]), kp.parse_list_offsets_v7,
                  flexible=True)
    err, _, off, _ = res[(topic, 0)]
    assert err == 0
    return off


def list_offsets(b, topic, ts):
    res = kp.call(b.bootstrap, 2, 7, kp.list_offsets_v7([(topic, [(0, ts)])]), kp.parse_list_offsets_v7,
                  flexible=True)
    return res[(topic, 0)][:3]


def incremental_alter(b, topic, ops, validate_only=False):
    """IncrementalAlterConfigs v0 on one topic; ops: [(name, op, value)]
    with op 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT.  -> (error, message)."""
    cfgs = [kp.string(n) + kp.i8(op) + kp.string(v) for n, op, v in ops]
    body = kp.array([kp.i8(2) + kp.string(topic) + kp.array(cfgs)]) + kp.i8(int(validate_only))
    r = kp.Reader(kp.roundtrip(b.bootstrap, kp.request(44, 0, 9, body)))
    assert r.i32() == 9
    r.i32()
    assert r.i32() == 1
    err, msg = r.i16(), r.string()
    assert (r.i8(), r.string()) == (2, topic)
    return err, msg


def metadata_v4(b, topics, allow_auto_create=True):
    """-> {name: (error, is_internal, partition count)}"""
    body = kp.array([kp.string(t) for t in topics]) + kp.i8(int(allow_auto_create))
    r = kp.Reader(kp.roundtrip(b.bootstrap, kp.request(3, 4, 5, body)))
    assert r.i32() == 5
    r.i32()                                      # throttle
    for _ in range(r.i32()):
        r.i32(), r.string(), r.i32(), r.string()
    r.string(), r.i32()                          # cluster id, controller
    out = {}
    for _ in range(r.i32()):
        err, name, internal = r.i16(), r.string(), r.i8()
        n = r.i32()
        for _ in range(n):
            r.i16(), r.i32(), r.i32()
            [r.i32() for _ in range(r.i32())]
            [r.i32() for _ in range(r.i32())]
        out[name] = (err, bool(internal), n)
    return out


def commit(b, group, topic, offset):
    with kp.Conn(b.bootstrap) as c:
        r = c.call(kp.OFFSET_COMMIT, 2, group, {topic: [(0, offset, "")]})
    assert r["errors"] == {(topic, 0): 0}, r


def committed(b, group, topic):
    with kp.Conn(b.bootstrap) as c:
        r = c.call(kp.OFFSET_FETCH, 1, group, {topic: [0]})
    o, _, err = r["offsets"][(topic, 0)]
    assert err == 0
    return o


def finish(b, canary):
    """The checks that end every attack on broker b."""
    canary.check()
    assert_peak_rss(b, PEAK_RSS_MB)

# ------------------------------------------- producers writing what they must not


def test_control_idempotent_transactional_batches_refused(broker):
    canary = Canary(broker, topic="adv-p-canary", group="adv-p-group").plant()
    topic = ck.create_topic(broker, "adv-p-flags")
    other = ck.create_topic(broker, "adv-p-other")
    v = [b"x1", b"x2"]
    # (batch, transactional id, expected error): Kafka's LogValidator for a
    # client, and the transaction coordinator's verification of a
    # transactional batch of a producer id it never gave "tx" (KIP-890;
    # transactions: test_transactions.py, idempotent batches:
    # test_idempotence.py); a transactional batch without a producer id is
    # refused too (Kafka would store it as a plain batch)
    with kp.Conn(broker.bootstrap) as c:
        assert c.call(kp.FIND_COORDINATOR, 1, "tx", key_type=1)["error"] == 0
    cases = [
        (batch(v, attributes=ATTR_CONTROL), None, INVALID_RECORD),
        (batch(v, attributes=ATTR_CONTROL | ATTR_TRANSACTIONAL, producer_id=7, producer_epoch=0,
               base_sequence=0), None, TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
        # verification comes before the batch checks (Kafka's handleProduceAppend)
        (batch(v, attributes=ATTR_CONTROL | ATTR_TRANSACTIONAL, producer_id=7, producer_epoch=0,
               base_sequence=0), "tx", INVALID_PRODUCER_ID_MAPPING),
        (batch(v, producer_id=7, producer_epoch=0, base_sequence=-1), None, INVALID_RECORD),
        (batch(v, attributes=ATTR_TRANSACTIONAL, producer_id=7, producer_epoch=0, base_sequence=0), "tx",
         INVALID_PRODUCER_ID_MAPPING),
        (batch(v, attributes=ATTR_TRANSACTIONAL), "tx", INVALID_RECORD),
        (batch(v, attributes=ATTR_LOG_APPEND_TIME, max_ts=0), None, INVALID_TIMESTAMP),
        (legacy_message(b"old", now_ms(), attributes=ATTR_LOG_APPEND_TIME), None, INVALID_TIMESTAMP),
    ]
    for data, txn, want in cases:
        assert produce1(broker, topic, data, transactional_id=txn) == want, (data[:64], txn)
    # a transactional batch without a transactional id fails the whole
    # request, its innocent partitions included (Kafka's handleProduceRequest)
    res = produce(broker, [(other, 0, batch([b"innocent"])),
                           (topic, 0, batch(v, attributes=ATTR_TRANSACTIONAL, producer_id=7, producer_epoch=0,
                                            base_sequence=0))])
    assert res == {(other, 0): TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                   (topic, 0): TRANSACTIONAL_ID_AUTHORIZATION_FAILED}
    # hidden behind a good batch of the same partition: nothing is written
    assert produce1(broker, topic, batch([b"good"]) + batch(v, attributes=ATTR_CONTROL)) == INVALID_RECORD
    for t in (topic, other):
        bts, hw = stored_batches(broker, t)
        assert (bts, hw) == ([], 0), "%s holds data after refused produces" % t
    # a normal producer is served as before
    reports = ck.produce(broker, topic, [{"value": b"plain-%d" % i} for i in range(5)])
    assert [r[:2] for r in reports] == [(None, i) for i in range(5)]
    got = ck.consume(broker, topic, 5)
    assert [m.value() for m in got] == [b"plain-%d" % i for i in range(5)]
    finish(broker, canary)


def test_hostile_header_fields_not_trusted(broker):
    canary = Canary(broker, topic="adv-h-canary", group="adv-h-group").plant()
    topic = ck.create_topic(broker, "adv-h", config={"retention.ms": str(HOUR_MS)})
    t0 = now_ms()
    # maxTimestamp 0 on records of now: would be deleted by the next check
    assert produce1(broker, topic, batch([b"a", b"b"], timestamps=[t0, t0 + 1], max_ts=0)) == NONE
    # forged base offset and leader epoch, the cleaner's delete-horizon bit
    assert produce1(broker, topic, batch([b"c"], timestamps=[t0 + 2], base_offset=123456789, leader_epoch=77,
                                         attributes=ATTR_DELETE_HORIZON, max_ts=INT64_MAX)) == NONE
    # offset deltas that are not 0..n-1 (they would be taken for offsets)
    assert produce1(broker, topic, batch([b"d", b"e", b"f"], offset_deltas=[0, 0, 2])) == INVALID_RECORD
    assert produce1(broker, topic, batch([b"d", b"e"], offset_deltas=[1, 0])) == INVALID_RECORD
    # timestamps at the int64 edge: the first record's baseTimestamp + delta
    # overflows (Java wraps it to a negative timestamp)
    edge = [INT64_MAX + 4, INT64_MAX - 1, INT64_MAX]
    assert produce1(broker, topic, batch([b"g", b"h", b"i"], timestamps=edge, base_ts=INT64_MAX - 1,
                                         max_ts=5)) == NONE
    time.sleep(0.5)                              # several retention checks
    bts, hw = stored_batches(broker, topic)
    assert hw == 6 and log_start(broker, topic) == 0
    assert [(x["base_offset"], x["last_offset_delta"]) for x in bts] == [(0, 1), (2, 0), (3, 2)]
    assert [x["max_ts"] for x in bts] == [t0 + 1, t0 + 2, INT64_MAX]
    assert all(x["leader_epoch"] == 0 for x in bts)
    assert not any(x["attributes"] & ATTR_DELETE_HORIZON for x in bts)
    # ListOffsets by timestamp over those records
    assert list_offsets(broker, topic, t0 + 1) == (NONE, t0 + 1, 1)
    assert list_offsets(broker, topic, INT64_MAX - 1) == (NONE, INT64_MAX - 1, 4)
    assert list_offsets(broker, topic, -3) == (NONE, INT64_MAX, 5)
    recs, _ = read_log(broker, topic, 0)
    assert [v for _, _, v in recs] == [b"a", b"b", b"c", b"g", b"h", b"i"]
    # the rewritten headers (new CRCs) pass the recovery of an unclean stop
    restart(broker, kill=True)
    assert stored_batches(broker, topic) == (bts, 6)
    recs, _ = read_log(broker, topic, 0)
    assert [v for _, _, v in recs] == [b"a", b"b", b"c", b"g", b"h", b"i"]
    finish(broker, canary)


def test_forged_future_max_timestamp_does_not_defeat_retention(broker):
    """A header maxTimestamp far in the future on old records: retention
    goes by the records and deletes them."""
    canary = Canary(broker, topic="adv-f-canary", group="adv-f-group").plant()
    topic = ck.create_topic(broker, "adv-f", config={"retention.ms": str(HOUR_MS), "segment.bytes": "1048576"})
    old = now_ms() - 2 * HOUR_MS
    assert produce1(broker, topic, batch([b"old"], timestamps=[old], max_ts=INT64_MAX)) == NONE
    wait_until(lambda: log_start(broker, topic) == 1, timeout=10, what="the old record deleted by retention")
    finish(broker, canary)

# --------------------------------------------------------- records without timestamps


def test_records_without_timestamp_survive_retention(broker_factory):
    b = broker_factory({"log.retention.check.interval.ms": 100})
    canary = Canary(b, topic="adv-t-canary", group="adv-t-group").plant()
    topic = ck.create_topic(b, "adv-nots", config={"retention.ms": "60000"})
    # beside it, a record past its retention: its deletion shows that a
    # retention check ran over both topics
    control = ck.create_topic(b, "adv-nots-control", config={"retention.ms": "60000"})
    reports = ck.produce(b, topic, [{"value": b"nots-%d" % i, "timestamp": -1} for i in range(20)])
    assert [r[:2] for r in reports] == [(None, i) for i in range(20)]
    for run in range(2):
        assert produce1(b, control, batch([b"old"], timestamps=[now_ms() - 2 * HOUR_MS])) == NONE
        wait_until(lambda: log_start(b, control) == run + 1, timeout=10, what="retention deleted the control record")
        assert log_start(b, topic) == 0, "records without timestamps deleted by retention"
        recs, _ = read_log(b, topic, 0)
        assert [v for _, _, v in recs] == [b"nots-%d" % i for i in range(20)]
        restart(b)                               # the file's mtime stands in after a restart too
    bts, _ = stored_batches(b, topic)
    assert bts and all(x["max_ts"] == -1 for x in bts), bts    # what the records say
    # kcat reads them back, without timestamps
    cp = kcat(b, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", "%T %s\n")
    assert cp.stdout.splitlines() == ["-1 nots-%d" % i for i in range(20)]
    finish(b, canary)


def test_retention_check_interval_honoured(broker_factory):
    """log.retention.check.interval.ms (Kafka's default 300000) decides when
    retention runs: not every minute, and not one second after startup; and
    every later sweep comes one interval after the one before (a record
    that expired just after a sweep goes at the next one, neither at once
    nor after a fixed longer period)."""
    old = now_ms() - 2 * HOUR_MS
    b = broker_factory()
    canary = Canary(b, topic="adv-i-canary", group="adv-i-group").plant()
    topic = ck.create_topic(b, "adv-interval", config={"retention.ms": str(HOUR_MS)})
    assert produce1(b, topic, batch([b"old"], timestamps=[old])) == NONE
    time.sleep(3.0)
    assert log_start(b, topic) == 0, "retention ran before log.retention.check.interval.ms"
    finish(b, canary)
    b2 = broker_factory({"log.retention.check.interval.ms": 300})
    topic = ck.create_topic(b2, "adv-interval", config={"retention.ms": str(HOUR_MS)})
    assert produce1(b2, topic, batch([b"old"], timestamps=[old])) == NONE
    wait_until(lambda: log_start(b2, topic) == 1, timeout=10, what="retention with a 300 ms check interval")
    # sweeps every 4 s: after each one an expired record is written, and
    # the next sweep (seen within ~50 ms polling) deletes it one interval on
    iv = 4.0
    b3 = broker_factory({"log.retention.check.interval.ms": int(iv * 1000)})
    topic = ck.create_topic(b3, "adv-interval", config={"retention.ms": str(HOUR_MS)})
    seen = []
    for i in range(4):
        assert produce1(b3, topic, batch([b"old-%d" % i], timestamps=[old])) == NONE
        deadline = time.monotonic() + iv + 30
        while log_start(b3, topic) == i and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log_start(b3, topic) == i + 1, "no retention sweep within %.0f s" % (iv + 30)
        seen.append(time.monotonic())
    gaps = [t1 - t0 for t0, t1 in zip(seen, seen[1:])]
    print("retention sweeps seen %s s apart (interval %.0f s)" % (["%.2f" % g for g in gaps], iv))
    # each gap is one interval, give or take how late a sweep was seen
    assert all(iv - 1.5 <= g <= iv + 10 for g in gaps), gaps

# -------------------------------------------------------------- internal topics


def offsets_properties(b):
    path = os.path.join(b.data_dir, ".topics", "__consumer_offsets.properties")
    assert os.path.exists(path), os.listdir(os.path.join(b.data_dir, ".topics"))
    return path


def plant_groups(b, topic, n=20):
    """n groups committing on many __consumer_offsets partitions."""
    for i in range(n):
        commit(b, "adv-g-%d" % i, topic, 100 + i)


def check_groups(b, topic, n=20):
    assert [committed(b, "adv-g-%d" % i, topic) for i in range(n)] == [100 + i for i in range(n)]


def admin_error(fut):
    with pytest.raises(KafkaException) as ei:
        fut.result(timeout=20)
    return ck.error_code(ei.value)


def test_internal_topic_abuse(broker_factory):
    b = broker_factory({"log.retention.check.interval.ms": 100})
    canary = Canary(b, topic="adv-o-canary", group="adv-o-group").plant()
    plant_groups(b, canary.topic)

    def grow():
        # 50 -> 60 partitions: every group would move to another partition
        a = ck.admin(b)
        for vo in (True, False):
            fs = a.create_partitions([NewPartitions("__consumer_offsets", 60)], validate_only=vo,
                                     request_timeout=15)
            assert admin_error(fs["__consumer_offsets"]) == INVALID_TOPIC_EXCEPTION

    def delete():
        fs = ck.admin(b).delete_topics(["__consumer_offsets"], request_timeout=15)
        assert admin_error(fs["__consumer_offsets"]) == INVALID_TOPIC_EXCEPTION

    def create_reserved():
        a = ck.admin(b)
        for name in ("__transaction_state", "__share_group_state", "__cluster_metadata"):
            for vo in (True, False):
                fs = a.create_topics([NewTopic(name, 3, 1, config={"cleanup.policy": "delete"})], validate_only=vo,
                                     request_timeout=15)
                assert admin_error(fs[name]) == INVALID_REQUEST, name
        fs = a.create_topics([NewTopic("__consumer_offsets", 3, 1)], request_timeout=15)
        assert admin_error(fs["__consumer_offsets"]) == TOPIC_ALREADY_EXISTS

    def auto_create_reserved():
        md = metadata_v4(b, ["__transaction_state", "__share_group_state", "__cluster_metadata"])
        assert md == {"__transaction_state": (UNKNOWN_TOPIC_OR_PARTITION, True, 0),
                      "__share_group_state": (UNKNOWN_TOPIC_OR_PARTITION, True, 0),
                      "__cluster_metadata": (UNKNOWN_TOPIC_OR_PARTITION, False, 0)}
        names = set(ck.admin(b).list_topics(timeout=10).topics)
        assert not names & {"__transaction_state", "__share_group_state", "__cluster_metadata"}, names

    def reconfigure():
        # configurations that would let retention delete the commits, or
        # make the coordinator's writes fail
        for ops in ([("cleanup.policy", 0, "delete"), ("retention.ms", 0, "1")],
                    [("cleanup.policy", 0, "compact,delete")],
                    [("cleanup.policy", 0, "delete,compact")],
                    [("cleanup.policy", 2, "delete")],
                    [("cleanup.policy", 1, None)],
                    [("max.message.bytes", 0, "100")]):
            for validate_only in (True, False):
                err, msg = incremental_alter(b, "__consumer_offsets", ops, validate_only)
                assert err == POLICY_VIOLATION, (ops, err, msg)
                assert "__consumer_offsets" in msg
        # harmless ones still work (retention is off for a compacted topic)
        assert incremental_alter(b, "__consumer_offsets", [("retention.ms", 0, "1"), ("retention.bytes", 0, "0"),
                                                           ("max.message.bytes", 0, "2000000")]) == (NONE, None)
        res = ConfigResource(ConfigResource.Type.TOPIC, "__consumer_offsets")
        cfg = ck.admin(b).describe_configs([res], request_timeout=15)[res].result(timeout=20)
        assert cfg["cleanup.policy"].value == "compact"

    def append():
        assert produce1(b, "__consumer_offsets", batch([b"forged"])) == INVALID_TOPIC_EXCEPTION

    for attack in (grow, delete, create_reserved, auto_create_reserved, reconfigure, append):
        attack()
        time.sleep(0.5)                          # five retention checks
        restart(b)
        canary.check()
        check_groups(b, canary.topic)
        md = metadata_v4(b, ["__consumer_offsets"], allow_auto_create=False)
        assert md["__consumer_offsets"] == (NONE, True, 50), attack.__name__
    finish(b, canary)


def test_transaction_state_abuse(broker_factory):
    """__transaction_state is the transaction coordinator's state, kept as
    __consumer_offsets is: it cannot be deleted or given more partitions
    (a transactional id's partition is its hash modulo the count), its
    cleanup.policy stays compact and its max.message.bytes at least
    message.max.bytes, retention never deletes it, and clients cannot write
    to it (Produce; AddPartitionsToTxn answers TOPIC_AUTHORIZATION_FAILED,
    as Kafka's broker does for internal topics).  After each attack and a
    restart a committed, an ongoing and an empty transaction are all back.
    (The refusal of a destructive cleanup.policy named the commits and
    groups of __consumer_offsets whichever topic it was about.)"""
    b = broker_factory({"log.retention.check.interval.ms": 100})
    canary = Canary(b, topic="adv-t-canary", group="adv-t-group").plant()
    topic = ck.create_topic(b, "adv-txn")
    with kt.Txn(b.bootstrap) as t:
        pc, ec = kt.begin(t, "adv-txn-c", {topic: [0]})
        assert t.produce(topic, 0, kt.tbatch([b"c0", b"c1"], pc, ec, 0), txn_id="adv-txn-c")[0] == NONE
        assert t.end_retry("adv-txn-c", pc, ec, True) == NONE
        po, eo = kt.begin(t, "adv-txn-o", {topic: [0]}, timeout_ms=900000)     # stays Ongoing
        assert t.produce(topic, 0, kt.tbatch([b"o0"], po, eo, 0), txn_id="adv-txn-o")[0] == NONE
        err, pe, ee = t.init_retry("adv-txn-e")
        assert err == NONE
    ids = ["adv-txn-c", "adv-txn-o", "adv-txn-e"]
    want = [(NONE, "CompleteCommit", pc, ec), (NONE, "Ongoing", po, eo), (NONE, "Empty", pe, ee)]
    nparts = metadata_v4(b, ["__transaction_state"], allow_auto_create=False)["__transaction_state"][2]
    assert nparts > 1

    def check_txns():
        deadline = time.monotonic() + 30
        with kt.Txn(b.bootstrap) as t:
            while True:
                d = [(x["error"], x["state"], x["pid"], x["epoch"]) for x in t.describe(ids)]
                if all(x[0] != kp.COORDINATOR_LOAD_IN_PROGRESS for x in d) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert d == want
            f = t.fetch(topic, 0, 0, isolation=1)
            assert f["error"] == NONE and f["lso"] == 3, f          # c0 c1 marker | o0: the ongoing one holds the LSO
        md = metadata_v4(b, ["__transaction_state"], allow_auto_create=False)
        assert md["__transaction_state"] == (NONE, True, nparts)

    def grow():
        a = ck.admin(b)
        for vo in (True, False):
            fs = a.create_partitions([NewPartitions("__transaction_state", nparts + 10)], validate_only=vo,
                                     request_timeout=15)
            assert admin_error(fs["__transaction_state"]) == INVALID_TOPIC_EXCEPTION

    def delete():
        fs = ck.admin(b).delete_topics(["__transaction_state"], request_timeout=15)
        assert admin_error(fs["__transaction_state"]) == INVALID_TOPIC_EXCEPTION

    def create():
        fs = ck.admin(b).create_topics([NewTopic("__transaction_state", 3, 1, config={"cleanup.policy": "delete"})],
                                       request_timeout=15)
        assert admin_error(fs["__transaction_state"]) == TOPIC_ALREADY_EXISTS

    def reconfigure():
        for ops in ([("cleanup.policy", 0, "delete"), ("retention.ms", 0, "1")],
                    [("cleanup.policy", 0, "compact,delete")],
                    [("cleanup.policy", 2, "delete")],
                    [("cleanup.policy", 1, None)],
                    [("max.message.bytes", 0, "100")]):
            for validate_only in (True, False):
                err, msg = incremental_alter(b, "__transaction_state", ops, validate_only)
                assert err == POLICY_VIOLATION, (ops, err, msg)
                assert "__transaction_state" in msg and "offsets" not in msg, msg
        # harmless ones work, and retention stays off for the compacted topic
        assert incremental_alter(b, "__transaction_state", [("retention.ms", 0, "1"), ("retention.bytes", 0, "0")]) \
            == (NONE, None)

    def append():
        for p in range(nparts):
            assert produce(b, [("__transaction_state", p, batch([b"forged"]))])[("__transaction_state", p)] \
                == INVALID_TOPIC_EXCEPTION
        with kt.Txn(b.bootstrap) as t:
            err, pid, epoch = t.init_retry("adv-txn-x")
            assert err == NONE
            assert t.add_partitions("adv-txn-x", pid, epoch, {"__transaction_state": [0], topic: [0]}) == \
                {("__transaction_state", 0): kt.TOPIC_AUTHORIZATION_FAILED, (topic, 0): kt.OPERATION_NOT_ATTEMPTED}
            [d] = t.describe(["adv-txn-x"])
            assert (d["state"], d["topics"]) == ("Empty", {}), d           # nothing was added
            # WriteTxnMarkers is the brokers' own request (Kafka allows it
            # without an authorizer, also on internal topics): markers
            # written into __transaction_state do not disturb its state
            res = t.write_markers([(pid, epoch, False, 0, {"__transaction_state": list(range(nparts))})])
            assert len(res) == nparts, res

    check_txns()
    for attack in (grow, delete, create, reconfigure, append):
        attack()
        time.sleep(0.5)                          # five retention checks
        restart(b)
        canary.check()
        check_txns()
    finish(b, canary)


def test_destructive_override_left_on_disk(broker_factory):
    """A data dir whose __consumer_offsets carries cleanup.policy=delete and
    retention.ms=1 (accepted by an older version) keeps its commits."""
    b = broker_factory({"log.retention.check.interval.ms": 100})
    canary = Canary(b, topic="adv-d-canary", group="adv-d-group").plant()
    plant_groups(b, canary.topic)
    keep_peak(b)
    b.stop()
    path = offsets_properties(b)
    with open(path) as f:
        text = f.read()
    assert "config.cleanup.policy=compact" in text, text
    text = text.replace("config.cleanup.policy=compact", "config.cleanup.policy=delete")
    text += "config.retention.ms=1\nconfig.retention.bytes=0\nconfig.max.message.bytes=10\n"
    with open(path, "w") as f:
        f.write(text)
    b.start()
    time.sleep(1.0)                              # ten retention checks
    canary.check()
    check_groups(b, canary.topic)
    restart(b)
    canary.check()
    check_groups(b, canary.topic)
    with open(path) as f:
        text = f.read()
    assert "config.cleanup.policy=compact" in text and "max.message.bytes" not in text, text
    assert re.search(r"WARN.*__consumer_offsets.*cleanup\.policy=delete", b.log_text()), b.log_tail()
    # and the coordinator still writes
    commit(b, "adv-g-after", canary.topic, 7)
    assert committed(b, "adv-g-after", canary.topic) == 7
    finish(b, canary)


# ------------------------------------------- producer ids made up by a client

def test_made_up_producer_ids_bounded(broker_factory):
    """A client may write batches with any producer id (Kafka checks none
    against InitProducerId): each new id costs the partition an entry of
    producer state until producer.id.expiration.ms.  producer.state.max.entries
    bounds them broker-wide; past it the producers that appended longest ago
    are forgotten (a retry of theirs is appended again, as after an
    expiration), the latest ones stay."""
    cap, n, per_req = 2000, 30000, 1000
    b = broker_factory({"producer.state.max.entries": cap})
    canary = Canary(b, topic="adv-pid-canary", group="adv-pid-group").plant()
    topic = ck.create_topic(b, "adv-pid")
    t0 = time.monotonic()
    for k in range(0, n, per_req):
        # one request of 1000 batches of 1000 distinct producers
        data = b"".join(batch([b"p%d" % pid], producer_id=pid, producer_epoch=0, base_sequence=0)
                        for pid in range(k, k + per_req))
        assert produce1(b, topic, data) == NONE
    took = time.monotonic() - t0
    _, hw = stored_batches(b, topic)
    assert hw == n
    # the earliest producers are forgotten: their retry is a new batch
    assert produce1(b, topic, batch([b"p0"], producer_id=0, producer_epoch=0, base_sequence=0)) == NONE
    assert stored_batches(b, topic, n)[1] == n + 1
    # the latest are known: their retry is a duplicate, nothing appended
    last = n - 1
    assert produce1(b, topic, batch([b"p%d" % last], producer_id=last, producer_epoch=0,
                                    base_sequence=0)) == NONE
    assert stored_batches(b, topic, n)[1] == n + 1
    # through a restart: the snapshot holds at most the bound
    restart(b)
    snaps = sorted(f for f in os.listdir(b.partition_dir(topic)) if f.endswith(".snapshot"))
    with open(os.path.join(b.partition_dir(topic), snaps[-1]), "rb") as f:
        head = f.read(10)
    assert 0 < int.from_bytes(head[6:10], "big") <= cap, head
    assert produce1(b, topic, batch([b"p%d" % last], producer_id=last, producer_epoch=0,
                                    base_sequence=0)) == NONE
    assert stored_batches(b, topic, n)[1] == n + 1
    # the module's peak RSS bound holds (without producer.state.max.entries
    # the 30,000 entries would hold ~6 MiB more: 214 B each, optimised build)
    finish(b, canary)
    assert took < 120, "30,000 producers took %.1f s" % took


def test_peak_rss(broker):
    assert_peak_rss(broker, PEAK_RSS_MB)
