import picomatch from 'picomatch';
import { z } from 'zod';
import type { AccessEvent } from '../../audit/event.js';
import { DecayedStats, type DecayedStatsSnapshot } from '../../baseline/stats/decayed.js';
import { duration, formatDuration } from '../../util/duration.js';
import type { Analyzer, RotationPolicy } from '../analyzer.js';
import { describeIdentity, identityRef, summarise } from '../describe.js';
import type { Signal } from '../signal.js';
import { GroupTable } from './common.js';

const params = z.strictObject({
  /** `overdue`: a rotation-managed path went too long without a rotation; `failure`: a rotation call failed. */
  mode: z.enum(['overdue', 'failure']),
  /**
   * For `max_age: auto` policies: overdue after the usual interval plus its jitter (4 σ, at least a
   * fifth of the interval), and at the latest after this multiple of it.
   */
  auto_factor: z.number().min(1.1).default(2.5),
  /** For `max_age: auto` policies: rotations seen before the cadence is trusted. */
  auto_min_rotations: z.number().int().min(2).default(3),
  /** Added to every maximum age before a path counts as overdue. */
  grace: duration.default(3_600_000),
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

    const maxAge = (s: PathState): number | undefined => {
      const policy = byName.get(s.policy);
      if (!policy) return undefined;
      if (policy.maxAgeMs !== null) return policy.maxAgeMs;
      if (s.rotations < p.auto_min_rotations || s.intervals.mean <= 0) return undefined;
      // A job's own rhythm: its usual interval plus a margin for its jitter (4 σ, at least a
      // fifth of the interval), capped at auto_factor × the interval.
      const mean = s.intervals.mean;
      return Math.min(mean * p.auto_factor, mean + Math.max(4 * s.intervals.stddev, 0.2 * mean));
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
            };
            table.set(path, s);
            return;
          }
          if (t > s.lastRotation) s.intervals.observe(t - s.lastRotation, t);
          const late = t - s.lastRotation;
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
          if (age <= limit + p.grace) continue;
          s.overdue = true;
          const mean = s.intervals.mean;
          emit(
            base(
              path,
              now,
              p.score,
              `${path} has not been rotated for ${formatDuration(age)}; the limit is ${formatDuration(limit)}` +
                (mean > 0 ? ` and it is usually rotated every ${formatDuration(Math.round(mean))}` : ''),
              {
                observed: formatDuration(age),
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
      snapshot: () =>
        table.snapshot((s) => ({
          p: s.policy,
          r: s.lastRotation,
          l: s.lastAt,
          n: s.rotations,
          i: s.intervals.toJSON(),
          o: s.overdue,
        })),
      restore(state) {
        table.restore(
          state as {
            sweep: number;
            groups: [
              string,
              { p: string; r: number; l: number; n: number; i: DecayedStatsSnapshot; o: boolean },
            ][];
          },
          (j) => ({
            policy: j.p,
            lastRotation: j.r,
            lastAt: j.l,
            rotations: j.n,
            intervals: DecayedStats.from(j.i, halfLife),
            overdue: j.o,
          }),
        );
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
