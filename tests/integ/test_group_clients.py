"""Consumer groups driven by other clients: kafka-python (JoinGroup/SyncGroup
v0-v2, OffsetCommit v2, OffsetFetch v1), kafkajs (JoinGroup v5 with the
MEMBER_ID_REQUIRED round trip, seen in kafkajs's own log) and a mixed group
of librdkafka, kafka-python and kafkajs members sharing the roundrobin
assignor; the KIP-394 exchange itself is also checked on raw requests."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

BROKER_OVERRIDES = {"num.partitions": "1", "auto.create.topics.enable": "false",
                    "offsets.topic.num.partitions": "4",
                    "group.initial.rebalance.delay.ms": "0"}


# ------------------------------------------------------------------ kafka-python member process

def _kp_member_main(cfg):
    import logging
    from kafka import ConsumerRebalanceListener, KafkaConsumer
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    out = open(cfg["out"], "a")
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))

    def emit(**ev):
        ev.setdefault("t", time.time())
        out.write(json.dumps(ev) + "\n")
        out.flush()

    class L(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            emit(ev="revoke", parts=sorted([tp.topic, tp.partition] for tp in revoked))

        def on_partitions_assigned(self, assigned):
            emit(ev="assign", parts=sorted([tp.topic, tp.partition] for tp in assigned))

    kc = KafkaConsumer(bootstrap_servers=cfg["bootstrap"], group_id=cfg["group"],
                       client_id=cfg.get("name", "kp"),
                       partition_assignment_strategy=[RoundRobinPartitionAssignor],
                       auto_offset_reset="earliest", enable_auto_commit=True,
                       auto_commit_interval_ms=300, session_timeout_ms=10000,
                       heartbeat_interval_ms=500, request_timeout_ms=30000,
                       fetch_max_wait_ms=200)
    kc.subscribe(cfg["topics"], listener=L())
    emit(ev="start", pid=os.getpid())
    deadline = time.monotonic() + cfg.get("max_seconds", 90)
    while not stop["flag"] and time.monotonic() < deadline:
        for tp, msgs in kc.poll(timeout_ms=200).items():
            for m in msgs:
                emit(ev="msg", p=tp.partition, o=m.offset, v=m.value.decode())
    kc.close()
    emit(ev="closed")


# ------------------------------------------------------------------ helpers

def kjs(broker, op, timeout=60, **args):
    from helpers import node_script
    args.update(op=op, brokers=[broker.bootstrap])
    return node_script("kjs.js", args, timeout=timeout)


def ok(res):
    assert "error" not in res, res
    return res


def fill(broker, topic, nparts, per_part, tag="v"):
    import ck
    for p in range(nparts):
        ck.produce(broker, topic, [{"value": b"%s-%d-%d" % (tag.encode(), p, i)}
                                   for i in range(per_part)], partition=p)


def last_assignment(path):
    """current partitions from an events file (assign/revoke or kafkajs join)."""
    own = None
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    for ln in lines:
        try:
            e = json.loads(ln)
        except ValueError:
            continue
        if e["ev"] == "assign":
            own = (own or set()) | {tuple(p) for p in e["parts"]}
        elif e["ev"] == "revoke":
            own = (own or set()) - {tuple(p) for p in e["parts"]}
        elif e["ev"] == "join":
            own = {(t, p) for t, ps in e["assignment"].items() for p in ps}
        elif e["ev"] == "closed":
            own = None
    return own


# ------------------------------------------------------------------ tests

def test_kafka_python_group_consume_and_commit(broker):
    import ck
    import test_groups as tg
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    topic, group = "gc-kp", "g-gc-kp"
    ck.create_topic(broker, topic, partitions=3)
    fill(broker, topic, 3, 20)
    kc = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group,
                       auto_offset_reset="earliest", enable_auto_commit=False,
                       session_timeout_ms=10000, heartbeat_interval_ms=500,
                       request_timeout_ms=30000, consumer_timeout_ms=20000,
                       fetch_max_wait_ms=200)
    try:
        got = []
        for m in kc:
            got.append((m.partition, m.offset, m.value))
            if len(got) == 60:
                break
        assert len(got) == 60
        assert sorted(got) == sorted((p, i, b"v-%d-%d" % (p, i)) for p in range(3) for i in range(20))
        assert kc.assignment() == {KTP(topic, p) for p in range(3)}
        kc.commit()
        assert {p: kc.committed(KTP(topic, p)) for p in range(3)} == {0: 20, 1: 20, 2: 20}
        # the group is Stable with one kafka-python member on the range assignor
        import kproto as kp
        g = kp.describe_group(broker.bootstrap, group)
        assert (g["state"], g["protocol_type"]) == ("Stable", "consumer"), g
        assert g["protocol"] in ("range", "roundrobin") and len(g["members"]) == 1, g
    finally:
        kc.close()
    assert tg.committed(broker, group, topic, 3) == {0: 20, 1: 20, 2: 20}
    # a second kafka-python consumer in the group resumes after the commits
    fill(broker, topic, 3, 2, tag="w")
    kc = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group,
                       auto_offset_reset="earliest", enable_auto_commit=True,
                       auto_commit_interval_ms=200, session_timeout_ms=10000,
                       consumer_timeout_ms=8000, fetch_max_wait_ms=200)
    try:
        more = []
        for m in kc:
            more.append(m.value)
            if len(more) == 6:
                break
        assert sorted(more) == sorted(b"w-%d-%d" % (p, i) for p in range(3) for i in range(2))
    finally:
        kc.close()      # commits on close with auto commit
    assert tg.committed(broker, group, topic, 3) == {0: 22, 1: 22, 2: 22}


def test_kafkajs_group_consume(broker):
    import ck
    import kproto as kp
    import test_groups as tg
    topic, group = "gc-kjs", "g-gc-kjs"
    ck.create_topic(broker, topic, partitions=2)
    fill(broker, topic, 2, 15)
    res = ok(kjs(broker, "groupConsume", groupId=group, topics=[topic], count=30, maxMs=30000))
    assert sorted((m["partition"], int(m["offset"])) for m in res["messages"]) == \
        sorted((p, i) for p in range(2) for i in range(15))
    assert res["joins"], res
    j = res["joins"][-1]
    assert j["isLeader"] and j["memberId"] == j["leaderId"], j
    assert j["memberId"].startswith("gregor-kjs-"), "member id is clientId-UUID: %r" % j["memberId"]
    assert {t: sorted(ps) for t, ps in j["assignment"].items()} == {topic: [0, 1]}
    assert j["groupProtocol"] == "RoundRobinAssigner", j
    # kafkajs commits on disconnect; the group is Empty afterwards
    assert tg.committed(broker, group, topic, 2) == {0: 15, 1: 15}
    g = kp.describe_group(broker.bootstrap, group)
    assert (g["state"], g["members"]) == ("Empty", []), g
    # kafkajs admin reads the same offsets
    offs = ok(kjs(broker, "fetchOffsets", groupId=group, topics=[topic]))["offsets"]
    assert [(o["topic"], sorted((x["partition"], x["offset"]) for x in o["partitions"]))
            for o in offs] == [(topic, [(0, "15"), (1, "15")])]


# kafkajs's message for error 79 (createErrorFromCode in its protocol/error.js)
KJS_MEMBER_ID_REQUIRED = "The group member needs to have a valid member id before actually entering a consumer group"


def test_kafkajs_member_id_required_round_trip(broker):
    """kafkajs joins a new group through MEMBER_ID_REQUIRED (KIP-394): its
    first JoinGroup (v4+, no member id) is answered with that error and an
    id, the second (with the id) joins.  kafkajs's own debug log shows both
    responses."""
    topic, group = "gc-kjs-kip394", "g-gc-kjs-kip394"
    import ck
    ck.create_topic(broker, topic, partitions=1)
    fill(broker, topic, 1, 3)
    res = ok(kjs(broker, "groupConsume", groupId=group, topics=[topic], count=3, maxMs=30000,
                 traceJoinGroup=True))
    assert sorted(int(m["offset"]) for m in res["messages"]) == [0, 1, 2]
    trace = res["joinGroupTrace"]
    resps = [e for e in trace if e["kind"] == "Response"]
    reqs = [e for e in trace if e["kind"] == "Request"]
    assert len(resps) >= 2 and len(reqs) == len(resps), trace
    first, second = resps[0], resps[1]
    assert first["version"] >= 4, trace
    assert first["error"] == KJS_MEMBER_ID_REQUIRED and first["memberId"] is None, trace
    assert second["error"] is None, trace
    mid = second["memberId"]
    assert mid and mid.startswith("gregor-kjs-"), trace
    j = res["joins"][0]
    assert (j["memberId"], j["leaderId"]) == (mid, mid), (j, trace)


def test_join_group_member_id_required_raw(broker):
    """JoinGroup v4+ without a member id must first answer MEMBER_ID_REQUIRED
    with an id, then accept the rejoin with it (KIP-394), on raw requests."""
    import ck
    import kproto as kp
    topic, group = "gc-kip394", "g-gc-kip394"
    ck.create_topic(broker, topic, partitions=1)
    with kp.Conn(broker.bootstrap) as c:
        meta = kp.subscription([topic])
        r = c.call(kp.JOIN_GROUP, 5, group, member_id="", protocols=[("roundrobin", meta)],
                   session_timeout=10000, rebalance_timeout=10000)
        assert r["error"] == kp.MEMBER_ID_REQUIRED, r
        mid = r["member_id"]
        assert mid and mid.startswith("gregor-test-"), r
        r = c.call(kp.JOIN_GROUP, 5, group, member_id=mid, protocols=[("roundrobin", meta)],
                   session_timeout=10000, rebalance_timeout=10000)
        assert r["error"] == 0 and r["member_id"] == mid and r["leader"] == mid, r
        assert r["generation"] >= 1 and r["protocol"] == "roundrobin", r
        assert [m["member_id"] for m in r["members"]] == [mid]
        s = c.call(kp.SYNC_GROUP, 3, group, r["generation"], mid,
                   [(mid, kp.assignment({topic: [0]}))])
        assert s["error"] == 0 and kp.parse_assignment(s["assignment"]) == {topic: [0]}, s
        assert c.call(kp.LEAVE_GROUP, 1, group, mid)["error"] == 0


def _kp_member(tmp_path, broker, group, topics, name):
    out = os.path.join(str(tmp_path), name + ".events")
    err = open(os.path.join(str(tmp_path), name + ".stderr"), "ab")
    cfg = dict(bootstrap=broker.bootstrap, group=group, topics=topics, name=name, out=out)
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "kpmember", json.dumps(cfg)],
                         stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL, cwd=HERE)
    return p, out


def _kjs_member(tmp_path, broker, group, topics, name):
    out = os.path.join(str(tmp_path), name + ".events")
    stop = os.path.join(str(tmp_path), name + ".stop")
    args = dict(op="groupConsume", brokers=[broker.bootstrap], groupId=group, topics=topics,
                assigner="roundrobin", eventsFile=out, stopFile=stop, maxMs=80000,
                hardMs=90000, sessionTimeout=10000)
    from helpers import JS_DIR, NODE
    p = subprocess.Popen([NODE, os.path.join(JS_DIR, "kjs.js"), json.dumps(args)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         cwd=JS_DIR, text=True)
    return p, out, stop


def test_mixed_group_roundrobin(broker, tmp_path):
    import ck
    import kproto as kp
    import test_groups as tg
    topic, group = "gc-mixed", "g-gc-mixed"
    ck.create_topic(broker, topic, partitions=6)
    fill(broker, topic, 6, 10)
    rd = tg.Member(tmp_path, broker.bootstrap, group, [topic], "rdkafka",
                   conf={"partition.assignment.strategy": "roundrobin",
                         "session.timeout.ms": 10000})
    kpp, kp_out = _kp_member(tmp_path, broker, group, [topic], "kpy")
    jsp, js_out, js_stop = _kjs_member(tmp_path, broker, group, [topic], "kjs")
    procs = [rd.proc, kpp, jsp]
    try:
        def three_way():
            owns = [rd.owned(), last_assignment(kp_out), last_assignment(js_out)]
            if any(not o for o in owns):
                return None
            allp = sorted(p for o in owns for p in o)
            if allp != [(topic, i) for i in range(6)]:
                return None
            return owns
        owns = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for p in procs:
                if p.poll() is not None:
                    pytest.fail("a member exited early (%s): %s" % (p.returncode, p.args[:3]))
            owns = three_way()
            if owns:
                time.sleep(1.5)         # still the same after a pause: settled
                if three_way() == owns:
                    break
            time.sleep(0.3)
        else:
            g = kp.describe_group(broker.bootstrap, group)
            pytest.fail("no 3-way split within 60s: rdkafka %s, kafka-python %s, kafkajs %s\n"
                        "group: %s\nrdkafka stderr: %s"
                        % (rd.owned(), last_assignment(kp_out), last_assignment(js_out),
                           {k: g[k] for k in ("state", "protocol")},
                           rd.stderr_tail(10)))
        assert all(len(o) == 2 for o in owns), owns
        g = kp.describe_group(broker.bootstrap, group)
        assert (g["state"], g["protocol"]) == ("Stable", "roundrobin"), g
        assert sorted(m["client_id"] for m in g["members"]) == ["gregor-kjs", "kpy", "rdkafka"], g
        # every record consumed once the split settled (each from its owner)
        wait_deadline = time.monotonic() + 20
        while time.monotonic() < wait_deadline:
            if tg.committed(broker, group, topic, 6) == {p: 10 for p in range(6)}:
                break
            time.sleep(0.5)
    finally:
        rd.stop()
        if kpp.poll() is None:
            kpp.send_signal(signal.SIGTERM)
        open(js_stop, "w").close()
        for p in (kpp, jsp):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
    assert tg.committed(broker, group, topic, 6) == {p: 10 for p in range(6)}


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "kpmember":
    _kp_member_main(json.loads(sys.argv[2]))
