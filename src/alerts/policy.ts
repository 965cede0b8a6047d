import type { InhibitConfig, MaintenanceConfig } from '../config/schema.js';
import type { Alert, AlertTransition } from './alert.js';
import { compileMatchers, type SilenceStore } from './silences.js';
import { CronWindow } from '../util/cron-window.js';

export interface PolicyOptions {
  /** Alerts on one identity that open within this window of the incident's last activity join it. */
  incidentWindowMs: number;
  silences?: Pick<SilenceStore, 'match'>;
  maintenance?: MaintenanceConfig[];
  inhibit?: InhibitConfig[];
  timeZone: string;
}

interface Incident {
  id: string;
  title: string;
  firstAlertId: string;
  lastActivityAt: number;
}

interface OpenRef {
  id: string;
  detector: string;
  identity?: string;
  namespace?: string;
  sources: string[];
}

export interface PolicySnapshot {
  incidents: [string, Incident][];
  alertIncidents: [string, string][];
  open: OpenRef[];
}

interface CompiledWindow {
  name: string;
  window: CronWindow;
  matches: (a: Alert) => boolean;
}

/**
 * What happens to an alert transition between the lifecycle and the outputs, decided in event time:
 * which incident it belongs to, and whether a silence, a maintenance window or an inhibition rule
 * keeps it from being notified. Annotated alerts are still recorded and indexed.
 */
export class AlertPolicy {
  private readonly incidents = new Map<string, Incident>();
  private readonly alertIncident = new Map<string, string>();
  private readonly open = new Map<string, OpenRef>();
  private readonly windows: CompiledWindow[];

  constructor(private readonly options: PolicyOptions) {
    // A bad expression fails at start-up, not at the first alert.
    this.windows = (options.maintenance ?? []).map((w) => ({
      name: w.name,
      window: new CronWindow(w.cron, w.duration, options.timeZone),
      matches: compileMatchers(w.matchers),
    }));
  }

  apply(transitions: AlertTransition[]): void {
    for (const t of transitions) this.applyOne(t);
  }

  snapshot(): PolicySnapshot {
    return {
      incidents: [...this.incidents.entries()],
      alertIncidents: [...this.alertIncident.entries()],
      open: [...this.open.values()],
    };
  }

  restore(s: PolicySnapshot): void {
    this.incidents.clear();
    this.alertIncident.clear();
    this.open.clear();
    for (const [k, v] of s.incidents) this.incidents.set(k, v);
    for (const [k, v] of s.alertIncidents) this.alertIncident.set(k, v);
    for (const o of s.open) this.open.set(o.id, o);
  }

  private applyOne(t: AlertTransition): void {
    const a = t.alert;
    const at = Date.parse(t.at);
    const key = a.identity?.key ?? a.groupKey;

    let incidentId = this.alertIncident.get(a.id);
    if (!incidentId) {
      const current = this.incidents.get(key);
      if (current && at - current.lastActivityAt <= this.options.incidentWindowMs) {
        incidentId = current.id;
      } else {
        incidentId = `inc-${a.id}`;
        this.incidents.set(key, { id: incidentId, title: a.title, firstAlertId: a.id, lastActivityAt: at });
      }
      this.alertIncident.set(a.id, incidentId);
    }
    const incident = this.incidents.get(key);
    if (incident && incident.id === incidentId)
      incident.lastActivityAt = Math.max(incident.lastActivityAt, at);
    a.incidentId = incidentId;

    // Inhibition looks at alerts open before this one; then this one joins (or leaves) that set.
    const inhibitor = this.inhibitor(a);
    if (inhibitor) a.inhibitedBy = inhibitor;
    if (t.action === 'resolve') {
      this.open.delete(a.id);
      this.alertIncident.delete(a.id);
      this.forgetIncidents(at);
    } else {
      const ref: OpenRef = { id: a.id, detector: a.detector, sources: a.sourceAddresses };
      if (a.identity?.key) ref.identity = a.identity.key;
      const ns = a.labels['namespace'];
      if (ns) ref.namespace = ns;
      this.open.set(a.id, ref);
    }

    const silence = this.options.silences?.match(a, at);
    if (silence) a.silencedBy = silence.id;
    else {
      const window = this.windows.find((w) => w.matches(a) && w.window.isOpen(at));
      if (window) a.silencedBy = `maintenance:${window.name}`;
    }
  }

  private inhibitor(a: Alert): string | undefined {
    for (const rule of this.options.inhibit ?? []) {
      if (!rule.target_detector.includes(a.detector)) continue;
      for (const o of this.open.values()) {
        if (o.id === a.id || !rule.source_detector.includes(o.detector)) continue;
        const equal = rule.equal.every((field) => {
          if (field === 'identity') return o.identity !== undefined && o.identity === a.identity?.key;
          if (field === 'namespace') return o.namespace === a.labels['namespace'];
          return o.sources.some((s) => a.sourceAddresses.includes(s));
        });
        if (equal) return o.id;
      }
    }
    return undefined;
  }

  /** Drop incidents that can no longer be joined and have no open alert (bounded memory). */
  private forgetIncidents(now: number): void {
    if (this.incidents.size < 1024) return;
    const live = new Set(this.alertIncident.values());
    for (const [key, inc] of this.incidents) {
      if (!live.has(inc.id) && now - inc.lastActivityAt > this.options.incidentWindowMs)
        this.incidents.delete(key);
    }
  }

  /** The incident an alert belongs to (for notifications). */
  incidentOf(alert: Alert): { id: string; title: string; firstAlertId: string } | undefined {
    const key = alert.identity?.key ?? alert.groupKey;
    const inc = this.incidents.get(key);
    if (inc && inc.id === alert.incidentId)
      return { id: inc.id, title: inc.title, firstAlertId: inc.firstAlertId };
    if (alert.incidentId)
      return { id: alert.incidentId, title: alert.title, firstAlertId: alert.incidentId.slice(4) };
    return undefined;
  }
}
