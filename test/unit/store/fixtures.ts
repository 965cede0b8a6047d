import type { Alert, AlertTransition } from '../../../src/alerts/alert.js';
import type { AccessEvent } from '../../../src/audit/event.js';
import type { Signal } from '../../../src/detect/signal.js';

/** A fully populated successful KV read by a userpass user. */
export function accessEvent(overrides: Partial<AccessEvent> = {}): AccessEvent {
  return {
    id: 'req-0001',
    time: Date.UTC(2025, 4, 1, 10, 0, 0, 123),
    namespace: '',
    identity: {
      key: 'entity:ent-1',
      entityId: 'ent-1',
      displayName: 'userpass-alice',
      tokenType: 'service',
      policies: ['default', 'payments-read'],
      isRoot: false,
      authMethod: 'userpass',
      authMount: 'userpass',
      metadata: { username: 'alice' },
      tokenRef: 'tr_0123456789abcdef',
      anonymous: false,
    },
    operation: 'read',
    path: 'secret/data/payments/db',
    mountType: 'kv',
    mountPoint: 'secret/',
    mountClass: 'secret',
    remoteAddress: '10.1.2.3',
    remotePort: 51234,
    outcome: 'success',
    kind: 'secret_read',
    userAgent: 'vault-cli/1.17',
    entries: 'pair',
    source: 'file',
    ...overrides,
  };
}

export function signal(overrides: Partial<Signal> = {}): Signal {
  return {
    detector: 'mass-secret-reads',
    groupKey: 'entity:ent-1',
    at: Date.UTC(2025, 4, 1, 10, 0, 1),
    score: 7.5,
    severity: 'high',
    title: 'Mass secret reads',
    summary: 'alice read 400 secrets in 5 minutes',
    sourceAddresses: ['10.1.2.3'],
    paths: ['secret/data/payments/db'],
    eventIds: ['req-0001'],
    firstEventAt: Date.UTC(2025, 4, 1, 10, 0, 0),
    lastEventAt: Date.UTC(2025, 4, 1, 10, 0, 1),
    eventCount: 1,
    evidence: { observed: 400, expected: 3, window: '5m' },
    ...overrides,
  };
}

export function alert(overrides: Partial<Alert> = {}): Alert {
  return {
    id: 'a1b2c3d4e5f6a7b8c9d0',
    fingerprint: 'mass-secret-reads:0123456789abcdef',
    detector: 'mass-secret-reads',
    severity: 'high',
    score: 7.5,
    title: 'Mass secret reads by alice',
    summary: 'alice read 400 secrets in 5 minutes (usually 3)',
    identity: {
      key: 'entity:ent-1',
      entityId: 'ent-1',
      displayName: 'userpass-alice',
      authMount: 'userpass',
    },
    sourceAddresses: ['10.1.2.3'],
    paths: ['secret/data/payments/db'],
    firstEventAt: '2025-05-01T10:00:00.000Z',
    lastEventAt: '2025-05-01T10:05:00.000Z',
    eventCount: 400,
    evidence: { observed: 400, expected: 3, window: '5m', nested: { pValue: 1e-9 } },
    runbook: 'runbooks/mass-secret-reads.md',
    links: { runbook: 'https://runbooks.example/mass-secret-reads.md' },
    status: 'open',
    seq: 1,
    openedAt: '2025-05-01T10:05:00.000Z',
    family: 'volume',
    groupKey: 'entity:ent-1',
    signalCount: 1,
    eventIds: ['req-0001'],
    labels: { team: 'payments' },
    environment: 'production',
    ...overrides,
  };
}

export function transition(action: AlertTransition['action'], a: Alert, at?: string): AlertTransition {
  return { action, at: at ?? a.lastEventAt, alert: a };
}

/** The alert's three transitions: open (seq 1), update (seq 2), resolve (seq 3). */
export function lifecycle(base: Alert = alert()): [AlertTransition, AlertTransition, AlertTransition] {
  const open = transition('open', { ...base, seq: 1, status: 'open' }, base.openedAt);
  const update = transition(
    'update',
    {
      ...base,
      seq: 2,
      status: 'open',
      eventCount: base.eventCount + 100,
      lastEventAt: '2025-05-01T10:10:00.000Z',
    },
    '2025-05-01T10:10:00.000Z',
  );
  const resolve = transition(
    'resolve',
    {
      ...base,
      seq: 3,
      status: 'resolved',
      eventCount: base.eventCount + 100,
      lastEventAt: '2025-05-01T10:10:00.000Z',
      resolvedAt: '2025-05-01T10:40:00.000Z',
    },
    '2025-05-01T10:40:00.000Z',
  );
  return [open, update, resolve];
}
