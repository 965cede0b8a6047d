import { statSync } from 'node:fs';
import { join } from 'node:path';
import { SilenceStore, silenceFromConfig } from './alerts/silences.js';
import type { Config } from './config/schema.js';
import { createPipeline, loadConfiguredDetectors } from './core.js';
import type { Detector } from './detect/analyzer.js';
import { FileDeadLetterSink, type DeadLetterSink } from './ingest/dead-letter.js';
import { FileTailSource } from './ingest/file-tail.js';
import { SocketSource } from './ingest/socket.js';
import type { Source } from './ingest/source.js';
import { StdinSource } from './ingest/stdin.js';
import { AlertLogSink } from './notify/alert-log.js';
import { ConsoleSink } from './notify/console.js';
import { NotifySink } from './notify/notify-sink.js';
import { Outbox } from './notify/outbox.js';
import { createReceivers } from './notify/receivers.js';
import type { AlertSink } from './notify/sink.js';
import type { Logger } from './ops/logger.js';
import type { Pipeline } from './pipeline.js';
import { Runner, type EventSink, type StatefulComponent } from './runner.js';
import { FileJournal } from './store/journal.js';
import { StateLock } from './store/lock.js';
import { StateStore } from './store/state-store.js';

export interface DaemonOptions {
  config: Config;
  logger: Logger;
  /** Extra sources (tests, Kafka when wired by the caller). */
  extraSources?: Source[];
  extraSinks?: AlertSink[];
  /** Receives access events and weak signals (the Elasticsearch indexer). */
  eventSink?: EventSink;
  /** Replaces the dead-letter file (e.g. a Kafka dead-letter topic). */
  deadLetter?: DeadLetterSink & { flush?(): Promise<void> };
  /** Extra stateful components to include in checkpoints. */
  components?: StatefulComponent[];
  /** Override console output (tests). */
  consoleOut?: NodeJS.WritableStream;
}

/**
 * `vigil run`: wires configured sources, the pipeline and outputs through the runner, and keeps
 * time moving when the stream is idle. Everything here is effects; detection lives in Pipeline.
 */
export class Daemon {
  readonly detectors: Detector[];
  readonly pipeline: Pipeline;
  readonly sources: Source[] = [];
  readonly runner: Runner;
  readonly outbox: Outbox;
  readonly silences: SilenceStore;
  private readonly lock: StateLock;
  private timers: NodeJS.Timeout[] = [];
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: DaemonOptions) {
    const { config, logger } = options;
    this.lock = new StateLock(config.state.dir);
    this.detectors = loadConfiguredDetectors(config);
    this.silences = new SilenceStore(config.state.dir, config.silences.map(silenceFromConfig));
    this.pipeline = createPipeline(config, this.detectors, {
      silences: this.silences,
      collectEvents: options.eventSink !== undefined,
      collectSignals: options.eventSink !== undefined,
    });
    const maxLineBytes = config.pipeline.max_line_bytes;

    const src = config.sources;
    if (src.file.enabled) {
      this.sources.push(
        new FileTailSource({
          path: src.file.path,
          startAt: src.file.start_at,
          pollIntervalMs: src.file.poll_interval,
          maxLineBytes,
          resumeMismatch: 'beginning',
          onError: (err) => logger.warn({ err, path: src.file.path }, 'audit file read error; retrying'),
          onEvent: (event) => logger.info({ ...event }, `audit file ${event.type}`),
        }),
      );
    }
    if (src.socket.enabled) {
      this.sources.push(
        new SocketSource({
          host: src.socket.host,
          port: src.socket.port,
          maxConnections: src.socket.max_connections,
          maxLineBytes,
          onError: (err) => logger.warn({ err }, 'socket source error'),
          onEvent: (event) => logger.debug({ ...event }, `socket ${event.type}`),
        }),
      );
    }
    if (src.stdin.enabled) this.sources.push(new StdinSource({ maxLineBytes }));
    this.sources.push(...(options.extraSources ?? []));

    const sinks: AlertSink[] = [new AlertLogSink(config.outputs.alert_log.path)];
    const consoleOut = options.consoleOut ?? process.stdout;
    const tty = Boolean((consoleOut as { isTTY?: boolean }).isTTY);
    if (config.outputs.console === 'always' || (config.outputs.console === 'auto' && tty)) {
      sinks.push(new ConsoleSink(consoleOut, tty));
    }
    const receivers = createReceivers(config.notify.receivers, { logger });
    this.outbox = new Outbox({
      dir: join(config.state.dir, 'outbox'),
      logger,
      receivers,
      giveUpAfterMs: config.notify.give_up_after,
    });
    const notify = new NotifySink({
      route: config.notify.route,
      receivers: new Set(receivers.map((r) => r.name)),
      updateThrottleMs: config.notify.update_throttle,
      enqueue: (ns) => this.outbox.enqueue(ns),
      logger,
    });
    sinks.push(notify, ...(options.extraSinks ?? []));

    this.runner = new Runner({
      pipeline: this.pipeline,
      sources: this.sources,
      sinks,
      deadLetter:
        options.deadLetter ??
        new FileDeadLetterSink({
          path: config.dead_letter.path,
          onError: (err) => logger.error({ err }, 'dead-letter write failed'),
        }),
      ...(options.eventSink ? { eventSink: options.eventSink } : {}),
      journal: new FileJournal(config.state.dir),
      state: new StateStore(config.state.dir),
      components: [notify, ...(options.components ?? [])],
      logger,
    });
  }

  async start(): Promise<void> {
    const { config, logger } = this.options;
    if (this.sources.length === 0)
      throw new Error('no source is enabled (sources.file, sources.socket, sources.stdin, sources.kafka)');
    this.lock.acquire();
    try {
      await this.runner.start();
    } catch (err) {
      this.lock.release();
      throw err;
    }
    this.outbox.start();
    // `vigil silence add|expire` edits the silence file; pick changes up without a restart.
    this.timers.push(setInterval(() => this.reloadSilences(), 2000));
    this.timers.push(
      setInterval(() => {
        this.runner.checkpoint().catch((err: unknown) => logger.error({ err }, 'checkpoint failed'));
      }, config.state.snapshot_interval),
    );
    // When the stream is idle, time still passes: quiet alerts resolve and silence is noticed.
    const idleMs = config.pipeline.idle_advance_after;
    this.timers.push(
      setInterval(
        () => {
          const now = Date.now();
          if (now - this.runner.lastStep < idleMs) return;
          const eventTime = this.pipeline.eventTime;
          if (eventTime !== undefined && now - idleMs <= eventTime) return;
          this.runner
            .advanceTo(now - idleMs)
            .catch((err: unknown) => logger.error({ err }, 'idle tick failed'));
        },
        Math.min(1000, config.pipeline.tick),
      ),
    );
    for (const t of this.timers) t.unref();
    logger.info(
      {
        environment: config.environment,
        detectors: this.detectors.filter((d) => d.enabled).length,
        sources: this.sources.map((s) => s.name),
        stateDir: config.state.dir,
        alertLog: config.outputs.alert_log.path,
      },
      'vigil is running',
    );
  }

  /** Graceful stop: intake stops, the step in flight finishes, outputs flush, state is saved. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      this.timers = [];
      await this.runner.stop();
      await this.outbox.close();
      this.lock.release();
      this.options.logger.info('vigil stopped');
    })();
    return this.stopping;
  }

  reloadSilences(): void {
    try {
      const mtime = statSync(this.silences.path, { throwIfNoEntry: false })?.mtimeMs ?? 0;
      if (this.silences.reloadIfChanged(mtime)) {
        this.options.logger.info({ silences: this.silences.all().length }, 'silences reloaded');
      }
    } catch (err) {
      this.options.logger.error({ err }, 'silence file is invalid; keeping the previous silences');
    }
  }

  /** Ready when the state is restored and every source is connected/reading. */
  isReady(): boolean {
    return this.runner.status.restored && this.sources.every((s) => s.isReady());
  }
}
