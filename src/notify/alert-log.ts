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
 * one (notifications) still get them. Lines that could not be written wait in memory, in order, and
 * go out with the next write that succeeds. `flush` (before every checkpoint) fails while any wait,
 * so no checkpoint moves past an alert the log does not have: after a crash the journal offers it
 * again.
 */
export class AlertLogSink implements AlertSink {
  readonly name = 'alert-log';
  private fd: number;
  private readonly written = new Set<string>();
  private pending: string[] = [];
  /** The unwritten end of a write the disk cut short. */
  private remainder: Buffer | undefined;
  private fault: string | undefined;

  constructor(
    readonly path: string,
    /** Each failed write; `first` for the first of a fault. */
    private readonly onWriteError: (err: Error, first: boolean) => void = () => undefined,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    if (existsSync(path)) for (const key of tailKeys(path)) this.written.add(key);
    this.fd = openSync(path, 'a', 0o640);
  }

  async write(transitions: readonly AlertTransition[], recovering = false): Promise<void> {
    for (const t of transitions) {
      if (recovering && this.written.has(transitionKey(t))) continue;
      this.pending.push(JSON.stringify(t));
    }
    // Written at once (readers tail this file); made durable (fsync) before each checkpoint.
    this.writePending();
  }

  async flush(): Promise<void> {
    if (!this.writePending())
      throw new Error(
        `alert log ${this.path} cannot be written (${this.fault ?? 'unknown error'}); ${this.waiting()} transition(s) wait in memory`,
      );
    fsyncSync(this.fd);
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      closeSync(this.fd);
    }
  }

  private waiting(): number {
    let lines = this.pending.length;
    if (this.remainder) for (const byte of this.remainder) if (byte === 0x0a) lines++;
    return lines;
  }

  /** Why the last write failed, while transitions wait in memory. */
  writeFault(): string | undefined {
    return this.fault;
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
    try {
      while (buf && buf.length > 0) buf = buf.subarray(writeSync(this.fd, buf));
    } catch (err) {
      // Only the bytes not yet written are kept: a retry never repeats half a line.
      this.remainder = buf;
      const first = this.fault === undefined;
      this.fault = (err as Error).message;
      this.onWriteError(err as Error, first);
      return false;
    }
    this.fault = undefined;
    return true;
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
