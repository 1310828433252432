"""Upgrade: a log dir written by the gregord of commit 20d539f (main before
transactions; tests/fixtures/txn-20d539f/make_fixture.py) opens with this
one and its non-transactional data is unaffected: every partition's records
(read uncommitted and read committed alike), log start offset, high
watermark - with the last stable offset equal to it and no aborted
transactions -, the group's committed offsets, and the idempotent producer
loaded from the old .snapshot files (a retried batch is a duplicate, the next
sequence is accepted).  The same after a full recovery (no clean-shutdown
marker, recovery points at 0: every old segment is scanned, which rebuilds
.txnindex files, here none).  Then transactions run on the upgraded dir and
survive a kill -9."""
import importlib.util
import json
import os
import shutil

import ktxn as kt
from ktxn import NONE
from helpers import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "fixtures", "txn-20d539f")
_spec = importlib.util.spec_from_file_location("make_fixture_txn", os.path.join(FIXTURE, "make_fixture.py"))
mf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mf)

OVERRIDES = dict(mf.OVERRIDES, **{"transaction.state.log.num.partitions": "2"})


def expected():
    with open(os.path.join(FIXTURE, "expected.json")) as f:
        return json.load(f)


def fixture_broker(broker_factory, unclean=False):
    b = broker_factory(OVERRIDES)
    b.stop()
    shutil.rmtree(b.data_dir)
    shutil.copytree(os.path.join(FIXTURE, "data"), b.data_dir)
    if unclean:
        os.unlink(os.path.join(b.data_dir, ".kafka_cleanshutdown"))
        cp = os.path.join(b.data_dir, "recovery-point-offset-checkpoint")
        with open(cp) as f:
            lines = f.read().splitlines()
        with open(cp, "w") as f:
            f.write("\n".join(lines[:2] + [" ".join(ln.split()[:2] + ["0"]) for ln in lines[2:]]) + "\n")
    b.start()
    return b


def check_unchanged(b, exp, extra=None):
    """every partition as the old gregord answered (plus `extra` records
    appended since, per partition)"""
    for name, part in exp["parts"].items():
        topic, p = name.rsplit("-", 1)
        p = int(p)
        more = (extra or {}).get(name, 0)
        lo, hw, lso = mf.watermarks(b.bootstrap, topic, p)
        assert (lo, hw - more, lso) == (part["log_start"], part["hw"], hw), name
        got = mf.records(b.bootstrap, topic, p)
        assert got[:len(part["records"])] == part["records"], name
        if not more:
            assert got == part["records"], name
            assert mf.records(b.bootstrap, topic, p, "read_committed") == part["records"], name
        with kt.Txn(b.bootstrap) as t:
            f = t.fetch(topic, p, part["log_start"], 1)
            assert f["error"] == NONE and f["lso"] == f["hw"] == hw and not f["aborted"], (name, f)
    with kt.Txn(b.bootstrap) as t:
        for name, off in exp["offsets"].items():
            topic, p = name.rsplit("-", 1)
            top, parts = t.offset_fetch(exp["group"], topic, [int(p)], require_stable=True)
            assert top == NONE and parts[int(p)] == (off, NONE), (name, parts)


def txnindex_bytes(b):
    n = 0
    for d, _, files in os.walk(b.data_dir):
        n += sum(os.path.getsize(os.path.join(d, f)) for f in files if f.endswith(".txnindex"))
    return n


def check_idempotent_producer(b, exp):
    idem = exp["idem"]
    pid, epoch, seq = idem["pid"], idem["epoch"], idem["next_seq"]
    with kt.Txn(b.bootstrap) as t:
        # the last batch again: a duplicate, answered with its first offset
        vals = [b"idem 5/%d" % j for j in range(5)]
        err, base = t.produce("idem", 0, mf.idem_batch(vals, pid, epoch, seq - 5))
        assert (err, base) == (NONE, idem["last_base"])
        err, base = t.produce("idem", 0, mf.idem_batch([b"next"], pid, epoch, seq + 1))
        assert err == 45, "a gap in the sequence: OUT_OF_ORDER_SEQUENCE_NUMBER"
        err, base = t.produce("idem", 0, mf.idem_batch([b"next"], pid, epoch, seq))
        assert (err, base) == (NONE, exp["parts"]["idem-0"]["hw"])


def test_old_dir_opens_unchanged(broker_factory):
    exp = expected()
    b = fixture_broker(broker_factory)
    check_unchanged(b, exp)
    assert txnindex_bytes(b) == 0
    check_idempotent_producer(b, exp)

    # transactions on the upgraded dir
    with kt.Txn(b.bootstrap) as t:
        for txn_id, vals, commit in (("up-1", [b"t1", b"t2"], True), ("up-2", [b"x"], False)):
            pid, ep = kt.begin(t, txn_id, {"plain": [0]})
            assert t.produce("plain", 0, kt.tbatch(vals, pid, ep, 0), txn_id=txn_id)[0] == NONE
            assert t.end_retry(txn_id, pid, ep, commit) == NONE
    hw0 = exp["parts"]["plain-0"]["hw"]
    wait_until(lambda: mf.watermarks(b.bootstrap, "plain", 0)[2] == hw0 + 5, 15, what="both markers")
    b.kill()
    b.start()
    check_unchanged(b, exp, extra={"plain-0": 5, "idem-0": 1})
    rc = mf.records(b.bootstrap, "plain", 0, "read_committed")
    assert [r[2] for r in rc[len(exp["parts"]["plain-0"]["records"]):]] == [mf.b64(b"t1"), mf.b64(b"t2")]
    assert txnindex_bytes(b) == 34, "one aborted transaction"


def test_old_dir_full_recovery(broker_factory):
    exp = expected()
    b = fixture_broker(broker_factory, unclean=True)
    check_unchanged(b, exp)
    assert txnindex_bytes(b) == 0
    check_idempotent_producer(b, exp)
    assert b.stop() == 0
    b.start()
    check_unchanged(b, exp, extra={"idem-0": 1})
