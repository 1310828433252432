"""Consumer groups with confluent-kafka (librdkafka 2.0.2) consumers, each in
its own process: assignment, clean leave, crash (SIGKILL) and session
timeout, bouncing members, broker restarts, static membership and
cooperative-sticky rebalancing.

Every member process (`Member`, this file run as a script) appends one JSON
line per event to its own file: assign / revoke / lost with a wall-clock
timestamp and the generation (from consumer_group_metadata()), each consumed
message, each synchronous commit once it returned.  Offsets are committed
explicitly: periodically and, synchronously, in on_revoke, so on a clean
handover the next owner starts exactly where the previous one stopped.
"""
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

SESSION_MS = 6000

BROKER_OVERRIDES = {"num.partitions": "1", "auto.create.topics.enable": "false",
                    "offsets.topic.num.partitions": "4",
                    "group.initial.rebalance.delay.ms": "0"}

# ------------------------------------------------------------------ member process


def parse_cgmd(b):
    """librdkafka's serialized consumer group metadata ("CGMDv2:" + native
    int32 generation + NUL-terminated group id + NUL-terminated member id + ...)."""
    b = bytes(b)
    assert b.startswith(b"CGMDv2:"), b
    (gen,) = struct.unpack("=i", b[7:11])
    rest = b[11:]
    group, _, rest = rest.partition(b"\0")
    member, _, _ = rest.partition(b"\0")
    return gen, member.decode(errors="replace")


def _member_main(cfg):
    import logging
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(message)s")
    out = open(cfg["out"], "a", buffering=1 << 16)
    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))

    def emit(**ev):
        ev.setdefault("t", time.time())
        out.write(json.dumps(ev) + "\n")

    conf = {"bootstrap.servers": cfg["bootstrap"], "group.id": cfg["group"],
            "client.id": cfg.get("name", "member"),
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 500,
            "fetch.wait.max.ms": 100, "topic.metadata.refresh.interval.ms": 2000,
            "socket.timeout.ms": 10000, "log_level": 6,
            "logger": logging.getLogger("rdkafka")}
    conf.update(cfg.get("conf", {}))
    c = Consumer(conf)
    pos = {}            # (topic, partition) -> next offset to commit
    owned = set()

    def gen():
        try:
            return parse_cgmd(c.consumer_group_metadata())
        except Exception as e:      # noqa: BLE001 - reported, not fatal
            return (None, repr(e))

    def commit(parts, why):
        offs = [TopicPartition(t, p, pos[(t, p)]) for t, p in parts if (t, p) in pos]
        if not offs:
            return
        out.flush()
        try:
            res = c.commit(offsets=offs, asynchronous=False)
            errs = [(r.topic, r.partition, str(r.error)) for r in res if r.error]
            emit(ev="commit", why=why, offs=[[r.topic, r.partition, r.offset] for r in res
                                             if not r.error], errs=errs)
        except Exception as e:      # noqa: BLE001
            emit(ev="commit_failed", why=why, err=str(e),
                 offs=[[o.topic, o.partition, o.offset] for o in offs])
        out.flush()

    def on_assign(consumer, parts):
        g, m = gen()
        tps = [[p.topic, p.partition] for p in parts]
        owned.update((p.topic, p.partition) for p in parts)
        emit(ev="assign", parts=tps, gen=g, member=m)
        out.flush()

    def on_revoke(consumer, parts):
        tps = [(p.topic, p.partition) for p in parts]
        if cfg.get("commit_on_revoke", True):
            commit(tps, "revoke")
        for tp in tps:
            owned.discard(tp)
            pos.pop(tp, None)
        g, m = gen()
        emit(ev="revoke", parts=[list(tp) for tp in tps], gen=g, member=m)
        out.flush()

    def on_lost(consumer, parts):
        tps = [(p.topic, p.partition) for p in parts]
        for tp in tps:
            owned.discard(tp)
            pos.pop(tp, None)
        emit(ev="lost", parts=[list(tp) for tp in tps])
        out.flush()

    emit(ev="start", pid=os.getpid())
    out.flush()
    c.subscribe(cfg["topics"], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    deadline = time.monotonic() + cfg.get("max_seconds", 150)
    last_commit = time.monotonic()
    interval = cfg.get("commit_interval", 0.5)
    ppid = os.getppid()
    while not stop["flag"] and time.monotonic() < deadline and os.getppid() == ppid:
        msgs = c.consume(num_messages=200, timeout=0.2)
        for m in msgs:
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    emit(ev="error", err=str(m.error()))
                continue
            tp = (m.topic(), m.partition())
            emit(ev="msg", p=m.partition(), o=m.offset(),
                 v=m.value().decode(errors="replace") if m.value() is not None else None,
                 owned=tp in owned)
            pos[tp] = m.offset() + 1
        if msgs:
            out.flush()
        if interval is not None and time.monotonic() - last_commit >= interval:
            commit(sorted(owned), "periodic")
            last_commit = time.monotonic()
    if cfg.get("commit_on_close", True):
        commit(sorted(owned), "close")
    g, m = gen()
    emit(ev="closing", gen=g, member=m)
    out.flush()
    c.close()
    emit(ev="closed")
    out.close()


# ------------------------------------------------------------------ harness


class Member:
    """A confluent-kafka consumer in its own process (this file as a script)."""

    def __init__(self, workdir, bootstrap, group, topics, name, conf=None, **opts):
        self.name = name
        self.out = os.path.join(str(workdir), "%s.events" % name)
        self.err = os.path.join(str(workdir), "%s.stderr" % name)
        self.cfg = dict(opts, bootstrap=bootstrap, group=group, topics=list(topics),
                        name=name, out=self.out, conf=conf or {})
        self.proc = None
        self.stopped_at = None
        self.stop_times = []      # per session: when it stopped (None while running)
        self.start()

    def start(self):
        self.stopped_at = None
        self.stop_times.append(None)
        with open(self.err, "ab") as err:
            self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "member",
                                          json.dumps(self.cfg)],
                                         stdout=subprocess.DEVNULL, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=HERE)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None or self.proc.poll() is not None:
            return
        t = time.time()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            pytest.fail("member %s did not exit within %ss of signal %d\n%s"
                        % (self.name, timeout, sig, self.stderr_tail()))
        self.stopped_at = t if sig == signal.SIGKILL else time.time()
        self.stop_times[-1] = self.stopped_at

    def kill(self):
        self.stop(signal.SIGKILL)

    def events(self):
        try:
            with open(self.out) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        evs = []
        for ln in lines:
            try:
                evs.append(json.loads(ln))
            except ValueError:
                pass            # a line torn by SIGKILL
        return evs

    def sessions(self):
        """events split per process run (on "start")."""
        out = []
        for e in self.events():
            if e["ev"] == "start":
                out.append([])
            if out:
                out[-1].append(e)
        return out

    def owned(self):
        """partitions currently owned according to this member's last session."""
        ss = self.sessions()
        own = set()
        for e in (ss[-1] if ss else []):
            if e["ev"] == "assign":
                own |= {tuple(p) for p in e["parts"]}
            elif e["ev"] in ("revoke", "lost"):
                own -= {tuple(p) for p in e["parts"]}
            elif e["ev"] == "closed":
                own = set()
        return own

    def stderr_tail(self, n=40):
        try:
            with open(self.err, errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except FileNotFoundError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def intervals(member):
    """[(partition tuple, start, end)] ownership intervals across sessions;
    an interval still open when a session ended (closed, killed) ends then."""
    res = []
    sessions = member.sessions()
    for i, sess in enumerate(sessions):
        open_ = {}
        end = member.stop_times[i] if i < len(member.stop_times) else None
        for e in sess:
            if e["ev"] == "assign":
                for p in e["parts"]:
                    open_.setdefault(tuple(p), e["t"])
            elif e["ev"] in ("revoke", "lost"):
                for p in e["parts"]:
                    if tuple(p) in open_:
                        res.append((tuple(p), open_.pop(tuple(p)), e["t"]))
            elif e["ev"] == "closed":
                end = e["t"]
        for p, s in open_.items():
            res.append((p, s, end or time.time()))
    return res


def assert_no_double_ownership(members, slack=0.0):
    iv = []
    for m in members:
        iv += [(p, s, e, m.name) for p, s, e in intervals(m)]
    iv.sort()
    by_p = {}
    for p, s, e, n in iv:
        by_p.setdefault(p, []).append((s, e, n))
    for p, lst in by_p.items():
        lst.sort()
        for (s1, e1, n1), (s2, e2, n2) in zip(lst, lst[1:]):
            assert s2 >= e1 - slack, (
                "partition %s owned by %s [%.3f, %.3f] and %s [%.3f, %.3f] at the same time"
                % (p, n1, s1, e1, n2, s2, e2))


def wait_for(pred, timeout, what, members=(), interval=0.3):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        for m in members:
            if m.proc is not None and m.proc.poll() is not None and m.stopped_at is None:
                pytest.fail("member %s exited (%s) while waiting for %s\n%s"
                            % (m.name, m.proc.returncode, what, m.stderr_tail()))
        time.sleep(interval)
    detail = "\n".join("%s owns %s\n%s" % (m.name, sorted(m.owned()), m.stderr_tail(15))
                       for m in members)
    pytest.fail("timed out after %ss waiting for %s (last: %r)\n%s" % (timeout, what, last, detail))


def heartbeat(bootstrap, group, generation, member_id, instance_id=None):
    """A Heartbeat (v3) on behalf of a member: 0 when the broker has the
    group at that generation and no rebalance is under way,
    REBALANCE_IN_PROGRESS or ILLEGAL_GENERATION otherwise.  This is the
    positive event the "no further rebalance" checks wait for: the
    members' events of a rebalance are written before it completes."""
    import kproto as kp
    with kp.Conn(bootstrap) as c:
        return c.call(kp.HEARTBEAT, 3, group, generation, member_id, instance_id=instance_id)["error"]


def last_assign(member):
    """(generation, member id) of the member's last assign event."""
    e = [e for e in member.events() if e["ev"] == "assign"][-1]
    return e["gen"], e["member"]


def settled(broker, group, member, members=(), instance_id=None, timeout=20):
    """Wait until the group is Stable at the generation of member's last
    assignment."""
    def pred():
        gen, mid = last_assign(member)
        return heartbeat(broker.bootstrap, group, gen, mid, instance_id) == 0
    wait_for(pred, timeout, "group %s Stable at %s's generation" % (group, member.name), members=members)


def balanced(members, topic, nparts, exact=None):
    """every member owns something, each partition owned by exactly one."""
    def pred():
        owns = [m.owned() for m in members]
        if any(not o for o in owns):
            return False
        allp = [p for o in owns for p in o]
        if sorted(allp) != [(topic, i) for i in range(nparts)]:
            return False
        if exact is not None and any(len(o) != exact for o in owns):
            return False
        return owns
    return pred


def consumed(members):
    """[(partition, offset, value, member, t)] over all members and sessions."""
    out = []
    for m in members:
        for e in m.events():
            if e["ev"] == "msg":
                out.append((e["p"], e["o"], e["v"], m.name, e["t"]))
    return out


def stop_all(members, sig=signal.SIGTERM):
    for m in members:
        if m.alive():
            m.proc.send_signal(sig)
    for m in members:
        if m.proc is not None:
            m.stop(sig)


@pytest.fixture
def members(tmp_path):
    made = []

    def make(*a, **kw):
        m = Member(tmp_path, *a, **kw)
        made.append(m)
        return m

    yield make
    for m in made:
        if m.alive():
            m.proc.kill()
            m.proc.wait(timeout=10)


# ------------------------------------------------------------------ helpers (test process)

def committed(broker, group, topic, nparts):
    import ck
    from confluent_kafka import TopicPartition
    c = ck.consumer(broker, group_id=group)
    try:
        res = c.committed([TopicPartition(topic, p) for p in range(nparts)], timeout=15)
        return {r.partition: r.offset for r in res}
    finally:
        c.close()


def high_watermarks(broker, topic, nparts):
    import ck
    from confluent_kafka import TopicPartition
    c = ck.consumer(broker)
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(nparts)}
    finally:
        c.close()


def produce_rr(broker, topic, nparts, values):
    """value i goes to partition i % nparts."""
    import ck
    p = ck.producer(broker)
    errs = []
    for i, v in enumerate(values):
        while True:
            try:
                p.produce(topic, value=v.encode(), partition=i % nparts,
                          on_delivery=lambda err, m: err and errs.append(err))
                break
            except BufferError:
                p.poll(0.1)
    assert p.flush(30) == 0 and not errs, errs


# ------------------------------------------------------------------ tests

def test_three_members_split_six_partitions(broker, members):
    import ck
    topic, group = "grp-basic", "g-basic"
    ck.create_topic(broker, topic, partitions=6)
    first = ["a-%d" % i for i in range(600)]
    produce_rr(broker, topic, 6, first)
    ms = [members(broker.bootstrap, group, [topic], "m%d" % i) for i in range(3)]
    owns = wait_for(balanced(ms, topic, 6, exact=2), 40, "3 members with 2 partitions each",
                    members=ms)
    second = ["b-%d" % i for i in range(600)]
    produce_rr(broker, topic, 6, second)
    want = set(first + second)
    wait_for(lambda: {v for _, _, v, _, _ in consumed(ms)} >= want, 40,
             "all 1200 records consumed", members=ms)
    # commits are synchronous: wait until the group's committed offsets reach the end
    hw = high_watermarks(broker, topic, 6)
    assert hw == {p: 200 for p in range(6)}
    wait_for(lambda: committed(broker, group, topic, 6) == hw, 20,
             "committed offsets == log end offsets", members=ms)
    stop_all(ms)
    # each partition owned by exactly one member (from on_assign callbacks)
    allp = sorted(p for o in owns for p in o)
    assert allp == [(topic, i) for i in range(6)], owns
    assert_no_double_ownership(ms)
    recs = consumed(ms)
    vals = [v for _, _, v, _, _ in recs]
    dups = sorted({v for v in vals if vals.count(v) > 1})
    assert not dups, "duplicates without any failure: %s" % dups[:20]
    assert sorted(vals) == sorted(want)
    # every record was read by the member that owned its partition at that time
    assert all(e.get("owned", True) for m in ms for e in m.events() if e["ev"] == "msg")
    # all members agree on one final generation
    gens = set()
    for m in ms:
        assigns = [e for e in m.events() if e["ev"] == "assign"]
        gens.add(assigns[-1]["gen"])
    assert len(gens) == 1 and None not in gens and min(gens) >= 1, gens


def test_clean_leave_then_sigkill(broker, members):
    import ck
    import kproto as kp
    topic, group = "grp-leave", "g-leave"
    ck.create_topic(broker, topic, partitions=6)
    ms = [members(broker.bootstrap, group, [topic], "m%d" % i) for i in range(3)]
    wait_for(balanced(ms, topic, 6, exact=2), 40, "3 members x 2 partitions", members=ms)
    settled(broker, group, ms[0], ms)
    g = kp.describe_group(broker.bootstrap, group)
    assert (g["error"], g["state"], g["protocol_type"]) == (0, "Stable", "consumer"), g
    assert len(g["members"]) == 3
    assert g["protocol"] in ("range", "roundrobin"), g
    for mm in g["members"]:
        assert mm["client_id"] in ("m0", "m1", "m2")
        assert kp.parse_subscription(mm["metadata"])["topics"] == [topic]
    assert sorted(p for mm in g["members"]
                  for p in kp.parse_assignment(mm["assignment"]).get(topic, [])) == list(range(6))

    # 1. m2 leaves cleanly: close() sends LeaveGroup, the other two take over fast
    n_assign = {m.name: sum(e["ev"] == "assign" for e in m.events()) for m in ms[:2]}
    gen_before = [e for e in ms[0].events() if e["ev"] == "assign"][-1]["gen"]
    t_leave = time.time()
    ms[2].stop(signal.SIGTERM)
    wait_for(balanced(ms[:2], topic, 6, exact=3), 20, "2 members x 3 partitions", members=ms[:2])
    t_done = time.time()
    assert t_done - t_leave < SESSION_MS / 1000.0, \
        "rebalance after LeaveGroup took %.1fs (looks like a session timeout)" % (t_done - t_leave)
    # the broker has the group Stable at the next generation, with the two
    # members only (so no session of m2 is left to expire later)
    settled(broker, group, ms[0], ms[:2])
    g = kp.describe_group(broker.bootstrap, group)
    assert g["state"] == "Stable" and len(g["members"]) == 2, g
    for m in ms[:2]:
        new = [e for e in m.events() if e["ev"] == "assign"][n_assign[m.name]:]
        assert len(new) == 1, "%s: expected one rebalance after the leave, got %s" % (m.name, new)
        assert new[0]["gen"] == gen_before + 1, (gen_before, new)
    evs = [e["ev"] for e in ms[2].events()]
    assert evs[-1] == "closed" and "closing" in evs, evs[-5:]

    # 2. m1 is SIGKILLed: no LeaveGroup; m0 gets everything after the session timeout
    t_kill = time.time()
    ms[1].kill()
    wait_for(balanced(ms[:1], topic, 6, exact=6), SESSION_MS / 1000.0 + 15,
             "m0 owns all 6 after m1's session expired", members=ms[:1])
    t_re = [e for e in ms[0].events() if e["ev"] == "assign"][-1]["t"]
    assert t_re - t_kill >= SESSION_MS / 1000.0 - 1.5, \
        "partitions of a killed member reassigned after %.1fs, before its session timeout" % (t_re - t_kill)
    assert t_re - t_kill <= SESSION_MS / 1000.0 + 10
    g = kp.describe_group(broker.bootstrap, group)
    assert g["state"] == "Stable" and len(g["members"]) == 1, g
    assert_no_double_ownership(ms)
    stop_all(ms[:1])
    # the last member left: the group is Empty but known
    g = kp.describe_group(broker.bootstrap, group)
    assert (g["error"], g["state"], g["members"]) == (0, "Empty", []), g


def test_bounce_members_while_producing(broker, members):
    import ck
    topic, group = "grp-bounce", "g-bounce"
    ck.create_topic(broker, topic, partitions=6)
    ms = [members(broker.bootstrap, group, [topic], "m%d" % i, commit_interval=0.3)
          for i in range(3)]
    wait_for(balanced(ms, topic, 6), 40, "initial assignment", members=ms)

    produced = []
    stop = threading.Event()
    perr = []

    def produce_loop():
        p = ck.producer(broker, linger_ms=5)
        i = 0
        try:
            while not stop.is_set():
                for _ in range(20):
                    v = "v-%d" % i
                    p.produce(topic, value=v.encode(), partition=i % 6,
                              on_delivery=lambda err, m, v=v: perr.append(err) if err
                              else produced.append(v))
                    i += 1
                p.poll(0)
                time.sleep(0.05)
        except Exception as e:     # noqa: BLE001
            perr.append(e)
        finally:
            p.flush(20)

    th = threading.Thread(target=produce_loop, daemon=True)
    th.start()
    try:
        # 4 restarts: three clean (SIGTERM) and one crash (SIGKILL)
        for n, (idx, sig) in enumerate([(0, signal.SIGTERM), (1, signal.SIGTERM),
                                        (2, signal.SIGKILL), (0, signal.SIGTERM)]):
            time.sleep(2.0)
            ms[idx].stop(sig)
            time.sleep(0.5)
            ms[idx].start()
        wait_for(balanced(ms, topic, 6), 40, "assignment after the bounces", members=ms)
        time.sleep(1.0)
    finally:
        stop.set()
        th.join(30)
    assert not perr, perr[:5]
    assert len(produced) > 500
    want = set(produced)
    wait_for(lambda: {v for _, _, v, _, _ in consumed(ms)} >= want, 40,
             "every produced record consumed at least once", members=ms)
    hw = high_watermarks(broker, topic, 6)
    assert sum(hw.values()) == len(produced)
    wait_for(lambda: committed(broker, group, topic, 6) == hw, 20,
             "committed offsets == log end offsets", members=ms)
    stop_all(ms)
    assert_no_double_ownership(ms)

    # duplicates only inside uncommitted windows: after every assignment the
    # new owner starts at or after the latest commit that had returned before
    commits = []     # (t, partition, offset)
    for m in ms:
        for e in m.events():
            if e["ev"] == "commit":
                commits += [(e["t"], p, o) for _, p, o in e["offs"]]
    commits.sort()
    for m in ms:
        for sess in m.sessions():
            own_since = {}
            seen_first = set()
            for e in sess:
                if e["ev"] == "assign":
                    for _, p in e["parts"]:
                        own_since[p] = e["t"]
                        seen_first.discard(p)
                elif e["ev"] == "msg" and e["p"] not in seen_first:
                    p = e["p"]
                    seen_first.add(p)
                    floor = max([o for t, pp, o in commits if pp == p and t < own_since.get(p, 0)],
                                default=0)
                    assert e["o"] >= floor, (
                        "%s re-read partition %d from %d although %d had been committed before "
                        "its assignment" % (m.name, p, e["o"], floor))
    # and a duplicate is only ever a record past the commits of its first reader
    recs = sorted(consumed(ms), key=lambda r: r[4])
    first_reader = {}
    for p, o, v, name, t in recs:
        if (p, o) in first_reader:
            floor = max([oo for tt, pp, oo in commits if pp == p and tt < t], default=0)
            assert o >= floor, "record %d/%d (%s) re-consumed by %s after offset %d was committed" \
                % (p, o, v, name, floor)
        else:
            first_reader[(p, o)] = name


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill9"])
def test_broker_restart_keeps_group_and_offsets(broker_factory, members, sig):
    import ck
    import kproto as kp
    b = broker_factory({"num.partitions": "1", "offsets.topic.num.partitions": "4",
                        "group.initial.rebalance.delay.ms": "0"})
    topic, group = "grp-restart", "g-restart"
    ck.create_topic(b, topic, partitions=3)
    produce_rr(b, topic, 3, ["a-%d" % i for i in range(300)])
    m = members(b.bootstrap, group, [topic], "m0", commit_interval=0.2)
    wait_for(lambda: committed(b, group, topic, 3) == {0: 100, 1: 100, 2: 100}, 40,
             "first 300 consumed and committed", members=[m])
    m.stop()
    # a second group member keeps running through the restart
    live = members(b.bootstrap, group, [topic], "m1", commit_interval=0.2)
    wait_for(balanced([live], topic, 3), 30, "m1 owns all", members=[live])
    time.sleep(1.0)
    before = committed(b, group, topic, 3)
    assert before == {0: 100, 1: 100, 2: 100}
    g0 = kp.describe_group(b.bootstrap, group)
    assert g0["state"] == "Stable" and len(g0["members"]) == 1, g0
    gen0 = [e for e in live.events() if e["ev"] == "assign"][-1]["gen"]

    b.restart(sig)

    # committed offsets come back exactly
    after = wait_for(lambda: _try(lambda: committed(b, group, topic, 3)), 30,
                     "committed offsets readable after restart")
    assert after == before

    def stable():
        g = kp.describe_group(b.bootstrap, group)
        return g if g["error"] == 0 and g["state"] == "Stable" else None

    # the group comes back: the running member stays (or rejoins) and the group is Stable again
    g1 = wait_for(lambda: _try(stable), 30, "group Stable after restart", members=[live])
    assert g1["protocol_type"] == "consumer" and g1["protocol"] == g0["protocol"]
    assert len(g1["members"]) == 1, g1
    wait_for(balanced([live], topic, 3), 20, "m1 owns all after restart", members=[live])
    gen1 = [e for e in live.events() if e["ev"] == "assign"][-1]["gen"]
    assert gen1 >= gen0
    # consumers resume from the committed offsets: new records only, no re-reads
    produce_rr(b, topic, 3, ["b-%d" % i for i in range(30)])
    wait_for(lambda: committed(b, group, topic, 3) == {0: 110, 1: 110, 2: 110}, 30,
             "new records consumed and committed after restart", members=[live])
    stop_all([live])
    vals = [v for _, _, v, _, _ in consumed([live])]
    assert sorted(vals) == sorted("b-%d" % i for i in range(30)), vals[:20]

    # a brand-new member process also starts from the committed offsets
    produce_rr(b, topic, 3, ["c-%d" % i for i in range(9)])
    fresh = members(b.bootstrap, group, [topic], "m2", commit_interval=0.2)
    wait_for(lambda: committed(b, group, topic, 3) == {0: 113, 1: 113, 2: 113}, 30,
             "fresh member consumed the rest", members=[fresh])
    stop_all([fresh])
    firsts = {}
    for p, o, v, _, _ in consumed([fresh]):
        firsts.setdefault(p, o)
    assert firsts == {0: 110, 1: 110, 2: 110}, firsts


def _try(fn):
    try:
        return fn()
    except Exception:      # noqa: BLE001 - retried by the caller's wait
        return None


def test_static_member_restart_no_rebalance(broker, members):
    import ck
    import kproto as kp
    topic, group = "grp-static", "g-static"
    ck.create_topic(broker, topic, partitions=4)
    conf = {"session.timeout.ms": 15000}
    ms = [members(broker.bootstrap, group, [topic], "s%d" % i,
                  conf=dict(conf, **{"group.instance.id": "inst-%d" % i})) for i in range(2)]
    wait_for(balanced(ms, topic, 4, exact=2), 40, "2 static members x 2 partitions", members=ms)
    time.sleep(1.5)
    g0 = kp.describe_group(broker.bootstrap, group, version=4)
    assert g0["state"] == "Stable", g0
    assert sorted(m["instance_id"] for m in g0["members"]) == ["inst-0", "inst-1"], g0
    ev0 = [e for e in ms[0].events() if e["ev"] == "assign"][-1]
    gen0, mid0 = ev0["gen"], ev0["member"]
    parts0 = ms[0].owned()
    n1 = len(ms[1].events())

    for restart in range(2):
        ms[0].stop()           # librdkafka: a static member sends no LeaveGroup
        ms[0].start()
        wait_for(lambda: ms[0].owned(), 15, "restarted static member owns partitions",
                 members=ms)
        ev = [e for e in ms[0].sessions()[-1] if e["ev"] == "assign"]
        assert len(ev) == 1, ev
        assert ms[0].owned() == parts0, (ms[0].owned(), parts0)
        assert ev[0]["gen"] == gen0, "static rejoin changed the generation %s -> %s" % (gen0, ev[0]["gen"])
        assert ev[0]["member"] != mid0, "a restarted static member gets a new member id"
        # the broker, asked after the rejoin was answered: still generation
        # gen0 and no rebalance under way (a rebalance the rejoin triggered
        # would show here before the other member could notice it)
        err = heartbeat(broker.bootstrap, group, gen0, ev[0]["member"], "inst-0")
        assert err == 0, "heartbeat at generation %d after the static rejoin: error %d" % (gen0, err)
        # the other member saw no rebalance at all
        other = [e for e in ms[1].events()[n1:] if e["ev"] in ("assign", "revoke", "lost")]
        assert not other, other
        g = kp.describe_group(broker.bootstrap, group, version=4)
        assert g["state"] == "Stable" and len(g["members"]) == 2, g
        by_inst = {m["instance_id"]: m["member_id"] for m in g["members"]}
        assert by_inst["inst-0"] == ev[0]["member"], (by_inst, ev)
        mid0 = ev[0]["member"]
    stop_all(ms)


def test_cooperative_sticky_incremental(broker, members):
    import ck
    topic, group = "grp-coop", "g-coop"
    ck.create_topic(broker, topic, partitions=6)
    conf = {"partition.assignment.strategy": "cooperative-sticky"}
    a = members(broker.bootstrap, group, [topic], "a", conf=conf)
    wait_for(balanced([a], topic, 6), 30, "a owns all 6", members=[a])
    settled(broker, group, a, [a])
    n_a = len(a.events())
    b = members(broker.bootstrap, group, [topic], "b", conf=conf)
    owns = wait_for(balanced([a, b], topic, 6, exact=3), 40, "a and b with 3 each",
                    members=[a, b])
    # b's partitions came with the last rebalance: Stable at its generation
    settled(broker, group, b, [a, b])
    kept = owns[0]
    after = [e for e in a.events()[n_a:] if e["ev"] in ("assign", "revoke", "lost")]
    revoked = {tuple(p) for e in after if e["ev"] == "revoke" for p in e["parts"]}
    assert not [e for e in after if e["ev"] == "lost"], after
    # only the moved partitions were revoked; the kept ones never
    assert revoked == owns[1], (revoked, owns)
    assert not (revoked & kept)
    assert all(len(e["parts"]) < 6 for e in after if e["ev"] == "revoke"), after
    assert_no_double_ownership([a, b])
    stop_all([a, b])


def _subscribe_to_first_record(broker, topic, group):
    """Seconds from subscribe() to the first record handed to the
    application; the consumer knows the topic's metadata beforehand, as in
    bench/kbench.c's subscribe."""
    import ck
    c = ck.consumer(broker, **{"group.id": group, "session.timeout.ms": 10000})
    try:
        c.list_topics(topic, timeout=10)
        t0 = time.monotonic()
        c.subscribe([topic])
        while time.monotonic() < t0 + 20:
            m = c.poll(0.05)
            if m is not None and not m.error():
                return time.monotonic() - t0
        pytest.fail("no record within 20 s of subscribe")
    finally:
        c.close()


def test_new_group_first_record_after_initial_delay(broker_factory):
    """A new group waits exactly group.initial.rebalance.delay.ms (Kafka's
    InitialDelayedJoin never completes early, and nothing joins meanwhile to
    extend it), then SyncGroup, OffsetFetch, ListOffsets and Fetch answer: the
    first record reaches the application after the delay and long before the
    rebalance timeout (librdkafka's: max.poll.interval.ms, 300 s), which is
    what a join left waiting would cost.  How soon after the delay (about
    100 ms: librdkafka's offset query after "no committed offset" has a 100
    ms backoff) is measured by make bench, not here."""
    import ck
    delay_ms = 1000
    b = broker_factory({"offsets.topic.num.partitions": "4",
                        "group.initial.rebalance.delay.ms": str(delay_ms)})
    topic = "grp-first-record"
    ck.create_topic(b, topic, partitions=8)
    for p in range(8):
        ck.produce(b, topic, [{"value": b"r%d-%d" % (p, i)} for i in range(10)], partition=p)
    took = [_subscribe_to_first_record(b, topic, "g-first-record-%d" % i) for i in range(2)]
    assert all(t >= delay_ms / 1000 for t in took), "the initial delay ended early: %s" % took
    assert min(took) <= (delay_ms + 10000) / 1000, "subscribe -> first record took %s s" % took


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "member":
    _member_main(json.loads(sys.argv[2]))
