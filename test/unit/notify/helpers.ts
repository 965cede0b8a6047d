import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { Alert } from '../../../src/alerts/alert.js';
import type {
  DeliveryResult,
  Notification,
  Receiver,
  ReceiverMemory,
} from '../../../src/notify/notification.js';

/** Poll `cond` until true; fails with `what` after a generous timeout. Never a fixed sleep. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what = 'condition',
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Let timers of a few ms and pending I/O run (for "has not happened" checks, never for assertions of timing). */
export async function settle(ms = 30): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

export async function tempDir(
  prefix = 'vigil-notify-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A raw pino logger (no scrubbing hook, trace level) whose lines the test can inspect. */
export function captureLogger(): {
  logger: Logger;
  lines: string[];
  records: () => Array<Record<string, unknown>>;
} {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(l);
      cb();
    },
  });
  const logger = pino({ level: 'trace' }, stream);
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

export const T0 = Date.parse('2026-03-02T10:00:00Z');

export function makeAlert(overrides: Partial<Alert> = {}): Alert {
  return {
    id: 'a0000000000000000001',
    fingerprint: 'privileged-path-access:0123456789abcdef',
    detector: 'privileged-path-access',
    severity: 'medium',
    score: 6.5,
    title: 'Privileged path read from a new address',
    summary: 'alice read secret/data/prod/db from 203.0.113.7, an address never seen for this identity.',
    identity: {
      key: 'entity:ent-42',
      entityId: 'ent-42',
      displayName: 'alice',
      tokenRef: 'tr_0123456789abcdef',
      authMount: 'auth/oidc/',
    },
    sourceAddresses: ['203.0.113.7'],
    paths: ['secret/data/prod/db'],
    firstEventAt: '2026-03-02T10:00:00.000Z',
    lastEventAt: '2026-03-02T10:04:00.000Z',
    eventCount: 12,
    evidence: { observed: 12, expected: 0.4, window: '5m' },
    runbook: 'runbooks/privileged-path-access.md',
    links: {
      runbook: 'https://runbooks.example.com/privileged-path-access',
      kibana: 'https://kibana.example.com/app/discover#/?_a=(query:(language:kuery,query:alice))',
    },
    status: 'open',
    seq: 1,
    openedAt: '2026-03-02T10:04:00.000Z',
    family: 'privilege',
    groupKey: 'entity:ent-42',
    signalCount: 1,
    eventIds: ['req-1'],
    firstStep: 'Revoke the token by accessor and check what else the identity touched.',
    labels: { team: 'platform' },
    environment: 'production',
    incidentId: 'inc-1',
    ...overrides,
  };
}

export interface NoteOptions {
  receiver?: string;
  incident?: { id: string; title: string; firstAlertId: string };
  enqueuedAt?: number;
  at?: string;
}

export function notify(
  alert: Alert,
  reason: Notification['reason'],
  options: NoteOptions = {},
): Notification {
  const receiver = options.receiver ?? 'test';
  return {
    key: `${alert.id}#${alert.seq}@${receiver}`,
    receiver,
    transition: {
      action: reason === 'opened' ? 'open' : reason === 'resolved' ? 'resolve' : 'update',
      at: options.at ?? alert.lastEventAt,
      alert,
    },
    incident: options.incident ?? {
      id: alert.incidentId ?? 'inc-1',
      title: alert.title,
      firstAlertId: alert.id,
    },
    reason,
    enqueuedAt: options.enqueuedAt ?? Date.now(),
  };
}

/** A plain in-memory ReceiverMemory (for receiver tests without an outbox). */
export function memoryMap(): ReceiverMemory & { map: Map<string, unknown> } {
  const map = new Map<string, unknown>();
  return {
    map,
    get: <T>(k: string) => map.get(k) as T | undefined,
    set: (k, v) => void map.set(k, structuredClone(v)),
    delete: (k) => void map.delete(k),
  };
}

/**
 * A receiver whose answers the test scripts (for outbox behaviour: ordering, backoff, give-up). The
 * HTTP receivers are tested against the local fake services.
 */
export class ScriptedReceiver implements Receiver {
  readonly type = 'webhook' as const;
  /** Keys in attempt order. */
  readonly attempts: string[] = [];
  readonly delivered: string[] = [];
  inFlight = 0;
  constructor(
    readonly name: string,
    private readonly script: (
      n: Notification,
      attempt: number,
    ) => DeliveryResult | Promise<DeliveryResult> = () => ({
      status: 'delivered',
    }),
  ) {}

  attemptsOf(key: string): number {
    return this.attempts.filter((k) => k === key).length;
  }

  async deliver(n: Notification): Promise<DeliveryResult> {
    this.attempts.push(n.key);
    this.inFlight++;
    try {
      const result = await this.script(n, this.attemptsOf(n.key));
      if (result.status === 'delivered') this.delivered.push(n.key);
      return result;
    } finally {
      this.inFlight--;
    }
  }
}

/** A promise gate tests open by hand. */
export function gate(): { wait: Promise<void>; open: () => void; isOpen: () => boolean } {
  let open!: () => void;
  let opened = false;
  const wait = new Promise<void>((r) => {
    open = () => {
      opened = true;
      r();
    };
  });
  return { wait, open: () => open(), isOpen: () => opened };
}
