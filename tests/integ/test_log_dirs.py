"""AlterReplicaLogDirs v0-2: a partition moves between the log.dirs of the
broker while it is being written and read (Kafka's future replica:
<topic>-<p>.<id>-future, then a swap), survives kill -9 during the copy and
a crash between the swap's two renames, and DescribeLogDirs shows the
move."""
import os
import shutil
import signal
import threading
import time

import pytest

import ck
import kmsg
import kproto as kp
from helpers import wait_until
from storage_check import produce_raw, read_log

NONE = 0
REPLICA_NOT_AVAILABLE = 9
LOG_DIR_NOT_FOUND = 57


def two_dirs(broker_factory, tmp_path, **ov):
    a, b = str(tmp_path / "dir-a"), str(tmp_path / "dir-b")
    ov.setdefault("internal.log.segment.bytes", 256 * 1024)
    br = broker_factory(dict({"log.dirs": "%s,%s" % (a, b), "num.partitions": "1"}, **ov))
    return br, a, b


def where(dirs, topic, p=0):
    """The log dirs holding <topic>-<p> (and futures of it)."""
    out = []
    for d in dirs:
        for n in os.listdir(d):
            if n == "%s-%d" % (topic, p):
                out.append((d, "current"))
            elif n.startswith("%s-%d." % (topic, p)) and n.endswith("-future"):
                out.append((d, "future"))
            elif n.startswith("%s-%d." % (topic, p)) and n.endswith("-delete"):
                out.append((d, "delete"))
    return sorted(out)


def alter(br, moves, version=1):
    """moves: [(dir, topic, [partitions])] -> {(topic, p): error}"""
    with kp.Conn(br.bootstrap) as c:
        r = kmsg.call(c, kmsg.ALTER_REPLICA_LOG_DIRS, version, {"Dirs": [
            {"Path": d, "Topics": [{"Name": t, "Partitions": ps}]} for d, t, ps in moves]})
    return {(x["TopicName"], p["PartitionIndex"]): p["ErrorCode"] for x in r["Results"] for p in x["Partitions"]}


def describe(br, version=4):
    with kp.Conn(br.bootstrap) as c:
        r = kmsg.call(c, kmsg.DESCRIBE_LOG_DIRS, version, {"Topics": None})
    return {d["LogDir"]: {(t["Name"], p["PartitionIndex"]): (p["PartitionSize"], p["OffsetLag"], p["IsFutureKey"])
                          for t in d["Topics"] for p in t["Partitions"]} for d in r["Results"]}


def fill(br, topic, batches, per=50, size=1000, first=0):
    for i in range(first, first + batches):
        err, _ = produce_raw(br, topic, 0, [b"%06d-" % (i * per + j) + b"x" * size for j in range(per)])
        assert err == NONE


def values(br, topic):
    recs, _ = read_log(br, topic, 0)
    return [v for _, _, v in recs]


def home(br, a, b, topic):
    """Put topic's partition 0 in dir a (where new partitions go is the
    broker's choice)."""
    if where([a, b], topic) == [(b, "current")]:
        assert alter(br, [(a, topic, [0])]) == {(topic, 0): NONE}
        wait_until(lambda: where([a, b], topic) == [(a, "current")], timeout=30, what="moved home")


@pytest.mark.parametrize("version", [0, 1, 2])
def test_move_between_log_dirs(broker_factory, tmp_path, version):
    br, a, b = two_dirs(broker_factory, tmp_path)
    t = ck.create_topic(br, "mv")
    home(br, a, b, t)
    fill(br, t, 30)
    before = values(br, t)
    epochs = open(os.path.join(a, t + "-0", "leader-epoch-checkpoint")).read()
    assert alter(br, [(b, t, [0])], version) == {(t, 0): NONE}
    wait_until(lambda: where([a, b], t) == [(b, "current")], timeout=60, what="the move")
    assert values(br, t) == before
    assert open(os.path.join(b, t + "-0", "leader-epoch-checkpoint")).read() == epochs
    d = describe(br)
    assert (t, 0) in d[os.path.abspath(b)] and (t, 0) not in d[os.path.abspath(a)]
    # written and read where it is now, and there after a restart
    fill(br, t, 2)
    br.restart()
    assert where([a, b], t) == [(b, "current")]
    assert values(br, t)[:len(before)] == before and len(values(br, t)) == len(before) + 100
    # already there: nothing to do
    assert alter(br, [(b, t, [0])], version) == {(t, 0): NONE}
    assert where([a, b], t) == [(b, "current")]


def test_move_while_written_and_read(broker_factory, tmp_path):
    """Throttled to 2 MB/s the copy takes seconds; producing and fetching go
    on meanwhile, and DescribeLogDirs lists the future replica."""
    br, a, b = two_dirs(broker_factory, tmp_path,
                        **{"replica.alter.log.dirs.io.max.bytes.per.second": str(2 << 20)})
    t = ck.create_topic(br, "mv-online")
    home(br, a, b, t)
    fill(br, t, 120)                                    # ~6 MB
    assert alter(br, [(b, t, [0])]) == {(t, 0): NONE}
    d = describe(br)
    assert d[os.path.abspath(b)][(t, 0)][2] is True     # a future replica in b
    assert d[os.path.abspath(a)][(t, 0)][2] is False
    stop = time.monotonic() + 60
    n = 120
    while where([a, b], t) != [(b, "current")] and time.monotonic() < stop:
        fill(br, t, 1, first=n)                         # appends go on
        n += 1
        assert len(values(br, t)) == n * 50             # and so do reads
    assert where([a, b], t) == [(b, "current")], "the move did not finish"
    assert n > 121, "the move was not online long enough to test anything"
    got = values(br, t)
    assert [int(v[:6]) for v in got] == list(range(n * 50))


def test_kill_during_move_then_resume(broker_factory, tmp_path):
    br, a, b = two_dirs(broker_factory, tmp_path,
                        **{"replica.alter.log.dirs.io.max.bytes.per.second": str(1 << 20)})
    t = ck.create_topic(br, "mv-kill")
    home(br, a, b, t)
    fill(br, t, 100)                                    # ~5 MB: 5 s at 1 MB/s
    before = values(br, t)
    assert alter(br, [(b, t, [0])]) == {(t, 0): NONE}
    wait_until(lambda: any(k == "future" for _, k in where([a, b], t)), timeout=10, what="a future dir")
    time.sleep(1.5)
    br.kill()
    assert sorted(k for _, k in where([a, b], t)) == ["current", "future"]
    br.start()
    # the move starts again and completes; nothing acknowledged is lost
    wait_until(lambda: where([a, b], t) == [(b, "current")], timeout=90, what="the resumed move")
    assert values(br, t) == before
    br.kill()
    br.start()
    assert where([a, b], t) == [(b, "current")] and values(br, t) == before


def test_crash_between_the_renames(broker_factory, tmp_path):
    """The swap's commit point is the rename of the current dir to -delete:
    a crash before the future dir is renamed into place is completed at the
    next start (the state is made by hand: the copy, then the first rename)."""
    br, a, b = two_dirs(broker_factory, tmp_path)
    t = ck.create_topic(br, "mv-crash")
    home(br, a, b, t)
    fill(br, t, 10)
    before = values(br, t)
    br.stop()
    uid = "0123456789abcdef0123456789abcdef"
    shutil.copytree(os.path.join(a, t + "-0"), os.path.join(b, "%s-0.%s-future" % (t, uid)))
    os.rename(os.path.join(a, t + "-0"), os.path.join(a, "%s-0.%s-delete" % (t, uid)))
    br.start()
    assert where([a, b], t) == [(b, "current")]
    assert values(br, t) == before
    # and a future dir whose partition is still in place is started again
    br.stop()
    shutil.copytree(os.path.join(b, t + "-0"), os.path.join(a, "%s-0.%s-future" % (t, uid)))
    br.start()
    wait_until(lambda: where([a, b], t) == [(a, "current")], timeout=60, what="the resumed move back")
    assert values(br, t) == before


def test_alter_replica_log_dirs_errors(broker_factory, tmp_path):
    br, a, b = two_dirs(broker_factory, tmp_path)
    t = ck.create_topic(br, "mv-err", partitions=2)
    got = alter(br, [(str(tmp_path / "nowhere"), t, [0]), (b, t, [7]), (b, "mv-none", [0])])
    assert got == {(t, 0): LOG_DIR_NOT_FOUND, (t, 7): REPLICA_NOT_AVAILABLE, ("mv-none", 0): REPLICA_NOT_AVAILABLE}
    # named under two dirs: the last one counts, and it is answered once
    home(br, a, b, t)
    got = alter(br, [(b, t, [0]), (a, t, [0, 0])], version=2)
    assert got == {(t, 0): NONE}
    time.sleep(0.5)
    assert where([a, b], t) == [(a, "current")]
    # a relative spelling of a log dir is the log dir
    rel = os.path.relpath(b, br.workdir)
    assert alter(br, [(rel, t, [0])]) == {(t, 0): NONE}
    wait_until(lambda: where([a, b], t) == [(b, "current")], timeout=30, what="the move")


def test_delete_topic_during_move(broker_factory, tmp_path):
    br, a, b = two_dirs(broker_factory, tmp_path,
                        **{"replica.alter.log.dirs.io.max.bytes.per.second": str(1 << 20)})
    t = ck.create_topic(br, "mv-del")
    home(br, a, b, t)
    fill(br, t, 60)
    assert alter(br, [(b, t, [0])]) == {(t, 0): NONE}
    wait_until(lambda: any(k == "future" for _, k in where([a, b], t)), timeout=10, what="a future dir")
    ck.admin(br).delete_topics([t])[t].result(timeout=20)
    wait_until(lambda: where([a, b], t) == [], timeout=20, what="the future dir removed")
