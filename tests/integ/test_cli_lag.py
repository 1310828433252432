"""`gregor consumer-groups --describe --group g --status` prints gregord's
lag evaluation (Burrow's rules, from the broker's HTTP listener), and
`--reset-offsets --group g --undo` restores the offsets a group had before
its last reset, read from __consumer_offsets (so it works after a restart
too), as a dry run unless --execute."""
import json
import os
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import ck                                                      # noqa: E402
from test_cli_groups import commit, committed, ok, run        # noqa: E402

BROKER_OVERRIDES = {"num.partitions": "1", "auto.create.topics.enable": "false",
                    "offsets.topic.num.partitions": "4", "group.initial.rebalance.delay.ms": "0"}


def test_status(broker):
    ck.create_topic(broker, "st", partitions=2)
    for p in range(2):
        ck.produce(broker, "st", [{"value": b"v"}] * 30, partition=p)
    for i in range(4):
        commit(broker, "st-group", {("st", 0): 2 + i, ("st", 1): 30})
        time.sleep(0.05)
    cp = ok(run(broker, "--describe", "--group", "st-group", "--status", "--http-server", broker.http))
    lines = [ln.split() for ln in cp.stdout.splitlines() if ln.strip()]
    assert lines[0] == ["GROUP", "STATUS", "COMPLETE", "TOTAL-LAG", "PARTITIONS", "MAX-TIME-LAG"], cp.stdout
    # partition 0: lag 25, advancing while nothing is produced: lag decreases: OK
    assert lines[1][:5] == ["st-group", "OK", "0.00", "25", "2"], cp.stdout
    assert lines[2][:8] == ["TOPIC", "PARTITION", "STATUS", "WINDOW-START", "WINDOW-END", "LAG", "TIME-LAG", "OWNER"]
    assert lines[3][:6] == ["st", "0", "OK", "2", "5", "25"], cp.stdout
    assert lines[4][:6] == ["st", "1", "OK", "30", "30", "0"], cp.stdout
    # unknown group: a message and exit status 1
    cp = run(broker, "--describe", "--group", "nobody", "--status", "--http-server", broker.http)
    assert cp.returncode == 1 and "no lag evaluation" in cp.stderr
    # the listener's default port is assumed without --http-server: a clear error when nothing is there
    cp = run(broker, "--describe", "--group", "st-group", "--status", "--http-server", "http://127.0.0.1:1")
    assert cp.returncode == 1 and "Cannot connect to gregord's HTTP listener" in cp.stderr
    # --status is a --describe view
    cp = run(broker, "--list", "--status")
    assert cp.returncode != 0


def undo_plan(broker, group):
    with urllib.request.urlopen(broker.http + "/api/groups/%s/undo" % group, timeout=10) as r:
        return json.loads(r.read().decode())


def test_undo(broker):
    ck.create_topic(broker, "un", partitions=3)
    for p in range(3):
        ck.produce(broker, "un", [{"value": b"v"}] * 20, partition=p)
    commit(broker, "un-group", {("un", 0): 5, ("un", 1): 7, ("un", 2): 9})
    tps = [("un", p) for p in range(3)]
    ok(run(broker, "--reset-offsets", "--group", "un-group", "--topic", "un", "--to-latest", "--execute"))
    assert committed(broker, "un-group", tps) == {("un", 0): 20, ("un", 1): 20, ("un", 2): 20}
    # dry run first: the plan, nothing changed
    cp = ok(run(broker, "--reset-offsets", "--group", "un-group", "--undo", "--dry-run"))
    rows = [ln.split() for ln in cp.stdout.splitlines() if ln.strip()]
    assert rows[0] == ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]
    assert sorted(tuple(r) for r in rows[1:]) == [("un-group", "un", "0", "5"), ("un-group", "un", "1", "7"),
                                                  ("un-group", "un", "2", "9")]
    assert "Undoing the reset of group 'un-group'" in cp.stderr
    assert committed(broker, "un-group", tps) == {("un", 0): 20, ("un", 1): 20, ("un", 2): 20}
    # across a restart: the undo reads __consumer_offsets; the console's undo
    # (the broker's memory of the last reset) was rebuilt when it loaded
    broker.restart()
    plan = undo_plan(broker, "un-group")
    assert plan["dry_run"] and sorted((p["topic"], p["partition"], p["current"], p["new"])
                                      for p in plan["partitions"]) == [("un", 0, 20, 5), ("un", 1, 20, 7),
                                                                       ("un", 2, 20, 9)], plan
    ok(run(broker, "--reset-offsets", "--group", "un-group", "--undo", "--execute"))
    assert committed(broker, "un-group", tps) == {("un", 0): 5, ("un", 1): 7, ("un", 2): 9}
    # the console's undo (the broker's memory of resets made since it started)
    # offers the same plan for a reset made now
    ok(run(broker, "--reset-offsets", "--group", "un-group", "--topic", "un:1", "--shift-by", "-3", "--execute"))
    plan = undo_plan(broker, "un-group")
    assert plan["dry_run"] and [(p["topic"], p["partition"], p["current"], p["new"]) for p in plan["partitions"]] \
        == [("un", 1, 4, 7)]
    cp = ok(run(broker, "--reset-offsets", "--group", "un-group", "--undo", "--dry-run"))
    rows = [ln.split() for ln in cp.stdout.splitlines() if ln.strip()]
    assert [tuple(r) for r in rows[1:]] == [("un-group", "un", "1", "7")]


def test_undo_without_reset(broker):
    ck.create_topic(broker, "nr", partitions=1)
    cp = run(broker, "--reset-offsets", "--group", "never-reset", "--undo", "--dry-run")
    assert cp.returncode == 1
    assert "No reset of group 'never-reset' found" in cp.stderr or "has no records" in cp.stderr, cp.stderr
    cp = run(broker, "--reset-offsets", "--group", "g", "--undo", "--to-earliest")
    assert cp.returncode != 0


def test_undo_after_restart_ignores_members_commits(broker):
    """At load, only commits made while the group had no members count as a
    reset: a member's later commit does not replace the last reset."""
    import kproto as kp
    ck.create_topic(broker, "um", partitions=1)
    ck.produce(broker, "um", [{"value": b"v"}] * 20, partition=0)
    commit(broker, "um-group", {("um", 0): 4})
    commit(broker, "um-group", {("um", 0): 15})        # the reset: 4 -> 15
    with kp.Conn(broker.bootstrap) as c:
        j = c.call(kp.JOIN_GROUP, 1, "um-group", protocols=[("range", kp.subscription(["um"]))])
        assert j["error"] == 0, j
        s = c.call(kp.SYNC_GROUP, 0, "um-group", j["generation"], j["member_id"],
                   [(j["member_id"], kp.assignment({"um": [0]}))])
        assert s["error"] == 0, s
        r = c.call(kp.OFFSET_COMMIT, 2, "um-group", {"um": [(0, 18, "")]}, generation=j["generation"],
                   member_id=j["member_id"])
        assert set(r["errors"].values()) == {0}, r
        assert c.call(kp.LEAVE_GROUP, 0, "um-group", j["member_id"])["error"] == 0
    broker.restart()
    plan = undo_plan(broker, "um-group")
    assert [(p["topic"], p["partition"], p["current"], p["new"]) for p in plan["partitions"]] == \
        [("um", 0, 18, 4)], plan
