import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MAX_PENDING_WINDOWS,
  SlidingCounter,
  SlidingDistinct,
  type SlidingDistinctOptions,
} from '../../../../src/baseline/stats/sliding.js';
import { SeasonalRate } from '../../../../src/baseline/stats/seasonal.js';
import { checkReplay, rng } from './helpers.js';

const MIN = 60_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % (60 * MIN)); // hour-aligned
const OPTS = { windowMs: 15 * MIN, buckets: 15 };

type Window = [number, number];

function drainAll(c: SlidingCounter, at: number, maxEmpty?: number): { windows: Window[]; skipped: number } {
  const windows: Window[] = [];
  const skipped = c.drainClosed(at, (start, count) => windows.push([start, count]), maxEmpty);
  return { windows, skipped };
}

describe('SlidingCounter', () => {
  it('counts the sub-buckets of the last W and forgets older ones', () => {
    const c = new SlidingCounter(OPTS);
    c.add(T0);
    c.add(T0 + 30_000, 2);
    c.add(T0 + 5 * MIN);
    expect(c.count(T0 + 5 * MIN)).toBe(4);
    expect(c.count(T0 + 14 * MIN + 59_999)).toBe(4);
    expect(c.count(T0 + 15 * MIN)).toBe(1); // first minute bucket left the window
    expect(c.count(T0 + 20 * MIN)).toBe(0);
    expect(c.count(Number.NaN)).toBe(0);
    c.add(T0 + 100 * MIN);
    expect(c.count(T0 + 100 * MIN)).toBe(1);
    // Invalid input is ignored.
    c.add(T0 + 100 * MIN, -1);
    c.add(T0 + 100 * MIN, 1.5);
    c.add(Number.NaN);
    expect(c.count(T0 + 100 * MIN)).toBe(1);
    expect(() => new SlidingCounter({ windowMs: 1000, buckets: 3 })).toThrow(/divisible/);
    expect(() => new SlidingCounter({ windowMs: 0, buckets: 1 })).toThrow(RangeError);
  });

  it('equals a brute-force count of the accepted events (property)', () => {
    const ev = fc.record({
      dt: fc.integer({ min: -20 * MIN, max: 6 * MIN }),
      n: fc.nat(3),
      q: fc.nat(20 * MIN),
    });
    fc.assert(
      fc.property(fc.array(ev, { maxLength: 120 }), (evs) => {
        const c = new SlidingCounter(OPTS);
        const bucketMs = MIN;
        const accepted: Array<[number, number]> = [];
        let head = Number.NEGATIVE_INFINITY;
        let newest = T0;
        let t = T0;
        for (const e of evs) {
          t = Math.max(T0, t + e.dt);
          c.add(t, e.n);
          const b = Math.floor(t / bucketMs);
          head = Math.max(head, b);
          if (b > head - 15) accepted.push([b, e.n]);
          newest = Math.max(newest, t);
          const at = newest + e.q; // queries at or after the newest event
          const qb = Math.floor(at / bucketMs);
          const want = accepted.reduce(
            (s, [bb, n]) => (bb > qb - 15 && bb <= qb && bb > head - 15 ? s + n : s),
            0,
          );
          expect(c.count(at)).toBe(want);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('reports every closed fixed window once, in order, empty ones included (property)', () => {
    const op = fc.record({ dt: fc.nat(40 * MIN), n: fc.nat(4), drain: fc.boolean() });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 80 }), (ops) => {
        const c = new SlidingCounter(OPTS);
        const W = OPTS.windowMs;
        const perWindow = new Map<number, number>();
        const got: Window[] = [];
        let t = T0;
        for (const o of ops) {
          t += o.dt;
          c.add(t, o.n);
          const w = Math.floor(t / W);
          perWindow.set(w, (perWindow.get(w) ?? 0) + o.n);
          if (o.drain) got.push(...drainAll(c, t).windows);
        }
        const end = t + 3 * W;
        got.push(...drainAll(c, end).windows);
        const first = Math.floor((T0 + (ops[0]?.dt ?? 0)) / W);
        const last = Math.floor(end / W) - 1;
        const want: Window[] = [];
        for (let w = first; w <= last; w++) want.push([w * W, perWindow.get(w) ?? 0]);
        expect(got).toEqual(want);
        expect(c.dropped).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it('drives a SeasonalRate exactly like feeding it the per-window counts directly', () => {
    const opts = { windowMs: 5 * MIN, buckets: 5 };
    const counter = new SlidingCounter(opts);
    const viaDrain = new SeasonalRate({ windowMs: 5 * MIN });
    const direct = new SeasonalRate({ windowMs: 5 * MIN });
    const rand = rng(21);
    const perWindow = new Map<number, number>();
    let t = T0;
    for (let i = 0; i < 3_000; i++) {
      t += Math.floor(-Math.log(1 - rand()) * 90_000); // Poisson process, ~40 events/hour
      counter.add(t);
      counter.drainClosed(t, (start, n) => viaDrain.observe(n, start));
      const w = Math.floor(t / opts.windowMs) * opts.windowMs;
      perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
    }
    const end = Math.floor(t / opts.windowMs) * opts.windowMs; // the window holding t is still open
    const first = Math.min(...perWindow.keys());
    for (let w = first; w < end; w += opts.windowMs) direct.observe(perWindow.get(w) ?? 0, w);
    expect(viaDrain.toJSON()).toEqual(direct.toJSON());
    expect(viaDrain.updatedAt).toBe(end - opts.windowMs);
  });

  it('caps long empty gaps and reports how many were skipped', () => {
    const c = new SlidingCounter(OPTS);
    const W = OPTS.windowMs;
    c.add(T0, 3);
    c.add(T0 + 1000 * W, 2); // 999 empty windows in between
    const { windows, skipped } = drainAll(c, T0 + 1001 * W, 10);
    expect(skipped).toBe(989);
    expect(windows[0]).toEqual([T0, 3]);
    expect(windows.slice(1, 11).every(([, n]) => n === 0)).toBe(true);
    expect(windows[1]?.[0]).toBe(T0 + 990 * W);
    expect(windows[11]).toEqual([T0 + 1000 * W, 2]);
    expect(windows.length).toBe(12);
    // Idle identity, nothing pending: a later drain reports the empty windows since, capped again.
    const again = drainAll(c, T0 + 5000 * W, 5);
    expect(again.windows.length).toBe(5);
    expect(again.skipped).toBe(3999 - 5);
    expect(drainAll(c, T0 + 5000 * W).windows).toEqual([]);
  });

  it('credits late events to their window until it is reported, then counts them as dropped', () => {
    const c = new SlidingCounter(OPTS);
    const W = OPTS.windowMs;
    c.add(T0 + 2 * MIN);
    c.add(T0 + W + MIN); // closes window 0
    c.add(T0 + 3 * MIN, 4); // late, window 0 still pending
    c.add(T0 + 3 * W, 1); // closes window 1; window 2 will be empty
    c.add(T0 + 2 * W + 2 * MIN, 5); // late into the never-opened window 2
    expect(c.count(T0 + 3 * W)).toBe(6); // window 2's event is within the last 15 minutes
    const { windows } = drainAll(c, T0 + 4 * W);
    expect(windows).toEqual([
      [T0, 5],
      [T0 + W, 1],
      [T0 + 2 * W, 5],
      [T0 + 3 * W, 1],
    ]);
    c.add(T0 + 2 * MIN, 7); // window 0 was reported
    expect(c.dropped).toBe(7);
    expect(drainAll(c, T0 + 4 * W).windows).toEqual([]);
  });

  it('bounds undrained windows and accounts for the overflow', () => {
    const c = new SlidingCounter(OPTS);
    const W = OPTS.windowMs;
    for (let i = 0; i <= MAX_PENDING_WINDOWS + 5; i++) c.add(T0 + i * W, 1);
    expect(c.dropped).toBe(5);
    const { windows } = drainAll(c, T0 + (MAX_PENDING_WINDOWS + 6) * W);
    expect(windows.length).toBe(MAX_PENDING_WINDOWS + 1);
    expect(windows[0]?.[0]).toBe(T0 + 5 * W);
  });

  it('snapshot → restore → continue equals an uninterrupted run (property)', () => {
    const op = fc.record({
      kind: fc.constantFrom('add', 'add', 'add', 'count', 'drain'),
      dt: fc.integer({ min: -20 * MIN, max: 30 * MIN }),
      n: fc.nat(5),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), fc.nat(80), (ops, cut) => {
        let t = T0;
        const timed = ops.map((o) => ({ ...o, at: (t = Math.max(T0, t + o.dt)) }));
        checkReplay(
          () => new SlidingCounter(OPTS),
          (snap) => SlidingCounter.from(snap as never, OPTS),
          timed,
          Math.min(cut, timed.length),
          (c, o) => {
            if (o.kind === 'add') c.add(o.at, o.n);
            if (o.kind === 'drain') return [drainAll(c, o.at, 20), c.dropped];
            return c.count(o.at + MIN);
          },
          (a, b) => expect(a).toEqual(b),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('rejects corrupt snapshots', () => {
    const c = new SlidingCounter(OPTS);
    c.add(T0);
    const snap = c.toJSON();
    expect(() => SlidingCounter.from({ ...snap, r: [1, 2] }, OPTS)).toThrow(/ring/);
    expect(() => SlidingCounter.from({ ...snap, p: [1] }, OPTS)).toThrow(/pending/);
    expect(() => SlidingCounter.from({ ...snap, c: Number.NaN }, OPTS)).toThrow(/c is not/);
    expect(() => SlidingCounter.from({ ...snap, r: snap.r.map(() => -1) }, OPTS)).toThrow(/not a count/);
  });
});

describe('SlidingDistinct', () => {
  const D_OPTS: SlidingDistinctOptions = { windowMs: 10 * MIN, buckets: 10 };

  it('is exact to the millisecond while small (property vs brute force)', () => {
    const ev = fc.record({
      v: fc.nat(30),
      dt: fc.integer({ min: -2 * MIN, max: 3 * MIN }),
      q: fc.nat(15 * MIN),
    });
    fc.assert(
      fc.property(fc.array(ev, { maxLength: 150 }), (evs) => {
        const d = new SlidingDistinct(D_OPTS);
        const last = new Map<string, number>();
        let newest = Number.NEGATIVE_INFINITY;
        let t = T0;
        for (const e of evs) {
          t += e.dt;
          d.add(`v${e.v}`, t);
          newest = Math.max(newest, t);
          last.set(`v${e.v}`, newest); // a late event counts at the newest time
          const at = newest + e.q;
          const want = [...last.values()].filter((s) => s > at - D_OPTS.windowMs).length;
          expect(d.count(at)).toBe(want);
          expect(d.exact).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('switches to HyperLogLog above the cap and back to exact once the burst has left the window', () => {
    const d = new SlidingDistinct({ ...D_OPTS, exactCap: 100 });
    let t = T0;
    // Enumeration burst: 5 000 distinct paths in 5 minutes.
    for (let i = 0; i < 5_000; i++) d.add(`secret/data/p${i}`, (t = T0 + i * 60));
    expect(d.exact).toBe(false);
    expect(Math.abs(d.count(t) / 5_000 - 1)).toBeLessThan((3 * 1.04) / 64);
    // Then a quiet identity touching 20 paths.
    for (let i = 0; i < 200; i++) d.add(`secret/data/q${i % 20}`, (t += 30_000));
    expect(d.exact).toBe(true);
    expect(d.count(t)).toBe(20);
    expect(JSON.stringify(d.toJSON()).length).toBeLessThan(1_000);
  });

  it('keeps counting through a sustained high-cardinality stream (recovery set restarts)', () => {
    const d = new SlidingDistinct({ ...D_OPTS, exactCap: 50 });
    let t = T0;
    for (let i = 0; i < 3_000; i++) d.add(`v${i}`, (t = T0 + i * 1_000)); // 1 new value per second
    expect(d.exact).toBe(false);
    // Sub-bucket granularity: the last 9–10 minutes, i.e. 540–600 values.
    const c = d.count(t);
    expect(c).toBeGreaterThan(540 * 0.95);
    expect(c).toBeLessThan(600 * 1.05);
  });

  it('snapshot → restore → continue equals an uninterrupted run, in both modes (property)', () => {
    const opts: SlidingDistinctOptions = { windowMs: 10 * MIN, buckets: 5, exactCap: 12 };
    const op = fc.record({
      v: fc.oneof(fc.nat(8), fc.nat(400)),
      dt: fc.oneof(fc.integer({ min: -MIN, max: 20_000 }), fc.integer({ min: 0, max: 15 * MIN })),
      read: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), fc.nat(120), (ops, cut) => {
        let t = T0;
        const timed = ops.map((o) => ({ ...o, at: (t += o.dt) }));
        checkReplay(
          () => new SlidingDistinct(opts),
          (snap) => SlidingDistinct.from(snap as never, opts),
          timed,
          Math.min(cut, timed.length),
          (d, o) => {
            d.add(`v${o.v}`, o.at);
            return o.read ? [d.count(o.at + 30_000), d.exact] : d.exact;
          },
          (a, b) => expect(a).toEqual(b),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('prune() forgets expired values without changing later counts', () => {
    const d = new SlidingDistinct(D_OPTS);
    for (let i = 0; i < 5; i++) d.add(`v${i}`, T0 + i * MIN);
    d.prune(T0 + 12 * MIN); // v0..v2 (last seen ≤ T0 + 2 min) leave the window
    expect(d.toJSON().e.map((e) => e[0])).toEqual(['v3', 'v4']);
    expect(d.count(T0 + 12 * MIN)).toBe(2);
    d.prune(T0 + 60 * MIN);
    expect(d.toJSON()).toEqual({ n: T0 + 4 * MIN, e: [] });
    expect(d.count(T0 + 60 * MIN)).toBe(0);
    d.add('w', T0 + 61 * MIN);
    expect(d.count(T0 + 61 * MIN)).toBe(1);
  });

  it('validates options and snapshots', () => {
    expect(() => new SlidingDistinct({ ...D_OPTS, exactCap: 0 })).toThrow(/exactCap/);
    expect(() => new SlidingDistinct({ ...D_OPTS, hllPrecision: 20 })).toThrow(/hllPrecision/);
    expect(() => SlidingDistinct.from({ n: T0, e: [[1 as never, 2]] }, D_OPTS)).toThrow(/entry/);
    const d = new SlidingDistinct({ ...D_OPTS, exactCap: 2 });
    for (let i = 0; i < 5; i++) d.add(`x${i}`, T0 + i);
    const snap = d.toJSON();
    expect(snap.s).toBeDefined();
    expect(() =>
      SlidingDistinct.from({ ...snap, s: [[(snap.h ?? 0) + 5, { p: 12, s: [] }]] }, D_OPTS),
    ).toThrow(/out of the ring/);
  });
});
