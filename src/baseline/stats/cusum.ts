/**
 * One-sided CUSUM on standardised residuals z (e.g. (x − μ)/σ of an hourly count).
 *
 * Upward: S ← max(0, S + min(z, zCap) − k); downward: S ← max(0, S − max(z, −zCap) − k). An alarm is raised
 * when S > h; with `resetOnAlarm` (default) S restarts at 0 so a persisting shift alarms again after
 * another ~h/(shift − k) steps. Defaults k = 0.5, h = 5 (σ units): a sustained +1σ shift alarms after
 * ~10 steps, while the per-step cap zCap = 3 (winsorised CUSUM) means no single spike can alarm by itself
 * (one step adds at most zCap − k = 2.5 < h). Non-finite z is ignored.
 *
 * Memory: 2 numbers per instance + a shared config ≈ 70 bytes in V8; snapshot ≈ 15–30 bytes of JSON.
 */
import { num } from './codec.js';

export interface CusumOptions {
  /** Allowance / reference value in σ units (default 0.5: tuned to detect ~1σ shifts). */
  k?: number;
  /** Decision threshold in σ units (default 5). */
  h?: number;
  /** Cap on |z| per step (default 3; Infinity disables winsorising). */
  zCap?: number;
  /** 'up' detects increases (default), 'down' decreases. */
  direction?: 'up' | 'down';
  /** Restart at 0 after an alarm (default true). */
  resetOnAlarm?: boolean;
}

export type CusumConfig = Readonly<Required<CusumOptions>>;

const configCache = new WeakMap<CusumOptions, CusumConfig>();

/** Validated config with defaults; cached per options object. */
export function cusumConfig(o: CusumOptions = {}): CusumConfig {
  const cached = configCache.get(o);
  if (cached) return cached;
  const cfg: CusumConfig = Object.freeze({
    k: o.k ?? 0.5,
    h: o.h ?? 5,
    zCap: o.zCap ?? 3,
    direction: o.direction ?? 'up',
    resetOnAlarm: o.resetOnAlarm ?? true,
  });
  if (!(cfg.k >= 0) || !Number.isFinite(cfg.k)) throw new RangeError('CUSUM k must be a finite number ≥ 0');
  if (!(cfg.h > 0) || !Number.isFinite(cfg.h)) throw new RangeError('CUSUM h must be a finite number > 0');
  if (!(cfg.zCap > 0)) throw new RangeError('CUSUM zCap must be > 0');
  if (cfg.direction !== 'up' && cfg.direction !== 'down')
    throw new RangeError("CUSUM direction must be 'up' or 'down'");
  configCache.set(o, cfg);
  return cfg;
}

const DEFAULT_OPTIONS: CusumOptions = {};

export interface CusumSnapshot {
  /** Statistic S. */
  s: number;
  /** Steps since S was last 0. */
  n: number;
}

export class Cusum {
  readonly config: CusumConfig;
  private s = 0;
  private n = 0;

  constructor(options: CusumOptions = DEFAULT_OPTIONS) {
    this.config = cusumConfig(options);
  }

  /** Current statistic S (≥ 0). */
  get value(): number {
    return this.s;
  }

  /** Number of consecutive updates with S > 0: an estimate of how long ago the shift started. */
  get runLength(): number {
    return this.n;
  }

  /** Feed one standardised residual; returns true when S > h after this step (an alarm; with resetOnAlarm, once per crossing). */
  update(z: number): boolean {
    if (!Number.isFinite(z)) return false;
    const { k, h, zCap, direction, resetOnAlarm } = this.config;
    let step = direction === 'up' ? z : -z;
    if (step > zCap) step = zCap;
    else if (step < -zCap) step = -zCap;
    const s = this.s + step - k;
    if (s <= 0) {
      this.s = 0;
      this.n = 0;
      return false;
    }
    this.s = s;
    this.n += 1;
    if (s > h) {
      if (resetOnAlarm) {
        this.s = 0;
        this.n = 0;
      }
      return true;
    }
    return false;
  }

  reset(): void {
    this.s = 0;
    this.n = 0;
  }

  toJSON(): CusumSnapshot {
    return { s: this.s, n: this.n };
  }

  restore(snap: CusumSnapshot): this {
    const s = num(snap?.s, 's');
    const n = num(snap?.n, 'n');
    if (s < 0 || n < 0) throw new RangeError('invalid snapshot: negative CUSUM state');
    this.s = s;
    this.n = n;
    return this;
  }

  static from(snap: CusumSnapshot, options: CusumOptions = DEFAULT_OPTIONS): Cusum {
    return new Cusum(options).restore(snap);
  }
}
