import { CronExpressionParser } from 'cron-parser';

/**
 * Whether event time `t` is inside one of the windows a cron expression opens (each `durationMs` long,
 * in a time zone): known schedules and maintenance windows. Cron arithmetic is slow next to
 * per-event work, so the answer is cached for the stretch of time over which it cannot change (the
 * open window, or the gap until the next opening); event time moves forward, so that is nearly
 * always a hit.
 */
export class CronWindow {
  private from = Number.POSITIVE_INFINITY;
  private until = Number.NEGATIVE_INFINITY;
  private open = false;

  constructor(
    readonly cron: string,
    readonly durationMs: number,
    readonly timeZone: string,
  ) {
    // Fails here, at load, on a bad expression or time zone.
    CronExpressionParser.parse(cron, { tz: timeZone });
  }

  isOpen(t: number): boolean {
    if (t >= this.from && t < this.until) return this.open;
    // prev() from t + 1 ms: the latest start at or before t; next() from t: the first one after it.
    const tz = this.timeZone;
    const lastStart = CronExpressionParser.parse(this.cron, { currentDate: new Date(t + 1), tz })
      .prev()
      .getTime();
    const nextStart = CronExpressionParser.parse(this.cron, { currentDate: new Date(t), tz })
      .next()
      .getTime();
    const lastEnd = lastStart + this.durationMs;
    this.open = t < lastEnd;
    this.from = this.open ? lastStart : lastEnd;
    this.until = this.open ? lastEnd : nextStart;
    return this.open;
  }
}
