// A kafkajs 2.2.4 classic group member for the migration tests
// (test_cgroups_migration.py), printing what it does as JSON lines on
// stdout, as cg848.js does:
//   {"ev":"assign","parts":[[topic,p],...],"t":ms}   after each JoinGroup/SyncGroup
//   {"ev":"revoke","parts":[...],"t"}                  when it learns of a rebalance
//                                                      (kafkajs is eager: all of them)
//   {"ev":"msg","topic","p","o","v","t"}               a record consumed
//   {"ev":"closed","t"}                                after a clean close (SIGTERM)
// Its assignor is kafkajs's round robin under the name "roundrobin", the one
// librdkafka and kafka-python have, so that they can share a group.  Offsets
// are committed by kafkajs after each batch (at-least-once).  Stops by itself
// after maxSeconds; all traffic goes to the bootstrap address given.
'use strict';
const { Kafka, logLevel, PartitionAssigners } = require('kafkajs');

const a = JSON.parse(process.argv[2]);
const out = (o) => { o.t = Date.now(); process.stdout.write(JSON.stringify(o) + '\n'); };
const roundrobin = (cfg) => Object.assign({}, PartitionAssigners.roundRobin(cfg), { name: 'roundrobin' });

const kafka = new Kafka({
  clientId: a.clientId || 'kjs-member',
  brokers: [a.bootstrap],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 5000,
  requestTimeout: 15000,
  retry: { retries: 30, initialRetryTime: 200, maxRetryTime: 2000 },
});
const consumer = kafka.consumer({
  groupId: a.group,
  sessionTimeout: a.sessionTimeoutMs || 6000,
  heartbeatInterval: a.heartbeatMs || 1000,
  rebalanceTimeout: 15000,
  partitionAssigners: [roundrobin],
  retry: { retries: 30, initialRetryTime: 200, maxRetryTime: 2000 },
});
let owned = [];
consumer.on(consumer.events.GROUP_JOIN, (e) => {
  const ma = e.payload.memberAssignment || {};
  owned = [];
  for (const t of Object.keys(ma)) for (const p of ma[t]) owned.push([t, p]);
  out({ ev: 'assign', parts: owned });
});
consumer.on(consumer.events.REBALANCING, () => {
  out({ ev: 'revoke', parts: owned });
  owned = [];
});

let closing = false;
async function close(code) {
  if (closing) return;
  closing = true;
  try { await consumer.stop(); } catch (e) { /* closing anyway */ }
  // consuming stopped: it owns nothing from here, before the leave
  if (owned.length) out({ ev: 'revoke', parts: owned });
  owned = [];
  try { await consumer.disconnect(); } catch (e) { /* closing anyway */ }
  out({ ev: 'closed' });
  process.exit(code);
}
process.on('SIGTERM', () => close(0));
setTimeout(() => close(0), (a.maxSeconds || 150) * 1000);

(async () => {
  await consumer.connect();
  await consumer.subscribe({ topics: a.topics, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      out({ ev: 'msg', topic, p: partition, o: Number(message.offset), v: message.value.toString() });
    },
  });
})().catch((e) => { out({ ev: 'error', msg: String(e) }); close(2); });
