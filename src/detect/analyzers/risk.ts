import { z } from 'zod';
import { duration, formatDuration } from '../../util/duration.js';
import type { Analyzer } from '../analyzer.js';
import { describeIdentity, summarise } from '../describe.js';
import type { Signal } from '../signal.js';
import { MAX_SIGNAL_EVENT_IDS } from '../signal.js';
import { GroupTable } from './common.js';

const params = z.strictObject({
  /** Risk at or above which one compound alert is raised. */
  threshold: z.number().positive().default(7),
  /** ... and only when the signals come from at least this many detector families. */
  min_families: z.number().int().min(1).default(2),
  /** A weak signal's contribution halves every half-life. */
  half_life: duration.default(6 * 3_600_000),
  /** Contributions older than this are dropped. */
  window: duration.default(24 * 3_600_000),
  /** One weak signal contributes at most this much, so no single noisy detector dominates. */
  cap: z.number().positive().default(5),
  /** Risk grows by (1 + diversity_bonus × (families − 1)). */
  diversity_bonus: z.number().nonnegative().default(0.25),
  /** After an alert, signal again only when risk has grown by this much or a new family appears. */
  regrowth: z.number().positive().default(3),
  retention: duration.default(7 * 86_400_000),
});
type Params = z.infer<typeof params>;

interface Contribution {
  detector: string;
  family: string;
  score: number;
  at: number;
  headline: string;
  eventIds: string[];
  sources: string[];
  paths: string[];
}

interface Entity {
  items: Contribution[];
  lastAt: number;
  /** Risk and families at the last compound signal of the current episode (0 = none). */
  signalledRisk: number;
  signalledFamilies: number;
}

/**
 * Compound identity risk: weak signals on one identity (a new network, activity at an unusual hour,
 * a moderate spike...) each say little; several within hours say a lot. Contributions decay with a
 * half-life and are capped; diversity across detector families raises the total. One alert per
 * episode, re-signalled only when the risk grows markedly or a new family joins.
 */
export const riskAnalyzer: Analyzer<Params> = {
  type: 'risk',
  params,
  create(detector, p) {
    const table = new GroupTable<Entity>(p.retention);
    const risk = (e: Entity, now: number) => {
      let sum = 0;
      const families = new Set<string>();
      for (const c of e.items) {
        sum += Math.min(c.score, p.cap) * Math.pow(2, -(now - c.at) / p.half_life);
        families.add(c.family);
      }
      return { value: sum * (1 + p.diversity_bonus * (families.size - 1)), families };
    };

    return {
      onSignal(signal: Signal, emit) {
        if (!signal.weak) return;
        const key = signal.identity?.key ?? signal.groupKey;
        const now = signal.at;
        let e = table.get(key);
        if (!e) {
          e = { items: [], lastAt: now, signalledRisk: 0, signalledFamilies: 0 };
          table.set(key, e);
        }
        e.lastAt = Math.max(e.lastAt, now);
        e.items = e.items.filter((c) => now - c.at <= p.window);
        // One contribution per detector: the strongest recent one.
        const same = e.items.findIndex((c) => c.detector === signal.detector);
        const contribution: Contribution = {
          detector: signal.detector,
          family: signal.family ?? signal.detector,
          score: signal.score,
          at: now,
          headline: signal.headline ?? signal.title,
          eventIds: signal.eventIds.slice(0, 5),
          sources: signal.sourceAddresses.slice(0, 5),
          paths: signal.paths.slice(0, 5),
        };
        if (same >= 0) {
          const old = e.items[same] as Contribution;
          const oldNow = Math.min(old.score, p.cap) * Math.pow(2, -(now - old.at) / p.half_life);
          if (Math.min(contribution.score, p.cap) >= oldNow) e.items[same] = contribution;
        } else {
          e.items.push(contribution);
        }
        const r = risk(e, now);
        if (e.signalledRisk > 0 && r.value < p.threshold / 2) {
          e.signalledRisk = 0;
          e.signalledFamilies = 0;
        }
        if (r.value < p.threshold || r.families.size < p.min_families) return;
        const grown = r.value >= e.signalledRisk + p.regrowth || r.families.size > e.signalledFamilies;
        if (e.signalledRisk > 0 && !grown) return;
        const first = e.signalledRisk === 0;
        e.signalledRisk = r.value;
        e.signalledFamilies = r.families.size;

        const items = [...e.items].sort((a, b) => a.at - b.at);
        const span = now - (items[0]?.at ?? now);
        const whoText = describeIdentity(signal.identity);
        const list = items.map((c) => c.headline).join('; ');
        const ids: string[] = [];
        const sources: string[] = [];
        const paths: string[] = [];
        for (const c of items) {
          for (const id of c.eventIds)
            if (ids.length < MAX_SIGNAL_EVENT_IDS && !ids.includes(id)) ids.push(id);
          for (const s of c.sources) if (!sources.includes(s)) sources.push(s);
          for (const x of c.paths)
            if (paths.length < MAX_SIGNAL_EVENT_IDS && !paths.includes(x)) paths.push(x);
        }
        const out: Signal = {
          detector: detector.id,
          groupKey: key,
          at: now,
          score: Math.round(r.value * 100) / 100,
          severity: detector.severity,
          title: detector.title,
          summary: summarise(
            `${items.length} unusual things about ${whoText} within ${formatDuration(Math.max(span, 1000))}: ${list}`,
            detector,
          ),
          headline: `${items.length} coinciding weak signals`,
          sourceAddresses: sources.slice(0, MAX_SIGNAL_EVENT_IDS),
          paths,
          eventIds: ids,
          firstEventAt: items[0]?.at ?? now,
          lastEventAt: now,
          eventCount: first ? items.length : 1,
          evidence: {
            observed: Math.round(r.value * 100) / 100,
            expected: `< ${p.threshold}`,
            window: formatDuration(p.window),
            families: [...r.families],
            contributions: items.map((c) => ({
              detector: c.detector,
              score: Math.round(c.score * 100) / 100,
              at: new Date(c.at).toISOString(),
              what: c.headline,
            })),
          },
          family: detector.family,
        };
        if (signal.identity) out.identity = signal.identity;
        emit(out);
      },
      onTick(now) {
        table.sweep(now);
      },
      size: () => table.size,
      snapshot: () => table.snapshot((e) => e),
      restore(state) {
        table.restore(state as { sweep: number; groups: [string, Entity][] }, (j) => j);
      },
    };
  },
};
