import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Alert, AlertTransition } from '../../../src/alerts/alert.js';
import { AlertPolicy } from '../../../src/alerts/policy.js';
import { receiversFor } from '../../../src/alerts/routing.js';
import { SilenceStore, silenceFromConfig } from '../../../src/alerts/silences.js';
import type { RouteConfig } from '../../../src/config/schema.js';
import { NotifySink } from '../../../src/notify/notify-sink.js';
import type { Notification } from '../../../src/notify/notification.js';
import { silentLogger } from '../../../src/ops/logger.js';

const T0 = Date.parse('2026-03-02T10:00:00Z');
const MIN = 60_000;
let n = 0;

function alert(over: Partial<Alert> = {}): Alert {
  n++;
  return {
    id: `a${n}`,
    fingerprint: `${over.detector ?? 'secret-read-spike'}:${n}`,
    detector: 'secret-read-spike',
    severity: 'high',
    score: 9,
    title: 'Secret reads far above normal',
    summary: 's',
    identity: { key: 'entity:e1', entityId: 'e1', displayName: 'approle' },
    sourceAddresses: ['10.20.1.15'],
    paths: ['secret/data/payments/db'],
    firstEventAt: new Date(T0).toISOString(),
    lastEventAt: new Date(T0).toISOString(),
    eventCount: 1,
    evidence: {},
    runbook: 'runbooks/secret-read-spike.md',
    links: {},
    status: 'open',
    seq: 1,
    openedAt: new Date(T0).toISOString(),
    groupKey: 'entity:e1',
    signalCount: 1,
    eventIds: [],
    labels: {},
    environment: 'production',
    family: 'volume',
    ...over,
  };
}

const t = (action: AlertTransition['action'], a: Alert, at: number): AlertTransition => ({
  action,
  at: new Date(at).toISOString(),
  alert: { ...a, seq: action === 'open' ? 1 : a.seq + 1 },
});

describe('incidents', () => {
  it('groups alerts on one identity within the window into one incident', () => {
    const p = new AlertPolicy({ incidentWindowMs: 30 * MIN, timeZone: 'UTC' });
    const a = t('open', alert(), T0);
    const b = t('open', alert({ detector: 'mass-secret-reads' }), T0 + 10 * MIN);
    const other = t('open', alert({ identity: { key: 'entity:e2' } }), T0 + 11 * MIN);
    const late = t('open', alert({ detector: 'new-source-network' }), T0 + 60 * MIN);
    p.apply([a, b, other, late]);
    expect(a.alert.incidentId).toBe(`inc-${a.alert.id}`);
    expect(b.alert.incidentId).toBe(a.alert.incidentId);
    expect(other.alert.incidentId).not.toBe(a.alert.incidentId);
    // 50 minutes after the incident's last activity: a new incident.
    expect(late.alert.incidentId).toBe(`inc-${late.alert.id}`);
  });

  it('keeps an alert in its incident for later transitions and across a snapshot', () => {
    const p = new AlertPolicy({ incidentWindowMs: 30 * MIN, timeZone: 'UTC' });
    const a = alert();
    p.apply([t('open', a, T0)]);
    const restored = new AlertPolicy({ incidentWindowMs: 30 * MIN, timeZone: 'UTC' });
    restored.restore(JSON.parse(JSON.stringify(p.snapshot())));
    const upd = t('update', a, T0 + 2 * 3_600_000);
    restored.apply([upd]);
    expect(upd.alert.incidentId).toBe(`inc-${a.id}`);
  });
});

describe('silences', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-silences-'));

  it('match on detector, identity, path, source CIDR and environment, within their time', () => {
    const store = new SilenceStore(dir);
    const s = store.add(
      {
        matchers: {
          detector: ['secret-read-*'],
          identity: ['entity:e1'],
          source_cidr: ['10.20.0.0/16'],
          environment: ['production'],
        },
        startsAt: new Date(T0 - MIN).toISOString(),
        endsAt: new Date(T0 + 60 * MIN).toISOString(),
        author: 'alice',
        reason: 'load test of payments-api',
      },
      T0,
    );
    expect(store.match(alert(), T0)?.id).toBe(s.id);
    expect(store.match(alert({ sourceAddresses: ['203.0.113.5'] }), T0)).toBeUndefined();
    expect(store.match(alert({ environment: 'staging' }), T0)).toBeUndefined();
    expect(store.match(alert({ detector: 'root-token-used' }), T0)).toBeUndefined();
    expect(store.match(alert(), T0 + 61 * MIN)).toBeUndefined();
    expect(store.match(alert(), T0 - 2 * MIN)).toBeUndefined();
  });

  it('are durable, listed, and can be expired; another store on the same directory sees them', () => {
    const d = mkdtempSync(join(tmpdir(), 'vigil-silences-'));
    const a = new SilenceStore(d);
    const s = a.add(
      {
        matchers: { path: ['secret/data/payments/**'] },
        endsAt: new Date(T0 + 3_600_000).toISOString(),
        author: 'bob',
        reason: 'rotation',
      },
      T0,
    );
    const b = new SilenceStore(d);
    expect(b.all().map((x) => x.id)).toEqual([s.id]);
    expect(b.match(alert(), T0 + 1000)?.id).toBe(s.id);
    b.expire(s.id, T0 + 2000);
    const c = new SilenceStore(d);
    expect(c.match(alert(), T0 + 3000)).toBeUndefined();
  });

  it('reject empty matchers, bad CIDRs, missing reasons and backwards times', () => {
    const store = new SilenceStore(mkdtempSync(join(tmpdir(), 'vigil-silences-')));
    const base = { endsAt: new Date(T0 + MIN).toISOString(), author: 'a', reason: 'because' };
    expect(() => store.add({ ...base, matchers: {} }, T0)).toThrow(/at least one matcher/);
    expect(() => store.add({ ...base, matchers: { source_cidr: ['10.0.0.0/40'] } }, T0)).toThrow(
      /10\.0\.0\.0\/40/,
    );
    expect(() => store.add({ ...base, reason: '', matchers: { detector: ['x'] } }, T0)).toThrow(/reason/);
    expect(() =>
      store.add({ ...base, endsAt: new Date(T0 - MIN).toISOString(), matchers: { detector: ['x'] } }, T0),
    ).toThrow(/end after/);
  });

  it('from configuration are applied by the policy and marked on the alert', () => {
    const store = new SilenceStore(mkdtempSync(join(tmpdir(), 'vigil-silences-')), [
      silenceFromConfig({
        matchers: { detector: ['secret-read-spike'] },
        ends_at: '2027-01-01T00:00:00Z',
        author: 'ops',
        reason: 'known batch job',
      }),
    ]);
    const p = new AlertPolicy({ incidentWindowMs: 30 * MIN, timeZone: 'UTC', silences: store });
    const x = t('open', alert(), T0);
    p.apply([x]);
    expect(x.alert.silencedBy).toMatch(/^cfg-/);
    expect(() => store.expire(x.alert.silencedBy as string)).toThrow(/configuration/);
  });
});

describe('maintenance windows', () => {
  it('silence matching alerts during the recurring window, in the configured time zone', () => {
    const p = new AlertPolicy({
      incidentWindowMs: 30 * MIN,
      timeZone: 'Europe/Berlin',
      // Saturdays 02:00–04:00 Berlin time.
      maintenance: [
        {
          name: 'weekly-db-maintenance',
          cron: '0 2 * * 6',
          duration: 2 * 3_600_000,
          matchers: { path: ['database/**'] },
        },
      ],
    });
    const sat0230Berlin = Date.parse('2026-03-07T01:30:00Z');
    const inWindow = t('open', alert({ paths: ['database/rotate-root/pg'] }), sat0230Berlin);
    const outside = t(
      'open',
      alert({ paths: ['database/rotate-root/pg'], identity: { key: 'entity:x' } }),
      sat0230Berlin + 3 * 3_600_000,
    );
    const otherPath = t('open', alert({ identity: { key: 'entity:y' } }), sat0230Berlin);
    p.apply([inWindow, outside, otherPath]);
    expect(inWindow.alert.silencedBy).toBe('maintenance:weekly-db-maintenance');
    expect(outside.alert.silencedBy).toBeUndefined();
    expect(otherPath.alert.silencedBy).toBeUndefined();
  });

  it('reject an invalid cron at start-up', () => {
    expect(
      () =>
        new AlertPolicy({
          incidentWindowMs: 1,
          timeZone: 'UTC',
          maintenance: [{ name: 'x', cron: 'every saturday', duration: 1, matchers: {} }],
        }),
    ).toThrow();
  });
});

describe('inhibition', () => {
  it('keeps "stream silent" quiet while "audit device disabled" is open, and not after', () => {
    const p = new AlertPolicy({
      incidentWindowMs: 30 * MIN,
      timeZone: 'UTC',
      inhibit: [
        { source_detector: ['audit-device-disabled'], target_detector: ['audit-stream-silence'], equal: [] },
      ],
    });
    const disabled = alert({ detector: 'audit-device-disabled', identity: { key: 'entity:bob' } });
    const silence1 = alert({ detector: 'audit-stream-silence', identity: undefined, groupKey: '*' });
    const silence2 = alert({ detector: 'audit-stream-silence', identity: undefined, groupKey: '*' });
    const open = t('open', disabled, T0);
    const s1 = t('open', silence1, T0 + 10 * MIN);
    p.apply([open, s1]);
    expect(s1.alert.inhibitedBy).toBe(disabled.id);
    p.apply([t('resolve', disabled, T0 + 20 * MIN)]);
    const s2 = t('open', silence2, T0 + 30 * MIN);
    p.apply([s2]);
    expect(s2.alert.inhibitedBy).toBeUndefined();
  });
});

describe('routing', () => {
  const route: RouteConfig = {
    receivers: ['slack-security'],
    routes: [
      {
        match: { environment: ['production'], min_severity: 'high' },
        receivers: ['slack-security', 'pagerduty'],
      },
      { match: { environment: ['staging'] }, receivers: ['slack-staging'] },
      { match: { detector: ['rotation-overdue'] }, receivers: ['slack-platform'], continue: true },
      { match: { labels: { team: 'payments' } }, receivers: ['slack-payments'] },
    ],
  };

  it('sends production high/critical to chat and paging, lower severities to chat only', () => {
    expect(receiversFor(alert({ severity: 'critical' }), route).sort()).toEqual([
      'pagerduty',
      'slack-security',
    ]);
    expect(receiversFor(alert({ severity: 'medium' }), route)).toEqual(['slack-security']);
  });

  it('routes environments separately and falls back to the default', () => {
    expect(receiversFor(alert({ environment: 'staging', severity: 'critical' }), route)).toEqual([
      'slack-staging',
    ]);
    expect(receiversFor(alert({ environment: 'development', severity: 'low' }), route)).toEqual([
      'slack-security',
    ]);
  });

  it('continues past a matching route when asked, and matches labels', () => {
    const a = alert({
      environment: 'development',
      detector: 'rotation-overdue',
      severity: 'medium',
      labels: { team: 'payments' },
    });
    expect(receiversFor(a, route).sort()).toEqual(['slack-payments', 'slack-platform']);
  });

  it('lets a route send nowhere with an empty receiver list', () => {
    expect(
      receiversFor(alert({ severity: 'info' }), {
        receivers: ['x'],
        routes: [{ match: { severity: ['info'] }, receivers: [] }],
      }),
    ).toEqual([]);
  });
});

describe('notification decisions', () => {
  function sink(route: RouteConfig = { receivers: ['chat', 'pager'] }) {
    const sent: Notification[] = [];
    const s = new NotifySink({
      route,
      receivers: new Set(['chat', 'pager']),
      updateThrottleMs: 15 * MIN,
      enqueue: async (ns) => {
        sent.push(...ns);
      },
      logger: silentLogger(),
      now: () => 0,
    });
    return { s, sent };
  }

  it('notifies opens, throttles updates unless severity rises, and always tells about the resolution', async () => {
    const { s, sent } = sink({ receivers: ['chat'] });
    const a = alert({ severity: 'medium' });
    await s.write([t('open', a, T0)]);
    await s.write([{ ...t('update', a, T0 + 5 * MIN), alert: { ...a, seq: 2 } }]);
    await s.write([{ ...t('update', a, T0 + 6 * MIN), alert: { ...a, seq: 3, severity: 'high' } }]);
    await s.write([{ ...t('update', a, T0 + 25 * MIN), alert: { ...a, seq: 4, severity: 'high' } }]);
    await s.write([
      { ...t('resolve', a, T0 + 90 * MIN), alert: { ...a, seq: 5, severity: 'high', status: 'resolved' } },
    ]);
    expect(sent.map((x) => x.reason)).toEqual(['opened', 'escalated', 'updated', 'resolved']);
    expect(sent.map((x) => x.key)).toEqual([
      `${a.id}#1@chat`,
      `${a.id}#3@chat`,
      `${a.id}#4@chat`,
      `${a.id}#5@chat`,
    ]);
  });

  it('does not notify silenced alerts, but closes what it had opened', async () => {
    const { s, sent } = sink({ receivers: ['pager'] });
    const a = alert();
    await s.write([t('open', a, T0)]);
    await s.write([{ ...t('update', a, T0 + 20 * MIN), alert: { ...a, seq: 2, silencedBy: 'sil-1' } }]);
    await s.write([{ ...t('resolve', a, T0 + 40 * MIN), alert: { ...a, seq: 3, silencedBy: 'sil-1' } }]);
    const b = alert();
    await s.write([{ ...t('open', b, T0), alert: { ...b, silencedBy: 'sil-1' } }]);
    await s.write([{ ...t('resolve', b, T0 + MIN), alert: { ...b, seq: 2, silencedBy: 'sil-1' } }]);
    expect(sent.map((x) => [x.transition.alert.id, x.reason])).toEqual([
      [a.id, 'opened'],
      [a.id, 'resolved'],
    ]);
  });

  it('makes the same decisions after a restart from its snapshot', async () => {
    const first = sink({ receivers: ['chat'] });
    const a = alert();
    await first.s.write([t('open', a, T0)]);
    const second = sink({ receivers: ['chat'] });
    second.s.restore(JSON.parse(JSON.stringify(first.s.snapshot())));
    await second.s.write([{ ...t('update', a, T0 + MIN), alert: { ...a, seq: 2 } }]);
    expect(second.sent).toHaveLength(0);
  });
});
