"""Hostile names: what a client can put in a topic name, a group id, a member,
instance or client id, and what must never follow from it.

* Every legal topic name (up to 249 characters of [a-zA-Z0-9._-]) works end to
  end: created by CreateTopics or by auto-create, its acknowledged records and
  the topic itself survive a restart and a kill -9.  A topic whose metadata
  file cannot be written is refused (an error, nothing acknowledged, nothing
  left on disk), also when CreatePartitions cannot record its new count.
* Group ids, member ids, instance ids and client ids are length-delimited
  byte strings: `victim\\0evil` is its own group, before and after restarts,
  and neither its commits nor its deletion touch `victim`'s offsets.  Ids are
  what Kafka makes of the bytes (new String(bytes, UTF_8)): ids that decode
  to the same Java String are one group, stored and answered with the
  re-encoded bytes, on the partition Utils.abs(hashCode) % 50 that Java 17
  computes (vectors below, generated with Java 17, as in
  tests/unit/test_jstr.c); the CLI's --history finds them there.
* Auto-create refuses a name that collides with an existing one once '.' and
  '_' are the same, as CreateTopics does.

After each attack a canary checks that a normal client is served within 1 s
and that nothing acknowledged was lost; the module ends with a peak-RSS bound.
Every loop is bounded, all traffic goes to 127.0.0.1."""
import os
import re
import struct
import threading
import time

import pytest

import kproto as kp
import adversary
from adversary import Canary, assert_peak_rss, wait_groups_loaded
from helpers import run_gregor, wait_until
from storage_check import env_broker_factory as _env_broker_factory, produce_raw, read_log


BROKER_OVERRIDES = {"num.partitions": "1", "auto.create.topics.enable": "true",
                    "group.initial.rebalance.delay.ms": "0"}

# Peak RSS of the broker over the module, across its restarts (measured:
# 23 MiB with the ASan build; the biggest attack is one DeleteGroups of
# 60,000 names).
PEAK_RSS_MB = 64

NONE, UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION = 0, 3, 17
TOPIC_ALREADY_EXISTS, KAFKA_STORAGE_ERROR = 36, 56

# (id bytes, canonical bytes = new String(id, UTF_8).getBytes(UTF_8),
#  Utils.abs(String.hashCode) % 50), computed by Java 17.
JAVA_VECTORS = [
    (b"grp", b"grp", 29),
    (b"victim", b"victim", 24),
    (b"victim\x00evil", b"victim\x00evil", 2),
    (b"\xc0\x80grp", b"\xef\xbf\xbd\xef\xbf\xbdgrp", 15),
    (b"\xe0\x80\x80", b"\xef\xbf\xbd" * 3, 19),
    (b"ab\xe2\x82", b"ab\xef\xbf\xbd", 38),
    (b"\xf0\x9f\x41", b"\xef\xbf\xbdA", 38),
    (b"\xed\xa0\x80", b"\xef\xbf\xbd", 33),
    (b"\xed\xa0\xbd\xed\xb8\x80", b"\xef\xbf\xbd\xef\xbf\xbd", 6),
    (b"g\xf0\x9f\x98\x80p", b"g\xf0\x9f\x98\x80p", 4),
    (b"\xf4\x90\x80\x80", b"\xef\xbf\xbd" * 4, 22),
    (b"grp\xff", b"grp\xef\xbf\xbd", 32),
    (b"polygenelubricants", b"polygenelubricants", 0),
]


@pytest.fixture
def env_broker(tmp_path):
    yield from _env_broker_factory(tmp_path)


# ------------------------------------------------------------------ wire helpers

class RawReader(kp.Reader):
    """Strings as bytes: ids are not necessarily UTF-8."""

    def string(self):
        n = self.i16()
        return None if n < 0 else bytes(self.take(n))


def rcall(bootstrap, api_key, version, body, client_id="gregor-test", timeout=10.0):
    """One request on a fresh connection -> RawReader after the correlation id."""
    s = kp.connect(bootstrap, timeout)
    try:
        s.sendall(kp.request(api_key, version, 7, body, client_id=client_id))
        r = RawReader(kp.recv_frame(s))
    finally:
        s.close()
    assert r.i32() == 7
    return r


def create_topics(b, topics, version=2):
    """CreateTopics v2: [(name, partitions)] -> {name: (error, message)}."""
    body = kp.array([kp.string(n) + kp.i32(p) + kp.i16(1) + kp.array([]) + kp.array([]) for n, p in topics])
    body += kp.i32(15000) + kp.i8(0)
    r = rcall(b.bootstrap, 19, version, body)
    r.i32()
    out = {}
    for _ in range(r.i32()):
        name, err, msg = r.string(), r.i16(), r.string()
        out[name.decode()] = (err, msg)
    return out


def create_partitions(b, topic, total):
    """CreatePartitions v0 -> (error, message)."""
    body = kp.array([kp.string(topic) + kp.i32(total) + kp.i32(-1)]) + kp.i32(15000) + kp.i8(0)
    r = rcall(b.bootstrap, 37, 0, body)
    r.i32()
    [(name, err, msg)] = [(r.string(), r.i16(), r.string()) for _ in range(r.i32())]
    return err, msg


def alter_config(b, topic, key, value):
    """IncrementalAlterConfigs v0, one SET on a topic -> (error, message)."""
    cfg = kp.array([kp.string(key) + kp.i8(0) + kp.string(value)])
    body = kp.array([kp.i8(2) + kp.string(topic) + cfg]) + kp.i8(0)
    r = rcall(b.bootstrap, 44, 0, body)
    r.i32()
    [(err, msg)] = [(r.i16(), r.string(), r.i8(), r.string())[:2] for _ in range(r.i32())]
    return err, msg


def metadata(b, topics, auto_create=False):
    """Metadata v4 -> {name: (error, partition count)}."""
    body = kp.array([kp.string(t) for t in topics]) + kp.i8(1 if auto_create else 0)
    r = rcall(b.bootstrap, 3, 4, body)
    r.i32()
    for _ in range(r.i32()):
        r.i32(), r.string(), r.i32(), r.string()
    r.string()
    r.i32()
    out = {}
    for _ in range(r.i32()):
        err, name = r.i16(), r.string()
        r.i8()
        n = r.i32()
        for _ in range(n):
            r.i16(), r.i32(), r.i32()
            [r.i32() for _ in range(r.i32())]
            [r.i32() for _ in range(r.i32())]
        out[name.decode()] = (err, n)
    assert r.remaining() == 0
    return out


def commit(b, group, offsets, client_id="gregor-test", member=b"", generation=-1):
    """OffsetCommit v2 -> {(topic, partition): error}."""
    r = rcall(b.bootstrap, kp.OFFSET_COMMIT, 2,
              kp.enc_offset_commit(group, offsets, generation=generation, member_id=member), client_id)
    return {(t.decode(), p): e for (t, p), e in kp.dec_offset_commit(r, 2)["errors"].items()}


def fetch_offsets(b, group, topics):
    """OffsetFetch v1 -> {(topic, partition): (offset, metadata bytes, error)}."""
    r = rcall(b.bootstrap, kp.OFFSET_FETCH, 1, kp.enc_offset_fetch(group, topics))
    out = {}
    for _ in range(r.i32()):
        t = r.string().decode()
        for _ in range(r.i32()):
            p, o, md, e = r.i32(), r.i64(), r.string(), r.i16()
            out[(t, p)] = (o, md, e)
    return out


def offset_of(b, group, topic, partition=0):
    o, _, e = fetch_offsets(b, group, {topic: [partition]})[(topic, partition)]
    assert e == NONE, e
    return o


def list_groups(b):
    r = rcall(b.bootstrap, kp.LIST_GROUPS, 0, b"")
    assert r.i16() == NONE
    return {r.string(): r.string() for _ in range(r.i32())}


def describe(b, group, version=4):
    r = rcall(b.bootstrap, kp.DESCRIBE_GROUPS, version, kp.enc_describe_groups([group], version=version))
    [g] = kp.dec_describe_groups(r, version)["groups"]
    return g


def delete_groups(b, groups):
    r = rcall(b.bootstrap, kp.DELETE_GROUPS, 0, kp.enc_delete_groups(groups))
    return kp.dec_delete_groups(r, 0)["results"]


def join(b, group, member=b"", instance=None, client_id="gregor-test", version=5):
    r = rcall(b.bootstrap, kp.JOIN_GROUP, version,
              kp.enc_join_group(group, member_id=member, instance_id=instance, version=version,
                                session_timeout=30000, rebalance_timeout=1000), client_id)
    return kp.dec_join_group(r, version)


def sync(b, group, generation, member, instance=None, assignments=(), version=3):
    r = rcall(b.bootstrap, kp.SYNC_GROUP, version,
              kp.enc_sync_group(group, generation, member, assignments, instance_id=instance, version=version))
    return kp.dec_sync_group(r, version)


def heartbeat(b, group, generation, member, instance=None, version=3):
    r = rcall(b.bootstrap, kp.HEARTBEAT, version,
              kp.enc_heartbeat(group, generation, member, instance_id=instance, version=version))
    return kp.dec_error_only(r, version)["error"]


def offsets_records(b, partition):
    """The (key, value) of every record in __consumer_offsets-<partition>."""
    recs, _ = read_log(b, "__consumer_offsets", partition)
    return [(k, v) for _, k, v in recs]


def key_group(key):
    """The group bytes of an OffsetCommit or GroupMetadata key."""
    (n,) = struct.unpack_from(">h", key, 2)
    return key[4:4 + n]


def cli(b, *args, timeout=60):
    return run_gregor([b"consumer-groups", b"--bootstrap-server", b.bootstrap] + list(args), timeout=timeout,
                      binary=True)


# ------------------------------------------------------------------ module state

def restart(b, kill=False):
    """Restart b (SIGTERM, or kill -9), keeping its peak RSS so far."""
    adversary.restart(b, kill=kill)
    assert wait_groups_loaded(b) == NONE


@pytest.fixture(scope="module")
def canary(broker):
    return Canary(broker, topic="names-canary", group="names-canary-group").plant()


def long_name(n, tag):
    """A legal topic name of exactly n characters."""
    s = "%s.%d_" % (tag, n)
    return s + "x" * (n - len(s) - 2) + "-z"


# ------------------------------------------------------------------ 1: long topic names

def test_long_topic_names_survive_restart_and_kill(broker, canary):
    lengths = (240, 241, 244, 248, 249)
    made = {long_name(n, "ct"): 3 for n in lengths}
    res = create_topics(broker, list(made.items()))
    assert {t: e for t, (e, _) in res.items()} == {t: NONE for t in made}, res
    auto = [long_name(n, "auto") for n in (241, 249)]
    md = metadata(broker, auto, auto_create=True)
    assert {t: e for t, (e, _) in md.items()} == {t: NONE for t in auto}, md
    made.update({t: 1 for t in auto})
    acked = {}

    def produce_all(tag):
        for t, n in made.items():
            for p in range(n):
                vals = [b"%s-%d-%d" % (tag, p, i) for i in range(5)]
                err, base = produce_raw(broker, t, p, vals)
                assert err == NONE, (len(t), p, err)
                acked.setdefault((t, p), []).extend(vals)

    def check_all():
        md = metadata(broker, list(made))
        assert md == {t: (NONE, n) for t, n in made.items()}, md
        for (t, p), vals in acked.items():
            recs, _ = read_log(broker, t, p)
            assert [v for _, _, v in recs] == vals, (len(t), p)

    produce_all(b"a")
    check_all()
    restart(broker)
    check_all()
    produce_all(b"b")
    restart(broker, kill=True)
    check_all()
    canary.check()
    # Kafka's partition layout on disk, and the names are taken
    dirs = os.listdir(broker.data_dir)
    for t, n in made.items():
        assert all("%s-%d" % (t, p) in dirs for p in range(n)), len(t)
    again = create_topics(broker, [(t, 1) for t in made])
    assert {t: e for t, (e, _) in again.items()} == {t: TOPIC_ALREADY_EXISTS for t in made}, again
    # deleting one is durable too
    gone = long_name(249, "ct")
    body = kp.array([kp.string(gone)]) + kp.i32(15000)
    r = rcall(broker.bootstrap, 20, 1, body)
    r.i32()
    assert [(r.string(), r.i16()) for _ in range(r.i32())] == [(gone.encode(), NONE)]
    restart(broker, kill=True)
    assert metadata(broker, [gone]) == {gone: (UNKNOWN_TOPIC_OR_PARTITION, 0)}
    assert not [d for d in os.listdir(broker.data_dir) if d.startswith(gone + "-")]
    del made[gone]
    acked = {k: v for k, v in acked.items() if k[0] != gone}
    check_all()
    canary.check()


def test_illegal_topic_names_refused(broker, canary):
    before = sorted(os.listdir(broker.data_dir))
    bad = ["x" * 250, "a\x00b", "..", ".", "", "t/../../etc", "t\nx", "caf\u00e9", "x" * 10000]
    res = create_topics(broker, [(n, 1) for n in bad])
    assert res == {n: (INVALID_TOPIC_EXCEPTION, res[n][1]) for n in bad}, res
    md = metadata(broker, bad, auto_create=True)
    assert md == {n: (INVALID_TOPIC_EXCEPTION, 0) for n in bad}, md
    assert sorted(os.listdir(broker.data_dir)) == before
    canary.check()


def test_metadata_write_failure_fails_create(env_broker):
    b = env_broker({"num.partitions": "2", "auto.create.topics.enable": "true"})
    c = Canary(b).plant()
    ok_topic = long_name(249, "before")
    assert create_topics(b, [(ok_topic, 2)])[ok_topic][0] == NONE
    b.arm("enospc@/.topics/")
    names = ["meta-fail", long_name(249, "meta-fail")]
    res = create_topics(b, [(n, 2) for n in names])
    assert {n: e for n, (e, _) in res.items()} == {n: KAFKA_STORAGE_ERROR for n in names}, res
    md = metadata(b, ["meta-fail-auto"], auto_create=True)
    assert md["meta-fail-auto"][0] == KAFKA_STORAGE_ERROR, md
    names.append("meta-fail-auto")
    # a new partition count or config that cannot be recorded is refused too
    assert create_partitions(b, ok_topic, 4)[0] == KAFKA_STORAGE_ERROR
    assert alter_config(b, ok_topic, "retention.ms", "1")[0] == KAFKA_STORAGE_ERROR
    for n in names:
        err, _ = produce_raw(b, n, 0, [b"must-not-be-acked"])
        assert err == UNKNOWN_TOPIC_OR_PARTITION, (n, err)
    assert metadata(b, names + [ok_topic]) == dict({n: (UNKNOWN_TOPIC_OR_PARTITION, 0) for n in names},
                                                   **{ok_topic: (NONE, 2)})
    left = [d for d in os.listdir(b.data_dir) if any(d.startswith(n + "-") for n in names)]
    assert left == [], left
    assert sorted(d for d in os.listdir(b.data_dir) if d.startswith(ok_topic + "-")) == [ok_topic + "-0",
                                                                                      ok_topic + "-1"]
    c.check()
    b.clear()
    # the refused config change was not kept in memory: the next save of
    # the topic's file does not bring it in
    assert create_partitions(b, ok_topic, 3)[0] == NONE
    [props] = [f for f in os.listdir(os.path.join(b.data_dir, ".topics")) if f.startswith(ok_topic[:200] + "~")]
    with open(os.path.join(b.data_dir, ".topics", props)) as f:
        text = f.read()
    assert "name=%s\n" % ok_topic in text and "partitions=3\n" in text and "retention.ms" not in text, text
    b.restart()
    assert metadata(b, names + [ok_topic]) == dict({n: (UNKNOWN_TOPIC_OR_PARTITION, 0) for n in names},
                                                   **{ok_topic: (NONE, 3)})
    # once the disk is back, the same names work
    res = create_topics(b, [(n, 2) for n in names])
    assert {n: e for n, (e, _) in res.items()} == {n: NONE for n in names}, res
    assert create_partitions(b, ok_topic, 4)[0] == NONE
    b.restart()
    assert metadata(b, names + [ok_topic]) == dict({n: (NONE, 2) for n in names}, **{ok_topic: (NONE, 4)})
    c.check()


def alter_configs(b, topic, kv):
    """IncrementalAlterConfigs v0, one SET per key of kv on a topic -> error."""
    cfg = kp.array([kp.string(k) + kp.i8(0) + kp.string(v) for k, v in kv.items()])
    r = rcall(b.bootstrap, 44, 0, kp.array([kp.i8(2) + kp.string(topic) + cfg]) + kp.i8(0))
    r.i32()
    [err] = [(r.i16(), r.string(), r.i8(), r.string())[0] for _ in range(r.i32())]
    return err


def topic_overrides(b, topic, keys):
    """DescribeConfigs v0 of keys of a topic -> {key: value} of those set on
    the topic itself (not defaults)."""
    r = rcall(b.bootstrap, 32, 0, kp.array([kp.i8(2) + kp.string(topic) + kp.array([kp.string(k) for k in keys])]))
    r.i32()
    out = {}
    for _ in range(r.i32()):
        assert r.i16() == NONE
        r.string(), r.i8(), r.string()
        for _ in range(r.i32()):
            name, value, _ro, dflt, _sens = r.string(), r.string(), r.i8(), r.i8(), r.i8()
            if not dflt:
                out[name.decode()] = value.decode()
    return out


def test_failed_config_change_changes_nothing(env_broker):
    """An IncrementalAlterConfigs of several keys whose metadata write fails
    changes none of them: not in memory, not on disk, not after a restart,
    wherever the storage error strikes (the fault lets 0, 1, 2, ... file
    operations under .topics pass first)."""
    b = env_broker({})
    t = "cfg-atomic"
    assert create_topics(b, [(t, 1)])[t][0] == NONE
    keys = ["retention.ms", "segment.ms", "max.message.bytes"]
    want = {}
    outcomes = []
    for skip in range(8):
        new = {"retention.ms": str(86400000 + skip), "segment.ms": str(3600000 + skip),
               "max.message.bytes": str(100000 + skip)}
        b.arm("enospc+%d@/.topics/" % skip)
        err = alter_configs(b, t, new)
        b.clear()
        assert err in (NONE, KAFKA_STORAGE_ERROR), (skip, err)
        if err == NONE:
            want = new
        outcomes.append(err)
        assert topic_overrides(b, t, keys) == want, (skip, err)
    # the fault struck the first write and, at a larger count, let it through
    assert outcomes[0] == KAFKA_STORAGE_ERROR and outcomes[-1] == NONE, outcomes
    b.restart()
    assert topic_overrides(b, t, keys) == want


def test_metadata_that_cannot_be_made_durable_is_refused(env_broker):
    """A topic's metadata file renamed into place whose directory fsync
    fails (the rename may not survive a power cut) fails the CreateTopics,
    CreatePartitions or config change with KAFKA_STORAGE_ERROR, and nothing
    refused is there after a restart; the same when the log dir's fsync
    (the new partition directories) fails."""
    b = env_broker({"num.partitions": "1"})
    t, new = "dsync-ok", "dsync-new"
    assert create_topics(b, [(t, 2)])[t][0] == NONE
    b.arm("dirsync@/.topics/")
    assert create_topics(b, [(new, 2)])[new][0] == KAFKA_STORAGE_ERROR
    assert create_partitions(b, t, 3)[0] == KAFKA_STORAGE_ERROR
    assert alter_configs(b, t, {"retention.ms": "1234"}) == KAFKA_STORAGE_ERROR
    assert "Injected fault dirsync" in b.log_text()
    b.clear()

    def unchanged():
        assert metadata(b, [new, t]) == {new: (UNKNOWN_TOPIC_OR_PARTITION, 0), t: (NONE, 2)}
        assert topic_overrides(b, t, ["retention.ms"]) == {}
    unchanged()
    b.restart()
    unchanged()
    assert create_topics(b, [(new, 2)])[new][0] == NONE      # the name is free
    b.arm("dirsync@%s/" % b.data_dir)
    assert create_topics(b, [("dsync-dir", 1)])["dsync-dir"][0] == KAFKA_STORAGE_ERROR
    assert create_partitions(b, t, 3)[0] == KAFKA_STORAGE_ERROR
    b.clear()
    b.restart()
    assert metadata(b, ["dsync-dir", new, t]) == {"dsync-dir": (UNKNOWN_TOPIC_OR_PARTITION, 0),
                                                  new: (NONE, 2), t: (NONE, 2)}


def test_old_topic_metadata_files_still_load(env_broker):
    """A data dir of today's layout (.topics/<name>.properties) loads as it is."""
    b = env_broker({"num.partitions": "1"})
    t = long_name(240, "old")
    assert create_topics(b, [(t, 2), ("plain-old", 1)])[t][0] == NONE
    err, _ = produce_raw(b, t, 1, [b"old-1"])
    assert err == NONE
    b.stop()
    tdir = os.path.join(b.data_dir, ".topics")
    assert t + ".properties" in os.listdir(tdir) and "plain-old.properties" in os.listdir(tdir)
    for f in os.listdir(tdir):
        path = os.path.join(tdir, f)
        with open(path) as fh:
            lines = [ln for ln in fh.read().splitlines()
                     if ln.startswith(("topic.id=", "partitions=", "internal=", "config."))]
        with open(path, "w") as fh:                # exactly what older versions wrote
            fh.write("\n".join(lines) + "\n")
    b.start()
    assert metadata(b, [t, "plain-old"]) == {t: (NONE, 2), "plain-old": (NONE, 1)}
    recs, _ = read_log(b, t, 1)
    assert [v for _, _, v in recs] == [b"old-1"]


# ------------------------------------------------------------------ 2: ids are byte strings

def test_nul_group_id_is_its_own_group(broker, canary):
    t = "nul-ids"
    assert create_topics(broker, [(t, 2)])[t][0] == NONE
    victim, evil = b"victim", b"victim\x00evil"
    assert commit(broker, victim, {t: [(0, 100, "real"), (1, 200, "real")]}) == {(t, 0): 0, (t, 1): 0}
    assert commit(broker, evil, {t: [(0, 5, "evil\x00md"), (1, 6, "evil")]}) == {(t, 0): 0, (t, 1): 0}

    def victim_intact():
        got = fetch_offsets(broker, victim, {t: [0, 1]})
        assert got == {(t, 0): (100, b"real", 0), (t, 1): (200, b"real", 0)}, got

    victim_intact()
    got = fetch_offsets(broker, evil, {t: [0, 1]})
    assert got == {(t, 0): (5, b"evil\x00md", 0), (t, 1): (6, b"evil", 0)}, got
    groups = list_groups(broker)
    assert groups.get(victim) == b"" and groups.get(evil) == b"", groups
    assert describe(broker, evil)["group_id"] == evil
    # the records carry the whole id, on the id's own partition
    keys = [key_group(k) for k, _ in offsets_records(broker, 2)]
    assert keys.count(evil) == 2 and victim not in keys, keys
    restart(broker)
    victim_intact()
    assert offset_of(broker, evil, t, 0) == 5
    assert delete_groups(broker, [evil]) == {evil: 0}
    victim_intact()
    assert offset_of(broker, evil, t, 0) == -1
    restart(broker, kill=True)
    victim_intact()
    assert offset_of(broker, evil, t, 0) == -1
    restart(broker)
    victim_intact()
    # standalone commits under ids around the victim's never reach it
    for g in (b"victim\x00", b"\x00victim", b"vic\x00tim", b"victim\x00\x00", b"victim\xc0\x80"):
        assert commit(broker, g, {t: [(0, 1, "")]}) == {(t, 0): 0}, g
        assert offset_of(broker, g, t) == 1, g
    victim_intact()
    for g in (b"victim\x00", b"\x00victim", b"vic\x00tim", b"victim\x00\x00"):
        assert delete_groups(broker, [g]) == {g: 0}, g
    victim_intact()
    restart(broker, kill=True)
    victim_intact()
    canary.check()


def test_ids_that_java_decodes_alike_are_one_group(broker, canary):
    t = "utf8-ids"
    assert create_topics(broker, [(t, 1)])[t][0] == NONE
    assert commit(broker, b"same\xff", {t: [(0, 7, b"m\xfe\x00")]}) == {(t, 0): 0}
    # b"same\xfe", b"same\xef\xbf\xbd" and b"same\xc0" are the String "same\ufffd" too
    for alias in (b"same\xfe", b"same\xef\xbf\xbd", b"same\xc0", b"same\xff"):
        got = fetch_offsets(broker, alias, {t: [0]})[(t, 0)]
        assert got == (7, b"m\xef\xbf\xbd\x00", 0), (alias, got)
    groups = list_groups(broker)
    assert b"same\xef\xbf\xbd" in groups and b"same\xff" not in groups, groups
    assert describe(broker, b"same\xfe")["group_id"] == b"same\xef\xbf\xbd"
    # FindCoordinator v4 echoes each key as Kafka re-encodes it
    keys = [b"same\xfe", b"nul\x00key"]
    body = kp.i8(0) + kp.compact_array([kp.compact_string(k) for k in keys]) + kp.TAGS0
    sk = kp.connect(broker.bootstrap)
    try:
        sk.sendall(kp.request(10, 4, 5, body, flexible=True))
        r = RawReader(kp.recv_frame(sk))
    finally:
        sk.close()
    assert r.i32() == 5
    r.tags()
    r.i32()
    got = []
    for _ in range(r.uvarint() - 1):
        k = r.take(r.uvarint() - 1)
        r.i32(), r.take(r.uvarint() - 1), r.i32()
        got.append((bytes(k), r.i16()))
        n = r.uvarint()
        r.take(max(n - 1, 0))
        r.tags()
    assert got == [(b"same\xef\xbf\xbd", 0), (b"nul\x00key", 0)], got
    restart(broker)
    assert fetch_offsets(broker, b"same\xc0", {t: [0]})[(t, 0)] == (7, b"m\xef\xbf\xbd\x00", 0)
    assert delete_groups(broker, [b"same\xfe", b"same\xff"]) == {b"same\xef\xbf\xbd": 0}
    assert offset_of(broker, b"same\xff", t) == -1
    canary.check()


JAVA_PART = {raw: part for raw, _, part in JAVA_VECTORS}


def test_group_placement_matches_java(broker, canary):
    t = "placement"
    assert create_topics(broker, [(t, 1)])[t][0] == NONE
    for raw, canon, part in JAVA_VECTORS:
        assert commit(broker, raw, {t: [(0, 3, "")]}) == {(t, 0): 0}, raw
    for raw, canon, part in JAVA_VECTORS:
        keys = [key_group(k) for k, _ in offsets_records(broker, part)]
        assert canon in keys, (raw, part)
        assert raw == canon or raw not in keys, raw
        assert offset_of(broker, canon, t) == 3, raw
    canary.check()


def test_history_cli_finds_the_group_where_java_puts_it(broker, canary):
    """--history reads the partition Java computes, and only that group's records."""
    t = "hist-names"
    assert create_topics(broker, [(t, 1)])[t][0] == NONE
    ids = [raw for raw, _, _ in JAVA_VECTORS if b"\x00" not in raw and raw]
    for raw in ids:
        assert commit(broker, raw, {t: [(0, 11, "")]}) == {(t, 0): 0}, raw
    # a group whose id starts with the argument but goes on after a NUL
    # (on the same partition as "grp": Java puts both on 29 of 50)
    assert commit(broker, b"grp\x00t28", {t: [(0, 99, "")]}) == {(t, 0): 0}
    for raw in ids:
        cp = cli(broker, "--history", "--group", raw)
        assert cp.returncode == 0, (raw, cp.stderr)
        m = re.search(rb"__consumer_offsets-(\d+), offsets \d+\.\.\d+$", cp.stdout.splitlines()[0])
        assert m and int(m.group(1)) == JAVA_PART[raw], (raw, cp.stdout.splitlines()[0])
        assert b"OFFSET %s-0 - -> 11" % t.encode() in cp.stdout, (raw, cp.stdout)
        assert b"-> 99" not in cp.stdout, (raw, cp.stdout)
    canary.check()


def test_cli_escapes_hostile_ids(broker, canary):
    """--history, --describe and --list print ids escaped: no terminal control."""
    t = "cli-esc"
    assert create_topics(broker, [(t, 1)])[t][0] == NONE
    g, client = b"esc-g\x1b[2J", b"c\x1b]0;t\x07\x00x"
    protos = (("range", kp.subscription([t])),)
    r = rcall(broker.bootstrap, kp.JOIN_GROUP, 4, kp.enc_join_group(g, protocols=protos, version=4), client)
    mid = kp.dec_join_group(r, 4)["member_id"]
    r = rcall(broker.bootstrap, kp.JOIN_GROUP, 4, kp.enc_join_group(g, member_id=mid, protocols=protos, version=4),
              client)
    j = kp.dec_join_group(r, 4)
    assert j["error"] == NONE, j
    assert sync(broker, g, j["generation"], mid, assignments=[(mid, kp.assignment({t: [0]}))])["error"] == NONE
    assert commit(broker, g, {t: [(0, 4, "")]}, generation=j["generation"], member=mid) == {(t, 0): 0}
    outs = {}
    for args in (("--history", "--group", g), ("--describe", "--members", "--group", g),
                 ("--describe", "--group", g), ("--list",)):
        cp = cli(broker, *args)
        assert cp.returncode == 0, (args, cp.stderr)
        assert b"\x1b" not in cp.stdout + cp.stderr and b"\x07" not in cp.stdout + cp.stderr, (args, cp.stdout)
        outs[" ".join(a for a in args if isinstance(a, str))] = cp.stdout
    assert b"# group 'esc-g\\x1b[2J'" in outs["--history --group"]
    assert b"JOINED member=c\\x1b]0;t\\x07\\x00x-" in outs["--history --group"]
    members = outs["--describe --members --group"]
    assert b"esc-g\\x1b[2J" in members and b"c\\x1b]0;t\\x07" in members, members
    assert b"esc-g\\x1b[2J\n" in outs["--list"]
    canary.check()


def test_client_and_member_ids_keep_their_bytes(broker, canary):
    g = b"ids-g\x00x"
    client = b"cli\x00ent\x1b[2J"
    # a dynamic member's id is its client id + "-" + a uuid: NUL and all
    r = join(broker, g, client_id=client, version=4)
    assert r["error"] == kp.MEMBER_ID_REQUIRED, r
    mid = r["member_id"]
    assert mid.startswith(client + b"-"), mid
    r = join(broker, g, member=mid, client_id=client, version=4)
    assert r["error"] == NONE and r["member_id"] == mid and r["leader"] == mid, r
    assert sync(broker, g, r["generation"], mid, assignments=[(mid, b"")])["error"] == NONE
    d = describe(broker, g)
    assert [(m["member_id"], m["client_id"]) for m in d["members"]] == [(mid, client)], d
    restart(broker)
    d = describe(broker, g)
    assert [(m["member_id"], m["client_id"]) for m in d["members"]] == [(mid, client)], d
    canary.check()


def test_static_members_whose_instance_ids_differ_after_nul(broker, canary):
    """Two members, not the replacement of one static member by another."""
    g2 = b"static-g"
    a = join(broker, g2, instance=b"inst", version=5)
    assert a["error"] == NONE, a
    assert sync(broker, g2, a["generation"], a["member_id"], instance=b"inst",
                assignments=[(a["member_id"], b"")], version=3)["error"] == NONE
    out = {}
    th = threading.Thread(target=lambda: out.update(j=join(broker, g2, instance=b"inst\x00two", version=5)))
    th.start()
    try:
        # a new member: a rebalance, not the replacement of "inst"
        err = wait_until(lambda: heartbeat(broker, g2, a["generation"], a["member_id"], instance=b"inst") or None,
                         timeout=10, what="the rebalance")
        assert err == kp.REBALANCE_IN_PROGRESS, err
        a2 = join(broker, g2, member=a["member_id"], instance=b"inst", version=5)
    finally:
        th.join(30)
    assert a2["error"] == NONE and out["j"]["error"] == NONE, (a2, out)
    d = describe(broker, g2)
    assert sorted(m["instance_id"] for m in d["members"]) == [b"inst", b"inst\x00two"], d
    canary.check()


def test_config_names_and_values_are_not_cut_at_nul(broker, canary):
    """A NUL does not turn an unknown config key or a bad value into a valid one."""
    def create_with(name, key, value):
        cfg = kp.array([kp.string(key) + kp.string(value)])
        body = kp.array([kp.string(name) + kp.i32(1) + kp.i16(1) + kp.array([]) + cfg]) + kp.i32(15000) + kp.i8(0)
        r = rcall(broker.bootstrap, 19, 2, body)
        r.i32()
        [(n, err, msg)] = [(r.string(), r.i16(), r.string()) for _ in range(r.i32())]
        return err
    INVALID_CONFIG = 40
    assert create_with("cfg-nul-1", b"retention.ms\x00junk", b"1000") == INVALID_CONFIG
    assert create_with("cfg-nul-2", b"retention.ms", b"1000\x00junk") == INVALID_CONFIG
    assert create_with("cfg-nul-3", b"cleanup.policy", b"compact\x00,delete") == INVALID_CONFIG
    assert metadata(broker, ["cfg-nul-1", "cfg-nul-2", "cfg-nul-3"]) == {
        n: (UNKNOWN_TOPIC_OR_PARTITION, 0) for n in ("cfg-nul-1", "cfg-nul-2", "cfg-nul-3")}
    assert create_with("cfg-ok", b"retention.ms", b"1000") == NONE
    canary.check()


def offset_commit_v8(group, topic, offset, metadata=b""):
    """OffsetCommit v8 (flexible: compact strings of any length on the wire)."""
    cs = kp.compact_string
    part = kp.i32(0) + kp.i64(offset) + kp.i32(-1) + cs(metadata) + kp.TAGS0
    tops = kp.uvarint(2) + cs(topic) + kp.uvarint(2) + part + kp.TAGS0
    return cs(group) + kp.i32(-1) + cs(b"") + cs(None) + tops + kp.TAGS0


@pytest.mark.parametrize("what", ["group-long", "group-expands", "metadata-long"])
def test_strings_longer_than_kafka_reads_are_refused(broker, canary, what):
    """Kafka's readers refuse any string field longer than 0x7fff bytes, compact
    strings of flexible versions too, and it cannot write one whose Java String
    re-encodes longer than that (an invalid byte becomes the 3 bytes of U+FFFD).
    Such a request closes the connection, as Kafka's failed parse does, and no
    record with a wrapped int16 length reaches __consumer_offsets."""
    group, md = b"long-ok", b""
    if what == "group-long":
        group = b"g" * 40000
    elif what == "group-expands":
        group = b"\xff" * 12000                   # 12000 bytes, 36000 once decoded and re-encoded
    else:
        md = b"m" * 40000
    s = kp.connect(broker.bootstrap)
    try:
        s.sendall(kp.request(8, 8, 1, offset_commit_v8(group, canary.topic, 3, md), flexible=True))
        assert kp.wait_closed(s, 10), "the broker answered a string Kafka refuses to read"
    finally:
        s.close()
    # the longest string Kafka takes is served, and the broker is healthy
    with kp.Conn(broker.bootstrap) as c:
        r = c.raw(8, 8, offset_commit_v8(b"k" * 0x7fff, canary.topic, 3), flexible=True)
    r.tags()
    assert r.i32() == 0                            # throttle
    assert r.uvarint() == 2 and r.compact_string() == canary.topic
    assert r.uvarint() == 2 and r.i32() == 0 and r.i16() == NONE
    restart(broker)
    canary.check()


def test_delete_groups_long_list_costs_linear_time(broker, canary):
    """DeleteGroups with 60,000 names (half of them repeated) is answered
    without stalling everyone else (the duplicate check was quadratic)."""
    names = [b"dg-%d" % (i % 30000) for i in range(60000)]
    s = kp.connect(broker.bootstrap, 60)
    try:
        s.sendall(kp.request(kp.DELETE_GROUPS, 0, 9, kp.enc_delete_groups(names)))
        time.sleep(0.3)                          # the broker is on it
        took = canary.served_in()
        r = RawReader(kp.recv_frame(s))
    finally:
        s.close()
    assert r.i32() == 9
    res = kp.dec_delete_groups(r, 0)["results"]
    assert len(res) == 30000 and set(res.values()) == {kp.GROUP_ID_NOT_FOUND}, len(res)
    assert took <= 1.0, "a normal client waited %.2fs behind one DeleteGroups" % took
    canary.check()


# ------------------------------------------------------------------ 5: collisions on auto-create

def test_auto_create_refuses_colliding_names(broker, canary):
    assert create_topics(broker, [("coll.2", 1), ("coll_3", 1)]) == {"coll.2": (NONE, None), "coll_3": (NONE, None)}
    md = metadata(broker, ["coll_2", "coll.3", "coll-2"], auto_create=True)
    assert md["coll_2"][0] == INVALID_TOPIC_EXCEPTION and md["coll.3"][0] == INVALID_TOPIC_EXCEPTION, md
    assert md["coll-2"][0] == NONE, md
    assert not [d for d in os.listdir(broker.data_dir) if d.startswith(("coll_2-", "coll.3-"))]
    assert metadata(broker, ["coll_2", "coll.3"]) == {"coll_2": (UNKNOWN_TOPIC_OR_PARTITION, 0),
                                                      "coll.3": (UNKNOWN_TOPIC_OR_PARTITION, 0)}
    res = create_topics(broker, [("coll_2", 1)])
    assert res["coll_2"][0] == INVALID_TOPIC_EXCEPTION and b"collides" in res["coll_2"][1], res
    # long names collide the same way
    a = long_name(249, "lc")
    assert create_topics(broker, [(a, 1)])[a][0] == NONE
    b_ = a.replace(".", "_")
    assert metadata(broker, [b_], auto_create=True)[b_][0] == INVALID_TOPIC_EXCEPTION
    canary.check()


def test_hostile_ids_do_not_forge_log_lines(broker, canary):
    """Ids are escaped in the broker's log: no forged line, no terminal control."""
    marker = b"FORGED-LINE-MARKER"
    g = b"log-g\n[2030-01-01 00:00:00,000] ERROR " + marker + b" (x)\x1b]0;t\x07"
    r = join(broker, g, client_id=b"cl\n" + marker, version=4)
    assert r["error"] == kp.MEMBER_ID_REQUIRED
    r = join(broker, g, member=r["member_id"], client_id=b"cl\n" + marker, version=4)
    assert r["error"] == NONE, r
    log = open(broker.log_path, "rb").read()
    for line in log.splitlines():
        assert not line.startswith(b"[2030-01-01") and b"\x1b" not in line and b"\x07" not in line, line
    assert b"log-g\\x0a[2030-01-01" in log, "the group id should appear escaped in the log"
    canary.check()


def test_zz_peak_rss(broker):
    assert_peak_rss(broker, PEAK_RSS_MB)
