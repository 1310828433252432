"""Lag evaluation: the same workloads, evaluated by Burrow 1.2.1 (Debian's
`burrow`, reading this broker's __consumer_offsets, with ZooKeeper as in
test_burrow.py) and by gregord's own Burrow-compatible endpoint, give the
same statuses.

One partition per workload, a commit per tick (every TICK seconds, after the
tick's records were produced and Burrow polled the log end offsets again):

  healthy   commits the log end offset                      OK
  lagging   advances 2 per tick while 12 are produced         WARN
  stalled   commits the same offset, records keep coming      ERR (STALL)
  stopped   advances for the first ticks, then stops          ERR (STOP)
  rewound   advances, then one commit goes back               ERR (REWIND)

Burrow is configured with intervals=10 and offset-refresh=1, so its "recent"
window is 10 s; gregord gets lag.window.intervals=10 and
lag.window.recent.ms=10000."""
import time
import subprocess

import pytest

import ck
import kproto as kp
from helpers import free_port
from test_burrow import (BURROW, CLUSTER, _burrow_installed, _stop, burrow_config, http_json,  # noqa: F401
                         zookeeper)

BROKER_OVERRIDES = {"num.partitions": "1", "auto.create.topics.enable": "false",
                    "inter.broker.protocol.version": "2.0", "offsets.topic.num.partitions": "4",
                    "group.initial.rebalance.delay.ms": "0", "lag.window.intervals": "10",
                    "lag.window.recent.ms": "10000", "lag.burrow.cluster": CLUSTER}

TICK = 1.5
TICKS = 13
PER_TICK = 12
WORKLOADS = ("healthy", "lagging", "stalled", "stopped", "rewound")
EXPECTED = {"healthy": ("OK", "OK"), "lagging": ("WARN", "WARN"), "stalled": ("ERR", "STALL"),
            "stopped": ("ERR", "STOP"), "rewound": ("ERR", "REWIND")}


def statuses(port, group):
    r = http_json(port, "/v3/kafka/%s/consumer/%s/lag" % (CLUSTER, group))
    if not r or r.get("error") or not r.get("status"):
        return None
    st = r["status"]
    return st["status"], [p["status"] for p in st.get("partitions") or []], st


@pytest.fixture(scope="module")
def burrow_port(broker, zookeeper, tmp_path_factory):
    for w in WORKLOADS:
        ck.create_topic(broker, "lag-" + w, partitions=1)
        ck.produce(broker, "lag-" + w, [{"value": b"seed"}] * PER_TICK)
    d = tmp_path_factory.mktemp("burrow-lag")
    port = free_port()
    (d / "burrow.toml").write_text(burrow_config(d, broker, zookeeper, port))
    out = open(d / "burrow.out", "ab")
    bp = None
    for _ in range(3):
        bp = subprocess.Popen([BURROW, "--config-dir", str(d)], stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, cwd=str(d))
        try:
            bp.wait(timeout=3)
        except subprocess.TimeoutExpired:
            break
        time.sleep(1)
    # Burrow drops commits for partitions whose log end offsets it has not polled yet
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ok = all((http_json(port, "/v3/kafka/%s/topic/lag-%s" % (CLUSTER, w)) or {}).get("offsets")
                 for w in WORKLOADS)
        if ok:
            break
        time.sleep(0.5)
    else:
        _stop(bp, "burrow")
        pytest.fail("Burrow did not see the topics within 60 s:\n%s"
                    % ((d / "burrow.log").read_text(errors="replace")[-3000:] if (d / "burrow.log").exists() else ""))
    yield port, bp, d
    _stop(bp, "burrow")


def test_same_statuses_as_burrow(broker, burrow_port):
    port, bp, d = burrow_port
    end = {w: PER_TICK for w in WORKLOADS}
    pos = {"lagging": 1, "stalled": 3, "stopped": 1, "rewound": 1}
    with kp.Conn(broker.bootstrap) as c:
        def commit(w, off):
            r = c.call(kp.OFFSET_COMMIT, 2, "g-" + w, {"lag-" + w: [(0, off, "")]}, generation=-1, member_id="")
            assert set(r["errors"].values()) == {0}, r

        for tick in range(TICKS):
            for w in WORKLOADS:
                ck.produce(broker, "lag-" + w, [{"value": b"v%d" % tick}] * PER_TICK)
                end[w] += PER_TICK
            time.sleep(TICK - 0.3)       # Burrow polls the end offsets every second
            commit("healthy", end["healthy"])
            pos["lagging"] += 2
            commit("lagging", pos["lagging"])
            commit("stalled", pos["stalled"])
            if tick < 6:
                pos["stopped"] += 3
                commit("stopped", pos["stopped"])
            pos["rewound"] += 3 if tick != TICKS - 2 else -2
            commit("rewound", pos["rewound"])
            time.sleep(0.3)
        # the stopped group's window spanned ~7.5 s: wait until its last commit
        # is older than that and more than 10 s, producing all the while
        for _ in range(6):
            for w in WORKLOADS:
                ck.produce(broker, "lag-" + w, [{"value": b"late"}] * 2)
                end[w] += 2
            time.sleep(TICK - 0.3)
            commit("healthy", end["healthy"])
            pos["lagging"] += 1
            commit("lagging", pos["lagging"])
            commit("stalled", pos["stalled"])
            pos["rewound"] += 1
            commit("rewound", pos["rewound"])
            time.sleep(0.3)
    time.sleep(1.2)
    got = {}
    for w in WORKLOADS:
        b = statuses(port, "g-" + w)
        g = statuses(broker.http_port, "g-" + w)
        got[w] = (b, g)
    diag = "\n".join("%s: burrow=%s gregord=%s" % (w, b and b[:2], g and g[:2]) for w, (b, g) in got.items())
    log = (d / "burrow.log").read_text(errors="replace") if (d / "burrow.log").exists() else ""
    assert bp.poll() is None, "Burrow exited:\n" + log[-3000:]
    for w in WORKLOADS:
        b, g = got[w]
        assert b is not None, "Burrow has no status for g-%s\n%s\n%s" % (w, diag, log[-2000:])
        assert g is not None, "gregord has no status for g-%s\n%s" % (w, diag)
        assert (b[0], b[1]) == (g[0], g[1]), "g-%s: Burrow and gregord differ\n%s" % (w, diag)
        if w != "healthy":
            assert (g[0], g[1][0]) == EXPECTED[w], "g-%s: %s, expected %s\n%s" % (w, g[:2], EXPECTED[w], diag)
    # the JSON shapes match key for key
    bst, gst = got["lagging"][0][2], got["lagging"][1][2]
    assert sorted(bst) == sorted(gst), (sorted(bst), sorted(gst))
    assert sorted(bst["partitions"][0]) == sorted(gst["partitions"][0])
    assert sorted(bst["maxlag"]["end"]) == sorted(gst["maxlag"]["end"])


def test_cluster_and_topic_views_match_burrow(broker, burrow_port):
    port = burrow_port[0]
    b = http_json(port, "/v3/kafka")
    g = http_json(broker.http_port, "/v3/kafka")
    assert sorted(b) == sorted(g) and g["clusters"] == [CLUSTER]
    bt = http_json(port, "/v3/kafka/%s/topic/lag-healthy" % CLUSTER)
    gt = http_json(broker.http_port, "/v3/kafka/%s/topic/lag-healthy" % CLUSTER)
    assert sorted(bt) == sorted(gt) and len(gt["offsets"]) == 1
    bc = http_json(port, "/v3/kafka/%s/consumer" % CLUSTER)
    gc = http_json(broker.http_port, "/v3/kafka/%s/consumer" % CLUSTER)
    assert sorted(bc) == sorted(gc)
    assert {"g-" + w for w in WORKLOADS} <= set(gc["consumers"])
    bd = http_json(port, "/v3/kafka/%s/consumer/g-lagging" % CLUSTER)
    gd = http_json(broker.http_port, "/v3/kafka/%s/consumer/g-lagging" % CLUSTER)
    assert sorted(bd) == sorted(gd)
    assert sorted(bd["topics"]["lag-lagging"][0]) == sorted(gd["topics"]["lag-lagging"][0])
    assert len(gd["topics"]["lag-lagging"][0]["offsets"]) == 10
    nf = http_json(broker.http_port, "/v3/kafka/%s/consumer/no-such-group/status" % CLUSTER)
    assert nf["status"]["status"] == "NOTFOUND"
