"""Clean shutdown with thousands of partitions written since their last
flush: the log dir is made durable with one syncfs(2) (src/storage/topic.c) instead
of an fsync per file.  The clean-shutdown marker is written and every
record is read back after a restart, also after a simulated power cut right
after the shutdown (the power-loss journal counts the syncfs); when the sync
fails (fsync fault on one partition's files) there is no marker, the broker
logs the error, and the next start recovers every acknowledged record.

No timing assertions: tools/shutdown-time.py measures the shutdown."""
import os
import signal

import pytest
from confluent_kafka import Producer

import ck
from storage_check import env_broker_factory

T = "sd"
NPART = 3000
MARKER = ".kafka_cleanshutdown"
STOP_LIMIT = 170     # against hangs only (sanitizers, a slow disk)
GR_SYNCFS_MIN_PARTS = 32   # src/storage/topic.h


@pytest.fixture
def env_broker(tmp_path):
    yield from env_broker_factory(tmp_path)


def make(env_broker, env=None):
    b = env_broker({"num.partitions": 1, "offsets.topic.num.partitions": 1}, env=env, nofile=NPART + 1024,
                   start=False)
    b.start()
    return b


def write_one_per_partition(b, n=NPART):
    """One acknowledged record in every partition (acks=all, default flush
    policy: nothing fsynced)."""
    ck.create_topic(b, T, partitions=n, timeout=120)
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 20,
                  "message.timeout.ms": 60000, "queue.buffering.max.messages": 4 * n})
    acked = {}

    def cb(err, m):
        assert err is None, err
        acked[m.partition()] = (m.offset(), m.value())

    for i in range(n):
        p.produce(T, value=b"value-%d" % i, partition=i, on_delivery=cb)
        if i % 500 == 499:
            p.poll(0)
    assert p.flush(120) == 0
    assert acked == {i: (0, b"value-%d" % i) for i in range(n)}


def read_back(b, n=NPART):
    msgs = ck.consume(b, T, n, partitions=range(n), timeout=120)
    got = {m.partition(): (m.offset(), m.value()) for m in msgs}
    assert got == {i: (0, b"value-%d" % i) for i in range(n)}


def recovery_points(b):
    with open(os.path.join(b.data_dir, "recovery-point-offset-checkpoint")) as f:
        lines = f.read().split("\n")[2:]
    return {int(p): int(o) for t, p, o in (l.split() for l in lines if l) if t == T}


def test_clean_shutdown_syncs_dir_once(env_broker):
    b = make(env_broker)
    write_one_per_partition(b)
    assert b.stop(signal.SIGTERM, timeout=STOP_LIMIT) == 0
    log = b.log_text()
    assert "with one syncfs" in log
    assert os.path.exists(os.path.join(b.data_dir, MARKER)), os.listdir(b.data_dir)
    assert recovery_points(b) == {i: 1 for i in range(NPART)}
    assert "ERROR" not in log
    b.start()
    assert "No clean shutdown marker" not in b.log_text().split("==== start #2")[-1]
    read_back(b)


def test_syncfs_counts_in_the_power_loss_journal(env_broker, tmp_path):
    # a power cut right after the clean shutdown: what the syncfs covered
    # (data, index files, the new files' names) survives it.  Fewer
    # partitions (still above the threshold): replaying the journal of
    # thousands of files is slow under the sanitizers.
    n = 4 * GR_SYNCFS_MIN_PARTS
    journal = str(tmp_path / "powerloss.journal")
    b = make(env_broker, env={"GREGOR_FAULTS": "journal=" + journal})
    write_one_per_partition(b, n)
    assert b.stop(signal.SIGTERM, timeout=STOP_LIMIT) == 0
    assert "with one syncfs" in b.log_text()
    assert os.path.exists(os.path.join(b.data_dir, MARKER))
    b.env["GREGOR_FAULTS"] = "journal=%s,powercut-on-start" % journal
    b.start()
    assert "Power cut simulated" in b.log_text()
    read_back(b, n)


def test_failed_syncfs_leaves_no_marker_and_recovers(env_broker):
    b = make(env_broker)
    write_one_per_partition(b)
    # one partition's files cannot be synced: the dir's syncfs fails
    b.arm("fsync@/%s-1234/" % T)
    assert b.stop(signal.SIGTERM, timeout=STOP_LIMIT) == 0
    log = b.log_text()
    assert "syncfs of log dir %s failed" % b.data_dir in log
    assert "Not writing the clean shutdown marker" in log
    assert not os.path.exists(os.path.join(b.data_dir, MARKER))
    # no recovery point of the dir moved
    assert recovery_points(b) == {i: 0 for i in range(NPART)}
    b.start()      # no faults armed now
    assert "No clean shutdown marker" in b.log_text().split("==== start #2")[-1]
    read_back(b)


def test_failed_fsync_below_the_threshold_leaves_no_marker(env_broker):
    # few dirty partitions: synced file by file; a failure there also
    # keeps the marker away
    b = make(env_broker)
    ck.create_topic(b, "few", partitions=2)
    reps = ck.produce(b, "few", [{"value": b"few-%d" % i} for i in range(10)], acks="all")
    assert [r[:2] for r in reps] == [(None, i) for i in range(10)]
    b.arm("fsync@/few-0/")
    assert b.stop(signal.SIGTERM, timeout=STOP_LIMIT) == 0
    log = b.log_text()
    assert "fsync of %s failed" % b.partition_dir("few", 0) in log
    assert "Not writing the clean shutdown marker" in log
    assert not os.path.exists(os.path.join(b.data_dir, MARKER))
    b.start()
    assert "No clean shutdown marker" in b.log_text().split("==== start #2")[-1]
    assert [m.value() for m in ck.consume(b, "few", 10)] == [b"few-%d" % i for i in range(10)]


def test_marker_removal_is_durable_at_start(env_broker, tmp_path):
    # the marker found at start is removed durably before anything is
    # appended: a power cut soon after the start (before any checkpoint
    # write syncs the log dir) must not bring it back, or the next start
    # would trust logs that a crash may have torn
    journal = str(tmp_path / "powerloss.journal")
    b = make(env_broker)
    ck.create_topic(b, T, partitions=1, timeout=60)
    assert b.stop(signal.SIGTERM, timeout=STOP_LIMIT) == 0
    assert os.path.exists(os.path.join(b.data_dir, MARKER))
    b.env["GREGOR_FAULTS"] = "journal=" + journal
    b.start()
    assert not os.path.exists(os.path.join(b.data_dir, MARKER))
    b.kill()
    b.env["GREGOR_FAULTS"] = "journal=%s,powercut-on-start" % journal
    b.start()
    last = b.log_text().split("==== start #3")[-1]
    assert "Power cut simulated" in last
    assert "No clean shutdown marker" in last


def test_deleted_topic_stays_deleted_after_power_cut(env_broker, tmp_path):
    # a topic deleted during the run, then a clean shutdown (per-file
    # path: few dirty partitions) and a power cut: the topic stays gone
    journal = str(tmp_path / "powerloss.journal")
    b = make(env_broker, env={"GREGOR_FAULTS": "journal=" + journal})
    ck.create_topic(b, "gone", partitions=1, timeout=60)
    ck.create_topic(b, "kept", partitions=1, timeout=60)
    ck.admin(b).delete_topics(["gone"], operation_timeout=10, request_timeout=15)["gone"].result(20)
    assert b.stop(signal.SIGTERM, timeout=STOP_LIMIT) == 0
    assert os.path.exists(os.path.join(b.data_dir, MARKER))
    b.env["GREGOR_FAULTS"] = "journal=%s,powercut-on-start" % journal
    b.start()
    assert "Power cut simulated" in b.log_text()
    md = ck.admin(b).list_topics(timeout=15).topics
    assert "kept" in md
    assert "gone" not in md
