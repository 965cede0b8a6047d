import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Alert, AlertTransition } from '../alerts/alert.js';
import { loadConfig, PACKAGE_ROOT } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { ReplayProgress } from '../ingest/replay-file.js';
import type { AlertSink } from '../notify/sink.js';
import { replay, type ReplaySummary } from '../replay.js';
import { generate, GENERATOR_VERSION, resolveSimOptions } from './generate.js';
import { labelsPathFor, type ScenarioKind, type SimLabels } from './labels.js';
import { scoreAlerts, type EvalReport, type ScoreOptions } from './score.js';
import { iso } from './time.js';

export { formatReport, scoreAlerts, TARGETS, type EvalReport, type ScoreOptions } from './score.js';

/**
 * The evaluation harness: simulate (or reuse a cached simulation), replay the audit log through
 * the real pipeline with the default configuration, capture every alert transition, then score
 * them against the labels. Detection sees only the audit file; the labels are read after the
 * replay has finished, for scoring alone.
 */

/** Keeps what scoring needs from each transition (opens in full, the rest counted). */
export class CaptureSink implements AlertSink {
  readonly name = 'evaluation-capture';
  readonly opened: AlertTransition[] = [];
  readonly counts = { open: 0, update: 0, resolve: 0 };

  async write(transitions: readonly AlertTransition[], recovering = false): Promise<void> {
    if (recovering) return;
    for (const t of transitions) {
      this.counts[t.action]++;
      if (t.action === 'open') this.opened.push({ action: t.action, at: t.at, alert: slim(t.alert) });
    }
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

function slim(a: Alert): Alert {
  return {
    ...a,
    paths: a.paths.slice(0, 5),
    eventIds: [],
    evidence: {},
  };
}

export interface RunEvaluationOptions {
  seed?: number;
  days?: number;
  identities?: number;
  intensity?: number;
  perKind?: number;
  scenarios?: ScenarioKind[];
  /** Regenerate even when a cached simulation with the same parameters exists. */
  fresh?: boolean;
  /** Where simulations are cached (default var/eval under the package root). */
  cacheDir?: string;
  /** Configuration to replay with (default: loadConfig()). */
  config?: Config;
  score?: ScoreOptions;
  /** Progress messages (one line each). */
  log?: (line: string) => void;
  onReplayProgress?: (p: ReplayProgress) => void;
  onGenerateProgress?: (p: { simulatedUntil: number; lines: number }) => void;
}

export interface EvaluationResult {
  report: EvalReport;
  logPath: string;
  labelsPath: string;
  replay: ReplaySummary;
  cached: boolean;
}

/** Cache file for a parameter set (the generator version is part of the key). */
export function cachePathFor(dir: string, o: ReturnType<typeof resolveSimOptions>): string {
  const key = JSON.stringify({
    v: GENERATOR_VERSION,
    seed: o.seed,
    days: o.days,
    identities: o.identities,
    start: o.start,
    tz: o.timeZone,
    scenarios: o.scenarios,
    intensity: o.intensity,
    perKind: o.perKind,
    warmup: o.warmupDays,
    flavor: o.flavor,
    ns: o.namespace ?? null,
  });
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 10);
  return join(dir, `sim-s${o.seed}-d${o.days}-n${o.identities}-${hash}.ndjson.gz`);
}

export async function runEvaluation(opts: RunEvaluationOptions = {}): Promise<EvaluationResult> {
  const log = opts.log ?? (() => {});
  const sim = resolveSimOptions({
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.days !== undefined ? { days: opts.days } : {}),
    ...(opts.identities !== undefined ? { identities: opts.identities } : {}),
    ...(opts.intensity !== undefined ? { intensity: opts.intensity } : {}),
    ...(opts.perKind !== undefined ? { perKind: opts.perKind } : {}),
    ...(opts.scenarios !== undefined ? { scenarios: opts.scenarios } : {}),
  });
  const dir = opts.cacheDir ?? join(PACKAGE_ROOT, 'var', 'eval');
  mkdirSync(dir, { recursive: true });
  const logPath = cachePathFor(dir, sim);
  const labelsPath = labelsPathFor(logPath);

  let cached = existsSync(logPath) && existsSync(labelsPath) && !opts.fresh;
  let generationSeconds: number | undefined;
  if (cached) {
    log(`using cached simulation ${logPath}`);
  } else {
    const tmp = `${logPath}.tmp-${process.pid}.gz`;
    log(`simulating ${sim.days} days, ${sim.identities} identities, seed ${sim.seed} → ${logPath}`);
    try {
      const res = await generate({
        ...sim,
        out: tmp,
        ...(opts.onGenerateProgress ? { onProgress: opts.onGenerateProgress } : {}),
      });
      generationSeconds = res.elapsedMs / 1000;
      log(
        `  ${res.lines.toLocaleString('en')} lines, ${(res.bytes / 1048576).toFixed(0)} MiB ` +
          `(${(res.fileBytes / 1048576).toFixed(0)} MiB gzipped) in ${generationSeconds.toFixed(1)} s ` +
          `(${Math.round(res.lines / Math.max(generationSeconds, 0.001)).toLocaleString('en')} lines/s)`,
      );
      renameSync(labelsPathFor(tmp), labelsPath);
      renameSync(tmp, logPath);
    } catch (err) {
      rmSync(tmp, { force: true });
      rmSync(labelsPathFor(tmp), { force: true });
      throw err;
    }
    cached = false;
  }

  // Detection: the audit file only.
  const config = opts.config ?? loadConfig().config;
  const capture = new CaptureSink();
  log(`replaying ${logPath} through the pipeline (default configuration)`);
  const summary = await replay({
    config,
    input: logPath,
    sinks: [capture],
    ...(opts.onReplayProgress ? { onProgress: opts.onReplayProgress } : {}),
  });
  const replaySeconds = summary.elapsedMs / 1000;

  // Scoring: now, and only now, the labels.
  const labels = JSON.parse(readFileSync(labelsPath, 'utf8')) as SimLabels;
  const report = scoreAlerts(labels, capture.opened, opts.score);
  report.run = {
    ...report.run,
    lines: labels.stats.lines,
    cached,
    ...(generationSeconds !== undefined ? { generationSeconds: Number(generationSeconds.toFixed(1)) } : {}),
    replaySeconds: Number(replaySeconds.toFixed(1)),
    replayLinesPerSecond: Math.round(summary.counters.lines / Math.max(replaySeconds, 0.001)),
    replay: {
      lines: summary.counters.lines,
      accesses: summary.counters.events,
      deadLettered: summary.counters.deadLettered,
      pairs: summary.pairs,
      transitions: capture.counts,
      lastEventAt: summary.lastEventAt ?? null,
    },
    evaluatedAt: iso(Date.now()),
  };
  return { report, logPath, labelsPath, replay: summary, cached };
}
