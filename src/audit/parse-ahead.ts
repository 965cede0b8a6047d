import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RawRecord } from '../ingest/source.js';
import type { Logger } from '../ops/logger.js';
import { WireDecoder, type Preparsed, type WireBatch } from './parse-wire.js';
import type { ParseRequest } from './parse-worker.js';

const MIN_BUFFER_BYTES = 1024 * 1024;
const MAX_FREE_BUFFERS = 4;

/**
 * Parses batches of audit lines on a worker thread while the pipeline thread runs detectors on the
 * batch before: the pipeline's results are the same, it just does not wait for JSON.parse. Lines
 * already in shared memory are handed over where they are; others are copied into a pooled shared
 * buffer and their records repointed at the copy, so they stay valid after the source reuses its
 * read buffer.
 *
 * If the worker cannot start or dies, every batch it has not answered resolves to `undefined` and
 * the pipeline parses it itself: a broken worker costs speed, never events.
 */
export class ParseAhead {
  private readonly decoder = new WireDecoder();
  private readonly waiting = new Map<number, (parsed: Preparsed[] | undefined) => void>();
  private readonly free: SharedArrayBuffer[] = [];
  private nextSeq = 0;
  private broken = false;
  private closing = false;

  private constructor(
    private readonly worker: Worker,
    private readonly logger: Logger,
  ) {
    worker.on('message', (reply: { seq: number; batch: WireBatch }) => {
      const resolve = this.waiting.get(reply.seq);
      if (!resolve) return;
      this.waiting.delete(reply.seq);
      try {
        resolve(this.decoder.decode(reply.batch));
      } catch (err) {
        this.fail(err as Error);
        resolve(undefined);
      }
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => {
      if (!this.closing) this.fail(new Error(`parse worker exited with code ${code}`));
    });
  }

  /**
   * Start the worker, or say why not (undefined). `script` defaults to the compiled worker beside
   * this module; running from TypeScript sources (unit tests) there is none.
   */
  static start(
    logger: Logger,
    script: URL = new URL('./parse-worker.js', import.meta.url),
  ): ParseAhead | undefined {
    if (!existsSync(fileURLToPath(script))) {
      logger.info(
        { script: fileURLToPath(script) },
        'no parse worker script; parsing on the pipeline thread',
      );
      return undefined;
    }
    return new ParseAhead(new Worker(script), logger);
  }

  /** False once the worker has failed: callers parse in their own thread from then on. */
  get available(): boolean {
    return !this.broken && !this.closing;
  }

  /**
   * Have the records' lines parsed. `parsed` resolves with one result per record, or undefined if
   * the worker failed. Call `release` once the step is over: nothing may hold a copied line after
   * that (the same rule as for a source's read buffer), and the copy buffer is reused.
   */
  parse(records: RawRecord[]): { parsed: Promise<Preparsed[] | undefined>; release: () => void } {
    // Lines already in shared memory (a source that reads into fresh shared chunks and never reuses
    // them, like the replay of a file) are sent where they are; the others are copied and repointed.
    let copyBytes = 0;
    for (const r of records) if (!(r.line.buffer instanceof SharedArrayBuffer)) copyBytes += r.line.length;
    const copy = copyBytes > 0 ? this.take(copyBytes) : undefined;
    const copyView = copy ? new Uint8Array(copy) : undefined;
    const buffers: SharedArrayBuffer[] = copy ? [copy] : [];
    const bounds = new Int32Array(records.length * 3);
    let at = 0;
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as RawRecord;
      const line = record.line;
      if (line.buffer instanceof SharedArrayBuffer) {
        let b = buffers.lastIndexOf(line.buffer);
        if (b < 0) b = buffers.push(line.buffer) - 1;
        bounds[3 * i] = b;
        bounds[3 * i + 1] = line.byteOffset;
        bounds[3 * i + 2] = line.byteOffset + line.length;
        continue;
      }
      // TypedArray#set is a plain memory copy; Buffer#copy pays for argument checks per line.
      (copyView as Uint8Array).set(line, at);
      bounds[3 * i] = 0;
      bounds[3 * i + 1] = at;
      bounds[3 * i + 2] = at + line.length;
      record.line = Buffer.from(copy as SharedArrayBuffer, at, line.length);
      at += line.length;
    }
    const release = (): void => {
      if (copy && this.free.length < MAX_FREE_BUFFERS) this.free.push(copy);
    };
    if (!this.available) return { parsed: Promise.resolve(undefined), release };
    const seq = this.nextSeq++;
    const parsed = new Promise<Preparsed[] | undefined>((resolve) => {
      this.waiting.set(seq, resolve);
      const request: ParseRequest = { seq, buffers, bounds };
      this.worker.postMessage(request, [bounds.buffer]);
    });
    return { parsed, release };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const resolve of this.waiting.values()) resolve(undefined);
    this.waiting.clear();
    await this.worker.terminate();
  }

  /** A free shared buffer of at least `bytes` (fresh pages cost more to fault in than to copy into). */
  private take(bytes: number): SharedArrayBuffer {
    const i = this.free.findIndex((b) => b.byteLength >= bytes);
    if (i >= 0) return this.free.splice(i, 1)[0] as SharedArrayBuffer;
    return new SharedArrayBuffer(Math.max(bytes, MIN_BUFFER_BYTES));
  }

  private fail(err: Error): void {
    if (this.broken || this.closing) return;
    this.broken = true;
    this.logger.error({ err }, 'parse worker failed; parsing on the pipeline thread from now on');
    for (const resolve of this.waiting.values()) resolve(undefined);
    this.waiting.clear();
  }
}
