import { rmSync } from 'node:fs';
import type { AlertTransition } from './alerts/alert.js';
import type { Config } from './config/schema.js';
import { createPipeline, loadConfiguredDetectors } from './core.js';
import { FileDeadLetterSink, NullDeadLetterSink, type DeadLetterSink } from './ingest/dead-letter.js';
import { ReplayFileSource, type ReplayProgress } from './ingest/replay-file.js';
import { ParseAhead } from './audit/parse-ahead.js';
import { AlertLogSink } from './notify/alert-log.js';
import { ConsoleSink } from './notify/console.js';
import type { AlertSink } from './notify/sink.js';
import { silentLogger, type Logger } from './ops/logger.js';
import type { PipelineCounters } from './pipeline.js';
import { Runner } from './runner.js';
import { FileJournal, MemoryJournal } from './store/journal.js';
import { StateStore } from './store/state-store.js';

export interface ReplayOptions {
  config: Config;
  /** Audit log path (plain or .gz), or `-` for standard input. */
  input: string;
  /** Write every transition here as NDJSON (the alert transition contract). */
  alertsOut?: string;
  /** Append to `alertsOut` instead of replacing it (implied with `stateDir`). */
  append?: boolean;
  /** Continue from / save to this state directory (replay a log in parts). */
  stateDir?: string;
  /** Dead-letter file for malformed lines (default: counted only). */
  deadLetterOut?: string;
  /** Print transitions on stdout as they happen. */
  print?: boolean;
  onProgress?: (p: ReplayProgress) => void;
  /** Extra outputs (tests, notifiers when asked for). */
  sinks?: AlertSink[];
  logger?: Logger;
  stdin?: NodeJS.ReadableStream;
  /**
   * The compiled parse worker (default: beside the compiled modules). Only needed when running
   * from TypeScript sources, where there is none: tests point it at dist/.
   */
  parseWorkerScript?: URL;
}

export interface DetectorSummary {
  signals: number;
  opened: number;
  updated: number;
  resolved: number;
}

export interface ReplaySummary {
  counters: PipelineCounters;
  detectors: Record<string, DetectorSummary>;
  deadLetterReasons: Record<string, number>;
  openAlerts: number;
  pairs: { pairs: number; requestOnly: number; responseOnly: number; duplicates: number };
  firstEventAt?: string;
  lastEventAt?: string;
  elapsedMs: number;
}

/** Counts transitions per detector for the end-of-run summary. */
class TallySink implements AlertSink {
  readonly name = 'tally';
  readonly byDetector: Record<string, DetectorSummary> = {};
  async write(transitions: readonly AlertTransition[], recovering = false): Promise<void> {
    if (recovering) return;
    for (const t of transitions) {
      const s = (this.byDetector[t.alert.detector] ??= { signals: 0, opened: 0, updated: 0, resolved: 0 });
      if (t.action === 'open') s.opened++;
      else if (t.action === 'update') s.updated++;
      else s.resolved++;
    }
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Counts dead-letter reasons (a replay without a dead-letter file still says what was bad). */
class CountingDeadLetters implements DeadLetterSink {
  readonly reasons: Record<string, number> = {};
  constructor(private readonly inner: DeadLetterSink & { flush?(): Promise<void> }) {}
  async put(entry: Parameters<DeadLetterSink['put']>[0]): Promise<void> {
    const key = entry.reason.replace(/:.*$/, '');
    this.reasons[key] = (this.reasons[key] ?? 0) + 1;
    await this.inner.put(entry);
  }
  async flush(): Promise<void> {
    await this.inner.flush?.();
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}

/**
 * `vigil replay`: the full pipeline over a recorded log, in event time, as fast as it goes. The same
 * pipeline and runner as the daemon; only the source (a file read once) and the outputs differ.
 */
export async function replay(options: ReplayOptions): Promise<ReplaySummary> {
  const started = Date.now();
  const { config } = options;
  const logger = options.logger ?? silentLogger();
  const detectors = loadConfiguredDetectors(config);
  const pipeline = createPipeline(config, detectors);

  const tally = new TallySink();
  const sinks: AlertSink[] = [tally, ...(options.sinks ?? [])];
  if (options.alertsOut) {
    if (!options.append && !options.stateDir) rmSync(options.alertsOut, { force: true });
    sinks.push(new AlertLogSink(options.alertsOut));
  }
  if (options.print) sinks.push(new ConsoleSink());
  const deadLetter = new CountingDeadLetters(
    options.deadLetterOut
      ? new FileDeadLetterSink({ path: options.deadLetterOut })
      : new NullDeadLetterSink(),
  );
  const source = new ReplayFileSource({
    path: options.input,
    maxLineBytes: config.pipeline.max_line_bytes,
    ...(options.stdin ? { stdin: options.stdin as never } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const parseAhead = config.pipeline.parse_worker
    ? ParseAhead.start(logger, options.parseWorkerScript)
    : undefined;
  const runner = new Runner({
    pipeline,
    ...(parseAhead ? { parseAhead } : {}),
    sources: [source],
    sinks,
    deadLetter,
    journal: options.stateDir ? new FileJournal(options.stateDir) : new MemoryJournal(),
    ...(options.stateDir ? { state: new StateStore(options.stateDir) } : {}),
    logger,
  });
  try {
    await runner.start();
    await runner.finished();
    // A log replayed in parts keeps waiting requests for the next part; a whole log accounts for them.
    if (!options.stateDir) await runner.drain();
    await runner.stop();
  } finally {
    // A failed replay must not leave the worker thread holding the process open.
    await parseAhead?.close();
  }

  for (const [id, n] of pipeline.engine.signalCounts) {
    (tally.byDetector[id] ??= { signals: 0, opened: 0, updated: 0, resolved: 0 }).signals = n;
  }
  const summary: ReplaySummary = {
    counters: { ...pipeline.counters },
    detectors: tally.byDetector,
    deadLetterReasons: deadLetter.reasons,
    openAlerts: pipeline.lifecycle.openCount,
    pairs: { ...pipeline.pairer.stats },
    elapsedMs: Date.now() - started,
  };
  const last = pipeline.eventTime;
  if (last !== undefined) summary.lastEventAt = new Date(last).toISOString();
  return summary;
}
