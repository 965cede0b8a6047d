// Child of bench/run.mjs: memory over a long run. A fixed population of identities makes
// `events` accesses (two lines each) through the pipeline in event time; RSS and heap are sampled at
// every tenth of the run. Once every identity has been seen, memory should stay flat.
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../dist/config/load.js';
import { createPipeline, loadConfiguredDetectors } from '../dist/core.js';
import { emptyOutput } from '../dist/pipeline.js';

const events = Number(process.argv[2] ?? 10_000_000);
const identities = 5000;
const { config } = loadConfig({ environment: 'development' });
const pipeline = createPipeline(config, loadConfiguredDetectors(config));
const hmac = (n) => 'hmac-sha256:' + n.toString(16).padStart(64, '0');
const auths = [];
for (let i = 0; i < identities; i++) {
  auths.push(
    `{"client_token":"${hmac(i)}","accessor":"${hmac(i + 1e6)}","display_name":"${i % 10 ? 'approle' : `userpass-u${i}`}","policies":["default","team-${i % 40}"],"entity_id":"e-${i}","token_type":"service"}`,
  );
}
const T0 = Date.parse('2026-01-05T00:00:00Z');
const spanMs = 30 * 86_400_000;
const samples = [];
const batch = [];
const started = Date.now();
for (let k = 0; k < events; k++) {
  const i = (k * 7919) % identities;
  const t = new Date(T0 + Math.floor((k / events) * spanMs)).toISOString();
  const id = randomUUID();
  const req = `{"id":"${id}","operation":"read","mount_point":"secret/","mount_type":"kv","namespace":{"id":"root"},"path":"secret/data/team-${i % 40}/svc-${i}/key-${k % 5}","remote_address":"10.${i >> 8}.${i & 255}.${k % 4}","remote_port":40001}`;
  batch.push({
    line: Buffer.from(`{"time":"${t}","auth":${auths[i]},"request":${req},"type":"request"}`),
    origin: 'bench',
  });
  batch.push({
    line: Buffer.from(
      `{"time":"${t}","auth":${auths[i]},"request":${req},"response":{"mount_type":"kv"},"type":"response"}`,
    ),
    origin: 'bench',
  });
  if (batch.length >= 2000) {
    pipeline.processRecords(batch, emptyOutput());
    batch.length = 0;
  }
  if ((k + 1) % Math.floor(events / 10) === 0) {
    globalThis.gc?.();
    const m = process.memoryUsage();
    samples.push({ pct: Math.round(((k + 1) / events) * 100), rss: m.rss, heap: m.heapUsed });
  }
}
console.log(
  JSON.stringify({
    events,
    lines: pipeline.counters.lines,
    identities,
    seconds: (Date.now() - started) / 1000,
    samples,
  }),
);
