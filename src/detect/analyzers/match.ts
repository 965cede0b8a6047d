import { z } from 'zod';
import { SEVERITIES, type AccessEvent, type Severity } from '../../audit/event.js';
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
   * Once this has been done this many times (within `routine_memory`), further hits are routine: they
   * become weak signals feeding compound identity risk instead of alerts. For changes an automation
   * identity (Terraform, a platform team's pipeline) or an admin team makes all the time; null keeps
   * every hit an alert.
   */
  routine_after: z.number().int().positive().nullable().default(null),
  /**
   * Whose history makes a hit routine: `group` — the detector's group (usually the identity);
   * `role` — every identity holding the same set of policies, so that a team of administrators who
   * share an admin policy, each editing now and then, is learned as one routine rather than each
   * person's first changes alerting.
   */
  routine_scope: z.enum(['group', 'role']).default('group'),
  /** How long earlier hits are remembered for `routine_after`. */
  routine_memory: duration.default(90 * 86_400_000),
  /**
   * Operations that are context, not hits: the detector's match lets them through so that they count
   * toward `routine_after` (at most once per day per routine), and they never signal. For policy
   * changes, `[read, list]`: a team that looks after the ACL policies every week has made them its
   * work even before Vigil saw it change one, so its first change is not an alert. A day, not an event,
   * is the unit, so no burst of reads can make itself routine within minutes.
   */
  routine_context: z.array(z.enum(['read', 'list', 'scan'])).default([]),
  /**
   * For policy paths: a change to a policy the writer's own token holds (the last path segment is one
   * of its policies) applies to the writer at once — self-granted access. Such a hit is never routine
   * and is raised to `self_grant_severity`.
   */
  self_grant: z.boolean().default(false),
  self_grant_severity: z.enum(SEVERITIES as [string, ...string[]]).default('critical'),
});

interface Routine {
  /** Hits ever (kept for older checkpoints, which hold no times). */
  hits: number;
  lastAt: number;
  /** Times of the latest hits (at most KEPT); those older than `routine_memory` no longer count. */
  recent?: number[];
  /**
   * The latest days (UTC days since the epoch, ascending, at most KEPT) with context events
   * (`routine_context`). Only a later day is added, so events arriving out of order around midnight
   * cannot count a day twice; days older than `routine_memory` no longer count.
   */
  days?: number[];
}

const DAY_MS = 86_400_000;
/** Hit times and context days kept per routine: enough to say how many there were, bounded. */
const KEPT = 64;

/** The policy set an identity acts with, as a role name ("default" is everyone's, so it is left out). */
function roleOf(event: AccessEvent): string | undefined {
  const policies = event.identity.policies.filter((p) => p !== 'default');
  return policies.length > 0 ? `role:${[...new Set(policies)].sort().join(',')}` : undefined;
}

/** The policy a policy path names, when the writer holds it itself. */
function ownPolicyWritten(event: AccessEvent): string | undefined {
  const name = event.path.slice(event.path.lastIndexOf('/') + 1);
  return name && name !== 'default' && event.identity.policies.includes(name) ? name : undefined;
}

/** One matching event is one signal: the analyzer behind the high-risk rule detectors. */
export const matchAnalyzer: Analyzer<z.infer<typeof params>> = {
  type: 'match',
  params,
  create(detector, p) {
    const routine = new GroupTable<Routine>(p.routine_memory);
    const context = new Set<string>(p.routine_context);
    /** The routine an event adds to: its role's, or its group's. */
    const routineOf = (event: AccessEvent, groupKey: string, role: string | undefined): Routine => {
      const key = role ?? groupKey;
      let r = routine.get(key);
      if (!r) {
        r = { hits: 0, lastAt: event.time };
        routine.set(key, r);
      }
      return r;
    };
    return {
      onEvent(event, groupKey, emit) {
        if (context.has(event.operation)) {
          if (p.routine_after === null) return;
          const r = routineOf(event, groupKey, p.routine_scope === 'role' ? roleOf(event) : undefined);
          const day = Math.floor(event.time / DAY_MS);
          const days = (r.days ??= []);
          if (days.length === 0 || day > (days[days.length - 1] as number)) {
            days.push(day);
            if (days.length > KEPT) days.shift();
          }
          r.lastAt = Math.max(r.lastAt, event.time);
          return;
        }
        const selfGranted = p.self_grant ? ownPolicyWritten(event) : undefined;
        let weak = false;
        let hits = 0;
        let days = 0;
        const role = p.routine_scope === 'role' ? roleOf(event) : undefined;
        if (p.routine_after !== null) {
          const r = routineOf(event, groupKey, role);
          const recent = (r.recent ??= []);
          hits = recent.filter((at) => event.time - at <= p.routine_memory).length;
          const today = Math.floor(event.time / DAY_MS);
          days = (r.days ?? []).filter((d) => (today - d) * DAY_MS <= p.routine_memory).length;
          weak = hits + days >= p.routine_after && selfGranted === undefined;
          r.hits++;
          recent.push(event.time);
          if (recent.length > KEPT) recent.shift();
          r.lastAt = event.time;
        }
        const what =
          fillTemplate(p.summary, event) +
          (selfGranted !== undefined
            ? `, a policy its own token holds: whatever the policy now allows, it has granted itself`
            : '');
        const routineFor = role ? `holders of ${role.slice('role:'.length)}` : 'this identity';
        const signal = signalForEvent(detector, event, groupKey, {
          score: p.score,
          what,
          evidence: {
            observed: `${event.operation} ${event.path}`,
            expected: weak
              ? `routine for ${routineFor} (${hits} earlier${days > 0 ? `, and ${days} days of ${p.routine_context.join('/')} work` : ''})`
              : 'never without a change ticket',
            window: 'single event',
            outcome: event.outcome,
            ...(p.routine_after !== null ? { earlierHits: hits } : {}),
            ...(days > 0 ? { contextDays: days } : {}),
            ...(selfGranted !== undefined ? { selfGranted: true, ownPolicy: selfGranted } : {}),
          },
        });
        if (selfGranted !== undefined) signal.severity = p.self_grant_severity as Severity;
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
        if (!state) return;
        routine.restore(state as { sweep: number; groups: [string, Routine][] }, (r) =>
          r.recent ? r : { ...r, recent: new Array<number>(Math.min(r.hits, KEPT)).fill(r.lastAt) },
        );
      },
    };
  },
};
