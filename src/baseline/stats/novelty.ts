/**
 * First-seen tracking with a self-calibrating novelty probability.
 *
 * `SeenSet` remembers, per value, { firstSeen, lastSeen, count }, bounded by `cap` values (least recently
 * seen evicted first) and forgetting values unseen for `ttlMs` (a forgotten value is new again). Alongside
 * it keeps two decayed counters (half-life `halfLifeMs`): n = observations and d = observations whose value
 * was new, giving the smoothed novelty rate pNew = (d + 1)/(n + 2). A roaming identity that sees new values
 * all the time has pNew ≈ 0.3–1 (no surprise); a service that used one value for a month has pNew ≈ 1e-3,
 * so surprise = −log10 pNew for a new value self-calibrates per identity.
 *
 * `check(value, at)` answers without mutating (score first, then decide whether to learn); `observe`
 * learns. Eviction by the cap makes an evicted value look new again (fail-loud, never a missed novelty).
 *
 * Times are event times (epoch ms); an `at` earlier than the newest time seen is treated as the newest
 * (LRU order = last-seen order, so expiry pops from the front).
 *
 * Memory (Node 20 / V8, measured over 100k instances): ≈ 580 bytes with one value, then ≈ 90 bytes per
 * value for ~12-character values (24 bytes of slot data in a packed double array, the Map entry and the
 * string); 32 values ≈ 3.4 KB. Snapshot ≈ 90 bytes + ≈ 45 bytes + the string per value.
 */
import { decayFactor } from './decayed.js';
import { noneToNull, num, numOrNone } from './codec.js';

const NONE = Number.NEGATIVE_INFINITY;
const DAY_MS = 86_400_000;

export interface SeenSetOptions {
  /** Most values remembered (default 512). */
  cap?: number;
  /** Forget values unseen for this long (default 90 days). */
  ttlMs?: number;
  /** Half-life of the n/d novelty counters (default 30 days). */
  halfLifeMs?: number;
}

export type SeenSetConfig = Readonly<Required<SeenSetOptions>>;

const configCache = new WeakMap<SeenSetOptions, SeenSetConfig>();

/** Validated config with defaults; cached per options object (instances share it). */
export function seenSetConfig(o: SeenSetOptions = {}): SeenSetConfig {
  const cached = configCache.get(o);
  if (cached) return cached;
  const cfg: SeenSetConfig = Object.freeze({
    cap: o.cap ?? 512,
    ttlMs: o.ttlMs ?? 90 * DAY_MS,
    halfLifeMs: o.halfLifeMs ?? 30 * DAY_MS,
  });
  if (!Number.isInteger(cfg.cap) || cfg.cap < 1) throw new RangeError('cap must be a positive integer');
  if (!(cfg.ttlMs > 0)) throw new RangeError('ttlMs must be > 0');
  if (!(cfg.halfLifeMs > 0)) throw new RangeError('halfLifeMs must be > 0');
  configCache.set(o, cfg);
  return cfg;
}

const DEFAULT_OPTIONS: SeenSetOptions = {};

/** Result of `SeenSet.check`. */
export interface SeenCheck {
  /** The value is remembered and was seen within the TTL. */
  seen: boolean;
  /** Smoothed probability that an observation is new: (d + 1)/(n + 2) on decayed counts. */
  pNew: number;
  /** Time since the set's first observation (0 for an empty set): use for warm-up muting. */
  ageOfSet: number;
  /** Times the value was seen (0 when not seen). */
  count: number;
  /** First / last time the value was seen (undefined when not seen). */
  firstSeen: number | undefined;
  lastSeen: number | undefined;
}

/** Snapshot: created/last time, decayed n and d, entries [value, firstSeen, lastSeen, count] LRU-first. */
export interface SeenSetSnapshot {
  c: number | null;
  t: number | null;
  n: number;
  d: number;
  e: Array<[string, number, number, number]>;
}

export class SeenSet {
  readonly config: SeenSetConfig;
  /** value → slot; Map order = least recently seen first. */
  private readonly index = new Map<string, number>();
  /** Slot data, stride 3: firstSeen, lastSeen, count. */
  private data: number[] = [];
  private free: number[] | undefined;
  private createdAt = NONE;
  private lastAt = NONE;
  private n = 0;
  private d = 0;

  constructor(options: SeenSetOptions = DEFAULT_OPTIONS) {
    this.config = seenSetConfig(options);
  }

  /** Number of remembered values (some may have passed the TTL since the last observe). */
  get size(): number {
    return this.index.size;
  }

  /** Decayed observation count n at `at`. */
  observationsAt(at: number): number {
    return this.n * this.decay(at);
  }

  /** Smoothed novelty probability (d + 1)/(n + 2) at `at` (no mutation). */
  pNew(at: number): number {
    const f = this.decay(at);
    return (this.d * f + 1) / (this.n * f + 2);
  }

  /** Whether `value` is remembered and seen within the TTL as of `at` (no mutation). */
  has(value: string, at: number): boolean {
    const slot = this.index.get(value);
    return slot !== undefined && (this.data[3 * slot + 1] ?? NONE) > at - this.config.ttlMs;
  }

  /** When `value` was last seen (if remembered and within the TTL as of `at`); allocation-free. */
  lastSeenAt(value: string, at: number): number | undefined {
    const slot = this.index.get(value);
    if (slot === undefined) return undefined;
    const last = this.data[3 * slot + 1] ?? NONE;
    return last > at - this.config.ttlMs ? last : undefined;
  }

  /** Score `value` at `at` without learning it. */
  check(value: string, at: number): SeenCheck {
    const slot = this.index.get(value);
    const seen = slot !== undefined && (this.data[3 * slot + 1] ?? NONE) > at - this.config.ttlMs;
    return {
      seen,
      pNew: this.pNew(at),
      ageOfSet: this.createdAt === NONE ? 0 : Math.max(0, at - this.createdAt),
      count: seen ? (this.data[3 * (slot as number) + 2] ?? 0) : 0,
      firstSeen: seen ? this.data[3 * (slot as number)] : undefined,
      lastSeen: seen ? this.data[3 * (slot as number) + 1] : undefined,
    };
  }

  /** Learn that `value` was seen at `at`. Returns true when it counted as new. */
  observe(value: string, at: number): boolean {
    if (!Number.isFinite(at)) return false;
    const t = at > this.lastAt ? at : this.lastAt;
    const f = this.lastAt === NONE ? 0 : decayFactor(t - this.lastAt, this.config.halfLifeMs);
    const ttl = this.config.ttlMs;
    let slot = this.index.get(value);
    const isNew = slot === undefined || (this.data[3 * slot + 1] ?? NONE) <= t - ttl;
    this.n = this.n * f + 1;
    this.d = this.d * f + (isNew ? 1 : 0);
    if (slot !== undefined) {
      this.index.delete(value);
      this.index.set(value, slot);
      const base = 3 * slot;
      if (isNew) {
        this.data[base] = t;
        this.data[base + 2] = 1;
      } else {
        this.data[base + 2] = Math.min((this.data[base + 2] ?? 0) + 1, Number.MAX_SAFE_INTEGER);
      }
      this.data[base + 1] = t;
    } else {
      slot = this.allocate();
      this.index.set(value, slot);
      const base = 3 * slot;
      this.data[base] = t;
      this.data[base + 1] = t;
      this.data[base + 2] = 1;
    }
    if (this.createdAt === NONE) this.createdAt = t;
    // Dropping expired values is only housekeeping (has/check already ignore them), so it runs once
    // per 1/64 of the TTL, on boundaries that depend only on event time: a Map iterated from its
    // front after many deletions skips ever more holes, and doing that on every observation is slow.
    const every = ttl / 64;
    const due = this.lastAt === NONE || Math.floor(t / every) > Math.floor(this.lastAt / every);
    this.lastAt = t;
    if (due) this.expire(t - ttl);
    return isNew;
  }

  /** Iterate remembered values, least recently seen first: [value, firstSeen, lastSeen, count]. */
  *entries(): IterableIterator<[string, number, number, number]> {
    for (const [v, slot] of this.index) {
      const b = 3 * slot;
      yield [v, this.data[b] ?? 0, this.data[b + 1] ?? 0, this.data[b + 2] ?? 0];
    }
  }

  private decay(at: number): number {
    if (this.lastAt === NONE) return 0;
    return decayFactor(at - this.lastAt, this.config.halfLifeMs);
  }

  /** A free slot: a freed one, a new one, or (at the cap) the least recently seen value's. */
  private allocate(): number {
    const free = this.free;
    if (free !== undefined && free.length > 0) {
      const s = free.pop() as number;
      if (free.length === 0) this.free = undefined;
      return s;
    }
    if (this.index.size >= this.config.cap) {
      const oldest = this.index.entries().next();
      if (!oldest.done) {
        const [v, s] = oldest.value;
        this.index.delete(v);
        return s;
      }
    }
    const s = this.data.length / 3;
    this.data.push(0, 0, 0);
    return s;
  }

  /** Drop values whose lastSeen ≤ cutoff (they are at the front of the LRU order). */
  private expire(cutoff: number): void {
    for (const [v, slot] of this.index) {
      if ((this.data[3 * slot + 1] ?? NONE) > cutoff) return;
      this.index.delete(v);
      (this.free ??= []).push(slot);
    }
  }

  toJSON(): SeenSetSnapshot {
    return {
      c: noneToNull(this.createdAt),
      t: noneToNull(this.lastAt),
      n: this.n,
      d: this.d,
      e: Array.from(this.entries()),
    };
  }

  restore(s: SeenSetSnapshot): this {
    const c = numOrNone(s?.c, 'c');
    const t = numOrNone(s?.t, 't');
    const n = num(s?.n, 'n');
    const d = num(s?.d, 'd');
    if (!Array.isArray(s.e)) throw new TypeError('invalid snapshot: e');
    if (n < 0 || d < 0) throw new RangeError('invalid snapshot: negative counters');
    const seen = new Set<string>();
    for (const e of s.e) {
      if (!Array.isArray(e) || typeof e[0] !== 'string') throw new TypeError('invalid snapshot: entry');
      if (seen.has(e[0])) throw new RangeError('invalid snapshot: duplicate value');
      seen.add(e[0]);
    }
    // Keep the most recently seen `cap` values (the cap may have shrunk since the snapshot).
    const keep = s.e.slice(Math.max(0, s.e.length - this.config.cap));
    const data: number[] = [];
    for (const e of keep) data.push(num(e[1], 'firstSeen'), num(e[2], 'lastSeen'), num(e[3], 'count'));
    this.index.clear();
    keep.forEach((e, i) => this.index.set(e[0], i));
    this.data = data;
    this.free = undefined;
    this.createdAt = c;
    this.lastAt = t;
    this.n = n;
    this.d = d;
    return this;
  }

  static from(s: SeenSetSnapshot, options: SeenSetOptions = DEFAULT_OPTIONS): SeenSet {
    return new SeenSet(options).restore(s);
  }
}
