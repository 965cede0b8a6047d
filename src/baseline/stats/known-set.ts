/**
 * `KnownSet` — "has this group ever used this value?" for many values at a few bits each: a scalable
 * Bloom filter (Almeida et al., 2007). It starts with one small filter; when a filter holds as many
 * values as it was sized for, a filter twice as large is added, so the false-positive rate stays below
 * 0.1 % per filter while the memory follows the number of values actually seen (a service with ten
 * secrets costs ~100 bytes, a CI runner with a thousand ~2–4 KB). After `maxFilters` the last one keeps
 * filling and its false-positive rate rises.
 *
 * A false positive makes a new value look known (the only error a Bloom filter makes); that is why the
 * filters are kept sparse and why callers should use it for a count (new values in a window), where a
 * few percent undercount does not change the outcome, rather than for a single value.
 *
 * Snapshot: per filter its bit array (base64) and its fill count; ≈ 3 characters per value.
 */
import { hash64 } from './hll.js';

export interface KnownSetOptions {
  /** Bits of the first filter (a multiple of 32; default 512 ≈ 32 values). */
  initialBits?: number;
  /** Filters at most (each twice the previous; default 7 → 65,024 bits ≈ 8 KB ≈ 4,000 values). */
  maxFilters?: number;
}

export interface KnownSetSnapshot {
  f: string[];
  n: number[];
}

// 16 bits and 8 hashes per value: ≈ 0.06 % false positives per full filter, ≈ 0.3 % over seven.
const BITS_PER_VALUE = 16;
const HASHES = 8;

export class KnownSet {
  private filters: Uint32Array[] = [];
  private counts: number[] = [];
  private readonly initialBits: number;
  private readonly maxFilters: number;

  constructor(options: KnownSetOptions = {}) {
    this.initialBits = options.initialBits ?? 512;
    this.maxFilters = options.maxFilters ?? 7;
    if (this.initialBits < 32 || this.initialBits % 32 !== 0)
      throw new RangeError('initialBits must be a multiple of 32');
  }

  /** Values added so far (an estimate: duplicates that looked new are counted twice). */
  get size(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  has(value: string): boolean {
    const h = hash64(value);
    return this.test(h[0] as number, (h[1] as number) | 1);
  }

  /** Add a value; true when it was not (as far as the filters can tell) known before. */
  add(value: string): boolean {
    const h = hash64(value);
    const h1 = h[0] as number;
    // An odd step visits distinct bits in a power-of-two filter.
    const h2 = (h[1] as number) | 1;
    if (this.test(h1, h2)) return false;
    let last = this.filters.length - 1;
    if (last < 0 || ((this.counts[last] as number) >= this.capacity(last) && last + 1 < this.maxFilters)) {
      this.filters.push(new Uint32Array((this.initialBits << (last + 1)) / 32));
      this.counts.push(0);
      last++;
    }
    const bits = this.filters[last] as Uint32Array;
    const m = bits.length * 32;
    for (let i = 0; i < HASHES; i++) {
      const b = ((h1 + Math.imul(i, h2)) >>> 0) % m;
      bits[b >>> 5] = (bits[b >>> 5] as number) | (1 << (b & 31));
    }
    this.counts[last] = (this.counts[last] as number) + 1;
    return true;
  }

  toJSON(): KnownSetSnapshot {
    return {
      f: this.filters.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')),
      n: [...this.counts],
    };
  }

  static from(j: KnownSetSnapshot, options: KnownSetOptions = {}): KnownSet {
    const s = new KnownSet(options);
    s.filters = j.f.map((b64) => {
      const buf = Buffer.from(b64, 'base64');
      const out = new Uint32Array(buf.length / 4);
      Buffer.from(out.buffer).set(buf);
      return out;
    });
    s.counts = [...j.n];
    return s;
  }

  private capacity(i: number): number {
    return ((this.initialBits << i) / BITS_PER_VALUE) | 0;
  }

  private test(h1: number, h2: number): boolean {
    for (const bits of this.filters) {
      const m = bits.length * 32;
      let all = true;
      for (let i = 0; i < HASHES; i++) {
        const b = ((h1 + Math.imul(i, h2)) >>> 0) % m;
        if (((bits[b >>> 5] as number) & (1 << (b & 31))) === 0) {
          all = false;
          break;
        }
      }
      if (all) return true;
    }
    return false;
  }
}
