/**
 * HyperLogLog distinct counter (own implementation; bloom-filters' HLL is wrong in the small range).
 *
 * - Hash: two 32-bit MurmurHash3-style lanes over the string's UTF-16 code units with different seeds and
 *   the murmur3 finaliser (`hash64`); lane 1 picks the register (top p bits), lane 2 gives the rank
 *   (leading zeros + 1, 1..33), i.e. an effective 32 + p bit hash: ample for < 10^9 distinct values.
 * - Estimator: Ertl's "improved raw estimator" (O. Ertl, New cardinality estimation algorithms for
 *   HyperLogLog sketches, 2017, eq. for q-bit ranks with the σ/τ corrections). Registers that were never
 *   touched (value 0) are told apart from touched ones (value ≥ 1), so the small range is linear counting
 *   (≈ m ln(m/V) for V empty registers) and it moves smoothly into the large range without the bias bump
 *   of the classic "switch at 2.5 m" rule (measured: classic 5.5 % worst error at n = 10 000, m = 4096;
 *   Ertl ≤ 3.7 %). Standard error ≈ 1.04/√m (1.6 % for m = 2^12).
 *
 * Memory: m bytes of registers off-heap (4096 for p = 12) + ≈ 240 bytes on the heap. Snapshot: sparse
 * list of (index·64 + rank) while ≤ m/6 registers are set (≈ 7 bytes per set register), else base64
 * of the registers (≈ 1.33 m bytes: 5 464 for p = 12).
 */
import { base64ToU8, u8ToBase64 } from './codec.js';

const SEED_1 = 0x9747b28c | 0;
const SEED_2 = 0x3c6ef372 | 0;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const HASH_OUT = new Uint32Array(2);

/**
 * Two independent-looking 32-bit hashes of `s` (murmur3_32 over UTF-16 code-unit pairs, two seeds).
 * Returns a shared scratch array [h1, h2] that the next call overwrites: copy the values if you keep them.
 */
export function hash64(s: string): Uint32Array {
  let h1 = SEED_1;
  let h2 = SEED_2;
  const len = s.length;
  let i = 0;
  for (; i + 1 < len; i += 2) {
    let k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h1 ^= k;
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
    h2 ^= k;
    h2 = (h2 << 13) | (h2 >>> 19);
    h2 = (Math.imul(h2, 5) + 0xe6546b64) | 0;
  }
  if (i < len) {
    let k = s.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h1 ^= k;
    h2 ^= k;
  }
  HASH_OUT[0] = fmix32(h1 ^ len);
  HASH_OUT[1] = fmix32(h2 ^ len);
  return HASH_OUT;
}

/** Number of rank bits q (ranks are 1..q+1). */
const Q = 32;

function sigma(x: number): number {
  if (x === 1) return Number.POSITIVE_INFINITY;
  let y = 1;
  let z = x;
  for (;;) {
    x *= x;
    const z0 = z;
    z += x * y;
    y += y;
    if (z === z0) return z;
  }
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  for (;;) {
    x = Math.sqrt(x);
    const z0 = z;
    y *= 0.5;
    const d = 1 - x;
    z -= d * d * y;
    if (z === z0) return z / 3;
  }
}

/** Snapshot: precision and either sparse entries (index·64 + rank) or base64 registers. */
export interface HllSnapshot {
  p: number;
  s?: number[];
  r?: string;
}

export class HyperLogLog {
  readonly p: number;
  readonly m: number;
  private readonly reg: Uint8Array;

  /** p = log2(registers), 4..16 (default 12: 4096 registers, ±1.6 %). */
  constructor(p = 12) {
    if (!Number.isInteger(p) || p < 4 || p > 16)
      throw new RangeError(`HyperLogLog precision must be 4..16 (got ${p})`);
    this.p = p;
    this.m = 1 << p;
    this.reg = new Uint8Array(this.m);
  }

  /** Add a string; returns true when a register changed. */
  add(value: string): boolean {
    const h = hash64(value);
    return this.addHash(h[0] ?? 0, h[1] ?? 0);
  }

  /** Add a pre-computed hash pair (h1 picks the register, h2 gives the rank). */
  addHash(h1: number, h2: number): boolean {
    const idx = (h1 >>> 0) >>> (32 - this.p);
    const rank = Math.clz32(h2) + 1;
    if (rank > (this.reg[idx] ?? 0)) {
      this.reg[idx] = rank;
      return true;
    }
    return false;
  }

  /** Estimated number of distinct values added. */
  estimate(): number {
    const m = this.m;
    const c = new Float64Array(Q + 2);
    for (let i = 0; i < m; i++) {
      const r = this.reg[i] ?? 0;
      c[r] = (c[r] ?? 0) + 1;
    }
    let z = m * tau(1 - (c[Q + 1] ?? 0) / m);
    for (let k = Q; k >= 1; k--) z = 0.5 * (z + (c[k] ?? 0));
    z += m * sigma((c[0] ?? 0) / m);
    return (m * m) / (2 * Math.LN2) / z;
  }

  /** Register-wise max with another sketch of the same precision (union). */
  merge(other: HyperLogLog): void {
    if (other.p !== this.p) throw new RangeError('cannot merge HyperLogLogs of different precision');
    for (let i = 0; i < this.m; i++) {
      const r = other.reg[i] ?? 0;
      if (r > (this.reg[i] ?? 0)) this.reg[i] = r;
    }
  }

  isEmpty(): boolean {
    for (let i = 0; i < this.m; i++) if (this.reg[i] !== 0) return false;
    return true;
  }

  clear(): void {
    this.reg.fill(0);
  }

  toJSON(): HllSnapshot {
    let set = 0;
    for (let i = 0; i < this.m; i++) if (this.reg[i] !== 0) set++;
    if (set <= this.m / 6) {
      const s: number[] = [];
      for (let i = 0; i < this.m; i++) {
        const r = this.reg[i] ?? 0;
        if (r !== 0) s.push(i * 64 + r);
      }
      return { p: this.p, s };
    }
    return { p: this.p, r: u8ToBase64(this.reg) };
  }

  static from(snap: HllSnapshot): HyperLogLog {
    const h = new HyperLogLog(snap?.p);
    if (Array.isArray(snap.s)) {
      for (const e of snap.s) {
        if (!Number.isInteger(e) || e < 0) throw new RangeError('invalid HLL snapshot entry');
        const idx = Math.floor(e / 64);
        const r = e % 64;
        if (idx >= h.m || r < 1 || r > Q + 1) throw new RangeError('invalid HLL snapshot entry');
        h.reg[idx] = r;
      }
      return h;
    }
    const regs = base64ToU8(snap.r, h.m, 'HLL registers');
    for (let i = 0; i < h.m; i++) {
      if ((regs[i] ?? 0) > Q + 1) throw new RangeError('invalid HLL register value');
    }
    h.reg.set(regs);
    return h;
  }
}
