import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { ConnectionOptions } from 'node:tls';
import {
  Kafka,
  logLevel as KafkaLogLevel,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type KafkaConfig,
  type KafkaMessage,
  type LogEntry,
  type SASLOptions,
} from 'kafkajs';
import { readSecret } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../ops/logger.js';
import type { BatchHandler, RawRecord, Source, SourcePosition } from './source.js';
import { batch, deferred, describeError, toError, type Deferred } from './util.js';

/**
 * Kafka consumer-group source: each message VALUE is one audit line (keys and headers are ignored;
 * a null or empty value goes to the pipeline as an empty line and is dead-lettered as malformed).
 *
 * Offsets, positions and resume
 * -----------------------------
 * The position handed to the pipeline with every batch is the running map
 * `{ "<topic>/<partition>": <next offset to read> }` of everything delivered so far (all partitions
 * this process has ever delivered from, plus those restored from the checkpoint). It is stored in
 * the state checkpoint. Offsets are committed to the group ONLY in `commit(position)`, which the
 * runner calls after a checkpoint is durable; autoCommit is off and kafkajs never commits by itself.
 * `commit` commits the given offsets for partitions currently assigned to this member, never below
 * where this assignment started (so a stale position cannot rewind another owner's progress).
 *
 * The running map is also a floor: our pipeline state already covers every offset below it. When a
 * partition is (re)assigned, kafkajs starts fetching at the group's committed offset; if the first
 * batch starts below the floor, we seek to the floor instead of re-delivering (re-processing would
 * double-count baselines). That covers a restart from a checkpoint whose commit did not happen
 * (crash between save and commit) and every eager rebalance that hands us back our own partitions
 * (kafkajs refetches from the committed offset after each rejoin). When the committed offset is at
 * or above the floor, fetching simply starts there (or at earliest/latest per `from_beginning` when
 * the group has no offset). A floor beyond the partition's high watermark (topic re-created) is
 * dropped with a warning.
 *
 * Delivery guarantee: at-least-once across members. After a crash, or after a partition moves to
 * another member, the new reader starts from the last committed offset, i.e. the last checkpoint.
 *
 * Back-pressure
 * -------------
 * The handler is awaited inside kafkajs's `eachBatch`, and kafkajs's fetcher awaits its worker
 * queue before fetching again, so intake stops while the pipeline is busy: at most one fetch
 * response per broker (`maxBytes`, 10 MiB) is buffered. On top of that, when one handler call takes
 * longer than `slowHandlerMs`, every subscribed topic is paused (fetchers of other brokers stop
 * prefetching and the consumer stops pulling data it cannot handle) until the call returns. While
 * a handler call runs, a timer keeps heartbeating so a stalled output does not get the member
 * evicted after `session_timeout`; a rebalance noticed by that heartbeat ends the kafkajs batch
 * after the current call, so the member rejoins quickly.
 *
 * Rebalances
 * ----------
 * kafkajs 2.2.4 uses the eager protocol (every partition is revoked at each rebalance) and has no
 * revoke callback. We follow the consumer events: REBALANCING (a member noticed the rebalance) calls
 * the optional `onRevoke` hook, with which the daemon can trigger a checkpoint (a commit made while
 * the group is still preparing the rebalance is accepted with the old generation; if it is too late,
 * it fails and the runner retries at the next checkpoint); GROUP_JOIN records the new assignment.
 * Whatever was not committed is re-read by the next owner (at-least-once).
 *
 * Stop and the final commit
 * -------------------------
 * Daemon stop = runner.stop → `source.stop()` → final checkpoint → `source.commit(position)`.
 * `stop()` pauses fetching, waits for the in-flight handler call and resolves, but the consumer
 * stays in the group (heartbeating) so that the final `commit` still works; a `commit` received
 * while stopping that covers everything delivered commits and then disconnects (leaving the group,
 * so partitions are reassigned at once). If nothing was delivered in this run, `stop()` disconnects
 * directly. If the final commit never comes (checkpoint failed), the consumer disconnects after
 * `finalCommitTimeoutMs`. `close()` disconnects at once (idempotent).
 *
 * Connection
 * ----------
 * `start` reads TLS files and the SASL password (via `readSecret`, so the value is registered with
 * the log scrubber), then connects, subscribes and joins. A failure is logged and retried with
 * exponential backoff in the background; `start` does not fail for an unreachable broker (the
 * daemon reports not-ready). Once running, kafkajs restarts the consumer itself after retriable
 * failures (broker restart); a non-retriable crash is retried by us with backoff as a new session.
 * kafkajs log entries go to our pino logger (secret-bearing keys dropped, repeated lines
 * rate-limited).
 */

export type KafkaSourceConfig = Config['sources']['kafka'];

/** `{ "<topic>/<partition>": <next offset to read> }`. */
export type KafkaPosition = Record<string, number>;

export interface KafkaSourceOptions {
  /** Source instance name (default `kafka`). */
  name?: string;
  brokers: string[];
  clientId?: string;
  groupId: string;
  topics: string[];
  /** Where a partition with no committed offset starts (default false = latest). */
  fromBeginning?: boolean;
  /** Records per handler call (default 5000). */
  maxBatchRecords?: number;
  /** Longest line kept (default 1 MiB); longer values are cut and marked truncated. */
  maxLineBytes?: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  /** Long-poll wait of a fetch with no data (default 1000 ms; disconnect waits for it). */
  maxWaitTimeMs?: number;
  maxBytesPerPartition?: number;
  /** Pause fetching while one handler call has run longer than this (default 2000 ms). */
  slowHandlerMs?: number;
  /** After stop(), disconnect anyway if the final commit has not come within this (default 10 s). */
  finalCommitTimeoutMs?: number;
  /** Reconnect backoff for failed sessions: initial and maximum delay (default 1 s, 30 s). */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  ssl?: ConnectionOptions | boolean;
  sasl?: SASLOptions;
  /** Called at `start` for TLS/SASL options (reads files and secrets then); overrides `ssl`/`sasl`. */
  resolveConnection?: () => KafkaConnectionOptions;
  /** Extra kafkajs client options (tests). */
  kafka?: Partial<KafkaConfig>;
  logger?: Logger;
  /** Called when the group starts rebalancing (partitions about to be revoked): trigger a checkpoint. */
  onRevoke?: (partitions: string[]) => void | Promise<void>;
  onEvent?: (event: KafkaSourceEvent) => void;
}

export type KafkaSourceEvent =
  | { type: 'connected' }
  | { type: 'joined'; memberId: string; generation?: number; assigned: string[]; revoked: string[] }
  | { type: 'rebalancing'; assigned: string[] }
  | { type: 'crash'; error: string; restart: boolean }
  | { type: 'seek'; partition: string; from: number; to: number }
  | { type: 'paused'; reason: 'slow-handler' }
  | { type: 'resumed' }
  | { type: 'committed'; offsets: KafkaPosition };

export interface KafkaSourceStats {
  /** Records delivered to the handler. */
  records: number;
  /** Handler calls. */
  batches: number;
  /** kafkajs batches received (one fetch response per partition). */
  fetchedBatches: number;
  /** Messages not delivered because the checkpoint already covered them (seek to the floor). */
  skipped: number;
  /** Messages with a null value (delivered as empty lines, dead-lettered by the pipeline). */
  nullValues: number;
  truncated: number;
  commits: number;
  commitErrors: number;
  rebalances: number;
  crashes: number;
  connectFailures: number;
  pauses: number;
  /** Milliseconds spent in handler calls. */
  handlerMs: number;
  connected: boolean;
  inGroup: boolean;
  paused: boolean;
  assigned: string[];
  /** Last offsets committed by this member. */
  committed: KafkaPosition;
  position: KafkaPosition;
}

const KAFKA_LOG_REPEAT_MS = 10_000;

export class KafkaSource implements Source {
  readonly name: string;
  readonly finished: Promise<void>;

  private readonly o: Required<
    Pick<
      KafkaSourceOptions,
      | 'maxBatchRecords'
      | 'maxLineBytes'
      | 'sessionTimeoutMs'
      | 'heartbeatIntervalMs'
      | 'rebalanceTimeoutMs'
      | 'maxWaitTimeMs'
      | 'maxBytesPerPartition'
      | 'slowHandlerMs'
      | 'finalCommitTimeoutMs'
      | 'reconnectInitialMs'
      | 'reconnectMaxMs'
      | 'clientId'
      | 'fromBeginning'
    >
  >;
  private readonly options: KafkaSourceOptions;
  private readonly logger: Logger | undefined;
  private readonly done: Deferred<void>;

  private kafka: Kafka | undefined;
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;
  private adminConnecting: Promise<Admin> | undefined;
  private handler: BatchHandler | undefined;
  private started = false;
  private stopping = false;
  private failed = false;
  private closed = false;
  private stopped: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private connectLoop: Promise<void> | undefined;
  /** Resolved when the current consumer session is over (non-retriable crash, or close). */
  private sessionEnded: Deferred<void> | undefined;
  private wakeBackoff: (() => void) | undefined;
  private finalCommitTimer: NodeJS.Timeout | undefined;

  private connected = false;
  private inGroup = false;
  private memberId = '';
  /** Current assignment as `topic/partition` keys. */
  private assigned = new Set<string>();
  /** Per partition: the offset this assignment started delivering from (commits never go below it). */
  private assignStart = new Map<string, number>();
  /** Next offset to read per partition, for everything delivered (and restored from the checkpoint). */
  private readonly positions = new Map<string, number>();
  private readonly committed = new Map<string, number>();
  private deliveredThisRun = false;
  private inFlight: Promise<void> | undefined;
  private backpressure = false;

  private readonly counters = {
    records: 0,
    batches: 0,
    fetchedBatches: 0,
    skipped: 0,
    nullValues: 0,
    truncated: 0,
    commits: 0,
    commitErrors: 0,
    rebalances: 0,
    crashes: 0,
    connectFailures: 0,
    pauses: 0,
    handlerMs: 0,
  };

  constructor(options: KafkaSourceOptions) {
    if (options.topics.length === 0) throw new Error('kafka source: no topics');
    if (options.brokers.length === 0) throw new Error('kafka source: no brokers');
    this.options = options;
    this.name = options.name ?? 'kafka';
    this.logger = options.logger?.child({ source: this.name });
    const sessionTimeoutMs = options.sessionTimeoutMs ?? 30_000;
    this.o = {
      maxBatchRecords: options.maxBatchRecords ?? 5000,
      maxLineBytes: options.maxLineBytes ?? 1024 * 1024,
      sessionTimeoutMs,
      heartbeatIntervalMs:
        options.heartbeatIntervalMs ?? Math.max(100, Math.min(3000, Math.floor(sessionTimeoutMs / 3))),
      rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? 60_000,
      maxWaitTimeMs: options.maxWaitTimeMs ?? 1000,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1024 * 1024,
      slowHandlerMs: options.slowHandlerMs ?? 2000,
      finalCommitTimeoutMs: options.finalCommitTimeoutMs ?? 10_000,
      reconnectInitialMs: options.reconnectInitialMs ?? 1000,
      reconnectMaxMs: options.reconnectMaxMs ?? 30_000,
      clientId: options.clientId ?? 'vigil',
      fromBeginning: options.fromBeginning ?? false,
    };
    this.done = deferred<void>(true);
    this.finished = this.done.promise;
  }

  /**
   * Resolves after the first attempt to connect, subscribe and join the group (whether it worked
   * or is being retried in the background). Throws only for configuration problems.
   */
  async start(handler: BatchHandler, resumeFrom?: SourcePosition): Promise<void> {
    if (this.started) throw new Error(`source ${this.name} already started`);
    this.started = true;
    this.handler = handler;
    for (const [key, offset] of Object.entries(parseKafkaPosition(resumeFrom))) {
      this.positions.set(key, offset);
    }
    let conn: KafkaConnectionOptions = { ssl: this.options.ssl, sasl: this.options.sasl };
    try {
      if (this.options.resolveConnection) conn = this.options.resolveConnection();
    } catch (err) {
      this.stopping = true;
      this.closed = true;
      this.done.resolve();
      throw err;
    }
    if (conn.sasl && !conn.ssl) {
      this.logger?.warn('kafka: SASL without TLS sends credentials (PLAIN: the password) in clear text');
    }
    this.kafka = new Kafka({
      clientId: this.o.clientId,
      brokers: this.options.brokers,
      connectionTimeout: 5000,
      requestTimeout: 30_000,
      retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 5 },
      ...(conn.ssl !== undefined ? { ssl: conn.ssl } : {}),
      ...(conn.sasl ? { sasl: conn.sasl } : {}),
      ...kafkaLogOptions(this.logger),
      ...this.options.kafka,
    });
    let first: (() => void) | undefined;
    const firstAttempt = new Promise<void>((resolve) => (first = resolve));
    this.connectLoop = this.runConnectLoop(() => first?.());
    await firstAttempt;
  }

  /**
   * Commit the offsets of `position` for the partitions currently assigned (never below where the
   * assignment started). While stopping, a commit covering everything delivered also disconnects.
   */
  async commit(position: SourcePosition): Promise<void> {
    const wanted = parseKafkaPosition(position);
    if (this.closed || this.failed) return;
    const consumer = this.consumer;
    const list: { topic: string; partition: number; offset: string }[] = [];
    const offsets: KafkaPosition = {};
    for (const [key, offset] of Object.entries(wanted)) {
      if (!this.assigned.has(key)) continue;
      const start = this.assignStart.get(key);
      if (start === undefined || offset < start) continue;
      if (this.committed.get(key) === offset) continue;
      const tp = splitKey(key);
      if (!tp) continue;
      list.push({ topic: tp.topic, partition: tp.partition, offset: String(offset) });
      offsets[key] = offset;
    }
    try {
      if (list.length > 0) {
        if (!consumer || !this.inGroup) {
          throw new Error('not a member of the consumer group right now (reconnecting or rebalancing)');
        }
        try {
          await consumer.commitOffsets(list);
        } catch (err) {
          this.counters.commitErrors++;
          throw new Error(`offset commit failed: ${describeError(err)}`);
        }
        this.counters.commits++;
        for (const [key, offset] of Object.entries(offsets)) this.committed.set(key, offset);
        this.options.onEvent?.({ type: 'committed', offsets });
      }
    } finally {
      if (this.stopping && this.covers(wanted)) await this.close();
    }
  }

  /**
   * Stop intake: pause fetching, end the kafkajs batch in flight after the current handler call and
   * wait for it. The consumer stays in the group for the final `commit` (see the class comment).
   */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  /** Leave the group and disconnect now (idempotent). Later commits are ignored. */
  close(): Promise<void> {
    this.closing ??= this.disconnectAll();
    return this.closing;
  }

  isReady(): boolean {
    return this.connected && this.inGroup && !this.stopping;
  }

  stats(): KafkaSourceStats {
    return {
      ...this.counters,
      connected: this.connected,
      inGroup: this.inGroup,
      paused: this.backpressure,
      assigned: [...this.assigned].sort(),
      committed: Object.fromEntries(this.committed),
      position: Object.fromEntries(this.positions),
    };
  }

  /**
   * Lag per assigned partition: high watermark − next offset to read (our position in this
   * assignment, else the group's committed offset, else where `from_beginning` starts).
   */
  async lag(): Promise<Record<string, number>> {
    if (this.assigned.size === 0 || this.closed) return {};
    const admin = await this.getAdmin();
    const topics = [...new Set([...this.assigned].map((k) => splitKey(k)?.topic ?? ''))].filter(Boolean);
    const groupOffsets = await admin.fetchOffsets({ groupId: this.options.groupId, topics });
    const committed = new Map<string, number>();
    for (const t of groupOffsets) {
      for (const p of t.partitions) committed.set(`${t.topic}/${p.partition}`, Number(p.offset));
    }
    const out: Record<string, number> = {};
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        const key = `${topic}/${p.partition}`;
        if (!this.assigned.has(key)) continue;
        const high = Number(p.high);
        const low = Number(p.low);
        let next: number;
        const ours = this.assignStart.has(key) ? this.positions.get(key) : undefined;
        const c = committed.get(key);
        if (ours !== undefined) next = ours;
        else if (c !== undefined && c >= 0) next = c;
        else next = this.o.fromBeginning ? low : high;
        out[key] = Math.max(0, high - Math.max(next, low));
      }
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------

  private async runConnectLoop(firstDone: () => void): Promise<void> {
    let delay = this.o.reconnectInitialMs;
    let attempt = 0;
    try {
      while (!this.stopping && !this.closed) {
        attempt++;
        const ended = deferred<void>(true);
        this.sessionEnded = ended;
        try {
          await this.session(ended);
        } catch (err) {
          this.counters.connectFailures++;
          this.connected = false;
          this.leftGroup();
          await this.dropConsumer();
          if (this.stopping || this.closed) return;
          this.logger?.warn(
            { brokers: this.options.brokers, attempt, retryInMs: delay, error: describeError(err) },
            `kafka consumer could not start (brokers ${this.options.brokers.join(',')}): ${describeError(err)}; retrying`,
          );
          firstDone();
          await this.backoff(delay);
          delay = Math.min(this.o.reconnectMaxMs, delay * 2);
          continue;
        }
        if (this.closed) {
          // close() ran while this session was connecting: it may have joined after the disconnect.
          await this.dropConsumer();
          return;
        }
        firstDone();
        delay = this.o.reconnectInitialMs;
        attempt = 0;
        // kafkajs restarts the consumer itself after retriable failures; this ends on a
        // non-retriable crash (then we start a new session after a pause) or on close.
        await ended.promise;
        if (this.stopping || this.closed) return;
        await this.dropConsumer();
        await this.backoff(delay);
        delay = Math.min(this.o.reconnectMaxMs, delay * 2);
      }
    } finally {
      firstDone();
    }
  }

  /** One consumer from connect to (non-retriable) crash. Throws when connect/subscribe/run fail. */
  private async session(crashed: Deferred<void>): Promise<void> {
    const kafka = this.kafka as Kafka;
    const consumer = kafka.consumer({
      groupId: this.options.groupId,
      sessionTimeout: this.o.sessionTimeoutMs,
      rebalanceTimeout: this.o.rebalanceTimeoutMs,
      heartbeatInterval: this.o.heartbeatIntervalMs,
      maxWaitTimeInMs: this.o.maxWaitTimeMs,
      maxBytesPerPartition: this.o.maxBytesPerPartition,
      allowAutoTopicCreation: false,
      retry: {
        initialRetryTime: 300,
        maxRetryTime: 10_000,
        retries: 5,
        restartOnFailure: async () => !this.stopping && !this.closed,
      },
    });
    this.consumer = consumer;
    const ev = consumer.events;
    consumer.on(ev.CONNECT, () => {
      if (this.consumer !== consumer) return;
      this.connected = true;
      this.options.onEvent?.({ type: 'connected' });
    });
    consumer.on(ev.DISCONNECT, () => {
      if (this.consumer !== consumer) return;
      this.connected = false;
      this.leftGroup();
    });
    consumer.on(ev.STOP, () => {
      if (this.consumer === consumer) this.leftGroup();
    });
    consumer.on(ev.GROUP_JOIN, (e) => {
      if (this.consumer !== consumer) return;
      this.onJoin(consumer, e.payload.memberId, e.payload.memberAssignment);
    });
    consumer.on(ev.REBALANCING, () => {
      if (this.consumer !== consumer) return;
      this.counters.rebalances++;
      const assigned = [...this.assigned].sort();
      this.logger?.info({ assigned }, 'kafka consumer group is rebalancing');
      this.options.onEvent?.({ type: 'rebalancing', assigned });
      if (this.options.onRevoke && !this.stopping) {
        Promise.resolve()
          .then(() => this.options.onRevoke?.(assigned))
          .catch((err: unknown) => this.logger?.warn({ err }, 'onRevoke hook failed'));
      }
    });
    consumer.on(ev.CRASH, (e) => {
      if (this.consumer !== consumer) return;
      this.counters.crashes++;
      this.leftGroup();
      const error = describeError(e.payload.error);
      const restart = e.payload.restart;
      this.options.onEvent?.({ type: 'crash', error, restart });
      if (this.stopping || this.closed) {
        crashed.resolve();
        return;
      }
      if (restart) {
        this.logger?.warn({ error }, 'kafka consumer failed; kafkajs restarts it');
      } else {
        this.logger?.error({ error }, 'kafka consumer failed with a non-retriable error; reconnecting');
        crashed.resolve();
      }
    });

    await consumer.connect();
    await consumer.subscribe({ topics: this.options.topics, fromBeginning: this.o.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.eachBatch(consumer, payload),
    });
  }

  private onJoin(consumer: Consumer, memberId: string, assignment: Record<string, number[]>): void {
    const next = new Set<string>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const p of partitions) next.add(`${topic}/${p}`);
    }
    const revoked = [...this.assigned].filter((k) => !next.has(k)).sort();
    this.assigned = next;
    this.assignStart = new Map();
    // Another member may have committed these partitions since we last did.
    this.committed.clear();
    this.memberId = memberId;
    this.inGroup = true;
    // A new kafkajs consumer group object forgets pauses; re-apply ours.
    if (this.stopping || this.backpressure) this.pauseAll(consumer);
    const assigned = [...next].sort();
    this.logger?.info({ memberId, assigned, revoked }, 'joined the kafka consumer group');
    this.options.onEvent?.({ type: 'joined', memberId, assigned, revoked });
  }

  private leftGroup(): void {
    this.inGroup = false;
    this.assigned = new Set();
    this.assignStart = new Map();
  }

  private async eachBatch(consumer: Consumer, payload: EachBatchPayload): Promise<void> {
    const { batch: kb, resolveOffset, heartbeat, isRunning, isStale } = payload;
    if (this.consumer !== consumer || this.stopping || this.failed || isStale()) return;
    this.counters.fetchedBatches++;
    const key = `${kb.topic}/${kb.partition}`;
    const messages = kb.messages;
    const first = messages[0];
    if (!first) return;

    // Below the floor: our checkpointed state already covers these offsets.
    const floor = this.positions.get(key);
    const firstOffset = Number(first.offset);
    if (floor !== undefined && firstOffset < floor) {
      const high = Number(kb.highWatermark);
      if (floor > high) {
        this.logger?.warn(
          { partition: key, position: floor, highWatermark: high },
          'saved position is beyond the end of the partition (topic re-created or truncated?); reading from the committed offset',
        );
        this.positions.delete(key);
      } else {
        this.counters.skipped += Math.min(messages.length, floor - firstOffset);
        this.assignStart.set(key, floor);
        consumer.seek({ topic: kb.topic, partition: kb.partition, offset: String(floor) });
        this.logger?.debug({ partition: key, from: firstOffset, to: floor }, 'seeking to the saved position');
        this.options.onEvent?.({ type: 'seek', partition: key, from: firstOffset, to: floor });
        return;
      }
    }
    if (!this.assignStart.has(key)) this.assignStart.set(key, firstOffset);

    const run = this.deliver(consumer, kb.topic, kb.partition, key, messages, {
      resolveOffset,
      heartbeat,
      isRunning,
      isStale,
    });
    this.inFlight = run;
    try {
      await run;
    } finally {
      if (this.inFlight === run) this.inFlight = undefined;
    }
  }

  private async deliver(
    consumer: Consumer,
    topic: string,
    partition: number,
    key: string,
    messages: KafkaMessage[],
    kb: Pick<EachBatchPayload, 'resolveOffset' | 'heartbeat' | 'isRunning' | 'isStale'>,
  ): Promise<void> {
    const handler = this.handler as BatchHandler;
    const max = this.o.maxBatchRecords;
    for (let i = 0; i < messages.length; i += max) {
      if (this.stopping || this.failed || !kb.isRunning() || kb.isStale() || this.consumer !== consumer)
        return;
      const slice = messages.slice(i, i + max);
      const records = slice.map((m) => this.toRecord(topic, partition, m));
      const last = slice[slice.length - 1] as KafkaMessage;
      const next = Number(last.offset) + 1;
      const position: KafkaPosition = Object.fromEntries(this.positions);
      position[key] = next;

      let heartbeatError: unknown;
      const keeper = setInterval(() => {
        kb.heartbeat().catch((err: unknown) => (heartbeatError ??= err));
      }, this.o.heartbeatIntervalMs);
      const slow = setTimeout(() => this.setBackpressure(consumer, true), this.o.slowHandlerMs);
      const t0 = performance.now();
      try {
        await handler(batch(this.name, records, position));
      } catch (err) {
        this.fail(err);
        return;
      } finally {
        clearInterval(keeper);
        clearTimeout(slow);
        this.counters.handlerMs += performance.now() - t0;
        if (this.backpressure) this.setBackpressure(consumer, false);
      }
      this.counters.batches++;
      this.counters.records += records.length;
      this.positions.set(key, next);
      this.deliveredThisRun = true;
      kb.resolveOffset(last.offset);
      // A rebalance noticed while the handler ran: stop here so kafkajs rejoins promptly.
      if (heartbeatError !== undefined) throw heartbeatError;
      await kb.heartbeat();
    }
  }

  private toRecord(topic: string, partition: number, m: KafkaMessage): RawRecord {
    const origin = `kafka:${topic}/${partition}@${m.offset}`;
    let line = m.value;
    if (line === null) {
      this.counters.nullValues++;
      return { line: Buffer.alloc(0), origin };
    }
    let end = line.length;
    if (end > 0 && line[end - 1] === 0x0a) end--;
    if (end > 0 && line[end - 1] === 0x0d) end--;
    if (end > this.o.maxLineBytes) {
      this.counters.truncated++;
      return { line: line.subarray(0, this.o.maxLineBytes), origin, truncated: true };
    }
    if (end !== line.length) line = line.subarray(0, end);
    return { line, origin };
  }

  private setBackpressure(consumer: Consumer, on: boolean): void {
    if (this.backpressure === on) return;
    this.backpressure = on;
    if (on) {
      this.counters.pauses++;
      this.pauseAll(consumer);
      this.logger?.debug({ afterMs: this.o.slowHandlerMs }, 'handler is slow: pausing kafka fetches');
      this.options.onEvent?.({ type: 'paused', reason: 'slow-handler' });
    } else if (!this.stopping) {
      try {
        consumer.resume(this.options.topics.map((topic) => ({ topic })));
      } catch {
        // Not running (crashed or restarting): the next session starts unpaused.
      }
      this.options.onEvent?.({ type: 'resumed' });
    }
  }

  private pauseAll(consumer: Consumer | undefined): void {
    try {
      consumer?.pause(this.options.topics.map((topic) => ({ topic })));
    } catch {
      // Not running: nothing is being fetched.
    }
  }

  /** True when `position` includes everything delivered in this run. */
  private covers(position: KafkaPosition): boolean {
    for (const [key, offset] of this.positions) {
      const p = position[key];
      if (p === undefined || p < offset) return false;
    }
    return true;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.wakeBackoff?.();
    if (!this.started) {
      this.closed = true;
      this.done.resolve();
      return;
    }
    this.pauseAll(this.consumer);
    while (this.inFlight) await this.inFlight.catch(() => undefined);
    if (!this.failed) this.done.resolve();
    if (!this.deliveredThisRun || !this.inGroup) {
      await this.close();
      return;
    }
    this.finalCommitTimer = setTimeout(() => {
      this.logger?.warn('no final offset commit arrived after stop; leaving the consumer group');
      void this.close();
    }, this.o.finalCommitTimeoutMs);
  }

  private async disconnectAll(): Promise<void> {
    this.closed = true;
    this.stopping = true;
    this.wakeBackoff?.();
    if (this.finalCommitTimer) clearTimeout(this.finalCommitTimer);
    this.finalCommitTimer = undefined;
    this.sessionEnded?.resolve();
    await this.dropConsumer();
    const admin = this.admin;
    this.admin = undefined;
    if (admin) await admin.disconnect().catch(() => undefined);
    this.connected = false;
    this.leftGroup();
    if (!this.done.settled()) this.done.resolve();
    this.logger?.info('kafka consumer disconnected');
  }

  private async dropConsumer(): Promise<void> {
    const consumer = this.consumer;
    if (!consumer) return;
    try {
      await consumer.disconnect();
    } catch (err) {
      this.logger?.debug({ err: { message: describeError(err) } }, 'kafka consumer disconnect failed');
    }
    if (this.consumer === consumer) this.consumer = undefined;
  }

  private backoff(ms: number): Promise<void> {
    if (this.stopping || this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeBackoff = done;
    }).finally(() => (this.wakeBackoff = undefined));
  }

  private async getAdmin(): Promise<Admin> {
    if (this.admin) return this.admin;
    this.adminConnecting ??= (async () => {
      const admin = (this.kafka as Kafka).admin();
      try {
        await admin.connect();
      } catch (err) {
        this.adminConnecting = undefined;
        throw err;
      }
      this.admin = admin;
      return admin;
    })();
    return this.adminConnecting;
  }

  /** The handler failed: stop intake, leave the group without committing, reject `finished`. */
  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.stopping = true;
    this.pauseAll(this.consumer);
    this.done.reject(toError(err));
    // Never await the disconnect inside eachBatch: kafkajs waits for eachBatch to return first.
    setImmediate(() => void this.close());
  }
}

// ---------------------------------------------------------------------------------------------

/** Validate a stored position: `{ "topic/partition": offset }` with non-negative safe integers. */
export function parseKafkaPosition(value: SourcePosition): KafkaPosition {
  const out: KafkaPosition = {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) return out;
  for (const [key, offset] of Object.entries(value as Record<string, unknown>)) {
    if (!splitKey(key)) continue;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) continue;
    out[key] = offset;
  }
  return out;
}

function splitKey(key: string): { topic: string; partition: number } | undefined {
  const i = key.lastIndexOf('/');
  if (i <= 0) return undefined;
  const partition = Number(key.slice(i + 1));
  if (!Number.isSafeInteger(partition) || partition < 0) return undefined;
  return { topic: key.slice(0, i), partition };
}

/** Keys of kafkajs log entries never passed on (connection options can carry credentials). */
const DROPPED_LOG_KEYS = new Set([
  'timestamp',
  'logger',
  'message',
  'sasl',
  'ssl',
  'password',
  'authenticationProvider',
  'stack',
]);

/**
 * kafkajs `logLevel` and `logCreator` writing through our pino logger. kafkajs ERROR lines are
 * mostly retried conditions (connection refused during a broker restart), so they are logged as
 * warnings (a rebalance noticed by a heartbeat as info); our own code logs what is final. kafkajs
 * INFO is logged at debug, DEBUG at trace. The same message is logged at most once per 10 s.
 */
export function kafkaLogOptions(logger: Logger | undefined): Pick<KafkaConfig, 'logLevel' | 'logCreator'> {
  if (!logger) return { logLevel: KafkaLogLevel.NOTHING };
  const log = logger.child({ component: 'kafkajs' });
  // kafkajs DEBUG → trace, INFO → debug, WARN/ERROR → warn: ask kafkajs only for what is kept.
  const level = log.isLevelEnabled('trace')
    ? KafkaLogLevel.DEBUG
    : log.isLevelEnabled('debug')
      ? KafkaLogLevel.INFO
      : log.isLevelEnabled('warn')
        ? KafkaLogLevel.WARN
        : KafkaLogLevel.NOTHING;
  const lastSeen = new Map<string, { at: number; suppressed: number }>();
  return {
    logLevel: level,
    logCreator: () => (entry: LogEntry) => {
      const fields: Record<string, unknown> = { namespace: entry.namespace };
      for (const [k, v] of Object.entries(entry.log)) {
        if (!DROPPED_LOG_KEYS.has(k)) fields[k] = v;
      }
      const message = String(entry.log.message);
      const now = Date.now();
      const seen = lastSeen.get(message);
      if (seen && now - seen.at < KAFKA_LOG_REPEAT_MS) {
        seen.suppressed++;
        return;
      }
      if (seen?.suppressed) fields['repeated'] = seen.suppressed;
      lastSeen.set(message, { at: now, suppressed: 0 });
      if (lastSeen.size > 1000) lastSeen.clear();
      switch (entry.level) {
        case KafkaLogLevel.ERROR:
        case KafkaLogLevel.WARN:
          // A rebalance is routine: kafkajs reports the heartbeat that noticed it as an error.
          if (/rebalanc/i.test(String(fields['error'] ?? ''))) log.info(fields, message);
          else log.warn(fields, message);
          break;
        case KafkaLogLevel.INFO:
          log.debug(fields, message);
          break;
        default:
          log.trace(fields, message);
      }
    },
  };
}

/**
 * Connection options from `sources.kafka`: TLS files are read now, the SASL password comes from the
 * environment variable named by `sasl.password_env` (or its `_FILE`) through `readSecret`, which
 * registers it with the log scrubber.
 */
export interface KafkaConnectionOptions {
  ssl?: ConnectionOptions | boolean | undefined;
  sasl?: SASLOptions | undefined;
}

export function kafkaConnectionOptions(
  config: KafkaSourceConfig,
  env: NodeJS.ProcessEnv = process.env,
): KafkaConnectionOptions {
  const out: KafkaConnectionOptions = {};
  const tls = config.tls;
  if (tls.enabled) {
    const read = (what: string, path: string | undefined): Buffer | undefined => {
      if (!path) return undefined;
      try {
        return readFileSync(path);
      } catch (err) {
        throw new Error(`sources.kafka.tls.${what}: cannot read ${path}: ${describeError(err)}`);
      }
    };
    const ca = read('ca_file', tls.ca_file);
    const cert = read('cert_file', tls.cert_file);
    const key = read('key_file', tls.key_file);
    if ((cert === undefined) !== (key === undefined)) {
      throw new Error('sources.kafka.tls: cert_file and key_file go together (mutual TLS)');
    }
    out.ssl = {
      rejectUnauthorized: tls.reject_unauthorized,
      ...(ca ? { ca: [ca] } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
    };
  }
  if (config.sasl) {
    const password = readSecret(config.sasl.password_env, env);
    if (!password) {
      throw new Error(
        `sources.kafka.sasl: the password variable ${config.sasl.password_env} (or ${config.sasl.password_env}_FILE) is not set`,
      );
    }
    out.sasl = { mechanism: config.sasl.mechanism, username: config.sasl.username, password };
  }
  return out;
}

export interface CreateKafkaSourceOptions extends Partial<
  Omit<KafkaSourceOptions, 'brokers' | 'groupId' | 'topics' | 'logger'>
> {
  env?: NodeJS.ProcessEnv;
}

/** A KafkaSource from `sources.kafka`. TLS files and the SASL password are read at `start`. */
export function createKafkaSource(
  config: KafkaSourceConfig,
  logger?: Logger,
  options: CreateKafkaSourceOptions = {},
): KafkaSource {
  const { env, ...rest } = options;
  return new KafkaSource({
    brokers: config.brokers,
    clientId: config.client_id,
    groupId: config.group_id,
    topics: config.topics,
    fromBeginning: config.from_beginning,
    maxBatchRecords: config.max_batch,
    sessionTimeoutMs: config.session_timeout,
    resolveConnection: () => kafkaConnectionOptions(config, env),
    ...(logger ? { logger } : {}),
    ...rest,
  });
}
