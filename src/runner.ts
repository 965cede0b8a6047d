import { transitionKey, type AlertTransition } from './alerts/alert.js';
import type { AccessEvent } from './audit/event.js';
import type { ParseAhead } from './audit/parse-ahead.js';
import type { Preparsed } from './audit/parse-wire.js';
import type { Signal } from './detect/signal.js';
import type { DeadLetterSink } from './ingest/dead-letter.js';
import type { RecordBatch, Source } from './ingest/source.js';
import type { AlertSink } from './notify/sink.js';
import type { Logger } from './ops/logger.js';
import { emptyOutput, type Pipeline, type StepOutput } from './pipeline.js';
import type { TransitionJournal } from './store/journal.js';
import type { Checkpoint, StateStore } from './store/state-store.js';

/** Receives the access events and weak signals of each step (the Elasticsearch indexer). */
export interface EventSink {
  write(events: readonly AccessEvent[], signals: readonly Signal[]): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A component with state of its own that must be part of every checkpoint (silences, outbox refs). */
export interface StatefulComponent {
  readonly name: string;
  snapshot(): unknown;
  restore(state: unknown): void;
}

export interface RunnerOptions {
  pipeline: Pipeline;
  sources: Source[];
  sinks: AlertSink[];
  deadLetter: DeadLetterSink & { flush?(): Promise<void> };
  journal: TransitionJournal;
  /** Where checkpoints go; without one nothing is persisted (one-shot replay). */
  state?: StateStore;
  eventSink?: EventSink;
  components?: StatefulComponent[];
  logger: Logger;
  /** Called after each step with what it produced (metrics). */
  onStep?: (out: StepOutput, source: string | undefined) => void;
  /** Parse large batches on a worker thread, one batch ahead of the pipeline. */
  parseAhead?: ParseAhead;
}

/**
 * Batches smaller than this are parsed in the step itself: handing a trickle of lines to the worker
 * would only add latency.
 */
const PARSE_AHEAD_MIN_RECORDS = 64;
/** Batches a source may hand over before the first of them has been through the pipeline. */
const PARSE_AHEAD_DEPTH = 3;

export interface RunnerStatus {
  /** The checkpoint (if any) has been restored and outputs recovered: ready to process. */
  restored: boolean;
  lastCheckpointAt?: string;
  lastCheckpointBytes?: number;
  checkpointFailures: number;
  lastCheckpointError?: string;
}

/**
 * Drives the pure pipeline with real sources and outputs, one step at a time: every source's
 * batches are serialised through one queue, so the pipeline never sees two steps at once.
 *
 * Ordering that makes "at-least-once in, exactly-once out" hold:
 *  1. a step's transitions are journalled (fsync) before any output sees them;
 *  2. a checkpoint flushes every output, then saves the pipeline state with the source positions,
 *     then empties the journal, then lets sources commit (Kafka offsets);
 *  3. after a crash the state of the last checkpoint is restored, sources resume from its positions,
 *     regenerated transitions already in the journal are dropped, and outputs are offered the
 *     journal again to fill any gap.
 */
export class Runner {
  readonly status: RunnerStatus = { restored: false, checkpointFailures: 0 };
  private queue: Promise<unknown> = Promise.resolve();
  /** Steps of batches accepted ahead (parse-ahead mode), oldest first. */
  private ahead: Promise<void>[] = [];
  private positions: Record<string, unknown> = {};
  private lastStepAt = 0;
  /**
   * Transitions journalled before a crash and not regenerated yet by the replay from the restored
   * checkpoint. They survive journal compaction until regenerated (or a day of event time passes).
   */
  private unreplayed = new Map<string, AlertTransition>();
  private deadLetterLogBudget = { windowStart: 0, logged: 0, suppressed: 0 };

  constructor(private readonly options: RunnerOptions) {}

  /** Restore the last checkpoint, recover outputs from the journal, start the sources. */
  async start(): Promise<void> {
    const { state, journal, pipeline, logger } = this.options;
    let checkpoint: Checkpoint | undefined;
    if (state) {
      checkpoint = state.load();
      if (checkpoint) {
        pipeline.restore(checkpoint.pipeline);
        this.positions = { ...checkpoint.positions };
        for (const c of this.options.components ?? []) {
          if (c.name in checkpoint.extras) c.restore(checkpoint.extras[c.name]);
        }
        logger.info(
          {
            savedAt: checkpoint.savedAt,
            openAlerts: pipeline.lifecycle.openCount,
            eventTime: pipeline.eventTime,
          },
          'restored state from checkpoint',
        );
      }
    }
    this.status.restored = true;
    // A restarted daemon is not idle: its sources get idle_advance_after to deliver a backlog
    // before wall time may stand in for event time (else the clock would jump past the backlog).
    this.lastStepAt = Date.now();
    const tail = journal.since(checkpoint?.journalOffset ?? 0);
    for (const t of tail) this.unreplayed.set(transitionKey(t), t);
    if (tail.length > 0) {
      logger.info(
        { transitions: tail.length },
        'offering journalled transitions to outputs again after a restart',
      );
      for (const sink of this.options.sinks) await sink.write(tail, true);
    }
    for (const source of this.options.sources) {
      await source.start((batch) => this.handle(batch), this.positions[source.name]);
      logger.info({ source: source.name }, 'source started');
    }
  }

  /** Resolves when every source has finished (replay end of input, or all stopped). */
  async finished(): Promise<void> {
    await Promise.all(this.options.sources.map((s) => s.finished));
    await Promise.all(this.ahead);
    await this.queue;
  }

  /** Wall-clock time of the last step, or of start before the first one (idle detection). */
  get lastStep(): number {
    return this.lastStepAt;
  }

  /** Move pipeline time forward with no event (idle daemon, end of replay). */
  advanceTo(now: number): Promise<void> {
    return this.serial(async () => {
      const out = emptyOutput();
      this.options.pipeline.advanceTo(now, out);
      await this.deliver(out, undefined);
    });
  }

  /** End of input for a one-shot replay: account for requests still waiting for a response. */
  drain(): Promise<void> {
    return this.serial(async () => {
      const out = emptyOutput();
      this.options.pipeline.drain(out);
      await this.deliver(out, undefined);
    });
  }

  /** Run `fn` between pipeline steps (configuration reload swaps detectors this way). */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.serial(async () => fn());
  }

  /** Make everything durable and let sources forget what is covered. */
  checkpoint(): Promise<void> {
    return this.serial(() => this.checkpointNow());
  }

  /** Stop intake, finish the step in flight, flush outputs, checkpoint, close. */
  async stop(): Promise<void> {
    const { logger } = this.options;
    await Promise.all(this.options.sources.map((s) => s.stop()));
    await this.queue.catch(() => undefined);
    await this.checkpoint().catch((err: unknown) => logger.error({ err }, 'final checkpoint failed'));
    for (const sink of this.options.sinks)
      await sink.close().catch((err: unknown) =>
        // What it could not write is still in the journal, which the next start offers again.
        logger.error({ err, sink: sink.name }, 'output could not be closed cleanly'),
      );
    await this.options.parseAhead?.close();
    await this.options.eventSink?.close();
    await this.options.deadLetter.close();
    this.options.journal.close();
  }

  /**
   * A source's batch becomes one pipeline step. With a parse worker, a large batch is accepted as
   * soon as its lines are copied and sent for parsing, so the worker parses the next batches while
   * this thread runs the detectors on this one. The source is held back by awaiting the step
   * PARSE_AHEAD_DEPTH batches before (a failed step still reaches the source that fed it, late).
   */
  private handle(batch: RecordBatch): Promise<void> {
    const ahead = this.options.parseAhead;
    if (!ahead?.available || batch.records.length < PARSE_AHEAD_MIN_RECORDS) {
      return this.serial(() => this.step(batch, undefined));
    }
    const { parsed, release } = ahead.parse(batch.records);
    const step = this.serial(async () => {
      try {
        await this.step(batch, await parsed);
      } finally {
        release();
      }
    });
    this.ahead.push(step);
    return this.ahead.length > PARSE_AHEAD_DEPTH ? (this.ahead.shift() as Promise<void>) : Promise.resolve();
  }

  private async step(batch: RecordBatch, preparsed: Preparsed[] | undefined): Promise<void> {
    const out = emptyOutput();
    this.options.pipeline.processRecords(batch.records, out, preparsed);
    await this.deliver(out, batch.source);
    if (batch.position !== undefined) this.positions[batch.source] = batch.position;
    this.lastStepAt = Date.now();
  }

  private async deliver(out: StepOutput, source: string | undefined): Promise<void> {
    const { journal, sinks, deadLetter, eventSink } = this.options;
    for (const letter of out.deadLetters) {
      const entry = {
        at: new Date().toISOString(),
        source: source ?? 'pipeline',
        origin: letter.origin,
        reason: letter.reason,
        line: letter.line,
      };
      await deadLetter.put(letter.truncated ? { ...entry, truncated: true } : entry);
      this.logDeadLetter(letter.origin, letter.reason);
    }
    let transitions: AlertTransition[] = out.transitions;
    if (transitions.length > 0) {
      transitions = transitions.filter((t) => {
        const key = transitionKey(t);
        if (!journal.has(key)) return true;
        this.unreplayed.delete(key);
        return false;
      });
      if (transitions.length > 0) {
        journal.append(transitions);
        for (const sink of sinks) await sink.write(transitions);
      }
    }
    if (eventSink && (out.events.length > 0 || out.signals.length > 0))
      await eventSink.write(out.events, out.signals);
    this.options.onStep?.(out, source);
  }

  private async checkpointNow(): Promise<void> {
    const { state, journal, sinks, pipeline, logger, deadLetter, eventSink } = this.options;
    try {
      for (const sink of sinks) await sink.flush();
    } catch (err) {
      // An output that cannot make its transitions durable holds the checkpoint back: the journal
      // keeps them until it can.
      this.checkpointFailed(err as Error, 'checkpoint held back: an output cannot make its alerts durable');
      return;
    }
    await eventSink?.flush();
    await deadLetter.flush?.();
    if (!state) return;
    const extras: Record<string, unknown> = {};
    for (const c of this.options.components ?? []) extras[c.name] = c.snapshot();
    const checkpoint: Checkpoint = {
      format: 'vigil-state/1',
      savedAt: new Date().toISOString(),
      pipeline: pipeline.snapshot(),
      positions: { ...this.positions },
      journalOffset: 0,
      extras,
    };
    try {
      this.status.lastCheckpointBytes = await state.save(checkpoint);
      this.status.lastCheckpointAt = checkpoint.savedAt;
      this.status.lastCheckpointError = undefined;
    } catch (err) {
      this.checkpointFailed(err as Error);
      return;
    }
    // Keep recovered transitions the replay has not reached yet (bounded: a day of event time).
    const now = pipeline.eventTime ?? 0;
    for (const [key, t] of this.unreplayed)
      if (Date.parse(t.at) < now - 86_400_000) this.unreplayed.delete(key);
    journal.compact([...this.unreplayed.values()]);
    for (const source of this.options.sources) {
      const position = this.positions[source.name];
      if (position === undefined) continue;
      try {
        await source.commit(position);
      } catch (err) {
        logger.warn(
          { err, source: source.name },
          'source commit failed; it will be retried at the next checkpoint',
        );
      }
    }
  }

  private checkpointFailed(
    err: Error,
    message = 'could not write the state checkpoint; will retry at the next interval',
  ): void {
    // Keep detecting; the journal still protects outputs and sources keep their old positions.
    this.status.checkpointFailures++;
    this.status.lastCheckpointError = err.message;
    this.options.logger.error({ err }, message);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** At most 20 dead-letter log lines a minute; the rest are counted and summarised. */
  private logDeadLetter(origin: string, reason: string): void {
    const now = Date.now();
    const budget = this.deadLetterLogBudget;
    if (now - budget.windowStart > 60_000) {
      if (budget.suppressed > 0) {
        this.options.logger.warn(
          { suppressed: budget.suppressed },
          'more malformed audit lines were dead-lettered',
        );
      }
      budget.windowStart = now;
      budget.logged = 0;
      budget.suppressed = 0;
    }
    if (budget.logged < 20) {
      budget.logged++;
      this.options.logger.warn({ origin, reason }, 'malformed audit line dead-lettered');
    } else {
      budget.suppressed++;
    }
  }
}
