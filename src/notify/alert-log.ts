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
 */
export class AlertLogSink implements AlertSink {
  readonly name = 'alert-log';
  private fd: number;
  private readonly written = new Set<string>();
  private pending: string[] = [];

  constructor(readonly path: string) {
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
    this.writePending();
    fsyncSync(this.fd);
  }

  async close(): Promise<void> {
    await this.flush();
    closeSync(this.fd);
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

  private writePending(): void {
    if (this.pending.length === 0) return;
    writeSync(this.fd, this.pending.join('\n') + '\n');
    this.pending = [];
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
