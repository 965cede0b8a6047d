import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { errors, type Client } from '@elastic/elasticsearch';
import type { AlertTransition } from '../../alerts/alert.js';
import type { AccessEvent } from '../../audit/event.js';
import { scrubText } from '../../audit/secrets.js';
import type { Config } from '../../config/schema.js';
import type { Signal } from '../../detect/signal.js';
import type { AlertSink } from '../../notify/sink.js';
import type { Logger } from '../../ops/logger.js';
import type { EventSink } from '../../runner.js';
import { createElasticsearchClient, describeAuth, readCredentials } from './client.js';
import {
  alertDocument,
  alertsIndexName,
  eventDocument,
  eventsIndexName,
  isNotable,
  signalsByEvent,
} from './documents.js';
import { deleteExpiredIndices } from './retention.js';
import { installTemplates } from './templates.js';

/**
 * The Elasticsearch output: an EventSink (access events → daily `<prefix>-events-YYYY.MM.DD`) and an
 * AlertSink (alert transitions → `<prefix>-alerts`, one document per alert) in one object.
 *
 * Delivery
 * - Every operation is idempotent, so anything may be sent twice: events are indexed with `_id` =
 *   request id; alerts with `_id` = alert id and `version` = alert.seq, `version_type: external`, so a
 *   replayed or late older transition is refused by the cluster (409), which counts as success.
 * - Operations are buffered and sent in bulk requests of at most `flushBytes`, when that much is
 *   buffered or `flushIntervalMs` after the first buffered operation, one request at a time.
 * - A failed request (connection refused/reset, timeout, 429, 5xx, 401/403) is retried whole, with
 *   exponential backoff and jitter, without limit: nothing buffered is dropped because the cluster
 *   is away. A 400/413 for the whole request splits the batch until the culprit is alone.
 * - Per item: 2xx and 409 are done; 429 and 5xx are retried (up to `maxItemAttempts` answers from
 *   the cluster, then dead-lettered); any other status (mapper_parsing_exception,
 *   document_parsing_exception, illegal_argument_exception, ...) is dead-lettered at once: the
 *   document and the error reason are appended to an NDJSON file and counted.
 * - `flush()` (called before every checkpoint) resolves once everything written before it is
 *   acknowledged or dead-lettered; if that has not happened by `flushTimeoutMs` it REJECTS, so the
 *   runner does not checkpoint and sources do not commit. Buffered operations stay buffered and keep
 *   being retried; after a crash they are re-read from the sources and re-indexed idempotently.
 * - Back-pressure: at most `maxBufferBytes` are buffered; past that `write()` waits until bulk
 *   requests make room, which pauses the pipeline and so the sources (intended).
 * - `close()` flushes (within `closeTimeoutMs`; what is left is logged, never thrown: it was not
 *   checkpointed, so it is re-read after the restart) and stops. It may be called twice (the runner
 *   closes the object both as an alert sink and as the event sink).
 * - Nothing is sent before `start()` has installed the index templates, so no index is ever created
 *   with dynamic mappings.
 */

export type EventSelection = 'all' | 'notable' | 'none';

export type FailureKind = 'request' | 'item' | 'dead_letter';

/** A scheduled job in the shape of the daemon's scheduler (src/jobs/scheduler.ts JobSpec). */
export interface RetentionJob {
  name: string;
  schedule: string;
  run: () => Promise<unknown>;
}

export interface BulkHookInfo {
  /** Wall time of the bulk request in milliseconds (also for failed requests). */
  ms: number;
  /** Operations in the request. */
  items: number;
  /** Operations that were not done (retried, dead-lettered, or all of them when the request failed). */
  failures: number;
}

export interface ElasticsearchOutputOptions {
  client: Client;
  prefix: string;
  events: EventSelection;
  logger: Logger;
  /** Where dead-lettered documents go (NDJSON). */
  deadLetterPath: string;
  /** A bulk request is sent once this much is buffered (default 5 MiB). */
  flushBytes?: number;
  /** ... or this long after the first operation was buffered (default 1 s). */
  flushIntervalMs?: number;
  /** `write()` waits while more than this is buffered (default max(4 × flushBytes, 16 MiB)). */
  maxBufferBytes?: number;
  /** Most operations in one bulk request (default 10 000). */
  maxBatchDocs?: number;
  /** How long `flush()` waits for acknowledgements before rejecting (default 15 s). */
  flushTimeoutMs?: number;
  /** How long `close()` tries to flush (default 5 s: the final checkpoint has already tried). */
  closeTimeoutMs?: number;
  /** First retry delay; doubles per consecutive failure up to retryMaxMs (defaults 250 ms, 10 s). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Times the cluster may answer 429/5xx for one item before it is dead-lettered (default 20). */
  maxItemAttempts?: number;
  /** Replicas of the indices (default 0) and priority of the templates. */
  replicas?: number;
  templatePriority?: number;
  /**
   * Delete daily event indices older than this (0 = keep). Checked at start and every
   * retentionIntervalMs (default 1 h; 0 = no timer: schedule `retentionJob()` instead).
   */
  retentionMs?: number;
  retentionIntervalMs?: number;
  /** Called after every bulk request (metrics: latency histogram, error counters). */
  onBulk?: (ms: number, items: number, failures: number) => void;
  /**
   * Called for failures (metrics counter by kind): `request` = a whole bulk request failed (retried),
   * `item` = items the cluster refused and that are retried, `dead_letter` = documents dead-lettered.
   */
  onFailure?: (kind: FailureKind, count: number) => void;
  /** Close the client in close() (true when the factory created it). */
  ownsClient?: boolean;
  /** Where the cluster is, for log lines (never with credentials). */
  describe?: string;
  /** Jitter source (tests). */
  random?: () => number;
  /** Wall clock (tests). */
  now?: () => number;
}

export interface ElasticsearchOutputStats {
  /** Templates installed: documents are being sent. */
  ready: boolean;
  /** Documents acknowledged by the cluster (created or updated). */
  indexed: number;
  /** Alert versions the cluster already had newer (409): counted as success. */
  conflicts: number;
  /** Item failures the cluster reported (each attempt). */
  failed: number;
  /** Items sent again after a retryable item failure. */
  retried: number;
  /** Documents written to the dead-letter file (or lost if that write failed, see deadLetterWriteErrors). */
  deadLettered: number;
  deadLetterWriteErrors: number;
  /** Access events not indexed because of the `events` selection. */
  skipped: number;
  bulkRequests: number;
  /** Bulk requests that failed as a whole (and were retried). */
  bulkFailures: number;
  lastBulkMs?: number;
  avgBulkMs?: number;
  /** What is buffered and not yet acknowledged (including the request in flight). */
  bufferBytes: number;
  bufferDocs: number;
  lastError?: string;
  lastErrorAt?: string;
  lastSuccessAt?: string;
  /** Indices deleted by retention since start. */
  retentionDeleted: number;
}

export class ElasticsearchFlushError extends Error {
  constructor(
    message: string,
    readonly outstanding: number,
  ) {
    super(message);
    this.name = 'ElasticsearchFlushError';
  }
}

interface Op {
  seq: number;
  kind: 'event' | 'alert';
  index: string;
  id: string | undefined;
  action: string;
  source: string;
  bytes: number;
  /** Item-level 429/5xx answers so far. */
  attempts: number;
}

interface BulkItemResult {
  status?: number;
  error?: { type?: string; reason?: string | null; caused_by?: { type?: string; reason?: string | null } };
}

const MIB = 1024 * 1024;
const MAX_REASON_CHARS = 2000;

export class ElasticsearchOutput implements EventSink, AlertSink {
  readonly name = 'elasticsearch';
  readonly client: Client;
  readonly deadLetterPath: string;

  private readonly prefix: string;
  private readonly selection: EventSelection;
  private readonly logger: Logger;
  private readonly flushBytes: number;
  private readonly flushIntervalMs: number;
  private readonly maxBufferBytes: number;
  private readonly maxBatchDocs: number;
  private readonly flushTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly maxItemAttempts: number;
  private readonly random: () => number;
  private readonly now: () => number;

  private pending: Op[] = [];
  private inflight: Op[] = [];
  private bufferedBytes = 0;
  private pendingBytes = 0;
  private nextSeq = 1;
  private ready = false;
  private urgent = false;
  private roomWaiters = 0;
  private splitLimit = Infinity;
  private consecutiveFailures = 0;
  private backoffUntil = 0;
  private lastFailureLogAt = 0;
  private bufferFullSince = 0;
  private pumping: Promise<void> | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private wakeSleep: (() => void) | undefined;
  private inflightAbort: AbortController | undefined;
  private waiters: (() => void)[] = [];
  private deadLetterChain: Promise<void> = Promise.resolve();
  private deadLetterDirReady = false;
  private startPromise: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private closeRequested = false;
  private stopped = false;
  private bulkMsTotal = 0;
  private readonly counters: ElasticsearchOutputStats = {
    ready: false,
    indexed: 0,
    conflicts: 0,
    failed: 0,
    retried: 0,
    deadLettered: 0,
    deadLetterWriteErrors: 0,
    skipped: 0,
    bulkRequests: 0,
    bulkFailures: 0,
    bufferBytes: 0,
    bufferDocs: 0,
    retentionDeleted: 0,
  };

  constructor(private readonly options: ElasticsearchOutputOptions) {
    this.client = options.client;
    this.prefix = options.prefix;
    this.selection = options.events;
    this.logger = options.logger;
    this.deadLetterPath = options.deadLetterPath;
    this.flushBytes = options.flushBytes ?? 5 * MIB;
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.maxBufferBytes = Math.max(options.maxBufferBytes ?? Math.max(4 * this.flushBytes, 16 * MIB), 1);
    this.maxBatchDocs = options.maxBatchDocs ?? 10_000;
    this.flushTimeoutMs = options.flushTimeoutMs ?? 15_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? Math.min(5_000, this.flushTimeoutMs);
    this.retryBaseMs = options.retryBaseMs ?? 250;
    this.retryMaxMs = options.retryMaxMs ?? 10_000;
    this.maxItemAttempts = options.maxItemAttempts ?? 20;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Install the index templates, retrying (with backoff, logging progress) until the cluster
   * answers; then start sending what was buffered meanwhile and schedule retention. Rejects only when
   * the cluster refuses the templates as invalid (400); resolves without installing when closed first.
   */
  start(): Promise<void> {
    this.startPromise ??= this.installLoop();
    return this.startPromise;
  }

  private async installLoop(): Promise<void> {
    const where = this.options.describe ?? 'elasticsearch';
    let attempt = 0;
    for (;;) {
      if (this.closeRequested) {
        this.logger.info('elasticsearch output closed before its templates were installed');
        return;
      }
      try {
        const res = await installTemplates(this.client, {
          prefix: this.prefix,
          ...(this.options.replicas !== undefined ? { replicas: this.options.replicas } : {}),
          ...(this.options.templatePriority !== undefined ? { priority: this.options.templatePriority } : {}),
        });
        for (const w of res.warnings)
          this.logger.warn({ warning: w }, 'could not extend an existing index mapping');
        this.logger.info(
          { cluster: where, templates: res.templates, attempts: attempt + 1 },
          'elasticsearch index templates installed',
        );
        break;
      } catch (err) {
        const status = statusOf(err);
        if (status === 400) {
          this.logger.error(
            { err: errorText(err), cluster: where },
            'elasticsearch refused the index templates',
          );
          throw err;
        }
        attempt++;
        this.noteError(err);
        const delay = this.backoff(attempt);
        if (attempt === 1 || attempt % 10 === 0) {
          this.logger.warn(
            { cluster: where, attempt, retryInMs: Math.round(delay), error: errorText(err) },
            status === 401 || status === 403
              ? 'elasticsearch refused our credentials; retrying (check the user/API key and its privileges)'
              : 'elasticsearch is not reachable yet; retrying',
          );
        }
        await this.sleep(delay);
      }
    }
    this.ready = true;
    this.counters.ready = true;
    this.scheduleRetention();
    // Send whatever was buffered while the cluster was away.
    this.urgent = true;
    this.kick();
  }

  /** Flush (bounded by closeTimeoutMs), stop retrying, close the client. Never rejects; idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closeRequested = true;
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.notify();
    if (this.ready) {
      try {
        await this.flushWithin(this.closeTimeoutMs);
      } catch (err) {
        this.logger.error(
          { outstanding: this.pending.length + this.inflight.length, error: errorText(err) },
          'closing the elasticsearch output with documents not indexed; they were not checkpointed and are indexed again after the restart',
        );
      }
    } else if (this.pending.length > 0) {
      this.logger.error(
        { outstanding: this.pending.length },
        'closing the elasticsearch output before it could install its templates; nothing was indexed',
      );
    }
    this.stopped = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.wakeSleep?.();
    // Do not wait out the request timeout of a request to a cluster that does not answer.
    this.inflightAbort?.abort();
    await this.pumping?.catch(() => undefined);
    await this.deadLetterChain;
    if (this.options.ownsClient) await this.client.close().catch(() => undefined);
  }

  // ---------------------------------------------------------------------------------------------
  // Sinks

  /** EventSink: index the step's events (per the `events` selection), annotated with its signals. */
  async write(events: readonly AccessEvent[], signals: readonly Signal[]): Promise<void>;
  /** AlertSink: index alert transitions (replays after a crash are harmless: external versions). */
  async write(transitions: readonly AlertTransition[], recovering?: boolean): Promise<void>;
  async write(
    items: readonly AccessEvent[] | readonly AlertTransition[],
    second?: readonly Signal[] | boolean,
  ): Promise<void> {
    if (this.closeRequested) throw new Error('elasticsearch output is closed');
    if (Array.isArray(second)) this.writeEvents(items as readonly AccessEvent[], second as readonly Signal[]);
    else this.writeTransitions(items as readonly AlertTransition[]);
    await this.waitForRoom();
  }

  /** Buffer the events of one step (per the `events` selection); does not wait for room. */
  writeEvents(events: readonly AccessEvent[], signals: readonly Signal[]): void {
    if (this.selection === 'none') {
      this.counters.skipped += events.length;
      return;
    }
    const bySignal = signalsByEvent(signals);
    for (const event of events) {
      const sigs = bySignal.get(event.id) ?? [];
      if (this.selection === 'notable' && !isNotable(event, sigs.length > 0)) {
        this.counters.skipped++;
        continue;
      }
      let source: string;
      let index: string;
      try {
        index = eventsIndexName(this.prefix, event.time);
        source = JSON.stringify(eventDocument(event, sigs));
      } catch (err) {
        this.deadLetterRaw(
          'event',
          event.id,
          { id: event.id, time: event.time },
          `not indexable: ${errorText(err)}`,
        );
        continue;
      }
      const id = event.id !== '' ? event.id : undefined;
      const action = JSON.stringify({
        index: id !== undefined ? { _index: index, _id: id } : { _index: index },
      });
      this.enqueue('event', index, id, action, source);
    }
  }

  /** Buffer alert transitions; does not wait for room. */
  writeTransitions(transitions: readonly AlertTransition[]): void {
    const index = alertsIndexName(this.prefix);
    for (const t of transitions) {
      const alert = t.alert;
      const action = JSON.stringify({
        index: { _index: index, _id: alert.id, version: alert.seq, version_type: 'external' },
      });
      this.enqueue('alert', index, alert.id, action, JSON.stringify(alertDocument(t)));
    }
  }

  /**
   * Resolve once everything written so far is acknowledged (or dead-lettered); reject after
   * flushTimeoutMs otherwise (the operations stay buffered and keep being retried).
   */
  flush(): Promise<void> {
    return this.flushWithin(this.flushTimeoutMs);
  }

  private async flushWithin(timeoutMs: number): Promise<void> {
    const target = this.nextSeq - 1;
    const deadline = this.now() + timeoutMs;
    this.urgent = true;
    this.kick();
    while (this.outstandingUpTo(target) > 0) {
      const left = deadline - this.now();
      if (left <= 0) {
        const outstanding = this.outstandingUpTo(target);
        throw new ElasticsearchFlushError(
          `elasticsearch: ${outstanding} document(s) not acknowledged after ${timeoutMs} ms` +
            (this.ready ? '' : ' (index templates not installed yet)') +
            (this.counters.lastError ? `; last error: ${this.counters.lastError}` : ''),
          outstanding,
        );
      }
      await this.changed(left);
    }
    await this.deadLetterChain;
  }

  stats(): ElasticsearchOutputStats {
    return {
      ...this.counters,
      ready: this.ready,
      bufferBytes: this.bufferedBytes,
      bufferDocs: this.pending.length + this.inflight.length,
    };
  }

  /**
   * Readiness (the daemon's `Reachable`): templates installed and the last bulk request did not fail.
   * Documents keep being buffered and retried while this is false.
   */
  reachable(): { ok: boolean; detail?: string } {
    if (!this.ready) {
      return {
        ok: false,
        detail: `index templates not installed yet${this.counters.lastError ? `: ${this.counters.lastError}` : ''}`,
      };
    }
    if (this.consecutiveFailures > 0) {
      return {
        ok: false,
        detail: `${this.consecutiveFailures} failed bulk attempt(s), ${this.pending.length + this.inflight.length} document(s) buffered: ${this.counters.lastError ?? 'error'}`,
      };
    }
    return { ok: true };
  }

  /** Retention as a scheduler job (use with `retentionIntervalMs: 0`). */
  retentionJob(schedule: string, name = 'elasticsearch-retention'): RetentionJob {
    return { name, schedule, run: () => this.runRetention() };
  }

  /** Delete event indices past retention now (also runs on a timer after start). */
  async runRetention(): Promise<string[]> {
    const retentionMs = this.options.retentionMs ?? 0;
    if (retentionMs <= 0) return [];
    const deleted = await deleteExpiredIndices(this.client, this.prefix, retentionMs, this.now());
    this.counters.retentionDeleted += deleted.length;
    if (deleted.length > 0) this.logger.info({ deleted }, 'deleted event indices past retention');
    return deleted;
  }

  // ---------------------------------------------------------------------------------------------
  // Buffer and pump

  private enqueue(
    kind: Op['kind'],
    index: string,
    id: string | undefined,
    action: string,
    source: string,
  ): void {
    const bytes = Buffer.byteLength(action) + Buffer.byteLength(source) + 2;
    this.pending.push({ seq: this.nextSeq++, kind, index, id, action, source, bytes, attempts: 0 });
    this.pendingBytes += bytes;
    this.bufferedBytes += bytes;
    if (this.pendingBytes >= this.flushBytes) this.kick();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.urgent = true;
        this.kick();
      }, this.flushIntervalMs);
      this.flushTimer.unref();
    }
  }

  private async waitForRoom(): Promise<void> {
    if (this.bufferedBytes <= this.maxBufferBytes) return;
    if (this.bufferFullSince === 0) {
      this.bufferFullSince = this.now();
      this.logger.warn(
        {
          bufferBytes: this.bufferedBytes,
          maxBufferBytes: this.maxBufferBytes,
          lastError: this.counters.lastError,
        },
        'elasticsearch buffer is full; pausing intake until the cluster catches up',
      );
    }
    this.roomWaiters++;
    try {
      while (this.bufferedBytes > this.maxBufferBytes && !this.closeRequested) {
        this.kick();
        await this.changed(5_000);
      }
    } finally {
      this.roomWaiters--;
    }
    if (this.bufferFullSince !== 0 && this.bufferedBytes <= this.maxBufferBytes) {
      this.logger.info(
        { pausedMs: this.now() - this.bufferFullSince },
        'elasticsearch buffer has room again',
      );
      this.bufferFullSince = 0;
    }
  }

  private shouldSend(): boolean {
    if (!this.ready || this.stopped || this.pending.length === 0) return false;
    return this.urgent || this.pendingBytes >= this.flushBytes || this.roomWaiters > 0 || this.closeRequested;
  }

  private kick(): void {
    if (this.pumping || !this.shouldSend()) return;
    this.pumping = this.pump()
      .catch((err: unknown) => {
        // pump() handles request errors itself; this is a bug guard, not a retry path.
        this.noteError(err);
        this.logger.error({ err }, 'elasticsearch output: unexpected error in the bulk loop');
      })
      .finally(() => {
        this.pumping = undefined;
        if (this.pending.length === 0) this.urgent = false;
        if (this.shouldSend()) setImmediate(() => this.kick());
      });
  }

  private async pump(): Promise<void> {
    while (this.shouldSend()) {
      const wait = this.backoffUntil - this.now();
      if (wait > 0) {
        await this.sleep(wait);
        if (this.stopped) return;
      }
      const batch = this.takeBatch();
      if (batch.length === 0) return;
      await this.send(batch);
      if (this.pending.length === 0) this.urgent = false;
    }
  }

  private takeBatch(): Op[] {
    let bytes = 0;
    let n = 0;
    const limit = Math.min(this.maxBatchDocs, this.splitLimit);
    while (n < this.pending.length && n < limit) {
      const op = this.pending[n] as Op;
      if (n > 0 && bytes + op.bytes > this.flushBytes) break;
      bytes += op.bytes;
      n++;
    }
    const batch = this.pending.splice(0, n);
    this.pendingBytes -= bytes;
    this.inflight = batch;
    return batch;
  }

  private async send(batch: Op[]): Promise<void> {
    const operations: string[] = [];
    for (const op of batch) operations.push(op.action, op.source);
    const started = performance.now();
    const abort = new AbortController();
    this.inflightAbort = abort;
    let items: Record<string, BulkItemResult>[];
    try {
      const res = await this.client.bulk<string>(
        { operations, filter_path: 'errors,items.*.status,items.*.error' },
        { signal: abort.signal },
      );
      items = (res.items ?? []) as unknown as Record<string, BulkItemResult>[];
    } catch (err) {
      const ms = performance.now() - started;
      this.recordBulk(ms, batch.length, batch.length);
      this.requestFailed(batch, err);
      return;
    } finally {
      this.inflightAbort = undefined;
    }
    const ms = performance.now() - started;
    let failures = 0;
    let retryable = 0;
    const retry: Op[] = [];
    for (let i = 0; i < batch.length; i++) {
      const op = batch[i] as Op;
      const item = items[i];
      const result = item ? Object.values(item)[0] : undefined;
      const status = result?.status;
      if (status !== undefined && status >= 200 && status < 300) {
        this.counters.indexed++;
        this.done(op);
      } else if (status === 409) {
        this.counters.conflicts++;
        this.done(op);
      } else if (status === undefined || status === 429 || status >= 500) {
        failures++;
        retryable++;
        this.counters.failed++;
        op.attempts++;
        const reason =
          status === undefined ? 'no result for this item' : describeItemError(status, result?.error);
        if (op.attempts >= this.maxItemAttempts) {
          this.deadLetter(op, status, `gave up after ${op.attempts} attempts: ${reason}`);
          this.done(op);
        } else {
          this.counters.retried++;
          this.failureHook('item', 1);
          this.counters.lastError = reason;
          this.counters.lastErrorAt = new Date(this.now()).toISOString();
          retry.push(op);
        }
      } else {
        failures++;
        this.counters.failed++;
        this.deadLetter(op, status, describeItemError(status, result?.error));
        this.done(op);
      }
    }
    this.inflight = [];
    if (retry.length > 0) this.requeue(retry);
    this.recordBulk(ms, batch.length, failures);
    this.splitLimit = Infinity;
    if (retryable > 0) {
      this.consecutiveFailures++;
      this.backoffUntil = this.now() + this.backoff(this.consecutiveFailures);
    } else {
      this.recovered();
    }
    this.notify();
  }

  private requestFailed(batch: Op[], err: unknown): void {
    this.inflight = [];
    const status = statusOf(err);
    this.counters.bulkFailures++;
    this.failureHook('request', 1);
    if ((status === 400 || status === 413) && !(err instanceof errors.ConnectionError)) {
      // The request as a whole is unacceptable (too large, or one operation breaks the NDJSON):
      // send smaller batches until the offending operation is alone, then dead-letter it.
      if (batch.length === 1) {
        const op = batch[0] as Op;
        this.deadLetter(op, status, `request refused: ${errorText(err)}`);
        this.done(op);
        this.splitLimit = Infinity;
      } else {
        this.splitLimit = Math.max(1, Math.floor(batch.length / 2));
        this.requeue(batch);
      }
      this.notify();
      return;
    }
    this.requeue(batch);
    this.noteError(err);
    this.consecutiveFailures++;
    const delay = this.backoff(this.consecutiveFailures);
    this.backoffUntil = this.now() + delay;
    const now = this.now();
    if (this.consecutiveFailures === 1 || now - this.lastFailureLogAt >= 30_000) {
      this.lastFailureLogAt = now;
      this.logger.warn(
        {
          error: errorText(err),
          status,
          failures: this.consecutiveFailures,
          bufferedDocs: this.pending.length,
          bufferBytes: this.bufferedBytes,
          retryInMs: Math.round(delay),
        },
        'elasticsearch bulk request failed; keeping the documents and retrying',
      );
    }
    this.notify();
  }

  private recovered(): void {
    if (this.consecutiveFailures > 0 && this.lastFailureLogAt !== 0) {
      this.logger.info({ failures: this.consecutiveFailures }, 'elasticsearch bulk requests succeed again');
    }
    this.consecutiveFailures = 0;
    this.backoffUntil = 0;
    this.lastFailureLogAt = 0;
    this.counters.lastSuccessAt = new Date(this.now()).toISOString();
  }

  /** Put operations back at the front of the queue, in their original order. */
  private requeue(ops: Op[]): void {
    let bytes = 0;
    for (const op of ops) bytes += op.bytes;
    this.pending.unshift(...ops);
    this.pendingBytes += bytes;
  }

  private done(op: Op): void {
    this.bufferedBytes -= op.bytes;
  }

  private recordBulk(ms: number, items: number, failures: number): void {
    this.counters.bulkRequests++;
    this.bulkMsTotal += ms;
    this.counters.lastBulkMs = ms;
    this.counters.avgBulkMs = this.bulkMsTotal / this.counters.bulkRequests;
    try {
      this.options.onBulk?.(ms, items, failures);
    } catch {
      // A metrics hook must not break delivery.
    }
  }

  private failureHook(kind: FailureKind, count: number): void {
    try {
      this.options.onFailure?.(kind, count);
    } catch {
      // A metrics hook must not break delivery.
    }
  }

  private outstandingUpTo(seq: number): number {
    let n = 0;
    for (const op of this.pending) if (op.seq <= seq) n++;
    for (const op of this.inflight) if (op.seq <= seq) n++;
    return n;
  }

  // ---------------------------------------------------------------------------------------------
  // Dead letters

  private deadLetter(op: Op, status: number | undefined, reason: string): void {
    let document: unknown;
    try {
      document = JSON.parse(op.source);
    } catch {
      document = op.source;
    }
    this.deadLetterRaw(op.kind, op.id, document, reason, op.index, status);
  }

  private deadLetterRaw(
    kind: Op['kind'],
    id: string | undefined,
    document: unknown,
    reason: string,
    index?: string,
    status?: number,
  ): void {
    this.counters.deadLettered++;
    this.failureHook('dead_letter', 1);
    let text = scrubText(reason);
    if (text.length > MAX_REASON_CHARS) text = text.slice(0, MAX_REASON_CHARS) + '…';
    const record = {
      at: new Date(this.now()).toISOString(),
      kind,
      ...(index !== undefined ? { index } : {}),
      ...(id !== undefined ? { id } : {}),
      ...(status !== undefined ? { status } : {}),
      reason: text,
      document,
    };
    this.logger.warn(
      { kind, index, id, status, reason: text },
      'elasticsearch refused a document; dead-lettered',
    );
    const line = JSON.stringify(record) + '\n';
    this.deadLetterChain = this.deadLetterChain.then(async () => {
      try {
        if (!this.deadLetterDirReady) {
          await mkdir(dirname(this.deadLetterPath), { recursive: true, mode: 0o700 });
          this.deadLetterDirReady = true;
        }
        await appendFile(this.deadLetterPath, line, { mode: 0o600, flag: 'a' });
      } catch (err) {
        this.deadLetterDirReady = false;
        this.counters.deadLetterWriteErrors++;
        this.logger.error(
          { path: this.deadLetterPath, error: errorText(err) },
          'could not write the elasticsearch dead-letter file; the document is lost',
        );
      }
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  private scheduleRetention(): void {
    const retentionMs = this.options.retentionMs ?? 0;
    const every = this.options.retentionIntervalMs ?? 3_600_000;
    if (retentionMs <= 0 || every <= 0) return;
    const run = () => {
      this.runRetention().catch((err: unknown) =>
        this.logger.warn({ error: errorText(err) }, 'elasticsearch retention failed; retrying later'),
      );
    };
    run();
    this.retentionTimer = setInterval(run, every);
    this.retentionTimer.unref();
  }

  private noteError(err: unknown): void {
    this.counters.lastError = errorText(err);
    this.counters.lastErrorAt = new Date(this.now()).toISOString();
  }

  /** Exponential backoff with "equal jitter": half fixed, half random. */
  private backoff(failures: number): number {
    const exp = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(30, failures - 1));
    return exp / 2 + (exp / 2) * this.random();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wakeSleep === done) this.wakeSleep = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wakeSleep = done;
    });
  }

  /** Wake everyone waiting for a change (acknowledgements, failures, close). */
  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private changed(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(finish, Math.max(1, timeoutMs));
      const waiters = this.waiters;
      function finish() {
        clearTimeout(timer);
        resolve();
      }
      waiters.push(finish);
    });
  }
}

function statusOf(err: unknown): number | undefined {
  if (err instanceof errors.ResponseError) return err.meta.statusCode ?? undefined;
  return undefined;
}

function errorText(err: unknown): string {
  if (err instanceof errors.ResponseError) {
    const body = err.meta.body as { error?: { type?: string; reason?: string } } | undefined;
    const e = body?.error;
    if (e && typeof e === 'object')
      return scrubText(`${err.meta.statusCode} ${e.type ?? ''}: ${e.reason ?? ''}`.trim());
    return scrubText(`${err.meta.statusCode ?? ''} ${err.message}`.trim());
  }
  if (err instanceof Error) return scrubText(`${err.name}: ${err.message}`);
  return scrubText(String(err));
}

function describeItemError(status: number, error: BulkItemResult['error']): string {
  if (!error) return `status ${status}`;
  const cause = error.caused_by?.reason
    ? ` (caused by ${error.caused_by.type ?? 'error'}: ${error.caused_by.reason})`
    : '';
  return `${status} ${error.type ?? 'error'}: ${error.reason ?? ''}${cause}`;
}

// ---------------------------------------------------------------------------------------------
// Factory

export type ElasticsearchConfig = Config['outputs']['elasticsearch'];

export interface CreateElasticsearchOutputOptions {
  logger: Logger;
  /** The state directory: the dead-letter file defaults to `<stateDir>/es-dead-letter.ndjson`. */
  stateDir: string;
  deadLetterPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Use this client instead of creating one from the configuration (it is not closed by close()). */
  client?: Client;
  onBulk?: (ms: number, items: number, failures: number) => void;
  onFailure?: (kind: FailureKind, count: number) => void;
  /** Tuning beyond the configuration file (timeouts, backoff, buffer bound, replicas, ...). */
  tuning?: Partial<
    Pick<
      ElasticsearchOutputOptions,
      | 'maxBufferBytes'
      | 'maxBatchDocs'
      | 'flushTimeoutMs'
      | 'closeTimeoutMs'
      | 'retryBaseMs'
      | 'retryMaxMs'
      | 'maxItemAttempts'
      | 'replicas'
      | 'templatePriority'
      | 'retentionIntervalMs'
    > & { requestTimeoutMs: number }
  >;
}

/** Where a URL points, without credentials, path or query (for logs). */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(invalid url)';
  }
}

/**
 * Build the output from `outputs.elasticsearch`: the client (credentials from the environment via
 * readSecret, CA file, `maxRetries: 0`), the dead-letter path and the tuning. Call `start()` next.
 */
export function createElasticsearchOutput(
  config: ElasticsearchConfig,
  options: CreateElasticsearchOutputOptions,
): ElasticsearchOutput {
  const { logger } = options;
  const tuning = options.tuning ?? {};
  let client = options.client;
  let auth = 'provided client';
  if (!client) {
    const creds = readCredentials(config, options.env ?? process.env);
    client = createElasticsearchClient({
      url: config.url,
      ...creds,
      ...(config.ca_file !== undefined ? { caFile: config.ca_file } : {}),
      ...(tuning.requestTimeoutMs !== undefined ? { requestTimeoutMs: tuning.requestTimeoutMs } : {}),
    });
    auth = describeAuth(creds);
  }
  const describe = describeUrl(config.url);
  logger.info(
    { cluster: describe, auth, prefix: config.index_prefix, events: config.events },
    'elasticsearch output configured',
  );
  const { requestTimeoutMs: _unused, ...rest } = tuning;
  return new ElasticsearchOutput({
    ...rest,
    client,
    ownsClient: options.client === undefined,
    prefix: config.index_prefix,
    events: config.events,
    logger,
    deadLetterPath: options.deadLetterPath ?? join(options.stateDir, 'es-dead-letter.ndjson'),
    flushBytes: config.flush_bytes,
    flushIntervalMs: config.flush_interval,
    retentionMs: config.retention,
    describe,
    ...(options.onBulk ? { onBulk: options.onBulk } : {}),
    ...(options.onFailure ? { onFailure: options.onFailure } : {}),
  });
}
