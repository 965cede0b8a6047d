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
  /** Why the last write failed, while transitions are held in memory only; undefined when healthy. */
  fault?(): JournalFault | undefined;
  close(): void;
}

export interface JournalFault {
  error: string;
  /** Transitions recorded in memory only, written when the journal can be written again. */
  unsaved: number;
  since: string;
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

/**
 * NDJSON file in the state directory; `offset` is a byte offset.
 *
 * A write that fails (disk full, read-only or immutable file) does not stop detection: the
 * transitions stay known in memory and are written, in order, by the next append or compaction that
 * succeeds. Until then a crash can emit them a second time after the restart (never lose them: the
 * checkpoint cannot have moved past them either, as it lives on the same disk).
 */
export class FileJournal implements TransitionJournal {
  readonly path: string;
  private fd: number;
  private size: number;
  private readonly keys = new Set<string>();
  /** Serialised lines not on disk yet, in order. */
  private unsaved: string[] = [];
  private lastFault: JournalFault | undefined;
  /** A compaction could not empty the file: the next write does it first. */
  private truncateFirst = false;
  private lastAttempt = 0;

  constructor(
    dir: string,
    /** Each failed write; `first` for the first one of a fault (the journal goes on from memory). */
    private readonly onWriteError: (err: Error, first: boolean) => void = () => undefined,
    /** The journal caught up after a fault. */
    private readonly onRecovered: (fault: JournalFault) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.path = join(dir, 'journal.ndjson');
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const existed = existsSync(this.path);
    // Positional writes (not O_APPEND), so a retry overwrites what a failed write left half-done.
    this.fd = openSync(this.path, existed ? 'r+' : 'w+', 0o600);
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
    for (const t of transitions) {
      this.keys.add(transitionKey(t));
      this.unsaved.push(JSON.stringify(t));
    }
    // While the disk refuses, this runs on every step: tried at most once a second.
    if (!this.lastFault || this.now() - this.lastAttempt >= 1000) this.writeUnsaved();
  }

  since(offset: number): AlertTransition[] {
    const all = readFileSync(this.path);
    return parseLines(all.subarray(Math.min(offset, all.length)).toString('utf8'));
  }

  get offset(): number {
    return this.size;
  }

  /** Try writing what waits now, if the once-a-second schedule allows (quiet streams). */
  retry(): void {
    if (this.lastFault && this.now() - this.lastAttempt >= 1000) this.writeUnsaved();
  }

  fault(): JournalFault | undefined {
    return this.lastFault && { ...this.lastFault, unsaved: this.unsaved.length };
  }

  compact(keep: readonly AlertTransition[] = []): void {
    // The checkpoint now covers every transition, written or not: only `keep` must stay.
    this.keys.clear();
    this.unsaved = [];
    this.truncateFirst = true;
    for (const t of keep) {
      this.keys.add(transitionKey(t));
      this.unsaved.push(JSON.stringify(t));
    }
    this.writeUnsaved();
  }

  close(): void {
    closeSync(this.fd);
    this.fd = -1;
  }

  private writeUnsaved(): void {
    this.lastAttempt = this.now();
    const buf = Buffer.from(this.unsaved.join('\n') + (this.unsaved.length ? '\n' : ''));
    try {
      if (this.truncateFirst) {
        ftruncateSync(this.fd, 0);
        this.size = 0;
        this.truncateFirst = false;
      }
      for (let done = 0; done < buf.length;)
        done += writeSync(this.fd, buf, done, buf.length - done, this.size + done);
      // After a failure, a half-done write may have left bytes past the new end.
      if (this.lastFault) ftruncateSync(this.fd, this.size + buf.length);
      fdatasyncSync(this.fd);
    } catch (err) {
      this.failed(err as Error);
      return;
    }
    this.size += buf.length;
    const recovered = this.lastFault && { ...this.lastFault, unsaved: this.unsaved.length };
    this.unsaved = [];
    this.lastFault = undefined;
    if (recovered) this.onRecovered(recovered);
  }

  private failed(err: Error): void {
    const first = this.lastFault === undefined;
    this.lastFault ??= { error: err.message, unsaved: 0, since: new Date(this.now()).toISOString() };
    this.lastFault.error = err.message;
    this.onWriteError(err, first);
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
