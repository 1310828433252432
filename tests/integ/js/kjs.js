// kafkajs 2.2.4 driver for the pytest suite (test_kafkajs.py).
//
//   node kjs.js '{"op": "...", "brokers": ["127.0.0.1:9092"], ...}'
//
// Runs one operation and prints its result as one JSON line on stdout; on
// failure prints {"error": name, "type": kafka error type, "message": ...} and
// exits 0, so the test can assert on the error.  Everything is bounded by
// short client timeouts and a hard process timer.
'use strict';
const { Kafka, logLevel, CompressionTypes } = require('kafkajs');

const args = JSON.parse(process.argv[2] || '{}');
const hard = setTimeout(() => {
  console.log(JSON.stringify({ error: 'HardTimeout', message: 'script exceeded 45s' }));
  process.exit(3);
}, 45000);

const kafka = new Kafka({
  clientId: 'gregor-kjs',
  brokers: args.brokers,
  logLevel: logLevel.NOTHING,
  connectionTimeout: 5000,
  requestTimeout: 10000,
  retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
});

const toStr = (b) => (b === null || b === undefined ? null : b.toString());

const ops = {
  async produce() {
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      const res = [];
      for (const batch of args.batches) {
        const r = await producer.send({
          topic: args.topic,
          acks: args.acks === undefined ? -1 : args.acks,
          compression: args.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
          messages: batch.map((m) => ({
            key: m.key === undefined ? null : m.key,
            value: m.value,
            partition: m.partition === undefined ? 0 : m.partition,
            headers: m.headers || {},
            timestamp: m.timestamp === undefined ? undefined : String(m.timestamp),
          })),
        });
        res.push(r.map((x) => ({ topic: x.topicName, partition: x.partition,
          errorCode: x.errorCode, baseOffset: x.baseOffset })));
      }
      return { results: res };
    } finally {
      await producer.disconnect();
    }
  },

  async createTopics() {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const created = await admin.createTopics({
        validateOnly: !!args.validateOnly,
        waitForLeaders: true,
        timeout: 10000,
        topics: args.topics.map((t) => ({
          topic: t.topic,
          numPartitions: t.numPartitions,
          replicationFactor: t.replicationFactor === undefined ? 1 : t.replicationFactor,
          configEntries: t.configEntries || [],
        })),
      });
      return { created };
    } finally {
      await admin.disconnect();
    }
  },

  async fetchTopicOffsets() {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return { offsets: await admin.fetchTopicOffsets(args.topic) };
    } finally {
      await admin.disconnect();
    }
  },

  async fetchTopicOffsetsByTimestamp() {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return { offsets: await admin.fetchTopicOffsetsByTimestamp(args.topic, args.timestamp) };
    } finally {
      await admin.disconnect();
    }
  },

  async fetchTopicMetadata() {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const md = await admin.fetchTopicMetadata(args.topics ? { topics: args.topics } : undefined);
      const cluster = await admin.describeCluster();
      const topics = await admin.listTopics();
      return { metadata: md, cluster, topics };
    } finally {
      await admin.disconnect();
    }
  },
};

(async () => {
  let out;
  try {
    if (!ops[args.op]) throw new Error('unknown op ' + args.op);
    out = await ops[args.op]();
  } catch (e) {
    out = { error: e.name, type: e.type || null, message: e.message,
      cause: e.originalError ? { name: e.originalError.name, type: e.originalError.type } : null,
      errors: (e.errors || []).map((x) => ({ name: x.name, type: x.type || null,
        topic: x.topic || null, message: x.message })) };
  }
  clearTimeout(hard);
  console.log(JSON.stringify(out));
})();
