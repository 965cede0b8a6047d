import type { Analyzer } from '../analyzer.js';
import { matchAnalyzer } from './match.js';

/**
 * Every analyzer type a detector file may name. Adding an analyzer is one module here and the
 * detector files that use it.
 */
const ANALYZERS: Analyzer<never>[] = [matchAnalyzer as Analyzer<never>];

export const analyzers: ReadonlyMap<string, Analyzer<unknown>> = new Map(
  ANALYZERS.map((a) => [a.type, a as unknown as Analyzer<unknown>]),
);
