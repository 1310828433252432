"""Malformed and hostile input on raw sockets.  A bad request may cost the
client an error or its connection, never the broker: after every case the
broker must still serve a normal `kcat -L`."""
import random
import socket
import struct
import time

import pytest
from confluent_kafka import TopicPartition

import ck
import kproto as kp
from helpers import kcat_metadata

BROKER_OVERRIDES = {"num.partitions": "1"}

# (api key, max version) of every API the broker serves, all from version 0:
# the README's list ("APIs served").  ApiVersions must name exactly these.
SERVED = {
    0: 11,     # Produce
    1: 17,     # Fetch
    2: 10,     # ListOffsets
    3: 12,     # Metadata
    8: 9,      # OffsetCommit
    9: 9,      # OffsetFetch
    10: 6,     # FindCoordinator
    11: 9,     # JoinGroup
    12: 4,     # Heartbeat
    13: 5,     # LeaveGroup
    14: 5,     # SyncGroup
    15: 5,     # DescribeGroups
    16: 5,     # ListGroups
    18: 4,     # ApiVersions
    19: 7,     # CreateTopics
    20: 6,     # DeleteTopics
    21: 2,     # DeleteRecords
    22: 5,     # InitProducerId
    23: 4,     # OffsetForLeaderEpoch
    24: 5,     # AddPartitionsToTxn
    25: 4,     # AddOffsetsToTxn
    26: 5,     # EndTxn
    27: 1,     # WriteTxnMarkers
    28: 4,     # TxnOffsetCommit
    32: 4,     # DescribeConfigs
    33: 2,     # AlterConfigs
    34: 2,     # AlterReplicaLogDirs
    35: 4,     # DescribeLogDirs
    37: 3,     # CreatePartitions
    42: 2,     # DeleteGroups
    43: 2,     # ElectLeaders
    44: 1,     # IncrementalAlterConfigs
    45: 0,     # AlterPartitionReassignments
    46: 0,     # ListPartitionReassignments
    47: 0,     # OffsetDelete
    57: 2,     # UpdateFeatures
    60: 1,     # DescribeCluster
    61: 0,     # DescribeProducers
    65: 0,     # DescribeTransactions
    66: 1,     # ListTransactions
    68: 1,     # ConsumerGroupHeartbeat
    69: 0,     # ConsumerGroupDescribe
    71: 0,     # GetTelemetrySubscriptions
    72: 0,     # PushTelemetry
    74: 0,     # ListClientMetricsResources
    75: 0,     # DescribeTopicPartitions
}


def assert_healthy(broker):
    assert broker.running(), "broker exited:\n" + broker.log_tail()
    md = kcat_metadata(broker, timeout=20)
    assert [b["name"] for b in md["brokers"]] == [broker.bootstrap]


def api_versions_v0(corr):
    return kp.request(18, 0, corr, b"")


def parse_api_versions_v0(payload, corr):
    r = kp.Reader(payload)
    assert r.i32() == corr
    err = r.i16()
    keys = {}
    n = r.i32()
    for _ in range(n):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        keys[k] = (lo, hi)
    assert len(keys) == n, "an API key listed twice"
    return err, keys, r


@pytest.fixture(autouse=True)
def _still_serving(broker):
    yield
    assert_healthy(broker)


def test_random_bytes(broker):
    rnd = random.Random(1234)
    for _ in range(5):
        with kp.connect(broker.bootstrap) as s:
            s.sendall(rnd.randbytes(4096))
            kp.wait_closed(s, timeout=0.5)
    # a correctly sized frame full of garbage: the broker may answer nothing
    # sensible, so it must close
    with kp.connect(broker.bootstrap) as s:
        body = b"\x7f\x00" + rnd.randbytes(200)    # api key 32512: not an API
        s.sendall(kp.i32(len(body)) + body)
        assert kp.wait_closed(s, timeout=3)


def test_truncated_frame_then_close(broker):
    frame = api_versions_v0(5)
    with kp.connect(broker.bootstrap) as s:
        s.sendall(kp.i32(100) + frame[4:])      # claims 100 bytes, sends fewer
    with kp.connect(broker.bootstrap) as s:
        s.sendall(frame[:7])                     # half a size + header
        s.shutdown(socket.SHUT_WR)
        assert kp.wait_closed(s, timeout=3)


@pytest.mark.parametrize("size", [-1, -5, -(2 ** 31)])
def test_negative_size_closes(broker, size):
    with kp.connect(broker.bootstrap) as s:
        s.sendall(struct.pack(">i", size) + b"\0" * 16)
        assert kp.wait_closed(s, timeout=3)


def test_huge_size_closes_quickly(broker):
    with kp.connect(broker.bootstrap) as s:
        t0 = time.monotonic()
        s.sendall(struct.pack(">i", 2 ** 31 - 1) + api_versions_v0(1)[4:])
        assert kp.wait_closed(s, timeout=3)
        assert time.monotonic() - t0 < 3


def test_unknown_api_key_closes(broker):
    with kp.connect(broker.bootstrap) as s:
        s.sendall(kp.request(9999, 0, 3, b""))
        assert kp.wait_closed(s, timeout=3)


def test_metadata_v99_closes(broker):
    with kp.connect(broker.bootstrap) as s:
        s.sendall(kp.request(3, 99, 4, kp.compact_array([]) + b"\x01\x00\x00\x00", flexible=True))
        assert kp.wait_closed(s, timeout=3)


def test_api_versions_unsupported_version(broker):
    with kp.connect(broker.bootstrap) as s:
        # v9 with a flexible header, as a newer client would send
        s.sendall(kp.request(18, 9, 42, kp.compact_string("x") + kp.compact_string("1") + kp.TAGS0,
                             flexible=True))
        err, keys, _ = parse_api_versions_v0(kp.recv_frame(s), 42)
        assert err == 35
        assert keys.get(18) == (0, 4), keys
        # the connection stays usable
        s.sendall(api_versions_v0(43))
        err, keys, _ = parse_api_versions_v0(kp.recv_frame(s), 43)
        assert err == 0


def test_api_versions_v0_ranges(broker):
    err, keys, r = parse_api_versions_v0(kp.roundtrip(broker.bootstrap, api_versions_v0(7)), 7)
    assert err == 0 and r.remaining() == 0
    # every served API with its range, and nothing that is not served
    assert keys == {k: (0, hi) for k, hi in SERVED.items()}, keys


def test_api_versions_v3_flexible(broker):
    body = kp.compact_string("gregor-test") + kp.compact_string("1.0") + kp.TAGS0
    payload = kp.roundtrip(broker.bootstrap, kp.request(18, 3, 8, body, flexible=True))
    r = kp.Reader(payload)
    assert r.i32() == 8                    # response header v0: no tagged fields
    assert r.i16() == 0
    n = r.uvarint() - 1
    keys = {}
    for _ in range(n):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        r.tags()
        keys[k] = (lo, hi)
    r.i32()                                 # throttle_time_ms
    r.tags()
    assert r.remaining() == 0
    assert len(keys) == n, "an API key listed twice"
    assert keys == {k: (0, hi) for k, hi in SERVED.items()}, keys


def test_pipelined_burst(broker):
    with kp.connect(broker.bootstrap) as s:
        s.sendall(b"".join(api_versions_v0(1000 + i) for i in range(50)))
        for i in range(50):
            err, keys, _ = parse_api_versions_v0(kp.recv_frame(s), 1000 + i)
            assert err == 0 and 18 in keys


def produce_v3(topic, parts):
    """parts: [(partition, batch bytes)] -> Produce v3 body, acks=-1."""
    ps = [kp.i32(p) + kp.bytes32(b) for p, b in parts]
    return (kp.string(None) + kp.i16(-1) + kp.i32(5000)
            + kp.array([kp.string(topic) + kp.array(ps)]))


def parse_produce_v3(payload, corr):
    r = kp.Reader(payload)
    assert r.i32() == corr
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            p, err, base, _lat = r.i32(), r.i16(), r.i64(), r.i64()
            out[(name, p)] = (err, base)
    r.i32()
    assert r.remaining() == 0
    return out


def test_corrupt_crc_partition(broker):
    topic = ck.create_topic(broker, "bad-crc", partitions=2)
    good = kp.record_batch([(b"k0", b"good-0"), (b"k1", b"good-1")])
    bad = bytearray(kp.record_batch([(b"k0", b"bad-0")]))
    bad[-1] ^= 0xFF                              # a value byte: CRC no longer matches
    resp = parse_produce_v3(kp.roundtrip(broker.bootstrap,
                                         kp.request(0, 3, 11, produce_v3(topic, [(0, bytes(bad)), (1, good)]))),
                            11)
    assert resp[(topic, 0)][0] == 2, resp        # CORRUPT_MESSAGE
    assert resp[(topic, 1)] == (0, 0), resp
    c = ck.consumer(broker)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 0)
        assert c.get_watermark_offsets(TopicPartition(topic, 1), timeout=10) == (0, 2)
    finally:
        c.close()
    got = ck.consume(broker, topic, 2, partitions=(1,))
    assert [(m.key(), m.value()) for m in got] == [(b"k0", b"good-0"), (b"k1", b"good-1")]
    # the raw encoder is right: the same batch uncorrupted is accepted on partition 0
    resp = parse_produce_v3(kp.roundtrip(broker.bootstrap, kp.request(
        0, 3, 12, produce_v3(topic, [(0, kp.record_batch([(b"k", b"fixed")]))]))), 12)
    assert resp[(topic, 0)] == (0, 0), resp


def test_bad_batch_length(broker):
    topic = ck.create_topic(broker, "bad-len")
    batch = bytearray(kp.record_batch([(b"k", b"v")]))
    struct.pack_into(">i", batch, 8, 10 ** 6)    # batchLength beyond the data
    with kp.connect(broker.bootstrap) as s:
        s.sendall(kp.request(0, 3, 13, produce_v3(topic, [(0, bytes(batch))])))
        try:
            resp = parse_produce_v3(kp.recv_frame(s), 13)
            assert resp[(topic, 0)][0] in (2, 87), resp    # CORRUPT_MESSAGE / INVALID_RECORD
        except ConnectionError:
            pass                                           # closing is also acceptable
    c = ck.consumer(broker)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 0)
    finally:
        c.close()
