import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryResult, Notification } from '../../../src/notify/notification.js';
import { Outbox, type OutboxOptions } from '../../../src/notify/outbox.js';
import { PagerDutyReceiver } from '../../../src/notify/pagerduty.js';
import { SlackReceiver, type SlackRef } from '../../../src/notify/slack.js';
import { FakePagerDuty } from '../../support/fake-pagerduty.js';
import { FakeSlack } from '../../support/fake-slack.js';
import {
  captureLogger,
  gate,
  makeAlert,
  notify,
  ScriptedReceiver,
  settle,
  T0,
  tempDir,
  waitFor,
} from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
const outboxes: Outbox[] = [];

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  for (const o of outboxes.splice(0)) await o.stop();
  await cleanup();
});

/** Fast backoff (ms, not s) so retries happen quickly; assertions never depend on timing. */
function outbox(options: Partial<OutboxOptions> = {}): Outbox {
  const o = new Outbox({ dir, backoffBaseMs: 2, backoffCapMs: 20, idleWakeMs: 5, ...options });
  outboxes.push(o);
  return o;
}

const alertA = makeAlert({ id: 'alert-A', fingerprint: 'det:aaaaaaaaaaaaaaaa' });
const alertB = makeAlert({ id: 'alert-B', fingerprint: 'det:bbbbbbbbbbbbbbbb', incidentId: 'inc-2' });

function transitions(alert: typeof alertA, receiver: string, enqueuedAt = Date.now()): Notification[] {
  return [
    notify({ ...alert, seq: 1 }, 'opened', { receiver, enqueuedAt }),
    notify({ ...alert, seq: 2, severity: 'high', eventCount: 30 }, 'escalated', { receiver, enqueuedAt }),
    notify({ ...alert, seq: 3, status: 'resolved', eventCount: 31 }, 'resolved', { receiver, enqueuedAt }),
  ];
}

describe('Outbox durability', () => {
  it('persists before enqueue resolves: a new Outbox on the same directory has the items, in order', async () => {
    const first = outbox();
    const items = [...transitions(alertA, 'r'), notify(alertB, 'opened', { receiver: 'r' })];
    await first.enqueue(items);
    // No start(), no stop(): as if the process died right after enqueue resolved.
    const second = outbox();
    expect(second.pendingNotifications().map((n) => n.key)).toEqual(items.map((n) => n.key));
    expect(second.stats()).toMatchObject({ pendingTotal: 4, pending: { r: 4 } });

    const r = new ScriptedReceiver('r');
    second.register(r);
    second.start();
    await waitFor(() => r.delivered.length === 4, 'all delivered');
    expect(r.delivered).toEqual(items.map((n) => n.key));
  });

  it('delivers a duplicate key once, in one process and across a restart after delivery', async () => {
    const first = outbox();
    const r1 = new ScriptedReceiver('r');
    first.register(r1);
    const n = notify(alertA, 'opened', { receiver: 'r' });
    await Promise.all([first.enqueue([n, n]), first.enqueue([n])]);
    first.start();
    await first.enqueue([n]);
    await waitFor(() => first.stats().pendingTotal === 0 && r1.delivered.length === 1, 'delivered');
    await first.enqueue([n]);
    await settle();
    expect(r1.attempts).toEqual([n.key]);
    await first.stop();

    // Restart: the pipeline replays the same notification after a crash.
    const second = outbox();
    const r2 = new ScriptedReceiver('r');
    second.register(r2);
    second.start();
    await second.enqueue([n]);
    await settle();
    expect(second.seen(n.key)).toBe(true);
    expect(second.stats().pendingTotal).toBe(0);
    // An idle receiver is listed at zero, so the depth gauge per receiver drops back.
    expect(second.stats().pending).toEqual({ r: 0 });
    expect(r2.attempts).toEqual([]);
  });

  it('keeps pending items when stopped, and stop waits for the send in flight', async () => {
    const o = outbox();
    const g = gate();
    const r = new ScriptedReceiver('r', async () => {
      await g.wait;
      return { status: 'delivered' };
    });
    o.register(r);
    const items = transitions(alertA, 'r');
    await o.enqueue(items);
    o.start();
    await waitFor(() => r.inFlight === 1, 'first send in flight');
    let stopped = false;
    const stopping = o.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).toBe(false);
    g.open();
    await stopping;
    expect(r.delivered).toEqual([items[0]!.key]);

    const again = outbox();
    expect(again.pendingNotifications().map((n) => n.key)).toEqual([items[1]!.key, items[2]!.key]);
  });

  it('compacts the log and reloads pending items, delivered keys, dead letters and receiver memory', async () => {
    const o = outbox({ compactAfterRecords: 5 });
    const r = new ScriptedReceiver('r', (n) =>
      n.transition.alert.id === 'alert-B' ? { status: 'failed', reason: 'nope' } : { status: 'delivered' },
    );
    o.register(r);
    o.memory('slack').set('alert:alert-A', { ts: '1.000001' });
    await o.enqueue(transitions(alertA, 'r'));
    await o.enqueue([notify(alertB, 'opened', { receiver: 'r' })]);
    o.start();
    await waitFor(() => o.stats().pendingTotal === 0, 'all settled');
    await o.stop();
    const pendingLater = notify(makeAlert({ id: 'alert-C' }), 'opened', { receiver: 'r' });
    await o.enqueue([pendingLater]);
    await o.compact();
    const lines = readFileSync(join(dir, 'outbox.log'), 'utf8').trim().split('\n');
    // header + memory + 3 done + 1 dead + 1 pending
    expect(lines).toHaveLength(7);
    expect(JSON.parse(lines[0]!)).toMatchObject({ t: 'hdr', version: 1 });

    const reloaded = outbox();
    expect(reloaded.pendingNotifications().map((n) => n.key)).toEqual([pendingLater.key]);
    expect(transitions(alertA, 'r').every((n) => reloaded.seen(n.key))).toBe(true);
    expect(reloaded.deadLetters()).toMatchObject([{ alertId: 'alert-B', reason: 'nope', receiver: 'r' }]);
    expect(reloaded.memory('slack').get('alert:alert-A')).toEqual({ ts: '1.000001' });
  });

  it('survives a torn last line from a crash mid-write', async () => {
    const o = outbox();
    const n1 = notify(alertA, 'opened', { receiver: 'r' });
    await o.enqueue([n1]);
    appendFileSync(join(dir, 'outbox.log'), '{"t":"enq","n":{"key":"torn');
    const { logger, lines } = captureLogger();
    const o2 = outbox({ logger });
    expect(o2.pendingNotifications().map((n) => n.key)).toEqual([n1.key]);
    expect(lines.some((l) => l.includes('skipped unreadable log lines'))).toBe(true);
    const n2 = notify(alertB, 'opened', { receiver: 'r' });
    await o2.enqueue([n2]);
    const o3 = outbox();
    expect(o3.pendingNotifications().map((n) => n.key)).toEqual([n1.key, n2.key]);
  });

  it('goes on from memory while its directory is unwritable, reports it, and rewrites its log once writable', async () => {
    const stateDir = join(dir, 'state', 'outbox');
    const errors: string[] = [];
    const { logger, lines } = captureLogger();
    const o = outbox({
      dir: stateDir,
      logger,
      storageRetryMs: 10,
      onStorageError: (e) => errors.push(e.message),
    });
    const r = new ScriptedReceiver('r');
    o.register(r);
    o.start();
    await o.enqueue([notify(alertA, 'opened', { receiver: 'r' })]);
    // Its `done` record lands a little after the receiver reports the delivery: wait for the outbox.
    await waitFor(() => o.stats().delivered === 1, 'first delivered');
    expect(o.storageFault()).toBeUndefined();

    // The directory disappears and a file takes its place: nothing can be written there now.
    rmSync(stateDir, { recursive: true, force: true });
    writeFileSync(stateDir, 'not a directory');
    const b = transitions(alertB, 'r');
    await o.enqueue(b);
    // Accepted and delivered all the same, in order; the fault is reported, once in the log.
    await waitFor(() => o.stats().delivered === 4, 'delivered during the fault');
    expect(r.delivered.slice(1)).toEqual(b.map((n) => n.key));
    expect(o.storageFault()?.error).toMatch(/^E[A-Z]+: /);
    expect(errors.length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.includes('cannot write its log'))).toHaveLength(1);
    // Known keys stay known: a replay after the fault does not send them again.
    await o.enqueue(b);
    expect(o.stats().pendingTotal).toBe(0);

    // Writable again: the retry rewrites the whole live state, without waiting for new work.
    rmSync(stateDir);
    mkdirSync(stateDir);
    await waitFor(() => o.storageFault() === undefined, 'log rewritten');
    expect(lines.some((l) => l.includes('log writable again'))).toBe(true);
    const pending = notify(makeAlert({ id: 'alert-C', fingerprint: 'det:cccccccccccccccc' }), 'opened', {
      receiver: 'unregistered',
    });
    // ... and records are appended again: a second outbox on the directory knows everything.
    await o.stop();
    await o.enqueue([pending]);
    const again = outbox({ dir: stateDir });
    for (const n of b) expect(again.seen(n.key), n.key).toBe(true);
    expect(again.pendingNotifications().map((n) => n.key)).toEqual([pending.key]);
  });

  it('a delivery that settles as the log becomes writable again is not left pending in the rewrite', async () => {
    const stateDir = join(dir, 'state', 'outbox');
    let now = T0;
    const release = gate();
    const o = outbox({ dir: stateDir, now: () => now, storageRetryMs: 1000 });
    // The delivery ends, and the clock passes the retry time, at the same moment: the `done`
    // write is the one that rewrites the whole log.
    const r = new ScriptedReceiver('r', async () => {
      await release.wait;
      now += 5000;
      return { status: 'delivered' };
    });
    o.register(r);
    rmSync(stateDir, { recursive: true, force: true });
    writeFileSync(stateDir, 'not a directory');
    o.start();
    const n = notify(alertA, 'opened', { receiver: 'r' });
    await o.enqueue([n]);
    expect(o.storageFault()).toBeDefined();
    rmSync(stateDir);
    mkdirSync(stateDir);
    release.open();
    await waitFor(() => o.stats().delivered === 1, 'delivered');
    expect(o.storageFault()).toBeUndefined();
    await o.stop();
    // A restart finds it delivered, not pending (it would be sent again, after later transitions).
    const again = outbox({ dir: stateDir, now: () => now });
    expect(again.pendingNotifications()).toEqual([]);
    expect(again.seen(n.key)).toBe(true);
  });

  it('holds checkpoints back while what it accepted during a fault waits, for ten minutes at most', async () => {
    const stateDir = join(dir, 'state', 'outbox');
    let now = T0;
    const release = gate();
    const o = outbox({ dir: stateDir, now: () => now, storageRetryMs: 60_000 });
    const r = new ScriptedReceiver('r', async () => {
      await release.wait;
      return { status: 'delivered' };
    });
    o.register(r);
    await expect(o.durable()).resolves.toBeUndefined();
    rmSync(stateDir, { recursive: true, force: true });
    writeFileSync(stateDir, 'not a directory');
    o.start();
    await o.enqueue([notify(alertA, 'opened', { receiver: 'r' })]);
    await expect(o.durable()).rejects.toThrow(
      /cannot be written .*1 notification\(s\) accepted since .* are in memory only/,
    );
    // Delivered: nothing needs the journal any more, though the log is still failing.
    release.open();
    await waitFor(() => o.stats().delivered === 1, 'delivered');
    expect(o.storageFault()).toBeDefined();
    await expect(o.durable()).resolves.toBeUndefined();
    // Another one waits; past ten minutes into the fault, checkpoints go ahead anyway.
    const blocked = new ScriptedReceiver('r', () => new Promise<never>(() => {}));
    o.register(blocked);
    await o.enqueue([notify(alertB, 'opened', { receiver: 'r' })]);
    await expect(o.durable()).rejects.toThrow(/in memory only/);
    now += 10 * 60_000;
    await expect(o.durable()).resolves.toBeUndefined();
  });

  it('a directory that cannot be created at all: enqueue still queues, and the fault is reported', async () => {
    const blocker = join(dir, 'blocker');
    writeFileSync(blocker, 'a file where a directory should be');
    const o = outbox({ dir: join(blocker, 'outbox') });
    const r = new ScriptedReceiver('r');
    o.register(r);
    o.start();
    const n = notify(alertA, 'opened', { receiver: 'r' });
    await o.enqueue([n]);
    await waitFor(() => r.delivered.includes(n.key), 'delivered from memory');
    expect(o.storageFault()?.error).toMatch(/ENOTDIR|EEXIST/);
  });
});

describe('Outbox receiver health', () => {
  it('says which receiver keeps failing, since when and why, until a delivery goes through', async () => {
    const release = gate();
    const o = outbox();
    const r = new ScriptedReceiver('r', async () =>
      release.isOpen() ? { status: 'delivered' } : { status: 'retry', reason: 'HTTP 503' },
    );
    o.register(r);
    o.start();
    const before = Date.now();
    await o.enqueue([notify(alertA, 'opened', { receiver: 'r' })]);
    await waitFor(() => o.stats().retried >= 2, 'two failed attempts');
    const failing = o.stats().failing;
    expect(failing).toEqual({ r: { since: expect.any(Number), reason: 'HTTP 503' } });
    // Since the first failure of the run, not the latest.
    expect(failing['r']!.since).toBeGreaterThanOrEqual(before);
    expect(failing['r']!.since).toBeLessThan(Date.now());
    release.open();
    await waitFor(() => o.stats().delivered === 1, 'delivered');
    expect(o.stats().failing).toEqual({});
  });
});

describe('Outbox ordering and retries', () => {
  it('never lets a later transition of an alert overtake an earlier one; other alerts are not blocked', async () => {
    const o = outbox();
    const release = gate();
    const r = new ScriptedReceiver('r', async (n) => {
      if (n.transition.alert.id === 'alert-A' && !release.isOpen())
        return { status: 'retry', reason: 'HTTP 503' };
      return { status: 'delivered' };
    });
    o.register(r);
    const a = transitions(alertA, 'r');
    const b = transitions(alertB, 'r');
    await o.enqueue([a[0]!, b[0]!, a[1]!, b[1]!, a[2]!, b[2]!]);
    o.start();
    // B's transitions all go through while A's first one keeps failing ...
    await waitFor(() => r.delivered.length === 3, 'B delivered');
    expect(r.delivered).toEqual(b.map((n) => n.key));
    await waitFor(() => r.attemptsOf(a[0]!.key) >= 3, 'A retried');
    // ... and nothing later of A was even attempted.
    expect(r.attemptsOf(a[1]!.key) + r.attemptsOf(a[2]!.key)).toBe(0);

    release.open();
    await waitFor(() => o.stats().delivered === 6, 'A delivered');
    expect(r.delivered.filter((k) => k.startsWith('alert-A'))).toEqual(a.map((n) => n.key));
    expect(o.stats()).toMatchObject({ pendingTotal: 0, delivered: 6, dead: 0 });
    expect(o.stats().retried).toBeGreaterThanOrEqual(3);
  });

  it('after an outage (503s) delivers everything to PagerDuty exactly once and in order', async () => {
    const pd = await FakePagerDuty.start();
    try {
      pd.failNext(6, { kind: 'http', status: 503 });
      const o = outbox();
      o.register(
        new PagerDutyReceiver({
          name: 'pd',
          routingKey: 'routing-key-0123456789',
          url: pd.url,
          timeoutMs: 2000,
        }),
      );
      const a = transitions(alertA, 'pd');
      const b = transitions(alertB, 'pd');
      await o.enqueue([a[0]!, b[0]!, a[1]!, a[2]!, b[1]!, b[2]!]);
      o.start();
      await waitFor(() => o.stats().pendingTotal === 0, 'outbox drained');
      expect(pd.calls.filter((c) => c.status === 503)).toHaveLength(6);
      const accepted = pd
        .accepted()
        .map((c) => `${String(c.body!.dedup_key)} ${String(c.body!.event_action)}`);
      expect(accepted).toHaveLength(6);
      for (const fp of [alertA.fingerprint, alertB.fingerprint]) {
        expect(accepted.filter((x) => x.startsWith(fp))).toEqual([
          `${fp} trigger`,
          `${fp} trigger`,
          `${fp} resolve`,
        ]);
        expect(pd.incidentsFor(fp)).toMatchObject([{ status: 'resolved' }]);
      }
      expect(o.stats()).toMatchObject({ delivered: 6, dead: 0 });
    } finally {
      await pd.close();
    }
  });

  it('after a Slack outage posts one message per alert, edits in place, threads, and remembers it all', async () => {
    const slack = await FakeSlack.start();
    try {
      slack.failNext(3, { kind: 'http', status: 503 });
      slack.failNext(1, { kind: 'http429', retryAfter: 0 });
      const o = outbox();
      o.register(
        new SlackReceiver({
          name: 'slack',
          channel: '#alerts',
          token: slack.token,
          apiUrl: slack.url,
          timeoutMs: 2000,
        }),
      );
      const incident = { id: 'inc-9', title: 'alice', firstAlertId: alertA.id };
      const a = transitions(alertA, 'slack').map((n) => ({ ...n, incident }));
      const b = notify(alertB, 'opened', { receiver: 'slack', incident });
      await o.enqueue([a[0]!, a[1]!, b, a[2]!]);
      o.start();
      await waitFor(() => o.stats().pendingTotal === 0, 'drained');
      await o.stop();

      const top = slack.topLevel();
      expect(top).toHaveLength(1);
      const head = slack.messages.get(top[0]!.ts)!;
      expect(head.edits).toBe(2); // escalated, resolved
      expect(head.text).toMatch(/^✅ Resolved/);
      const thread = slack.replies(head.ts).map((m) => m.text);
      // B's own message, the escalation note and the resolution note (B may land before or after A's note).
      expect(thread).toHaveLength(3);
      expect(thread.filter((t) => t.includes('Escalated'))).toHaveLength(1);
      expect(thread.filter((t) => t.startsWith('✅ Resolved after 31 events'))).toHaveLength(1);
      expect(thread.indexOf(thread.find((t) => t.includes('Escalated'))!)).toBeLessThan(
        thread.indexOf(thread.find((t) => t.startsWith('✅ Resolved'))!),
      );

      // The Slack references survive a restart.
      const reloaded = outbox();
      expect(reloaded.memory('slack').get<SlackRef>(`alert:${alertB.id}`)).toMatchObject({
        threadTs: head.ts,
      });
      expect(reloaded.memory('slack').get<SlackRef>('incident:inc-9')).toMatchObject({
        ts: head.ts,
        channel: 'C0ALERTS',
      });
    } finally {
      await slack.close();
    }
  });

  it('holds a later alert of an incident until the first alert is posted, for at most incidentHoldMs', async () => {
    // Real time plus a jump we control for the hold expiry.
    let offset = 0;
    const t0 = Date.now();
    const o = outbox({ now: () => Date.now() + offset, incidentHoldMs: 60_000 });
    let firstUp = false;
    const r = new ScriptedReceiver('r', (n) =>
      n.transition.alert.id === 'alert-A' && !firstUp
        ? { status: 'retry', reason: 'HTTP 503' }
        : { status: 'delivered' },
    );
    o.register(r);
    const incident = { id: 'inc-3', title: 'alice', firstAlertId: alertA.id };
    const a = notify(alertA, 'opened', { receiver: 'r', incident, enqueuedAt: t0 });
    const b = notify(alertB, 'opened', { receiver: 'r', incident, enqueuedAt: t0 });
    const c = notify(makeAlert({ id: 'alert-C' }), 'opened', { receiver: 'r', enqueuedAt: t0 });
    await o.enqueue([a, b, c]);
    o.start();
    await waitFor(
      () => r.attemptsOf(a.key) >= 3 && r.delivered.includes(c.key),
      'A retried, C (other incident) sent',
    );
    expect(r.attemptsOf(b.key)).toBe(0);
    firstUp = true;
    await waitFor(() => r.delivered.length === 3, 'A then B');
    expect(r.delivered.indexOf(a.key)).toBeLessThan(r.delivered.indexOf(b.key));

    // A first alert that stays stuck holds the others back only until the hold expires.
    const incident2 = { id: 'inc-4', title: 'bob', firstAlertId: 'alert-D' };
    const d = notify(makeAlert({ id: 'alert-D' }), 'opened', {
      receiver: 's',
      incident: incident2,
      enqueuedAt: t0,
    });
    const e = notify(makeAlert({ id: 'alert-E' }), 'opened', {
      receiver: 's',
      incident: incident2,
      enqueuedAt: t0,
    });
    const stuck = new ScriptedReceiver('s', (n) =>
      n.transition.alert.id === 'alert-D' ? { status: 'retry', reason: 'HTTP 503' } : { status: 'delivered' },
    );
    o.register(stuck);
    await o.enqueue([d, e]);
    await waitFor(() => stuck.attempts.length >= 2, 'D retried');
    expect(stuck.delivered).toEqual([]);
    offset = 60_000;
    await waitFor(() => stuck.delivered.length === 1, 'E sent alone after the hold');
    expect(stuck.delivered).toEqual([e.key]);
  });

  it('honours retryAfterMs for the item and pauses the receiver (injected clock)', async () => {
    let now = T0;
    const o = outbox({ now: () => now, random: () => 0 });
    let first = true;
    const r = new ScriptedReceiver('r', () => {
      if (first) {
        first = false;
        return { status: 'retry', reason: 'HTTP 429', retryAfterMs: 60_000 };
      }
      return { status: 'delivered' };
    });
    o.register(r);
    const na = notify(alertA, 'opened', { receiver: 'r', enqueuedAt: T0 });
    await o.enqueue([na]);
    o.start();
    await waitFor(() => r.attempts.length === 1, 'first attempt');
    const nb = notify(alertB, 'opened', { receiver: 'r', enqueuedAt: T0 });
    await o.enqueue([nb]);
    await settle(50);
    // Paused: neither the rate-limited item nor another alert for the same receiver was sent.
    expect(r.attempts).toEqual([na.key]);
    now = T0 + 59_999;
    await settle(50);
    expect(r.attempts).toEqual([na.key]);
    now = T0 + 60_000;
    await waitFor(() => r.delivered.length === 2, 'both delivered after the pause');
    expect(r.delivered.sort()).toEqual([na.key, nb.key].sort());
  });

  it('backs off exponentially from the base delay (injected clock, no jitter draw)', async () => {
    let now = T0;
    const o = outbox({ now: () => now, random: () => 0, backoffBaseMs: 1000, backoffCapMs: 4000 });
    const r = new ScriptedReceiver('r', () => ({ status: 'retry', reason: 'HTTP 500' }));
    o.register(r);
    await o.enqueue([notify(alertA, 'opened', { receiver: 'r', enqueuedAt: T0 })]);
    o.start();
    await waitFor(() => r.attempts.length === 1, 'attempt 1');
    // With random() = 0 each delay is half the exponential step: 500, 1000, 2000, 2000 (cap 4000 / 2).
    const expectedDelays = [500, 1000, 2000, 2000];
    for (const [i, delay] of expectedDelays.entries()) {
      now += delay - 1;
      await settle(30);
      expect(r.attempts.length).toBe(i + 1);
      now += 1;
      await waitFor(() => r.attempts.length === i + 2, `attempt ${i + 2}`);
    }
  });
});

describe('Outbox dead letters', () => {
  it('gives up after giveUpAfterMs: dead letter with reason, one error log line without the payload', async () => {
    let now = T0;
    const { logger, lines, records } = captureLogger();
    const o = outbox({ now: () => now, giveUpAfterMs: 3_600_000, logger });
    const r = new ScriptedReceiver('r', () => ({ status: 'retry', reason: 'webhook: HTTP 503' }));
    o.register(r);
    const secretish = 'payload-detail-that-must-not-be-logged';
    const n = notify(makeAlert({ id: 'alert-G', summary: secretish }), 'opened', {
      receiver: 'r',
      enqueuedAt: T0,
    });
    await o.enqueue([n]);
    o.start();
    await waitFor(() => r.attempts.length >= 1, 'attempted');
    now = T0 + 3_600_000;
    await waitFor(() => o.deadLetters().length === 1, 'dead letter');
    await settle();

    const [letter] = o.deadLetters();
    expect(letter).toMatchObject({ key: n.key, receiver: 'r', alertId: 'alert-G' });
    expect(letter!.reason).toMatch(/^gave up after 60 min \(\d+ attempt\(s\); last: webhook: HTTP 503\)$/);
    expect(o.stats()).toMatchObject({ pendingTotal: 0, dead: 1, deadLetters: 1 });
    const errors = records().filter((x) => x['level'] === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      msg: 'notification dead-lettered',
      alertId: 'alert-G',
      receiver: 'r',
      reason: letter!.reason,
    });
    expect(lines.join('\n')).not.toContain(secretish);

    // Persisted: a restart still lists it, and the key stays "seen".
    await o.stop();
    const again = outbox({ now: () => now });
    expect(again.deadLetters()).toMatchObject([{ key: n.key, reason: letter!.reason }]);
    expect(again.seen(n.key)).toBe(true);
  });

  it('dead-letters an item for an unknown receiver with a clear reason, others proceed', async () => {
    const seen: Array<[DeliveryResult['status'], string, number]> = [];
    const o = outbox({
      onDelivery: (result, n, latencyMs) => seen.push([result.status, n.receiver, latencyMs]),
    });
    const r = new ScriptedReceiver('known');
    o.register(r);
    await o.enqueue([
      notify(alertA, 'opened', { receiver: 'slack-ops' }),
      notify(alertB, 'opened', { receiver: 'known' }),
    ]);
    o.start();
    await waitFor(() => o.deadLetters().length === 1 && r.delivered.length === 1, 'settled');
    expect(o.deadLetters()[0]).toMatchObject({
      receiver: 'slack-ops',
      reason: 'no receiver named "slack-ops" is configured',
      attempts: 0,
    });
    expect(seen.map(([s, name]) => `${s}:${name}`).sort()).toEqual(['delivered:known', 'failed:slack-ops']);
    expect(seen.every(([, , latency]) => latency >= 0)).toBe(true);
  });

  it('dead-letters a failed result at once, and the next transition of that alert still goes out', async () => {
    const o = outbox();
    const r = new ScriptedReceiver('r', (n) =>
      n.reason === 'opened'
        ? { status: 'failed', reason: 'slack chat.postMessage: msg_too_long' }
        : { status: 'delivered' },
    );
    o.register(r);
    const a = transitions(alertA, 'r');
    await o.enqueue(a);
    o.start();
    await waitFor(() => o.stats().pendingTotal === 0, 'settled');
    expect(r.attemptsOf(a[0]!.key)).toBe(1);
    expect(r.delivered).toEqual([a[1]!.key, a[2]!.key]);
    expect(o.deadLetters().map((d) => d.reason)).toEqual(['slack chat.postMessage: msg_too_long']);
  });

  it('treats a receiver that throws or never settles as a retry', async () => {
    let calls = 0;
    const r = new ScriptedReceiver('r', async () => {
      calls++;
      if (calls === 1) throw new Error('boom with hvs.CAESIJabcdefghijklmnopqrstuvwxyz0123');
      if (calls === 2) return new Promise<DeliveryResult>(() => {});
      return { status: 'delivered' };
    });
    const { logger, lines } = captureLogger();
    const o = outbox({ attemptTimeoutMs: 50, logger });
    o.register(r);
    await o.enqueue([notify(alertA, 'opened', { receiver: 'r' })]);
    o.start();
    // The outbox counts a delivery once its `done` record is on disk, a little after the receiver
    // reports it: wait for the outbox, not the receiver.
    await waitFor(() => o.stats().delivered === 1, 'delivered on the third attempt');
    expect(r.delivered).toHaveLength(1);
    expect(calls).toBe(3);
    expect(o.stats()).toMatchObject({ retried: 2, delivered: 1, dead: 0 });
    const text = lines.join('\n');
    expect(text).toContain('receiver error: boom');
    expect(text).toContain('attempt did not settle within 50 ms');
    // The thrown message held a Vault token: scrubbed before it reached a log line.
    expect(text).not.toContain('hvs.CAESI');
  });
});
