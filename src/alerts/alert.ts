import { createHash } from 'node:crypto';
import type { Severity } from '../audit/event.js';
import type { Evidence, IdentityRef } from '../detect/signal.js';

export type AlertAction = 'open' | 'update' | 'resolve';
export type AlertStatus = 'open' | 'resolved';

/**
 * An alert as written to the alert log, indexed and notified (the DESIGN.md contract, plus fields
 * that only add information). Times are ISO-8601 strings in event time.
 */
export interface Alert {
  id: string;
  fingerprint: string;
  detector: string;
  severity: Severity;
  score: number;
  title: string;
  summary: string;
  identity?: IdentityRef;
  sourceAddresses: string[];
  paths: string[];
  firstEventAt: string;
  lastEventAt: string;
  eventCount: number;
  evidence: Evidence;
  runbook: string;
  links: { runbook?: string; kibana?: string };
  // Beyond the contract's minimum:
  status: AlertStatus;
  /** Transition number of this alert (1 = open); `${id}#${seq}` is the idempotency key of a transition. */
  seq: number;
  openedAt: string;
  resolvedAt?: string;
  family?: string;
  groupKey: string;
  signalCount: number;
  /** Request ids of the events behind the alert (capped). */
  eventIds: string[];
  firstStep?: string;
  labels: Record<string, string>;
  environment?: string;
  /** The alert this one follows, when the same fingerprint fired and resolved before. */
  previousAlertId?: string;
  /** Alerts about one identity close together in time share an incident (one chat thread). */
  incidentId?: string;
  /** Set when a silence matched: the alert is recorded and indexed, not notified. */
  silencedBy?: string;
  /** Set when an inhibition rule matched, naming the alert that inhibits this one. */
  inhibitedBy?: string;
}

export interface AlertTransition {
  action: AlertAction;
  /** Event time of this transition. */
  at: string;
  alert: Alert;
}

export function transitionKey(t: AlertTransition): string {
  return `${t.alert.id}#${t.alert.seq}`;
}

/** Detector id plus a digest of the group key: stable, bounded, readable in PagerDuty and Slack. */
export function fingerprintOf(detector: string, groupKey: string): string {
  return `${detector}:${createHash('sha256').update(groupKey).digest('hex').slice(0, 16)}`;
}

/** Deterministic alert id, so replaying the same events yields the same ids. */
export function alertIdOf(fingerprint: string, openedAt: number): string {
  return createHash('sha256').update(`${fingerprint}@${openedAt}`).digest('hex').slice(0, 20);
}
