"""KIP-227 incremental fetch sessions (Fetch v7-v12) over raw sockets, as
Kafka's FetchManager answers them: session creation with a full response,
incremental responses listing only the partitions with something to report,
long polls woken by appends, ForgottenTopicsData, epoch and id errors,
closing, the cache limit, deleted topics and a large idle session."""
import threading
import time

import ck
import kproto as kp
from confluent_kafka.admin import NewPartitions

PRODUCE = 0
# A parked fetch must be answered by the append (or the deletion) that
# concerns it, not when MaxWaitMs runs out: MaxWaitMs is long and the bound
# on the wake-up half of it, far beyond the timing of a loaded machine under
# sanitizers.  How fast a wake-up is belongs to `make bench`.
PARK_MS = 20000
WAKE_S = PARK_MS / 2000
CONN_S = PARK_MS / 1000 + 10


def produce(broker, topic, partition, values):
    batch = kp.record_batch([(b"k", v) for v in values])
    out = kp.call(broker.bootstrap, PRODUCE, 3, kp.produce_v3(topic, [(partition, batch)]),
                  kp.parse_produce_v3)
    err, base, _ = out[(topic, partition)]
    assert err == 0, out
    return base


def parts_of(topic, n, offset=0, max_bytes=1 << 20):
    return [(topic, [(p, offset, max_bytes) for p in range(n)])]


def base_offsets(records):
    return [kp.batch_info(b)["base_offset"] for b in kp.split_batches(records)]


def new_session(c, topics, version=12):
    r = c.fetch(topics, session_id=0, epoch=0, version=version)
    assert r["error"] == 0
    assert r["session_id"] != 0
    return r


def test_create_then_idle(broker):
    t = ck.create_topic(broker, "fs-create", partitions=3)
    produce(broker, t, 0, [b"a", b"b"])
    with kp.Conn(broker.bootstrap) as c:
        r = new_session(c, parts_of(t, 3))
        sid = r["session_id"]
        assert set(r["parts"]) == {(t, 0), (t, 1), (t, 2)}
        assert r["parts"][(t, 0)]["hw"] == 2
        assert base_offsets(r["parts"][(t, 0)]["records"]) == [0]
        assert r["parts"][(t, 1)]["records"] == b""
        # the client moves p0 past what it got: nothing to report, so the
        # answer comes after MaxWaitMs with no partitions
        t0 = time.monotonic()
        r = c.fetch([(t, [(0, 2, 1 << 20)])], session_id=sid, epoch=1, max_wait_ms=500)
        assert (r["error"], r["session_id"], r["parts"]) == (0, sid, {})
        assert time.monotonic() - t0 >= 0.4
        t0 = time.monotonic()
        r = c.fetch(session_id=sid, epoch=2, max_wait_ms=500)
        assert (r["error"], r["session_id"], r["parts"]) == (0, sid, {})
        assert time.monotonic() - t0 >= 0.4


def test_v7_not_flexible(broker):
    t = ck.create_topic(broker, "fs-v7", partitions=2)
    with kp.Conn(broker.bootstrap) as c:
        r = new_session(c, parts_of(t, 2), version=7)
        sid = r["session_id"]
        assert set(r["parts"]) == {(t, 0), (t, 1)}
        r = c.fetch(session_id=sid, epoch=1, version=7)
        assert (r["error"], r["parts"]) == (0, {})
        produce(broker, t, 1, [b"x"])
        r = c.fetch(session_id=sid, epoch=2, version=7)
        assert list(r["parts"]) == [(t, 1)]
        assert r["parts"][(t, 1)]["hw"] == 1


def test_only_changed_partitions_and_wakeup(broker):
    t = ck.create_topic(broker, "fs-wake", partitions=3)
    with kp.Conn(broker.bootstrap, timeout=CONN_S) as c:
        sid = new_session(c, parts_of(t, 3))["session_id"]
        r = c.fetch(session_id=sid, epoch=1)
        assert r["parts"] == {}
        produce(broker, t, 1, [b"one"])
        r = c.fetch(session_id=sid, epoch=2)
        assert list(r["parts"]) == [(t, 1)]
        p = r["parts"][(t, 1)]
        assert (p["error"], p["hw"]) == (0, 1)
        assert base_offsets(p["records"]) == [0]

        # a parked incremental fetch wakes on an append to any session partition
        c.send(kp.FETCH, 12, kp.fetch_session_req([(t, [(1, 1, 1 << 20)])], session_id=sid, epoch=3,
                                                  max_wait_ms=PARK_MS), flexible=True)
        time.sleep(0.3)
        t0 = time.monotonic()
        produce(broker, t, 2, [b"two"])
        r = kp.parse_fetch_session(c.recv())
        assert time.monotonic() - t0 < WAKE_S
        assert list(r["parts"]) == [(t, 2)]
        assert r["parts"][(t, 2)]["hw"] == 1
        assert base_offsets(r["parts"][(t, 2)]["records"]) == [0]
        # p2 stays to report until the client moves past its records
        r = c.fetch(session_id=sid, epoch=4)
        assert list(r["parts"]) == [(t, 2)]
        r = c.fetch([(t, [(2, 1, 1 << 20)])], session_id=sid, epoch=5)
        assert r["parts"] == {}


def test_updated_fetch_offset(broker):
    t = ck.create_topic(broker, "fs-offset", partitions=1)
    for v in (b"a", b"b", b"c"):
        produce(broker, t, 0, [v])
    with kp.Conn(broker.bootstrap) as c:
        r = new_session(c, [(t, [(0, 3, 1 << 20)])])
        sid = r["session_id"]
        assert r["parts"][(t, 0)]["records"] == b""
        r = c.fetch(session_id=sid, epoch=1)
        assert r["parts"] == {}
        r = c.fetch([(t, [(0, 1, 1 << 20)])], session_id=sid, epoch=2)
        assert base_offsets(r["parts"][(t, 0)]["records"]) == [1, 2]


def test_budget_leftover_reported_later(broker):
    """Data held back by the response's MaxBytes is reported on a later fetch."""
    t = ck.create_topic(broker, "fs-budget", partitions=2)
    with kp.Conn(broker.bootstrap) as c:
        sid = new_session(c, parts_of(t, 2))["session_id"]
        produce(broker, t, 0, [b"x" * 2000])
        produce(broker, t, 1, [b"y" * 2000])
        r = c.fetch(session_id=sid, epoch=2 - 1, max_bytes=100)
        with_data = [k for k, v in r["parts"].items() if v["records"]]
        assert len(with_data) == 1, r["parts"]
        [first] = with_data
        other = (t, 1 - first[1])
        r = c.fetch([(t, [(first[1], 1, 1 << 20)])], session_id=sid, epoch=2)
        assert list(r["parts"]) == [other]
        assert base_offsets(r["parts"][other]["records"]) == [0]


def test_forgotten_topics(broker):
    t = ck.create_topic(broker, "fs-forget", partitions=2)
    with kp.Conn(broker.bootstrap) as c:
        sid = new_session(c, parts_of(t, 2))["session_id"]
        r = c.fetch(session_id=sid, epoch=1, forgotten=[(t, [1])])
        assert (r["error"], r["session_id"], r["parts"]) == (0, sid, {})
        produce(broker, t, 1, [b"gone"])
        r = c.fetch(session_id=sid, epoch=2)
        assert r["parts"] == {}
        produce(broker, t, 0, [b"kept"])
        r = c.fetch(session_id=sid, epoch=3)
        assert list(r["parts"]) == [(t, 0)]
        # forgetting the last partition closes the session: sessionless answer
        r = c.fetch(session_id=sid, epoch=4, forgotten=[(t, [0])])
        assert (r["error"], r["session_id"], r["parts"]) == (0, 0, {})
        r = c.fetch(session_id=sid, epoch=5)
        assert r["error"] == kp.FETCH_SESSION_ID_NOT_FOUND


def test_epoch_and_id_errors(broker):
    t = ck.create_topic(broker, "fs-errors", partitions=1)
    with kp.Conn(broker.bootstrap) as c:
        sid = new_session(c, parts_of(t, 1))["session_id"]
        r = c.fetch(session_id=sid, epoch=5)
        assert (r["error"], r["session_id"], r["parts"]) == (kp.INVALID_FETCH_SESSION_EPOCH, 0, {})
        r = c.fetch(session_id=sid, epoch=1)      # still expected: errors do not advance it
        assert (r["error"], r["session_id"]) == (0, sid)
        r = c.fetch(session_id=sid, epoch=1)      # a duplicate
        assert r["error"] == kp.INVALID_FETCH_SESSION_EPOCH
        other = sid + 1 if sid < 0x7FFFFFFE else 1
        r = c.fetch(session_id=other, epoch=1)
        assert (r["error"], r["session_id"], r["parts"]) == (kp.FETCH_SESSION_ID_NOT_FOUND, 0, {})
        r = c.fetch(session_id=0, epoch=3)
        assert r["error"] == kp.FETCH_SESSION_ID_NOT_FOUND


def test_final_epoch_closes(broker):
    t = ck.create_topic(broker, "fs-final", partitions=2)
    with kp.Conn(broker.bootstrap) as c:
        sid = new_session(c, parts_of(t, 2))["session_id"]
        r = c.fetch(parts_of(t, 2), session_id=sid, epoch=-1)
        assert (r["error"], r["session_id"]) == (0, 0)
        assert set(r["parts"]) == {(t, 0), (t, 1)}
        r = c.fetch(session_id=sid, epoch=1)
        assert r["error"] == kp.FETCH_SESSION_ID_NOT_FOUND
        # INITIAL with an old id closes it too and opens a new session
        sid2 = new_session(c, parts_of(t, 1))["session_id"]
        r = c.fetch(parts_of(t, 1), session_id=sid2, epoch=0)
        sid3 = r["session_id"]
        assert sid3 not in (0, sid2)
        assert c.fetch(session_id=sid2, epoch=1)["error"] == kp.FETCH_SESSION_ID_NOT_FOUND
        assert c.fetch(session_id=sid3, epoch=1)["error"] == 0


def test_sessions_disabled(broker_factory):
    b = broker_factory({"max.incremental.fetch.session.cache.slots": 0})
    t = ck.create_topic(b, "fs-off", partitions=2)
    with kp.Conn(b.bootstrap) as c:
        r = c.fetch(parts_of(t, 2), session_id=0, epoch=0)
        assert (r["error"], r["session_id"]) == (0, 0)
        assert set(r["parts"]) == {(t, 0), (t, 1)}


def test_cache_full(broker_factory):
    b = broker_factory({"max.incremental.fetch.session.cache.slots": 2})
    t = ck.create_topic(b, "fs-full", partitions=1)
    with kp.Conn(b.bootstrap) as c:
        ids = [c.fetch(parts_of(t, 1), epoch=0)["session_id"] for _ in range(3)]
        assert ids[0] and ids[1] and ids[0] != ids[1]
        assert ids[2] == 0
        # closing one makes room
        assert c.fetch(parts_of(t, 1), session_id=ids[0], epoch=-1)["session_id"] == 0
        assert c.fetch(parts_of(t, 1), epoch=0)["session_id"] != 0


def test_topic_deleted_while_in_session(broker):
    t = ck.create_topic(broker, "fs-deleted", partitions=2)
    with kp.Conn(broker.bootstrap, timeout=CONN_S) as c:
        sid = new_session(c, parts_of(t, 2))["session_id"]
        assert c.fetch(session_id=sid, epoch=1)["parts"] == {}
        # a parked fetch is answered when the topic goes
        c.send(kp.FETCH, 12, kp.fetch_session_req([], session_id=sid, epoch=2, max_wait_ms=PARK_MS),
               flexible=True)
        time.sleep(0.2)
        t0 = time.monotonic()
        fs = ck.admin(broker).delete_topics([t], operation_timeout=10, request_timeout=15)
        fs[t].result(timeout=20)
        r = kp.parse_fetch_session(c.recv())
        assert time.monotonic() - t0 < WAKE_S
        assert r["session_id"] == sid
        assert {k: v["error"] for k, v in r["parts"].items()} == \
            {(t, 0): kp.UNKNOWN_TOPIC_OR_PARTITION, (t, 1): kp.UNKNOWN_TOPIC_OR_PARTITION}
        # the session survives and keeps reporting the error
        r = c.fetch(session_id=sid, epoch=3)
        assert r["session_id"] == sid
        assert {v["error"] for v in r["parts"].values()} == {kp.UNKNOWN_TOPIC_OR_PARTITION}
        # a topic created again under the name serves the session's
        # partitions, named in the request or not
        ck.create_topic(broker, t, partitions=2)
        produce(broker, t, 0, [b"new"])
        r = c.fetch([(t, [(0, 0, 1 << 20)])], session_id=sid, epoch=4)
        assert r["parts"][(t, 0)]["error"] == 0
        assert r["parts"][(t, 0)]["hw"] == 1
        assert base_offsets(r["parts"][(t, 0)]["records"]) == [0]
        assert (r["parts"][(t, 1)]["error"], r["parts"][(t, 1)]["hw"]) == (0, 0)
        r = c.fetch([(t, [(0, 1, 1 << 20)])], session_id=sid, epoch=5)
        assert r["parts"] == {}
        produce(broker, t, 1, [b"p1"])
        r = c.fetch(session_id=sid, epoch=6)
        assert list(r["parts"]) == [(t, 1)]
        assert base_offsets(r["parts"][(t, 1)]["records"]) == [0]


def test_large_idle_session(broker):
    n = 2000
    t = ck.create_topic(broker, "fs-large", partitions=n)
    with kp.Conn(broker.bootstrap, timeout=60) as c:
        r = new_session(c, parts_of(t, n, max_bytes=1024))
        sid = r["session_id"]
        assert len(r["parts"]) == n
        epoch = 1
        for _ in range(3):
            r = c.fetch(session_id=sid, epoch=epoch, max_wait_ms=100)
            epoch += 1
            assert (r["error"], r["parts"]) == (0, {})
        produce(broker, t, 1234, [b"v"])
        r = c.fetch(session_id=sid, epoch=epoch, max_wait_ms=100)
        assert list(r["parts"]) == [(t, 1234)]
        # a request from another connection continues the same session
        with kp.Conn(broker.bootstrap) as c2:
            r = c2.fetch([(t, [(1234, 1, 1024)])], session_id=sid, epoch=epoch + 1)
            assert (r["error"], r["parts"]) == (0, {})


def test_parked_fetch_connection_closed(broker):
    t = ck.create_topic(broker, "fs-close", partitions=1)
    c = kp.Conn(broker.bootstrap)
    sid = new_session(c, parts_of(t, 1))["session_id"]
    c.send(kp.FETCH, 12, kp.fetch_session_req([], session_id=sid, epoch=1, max_wait_ms=3000),
           flexible=True)
    time.sleep(0.2)
    c.close()
    time.sleep(0.2)
    produce(broker, t, 0, [b"after close"])
    with kp.Conn(broker.bootstrap) as c2:
        r = c2.fetch(session_id=sid, epoch=2)
        assert list(r["parts"]) == [(t, 0)]


def test_concurrent_sessions_on_one_partition(broker):
    """Two parked session fetches and a sessionless one on the same
    partition are all woken by one append."""
    t = ck.create_topic(broker, "fs-multi", partitions=1)
    conns = [kp.Conn(broker.bootstrap, timeout=CONN_S) for _ in range(3)]
    try:
        sids = [new_session(c, parts_of(t, 1))["session_id"] for c in conns[:2]]
        for c, sid in zip(conns, sids):
            c.send(kp.FETCH, 12, kp.fetch_session_req([], session_id=sid, epoch=1, max_wait_ms=PARK_MS),
                   flexible=True)
        conns[2].send(kp.FETCH, 12, kp.fetch_session_req(parts_of(t, 1), max_wait_ms=PARK_MS), flexible=True)
        time.sleep(0.2)
        t0 = time.monotonic()
        results = [None] * 3

        def rd(i):
            results[i] = kp.parse_fetch_session(conns[i].recv())
        th = [threading.Thread(target=rd, args=(i,)) for i in range(3)]
        for x in th:
            x.start()
        produce(broker, t, 0, [b"all"])
        for x in th:
            x.join(CONN_S)
        assert time.monotonic() - t0 < WAKE_S
        for r in results:
            assert r is not None and list(r["parts"]) == [(t, 0)]
        assert [r["session_id"] for r in results] == sids + [0]
    finally:
        for c in conns:
            c.close()


def produce_batch(broker, topic, partition, batch):
    out = kp.call(broker.bootstrap, PRODUCE, 3, kp.produce_v3(topic, [(partition, batch)]),
                  kp.parse_produce_v3)
    assert out[(topic, partition)][0] == 0, out


def test_log_start_move_reported(broker_factory):
    """Retention moving the log start offset is reported by an incremental
    fetch although nothing was appended."""
    b = broker_factory({"log.retention.check.interval.ms": 200})
    t = ck.create_topic(b, "fs-retention", config={"internal.segment.bytes": "400", "retention.ms": "600000"})
    soon_expired = int(time.time() * 1000) - 600000 + 3000
    for i in range(12):
        produce_batch(b, t, 0, kp.record_batch_ts([(None, b"old-%02d" % i + b"o" * 60)], [soon_expired]))
    produce_batch(b, t, 0, kp.record_batch_ts([(None, b"new")], [int(time.time() * 1000)]))
    with kp.Conn(b.bootstrap) as c:
        r = new_session(c, [(t, [(0, 13, 1 << 20)])])
        sid = r["session_id"]
        p = r["parts"][(t, 0)]
        assert (p["hw"], p["log_start"]) == (13, 0)
        epoch, reported = 1, None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and reported is None:
            r = c.fetch(session_id=sid, epoch=epoch)
            epoch += 1
            reported = r["parts"].get((t, 0))
            if reported is None:
                time.sleep(0.2)
        assert reported is not None, "log start move never reported"
        assert reported["log_start"] > 0 and reported["hw"] == 13
        assert reported["records"] == b""
        assert c.fetch(session_id=sid, epoch=epoch)["parts"] == {}


def test_initial_fetch_long_polls(broker):
    """An INITIAL fetch parks like a sessionless one; the session is made
    when it is answered, by an append or at MaxWaitMs."""
    t = ck.create_topic(broker, "fs-initial-wait", partitions=2)
    with kp.Conn(broker.bootstrap, timeout=CONN_S) as c:
        t0 = time.monotonic()
        r = c.fetch(parts_of(t, 2), session_id=0, epoch=0, max_wait_ms=400)
        assert time.monotonic() - t0 >= 0.3
        assert r["session_id"] != 0 and set(r["parts"]) == {(t, 0), (t, 1)}
        c.send(kp.FETCH, 12, kp.fetch_session_req(parts_of(t, 2), session_id=0, epoch=0, max_wait_ms=PARK_MS),
               flexible=True)
        time.sleep(0.2)
        t0 = time.monotonic()
        produce(broker, t, 1, [b"w"])
        r = kp.parse_fetch_session(c.recv())
        assert time.monotonic() - t0 < WAKE_S
        sid = r["session_id"]
        assert sid != 0 and r["parts"][(t, 1)]["hw"] == 1
        assert base_offsets(r["parts"][(t, 1)]["records"]) == [0]
        r = c.fetch([(t, [(1, 1, 1 << 20)])], session_id=sid, epoch=1)
        assert (r["error"], r["parts"]) == (0, {})


def test_partition_added_while_in_session(broker):
    """A session partition that did not exist yet is served once
    CreatePartitions adds it, without the client naming it again."""
    t = ck.create_topic(broker, "fs-grow", partitions=1)
    with kp.Conn(broker.bootstrap) as c:
        r = new_session(c, parts_of(t, 2))
        sid = r["session_id"]
        assert r["parts"][(t, 1)]["error"] == kp.UNKNOWN_TOPIC_OR_PARTITION
        fs = ck.admin(broker).create_partitions([NewPartitions(t, 2)], request_timeout=15)
        fs[t].result(timeout=20)
        produce(broker, t, 1, [b"late"])
        r = c.fetch(session_id=sid, epoch=1)
        assert list(r["parts"]) == [(t, 1)]
        assert (r["parts"][(t, 1)]["error"], r["parts"][(t, 1)]["hw"]) == (0, 1)
        assert base_offsets(r["parts"][(t, 1)]["records"]) == [0]
        r = c.fetch([(t, [(1, 1, 1 << 20)])], session_id=sid, epoch=2)
        assert r["parts"] == {}


def test_budget_shared_between_busy_partitions(broker):
    """With a MaxBytes that fits one batch, a partition that keeps having
    data does not take every response: the other one gets its turn."""
    t = ck.create_topic(broker, "fs-rotate", partitions=2)
    with kp.Conn(broker.bootstrap) as c:
        sid = new_session(c, parts_of(t, 2))["session_id"]
        for _ in range(4):
            produce(broker, t, 0, [b"x" * 2000])
            produce(broker, t, 1, [b"y" * 2000])
        epoch, offs, served = 1, {0: 0, 1: 0}, []
        for _ in range(4):
            r = c.fetch([(t, [(p, offs[p], 1 << 20) for p in (0, 1)])], session_id=sid, epoch=epoch,
                        max_bytes=100)
            epoch += 1
            with_data = [p for (_, p), v in r["parts"].items() if v["records"]]
            assert len(with_data) == 1, r["parts"]
            served += with_data
            offs[with_data[0]] += len(base_offsets(r["parts"][(t, with_data[0])]["records"]))
        assert sorted(served) == [0, 0, 1, 1], served
