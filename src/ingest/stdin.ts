import type { Readable } from 'node:stream';
import { LineSplitter } from './line-splitter.js';
import type { BatchHandler, Source, SourcePosition } from './source.js';
import { pumpLines } from './stream-pump.js';
import { DEFAULT_MAX_BATCH_RECORDS, deferred, describeError, readChunks, type Deferred } from './util.js';

/**
 * Audit lines from standard input (or any Readable) until EOF, for the daemon behind a pipe
 * (`tail -F audit.log | vigil run --stdin`, a log shipper's exec output). Whatever the stream has
 * buffered is delivered at once, so a single line is not held back. No resumable position. The
 * stream is never destroyed by the source (only paused on stop), so process.stdin stays usable.
 */

export interface StdinSourceOptions {
  /** Stream to read (default process.stdin). */
  input?: Readable;
  /** Source instance name (default `stdin`). */
  name?: string;
  /** Records per batch (default 1000). */
  maxBatchRecords?: number;
  /** Longest line kept (default 4 MiB). */
  maxLineBytes?: number;
}

export class StdinSource implements Source {
  readonly name: string;
  readonly finished: Promise<void>;

  private readonly input: Readable;
  private readonly options: StdinSourceOptions;
  private readonly done: Deferred<void>;
  private readonly abort = new AbortController();
  private started = false;
  private stopping = false;
  private reading = false;
  private loop: Promise<void> | undefined;

  constructor(options: StdinSourceOptions = {}) {
    this.options = options;
    this.input = options.input ?? process.stdin;
    this.name = options.name ?? 'stdin';
    this.done = deferred<void>(true);
    this.finished = this.done.promise;
  }

  async start(handler: BatchHandler, _resumeFrom?: SourcePosition): Promise<void> {
    if (this.started) throw new Error(`source ${this.name} already started`);
    this.started = true;
    this.reading = true;
    this.loop = this.run(handler);
  }

  async commit(_position: SourcePosition): Promise<void> {}

  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    if (this.loop) await this.loop;
    else this.done.resolve();
  }

  isReady(): boolean {
    return this.reading && !this.stopping;
  }

  private async run(handler: BatchHandler): Promise<void> {
    let handlerError: { error: unknown } | undefined;
    try {
      await pumpLines({
        chunks: readChunks(this.input, this.abort.signal),
        splitter: new LineSplitter({
          origin: (start) => 'stdin:' + start,
          ...(this.options.maxLineBytes !== undefined ? { maxLineBytes: this.options.maxLineBytes } : {}),
        }),
        handler: async (b) => {
          try {
            await handler(b);
          } catch (error) {
            handlerError = { error };
            throw error;
          }
        },
        source: this.name,
        maxBatchRecords: this.options.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS,
        stopping: () => this.stopping,
      });
      this.done.resolve();
    } catch (err) {
      if (handlerError) this.done.reject(handlerError.error);
      else this.done.reject(new Error(`reading ${this.name} failed: ${describeError(err)}`));
    } finally {
      this.reading = false;
      this.input.pause();
    }
  }
}
