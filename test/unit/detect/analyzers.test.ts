import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../../src/audit/event.js';
import type { AnalyzerEnv, Detector } from '../../../src/detect/analyzer.js';
import { loadDetectors } from '../../../src/detect/loader.js';
import type { Signal } from '../../../src/detect/signal.js';
import { eventFromSpec } from '../../../src/detect/testing.js';
import { emptyOutput, Pipeline, type StepOutput } from '../../../src/pipeline.js';

const DIR = fileURLToPath(new URL('../../../detectors', import.meta.url));
const all = loadDetectors(DIR);
const byId = (ids: string[]): Detector[] => all.filter((d) => ids.includes(d.id));
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// Monday 2026-01-05 00:00 UTC.
const T0 = Date.parse('2026-01-05T00:00:00Z');

const env = (over: Partial<AnalyzerEnv> = {}): AnalyzerEnv => ({
  timeZone: 'UTC',
  rotationPolicies: [],
  ...over,
});

function run(ids: string[], events: AccessEvent[], opts: { env?: AnalyzerEnv; until?: number } = {}) {
  const signals: Signal[] = [];
  const pipeline = new Pipeline({
    detectors: byId(ids),
    env: opts.env ?? env(),
    tickMs: 10_000,
    observeSignal: (s) => signals.push(s),
  });
  const out: StepOutput = emptyOutput();
  for (const e of events) pipeline.processEvent(e, out);
  if (opts.until !== undefined) pipeline.advanceTo(opts.until, out);
  return { signals, out };
}

/** The signals of a run interrupted after `cut` events: state checkpointed and restored into a new pipeline. */
function runAcrossCheckpoint(ids: string[], events: AccessEvent[], cut: number): Signal[] {
  const signals: Signal[] = [];
  const make = () =>
    new Pipeline({ detectors: byId(ids), env: env(), tickMs: 10_000, observeSignal: (s) => signals.push(s) });
  const first = make();
  for (const e of events.slice(0, cut)) first.processEvent(e, emptyOutput());
  const second = make();
  second.restore(deserialize(serialize(first.snapshot())));
  for (const e of events.slice(cut)) second.processEvent(e, emptyOutput());
  return signals;
}

const alice = { entity_id: 'alice-1', display_name: 'userpass-alice', policies: ['default'] };

/** A person reading one prefix from the office network on weekdays 09:00–17:00 UTC for `days` days. */
function officeHistory(days: number): AccessEvent[] {
  const out: AccessEvent[] = [];
  for (let d = 0; d < days; d++) {
    const weekday = d % 7 < 5;
    if (!weekday) continue;
    for (let h = 9; h < 17; h++) {
      for (let k = 0; k < 4; k++) {
        const t = T0 + d * DAY + h * HOUR + k * 15 * 60_000;
        out.push(
          eventFromSpec(
            {
              operation: 'read',
              path: `secret/data/team/app-${k}`,
              remote_address: '10.50.1.20',
              identity: { ...alice, human: true },
            },
            t,
          ),
        );
      }
    }
  }
  return out;
}

describe('off-hours activity', () => {
  it('flags a daytime person at 03:00, weakly', () => {
    const history = officeHistory(21);
    const night = eventFromSpec(
      {
        operation: 'read',
        path: 'secret/data/team/app-1',
        remote_address: '10.50.1.20',
        identity: { ...alice, human: true },
      },
      T0 + 22 * DAY + 3 * HOUR,
    );
    const { signals } = run(['off-hours-activity'], [...history, night]);
    expect(signals).toHaveLength(1);
    expect(signals[0]).toMatchObject({ detector: 'off-hours-activity', weak: true, family: 'time' });
    expect(signals[0]?.summary).toMatch(/active at 03:00 \(UTC, tue\)/);
  });

  it('learns a night-shift person and stays quiet', () => {
    const events: AccessEvent[] = [];
    for (let h = 0; h < 21 * 24; h++) {
      events.push(
        eventFromSpec(
          { operation: 'read', path: 'secret/data/ops/x', identity: { ...alice, human: true } },
          T0 + h * HOUR,
        ),
      );
    }
    const { signals } = run(['off-hours-activity'], events);
    expect(signals).toHaveLength(0);
  });
});

describe('compound identity risk', () => {
  it('raises one alert when a new network, a new prefix and an unusual hour coincide', () => {
    const history = officeHistory(21);
    const at = T0 + 22 * DAY + 3 * HOUR;
    const attack = [0, 1, 2, 3].map((i) =>
      eventFromSpec(
        {
          operation: 'read',
          path: `secret/data/payments/key-${i}`,
          remote_address: '203.0.113.9',
          identity: { ...alice, human: true },
        },
        at + i * 30_000,
      ),
    );
    const ids = ['off-hours-activity', 'new-source-network', 'new-secret-path-prefix', 'identity-risk'];
    const { signals, out } = run(ids, [...history, ...attack]);
    const weak = signals.filter((s) => s.weak);
    expect(new Set(weak.map((s) => s.detector))).toEqual(
      new Set(['off-hours-activity', 'new-source-network', 'new-secret-path-prefix']),
    );
    const compound = signals.filter((s) => s.detector === 'identity-risk');
    expect(compound.length).toBeGreaterThanOrEqual(1);
    expect(compound[0]?.summary).toMatch(/unusual things about userpass-alice/);
    expect(compound[0]?.summary).toMatch(/203\.0\.113\.0\/24/);
    // Only the compound detector alerts: one alert, not three.
    const opened = out.transitions.filter((t) => t.action === 'open');
    expect(opened.map((t) => t.alert.detector)).toEqual(['identity-risk']);
  });

  it('does not alert on a single weak signal', () => {
    const history = officeHistory(21);
    const roam = eventFromSpec(
      {
        operation: 'read',
        path: 'secret/data/team/app-1',
        remote_address: '192.0.2.44',
        identity: { ...alice, human: true },
      },
      T0 + 22 * DAY + 10 * HOUR,
    );
    const { signals, out } = run(['new-source-network', 'identity-risk'], [...history, roam]);
    expect(signals.map((s) => s.detector)).toEqual(['new-source-network']);
    expect(out.transitions).toHaveLength(0);
  });
});

describe('rotation', () => {
  const policies = env({
    rotationPolicies: [{ name: 'db', paths: ['**/rotate-role/*'], operations: ['update'], maxAgeMs: null }],
  });
  const rotate = (t: number, outcome?: string) =>
    eventFromSpec(
      {
        operation: 'update',
        path: 'database/rotate-role/app',
        identity: { entity_id: 'job-1', display_name: 'approle' },
        ...(outcome ? { outcome } : {}),
      },
      t,
    );

  /** Other traffic every 5 minutes from `from` to `to`, except during `gaps` ([from, to) pairs). */
  const traffic = (from: number, to: number, gaps: [number, number][] = []) => {
    const out: AccessEvent[] = [];
    for (let t = from; t < to; t += 5 * 60_000) {
      if (gaps.some(([a, b]) => t >= a && t < b)) continue;
      out.push(
        eventFromSpec(
          {
            operation: 'read',
            path: 'secret/data/app/db',
            identity: { entity_id: 'svc', display_name: 'svc' },
          },
          t,
        ),
      );
    }
    return out;
  };
  const byTime = (events: AccessEvent[]) => [...events].sort((a, b) => a.time - b.time);

  it('learns a daily cadence, alerts when it stops (a missed run), and resolves when it resumes', () => {
    const rotations = [0, 1, 2, 3, 4].map((d) => rotate(T0 + d * DAY + 1));
    const events = byTime([...rotations, ...traffic(T0, T0 + 8 * DAY)]);
    const { signals: late, out: lateOut } = run(['rotation-overdue'], events, {
      env: policies,
      until: T0 + 8 * DAY,
    });
    expect(late).toHaveLength(1);
    // Half an interval late (a missed run) plus the hour of grace.
    expect(late[0]?.summary).toMatch(
      /database\/rotate-role\/app has not been rotated for 1d13h(\d+s)?; the limit is 1d12h and it is usually rotated every 1d/,
    );
    expect(late[0]?.evidence).toMatchObject({ meanTimeToRotate: '1d', policy: 'db' });
    // On the first tick (10 s apart) after the limit.
    const openedAt = Date.parse(lateOut.transitions[0]!.at) - (T0 + 4 * DAY + 1);
    expect(openedAt).toBeGreaterThan(DAY + 13 * HOUR);
    expect(openedAt).toBeLessThanOrEqual(DAY + 13 * HOUR + 10_000);

    const { signals, out } = run(
      ['rotation-overdue'],
      byTime([...events.filter((e) => e.time < T0 + 9 * DAY), rotate(T0 + 9 * DAY + 1)]),
      { env: policies, until: T0 + 9 * DAY + 2 },
    );
    expect(signals.map((s) => Boolean(s.clear))).toEqual([false, true]);
    expect(out.transitions.map((t) => t.action)).toEqual(['open', 'resolve']);
  });

  it('gives a run due while the audit stream was silent the benefit of the doubt, once', () => {
    // The stream goes silent for 3 h around the 5th rotation, so that run is missing from the log.
    const silent: [number, number] = [T0 + 4 * DAY - HOUR, T0 + 4 * DAY + 2 * HOUR];
    const rotations = [0, 1, 2, 3].map((d) => rotate(T0 + d * DAY + 1));
    const events = byTime([...rotations, ...traffic(T0, T0 + 7 * DAY, [silent])]);
    // Without the gap the path would be overdue at 4d13h; judged from the gap's end, at 5d15h.
    const quiet = run(
      ['rotation-overdue'],
      events.filter((e) => e.time < T0 + 5 * DAY + 14 * HOUR),
      {
        env: policies,
      },
    );
    expect(quiet.signals).toHaveLength(0);
    const { signals, out } = run(['rotation-overdue'], events, { env: policies, until: T0 + 7 * DAY });
    expect(signals).toHaveLength(1);
    expect(signals[0]?.summary).toMatch(
      /has not been rotated for 2d15h.*a run due during a gap in the audit stream that ended 1d13h(\d+s)? ago was given the benefit of the doubt/,
    );
    const openedAt = Date.parse(out.transitions[0]!.at);
    expect(openedAt).toBeGreaterThan(T0 + 5 * DAY + 15 * HOUR);
    expect(openedAt).toBeLessThanOrEqual(T0 + 5 * DAY + 15 * HOUR + 10_000);
  });

  it('does not count blind time against a fixed maximum age', () => {
    const fixed = env({
      rotationPolicies: [
        { name: 'kv', paths: ['secret/data/*/rotated/*'], operations: ['update'], maxAgeMs: 2 * DAY },
      ],
    });
    const write = eventFromSpec(
      { operation: 'update', path: 'secret/data/payments/rotated/api-key', identity: { entity_id: 'job-2' } },
      T0 + 1,
    );
    const silent: [number, number] = [T0 + DAY, T0 + DAY + 3 * HOUR];
    const events = byTime([write, ...traffic(T0, T0 + 4 * DAY, [silent])]);
    const { signals } = run(['rotation-overdue'], events, { env: fixed });
    expect(signals).toHaveLength(1);
    expect(signals[0]?.summary).toMatch(
      /has not been rotated for 2d4h5m(\d+s)? \(3h5m of it with no audit events, not counted\)/,
    );
  });

  it('still alerts in a cluster whose only traffic is the rotation job', () => {
    const rotations = [0, 1, 2, 3, 4].map((d) => rotate(T0 + d * DAY));
    const { signals, out } = run(['rotation-overdue'], rotations, { env: policies, until: T0 + 9 * DAY });
    expect(signals).toHaveLength(1);
    // The silence after the last rotation has not ended, so it excuses nothing: limit + grace. Over a
    // long gap without events the pipeline ticks more coarsely (a few minutes apart).
    const openedAt = Date.parse(out.transitions[0]!.at) - (T0 + 4 * DAY);
    expect(openedAt).toBeGreaterThan(DAY + 13 * HOUR);
    expect(openedAt).toBeLessThanOrEqual(DAY + 13 * HOUR + 5 * 60_000);
  });

  it('does not guess a cadence from too few rotations', () => {
    const { signals } = run(['rotation-overdue'], [rotate(T0), rotate(T0 + DAY)], {
      env: policies,
      until: T0 + 30 * DAY,
    });
    expect(signals).toHaveLength(0);
  });

  it("alerts on a failed rotation call with Vault's error", () => {
    const failed = rotate(T0 + DAY, 'error');
    failed.errorMessage = 'failed to update user: connection refused';
    const { signals } = run(['rotation-failed'], [rotate(T0), failed], { env: policies });
    expect(signals).toHaveLength(1);
    expect(signals[0]?.summary).toMatch(
      /Rotation of database\/rotate-role\/app by approle failed \(failed to update user: connection refused\)/,
    );
  });

  it('honours a fixed maximum age', () => {
    const fixed = env({
      rotationPolicies: [
        { name: 'kv', paths: ['secret/data/*/rotated/*'], operations: ['update'], maxAgeMs: 30 * DAY },
      ],
    });
    const write = eventFromSpec(
      {
        operation: 'update',
        path: 'secret/data/payments/rotated/api-key',
        identity: { entity_id: 'job-2', display_name: 'approle' },
      },
      T0,
    );
    const events = byTime([write, ...traffic(T0 + 1, T0 + 32 * DAY)]);
    const upTo = (t: number) => events.filter((e) => e.time <= t);
    expect(run(['rotation-overdue'], upTo(T0 + 30 * DAY), { env: fixed }).signals).toHaveLength(0);
    expect(run(['rotation-overdue'], upTo(T0 + 30 * DAY + 2 * HOUR), { env: fixed }).signals).toHaveLength(1);
  });
});

describe('routine changes', () => {
  it('alert for the first policy writes of a role, then become weak signals', () => {
    const write = (i: number) =>
      eventFromSpec(
        {
          operation: 'update',
          path: `sys/policies/acl/team-${i}`,
          identity: { entity_id: 'tf', display_name: 'terraform', policies: ['platform'] },
        },
        T0 + i * HOUR,
      );
    const { signals } = run(['policy-changed'], [0, 1, 2, 3, 4].map(write));
    expect(signals.map((s) => Boolean(s.weak))).toEqual([false, false, false, true, true]);
    expect(signals[4]?.evidence).toMatchObject({
      earlierHits: 4,
      expected: 'routine for holders of platform (4 earlier)',
    });
  });
});

describe('stream silence', () => {
  it('notices silence on ticks while it lasts, not only when traffic returns', () => {
    const events: AccessEvent[] = [];
    for (let i = 0; i < 3 * 24 * 120; i++) {
      events.push(
        eventFromSpec(
          {
            operation: 'read',
            path: 'secret/data/app/db',
            identity: { entity_id: 'svc', display_name: 'approle' },
          },
          T0 + i * 30_000,
        ),
      );
    }
    const last = T0 + (3 * 24 * 120 - 1) * 30_000;
    // Time passes (the daemon's idle clock) with no event: the alert opens during the silence.
    const { signals, out } = run(['audit-stream-silence'], events, { until: last + 20 * 60_000 });
    expect(signals).toHaveLength(1);
    expect(signals[0]?.summary).toMatch(/audit stream has been silent for/);
    expect(out.transitions.map((t) => t.action)).toEqual(['open']);
    expect(Date.parse(out.transitions[0]!.at) - last).toBeLessThanOrEqual(10 * 60_000);
  });

  it('stays quiet for a stream that is normally sparse', () => {
    const events: AccessEvent[] = [];
    for (let i = 0; i < 3 * 24; i++) {
      events.push(
        eventFromSpec(
          {
            operation: 'read',
            path: 'secret/data/app/db',
            identity: { entity_id: 'svc', display_name: 'approle' },
          },
          T0 + i * HOUR,
        ),
      );
    }
    const { signals } = run(['audit-stream-silence'], events, { until: T0 + 3 * DAY + 45 * 60_000 });
    expect(signals).toHaveLength(0);
  });
});

describe('new prefixes in a burst', () => {
  const svc = { entity_id: 'svc-8', display_name: 'approle', policies: ['default'] };
  const read = (t: number, path: string) => eventFromSpec({ operation: 'read', path, identity: svc }, t);
  const events = [
    ...Array.from({ length: 200 }, (_, i) => read(T0 + i * HOUR, 'secret/data/payments/db')),
    ...Array.from({ length: 12 }, (_, i) => read(T0 + 200 * HOUR + i * 5_000, `secret/data/team-${i}/db`)),
  ];
  const describeSignals = (signals: Signal[]) =>
    signals.map((s) => `${s.at}|${s.score.toFixed(6)}|${Boolean(s.weak)}|${s.summary}`);

  it('is judged against the rate of new prefixes before the burst, and signals again when it doubles', () => {
    const { signals } = run(['new-prefixes-burst'], events);
    expect(signals.map((s) => s.evidence.observed)).toEqual([5, 10]);
    expect(signals[0]?.summary).toMatch(/used 5 path prefixes for the first time within 10m/);
    // Before the burst this service used a new prefix about once in 100 observations: 10 observations
    // predict 0.1 new ones. (The running rate, raised by the burst itself, would predict 0.3.)
    expect(signals[1]?.evidence).toMatchObject({ observations: 10, expected: 0.1 });
  });

  it('survives a checkpoint in the middle of a burst', () => {
    const whole = describeSignals(run(['new-prefixes-burst'], events).signals);
    expect(describeSignals(runAcrossCheckpoint(['new-prefixes-burst'], events, 203))).toEqual(whole);
    expect(whole).toHaveLength(2);
  });
});

describe('mass reads of secrets never read before', () => {
  const ci = { entity_id: 'ci-1', display_name: 'jwt-ci', policies: ['ci'] };
  const read = (t: number, path: string) => eventFromSpec({ operation: 'read', path, identity: ci }, t);
  // 100 secrets learned one at a time over three days, then all of them again at once, then 100 new ones.
  const events = [
    ...Array.from({ length: 100 }, (_, i) => read(T0 + i * 45 * 60_000, `secret/data/ci/app-${i}`)),
    ...Array.from({ length: 100 }, (_, i) => read(T0 + 4 * DAY + i * 1000, `secret/data/ci/app-${i}`)),
    ...Array.from({ length: 100 }, (_, i) => read(T0 + 5 * DAY + i * 1000, `secret/data/payments/app-${i}`)),
  ];

  it('count only the new ones, and remember what is known across a checkpoint', () => {
    const whole = run(['mass-secret-reads'], events).signals;
    expect(whole.length).toBeGreaterThan(0);
    expect(whole.every((s) => s.at >= T0 + 5 * DAY)).toBe(true);
    expect(whole[0]?.evidence).toMatchObject({ observed: 50, knownBefore: 100 });

    const parts = runAcrossCheckpoint(['mass-secret-reads'], events, 150);
    expect(parts.map((s) => `${s.at}|${s.score}|${s.summary}`)).toEqual(
      whole.map((s) => `${s.at}|${s.score}|${s.summary}`),
    );
  });
});

describe('one token used from two networks', () => {
  const svc = (token: string) => ({ entity_id: 'svc-9', display_name: 'approle', token_ref: token });
  const read = (t: number, token: string, address: string) =>
    eventFromSpec(
      { operation: 'read', path: 'secret/data/app/db', remote_address: address, identity: svc(token) },
      t,
    );
  /** Two days of a service on 10.20.1.0/24, then its token also used from a public address. */
  const copied = (interloper?: AccessEvent): AccessEvent[] => {
    const events: AccessEvent[] = [];
    for (let h = 0; h < 48; h++) events.push(read(T0 + h * HOUR, 'tok-old', '10.20.1.15'));
    const at = T0 + 2 * DAY;
    for (let m = 0; m < 5; m++) events.push(read(at + m * 60_000, 'tok-live', '10.20.1.15'));
    if (interloper) events.push(interloper);
    events.push(read(at + 5 * 60_000 + 30_000, 'tok-live', '203.0.113.50'));
    events.push(read(at + 7 * 60_000, 'tok-live', '10.20.1.15'));
    return events;
  };

  it('signals once, with both networks, and the same across a checkpoint at any point', () => {
    const events = copied();
    const whole = run(['token-used-from-two-networks'], events).signals;
    expect(whole).toHaveLength(1);
    expect(whole[0]?.evidence).toMatchObject({ homeNetwork: '10.20.1.0/24', newNetwork: '203.0.113.0/24' });
    for (const cut of [10, 49, 50, 53, 54])
      expect(runAcrossCheckpoint(['token-used-from-two-networks'], events, cut)).toEqual(whole);
  });

  it('follows at most token_cap tokens, forgetting the least recently used', () => {
    const [d] = byId(['token-used-from-two-networks']);
    const capped: Detector = {
      ...(d as Detector),
      analyzer: {
        ...(d as Detector).analyzer,
        params: { ...((d as Detector).analyzer.params as object), token_cap: 1 },
      },
    };
    // Another token of the identity is used while tok-live works from its network: with room for one
    // token, tok-live's home is forgotten, so its use from the new network starts a new home.
    const interloper = read(T0 + 2 * DAY + 5 * 60_000, 'tok-other', '10.20.1.16');
    const signals: Signal[] = [];
    const pipeline = new Pipeline({
      detectors: [capped],
      env: env(),
      tickMs: 10_000,
      observeSignal: (s) => signals.push(s),
    });
    for (const e of copied(interloper)) pipeline.processEvent(e, emptyOutput());
    expect(signals).toHaveLength(0);
    expect(run(['token-used-from-two-networks'], copied(interloper)).signals).toHaveLength(1);
  });
});
