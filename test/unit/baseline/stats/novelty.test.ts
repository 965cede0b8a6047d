import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SeenSet, type SeenSetOptions } from '../../../../src/baseline/stats/novelty.js';
import { checkReplay } from './helpers.js';

const DAY = 86_400_000;
const T0 = 1_700_000_000_000;

describe('SeenSet', () => {
  it('check() scores without learning; observe() learns and says whether the value was new', () => {
    const s = new SeenSet();
    const empty = s.check('10.0.0.0/24', T0);
    expect(empty).toEqual({
      seen: false,
      pNew: 0.5,
      ageOfSet: 0,
      count: 0,
      firstSeen: undefined,
      lastSeen: undefined,
    });
    const before = JSON.stringify(s.toJSON());
    s.check('x', T0 + 5);
    s.has('x', T0 + 5);
    s.pNew(T0 + 5);
    expect(JSON.stringify(s.toJSON())).toBe(before);
    expect(s.observe('10.0.0.0/24', T0)).toBe(true);
    expect(s.observe('10.0.0.0/24', T0 + 1000)).toBe(false);
    const c = s.check('10.0.0.0/24', T0 + DAY);
    expect(c.seen).toBe(true);
    expect(c.count).toBe(2);
    expect(c.firstSeen).toBe(T0);
    expect(c.lastSeen).toBe(T0 + 1000);
    expect(c.ageOfSet).toBe(DAY);
    expect(s.check('10.9.9.0/24', T0 + DAY).seen).toBe(false);
  });

  it('pNew = (d + 1)/(n + 2) on decayed counts (brute force)', () => {
    const halfLife = 10 * DAY;
    const s = new SeenSet({ halfLifeMs: halfLife });
    const obs: Array<[string, number, boolean]> = [];
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const v = i % 17 === 0 ? `new-${i}` : `v${i % 3}`;
      const t = T0 + i * 3_600_000;
      obs.push([v, t, !seen.has(v)]);
      seen.add(v);
      s.observe(v, t);
    }
    const at = T0 + 250 * 3_600_000;
    let n = 0;
    let d = 0;
    for (const [, t, isNew] of obs) {
      const w = Math.pow(2, -(at - t) / halfLife);
      n += w;
      if (isNew) d += w;
    }
    expect(s.pNew(at)).toBeCloseTo((d + 1) / (n + 2), 12);
    expect(s.observationsAt(at)).toBeCloseTo(n, 9);
  });

  it('self-calibrates: a roaming identity gets pNew near 1, a static service near 0', () => {
    const roaming = new SeenSet({ cap: 64 });
    const stable = new SeenSet();
    for (let i = 0; i < 2_000; i++) {
      roaming.observe(`ip-${i}`, T0 + i * 600_000);
      stable.observe('10.1.2.0/24', T0 + i * 600_000);
    }
    const at = T0 + 2_000 * 600_000;
    expect(roaming.pNew(at)).toBeGreaterThan(0.99);
    expect(stable.pNew(at)).toBeLessThan(2e-3);
    expect(roaming.size).toBe(64);
  });

  it('evicts the least recently seen value at the cap', () => {
    const s = new SeenSet({ cap: 3 });
    s.observe('a', T0);
    s.observe('b', T0 + 1);
    s.observe('c', T0 + 2);
    s.observe('a', T0 + 3); // a is now the most recent
    s.observe('d', T0 + 4); // evicts b
    expect(s.size).toBe(3);
    expect(s.has('b', T0 + 5)).toBe(false);
    expect([...s.entries()].map((e) => e[0])).toEqual(['c', 'a', 'd']);
    expect(s.observe('b', T0 + 6)).toBe(true); // evicted ⇒ new again (fail-loud), evicts c
    expect(s.has('c', T0 + 6)).toBe(false);
  });

  it('forgets values unseen for the TTL; a forgotten value is new again with fresh history', () => {
    const s = new SeenSet({ ttlMs: 30 * DAY });
    s.observe('old', T0);
    s.observe('old', T0 + DAY);
    s.observe('recent', T0 + 20 * DAY);
    expect(s.check('old', T0 + 31 * DAY - 1).seen).toBe(true);
    expect(s.check('old', T0 + 31 * DAY).seen).toBe(false); // lastSeen + TTL reached
    expect(s.size).toBe(2); // checks never prune
    s.observe('recent', T0 + 40 * DAY); // observing prunes expired values from the LRU front
    expect(s.size).toBe(1);
    expect(s.observe('old', T0 + 41 * DAY)).toBe(true);
    const c = s.check('old', T0 + 41 * DAY);
    expect(c.count).toBe(1);
    expect(c.firstSeen).toBe(T0 + 41 * DAY);
  });

  it('treats an out-of-order time as the newest time seen', () => {
    const s = new SeenSet({ ttlMs: DAY });
    s.observe('a', T0 + 10 * DAY);
    s.observe('b', T0); // late: recorded at T0 + 10 d, so not expired by the TTL
    expect(s.check('b', T0 + 10 * DAY).lastSeen).toBe(T0 + 10 * DAY);
    expect([...s.entries()].map((e) => e[0])).toEqual(['a', 'b']);
    expect(s.observe('c', Number.NaN)).toBe(false);
    expect(s.size).toBe(2);
  });

  it('validates options and snapshots; restoring with a smaller cap keeps the most recent values', () => {
    expect(() => new SeenSet({ cap: 0 })).toThrow(/cap/);
    expect(() => new SeenSet({ ttlMs: -1 })).toThrow(/ttlMs/);
    const s = new SeenSet();
    for (let i = 0; i < 10; i++) s.observe(`v${i}`, T0 + i);
    const snap = s.toJSON();
    const small = SeenSet.from(JSON.parse(JSON.stringify(snap)), { cap: 4 });
    expect([...small.entries()].map((e) => e[0])).toEqual(['v6', 'v7', 'v8', 'v9']);
    small.observe('w', T0 + 20);
    expect(small.size).toBe(4);
    expect(small.has('v6', T0 + 20)).toBe(false);
    expect(() =>
      SeenSet.from({
        ...snap,
        e: [
          ['a', 1, 1, 1],
          ['a', 2, 2, 1],
        ],
      }),
    ).toThrow(/duplicate/);
    expect(() => SeenSet.from({ ...snap, n: -1 })).toThrow(/negative/);
    expect(() => SeenSet.from({ ...snap, e: [[5 as never, 1, 1, 1]] })).toThrow(/entry/);
    expect(() => SeenSet.from({ ...snap, e: [['a', 1, Number.NaN, 1]] })).toThrow(/lastSeen/);
  });

  it('snapshot → restore → continue equals an uninterrupted run (property)', () => {
    const opts: SeenSetOptions = { cap: 6, ttlMs: 5 * DAY, halfLifeMs: 2 * DAY };
    const op = fc.record({
      v: fc.oneof(fc.nat(4), fc.nat(30)),
      dt: fc.oneof(fc.integer({ min: -DAY, max: DAY }), fc.integer({ min: 0, max: 8 * DAY })),
      learn: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 100 }), fc.nat(100), (ops, cut) => {
        let t = T0;
        const timed = ops.map((o) => ({ ...o, at: (t += o.dt) }));
        checkReplay(
          () => new SeenSet(opts),
          (snap) => SeenSet.from(snap as never, opts),
          timed,
          Math.min(cut, timed.length),
          (s, o) => {
            const before = s.check(`v${o.v}`, o.at);
            const isNew = o.learn ? s.observe(`v${o.v}`, o.at) : undefined;
            return [before, isNew, s.size];
          },
          (a, b) => expect(a).toEqual(b),
        );
      }),
      { numRuns: 200 },
    );
  });
});
