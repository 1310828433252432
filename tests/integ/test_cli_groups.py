"""`gregor consumer-groups` (= kafka-consumer-groups.sh) against gregord:
--list/--describe output compared with Kafka's ConsumerGroupCommand formats
(golden strings, and tables rebuilt here from what the broker reports with
Kafka's own printf widths), every --reset-offsets mode checked through
confluent-kafka's Consumer.committed(), CSV export -> --from-file round
trips, the refusal of active groups, --delete / --delete-offsets and the
option and connection errors.  A last test runs the tool against
librdkafka's mock cluster to show it is a plain Kafka client."""
import ctypes
import os
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import ck                                                      # noqa: E402
import kproto as kp                                            # noqa: E402
from helpers import run_gregor                                 # noqa: E402
from helpers import wait_until                                 # noqa: E402
from test_groups import Member, balanced, members, stop_all, wait_for   # noqa: E402,F401

BROKER_OVERRIDES = {"num.partitions": "1", "auto.create.topics.enable": "false",
                    "offsets.topic.num.partitions": "4",
                    "group.initial.rebalance.delay.ms": "0"}

WARN_DRY = ("WARN: No action will be performed as the --execute option is missing.In a future major "
            "release, the default behavior of this command will be to prompt the user before executing "
            "the reset rather than doing a dry run. You should add the --dry-run option explicitly if you "
            "are scripting this command and want to keep the current default behavior without prompting.")


def run(broker, *args, timeout=60, bootstrap=None):
    argv = ["consumer-groups"]
    if broker is not None or bootstrap:
        argv += ["--bootstrap-server", bootstrap or broker.bootstrap]
    argv += list(args)
    return run_gregor(argv, timeout=timeout)


def ok(cp):
    assert cp.returncode == 0, "rc=%d\nstdout:\n%s\nstderr:\n%s" % (cp.returncode, cp.stdout, cp.stderr)
    return cp


def commit(broker, group, offsets):
    """standalone commit {(topic, partition): offset} (the group stays Empty)."""
    from confluent_kafka import TopicPartition
    c = ck.consumer(broker, group_id=group)
    try:
        c.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
    finally:
        c.close()


def committed(broker, group, tps):
    from confluent_kafka import TopicPartition
    c = ck.consumer(broker, group_id=group)
    try:
        res = c.committed([TopicPartition(t, p) for t, p in tps], timeout=15)
        return {(r.topic, r.partition): r.offset for r in res}
    finally:
        c.close()


def make_topic(broker, name, parts, per_part):
    ck.create_topic(broker, name, partitions=parts)
    for p in range(parts):
        ck.produce(broker, name, [{"value": b"v%d" % i} for i in range(per_part)], partition=p)
    return name


# ------------------------------------------------------------------ Kafka's formats, rebuilt here

def offsets_table(rows, verbose=False):
    """printOffsets: rows = [(group, topic, part, cur, leo, lag, cid, host, client)]."""
    wg = max([15] + [len(r[0]) for r in rows])
    wt = max([15] + [len(r[1]) for r in rows])
    wc = max([15] + [len(r[6]) for r in rows])
    wh = max([15] + [len(r[7]) for r in rows])
    if verbose:
        fmt = "\n%%-%ds %%-%ds %%-10s %%-15s %%-15s %%-15s %%-15s %%-%ds %%-%ds %%s" % (wg, wt, wc, wh)
        out = fmt % ("GROUP", "TOPIC", "PARTITION", "LEADER-EPOCH", "CURRENT-OFFSET", "LOG-END-OFFSET",
                     "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
        for r in rows:
            out += fmt % (r[0], r[1], r[2], "-", r[3], r[4], r[5], r[6], r[7], r[8])
    else:
        fmt = "\n%%-%ds %%-%ds %%-10s %%-15s %%-15s %%-15s %%-%ds %%-%ds %%s" % (wg, wt, wc, wh)
        out = fmt % ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                     "CONSUMER-ID", "HOST", "CLIENT-ID")
        for r in rows:
            out += fmt % tuple(str(x) for x in r)
    return out + "\n"


def members_table(group, ms, verbose=False):
    """printMembers: ms = [(member_id, instance_id or '', host, client, [(topic, part)])]."""
    wg = max(15, len(group))
    wc = max([15] + [len(m[0]) for m in ms])
    wi = max([17] + [len(m[1]) for m in ms])
    wh = max([15] + [len(m[2]) for m in ms])
    wcl = max([15] + [len(m[3]) for m in ms])
    inst = any(m[1] for m in ms)

    def astr(parts):
        if not parts:
            return "-"
        by = {}
        for t, p in parts:
            by.setdefault(t, []).append(p)
        return ";".join("%s:%s" % (t, ",".join(str(p) for p in sorted(ps))) for t, ps in sorted(by.items()))
    wca = max([20] + [len(astr(m[4])) for m in ms])
    if inst:
        fmt = "%%-%ds %%-%ds %%-%ds %%-%ds %%-%ds %%-15s " % (wg, wc, wi, wh, wcl)
        out = "\n" + fmt % ("GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS")
    else:
        fmt = "%%-%ds %%-%ds %%-%ds %%-%ds %%-15s " % (wg, wc, wh, wcl)
        out = "\n" + fmt % ("GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS")
    vfmt = "%%-15s %%-%ds %%-15s %%-%ds" % (wca, 20)
    if verbose:
        out += vfmt % ("CURRENT-EPOCH", "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT")
    out += "\n"
    for m in ms:
        vals = (group, m[0]) + ((m[1],) if inst else ()) + (m[2], m[3], str(len(m[4])))
        out += fmt % vals
        if verbose:
            out += vfmt % ("-", astr(m[4]), "-", "-")
        out += "\n"
    return out


def hw(broker, topic, nparts):
    from confluent_kafka import TopicPartition
    c = ck.consumer(broker)
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(nparts)}
    finally:
        c.close()


# ------------------------------------------------------------------ list / describe

def test_describe_empty_group_golden(broker):
    t = make_topic(broker, "cg-gold", 2, 5)
    commit(broker, "cg-gold-g", {(t, 0): 3, (t, 1): 5})
    cp = ok(run(broker, "--describe", "--group", "cg-gold-g"))
    assert cp.stdout == (
        "\n"
        "GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             "
        "CONSUMER-ID     HOST            CLIENT-ID\n"
        "cg-gold-g       cg-gold         0          3               5               2               "
        "-               -               -\n"
        "cg-gold-g       cg-gold         1          5               5               0               "
        "-               -               -\n")
    assert cp.stderr == "\nConsumer group 'cg-gold-g' has no active members.\n"
    cp = ok(run(broker, "--describe", "--group", "cg-gold-g", "--verbose"))
    assert cp.stdout.splitlines()[1].split() == ["GROUP", "TOPIC", "PARTITION", "LEADER-EPOCH", "CURRENT-OFFSET",
                                                 "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"]
    assert cp.stdout.splitlines()[2] == ("cg-gold-g       cg-gold         0          -               3"
                                         "               5               2               -"
                                         "               -               -")
    # --members of an Empty group: the banner, then Kafka's header with no rows
    cp = ok(run(broker, "--describe", "--group", "cg-gold-g", "--members"))
    assert cp.stdout == "\nGROUP           CONSUMER-ID     HOST            CLIENT-ID       #PARTITIONS     \n"
    assert cp.stderr == "\nConsumer group 'cg-gold-g' has no active members.\n"
    cp = ok(run(broker, "--describe", "--group", "cg-gold-g", "--state"))
    lines = cp.stdout.split("\n")
    assert lines[0] == "" and lines[-1] == ""
    assert lines[1] == ("GROUP           COORDINATOR (ID)          ASSIGNMENT-STRATEGY  STATE                "
                        "#MEMBERS")
    coord = "%s  (0)" % broker.bootstrap
    assert lines[2] == "%-15s %-25s %-20s %-20s %s" % ("cg-gold-g", coord, "-", "Empty", "0")
    cp = ok(run(broker, "--describe", "--group", "cg-gold-g", "--state", "--verbose"))
    assert cp.stdout.split("\n")[2] == "%-15s %-25s %-20s %-20s %-15s %-25s %s" % (
        "cg-gold-g", coord, "-", "Empty", "-", "-", "0")
    # a long group name widens the GROUP column
    long_g = "cg-gold-group-with-a-long-name"
    commit(broker, long_g, {(t, 1): 1})
    cp = ok(run(broker, "--describe", "--group", long_g))
    assert cp.stdout == offsets_table([(long_g, t, 1, 1, 5, 4, "-", "-", "-")])


def test_describe_missing_group(broker):
    cp = run(broker, "--describe", "--group", "cg-no-such-group")
    assert cp.returncode == 1
    assert cp.stdout == ""
    assert cp.stderr == "Error: Consumer group 'cg-no-such-group' does not exist.\n"


def test_list_and_describe_active_group(broker, members):
    topic = make_topic(broker, "cg-act", 3, 4)
    other = make_topic(broker, "cg-act-other", 1, 6)
    group = "cg-act-g"
    # a commit on a topic the members do not subscribe to: a row with "-" member columns
    commit(broker, group, {(other, 0): 2})
    commit(broker, "cg-act-empty", {(topic, 0): 1})
    ms = [members(broker.bootstrap, group, [topic], "cli-m%d" % i, commit_interval=0.3) for i in range(2)]
    wait_for(balanced(ms, topic, 3), 40, "2 members over 3 partitions", members=ms)
    ends = hw(broker, topic, 3)

    def caught_up():
        c = committed(broker, group, [(topic, p) for p in range(3)])
        return all(c[(topic, p)] == ends[p] for p in range(3)) and c
    wait_until(caught_up, timeout=30, what="members committed everything")
    g = kp.describe_group(broker.bootstrap, group, version=4)
    assert g["state"] == "Stable", g

    # --list / --list --state
    cp = ok(run(broker, "--list"))
    names = cp.stdout.split()
    assert group in names and "cg-act-empty" in names
    cp = ok(run(broker, "--list", "--state"))
    lines = cp.stdout.splitlines()
    w = max([15] + [len(n) for n in names]) + 10
    assert lines[0] == "%-*s %-20s" % (w, "GROUP", "STATE")
    assert "%-*s %-20s" % (w, group, "Stable") in lines
    assert "%-*s %-20s" % (w, "cg-act-empty", "Empty") in lines
    cp = ok(run(broker, "--list", "--state", "stable"))
    rows = [ln.split()[0] for ln in cp.stdout.splitlines()[1:]]
    assert group in rows and "cg-act-empty" not in rows
    cp = ok(run(broker, "--list", "--state", "Empty,stable"))
    rows = [ln.split()[0] for ln in cp.stdout.splitlines()[1:]]
    assert group in rows and "cg-act-empty" in rows
    cp = run(broker, "--list", "--state", "bogus")
    assert cp.returncode == 1 and "Invalid state list 'bogus'" in cp.stderr

    # --describe (offsets): members with most partitions first, then unassigned commits
    mem = []
    for m in g["members"]:
        parts = sorted(kp.parse_assignment(m["assignment"]).get(topic, []))
        mem.append((m["member_id"], m["client_host"], m["client_id"], parts))
    mem.sort(key=lambda m: -len(m[3]))          # stable, like Kafka's comparator
    rows = []
    for mid, host, cid, parts in mem:
        for p in parts:
            rows.append((group, topic, p, ends[p], ends[p], 0, mid, host, cid))
    rows.append((group, other, 0, 2, 6, 4, "-", "-", "-"))
    cp = ok(run(broker, "--describe", "--group", group))
    assert cp.stderr == ""
    assert cp.stdout == offsets_table(rows)
    cp = ok(run(broker, "--describe", "--group", group, "--offsets", "--verbose"))
    assert cp.stdout == offsets_table(rows, verbose=True)

    # --members (+ --verbose)
    mrows = [(m["member_id"], "", m["client_host"], m["client_id"],
              [(topic, p) for p in kp.parse_assignment(m["assignment"]).get(topic, [])]) for m in g["members"]]
    cp = ok(run(broker, "--describe", "--group", group, "--members"))
    assert sorted(cp.stdout.split("\n")) == sorted(members_table(group, mrows).split("\n"))
    cp = ok(run(broker, "--describe", "--group", group, "--members", "--verbose"))
    assert sorted(cp.stdout.split("\n")) == sorted(members_table(group, mrows, verbose=True).split("\n"))

    # --state
    cp = ok(run(broker, "--describe", "--group", group, "--state"))
    assert cp.stdout.split("\n")[2] == "%-15s %-25s %-20s %-20s %s" % (
        group, "%s  (0)" % broker.bootstrap, g["protocol"], "Stable", "2")

    # several groups: name order, each with its own table; --all-groups covers both
    cp = ok(run(broker, "--describe", "--group", group, "--group", "cg-act-empty"))
    assert cp.stdout.index("cg-act-empty") < cp.stdout.index(group + " ")
    assert cp.stderr == "\nConsumer group 'cg-act-empty' has no active members.\n"
    cp = ok(run(broker, "--describe", "--all-groups"))
    assert group in cp.stdout and "cg-act-empty" in cp.stdout

    # an active group is not reset
    cp = run(broker, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
    assert cp.returncode == 1
    assert ("Error: Assignments can only be reset if the group '%s' is inactive, but the current state is "
            "Stable." % group) in cp.stderr
    assert cp.stdout == "\nGROUP           TOPIC           PARTITION  NEW-OFFSET\n"
    assert committed(broker, group, [(topic, p) for p in range(3)]) == {(topic, p): ends[p] for p in range(3)}
    # nor deleted
    cp = run(broker, "--delete", "--group", group)
    assert cp.returncode == 1
    assert cp.stderr == ("Error: Deletion of some consumer groups failed:\n* Group '%s' could not be deleted due "
                         "to: org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty.\n"
                         % group)
    # its subscribed topic's offsets are protected, the other topic's are not
    cp = run(broker, "--delete-offsets", "--group", group, "--topic", topic, "--topic", other)
    assert cp.returncode == 1
    assert "Error: Encountered some partition-level error, see the follow-up details." in cp.stderr
    exp = "\n%-15s %-10s %-15s" % ("TOPIC", "PARTITION", "STATUS")
    exp += "\n%-15s %-10s %-15s" % (other, "0", "Successful")
    for p in range(3):
        exp += "\n%-15s %-10s %-15s" % (topic, p, "Error: org.apache.kafka.common.errors."
                                        "GroupSubscribedToTopicException: Deleting offsets of a topic is "
                                        "forbidden while the consumer group is actively subscribed to it.")
    assert cp.stdout == exp + "\n"
    stop_all(ms)


def test_describe_rebalancing_banner(broker):
    topic = make_topic(broker, "cg-reb", 1, 1)
    group = "cg-reb-g"
    a = kp.Conn(broker.bootstrap, timeout=40, client_id="reb-a")
    meta = kp.subscription([topic])
    r = a.call(kp.JOIN_GROUP, 1, group, member_id="", protocols=[("range", meta)],
               session_timeout=30000, rebalance_timeout=8000)
    assert not r["error"], r
    s = a.call(kp.SYNC_GROUP, 0, group, r["generation"], r["member_id"],
               [(r["member_id"], kp.assignment({topic: [0]}))])
    assert not s["error"], s
    # a second member joins; the first never rejoins: PreparingRebalance until the rebalance timeout
    b = kp.Conn(broker.bootstrap, timeout=40, client_id="reb-b")
    th = threading.Thread(target=lambda: b.call(kp.JOIN_GROUP, 1, group, member_id="",
                                                protocols=[("range", meta)], session_timeout=30000,
                                                rebalance_timeout=8000), daemon=True)
    th.start()
    wait_until(lambda: kp.describe_group(broker.bootstrap, group)["state"] == "PreparingRebalance",
               timeout=5, what="PreparingRebalance")
    cp = ok(run(broker, "--describe", "--group", group, "--state"))
    assert cp.stderr == "\nWarning: Consumer group '%s' is rebalancing.\n" % group
    assert "PreparingRebalance" in cp.stdout
    cp = run(broker, "--reset-offsets", "--group", group, "--all-topics", "--to-earliest", "--dry-run")
    assert ("the current state is PreparingRebalance." in cp.stderr) and cp.returncode == 1
    th.join(20)
    a.close()
    b.close()


# ------------------------------------------------------------------ reset-offsets

def test_reset_modes(broker):
    from confluent_kafka import TopicPartition  # noqa: F401
    t = "cg-reset"
    ck.create_topic(broker, t, partitions=2)
    now_ms = int(time.time() * 1000)
    old = now_ms - 3 * 3600 * 1000            # 3 h ago
    # partition 0: offsets 0..4 at 2020-01-01T00:00:0i.000Z, 5..9 one second apart 3 h ago
    base2020 = 1577836800000
    msgs = [{"value": b"a%d" % i, "timestamp": base2020 + i * 1000} for i in range(5)]
    msgs += [{"value": b"b%d" % i, "timestamp": old + i * 1000} for i in range(5)]
    ck.produce(broker, t, msgs, partition=0)
    ck.produce(broker, t, [{"value": b"c%d" % i} for i in range(4)], partition=1)
    g = "cg-reset-g"
    tps = [(t, 0), (t, 1)]
    commit(broker, g, {(t, 0): 6, (t, 1): 2})

    def reset(*args, execute=True):
        return ok(run(broker, "--reset-offsets", "--group", g, *args, "--execute" if execute else "--dry-run"))

    def plan(cp):
        lines = cp.stdout.split("\n")
        assert lines[0] == "" and lines[1].split() == ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]
        return {(r.split()[1], int(r.split()[2])): int(r.split()[3]) for r in lines[2:] if r}

    # default: a dry run with Kafka's WARN line; nothing changes
    cp = ok(run(broker, "--reset-offsets", "--group", g, "--all-topics", "--to-earliest"))
    assert cp.stderr == WARN_DRY + "\n"
    assert cp.stdout == ("\nGROUP           TOPIC           PARTITION  NEW-OFFSET\n"
                         "cg-reset-g      cg-reset        0          0\n"
                         "cg-reset-g      cg-reset        1          0\n")
    assert committed(broker, g, tps) == {(t, 0): 6, (t, 1): 2}
    cp = reset("--all-topics", "--to-earliest", execute=False)
    assert cp.stderr == "" and plan(cp) == {(t, 0): 0, (t, 1): 0}
    assert committed(broker, g, tps) == {(t, 0): 6, (t, 1): 2}

    assert plan(reset("--all-topics", "--to-earliest")) == {(t, 0): 0, (t, 1): 0}
    assert committed(broker, g, tps) == {(t, 0): 0, (t, 1): 0}
    assert plan(reset("--topic", t, "--to-latest")) == {(t, 0): 10, (t, 1): 4}
    assert committed(broker, g, tps) == {(t, 0): 10, (t, 1): 4}
    reset("--topic", "%s:1" % t, "--to-offset", "1")
    assert committed(broker, g, tps) == {(t, 0): 10, (t, 1): 1}
    cp = reset("--topic", "%s:0,1" % t, "--shift-by", "-3")
    assert committed(broker, g, tps) == {(t, 0): 7, (t, 1): 0}
    assert cp.stderr == ("WARN: New offset (-2) is lower than earliest offset for topic partition %s-1. "
                         "Value will be set to 0.\n" % t)
    cp = reset("--topic", "%s:0" % t, "--to-offset", "99")
    assert committed(broker, g, tps) == {(t, 0): 10, (t, 1): 0}
    assert cp.stderr == ("WARN: New offset (99) is higher than latest offset for topic partition %s-0. "
                         "Value will be set to 10.\n" % t)
    reset("--topic", "%s:0" % t, "--shift-by", "-4")
    assert plan(reset("--all-topics", "--to-current")) == {(t, 0): 6, (t, 1): 0}
    assert committed(broker, g, tps) == {(t, 0): 6, (t, 1): 0}
    # --to-current on a partition without a commit takes the log end
    cp = ok(run(broker, "--reset-offsets", "--group", "cg-reset-nocommit", "--topic", t, "--to-current",
                "--dry-run"))
    assert plan(cp) == {(t, 0): 10, (t, 1): 4}

    # --to-datetime: UTC without a zone, or the given zone
    reset("--topic", "%s:0" % t, "--to-datetime", "2020-01-01T00:00:02.000")
    assert committed(broker, g, [(t, 0)]) == {(t, 0): 2}
    reset("--topic", "%s:0" % t, "--to-datetime", "2020-01-01T02:00:03.500+02:00")
    assert committed(broker, g, [(t, 0)]) == {(t, 0): 4}
    reset("--topic", "%s:0" % t, "--to-datetime", "2019-12-31T19:00:01.000-0500")
    assert committed(broker, g, [(t, 0)]) == {(t, 0): 1}
    # a time after every record: Kafka's warning, then the log end
    cp = reset("--topic", "%s:0" % t, "--to-datetime", "2999-01-01T00:00:00.000Z")
    assert "Warn: Partition 0 from topic %s is empty. Falling back to latest known offset." % t in cp.stdout
    assert committed(broker, g, [(t, 0)]) == {(t, 0): 10}
    # --by-duration: records newer than now - duration
    reset("--topic", "%s:0" % t, "--by-duration", "PT4H")
    assert committed(broker, g, [(t, 0)]) == {(t, 0): 5}
    reset("--topic", "%s:0" % t, "--by-duration", "P1DT0H0M0S")
    assert committed(broker, g, [(t, 0)]) == {(t, 0): 5}
    reset("--topic", "%s:0" % t, "--by-duration", "P20000D")
    assert committed(broker, g, [(t, 0)]) == {(t, 0): 0}

    # bad values
    cp = run(broker, "--reset-offsets", "--group", g, "--all-topics", "--to-datetime", "2020-01-01 00:00:00",
             "--dry-run")
    assert cp.returncode == 1 and "It does not contain a 'T' according to ISO8601 format" in cp.stderr
    cp = run(broker, "--reset-offsets", "--group", g, "--all-topics", "--to-datetime", "2020-01-01T00:00:00",
             "--dry-run")
    assert cp.returncode == 1 and 'Unparseable date: "2020-01-01T00:00:00"' in cp.stderr
    cp = run(broker, "--reset-offsets", "--group", g, "--all-topics", "--by-duration", "1h", "--dry-run")
    assert cp.returncode == 1 and "Text cannot be parsed to a Duration" in cp.stderr
    cp = run(broker, "--reset-offsets", "--group", g, "--topic", "%s:7" % t, "--to-earliest", "--dry-run")
    assert cp.returncode == 1 and 'The partitions "%s-7" do not exist' % t in cp.stderr
    cp = run(broker, "--reset-offsets", "--group", "cg-reset-nocommit", "--topic", t, "--shift-by", "1",
             "--dry-run")
    assert cp.returncode == 1
    assert "Cannot shift offset for partition %s-0 since there is no current committed offset" % t in cp.stderr


def test_export_from_file_roundtrip(broker, tmp_path):
    t = make_topic(broker, "cg-csv", 2, 8)
    g1, g2 = "cg-csv-1", "cg-csv-2"
    commit(broker, g1, {(t, 0): 5, (t, 1): 6})
    commit(broker, g2, {(t, 0): 1})
    tps = [(t, 0), (t, 1)]

    # one group: topic,partition,offset (Kafka's CsvRecordNoGroup), then a blank line
    cp = ok(run(broker, "--reset-offsets", "--group", g1, "--all-topics", "--shift-by", "-2", "--dry-run",
                "--export"))
    assert cp.stdout == "%s,0,3\n%s,1,4\n\n" % (t, t)
    plan1 = tmp_path / "one.csv"
    plan1.write_text(cp.stdout)
    assert committed(broker, g1, tps) == {(t, 0): 5, (t, 1): 6}
    cp = ok(run(broker, "--reset-offsets", "--group", g1, "--from-file", str(plan1), "--execute"))
    assert committed(broker, g1, tps) == {(t, 0): 3, (t, 1): 4}
    assert cp.stdout == ("\nGROUP           TOPIC           PARTITION  NEW-OFFSET\n"
                         "%-15s %-15s %-10s %s\n%-15s %-15s %-10s %s\n" % (g1, t, 0, 3, g1, t, 1, 4))

    # several groups: group,topic,partition,offset (CsvRecordWithGroup)
    cp = ok(run(broker, "--reset-offsets", "--group", g1, "--group", g2, "--topic", t, "--to-latest",
                "--dry-run", "--export"))
    assert cp.stdout == "%s,%s,0,8\n%s,%s,1,8\n%s,%s,0,8\n%s,%s,1,8\n\n" % (g1, t, g1, t, g2, t, g2, t)
    # edit the plan: different offsets per group, one beyond the log end (clamped like Kafka)
    plan2 = tmp_path / "multi.csv"
    plan2.write_text("%s,%s,0,7\n%s,%s,1,2\n%s,%s,0,100\n" % (g1, t, g1, t, g2, t))
    cp = ok(run(broker, "--reset-offsets", "--group", g1, "--group", g2, "--from-file", str(plan2), "--execute"))
    assert "WARN: New offset (100) is higher than latest offset for topic partition %s-0. Value will be set " \
           "to 8." % t in cp.stderr
    assert committed(broker, g1, tps) == {(t, 0): 7, (t, 1): 2}
    assert committed(broker, g2, [(t, 0)]) == {(t, 0): 8}
    # the export of a from-file run round-trips again
    cp = ok(run(broker, "--reset-offsets", "--group", g1, "--group", g2, "--from-file", str(plan2), "--dry-run",
                "--export"))
    assert cp.stdout == "%s,%s,0,7\n%s,%s,1,2\n%s,%s,0,8\n\n" % (g1, t, g1, t, g2, t)
    # a group missing from the plan
    cp = run(broker, "--reset-offsets", "--group", "cg-csv-3", "--group", g1, "--from-file", str(plan2),
             "--dry-run")
    assert cp.returncode == 1 and "Error: No reset plan for group cg-csv-3 found." in cp.stderr


def test_delete_groups_and_offsets(broker):
    t = make_topic(broker, "cg-del", 2, 3)
    for g in ("cg-del-1", "cg-del-2"):
        commit(broker, g, {(t, 0): 1, (t, 1): 2})
    cp = ok(run(broker, "--delete", "--group", "cg-del-1", "--group", "cg-del-2"))
    assert cp.stdout == "Deletion of requested consumer groups ('cg-del-1', 'cg-del-2') was successful.\n"
    assert committed(broker, "cg-del-1", [(t, 0), (t, 1)]) == {(t, 0): -1001, (t, 1): -1001}
    assert "cg-del-1" not in ok(run(broker, "--list")).stdout.split()
    commit(broker, "cg-del-3", {(t, 0): 1})
    cp = run(broker, "--delete", "--group", "cg-del-3", "--group", "cg-del-none")
    assert cp.returncode == 1
    assert cp.stderr == ("Error: Deletion of some consumer groups failed:\n* Group 'cg-del-none' could not be "
                         "deleted due to: org.apache.kafka.common.errors.GroupIdNotFoundException: The group id "
                         "does not exist.\n")
    assert cp.stdout == "\nThese consumer groups were deleted successfully: 'cg-del-3'\n"

    commit(broker, "cg-delo", {(t, 0): 1, (t, 1): 2})
    cp = ok(run(broker, "--delete-offsets", "--group", "cg-delo", "--topic", "%s:1" % t))
    assert cp.stdout == ("Request succeeded for deleting offsets from group cg-delo.\n"
                         "\nTOPIC           PARTITION  STATUS         \n"
                         "cg-del          1          Successful     \n")
    assert committed(broker, "cg-delo", [(t, 0), (t, 1)]) == {(t, 0): 1, (t, 1): -1001}
    cp = run(broker, "--delete-offsets", "--group", "cg-delo", "--topic", "cg-del-nosuch")
    assert cp.returncode == 1
    assert "Error: Encountered some partition-level error, see the follow-up details." in cp.stderr
    assert ("cg-del-nosuch   -          Error: org.apache.kafka.common.errors.UnknownTopicOrPartitionException: "
            "This server does not host this topic-partition.") in cp.stdout


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("args,msg", [
    ([], "Command must include exactly one action: --list, --describe, --delete, --reset-offsets, "
         "--delete-offsets, --history"),
    (["--list", "--describe", "--group", "g"], "Command must include exactly one action"),
    (["--describe"], "Option [describe] takes one of these options: [all-groups], [group]"),
    (["--describe", "--group", "g", "--members", "--state"],
     "Option [describe] takes at most one of these options: [members], [offsets], [state]"),
    (["--describe", "--group", "g", "--state", "stable"], "Option [describe] does not take a value for [state]"),
    (["--list", "--members"], "Option(s) [members] are unavailable given other options on the command line"),
    (["--list", "--group", "g"], 'Option "[group]" can\'t be used with option "[list]"'),
    (["--describe", "--group", "g", "--all-groups"], 'Option "[group]" can\'t be used with option "[all-groups]"'),
    (["--describe", "--group", "g", "--topic", "t"], 'Option "[topic]" can\'t be used with option "[describe]"'),
    (["--delete", "--group", "g", "--topic", "t"],
     "The consumer does not support topic-specific offset deletion from a consumer group."),
    (["--delete-offsets", "--group", "g"], "Option [delete-offsets] takes the following options: [group], [topic]"),
    (["--reset-offsets", "--group", "g", "--all-topics", "--to-earliest", "--dry-run", "--execute"],
     "Option [reset-offsets] only accepts one of [execute] and [dry-run]"),
    (["--reset-offsets", "--all-topics", "--to-earliest", "--dry-run"],
     "Option [reset-offsets] takes one of these options: [all-groups], [group]"),
    (["--reset-offsets", "--group", "g", "--all-topics", "--to-earliest", "--to-offset", "3", "--dry-run"],
     'Option "[to-earliest]" can\'t be used with option "[to-offset]"'),
    (["--reset-offsets", "--group", "g", "--all-topics", "--dry-run"],
     "Option '[reset-offsets]' requires one of the following scenarios"),
    (["--reset-offsets", "--group", "g", "--to-earliest", "--dry-run"],
     "One of the reset scopes should be defined: --all-topics, --topic."),
    (["--history", "--group", "a", "--group", "b"], "Option [history] takes exactly one [group]"),
    (["--list", "--bogus"], "--bogus is not a recognized option"),
])
def test_option_errors(broker, args, msg):
    cp = run(broker, *args)
    assert cp.returncode == 1, cp
    assert msg in cp.stderr
    assert cp.stderr.count("\n") == 1, cp.stderr          # one line
    assert cp.stdout == ""


def test_missing_bootstrap_and_help():
    cp = run(None, "--list")
    assert cp.returncode == 1 and cp.stderr == 'Error: Missing required argument "[bootstrap-server]"\n'
    cp = ok(run(None, "--help"))
    for s in ("--reset-offsets", "--to-datetime", "--by-duration", "--from-file", "--history",
              "STATIC-REJOIN", "RESET", "REWIND", "GENERATION", "EMPTY"):
        assert s in cp.stdout, s


@pytest.mark.parametrize("args", [["--list"], ["--describe", "--group", "g"],
                                  ["--reset-offsets", "--group", "g", "--all-topics", "--to-earliest",
                                   "--dry-run"],
                                  ["--history", "--group", "g"]])
def test_unreachable_broker(args):
    t0 = time.monotonic()
    cp = run(None, *args, "--timeout", "1500", bootstrap="127.0.0.1:%d" % kp_free_port())
    took = time.monotonic() - t0
    assert cp.returncode == 1
    assert cp.stdout == ""
    assert cp.stderr.startswith("Error: ") and cp.stderr.count("\n") == 1, cp.stderr
    assert took < 10, took


def kp_free_port():
    from helpers import free_port
    return free_port()


# ------------------------------------------------------------------ librdkafka's mock cluster

class MockCluster:
    """librdkafka's built-in mock cluster (rd_kafka_mock_cluster_new) in this
    process, through ctypes: another Kafka implementation to point the tool at."""

    def __init__(self):
        lib = ctypes.CDLL("librdkafka.so.1")
        lib.rd_kafka_conf_new.restype = ctypes.c_void_p
        lib.rd_kafka_conf_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                          ctypes.c_char_p, ctypes.c_size_t]
        lib.rd_kafka_new.restype = ctypes.c_void_p
        lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
        lib.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
        lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
        lib.rd_kafka_mock_topic_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
        lib.rd_kafka_mock_cluster_destroy.argtypes = [ctypes.c_void_p]
        lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
        err = ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        lib.rd_kafka_conf_set(conf, b"log_level", b"0", err, 512)
        self.lib = lib
        self.rk = lib.rd_kafka_new(0, conf, err, 512)
        assert self.rk, err.value
        self.mc = lib.rd_kafka_mock_cluster_new(self.rk, 1)
        assert self.mc
        self.bootstrap = lib.rd_kafka_mock_cluster_bootstraps(self.mc).decode()

    def create_topic(self, name, parts):
        assert self.lib.rd_kafka_mock_topic_create(self.mc, name.encode(), parts, 1) == 0

    def close(self):
        self.lib.rd_kafka_mock_cluster_destroy(self.mc)
        self.lib.rd_kafka_destroy(self.rk)


def test_against_librdkafka_mock_cluster():
    """(The same mock cluster bench/mockbroker.c serves standalone; it is started in-process here.)
    librdkafka 2.0.2's mock cluster serves Metadata, ListOffsets, FindCoordinator, OffsetCommit/Fetch
    and the group membership APIs, but not ListGroups, DescribeGroups, DeleteGroups or OffsetDelete
    (rdkafka_mock_handlers.c).  Every consumer-groups action needs one of these first (list, describe,
    and reset's inactive-group check, like Kafka's tool), so against the mock the tool must fail with one
    clean error line per action - not hang, not crash (librdkafka 2.0.2 itself hangs in rd_kafka_destroy
    or aborts in a background thread after such a request; the tool avoids both).  What the mock does
    support is shown to work through the same client code: the committed offsets the tool's describe
    would read are there."""
    mc = MockCluster()
    try:
        mc.create_topic("mock-t", 2)

        class B:
            bootstrap = mc.bootstrap
        ck.produce(B, "mock-t", [{"value": b"x"}] * 4, partition=0)
        commit(B, "mock-g", {("mock-t", 0): 3})
        assert committed(B, "mock-g", [("mock-t", 0)]) == {("mock-t", 0): 3}
        for args in (["--list"], ["--list", "--state"], ["--describe", "--group", "mock-g"],
                     ["--describe", "--group", "mock-g", "--members"],
                     ["--reset-offsets", "--group", "mock-g", "--topic", "mock-t", "--to-earliest", "--execute"],
                     ["--delete", "--group", "mock-g"],
                     ["--delete-offsets", "--group", "mock-g", "--topic", "mock-t"]):
            cp = run(None, *args, "--timeout", "3000", bootstrap=mc.bootstrap, timeout=30)
            assert cp.returncode == 1, (args, cp)
            assert cp.stderr.count("\n") == 1, (args, cp.stderr)
            assert "Required feature not supported by broker" in cp.stderr, (args, cp.stderr)
        # the reset was refused before any commit
        assert committed(B, "mock-g", [("mock-t", 0)]) == {("mock-t", 0): 3}
    finally:
        mc.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
