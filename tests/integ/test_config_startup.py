"""Startup configuration: server.properties files and --override, errors that
stop startup (one line naming the key), broker.id alias, and the cluster id
kept across restarts."""
import os
import subprocess
import time

import pytest

import ck
import kproto as kp
from helpers import GREGORD, _LIVE, Broker, _teardown, free_port, kcat, kcat_metadata, sanitizer_report


class FileBroker(Broker):
    """A broker started as `gregord <file> [--override k=v]...`."""

    def __init__(self, workdir, props, overrides=None):
        super().__init__(workdir)
        self.props_path = os.path.join(self.workdir, "server.properties")
        self.file_overrides = dict(overrides or {})
        text = props.format(listener="PLAINTEXT://" + self.bootstrap, data=self.data_dir)
        with open(self.props_path, "w") as f:
            f.write(text)

    def argv(self):
        argv = [GREGORD, self.props_path]
        if "http.listeners" not in self.file_overrides:
            argv += ["--override", "http.listeners=" + self.http]
        for k, v in self.file_overrides.items():
            argv += ["--override", "%s=%s" % (k, v)]
        return argv


@pytest.fixture
def file_broker(tmp_path):
    made = []

    def make(props, overrides=None):
        b = FileBroker(tmp_path / ("fb%d" % len(made)), props, overrides)
        made.append(b)
        _LIVE.append(b)
        b.start()
        return b

    yield make
    probs = []
    for b in made:
        probs += _teardown(b)
    if probs:
        pytest.fail("broker: %s\n%s" % ("; ".join(probs), "\n".join(b.log_tail() for b in made)))


def run_bad(tmp_path, args, props=None):
    """Start gregord with a bad configuration: it must exit with status 1
    within a few seconds, without a sanitizer report.  Returns (non-empty
    output lines, data dir)."""
    data = str(tmp_path / "data")
    argv = [GREGORD]
    if props is not None:
        path = tmp_path / "server.properties"
        path.write_text(props.format(listener="PLAINTEXT://127.0.0.1:%d" % free_port(), data=data))
        argv.append(str(path))
    else:
        argv += ["--override", "listeners=PLAINTEXT://127.0.0.1:%d" % free_port(),
                 "--override", "log.dirs=" + data]
    argv += args
    t0 = time.monotonic()
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=str(tmp_path), env=SAN_ENV)
    except subprocess.TimeoutExpired:
        pytest.fail("gregord with a bad configuration still running after 10s: %s" % argv)
    assert time.monotonic() - t0 < 3, "took %.1fs to refuse the configuration" % (time.monotonic() - t0)
    assert not sanitizer_report(cp.stdout + cp.stderr), cp.stdout + cp.stderr
    assert cp.returncode == 1, "gregord exited with %d for %s:\n%s%s" % (cp.returncode, argv, cp.stdout, cp.stderr)
    lines = [l for l in (cp.stdout + cp.stderr).splitlines() if l.strip()]
    return lines, data


SAN_ENV = dict(os.environ, ASAN_OPTIONS="abort_on_error=0:detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1")


BASE_PROPS = "listeners={listener}\nlog.dirs={data}\n"

INT_RANGE = "must be an integer in [%d, %d]"
BAD = [
    # (file contents or None, extra args, key the error must name, the rest of the error)
    (BASE_PROPS + "bogus.key=1\n", [], "bogus.key", "Unknown configuration bogus.key"),
    (BASE_PROPS + "num.partitions=abc\n", [], "num.partitions",
     "Invalid value abc for configuration num.partitions: " + INT_RANGE % (1, 100000)),
    (None, ["--override", "no.such.setting=5"], "no.such.setting", "Unknown configuration no.such.setting"),
    (None, ["--override", "num.partitions=abc"], "num.partitions",
     "Invalid value abc for configuration num.partitions: " + INT_RANGE % (1, 100000)),
    (None, ["--override", "num.partitions=0"], "num.partitions",
     "Invalid value 0 for configuration num.partitions: " + INT_RANGE % (1, 100000)),
    (None, ["--override", "log.message.timestamp.type=Bogus"], "log.message.timestamp.type",
     "Invalid value Bogus for configuration log.message.timestamp.type: String must be one of: "
     "CreateTime,LogAppendTime"),
    (None, ["--override", "auto.create.topics.enable=maybe"], "auto.create.topics.enable",
     "Invalid value maybe for configuration auto.create.topics.enable: Expected value to be either true or false"),
    (None, ["--override", "log.segment.bytes=10"], "log.segment.bytes",
     "Invalid value 10 for configuration log.segment.bytes: " + INT_RANGE % (1048576, 2147483647)),
    (None, ["--override", "log.retention.ms=12x"], "log.retention.ms",
     "Invalid value 12x for configuration log.retention.ms: " + INT_RANGE % (-1, 2 ** 63 - 1)),
    (BASE_PROPS, ["--override", "message.max.bytes=-5"], "message.max.bytes",
     "Invalid value -5 for configuration message.max.bytes: " + INT_RANGE % (0, 2 ** 31 - 1)),
    # topic-level names are not broker keys
    (None, ["--override", "retention.ms=1000"], "retention.ms", "Unknown configuration retention.ms"),
]


@pytest.mark.parametrize("props,args,key,msg", BAD, ids=[b[2] + ("-file" if b[0] and not b[1] else "")
                                                         for b in BAD])
def test_bad_config_exits_with_one_line(tmp_path, props, args, key, msg):
    lines, data = run_bad(tmp_path, args, props)
    assert lines == ["gregord: " + msg], lines
    assert key in msg
    assert not os.path.exists(data), "data dir created despite the bad configuration"


def test_http_port_taken_exits_naming_the_key(tmp_path):
    """A second broker whose HTTP listener's port is taken (the default one
    of a broker already running) stops at once and says which key moves it;
    with http.listeners empty it starts."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        lines, _ = run_bad(tmp_path, ["--override", "http.listeners=http://127.0.0.1:%d" % port])
        err = [l for l in lines if "ERROR" in l]
        assert len(err) == 1 and "Cannot listen on http://127.0.0.1:%d" % port in err[0], lines
        assert "http.listeners" in err[0], err
    argv = [GREGORD, "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % free_port(),
            "--override", "log.dirs=" + str(tmp_path / "data2"), "--override", "http.listeners="]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(tmp_path),
                         env=SAN_ENV)
    try:
        out = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            assert line, "gregord exited: %s" % "".join(out)
            out.append(line)
            if "started" in line:
                break
        assert any("started" in l for l in out), out
        assert not any("HTTP listener" in l for l in out), out
    finally:
        p.terminate()
        rest, _ = p.communicate(timeout=30)
    out.append(rest)
    assert p.returncode == 0, "".join(out)
    assert "shut down completed" in rest and not sanitizer_report("".join(out)), "".join(out)


def test_properties_file_honoured(file_broker):
    props = ("# gregord test configuration\n"
             "! a Java-properties comment\n"
             "\n"
             "listeners={listener}\n"
             "log.dirs={data}\n"
             "num.partitions=4\n"
             "auto.create.topics.enable=true\n"
             "internal.log.segment.bytes = 2048\n")
    b = file_broker(props)
    assert b.bootstrap in [x["name"] for x in kcat_metadata(b)["brokers"]]
    kcat(b, "-P", "-t", "file-auto", "-p", "0", input="a\n")
    md = ck.admin(b).list_topics(topic="file-auto", timeout=10)
    assert sorted(md.topics["file-auto"].partitions) == [0, 1, 2, 3]
    for p in range(4):
        assert os.path.isdir(b.partition_dir("file-auto", p))
    assert os.path.exists(os.path.join(b.data_dir, "meta.properties"))
    # internal.log.segment.bytes from the file (spaces around '=') is in force
    ck.produce(b, "file-auto", [{"value": b"x" * 500} for _ in range(12)], linger_ms=0,
               batch_num_messages=1)
    assert len(b.segment_files("file-auto")) > 1, b.segment_files("file-auto")


SYNTAX = {
    "colon": "num.partitions: 3\n",
    "whitespace": "num.partitions 3\n",
    "spaces": "   num.partitions   =   3   \n",
    "crlf": "# windows\r\nnum.partitions=3\r\nauto.create.topics.enable=true\r\n",
    "continuation": "num.partitions=\\\n    3\n",
    "last-wins": "num.partitions=8\nnum.partitions=3\n",
}


@pytest.mark.parametrize("variant", sorted(SYNTAX))
def test_properties_syntax(file_broker, variant):
    b = file_broker(BASE_PROPS.replace("\n", "\r\n" if variant == "crlf" else "\n") + SYNTAX[variant])
    kcat(b, "-P", "-t", "syn", "-p", "0", input="a\n")
    md = ck.admin(b).list_topics(topic="syn", timeout=10)
    assert sorted(md.topics["syn"].partitions) == [0, 1, 2]


def test_properties_error_names_line(tmp_path):
    lines, _ = run_bad(tmp_path, [], BASE_PROPS + "\n# comment\n\nnum.partitions\n")
    assert len(lines) == 1 and "line 6" in lines[0], lines


def test_override_beats_file(file_broker):
    b = file_broker(BASE_PROPS + "num.partitions=4\n", {"num.partitions": "2"})
    kcat(b, "-P", "-t", "ovr-auto", "-p", "0", input="a\n")
    md = ck.admin(b).list_topics(topic="ovr-auto", timeout=10)
    assert sorted(md.topics["ovr-auto"].partitions) == [0, 1]


def describe_cluster(bootstrap):
    body = b"\x00" + kp.TAGS0                    # IncludeClusterAuthorizedOperations=false
    payload = kp.roundtrip(bootstrap, kp.request(60, 0, 9, body, flexible=True))
    r = kp.Reader(payload)
    assert r.i32() == 9
    r.tags()
    r.i32()                                      # throttle
    err = r.i16()
    r.compact_string()                           # error message
    cluster_id = r.compact_string()
    controller = r.i32()
    brokers = []
    for _ in range(r.uvarint() - 1):
        bid, host, port = r.i32(), r.compact_string(), r.i32()
        r.compact_string()
        r.tags()
        brokers.append((bid, host, port))
    return err, cluster_id, controller, brokers


@pytest.mark.parametrize("how", ["override", "file"])
def test_broker_id_alias(file_broker, broker_factory, how):
    if how == "override":
        b = broker_factory({"broker.id": 7})
    else:
        b = file_broker(BASE_PROPS + "broker.id=7\n")
    md = kcat_metadata(b)
    assert [x["id"] for x in md["brokers"]] == [7], md
    assert md["controllerid"] == 7, md
    err, _, controller, brokers = describe_cluster(b.bootstrap)
    assert err == 0 and controller == 7 and brokers == [(7, "127.0.0.1", b.port)], brokers
    ck.create_topic(b, "id7")
    md = ck.admin(b).list_topics(topic="id7", timeout=10)
    assert md.topics["id7"].partitions[0].leader == 7
    with open(os.path.join(b.data_dir, "meta.properties")) as f:
        assert "node.id=7" in f.read().splitlines()


def test_cluster_id_stable_across_restarts(broker_factory):
    b = broker_factory(num_partitions=1)
    err, cid, _, _ = describe_cluster(b.bootstrap)
    assert err == 0 and cid and len(cid) >= 16, cid
    assert ck.admin(b).list_topics(timeout=10).cluster_id == cid
    with open(os.path.join(b.data_dir, "meta.properties")) as f:
        assert "cluster.id=%s" % cid in f.read().splitlines()
    b.restart()
    assert describe_cluster(b.bootstrap)[1] == cid
    b.restart(sig=9)                                 # after a crash as well
    assert describe_cluster(b.bootstrap)[1] == cid
    # a different data dir is a different cluster
    other = broker_factory(num_partitions=1)
    assert describe_cluster(other.bootstrap)[1] not in (None, "", cid)
