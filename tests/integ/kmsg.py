"""Table-driven request/response codec for the raw-protocol tests of the
APIs and versions served since the protocol-coverage work (kproto.py has
the older, hand-written ones).

The message layouts below are transcribed by hand from Kafka's message
specs, independently of the broker's generated codec, so that a shared
misreading of a spec shows up as a test failure.  A layout is a list of
fields F(name, type, versions, ...):

  type: "i8" "i16" "i32" "i64" "bool" "str" "bytes" "uuid" "records"
        ["i32"]          array of a primitive
        [F(...), ...]    array of structs
        (F(...), ...)    a struct (tuple), e.g. a nullable cursor
  versions: "0+", "3+", "0-2", "4"
  null: versions in which the field may be null (None)
  tag: the tag of a tagged field (flexible versions only)

Values are dicts keyed by field name; a missing field encodes its zero (or
`default`), None encodes null.  Tagged fields are written only when given.
"""
import struct

import kproto as kp


def _vin(spec, v):
    if spec is None:
        return False
    if spec.endswith("+"):
        return v >= int(spec[:-1])
    if "-" in spec:
        lo, hi = spec.split("-")
        return int(lo) <= v <= int(hi)
    return v == int(spec)


class F:
    def __init__(self, name, type_, versions="0+", null=None, tag=None, default=None):
        self.name, self.type, self.versions = name, type_, versions
        self.null, self.tag, self.default = null, tag, default


ZERO = {"i8": 0, "i16": 0, "i32": 0, "i64": 0, "bool": False, "str": "", "bytes": b"",
        "uuid": b"\0" * 16, "records": b""}


def _enc_prim(t, val, flex):
    if t == "i8":
        return struct.pack(">b", val)
    if t == "i16":
        return struct.pack(">h", val)
    if t == "i32":
        return struct.pack(">i", val)
    if t == "i64":
        return struct.pack(">q", val)
    if t == "bool":
        return b"\x01" if val else b"\x00"
    if t == "uuid":
        assert len(val) == 16
        return val
    if t == "str":
        if val is None:
            return kp.uvarint(0) if flex else kp.i16(-1)
        b = val.encode() if isinstance(val, str) else val
        return (kp.uvarint(len(b) + 1) if flex else kp.i16(len(b))) + b
    if t in ("bytes", "records"):
        if val is None:
            return kp.uvarint(0) if flex else kp.i32(-1)
        return (kp.uvarint(len(val) + 1) if flex else kp.i32(len(val))) + val
    raise ValueError(t)


def _enc_value(f, t, val, v, flex):
    if isinstance(t, list):
        if val is None:
            return kp.uvarint(0) if flex else kp.i32(-1)
        head = kp.uvarint(len(val) + 1) if flex else kp.i32(len(val))
        if isinstance(t[0], str):
            return head + b"".join(_enc_prim(t[0], x, flex) for x in val)
        return head + b"".join(encode(t, v, x, flex) for x in val)
    if isinstance(t, tuple):
        if val is None:
            return b"\xff"          # nullable struct: int8 -1
        return (b"\x01" if f.null and _vin(f.null, v) else b"") + encode(list(t), v, val, flex)
    return _enc_prim(t, val, flex)


def encode(fields, v, vals, flex):
    out, tagged = [], []
    for f in fields:
        if not _vin(f.versions, v):
            continue
        if f.tag is not None:
            if flex and f.name in vals:
                tagged.append((f.tag, _enc_value(f, f.type, vals[f.name], v, flex)))
            continue
        if f.name in vals:
            val = vals[f.name]
        elif f.default is not None:
            val = f.default
        elif isinstance(f.type, (list, tuple)):
            val = [] if isinstance(f.type, list) else None
        else:
            val = ZERO[f.type]
        out.append(_enc_value(f, f.type, val, v, flex))
    if flex:
        tagged.sort()
        out.append(kp.uvarint(len(tagged)))
        for tag, data in tagged:
            out.append(kp.uvarint(tag) + kp.uvarint(len(data)) + data)
    return b"".join(out)


def _dec_prim(r, t, flex):
    if t == "i8":
        return r.i8()
    if t == "i16":
        return r.i16()
    if t == "i32":
        return r.i32()
    if t == "i64":
        return r.i64()
    if t == "bool":
        b = r.i8()
        assert b in (0, 1), "bool byte %d" % b
        return bool(b)
    if t == "uuid":
        return r.take(16)
    if t == "str":
        if flex:
            n = r.uvarint() - 1
            return None if n < 0 else r.take(n).decode("utf-8", "replace")
        return r.string()
    if t in ("bytes", "records"):
        if flex:
            n = r.uvarint() - 1
            return None if n < 0 else r.take(n)
        return r.bytes32()
    raise ValueError(t)


def _dec_value(f, t, r, v, flex):
    if isinstance(t, list):
        n = r.uvarint() - 1 if flex else r.i32()
        if n < 0:
            return None
        if isinstance(t[0], str):
            return [_dec_prim(r, t[0], flex) for _ in range(n)]
        return [decode(t, v, r, flex) for _ in range(n)]
    if isinstance(t, tuple):
        if f.null and _vin(f.null, v):
            if r.i8() < 0:
                return None
        return decode(list(t), v, r, flex)
    return _dec_prim(r, t, flex)


def decode(fields, v, r, flex):
    d = {}
    bytag = {}
    for f in fields:
        if not _vin(f.versions, v):
            continue
        if f.tag is not None:
            bytag[f.tag] = f
            continue
        d[f.name] = _dec_value(f, f.type, r, v, flex)
    if flex:
        for _ in range(r.uvarint()):
            tag, size = r.uvarint(), r.uvarint()
            data = r.take(size)
            if tag in bytag and flex:
                sub = kp.Reader(data)
                d[bytag[tag].name] = _dec_value(bytag[tag], bytag[tag].type, sub, v, flex)
                assert sub.remaining() == 0, "tag %d: %d bytes left" % (tag, sub.remaining())
            else:
                d.setdefault("_unknown_tags", {})[tag] = data
    return d


# ---------------------------------------------------------------- layouts

ALTER_CONFIGS = (33, 2, [
    F("Resources", [F("ResourceType", "i8"), F("ResourceName", "str"),
                    F("Configs", [F("Name", "str"), F("Value", "str", null="0+")])]),
    F("ValidateOnly", "bool")], [
    F("ThrottleTimeMs", "i32"),
    F("Responses", [F("ErrorCode", "i16"), F("ErrorMessage", "str", null="0+"),
                    F("ResourceType", "i8"), F("ResourceName", "str")])])

INCREMENTAL_ALTER_CONFIGS = (44, 1, [
    F("Resources", [F("ResourceType", "i8"), F("ResourceName", "str"),
                    F("Configs", [F("Name", "str"), F("ConfigOperation", "i8"), F("Value", "str", null="0+")])]),
    F("ValidateOnly", "bool")], [
    F("ThrottleTimeMs", "i32"),
    F("Responses", [F("ErrorCode", "i16"), F("ErrorMessage", "str", null="0+"),
                    F("ResourceType", "i8"), F("ResourceName", "str")])])

DESCRIBE_LOG_DIRS = (35, 2, [
    F("Topics", [F("Topic", "str"), F("Partitions", ["i32"])], null="0+")], [
    F("ThrottleTimeMs", "i32"), F("ErrorCode", "i16", "3+"),
    F("Results", [F("ErrorCode", "i16"), F("LogDir", "str"),
                  F("Topics", [F("Name", "str"),
                               F("Partitions", [F("PartitionIndex", "i32"), F("PartitionSize", "i64"),
                                                F("OffsetLag", "i64"), F("IsFutureKey", "bool")])]),
                  F("TotalBytes", "i64", "4+"), F("UsableBytes", "i64", "4+")])])

ALTER_REPLICA_LOG_DIRS = (34, 2, [
    F("Dirs", [F("Path", "str"), F("Topics", [F("Name", "str"), F("Partitions", ["i32"])])])], [
    F("ThrottleTimeMs", "i32"),
    F("Results", [F("TopicName", "str"),
                  F("Partitions", [F("PartitionIndex", "i32"), F("ErrorCode", "i16")])])])

OFFSET_FOR_LEADER_EPOCH = (23, 4, [
    F("ReplicaId", "i32", "3+", default=-1),
    F("Topics", [F("Topic", "str"),
                 F("Partitions", [F("Partition", "i32"), F("CurrentLeaderEpoch", "i32", "2+", default=-1),
                                  F("LeaderEpoch", "i32")])])], [
    F("ThrottleTimeMs", "i32", "2+"),
    F("Topics", [F("Topic", "str"),
                 F("Partitions", [F("ErrorCode", "i16"), F("Partition", "i32"), F("LeaderEpoch", "i32", "1+"),
                                  F("EndOffset", "i64")])])])

ELECT_LEADERS = (43, 2, [
    F("ElectionType", "i8", "1+"),
    F("TopicPartitions", [F("Topic", "str"), F("Partitions", ["i32"])], null="0+"),
    F("TimeoutMs", "i32", default=60000)], [
    F("ThrottleTimeMs", "i32"), F("ErrorCode", "i16", "1+"),
    F("ReplicaElectionResults", [F("Topic", "str"),
                                 F("PartitionResult", [F("PartitionId", "i32"), F("ErrorCode", "i16"),
                                                       F("ErrorMessage", "str", null="0+")])])])

ALTER_PARTITION_REASSIGNMENTS = (45, 0, [
    F("TimeoutMs", "i32", default=60000),
    F("Topics", [F("Name", "str"),
                 F("Partitions", [F("PartitionIndex", "i32"), F("Replicas", ["i32"], null="0+")])])], [
    F("ThrottleTimeMs", "i32"), F("ErrorCode", "i16"), F("ErrorMessage", "str", null="0+"),
    F("Responses", [F("Name", "str"),
                    F("Partitions", [F("PartitionIndex", "i32"), F("ErrorCode", "i16"),
                                     F("ErrorMessage", "str", null="0+")])])])

LIST_PARTITION_REASSIGNMENTS = (46, 0, [
    F("TimeoutMs", "i32", default=60000),
    F("Topics", [F("Name", "str"), F("PartitionIndexes", ["i32"])], null="0+")], [
    F("ThrottleTimeMs", "i32"), F("ErrorCode", "i16"), F("ErrorMessage", "str", null="0+"),
    F("Topics", [F("Name", "str"),
                 F("Partitions", [F("PartitionIndex", "i32"), F("Replicas", ["i32"]),
                                  F("AddingReplicas", ["i32"]), F("RemovingReplicas", ["i32"])])])])

CURSOR = (F("TopicName", "str"), F("PartitionIndex", "i32"))
DESCRIBE_TOPIC_PARTITIONS = (75, 0, [
    F("Topics", [F("Name", "str")]), F("ResponsePartitionLimit", "i32", default=2000),
    F("Cursor", CURSOR, null="0+")], [
    F("ThrottleTimeMs", "i32"),
    F("Topics", [F("ErrorCode", "i16"), F("Name", "str", null="0+"), F("TopicId", "uuid"),
                 F("IsInternal", "bool"),
                 F("Partitions", [F("ErrorCode", "i16"), F("PartitionIndex", "i32"), F("LeaderId", "i32"),
                                  F("LeaderEpoch", "i32"), F("ReplicaNodes", ["i32"]), F("IsrNodes", ["i32"]),
                                  F("EligibleLeaderReplicas", ["i32"], null="0+"),
                                  F("LastKnownElr", ["i32"], null="0+"), F("OfflineReplicas", ["i32"])]),
                 F("TopicAuthorizedOperations", "i32")]),
    F("NextCursor", CURSOR, null="0+")])

GET_TELEMETRY_SUBSCRIPTIONS = (71, 0, [F("ClientInstanceId", "uuid")], [
    F("ThrottleTimeMs", "i32"), F("ErrorCode", "i16"), F("ClientInstanceId", "uuid"), F("SubscriptionId", "i32"),
    F("AcceptedCompressionTypes", ["i8"]), F("PushIntervalMs", "i32"), F("TelemetryMaxBytes", "i32"),
    F("DeltaTemporality", "bool"), F("RequestedMetrics", ["str"])])

PUSH_TELEMETRY = (72, 0, [
    F("ClientInstanceId", "uuid"), F("SubscriptionId", "i32"), F("Terminating", "bool"),
    F("CompressionType", "i8"), F("Metrics", "bytes")], [
    F("ThrottleTimeMs", "i32"), F("ErrorCode", "i16")])

UPDATE_FEATURES = (57, 0, [
    F("timeoutMs", "i32", default=60000),
    F("FeatureUpdates", [F("Feature", "str"), F("MaxVersionLevel", "i16"), F("AllowDowngrade", "bool", "0"),
                         F("UpgradeType", "i8", "1+", default=1)]),
    F("ValidateOnly", "bool", "1+")], [
    F("ThrottleTimeMs", "i32"), F("ErrorCode", "i16"), F("ErrorMessage", "str", null="0+"),
    F("Results", [F("Feature", "str"), F("ErrorCode", "i16"), F("ErrorMessage", "str", null="0+")], "0-1")])

LIST_CLIENT_METRICS_RESOURCES = (74, 0, [], [
    F("ThrottleTimeMs", "i32"), F("ErrorCode", "i16"), F("ClientMetricsResources", [F("Name", "str")])])

API_VERSIONS = (18, 3, [
    F("ClientSoftwareName", "str", "3+"), F("ClientSoftwareVersion", "str", "3+")], [
    F("ErrorCode", "i16"),
    F("ApiKeys", [F("ApiKey", "i16"), F("MinVersion", "i16"), F("MaxVersion", "i16")]),
    F("ThrottleTimeMs", "i32", "1+"),
    F("SupportedFeatures", [F("Name", "str"), F("MinVersion", "i16"), F("MaxVersion", "i16")], "3+", tag=0),
    F("FinalizedFeaturesEpoch", "i64", "3+", tag=1),
    F("FinalizedFeatures", [F("Name", "str"), F("MaxVersionLevel", "i16"), F("MinVersionLevel", "i16")],
      "3+", tag=2),
    F("ZkMigrationReady", "bool", "3+", tag=3)])

DESCRIBE_CLUSTER = (60, 0, [
    F("IncludeClusterAuthorizedOperations", "bool"), F("EndpointType", "i8", "1+", default=1)], [
    F("ThrottleTimeMs", "i32"), F("ErrorCode", "i16"), F("ErrorMessage", "str", null="0+"),
    F("EndpointType", "i8", "1+"), F("ClusterId", "str"), F("ControllerId", "i32"),
    F("Brokers", [F("BrokerId", "i32"), F("Host", "str"), F("Port", "i32"), F("Rack", "str", null="0+")]),
    F("ClusterAuthorizedOperations", "i32")])

LIST_OFFSETS = (2, 6, [
    F("ReplicaId", "i32", default=-1), F("IsolationLevel", "i8", "2+"),
    F("Topics", [F("Name", "str"),
                 F("Partitions", [F("PartitionIndex", "i32"), F("CurrentLeaderEpoch", "i32", "4+", default=-1),
                                  F("Timestamp", "i64"), F("MaxNumOffsets", "i32", "0", default=1)])]),
    F("TimeoutMs", "i32", "10+")], [
    F("ThrottleTimeMs", "i32", "2+"),
    F("Topics", [F("Name", "str"),
                 F("Partitions", [F("PartitionIndex", "i32"), F("ErrorCode", "i16"),
                                  F("OldStyleOffsets", ["i64"], "0"), F("Timestamp", "i64", "1+"),
                                  F("Offset", "i64", "1+"), F("LeaderEpoch", "i32", "4+")])])])

NODE_ENDPOINT = [F("NodeId", "i32"), F("Host", "str"), F("Port", "i32"), F("Rack", "str", null="0+")]
LEADER_ID_EPOCH = (F("LeaderId", "i32", default=-1), F("LeaderEpoch", "i32", default=-1))

PRODUCE = (0, 9, [
    F("TransactionalId", "str", "3+", null="3+"), F("Acks", "i16"), F("TimeoutMs", "i32"),
    F("TopicData", [F("Name", "str"),
                    F("PartitionData", [F("Index", "i32"), F("Records", "records", null="0+")])])], [
    F("Responses", [F("Name", "str"),
                    F("PartitionResponses", [
                        F("Index", "i32"), F("ErrorCode", "i16"), F("BaseOffset", "i64"),
                        F("LogAppendTimeMs", "i64", "2+"), F("LogStartOffset", "i64", "5+"),
                        F("RecordErrors", [F("BatchIndex", "i32"),
                                           F("BatchIndexErrorMessage", "str", null="8+")], "8+"),
                        F("ErrorMessage", "str", "8+", null="8+"),
                        F("CurrentLeader", LEADER_ID_EPOCH, "10+", tag=0)])]),
    F("ThrottleTimeMs", "i32", "1+"),
    F("NodeEndpoints", NODE_ENDPOINT, "10+", tag=0)])

FETCH = (1, 12, [
    F("ClusterId", "str", "12+", null="12+", tag=0),
    F("ReplicaId", "i32", "0-14", default=-1),
    F("ReplicaState", (F("ReplicaId", "i32", default=-1), F("ReplicaEpoch", "i64", default=-1)), "15+", tag=1),
    F("MaxWaitMs", "i32"), F("MinBytes", "i32"), F("MaxBytes", "i32", "3+", default=0x7FFFFFFF),
    F("IsolationLevel", "i8", "4+"), F("SessionId", "i32", "7+"), F("SessionEpoch", "i32", "7+", default=-1),
    F("Topics", [F("Topic", "str", "0-12"), F("TopicId", "uuid", "13+"),
                 F("Partitions", [F("Partition", "i32"), F("CurrentLeaderEpoch", "i32", "9+", default=-1),
                                  F("FetchOffset", "i64"), F("LastFetchedEpoch", "i32", "12+", default=-1),
                                  F("LogStartOffset", "i64", "5+", default=-1), F("PartitionMaxBytes", "i32"),
                                  F("ReplicaDirectoryId", "uuid", "17+", tag=0)])]),
    F("ForgottenTopicsData", [F("Topic", "str", "7-12"), F("TopicId", "uuid", "13+"),
                              F("Partitions", ["i32"])], "7+"),
    F("RackId", "str", "11+")], [
    F("ThrottleTimeMs", "i32", "1+"), F("ErrorCode", "i16", "7+"), F("SessionId", "i32", "7+"),
    F("Responses", [F("Topic", "str", "0-12"), F("TopicId", "uuid", "13+"),
                    F("Partitions", [
                        F("PartitionIndex", "i32"), F("ErrorCode", "i16"), F("HighWatermark", "i64"),
                        F("LastStableOffset", "i64", "4+"), F("LogStartOffset", "i64", "5+"),
                        F("DivergingEpoch", (F("Epoch", "i32"), F("EndOffset", "i64")), "12+", tag=0),
                        F("CurrentLeader", LEADER_ID_EPOCH, "12+", tag=1),
                        F("SnapshotId", (F("EndOffset", "i64"), F("Epoch", "i32")), "12+", tag=2),
                        F("AbortedTransactions", [F("ProducerId", "i64"), F("FirstOffset", "i64")], "4+",
                          null="4+"),
                        F("PreferredReadReplica", "i32", "11+"),
                        F("Records", "records", null="0+")])]),
    F("NodeEndpoints", NODE_ENDPOINT, "16+", tag=0)])

METADATA = (3, 9, [
    F("Topics", [F("TopicId", "uuid", "10+"), F("Name", "str", null="10+")], null="1+"),
    F("AllowAutoTopicCreation", "bool", "4+", default=True),
    F("IncludeClusterAuthorizedOperations", "bool", "8-10"),
    F("IncludeTopicAuthorizedOperations", "bool", "8+")], [
    F("ThrottleTimeMs", "i32", "3+"),
    F("Brokers", [F("NodeId", "i32"), F("Host", "str"), F("Port", "i32"), F("Rack", "str", "1+", null="1+")]),
    F("ClusterId", "str", "2+", null="2+"), F("ControllerId", "i32", "1+"),
    F("Topics", [F("ErrorCode", "i16"), F("Name", "str", null="12+"), F("TopicId", "uuid", "10+"),
                 F("IsInternal", "bool", "1+"),
                 F("Partitions", [F("ErrorCode", "i16"), F("PartitionIndex", "i32"), F("LeaderId", "i32"),
                                  F("LeaderEpoch", "i32", "7+"), F("ReplicaNodes", ["i32"]), F("IsrNodes", ["i32"]),
                                  F("OfflineReplicas", ["i32"], "5+")]),
                 F("TopicAuthorizedOperations", "i32", "8+")]),
    F("ClusterAuthorizedOperations", "i32", "8-10")])

FIND_COORDINATOR = (10, 3, [
    F("Key", "str", "0-3"), F("KeyType", "i8", "1+"), F("CoordinatorKeys", ["str"], "4+")], [
    F("ThrottleTimeMs", "i32", "1+"), F("ErrorCode", "i16", "0-3"), F("ErrorMessage", "str", "1-3", null="1-3"),
    F("NodeId", "i32", "0-3"), F("Host", "str", "0-3"), F("Port", "i32", "0-3"),
    F("Coordinators", [F("Key", "str"), F("NodeId", "i32"), F("Host", "str"), F("Port", "i32"),
                       F("ErrorCode", "i16"), F("ErrorMessage", "str", null="4+")], "4+")])

OFFSET_FETCH_PARTITION = [F("PartitionIndex", "i32"), F("CommittedOffset", "i64"),
                          F("CommittedLeaderEpoch", "i32", "5+"), F("Metadata", "str", null="0+"),
                          F("ErrorCode", "i16")]
OFFSET_FETCH = (9, 6, [
    F("GroupId", "str", "0-7"),
    F("Topics", [F("Name", "str"), F("PartitionIndexes", ["i32"])], "0-7", null="2-7"),
    F("Groups", [F("GroupId", "str"), F("MemberId", "str", "9+", null="9+"),
                 F("MemberEpoch", "i32", "9+", default=-1),
                 F("Topics", [F("Name", "str"), F("PartitionIndexes", ["i32"])], null="8+")], "8+"),
    F("RequireStable", "bool", "7+")], [
    F("ThrottleTimeMs", "i32", "3+"),
    F("Topics", [F("Name", "str"), F("Partitions", OFFSET_FETCH_PARTITION)], "0-7"),
    F("ErrorCode", "i16", "2-7"),
    F("Groups", [F("GroupId", "str"),
                 F("Topics", [F("Name", "str"), F("Partitions", OFFSET_FETCH_PARTITION)]),
                 F("ErrorCode", "i16")], "8+")])

OFFSET_COMMIT = (8, 8, [
    F("GroupId", "str"), F("GenerationIdOrMemberEpoch", "i32", "1+", default=-1),
    F("MemberId", "str", "1+"), F("GroupInstanceId", "str", "7+", null="7+"),
    F("RetentionTimeMs", "i64", "2-4", default=-1),
    F("Topics", [F("Name", "str"),
                 F("Partitions", [F("PartitionIndex", "i32"), F("CommittedOffset", "i64"),
                                  F("CommittedLeaderEpoch", "i32", "6+", default=-1),
                                  F("CommitTimestamp", "i64", "1", default=-1),
                                  F("CommittedMetadata", "str", null="0+")])])], [
    F("ThrottleTimeMs", "i32", "3+"),
    F("Topics", [F("Name", "str"), F("Partitions", [F("PartitionIndex", "i32"), F("ErrorCode", "i16")])])])

CONSUMER_GROUP_HEARTBEAT = (68, 0, [
    F("GroupId", "str"), F("MemberId", "str"), F("MemberEpoch", "i32"),
    F("InstanceId", "str", null="0+"), F("RackId", "str", null="0+"),
    F("RebalanceTimeoutMs", "i32", default=-1),
    F("SubscribedTopicNames", ["str"], null="0+"), F("SubscribedTopicRegex", "str", "1+", null="1+"),
    F("ServerAssignor", "str", null="0+"),
    F("TopicPartitions", [F("TopicId", "uuid"), F("Partitions", ["i32"])], null="0+")], [
    F("ThrottleTimeMs", "i32"), F("ErrorCode", "i16"), F("ErrorMessage", "str", null="0+"),
    F("MemberId", "str", null="0+"), F("MemberEpoch", "i32"), F("HeartbeatIntervalMs", "i32"),
    F("Assignment", (F("TopicPartitions", [F("TopicId", "uuid"), F("Partitions", ["i32"])]),), null="0+")])

def call(conn, api, version, body=None, raw=False):
    """Send `body` (dict) as API `api` (a layout tuple) at `version` on a
    kproto.Conn; returns the decoded response (dict), checking that nothing
    is left over.  raw=True: return the Reader after the header instead."""
    key, flex_min, req, resp = api
    flex = version >= flex_min
    r = conn.raw(key, version, encode(req, version, body or {}, flex), flexible=flex)
    if flex and key != 18:        # ApiVersions answers with response header v0 always
        r.tags()
    if raw:
        return r
    out = decode(resp, version, r, flex)
    assert r.remaining() == 0, "api %d v%d: %d trailing bytes" % (key, version, r.remaining())
    return out


def frame(api, version, body, corr=1):
    """A whole request frame (for tests that send it themselves)."""
    key, flex_min, req, _ = api
    flex = version >= flex_min
    return kp.request(key, version, corr, encode(req, version, body, flex), flexible=flex)
