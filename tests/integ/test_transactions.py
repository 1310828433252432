"""Transactions (KIP-98, KIP-447, KIP-588, KIP-664, KIP-890 part 1), as Kafka
serves them, on the wire and with real clients:

* the transaction coordinator on __transaction_state: FindCoordinator for
  TRANSACTION, InitProducerId with a transactional id (fencing, the previous
  producer's transaction aborted first), AddPartitionsToTxn (v0-3 and the
  batched v4 with VerifyOnly), AddOffsetsToTxn, EndTxn, DescribeTransactions,
  ListTransactions; its records are Kafka's TransactionLogKey/Value;
* per partition: the last stable offset, COMMIT/ABORT markers, the
  .txnindex (Kafka's 34-byte AbortedTxn entries), READ_COMMITTED Fetch with
  its AbortedTransactions and ListOffsets bounded by the LSO;
* Produce accepts a transactional batch only for a partition of the
  producer's ongoing transaction (KIP-890 verification);
* TxnOffsetCommit's offsets are pending until the COMMIT marker (OffsetFetch
  RequireStable: UNSTABLE_OFFSET_COMMIT), dropped by ABORT;
* WriteTxnMarkers aborts a hanging transaction (KIP-664), DescribeProducers
  shows it, DeleteRecords moves the log start offset;
* restarts and kill -9, also between PrepareCommit and the markers;
* confluent-kafka (librdkafka): aborted transactions invisible to
  read_committed, visible to read_uncommitted; a second producer of the same
  transactional.id fences the first; a transaction timeout aborts and fences.

Every wait is bounded; all traffic goes to 127.0.0.1."""
import os
import re
import signal
import struct
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

import ck
import kproto as kp
import ktxn as kt
from ktxn import (CONCURRENT_TRANSACTIONS, INVALID_PRODUCER_EPOCH, INVALID_PRODUCER_ID_MAPPING,
                  INVALID_TRANSACTION_TIMEOUT, INVALID_TXN_STATE, NONE, OPERATION_NOT_ATTEMPTED,
                  PRODUCER_FENCED, TOPIC_AUTHORIZATION_FAILED, TRANSACTION_ABORTABLE,
                  TRANSACTIONAL_ID_NOT_FOUND, UNKNOWN_TOPIC_OR_PARTITION, UNSTABLE_OFFSET_COMMIT)
from helpers import wait_until
from storage_check import env_broker_factory, produce_raw, read_log

AE = struct.Struct(">hqqqq")        # AbortedTxn: version, producerId, firstOffset, lastOffset, lastStableOffset


def describe_until(t, txn_id, state, timeout=15):
    """DescribeTransactions until the transaction is in `state`."""
    deadline = time.monotonic() + timeout
    while True:
        d = t.describe([txn_id])[0]
        if d["state"] == state or time.monotonic() > deadline:
            return d
        time.sleep(0.05)


def txnindex_entries(b, topic, partition=0):
    """Every .txnindex entry of the partition, by file, in file order."""
    d = b.partition_dir(topic, partition)
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".txnindex"):
            data = open(os.path.join(d, f), "rb").read()
            assert len(data) % 34 == 0, (f, len(data))
            out[f] = [AE.unpack_from(data, i) for i in range(0, len(data), 34)]
    return out


def offsets_of(batches):
    return [kp.batch_info(x)["base_offset"] for x in batches]


# ------------------------------------------------------------------ the partition side


def test_lso_markers_and_read_committed(broker_factory):
    b = broker_factory({"num.partitions": 1})
    topic = ck.create_topic(b, "lso")
    with kt.Txn(b.bootstrap) as t:
        err, node, host, port = t.find_coordinator("tx-lso")
        assert (err, node, port) == (NONE, 0, b.port), (err, node, host, port)
        pid, epoch = kt.begin(t, "tx-lso", {topic: [0]})
        assert t.produce(topic, 0, kt.tbatch([b"p0", b"p1"], -1, -1, -1, transactional=False)) == (NONE, 0)
        assert t.produce(topic, 0, kt.tbatch([b"t0", b"t1", b"t2"], pid, epoch, 0), "tx-lso") == (NONE, 2)
        assert t.produce(topic, 0, kt.tbatch([b"p2"], -1, -1, -1, transactional=False)) == (NONE, 5)
        # the LSO is the open transaction's first offset
        assert t.list_offset(topic, 0, -1, 1)[2] == 2
        assert t.list_offset(topic, 0, -1, 0)[2] == 6
        f = t.fetch(topic, 0, 0, 1)
        assert (f["error"], f["hw"], f["lso"], f["aborted"]) == (NONE, 6, 2, [])
        assert offsets_of(f["batches"]) == [0]
        f = t.fetch(topic, 0, 2, 1)
        assert f["batches"] == [] and f["aborted"] == []
        # a timestamp lookup past the LSO finds nothing for read_committed
        assert t.list_offset(topic, 0, 0, 1)[2] == 0
        assert t.list_offset(topic, 0, kt.now_ms() - 60000, 1)[2] == 0
        err, prods = t.describe_producers({topic: [0]})[(topic, 0)]
        assert err == NONE and [p["txn_start"] for p in prods if p["pid"] == pid] == [2], prods
        # ABORT: the marker at 6, the LSO moves to the end
        assert t.end_txn("tx-lso", pid, epoch, False) == NONE
        assert describe_until(t, "tx-lso", "CompleteAbort")["state"] == "CompleteAbort"
        f = t.fetch(topic, 0, 0, 1)
        assert (f["hw"], f["lso"]) == (7, 7)
        assert f["aborted"] == [(pid, 2)]
        assert offsets_of(f["batches"]) == [0, 2, 5, 6]
        assert kt.marker_of(f["batches"][3]) == (0, 0)            # ABORT, coordinator epoch 0
        # read_uncommitted: no aborted list
        f = t.fetch(topic, 0, 0, 0)
        assert f["aborted"] is None and offsets_of(f["batches"]) == [0, 2, 5, 6]
        # a fetch from inside the aborted range still reports it
        assert t.fetch(topic, 0, 5, 1)["aborted"] == [(pid, 2)]
        # Kafka's AbortedTxn entry in the segment of the marker
        assert txnindex_entries(b, topic) == {"%020d.txnindex" % 0: [(0, pid, 2, 6, 7)]}
        # a committed transaction: nothing aborted in its range
        assert t.add_partitions("tx-lso", pid, epoch, {topic: [0]}) == {(topic, 0): NONE}
        assert t.produce(topic, 0, kt.tbatch([b"c0"], pid, epoch, 3), "tx-lso") == (NONE, 7)
        assert t.end_retry("tx-lso", pid, epoch, True) == NONE
        describe_until(t, "tx-lso", "CompleteCommit")
        f = t.fetch(topic, 0, 7, 1)
        assert f["aborted"] == [] and offsets_of(f["batches"]) == [7, 8] and f["lso"] == 9
        err, prods = t.describe_producers({topic: [0]})[(topic, 0)]
        assert [(p["txn_start"], p["coord_epoch"]) for p in prods if p["pid"] == pid] == [(-1, 0)]
    # both survive a clean restart and kill -9 (the .txnindex rebuilt)
    for how in ("restart", "kill"):
        if how == "restart":
            b.restart()
        else:
            os.remove(os.path.join(b.partition_dir(topic), "%020d.txnindex" % 0))
            b.kill()
            b.start()
        with kt.Txn(b.bootstrap) as t:
            f = t.fetch(topic, 0, 0, 1)
            assert (f["lso"], f["aborted"]) == (9, [(pid, 2)]), how
            assert txnindex_entries(b, topic) == {"%020d.txnindex" % 0: [(0, pid, 2, 6, 7)]}, how


def test_verification_fencing_and_errors(broker_factory):
    b = broker_factory({"num.partitions": 1})
    topic = ck.create_topic(b, "ver")
    with kt.Txn(b.bootstrap) as t:
        assert t.init_pid("tx-v", timeout_ms=0)[0] == INVALID_TRANSACTION_TIMEOUT
        assert t.init_pid("tx-v", timeout_ms=900001)[0] == INVALID_TRANSACTION_TIMEOUT
        err, pid, epoch = t.init_retry("tx-v")
        assert (err, epoch) == (NONE, 0)
        # a transactional batch of a partition not in the transaction
        assert t.produce(topic, 0, kt.tbatch([b"x"], pid, epoch, 0), "tx-v")[0] == INVALID_TXN_STATE
        # a producer id the coordinator did not give this transactional id
        assert t.produce(topic, 0, kt.tbatch([b"x"], pid + 1, 0, 0), "tx-v")[0] == INVALID_PRODUCER_ID_MAPPING
        assert t.add_partitions("tx-v", pid + 1, epoch, {topic: [0]}) == {(topic, 0): INVALID_PRODUCER_ID_MAPPING}
        assert t.add_partitions("nobody", pid, epoch, {topic: [0]}) == {(topic, 0): INVALID_PRODUCER_ID_MAPPING}
        # unknown partitions fail the whole request; internal topics are not a client's
        assert t.add_partitions("tx-v", pid, epoch, {topic: [0, 7]}) == {
            (topic, 0): OPERATION_NOT_ATTEMPTED, (topic, 7): UNKNOWN_TOPIC_OR_PARTITION}
        assert t.add_partitions("tx-v", pid, epoch, {"__consumer_offsets": [0]}) == {
            ("__consumer_offsets", 0): TOPIC_AUTHORIZATION_FAILED}
        # nothing to end
        assert t.end_txn("tx-v", pid, epoch, True) == INVALID_TXN_STATE
        assert t.add_partitions("tx-v", pid, epoch, {topic: [0]}) == {(topic, 0): NONE}
        assert t.produce(topic, 0, kt.tbatch([b"a"], pid, epoch, 0), "tx-v") == (NONE, 0)
        # v4 batched, verify-only (KIP-890): in the transaction or abortable
        top, res = t.add_partitions_v4([("tx-v", pid, epoch, True, {topic: [0]}),
                                        ("tx-v", pid, epoch + 1, True, {topic: [0]})])
        assert top == NONE and res == {"tx-v": {(topic, 0): PRODUCER_FENCED}} or \
            list(res.values()) == [{(topic, 0): NONE}, {(topic, 0): PRODUCER_FENCED}], res
        other = ck.create_topic(b, "ver-other")
        top, res = t.add_partitions_v4([("tx-v", pid, epoch, True, {other: [0]})])
        assert res == {"tx-v": {(other, 0): TRANSACTION_ABORTABLE}}
        # a new producer of the transactional id: the open transaction is
        # aborted first (CONCURRENT_TRANSACTIONS meanwhile), the old one fenced
        with kt.Txn(b.bootstrap) as t2:
            err, pid2, epoch2 = t2.init_retry("tx-v")
            assert (err, pid2) == (NONE, pid) and epoch2 == epoch + 2, (err, pid2, epoch2)
            assert t.produce(topic, 0, kt.tbatch([b"z"], pid, epoch, 1), "tx-v")[0] == INVALID_PRODUCER_EPOCH
            assert t.end_txn("tx-v", pid, epoch, True, version=2) == PRODUCER_FENCED
            assert t.end_txn("tx-v", pid, epoch, True, version=1) == INVALID_PRODUCER_EPOCH   # old clients
            assert t.add_partitions("tx-v", pid, epoch, {topic: [0]}, version=2) == {(topic, 0): PRODUCER_FENCED}
            f = t2.fetch(topic, 0, 0, 1)
            assert f["aborted"] == [(pid, 0)] and f["lso"] == f["hw"] == 2
            # its marker carries the fencing epoch
            assert kt.batch_producer(f["batches"][1])[:2] == (pid, epoch + 1)
            # commit twice: the retry is answered NONE; abort after commit is not
            assert t2.add_partitions("tx-v", pid2, epoch2, {topic: [0]}) == {(topic, 0): NONE}
            assert t2.produce(topic, 0, kt.tbatch([b"b"], pid2, epoch2, 0), "tx-v") == (NONE, 2)
            assert t2.end_retry("tx-v", pid2, epoch2, True) == NONE
            describe_until(t2, "tx-v", "CompleteCommit")
            assert t2.end_txn("tx-v", pid2, epoch2, True) == NONE
            assert t2.end_txn("tx-v", pid2, epoch2, False) == INVALID_TXN_STATE
            # KIP-360: the producer asks again with its id and epoch
            err, pid3, epoch3 = t2.init_pid("tx-v", pid=pid2, epoch=epoch2)
            assert (err, pid3, epoch3) == (NONE, pid2, epoch2 + 1)
            assert t2.init_pid("tx-v", pid=pid2, epoch=epoch2)[0] == NONE        # a retry: same answer
            assert t2.init_pid("tx-v", pid=pid2, epoch=0)[0] == PRODUCER_FENCED
        # EndTxn v5 (KIP-890 part 2 fields): answered with v4 semantics
        err, p5, e5 = t.end_txn("tx-v", pid3, epoch3, True, version=5)
        assert (err, p5, e5) == (INVALID_TXN_STATE, -1, -1)


def test_describe_and_list_transactions(broker_factory):
    b = broker_factory({"num.partitions": 1})
    topic = ck.create_topic(b, "dl")
    with kt.Txn(b.bootstrap) as t:
        # before any coordinator: nothing to list, no such id
        assert t.list() == (NONE, [], [])
        assert t.describe(["nope"])[0]["error"] == TRANSACTIONAL_ID_NOT_FOUND
        pa, ea = kt.begin(t, "dl-a", {topic: [0]}, timeout_ms=45000)
        err, pb, eb = t.init_retry("dl-b")
        d = t.describe(["dl-a", "dl-b", "nope"])
        assert [(x["error"], x["state"], x["pid"], x["epoch"]) for x in d] == [
            (NONE, "Ongoing", pa, ea), (NONE, "Empty", pb, eb), (TRANSACTIONAL_ID_NOT_FOUND, "", -1, -1)]
        assert d[0]["topics"] == {topic: [0]} and d[0]["timeout"] == 45000 and d[0]["start"] > 0
        assert d[1]["start"] == -1
        err, unknown, out = t.list()
        assert err == NONE and sorted(out) == sorted([("dl-a", pa, "Ongoing"), ("dl-b", pb, "Empty")])
        assert t.list(states=["Ongoing", "Bogus"])[1:] == (["Bogus"], [("dl-a", pa, "Ongoing")])
        assert t.list(states=["Bogus"])[2] == []
        assert t.list(pids=[pb])[2] == [("dl-b", pb, "Empty")]
        # v1: only transactions running longer than the duration
        time.sleep(0.3)
        assert t.list(states=["Ongoing"], duration=100)[2] == [("dl-a", pa, "Ongoing")]
        assert t.list(states=["Ongoing"], duration=3600000)[2] == []


def test_idle_transactional_id_expires(broker_factory):
    """transactional.id.expiration.ms: a transactional id without a running
    transaction (CompleteCommit, Empty) is forgotten once idle that long,
    looked for every transaction.remove.expired.transaction.cleanup.interval.ms:
    DescribeTransactions and ListTransactions no longer know it, a restart
    does not bring it back (its tombstone is in __transaction_state), and a
    new InitProducerId gets a new producer id at epoch 0, as in Kafka.  An
    ongoing transaction is not expired."""
    b = broker_factory({"num.partitions": 1, "transactional.id.expiration.ms": 2000,
                        "transaction.remove.expired.transaction.cleanup.interval.ms": 200})
    topic = ck.create_topic(b, "txexp")
    ids = ["exp-done", "exp-empty", "exp-ongoing"]
    with kt.Txn(b.bootstrap) as t:
        pd, ed = kt.begin(t, "exp-done", {topic: [0]})
        assert t.produce(topic, 0, kt.tbatch([b"d"], pd, ed, 0), "exp-done") == (NONE, 0)
        assert t.end_retry("exp-done", pd, ed, True) == NONE
        err, pe, ee = t.init_retry("exp-empty")
        assert err == NONE
        po, eo = kt.begin(t, "exp-ongoing", {topic: [0]}, timeout_ms=600000)
        t_idle = time.monotonic()
        assert describe_until(t, "exp-done", "CompleteCommit")["state"] == "CompleteCommit"
        assert [x["error"] for x in t.describe(ids)] == [NONE, NONE, NONE]

        def expired():
            d = t.describe(ids)
            return d if [x["error"] for x in d[:2]] == [TRANSACTIONAL_ID_NOT_FOUND] * 2 else None
        d = wait_until(expired, timeout=30, what="the idle transactional ids expired")
        idle = time.monotonic() - t_idle
        assert idle >= 2.0, "expired after %.1f s idle, before transactional.id.expiration.ms" % idle
        assert (d[2]["error"], d[2]["state"], d[2]["pid"]) == (NONE, "Ongoing", po), d[2]
        assert t.list() == (NONE, [], [("exp-ongoing", po, "Ongoing")])
    assert re.search(r"Expiring \d+ transactional ids of __transaction_state-", b.log_text())
    b.restart()
    with kt.Txn(b.bootstrap) as t:
        d = wait_until(lambda: (lambda d: d if d[2]["error"] == NONE else None)(t.describe(ids)), timeout=20,
                       what="__transaction_state loaded after the restart")
        assert [x["error"] for x in d] == [TRANSACTIONAL_ID_NOT_FOUND, TRANSACTIONAL_ID_NOT_FOUND, NONE], d
        for txn_id in ("exp-done", "exp-empty"):
            err, pid, epoch = t.init_retry(txn_id)
            assert err == NONE and pid not in (pd, pe, po) and epoch == 0, (txn_id, err, pid, epoch)


def test_admin_abort_of_hanging_transaction(broker_factory):
    # KIP-664: a transactional batch the coordinator knows nothing of (made
    # possible here by turning verification off) hangs the LSO until an
    # admin aborts it with WriteTxnMarkers
    b = broker_factory({"num.partitions": 1, "transaction.partition.verification.enable": "false"})
    topic = ck.create_topic(b, "hang")
    with kt.Txn(b.bootstrap) as t:
        assert t.produce(topic, 0, kt.tbatch([b"h0", b"h1"], 4242, 3, 0), "ghost") == (NONE, 0)
        assert t.produce(topic, 0, kt.tbatch([b"ok"], -1, -1, -1, transactional=False)) == (NONE, 2)
        assert t.list_offset(topic, 0, -1, 1)[2] == 0
        err, prods = t.describe_producers({topic: [0]})[(topic, 0)]
        assert [(p["pid"], p["epoch"], p["txn_start"]) for p in prods] == [(4242, 3, 0)]
        assert t.write_markers([(4242, 2, False, 0, {topic: [0]})]) == {(4242, topic, 0): INVALID_PRODUCER_EPOCH}
        assert t.write_markers([(4242, 3, False, 0, {topic: [0], "nope": [0]})]) == {
            (4242, topic, 0): NONE, (4242, "nope", 0): UNKNOWN_TOPIC_OR_PARTITION}
        f = t.fetch(topic, 0, 0, 1)
        assert (f["lso"], f["hw"], f["aborted"]) == (4, 4, [(4242, 0)])
        # a zombie coordinator epoch is refused
        assert t.write_markers([(4242, 3, False, -1, {topic: [0]})]) == {
            (4242, topic, 0): kt.TRANSACTION_COORDINATOR_FENCED}


def test_marker_refused_for_stale_epoch_drops_partition(broker_factory):
    """A partition whose producer state holds a newer epoch of the producer
    refuses the coordinator's marker (INVALID_PRODUCER_EPOCH): the
    coordinator drops that partition from the transaction with a warning
    and completes it (Kafka would retry until the coordinator moves); the
    other partition gets its marker.  The newer epoch is forged here, with
    verification off."""
    b = broker_factory({"num.partitions": 1, "transaction.partition.verification.enable": "false"})
    topic = ck.create_topic(b, "stale", partitions=2)
    with kt.Txn(b.bootstrap) as t:
        pid, epoch = kt.begin(t, "tx-stale", {topic: [0, 1]})
        assert t.produce(topic, 1, kt.tbatch([b"ok"], pid, epoch, 0), "tx-stale") == (NONE, 0)
        assert t.produce(topic, 0, kt.tbatch([b"newer"], pid, epoch + 1, 0), "tx-stale") == (NONE, 0)
        assert t.end_retry("tx-stale", pid, epoch, True) == NONE
        d = describe_until(t, "tx-stale", "CompleteCommit")
        assert (d["state"], d["epoch"], d["topics"]) == ("CompleteCommit", epoch, {}), d
        # partition 1: the record, then the COMMIT marker
        f = t.fetch(topic, 1, 0, 0)
        assert (f["hw"], f["lso"], offsets_of(f["batches"])) == (2, 2, [0, 1]), f
        assert kt.marker_of(f["batches"][1])[0] == 1
        # partition 0: no marker; the newer epoch's transaction is still open
        f = t.fetch(topic, 0, 0, 0)
        assert (f["hw"], f["lso"], offsets_of(f["batches"])) == (1, 0, [0]), f
        assert kt.marker_of(f["batches"][0]) is None
    assert ("Transactional id tx-stale: %s-0 refused the COMMIT marker of producer %d epoch %d "
            "(INVALID_PRODUCER_EPOCH); skipping it" % (topic, pid, epoch)) in b.log_text()
    assert "tx-stale: %s-1 refused" % topic not in b.log_text()


def test_txn_offset_commit_pending_until_marker(broker_factory):
    b = broker_factory({"num.partitions": 1})
    topic = ck.create_topic(b, "toc")
    with kt.Txn(b.bootstrap) as t:
        err, pid, epoch = t.init_retry("tx-o")
        # not added to the transaction: refused (KIP-890)
        assert t.txn_offset_commit("tx-o", "g-o", pid, epoch, {(topic, 0): 5}) == {(topic, 0): INVALID_TXN_STATE}
        assert t.add_offsets("tx-o", pid, epoch, "g-o") == NONE
        assert t.txn_offset_commit("tx-o", "g-o", pid, epoch, {(topic, 0): 5}) == {(topic, 0): NONE}
        # KIP-447: a generation needs a member of the group (the commit made
        # g-o, a simple group); a group with no transaction here is first
        # refused by the verification
        assert t.txn_offset_commit("tx-o", "g-o", pid, epoch, {(topic, 0): 5}, generation=3) == {
            (topic, 0): kt.UNKNOWN_MEMBER_ID}
        assert t.txn_offset_commit("tx-o", "g-other", pid, epoch, {(topic, 0): 5}, generation=3) == {
            (topic, 0): INVALID_TXN_STATE}
        assert t.txn_offset_commit("tx-o", "g-o", pid, epoch, {("missing", 0): 5}) == {
            ("missing", 0): UNKNOWN_TOPIC_OR_PARTITION}
        # pending: not visible; RequireStable says so
        assert t.offset_fetch("g-o", topic, [0]) == (NONE, {0: (-1, NONE)})
        assert t.offset_fetch("g-o", topic, [0], require_stable=True) == (NONE, {0: (-1, UNSTABLE_OFFSET_COMMIT)})
        assert t.end_txn("tx-o", pid, epoch, True) == NONE
        wait_until(lambda: t.offset_fetch("g-o", topic, [0], True) == (NONE, {0: (5, NONE)}), timeout=15,
                   what="the committed transactional offset")
        # aborted: the committed one stays
        assert t.add_offsets("tx-o", pid, epoch, "g-o") == NONE
        assert t.txn_offset_commit("tx-o", "g-o", pid, epoch, {(topic, 0): 9}) == {(topic, 0): NONE}
        assert t.end_retry("tx-o", pid, epoch, False) == NONE
        wait_until(lambda: t.offset_fetch("g-o", topic, [0], True) == (NONE, {0: (5, NONE)}), timeout=15,
                   what="the offset after the abort")
    # the same after a restart (pending and markers replayed from the log)
    b.restart()
    with kt.Txn(b.bootstrap) as t:
        wait_until(lambda: t.offset_fetch("g-o", topic, [0], True) == (NONE, {0: (5, NONE)}), timeout=15,
                   what="the offset after a restart")


def test_delete_records(broker_factory):
    b = broker_factory({"num.partitions": 1, "internal.log.segment.bytes": 200})
    topic = ck.create_topic(b, "dr")
    compact = ck.create_topic(b, "dr-compact", config={"cleanup.policy": "compact"})
    for i in range(30):
        assert produce_raw(b, topic, 0, [b"v%03d" % i]) == (NONE, i)
    segs = lambda: len([f for f in os.listdir(b.partition_dir(topic)) if f.endswith(".log")])
    before = segs()
    assert before > 3
    with kt.Txn(b.bootstrap) as t:
        assert t.delete_records({topic: [(0, 31)]}) == {(topic, 0): (kt.OFFSET_OUT_OF_RANGE, -1)}
        assert t.delete_records({topic: [(0, -2)]}) == {(topic, 0): (kt.OFFSET_OUT_OF_RANGE, -1)}
        assert t.delete_records({topic: [(0, 17)], "nope": [(0, 1)]}) == {
            (topic, 0): (NONE, 17), ("nope", 0): (UNKNOWN_TOPIC_OR_PARTITION, -1)}
        assert t.delete_records({topic: [(0, 3)]}) == {(topic, 0): (NONE, 17)}      # never backwards
        assert t.delete_records({compact: [(0, 0)]}) == {(compact, 0): (kt.POLICY_VIOLATION, -1)}
        assert t.delete_records({"__consumer_offsets": [(0, 0)]}) == {
            ("__consumer_offsets", 0): (kt.INVALID_TOPIC_EXCEPTION, -1)}
        # the segments below the new log start go on a helper thread
        wait_until(lambda: segs() < before, timeout=15, what="segments below the log start deleted")
        assert t.list_offset(topic, 0, -2, 0)[2] == 17
        # checkpointed at once: a crash keeps it
        with open(os.path.join(b.data_dir, "log-start-offset-checkpoint")) as f:
            assert "%s 0 17" % topic in f.read().splitlines()
        assert t.delete_records({topic: [(0, -1)]}) == {(topic, 0): (NONE, 30)}
    b.kill()
    b.start()
    with kt.Txn(b.bootstrap) as t:
        assert t.list_offset(topic, 0, -2, 0)[2] == 30


@pytest.fixture
def env_brokers(tmp_path):
    yield from env_broker_factory(tmp_path)


def test_crash_between_prepare_and_markers(env_brokers):
    # the markers cannot be written (storage faults on the data partition)
    # while PrepareCommit is durable; after kill -9 the coordinator finishes
    # the commit when it loads
    b = env_brokers({"num.partitions": 1})
    topic = ck.create_topic(b, "pm")
    with kt.Txn(b.bootstrap) as t:
        pid, epoch = kt.begin(t, "tx-pm", {topic: [0]})
        assert t.produce(topic, 0, kt.tbatch([b"d0", b"d1"], pid, epoch, 0), "tx-pm") == (NONE, 0)
        b.arm("eio@/%s-0/\n" % topic)
        time.sleep(0.3)
        assert t.end_txn("tx-pm", pid, epoch, True) == NONE
        d = describe_until(t, "tx-pm", "CompleteCommit", timeout=1.5)
        assert d["state"] == "PrepareCommit" and d["topics"] == {topic: [0]}, d
        assert t.fetch(topic, 0, 0, 1)["lso"] == 0
    b.kill()
    with open(b.faults_file, "w"):
        pass
    b.start()
    with kt.Txn(b.bootstrap) as t:
        assert describe_until(t, "tx-pm", "CompleteCommit")["state"] == "CompleteCommit"
        f = t.fetch(topic, 0, 0, 1)
        assert f["lso"] == 3 and f["aborted"] == [] and offsets_of(f["batches"]) == [0, 2]
        # COMMIT, from the coordinator of the restarted broker: its epoch is the
        # __transaction_state partition's leader epoch, one higher after a start
        assert kt.marker_of(f["batches"][1]) == (1, 1)


def test_transaction_records_are_kafkas(broker_factory):
    # __transaction_state holds TransactionLogKey v0 / TransactionLogValue v0
    b = broker_factory({"num.partitions": 1, "transaction.state.log.num.partitions": 3})
    topic = ck.create_topic(b, "rec")
    with kt.Txn(b.bootstrap) as t:
        pid, epoch = kt.begin(t, "tx-rec", {topic: [0]}, timeout_ms=12345)
        assert t.end_txn("tx-rec", pid, epoch, True) == NONE
        describe_until(t, "tx-rec", "CompleteCommit")
    from storage_check import read_log
    part = None
    states = []
    for p in range(3):
        recs, _ = read_log(b, "__transaction_state", p)
        for k, v in [(r[1], r[2]) for r in recs]:
            r = kp.Reader(k)
            assert r.i16() == 0 and r.string() == "tx-rec"
            part = p
            v = kp.Reader(v)
            assert v.i16() == 0
            rec = {"pid": v.i64(), "epoch": v.i16(), "timeout": v.i32(), "state": v.i8()}
            n = v.i32()
            parts = []
            for _ in range(max(n, 0)):
                tname = v.string()
                parts += [(tname, v.i32()) for _ in range(v.i32())]
            rec["parts"] = None if n < 0 else parts
            v.i64(), v.i64()
            assert v.remaining() == 0
            states.append(rec)
    # Utils.abs("tx-rec".hashCode()) % 3
    h = 0
    for ch in "tx-rec":
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    h = h - (1 << 32) if h >= 1 << 31 else h
    assert part == (abs(h) if h != -(1 << 31) else 0) % 3
    assert [(s["state"], s["parts"]) for s in states] == [
        (0, None), (1, [(topic, 0)]), (2, [(topic, 0)]), (4, [])], states
    assert {(s["pid"], s["epoch"], s["timeout"]) for s in states} == {(pid, epoch, 12345)}


def java_partition(key, n):
    """Utils.abs(key.hashCode()) % n, Kafka's partition of a transactional id."""
    h = 0
    for ch in key.encode("utf-16-be").decode("utf-16-be"):
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    h = h - (1 << 32) if h >= 1 << 31 else h
    return (abs(h) if h != -(1 << 31) else 0) % n


def test_transaction_state_partitions_fixed_once_created(broker_factory):
    """transaction.state.log.num.partitions counts only when
    __transaction_state is created: restarted with another value, the broker
    keeps the partitions the topic has (and says so), and every
    transactional id stays where it was, its state intact."""
    b = broker_factory({"num.partitions": 1, "transaction.state.log.num.partitions": 3})
    topic = ck.create_topic(b, "tsp")
    # an id whose partition differs between 3 and 5 partitions
    tid = next(x for x in ("tsp-%d" % i for i in range(100)) if java_partition(x, 3) != java_partition(x, 5))
    with kt.Txn(b.bootstrap) as t:
        pid, epoch = kt.begin(t, tid, {topic: [0]})
        assert t.end_retry(tid, pid, epoch, True) == NONE
        assert describe_until(t, tid, "CompleteCommit")["state"] == "CompleteCommit"
    b.stop()
    b.overrides["transaction.state.log.num.partitions"] = "5"
    b.start()
    assert ("__transaction_state has 3 partitions, transaction.state.log.num.partitions is 5: keeping 3"
            in b.log_text())
    md = ck.admin(b).list_topics(topic="__transaction_state", timeout=10)
    assert sorted(md.topics["__transaction_state"].partitions) == [0, 1, 2]
    with kt.Txn(b.bootstrap) as t:
        d = wait_until(lambda: (lambda d: d if d["error"] == NONE else None)(t.describe([tid])[0]), timeout=20,
                       what="the transactional id known after the restart")
        assert (d["state"], d["pid"], d["epoch"]) == ("CompleteCommit", pid, epoch), d
        # its next transaction: the same producer id, the epoch bumped
        assert kt.begin(t, tid, {topic: [0]}) == (pid, epoch + 1)
    # every record of the id is in the partition of 3, none elsewhere
    where = set()
    for p in range(3):
        recs, _ = read_log(b, "__transaction_state", p)
        for r in recs:
            k = kp.Reader(r[1])
            if k.i16() == 0 and k.string() == tid:
                where.add(p)
    assert where == {java_partition(tid, 3)}, where


# ------------------------------------------------------------------ librdkafka


def txn_producer(b, txn_id, **conf):
    c = dict(ck.COMMON, **{"bootstrap.servers": b.bootstrap, "transactional.id": txn_id, "linger.ms": 5})
    c.update(conf)
    return Producer(c)


def test_confluent_read_committed_and_fencing(broker_factory):
    b = broker_factory({"num.partitions": 1})
    topic = ck.create_topic(b, "ck-txn")
    p = txn_producer(b, "ck-1")
    p.init_transactions(20)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, b"c%d" % i, partition=0)
    p.commit_transaction(20)
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, b"a%d" % i, partition=0)
    p.flush(20)
    p.abort_transaction(20)
    p.begin_transaction()
    p.produce(topic, b"d0", partition=0)
    p.commit_transaction(20)
    rc = [m.value() for m in ck.consume(b, topic, 6, isolation_level="read_committed")]
    assert rc == [b"c0", b"c1", b"c2", b"c3", b"c4", b"d0"]
    ru = [m.value() for m in ck.consume(b, topic, 9, isolation_level="read_uncommitted")]
    assert ru == [b"c0", b"c1", b"c2", b"c3", b"c4", b"a0", b"a1", b"a2", b"d0"]
    # a second producer of the same transactional.id fences the first
    p.begin_transaction()
    p.produce(topic, b"zombie", partition=0)
    p.flush(20)
    p2 = txn_producer(b, "ck-1")
    p2.init_transactions(30)
    with pytest.raises(KafkaException) as e:
        p.commit_transaction(20)
    assert e.value.args[0].fatal() or e.value.args[0].code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                                                   KafkaError.INVALID_PRODUCER_EPOCH), e.value
    p2.begin_transaction()
    p2.produce(topic, b"p2", partition=0)
    p2.commit_transaction(20)
    rc = [m.value() for m in ck.consume(b, topic, 7, isolation_level="read_committed")]
    assert rc == [b"c0", b"c1", b"c2", b"c3", b"c4", b"d0", b"p2"]


def test_confluent_transaction_timeout_aborts_and_fences(broker_factory):
    b = broker_factory({"num.partitions": 1, "transaction.abort.timed.out.transaction.cleanup.interval.ms": 200})
    topic = ck.create_topic(b, "ck-timeout")
    p = txn_producer(b, "ck-to", **{"transaction.timeout.ms": 2000, "socket.timeout.ms": 2000})
    p.init_transactions(20)
    p.begin_transaction()
    p.produce(topic, b"late", partition=0)
    p.flush(20)
    with kt.Txn(b.bootstrap) as t:
        d = describe_until(t, "ck-to", "CompleteAbort", timeout=20)
        assert d["state"] == "CompleteAbort", d
        f = t.fetch(topic, 0, 0, 1)
        assert f["lso"] == f["hw"] == 2 and len(f["aborted"]) == 1
        assert d["epoch"] == 1                   # bumped: the producer is fenced
    with pytest.raises(KafkaException):
        p.commit_transaction(20)
    assert ck.consume(b, topic, 0, isolation_level="read_committed") == []
