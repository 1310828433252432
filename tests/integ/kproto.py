"""Minimal Kafka wire-protocol codec for raw-socket tests.

Only what the tests need: request framing (header v1/v2), primitive
encoders/decoders, a RecordBatch v2 builder with CRC-32C, and a blocking
request/response helper.  Independent of the broker's C code on purpose, so a
shared misunderstanding cannot hide a bug.

RecordBatch v2 layout (DefaultRecordBatch.java):

    baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 |
    magic int8 (2) | crc uint32 (CRC-32C of attributes..end) |
    attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 |
    maxTimestamp int64 | producerId int64 | producerEpoch int16 |
    baseSequence int32 | recordCount int32 | records...
"""
import socket
import struct
import time

# ---------------------------------------------------------------- CRC-32C

def _crc32c_table():
    poly = 0x82F63B78
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283

# ---------------------------------------------------------------- encoders

def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)
def u32(v): return struct.pack(">I", v)


def string(s):
    """int16-length string; None = null."""
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def bytes32(b):
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def uvarint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v):
    """zig-zag varint (also used for varlong)."""
    return uvarint((v << 1) ^ (v >> 63))


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode() if isinstance(s, str) else s
    return uvarint(len(b) + 1) + b


def compact_array(items):
    """items: list of already-encoded elements; None = null."""
    if items is None:
        return uvarint(0)
    return uvarint(len(items) + 1) + b"".join(items)


def array(items):
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(items)


TAGS0 = b"\x00"  # empty tagged-field section


def request(api_key, api_version, corr_id, body, client_id="gregor-test",
            flexible=False):
    """A complete frame (size prefix included)."""
    hdr = i16(api_key) + i16(api_version) + i32(corr_id) + string(client_id)
    if flexible:
        hdr += TAGS0
    payload = hdr + body
    return i32(len(payload)) + payload

# ---------------------------------------------------------------- records

def record(offset_delta, key, value, headers=(), ts_delta=0):
    body = i8(0) + varint(ts_delta) + varint(offset_delta)
    body += varint(-1) if key is None else varint(len(key)) + key
    body += varint(-1) if value is None else varint(len(value)) + value
    body += varint(len(headers))
    for hk, hv in headers:
        hk = hk.encode() if isinstance(hk, str) else hk
        body += varint(len(hk)) + hk
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + body


def record_batch(records, base_ts=None, base_offset=0):
    """records: list of (key, value[, headers]).  Uncompressed, CreateTime."""
    if base_ts is None:
        base_ts = int(time.time() * 1000)
    recs = b"".join(record(i, r[0], r[1], r[2] if len(r) > 2 else ())
                    for i, r in enumerate(records))
    after_crc = (i16(0) + i32(len(records) - 1) + i64(base_ts) + i64(base_ts)
                 + i64(-1) + i16(-1) + i32(-1) + i32(len(records)) + recs)
    crc = crc32c(after_crc)
    tail = i32(-1) + i8(2) + u32(crc) + after_crc      # from leaderEpoch on
    return i64(base_offset) + i32(len(tail)) + tail


CRC_OFFSET = 8 + 4 + 4 + 1   # byte offset of the crc field in a batch

# ---------------------------------------------------------------- decoding

class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def take(self, n):
        if self.p + n > len(self.d):
            raise ValueError("short read: need %d at %d of %d" % (n, self.p, len(self.d)))
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes32(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def uvarint(self):
        shift = v = 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7

    def compact_string(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def remaining(self):
        return len(self.d) - self.p

# ---------------------------------------------------------------- sockets

def connect(bootstrap, timeout=5.0):
    host, port = bootstrap.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def recv_frame(s):
    """Returns the response payload (after the size prefix)."""
    (n,) = struct.unpack(">i", recv_exact(s, 4))
    if n < 0 or n > 64 << 20:
        raise ValueError("bad response size %d" % n)
    return recv_exact(s, n)


def wait_closed(s, timeout=3.0):
    """True if the peer closes (EOF or reset) within timeout, reading and
    discarding whatever it sends first."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        s.settimeout(left)
        try:
            if not s.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def roundtrip(bootstrap, frame, timeout=5.0):
    with connect(bootstrap, timeout) as s:
        s.sendall(frame)
        return recv_frame(s)

# ---------------------------------------------------------------- more records

ATTR_GZIP = 1
ATTR_LOG_APPEND_TIME = 0x08


def record_batch_ts(records, timestamps, attributes=0, compress=None, base_offset=0):
    """Batch whose record i carries timestamps[i] (any order).  compress:
    None or a callable applied to the concatenated records (set the matching
    codec bits in attributes)."""
    base_ts = min(timestamps)
    recs = b"".join(record(i, r[0], r[1], r[2] if len(r) > 2 else (), ts_delta=t - base_ts)
                    for i, (r, t) in enumerate(zip(records, timestamps)))
    if compress is not None:
        recs = compress(recs)
    after_crc = (i16(attributes) + i32(len(records) - 1) + i64(base_ts) + i64(max(timestamps))
                 + i64(-1) + i16(-1) + i32(-1) + i32(len(records)) + recs)
    tail = i32(-1) + i8(2) + u32(crc32c(after_crc)) + after_crc
    return i64(base_offset) + i32(len(tail)) + tail


def split_batches(data):
    """Split a Records blob into whole v2 batches (a trailing partial batch,
    allowed in Fetch responses, is dropped)."""
    out, p = [], 0
    while p + 12 <= len(data):
        (n,) = struct.unpack_from(">i", data, p + 8)
        if p + 12 + n > len(data):
            break
        out.append(data[p:p + 12 + n])
        p += 12 + n
    return out


def batch_info(b):
    """Header fields of one v2 batch."""
    (base, length, ple, magic, crc, attrs, lod, bts, mts, pid, pep, bseq, cnt) = \
        struct.unpack_from(">qiibIhiqqqhii", b, 0)
    return {"base_offset": base, "length": length, "leader_epoch": ple, "magic": magic,
            "crc": crc, "attributes": attrs, "last_offset_delta": lod, "base_ts": bts,
            "max_ts": mts, "count": cnt}

# ---------------------------------------------------------------- requests

def produce_v3(topic, parts, acks=-1, timeout_ms=5000):
    """parts: [(partition, batch bytes)] -> Produce v3 body."""
    ps = [i32(p) + bytes32(b) for p, b in parts]
    return string(None) + i16(acks) + i32(timeout_ms) + array([string(topic) + array(ps)])


def parse_produce_v3(payload, corr):
    """-> {(topic, partition): (error, base_offset, log_append_time)}"""
    r = Reader(payload)
    assert r.i32() == corr
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            p, err, base, lat = r.i32(), r.i16(), r.i64(), r.i64()
            out[(name, p)] = (err, base, lat)
    r.i32()
    assert r.remaining() == 0
    return out


def fetch_v4(topics, max_wait_ms=0, min_bytes=1, max_bytes=0x7FFFFFFF, isolation=0):
    """topics: [(name, [(partition, offset, partition_max_bytes)])] -> Fetch v4 body."""
    ts = [string(n) + array([i32(p) + i64(o) + i32(m) for p, o, m in ps]) for n, ps in topics]
    return i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(isolation) + array(ts)


def parse_fetch_v4(payload, corr):
    """-> {(topic, partition): {"error", "hw", "lso", "records"}}"""
    r = Reader(payload)
    assert r.i32() == corr
    r.i32()                                   # throttle
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            p, err, hw, lso = r.i32(), r.i16(), r.i64(), r.i64()
            n = r.i32()
            for _ in range(max(n, 0)):
                r.i64(), r.i64()
            recs = r.bytes32()
            out[(name, p)] = {"error": err, "hw": hw, "lso": lso, "records": recs or b""}
    assert r.remaining() == 0
    return out


FETCH = 1
FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71
UNKNOWN_TOPIC_OR_PARTITION = 3


def fetch_session_req(topics, session_id=0, epoch=-1, forgotten=(), max_wait_ms=0, min_bytes=1,
                      max_bytes=0x7FFFFFFF, isolation=0, version=12):
    """Fetch v7..v12 body (v12 is flexible).  topics: [(name, [(partition,
    offset, partition_max_bytes)])]; forgotten: [(name, [partition, ...])]."""
    flex = version >= 12
    arr = compact_array if flex else array
    st = compact_string if flex else string
    tags = TAGS0 if flex else b""
    ts = []
    for name, ps in topics:
        parts = []
        for p, o, m in ps:
            e = i32(p)
            if version >= 9:
                e += i32(-1)                      # CurrentLeaderEpoch
            e += i64(o)
            if version >= 12:
                e += i32(-1)                      # LastFetchedEpoch
            e += i64(-1) + i32(m) + tags          # LogStartOffset, PartitionMaxBytes
            parts.append(e)
        ts.append(st(name) + arr(parts) + tags)
    fg = [st(n) + arr([i32(p) for p in ps]) + tags for n, ps in forgotten]
    body = (i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(isolation)
            + i32(session_id) + i32(epoch) + arr(ts) + arr(fg))
    if version >= 11:
        body += st("")                            # RackId
    return body + tags


def parse_fetch_session(r, version=12):
    """Reader after the correlation id -> {"error", "session_id", "parts":
    {(topic, partition): {"error", "hw", "lso", "log_start", "records"}}}."""
    flex = version >= 12
    if flex:
        r.tags()
    n_ = (lambda: r.uvarint() - 1) if flex else r.i32
    st = r.compact_string if flex else r.string
    r.i32()                                       # throttle
    out = {"error": r.i16(), "session_id": r.i32(), "parts": {}, "order": []}
    for _ in range(max(n_(), 0)):
        name = st()
        for _ in range(max(n_(), 0)):
            p, err, hw, lso, ls = r.i32(), r.i16(), r.i64(), r.i64(), r.i64()
            for _ in range(max(n_(), 0)):
                r.i64(), r.i64()
                if flex:
                    r.tags()
            if version >= 11:
                r.i32()                           # PreferredReadReplica
            if flex:
                k = r.uvarint()
                recs = None if k == 0 else r.take(k - 1)
                r.tags()
            else:
                recs = r.bytes32()
            assert (name, p) not in out["parts"], "partition listed twice"
            out["parts"][(name, p)] = {"error": err, "hw": hw, "lso": lso, "log_start": ls,
                                       "records": recs or b""}
            out["order"].append((name, p))
        if flex:
            r.tags()
    if flex:
        r.tags()
    assert r.remaining() == 0
    return out


def list_offsets_v7(topics, isolation=0):
    """topics: [(name, [(partition, timestamp)])] -> ListOffsets v7 body (flexible)."""
    ts = [compact_string(n) + compact_array([i32(p) + i32(-1) + i64(t) + TAGS0 for p, t in ps]) + TAGS0
          for n, ps in topics]
    return i32(-1) + i8(isolation) + compact_array(ts) + TAGS0


def parse_list_offsets_v7(payload, corr):
    """-> {(topic, partition): (error, timestamp, offset, leader_epoch)}"""
    r = Reader(payload)
    assert r.i32() == corr
    r.tags()                                  # response header v1
    r.i32()                                   # throttle
    out = {}
    for _ in range(r.uvarint() - 1):
        name = r.compact_string()
        for _ in range(r.uvarint() - 1):
            p, err, ts, off, ep = r.i32(), r.i16(), r.i64(), r.i64(), r.i32()
            r.tags()
            out[(name, p)] = (err, ts, off, ep)
        r.tags()
    r.tags()
    assert r.remaining() == 0
    return out


def call(bootstrap, api_key, version, body, parse, corr=1, flexible=False, timeout=10.0):
    """One request on a fresh connection; returns parse(payload, corr)."""
    return parse(roundtrip(bootstrap, request(api_key, version, corr, body, flexible=flexible),
                           timeout), corr)

# ---------------------------------------------------------------- groups
# Classic group / offset APIs in their non-flexible versions (the JSON specs
# in clients/src/main/resources/common/message/).  Each encoder returns the
# request body; each decoder takes a Reader positioned after the response
# header and returns a dict.

FIND_COORDINATOR, OFFSET_COMMIT, OFFSET_FETCH = 10, 8, 9
JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 11, 12, 13, 14
DESCRIBE_GROUPS, LIST_GROUPS, DELETE_GROUPS, OFFSET_DELETE = 15, 16, 42, 47

NONE = 0
OFFSET_METADATA_TOO_LARGE = 12
COORDINATOR_LOAD_IN_PROGRESS = 14
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
GROUP_SUBSCRIBED_TO_TOPIC = 86
MEMBER_ID_REQUIRED = 79
GROUP_MAX_SIZE_REACHED = 81
FENCED_INSTANCE_ID = 82


def subscription(topics, user_data=None, version=0):
    """ConsumerProtocolSubscription v0 bytes."""
    return i16(version) + array([string(t) for t in topics]) + bytes32(user_data)


def assignment(parts, user_data=None):
    """ConsumerProtocolAssignment v0; parts: {topic: [partition, ...]}."""
    return (i16(0) + array([string(t) + array([i32(p) for p in ps]) for t, ps in parts.items()])
            + bytes32(user_data))


def parse_assignment(b):
    if not b:
        return {}
    r = Reader(b)
    r.i16()
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        out[t] = [r.i32() for _ in range(r.i32())]
    return out


def parse_subscription(b):
    r = Reader(b)
    ver = r.i16()
    topics = [r.string() for _ in range(r.i32())]
    return {"version": ver, "topics": topics}


def enc_find_coordinator(key, version=0, key_type=0):
    return string(key) + (i8(key_type) if version >= 1 else b"")


def dec_find_coordinator(r, version=0):
    out = {}
    if version >= 1:
        out["throttle"] = r.i32()
    out["error"] = r.i16()
    if version >= 1:
        out["message"] = r.string()
    out["node_id"], out["host"], out["port"] = r.i32(), r.string(), r.i32()
    return out


def enc_join_group(group, member_id="", protocols=(("range", b""),), protocol_type="consumer",
                   session_timeout=10000, rebalance_timeout=10000, instance_id=None, version=1):
    b = string(group) + i32(session_timeout)
    if version >= 1:
        b += i32(rebalance_timeout)
    b += string(member_id)
    if version >= 5:
        b += string(instance_id)
    b += string(protocol_type)
    b += array([string(n) + bytes32(m) for n, m in protocols])
    return b


def dec_join_group(r, version=1):
    out = {}
    if version >= 2:
        out["throttle"] = r.i32()
    out["error"] = r.i16()
    out["generation"] = r.i32()
    out["protocol"] = r.string()
    out["leader"] = r.string()
    out["member_id"] = r.string()
    members = []
    for _ in range(r.i32()):
        m = {"member_id": r.string()}
        if version >= 5:
            m["instance_id"] = r.string()
        m["metadata"] = r.bytes32()
        members.append(m)
    out["members"] = members
    return out


def enc_sync_group(group, generation, member_id, assignments=(), instance_id=None, version=0):
    b = string(group) + i32(generation) + string(member_id)
    if version >= 3:
        b += string(instance_id)
    b += array([string(m) + bytes32(a) for m, a in assignments])
    return b


def dec_sync_group(r, version=0):
    out = {}
    if version >= 1:
        out["throttle"] = r.i32()
    out["error"] = r.i16()
    out["assignment"] = r.bytes32()
    return out


def enc_heartbeat(group, generation, member_id, instance_id=None, version=0):
    b = string(group) + i32(generation) + string(member_id)
    if version >= 3:
        b += string(instance_id)
    return b


def dec_error_only(r, version=0):
    out = {}
    if version >= 1:
        out["throttle"] = r.i32()
    out["error"] = r.i16()
    return out


def enc_leave_group(group, member_id, version=0):
    return string(group) + string(member_id)


def enc_offset_commit(group, offsets, generation=-1, member_id="", version=2,
                      instance_id=None, retention=-1):
    """offsets: {topic: [(partition, offset, metadata), ...]}.  v2..v7."""
    b = string(group)
    if version >= 1:
        b += i32(generation) + string(member_id)
    if version >= 7:
        b += string(instance_id)
    if 2 <= version <= 4:
        b += i64(retention)
    tops = []
    for t, ps in offsets.items():
        parts = []
        for p, o, md in ps:
            e = i32(p) + i64(o)
            if version == 1:
                e += i64(-1)
            if version >= 6:
                e += i32(-1)
            parts.append(e + string(md))
        tops.append(string(t) + array(parts))
    return b + array(tops)


def dec_offset_commit(r, version=2):
    """Returns {"throttle"?, "errors": {(topic, partition): code}}."""
    out = {}
    if version >= 3:
        out["throttle"] = r.i32()
    errs = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            errs[(t, p)] = r.i16()
    out["errors"] = errs
    return out


def enc_offset_fetch(group, topics=None, version=1):
    """topics: {topic: [partition, ...]} or None (all, v2+)."""
    if topics is None:
        return string(group) + i32(-1)
    return string(group) + array([string(t) + array([i32(p) for p in ps])
                                  for t, ps in topics.items()])


def dec_offset_fetch(r, version=1):
    """Returns {"offsets": {(t, p): (offset, metadata, error)}, "error"?}."""
    out = {}
    if version >= 3:
        out["throttle"] = r.i32()
    offs = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            o = r.i64()
            if version >= 5:
                r.i32()
            md = r.string()
            offs[(t, p)] = (o, md, r.i16())
    out["offsets"] = offs
    if version >= 2:
        out["error"] = r.i16()
    return out


def enc_describe_groups(groups, version=0):
    b = array([string(g) for g in groups])
    if version >= 3:
        b += i8(0)
    return b


def dec_describe_groups(r, version=0):
    out = {}
    if version >= 1:
        out["throttle"] = r.i32()
    groups = []
    for _ in range(r.i32()):
        g = {"error": r.i16(), "group_id": r.string(), "state": r.string(),
             "protocol_type": r.string(), "protocol": r.string()}
        ms = []
        for _ in range(r.i32()):
            m = {"member_id": r.string()}
            if version >= 4:
                m["instance_id"] = r.string()
            m["client_id"], m["client_host"] = r.string(), r.string()
            m["metadata"], m["assignment"] = r.bytes32(), r.bytes32()
            ms.append(m)
        g["members"] = ms
        if version >= 3:
            g["authorized_operations"] = r.i32()
        groups.append(g)
    out["groups"] = groups
    return out


def dec_list_groups(r, version=0):
    out = {}
    if version >= 1:
        out["throttle"] = r.i32()
    out["error"] = r.i16()
    out["groups"] = [(r.string(), r.string()) for _ in range(r.i32())]
    return out


def enc_delete_groups(groups, version=0):
    return array([string(g) for g in groups])


def dec_delete_groups(r, version=0):
    out = {"throttle": r.i32()}
    out["results"] = {}
    for _ in range(r.i32()):
        g = r.string()
        out["results"][g] = r.i16()
    return out


def enc_offset_delete(group, topics, version=0):
    """topics: {topic: [partition, ...]}."""
    return string(group) + array([string(t) + array([i32(p) for p in ps])
                                  for t, ps in topics.items()])


def dec_offset_delete(r, version=0):
    out = {"error": r.i16(), "throttle": r.i32(), "errors": {}}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            out["errors"][(t, p)] = r.i16()
    return out


_ENC = {FIND_COORDINATOR: enc_find_coordinator, JOIN_GROUP: enc_join_group,
        SYNC_GROUP: enc_sync_group, HEARTBEAT: enc_heartbeat, LEAVE_GROUP: enc_leave_group,
        OFFSET_COMMIT: enc_offset_commit, OFFSET_FETCH: enc_offset_fetch,
        DESCRIBE_GROUPS: enc_describe_groups, DELETE_GROUPS: enc_delete_groups,
        OFFSET_DELETE: enc_offset_delete}
_DEC = {FIND_COORDINATOR: dec_find_coordinator, JOIN_GROUP: dec_join_group,
        SYNC_GROUP: dec_sync_group, HEARTBEAT: dec_error_only, LEAVE_GROUP: dec_error_only,
        OFFSET_COMMIT: dec_offset_commit, OFFSET_FETCH: dec_offset_fetch,
        DESCRIBE_GROUPS: dec_describe_groups, LIST_GROUPS: dec_list_groups,
        DELETE_GROUPS: dec_delete_groups, OFFSET_DELETE: dec_offset_delete}


class Conn:
    """One blocking connection; call(api, version, body) -> decoded dict.
    Responses are matched by correlation id."""

    def __init__(self, bootstrap, timeout=15.0, client_id="gregor-test"):
        self.s = connect(bootstrap, timeout)
        self.corr = 0
        self.client_id = client_id

    def send(self, api_key, version, body, flexible=False):
        self.corr += 1
        self.s.sendall(request(api_key, version, self.corr, body, client_id=self.client_id,
                               flexible=flexible))

    def recv(self):
        r = Reader(recv_frame(self.s))
        corr = r.i32()
        if corr != self.corr:
            raise ValueError("correlation id %d, expected %d" % (corr, self.corr))
        return r

    def raw(self, api_key, version, body, flexible=False):
        self.send(api_key, version, body, flexible)
        return self.recv()

    def fetch(self, topics=(), version=12, **kw):
        """Fetch v7..v12 (fetch_session_req arguments) -> parse_fetch_session."""
        r = self.raw(FETCH, version, fetch_session_req(topics, version=version, **kw), version >= 12)
        return parse_fetch_session(r, version)

    def call(self, api_key, version, *args, **kw):
        body = _ENC[api_key](*args, **dict(kw, version=version)) if api_key != LIST_GROUPS else b""
        r = self.raw(api_key, version, body)
        out = _DEC[api_key](r, version)
        if r.remaining():
            raise ValueError("api %d v%d: %d trailing bytes" % (api_key, version, r.remaining()))
        return out

    def close(self):
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def describe_group(bootstrap, group, version=0):
    with Conn(bootstrap) as c:
        [g] = c.call(DESCRIBE_GROUPS, version, [group])["groups"]
        return g

# ---------------------------------------------------------------- __consumer_offsets records

def parse_offsets_record(key, value):
    """Decode one __consumer_offsets record (protocol-notes §4).  Returns
    ("offset", (group, topic, partition), {...}|None) or
    ("group", group, {...}|None); None value = tombstone."""
    k = Reader(key)
    kver = k.i16()
    if kver in (0, 1):
        ident = (k.string(), k.string(), k.i32())
        if value is None:
            return ("offset", ident, None)
        v = Reader(value)
        vver = v.i16()
        d = {"version": vver, "offset": v.i64()}
        if vver >= 3:
            d["leader_epoch"] = v.i32()
        d["metadata"] = v.string()
        d["commit_ts"] = v.i64()
        if vver == 1:
            d["expire_ts"] = v.i64()
        return ("offset", ident, d)
    if kver == 2:
        g = k.string()
        if value is None:
            return ("group", g, None)
        v = Reader(value)
        vver = v.i16()
        d = {"version": vver, "protocol_type": v.string(), "generation": v.i32(),
             "protocol": v.string(), "leader": v.string()}
        if vver >= 2:
            d["state_ts"] = v.i64()
        members = []
        for _ in range(v.i32()):
            m = {"member_id": v.string()}
            if vver >= 3:
                m["instance_id"] = v.string()
            m["client_id"], m["client_host"] = v.string(), v.string()
            if vver >= 1:
                m["rebalance_timeout"] = v.i32()
            m["session_timeout"] = v.i32()
            m["subscription"], m["assignment"] = v.bytes32(), v.bytes32()
            members.append(m)
        d["members"] = members
        return ("group", g, d)
    raise ValueError("unknown key version %d" % kver)
