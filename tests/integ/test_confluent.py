"""confluent-kafka-python (librdkafka 2.0.2): admin, producer, assign() consumer.

confluent-kafka 1.7.0 has no incremental_alter_configs, so IncrementalAlterConfigs
is driven with a raw request (kproto) and checked with describe_configs."""
import os
import time

import pytest
from confluent_kafka import OFFSET_END, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource, ConfigSource, NewPartitions, NewTopic

import ck
import kproto as kp
from helpers import wait_until

BROKER_OVERRIDES = {"num.partitions": "1", "message.max.bytes": "100000",
                    "auto.create.topics.enable": "true"}


def topic_names(broker):
    return set(ck.admin(broker).list_topics(timeout=10).topics)


def describe(broker, name, rtype=ConfigResource.Type.TOPIC):
    res = ConfigResource(rtype, name)
    fs = ck.admin(broker).describe_configs([res], request_timeout=15)
    return fs[res].result(timeout=20)

# ------------------------------------------------------------------ admin

def test_create_topic_with_configs(broker):
    ck.create_topic(broker, "cf-created", partitions=3, config={"retention.ms": "3600000",
                                                                "cleanup.policy": "delete"})
    md = ck.admin(broker).list_topics(topic="cf-created", timeout=10)
    t = md.topics["cf-created"]
    assert t.error is None
    assert sorted(t.partitions) == [0, 1, 2]
    for p in t.partitions.values():
        assert p.leader == md.controller_id or p.leader in md.brokers
        assert p.replicas == [p.leader] and p.isrs == [p.leader]
    for p in range(3):
        assert os.path.isdir(broker.partition_dir("cf-created", p))
    cfg = describe(broker, "cf-created")
    assert cfg["retention.ms"].value == "3600000"
    assert cfg["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert cfg["cleanup.policy"].value == "delete"


def test_create_topic_validate_only(broker):
    fs = ck.admin(broker).create_topics([NewTopic("cf-validate", 2, 1)], validate_only=True,
                                        request_timeout=15)
    assert fs["cf-validate"].result(timeout=20) is None
    assert "cf-validate" not in topic_names(broker)
    assert not os.path.exists(broker.partition_dir("cf-validate", 0))


def test_create_topic_already_exists(broker):
    ck.create_topic(broker, "cf-dup")
    with pytest.raises(KafkaException) as ei:
        ck.create_topic(broker, "cf-dup", partitions=4)
    assert ck.error_code(ei.value) == KafkaError.TOPIC_ALREADY_EXISTS
    # the existing topic is untouched
    assert len(ck.admin(broker).list_topics(topic="cf-dup", timeout=10).topics["cf-dup"].partitions) == 1


@pytest.mark.parametrize("name", ["bad/name", "spaces are bad", "x" * 250, "..", "ümlaut"])
def test_create_topic_invalid_name(broker, name):
    with pytest.raises(KafkaException) as ei:
        ck.create_topic(broker, name)
    assert ck.error_code(ei.value) == KafkaError.TOPIC_EXCEPTION
    assert name not in topic_names(broker)


def test_create_topic_replication_factor_3(broker):
    fs = ck.admin(broker).create_topics([NewTopic("cf-rf3", 1, 3)], request_timeout=15)
    with pytest.raises(KafkaException) as ei:
        fs["cf-rf3"].result(timeout=20)
    assert ck.error_code(ei.value) == KafkaError.INVALID_REPLICATION_FACTOR
    assert "cf-rf3" not in topic_names(broker)


def test_delete_topics(broker):
    ck.create_topic(broker, "cf-del", partitions=2)
    ck.produce(broker, "cf-del", [{"value": b"x"}])
    fs = ck.admin(broker).delete_topics(["cf-del"], operation_timeout=10, request_timeout=15)
    assert fs["cf-del"].result(timeout=20) is None
    wait_until(lambda: "cf-del" not in topic_names(broker), what="topic gone from metadata")
    wait_until(lambda: not os.path.isdir(broker.partition_dir("cf-del", 0)),
               what="partition dir removed or renamed")
    fs = ck.admin(broker).delete_topics(["cf-del"], request_timeout=15)
    with pytest.raises(KafkaException) as ei:
        fs["cf-del"].result(timeout=20)
    assert ck.error_code(ei.value) == KafkaError.UNKNOWN_TOPIC_OR_PART
    # the name can be reused, and the new topic starts empty at offset 0
    ck.create_topic(broker, "cf-del")
    [r] = ck.produce(broker, "cf-del", [{"value": b"again"}])
    assert r == (None, 0, 0)


def test_describe_configs_defaults_and_broker(broker):
    ck.create_topic(broker, "cf-desc")
    cfg = describe(broker, "cf-desc")
    for k in ("retention.ms", "segment.bytes", "cleanup.policy", "max.message.bytes"):
        assert k in cfg, k
    assert cfg["cleanup.policy"].value == "delete"
    assert cfg["retention.ms"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    # message.max.bytes override is the topic default for max.message.bytes
    assert cfg["max.message.bytes"].value == "100000"
    md = ck.admin(broker).list_topics(timeout=10)
    bcfg = describe(broker, str(md.controller_id), ConfigResource.Type.BROKER)
    assert bcfg["num.partitions"].value == "1"
    assert bcfg["message.max.bytes"].value == "100000"


def incremental_alter(broker, topic, ops, version=0, validate_only=False):
    """ops: [(name, op, value)] with op 0=SET 1=DELETE.  Returns (error_code, message)."""
    flex = version >= 1
    if flex:
        cfgs = [kp.compact_string(n) + kp.i8(op) + kp.compact_string(v) + kp.TAGS0 for n, op, v in ops]
        res = kp.i8(2) + kp.compact_string(topic) + kp.compact_array(cfgs) + kp.TAGS0
        body = kp.compact_array([res]) + kp.i8(int(validate_only)) + kp.TAGS0
    else:
        cfgs = [kp.string(n) + kp.i8(op) + kp.string(v) for n, op, v in ops]
        res = kp.i8(2) + kp.string(topic) + kp.array(cfgs)
        body = kp.array([res]) + kp.i8(int(validate_only))
    r = kp.Reader(kp.roundtrip(broker.bootstrap, kp.request(44, version, 77, body, flexible=flex)))
    assert r.i32() == 77
    if flex:
        r.tags()
    r.i32()                                   # throttle
    n = r.uvarint() - 1 if flex else r.i32()
    assert n == 1
    err = r.i16()
    msg = r.compact_string() if flex else r.string()
    assert r.i8() == 2
    assert (r.compact_string() if flex else r.string()) == topic
    return err, msg


def test_incremental_alter_configs(broker):
    ck.create_topic(broker, "cf-alter")
    default = describe(broker, "cf-alter")["retention.ms"].value
    assert incremental_alter(broker, "cf-alter", [("retention.ms", 0, "120000")])[0] == 0
    cfg = describe(broker, "cf-alter")["retention.ms"]
    assert cfg.value == "120000" and cfg.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    # validate_only changes nothing
    assert incremental_alter(broker, "cf-alter", [("retention.ms", 0, "5000")], version=1,
                             validate_only=True)[0] == 0
    assert describe(broker, "cf-alter")["retention.ms"].value == "120000"
    # DELETE (flexible v1) restores the default
    assert incremental_alter(broker, "cf-alter", [("retention.ms", 1, None)], version=1)[0] == 0
    cfg = describe(broker, "cf-alter")["retention.ms"]
    assert cfg.value == default and cfg.source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    # bad value -> INVALID_CONFIG (40); unknown topic -> UNKNOWN_TOPIC_OR_PARTITION (3)
    assert incremental_alter(broker, "cf-alter", [("retention.ms", 0, "abc")])[0] == 40
    assert incremental_alter(broker, "cf-no-such-topic", [("retention.ms", 0, "1000")])[0] == 3


def test_alter_configs_legacy(broker):
    """AdminClient.alter_configs is the legacy AlterConfigs (librdkafka 2.0.2
    refused it before the broker served it): the topic's overrides become
    exactly the ones given."""
    ck.create_topic(broker, "cf-legacy-alter", config={"retention.ms": "120000", "segment.ms": "600000"})
    a = ck.admin(broker)
    res = ConfigResource(ConfigResource.Type.TOPIC, "cf-legacy-alter",
                         set_config={"retention.ms": "240000", "cleanup.policy": "compact"})
    a.alter_configs([res])[res].result(timeout=20)
    cfg = describe(broker, "cf-legacy-alter")
    over = {k: v.value for k, v in cfg.items() if v.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value}
    assert over == {"retention.ms": "240000", "cleanup.policy": "compact"}
    bad = ConfigResource(ConfigResource.Type.TOPIC, "cf-legacy-alter", set_config={"retention.ms": "soon"})
    with pytest.raises(KafkaException) as e:
        a.alter_configs([bad])[bad].result(timeout=20)
    assert e.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert describe(broker, "cf-legacy-alter")["retention.ms"].value == "240000"


def test_create_partitions(broker):
    ck.create_topic(broker, "cf-grow", partitions=2)
    fs = ck.admin(broker).create_partitions([NewPartitions("cf-grow", 5)], request_timeout=15)
    assert fs["cf-grow"].result(timeout=20) is None
    t = ck.admin(broker).list_topics(topic="cf-grow", timeout=10).topics["cf-grow"]
    assert sorted(t.partitions) == [0, 1, 2, 3, 4]
    for p in range(5):
        assert os.path.isdir(broker.partition_dir("cf-grow", p))
    # the new partitions are usable
    [r] = ck.produce(broker, "cf-grow", [{"value": b"p4"}], partition=4)
    assert r == (None, 0, 4)
    # shrinking is refused with INVALID_PARTITIONS (37)
    fs = ck.admin(broker).create_partitions([NewPartitions("cf-grow", 3)], request_timeout=15)
    with pytest.raises(KafkaException) as ei:
        fs["cf-grow"].result(timeout=20)
    assert ck.error_code(ei.value) == KafkaError.INVALID_PARTITIONS

# ------------------------------------------------------------------ produce / consume

@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4", "zstd"])
@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_produce_acks_compression(broker, acks, compression):
    topic = "cf-p-%s-%s" % (acks, compression)
    ck.create_topic(broker, topic)
    msgs = [{"key": b"k%d" % i, "value": (b"value-%d-" % i) * (1 + i % 5),
             "headers": [("n", b"%d" % i)]} for i in range(60)]
    reports = ck.produce(broker, topic, msgs, acks=acks, compression_type=compression,
                         batch_num_messages=20)
    assert all(err is None for err, _, _ in reports), reports
    if acks == "0":
        # no response with acks=0: librdkafka cannot know the offsets
        assert all(off is None or off < 0 for _, off, _ in reports), reports
    else:
        assert [off for _, off, _ in reports] == list(range(60))
    got = ck.consume(broker, topic, 60)
    assert [m.offset() for m in got] == list(range(60))
    assert [(m.key(), m.value()) for m in got] == [(m["key"], m["value"]) for m in msgs]
    assert [m.headers() for m in got] == [m["headers"] for m in msgs]
    lo, hi = ck.consumer(broker).get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    assert (lo, hi) == (0, 60)


def test_consume_from_end(broker):
    topic = ck.create_topic(broker, "cf-end")
    ck.produce(broker, topic, [{"value": b"old-%d" % i} for i in range(5)])
    c = ck.consumer(broker)
    try:
        tp = TopicPartition(topic, 0, OFFSET_END)
        c.assign([tp])
        # give the consumer time to resolve OFFSET_END (ListOffsets latest)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            m = c.poll(0.2)
            assert m is None or m.error(), "got an old message at offset %s" % m.offset()
            if c.position([TopicPartition(topic, 0)])[0].offset >= 0:
                break
        assert c.position([TopicPartition(topic, 0)])[0].offset in (5, -1001)
        ck.produce(broker, topic, [{"value": b"new-%d" % i} for i in range(3)])
        got = []
        deadline = time.monotonic() + 15
        while len(got) < 3 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append((m.offset(), m.value()))
        assert got == [(5, b"new-0"), (6, b"new-1"), (7, b"new-2")]
    finally:
        c.close()


def test_offsets_for_times(broker):
    topic = ck.create_topic(broker, "cf-times")
    base = int(time.time() * 1000) - 100000
    ck.produce(broker, topic, [{"value": b"t%d" % i, "timestamp": base + 1000 * i} for i in range(10)],
               linger_ms=0)
    c = ck.consumer(broker)
    try:
        def lookup(ts):
            [r] = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            assert r.error is None, r.error
            return r.offset
        assert lookup(base) == 0
        assert lookup(base - 50000) == 0
        assert lookup(base + 1500) == 2
        assert lookup(base + 9000) == 9
        assert lookup(base + 9001) == OFFSET_END      # -1: nothing at or after
    finally:
        c.close()
    got = ck.consume(broker, topic, 10)
    assert [m.timestamp()[1] for m in got] == [base + 1000 * i for i in range(10)]


def test_list_topics_metadata(broker):
    ck.create_topic(broker, "cf-md", partitions=4)
    md = ck.admin(broker).list_topics(timeout=10)
    assert len(md.brokers) == 1
    [b] = md.brokers.values()
    assert (b.host, b.port) == ("127.0.0.1", broker.port)
    assert md.controller_id == b.id
    t = md.topics["cf-md"]
    assert sorted(t.partitions) == [0, 1, 2, 3]
    assert all(p.leader == b.id and p.error is None for p in t.partitions.values())
    # unknown topic without auto-creation by this client
    c = ck.consumer(broker, allow_auto_create_topics=False)
    try:
        t = c.list_topics(topic="cf-md-nope", timeout=10).topics["cf-md-nope"]
        assert t.error is not None and t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    finally:
        c.close()


def test_message_too_large(broker):
    topic = ck.create_topic(broker, "cf-big")
    reports = ck.produce(broker, topic, [{"value": b"x" * 150000}], compression_type="none")
    err = reports[0][0]
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, reports
    # nothing was appended, and a normal message still goes to offset 0
    [r] = ck.produce(broker, topic, [{"value": b"small"}])
    assert r == (None, 0, 0)
    assert [m.value() for m in ck.consume(broker, topic, 1)] == [b"small"]
