"""A consume-transform-produce application with exactly-once semantics
(confluent-kafka, librdkafka's transactional producer): read `input` in
group `group` (read_committed), write "out-<value>" to `output` for each
record, and commit the consumed offsets in the same transaction
(send_offsets_to_transaction).  Exits 0 once the group's position reaches
every partition's end (`total` records in all), 1 on a fatal error (the
test restarts it), and may be killed at any moment by the test.  Small
random pauses between the steps spread the test's kills over them.

usage: eos_app.py BOOTSTRAP INPUT OUTPUT GROUP TXN_ID TOTAL SEED"""
import random
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition


def main():
    bs, inp, out, group, txn_id, total, seed = sys.argv[1:8]
    total = int(total)
    rnd = random.Random(int(seed))
    common = {"bootstrap.servers": bs, "socket.timeout.ms": 10000, "reconnect.backoff.max.ms": 500}
    c = Consumer(dict(common, **{"group.id": group, "group.instance.id": txn_id, "isolation.level": "read_committed",
                                 "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                 "session.timeout.ms": 6000, "fetch.wait.max.ms": 50}))
    p = Producer(dict(common, **{"transactional.id": txn_id, "linger.ms": 2, "transaction.timeout.ms": 10000}))
    p.init_transactions(60)
    c.subscribe([inp])
    done_since = None
    while True:
        msgs = c.consume(num_messages=rnd.randint(1, 40), timeout=0.2)
        msgs = [m for m in msgs if not m.error()]
        if not msgs:
            assignment = c.assignment()
            if assignment:
                committed = c.committed(assignment, timeout=10)
                if sum(max(tp.offset, 0) for tp in committed) >= total:
                    done_since = done_since or time.monotonic()
                    if time.monotonic() - done_since > 0.5:
                        break
            continue
        try:
            p.begin_transaction()
            time.sleep(rnd.random() * 0.02)
            for m in msgs:
                p.produce(out, value=b"out-" + m.value(), key=m.key())
                if rnd.random() < 0.05:
                    p.poll(0)
                    time.sleep(0.01)
            time.sleep(rnd.random() * 0.02)
            positions = [TopicPartition(m.topic(), m.partition(), m.offset() + 1) for m in msgs]
            last = {}
            for tp in positions:
                last[(tp.topic, tp.partition)] = tp
            p.send_offsets_to_transaction(list(last.values()), c.consumer_group_metadata(), 30)
            time.sleep(rnd.random() * 0.02)
            p.commit_transaction(30)
        except KafkaException as e:
            err = e.args[0]
            if err.fatal():
                print("fatal: %s" % err, file=sys.stderr)
                sys.exit(1)
            if err.txn_requires_abort():
                p.abort_transaction(30)
            # back to the last committed offsets: the aborted records again
            assignment = c.assignment()
            for tp in c.committed(assignment, timeout=30):
                try:
                    c.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else 0))
                except KafkaException:
                    pass                # not fetching it yet: it starts from the committed offset
            if not err.retriable() and not err.txn_requires_abort():
                print("error: %s" % err, file=sys.stderr)
                sys.exit(1)
    c.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
