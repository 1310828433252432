"""Group administration (confluent AdminClient, kafka-python admin, kafkajs
admin, raw DeleteGroups / OffsetDelete) and hostile or stale group requests
over the raw protocol: each error is Kafka's, and the group's state is
intact afterwards."""
import threading
import time

import pytest

import ck
import kproto as kp
from helpers import node_script, wait_until

MAX_MD = 100
BROKER_OVERRIDES = {"num.partitions": "1", "auto.create.topics.enable": "false",
                    "offsets.topic.num.partitions": "4",
                    "group.initial.rebalance.delay.ms": "0",
                    "group.min.session.timeout.ms": "6000",
                    "group.max.session.timeout.ms": "60000",
                    "group.max.size": "2",
                    "offset.metadata.max.bytes": str(MAX_MD)}


def kjs(broker, op, **args):
    args.update(op=op, brokers=[broker.bootstrap])
    return node_script("kjs.js", args)


def ok(res):
    assert "error" not in res, res
    return res


class RawMember:
    """A group member over raw requests on its own connection and thread:
    join (v1), sync (the leader assigns every partition of `topic` round
    robin), heartbeat every 300 ms, rejoin on REBALANCE_IN_PROGRESS."""

    def __init__(self, broker, group, topic, nparts, session=30000, client_id="raw"):
        self.b, self.group, self.topic, self.nparts = broker, group, topic, nparts
        self.session = session
        self.conn = kp.Conn(broker.bootstrap, timeout=40, client_id=client_id)
        self.member_id, self.generation, self.assigned = "", -1, None
        self.errors = []
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _join(self):
        # the lock keeps call() off the connection between a request and its
        # response (a SyncGroup answer read by the wrong thread desyncs both)
        with self.lock:
            return self._join_locked()

    def _join_locked(self):
        meta = kp.subscription([self.topic])
        r = self.conn.call(kp.JOIN_GROUP, 1, self.group, member_id=self.member_id,
                           protocols=[("roundrobin", meta)], session_timeout=self.session,
                           rebalance_timeout=10000)
        if r["error"]:
            self.errors.append(("join", r["error"]))
            return False
        self.member_id, gen = r["member_id"], r["generation"]
        assigns = []
        if r["leader"] == self.member_id:
            ids = sorted(m["member_id"] for m in r["members"])
            per = {m: [] for m in ids}
            for p in range(self.nparts):
                per[ids[p % len(ids)]].append(p)
            assigns = [(m, kp.assignment({self.topic: ps})) for m, ps in per.items()]
        s = self.conn.call(kp.SYNC_GROUP, 0, self.group, gen, self.member_id, assigns)
        if s["error"]:
            if s["error"] != kp.REBALANCE_IN_PROGRESS:     # a new rebalance began: rejoin
                self.errors.append(("sync", s["error"]))
            return False
        self.generation = gen
        self.assigned = kp.parse_assignment(s["assignment"]).get(self.topic, [])
        return True

    def _run(self):
        need_join = True
        while not self.stop_ev.is_set():
            try:
                if need_join:
                    need_join = not self._join()
                    continue
                with self.lock:
                    r = self.conn.call(kp.HEARTBEAT, 0, self.group, self.generation, self.member_id)
                if r["error"] == kp.REBALANCE_IN_PROGRESS:
                    need_join = True
                elif r["error"]:
                    self.errors.append(("heartbeat", r["error"]))
                    need_join = True
            except Exception as e:      # noqa: BLE001 - recorded
                self.errors.append(("exception", repr(e)))
                return
            self.stop_ev.wait(0.3)

    def call(self, *a, **kw):
        """a request on this member's connection, between heartbeats."""
        with self.lock:
            return self.conn.call(*a, **kw)

    def leave(self):
        self.stop_ev.set()
        self.th.join(45)
        try:
            return self.conn.call(kp.LEAVE_GROUP, 0, self.group, self.member_id)["error"]
        finally:
            self.conn.close()


def stable(broker, group, n, *members):
    """the group Stable with n members, and each of `members` past its
    SyncGroup answer (the broker is Stable before the answer is read)."""
    def pred():
        if any(m.generation < 0 for m in members):
            return None
        g = kp.describe_group(broker.bootstrap, group)
        return g if g["state"] == "Stable" and len(g["members"]) == n else None
    return wait_until(pred, timeout=30, interval=0.2, what="group %s Stable with %d members" % (group, n))


def describe(broker, group, version=0):
    return kp.describe_group(broker.bootstrap, group, version)


# ------------------------------------------------------------------ admin clients

def test_confluent_list_groups(broker):
    topic, group = "ga-list", "g-ga-list"
    ck.create_topic(broker, topic, partitions=2)
    m = RawMember(broker, group, topic, 2, client_id="raw-list")
    try:
        stable(broker, group, 1, m)
        groups = {g.id: g for g in ck.admin(broker).list_groups(timeout=15)}
        assert group in groups, list(groups)
        g = groups[group]
        assert (g.state, g.protocol_type, g.protocol) == ("Stable", "consumer", "roundrobin")
        assert [x.client_id for x in g.members] == ["raw-list"]
        assert g.members[0].id == m.member_id
        assert g.members[0].client_host.endswith("127.0.0.1"), g.members[0].client_host
        assert kp.parse_assignment(g.members[0].assignment) == {topic: [0, 1]}
        [one] = ck.admin(broker).list_groups(group=group, timeout=15)
        assert one.id == group and one.state == "Stable"
    finally:
        assert m.leave() == 0
    assert not m.errors, m.errors
    [g] = ck.admin(broker).list_groups(group=group, timeout=15)
    assert (g.state, g.members) == ("Empty", [])


def test_kafka_python_admin(broker):
    from kafka.admin import KafkaAdminClient
    from kafka.structs import TopicPartition as KTP
    topic, group = "ga-kpadmin", "g-ga-kpadmin"
    ck.create_topic(broker, topic, partitions=2)
    with kp.Conn(broker.bootstrap) as c:
        assert c.call(kp.OFFSET_COMMIT, 2, group, {topic: [(0, 5, "m"), (1, 7, "")]})["errors"] == \
            {(topic, 0): 0, (topic, 1): 0}
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000)
    try:
        assert (group, "") in a.list_consumer_groups()
        offs = a.list_consumer_group_offsets(group)
        assert {tp: (o.offset, o.metadata) for tp, o in offs.items()} == \
            {KTP(topic, 0): (5, "m"), KTP(topic, 1): (7, "")}
        [d] = a.describe_consumer_groups([group])
        assert (d.group, d.state, d.members) == (group, "Empty", [])
    finally:
        a.close()


def test_kafkajs_admin_ops(broker):
    topic, group = "ga-kjs", "g-ga-kjs"
    ck.create_topic(broker, topic, partitions=3)
    for p in range(3):
        ck.produce(broker, topic, [{"value": b"x"}] * 10, partition=p)
    m = RawMember(broker, group, topic, 3, client_id="raw-kjs")
    try:
        stable(broker, group, 1, m)
        lg = ok(kjs(broker, "listGroups"))
        assert {"groupId": group, "protocolType": "consumer"} in lg["groups"], lg
        [d] = ok(kjs(broker, "describeGroups", groupIds=[group]))["groups"]
        assert (d["groupId"], d["state"], d["protocolType"], d["protocol"]) == \
            (group, "Stable", "consumer", "roundrobin"), d
        [mm] = d["members"]
        assert (mm["memberId"], mm["clientId"]) == (m.member_id, "raw-kjs")
        assert mm["memberMetadata"]["topics"] == [topic]
        assert {t: sorted(ps) for t, ps in mm["memberAssignment"]["assignment"].items()} == \
            {topic: [0, 1, 2]}
        # deleting a group with members: NON_EMPTY_GROUP
        res = kjs(broker, "deleteGroups", groupIds=[group])
        assert "error" in res and [e["type"] for e in res["errors"]] == ["NON_EMPTY_GROUP"], res
        assert describe(broker, group)["state"] == "Stable"
        # setOffsets refuses a running group
        res = kjs(broker, "setOffsets", groupId=group, topic=topic,
                  partitions=[{"partition": 0, "offset": "3"}])
        assert "error" in res and "running" in res["message"], res
    finally:
        assert m.leave() == 0
    assert not m.errors, m.errors
    # the group is Empty now: set, reset and fetch offsets
    ok(kjs(broker, "setOffsets", groupId=group, topic=topic,
           partitions=[{"partition": 0, "offset": "3"}, {"partition": 1, "offset": "7"},
                       {"partition": 2, "offset": "10"}]))

    def fetched():
        [o] = ok(kjs(broker, "fetchOffsets", groupId=group, topics=[topic]))["offsets"]
        return sorted((x["partition"], x["offset"]) for x in o["partitions"])
    assert fetched() == [(0, "3"), (1, "7"), (2, "10")]
    # kafkajs resets by committing the logical offsets -2 (earliest) / -1
    # (latest), which Kafka stores as they are and consumers then resolve
    ok(kjs(broker, "resetOffsets", groupId=group, topic=topic, earliest=True))
    assert fetched() == [(0, "-2"), (1, "-2"), (2, "-2")]
    ok(kjs(broker, "resetOffsets", groupId=group, topic=topic, earliest=False))
    assert fetched() == [(0, "-1"), (1, "-1"), (2, "-1")]
    # delete the (empty) group: gone, offsets too; deleting again: GROUP_ID_NOT_FOUND
    res = ok(kjs(broker, "deleteGroups", groupIds=[group]))
    assert res["results"] == [{"groupId": group, "errorCode": 0}], res
    d = describe(broker, group)
    assert (d["error"], d["state"]) == (0, "Dead"), d
    with kp.Conn(broker.bootstrap) as c:
        f = c.call(kp.OFFSET_FETCH, 1, group, {topic: [0]})
    assert f["offsets"][(topic, 0)][0] == -1, f
    res = kjs(broker, "deleteGroups", groupIds=[group])
    assert "error" in res and [e["type"] for e in res["errors"]] == ["GROUP_ID_NOT_FOUND"], res


def test_raw_delete_groups_and_offset_delete(broker):
    topic, other, group = "ga-odel", "ga-odel-other", "g-ga-odel"
    ck.create_topic(broker, topic, partitions=2)
    ck.create_topic(broker, other, partitions=1)
    m = RawMember(broker, group, topic, 2)
    try:
        stable(broker, group, 1, m)
        c = m
        r = c.call(kp.OFFSET_COMMIT, 2, group, {topic: [(0, 1, ""), (1, 1, "")], other: [(0, 4, "")]},
                   generation=m.generation, member_id=m.member_id)
        assert set(r["errors"].values()) == {0}, r
        # OffsetDelete on the subscribed topic: refused per partition
        with kp.Conn(broker.bootstrap) as conn:
            r = conn.call(kp.OFFSET_DELETE, 0, group, {topic: [0], other: [0]})
            assert r["error"] == 0, r
            assert r["errors"] == {(topic, 0): kp.GROUP_SUBSCRIBED_TO_TOPIC, (other, 0): 0}, r
            f = conn.call(kp.OFFSET_FETCH, 1, group, {topic: [0], other: [0]})
            assert f["offsets"][(topic, 0)][0] == 1 and f["offsets"][(other, 0)][0] == -1, f
            r = conn.call(kp.DELETE_GROUPS, 0, [group, "g-ga-never-existed"])
            assert r["results"] == {group: kp.NON_EMPTY_GROUP,
                                    "g-ga-never-existed": kp.GROUP_ID_NOT_FOUND}, r
            # OffsetDelete on an unknown group
            r = conn.call(kp.OFFSET_DELETE, 0, "g-ga-never-existed", {topic: [0]})
            assert r["error"] == kp.GROUP_ID_NOT_FOUND, r
    finally:
        m.leave()
    assert describe(broker, group)["state"] == "Empty"
    with kp.Conn(broker.bootstrap) as conn:
        # Empty now: OffsetDelete on the formerly subscribed topic works
        r = conn.call(kp.OFFSET_DELETE, 0, group, {topic: [0]})
        assert r["error"] == 0 and r["errors"] == {(topic, 0): 0}, r
        r = conn.call(kp.DELETE_GROUPS, 1, [group])
        assert r["results"] == {group: 0}, r
        assert conn.call(kp.DESCRIBE_GROUPS, 0, [group])["groups"][0]["state"] == "Dead"


# ------------------------------------------------------------------ bad input

@pytest.fixture
def stable_member(broker):
    topic = "ga-bad"
    try:
        ck.create_topic(broker, topic, partitions=2)
    except Exception:       # noqa: BLE001 - created by an earlier test
        pass
    group = "g-ga-bad-%d" % int(time.monotonic() * 1000)
    m = RawMember(broker, group, topic, 2, client_id="raw-bad")
    stable(broker, group, 1, m)
    with kp.Conn(broker.bootstrap) as c:
        assert c.call(kp.OFFSET_COMMIT, 2, group, {topic: [(0, 1, "keep")]},
                      generation=m.generation, member_id=m.member_id)["errors"] == {(topic, 0): 0}
    before = describe(broker, group)
    gen = m.generation
    yield m, group, topic
    # the group survived: same state, same member, same generation, offsets kept
    after = describe(broker, group)
    assert after == before, (before, after)
    assert m.generation == gen and not m.errors, (gen, m.generation, m.errors)
    with kp.Conn(broker.bootstrap) as c:
        assert c.call(kp.HEARTBEAT, 0, group, gen, m.member_id)["error"] == 0
        f = c.call(kp.OFFSET_FETCH, 1, group, {topic: [0]})
        assert f["offsets"][(topic, 0)] == (1, "keep", 0), f
    assert m.leave() == 0


def test_empty_group_id(broker, stable_member):
    with kp.Conn(broker.bootstrap) as c:
        r = c.call(kp.JOIN_GROUP, 1, "", protocols=[("range", kp.subscription(["ga-bad"]))])
        assert r["error"] == kp.INVALID_GROUP_ID, r
        assert c.call(kp.HEARTBEAT, 0, "", 1, "x")["error"] == kp.INVALID_GROUP_ID
        assert c.call(kp.SYNC_GROUP, 0, "", 1, "x")["error"] == kp.INVALID_GROUP_ID
        # Kafka keeps accepting offset commits/fetches for the empty group id
        # (GroupCoordinator.isValidGroupId: only null is invalid for them)
        r = c.call(kp.OFFSET_COMMIT, 2, "", {"ga-bad": [(0, 1, "")]})
        assert r["errors"] == {("ga-bad", 0): 0}, r
        f = c.call(kp.OFFSET_FETCH, 1, "", {"ga-bad": [0]})
        assert f["offsets"] == {("ga-bad", 0): (1, "", 0)}, f


def test_metadata_too_large(broker, stable_member):
    m, group, topic = stable_member
    r = m.call(kp.OFFSET_COMMIT, 2, group, {topic: [(0, 9, "x" * (MAX_MD + 1)), (1, 9, "y" * MAX_MD)]},
               generation=m.generation, member_id=m.member_id)
    assert r["errors"] == {(topic, 0): kp.OFFSET_METADATA_TOO_LARGE, (topic, 1): 0}, r
    with kp.Conn(broker.bootstrap) as c:
        f = c.call(kp.OFFSET_FETCH, 1, group, {topic: [1]})
        assert f["offsets"][(topic, 1)] == (9, "y" * MAX_MD, 0), f
        r = c.call(kp.OFFSET_COMMIT, 2, group, {topic: [(1, 1, "")]},
                   generation=m.generation, member_id=m.member_id)
        assert r["errors"] == {(topic, 1): 0}


def test_session_timeout_out_of_range(broker, stable_member):
    m, group, topic = stable_member
    with kp.Conn(broker.bootstrap) as c:
        for st in (5999, 60001, 0):
            r = c.call(kp.JOIN_GROUP, 1, group, protocols=[("roundrobin", kp.subscription([topic]))],
                       session_timeout=st)
            assert r["error"] == kp.INVALID_SESSION_TIMEOUT, (st, r)
        # also for a brand-new group, which then does not exist
        r = c.call(kp.JOIN_GROUP, 1, "g-ga-bad-st", protocols=[("range", b"")], session_timeout=100)
        assert r["error"] == kp.INVALID_SESSION_TIMEOUT, r
        assert c.call(kp.DESCRIBE_GROUPS, 0, ["g-ga-bad-st"])["groups"][0]["state"] == "Dead"


def test_stale_generation(broker, stable_member):
    m, group, topic = stable_member
    with kp.Conn(broker.bootstrap) as c:
        for gen in (m.generation - 1, m.generation + 1):
            assert c.call(kp.HEARTBEAT, 0, group, gen, m.member_id)["error"] == kp.ILLEGAL_GENERATION
            r = c.call(kp.OFFSET_COMMIT, 2, group, {topic: [(0, 99, "")]},
                       generation=gen, member_id=m.member_id)
            assert r["errors"] == {(topic, 0): kp.ILLEGAL_GENERATION}, r
            assert c.call(kp.SYNC_GROUP, 0, group, gen, m.member_id)["error"] == kp.ILLEGAL_GENERATION


def test_unknown_member(broker, stable_member):
    m, group, topic = stable_member
    with kp.Conn(broker.bootstrap) as c:
        assert c.call(kp.HEARTBEAT, 0, group, m.generation, "nobody")["error"] == kp.UNKNOWN_MEMBER_ID
        assert c.call(kp.SYNC_GROUP, 0, group, m.generation, "nobody")["error"] == kp.UNKNOWN_MEMBER_ID
        r = c.call(kp.OFFSET_COMMIT, 2, group, {topic: [(0, 99, "")]},
                   generation=m.generation, member_id="nobody")
        assert r["errors"] == {(topic, 0): kp.UNKNOWN_MEMBER_ID}, r
        assert c.call(kp.LEAVE_GROUP, 0, group, "nobody")["error"] == kp.UNKNOWN_MEMBER_ID
        r = c.call(kp.JOIN_GROUP, 1, group, member_id="nobody",
                   protocols=[("roundrobin", kp.subscription([topic]))])
        assert r["error"] == kp.UNKNOWN_MEMBER_ID, r
        # on a group that does not exist at all
        assert c.call(kp.HEARTBEAT, 0, "g-ga-nogroup", 1, "nobody")["error"] == kp.UNKNOWN_MEMBER_ID
        # a standalone commit (generation -1, no member) on a group with members is refused too
        r = c.call(kp.OFFSET_COMMIT, 2, group, {topic: [(0, 99, "")]})
        assert r["errors"] == {(topic, 0): kp.UNKNOWN_MEMBER_ID} or \
            r["errors"] == {(topic, 0): kp.ILLEGAL_GENERATION}, r


def test_inconsistent_protocol(broker, stable_member):
    m, group, topic = stable_member
    with kp.Conn(broker.bootstrap) as c:
        r = c.call(kp.JOIN_GROUP, 1, group, protocol_type="connect",
                   protocols=[("roundrobin", kp.subscription([topic]))])
        assert r["error"] == kp.INCONSISTENT_GROUP_PROTOCOL, r
        r = c.call(kp.JOIN_GROUP, 1, group, protocols=[("sticky", kp.subscription([topic]))])
        assert r["error"] == kp.INCONSISTENT_GROUP_PROTOCOL, r
        # an empty protocol type or list is refused even for a new group
        r = c.call(kp.JOIN_GROUP, 1, "g-ga-noproto", protocols=[])
        assert r["error"] == kp.INCONSISTENT_GROUP_PROTOCOL, r


def test_member_id_required_keeps_group(broker, stable_member):
    m, group, topic = stable_member
    with kp.Conn(broker.bootstrap) as c:
        r = c.call(kp.JOIN_GROUP, 5, group, member_id="",
                   protocols=[("roundrobin", kp.subscription([topic]))])
        assert r["error"] == kp.MEMBER_ID_REQUIRED and r["member_id"], r
        assert r["members"] == [] and r["generation"] == -1, r
    # the pending member id is not a member (checked by the fixture: group unchanged)


def test_group_max_size(broker):
    topic, group = "ga-max", "g-ga-max"
    ck.create_topic(broker, topic, partitions=2)
    ms = [RawMember(broker, group, topic, 2, client_id="raw-max-%d" % i) for i in range(2)]
    try:
        wait_until(lambda: ms[0].generation > 0 and ms[0].generation == ms[1].generation,
                   timeout=30, what="two members in one generation")
        g = stable(broker, group, 2, *ms)
        with kp.Conn(broker.bootstrap) as c:
            r = c.call(kp.JOIN_GROUP, 1, group, protocols=[("roundrobin", kp.subscription([topic]))])
            assert r["error"] == kp.GROUP_MAX_SIZE_REACHED, r
        assert describe(broker, group) == g
        assert sorted(p for m in ms for p in m.assigned) == [0, 1]
    finally:
        for m in ms:
            assert m.leave() == 0
    assert not ms[0].errors and not ms[1].errors, (ms[0].errors, ms[1].errors)
