import type { Alert, AlertTransition } from '../alerts/alert.js';
import {
  FAMILY_MATCHED_KINDS,
  SCENARIO_KINDS,
  type ScenarioKind,
  type ScenarioLabel,
  type SimLabels,
  type Speed,
} from './labels.js';
import { quantile } from './rng.js';

/**
 * Scoring alerts against the labels of a simulated run. Pure: transitions and labels in, report
 * out. The rules:
 * - A scenario is detected when an alert OPENS in [start, end + grace] (grace: 15 min, 2 h for
 *   slow scenarios) and relates to it: the alert's entity is one of its entities, or one of the
 *   alert's source addresses is one of its addresses, or its group key / identity key mentions one
 *   of its entities or addresses, or a group-key component equals one of its login users, the /24
 *   of one of its addresses, `name:<display name>` of a token-only actor (root) or — stopped
 *   rotation — one of its paths; or, for whole-stream kinds (stream silence, audit device
 *   disabled, stopped rotation), the alert's detector family is one it is expected to trigger.
 * - Time to detect = `at` of that open transition − scenario start.
 * - After the warm-up, an opened alert that relates to no scenario window is a false alert; one
 *   that relates to a scenario but opens after its grace period (within 6 h) is "late" and
 *   counted and listed apart. Alerts opened during the warm-up are reported separately and never scored.
 */

export interface ScoreOptions {
  /** Grace after a fast scenario's last event (default 15 min). */
  graceMs?: number;
  /** Grace after a slow scenario's last event (default 2 h). */
  slowGraceMs?: number;
  /** How long after the grace a related alert still counts as "late" rather than false (default 6 h). */
  lateWindowMs?: number;
  /** How many false-alert groups to list (default 20). */
  top?: number;
}

export interface ScenarioResult {
  id: string;
  kind: ScenarioKind;
  speed: Speed;
  start: string;
  end: string;
  detected: boolean;
  /** Open time of the first related alert − start (ms). */
  ttdMs?: number;
  /** Detectors with a related alert opened inside the window. */
  detectors: string[];
  firstAlert?: { detector: string; at: string; summary: string };
  expected: string[];
  description: string;
}

export interface KindRow {
  kind: ScenarioKind;
  speed: Speed | 'mixed';
  n: number;
  detected: number;
  recall: number;
  medianTtdMs?: number;
  p95TtdMs?: number;
  expected: string[];
  /** Detector id → scenarios of this kind it caught. */
  caughtBy: Record<string, number>;
}

export interface FalseGroup {
  detector: string;
  /** Identity key (or group key when the alert has no identity). */
  key: string;
  /** Simulator identity and role, when the key is a known identity. */
  identity?: string;
  role?: string;
  count: number;
  firstAt: string;
  summary: string;
  /** Benign changes near the alerts that may explain them. */
  context: string[];
}

export interface EvalReport {
  run: Record<string, unknown>;
  window: { start: string; warmupEnd: string; end: string };
  identityDaysAfterWarmup: number;
  alerts: {
    opened: number;
    duringWarmup: number;
    duringWarmupByDetector: Record<string, number>;
    afterWarmup: number;
    explained: number;
    late: number;
    lateByDetector: Record<string, number>;
    /** The late alerts (first 20): which scenario, how long after its end. */
    lateAlerts: { scenario: string; detector: string; at: string; afterEndMs: number; summary: string }[];
  };
  scenarios: ScenarioResult[];
  byKind: KindRow[];
  overall: {
    n: number;
    detected: number;
    recall: number;
    fastMedianTtdMs?: number;
    fastP95TtdMs?: number;
    slowMedianTtdMs?: number;
  };
  falseAlerts: {
    count: number;
    per1000IdentityDays: number;
    byDetector: Record<string, number>;
    top: FalseGroup[];
  };
  targets: {
    recall: { target: number; value: number; met: boolean };
    falsePer1000IdentityDays: { target: number; value: number; met: boolean };
    fastMedianTtdMs: { target: number; value: number | null; met: boolean };
  };
}

export const TARGETS = { recall: 0.95, falsePer1000IdentityDays: 1, fastMedianTtdMs: 60_000 };

const DAY = 86_400_000;
const HOUR = 3_600_000;

interface Prepared {
  label: ScenarioLabel;
  start: number;
  end: number;
  deadline: number;
  lateUntil: number;
  entities: Set<string>;
  addresses: Set<string>;
  displayNames: Set<string>;
  /** Entity ids and addresses: identify an actor wherever they appear in a group or identity key. */
  mentions: string[];
  /** Exact group-key components: login users, /24 networks of the addresses, `name:<token display name>`, rotated paths. */
  components: Set<string>;
  byFamily: boolean;
}

/** `token` occurs in `text` and is not part of a longer name (neighbours are not letters or digits). */
export function mentions(text: string, token: string): boolean {
  if (!token) return false;
  let from = 0;
  for (;;) {
    const i = text.indexOf(token, from);
    if (i < 0) return false;
    const before = i > 0 ? text.charCodeAt(i - 1) : 32;
    const after = i + token.length < text.length ? text.charCodeAt(i + token.length) : 32;
    if (!isAlnum(before) && !isAlnum(after)) return true;
    from = i + 1;
  }
}

function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function prepare(s: ScenarioLabel, o: Required<ScoreOptions>): Prepared {
  const start = Date.parse(s.start);
  const end = Date.parse(s.end);
  const grace = s.speed === 'slow' ? o.slowGraceMs : o.graceMs;
  return {
    label: s,
    start,
    end,
    deadline: end + grace,
    lateUntil: end + grace + o.lateWindowMs,
    entities: new Set(s.entityIds),
    addresses: new Set(s.sourceAddresses),
    displayNames: new Set(s.displayNames),
    mentions: [...s.entityIds, ...s.sourceAddresses].filter((x) => x.length >= 2),
    components: new Set([
      ...s.loginUsers,
      ...s.sourceAddresses.map(network24).filter((x): x is string => x !== undefined),
      ...s.displayNames.map((d) => `name:${d}`),
      ...(s.kind === 'stopped_rotation' ? s.paths : []),
    ]),
    byFamily: FAMILY_MATCHED_KINDS.has(s.kind),
  };
}

function network24(address: string): string | undefined {
  const m = /^(\d+\.\d+\.\d+)\.\d+$/.exec(address);
  return m ? `${m[1] as string}.0/24` : undefined;
}

/** Whether an alert is about this scenario's actors (time is checked separately). */
export function relates(alert: Alert, s: ScenarioLabel | Prepared): boolean {
  const p = 'label' in s ? s : prepare(s, resolved({}));
  const id = alert.identity;
  if (id?.entityId && p.entities.has(id.entityId)) return true;
  if (id?.displayName && p.displayNames.has(id.displayName)) return true;
  for (const a of alert.sourceAddresses) if (p.addresses.has(a)) return true;
  const keys = [alert.groupKey, id?.key ?? ''];
  for (const m of p.mentions) for (const k of keys) if (k && mentions(k, m)) return true;
  if (p.components.size) {
    for (const part of alert.groupKey.split('|')) if (p.components.has(part)) return true;
    if (id?.key && p.components.has(id.key)) return true;
  }
  if (p.byFamily && alert.family && (p.label.expected as string[]).includes(alert.family)) return true;
  return false;
}

function resolved(o: ScoreOptions): Required<ScoreOptions> {
  return {
    graceMs: o.graceMs ?? 15 * 60_000,
    slowGraceMs: o.slowGraceMs ?? 2 * HOUR,
    lateWindowMs: o.lateWindowMs ?? 6 * HOUR,
    top: o.top ?? 20,
  };
}

const inc = (m: Record<string, number>, k: string, by = 1) => {
  m[k] = (m[k] ?? 0) + by;
};

export function scoreAlerts(
  labels: SimLabels,
  transitions: readonly AlertTransition[],
  options: ScoreOptions = {},
): EvalReport {
  const o = resolved(options);
  const runEnd = Date.parse(labels.timeRange.end);
  const warmupEnd = Date.parse(labels.warmupEnd);
  const prepared = labels.scenarios.map((s) => prepare(s, o));
  const opened = transitions
    .filter((t) => t.action === 'open')
    .map((t) => ({ t, at: Date.parse(t.at) }))
    .sort((a, b) => a.at - b.at || (a.t.alert.id < b.t.alert.id ? -1 : 1));

  // Scenario detection.
  const scenarios: ScenarioResult[] = prepared.map((p) => {
    const hits = opened.filter((x) => x.at >= p.start - 1000 && x.at <= p.deadline && relates(x.t.alert, p));
    const first = hits[0];
    const r: ScenarioResult = {
      id: p.label.id,
      kind: p.label.kind,
      speed: p.label.speed,
      start: p.label.start,
      end: p.label.end,
      detected: first !== undefined,
      detectors: [...new Set(hits.map((h) => h.t.alert.detector))].sort(),
      expected: p.label.expected,
      description: p.label.description,
    };
    if (first) {
      r.ttdMs = Math.max(0, first.at - p.start);
      r.firstAlert = { detector: first.t.alert.detector, at: first.t.at, summary: first.t.alert.summary };
    }
    return r;
  });

  // Every opened alert: warm-up, explained, late or false.
  const duringWarmupByDetector: Record<string, number> = {};
  const lateByDetector: Record<string, number> = {};
  const falseByDetector: Record<string, number> = {};
  const groups = new Map<string, FalseGroup>();
  const identityByKey = new Map(labels.identities.map((i) => [i.key, i]));
  let duringWarmup = 0;
  let afterWarmup = 0;
  let explained = 0;
  let late = 0;
  let falseCount = 0;
  const lateAlerts: EvalReport['alerts']['lateAlerts'] = [];
  for (const { t, at } of opened) {
    const a = t.alert;
    if (at < warmupEnd) {
      duringWarmup++;
      inc(duringWarmupByDetector, a.detector);
      continue;
    }
    afterWarmup++;
    const related = prepared.filter((p) => at >= p.start - 1000 && at <= p.lateUntil && relates(a, p));
    if (related.some((p) => at <= p.deadline)) {
      explained++;
      continue;
    }
    if (related.length > 0) {
      late++;
      inc(lateByDetector, a.detector);
      const p = related[0] as Prepared;
      if (lateAlerts.length < 20)
        lateAlerts.push({
          scenario: p.label.id,
          detector: a.detector,
          at: t.at,
          afterEndMs: at - p.end,
          summary: a.summary,
        });
      continue;
    }
    falseCount++;
    inc(falseByDetector, a.detector);
    const key = a.identity?.key ?? a.groupKey;
    const gk = `${a.detector}\u0000${key}`;
    let g = groups.get(gk);
    if (!g) {
      const ident = identityByKey.get(key);
      g = {
        detector: a.detector,
        key,
        ...(ident ? { identity: ident.id, role: ident.role } : {}),
        count: 0,
        firstAt: t.at,
        summary: a.summary,
        context: benignContext(labels, ident?.id, ident?.entityId, at),
      };
      groups.set(gk, g);
    }
    g.count++;
  }

  // Identity-days after the warm-up (identities that arrive later count from their arrival).
  let identityMs = 0;
  for (const i of labels.identities) {
    const from = Math.max(warmupEnd, Date.parse(i.plannedStart));
    identityMs += Math.max(0, runEnd - from);
  }
  const identityDays = identityMs / DAY;
  const per1000 = identityDays > 0 ? (1000 * falseCount) / identityDays : 0;

  // Per kind (and speed when a kind has both).
  const byKind: KindRow[] = [];
  for (const kind of SCENARIO_KINDS) {
    const rows = scenarios.filter((s) => s.kind === kind);
    if (rows.length === 0) continue;
    const speeds = [...new Set(rows.map((r) => r.speed))];
    const groupsOf = speeds.length > 1 ? speeds.map((sp) => rows.filter((r) => r.speed === sp)) : [rows];
    for (const g of groupsOf) {
      const ttds = g.filter((r) => r.ttdMs !== undefined).map((r) => r.ttdMs as number);
      const caughtBy: Record<string, number> = {};
      for (const r of g) for (const d of r.detectors) inc(caughtBy, d);
      const row: KindRow = {
        kind,
        speed:
          speeds.length > 1
            ? (g[0] as ScenarioResult).speed
            : speeds.length === 1
              ? (speeds[0] as Speed)
              : 'mixed',
        n: g.length,
        detected: g.filter((r) => r.detected).length,
        recall: g.filter((r) => r.detected).length / g.length,
        expected: (g[0] as ScenarioResult).expected,
        caughtBy,
      };
      if (ttds.length) {
        row.medianTtdMs = quantile(ttds, 0.5);
        row.p95TtdMs = quantile(ttds, 0.95);
      }
      byKind.push(row);
    }
  }
  const detected = scenarios.filter((s) => s.detected).length;
  const fastTtd = scenarios
    .filter((s) => s.speed === 'fast' && s.ttdMs !== undefined)
    .map((s) => s.ttdMs as number);
  const slowTtd = scenarios
    .filter((s) => s.speed === 'slow' && s.ttdMs !== undefined)
    .map((s) => s.ttdMs as number);
  const overall: EvalReport['overall'] = {
    n: scenarios.length,
    detected,
    recall: scenarios.length ? detected / scenarios.length : 0,
  };
  if (fastTtd.length) {
    overall.fastMedianTtdMs = quantile(fastTtd, 0.5);
    overall.fastP95TtdMs = quantile(fastTtd, 0.95);
  }
  if (slowTtd.length) overall.slowMedianTtdMs = quantile(slowTtd, 0.5);

  const top = [...groups.values()]
    .sort(
      (x, y) =>
        y.count - x.count ||
        (x.detector < y.detector ? -1 : x.detector > y.detector ? 1 : x.key < y.key ? -1 : 1),
    )
    .slice(0, o.top);
  const fastMedian = overall.fastMedianTtdMs;
  return {
    run: { seed: labels.seed, ...labels.parameters },
    window: { start: labels.timeRange.start, warmupEnd: labels.warmupEnd, end: labels.timeRange.end },
    identityDaysAfterWarmup: Math.round(identityDays * 10) / 10,
    alerts: {
      opened: opened.length,
      duringWarmup,
      duringWarmupByDetector,
      afterWarmup,
      explained,
      late,
      lateByDetector,
      lateAlerts,
    },
    scenarios,
    byKind,
    overall,
    falseAlerts: {
      count: falseCount,
      per1000IdentityDays: round(per1000, 3),
      byDetector: falseByDetector,
      top,
    },
    targets: {
      recall: {
        target: TARGETS.recall,
        value: round(overall.recall, 3),
        met: overall.recall >= TARGETS.recall,
      },
      falsePer1000IdentityDays: {
        target: TARGETS.falsePer1000IdentityDays,
        value: round(per1000, 3),
        met: per1000 <= TARGETS.falsePer1000IdentityDays,
      },
      fastMedianTtdMs: {
        target: TARGETS.fastMedianTtdMs,
        value: fastMedian ?? null,
        met: fastMedian !== undefined && fastMedian <= TARGETS.fastMedianTtdMs,
      },
    },
  };
}

function round(x: number, digits: number): number {
  const f = Math.pow(10, digits);
  return Math.round(x * f) / f;
}

/**
 * Benign changes that may explain a false alert: the identity's own changes up to 3 days before,
 * and run-wide ones (holiday, new VPN pool) that are in effect.
 */
function benignContext(
  labels: SimLabels,
  identity: string | undefined,
  entityId: string | undefined,
  at: number,
): string[] {
  const out: string[] = [];
  for (const e of labels.benignEvents) {
    const t = Date.parse(e.at);
    const until = e.end ? Date.parse(e.end) : t;
    const mine =
      (identity !== undefined && e.identity === identity) ||
      (entityId !== undefined && e.entityId === entityId);
    const global = e.identity === undefined && e.entityId === undefined;
    const relevant = mine
      ? at >= t - HOUR && at <= until + 3 * DAY
      : global && (e.end ? at >= t && at <= until + 12 * HOUR : at >= t && at <= t + 2 * DAY);
    if (relevant) out.push(`${e.kind} ${e.at.slice(0, 16)}Z: ${e.description}`);
  }
  return out.slice(-3);
}

// ------------------------------------------------------------------------------------------------
// Text report

export function formatDuration(ms: number | undefined | null): string {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 2 * HOUR) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / HOUR).toFixed(1)} h`;
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

export function formatReport(r: EvalReport): string {
  const lines: string[] = [];
  const run = r.run;
  const head = [
    `seed ${String(run['seed'])}`,
    `${String(run['days'])} days`,
    `${String(run['identities'])} identities`,
  ];
  if (run['intensity'] !== undefined) head.push(`intensity ${String(run['intensity'])}`);
  if (run['lines'] !== undefined) head.push(`${Number(run['lines']).toLocaleString('en')} lines`);
  lines.push(`Vigil evaluation — ${head.join(', ')}`);
  const timing: string[] = [];
  if (run['generationSeconds'] !== undefined)
    timing.push(`generated in ${String(run['generationSeconds'])} s${run['cached'] ? ' (cached)' : ''}`);
  if (run['replaySeconds'] !== undefined)
    timing.push(
      `replayed in ${String(run['replaySeconds'])} s (${Number(run['replayLinesPerSecond']).toLocaleString('en')} lines/s)`,
    );
  if (timing.length) lines.push(`  ${timing.join(', ')}`);
  lines.push(
    `  ${r.window.start} → ${r.window.end}; warm-up until ${r.window.warmupEnd}; ` +
      `${r.identityDaysAfterWarmup.toLocaleString('en')} identity-days after warm-up`,
  );
  lines.push('');
  const kw = Math.max(22, ...r.byKind.map((k) => k.kind.length + 7));
  lines.push(
    `${pad('scenario', kw)}  ${lpad('n', 3)}  ${lpad('found', 5)}  ${lpad('recall', 6)}  ${lpad('median TTD', 10)}  ${lpad('p95 TTD', 9)}  caught by (expected families)`,
  );
  lines.push('-'.repeat(kw + 50));
  for (const k of r.byKind) {
    const name =
      k.speed === 'slow' || r.byKind.filter((x) => x.kind === k.kind).length > 1
        ? `${k.kind} (${k.speed})`
        : k.kind;
    const caught = Object.entries(k.caughtBy)
      .sort((a, b) => b[1] - a[1])
      .map(([d, n]) => `${d}×${n}`)
      .join(', ');
    lines.push(
      `${pad(name, kw)}  ${lpad(String(k.n), 3)}  ${lpad(String(k.detected), 5)}  ${lpad(k.recall.toFixed(2), 6)}  ` +
        `${lpad(formatDuration(k.medianTtdMs), 10)}  ${lpad(formatDuration(k.p95TtdMs), 9)}  ${caught || '–'} (${k.expected.join(', ')})`,
    );
  }
  lines.push('-'.repeat(kw + 50));
  const o = r.overall;
  lines.push(
    `${pad('overall', kw)}  ${lpad(String(o.n), 3)}  ${lpad(String(o.detected), 5)}  ${lpad(o.recall.toFixed(2), 6)}  ` +
      `${lpad(formatDuration(o.fastMedianTtdMs), 10)}  ${lpad(formatDuration(o.fastP95TtdMs), 9)}  (TTD over fast scenarios; slow median ${formatDuration(o.slowMedianTtdMs)})`,
  );
  lines.push('');
  const t = r.targets;
  const mark = (ok: boolean) => (ok ? 'met' : 'MISSED');
  lines.push('targets');
  lines.push(
    `  recall                              ≥ ${t.recall.target.toFixed(2)}   measured ${t.recall.value.toFixed(2)}   ${mark(t.recall.met)}`,
  );
  lines.push(
    `  false alerts per 1000 identity-days ≤ ${t.falsePer1000IdentityDays.target.toFixed(2)}   measured ${t.falsePer1000IdentityDays.value.toFixed(2)}   ${mark(t.falsePer1000IdentityDays.met)}`,
  );
  lines.push(
    `  median TTD, fast scenarios          ≤ 60 s   measured ${formatDuration(t.fastMedianTtdMs.value)}   ${mark(t.fastMedianTtdMs.met)}`,
  );
  lines.push('');
  const a = r.alerts;
  lines.push(
    `alerts opened ${a.opened}: ${a.duringWarmup} during warm-up (not scored), ${a.afterWarmup} after — ` +
      `${a.explained} explained by scenarios, ${a.late} late (related to a scenario, after its grace), ${r.falseAlerts.count} false`,
  );
  const det = (m: Record<string, number>) =>
    Object.entries(m)
      .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))
      .map(([d, n]) => `${d} ${n}`)
      .join(', ') || 'none';
  lines.push(`  false alerts by detector: ${det(r.falseAlerts.byDetector)}`);
  if (a.late) {
    lines.push(`  late alerts by detector: ${det(a.lateByDetector)}`);
    for (const l of a.lateAlerts)
      lines.push(
        `    ${l.detector} for ${l.scenario}, ${formatDuration(l.afterEndMs)} after its end: ${l.summary}`,
      );
  }
  lines.push(`  warm-up alerts by detector: ${det(a.duringWarmupByDetector)}`);
  if (r.falseAlerts.top.length) {
    lines.push('');
    lines.push(`most frequent false alerts (top ${r.falseAlerts.top.length})`);
    for (const g of r.falseAlerts.top) {
      const who = g.identity ? `${g.identity} (${g.role})` : g.key;
      lines.push(`  ${lpad(String(g.count), 4)} × ${g.detector}  ${who}  first ${g.firstAt.slice(0, 19)}Z`);
      lines.push(`         ${g.summary}`);
      for (const c of g.context) lines.push(`         benign context: ${c}`);
    }
  }
  const missed = r.scenarios.filter((s) => !s.detected);
  if (missed.length) {
    lines.push('');
    lines.push(`missed scenarios (${missed.length})`);
    for (const s of missed) lines.push(`  ${pad(s.id, 26)} ${s.start.slice(0, 16)}Z  ${s.description}`);
  }
  return lines.join('\n');
}
