import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { transitionKey, type AlertTransition } from '../alerts/alert.js';
import type { AlertSink } from './sink.js';

/** How much of the end of an existing alert log is read to know which transitions it already has. */
const TAIL_BYTES = 4 * 1024 * 1024;

/**
 * The alert log: one JSON transition record per line (the DESIGN.md contract), appended. The file
 * itself says what it already holds, so a transition offered again after a crash is not repeated.
 *
 * A full or read-only disk does not stop the alerts: `write` never throws, so the sinks after this
 * one (notifications) still get them. Lines that could not be written wait in memory, in order (up
 * to `maxHeldBytes`; newer ones are dropped and counted), and go out with the next write that
 * succeeds. `flush` (before every checkpoint) fails while any wait, so no checkpoint moves past an
 * alert the log does not have and after a crash the journal offers it again — for
 * `holdCheckpointsForMs` at most: past that, checkpoints (and Kafka commits) go ahead and what waits
 * lives in memory only.
 */
export class AlertLogSink implements AlertSink {
  readonly name = 'alert-log';
  private fd: number;
  private readonly written = new Set<string>();
  private pending: string[] = [];
  private pendingBytes = 0;
  /** The unwritten end of a write the disk cut short (or a newline a torn last line needs). */
  private remainder: Buffer | undefined;
  private fault: { message: string; since: number; lastAttempt: number; dropped: number } | undefined;
  private readonly maxHeldBytes: number;
  private readonly holdCheckpointsForMs: number;
  private readonly now: () => number;
  private readonly onRecovered: (dropped: number) => void;

  constructor(
    readonly path: string,
    /** Each failed write; `first` for the first of a fault. */
    private readonly onWriteError: (err: Error, first: boolean) => void = () => undefined,
    limits: {
      maxHeldBytes?: number;
      holdCheckpointsForMs?: number;
      now?: () => number;
      /** The disk took writes again; `dropped` lines were lost beyond what memory held. */
      onRecovered?: (dropped: number) => void;
    } = {},
  ) {
    this.onRecovered = limits.onRecovered ?? (() => undefined);
    this.maxHeldBytes = limits.maxHeldBytes ?? 16 * 1024 * 1024;
    this.holdCheckpointsForMs = limits.holdCheckpointsForMs ?? 10 * 60_000;
    this.now = limits.now ?? Date.now;
    mkdirSync(dirname(path), { recursive: true });
    if (existsSync(path)) {
      for (const key of tailKeys(path)) this.written.add(key);
      // A write cut short before a crash left half a line: the next line starts on a line of its own.
      if (!endsWithNewline(path)) this.remainder = Buffer.from('\n');
    }
    this.fd = openSync(path, 'a', 0o640);
  }

  async write(transitions: readonly AlertTransition[], recovering = false): Promise<void> {
    for (const t of transitions) {
      if (recovering && this.written.has(transitionKey(t))) continue;
      const line = JSON.stringify(t);
      if (this.fault && this.pendingBytes + (this.remainder?.length ?? 0) + line.length > this.maxHeldBytes) {
        this.fault.dropped++;
        continue;
      }
      this.pending.push(line);
      this.pendingBytes += line.length + 1;
    }
    // Written at once (readers tail this file); made durable (fsync) before each checkpoint. While
    // the disk refuses, tried at most once a second.
    if (!this.fault || this.now() - this.fault.lastAttempt >= 1000) this.writePending();
  }

  async flush(): Promise<void> {
    if (!this.writePending()) {
      const fault = this.fault as NonNullable<typeof this.fault>;
      if (this.now() - fault.since < this.holdCheckpointsForMs)
        throw new Error(
          `alert log ${this.path} cannot be written (${fault.message}); ${this.waiting()} transition(s) wait in memory`,
        );
      return;
    }
    fsyncSync(this.fd);
  }

  async close(): Promise<void> {
    try {
      await this.flush();
      if (this.fault)
        throw new Error(
          `alert log ${this.path} still cannot be written (${this.fault.message}); ${this.waiting()} transition(s) lost from it (the journal may offer them again at the next start)`,
        );
    } finally {
      closeSync(this.fd);
    }
  }

  /** Why the last write failed, while transitions wait in memory. */
  writeFault(): string | undefined {
    if (!this.fault) return undefined;
    const dropped = this.fault.dropped ? `; ${this.fault.dropped} dropped beyond what memory holds` : '';
    return `${this.fault.message} (${this.waiting()} waiting${dropped})`;
  }

  private waiting(): number {
    let lines = this.pending.length;
    if (this.remainder) for (const byte of this.remainder) if (byte === 0x0a) lines++;
    return lines;
  }

  /** Rotate the file when it is too large (after a checkpoint, so no recovery needs its tail). */
  async rotate(maxBytes: number, keep: number): Promise<boolean> {
    await this.flush();
    if (!rotateFile(this.path, maxBytes, keep)) return false;
    closeSync(this.fd);
    this.fd = openSync(this.path, 'a', 0o640);
    this.written.clear();
    return true;
  }

  /** True when nothing waits any more. */
  private writePending(): boolean {
    if (this.pending.length === 0 && !this.remainder) return true;
    const fresh = this.pending.length > 0 ? Buffer.from(this.pending.join('\n') + '\n') : undefined;
    let buf = this.remainder && fresh ? Buffer.concat([this.remainder, fresh]) : (this.remainder ?? fresh);
    this.remainder = undefined;
    this.pending = [];
    this.pendingBytes = 0;
    try {
      while (buf && buf.length > 0) buf = buf.subarray(writeSync(this.fd, buf));
    } catch (err) {
      // Only the bytes not yet written are kept: a retry never repeats half a line.
      this.remainder = buf;
      const first = this.fault === undefined;
      const now = this.now();
      this.fault ??= { message: '', since: now, lastAttempt: now, dropped: 0 };
      this.fault.message = (err as Error).message;
      this.fault.lastAttempt = now;
      this.onWriteError(err as Error, first);
      return false;
    }
    if (this.fault) {
      const dropped = this.fault.dropped;
      this.fault = undefined;
      this.onRecovered(dropped);
    }
    return true;
  }
}

function endsWithNewline(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return true;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}

function tailKeys(path: string): string[] {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - TAIL_BYTES);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    const lines = buf.toString('utf8').split('\n');
    if (start > 0) lines.shift(); // probably a partial line
    const keys: string[] = [];
    for (const line of lines) {
      if (!line) continue;
      try {
        keys.push(transitionKey(JSON.parse(line) as AlertTransition));
      } catch {
        // A torn or foreign line is not ours to judge; it simply names no transition.
      }
    }
    return keys;
  } finally {
    closeSync(fd);
  }
}

/**
 * Rotate `path` to `path.1` (shifting older ones up to `keep`) when it is larger than `maxBytes`.
 * Returns true when it rotated. Writers that keep the file open must reopen it afterwards.
 */
export function rotateFile(path: string, maxBytes: number, keep: number): boolean {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return false;
  }
  if (size <= maxBytes) return false;
  if (keep === 0) {
    unlinkSync(path);
    return true;
  }
  for (let i = keep; i >= 1; i--) {
    const from = i === 1 ? path : `${path}.${i - 1}`;
    if (existsSync(from)) renameSync(from, `${path}.${i}`);
  }
  return true;
}
