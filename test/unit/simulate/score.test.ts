import { describe, expect, it } from 'vitest';
import type { Alert, AlertTransition } from '../../../src/alerts/alert.js';
import type { ScenarioLabel, SimLabels } from '../../../src/simulate/labels.js';
import { formatDuration, formatReport, mentions, scoreAlerts } from '../../../src/simulate/score.js';

const T0 = Date.parse('2026-01-05T00:00:00Z');
const H = 3_600_000;
const at = (hours: number) => new Date(T0 + hours * H).toISOString();

function scenario(
  over: Partial<ScenarioLabel> & Pick<ScenarioLabel, 'id' | 'kind' | 'start' | 'end'>,
): ScenarioLabel {
  return {
    speed: 'fast',
    description: over.id,
    expected: ['auth'],
    entityIds: [],
    sourceAddresses: [],
    loginUsers: [],
    displayNames: [],
    identities: [],
    paths: [],
    params: {},
    events: 10,
    ...over,
  };
}

function labels(scenarios: ScenarioLabel[]): SimLabels {
  return {
    generator: { name: 'vigil-simulate', version: 1 },
    seed: 1,
    parameters: { seed: 1, days: 10, identities: 2 },
    timeRange: { start: at(0), end: at(240) },
    warmupEnd: at(48),
    timeZone: 'UTC',
    identities: [
      {
        id: 'svc-a',
        role: 'service',
        key: 'entity:ent-a',
        entityId: 'ent-a',
        displayName: 'approle',
        authMethod: 'approle',
        team: 't',
        policies: [],
        homeNetworks: ['10.1.1.0/24'],
        plannedStart: at(0),
        accesses: 1,
      },
      // Arrives on day 5: counts 5 identity-days after the warm-up, not 8.
      {
        id: 'user-b',
        role: 'human',
        key: 'entity:ent-b',
        entityId: 'ent-b',
        displayName: 'userpass-bob',
        authMethod: 'userpass',
        team: 't',
        policies: [],
        homeNetworks: ['172.20.1.0/24'],
        plannedStart: at(120),
        accesses: 1,
      },
    ],
    scenarios,
    benignEvents: [
      {
        kind: 'deploy',
        at: at(99),
        identity: 'svc-a',
        entityId: 'ent-a',
        description: 'rolling deploy of a',
      },
    ],
    stats: { lines: 0, accesses: 0, benignAccesses: 0, attackAccesses: 0, bytes: 0 },
  };
}

let n = 0;
function open(hours: number, over: Partial<Alert> = {}): AlertTransition {
  n++;
  const alert = {
    id: `alert-${n}`,
    fingerprint: `fp-${n}`,
    detector: 'some-detector',
    severity: 'high',
    score: 5,
    title: 't',
    summary: `summary ${n}`,
    sourceAddresses: [],
    paths: [],
    firstEventAt: at(hours),
    lastEventAt: at(hours),
    eventCount: 1,
    evidence: {},
    runbook: '',
    links: {},
    status: 'open',
    seq: 1,
    openedAt: at(hours),
    groupKey: 'x',
    signalCount: 1,
    eventIds: [],
    labels: {},
    ...over,
  } as Alert;
  return { action: 'open', at: at(hours), alert };
}

const brute = scenario({
  id: 'brute_force-1',
  kind: 'brute_force',
  start: at(100),
  end: at(100.25),
  sourceAddresses: ['203.0.113.9'],
  loginUsers: ['bob'],
  entityIds: ['ent-b'],
});
const silence = scenario({
  id: 'stream_silence-1',
  kind: 'stream_silence',
  start: at(150),
  end: at(151),
  expected: ['availability'],
});
const exfil = scenario({
  id: 'slow_exfiltration-1',
  kind: 'slow_exfiltration',
  speed: 'slow',
  start: at(160),
  end: at(190),
  entityIds: ['ent-a'],
  expected: ['novelty'],
});

describe('scoring alerts against labels', () => {
  it('a related alert opening inside the window detects the scenario; TTD = open − start', () => {
    const r = scoreAlerts(labels([brute]), [
      open(100 + 90 / 3600, { detector: 'failed-login-burst', groupKey: 'bob', family: 'auth' }),
    ]);
    expect(r.scenarios[0]).toMatchObject({
      id: 'brute_force-1',
      detected: true,
      ttdMs: 90_000,
      detectors: ['failed-login-burst'],
    });
    expect(r.overall).toMatchObject({ n: 1, detected: 1, recall: 1, fastMedianTtdMs: 90_000 });
    expect(r.falseAlerts.count).toBe(0);
    expect(r.alerts).toMatchObject({ opened: 1, afterWarmup: 1, explained: 1, late: 0 });
    expect(r.targets.fastMedianTtdMs.met).toBe(false);
  });

  it('relates by entity, by source address, by group-key mention, by login user', () => {
    const cases: Partial<Alert>[] = [
      { identity: { key: 'entity:ent-b', entityId: 'ent-b' } },
      { sourceAddresses: ['10.9.9.9', '203.0.113.9'] },
      { groupKey: 'anon:203.0.113.9' },
      { groupKey: 'bob' },
      { groupKey: '203.0.113.0/24' },
    ];
    for (const c of cases) {
      const r = scoreAlerts(labels([brute]), [open(100.1, c)]);
      expect(r.scenarios[0]?.detected, JSON.stringify(c)).toBe(true);
    }
  });

  it('does not relate on partial names or unrelated group keys', () => {
    const cases: Partial<Alert>[] = [
      { groupKey: 'anon:203.0.113.91' },
      { groupKey: 'name:userpass-bobby' },
      { groupKey: 'entity:ent-bb' },
      { identity: { key: 'entity:ent-a', entityId: 'ent-a' } },
      // Not a family-matched kind: the family alone does not relate.
      { family: 'auth', groupKey: '*' },
    ];
    for (const c of cases) {
      const r = scoreAlerts(labels([brute]), [open(100.1, c)]);
      expect(r.scenarios[0]?.detected, JSON.stringify(c)).toBe(false);
      expect(r.falseAlerts.count, JSON.stringify(c)).toBe(1);
    }
  });

  it('a login user is a whole group-key component, so a spray with user "root" does not claim the root-token alert', () => {
    const spray = scenario({
      id: 'password_spraying-1',
      kind: 'password_spraying',
      start: at(100),
      end: at(101),
      sourceAddresses: ['198.51.100.7'],
      loginUsers: ['root', 'admin'],
    });
    const rootAlert = open(100.5, {
      detector: 'root-token-used',
      groupKey: 'name:root',
      identity: { key: 'name:root', displayName: 'root' },
    });
    expect(scoreAlerts(labels([spray]), [rootAlert]).scenarios[0]?.detected).toBe(false);
    const rootScenario = scenario({
      id: 'root_token-1',
      kind: 'root_token',
      start: at(100),
      end: at(101),
      displayNames: ['root'],
      sourceAddresses: ['10.10.0.5'],
    });
    expect(scoreAlerts(labels([rootScenario]), [rootAlert]).scenarios[0]?.detected).toBe(true);
  });

  it('a late alert (after the grace period) does not detect, and is counted as late, not false', () => {
    const late = open(100.25 + 0.5, { groupKey: 'bob' });
    const r = scoreAlerts(labels([brute]), [late]);
    expect(r.scenarios[0]?.detected).toBe(false);
    expect(r.alerts.late).toBe(1);
    expect(r.falseAlerts.count).toBe(0);
    // Inside the 15 min grace it counts.
    expect(
      scoreAlerts(labels([brute]), [open(100.25 + 0.2, { groupKey: 'bob' })]).scenarios[0]?.detected,
    ).toBe(true);
    // More than 6 h after the grace, it is just a false alert.
    expect(scoreAlerts(labels([brute]), [open(107, { groupKey: 'bob' })]).falseAlerts.count).toBe(1);
    expect(r.alerts.lateAlerts[0]).toMatchObject({ scenario: 'brute_force-1', afterEndMs: 30 * 60_000 });
  });

  it('an alert before the scenario starts does not detect it', () => {
    const r = scoreAlerts(labels([brute]), [open(99.9, { groupKey: 'bob' })]);
    expect(r.scenarios[0]?.detected).toBe(false);
    expect(r.falseAlerts.count).toBe(1);
  });

  it('slow scenarios get a 2 h grace', () => {
    expect(
      scoreAlerts(labels([exfil]), [open(191.5, { identity: { entityId: 'ent-a', key: 'entity:ent-a' } })])
        .scenarios[0]?.detected,
    ).toBe(true);
    expect(
      scoreAlerts(labels([exfil]), [open(192.5, { identity: { entityId: 'ent-a', key: 'entity:ent-a' } })])
        .scenarios[0]?.detected,
    ).toBe(false);
  });

  it('stream silence is related by detector family', () => {
    const r = scoreAlerts(labels([silence]), [
      open(150.1, { detector: 'audit-stream-silence', family: 'availability', groupKey: '*' }),
      open(150.2, { detector: 'policy-changed', family: 'privilege', groupKey: 'entity:zzz' }),
    ]);
    expect(r.scenarios[0]).toMatchObject({ detected: true, detectors: ['audit-stream-silence'] });
    expect(r.falseAlerts.byDetector).toEqual({ 'policy-changed': 1 });
  });

  it('warm-up alerts are reported apart and never scored', () => {
    const r = scoreAlerts(labels([brute]), [
      open(10, { detector: 'new-source-network' }),
      open(47.9, { detector: 'new-source-network' }),
    ]);
    expect(r.alerts).toMatchObject({
      opened: 2,
      duringWarmup: 2,
      afterWarmup: 0,
      duringWarmupByDetector: { 'new-source-network': 2 },
    });
    expect(r.falseAlerts.count).toBe(0);
  });

  it('false alerts per 1000 identity-days, by detector, grouped with benign context', () => {
    // Identity-days after warm-up: svc-a 8 days (48 h → 240 h), user-b 5 days (120 h → 240 h) = 13.
    const r = scoreAlerts(labels([]), [
      open(100, {
        detector: 'request-rate-spike',
        identity: { key: 'entity:ent-a', entityId: 'ent-a' },
        summary: 'a spiked',
      }),
      open(110, { detector: 'request-rate-spike', identity: { key: 'entity:ent-a', entityId: 'ent-a' } }),
      open(111, { detector: 'off-hours-activity', identity: { key: 'entity:ent-b', entityId: 'ent-b' } }),
    ]);
    expect(r.identityDaysAfterWarmup).toBe(13);
    expect(r.falseAlerts.count).toBe(3);
    expect(r.falseAlerts.per1000IdentityDays).toBeCloseTo((3 / 13) * 1000, 2);
    expect(r.falseAlerts.byDetector).toEqual({ 'request-rate-spike': 2, 'off-hours-activity': 1 });
    const top = r.falseAlerts.top[0];
    expect(top).toMatchObject({
      detector: 'request-rate-spike',
      identity: 'svc-a',
      role: 'service',
      count: 2,
      summary: 'a spiked',
    });
    expect(top?.context[0]).toContain('rolling deploy of a');
    expect(r.targets.falsePer1000IdentityDays.met).toBe(false);
  });

  it('per-kind rows: recall, median and p95 TTD, split by speed when a kind has both', () => {
    const s1 = scenario({
      id: 'password_spraying-1',
      kind: 'password_spraying',
      start: at(60),
      end: at(60.2),
      sourceAddresses: ['198.51.100.1'],
    });
    const s2 = scenario({
      id: 'password_spraying-2',
      kind: 'password_spraying',
      speed: 'slow',
      start: at(80),
      end: at(86),
      sourceAddresses: ['198.51.100.2'],
    });
    const s3 = scenario({
      id: 'password_spraying-3',
      kind: 'password_spraying',
      start: at(90),
      end: at(90.2),
      sourceAddresses: ['198.51.100.3'],
    });
    const r = scoreAlerts(labels([s1, s2, s3]), [
      open(60 + 30 / 3600, { groupKey: '198.51.100.1', detector: 'password-spraying' }),
      open(90 + 90 / 3600, { groupKey: '198.51.100.3', detector: 'password-spraying' }),
    ]);
    const fast = r.byKind.find((k) => k.kind === 'password_spraying' && k.speed === 'fast');
    const slow = r.byKind.find((k) => k.kind === 'password_spraying' && k.speed === 'slow');
    expect(fast).toMatchObject({
      n: 2,
      detected: 2,
      recall: 1,
      medianTtdMs: 60_000,
      caughtBy: { 'password-spraying': 2 },
    });
    expect(fast?.p95TtdMs).toBeCloseTo(87_000, 0);
    expect(slow).toMatchObject({ n: 1, detected: 0, recall: 0 });
    expect(r.overall.recall).toBeCloseTo(2 / 3, 5);
    const text = formatReport(r);
    expect(text).toContain('password_spraying (fast)');
    expect(text).toContain('missed scenarios (1)');
    expect(text).toContain('MISSED');
  });

  it('only opens count (updates and resolves are ignored)', () => {
    const t = open(100.1, { groupKey: 'bob' });
    const r = scoreAlerts(labels([brute]), [
      { ...t, action: 'update' },
      { ...t, action: 'resolve' },
    ]);
    expect(r.scenarios[0]?.detected).toBe(false);
    expect(r.alerts.opened).toBe(0);
  });
});

describe('helpers', () => {
  it('mentions needs a whole token', () => {
    expect(mentions('anon:10.0.0.1', '10.0.0.1')).toBe(true);
    expect(mentions('anon:10.0.0.12', '10.0.0.1')).toBe(false);
    expect(mentions('entity:abc-1|x', 'abc-1')).toBe(true);
    expect(mentions('entity:abc-12', 'abc-1')).toBe(false);
  });
  it('formats durations', () => {
    expect(formatDuration(undefined)).toBe('–');
    expect(formatDuration(250)).toBe('250 ms');
    expect(formatDuration(42_000)).toBe('42.0 s');
    expect(formatDuration(30 * 60_000)).toBe('30.0 min');
    expect(formatDuration(5 * H)).toBe('5.0 h');
  });
});
