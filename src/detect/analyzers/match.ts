import { z } from 'zod';
import type { Analyzer } from '../analyzer.js';
import { fillTemplate, signalForEvent } from '../describe.js';

const params = z.strictObject({
  /** Sentence describing the event; placeholders as in describe.ts fillTemplate. */
  summary: z.string().default('{who} {verb} {path} from {source}'),
  /** Fixed score of a rule hit (rules are certain; the score orders them among statistical signals). */
  score: z.number().positive().default(10),
});

/** One matching event is one signal: the analyzer behind the high-risk rule detectors. */
export const matchAnalyzer: Analyzer<z.infer<typeof params>> = {
  type: 'match',
  params,
  create(detector, p) {
    return {
      onEvent(event, groupKey, emit) {
        const what = fillTemplate(p.summary, event);
        emit(
          signalForEvent(detector, event, groupKey, {
            score: p.score,
            what,
            evidence: {
              observed: `${event.operation} ${event.path}`,
              expected: 'never without a change ticket',
              window: 'single event',
              outcome: event.outcome,
            },
          }),
        );
      },
    };
  },
};
