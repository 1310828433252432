"""Consumer groups of the KIP-848 protocol (group.protocol=consumer).

* Raw ConsumerGroupHeartbeat v0/v1 and ConsumerGroupDescribe v0 (kproto):
  join, epochs, Kafka's errors and their precedence, static members,
  regex subscriptions, ListGroups v5, OffsetCommit v9 with member epochs.
* node-rdkafka (its bundled librdkafka >= 2.10) with group.protocol=consumer:
  1 -> 5 -> 2 members on a 12-partition topic with joins, clean leaves and
  kill -9: every record consumed, no partition owned by two members at once
  (each member's assignment changes, with timestamps), commits that survive
  a broker restart; a broker restart under running members changes nobody's
  assignment; a static member restarts without a reassignment.
* `gregor consumer-groups` (--list --type, --describe) over ListGroups v5
  and ConsumerGroupDescribe, also against malformed answers (a proxy that
  rewrites them).

node-rdkafka comes from tests/integ/js/node_modules (npm ci), or from
NODE_RDKAFKA_PATH (a node_modules dir) when that has none.  Every wait is
bounded; all traffic goes to 127.0.0.1.
"""
import json
import os
import signal
import struct
import subprocess
import threading
import time
import uuid

import pytest

import kproto as K
from helpers import JS_DIR, NODE, wait_until

FAST = {
    "group.consumer.min.session.timeout.ms": "6000",
    "group.consumer.session.timeout.ms": "6000",
    "group.consumer.min.heartbeat.interval.ms": "500",
    "group.consumer.heartbeat.interval.ms": "1000",
}

# ---------------------------------------------------------------- raw protocol


def uuid_bytes(u):
    return u if isinstance(u, bytes) else uuid.UUID(u).bytes


def cghb(bootstrap, group, member="", epoch=0, instance=None, rack=None, rebalance_ms=30000,
         topics=(), regex=None, assignor=None, owned=(), version=1, corr=7):
    """One ConsumerGroupHeartbeat; returns a dict of the answer.  topics
    None = null; owned None = null, else [(topic_id_bytes, [parts])]."""
    body = (K.compact_string(group) + K.compact_string(member) + K.i32(epoch)
            + K.compact_string(instance) + K.compact_string(rack) + K.i32(rebalance_ms)
            + K.compact_array(None if topics is None else [K.compact_string(t) for t in topics]))
    if version >= 1:
        body += K.compact_string(regex)
    body += K.compact_string(assignor)
    if owned is None:
        body += K.compact_array(None)
    else:
        body += K.compact_array([uuid_bytes(t) + K.compact_array([K.i32(p) for p in ps]) + K.TAGS0
                                 for t, ps in owned])
    body += K.TAGS0
    r = K.Reader(K.roundtrip(bootstrap, K.request(68, version, corr, body, flexible=True)))
    assert r.i32() == corr
    r.tags()
    out = {"throttle": r.i32(), "error": r.i16(), "message": r.compact_string(),
           "member_id": r.compact_string(), "epoch": r.i32(), "interval": r.i32(), "assignment": None}
    if r.i8() >= 0:
        tps = []
        for _ in range(r.uvarint() - 1):
            tid = r.take(16)
            parts = [r.i32() for _ in range(r.uvarint() - 1)]
            r.tags()
            tps.append((tid, sorted(parts)))
        r.tags()
        out["assignment"] = tps
    r.tags()
    return out


def describe(bootstrap, groups):
    body = K.compact_array([K.compact_string(g) for g in groups]) + K.i8(0) + K.TAGS0
    r = K.Reader(K.roundtrip(bootstrap, K.request(69, 0, 9, body, flexible=True)))
    assert r.i32() == 9
    r.tags()
    r.i32()
    res = []
    for _ in range(r.uvarint() - 1):
        g = {"error": r.i16(), "message": r.compact_string(), "group": r.compact_string(),
             "state": r.compact_string(), "epoch": r.i32(), "assignment_epoch": r.i32(),
             "assignor": r.compact_string(), "members": []}
        for _ in range(r.uvarint() - 1):
            m = {"member_id": r.compact_string(), "instance": r.compact_string(), "rack": r.compact_string(),
                 "epoch": r.i32(), "client_id": r.compact_string(), "host": r.compact_string(),
                 "topics": [r.compact_string() for _ in range(r.uvarint() - 1)],
                 "regex": r.compact_string()}
            for key in ("assignment", "target"):
                tps = {}
                for _ in range(r.uvarint() - 1):
                    r.take(16)
                    name = r.compact_string()
                    tps[name] = sorted(r.i32() for _ in range(r.uvarint() - 1))
                    r.tags()
                r.tags()
                m[key] = tps
            r.tags()
            g["members"].append(m)
        r.i32()
        r.tags()
        res.append(g)
    return res


def list_groups(bootstrap, types=(), states=(), version=5):
    body = (K.compact_array([K.compact_string(s) for s in states])
            + (K.compact_array([K.compact_string(t) for t in types]) if version >= 5 else b"") + K.TAGS0)
    r = K.Reader(K.roundtrip(bootstrap, K.request(16, version, 3, body, flexible=True)))
    assert r.i32() == 3
    r.tags()
    r.i32()
    assert r.i16() == 0
    out = {}
    for _ in range(r.uvarint() - 1):
        gid, ptype, state = r.compact_string(), r.compact_string(), r.compact_string()
        gtype = r.compact_string() if version >= 5 else None
        r.tags()
        out[gid] = (ptype, state, gtype)
    return out


def offset_commit_v9(bootstrap, group, member, epoch, topic, parts):
    tp = (K.compact_string(topic) + K.compact_array(
        [K.i32(p) + K.i64(o) + K.i32(-1) + K.compact_string("") + K.TAGS0 for p, o in parts]) + K.TAGS0)
    body = (K.compact_string(group) + K.i32(epoch) + K.compact_string(member) + K.compact_string(None)
            + K.compact_array([tp]) + K.TAGS0)
    r = K.Reader(K.roundtrip(bootstrap, K.request(8, 9, 5, body, flexible=True)))
    assert r.i32() == 5
    r.tags()
    r.i32()
    errs = []
    for _ in range(r.uvarint() - 1):
        r.compact_string()
        for _ in range(r.uvarint() - 1):
            r.i32()
            errs.append(r.i16())
            r.tags()
        r.tags()
    return errs


def create_topic(b, name, parts):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    for f in a.create_topics([NewTopic(name, parts, 1)]).values():
        f.result(10)


def topic_id(b, name):
    """The topic id from Metadata v12 (kproto)."""
    body = K.compact_array([K.uuid_zero() + K.compact_string(name) + K.TAGS0]) if hasattr(K, "uuid_zero") else (
        K.compact_array([b"\x00" * 16 + K.compact_string(name) + K.TAGS0]))
    body += K.i8(0) + K.i8(0) + K.TAGS0
    r = K.Reader(K.roundtrip(b.bootstrap, K.request(3, 12, 11, body, flexible=True)))
    assert r.i32() == 11
    r.tags()
    r.i32()
    for _ in range(r.uvarint() - 1):
        r.i32(), r.compact_string(), r.i32(), r.compact_string()
        r.tags()
    r.compact_string()
    r.i32()
    for _ in range(r.uvarint() - 1):
        err = r.i16()
        tname = r.compact_string()
        tid = r.take(16)
        assert err == 0 and tname == name
        return tid
    raise AssertionError("no topic")


def produce(b, topic, n, start=0, parts=None):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
    for i in range(start, start + n):
        p.produce(topic, value=str(i).encode(), partition=(i % parts) if parts else -1)
    assert p.flush(20) == 0


# ---------------------------------------------------------------- raw tests


def test_join_epochs_and_errors(broker_factory):
    b = broker_factory(FAST)
    create_topic(b, "cg-a", 6)
    tid = topic_id(b, "cg-a")
    # v1 needs a member id (KIP-1082)
    r = cghb(b.bootstrap, "g", member="", topics=["cg-a"])
    assert r["error"] == 42 and r["message"] == "MemberId can't be empty."
    # v0 may leave it empty: the coordinator makes one
    r = cghb(b.bootstrap, "g", member="", topics=["cg-a"], version=0)
    assert r["error"] == 0 and len(r["member_id"]) == 22 and r["epoch"] == 1 and r["interval"] == 1000
    assert r["assignment"] == [(tid, [0, 1, 2, 3, 4, 5])]
    m1 = r["member_id"]
    # a second member: its partitions stay with m1 until m1 revokes them
    r2 = cghb(b.bootstrap, "g", member="m2", topics=["cg-a"])
    assert r2["error"] == 0 and r2["epoch"] == 2 and r2["assignment"] == []
    r = cghb(b.bootstrap, "g", member=m1, epoch=1, topics=None, rebalance_ms=-1, owned=None)
    assert r["error"] == 0 and r["epoch"] == 1 and len(r["assignment"][0][1]) == 3     # revoke 3, same epoch
    kept = r["assignment"][0][1]
    r = cghb(b.bootstrap, "g", member="m2", epoch=2, topics=None, rebalance_ms=-1, owned=[])
    assert r["error"] == 0 and r["assignment"] is None            # still owned by m1
    r = cghb(b.bootstrap, "g", member=m1, epoch=1, topics=None, rebalance_ms=-1, owned=[(tid, kept)])
    assert r["error"] == 0 and r["epoch"] == 2                    # revocation acknowledged
    r = cghb(b.bootstrap, "g", member="m2", epoch=2, topics=None, rebalance_ms=-1, owned=[])
    assert r["error"] == 0 and sorted(r["assignment"][0][1]) == sorted(set(range(6)) - set(kept))
    # errors, in Kafka's order
    assert cghb(b.bootstrap, "g", member="m2", epoch=9, topics=None, rebalance_ms=-1, owned=[])["error"] == 110
    assert cghb(b.bootstrap, "g", member="nobody", epoch=3, topics=None, rebalance_ms=-1)["error"] == 25
    assert cghb(b.bootstrap, "g", member="x", epoch=-3)["error"] == 42
    assert cghb(b.bootstrap, "g", member="x", rebalance_ms=-1)["error"] == 42
    assert cghb(b.bootstrap, "g", member="x", topics=None)["error"] == 42
    assert cghb(b.bootstrap, "g", member="x", topics=["cg-a"], owned=[(tid, [1])])["error"] == 42
    r = cghb(b.bootstrap, "g", member="x", topics=["cg-a"], assignor="sticky")
    assert r["error"] == 112 and r["message"] == (
        "ServerAssignor sticky is not supported. Supported assignors: uniform, range.")
    assert cghb(b.bootstrap, "", member="x", topics=["cg-a"])["error"] == 24
    assert cghb(b.bootstrap, "g", member="x", epoch=-2)["error"] == 42       # static leave needs an instance
    # describe
    d = describe(b.bootstrap, ["g", "nope"])
    assert d[0]["error"] == 0 and d[0]["state"] == "Stable" and d[0]["epoch"] == 2
    assert d[0]["assignment_epoch"] == 2 and d[0]["assignor"] == "uniform"
    assert sorted(m["member_id"] for m in d[0]["members"]) == sorted([m1, "m2"])
    assert all(m["assignment"] == m["target"] for m in d[0]["members"])
    assert d[1]["error"] == 69
    # ListGroups v5: the type of every group, and the filter
    lg = list_groups(b.bootstrap)
    assert lg["g"] == ("consumer", "Stable", "consumer")
    assert "g" not in list_groups(b.bootstrap, types=["classic"])
    assert "g" in list_groups(b.bootstrap, types=["CONSUMER"])
    # OffsetCommit v9: the member epoch
    assert offset_commit_v9(b.bootstrap, "g", "m2", 2, "cg-a", [(0, 5)]) == [0]
    assert offset_commit_v9(b.bootstrap, "g", "m2", 1, "cg-a", [(0, 5)]) == [113]     # STALE_MEMBER_EPOCH
    assert offset_commit_v9(b.bootstrap, "g", "zz", 2, "cg-a", [(0, 5)]) == [25]
    # leave: the group epoch moves, the partitions go to the other member
    r = cghb(b.bootstrap, "g", member=m1, epoch=-1)
    assert r["error"] == 0 and r["epoch"] == -1
    r = cghb(b.bootstrap, "g", member="m2", epoch=2, topics=None, rebalance_ms=-1, owned=[])
    assert r["error"] == 0 and r["epoch"] == 3 and r["assignment"] == [(tid, list(range(6)))]


@pytest.mark.parametrize("assignors,first", [("range,uniform", "range"), ("uniform,range", "uniform")])
def test_default_server_assignor_is_the_first(broker_factory, assignors, first):
    """group.consumer.assignors: members that name no ServerAssignor get the
    first one.  Two members on two topics of 3 partitions: range splits each
    topic (2 and 1 partitions of each, the same ones of both topics: 4 and 2
    in all), uniform balances the total (3 and 3)."""
    b = broker_factory(dict(FAST, **{"group.consumer.assignors": assignors}))
    create_topic(b, "cga-a", 3)
    create_topic(b, "cga-b", 3)
    for m in ("m1", "m2"):
        r = cghb(b.bootstrap, "ga", member=m, topics=["cga-a", "cga-b"])
        assert r["error"] == 0, r
    [d] = describe(b.bootstrap, ["ga"])
    assert (d["error"], d["epoch"], d["assignment_epoch"], d["assignor"]) == (0, 2, 2, first), d
    targets = {m["member_id"]: m["target"] for m in d["members"]}
    assert sorted(targets) == ["m1", "m2"]
    for topic in ("cga-a", "cga-b"):
        assert sorted(p for t in targets.values() for p in t.get(topic, [])) == [0, 1, 2], targets
    total = sorted(sum(len(p) for p in t.values()) for t in targets.values())
    if first == "range":
        assert total == [2, 4], targets
        assert all(t["cga-a"] == t["cga-b"] for t in targets.values()), targets
    else:
        assert total == [3, 3], targets


def test_static_members_and_max_size(broker_factory):
    b = broker_factory(dict(FAST, **{"group.consumer.max.size": "3"}))
    create_topic(b, "cg-s", 4)
    tid = topic_id(b, "cg-s")
    r = cghb(b.bootstrap, "gs", member="a1", instance="i-a", topics=["cg-s"])
    assert r["error"] == 0
    assert cghb(b.bootstrap, "gs", member="b1", instance="i-b", topics=["cg-s"])["error"] == 0
    # i-a is still in use
    assert cghb(b.bootstrap, "gs", member="a2", instance="i-a", topics=["cg-s"])["error"] == 111
    assert cghb(b.bootstrap, "gs", member="c1", topics=["cg-s"])["error"] == 0
    assert cghb(b.bootstrap, "gs", member="d1", topics=["cg-s"])["error"] == 81     # GROUP_MAX_SIZE_REACHED
    # the size comes first, as in Kafka: even before the instance id is looked at
    assert cghb(b.bootstrap, "gs", member="a3", instance="i-a", topics=["cg-s"])["error"] == 81
    assert cghb(b.bootstrap, "gs", member="c1", epoch=-1)["error"] == 0
    # settle, then a temporary leave (-2) and the rejoin with a new member id
    for _ in range(4):
        ra = cghb(b.bootstrap, "gs", member="a1", instance="i-a", epoch=r["epoch"], topics=None,
                  rebalance_ms=-1, owned=None)
        r = ra
    d = {m["instance"]: m for m in describe(b.bootstrap, ["gs"])[0]["members"]}
    before = d["i-a"]["assignment"]
    r = cghb(b.bootstrap, "gs", member="a1", instance="i-a", epoch=-2)
    assert r["error"] == 0 and r["epoch"] == -2
    r = cghb(b.bootstrap, "gs", member="a2", instance="i-a", topics=["cg-s"])
    assert r["error"] == 0
    d = {m["instance"]: m for m in describe(b.bootstrap, ["gs"])[0]["members"]}
    assert d["i-a"]["member_id"] == "a2" and d["i-a"]["assignment"] == before
    # the old member id is fenced
    assert cghb(b.bootstrap, "gs", member="a1", instance="i-a", epoch=3, topics=None,
                rebalance_ms=-1)["error"] == 82     # FENCED_INSTANCE_ID
    assert tid


def test_regex_subscription(broker_factory):
    b = broker_factory(FAST)
    create_topic(b, "orders-eu", 2)
    create_topic(b, "orders-us", 2)
    create_topic(b, "payments", 2)
    r = cghb(b.bootstrap, "gr", member="r1", topics=None, regex="orders-.*")
    assert r["error"] == 0
    ids = {topic_id(b, t): t for t in ("orders-eu", "orders-us", "payments")}
    assert sorted(ids[t] for t, _ in r["assignment"]) == ["orders-eu", "orders-us"]
    # RE2 syntax: no back-references; a bad pattern is INVALID_REGULAR_EXPRESSION
    # (Kafka's message, with RE2/J's description of the error)
    r = cghb(b.bootstrap, "gr", member="r2", topics=None, regex="(a)\\1")
    assert r["error"] == 128 and r["message"] == (
        "SubscribedTopicRegex `(a)\\1` is not a valid regular expression: invalid escape sequence.")
    r = cghb(b.bootstrap, "gr", member="r2", topics=None, regex="orders-(")
    assert r["error"] == 128 and r["message"] == (
        "SubscribedTopicRegex `orders-(` is not a valid regular expression: missing closing ).")
    r = cghb(b.bootstrap, "gr", member="r2", topics=None, regex="a{2,1}")
    assert r["error"] == 128 and r["message"] == (
        "SubscribedTopicRegex `a{2,1}` is not a valid regular expression: invalid repeat count.")
    # whole names: "orders" alone matches nothing
    r = cghb(b.bootstrap, "gx", member="x1", topics=None, regex="orders")
    assert r["error"] == 0 and r["assignment"] == []
    d = describe(b.bootstrap, ["gr"])[0]["members"][0]
    assert d["regex"] == "orders-.*"


def test_state_survives_restart_raw(broker_factory):
    b = broker_factory(FAST)
    create_topic(b, "cg-r", 4)
    r1 = cghb(b.bootstrap, "gz", member="z1", topics=["cg-r"])
    r2 = cghb(b.bootstrap, "gz", member="z2", topics=["cg-r"])
    r1 = cghb(b.bootstrap, "gz", member="z1", epoch=r1["epoch"], topics=None, rebalance_ms=-1, owned=[])
    before = describe(b.bootstrap, ["gz"])[0]
    b.restart()
    after = wait_until(lambda: (lambda d: d if d["error"] == 0 else None)(describe(b.bootstrap, ["gz"])[0]),
                       timeout=20, what="group loaded")
    key = lambda d: (d["epoch"], d["assignment_epoch"], sorted(
        (m["member_id"], m["epoch"], json.dumps(m["assignment"]), json.dumps(m["target"])) for m in d["members"]))
    assert key(after) == key(before)
    # the members go on with their epochs
    r = cghb(b.bootstrap, "gz", member="z2", epoch=r2["epoch"], topics=None, rebalance_ms=-1, owned=None)
    assert r["error"] == 0
    assert r1


def offset_fetch_v9(bootstrap, group, member, epoch, topic, parts):
    """OffsetFetch v9 of one group -> (group error, {partition: (offset, error)})."""
    tp = K.compact_string(topic) + K.compact_array([K.i32(p) for p in parts]) + K.TAGS0
    g = (K.compact_string(group) + K.compact_string(member) + K.i32(epoch) + K.compact_array([tp]) + K.TAGS0)
    body = K.compact_array([g]) + K.i8(0) + K.TAGS0
    r = K.Reader(K.roundtrip(bootstrap, K.request(9, 9, 6, body, flexible=True)))
    assert r.i32() == 6
    r.tags()
    r.i32()
    assert r.uvarint() - 1 == 1
    assert r.compact_string() == group
    out = {}
    for _ in range(r.uvarint() - 1):
        r.compact_string()
        for _ in range(r.uvarint() - 1):
            p, o = r.i32(), r.i64()
            r.i32()
            r.compact_string()
            out[p] = (o, r.i16())
            r.tags()
        r.tags()
    err = r.i16()
    return err, out


def test_txn_offset_commit_and_offset_fetch_of_members_raw(broker_factory):
    import ktxn as kt
    b = broker_factory(FAST)
    create_topic(b, "cg-t", 2)
    r = cghb(b.bootstrap, "gt", member="t1", topics=["cg-t"])
    assert r["error"] == 0 and r["epoch"] == 1
    # OffsetFetch v9: the member's id and epoch are checked (ConsumerGroup.validateOffsetFetch)
    assert offset_fetch_v9(b.bootstrap, "gt", "t1", 1, "cg-t", [0]) == (0, {0: (-1, 0)})
    assert offset_fetch_v9(b.bootstrap, "gt", "t1", 0, "cg-t", [0]) == (113, {})     # STALE_MEMBER_EPOCH
    assert offset_fetch_v9(b.bootstrap, "gt", "zz", 1, "cg-t", [0]) == (25, {})      # UNKNOWN_MEMBER_ID
    assert offset_fetch_v9(b.bootstrap, "gt", None, -1, "cg-t", [0]) == (0, {0: (-1, 0)})
    with kt.Txn(b.bootstrap) as t:
        err, pid, ep = t.init_retry("tx-cg")
        assert err == kt.NONE
        assert t.add_offsets("tx-cg", pid, ep, "gt") == kt.NONE
        # TxnOffsetCommit v3 with the member id and its epoch as the
        # generation: the member's commit is accepted; a stale epoch is
        # ILLEGAL_GENERATION (Kafka turns STALE_MEMBER_EPOCH into it), an
        # unknown member UNKNOWN_MEMBER_ID, and a request without a member
        # is refused while the group has members
        commit = lambda gen, member, off: t.txn_offset_commit("tx-cg", "gt", pid, ep, {("cg-t", 0): off,
                                                                                      ("cg-t", 1): off},
                                                              generation=gen, member=member, version=3)
        assert commit(0, "t1", 7) == {("cg-t", 0): kt.ILLEGAL_GENERATION, ("cg-t", 1): kt.ILLEGAL_GENERATION}
        assert commit(1, "zz", 7) == {("cg-t", 0): kt.UNKNOWN_MEMBER_ID, ("cg-t", 1): kt.UNKNOWN_MEMBER_ID}
        assert commit(-1, "", 7) == {("cg-t", 0): kt.UNKNOWN_MEMBER_ID, ("cg-t", 1): kt.UNKNOWN_MEMBER_ID}
        assert commit(1, "t1", 7) == {("cg-t", 0): kt.NONE, ("cg-t", 1): kt.NONE}
        # pending until the transaction commits
        assert t.offset_fetch("gt", "cg-t", [0, 1], require_stable=True) == (
            kt.NONE, {0: (-1, kt.UNSTABLE_OFFSET_COMMIT), 1: (-1, kt.UNSTABLE_OFFSET_COMMIT)})
        assert t.end_txn("tx-cg", pid, ep, True) == kt.NONE
        wait_until(lambda: t.offset_fetch("gt", "cg-t", [0, 1], True) == (kt.NONE, {0: (7, 0), 1: (7, 0)}),
                   timeout=15, what="the member's transactional offsets")
    assert offset_fetch_v9(b.bootstrap, "gt", "t1", 1, "cg-t", [0, 1]) == (0, {0: (7, 0), 1: (7, 0)})


def test_topic_metadata_changes_raw(broker_factory):
    """CreatePartitions, a topic created that a live regex matches, a topic
    deleted: the group epoch moves at the members' next heartbeat and the
    assignment follows (Kafka's metadata refresh; regexes at most every 10 s)."""
    from confluent_kafka.admin import AdminClient, NewPartitions
    b = broker_factory(FAST)
    a = AdminClient({"bootstrap.servers": b.bootstrap})
    create_topic(b, "tm-a", 2)
    create_topic(b, "tm-b", 1)
    ta, tb = topic_id(b, "tm-a"), topic_id(b, "tm-b")
    r = cghb(b.bootstrap, "gm", member="m1", topics=["tm-a", "tm-b"])
    assert r["error"] == 0 and sorted(r["assignment"]) == sorted([(ta, [0, 1]), (tb, [0])])
    ep = r["epoch"]
    owned = [(ta, [0, 1]), (tb, [0])]
    # CreatePartitions: a new group epoch, the new partitions assigned
    for f in a.create_partitions([NewPartitions("tm-a", 4)]).values():
        f.result(10)
    r = cghb(b.bootstrap, "gm", member="m1", epoch=ep, topics=None, rebalance_ms=-1, owned=owned)
    assert r["error"] == 0 and r["epoch"] == ep + 1
    assert sorted(r["assignment"]) == sorted([(ta, [0, 1, 2, 3]), (tb, [0])])
    ep = r["epoch"]
    owned = [(ta, [0, 1, 2, 3]), (tb, [0])]
    d = describe(b.bootstrap, ["gm"])[0]
    assert d["epoch"] == ep and d["assignment_epoch"] == ep
    assert d["members"][0]["assignment"] == {"tm-a": [0, 1, 2, 3], "tm-b": [0]}
    # a subscribed topic deleted: its partitions leave the target, the
    # member revokes them, and they leave ConsumerGroupDescribe
    for f in a.delete_topics(["tm-b"]).values():
        f.result(10)
    r = cghb(b.bootstrap, "gm", member="m1", epoch=ep, topics=None, rebalance_ms=-1, owned=owned)
    assert r["error"] == 0 and r["epoch"] == ep       # UNREVOKED_PARTITIONS: the same epoch
    assert r["assignment"] == [(ta, [0, 1, 2, 3])]
    r = cghb(b.bootstrap, "gm", member="m1", epoch=r["epoch"], topics=None, rebalance_ms=-1,
             owned=[(ta, [0, 1, 2, 3])])
    assert r["error"] == 0 and r["epoch"] == ep + 1
    d = describe(b.bootstrap, ["gm"])[0]
    assert d["epoch"] == ep + 1 and d["assignment_epoch"] == ep + 1
    m = d["members"][0]
    assert m["epoch"] == ep + 1 and m["assignment"] == {"tm-a": [0, 1, 2, 3]} and m["target"] == m["assignment"]
    # a topic created later that a live regex matches is picked up (the
    # resolution is refreshed at most every 10 s)
    create_topic(b, "tmr-1", 1)
    r1 = topic_id(b, "tmr-1")
    r = cghb(b.bootstrap, "gx", member="x1", topics=None, regex="tmr-.*")
    assert r["error"] == 0 and r["assignment"] == [(r1, [0])]
    xep = r["epoch"]
    create_topic(b, "tmr-2", 2)
    r2 = topic_id(b, "tmr-2")
    created = time.monotonic()
    seen = None
    while time.monotonic() < created + 40:
        r = cghb(b.bootstrap, "gx", member="x1", epoch=xep, topics=None, rebalance_ms=-1, owned=[(r1, [0])])
        assert r["error"] == 0
        if r["epoch"] > xep:
            seen = r
            break
        time.sleep(1)
    assert seen is not None, "the regex never picked up tmr-2"
    assert sorted(seen["assignment"]) == sorted([(r1, [0]), (r2, [0, 1])])
    d = describe(b.bootstrap, ["gx"])[0]["members"][0]
    assert d["assignment"] == {"tmr-1": [0], "tmr-2": [0, 1]}


def test_range_server_assignor_raw(broker_factory):
    """ServerAssignor "range" picked by the heartbeat: contiguous ranges in
    member order, the same ranges of every topic (co-partitioning), the
    first members one more; recomputed when a member joins or leaves."""
    b = broker_factory(FAST)
    create_topic(b, "rg-a", 5)
    create_topic(b, "rg-b", 5)
    ta, tb = topic_id(b, "rg-a"), topic_id(b, "rg-b")
    topics = ["rg-a", "rg-b"]
    r1 = cghb(b.bootstrap, "grg", member="r1", topics=topics, assignor="range")
    assert r1["error"] == 0 and sorted(r1["assignment"]) == sorted([(ta, list(range(5))), (tb, list(range(5)))])
    d = describe(b.bootstrap, ["grg"])[0]
    assert d["assignor"] == "range"
    r2 = cghb(b.bootstrap, "grg", member="r2", topics=topics, assignor="range")
    assert r2["error"] == 0 and r2["assignment"] == []       # until r1 gives them up
    target = {m["member_id"]: m["target"] for m in describe(b.bootstrap, ["grg"])[0]["members"]}
    assert target == {"r1": {"rg-a": [0, 1, 2], "rg-b": [0, 1, 2]}, "r2": {"rg-a": [3, 4], "rg-b": [3, 4]}}
    # r1 revokes 3-4 of both, then r2 gets them
    owned = [(ta, list(range(5))), (tb, list(range(5)))]
    r = cghb(b.bootstrap, "grg", member="r1", epoch=r1["epoch"], topics=None, rebalance_ms=-1, owned=owned)
    assert r["error"] == 0 and sorted(r["assignment"]) == sorted([(ta, [0, 1, 2]), (tb, [0, 1, 2])])
    r = cghb(b.bootstrap, "grg", member="r1", epoch=r1["epoch"], topics=None, rebalance_ms=-1,
             owned=[(ta, [0, 1, 2]), (tb, [0, 1, 2])])
    assert r["error"] == 0 and r["epoch"] == r2["epoch"]
    r = cghb(b.bootstrap, "grg", member="r2", epoch=r2["epoch"], topics=None, rebalance_ms=-1, owned=[])
    assert r["error"] == 0 and sorted(r["assignment"]) == sorted([(ta, [3, 4]), (tb, [3, 4])])
    # a third member, "r0", sorts first: the ranges are cut again from it
    r0 = cghb(b.bootstrap, "grg", member="r0", topics=topics, assignor="range")
    assert r0["error"] == 0
    target = {m["member_id"]: m["target"] for m in describe(b.bootstrap, ["grg"])[0]["members"]}
    assert target == {"r0": {"rg-a": [0, 1], "rg-b": [0, 1]}, "r1": {"rg-a": [2, 3], "rg-b": [2, 3]},
                      "r2": {"rg-a": [4], "rg-b": [4]}}


# ---------------------------------------------------------------- node-rdkafka


def _node_path():
    here = os.path.join(JS_DIR, "node_modules", "node-rdkafka")
    if os.path.isdir(here):
        return None
    alt = os.environ.get("NODE_RDKAFKA_PATH")
    if alt and os.path.isdir(os.path.join(alt, "node-rdkafka")):
        return alt
    pytest.fail("node-rdkafka is not installed: run `npm ci` in tests/integ/js (tools/deps.sh test)")


class Member:
    """A node-rdkafka consumer process and what it reported."""

    def __init__(self, b, group, topics=None, regex=None, instance=None, name="m", protocol="consumer",
                 max_seconds=150):
        args = {"bootstrap": b.bootstrap, "group": group, "topics": topics, "regex": regex,
                "instance": instance, "clientId": name, "protocol": protocol, "maxSeconds": max_seconds}
        env = dict(os.environ)
        np = _node_path()
        if np:
            env["NODE_PATH"] = np
        self.name = name
        self.events = []
        self.lock = threading.Lock()
        self.p = subprocess.Popen([NODE, os.path.join(JS_DIR, "cg848.js"), json.dumps(args)], cwd=JS_DIR,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.killed_at = None
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(e)

    def evs(self, kind=None):
        with self.lock:
            return [e for e in self.events if kind is None or e["ev"] == kind]

    def owned(self):
        s = set()
        for e in self.evs():
            if e["ev"] == "assign":
                s |= {tuple(x) for x in e["parts"]}
            elif e["ev"] == "revoke":
                s -= {tuple(x) for x in e["parts"]}
        return s

    def values(self):
        return [int(e["v"]) for e in self.evs("msg")]

    def stop(self):
        """A clean close (SIGTERM: the member leaves).  A client that has not
        exited after 40 s (node-rdkafka can hang in its close) is killed: it
        consumed nothing after the last event it reported, which is when it
        stops owning its partitions (a record it consumed later would be an
        event after that time, so an overlap still shows)."""
        self.p.send_signal(signal.SIGTERM)
        sent = int(time.time() * 1000)
        try:
            self.p.wait(40)
        except subprocess.TimeoutExpired:
            evs = self.evs()
            self.killed_at = max([sent] + [e["t"] for e in evs if "t" in e])
            self.p.kill()
            self.p.wait(10)
        self.t.join(5)

    def kill(self):
        self.killed_at = int(time.time() * 1000)
        self.p.kill()
        self.p.wait(10)
        self.t.join(5)

    def end_time(self):
        if self.killed_at:
            return self.killed_at
        c = self.evs("closed")
        return c[0]["t"] if c else None


def ownership_intervals(members):
    """(topic, partition) -> [(start, end, member)] from assign/revoke events;
    a member that was killed owns nothing after the kill."""
    iv = {}
    for m in members:
        open_ = {}
        for e in m.evs():
            if e["ev"] == "assign":
                for tp in map(tuple, e["parts"]):
                    open_[tp] = e["t"]
            elif e["ev"] == "revoke":
                for tp in map(tuple, e["parts"]):
                    if tp in open_:
                        iv.setdefault(tp, []).append((open_.pop(tp), e["t"], m.name))
        end = m.end_time() or int(time.time() * 1000)
        for tp, s in open_.items():
            iv.setdefault(tp, []).append((s, end, m.name))
    return iv


def assert_no_double_ownership(members):
    for tp, ivs in ownership_intervals(members).items():
        ivs.sort()
        for (s1, e1, n1), (s2, e2, n2) in zip(ivs, ivs[1:]):
            assert s2 >= e1 or n1 == n2, "%s owned by %s [%d,%d] and %s [%d,%d]" % (tp, n1, s1, e1, n2, s2, e2)


def test_node_rdkafka_scale_kill_restart(broker_factory):
    b = broker_factory(FAST)
    create_topic(b, "cg-12", 12)
    total = 0
    members = []
    stop = threading.Event()

    def producer():
        nonlocal total
        while not stop.is_set() and total < 6000:
            produce(b, "cg-12", 200, start=total, parts=12)
            total += 200
            time.sleep(0.3)

    pt = threading.Thread(target=producer, daemon=True)
    pt.start()
    m = Member(b, "g12", topics=["cg-12"], name="n0")
    members.append(m)
    wait_until(lambda: len(m.owned()) == 12, timeout=30, what="first member owns 12")
    for i in range(1, 5):
        members.append(Member(b, "g12", topics=["cg-12"], name="n%d" % i))
    wait_until(lambda: all(len(x.owned()) in (2, 3) for x in members) and
               sum(len(x.owned()) for x in members) == 12, timeout=60, what="5 members share 12")
    # clean leaves and kill -9 down to 2
    members[1].stop()
    members[2].kill()
    members[3].stop()
    live = [members[0], members[4]]
    wait_until(lambda: sum(len(x.owned()) for x in live) == 12 and all(len(x.owned()) == 6 for x in live),
               timeout=60, what="2 members share 12 (the killed one fenced after its session)")
    pt.join(60)
    stop.set()
    want = set(range(total))

    def missing():
        got = set(v for x in members for v in x.values())
        miss = sorted(want - got)
        return None if not miss else (len(miss), sorted({v % 12 for v in miss}),
                                      [(x.name, sorted(x.owned())) for x in live])

    deadline = time.monotonic() + 60
    while missing() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not missing(), "records not consumed (count, partitions, owners): %r" % (missing(),)
    assert_no_double_ownership(members)
    time.sleep(1.5)                                 # auto-commit interval
    for x in live:
        x.stop()
    # commits survive a broker restart: a new member starts where they left off
    b.restart()
    n = Member(b, "g12", topics=["cg-12"], name="after")
    produce(b, "cg-12", 120, start=total, parts=12)
    wait_until(lambda: set(range(total, total + 120)) <= set(n.values()), timeout=60,
               what="the records produced after the restart")
    again = [v for v in n.values() if v < total]
    assert len(again) < total // 10, "re-consumed %d of %d: commits lost" % (len(again), total)
    n.stop()


def test_node_rdkafka_broker_restart_keeps_assignments(broker_factory):
    b = broker_factory(FAST)
    create_topic(b, "cg-k", 6)
    ms = [Member(b, "gk", topics=["cg-k"], name="k%d" % i) for i in range(3)]
    wait_until(lambda: all(len(m.owned()) == 2 for m in ms), timeout=60, what="3 members share 6")
    before = [m.owned() for m in ms]
    nrev = [len(m.evs("revoke")) for m in ms]
    epoch_before = describe(b.bootstrap, ["gk"])[0]["epoch"]
    b.restart()
    wait_until(lambda: describe(b.bootstrap, ["gk"])[0]["error"] == 0, timeout=20, what="loaded")
    produce(b, "cg-k", 60, parts=6)
    wait_until(lambda: all(len(m.values()) > 0 for m in ms), timeout=40, what="everyone consumes again")
    time.sleep(3)
    assert [m.owned() for m in ms] == before
    assert [len(m.evs("revoke")) for m in ms] == nrev, "a restart of the broker made members revoke"
    assert describe(b.bootstrap, ["gk"])[0]["epoch"] == epoch_before
    for m in ms:
        m.stop()


def test_node_rdkafka_static_member_restart(broker_factory):
    b = broker_factory(FAST)
    create_topic(b, "cg-st", 6)
    a = Member(b, "gst", topics=["cg-st"], instance="inst-a", name="a")
    c = Member(b, "gst", topics=["cg-st"], instance="inst-c", name="c")
    wait_until(lambda: len(a.owned()) == 3 and len(c.owned()) == 3, timeout=60, what="two static members")
    mine, other = a.owned(), c.owned()
    crev = len(c.evs("revoke"))
    a.stop()                                        # static leave (-2): its partitions wait for it
    a2 = Member(b, "gst", topics=["cg-st"], instance="inst-a", name="a2")
    wait_until(lambda: len(a2.owned()) == 3, timeout=40, what="the static member back")
    assert a2.owned() == mine
    assert c.owned() == other and len(c.evs("revoke")) == crev, "the other member was disturbed"
    a2.stop()
    c.stop()


def test_cli_member_id_with_nul_is_shown_whole(broker_factory):
    """A member id is a Java String: a NUL in it is a character, printed
    escaped ("\\x00"), not where the id ends."""
    from helpers import run_gregor
    b = broker_factory()
    create_topic(b, "cg-n", 2)
    cghb(b.bootstrap, "gn", member="n\x00m", topics=["cg-n"])
    cghb(b.bootstrap, "gn", member="n", topics=["cg-n"])
    cp = run_gregor(["consumer-groups", "--bootstrap-server", b.bootstrap, "--describe", "--group", "gn",
                     "--members"], timeout=60, check=True)
    ids = sorted(ln.split()[1] for ln in cp.stdout.split("\n")[2:] if ln.strip())
    assert ids == ["n", "n\\x00m"], cp.stdout


class _RewriteProxy:
    """A TCP proxy to a broker that answers the requests of answers'
    (api key, version) with its body (after the flexible response header)
    and passes the rest through.  Bounded: daemon threads, sockets with
    timeouts."""

    def __init__(self, upstream_port, port, answers):
        import socket
        self.up, self.answers = upstream_port, answers
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(16)
        self.ls.settimeout(0.5)
        self.stop = False
        self.rewritten = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        while not self.stop:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:                     # closed
                return
            u = socket.create_connection(("127.0.0.1", self.up), timeout=30)
            c.settimeout(30)
            apis = {}
            threading.Thread(target=self._pipe, args=(c, u, apis, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c, apis, False), daemon=True).start()

    def _pipe(self, src, dst, apis, requests):
        try:
            while True:
                frame = K.recv_frame(src)
                corr = struct.unpack(">i", frame[4:8] if requests else frame[0:4])[0]
                if requests:
                    apis[corr] = struct.unpack(">hh", frame[0:4])
                elif apis.get(corr) in self.answers:
                    frame = K.i32(corr) + K.TAGS0 + self.answers[apis.pop(corr)]
                    self.rewritten += 1
                dst.sendall(K.i32(len(frame)) + frame)
        except Exception:
            pass
        finally:
            src.close()
            dst.close()

    def close(self):
        self.stop = True
        self.ls.close()


def test_cli_describe_refuses_a_group_without_state(broker_factory):
    """A ConsumerGroupDescribe answer whose group has a null state is a
    malformed answer: the group is described the classic way, nothing
    crashes."""
    from helpers import free_port, run_gregor
    port = free_port()
    b = broker_factory({"advertised.listeners": "PLAINTEXT://127.0.0.1:%d" % port})
    group = (K.i16(0) + K.compact_string(None) + K.compact_string("gs") + K.compact_string(None) + K.i32(1)
             + K.i32(1) + K.compact_string("uniform") + K.compact_array([]) + K.i32(0) + K.TAGS0)
    p = _RewriteProxy(b.port, port, {(69, 0): K.i32(0) + K.compact_array([group]) + K.TAGS0})
    try:
        create_topic(b, "cg-s", 1)
        cghb(b.bootstrap, "gs", member="s1", topics=["cg-s"])
        cp = run_gregor(["consumer-groups", "--bootstrap-server", "127.0.0.1:%d" % port, "--describe", "--group",
                         "gs", "--state"], timeout=60)
    finally:
        p.close()
    assert p.rewritten >= 1, (cp.stdout, cp.stderr)
    # the classic answer (DescribeGroups: Dead) is what is left to print
    assert cp.returncode == 1 and "'gs'" in cp.stderr, (cp.returncode, cp.stdout, cp.stderr)


def test_cli_list_refuses_a_group_without_id(broker_factory):
    """A ListGroups v5 answer with a null group id is a malformed answer:
    --list --type prints none of it and falls back to the classic list
    (no crash)."""
    from helpers import free_port, run_gregor
    port = free_port()
    b = broker_factory({"advertised.listeners": "PLAINTEXT://127.0.0.1:%d" % port})
    groups = [K.compact_string(g) + K.compact_string("consumer") + K.compact_string("Stable")
              + K.compact_string("consumer") + K.TAGS0 for g in ("ga", None, "gb")]
    p = _RewriteProxy(b.port, port, {(16, 5): K.i32(0) + K.i16(0) + K.compact_array(groups) + K.TAGS0})
    try:
        cp = run_gregor(["consumer-groups", "--bootstrap-server", "127.0.0.1:%d" % port, "--list", "--type"],
                        timeout=60)
    finally:
        p.close()
    assert p.rewritten >= 1, (cp.stdout, cp.stderr)
    # refused whole: what is printed is the classic list, of a broker without groups
    assert cp.returncode == 0 and cp.stdout == "", (cp.returncode, cp.stdout, cp.stderr)


def test_history_shows_epochs_assignments_revocations(broker_factory):
    from helpers import run_gregor
    b = broker_factory(FAST)
    create_topic(b, "cg-h", 4)
    tid = topic_id(b, "cg-h")
    r1 = cghb(b.bootstrap, "gh", member="h1", topics=["cg-h"])
    cghb(b.bootstrap, "gh", member="h2", topics=["cg-h"])
    r1 = cghb(b.bootstrap, "gh", member="h1", epoch=r1["epoch"], topics=None, rebalance_ms=-1,
              owned=[(tid, [0, 1, 2, 3])])
    cp = run_gregor(["consumer-groups", "--bootstrap-server", b.bootstrap, "--history", "--group", "gh"],
                    timeout=60)
    assert cp.returncode == 0, cp
    out = cp.stdout
    assert "GROUP-EPOCH 1" in out and "GROUP-EPOCH 2" in out
    assert "JOINED member=h1 client=gregor-test instance=- subscribed=cg-h" in out
    assert "TARGET-ASSIGNMENT epoch=2" in out
    assert "TARGET member=h1 assignment=cg-h:" in out
    # h1 kept two partitions and must give up the two others
    assert any("MEMBER member=h1 epoch=1 state=UNREVOKED_PARTITIONS" in ln and "revoking=cg-h:" in ln
               for ln in out.splitlines()), out


def test_cli_describe_and_list_consumer_groups(broker_factory):
    from helpers import run_gregor
    b = broker_factory(dict(FAST, **{"http.console.write.enable": "true"}))
    create_topic(b, "cg-c", 4)
    cghb(b.bootstrap, "gc", member="c1", topics=["cg-c"])
    assert offset_commit_v9(b.bootstrap, "gc", "c1", 1, "cg-c", [(0, 0)]) == [0]

    def cli(*args):
        cp = run_gregor(["consumer-groups", "--bootstrap-server", b.bootstrap] + list(args), timeout=60)
        assert cp.returncode == 0, cp
        return cp.stdout

    out = cli("--describe", "--group", "gc", "--state", "--verbose").split("\n")
    hdr = out[1].split()
    assert hdr == ["GROUP", "COORDINATOR", "(ID)", "ASSIGNMENT-STRATEGY", "STATE", "GROUP-EPOCH",
                   "TARGET-ASSIGNMENT-EPOCH", "#MEMBERS"], out
    row = out[2].split()
    assert row[0] == "gc" and row[3] == "uniform" and row[4] == "Stable" and row[5:] == ["1", "1", "1"], out
    out = cli("--describe", "--group", "gc", "--members", "--verbose").split("\n")
    assert out[1].split() == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "CURRENT-EPOCH",
                              "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT"], out
    assert out[2].split() == ["gc", "c1", "/127.0.0.1", "gregor-test", "4", "1", "cg-c:0,1,2,3", "1",
                              "cg-c:0,1,2,3"], out
    out = cli("--describe", "--group", "gc")
    rows = [ln.split() for ln in out.split("\n") if ln.startswith("gc ")]
    assert len(rows) == 4 and all(r[6] == "c1" for r in rows), out
    assert rows[0][2:4] == ["0", "0"] and rows[1][3] == "-", out
    # --list --type, with the states of consumer groups
    cghb(b.bootstrap, "gc2", member="d1", topics=["cg-c"])
    cghb(b.bootstrap, "gc2", member="d1", epoch=-1)
    out = cli("--list", "--type", "--state").split("\n")
    assert out[0].split() == ["GROUP", "TYPE", "STATE"], out
    rows = {ln.split()[0]: ln.split()[1:] for ln in out[1:] if ln.strip()}
    assert rows["gc"] == ["Consumer", "Stable"] and rows["gc2"] == ["Consumer", "Empty"], rows
    out = cli("--list", "--type", "classic")
    assert "gc" not in out.split()


def test_console_api_shows_consumer_groups(broker_factory):
    """The console's JSON (and so its pages and /metrics) describe a consumer
    group: state, group epoch, members with their epochs, assignments and
    what they are revoking, the owner of each committed partition, and a
    timeline of group epochs (who joined or left) and member assignments."""
    import urllib.request

    def get(path):
        with urllib.request.urlopen(b.http + path, timeout=10) as r:
            return r.read().decode()

    b = broker_factory(dict(FAST, **{"http.console.write.enable": "true"}))
    create_topic(b, "cg-c", 4)
    assert cghb(b.bootstrap, "cgc", member="m1", topics=["cg-c"])["epoch"] == 1
    assert cghb(b.bootstrap, "cgc", member="m2", topics=["cg-c"])["epoch"] == 2
    r = cghb(b.bootstrap, "cgc", member="m1", epoch=1, topics=None, rebalance_ms=-1, owned=None)
    kept = r["assignment"][0][1]
    assert r["error"] == 0 and len(kept) == 2                     # m1 must revoke two
    assert offset_commit_v9(b.bootstrap, "cgc", "m1", 1, "cg-c", [(kept[0], 0)]) == [0]
    g = json.loads(get("/api/groups/cgc"))
    assert g["type"] == "consumer" and g["generation"] == 2 and g["protocol"] == "uniform", g
    assert g["state"] == "Reconciling", g
    ms = {m["member_id"]: m for m in g["members"]}
    assert set(ms) == {"m1", "m2"}
    assert ms["m1"]["member_epoch"] == 1 and ms["m1"]["member_state"] == "UNREVOKED_PARTITIONS"
    assert sorted(a["partition"] for a in ms["m1"]["assignment"]) == kept
    assert sorted(a["partition"] for a in ms["m1"]["revoking"]) == sorted(set(range(4)) - set(kept))
    assert ms["m2"]["assignment"] == [] and ms["m2"]["protocol"] == "consumer"
    assert [(o["partition"], o["member"]) for o in g["offsets"]] == [(kept[0], "m1")]
    reb = [(e["generation"], e["trigger"], e["member"]) for e in g["history"] if e["kind"] == "rebalance"]
    assert reb == [(1, "member joined", "m1"), (2, "member joined", "m2")], g["history"]
    asg = [(e["member"], e["member_epoch"], e["assigned"], e["revoking"]) for e in g["history"]
           if e["kind"] == "assignment"]
    revoked = ",".join(str(p) for p in sorted(set(range(4)) - set(kept)))
    assert asg[0] == ("m1", 1, "cg-c:0,1,2,3", "") and asg[-1] == (
        "m1", 1, "cg-c:" + ",".join(str(p) for p in kept), "cg-c:" + revoked), asg
    lst = {x["group"]: x for x in json.loads(get("/api/groups"))["groups"]}
    assert lst["cgc"]["type"] == "consumer" and lst["cgc"]["members"] == 2 and lst["cgc"]["state"] == "Reconciling"
    assert 'kafka_consumergroup_members{consumergroup="cgc"} 2' in get("/metrics")
    # a leave moves the group epoch: the timeline names who left
    assert cghb(b.bootstrap, "cgc", member="m1", epoch=-1)["epoch"] == -1
    g = json.loads(get("/api/groups/cgc"))
    last = [e for e in g["history"] if e["kind"] == "rebalance"][-1]
    assert (last["generation"], last["trigger"], last["member"], last["members"]) == (3, "member left", "m1", 1)
    # a reset is refused while the consumer group has a member
    req = urllib.request.Request(b.http + "/api/groups/cgc/reset?mode=to-earliest&topic=cg-c", method="POST",
                                 headers={"X-Gregor-Console": "1"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 409 and b"is inactive, but the current state is Assigning" in e.value.read()
