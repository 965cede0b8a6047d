import { Kafka, Partitioners, type KafkaConfig, type Message, type Producer } from 'kafkajs';
import { scrubText } from '../audit/secrets.js';
import type { Logger } from '../ops/logger.js';
import {
  DEAD_LETTER_EXCERPT_BYTES,
  toDeadLetterRecord,
  type DeadLetterEntry,
  type DeadLetterSink,
  type DeadLetterStats,
} from './dead-letter.js';
import { kafkaConnectionOptions, kafkaLogOptions, type KafkaSourceConfig } from './kafka.js';
import { describeError } from './util.js';

/**
 * Dead-letter topic: each rejected line becomes one message whose value is the stored (scrubbed)
 * DeadLetterRecord as JSON, from `toDeadLetterRecord`; the raw line is never sent. Headers:
 * `vigil-reason` (the scrubbed reason) and `vigil-origin` (the scrubbed origin, e.g.
 * `kafka:vault-audit/2@991`). Messages have no key. The excerpt gets one more whole-text pass of
 * `scrubText` before it leaves the host: `scrubLine` pattern-scrubs only quoted strings, so a bare
 * token in a non-JSON line (binary, plain text) would otherwise pass through.
 *
 * Records are buffered and sent together on a short timer, when `maxBatchRecords` are buffered,
 * and on `flush()`/`close()`; each send waits for every in-sync replica (acks = -1). A failed send
 * is reported through `onError` and its records are kept for the next attempt (timer, next put,
 * flush), so a broker outage delays dead letters instead of losing them, up to `maxBufferedRecords`
 * (the oldest are then dropped and counted). `put` and `flush` never throw because of the broker,
 * and `flush` does not wait for an outage to end: it makes one attempt (with kafkajs's own
 * retries) so a checkpoint cannot stall the pipeline. Records still buffered at `close()` after its
 * attempt are dropped and counted.
 */

export interface KafkaDeadLetterSinkOptions {
  /** A kafkajs client (its connection settings are used for the producer). */
  kafka: Kafka;
  topic: string;
  /** Send at most this long after `put` (default 200 ms). */
  flushIntervalMs?: number;
  /** Send as soon as this many records are buffered (default 500). */
  maxBatchRecords?: number;
  /** Records kept while the broker is unreachable; beyond this the oldest are dropped (default 10 000). */
  maxBufferedRecords?: number;
  /** Excerpt length in bytes before scrubbing (default 64 KiB). */
  excerptBytes?: number;
  /** Per-send timeout in ms (default 30 s). */
  sendTimeoutMs?: number;
  /** Delivery failures (records kept for retry) and drops. */
  onError?: (err: Error) => void;
  /** Inject a producer (tests). */
  producer?: Pick<Producer, 'connect' | 'disconnect' | 'send'>;
}

export interface KafkaDeadLetterStats extends DeadLetterStats {
  /** Records waiting to be sent. */
  buffered: number;
}

export const REASON_HEADER = 'vigil-reason';
export const ORIGIN_HEADER = 'vigil-origin';

export class KafkaDeadLetterSink implements DeadLetterSink {
  readonly topic: string;
  private readonly producer: Pick<Producer, 'connect' | 'disconnect' | 'send'>;
  private readonly flushIntervalMs: number;
  private readonly maxBatchRecords: number;
  private readonly maxBufferedRecords: number;
  private readonly excerptBytes: number;
  private readonly sendTimeoutMs: number;
  private readonly onError: (err: Error) => void;

  private buffer: Message[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> = Promise.resolve();
  private connected: Promise<void> | undefined;
  private closed = false;
  private readonly counters: DeadLetterStats = { written: 0, dropped: 0, errors: 0 };

  constructor(options: KafkaDeadLetterSinkOptions) {
    this.topic = options.topic;
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.maxBatchRecords = options.maxBatchRecords ?? 500;
    this.maxBufferedRecords = options.maxBufferedRecords ?? 10_000;
    this.excerptBytes = options.excerptBytes ?? DEAD_LETTER_EXCERPT_BYTES;
    this.sendTimeoutMs = options.sendTimeoutMs ?? 30_000;
    this.onError = options.onError ?? (() => undefined);
    this.producer =
      options.producer ??
      options.kafka.producer({
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: 3 },
      });
  }

  async put(entry: DeadLetterEntry): Promise<void> {
    if (this.closed) throw new Error(`dead-letter sink (topic ${this.topic}) is closed`);
    const stored = toDeadLetterRecord(entry, this.excerptBytes);
    const record = { ...stored, excerpt: scrubText(stored.excerpt) };
    this.buffer.push({
      key: null,
      value: JSON.stringify(record),
      headers: { [REASON_HEADER]: record.reason, [ORIGIN_HEADER]: record.origin },
    });
    if (this.buffer.length > this.maxBufferedRecords) {
      const excess = this.buffer.length - this.maxBufferedRecords;
      this.buffer.splice(0, excess);
      this.counters.dropped += excess;
      this.onError(
        new Error(`dead-letter topic ${this.topic}: buffer full, ${excess} oldest records dropped`),
      );
    }
    if (this.buffer.length >= this.maxBatchRecords) {
      // Wait for the send: a flood of bad lines slows intake instead of growing the buffer.
      await this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushIntervalMs);
  }

  /** Send everything buffered; resolves once acknowledged by all in-sync replicas, or failed and reported. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.sending = this.sending.then(() => this.sendBuffered());
    return this.sending;
  }

  async close(): Promise<void> {
    if (this.closed) return this.sending;
    this.closed = true;
    await this.flush();
    if (this.buffer.length > 0) {
      this.counters.dropped += this.buffer.length;
      this.onError(
        new Error(`dead-letter topic ${this.topic}: ${this.buffer.length} records not delivered at close`),
      );
      this.buffer = [];
    }
    if (this.connected) await this.producer.disconnect().catch(() => undefined);
  }

  stats(): KafkaDeadLetterStats {
    return { ...this.counters, buffered: this.buffer.length };
  }

  private async sendBuffered(): Promise<void> {
    while (this.buffer.length > 0) {
      const messages = this.buffer.slice(0, this.maxBatchRecords);
      try {
        this.connected ??= this.producer.connect().catch((err: unknown) => {
          this.connected = undefined;
          throw err;
        });
        await this.connected;
        await this.producer.send({ topic: this.topic, messages, acks: -1, timeout: this.sendTimeoutMs });
      } catch (err) {
        // Keep the records (they are still at the head of the buffer) for the next attempt.
        this.counters.errors++;
        this.onError(
          new Error(
            `dead-letter send to topic ${this.topic} failed (${messages.length} records kept for retry): ${describeError(err)}`,
          ),
        );
        if (!this.closed) {
          this.timer ??= setTimeout(
            () => {
              this.timer = undefined;
              void this.flush();
            },
            Math.max(this.flushIntervalMs, 5000),
          );
        }
        return;
      }
      // The head may have been trimmed by put() while sending (buffer overflow): remove what was sent.
      const sent = new Set(messages);
      this.buffer = this.buffer.filter((m) => !sent.has(m));
      this.counters.written += messages.length;
    }
  }
}

export interface CreateKafkaDeadLetterSinkOptions extends Partial<
  Omit<KafkaDeadLetterSinkOptions, 'kafka' | 'topic'>
> {
  env?: NodeJS.ProcessEnv;
  /** Extra kafkajs client options (tests). */
  kafka?: Partial<KafkaConfig>;
}

/**
 * The dead-letter sink for `sources.kafka.dead_letter_topic`, with the same brokers, TLS and SASL
 * settings as the source (files and the password are read here). Undefined when no topic is set.
 */
export function createKafkaDeadLetterSink(
  config: KafkaSourceConfig,
  logger?: Logger,
  options: CreateKafkaDeadLetterSinkOptions = {},
): KafkaDeadLetterSink | undefined {
  if (!config.dead_letter_topic) return undefined;
  const { env, kafka: extra, ...rest } = options;
  const conn = kafkaConnectionOptions(config, env);
  const log = logger?.child({ component: 'kafka-dead-letter' });
  const kafka = new Kafka({
    clientId: `${config.client_id}-dead-letter`,
    brokers: config.brokers,
    connectionTimeout: 5000,
    ...(conn.ssl !== undefined ? { ssl: conn.ssl } : {}),
    ...(conn.sasl ? { sasl: conn.sasl } : {}),
    ...kafkaLogOptions(log),
    ...extra,
  });
  return new KafkaDeadLetterSink({
    kafka,
    topic: config.dead_letter_topic,
    onError: (err) => log?.error({ error: err.message }, 'dead-letter topic delivery problem'),
    ...rest,
  });
}
