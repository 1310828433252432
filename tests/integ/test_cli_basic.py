"""The gregor CLI (build/gregor): topics, console-producer, console-consumer
and get-offsets, checked against Kafka's option names, messages and output
formats.

The data-path tests run twice: against gregord and against librdkafka's mock
cluster (bench/mockbroker.c, compiled here with cc), to show the tool is a
plain Kafka client and not tied to gregord.  The mock serves Metadata,
Produce, Fetch, ListOffsets (-1/-2 only) and groups, but not CreateTopics or
DescribeConfigs, so its topics are created when it starts and the admin
tests run on gregord only.
"""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from helpers import HERE, require, run_gregor
import kproto as kp

ROOT = os.path.abspath(os.path.join(HERE, "../.."))

BROKER_OVERRIDES = {"group.initial.rebalance.delay.ms": "0", "auto.create.topics.enable": "false"}

# topics the data-path tests use: name -> partitions (made by the cluster fixture)
TOPICS = {"cli-rt": 1, "cli-go": 3, "cli-off": 1}
DEAD = "127.0.0.1:1"   # nothing listens on port 1


def gregor(*args, input=None, timeout=60, check=False):
    return run_gregor(args, input=input, timeout=timeout, check=check)


def err_lines(cp):
    return [l for l in cp.stderr.splitlines() if l.strip()]


# ------------------------------------------------------------------ clusters

@pytest.fixture(scope="module")
def mock_bootstrap(tmp_path_factory):
    cc = shutil.which("cc")
    require(cc, "no C compiler for the mock cluster")
    d = tmp_path_factory.mktemp("mock")
    exe = str(d / "mockbroker")
    b = subprocess.run([cc, "-O1", "-I", os.path.join(ROOT, "bench"), os.path.join(ROOT, "bench/mockbroker.c"),
                        "-o", exe, "-lrdkafka"], capture_output=True, text=True)
    require(b.returncode == 0, "cannot build bench/mockbroker.c: %s" % b.stderr)
    proc = subprocess.Popen([exe] + ["%s:%d" % kv for kv in TOPICS.items()], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("bootstrap="):
        proc.kill()
        pytest.fail("mockbroker did not start: %r" % line)
    yield line.split("=", 1)[1]
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def gregord_bootstrap(broker):
    for name, parts in TOPICS.items():
        gregor("topics", "--bootstrap-server", broker.bootstrap, "--create", "--topic", name,
               "--partitions", parts, check=True)
    return broker.bootstrap


@pytest.fixture(params=["gregord", "mock"])
def cluster(request):
    """(kind, bootstrap) of a cluster that has the TOPICS."""
    if request.param == "gregord":
        return "gregord", request.getfixturevalue("gregord_bootstrap")
    return "mock", request.getfixturevalue("mock_bootstrap")


def produce(bs, topic, lines, *extra):
    return gregor("console-producer", "--bootstrap-server", bs, "--topic", topic, *extra,
                  input="".join(l + "\n" for l in lines), check=True)


def consume(bs, *args, timeout=60):
    return gregor("console-consumer", "--bootstrap-server", bs, *args, timeout=timeout)


def offsets(bs, *args):
    cp = gregor("get-offsets", "--bootstrap-server", bs, *args, check=True)
    return cp.stdout.splitlines()


def end_offsets(bs, topic):
    return {int(l.split(":")[1]): int(l.split(":")[2]) for l in offsets(bs, "--topic", topic)}


# ------------------------------------------------------------------ help

@pytest.mark.parametrize("cmd", ["topics", "console-producer", "console-consumer", "get-offsets"])
def test_help(cmd):
    cp = gregor(cmd, "--help", check=True)
    assert cp.stdout.startswith("Usage: gregor %s" % cmd)
    assert "--bootstrap-server" in cp.stdout
    cp = gregor(cmd)                           # no arguments: usage on stderr, failure
    assert (cp.returncode, cp.stdout) == (1, "")
    assert cp.stderr.startswith("Usage: gregor %s" % cmd), cp.stderr


# ------------------------------------------------------------------ topics

def test_topics_create_describe_alter_delete(broker):
    bs = broker.bootstrap
    cp = gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "cli-t1", "--partitions", "3",
                "--replication-factor", "1", "--config", "retention.ms=86400000",
                "--config", "cleanup.policy=compact", check=True)
    assert cp.stdout == "Created topic cli-t1.\n"

    cp = gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "cli-t1")
    assert cp.returncode == 1
    assert err_lines(cp) == ["Error while executing topic command : Topic 'cli-t1' already exists."]
    cp = gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "cli-t1", "--if-not-exists")
    assert (cp.returncode, cp.stdout, cp.stderr) == (0, "", "")

    # golden --describe (Kafka 3.7 layout; no TopicId column, see cli/topics.c)
    cp = gregor("topics", "--bootstrap-server", bs, "--describe", "--topic", "cli-t1", check=True)
    assert cp.stdout == (
        "Topic: cli-t1\tPartitionCount: 3\tReplicationFactor: 1\t"
        "Configs: cleanup.policy=compact,retention.ms=86400000\n"
        "\tTopic: cli-t1\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n"
        "\tTopic: cli-t1\tPartition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\n"
        "\tTopic: cli-t1\tPartition: 2\tLeader: 0\tReplicas: 0\tIsr: 0\n")

    cp = gregor("topics", "--bootstrap-server", bs, "--alter", "--topic", "cli-t1", "--partitions", "4",
                check=True)
    assert cp.stdout == ""
    cp = gregor("topics", "--bootstrap-server", bs, "--describe", "--topic", "cli-t1", check=True)
    assert cp.stdout.splitlines()[0].startswith("Topic: cli-t1\tPartitionCount: 4\tReplicationFactor: 1\t")
    assert cp.stdout.splitlines()[4] == "\tTopic: cli-t1\tPartition: 3\tLeader: 0\tReplicas: 0\tIsr: 0"
    cp = gregor("topics", "--bootstrap-server", bs, "--alter", "--topic", "cli-t1", "--partitions", "2")
    assert cp.returncode == 1 and len(err_lines(cp)) == 1
    assert err_lines(cp)[0].startswith("Error while executing topic command : ")

    cp = gregor("topics", "--bootstrap-server", bs, "--delete", "--topic", "cli-t1", check=True)
    assert cp.stdout == ""
    deadline = time.monotonic() + 10
    while "cli-t1" in gregor("topics", "--bootstrap-server", bs, "--list", check=True).stdout.split():
        assert time.monotonic() < deadline, "deleted topic still listed"
        time.sleep(0.2)


def test_topics_list_regex_and_internal(broker):
    bs = broker.bootstrap
    for t in ("cli-r1", "cli-r2", "cli-rx"):
        gregor("topics", "--bootstrap-server", bs, "--create", "--topic", t, "--partitions", "1", check=True)
    names = gregor("topics", "--bootstrap-server", bs, "--list", check=True).stdout.splitlines()
    assert names == sorted(names)
    assert {"cli-r1", "cli-r2", "cli-rx", "__consumer_offsets"} <= set(names)
    names = gregor("topics", "--bootstrap-server", bs, "--list", "--exclude-internal", check=True).stdout
    assert "__consumer_offsets" not in names.split()
    # --topic is a regex on the whole name; ',' separates alternatives
    out = gregor("topics", "--bootstrap-server", bs, "--list", "--topic", "cli-r[0-9]", check=True).stdout
    assert out == "cli-r1\ncli-r2\n"
    out = gregor("topics", "--bootstrap-server", bs, "--list", "--topic", "cli-r1,cli-rx", check=True).stdout
    assert out == "cli-r1\ncli-rx\n"
    out = gregor("topics", "--bootstrap-server", bs, "--list", "--topic", "cli-r", check=True).stdout
    assert out == "\n"      # Kafka prints an empty line when nothing matches
    out = gregor("topics", "--bootstrap-server", bs, "--describe", "--topic", "cli-r[12]", check=True).stdout
    assert [l.split("\t")[0] for l in out.splitlines() if l.startswith("Topic:")] == \
        ["Topic: cli-r1", "Topic: cli-r2"]
    cp = gregor("topics", "--bootstrap-server", bs, "--delete", "--topic", "cli-r[12]", check=True)
    deadline = time.monotonic() + 10
    while gregor("topics", "--bootstrap-server", bs, "--list", "--topic", "cli-r[12]", check=True).stdout != "\n":
        assert time.monotonic() < deadline, "deleted topics still listed"
        time.sleep(0.2)
    # gone: deleting them again is an error, as in Kafka
    cp = gregor("topics", "--bootstrap-server", bs, "--delete", "--topic", "cli-r[12]")
    assert cp.returncode == 1
    assert err_lines(cp) == ["Error while executing topic command : Topic 'cli-r[12]' does not exist as expected"]


def test_topics_unknown_topic(broker):
    bs = broker.bootstrap
    for action in ("--describe", "--delete"):
        cp = gregor("topics", "--bootstrap-server", bs, action, "--topic", "cli-nope")
        assert cp.returncode == 1
        assert err_lines(cp) == ["Error while executing topic command : Topic 'cli-nope' does not exist as expected"]
        cp = gregor("topics", "--bootstrap-server", bs, action, "--topic", "cli-nope", "--if-exists")
        assert (cp.returncode, cp.stdout, cp.stderr) == (0, "", "")
    cp = gregor("topics", "--bootstrap-server", bs, "--alter", "--topic", "cli-nope", "--partitions", "2")
    assert err_lines(cp) == ["Error while executing topic command : Topic 'cli-nope' does not exist as expected"]


@pytest.mark.parametrize("args,msg", [
    (["--list", "--describe"],
     "Command must include exactly one action: --list, --describe, --create, --alter or --delete"),
    ([], "Command must include exactly one action: --list, --describe, --create, --alter or --delete"),
    (["--describe", "--partitions", "3"], 'Option "[partitions]" can\'t be used with option "[describe]"'),
    (["--list", "--if-not-exists"], 'Option "[if-not-exists]" can\'t be used with option "[list]"'),
    (["--create", "--topic", "x", "--if-exists"], 'Option "[if-exists]" can\'t be used with option "[create]"'),
    (["--alter", "--topic", "x"], 'Missing required argument "[partitions]"'),
    (["--create", "--partitions", "1"], 'Missing required argument "[topic]"'),
    (["--delete", "--topic", "x", "--replication-factor", "1"],
     'Option "[replication-factor]" can\'t be used with option "[delete]"'),
])
def test_topics_usage_errors(args, msg):
    cp = gregor("topics", "--bootstrap-server", DEAD, *args)
    assert cp.returncode == 1
    assert err_lines(cp) == ["Error: " + msg]


def test_topics_create_validation(broker):
    bs = broker.bootstrap
    cp = gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "cli-v", "--partitions", "0")
    assert err_lines(cp) == ["Error while executing topic command : The partitions must be greater than 0"]
    cp = gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "cli-v", "--replication-factor", "0")
    assert err_lines(cp) == ["Error while executing topic command : "
                             "The replication factor must be between 1 and 32767 inclusive"]
    cp = gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "cli-v", "--config", "retention.ms")
    assert err_lines(cp) == ["Error while executing topic command : requirement failed: Invalid topic config: "
                             "all configs to be added must be in the format \"key=val\"."]
    cp = gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "cli_v.x", "--partitions", "1",
                check=True)
    assert cp.stdout == ("WARNING: Due to limitations in metric names, topics with a period ('.') or underscore "
                         "('_') could collide. To avoid issues it is best to use either, but not both.\n"
                         "Created topic cli_v.x.\n")


def test_topics_on_mock_cluster(mock_bootstrap):
    out = gregor("topics", "--bootstrap-server", mock_bootstrap, "--list", check=True).stdout.split()
    assert set(TOPICS) <= set(out)
    # the mock serves neither DescribeConfigs nor CreateTopics: one clean error line
    for args in (["--describe", "--topic", "cli-rt"], ["--create", "--topic", "cli-new"]):
        cp = gregor("topics", "--bootstrap-server", mock_bootstrap, "--timeout", "2000", *args)
        assert cp.returncode == 1 and len(err_lines(cp)) == 1, cp.stderr
        assert err_lines(cp)[0].startswith("Error while executing topic command : ")


# ------------------------------------------------------------------ unreachable broker

@pytest.mark.parametrize("argv,limit", [
    (["topics", "--list", "--timeout", "2000"], 10),
    (["topics", "--create", "--topic", "x", "--timeout", "2000"], 10),
    (["get-offsets", "--timeout", "2000"], 10),
    (["console-producer", "--topic", "x", "--max-block-ms", "2000"], 15),
    (["console-consumer", "--topic", "x", "--timeout-ms", "2000"], 15),
])
def test_unreachable_broker(argv, limit):
    t0 = time.monotonic()
    cp = gregor(argv[0], "--bootstrap-server", DEAD, *argv[1:], input="a\n", timeout=60)
    took = time.monotonic() - t0
    assert cp.returncode == 1
    assert took < limit, took
    lines = err_lines(cp)
    if argv[0] == "console-consumer":
        assert lines[-1] == "Processed a total of 0 messages"
        lines = lines[:-1]
    assert len(lines) == 1, cp.stderr
    assert DEAD in lines[0] or "Message timed out" in lines[0], lines


# ------------------------------------------------------------------ produce / consume

TS = re.compile(r"^CreateTime:(\d{13})\t")


def test_roundtrip_keys_headers(cluster):
    kind, bs = cluster
    before = end_offsets(bs, "cli-rt")[0]
    lines = ["h1:v1,h2:v2\tk1\tvalue one", "trace:abc\tk2\tvalue\ttwo", "h3:NULL\tNULL\tv3",
             "NULL\tk4\tNULL", "e:\t\t"]
    t0 = int(time.time() * 1000)
    produce(bs, "cli-rt", lines, "--property", "parse.key=true", "--property", "parse.headers=true",
            "--property", "null.marker=NULL")
    cp = consume(bs, "--topic", "cli-rt", "--partition", "0", "--offset", str(before), "--max-messages", "5",
                 "--property", "print.timestamp=true", "--property", "print.key=true",
                 "--property", "print.headers=true", "--property", "print.partition=true",
                 "--property", "print.offset=true")
    assert cp.returncode == 0, cp.stderr
    out = cp.stdout.splitlines()
    for l in out:
        m = TS.match(l)
        assert m and t0 - 5000 <= int(m.group(1)) <= t0 + 60000, l
    got = [TS.sub("CreateTime:<ts>\t", l) for l in out]
    o = before
    assert got == [
        "CreateTime:<ts>\tPartition:0\tOffset:%d\th1:v1,h2:v2\tk1\tvalue one" % o,
        "CreateTime:<ts>\tPartition:0\tOffset:%d\ttrace:abc\tk2\tvalue\ttwo" % (o + 1),
        "CreateTime:<ts>\tPartition:0\tOffset:%d\th3:null\tnull\tv3" % (o + 2),
        "CreateTime:<ts>\tPartition:0\tOffset:%d\tNO_HEADERS\tk4\tnull" % (o + 3),
        "CreateTime:<ts>\tPartition:0\tOffset:%d\te:\t\t" % (o + 4),
    ]
    assert err_lines(cp) == ["Processed a total of 5 messages"]

    # formatter separators and null literal; value only by default
    cp = consume(bs, "--topic", "cli-rt", "--partition", "0", "--offset", str(before), "--max-messages", "4",
                 "--formatter-property", "print.key=true", "--formatter-property", "key.separator= | ",
                 "--formatter-property", "line.separator=;", "--formatter-property", "null.literal=<nil>")
    assert cp.stdout == "k1 | value one;k2 | value\ttwo;<nil> | v3;k4 | <nil>;"
    cp = consume(bs, "--topic", "cli-rt", "--partition", "0", "--offset", str(before + 1), "--max-messages", "1")
    assert cp.stdout == "value\ttwo\n"


def test_consumer_from_beginning_and_timeout(cluster):
    kind, bs = cluster
    n = sum(end_offsets(bs, "cli-go").values())
    produce(bs, "cli-go", ["m%d" % i for i in range(6)])
    # subscribe with a random console-consumer-<n> group; exits after --timeout-ms without records
    cp = consume(bs, "--topic", "cli-go", "--from-beginning", "--timeout-ms", "6000", timeout=90)
    assert cp.returncode == 0, cp.stderr
    assert sorted(cp.stdout.splitlines())[-6:] == ["m%d" % i for i in range(6)]
    assert len(cp.stdout.splitlines()) == n + 6
    lines = err_lines(cp)
    assert re.match(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] ERROR Error processing message, terminating "
                    r"consumer process:  \(kafka\.tools\.ConsoleConsumer\$\)$", lines[0]), lines
    assert lines[1:] == ["org.apache.kafka.common.errors.TimeoutException",
                         "Processed a total of %d messages" % (n + 6)]


def test_consumer_group_commits(cluster):
    kind, bs = cluster
    group = "cli-g-%d" % int(time.time() * 1000)
    # the mock coordinator lets a new member join only after the previous
    # member's session expired, even after a LeaveGroup: keep sessions short
    extra = ["--consumer-property", "session.timeout.ms=6000"] if kind == "mock" else []
    wait = "15000" if kind == "mock" else "5000"
    produce(bs, "cli-rt", ["g%d" % i for i in range(4)])
    total = end_offsets(bs, "cli-rt")[0]
    cp = consume(bs, "--topic", "cli-rt", "--group", group, "--from-beginning", "--max-messages", "2", *extra,
                 timeout=90)
    assert cp.returncode == 0 and len(cp.stdout.splitlines()) == 2, cp.stderr
    # the group committed its position: the next run continues after it
    cp = consume(bs, "--topic", "cli-rt", "--group", group, "--timeout-ms", wait, *extra, timeout=90)
    assert len(cp.stdout.splitlines()) == total - 2, cp.stdout
    assert cp.stdout.splitlines()[-4:] == ["g0", "g1", "g2", "g3"]


def test_producer_parse_error_and_sync(cluster):
    kind, bs = cluster
    before = end_offsets(bs, "cli-off")[0]
    cp = gregor("console-producer", "--bootstrap-server", bs, "--topic", "cli-off", "--property",
                "parse.key=true", input="k\tgood\nbad\nk\tnever\n")
    assert cp.returncode == 1
    assert err_lines(cp) == ["Error: No key separator found on line number 2: 'bad'"]
    cp = gregor("console-producer", "--bootstrap-server", bs, "--topic", "cli-off", "--sync",
                "--compression-codec", "--request-required-acks", "1", input="s1\ns2\n")
    assert cp.returncode == 0, cp.stderr
    assert end_offsets(bs, "cli-off")[0] == before + 3
    cp = consume(bs, "--topic", "cli-off", "--partition", "0", "--offset", str(before), "--max-messages", "3",
                 "--property", "print.key=true")
    assert cp.stdout == "k\tgood\nnull\ts1\nnull\ts2\n"
    cp = gregor("console-producer", "--bootstrap-server", bs, "--topic", "cli-off", "--compression-codec",
                "brotli", input="x\n")
    assert cp.returncode == 1 and "compression" in cp.stderr


@pytest.mark.parametrize("args,msg", [
    (["--topic", "t", "--offset", "5"], "The partition is required when offset is specified."),
    (["--topic", "t", "--partition", "0", "--group", "g"], "Options group and partition cannot be specified together."),
    (["--include", "t.*", "--partition", "0"], "The topic is required when partition is specified."),
    (["--topic", "t", "--include", "t.*"], "Exactly one of the following arguments is required: [topic], [include]"),
    (["--topic", "t", "--partition", "0", "--offset", "1", "--from-beginning"],
     "Options from-beginning and offset cannot be specified together."),
    (["--topic", "t", "--partition", "0", "--offset", "-4"],
     "The provided offset value '-4' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long."),
    (["--topic", "t", "--property", "print.key=true", "--formatter-property", "print.offset=true"],
     "Options --property and --formatter-property cannot be specified together."),
])
def test_consumer_usage_errors(args, msg):
    cp = gregor("console-consumer", "--bootstrap-server", DEAD, *args)
    assert cp.returncode == 1
    assert err_lines(cp) == ["Error: " + msg]


def test_consumer_unknown_topic(gregord_bootstrap):
    # gregord only: the mock cluster creates any topic a Metadata request names
    bs = gregord_bootstrap
    cp = consume(bs, "--topic", "cli-missing", "--timeout-ms", "3000")
    assert cp.returncode == 1
    assert err_lines(cp) == ["Error: Topic 'cli-missing' does not exist", "Processed a total of 0 messages"]


def test_consumer_include_regex(broker, gregord_bootstrap):
    bs = gregord_bootstrap
    produce(bs, "cli-off", ["inc"])
    cp = consume(bs, "--include", "cli-of+", "--from-beginning", "--timeout-ms", "5000", timeout=90)
    assert "inc" in cp.stdout.splitlines()
    # the whole name must match
    cp = consume(bs, "--include", "cli-of", "--from-beginning", "--timeout-ms", "3000", timeout=90)
    assert cp.stdout == ""


# ------------------------------------------------------------------ get-offsets

LINE = re.compile(r"^[A-Za-z0-9._-]+:\d+:\d+$")


def test_get_offsets_latest_earliest(cluster):
    kind, bs = cluster
    produce(bs, "cli-go", ["x%d" % i for i in range(9)])
    latest = offsets(bs, "--topic", "cli-go")
    assert all(LINE.match(l) for l in latest), latest
    assert [l.rsplit(":", 1)[0] for l in latest] == ["cli-go:0", "cli-go:1", "cli-go:2"]
    assert offsets(bs, "--topic", "cli-go", "--time", "-1") == latest
    assert offsets(bs, "--topic", "cli-go", "--time", "latest") == latest
    assert offsets(bs, "--topic", "cli-go", "--time", "-2") == ["cli-go:0:0", "cli-go:1:0", "cli-go:2:0"]
    assert offsets(bs, "--topic", "cli-go", "--time", "earliest", "--partitions", "2,0") == \
        ["cli-go:0:0", "cli-go:2:0"]
    assert sum(int(l.split(":")[2]) for l in latest) >= 9
    # --topic-partitions rules: N, N-M (upper exclusive), N-, -M, bare regex
    assert offsets(bs, "--topic-partitions", "cli-go:1-3", "--time", "-2") == ["cli-go:1:0", "cli-go:2:0"]
    assert offsets(bs, "--topic-partitions", "cli-go:-1,cli-rt", "--time", "-2") == ["cli-go:0:0", "cli-rt:0:0"]
    assert offsets(bs, "--topic-partitions", "cli-go:2-", "--time", "-2") == ["cli-go:2:0"]
    assert offsets(bs, "--topic-partitions", "cli-go:1", "--time", "-2") == ["cli-go:1:0"]
    # all topics, sorted by topic then partition
    everything = offsets(bs)
    keys = [(l.split(":")[0], int(l.split(":")[1])) for l in everything]
    assert keys == sorted(keys)
    assert {"cli-go", "cli-rt", "cli-off"} <= {k[0] for k in keys}


def test_get_offsets_by_timestamp(gregord_bootstrap):
    bs = gregord_bootstrap
    gregor("topics", "--bootstrap-server", bs, "--create", "--topic", "cli-ts", "--partitions", "1", check=True)
    produce(bs, "cli-ts", ["a", "b"])
    time.sleep(0.05)
    t = int(time.time() * 1000)
    time.sleep(0.05)
    produce(bs, "cli-ts", ["c"])
    assert offsets(bs, "--topic", "cli-ts", "--time", str(t)) == ["cli-ts:0:2"]
    assert offsets(bs, "--topic", "cli-ts", "--time", "0") == ["cli-ts:0:0"]
    # no record at or after the time: the partition is skipped, as in Kafka
    assert offsets(bs, "--topic", "cli-ts", "--time", str(t + 3600 * 1000)) == []


@pytest.mark.parametrize("args,msg", [
    (["--topic", "cli-nothing"], "Could not match any topic-partitions with the specified filters"),
    (["--topic", "cli-go", "--topic-partitions", "cli-go:1"],
     "--topic-partitions cannot be used with --topic or --partitions"),
    (["--topic-partitions", "cli-go:a"], "Invalid rule specification: cli-go:a"),
    (["--topic", "cli-go", "--partitions", "1,x"],
     "--partitions expects a comma separated list of numeric partition ids, but received: 1,x"),
    (["--topic", "cli-go", "--time", "yesterday"],
     "Malformed time argument yesterday. Please use -1 or latest / -2 or earliest / -3 or max-timestamp / -4 or "
     "earliest-local / -5 or latest-tiered / -6 or earliest-pending-upload, or a specified long format timestamp"),
])
def test_get_offsets_errors(gregord_bootstrap, args, msg):
    cp = gregor("get-offsets", "--bootstrap-server", gregord_bootstrap, *args)
    assert cp.returncode == 1
    assert err_lines(cp) == ["Error occurred: " + msg]


def _broker_max_timestamp(bs, topic, parts):
    """The broker's own -3 answer (ListOffsets v7): {partition: offset}, empty partitions left out."""
    body = kp.list_offsets_v7([(topic, [(p, -3) for p in range(parts)])])
    res = kp.call(bs, 2, 7, body, kp.parse_list_offsets_v7, flexible=True)
    out = {}
    for (t, p), (err, _ts, off, _ep) in res.items():
        assert t == topic and err == 0, res
        if off >= 0:
            out[p] = off
    return out


def test_get_offsets_max_timestamp(gregord_bootstrap):
    from confluent_kafka import Producer
    bs = gregord_bootstrap
    base = int(time.time() * 1000) - 3600 * 1000
    # partition -> record timestamps (offsets 0, 1, ...), out of order; ties resolve to the first offset
    data = {"cli-maxts": {0: [10, 50, 30, 50, 20], 1: [90, 1, 2]},
            "cli-maxts-half": {1: [7, 8, 3]}}          # partition 0 stays empty
    for topic, parts in data.items():
        gregor("topics", "--bootstrap-server", bs, "--create", "--topic", topic, "--partitions", "2", check=True)
        pr = Producer({"bootstrap.servers": bs, "linger.ms": 50})
        for p, tss in parts.items():
            for i, t in enumerate(tss):
                pr.produce(topic, value=b"v%d" % i, partition=p, timestamp=base + t * 1000)
        assert pr.flush(30) == 0
    expect = {"cli-maxts": ["cli-maxts:0:1", "cli-maxts:1:0"], "cli-maxts-half": ["cli-maxts-half:1:1"]}
    for topic, lines in expect.items():
        for t in ("-3", "max-timestamp"):
            assert offsets(bs, "--topic", topic, "--time", t) == lines
        broker = _broker_max_timestamp(bs, topic, 2)
        assert {int(l.split(":")[1]): int(l.split(":")[2]) for l in lines} == broker
    assert offsets(bs, "--topic-partitions", "cli-maxts:1,cli-maxts-half", "--time", "-3") == \
        ["cli-maxts:1:0", "cli-maxts-half:1:1"]
    # the other times still answer as before on the same topic
    assert offsets(bs, "--topic", "cli-maxts") == ["cli-maxts:0:5", "cli-maxts:1:3"]


@pytest.mark.parametrize("t", ["-4", "earliest-local", "-5", "latest-tiered", "-6"])
def test_get_offsets_unsupported_times(gregord_bootstrap, t):
    cp = gregor("get-offsets", "--bootstrap-server", gregord_bootstrap, "--topic", "cli-go", "--time", t)
    assert cp.returncode == 1 and cp.stdout == ""
    [line] = err_lines(cp)
    assert line.startswith("Error occurred: --time %s (" % t) and "not supported" in line


def test_get_offsets_exclude_internal(gregord_bootstrap):
    bs = gregord_bootstrap
    assert any(l.startswith("__consumer_offsets:") for l in offsets(bs, "--time", "-2"))
    assert not any(l.startswith("__consumer_offsets:")
                   for l in offsets(bs, "--time", "-2", "--exclude-internal-topics"))
