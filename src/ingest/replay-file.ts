import { open, type FileHandle } from 'node:fs/promises';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { LineSplitter } from './line-splitter.js';
import type { BatchHandler, Source, SourcePosition } from './source.js';
import { pumpLines } from './stream-pump.js';
import { DEFAULT_MAX_BATCH_RECORDS, deferred, describeError, readChunks, type Deferred } from './util.js';

/** A replay reads in bulk: large reads make full batches, which the parse worker needs to keep up. */
const REPLAY_CHUNK_BYTES = 1024 * 1024;
/**
 * Reads one audit log once, from start to end: a plain file, a gzip file (name ending in `.gz`, or
 * starting with the gzip magic bytes 1f 8b; concatenated gzip members are read in sequence), or `-`
 * for standard input (gzip detected by magic). Streamed in chunks with back-pressure; never loads the
 * file. `finished` resolves at end of input, or rejects with a one-line message on a read or
 * decompression error. No resumable position (replays start over).
 */

export interface ReplayProgress {
  /** Bytes read from the file or stdin (compressed bytes for gzip). */
  bytesRead: number;
  /** File size when known (regular files); undefined for stdin and pipes. */
  totalBytes?: number;
  /** Records delivered so far. */
  records: number;
  done: boolean;
}

export interface ReplayFileOptions {
  /** File to read, or `-` for standard input. */
  path: string;
  /** Source instance name (default `replay`). */
  name?: string;
  /** `auto` (default): by `.gz` name or magic bytes; true/false forces. */
  gzip?: 'auto' | boolean;
  /** Stream used for `-` (default process.stdin); it is never destroyed by the source. */
  stdin?: Readable;
  /** Bytes per read (default 1 MiB). */
  chunkBytes?: number;
  /** Records per batch (default 1000). */
  maxBatchRecords?: number;
  /** Longest line kept (default 4 MiB). */
  maxLineBytes?: number;
  /** Called after each chunk is handled and once at the end (`done: true`); throttle in the caller. */
  onProgress?: (progress: ReplayProgress) => void;
}

export class ReplayFileSource implements Source {
  readonly name: string;
  readonly path: string;
  readonly finished: Promise<void>;

  private readonly options: ReplayFileOptions;
  private readonly done: Deferred<void>;
  private started = false;
  private stopping = false;
  private reading = false;
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(options: ReplayFileOptions) {
    this.options = options;
    this.path = options.path;
    this.name = options.name ?? 'replay';
    this.done = deferred<void>(true);
    this.finished = this.done.promise;
  }

  /** Opens the input; rejects with `cannot read <path>: <reason>` if it is missing or unreadable. */
  async start(handler: BatchHandler, _resumeFrom?: SourcePosition): Promise<void> {
    if (this.started) throw new Error(`source ${this.name} already started`);
    this.started = true;
    const chunkBytes = this.options.chunkBytes ?? REPLAY_CHUNK_BYTES;
    let input: Readable;
    let totalBytes: number | undefined;
    let owned = false;
    if (this.path === '-') {
      input = this.options.stdin ?? process.stdin;
    } else {
      let fh: FileHandle;
      try {
        fh = await open(this.path, 'r');
      } catch (err) {
        this.done.resolve();
        throw new Error(`cannot read ${this.path}: ${describeError(err)}`);
      }
      try {
        const st = await fh.stat();
        if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
        if (st.isFile()) totalBytes = st.size;
      } catch (err) {
        await fh.close().catch(() => undefined);
        this.done.resolve();
        throw new Error(`cannot read ${this.path}: ${describeError(err)}`);
      }
      input = sharedChunks(fh, chunkBytes);
      owned = true;
    }
    this.reading = true;
    this.loop = this.run(handler, input, owned, totalBytes);
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

  private async run(
    handler: BatchHandler,
    input: Readable,
    owned: boolean,
    totalBytes: number | undefined,
  ): Promise<void> {
    const signal = this.abort.signal;
    let bytesRead = 0;
    let gunzip: ReturnType<typeof createGunzip> | undefined;
    const label = this.path === '-' ? 'stdin' : this.path;
    // Handler errors are the pipeline's own: passed through unchanged, not dressed as read errors.
    let handlerError: { error: unknown } | undefined;
    const guarded: BatchHandler = async (b) => {
      try {
        await handler(b);
      } catch (error) {
        handlerError = { error };
        throw error;
      }
    };
    try {
      const raw = (async function* () {
        for await (const chunk of readChunks(input, signal)) {
          bytesRead += chunk.length;
          yield chunk;
        }
      })();

      // Peek at the first two bytes for the gzip magic.
      const head: Buffer[] = [];
      let headLen = 0;
      let ended = false;
      while (headLen < 2) {
        const r = await raw.next();
        if (r.done) {
          ended = true;
          break;
        }
        head.push(r.value);
        headLen += r.value.length;
      }
      const first = head.length === 1 ? head[0] : Buffer.concat(head);
      const magic = first !== undefined && first.length >= 2 && first[0] === 0x1f && first[1] === 0x8b;
      const mode = this.options.gzip ?? 'auto';
      const isGzip =
        headLen > 0 && (mode === true || (mode === 'auto' && (magic || this.path.endsWith('.gz'))));

      const all = (async function* () {
        if (first && first.length > 0) yield first;
        if (!ended) yield* raw;
      })();

      let chunks: AsyncIterable<Buffer> = all;
      if (isGzip) {
        const gz = createGunzip({ chunkSize: 64 * 1024 });
        gunzip = gz;
        // Errors (read or decompression) surface through gz.errored in readChunks.
        pipeline(Readable.from(all, { objectMode: false }), gz, () => undefined);
        chunks = readChunks(gz, signal);
      }

      const prefix = this.path === '-' ? 'stdin:' : `file:${this.path}:`;
      const splitter = new LineSplitter({
        origin: (start) => prefix + start,
        ...(this.options.maxLineBytes !== undefined ? { maxLineBytes: this.options.maxLineBytes } : {}),
      });
      const onProgress = this.options.onProgress;
      const records = await pumpLines({
        chunks,
        splitter,
        handler: guarded,
        source: this.name,
        maxBatchRecords: this.options.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS,
        stopping: () => this.stopping,
        ...(onProgress
          ? { onChunk: (n: number) => onProgress(progress(bytesRead, totalBytes, n, false)) }
          : {}),
      });
      onProgress?.(progress(bytesRead, totalBytes, records, !this.stopping));
      this.done.resolve();
    } catch (err) {
      if (handlerError) this.done.reject(handlerError.error);
      else this.done.reject(new Error(`replay of ${label} failed: ${describeError(err)}`));
    } finally {
      this.reading = false;
      gunzip?.destroy();
      if (owned) input.destroy();
      else input.pause();
    }
  }
}

function progress(
  bytesRead: number,
  totalBytes: number | undefined,
  records: number,
  done: boolean,
): ReplayProgress {
  return totalBytes === undefined ? { bytesRead, records, done } : { bytesRead, totalBytes, records, done };
}

/**
 * The file as a stream of chunks in fresh shared memory, never reused: lines cut from them can be
 * handed to the parse worker as they are, without a copy (see ParseAhead). Closes the file when
 * the stream ends or is destroyed.
 */
function sharedChunks(fh: FileHandle, chunkBytes: number): Readable {
  return new Readable({
    highWaterMark: chunkBytes,
    read() {
      const chunk = Buffer.from(new SharedArrayBuffer(chunkBytes));
      fh.read(chunk, 0, chunkBytes, null).then(
        ({ bytesRead }) => this.push(bytesRead > 0 ? chunk.subarray(0, bytesRead) : null),
        (err: unknown) => this.destroy(err as Error),
      );
    },
    destroy(err, callback) {
      fh.close().then(
        () => callback(err),
        (closeErr: unknown) => callback(err ?? (closeErr as Error)),
      );
    },
  });
}
