#!/usr/bin/python3
"""Capture the fuzz seed corpora (tests/fuzz/corpus/<target>/) from real
client traffic.

    tools/fuzz-corpus.py [path/to/gregord]      (default build/gregord)

Starts gregord in a temp dir behind a recording TCP proxy on loopback (the
broker advertises the proxy, so every client connection goes through it),
drives it with kcat, confluent-kafka, kafka-python and kafkajs (produce in
every codec, consume, consumer groups with commits, admin calls), stops it
cleanly and harvests:

  request         every distinct request frame, as {api key, version, frame}
                  (the layout fuzz_request.c reads), a few per API version
  batch           each stored batch of the data dir, plus legacy (magic 0/1)
                  message sets built by kafka-python's own record builder
  recovery        small segment files, wrapped as fuzz_recovery.c reads them
  offsets_record  the record areas of the __consumer_offsets batches, and
                  each key/value on its own
  config          config/server.properties and syntax variants

Everything is bounded (client timeouts, at most PER_API frames per API
version, segments up to 64 KiB) so the corpora stay small.
"""
import glob
import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
JS_DIR = os.path.join(ROOT, "tests", "integ", "js")
PER_API = 4
MAX_FRAME = 32 << 10
MAX_SEGMENT = 64 << 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def save(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    h = hashlib.sha1(data).hexdigest()[:12]
    path = os.path.join(d, "%s-%s" % (name, h))
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)


# ------------------------------------------------------------ proxy
class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}          # (key, ver) -> set of hashes

    def frame(self, frame):
        if len(frame) < 8 or len(frame) > MAX_FRAME:
            return
        key, ver = struct.unpack(">hh", frame[:4])
        if not (0 <= key < 256 and 0 <= ver < 256):
            return
        h = hashlib.sha1(frame[8:]).hexdigest()    # ignore the correlation id
        with self.lock:
            s = self.seen.setdefault((key, ver), set())
            if h in s or len(s) >= PER_API:
                return
            s.add(h)
        save("request", "k%d-v%d" % (key, ver), bytes([key, ver]) + frame)


def pump(src, dst, rec):
    buf = b""
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            dst.sendall(d)
            if rec is None:
                continue
            buf += d
            while len(buf) >= 4:
                n = struct.unpack(">i", buf[:4])[0]
                if n < 0 or len(buf) < 4 + n:
                    break
                rec.frame(buf[4:4 + n])
                buf = buf[4 + n:]
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def proxy(listen_port, broker_port, rec):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen_port))
    ls.listen(64)

    def loop():
        while True:
            c, _ = ls.accept()
            try:
                b = socket.create_connection(("127.0.0.1", broker_port))
            except OSError:
                c.close()
                continue
            threading.Thread(target=pump, args=(c, b, rec), daemon=True).start()
            threading.Thread(target=pump, args=(b, c, None), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


# ------------------------------------------------------------ clients
def run(argv, input=None, timeout=60, cwd=None):
    try:
        cp = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, cwd=cwd)
        if cp.returncode != 0:
            print("  (exit %d) %s: %s" % (cp.returncode, " ".join(argv[:4]), cp.stderr[-300:]))
    except subprocess.TimeoutExpired:
        print("  (timeout) %s" % " ".join(argv[:4]))


def kcat_workload(bs):
    print("kcat")
    k = ["kcat", "-b", bs, "-X", "socket.timeout.ms=10000"]
    run(k + ["-L"])
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        msgs = "".join("key%d:value %s %d\n" % (i, codec, i) for i in range(20)).encode()
        run(k + ["-P", "-t", "kc-" + codec, "-K", ":", "-z", codec, "-H", "h1=v1", "-H", "h2=v2"], input=msgs)
    run(k + ["-C", "-t", "kc-gzip", "-o", "beginning", "-e", "-q"])
    run(k + ["-C", "-t", "kc-none", "-o", "-5", "-e", "-q"])
    run(k + ["-G", "kc-group", "kc-none", "-o", "beginning", "-e", "-q"], timeout=30)


def confluent_workload(bs):
    print("confluent-kafka")
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic
    a = AdminClient({"bootstrap.servers": bs})
    fs = a.create_topics([NewTopic("ck-admin", 2, 1, config={"retention.ms": "3600000"}),
                          NewTopic("ck-compact", 1, 1, config={"cleanup.policy": "compact"})])
    for f in fs.values():
        try:
            f.result(15)
        except Exception as e:
            print("  ", e)
    for f in a.describe_configs([ConfigResource("topic", "ck-admin"), ConfigResource("broker", "1")]).values():
        try:
            f.result(15)
        except Exception as e:
            print("  ", e)
    try:
        list(a.create_partitions([NewPartitions("ck-admin", 3)]).values())[0].result(15)
    except Exception as e:
        print("  ", e)
    a.list_topics(timeout=10)
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        for acks in ("0", "1", "all"):
            p = Producer({"bootstrap.servers": bs, "compression.type": codec, "acks": acks,
                          "linger.ms": 5, "enable.idempotence": False})
            for i in range(30):
                p.produce("ck-" + codec, key=b"k%d" % (i % 7), value=(b"v%d " % i) * (1 + i % 5),
                          headers=[("hk", b"hv")] if i % 3 == 0 else None)
            p.flush(15)
    c = Consumer({"bootstrap.servers": bs, "group.id": "ck-group", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 6000})
    c.subscribe(["ck-gzip", "ck-zstd"])
    got, t0 = 0, time.time()
    while got < 40 and time.time() - t0 < 20:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got += 1
            if got % 10 == 0:
                c.commit(message=m, asynchronous=False)
    try:
        c.committed([TopicPartition("ck-gzip", 0)], timeout=10)
    except Exception as e:
        print("  ", e)
    c.close()
    c = Consumer({"bootstrap.servers": bs, "group.id": "ck-assign"})
    c.assign([TopicPartition("ck-none", 0, 0)])
    for _ in range(5):
        c.poll(0.3)
    c.offsets_for_times([TopicPartition("ck-none", 0, 0)], timeout=10)
    c.close()


def kafka_python_workload(bs):
    print("kafka-python")
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic
    try:
        a = KafkaAdminClient(bootstrap_servers=bs, request_timeout_ms=10000)
        a.create_topics([NewTopic("kp-admin", 1, 1)])
        a.list_consumer_groups()
        a.close()
    except Exception as e:
        print("  ", e)
    for codec in (None, "gzip", "snappy", "lz4", "zstd"):
        try:
            p = KafkaProducer(bootstrap_servers=bs, compression_type=codec, linger_ms=5)
            for i in range(20):
                p.send("kp-%s" % (codec or "none"), key=b"k%d" % i, value=b"value %d" % i,
                       headers=[("h", b"x")] if i % 2 else None)
            p.flush(15)
            p.close(5)
        except Exception as e:
            print("  ", codec, e)
    for api in ((0, 10, 1), (0, 9)):        # legacy message sets (magic 1, magic 0)
        try:
            p = KafkaProducer(bootstrap_servers=bs, api_version=api, compression_type="gzip" if api == (0, 9) else None)
            for i in range(10):
                p.send("kp-legacy", key=b"k%d" % i, value=b"legacy %d" % i)
            p.flush(15)
            p.close(5)
        except Exception as e:
            print("  ", api, e)
    try:
        c = KafkaConsumer("kp-none", bootstrap_servers=bs, group_id="kp-group", auto_offset_reset="earliest",
                          enable_auto_commit=False, consumer_timeout_ms=5000)
        n = 0
        for _ in c:
            n += 1
            if n % 5 == 0:
                c.commit()
            if n >= 20:
                break
        c.close()
    except Exception as e:
        print("  ", e)


def kafkajs_workload(bs):
    print("kafkajs")
    import json

    def js(payload, timeout=60):
        payload.setdefault("brokers", [bs])
        run(["node", os.path.join(JS_DIR, "kjs.js"), json.dumps(payload)], timeout=timeout, cwd=JS_DIR)
    js({"op": "createTopics", "topics": [{"topic": "kj-t", "numPartitions": 2}]})
    js({"op": "produce", "topic": "kj-t", "batches": [[{"key": "a", "value": "1", "headers": {"x": "y"}},
                                                        {"value": "2"}], [{"key": "b", "value": "3"}]]})
    js({"op": "produce", "topic": "kj-t", "compression": "gzip", "batches": [[{"value": "gz%d" % i} for i in range(10)]]})
    js({"op": "fetchTopicOffsets", "topic": "kj-t"})
    js({"op": "fetchTopicOffsetsByTimestamp", "topic": "kj-t", "timestamp": 0})
    js({"op": "fetchTopicMetadata", "topics": ["kj-t"]})
    js({"op": "groupConsume", "groupId": "kj-group", "topics": ["kj-t"], "count": 5, "maxMs": 15000})
    js({"op": "listGroups"})
    js({"op": "describeGroups", "groupIds": ["kj-group"]})
    js({"op": "fetchOffsets", "groupId": "kj-group", "topics": ["kj-t"]})


# ------------------------------------------------------------ harvest
def batches(data):
    pos = 0
    while pos + 12 <= len(data):
        n = struct.unpack(">i", data[pos + 8:pos + 12])[0]
        if n <= 0 or pos + 12 + n > len(data):
            break
        yield data[pos:pos + 12 + n]
        pos += 12 + n


def harvest_data(data_dir):
    nb = 0
    for log in sorted(glob.glob(os.path.join(data_dir, "*-*", "*.log"))):
        part = os.path.basename(os.path.dirname(log))
        with open(log, "rb") as f:
            seg = f.read()
        if not seg:
            continue
        offsets = part.startswith("__consumer_offsets")
        for b in batches(seg):
            attr = struct.unpack(">h", b[21:23])[0]
            if offsets:
                if attr & 7 == 0 and not attr & 0x20:
                    save("offsets_record", part, b"\x00" + b[61:])
                    for key, val in records(b[61:]):
                        v = b"" if val is None else val
                        save("offsets_record", "kv-" + part,
                             bytes([1 | (2 if val is None else 0)]) + struct.pack(">H", len(key)) + key + v)
                continue
            if len(b) <= MAX_FRAME:
                save("batch", "%s-c%d" % (part, attr & 7), b)
                nb += 1
        if len(seg) <= MAX_SEGMENT and not offsets:
            idx = log[:-4] + ".index"
            index = open(idx, "rb").read() if os.path.exists(idx) else b""
            save("recovery", part, b"\x00\x00\x00\x00\x00" + seg)
            save("recovery", part + "-idx", b"\x01" + struct.pack(">HH", len(index), 0) + index + seg)
            # a torn tail: the last batch cut in half
            save("recovery", part + "-torn", b"\x00\x00\x00\x00\x00" + seg[:len(seg) - 7])
    print("harvested %d batches" % nb)


def varint(data, pos):
    shift = v = 0
    while True:
        b = data[pos]
        pos += 1
        v |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return (v >> 1) ^ -(v & 1), pos


def records(area):
    pos = 0
    try:
        while pos < len(area):
            ln, pos = varint(area, pos)
            end = pos + ln
            q = pos + 1
            _, q = varint(area, q)
            _, q = varint(area, q)
            kl, q = varint(area, q)
            key = area[q:q + kl] if kl >= 0 else b""
            q += max(kl, 0)
            vl, q = varint(area, q)
            val = area[q:q + vl] if vl >= 0 else None
            yield key, val
            pos = end
    except IndexError:
        return


def legacy_sets():
    from kafka.record.legacy_records import LegacyRecordBatchBuilder
    for magic in (0, 1):
        for codec in (0, 1):          # none, gzip (what gregor up-converts)
            b = LegacyRecordBatchBuilder(magic=magic, compression_type=codec, batch_size=1 << 20)
            for i in range(5):
                b.append(i, timestamp=1700000000000 + i if magic else None, key=b"k%d" % i if i % 2 else None,
                         value=b"legacy value %d" % i)
            save("batch", "legacy-m%d-c%d" % (magic, codec), bytes(b.build()))


def config_seeds():
    with open(os.path.join(ROOT, "config", "server.properties"), "rb") as f:
        base = f.read()
    save("config", "server.properties", base)
    variants = {
        "colon-space": b"node.id: 1\nlisteners PLAINTEXT://127.0.0.1:9092\nnum.partitions = 3\n",
        "continuation": b"log.dirs=/tmp/a,\\\n    /tmp/b\nlog.retention.hours=\\\n  24\n! comment\n# comment\n",
        "times": b"log.retention.ms=1000\nlog.retention.minutes=5\nlog.roll.hours=1\nlog.segment.bytes=1048576\n"
                 b"log.flush.interval.messages=1\nlog.flush.interval.ms=10\n",
        "groups": b"group.initial.rebalance.delay.ms=0\ngroup.min.session.timeout.ms=100\n"
                  b"offsets.topic.num.partitions=5\noffsets.retention.minutes=1\n",
        "cleaner": b"log.cleaner.enable=true\nlog.cleaner.min.cleanable.ratio=0.1\n"
                   b"log.message.timestamp.type=LogAppendTime\nauto.create.topics.enable=false\n",
        "bad-value": b"num.partitions=-1\n",
        "unknown-key": b"no.such.key=1\n",
        "crlf": b"node.id=2\r\nmessage.max.bytes=2000000\r\n",
    }
    for name, data in variants.items():
        save("config", name, data)


def main():
    gregord = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "gregord"))
    work = tempfile.mkdtemp(prefix="gregor-corpus-")
    data = os.path.join(work, "data")
    bport, pport = free_port(), free_port()
    rec = Recorder()
    proxy(pport, bport, rec)
    bs = "127.0.0.1:%d" % pport
    argv = [gregord, "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % bport,
            "--override", "advertised.listeners=PLAINTEXT://" + bs, "--override", "log.dirs=" + data,
            "--override", "offsets.topic.num.partitions=3", "--override", "group.initial.rebalance.delay.ms=0",
            "--override", "http.listeners="]
    log = open(os.path.join(work, "gregord.log"), "wb")
    broker = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", bport), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        for w in (kcat_workload, confluent_workload, kafka_python_workload, kafkajs_workload):
            try:
                w(bs)
            except Exception as e:
                print("  workload %s: %s" % (w.__name__, e))
    finally:
        broker.send_signal(signal.SIGTERM)
        broker.wait(30)
    harvest_data(data)
    legacy_sets()
    config_seeds()
    print("requests: %d API versions" % len(rec.seen))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
