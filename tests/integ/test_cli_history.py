"""`gregor consumer-groups --history`: the timeline rebuilt from
__consumer_offsets for a group that went through two members joining, a
SIGKILLed member expiring, a static member restarting (same
group.instance.id, new member id), all members leaving, an offset reset and
the deletion of the group - and nothing else.  Also with the older record
versions gregord writes for inter.broker.protocol.version=2.0."""
import os
import re
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import ck                                                      # noqa: E402
import kproto as kp                                            # noqa: E402
from helpers import run_gregor, wait_until                     # noqa: E402
from test_groups import balanced, members, stop_all, wait_for  # noqa: E402,F401

NPARTS = 4
BROKER_OVERRIDES = {"num.partitions": "1", "auto.create.topics.enable": "false",
                    "offsets.topic.num.partitions": str(NPARTS),
                    "group.initial.rebalance.delay.ms": "0"}

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def gregor(broker, *args, timeout=60):
    return run_gregor(["consumer-groups", "--bootstrap-server", broker.bootstrap] + list(args),
                      timeout=timeout)


def java_partition(group, n):
    """Kafka's partitionFor: Utils.abs(String.hashCode) % n (UTF-16 code units)."""
    b = group.encode("utf-16-be")
    h = 0
    for i in range(0, len(b), 2):
        h = (h * 31 + int.from_bytes(b[i:i + 2], "big")) & 0xFFFFFFFF
    if h >= 1 << 31:
        h -= 1 << 32
    return (0 if h == -(1 << 31) else abs(h)) % n


def history(broker, group):
    cp = gregor(broker, "--history", "--group", group)
    assert cp.returncode == 0, cp
    lines = cp.stdout.splitlines()
    assert lines[0].startswith("# group '%s': __consumer_offsets-%d, offsets 0.." % (
        group, java_partition(group, NPARTS))), lines[0]
    for ln in lines[1:]:
        assert re.match(TS + "  ", ln), ln
    return [ln[26:] for ln in lines[1:]]          # without the time


def member_ids(m):
    """member ids of a Member, one per session (from its assign events)."""
    out = []
    for sess in m.sessions():
        ids = [e["member"] for e in sess if e["ev"] == "assign"]
        if ids:
            out.append(ids[-1])
    return out


def test_history_timeline(broker, members):
    topic, group = "hist-t", "hist-g"
    ck.create_topic(broker, topic, partitions=2)
    for p in range(2):
        ck.produce(broker, topic, [{"value": b"m%d" % i} for i in range(10)], partition=p)
    conf = {"session.timeout.ms": 6000}

    # 1. a joins and commits 10 on both partitions
    a = members(broker.bootstrap, group, [topic], "h-a", conf=conf)
    wait_for(balanced([a], topic, 2), 30, "a owns both", members=[a])
    wait_until(lambda: kp.describe_group(broker.bootstrap, group)["state"] == "Stable", 10)

    def committed_all(v):
        from confluent_kafka import TopicPartition
        c = ck.consumer(broker, group_id=group)
        try:
            return all(r.offset == v for r in c.committed([TopicPartition(topic, p) for p in range(2)],
                                                          timeout=10))
        finally:
            c.close()
    wait_until(lambda: committed_all(10), 20, what="a committed 10/10")
    # 2. b joins
    b = members(broker.bootstrap, group, [topic], "h-b", conf=conf)
    wait_for(balanced([a, b], topic, 2, exact=1), 40, "a and b 1 each", members=[a, b])
    # 3. b is SIGKILLed: it leaves after its session timeout
    b.kill()
    wait_for(lambda: a.owned() == {(topic, 0), (topic, 1)}, 40, "a owns both again", members=[a])
    # 4. a static member joins, then restarts (same instance id, new member id, same generation)
    sconf = dict(conf, **{"group.instance.id": "inst-s"})
    s = members(broker.bootstrap, group, [topic], "h-s", conf=sconf)
    wait_for(balanced([a, s], topic, 2, exact=1), 40, "a and s 1 each", members=[a, s])
    time.sleep(1.0)
    s.stop()
    s.start()
    wait_for(lambda: len(member_ids(s)) == 2 and s.owned(), 30, "s back", members=[a, s])
    time.sleep(1.0)
    # 5. everybody leaves (s sends no LeaveGroup: it expires)
    stop_all([a, s])
    wait_until(lambda: kp.describe_group(broker.bootstrap, group)["state"] == "Empty", 30,
               what="group Empty")
    # 6. an admin reset
    cp = gregor(broker, "--reset-offsets", "--group", group, "--all-topics", "--to-earliest", "--execute")
    assert cp.returncode == 0, cp

    ida, idb, ids = member_ids(a)[0], member_ids(b)[0], member_ids(s)
    assert len(ids) == 2 and ids[0] != ids[1]
    ev = history(broker, group)

    def gen_lines():
        return [ln for ln in ev if not ln.startswith("OFFSET")]

    g = gen_lines()
    # the group records, in order; generation numbers as the members saw them
    pat = [
        r"GENERATION (\d+) protocol=\S+ leader=%s members=1 rebalance=(-|\d+\.\d{3}s)$" % re.escape(ida),
        r"  JOINED member=%s client=h-a instance=- host=\S+ assignment=%s:0,1$" % (re.escape(ida), topic),
        r"GENERATION (\d+) protocol=\S+ leader=\S+ members=2 rebalance=\d+\.\d{3}s$",
        r"  JOINED member=%s client=h-b instance=- host=\S+ assignment=%s:\d$" % (re.escape(idb), topic),
        r"GENERATION (\d+) protocol=\S+ leader=%s members=1 rebalance=\d+\.\d{3}s$" % re.escape(ida),
        r"  LEFT member=%s client=h-b instance=-$" % re.escape(idb),
        r"GENERATION (\d+) protocol=\S+ leader=\S+ members=2 rebalance=\d+\.\d{3}s$",
        r"  JOINED member=%s client=h-s instance=inst-s host=\S+ assignment=%s:\d$" % (re.escape(ids[0]), topic),
        r"GENERATION (\d+) protocol=\S+ leader=\S+ members=2 rebalance=\d+\.\d{3}s$",
        r"  STATIC-REJOIN instance=inst-s member=%s -> %s client=h-s$" % (re.escape(ids[0]), re.escape(ids[1])),
    ]
    assert len(g) >= len(pat) + 3, "\n".join(ev)
    gens = []
    for p, ln in zip(pat, g):
        mt = re.match(p, ln)
        assert mt, "expected %r, got %r\n%s" % (p, ln, "\n".join(ev))
        if ln.startswith("GENERATION"):
            gens.append(int(mt.group(1)))
    assert gens[:4] == [gens[0], gens[0] + 1, gens[0] + 2, gens[0] + 3], gens
    assert gens[4] == gens[3], "a static rejoin keeps the generation"
    # the end: a and the restarted s leave; the group ends Empty (possibly via one more generation,
    # if a's LeaveGroup completed a rebalance before s expired)
    rest = g[len(pat):]
    assert re.match(r"EMPTY generation=\d+ rebalance=\d+\.\d{3}s$", [ln for ln in rest if not
                                                                       ln.startswith(" ")][-1]), rest
    left = sorted(re.match(r"  LEFT member=(\S+) client=(\S+)", ln).group(2) for ln in rest if "LEFT" in ln)
    assert left == ["h-a", "h-s"], rest
    assert not [ln for ln in rest if "JOINED" in ln or "STATIC" in ln], rest

    offs = [ln for ln in ev if ln.startswith("OFFSET")]
    # a's commits, attributed to a, before anything else happened to the offsets
    for p in range(2):
        assert "OFFSET %s-%d - -> 10 member=%s client=h-a" % (topic, p, ida) in offs, offs
    # the reset: moved while Empty, backwards
    for p in range(2):
        assert offs.count("OFFSET %s-%d 10 -> 0 member=- client=- RESET REWIND" % (topic, p)) == 1, offs
    assert len([o for o in offs if "RESET" in o]) == 2, offs
    assert len(offs) == 4, offs        # nothing else moved
    assert ev.index("OFFSET %s-0 10 -> 0 member=- client=- RESET REWIND" % topic) > \
        max(i for i, ln in enumerate(ev) if ln.startswith("EMPTY"))

    # 7. deleting the group: tombstones
    cp = gregor(broker, "--delete", "--group", group)
    assert cp.returncode == 0, cp
    ev2 = history(broker, group)
    tail = ev2[len(ev):]
    assert sorted(tail) == sorted(["OFFSET %s-0 deleted" % topic, "OFFSET %s-1 deleted" % topic,
                                   "GROUP deleted"]), tail


def test_history_errors(broker):
    cp = gregor(broker, "--history", "--group", "hist-never")
    assert cp.returncode == 1
    assert cp.stderr.startswith("Error: Consumer group 'hist-never' has no records in __consumer_offsets-")
    cp = gregor(broker, "--history")
    assert cp.returncode == 1 and "Option [history] takes exactly one [group]" in cp.stderr


def test_history_old_record_versions(broker_factory):
    """IBP 2.0: OffsetCommitValue v1 (with expireTimestamp) and GroupMetadataValue v1 (no
    currentStateTimestamp: the record timestamps are used)."""
    b = broker_factory({"inter.broker.protocol.version": "2.0", "offsets.topic.num.partitions": str(NPARTS),
                        "group.initial.rebalance.delay.ms": "0", "auto.create.topics.enable": "false"})
    topic, group = "hist-old", "hist-old-g"
    ck.create_topic(b, topic, partitions=1)
    ck.produce(b, topic, [{"value": b"x"}] * 3, partition=0)
    from confluent_kafka import TopicPartition
    c = ck.consumer(b, group_id=group, client_id="h-old", session_timeout_ms=6000)
    c.subscribe([topic])
    got = 0
    deadline = time.monotonic() + 30
    while got < 3 and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got += 1
    assert got == 3
    c.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
    c.close()
    wait_until(lambda: kp.describe_group(b.bootstrap, group)["state"] == "Empty", 20, what="Empty")
    ev = history(b, group)
    assert re.match(r"GENERATION 1 protocol=\S+ leader=\S+ members=1 rebalance=-$", ev[0]), ev
    assert re.match(r"  JOINED member=h-old-\S+ client=h-old instance=- host=\S+ assignment=%s:0$" % topic,
                    ev[1]), ev
    assert re.match(r"OFFSET %s-0 - -> 3 member=h-old-\S+ client=h-old$" % topic, ev[2]), ev
    assert re.match(r"EMPTY generation=2 rebalance=\d+\.\d{3}s$", ev[3]), ev
    assert re.match(r"  LEFT member=h-old-\S+ client=h-old instance=-$", ev[4]), ev
    assert len(ev) == 5, ev


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
