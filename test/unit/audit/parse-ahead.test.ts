import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuditLine, peekRequest } from '../../../src/audit/entry.js';
import { ParseAhead } from '../../../src/audit/parse-ahead.js';
import { WireDecoder, WireEncoder, type Preparsed } from '../../../src/audit/parse-wire.js';
import { loadConfig } from '../../../src/config/load.js';
import type { RawRecord } from '../../../src/ingest/source.js';
import { createLogger, silentLogger } from '../../../src/ops/logger.js';
import { replay } from '../../../src/replay.js';
import { generate } from '../../../src/simulate/generate.js';

/** The compiled worker (`npm test` builds dist/ first; the TypeScript sources have no .js beside them). */
const WORKER = new URL('../../../dist/audit/parse-worker.js', import.meta.url);

/** What the pipeline computes for a line when it parses it itself. */
function inThread(line: Buffer): Preparsed {
  const peek = peekRequest(line);
  return peek ? { kind: 'request', ...peek } : { kind: 'entry', result: parseAuditLine(line) };
}

const dir = mkdtempSync(join(tmpdir(), 'vigil-parse-ahead-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const log = join(dir, 'audit.jsonl');
const lines: Buffer[] = [];

const HOSTILE = [
  '{"time":"2026-01-05T00:00:00Z","type":"response"',
  '{"type":"request"}',
  '[]',
  '{"time":"2026-01-05T00:00:00Z","type":"kmip-request","request":{"path":"x","operation":"read"}}',
  'garbage',
].map((s) => Buffer.from(s));
HOSTILE.push(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));

beforeAll(async () => {
  await generate({
    out: log,
    seed: 5,
    days: 8,
    identities: 30,
    perKind: 1,
    start: Date.parse('2026-01-05T00:00:00Z'),
  });
  const bytes = readFileSync(log);
  let at = 0;
  for (;;) {
    const nl = bytes.indexOf(10, at);
    if (nl < 0) break;
    if (nl > at) lines.push(bytes.subarray(at, nl));
    at = nl + 1;
  }
}, 120_000);

describe('parse wire', () => {
  it('decodes to exactly what the pipeline thread would have parsed', () => {
    const sample = [...lines.slice(0, 4000), ...HOSTILE];
    const encoder = new WireEncoder();
    const decoder = new WireDecoder();
    const decoded: Preparsed[] = [];
    for (let i = 0; i < sample.length; i += 500)
      decoded.push(...decoder.decode(encoder.encode(sample.slice(i, i + 500))));
    expect(decoded).toEqual(sample.map(inThread));
    expect(decoded.filter((d) => d.kind === 'request').length).toBeGreaterThan(1000);
    expect(decoded.filter((d) => d.kind === 'entry' && !d.result.ok).length).toBe(HOSTILE.length);
  });

  it('sends each identity once, and starts both tables afresh at the cap', () => {
    const sample = lines.slice(0, 3000);
    const encoder = new WireEncoder(5);
    const decoder = new WireDecoder();
    const batches = [];
    for (let i = 0; i < sample.length; i += 300) batches.push(encoder.encode(sample.slice(i, i + 300)));
    expect(batches.some((b) => b.reset)).toBe(true);
    const sent = batches.reduce((n, b) => n + b.identities.length, 0);
    const responses = sample.filter((l) => !peekRequest(l)).length;
    expect(sent).toBeLessThan(responses);
    expect(batches.flatMap((b) => decoder.decode(b))).toEqual(sample.map(inThread));
  });

  it('shares identities frozen, so no consumer can change another event’s caller', () => {
    const decoded = new WireDecoder().decode(new WireEncoder().encode(lines.slice(0, 200)));
    const entry = decoded.find((d) => d.kind === 'entry' && d.result.ok);
    if (entry?.kind !== 'entry' || !entry.result.ok) throw new Error('no parsed entry in the sample');
    const identity = entry.result.entry.identity;
    expect(Object.isFrozen(identity)).toBe(true);
    expect(() => identity.policies.push('root')).toThrow(TypeError);
  });
});

describe('parse worker', () => {
  const records = (from: Buffer[]): RawRecord[] =>
    from.map((line, i) => ({ line: Buffer.from(line), origin: `test:${i}` }));

  it('parses batches on its thread, and the records survive their source reusing its buffer', async () => {
    const ahead = ParseAhead.start(silentLogger(), WORKER);
    if (!ahead) throw new Error('worker script missing: run npm run build');
    try {
      const batch = records(lines.slice(100, 400));
      const originals = batch.map((r) => r.line);
      const { parsed, release } = ahead.parse(batch);
      for (const b of originals) b.fill(0x20); // the source overwrites its read buffer
      const results = await parsed;
      release();
      expect(results).toEqual(lines.slice(100, 400).map(inThread));
      expect(batch.map((r) => r.line)).toEqual(lines.slice(100, 400));
    } finally {
      await ahead.close();
    }
  });

  it('sends lines already in shared memory as they are, and copies the others', async () => {
    const ahead = ParseAhead.start(silentLogger(), WORKER);
    if (!ahead) throw new Error('worker script missing: run npm run build');
    try {
      const sample = lines.slice(500, 700);
      const shared = Buffer.from(new SharedArrayBuffer(sample.reduce((n, l) => n + l.length, 0)));
      let at = 0;
      const batch: RawRecord[] = sample.map((line, i) => {
        if (i % 2) return { line: Buffer.from(line), origin: `test:${i}` };
        line.copy(shared, at);
        at += line.length;
        return { line: shared.subarray(at - line.length, at), origin: `test:${i}` };
      });
      const before = batch.map((r) => r.line);
      const { parsed, release } = ahead.parse(batch);
      const results = await parsed;
      release();
      expect(results).toEqual(sample.map(inThread));
      expect(batch.filter((r, i) => r.line === before[i]).length).toBe(100);
      expect(batch.every((r) => r.line.buffer instanceof SharedArrayBuffer)).toBe(true);
    } finally {
      await ahead.close();
    }
  });

  it('answers undefined once the worker dies, so the pipeline parses for itself', async () => {
    const script = join(dir, 'dying-worker.mjs');
    writeFileSync(
      script,
      "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => process.exit(3));\n",
    );
    const ahead = ParseAhead.start(silentLogger(), pathToFileURL(script));
    if (!ahead) throw new Error('no worker');
    try {
      expect(ahead.available).toBe(true);
      const { parsed } = ahead.parse(records(lines.slice(0, 100)));
      expect(await parsed).toBeUndefined();
      expect(ahead.available).toBe(false);
    } finally {
      await ahead.close();
    }
  });

  it('gives a replay exactly the alerts of parsing on the pipeline thread, and survives a dead worker', async () => {
    const { config } = loadConfig({ environment: 'development' });
    const run = async (name: string, parse_worker: boolean, script?: URL) => {
      const out = join(dir, `${name}.ndjson`);
      const logs: string[] = [];
      const summary = await replay({
        config: { ...config, pipeline: { ...config.pipeline, parse_worker } },
        input: log,
        alertsOut: out,
        logger: createLogger({ level: 'info', destination: { write: (l: string) => logs.push(l) } }),
        ...(script ? { parseWorkerScript: script } : {}),
      });
      return { summary, alerts: readFileSync(out, 'utf8'), logs: logs.join('') };
    };
    const inline = await run('inline', false);
    const worker = await run('worker', true, WORKER);
    const dying = await run('dying', true, pathToFileURL(join(dir, 'dying-worker.mjs')));
    expect(inline.summary.counters.opened).toBeGreaterThan(3);
    expect(worker.alerts).toBe(inline.alerts);
    expect(worker.summary.counters).toEqual(inline.summary.counters);
    expect(worker.logs).not.toMatch(/pipeline thread/);
    expect(dying.logs).toMatch(/parse worker failed; parsing on the pipeline thread/);
    expect(dying.alerts).toBe(inline.alerts);
    expect(dying.summary.counters).toEqual(inline.summary.counters);
  }, 120_000);
});
