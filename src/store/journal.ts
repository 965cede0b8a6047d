import {
  closeSync,
  existsSync,
  fdatasyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { transitionKey, type AlertTransition } from '../alerts/alert.js';

/**
 * The transition journal: every alert transition is made durable here once, before any output sees
 * it. After a crash the pipeline restarts from its last checkpoint and regenerates transitions it
 * already produced; their keys are found here and they are not emitted twice. Outputs that were
 * interrupted are offered the journal's tail again and skip what they already have.
 */
export interface TransitionJournal {
  /** True if a transition with this key was recorded since the last compaction. */
  has(key: string): boolean;
  /** Record transitions durably (in order). */
  append(transitions: readonly AlertTransition[]): void;
  /** Transitions recorded at or after `offset` (a value of `offset` from an earlier checkpoint). */
  since(offset: number): AlertTransition[];
  /** Current end of the journal (stored in checkpoints). */
  readonly offset: number;
  /**
   * Forget everything but `keep`: called once a checkpoint covers the rest and every output has
   * flushed. `keep` holds transitions recovered after a crash that the pipeline has not regenerated
   * yet; they must stay known, or their regeneration would be emitted a second time.
   */
  compact(keep?: readonly AlertTransition[]): void;
  close(): void;
}

export class MemoryJournal implements TransitionJournal {
  private entries: AlertTransition[] = [];
  private readonly keys = new Set<string>();

  has(key: string): boolean {
    return this.keys.has(key);
  }
  append(transitions: readonly AlertTransition[]): void {
    for (const t of transitions) {
      this.entries.push(t);
      this.keys.add(transitionKey(t));
    }
  }
  since(offset: number): AlertTransition[] {
    return this.entries.slice(offset);
  }
  get offset(): number {
    return this.entries.length;
  }
  compact(keep: readonly AlertTransition[] = []): void {
    this.entries = [];
    this.keys.clear();
    this.append(keep);
  }
  close(): void {}
}

/** NDJSON file in the state directory; `offset` is a byte offset. */
export class FileJournal implements TransitionJournal {
  readonly path: string;
  private fd: number;
  private size: number;
  private readonly keys = new Set<string>();

  constructor(dir: string) {
    this.path = join(dir, 'journal.ndjson');
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const existed = existsSync(this.path);
    this.fd = openSync(this.path, 'a+', 0o600);
    this.size = 0;
    if (existed) {
      const text = readFileSync(this.path, 'utf8');
      // A crash can leave a torn last line; keep only complete lines.
      const end = text.lastIndexOf('\n') + 1;
      if (end < Buffer.byteLength(text)) ftruncateSync(this.fd, Buffer.byteLength(text.slice(0, end)));
      this.size = Buffer.byteLength(text.slice(0, end));
      for (const t of parseLines(text.slice(0, end))) this.keys.add(transitionKey(t));
    }
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  append(transitions: readonly AlertTransition[]): void {
    if (transitions.length === 0) return;
    const text = transitions.map((t) => JSON.stringify(t)).join('\n') + '\n';
    const buf = Buffer.from(text);
    writeSync(this.fd, buf);
    fdatasyncSync(this.fd);
    this.size += buf.length;
    for (const t of transitions) this.keys.add(transitionKey(t));
  }

  since(offset: number): AlertTransition[] {
    const all = readFileSync(this.path);
    return parseLines(all.subarray(Math.min(offset, all.length)).toString('utf8'));
  }

  get offset(): number {
    return this.size;
  }

  compact(keep: readonly AlertTransition[] = []): void {
    ftruncateSync(this.fd, 0);
    fdatasyncSync(this.fd);
    this.size = 0;
    this.keys.clear();
    this.append(keep);
  }

  close(): void {
    closeSync(this.fd);
    this.fd = -1;
  }
}

function parseLines(text: string): AlertTransition[] {
  const out: AlertTransition[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as AlertTransition);
    } catch {
      // A torn line from a crash mid-write: it was never acknowledged, so it is regenerated.
    }
  }
  return out;
}
