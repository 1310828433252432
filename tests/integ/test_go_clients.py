"""Go clients from Debian's packages, built at test time (conftest's
go_clients): segmentio/kafka-go 0.2.1, which produces magic 1 message sets
(Produce v2) and reads only down-converted ones (Fetch v2), and
Shopify/sarama 1.22.1 at its highest protocol level (2.2.0): produce, read
back, consumer groups with commits, the offset manager, the admin client's
AlterConfigs.  Each reads what the other clients wrote, compressed and
uncompressed, with headers."""
import base64
import json
import subprocess

import pytest

import ck

BROKER_OVERRIDES = {"num.partitions": "1", "group.initial.rebalance.delay.ms": "0"}
CODECS = ["none", "gzip", "snappy", "lz4"]


def run(binary, *args, timeout=60):
    cp = subprocess.run([binary] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    assert cp.returncode == 0, "%s %s failed:\n%s" % (binary, " ".join(map(str, args)), cp.stderr[-2000:])
    return [json.loads(line) for line in cp.stdout.splitlines() if line.startswith("{")]


def kg(go_clients, *args, **kw):
    out = run(go_clients["kafkago"], *args, **kw)
    for m in out:
        for f in ("key", "value"):
            if f in m and m[f] is not None:
                m[f] = base64.b64decode(m[f])
    return out


def sarama(go_clients, *args, **kw):
    return run(go_clients["sarama"], *args, **kw)


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_go_produce_and_read_back(broker, go_clients, codec):
    t = ck.create_topic(broker, "kg-own-%s" % codec)
    assert kg(go_clients, "produce", broker.bootstrap, t, 10, codec) == [{"written": 10}]
    assert kg(go_clients, "produce", broker.bootstrap, t, 5, codec) == [{"written": 5}]
    got = kg(go_clients, "read", broker.bootstrap, t, 0, 0, 15)
    want = [("k%d" % i, "v%d" % i) for i in range(10)] + [("k%d" % i, "v%d" % i) for i in range(5)]
    assert [(m["offset"], m["key"].decode(), m["value"].decode()) for m in got] == \
        [(o, k, v) for o, (k, v) in enumerate(want)]
    # a modern client reads the same records (stored as v2 batches)
    msgs = ck.consume(broker, t, 15)
    assert [(m.key(), m.value()) for m in msgs] == [(k.encode(), v.encode()) for k, v in want]
    # from the middle
    got = kg(go_clients, "read", broker.bootstrap, t, 0, 12, 3)
    assert [m["offset"] for m in got] == [12, 13, 14]


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_go_reads_what_others_wrote(broker, go_clients, codec):
    """confluent-kafka (librdkafka) and sarama write v2 batches with headers;
    kafka-go reads them down-converted (headers dropped)."""
    t = ck.create_topic(broker, "kg-others-%s" % codec)
    msgs = [{"key": b"c%d" % i, "value": b"cv%d" % i, "headers": [("h", b"x")]} for i in range(7)]
    ck.produce(broker, t, msgs, **({"compression.codec": codec} if codec != "none" else {}))
    assert sarama(go_clients, "produce", broker.bootstrap, t, 4, codec)[0]["first"] == 7
    got = kg(go_clients, "read", broker.bootstrap, t, 0, 0, 11)
    assert [(m["key"], m["value"]) for m in got] == \
        [(m["key"], m["value"]) for m in msgs] + [(b"s%d" % i, b"sv%d" % i) for i in range(4)]
    assert [m["offset"] for m in got] == list(range(11))


def test_kafka_go_group_consume_with_commits(broker, go_clients):
    t = ck.create_topic(broker, "kg-group")
    kg(go_clients, "produce", broker.bootstrap, t, 6, "gzip")
    first = kg(go_clients, "group", broker.bootstrap, t, "kg-grp", 4)
    assert [m["offset"] for m in first] == [0, 1, 2, 3]
    # a new member of the group goes on from the committed offset
    second = kg(go_clients, "group", broker.bootstrap, t, "kg-grp", 2)
    assert [m["offset"] for m in second] == [4, 5]
    c = ck.consumer(broker, **{"group.id": "kg-grp"})
    try:
        from confluent_kafka import TopicPartition
        [tp] = c.committed([TopicPartition(t, 0)], timeout=10)
        assert tp.offset == 6
    finally:
        c.close()


def test_sarama_zstd_needs_produce_v7(broker, go_clients):
    """sarama 1.22.1 sends zstd batches with Produce v3; Kafka (2.1+) refuses
    zstd below v7, and so does gregord."""
    t = ck.create_topic(broker, "sa-zstd")
    cp = subprocess.run([go_clients["sarama"], "produce", broker.bootstrap, t, "2", "zstd"], capture_output=True,
                        text=True, timeout=60)
    assert cp.returncode == 1 and "compression" in cp.stderr.lower(), cp.stderr


@pytest.mark.parametrize("codec", CODECS)
def test_sarama_produce_and_consume(broker, go_clients, codec):
    t = ck.create_topic(broker, "sa-own-%s" % codec)
    assert sarama(go_clients, "produce", broker.bootstrap, t, 6, codec) == [{"written": 6, "first": 0}]
    got = sarama(go_clients, "consume", broker.bootstrap, t, 6)
    assert [(m["offset"], m["key"], m["value"], m["headers"]) for m in got] == \
        [(i, "s%d" % i, "sv%d" % i, {"h": "x%d" % i}) for i in range(6)]
    got = kg(go_clients, "read", broker.bootstrap, t, 0, 0, 6)
    assert [m["value"] for m in got] == [b"sv%d" % i for i in range(6)]


def test_sarama_reads_what_others_wrote(broker, go_clients):
    t = ck.create_topic(broker, "sa-others")
    kg(go_clients, "produce", broker.bootstrap, t, 3, "snappy")
    ck.produce(broker, t, [{"key": b"c", "value": b"cv", "headers": [("hh", b"yy")]}])
    got = sarama(go_clients, "consume", broker.bootstrap, t, 4)
    assert [(m["key"], m["value"], m["headers"]) for m in got] == \
        [("k0", "v0", {}), ("k1", "v1", {}), ("k2", "v2", {}), ("c", "cv", {"hh": "yy"})]


def test_sarama_consumer_group_and_offset_manager(broker, go_clients):
    t = ck.create_topic(broker, "sa-group")
    sarama(go_clients, "produce", broker.bootstrap, t, 8, "lz4")
    first = sarama(go_clients, "group", broker.bootstrap, t, "sa-grp", 5)
    assert [m["offset"] for m in first] == [0, 1, 2, 3, 4]
    second = sarama(go_clients, "group", broker.bootstrap, t, "sa-grp", 3)
    assert [m["offset"] for m in second] == [5, 6, 7]
    # the offset manager: nothing committed yet, then what it committed
    assert sarama(go_clients, "offsets", broker.bootstrap, t, "sa-om", 6) == \
        [{"before": -2, "after": 6, "metadata": "meta"}]


def test_sarama_admin_alter_configs(broker, go_clients):
    """ClusterAdmin.AlterConfig is the legacy AlterConfigs: the topic's
    overrides become exactly those given (retention.ms, set at creation, is
    gone)."""
    [r] = sarama(go_clients, "admin", broker.bootstrap, "sa-admin")
    assert r == {"brokers": 1, "overrides": {"segment.ms": "7200000", "cleanup.policy": "compact"}}
