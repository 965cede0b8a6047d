import { afterEach, describe, expect, it, vi } from 'vitest';
import { Scheduler, type JobSpec } from '../../../src/jobs/scheduler.js';
import { Metrics } from '../../../src/ops/metrics.js';
import { captureLogger } from '../notify/helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

const runs = async (metrics: Metrics, job: string, result: string) =>
  (await metrics.registry.getSingleMetric('vigil_jobs_total')?.get())?.values.find(
    (v) => v.labels['job'] === job && v.labels['result'] === result,
  )?.value ?? 0;

function scheduler(timeZone = 'UTC') {
  const metrics = new Metrics({ processMetrics: false });
  const { logger, lines } = captureLogger();
  return { s: new Scheduler(timeZone, logger, metrics), metrics, lines };
}

describe('Scheduler', () => {
  it('never runs a job twice at once: a run that is still going makes the next one skip, counted', async () => {
    const { s, metrics } = scheduler();
    let active = 0;
    let most = 0;
    let release!: () => void;
    const job: JobSpec = {
      name: 'slow',
      schedule: '* * * * *',
      run: async () => {
        active++;
        most = Math.max(most, active);
        await new Promise<void>((r) => (release = r));
        active--;
      },
    };
    const first = s.runNow('slow', [job]);
    await s.runNow('slow', [job]);
    await s.runNow('slow', [job]);
    release();
    await first;
    expect(most).toBe(1);
    expect(await runs(metrics, 'slow', 'skipped')).toBe(2);
    expect(await runs(metrics, 'slow', 'ok')).toBe(1);
  });

  it('logs and counts a failing run, and keeps the schedule', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-03-02T08:59:58.500Z') });
    const { s, metrics, lines } = scheduler();
    let calls = 0;
    s.add({
      name: 'flaky',
      schedule: '* * * * * *',
      run: async () => {
        calls++;
        if (calls === 1) throw new Error('disk full');
      },
    });
    s.start();
    await vi.advanceTimersByTimeAsync(3000);
    await s.stop();
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(await runs(metrics, 'flaky', 'error')).toBe(1);
    expect(await runs(metrics, 'flaky', 'ok')).toBe(calls - 1);
    expect(lines.some((l) => l.includes('scheduled job failed') && l.includes('disk full'))).toBe(true);
  });

  it.each([
    ['Europe/Paris', 1],
    ['UTC', 0],
  ])('reads schedules in the configured time zone (%s)', async (zone, expected) => {
    // 10:00 in Paris on 2026-03-02 is 09:00 UTC; the clock starts just before that.
    vi.useFakeTimers({ now: Date.parse('2026-03-02T08:59:59.000Z') });
    const { s } = scheduler(zone);
    let calls = 0;
    s.add({
      name: 'ten',
      schedule: '0 0 10 * * *',
      run: async () => {
        calls++;
      },
    });
    s.start();
    await vi.advanceTimersByTimeAsync(5000);
    await s.stop();
    expect(calls).toBe(expected);
  });

  it('rejects an invalid cron expression when the job is added', () => {
    const { s } = scheduler();
    expect(() => s.add({ name: 'bad', schedule: 'every day', run: async () => undefined })).toThrow(
      /job bad: invalid cron expression/,
    );
  });
});
