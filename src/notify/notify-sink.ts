import { severityRank, type Severity } from '../audit/event.js';
import type { AlertTransition } from '../alerts/alert.js';
import { receiversFor } from '../alerts/routing.js';
import type { RouteConfig } from '../config/schema.js';
import type { Logger } from '../ops/logger.js';
import type { StatefulComponent } from '../runner.js';
import type { Notification } from './notification.js';
import type { AlertSink } from './sink.js';

/** What a receiver was last told about an alert. */
interface Told {
  at: number;
  severity: Severity;
}

export interface NotifySinkOptions {
  route: RouteConfig;
  /** Receivers that exist (configured with their credentials present). */
  receivers: ReadonlySet<string>;
  /** Receiver names in configuration (some may lack credentials and were not created). */
  configured?: ReadonlySet<string>;
  /** Chat updates for an open alert at most this often (event time), unless severity rises. */
  updateThrottleMs: number;
  enqueue(notifications: Notification[]): Promise<void>;
  /** Before a checkpoint: rejects while what was enqueued is not durable (the outbox's storage fault). */
  durable?: () => Promise<void>;
  logger: Logger;
  now?: () => number;
}

/**
 * Turns alert transitions into notifications: routing tree → receivers; silenced or inhibited
 * alerts are not notified (but a receiver that was told about an alert is told it resolved);
 * updates are throttled unless severity rises. Decisions depend only on the transitions (event
 * time), so regenerated transitions after a crash give the same notification keys and the outbox
 * drops the duplicates.
 */
export class NotifySink implements AlertSink, StatefulComponent {
  readonly name = 'notify';
  /** `${alertId}@${receiver}` → what that receiver was last told. */
  private told = new Map<string, Told>();
  private readonly unknownWarned = new Set<string>();

  constructor(private options: NotifySinkOptions) {}

  /** Configuration reload: new routing tree and throttle; what receivers were told is kept. */
  reconfigure(route: RouteConfig, updateThrottleMs: number): void {
    this.options = { ...this.options, route, updateThrottleMs };
    this.unknownWarned.clear();
  }

  async write(transitions: readonly AlertTransition[]): Promise<void> {
    const out: Notification[] = [];
    const now = (this.options.now ?? Date.now)();
    for (const t of transitions) {
      for (const receiver of receiversFor(t.alert, this.options.route)) {
        if (!this.options.receivers.has(receiver)) {
          this.warnUnknown(receiver);
          continue;
        }
        const n = this.decide(t, receiver, now);
        if (n) out.push(n);
      }
    }
    if (out.length > 0) await this.options.enqueue(out);
  }

  async flush(): Promise<void> {
    await this.options.durable?.();
  }
  async close(): Promise<void> {}

  snapshot(): unknown {
    return [...this.told.entries()];
  }

  restore(state: unknown): void {
    this.told = new Map(state as [string, Told][]);
  }

  private decide(t: AlertTransition, receiver: string, now: number): Notification | undefined {
    const a = t.alert;
    const key = `${a.id}@${receiver}`;
    const told = this.told.get(key);
    const at = Date.parse(t.at);
    const quiet = a.silencedBy !== undefined || a.inhibitedBy !== undefined;
    let reason: Notification['reason'] | undefined;
    if (t.action === 'resolve') {
      if (told) reason = 'resolved';
      this.told.delete(key);
    } else if (quiet) {
      return undefined;
    } else if (!told) {
      reason = 'opened';
    } else if (severityRank(a.severity) > severityRank(told.severity)) {
      reason = 'escalated';
    } else if (at - told.at >= this.options.updateThrottleMs) {
      reason = 'updated';
    }
    if (!reason) return undefined;
    if (reason !== 'resolved') this.told.set(key, { at, severity: a.severity });
    const incidentId = a.incidentId ?? `inc-${a.id}`;
    return {
      key: `${a.id}#${a.seq}@${receiver}`,
      receiver,
      transition: t,
      incident: { id: incidentId, title: a.title, firstAlertId: incidentId.replace(/^inc-/, '') },
      reason,
      enqueuedAt: now,
    };
  }

  private warnUnknown(receiver: string): void {
    if (this.unknownWarned.has(receiver)) return;
    this.unknownWarned.add(receiver);
    // A configured receiver without credentials was already reported when it was skipped.
    if (this.options.configured?.has(receiver)) return;
    this.options.logger.warn(
      { receiver },
      'a route names a receiver that is not configured; its notifications are skipped',
    );
  }
}
