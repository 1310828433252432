"""Burrow 1.2.1 (Debian's `burrow`, sarama inside) reads committed offsets
straight from __consumer_offsets and broker offsets with ListOffsets, and
reports a group's lag over its HTTP API.  ZooKeeper (Debian's `zookeeper`)
runs beside it on a free loopback port, because Burrow requires one.

If Burrow cannot decode something the broker wrote, its log says so
("failed to decode", "unknown version", ...) and the test fails with those
lines: that is a broker bug to fix, not a test to relax."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

import ck
import kproto as kp
from helpers import free_port, port_open, require

BURROW = shutil.which("Burrow") or "/usr/bin/Burrow"
ZK_JAR = "/usr/share/java/zookeeper.jar"
CLUSTER = "gregor"

BROKER_OVERRIDES = {"num.partitions": "1", "auto.create.topics.enable": "false",
                    # Burrow 1.2.1 reads GroupMetadataValue v0/v1 only, as written by
                    # Kafka < 2.1: the same knob Kafka has selects them
                    "inter.broker.protocol.version": "2.0",
                    "offsets.topic.num.partitions": "4",
                    "group.initial.rebalance.delay.ms": "0"}

@pytest.fixture(autouse=True)
def _burrow_installed():
    require(os.access(BURROW, os.X_OK) and os.path.exists(ZK_JAR),
            "burrow / zookeeper packages not installed (tools/deps.sh test)")


def _stop(p, name):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def _zk_ok(port):
    """ZooKeeper answers the "ruok" four-letter command with "imok" once it serves."""
    if not port_open(port):
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"ruok")
            return s.recv(16) == b"imok"
    except OSError:
        return False


@pytest.fixture(scope="module")
def zookeeper(tmp_path_factory):
    port = free_port()
    d = tmp_path_factory.mktemp("zk")
    (d / "data").mkdir(parents=True)
    cfg = d / "zoo.cfg"
    cfg.write_text("tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%d\n"
                   "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
                   "4lw.commands.whitelist=ruok\n" % (d / "data", port))
    log = open(d / "zk.log", "ab")
    p = subprocess.Popen(["java", "-Xmx128m", "-Dzookeeper.admin.enableServer=false",
                          "-cp", ZK_JAR + ":/usr/share/java/slf4j-simple.jar", "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                          str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, cwd=str(d))
    deadline = time.monotonic() + 30
    # "ruok" is answered before the database is loaded: also wait for the
    # request processor to start (slf4j-simple logs it)
    while not (_zk_ok(port) and "PrepRequestProcessor" in
               (d / "zk.log").read_text(errors="replace")):
        if p.poll() is not None or time.monotonic() > deadline:
            _stop(p, "zookeeper")
            pytest.fail("ZooKeeper did not start on 127.0.0.1:%d:\n%s"
                        % (port, (d / "zk.log").read_text(errors="replace")[-3000:]))
        time.sleep(0.2)
    time.sleep(0.5)
    yield "127.0.0.1:%d" % port
    _stop(p, "zookeeper")


def burrow_config(d, broker, zk, http_port):
    return """
[general]
pidfile="{d}/burrow.pid"

[logging]
filename="{d}/burrow.log"
level="debug"

[zookeeper]
servers=["{zk}"]
timeout=6
root-path="/burrow"

[client-profile.gregor]
client-id="burrow-gregor"
kafka-version="0.10.1"

[cluster.{cluster}]
class-name="kafka"
servers=["{bs}"]
client-profile="gregor"
topic-refresh=2
offset-refresh=1

[consumer.{cluster}]
class-name="kafka"
cluster="{cluster}"
servers=["{bs}"]
client-profile="gregor"
offsets-topic="__consumer_offsets"
start-latest=false
group-blacklist="^$"

[storage.default]
class-name="inmemory"
workers=2
intervals=10
expire-group=604800
min-distance=0

[evaluator.default]
class-name="caching"
expire-cache=1

[httpserver.default]
address="127.0.0.1:{http}"
""".format(d=d, zk=zk, bs=broker.bootstrap, cluster=CLUSTER, http=http_port)


def http_json(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        try:
            return json.loads(e.read().decode())
        except ValueError:
            return {"error": True, "status": e.code}
    except (OSError, ValueError):
        return None


def burrow_complaints(text):
    keys = ("failed to decode", "unknown version", "value version", "key version", "error",
            "failed", "cannot", "unable")
    out = []
    for ln in text.splitlines():
        low = ln.lower()
        if any(k in low for k in keys) and '"level":"debug"' not in low:
            out.append(ln)
    return out


@pytest.fixture(scope="module")
def burrow_run(broker, zookeeper, tmp_path_factory):
    """Commit offsets leaving a known lag, run Burrow until its lag API
    reports them (at most 60 s); yields what Burrow said and logged."""
    topic, group = "burrow-lag", "burrow-group"
    ck.create_topic(broker, topic, partitions=3)
    for p in range(3):
        ck.produce(broker, topic, [{"value": b"v%d" % i} for i in range(10)], partition=p)
    commits = {0: 4, 1: 6, 2: 10}          # lag 6 + 4 + 0
    expected_lag = sum(10 - o for o in commits.values())

    # a real group generation too, so a GroupMetadata record exists
    with kp.Conn(broker.bootstrap) as c:
        meta = kp.subscription([topic])
        j = c.call(kp.JOIN_GROUP, 1, group, protocols=[("range", meta)])
        assert j["error"] == 0, j
        s = c.call(kp.SYNC_GROUP, 0, group, j["generation"], j["member_id"],
                   [(j["member_id"], kp.assignment({topic: [0, 1, 2]}))])
        assert s["error"] == 0, s

        d = tmp_path_factory.mktemp("burrow")
        http_port = free_port()
        (d / "burrow.toml").write_text(burrow_config(d, broker, zookeeper, http_port))
        out = open(d / "burrow.out", "ab")
        for attempt in range(3):     # a ZooKeeper that is still settling: start again
            bp = subprocess.Popen([BURROW, "--config-dir", str(d)], stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(d))
            try:
                bp.wait(timeout=3)
            except subprocess.TimeoutExpired:
                break
            time.sleep(1)
        try:
            lag = None
            last = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if bp.poll() is not None:
                    break
                # Burrow drops commits for partitions whose broker offsets it has
                # not fetched yet, so keep committing (as a live consumer would)
                r = c.call(kp.OFFSET_COMMIT, 2, group,
                           {topic: [(p, o, "") for p, o in commits.items()]},
                           generation=j["generation"], member_id=j["member_id"])
                assert set(r["errors"].values()) == {0}, r
                assert c.call(kp.HEARTBEAT, 0, group, j["generation"], j["member_id"])["error"] == 0
                last = http_json(http_port, "/v3/kafka/%s/consumer/%s/lag" % (CLUSTER, group))
                if last and not last.get("error") and last.get("status"):
                    lag = last["status"].get("totallag")
                    parts = last["status"].get("partitions") or []
                    if lag == expected_lag and len(parts) == 3:
                        break
                time.sleep(1.0)
            log = ""
            for f in ("burrow.log", "burrow.out"):
                p = d / f
                if p.exists():
                    log += p.read_text(errors="replace")
            topics = http_json(http_port, "/v3/kafka/%s/topic/%s" % (CLUSTER, topic))
            consumers = http_json(http_port, "/v3/kafka/%s/consumer" % CLUSTER)
            res = dict(alive=bp.poll() is None, rc=bp.returncode, lag=lag, expected_lag=expected_lag,
                       last=last, topics=topics, consumers=consumers, log=log, commits=commits,
                       member_id=j["member_id"])
            res["diag"] = ("\nburrow topic view: %s\nburrow consumers: %s\nlast lag answer: %s\n"
                    "burrow complaints:\n%s" % (topics, consumers, last,
                                                "\n".join(burrow_complaints(log)[-40:])))
            yield res
        finally:
            _stop(bp, "burrow")


def test_burrow_reports_group_lag(burrow_run):
    r = burrow_run
    diag = r["diag"]
    assert r["alive"], "Burrow exited (%s)%s" % (r["rc"], diag)
    assert r["lag"] == r["expected_lag"], "Burrow's totallag %r, expected %d%s" % (
        r["lag"], r["expected_lag"], diag)
    by_p = {x["partition"]: x for x in r["last"]["status"]["partitions"]}
    assert {p: by_p[p]["end"]["offset"] for p in by_p} == r["commits"], diag
    assert {p: by_p[p]["current_lag"] for p in by_p} == {p: 10 - o for p, o in r["commits"].items()}
    # broker offsets as Burrow sees them (ListOffsets through sarama)
    assert r["topics"] and r["topics"].get("offsets") == [10, 10, 10], diag
    assert "burrow-group" in (r["consumers"] or {}).get("consumers", []), diag


def test_burrow_decodes_every_offsets_record(burrow_run):
    """Burrow 1.2.1 decodes OffsetCommitValue v0/v1/v3 and GroupMetadataValue
    v0/v1 only; with a readable GroupMetadata record it shows each partition's
    owner (Burrow 1.2.1 fills only the owner's host, not its client id)."""
    r = burrow_run
    rejected = [ln for ln in r["log"].splitlines() if "failed to decode" in ln]
    assert not rejected, "Burrow rejected records of __consumer_offsets:\n" + "\n".join(rejected[:10])
    parts = (r["last"] or {}).get("status", {}).get("partitions") or []
    assert parts and all(x.get("owner") == "/127.0.0.1" for x in parts), \
        "Burrow shows no owners: %s" % parts
