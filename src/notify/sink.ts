import type { AlertTransition } from '../alerts/alert.js';

/**
 * An output for alert transitions (alert log, console, Elasticsearch, the notification outbox).
 * Transitions reach sinks after the journal has made them durable. After a crash the journal's
 * tail is offered again with `recovering` set: a sink skips what it already has.
 */
export interface AlertSink {
  readonly name: string;
  write(transitions: readonly AlertTransition[], recovering?: boolean): Promise<void>;
  /** Make everything written so far durable (called before a checkpoint is taken). */
  flush(): Promise<void>;
  close(): Promise<void>;
}
