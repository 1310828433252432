"""Fetch v13-17: topics named by id (KIP-516), in full fetches and in fetch
sessions, across a topic deleted and created again under its name; the
KIP-951 leader fields of v16+; the KIP-320 divergence check (v12+
LastFetchedEpoch) against the leader epoch cache."""
import pytest

import ck
import kmsg
import kproto as kp

NONE = 0
OFFSET_OUT_OF_RANGE = 1
FENCED_LEADER_EPOCH = 74
UNKNOWN_TOPIC_ID = 100
FETCH_SESSION_TOPIC_ID_ERROR = 106


def topic_id(b, topic):
    with kp.Conn(b.bootstrap) as c:
        r = kmsg.call(c, kmsg.METADATA, 12, {"Topics": [{"Name": topic}]})
    assert r["Topics"][0]["ErrorCode"] == NONE
    return r["Topics"][0]["TopicId"]


def produce(b, topic, values, partition=0):
    with kp.Conn(b.bootstrap) as c:
        r = kmsg.call(c, kmsg.PRODUCE, 3, {"TransactionalId": None, "Acks": -1, "TimeoutMs": 5000, "TopicData": [
            {"Name": topic, "PartitionData": [{"Index": partition, "Records": kp.record_batch(
                [(b"k", v) for v in values])}]}]})
    p = r["Responses"][0]["PartitionResponses"][0]
    assert p["ErrorCode"] == NONE
    return p["BaseOffset"]


def fetch(c, version, topics, session_id=0, epoch=-1, forgotten=(), cur_epoch=-1, last_epoch=-1):
    """topics: [(name_or_id, [(partition, offset)])] -> decoded response"""
    body = {"MaxWaitMs": 0, "MinBytes": 0, "MaxBytes": 1 << 20, "SessionId": session_id, "SessionEpoch": epoch,
            "Topics": [dict({"Topic" if version < 13 else "TopicId": t},
                            Partitions=[{"Partition": p, "FetchOffset": o, "PartitionMaxBytes": 1 << 20,
                                         "CurrentLeaderEpoch": cur_epoch, "LastFetchedEpoch": last_epoch}
                                        for p, o in ps]) for t, ps in topics],
            "ForgottenTopicsData": [dict({"Topic" if version < 13 else "TopicId": t}, Partitions=ps)
                                    for t, ps in forgotten]}
    return kmsg.call(c, kmsg.FETCH, version, body)


def values(records):
    out = []
    for bt in kp.split_batches(records or b""):
        r = kp.Reader(bt[61:])
        while r.remaining():
            n = r_varint(r)
            rec = kp.Reader(r.take(n))
            rec.i8()
            r_varint(rec), r_varint(rec)
            kl = r_varint(rec)
            if kl >= 0:
                rec.take(kl)
            vl = r_varint(rec)
            out.append(rec.take(vl) if vl >= 0 else None)
    return out


def r_varint(r):
    v = r.uvarint()
    return (v >> 1) ^ -(v & 1)


def parts(resp):
    return {(t.get("TopicId", t.get("Topic")), p["PartitionIndex"]): p for t in resp["Responses"]
            for p in t["Partitions"]}


@pytest.mark.parametrize("version", [13, 14, 15, 16, 17])
def test_fetch_by_topic_id(broker_factory, version):
    b = broker_factory()
    t = ck.create_topic(b, "ids", partitions=2)
    produce(b, t, [b"a", b"b"])
    tid = topic_id(b, t)
    with kp.Conn(b.bootstrap) as c:
        r = fetch(c, version, [(tid, [(0, 0), (1, 0)]), (b"\x07" * 16, [(0, 0)])])
        got = parts(r)
        assert got[(tid, 0)]["ErrorCode"] == NONE and values(got[(tid, 0)]["Records"]) == [b"a", b"b"]
        assert got[(tid, 0)]["HighWatermark"] == 2
        assert got[(tid, 1)]["ErrorCode"] == NONE and got[(tid, 1)]["HighWatermark"] == 0
        assert got[(b"\x07" * 16, 0)]["ErrorCode"] == UNKNOWN_TOPIC_ID
        # the same answer as by name (v12)
        r12 = fetch(c, 12, [(t, [(0, 0)])])
        assert parts(r12)[(t, 0)]["Records"] == got[(tid, 0)]["Records"]


def test_topic_ids_across_delete_and_create(broker_factory):
    b = broker_factory()
    a = ck.admin(b)
    t = ck.create_topic(b, "reborn")
    produce(b, t, [b"old-0", b"old-1"])
    old = topic_id(b, t)
    with kp.Conn(b.bootstrap) as c:
        # a session by ids, made while the topic is the old one
        r = fetch(c, 13, [(old, [(0, 0)])], epoch=0)
        sid = r["SessionId"]
        assert sid != 0 and values(parts(r)[(old, 0)]["Records"]) == [b"old-0", b"old-1"]
        r = fetch(c, 13, [(old, [(0, 2)])], session_id=sid, epoch=1)
        assert r["ErrorCode"] == NONE

        a.delete_topics([t])[t].result(timeout=20)
        ck.create_topic(b, t)
        produce(b, t, [b"new-0"])
        new = topic_id(b, t)
        assert new != old

        # the old id is gone: UNKNOWN_TOPIC_ID, in the session and in a full fetch
        r = fetch(c, 13, [], session_id=sid, epoch=2)
        assert r["ErrorCode"] == NONE
        assert parts(r)[(old, 0)]["ErrorCode"] == UNKNOWN_TOPIC_ID
        r = fetch(c, 15, [(old, [(0, 0)])])
        assert parts(r)[(old, 0)]["ErrorCode"] == UNKNOWN_TOPIC_ID
        # the new id reads the new topic only
        r = fetch(c, 17, [(new, [(0, 0)])])
        assert values(parts(r)[(new, 0)]["Records"]) == [b"new-0"]
        # the session swaps the old id for the new one
        r = fetch(c, 13, [(new, [(0, 0)])], session_id=sid, epoch=3, forgotten=[(old, [0])])
        got = parts(r)
        assert (old, 0) not in got and values(got[(new, 0)]["Records"]) == [b"new-0"]
        # by name (v12) the name reads whatever topic has it now
        r = fetch(c, 12, [(t, [(0, 0)])])
        assert values(parts(r)[(t, 0)]["Records"]) == [b"new-0"]
        # a session by ids cannot go on by names, nor one by names by ids
        r = fetch(c, 12, [], session_id=sid, epoch=4)
        assert r["ErrorCode"] == FETCH_SESSION_TOPIC_ID_ERROR
        r = fetch(c, 12, [(t, [(0, 0)])], epoch=0)
        sid12 = r["SessionId"]
        r = fetch(c, 13, [], session_id=sid12, epoch=1)
        assert r["ErrorCode"] == FETCH_SESSION_TOPIC_ID_ERROR


def test_fenced_fetch_names_the_leader_v16(broker_factory):
    b = broker_factory()
    t = ck.create_topic(b, "fenced")
    produce(b, t, [b"x"])
    b.restart()                                      # epoch 0 -> 1
    tid = topic_id(b, t)
    with kp.Conn(b.bootstrap) as c:
        for v in (15, 16, 17):
            r = fetch(c, v, [(tid, [(0, 0)])], cur_epoch=0)
            p = parts(r)[(tid, 0)]
            assert p["ErrorCode"] == FENCED_LEADER_EPOCH
            if v >= 16:
                assert p["CurrentLeader"] == {"LeaderId": 0, "LeaderEpoch": 1}
                assert [(n["NodeId"], n["Host"], n["Port"]) for n in r["NodeEndpoints"]] == \
                    [(0, "127.0.0.1", b.port)]
            else:
                assert "NodeEndpoints" not in r
        r = fetch(c, 16, [(tid, [(0, 0)])], cur_epoch=1)
        assert parts(r)[(tid, 0)]["ErrorCode"] == NONE and "NodeEndpoints" not in r


def test_diverging_epoch(broker_factory):
    b = broker_factory()
    t = ck.create_topic(b, "diverge")
    produce(b, t, [b"a", b"b", b"c"])                # 0-2, epoch 0
    b.restart()                                      # epoch 1 from 3
    produce(b, t, [b"d", b"e", b"f"])                # 3-5
    with kp.Conn(b.bootstrap) as c:
        # a fetcher at offset 5 that last saw epoch 0: epoch 0 ended at 3
        r = fetch(c, 12, [(t, [(0, 5)])], last_epoch=0)
        p = parts(r)[(t, 0)]
        assert p["ErrorCode"] == NONE and p["DivergingEpoch"] == {"Epoch": 0, "EndOffset": 3}
        assert values(p["Records"]) == []
        # no divergence: records as usual, no DivergingEpoch
        r = fetch(c, 12, [(t, [(0, 4)])], last_epoch=1)
        p = parts(r)[(t, 0)]
        assert "DivergingEpoch" not in p and values(p["Records"]) == [b"d", b"e", b"f"]
        r = fetch(c, 12, [(t, [(0, 2)])], last_epoch=0)
        assert "DivergingEpoch" not in parts(r)[(t, 0)]
        # an epoch above every known one cannot be placed
        r = fetch(c, 12, [(t, [(0, 2)])], last_epoch=7)
        assert parts(r)[(t, 0)]["ErrorCode"] == OFFSET_OUT_OF_RANGE
