import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runSimulate, simOptionsFrom } from '../../../src/simulate/command.js';
import { parseScenarioList } from '../../../src/simulate/generate.js';
import type { SimLabels } from '../../../src/simulate/labels.js';
import { Rng, quantile } from '../../../src/simulate/rng.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-simcmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('vigil simulate (runSimulate)', () => {
  it('writes the log and labels and says what it wrote', async () => {
    const out = join(dir, 'sub', 'audit.ndjson.gz');
    const printed: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    try {
      const code = await runSimulate({
        out,
        seed: '5',
        days: '2',
        identities: '10',
        scenarios: 'brute_force,root_token',
        intensity: '0.5',
        timeZone: 'America/New_York',
        start: '2026-02-02',
        progress: false,
      });
      expect(code).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(existsSync(out)).toBe(true);
    const labels = JSON.parse(readFileSync(`${out}.labels.json`, 'utf8')) as SimLabels;
    expect(labels.timeRange.start).toBe('2026-02-02T00:00:00.000Z');
    expect(labels.timeZone).toBe('America/New_York');
    expect(new Set(labels.scenarios.map((s) => s.kind))).toEqual(new Set(['brute_force', 'root_token']));
    const text = printed.join('');
    expect(text).toContain(`Wrote ${out}`);
    expect(text).toMatch(/identities 10: /);
    expect(text).toMatch(/scenarios \d+ /);
    expect(text).toContain('2026-02-02T00:00:00.000Z → 2026-02-04T00:00:00.000Z');
  }, 60_000);

  it('rejects bad options with exit code 2', async () => {
    const errors: string[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((m: string) => void errors.push(m));
    try {
      expect(await runSimulate({ out: join(dir, 'x.ndjson'), intensity: '2' })).toBe(2);
      expect(await runSimulate({ out: join(dir, 'x.ndjson'), scenarios: 'nope' })).toBe(2);
      expect(await runSimulate({ out: join(dir, 'x.ndjson'), timeZone: 'Mars/Olympus' })).toBe(2);
      expect(await runSimulate({ out: join(dir, 'x.ndjson'), days: 'many' })).toBe(2);
      expect(await runSimulate({ out: '' })).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(errors.join('\n')).toMatch(/intensity/);
    expect(errors.join('\n')).toMatch(/unknown scenario kind/);
    expect(errors.join('\n')).toMatch(/time zone/);
  });

  it('parses scenario lists and options', () => {
    expect(parseScenarioList('none')).toEqual([]);
    expect(parseScenarioList('all')).toHaveLength(14);
    expect(parseScenarioList('brute-force, root_token')).toEqual(['brute_force', 'root_token']);
    expect(simOptionsFrom({ out: 'x', seed: '3', start: '2026-01-05' })).toEqual({
      seed: 3,
      start: Date.parse('2026-01-05T00:00:00Z'),
    });
  });
});

describe('PRNG and distributions', () => {
  it('is deterministic per seed and label', () => {
    const a = Rng.derive(1, 'x');
    const b = Rng.derive(1, 'x');
    const c = Rng.derive(1, 'y');
    const seqA = Array.from({ length: 5 }, () => a.u32());
    expect(Array.from({ length: 5 }, () => b.u32())).toEqual(seqA);
    expect(Array.from({ length: 5 }, () => c.u32())).not.toEqual(seqA);
  });

  it('draws with the right means', () => {
    const r = new Rng(42);
    const mean = (f: () => number, n = 20_000) => {
      let s = 0;
      for (let i = 0; i < n; i++) s += f();
      return s / n;
    };
    expect(mean(() => r.poisson(3))).toBeCloseTo(3, 1);
    expect(mean(() => r.poisson(80))).toBeGreaterThan(79);
    expect(mean(() => r.poisson(80))).toBeLessThan(81);
    expect(mean(() => r.gammaNoise(12))).toBeCloseTo(1, 1);
    expect(mean(() => r.gamma(0.5, 2))).toBeCloseTo(1, 1);
    expect(
      quantile(
        Array.from({ length: 20_001 }, () => r.logNormal(6, 1)),
        0.5,
      ),
    ).toBeCloseTo(6, 0);
    expect(mean(() => r.next())).toBeCloseTo(0.5, 1);
  });

  it('quantiles interpolate', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([5], 0.95)).toBe(5);
    expect(Number.isNaN(quantile([], 0.5))).toBe(true);
  });
});
