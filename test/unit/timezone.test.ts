import { describe, expect, it } from 'vitest';
import { ZoneClock } from '../../src/util/timezone.js';

describe('ZoneClock', () => {
  it('is UTC by default semantics', () => {
    const z = new ZoneClock('UTC');
    // 2026-03-02 is a Monday.
    expect(z.local(Date.parse('2026-03-02T23:30:00Z'))).toEqual({ hour: 23, weekday: 0, offsetMinutes: 0 });
    expect(z.local(Date.parse('2026-03-08T00:10:00Z')).weekday).toBe(6);
  });

  it('follows daylight saving time in Europe/Berlin', () => {
    const z = new ZoneClock('Europe/Berlin');
    expect(z.local(Date.parse('2026-03-02T08:00:00Z'))).toMatchObject({ hour: 9, offsetMinutes: 60 });
    // Clocks go forward on 2026-03-29 at 01:00 UTC.
    expect(z.local(Date.parse('2026-03-29T00:30:00Z'))).toMatchObject({ hour: 1, offsetMinutes: 60 });
    expect(z.local(Date.parse('2026-03-29T01:30:00Z'))).toMatchObject({ hour: 3, offsetMinutes: 120 });
    // Sunday 23:30 UTC is already Monday in Berlin.
    expect(z.local(Date.parse('2026-03-01T23:30:00Z'))).toMatchObject({ hour: 0, weekday: 0 });
  });

  it('handles half-hour zones and rejects unknown ones', () => {
    expect(new ZoneClock('Asia/Kolkata').local(Date.parse('2026-03-02T00:00:00Z'))).toMatchObject({
      hour: 5,
      offsetMinutes: 330,
    });
    expect(() => new ZoneClock('Mars/Olympus')).toThrow(/unknown time zone/);
  });
});
