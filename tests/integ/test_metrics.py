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
from helpers import free_port, require

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
    assert s['gregor_consumergroup_lag_seconds{consumergroup="m-group"}'] >= 0


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


def test_hostile_http(loaded):
    b = loaded
    canary = Canary(b)
    canary.plant()
    port = b.http_port
    # a URL / query far beyond the connection's memory: refused, not held
    r = raw(port, b"GET /api/topics?filter=" + b"a" * 200000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status_of(r) in (414, 431, 400, None), r[:200]
    # huge headers
    r = raw(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-A: " + b"b" * 100000 + b"\r\n\r\n")
    assert status_of(r) in (431, 400, 413, None), r[:200]
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
    t0 = time.monotonic()
    canary.check()                        # a Kafka client is served meanwhile
    assert time.monotonic() - t0 < 5
    time.sleep(3.5)                       # past the connection timeout
    for s in socks:
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
