import { z } from 'zod';
import type { AccessEvent } from '../../audit/event.js';
import { SeasonalRate, type SeasonalOptions, type SeasonalSnapshot } from '../../baseline/stats/seasonal.js';
import { SlidingCounter, type SlidingCounterSnapshot } from '../../baseline/stats/sliding.js';
import { negBinomialUpperTailLog10 } from '../../baseline/stats/tails.js';
import { duration, formatDuration } from '../../util/duration.js';
import { ZoneClock } from '../../util/timezone.js';
import type { Analyzer, AnalyzerEnv } from '../analyzer.js';
import {
  advanceEpisode,
  type Episode,
  buildSignal,
  describeExpected,
  GroupTable,
  scoringParams,
  strengthOf,
  who,
  windowText,
  type Strength,
} from './common.js';

const params = z.strictObject({
  ...scoringParams,
  /** Sliding window the count is taken over (and the length of the windows the baseline learns). */
  window: duration.default(300_000),
  /** Sub-buckets of the sliding window. */
  buckets: z.number().int().min(1).max(60).default(5),
  /** No signal below this many events in the window, whatever the baseline says (0→2 is not a spike). */
  min_count: z.number().int().positive().default(20),
  /** ... nor below this multiple of the expected count. */
  min_ratio: z.number().positive().default(4),
  /** Expected counts are never taken as lower than this (an identity that never did it at this hour). */
  min_expected: z.number().positive().default(0.5),
  /** Absolute guardrail: this many events in the window alert even during warm-up. */
  guardrail: z.number().int().positive().nullable().default(null),
  /** Baseline windows of history required (decayed weight) besides the warm-up time. */
  min_history: z.number().nonnegative().default(288),
  /** While a burst lasts, signal again only when the count has grown by this factor. */
  regrowth: z.number().min(1).default(2),
  /**
   * No signal unless the count also exceeds this multiple of the group's busiest window so far
   * (decayed): bursty identities such as CI runners have quiet hours and busy minutes, and a burst the
   * size of their usual ones is not an anomaly whatever the hour.
   */
  peak_ratio: z.number().min(1).default(2),
  /** Half-life of the busiest-window memory. */
  peak_half_life: duration.default(14 * 86_400_000),
  /** Half-life of the base rate (slow drift is learned at this pace). */
  learn_half_life: duration.default(7 * 86_400_000),
  /** What is being counted, for the summary ("secret reads", "requests"). */
  noun: z.string().default('requests'),
});
type Params = z.infer<typeof params>;

interface Group extends Episode {
  counter: SlidingCounter;
  rate: SeasonalRate;
  since: number;
  lastAt: number;
  /** Busiest closed window (decayed) and when it was last updated. */
  peak: number;
  peakAt: number;
}

interface GroupJson {
  c: SlidingCounterSnapshot;
  r: SeasonalSnapshot;
  s: number;
  l: number;
  f: number;
  n: number;
  st: Strength;
  b: number;
  pk: number;
  pa: number;
}

/**
 * Count of matching events per group in a sliding window against the group's seasonal expectation
 * (hour-of-day × day-of-week), scored as the negative-binomial tail probability of the observed
 * count (over-dispersion learned per group, so bursty identities calm down by themselves).
 * Windows that held a spike are not learned, so an attack does not become the new normal; slow
 * growth is learned through the base rate's half-life.
 */
export const rateSpikeAnalyzer: Analyzer<Params> = {
  type: 'rate_spike',
  params,
  create(detector, p, env) {
    const seasonal = seasonalOptions(p.window, p.learn_half_life, env);
    const table = new GroupTable<Group>(p.retention);
    const fresh = (at: number): Group => ({
      counter: new SlidingCounter({ windowMs: p.window, buckets: p.buckets }),
      rate: new SeasonalRate(seasonal),
      since: at,
      lastAt: at,
      flaggedUntil: -1,
      signalled: 0,
      signalledStrength: 'none',
      burstStart: 0,
      peak: 0,
      peakAt: at,
    });
    const winsorCap = (g: Group, start: number): number => {
      const e = g.rate.expected(start);
      return Math.max(p.min_count, p.min_ratio * e.mean);
    };

    return {
      onEvent(event: AccessEvent, groupKey, emit) {
        const t = event.time;
        let g = table.get(groupKey);
        if (!g) {
          g = fresh(t);
          table.set(groupKey, g);
        }
        const grp = g;
        if (grp.counter.hasClosed(t))
          grp.counter.drainClosed(t, (start, count) => {
            const flagged = Math.floor(start / p.window) <= grp.flaggedUntil;
            // A flagged window only advances time; others are learned, capped so one burst cannot
            // drag the baseline up.
            grp.rate.observe(Math.min(count, winsorCap(grp, start)), start, flagged ? 0 : 1);
            // The busiest window is remembered uncapped, flagged or not: once alerted on, a burst of
            // that size is this identity's known behaviour.
            if (count > 0) {
              const decayed = grp.peak * Math.pow(2, -(start - grp.peakAt) / p.peak_half_life);
              grp.peak = Math.max(count, decayed);
              grp.peakAt = start;
            }
          });
        grp.counter.add(t);
        grp.lastAt = t;
        const observed = grp.counter.count(t);
        if (observed < p.min_count) {
          if (grp.signalled > 0 && observed < p.min_count / 2) grp.signalled = 0;
          return;
        }
        const exp = grp.rate.expected(t - p.window);
        const mean = Math.max(exp.mean, p.min_expected);
        const warm = t - grp.since >= p.warmup && exp.weight >= p.min_history;
        const peak = grp.peak * Math.pow(2, -Math.max(0, t - grp.peakAt) / p.peak_half_life);
        let score = 0;
        let strength: Strength = 'none';
        // An identity with history doing this for the first time, at volume, needs no baseline of
        // its own: nothing of the kind is expected from it.
        const identitySince = env.identities?.firstSeen(event.identity.key);
        const newActivity =
          !warm && t - grp.since < p.warmup && identitySince !== undefined && t - identitySince >= p.warmup;
        if (warm && observed >= p.min_ratio * mean && observed > p.peak_ratio * peak) {
          score = -negBinomialUpperTailLog10(observed, mean, exp.dispersion);
          strength = strengthOf(score, p);
        } else if (newActivity) {
          score = -negBinomialUpperTailLog10(observed, p.min_expected, 1e4);
          strength = strengthOf(score, p);
        }
        const guard = p.guardrail !== null && observed >= p.guardrail;
        if (guard && strength !== 'alert') {
          strength = 'alert';
          score = Math.max(score, p.threshold);
        }
        if (strength === 'none') return;
        // Mark this window and the next as not to be learned.
        const added = advanceEpisode(grp, observed, strength, t, p.window, p.regrowth);
        if (added === undefined) return;
        const usual = warm ? describeExpected(exp.mean, exp.dispersion) : 'unknown (still learning)';
        const w = windowText(p.window);
        const why = warm
          ? `this identity usually makes ${usual} at this hour, and ${Math.round(peak)} in its busiest ${w} lately`
          : newActivity
            ? `it had not done this before in ${formatDuration(t - (identitySince ?? t))} of history`
            : `the absolute limit is ${p.guardrail ?? '?'} and its baseline is still being learned`;
        emit(
          buildSignal(detector, event, groupKey, {
            score,
            strength,
            what: `${who(event)} made ${observed} ${p.noun} in ${w}; ${why}`,
            headline: `${observed} ${p.noun} in ${w} (usually ${warm ? Math.round(exp.mean * 10) / 10 : '?'})`,
            eventCount: Math.max(1, added),
            firstEventAt: grp.burstStart,
            evidence: {
              observed,
              expected: Math.round(exp.mean * 100) / 100,
              window: w,
              usual,
              dispersion: Math.round(exp.dispersion * 100) / 100,
              seasonalFactor: Math.round(exp.factor * 100) / 100,
              baselineWindows: Math.round(exp.weight),
              busiestWindow: Math.round(peak),
              warm,
              ...(newActivity ? { newActivity: true } : {}),
              ...(guard ? { guardrail: p.guardrail } : {}),
            },
          }),
        );
      },
      onTick(now) {
        table.sweep(now);
      },
      size: () => table.size,
      snapshot: () =>
        table.snapshot<GroupJson>((g) => ({
          c: g.counter.toJSON(),
          r: g.rate.toJSON(),
          s: g.since,
          l: g.lastAt,
          f: g.flaggedUntil,
          n: g.signalled,
          st: g.signalledStrength,
          b: g.burstStart,
          pk: g.peak,
          pa: g.peakAt,
        })),
      restore(state) {
        table.restore(state as { sweep: number; groups: [string, GroupJson][] }, (j) => ({
          counter: SlidingCounter.from(j.c, { windowMs: p.window, buckets: p.buckets }),
          rate: SeasonalRate.from(j.r, seasonal),
          since: j.s,
          lastAt: j.l,
          flaggedUntil: j.f,
          signalled: j.n,
          signalledStrength: j.st,
          burstStart: j.b,
          peak: j.pk,
          peakAt: j.pa,
        }));
      },
    };
  },
};

/**
 * Seasonal options for a window length. Hours follow the configured zone at its standard (January)
 * offset: deterministic, and daylight saving costs at most one hour of misalignment.
 */
export function seasonalOptions(windowMs: number, halfLifeMs: number, env: AnalyzerEnv): SeasonalOptions {
  const offset = new ZoneClock(env.timeZone).offsetMinutes(Date.UTC(2026, 0, 15));
  return { windowMs, baseHalfLifeMs: halfLifeMs, tzOffsetMinutes: offset };
}
