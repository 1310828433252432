// node-rdkafka (librdkafka bundled by the npm package) transactional
// producer for the pytest suite (test_txn_js.py):
//
//   node nrd_txn.js '{"brokers": ["127.0.0.1:9092"], "topic": "t",
//                     "transactionalId": "x", "txns": [{"values": [...], "commit": true}, ...]}'
//
// initTransactions, then per transaction beginTransaction, produce its
// values to partition 0, (wait args.pauseMs), commitTransaction or
// abortTransaction.  Prints one JSON line: {"done": [...], "librdkafka":
// version} or {"error", "code", "fatal", "abortable"}.
// Bounded by the transactions' timeouts and a hard process timer.
'use strict';
const Kafka = require('node-rdkafka');

const args = JSON.parse(process.argv[2] || '{}');
const hard = setTimeout(() => {
  console.log(JSON.stringify({ error: 'HardTimeout' }));
  process.exit(3);
}, args.hardMs || 60000);

const p = (fn) => new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));

(async () => {
  const producer = new Kafka.Producer({
    'metadata.broker.list': args.brokers.join(','),
    'transactional.id': args.transactionalId,
    'enable.idempotence': true,
    'linger.ms': 5,
  });
  let out;
  try {
    await p((cb) => producer.connect({ timeout: 10000 }, cb));
    await p((cb) => producer.initTransactions(20000, cb));
    const done = [];
    for (const t of args.txns) {
      await p((cb) => producer.beginTransaction(cb));
      for (const v of t.values) producer.produce(args.topic, 0, Buffer.from(v));
      await p((cb) => producer.flush(20000, cb));
      if (args.pauseMs) await new Promise((r) => setTimeout(r, args.pauseMs));
      if (t.commit) await p((cb) => producer.commitTransaction(20000, cb));
      else await p((cb) => producer.abortTransaction(20000, cb));
      done.push(t.commit ? 'committed' : 'aborted');
    }
    out = { done, librdkafka: Kafka.librdkafkaVersion };
  } catch (e) {
    out = { error: e.message || String(e), code: e.code === undefined ? null : e.code,
      fatal: !!e.isFatal, abortable: !!e.isTxnRequiresAbort };
  }
  await p((cb) => producer.disconnect(cb)).catch(() => {});
  clearTimeout(hard);
  console.log(JSON.stringify(out));
  process.exit(0);
})();
