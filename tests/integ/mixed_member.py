"""A classic group member for the migration tests (test_cgroups_migration.py):
librdkafka 2.0.2 through confluent-kafka ("ck") or kafka-python ("kp"),
printing what it does as JSON lines on stdout, as js/cg848.js does:

  {"ev": "assign", "parts": [[topic, p], ...], "t": ms}
  {"ev": "revoke", "parts": [...], "t": ms}     before the partitions go
  {"ev": "msg", "topic", "p", "o", "v", "t"}    a record consumed
  {"ev": "closed", "t": ms}                     after a clean close (SIGTERM)

Assignor "roundrobin" (eager).  A record's offset is committed only after it
was printed (at-least-once): every 200 ms, on revocation and on close.
Stops by itself after maxSeconds.  Run with /usr/bin/python3.
"""
import json
import signal
import sys
import time

a = json.loads(sys.argv[1])
stop = False


def out(o):
    o["t"] = int(time.time() * 1000)
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
deadline = time.monotonic() + a.get("maxSeconds", 150)


def run_ck():
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": a["bootstrap"], "group.id": a["group"], "client.id": a["clientId"],
                  "enable.auto.commit": True, "auto.commit.interval.ms": 200, "enable.auto.offset.store": False,
                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
                  "partition.assignment.strategy": "roundrobin", "log_level": 3})

    def on_assign(cons, parts):
        out({"ev": "assign", "parts": [[p.topic, p.partition] for p in parts]})

    def on_revoke(cons, parts):
        try:
            cons.commit(asynchronous=False)
        except Exception:
            pass        # nothing stored
        out({"ev": "revoke", "parts": [[p.topic, p.partition] for p in parts]})

    c.subscribe(a["topics"], on_assign=on_assign, on_revoke=on_revoke)
    while not stop and time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        out({"ev": "msg", "topic": m.topic(), "p": m.partition(), "o": m.offset(), "v": m.value().decode()})
        c.store_offsets(m)
    c.close()
    out({"ev": "closed"})


def run_kp():
    from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    c = KafkaConsumer(bootstrap_servers=a["bootstrap"], group_id=a["group"], client_id=a["clientId"],
                      enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=6000,
                      heartbeat_interval_ms=1000, partition_assignment_strategy=[RoundRobinPartitionAssignor])
    pending = {}

    def commit():
        if pending:
            try:
                c.commit({tp: OffsetAndMetadata(o, "") for tp, o in pending.items()})
            except Exception:
                pass    # a rebalance: the next owner reads them again
            pending.clear()

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            commit()
            out({"ev": "revoke", "parts": [[tp.topic, tp.partition] for tp in revoked]})

        def on_partitions_assigned(self, assigned):
            out({"ev": "assign", "parts": [[tp.topic, tp.partition] for tp in assigned]})

    c.subscribe(a["topics"], listener=Listener())
    last = time.monotonic()
    while not stop and time.monotonic() < deadline:
        for tp, msgs in c.poll(timeout_ms=200).items():
            for m in msgs:
                out({"ev": "msg", "topic": tp.topic, "p": tp.partition, "o": m.offset, "v": m.value.decode()})
                pending[tp] = m.offset + 1
        if time.monotonic() - last >= 0.2:
            commit()
            last = time.monotonic()
    commit()
    # consuming stopped: it owns nothing from here, before close leaves
    out({"ev": "revoke", "parts": [[tp.topic, tp.partition] for tp in c.assignment()]})
    c.close()
    out({"ev": "closed"})


{"ck": run_ck, "kp": run_kp}[a["lib"]]()
