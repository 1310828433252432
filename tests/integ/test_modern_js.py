"""@platformatic/kafka (through js/pkafka.mjs): a pure-JavaScript client
that speaks only recent protocol versions (it has no codec below Produce v7,
Fetch v12, Metadata v9 and picks the highest version both sides serve), end
to end: create a topic, produce with headers to chosen partitions, consume
back in a consumer group (classic, and KIP-848's consumer protocol),
committing each record, and read the committed offsets back, through the
client and through a raw OffsetFetch.

Version 1.35.0: the newest release that runs on Node.js 20 (the 2.x line
needs Node.js 22).  It comes from tests/integ/js/node_modules (npm ci)."""
import pytest

import kmsg
import kproto as kp
from helpers import node_script

BROKER_OVERRIDES = {"auto.create.topics.enable": "false"}

PRODUCE, FETCH, METADATA, OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR = 0, 1, 3, 8, 9, 10
JOIN_GROUP, SYNC_GROUP, CONSUMER_GROUP_HEARTBEAT = 11, 14, 68


def records():
    out = []
    for i in range(12):
        out.append({"partition": i % 3, "key": "k%d" % i, "value": "value-%d" % i,
                    "headers": {"h": "x%d" % i} if i % 2 else {}})
    return out


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_produce_consume_commit(broker, protocol):
    topic, group = "pk-%s" % protocol, "pk-group-%s" % protocol
    recs = records()
    res = node_script("pkafka.mjs", {"brokers": [broker.bootstrap], "topic": topic, "partitions": 3,
                                     "groupId": group, "groupProtocol": protocol, "records": recs},
                      timeout=150)
    assert "error" not in res, res
    assert res["metadata"]["partitions"] == 3
    # one batch per partition, each from offset 0
    assert sorted((o["topic"], o["partition"], o["offset"]) for o in res["produced"]) == \
        [(topic, 0, 0), (topic, 1, 0), (topic, 2, 0)]
    # every record back, exactly, in order within its partition
    want = {}
    for r in recs:
        lst = want.setdefault(r["partition"], [])
        lst.append({"partition": r["partition"], "offset": len(lst), "key": r["key"], "value": r["value"],
                    "headers": r["headers"]})
    got = {}
    for m in res["consumed"]:
        got.setdefault(m["partition"], []).append(m)
    assert got == want
    # each partition committed up to its end (the next offset to read)
    assert sorted((c["group"], c["topic"], c["partition"], c["offset"]) for c in res["committed"]) == \
        [(group, topic, 0, 4), (group, topic, 1, 4), (group, topic, 2, 4)]
    with kp.Conn(broker.bootstrap) as c:
        r = kmsg.call(c, kmsg.OFFSET_FETCH, 9, {"Groups": [
            {"GroupId": group, "MemberId": None, "MemberEpoch": -1, "Topics": None}]})
    [g] = r["Groups"]
    assert g["ErrorCode"] == 0
    assert [(t["Name"], [(p["PartitionIndex"], p["CommittedOffset"], p["ErrorCode"]) for p in t["Partitions"]])
            for t in g["Topics"]] == [(topic, [(0, 4, 0), (1, 4, 0), (2, 4, 0)])]

    # the versions it spoke: the newest each side has
    sent = {}
    for kv in res["requests"]:
        k, v = map(int, kv.split(":"))
        sent.setdefault(k, set()).add(v)
    assert sent[PRODUCE] == {11}
    assert sent[FETCH] == {17}
    assert sent[METADATA] == {12}
    assert sent[FIND_COORDINATOR] == {6}
    assert sent[OFFSET_COMMIT] == {9} and sent[OFFSET_FETCH] == {9}
    if protocol == "classic":
        assert sent[JOIN_GROUP] == {9} and sent[SYNC_GROUP] == {5}
        assert CONSUMER_GROUP_HEARTBEAT not in sent
    else:
        assert sent[CONSUMER_GROUP_HEARTBEAT] == {1}
        assert JOIN_GROUP not in sent
