import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clearRegisteredSecrets, registerSecret } from '../../../src/audit/secrets.js';
import type { DeliveryResult } from '../../../src/notify/notification.js';
import {
  buildSlackMessage,
  cut,
  SlackReceiver,
  type SlackBlock,
  type SlackRef,
  type SlackReceiverOptions,
} from '../../../src/notify/slack.js';
import { FakeSlack } from '../../support/fake-slack.js';
import { captureLogger, makeAlert, memoryMap, notify } from './helpers.js';

const TOKEN = 'xoxb-test-0000000000-good';

let slack: FakeSlack;
beforeEach(async () => {
  slack = await FakeSlack.start({ token: TOKEN });
});
afterEach(async () => {
  await slack.close();
  clearRegisteredSecrets();
});

function receiver(overrides: Partial<SlackReceiverOptions> = {}): SlackReceiver {
  return new SlackReceiver({
    name: 'slack',
    channel: '#alerts',
    token: TOKEN,
    apiUrl: slack.url,
    timeoutMs: 2_000,
    mentionOnCritical: ['<!here>', '<@U0ONCALL>'],
    ...overrides,
  });
}

function blockTexts(blocks: unknown[]): string {
  return JSON.stringify(blocks);
}

describe('SlackReceiver against the local Slack API', () => {
  it('posts one top-level message per alert and edits it in place on escalation, with a thread note', async () => {
    const r = receiver();
    const memory = memoryMap();
    const alert = makeAlert({ severity: 'medium', eventCount: 12 });

    expect(await r.deliver(notify(alert, 'opened', { receiver: 'slack' }), memory)).toMatchObject({
      status: 'delivered',
    });
    const [msg] = slack.topLevel();
    expect(slack.topLevel()).toHaveLength(1);
    expect(msg!.channel).toBe('C0ALERTS');
    expect(msg!.text).toContain('MEDIUM');
    expect(msg!.text).toContain('Privileged path read from a new address');
    const ref = memory.get<SlackRef>(`alert:${alert.id}`)!;
    expect(ref).toMatchObject({ channel: 'C0ALERTS', ts: msg!.ts, threadTs: msg!.ts, severity: 'medium' });
    expect(memory.get<SlackRef>('incident:inc-1')).toMatchObject({ ts: msg!.ts });

    const escalated = makeAlert({
      severity: 'high',
      eventCount: 40,
      seq: 2,
      evidence: { observed: 40, expected: 0.4, window: '5m' },
    });
    expect(await r.deliver(notify(escalated, 'escalated', { receiver: 'slack' }), memory)).toMatchObject({
      status: 'delivered',
    });
    expect(slack.topLevel()).toHaveLength(1);
    const edited = slack.messages.get(msg!.ts)!;
    expect(edited.edits).toBe(1);
    expect(edited.text).toContain('HIGH');
    expect(blockTexts(edited.blocks)).toContain('40 events');
    const notes = slack.replies(msg!.ts);
    expect(notes).toHaveLength(1);
    expect(notes[0]!.text).toContain('severity medium → *high*');
    expect(notes[0]!.text).toContain('events 12 → 40');
    // Update used the channel id Slack returned, not the configured #name.
    expect(slack.callsOf('chat.update')[0]!.body['channel']).toBe('C0ALERTS');

    // A plain update edits in place without a thread note.
    const updated = makeAlert({ severity: 'high', eventCount: 55, seq: 3 });
    await r.deliver(notify(updated, 'updated', { receiver: 'slack' }), memory);
    expect(slack.messages.get(msg!.ts)!.edits).toBe(2);
    expect(slack.replies(msg!.ts)).toHaveLength(1);
    expect(slack.topLevel()).toHaveLength(1);
  });

  it('puts a later alert of the same incident into the incident thread and keeps its own message', async () => {
    const r = receiver();
    const memory = memoryMap();
    const first = makeAlert({ id: 'alert-first', severity: 'medium' });
    const second = makeAlert({
      id: 'alert-second',
      detector: 'token-volume',
      title: 'Token read volume spike',
      severity: 'high',
    });
    const incident = { id: 'inc-7', title: 'alice', firstAlertId: first.id };

    await r.deliver(notify(first, 'opened', { receiver: 'slack', incident }), memory);
    await r.deliver(notify(second, 'opened', { receiver: 'slack', incident }), memory);
    const top = slack.topLevel();
    expect(top).toHaveLength(1);
    const thread = slack.replies(top[0]!.ts);
    expect(thread).toHaveLength(1);
    expect(thread[0]!.text).toContain('Token read volume spike');
    expect(memory.get<SlackRef>('alert:alert-second')).toMatchObject({
      ts: thread[0]!.ts,
      threadTs: top[0]!.ts,
    });

    // Escalating the second alert edits ITS reply and notes the change in the incident thread.
    await r.deliver(
      notify({ ...second, severity: 'critical', seq: 2 }, 'escalated', { receiver: 'slack', incident }),
      memory,
    );
    expect(slack.messages.get(thread[0]!.ts)!.edits).toBe(1);
    expect(slack.messages.get(top[0]!.ts)!.edits).toBe(0);
    const replies = slack.replies(top[0]!.ts);
    expect(replies).toHaveLength(2);
    expect(replies[1]!.text).toContain('severity high → *critical*');
    // Critical: the note mentions the on-call and is broadcast to the channel.
    expect(replies[1]!.text).toContain('<!here> <@U0ONCALL>');
    expect(replies[1]!.replyBroadcast).toBe(true);
  });

  it('on resolution edits the message to the resolved look and replies "Resolved" in the thread', async () => {
    const r = receiver();
    const memory = memoryMap();
    const alert = makeAlert({ severity: 'high' });
    await r.deliver(notify(alert, 'opened', { receiver: 'slack' }), memory);
    const ts = slack.topLevel()[0]!.ts;

    const resolved = makeAlert({
      severity: 'high',
      status: 'resolved',
      seq: 2,
      eventCount: 31,
      resolvedAt: '2026-03-02T11:00:00Z',
    });
    expect(await r.deliver(notify(resolved, 'resolved', { receiver: 'slack' }), memory)).toMatchObject({
      status: 'delivered',
    });
    const msg = slack.messages.get(ts)!;
    expect(msg.edits).toBe(1);
    expect(msg.text).toMatch(/^✅ Resolved: .*after 31 events/);
    expect(blockTexts(msg.blocks)).toContain('✅ RESOLVED');
    expect(slack.replies(ts).map((m) => m.text)).toEqual([
      expect.stringMatching(/^✅ Resolved after 31 events/),
    ]);
    expect(slack.topLevel()).toHaveLength(1);
    // The alert is over: its reference is dropped.
    expect(memory.get(`alert:${alert.id}`)).toBeUndefined();
  });

  it('posts a new message when the stored reference is lost or Slack no longer has the message', async () => {
    const r = receiver();
    const alert = makeAlert();
    // Memory lost (fresh memory): an escalation is posted as a new message.
    expect(
      await r.deliver(
        notify({ ...alert, seq: 2, severity: 'high' }, 'escalated', { receiver: 'slack' }),
        memoryMap(),
      ),
    ).toMatchObject({
      status: 'delivered',
    });
    expect(slack.topLevel()).toHaveLength(1);
    expect(slack.callsOf('chat.update')).toHaveLength(0);

    // message_not_found on update: post a new one and remember it.
    const memory = memoryMap();
    memory.set(`alert:${alert.id}`, {
      channel: 'C0ALERTS',
      ts: '1.000001',
      threadTs: '1.000001',
    } satisfies SlackRef);
    expect(
      await r.deliver(notify({ ...alert, seq: 3 }, 'updated', { receiver: 'slack' }), memory),
    ).toMatchObject({
      status: 'delivered',
    });
    expect(slack.callsOf('chat.update').at(-1)!.response).toMatchObject({
      ok: false,
      error: 'message_not_found',
    });
    expect(slack.topLevel()).toHaveLength(2);
    expect(memory.get<SlackRef>(`alert:${alert.id}`)!.ts).toBe(slack.topLevel()[1]!.ts);
  });

  it('maps 429 with Retry-After to retry with retryAfterMs and makes exactly one request', async () => {
    slack.failNext(1, { kind: 'http429', retryAfter: 7 });
    const result = await receiver().deliver(
      notify(makeAlert(), 'opened', { receiver: 'slack' }),
      memoryMap(),
    );
    expect(result).toEqual({
      status: 'retry',
      reason: expect.stringContaining('rate limited'),
      retryAfterMs: 7000,
    });
    // The WebClient did not sleep and retry on its own: the outbox owns retries.
    expect(slack.calls).toHaveLength(1);
  });

  it('maps the ratelimited platform error, 500, 503 and a timeout to retry', async () => {
    const cases: Array<[Parameters<FakeSlack['failNext']>[1], RegExp]> = [
      [{ kind: 'error', error: 'ratelimited' }, /ratelimited/],
      [{ kind: 'http', status: 500 }, /HTTP 500/],
      [{ kind: 'http', status: 503 }, /HTTP 503/],
      [{ kind: 'hang' }, /timed out/],
    ];
    for (const [fault, reason] of cases) {
      slack.failNext(1, fault);
      const r = receiver({ timeoutMs: 200 });
      const result = await r.deliver(notify(makeAlert(), 'opened', { receiver: 'slack' }), memoryMap());
      expect(result).toMatchObject({ status: 'retry', reason: expect.stringMatching(reason) });
    }
    expect(slack.topLevel()).toHaveLength(0);
  });

  it('maps an invalid token, an unknown channel and other permanent errors to failed', async () => {
    const bad = await receiver({ token: 'xoxb-wrong-token-123' }).deliver(
      notify(makeAlert(), 'opened'),
      memoryMap(),
    );
    expect(bad).toEqual({ status: 'failed', reason: 'slack chat.postMessage: invalid_auth' });

    const nochan = await receiver({ channel: '#does-not-exist' }).deliver(
      notify(makeAlert(), 'opened'),
      memoryMap(),
    );
    expect(nochan).toEqual({ status: 'failed', reason: 'slack chat.postMessage: channel_not_found' });

    for (const error of [
      'not_in_channel',
      'is_archived',
      'token_revoked',
      'msg_too_long',
      'invalid_blocks',
    ]) {
      slack.failNext(1, { kind: 'error', error });
      const result = await receiver().deliver(notify(makeAlert(), 'opened'), memoryMap());
      expect(result).toEqual({ status: 'failed', reason: `slack chat.postMessage: ${error}` });
    }
  });

  it('never lets the token reach a message, a result, a request body or a log line (canary)', async () => {
    // Not registered with the scrubber and not token-shaped: only care keeps it out.
    const canary = 'canary-7d1f0e9b3a5c4d2e';
    await slack.close();
    slack = await FakeSlack.start({ token: canary });
    const { logger, lines } = captureLogger();
    const r = receiver({ token: canary, logger, timeoutMs: 200 });
    const memory = memoryMap();
    const results: DeliveryResult[] = [];
    const alert = makeAlert({ severity: 'critical' });
    results.push(await r.deliver(notify(alert, 'opened'), memory));
    results.push(await r.deliver(notify({ ...alert, seq: 2, eventCount: 99 }, 'escalated'), memory));
    for (const fault of [
      { kind: 'http429', retryAfter: 1 },
      { kind: 'http', status: 500 },
      { kind: 'hang' },
      { kind: 'error', error: 'invalid_auth' },
    ] as const) {
      slack.failNext(1, fault);
      results.push(await r.deliver(notify({ ...alert, seq: 3 }, 'updated'), memory));
    }
    results.push(
      await receiver({ token: canary, logger, channel: '#nope' }).deliver(
        notify(makeAlert({ id: 'x' }), 'opened'),
        memoryMap(),
      ),
    );
    results.push(await r.deliver(notify({ ...alert, seq: 4, status: 'resolved' }, 'resolved'), memory));

    expect(results.map((x) => x.status)).toEqual([
      'delivered',
      'delivered',
      'retry',
      'retry',
      'retry',
      'failed',
      'failed',
      'delivered',
    ]);
    // The token was really used (in the Authorization header) ...
    expect(
      slack.calls.filter((c) => c.status !== 0).every((c) => c.authorization === `Bearer ${canary}`),
    ).toBe(true);
    // ... and appears nowhere else.
    const everything = [
      JSON.stringify(results),
      ...lines,
      ...[...slack.messages.values()].map((m) => JSON.stringify(m)),
      ...slack.calls.map((c) => c.raw),
      JSON.stringify([...memory.map]),
    ].join('\n');
    expect(everything).not.toContain(canary);
  });

  it('scrubs registered secrets and secret-shaped strings out of what it posts', async () => {
    registerSecret('super-secret-db-password');
    const alert = makeAlert({
      summary: 'leaked super-secret-db-password and hvs.CAESIJabcdefghijklmnopqrstuvwxyz0123 in a request',
    });
    await receiver().deliver(notify(alert, 'opened'), memoryMap());
    const posted = JSON.stringify(slack.topLevel()[0]);
    expect(posted).not.toContain('super-secret-db-password');
    expect(posted).not.toContain('hvs.CAESI');
    expect(posted).toContain('[REDACTED]');
  });
});

describe('buildSlackMessage', () => {
  const flat = (blocks: SlackBlock[]) => JSON.stringify(blocks);
  /** The texts Slack parses for mentions and links (plain_text headers are shown verbatim). */
  const mrkdwn = (m: { text: string; blocks: SlackBlock[] }) => {
    const out = [m.text];
    for (const b of m.blocks) {
      if (b.type === 'section') {
        if (b.text) out.push(b.text.text);
        for (const f of b.fields ?? []) out.push(f.text);
      }
      if (b.type === 'context') for (const e of b.elements) out.push(e.text);
    }
    return out.join('\n');
  };

  it('shows who, where, what, when, observed vs expected, the first step, links and context', () => {
    const alert = makeAlert({
      paths: ['secret/data/prod/db', 'secret/data/prod/api', 'sys/policies/acl/admin', 'a', 'b', 'c', 'd'],
      sourceAddresses: ['203.0.113.7', '198.51.100.4'],
    });
    const m = buildSlackMessage(notify(alert, 'opened'));
    const header = m.blocks[0] as { type: string; text: { text: string } };
    expect(header).toMatchObject({ type: 'header', text: { type: 'plain_text' } });
    expect(header.text.text).toBe('🟡 MEDIUM: Privileged path read from a new address');
    const all = flat(m.blocks);
    for (const part of [
      '*Who*\\n*alice*',
      'entity `ent-42`',
      'token ref `tr_0123456789abcdef`',
      '*Where*\\n203.0.113.7, 198.51.100.4',
      '`secret/data/prod/db`',
      '+2 more',
      '12 events',
      '*Observed vs expected*\\n*12* vs 0.4 in 5m',
      '*First step:* Revoke the token',
      '<https://runbooks.example.com/privileged-path-access|Runbook>',
      '|Investigate>',
      'detector `privileged-path-access`',
      'alert `a0000000000000000001`',
      'env `production`',
    ]) {
      expect(all).toContain(part);
    }
    expect(m.text).toBe(
      '🟡 [MEDIUM] Privileged path read from a new address: alice read secret/data/prod/db from 203.0.113.7, an address never seen for this identity.',
    );
  });

  it('adds the configured mentions to critical alerts only', () => {
    const mentions = ['<!here>', '<!subteam^S0SEC>'];
    const critical = buildSlackMessage(notify(makeAlert({ severity: 'critical' }), 'opened'), { mentions });
    expect(critical.text.startsWith('<!here> <!subteam^S0SEC> 🔴 [CRITICAL]')).toBe(true);
    expect(flat(critical.blocks)).toContain('<!here> <!subteam^S0SEC>');
    const high = buildSlackMessage(notify(makeAlert({ severity: 'high' }), 'opened'), { mentions });
    expect(high.text).not.toContain('<!here>');
    expect(flat(high.blocks)).not.toContain('<!here>');
    const resolved = buildSlackMessage(
      notify(makeAlert({ severity: 'critical', status: 'resolved' }), 'resolved'),
      { mentions },
    );
    expect(resolved.text).not.toContain('<!here>');
  });

  it('escapes alert text so it cannot mention @channel or forge links', () => {
    const alert = makeAlert({
      title: 'x <!channel>',
      summary: 'ping <!channel> and <https://evil.example|click> & co',
      identity: { displayName: '<@U0BOSS>' },
    });
    const m = buildSlackMessage(notify(alert, 'opened'));
    const all = mrkdwn(m);
    expect(all).not.toMatch(/<!channel>|<@U0BOSS>|<https:\/\/evil/);
    expect(all).toContain('&lt;!channel&gt;');
    expect(all).toContain('&amp; co');
  });

  it('shows a runbook path (no URL) as text and leaves out a missing Kibana link', () => {
    const m = buildSlackMessage(notify(makeAlert({ links: {} }), 'opened'));
    expect(flat(m.blocks)).toContain('Runbook: `runbooks/privileged-path-access.md`');
    expect(flat(m.blocks)).not.toContain('Investigate');
  });

  it('respects Block Kit limits whatever the alert text (property)', () => {
    // Plenty of the characters that matter: mrkdwn control characters, entities, surrogate pairs.
    const text = fc.string({
      unit: fc.oneof(
        fc.constantFrom('<', '>', '&', '|', '`', '*', '!', '@', '😀', ' '),
        fc.string({ unit: 'grapheme', maxLength: 1 }),
      ),
      maxLength: 6000,
    });
    fc.assert(
      fc.property(
        text,
        text,
        fc.array(fc.string({ maxLength: 300 }), { maxLength: 200 }),
        fc.constantFrom('opened', 'escalated', 'updated', 'resolved' as const),
        fc.constantFrom('info', 'low', 'medium', 'high', 'critical' as const),
        (title, summary, paths, reason, severity) => {
          const alert = makeAlert({
            title,
            summary,
            paths,
            sourceAddresses: paths,
            severity,
            firstStep: summary,
          });
          const m = buildSlackMessage(notify(alert, reason), { mentions: ['<!here>'] });
          expect(m.text.length).toBeGreaterThan(0);
          expect(m.text.length).toBeLessThanOrEqual(3000);
          expect(m.blocks.length).toBeLessThanOrEqual(50);
          for (const b of m.blocks) {
            if (b.type === 'header') expect(b.text.text.length).toBeLessThanOrEqual(150);
            if (b.type === 'section') {
              if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(3000);
              expect((b.fields ?? []).length).toBeLessThanOrEqual(10);
              for (const f of b.fields ?? []) expect(f.text.length).toBeLessThanOrEqual(2000);
            }
          }
          // Alert text never contributes a raw `<`: every `<` opens a token Vigil wrote itself
          // (the configured mention, a date, a runbook or Kibana link).
          expect(mrkdwn(m)).not.toMatch(/<(?!!here>|!date\^|https:\/\/(runbooks|kibana)\.example\.com)/);
          // No lone surrogate halves (a cut in the middle of an emoji).
          expect(flat(m.blocks)).not.toMatch(/\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])/i);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('cut never splits an entity, a <...> token or a surrogate pair', () => {
    expect(cut('abc &amp; def', 7)).toBe('abc …');
    expect(cut('see <https://x.example|link> now', 12)).toBe('see …');
    expect(cut('ab😀cd', 4)).toBe('ab…');
    expect(cut('short', 10)).toBe('short');
  });
});
