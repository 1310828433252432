"""kcat (librdkafka 2.0.2): metadata, keyed produce with headers, consume."""
import os

from helpers import kcat, kcat_metadata

BROKER_OVERRIDES = {"num.partitions": "3", "auto.create.topics.enable": "true"}


def consume(broker, topic, fmt, *extra, timeout=30):
    cp = kcat(broker, "-C", "-t", topic, "-e", "-o", "beginning", "-q", "-f", fmt, *extra,
              timeout=timeout)
    return cp.stdout


def test_metadata_lists_broker(broker):
    md = kcat_metadata(broker)
    assert len(md["brokers"]) == 1, md
    b = md["brokers"][0]
    assert b["name"] == broker.bootstrap, md
    assert md["controllerid"] == b["id"], md


def test_produce_auto_creates_topic(broker):
    topic = "kcat-auto"
    kcat(broker, "-P", "-t", topic, "-p", "0", input="hello\n")
    md = kcat_metadata(broker, topic)
    bid = md["brokers"][0]["id"]
    [t] = [t for t in md["topics"] if t["topic"] == topic]
    assert "error" not in t, t
    parts = sorted(t["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == [0, 1, 2]
    for p in parts:
        assert p["leader"] == bid, p
        assert [r["id"] for r in p["replicas"]] == [bid], p
        assert [r["id"] for r in p["isrs"]] == [bid], p
    # on disk: one directory per partition, first segment at offset 0
    for p in range(3):
        d = broker.partition_dir(topic, p)
        assert os.path.isdir(d), d
        assert "00000000000000000000.log" in os.listdir(d), os.listdir(d)
    assert os.path.getsize(os.path.join(broker.partition_dir(topic, 0),
                                        "00000000000000000000.log")) > 0
    assert consume(broker, topic, "%s\n", "-p", "0") == "hello\n"
    # the new topic also shows up in the all-topics listing
    assert topic in [t["topic"] for t in kcat_metadata(broker)["topics"]]


def test_keys_and_headers_roundtrip(broker):
    topic = "kcat-kh"
    lines = ["k%d:value-%d" % (i, i) for i in range(10)]
    kcat(broker, "-P", "-t", topic, "-p", "0", "-K:", "-H", "h1=v1", "-H", "trace=abc",
         input="\n".join(lines) + "\n")
    out = consume(broker, topic, "%k %s %h %o %p\n", "-p", "0")
    want = "".join("k%d value-%d h1=v1,trace=abc %d 0\n" % (i, i, i) for i in range(10))
    assert out == want
    # a second produce continues at the next offset
    kcat(broker, "-P", "-t", topic, "-p", "0", "-K:", input="late:x\n")
    out = consume(broker, topic, "%k %s %o\n", "-p", "0")
    assert out.splitlines()[-1] == "late x 10"
    assert len(out.splitlines()) == 11


def test_keyed_partitioning_and_contiguous_offsets(broker):
    topic = "kcat-part"
    keys = ["key-%d" % (i % 7) for i in range(42)]
    kcat(broker, "-P", "-t", topic, "-K:", input="".join("%s:%d\n" % (k, i) for i, k in enumerate(keys)))
    out = consume(broker, topic, "%p %o %k %s\n")
    rows = [l.split(" ") for l in out.splitlines()]
    assert len(rows) == 42, out
    assert sorted(int(r[3]) for r in rows) == list(range(42))
    key_part = {}
    by_part = {}
    for p, o, k, v in rows:
        assert key_part.setdefault(k, p) == p, "key %s in two partitions" % k
        by_part.setdefault(int(p), []).append(int(o))
    for p, offs in by_part.items():
        assert sorted(offs) == list(range(len(offs))), (p, offs)
    # per-partition order follows produce order
    for p in by_part:
        vals = [int(r[3]) for r in rows if int(r[0]) == p]
        assert vals == sorted(vals)


def test_consume_tail_offsets(broker):
    topic = "kcat-tail"
    kcat(broker, "-P", "-t", topic, "-p", "0", input="".join("m%d\n" % i for i in range(5)))
    # -o -2: the last two messages
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "-2", "-e", "-q", "-f", "%o %s\n").stdout
    assert out == "3 m3\n4 m4\n"
    out = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "2", "-c", "1", "-q", "-f", "%o %s\n").stdout
    assert out == "2 m2\n"


def test_null_key_and_empty_value(broker):
    topic = "kcat-null"
    # -Z: empty key/value are sent as NULL
    kcat(broker, "-P", "-t", topic, "-p", "0", "-K:", "-Z", input=":v1\nk2:\n")
    out = consume(broker, topic, "[%K|%k] [%S|%s]\n", "-p", "0")
    assert out == "[-1|] [2|v1]\n[2|k2] [-1|]\n"
