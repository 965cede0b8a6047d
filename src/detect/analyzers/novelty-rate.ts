import { z } from 'zod';
import type { AccessEvent } from '../../audit/event.js';
import { DecayedStats, type DecayedStatsSnapshot } from '../../baseline/stats/decayed.js';
import { hash64 } from '../../baseline/stats/hll.js';
import { SlidingCounter, type SlidingCounterSnapshot } from '../../baseline/stats/sliding.js';
import { negBinomialUpperTailLog10 } from '../../baseline/stats/tails.js';
import { duration } from '../../util/duration.js';
import type { Analyzer } from '../analyzer.js';
import { pushCapped } from '../describe.js';
import { dispersionOf } from './failure-burst.js';
import {
  advanceEpisode,
  type Episode,
  buildSignal,
  describeExpected,
  FIELD_NOUN,
  FIELDS,
  fieldValue,
  GroupTable,
  scoringParams,
  strengthOf,
  who,
  windowText,
  type Strength,
} from './common.js';

const DAY = 86_400_000;

const params = z.strictObject({
  ...scoringParams,
  warmup: duration.default(7 * 86_400_000),
  field: z.enum(FIELDS).default('path'),
  depth: z.number().int().min(1).default(3),
  /** Window in which never-seen values are counted. */
  window: duration.default(12 * 3_600_000),
  buckets: z.number().int().min(1).max(60).default(12),
  /** No signal below this many never-seen values in the window. */
  min_count: z.number().int().positive().default(8),
  min_ratio: z.number().positive().default(4),
  min_expected: z.number().positive().default(0.5),
  peak_ratio: z.number().min(1).default(2),
  peak_half_life: duration.default(21 * 86_400_000),
  regrowth: z.number().min(1).default(2),
  /**
   * New values must be spread over at least this many sub-buckets of the window (hours, by default)
   * to alert: a steady trickle is harvesting, one burst of new paths is a deploy or a new CI
   * repository (and is left to the burst detectors; here it is only a weak signal).
   */
  min_spread: z.number().int().min(1).default(3),
  /** A value unseen for about this long counts as never seen again. */
  forget_after: duration.default(30 * 86_400_000),
  /** Values remembered per group and generation (two generations are kept). */
  cap: z.number().int().positive().default(2048),
  learn_half_life: duration.default(14 * 86_400_000),
  noun: z.string().optional(),
});
type Params = z.infer<typeof params>;

interface Group extends Episode {
  /** Hashes of values seen in this generation and the previous one. */
  current: Set<number>;
  previous: Set<number>;
  generationStart: number;
  fresh: SlidingCounter;
  stats: DecayedStats;
  since: number;
  lastAt: number;
  peak: number;
  peakAt: number;
  samples: string[];
}

interface GroupJson {
  c: number[];
  p: number[];
  g: number;
  f: SlidingCounterSnapshot;
  st: DecayedStatsSnapshot;
  s: number;
  l: number;
  fl: number;
  n: number;
  ns: Strength;
  b: number;
  pk: number;
  pa: number;
  sa: string[];
}

/**
 * How many never-before-seen values (secret paths by default) an identity touches per window, against
 * its own usual rate of new ones. A service reads the same few secrets for months; one that starts
 * reading a handful of secrets it never read, hour after hour, is being used to harvest them slowly —
 * too slowly for a rate or a burst detector to notice. Memory is two rotating generations of 32-bit
 * hashes per identity (a hash collision can only hide a novelty, never invent one).
 */
export const noveltyRateAnalyzer: Analyzer<Params> = {
  type: 'novelty_rate',
  params,
  create(detector, p) {
    const table = new GroupTable<Group>(p.forget_after * 2);
    const noun = p.noun ?? `${FIELD_NOUN[p.field][1]} it had never touched before`;
    const counter = () => new SlidingCounter({ windowMs: p.window, buckets: p.buckets });
    const decayedPeak = (g: Group, at: number) =>
      g.peak * Math.pow(2, -Math.max(0, at - g.peakAt) / p.peak_half_life);

    return {
      onEvent(event: AccessEvent, groupKey, emit) {
        const value = fieldValue(event, p.field, p.depth);
        if (value === undefined) return;
        const t = event.time;
        let g = table.get(groupKey);
        if (!g) {
          g = {
            current: new Set(),
            previous: new Set(),
            generationStart: t,
            fresh: counter(),
            stats: new DecayedStats(p.learn_half_life),
            since: t,
            lastAt: t,
            flaggedUntil: -1,
            signalled: 0,
            signalledStrength: 'none',
            burstStart: 0,
            peak: 0,
            peakAt: t,
            samples: [],
          };
          table.set(groupKey, g);
        }
        const grp = g;
        grp.lastAt = t;
        // Rotate generations every half of the forgetting time, or early when one is full.
        if (t - grp.generationStart >= p.forget_after / 2 || grp.current.size >= p.cap) {
          grp.previous = grp.current;
          grp.current = new Set();
          grp.generationStart = t;
        }
        if (grp.fresh.hasClosed(t))
          grp.fresh.drainClosed(t, (start, count) => {
            if (Math.floor(start / p.window) > grp.flaggedUntil) grp.stats.observe(count, start);
            else grp.stats.decayTo(start);
            if (count > 0) {
              grp.peak = Math.max(count, decayedPeak(grp, start));
              grp.peakAt = start;
            }
          });
        const h = (hash64(value)[0] ?? 0) >>> 0;
        if (grp.current.has(h)) return;
        if (grp.previous.has(h)) {
          grp.current.add(h);
          return;
        }
        grp.current.add(h);
        // An identity's first day is all new: it teaches the values, not the rate. From then on new
        // values are counted (and the rate learned); signals wait for the warm-up.
        if (t - grp.since < DAY) return;
        grp.fresh.add(t);
        if (t - grp.since < p.warmup) return;
        const observed = grp.fresh.count(t);
        if (grp.signalled > 0 && observed < p.min_count / 2) grp.signalled = 0;
        pushCapped(grp.samples, event.path, 10);
        if (observed < p.min_count) {
          if (grp.signalled === 0) grp.samples = [event.path];
          return;
        }
        const mean = Math.max(grp.stats.mean, p.min_expected);
        const dispersion = dispersionOf(grp.stats);
        const peak = decayedPeak(grp, t);
        if (observed < p.min_ratio * mean || observed <= p.peak_ratio * peak) return;
        const score = -negBinomialUpperTailLog10(observed, mean, dispersion);
        let strength = strengthOf(score, p);
        const spread = grp.fresh.activeBuckets(t);
        if (strength === 'alert' && spread < p.min_spread)
          strength = p.weak_threshold === null ? 'none' : 'weak';
        if (strength === 'none') return;
        const added = advanceEpisode(grp, observed, strength, t, p.window, p.regrowth);
        if (added === undefined) return;
        const w = windowText(p.window);
        const usual = describeExpected(grp.stats.mean, dispersion);
        emit(
          buildSignal(detector, event, groupKey, {
            score,
            strength,
            what: `${who(event)} read ${observed} ${noun} within ${w}; it usually touches ${usual} new ones per ${w}`,
            headline: `${observed} never-read ${FIELD_NOUN[p.field][1]} in ${w}`,
            eventCount: Math.max(1, added),
            firstEventAt: grp.burstStart,
            paths: [...grp.samples],
            evidence: {
              observed,
              expected: Math.round(mean * 100) / 100,
              window: w,
              usual,
              busiestWindow: Math.round(peak),
              spreadOver: `${spread} of ${p.buckets} parts of the window`,
              knownValues: grp.current.size + grp.previous.size,
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
          c: [...g.current],
          p: [...g.previous],
          g: g.generationStart,
          f: g.fresh.toJSON(),
          st: g.stats.toJSON(),
          s: g.since,
          l: g.lastAt,
          fl: g.flaggedUntil,
          n: g.signalled,
          ns: g.signalledStrength,
          b: g.burstStart,
          pk: g.peak,
          pa: g.peakAt,
          sa: g.samples,
        })),
      restore(state) {
        table.restore(state as { sweep: number; groups: [string, GroupJson][] }, (j) => ({
          current: new Set(j.c),
          previous: new Set(j.p),
          generationStart: j.g,
          fresh: SlidingCounter.from(j.f, { windowMs: p.window, buckets: p.buckets }),
          stats: DecayedStats.from(j.st, p.learn_half_life),
          since: j.s,
          lastAt: j.l,
          flaggedUntil: j.fl,
          signalled: j.n,
          signalledStrength: j.ns,
          burstStart: j.b,
          peak: j.pk,
          peakAt: j.pa,
          samples: j.sa,
        }));
      },
    };
  },
};
