"""Hostile input for the APIs and versions added for protocol coverage:
huge counts and lengths, lying array counts, truncated bodies, unknown ids,
duplicates, huge values, decompression bombs and slow readers of
down-converted answers.  Each attack is bounded in time and count; after
it a normal client is served within 1 s and nothing acknowledged is lost
(Canary), also after a restart where it matters.  The module ends with a
peak-RSS bound."""
import gzip
import os
import random
import socket
import struct
import time

import pytest

import ck
import kmsg
import kproto as kp
from adversary import Canary, assert_peak_rss, raw_socket
from helpers import _LIVE, _teardown, wait_until
from storage_check import EnvBroker, rss_kb

BROKER_OVERRIDES = {"num.partitions": "1", "socket.request.max.bytes": str(120 << 20)}
# AddressSanitizer keeps up to 256 MiB of freed memory resident by default,
# which would hide whether memory is held (test_adversarial_memory.py)
BROKER_ENV = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
              + ":quarantine_size_mb=16"}

# The bound for the whole module: the largest request is 100 MiB, read whole
# before it is parsed (measured: 152 MiB optimised, 168 MiB under ASan with
# the small quarantine).
PEAK_RSS_MB = 400


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = EnvBroker(tmp_path_factory.mktemp("gregord-proto"), BROKER_OVERRIDES, BROKER_ENV)
    _LIVE.append(b)
    b.start()
    yield b
    probs = _teardown(b)
    assert not probs, "broker at module teardown: %s\n%s" % ("; ".join(probs), b.log_tail())


@pytest.fixture(scope="module")
def canary(broker):
    return Canary(broker).plant()


def alive(broker, canary):
    canary.check()


def send_frame(broker, frame, timeout=30):
    """Send one frame; the answer's payload, or None when the broker closed."""
    with raw_socket(broker, timeout=timeout) as s:
        s.sendall(frame)
        try:
            return kp.recv_frame(s)
        except (ConnectionError, socket.timeout):
            return None


# ------------------------------------------------------------ big counts

def test_huge_name_lists(broker, canary):
    """Requests naming hundreds of thousands of things are answered in
    linear time (sorting at most), each name once where Kafka dedups."""
    names = [{"Name": "adv-t%06d" % i} for i in range(200_000)]
    t0 = time.monotonic()
    with kp.Conn(broker.bootstrap, timeout=120) as c:
        r = kmsg.call(c, kmsg.DESCRIBE_TOPIC_PARTITIONS, 0, {"Topics": names + names[:1000],
                                                             "ResponsePartitionLimit": 5})
        assert len(r["Topics"]) == 200_000            # unknown topics, each once, sorted
        assert r["Topics"][0]["Name"] == "adv-t000000" and r["Topics"][0]["ErrorCode"] == 3
        parts = list(range(1_000_000))
        r = kmsg.call(c, kmsg.ELECT_LEADERS, 2, {"ElectionType": 0,
                                                   "TopicPartitions": [{"Topic": canary.topic, "Partitions": parts}]})
        assert len(r["ReplicaElectionResults"][0]["PartitionResult"]) == 1_000_000
        r = kmsg.call(c, kmsg.DESCRIBE_LOG_DIRS, 4, {"Topics": [{"Topic": canary.topic, "Partitions": parts}]})
        assert r["Results"][0]["ErrorCode"] == 0
        r = kmsg.call(c, kmsg.OFFSET_FOR_LEADER_EPOCH, 4, {"Topics": [
            {"Topic": canary.topic, "Partitions": [{"Partition": p % 3, "LeaderEpoch": p} for p in range(300_000)]}]})
        assert len(r["Topics"][0]["Partitions"]) == 300_000
        # a replica list of a million ids is checked in one pass
        r = kmsg.call(c, kmsg.ALTER_PARTITION_REASSIGNMENTS, 0, {"Topics": [{"Name": canary.topic, "Partitions": [
            {"PartitionIndex": 0, "Replicas": [0] + list(range(1, 1_000_000))}]}]})
        assert r["Responses"][0]["Partitions"][0]["ErrorCode"] == 39
        # half a million partitions of moves nowhere, and duplicates
        r = kmsg.call(c, kmsg.ALTER_REPLICA_LOG_DIRS, 2, {"Dirs": [
            {"Path": "/nowhere-%d" % (i % 50), "Topics": [{"Name": "adv-m%d" % i, "Partitions": [0, 1, 0]}]}
            for i in range(100_000)]})
        assert sum(len(x["Partitions"]) for x in r["Results"]) == 200_000
        assert all(p["ErrorCode"] == 57 for x in r["Results"] for p in x["Partitions"])
    took = time.monotonic() - t0
    print("huge lists answered in %.1f s" % took)
    assert took < 120
    alive(broker, canary)


def test_alter_configs_many_keys_and_resources(broker, canary):
    t = ck.create_topic(broker, "adv-ac")
    keys = [{"Name": "k%d" % i, "Value": "v"} for i in range(100_000)]
    with kp.Conn(broker.bootstrap, timeout=60) as c:
        r = kmsg.call(c, kmsg.ALTER_CONFIGS, 2, {"Resources": [
            {"ResourceType": 2, "ResourceName": t, "Configs": keys + keys[:1]}]})
        assert r["Responses"][0]["ErrorCode"] == 42           # duplicate keys
        r = kmsg.call(c, kmsg.ALTER_CONFIGS, 2, {"Resources": [
            {"ResourceType": 2, "ResourceName": t, "Configs": [{"Name": "retention.ms", "Value": "9" * 30000}]}]})
        assert r["Responses"][0]["ErrorCode"] == 40           # a huge value is not a number
        res = [{"ResourceType": 2, "ResourceName": "adv-ac-%d" % i, "Configs": []} for i in range(50_000)]
        r = kmsg.call(c, kmsg.ALTER_CONFIGS, 1, {"Resources": res + res[:10]})
        assert len(r["Responses"]) == 50_010
    alive(broker, canary)


def test_fetch_unknown_topic_ids_and_sessions(broker, canary):
    with kp.Conn(broker.bootstrap, timeout=60) as c:
        ids = [os.urandom(16) for _ in range(50_000)]
        r = kmsg.call(c, kmsg.FETCH, 17, {"MaxWaitMs": 0, "MinBytes": 0, "MaxBytes": 1 << 20, "SessionEpoch": 0,
                                           "Topics": [{"TopicId": i, "Partitions": [
                                               {"Partition": 0, "FetchOffset": 0, "PartitionMaxBytes": 1000}]}
                                               for i in ids]})
        assert all(p["ErrorCode"] == 100 for t in r["Responses"] for p in t["Partitions"])
        sid = r["SessionId"]
        # the session forgets what it never knew, by ids it never saw
        r = kmsg.call(c, kmsg.FETCH, 17, {"MaxWaitMs": 0, "MinBytes": 0, "SessionId": sid, "SessionEpoch": 1,
                                           "ForgottenTopicsData": [{"TopicId": os.urandom(16), "Partitions": [0, 1]}
                                                                   for _ in range(10_000)]})
        assert r["ErrorCode"] == 0
    alive(broker, canary)


def test_telemetry_junk(broker, canary):
    with kp.Conn(broker.bootstrap, timeout=60) as c:
        for _ in range(200):
            r = kmsg.call(c, kmsg.PUSH_TELEMETRY, 0, {"ClientInstanceId": os.urandom(16),
                                                       "SubscriptionId": random.randint(-2**31, 2**31 - 1),
                                                       "CompressionType": random.randint(-128, 127),
                                                       "Metrics": os.urandom(random.randint(0, 4096))})
            assert r["ErrorCode"] in (117, 76, 42)
        r = kmsg.call(c, kmsg.PUSH_TELEMETRY, 0, {"ClientInstanceId": b"\x01" * 16, "SubscriptionId": 0,
                                                   "Metrics": b"\0" * (100 << 20) })
        assert r["ErrorCode"] in (117, 118)
    alive(broker, canary)


# ------------------------------------------------------------ malformed bodies

CASES = [
    (kmsg.ALTER_CONFIGS, 2, {"Resources": [{"ResourceType": 2, "ResourceName": "x",
                                            "Configs": [{"Name": "a", "Value": "b"}]}]}),
    (kmsg.DESCRIBE_LOG_DIRS, 4, {"Topics": [{"Topic": "x", "Partitions": [1, 2, 3]}]}),
    (kmsg.ALTER_REPLICA_LOG_DIRS, 2, {"Dirs": [{"Path": "/x", "Topics": [{"Name": "x", "Partitions": [1]}]}]}),
    (kmsg.OFFSET_FOR_LEADER_EPOCH, 4, {"Topics": [{"Topic": "x", "Partitions": [{"Partition": 0, "LeaderEpoch": 1}]}]}),
    (kmsg.ELECT_LEADERS, 2, {"ElectionType": 0, "TopicPartitions": [{"Topic": "x", "Partitions": [0]}]}),
    (kmsg.ALTER_PARTITION_REASSIGNMENTS, 0, {"Topics": [{"Name": "x", "Partitions": [
        {"PartitionIndex": 0, "Replicas": [0]}]}]}),
    (kmsg.LIST_PARTITION_REASSIGNMENTS, 0, {"Topics": [{"Name": "x", "PartitionIndexes": [0]}]}),
    (kmsg.DESCRIBE_TOPIC_PARTITIONS, 0, {"Topics": [{"Name": "x"}], "Cursor": {"TopicName": "x", "PartitionIndex": 0}}),
    (kmsg.GET_TELEMETRY_SUBSCRIPTIONS, 0, {"ClientInstanceId": b"\x05" * 16}),
    (kmsg.PUSH_TELEMETRY, 0, {"ClientInstanceId": b"\x05" * 16, "Metrics": b"abc"}),
    (kmsg.FETCH, 17, {"MaxWaitMs": 0, "Topics": [{"TopicId": b"\x05" * 16, "Partitions": [
        {"Partition": 0, "FetchOffset": 0, "PartitionMaxBytes": 100}]}]}),
    (kmsg.LIST_OFFSETS, 10, {"Topics": [{"Name": "x", "Partitions": [{"PartitionIndex": 0, "Timestamp": -5}]}]}),
    (kmsg.API_VERSIONS, 4, {"ClientSoftwareName": "a", "ClientSoftwareVersion": "b"}),
    (kmsg.DESCRIBE_CLUSTER, 1, {"EndpointType": 1}),
]


@pytest.mark.parametrize("api,version,body", CASES, ids=[str(c[0][0]) for c in CASES])
def test_truncated_and_lying_bodies(broker, canary, api, version, body):
    """Every prefix of a valid request, and the valid request with each
    4-byte window overwritten by a huge count: answered or closed, never a
    crash, never a hang."""
    frame = kmsg.frame(api, version, body, corr=7)
    payload = frame[4:]
    hdr = len(payload) - len(kmsg.encode(api[2], version, body, version >= api[1]))
    rnd = random.Random(api[0])
    cuts = sorted(set(rnd.randrange(hdr, len(payload)) for _ in range(12)))
    for cut in cuts:
        p = payload[:cut]
        send_frame(broker, kp.i32(len(p)) + p, timeout=10)
    for pos in range(hdr, len(payload) - 3, max(1, (len(payload) - hdr) // 12)):
        for val in (0x7FFFFFFF, 0xFFFFFFF0, 0x0FFFFFFF):
            p = payload[:pos] + struct.pack(">I", val) + payload[pos + 4:]
            send_frame(broker, kp.i32(len(p)) + p, timeout=10)
    alive(broker, canary)


# ------------------------------------------------------------ down-conversion

def gzip_batch(values):
    recs = b"".join(kp.record(i, None, v) for i, v in enumerate(values))
    body = gzip.compress(recs, compresslevel=1)
    n, ts = len(values), int(time.time() * 1000)
    after = (kp.i16(1) + kp.i32(n - 1) + kp.i64(ts) + kp.i64(ts) + kp.i64(-1) + kp.i16(-1) + kp.i32(-1)
             + kp.i32(n) + body)
    tail = kp.i32(-1) + kp.i8(2) + kp.u32(kp.crc32c(after)) + after
    return kp.i64(0) + kp.i32(len(tail)) + tail


def test_down_conversion_bombs(broker, canary):
    """A gzip batch of 64 one-MiB records of zeros (64 MiB decompressed) is
    converted through a bounded window; a record beyond the conversion
    bound (65 MiB) makes its partition CORRUPT_MESSAGE for old clients
    only."""
    t = ck.create_topic(broker, "adv-bomb", partitions=2, config={"max.message.bytes": str(8 << 20)})
    with kp.Conn(broker.bootstrap, timeout=120) as c:
        for p, vals in ((0, [b"\0" * (1 << 20)] * 64), (1, [b"\0" * (65 << 20)])):
            r = kmsg.call(c, kmsg.PRODUCE, 7, {"TransactionalId": None, "Acks": -1, "TimeoutMs": 30000, "TopicData": [
                {"Name": t, "PartitionData": [{"Index": p, "Records": gzip_batch(vals)}]}]})
            assert r["Responses"][0]["PartitionResponses"][0]["ErrorCode"] == 0
        for p, want in ((0, 0), (1, 2)):
            t0 = time.monotonic()
            r = kmsg.call(c, kmsg.FETCH, 2, {"MaxWaitMs": 0, "MinBytes": 0, "Topics": [
                {"Topic": t, "Partitions": [{"Partition": p, "FetchOffset": 0, "PartitionMaxBytes": 1 << 20}]}]})
            pd = r["Responses"][0]["Partitions"][0]
            assert pd["ErrorCode"] == want, pd["ErrorCode"]
            print("partition %d converted in %.2f s" % (p, time.monotonic() - t0))
    alive(broker, canary)


def test_slow_readers_of_down_converted_answers(broker, canary):
    """Thirty connections each ask for a large Fetch v1 answer and do not
    read it: each holds one converted piece at a time, not its answer."""
    t = ck.create_topic(broker, "adv-slow", config={"max.message.bytes": str(2 << 20)})
    with kp.Conn(broker.bootstrap, timeout=60) as c:
        for _ in range(20):
            r = kmsg.call(c, kmsg.PRODUCE, 3, {"TransactionalId": None, "Acks": -1, "TimeoutMs": 30000, "TopicData": [
                {"Name": t, "PartitionData": [{"Index": 0, "Records": kp.record_batch(
                    [(None, os.urandom(1000)) for _ in range(1000)])}]}]})
            assert r["Responses"][0]["PartitionResponses"][0]["ErrorCode"] == 0
    base = rss_kb(broker.pid)[0] / 1024.0
    socks = []
    try:
        for i in range(30):
            s = raw_socket(broker, rcvbuf=4096, timeout=10)
            s.sendall(kmsg.frame(kmsg.FETCH, 1, {"MaxWaitMs": 0, "MinBytes": 0, "Topics": [
                {"Topic": t, "Partitions": [{"Partition": 0, "FetchOffset": 0, "PartitionMaxBytes": 100 << 20}]}]}, i))
            socks.append(s)
        time.sleep(2)
        alive(broker, canary)
        held = rss_kb(broker.pid)[0] / 1024.0
        for s in socks[:5]:                 # some read a little, then go away
            s.recv(65536)
    finally:
        for s in socks:
            s.close()
    print("RSS %.0f MiB before the slow readers, %.0f MiB while 30 of them stall on 20 MiB answers"
          % (base, held))
    assert held - base < 64, "the stalled answers hold %.0f MiB" % (held - base)
    alive(broker, canary)


def test_peak_rss(broker):
    peak = assert_peak_rss(broker, PEAK_RSS_MB)
    print("peak RSS of the module: %.0f MiB" % peak)


def test_restart_after_attacks(broker, canary):
    broker.restart()
    canary.check()
