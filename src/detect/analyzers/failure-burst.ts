import { z } from 'zod';
import { OUTCOMES, SEVERITIES, type AccessEvent, type Severity } from '../../audit/event.js';
import { DecayedStats, type DecayedStatsSnapshot } from '../../baseline/stats/decayed.js';
import {
  SlidingCounter,
  SlidingDistinct,
  type SlidingCounterSnapshot,
  type SlidingDistinctSnapshot,
} from '../../baseline/stats/sliding.js';
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
  plural,
  scoringParams,
  strengthOf,
  who,
  windowText,
  type Strength,
} from './common.js';

const params = z.strictObject({
  ...scoringParams,
  warmup: duration.default(86_400_000),
  retention: duration.default(7 * 86_400_000),
  window: duration.default(600_000),
  buckets: z.number().int().min(1).max(60).default(10),
  /** Outcomes that count as failures; other matching events are only watched for "success after". */
  failures: z
    .array(z.enum(OUTCOMES as [string, ...string[]]))
    .default(['denied', 'invalid_credentials', 'invalid_token']),
  /** No signal below this many failures in the window. */
  min_count: z.number().int().positive().default(10),
  /** Also count distinct values of this field (user names from one source: spraying). */
  distinct: z.enum(FIELDS).nullable().default(null),
  /** With `distinct`: no signal below this many distinct values in the window. */
  min_distinct: z.number().int().positive().default(10),
  distinct_depth: z.number().int().min(1).default(3),
  /**
   * Also require failures from at least this many source addresses in the window (cluster-wide
   * stuffing comes from many places; one address trying many users is spraying, its own detector).
   */
  min_sources: z.number().int().positive().nullable().default(null),
  /** Failures per window assumed before the group has a baseline (keeps the floors decisive). */
  min_expected: z.number().positive().default(0.5),
  /** Alert when a success follows a burst in the same group (guessing that worked). */
  success_after: z.boolean().default(false),
  success_severity: z.enum(SEVERITIES as [string, ...string[]]).default('critical'),
  regrowth: z.number().min(1).default(2),
  learn_half_life: duration.default(14 * 86_400_000),
  noun: z.string().default('failures'),
});
type Params = z.infer<typeof params>;

interface Group extends Episode {
  counter: SlidingCounter;
  distinct?: SlidingDistinct;
  sourcesSeen?: SlidingDistinct;
  stats: DecayedStats;
  since: number;
  lastAt: number;
  /** Sample of sources and paths of the current burst (for the alert). */
  sources: string[];
  paths: string[];
}

interface GroupJson {
  c: SlidingCounterSnapshot;
  d?: SlidingDistinctSnapshot;
  ss?: SlidingDistinctSnapshot;
  st: DecayedStatsSnapshot;
  s: number;
  l: number;
  f: number;
  n: number;
  ns: Strength;
  b: number;
  so: string[];
  pa: string[];
}

/**
 * Failed attempts per group (identity, source address or attempted user) in a sliding window, against
 * the group's own failure baseline; optionally also distinct user names (spraying from one source) or
 * distinct sources (one user guessed from many places). The count and distinct floors are absolute
 * guardrails: they alert during warm-up too, since a burst of failures needs no history to matter.
 */
export const failureBurstAnalyzer: Analyzer<Params> = {
  type: 'failure_burst',
  params,
  create(detector, p) {
    const failures = new Set<string>(p.failures);
    const table = new GroupTable<Group>(p.retention);
    const fresh = (at: number): Group => {
      const g: Group = {
        counter: new SlidingCounter({ windowMs: p.window, buckets: p.buckets }),
        stats: new DecayedStats(p.learn_half_life),
        since: at,
        lastAt: at,
        flaggedUntil: -1,
        signalled: 0,
        signalledStrength: 'none',
        burstStart: 0,
        sources: [],
        paths: [],
      };
      if (p.distinct)
        g.distinct = new SlidingDistinct({ windowMs: p.window, buckets: p.buckets, exactCap: 2048 });
      if (p.min_sources !== null) {
        g.sourcesSeen = new SlidingDistinct({ windowMs: p.window, buckets: p.buckets, exactCap: 2048 });
      }
      return g;
    };

    return {
      onEvent(event: AccessEvent, groupKey, emit) {
        const t = event.time;
        const g = table.get(groupKey);
        if (!failures.has(event.outcome)) {
          // A success right after a burst in the same group: the guessing may have worked.
          const n = g ? g.counter.count(t) : 0;
          // Only while the burst is still in the window: a success hours later is not "right after".
          if (
            p.success_after &&
            g &&
            g.signalled > 0 &&
            n >= p.min_count / 2 &&
            event.outcome === 'success'
          ) {
            emit({
              ...buildSignal(detector, event, groupKey, {
                score: Math.max(p.threshold, 10),
                strength: 'alert',
                what: `${who(event)} logged in successfully from ${event.remoteAddress ?? 'an unknown address'} right after ${n} ${p.noun} in ${windowText(p.window)}`,
                headline: `success after ${n} ${p.noun}`,
                eventCount: 1,
                firstEventAt: g.burstStart,
                evidence: {
                  observed: n,
                  expected: 'no success during a guessing burst',
                  window: windowText(p.window),
                  successAfterFailures: true,
                },
                sources: [...g.sources],
                paths: [...g.paths],
              }),
              severity: p.success_severity as Severity,
            });
            g.signalled = 0;
          }
          return;
        }
        let grp = g;
        if (!grp) {
          grp = fresh(t);
          table.set(groupKey, grp);
        }
        const state = grp;
        if (state.counter.hasClosed(t))
          state.counter.drainClosed(t, (start, count) => {
            const flagged = Math.floor(start / p.window) <= state.flaggedUntil;
            if (!flagged) state.stats.observe(count, start);
            else state.stats.decayTo(start);
          });
        state.counter.add(t);
        state.lastAt = t;
        const value = p.distinct ? fieldValue(event, p.distinct, p.distinct_depth) : undefined;
        if (state.distinct && value !== undefined) state.distinct.add(value, t);
        if (state.sourcesSeen && event.remoteAddress) state.sourcesSeen.add(event.remoteAddress, t);
        const observed = state.counter.count(t);
        if (state.signalled > 0 && observed < p.min_count / 2) state.signalled = 0;
        if (event.remoteAddress) pushCapped(state.sources, event.remoteAddress, 10);
        pushCapped(state.paths, event.path, 10);
        if (state.signalled === 0 && observed < p.min_count / 2) {
          state.sources = event.remoteAddress ? [event.remoteAddress] : [];
          state.paths = [event.path];
        }
        if (observed < p.min_count) return;
        const distinctCount = state.distinct ? state.distinct.count(t) : 0;
        if (state.distinct && distinctCount < p.min_distinct) return;
        const sourceCount = state.sourcesSeen ? state.sourcesSeen.count(t) : 0;
        if (p.min_sources !== null && sourceCount < p.min_sources) return;

        const warm = t - state.since >= p.warmup && state.stats.weight >= 10;
        const mean = Math.max(warm ? state.stats.mean : 0, p.min_expected);
        // Before a baseline exists the floors are guardrails: score as Poisson around `min_expected`.
        const dispersion = warm ? dispersionOf(state.stats) : 1e4;
        const score = -negBinomialUpperTailLog10(observed, mean, dispersion);
        const strength = strengthOf(score, p);
        if (strength === 'none') return;
        const added = advanceEpisode(state, observed, strength, t, p.window, p.regrowth);
        if (added === undefined) return;

        const w = windowText(p.window);
        const usual = warm ? describeExpected(state.stats.mean, dispersion) : null;
        const distinctText =
          (p.distinct && distinctCount > 0
            ? ` across ${plural(distinctCount, FIELD_NOUN[p.distinct])}`
            : '') + (sourceCount > 0 ? ` from ${plural(sourceCount, FIELD_NOUN.source)}` : '');
        const subject = groupSubject(event, detector.groupBy);
        emit(
          buildSignal(detector, event, groupKey, {
            score,
            strength,
            what:
              `${observed} ${p.noun}${distinctText} in ${w} ${subject}; ` +
              (usual ? `usually ${usual} per ${w}` : 'no failures are expected here'),
            headline: `${observed} ${p.noun}${distinctText} in ${w}`,
            eventCount: Math.max(1, added),
            firstEventAt: state.burstStart,
            sources: [...state.sources],
            paths: [...state.paths],
            evidence: {
              observed,
              expected: Math.round(mean * 100) / 100,
              window: w,
              ...(usual ? { usual } : {}),
              ...(p.distinct ? { distinct: distinctCount, distinctOf: FIELD_NOUN[p.distinct][1] } : {}),
              ...(p.min_sources !== null ? { sources: sourceCount } : {}),
              ...(event.loginUser ? { loginUser: event.loginUser } : {}),
              lastError: event.errorMessage ?? event.errorClass ?? event.outcome,
              warm,
            },
          }),
        );
      },
      onTick(now) {
        table.sweep(now);
      },
      size: () => table.size,
      snapshot: () =>
        table.snapshot<GroupJson>((g) => {
          const j: GroupJson = {
            c: g.counter.toJSON(),
            st: g.stats.toJSON(),
            s: g.since,
            l: g.lastAt,
            f: g.flaggedUntil,
            n: g.signalled,
            ns: g.signalledStrength,
            b: g.burstStart,
            so: g.sources,
            pa: g.paths,
          };
          if (g.distinct) j.d = g.distinct.toJSON();
          if (g.sourcesSeen) j.ss = g.sourcesSeen.toJSON();
          return j;
        }),
      restore(state) {
        table.restore(state as { sweep: number; groups: [string, GroupJson][] }, (j) => {
          const g: Group = {
            counter: SlidingCounter.from(j.c, { windowMs: p.window, buckets: p.buckets }),
            stats: DecayedStats.from(j.st, p.learn_half_life),
            since: j.s,
            lastAt: j.l,
            flaggedUntil: j.f,
            signalled: j.n,
            signalledStrength: j.ns,
            burstStart: j.b,
            sources: j.so,
            paths: j.pa,
          };
          const options = { windowMs: p.window, buckets: p.buckets, exactCap: 2048 };
          if (j.d) g.distinct = SlidingDistinct.from(j.d, options);
          if (p.min_sources !== null) {
            g.sourcesSeen = j.ss ? SlidingDistinct.from(j.ss, options) : new SlidingDistinct(options);
          }
          return g;
        });
      },
    };
  },
};

/** NB size from decayed moments: r = m²/(v − m); Poisson-like (1e4) without evidence of over-dispersion. */
export function dispersionOf(stats: DecayedStats): number {
  const m = stats.mean;
  const v = stats.variance;
  if (m <= 0 || v <= m) return 1e4;
  return Math.min(1e4, Math.max(0.5, (m * m) / (v - m)));
}

/** "against user alice", "from 203.0.113.7", "by payments-api": what the group is, in words. */
function groupSubject(event: AccessEvent, groupBy: string[]): string {
  const part = groupBy[0];
  if (part === 'login_user' && event.loginUser) return `against user "${event.loginUser}"`;
  if ((part === 'source' || part === 'source_network') && event.remoteAddress)
    return `from ${event.remoteAddress}`;
  if (part === 'detector') return 'across the whole cluster';
  return `by ${who(event)}`;
}
