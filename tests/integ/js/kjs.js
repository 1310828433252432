// kafkajs 2.2.4 driver for the pytest suite (test_kafkajs.py).
//
//   node kjs.js '{"op": "...", "brokers": ["127.0.0.1:9092"], ...}'
//
// Runs one operation and prints its result as one JSON line on stdout; on
// failure prints {"error": name, "type": kafka error type, "message": ...} and
// exits 0, so the test can assert on the error.  Everything is bounded by
// short client timeouts and a hard process timer.
'use strict';
const fs = require('fs');
const { Kafka, logLevel, CompressionTypes, PartitionAssigners, AssignerProtocol } = require('kafkajs');

const args = JSON.parse(process.argv[2] || '{}');
const hardMs = args.hardMs || 45000;
const hard = setTimeout(() => {
  console.log(JSON.stringify({ error: 'HardTimeout', message: `script exceeded ${hardMs}ms` }));
  process.exit(3);
}, hardMs);

// With `traceJoinGroup`, kafkajs's own debug log lines of its JoinGroup
// requests and responses are kept (the response's error, or its member id),
// so a test can see the MEMBER_ID_REQUIRED round trip kafkajs makes.
const joinGroupTrace = [];
const joinGroupLine = /^(Request|Response) JoinGroup\(key: 11, version: (\d+)\)$/;
const kafka = new Kafka({
  clientId: 'gregor-kjs',
  brokers: args.brokers,
  logLevel: args.traceJoinGroup ? logLevel.DEBUG : logLevel.NOTHING,
  logCreator: () => ({ level, log }) => {
    const m = args.traceJoinGroup && level === logLevel.DEBUG && joinGroupLine.exec(log.message || '');
    if (!m) return;
    joinGroupTrace.push({ kind: m[1], version: Number(m[2]), correlationId: log.correlationId,
      error: log.error || null, memberId: log.data ? log.data.memberId : null });
  },
  connectionTimeout: 5000,
  requestTimeout: 10000,
  retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
});

const toStr = (b) => (b === null || b === undefined ? null : b.toString());

const ops = {
  async produce() {
    // `idempotent`: kafkajs's idempotent producer (InitProducerId, then
    // batches with a producer id and sequence numbers)
    const producer = kafka.producer(args.idempotent
      ? { allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 }
      : { allowAutoTopicCreation: false });
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

  // Group consumer: subscribe, consume until `count` messages, `stopFile`
  // exists or `maxMs` passed, then disconnect (commits and leaves).  With
  // `eventsFile`, each join and message is appended there as a JSON line.
  async groupConsume() {
    const assigners = args.assigner === 'roundrobin'
      // the Java / librdkafka / kafka-python name of the same assignor
      ? [({ cluster }) => {
        const rr = PartitionAssigners.roundRobin({ cluster });
        return { name: 'roundrobin', version: 0, assign: rr.assign, protocol: rr.protocol };
      }]
      : [PartitionAssigners.roundRobin];
    const consumer = kafka.consumer({
      groupId: args.groupId,
      sessionTimeout: args.sessionTimeout || 10000,
      heartbeatInterval: 500,
      rebalanceTimeout: args.rebalanceTimeout || 20000,
      maxWaitTimeInMs: 200,
      partitionAssigners: assigners,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    const joins = [];
    const messages = [];
    const log = (ev) => {
      if (args.eventsFile) fs.appendFileSync(args.eventsFile, JSON.stringify(ev) + '\n');
    };
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const j = { t: Date.now() / 1000, memberId: e.payload.memberId, leaderId: e.payload.leaderId,
        isLeader: e.payload.isLeader, groupProtocol: e.payload.groupProtocol,
        assignment: e.payload.memberAssignment };
      joins.push(j);
      log(Object.assign({ ev: 'join' }, j));
    });
    await consumer.connect();
    let done;
    const finished = new Promise((resolve) => { done = resolve; });
    const started = Date.now();
    const timer = setInterval(() => {
      if ((args.stopFile && fs.existsSync(args.stopFile)) || Date.now() - started > (args.maxMs || 30000)) done();
    }, 100);
    try {
      await consumer.subscribe({ topics: args.topics, fromBeginning: args.fromBeginning !== false });
      await consumer.run({
        eachMessage: async ({ topic, partition, message }) => {
          const m = { topic, partition, offset: message.offset, value: toStr(message.value) };
          messages.push(m);
          log(Object.assign({ ev: 'msg', t: Date.now() / 1000 }, m));
          if (args.count && messages.length >= args.count) done();
        },
      });
      await finished;
    } finally {
      clearInterval(timer);
      await consumer.disconnect();
    }
    log({ ev: 'closed', t: Date.now() / 1000 });
    return args.traceJoinGroup ? { joins, messages, joinGroupTrace } : { joins, messages };
  },

  async listGroups() {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return await admin.listGroups();
    } finally {
      await admin.disconnect();
    }
  },

  async describeGroups() {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const res = await admin.describeGroups(args.groupIds);
      // decode the consumer-protocol bytes for the test
      for (const g of res.groups) {
        for (const m of g.members) {
          m.memberAssignment = m.memberAssignment && m.memberAssignment.length
            ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
          m.memberMetadata = m.memberMetadata && m.memberMetadata.length
            ? AssignerProtocol.MemberMetadata.decode(m.memberMetadata) : null;
          if (m.memberMetadata) m.memberMetadata.userData = null;
          if (m.memberAssignment) m.memberAssignment.userData = null;
        }
      }
      return res;
    } finally {
      await admin.disconnect();
    }
  },

  async deleteGroups() {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return { results: await admin.deleteGroups(args.groupIds) };
    } finally {
      await admin.disconnect();
    }
  },

  async fetchOffsets() {
    const admin = kafka.admin();
    await admin.connect();
    try {
      return { offsets: await admin.fetchOffsets({ groupId: args.groupId, topics: args.topics }) };
    } finally {
      await admin.disconnect();
    }
  },

  async setOffsets() {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.setOffsets({ groupId: args.groupId, topic: args.topic, partitions: args.partitions });
      return { ok: true };
    } finally {
      await admin.disconnect();
    }
  },

  async resetOffsets() {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.resetOffsets({ groupId: args.groupId, topic: args.topic, earliest: !!args.earliest });
      return { ok: true };
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
      errors: (e.errors || e.groups || []).map((x) => ({ name: x.name || null,
        type: x.type || (x.error && x.error.type) || null, topic: x.topic || null,
        groupId: x.groupId || null, errorCode: x.errorCode === undefined ? null : x.errorCode,
        message: x.message || (x.error && x.error.message) || null })) };
  }
  clearTimeout(hard);
  console.log(JSON.stringify(out));
})();
