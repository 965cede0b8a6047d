import picomatch from 'picomatch';
import { z } from 'zod';
import type { AccessEvent } from '../../audit/event.js';
import { SeenSet, type SeenSetOptions, type SeenSetSnapshot } from '../../baseline/stats/novelty.js';
import { poissonUpperTailLog10 } from '../../baseline/stats/tails.js';
import { duration, formatDuration } from '../../util/duration.js';
import { isPrivate } from '../../baseline/stats/network.js';
import { memoize } from '../../util/memo.js';
import type { Analyzer } from '../analyzer.js';
import type { Signal } from '../signal.js';
import { isHuman } from '../match.js';
import {
  buildSignal,
  FIELD_NOUN,
  FIELDS,
  fieldValue,
  GroupTable,
  plural,
  scoringParams,
  strengthOf,
  who,
} from './common.js';

const privateAddress = memoize(isPrivate, 20_000);

const params = z.strictObject({
  ...scoringParams,
  /** Score = −log10 of the group's smoothed rate of new values; 2 means "new values are ≤ 1 % of its events". */
  threshold: z.number().positive().default(2),
  weak_threshold: z.number().positive().nullable().default(null),
  warmup: duration.default(7 * 86_400_000),
  retention: duration.default(90 * 86_400_000),
  field: z.enum(FIELDS),
  /** Segments kept for `path_prefix`. */
  depth: z.number().int().min(1).default(3),
  /** Observations a group needs besides the warm-up time. */
  min_observations: z.number().nonnegative().default(50),
  /** Only values matching these globs are reported (all are learned); e.g. `sys:write`. */
  report_only: z.array(z.string()).nullable().default(null),
  /** Values remembered per group (least recently seen forgotten first). */
  cap: z.number().int().positive().default(128),
  /** A value unseen this long is new again. */
  forget_after: duration.default(90 * 86_400_000),
  /**
   * A value seen again within this time is not observed again: novelty is counted per value and
   * period, not per request, so a busy service and a quiet one calibrate alike (and it is cheaper).
   */
  reobserve_after: duration.default(3_600_000),
  /** Added to the score when no group at all has used the value (new to the whole cluster). */
  global_bonus: z.number().nonnegative().default(1.5),
  /**
   * Added when a workload (not a person) that has only ever used private addresses shows up from a
   * public one: a copied service token used from outside.
   */
  public_bonus: z.number().nonnegative().default(0),
  /** Values remembered across all groups for `global_bonus`. */
  global_cap: z.number().int().positive().default(65_536),
  /**
   * `value`: each new value is a signal. `burst`: many new values within `burst_window` are one
   * signal, scored as the surprise of that many new values among the window's observations given
   * the group's own novelty rate before them (Poisson tail); single new values say nothing. For
   * lateral movement: a token reaching into several teams' secrets within minutes.
   */
  mode: z.enum(['value', 'burst']).default('value'),
  burst_window: duration.default(600_000),
  /** No burst signal below this many new values in the window. */
  burst_min: z.number().int().min(2).default(5),
});
type Params = z.infer<typeof params>;

interface Group {
  seen: SeenSet;
  since: number;
  lastAt: number;
  /** Some address this group used was public (for `public_bonus`). */
  anyPublic?: boolean;
  /** `burst` mode: recent observations (time, new?, prior novelty rate), oldest first, bounded. */
  recent?: Observation[];
  /** `burst` mode: new values in the window when it last signalled (0 = not in a burst). */
  burstSignalled?: number;
}

type Observation = [at: number, isNew: 0 | 1, pNew: number];

/** Observations kept per group in `burst` mode (enough for any burst worth scoring). */
const MAX_RECENT = 64;

/**
 * A value never seen for this group after warm-up: a new source network, path prefix, operation,
 * mount or auth method. The score is self-calibrating: −log10 of the group's smoothed rate of new
 * values, so a roaming laptop or a CI runner that touches new paths daily stays quiet while a service
 * that used one network for a month does not. Values new to every group score higher.
 */
export const firstSeenAnalyzer: Analyzer<Params> = {
  type: 'first_seen',
  params,
  create(detector, p) {
    const options: SeenSetOptions = { cap: p.cap, ttlMs: p.forget_after, halfLifeMs: 30 * 86_400_000 };
    const globalOptions: SeenSetOptions = {
      cap: p.global_cap,
      ttlMs: p.forget_after,
      halfLifeMs: 30 * 86_400_000,
    };
    const table = new GroupTable<Group>(p.retention);
    let global = new SeenSet(globalOptions);
    const noun = FIELD_NOUN[p.field];
    const reportable = p.report_only ? picomatch(p.report_only, { dot: true }) : () => true;

    /** `burst` mode: record the observation; signal when the window holds a surprising number of new values. */
    const burst = (
      g: Group,
      event: AccessEvent,
      groupKey: string,
      value: string,
      isNew: boolean,
      pNew: number,
      emit: (s: Signal) => void,
    ): void => {
      const t = event.time;
      const recent = (g.recent ??= []);
      recent.push([t, isNew ? 1 : 0, pNew]);
      while (
        recent.length > 0 &&
        ((recent[0] as Observation)[0] <= t - p.burst_window || recent.length > MAX_RECENT)
      )
        recent.shift();
      // The identity's novelty rate before this burst: the burst's own new values raise the running
      // rate as they come, which would make a long burst look ever less surprising.
      let fresh = 0;
      let base = 1;
      for (const [, n, q] of recent) {
        fresh += n;
        base = Math.min(base, q);
      }
      const expected = base * recent.length;
      if (fresh < (g.burstSignalled ?? 0) / 2) g.burstSignalled = 0;
      if (!isNew || fresh < p.burst_min) return;
      // Once signalled, again only when the burst has doubled (the alert updates in place anyway).
      if ((g.burstSignalled ?? 0) > 0 && fresh < 2 * (g.burstSignalled ?? 0)) return;
      const score = -poissonUpperTailLog10(fresh, Math.max(expected, 1e-6));
      const strength = strengthOf(score, p);
      if (strength === 'none') return;
      g.burstSignalled = fresh;
      const w = formatDuration(p.burst_window);
      const usual = Math.round(expected * 100) / 100;
      emit(
        buildSignal(detector, event, groupKey, {
          score,
          strength,
          what:
            `${who(event)} used ${plural(fresh, noun)} for the first time within ${w} (latest: ${value}); ` +
            `from its own history about ${usual} would be new among ${plural(recent.length, noun)}`,
          headline: `${plural(fresh, noun)} new to it within ${w}`,
          eventCount: fresh,
          firstEventAt: (recent.find((o) => o[1] === 1) ?? (recent[0] as Observation))[0],
          evidence: {
            observed: fresh,
            expected: usual,
            window: w,
            observations: recent.length,
            latest: value,
          },
        }),
      );
    };

    return {
      onEvent(event: AccessEvent, groupKey, emit) {
        const value = fieldValue(event, p.field, p.depth);
        if (value === undefined) return;
        const t = event.time;
        let g = table.get(groupKey);
        if (!g) {
          g = { seen: new SeenSet(options), since: t, lastAt: t };
          table.set(groupKey, g);
        }
        g.lastAt = t;
        // Fast path: a value seen again recently needs nothing (no novelty, no re-observation).
        const last = g.seen.lastSeenAt(value, t);
        if (last !== undefined && t - last < p.reobserve_after) return;
        const check = g.seen.check(value, t);
        const publicAddress =
          p.public_bonus > 0 && event.remoteAddress !== undefined && !privateAddress(event.remoteAddress);
        const firstPublic = publicAddress && !g.anyPublic && !isHuman(event.identity);
        if (publicAddress) g.anyPublic = true;
        const newToAll = !global.has(value, t);
        g.seen.observe(value, t);
        global.observe(value, t);
        const history = g.seen.observationsAt(t);
        const settled = t - g.since >= p.warmup && history >= p.min_observations;
        if (p.mode === 'burst') {
          if (settled) burst(g, event, groupKey, value, !check.seen && reportable(value), check.pNew, emit);
          return;
        }
        if (check.seen || !reportable(value) || !settled) return;

        const score =
          -Math.log10(check.pNew) + (newToAll ? p.global_bonus : 0) + (firstPublic ? p.public_bonus : 0);
        const strength = strengthOf(score, p);
        if (strength === 'none') return;
        const known = g.seen.size - 1;
        const age = formatDuration(Math.max(0, t - g.since));
        const rate = check.pNew < 0.001 ? '< 0.1 %' : `${Math.round(check.pNew * 1000) / 10} %`;
        emit(
          buildSignal(detector, event, groupKey, {
            score,
            strength,
            what:
              `${who(event)} used ${noun[0]} ${value} for the first time (after ${plural(known, noun)} in ${age}; ` +
              `new values are ${rate} of its events${newToAll ? ', and no other identity has used it' : ''}` +
              `${firstPublic ? '; it is a public address and this workload only ever used private ones' : ''})`,
            headline: `new ${noun[0]} ${value}${newToAll ? ' (new to everyone)' : ''}`,
            eventCount: 1,
            evidence: {
              observed: value,
              expected: `one of ${known} known ${noun[1]}`,
              window: `${age} of history`,
              pNew: Math.round(check.pNew * 1e5) / 1e5,
              knownValues: known,
              newToEveryone: newToAll,
              firstPublicAddress: firstPublic,
            },
          }),
        );
      },
      onTick(now) {
        table.sweep(now);
      },
      size: () => table.size,
      snapshot: () => ({
        groups: table.snapshot((g) => ({
          s: g.seen.toJSON(),
          since: g.since,
          l: g.lastAt,
          pub: g.anyPublic === true,
          ...(g.recent?.length ? { r: g.recent, b: g.burstSignalled ?? 0 } : {}),
        })),
        global: global.toJSON(),
      }),
      restore(state) {
        const s = state as {
          groups: {
            sweep: number;
            groups: [
              string,
              { s: SeenSetSnapshot; since: number; l: number; pub?: boolean; r?: Observation[]; b?: number },
            ][];
          };
          global: SeenSetSnapshot;
        };
        table.restore(s.groups, (j) => ({
          seen: SeenSet.from(j.s, options),
          since: j.since,
          lastAt: j.l,
          anyPublic: j.pub === true,
          ...(j.r ? { recent: j.r, burstSignalled: j.b ?? 0 } : {}),
        }));
        global = SeenSet.from(s.global, globalOptions);
      },
    };
  },
};
