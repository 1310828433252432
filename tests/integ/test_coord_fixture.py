"""A __consumer_offsets written by an older gregord (commit 2eca498, see
tests/fixtures/coord-2eca498/make_fixture.py) loads into the same groups and
offsets: every group's description, committed offsets (leader epochs and
metadata included) and generation (a Heartbeat per member with its generation
and the next one) as that gregord answered them after loading the same dir.
The fixture's __consumer_offsets has 3 partitions while the broker runs with the
default offsets.topic.num.partitions (50): group placement follows the topic's
real count, in the broker and in the CLI.  Explicit expire timestamps (v1
records) still expire."""
import importlib.util
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import kproto as kp                                    # noqa: E402
from helpers import run_gregor, wait_until             # noqa: E402

FIXTURE = os.path.join(HERE, "..", "fixtures", "coord-2eca498")
_spec = importlib.util.spec_from_file_location("make_fixture", os.path.join(FIXTURE, "make_fixture.py"))
mf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mf)

# as the fixture was written and captured, except the partition count (the
# topic keeps its 3)
OVERRIDES = {"offsets.retention.minutes": "5256000", "offsets.retention.check.interval.ms": "3600000000"}


def expected():
    with open(os.path.join(FIXTURE, "expected.json")) as f:
        return json.load(f)


def fixture_broker(broker_factory, tmp_path, **over):
    """A broker started on a copy of the fixture's log dir."""
    ov = dict(OVERRIDES, **over)
    b = broker_factory(ov)
    b.stop()
    shutil.rmtree(b.data_dir)
    shutil.copytree(os.path.join(FIXTURE, "data"), b.data_dir)
    b.start()
    with kp.Conn(b.bootstrap) as c:
        wait_until(lambda: c.call(kp.LIST_GROUPS, 2)["error"] == 0, timeout=30, what="groups loaded")
    return b


def java_partition(group, n):
    b = group.encode("utf-16-be")
    h = 0
    for i in range(0, len(b), 2):
        h = (h * 31 + int.from_bytes(b[i:i + 2], "big")) & 0xFFFFFFFF
    if h >= 1 << 31:
        h -= 1 << 32
    return (0 if h == -(1 << 31) else abs(h)) % n


def test_loads_as_before(broker_factory, tmp_path):
    want = expected()
    b = fixture_broker(broker_factory, tmp_path)
    got = mf.capture(b, want["members"])
    for gid in mf.GROUPS:
        assert got["groups"][gid] == want["groups"][gid], gid
    assert got["listed"] == want["listed"]
    assert got["list_error"] == want["list_error"]
    assert "keeping 3" in b.log_text()
    # and again after a restart of the new broker (it wrote nothing that changes them)
    b.restart()
    with kp.Conn(b.bootstrap) as c:
        wait_until(lambda: c.call(kp.LIST_GROUPS, 2)["error"] == 0, timeout=30, what="groups loaded")
    got = mf.capture(b, want["members"])
    assert {g: got["groups"][g] for g in mf.GROUPS} == want["groups"]


def test_placement_uses_the_topics_partition_count(broker_factory, tmp_path):
    """Broker and CLI place a group on abs(hashCode) % 3, the topic's count,
    not % 50 (offsets.topic.num.partitions)."""
    b = fixture_broker(broker_factory, tmp_path)
    cp = run_gregor(["consumer-groups", "--bootstrap-server", b.bootstrap, "--history", "--group", "g-gens"])
    assert cp.returncode == 0, cp
    lines = cp.stdout.splitlines()
    assert lines[0].startswith("# group 'g-gens': __consumer_offsets-%d," % java_partition("g-gens", 3)), lines[0]
    assert sum(" GENERATION " in ln for ln in lines) == 5, lines
    # a new commit lands on the same partition as the group's records
    with kp.Conn(b.bootstrap) as c:
        r = c.call(kp.OFFSET_COMMIT, 2, "ibp20", {"audit": [(0, 1234, "new")]})
        assert set(r["errors"].values()) == {0}, r
    cp = run_gregor(["consumer-groups", "--bootstrap-server", b.bootstrap, "--history", "--group", "ibp20"])
    assert cp.stdout.startswith("# group 'ibp20': __consumer_offsets-%d," % java_partition("ibp20", 3)), cp.stdout
    assert "OFFSET orders-0 - -> 7 " in cp.stdout, cp.stdout
    assert "OFFSET audit-0 - -> 1234 " in cp.stdout, cp.stdout


def test_explicit_expiry_still_applies(broker_factory, tmp_path):
    """The offset whose v1 record carries an expire timestamp in the past
    (OffsetCommit v2 with RetentionTimeMs=1) and the one committed with a v1
    CommitTimestamp of 2009 (older than the 10 years of retention) expire at
    the first pass; the others, with or without an expire timestamp, stay."""
    want = expected()
    b = fixture_broker(broker_factory, tmp_path, **{"offsets.retention.check.interval.ms": "300"})
    gone = [("audit", 0), ("orders", 2)]
    exp = [o for o in want["groups"]["standalone"]["offsets"] if (o[0], o[1]) not in gone]
    assert len(exp) == len(want["groups"]["standalone"]["offsets"]) - 2
    with kp.Conn(b.bootstrap) as c:
        wait_until(lambda: mf.offset_fetch_v5(c, "standalone")["offsets"] == exp, timeout=30,
                   what="audit-0 and orders-2 expired")
        time.sleep(1.0)
        for gid in mf.GROUPS:
            if gid != "standalone":
                assert mf.offset_fetch_v5(c, gid)["offsets"] == want["groups"][gid]["offsets"], gid
    b.restart()
    with kp.Conn(b.bootstrap) as c:
        wait_until(lambda: c.call(kp.LIST_GROUPS, 2)["error"] == 0, timeout=30, what="groups loaded")
        assert mf.offset_fetch_v5(c, "standalone")["offsets"] == exp
