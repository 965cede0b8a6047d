import { describe, expect, it } from 'vitest';
import type { AlertTransition } from '../../src/alerts/alert.js';
import { buildDigest, DigestCollector } from '../../src/jobs/digest.js';

const now = Date.parse('2026-03-03T09:00:00Z');
const open = (
  detector: string,
  severity: string,
  who: string,
  hoursAgo: number,
  silenced = false,
): AlertTransition =>
  ({
    action: 'open',
    at: new Date(now - hoursAgo * 3_600_000).toISOString(),
    alert: {
      detector,
      severity,
      identity: { displayName: who },
      sourceAddresses: [],
      groupKey: who,
      ...(silenced ? { silencedBy: 'sil-1' } : {}),
    },
  }) as unknown as AlertTransition;

describe('daily digest', () => {
  it('summarises the last day: severities, detectors, noisy identities, expiring silences, rotation health', async () => {
    const c = new DigestCollector();
    await c.write([
      open('secret-read-spike', 'high', 'approle (role payments)', 2),
      open('secret-read-spike', 'high', 'approle (role payments)', 5),
      open('root-token-used', 'high', 'root', 3, true),
      open('policy-changed', 'medium', 'oidc-ops-bob', 30),
    ]);
    const text = buildDigest({
      now,
      environment: 'production',
      opened: c.lastDay(now),
      openAlerts: 2,
      silences: [
        {
          id: 'sil-1',
          matchers: { detector: ['x'] },
          startsAt: '',
          endsAt: new Date(now + 3_600_000).toISOString(),
          author: 'bob',
          reason: 'migration',
          createdAt: '',
          origin: 'cli',
        },
        {
          id: 'sil-2',
          matchers: { detector: ['x'] },
          startsAt: '',
          endsAt: new Date(now + 5 * 86_400_000).toISOString(),
          author: 'ann',
          reason: 'later',
          createdAt: '',
          origin: 'cli',
        },
      ],
      rotation: [
        {
          path: 'database/rotate-role/app',
          policy: 'db',
          lastRotation: '2026-03-01T02:00:00Z',
          rotations: 20,
          meanIntervalMs: 86_400_000,
          overdue: true,
        },
        {
          path: 'database/rotate-role/web',
          policy: 'db',
          lastRotation: '2026-03-03T02:00:00Z',
          rotations: 20,
          meanIntervalMs: 86_400_000,
          overdue: false,
        },
      ],
    });
    expect(text).toContain('Vigil daily digest — production');
    expect(text).toContain(
      'Alerts opened in the last 24 h: *3* (3 high; 1 silenced or inhibited); 2 open now.',
    );
    expect(text).toContain('By detector: secret-read-spike (2: 2 high), root-token-used (1: 1 high)');
    expect(text).toContain('Noisiest identities: approle (role payments) (2), root (1)');
    expect(text).toContain('sil-1 (by bob');
    expect(text).not.toContain('sil-2');
    expect(text).toContain(
      "2 rotation-managed paths, 1 overdue; mean time to rotate 1d (a secret's life between two rotations). Overdue: database/rotate-role/app (last 2026-03-01)",
    );
  });

  it('keeps the day across a restart (the collector is checkpointed)', async () => {
    const c = new DigestCollector();
    await c.write([open('root-token-used', 'critical', 'root', 1), open('policy-changed', 'high', 'bob', 2)]);
    const restored = new DigestCollector();
    restored.restore(structuredClone(c.snapshot()));
    const text = buildDigest({
      now,
      environment: 'p',
      opened: restored.lastDay(now),
      openAlerts: 0,
      silences: [],
      rotation: [],
    });
    expect(text).toContain('*2* (1 critical, 1 high)');
    expect(text).toContain('By detector: policy-changed (1: 1 high), root-token-used (1: 1 critical)');
  });
});
