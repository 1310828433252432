"""confluent-kafka (librdkafka) helpers shared by several test files.
Every call is bounded in time; failures raise AssertionError with context."""
import logging
import time

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException,
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

# librdkafka's own log lines go through Python logging (captured by pytest)
# instead of stderr, where they would interleave with the test summary.
COMMON = {"socket.timeout.ms": 10000, "api.version.request.timeout.ms": 5000,
          "topic.metadata.refresh.interval.ms": 2000, "log_level": 3,
          "logger": logging.getLogger("librdkafka")}


_ADMINS = {}


def admin(broker):
    """One AdminClient per broker address, kept alive: a client that is
    garbage-collected fails its pending futures with _DESTROY."""
    a = _ADMINS.get(broker.bootstrap)
    if a is None:
        a = _ADMINS[broker.bootstrap] = AdminClient(dict(COMMON, **{"bootstrap.servers": broker.bootstrap}))
    return a


def create_topic(broker, name, partitions=1, config=None, timeout=20):
    fs = admin(broker).create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=10, request_timeout=15)
    fs[name].result(timeout=timeout)
    return name


def producer(broker, **conf):
    c = dict(COMMON, **{"bootstrap.servers": broker.bootstrap, "linger.ms": 5,
                        "message.timeout.ms": 20000, "retries": 3})
    c.update({k.replace("_", "."): v for k, v in conf.items()})
    return Producer(c)


def produce(broker, topic, msgs, partition=0, timeout=30, **conf):
    """msgs: list of dicts with value/key/headers/timestamp.  Returns the
    delivery reports in send order as (err, offset, partition)."""
    p = producer(broker, **conf)
    reports = [None] * len(msgs)

    def cb(i):
        def f(err, m):
            reports[i] = (err, m.offset(), m.partition())
        return f

    for i, m in enumerate(msgs):
        kw = {k: v for k, v in m.items() if k in ("key", "value", "headers", "timestamp")}
        if partition is not None:
            kw["partition"] = partition
        while True:
            try:
                p.produce(topic, on_delivery=cb(i), **kw)
                break
            except BufferError:
                p.poll(0.1)
    left = p.flush(timeout)
    assert left == 0, "%d messages not delivered within %ss" % (left, timeout)
    assert None not in reports
    return reports


def consumer(broker, **conf):
    c = dict(COMMON, **{"bootstrap.servers": broker.bootstrap, "group.id": "gregor-test-assign",
                        "enable.auto.commit": False, "enable.auto.offset.store": False,
                        "fetch.wait.max.ms": 100, "auto.offset.reset": "earliest"})
    c.update({k.replace("_", "."): v for k, v in conf.items()})
    return Consumer(c)


def consume(broker, topic, count, partitions=(0,), offset=OFFSET_BEGINNING, timeout=20, **conf):
    """assign() from offset and read exactly `count` messages (fails on
    timeout or error).  Returns list of Message."""
    c = consumer(broker, **conf)
    try:
        c.assign([TopicPartition(topic, p, offset) for p in partitions])
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError("consumer error: %s" % m.error())
            out.append(m)
        assert len(out) == count, "got %d of %d messages from %s" % (len(out), count, topic)
        # nothing more than expected shows up
        extra = c.poll(0.3)
        assert extra is None or extra.error(), "unexpected extra message at offset %d" % extra.offset()
        return out
    finally:
        c.close()


def error_code(exc):
    """KafkaError code from a KafkaException raised by a future."""
    assert isinstance(exc, KafkaException), repr(exc)
    return exc.args[0].code()
