import type { AlertTransition } from '../alerts/alert.js';
import type { Silence } from '../alerts/silences.js';
import type { Severity } from '../audit/event.js';
import type { RotationReport } from '../detect/analyzers/rotation.js';
import type { AlertSink } from '../notify/sink.js';
import { formatDuration } from '../util/duration.js';

interface Opened {
  at: number;
  detector: string;
  severity: Severity;
  who: string;
  silenced: boolean;
}

const DAY = 86_400_000;
const SEVERITY_ORDER = ['critical', 'high', 'medium', 'low', 'info'];

/**
 * Remembers the alerts opened in the last day (bounded) for the daily digest. Checkpointed with the
 * state, so a restart does not empty the next digest.
 */
export class DigestCollector implements AlertSink {
  readonly name = 'digest';
  private opened: Opened[] = [];

  snapshot(): Opened[] {
    return this.opened;
  }

  restore(state: unknown): void {
    if (Array.isArray(state)) this.opened = state as Opened[];
  }

  async write(transitions: readonly AlertTransition[], recovering = false): Promise<void> {
    if (recovering) return;
    for (const t of transitions) {
      if (t.action !== 'open') continue;
      const a = t.alert;
      this.opened.push({
        at: Date.parse(t.at),
        detector: a.detector,
        severity: a.severity,
        who: a.identity?.displayName ?? a.identity?.entityId ?? a.sourceAddresses[0] ?? a.groupKey,
        silenced: Boolean(a.silencedBy ?? a.inhibitedBy),
      });
    }
    if (this.opened.length > 20_000) this.opened = this.opened.slice(-10_000);
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}

  /** Alerts opened in the day before `now` (event time ≈ wall clock for a live daemon). */
  lastDay(now: number): Opened[] {
    this.opened = this.opened.filter((o) => o.at > now - 7 * DAY);
    return this.opened.filter((o) => o.at > now - DAY);
  }
}

export interface DigestInput {
  now: number;
  environment: string;
  opened: Opened[];
  silences: Silence[];
  rotation: RotationReport[];
  openAlerts: number;
}

/**
 * The daily digest for the chat receiver: alerts by detector and severity, noisiest identities,
 * silences about to expire, and rotation health (overdue paths and mean time between rotations).
 */
export function buildDigest(d: DigestInput): string {
  const lines: string[] = [
    `*Vigil daily digest — ${d.environment}* (${new Date(d.now).toISOString().slice(0, 16)}Z)`,
  ];
  const bySeverity = new Map<string, number>();
  const byDetector = new Map<string, number>();
  const detectorSeverities = new Map<string, Map<string, number>>();
  const byWho = new Map<string, number>();
  for (const o of d.opened) {
    bySeverity.set(o.severity, (bySeverity.get(o.severity) ?? 0) + 1);
    byDetector.set(o.detector, (byDetector.get(o.detector) ?? 0) + 1);
    let sev = detectorSeverities.get(o.detector);
    if (!sev) detectorSeverities.set(o.detector, (sev = new Map()));
    sev.set(o.severity, (sev.get(o.severity) ?? 0) + 1);
    byWho.set(o.who, (byWho.get(o.who) ?? 0) + 1);
  }
  const severities = (m: Map<string, number>) =>
    SEVERITY_ORDER.filter((s) => m.has(s))
      .map((s) => `${m.get(s)} ${s}`)
      .join(', ');
  const silenced = d.opened.filter((o) => o.silenced).length;
  lines.push(
    `Alerts opened in the last 24 h: *${d.opened.length}*` +
      (d.opened.length > 0
        ? ` (${severities(bySeverity)}${silenced ? `; ${silenced} silenced or inhibited` : ''})`
        : '') +
      `; ${d.openAlerts} open now.`,
  );
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, n)
      .map(([k, v]) => `${k} (${v})`)
      .join(', ');
  if (byDetector.size > 0) {
    const detectors = [...byDetector.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, 10)
      .map(([id, n]) => `${id} (${n}: ${severities(detectorSeverities.get(id) ?? new Map())})`);
    lines.push(`By detector: ${detectors.join(', ')}`);
  }
  if (byWho.size > 0) lines.push(`Noisiest identities: ${top(byWho, 5)}`);

  const soon = d.silences.filter((s) => {
    const end = Date.parse(s.endsAt);
    return end > d.now && end <= d.now + DAY;
  });
  if (soon.length > 0) {
    lines.push(
      `Silences expiring within 24 h: ${soon.map((s) => `${s.id} (by ${s.author}, ends ${s.endsAt.slice(0, 16)}Z: ${s.reason})`).join('; ')}`,
    );
  }

  const overdue = d.rotation.filter((r) => r.overdue);
  const intervals = d.rotation.map((r) => r.meanIntervalMs).filter((x): x is number => x !== undefined);
  if (d.rotation.length > 0) {
    const mean = intervals.length
      ? formatDuration(Math.round(intervals.reduce((a, b) => a + b, 0) / intervals.length))
      : 'unknown';
    lines.push(
      `Rotation health: ${d.rotation.length} rotation-managed paths, ${overdue.length} overdue; mean time to rotate ${mean} (a secret's life between two rotations).` +
        (overdue.length > 0
          ? ` Overdue: ${overdue
              .slice(0, 10)
              .map((r) => `${r.path} (last ${r.lastRotation.slice(0, 10)})`)
              .join(', ')}`
          : ''),
    );
  }
  return lines.join('\n');
}
