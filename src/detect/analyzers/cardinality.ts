import { z } from 'zod';
import type { AccessEvent } from '../../audit/event.js';
import { DecayedStats, type DecayedStatsSnapshot } from '../../baseline/stats/decayed.js';
import { KnownSet, type KnownSetSnapshot } from '../../baseline/stats/known-set.js';
import { SlidingDistinct, type SlidingDistinctSnapshot } from '../../baseline/stats/sliding.js';
import { negBinomialUpperTailLog10 } from '../../baseline/stats/tails.js';
import { duration } from '../../util/duration.js';
import type { Analyzer } from '../analyzer.js';
import { pushCapped } from '../describe.js';
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
import { dispersionOf } from './failure-burst.js';

const params = z.strictObject({
  ...scoringParams,
  window: duration.default(900_000),
  buckets: z.number().int().min(1).max(60).default(5),
  /** What is counted distinct. */
  field: z.enum(FIELDS).default('path'),
  depth: z.number().int().min(1).default(3),
  /** No signal below this many distinct values in the window. */
  min_distinct: z.number().int().positive().default(50),
  min_ratio: z.number().positive().default(5),
  min_expected: z.number().positive().default(1),
  /** Absolute guardrail: alerts even during warm-up. */
  guardrail: z.number().int().positive().nullable().default(null),
  regrowth: z.number().min(1).default(2),
  /** No signal unless the distinct count also exceeds this multiple of the busiest window so far. */
  peak_ratio: z.number().min(1).default(2),
  peak_half_life: duration.default(14 * 86_400_000),
  learn_half_life: duration.default(14 * 86_400_000),
  /** Most values counted per fixed learning window (bounded memory; the count saturates). */
  window_cap: z.number().int().positive().default(4096),
  /**
   * Count only values new to the group (never used before, as the group's KnownSet tells): a mass
   * read of secrets an identity never touched, not a busy hour over the ones it always reads (CI
   * runners re-reading their repositories' secrets in concurrent pipelines).
   */
  only_new: z.boolean().default(false),
  /**
   * With `only_new`: no signal unless the new values are at least this fraction of all the group
   * had used before the window — a sudden expansion of its footprint, not a runner that builds a
   * repository it rarely builds. The guardrail still applies.
   */
  min_growth: z.number().nonnegative().default(0),
  noun: z.string().optional(),
});
type Params = z.infer<typeof params>;

interface Group extends Episode {
  live: SlidingDistinct;
  /** Distinct values of the current fixed window (for learning). */
  winIdx: number;
  winSet: Set<string> | undefined;
  stats: DecayedStats;
  since: number;
  lastAt: number;
  samples: string[];
  peak: number;
  peakAt: number;
  /** `only_new`: the values this group has used. */
  known?: KnownSet;
}

interface GroupJson {
  d: SlidingDistinctSnapshot;
  wi: number;
  ws: string[] | null;
  st: DecayedStatsSnapshot;
  s: number;
  l: number;
  f: number;
  n: number;
  ns: Strength;
  b: number;
  sa: string[];
  pk: number;
  pa: number;
  k?: KnownSetSnapshot;
}

/**
 * Distinct values (secret paths, listed paths, user names) per group in a sliding window, against the
 * group's usual distinct count per window: enumeration and mass reads touch many *different* things,
 * which a plain rate can miss when the volume itself is ordinary.
 */
export const cardinalityAnalyzer: Analyzer<Params> = {
  type: 'cardinality',
  params,
  create(detector, p, env) {
    const table = new GroupTable<Group>(p.retention);
    const nouns = FIELD_NOUN[p.field];
    const noun = p.noun ?? `distinct ${nouns[1]}`;
    const fresh = (at: number): Group => ({
      live: new SlidingDistinct({ windowMs: p.window, buckets: p.buckets }),
      winIdx: Math.floor(at / p.window),
      winSet: undefined,
      stats: new DecayedStats(p.learn_half_life),
      since: at,
      lastAt: at,
      flaggedUntil: -1,
      signalled: 0,
      signalledStrength: 'none',
      burstStart: 0,
      samples: [],
      peak: 0,
      peakAt: at,
    });
    /** Close fixed windows up to the one containing t, learning their distinct counts (empty ones too). */
    const roll = (g: Group, t: number): void => {
      const idx = Math.floor(t / p.window);
      if (idx <= g.winIdx) return;
      const learn = (i: number, count: number) => {
        if (i > g.flaggedUntil) g.stats.observe(Math.min(count, capFor(g)), i * p.window);
        else g.stats.decayTo(i * p.window);
        // Counting new values, the first windows are discovery (everything is new): not a peak to allow for.
        if (count > 0 && !(p.only_new && i * p.window - g.since < p.warmup)) {
          g.peak = Math.max(count, decayedPeak(g, i * p.window));
          g.peakAt = i * p.window;
        }
      };
      learn(g.winIdx, g.winSet?.size ?? 0);
      // Empty windows in between, bounded so a long idle gap costs little.
      const gap = Math.min(idx - g.winIdx - 1, 2016);
      for (let i = idx - gap; i < idx; i++) learn(i, 0);
      g.winIdx = idx;
      g.winSet = undefined;
    };
    const capFor = (g: Group) => Math.max(p.min_distinct, p.min_ratio * g.stats.mean);
    const decayedPeak = (g: Group, at: number) =>
      g.peak * Math.pow(2, -Math.max(0, at - g.peakAt) / p.peak_half_life);

    return {
      onEvent(event: AccessEvent, groupKey, emit) {
        const value = fieldValue(event, p.field, p.depth);
        if (value === undefined) return;
        const t = event.time;
        let g = table.get(groupKey);
        if (!g) {
          g = fresh(t);
          table.set(groupKey, g);
        }
        roll(g, t);
        g.lastAt = t;
        // A value it used before adds nothing to a count of new ones (the first use was counted).
        if (p.only_new && !(g.known ??= new KnownSet()).add(value)) return;
        if (!g.winSet) g.winSet = new Set();
        if (g.winSet.size < p.window_cap) g.winSet.add(value);
        g.live.add(value, t);
        const observed = g.live.count(t);
        if (g.signalled > 0 && observed < p.min_distinct / 2) g.signalled = 0;
        if (observed < p.min_distinct) return;

        const warm = t - g.since >= p.warmup && g.stats.weight >= 50;
        const mean = Math.max(warm ? g.stats.mean : 0, p.min_expected);
        const dispersion = warm ? dispersionOf(g.stats) : 1e4;
        let score = 0;
        let strength: Strength = 'none';
        const peak = decayedPeak(g, t);
        const identitySince = env.identities?.firstSeen(event.identity.key);
        const newActivity =
          !warm && t - g.since < p.warmup && identitySince !== undefined && t - identitySince >= p.warmup;
        // Values the group had used before this window (the known set also holds the window's new ones).
        const before = g.known ? Math.max(0, g.known.size - observed) : 0;
        const grown = !p.only_new || observed >= p.min_growth * before;
        if (!grown) {
          // Not a signal; the guardrail below still decides.
        } else if (warm && observed >= p.min_ratio * mean && observed > p.peak_ratio * peak) {
          score = -negBinomialUpperTailLog10(observed, mean, dispersion);
          strength = strengthOf(score, p);
        } else if (newActivity) {
          // An identity with history that never did this: nothing of the kind is expected from it.
          score = -negBinomialUpperTailLog10(observed, p.min_expected, 1e4);
          strength = strengthOf(score, p);
        }
        const guard = p.guardrail !== null && observed >= p.guardrail;
        if (guard && strength !== 'alert') {
          strength = 'alert';
          score = Math.max(score, p.threshold);
        }
        if (strength === 'none') return;
        const starting = g.signalled === 0;
        pushCapped(g.samples, value, 10);
        const added = advanceEpisode(g, observed, strength, t, p.window, p.regrowth);
        if (added === undefined) return;
        if (starting) g.samples = [value];
        const w = windowText(p.window);
        const usual = warm ? describeExpected(g.stats.mean, dispersion) : null;
        emit(
          buildSignal(detector, event, groupKey, {
            score,
            strength,
            what: `${who(event)} touched ${observed} ${noun} in ${w}; ${
              usual
                ? `it usually touches ${usual}`
                : newActivity
                  ? 'it had not done this before in its history'
                  : `the absolute limit is ${p.guardrail ?? '?'}`
            }${p.only_new ? ` (it had used ${before} before)` : ''}`,
            headline: `${observed} ${noun} in ${w}`,
            eventCount: Math.max(1, added),
            firstEventAt: g.burstStart,
            ...(p.field === 'path' || p.field === 'path_prefix' ? { paths: [...g.samples] } : {}),
            evidence: {
              observed,
              expected: Math.round(mean * 100) / 100,
              window: w,
              ...(usual ? { usual } : {}),
              counted: nouns[1],
              ...(p.only_new ? { knownBefore: before } : {}),
              busiestWindow: Math.round(peak),
              warm,
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
          d: g.live.toJSON(),
          wi: g.winIdx,
          ws: g.winSet ? [...g.winSet] : null,
          st: g.stats.toJSON(),
          s: g.since,
          l: g.lastAt,
          f: g.flaggedUntil,
          n: g.signalled,
          ns: g.signalledStrength,
          b: g.burstStart,
          sa: g.samples,
          pk: g.peak,
          pa: g.peakAt,
          ...(g.known ? { k: g.known.toJSON() } : {}),
        })),
      restore(state) {
        table.restore(state as { sweep: number; groups: [string, GroupJson][] }, (j) => ({
          live: SlidingDistinct.from(j.d, { windowMs: p.window, buckets: p.buckets }),
          winIdx: j.wi,
          winSet: j.ws ? new Set(j.ws) : undefined,
          stats: DecayedStats.from(j.st, p.learn_half_life),
          since: j.s,
          lastAt: j.l,
          flaggedUntil: j.f,
          signalled: j.n,
          signalledStrength: j.ns,
          burstStart: j.b,
          samples: j.sa,
          peak: j.pk,
          peakAt: j.pa,
          ...(j.k ? { known: KnownSet.from(j.k) } : {}),
        }));
      },
    };
  },
};
