import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../../src/audit/event.js';
import { parseAuditLine, type AuditEntry } from '../../../src/audit/entry.js';
import { Pairer } from '../../../src/audit/pairing.js';
import { looksSecret } from '../../../src/audit/secrets.js';
import { generate, type GenerateResult } from '../../../src/simulate/generate.js';
import type { SimLabels } from '../../../src/simulate/labels.js';
import { ZoneClock } from '../../../src/simulate/time.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-sim-'));
const small = { days: 3, identities: 16, perKind: 1, warmupDays: 1 };

interface Run {
  result: GenerateResult;
  text: string;
  lines: string[];
  entries: AuditEntry[];
  labels: SimLabels;
}

function load(path: string, result: GenerateResult): Run {
  const raw = readFileSync(path);
  const text = path.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  const lines = text.split('\n');
  expect(lines.pop()).toBe('');
  const entries: AuditEntry[] = [];
  for (const line of lines) {
    const parsed = parseAuditLine(line);
    if (!parsed.ok) throw new Error(`unparseable line (${parsed.reason}): ${line.slice(0, 200)}`);
    entries.push(parsed.entry);
  }
  const labels = JSON.parse(readFileSync(`${path}.labels.json`, 'utf8')) as SimLabels;
  return { result, text, lines, entries, labels };
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

let run: Run;
let plainPath: string;

beforeAll(async () => {
  plainPath = join(dir, 'a.ndjson');
  const result = await generate({ ...small, seed: 7, out: plainPath });
  run = load(plainPath, result);
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('simulate: determinism', () => {
  it('same seed → byte-identical log and labels; another seed → different', async () => {
    const again = join(dir, 'b.ndjson');
    await generate({ ...small, seed: 7, out: again });
    expect(sha(again)).toBe(sha(plainPath));
    expect(readFileSync(`${again}.labels.json`, 'utf8')).toBe(
      readFileSync(`${plainPath}.labels.json`, 'utf8'),
    );
    const other = join(dir, 'c.ndjson');
    await generate({ ...small, seed: 8, out: other });
    expect(sha(other)).not.toBe(sha(plainPath));
  }, 60_000);

  it('writes gzip when the name ends in .gz (same content)', async () => {
    const gz = join(dir, 'a.ndjson.gz');
    await generate({ ...small, seed: 7, out: gz });
    expect(
      createHash('sha256')
        .update(gunzipSync(readFileSync(gz)))
        .digest('hex'),
    ).toBe(sha(plainPath));
  }, 60_000);
});

describe('simulate: every line is a valid audit entry', () => {
  it('parses with Vigil’s parser and pairs without leftovers', () => {
    expect(run.lines.length).toBe(run.result.lines);
    expect(run.lines.length).toBeGreaterThan(10_000);
    const pairer = new Pairer();
    const events: AccessEvent[] = [];
    for (const e of run.entries) {
      const ev = pairer.push(e);
      if (ev) events.push(ev);
    }
    const rest: AccessEvent[] = [];
    pairer.flush(rest);
    expect(pairer.stats).toEqual({
      pairs: run.lines.length / 2,
      requestOnly: 0,
      responseOnly: 0,
      duplicates: 0,
    });
    expect(rest).toEqual([]);
    expect(run.labels.stats.accesses).toBe(events.length);
    expect(run.result.lateClamped).toBe(0);
  });

  it('is in time order, with nanosecond stamps and plausible latency', () => {
    let prev = '';
    let disorder = 0;
    run.lines.forEach((line, i) => {
      const time = line.slice(9, 39);
      if (i % 97 === 0) expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      if (time < prev) disorder++;
      prev = time;
    });
    expect(disorder).toBe(0);
    const byId = new Map<string, number>();
    for (const e of run.entries) {
      if (e.type === 'request') byId.set(e.requestId, e.time);
      else expect(e.time - (byId.get(e.requestId) as number)).toBeLessThan(20_000);
    }
  });

  it('is ASCII JSON with Vault’s shapes (HMAC’d tokens, denied and failed-login errors)', () => {
    expect(/^[\x20-\x7e\n]*$/.test(run.text)).toBe(true);
    type Raw = {
      auth: { client_token?: string };
      request: { client_token?: string; namespace: unknown; id: string };
    };
    const sample = run.lines.slice(0, 2000).map((l) => JSON.parse(l) as Raw);
    for (const e of sample) {
      expect(Object.keys(e)[0]).toBe('time');
      if (e.auth.client_token) expect(e.auth.client_token).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
      if (e.request.client_token) expect(e.request.client_token).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
      expect(e.request.namespace).toEqual({ id: 'root' });
      expect(e.request.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    const denied = run.entries.filter((e) => e.type === 'response' && e.policyAllowed === false);
    for (const d of denied) expect(d.error).toBe('1 error occurred:\n\t* permission denied\n\n');
    const wrongPassword = run.entries.filter(
      (e) => e.type === 'response' && e.error === 'invalid credentials',
    );
    expect(wrongPassword.length).toBeGreaterThan(0);
    for (const w of wrongPassword) expect(w.responseDataError).toBe(true);
  });

  it('has no secret-looking clear text (HMACs only)', () => {
    const step = Math.max(1, Math.floor(run.lines.length / 3000));
    for (let i = 0; i < run.lines.length; i += step) {
      const stripped = (run.lines[i] as string).replace(/hmac-sha256:[0-9a-f]{64}/g, 'H');
      expect(looksSecret(stripped), stripped.slice(0, 300)).toBe(false);
    }
    expect(run.text).not.toMatch(/\bhv[sbr]\.[A-Za-z0-9_-]{20,}/);
  });
});

describe('simulate: labels', () => {
  it('describe the run, the population and benign changes', () => {
    const l = run.labels;
    expect(l.seed).toBe(7);
    expect(l.timeRange).toEqual({ start: '2026-01-05T00:00:00.000Z', end: '2026-01-08T00:00:00.000Z' });
    expect(l.warmupEnd).toBe('2026-01-06T00:00:00.000Z');
    expect(l.identities).toHaveLength(16);
    expect(new Set(l.identities.map((i) => i.role))).toEqual(
      new Set(['service', 'ci', 'batch', 'rotation', 'human', 'admin', 'monitor']),
    );
    for (const i of l.identities) {
      expect(i.key).toBe(i.entityId ? `entity:${i.entityId}` : `name:${i.displayName}`);
      expect(i.homeNetworks.length).toBeGreaterThan(0);
    }
    // Every identity's Vigil key appears in the log.
    const keys = new Set(run.entries.map((e) => e.identity.key));
    for (const i of l.identities.filter((x) => x.accesses > 0)) {
      if (i.role !== 'batch' && i.role !== 'rotation' && i.role !== 'ci')
        expect(keys.has(i.key), i.id).toBe(true);
    }
    expect(l.benignEvents.some((e) => e.kind === 'deploy')).toBe(true);
    expect(l.scenarios.length).toBeGreaterThan(8);
  });

  it('scenario events are in the log, inside the labelled window', () => {
    const inWindow = (t: number, s: { start: string; end: string }) =>
      t >= Date.parse(s.start) && t <= Date.parse(s.end) + 1000;
    for (const s of run.labels.scenarios) {
      if (s.kind === 'stream_silence') {
        // Nothing at all while the stream is silent.
        expect(run.entries.filter((e) => inWindow(e.time, s)).length, s.id).toBe(0);
        continue;
      }
      if (s.kind === 'stopped_rotation') {
        const key = `entity:${s.entityIds[0] as string}`;
        expect(
          run.entries.filter(
            (e) =>
              inWindow(e.time, s) &&
              e.type === 'response' &&
              (e.identity.key === key || e.issued?.entityId === s.entityIds[0]),
          ).length,
        ).toBe(0);
        continue;
      }
      expect(s.events, s.id).toBeGreaterThan(0);
      const addresses = new Set(s.sourceAddresses);
      const requests = run.entries.filter(
        (e) => e.type === 'request' && addresses.has(e.remoteAddress ?? ''),
      );
      const inside = requests.filter((e) => inWindow(e.time, s));
      expect(inside.length, s.id).toBeGreaterThanOrEqual(s.events);
      if (['credential_stuffing', 'password_spraying', 'brute_force', 'token_theft'].includes(s.kind)) {
        // Attacker addresses are used by the attack only.
        expect(inside.length, s.id).toBe(s.events);
        expect(requests.length, s.id).toBe(s.events);
      }
    }
  });

  it('root token use carries policies [root] and display name root', () => {
    const root = run.labels.scenarios.find((s) => s.kind === 'root_token');
    expect(root).toBeDefined();
    const rootEntries = run.entries.filter((e) => e.identity.isRoot);
    expect(rootEntries.length).toBe(2 * (root?.events ?? 0));
    for (const e of rootEntries) expect(e.identity.displayName).toBe('root');
  });
});

describe('simulate: benign traffic shape', () => {
  it('humans work in working hours of the configured zone, weekends are nearly empty', () => {
    const humanKeys = new Set(
      run.labels.identities.filter((i) => i.role === 'human' || i.role === 'admin').map((i) => i.key),
    );
    // Attacks that use a human's credentials happen at any hour: leave their windows out.
    const attacks = run.labels.scenarios.map(
      (s) => [Date.parse(s.start), Date.parse(s.end) + 3_600_000] as const,
    );
    const zone = new ZoneClock('Europe/Berlin');
    let total = 0;
    let working = 0;
    for (const e of run.entries) {
      if (e.type !== 'request' || !humanKeys.has(e.identity.key)) continue;
      if (attacks.some(([a, b]) => e.time >= a && e.time <= b)) continue;
      total++;
      const h = zone.hourOfDay(e.time);
      if (h >= 6.5 && h < 21) working++;
    }
    expect(total).toBeGreaterThan(100);
    expect(working / total).toBeGreaterThan(0.95);
  });

  it('services follow a daily cycle and monitors are flat', async () => {
    const path = join(dir, 'week.ndjson');
    const result = await generate({ seed: 3, days: 7, identities: 12, scenarios: [], out: path });
    const week = load(path, result);
    const services = new Set(week.labels.identities.filter((i) => i.role === 'service').map((i) => i.key));
    const monitors = new Set(week.labels.identities.filter((i) => i.role === 'monitor').map((i) => i.key));
    const byHour = new Array<number>(24).fill(0);
    const monitorByHour = new Array<number>(24).fill(0);
    const weekday = [0, 0];
    for (const e of week.entries) {
      if (e.type !== 'request') continue;
      const h = new Date(e.time).getUTCHours();
      if (services.has(e.identity.key)) {
        byHour[h]!++;
        const wd = new Date(e.time).getUTCDay();
        weekday[wd === 0 || wd === 6 ? 1 : 0]!++;
      }
      if (monitors.has(e.identity.key)) monitorByHour[h]!++;
    }
    const day = byHour.slice(9, 17).reduce((a, b) => a + b, 0) / 8;
    const night = byHour.slice(0, 5).reduce((a, b) => a + b, 0) / 5;
    expect(day).toBeGreaterThan(night * 1.3);
    // Weekend days are quieter than weekdays (per day).
    expect(weekday[1]! / 2).toBeLessThan(weekday[0]! / 5);
    // Monitors: one lookup a minute, around the clock.
    for (const n of monitorByHour) expect(n).toBeGreaterThan(0.9 * (monitorByHour[0] as number));
    expect(week.labels.scenarios).toEqual([]);
  }, 60_000);
});

describe('simulate: OpenBao flavour', () => {
  it('writes OpenBao key order and a namespace', async () => {
    const path = join(dir, 'bao.ndjson');
    await generate({
      seed: 2,
      days: 1,
      identities: 8,
      scenarios: [],
      warmupDays: 0.5,
      flavor: 'openbao',
      namespace: 'team-a/',
      out: path,
    });
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    const first = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(Object.keys(first).slice(0, 3)).toEqual(['time', 'type', 'auth']);
    for (const line of lines.slice(0, 500)) {
      const parsed = parseAuditLine(line);
      expect(parsed.ok).toBe(true);
      if (parsed.ok) expect(parsed.entry.namespace).toBe('team-a/');
    }
  });
});
