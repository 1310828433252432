"""kafka-python 2.0.2: version probing (ApiVersions v0 + pipelined Metadata v0),
producer, assign() consumer, offset lookups, admin create_topics,
alter_configs (the legacy AlterConfigs) and DescribeLogDirs."""
import os
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.protocol.api import Request, Response
from kafka.protocol.types import Array, Boolean, Int16, Int32, Int64, Schema, String
from kafka.errors import (InvalidReplicationFactorError, TopicAlreadyExistsError)

BROKER_OVERRIDES = {"num.partitions": "2", "auto.create.topics.enable": "true"}

COMMON = dict(request_timeout_ms=15000, api_version_auto_timeout_ms=5000,
              reconnect_backoff_max_ms=500)


def producer(broker, **kw):
    return KafkaProducer(bootstrap_servers=broker.bootstrap, max_block_ms=15000,
                         **dict(COMMON, **kw))


def consumer(broker, **kw):
    kw.setdefault("auto_offset_reset", "earliest")
    return KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None,
                         enable_auto_commit=False, fetch_max_wait_ms=100, **dict(COMMON, **kw))


def admin(broker):
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap, **COMMON)


def create(broker, name, partitions=1, configs=None):
    a = admin(broker)
    try:
        a.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})],
                        timeout_ms=10000)
    finally:
        a.close()


def read_all(c, count, timeout=20):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        for recs in c.poll(timeout_ms=200).values():
            out.extend(recs)
    assert len(out) == count, "read %d of %d" % (len(out), count)
    return sorted(out, key=lambda r: (r.partition, r.offset))


def test_detected_version(broker):
    c = consumer(broker)
    try:
        # Produce v8 advertised -> kafka-python infers at least 2.4 (DescribeAcls
        # v2, not served, would make it 2.5)
        v = c.config["api_version"]
        assert v >= (2, 4, 0), v
        assert "kp-none" not in c.topics()
    finally:
        c.close()


def test_produce_and_read_back(broker):
    topic = "kp-rt"
    create(broker, topic, partitions=2)
    p = producer(broker, acks="all", linger_ms=5)
    sent = []
    try:
        for i in range(40):
            part = i % 2
            md = p.send(topic, key=b"k%d" % i, value=b"v%d" % i, partition=part,
                        headers=[("idx", b"%d" % i), ("empty", b"")]).get(timeout=15)
            assert md.topic == topic and md.partition == part
            sent.append((part, md.offset, b"k%d" % i, b"v%d" % i, [("idx", b"%d" % i), ("empty", b"")]))
    finally:
        p.close(timeout=10)
    for part in (0, 1):
        assert [s[1] for s in sent if s[0] == part] == list(range(20))
    c = consumer(broker)
    try:
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = read_all(c, 40)
        assert [(r.partition, r.offset, r.key, r.value, list(r.headers)) for r in got] == sorted(sent)
        assert c.end_offsets(tps) == {tps[0]: 20, tps[1]: 20}
        assert c.beginning_offsets(tps) == {tps[0]: 0, tps[1]: 0}
    finally:
        c.close()
    assert os.path.getsize(os.path.join(broker.partition_dir(topic, 1), "00000000000000000000.log")) > 0


def test_compressed_produce(broker):
    topic = "kp-gzip"
    create(broker, topic)
    p = producer(broker, acks=1, compression_type="gzip", linger_ms=50, batch_size=65536)
    try:
        futs = [p.send(topic, value=b"gz-%d" % i, partition=0) for i in range(100)]
        p.flush(timeout=15)
        assert [f.get(timeout=5).offset for f in futs] == list(range(100))
    finally:
        p.close(timeout=10)
    c = consumer(broker)
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        assert [r.value for r in read_all(c, 100)] == [b"gz-%d" % i for i in range(100)]
    finally:
        c.close()


def test_offsets_for_times(broker):
    topic = "kp-times"
    create(broker, topic)
    base = int(time.time() * 1000) - 60000
    p = producer(broker, acks=1)
    try:
        for i in range(6):
            p.send(topic, value=b"%d" % i, partition=0, timestamp_ms=base + 1000 * i).get(timeout=15)
    finally:
        p.close(timeout=10)
    c = consumer(broker)
    try:
        tp = TopicPartition(topic, 0)
        r = c.offsets_for_times({tp: base + 2500})[tp]
        assert r is not None and (r.offset, r.timestamp) == (3, base + 3000)
        r = c.offsets_for_times({tp: base - 1})[tp]
        assert (r.offset, r.timestamp) == (0, base)
        assert c.offsets_for_times({tp: base + 99999})[tp] is None
        assert c.end_offsets([tp]) == {tp: 6}
    finally:
        c.close()


def test_seek_middle(broker):
    topic = "kp-seek"
    create(broker, topic)
    p = producer(broker, acks=1)
    try:
        for i in range(10):
            p.send(topic, value=b"%d" % i, partition=0)
        p.flush(timeout=15)
    finally:
        p.close(timeout=10)
    c = consumer(broker)
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek(tp, 7)
        got = read_all(c, 3)
        assert [(r.offset, r.value) for r in got] == [(7, b"7"), (8, b"8"), (9, b"9")]
        assert c.position(tp) == 10
    finally:
        c.close()


def test_admin_create_topics(broker):
    create(broker, "kp-admin", partitions=3, configs={"retention.ms": "7200000"})
    c = consumer(broker)
    try:
        assert c.partitions_for_topic("kp-admin") == {0, 1, 2}
    finally:
        c.close()
    for p in range(3):
        assert os.path.isdir(broker.partition_dir("kp-admin", p))
    with pytest.raises(TopicAlreadyExistsError):
        create(broker, "kp-admin")
    a = admin(broker)
    try:
        with pytest.raises(InvalidReplicationFactorError):
            a.create_topics([NewTopic("kp-rf3", 1, 3)], timeout_ms=10000)
        assert "kp-rf3" not in a.list_topics()
        assert "kp-admin" in a.list_topics()
    finally:
        a.close()


def test_admin_alter_configs(broker):
    """KafkaAdminClient.alter_configs sends AlterConfigs v0/v1, which replaces
    the topic's whole set of overrides."""
    create(broker, "kp-alter", configs={"retention.ms": "7200000", "cleanup.policy": "compact"})
    a = admin(broker)
    try:
        r = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-alter",
                                            configs={"segment.ms": "3600000"})])
        assert [(x[0], x[3]) for x in r.resources] == [(0, "kp-alter")], r
        r = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-alter")])
        entries = {e[0]: e[1] for e in r[0].resources[0][4]}
        assert entries["segment.ms"] == "3600000"
        assert entries["cleanup.policy"] == "delete"           # not named: back to the default
        assert entries["retention.ms"] == str(7 * 24 * 3600 * 1000)
        r = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kp-alter",
                                            configs={"no.such.config": "1"})])
        assert r.resources[0][0] == 40                         # INVALID_CONFIG
    finally:
        a.close()


class DescribeLogDirsResponse_v0(Response):
    API_KEY = 35
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("log_dirs", Array(
            ("error_code", Int16),
            ("log_dir", String("utf-8")),
            ("topics", Array(
                ("name", String("utf-8")),
                ("partitions", Array(
                    ("partition_index", Int32),
                    ("partition_size", Int64),
                    ("offset_lag", Int64),
                    ("is_future_key", Boolean))))))))


class DescribeLogDirsRequest_v0(Request):
    API_KEY = 35
    API_VERSION = 0
    RESPONSE_TYPE = DescribeLogDirsResponse_v0
    SCHEMA = Schema(("topics", Array(("topic", String("utf-8")), ("partitions", Array(Int32)))))


def test_admin_describe_log_dirs(broker):
    """What KafkaAdminClient.describe_log_dirs() sends (kafka-python 2.0.3+;
    Debian's 2.0.2 lacks the method, so its request is defined here the same
    way) through the admin client's own connection handling."""
    create(broker, "kp-logdirs", partitions=2)
    p = producer(broker)
    for i in range(10):
        p.send("kp-logdirs", value=b"x" * 100, partition=1)
    p.flush()
    p.close()
    a = admin(broker)
    try:
        f = a._send_request_to_node(a._client.least_loaded_node(), DescribeLogDirsRequest_v0(topics=None))
        a._wait_for_futures([f])
        r = f.value
    finally:
        a.close()
    [(err, path, topics)] = r.log_dirs
    assert err == 0 and path == os.path.abspath(broker.data_dir)
    parts = {(t, pi): (size, lag, fut) for t, ps in topics for pi, size, lag, fut in ps}
    assert parts[("kp-logdirs", 0)] == (0, 0, False)
    size, lag, fut = parts[("kp-logdirs", 1)]
    assert size > 1000 and lag == 0 and not fut
