import { describe, expect, it } from 'vitest';
import { HeldMax } from '../../../../src/baseline/stats/held-max.js';

const DAY = 86_400_000;

describe('HeldMax', () => {
  it('holds a recurring value exactly, where a decayed peak would drift below it', () => {
    const h = new HeldMax(14 * DAY);
    for (let d = 0; d < 40; d++) h.observe(30, d * DAY + 3_600_000);
    expect(h.value(40 * DAY)).toBe(30);
  });

  it('remembers a maximum for one to two periods, then forgets it', () => {
    const h = new HeldMax(10 * DAY);
    h.observe(50, 2 * DAY); // period 0
    h.observe(5, 12 * DAY); // period 1
    expect(h.value(12 * DAY)).toBe(50);
    expect(h.value(19 * DAY)).toBe(50);
    h.observe(7, 21 * DAY); // period 2: period 0 leaves the memory
    expect(h.value(21 * DAY)).toBe(7);
    // Nothing seen in period 3: only period 2 is still remembered in period 3, nothing in period 4.
    expect(h.value(35 * DAY)).toBe(7);
    expect(h.value(45 * DAY)).toBe(0);
  });

  it('starts empty, ignores non-finite input and survives a snapshot', () => {
    const h = new HeldMax(DAY);
    expect(h.value(0)).toBe(0);
    h.observe(Number.NaN, 10);
    h.observe(3, Number.POSITIVE_INFINITY);
    expect(h.value(10)).toBe(0);
    h.observe(4, 10);
    h.observe(9, DAY + 10);
    const back = HeldMax.from(JSON.parse(JSON.stringify(h.toJSON())), DAY);
    expect(back.value(DAY + 20)).toBe(9);
    back.observe(2, 3 * DAY);
    expect(back.value(3 * DAY)).toBe(2);
    expect(() => new HeldMax(0)).toThrow(RangeError);
  });
});
