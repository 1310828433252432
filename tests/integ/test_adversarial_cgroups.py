"""Hostile ConsumerGroupHeartbeat and ConsumerGroupDescribe input: huge
subscriptions, regexes that are catastrophic for backtracking engines,
member epochs out of range, thousands of members in one group; classic
members of a consumer group with hostile protocols and subscriptions.  Each attack
is bounded in count and time and is followed by a Canary check (a normal
client served within 1 s, nothing acknowledged or committed lost), after a
restart where the attack left state behind.  The module ends with a peak-RSS
bound (MODULE_PEAK_RSS_MB, under ASan)."""
import struct
import time

import pytest

import kproto as K
from adversary import Canary, assert_peak_rss, restart
from helpers import wait_until
from test_cgroups_848 import FAST, cghb, create_topic, describe, topic_id


def loaded(b, group):
    """The group's description once its partition is loaded again."""
    return wait_until(lambda: (lambda d: d if d["error"] == 0 else None)(describe(b.bootstrap, [group])[0]),
                      timeout=60, what="group %s loaded" % group)

# ASan's shadow memory and quarantine included: the 1,500 members of
# test_thousands_of_members are a few MiB of state (an optimised build peaks
# at about 10 MiB over the whole test), but each heartbeat's assignment
# frees its scratch memory into ASan's quarantine, which keeps up to
# 256 MiB of it; the peak of that test's broker is ~390-400 MiB under ASan.
MODULE_PEAK_RSS_MB = 500


def hb_frame(group, member, epoch, topics=(), regex=None, instance=None, rebalance_ms=30000, owned=(),
             corr=1, version=1):
    body = (K.compact_string(group) + K.compact_string(member) + K.i32(epoch) + K.compact_string(instance)
            + K.compact_string(None) + K.i32(rebalance_ms)
            + K.compact_array(None if topics is None else [K.compact_string(t) for t in topics]))
    if version >= 1:
        body += K.compact_string(regex)
    body += K.compact_string(None)
    body += K.compact_array(None if owned is None else [])
    body += K.TAGS0
    return K.request(68, version, corr, body, flexible=True)


def hb_parse(payload):
    r = K.Reader(payload)
    r.i32()
    r.tags()
    r.i32()
    err = r.i16()
    msg = r.compact_string()
    mid = r.compact_string()
    epoch = r.i32()
    return err, msg, mid, epoch


def hb(b, *a, **kw):
    return hb_parse(K.roundtrip(b.bootstrap, hb_frame(*a, **kw), timeout=30))


@pytest.fixture(scope="module")
def adv(tmp_path_factory):
    from helpers import _make_broker, _teardown
    # sessions of 60 s (the most group.consumer.max.session.timeout.ms allows
    # by default): the 1,500 members of test_thousands_of_members join one
    # after another and heartbeat once, which under ASan on a busy machine
    # can take longer than FAST's 6 s, and a member whose session ended
    # would leave room for the one that must be refused
    b = _make_broker(tmp_path_factory.mktemp("gregord"),
                     dict(FAST, **{"group.consumer.max.size": "1500",
                                   "group.consumer.session.timeout.ms": "60000"}))
    yield b
    probs = _teardown(b)
    assert not probs, probs


def test_huge_subscriptions(adv):
    canary = Canary(adv, topic="adv-cg-canary", group="adv-cg-canary-g").plant()
    create_topic(adv, "adv-cg", 4)
    # more names than a member may subscribe to
    err, msg, _, _ = hb(adv, "adv-huge", "h0", 0, topics=["t%05d" % i for i in range(10001)])
    assert err == 42 and "10000" in msg
    # 10,000 names of 200 bytes: its record is larger than max.message.bytes
    # of __consumer_offsets (1 MiB), so nothing is written nor changed and
    # the member gets UNKNOWN_SERVER_ERROR, as from Kafka
    names = [("n%05d" % i) + "x" * 194 for i in range(9999)] + ["adv-cg"]
    err, _, _, _ = hb(adv, "adv-huge", "h1", 0, topics=names)
    assert err == -1
    assert describe(adv.bootstrap, ["adv-huge"])[0]["error"] == 69
    # 10,000 names of 60 bytes fit: most are no topic
    names = [("n%05d" % i) + "x" * 54 for i in range(9999)] + ["adv-cg"]
    err, _, _, epoch = hb(adv, "adv-huge", "h1", 0, topics=names)
    assert err == 0 and epoch == 1
    d = describe(adv.bootstrap, ["adv-huge"])[0]
    assert len(d["members"][0]["topics"]) == 10000
    assert d["members"][0]["assignment"] == {"adv-cg": [0, 1, 2, 3]}
    # a subscription of 10,000 names is in __consumer_offsets: it loads again
    restart(adv)
    d = loaded(adv, "adv-huge")
    assert len(d["members"][0]["topics"]) == 10000
    canary.check()


CATASTROPHIC = ["(a+)+$", "(a|aa)+$", "(a|a?)+$", "(.*a){20}$", "((a+)*)+$", "(x+x+)+y", "^(a?){30}a{30}$"]


def test_catastrophic_regexes(adv):
    canary = Canary(adv, topic="adv-cg-canary2", group="adv-cg-canary-g2").plant()
    # topic names that make backtracking engines explode on the patterns above
    for n in ("a" * 200 + "-", "x" * 200, "a" * 60):
        create_topic(adv, n, 1)
    for i, rx in enumerate(CATASTROPHIC):
        err, _, _, _ = hb(adv, "adv-rx", "r%d" % i, 0, topics=None, regex=rx)
        assert err == 0, (rx, err)
        canary.check()
    # patterns RE2 (and RE2/J) refuse, and one longer than the bound
    for rx in ["(a)\\1", "(?=a)", "a{2000}", "(((", "a" * 16385]:
        err, _, _, _ = hb(adv, "adv-rx", "bad", 0, topics=None, regex=rx)
        assert err == 128, (rx[:20], err)
    canary.check()


def test_epochs_out_of_range(adv):
    canary = Canary(adv, topic="adv-cg-canary3", group="adv-cg-canary-g3").plant()
    create_topic(adv, "adv-ep", 2)
    err, _, mid, e = hb(adv, "adv-ep", "e1", 0, topics=["adv-ep"])
    assert err == 0
    for epoch, want in [(2 ** 31 - 1, 110), (e + 1, 110), (-3, 42), (-(2 ** 31), 42), (-2, 42)]:
        err, _, _, _ = hb(adv, "adv-ep", "e1", epoch, topics=None, rebalance_ms=-1)
        assert err == want, (epoch, err)
    # a join with a rebalance timeout and an assignor a client made up
    assert hb(adv, "adv-ep", "e2", 0, topics=["adv-ep"], rebalance_ms=-(2 ** 31))[0] == 0
    # a truncated body closes the connection, nothing else
    s = K.connect(adv.bootstrap)
    f = hb_frame("adv-ep", "e3", 0, topics=["adv-ep"])
    s.sendall(struct.pack(">i", 20) + f[4:24])
    assert K.wait_closed(s, 5)
    s.close()
    canary.check()


def test_thousands_of_members(adv):
    canary = Canary(adv, topic="adv-cg-canary4", group="adv-cg-canary-g4").plant()
    create_topic(adv, "adv-many", 12)
    s = K.connect(adv.bootstrap, timeout=60)
    n = 1000
    for i in range(n):
        s.sendall(hb_frame("adv-many", "m%04d" % i, 0, topics=["adv-many"], corr=i))
        err, _, _, _ = hb_parse(K.recv_frame(s))
        assert err == 0, (i, err)
    # over the group's bound: GROUP_MAX_SIZE_REACHED
    cfg_max = 1500
    for i in range(n, cfg_max):
        s.sendall(hb_frame("adv-many", "m%04d" % i, 0, topics=["adv-many"], corr=i))
        assert hb_parse(K.recv_frame(s))[0] == 0
    s.sendall(hb_frame("adv-many", "over", 0, topics=["adv-many"], corr=1))
    assert hb_parse(K.recv_frame(s))[0] == 81
    s.close()
    canary.check()
    d = describe(adv.bootstrap, ["adv-many"])[0]
    assert len(d["members"]) == cfg_max
    assert sum(len(p) for m in d["members"] for p in m["target"].values()) == 12
    restart(adv)
    d = loaded(adv, "adv-many")
    assert len(d["members"]) == cfg_max
    canary.check()


def test_hostile_classic_members(adv):
    """Classic JoinGroup/SyncGroup/Heartbeat into a consumer group with a
    classic member (online migration): 200,000 protocols none of which the
    group has, a subscription of 20,000 topics (beyond the bound), a
    truncated one, heartbeats and syncs at every wrong generation."""
    from test_cgroups_migration import classic_group, heartbeat, join, new_mid, sync
    from test_cgroups_848 import cghb
    canary = Canary(adv, topic="adv-cg-canary5", group="adv-cg-canary-g5").plant()
    create_topic(adv, "mig", 6)
    a, gen = classic_group(adv, "adv-mig")
    assert cghb(adv.bootstrap, "adv-mig", member=new_mid(), topics=["mig"])["error"] == 0
    sub = K.i16(0) + K.array([K.string("mig")]) + K.bytes32(None)
    many = [("p%06d" % i, sub) for i in range(200000)]
    body = K.enc_join_group("adv-mig", "", many, "consumer", 10000, 10000, None, version=5)
    payload = K.roundtrip(adv.bootstrap, K.request(K.JOIN_GROUP, 5, 3, body), timeout=60)
    r = K.Reader(payload)
    assert r.i32() == 3
    assert K.dec_join_group(r, 5)["error"] == K.INCONSISTENT_GROUP_PROTOCOL
    big = K.i16(0) + K.array([K.string("t%05d" % i) for i in range(20000)]) + K.bytes32(None)
    for md in (big, sub[:5]):
        r1 = join(adv, "adv-mig", metadata=md)
        assert r1["error"] == K.MEMBER_ID_REQUIRED
        assert join(adv, "adv-mig", member=r1["member_id"], metadata=md)["error"] == -1
    for g in (-1, 0, gen - 1, gen + 5, 2 ** 31 - 1):
        assert heartbeat(adv, "adv-mig", g, a) in (K.ILLEGAL_GENERATION, K.REBALANCE_IN_PROGRESS)
        assert sync(adv, "adv-mig", g, a)["error"] in (K.ILLEGAL_GENERATION, K.REBALANCE_IN_PROGRESS)
    canary.check()
    d = describe(adv.bootstrap, ["adv-mig"])[0]
    assert len(d["members"]) == 2
    restart(adv)
    assert len(loaded(adv, "adv-mig")["members"]) == 2
    canary.check()


FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID = 110, 25
I32_MAX = (1 << 31) - 1


def test_rebalance_timeout_capped(broker_factory):
    """ConsumerGroupHeartbeat's RebalanceTimeoutMs is the client's: Kafka
    takes up to 2^31-1 ms (24.8 days), and a member that is told to revoke
    partitions, keeps heartbeating and never revokes them holds them that
    long from the member they are meant for.  gregord grants at most
    group.max.rebalance.timeout.ms: past it the member is fenced and the
    partitions move."""
    b = broker_factory(dict(FAST, **{"group.max.rebalance.timeout.ms": "3000"}))
    canary = Canary(b, topic="adv-rto-canary", group="adv-rto-canary-g").plant()
    create_topic(b, "adv-rto", 4)
    tid = topic_id(b, "adv-rto")
    r = cghb(b.bootstrap, "adv-rto-g", member="hostile", topics=["adv-rto"], rebalance_ms=I32_MAX)
    assert r["error"] == 0 and r["assignment"] == [(tid, [0, 1, 2, 3])], r
    hostile_epoch = r["epoch"]
    r2 = cghb(b.bootstrap, "adv-rto-g", member="m2", topics=["adv-rto"])
    assert r2["error"] == 0 and r2["assignment"] == [], r2
    epoch2 = r2["epoch"]
    t0 = time.monotonic()
    fenced, got = None, None
    while time.monotonic() - t0 < 30:
        if fenced is None:
            # told to revoke half, it answers with nothing revoked, every second
            r = cghb(b.bootstrap, "adv-rto-g", member="hostile", epoch=hostile_epoch, topics=None,
                     rebalance_ms=-1, owned=None)
            if r["error"] != 0:
                fenced = (r["error"], time.monotonic() - t0)
        r2 = cghb(b.bootstrap, "adv-rto-g", member="m2", epoch=epoch2, topics=None, rebalance_ms=-1, owned=[])
        assert r2["error"] == 0, r2
        epoch2 = r2["epoch"]
        if r2["assignment"]:
            got = (r2["assignment"], time.monotonic() - t0)
            break
        time.sleep(1.0)
    print("hostile member fenced after %s, partitions moved after %s" % (fenced, got))
    assert fenced is not None and fenced[0] in (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID), fenced
    assert got is not None and got[0] == [(tid, [0, 1, 2, 3])], \
        "the partitions stayed with a member that never revoked them for 30 s (rebalance timeout 3 s)"
    canary.check()


def test_module_peak_rss(adv):
    peak = assert_peak_rss(adv, MODULE_PEAK_RSS_MB)
    print("peak RSS over the module's processes (1,500 members, 10,000-name subscription loaded, a mixed group): "
          "%.0f MiB" % peak)
