import { z } from 'zod';
import type { AccessEvent } from '../../audit/event.js';
import { pathPrefix } from '../../audit/paths.js';
import { networkOf } from '../../baseline/stats/network.js';
import { memoize } from '../../util/memo.js';
import { duration, formatDuration } from '../../util/duration.js';
import type { Detector } from '../analyzer.js';
import { describeIdentity, identityRef, summarise } from '../describe.js';
import type { Evidence, Signal } from '../signal.js';

/**
 * Pieces every baseline-driven analyzer needs: bounded per-group state, the score thresholds that
 * split "alert" from "weak signal for compound risk", and the way a signal is worded.
 */

/** Per-group state with an event-time idle expiry, so memory follows live identities, not history. */
export class GroupTable<S extends { lastAt: number }> {
  readonly map = new Map<string, S>();
  private lastSweep = 0;

  constructor(
    private readonly idleMs: number,
    private readonly sweepEveryMs = 3_600_000,
  ) {}

  get(key: string): S | undefined {
    return this.map.get(key);
  }

  set(key: string, state: S): void {
    this.map.set(key, state);
  }

  get size(): number {
    return this.map.size;
  }

  /**
   * Forget groups idle for longer than the retention (called from ticks); `tidy` lets the others drop
   * what has aged out of them, so a quiet identity keeps only what is still remembered.
   */
  sweep(now: number, tidy?: (state: S, now: number) => void): void {
    if (now - this.lastSweep < this.sweepEveryMs) return;
    this.lastSweep = now;
    const limit = now - this.idleMs;
    for (const [key, s] of this.map) {
      if (s.lastAt < limit) this.map.delete(key);
      else tidy?.(s, now);
    }
  }

  snapshot<J>(encode: (s: S) => J): { sweep: number; groups: [string, J][] } {
    return { sweep: this.lastSweep, groups: [...this.map].map(([k, s]) => [k, encode(s)]) };
  }

  restore<J>(snap: { sweep: number; groups: [string, J][] }, decode: (j: J) => S): void {
    this.map.clear();
    this.lastSweep = snap.sweep;
    for (const [k, j] of snap.groups) this.map.set(k, decode(j));
  }
}

/** Parameters shared by analyzers that score with −log10 p. */
export const scoringParams = {
  /** Score (−log10 p) at or above which the detector alerts. */
  threshold: z.number().positive().default(6),
  /**
   * Score at or above which a weaker departure still counts as a weak signal for compound identity
   * risk; `null` disables weak signals.
   */
  weak_threshold: z.number().positive().nullable().default(3),
  /** History a group needs (event time since its first event) before baseline-driven signals. */
  warmup: duration.default(3 * 86_400_000),
  /** Groups idle this long are forgotten. */
  retention: duration.default(30 * 86_400_000),
};

export type Strength = 'alert' | 'weak' | 'none';

/** Where a group is in a burst of signals (rate, cardinality, failure and novelty analyzers). */
export interface Episode {
  /** Fixed windows up to this index are not learned (they held the burst). */
  flaggedUntil: number;
  /** Count at the last signal of the current burst (0 = no burst). */
  signalled: number;
  signalledStrength: Strength;
  burstStart: number;
}

/**
 * A count worth a signal arrived: mark its window as not to be learned and decide whether to emit.
 * One signal per burst, and another only when the count has grown by `regrowth` or turned from weak
 * into an alert. Returns the events the signal adds (all for a new burst, the growth since the last
 * signal otherwise), or undefined when there is nothing to emit.
 */
export function advanceEpisode(
  g: Episode,
  observed: number,
  strength: Exclude<Strength, 'none'>,
  at: number,
  windowMs: number,
  regrowth: number,
): number | undefined {
  g.flaggedUntil = Math.floor(at / windowMs) + 1;
  const stronger = strength === 'alert' && g.signalledStrength !== 'alert';
  if (g.signalled > 0 && !stronger && observed < g.signalled * regrowth) return undefined;
  const added = g.signalled > 0 ? observed - g.signalled : observed;
  if (g.signalled === 0) g.burstStart = at;
  g.signalled = observed;
  g.signalledStrength = strength;
  return added;
}

export function strengthOf(score: number, p: { threshold: number; weak_threshold: number | null }): Strength {
  if (score >= p.threshold) return 'alert';
  if (p.weak_threshold !== null && score >= p.weak_threshold) return 'weak';
  return 'none';
}

/** Build a signal from an analyzer's finding about one group. */
export function buildSignal(
  detector: Detector,
  event: AccessEvent,
  groupKey: string,
  f: {
    score: number;
    strength: Exclude<Strength, 'none'>;
    what: string;
    headline: string;
    evidence: Evidence;
    eventCount: number;
    firstEventAt?: number;
    sources?: string[];
    paths?: string[];
  },
): Signal {
  const signal: Signal = {
    detector: detector.id,
    groupKey,
    at: event.time,
    score: Math.round(f.score * 100) / 100,
    severity: detector.severity,
    title: detector.title,
    summary: summarise(f.what, detector),
    headline: f.headline,
    identity: identityRef(event.identity),
    sourceAddresses: f.sources ?? (event.remoteAddress ? [event.remoteAddress] : []),
    paths: f.paths ?? [event.path],
    eventIds: [event.id],
    firstEventAt: f.firstEventAt ?? event.time,
    lastEventAt: event.time,
    eventCount: f.eventCount,
    evidence: { ...f.evidence, score: Math.round(f.score * 100) / 100 },
    family: detector.family,
  };
  if (detector.weak || f.strength === 'weak') signal.weak = true;
  return signal;
}

/** "3 ± 2" for an expected count with NB dispersion r (sd = √(μ + μ²/r)). */
export function describeExpected(mean: number, dispersion: number): string {
  const sd = Math.sqrt(mean + (mean * mean) / dispersion);
  const m = mean < 10 ? Math.round(mean * 10) / 10 : Math.round(mean);
  const s = sd < 10 ? Math.round(sd * 10) / 10 : Math.round(sd);
  return `${m} ± ${s}`;
}

export function who(event: AccessEvent): string {
  return describeIdentity(event.identity);
}

export function windowText(ms: number): string {
  return formatDuration(ms);
}

/** The values analyzers can count distinct or remember as seen. */
export const FIELDS = [
  'path',
  'path_prefix',
  'source',
  'source_network',
  'login_user',
  'operation',
  'mount',
  'auth_method',
  'user_agent',
  'namespace',
  'kind',
  'access',
] as const;
export type Field = (typeof FIELDS)[number];

/** Network key of an address (`10.1.2.0/24`), memoised: addresses repeat on every event. */
export const networkKey: (address: string) => string = memoize((a) => networkOf(a) ?? a, 20_000);

export function fieldValue(event: AccessEvent, field: Field, depth: number): string | undefined {
  switch (field) {
    case 'path':
      return event.path;
    case 'path_prefix':
      return pathPrefix(event.path, depth);
    case 'source':
      return event.remoteAddress;
    case 'source_network':
      return event.remoteAddress ? networkKey(event.remoteAddress) : undefined;
    case 'login_user':
      return event.loginUser;
    case 'operation':
      return event.operation;
    case 'mount':
      return event.mountPoint;
    case 'auth_method':
      return event.identity.authMethod;
    case 'user_agent':
      return event.userAgent;
    case 'namespace':
      return event.namespace || 'root';
    case 'kind':
      return event.kind;
    case 'access':
      return accessClass(event);
  }
}

/** How a field's value reads in a sentence. */
export const FIELD_NOUN: Record<Field, [string, string]> = {
  path: ['secret path', 'secret paths'],
  path_prefix: ['path prefix', 'path prefixes'],
  source: ['source address', 'source addresses'],
  source_network: ['source network', 'source networks'],
  login_user: ['user name', 'user names'],
  operation: ['operation', 'operations'],
  mount: ['mount', 'mounts'],
  auth_method: ['auth method', 'auth methods'],
  user_agent: ['client (User-Agent)', 'clients'],
  namespace: ['namespace', 'namespaces'],
  kind: ['kind of access', 'kinds of access'],
  access: ['kind of operation', 'kinds of operation'],
};

/** `sys:write`, `secret:read`, `token:write`, `login:write`...: what sort of thing an identity did. */
export function accessClass(event: AccessEvent): string {
  const k = event.kind;
  const area = k.startsWith('secret_') ? 'secret' : k;
  const op = event.operation;
  const verb =
    op === 'read' ? 'read' : op === 'list' || op === 'scan' ? 'list' : op === 'delete' ? 'delete' : 'write';
  return `${area}:${verb}`;
}

export function plural(n: number, [one, many]: [string, string]): string {
  return `${n} ${n === 1 ? one : many}`;
}
