import { mkdirSync, readFileSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { scrubText } from '../audit/secrets.js';
import { silentLogger, type Logger } from '../ops/logger.js';
import { writeFileAtomic } from '../store/atomic.js';
import type { DeliveryResult, Notification, Receiver, ReceiverMemory } from './notification.js';

/**
 * The durable notification outbox.
 *
 * `enqueue` appends the notifications to `<dir>/outbox.log` and fsyncs before it resolves, so a
 * notification accepted here survives a crash. A delivery loop sends pending items to their receivers:
 *
 * - Order: items form one FIFO lane per (receiver, alert). Only a lane's head is sent, so a later
 *   transition of an alert never overtakes an earlier one; lanes are independent, so one stuck alert
 *   (or one broken receiver) does not hold up the others. Within a receiver at most
 *   `concurrencyPerReceiver` sends run at once (default 1: chat threads are written in order, and
 *   rate limits are respected), picking due heads in enqueue order. A later alert of an incident waits
 *   (at most `incidentHoldMs`, default 60 s) while the incident's first alert still has its `opened`
 *   notification pending for the same receiver, so chat replies find their thread.
 * - Retries: `retry` results back off exponentially with jitter (base 1 s, cap 5 min, each delay drawn
 *   from [d/2, d]); a `retryAfterMs` (429 Retry-After) is a floor for that item and pauses the whole
 *   receiver for that long. `failed` results, items older than `giveUpAfterMs` and items for a receiver
 *   that is not registered go to the dead-letter list (persisted, logged once at error level).
 * - Idempotency: a key that is pending, was delivered recently or was dead-lettered is ignored by
 *   `enqueue` (delivered/dead keys are remembered up to `rememberKeys` keys for `rememberForMs`), so
 *   a replay after a crash does not send twice. Delivery itself is at least once: a crash between a
 *   send and its `done` record sends that notification again after the restart.
 *
 * Storage: NDJSON records, appended with one open/write/fdatasync/close per batch:
 *   {"t":"enq","n":<Notification>}
 *   {"t":"done","k":<key>,"at":<ms>}
 *   {"t":"dead","k":<key>,"at":<ms>,"reason":...,"attempts":n,"n":<Notification>}   (n, reason optional)
 *   {"t":"mem","r":<receiver>,"k":<key>,"v":<json>,"at":<ms>} / {"t":"mdel","r":<receiver>,"k":<key>}
 * Once enough records accumulate the log is compacted (live state rewritten to a temp file, fsynced and
 * renamed over the log). A torn last line from a crash is skipped on load.
 *
 * When the log cannot be written (disk full, read-only or immutable state directory), nothing stops:
 * notifications are accepted and delivered from memory, the fault is reported (`storageFault()`,
 * `onStorageError`), and the whole live state is rewritten as soon as a write succeeds again (tried
 * first after `storageRetryMs`, then backing off to a minute). `durable()` holds checkpoints back
 * meanwhile, so a crash during the fault can send again what was delivered during it, not lose it.
 *
 * The per-receiver `ReceiverMemory` (Slack message timestamps) is stored in the same log, so it survives
 * restarts too. Values are written after the delivery attempt that set them, with its outcome record.
 */

export interface DeadLetter {
  key: string;
  receiver: string;
  alertId: string;
  reason: string;
  attempts: number;
  /** Wall-clock ms when it was dead-lettered. */
  at: number;
  notification: Notification;
}

export interface OutboxStats {
  /** Pending (not yet delivered, not dead) items per receiver name. */
  pending: Record<string, number>;
  pendingTotal: number;
  inFlight: number;
  /** Counters since this Outbox was constructed. */
  delivered: number;
  retried: number;
  dead: number;
  /** Entries in the persisted dead-letter list. */
  deadLetters: number;
  /** Age (ms, by `enqueuedAt`) of the oldest pending item; null when nothing is pending. */
  oldestPendingAgeMs: number | null;
  /** Receivers whose attempts have failed since `since` (ms) with no delivery since, and why. */
  failing: Record<string, { since: number; reason: string }>;
}

/** Called after every delivery attempt, and for items dead-lettered without an attempt. */
export type DeliveryHook = (result: DeliveryResult, notification: Notification, latencyMs: number) => void;

export interface OutboxOptions {
  /** Directory for the log (e.g. `<state>/outbox`); created when missing. */
  dir: string;
  logger?: Logger;
  receivers?: Iterable<Receiver>;
  /** Dead-letter an item this long after it was enqueued (default 24 h; config `notify.give_up_after`). */
  giveUpAfterMs?: number;
  /** First retry delay (default 1000 ms). */
  backoffBaseMs?: number;
  /** Longest retry delay (default 5 min). */
  backoffCapMs?: number;
  /** Concurrent sends per receiver (default 1). */
  concurrencyPerReceiver?: number;
  /** An attempt that has not settled after this long counts as a retry (default 2 min). */
  attemptTimeoutMs?: number;
  /** The loop re-checks give-up deadlines at least this often (default 1000 ms). */
  idleWakeMs?: number;
  /** Delivered/dead keys remembered for idempotency: at most this many ... (default 50 000) */
  rememberKeys?: number;
  /** ... for at most this long (default 7 days). */
  rememberForMs?: number;
  /** Dead letters kept with their notification (default 1000; older ones keep only their key). */
  maxDeadLetters?: number;
  /** Receiver memory entries not written for this long are dropped at compaction (default 30 days). */
  memoryTtlMs?: number;
  /**
   * A later alert of an incident waits up to this long (after the incident's first alert was enqueued)
   * for that first alert's message to be delivered, so chat threads form (default 60 s; 0 = never wait).
   */
  incidentHoldMs?: number;
  /** Compact once this many records were appended (and at least as many as the live state; default 1000). */
  compactAfterRecords?: number;
  /** Clock (ms) for give-up, backoff and bookkeeping; timers still run in real time. */
  now?: () => number;
  /** Jitter source in [0, 1). */
  random?: () => number;
  onDelivery?: DeliveryHook;
  /** Called on each failed write of the log (the outbox goes on from memory). */
  onStorageError?: (err: Error) => void;
  /** While the log is failing, retry writing it after this long, doubling up to a minute (default 5000 ms). */
  storageRetryMs?: number;
  /** `durable()` holds checkpoints back for at most this long into a storage fault (default 10 min). */
  holdCheckpointsForMs?: number;
}

export interface StorageFault {
  error: string;
  /** Wall-clock ms of the first failed write of this fault. */
  since: number;
}

/** The outbox could not make something durable (directory missing, unwritable, disk full). */
export class OutboxStorageError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutboxStorageError';
    this.code = code;
  }
}

interface ReceiverState {
  inFlight: number;
  pausedUntil: number;
  /** Start of the current run of failed attempts (none since the last delivery). */
  failingSince?: number;
  lastFailure?: string;
}

interface Item {
  n: Notification;
  seq: number;
  lane: string;
  attempts: number;
  nextAttemptAt: number;
  lastReason?: string;
  inFlight: boolean;
}

interface Finished {
  at: number;
  dead: boolean;
}

interface MemoryEntry {
  v: unknown;
  at: number;
}

type LogRecord =
  | { t: 'hdr'; version: number; compactedAt: number }
  | { t: 'enq'; n: Notification }
  | { t: 'done'; k: string; at: number }
  | { t: 'dead'; k: string; at: number; reason?: string; attempts?: number; n?: Notification }
  | { t: 'mem'; r: string; k: string; v: unknown; at: number }
  | { t: 'mdel'; r: string; k: string };

const LOG_FILE = 'outbox.log';
const FORMAT_VERSION = 1;

export class Outbox {
  readonly dir: string;
  readonly logPath: string;
  onDelivery: DeliveryHook | undefined;

  private readonly log: Logger;
  private readonly giveUpAfterMs: number;
  private readonly backoffBaseMs: number;
  private readonly backoffCapMs: number;
  private readonly concurrency: number;
  private readonly attemptTimeoutMs: number;
  private readonly idleWakeMs: number;
  private readonly rememberKeys: number;
  private readonly rememberForMs: number;
  private readonly maxDeadLetters: number;
  private readonly memoryTtlMs: number;
  private readonly compactAfterRecords: number;
  private readonly incidentHoldMs: number;
  private readonly now: () => number;
  private readonly random: () => number;

  private readonly receivers = new Map<string, Receiver>();
  private readonly receiverState = new Map<string, ReceiverState>();
  private readonly items = new Map<string, Item>();
  private readonly lanes = new Map<string, Item[]>();
  private readonly finished = new Map<string, Finished>();
  private deadList: DeadLetter[] = [];
  private readonly reserved = new Set<string>();
  private readonly memoryStore = new Map<string, Map<string, MemoryEntry>>();
  private bufferedRecords: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private io: Promise<void> = Promise.resolve();
  private recordsSinceCompaction = 0;
  private compactQueued = false;
  private needsNewline = false;
  private fileExists = false;
  private seq = 0;
  private running = false;
  private closed = false;
  private kickQueued = false;
  private timer: NodeJS.Timeout | undefined;
  private counters = { delivered: 0, retried: 0, dead: 0 };
  private readonly onStorageError: ((err: Error) => void) | undefined;
  private readonly storageRetryMs: number;
  private readonly holdCheckpointsForMs: number;
  /** Set while the log misses records that live only in memory. */
  private fault: StorageFault | undefined;
  private lastStorageAttempt = 0;
  /** Doubles with each failed retry (up to a minute): a full rewrite is not cheap. */
  private storageRetryDelay = 0;
  /** After a failed rewrite, the next is tried once this many records are in the log. */
  private compactRetryAt = 0;

  constructor(options: OutboxOptions) {
    this.dir = options.dir;
    this.logPath = join(options.dir, LOG_FILE);
    this.log = options.logger ?? silentLogger();
    this.giveUpAfterMs = options.giveUpAfterMs ?? 24 * 3_600_000;
    this.backoffBaseMs = options.backoffBaseMs ?? 1000;
    this.backoffCapMs = options.backoffCapMs ?? 300_000;
    this.concurrency = Math.max(1, options.concurrencyPerReceiver ?? 1);
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 120_000;
    this.idleWakeMs = options.idleWakeMs ?? 1000;
    this.rememberKeys = options.rememberKeys ?? 50_000;
    this.rememberForMs = options.rememberForMs ?? 7 * 86_400_000;
    this.maxDeadLetters = options.maxDeadLetters ?? 1000;
    this.memoryTtlMs = options.memoryTtlMs ?? 30 * 86_400_000;
    this.compactAfterRecords = options.compactAfterRecords ?? 1000;
    this.incidentHoldMs = options.incidentHoldMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.onDelivery = options.onDelivery;
    this.onStorageError = options.onStorageError;
    this.storageRetryMs = options.storageRetryMs ?? 5000;
    this.holdCheckpointsForMs = options.holdCheckpointsForMs ?? 10 * 60_000;
    for (const r of options.receivers ?? []) this.register(r);
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch {
      // Reported by the first enqueue (which rejects); loading below still reads what it can.
    }
    this.load();
  }

  /** Add (or replace) a receiver. Items for a name that is not registered when sent are dead-lettered. */
  register(receiver: Receiver): void {
    this.receivers.set(receiver.name, receiver);
    this.kick();
  }

  /**
   * Persist notifications (fsync) and queue them for delivery. Keys seen before are ignored. When the
   * log cannot be written they are queued from memory all the same (see `storageFault`).
   */
  async enqueue(notifications: readonly Notification[]): Promise<void> {
    if (this.closed) throw new OutboxStorageError('outbox is closed', undefined);
    const fresh: Notification[] = [];
    const keys = new Set<string>();
    for (const n of notifications) {
      if (!n || typeof n.key !== 'string' || typeof n.receiver !== 'string' || !n.transition?.alert?.id) {
        throw new TypeError('outbox: a notification needs key, receiver and transition.alert.id');
      }
      if (keys.has(n.key) || this.seen(n.key)) continue;
      keys.add(n.key);
      fresh.push(n);
    }
    if (fresh.length === 0) return;
    for (const k of keys) this.reserved.add(k);
    try {
      await this.write(
        fresh.map((n) => line({ t: 'enq', n })),
        () => {
          for (const n of fresh) this.addItem(n);
        },
      );
    } finally {
      for (const k of keys) this.reserved.delete(k);
    }
    this.kick();
  }

  /** Start delivering. Register receivers first: items for unknown receivers are dead-lettered. */
  start(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.maybeCompact();
    this.kick();
  }

  /** Stop the loop, wait for sends in flight to settle and for their records. Pending items stay. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    if (this.bufferedRecords.length > 0) await this.write([]);
    if (this.fault) await this.rewriteAfterFaultNow();
    await this.io;
  }

  /** Stop, then close every registered receiver. Later enqueues reject. */
  async close(): Promise<void> {
    await this.stop();
    this.closed = true;
    for (const r of this.receivers.values()) {
      try {
        await r.close?.();
      } catch (err) {
        this.log.warn({ receiver: r.name, err: scrubText(String(err)) }, 'receiver close failed');
      }
    }
  }

  stats(): OutboxStats {
    // Every registered receiver appears, at 0 when idle, so a depth gauge falls back to zero.
    const pending: Record<string, number> = {};
    for (const name of this.receivers.keys()) pending[name] = 0;
    let oldest: number | null = null;
    let inFlight = 0;
    for (const item of this.items.values()) {
      pending[item.n.receiver] = (pending[item.n.receiver] ?? 0) + 1;
      if (oldest === null || item.n.enqueuedAt < oldest) oldest = item.n.enqueuedAt;
      if (item.inFlight) inFlight++;
    }
    return {
      pending,
      pendingTotal: this.items.size,
      inFlight,
      delivered: this.counters.delivered,
      retried: this.counters.retried,
      dead: this.counters.dead,
      deadLetters: this.deadList.length,
      oldestPendingAgeMs: oldest === null ? null : Math.max(0, this.now() - oldest),
      failing: Object.fromEntries(
        [...this.receiverState.entries()]
          .filter(([, st]) => st.failingSince !== undefined)
          .map(([name, st]) => [name, { since: st.failingSince as number, reason: st.lastFailure ?? '' }]),
      ),
    };
  }

  /**
   * Resolves once everything accepted so far is on disk (trying a rewrite now if the log has been
   * failing); rejects while it cannot be. A checkpoint waits for this, so the journal keeps the
   * transitions behind notifications that live in memory only.
   */
  async durable(): Promise<void> {
    await this.rewriteAfterFaultNow();
    const fault = this.fault;
    if (!fault || this.now() - fault.since >= this.holdCheckpointsForMs) return;
    // Delivered ones need nothing more from the journal (at worst they are sent again).
    let waiting = 0;
    for (const item of this.items.values()) if (item.n.enqueuedAt >= fault.since) waiting++;
    if (waiting > 0)
      throw new Error(
        `outbox ${this.logPath} cannot be written (${fault.error}); ${waiting} notification(s) accepted since ${new Date(fault.since).toISOString()} are in memory only`,
      );
  }

  /** Why the log is behind memory, while it is; undefined when every record is on disk. */
  storageFault(): StorageFault | undefined {
    return this.fault && { ...this.fault };
  }

  /** Pending notifications in delivery order (oldest first). */
  pendingNotifications(): Notification[] {
    return [...this.items.values()].sort((a, b) => a.seq - b.seq).map((i) => i.n);
  }

  deadLetters(): DeadLetter[] {
    return [...this.deadList];
  }

  /** True when the key is pending, was delivered recently or was dead-lettered. */
  seen(key: string): boolean {
    return this.items.has(key) || this.finished.has(key) || this.reserved.has(key);
  }

  /** The durable memory of one receiver (what `deliver` gets). */
  memory(receiver: string): ReceiverMemory {
    const store = (): Map<string, MemoryEntry> => {
      let m = this.memoryStore.get(receiver);
      if (!m) this.memoryStore.set(receiver, (m = new Map()));
      return m;
    };
    return {
      get: <T = unknown>(key: string): T | undefined =>
        this.memoryStore.get(receiver)?.get(key)?.v as T | undefined,
      set: (key: string, value: unknown): void => {
        const json = JSON.stringify(value ?? null);
        const at = this.now();
        store().set(key, { v: JSON.parse(json) as unknown, at });
        this.bufferedRecords.push(JSON.stringify({ t: 'mem', r: receiver, k: key, v: JSON.parse(json), at }));
      },
      delete: (key: string): void => {
        if (this.memoryStore.get(receiver)?.delete(key)) {
          this.bufferedRecords.push(line({ t: 'mdel', r: receiver, k: key }));
        }
      },
    };
  }

  /** Rewrite the log to the live state now (normally automatic). */
  /** Rewrite the log to the live state now (normally automatic). Never rejects: see compactionFailed. */
  async compact(): Promise<void> {
    const task = this.io.then(() => (this.fault ? this.rewriteAfterFault() : this.compactNow()));
    this.io = task.catch((err) => this.compactionFailed(err));
    return this.io;
  }

  // ---- Delivery loop ----

  private kick(): void {
    if (!this.running || this.kickQueued) return;
    this.kickQueued = true;
    setImmediate(() => {
      this.kickQueued = false;
      this.pump();
    });
  }

  private pump(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.now();

    // Items that can never be sent: unknown receiver, or past the give-up deadline.
    for (const item of [...this.items.values()]) {
      if (item.inFlight) continue;
      if (!this.receivers.has(item.n.receiver)) {
        this.deadLetter(item, `no receiver named "${item.n.receiver}" is configured`, true);
      } else if (now - item.n.enqueuedAt >= this.giveUpAfterMs) {
        const last = item.lastReason ? `; last: ${item.lastReason}` : '';
        this.deadLetter(
          item,
          `gave up after ${formatMs(now - item.n.enqueuedAt)} (${item.attempts} attempt(s)${last})`,
          true,
        );
      }
    }

    // Each lane head is ready at: its backoff, its receiver's pause, and its incident hold (below).
    // Heads whose receiver is busy wait for a send to settle, which pumps again.
    let next = now + this.idleWakeMs;
    const ready: Item[] = [];
    for (const lane of this.lanes.values()) {
      const head = lane[0];
      if (!head || head.inFlight) continue;
      const readyAt = Math.max(
        head.nextAttemptAt,
        this.receiverState.get(head.n.receiver)?.pausedUntil ?? 0,
        this.incidentHoldUntil(head),
      );
      if (readyAt <= now) ready.push(head);
      else next = Math.min(next, readyAt);
    }
    ready.sort((a, b) => a.seq - b.seq);
    for (const head of ready) {
      const receiver = this.receivers.get(head.n.receiver);
      if (!receiver) continue;
      const state = this.stateOf(receiver.name);
      if (state.inFlight >= this.concurrency) continue;
      this.dispatch(head, receiver, state);
    }

    if (this.fault && this.storageRetryDue()) void this.write([]);

    // Sleep until the next head is due (give-up deadlines are checked at least every idleWakeMs).
    this.timer = setTimeout(() => this.pump(), Math.max(1, next - now));
    this.timer.unref?.();
  }

  /**
   * Chat threads need the incident's first message before the replies: a later alert of an incident
   * waits while the incident's first alert still has its `opened` notification pending for the same
   * receiver (enqueued earlier) — at most `incidentHoldMs` after that one was enqueued, so a stuck
   * first alert delays the others only briefly. Returns 0 when not held.
   */
  private incidentHoldUntil(item: Item): number {
    const n = item.n;
    const first = n.incident?.firstAlertId;
    if (!first || first === n.transition.alert.id || this.incidentHoldMs <= 0) return 0;
    const lane = this.lanes.get(`${n.receiver}\u0000${first}`);
    const blocker = lane?.find((other) => other.seq < item.seq && other.n.reason === 'opened');
    if (!blocker) return 0;
    return blocker.n.enqueuedAt + this.incidentHoldMs;
  }

  private dispatch(item: Item, receiver: Receiver, state: { inFlight: number }): void {
    item.inFlight = true;
    item.attempts++;
    state.inFlight++;
    const memory = this.memory(receiver.name);
    const task = (async () => {
      let result: DeliveryResult;
      try {
        result = await withTimeout(receiver.deliver(item.n, memory), this.attemptTimeoutMs);
      } catch (err) {
        result = {
          status: 'retry',
          reason: `${receiver.type} receiver error: ${(err as Error)?.message ?? String(err)}`,
        };
      }
      await this.settle(item, sanitize(result));
    })();
    const tracked = task
      .catch((err) => this.log.error({ err: scrubText(String(err)) }, 'outbox: settling a delivery failed'))
      .finally(() => {
        item.inFlight = false;
        state.inFlight--;
        this.inFlight.delete(tracked);
        this.kick();
      });
    this.inFlight.add(tracked);
  }

  private async settle(item: Item, result: DeliveryResult): Promise<void> {
    const now = this.now();
    this.notifyHook(result, item.n, now);
    const n = item.n;
    const health = this.stateOf(n.receiver);
    if (result.status === 'delivered') {
      health.failingSince = undefined;
      health.lastFailure = undefined;
    } else if (result.status === 'retry') {
      // Only transient failures say the receiver is unreachable; a refused message is about itself
      // (and answered, so the receiver is reachable).
      health.failingSince ??= now;
      health.lastFailure = result.reason;
    } else {
      health.failingSince = undefined;
      health.lastFailure = undefined;
    }
    if (result.status === 'delivered') {
      // The `done` record is on disk before the alert's next notification may go out (the item stays
      // in flight until then): a crash can resend only the last notification sent, never an earlier
      // one after a later one (a trigger after its resolve would open a second incident).
      // Removed inside the write: a rewrite of the whole state (after a storage fault) must not
      // still hold it as pending, or a restart would send it again after its alert's later ones.
      await this.write([line({ t: 'done', k: n.key, at: now })], () => {
        this.removeItem(item);
        this.remember(n.key, { at: now, dead: false });
      });
      this.counters.delivered++;
      this.log.debug(
        {
          alertId: n.transition.alert.id,
          receiver: n.receiver,
          notification: n.key,
          attempts: item.attempts,
        },
        'notification delivered',
      );
      return;
    }
    if (result.status === 'failed') {
      this.deadLetter(item, result.reason, false);
      return;
    }
    this.counters.retried++;
    item.lastReason = result.reason;
    if (now - n.enqueuedAt >= this.giveUpAfterMs) {
      this.deadLetter(
        item,
        `gave up after ${formatMs(now - n.enqueuedAt)} (${item.attempts} attempt(s); last: ${result.reason})`,
        false,
      );
      return;
    }
    const delay = this.backoff(item.attempts, result.retryAfterMs);
    item.nextAttemptAt = now + delay;
    if (result.retryAfterMs !== undefined && result.retryAfterMs > 0) {
      const state = this.stateOf(n.receiver);
      state.pausedUntil = Math.max(state.pausedUntil, now + result.retryAfterMs);
    }
    const fields = {
      alertId: n.transition.alert.id,
      receiver: n.receiver,
      notification: n.key,
      attempts: item.attempts,
      retryInMs: delay,
      reason: result.reason,
    };
    if (item.attempts === 1 || item.attempts % 10 === 0)
      this.log.warn(fields, 'notification delivery failed; will retry');
    else this.log.debug(fields, 'notification delivery failed; will retry');
    if (this.bufferedRecords.length > 0) await this.write([]);
  }

  private deadLetter(item: Item, reason: string, synthesized: boolean): void {
    const now = this.now();
    const n = item.n;
    const cleanReason = scrubText(reason);
    if (synthesized) this.notifyHook({ status: 'failed', reason: cleanReason }, n, now);
    this.removeItem(item);
    this.remember(n.key, { at: now, dead: true });
    const letter: DeadLetter = {
      key: n.key,
      receiver: n.receiver,
      alertId: n.transition.alert.id,
      reason: cleanReason,
      attempts: item.attempts,
      at: now,
      notification: n,
    };
    this.pushDead(letter);
    this.counters.dead++;
    this.log.error(
      {
        alertId: letter.alertId,
        receiver: letter.receiver,
        notification: letter.key,
        attempts: letter.attempts,
        reason: cleanReason,
      },
      'notification dead-lettered',
    );
    void this.write([
      line({ t: 'dead', k: n.key, at: now, reason: cleanReason, attempts: item.attempts, n }),
    ]);
  }

  private backoff(attempts: number, retryAfterMs: number | undefined): number {
    const exp = Math.min(this.backoffCapMs, this.backoffBaseMs * 2 ** Math.min(attempts - 1, 30));
    const jittered = exp / 2 + this.random() * (exp / 2);
    return Math.max(Math.round(jittered), retryAfterMs ?? 0);
  }

  private notifyHook(result: DeliveryResult, n: Notification, now: number): void {
    if (!this.onDelivery) return;
    try {
      this.onDelivery(result, n, Math.max(0, now - n.enqueuedAt));
    } catch (err) {
      this.log.warn({ err: scrubText(String(err)) }, 'outbox onDelivery hook threw');
    }
  }

  private stateOf(receiver: string): ReceiverState {
    let s = this.receiverState.get(receiver);
    if (!s) this.receiverState.set(receiver, (s = { inFlight: 0, pausedUntil: 0 }));
    return s;
  }

  // ---- In-memory state ----

  private addItem(n: Notification): void {
    if (this.items.has(n.key) || this.finished.has(n.key)) return;
    const lane = `${n.receiver}\u0000${n.transition.alert.id}`;
    const item: Item = { n, seq: this.seq++, lane, attempts: 0, nextAttemptAt: 0, inFlight: false };
    this.items.set(n.key, item);
    let queue = this.lanes.get(lane);
    if (!queue) this.lanes.set(lane, (queue = []));
    queue.push(item);
  }

  private removeItem(item: Item): void {
    this.items.delete(item.n.key);
    const queue = this.lanes.get(item.lane);
    if (!queue) return;
    const i = queue.indexOf(item);
    if (i >= 0) queue.splice(i, 1);
    if (queue.length === 0) this.lanes.delete(item.lane);
  }

  private remember(key: string, f: Finished): void {
    this.finished.delete(key);
    this.finished.set(key, f);
    this.pruneFinished();
  }

  private pruneFinished(): void {
    const cutoff = this.now() - this.rememberForMs;
    for (const [key, f] of this.finished) {
      if (this.finished.size <= this.rememberKeys && f.at >= cutoff) break;
      this.finished.delete(key);
    }
  }

  private pushDead(letter: DeadLetter): void {
    this.deadList = this.deadList.filter((d) => d.key !== letter.key);
    this.deadList.push(letter);
    if (this.deadList.length > this.maxDeadLetters)
      this.deadList.splice(0, this.deadList.length - this.maxDeadLetters);
  }

  // ---- Storage ----

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.logPath, 'utf8');
      this.fileExists = true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // Nothing stored yet; ENOTDIR: the directory path is blocked by a file, so nothing can have been
      // stored there either (enqueue will reject until it is fixed).
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw new OutboxStorageError(
        `outbox: cannot read ${this.logPath} (${code ?? (err as Error).message})`,
        code,
        {
          cause: err,
        },
      );
    }
    let bad = 0;
    let records = 0;
    for (const raw of text.split('\n')) {
      if (!raw) continue;
      let rec: LogRecord;
      try {
        rec = JSON.parse(raw) as LogRecord;
      } catch {
        bad++;
        continue;
      }
      records++;
      this.apply(rec);
    }
    this.needsNewline = text.length > 0 && !text.endsWith('\n');
    this.recordsSinceCompaction = records + bad;
    if (bad > 0)
      this.log.warn(
        { path: this.logPath, skipped: bad },
        'outbox: skipped unreadable log lines (torn write?)',
      );
    if (this.items.size > 0)
      this.log.info({ pending: this.items.size }, 'outbox: pending notifications reloaded');
  }

  private apply(rec: LogRecord): void {
    switch (rec.t) {
      case 'enq':
        if (rec.n && typeof rec.n.key === 'string') this.addItem(rec.n);
        break;
      case 'done': {
        const item = this.items.get(rec.k);
        if (item) this.removeItem(item);
        this.remember(rec.k, { at: rec.at, dead: false });
        break;
      }
      case 'dead': {
        const item = this.items.get(rec.k);
        if (item) this.removeItem(item);
        this.remember(rec.k, { at: rec.at, dead: true });
        if (rec.n) {
          this.pushDead({
            key: rec.k,
            receiver: rec.n.receiver,
            alertId: rec.n.transition?.alert?.id ?? '',
            reason: rec.reason ?? '',
            attempts: rec.attempts ?? 0,
            at: rec.at,
            notification: rec.n,
          });
        }
        break;
      }
      case 'mem': {
        let m = this.memoryStore.get(rec.r);
        if (!m) this.memoryStore.set(rec.r, (m = new Map()));
        m.set(rec.k, { v: rec.v, at: rec.at });
        break;
      }
      case 'mdel':
        this.memoryStore.get(rec.r)?.delete(rec.k);
        break;
      default:
        break;
    }
  }

  /**
   * Append records (after any buffered receiver-memory records) in the serial I/O chain; `onDurable`
   * runs inside the chain once they are on disk, so a later compaction sees its effect. Never
   * rejects: when the log cannot be written, `onDurable` runs all the same (memory goes on) and the
   * outbox is in a storage fault until a rewrite of the whole live state succeeds.
   */
  private write(lines: string[], onDurable?: () => void): Promise<void> {
    const task = this.io.then(async () => {
      if (this.fault) {
        onDurable?.();
        // A rewrite of the whole state per record would be too much; the pump retries on schedule.
        if (this.storageRetryDue()) await this.rewriteAfterFault();
        return;
      }
      const taken = this.bufferedRecords;
      this.bufferedRecords = [];
      const all = taken.concat(lines);
      try {
        if (all.length > 0) await this.appendLines(all);
      } catch (err) {
        onDurable?.();
        this.storageFailed(err);
        return;
      }
      this.recordsSinceCompaction += all.length;
      onDurable?.();
      this.maybeCompact();
    });
    this.io = task.catch(() => {});
    return task;
  }

  /** A rewrite now, whatever the retry schedule says (stop, and before a checkpoint). */
  private rewriteAfterFaultNow(): Promise<void> {
    const task = this.io.then(() => (this.fault ? this.rewriteAfterFault() : undefined));
    this.io = task.catch(() => {});
    return task;
  }

  /**
   * A rewrite failed while appends work: the log is still whole (the old file stays until the
   * rename), so appending goes on; the rewrite is tried again after more records. Reported, not a
   * fault: a disk with room to append but not for a second copy must not stop the outbox.
   */
  private compactionFailed(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.compactRetryAt = this.recordsSinceCompaction + this.compactAfterRecords;
    this.log.warn(
      { path: this.logPath, err: scrubText(error.message) },
      'outbox: could not rewrite its log; appending goes on',
    );
    this.reportStorageError(error);
  }

  private reportStorageError(error: Error): void {
    try {
      this.onStorageError?.(error);
    } catch {
      // A metrics hook must not break the outbox.
    }
  }

  private storageRetryDue(): boolean {
    return this.now() - this.lastStorageAttempt >= this.storageRetryDelay;
  }

  private async rewriteAfterFault(): Promise<void> {
    this.lastStorageAttempt = this.now();
    try {
      await this.compactNow();
    } catch (err) {
      this.storageFailed(err);
      return;
    }
    const fault = this.fault;
    this.fault = undefined;
    this.storageRetryDelay = 0;
    this.log.warn(
      { path: this.logPath, faultFor: formatMs(Math.max(0, this.now() - (fault?.since ?? 0))) },
      'outbox: log writable again; every pending notification is on disk',
    );
  }

  private storageFailed(err: unknown): void {
    this.lastStorageAttempt = this.now();
    const error = err instanceof Error ? err : new Error(String(err));
    const code = (error as NodeJS.ErrnoException).code;
    const message = scrubText(code ? `${code}: ${error.message}` : error.message);
    this.storageRetryDelay = this.fault
      ? Math.min(60_000, Math.max(this.storageRetryMs, this.storageRetryDelay * 2))
      : this.storageRetryMs;
    if (!this.fault) {
      this.fault = { error: message, since: this.now() };
      this.log.error(
        { path: this.logPath, code, err: message },
        'outbox: cannot write its log; notifications go on from memory and are not crash-safe until it can',
      );
    } else this.fault.error = message;
    // Records appended since are not in the log: only a full rewrite brings it back in line.
    this.bufferedRecords = [];
    this.reportStorageError(error);
  }

  private async appendLines(lines: string[]): Promise<void> {
    const data = (this.needsNewline ? '\n' : '') + lines.join('\n') + '\n';
    if (!this.fileExists) await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const fh = await open(this.logPath, 'a', 0o600);
    try {
      await fh.write(data);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    if (!this.fileExists) {
      await syncDir(this.dir);
      this.fileExists = true;
    }
    this.needsNewline = false;
  }

  private maybeCompact(): void {
    if (this.compactQueued) return;
    const live = this.items.size + this.finished.size + this.deadList.length + this.memoryCount();
    if (this.recordsSinceCompaction < Math.max(this.compactAfterRecords, live, this.compactRetryAt)) return;
    this.compactQueued = true;
    const task = this.io.then(() => this.compactNow());
    this.io = task.catch((err) => this.compactionFailed(err));
  }

  private async compactNow(): Promise<void> {
    this.compactQueued = false;
    const now = this.now();
    this.pruneFinished();
    const lines: string[] = [line({ t: 'hdr', version: FORMAT_VERSION, compactedAt: now })];
    for (const [r, m] of this.memoryStore) {
      for (const [k, e] of m) {
        if (now - e.at > this.memoryTtlMs) m.delete(k);
        else lines.push(JSON.stringify({ t: 'mem', r, k, v: e.v, at: e.at }));
      }
    }
    const lettered = new Set(this.deadList.map((d) => d.key));
    for (const [k, f] of this.finished) {
      if (f.dead && lettered.has(k)) continue;
      lines.push(line(f.dead ? { t: 'dead', k, at: f.at } : { t: 'done', k, at: f.at }));
    }
    for (const d of this.deadList) {
      lines.push(
        line({ t: 'dead', k: d.key, at: d.at, reason: d.reason, attempts: d.attempts, n: d.notification }),
      );
    }
    for (const item of [...this.items.values()].sort((a, b) => a.seq - b.seq))
      lines.push(line({ t: 'enq', n: item.n }));
    // Buffered memory records are already reflected in memoryStore, hence in the snapshot; they are
    // dropped once it is on disk (records buffered meanwhile are kept: they come after it).
    const covered = this.bufferedRecords.length;
    await writeFileAtomic(this.logPath, lines.join('\n') + '\n');
    this.bufferedRecords = this.bufferedRecords.slice(covered);
    this.fileExists = true;
    this.needsNewline = false;
    this.recordsSinceCompaction = lines.length;
    this.compactRetryAt = 0;
    this.log.debug({ records: lines.length }, 'outbox compacted');
  }

  private memoryCount(): number {
    let n = 0;
    for (const m of this.memoryStore.values()) n += m.size;
    return n;
  }
}

function line(rec: LogRecord): string {
  return JSON.stringify(rec);
}

function sanitize(result: DeliveryResult): DeliveryResult {
  if (!result || typeof result !== 'object' || !('status' in result)) {
    return { status: 'retry', reason: 'receiver returned no result' };
  }
  switch (result.status) {
    case 'delivered':
      return result.detail === undefined ? result : { status: 'delivered', detail: scrubText(result.detail) };
    case 'failed':
      return { status: 'failed', reason: scrubText(String(result.reason)) };
    case 'retry': {
      const out: DeliveryResult = { status: 'retry', reason: scrubText(String(result.reason)) };
      if (
        typeof result.retryAfterMs === 'number' &&
        Number.isFinite(result.retryAfterMs) &&
        result.retryAfterMs >= 0
      ) {
        out.retryAfterMs = result.retryAfterMs;
      }
      return out;
    }
    default:
      return { status: 'retry', reason: 'receiver returned an unknown status' };
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`attempt did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Some filesystems refuse fsync on directories.
  }
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
