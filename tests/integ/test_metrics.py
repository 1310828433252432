"""/metrics: kafka_exporter's names and labels plus the broker's own
histograms and counters; valid for `promtool check metrics`; scraped by a
real Prometheus (Debian's `prometheus`) started on loopback, which answers
a lag series back through its HTTP API.  And the HTTP listener under
hostile input: long URLs and headers, big bodies, many connections, slow
clients, path traversal, cross-site changes; a Kafka client is served
within 1 s afterwards and nothing acknowledged is lost."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

import ck
import kproto as kp
from adversary import Canary, assert_peak_rss
from helpers import free_port, require, wait_until

BROKER_OVERRIDES = {"offsets.topic.num.partitions": "4", "group.initial.rebalance.delay.ms": "0",
                    "http.max.connections": "32", "http.connection.timeout.ms": "2000"}

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def scrape(broker, path="/metrics"):
    with urllib.request.urlopen(broker.http + path, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def series(text):
    out = {}
    for ln in text.splitlines():
        if ln and not ln.startswith("#"):
            k, v = ln.rsplit(" ", 1)
            out[k] = float(v)
    return out


@pytest.fixture(scope="module")
def loaded(broker):
    broker.t_produced = time.time()
    ck.create_topic(broker, "m-orders", partitions=3)
    for p in range(3):
        ck.produce(broker, "m-orders", [{"value": b"x" * 100}] * (10 * (p + 1)), partition=p)
    with kp.Conn(broker.bootstrap) as c:
        r = c.call(kp.OFFSET_COMMIT, 2, "m-group", {"m-orders": [(0, 4, ""), (1, 20, ""), (2, 5, "")]},
                   generation=-1, member_id="")
        assert set(r["errors"].values()) == {0}, r
    ck.consume(broker, "m-orders", 10, partitions=(0,))
    return broker


def test_kafka_exporter_names_and_labels(loaded):
    s = series(scrape(loaded))
    assert s["kafka_brokers"] == 1
    assert s['kafka_topic_partitions{topic="m-orders"}'] == 3
    for p, n in ((0, 10), (1, 20), (2, 30)):
        lab = '{partition="%d",topic="m-orders"}' % p
        assert s["kafka_topic_partition_current_offset" + lab] == n
        assert s["kafka_topic_partition_oldest_offset" + lab] == 0
        assert s["kafka_topic_partition_leader" + lab] == 0
        assert s["kafka_topic_partition_replicas" + lab] == 1
        assert s["kafka_topic_partition_in_sync_replica" + lab] == 1
        assert s["kafka_topic_partition_under_replicated_partition" + lab] == 0
    g = '{consumergroup="m-group",partition="%d",topic="m-orders"}'
    assert s["kafka_consumergroup_current_offset" + g % 0] == 4
    assert s["kafka_consumergroup_lag" + g % 0] == 6
    assert s["kafka_consumergroup_lag" + g % 1] == 0
    assert s["kafka_consumergroup_lag" + g % 2] == 25
    assert s['kafka_consumergroup_current_offset_sum{consumergroup="m-group",topic="m-orders"}'] == 29
    assert s['kafka_consumergroup_lag_sum{consumergroup="m-group",topic="m-orders"}'] == 31
    assert s['kafka_consumergroup_members{consumergroup="m-group"}'] == 0


def test_broker_metrics(loaded):
    text = scrape(loaded)
    s = series(text)
    assert sum(v for k, v in s.items() if k.startswith('gregor_request_latency_seconds_count{api="Produce"')) >= 3
    assert any(k.startswith('gregor_request_bytes_total{api="Fetch"') and v > 0 for k, v in s.items())
    assert s['gregor_topic_records_in_total{topic="m-orders"}'] == 60
    assert s['gregor_topic_bytes_out_total{topic="m-orders"}'] > 1000
    assert s["gregor_produce_records_total"] >= 60
    assert s["gregor_log_append_latency_seconds_count"] >= 3
    assert "gregor_log_fsync_latency_seconds_count" in s
    assert s["gregor_connections"] >= 1
    assert "gregor_memory_budget_used_bytes" in s and s["gregor_memory_budget_bytes"] > 0
    assert "gregor_fetch_sessions" in s and "gregor_parked_fetches" in s
    assert s["gregor_offset_commits_total"] >= 3
    assert s['gregor_consumergroups{state="Empty"}'] >= 1
    assert s["gregor_storage_errors_total"] == 0
    assert 'gregor_rebalance_duration_seconds_count{trigger="member joined"}' in s
    assert s['gregor_consumergroup_status{consumergroup="m-group"}'] >= 1
    # m-group's commits are behind on partitions 0 and 2: the age of its
    # oldest unconsumed record, no older than the records themselves
    lag_s = s['gregor_consumergroup_lag_seconds{consumergroup="m-group"}']
    assert 0 < lag_s <= time.time() - loaded.t_produced + 1, lag_s


def test_promtool_check_metrics(loaded):
    require(os.access(PROMTOOL, os.X_OK), "prometheus package (promtool) not installed (tools/deps.sh test)")
    text = scrape(loaded)
    cp = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_prometheus_scrapes_and_answers_lag(loaded, tmp_path):
    require(os.access(PROMETHEUS, os.X_OK), "prometheus package not installed (tools/deps.sh test)")
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                   "  - job_name: gregord\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
                   % loaded.http_port)
    log = open(tmp_path / "prometheus.log", "wb")
    p = subprocess.Popen([PROMETHEUS, "--config.file=" + str(cfg), "--storage.tsdb.path=" + str(tmp_path / "tsdb"),
                          "--web.listen-address=127.0.0.1:%d" % port, "--web.enable-lifecycle"],
                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        q = urllib.parse.quote('kafka_consumergroup_lag{consumergroup="m-group",topic="m-orders",partition="2"}')
        got = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and p.poll() is None:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/query?query=%s" % (port, q), timeout=5) as r:
                    d = json.loads(r.read().decode())
                if d["status"] == "success" and d["data"]["result"]:
                    got = d["data"]["result"][0]
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert got is not None, "Prometheus returned no lag series:\n" + \
            (tmp_path / "prometheus.log").read_text(errors="replace")[-3000:]
        assert float(got["value"][1]) == 25
        assert got["metric"]["job"] == "gregord"
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" % port, timeout=5) as r:
            t = json.loads(r.read().decode())["data"]["activeTargets"][0]
        assert t["health"] == "up", t
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


# ---------------------------------------------------------------- hostile HTTP

def raw(port, data, timeout=5.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except socket.timeout:
            pass
        return out


def status_of(resp):
    m = re.match(rb"HTTP/1\.[01] (\d+)", resp)
    return int(m.group(1)) if m else None


def closed_by_server(s, deadline):
    """True once the server closed s (EOF or reset), False at the deadline
    (time.monotonic()); an answer on s fails."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        s.settimeout(left)
        try:
            d = s.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        assert not d or d.startswith(b"HTTP/1.1 408"), "an incomplete request was answered: %r" % d[:100]
        if not d:
            return True


def held(port, n):
    """n connections, each with an incomplete request (never answered)."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        socks.append(s)
    return socks


def test_http_max_connections_and_idle_close(broker_factory):
    """http.max.connections: a connection beyond it is not served while the
    others are open; http.connection.timeout.ms closes idle connections,
    which lets the waiting one in."""
    idle_s = 6
    b = broker_factory({"http.max.connections": 4, "http.connection.timeout.ms": idle_s * 1000})
    t0 = time.monotonic()
    socks = held(b.http_port, 4)
    with socket.create_connection(("127.0.0.1", b.http_port), timeout=5) as extra:
        extra.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        # no held connection can time out before t0 + idle_s: an answer
        # before then means the fifth connection was served beside them
        extra.settimeout(max(t0 + idle_s - 0.5 - time.monotonic(), 0.01))
        try:
            d = extra.recv(100)
            assert time.monotonic() >= t0 + idle_s - 1, \
                "a fifth HTTP connection served while 4 were open: %r" % d[:60]
        except socket.timeout:
            d = b""
        # the held ones are closed after the idle timeout (not before it:
        # libmicrohttpd counts it in whole seconds)
        for s in socks:
            assert closed_by_server(s, time.monotonic() + idle_s + 30), "idle HTTP connection not closed"
            s.close()
        assert time.monotonic() - t0 >= idle_s - 1, "idle connections closed after %.1f s" % (
            time.monotonic() - t0)
        # then the fifth is answered
        extra.settimeout(30)
        while True:
            more = extra.recv(65536)
            if not more:
                break
            d += more
    assert status_of(d) == 200 and b"kafka_brokers 1" in d, d[:200]


def test_flush_lag_metric(broker_factory):
    """gregor_log_flush_lag_messages{topic}: messages above the partitions'
    recovery points.  Under the default policy (no fsync until a segment
    rolls) all of them; with flush.messages=1 none once acknowledged; with
    flush.ms the flush by time brings it back to 0; a clean shutdown
    flushes everything."""
    b = broker_factory()
    lazy = ck.create_topic(b, "fl-lazy", partitions=2)
    eager = ck.create_topic(b, "fl-eager", partitions=2, config={"flush.messages": "1"})
    timed = ck.create_topic(b, "fl-timed", partitions=2, config={"flush.ms": "1000"})
    for t in (lazy, eager, timed):
        for p in (0, 1):
            reps = ck.produce(b, t, [{"value": b"x"}] * (10 + p * 5), partition=p, acks="all")
            assert [r[0] for r in reps] == [None] * (10 + p * 5)

    def lag(t):
        return series(scrape(b))['gregor_log_flush_lag_messages{topic="%s"}' % t]
    assert lag(eager) == 0
    assert lag(lazy) == 25
    wait_until(lambda: lag(timed) == 0, timeout=20, what="fl-timed flushed by flush.ms")
    assert lag(lazy) == 25
    b.restart()
    assert (lag(lazy), lag(eager), lag(timed)) == (0, 0, 0)


def test_http_message_browsing_caps(broker_factory):
    """Message browsing (/api/topics/<t>/messages) answers at most 500
    records, whatever limit asks, and reads about 1 MiB of the log per
    request: whole 256 KiB reads until 1 MiB is reached, so at most
    1.25 MiB."""
    b = broker_factory({"num.partitions": 1})
    many = ck.create_topic(b, "br-many")
    ck.produce(b, many, [{"value": b"v%d" % i} for i in range(600)])
    big = ck.create_topic(b, "br-big")
    value = 100000
    ck.produce(b, big, [{"value": b"b" * value}] * 20, linger_ms=0, batch_num_messages=1)

    def browse(topic, **args):
        q = urllib.parse.urlencode(dict({"partition": 0}, **args))
        with urllib.request.urlopen("%s/api/topics/%s/messages?%s" % (b.http, topic, q), timeout=20) as r:
            assert r.status == 200
            return json.loads(r.read())
    m = browse(many, limit=1000)["messages"]
    assert [x["offset"] for x in m] == list(range(500))
    m = browse(many, limit=1000, offset=550)["messages"]
    assert [x["offset"] for x in m] == list(range(550, 600))
    m = browse(big, limit=500, max_value=0)["messages"]
    assert all(x["value_size"] == value for x in m)
    # each record is a batch of about value + 70 bytes: at least 1 MiB of
    # them, at most 1.25 MiB, never the 2 MB of the whole log
    assert 1 << 20 <= (len(m) + 1) * (value + 70) and len(m) * value <= 5 << 18, len(m)
    assert [x["offset"] for x in m] == list(range(len(m)))


def test_hostile_http(loaded):
    b = loaded
    canary = Canary(b)
    canary.plant()
    port = b.http_port
    # a URL / query far beyond the connection's memory: refused, not held
    r = raw(port, b"GET /api/topics?filter=" + b"a" * 200000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status_of(r) == 414, r[:200]
    # huge headers
    r = raw(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-A: " + b"b" * 100000 + b"\r\n\r\n")
    assert status_of(r) == 431, r[:200]
    # a body beyond the bound
    body = b"t,0,1\n" * 60000
    r = raw(port, b"POST /api/groups/x/reset?mode=from-file&dry_run=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body, timeout=10)
    assert status_of(r) == 413, r[:200]
    # path traversal: files are looked up by name, nothing is opened
    for path in (b"/ui/../../../../etc/passwd", b"/ui/%2e%2e%2fetc%2fpasswd", b"/../etc/passwd"):
        r = raw(port, b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert status_of(r) in (404, 400), r[:200]
        assert b"root:" not in r
    # a NUL in a path segment
    r = raw(port, b"GET /api/groups/a%00b HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert status_of(r) == 400
    # DNS rebinding: a Host that is not loopback
    r = raw(port, b"GET /api/overview HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    assert status_of(r) == 403
    # changes: refused while http.console.write.enable=false, and cross-site
    for hdrs in (b"X-Gregor-Console: 1\r\n", b"Origin: http://evil.example\r\nX-Gregor-Console: 1\r\n", b""):
        r = raw(port, b"POST /api/topics?name=evil HTTP/1.1\r\nHost: 127.0.0.1\r\n" + hdrs +
                b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        assert status_of(r) == 403, r[:300]
    assert b"access-control-allow-origin" not in r.lower()
    # many connections, most idle (slowloris): refused beyond http.max.connections,
    # closed after http.connection.timeout.ms; metrics keep being served
    socks = []
    for _ in range(80):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            socks.append(s)
        except OSError:
            break
    assert len(socks) == 80
    t0 = time.monotonic()
    canary.check()                        # a Kafka client is served meanwhile
    assert time.monotonic() - t0 < 5
    # every one of them is closed by the server, 32 at a time
    deadline = time.monotonic() + 60
    for s in socks:
        assert closed_by_server(s, deadline), "an idle HTTP connection was not closed"
        s.close()
    assert "kafka_brokers 1" in scrape(b)
    # many scrapes in a row, and a scrape read slowly: nothing grows
    for _ in range(20):
        scrape(b)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        got = 0
        while True:
            d = s.recv(1024)
            if not d:
                break
            got += len(d)
            time.sleep(0.001)
        assert got > 10000
    canary.check()
    b.restart()
    canary.check()
    # ASan roughly doubles what a build without it uses
    assert_peak_rss(b, 400)
