import type { Analyzer } from '../analyzer.js';
import { cardinalityAnalyzer } from './cardinality.js';
import { failureBurstAnalyzer } from './failure-burst.js';
import { firstSeenAnalyzer } from './first-seen.js';
import { flatlineAnalyzer } from './flatline.js';
import { matchAnalyzer } from './match.js';
import { noveltyRateAnalyzer } from './novelty-rate.js';
import { offHoursAnalyzer } from './off-hours.js';
import { parallelUseAnalyzer } from './parallel-use.js';
import { rateSpikeAnalyzer } from './rate-spike.js';
import { riskAnalyzer } from './risk.js';
import { rotationAnalyzer } from './rotation.js';

/**
 * Every analyzer type a detector file may name. Adding an analyzer is one module here and the
 * detector files that use it.
 */
const ANALYZERS = [
  matchAnalyzer,
  rateSpikeAnalyzer,
  failureBurstAnalyzer,
  cardinalityAnalyzer,
  firstSeenAnalyzer,
  noveltyRateAnalyzer,
  offHoursAnalyzer,
  parallelUseAnalyzer,
  flatlineAnalyzer,
  rotationAnalyzer,
  riskAnalyzer,
] as unknown as Analyzer<unknown>[];

export const analyzers: ReadonlyMap<string, Analyzer<unknown>> = new Map(ANALYZERS.map((a) => [a.type, a]));
