import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SlidingCounter } from '../../../../src/baseline/stats/sliding.js';

describe('SlidingCounter.hasClosed', () => {
  it('is true exactly when drainClosed would report a window', () => {
    const options = { windowMs: 1000, buckets: 4 };
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3000 })), { minLength: 1, maxLength: 60 }),
        (steps) => {
          const c = new SlidingCounter(options);
          let t = 0;
          for (const [drain, dt] of steps) {
            t += dt;
            if (drain) {
              const clone = SlidingCounter.from(c.toJSON(), options);
              let reported = 0;
              clone.drainClosed(t, () => reported++);
              expect(c.hasClosed(t)).toBe(reported > 0);
              c.drainClosed(t, () => {});
            } else {
              c.add(t);
            }
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
