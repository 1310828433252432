"""Shared helpers for the integration suite: the Broker process wrapper,
small runners for kcat, the kafkajs scripts and the gregor CLI (whose stderr
is scanned for sanitizer reports, as the broker's log is), and `require`
for tests that need something of the machine (see conftest.py)."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GREGORD = os.path.abspath(os.environ.get("GREGORD", os.path.join(HERE, "../../build/gregord")))
# the CLI of the same build as the broker unless GREGOR names another
GREGOR = os.path.abspath(os.environ.get("GREGOR", os.path.join(os.path.dirname(GREGORD), "gregor")))
KCAT = os.environ.get("KCAT", "kcat")
NODE = os.environ.get("NODE", "node")
JS_DIR = os.path.join(HERE, "js")

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                     "runtime error:", "ThreadSanitizer", "MemorySanitizer")


def sanitizer_report(text):
    """The first sanitizer marker found in text, or None."""
    for m in SANITIZER_MARKERS:
        if m in text:
            return m
    return None


def require(ok, what):
    """A precondition of the machine (a package, a limit, a permission).
    Missing, the test is skipped, or fails when GREGOR_STRICT=1 (set by
    `make test`, which installs and raises everything the suite needs):
    there a skip would hide a test that never ran."""
    if ok:
        return
    if os.environ.get("GREGOR_STRICT") == "1":
        pytest.fail("precondition missing (GREGOR_STRICT=1): %s" % what)
    pytest.skip(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class BrokerDied(Exception):
    pass


class Broker:
    """One gregord process (restartable) with its data dir and log file."""

    def __init__(self, workdir, overrides=None, port=None):
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.data_dir = os.path.join(self.workdir, "data")
        self.port = port or free_port()
        self.bootstrap = "127.0.0.1:%d" % self.port
        # the HTTP listener (/metrics, /v3, the console) on a port of its own
        self.http_port = free_port()
        self.http = "http://127.0.0.1:%d" % self.http_port
        self.overrides = dict(overrides or {})
        self.log_path = os.path.join(self.workdir, "gregord.log")
        self.proc = None
        self.expected_exit = True     # False while the broker is meant to run
        self.problems = []            # bad exits seen by stop()
        self.starts = 0
        self.start_timeout = START_TIMEOUT   # until the listener accepts (recovery first)

    # -- lifecycle ------------------------------------------------------
    def argv(self):
        ov = {"listeners": "PLAINTEXT://" + self.bootstrap, "log.dirs": self.data_dir,
              "http.listeners": self.http}
        ov.update(self.overrides)
        argv = [GREGORD]
        for k, v in ov.items():
            argv += ["--override", "%s=%s" % (k, v)]
        return argv

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if not os.access(GREGORD, os.X_OK):
            pytest.fail("broker binary %s not found (build it with make)" % GREGORD)
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(("==== start #%d: %s\n" % (self.starts, " ".join(self.argv()))).encode())
            log.flush()
            env = dict(os.environ)
            env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
            env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.workdir, env=env)
        self.expected_exit = False
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.expected_exit = True
                raise BrokerDied("gregord exited with %s during startup:\n%s"
                                 % (self.proc.returncode, self.log_tail()))
            if port_open(self.port):
                return self
            time.sleep(0.05)
        self.stop(signal.SIGKILL)
        raise BrokerDied("gregord did not accept on %s within %.0fs:\n%s"
                         % (self.bootstrap, self.start_timeout, self.log_tail()))

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Stop by PID.  SIGTERM must lead to exit status 0 within timeout;
        otherwise the broker is killed and the problem recorded.  Returns the
        exit status."""
        if self.proc is None or self.proc.poll() is not None:
            self.expected_exit = True
            return None if self.proc is None else self.proc.returncode
        self.expected_exit = True
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(timeout=10)
            self.problems.append("gregord did not exit within %.0fs of signal %d" % (timeout, sig))
            return rc
        if sig == signal.SIGTERM and rc != 0:
            self.problems.append("gregord exited with status %s after SIGTERM" % rc)
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL)

    def restart(self, sig=signal.SIGTERM):
        self.stop(sig)
        return self.start()

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # -- inspection -----------------------------------------------------
    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    def health_problems(self):
        probs = list(self.problems)
        if self.proc is not None and not self.expected_exit and self.proc.poll() is not None:
            probs.append("gregord died unexpectedly with status %s" % self.proc.returncode)
            self.expected_exit = True
        m = sanitizer_report(self.log_text())
        if m:
            probs.append("sanitizer report in broker log (%r)" % m)
        return probs

    def partition_dir(self, topic, partition=0):
        return os.path.join(self.data_dir, "%s-%d" % (topic, partition))

    def segment_files(self, topic, partition=0, ext=".log"):
        d = self.partition_dir(topic, partition)
        if not os.path.isdir(d):
            return []
        return sorted(f for f in os.listdir(d) if f.endswith(ext))


_LIVE = []


def _make_broker(workdir, overrides):
    b = Broker(workdir, overrides)
    _LIVE.append(b)
    try:
        b.start()
    except BrokerDied as e:
        pytest.fail(str(e))
    return b


def _teardown(b):
    b.stop(signal.SIGTERM)
    if b in _LIVE:
        _LIVE.remove(b)
    return b.health_problems()


# ------------------------------------------------------------------ helpers

def kcat(broker, *args, input=None, timeout=30, check=True):
    """Run kcat against broker; returns CompletedProcess with text output."""
    argv = [KCAT, "-b", broker.bootstrap, "-X", "socket.timeout.ms=10000",
            "-X", "topic.metadata.refresh.interval.ms=1000"] + list(args)
    try:
        cp = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail("kcat timed out after %ss: %s\nstderr: %s" % (timeout, argv, e.stderr))
    if check and cp.returncode != 0:
        pytest.fail("kcat %s failed (%d):\n%s" % (args, cp.returncode, cp.stderr))
    return cp


def run_gregor(args, input=None, timeout=60, env=None, check=False, binary=False):
    """Run the gregor CLI (GREGOR) with args; returns the CompletedProcess
    (text; bytes with binary=True, where args may be bytes).  Fails the
    test on a timeout and on a sanitizer report in its stderr (leaks
    included): a report exits with status 1, which a test of an error path
    would otherwise take for the expected failure."""
    if binary:
        argv = [os.fsencode(GREGOR)] + [a if isinstance(a, bytes) else os.fsencode(str(a)) for a in args]
    else:
        argv = [GREGOR] + [str(a) for a in args]
    if not os.access(GREGOR, os.X_OK):
        pytest.fail("gregor binary %s not found (build it with make)" % GREGOR)
    e = dict(os.environ, **(env or {}))
    e.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    try:
        cp = subprocess.run(argv, input=input, capture_output=True, text=not binary, timeout=timeout, env=e)
    except subprocess.TimeoutExpired as ex:
        pytest.fail("gregor %s timed out after %ss; stderr: %s" % (args, timeout, ex.stderr))
    err = cp.stderr.decode("utf-8", "replace") if binary else cp.stderr
    m = sanitizer_report(err)
    if m:
        pytest.fail("sanitizer report (%r) from gregor %s (exit status %d):\n%s"
                    % (m, " ".join(map(str, argv[1:])), cp.returncode, err[-6000:]))
    if check and cp.returncode != 0:
        pytest.fail("gregor %s failed (%d):\nstdout: %s\nstderr: %s"
                    % (args, cp.returncode, cp.stdout, cp.stderr))
    return cp


def kcat_metadata(broker, topic=None, timeout=20):
    args = ["-L", "-J"] + (["-t", topic] if topic else [])
    cp = kcat(broker, *args, timeout=timeout)
    return json.loads(cp.stdout)


def node_script(script, payload, timeout=60):
    """Run tests/integ/js/<script> with a JSON payload argument; the script
    prints one JSON object on its last stdout line."""
    argv = [NODE, os.path.join(JS_DIR, script), json.dumps(payload)]
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=JS_DIR)
    except subprocess.TimeoutExpired as e:
        pytest.fail("node %s timed out after %ss\nstderr: %s" % (script, timeout, e.stderr))
    lines = [l for l in cp.stdout.splitlines() if l.strip()]
    if cp.returncode != 0 or not lines:
        pytest.fail("node %s failed (%d):\nstdout: %s\nstderr: %s"
                    % (script, cp.returncode, cp.stdout, cp.stderr))
    return json.loads(lines[-1])


def wait_until(pred, timeout=10.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    pytest.fail("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))
