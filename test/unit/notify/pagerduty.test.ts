import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Severity } from '../../../src/audit/event.js';
import { clearRegisteredSecrets, registerSecret } from '../../../src/audit/secrets.js';
import { Outbox } from '../../../src/notify/outbox.js';
import { buildPagerDutyEvent, PagerDutyReceiver } from '../../../src/notify/pagerduty.js';
import { FakePagerDuty } from '../../support/fake-pagerduty.js';
import { captureLogger, makeAlert, memoryMap, notify, tempDir, waitFor } from './helpers.js';

const ROUTING_KEY = 'R0UTINGKEY0123456789abcdefABCDEF';

let pd: FakePagerDuty;
beforeEach(async () => {
  pd = await FakePagerDuty.start();
});
afterEach(async () => {
  await pd.close();
  clearRegisteredSecrets();
});

function receiver(
  overrides: Partial<ConstructorParameters<typeof PagerDutyReceiver>[0]> = {},
): PagerDutyReceiver {
  return new PagerDutyReceiver({
    name: 'pd',
    routingKey: ROUTING_KEY,
    url: pd.url,
    timeoutMs: 2_000,
    ...overrides,
  });
}

describe('buildPagerDutyEvent', () => {
  it('triggers with dedup_key = fingerprint, mapped severity and the alert context', () => {
    const alert = makeAlert({ severity: 'high' });
    const e = buildPagerDutyEvent(notify(alert, 'opened', { receiver: 'pd' }), ROUTING_KEY);
    expect(e).toMatchObject({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: 'privileged-path-access:0123456789abcdef',
      payload: {
        summary: `${alert.title}: ${alert.summary}`,
        source: 'production: alice from 203.0.113.7',
        severity: 'error',
        timestamp: '2026-03-02T10:04:00.000Z',
        component: 'privileged-path-access',
        group: 'privilege',
        class: 'privileged-path-access',
      },
      links: [
        { href: 'https://runbooks.example.com/privileged-path-access', text: 'Runbook' },
        { href: alert.links.kibana, text: 'Investigate in Kibana' },
      ],
      client: 'Vigil',
    });
    expect(e.payload!.custom_details).toMatchObject({
      alert_id: alert.id,
      incident_id: 'inc-1',
      evidence: { observed: 12, expected: 0.4, window: '5m' },
      event_count: 12,
      paths: ['secret/data/prod/db'],
      source_addresses: ['203.0.113.7'],
      runbook: 'https://runbooks.example.com/privileged-path-access',
      identity: { token_ref: 'tr_0123456789abcdef', entity_id: 'ent-42', display_name: 'alice' },
    });
  });

  it('maps every severity', () => {
    const map: Record<Severity, string> = {
      critical: 'critical',
      high: 'error',
      medium: 'warning',
      low: 'info',
      info: 'info',
    };
    for (const [ours, theirs] of Object.entries(map)) {
      const e = buildPagerDutyEvent(notify(makeAlert({ severity: ours as Severity }), 'opened'), ROUTING_KEY);
      expect(e.payload!.severity).toBe(theirs);
    }
  });

  it('caps the summary at 1024 characters and scrubs secrets', () => {
    registerSecret('hunter2-the-db-password');
    const alert = makeAlert({
      summary: 'x'.repeat(5000) + ' hunter2-the-db-password',
      evidence: { observed: 'hunter2-the-db-password' },
    });
    const e = buildPagerDutyEvent(notify(alert, 'escalated'), ROUTING_KEY);
    expect(e.event_action).toBe('trigger');
    expect(e.payload!.summary.length).toBe(1024);
    const { routing_key: _key, ...rest } = e;
    expect(JSON.stringify(rest)).not.toContain('hunter2-the-db-password');
  });

  it('resolves with only routing key, action and the same dedup key', () => {
    const e = buildPagerDutyEvent(notify(makeAlert({ status: 'resolved', seq: 4 }), 'resolved'), ROUTING_KEY);
    expect(e).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: 'privileged-path-access:0123456789abcdef',
    });
  });
});

describe('PagerDutyReceiver against the local Events API', () => {
  it('opens one incident, updates it on escalation and resolves it with the same dedup key', async () => {
    const r = receiver();
    const alert = makeAlert({ severity: 'high' });
    expect(await r.deliver(notify(alert, 'opened', { receiver: 'pd' }), memoryMap())).toMatchObject({
      status: 'delivered',
    });
    expect(pd.incidents).toHaveLength(1);
    expect(pd.incidents[0]).toMatchObject({
      dedupKey: alert.fingerprint,
      status: 'triggered',
      severity: 'error',
    });

    await r.deliver(
      notify({ ...alert, seq: 2, severity: 'critical' }, 'escalated', { receiver: 'pd' }),
      memoryMap(),
    );
    expect(pd.incidents).toHaveLength(1);
    expect(pd.incidents[0]!.severity).toBe('critical');

    await r.deliver(
      notify({ ...alert, seq: 3, status: 'resolved' }, 'resolved', { receiver: 'pd' }),
      memoryMap(),
    );
    expect(pd.incidents).toHaveLength(1);
    expect(pd.incidents[0]!.status).toBe('resolved');
    expect(pd.incidents[0]!.events.map((e) => e.event_action)).toEqual(['trigger', 'trigger', 'resolve']);
    expect(pd.calls.map((c) => c.status)).toEqual([202, 202, 202]);
  });

  it('treats 400 invalid event as failed and the outbox never retries it (exactly one call)', async () => {
    const { dir, cleanup } = await tempDir();
    const { logger, lines } = captureLogger();
    const outbox = new Outbox({ dir, logger, backoffBaseMs: 1, backoffCapMs: 5, idleWakeMs: 5 });
    try {
      // An empty routing key is an invalid event.
      outbox.register(receiver({ routingKey: '' }));
      await outbox.enqueue([notify(makeAlert(), 'opened', { receiver: 'pd' })]);
      outbox.start();
      await waitFor(() => outbox.deadLetters().length === 1, 'dead letter');
      await outbox.stop();
      expect(pd.calls).toHaveLength(1);
      expect(pd.calls[0]!.status).toBe(400);
      expect(outbox.deadLetters()[0]!.reason).toBe(
        "pagerduty trigger: HTTP 400 Event object is invalid: 'routing_key' is missing or blank",
      );
      expect(outbox.stats()).toMatchObject({ pendingTotal: 0, retried: 0, dead: 1 });
      expect(lines.filter((l) => l.includes('dead-lettered'))).toHaveLength(1);
    } finally {
      await outbox.stop();
      await cleanup();
    }
  });

  it('maps 429 (with Retry-After), 500, 503 and a timeout to retry, other 4xx to failed', async () => {
    pd.failNext(1, { kind: 'http429', retryAfter: 3 });
    expect(await receiver().deliver(notify(makeAlert(), 'opened'), memoryMap())).toEqual({
      status: 'retry',
      reason: expect.stringContaining('HTTP 429'),
      retryAfterMs: 3000,
    });
    pd.failNext(1, { kind: 'http429' });
    const noHeader = await receiver().deliver(notify(makeAlert(), 'opened'), memoryMap());
    expect(noHeader).toMatchObject({ status: 'retry' });
    expect(noHeader).not.toHaveProperty('retryAfterMs');
    for (const status of [500, 502, 503]) {
      pd.failNext(1, { kind: 'http', status });
      expect(await receiver().deliver(notify(makeAlert(), 'opened'), memoryMap())).toMatchObject({
        status: 'retry',
        reason: expect.stringContaining(`HTTP ${status}`),
      });
    }
    pd.failNext(1, { kind: 'hang' });
    expect(await receiver({ timeoutMs: 150 }).deliver(notify(makeAlert(), 'opened'), memoryMap())).toEqual({
      status: 'retry',
      reason: 'pagerduty trigger: timed out after 150 ms',
    });
    // Wrong path: 404 is permanent.
    const wrong = await receiver({ url: pd.url.replace('/v2/enqueue', '/v1/nope') }).deliver(
      notify(makeAlert(), 'opened'),
      memoryMap(),
    );
    expect(wrong).toMatchObject({ status: 'failed', reason: expect.stringContaining('HTTP 404') });
    expect(pd.incidents).toHaveLength(0);
  });

  it('maps a refused connection to retry without naming the URL or key', async () => {
    await pd.close();
    const result = await receiver().deliver(notify(makeAlert(), 'opened'), memoryMap());
    expect(result).toMatchObject({ status: 'retry', reason: expect.stringContaining('network error') });
    expect(JSON.stringify(result)).not.toContain('127.0.0.1');
    expect(JSON.stringify(result)).not.toContain(ROUTING_KEY);
    pd = await FakePagerDuty.start();
  });
});
