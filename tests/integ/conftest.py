"""Fixtures for the integration suite: a real gregord on a free loopback port
in a temporary directory, plus helpers to drive kcat and the kafkajs scripts.

* `broker` (module scope) is shared by the tests of one file; a module may set
  `BROKER_OVERRIDES = {"key": "value"}` to start it with extra --override keys.
* `broker_factory` (function scope) starts brokers with per-test overrides and
  a fresh data dir; for durability tests that stop, kill and restart.
* After every test each running broker is checked: a broker that exited
  without being asked to, or whose log shows an AddressSanitizer / UBSan /
  LeakSanitizer report, fails the test.
* Brokers are stopped by PID at teardown.  Every wait is bounded; all traffic
  goes to 127.0.0.1.
"""
import os
import shutil
import subprocess

import pytest

from helpers import _LIVE, _make_broker, _teardown, require

GO_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "go")
GO_BUILD_TIMEOUT = 300


@pytest.fixture(scope="module")
def broker(request, tmp_path_factory):
    overrides = getattr(request.module, "BROKER_OVERRIDES", {})
    b = _make_broker(tmp_path_factory.mktemp("gregord"), overrides)
    yield b
    probs = _teardown(b)
    if probs:
        pytest.fail("broker at module teardown: %s\n--- log tail ---\n%s"
                    % ("; ".join(probs), b.log_tail()))


@pytest.fixture
def broker_factory(tmp_path):
    made = []

    def make(overrides=None, **kw):
        """make(log_retention_bytes=1024) or make({"log.retention.bytes": 1024})."""
        ov = {k.replace("_", "."): str(v) for k, v in kw.items()}
        ov.update({k: str(v) for k, v in (overrides or {}).items()})
        b = _make_broker(tmp_path / ("b%d" % len(made)), ov)
        made.append(b)
        return b

    yield make
    probs = []
    for b in made:
        probs += _teardown(b)
    if probs:
        pytest.fail("broker: %s\n--- log tail ---\n%s"
                    % ("; ".join(probs), "\n".join(b.log_tail() for b in made)))


@pytest.fixture(autouse=True)
def _broker_health():
    """Fail the test if any running broker died or reported a sanitizer error."""
    yield
    probs = []
    for b in list(_LIVE):
        for p in b.health_problems():
            probs.append("%s: %s" % (b.bootstrap, p))
        b.problems.clear()
    if probs:
        pytest.fail("; ".join(probs) + "\n--- log tail ---\n"
                    + "\n".join(b.log_tail(40) for b in _LIVE))


@pytest.fixture(scope="session")
def go_clients(tmp_path_factory):
    """The Go test programs of tests/integ/go (kafka-go 0.2.1 and sarama
    1.22.1 from Debian's packages), built once per run into a temp dir with
    Debian's Go in GOPATH mode: nothing is downloaded.  -> {name: path}."""
    go = shutil.which("go")
    require(go is not None, "Debian's golang-go (tools/deps.sh test)")
    gopath = "/usr/share/gocode"
    for pkg in ("github.com/segmentio/kafka-go", "github.com/Shopify/sarama"):
        require(os.path.isdir(os.path.join(gopath, "src", pkg)), "Debian's Go package for %s" % pkg)
    out = tmp_path_factory.mktemp("go")
    env = dict(os.environ, GO111MODULE="off", GOPATH=gopath, GOCACHE=str(out / "cache"),
               GOFLAGS="", CGO_ENABLED="1")
    bins = {}
    for name in ("kafkago", "sarama"):
        dst = str(out / name)
        cp = subprocess.run([go, "build", "-o", dst, "."], cwd=os.path.join(GO_SRC, name), env=env,
                            capture_output=True, text=True, timeout=GO_BUILD_TIMEOUT)
        assert cp.returncode == 0, "go build %s:\n%s" % (name, cp.stderr[-3000:])
        bins[name] = dst
    return bins
