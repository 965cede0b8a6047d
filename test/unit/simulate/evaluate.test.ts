import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { CaptureSink, formatReport, runEvaluation } from '../../../src/simulate/evaluate.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-eval-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('evaluation harness', () => {
  it('simulates once, replays through the real pipeline, scores, and reuses the cache', async () => {
    const config = loadConfig({ env: {} }).config;
    const opts = {
      seed: 4,
      days: 2,
      identities: 10,
      perKind: 1,
      scenarios: ['brute_force', 'root_token'] as const,
      cacheDir: dir,
      config,
    };
    const first = await runEvaluation({ ...opts, scenarios: [...opts.scenarios] });
    expect(first.cached).toBe(false);
    expect(existsSync(first.logPath)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const r = first.report;
    const replay = r.run['replay'] as {
      lines: number;
      deadLettered: number;
      pairs: { requestOnly: number; responseOnly: number };
    };
    expect(replay.lines).toBe(r.run['lines']);
    expect(replay.deadLettered).toBe(0);
    expect(replay.pairs.requestOnly + replay.pairs.responseOnly).toBe(0);
    expect(r.scenarios.map((s) => s.kind).sort()).toEqual(['brute_force', 'root_token']);
    expect(r.identityDaysAfterWarmup).toBeGreaterThan(0);
    expect(formatReport(r)).toContain('targets');

    const again = await runEvaluation({ ...opts, scenarios: [...opts.scenarios] });
    expect(again.cached).toBe(true);
    expect(again.logPath).toBe(first.logPath);
    // Same log, same configuration: same alerts, same score.
    expect(again.report.alerts).toEqual(r.alerts);
    expect(again.report.scenarios).toEqual(r.scenarios);
  }, 120_000);

  it('the capture sink keeps opens and counts the rest, skipping recovered transitions', async () => {
    const sink = new CaptureSink();
    const alert = {
      id: 'a',
      detector: 'd',
      paths: ['p'],
      eventIds: ['e'],
      evidence: { x: 1 },
      sourceAddresses: [],
    } as never;
    await sink.write([
      { action: 'open', at: '2026-01-01T00:00:00Z', alert },
      { action: 'update', at: '2026-01-01T00:01:00Z', alert },
    ]);
    await sink.write([{ action: 'open', at: '2026-01-01T00:00:00Z', alert }], true);
    expect(sink.counts).toEqual({ open: 1, update: 1, resolve: 0 });
    expect(sink.opened).toHaveLength(1);
    expect(sink.opened[0]?.alert.eventIds).toEqual([]);
  });
});
