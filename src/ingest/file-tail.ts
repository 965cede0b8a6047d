import { watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import { LineSplitter } from './line-splitter.js';
import type { BatchHandler, RawRecord, Source, SourcePosition } from './source.js';
import {
  batch,
  DEFAULT_CHUNK_BYTES,
  DEFAULT_MAX_BATCH_RECORDS,
  deferred,
  describeError,
  slices,
  toError,
  type Deferred,
} from './util.js';

/**
 * `tail -F` for Vault's `file` audit device.
 *
 * Rotation: Vault has no built-in rotation; logrotate (or similar) renames the file and sends SIGHUP,
 * on which Vault reopens (re-creates) the path. Until then Vault keeps writing to the renamed file,
 * so while nothing else is at the path we keep reading the old descriptor. Once a different file
 * (dev/ino) is at the path, Vault has reopened: we read the old file to its end, deliver a trailing
 * unterminated line if any, and continue with the new file from its beginning.
 *
 * Truncation (copytruncate): the file shrinks below what we have read, so we restart at 0. Lines
 * written between logrotate's copy and its truncate are lost (a property of copytruncate); a file
 * truncated and refilled past our offset between two polls cannot be detected by size.
 *
 * Change detection: fs.watch on the directory wakes the loop early; a poll every `pollIntervalMs`
 * runs regardless, because fs.watch misses events on some filesystems (NFS, bind mounts, overlays).
 */

export interface FilePosition {
  path: string;
  dev: number;
  ino: number;
  /** Byte offset just after the last complete line delivered. */
  offset: number;
}

export type FileTailEvent =
  | {
      type: 'opened';
      path: string;
      dev: number;
      ino: number;
      offset: number;
      reason: 'start' | 'resume' | 'appeared' | 'rotated';
    }
  | { type: 'waiting'; path: string }
  | { type: 'rotated'; path: string; oldIno: number; oldSize: number }
  | { type: 'truncated'; path: string; size: number; offset: number };

export interface FileTailOptions {
  path: string;
  /** Source instance name (default `file`). */
  name?: string;
  /** Where to start when there is no usable resume position (default `end`). A file that appears after start is always read from its beginning. */
  startAt?: 'end' | 'beginning';
  /**
   * When `resumeFrom` names this path but the file there changed while we were stopped (another
   * inode, or shorter than the saved offset): `startAt` (default) follows the startAt rule;
   * `beginning` reads the new file from its start, which loses nothing after a rotation during downtime.
   */
  resumeMismatch?: 'startAt' | 'beginning';
  /** Poll interval (default 250 ms); polling always runs, fs.watch only shortens the wait. */
  pollIntervalMs?: number;
  /** Use fs.watch on the directory to react faster (default true). */
  watch?: boolean;
  /** Bytes per read (default 256 KiB). */
  chunkBytes?: number;
  /** Records per batch (default 1000). */
  maxBatchRecords?: number;
  /** Longest line kept (default 4 MiB); longer lines are truncated. */
  maxLineBytes?: number;
  /** I/O errors that do not stop the tail (it retries on the next poll). */
  onError?: (err: Error) => void;
  /** Rotation, truncation, waiting-for-file notices, for logs. */
  onEvent?: (event: FileTailEvent) => void;
}

const LF = 10;

/** Marks an error thrown by the batch handler: it stops the source (I/O errors only get retried). */
class HandlerFailure extends Error {
  constructor(readonly failure: unknown) {
    super('batch handler failed');
  }
}

export class FileTailSource implements Source {
  readonly name: string;
  readonly path: string;
  readonly finished: Promise<void>;

  private readonly startAt: 'end' | 'beginning';
  private readonly resumeMismatch: 'startAt' | 'beginning';
  private readonly pollIntervalMs: number;
  private readonly useWatch: boolean;
  private readonly chunkBytes: number;
  private readonly maxBatchRecords: number;
  private readonly maxLineBytes: number | undefined;
  private readonly onError: (err: Error) => void;
  private readonly onEvent: (event: FileTailEvent) => void;
  private readonly done: Deferred<void>;

  private handler: BatchHandler | undefined;
  private started = false;
  private stopping = false;
  private loop: Promise<void> | undefined;

  private fh: FileHandle | undefined;
  private dev = 0;
  private ino = 0;
  /** Bytes of the current file read and pushed into the splitter. */
  private readOffset = 0;
  private splitter: LineSplitter;

  private watcher: FSWatcher | undefined;
  private dirty = false;
  private wake: (() => void) | undefined;
  private waitingReported = false;
  private lastErrorKey = '';

  constructor(options: FileTailOptions) {
    this.path = options.path;
    this.name = options.name ?? 'file';
    this.startAt = options.startAt ?? 'end';
    this.resumeMismatch = options.resumeMismatch ?? 'startAt';
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.useWatch = options.watch ?? true;
    this.chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.maxBatchRecords = options.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS;
    this.maxLineBytes = options.maxLineBytes;
    this.onError = options.onError ?? (() => undefined);
    this.onEvent = options.onEvent ?? (() => undefined);
    this.done = deferred<void>(true);
    this.finished = this.done.promise;
    this.splitter = this.newSplitter(0);
  }

  async start(handler: BatchHandler, resumeFrom?: SourcePosition): Promise<void> {
    if (this.started) throw new Error(`source ${this.name} already started`);
    this.started = true;
    this.handler = handler;
    try {
      await this.openInitial(parsePosition(resumeFrom, this.path));
    } catch (err) {
      this.stopping = true;
      this.done.resolve();
      throw err;
    }
    this.setupWatch();
    this.loop = this.run();
  }

  /** Positions live in the pipeline's snapshot; nothing to release here. */
  async commit(_position: SourcePosition): Promise<void> {}

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    if (this.loop) await this.loop;
    else this.done.resolve();
  }

  isReady(): boolean {
    return this.fh !== undefined && !this.stopping;
  }

  /** The position reached so far (after the last complete line read, delivered or not). */
  currentPosition(): FilePosition | undefined {
    if (!this.fh) return undefined;
    return { path: this.path, dev: this.dev, ino: this.ino, offset: this.splitter.lineStart };
  }

  private newSplitter(offset: number): LineSplitter {
    const prefix = `file:${this.path}:`;
    return new LineSplitter({
      origin: (start) => prefix + start,
      offset,
      ...(this.maxLineBytes !== undefined ? { maxLineBytes: this.maxLineBytes } : {}),
    });
  }

  private async openInitial(pos: FilePosition | undefined): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(this.path, 'r');
    } catch (err) {
      if (isMissing(err)) {
        this.reportWaiting();
        return;
      }
      throw new Error(`cannot open ${this.path}: ${describeError(err)}`);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new Error(`cannot tail ${this.path}: not a regular file`);
      let offset: number;
      let skipPartial = false;
      let reason: 'start' | 'resume' = 'start';
      if (pos && pos.dev === st.dev && pos.ino === st.ino && st.size >= pos.offset) {
        offset = pos.offset;
        reason = 'resume';
      } else if ((pos && this.resumeMismatch === 'beginning') || this.startAt === 'beginning') {
        offset = 0;
      } else {
        offset = st.size;
        if (offset > 0) {
          // Starting in the middle of a line being written: skip to the next line start.
          const last = Buffer.alloc(1);
          await fh.read(last, 0, 1, offset - 1);
          skipPartial = last[0] !== LF;
        }
      }
      this.adopt(fh, st.dev, st.ino, offset, skipPartial, reason);
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  private adopt(
    fh: FileHandle,
    dev: number,
    ino: number,
    offset: number,
    skipPartial: boolean,
    reason: 'start' | 'resume' | 'appeared' | 'rotated',
  ): void {
    this.fh = fh;
    this.dev = dev;
    this.ino = ino;
    this.readOffset = offset;
    this.splitter = this.newSplitter(offset);
    if (skipPartial) this.splitter.reset(offset, true);
    this.waitingReported = false;
    this.onEvent({ type: 'opened', path: this.path, dev, ino, offset, reason });
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopping) {
        this.dirty = false;
        try {
          if (!this.fh && !(await this.tryOpen('appeared'))) {
            await this.wait();
            continue;
          }
          await this.readToEnd();
          if (this.stopping) break;
          if (await this.checkRotation()) continue;
          this.lastErrorKey = '';
        } catch (err) {
          if (err instanceof HandlerFailure) throw err.failure;
          this.reportError(err);
        }
        await this.wait();
      }
    } catch (err) {
      this.done.reject(toError(err));
    } finally {
      this.stopping = true;
      this.watcher?.close();
      this.watcher = undefined;
      const fh = this.fh;
      this.fh = undefined;
      await fh?.close().catch(() => undefined);
      this.done.resolve();
    }
  }

  /** Open the file at the path from its beginning; false if it is not there (yet). */
  private async tryOpen(reason: 'appeared' | 'rotated'): Promise<boolean> {
    let fh: FileHandle;
    try {
      fh = await open(this.path, 'r');
    } catch (err) {
      if (isMissing(err)) this.reportWaiting();
      else this.reportError(new Error(`cannot open ${this.path}: ${describeError(err)}`));
      return false;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new Error(`cannot tail ${this.path}: not a regular file`);
      this.adopt(fh, st.dev, st.ino, 0, false, reason);
      return true;
    } catch (err) {
      await fh.close().catch(() => undefined);
      this.reportError(err);
      return false;
    }
  }

  /** Read and deliver everything the current file holds now. */
  private async readToEnd(): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    while (!this.stopping) {
      const { size } = await fh.stat();
      if (size < this.readOffset) {
        this.onEvent({ type: 'truncated', path: this.path, size, offset: this.readOffset });
        this.readOffset = 0;
        this.splitter = this.newSplitter(0);
        continue;
      }
      if (size === this.readOffset) return;
      const want = Math.min(this.chunkBytes, size - this.readOffset);
      // A fresh buffer per read: records are zero-copy views of it, handed to the pipeline.
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, this.readOffset);
      if (bytesRead === 0) return;
      this.readOffset += bytesRead;
      const records: RawRecord[] = [];
      const ends: number[] = [];
      this.splitter.push(bytesRead === want ? buf : buf.subarray(0, bytesRead), records, ends);
      await this.deliver(records, ends);
    }
  }

  private async deliver(records: RawRecord[], ends: number[]): Promise<void> {
    let i = 0;
    for (const slice of slices(records, this.maxBatchRecords)) {
      // Stopping between batches is safe: the stored position only covers what was delivered.
      if (this.stopping) return;
      i += slice.length;
      const position: FilePosition = {
        path: this.path,
        dev: this.dev,
        ino: this.ino,
        offset: ends[i - 1] as number,
      };
      try {
        await (this.handler as BatchHandler)(batch(this.name, slice, position));
      } catch (err) {
        throw new HandlerFailure(err);
      }
    }
  }

  /** True when the path now holds another file and we switched to it (or tried to). */
  private async checkRotation(): Promise<boolean> {
    let st;
    try {
      st = await stat(this.path);
    } catch (err) {
      // Renamed away and not re-created yet: Vault still writes to the old file until SIGHUP.
      if (isMissing(err)) return false;
      throw err;
    }
    if (st.dev === this.dev && st.ino === this.ino) return false;

    // Another file is at the path: Vault has reopened. Finish the old file first.
    await this.readToEnd();
    if (this.stopping) return true;
    const records: RawRecord[] = [];
    const ends: number[] = [];
    this.splitter.end(records, ends);
    await this.deliver(records, ends);
    if (this.stopping) return true;
    const old = this.fh;
    this.fh = undefined;
    this.onEvent({ type: 'rotated', path: this.path, oldIno: this.ino, oldSize: this.readOffset });
    await old?.close().catch(() => undefined);
    await this.tryOpen('rotated');
    return true;
  }

  private setupWatch(): void {
    if (!this.useWatch || this.watcher || this.stopping) return;
    const base = basename(this.path);
    try {
      const w = watch(dirname(resolvePath(this.path)), { persistent: false }, (_event, filename) => {
        if (!filename || filename.toString() === base) this.poke();
      });
      w.on('error', () => {
        w.close();
        if (this.watcher === w) this.watcher = undefined;
      });
      this.watcher = w;
    } catch {
      // Directory missing or watch unsupported: polling covers it; retried on the next wait.
    }
  }

  private poke(): void {
    this.dirty = true;
    this.wake?.();
  }

  private wait(): Promise<void> {
    if (this.stopping || this.dirty) return Promise.resolve();
    this.setupWatch();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.pollIntervalMs);
      this.wake = done;
    });
  }

  private reportWaiting(): void {
    if (this.waitingReported) return;
    this.waitingReported = true;
    this.onEvent({ type: 'waiting', path: this.path });
  }

  /** Report an I/O error once per distinct message until a clean pass. */
  private reportError(err: unknown): void {
    const e = toError(err);
    const key = describeError(e);
    if (key === this.lastErrorKey) return;
    this.lastErrorKey = key;
    this.onError(e);
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function parsePosition(value: SourcePosition, path: string): FilePosition | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const p = value as Partial<FilePosition>;
  if (typeof p.path !== 'string' || resolvePath(p.path) !== resolvePath(path)) return undefined;
  if (typeof p.dev !== 'number' || typeof p.ino !== 'number') return undefined;
  if (typeof p.offset !== 'number' || !Number.isSafeInteger(p.offset) || p.offset < 0) return undefined;
  return { path: p.path, dev: p.dev, ino: p.ino, offset: p.offset };
}
