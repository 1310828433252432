"""Writes of the group coordinator whose tombstones do not fit one batch of
__consumer_offsets (max.message.bytes): DeleteGroups of a group with many
offsets, OffsetDelete of many offsets, the expiry of many offsets.  They are
written in as many batches as they need (Kafka's non-atomic results), and what
the broker holds in memory is what a restart loads back: nothing deleted
comes back.

message.max.bytes is 16 KiB and the topic name 200 characters, so each
tombstone takes ~230 bytes and 100 of them need two batches."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import ck                                          # noqa: E402
import kproto as kp                                # noqa: E402
from helpers import wait_until                     # noqa: E402

TOPIC = "t" * 200
NPARTS = 100
OVERRIDES = {"message.max.bytes": "16384", "offsets.topic.num.partitions": "2",
             "auto.create.topics.enable": "false"}


def setup_broker(broker_factory, **over):
    b = broker_factory(dict(OVERRIDES, **over))
    ck.create_topic(b, TOPIC, NPARTS)
    return b


def commit_all(c, group, retention=-1):
    """Commits offset 1000 + p for every partition, 20 per request (each
    request's batch fits the 16 KiB)."""
    for lo in range(0, NPARTS, 20):
        r = c.call(kp.OFFSET_COMMIT, 2, group, {TOPIC: [(p, 1000 + p, "") for p in range(lo, lo + 20)]},
                   retention=retention)
        assert set(r["errors"].values()) == {kp.NONE}, r


def fetch_all(c, group):
    return c.call(kp.OFFSET_FETCH, 2, group, None)["offsets"]


def loaded(b):
    with kp.Conn(b.bootstrap) as c:
        wait_until(lambda: c.call(kp.LIST_GROUPS, 2)["error"] == kp.NONE, timeout=30, what="groups loaded")


def test_delete_groups_many_offsets(broker_factory):
    b = setup_broker(broker_factory)
    with kp.Conn(b.bootstrap) as c:
        commit_all(c, "big")
        commit_all(c, "small-neighbour")
        assert len(fetch_all(c, "big")) == NPARTS
        r = c.call(kp.DELETE_GROUPS, 0, ["big"])
        assert r["results"] == {"big": kp.NONE}, r
        assert fetch_all(c, "big") == {}
    b.restart()
    loaded(b)
    with kp.Conn(b.bootstrap) as c:
        assert fetch_all(c, "big") == {}, "the deleted group came back after a restart"
        assert c.call(kp.DESCRIBE_GROUPS, 0, ["big"])["groups"][0]["state"] == "Dead"
        assert len(fetch_all(c, "small-neighbour")) == NPARTS


def test_offset_delete_many_offsets(broker_factory):
    b = setup_broker(broker_factory)
    with kp.Conn(b.bootstrap) as c:
        commit_all(c, "od")
        r = c.call(kp.OFFSET_DELETE, 0, "od", {TOPIC: list(range(NPARTS - 1))})
        assert r["error"] == kp.NONE and set(r["errors"].values()) == {kp.NONE}, r
        left = fetch_all(c, "od")
        assert list(left) == [(TOPIC, NPARTS - 1)]
    b.restart()
    loaded(b)
    with kp.Conn(b.bootstrap) as c:
        assert fetch_all(c, "od") == left


def test_expiry_many_offsets(broker_factory):
    """OffsetCommit v2 with RetentionTimeMs=1: each offset carries an expire
    timestamp already past, so the next pass (every 300 ms) removes all of
    them and the group."""
    b = setup_broker(broker_factory, **{"offsets.retention.check.interval.ms": "300"})
    with kp.Conn(b.bootstrap) as c:
        commit_all(c, "exp", retention=1)
        wait_until(lambda: fetch_all(c, "exp") == {}, timeout=30, what="offsets expired")
        wait_until(lambda: c.call(kp.DESCRIBE_GROUPS, 0, ["exp"])["groups"][0]["state"] == "Dead",
                   timeout=30, what="group removed")
    b.stop()
    b.overrides["offsets.retention.check.interval.ms"] = "3600000"
    b.start()
    loaded(b)
    with kp.Conn(b.bootstrap) as c:
        assert fetch_all(c, "exp") == {}, "expired offsets came back after a restart"
        assert c.call(kp.DESCRIBE_GROUPS, 0, ["exp"])["groups"][0]["state"] == "Dead"
