// kafkajs 2.2.4 transactions for the pytest suite (test_txn_js.py).
//
//   node kjs_txn.js '{"op": "...", "brokers": ["127.0.0.1:9092"], ...}'
//
// ops:
//   transactions  one transactional producer (transactionalId) runs
//                 args.txns in order: each sends its records, optionally
//                 sendOffsets, then commits or aborts (producer.transaction())
//   consume       a fresh group reads args.topic from the beginning,
//                 read_committed unless args.readUncommitted, until
//                 args.count records or args.maxMs; returns the values
// Prints one JSON line; on failure {"error", "type", "message"}.  Bounded by
// client timeouts and a hard process timer.
'use strict';
const { Kafka, logLevel } = require('kafkajs');

const args = JSON.parse(process.argv[2] || '{}');
const hard = setTimeout(() => {
  console.log(JSON.stringify({ error: 'HardTimeout' }));
  process.exit(3);
}, args.hardMs || 45000);

const kafka = new Kafka({
  clientId: 'gregor-kjs-txn',
  brokers: args.brokers,
  logLevel: logLevel.NOTHING,
  connectionTimeout: 5000,
  requestTimeout: 10000,
  retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 1000 },
});

const ops = {
  async transactions() {
    const producer = kafka.producer({ transactionalId: args.transactionalId, idempotent: true,
      maxInFlightRequests: 1, allowAutoTopicCreation: false, transactionTimeout: 30000 });
    await producer.connect();
    const done = [];
    try {
      for (const t of args.txns) {
        const txn = await producer.transaction();
        try {
          await txn.send({ topic: args.topic, acks: -1,
            messages: t.records.map((r) => ({ value: r.value, partition: r.partition || 0 })) });
          if (t.offsets) await txn.sendOffsets(t.offsets);
          if (t.commit) await txn.commit();
          else await txn.abort();
          done.push(t.commit ? 'committed' : 'aborted');
        } catch (e) {
          await txn.abort().catch(() => {});
          throw e;
        }
      }
      return { done };
    } finally {
      await producer.disconnect();
    }
  },

  async consume() {
    const consumer = kafka.consumer({ groupId: args.groupId, readUncommitted: !!args.readUncommitted,
      maxWaitTimeInMs: 100, sessionTimeout: 10000, heartbeatInterval: 500 });
    await consumer.connect();
    const values = [];
    let done;
    const finished = new Promise((resolve) => { done = resolve; });
    const timer = setTimeout(() => done(), args.maxMs || 15000);
    try {
      await consumer.subscribe({ topics: [args.topic], fromBeginning: true });
      await consumer.run({ autoCommit: false, eachMessage: async ({ message }) => {
        values.push(message.value.toString());
        if (values.length >= args.count) setTimeout(() => done(), args.settleMs || 300);
      } });
      await finished;
    } finally {
      clearTimeout(timer);
      await consumer.disconnect();
    }
    return { values };
  },
};

(async () => {
  let out;
  try {
    if (!ops[args.op]) throw new Error('unknown op ' + args.op);
    out = await ops[args.op]();
  } catch (e) {
    out = { error: e.name, type: e.type || null, message: e.message };
  }
  clearTimeout(hard);
  console.log(JSON.stringify(out));
  process.exit(0);
})();
