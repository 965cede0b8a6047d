/**
 * Tail probabilities of count distributions, as log10 p, for surprise scores s = −log10 p.
 *
 * All tails are computed in log space through the regularised incomplete gamma / beta functions
 * (special.ts), so they stay accurate where p underflows doubles and for large means, with a bounded
 * amount of work:
 * - Poisson: P(X ≥ k) = P(k, λ) and P(X ≤ k) = Q(k + 1, λ) (regularised incomplete gamma). For k < 50
 *   a series / continued fraction (≤ ~120 terms); for k ≥ 50 Temme's uniform asymptotic expansion
 *   (fixed cost, relative error ≲ 3e-12 measured against mpmath, from the centre to the far tail).
 * - Negative binomial (mean m, size r, var = m + m²/r): P(X ≥ k) = I_q(k, r), P(X ≤ k) = I_p(r, k + 1)
 *   with q = m/(m + r), p = r/(m + r) (regularised incomplete beta, Lentz continued fraction, O(√max(k, r))
 *   steps, capped at BETA_MAX_ITER).
 *
 * Conventions:
 * - Counts are integers; a fractional x is rounded toward the inside of the event: P(X ≥ x) = P(X ≥ ⌈x⌉),
 *   P(X ≤ x) = P(X ≤ ⌊x⌋).
 * - Results are clamped to [LOG10_P_FLOOR, 0] = [−300, 0]. An impossible event (λ = 0 and x > 0, or
 *   P(X ≤ x) with x < 0) returns the floor −300 rather than −Infinity, so that a surprise is always a
 *   finite number and the tails stay monotone in their parameters.
 * - Invalid parameters (NaN, negative mean, non-positive dispersion) return NaN; `surprise(NaN)` is 0.
 */
import { logIncBeta, logIncGamma } from './special.js';

/** Smallest log10 p ever returned (p = 1e-300); stands in for "impossible". */
export const LOG10_P_FLOOR = -300;

const LOG10E = Math.LOG10E;

function clampLog10(lnp: number): number {
  if (Number.isNaN(lnp)) return Number.NaN;
  const v = lnp * LOG10E;
  if (v < LOG10_P_FLOOR) return LOG10_P_FLOOR;
  return v >= 0 ? 0 : v; // also turns −0 into 0
}

/** log10 P(X ≥ x) for X ~ Poisson(lambda). x ≤ 0 → 0; lambda = 0 and x > 0 → LOG10_P_FLOOR. */
export function poissonUpperTailLog10(x: number, lambda: number): number {
  if (Number.isNaN(x) || !(lambda >= 0)) return Number.NaN;
  const k = Math.ceil(x);
  if (k <= 0) return 0;
  if (lambda === 0 || k === Number.POSITIVE_INFINITY) return LOG10_P_FLOOR;
  return clampLog10(logIncGamma(k, lambda).logLower);
}

/** log10 P(X ≤ x) for X ~ Poisson(lambda). x < 0 → LOG10_P_FLOOR; lambda = 0 and x ≥ 0 → 0. */
export function poissonLowerTailLog10(x: number, lambda: number): number {
  if (Number.isNaN(x) || !(lambda >= 0)) return Number.NaN;
  const k = Math.floor(x);
  if (k < 0) return LOG10_P_FLOOR;
  if (lambda === 0 || k === Number.POSITIVE_INFINITY) return 0;
  if (lambda === Number.POSITIVE_INFINITY) return LOG10_P_FLOOR;
  return clampLog10(logIncGamma(k + 1, lambda).logUpper);
}

/** ln p = ln(r/(m + r)) = −log1p(m/r), accurate when m ≪ r (then r·ln p ≈ −m must not lose digits). */
function lnSuccess(m: number, r: number): number {
  return -Math.log1p(m / r);
}

/** ln q = ln(m/(m + r)) = −log1p(r/m). */
function lnFailure(m: number, r: number): number {
  return -Math.log1p(r / m);
}

function nbParamsValid(mean: number, dispersion: number): boolean {
  return mean >= 0 && dispersion > 0 && mean < Number.POSITIVE_INFINITY;
}

/**
 * log10 P(X ≥ x) for X ~ NegBinomial(mean, size = dispersion): var = mean + mean²/dispersion.
 * dispersion = +Infinity is the Poisson limit. x ≤ 0 → 0; mean = 0 and x > 0 → LOG10_P_FLOOR.
 */
export function negBinomialUpperTailLog10(x: number, mean: number, dispersion: number): number {
  if (Number.isNaN(x) || !nbParamsValid(mean, dispersion)) return Number.NaN;
  if (dispersion === Number.POSITIVE_INFINITY) return poissonUpperTailLog10(x, mean);
  const k = Math.ceil(x);
  if (k <= 0) return 0;
  if (mean === 0 || k === Number.POSITIVE_INFINITY) return LOG10_P_FLOOR;
  const q = mean / (mean + dispersion);
  const p = dispersion / (mean + dispersion);
  // P(X ≥ k) = I_q(k, r).
  return clampLog10(
    logIncBeta(k, dispersion, q, p, lnFailure(mean, dispersion), lnSuccess(mean, dispersion)).logLower,
  );
}

/** log10 P(X ≤ x) for X ~ NegBinomial(mean, size = dispersion). x < 0 → LOG10_P_FLOOR. */
export function negBinomialLowerTailLog10(x: number, mean: number, dispersion: number): number {
  if (Number.isNaN(x) || !nbParamsValid(mean, dispersion)) return Number.NaN;
  if (dispersion === Number.POSITIVE_INFINITY) return poissonLowerTailLog10(x, mean);
  const k = Math.floor(x);
  if (k < 0) return LOG10_P_FLOOR;
  if (mean === 0 || k === Number.POSITIVE_INFINITY) return 0;
  const q = mean / (mean + dispersion);
  const p = dispersion / (mean + dispersion);
  // P(X ≤ k) = I_p(r, k + 1).
  return clampLog10(
    logIncBeta(dispersion, k + 1, p, q, lnSuccess(mean, dispersion), lnFailure(mean, dispersion)).logLower,
  );
}

/**
 * Surprise s = −log10 p from a log10 p, clamped to [0, cap] (default cap 300 = −LOG10_P_FLOOR).
 * NaN (invalid input upstream) gives 0: no evidence, never an alert.
 */
export function surprise(log10p: number, cap = -LOG10_P_FLOOR): number {
  const s = -log10p;
  if (!(s > 0)) return 0;
  return s > cap ? cap : s;
}

/** Clamp an already computed surprise to [0, cap]; NaN → 0. */
export function clampSurprise(s: number, cap: number): number {
  if (!(s > 0)) return 0;
  return s > cap ? cap : s;
}

/** log10 of a probability p ∈ [0, 1], clamped to [LOG10_P_FLOOR, 0] (p = 0 → floor; NaN → NaN). */
export function log10Prob(p: number): number {
  if (Number.isNaN(p)) return Number.NaN;
  if (!(p > 0)) return LOG10_P_FLOOR;
  return clampLog10(Math.log(p));
}
