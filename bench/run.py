#!/usr/bin/python3
"""Benchmark driver: measures gregord and its peers in one run, on one machine,
with one client, and writes BENCHMARKS.md.

    bench/run.py [--build build] [--out BENCHMARKS.md] [--json results.json] [--smoke]

BENCH_QUICK=1 runs every workload small (under a minute); --smoke runs a few
seconds of produce and latency only (the test suite uses it).

Systems: gregord (build/gregord, temp data dir beside the build dir),
librdkafka's mock cluster (build/bench/mockbroker), Redis Streams
(redis-server: no persistence, and appendonly yes + appendfsync everysec).
Clients: build/bench/kbench (librdkafka) for gregord and the mock,
build/bench/redisbench (hiredis) for Redis.  Every server the harness starts
listens on 127.0.0.1 and is stopped by PID on exit, also on SIGINT/SIGTERM.
Every client run has a count, a secs= limit and a subprocess timeout.
"""
import argparse
import json
import resource
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")

# Parameters: (full, quick).  Counts are upper bounds; secs bound each run.
FULL = dict(
    produce_secs=1.5, produce_count=3_000_000, produce_rounds=3,
    consume_records=2_000_000, consume_secs=8.0,
    large_bytes=1 << 30, large_secs=60.0,
    lat_pp_count=20_000, lat_pp_secs=4.0, lat_rate_secs=5.0,
    commit_secs=3.0, rebalance_members=10, rebalance_secs=40,
    scale_parts=[1000, 10000], scale_count=300_000, scale_secs=3.0, scale_lat_count=500,
    idle_parts=10000, idle_groups=1000, scale_groups=100_000,
    iperf_secs=3, disk_mb=512, fsync_count=500,
    warm_mb=2048, warm_anon_mb=128, warm_secs=60,
    obs_blocks=12, obs_window=2.0,
)
QUICKP = dict(
    produce_secs=0.25, produce_count=300_000, produce_rounds=1,
    consume_records=100_000, consume_secs=2.0,
    large_bytes=16 << 20, large_secs=10.0,
    lat_pp_count=1000, lat_pp_secs=0.4, lat_rate_secs=0.6,
    commit_secs=0.4, rebalance_members=10, rebalance_secs=12,
    scale_parts=[100, 1000], scale_count=30_000, scale_secs=0.5, scale_lat_count=100,
    idle_parts=1000, idle_groups=100, scale_groups=10_000,
    iperf_secs=1, disk_mb=32, fsync_count=50,
    warm_mb=256, warm_anon_mb=32, warm_secs=15,
    obs_blocks=2, obs_window=1.0,
)
CLK_TCK = os.sysconf("SC_CLK_TCK")
REBALANCE_DELAY_MS = 3000   # gregord's default group.initial.rebalance.delay.ms
COMMIT_INFLIGHT = 100       # async offset commits outstanding per consumer


def commit_row(n, mode):
    return "%d consumer%s, %s" % (n, "s" if n > 1 else "", mode)

LIVE = []        # started servers, stopped at exit
WORK = None      # temp dir


T0 = time.monotonic()


def log(msg):
    print("bench: [%5.1fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


# ----------------------------------------------------------------- processes

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


NOFILE = None


def raise_nofile():
    """Servers get as many file descriptors as the system allows (a partition
    keeps its segment and index files open), as a Kafka deployment would."""
    global NOFILE
    for n in (1 << 20, resource.getrlimit(resource.RLIMIT_NOFILE)[1]):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
            NOFILE = n
            return
        except (ValueError, OSError):
            continue


class Server:
    """One server process started by the harness, stopped by PID."""

    def __init__(self, name, argv, port, cwd, ready=None):
        self.name, self.argv, self.port, self.cwd = name, argv, port, cwd
        self.ready = ready or (lambda: port_open(self.port))
        self.proc = None
        self.start_secs = None

    def start(self, timeout=120.0):
        logf = open(os.path.join(self.cwd, self.name + ".log"), "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.cwd)
        logf.close()
        if self not in LIVE:
            LIVE.append(self)
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s at startup: %s"
                                   % (self.name, self.proc.returncode, self.log_tail()))
            if self.ready():
                self.start_secs = time.monotonic() - t0
                return self
            time.sleep(0.002)
        raise RuntimeError("%s did not accept within %.0f s" % (self.name, timeout))

    def stop(self, sig=signal.SIGTERM, timeout=60.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def cpu_s(self):
        """CPU time (user + system) the server has used so far, in seconds."""
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            return None

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def log_tail(self, n=5):
        try:
            with open(os.path.join(self.cwd, self.name + ".log"), "rb") as f:
                return " | ".join(f.read().decode(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def cleanup(*_):
    for s in reversed(LIVE):
        try:
            s.stop(signal.SIGTERM, timeout=20)
        except Exception:
            pass
    LIVE.clear()
    if WORK and os.path.isdir(WORK):
        shutil.rmtree(WORK, ignore_errors=True)


def on_signal(sig, _frame):
    cleanup()
    sys.exit(128 + sig)


class Gregord(Server):
    def __init__(self, name, build, work, extra=None):
        port = free_port()
        self.data = os.path.join(work, name + "-data")
        self.http_port = free_port()
        ov = {"listeners": "PLAINTEXT://127.0.0.1:%d" % port, "log.dirs": self.data,
              "offsets.topic.num.partitions": "4", "auto.create.topics.enable": "false",
              "http.listeners": "http://127.0.0.1:%d" % self.http_port}
        ov.update(extra or {})
        argv = [os.path.join(build, "gregord")]
        for k, v in ov.items():
            argv += ["--override", "%s=%s" % (k, v)]
        super().__init__(name, argv, port, work)
        self.bootstrap = "127.0.0.1:%d" % port


class Mock(Server):
    def __init__(self, build, work, topics):
        self.argv0 = [os.path.join(build, "bench", "mockbroker")] + \
            ["%s:%d" % t for t in topics]
        super().__init__("mock", self.argv0, 0, work)
        self.bootstrap = None

    def spawn(self):
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, cwd=self.cwd, text=True)
        LIVE.append(self)
        return self

    def start(self, timeout=30.0):
        """Waits for a spawn()ed mock cluster to print its address and accept."""
        t0 = self.t0
        line = self.proc.stdout.readline().strip()
        if not line.startswith("bootstrap="):
            raise RuntimeError("mockbroker printed %r" % line)
        self.bootstrap = line.split("=", 1)[1]
        self.port = int(self.bootstrap.rsplit(":", 1)[1])
        while not port_open(self.port) and time.monotonic() - t0 < timeout:
            time.sleep(0.01)
        self.start_secs = time.monotonic() - t0
        return self


def redis_ping(port):
    try:
        cp = subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True,
                            text=True, timeout=5)
        return cp.stdout.strip() == "PONG"
    except (OSError, subprocess.TimeoutExpired):
        return False


class Redis(Server):
    def __init__(self, name, work, aof):
        port = free_port()
        d = os.path.join(work, name + "-data")
        os.makedirs(d, exist_ok=True)
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", d,
                "--save", "", "--daemonize", "no", "--protected-mode", "no",
                "--appendonly", "yes" if aof else "no"]
        if aof:
            argv += ["--appendfsync", "everysec"]
        super().__init__(name, argv, port, work, ready=lambda: redis_ping(port))

    def flush(self):
        subprocess.run(["redis-cli", "-p", str(self.port), "FLUSHALL"], capture_output=True,
                       timeout=60)


# ------------------------------------------------------------------ clients

class Bench:
    def __init__(self, build):
        self.kb = os.path.join(build, "bench", "kbench")
        self.rb = os.path.join(build, "bench", "redisbench")
        self.ds = os.path.join(build, "bench", "disksync")
        self.mw = os.path.join(build, "bench", "memwarm")

    @staticmethod
    def run(argv, timeout):
        """Runs a bench client; returns its JSON result or {"error": reason}."""
        try:
            cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": "timed out after %.0f s" % timeout}
        for line in reversed(cp.stdout.splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        err = (cp.stderr.strip().splitlines() or ["exit status %d" % cp.returncode])[-1]
        return {"error": err.replace("bench: ", "").replace("|", "/")[:160]}

    def k_start(self, cmd, bootstrap, **kw):
        """A client started in the background; k_finish ends it."""
        return subprocess.Popen([self.kb, cmd, "bootstrap=" + bootstrap] + ["%s=%s" % kv for kv in kw.items()],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def k_finish(proc, sig=None, timeout=120):
        """Its JSON result after sig (e.g. SIGUSR1: kbench produce ends early)."""
        if sig is not None and proc.poll() is None:
            proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return {"error": "timed out after %.0f s" % timeout}
        for line in reversed(out.splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        err = (err.strip().splitlines() or ["exit status %d" % proc.returncode])[-1]
        return {"error": err.replace("bench: ", "").replace("|", "/")[:160]}

    def k(self, cmd, bootstrap, timeout=60, **kw):
        return self.run([self.kb, cmd, "bootstrap=" + bootstrap] +
                        ["%s=%s" % kv for kv in kw.items()], timeout)

    def r(self, cmd, port, timeout=60, **kw):
        return self.run([self.rb, cmd, "port=%d" % port] +
                        ["%s=%s" % kv for kv in kw.items()], timeout)


def with_cpu(server, run):
    """Runs a client (run() returns its JSON result) and adds the CPU the
    server and the client used, as % of one core over the client's measured
    time: srv_cpu from /proc/<pid>/stat, cli_cpu from the client's cpu_s."""
    c0 = server.cpu_s()
    r = run()
    c1 = server.cpu_s()
    if "error" not in r and r.get("secs"):
        if c0 is not None and c1 is not None and c1 > c0:   # clock ticks: short runs may see none
            r["srv_cpu"] = 100.0 * (c1 - c0) / r["secs"]
        if "cpu_s" in r:
            r["cli_cpu"] = 100.0 * r["cpu_s"] / r["secs"]
    return r


# --------------------------------------------------------------- page cache

def tree_mib(path):
    n = 0
    if os.path.isfile(path):
        return os.path.getsize(path) / 1048576
    for d, _dirs, files in os.walk(path):
        for f in files:
            try:
                n += os.path.getsize(os.path.join(d, f))
            except OSError:
                pass
    return n / 1048576


class PagePool:
    """Files the harness keeps in the page cache so that it can free them
    just before a broker writes: the broker then fills page frames this guest
    used a moment ago instead of frames the hypervisor must first back (see
    bench/memwarm.c and the memory rows of the physical limits).  Entries are
    the memwarm ballast and the data dirs of finished produce runs; release()
    deletes the oldest first."""

    def __init__(self):
        self.held = []      # [(path, MiB)]

    def hold(self, path):
        if os.path.exists(path):
            self.held.append((path, tree_mib(path)))

    def release(self, mib):
        freed = 0.0
        while self.held and freed < mib:
            path, n = self.held.pop(0)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            freed += n
        return freed

    def release_all(self):
        return self.release(float("inf"))


def mem_available_mib():
    m = re.search(r"MemAvailable:\s*(\d+)", open("/proc/meminfo").read())
    return int(m.group(1)) // 1024 if m else 0


def memwarm(B, P, smoke, limits):
    """Measures first-touch vs re-touch memory rates and leaves a ballast
    file of warm_mb MiB (at most a quarter of MemAvailable) in the page cache
    for PagePool.  Returns (pool, MiB of the ballast)."""
    mb = min(64 if smoke else P["warm_mb"], mem_available_mib() // 4)
    pool = PagePool()
    ballast = os.path.join(WORK, "ballast")
    log("memory warm-up: %d MiB" % mb)
    r = B.run([B.mw, "dir=" + WORK, "mb=%d" % mb, "anon_mb=%d" % min(mb, P["warm_anon_mb"]),
               "secs=%d" % P["warm_secs"], "ballast=" + ballast], P["warm_secs"] * 3 + 60)
    pool.hold(ballast)
    if limits is not None:
        if "error" in r:
            limits.add("memory first touch", "memory", r)
        else:
            limits.add("anonymous memory, first touch (%d MiB)" % r["anon_mb"], "memory",
                       {"value": r["anon_first_mbps"], "unit": "MB/s"},
                       note="the same memory touched again: %.0f MB/s" % r["anon_again_mbps"])
            limits.add("page-cache write, fresh page frames (%d MiB)" % r["file_mb"], "memory",
                       {"value": r["file_fresh_mbps"], "unit": "MB/s"})
            limits.add("page-cache write, recycled page frames (%d MiB)" % r["ballast_mb"],
                       "memory", {"value": r["file_recycled_mbps"], "unit": "MB/s"},
                       note="frames freed by deleting the file above just before")
    return pool, r.get("ballast_mb", 0)


# ------------------------------------------------------------------- tables

class Table:
    """One workload: rows are (config, system, figures)."""

    def __init__(self, key, title, desc, cols, primary, higher_better=True):
        self.key, self.title, self.desc = key, title, desc
        self.cols = cols              # [(metric key, header, format)]
        self.primary = primary
        self.higher = higher_better
        self.rows = []
        self.ratio_header = None      # replaces the "gregord advantage" column header

    def add(self, config, system, res, note=""):
        self.rows.append({"config": config, "system": system, "res": res, "note": note})
        if "error" in res:
            log("%s / %s / %s: n/a (%s)" % (self.key, config, system, res["error"]))
        else:
            log("%s / %s / %s: %s" % (self.key, config, system,
                                      ", ".join("%s=%s" % (c[0], res.get(c[0])) for c in self.cols)))

    def value(self, config, system, metric=None):
        for r in self.rows:
            if r["config"] == config and r["system"] == system and "error" not in r["res"]:
                return r["res"].get(metric or self.primary)
        return None

    def ratio(self, row):
        g = self.value(row["config"], "gregord")
        x = row["res"].get(self.primary) if "error" not in row["res"] else None
        if not g or not x:
            return None
        return g / x if self.higher else x / g

    def render(self):
        hdr = ["config", "system"] + [c[1] for c in self.cols] + \
            [self.ratio_header or
             "gregord advantage (%s)" % ("gregord ÷ system" if self.higher else "system ÷ gregord"),
             "notes"]
        out = ["### " + self.title, "", self.desc, "",
               "| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
        for r in self.rows:
            res = r["res"]
            cells = [r["config"], r["system"]]
            note = r["note"]
            if "error" in res:
                cells += ["n/a"] * len(self.cols) + ["n/a"]
                note = (note + "; " if note else "") + res["error"]
            else:
                cells += [fmt % res[m] if res.get(m) is not None else "n/a"
                          for m, _h, fmt in self.cols]
                rt = self.ratio(r)
                cells.append("%.2f×" % rt if rt else "n/a")
            cells.append(note)
            out.append("| " + " | ".join(cells) + " |")
        return "\n".join(out) + "\n"

    def as_json(self):
        return {"title": self.title, "primary": self.primary, "higher_better": self.higher,
                "rows": [dict(r, ratio=self.ratio(r)) for r in self.rows]}


# ------------------------------------------------------------------ machine

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except subprocess.TimeoutExpired:
        return ""


def cpu_busy(secs=1.0):
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t1, i1 = read()
    time.sleep(secs)
    t2, i2 = read()
    return 100.0 * (1 - (i2 - i1) / max(1, t2 - t1))


def machine(work):
    cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    mem = re.search(r"MemTotal:\s*(\d+)", open("/proc/meminfo").read())
    src = sh("findmnt -no SOURCE,FSTYPE -T %s" % work)
    dev = os.path.basename(src.split()[0]) if src else ""
    rot = sh("cat /sys/block/%s/queue/rotational 2>/dev/null" % re.sub(r"p?\d+$", "", dev))
    size = sh("df -h --output=size %s | tail -1" % work)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu.group(1).strip() if cpu else "unknown",
        "memory": "%.1f GiB" % (int(mem.group(1)) / 1048576) if mem else "unknown",
        "kernel": os.uname().release,
        "disk": "%s (%s, %s, rotational=%s)" % (src or "?", size, "data dir " + work,
                                                  rot or "?"),
    }


# ---------------------------------------------------------------- workloads

def produce_configs(smoke):
    if smoke:
        return [(100, "1", 1, 1)]
    if QUICK:   # four corners of the matrix
        return [(100, "1", 1, 1), (100, "all", 8, 4), (1024, "1", 1, 4), (1024, "all", 8, 1)]
    return [(s, a, p, n) for s in (100, 1024) for a in ("1", "all")
            for p in (1, 8) for n in (1, 4)]


def cfg_name(size, acks, parts, prods):
    return "%s, acks=%s, %d part, %d prod" % ("100 B" if size == 100 else "1 KiB",
                                                acks, parts, prods)


def main():
    global WORK
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--only", choices=["observability", "idempotence", "offsets"], default=None,
                    help="run one section alone (its table only)")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    P = QUICKP if (QUICK or args.smoke) else FULL
    smoke = args.smoke
    mode = "smoke" if smoke else ("quick (BENCH_QUICK=1)" if QUICK else "full")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    raise_nofile()   # inherited by every server
    os.makedirs(os.path.join(build, "bench"), exist_ok=True)
    WORK = tempfile.mkdtemp(prefix="run.", dir=os.path.join(build, "bench"))
    t_begin = time.monotonic()
    try:
        if args.only:
            extra = {"machine": machine(WORK), "load_before": open("/proc/loadavg").read().split()[:3],
                     "busy_before": cpu_busy(0.5), "targets": []}
            B = Bench(build)
            if args.only == "observability":
                tables = observability(B, build, P)
            elif args.only == "offsets":
                tables = [offsets_scale(build, P)]
            else:
                pool, warm = memwarm(B, P, smoke, None)
                tables = idempotence(B, build, P, pool, warm)
                pool.release_all()
            extra["load_after"] = open("/proc/loadavg").read().split()[:3]
        else:
            tables, extra = run_all(build, P, smoke)
    finally:
        cleanup()
    elapsed = time.monotonic() - t_begin
    md = render(tables, extra, mode, elapsed)
    with open(args.out, "w") as f:
        f.write(md)
    if args.json:
        with open(args.json, "w") as f:
            ex = dict(extra)
            if "limits" in ex:
                ex["limits"] = ex["limits"].as_json()
            json.dump({"mode": mode, "tables": {t.key: t.as_json() for t in tables},
                       "extra": ex}, f, indent=1)
    log("wrote %s in %.0f s" % (args.out, elapsed))


def downconv_table(B, g, P):
    """The cost of down-conversion, in the same run: the records of the
    consume table fetched by one raw client (kbench fetchraw: one Fetch in
    flight, 1 MiB answers, the records of each answer counted, nothing
    else) with Fetch v4 (the stored batches, sent with sendfile) and with
    Fetch v2 (magic 1 message sets, converted while the answer is written).
    librdkafka cannot be made to fetch with v2 from a broker that answers
    ApiVersions, and its consumer would be the bottleneck anyway.  Best of
    two runs each."""
    n = P["consume_records"]
    t = Table("downconv", "Down-conversion cost (Fetch v2 vs v4)",
              "The %d records of 100 B of the consume table (one partition, uncompressed, in the page "
              "cache) fetched from offset 0 by a raw client (`kbench fetchraw`: one Fetch in flight, "
              "answers of 1 MiB, records counted) with Fetch v4, whose answers are the stored v2 batches "
              "sent with sendfile, and with Fetch v2, whose answers gregord down-converts to magic 1 "
              "message sets while writing them (Kafka's LazyDownConversionRecords). Best of two runs "
              "each, in the same run. *gregord advantage* is Fetch v4 ÷ Fetch v2: what down-conversion "
              "costs. MB/s counts the answers' bytes; srv CPU is gregord's, in %% of one core." % n,
              [("rps", "records/s", "%.0f"), ("wire_mbps", "MB/s", "%.1f"), ("srv_cpu", "srv CPU %", "%.0f")],
              "rps")
    for version, system, note in ((4, "gregord", "Fetch v4: v2 batches (sendfile)"),
                                  (2, "gregord, Fetch v2", "down-converted to magic 1")):
        runs = [with_cpu(g, lambda: B.k("fetchraw", g.bootstrap, topic="cons", version=version, count=n,
                                        secs=P["consume_secs"], timeout=P["consume_secs"] + 60))
                for _ in range(2)]
        ok = [r for r in runs if "error" not in r]
        t.add("100 B, 1 part", system, max(ok, key=lambda r: r["rps"]) if ok else runs[-1], note=note)
    return t


def run_all(build, P, smoke):
    B = Bench(build)
    extra = {"machine": machine(WORK), "load_before": open("/proc/loadavg").read().split()[:3],
             "busy_before": cpu_busy(0.5), "targets": []}
    tables = []
    configs = produce_configs(smoke)
    mock_topics = [("p1", 1), ("p8", 8), ("cons", 1), ("lat", 1), ("grp", 8), ("commit", 10)]
    if not smoke:
        mock_topics += [("scale%d" % n, n) for n in P["scale_parts"]]

    m = Mock(build, WORK, mock_topics).spawn()   # it takes a second: start it meanwhile
    g = Gregord("gregord", build, WORK).start()
    extra["gregord_empty_start_ms"] = g.start_secs * 1000
    rn = Redis("redis", WORK, aof=False).start()
    ra = Redis("redis-aof", WORK, aof=True).start()
    m.start()
    log("servers up")
    kafkas = [("gregord", g.bootstrap), ("mock", m.bootstrap)]
    redises = [("redis (no persistence)", rn), ("redis (AOF everysec)", ra)]
    base = [tp for tp in mock_topics if not tp[0].startswith("scale")]
    r = B.k("create", g.bootstrap, topic=",".join(tp[0] for tp in base),
            partitions=",".join(str(tp[1]) for tp in base))
    if "error" in r:
        raise RuntimeError("create topics on gregord: %s" % r["error"])
    log("topics created")

    # -- physical limits
    if not smoke:
        t = Table("limits", "Physical limits", "What the machine itself can do, measured in the same run: "
                  "loopback TCP bandwidth (iperf3, one stream), sequential 1 MiB writes with one "
                  "fdatasync in the data dir, 4 KiB append + fdatasync round trips, and "
                  "(bench/memwarm.c) memset of fresh anonymous memory and 1 MiB pwrites into the "
                  "page cache, first into page frames nobody used lately, then into frames just "
                  "freed. On bare metal the memory rows are all memory-bandwidth figures (GB/s); in "
                  "a VM whose hypervisor backs guest memory on first touch and takes freed memory "
                  "back (free page reporting) the fresh rows can be tens of times slower. gregord "
                  "writes every record into the page cache while the mock cluster keeps a few MB "
                  "per partition in a ring, so the produce runs below recycle page frames (see "
                  "there).",
                  [("value", "figure", "%.1f"), ("unit", "unit", "%s")], "value")
        port = free_port()
        srv = Server("iperf3", ["iperf3", "-s", "-p", str(port)], port, WORK).start(20)
        try:
            cp = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t",
                                 str(P["iperf_secs"]), "-J"], capture_output=True, text=True,
                                timeout=P["iperf_secs"] + 30)
            out = json.loads(cp.stdout)
            if "error" in out:
                raise RuntimeError(out["error"])
            bps = out["end"]["sum_received"]["bits_per_second"]
            t.add("loopback TCP", "iperf3", {"value": bps / 8e6, "unit": "MB/s"})
        except Exception as e:  # noqa: BLE001 - reported as n/a
            t.add("loopback TCP", "iperf3", {"error": "iperf3: %s" % e})
        srv.stop()
        r = B.run([B.ds, "dir=" + WORK, "mb=%d" % P["disk_mb"], "secs=30"], 60)
        t.add("sequential write + fdatasync", "disk",
              {"value": r["mbps"], "unit": "MB/s"} if "mbps" in r else r)
        r = B.run([B.ds, "dir=" + WORK, "sync=1", "count=%d" % P["fsync_count"], "secs=5"], 30)
        t.add("4 KiB write + fdatasync", "disk",
              {"value": r["ops_per_s"], "unit": "ops/s (p50 %.0f µs)" % r["p50_us"]}
              if "ops_per_s" in r else r)
        extra["limits"] = t

    # -- produce throughput
    pool, warm = memwarm(B, P, smoke, extra.get("limits"))
    rounds_txt = ("gregord and the mock run %d alternating rounds per config (gregord, mock, gregord, "
                  "...), Redis as many, and the best round of each is reported, so that a burst of "
                  "other load on the machine hits every system alike; the notes give every round."
                  % P["produce_rounds"]) if P["produce_rounds"] > 1 else "One run per config."
    t = Table("produce", "Produce throughput",
              "Records of the given size, as fast as the client can send them, for %.2g s or %d records "
              "per config (librdkafka: linger.ms=5, batch.num.messages=10000, partition = i mod "
              "partitions, every value from one buffer that outlives the run, so passed without "
              "RD_KAFKA_MSG_F_COPY; producers are threads, each with its own rd_kafka_t). %s "
              "gregord writes to "
              "disk (page cache, flushed by the kernel); each run is on a fresh gregord instance "
              "with an empty data dir, and just before it starts the harness deletes up to %d MiB "
              "of files it held in the page cache (a ballast written by bench/memwarm.c, then the "
              "data dirs of earlier runs), so that gregord writes into recycled page frames, as "
              "a broker that deletes old segments does, and not into memory the hypervisor backs "
              "on first touch (see the physical limits). Redis: XADD with %d "
              "commands in flight per connection, one connection per producer; a stream is one "
              "partition and XADD answers after the in-memory append, so Redis runs only the acks=1, "
              "1-partition configs. *server CPU %%* and *client CPU %%*: the CPU time (user + "
              "system) the server process and the client process used during the run, in %% of "
              "one core over the run's duration (/proc/<pid>/stat, getrusage); the machine has "
              "%d cores, which the client and the server share."
              % (P["produce_secs"], P["produce_count"], rounds_txt, warm, 1000, os.cpu_count() or 1),
              [("rps", "records/s", "%.0f"), ("mbps", "MB/s", "%.1f"),
               ("srv_cpu", "server CPU %", "%.0f"), ("cli_cpu", "client CPU %", "%.0f")], "rps")

    def best(runs):
        ok = [r for r in runs if "error" not in r]
        if not ok:
            return runs[-1], ""
        note = "rounds: " + ", ".join("%.0f" % r["rps"] if "error" not in r else "n/a" for r in runs) \
            if len(runs) > 1 else ""
        return max(ok, key=lambda r: r["rps"]), note

    n = 0
    for size, acks, parts, prods in configs:
        c = cfg_name(size, acks, parts, prods)
        runs = {"gregord": [], "mock": []}
        for _round in range(P["produce_rounds"]):
            # what one run may write at most, at ~1.2 GB/s (1 KiB) or ~0.25 GB/s (100 B)
            pool.release(min(warm, P["produce_secs"] * (1200 if size >= 1024 else 250)))
            gp = Gregord("gregord-produce%d" % n, build, WORK).start()
            n += 1
            r = B.k("create", gp.bootstrap, topic="p%d" % parts, partitions=parts)
            if "error" not in r:
                r = with_cpu(gp, lambda: B.k("produce", gp.bootstrap, topic="p%d" % parts,
                                             partitions=parts, size=size, acks=acks,
                                             producers=prods, count=P["produce_count"],
                                             secs=P["produce_secs"],
                                             timeout=P["produce_secs"] + 60))
            runs["gregord"].append(r)
            gp.stop(signal.SIGKILL)   # its shutdown is not measured
            pool.hold(gp.data)
            runs["mock"].append(with_cpu(m, lambda: B.k(
                "produce", m.bootstrap, topic="p%d" % parts, partitions=parts, size=size,
                acks=acks, producers=prods, count=P["produce_count"], secs=P["produce_secs"],
                timeout=P["produce_secs"] + 60)))
        for name in ("gregord", "mock"):
            r, note = best(runs[name])
            t.add(c, name, r, note=note)
        if acks == "1" and parts == 1:
            for name, rs in redises:
                rr = []
                for _round in range(P["produce_rounds"]):
                    rr.append(with_cpu(rs, lambda: B.r(
                        "xadd", rs.port, key="xadd", size=size, clients=prods, pipeline=1000,
                        count=P["produce_count"], secs=P["produce_secs"],
                        timeout=P["produce_secs"] + 60)))
                    rs.flush()
                r, note = best(rr)
                t.add(c, name, r, note=note)
    tables.append(t)
    if not smoke:
        tables += idempotence(B, build, P, pool, warm)
        tables += observability(B, build, P)
        tables += transactions(B, build, P, pool, warm)
        tables += consumer_protocol(build)

    # -- consume throughput from page cache
    if not smoke:
        n = P["consume_records"]
        t = Table("consume", "Consume throughput (page cache)",
                  "%d records of 100 B are produced first, then read back from the beginning by one "
                  "consumer (librdkafka simple consumer, fetch.message.max.bytes=1 MiB; Redis: "
                  "XREADGROUP COUNT 1000 + one XACK per batch, pipelined). Throughput is timed from "
                  "the first record to the last, at most %.0f s." % (n, P["consume_secs"]),
                  [("rps", "records/s", "%.0f"), ("mbps", "MB/s", "%.1f"),
                   ("first_ms", "first record ms", "%.1f")], "rps")
        pool.release(n * 200 / 1048576)
        for name, bs in kafkas:
            r = B.k("produce", bs, topic="cons", partitions=1, size=100, count=n, secs=60,
                    timeout=120)
            if "error" in r:
                t.add("100 B, 1 part", name, r)
                continue
            t.add("100 B, 1 part", name, B.k("consume", bs, topic="cons", count=n,
                                             secs=P["consume_secs"],
                                             timeout=P["consume_secs"] + 60))
        if len(kafkas) and "error" not in t.rows[0]["res"]:
            tables.append(downconv_table(B, g, P))
        for name, rs in redises:
            r = B.r("xadd", rs.port, key="cons", size=100, count=n, pipeline=1000, secs=60,
                    timeout=120)
            if "error" in r:
                t.add("100 B, 1 part", name, r)
                continue
            t.add("100 B, 1 part", name, B.r("xread", rs.port, key="cons", count=n, batch=1000,
                                             secs=P["consume_secs"],
                                             timeout=P["consume_secs"] + 60))
            rs.flush()
        tables.append(t)
    pool.release_all()

    # -- end-to-end latency
    t = Table("latency", "End-to-end latency",
              "A record is stamped with the send time (CLOCK_MONOTONIC) and timed when the consumer "
              "in the same process sees it. *one in flight*: produce, wait until consumed, repeat "
              "(at most %d records / %.2g s). *10,000 rec/s*: records sent at a fixed rate for %.2g s. "
              "librdkafka: producer linger.ms=0, acks=1; consumer fetch.wait.max.ms=500 (the default), "
              "fetch.min.bytes=1. Redis: XADD, consumer blocked in XREADGROUP BLOCK + XACK."
              % (P["lat_pp_count"], P["lat_pp_secs"], P["lat_rate_secs"]),
              [("p50_us", "p50 µs", "%.0f"), ("p99_us", "p99 µs", "%.0f"),
               ("p999_us", "p99.9 µs", "%.0f"), ("samples", "samples", "%d")], "p50_us",
              higher_better=False)
    modes = [("one in flight", dict(mode="pingpong", count=P["lat_pp_count"], secs=P["lat_pp_secs"]))]
    modes.append(("10,000 rec/s", dict(mode="rate", rate=10000,
                                       count=int(10000 * P["lat_rate_secs"]),
                                       secs=P["lat_rate_secs"])))
    for c, kw in modes:
        for name, bs in kafkas:
            t.add(c, name, B.k("latency", bs, topic="lat", size=100, fetch_wait=500,
                               timeout=kw["secs"] + 60, **kw),
                  note="the mock answers a Fetch only after fetch.wait.max.ms when it had no data"
                  if name == "mock" else "")
        for name, rs in redises:
            t.add(c, name, B.r("latency", rs.port, key="lat", size=100, timeout=kw["secs"] + 60,
                               **kw))
    tables.append(t)
    if smoke:
        return tables, extra

    # -- consumer groups
    log("groups: filling topic grp")
    for name, bs in kafkas:
        B.k("produce", bs, topic="grp", partitions=8, size=100, count=1000, secs=10)
    t = Table("groups", "Consumer groups",
              "*subscribe → first record*: a new group subscribes to a topic of 8 partitions that "
              "holds records; gregord runs with group.initial.rebalance.delay.ms=%d (its default), so "
              "the target is ≤ delay + 50 ms. *… (committed offsets)*: the same, but the group "
              "already holds a committed offset for every partition (stored by another client "
              "before the clock starts), so the consumer fetches at once instead of resetting its "
              "offsets. *10-member rebalance*: 9 members (heartbeat.interval.ms"
              "=100) form a group, a 10th joins; time until all 10 have their new assignment. "
              "Redis Streams groups have no membership or rebalance, so Redis has no row here. "
              "The timeline of subscribe → first record is below (profile section)."
              % REBALANCE_DELAY_MS,
              [("ms", "ms", "%.1f")], "ms", higher_better=False)
    quick_skip = {"error": "skipped in quick mode (≥ 3 s per row)"}
    for name, bs in kafkas:
        if QUICK and name == "mock":
            t.add("subscribe → first record", name, quick_skip)
            continue
        r = B.k("subscribe", bs, topic="grp", secs=20, timeout=60)
        t.add("subscribe → first record", name,
              {"ms": r["first_record_ms"]} if "first_record_ms" in r else r,
              note="100 ms of it is librdkafka's: with no committed offset it sends the "
              "auto.offset.reset ListOffsets from a 100 ms backoff timer")
    for name, bs in kafkas:
        if QUICK and name == "mock":
            t.add("subscribe → first record (committed offsets)", name, quick_skip)
            continue
        r = B.k("subscribe", bs, topic="grp", secs=20, committed=1, timeout=60)
        t.add("subscribe → first record (committed offsets)", name,
              {"ms": r["first_record_ms"]} if "first_record_ms" in r else r)
    for name, bs in kafkas:
        if QUICK and name == "mock":
            t.add("%d-member rebalance (10th joins)" % P["rebalance_members"], name,
                  {"error": "skipped in quick mode (the mock takes ~10 s)"})
            continue
        r = B.k("rebalance", bs, topic="grp", members=P["rebalance_members"],
                secs=P["rebalance_secs"], timeout=P["rebalance_secs"] + 60)
        t.add("%d-member rebalance (10th joins)" % P["rebalance_members"], name,
              {"ms": r["rebalance_ms"]} if "rebalance_ms" in r else r,
              note=("group formed in %.0f ms" % r["form_ms"] if "form_ms" in r else "") +
              ("%stwice the initial delay, which is extended once since members joined "
               "during it; the 9 learn of the rebalance from their next heartbeat, which "
               "librdkafka sends only when its main thread wakes (for a timer or an event, at "
               "least once a second), not every heartbeat.interval.ms"
               % (": " if "form_ms" in r else "")
               if name == "gregord" else ""))
    tables.append(t)

    t = Table("commits", "Offset commits",
              "Each consumer is its own group and commits one partition, advancing the offset by one "
              "per commit, for %.2g s. *sync*: rd_kafka_commit(async=0) in a loop, one commit in "
              "flight. *async*: rd_kafka_commit_queue() with at most %d commits outstanding per "
              "consumer, completions counted from the OFFSET_COMMIT events; only commits acknowledged "
              "without error count, and a final OffsetFetch (rd_kafka_committed) must return the last "
              "offset acknowledged." % (P["commit_secs"], COMMIT_INFLIGHT),
              [("cps", "commits/s", "%.0f")], "cps")
    for mode in ("sync", "async"):
        for n in (1, 10):
            for name, bs in kafkas:
                r = B.k("commit", bs, topic="commit", consumers=n, count=10_000_000, mode=mode,
                        inflight=COMMIT_INFLIGHT, secs=P["commit_secs"],
                        timeout=P["commit_secs"] + 60)
                t.add(commit_row(n, mode), name, r)
    tables.append(t)

    # -- scale (gregord only: its own instance, so RSS counts only what is measured)
    gs = Gregord("gregord-scale", build, WORK).start()
    rss0 = gs.rss_kib()
    t = Table("scale", "Scale: many partitions",
              "One topic with N partitions. *produce*: %d records of 100 B spread round-robin over "
              "all partitions (acks=1, one producer, linger.ms=5); cost = 1/throughput; every "
              "record of a run lands in a different batch once N is large, so this is the cost of "
              "a batch, and *client CPU µs/record* is what librdkafka spent on it. *sticky*: the "
              "same records with librdkafka's default partitioner (no key: it stays on one "
              "random partition for sticky.partitioning.linger.ms, as the Java client does since "
              "KIP-480). *fetch latency*: one record in flight (to partition i mod N) while the consumer fetches "
              "all N partitions. *raw fetch*: round trip of one sessionless Fetch naming all N "
              "partitions at their high watermarks (MaxWaitMs=0), from a client that builds the "
              "request once and does not parse the response: gregord's share of a fetch, which "
              "librdkafka (no KIP-227 fetch sessions) sends for every poll. *raw incremental*: "
              "the same N partitions in a KIP-227 fetch session (Fetch v7), as the Java client "
              "fetches: each request names no partition and the answer lists only partitions "
              "that changed; librdkafka's fetch latency at 10,000 partitions varies from run to run "
              "with the same broker (p50 ~2–12 ms), since it builds and parses all N partitions "
              "for every fetch. gregord runs in its own instance here."
              % P["scale_count"],
              [("us_per_record", "produce µs/record", "%.2f"), ("rps", "produce records/s", "%.0f"),
               ("cli_cpu_us", "client CPU µs/record", "%.2f"),
               ("sticky_us", "sticky µs/record", "%.2f"),
               ("p50_us", "fetch p50 µs", "%.0f"), ("p99_us", "fetch p99 µs", "%.0f"),
               ("raw_fetch_us", "raw fetch µs", "%.0f"),
               ("raw_inc_us", "raw incremental µs", "%.0f"),
               ("create_s", "CreateTopics s", "%.2f")], "us_per_record", higher_better=False)
    for n in P["scale_parts"]:
        top = "scale%d" % n
        res = scale_gregord(B, gs, top, n, P)
        t.add("%d partitions" % n, "gregord", res, note=res.pop("note", ""))
        t.add("%d partitions" % n, "mock", scale_produce_mock(B, m, top, n, P),
              note="produce only: the mock holds idle fetches for fetch.wait.max.ms")
    tables.append(t)

    idle = P["idle_parts"]
    top = "scale%d" % idle
    if idle not in P["scale_parts"]:
        B.k("create", gs.bootstrap, topic=top, partitions=idle, timeout=300)
    r = B.k("groups", gs.bootstrap, topic=top, groups=P["idle_groups"], timeout=300)
    time.sleep(1.0)
    t = Table("rss", "Broker memory (gregord)",
              "VmRSS from /proc/<pid>/status of an idle gregord: just started (empty data dir), and "
              "with one topic of %d partitions plus %d groups that each hold a committed offset "
              "(created with AlterConsumerGroupOffsets; the groups have no live members)."
              % (idle, P["idle_groups"]),
              [("rss_mib", "VmRSS MiB", "%.1f")], "rss_mib", higher_better=False)
    t.add("empty", "gregord", {"rss_mib": rss0 / 1024})
    t.add("%d partitions, %d groups" % (idle, P["idle_groups"]), "gregord",
          {"rss_mib": gs.rss_kib() / 1024} if "error" not in r else r)
    t.ratio = lambda row: None
    tables.append(t)
    gs.stop(signal.SIGKILL)   # its shutdown is not measured
    shutil.rmtree(gs.data, ignore_errors=True)

    tables.append(offsets_scale(build, P))

    # -- large log: recovery and cold consume
    tables += large_log(B, build, P, ra)
    extra["load_after"] = open("/proc/loadavg").read().split()[:3]
    return tables, extra


def recv_frame(sock):
    """One size-prefixed Kafka response frame (without the size)."""
    buf = b""
    while len(buf) < 4:
        c = sock.recv(4 - len(buf))
        if not c:
            raise OSError("connection closed")
        buf += c
    size = struct.unpack(">i", buf)[0]
    parts, got = [], 0
    while got < size:
        c = sock.recv(min(1 << 20, size - got))
        if not c:
            raise OSError("connection closed")
        parts.append(c)
        got += len(c)
    return b"".join(parts)


def fetch_request(version, corr, top, offsets, session_id=0, epoch=-1):
    """Fetch v4 (sessionless) or v7 (KIP-227 fields) naming the partitions
    whose offsets are given (a dict or list: partition -> offset), MaxWaitMs=0."""
    tb = top.encode()
    body = struct.pack(">iiiiB", -1, 0, 0, 64 << 20, 0)
    if version >= 7:
        body += struct.pack(">ii", session_id, epoch)
    items = offsets.items() if isinstance(offsets, dict) else enumerate(offsets)
    parts = [struct.pack(">iqqi", p, o, -1, 1 << 20) if version >= 5 else
             struct.pack(">iqi", p, o, 1 << 20) for p, o in items]
    if parts:
        body += struct.pack(">i", 1) + struct.pack(">h", len(tb)) + tb
        body += struct.pack(">i", len(parts)) + b"".join(parts)
    else:
        body += struct.pack(">i", 0)
    if version >= 7:
        body += struct.pack(">i", 0)               # ForgottenTopicsData
    hdr = struct.pack(">hhih", 1, version, corr, 5) + b"scale"
    return struct.pack(">i", len(hdr) + len(body)) + hdr + body


def fetch_response(version, r):
    """(error, session id, {partition: high watermark}) of a Fetch v4/v7 response."""
    off = 4 + 4                                    # correlation id, throttle
    err, sid = 0, 0
    if version >= 7:
        err, sid = struct.unpack_from(">hi", r, off)
        off += 6
    hw = {}
    ntop = struct.unpack_from(">i", r, off)[0]
    off += 4
    for _ in range(ntop):
        off += 2 + struct.unpack_from(">h", r, off)[0]
        cnt = struct.unpack_from(">i", r, off)[0]
        off += 4
        for _ in range(cnt):
            p, _err, h = struct.unpack_from(">ihq", r, off)
            off += 4 + 2 + 8 + 8 + (8 if version >= 5 else 0)
            na = struct.unpack_from(">i", r, off)[0]
            off += 4 + max(na, 0) * 16
            off += 4 + max(struct.unpack_from(">i", r, off)[0], 0)
            hw[p] = h
    return err, sid, hw


def raw_fetch_rtt(bootstrap, top, n, rounds=30, timeout=30.0):
    """Round trips of a Fetch naming all n partitions of top at their high
    watermarks (MaxWaitMs=0: nothing to wait for), from a client that builds
    each request once and only counts the response, so the figures are the
    broker's work plus loopback copies: *full*, a sessionless Fetch v4 as a
    client without KIP-227 sends for every poll; *incremental*, the same
    partitions in a KIP-227 fetch session (Fetch v7), whose requests then name
    no partition and whose answers list only what changed.
    Returns (full p50 µs, incremental p50 µs or None, full response bytes,
    incremental response bytes)."""
    host, port = bootstrap.rsplit(":", 1)

    def p50(sock, reqs):
        lat, size = [], 0
        for req in reqs:
            t0 = time.perf_counter()
            sock.sendall(req)
            size = len(recv_frame(sock))
            lat.append((time.perf_counter() - t0) * 1e6)
        lat.sort()
        return lat[len(lat) // 2], size

    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # first round at offset 0: learn the high watermarks
        sock.sendall(fetch_request(4, 0, top, [0] * n))
        hw = fetch_response(4, recv_frame(sock))[2]
        offsets = [hw.get(p, 0) for p in range(n)]
        full, full_len = p50(sock, [fetch_request(4, 1, top, offsets)] * rounds)
        # a session over the same partitions, then incremental fetches
        sock.sendall(fetch_request(7, 2, top, offsets, session_id=0, epoch=0))
        err, sid, _ = fetch_response(7, recv_frame(sock))
        if err or not sid:
            return full, None, full_len, None
        inc, inc_len = p50(sock, [fetch_request(7, 3 + i, top, {}, session_id=sid, epoch=1 + i)
                                  for i in range(rounds)])
        sock.sendall(fetch_request(7, 4 + rounds, top, {}, session_id=sid, epoch=-1))
        recv_frame(sock)                           # close the session
    return full, inc, full_len, inc_len


def commit_standalone(bootstrap, top, groups, offsets, window=500, timeout=120.0):
    """OffsetCommit v2 (standalone: generation -1, no member) for groups
    gscale-0..groups-1, each committing offset 100 + p for partitions
    0..offsets-1 of top, pipelined on one connection with at most `window`
    unanswered.  Returns the seconds it took; raises unless every commit
    was acknowledged without error."""
    tb = top.encode()
    parts = b"".join(struct.pack(">iqh", p, 100 + p, 0) for p in range(offsets))
    tail = struct.pack(">qi", -1, 1) + struct.pack(">h", len(tb)) + tb + struct.pack(">i", offsets) + parts
    member = struct.pack(">ih", -1, 0)             # generation, member id ""; then retention -1
    cid = b"scale"
    # the answer: one topic, every partition NONE
    want = (struct.pack(">i", 1) + struct.pack(">h", len(tb)) + tb + struct.pack(">i", offsets)
            + b"".join(struct.pack(">ih", p, 0) for p in range(offsets)))

    def req(i):
        g = b"gscale-%d" % i
        body = struct.pack(">h", len(g)) + g + member + tail
        hdr = struct.pack(">hhih", 8, 2, i, len(cid)) + cid
        return struct.pack(">i", len(hdr) + len(body)) + hdr + body

    host, port = bootstrap.rsplit(":", 1)
    t0 = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        for lo in range(0, groups, window):
            hi = min(groups, lo + window)
            sock.sendall(b"".join(req(i) for i in range(lo, hi)))
            for i in range(lo, hi):
                r = recv_frame(sock)
                if struct.unpack_from(">i", r)[0] != i or r[4:] != want:
                    raise RuntimeError("commit of gscale-%d not acknowledged: %r" % (i, r[:64]))
    return time.monotonic() - t0


def offsets_scale(build, P):
    """gregord holding N standalone groups with 1 and with 10 committed
    offsets each: resident memory, the cost per group and per offset, and
    the time to load them all again after a restart."""
    n = P["scale_groups"]
    t = Table("offsets_scale", "Committed offsets at scale (gregord)",
              "N = %d groups (standalone commits, OffsetCommit v2 pipelined from one connection), each "
              "with 1 or 10 committed offsets on a topic of 10 partitions; a fresh gregord per row, "
              "offsets.topic.num.partitions=50. *VmRSS*: idle, after the commits (VmRSS of "
              "/proc/<pid>/status); *bytes per group*: (VmRSS − VmRSS before the first commit) ÷ N; "
              "*bytes per offset*: the difference between the two rows ÷ (9 N). *load*: gregord's own "
              "figure for replaying __consumer_offsets after a clean restart (log line *Loaded N "
              "groups*); *restart → loaded*: from exec to that line. Each group also keeps its "
              "rebalance and commit events, at most 16 MiB for all groups (group.history.max.bytes). The "
              "figures include the lag evaluation, which keeps at most lag.window.max.partitions (100,000) "
              "windows and as many groups: one window per group in the first row, one per offset of the "
              "first 10,000 groups in the second."
              % n,
              [("rss_mib", "VmRSS MiB", "%.1f"), ("per_group_b", "bytes per group", "%.0f"),
               ("per_offset_b", "bytes per offset", "%.0f"), ("commit_s", "commit s", "%.1f"),
               ("load_ms", "load ms", "%.0f"), ("restart_s", "restart → loaded s", "%.2f"),
               ("rss_after_mib", "VmRSS after restart MiB", "%.1f")], "rss_mib", higher_better=False)
    t.ratio = lambda row: None
    per_group = {}
    for k in (1, 10):
        name = "%d groups × %d offset%s" % (n, k, "s" if k > 1 else "")
        g = Gregord("gregord-offsets%d" % k, build, WORK, {"offsets.topic.num.partitions": "50"})
        try:
            g.start()
            B = Bench(build)
            r = B.k("create", g.bootstrap, topic="gscale", partitions=10)
            if "error" in r:
                t.add(name, "gregord", r)
                continue
            time.sleep(0.5)
            rss0 = g.rss_kib()
            res = {"commit_s": commit_standalone(g.bootstrap, "gscale", n, k)}
            time.sleep(1.0)
            rss1 = g.rss_kib()
            res["rss_mib"] = rss1 / 1024
            res["per_group_b"] = per_group[k] = (rss1 - rss0) * 1024.0 / n
            if k == 10 and 1 in per_group:
                res["per_offset_b"] = (per_group[10] - per_group[1]) / 9
            g.stop()
            logf = os.path.join(g.cwd, g.name + ".log")
            before = os.path.getsize(logf)
            t0 = time.monotonic()
            g.start()
            pat = re.compile(r"Loaded (\d+) groups from __consumer_offsets in (\d+) ms")
            while time.monotonic() - t0 < 300:
                with open(logf, "rb") as f:
                    f.seek(before)
                    m = pat.search(f.read().decode(errors="replace"))
                if m:
                    res["restart_s"] = time.monotonic() - t0
                    res["load_ms"] = float(m.group(2))
                    if int(m.group(1)) < n:
                        raise RuntimeError("only %s of %d groups loaded" % (m.group(1), n))
                    break
                time.sleep(0.01)
            else:
                raise RuntimeError("groups not loaded within 300 s of the restart")
            time.sleep(0.5)
            res["rss_after_mib"] = g.rss_kib() / 1024
            t.add(name, "gregord", res)
        except Exception as e:  # noqa: BLE001 - reported as n/a
            t.add(name, "gregord", {"error": str(e)[:160]})
        finally:
            g.stop(signal.SIGKILL)
            shutil.rmtree(g.data, ignore_errors=True)
    return t


def cli_cpu_us(r):
    """The client's CPU per record (µs) of a produce result."""
    return r["cpu_s"] * 1e6 / r["records"] if r.get("cpu_s") and r.get("records") else None


def scale_produce_mock(B, m, top, n, P):
    r = B.k("produce", m.bootstrap, topic=top, partitions=n, size=100,
            count=P["scale_count"], secs=P["scale_secs"], timeout=P["scale_secs"] + 120)
    if "error" in r:
        return r
    res = {"us_per_record": r["us_per_record"], "rps": r["rps"], "cli_cpu_us": cli_cpu_us(r)}
    r = B.k("produce", m.bootstrap, topic=top, partitions=n, size=100, partitioner="sticky",
            count=P["scale_count"], secs=P["scale_secs"], timeout=P["scale_secs"] + 120)
    if "error" not in r:
        res["sticky_us"] = r["us_per_record"]
    return res


def scale_gregord(B, gs, top, n, P):
    r = B.k("create", gs.bootstrap, topic=top, partitions=n, timeout=300)
    if "error" in r:
        if "Disk error" in r["error"]:
            r["error"] += " (open-files limit %s)" % NOFILE
        return r
    res = {"create_s": r["secs"]}
    r = B.k("produce", gs.bootstrap, topic=top, partitions=n, size=100,
            count=P["scale_count"], secs=P["scale_secs"], timeout=P["scale_secs"] + 120)
    if "error" in r:
        return r
    res.update(us_per_record=r["us_per_record"], rps=r["rps"], cli_cpu_us=cli_cpu_us(r))
    r = B.k("produce", gs.bootstrap, topic=top, partitions=n, size=100, partitioner="sticky",
            count=P["scale_count"], secs=P["scale_secs"], timeout=P["scale_secs"] + 120)
    if "error" not in r:
        res["sticky_us"] = r["us_per_record"]
    r = B.k("latency", gs.bootstrap, topic=top, mode="pingpong", count=P["scale_lat_count"],
            secs=P["scale_secs"] * 2, timeout=P["scale_secs"] * 2 + 120)
    if "error" in r:
        res["note"] = "fetch: " + r["error"]
    else:
        res.update(p50_us=r["p50_us"], p99_us=r["p99_us"])
    try:
        full, inc, _full_len, _inc_len = raw_fetch_rtt(gs.bootstrap, top, n)
        res["raw_fetch_us"] = full
        res["raw_inc_us"] = inc
    except (OSError, struct.error) as e:
        res["note"] = (res.get("note", "") + " raw fetch: %s" % e).strip()
    return res


def drop_caches():
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
        return True
    except OSError:
        return False


# ------------------------------------------------------ idempotent producer

def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _varint(v):
    v = (v << 1) ^ (v >> 63)            # zig-zag
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def raw_batch(pid, seq, value, ts):
    """A v2 batch of one record (null key) of producer pid (epoch 0), or a
    plain one for pid -1."""
    rec = b"\x00" + _varint(0) + _varint(0) + _varint(-1) + _varint(len(value)) + value + _varint(0)
    rec = _varint(len(rec)) + rec
    idem = pid >= 0
    after_crc = struct.pack(">hiqqqhii", 0, 0, ts, ts, pid, 0 if idem else -1, seq if idem else -1, 1) + rec
    tail = struct.pack(">ibI", -1, 2, crc32c(after_crc)) + after_crc
    return struct.pack(">qi", 0, len(tail)) + tail


def raw_produce(bootstrap, topic, batches):
    """One Produce v3 request (acks=-1) of concatenated batches to partition
    0; returns the error code."""
    data = b"".join(batches)
    t = topic.encode()
    body = (struct.pack(">hhi", -1, -1, 30000) + struct.pack(">ih", 1, len(t)) + t
            + struct.pack(">iii", 1, 0, len(data)) + data)
    hdr = struct.pack(">hhih", 0, 3, 7, 5) + b"bench"
    frame = hdr + body
    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as so:
        so.sendall(struct.pack(">i", len(frame)) + frame)
        buf = b""
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
            chunk = so.recv(1 << 16)
            if not chunk:
                raise RuntimeError("connection closed")
            buf += chunk
    # corr, [topic [partition error base ...]]
    p = 4 + 4 + 4
    (n,) = struct.unpack_from(">h", buf, p)
    p += 2 + n + 4 + 4
    return struct.unpack_from(">h", buf, p)[0]


def leo_sum(so, topic, nparts, ts=-1):
    """The sum of the log end offsets (ts=-2: log start offsets) of
    partitions 0..nparts-1 of topic, by one ListOffsets v1 request on the
    connected socket."""
    t = topic.encode()
    body = struct.pack(">iih", -1, 1, len(t)) + t + struct.pack(">i", nparts) + \
        b"".join(struct.pack(">iq", p, ts) for p in range(nparts))
    frame = struct.pack(">hhih", 2, 1, 11, 5) + b"bench" + body
    so.sendall(struct.pack(">i", len(frame)) + frame)
    buf = recv_frame(so)
    p = 4 + 4
    (n,) = struct.unpack_from(">h", buf, p)
    p += 2 + n
    (np_,) = struct.unpack_from(">i", buf, p)
    p += 4
    total = 0
    for _ in range(np_):
        _part, err, _ts, off = struct.unpack_from(">ihqq", buf, p)
        p += 22
        if err:
            raise RuntimeError("ListOffsets error %d" % err)
        total += off
    return total


def scrape_ms(http_port, path="/metrics"):
    """One GET of the HTTP listener: (ms, bytes)."""
    t0 = time.monotonic()
    buf = memoryview(bytearray(1 << 20))       # one buffer: no allocation per read
    with socket.create_connection(("127.0.0.1", http_port), timeout=60) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode())
        n = 0
        while True:
            k = s.recv_into(buf)
            if not k:
                break
            n += k
    return (time.monotonic() - t0) * 1000, n


def observability(B, build, P):
    """The cost of /metrics: a scrape of a broker with many partitions and
    groups, and produce throughput with and without a scrape every second
    (same instance, alternating rounds)."""
    parts, groups = P["idle_parts"], P["idle_groups"]
    t = Table("observability", "Observability: /metrics",
              "One gregord holding a topic of %d partitions and %d groups that each committed 10 "
              "offsets (standalone commits), every partition with records. *scrape*: GET /metrics "
              "(kafka_exporter's per-partition and per-group families plus the broker's histograms), "
              "median and max of %d scrapes, and the answer's size. *produce*: 100 B records, "
              "acks=1, 4 producers on 8 partitions of another topic (retention.bytes 128 MiB, "
              "segment.bytes 32 MiB), one run on the same instance; once retention deletes "
              "segments (steady state), the harness (another process than the "
              "producers) alternates %.0f s windows without and with a GET /metrics every second, "
              "in %d blocks of four windows (without, with, with, without), and counts the records "
              "each window appended from the partitions' log end offsets (ListOffsets). Figures: "
              "median window records/s of each kind, median scrape time under load, the broker's CPU "
              "in each kind of window; the last column is the median over the blocks of with ÷ "
              "without (each block's two windows of each kind summed)."
              % (parts, groups, 5, P["obs_window"], P["obs_blocks"]),
              [("rps", "produce records/s", "%.0f"), ("scrape_ms", "scrape ms (median)", "%.1f"),
               ("scrape_max_ms", "scrape ms (max)", "%.1f"), ("scrape_kib", "scrape KiB", "%.0f"),
               ("srv_cpu", "server CPU %", "%.0f")], "rps")
    t.ratio_header = "with ÷ without"

    def ratio(row):
        if row["system"] != "gregord (scrape every 1 s)" or "error" in row["res"]:
            return None
        return getattr(t, "obs_ratio", None)
    t.ratio = ratio
    # retention keeps the produce topic's size bounded: the long run writes
    # into page frames that deleted segments freed, as a broker in service does
    g = Gregord("gregord-obs", build, WORK, extra={
        "log.segment.bytes": str(32 << 20), "log.retention.bytes": str(128 << 20),
        "log.retention.check.interval.ms": "1000"}).start()
    top = "obs%d" % parts
    r = B.k("create", g.bootstrap, topic=top, partitions=parts, timeout=300)
    if "error" in r:
        t.add("scrape", "gregord", r)
        g.stop(signal.SIGKILL)
        return [t]
    B.k("produce", g.bootstrap, topic=top, partitions=parts, size=100, acks=1, producers=1,
        count=parts * 2, secs=30, timeout=120)
    commit_standalone(g.bootstrap, top, groups, 10)
    times, size = [], 0
    for _ in range(5):
        ms, size = scrape_ms(g.http_port)
        times.append(ms)
    times.sort()
    t.add("scrape: %d partitions, %d groups" % (parts, groups), "gregord",
          {"scrape_ms": times[len(times) // 2], "scrape_max_ms": times[-1], "scrape_kib": size / 1024})
    # produce: one long run, and the harness alternates windows without and
    # with a scrape every second (ABBA blocks: off, on, on, off), counting the
    # records appended in each window from the partitions' log end offsets.
    # Comparing neighbouring windows of one run keeps what differs between
    # runs (a new topic, the page frames it lands in, other load on the VM)
    # out of the ratio; each block's with ÷ without cancels a linear drift.
    prod_topic, nparts, win = "obsprod", 8, P["obs_window"]
    B.k("create", g.bootstrap, topic=prod_topic, partitions=nparts)
    nblocks = P["obs_blocks"]
    secs = 90.0 + nblocks * 4 * win * 2 + 30.0     # an upper bound: SIGUSR1 ends it after the windows
    c0 = g.cpu_s()
    proc = B.k_start("produce", g.bootstrap, topic=prod_topic, partitions=nparts, size=100, acks=1,
                     producers=4, count=10 ** 10, secs=secs)
    rates = {False: [], True: []}
    blocks, seen, cpu, wsecs = [], [], {False: 0.0, True: 0.0}, {False: 0.0, True: 0.0}
    err = None
    try:
        with socket.create_connection(("127.0.0.1", int(g.bootstrap.rsplit(":", 1)[1])), timeout=30) as so:
            # steady state: retention deletes segments (the log start
            # offsets move), so appends go to page frames freed a moment
            # before, as in a broker in service (the first GBs into fresh
            # frames are several times slower on this VM, see the profile)
            t_end = time.monotonic() + 90
            while leo_sum(so, prod_topic, nparts, -2) == 0 and time.monotonic() < t_end and proc.poll() is None:
                time.sleep(0.2)
            time.sleep(1.0)
            for _b in range(nblocks):
                if proc.poll() is not None:
                    raise RuntimeError("the producers ended early")
                blk = {}
                for on in (False, True, True, False):
                    t0, n0, w_c0 = time.monotonic(), leo_sum(so, prod_topic, nparts), g.cpu_s()
                    k = 0
                    while True:
                        if on:
                            seen.append(scrape_ms(g.http_port)[0])
                            if seen[-1] > 1000:
                                log("observability: a scrape under load took %.0f ms (block %d)"
                                    % (seen[-1], len(blocks) + 1))
                        k += 1
                        left = t0 + min(k * 1.0, win) - time.monotonic()
                        if left > 0:
                            time.sleep(left)
                        if time.monotonic() - t0 >= win - 1e-3:
                            break
                    t1, n1, w_c1 = time.monotonic(), leo_sum(so, prod_topic, nparts), g.cpu_s()
                    rate = (n1 - n0) / (t1 - t0)
                    rates[on].append(rate)
                    blk.setdefault(on, []).append(rate)
                    wsecs[on] += t1 - t0
                    if w_c0 is not None and w_c1 is not None:
                        cpu[on] += w_c1 - w_c0
                blocks.append(sum(blk[True]) / sum(blk[False]) if sum(blk[False]) else None)
                log("observability: block %d windows (off, on, on, off) %s records/s" % (
                    len(blocks), ", ".join("%.0f" % x for x in (blk[False][0], blk[True][0], blk[True][1], blk[False][1]))))
    except (OSError, RuntimeError) as e:
        err = repr(e)
    res = B.k_finish(proc, signal.SIGUSR1)
    c1 = g.cpu_s()
    if "error" not in res and res.get("secs") and c0 is not None and c1 is not None:
        res["srv_cpu"] = 100.0 * (c1 - c0) / res["secs"]
        res["cli_cpu"] = 100.0 * res.get("cpu_s", 0) / res["secs"]
    if err or "error" in res or not blocks or None in blocks:
        t.add("produce 100 B, acks=1, 8 partitions, 4 producers", "gregord (scrape every 1 s)",
              {"error": err or res.get("error", "no windows")})
    else:
        def med(v):
            v = sorted(v)
            return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
        t.obs_ratio = med(blocks)
        for on, name in ((False, "gregord (no scrape)"), (True, "gregord (scrape every 1 s)")):
            row = {"rps": med(rates[on]), "srv_cpu": 100.0 * cpu[on] / wsecs[on]}
            if on:
                row.update(scrape_ms=med(seen), scrape_max_ms=max(seen))
            t.add("produce 100 B, acks=1, 8 partitions, 4 producers", name, row,
                  note=("with ÷ without per block: " + ", ".join("%.3f" % x for x in blocks)) if on else
                  "whole run: %.0f records/s, client CPU %.0f %%" % (res.get("rps", 0), res.get("cli_cpu", 0)))
    g.stop(signal.SIGKILL)
    shutil.rmtree(g.data, ignore_errors=True)
    return [t]


RAW_PREFIX = "Java-style client, "
RAW_GREGORD = RAW_PREFIX + "gregord"
RAW_MOCK = RAW_PREFIX + "mock"


def idempotence(B, build, P, pool, warm):
    """Idempotent produce beside plain produce (same client, same config,
    same run), and the recovery of producer state after kill -9."""
    out = []
    t = Table("idempotence", "Idempotent producer",
              "The produce workload of the table above with acks=all, plain and with "
              "enable.idempotence=true (librdkafka: InitProducerId, then every batch carries the "
              "producer id and sequence numbers; gregord checks them against the partition's "
              "producer state and keeps the last 5 batches of each producer), on gregord and on "
              "librdkafka's mock cluster (in memory). Both with "
              "max.in.flight.requests.per.connection=5, the most librdkafka allows an idempotent "
              "producer. librdkafka (every release up to 2.15) then still sends an idempotent "
              "producer's next batch for a partition only once fewer than 5 of its *records* are "
              "in flight, so in practice one ProduceRequest per partition at a time against any "
              "broker, and its broker thread polls without sleeping while it waits (client CPU); "
              "plain produce keeps up to 5 requests in flight. Where one partition's batches are "
              "big (1 KiB records: 1 MB per request), idempotent throughput is one batch per "
              "round trip, and the round trip includes the broker's append (gregord: the copy "
              "into the page cache; the mock: into memory). Each round on a fresh server, plain "
              "and idempotent alternating (plain first in even rounds, idempotent first in odd "
              "ones, so that neither gains from going first), best of "
              "%d rounds. The last column is idempotent ÷ plain on the same system. "
              "*server CPU µs/record* is the broker's own cost. "
              "The *Java-style client* rows (one partition, one producer) use kbench's raw "
              "producer, which sends as the Java producer does (the default client of Kafka "
              "applications, idempotent by default since Kafka 3.0): up to 5 ProduceRequests "
              "in flight on its connection, plain or idempotent alike, each batch numbered "
              "when it is made; batches of the same size as librdkafka's (batch.size 1000000), "
              "acks=all, Produce v7, one CRC-32C per batch on the client in both modes." % (P["produce_rounds"] + 2),
              [("rps", "records/s", "%.0f"), ("mbps", "MB/s", "%.1f"),
               ("srv_cpu", "server CPU %", "%.0f"), ("srv_us", "server CPU µs/record", "%.3f"),
               ("cli_cpu", "client CPU %", "%.0f")], "rps")
    t.ratio_header = "idempotent ÷ plain"

    def idem_ratio(row):
        if not row["system"].endswith(" (idempotent)") or "error" in row["res"]:
            return None
        plain = t.value(row["config"], row["system"].replace(" (idempotent)", " (plain)"))
        return row["res"]["rps"] / plain if plain else None
    t.ratio = idem_ratio
    rk = (("gregord (plain)", 0), ("gregord (idempotent)", 1),
          ("mock (plain)", 0), ("mock (idempotent)", 1))
    raw = ((RAW_GREGORD + " (plain)", 0), (RAW_GREGORD + " (idempotent)", 1),
           (RAW_MOCK + " (plain)", 0), (RAW_MOCK + " (idempotent)", 1))
    n = 0
    for size, parts, prods in [(100, 1, 1), (100, 8, 4), (1024, 1, 1)]:
        c = cfg_name(size, "all", parts, prods)
        # the raw producer sends to one partition from one connection
        systems = rk + raw if parts == 1 and prods == 1 else rk
        runs = {name: [] for name, _ in systems}
        for rnd in range(P["produce_rounds"] + 2):
            # pairs swap places every other round: (plain, idempotent), then (idempotent, plain)
            order = systems if rnd % 2 == 0 else \
                [systems[i ^ 1] for i in range(len(systems))]
            for name, idem in order:
                if "mock" in name:
                    gp = Mock(build, WORK, [("p%d" % parts, parts)]).spawn().start()
                    r = {}
                else:
                    pool.release(min(warm, P["produce_secs"] * (1200 if size >= 1024 else 250)))
                    gp = Gregord("gregord-idem%d" % n, build, WORK).start()
                    n += 1
                    r = B.k("create", gp.bootstrap, topic="p%d" % parts, partitions=parts)
                if "error" not in r and name.startswith(RAW_PREFIX):
                    r = with_cpu(gp, lambda: B.k("produceraw", gp.bootstrap, topic="p%d" % parts,
                                                 size=size, count=P["produce_count"],
                                                 secs=P["produce_secs"], idempotence=idem,
                                                 inflight=5, timeout=P["produce_secs"] + 60))
                elif "error" not in r:
                    r = with_cpu(gp, lambda: B.k("produce", gp.bootstrap, topic="p%d" % parts,
                                                 partitions=parts, size=size, acks="all",
                                                 producers=prods, count=P["produce_count"],
                                                 secs=P["produce_secs"], idempotence=idem,
                                                 timeout=P["produce_secs"] + 60,
                                                 **{"rk.max.in.flight.requests.per.connection": 5}))
                if "error" not in r and r.get("srv_cpu") is not None and r.get("rps"):
                    r["srv_us"] = r["srv_cpu"] / 100 * 1e6 / r["rps"]
                runs[name].append(r)
                gp.stop(signal.SIGKILL)
                if "mock" not in name:
                    pool.hold(gp.data)
        for name, _ in systems:
            ok = [r for r in runs[name] if "error" not in r]
            r = max(ok, key=lambda x: x["rps"]) if ok else runs[name][-1]
            t.add(c, name, r, note="rounds: " + ", ".join(
                "%.0f" % x["rps"] if "error" not in x else "n/a" for x in runs[name])
                if len(runs[name]) > 1 else "")
    out.append(t)

    nprod = 10000
    rec = Table("pstate_recovery", "Producer state recovery after kill -9",
                "One partition holding one batch (one 100 B record) from each of %d producers "
                "(producer ids picked by the harness, epoch 0, sequence 0), written with raw "
                "Produce requests, then gregord is killed (-9) and started again: *startup ms* until "
                "it accepts connections, *log recovery ms* as it logs it. *from the log*: no "
                "snapshot yet (no segment rolled), so recovery checks the segment from its "
                "recovery point and rebuilds the state by reading every batch header. *from a "
                "snapshot*: the same partition after a clean restart, which wrote the %d producers "
                "to <offset>.snapshot; then kill -9, so the state comes from that file. *no "
                "producer ids*: the same number of batches without producer ids, the baseline."
                % (nprod, nprod),
                [("ms", "startup ms", "%.1f"), ("log_ms", "log recovery ms", "%.1f"),
                 ("snapshot_kib", "snapshot KiB", "%.0f")], "ms", higher_better=False)
    rec.ratio = lambda row: None

    def log_ms(g):
        try:
            with open(os.path.join(WORK, g.name + ".log"), "rb") as f:
                m = re.findall(rb"Log recovery finished in (\d+) ms", f.read())
            return float(m[-1]) if m else None
        except OSError:
            return None

    for label, with_pid in (("%d producers, from the log" % nprod, True),
                            ("no producer ids (%d batches)" % nprod, False)):
        g = Gregord("gregord-pstate%d" % int(with_pid), build, WORK).start()
        try:
            r = B.k("create", g.bootstrap, topic="ps", partitions=1)
            if "error" in r:
                rec.add(label, "gregord", r)
                continue
            ts = int(time.time() * 1000)
            val = b"v" * 100
            for k in range(0, nprod, 1000):
                err = raw_produce(g.bootstrap, "ps", [raw_batch(pid if with_pid else -1, 0, val, ts)
                                                       for pid in range(k, k + 1000)])
                if err:
                    raise RuntimeError("produce error %d" % err)
            g.stop(signal.SIGKILL)
            g.start(timeout=300)
            rec.add(label, "gregord", {"ms": g.start_secs * 1000, "log_ms": log_ms(g)})
            if with_pid:
                g.stop(signal.SIGTERM)
                g.start(timeout=300)
                snaps = [f for f in os.listdir(os.path.join(g.data, "ps-0")) if f.endswith(".snapshot")]
                size = max((os.path.getsize(os.path.join(g.data, "ps-0", f)) for f in snaps), default=0)
                g.stop(signal.SIGKILL)
                g.start(timeout=300)
                rec.add("%d producers, from a snapshot" % nprod, "gregord",
                        {"ms": g.start_secs * 1000, "log_ms": log_ms(g), "snapshot_kib": size / 1024})
        except Exception as e:  # noqa: BLE001 - reported as n/a
            rec.add(label, "gregord", {"error": str(e)})
        finally:
            g.stop(signal.SIGKILL)
            shutil.rmtree(g.data, ignore_errors=True)
    out.append(rec)
    return out


TXN_COMMIT_MS = 100       # transactional produce: a commit every 100 ms
TXN_ABORT_PCT = 10        # the read_committed log: every 10th transaction aborted


def transactions(B, build, P, pool, warm):
    """Transactional produce beside plain produce, consume-transform-produce,
    and read_committed beside read_uncommitted consumption of a log with
    aborted transactions (each on fresh gregord instances, same client)."""
    out = []
    t = Table("txn_produce", "Transactional producer",
              "The produce workload of the idempotence table (acks=all, max.in.flight.requests."
              "per.connection=5), plain and transactional: each producer thread has its own "
              "transactional.id (librdkafka: init_transactions, then begin_transaction, the records, "
              "commit_transaction every %d ms - which flushes the producer, sends EndTxn and waits "
              "for the coordinator's PrepareCommit record; the coordinator then writes the COMMIT "
              "markers and the CompleteCommit record). A transactional run counts only records "
              "whose transaction committed, and its time includes the last commit. Each round on "
              "a fresh gregord, plain and transactional alternating (each first in every other "
              "round), best of %d rounds. The last "
              "column is transactional ÷ plain."
              % (TXN_COMMIT_MS, P["produce_rounds"]),
              [("rps", "records/s", "%.0f"), ("mbps", "MB/s", "%.1f"), ("txns", "transactions", "%d"),
               ("srv_cpu", "server CPU %", "%.0f"), ("cli_cpu", "client CPU %", "%.0f")], "rps")
    t.ratio_header = "transactional ÷ plain"

    def txn_ratio(row, t=t):
        if row["system"] != "gregord (transactional)" or "error" in row["res"]:
            return None
        plain = t.value(row["config"], "gregord (plain)")
        return row["res"]["rps"] / plain if plain else None
    t.ratio = txn_ratio
    n = 0
    for size, parts, prods in [(100, 1, 1), (100, 8, 4)]:
        c = cfg_name(size, "all", parts, prods)
        runs = {"gregord (plain)": [], "gregord (transactional)": []}
        for rnd in range(P["produce_rounds"]):
            pair = (("gregord (plain)", 0), ("gregord (transactional)", 1))
            for name, txn in (pair if rnd % 2 == 0 else pair[::-1]):
                pool.release(min(warm, P["produce_secs"] * 250))
                gp = Gregord("gregord-txn%d" % n, build, WORK,
                             extra={"transaction.state.log.num.partitions": "4"}).start()
                n += 1
                r = B.k("create", gp.bootstrap, topic="p%d" % parts, partitions=parts)
                kw = {"txn": 1, "commit_ms": TXN_COMMIT_MS} if txn else {}
                if "error" not in r:
                    r = with_cpu(gp, lambda: B.k("produce", gp.bootstrap, topic="p%d" % parts,
                                                 partitions=parts, size=size, acks="all",
                                                 producers=prods, count=P["produce_count"],
                                                 secs=P["produce_secs"], timeout=P["produce_secs"] + 90,
                                                 **dict(kw, **{"rk.max.in.flight.requests.per.connection": 5})))
                runs[name].append(r)
                gp.stop(signal.SIGKILL)
                pool.hold(gp.data)
        for name in runs:
            ok = [r for r in runs[name] if "error" not in r]
            r = max(ok, key=lambda x: x["rps"]) if ok else runs[name][-1]
            t.add(c, name, r, note="rounds: " + ", ".join(
                "%.0f" % x["rps"] if "error" not in x else "n/a" for x in runs[name])
                if len(runs[name]) > 1 else "")
    out.append(t)

    nrec = P["consume_records"]
    t = Table("txn_consume", "Reading transactions",
              "*read_uncommitted* / *read_committed*: one partition holding %d records of 100 B "
              "written in transactions of 1,000 records, every %dth transaction aborted (a "
              "transactional producer; before abort_transaction it flushes, so that the aborted "
              "records are in the log), read from the beginning to the end of "
              "the log by the consume workload's simple consumer with isolation.level = the "
              "system column. A read_committed fetch stops at the last stable offset and carries "
              "the aborted transactions of the range it returns (gregord reads them from the "
              "segments' .txnindex files); librdkafka drops their records. *log records/s* is the "
              "log traversed per second (the records read_uncommitted delivers, over each run's "
              "time) and is what the ratio compares; *records/s* counts the records delivered. "
              "*consume-transform-produce*: %d records in one partition consumed by a group "
              "member (read_committed) and copied by a transactional producer to another topic, "
              "the consumer's positions sent with send_offsets_to_transaction and the "
              "transaction committed every %d ms; records/s counts committed records, timed from "
              "the first record consumed." % (nrec, 100 // TXN_ABORT_PCT, nrec, TXN_COMMIT_MS),
              [("log_rps", "log records/s", "%.0f"), ("rps", "records/s", "%.0f"),
               ("mbps", "MB/s", "%.1f"), ("txns", "transactions", "%d")], "log_rps")
    t.ratio_header = "read_committed ÷ read_uncommitted"

    def rc_ratio(row, t=t):
        if row["system"] != "gregord (read_committed)" or "error" in row["res"]:
            return None
        ru = t.value(row["config"], "gregord (read_uncommitted)")
        return row["res"]["log_rps"] / ru if ru else None
    t.ratio = rc_ratio
    cfg = "100 B, 1 part, %d %% of transactions aborted" % TXN_ABORT_PCT
    pool.release(nrec * 300 / 1048576)
    gc = Gregord("gregord-txnread", build, WORK, extra={"transaction.state.log.num.partitions": "4"}).start()
    try:
        r = B.k("create", gc.bootstrap, topic="tx,cin,cout", partitions="1,1,1")
        if "error" in r:
            raise RuntimeError(r["error"])
        fill = B.k("produce", gc.bootstrap, topic="tx", partitions=1, size=100, acks="all",
                   count=nrec, secs=120, txn=1, txn_records=1000, abort_pct=TXN_ABORT_PCT, timeout=240)
        if "error" in fill:
            raise RuntimeError("filling: %s" % fill["error"])
        res = {}
        runs = {"read_uncommitted": [], "read_committed": []}
        order = ("read_uncommitted", "read_committed", "read_committed", "read_uncommitted",
                 "read_uncommitted", "read_committed")     # ABBAAB: neither gains from its place
        for iso in order:
            r = B.k("consume", gc.bootstrap, topic="tx", count=10 * nrec, eof=1,
                    secs=P["consume_secs"] * 4, timeout=P["consume_secs"] * 4 + 60,
                    **{"rk.isolation.level": iso})
            runs[iso].append(r)
            if "error" not in r and (iso not in res or "error" in res[iso] or r["rps"] > res[iso]["rps"]):
                res[iso] = r
            elif iso not in res:
                res[iso] = r
        ru = res["read_uncommitted"]
        for iso in ("read_uncommitted", "read_committed"):
            r = res[iso]
            if "error" not in r and "error" not in ru:
                r["log_rps"] = ru["records"] / r["secs"]
            note = "best of 3 runs: " + ", ".join("%.0f" % x["rps"] if "error" not in x else "n/a"
                                                  for x in runs[iso]) + " records/s"
            if iso == "read_committed" and "error" not in r and "error" not in ru:
                note = "delivered %d of %d records (%.1f %% aborted); %s" % (
                    r["records"], ru["records"], 100.0 * (1 - r["records"] / ru["records"]), note)
            t.add(cfg, "gregord (%s)" % iso, r, note=note)
        r = B.k("produce", gc.bootstrap, topic="cin", partitions=1, size=100, acks="1", count=nrec,
                secs=60, timeout=120)
        if "error" not in r:
            r = B.k("ctp", gc.bootstrap, topic="cin", out="cout", group="ctp", count=nrec,
                    secs=P["consume_secs"] * 2, commit_ms=TXN_COMMIT_MS, timeout=P["consume_secs"] * 2 + 90)
        t.add("consume-transform-produce, 100 B, 1 part", "gregord (transactional)", r,
              note="first record %.0f ms after subscribe (group.initial.rebalance.delay.ms)"
              % r["first_ms"] if "first_ms" in r else "")
    except Exception as e:  # noqa: BLE001 - reported as n/a
        t.add(cfg, "gregord (read_committed)", {"error": str(e)})
    finally:
        gc.stop(signal.SIGKILL)
        pool.hold(gc.data)
    out.append(t)
    return out


def consumer_protocol(build):
    """Consumer groups: the classic protocol beside KIP-848's consumer
    protocol (bench/kip848.py, node-rdkafka members, its own gregord)."""
    t = Table("kip848", "Consumer groups: classic and consumer (KIP-848) protocols",
              "node-rdkafka 3.6.1 members (its bundled librdkafka 2.12; tests/integ/js/cg848.js) with "
              "group.protocol=classic (range, eager; heartbeat 3 s) or consumer (the coordinator's uniform "
              "assignor; heartbeat interval 5 s) on a 30-partition topic that a producer writes to every "
              "20 ms. *10th member*: nine members consume, a tenth starts; the time until it holds "
              "partitions. *pause*: the longest gap in consumption, from 1 s before the tenth started to "
              "20 s after, of the members whose partitions did not move (the classic protocol revokes "
              "everyone's, so all nine count there). *heartbeats/s*: steady ConsumerGroupHeartbeats the "
              "coordinator answers for 1,000 members in 100 groups (bench/kip848_hb.py, 4 pipelined "
              "connections).",
              [("join_ms", "10th member holds partitions after (ms)", "%.0f"),
               ("gap_ms", "longest pause of unaffected members (ms)", "%.0f"),
               ("members", "members counted", "%d"), ("hbps", "heartbeats/s", "%.0f")], "gap_ms",
              higher_better=False)
    t.ratio_header = "consumer ÷ classic (pause)"

    def ratio(row):
        if row["system"] != "gregord (consumer protocol)" or "error" in row["res"]:
            return None
        base = t.value(row["config"], "gregord (classic protocol)")
        x = row["res"].get("gap_ms")
        return x / base if base and x is not None else None
    t.ratio = ratio
    out = os.path.join(WORK, "kip848.json")
    try:
        cp = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "kip848.py"), "--build", build,
                             "--json", out], capture_output=True, text=True, timeout=900)
        if cp.returncode != 0:
            raise RuntimeError((cp.stderr or cp.stdout).strip().splitlines()[-1:] or ["exit %d" % cp.returncode])
        with open(out) as f:
            res = json.load(f)
        for r in res["rows"]:
            t.add("9 members + 1, 30 partitions", "gregord (%s protocol)" % r["protocol"],
                  {"join_ms": r["join_ms"], "gap_ms": r["gap_ms"], "members": r["members"]}
                  if r["gap_ms"] is not None else {"error": "no gap measured"})
        t.add("1,000 members in 100 groups", "gregord (consumer protocol)", res["hb"],
              note="%d heartbeats in %.1f s, %d errors" % (res["hb"]["count"], res["hb"]["secs"],
                                                            res["hb"]["errors"]) if "error" not in res["hb"] else "")
    except Exception as e:  # noqa: BLE001 - reported as n/a
        t.add("9 members + 1, 30 partitions", "gregord (consumer protocol)", {"error": str(e)})
    return [t]


def large_log(B, build, P, ra):
    size = P["large_bytes"]
    n = size // 1024
    log("large log: %d MiB" % (size >> 20))
    gl = Gregord("gregord-large", build, WORK).start()
    B.k("create", gl.bootstrap, topic="large", partitions=1)
    r = B.k("produce", gl.bootstrap, topic="large", partitions=1, size=1024, count=n,
            secs=P["large_secs"], timeout=P["large_secs"] + 120)
    written = r.get("records", 0)
    log("large log: written %d records" % written)
    mib = written * 1024 / 1048576
    rec = Table("recovery", "Recovery (startup time)",
                "A log of %.0f MiB (%d records of 1 KiB, one partition); time from exec to the port "
                "accepting (gregord) or answering PING (Redis, AOF everysec, the same records as "
                "stream entries). *after kill -9*: the process is killed while idle after writing; "
                "gregord recovers from its recovery point. *after clean shutdown*: SIGTERM first."
                % (mib, written),
                [("ms", "startup ms", "%.1f")], "ms", higher_better=False)
    cold = Table("cold", "Consume throughput (cold start, large log)",
                 "The same log read from the beginning right after a clean restart of the broker.",
                 [("rps", "records/s", "%.0f"), ("mbps", "MB/s", "%.1f")], "rps")
    if "error" in r:
        rec.add("kill -9", "gregord", r)
        gl.stop()
        return [rec, cold]
    gl.stop(signal.SIGKILL)
    gl.start(timeout=300)
    rec.add("after kill -9", "gregord", {"ms": gl.start_secs * 1000})
    gl.stop(signal.SIGTERM)
    dropped = drop_caches()
    gl.start(timeout=300)
    rec.add("after clean shutdown", "gregord", {"ms": gl.start_secs * 1000},
            note="page cache dropped" if dropped else "page cache may be warm")
    cold.add("%.0f MiB, 1 KiB records" % mib, "gregord",
             B.k("consume", gl.bootstrap, topic="large", count=written, secs=P["large_secs"],
                 timeout=P["large_secs"] + 60),
             note="page cache dropped before the restart" if dropped else
             "drop_caches not permitted: the page cache may still hold the log")
    gl.stop()
    shutil.rmtree(gl.data, ignore_errors=True)

    log("large log: redis")
    # Redis with AOF: same records, then the same two restarts.
    r = B.r("xadd", ra.port, key="large", size=1024, count=written, pipeline=1000,
            secs=P["large_secs"], timeout=P["large_secs"] + 120)
    if "error" not in r:
        time.sleep(1.2)  # appendfsync everysec
        ra.stop(signal.SIGKILL)
        ra.start(timeout=300)
        rec.add("after kill -9", "redis (AOF everysec)", {"ms": ra.start_secs * 1000},
                note="%d entries" % r["records"])
        ra.stop(signal.SIGTERM)
        drop_caches()
        ra.start(timeout=300)
        rec.add("after clean shutdown", "redis (AOF everysec)", {"ms": ra.start_secs * 1000})
        ra.flush()
    else:
        rec.add("after kill -9", "redis (AOF everysec)", r)
    rec.rows.sort(key=lambda row: row["config"] != "after kill -9")
    return [rec, cold]


# ------------------------------------------------------------------ report

def cpu_note(t, config, peer=None):
    """'; CPU: ...' for one produce config: the share of the machine's cores
    that gregord's client and gregord took in gregord's reported round (and
    the peer server's, if given), or '' when not measured."""
    g = next((r["res"] for r in t.rows if r["config"] == config and r["system"] == "gregord"
              and "error" not in r["res"]), None)
    if not g or g.get("cli_cpu") is None or g.get("srv_cpu") is None:
        return ""
    ncpu = os.cpu_count() or 1
    txt = "; CPU of the %d cores: gregord's client %.0f %%, gregord %.0f %%" % (
        ncpu, g["cli_cpu"] / ncpu, g["srv_cpu"] / ncpu)
    p = next((r["res"] for r in t.rows if r["config"] == config and r["system"] == peer
              and "error" not in r["res"]), None) if peer else None
    if p and p.get("srv_cpu") is not None:
        txt += ", %s server %.0f %% (%.0f %% of one core)" % (peer.split(" (")[0], p["srv_cpu"] / ncpu,
                                                            p["srv_cpu"])
    return txt


def produce_cpu(t):
    """Where the produce runs spent the machine's CPU: the brokers' CPU per
    record (gregord against the mock, geometric mean of mock ÷ gregord), and
    the share of both cores the client took in the rows where gregord's
    throughput stayed below the mock's."""
    per, short = [], []
    for row in t.rows:
        if row["system"] != "mock" or "error" in row["res"]:
            continue
        g = next((r["res"] for r in t.rows if r["config"] == row["config"] and
                  r["system"] == "gregord" and "error" not in r["res"]), None)
        m = row["res"]
        if not g or not g.get("srv_cpu") or not m.get("srv_cpu"):
            continue
        per.append((m["srv_cpu"] / m["rps"]) / (g["srv_cpu"] / g["rps"]))
        if g["rps"] < m["rps"] and g.get("cli_cpu"):
            short.append((g["cli_cpu"], g["srv_cpu"]))
    if not per:
        return None
    gm = math.exp(sum(math.log(x) for x in per) / len(per))
    what = "produce: broker CPU per record ≤ the mock's (same runs; not a target, the evidence)"
    txt = "the mock used %.2f× gregord's CPU per record (geometric mean over %d configs)" % (
        gm, len(per))
    if short:
        ncpu = os.cpu_count() or 1
        txt += ("; where gregord's throughput was below the mock's, the client took %.0f–%.0f %% of "
                "the %d cores and gregord %.0f–%.0f %%" %
                (min(c for c, _ in short) / ncpu, max(c for c, _ in short) / ncpu, ncpu,
                 min(g for _, g in short) / ncpu, max(g for _, g in short) / ncpu))
    return (what, txt, gm >= 1.0)


FLAT = 1.5   # "stays flat": at most this factor for 10× the partitions


def scale_targets(t):
    """Per-record cost and fetch cost from the smallest to the largest
    partition count of the scale table: gregord's own figures against FLAT,
    with the client-bound figures beside them."""
    confs = [r["config"] for r in t.rows if r["system"] == "gregord"]
    if len(confs) < 2:
        return []
    lo, hi = confs[0], confs[-1]
    out = []

    def v(c, m, system="gregord"):
        return t.value(c, system, m)

    a, b = v(lo, "sticky_us"), v(hi, "sticky_us")
    if a and b:
        txt = "%.2f → %.2f µs/record (default partitioner)" % (a, b)
        ra, rb = v(lo, "us_per_record"), v(hi, "us_per_record")
        ca, cb = v(lo, "cli_cpu_us"), v(hi, "cli_cpu_us")
        if ra and rb and ca and cb:
            txt += ("; round-robin over all partitions (one batch per record once N is large) %.2f → "
                    "%.2f µs/record, librdkafka using %.2f → %.2f µs of CPU per record" % (ra, rb, ca, cb))
            ma, mb = v(lo, "us_per_record", "mock"), v(hi, "us_per_record", "mock")
            if ma and mb:
                txt += " (mock: %.2f → %.2f µs/record)" % (ma, mb)
        out.append(("produce cost per record flat, %s → %s (≤ %.1f×)" % (lo, hi, FLAT), txt,
                    b <= a * FLAT))
    a, b = v(lo, "raw_inc_us"), v(hi, "raw_inc_us")
    if a and b:
        txt = "%.0f → %.0f µs per incremental fetch (KIP-227 session, gregord's share)" % (a, b)
        fa, fb = v(lo, "raw_fetch_us"), v(hi, "raw_fetch_us")
        la, lb = v(lo, "p50_us"), v(hi, "p50_us")
        if fa and fb:
            txt += "; sessionless full fetch %.0f → %.0f µs" % (fa, fb)
        if la and lb:
            txt += ("; librdkafka (full fetches only, it builds and parses every partition each time) "
                    "p50 %.0f → %.0f µs" % (la, lb))
        out.append(("fetch cost flat (gregord's share), %s → %s (≤ %.1f×)" % (lo, hi, FLAT), txt,
                    b <= a * FLAT))
    return out


def targets(tables):
    T = {t.key: t for t in tables}
    out = []

    def ratios(t, system, configs=None):
        v = []
        for row in t.rows:
            if row["system"] == system and (configs is None or row["config"] in configs):
                rt = t.ratio(row)
                if rt:
                    v.append((rt, row["config"]))
        return v

    if "produce" in T:
        v = ratios(T["produce"], "mock")
        if v:
            lo = min(v)
            gm = math.exp(sum(math.log(x) for x, _ in v) / len(v))
            out.append(("produce ≥ 1.0× mock cluster", "min %.2f× (%s%s), geometric mean %.2f× "
                        "over %d configs" % (lo[0], lo[1], cpu_note(T["produce"], lo[1]), gm, len(v)),
                        lo[0] >= 1.0))
            cpu = produce_cpu(T["produce"])
            if cpu:
                out.append(cpu)
        for sysname in ("redis (no persistence)", "redis (AOF everysec)"):
            v = ratios(T["produce"], sysname)
            if v:
                lo = min(v)
                out.append(("produce ≥ 3× %s XADD" % sysname, "min %.2f× (%s%s)"
                            % (lo[0], lo[1], cpu_note(T["produce"], lo[1], sysname)), lo[0] >= 3.0))
    if "idempotence" in T:
        t = T["idempotence"]
        v = ratios(t, "gregord (idempotent)")
        jv = ratios(t, RAW_GREGORD + " (idempotent)")
        if v:
            lo = min(v)
            cpu = [(t.value(c, "gregord (idempotent)", "srv_us") or 0) / (t.value(c, "gregord (plain)", "srv_us") or 1)
                   for _, c in v]
            mv = dict((c, x) for x, c in ratios(t, "mock (idempotent)"))
            mock = "; the mock cluster, same client: %.2f×" % mv[lo[1]] if lo[1] in mv else ""
            rk = ("librdkafka (one idempotent request per partition in flight): min %.2f× (%s%s); "
                  "broker CPU per record idempotent ÷ plain: %s"
                  % (lo[0], lo[1], mock, ", ".join("%.2f×" % x for x in cpu)))
            if jv:
                jlo = min(jv)
                out.append(("idempotent produce ≥ 0.95× plain (acks=all, same client)",
                            "Java-style client (5 requests in flight): min %.2f× (%s); %s"
                            % (jlo[0], jlo[1], rk), jlo[0] >= 0.95))
            else:
                out.append(("idempotent produce ≥ 0.95× plain (acks=all, same client)", rk, lo[0] >= 0.95))
    if "txn_produce" in T:
        v = ratios(T["txn_produce"], "gregord (transactional)")
        if v:
            lo = min(v)
            out.append(("transactional produce (commit every %d ms) ≥ 0.8× plain (acks=all)" % TXN_COMMIT_MS,
                        "min %.2f× (%s)" % (lo[0], lo[1]), lo[0] >= 0.8))
    if "txn_consume" in T:
        v = ratios(T["txn_consume"], "gregord (read_committed)")
        if v:
            out.append(("read_committed consume ≥ 0.9× read_uncommitted (%d %% aborted transactions)"
                        % TXN_ABORT_PCT, "%.2f×" % v[0][0], v[0][0] >= 0.9))
    if "kip848" in T:
        t = T["kip848"]
        gap = t.value("9 members + 1, 30 partitions", "gregord (consumer protocol)", "gap_ms")
        cgap = t.value("9 members + 1, 30 partitions", "gregord (classic protocol)", "gap_ms")
        if gap is not None:
            out.append(("consumer protocol: no pause of unaffected members beyond one heartbeat interval (5000 ms)",
                        "%.0f ms (classic protocol: %s)" % (gap, "%.0f ms" % cgap if cgap is not None else "n/a"),
                        gap <= 5000))
    if "consume" in T:
        for sysname in ("redis (no persistence)", "redis (AOF everysec)"):
            v = ratios(T["consume"], sysname)
            if v:
                out.append(("consume ≥ 2× %s XREADGROUP" % sysname, "%.2f×" % v[0][0],
                            v[0][0] >= 2.0))
    if "latency" in T:
        p50 = T["latency"].value("10,000 rec/s", "gregord", "p50_us")
        p99 = T["latency"].value("10,000 rec/s", "gregord", "p99_us")
        if p50 is not None:
            out.append(("e2e p50 ≤ 0.5 ms at 10k rec/s", "%.3f ms" % (p50 / 1000), p50 <= 500))
            out.append(("e2e p99 ≤ 2 ms at 10k rec/s", "%.3f ms" % (p99 / 1000), p99 <= 2000))
    if "commits" in T:
        # sync commits are bound by the round trip (see the table); the target is for async
        v = [T["commits"].value(commit_row(n, "async"), "gregord") for n in (1, 10)]
        what = "≥ 50,000 offset commits/s (async, %d in flight, 1 and 10 consumers)" % COMMIT_INFLIGHT
        if all(v):
            out.append((what, "%.0f/s and %.0f/s" % tuple(v), min(v) >= 50000))
        else:
            out.append((what, "n/a (commits failed)", False))
    if "scale" in T:
        out += scale_targets(T["scale"])
    if "observability" in T:
        t = T["observability"]
        for row in t.rows:
            if row["system"] == "gregord" and "scrape_ms" in row["res"]:
                v = row["res"]["scrape_ms"]
                out.append(("/metrics scrape of %s ≤ 100 ms" % row["config"].split(": ", 1)[-1],
                            "%.1f ms" % v, v <= 100))
        for rt, config in ratios(t, "gregord (scrape every 1 s)"):
            out.append(("produce with a scrape every second ≥ 0.97× without", "%.2f×" % rt, rt >= 0.97))
    if "groups" in T:
        v = T["groups"].value("subscribe → first record", "gregord")
        if v is not None:
            out.append(("subscribe → first record ≤ delay + 50 ms (%d ms)" % (REBALANCE_DELAY_MS + 50),
                        "%.0f ms" % v, v <= REBALANCE_DELAY_MS + 50))
    return out


def render(tables, extra, mode, elapsed):
    mc = extra["machine"]
    busy = extra["busy_before"]
    shared = busy > 10 or float(extra["load_before"][0]) > 0.5
    L = ["# gregor benchmarks", "",
         "Generated by `make bench` (bench/run.py); mode: **%s**, %.0f s. gregord and its peers ran "
         "one after another in the same run, on the same machine, driven by the same clients "
         "(bench/kbench.c on librdkafka for gregord and librdkafka's mock cluster, "
         "bench/redisbench.c on hiredis for Redis Streams). Absolute numbers are noisy; the ratios "
         "measured in one run are what count. *gregord advantage* is > 1 when gregord is better: "
         "gregord ÷ system for throughput, system ÷ gregord for latency and time." % (mode, elapsed),
         "", "## Machine", "",
         "| | |", "|---|---|",
         "| nproc | %s |" % mc["nproc"], "| CPU | %s |" % mc["cpu"], "| memory | %s |" % mc["memory"],
         "| kernel | %s |" % mc["kernel"], "| disk | %s |" % mc["disk"],
         "| load average before / after | %s / %s |" % (" ".join(extra["load_before"]),
                                                       " ".join(extra.get("load_after", ["?"]))),
         "| CPU busy in the second before the run | %.0f %% |" % busy,
         "| open files limit given to the servers | %s |" % (NOFILE or "unchanged"),
         "| shared during the run | %s |" % (
             "**yes**: other work was running on this machine (see load), so absolute figures "
             "are low and noisy" if shared else "no other load seen before the run"),
         ""]
    tg = targets(tables)
    if tg:
        L += ["## Targets", "", "| target | measured (this run) | result |", "|---|---|---|"]
        L += ["| %s | %s | %s |" % (n, v, "**met**" if ok else "**not met**") for n, v, ok in tg]
        L.append("")
    L += ["## Results", ""]
    if "gregord_empty_start_ms" in extra:
        L += ["gregord with an empty data dir accepted %.0f ms after exec." %
              extra["gregord_empty_start_ms"], ""]
    for t in tables:
        L.append(t.render())
    if "limits" in extra:
        L.append(extra["limits"].render().replace(
            "| gregord advantage (gregord ÷ system) |", "| (no ratio) |"))
    prof = os.path.join(HERE, "profile.md")
    if os.path.exists(prof):
        L += [open(prof).read().strip(), ""]
    L += ["## How to reproduce", "",
          "```sh",
          "make bench                 # full run (about 13 min on 2 cores): installs redis-server, "
          "libhiredis-dev, iperf3, librdkafka-dev if missing",
          "BENCH_QUICK=1 make bench   # every workload, small (≤ 1 min)",
          "/usr/bin/python3 bench/run.py --build build --out /tmp/b.md --json /tmp/b.json  "
          "# after make bench-bin",
          "```", "",
          "Servers are started by the harness on free 127.0.0.1 ports with data in "
          "build/bench/run.*/ (removed afterwards): gregord with offsets.topic.num.partitions=4, "
          "auto.create.topics.enable=false and otherwise its defaults; the mock cluster "
          "(build/bench/mockbroker, one broker, topics created at startup); redis-server twice "
          "(`--save '' --appendonly no`, and `--appendonly yes --appendfsync everysec`). Drop the "
          "page cache (root) for the cold-start figures; without permission the harness says so.",
          ""]
    return "\n".join(L)


if __name__ == "__main__":
    main()
