"""The idempotent producer (KIP-98, KIP-360, KIP-854), as Kafka serves it.

* InitProducerId v0-5 without a transactional id hands out a new producer id
  with epoch 0, from blocks of 1000 ids recorded durably in the log dir
  before use: no id is handed out twice, across clean restarts and kill -9.
  With a transactional id the transaction coordinator answers
  (test_transactions.py); here only its argument checks.
* Produce with a producer id keeps, per partition and producer, the last 5
  batches' sequence ranges: a retried batch that matches one is answered
  with its original offsets and not appended again; gaps, stale epochs and a
  new epoch that does not start at sequence 0 get Kafka's errors.
* The state survives restarts and kill -9: <offset>.snapshot files in
  Kafka's format (checked byte by byte here), rebuilt from the log tail; a
  data dir without snapshots (written before they existed) opens.
* Real clients: confluent-kafka (librdkafka) through restarts and kill -9
  (no duplicate, no gap), kcat, kafkajs.

Every wait is bounded; all traffic goes to 127.0.0.1."""
import json
import os
import struct
import threading
import time

import pytest
from confluent_kafka import Producer

import ck
import kproto as kp
from helpers import kcat, node_script, wait_until
from storage_check import fetch_raw, read_log

NONE = 0
COORDINATOR_LOAD_IN_PROGRESS = 14
NOT_COORDINATOR = 16
INVALID_REQUEST = 42
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
INVALID_TRANSACTION_TIMEOUT = 50
INIT_PRODUCER_ID = 22
INT32_MAX = (1 << 31) - 1

SNAPSHOT_ENTRY = struct.Struct(">qhiqiqiq")     # ProducerSnapshot.json v1, one ProducerEntry


def now_ms():
    return int(time.time() * 1000)

# ------------------------------------------------------------------ wire


def init_pid(b, version=4, txn_id=None, timeout_ms=60000, pid=-1, epoch=-1, conn=None):
    """InitProducerId -> (error, producer id, epoch)."""
    flex = version >= 2
    body = (kp.compact_string(txn_id) if flex else kp.string(txn_id)) + kp.i32(timeout_ms)
    if version >= 3:
        body += kp.i64(pid) + kp.i16(epoch)
    if flex:
        body += kp.TAGS0

    def parse(r):
        if flex:
            r.tags()
        r.i32()                                   # throttle
        out = (r.i16(), r.i64(), r.i16())
        if flex:
            r.tags()
        assert r.remaining() == 0
        return out
    if conn is not None:
        return parse(conn.raw(INIT_PRODUCER_ID, version, body, flex))
    return kp.call(b.bootstrap, INIT_PRODUCER_ID, version, body,
                   lambda payload, corr: parse(_after_corr(payload, corr)), flexible=flex)


def _after_corr(payload, corr):
    r = kp.Reader(payload)
    assert r.i32() == corr
    return r


def new_pid(b, **kw):
    err, pid, epoch = init_pid(b, **kw)
    assert (err, epoch) == (NONE, 0) and pid >= 0, (err, pid, epoch)
    return pid


def ibatch(values, pid, epoch, seq, ts=None, attributes=0):
    """An uncompressed v2 batch of a producer: records with keys k0.., the
    given values, all at timestamp ts."""
    n = len(values)
    ts = now_ms() if ts is None else ts
    recs = b"".join(kp.record(i, b"k%d" % i, v) for i, v in enumerate(values))
    after_crc = (kp.i16(attributes) + kp.i32(n - 1) + kp.i64(ts) + kp.i64(ts)
                 + kp.i64(pid) + kp.i16(epoch) + kp.i32(seq) + kp.i32(n) + recs)
    tail = kp.i32(-1) + kp.i8(2) + kp.u32(kp.crc32c(after_crc)) + after_crc
    return kp.i64(0) + kp.i32(len(tail)) + tail


def produce(b, topic, data, partition=0, conn=None):
    """One Produce v3 of record data -> (error, base offset, log append time)."""
    body = kp.produce_v3(topic, [(partition, data)])
    if conn is not None:
        conn.send(0, 3, body)
        payload = kp.recv_frame(conn.s)
        return kp.parse_produce_v3(payload, conn.corr)[(topic, partition)]
    return kp.call(b.bootstrap, 0, 3, body, kp.parse_produce_v3)[(topic, partition)]


def end_offset(b, topic, partition=0):
    return fetch_raw(b, topic, partition, 0)["hw"]


def values_of(b, topic, partition=0):
    recs, _ = read_log(b, topic, partition)
    return [v for _, _, v in recs]

# ------------------------------------------------------------- snapshots


def parse_snapshot(path):
    """A <offset>.snapshot file (Kafka's ProducerStateManager.writeSnapshot):
    int16 version 1, uint32 CRC-32C of everything after it, int32 count,
    count x ProducerEntry.  Returns {producer id: entry dict}."""
    with open(path, "rb") as f:
        data = f.read()
    version, crc = struct.unpack_from(">hI", data, 0)
    assert version == 1, "snapshot %s: version %d" % (path, version)
    assert crc == kp.crc32c(data[6:]), "snapshot %s: CRC mismatch" % path
    (n,) = struct.unpack_from(">i", data, 6)
    assert len(data) == 10 + n * SNAPSHOT_ENTRY.size, "snapshot %s: %d bytes for %d entries" % (path, len(data), n)
    out = {}
    for i in range(n):
        pid, ep, last_seq, last_off, delta, ts, coord, txn = SNAPSHOT_ENTRY.unpack_from(data, 10 + i * 46)
        assert pid not in out
        out[pid] = dict(epoch=ep, last_seq=last_seq, last_offset=last_off, offset_delta=delta,
                        timestamp=ts, coordinator_epoch=coord, txn_first_offset=txn)
    return out


def snapshot_offsets(b, topic, partition=0):
    d = b.partition_dir(topic, partition)
    return sorted(int(f[:20]) for f in os.listdir(d) if f.endswith(".snapshot") and len(f) == 29)

# ------------------------------------------------------------ InitProducerId


def test_init_producer_id_advertised_and_never_reused(broker_factory):
    b = broker_factory({"num.partitions": 1})
    # advertised, versions 0-5
    r = kp.Reader(kp.roundtrip(b.bootstrap, kp.request(18, 0, 9, b"")))
    assert r.i32() == 9 and r.i16() == 0
    keys = {}
    for _ in range(r.i32()):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        keys[k] = (lo, hi)
    assert keys.get(INIT_PRODUCER_ID) == (0, 5), keys
    seen = []
    for v in range(6):
        seen.append(new_pid(b, version=v))
    # v3+: an existing producer id and epoch (KIP-360) get a new id, epoch
    # 0, without a transactional id, as Kafka's TransactionCoordinator
    # answers every idempotent producer
    seen.append(new_pid(b, version=4, pid=seen[-1], epoch=0))
    seen.append(new_pid(b, version=5, pid=seen[-1], epoch=32767))
    assert seen == sorted(set(seen)), seen
    # the blocks are recorded before use: a clean restart and kill -9 both
    # start from a new block
    b.restart()
    after_restart = new_pid(b)
    b.kill()
    b.start()
    after_kill = new_pid(b)
    assert max(seen) < after_restart < after_kill, (seen, after_restart, after_kill)
    # many ids in a row (blocks are fetched ahead of need): all distinct,
    # increasing; COORDINATOR_LOAD_IN_PROGRESS (retriable) while a block is
    # being recorded is allowed
    more = []
    with kp.Conn(b.bootstrap) as c:
        for _ in range(2500):
            for _ in range(200):
                err, pid, ep = init_pid(b, conn=c)
                if err != COORDINATOR_LOAD_IN_PROGRESS:
                    break
                time.sleep(0.01)
            assert (err, ep) == (NONE, 0), (err, pid, ep)
            more.append(pid)
    assert more == sorted(set(more)) and more[0] > after_kill
    with open(os.path.join(b.data_dir, "producer-id-block")) as f:
        block = json.load(f)
    assert block["version"] == 1 and int(block["block_start"]) <= more[-1] <= int(block["block_end"]), block


def test_init_producer_id_errors(broker_factory):
    b = broker_factory({"num.partitions": 1})
    # v3+: only one of producer id and epoch given (Kafka's KafkaApis)
    assert init_pid(b, version=3, pid=-1, epoch=3) == (INVALID_REQUEST, -1, -1)
    assert init_pid(b, version=4, pid=17, epoch=-1) == (INVALID_REQUEST, -1, -1)
    # a transactional id: empty is invalid, a bad timeout is checked first,
    # then the transaction coordinator answers (every version): a producer
    # id for the id, its epoch bumped by each call
    assert init_pid(b, version=4, txn_id="") == (INVALID_REQUEST, -1, -1)
    assert init_pid(b, version=4, txn_id="tx", timeout_ms=0) == (INVALID_TRANSACTION_TIMEOUT, -1, -1)
    assert init_pid(b, version=4, txn_id="tx", timeout_ms=900001) == (INVALID_TRANSACTION_TIMEOUT, -1, -1)
    seen = set()
    for v in range(6):
        err, pid, epoch = init_pid(b, version=v, txn_id="tx")
        assert (err, epoch) == (NONE, v), (v, err, pid, epoch)
        seen.add(pid)
    assert len(seen) == 1
    # FindCoordinator for key type TRANSACTION names this broker
    with kp.Conn(b.bootstrap) as c:
        r = c.call(kp.FIND_COORDINATOR, 1, "tx", key_type=1)
    assert r["error"] == NONE, r

# ------------------------------------------------------------ sequences


def test_resent_batches_answered_with_their_offsets(broker_factory):
    b = broker_factory({"num.partitions": 1})
    topic = ck.create_topic(b, "idem-dup")
    pid = new_pid(b)
    with kp.Conn(b.bootstrap) as c:
        assert produce(b, topic, ibatch([b"plain"], -1, -1, -1), conn=c)[:2] == (NONE, 0)
        sent = []                                 # (batch, base offset)
        seq = 0
        for i in range(7):
            n = 1 + i % 3
            bt = ibatch([b"v%d-%d" % (i, j) for j in range(n)], pid, 0, seq)
            err, base, lat = produce(b, topic, bt, conn=c)
            assert (err, lat) == (NONE, -1)
            sent.append((bt, base))
            seq += n
        end = end_offset(b, topic)
        # the last 5 batches, resent in any order: their original offsets,
        # nothing appended
        for bt, base in reversed(sent[-5:]):
            assert produce(b, topic, bt, conn=c)[:2] == (NONE, base)
        assert end_offset(b, topic) == end
        # older than the last 5: out of order (Kafka keeps 5)
        assert produce(b, topic, sent[1][0], conn=c)[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
        # a duplicate hidden behind a new batch of the same request: the
        # request is answered as the duplicate, nothing appended (Kafka
        # checks every batch before it writes any)
        assert produce(b, topic, ibatch([b"new"], pid, 0, seq) + sent[-1][0], conn=c)[:2] == \
            (NONE, sent[-1][1])
        assert end_offset(b, topic) == end
        # two new batches in one request
        err, base, _ = produce(b, topic, ibatch([b"n1"], pid, 0, seq) + ibatch([b"n2", b"n3"], pid, 0, seq + 1),
                               conn=c)
        assert (err, base) == (NONE, end)
        assert produce(b, topic, ibatch([b"n2", b"n3"], pid, 0, seq + 1), conn=c)[:2] == (NONE, end + 1)
    want = [b"plain"] + [b"v%d-%d" % (i, j) for i in range(7) for j in range(1 + i % 3)] + [b"n1", b"n2", b"n3"]
    assert values_of(b, topic) == want
    # across a clean restart and kill -9: the last batch is still known
    last = ibatch([b"n2", b"n3"], pid, 0, seq + 1)
    b.restart()
    assert produce(b, topic, last)[:2] == (NONE, end + 1)
    b.kill()
    b.start()
    assert produce(b, topic, last)[:2] == (NONE, end + 1)
    assert values_of(b, topic) == want


def test_sequence_and_epoch_errors(broker_factory):
    b = broker_factory({"num.partitions": 1})
    topic = ck.create_topic(b, "idem-seq")
    pid = new_pid(b)
    assert produce(b, topic, ibatch([b"a", b"b"], pid, 0, 0))[:2] == (NONE, 0)
    # a gap, and a batch that overlaps the last one without matching it
    assert produce(b, topic, ibatch([b"x"], pid, 0, 3))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert produce(b, topic, ibatch([b"x"], pid, 0, 1))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert produce(b, topic, ibatch([b"c"], pid, 0, 2))[:2] == (NONE, 2)
    # a new epoch must start at sequence 0 (KIP-360: the sequence resets)
    assert produce(b, topic, ibatch([b"x"], pid, 1, 3))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert produce(b, topic, ibatch([b"d"], pid, 1, 0))[:2] == (NONE, 3)
    # the old epoch is fenced now, also for a batch it had written
    assert produce(b, topic, ibatch([b"c"], pid, 0, 2))[0] == INVALID_PRODUCER_EPOCH
    assert produce(b, topic, ibatch([b"x"], pid, 0, 3))[0] == INVALID_PRODUCER_EPOCH
    # a producer this partition has no state for starts anywhere (KIP-360:
    # its state may have expired); another partition's state is separate
    other = new_pid(b)
    assert produce(b, topic, ibatch([b"e"], other, 4, 42))[:2] == (NONE, 4)
    assert produce(b, topic, ibatch([b"f"], other, 4, 43))[:2] == (NONE, 5)
    # sequence numbers wrap at Int.MAX: a batch whose range crosses it, then
    # the one after it starts at 1
    w = new_pid(b)
    assert produce(b, topic, ibatch([b"g"], w, 0, INT32_MAX - 1))[:2] == (NONE, 6)
    assert produce(b, topic, ibatch([b"h", b"i", b"j"], w, 0, INT32_MAX))[:2] == (NONE, 7)
    assert produce(b, topic, ibatch([b"h", b"i", b"j"], w, 0, INT32_MAX))[:2] == (NONE, 7)
    assert produce(b, topic, ibatch([b"k"], w, 0, 2))[:2] == (NONE, 10)
    assert produce(b, topic, ibatch([b"x"], w, 0, 0))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    # nothing refused was written; the state survives kill -9 (rebuilt from
    # the log: no snapshot covers these batches)
    want = [b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"i", b"j", b"k"]
    assert values_of(b, topic) == want
    b.kill()
    b.start()
    assert produce(b, topic, ibatch([b"c"], pid, 0, 2))[0] == INVALID_PRODUCER_EPOCH
    assert produce(b, topic, ibatch([b"d"], pid, 1, 0))[:2] == (NONE, 3)
    assert produce(b, topic, ibatch([b"k"], w, 0, 2))[:2] == (NONE, 10)
    assert produce(b, topic, ibatch([b"l"], w, 0, 4))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
    assert values_of(b, topic) == want

# ------------------------------------------------------------ snapshots


def test_snapshot_files_in_kafkas_format(broker_factory):
    b = broker_factory({"num.partitions": 1, "internal.log.segment.bytes": 2048})
    topic = ck.create_topic(b, "idem-snap")
    pids = [new_pid(b) for _ in range(3)]
    seqs = {p: 0 for p in pids}
    last = {}
    ts = now_ms() - 5000
    for i in range(40):
        p = pids[i % 3]
        n = 1 + i % 4
        err, base, _ = produce(b, topic, ibatch([b"s%03d-%d" % (i, j) + b"." * 40 for j in range(n)], p, 0,
                                                seqs[p], ts=ts + i))
        assert err == NONE
        last[p] = dict(epoch=0, last_seq=seqs[p] + n - 1, last_offset=base + n - 1, offset_delta=n - 1,
                       timestamp=ts + i, coordinator_epoch=-1, txn_first_offset=-1)
        seqs[p] += n
    segs = [int(f[:20]) for f in b.segment_files(topic)]
    assert len(segs) >= 3, segs
    # a snapshot at every roll (the new segment's base offset)
    assert set(segs[1:]) <= set(snapshot_offsets(b, topic)), (segs, snapshot_offsets(b, topic))
    end = end_offset(b, topic)
    b.stop()
    # a clean shutdown writes one at the log end; every file parses
    offs = snapshot_offsets(b, topic)
    assert offs[-1] == end, (offs, end)
    for o in offs:
        parse_snapshot(os.path.join(b.partition_dir(topic), "%020d.snapshot" % o))
    assert parse_snapshot(os.path.join(b.partition_dir(topic), "%020d.snapshot" % end)) == last
    # a corrupt latest snapshot is dropped and the state rebuilt from an
    # older one and the log
    with open(os.path.join(b.partition_dir(topic), "%020d.snapshot" % end), "r+b") as f:
        f.seek(20)
        f.write(b"\xff\xff")
    b.start()
    for p in pids:
        n = last[p]["offset_delta"] + 1
        first_seq = last[p]["last_seq"] - n + 1
        vals = None
        recs, _ = read_log(b, topic, 0, start=last[p]["last_offset"] - n + 1)
        vals = [v for o, _, v in recs if o <= last[p]["last_offset"]]
        assert produce(b, topic, ibatch(vals, p, 0, first_seq, ts=last[p]["timestamp"]))[:2] == \
            (NONE, last[p]["last_offset"] - n + 1)
    assert end_offset(b, topic) == end
    b.stop()
    assert parse_snapshot(os.path.join(b.partition_dir(topic), "%020d.snapshot" % end)) == last


def test_old_data_dir_without_snapshots(broker_factory):
    """A data dir written before producer state existed: no .snapshot files.
    After a clean shutdown it opens without reading the log (as Kafka does
    for an upgrade); after a crash the state is rebuilt from the log."""
    b = broker_factory({"num.partitions": 1, "internal.log.segment.bytes": 4096})
    topic = ck.create_topic(b, "idem-old")
    pid = new_pid(b)
    for i in range(30):
        assert produce(b, topic, ibatch([b"plain-%d" % i + b"." * 100], -1, -1, -1))[0] == NONE
    bt = ibatch([b"idem-0", b"idem-1"], pid, 0, 0)
    err, base, _ = produce(b, topic, bt)
    assert err == NONE
    end = end_offset(b, topic)

    def strip():
        for f in os.listdir(b.partition_dir(topic)):
            if f.endswith(".snapshot"):
                os.unlink(os.path.join(b.partition_dir(topic), f))
    # unclean: rebuilt from the log, the producer's batch is known
    b.kill()
    strip()
    b.start()
    assert produce(b, topic, bt)[:2] == (NONE, base)
    assert end_offset(b, topic) == end
    b.stop()
    assert parse_snapshot(os.path.join(b.partition_dir(topic), "%020d.snapshot" % end))[pid]["last_offset"] == end - 1
    # clean shutdown, no snapshot: opened without a scan, snapshots written
    strip()
    b.start()
    assert snapshot_offsets(b, topic)[-1] == end
    assert values_of(b, topic) == [b"plain-%d" % i + b"." * 100 for i in range(30)] + [b"idem-0", b"idem-1"]
    assert produce(b, topic, ibatch([b"plain-late"], -1, -1, -1))[:2] == (NONE, end)

# ------------------------------------------------------------ expiration, retention


def test_state_outlives_retention_until_expiration(broker_factory):
    b = broker_factory({"num.partitions": 1, "internal.log.segment.bytes": 1024,
                        "log.retention.check.interval.ms": 100})
    topic = ck.create_topic(b, "idem-ret", config={"retention.ms": "1500"})
    pid = new_pid(b)
    bt = ibatch([b"first"], pid, 0, 0)
    assert produce(b, topic, bt)[:2] == (NONE, 0)
    for i in range(20):
        assert produce(b, topic, ibatch([b"filler-%d" % i + b"." * 200], -1, -1, -1))[0] == NONE
    end = end_offset(b, topic)
    # retention deletes every batch, the producer's too; its state stays
    # (until producer.id.expiration.ms, a day by default)
    wait_until(lambda: kp.call(b.bootstrap, 2, 7, kp.list_offsets_v7([(topic, [(0, -2)])]),
                               kp.parse_list_offsets_v7, flexible=True)[(topic, 0)][2] == end,
               timeout=20, what="retention")
    assert produce(b, topic, bt)[:2] == (NONE, 0)
    # also through a restart (the snapshot) and kill -9
    b.restart()
    assert produce(b, topic, bt)[:2] == (NONE, 0)
    b.kill()
    b.start()
    assert produce(b, topic, bt)[:2] == (NONE, 0)
    assert end_offset(b, topic) == end
    # with a shorter producer.id.expiration.ms, the snapshot's entry has
    # expired when it is loaded: the same batch is a new one (a producer
    # without state may start at any sequence)
    b.stop()
    b.overrides["producer.id.expiration.ms"] = "1000"
    b.start()
    assert produce(b, topic, bt)[:2] == (NONE, end)


def test_expiration_check_runs_periodically(broker_factory):
    b = broker_factory({"num.partitions": 1, "producer.id.expiration.ms": 2000,
                        "producer.id.expiration.check.interval.ms": 200})
    topic = ck.create_topic(b, "idem-exp-check")
    idle, busy = new_pid(b), new_pid(b)
    bt = ibatch([b"idle"], idle, 0, 0)
    assert produce(b, topic, bt)[:2] == (NONE, 0)
    seq = 0
    deadline = time.monotonic() + 30
    base = 0
    while base == 0:
        assert time.monotonic() < deadline, "the idle producer never expired"
        # the busy producer writes all along: it never expires
        assert produce(b, topic, ibatch([b"busy"], busy, 0, seq))[0] == NONE
        seq += 1
        time.sleep(0.2)
        err, base, _ = produce(b, topic, bt)
        assert err == NONE
    vals = values_of(b, topic)
    assert vals.count(b"idle") == 2 and vals.count(b"busy") == seq
    assert produce(b, topic, ibatch([b"busy"], busy, 0, seq - 1))[0] == NONE
    assert values_of(b, topic).count(b"busy") == seq


def test_expired_producers_not_loaded(broker_factory):
    b = broker_factory({"num.partitions": 1, "producer.id.expiration.ms": 60000})
    topic = ck.create_topic(b, "idem-exp")
    old, fresh = new_pid(b), new_pid(b)
    assert produce(b, topic, ibatch([b"old"], old, 0, 0, ts=now_ms() - 120000))[:2] == (NONE, 0)
    assert produce(b, topic, ibatch([b"fresh"], fresh, 0, 0))[:2] == (NONE, 1)
    # the check has not run yet (every 10 minutes by default)
    assert produce(b, topic, ibatch([b"old"], old, 0, 0, ts=now_ms() - 120000))[:2] == (NONE, 0)
    b.stop()
    [end] = snapshot_offsets(b, topic)
    assert set(parse_snapshot(os.path.join(b.partition_dir(topic), "%020d.snapshot" % end))) == {old, fresh}
    b.start()
    # a snapshot's expired producers are dropped when it is loaded
    assert produce(b, topic, ibatch([b"old"], old, 0, 0, ts=now_ms() - 120000))[:2] == (NONE, 2)
    assert produce(b, topic, ibatch([b"fresh"], fresh, 0, 0))[:2] == (NONE, 1)

# ------------------------------------------------------------ real clients


def test_confluent_idempotent_through_restarts_and_kill9(broker_factory):
    """librdkafka's idempotent producer (acks=all, retries) while the broker
    is restarted and killed: every value exactly once, in order."""
    # every append waits for its fsync before it is answered: a kill -9
    # then often finds batches appended but not acknowledged, which the
    # producer retries against the recovered state
    b = broker_factory({"num.partitions": 1, "internal.log.segment.bytes": 200000,
                        "log.flush.interval.messages": 1})
    topic = ck.create_topic(b, "idem-ck")
    n = 60000
    p = Producer(dict(ck.COMMON, **{"bootstrap.servers": b.bootstrap, "enable.idempotence": True,
                                    "acks": "all", "linger.ms": 1, "batch.num.messages": 50,
                                    "message.timeout.ms": 120000, "retry.backoff.ms": 50,
                                    "reconnect.backoff.max.ms": 200}))
    delivered = []
    errors = []
    done = threading.Event()

    def cb(err, m):
        if err is not None:
            errors.append(err)
        else:
            delivered.append((int(m.value()), m.offset()))

    def run():
        try:
            for i in range(n):
                while True:
                    try:
                        p.produce(topic, value=b"%d" % i, partition=0, on_delivery=cb)
                        break
                    except BufferError:
                        p.poll(0.05)
                if i % 100 == 0:
                    p.poll(0)
            p.flush(150)
        finally:
            done.set()
    th = threading.Thread(target=run)
    th.start()
    try:
        for k, action in enumerate(["restart", "kill", "kill", "restart", "kill"]):
            target = n * (k + 1) // 7
            wait_until(lambda: len(delivered) >= target or done.is_set(), timeout=120,
                       what="%d deliveries" % target)
            assert not done.is_set(), "the producer finished before the broker was %sed" % action
            if action == "restart":
                b.restart()
            else:
                b.kill()
                b.start()
    finally:
        th.join(200)
    assert not th.is_alive()
    assert not errors, errors[:5]
    assert p.flush(10) == 0
    assert len(delivered) == n
    got = [int(v) for v in values_of(b, topic)]
    assert got == list(range(n)), "duplicates or gaps: %d values, %d distinct" % (len(got), len(set(got)))
    # every delivery report names the offset the value is at
    assert sorted(delivered) == [(i, i) for i in range(n)]


def test_kcat_idempotent(broker_factory):
    b = broker_factory({"num.partitions": 1})
    topic = ck.create_topic(b, "idem-kcat")
    lines = ["line-%d" % i for i in range(500)]
    kcat(b, "-P", "-t", topic, "-p", "0", "-X", "enable.idempotence=true", input="\n".join(lines) + "\n")
    assert [v.decode() for v in values_of(b, topic)] == lines
    recs, _ = read_log(b, topic, 0)
    # the batches carry a producer id the broker issued, sequences from 0
    r = fetch_raw(b, topic, 0, 0)
    heads = [struct.unpack_from(">qhi", bt, 43) for bt in kp.split_batches(r["records"])]
    assert heads and all(pid >= 0 and ep == 0 for pid, ep, _ in heads), heads
    assert heads[0][2] == 0


def test_kafkajs_idempotent(broker_factory):
    b = broker_factory({"num.partitions": 1})
    topic = ck.create_topic(b, "idem-kjs")
    batches = [[{"value": "kjs-%d-%d" % (i, j)} for j in range(10)] for i in range(5)]
    out = node_script("kjs.js", {"op": "produce", "brokers": [b.bootstrap], "topic": topic,
                                 "idempotent": True, "batches": batches})
    assert "error" not in out, out
    assert [r[0]["errorCode"] for r in out["results"]] == [0] * 5
    assert [v.decode() for v in values_of(b, topic)] == [m["value"] for bt in batches for m in bt]
    r = fetch_raw(b, topic, 0, 0)
    heads = [struct.unpack_from(">qhi", bt, 43) for bt in kp.split_batches(r["records"])]
    assert [h[2] for h in heads] == [0, 10, 20, 30, 40] and len({h[0] for h in heads}) == 1, heads
