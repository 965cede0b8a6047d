import { describe, expect, it } from 'vitest';
import * as stats from '../../../../src/baseline/stats/index.js';

describe('baseline/stats index', () => {
  it('re-exports every building block', () => {
    for (const name of [
      'poissonUpperTailLog10',
      'poissonLowerTailLog10',
      'negBinomialUpperTailLog10',
      'negBinomialLowerTailLog10',
      'surprise',
      'clampSurprise',
      'LOG10_P_FLOOR',
      'DecayedStats',
      'DecayedCounter',
      'decayFactor',
      'SeasonalRate',
      'localHour',
      'localDay',
      'SlidingCounter',
      'SlidingDistinct',
      'HyperLogLog',
      'hash64',
      'SeenSet',
      'networkOf',
      'isPrivate',
      'compileCidrs',
      'inCidrs',
      'Cusum',
      'lgamma',
      'logIncGamma',
    ]) {
      expect(stats, name).toHaveProperty(name);
    }
    expect(stats.surprise(stats.poissonUpperTailLog10(20, 5))).toBeCloseTo(6.4619, 4);
  });
});
