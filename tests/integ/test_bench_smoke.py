"""The benchmark harness builds, and a few-second smoke run (bench/run.py
--smoke: one produce config and the latency workloads against gregord, the
librdkafka mock cluster and Redis) writes a well-formed BENCHMARKS-style
report: the machine table, one table per workload with the same number of
cells on every row, positive figures, and gregord's own ratio at 1.00x.
The figures themselves are not judged here (`make bench` does that)."""
import json
import os
import re
import subprocess
import sys

import pytest

from helpers import GREGORD, kcat, run_gregor

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.dirname(GREGORD)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    cp = subprocess.run(["make", "-s", "-C", ROOT, "BUILD=" + BUILD, "bench-bin"],
                        capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, "bench build failed:\n" + cp.stdout + cp.stderr
    for b in ("kbench", "mockbroker", "redisbench", "disksync"):
        assert os.access(os.path.join(BUILD, "bench", b), os.X_OK), b
    d = tmp_path_factory.mktemp("bench")
    md, js = str(d / "BENCHMARKS.md"), str(d / "results.json")
    cp = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run.py"), "--smoke",
                         "--build", BUILD, "--out", md, "--json", js],
                        capture_output=True, text=True, timeout=240)
    assert cp.returncode == 0, "smoke run failed:\n" + cp.stderr[-3000:]
    with open(md) as f, open(js) as g:
        return f.read(), json.load(g)


def tables(md):
    """Markdown tables as lists of rows (lists of stripped cells)."""
    out, cur = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            cur.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif cur:
            out.append(cur)
            cur = []
    return out


def test_machine_table(report):
    md, _ = report
    assert "## Machine" in md and "## How to reproduce" in md
    machine = tables(md.split("## Machine", 1)[1])[0]
    keys = {r[0] for r in machine[2:]}
    for k in ("nproc", "CPU", "memory", "kernel", "disk"):
        assert k in keys, k
    nproc = [r[1] for r in machine if r[0] == "nproc"][0]
    assert int(nproc) >= 1


def test_workload_tables_shape(report):
    md, _ = report
    body = md.split("## Results", 1)[1].split("\n## ", 1)[0]
    ts = tables(body)
    titles = re.findall(r"^### (.*)$", body, re.M)
    assert "Produce throughput" in titles and "End-to-end latency" in titles
    assert len(ts) == len(titles)
    for t in ts:
        hdr, sep, rows = t[0], t[1], t[2:]
        assert hdr[:2] == ["config", "system"] and hdr[-1] == "notes"
        assert all(re.fullmatch(r"-+", c) for c in sep)
        assert rows, hdr
        systems = {r[1] for r in rows}
        assert "gregord" in systems
        for r in rows:
            assert len(r) == len(hdr), (hdr, r)
            if r[2] == "n/a":
                assert r[-1], "an n/a row gives its reason: %s" % r
                continue
            for cell in r[2:-2]:
                if cell != "n/a":
                    assert float(cell) > 0, (hdr, r)
            ratio = r[-2]
            assert ratio.endswith("×") and float(ratio[:-1]) > 0, r
            if r[1] == "gregord":
                assert ratio == "1.00×", r


def test_peers_measured(report):
    _, js = report
    prod = js["tables"]["produce"]["rows"]
    by_sys = {r["system"]: r for r in prod}
    for s in ("gregord", "mock", "redis (no persistence)", "redis (AOF everysec)"):
        assert s in by_sys, s
        res = by_sys[s]["res"]
        assert "error" not in res, (s, res)
        assert res["rps"] > 0 and res["mbps"] > 0
        assert res["cli_cpu"] > 0, (s, res)   # the client's own CPU, from getrusage
    lat = js["tables"]["latency"]["rows"]
    g = [r["res"] for r in lat if r["system"] == "gregord"]
    assert len(g) == 2
    for res in g:
        assert 0 < res["p50_us"] <= res["p99_us"] <= res["p999_us"]
        assert res["samples"] > 0


def test_targets_section(report):
    md, _ = report
    tg = tables(md.split("## Targets", 1)[1])[0]
    assert tg[0] == ["target", "measured (this run)", "result"]
    assert len(tg) > 2
    for r in tg[2:]:
        assert r[2] in ("**met**", "**not met**"), r


def test_produceraw_pipelined_idempotent_batches(broker_factory):
    """kbench's raw producer (the Java-style client of the idempotence table)
    keeps 5 requests in flight; with idempotence=1 each batch carries the
    producer id and its base sequence.  gregord appends every batch once, in
    order: the log holds exactly what was acknowledged, the partition's
    producer state ends at the last sequence sent, and kcat reads it all."""
    cp = subprocess.run(["make", "-s", "-C", ROOT, "BUILD=" + BUILD, "bench-bin"],
                        capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    kb = os.path.join(BUILD, "bench", "kbench")
    b = broker_factory()

    def kbench(*args):
        cp = subprocess.run([kb, args[0], "bootstrap=" + b.bootstrap] + list(args[1:]),
                            capture_output=True, text=True, timeout=120)
        assert cp.returncode == 0, cp.stderr
        return json.loads(cp.stdout.strip().splitlines()[-1])

    kbench("create", "topic=raw", "partitions=1")
    # 2000-byte batches of 100-byte records: 17 records a batch, 100 batches
    plain = kbench("produceraw", "topic=raw", "size=100", "batch=2000", "count=1700",
                   "inflight=5", "secs=60")
    idem = kbench("produceraw", "topic=raw", "size=100", "batch=2000", "count=1700",
                  "inflight=5", "secs=60", "idempotence=1")
    assert (plain["records"], plain["batch_records"]) == (1700, 17), plain
    assert (idem["records"], idem["batch_records"], idem["idempotence"]) == (1700, 17, 1), idem
    out = kcat(b, "-C", "-t", "raw", "-p", "0", "-o", "beginning", "-e", "-q",
               "-f", "%o %S\n", timeout=60).stdout.split("\n")
    rows = [line.split() for line in out if line]
    assert [int(o) for o, _ in rows] == list(range(3400))
    assert all(n == "100" for _, n in rows)
    cp = run_gregor(["transactions", "--bootstrap-server", b.bootstrap, "describe-producers",
                     "--topic", "raw", "--partition", "0"], check=True)
    lines = [line.split() for line in cp.stdout.splitlines() if line.strip()]
    assert lines[0][:4] == ["ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence"], cp.stdout
    assert len(lines) == 2 and lines[1][1] == "0" and lines[1][3] == "1699", cp.stdout
