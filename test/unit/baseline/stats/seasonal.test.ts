import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  SeasonalRate,
  localDay,
  localHour,
  seasonalConfig,
  type SeasonalOptions,
} from '../../../../src/baseline/stats/seasonal.js';
import { checkReplay, negBinomial, poisson, rng } from './helpers.js';

const MIN5 = 300_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const MONDAY = Date.UTC(2024, 0, 1); // 2024-01-01 was a Monday

// Office-hours human: busy 09–18, shoulder 07–09 and 18–20, quiet nights; weekends at 30 %.
const HOUR_SHAPE = Array.from({ length: 24 }, (_, h) => (h >= 9 && h < 18 ? 3 : h >= 7 && h < 20 ? 1 : 0.3));
const DAY_SHAPE = [0.3, 1.2, 1.2, 1.2, 1.2, 1.2, 0.3]; // Sunday first
const normalise = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.map((x) => x / m);
};
const G = normalise(HOUR_SHAPE);
const E = normalise(DAY_SHAPE);

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function quantile(xs: number[], q: number): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
}

/** Feed `weeks` weeks of 5-minute Poisson windows with mean base·G[h]·E[d] in the zone `tz`. */
function learnDiurnal(opts: SeasonalOptions, dataTz: number, base: number, weeks: number, seed: number) {
  const rand = rng(seed);
  const s = new SeasonalRate(opts);
  const relErrLastWeek: number[] = [];
  const n = (weeks * 7 * DAY) / MIN5;
  for (let i = 0; i < n; i++) {
    const t = MONDAY + i * MIN5;
    const mu = base * (G[localHour(t, dataTz)] ?? 0) * (E[localDay(t, dataTz)] ?? 0);
    if (i >= n - (7 * DAY) / MIN5) relErrLastWeek.push(Math.abs(s.expected(t).mean - mu) / mu);
    s.observe(poisson(rand, mu), t);
  }
  return { s, relErrLastWeek };
}

describe('local time helpers', () => {
  it('follow Date in UTC and shifted zones (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        fc.integer({ min: -720, max: 840 }),
        (t, tz) => {
          const shifted = new Date(t + tz * 60_000);
          expect(localHour(t, tz)).toBe(shifted.getUTCHours());
          expect(localDay(t, tz)).toBe(shifted.getUTCDay());
        },
      ),
    );
    expect(localDay(MONDAY)).toBe(1);
    expect(localHour(MONDAY - 1)).toBe(23);
    expect(localDay(-1)).toBe(3); // 1969-12-31 was a Wednesday
  });
});

describe('SeasonalRate learning', () => {
  it('starts flat and honest about having no history', () => {
    const s = new SeasonalRate({ windowMs: MIN5 });
    expect(s.expected(MONDAY)).toEqual({ mean: 0, dispersion: 1, weight: 0, factor: 1 });
    s.observe(4, MONDAY);
    const e = s.expected(MONDAY + MIN5);
    expect(e.mean).toBeCloseTo(4, 12);
    expect(e.weight).toBeCloseTo(1, 3); // one window, decayed by 5 minutes of a 7-day half-life
  });

  it('converges to the true diurnal × weekly shape (6 weeks of 5-minute windows)', () => {
    const { s, relErrLastWeek } = learnDiurnal({ windowMs: MIN5 }, 0, 20, 6, 1);
    const hour = s.hourFactors();
    const day = s.dayFactors();
    // Busy hours within ±7 %; quiet hours (true factor 0.22) sit up to 25 % high by design: shrinkage toward 1
    // with n ≈ 300 windows of evidence and k = 8 alone gives (300·0.22 + 8)/308 = 0.24 (+9 %), and what
    // was learned in the first weeks (while the base settled) still carries ~35 % of the weight.
    for (let h = 0; h < 24; h++) {
      const ratio = (hour[h] ?? 0) / (G[h] ?? 1);
      const quiet = (G[h] ?? 0) < 0.5;
      expect(ratio, `hour ${h}`).toBeGreaterThan(quiet ? 0.9 : 0.93);
      expect(ratio, `hour ${h}`).toBeLessThan(quiet ? 1.3 : 1.07);
    }
    for (let d = 0; d < 7; d++) {
      const ratio = (day[d] ?? 0) / (E[d] ?? 1);
      expect(ratio, `day ${d}`).toBeGreaterThan(0.94);
      expect(ratio, `day ${d}`).toBeLessThan(1.06);
    }
    expect(hour.reduce((a, b) => a + b, 0) / 24).toBeCloseTo(1, 10);
    expect(day.reduce((a, b) => a + b, 0) / 7).toBeCloseTo(1, 10);
    // The base is the de-seasonalised level (≈ 20 per window).
    expect(s.base).toBeGreaterThan(18);
    expect(s.base).toBeLessThan(22);
    // Expected counts during the last week: typically within 10 %, nearly always within 25 %.
    expect(median(relErrLastWeek)).toBeLessThan(0.1);
    expect(quantile(relErrLastWeek, 0.9)).toBeLessThan(0.25);
    // Poisson data with a well-fitting model: dispersion far above the NB-fat-tail range.
    expect(s.dispersion()).toBeGreaterThan(10);
  });

  it('with light shrinkage (k = 1) the learned profile is within a few percent of the truth', () => {
    const { s, relErrLastWeek } = learnDiurnal({ windowMs: MIN5, shrinkK: 1 }, 0, 20, 6, 4);
    const hour = s.hourFactors();
    const day = s.dayFactors();
    for (let h = 0; h < 24; h++)
      expect(Math.abs((hour[h] ?? 0) / (G[h] ?? 1) - 1), `hour ${h}`).toBeLessThan(0.1);
    for (let d = 0; d < 7; d++)
      expect(Math.abs((day[d] ?? 0) / (E[d] ?? 1) - 1), `day ${d}`).toBeLessThan(0.05);
    expect(median(relErrLastWeek)).toBeLessThan(0.04);
  });

  it('beats a flat baseline by a wide margin on the same data', () => {
    const { s } = learnDiurnal({ windowMs: MIN5 }, 0, 20, 4, 2);
    const busy = MONDAY + 4 * 7 * DAY + 10 * HOUR; // Monday 10:00
    const night = MONDAY + 4 * 7 * DAY + 3 * HOUR; // Monday 03:00
    const truth = (t: number) => 20 * (G[localHour(t)] ?? 0) * (E[localDay(t)] ?? 0);
    expect(s.expected(busy).mean / truth(busy)).toBeGreaterThan(0.85);
    expect(s.expected(busy).mean / truth(busy)).toBeLessThan(1.15);
    expect(s.expected(night).mean / truth(night)).toBeGreaterThan(0.8);
    expect(s.expected(night).mean / truth(night)).toBeLessThan(1.3);
    expect(s.expected(busy).mean / s.expected(night).mean).toBeGreaterThan(7); // true ratio 10
  });

  it('hour of day follows the configured time zone', () => {
    const tz = 330; // UTC+05:30
    const right = learnDiurnal({ windowMs: MIN5, tzOffsetMinutes: tz }, tz, 10, 3, 3).s.hourFactors();
    const wrong = learnDiurnal({ windowMs: MIN5 }, tz, 10, 3, 3).s.hourFactors();
    // With the right zone, local 10:00 (busy) and local 03:00 (quiet) are where they should be.
    expect(right[10] ?? 0).toBeGreaterThan(2 * (G[10] ?? 0) * 0.4);
    expect((right[10] ?? 0) / (right[3] ?? 1)).toBeGreaterThan(6);
    // In UTC the same data is shifted by 5.5 h: 03:30–04:30 UTC is local 09–10 (busy).
    expect((wrong[4] ?? 0) / (right[4] ?? 1)).toBeGreaterThan(3);
  });

  it('estimates dispersion by the method of moments: NB r = 2 ≈ 2, Poisson large, constant → upper clamp', () => {
    const windows = (4 * 7 * DAY) / MIN5;
    const make = () => new SeasonalRate({ windowMs: MIN5 });
    const nb = make();
    const pois = make();
    const cron = make();
    const rand = rng(11);
    for (let i = 0; i < windows; i++) {
      const t = MONDAY + i * MIN5;
      nb.observe(negBinomial(rand, 10, 2), t);
      pois.observe(poisson(rand, 10), t);
      cron.observe(12, t);
    }
    expect(nb.dispersion()).toBeGreaterThan(1.5);
    expect(nb.dispersion()).toBeLessThan(2.7);
    expect(pois.dispersion()).toBeGreaterThan(30);
    expect(cron.dispersion()).toBe(1e4);
    expect(cron.expected(MONDAY + windows * MIN5).mean).toBeCloseTo(12, 3);
  });

  it('honours the observation weight and ignores invalid input', () => {
    const s = new SeasonalRate({ windowMs: MIN5 });
    for (let i = 0; i < 100; i++) s.observe(5, MONDAY + i * MIN5);
    const baseBefore = s.base;
    s.observe(500, MONDAY + 100 * MIN5, 0); // flagged window: time advances, nothing learned
    expect(s.base).toBeCloseTo(baseBefore, 12);
    expect(s.updatedAt).toBe(MONDAY + 100 * MIN5);
    const snap = JSON.stringify(s.toJSON());
    s.observe(-1, MONDAY + 101 * MIN5);
    s.observe(Number.NaN, MONDAY + 101 * MIN5);
    s.observe(3, Number.NaN);
    s.observe(3, MONDAY + 101 * MIN5, -2);
    expect(JSON.stringify(s.toJSON())).toBe(snap);
  });

  it('late windows learn their own cells but do not move time backwards', () => {
    const s = new SeasonalRate({ windowMs: HOUR });
    s.observe(10, MONDAY + 5 * HOUR);
    s.observe(10, MONDAY + 2 * HOUR); // late
    expect(s.updatedAt).toBe(MONDAY + 5 * HOUR);
    expect(s.expected(MONDAY + 5 * HOUR).weight).toBeCloseTo(2, 12);
  });
});

describe('SeasonalRate configuration and snapshots', () => {
  it('validates options and shares one config per options object', () => {
    expect(() => new SeasonalRate({ windowMs: 0 })).toThrow(RangeError);
    expect(() => new SeasonalRate({ windowMs: MIN5, shrinkK: 0 })).toThrow(/shrinkK/);
    expect(() => new SeasonalRate({ windowMs: MIN5, tzOffsetMinutes: 2000 })).toThrow(/tzOffsetMinutes/);
    expect(() => new SeasonalRate({ windowMs: MIN5, minDispersion: 5, maxDispersion: 1 })).toThrow(
      /Dispersion/,
    );
    const opts = { windowMs: MIN5 };
    expect(new SeasonalRate(opts).config).toBe(new SeasonalRate(opts).config);
    expect(seasonalConfig(opts).baseHalfLifeMs).toBe(7 * DAY);
  });

  it('rejects corrupt snapshots', () => {
    const s = new SeasonalRate({ windowMs: MIN5 });
    s.observe(3, MONDAY);
    const good = s.toJSON();
    expect(() => SeasonalRate.from({ ...good, f: good.f.slice(0, 20) }, { windowMs: MIN5 })).toThrow(/bytes/);
    expect(() => SeasonalRate.from({ ...good, x: Number.NaN }, { windowMs: MIN5 })).toThrow(/x is not/);
    expect(() => SeasonalRate.from({ ...good, w: -1 }, { windowMs: MIN5 })).toThrow(/negative/);
    expect(SeasonalRate.from(good, { windowMs: MIN5 }).toJSON()).toEqual(good);
  });

  it('snapshot → restore → continue equals an uninterrupted run (property)', () => {
    const opts: SeasonalOptions = { windowMs: HOUR, baseHalfLifeMs: 2 * DAY, factorHalfLifeMs: 5 * DAY };
    const op = fc.record({
      count: fc.oneof(fc.nat(5), fc.nat(500)),
      step: fc.oneof(fc.constant(1), fc.constant(1), fc.integer({ min: -3, max: 200 })),
      w: fc.constantFrom(1, 1, 1, 0.25, 0),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), fc.nat(80), (ops, cut) => {
        let t = MONDAY;
        const timed = ops.map((o) => ({ ...o, at: (t += o.step * HOUR) }));
        checkReplay(
          () => new SeasonalRate(opts),
          (snap) => SeasonalRate.from(snap as never, opts),
          timed,
          Math.min(cut, timed.length),
          (s, o) => {
            const before = s.expected(o.at);
            s.observe(o.count, o.at, o.w);
            return [before, s.base, s.dispersion(), s.hourFactors(o.at + DAY), s.dayFactors()];
          },
          (a, b) => expect(a).toEqual(b),
        );
      }),
      { numRuns: 100 },
    );
  });
});
