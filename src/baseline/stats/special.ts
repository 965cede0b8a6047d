/**
 * Special functions in log space: log-gamma, log-beta, regularised incomplete gamma and beta, scaled erfc.
 *
 * Everything here is pure and deterministic (no tables built at run time, no randomness). Results are
 * natural logs so that probabilities far below the smallest double (1e-308) stay representable.
 *
 * Accuracy (checked against mpmath at 50 digits in test/unit/baseline/stats/tails.test.ts):
 * - `lgamma`: absolute error ≲ 1e-14 for x in (0, 1e15].
 * - `logIncGamma`: relative error of the smaller tail ≲ 1e-10 everywhere, ≲ 1e-12 for a ≥ 100.
 * - `logIncBeta`: relative error of the smaller tail ≲ 1e-9 for parameters up to ~1e6.
 */

const LN_SQRT_2PI = 0.9189385332046728; // 0.5 * ln(2π)
const LN_SQRT_PI = 0.5723649429247001; // 0.5 * ln(π)
const SQRT_2PI = 2.5066282746310002;
const EPS = 1e-16;
const FPMIN = 1e-300;

/** ln Γ(x) − Stirling's leading part, for x ≥ 10 (Stirling series, truncation error < 1e-16). */
function stirlingCorrection(x: number): number {
  const r = 1 / x;
  const r2 = r * r;
  return (
    r *
    (1 / 12 +
      r2 *
        (-1 / 360 +
          r2 * (1 / 1260 + r2 * (-1 / 1680 + r2 * (1 / 1188 + r2 * (-691 / 360360 + r2 * (1 / 156)))))))
  );
}

/** ln Γ(x) for x > 0 (NaN for x ≤ 0 or NaN; +Infinity for x = +Infinity). */
export function lgamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  if (x === Number.POSITIVE_INFINITY) return x;
  if (x >= 10) return (x - 0.5) * Math.log(x) - x + LN_SQRT_2PI + stirlingCorrection(x);
  // Shift up with Γ(x) = Γ(x + n) / (x (x+1) ... (x+n-1)); at most 10 factors, no overflow.
  let prod = 1;
  let y = x;
  while (y < 10) {
    prod *= y;
    y += 1;
  }
  return (y - 0.5) * Math.log(y) - y + LN_SQRT_2PI + stirlingCorrection(y) - Math.log(prod);
}

/** ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b), without cancellation when one argument is large. */
export function logBeta(a: number, b: number): number {
  const small = Math.min(a, b);
  const big = Math.max(a, b);
  if (big < 10) return lgamma(a) + lgamma(b) - lgamma(a + b);
  // ln Γ(big) − ln Γ(big + small) via Stirling differences (DiDonato & Morris "algdiv" idea).
  const sum = big + small;
  const diff =
    -(big - 0.5) * Math.log1p(small / big) -
    small * Math.log(sum) +
    small +
    stirlingCorrection(big) -
    stirlingCorrection(sum);
  return lgamma(small) + diff;
}

/** log(1 + d) − d, accurate for small |d| (d > −1). */
export function log1pmx(d: number): number {
  if (Math.abs(d) > 0.25) return Math.log1p(d) - d;
  // −d²/2 + d³/3 − d⁴/4 + ...; |d| ≤ 0.25 ⇒ 40 terms reach 1e-24 relative.
  let term = d;
  let sum = 0;
  for (let k = 2; k < 60; k++) {
    term *= -d;
    const t = term / k;
    sum += t;
    if (Math.abs(t) <= 1e-17 * Math.abs(sum)) break;
  }
  return sum;
}

/** ln(1 − e^x) for x ≤ 0, accurate for x near 0 and for x ≪ 0. */
export function log1mexp(x: number): number {
  if (x >= 0) return x === 0 ? Number.NEGATIVE_INFINITY : Number.NaN;
  return x > -Math.LN2 ? Math.log(-Math.expm1(x)) : Math.log1p(-Math.exp(x));
}

/** ln(e^a + e^b). */
export function logAddExp(a: number, b: number): number {
  if (a === Number.NEGATIVE_INFINITY) return b;
  if (b === Number.NEGATIVE_INFINITY) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/** Natural logs of both regularised incomplete gamma functions P(a, x) and Q(a, x) = 1 − P(a, x). */
export interface LogTails {
  /** ln P (lower regularised incomplete gamma / lower tail). */
  logLower: number;
  /** ln Q (upper regularised incomplete gamma / upper tail). */
  logUpper: number;
}

/** Series for ln P(a, x), used for x < a + 1 (NR `gser`); ≤ ~9√a + 30 terms. */
function logGammaSeries(a: number, x: number): number {
  let ap = a;
  let del = 1 / a;
  let sum = del;
  for (let n = 0; n < 1000; n++) {
    ap += 1;
    del *= x / ap;
    sum += del;
    if (Math.abs(del) < Math.abs(sum) * EPS) break;
  }
  return Math.log(sum) - x + a * Math.log(x) - lgamma(a);
}

/** Continued fraction for ln Q(a, x), used for x ≥ a + 1 (NR `gcf`, modified Lentz). */
function logGammaContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / FPMIN;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = b + an / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return Math.log(h) - x + a * Math.log(x) - lgamma(a);
}

/**
 * ln erfcx(y) = ln(e^{y²} erfc(y)) for y ≥ 0, via erfc(y) = Q(1/2, y²) (so it reuses the series /
 * continued fraction above, which converge in < 60 terms for a = 1/2).
 */
export function logErfcx(y: number): number {
  if (y < 0) return Number.NaN;
  if (y === 0) return 0;
  const x = y * y;
  if (x < 1.5) {
    // erfc = 1 − erf = 1 − P(1/2, y²); P ≤ erf(1.23) ≈ 0.92, no catastrophic cancellation.
    return x + Math.log1p(-Math.exp(logGammaSeries(0.5, x)));
  }
  // Q(1/2, x) = e^{-x} √x / Γ(1/2) · h  ⇒  ln erfcx = ln h + ½ ln x − ln √π.
  let b = x + 0.5;
  let c = 1 / FPMIN;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - 0.5);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = b + an / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return Math.log(h) + Math.log(y) - LN_SQRT_PI;
}

// Taylor coefficients (in η) of Temme's c_k(η), k = 0..4, derived with sympy from DLMF 8.12.9–8.12.10
// (c_k = η⁻¹ c'_{k−1} + (−1)^k g_k/(λ−1), g = Stirling coefficients of Γ*), used for |η| < 0.4 where the
// closed forms cancel.
const C0 = [
  -0.3333333333333333, 0.08333333333333333, -0.014814814814814815, 0.0011574074074074073,
  0.0003527336860670194, -0.0001787551440329218, 3.919263178522438e-5, -2.185448510679992e-6,
  -1.85406221071516e-6, 8.296711340953087e-7, -1.7665952736826078e-7, 6.707853543401498e-9,
  1.0261809784240309e-8, -4.382036018453353e-9, 9.14769958223679e-10, -2.5514193994946248e-11,
];
const C1 = [
  -0.001851851851851852, -0.003472222222222222, 0.0026455026455026454, -0.0009902263374485596,
  0.00020576131687242798, -4.018775720164609e-7, -1.8098550334489977e-5, 7.64916091608111e-6,
  -1.6120900894563446e-6, 4.647127802807434e-9, 1.378633446915721e-7, -5.752545603517705e-8,
  1.1951628599778148e-8, -1.7543241719747647e-11, -1.0091543710600413e-9,
];
const C2 = [
  0.004133597883597883, -0.0026813271604938273, 0.0007716049382716049, 2.0093878600823047e-6,
  -0.0001073665322636516, 5.2923448829120125e-5, -1.2760635188618728e-5, 3.423578734096138e-8,
  1.3721957309062934e-6, -6.298992138380055e-7, 1.4280614206064242e-7, -2.0477098421990866e-10,
  -1.409252991086752e-8,
];
const C3 = [
  0.0006494341563786008, 0.00022947209362139917, -0.0004691894943952557, 0.00026772063206283885,
  -7.561801671883977e-5, -2.396505113867297e-7, 1.1082654115347302e-5, -5.6749528269915965e-6,
  1.4230900732435883e-6, -2.7861080291528143e-11, -1.6958404091930278e-7,
];
const C4 = [
  -0.0008618882909167117, 0.0007840392217200666, -0.0002990724803031902, -1.4638452578843418e-6,
  6.641498215465122e-5, -3.968365047179435e-5, 1.1375726970678419e-5, 2.507497226237533e-10,
  -1.6954149536558305e-6,
];

function horner(coeffs: readonly number[], x: number): number {
  let s = 0;
  for (let i = coeffs.length - 1; i >= 0; i--) s = s * x + (coeffs[i] ?? 0);
  return s;
}

/** Σ_{k=0..4} c_k(η) a^{−k} (Temme's uniform expansion), μ = λ − 1 = x/a − 1. */
function temmeSum(eta: number, mu: number, a: number): number {
  const ia = 1 / a;
  if (Math.abs(eta) < 0.4) {
    return (
      horner(C0, eta) +
      ia * (horner(C1, eta) + ia * (horner(C2, eta) + ia * (horner(C3, eta) + ia * horner(C4, eta))))
    );
  }
  const m = 1 / mu;
  const e = 1 / eta;
  const e2 = e * e;
  const c0 = m - e;
  const c1 = m * (-1 / 12 + m * (-1 + m * -1)) + e * e2;
  const c2 = m * (1 / 288 + m * (1 / 12 + m * (25 / 12 + m * (5 + m * 3)))) - 3 * e * e2 * e2;
  const c3 =
    m *
      (139 / 51840 +
        m * (-1 / 288 + m * (-49 / 288 + m * (-77 / 12 + m * (-105 / 4 + m * (-35 + m * -15)))))) +
    15 * e * e2 * e2 * e2;
  const c4 =
    m *
      (-571 / 2488320 +
        m *
          (-139 / 51840 +
            m *
              (221 / 51840 +
                m *
                  (149 / 288 + m * (2513 / 96 + m * (1883 / 12 + m * (1365 / 4 + m * (315 + m * 105)))))))) -
    105 * e * e2 * e2 * e2 * e2;
  return c0 + ia * (c1 + ia * (c2 + ia * (c3 + ia * c4)));
}

/** Parameter a from which Temme's expansion is used (truncation error ≲ 3e-12 relative there). */
const TEMME_MIN_A = 50;

/**
 * ln P(a, x) and ln Q(a, x) (regularised lower / upper incomplete gamma) for a > 0, x ≥ 0.
 *
 * The smaller of the two is computed directly (never as 1 − the other), the larger with log1p.
 * - a < 50: series (x < a + 1) or Lentz continued fraction (x ≥ a + 1); each ≤ ~120 terms here.
 * - a ≥ 50: Temme's uniform asymptotic expansion with c_0..c_4 (a fixed number of operations, uniform in x,
 *   valid from the centre to the deepest tail): Q = e^{−aη²/2}[½ erfcx(η√(a/2)) + S/√(2πa)] for x ≥ a,
 *   P = e^{−aη²/2}[½ erfcx(−η√(a/2)) − S/√(2πa)] for x < a, η²/2 = λ − 1 − ln λ, λ = x/a.
 */
export function logIncGamma(a: number, x: number): LogTails {
  if (!(a > 0) || !(x >= 0)) return { logLower: Number.NaN, logUpper: Number.NaN };
  if (x === 0) return { logLower: Number.NEGATIVE_INFINITY, logUpper: 0 };
  if (x === Number.POSITIVE_INFINITY) return { logLower: 0, logUpper: Number.NEGATIVE_INFINITY };
  if (a < TEMME_MIN_A) {
    if (x < a + 1) {
      const logLower = logGammaSeries(a, x);
      return { logLower, logUpper: log1mexp(Math.min(logLower, 0)) };
    }
    const logUpper = logGammaContinuedFraction(a, x);
    return { logLower: log1mexp(Math.min(logUpper, 0)), logUpper };
  }
  const mu = (x - a) / a;
  // η²/2 = μ − ln(1 + μ) ≥ 0; ln(1 + μ) = ln x − ln a when μ is not small (1 + μ would lose the relative
  // precision of a small x/a, and x/a itself can underflow).
  const half = Math.abs(mu) <= 0.25 ? -log1pmx(mu) : mu - (Math.log(x) - Math.log(a));
  const eta = Math.sign(mu) * Math.sqrt(2 * Math.max(half, 0));
  const y = Math.abs(eta) * Math.sqrt(a / 2);
  const s = temmeSum(eta, mu, a) / (SQRT_2PI * Math.sqrt(a));
  const halfErfcx = 0.5 * Math.exp(logErfcx(y));
  if (mu >= 0) {
    const logUpper = -a * half + Math.log(halfErfcx + s);
    return { logLower: log1mexp(Math.min(logUpper, 0)), logUpper };
  }
  const logLower = -a * half + Math.log(halfErfcx - s);
  return { logLower, logUpper: log1mexp(Math.min(logLower, 0)) };
}

/** Continued fraction for I_x(a, b) (NR `betacf`, modified Lentz); I_x = front · h / a. */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < FPMIN) d = FPMIN;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= BETA_MAX_ITER; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = 1 + aa / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return h;
}

/** Iteration cap of the incomplete-beta continued fraction (it needs O(√max(a, b)) steps). */
export const BETA_MAX_ITER = 20000;

/**
 * ln I_x(a, b) and ln(1 − I_x(a, b)) (regularised incomplete beta) for a, b > 0, given x, y = 1 − x and
 * their natural logs separately (so callers can pass them without rounding, e.g. x = m/(m + r)).
 * `logLower` = ln I_x(a, b) (= ln P(Beta(a, b) ≤ x)), `logUpper` = ln(1 − I_x(a, b)).
 */
export function logIncBeta(a: number, b: number, x: number, y: number, lnx: number, lny: number): LogTails {
  if (!(a > 0) || !(b > 0) || !(x >= 0) || !(y >= 0)) return { logLower: Number.NaN, logUpper: Number.NaN };
  if (x === 0) return { logLower: Number.NEGATIVE_INFINITY, logUpper: 0 };
  if (y === 0) return { logLower: 0, logUpper: Number.NEGATIVE_INFINITY };
  const logFront = a * lnx + b * lny - logBeta(a, b);
  if (x < (a + 1) / (a + b + 2)) {
    const logLower = logFront + Math.log(betaContinuedFraction(a, b, x) / a);
    return { logLower, logUpper: log1mexp(Math.min(logLower, 0)) };
  }
  const logUpper = logFront + Math.log(betaContinuedFraction(b, a, y) / b);
  return { logLower: log1mexp(Math.min(logUpper, 0)), logUpper };
}
