/**
 * Local calendar facts (hour of day, day of week) for an IANA time zone, fast enough for the hot
 * path: the zone offset is computed with Intl once per UTC hour and cached, since offsets only
 * change on whole (or half/quarter) hours and Intl formatting is far too slow per event.
 */
export interface LocalTime {
  /** 0–23 in the zone. */
  hour: number;
  /** 0 = Monday … 6 = Sunday in the zone. */
  weekday: number;
  /** Offset from UTC in minutes at that instant. */
  offsetMinutes: number;
}

const HOUR = 3_600_000;

export class ZoneClock {
  private readonly formatter: Intl.DateTimeFormat | undefined;
  private cacheHour = Number.NaN;
  private cacheOffset = 0;

  constructor(readonly timeZone: string) {
    if (timeZone === 'UTC' || timeZone === 'Etc/UTC') {
      this.formatter = undefined;
    } else {
      try {
        this.formatter = new Intl.DateTimeFormat('en-US', {
          timeZone,
          hourCycle: 'h23',
          year: 'numeric',
          month: 'numeric',
          day: 'numeric',
          hour: 'numeric',
          minute: 'numeric',
        });
      } catch {
        throw new Error(`unknown time zone "${timeZone}" (use an IANA name such as Europe/Berlin or UTC)`);
      }
    }
  }

  offsetMinutes(ms: number): number {
    if (!this.formatter) return 0;
    const hour = Math.floor(ms / HOUR);
    if (hour !== this.cacheHour) {
      this.cacheHour = hour;
      this.cacheOffset = this.computeOffset(hour * HOUR);
    }
    return this.cacheOffset;
  }

  local(ms: number): LocalTime {
    const offsetMinutes = this.offsetMinutes(ms);
    const local = ms + offsetMinutes * 60_000;
    const hour = Math.floor(local / HOUR) % 24;
    // 1970-01-01 was a Thursday (3 when Monday is 0).
    const day = Math.floor(local / (24 * HOUR));
    return { hour: (hour + 24) % 24, weekday: (((day + 3) % 7) + 7) % 7, offsetMinutes };
  }

  private computeOffset(ms: number): number {
    const parts = (this.formatter as Intl.DateTimeFormat).formatToParts(new Date(ms));
    const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
    const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'));
    return Math.round((asUtc - ms) / 60_000);
  }
}
