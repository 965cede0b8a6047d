import { maxSeverity, severityRank, type Severity } from '../audit/event.js';
import type { Detector } from '../detect/analyzer.js';
import type { Signal } from '../detect/signal.js';
import { MAX_SIGNAL_EVENT_IDS } from '../detect/signal.js';
import { alertIdOf, fingerprintOf, type Alert, type AlertAction, type AlertTransition } from './alert.js';

export interface LifecycleOptions {
  /**
   * An open alert writes at most one `update` per interval (event time) unless its severity rises;
   * the counts keep accumulating and the next transition carries them.
   */
  updateIntervalMs: number;
  /** How many resolved fingerprints are remembered to link a re-opened alert to its predecessor. */
  rememberResolved: number;
}

export const DEFAULT_LIFECYCLE_OPTIONS: LifecycleOptions = {
  updateIntervalMs: 5 * 60_000,
  rememberResolved: 50_000,
};

interface OpenAlert {
  alert: Alert;
  lastSignalAt: number;
  resolveAfterMs: number;
  lastEmittedAt: number;
  emittedSeverity: Severity;
  /** Signals arrived since the last emitted transition. */
  dirty: boolean;
}

export interface LifecycleSnapshot {
  open: OpenAlert[];
  resolved: [string, string][];
}

/** Adds environment-specific decoration (links, environment) to an alert before it is emitted. */
export type Decorate = (alert: Alert) => void;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The alert state machine: one alert per fingerprint (detector + group) while the condition lasts.
 * Pure and event-time: the same signals and ticks give the same transitions, ids and order.
 */
export class AlertLifecycle {
  private readonly open = new Map<string, OpenAlert>();
  /** fingerprint → id of the last resolved alert (insertion-ordered, oldest first). */
  private readonly resolved = new Map<string, string>();

  constructor(
    private readonly options: LifecycleOptions = DEFAULT_LIFECYCLE_OPTIONS,
    private decorate: Decorate = () => {},
  ) {}

  /** Configuration reload: links and labels of alerts from now on. */
  setDecorate(decorate: Decorate): void {
    this.decorate = decorate;
  }

  onSignal(signal: Signal, detector: Detector, out: AlertTransition[]): void {
    const fingerprint = fingerprintOf(signal.detector, signal.groupKey);
    const current = this.open.get(fingerprint);
    if (signal.clear) {
      if (current) this.resolve(fingerprint, current, signal.at, out);
      return;
    }
    if (!current) {
      this.openAlert(fingerprint, signal, detector, out);
      return;
    }
    const a = current.alert;
    a.eventCount += signal.eventCount;
    a.signalCount++;
    a.score = Math.max(a.score, round(signal.score));
    a.severity = maxSeverity(a.severity, signal.severity);
    if (signal.lastEventAt > Date.parse(a.lastEventAt)) a.lastEventAt = iso(signal.lastEventAt);
    a.summary = signal.summary;
    a.title = signal.title;
    a.evidence = signal.evidence;
    mergeCapped(a.sourceAddresses, signal.sourceAddresses);
    mergeCapped(a.paths, signal.paths);
    mergeCapped(a.eventIds, signal.eventIds);
    current.lastSignalAt = Math.max(current.lastSignalAt, signal.at);
    current.dirty = true;
    const escalated = severityRank(a.severity) > severityRank(current.emittedSeverity);
    if (escalated || signal.at - current.lastEmittedAt >= this.options.updateIntervalMs) {
      this.emit('update', current, signal.at, out);
    }
  }

  /** Resolve quiet alerts and flush throttled updates; `now` is event time (or wall clock when live). */
  tick(now: number, out: AlertTransition[]): void {
    for (const [fingerprint, current] of this.open) {
      if (now - current.lastSignalAt >= current.resolveAfterMs) {
        this.resolve(fingerprint, current, now, out);
      } else if (current.dirty && now - current.lastEmittedAt >= this.options.updateIntervalMs) {
        this.emit('update', current, now, out);
      }
    }
  }

  openAlerts(): Alert[] {
    return [...this.open.values()].map((o) => o.alert);
  }

  get openCount(): number {
    return this.open.size;
  }

  snapshot(): LifecycleSnapshot {
    return { open: [...this.open.values()], resolved: [...this.resolved.entries()] };
  }

  restore(snapshot: LifecycleSnapshot): void {
    this.open.clear();
    this.resolved.clear();
    for (const o of snapshot.open) this.open.set(o.alert.fingerprint, o);
    for (const [fp, id] of snapshot.resolved) this.resolved.set(fp, id);
  }

  private openAlert(fingerprint: string, signal: Signal, detector: Detector, out: AlertTransition[]): void {
    const alert: Alert = {
      id: alertIdOf(fingerprint, signal.at),
      fingerprint,
      detector: signal.detector,
      severity: signal.severity,
      score: round(signal.score),
      title: signal.title,
      summary: signal.summary,
      sourceAddresses: signal.sourceAddresses.slice(0, MAX_SIGNAL_EVENT_IDS),
      paths: signal.paths.slice(0, MAX_SIGNAL_EVENT_IDS),
      firstEventAt: iso(signal.firstEventAt),
      lastEventAt: iso(signal.lastEventAt),
      eventCount: signal.eventCount,
      evidence: signal.evidence,
      runbook: detector.runbook,
      links: {},
      status: 'open',
      seq: 0,
      openedAt: iso(signal.at),
      groupKey: signal.groupKey,
      signalCount: 1,
      eventIds: signal.eventIds.slice(0, MAX_SIGNAL_EVENT_IDS),
      labels: { ...detector.labels },
    };
    if (signal.identity) alert.identity = signal.identity;
    if (signal.family) alert.family = signal.family;
    if (detector.firstStep) alert.firstStep = detector.firstStep;
    const previous = this.resolved.get(fingerprint);
    if (previous) alert.previousAlertId = previous;
    const entry: OpenAlert = {
      alert,
      lastSignalAt: signal.at,
      resolveAfterMs: detector.resolveAfterMs,
      lastEmittedAt: signal.at,
      emittedSeverity: alert.severity,
      dirty: false,
    };
    this.open.set(fingerprint, entry);
    this.emit('open', entry, signal.at, out);
  }

  private resolve(fingerprint: string, current: OpenAlert, at: number, out: AlertTransition[]): void {
    current.alert.status = 'resolved';
    current.alert.resolvedAt = iso(at);
    this.emit('resolve', current, at, out);
    this.open.delete(fingerprint);
    this.resolved.delete(fingerprint);
    this.resolved.set(fingerprint, current.alert.id);
    if (this.resolved.size > this.options.rememberResolved) {
      const oldest = this.resolved.keys().next();
      if (!oldest.done) this.resolved.delete(oldest.value);
    }
  }

  private emit(action: AlertAction, current: OpenAlert, at: number, out: AlertTransition[]): void {
    const a = current.alert;
    a.seq++;
    this.decorate(a);
    current.lastEmittedAt = at;
    current.emittedSeverity = a.severity;
    current.dirty = false;
    out.push({ action, at: iso(at), alert: copy(a) });
  }
}

function copy(a: Alert): Alert {
  return {
    ...a,
    identity: a.identity ? { ...a.identity } : undefined,
    sourceAddresses: [...a.sourceAddresses],
    paths: [...a.paths],
    eventIds: [...a.eventIds],
    evidence: { ...a.evidence },
    links: { ...a.links },
    labels: { ...a.labels },
  } as Alert;
}

function mergeCapped(into: string[], values: string[]): void {
  for (const v of values) {
    if (into.length >= MAX_SIGNAL_EVENT_IDS) return;
    if (!into.includes(v)) into.push(v);
  }
}

function round(score: number): number {
  return Math.round(score * 100) / 100;
}
