// cg848.js - a node-rdkafka (bundled librdkafka >= 2.10) consumer for the
// consumer-group tests, driven by the pytest suite.
//
//   node cg848.js '<json>'   {bootstrap, group, topics | regex, protocol
//                             ("consumer" | "classic"), instance?, clientId?,
//                             assignor?, maxSeconds}
//
// Prints one JSON object per line on stdout, each with t = Date.now():
//   {"ev":"ready"}                       connected, subscribed
//   {"ev":"assign","parts":[[t,p],...]}  before the partitions are taken
//   {"ev":"revoke","parts":[[t,p],...]}  after they were given up
//   {"ev":"msg","topic","p","o","v"}     a record consumed
//   {"ev":"closed"}                      after a clean close (SIGTERM)
// Offsets are stored once printed and committed every 200 ms, on
// revocation and on close by librdkafka (at-least-once).
// Stops by itself after maxSeconds.  All traffic goes to the bootstrap
// address the test gives (127.0.0.1).
'use strict';
const Kafka = require('node-rdkafka');

const a = JSON.parse(process.argv[2]);
const out = (o) => { o.t = Date.now(); process.stdout.write(JSON.stringify(o) + '\n'); };
const parts = (l) => (l || []).map((x) => [x.topic, x.partition]);

const conf = {
  'bootstrap.servers': a.bootstrap,
  'group.id': a.group,
  'client.id': a.clientId || 'cg848',
  'enable.auto.commit': true,
  'auto.commit.interval.ms': 200,
  // offsets are stored only once the records were printed: a kill -9 can
  // make a record come again, never make one vanish
  'enable.auto.offset.store': false,
  'socket.timeout.ms': 10000,
  'topic.metadata.refresh.interval.ms': 2000,
  'log_level': a.debug ? 7 : 3,
  ...(a.debug ? {'debug': a.debug} : {}),
};
if ((a.protocol || 'consumer') === 'consumer') {
  conf['group.protocol'] = 'consumer';
  if (a.assignor) conf['group.remote.assignor'] = a.assignor;
} else {
  conf['session.timeout.ms'] = a.sessionTimeoutMs || 6000;
  conf['heartbeat.interval.ms'] = a.heartbeatMs || 1000;
  conf['partition.assignment.strategy'] = a.strategy || 'range';
}
if (a.instance) conf['group.instance.id'] = a.instance;

const c = new Kafka.KafkaConsumer(Object.assign(conf, {
  rebalance_cb: function (err, assignment) {
    const coop = this.rebalanceProtocol() === 'COOPERATIVE';
    if (err.code === Kafka.CODES.ERRORS.ERR__ASSIGN_PARTITIONS) {
      out({ev: 'assign', parts: parts(assignment)});
      if (coop) this.incrementalAssign(assignment); else this.assign(assignment);
    } else if (err.code === Kafka.CODES.ERRORS.ERR__REVOKE_PARTITIONS) {
      // no synchronous commit here (it blocks the event loop, and a close
      // can hang on it): librdkafka commits the stored offsets itself when
      // partitions are revoked (enable.auto.commit)
      if (coop) this.incrementalUnassign(assignment); else this.unassign();
      out({ev: 'revoke', parts: parts(assignment)});
    }
  },
}), {'auto.offset.reset': 'earliest'});

let closing = false;
let inflight = false;
function close(code) {
  if (closing) return;
  closing = true;
  setTimeout(() => { out({ev: 'close-timeout'}); process.exit(3); }, 20000);
  // no consume() in flight when the consumer closes (node-rdkafka can hang
  // in disconnect otherwise); the close commits and leaves the group
  const go = () => {
    if (inflight) { setTimeout(go, 20); return; }
    c.disconnect(() => { out({ev: 'closed'}); process.exit(code); });
  };
  go();
}
process.on('SIGTERM', () => close(0));
setTimeout(() => close(0), (a.maxSeconds || 120) * 1000).unref();

c.on('event.error', (e) => out({ev: 'error', code: e.code, msg: String(e.message)}));
c.on('ready', () => {
  c.subscribe(a.regex ? [a.regex] : a.topics);
  out({ev: 'ready'});
  const loop = () => {
    if (closing) return;
    inflight = true;
    c.consume(100, (err, msgs) => {
      inflight = false;
      if (!err && msgs.length) {
        for (const m of msgs)
          out({ev: 'msg', topic: m.topic, p: m.partition, o: m.offset, v: m.value ? m.value.toString() : null});
        const next = {};
        for (const m of msgs) next[m.topic + '\0' + m.partition] = {topic: m.topic, partition: m.partition, offset: m.offset + 1};
        try { c.offsetsStore(Object.values(next)); } catch (e) { /* revoked meanwhile */ }
      }
      setImmediate(loop);
    });
  };
  loop();
});
c.connect({timeout: 20000}, (err) => { if (err) { out({ev: 'error', msg: String(err)}); process.exit(2); } });
