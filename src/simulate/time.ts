/** Time helpers for the simulator: units, local days in an IANA time zone, RFC3339Nano stamps. */

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const WEEK = 7 * DAY;

/** Internal simulation clock unit: microseconds since the epoch (fits a double exactly). */
export const US_PER_MS = 1000;

export const iso = (ms: number): string => new Date(ms).toISOString();

/** UTC offset (ms, local − UTC) of `zone` at the instant `utcMs`. */
export class ZoneClock {
  private readonly fmt: Intl.DateTimeFormat;
  private readonly cache = new Map<number, number>();

  constructor(readonly zone: string) {
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  }

  /** Offset at `utcMs`, computed once per UTC quarter-hour (zones change offset on such boundaries). */
  offset(utcMs: number): number {
    const key = Math.floor(utcMs / (15 * MINUTE));
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const at = key * 15 * MINUTE;
    const parts: Record<string, number> = {};
    for (const p of this.fmt.formatToParts(new Date(at))) {
      if (p.type !== 'literal') parts[p.type] = Number(p.value);
    }
    const local = Date.UTC(
      parts['year'] ?? 1970,
      (parts['month'] ?? 1) - 1,
      parts['day'] ?? 1,
      parts['hour'] ?? 0,
      parts['minute'] ?? 0,
      parts['second'] ?? 0,
    );
    const off = local - at;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, off);
    return off;
  }

  /** UTC instant of local midnight starting the local day that contains `utcMs`. */
  localMidnight(utcMs: number): number {
    const off = this.offset(utcMs);
    const localMs = utcMs + off;
    const midnightLocal = Math.floor(localMs / DAY) * DAY;
    // Use the offset at (roughly) that midnight; good to the minute except on DST change nights.
    return midnightLocal - this.offset(midnightLocal - off);
  }

  /** Local day of week (0 = Sunday) at `utcMs`. */
  weekday(utcMs: number): number {
    return new Date(utcMs + this.offset(utcMs)).getUTCDay();
  }

  /** Local hour of day as a fraction (e.g. 13.5) at `utcMs`. */
  hourOfDay(utcMs: number): number {
    const local = utcMs + this.offset(utcMs);
    return (((local % DAY) + DAY) % DAY) / HOUR;
  }

  /** UTC instant for `hours` past local midnight of the local day starting at `midnightUtc`. */
  at(midnightUtc: number, hours: number): number {
    const guess = midnightUtc + hours * HOUR;
    // Correct for an offset change during the day (DST).
    return guess - (this.offset(guess) - this.offset(midnightUtc));
  }
}

/** UTC hour of day as a fraction. */
export function utcHour(ms: number): number {
  return (((ms % DAY) + DAY) % DAY) / HOUR;
}

export function utcWeekday(ms: number): number {
  return new Date(ms).getUTCDay();
}

/**
 * RFC3339Nano text for a microsecond timestamp, as Vault writes it (`2026-01-05T09:12:44.123456789Z`).
 * The last three (nanosecond) digits come from `salt` so stamps are not suspiciously round.
 */
export function stampUs(us: number, salt: number): string {
  const sec = Math.floor(us / 1_000_000);
  if (sec !== stampSec) {
    stampSec = sec;
    stampPrefix = new Date(sec * 1000).toISOString().slice(0, 20); // ...SS.
  }
  const frac = us - sec * 1_000_000; // 0..999999
  const nano = salt % 1000;
  return stampPrefix + pad6(frac) + pad3(nano) + 'Z';
}

let stampSec = -1;
let stampPrefix = '';
const pad3 = (n: number): string => (n < 10 ? '00' : n < 100 ? '0' : '') + n;
const pad6 = (n: number): string =>
  (n < 10 ? '00000' : n < 100 ? '0000' : n < 1000 ? '000' : n < 10000 ? '00' : n < 100000 ? '0' : '') + n;

/** Parse "2026-01-05" or a full ISO string to epoch ms (UTC when no zone is given). */
export function parseStart(text: string): number {
  const t = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : Date.parse(text);
  if (Number.isNaN(t)) throw new Error(`cannot parse date "${text}"`);
  return t;
}
