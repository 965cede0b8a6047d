import fc from 'fast-check';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAuditLine, peekRequest } from '../../src/audit/entry.js';
import { looksSecret } from '../../src/audit/secrets.js';
import { loadDetectors } from '../../src/detect/loader.js';
import { FileDeadLetterSink } from '../../src/ingest/dead-letter.js';
import { Metrics } from '../../src/ops/metrics.js';
import type { RawRecord } from '../../src/ingest/source.js';
import { emptyOutput, Pipeline } from '../../src/pipeline.js';

/**
 * Bad input is data: every hostile line is counted and set aside, nothing escapes as an exception,
 * and good lines around bad ones are processed as if the bad ones were not there.
 */
const detectors = loadDetectors(fileURLToPath(new URL('../../detectors', import.meta.url)));
const fixture = readFileSync(new URL('../fixtures/audit/vault-1.18.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter(Boolean);

const newPipeline = () =>
  new Pipeline({ detectors, env: { timeZone: 'UTC', rotationPolicies: [] }, tickMs: 10_000 });
const record = (line: Buffer | string, i = 0): RawRecord => ({
  line: typeof line === 'string' ? Buffer.from(line) : line,
  origin: `test:${i}`,
});

const CANARY = 'hvs.CANARYCANARYCANARYCANARY0123456789';

const hostile: [string, Buffer | string][] = [
  ['truncated JSON', fixture[0]!.slice(0, 200)],
  ['truncated at the very end', fixture[1]!.slice(0, -1)],
  ['deeply nested arrays', '{"a":' + '['.repeat(200_000) + ']'.repeat(200_000) + '}'],
  ['deeply nested objects', '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000)],
  ['wrong types everywhere', '{"time":[],"type":{},"request":"x","auth":7}'],
  [
    'number as time',
    '{"time":1700000000,"type":"request","request":{"id":"x","path":"a","operation":"read"}}',
  ],
  [
    'huge field',
    `{"time":"2026-03-02T14:00:00Z","type":"request","request":{"id":"x","path":"${'a'.repeat(2_000_000)}","operation":"read"}}`,
  ],
  ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x74, 0xc3, 0x28, 0x22, 0x7d])],
  [
    'invalid UTF-8 inside otherwise valid JSON',
    Buffer.concat([
      Buffer.from(
        '{"time":"2026-03-02T14:00:00Z","type":"response","request":{"id":"u8","path":"secret/data/',
      ),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('","operation":"read"}}'),
    ]),
  ],
  [
    'lone surrogate escape',
    '{"time":"2026-03-02T14:00:00Z","type":"response","request":{"id":"s","path":"secret/\\ud800","operation":"read"},"error":"\\udfff"}',
  ],
  ['binary noise', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256))],
  ['NUL bytes', Buffer.from('{"time":"\u0000","type":"request"}')],
  [
    'secret in clear in a broken line',
    `{"time":"2026-03-02T14:00:00Z","auth":{"client_token":"${CANARY}"},"request":{"id":"y","pa`,
  ],
  [
    'looks like a request, is not JSON',
    '{"time":"2026-03-02T14:00:00.000Z","x":"request":{"id":"zz",,,,"type":"request"}',
  ],
  ['bare token in a line that is not JSON', `garbage ${CANARY} tail`],
  ['JSON null', 'null'],
  ['a string', '"hello"'],
  [
    '__proto__ pollution attempt',
    '{"__proto__":{"polluted":true},"time":"2026-03-02T14:00:00Z","type":"response","request":{"id":"p","path":"a","operation":"read"}}',
  ],
];

describe('hostile lines', () => {
  it.each(hostile)('%s: never throws from the parser', (_name, line) => {
    expect(() => parseAuditLine(line)).not.toThrow();
    expect(() => peekRequest(typeof line === 'string' ? Buffer.from(line) : line)).not.toThrow();
  });

  it('are all dead-lettered (or safely parsed), and good lines around them give the same alerts', async () => {
    const clean = newPipeline();
    const cleanOut = emptyOutput();
    clean.processRecords(
      fixture.map((l, i) => record(l, i)),
      cleanOut,
    );
    clean.drain(cleanOut);

    const mixed = newPipeline();
    const mixedOut = emptyOutput();
    const records: RawRecord[] = [];
    fixture.forEach((l, i) => {
      records.push(record(l, i));
      const bad = hostile[i % hostile.length];
      // Distinct request ids, so repeated hostile lines are not simply recognised as duplicates.
      const text = typeof bad?.[1] === 'string' ? bad[1].replaceAll('"id":"', `"id":"${i}-`) : bad?.[1];
      if (text !== undefined) records.push(record(text, 1000 + i));
    });
    expect(() => mixed.processRecords(records, mixedOut)).not.toThrow();
    mixed.drain(mixedOut);

    expect(cleanOut.transitions.length).toBeGreaterThan(5);
    expect(mixedOut.transitions.map((t) => t.alert.id)).toEqual(cleanOut.transitions.map((t) => t.alert.id));
    // Every good access is there, plus the odd but valid hostile ones.
    expect(mixed.counters.events).toBe(clean.counters.events + countValidOddities(records));
    // Every hostile line is counted as dead-lettered, except two that are valid (if odd) entries and
    // become accesses of their own: the prototype one and the 2 MB path (the sources cap line length,
    // this test feeds the pipeline directly).
    expect(mixed.counters.deadLettered).toBe(records.length - fixture.length - countValidOddities(records));
    expect(mixedOut.deadLetters.length).toBe(mixed.counters.deadLettered);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();

    // Counted in the metrics, by a bounded reason ...
    const metrics = new Metrics({ processMetrics: false });
    metrics.recordStep(mixedOut, 'file');
    const counted =
      (await metrics.registry.getSingleMetric('vigil_dead_lettered_total')?.get())?.values ?? [];
    expect(counted.reduce((sum, v) => sum + v.value, 0)).toBe(mixed.counters.deadLettered);
    for (const v of counted) expect(String(v.labels['reason'])).toMatch(/^[^"]{1,60}$/);
    // ... and set aside in the dead-letter file, one readable record each, with nothing secret in it.
    const dir = mkdtempSync(join(tmpdir(), 'vigil-hostile-'));
    const sink = new FileDeadLetterSink({ path: join(dir, 'dead.ndjson') });
    for (const d of mixedOut.deadLetters)
      await sink.put({ at: 'now', source: 'file', origin: d.origin, reason: d.reason, line: d.line });
    await sink.close();
    const stored = readFileSync(join(dir, 'dead.ndjson'), 'utf8').split('\n').filter(Boolean);
    expect(stored).toHaveLength(mixed.counters.deadLettered);
    for (const text of stored) {
      const r = JSON.parse(text) as { reason?: string; origin?: string };
      expect(r.reason).toBeTruthy();
      expect(r.origin).toMatch(/^test:\d+$/);
      expect(text).not.toContain(CANARY);
      expect(looksSecret(text)).toBe(false);
    }
  });
});

function countValidOddities(records: RawRecord[]): number {
  return records.filter((r) => {
    const head = r.line.toString('latin1', 0, 200);
    return (
      head.startsWith('{"__proto__"') ||
      head.includes('"path":"aaaaaaaa') ||
      head.includes('"path":"secret/\\ud800')
    );
  }).length;
}

describe('properties', () => {
  it('the parser returns a result for any byte string and never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const b = Buffer.from(bytes);
        const r = parseAuditLine(b);
        expect(typeof r.ok).toBe('boolean');
        peekRequest(b);
      }),
      { numRuns: 2000 },
    );
  });

  it('any JSON value is either a valid entry or a reason', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const r = parseAuditLine(JSON.stringify(value) ?? 'null');
        if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });

  it('mutating real entries (cut, splice, flip bytes) never throws through the whole pipeline', () => {
    const line = fc.constantFrom(...fixture);
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.string({ maxLength: 20 }) }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(line, mutation), { minLength: 1, maxLength: 40 }), (items) => {
        const p = newPipeline();
        const out = emptyOutput();
        const records = items.map(([l, m], i) => {
          const b = Buffer.from(l);
          const at = m.at % (b.length + 1);
          if (m.kind === 'cut') return record(b.subarray(0, at), i);
          if (m.kind === 'flip') {
            const c = Buffer.from(b);
            if (c.length > 0) c[at % c.length] = m.byte;
            return record(c, i);
          }
          return record(Buffer.concat([b.subarray(0, at), Buffer.from(m.text), b.subarray(at)]), i);
        });
        p.processRecords(records, out);
        p.drain(out);
        const accounted = p.counters.entries + p.counters.deadLettered + p.counters.ignored;
        expect(accounted).toBe(records.length);
      }),
      { numRuns: 300 },
    );
  });
});
