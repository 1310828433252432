"""The CLI and transactions:

* `gregor transactions` = kafka-transactions.sh: list, describe,
  describe-producers, find-hanging, abort (--start-offset, and the pre-3.0
  form with --producer-id/--producer-epoch/--coordinator-epoch), with
  Kafka's table output (ToolsUtils.prettyPrintTable: cells padded to the
  column, a tab after each) and its error messages;
* `gregor console-consumer --isolation-level read_committed` hides an
  aborted transaction that read_uncommitted shows;
* `gregor consumer-groups --describe --isolation-level read_committed`
  reports LOG-END-OFFSET and LAG against the last stable offset;
* `gregor consumer-groups --history` tells transactional offset commits
  apart: COMMITTED, ABORTED, PENDING.

The broker runs with transaction.partition.verification.enable=false, the
pre-KIP-890 behaviour, under which a producer can leave a transaction open
on a partition its coordinator does not know about: a hanging transaction.
Every wait is bounded; all traffic goes to 127.0.0.1."""
import re
import time

import ck
import kproto as kp
import ktxn as kt
from helpers import run_gregor, wait_until
from ktxn import NONE

BROKER_OVERRIDES = {"transaction.partition.verification.enable": "false",
                    "offsets.topic.num.partitions": "2", "transaction.state.log.num.partitions": "2",
                    "auto.create.topics.enable": "false", "group.initial.rebalance.delay.ms": "0"}

ENV = {"ASAN_OPTIONS": "detect_leaks=1"}


def tx(broker, *args, rc=0):
    cp = run_gregor(["transactions", "--bootstrap-server", broker.bootstrap] + list(args), timeout=60, env=ENV)
    assert cp.returncode == rc, (args, cp.returncode, cp.stdout, cp.stderr)
    return cp


def table(out):
    """Kafka's prettyPrintTable back into rows of cells (headers first);
    checks the padding: every cell of a column has the same width."""
    lines = out.splitlines()
    assert lines, out
    rows = []
    for ln in lines:
        assert ln.endswith("\t"), repr(ln)
        rows.append(ln[:-1].split("\t"))
    for c in range(len(rows[0])):
        widths = {len(r[c]) for r in rows}
        assert len(widths) == 1, ("column %d not padded" % c, lines)
        assert max(len(r[c].rstrip()) for r in rows) == widths.pop(), ("column %d too wide" % c, lines)
    return [[c.rstrip() for c in r] for r in rows]


def lso(broker, topic, p):
    with kt.Txn(broker.bootstrap) as t:
        return t.list_offset(topic, p, -1, 1)[2], t.list_offset(topic, p, -1, 0)[2]


def test_list_describe_and_producers(broker):
    ck.create_topic(broker, "cli-t", partitions=2)
    with kt.Txn(broker.bootstrap) as t:
        pid, ep = kt.begin(t, "cli-app", {"cli-t": [0, 1]}, timeout_ms=45000)
        assert t.produce("cli-t", 0, kt.tbatch([b"a", b"b", b"c"], pid, ep, 0), txn_id="cli-app")[0] == NONE
        rows = table(tx(broker, "list").stdout)
        assert rows[0] == ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
        assert ["cli-app", "0", str(pid), "Ongoing"] in rows[1:], rows
        # the v1 duration filter: nothing has run for an hour
        assert table(tx(broker, "list", "--duration-filter", "3600000").stdout)[1:] == []

        rows = table(tx(broker, "describe", "--transactional-id", "cli-app").stdout)
        assert rows[0] == ["CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState",
                           "TransactionTimeoutMs", "CurrentTransactionStartTimeMs", "TransactionDurationMs",
                           "TopicPartitions"]
        r = rows[1]
        assert r[:6] == ["0", "cli-app", str(pid), str(ep), "Ongoing", "45000"], r
        assert abs(int(r[6]) - time.time() * 1000) < 60000 and 0 <= int(r[7]) < 60000, r
        assert sorted(r[8].split(",")) == ["cli-t-0", "cli-t-1"], r

        rows = table(tx(broker, "describe-producers", "--topic", "cli-t", "--partition", "0").stdout)
        assert rows[0] == ["ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence", "LastTimestamp",
                           "CurrentTransactionStartOffset"]
        assert len(rows) == 2 and rows[1][:4] == [str(pid), str(ep), "-1", "2"] and rows[1][5] == "0", rows
        # --broker-id asks that replica
        assert table(tx(broker, "describe-producers", "--broker-id", "0", "--topic", "cli-t", "--partition",
                        "0").stdout) == rows
        # an ongoing transaction the coordinator knows about is not hanging
        assert table(tx(broker, "find-hanging", "--topic", "cli-t", "--max-transaction-timeout", "0").stdout)[1:] == []

        assert t.end_retry("cli-app", pid, ep, True) == NONE
        wait_until(lambda: lso(broker, "cli-t", 0)[0] == 4, 15, "the commit marker")
    rows = table(tx(broker, "describe-producers", "--topic", "cli-t", "--partition", "0").stdout)
    assert rows[1][5] == "None" and rows[1][2] != "-1", rows
    rows = table(tx(broker, "describe", "--transactional-id", "cli-app").stdout)
    assert rows[1][4] == "CompleteCommit" and rows[1][8] == "", rows


def test_errors(broker):
    cp = tx(broker, "describe", "--transactional-id", "nope", rc=1)
    assert cp.stdout == ""
    assert cp.stderr.strip() == ("Failed to describe transaction state of transactional-id `nope`: The "
                                 "transactionalId could not be found.. Enable debug logging for additional detail.")
    cp = tx(broker, "describe-producers", "--topic", "no-such", "--partition", "0", rc=1)
    assert cp.stderr.startswith("Failed to describe producers for partition no-such-0 on leader: "), cp.stderr
    cp = tx(broker, "abort", "--topic", "cli-t", "--partition", "0", rc=1)
    assert "must be identified either with --start-offset" in cp.stderr
    cp = tx(broker, "abort", "--topic", "cli-t", "--partition", "0", "--producer-id", "5", rc=1)
    assert cp.stderr.strip() == "Missing required argument --producer-epoch"
    cp = tx(broker, "find-hanging", rc=1)
    assert "requires either --topic or --broker-id" in cp.stderr
    cp = tx(broker, "find-hanging", "--partition", "0", "--broker-id", "0", rc=1)
    assert "The --partition argument requires --topic to be provided" in cp.stderr
    cp = tx(broker, "describe-producers", "--topic", "x", "--partition", "zero", rc=1)
    assert "argument --partition: could not convert 'zero' to Integer" in cp.stderr
    cp = tx(broker, "frobnicate", rc=1)
    assert "invalid choice: 'frobnicate'" in cp.stderr
    cp = run_gregor(["transactions", "list"], env=ENV)
    assert cp.returncode == 1 and "--bootstrap-server is required" in cp.stderr
    cp = run_gregor(["transactions", "--bootstrap-server", "127.0.0.1:1", "list"], env=ENV)
    assert cp.returncode == 1 and cp.stderr.startswith("Failed to connect to 127.0.0.1:1"), cp.stderr
    # a transactional id that is not a plain string is printed escaped
    with kt.Txn(broker.bootstrap) as t:
        err, pid, ep = t.init_retry("esc\x1b[31m")
        assert err == NONE
    rows = table(tx(broker, "list").stdout)
    assert not any("\x1b" in c for r in rows for c in r), rows
    assert any(r[0].startswith("esc") for r in rows), rows


def hang(broker, topic, txn_id):
    """A transaction the coordinator commits on partition 0 while the
    producer also wrote to partition 1, never added to it (possible only
    without KIP-890 verification): partition 1 hangs.  -> (pid, epoch)"""
    with kt.Txn(broker.bootstrap) as t:
        assert t.init_retry(txn_id)[0] == NONE          # epoch 1 below
        pid, ep = kt.begin(t, txn_id, {topic: [0]})
        assert ep == 1
        assert t.produce(topic, 0, kt.tbatch([b"ok"], pid, ep, 0), txn_id=txn_id)[0] == NONE
        assert t.produce(topic, 1, kt.tbatch([b"h1", b"h2"], pid, ep, 0), txn_id=txn_id)[0] == NONE
        ck.produce(broker, topic, [{"value": b"after"}], partition=1)
        assert t.end_retry(txn_id, pid, ep, True) == NONE
    wait_until(lambda: lso(broker, topic, 0)[0] == lso(broker, topic, 0)[1], 15, "commit marker on partition 0")
    return pid, ep


def test_find_hanging_and_abort(broker):
    ck.create_topic(broker, "hang-t", partitions=2)
    pid, ep = hang(broker, "hang-t", "hang-app")
    assert lso(broker, "hang-t", 1)[0] == 0, "the open transaction holds the LSO of partition 1"
    time.sleep(0.05)
    for scope in (["--topic", "hang-t"], ["--broker-id", "0"], ["--topic", "hang-t", "--partition", "1"]):
        rows = table(tx(broker, "find-hanging", "--max-transaction-timeout", "0", *scope).stdout)
        assert rows[0] == ["Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch", "StartOffset",
                           "LastTimestamp", "Duration(min)"]
        mine = [r for r in rows[1:] if r[0] == "hang-t"]
        assert len(mine) == 1, (scope, rows)
        assert mine[0][1:6] == ["1", str(pid), str(ep), "-1", "0"] and mine[0][7] == "0", mine
    # not old enough for the default 15 minutes
    assert table(tx(broker, "find-hanging", "--topic", "hang-t").stdout)[1:] == []

    cp = tx(broker, "abort", "--topic", "hang-t", "--partition", "1", "--start-offset", "7", rc=1)
    assert cp.stderr.strip() == "Could not find any open transactions starting at offset 7 on partition hang-t-1"
    assert tx(broker, "abort", "--topic", "hang-t", "--partition", "1", "--start-offset", "0").stdout == ""
    wait_until(lambda: lso(broker, "hang-t", 1)[0] == lso(broker, "hang-t", 1)[1], 15, "LSO = HW after the abort")
    assert table(tx(broker, "find-hanging", "--max-transaction-timeout", "0", "--topic", "hang-t").stdout)[1:] == []
    rows = table(tx(broker, "describe-producers", "--topic", "hang-t", "--partition", "1").stdout)
    assert [r for r in rows[1:] if r[0] == str(pid)][0][5] == "None", rows
    # read_committed sees the committed record and the plain one, not the aborted pair
    got = ck.consume(broker, "hang-t", 1, partitions=(1,), **{"isolation.level": "read_committed"})
    assert [m.value() for m in got] == [b"after"]

    # the pre-3.0 form: producer id, epoch and coordinator epoch given
    pid2, ep2 = hang(broker, "hang-t", "hang-app-2")
    cp = tx(broker, "abort", "--topic", "hang-t", "--partition", "1", "--producer-id", str(pid2),
            "--producer-epoch", str(ep2 - 1), "--coordinator-epoch", "-1", rc=1)
    assert cp.stderr.startswith("Failed to abort transaction AbortTransactionSpec(topicPartition=hang-t-1, "
                                "producerId=%d" % pid2), cp.stderr
    assert "failed due an invalid producer epoch" in cp.stderr, cp.stderr
    tx(broker, "abort", "--topic", "hang-t", "--partition", "1", "--producer-id", str(pid2),
       "--producer-epoch", str(ep2), "--coordinator-epoch", "-1")
    wait_until(lambda: lso(broker, "hang-t", 1)[0] == lso(broker, "hang-t", 1)[1], 15, "LSO = HW after the abort")


def console(broker, topic, n, isolation):
    cp = run_gregor(["console-consumer", "--bootstrap-server", broker.bootstrap, "--topic", topic,
                     "--from-beginning", "--max-messages", str(n), "--timeout-ms", "8000",
                     "--isolation-level", isolation], timeout=60)
    return cp.stdout.splitlines()


def test_console_consumer_isolation(broker):
    ck.create_topic(broker, "cc-t")
    with kt.Txn(broker.bootstrap) as t:
        for txn_id, vals, commit in (("cc-1", [b"a", b"b"], True), ("cc-2", [b"x", b"y"], False)):
            pid, ep = kt.begin(t, txn_id, {"cc-t": [0]})
            assert t.produce("cc-t", 0, kt.tbatch(vals, pid, ep, 0), txn_id=txn_id)[0] == NONE
            assert t.end_retry(txn_id, pid, ep, commit) == NONE
        wait_until(lambda: lso(broker, "cc-t", 0)[0] == 6, 15, "both markers")
    ck.produce(broker, "cc-t", [{"value": b"c"}])
    assert console(broker, "cc-t", 3, "read_committed") == ["a", "b", "c"]
    assert console(broker, "cc-t", 5, "read_uncommitted") == ["a", "b", "x", "y", "c"]


def describe_rows(broker, group, *extra):
    cp = run_gregor(["consumer-groups", "--bootstrap-server", broker.bootstrap, "--describe", "--group", group]
                    + list(extra), timeout=60)
    assert cp.returncode == 0, cp
    lines = [ln.split() for ln in cp.stdout.splitlines() if ln.strip()]
    assert lines[0][:6] == ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"], lines
    return [ln[:6] for ln in lines[1:]]


def commit_plain(broker, group, topic, p, offset):
    from confluent_kafka import TopicPartition
    c = ck.consumer(broker, **{"group.id": group})
    try:
        c.commit(offsets=[TopicPartition(topic, p, offset)], asynchronous=False)
    finally:
        c.close()


def test_consumer_groups_lag_against_lso(broker):
    ck.create_topic(broker, "lag-t")
    ck.produce(broker, "lag-t", [{"value": b"v%d" % i} for i in range(3)])
    with kt.Txn(broker.bootstrap) as t:
        pid, ep = kt.begin(t, "lag-app", {"lag-t": [0]})
        assert t.produce("lag-t", 0, kt.tbatch([b"t1", b"t2"], pid, ep, 0), txn_id="lag-app")[0] == NONE
        commit_plain(broker, "lag-g", "lag-t", 0, 3)
        assert describe_rows(broker, "lag-g") == [["lag-g", "lag-t", "0", "3", "5", "2"]]
        assert describe_rows(broker, "lag-g", "--isolation-level", "read_committed") == [
            ["lag-g", "lag-t", "0", "3", "3", "0"]]
        assert describe_rows(broker, "lag-g", "--isolation-level", "read_uncommitted") == [
            ["lag-g", "lag-t", "0", "3", "5", "2"]]
        assert t.end_retry("lag-app", pid, ep, True) == NONE
    wait_until(lambda: describe_rows(broker, "lag-g", "--isolation-level", "read_committed") == [
        ["lag-g", "lag-t", "0", "3", "6", "3"]], 15, "LSO past the marker")
    cp = run_gregor(["consumer-groups", "--bootstrap-server", broker.bootstrap, "--describe", "--group", "lag-g",
                     "--isolation-level", "serializable"])
    assert cp.returncode == 1 and "read_committed or read_uncommitted" in cp.stderr
    cp = run_gregor(["consumer-groups", "--bootstrap-server", broker.bootstrap, "--list",
                     "--isolation-level", "read_committed"])
    assert cp.returncode == 1


def test_history_transactional_commits(broker):
    ck.create_topic(broker, "hist-tx")
    group = "hist-tx-g"
    commit_plain(broker, group, "hist-tx", 0, 5)
    pids = []
    with kt.Txn(broker.bootstrap) as t:
        for i, (off, end) in enumerate(((7, True), (9, False), (11, None))):
            txn_id = "hist-tx-%d" % i
            err, pid, ep = t.init_retry(txn_id)
            assert err == NONE
            pids.append(pid)
            assert t.add_offsets(txn_id, pid, ep, group) == NONE
            assert t.txn_offset_commit(txn_id, group, pid, ep, {("hist-tx", 0): off}) == {("hist-tx", 0): NONE}
            if end is not None:
                assert t.end_retry(txn_id, pid, ep, end) == NONE
        time.sleep(0.5)
        cp = run_gregor(["consumer-groups", "--bootstrap-server", broker.bootstrap, "--history", "--group", group],
                        timeout=60)
        assert cp.returncode == 0, cp
        lines = [ln[26:] for ln in cp.stdout.splitlines()[1:]]
        assert not any(ln.startswith("# transactional") for ln in cp.stdout.splitlines()), cp.stdout
        offs = [ln for ln in lines if ln.startswith("OFFSET")]
        assert offs == [
            "OFFSET hist-tx-0 - -> 5 member=- client=-",
            "OFFSET hist-tx-0 5 -> 7 member=- client=- RESET txn=%d:COMMITTED" % pids[0],
            "OFFSET hist-tx-0 7 -> 9 member=- client=- txn=%d:ABORTED" % pids[1],
            "OFFSET hist-tx-0 7 -> 11 member=- client=- txn=%d:PENDING" % pids[2],
        ], cp.stdout
        assert re.match(r"^# group 'hist-tx-g': __consumer_offsets-\d, offsets 0\.\.\d+$", cp.stdout.splitlines()[0])
        assert t.end_retry("hist-tx-2", pids[2], 0, True) == NONE
