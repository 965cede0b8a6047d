import type { AccessEvent } from '../audit/event.js';
import { CronWindow } from '../util/cron-window.js';
import type { Detector } from './analyzer.js';
import { compileMatch, type EventPredicate } from './match.js';
import type { MatchSpec } from './schema.js';

/**
 * Known schedules: activity expected at known times (a nightly export, a monthly rotation run, an
 * announced penetration test). While a schedule's window is open, the events it matches are not
 * shown to the detectors it names — they neither alert nor shape those detectors' baselines. By
 * default that is every baseline-driven detector; rule detectors (root token, audit device,
 * policy changes) and the stream-level ones always see everything.
 */
export interface KnownSchedule {
  name: string;
  /** Cron expression (5 fields, or 6 with seconds first) for when the window opens, in the time zone. */
  cron: string;
  durationMs: number;
  match: MatchSpec;
  /** Detector ids; absent = the baseline-driven ones (see BASELINE_ANALYZERS). */
  detectors?: string[];
}

/** Analyzers that judge behaviour against a learned norm: what a known schedule exempts by default. */
export const BASELINE_ANALYZERS = new Set([
  'rate_spike',
  'cardinality',
  'first_seen',
  'novelty_rate',
  'off_hours',
]);

/**
 * The detectors with known schedules folded into their allowlists (`excluded`); the given ones are
 * left as they are. Throws with the schedule's name on a bad cron expression or an unknown detector
 * id, so a broken configuration fails the start (and `vigil check`).
 */
export function applySchedules(
  detectors: readonly Detector[],
  schedules: readonly KnownSchedule[],
  timeZone: string,
): Detector[] {
  const known = new Set(detectors.map((d) => d.id));
  const compiled = schedules.map((s) => {
    for (const id of s.detectors ?? [])
      if (!known.has(id)) throw new Error(`schedules: "${s.name}": no detector has the id "${id}"`);
    let window: CronWindow;
    try {
      window = new CronWindow(s.cron, s.durationMs, timeZone);
    } catch (err) {
      throw new Error(`schedules: "${s.name}": cron "${s.cron}": ${(err as Error).message}`);
    }
    const matches = compileMatch(s.match);
    const applies = (d: Detector) =>
      s.detectors ? s.detectors.includes(d.id) : BASELINE_ANALYZERS.has(d.analyzer.type);
    return { applies, inSchedule: (e: AccessEvent) => matches(e) && window.isOpen(e.time) };
  });
  return detectors.map((d) => {
    const mine = compiled.filter((c) => c.applies(d)).map((c) => c.inSchedule);
    if (mine.length === 0) return d;
    const before = d.excluded;
    const scheduled: EventPredicate = (e) => mine.some((p) => p(e));
    return { ...d, excluded: before ? (e) => before(e) || scheduled(e) : scheduled };
  });
}
