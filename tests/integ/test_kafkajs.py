"""kafkajs 2.2.4 (through js/kjs.js): producer and admin."""
import os
import time

import ck
from helpers import node_script

BROKER_OVERRIDES = {"num.partitions": "1", "auto.create.topics.enable": "false"}


def kjs(broker, op, **args):
    args.update(op=op, brokers=[broker.bootstrap])
    return node_script("kjs.js", args)


def ok(res):
    assert "error" not in res, res
    return res


def test_create_topics_and_metadata(broker):
    res = ok(kjs(broker, "createTopics", topics=[
        {"topic": "kj-a", "numPartitions": 3},
        {"topic": "kj-b", "numPartitions": 1,
         "configEntries": [{"name": "retention.ms", "value": "86400000"}]}]))
    assert res["created"] is True
    for p in range(3):
        assert os.path.isdir(broker.partition_dir("kj-a", p))
    # already exists: kafkajs reports false, not an error
    assert ok(kjs(broker, "createTopics", topics=[{"topic": "kj-a", "numPartitions": 3}]))["created"] is False

    md = ok(kjs(broker, "fetchTopicMetadata", topics=["kj-a", "kj-b"]))
    [bk] = md["cluster"]["brokers"]
    assert (bk["host"], bk["port"]) == ("127.0.0.1", broker.port)
    assert md["cluster"]["controller"] == bk["nodeId"]
    topics = {t["name"]: t for t in md["metadata"]["topics"]}
    assert set(topics) == {"kj-a", "kj-b"}
    parts = sorted(topics["kj-a"]["partitions"], key=lambda p: p["partitionId"])
    assert [p["partitionId"] for p in parts] == [0, 1, 2]
    for p in parts:
        assert p["partitionErrorCode"] == 0 and p["leader"] == bk["nodeId"]
        assert p["replicas"] == [bk["nodeId"]] and p["isr"] == [bk["nodeId"]]
    assert {"kj-a", "kj-b"} <= set(md["topics"])


def test_create_topics_errors(broker):
    res = kjs(broker, "createTopics", topics=[{"topic": "kj-rf3", "numPartitions": 1,
                                               "replicationFactor": 3}])
    assert "error" in res, res
    assert [(e["topic"], e["type"]) for e in res["errors"]] == [("kj-rf3", "INVALID_REPLICATION_FACTOR")], res
    res = kjs(broker, "createTopics", topics=[{"topic": "bad/name", "numPartitions": 1}])
    assert "error" in res, res
    assert [(e["topic"], e["type"]) for e in res["errors"]] == [("bad/name", "INVALID_TOPIC_EXCEPTION")], res
    md = ok(kjs(broker, "fetchTopicMetadata"))
    assert "kj-rf3" not in md["topics"] and "bad/name" not in md["topics"]


def test_produce_acks_all_gzip(broker):
    ok(kjs(broker, "createTopics", topics=[{"topic": "kj-gz", "numPartitions": 2}]))
    batches = [[{"key": "k%d" % i, "value": "value %d %s" % (i, "z" * (i * 10)), "partition": i % 2,
                 "headers": {"h": "x%d" % i}} for i in range(b * 10, b * 10 + 10)] for b in range(3)]
    res = ok(kjs(broker, "produce", topic="kj-gz", acks=-1, compression="gzip", batches=batches))
    # three sends, each 5 messages per partition: base offsets 0, 5, 10
    for n, r in enumerate(res["results"]):
        by_part = {x["partition"]: x for x in r}
        assert set(by_part) == {0, 1}
        for x in r:
            assert x["errorCode"] == 0
            assert int(x["baseOffset"]) == 5 * n
    # read back with another client: exact values, keys and headers
    for part in (0, 1):
        got = ck.consume(broker, "kj-gz", 15, partitions=(part,))
        want = [m for b in batches for m in b if m["partition"] == part]
        assert [m.offset() for m in got] == list(range(15))
        assert [(m.key().decode(), m.value().decode(), m.headers()) for m in got] == \
            [(w["key"], w["value"], [("h", w["headers"]["h"].encode())]) for w in want]
    offs = ok(kjs(broker, "fetchTopicOffsets", topic="kj-gz"))["offsets"]
    assert sorted((o["partition"], o["offset"], o["high"], o["low"]) for o in offs) == \
        [(0, "15", "15", "0"), (1, "15", "15", "0")]


def test_produce_acks_1_and_0(broker):
    ok(kjs(broker, "createTopics", topics=[{"topic": "kj-acks", "numPartitions": 1}]))
    res = ok(kjs(broker, "produce", topic="kj-acks", acks=1,
                 batches=[[{"value": "a"}, {"value": "b"}]]))
    assert [int(x["baseOffset"]) for x in res["results"][0]] == [0]
    ok(kjs(broker, "produce", topic="kj-acks", acks=0, batches=[[{"value": "c"}]]))
    got = ck.consume(broker, "kj-acks", 3)
    assert [m.value() for m in got] == [b"a", b"b", b"c"]


def test_produce_unknown_topic(broker):
    # auto-creation is off: kafkajs must get UNKNOWN_TOPIC_OR_PARTITION
    res = kjs(broker, "produce", topic="kj-missing", batches=[[{"value": "x"}]])
    assert "error" in res, res
    assert "UNKNOWN_TOPIC_OR_PARTITION" in str(res) or "does not host this topic" in res["message"], res
    assert not os.path.exists(broker.partition_dir("kj-missing", 0))


def test_offsets_by_timestamp(broker):
    ok(kjs(broker, "createTopics", topics=[{"topic": "kj-ts", "numPartitions": 1}]))
    base = int(time.time() * 1000) - 100000
    msgs = [{"value": "t%d" % i, "timestamp": base + 1000 * i} for i in range(8)]
    ok(kjs(broker, "produce", topic="kj-ts", batches=[msgs[:4], msgs[4:]]))

    def at(ts):
        [o] = ok(kjs(broker, "fetchTopicOffsetsByTimestamp", topic="kj-ts", timestamp=ts))["offsets"]
        assert o["partition"] == 0
        return o["offset"]

    assert at(base) == "0"
    assert at(base + 3500) == "4"
    assert at(base + 7000) == "7"
    # past the last timestamp kafkajs reports the high watermark
    assert at(base + 500000) == "8"
    offs = ok(kjs(broker, "fetchTopicOffsets", topic="kj-ts"))["offsets"]
    assert [(o["low"], o["high"]) for o in offs] == [("0", "8")]
