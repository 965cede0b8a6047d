import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';

export interface JobSpec {
  name: string;
  /** Cron expression; six fields allowed (seconds first). */
  schedule: string;
  run: () => Promise<unknown>;
}

/**
 * node-cron with the properties Vigil needs: runs never overlap (a slow run makes the next one skip,
 * counted), schedules follow the configured time zone, failures are logged and counted and never
 * stop the schedule, and nothing keeps the process alive on its own.
 */
export class Scheduler {
  private readonly tasks: ScheduledTask[] = [];
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(
    private readonly timeZone: string,
    private readonly logger: Logger,
    private readonly metrics?: Metrics,
  ) {}

  add(job: JobSpec): void {
    if (!cron.validate(job.schedule))
      throw new Error(`job ${job.name}: invalid cron expression "${job.schedule}"`);
    const task = cron.createTask(job.schedule, () => this.execute(job), {
      name: job.name,
      timezone: this.timeZone,
      noOverlap: true,
      unref: true,
      suppressMissedWarning: true,
    });
    task.on('execution:overlap', () => {
      this.metrics?.jobs.inc({ job: job.name, result: 'skipped' });
      this.logger.debug({ job: job.name }, 'job still running; this run is skipped');
    });
    this.tasks.push(task);
  }

  start(): void {
    for (const t of this.tasks) void t.start();
  }

  /** Stop scheduling and wait for runs in progress. */
  async stop(): Promise<void> {
    for (const t of this.tasks) await t.stop();
    for (const t of this.tasks) await t.destroy();
    await Promise.allSettled(this.running.values());
  }

  /** Run a job now (also used by tests and by SIGHUP), sharing the no-overlap rule. */
  async runNow(name: string, jobs: JobSpec[]): Promise<void> {
    const job = jobs.find((j) => j.name === name);
    if (job) await this.execute(job);
  }

  private async execute(job: JobSpec): Promise<void> {
    const inFlight = this.running.get(job.name);
    if (inFlight) {
      this.metrics?.jobs.inc({ job: job.name, result: 'skipped' });
      return;
    }
    const started = process.hrtime.bigint();
    const promise = job.run();
    this.running.set(job.name, promise);
    try {
      await promise;
      this.metrics?.jobs.inc({ job: job.name, result: 'ok' });
    } catch (err) {
      this.metrics?.jobs.inc({ job: job.name, result: 'error' });
      this.logger.error({ err, job: job.name }, 'scheduled job failed');
    } finally {
      this.running.delete(job.name);
      this.metrics?.jobSeconds.observe({ job: job.name }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }
}

/**
 * A cron expression for "every `ms`": whole seconds dividing a minute, whole minutes dividing an hour,
 * or whole hours dividing a day. Anything else cannot be a fixed cron schedule.
 */
export function everyAsCron(ms: number): string {
  const s = ms / 1000;
  if (Number.isInteger(s) && s >= 1 && s < 60 && 60 % s === 0) return `*/${s} * * * * *`;
  const m = ms / 60_000;
  if (Number.isInteger(m) && m >= 1 && m < 60 && 60 % m === 0) return `0 */${m} * * * *`;
  const h = ms / 3_600_000;
  if (Number.isInteger(h) && h >= 1 && h <= 24 && 24 % h === 0)
    return h === 24 ? '0 0 0 * * *' : `0 0 */${h} * * *`;
  throw new Error(
    `an interval of ${ms} ms cannot be a cron schedule; use whole seconds dividing a minute, minutes dividing an hour, or hours dividing a day`,
  );
}
