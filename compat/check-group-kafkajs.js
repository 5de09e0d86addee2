// KafkaJS (pure-JavaScript client, its own protocol implementation) consumer
// group: a group consumer reads every record and commits; a second run of the
// same group reads nothing old, only what was produced after the commit.
//
//   1. admin creates a 4-partition topic; N records (explicit partition i % 4,
//      the value names the offset it must land at)
//   2. run 1: consumer (groupId G, fromBeginning, autoCommit off, commitOffsets
//      after each batch) reads all N; admin.fetchOffsets shows the end offsets
//   3. N/4 more records; run 2 (same group, fromBeginning again): its first record
//      on every partition is at the committed offset and it reads exactly the new ones
//
// Usage: node check-group-kafkajs.js BOOTSTRAP [RECORDS]
'use strict';
const { Kafka, logLevel } = require('kafkajs');

const PARTS = 4;
const bootstrap = process.argv[2];
const N = parseInt(process.argv[3] || '2000', 10);
const M = Math.floor(N / 4);
const topic = `kjs-group-${process.pid}`;
const groupId = `kjs-g-${process.pid}`;
const t0 = Date.now();

function log(msg) {
  console.log(`+${((Date.now() - t0) / 1000).toFixed(3)}s ${msg}`);
}
function fail(msg) {
  console.error(`check-group-kafkajs: FAIL: ${msg}`);
  process.exit(1);
}
// never hang: the whole check is bounded
setTimeout(() => fail('timed out after 150s'), 150000).unref();

const kafka = new Kafka({
  clientId: 'kbroker-compat-kafkajs',
  brokers: [bootstrap],
  logLevel: process.env.KAFKAJS_LOG_LEVEL === 'DEBUG' ? logLevel.DEBUG : logLevel.WARN,
  retry: { retries: 5 },
});

async function produce(count, base, tag) {
  const producer = kafka.producer();
  await producer.connect();
  const next = base.slice();
  const messages = [];
  for (let i = 0; i < count; i++) {
    const p = i % PARTS;
    messages.push({ partition: p, key: `k${i}`, value: `v-${p}-${next[p]}-${tag}` });
    next[p]++;
  }
  for (let i = 0; i < messages.length; i += 500) {
    const res = await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
    for (const r of res) {
      if (r.errorCode !== 0) fail(`produce error ${JSON.stringify(r)}`);
    }
  }
  await producer.disconnect();
  log(`produced ${count} records, end offsets ${JSON.stringify(next)}`);
  return next;
}

// Runs a group member until `want` records arrived (and a short quiet period
// for strays). Returns {seen: Map "p:o" -> count, first: {p: offset}}.
async function runMember(name, committed, want) {
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 });
  const seen = new Map();
  const first = {};
  const errors = [];
  let total = 0;
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  consumer.on(consumer.events.CRASH, (e) => {
    const what = `${name}: consumer crashed (restart: ${e.payload.restart}): ${e.payload.error}`;
    if (e.payload.restart === false) errors.push(what);
    else log(what);
  });
  consumer.on(consumer.events.GROUP_JOIN, (e) =>
    log(`${name}: joined, assignment ${JSON.stringify(e.payload.memberAssignment)}`));
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      const p = batch.partition;
      let last = null;
      for (const m of batch.messages) {
        const o = Number(m.offset);
        if (o < committed[p]) errors.push(`${name} got (p${p}, o${o}) although offset ${committed[p]} was committed`);
        const v = m.value.toString();
        if (!v.startsWith(`v-${p}-${o}-`)) errors.push(`${name}: (p${p}, o${o}) has value ${v}`);
        const k = `${p}:${o}`;
        seen.set(k, (seen.get(k) || 0) + 1);
        if (!(p in first)) first[p] = o;
        last = o;
        total++;
      }
      if (last !== null) {
        await consumer.commitOffsets([{ topic, partition: p, offset: String(last + 1) }]);
        committed[p] = Math.max(committed[p], last + 1);
      }
    },
  });
  const deadline = Date.now() + 60000;
  while (seen.size < want) {
    if (errors.length) break;
    if (Date.now() > deadline) {
      fail(`${name}: read ${seen.size} of ${want} records within 60s (committed ${JSON.stringify(committed)})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 1000)); // anything extra would show up now
  await consumer.disconnect();
  if (errors.length) fail(`${errors.length} error(s): ${errors.slice(0, 5).join('; ')}`);
  log(`${name}: read ${seen.size} distinct records (${total} deliveries), first offsets ${JSON.stringify(first)}`);
  return { seen, first, total };
}

async function committedOffsets(admin) {
  const res = await admin.fetchOffsets({ groupId, topics: [topic] });
  const out = new Array(PARTS).fill(null);
  for (const { partition, offset } of res[0].partitions) out[partition] = Number(offset);
  return out;
}

async function main() {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTS, replicationFactor: 1 }], waitForLeaders: true });
  log(`created ${topic}`);
  const zero = new Array(PARTS).fill(0);
  const end = await produce(N, zero, 'a');

  const committed = zero.slice();
  const r1 = await runMember('run1', committed, N);
  for (let p = 0; p < PARTS; p++) {
    for (let o = 0; o < end[p]; o++) {
      if (!r1.seen.has(`${p}:${o}`)) fail(`run1 never got (p${p}, o${o})`);
    }
  }
  if (r1.total !== N) log(`run1: ${r1.total - N} uncommitted records delivered again (legal: rebalance)`);
  const fetched = await committedOffsets(admin);
  if (JSON.stringify(fetched) !== JSON.stringify(end)) {
    fail(`admin.fetchOffsets after run1: ${JSON.stringify(fetched)}, expected ${JSON.stringify(end)}`);
  }
  log(`run1 committed ${JSON.stringify(fetched)}`);

  const end2 = await produce(M, end, 'b');
  const r2 = await runMember('run2', fetched.slice(), M);
  for (let p = 0; p < PARTS; p++) {
    if (end2[p] > end[p] && r2.first[p] !== end[p]) {
      fail(`run2's first record on p${p} is offset ${r2.first[p]}, expected the committed ${end[p]}`);
    }
    for (let o = end[p]; o < end2[p]; o++) {
      if (!r2.seen.has(`${p}:${o}`)) fail(`run2 never got (p${p}, o${o})`);
    }
  }
  if (r2.seen.size !== M) fail(`run2 read ${r2.seen.size} records, expected only the ${M} new ones`);
  const fetched2 = await committedOffsets(admin);
  if (JSON.stringify(fetched2) !== JSON.stringify(end2)) {
    fail(`admin.fetchOffsets after run2: ${JSON.stringify(fetched2)}, expected ${JSON.stringify(end2)}`);
  }
  await admin.disconnect();
  log('check-group-kafkajs: PASS');
  process.exit(0);
}

main().catch((e) => fail(`${e && e.stack ? e.stack : e}`));
