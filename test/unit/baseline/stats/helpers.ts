/** Deterministic random helpers for the stats tests (no wall clock, no Math.random). */

/** mulberry32 PRNG: uniform [0, 1) from a 32-bit seed. */
export function rng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function normal(rand: () => number): number {
  const u = 1 - rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** Poisson sample (Knuth for small means, normal approximation for large ones). */
export function poisson(rand: () => number, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda < 30) {
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= rand();
    } while (p > limit);
    return k - 1;
  }
  return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * normal(rand)));
}

/** Gamma(shape, scale 1) sample (Marsaglia–Tsang). */
export function gamma(rand: () => number, shape: number): number {
  if (shape < 1) return gamma(rand, shape + 1) * Math.pow(rand(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(rand);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rand();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** Negative binomial sample with mean m and size r (Gamma–Poisson mixture). */
export function negBinomial(rand: () => number, m: number, r: number): number {
  return poisson(rand, (m * gamma(rand, r)) / r);
}

/**
 * Replays `ops` once without interruption and once with a JSON snapshot → restore at index `cut`
 * (cut = ops.length restores after the last op), and checks that every observable output and the final
 * snapshot are identical. Returns the number of outputs compared.
 */
export function checkReplay<T extends { toJSON(): unknown }, Op>(
  make: () => T,
  restore: (snapshot: unknown) => T,
  ops: readonly Op[],
  cut: number,
  apply: (target: T, op: Op) => unknown,
  expectEqual: (a: unknown, b: unknown) => void,
): number {
  const a = make();
  const outA = ops.map((op) => apply(a, op));
  let b = make();
  const outB: unknown[] = [];
  ops.forEach((op, i) => {
    if (i === cut) b = restore(JSON.parse(JSON.stringify(b)));
    outB.push(apply(b, op));
  });
  if (cut >= ops.length) b = restore(JSON.parse(JSON.stringify(b)));
  expectEqual(outB, outA);
  expectEqual(JSON.stringify(b), JSON.stringify(a));
  return outA.length;
}
