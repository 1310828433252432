"""Log compaction (cleanup.policy=compact): superseded values are removed
from cleaned segments, the latest value of every key stays at its original
offset, tombstones disappear after delete.retention.ms; __consumer_offsets
(a compacted topic) stays readable by plain consumers and kcat."""
import os
import time

import pytest

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from confluent_kafka.admin import ConfigResource, ConfigSource

import ck
import kproto as kp
from helpers import kcat

BROKER_OVERRIDES = {"num.partitions": "1", "auto.create.topics.enable": "false",
                    "offsets.topic.num.partitions": "2",
                    "log.cleaner.backoff.ms": "100"}

KEYS = 20
DEAD = range(0, 5)          # keys that get a tombstone
DELETE_RETENTION_MS = 2000


def read_all(broker, topic, timeout=20):
    """[(offset, key, value)] from the beginning to the high watermark."""
    c = ck.consumer(broker, enable_partition_eof=True)
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        out = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    if not out or out[-1][0] >= hi - 1:
                        break
                    continue
                raise AssertionError("consumer error: %s" % m.error())
            out.append((m.offset(), m.key(), m.value()))
            if m.offset() >= hi - 1:
                break
        return out, lo, hi
    finally:
        c.close()


def log_bytes(broker, topic):
    d = broker.partition_dir(topic)
    return sum(os.path.getsize(os.path.join(d, f)) for f in broker.segment_files(topic))


def active_base(broker, topic):
    return int(broker.segment_files(topic)[-1].split(".")[0])


def test_compaction_keeps_latest_and_drops_tombstones(broker):
    topic = "compacted"
    ck.create_topic(broker, topic, config={
        "cleanup.policy": "compact", "internal.segment.bytes": "4096",
        "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": str(DELETE_RETENTION_MS),
        "min.compaction.lag.ms": "0"})
    latest = {}          # key -> (offset, value)
    pad = b"." * 40

    def put(pairs):
        reps = ck.produce(broker, topic, [{"key": k, "value": v} for k, v in pairs],
                          linger_ms=0, batch_num_messages=10)
        for (k, v), (err, off, _) in zip(pairs, reps):
            assert err is None
            latest[k] = (off, v)

    for rnd in range(30):
        put([(b"key-%02d" % k, b"v%02d-" % rnd + pad) for k in range(KEYS)])
    put([(b"key-%02d" % k, None) for k in DEAD])            # tombstones
    filler = 0

    def more():
        nonlocal filler
        filler += 1
        put([(b"key-%02d" % k, b"f%03d-" % filler + pad) for k in range(10, KEYS)])
    for _ in range(5):
        more()
    produced = sum(1 for _ in range(30) for _ in range(KEYS)) + len(DEAD) + 5 * 10
    # lower bound of the uncompacted size (key + value + record overhead);
    # the cleaner may already be running, so it is not measured on disk
    size0 = produced * (6 + 45 + 8)
    segs0 = len(broker.segment_files(topic))
    t_tomb = time.time()

    # wait (bounded) for the cleaner: superseded values gone from the cleaned
    # part and, after delete.retention.ms, the tombstones too; new writes keep
    # giving the cleaner dirty data (the active segment is never cleaned)
    deadline = time.monotonic() + 60
    state = None
    while time.monotonic() < deadline:
        recs, lo, hi = read_all(broker, topic)
        base = active_base(broker, topic)
        cleaned = [r for r in recs if r[0] < base]
        keys = [r[1] for r in cleaned]
        dup = len(keys) != len(set(keys))
        tombs = [r for r in cleaned if r[2] is None]
        dead_keys = [r for r in recs if r[1] in {b"key-%02d" % k for k in DEAD}]
        state = dict(records=len(recs), cleaned=len(cleaned), dup=dup, tombstones=len(tombs),
                     dead=len(dead_keys), size=log_bytes(broker, topic), size0=size0,
                     segments=len(broker.segment_files(topic)), segments0=segs0)
        if not dup and not dead_keys and time.time() - t_tomb > DELETE_RETENTION_MS / 1000.0 \
                and state["size"] < size0 / 2:
            break
        more()
        time.sleep(0.5)
    else:
        raise AssertionError("compaction did not finish within 60s: %s\n%s"
                             % (state, broker.log_tail(20)))

    recs, lo, hi = read_all(broker, topic)
    assert hi == produced + (filler - 5) * 10, (hi, produced, filler)
    offsets = [r[0] for r in recs]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    assert len(recs) < produced / 3, "only %d of %d records removed" % (produced - len(recs), produced)
    by_key = {}
    for off, k, v in recs:
        by_key.setdefault(k, []).append((off, v))
    # every live key's latest value, at the offset it was written at
    for k in range(5, KEYS):
        key = b"key-%02d" % k
        assert by_key[key][-1] == latest[key], (key, by_key[key][-3:], latest[key])
    # tombstoned keys are gone entirely (value and tombstone)
    for k in DEAD:
        assert b"key-%02d" % k not in by_key, by_key.get(b"key-%02d" % k)
    # the log end never moves backwards and appends continue after it
    [(err, off, _)] = ck.produce(broker, topic, [{"key": b"key-99", "value": b"last"}])
    assert err is None and off == hi


CODECS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_compaction_keeps_compression(broker, codec):
    """Batches the cleaner rebuilds keep their producer's codec (as Kafka's
    cleaner does), and a real consumer reads the latest value of every key
    from them."""
    topic = "compacted-" + codec
    ck.create_topic(broker, topic, config={
        "cleanup.policy": "compact", "internal.segment.bytes": "8192",
        "min.cleanable.dirty.ratio": "0.01", "min.compaction.lag.ms": "0"})
    latest = {}
    nkeys = 10

    def put(rnd):
        # each batch holds every key twice: the cleaner must rebuild it
        pairs = [(b"key-%02d" % (i % nkeys), b"r%03d-%02d-" % (rnd, i) + b"compressible " * 20)
                 for i in range(2 * nkeys)]
        reps = ck.produce(broker, topic, [{"key": k, "value": v} for k, v in pairs],
                          linger_ms=50, batch_num_messages=2 * nkeys, compression_type=codec)
        for (k, v), (err, off, _) in zip(pairs, reps):
            assert err is None
            latest[k] = (off, v)

    rnd = 0
    deadline = time.monotonic() + 60
    while True:
        put(rnd)
        rnd += 1
        base = active_base(broker, topic)
        recs, lo, hi = read_all(broker, topic)
        cleaned = [r for r in recs if r[0] < base]
        keys = [r[1] for r in cleaned]
        if rnd >= 10 and cleaned and len(keys) == len(set(keys)):
            break
        assert time.monotonic() < deadline, "not compacted within 60 s: %d records below %d" % (len(cleaned), base)
        time.sleep(0.3)
    # the cleaned segments hold only batches of the producer's codec, with
    # fewer records than were written into them
    d = broker.partition_dir(topic)
    rebuilt = 0
    for f in broker.segment_files(topic)[:-1]:
        with open(os.path.join(d, f), "rb") as fh:
            for b in kp.split_batches(fh.read()):
                info = kp.batch_info(b)
                if info["count"] == 0:
                    continue
                assert info["attributes"] & 7 == CODECS[codec], (f, info)
                # a batch that lost records keeps its offsets: a gap inside
                rebuilt += info["count"] < info["last_offset_delta"] + 1
    assert rebuilt > 0
    by_key = {}
    for off, k, v in recs:
        by_key[k] = (off, v)
    assert by_key == latest


def test_consumer_offsets_readable(broker):
    topic, group = "cmp-offs", "g-cmp-offs"
    ck.create_topic(broker, topic)
    with kp.Conn(broker.bootstrap) as c:
        for o in range(1, 21):
            r = c.call(kp.OFFSET_COMMIT, 2, group, {topic: [(0, o, "m%d" % o)]})
            assert r["errors"] == {(topic, 0): 0}, r
    md = ck.admin(broker).list_topics(topic="__consumer_offsets", timeout=10)
    t = md.topics["__consumer_offsets"]
    assert t.error is None and sorted(t.partitions) == [0, 1]
    # kcat reads every record of both partitions (the topic keeps records for
    # min.compaction.lag.ms = 1 h, so nothing is compacted meanwhile): the
    # same (partition, offset, key size, value size) as the decoding read below
    cp = kcat(broker, "-C", "-t", "__consumer_offsets", "-e", "-q", "-f", "%p %o %K %S\n", timeout=30)
    by_kcat = sorted(tuple(int(x) for x in ln.split()) for ln in cp.stdout.splitlines() if ln.strip())
    # decode the records: the last commit for the group is there
    found, seen = [], []
    c = ck.consumer(broker, enable_partition_eof=True)
    try:
        c.assign([TopicPartition("__consumer_offsets", p, OFFSET_BEGINNING) for p in (0, 1)])
        eof = set()
        deadline = time.monotonic() + 20
        while len(eof) < 2 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                continue
            seen.append((m.partition(), m.offset(), len(m.key()), len(m.value() or b"")))
            kind, ident, val = kp.parse_offsets_record(m.key(), m.value())
            if kind == "offset" and ident == (group, topic, 0):
                found.append(val)
    finally:
        c.close()
    assert len(eof) == 2, "did not reach the end of __consumer_offsets"
    assert by_kcat == sorted(seen), (by_kcat, sorted(seen))
    assert len(found) == 20, "%d of 20 OffsetCommit records for %s" % (len(found), group)
    assert found[-1]["offset"] == 20 and found[-1]["metadata"] == "m20", found[-1]
    assert found[-1]["version"] in (0, 1, 3), "OffsetCommitValue v%d" % found[-1]["version"]


def test_consumer_offsets_created_with_compaction_lag(broker):
    """__consumer_offsets is created compacted, with min.compaction.lag.ms =
    1 h (the README's promise that a group's recent history is kept), and
    says so to DescribeConfigs; a restart keeps it."""
    res = ConfigResource(ConfigResource.Type.TOPIC, "__consumer_offsets")

    def configs():
        return ck.admin(broker).describe_configs([res], request_timeout=15)[res].result(timeout=20)

    for restart in (True, False):
        cfg = configs()
        assert cfg["cleanup.policy"].value == "compact", cfg["cleanup.policy"]
        assert cfg["min.compaction.lag.ms"].value == "3600000", cfg["min.compaction.lag.ms"]
        assert cfg["min.compaction.lag.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        if restart:
            broker.restart()
