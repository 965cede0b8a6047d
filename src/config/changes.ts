import type { Config } from './schema.js';

/**
 * Settings a configuration reload (SIGHUP) applies to the running daemon. A top-level name covers
 * everything under it; `a.b` covers one setting of a section.
 */
export const LIVE_SETTINGS: ReadonlySet<string> = new Set([
  'environment',
  'detectors',
  'schedules',
  'rotation',
  'silences',
  'maintenance',
  'inhibit',
  'runbooks',
  'kibana',
  'notify.route',
  'notify.update_throttle',
  'notify.incident_window',
  'notify.stuck_after',
  'pipeline.idle_advance_after',
  'log.level',
]);

/**
 * The settings that differ between two configurations, as `section` or `section.setting` (one level
 * into a section, so "notify.receivers" is told apart from "notify.route").
 */
export function changedSettings(before: Config, after: Config): string[] {
  const changed: string[] = [];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of keys) {
    const a = (before as Record<string, unknown>)[key];
    const b = (after as Record<string, unknown>)[key];
    if (same(a, b)) continue;
    if (isSection(a) && isSection(b)) {
      for (const sub of new Set([...Object.keys(a), ...Object.keys(b)]))
        if (!same(a[sub], b[sub])) changed.push(`${key}.${sub}`);
    } else changed.push(key);
  }
  return changed;
}

/** Of the changed settings, those a reload cannot apply: they wait for a restart. */
export function needingRestart(changed: readonly string[]): string[] {
  return changed.filter((c) => !LIVE_SETTINGS.has(c) && !LIVE_SETTINGS.has(c.split('.')[0] as string));
}

function isSection(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
