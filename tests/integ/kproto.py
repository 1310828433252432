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
