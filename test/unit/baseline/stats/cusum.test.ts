import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Cusum } from '../../../../src/baseline/stats/cusum.js';
import { checkReplay, normal, rng } from './helpers.js';

/** Steps until the first alarm (or −1) on N(shift, 1) residuals. */
function stepsToAlarm(c: Cusum, shift: number, seed: number, max = 10_000): number {
  const rand = rng(seed);
  for (let i = 1; i <= max; i++) if (c.update(shift + normal(rand))) return i;
  return -1;
}

describe('Cusum', () => {
  it('detects a sustained +1σ shift within a few dozen steps', () => {
    const delays: number[] = [];
    for (let seed = 1; seed <= 50; seed++) delays.push(stepsToAlarm(new Cusum(), 1, seed));
    expect(delays.every((d) => d > 0 && d <= 60)).toBe(true);
    delays.sort((a, b) => a - b);
    expect(delays[25]).toBeLessThan(16); // theory: ARL ≈ 10 for k = 0.5, h = 5
  });

  it('does not alarm on one spike, however large', () => {
    const c = new Cusum();
    expect(c.update(1000)).toBe(false);
    expect(c.value).toBe(2.5); // capped at zCap − k
    for (let i = 0; i < 20; i++) expect(c.update(0)).toBe(false);
    expect(c.value).toBe(0);
    // Three big spikes back to back do (that is a burst, not a spike).
    expect(c.update(10)).toBe(false);
    expect(c.update(10)).toBe(false);
    expect(c.update(10)).toBe(true);
  });

  it('rarely alarms on in-control noise', () => {
    const c = new Cusum();
    const rand = rng(99);
    let alarms = 0;
    for (let i = 0; i < 20_000; i++) if (c.update(normal(rand))) alarms++;
    expect(alarms).toBeLessThan(40); // in-control ARL for k = 0.5, h = 5 is ≈ 900 steps
  });

  it('the downward variant detects drops and ignores rises', () => {
    const down = new Cusum({ direction: 'down' });
    expect(stepsToAlarm(down, -1.5, 3)).toBeGreaterThan(0);
    const down2 = new Cusum({ direction: 'down' });
    expect(stepsToAlarm(down2, 2, 4, 2_000)).toBe(-1);
  });

  it('tracks run length, resets after an alarm unless told not to, and ignores non-finite input', () => {
    const c = new Cusum({ k: 0.5, h: 3, zCap: 10 });
    c.update(1.5);
    c.update(1.5);
    expect(c.runLength).toBe(2);
    expect(c.value).toBe(2);
    expect(c.update(Number.NaN)).toBe(false);
    expect(c.update(2)).toBe(true);
    expect(c.value).toBe(0);
    expect(c.runLength).toBe(0);
    const sticky = new Cusum({ h: 3, zCap: 10, resetOnAlarm: false });
    sticky.update(4);
    expect(sticky.update(1)).toBe(true);
    expect(sticky.update(1)).toBe(true); // still above h
    sticky.reset();
    expect(sticky.value).toBe(0);
  });

  it('validates options and snapshots', () => {
    expect(() => new Cusum({ h: 0 })).toThrow(/h/);
    expect(() => new Cusum({ k: -1 })).toThrow(/k/);
    expect(() => new Cusum({ direction: 'sideways' as never })).toThrow(/direction/);
    expect(() => Cusum.from({ s: -1, n: 0 })).toThrow(/negative/);
    const opts = {};
    expect(new Cusum(opts).config).toBe(new Cusum(opts).config);
  });

  it('snapshot → restore → continue equals an uninterrupted run (property)', () => {
    const opts = { k: 0.25, h: 4 };
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -8, max: 8, noNaN: true }), { maxLength: 80 }),
        fc.nat(80),
        (zs, cut) => {
          checkReplay(
            () => new Cusum(opts),
            (snap) => Cusum.from(snap as never, opts),
            zs,
            Math.min(cut, zs.length),
            (c, z) => [c.update(z), c.value, c.runLength],
            (a, b) => expect(a).toEqual(b),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
