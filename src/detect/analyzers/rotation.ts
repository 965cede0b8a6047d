import picomatch from 'picomatch';
import { z } from 'zod';
import type { AccessEvent } from '../../audit/event.js';
import { DecayedStats, type DecayedStatsSnapshot } from '../../baseline/stats/decayed.js';
import { duration, formatDuration } from '../../util/duration.js';
import type { Analyzer, RotationPolicy } from '../analyzer.js';
import { describeIdentity, identityRef, summarise } from '../describe.js';
import type { Signal } from '../signal.js';
import { GroupTable } from './common.js';

/** Gaps in the audit stream remembered for `blind_gap` (a few weeks' worth of hiccups). */
const MAX_GAPS = 64;

const params = z.strictObject({
  /** `overdue`: a rotation-managed path went too long without a rotation; `failure`: a rotation call failed. */
  mode: z.enum(['overdue', 'failure']),
  /**
   * For `max_age: auto` policies: overdue once a rotation is later than its usual interval by this
   * fraction of it (or by 4 σ of the intervals, if the job is that irregular), and at the latest
   * after `auto_factor` × the interval. Half an interval late means a run was missed: a job that runs
   * a few hours late on a quiet day has not stopped.
   */
  auto_margin: z.number().min(0.05).default(0.5),
  auto_factor: z.number().min(1.1).default(2.5),
  /** For `max_age: auto` policies: rotations seen before the cadence is trusted. */
  auto_min_rotations: z.number().int().min(2).default(3),
  /** Added to every maximum age before a path counts as overdue. */
  grace: duration.default(3_600_000),
  /**
   * A stretch this long without a single audit event (of any kind) is a gap Vigil could not see: a
   * rotation made then may simply be missing from the stream. For `auto` paths, a gap (shorter than
   * `blind_max`) over the time a run was due counts as that run, once: the path is judged from the
   * gap's end. For a fixed `max_age`, blind time is not counted against the path, up to `blind_max`.
   * Either way a stopped rotation in a quiet cluster still alerts, at most one interval (or
   * `blind_max`) later. The detector must see every event for this (no `match` filter); null turns it
   * off.
   */
  blind_gap: duration.nullable().default(600_000),
  blind_max: duration.default(86_400_000),
  /** Paths not rotated or attempted for this long are forgotten. */
  retention: duration.default(400 * 86_400_000),
  score: z.number().positive().default(8),
});
type Params = z.infer<typeof params>;

interface PathState {
  policy: string;
  lastRotation: number;
  lastAt: number;
  rotations: number;
  intervals: DecayedStats;
  overdue: boolean;
  /** Blind time accumulated (see `blind_gap`) up to the last rotation. */
  blindAt: number;
}

interface PathJson {
  p: string;
  r: number;
  l: number;
  n: number;
  i: DecayedStatsSnapshot;
  o: boolean;
  b?: number;
}

interface Compiled {
  policy: RotationPolicy;
  matches: (path: string) => boolean;
  operations: Set<string>;
}

/**
 * Rotation hygiene from configuration (`rotation.policies`): paths whose writes or rotate calls are
 * rotations, with a maximum age or `auto` (learned from the path's own cadence). Keeps per-path last
 * rotation time and mean time between rotations; `overdue` alerts on ticks when a path is late and
 * resolves when it is rotated; `failure` alerts when a rotation call fails.
 */
export const rotationAnalyzer: Analyzer<Params> = {
  type: 'rotation',
  params,
  create(detector, p, env) {
    const policies: Compiled[] = env.rotationPolicies.map((policy) => ({
      policy,
      matches: picomatch(policy.paths, { dot: true }),
      operations: new Set(policy.operations),
    }));
    const byName = new Map(policies.map((c) => [c.policy.name, c.policy]));
    const operations = new Set(policies.flatMap((c) => [...c.operations]));
    const table = new GroupTable<PathState>(p.retention, 86_400_000);
    const halfLife = 90 * 86_400_000;
    // Stream liveness, for blind time: the newest event time seen, and the total of the gaps longer
    // than `blind_gap` so far.
    let seenAt = Number.NEGATIVE_INFINITY;
    let blind = 0;
    // The most recent gaps themselves, [start, end), oldest first (bounded).
    let gaps: [number, number][] = [];
    /** End of a closed gap over the window in which the path's next run was due, if any. */
    const hiddenRun = (s: PathState, mean: number): number | undefined => {
      const from = s.lastRotation + (1 - p.auto_margin) * mean;
      const to = s.lastRotation + (1 + p.auto_margin) * mean;
      for (const [a, b] of gaps) if (a < to && b > from && b - a <= p.blind_max) return b;
      return undefined;
    };
    const blindUntil = (now: number): number => {
      const gap = now - seenAt;
      return blind + (p.blind_gap !== null && Number.isFinite(gap) && gap > p.blind_gap ? gap : 0);
    };

    const maxAge = (s: PathState): number | undefined => {
      const policy = byName.get(s.policy);
      if (!policy) return undefined;
      if (policy.maxAgeMs !== null) return policy.maxAgeMs;
      if (s.rotations < p.auto_min_rotations || s.intervals.mean <= 0) return undefined;
      const mean = s.intervals.mean;
      return Math.min(mean * p.auto_factor, mean + Math.max(4 * s.intervals.stddev, p.auto_margin * mean));
    };

    const base = (
      path: string,
      at: number,
      score: number,
      what: string,
      evidence: Signal['evidence'],
    ): Signal => ({
      detector: detector.id,
      groupKey: path,
      at,
      score,
      severity: detector.severity,
      title: detector.title,
      summary: summarise(what, detector),
      headline: what,
      sourceAddresses: [],
      paths: [path],
      eventIds: [],
      firstEventAt: at,
      lastEventAt: at,
      eventCount: 0,
      evidence: { ...evidence, score },
      family: detector.family,
    });

    return {
      onEvent(event: AccessEvent, _groupKey, emit) {
        if (event.time > seenAt) {
          if (p.blind_gap !== null && Number.isFinite(seenAt) && event.time - seenAt > p.blind_gap) {
            blind += event.time - seenAt;
            gaps.push([seenAt, event.time]);
            if (gaps.length > MAX_GAPS) gaps.shift();
          }
          seenAt = event.time;
        }
        if (!operations.has(event.operation)) return;
        const c = policies.find((x) => x.operations.has(event.operation) && x.matches(event.path));
        if (!c) return;
        const t = event.time;
        const path = event.path;
        let s = table.get(path);
        if (event.outcome === 'success') {
          if (!s) {
            s = {
              policy: c.policy.name,
              lastRotation: t,
              lastAt: t,
              rotations: 1,
              intervals: new DecayedStats(halfLife),
              overdue: false,
              blindAt: blind,
            };
            table.set(path, s);
            return;
          }
          if (t > s.lastRotation) s.intervals.observe(t - s.lastRotation, t);
          const late = t - s.lastRotation;
          if (t >= s.lastRotation) s.blindAt = blind;
          s.lastRotation = Math.max(s.lastRotation, t);
          s.lastAt = t;
          s.rotations++;
          if (s.overdue && p.mode === 'overdue') {
            s.overdue = false;
            emit({
              ...base(path, t, 0, `${path} was rotated again after ${formatDuration(late)}`, {}),
              clear: true,
            });
          }
          return;
        }
        if (s) s.lastAt = t;
        if (p.mode !== 'failure' || event.outcome === 'unknown') return;
        const signal = base(
          path,
          t,
          p.score,
          `Rotation of ${path} by ${describeIdentity(event.identity)} failed (${event.errorMessage ?? event.outcome})` +
            (s ? `; its last successful rotation was ${formatDuration(t - s.lastRotation)} ago` : ''),
          {
            observed: event.errorMessage ?? event.outcome,
            expected: 'a successful rotation',
            window: 'single event',
            policy: c.policy.name,
            ...(s ? { lastRotation: new Date(s.lastRotation).toISOString() } : {}),
          },
        );
        signal.identity = identityRef(event.identity);
        signal.eventIds = [event.id];
        signal.eventCount = 1;
        if (event.remoteAddress) signal.sourceAddresses = [event.remoteAddress];
        emit(signal);
      },
      onTick(now, emit) {
        table.sweep(now);
        if (p.mode !== 'overdue') return;
        for (const [path, s] of table.map) {
          if (s.overdue) continue;
          const limit = maxAge(s);
          if (limit === undefined) continue;
          const age = now - s.lastRotation;
          const fixed = byName.get(s.policy)?.maxAgeMs != null;
          const unseen = fixed ? Math.min(Math.max(0, blindUntil(now) - s.blindAt), limit, p.blind_max) : 0;
          const hidden = fixed || p.blind_gap === null ? undefined : hiddenRun(s, s.intervals.mean);
          if ((hidden !== undefined ? now - hidden : age - unseen) <= limit + p.grace) continue;
          s.overdue = true;
          const mean = s.intervals.mean;
          emit(
            base(
              path,
              now,
              p.score,
              `${path} has not been rotated for ${formatDuration(age)}` +
                (unseen > 0 ? ` (${formatDuration(unseen)} of it with no audit events, not counted)` : '') +
                (hidden !== undefined
                  ? ` (a run due during a gap in the audit stream that ended ${formatDuration(now - hidden)} ago was given the benefit of the doubt)`
                  : '') +
                `; the limit is ${formatDuration(limit)}` +
                (mean > 0 ? ` and it is usually rotated every ${formatDuration(Math.round(mean))}` : ''),
              {
                observed: formatDuration(age),
                ...(unseen > 0 ? { unobserved: formatDuration(unseen) } : {}),
                expected: `≤ ${formatDuration(limit)}`,
                window: 'since the last rotation',
                policy: s.policy,
                lastRotation: new Date(s.lastRotation).toISOString(),
                meanTimeToRotate: mean > 0 ? formatDuration(Math.round(mean)) : 'unknown',
                rotations: s.rotations,
              },
            ),
          );
        }
      },
      size: () => table.size,
      snapshot: () => ({
        ...table.snapshot<PathJson>((s) => ({
          p: s.policy,
          r: s.lastRotation,
          l: s.lastAt,
          n: s.rotations,
          i: s.intervals.toJSON(),
          o: s.overdue,
          b: s.blindAt,
        })),
        seenAt: Number.isFinite(seenAt) ? seenAt : null,
        blind,
        gaps,
      }),
      restore(state) {
        const j = state as {
          sweep: number;
          groups: [string, PathJson][];
          seenAt?: number | null;
          blind?: number;
          gaps?: [number, number][];
        };
        table.restore(j, (g) => ({
          policy: g.p,
          lastRotation: g.r,
          lastAt: g.l,
          rotations: g.n,
          intervals: DecayedStats.from(g.i, halfLife),
          overdue: g.o,
          blindAt: g.b ?? 0,
        }));
        // Checkpoints from before blind time was tracked carry neither: start counting afresh.
        seenAt = j.seenAt ?? Number.NEGATIVE_INFINITY;
        blind = j.blind ?? 0;
        gaps = j.gaps ?? [];
      },
    };
  },
};

/** Per-path rotation health for reports (the daily digest). */
export interface RotationReport {
  path: string;
  policy: string;
  lastRotation: string;
  rotations: number;
  meanIntervalMs?: number;
  overdue: boolean;
}
