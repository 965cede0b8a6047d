import { describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../../src/audit/event.js';
import { check } from '../../../src/check.js';
import { loadConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { createPipeline, loadConfiguredDetectors } from '../../../src/core.js';
import { CronWindow } from '../../../src/util/cron-window.js';
import { eventFromSpec } from '../../../src/detect/testing.js';
import { emptyOutput } from '../../../src/pipeline.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
// Monday 2026-03-02 00:00 in Berlin (UTC+1 in winter).
const T0 = Date.parse('2026-03-01T23:00:00Z');
const base = loadConfig({ environment: 'development' }).config;

describe('CronWindow', () => {
  it('is open from each cron start for its duration, in the time zone', () => {
    const w = new CronWindow('0 2 * * *', 90 * MIN, 'Europe/Berlin');
    expect(w.isOpen(T0 + 2 * HOUR - 1)).toBe(false);
    expect(w.isOpen(T0 + 2 * HOUR)).toBe(true);
    expect(w.isOpen(T0 + 3 * HOUR + 29 * MIN)).toBe(true);
    expect(w.isOpen(T0 + 3 * HOUR + 30 * MIN)).toBe(false);
    expect(w.isOpen(T0 + DAY + 2 * HOUR + 1)).toBe(true);
  });

  it('answers the same from its cache as from scratch, in any order of times', () => {
    const cached = new CronWindow('*/20 9-17 * * 1-5', 7 * MIN, 'Europe/Berlin');
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    let t = T0;
    for (let i = 0; i < 1000; i++) {
      // Mostly forward, sometimes a step back (late events).
      t += next() < 0.9 ? Math.floor(next() * 10 * MIN) : -Math.floor(next() * 30 * MIN);
      // Now and then exactly on a boundary, or a millisecond before one.
      if (next() < 0.1) t = Math.floor(t / (20 * MIN)) * 20 * MIN - (next() < 0.5 ? 1 : 0);
      const fresh = new CronWindow('*/20 9-17 * * 1-5', 7 * MIN, 'Europe/Berlin');
      expect(cached.isOpen(t)).toBe(fresh.isOpen(t));
    }
  });
});

describe('known schedules', () => {
  const job = { entity_id: 'export-1', display_name: 'approle-export', policies: ['export'] };
  const read = (t: number, path: string) => eventFromSpec({ operation: 'read', path, identity: job }, t);

  /** Six days of a few reads an hour, then on Sunday at 02:10 (Berlin) a monthly run reading 600 secrets. */
  function traffic(): AccessEvent[] {
    const out: AccessEvent[] = [];
    for (let t = T0; t < T0 + 6 * DAY; t += 15 * MIN)
      out.push(read(t, `secret/data/export/config-${(t / MIN) % 3}`));
    const run = T0 + 6 * DAY + 2 * HOUR + 10 * MIN;
    for (let i = 0; i < 600; i++) out.push(read(run + i * 500, `secret/data/team-${i % 20}/app-${i}`));
    out.push(
      eventFromSpec(
        { operation: 'update', path: 'sys/policies/acl/export-extra', identity: job },
        run + 6 * MIN,
      ),
    );
    return out;
  }

  function opened(config: Config): string[] {
    const pipeline = createPipeline(config, loadConfiguredDetectors(config));
    const out = emptyOutput();
    for (const e of traffic()) pipeline.processEvent(e, out);
    return [
      ...new Set(out.transitions.filter((t) => t.action === 'open').map((t) => t.alert.detector)),
    ].sort();
  }

  const withSchedule = (extra: Partial<Config['schedules'][number]> = {}): Config => ({
    ...base,
    time_zone: 'Europe/Berlin',
    schedules: [
      {
        name: 'monthly-export',
        cron: '0 2 * * 0',
        duration: HOUR,
        match: { identity: { display_name: ['approle-export'] } },
        ...extra,
      },
    ],
  });

  it('exempt expected activity from the baseline detectors, not from the rules', () => {
    const without = opened({ ...base, time_zone: 'Europe/Berlin' });
    expect(without).toEqual(expect.arrayContaining(['mass-secret-reads', 'policy-changed']));
    expect(opened(withSchedule())).toEqual(['policy-changed']);
  });

  it('exempt only the detectors they name, when they name some', () => {
    const got = opened(withSchedule({ detectors: ['mass-secret-reads'] }));
    expect(got).not.toContain('mass-secret-reads');
    expect(got).toEqual(expect.arrayContaining(['policy-changed', 'secret-read-spike']));
  });

  it('cover only their window and their identities', () => {
    // The window is the hour before the run: the run is judged as usual.
    expect(opened(withSchedule({ cron: '0 1 * * 0' }))).toContain('mass-secret-reads');
    expect(opened(withSchedule({ match: { identity: { display_name: ['approle-other'] } } }))).toContain(
      'mass-secret-reads',
    );
  });

  it('fail the start and `vigil check` on an unknown detector or a bad cron expression, naming the schedule', () => {
    expect(() => loadConfiguredDetectors(withSchedule({ detectors: ['no-such-detector'] }))).toThrow(
      /schedules: "monthly-export": no detector has the id "no-such-detector"/,
    );
    expect(() => loadConfiguredDetectors(withSchedule({ cron: '61 2 * * *' }))).toThrow(
      /schedules: "monthly-export": cron "61 2 \* \* \*"/,
    );
    const report = check(withSchedule({ cron: 'not a cron' }), { runTests: false });
    expect(report.problems).toEqual([
      expect.stringMatching(/^configuration: schedules: "monthly-export": cron/),
    ]);
  });
});
