import { z } from 'zod';
import { duration } from '../../util/duration.js';
import type { Analyzer } from '../analyzer.js';
import { fillTemplate, signalForEvent } from '../describe.js';
import { GroupTable } from './common.js';

const params = z.strictObject({
  /** Sentence describing the event; placeholders as in describe.ts fillTemplate. */
  summary: z.string().default('{who} {verb} {path} from {source}'),
  /** Fixed score of a rule hit (rules are certain; the score orders them among statistical signals). */
  score: z.number().positive().default(10),
  /**
   * Once a group has done this many times (within `routine_memory`), further hits are routine: they
   * become weak signals feeding compound identity risk instead of alerts. For changes an automation
   * identity (Terraform, a platform team's pipeline) makes all the time; null keeps every hit an alert.
   */
  routine_after: z.number().int().positive().nullable().default(null),
  /** How long a group's earlier hits are remembered for `routine_after`. */
  routine_memory: duration.default(90 * 86_400_000),
});

interface Routine {
  hits: number;
  lastAt: number;
}

/** One matching event is one signal: the analyzer behind the high-risk rule detectors. */
export const matchAnalyzer: Analyzer<z.infer<typeof params>> = {
  type: 'match',
  params,
  create(detector, p) {
    const routine = new GroupTable<Routine>(p.routine_memory);
    return {
      onEvent(event, groupKey, emit) {
        let weak = false;
        let hits = 0;
        if (p.routine_after !== null) {
          const r = routine.get(groupKey) ?? { hits: 0, lastAt: event.time };
          hits = r.hits;
          weak = r.hits >= p.routine_after;
          r.hits++;
          r.lastAt = event.time;
          routine.set(groupKey, r);
        }
        const signal = signalForEvent(detector, event, groupKey, {
          score: p.score,
          what: fillTemplate(p.summary, event),
          evidence: {
            observed: `${event.operation} ${event.path}`,
            expected: weak ? `routine for this identity (${hits} earlier)` : 'never without a change ticket',
            window: 'single event',
            outcome: event.outcome,
            ...(p.routine_after !== null ? { earlierHits: hits } : {}),
          },
        });
        if (weak) {
          // Routine: it still counts toward identity risk, with a moderate weight.
          signal.weak = true;
          signal.score = Math.min(p.score, 3);
          signal.headline = fillTemplate(p.summary, event);
        }
        emit(signal);
      },
      onTick(now) {
        routine.sweep(now);
      },
      size: () => routine.size,
      snapshot: () => (p.routine_after !== null ? routine.snapshot((r) => r) : undefined),
      restore(state) {
        if (state) routine.restore(state as { sweep: number; groups: [string, Routine][] }, (r) => r);
      },
    };
  },
};
