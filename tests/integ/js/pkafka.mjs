// @platformatic/kafka driver for the pytest suite (test_modern_js.py): a
// pure-JavaScript client that speaks only recent protocol versions
// (Produce 9+, Fetch 12+, Metadata 12, flexible versions throughout).
//
//   node pkafka.mjs '{"brokers": ["127.0.0.1:9092"], "topic": "t", "groupId": "g", ...}'
//
// Creates the topic (Admin), produces args.records ({key, value, partition,
// headers}) with acks=-1, then consumes them back in a consumer group
// (args.groupProtocol: "classic" or "consumer") from the earliest offset,
// committing each record, and prints one JSON line: the produce answer, the
// records consumed, the offsets the consumer group's Admin lists after the
// commits, and every (apiKey, apiVersion) the client sent (from its
// diagnostics channel).  On failure prints {"error": ..., "message": ...}
// and exits 1.  A hard timer bounds the whole run.
import diagnostics from 'node:diagnostics_channel';
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka';

const args = JSON.parse(process.argv[2] || '{}');
const hardMs = args.hardMs || 90000;
const hard = setTimeout(() => {
  console.log(JSON.stringify({ error: 'HardTimeout', message: `script exceeded ${hardMs}ms` }));
  process.exit(3);
}, hardMs);

// every request the client sends, as "apiKey:apiVersion"
const sent = new Set();
diagnostics.tracingChannel('plt:kafka:connections:api').subscribe({
  start(ctx) { sent.add(`${ctx.apiKey}:${ctx.apiVersion}`); },
  end() {}, asyncStart() {}, asyncEnd() {}, error() {},
});

const common = { bootstrapBrokers: args.brokers, connectTimeout: 5000, requestTimeout: 15000, retries: 5,
  retryDelay: 200 };

async function main() {
  const admin = new Admin({ clientId: 'gregor-pk-admin', ...common });
  const producer = new Producer({ clientId: 'gregor-pk-producer', serializers: stringSerializers, acks: -1,
    ...common });
  const consumer = new Consumer({ clientId: 'gregor-pk-consumer', groupId: args.groupId,
    groupProtocol: args.groupProtocol || 'classic', deserializers: stringDeserializers,
    sessionTimeout: 10000, rebalanceTimeout: 20000, heartbeatInterval: 1000, ...common });
  const out = {};
  try {
    await admin.createTopics({ topics: [args.topic], partitions: args.partitions, replicas: 1 });
    const md = await admin.metadata({ topics: [args.topic] });
    const tmd = md.topics.get(args.topic);
    out.metadata = { partitions: tmd.partitionsCount, id: tmd.id };

    const sendRes = await producer.send({
      messages: args.records.map((r) => ({ topic: args.topic, partition: r.partition, key: r.key,
        value: r.value, headers: r.headers || {} })),
    });
    out.produced = (sendRes.offsets || []).map((o) => ({ topic: o.topic, partition: o.partition,
      offset: Number(o.offset) }));

    const stream = await consumer.consume({ topics: [args.topic], mode: 'committed', fallbackMode: 'earliest',
      autocommit: false, maxWaitTime: 500 });
    const got = [];
    const deadline = Date.now() + (args.consumeMs || 60000);
    for await (const m of stream) {
      const headers = {};
      for (const [k, v] of m.headers) headers[k.toString()] = v.toString();
      got.push({ partition: m.partition, offset: Number(m.offset), key: m.key, value: m.value, headers });
      await m.commit();
      if (got.length >= args.records.length || Date.now() > deadline) break;
    }
    out.consumed = got;
    await stream.close();

    const offs = await admin.listConsumerGroupOffsets({ groups: [args.groupId] });
    out.committed = [];
    for (const g of offs) {
      for (const t of g.topics) {
        for (const p of t.partitions) {
          out.committed.push({ group: g.groupId, topic: t.name, partition: p.partitionIndex,
            offset: Number(p.committedOffset) });
        }
      }
    }
  } finally {
    await consumer.close(true).catch(() => {});
    await producer.close().catch(() => {});
    await admin.close().catch(() => {});
  }
  out.requests = [...sent].sort();
  return out;
}

main().then((out) => {
  clearTimeout(hard);
  console.log(JSON.stringify(out));
}, (err) => {
  clearTimeout(hard);
  const errors = (err.errors || []).map((e) => String(e && e.message));
  console.log(JSON.stringify({ error: err.name || 'Error', message: String(err.message), errors,
    requests: [...sent].sort() }));
  process.exit(1);
});
