"""Committed offsets: manual sync/async commits, metadata, auto commit,
standalone (assign + commit) groups, auto.offset.reset and never-committed
partitions, checked through confluent-kafka, kafka-python and raw
OffsetFetch requests."""
import time

import pytest
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KTP
from kafka.structs import OffsetAndMetadata

import ck
import kproto as kp
from helpers import wait_until

BROKER_OVERRIDES = {"num.partitions": "1", "auto.create.topics.enable": "false",
                    "offsets.topic.num.partitions": "4",
                    "group.initial.rebalance.delay.ms": "0"}


def fill(broker, topic, nparts, per_part):
    ck.create_topic(broker, topic, partitions=nparts)
    for p in range(nparts):
        ck.produce(broker, topic, [{"value": b"%s-%d-%d" % (topic.encode(), p, i)}
                                   for i in range(per_part)], partition=p)


def committed(broker, group, topic, parts):
    c = ck.consumer(broker, group_id=group)
    try:
        return {r.partition: r.offset
                for r in c.committed([TopicPartition(topic, p) for p in parts], timeout=15)}
    finally:
        c.close()


def offset_fetch(broker, group, topics, version=1):
    with kp.Conn(broker.bootstrap) as c:
        return c.call(kp.OFFSET_FETCH, version, group, topics)


def test_never_committed_is_invalid(broker):
    fill(broker, "off-none", 2, 1)
    assert committed(broker, "g-off-none", "off-none", [0, 1]) == {0: OFFSET_INVALID, 1: OFFSET_INVALID}
    assert OFFSET_INVALID == -1001
    # raw OffsetFetch: unknown group -> offset -1, no error (v1 per partition, v2+ top level too)
    r = offset_fetch(broker, "g-off-none", {"off-none": [0, 1]}, version=1)
    assert r["offsets"] == {("off-none", 0): (-1, "", 0), ("off-none", 1): (-1, "", 0)} or \
        r["offsets"] == {("off-none", 0): (-1, None, 0), ("off-none", 1): (-1, None, 0)}, r
    r = offset_fetch(broker, "g-off-none", {"off-none": [0]}, version=3)
    assert r["error"] == 0 and r["offsets"][("off-none", 0)][0] == -1, r
    # v2+ with a null topic list: all committed offsets of the group (none)
    r = offset_fetch(broker, "g-off-none", None, version=2)
    assert r["error"] == 0 and r["offsets"] == {}, r


def test_manual_sync_and_async_commit(broker):
    topic, group = "off-manual", "g-off-manual"
    fill(broker, topic, 3, 10)
    c = ck.consumer(broker, group_id=group)
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(3)])
        res = c.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 7)],
                       asynchronous=False)
        assert sorted((r.partition, r.offset, r.error) for r in res) == [(0, 4, None), (1, 7, None)]
        assert committed(broker, group, topic, [0, 1, 2]) == {0: 4, 1: 7, 2: OFFSET_INVALID}
    finally:
        c.close()

    # async commit: the on_commit callback reports success
    done = []
    conf = dict(ck.COMMON, **{"bootstrap.servers": broker.bootstrap, "group.id": group,
                              "enable.auto.commit": False})
    conf["on_commit"] = lambda err, parts: done.append(
        (err, sorted((p.partition, p.offset, p.error) for p in parts)))
    c = Consumer(conf)
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(3)])
        c.commit(offsets=[TopicPartition(topic, 2, 9), TopicPartition(topic, 0, 10)],
                 asynchronous=True)
        deadline = time.monotonic() + 15
        while not done and time.monotonic() < deadline:
            c.poll(0.1)
        assert done == [(None, [(0, 10, None), (2, 9, None)])], done
    finally:
        c.close()
    assert committed(broker, group, topic, [0, 1, 2]) == {0: 10, 1: 7, 2: 9}
    # a later commit may move an offset backwards (Kafka does not forbid it)
    c = ck.consumer(broker, group_id=group)
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    finally:
        c.close()
    assert committed(broker, group, topic, [0, 1, 2]) == {0: 1, 1: 7, 2: 9}


def test_commit_metadata_kafka_python(broker):
    topic, group = "off-meta", "g-off-meta"
    fill(broker, topic, 2, 5)
    kc = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group,
                       enable_auto_commit=False, request_timeout_ms=15000,
                       consumer_timeout_ms=5000)
    try:
        tp0, tp1 = KTP(topic, 0), KTP(topic, 1)
        kc.assign([tp0, tp1])
        kc.commit({tp0: OffsetAndMetadata(3, "checkpoint-a"),
                   tp1: OffsetAndMetadata(5, "x" * 1000)})
        assert kc.committed(tp0) == 3 and kc.committed(tp1) == 5
        assert kc.committed(tp0, metadata=True) == OffsetAndMetadata(3, "checkpoint-a")
        assert kc.committed(tp1, metadata=True) == OffsetAndMetadata(5, "x" * 1000)
    finally:
        kc.close()
    r = offset_fetch(broker, group, {topic: [0, 1]}, version=1)
    assert r["offsets"] == {(topic, 0): (3, "checkpoint-a", 0), (topic, 1): (5, "x" * 1000, 0)}, r
    # confluent sees the same offsets
    assert committed(broker, group, topic, [0, 1]) == {0: 3, 1: 5}
    # v5 carries the leader epoch (-1: none) and the same metadata
    r = offset_fetch(broker, group, {topic: [0]}, version=5)
    assert r["error"] == 0 and r["offsets"][(topic, 0)] == (3, "checkpoint-a", 0), r


@pytest.mark.parametrize("version", [1, 2, 3, 5, 7])
def test_raw_commit_versions(broker, version):
    """Standalone commits (generation -1, no member) in each OffsetCommit
    version are stored and read back by OffsetFetch."""
    topic, group = "off-raw", "g-off-raw-v%d" % version
    if topic not in ck.admin(broker).list_topics(timeout=10).topics:
        fill(broker, topic, 1, 3)
    with kp.Conn(broker.bootstrap) as c:
        r = c.call(kp.OFFSET_COMMIT, version, group, {topic: [(0, 2, "m%d" % version)]})
        assert r["errors"] == {(topic, 0): 0}, r
        f = c.call(kp.OFFSET_FETCH, 1, group, {topic: [0]})
        assert f["offsets"] == {(topic, 0): (2, "m%d" % version, 0)}, f


def test_standalone_group_is_empty(broker):
    topic, group = "off-standalone", "g-off-standalone"
    fill(broker, topic, 2, 4)
    c = ck.consumer(broker, group_id=group)
    try:
        c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
        got = []
        deadline = time.monotonic() + 15
        while len(got) < 8 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(m)
        assert len(got) == 8
        c.commit(asynchronous=False, offsets=[TopicPartition(topic, p, 4) for p in (0, 1)])
    finally:
        c.close()
    g = kp.describe_group(broker.bootstrap, group)
    assert (g["error"], g["state"], g["members"]) == (0, "Empty", []), g
    assert g["protocol_type"] in ("", None), g
    with kp.Conn(broker.bootstrap) as conn:
        lg = conn.call(kp.LIST_GROUPS, 0)
    assert lg["error"] == 0 and group in [x[0] for x in lg["groups"]], lg
    assert committed(broker, group, topic, [0, 1]) == {0: 4, 1: 4}


def test_auto_commit(broker):
    topic, group = "off-auto", "g-off-auto"
    fill(broker, topic, 2, 50)
    c = ck.consumer(broker, group_id=group, enable_auto_commit=True,
                    enable_auto_offset_store=True, auto_commit_interval_ms=200,
                    session_timeout_ms=6000)
    try:
        c.subscribe([topic])
        n = 0
        deadline = time.monotonic() + 30
        while n < 100 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and not m.error():
                n += 1
        assert n == 100
        wait_until(lambda: committed(broker, group, topic, [0, 1]) == {0: 50, 1: 50}, timeout=15,
                   interval=0.3, what="auto commit reaches the log end")
    finally:
        c.close()
    assert committed(broker, group, topic, [0, 1]) == {0: 50, 1: 50}


def _first_or_error(c, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error() and m.error().code() == KafkaError._PARTITION_EOF:
            continue
        return m
    return None


def test_auto_offset_reset(broker):
    topic = "off-reset"
    fill(broker, topic, 1, 5)
    # earliest: no committed offset -> from the start
    c = ck.consumer(broker, group_id="g-reset-earliest", auto_offset_reset="earliest")
    try:
        c.assign([TopicPartition(topic, 0)])         # offset from the group
        m = _first_or_error(c)
        assert m is not None and not m.error() and m.offset() == 0, m and m.error()
    finally:
        c.close()
    # latest: only records produced after the assignment
    c = ck.consumer(broker, group_id="g-reset-latest", auto_offset_reset="latest",
                    enable_partition_eof=True)
    try:
        c.assign([TopicPartition(topic, 0)])
        # the reset is done (the fetcher reports the end of the partition at
        # offset 5) before anything new is written; nothing is delivered
        deadline = time.monotonic() + 20
        while True:
            m = c.poll(0.1)
            assert time.monotonic() < deadline, "no end-of-partition event after the reset"
            if m is None:
                continue
            assert m.error() and m.error().code() == KafkaError._PARTITION_EOF, \
                "delivered before anything new was written: %s" % (m.error() or m.offset())
            assert m.offset() == 5, "reset to %d, not the log end 5" % m.offset()
            break
        ck.produce(broker, topic, [{"value": b"late"}])
        m = _first_or_error(c)
        assert m is not None and not m.error() and (m.offset(), m.value()) == (5, b"late")
    finally:
        c.close()
    # error: the consumer reports the missing offset instead of guessing
    c = ck.consumer(broker, group_id="g-reset-error", auto_offset_reset="error")
    try:
        c.assign([TopicPartition(topic, 0)])
        m = _first_or_error(c)
        assert m is not None and m.error() and m.error().code() == KafkaError._AUTO_OFFSET_RESET, \
            m and (m.error(), m.offset())
    finally:
        c.close()
    # a committed offset wins over the reset policy
    c = ck.consumer(broker, group_id="g-reset-committed", auto_offset_reset="latest")
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
        c.assign([TopicPartition(topic, 0)])
        m = _first_or_error(c)
        assert m is not None and not m.error() and m.offset() == 3
    finally:
        c.close()


def test_commit_survives_restart_and_delete(broker_factory):
    """Committed offsets (including metadata) are reloaded from
    __consumer_offsets; OffsetDelete on an Empty group removes them."""
    b = broker_factory({"num.partitions": "1", "offsets.topic.num.partitions": "3"})
    topic, group = "off-restart", "g-off-restart"
    fill(b, topic, 2, 3)
    with kp.Conn(b.bootstrap) as c:
        r = c.call(kp.OFFSET_COMMIT, 2, group, {topic: [(0, 1, "one"), (1, 2, "two")]})
        assert r["errors"] == {(topic, 0): 0, (topic, 1): 0}
        r = c.call(kp.OFFSET_COMMIT, 2, group, {topic: [(0, 3, "three")]})
        assert r["errors"] == {(topic, 0): 0}
    b.restart()
    want = {(topic, 0): (3, "three", 0), (topic, 1): (2, "two", 0)}
    wait_until(lambda: _try_fetch(b, group, {topic: [0, 1]}) == want, timeout=20,
               what="offsets reloaded after restart")
    with kp.Conn(b.bootstrap) as c:
        r = c.call(kp.OFFSET_DELETE, 0, group, {topic: [1]})
        assert r["error"] == 0 and r["errors"] == {(topic, 1): 0}, r
    assert _try_fetch(b, group, {topic: [0, 1]}) == {(topic, 0): (3, "three", 0),
                                                     (topic, 1): (-1, _EMPTY_MD, 0)} or \
        _try_fetch(b, group, {topic: [0, 1]}) == {(topic, 0): (3, "three", 0),
                                                  (topic, 1): (-1, None, 0)}
    b.restart(sig=9)
    got = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = _try_fetch(b, group, {topic: [0, 1]})
        if got and got[(topic, 0)][0] == 3:
            break
        time.sleep(0.2)
    assert got[(topic, 0)] == (3, "three", 0), got
    assert got[(topic, 1)][0] == -1, "deleted offset came back after kill -9: %s" % (got,)


_EMPTY_MD = ""


def _try_fetch(b, group, topics):
    try:
        r = offset_fetch(b, group, topics, version=1)
    except Exception:        # noqa: BLE001 - retried
        return None
    if any(e == kp.COORDINATOR_LOAD_IN_PROGRESS for _, _, e in r["offsets"].values()):
        return None
    return r["offsets"]


def _async_commits(consumers, done, topic, rounds, base, timeout=120):
    """Each consumer commits (partition 0: base+i, partition 1: base+2i) for
    i in 1..rounds with commit(asynchronous=True), without waiting in
    between, then serves callbacks until every commit has reported in
    done[consumer index] (filled by the consumers' on_commit)."""
    deadline = time.monotonic() + timeout
    for r in range(1, rounds + 1):
        for c in consumers:
            c.commit(offsets=[TopicPartition(topic, 0, base + r), TopicPartition(topic, 1, base + 2 * r)],
                     asynchronous=True)
        if r % 50 == 0:
            for c in consumers:
                c.poll(0)
        assert time.monotonic() < deadline, "commits not even sent within %ss" % timeout
    while any(len(done.get(i, [])) < rounds for i in range(len(consumers))) \
            and time.monotonic() < deadline:
        for c in consumers:
            c.poll(0.05)


def test_pipelined_async_commits(broker_factory):
    """Many async commits in flight from several groups (some sharing a
    __consumer_offsets partition, so their records go out in joint appends)
    all succeed, the last one wins, and the offsets survive a restart and a
    kill -9 after the acknowledgements."""
    b = broker_factory({"num.partitions": "1", "offsets.topic.num.partitions": "3",
                        "auto.create.topics.enable": "false"})
    topic, rounds = "off-pipe", 1000
    fill(b, topic, 2, 1)
    groups = ["g-off-pipe-%d" % i for i in range(4)]   # 4 groups on 3 partitions: two share one
    done = {}

    def make(i):
        conf = dict(ck.COMMON, **{"bootstrap.servers": b.bootstrap, "group.id": groups[i],
                                  "enable.auto.commit": False})
        conf["on_commit"] = lambda err, parts: done.setdefault(i, []).append(
            (err, sorted((p.partition, p.offset, p.error) for p in parts)))
        return Consumer(conf)

    consumers = [make(i) for i in range(len(groups))]
    try:
        for c in consumers:          # find the coordinator before the burst
            c.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
        t0 = time.monotonic()
        _async_commits(consumers, done, topic, rounds, 0)
        secs = time.monotonic() - t0
        for i in range(len(groups)):
            got = done.get(i, [])
            assert len(got) == rounds, "group %d: %d of %d commits reported" % (i, len(got), rounds)
            bad = [x for x in got if x[0] is not None or any(e is not None for _, _, e in x[1])]
            assert not bad, "group %d: failed commits %s" % (i, bad[:3])
            # completions come back in commit order
            assert [x[1][0][1] for x in got] == list(range(1, rounds + 1))
        print("%d async commits in %.2f s" % (rounds * len(groups), secs))
    finally:
        for c in consumers:
            c.close()
    want = {0: rounds, 1: 2 * rounds}
    for g in groups:
        assert committed(b, g, topic, [0, 1]) == want, g

    b.restart()
    for g in groups:
        wait_until(lambda: _try_fetch(b, g, {topic: [0, 1]}) is not None, timeout=20,
                   what="offsets loaded after restart")
        assert committed(b, g, topic, [0, 1]) == want, g

    # acknowledged commits survive kill -9 (they are in the log before the ack)
    done.clear()
    consumers = [make(i) for i in range(len(groups))]
    try:
        for c in consumers:
            c.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
        _async_commits(consumers, done, topic, 200, 5000)
        assert all(len(done.get(i, [])) == 200 and all(x[0] is None for x in done[i])
                   for i in range(len(groups))), {i: len(v) for i, v in done.items()}
    finally:
        for c in consumers:
            c.close()
    b.restart(sig=9)
    want = {0: 5200, 1: 5400}
    for g in groups:
        wait_until(lambda: _try_fetch(b, g, {topic: [0, 1]}) is not None, timeout=20,
                   what="offsets loaded after kill -9")
        assert committed(b, g, topic, [0, 1]) == want, g


def test_fetch_sees_pipelined_commits(broker):
    """OffsetCommits and an OffsetFetch sent back to back on one connection
    (one write, so the broker reads them in one loop turn): the answers
    come in order and the fetch sees the last commit, as in Kafka, where a
    connection's next request is read only after the previous answer."""
    topic, group = "off-pipe-fetch", "g-off-pipe-fetch"
    fill(broker, topic, 1, 1)
    s = kp.connect(broker.bootstrap)
    try:
        for rnd in range(3):
            frames, corr = b"", 100 * rnd
            for off in (10, 11, 12):
                corr += 1
                frames += kp.request(kp.OFFSET_COMMIT, 2, corr, kp.enc_offset_commit(
                    group, {topic: [(0, off + rnd, "m%d" % off)]}, version=2))
            corr += 1
            frames += kp.request(kp.OFFSET_FETCH, 1, corr, kp.enc_offset_fetch(group, {topic: [0]}))
            s.sendall(frames)
            for i in range(4):
                r = kp.Reader(kp.recv_frame(s))
                assert r.i32() == 100 * rnd + i + 1
                if i < 3:
                    assert kp.dec_offset_commit(r, 2)["errors"] == {(topic, 0): 0}
                else:
                    got = kp.dec_offset_fetch(r, 1)["offsets"]
                    assert got == {(topic, 0): (12 + rnd, "m12", 0)}, got
    finally:
        s.close()
