import { describe, expect, it } from 'vitest';
import type { AlertTransition } from '../../../src/alerts/alert.js';
import { AlertLifecycle } from '../../../src/alerts/lifecycle.js';
import type { Detector } from '../../../src/detect/analyzer.js';
import type { Signal } from '../../../src/detect/signal.js';

const T0 = Date.parse('2026-03-02T10:00:00Z');
const MIN = 60_000;

const detector = {
  id: 'failed-login-burst',
  runbook: 'runbooks/failed-login-burst.md',
  resolveAfterMs: 30 * MIN,
  labels: { team: 'sec' },
  firstStep: 'Lock the user.',
} as unknown as Detector;

function signal(at: number, overrides: Partial<Signal> = {}): Signal {
  return {
    detector: 'failed-login-burst',
    groupKey: 'anon:203.0.113.7',
    at,
    score: 5,
    severity: 'medium',
    title: 'Failed logins',
    summary: `burst at ${at}`,
    sourceAddresses: ['203.0.113.7'],
    paths: ['auth/userpass/login/alice'],
    eventIds: [`e${at}`],
    firstEventAt: at,
    lastEventAt: at,
    eventCount: 1,
    evidence: { observed: 10, expected: 1, window: '5m' },
    ...overrides,
  };
}

describe('alert lifecycle', () => {
  it('opens once per fingerprint and folds later signals into the same alert', () => {
    const life = new AlertLifecycle({ updateIntervalMs: 5 * MIN, rememberResolved: 10 });
    const out: AlertTransition[] = [];
    life.onSignal(signal(T0), detector, out);
    life.onSignal(signal(T0 + 1000, { score: 7 }), detector, out);
    life.onSignal(signal(T0 + 2000), detector, out);
    expect(out.map((t) => t.action)).toEqual(['open']);
    expect(life.openCount).toBe(1);
    const open = out[0]!.alert;
    expect(open).toMatchObject({
      detector: 'failed-login-burst',
      severity: 'medium',
      status: 'open',
      seq: 1,
      runbook: 'runbooks/failed-login-burst.md',
      firstStep: 'Lock the user.',
      labels: { team: 'sec' },
    });
    expect(open.fingerprint).toMatch(/^failed-login-burst:[0-9a-f]{16}$/);

    // The throttled update is flushed on a tick once the interval has passed, with the totals.
    life.tick(T0 + 5 * MIN + 1000, out);
    expect(out.map((t) => t.action)).toEqual(['open', 'update']);
    expect(out[1]!.alert).toMatchObject({ id: open.id, eventCount: 3, signalCount: 3, score: 7, seq: 2 });
  });

  it('emits an update at once when severity rises', () => {
    const life = new AlertLifecycle({ updateIntervalMs: 5 * MIN, rememberResolved: 10 });
    const out: AlertTransition[] = [];
    life.onSignal(signal(T0), detector, out);
    life.onSignal(signal(T0 + 1000, { severity: 'high' }), detector, out);
    expect(out.map((t) => [t.action, t.alert.severity])).toEqual([
      ['open', 'medium'],
      ['update', 'high'],
    ]);
    // Severity never falls back while the alert is open.
    life.onSignal(signal(T0 + 6 * MIN, { severity: 'low' }), detector, out);
    expect(out.at(-1)!.alert.severity).toBe('high');
  });

  it('resolves after the quiet period and links a re-opened alert to the previous one', () => {
    const life = new AlertLifecycle({ updateIntervalMs: 5 * MIN, rememberResolved: 10 });
    const out: AlertTransition[] = [];
    life.onSignal(signal(T0), detector, out);
    life.tick(T0 + 29 * MIN, out);
    expect(out.map((t) => t.action)).toEqual(['open']);
    life.tick(T0 + 30 * MIN, out);
    expect(out.map((t) => t.action)).toEqual(['open', 'resolve']);
    expect(out[1]!.alert).toMatchObject({
      status: 'resolved',
      resolvedAt: new Date(T0 + 30 * MIN).toISOString(),
    });
    expect(life.openCount).toBe(0);

    life.onSignal(signal(T0 + 40 * MIN), detector, out);
    const reopened = out[2]!;
    expect(reopened.action).toBe('open');
    expect(reopened.alert.id).not.toBe(out[0]!.alert.id);
    expect(reopened.alert.previousAlertId).toBe(out[0]!.alert.id);
    expect(reopened.alert.fingerprint).toBe(out[0]!.alert.fingerprint);
  });

  it('resolves at once on a clearing signal', () => {
    const life = new AlertLifecycle({ updateIntervalMs: 5 * MIN, rememberResolved: 10 });
    const out: AlertTransition[] = [];
    life.onSignal(signal(T0), detector, out);
    life.onSignal(signal(T0 + MIN, { clear: true }), detector, out);
    expect(out.map((t) => t.action)).toEqual(['open', 'resolve']);
    // A clearing signal with nothing open does nothing.
    life.onSignal(signal(T0 + 2 * MIN, { clear: true }), detector, out);
    expect(out).toHaveLength(2);
  });

  it('is deterministic and survives a snapshot/restore between signals', () => {
    const run = (withRestart: boolean) => {
      let life = new AlertLifecycle({ updateIntervalMs: 5 * MIN, rememberResolved: 10 });
      const out: AlertTransition[] = [];
      const steps: [number, Partial<Signal>][] = [
        [T0, {}],
        [T0 + MIN, { groupKey: 'anon:198.51.100.1' }],
        [T0 + 7 * MIN, { severity: 'high' }],
      ];
      steps.forEach(([at, o], i) => {
        if (withRestart && i === 1) {
          const snap = JSON.parse(JSON.stringify(life.snapshot()));
          life = new AlertLifecycle({ updateIntervalMs: 5 * MIN, rememberResolved: 10 });
          life.restore(snap);
        }
        life.onSignal(signal(at, o), detector, out);
      });
      life.tick(T0 + 60 * MIN, out);
      return out;
    };
    expect(run(true)).toEqual(run(false));
    expect(run(false).map((t) => t.action)).toEqual(['open', 'open', 'update', 'resolve', 'resolve']);
  });

  it('decorates alerts when they are emitted', () => {
    const life = new AlertLifecycle({ updateIntervalMs: 5 * MIN, rememberResolved: 10 }, (a) => {
      a.environment = 'staging';
      a.links.runbook = `https://runbooks.example/${a.runbook}`;
    });
    const out: AlertTransition[] = [];
    life.onSignal(signal(T0), detector, out);
    expect(out[0]!.alert.environment).toBe('staging');
    expect(out[0]!.alert.links.runbook).toBe('https://runbooks.example/runbooks/failed-login-burst.md');
  });
});
