// Child of bench/run.mjs: detection latency of the daemon. A sender thread writes benign audit lines
// to the daemon's socket source at a sustained rate and, every 100 ms, a root-token access of a new
// identity; an extra alert output records when each probe's alert is written. Latency = written −
// sent, on the process-wide monotonic clock.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadConfig } from '../dist/config/load.js';
import { Daemon } from '../dist/daemon.js';
import { silentLogger } from '../dist/ops/logger.js';

const rate = Number(process.argv[2] ?? 20_000);
const seconds = Number(process.argv[3] ?? 30);
const dir = mkdtempSync(join(tmpdir(), 'vigil-latency-'));
const base = loadConfig({ environment: 'development' }).config;
const config = {
  ...base,
  state: { ...base.state, dir: join(dir, 'state') },
  sources: {
    ...base.sources,
    file: { ...base.sources.file, enabled: false },
    socket: { ...base.sources.socket, port: 0 },
  },
  outputs: {
    ...base.outputs,
    alert_log: { ...base.outputs.alert_log, path: join(dir, 'alerts.ndjson') },
    console: 'never',
  },
  dead_letter: { ...base.dead_letter, path: join(dir, 'dead.ndjson') },
  http: { ...base.http, enabled: false },
};
const arrived = new Map();
const probeSink = {
  name: 'latency-probe',
  async write(transitions) {
    const now = process.hrtime.bigint();
    for (const t of transitions) {
      const id = t.alert.identity?.entityId;
      if (t.action === 'open' && id?.startsWith('probe-') && !arrived.has(id)) arrived.set(id, now);
    }
  },
  async flush() {},
  async close() {},
};
const daemon = new Daemon({ config, logger: silentLogger(), extraSinks: [probeSink], receivers: [] });
await daemon.start();
const port = daemon.sources.find((s) => s.name === 'socket').address().port;

const worker = new Worker(new URL('./latency-sender.mjs', import.meta.url), {
  workerData: { port, rate, seconds },
});
const sent = await new Promise((resolve, reject) => {
  worker.once('message', resolve);
  worker.once('error', reject);
});
await new Promise((r) => setTimeout(r, 2000));
const processedLines = daemon.pipeline.counters.lines;
await daemon.stop();

const lat = [];
let missing = 0;
for (const [id, at] of sent.probes) {
  const got = arrived.get(id);
  if (got === undefined) missing++;
  else lat.push(Number(got - BigInt(at)) / 1e6);
}
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
console.log(
  JSON.stringify({
    sentLines: sent.lines,
    seconds: sent.seconds,
    achievedRate: sent.lines / sent.seconds,
    processedLines,
    samples: lat.length,
    missing,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    max: lat.at(-1) ?? NaN,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
