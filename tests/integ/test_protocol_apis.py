"""Raw-protocol tests of the APIs and versions a Kafka 4.0 broker serves to
clients: every version of each API from 0, against the layouts of kmsg.py
(transcribed from Kafka's message specs).

What Kafka answers is the reference: the error codes and messages of its
KRaft broker and controller for a single-node cluster (this broker is the
only replica of everything)."""
import os
import struct

import pytest

import ck
import kmsg
import kproto as kp

BROKER_OVERRIDES = {"num.partitions": "1"}

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
UNSUPPORTED_VERSION = 35
INVALID_CONFIG = 40
INVALID_REQUEST = 42
INVALID_REPLICA_ASSIGNMENT = 39
POLICY_VIOLATION = 44
ELECTION_NOT_NEEDED = 84
NO_REASSIGNMENT_IN_PROGRESS = 85
UNKNOWN_TOPIC_ID = 100
MISMATCHED_ENDPOINT_TYPE = 114
UNSUPPORTED_ENDPOINT_TYPE = 115
UNKNOWN_SUBSCRIPTION_ID = 117
TELEMETRY_TOO_LARGE = 118

TOPIC, BROKER = 2, 4
UNKNOWN_MEMBER_ID = 25
STALE_MEMBER_EPOCH = 113
# the operations of a resource type (AclOperation codes as a bit field)
TOPIC_OPS = sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))      # READ..ALTER_CONFIGS
CLUSTER_OPS = sum(1 << op for op in (5, 7, 8, 9, 10, 11, 12))      # CREATE..IDEMPOTENT_WRITE


def conn(broker):
    return kp.Conn(broker.bootstrap)


def topic_configs(broker, topic):
    """Overrides of a topic (DescribeConfigs through confluent-kafka)."""
    from confluent_kafka.admin import ConfigResource
    a = ck.admin(broker)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    cfg = a.describe_configs([res])[res].result(timeout=20)
    return {k: v.value for k, v in cfg.items() if v.source == 1}     # DYNAMIC_TOPIC_CONFIG


# ------------------------------------------------------------------ ApiVersions

@pytest.mark.parametrize("version", [3, 4])
def test_api_versions_features(broker, version):
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.API_VERSIONS, version, {"ClientSoftwareName": "t", "ClientSoftwareVersion": "1"})
    assert r["ErrorCode"] == NONE
    sup = {f["Name"]: (f["MinVersion"], f["MaxVersion"]) for f in r.get("SupportedFeatures", [])}
    fin = {f["Name"]: (f["MinVersionLevel"], f["MaxVersionLevel"]) for f in r.get("FinalizedFeatures", [])}
    # metadata.version: 3.3-IV3 (7) .. 4.0-IV0 (22), finalized at 22
    assert sup["metadata.version"] == (7, 22)
    # group.version 1: KIP-848 consumer groups, finalized as in a Kafka 4.0 cluster
    assert fin == {"metadata.version": (22, 22), "group.version": (1, 1)}
    assert r["FinalizedFeaturesEpoch"] >= 0
    if version >= 4:
        # no transactions: supported at level 0 only
        assert sup["group.version"] == (0, 1) and sup["transaction.version"] == (0, 0)
    else:
        # KAFKA-17492: features whose minimum is 0 are left out below v4
        assert "group.version" not in sup and "transaction.version" not in sup
    keys = {k["ApiKey"]: (k["MinVersion"], k["MaxVersion"]) for k in r["ApiKeys"]}
    assert keys[18] == (0, 4)


# ------------------------------------------------------------------ UpdateFeatures

INVALID_UPDATE_VERSION = 95


@pytest.mark.parametrize("version", [0, 1, 2])
def test_update_features(broker, version):
    """The feature levels are fixed: an update to the level a feature is at
    passes (a no-op, as in Kafka), any other is refused with Kafka's error
    and message, and one refusal fails the whole request; ApiVersions still
    reports the same levels afterwards."""
    def upd(updates, validate=False):
        body = {"FeatureUpdates": [dict({"Feature": f, "MaxVersionLevel": v}, **kw) for f, v, kw in updates],
                "ValidateOnly": validate}
        with conn(broker) as c:
            return kmsg.call(c, kmsg.UPDATE_FEATURES, version, body)

    same = [("metadata.version", 22, {}), ("group.version", 1, {}), ("transaction.version", 0, {})]
    r = upd(same)
    assert (r["ErrorCode"], r["ErrorMessage"]) == (NONE, None)
    if version <= 1:
        assert [(x["Feature"], x["ErrorCode"]) for x in r["Results"]] == [(f, NONE) for f, _, _ in same]
    else:
        assert "Results" not in r
    down = {"AllowDowngrade": True} if version == 0 else {"UpgradeType": 2}
    for updates, why in [
            ([("transaction.version", 2, {})],
             "Invalid update version 2 for feature transaction.version. The feature levels of this broker are "
             "fixed: transaction.version is at level 0."),
            ([("group.version", 1, {}), ("metadata.version", 21, down)],
             "Invalid update version 21 for feature metadata.version. The feature levels of this broker are "
             "fixed: metadata.version is at level 22."),
            ([("no.such.feature", 1, {})],
             "Invalid update version 1 for feature no.such.feature. This broker does not support this feature."),
            ([("group.version", -1, {})],
             "Invalid update version -1 for feature group.version. A feature version cannot be less than 0.")]:
        r = upd(updates, validate=version >= 1)
        assert r["ErrorCode"] == INVALID_UPDATE_VERSION, r
        assert r["ErrorMessage"] == ("The update failed for all features since the following feature had an "
                                     "error: " + why)
        assert r.get("Results", []) == []
    if version >= 1:
        r = upd([("group.version", 1, {"UpgradeType": 9})])
        assert r["ErrorCode"] == INVALID_UPDATE_VERSION
        assert r["ErrorMessage"].endswith("The controller does not support the given upgrade type.")
    with conn(broker) as c:
        a = kmsg.call(c, kmsg.API_VERSIONS, 3, {"ClientSoftwareName": "t", "ClientSoftwareVersion": "1"})
    assert {f["Name"]: f["MaxVersionLevel"] for f in a["FinalizedFeatures"]} == \
        {"metadata.version": 22, "group.version": 1}


# ------------------------------------------------------------------ DescribeCluster

def test_describe_cluster_v1(broker):
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.DESCRIBE_CLUSTER, 1, {"EndpointType": 1})
        assert r["ErrorCode"] == NONE and r["EndpointType"] == 1
        assert [(b["Host"], b["Port"]) for b in r["Brokers"]] == [("127.0.0.1", broker.port)]
        r = kmsg.call(c, kmsg.DESCRIBE_CLUSTER, 1, {"EndpointType": 2})
        assert r["ErrorCode"] == MISMATCHED_ENDPOINT_TYPE and r["Brokers"] == []
        assert r["ErrorMessage"] == ("The request was sent to an endpoint of type BROKER, but we wanted an "
                                     "endpoint of type CONTROLLER")
        r = kmsg.call(c, kmsg.DESCRIBE_CLUSTER, 1, {"EndpointType": 7})
        assert (r["ErrorCode"], r["ErrorMessage"]) == (UNSUPPORTED_ENDPOINT_TYPE, "Unsupported endpoint type 7")
        r = kmsg.call(c, kmsg.DESCRIBE_CLUSTER, 0, {})
        assert r["ErrorCode"] == NONE and len(r["Brokers"]) == 1


# ------------------------------------------------------------------ AlterConfigs

@pytest.mark.parametrize("version", [0, 1, 2])
def test_alter_configs_replaces_all_overrides(broker, version):
    t = ck.create_topic(broker, "ac-replace-%d" % version, config={"retention.ms": "1000000",
                                                                   "cleanup.policy": "compact"})
    assert topic_configs(broker, t) == {"retention.ms": "1000000", "cleanup.policy": "compact"}
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.ALTER_CONFIGS, version, {"Resources": [
            {"ResourceType": TOPIC, "ResourceName": t,
             "Configs": [{"Name": "segment.ms", "Value": "3600000"}, {"Name": "retention.ms", "Value": "2000000"}]}]})
    [res] = r["Responses"]
    assert (res["ErrorCode"], res["ErrorMessage"], res["ResourceType"], res["ResourceName"]) == (NONE, None, TOPIC, t)
    # the whole set is replaced: cleanup.policy (not named) is gone
    assert topic_configs(broker, t) == {"segment.ms": "3600000", "retention.ms": "2000000"}
    # an empty set removes every override
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.ALTER_CONFIGS, version, {"Resources": [
            {"ResourceType": TOPIC, "ResourceName": t, "Configs": []}]})
    assert r["Responses"][0]["ErrorCode"] == NONE
    assert topic_configs(broker, t) == {}


def test_alter_configs_validate_only_and_errors(broker):
    t = ck.create_topic(broker, "ac-errors", config={"retention.ms": "1000000"})
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.ALTER_CONFIGS, 1, {"ValidateOnly": True, "Resources": [
            {"ResourceType": TOPIC, "ResourceName": t, "Configs": [{"Name": "segment.ms", "Value": "3600000"}]}]})
        assert r["Responses"][0]["ErrorCode"] == NONE
        assert topic_configs(broker, t) == {"retention.ms": "1000000"}      # nothing changed
        r = kmsg.call(c, kmsg.ALTER_CONFIGS, 1, {"Resources": [
            {"ResourceType": TOPIC, "ResourceName": t, "Configs": [{"Name": "no.such.key", "Value": "1"}]},
            {"ResourceType": TOPIC, "ResourceName": t + "-missing", "Configs": []},
            {"ResourceType": TOPIC, "ResourceName": "ac-dup", "Configs": []},
            {"ResourceType": TOPIC, "ResourceName": "ac-dup", "Configs": []},
            {"ResourceType": 8, "ResourceName": "0", "Configs": []},
            {"ResourceType": BROKER, "ResourceName": "0", "Configs": []},
            {"ResourceType": BROKER, "ResourceName": "", "Configs": [{"Name": "log.retention.ms", "Value": "5"}]},
            {"ResourceType": BROKER, "ResourceName": "7", "Configs": []},
            {"ResourceType": TOPIC, "ResourceName": "__consumer_offsets",
             "Configs": [{"Name": "cleanup.policy", "Value": "delete"}]},
        ]})
    got = [(x["ErrorCode"], x["ErrorMessage"]) for x in r["Responses"]]
    assert got[0] == (INVALID_CONFIG, "Unknown topic config name: no.such.key")
    assert got[1][0] == UNKNOWN_TOPIC_OR_PARTITION
    assert got[2] == got[3] == (INVALID_REQUEST, "Each resource must appear at most once.")
    assert got[4] == (INVALID_REQUEST, "Unknown resource type 8")
    assert got[5] == (NONE, None)                 # the broker: no dynamic configs to remove
    assert got[6][0] == INVALID_REQUEST and "log.retention.ms" in got[6][1]
    assert got[7] == (INVALID_REQUEST, "Unexpected broker id, expected 0, but received 7")
    assert got[8][0] == POLICY_VIOLATION
    assert topic_configs(broker, t) == {"retention.ms": "1000000"}


@pytest.mark.parametrize("api", ["AlterConfigs", "IncrementalAlterConfigs"])
def test_broker_configs_are_static(broker, api):
    """There are no dynamic broker configs: a BROKER resource (this node or
    the cluster default, "") naming any key is refused, naming none changes
    nothing and passes."""
    if api == "AlterConfigs":
        layout, cfg = kmsg.ALTER_CONFIGS, lambda k: {"Name": k, "Value": "5"}
    else:
        layout, cfg = kmsg.INCREMENTAL_ALTER_CONFIGS, lambda k: {"Name": k, "ConfigOperation": 0, "Value": "5"}
    msg = "Cannot update these configs dynamically: %s (dynamic broker configs are not supported)"
    with conn(broker) as c:
        for validate in (False, True):
            r = kmsg.call(c, layout, 1, {"ValidateOnly": validate, "Resources": [
                {"ResourceType": BROKER, "ResourceName": "0", "Configs": [cfg("log.retention.ms")]},
                {"ResourceType": BROKER, "ResourceName": "",
                 "Configs": [cfg("num.io.threads"), cfg("log.cleaner.threads")]},
                {"ResourceType": BROKER, "ResourceName": "x", "Configs": [cfg("log.retention.ms")]}]})
            assert [(x["ErrorCode"], x["ErrorMessage"], x["ResourceType"], x["ResourceName"])
                    for x in r["Responses"]] == [
                (INVALID_REQUEST, msg % "log.retention.ms", BROKER, "0"),
                (INVALID_REQUEST, msg % "num.io.threads, log.cleaner.threads", BROKER, ""),
                (INVALID_REQUEST, "Broker id must be an integer, but it is: x", BROKER, "x")]
            r = kmsg.call(c, layout, 1, {"ValidateOnly": validate, "Resources": [
                {"ResourceType": BROKER, "ResourceName": "", "Configs": []}]})
            assert [(x["ErrorCode"], x["ErrorMessage"]) for x in r["Responses"]] == [(NONE, None)]


def test_alter_configs_entry_errors_each(broker):
    t = ck.create_topic(broker, "ac-each", config={"retention.ms": "1000000"})
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.ALTER_CONFIGS, 2, {"Resources": [
            {"ResourceType": TOPIC, "ResourceName": t,
             "Configs": [{"Name": "retention.ms", "Value": "1"}, {"Name": "retention.ms", "Value": "2"}]}]})
        assert r["Responses"][0]["ErrorCode"] == INVALID_REQUEST
        assert r["Responses"][0]["ErrorMessage"] == "Error due to duplicate config keys"
        r = kmsg.call(c, kmsg.ALTER_CONFIGS, 2, {"Resources": [
            {"ResourceType": TOPIC, "ResourceName": t, "Configs": [{"Name": "retention.ms", "Value": None}]}]})
        assert (r["Responses"][0]["ErrorCode"], r["Responses"][0]["ErrorMessage"]) == (
            INVALID_REQUEST, "Null value not supported for : retention.ms")
        r = kmsg.call(c, kmsg.ALTER_CONFIGS, 2, {"Resources": [
            {"ResourceType": TOPIC, "ResourceName": t, "Configs": [{"Name": "retention.ms", "Value": "soon"}]}]})
        assert r["Responses"][0]["ErrorCode"] == INVALID_CONFIG
    assert topic_configs(broker, t) == {"retention.ms": "1000000"}


# ------------------------------------------------------------------ DescribeLogDirs

@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_describe_log_dirs(broker, version):
    t = ck.create_topic(broker, "ldirs-%d" % version, partitions=2)
    ck.produce(broker, t, [{"key": b"k", "value": b"x" * 100}] * 5, partition=1)
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.DESCRIBE_LOG_DIRS, version, {"Topics": None})
        [d] = r["Results"]
        assert d["ErrorCode"] == NONE and d["LogDir"] == os.path.abspath(broker.data_dir)
        sizes = {(tp["Name"], p["PartitionIndex"]): (p["PartitionSize"], p["OffsetLag"], p["IsFutureKey"])
                 for tp in d["Topics"] for p in tp["Partitions"]}
        assert sizes[(t, 0)] == (0, 0, False)
        size1 = os.path.getsize(os.path.join(broker.partition_dir(t, 1), broker.segment_files(t, 1)[0]))
        assert sizes[(t, 1)] == (size1, 0, False) and size1 > 500
        if version >= 3:
            assert r["ErrorCode"] == NONE
        if version >= 4:
            st = os.statvfs(broker.data_dir)
            assert 0 < d["UsableBytes"] <= d["TotalBytes"]
            assert d["TotalBytes"] == st.f_blocks * st.f_frsize
        # a selection: named partitions only, unknown ones left out; as
        # Kafka, every topic of the dir is listed, with what was asked of it
        r = kmsg.call(c, kmsg.DESCRIBE_LOG_DIRS, version, {"Topics": [
            {"Topic": t, "Partitions": [1, 9]}, {"Topic": "ldirs-none", "Partitions": [0]}]})
        [d] = r["Results"]
        got = {tp["Name"]: [p["PartitionIndex"] for p in tp["Partitions"]] for tp in d["Topics"]}
        assert got[t] == [1] and "ldirs-none" not in got
        assert all(v == [] for k, v in got.items() if k != t)
        r = kmsg.call(c, kmsg.DESCRIBE_LOG_DIRS, version, {"Topics": []})
        assert all(tp["Partitions"] == [] for tp in r["Results"][0]["Topics"])


# ------------------------------------------------------------------ ListOffsets

def list_offsets(c, version, topic, parts, isolation=0):
    r = kmsg.call(c, kmsg.LIST_OFFSETS, version, {"IsolationLevel": isolation, "TimeoutMs": 1000, "Topics": [
        {"Name": topic, "Partitions": [{"PartitionIndex": p, "Timestamp": ts} for p, ts in parts]}]})
    return [(p["ErrorCode"], p.get("Timestamp"), p.get("Offset"), p.get("LeaderEpoch")) for p in
            r["Topics"][0]["Partitions"]]


def test_list_offsets_special_timestamps(broker):
    t = ck.create_topic(broker, "lo-special")
    ck.produce(broker, t, [{"key": b"k", "value": b"v%d" % i} for i in range(5)])
    with conn(broker) as c:
        epoch = kmsg.call(c, kmsg.METADATA, 12, {"Topics": [{"Name": t}]})["Topics"][0]["Partitions"][0]["LeaderEpoch"]
        for v in (8, 9, 10):
            got = [list_offsets(c, v, t, [(0, ts)])[0] for ts in (-1, -2, -4, -5)]
            assert got[0] == (NONE, -1, 5, epoch)              # latest
            assert got[1] == (NONE, -1, 0, epoch)              # earliest (its epoch from the cache)
            assert got[2] == (NONE, -1, 0, epoch)              # earliest local = earliest without tiers
            if v >= 9:
                assert got[3] == (NONE, -1, -1, -1)            # latest tiered: nothing is tiered
            else:
                assert got[3][0] == UNSUPPORTED_VERSION
        # a partition named twice: INVALID_REQUEST at each place
        assert [x[0] for x in list_offsets(c, 10, t, [(0, -1), (0, -2)])] == [INVALID_REQUEST, INVALID_REQUEST]
        # below the version that introduced them: UNSUPPORTED_VERSION, as Kafka
        assert list_offsets(c, 7, t, [(0, -4)])[0][0] == UNSUPPORTED_VERSION
        assert list_offsets(c, 8, t, [(0, -5)])[0][0] == UNSUPPORTED_VERSION
        assert list_offsets(c, 6, t, [(0, -3)])[0][0] == UNSUPPORTED_VERSION
        assert list_offsets(c, 10, t, [(0, -6)])[0][0] == UNSUPPORTED_VERSION
        assert list_offsets(c, 10, t, [(0, -3)])[0][0] == NONE


# ------------------------------------------------------------------ Produce v10-11

@pytest.mark.parametrize("version", [10, 11])
def test_produce_v10_v11(broker, version):
    t = ck.create_topic(broker, "produce-v%d" % version)
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.PRODUCE, version, {"TransactionalId": None, "Acks": -1, "TimeoutMs": 5000,
                                                 "TopicData": [{"Name": t, "PartitionData": [
                                                     {"Index": 0, "Records": kp.record_batch([(b"k", b"v")])},
                                                     {"Index": 5, "Records": kp.record_batch([(b"k", b"v")])}]}]})
    p0, p5 = r["Responses"][0]["PartitionResponses"]
    assert (p0["ErrorCode"], p0["BaseOffset"]) == (NONE, 0)
    assert p5["ErrorCode"] == UNKNOWN_TOPIC_OR_PARTITION
    # KIP-951 fields only come with NOT_LEADER_OR_FOLLOWER / FENCED_LEADER_EPOCH
    assert "CurrentLeader" not in p0 and "NodeEndpoints" not in r


# ------------------------------------------------------------------ FindCoordinator v5-6

@pytest.mark.parametrize("version", [5, 6])
def test_find_coordinator_batched(broker, version):
    """v4+ looks up a batch of keys of one type.  v5 only adds the error
    TRANSACTION_ABORTABLE; v6 adds the share key type ("group:topicId:
    partition"), which a Kafka without a share coordinator refuses with
    INVALID_REQUEST, as it refuses it below v6.  Kafka sets no error
    message in the batched answer: the field's default, the empty string."""
    host, port = broker.bootstrap.rsplit(":", 1)
    here = (0, host, int(port), NONE, "")
    nowhere = (-1, "", -1, INVALID_REQUEST, "")
    with conn(broker) as c:
        def look(key_type, keys):
            r = kmsg.call(c, kmsg.FIND_COORDINATOR, version, {"KeyType": key_type, "CoordinatorKeys": keys})
            assert r["ThrottleTimeMs"] == 0
            return [(x["Key"], (x["NodeId"], x["Host"], x["Port"], x["ErrorCode"], x["ErrorMessage"]))
                    for x in r["Coordinators"]]
        assert look(0, ["fc-g1", "fc-g2", "fc-g1"]) == [("fc-g1", here), ("fc-g2", here), ("fc-g1", here)]
        assert look(1, ["fc-txn"]) == [("fc-txn", here)]
        assert look(0, []) == []
        share = "fc-g1:%s:0" % ("A" * 22)
        assert look(2, [share, "fc-g2"]) == [(share, nowhere), ("fc-g2", nowhere)]
        assert look(3, ["fc-g1"]) == [("fc-g1", nowhere)]


# ------------------------------------------------------------------ OffsetFetch v9

def test_offset_fetch_v9_groups(broker):
    """v8+ asks for many groups at once; v9 adds each group's MemberId and
    MemberEpoch (KIP-848).  A classic group (or the admin client) sends a
    null id and epoch -1; a consumer-group member must send its own id and
    current epoch."""
    t = ck.create_topic(broker, "of9", partitions=2)
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.OFFSET_COMMIT, 9, {"GroupId": "of9-classic", "GenerationIdOrMemberEpoch": -1,
                                                "MemberId": "", "GroupInstanceId": None, "Topics": [
                                                    {"Name": t, "Partitions": [
                                                        {"PartitionIndex": 0, "CommittedOffset": 7,
                                                         "CommittedLeaderEpoch": 3, "CommittedMetadata": "m0"},
                                                        {"PartitionIndex": 1, "CommittedOffset": 11,
                                                         "CommittedMetadata": None}]}]})
        assert [p["ErrorCode"] for x in r["Topics"] for p in x["Partitions"]] == [NONE, NONE]
        r = kmsg.call(c, kmsg.OFFSET_FETCH, 9, {"RequireStable": True, "Groups": [
            {"GroupId": "of9-classic", "MemberId": None, "MemberEpoch": -1,
             "Topics": [{"Name": t, "PartitionIndexes": [0, 1, 5]}, {"Name": "of9-none", "PartitionIndexes": [0]}]},
            {"GroupId": "of9-unknown", "MemberId": None, "MemberEpoch": -1, "Topics": None},
            {"GroupId": "of9-unknown2", "MemberId": None, "MemberEpoch": -1,
             "Topics": [{"Name": t, "PartitionIndexes": [0]}]}]})
        assert r["ThrottleTimeMs"] == 0
        g = {x["GroupId"]: x for x in r["Groups"]}
        assert [x["GroupId"] for x in r["Groups"]] == ["of9-classic", "of9-unknown", "of9-unknown2"]
        assert all(x["ErrorCode"] == NONE for x in r["Groups"])
        got = [(x["Name"], p["PartitionIndex"], p["CommittedOffset"], p["CommittedLeaderEpoch"], p["Metadata"],
                p["ErrorCode"]) for x in g["of9-classic"]["Topics"] for p in x["Partitions"]]
        assert got == [(t, 0, 7, 3, "m0", NONE), (t, 1, 11, -1, "", NONE), (t, 5, -1, -1, "", NONE),
                       ("of9-none", 0, -1, -1, "", NONE)]
        assert g["of9-unknown"]["Topics"] == []
        [[p]] = [x["Partitions"] for x in g["of9-unknown2"]["Topics"]]
        assert (p["CommittedOffset"], p["Metadata"], p["ErrorCode"]) == (-1, "", NONE)
        # all topics (null), and a classic group ignores a member id and epoch
        r = kmsg.call(c, kmsg.OFFSET_FETCH, 9, {"Groups": [
            {"GroupId": "of9-classic", "MemberId": "someone", "MemberEpoch": 5, "Topics": None}]})
        [gr] = r["Groups"]
        assert gr["ErrorCode"] == NONE
        assert [(x["Name"], [(p["PartitionIndex"], p["CommittedOffset"]) for p in x["Partitions"]])
                for x in gr["Topics"]] == [(t, [(0, 7), (1, 11)])]

        # a consumer group (KIP-848): one member, epoch 1
        hb = kmsg.call(c, kmsg.CONSUMER_GROUP_HEARTBEAT, 0, {
            "GroupId": "of9-cg", "MemberId": "", "MemberEpoch": 0, "InstanceId": None, "RackId": None,
            "RebalanceTimeoutMs": 30000, "SubscribedTopicNames": [t], "ServerAssignor": None,
            "TopicPartitions": []})
        assert hb["ErrorCode"] == NONE and hb["MemberEpoch"] >= 1
        mid, epoch = hb["MemberId"], hb["MemberEpoch"]
        r = kmsg.call(c, kmsg.OFFSET_COMMIT, 9, {"GroupId": "of9-cg", "GenerationIdOrMemberEpoch": epoch,
                                                "MemberId": mid, "GroupInstanceId": None, "Topics": [
                                                    {"Name": t, "Partitions": [
                                                        {"PartitionIndex": 1, "CommittedOffset": 4,
                                                         "CommittedMetadata": ""}]}]})
        assert [p["ErrorCode"] for x in r["Topics"] for p in x["Partitions"]] == [NONE]

        def fetch_cg(member, member_epoch):
            r = kmsg.call(c, kmsg.OFFSET_FETCH, 9, {"Groups": [
                {"GroupId": "of9-cg", "MemberId": member, "MemberEpoch": member_epoch,
                 "Topics": [{"Name": t, "PartitionIndexes": [1]}]}]})
            [gr] = r["Groups"]
            return gr["ErrorCode"], [(p["PartitionIndex"], p["CommittedOffset"])
                                     for x in gr["Topics"] for p in x["Partitions"]]
        assert fetch_cg(mid, epoch) == (NONE, [(1, 4)])
        assert fetch_cg(None, -1) == (NONE, [(1, 4)])              # the admin client's form
        assert fetch_cg(mid, epoch + 1) == (STALE_MEMBER_EPOCH, [])
        assert fetch_cg("of9-nobody", epoch) == (UNKNOWN_MEMBER_ID, [])


# ------------------------------------------------------------------ Metadata v10-11

@pytest.mark.parametrize("version", [10, 11])
def test_metadata_v10_v11_topic_ids(broker, version):
    """v10 adds topic ids to the answer (a request still names topics: an
    id, or a null name, is INVALID_REQUEST for every topic asked, as Kafka's
    error response); v11 drops ClusterAuthorizedOperations.  With no
    authorizer, asked-for operations are all those of the resource type."""
    t = ck.create_topic(broker, "md%d" % version, partitions=2)
    host, port = broker.bootstrap.rsplit(":", 1)
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.METADATA, 12, {"Topics": [{"Name": t}]})
        tid = r["Topics"][0]["TopicId"]
        assert tid != b"\0" * 16
        r = kmsg.call(c, kmsg.METADATA, version, {
            "Topics": [{"Name": t}, {"Name": "md-missing"}], "AllowAutoTopicCreation": False,
            "IncludeClusterAuthorizedOperations": False, "IncludeTopicAuthorizedOperations": False})
        assert r["ThrottleTimeMs"] == 0
        assert [(b["NodeId"], b["Host"], b["Port"], b["Rack"]) for b in r["Brokers"]] == [(0, host, int(port), None)]
        assert r["ControllerId"] == 0 and r["ClusterId"]
        mt, missing = r["Topics"]
        assert (mt["ErrorCode"], mt["Name"], mt["TopicId"], mt["IsInternal"]) == (NONE, t, tid, False)
        assert [(p["PartitionIndex"], p["LeaderId"], p["ReplicaNodes"], p["IsrNodes"], p["OfflineReplicas"])
                for p in mt["Partitions"]] == [(0, 0, [0], [0], []), (1, 0, [0], [0], [])]
        assert mt["TopicAuthorizedOperations"] == -2**31
        assert (missing["ErrorCode"], missing["Name"], missing["TopicId"]) == \
            (UNKNOWN_TOPIC_OR_PARTITION, "md-missing", b"\0" * 16)
        if version == 10:
            assert r["ClusterAuthorizedOperations"] == -2**31
        else:
            assert "ClusterAuthorizedOperations" not in r

        # asked-for operations (no authorizer: every operation of the type)
        r = kmsg.call(c, kmsg.METADATA, version, {
            "Topics": [{"Name": t}], "IncludeClusterAuthorizedOperations": True,
            "IncludeTopicAuthorizedOperations": True})
        assert r["Topics"][0]["TopicAuthorizedOperations"] == TOPIC_OPS
        if version == 10:
            assert r["ClusterAuthorizedOperations"] == CLUSTER_OPS

        # all topics (null): ids too
        r = kmsg.call(c, kmsg.METADATA, version, {"Topics": None})
        assert {x["Name"]: x["TopicId"] for x in r["Topics"]}[t] == tid

        # a topic id, or a null name, is not for these versions
        for topics in ([{"Name": t, "TopicId": tid}, {"Name": "md-other"}],
                       [{"Name": None, "TopicId": tid}]):
            r = kmsg.call(c, kmsg.METADATA, version, {"Topics": topics})
            assert r["Brokers"] == [] and r["ClusterId"] is None and r["ControllerId"] == -1
            assert [(x["ErrorCode"], x["Name"], x["TopicId"], x["Partitions"]) for x in r["Topics"]] == \
                [(INVALID_REQUEST, x["Name"] or "", x.get("TopicId", b"\0" * 16), []) for x in topics]


# ------------------------------------------------------------------ Metadata v12 by topic id

def test_metadata_v12_topic_ids(broker):
    t = ck.create_topic(broker, "md-ids", partitions=2)
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.METADATA, 12, {"Topics": [{"Name": t}]})
        tid = r["Topics"][0]["TopicId"]
        assert tid != b"\0" * 16
        r = kmsg.call(c, kmsg.METADATA, 12, {"Topics": [{"TopicId": tid, "Name": None}]})
        [mt] = r["Topics"]
        assert (mt["ErrorCode"], mt["Name"], mt["TopicId"], len(mt["Partitions"])) == (NONE, t, tid, 2)
        r = kmsg.call(c, kmsg.METADATA, 12, {"Topics": [{"TopicId": b"\x11" * 16, "Name": None}]})
        assert (r["Topics"][0]["ErrorCode"], r["Topics"][0]["Name"]) == (UNKNOWN_TOPIC_ID, None)


# ------------------------------------------------------------------ DescribeTopicPartitions

def test_describe_topic_partitions_paginated(broker):
    a = ck.create_topic(broker, "dtp-a", partitions=3)
    b = ck.create_topic(broker, "dtp-b", partitions=2)
    seen = []
    cursor = None
    with conn(broker) as c:
        for _ in range(10):
            r = kmsg.call(c, kmsg.DESCRIBE_TOPIC_PARTITIONS, 0, {
                "Topics": [{"Name": b}, {"Name": a}, {"Name": "dtp-missing"}], "ResponsePartitionLimit": 2,
                "Cursor": cursor})
            for tp in r["Topics"]:
                for p in tp["Partitions"]:
                    assert p["LeaderId"] == 0 and p["ReplicaNodes"] == [0] and p["IsrNodes"] == [0]
                    assert p["EligibleLeaderReplicas"] == [] and p["LastKnownElr"] == []
                    seen.append((tp["Name"], p["PartitionIndex"]))
                if tp["Name"] == "dtp-missing":
                    assert tp["ErrorCode"] == UNKNOWN_TOPIC_OR_PARTITION
                    seen.append(("dtp-missing", None))
            cursor = r["NextCursor"]
            if cursor is None:
                break
    # topics in name order, partitions in order, at most 2 partitions per page
    assert seen == [(a, 0), (a, 1), (a, 2), (b, 0), (b, 1), ("dtp-missing", None)]
    with conn(broker) as c:
        # no topics named: every topic, from the cursor on
        r = kmsg.call(c, kmsg.DESCRIBE_TOPIC_PARTITIONS, 0, {
            "Topics": [], "ResponsePartitionLimit": 1, "Cursor": {"TopicName": b, "PartitionIndex": 1}})
        assert [(x["Name"], [p["PartitionIndex"] for p in x["Partitions"]]) for x in r["Topics"]] == [(b, [1])]


# ------------------------------------------------------------------ ElectLeaders

@pytest.mark.parametrize("version", [0, 1, 2])
def test_elect_leaders_not_needed(broker, version):
    t = ck.create_topic(broker, "elect-%d" % version, partitions=2)
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.ELECT_LEADERS, version, {"ElectionType": 0, "TopicPartitions": [
            {"Topic": t, "Partitions": [0, 1, 7]}, {"Topic": "elect-none", "Partitions": [0]}]})
        if version >= 1:
            assert r["ErrorCode"] == NONE
        res = {(x["Topic"], p["PartitionId"]): (p["ErrorCode"], p["ErrorMessage"])
               for x in r["ReplicaElectionResults"] for p in x["PartitionResult"]}
        assert res[(t, 0)] == res[(t, 1)] == (ELECTION_NOT_NEEDED, "Leader election not needed for topic partition.")
        assert res[(t, 7)] == (UNKNOWN_TOPIC_OR_PARTITION, "No such partition as %s-7" % t)
        assert res[("elect-none", 0)] == (UNKNOWN_TOPIC_OR_PARTITION, "No such topic as elect-none")
        # all partitions: those not needing an election are left out
        r = kmsg.call(c, kmsg.ELECT_LEADERS, version, {"ElectionType": 1, "TopicPartitions": None})
        assert all(x["PartitionResult"] == [] for x in r["ReplicaElectionResults"])
        if version >= 1:
            r = kmsg.call(c, kmsg.ELECT_LEADERS, version, {"ElectionType": 5, "TopicPartitions": [
                {"Topic": t, "Partitions": [0]}]})
            assert r["ErrorCode"] == INVALID_REQUEST


# ------------------------------------------------------------------ partition reassignments

def test_partition_reassignments_single_broker(broker):
    t = ck.create_topic(broker, "reassign", partitions=2)
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.ALTER_PARTITION_REASSIGNMENTS, 0, {"Topics": [
            {"Name": t, "Partitions": [{"PartitionIndex": 0, "Replicas": [0]},
                                       {"PartitionIndex": 1, "Replicas": None},
                                       {"PartitionIndex": 0, "Replicas": [0, 1]},
                                       {"PartitionIndex": 0, "Replicas": []},
                                       {"PartitionIndex": 0, "Replicas": [0, 0]},
                                       {"PartitionIndex": 9, "Replicas": [0]}]},
            {"Name": "reassign-none", "Partitions": [{"PartitionIndex": 0, "Replicas": [0]}]}]})
        assert r["ErrorCode"] == NONE
        got = [(p["ErrorCode"], p["ErrorMessage"]) for x in r["Responses"] for p in x["Partitions"]]
        assert got[0] == (NONE, None)                        # already so: done at once
        assert got[1] == (NO_REASSIGNMENT_IN_PROGRESS, "No partition reassignment is in progress.")
        assert got[2] == (INVALID_REPLICA_ASSIGNMENT,
                          "The manual partition assignment includes broker 1, but no such broker is registered.")
        assert got[3] == (INVALID_REPLICA_ASSIGNMENT, "The manual partition assignment includes an empty replica list.")
        assert got[4] == (INVALID_REPLICA_ASSIGNMENT,
                          "The manual partition assignment includes the broker 0 more than once.")
        assert got[5] == (UNKNOWN_TOPIC_OR_PARTITION, "Unable to find partition %s:9." % t)
        assert got[6] == (UNKNOWN_TOPIC_OR_PARTITION, "Unable to find a topic named reassign-none.")
        for topics in (None, [{"Name": t, "PartitionIndexes": [0, 1]}]):
            r = kmsg.call(c, kmsg.LIST_PARTITION_REASSIGNMENTS, 0, {"Topics": topics})
            assert (r["ErrorCode"], r["Topics"]) == (NONE, [])


# ------------------------------------------------------------------ telemetry (KIP-714)

def test_telemetry_no_subscription(broker):
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.GET_TELEMETRY_SUBSCRIPTIONS, 0, {"ClientInstanceId": b"\0" * 16})
        assert r["ErrorCode"] == NONE
        iid = r["ClientInstanceId"]
        assert iid != b"\0" * 16
        assert r["RequestedMetrics"] == []                  # nothing asked for: clients do not push
        assert r["PushIntervalMs"] == 300000 and r["TelemetryMaxBytes"] == 1048576 and r["DeltaTemporality"]
        assert sorted(r["AcceptedCompressionTypes"]) == [1, 2, 3, 4]
        sub = r["SubscriptionId"]
        # the same instance id keeps its subscription
        r2 = kmsg.call(c, kmsg.GET_TELEMETRY_SUBSCRIPTIONS, 0, {"ClientInstanceId": iid})
        assert (r2["ClientInstanceId"], r2["SubscriptionId"]) == (iid, sub)
        push = {"ClientInstanceId": iid, "SubscriptionId": sub, "Terminating": False, "CompressionType": 0,
                "Metrics": b""}
        assert kmsg.call(c, kmsg.PUSH_TELEMETRY, 0, push)["ErrorCode"] == NONE
        assert kmsg.call(c, kmsg.PUSH_TELEMETRY, 0, dict(push, SubscriptionId=sub ^ 1))["ErrorCode"] == \
            UNKNOWN_SUBSCRIPTION_ID
        assert kmsg.call(c, kmsg.PUSH_TELEMETRY, 0, dict(push, ClientInstanceId=b"\0" * 16))["ErrorCode"] == \
            INVALID_REQUEST
        assert kmsg.call(c, kmsg.PUSH_TELEMETRY, 0, dict(push, Metrics=b"x" * (1048576 + 1)))["ErrorCode"] == \
            TELEMETRY_TOO_LARGE
        assert kmsg.call(c, kmsg.PUSH_TELEMETRY, 0, dict(push, CompressionType=9))["ErrorCode"] == 76


def test_list_client_metrics_resources(broker):
    """No client-metrics resource can exist (the config APIs refuse the
    type), so the list is empty, as Kafka's is before any is created."""
    with conn(broker) as c:
        r = kmsg.call(c, kmsg.LIST_CLIENT_METRICS_RESOURCES, 0, {})
        assert (r["ErrorCode"], r["ClientMetricsResources"]) == (NONE, [])
        # creating one is refused, so the list stays empty
        cfg = [{"Name": "metrics", "ConfigOperation": 0, "Value": "org.apache.kafka.producer."}]
        a = kmsg.call(c, kmsg.INCREMENTAL_ALTER_CONFIGS, 1, {"Resources": [
            {"ResourceType": 16, "ResourceName": "sub1", "Configs": cfg}]})
        assert [x["ErrorCode"] for x in a["Responses"]] == [INVALID_REQUEST], a
        r = kmsg.call(c, kmsg.LIST_CLIENT_METRICS_RESOURCES, 0, {})
        assert (r["ErrorCode"], r["ClientMetricsResources"]) == (NONE, [])
