import { describe, expect, it } from 'vitest';
import { HyperLogLog, hash64 } from '../../../../src/baseline/stats/hll.js';

const BOUND_12 = (3 * 1.04) / Math.sqrt(4096); // 4.875 %

function fill(h: HyperLogLog, n: number, prefix: string, from = 0): void {
  for (let i = from; i < from + n; i++) h.add(`${prefix}${i}`);
}

describe('HyperLogLog (p = 12)', () => {
  const sizes = [
    100, 300, 1_000, 3_000, 8_000, 10_000, 10_240, 12_000, 20_000, 30_000, 100_000, 300_000, 1_000_000,
  ];
  it.each(sizes)('n = %i: relative error within 3·1.04/√m for several value shapes', (n) => {
    const shapes = n >= 300_000 ? ['secret/data/app-'] : ['secret/data/app-', '10.0.', 'u'];
    for (const prefix of shapes) {
      const h = new HyperLogLog();
      fill(h, n, prefix);
      const rel = Math.abs(h.estimate() / n - 1);
      expect(rel, `${prefix}: estimate ${h.estimate()}`).toBeLessThan(BOUND_12);
    }
  });

  it('is exact-ish at tiny cardinalities and 0 when empty', () => {
    const h = new HyperLogLog();
    expect(h.estimate()).toBe(0);
    expect(h.isEmpty()).toBe(true);
    h.add('a');
    expect(h.estimate()).toBeCloseTo(1, 2);
    fill(h, 9, 'v');
    expect(Math.abs(h.estimate() - 10)).toBeLessThan(0.6);
    expect(h.isEmpty()).toBe(false);
  });

  it('small range is linear counting, not the halved estimate of an empty/rank-0 mix-up', () => {
    // bloom-filters' HLL reads ≈ 255 here (m = 1024, n = 500).
    const h = new HyperLogLog(10);
    fill(h, 500, 'ip-');
    expect(h.estimate()).toBeGreaterThan(470);
    expect(h.estimate()).toBeLessThan(530);
  });

  it('ignores duplicates, merges as a union, and merge is idempotent', () => {
    const a = new HyperLogLog();
    const b = new HyperLogLog();
    fill(a, 5_000, 'x');
    const before = a.estimate();
    fill(a, 5_000, 'x'); // same values again
    expect(a.estimate()).toBe(before);
    fill(b, 5_000, 'x', 2_500); // overlaps half of a
    a.merge(b);
    expect(Math.abs(a.estimate() / 7_500 - 1)).toBeLessThan(BOUND_12);
    const merged = a.estimate();
    a.merge(b);
    a.merge(a);
    expect(a.estimate()).toBe(merged);
    expect(() => a.merge(new HyperLogLog(10))).toThrow(/precision/);
  });

  it('snapshots round-trip exactly in sparse and dense form', () => {
    const small = new HyperLogLog();
    fill(small, 200, 'k');
    const sparse = small.toJSON();
    expect(sparse.s).toBeDefined();
    expect(sparse.r).toBeUndefined();
    expect(JSON.stringify(sparse).length).toBeLessThan(200 * 8 + 20);
    const big = new HyperLogLog();
    fill(big, 50_000, 'k');
    const dense = big.toJSON();
    expect(dense.r).toBeDefined();
    expect(JSON.stringify(dense).length).toBeLessThan(5_500);
    for (const snap of [sparse, dense]) {
      const back = HyperLogLog.from(JSON.parse(JSON.stringify(snap)));
      expect(back.toJSON()).toEqual(snap);
    }
    expect(HyperLogLog.from(sparse).estimate()).toBe(small.estimate());
    expect(HyperLogLog.from(dense).estimate()).toBe(big.estimate());
  });

  it('validates precision and snapshots', () => {
    expect(() => new HyperLogLog(3)).toThrow(RangeError);
    expect(() => new HyperLogLog(17)).toThrow(RangeError);
    expect(() => HyperLogLog.from({ p: 12, s: [4096 * 64 + 1] })).toThrow(/entry/);
    expect(() => HyperLogLog.from({ p: 12, s: [64 * 3 + 40] })).toThrow(/entry/);
    expect(() => HyperLogLog.from({ p: 12, r: 'AAAA' })).toThrow(/bytes/);
  });
});

describe('hash64', () => {
  it('is deterministic, seed-separated and spreads near-identical strings', () => {
    const a = Array.from(hash64('secret/data/a'));
    expect(Array.from(hash64('secret/data/a'))).toEqual(a);
    expect(a[0]).not.toBe(a[1]);
    expect(Array.from(hash64('secret/data/b'))).not.toEqual(a);
    expect(Array.from(hash64(''))).not.toEqual(Array.from(hash64('\u0000')));
    expect(Array.from(hash64('é'))).not.toEqual(Array.from(hash64('e')));
    // Register indices of sequential strings are close to uniform (chi-square over 64 bins).
    const bins = new Array<number>(64).fill(0);
    const n = 64_000;
    for (let i = 0; i < n; i++) {
      const h = hash64(`user-${i}`)[0] ?? 0;
      bins[h >>> 26] = (bins[h >>> 26] ?? 0) + 1;
    }
    const expected = n / 64;
    const chi2 = bins.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(110); // 63 d.o.f.: p ≈ 2e-4 at 110
  });
});
