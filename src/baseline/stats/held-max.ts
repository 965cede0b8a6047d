/**
 * The largest value observed lately, held rather than decayed: the maximum over the current period
 * and the one before it, so it remembers between one and two periods. A decayed peak drifts below a
 * value that recurs exactly (a job that always reads the same 30 secrets), and "no more than its
 * busiest window" must compare equal for equal work. Three numbers; event time; deterministic.
 */
export class HeldMax {
  private period = Number.NaN;
  private current = 0;
  private previous = 0;

  constructor(readonly periodMs: number) {
    if (!(periodMs > 0)) throw new RangeError('periodMs must be positive');
  }

  observe(value: number, at: number): void {
    if (!Number.isFinite(at) || !Number.isFinite(value)) return;
    this.roll(at);
    if (value > this.current) this.current = value;
  }

  /** The maximum held at `at` (0 when nothing was observed in the last one to two periods). */
  value(at: number): number {
    const p = Math.floor(at / this.periodMs);
    if (Number.isNaN(this.period) || p > this.period + 1) return 0;
    if (p === this.period + 1) return this.current;
    return Math.max(this.current, this.previous);
  }

  toJSON(): HeldMaxSnapshot {
    return [this.period, this.current, this.previous];
  }

  static from(s: HeldMaxSnapshot, periodMs: number): HeldMax {
    const h = new HeldMax(periodMs);
    [h.period, h.current, h.previous] = s;
    return h;
  }

  private roll(at: number): void {
    const p = Math.floor(at / this.periodMs);
    if (Number.isNaN(this.period) || p <= this.period) {
      if (Number.isNaN(this.period)) this.period = p;
      return;
    }
    this.previous = p === this.period + 1 ? this.current : 0;
    this.current = 0;
    this.period = p;
  }
}

/** [period index, current maximum, previous period's maximum]. */
export type HeldMaxSnapshot = [number, number, number];
