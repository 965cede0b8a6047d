import { ParseAhead } from './audit/parse-ahead.js';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { alertDecorator } from './alerts/decorate.js';
import type { AlertPolicy } from './alerts/policy.js';
import type { Decorate } from './alerts/lifecycle.js';
import { SilenceStore, silenceFromConfig, type Silence } from './alerts/silences.js';
import { changedSettings, needingRestart } from './config/changes.js';
import { loadConfig, type LoadConfigOptions } from './config/load.js';
import type { Config } from './config/schema.js';
import { alertPolicy, analyzerEnv, createPipeline, loadConfiguredDetectors } from './core.js';
import type { Detector } from './detect/analyzer.js';
import type { RotationReport } from './detect/analyzers/rotation.js';
import { FileDeadLetterSink, type DeadLetterSink } from './ingest/dead-letter.js';
import { createKafkaDeadLetterSink } from './ingest/kafka-dead-letter.js';
import { createKafkaSource, type CreateKafkaSourceOptions, type KafkaSource } from './ingest/kafka.js';
import { FileTailSource } from './ingest/file-tail.js';
import { SocketSource } from './ingest/socket.js';
import type { Source } from './ingest/source.js';
import { StdinSource } from './ingest/stdin.js';
import { buildDigest, DigestCollector } from './jobs/digest.js';
import { everyAsCron, Scheduler, type JobSpec } from './jobs/scheduler.js';
import { AlertLogSink, rotateFile } from './notify/alert-log.js';
import { ConsoleSink } from './notify/console.js';
import type { Receiver } from './notify/notification.js';
import { NotifySink } from './notify/notify-sink.js';
import { Outbox } from './notify/outbox.js';
import { createReceivers } from './notify/receivers.js';
import type { AlertSink } from './notify/sink.js';
import { startOpsServer, type OpsServer, type Readiness } from './ops/http.js';
import type { Logger } from './ops/logger.js';
import { Metrics } from './ops/metrics.js';
import type { Pipeline } from './pipeline.js';
import { Runner, type EventSink, type StatefulComponent } from './runner.js';
import { FileJournal } from './store/journal.js';
import { StateLock } from './store/lock.js';
import { createElasticsearchOutput, type ElasticsearchOutput } from './store/elasticsearch/index.js';
import { StateStore } from './store/state-store.js';

/** An output or source the daemon can ask "are you reachable?" (Elasticsearch, Kafka). */
export interface Reachable {
  readonly name: string;
  reachable(): { ok: boolean; detail?: string };
}

export interface DaemonOptions {
  config: Config;
  logger: Logger;
  /** How the configuration was loaded, so SIGHUP can load it again the same way. */
  configSource?: LoadConfigOptions;
  /** Extra sources (tests). */
  extraSources?: Source[];
  /** Tuning for the configured Kafka source (tests: reconnect back-off, event hook). */
  kafka?: Omit<CreateKafkaSourceOptions, 'maxLineBytes' | 'onRevoke'>;
  extraSinks?: AlertSink[];
  /** Receives access events and signals (the Elasticsearch indexer). */
  eventSink?: EventSink;
  /** Replaces the dead-letter file (e.g. a Kafka dead-letter topic). */
  deadLetter?: DeadLetterSink & { flush?(): Promise<void> };
  /** Extra stateful components to include in checkpoints. */
  components?: StatefulComponent[];
  /** Extra readiness checks. */
  reachable?: Reachable[];
  /** Extra scheduled jobs (Elasticsearch retention). */
  jobs?: JobSpec[];
  /** Override console output (tests). */
  consoleOut?: NodeJS.WritableStream;
  /** Receivers to use instead of those created from configuration (tests). */
  receivers?: Receiver[];
  metrics?: Metrics;
}

/** How long (at most; `notify.stuck_after` if shorter) a receiver's attempts must keep failing before readiness reports it unreachable. */
const RECEIVER_FAILING_AFTER_MS = 30_000;

/**
 * `vigil run`: wires configured sources, the pipeline and outputs through the runner; runs the
 * scheduled jobs, the health/metrics endpoint and configuration reload. Everything here is
 * effects; detection lives in Pipeline.
 */
export class Daemon {
  readonly pipeline: Pipeline;
  readonly sources: Source[] = [];
  readonly runner: Runner;
  readonly outbox: Outbox;
  readonly silences: SilenceStore;
  readonly metrics: Metrics;
  readonly scheduler: Scheduler;
  private config: Config;
  private detectorList: Detector[];
  private readonly lock: StateLock;
  private readonly alertLog: AlertLogSink;
  private readonly journal: FileJournal;
  private readonly notify: NotifySink;
  private readonly digest = new DigestCollector();
  private readonly jobs: JobSpec[] = [];
  private ops: OpsServer | undefined;
  private stopping: Promise<void> | undefined;
  private reloading: Promise<unknown> = Promise.resolve();
  private checkpointFailuresSeen = 0;
  private receivers: Receiver[];
  private readonly elasticsearch: ElasticsearchOutput | undefined;
  /** The Kafka source built from `sources.kafka`, when enabled. */
  readonly kafka: KafkaSource | undefined;

  constructor(private readonly options: DaemonOptions) {
    const { config, logger } = options;
    this.config = config;
    this.metrics = options.metrics ?? new Metrics();
    this.lock = new StateLock(config.state.dir);
    this.detectorList = loadConfiguredDetectors(config);
    this.silences = new SilenceStore(config.state.dir, config.silences.map(silenceFromConfig));
    this.pipeline = createPipeline(config, this.detectorList, {
      silences: this.silences,
      collectEvents: true,
      collectSignals: true,
    });
    this.sources.push(...configuredSources(config, logger), ...(options.extraSources ?? []));
    if (config.sources.kafka.enabled) {
      this.kafka = createKafkaSource(config.sources.kafka, logger, {
        ...options.kafka,
        maxLineBytes: config.pipeline.max_line_bytes,
        // Partitions are about to be revoked: checkpoint now, so the commit covers what was processed.
        onRevoke: () => this.runner.checkpoint(),
      });
      this.sources.push(this.kafka);
    }

    this.alertLog = new AlertLogSink(
      config.outputs.alert_log.path,
      this.storeWriteError(
        'alert-log',
        'cannot write the alert log; alerts go on to notifications and wait in memory',
      ),
      {
        onRecovered: (dropped) => {
          if (dropped > 0) {
            this.metrics.storageDropped.inc({ store: 'alert-log' }, dropped);
            logger.error(
              { dropped },
              'alert log writable again; transitions beyond what memory held were dropped from it (they were still notified)',
            );
          } else logger.warn('alert log writable again; every transition held in memory is written');
        },
      },
    );
    const sinks: AlertSink[] = [this.alertLog, this.digest];
    const consoleOut = options.consoleOut ?? process.stdout;
    const tty = Boolean((consoleOut as { isTTY?: boolean }).isTTY);
    if (config.outputs.console === 'always' || (config.outputs.console === 'auto' && tty)) {
      sinks.push(new ConsoleSink(consoleOut, tty));
    }

    this.receivers = options.receivers ?? createReceivers(config.notify.receivers, { logger });
    this.outbox = new Outbox({
      dir: join(config.state.dir, 'outbox'),
      logger,
      receivers: this.receivers,
      giveUpAfterMs: config.notify.give_up_after,
      onStorageError: () => this.metrics.storageFailures.inc({ store: 'outbox' }),
      onDelivery: (result, n, latencyMs) => {
        this.metrics.notifications.inc({ receiver: n.receiver, result: result.status });
        if (result.status === 'delivered')
          this.metrics.notificationLatency.observe({ receiver: n.receiver }, latencyMs / 1000);
      },
    });
    this.notify = new NotifySink({
      route: config.notify.route,
      receivers: new Set(this.receivers.map((r) => r.name)),
      configured: new Set(config.notify.receivers.map((r) => r.name)),
      updateThrottleMs: config.notify.update_throttle,
      enqueue: (ns) => this.outbox.enqueue(ns),
      durable: () => this.outbox.durable(),
      logger,
    });
    sinks.push(this.notify, ...(options.extraSinks ?? []));

    // Elasticsearch: events and alerts, unless the caller wired its own indexer.
    const es = config.outputs.elasticsearch;
    if (es.enabled && !options.eventSink) {
      this.elasticsearch = createElasticsearchOutput(es, {
        logger,
        stateDir: config.state.dir,
        onBulk: (ms) => this.metrics.esBulkSeconds.observe(ms / 1000),
        onFailure: (kind, n) => this.metrics.esFailures.inc({ kind }, n),
        // Retention runs as the scheduled `retention` job instead of a timer of its own.
        tuning: { retentionIntervalMs: 0 },
      });
      sinks.push(this.elasticsearch);
    }
    const eventSink = options.eventSink ?? this.elasticsearch;
    const parseAhead = config.pipeline.parse_worker ? ParseAhead.start(logger) : undefined;
    this.runner = new Runner({
      pipeline: this.pipeline,
      ...(parseAhead ? { parseAhead } : {}),
      sources: this.sources,
      sinks,
      deadLetter:
        options.deadLetter ??
        (config.sources.kafka.enabled
          ? createKafkaDeadLetterSink(config.sources.kafka, logger)
          : undefined) ??
        new FileDeadLetterSink({
          path: config.dead_letter.path,
          onError: (err) => {
            this.metrics.storageFailures.inc({ store: 'dead-letter' });
            logger.error({ err }, 'dead-letter write failed');
          },
        }),
      journal: (this.journal = new FileJournal(
        config.state.dir,
        this.storeWriteError(
          'journal',
          'cannot write the alert transition journal; going on from memory (not crash-safe until it can)',
        ),
        (fault) =>
          logger.warn(
            { since: fault.since, written: fault.unsaved },
            'alert transition journal writable again; transitions held in memory are on disk',
          ),
      )),
      state: new StateStore(config.state.dir),
      ...(eventSink ? { eventSink } : {}),
      components: [this.notify, this.digest, ...(options.components ?? [])],
      logger,
      onStep: (out, source) => {
        this.metrics.recordStep(out, source);
        // Events are collected for metrics; without an indexer they are not kept.
        if (!eventSink) out.events.length = 0;
      },
    });
    this.scheduler = new Scheduler(config.time_zone, logger, this.metrics);
    this.jobs = this.defineJobs();
  }

  get detectors(): readonly Detector[] {
    return this.detectorList;
  }

  async start(): Promise<void> {
    const { logger } = this.options;
    const config = this.config;
    if (this.sources.length === 0)
      throw new Error('no source is enabled (sources.file, sources.socket, sources.stdin, sources.kafka)');
    this.lock.acquire();
    try {
      if (config.http.enabled) {
        this.ops = await startOpsServer({
          host: config.http.host,
          port: config.http.port,
          metrics: this.metrics,
          readiness: () => this.readiness(),
          beforeScrape: () => this.refreshGauges(),
          logger,
        });
      }
      await this.runner.start();
    } catch (err) {
      await this.ops?.close();
      this.lock.release();
      throw err;
    }
    this.outbox.start();
    // Not awaited: Vigil alerts while Elasticsearch is down; checkpoints wait until it answers.
    this.elasticsearch
      ?.start()
      .catch((err: unknown) => logger.error({ err }, 'Elasticsearch refused the index templates'));
    for (const job of this.jobs) this.scheduler.add(job);
    this.scheduler.start();
    logger.info(
      {
        environment: config.environment,
        detectors: this.detectorList.filter((d) => d.enabled).length,
        sources: this.sources.map((s) => s.name),
        receivers: this.receivers.map((r) => r.name),
        stateDir: config.state.dir,
        alertLog: config.outputs.alert_log.path,
        ...(this.ops ? { http: this.ops.address() } : {}),
      },
      'vigil is running',
    );
  }

  /** Graceful stop: jobs stop, intake stops, the step in flight finishes, outputs flush, state is saved. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.scheduler.stop();
      await this.runner.stop();
      await this.kafka?.close();
      await this.outbox.close();
      await this.ops?.close();
      this.lock.release();
      this.options.logger.info('vigil stopped');
    })();
    return this.stopping;
  }

  /** The bound health/metrics address (after start). */
  opsAddress(): { host: string; port: number } | undefined {
    return this.ops?.address();
  }

  /**
   * Configuration reload (SIGHUP): read the configuration and detectors again and apply what can be
   * applied while running — detectors (their learned state is kept unless their analyzer or its
   * parameters changed), known schedules, rotation policies, silences, maintenance windows,
   * inhibition, routing, alert links and the log level. Other changes are named in the log as
   * waiting for a restart. A configuration that does not load is rejected whole and the running one
   * kept. Reloads run one at a time; never rejects.
   */
  reload(): Promise<boolean> {
    const next = this.reloading.then(() => this.reloadNow());
    this.reloading = next;
    return next;
  }

  private async reloadNow(): Promise<boolean> {
    const { logger } = this.options;
    let config: Config;
    let detectors: Detector[];
    let policy: AlertPolicy;
    let silences: Silence[];
    let decorate: Decorate;
    try {
      config = loadConfig(this.options.configSource ?? {}).config;
      detectors = loadConfiguredDetectors(config);
      // Everything is built before anything is swapped, so a bad window, rule or silence rejects
      // the whole reload.
      policy = alertPolicy(config, this.silences);
      silences = config.silences.map(silenceFromConfig);
      decorate = alertDecorator(config);
    } catch (err) {
      logger.error(
        { err: (err as Error).message },
        'configuration reload rejected; the running configuration is kept',
      );
      return false;
    }
    try {
      const fresh = await this.runner.exclusive(() => {
        const restarted = this.pipeline.replaceDetectors(detectors, analyzerEnv(config));
        this.pipeline.reconfigure({ policy, decorate });
        return restarted;
      });
      this.notify.reconfigure(config.notify.route, config.notify.update_throttle);
      this.silences.setConfigSilences(silences);
      logger.level = config.log.level;
      const changed = changedSettings(this.config, config);
      const restartNeeded = needingRestart(changed).map((c) =>
        c === 'time_zone' ? 'time_zone (scheduled jobs; detectors use it now)' : c,
      );
      this.config = config;
      this.detectorList = detectors;
      logger.info(
        {
          detectors: detectors.filter((d) => d.enabled).length,
          changed,
          startedAfresh: fresh,
          ...(restartNeeded.length ? { restartNeeded } : {}),
        },
        restartNeeded.length
          ? `configuration reloaded; changes to ${restartNeeded.join(', ')} take effect after a restart`
          : 'configuration reloaded',
      );
      return true;
    } catch (err) {
      logger.error({ err }, 'configuration reload failed while applying it');
      return false;
    }
  }

  /**
   * A store's write-error hook: counted every time, logged once per fault (not per step; the
   * readiness check and the counter carry the rest).
   */
  private storeWriteError(store: string, message: string): (err: Error, first: boolean) => void {
    return (err, first) => {
      this.metrics.storageFailures.inc({ store });
      if (first) this.options.logger.error({ err }, message);
    };
  }

  /** Gauges that are read from state rather than counted as things happen. */
  private refreshGauges(now = Date.now()): void {
    // From the newest audit entry, not the watermark: the idle clock moves that one along with the
    // wall clock, and a feed that went silent must show here.
    // A journal that failed retries here too, so a quiet stream does not keep an old fault showing.
    this.journal.retry();
    const newest = this.pipeline.newestEntryTime;
    if (newest !== undefined) this.metrics.eventTimeLag.set(Math.max(0, (now - newest) / 1000));
    this.metrics.openAlerts.set(this.pipeline.lifecycle.openCount);
    const ob = this.outbox.stats();
    for (const [receiver, n] of Object.entries(ob.pending)) this.metrics.outboxDepth.set({ receiver }, n);
    this.metrics.outboxDead.set(ob.deadLetters);
    // Checkpoints also run at a Kafka rebalance and at stop: the runner counts them all.
    const s = this.runner.status;
    if (s.checkpointFailures > this.checkpointFailuresSeen) {
      this.metrics.checkpointFailures.inc(s.checkpointFailures - this.checkpointFailuresSeen);
      this.checkpointFailuresSeen = s.checkpointFailures;
    }
    if (s.lastCheckpointAt) this.metrics.lastCheckpoint.set(Date.parse(s.lastCheckpointAt) / 1000);
    if (s.lastCheckpointBytes !== undefined) this.metrics.stateBytes.set(s.lastCheckpointBytes);
  }

  /** Run a scheduled job now (tests; the schedule's no-overlap rule applies). */
  runJob(name: string): Promise<void> {
    return this.scheduler.runNow(name, this.jobs);
  }

  /** Sources connected, state restored and writable, outputs reachable. */
  readiness(): Readiness {
    const checks: Readiness['checks'] = {};
    const status = this.runner.status;
    const journalFault = this.journal.fault?.();
    const outboxFault = this.outbox.storageFault();
    const stateFaults = [
      ...(status.lastCheckpointError ? [`last checkpoint failed: ${status.lastCheckpointError}`] : []),
      ...(journalFault
        ? [
            `journal not writable: ${journalFault.error} (${journalFault.unsaved} transition(s) in memory only)`,
          ]
        : []),
      ...(outboxFault ? [`outbox not writable: ${outboxFault.error}`] : []),
    ];
    checks['state'] = !status.restored
      ? { ok: false, detail: 'restoring state' }
      : stateFaults.length > 0
        ? { ok: false, detail: stateFaults.join('; ') }
        : { ok: true };
    const alertLogFault = this.alertLog.writeFault();
    if (alertLogFault) checks['alert-log'] = { ok: false, detail: `not writable: ${alertLogFault}` };
    for (const s of this.sources)
      checks[`source:${s.name}`] = s.isReady() ? { ok: true } : { ok: false, detail: 'not connected' };
    const ob = this.outbox.stats();
    // A receiver failing for a while with work waiting is unreachable, whatever the queue's age.
    for (const [name, f] of Object.entries(ob.failing)) {
      const waiting = ob.pending[name] ?? 0;
      const after = Math.min(RECEIVER_FAILING_AFTER_MS, this.config.notify.stuck_after);
      if (waiting > 0 && Date.now() - f.since >= after)
        checks[`receiver:${name}`] = {
          ok: false,
          detail: `failing for ${Math.round((Date.now() - f.since) / 1000)} s (${f.reason}); ${waiting} waiting`,
        };
    }
    const stuck = (ob.oldestPendingAgeMs ?? 0) > this.config.notify.stuck_after;
    checks['notifications'] = stuck
      ? {
          ok: false,
          detail: `oldest pending notification is ${Math.round((ob.oldestPendingAgeMs ?? 0) / 1000)} s old`,
        }
      : { ok: true };
    for (const r of [
      ...(this.options.reachable ?? []),
      ...(this.elasticsearch ? [this.elasticsearch] : []),
    ]) {
      checks[r.name] = r.reachable();
    }
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  private defineJobs(): JobSpec[] {
    const { logger } = this.options;
    const config = this.config;
    const jobs: JobSpec[] = [
      {
        name: 'snapshot',
        schedule: everyAsCron(config.state.snapshot_interval),
        run: async () => {
          await this.runner.checkpoint();
          this.refreshGauges();
          for (const [id, n] of Object.entries(this.pipeline.engine.sizes()))
            this.metrics.stateGroups.set({ detector: id }, n);
        },
      },
    ];
    if (this.config.jobs.clock) {
      jobs.push({
        name: 'clock',
        schedule: this.config.jobs.clock,
        run: async () => {
          this.reloadSilences();
          const now = Date.now();
          const eventTime = this.pipeline.eventTime;
          this.refreshGauges(now);
          // While the stream is idle, wall-clock time stands in for event time: quiet alerts
          // resolve and silence or overdue rotations are noticed. Replay does the same on event time.
          const idleMs = this.config.pipeline.idle_advance_after;
          if (now - this.runner.lastStep < idleMs) return;
          if (eventTime !== undefined && now - idleMs <= eventTime) return;
          await this.runner.advanceTo(now - idleMs);
        },
      });
    }
    if (this.config.jobs.digest) {
      jobs.push({
        name: 'digest',
        schedule: this.config.jobs.digest,
        run: async () => {
          const chat = this.receivers.filter((r) => r.digest);
          if (chat.length === 0) return;
          const now = Date.now();
          const reports = this.pipeline.engine.reports();
          const text = buildDigest({
            now,
            environment: this.config.environment,
            opened: this.digest.lastDay(now),
            silences: this.silences.all(),
            rotation: (reports['rotation-overdue'] as RotationReport[] | undefined) ?? [],
            openAlerts: this.pipeline.lifecycle.openCount,
          });
          const failed: string[] = [];
          for (const r of chat) {
            const result = await (r.digest as (t: string) => Promise<{ status: string; reason?: string }>)(
              text,
            );
            if (result.status !== 'delivered') failed.push(`${r.name}: ${result.reason ?? result.status}`);
          }
          // A failed run, logged and counted by the scheduler like any other job failure.
          if (failed.length > 0) throw new Error(`digest not delivered (${failed.join('; ')})`);
        },
      });
    }
    if (this.config.jobs.retention) {
      jobs.push({
        name: 'retention',
        schedule: this.config.jobs.retention,
        run: async () => {
          // After a checkpoint nothing needs the files' tails for recovery; without one, the alert
          // log's tail is still how a restart knows what it holds.
          await this.runner.checkpoint();
          const a = this.config.outputs.alert_log;
          if (this.runner.status.lastCheckpointError)
            logger.warn('alert log not rotated: the last checkpoint failed');
          else if (await this.alertLog.rotate(a.max_bytes, a.keep))
            logger.info({ path: a.path }, 'alert log rotated');
          const d = this.config.dead_letter;
          if (rotateFile(d.path, d.max_bytes, d.keep))
            logger.info({ path: d.path }, 'dead-letter file rotated');
          await this.outbox.compact();
          const removed = await this.elasticsearch?.runRetention();
          if (removed?.length) logger.info({ indices: removed }, 'expired Elasticsearch indices deleted');
        },
      });
    }
    const kafka = this.kafka;
    if (kafka) {
      jobs.push({
        name: 'kafka-lag',
        schedule: everyAsCron(15_000),
        run: async () => {
          const lag = await kafka.lag();
          this.metrics.kafkaLag.reset();
          for (const [tp, n] of Object.entries(lag)) {
            const i = tp.lastIndexOf('/');
            this.metrics.kafkaLag.set({ topic: tp.slice(0, i), partition: tp.slice(i + 1) }, n);
          }
        },
      });
    }
    jobs.push(...(this.options.jobs ?? []));
    return jobs;
  }

  /** `vigil silence add|expire` edits the silence file; pick changes up without a restart. */
  private reloadSilences(): void {
    try {
      const mtime = statSync(this.silences.path, { throwIfNoEntry: false })?.mtimeMs ?? 0;
      if (this.silences.reloadIfChanged(mtime)) {
        this.options.logger.info({ silences: this.silences.all().length }, 'silences reloaded');
      }
    } catch (err) {
      this.options.logger.error({ err }, 'silence file is invalid; keeping the previous silences');
    }
  }
}

function configuredSources(config: Config, logger: Logger): Source[] {
  const sources: Source[] = [];
  const maxLineBytes = config.pipeline.max_line_bytes;
  const src = config.sources;
  if (src.file.enabled) {
    sources.push(
      new FileTailSource({
        path: src.file.path,
        startAt: src.file.start_at,
        pollIntervalMs: src.file.poll_interval,
        maxLineBytes,
        // A file rotated while Vigil was down is read from its start: nothing lost, nothing twice.
        resumeMismatch: 'beginning',
        onError: (err) => logger.warn({ err, path: src.file.path }, 'audit file read error; retrying'),
        onEvent: (event) => logger.info({ ...event }, `audit file ${event.type}`),
      }),
    );
  }
  if (src.socket.enabled) {
    sources.push(
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
  if (src.stdin.enabled) sources.push(new StdinSource({ maxLineBytes }));
  return sources;
}
