"""Transactions with the JavaScript clients:

* kafkajs 2.2.4 (js/kjs_txn.js): producer.transaction() with send and
  sendOffsets, committed and aborted; a kafkajs read_committed consumer
  sees only the committed records, a readUncommitted one sees all; the
  group's committed offset is the committed transaction's, never the
  aborted one's;
* node-rdkafka (js/nrd_txn.js; the librdkafka it bundles, far newer than
  the system's 2.0.2): initTransactions, commitTransaction,
  abortTransaction, and a second producer of the same transactional.id
  fences the first.

node-rdkafka is a native addon built by `npm ci` (tools/deps.sh test);
without it its tests are skipped (failed under GREGOR_STRICT=1).  Every wait
is bounded; all traffic goes to 127.0.0.1."""
import os
import subprocess

import ck
import ktxn as kt
from helpers import JS_DIR, NODE, node_script, require

BROKER_OVERRIDES = {"offsets.topic.num.partitions": "2", "transaction.state.log.num.partitions": "2",
                    "auto.create.topics.enable": "false", "group.initial.rebalance.delay.ms": "0"}


def have_module(name):
    try:
        cp = subprocess.run([NODE, "-e", "require(%r)" % name], cwd=JS_DIR, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return cp.returncode == 0


def consume(broker, topic, count, group, uncommitted=False, max_ms=8000):
    out = node_script("kjs_txn.js", {"op": "consume", "brokers": [broker.bootstrap], "topic": topic,
                                     "groupId": group, "count": count, "readUncommitted": uncommitted,
                                     "maxMs": max_ms, "settleMs": 1000}, timeout=90)
    assert "error" not in out, out
    return out["values"]


def committed(broker, group, topic, p=0):
    with kt.Txn(broker.bootstrap) as t:
        top, parts = t.offset_fetch(group, topic, [p])
        assert top == 0
        return parts[p]


def test_kafkajs_transactions_with_send_offsets(broker):
    require(have_module("kafkajs"), "kafkajs (npm ci in tests/integ/js)")
    ck.create_topic(broker, "kjs-src")
    ck.create_topic(broker, "kjs-out", partitions=2)

    def offs(o):
        return {"consumerGroupId": "kjs-g", "topics": [{"topic": "kjs-src", "partitions": [
            {"partition": 0, "offset": str(o)}]}]}

    txns = [{"records": [{"value": "c1"}, {"value": "c2", "partition": 1}], "offsets": offs(2), "commit": True},
            {"records": [{"value": "a1"}, {"value": "a2", "partition": 1}], "offsets": offs(4), "commit": False},
            {"records": [{"value": "c3"}], "offsets": offs(5), "commit": True},
            {"records": [{"value": "a3", "partition": 1}], "offsets": offs(9), "commit": False}]
    out = node_script("kjs_txn.js", {"op": "transactions", "brokers": [broker.bootstrap], "topic": "kjs-out",
                                     "transactionalId": "kjs-app", "txns": txns}, timeout=90)
    assert out == {"done": ["committed", "aborted", "committed", "aborted"]}, out
    assert committed(broker, "kjs-g", "kjs-src") == (5, 0)
    assert sorted(consume(broker, "kjs-out", 3, "kjs-rc")) == ["c1", "c2", "c3"]
    assert sorted(consume(broker, "kjs-out", 6, "kjs-ru", uncommitted=True)) == ["a1", "a2", "a3", "c1", "c2",
                                                                                   "c3"]


def test_kafkajs_reads_librdkafka_transactions(broker):
    """Aborted transactions of another client (confluent-kafka) are
    invisible to kafkajs read_committed, visible to readUncommitted."""
    require(have_module("kafkajs"), "kafkajs (npm ci in tests/integ/js)")
    from confluent_kafka import Producer
    ck.create_topic(broker, "kjs-ck")
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "kjs-ck-app", "linger.ms": 5})
    p.init_transactions(30)
    for i, commit in enumerate((True, False, True, False, True)):
        p.begin_transaction()
        for j in range(3):
            p.produce("kjs-ck", b"v%d-%d" % (i, j), partition=0)
        p.flush(30)
        (p.commit_transaction if commit else p.abort_transaction)(30)
    want = ["v%d-%d" % (i, j) for i in (0, 2, 4) for j in range(3)]
    assert consume(broker, "kjs-ck", 9, "kjs-ck-rc") == want
    assert len(consume(broker, "kjs-ck", 15, "kjs-ck-ru", uncommitted=True)) == 15


def node_rdkafka_ok():
    return have_module("node-rdkafka")


def test_node_rdkafka_transactions(broker):
    require(node_rdkafka_ok(), "node-rdkafka (npm ci in tests/integ/js builds it; needs g++, make, python3)")
    ck.create_topic(broker, "nrd-t")
    out = node_script("nrd_txn.js", {"brokers": [broker.bootstrap], "topic": "nrd-t", "transactionalId": "nrd-app",
                                     "txns": [{"values": ["n1", "n2"], "commit": True},
                                              {"values": ["x1"], "commit": False},
                                              {"values": ["n3"], "commit": True}]}, timeout=120)
    assert out.get("done") == ["committed", "aborted", "committed"], out
    major, minor = (int(x) for x in out["librdkafka"].split(".")[:2])
    assert (major, minor) >= (2, 3), out        # the bundled librdkafka, not the system's 2.0.2
    assert consume(broker, "nrd-t", 3, "nrd-rc") == ["n1", "n2", "n3"]
    assert sorted(consume(broker, "nrd-t", 4, "nrd-ru", uncommitted=True)) == ["n1", "n2", "n3", "x1"]
    with kt.Txn(broker.bootstrap) as t:
        d = t.describe(["nrd-app"])[0]
        assert d["state"] == "CompleteCommit", d


def test_node_rdkafka_fenced(broker):
    """A second node-rdkafka producer of the same transactional.id fences
    the first: the first one's commit fails fatally (PRODUCER_FENCED or
    INVALID_PRODUCER_EPOCH as librdkafka maps them)."""
    require(node_rdkafka_ok(), "node-rdkafka (npm ci in tests/integ/js builds it; needs g++, make, python3)")
    ck.create_topic(broker, "nrd-f")
    first = subprocess.Popen([NODE, os.path.join(JS_DIR, "nrd_txn.js"), __import__("json").dumps(
        {"brokers": [broker.bootstrap], "topic": "nrd-f", "transactionalId": "nrd-fence", "pauseMs": 4000,
         "txns": [{"values": ["old"], "commit": True}]})], cwd=JS_DIR, stdout=subprocess.PIPE, text=True)
    try:
        import time
        from helpers import wait_until
        wait_until(lambda: t_state(broker, "nrd-fence") == "Ongoing", 30, what="first producer's transaction")
        out = node_script("nrd_txn.js", {"brokers": [broker.bootstrap], "topic": "nrd-f",
                                         "transactionalId": "nrd-fence",
                                         "txns": [{"values": ["new"], "commit": True}]}, timeout=120)
        assert out.get("done") == ["committed"], out
        so, _ = first.communicate(timeout=90)
        res = __import__("json").loads(so.strip().splitlines()[-1])
        assert "error" in res and res.get("fatal"), res
        time.sleep(0.2)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    assert consume(broker, "nrd-f", 1, "nrd-f-rc") == ["new"]


def t_state(broker, txn_id):
    with kt.Txn(broker.bootstrap) as t:
        d = t.describe([txn_id])[0]
        return d["state"] if d["error"] == 0 else None
