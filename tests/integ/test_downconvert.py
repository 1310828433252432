"""Fetch v0-3: stored v2 batches down-converted to magic 0 (v0-1) and magic 1
(v2-3) message sets, as Kafka's LazyDownConversionRecords converts them:
control records and headers dropped, the batch's codec kept (one wrapper
per batch), offsets absolute (magic 0) or relative inside wrappers (magic
1), LogAppendTime carried; message.downconversion.enable (topic and broker)
and zstd answered as Kafka answers them; read by kafka-python at its old
protocol levels; memory bounded while a large answer is written."""
import gzip
import os
import struct
import threading
import time
import zlib

import lz4.frame
import pytest
import snappy
import xxhash
import zstandard
from kafka import KafkaConsumer, TopicPartition

import ck
import kmsg
import kproto as kp
from storage_check import env_broker_factory

NONE = 0
CORRUPT_MESSAGE = 2
UNSUPPORTED_VERSION = 35
UNSUPPORTED_COMPRESSION_TYPE = 76

GZIP, SNAPPY, LZ4, ZSTD = 1, 2, 3, 4

# ------------------------------------------------------------ legacy message sets

def xerial_decode(data):
    assert data[:8] == b"\x82SNAPPY\x00" and data[8:16] == b"\x00\x00\x00\x01\x00\x00\x00\x01", data[:16]
    out, p = b"", 16
    while p < len(data):
        (n,) = struct.unpack_from(">i", data, p)
        out += snappy.uncompress(data[p + 4:p + 4 + n])
        p += 4 + n
    return out


def lz4_decode(data, magic):
    assert data[:4] == b"\x04\x22\x4d\x18" and data[4] == 0x60 and data[5] == 0x40
    # the header checksum: of FLG..BD (magic 1), of magic..BD (Kafka's magic 0)
    covered = data[0:6] if magic == 0 else data[4:6]
    assert data[6] == (xxhash.xxh32(covered, seed=0).intdigest() >> 8) & 0xFF
    if magic == 0:
        fixed = data[:6] + bytes([(xxhash.xxh32(data[4:6], seed=0).intdigest() >> 8) & 0xFF]) + data[7:]
        return lz4.frame.decompress(fixed)
    return lz4.frame.decompress(data)


def parse_message_set(data, outer=None):
    """-> [dict(offset, magic, attrs, ts, key, value, inner=[...])]; stops at
    a partial trailing message (clients skip it).  Every CRC is checked."""
    out, p = [], 0
    while p + 12 <= len(data):
        off, size = struct.unpack_from(">qi", data, p)
        if p + 12 + size > len(data):
            break                                   # partial (or overflow) message
        m = data[p + 12:p + 12 + size]
        crc, magic, attrs = struct.unpack_from(">Ibb", m, 0)
        assert crc == zlib.crc32(m[4:]), "bad CRC at offset %d" % off
        q = 6
        ts = None
        if magic == 1:
            (ts,) = struct.unpack_from(">q", m, q)
            q += 8
        (kl,) = struct.unpack_from(">i", m, q)
        q += 4
        key = None if kl < 0 else m[q:q + kl]
        q += max(kl, 0)
        (vl,) = struct.unpack_from(">i", m, q)
        q += 4
        value = None if vl < 0 else m[q:q + vl]
        assert q + max(vl, 0) == len(m)
        msg = {"offset": off, "magic": magic, "attrs": attrs, "ts": ts, "key": key, "value": value}
        codec = attrs & 7
        if codec:
            raw = {GZIP: lambda d: gzip.decompress(d), SNAPPY: xerial_decode,
                   LZ4: lambda d: lz4_decode(d, magic)}[codec](value)
            msg["inner"] = parse_message_set(raw, msg)
            assert all(i["magic"] == magic for i in msg["inner"])
        out.append(msg)
        p += 12 + size
    return out


def flatten(msgs):
    """Inner messages with their absolute offsets (Kafka's rules)."""
    out = []
    for m in msgs:
        if "inner" not in m:
            out.append((m["offset"], m["key"], m["value"], m["ts"], m["attrs"]))
            continue
        inner = m["inner"]
        if m["magic"] == 0:
            abs_offs = [i["offset"] for i in inner]
        else:
            # relative offsets: the wrapper carries the last one
            abs_offs = [m["offset"] - inner[-1]["offset"] + i["offset"] for i in inner]
            assert [i["offset"] for i in inner] == list(range(len(inner)))
        for o, i in zip(abs_offs, inner):
            out.append((o, i["key"], i["value"], i["ts"], i["attrs"]))
    return out


# ------------------------------------------------------------ helpers

def batch(values, codec=0, headers=(), base_ts=None, attrs=0):
    """A v2 batch of (key, value) records with the given codec."""
    recs = [kp.record(i, k, v, headers=headers) for i, (k, v) in enumerate(values)]
    body = b"".join(recs)
    if codec == GZIP:
        body = gzip.compress(body)
    elif codec == SNAPPY:
        body = snappy.compress(body)
    elif codec == LZ4:
        body = lz4.frame.compress(body, block_size=lz4.frame.BLOCKSIZE_MAX64KB, content_checksum=False)
    elif codec == ZSTD:
        body = zstandard.ZstdCompressor().compress(body)
    ts = int(time.time() * 1000) if base_ts is None else base_ts
    n = len(values)
    after_crc = (kp.i16(codec | attrs) + kp.i32(n - 1) + kp.i64(ts) + kp.i64(ts) + kp.i64(-1) + kp.i16(-1)
                 + kp.i32(-1) + kp.i32(n) + body)
    tail = kp.i32(-1) + kp.i8(2) + kp.u32(kp.crc32c(after_crc)) + after_crc
    return kp.i64(0) + kp.i32(len(tail)) + tail


def produce(b, topic, batches, partition=0, version=7):
    with kp.Conn(b.bootstrap) as c:
        r = kmsg.call(c, kmsg.PRODUCE, version, {"TransactionalId": None, "Acks": -1, "TimeoutMs": 5000, "TopicData": [
            {"Name": topic, "PartitionData": [{"Index": partition, "Records": bt} for bt in batches]}]})
    return [(p["ErrorCode"], p["BaseOffset"]) for p in r["Responses"][0]["PartitionResponses"]]


def read_all(b, version, topic, offset=0, max_bytes=1 << 20):
    """Fetch as an old client does until the high watermark: whole messages
    of each answer, then again from after the last one.  -> (messages as
    flatten() gives them, the wrappers)."""
    got, wrappers = [], []
    for _ in range(1000):
        pd = fetch_legacy(b, version, topic, offset=offset, max_bytes=max_bytes)
        assert pd["ErrorCode"] == NONE
        msgs = parse_message_set(pd["Records"])
        new = [m for m in flatten(msgs) if m[0] >= offset]
        if not new:
            assert offset == pd["HighWatermark"], "nothing whole at %d" % offset
            return got, wrappers
        got += new
        wrappers += msgs
        offset = new[-1][0] + 1
    raise AssertionError("no end")


def fetch_legacy(b, version, topic, offset=0, partition=0, max_bytes=1 << 20, conn=None):
    body = {"MaxWaitMs": 0, "MinBytes": 0, "MaxBytes": 1 << 30, "Topics": [
        {"Topic": topic, "Partitions": [{"Partition": partition, "FetchOffset": offset,
                                         "PartitionMaxBytes": max_bytes}]}]}
    if conn is not None:
        r = kmsg.call(conn, kmsg.FETCH, version, body)
    else:
        with kp.Conn(b.bootstrap) as c:
            r = kmsg.call(c, kmsg.FETCH, version, body)
    return r["Responses"][0]["Partitions"][0]


# ------------------------------------------------------------ tests

@pytest.mark.parametrize("codec", [0, GZIP, SNAPPY, LZ4])
@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_downconvert_formats(broker, version, codec):
    t = ck.create_topic(broker, "dc-%d-%d" % (version, codec))
    ts0 = 1700000000000
    vals = [[(b"k%d" % i, b"value-%d" % i) for i in range(n)] for n in (3, 1, 4)]
    for i, v in enumerate(vals):
        [(err, _)] = produce(broker, t, [batch(v, codec, headers=[(b"h", b"dropped")], base_ts=ts0 + i)])
        assert err == NONE
    pd = fetch_legacy(broker, version, t)
    assert pd["ErrorCode"] == NONE and pd["HighWatermark"] == 8
    # an answer may end inside a message (converted sets can be larger than
    # the stored batches): the client reads on from the last whole one
    got, msgs = read_all(broker, version, t)
    magic = 0 if version <= 1 else 1
    assert all(m["magic"] == magic for m in msgs)
    if codec:
        # one wrapper per batch, the batch's own codec, the last offset
        assert [(m["attrs"] & 7, m["offset"]) for m in msgs] == [(codec, 2), (codec, 3), (codec, 7)]
    want = [(o, k, v) for o, (k, v) in enumerate(x for bt in vals for x in bt)]
    assert [(o, k, v) for o, k, v, _, _ in got] == want
    if magic == 1:
        assert [ts for _, _, _, ts, _ in got] == [ts0] * 3 + [ts0 + 1] + [ts0 + 2] * 4
        if codec:
            assert [m["ts"] for m in msgs] == [ts0, ts0 + 1, ts0 + 2]       # the largest inner timestamp
    else:
        assert all(ts is None for _, _, _, ts, _ in got)
    # a fetch from the middle: an uncompressed set starts at the offset,
    # a compressed one keeps its whole wrapper (the client skips)
    pd = fetch_legacy(broker, version, t, offset=5)
    offs = [o for o, *_ in flatten(parse_message_set(pd["Records"]))]
    assert offs == ([4, 5, 6, 7] if codec else [5, 6, 7])


def test_downconvert_log_append_time(broker):
    t = ck.create_topic(broker, "dc-lat", config={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    produce(broker, t, [batch([(b"a", b"1"), (b"b", b"2")], base_ts=1), batch([(b"c", b"3")], GZIP, base_ts=1)])
    got, msgs = read_all(broker, 3, t)
    assert len(got) == 3
    for _, _, _, ts, attrs in got:
        assert ts >= before and attrs & 0x08          # LogAppendTime, set by the broker
    assert msgs[-1]["attrs"] == (GZIP | 0x08) and msgs[-1]["ts"] >= before


def test_downconvert_null_key_and_tombstone(broker):
    t = ck.create_topic(broker, "dc-nulls")
    produce(broker, t, [batch([(None, b"v"), (b"k", None)]), batch([(None, None)], SNAPPY)])
    got, _ = read_all(broker, 2, t)
    assert [(k, v) for _, k, v, _, _ in got] == [(None, b"v"), (b"k", None), (None, None)]


def test_zstd_first_batch_and_after(broker):
    t = ck.create_topic(broker, "dc-zstd")
    produce(broker, t, [batch([(b"a", b"1")]), batch([(b"b", b"2")], ZSTD)], version=7)
    # the uncompressed batch, then the answer ends (overflow) before zstd
    pd = fetch_legacy(broker, 3, t)
    assert pd["ErrorCode"] == NONE
    assert [v for _, _, v, _, _ in flatten(parse_message_set(pd["Records"]))] == [b"1"]
    # fetched from the zstd batch: it cannot be converted
    pd = fetch_legacy(broker, 3, t, offset=1)
    assert pd["ErrorCode"] == UNSUPPORTED_COMPRESSION_TYPE and pd["HighWatermark"] == -1
    # v4+ reads it as stored
    with kp.Conn(broker.bootstrap) as c:
        r = c.fetch([(t, [(0, 1, 1 << 20)])], version=11)
    assert r["parts"][(t, 0)]["error"] == NONE and r["parts"][(t, 0)]["records"]


def test_zstd_topic_below_v10(broker):
    t = ck.create_topic(broker, "dc-zstd-topic", config={"compression.type": "zstd"})
    produce(broker, t, [batch([(b"a", b"1")])])
    for v in (0, 3, 4, 9):
        assert fetch_legacy(broker, v, t)["ErrorCode"] == UNSUPPORTED_COMPRESSION_TYPE, v
    assert fetch_legacy(broker, 10, t)["ErrorCode"] == NONE


def test_downconversion_disabled_per_topic(broker):
    t = ck.create_topic(broker, "dc-off", config={"message.downconversion.enable": "false"})
    produce(broker, t, [batch([(b"a", b"1")])])
    for v in (0, 1, 2, 3):
        pd = fetch_legacy(broker, v, t)
        assert (pd["ErrorCode"], pd["HighWatermark"], pd["Records"]) == (UNSUPPORTED_VERSION, -1, b"")
    pd = fetch_legacy(broker, 4, t)
    assert pd["ErrorCode"] == NONE and pd["Records"]
    # AlterConfigs turns it back on
    with kp.Conn(broker.bootstrap) as c:
        r = kmsg.call(c, kmsg.ALTER_CONFIGS, 0, {"Resources": [
            {"ResourceType": 2, "ResourceName": t, "Configs": [{"Name": "message.downconversion.enable",
                                                              "Value": "true"}]}]})
    assert r["Responses"][0]["ErrorCode"] == NONE
    assert fetch_legacy(broker, 2, t)["ErrorCode"] == NONE


def test_downconversion_disabled_broker_wide(broker_factory):
    b = broker_factory({"log.message.downconversion.enable": "false"})
    t = ck.create_topic(b, "dc-off-broker")
    on = ck.create_topic(b, "dc-on-topic", config={"message.downconversion.enable": "true"})
    produce(b, t, [batch([(b"a", b"1")])])
    produce(b, on, [batch([(b"a", b"1")])])
    assert fetch_legacy(b, 3, t)["ErrorCode"] == UNSUPPORTED_VERSION
    assert fetch_legacy(b, 3, on)["ErrorCode"] == NONE          # the topic's override wins
    assert fetch_legacy(b, 4, t)["ErrorCode"] == NONE


def test_answer_size_and_overflow(broker):
    """Small records grow when converted (34 bytes of header each): the
    answer is cut at max(stored, first converted batch); a client reads the
    whole messages and fetches the rest."""
    t = ck.create_topic(broker, "dc-grow")
    produce(broker, t, [batch([(None, b"x")] * 50) for _ in range(20)])
    off, seen = 0, []
    for _ in range(100):
        pd = fetch_legacy(broker, 2, t, offset=off, max_bytes=2000)
        assert pd["ErrorCode"] == NONE
        got = flatten(parse_message_set(pd["Records"]))
        assert got, "no whole message at %d" % off
        seen += [o for o, *_ in got]
        off = got[-1][0] + 1
        if off == 1000:
            break
    assert seen == list(range(1000))


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4"])
def test_kafka_python_old_protocol_levels(broker, codec):
    """kafka-python reads what confluent-kafka wrote (headers included), at
    its 0.10.1 (Fetch v3), 0.10.0 (v2), 0.9 (v1) and 0.8.2 (v0) levels."""
    t = ck.create_topic(broker, "dc-kp-%s" % codec)
    msgs = [{"key": b"k%d" % i, "value": b"v%d" % i * 20, "headers": [("h", b"x")]} for i in range(30)]
    ck.produce(broker, t, msgs, **({"compression.codec": codec} if codec else {}))
    for av in [(0, 10, 1), (0, 10, 0), (0, 9), (0, 8, 2)]:
        c = KafkaConsumer(bootstrap_servers=broker.bootstrap, api_version=av, consumer_timeout_ms=5000,
                          enable_auto_commit=False)
        try:
            tp = TopicPartition(t, 0)
            c.assign([tp])
            c.seek_to_beginning(tp)
            got = [(m.offset, m.key, m.value) for m in c]
        finally:
            c.close()
        assert got == [(i, m["key"], m["value"]) for i, m in enumerate(msgs)], av


@pytest.fixture
def env_broker(tmp_path):
    yield from env_broker_factory(tmp_path)


def test_large_answer_memory_bounded(env_broker):
    """A Fetch v2 answer of 96 MiB is converted and sent piece by piece: the
    broker's RSS grows by a small fraction of it while the client reads
    slowly.  (A small AddressSanitizer quarantine: the default keeps 256 MiB
    of freed memory resident, test_adversarial_memory.py.)"""
    b = env_broker({"socket.request.max.bytes": str(200 << 20)},
                   env={"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
                        + ":quarantine_size_mb=16"})
    t = ck.create_topic(b, "dc-big", config={"max.message.bytes": str(2 << 20)})
    payload = os.urandom(1 << 20)
    for i in range(0, 96, 8):
        errs = produce(b, t, [batch([(None, payload[:512 << 10])] * 2) for _ in range(8)])
        assert all(e == NONE for e, _ in errs)
    with open("/proc/%d/status" % b.pid) as f:
        base = [int(l.split()[1]) for l in f if l.startswith("VmRSS")][0] * 1024
    s = kp.connect(b.bootstrap, timeout=60)
    s.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 64 * 1024)
    s.sendall(kmsg.frame(kmsg.FETCH, 2, {"MaxWaitMs": 0, "MinBytes": 0, "Topics": [
        {"Topic": t, "Partitions": [{"Partition": 0, "FetchOffset": 0, "PartitionMaxBytes": 100 << 20}]}]}, 9))
    peak = 0
    got = 0
    size = None
    while size is None or got < size + 4:
        time.sleep(0.002)
        chunk = s.recv(256 * 1024)
        if not chunk:
            break
        if size is None:
            size = struct.unpack(">i", chunk[:4])[0]
        got += len(chunk)
        with open("/proc/%d/status" % b.pid) as f:
            rss = [int(l.split()[1]) for l in f if l.startswith("VmRSS")][0] * 1024
        peak = max(peak, rss)
    s.close()
    assert got >= 96 << 20, got
    growth = peak - base
    print("down-conversion of a %d MiB answer: RSS %.1f MiB before, peak +%.1f MiB"
          % (got >> 20, base / 2 ** 20, growth / 2 ** 20))
    assert growth < 24 << 20, "RSS grew by %d bytes" % growth
