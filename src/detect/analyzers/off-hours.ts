import { z } from 'zod';
import type { AccessEvent } from '../../audit/event.js';
import { decayFactor } from '../../baseline/stats/decayed.js';
import { base64ToF32, f32ToBase64 } from '../../baseline/stats/codec.js';
import { duration } from '../../util/duration.js';
import { ZoneClock } from '../../util/timezone.js';
import type { Analyzer } from '../analyzer.js';
import { buildSignal, GroupTable, scoringParams, strengthOf, who } from './common.js';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

const params = z.strictObject({
  ...scoringParams,
  threshold: z.number().positive().default(4),
  weak_threshold: z.number().positive().nullable().default(2.5),
  warmup: duration.default(14 * 86_400_000),
  retention: duration.default(60 * 86_400_000),
  /** Working days and hours in the configured time zone; activity outside them is examined. */
  working_days: z.array(z.enum(DAYS)).default(['mon', 'tue', 'wed', 'thu', 'fri']),
  start_hour: z.number().int().min(0).max(23).default(7),
  end_hour: z.number().int().min(1).max(24).default(20),
  /** Events of history a group needs besides the warm-up time. */
  min_events: z.number().nonnegative().default(100),
  /** One signal per identity per this period of off-hours activity. */
  quiet_after: duration.default(6 * 3_600_000),
  half_life: duration.default(30 * 86_400_000),
});
type Params = z.infer<typeof params>;

interface Group {
  /** Decayed event counts: [0..23] working days by hour, [24..47] other days by hour. */
  hours: Float32Array;
  updated: number;
  since: number;
  lastAt: number;
  lastSignal: number;
}

/**
 * Activity outside working hours by an identity whose own history says it is rarely active then. The
 * comparison is with the identity's past, not with a fixed rule, so on-call engineers and night-shift
 * staff are learned and stay quiet, while a daytime identity acting at 03:00 stands out.
 */
export const offHoursAnalyzer: Analyzer<Params> = {
  type: 'off_hours',
  params,
  create(detector, p, env) {
    const clock = new ZoneClock(env.timeZone);
    const working = new Set(p.working_days.map((d) => DAYS.indexOf(d)));
    const table = new GroupTable<Group>(p.retention);

    return {
      onEvent(event: AccessEvent, groupKey, emit) {
        const t = event.time;
        let g = table.get(groupKey);
        if (!g) {
          g = { hours: new Float32Array(48), updated: t, since: t, lastAt: t, lastSignal: -Infinity };
          table.set(groupKey, g);
        }
        g.lastAt = t;
        const local = clock.local(t);
        const workday = working.has(local.weekday);
        const cell = (workday ? 0 : 24) + local.hour;
        const f = decayFactor(t - g.updated, p.half_life);
        let total = 0;
        let rowTotal = 0;
        for (let i = 0; i < 48; i++) {
          const v = (g.hours[i] ?? 0) * f;
          g.hours[i] = v;
          total += v;
          if (i < 24 === workday) rowTotal += v;
        }
        g.updated = Math.max(g.updated, t);
        const inCell = g.hours[cell] ?? 0;
        g.hours[cell] = inCell + 1;

        const offHours = !workday || local.hour < p.start_hour || local.hour >= p.end_hour;
        if (!offHours || t - g.lastSignal < p.quiet_after) return;
        if (t - g.since < p.warmup || total < p.min_events) return;
        // Share of this identity's activity (on this kind of day) that falls in this hour, smoothed.
        const share = (inCell + 0.5) / (rowTotal + 12);
        const score = -Math.log10(share);
        const strength = strengthOf(score, p);
        if (strength === 'none') return;
        g.lastSignal = t;
        const hh = String(local.hour).padStart(2, '0');
        const mm = String(Math.floor(((t + local.offsetMinutes * 60_000) % 3_600_000) / 60_000)).padStart(
          2,
          '0',
        );
        const day = DAYS[local.weekday] ?? '?';
        const pct = share < 0.001 ? '< 0.1 %' : `${Math.round(share * 1000) / 10} %`;
        emit(
          buildSignal(detector, event, groupKey, {
            score,
            strength,
            what: `${who(event)} was active at ${hh}:${mm} (${env.timeZone}, ${day}), outside working hours; only ${pct} of its activity on such days falls in this hour`,
            headline: `activity at ${hh}:${mm} ${env.timeZone}, unusual for it`,
            eventCount: 1,
            evidence: {
              observed: `${day} ${hh}:${mm} ${env.timeZone}`,
              expected: `${p.start_hour}:00–${p.end_hour}:00 on ${p.working_days.join(', ')}`,
              window: 'single event',
              shareOfActivity: Math.round(share * 1e4) / 1e4,
              historyEvents: Math.round(total),
            },
          }),
        );
      },
      onTick(now) {
        table.sweep(now);
      },
      size: () => table.size,
      snapshot: () =>
        table.snapshot((g) => ({
          h: f32ToBase64(g.hours),
          u: g.updated,
          s: g.since,
          l: g.lastAt,
          x: g.lastSignal,
        })),
      restore(state) {
        table.restore(
          state as {
            sweep: number;
            groups: [string, { h: string; u: number; s: number; l: number; x: number }][];
          },
          (j) => ({
            hours: base64ToF32(j.h, 48, 'hours'),
            updated: j.u,
            since: j.s,
            lastAt: j.l,
            lastSignal: j.x,
          }),
        );
      },
    };
  },
};
