import type { Readable } from 'node:stream';
import type { RawRecord, RecordBatch, SourcePosition } from './source.js';

/** Small helpers shared by the sources. Internal to src/ingest. */

export const DEFAULT_MAX_BATCH_RECORDS = 1000;
export const DEFAULT_CHUNK_BYTES = 256 * 1024;

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
  settled: () => boolean;
}

/**
 * A promise with its settle functions. `quiet` marks the promise as handled, so a rejection nobody
 * awaits (a source's `finished`) does not crash the process as an unhandled rejection; whoever awaits
 * it still sees the rejection.
 */
export function deferred<T>(quiet = false): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  let done = false;
  const promise = new Promise<T>((res, rej) => {
    resolve = (v) => {
      done = true;
      res(v);
    };
    reject = (e) => {
      done = true;
      rej(e);
    };
  });
  if (quiet) promise.catch(() => undefined);
  return { promise, resolve, reject, settled: () => done };
}

export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a path component is not a directory',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in system',
  EIO: 'input/output error',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
};

/** One-line description of a system error: `no such file or directory (ENOENT)`. */
export function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const text = code && ERRNO_TEXT[code];
  if (text) return `${text} (${code})`;
  const message = err instanceof Error ? err.message : String(err);
  return (message.split('\n')[0] ?? message).trim() || 'unknown error';
}

/** Records and the absolute end offset of each, cut into batches of at most `max` records. */
export function* slices(records: RawRecord[], max: number): Generator<RawRecord[]> {
  if (records.length <= max) {
    if (records.length > 0) yield records;
    return;
  }
  for (let i = 0; i < records.length; i += max) yield records.slice(i, i + max);
}

export function batch(source: string, records: RawRecord[], position?: SourcePosition): RecordBatch {
  return position === undefined ? { source, records } : { source, records, position };
}

/**
 * Read a stream chunk by chunk without ever destroying it (so process.stdin or a caller's stream can be
 * left alone on stop). Returns when the stream ends or `signal` aborts; throws the stream's error.
 * Each chunk is whatever the stream has buffered (paused-mode `read()`), so bursts come out together.
 */
export async function* readChunks(stream: Readable, signal?: AbortSignal): AsyncGenerator<Buffer> {
  // An 'error' emitted while the consumer is busy (awaiting its handler) must not be an unhandled
  // event; it is rethrown from `stream.errored` on the next read.
  const swallow = (): void => undefined;
  stream.on('error', swallow);
  try {
    yield* readLoop(stream, signal);
  } finally {
    stream.off('error', swallow);
  }
}

async function* readLoop(stream: Readable, signal?: AbortSignal): AsyncGenerator<Buffer> {
  for (;;) {
    if (signal?.aborted) return;
    const chunk: unknown = stream.read();
    if (chunk !== null && chunk !== undefined) {
      yield typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      continue;
    }
    if (stream.errored) throw stream.errored;
    if (stream.readableEnded || stream.destroyed) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        stream.off('readable', done);
        stream.off('end', done);
        stream.off('error', done);
        stream.off('close', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      stream.on('readable', done);
      stream.on('end', done);
      stream.on('error', done);
      stream.on('close', done);
      signal?.addEventListener('abort', done);
    });
  }
}
