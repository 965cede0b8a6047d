import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { replay } from '../../src/replay.js';
import { generate } from '../../src/simulate/generate.js';

/**
 * Replaying the first half of a log, stopping, and replaying the second half from the saved state
 * must produce exactly the alerts of one continuous replay: same transitions, ids, order and text.
 */
describe('replay in parts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-resume-'));
  const log = join(dir, 'audit.jsonl');
  // About a gigabyte of generated log: not left behind.
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeAll(async () => {
    await generate({
      out: log,
      seed: 11,
      days: 9,
      identities: 40,
      perKind: 1,
      start: Date.parse('2026-01-05T00:00:00Z'),
    });
  }, 120_000);

  const { config } = loadConfig({ environment: 'development' });
  const read = (path: string) =>
    readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as unknown);

  it('gives the same alert transitions as one continuous run', async () => {
    const whole = join(dir, 'whole.ndjson');
    await replay({ config, input: log, alertsOut: whole, stateDir: join(dir, 'state-whole') });

    // Cut at the line boundary nearest the middle, wherever that falls (often between a request
    // and its response).
    const bytes = readFileSync(log);
    const cut = bytes.indexOf(10, Math.floor(bytes.length / 2)) + 1;
    const first = join(dir, 'first.jsonl');
    const second = join(dir, 'second.jsonl');
    writeFileSync(first, bytes.subarray(0, cut));
    writeFileSync(second, bytes.subarray(cut));
    const parts = join(dir, 'parts.ndjson');
    const state = join(dir, 'state-parts');
    await replay({ config, input: first, alertsOut: parts, stateDir: state });
    await replay({ config, input: second, alertsOut: parts, stateDir: state });

    const a = read(whole);
    const b = read(parts);
    expect(a.length).toBeGreaterThan(5);
    expect(b).toEqual(a);
  }, 120_000);
});
