"""Raw-protocol helpers for transactions (the JSON specs in
clients/src/main/resources/common/message/): encoders return request bodies,
decoders take a kproto.Reader after the correlation id.  Used by
test_transactions.py and the crash tests; every call is bounded by the
socket timeout of kproto.Conn."""
import struct
import time

import kproto as kp

FIND_COORDINATOR, INIT_PRODUCER_ID = 10, 22
ADD_PARTITIONS, ADD_OFFSETS, END_TXN, WRITE_TXN_MARKERS, TXN_OFFSET_COMMIT = 24, 25, 26, 27, 28
DELETE_RECORDS, DESCRIBE_PRODUCERS, DESCRIBE_TRANSACTIONS, LIST_TRANSACTIONS = 21, 61, 65, 66
LIST_OFFSETS, FETCH, PRODUCE, OFFSET_FETCH = 2, 1, 0, 9

NONE = 0
OFFSET_OUT_OF_RANGE = 1
UNKNOWN_TOPIC_OR_PARTITION = 3
COORDINATOR_NOT_AVAILABLE = 15
INVALID_TOPIC_EXCEPTION = 17
NOT_ENOUGH_REPLICAS = 19
ILLEGAL_GENERATION = 22
UNKNOWN_MEMBER_ID = 25
TOPIC_AUTHORIZATION_FAILED = 29
INVALID_REQUEST = 42
POLICY_VIOLATION = 44
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_PRODUCER_ID_MAPPING = 49
INVALID_TRANSACTION_TIMEOUT = 50
CONCURRENT_TRANSACTIONS = 51
TRANSACTION_COORDINATOR_FENCED = 52
OPERATION_NOT_ATTEMPTED = 55
UNSTABLE_OFFSET_COMMIT = 88
PRODUCER_FENCED = 90
TRANSACTIONAL_ID_NOT_FOUND = 105
TRANSACTION_ABORTABLE = 120

ATTR_TRANSACTIONAL = 0x10
ATTR_CONTROL = 0x20


def now_ms():
    return int(time.time() * 1000)


def tbatch(values, pid, epoch, seq, transactional=True, ts=None):
    """An uncompressed v2 batch of a producer (keys k0.., the values)."""
    n = len(values)
    ts = now_ms() if ts is None else ts
    recs = b"".join(kp.record(i, b"k%d" % i, v) for i, v in enumerate(values))
    attrs = ATTR_TRANSACTIONAL if transactional else 0
    after_crc = (kp.i16(attrs) + kp.i32(n - 1) + kp.i64(ts) + kp.i64(ts)
                 + kp.i64(pid) + kp.i16(epoch) + kp.i32(seq) + kp.i32(n) + recs)
    tail = kp.i32(-1) + kp.i8(2) + kp.u32(kp.crc32c(after_crc)) + after_crc
    return kp.i64(0) + kp.i32(len(tail)) + tail


def marker_of(batch):
    """(type, coordinator epoch) of a control batch, None for a data batch."""
    (attrs,) = struct.unpack_from(">h", batch, 21)
    if not attrs & ATTR_CONTROL:
        return None
    r = kp.Reader(batch[61:])
    r.uvarint()                                   # record length
    r.i8()
    r.uvarint(), r.uvarint()                      # deltas
    kl = r.uvarint()
    k = r.take((kl >> 1) ^ -(kl & 1))
    vl = r.uvarint()
    v = r.take((vl >> 1) ^ -(vl & 1))
    return struct.unpack_from(">h", k, 2)[0], struct.unpack_from(">i", v, 2)[0]


def batch_producer(batch):
    pid, epoch = struct.unpack_from(">qh", batch, 43)
    (attrs,) = struct.unpack_from(">h", batch, 21)
    return pid, epoch, attrs


class Txn:
    """Transactional calls on one connection."""

    def __init__(self, bootstrap, timeout=15.0):
        self.c = kp.Conn(bootstrap, timeout=timeout)

    def close(self):
        self.c.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def find_coordinator(self, key, key_type=1):
        r = self.c.raw(FIND_COORDINATOR, 1, kp.string(key) + kp.i8(key_type))
        r.i32()
        err = r.i16()
        r.string()
        return err, r.i32(), r.string(), r.i32()

    def init_pid(self, txn_id, timeout_ms=60000, pid=-1, epoch=-1, version=4):
        flex = version >= 2
        body = (kp.compact_string(txn_id) if flex else kp.string(txn_id)) + kp.i32(timeout_ms)
        if version >= 3:
            body += kp.i64(pid) + kp.i16(epoch)
        if flex:
            body += kp.TAGS0
        r = self.c.raw(INIT_PRODUCER_ID, version, body, flex)
        if flex:
            r.tags()
        r.i32()
        return r.i16(), r.i64(), r.i16()

    def init_retry(self, txn_id, timeout_ms=60000, deadline_s=20, **kw):
        """InitProducerId until it is not retriable (CONCURRENT_TRANSACTIONS,
        COORDINATOR_LOAD_IN_PROGRESS)."""
        end = time.monotonic() + deadline_s
        while True:
            out = self.init_pid(txn_id, timeout_ms, **kw)
            if out[0] not in (CONCURRENT_TRANSACTIONS, 14) or time.monotonic() > end:
                return out
            time.sleep(0.05)

    def add_partitions(self, txn_id, pid, epoch, topics, version=1):
        """topics: {name: [partitions]} -> {(topic, partition): error} (v0-3)."""
        body = (kp.string(txn_id) + kp.i64(pid) + kp.i16(epoch)
                + kp.array([kp.string(t) + kp.array([kp.i32(p) for p in ps]) for t, ps in topics.items()]))
        r = self.c.raw(ADD_PARTITIONS, version, body)
        r.i32()
        out = {}
        for _ in range(r.i32()):
            t = r.string()
            for _ in range(r.i32()):
                p, e = r.i32(), r.i16()
                out[(t, p)] = e
        return out

    def add_partitions_v4(self, txns):
        """txns: [(txn_id, pid, epoch, verify_only, {topic: [partitions]})] ->
        (top error, {txn_id: {(topic, partition): error}}) (v4, flexible)."""
        ts = []
        for tid, pid, epoch, verify, topics in txns:
            tps = [kp.compact_string(t) + kp.compact_array([kp.i32(p) for p in ps]) + kp.TAGS0
                   for t, ps in topics.items()]
            ts.append(kp.compact_string(tid) + kp.i64(pid) + kp.i16(epoch) + kp.i8(1 if verify else 0)
                      + kp.compact_array(tps) + kp.TAGS0)
        r = self.c.raw(ADD_PARTITIONS, 4, kp.compact_array(ts) + kp.TAGS0, True)
        r.tags()
        r.i32()
        top = r.i16()
        out = {}
        for _ in range(max(r.uvarint() - 1, 0)):
            tid = r.compact_string()
            res = {}
            for _ in range(max(r.uvarint() - 1, 0)):
                t = r.compact_string()
                for _ in range(max(r.uvarint() - 1, 0)):
                    p, e = r.i32(), r.i16()
                    r.tags()
                    res[(t, p)] = e
                r.tags()
            r.tags()
            out[tid] = res
        r.tags()
        return top, out

    def add_offsets(self, txn_id, pid, epoch, group):
        r = self.c.raw(ADD_OFFSETS, 1, kp.string(txn_id) + kp.i64(pid) + kp.i16(epoch) + kp.string(group))
        r.i32()
        return r.i16()

    def end_txn(self, txn_id, pid, epoch, commit, version=1):
        flex = version >= 3
        st = kp.compact_string if flex else kp.string
        body = st(txn_id) + kp.i64(pid) + kp.i16(epoch) + kp.i8(1 if commit else 0)
        if flex:
            body += kp.TAGS0
        r = self.c.raw(END_TXN, version, body, flex)
        if flex:
            r.tags()
        r.i32()
        err = r.i16()
        if version >= 5:
            return err, r.i64(), r.i16()
        return err

    def end_retry(self, txn_id, pid, epoch, commit, deadline_s=20):
        end = time.monotonic() + deadline_s
        while True:
            e = self.end_txn(txn_id, pid, epoch, commit)
            if e != CONCURRENT_TRANSACTIONS or time.monotonic() > end:
                return e
            time.sleep(0.05)

    def txn_offset_commit(self, txn_id, group, pid, epoch, offsets, generation=-1, member="", version=3):
        """offsets: {(topic, partition): offset} -> {(topic, partition): error}."""
        flex = version >= 3
        st = kp.compact_string if flex else kp.string
        arr = kp.compact_array if flex else kp.array
        tags = kp.TAGS0 if flex else b""
        by_topic = {}
        for (t, p), o in offsets.items():
            by_topic.setdefault(t, []).append((p, o))
        ts = []
        for t, ps in by_topic.items():
            parts = []
            for p, o in ps:
                e = kp.i32(p) + kp.i64(o)
                if version >= 2:
                    e += kp.i32(-1)
                e += st("") + tags
                parts.append(e)
            ts.append(st(t) + arr(parts) + tags)
        body = st(txn_id) + st(group) + kp.i64(pid) + kp.i16(epoch)
        if version >= 3:
            body += kp.i32(generation) + st(member) + st(None)
        body += arr(ts) + tags
        r = self.c.raw(TXN_OFFSET_COMMIT, version, body, flex)
        if flex:
            r.tags()
        r.i32()
        out = {}
        n = (lambda: r.uvarint() - 1) if flex else r.i32
        for _ in range(max(n(), 0)):
            t = r.compact_string() if flex else r.string()
            for _ in range(max(n(), 0)):
                p, e = r.i32(), r.i16()
                if flex:
                    r.tags()
                out[(t, p)] = e
            if flex:
                r.tags()
        return out

    def write_markers(self, markers):
        """markers: [(pid, epoch, commit, coordinator_epoch, {topic: [partitions]})]
        -> {(pid, topic, partition): error} (v0)."""
        ms = []
        for pid, epoch, commit, ce, topics in markers:
            ms.append(kp.i64(pid) + kp.i16(epoch) + kp.i8(1 if commit else 0)
                      + kp.array([kp.string(t) + kp.array([kp.i32(p) for p in ps]) for t, ps in topics.items()])
                      + kp.i32(ce))
        r = self.c.raw(WRITE_TXN_MARKERS, 0, kp.array(ms))
        out = {}
        for _ in range(r.i32()):
            pid = r.i64()
            for _ in range(r.i32()):
                t = r.string()
                for _ in range(r.i32()):
                    p, e = r.i32(), r.i16()
                    out[(pid, t, p)] = e
        return out

    def describe(self, txn_ids):
        body = kp.compact_array([kp.compact_string(t) for t in txn_ids]) + kp.TAGS0
        r = self.c.raw(DESCRIBE_TRANSACTIONS, 0, body, True)
        r.tags()
        r.i32()
        out = []
        for _ in range(r.uvarint() - 1):
            d = {"error": r.i16(), "id": r.compact_string(), "state": r.compact_string(), "timeout": r.i32(),
                 "start": r.i64(), "pid": r.i64(), "epoch": r.i16(), "topics": {}}
            for _ in range(r.uvarint() - 1):
                t = r.compact_string()
                d["topics"][t] = [r.i32() for _ in range(r.uvarint() - 1)]
                r.tags()
            r.tags()
            out.append(d)
        r.tags()
        return out

    def list(self, states=(), pids=(), duration=-1, version=1):
        body = (kp.compact_array([kp.compact_string(s) for s in states])
                + kp.compact_array([kp.i64(p) for p in pids]))
        if version >= 1:
            body += kp.i64(duration)
        r = self.c.raw(LIST_TRANSACTIONS, version, body + kp.TAGS0, True)
        r.tags()
        r.i32()
        err = r.i16()
        unknown = [r.compact_string() for _ in range(r.uvarint() - 1)]
        out = []
        for _ in range(r.uvarint() - 1):
            out.append((r.compact_string(), r.i64(), r.compact_string()))
            r.tags()
        r.tags()
        return err, unknown, out

    def describe_producers(self, topics):
        """topics: {name: [partitions]} -> {(topic, partition): (error, [producer dicts])}."""
        body = kp.compact_array([kp.compact_string(t) + kp.compact_array([kp.i32(p) for p in ps]) + kp.TAGS0
                                 for t, ps in topics.items()]) + kp.TAGS0
        r = self.c.raw(DESCRIBE_PRODUCERS, 0, body, True)
        r.tags()
        r.i32()
        out = {}
        for _ in range(r.uvarint() - 1):
            t = r.compact_string()
            for _ in range(r.uvarint() - 1):
                p, e = r.i32(), r.i16()
                r.compact_string()
                prods = []
                for _ in range(r.uvarint() - 1):
                    prods.append({"pid": r.i64(), "epoch": r.i32(), "last_seq": r.i32(), "last_ts": r.i64(),
                                  "coord_epoch": r.i32(), "txn_start": r.i64()})
                    r.tags()
                r.tags()
                out[(t, p)] = (e, prods)
            r.tags()
        r.tags()
        return out

    def delete_records(self, topics, version=1):
        """topics: {name: [(partition, offset)]} -> {(topic, partition): (error, low watermark)}."""
        body = kp.array([kp.string(t) + kp.array([kp.i32(p) + kp.i64(o) for p, o in ps])
                         for t, ps in topics.items()]) + kp.i32(5000)
        r = self.c.raw(DELETE_RECORDS, version, body)
        r.i32()
        out = {}
        for _ in range(r.i32()):
            t = r.string()
            for _ in range(r.i32()):
                p, lw, e = r.i32(), r.i64(), r.i16()
                out[(t, p)] = (e, lw)
        return out

    def produce(self, topic, partition, batch, txn_id=None):
        """Produce v3 of one batch -> (error, base offset)."""
        body = (kp.string(txn_id) + kp.i16(-1) + kp.i32(5000)
                + kp.array([kp.string(topic) + kp.array([kp.i32(partition) + kp.bytes32(batch)])]))
        r = self.c.raw(PRODUCE, 3, body)
        r.i32()
        r.string()
        r.i32()
        p, err, base, lat = r.i32(), r.i16(), r.i64(), r.i64()
        return err, base

    def fetch(self, topic, partition, offset, isolation, max_bytes=1 << 20):
        """Fetch v4 -> {"error", "hw", "lso", "aborted": [(pid, first)] or None, "batches"}."""
        body = kp.fetch_v4([(topic, [(partition, offset, max_bytes)])], isolation=isolation)
        r = self.c.raw(FETCH, 4, body)
        r.i32()
        r.i32()
        r.string()
        r.i32()
        p, err, hw, lso = r.i32(), r.i16(), r.i64(), r.i64()
        n = r.i32()
        aborted = None if n < 0 else [(r.i64(), r.i64()) for _ in range(n)]
        recs = r.bytes32() or b""
        return {"error": err, "hw": hw, "lso": lso, "aborted": aborted, "batches": kp.split_batches(recs)}

    def list_offset(self, topic, partition, ts, isolation):
        """ListOffsets v2 -> (error, timestamp, offset)."""
        body = kp.i32(-1) + kp.i8(isolation) + kp.array([kp.string(topic) + kp.array([kp.i32(partition) + kp.i64(ts)])])
        r = self.c.raw(LIST_OFFSETS, 2, body)
        r.i32()
        r.i32()
        r.string()
        r.i32()
        p, err, t, o = r.i32(), r.i16(), r.i64(), r.i64()
        return err, t, o

    def offset_fetch(self, group, topic, partitions, require_stable=False):
        """OffsetFetch v7 (flexible) -> (top error, {partition: (offset, error)})."""
        body = (kp.compact_string(group)
                + kp.compact_array([kp.compact_string(topic) + kp.compact_array([kp.i32(p) for p in partitions])
                                    + kp.TAGS0])
                + kp.i8(1 if require_stable else 0) + kp.TAGS0)
        r = self.c.raw(OFFSET_FETCH, 7, body, True)
        r.tags()
        r.i32()
        out = {}
        for _ in range(r.uvarint() - 1):
            r.compact_string()
            for _ in range(r.uvarint() - 1):
                p, o, _ep = r.i32(), r.i64(), r.i32()
                r.compact_string()
                e = r.i16()
                r.tags()
                out[p] = (o, e)
            r.tags()
        top = r.i16()
        r.tags()
        return top, out


def begin(t, txn_id, topics, timeout_ms=60000):
    """InitProducerId + AddPartitionsToTxn -> (pid, epoch)."""
    err, pid, epoch = t.init_retry(txn_id, timeout_ms)
    assert err == NONE, err
    res = t.add_partitions(txn_id, pid, epoch, topics)
    assert set(res.values()) == {NONE}, res
    return pid, epoch
