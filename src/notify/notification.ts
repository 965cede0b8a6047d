import type { AlertTransition } from '../alerts/alert.js';

/**
 * One message to one receiver about one alert transition. The dispatcher (routing, silences,
 * inhibition, throttling, incident grouping — src/alerts/dispatch.ts) decides *whether* and *where*;
 * receivers only decide *how* to say it. Severity is already decided: receivers map it, never change it.
 */
export interface Notification {
  /** Idempotency key: `${alert.id}#${alert.seq}@${receiver}`. Enqueueing the same key twice is a no-op. */
  key: string;
  /** Receiver name from configuration. */
  receiver: string;
  transition: AlertTransition;
  /**
   * Incident the alert belongs to (alerts on one identity close together in time). Chat receivers
   * thread every alert of an incident under the incident's first message.
   */
  incident: { id: string; title: string; firstAlertId: string };
  /** Why this notification exists: a new alert, a notable change, a repeat summary, the resolution. */
  reason: 'opened' | 'escalated' | 'updated' | 'resolved';
  /** Wall-clock ms when it was enqueued (for give-up and latency metrics). */
  enqueuedAt: number;
}

/** What a receiver reports back to the outbox. */
export type DeliveryResult =
  | { status: 'delivered'; detail?: string }
  /** Transient: try again, no sooner than `retryAfterMs` when the service said so (429 Retry-After). */
  | { status: 'retry'; reason: string; retryAfterMs?: number }
  /** Permanent (400, invalid token, unknown channel): retrying cannot help. */
  | { status: 'failed'; reason: string };

/**
 * Small durable key-value memory a receiver may use across restarts (Slack message timestamps per
 * alert and per incident). Values must be JSON-serialisable and hold no secrets.
 */
export interface ReceiverMemory {
  get<T = unknown>(key: string): T | undefined;
  set(key: string, value: unknown): void;
  delete(key: string): void;
}

export interface Receiver {
  readonly name: string;
  readonly type: 'slack' | 'pagerduty' | 'webhook';
  deliver(notification: Notification, memory: ReceiverMemory): Promise<DeliveryResult>;
  /** Post a periodic digest (Markdown-ish text); chat receivers implement it, paging ones do not. */
  digest?(text: string): Promise<DeliveryResult>;
  close?(): Promise<void>;
}
