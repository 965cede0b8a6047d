/**
 * The contract between sources (file tail, stdin, socket, Kafka) and the pipeline.
 *
 * Sources push batches and await the handler: that await is the back-pressure. A batch carries
 * the position reached after it; the pipeline stores positions in its state snapshot and calls
 * `commit` only once the batch's effects are durable (at-least-once in).
 */

/** One audit line as received, without its line terminator. */
export interface RawRecord {
  /** Raw bytes: kept as a Buffer so invalid UTF-8 can be detected and reported. */
  line: Buffer;
  /** Where the line came from, for dead-letter and logs: `file:/var/log/vault/audit.log:1234` (byte offset), `socket:127.0.0.1:53122`, `kafka:vault-audit/2@991`. */
  origin: string;
  /** Set when the source had to cut the line (longer than the configured maximum). */
  truncated?: boolean;
}

/**
 * A serialisable position from which a source can resume; opaque to the pipeline. Sources that
 * cannot resume (stdin, socket) use `undefined`.
 */
export type SourcePosition = unknown;

export interface RecordBatch {
  /** Name of the source instance (`file`, `socket`, `stdin`, `kafka`). */
  source: string;
  records: RawRecord[];
  /** Position reached once every record in this batch (and all before it) is processed. */
  position?: SourcePosition;
}

export type BatchHandler = (batch: RecordBatch) => Promise<void>;

export interface Source {
  /** Unique instance name; used as the key of its position in the state snapshot and in metrics. */
  readonly name: string;
  /**
   * Begin delivering batches to `handler`, resuming after `resumeFrom` when given. Resolves once the
   * source is listening/reading; delivery continues in the background until `stop()` or end of input.
   */
  start(handler: BatchHandler, resumeFrom?: SourcePosition): Promise<void>;
  /** Everything up to `position` is durable: the source may forget it (Kafka: commit offsets). */
  commit(position: SourcePosition): Promise<void>;
  /** Stop intake. Resolves after the in-flight handler call (if any) has returned. */
  stop(): Promise<void>;
  /** Resolves when the source has no more input (end of a replayed file, stdin EOF) or was stopped. */
  readonly finished: Promise<void>;
  /** True while the source is connected/reading (readiness). */
  isReady(): boolean;
}
