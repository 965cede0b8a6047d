import { z } from 'zod';
import type { AccessEvent } from '../../audit/event.js';
import { SeasonalRate, type SeasonalSnapshot } from '../../baseline/stats/seasonal.js';
import { SlidingCounter, type SlidingCounterSnapshot } from '../../baseline/stats/sliding.js';
import { poissonLowerTailLog10 } from '../../baseline/stats/tails.js';
import { duration, formatDuration } from '../../util/duration.js';
import type { Analyzer, Detector } from '../analyzer.js';
import { summarise } from '../describe.js';
import type { Signal } from '../signal.js';
import { GroupTable, scoringParams, strengthOf } from './common.js';
import { seasonalOptions } from './rate-spike.js';

const params = z.strictObject({
  ...scoringParams,
  threshold: z.number().positive().default(8),
  weak_threshold: z.number().positive().nullable().default(null),
  warmup: duration.default(86_400_000),
  retention: duration.default(30 * 86_400_000),
  /** Windows the expected rate is learned over. */
  window: duration.default(300_000),
  /** Silence shorter than this is never reported, however busy the stream usually is. */
  min_silence: duration.default(300_000),
  /** Window for "traffic dropped far below expectation" (not silent, but nearly). */
  drop_window: duration.default(1_800_000),
  /** Report a drop only when the stream usually has at least this many events in `drop_window`. */
  drop_min_expected: z.number().positive().default(200),
  min_history: z.number().nonnegative().default(288),
  learn_half_life: duration.default(7 * 86_400_000),
  /** What the scope is, for the summary. */
  scope_noun: z.string().default('audit stream'),
});
type Params = z.infer<typeof params>;

interface Scope {
  counter: SlidingCounter;
  drop: SlidingCounter;
  rate: SeasonalRate;
  since: number;
  lastAt: number;
  /** An open silence/drop episode: 'silent' | 'drop' | ''. */
  episode: '' | 'silent' | 'drop';
  episodeStart: number;
  namespace: string;
}

interface ScopeJson {
  c: SlidingCounterSnapshot;
  d: SlidingCounterSnapshot;
  r: SeasonalSnapshot;
  s: number;
  l: number;
  e: '' | 'silent' | 'drop';
  es: number;
  ns: string;
}

/**
 * The audit stream (per namespace, or whatever the detector groups by) going silent, or dropping far
 * below what this hour usually brings. Evaluated on ticks: event-time ticks in replay, wall-clock
 * ticks in the daemon when the stream is idle, so a silent stream is noticed while it is silent. The
 * alert resolves when traffic returns.
 */
export const flatlineAnalyzer: Analyzer<Params> = {
  type: 'flatline',
  params,
  create(detector, p, env) {
    const seasonal = seasonalOptions(p.window, p.learn_half_life, env);
    const table = new GroupTable<Scope>(p.retention);
    const dropBuckets = Math.max(1, Math.round(p.drop_window / p.window));

    return {
      onEvent(event: AccessEvent, groupKey, emit) {
        const t = event.time;
        let s = table.get(groupKey);
        if (!s) {
          s = {
            counter: new SlidingCounter({ windowMs: p.window, buckets: 1 }),
            drop: new SlidingCounter({ windowMs: dropBuckets * p.window, buckets: dropBuckets }),
            rate: new SeasonalRate(seasonal),
            since: t,
            lastAt: t,
            episode: '',
            episodeStart: 0,
            namespace: event.namespace,
          };
          table.set(groupKey, s);
        }
        const scope = s;
        scope.counter.drainClosed(t, (start, count) =>
          scope.rate.observe(count, start, scope.episode ? 0 : 1),
        );
        scope.counter.add(t);
        scope.drop.add(t);
        const gap = t - scope.lastAt;
        scope.lastAt = Math.max(scope.lastAt, t);
        if (scope.episode === 'silent') {
          emit(
            clearSignal(
              detector,
              groupKey,
              t,
              scope,
              `traffic resumed after ${formatDuration(gap)} of silence`,
              p,
            ),
          );
          scope.episode = '';
        }
      },
      onTick(now, emit) {
        table.sweep(now);
        for (const [key, s] of table.map) {
          const exp = s.rate.expected(now - p.window);
          const warm = now - s.since >= p.warmup && exp.weight >= p.min_history;
          if (!warm) continue;
          const silence = now - s.lastAt;
          if (s.episode === '' && silence >= p.min_silence) {
            const mu = expectedBetween(s.rate, s.lastAt, now, p.window);
            const score = mu / Math.LN10; // −log10 P(no event | Poisson(mu))
            if (strengthOf(score, p) === 'alert') {
              s.episode = 'silent';
              s.episodeStart = s.lastAt;
              emit(
                signal(detector, key, now, s, score, {
                  what: `The ${p.scope_noun}${scopeName(s)} has been silent for ${formatDuration(silence)}; about ${Math.round(mu)} events were expected in that time`,
                  headline: `no events for ${formatDuration(silence)}`,
                  evidence: {
                    observed: 0,
                    expected: Math.round(mu),
                    window: formatDuration(silence),
                    lastEventAt: new Date(s.lastAt).toISOString(),
                  },
                }),
              );
            }
            continue;
          }
          if (s.episode === 'silent') continue;
          // Not silent: has it dropped far below what this time usually brings?
          const count = s.drop.count(now);
          const expected = expectedBetween(s.rate, now - dropBuckets * p.window, now, p.window);
          if (expected >= p.drop_min_expected) {
            const score = -poissonLowerTailLog10(count, expected);
            const dropped = strengthOf(score, p) === 'alert' && count < expected / 4;
            if (dropped && s.episode === '') {
              s.episode = 'drop';
              s.episodeStart = now;
              emit(
                signal(detector, key, now, s, score, {
                  what: `The ${p.scope_noun}${scopeName(s)} dropped to ${count} events in the last ${formatDuration(dropBuckets * p.window)}; about ${Math.round(expected)} were expected`,
                  headline: `traffic dropped to ${count} (expected ${Math.round(expected)})`,
                  evidence: {
                    observed: count,
                    expected: Math.round(expected),
                    window: formatDuration(dropBuckets * p.window),
                  },
                }),
              );
            } else if (!dropped && s.episode === 'drop' && count >= expected / 2) {
              emit(clearSignal(detector, key, now, s, 'traffic is back to its usual level', p));
              s.episode = '';
            }
          }
        }
      },
      size: () => table.size,
      snapshot: () =>
        table.snapshot<ScopeJson>((s) => ({
          c: s.counter.toJSON(),
          d: s.drop.toJSON(),
          r: s.rate.toJSON(),
          s: s.since,
          l: s.lastAt,
          e: s.episode,
          es: s.episodeStart,
          ns: s.namespace,
        })),
      restore(state) {
        table.restore(state as { sweep: number; groups: [string, ScopeJson][] }, (j) => ({
          counter: SlidingCounter.from(j.c, { windowMs: p.window, buckets: 1 }),
          drop: SlidingCounter.from(j.d, { windowMs: dropBuckets * p.window, buckets: dropBuckets }),
          rate: SeasonalRate.from(j.r, seasonal),
          since: j.s,
          lastAt: j.l,
          episode: j.e,
          episodeStart: j.es,
          namespace: j.ns,
        }));
      },
    };
  },
};

/** Expected events between two times: the seasonal expectation integrated window by window. */
function expectedBetween(rate: SeasonalRate, from: number, to: number, windowMs: number): number {
  let mu = 0;
  // At most a day of windows; beyond that the answer is already decisive.
  const end = Math.min(to, from + 86_400_000);
  for (let start = Math.floor(from / windowMs) * windowMs; start < end; start += windowMs) {
    const overlap = Math.min(end, start + windowMs) - Math.max(from, start);
    if (overlap > 0) mu += (rate.expected(start).mean * overlap) / windowMs;
  }
  return mu;
}

function scopeName(s: Scope): string {
  return s.namespace ? ` of namespace ${s.namespace}` : '';
}

function signal(
  detector: Detector,
  groupKey: string,
  at: number,
  s: Scope,
  score: number,
  f: { what: string; headline: string; evidence: Signal['evidence'] },
): Signal {
  return {
    detector: detector.id,
    groupKey,
    at,
    score: Math.round(score * 100) / 100,
    severity: detector.severity,
    title: detector.title,
    summary: summarise(f.what, detector),
    headline: f.headline,
    sourceAddresses: [],
    paths: [],
    eventIds: [],
    firstEventAt: s.lastAt,
    lastEventAt: s.lastAt,
    eventCount: 0,
    evidence: { ...f.evidence, score: Math.round(score * 100) / 100 },
    family: detector.family,
  };
}

function clearSignal(
  detector: Detector,
  groupKey: string,
  at: number,
  s: Scope,
  why: string,
  p: Params,
): Signal {
  return {
    ...signal(detector, groupKey, at, s, 0, { what: why, headline: why, evidence: {} }),
    clear: true,
    summary: `${why} (${p.scope_noun}).`,
  };
}
