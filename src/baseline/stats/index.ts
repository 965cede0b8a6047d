/**
 * Statistical building blocks for per-identity baselines: count tails, decayed moments, seasonal rates,
 * sliding counters, HyperLogLog, first-seen sets, network keys and CUSUM. All event-time driven, pure or
 * snapshot/restore-able.
 */
export * from './tails.js';
export * from './decayed.js';
export * from './seasonal.js';
export * from './sliding.js';
export * from './hll.js';
export * from './novelty.js';
export * from './network.js';
export * from './cusum.js';
export {
  lgamma,
  logBeta,
  logIncGamma,
  logIncBeta,
  logErfcx,
  log1pmx,
  log1mexp,
  logAddExp,
} from './special.js';
export type { LogTails } from './special.js';
