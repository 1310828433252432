"""Leader epochs (KIP-101/320): the per-partition leader-epoch-checkpoint in
Kafka's format, the epoch bump each time the broker leads a partition again
(a restart), OffsetForLeaderEpoch v0-4 answering from the cache, and what a
client sees after the log was truncated by recovery."""
import os
import struct

import pytest

import ck
import kmsg
import kproto as kp

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75


def epoch_file(b, topic, p=0):
    with open(os.path.join(b.partition_dir(topic, p), "leader-epoch-checkpoint")) as f:
        return f.read()


def leader_epoch(b, topic, p=0):
    with kp.Conn(b.bootstrap) as c:
        r = kmsg.call(c, kmsg.METADATA, 12, {"Topics": [{"Name": topic}]})
    return r["Topics"][0]["Partitions"][p]["LeaderEpoch"]


def end_offsets(b, topic, asks, version=4):
    """asks: [(partition, current_leader_epoch, leader_epoch)] -> [(err, epoch, end)]"""
    with kp.Conn(b.bootstrap) as c:
        r = kmsg.call(c, kmsg.OFFSET_FOR_LEADER_EPOCH, version, {"ReplicaId": -1, "Topics": [
            {"Topic": topic, "Partitions": [{"Partition": p, "CurrentLeaderEpoch": cur, "LeaderEpoch": e}
                                            for p, cur, e in asks]}]})
    return [(x["ErrorCode"], x.get("LeaderEpoch", -1), x["EndOffset"]) for x in r["Topics"][0]["Partitions"]]


def produce(b, topic, n):
    with kp.Conn(b.bootstrap) as c:
        r = kmsg.call(c, kmsg.PRODUCE, 3, {"TransactionalId": None, "Acks": -1, "TimeoutMs": 5000, "TopicData": [
            {"Name": topic, "PartitionData": [{"Index": 0, "Records": kp.record_batch(
                [(b"k", b"v%d" % i) for i in range(n)])}]}]})
    p = r["Responses"][0]["PartitionResponses"][0]
    assert p["ErrorCode"] == NONE
    return p["BaseOffset"]


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_offset_for_leader_epoch_versions(broker_factory, version):
    b = broker_factory()
    t = ck.create_topic(b, "ofle")
    produce(b, t, 3)
    assert epoch_file(b, t) == "0\n1\n0 0\n"
    got = end_offsets(b, t, [(0, -1, 0), (0, -1, 5), (0, -1, -1), (7, -1, 0)], version)
    assert got[0] == (NONE, 0 if version >= 1 else -1, 3)
    assert got[1] == (NONE, -1, -1)             # an epoch above every known one
    assert got[2] == (NONE, -1, -1)
    assert got[3][0] == UNKNOWN_TOPIC_OR_PARTITION
    if version >= 2:
        assert end_offsets(b, t, [(0, 1, 0)], version)[0][0] == UNKNOWN_LEADER_EPOCH
        assert end_offsets(b, t, [(0, 0, 0)], version)[0] == (NONE, 0, 3)
    with kp.Conn(b.bootstrap) as c:
        r = kmsg.call(c, kmsg.OFFSET_FOR_LEADER_EPOCH, version, {"Topics": [
            {"Topic": "ofle-none", "Partitions": [{"Partition": 0, "LeaderEpoch": 0}]}]})
    assert r["Topics"][0]["Partitions"][0]["ErrorCode"] == UNKNOWN_TOPIC_OR_PARTITION


def test_epoch_bumps_on_restart_and_truncation_is_detected(broker_factory):
    b = broker_factory()
    t = ck.create_topic(b, "trunc")
    assert leader_epoch(b, t) == 0
    produce(b, t, 3)                                   # offsets 0-2, epoch 0
    produce(b, t, 3)                                   # 3-5
    b.restart()
    assert leader_epoch(b, t) == 1                     # led again: the next epoch, from offset 6
    assert epoch_file(b, t) == "0\n2\n0 0\n1 6\n"
    produce(b, t, 2)                                   # 6-7, epoch 1
    produce(b, t, 2)                                   # 8-9
    # the batches carry the epoch they were written in
    with kp.Conn(b.bootstrap) as c:
        r = c.fetch([(t, [(0, 0, 1 << 20)])], version=12)
    recs = r["parts"][(t, 0)]["records"]
    assert [kp.batch_info(x)["leader_epoch"] for x in kp.split_batches(recs)] == [0, 0, 1, 1]
    assert end_offsets(b, t, [(0, 1, 0), (0, 1, 1)]) == [(NONE, 0, 6), (NONE, 1, 10)]

    # a crash tears the last batch: recovery truncates the log to 8
    b.kill()
    seg = os.path.join(b.partition_dir(t), b.segment_files(t)[0])
    size = os.path.getsize(seg)
    with open(seg, "r+b") as f:
        f.truncate(size - 5)
    b.start()
    assert leader_epoch(b, t) == 2
    assert epoch_file(b, t) == "0\n3\n0 0\n1 6\n2 8\n"
    # a consumer at offset 10 whose last record was of epoch 1 learns that
    # epoch 1 ended at 8: its position is past the end, the log was truncated
    assert end_offsets(b, t, [(0, 2, 1)]) == [(NONE, 1, 8)]
    assert end_offsets(b, t, [(0, 2, 0)]) == [(NONE, 0, 6)]
    assert end_offsets(b, t, [(0, 2, 2)]) == [(NONE, 2, 8)]
    # and one still on the old leader epoch is fenced
    assert end_offsets(b, t, [(0, 1, 1)])[0][0] == FENCED_LEADER_EPOCH
    # ListOffsets reports the epochs: latest in the current one, earliest in the first
    with kp.Conn(b.bootstrap) as c:
        for ts, want in ((-1, (8, 2)), (-2, (0, 0))):
            r = kmsg.call(c, kmsg.LIST_OFFSETS, 4, {"Topics": [{"Name": t, "Partitions": [
                {"PartitionIndex": 0, "Timestamp": ts}]}]})
            p = r["Topics"][0]["Partitions"][0]
            assert (p["ErrorCode"], p["Offset"], p["LeaderEpoch"]) == (NONE,) + want


def test_partition_without_checkpoint_was_epoch_zero(broker_factory):
    """A partition written before leader epochs were kept has no
    leader-epoch-checkpoint: its records were written in epoch 0."""
    b = broker_factory()
    t = ck.create_topic(b, "legacy")
    produce(b, t, 4)
    b.stop()
    os.unlink(os.path.join(b.partition_dir(t), "leader-epoch-checkpoint"))
    b.start()
    assert epoch_file(b, t) == "0\n2\n0 0\n1 4\n"
    assert end_offsets(b, t, [(0, 1, 0)]) == [(NONE, 0, 4)]
