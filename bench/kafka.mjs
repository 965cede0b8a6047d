#!/usr/bin/env node
// Kafka benchmark against a real broker (scripts/services/up.sh), using the built daemon (dist/):
//
//   (a) baseline: bare kafkajs consumer group, eachBatch, no processing            lines/s
//   (b) pipeline: Daemon + KafkaSource with the default detectors, same topic      lines/s
//   (c) latency:  produce-to-alert p50/p99 for rule-triggering accesses produced at a steady rate
//                 among background traffic, measured when the alert's open transition reaches
//                 an output (an extra alert sink records the wall-clock arrival)
//
//   npm run build && node bench/kafka.mjs
//
// Environment: VIGIL_KAFKA_BROKERS (default 127.0.0.1:9092), BENCH_KAFKA_LINES (100000),
// BENCH_KAFKA_PARTITIONS (3), BENCH_KAFKA_RATE (background lines/s for (c), 2000),
// BENCH_KAFKA_SAMPLES (latency samples, 100). Exits 1 with a message if the broker is unreachable.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const brokers = (process.env.VIGIL_KAFKA_BROKERS || '127.0.0.1:9092').split(',').map((b) => b.trim());
const LINES = Number(process.env.BENCH_KAFKA_LINES || 100_000);
const PARTITIONS = Number(process.env.BENCH_KAFKA_PARTITIONS || 3);
const RATE = Number(process.env.BENCH_KAFKA_RATE || 2000);
const SAMPLES = Number(process.env.BENCH_KAFKA_SAMPLES || 100);

let dist;
try {
  dist = {
    ...(await import('../dist/daemon.js')),
    ...(await import('../dist/config/load.js')),
    ...(await import('../dist/ingest/kafka.js')),
    ...(await import('../dist/ops/logger.js')),
  };
} catch (err) {
  console.error(`bench/kafka: cannot load dist/ (${err.message}); run \`npm run build\` first`);
  process.exit(1);
}

const kafka = new Kafka({
  clientId: 'vigil-bench',
  brokers,
  logLevel: logLevel.NOTHING,
  connectionTimeout: 3000,
  retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1000 },
});
const admin = kafka.admin();
try {
  await admin.connect();
  await admin.listTopics();
} catch (err) {
  console.error(
    `bench/kafka: the Kafka broker at ${brokers.join(',')} is not reachable (${err.message}).\n` +
      'Start it with scripts/services/up.sh (or set VIGIL_KAFKA_BROKERS).',
  );
  process.exit(1);
}
const producer = kafka.producer({
  createPartitioner: Partitioners.DefaultPartitioner,
  allowAutoTopicCreation: false,
});
await producer.connect();

// ---------------------------------------------------------------------------------------------
// Audit lines from the fixture's templates (a KV read, and a Raft snapshot download that fires
// raft-snapshot-taken), with a fresh request id, time and identity each.

const fixture = readFileSync(join(ROOT, 'test/fixtures/audit/vault-1.18.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean);
const pairOf = (id) => {
  const lines = fixture.map((l) => JSON.parse(l)).filter((e) => e.request?.id === id);
  return [lines.find((e) => e.type === 'request'), lines.find((e) => e.type === 'response')];
};
const KV = pairOf('5e1f0c2a-0000-4000-8000-000000000001');
const RAFT = pairOf('5e1f0c2a-0000-4000-8000-000000000024');

function access(template, identity, timeMs, i) {
  const requestId = randomUUID();
  return template.map((t, j) => {
    const e = JSON.parse(JSON.stringify(t));
    e.time = new Date(timeMs + j * 3).toISOString();
    e.auth.entity_id = identity;
    e.auth.display_name = `userpass-${identity.slice(0, 12)}`;
    e.request.id = requestId;
    e.request.client_id = identity;
    e.request.remote_address = `10.30.${(i >> 8) & 255}.${i & 255}`;
    return { key: identity, value: JSON.stringify(e) };
  });
}
const benign = (i, t) =>
  access(KV, `bench-${String(i % 200).padStart(4, '0')}-aaaa-4c1d-9e8f-000000000000`, t, i);
const trigger = (n, t) => access(RAFT, `bench-trigger-${n}-${randomUUID()}`, t, n);

async function produceAll(topic, messages, chunk = 1000) {
  for (let i = 0; i < messages.length; i += chunk) {
    await producer.send({ topic, acks: 1, messages: messages.slice(i, i + chunk) });
  }
}

const topics = [];
async function newTopic(prefix) {
  const topic = `${prefix}-${randomUUID().slice(0, 8)}`;
  topics.push(topic);
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
  });
  return topic;
}

function daemonConfig(dir, topic, groupId, fromBeginning) {
  const file = join(dir, 'vigil.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      state: { dir: join(dir, 'state') },
      sources: {
        file: { enabled: false },
        socket: { enabled: false },
        kafka: { enabled: true, brokers, group_id: groupId, topics: [topic], from_beginning: fromBeginning },
      },
      dead_letter: { path: join(dir, 'dead-letter.ndjson') },
      outputs: { alert_log: { path: join(dir, 'alerts.ndjson') }, console: 'never' },
      notify: { receivers: [], route: { receivers: [] } },
      http: { enabled: false },
      log: { level: 'error', pretty: 'never' },
    }),
  );
  return dist.loadConfig({ file, environment: 'development', env: {} }).config;
}

const waitUntil = async (cond, ms, what) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const fmt = (n) => Math.round(n).toLocaleString('en-US');

// ---------------------------------------------------------------------------------------------

const results = [];
const dirs = [];
try {
  // Pre-fill one topic for (a) and (b).
  const topic = await newTopic('vigil-bench');
  const messages = [];
  const t0 = Date.now() - 3_600_000;
  for (let i = 0; messages.length < LINES; i++) messages.push(...benign(i, t0 + i));
  messages.length = LINES;
  const bytes = messages.reduce((n, m) => n + Buffer.byteLength(m.value), 0);
  process.stderr.write(
    `producing ${fmt(LINES)} audit lines (${(bytes / 1e6).toFixed(1)} MB) to ${topic}...\n`,
  );
  await produceAll(topic, messages);

  // (a) bare kafkajs consumer.
  {
    const consumer = kafka.consumer({ groupId: `vigil-bench-${randomUUID()}`, maxWaitTimeInMs: 100 });
    let n = 0;
    let start = 0;
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        if (start === 0) start = performance.now();
        n += batch.messages.length;
        const last = batch.messages[batch.messages.length - 1];
        if (last) resolveOffset(last.offset);
        await heartbeat();
      },
    });
    await waitUntil(() => n >= LINES, 300_000, 'the baseline consumer');
    const secs = (performance.now() - start) / 1000;
    await consumer.disconnect();
    results.push([
      '(a) kafkajs consume only (eachBatch)',
      `${fmt(LINES / secs)} lines/s`,
      `${(bytes / 1e6 / secs).toFixed(1)} MB/s`,
    ]);
  }

  // (b) the daemon pipeline.
  {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-kafka-'));
    dirs.push(dir);
    const config = daemonConfig(dir, topic, `vigil-bench-${randomUUID()}`, true);
    const logger = dist.createLogger({ level: 'error' });
    // The daemon builds its Kafka source from sources.kafka, as `vigil run` does.
    const daemon = new dist.Daemon({ config, logger });
    await daemon.start();
    let start = 0;
    await waitUntil(
      () => {
        if (start === 0 && daemon.pipeline.counters.lines > 0) start = performance.now();
        return daemon.pipeline.counters.lines >= LINES;
      },
      600_000,
      'the daemon to process the topic',
    );
    const secs = (performance.now() - start) / 1000;
    const events = daemon.pipeline.counters.events;
    await daemon.stop();
    results.push([
      '(b) Daemon + KafkaSource, default detectors',
      `${fmt(LINES / secs)} lines/s`,
      `${fmt(events / secs)} accesses/s, ${daemon.detectors.filter((d) => d.enabled).length} detectors`,
    ]);
  }

  // (c) produce-to-alert latency at a steady rate.
  {
    const ltopic = await newTopic('vigil-bench-latency');
    const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-kafka-'));
    dirs.push(dir);
    const config = daemonConfig(dir, ltopic, `vigil-bench-${randomUUID()}`, false);
    const logger = dist.createLogger({ level: 'error' });
    const producedAt = new Map();
    const latencies = [];
    const recorder = {
      name: 'bench-latency',
      async write(transitions, recovering) {
        if (recovering) return;
        const now = performance.now();
        for (const t of transitions) {
          const sent = t.action === 'open' ? producedAt.get(t.alert.identity?.entityId) : undefined;
          if (sent !== undefined) latencies.push(now - sent);
        }
      },
      async flush() {},
      async close() {},
    };
    const daemon = new dist.Daemon({ config, logger, extraSinks: [recorder] });
    const source = daemon.kafka;
    await daemon.start();
    await waitUntil(() => source.isReady(), 60_000, 'the latency consumer to join');
    // Every 50 ms: RATE/20 background lines, and a trigger every 4th tick (5 per second).
    const tickMs = 50;
    const perTick = Math.max(2, Math.round(RATE / (1000 / tickMs)));
    let i = 0;
    let n = 0;
    let tick = 0;
    const startWall = Date.now();
    while (n < SAMPLES) {
      const tickStart = performance.now();
      const now = Date.now();
      const batch = [];
      while (batch.length < perTick) batch.push(...benign(i++, now));
      if (tick++ % 4 === 0) {
        const [req, res] = trigger(n++, now);
        producedAt.set(req.key, performance.now());
        batch.push(req, res);
      }
      await producer.send({ topic: ltopic, acks: 1, messages: batch });
      const spent = performance.now() - tickStart;
      if (spent < tickMs) await new Promise((r) => setTimeout(r, tickMs - spent));
    }
    const achieved = (i * 2) / ((Date.now() - startWall) / 1000);
    await waitUntil(() => latencies.length >= SAMPLES, 60_000, 'every trigger alert');
    await daemon.stop();
    const sorted = latencies.sort((a, b) => a - b);
    results.push([
      '(c) produce → alert transition latency',
      `p50 ${pct(sorted, 50).toFixed(1)} ms, p99 ${pct(sorted, 99).toFixed(1)} ms (max ${sorted[sorted.length - 1].toFixed(1)})`,
      `${SAMPLES} alerts amid ~${fmt(achieved)} lines/s`,
    ]);
  }
} finally {
  await producer.disconnect().catch(() => undefined);
  if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

const cpu = cpus();
console.log(
  `\nKafka benchmark: ${fmt(LINES)} lines, ${PARTITIONS} partitions, broker ${brokers.join(',')}; ` +
    `Node ${process.version}, ${cpu.length} × ${cpu[0]?.model ?? 'cpu'}`,
);
const widths = [0, 1, 2].map((c) => Math.max(...results.map((r) => r[c].length), 8));
for (const r of results) console.log(`  ${r.map((c, k) => c.padEnd(widths[k])).join('   ')}`.trimEnd());
