import type { Client } from '@elastic/elasticsearch';
import { eventsIndexPattern } from './documents.js';

/**
 * Retention of the daily event indices by deleting whole indices: `<prefix>-events-YYYY.MM.DD` is
 * deleted once its whole day is older than the retention (`day end <= now - retention`).
 *
 * ILM is not used because it is not available everywhere (the minimal test node has no ILM module,
 * and neither do some managed offerings). A cluster with ILM could instead attach a delete-phase
 * policy to the events template (`index.lifecycle.name`) and set `retention` to 0 here.
 *
 * Only names that match exactly `<prefix>-events-` followed by a valid date are considered, so other
 * indices (another prefix, `<prefix>-alerts`, `<prefix>-events-foo`, a prefix that merely starts the
 * same way) are never touched. Indices are deleted by exact name, never by wildcard.
 */

const DAY_MS = 86_400_000;

/** The UTC day a daily events index name stands for (epoch ms of its start), or undefined. */
export function eventsIndexDay(prefix: string, index: string): number | undefined {
  const head = `${prefix}-events-`;
  if (!index.startsWith(head)) return undefined;
  const m = /^(\d{4})\.(\d{2})\.(\d{2})$/.exec(index.slice(head.length));
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const check = new Date(t);
  // Reject 2025.02.30 and the like (Date.UTC would roll them over).
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d)
    return undefined;
  return t;
}

/** Of these index names, those of the prefix whose whole day is older than the retention. */
export function expiredIndices(
  prefix: string,
  indices: readonly string[],
  retentionMs: number,
  now: number,
): string[] {
  if (!(retentionMs > 0)) return [];
  const cutoff = now - retentionMs;
  return indices
    .filter((index) => {
      const day = eventsIndexDay(prefix, index);
      return day !== undefined && day + DAY_MS <= cutoff;
    })
    .sort();
}

/**
 * List `<prefix>-events-*` (open and closed), delete those past retention, return what was deleted.
 * Deletes in small groups so the request line stays short.
 */
export async function deleteExpiredIndices(
  client: Client,
  prefix: string,
  retentionMs: number,
  now: number,
): Promise<string[]> {
  if (!(retentionMs > 0)) return [];
  const rows = await client.cat.indices({
    index: eventsIndexPattern(prefix),
    format: 'json',
    h: 'index',
    expand_wildcards: ['open', 'closed'],
  });
  const names = (rows as { index?: string }[])
    .map((r) => r.index)
    .filter((n): n is string => typeof n === 'string');
  const expired = expiredIndices(prefix, names, retentionMs, now);
  const deleted: string[] = [];
  for (let i = 0; i < expired.length; i += 20) {
    const group = expired.slice(i, i + 20);
    await client.indices.delete({ index: group, ignore_unavailable: true, expand_wildcards: 'none' });
    deleted.push(...group);
  }
  return deleted;
}
