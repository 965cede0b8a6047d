import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DecayedCounter, DecayedStats, decayFactor } from '../../../../src/baseline/stats/decayed.js';
import { checkReplay, rng } from './helpers.js';

const H = 3_600_000; // 1 h half-life
const T0 = 1_700_000_000_000;

/** Brute force: weights 2^(−(T − tᵢ)/H) over the whole history, weighted mean and population variance. */
function bruteStats(obs: Array<[number, number]>, at: number, halfLife: number) {
  let w = 0;
  let sx = 0;
  for (const [x, t] of obs) {
    const wi = Math.pow(2, -(at - t) / halfLife);
    w += wi;
    sx += wi * x;
  }
  const mean = sx / w;
  let sv = 0;
  for (const [x, t] of obs) sv += Math.pow(2, -(at - t) / halfLife) * (x - mean) ** 2;
  return { mean, variance: sv / w, weight: w };
}

describe('DecayedStats', () => {
  it('matches brute-force weighted mean, variance and weight over irregular times', () => {
    const rand = rng(7);
    const s = new DecayedStats(H);
    const obs: Array<[number, number]> = [];
    let t = T0;
    for (let i = 0; i < 500; i++) {
      t += Math.floor(rand() * 3 * H * (rand() < 0.2 ? 0 : 1)); // some bursts at the same instant
      const x = 10 + 5 * rand() + (i > 300 ? 20 : 0);
      s.observe(x, t);
      obs.push([x, t]);
    }
    const want = bruteStats(obs, t, H);
    expect(s.mean).toBeCloseTo(want.mean, 9);
    expect(s.variance).toBeCloseTo(want.variance, 8);
    expect(s.weight).toBeCloseTo(want.weight, 9);
    expect(s.lastAt).toBe(t);
    // Reads decay the weight without mutating.
    expect(s.weightAt(t + H)).toBeCloseTo(want.weight / 2, 9);
    expect(s.weight).toBeCloseTo(want.weight, 9);
  });

  it('is the EWMA with α = 1 − 2^(−Δ/H) once the weight has saturated (and has no start-up bias)', () => {
    const s = new DecayedStats(H);
    const dt = H / 4;
    const alpha = 1 - Math.pow(2, -dt / H);
    s.observe(100, T0);
    expect(s.mean).toBe(100); // an EWMA started at 0 would say 100·α
    let ewma = 100;
    for (let i = 1; i <= 400; i++) {
      const x = 100 + 10 * Math.sin(i);
      s.observe(x, T0 + i * dt);
      ewma += alpha * (x - ewma);
    }
    expect(s.weight).toBeCloseTo(1 / alpha, 6);
    expect(s.mean).toBeCloseTo(ewma, 6);
  });

  it('halves the weight after one half-life; decayFactor semantics', () => {
    expect(decayFactor(H, H)).toBe(0.5);
    expect(decayFactor(0, H)).toBe(1);
    expect(decayFactor(-5, H)).toBe(1);
    const s = new DecayedStats(H);
    s.observe(1, T0);
    s.observe(3, T0);
    expect(s.weight).toBe(2);
    expect(s.mean).toBe(2);
    expect(s.variance).toBe(1);
    s.decayTo(T0 + 2 * H);
    expect(s.weight).toBe(0.5);
    expect(s.lastAt).toBe(T0 + 2 * H);
    expect(s.mean).toBe(2);
  });

  it('treats out-of-order times as lastAt and ignores non-finite input', () => {
    const a = new DecayedStats(H);
    const b = new DecayedStats(H);
    a.observe(5, T0 + H);
    b.observe(5, T0 + H);
    a.observe(9, T0); // late
    b.observe(9, T0 + H);
    expect(a.toJSON()).toEqual(b.toJSON());
    a.observe(Number.NaN, T0 + 2 * H);
    a.observe(1, Number.POSITIVE_INFINITY);
    a.observe(1, T0 + 2 * H, -1);
    expect(a.toJSON()).toEqual(b.toJSON());
    a.observe(7, T0 + 3 * H, 0); // weight 0 only advances time
    expect(a.mean).toBe(b.mean);
    expect(a.lastAt).toBe(T0 + 3 * H);
    expect(a.weight).toBeCloseTo(b.weight / 4, 12);
  });

  it('validates configuration and snapshots', () => {
    expect(() => new DecayedStats(0)).toThrow(RangeError);
    expect(() => DecayedStats.from({ m: 1, v: -1, w: 1, t: 0 }, H)).toThrow(/negative/);
    expect(() => DecayedStats.from({ m: 1, v: 0, w: 1 } as never, H)).toThrow(/t is not a finite number/);
  });

  it('snapshot → restore → continue equals an uninterrupted run (property)', () => {
    const op = fc.record({
      kind: fc.constantFrom('observe', 'observe', 'observe', 'decay', 'read'),
      x: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
      dt: fc.integer({ min: -2 * H, max: 10 * H }),
      w: fc.constantFrom(1, 1, 0.5, 0),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.nat(60), (ops, cutRaw) => {
        let t = T0;
        const timed = ops.map((o) => ({ ...o, at: (t += o.dt) }));
        checkReplay(
          () => new DecayedStats(H),
          (snap) => DecayedStats.from(snap as never, H),
          timed,
          Math.min(cutRaw, timed.length),
          (s, o) => {
            if (o.kind === 'observe') s.observe(o.x, o.at, o.w);
            else if (o.kind === 'decay') s.decayTo(o.at);
            return [s.mean, s.variance, s.weightAt(o.at + H), s.lastAt];
          },
          (a, b) => expect(a).toEqual(b),
        );
      }),
      { numRuns: 200 },
    );
  });
});

describe('DecayedCounter', () => {
  it('converges to the true rate for steady traffic and decays when traffic stops', () => {
    const c = new DecayedCounter(H);
    const perMinute = 12;
    let t = T0;
    for (let i = 0; i < 12 * 60 * 24; i++) {
      t += 5_000; // one event every 5 s = 12/min
      c.add(t);
    }
    expect(c.rateAt(t, 60_000)).toBeCloseTo(perMinute, 1);
    expect(c.valueAt(t + H)).toBeCloseTo(c.value / 2, 9);
    expect(c.rateAt(t + 3 * H, 60_000)).toBeCloseTo(perMinute / 8, 1);
  });

  it('adds batches, ignores invalid input and late times do not decay backwards', () => {
    const c = new DecayedCounter(H);
    c.add(T0 + H, 4);
    c.add(T0, 2); // late: counted at lastAt
    expect(c.value).toBe(6);
    expect(c.lastAt).toBe(T0 + H);
    c.add(T0 + 2 * H, -3);
    c.add(Number.NaN, 1);
    expect(c.value).toBe(6);
    c.decayTo(T0 + 2 * H);
    expect(c.value).toBe(3);
  });

  it('snapshot round-trip is exact (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: -H, max: 5 * H }), n: fc.nat(50) }), { maxLength: 50 }),
        fc.nat(50),
        (ops, cut) => {
          let t = T0;
          const timed = ops.map((o) => ({ ...o, at: (t += o.dt) }));
          checkReplay(
            () => new DecayedCounter(H),
            (snap) => DecayedCounter.from(snap as never, H),
            timed,
            Math.min(cut, timed.length),
            (c, o) => {
              c.add(o.at, o.n);
              return [c.value, c.rateAt(o.at + 1000)];
            },
            (a, b) => expect(a).toEqual(b),
          );
        },
      ),
      { numRuns: 150 },
    );
  });
});
