import { createHash } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { scrubLine, scrubText } from '../audit/secrets.js';

/**
 * Where lines that could not be used go (unparseable JSON, invalid UTF-8, truncated, unknown shape).
 *
 * The raw line is never stored: an audit line can hold tokens, accessors and request/response data.
 * A dead-letter record keeps the line's length and SHA-256 (to match duplicates or find the line in the
 * original log) and a scrubbed excerpt: the first 64 KiB decoded as UTF-8 (invalid bytes become
 * U+FFFD), passed through `scrubLine`, with control and bidi characters escaped so that printing the
 * file cannot drive a terminal.
 */

export interface DeadLetterEntry {
  /** Wall-clock time, ISO 8601. */
  at: string;
  /** Source instance name. */
  source: string;
  /** Record origin (`file:/var/log/vault/audit.log:1234`). */
  origin: string;
  /** Why the line was rejected. Scrubbed too (parser messages may quote the input). */
  reason: string;
  /** The line as received: only its hash, length and a scrubbed excerpt are kept. */
  line: Buffer | string;
  /** The source cut the line (longer than its maximum). */
  truncated?: boolean;
}

/** What is stored: safe to keep and to print. */
export interface DeadLetterRecord {
  at: string;
  source: string;
  origin: string;
  reason: string;
  /** Length of the line in bytes (as received; see `truncated`). */
  bytes: number;
  /** Hex SHA-256 of the line's bytes. */
  sha256: string;
  truncated: boolean;
  excerpt: string;
}

export interface DeadLetterSink {
  put(entry: DeadLetterEntry): Promise<void>;
  close(): Promise<void>;
}

export const DEAD_LETTER_EXCERPT_BYTES = 64 * 1024;
const MAX_REASON_CHARS = 1024;

/**
 * C0 controls except tab, DEL, C1 controls (U+009B is a one-character CSI), line/paragraph separators
 * and bidi embedding/override/isolate characters.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Replace control and bidi characters with visible `\uXXXX` escapes. */
export function escapeControls(text: string): string {
  UNSAFE_CHARS.lastIndex = 0;
  if (!UNSAFE_CHARS.test(text)) return text;
  return text.replace(UNSAFE_CHARS, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

const TOKEN_CHAR = /[A-Za-z0-9._~+/=:-]/;
const MAX_TRAILING_RUN = 512;

/**
 * Drop a token-shaped run (up to 512 characters) at the end of a cut excerpt, so half a secret cut at
 * the boundary cannot slip past the patterns (which need the whole shape to match).
 */
function dropTrailingTokenRun(text: string): string {
  let i = text.length;
  const stop = Math.max(0, text.length - MAX_TRAILING_RUN);
  while (i > stop && TOKEN_CHAR.test(text[i - 1] as string)) i--;
  return text.slice(0, i);
}

const WITHHELD = '[excerpt withheld: not a JSON object, so secrets in it cannot be told apart]';

/**
 * Whether a line is (the start of) a JSON object, possibly after a device prefix or a syslog header.
 * Only then can secret values be found by their keys; any other text may hold a secret of no
 * recognisable shape (an accessor is 24 random characters), so nothing of it is kept.
 */
function looksLikeJson(text: string): boolean {
  const brace = text.indexOf('{');
  return brace >= 0 && brace < 256 && /^\s*"/.test(text.slice(brace + 1, brace + 64));
}

/** Turn an entry into its stored form (hash, length, scrubbed excerpt). Exposed for tests and other sinks. */
export function toDeadLetterRecord(
  entry: DeadLetterEntry,
  excerptBytes = DEAD_LETTER_EXCERPT_BYTES,
): DeadLetterRecord {
  const bytes = typeof entry.line === 'string' ? Buffer.from(entry.line, 'utf8') : entry.line;
  let text = bytes.subarray(0, excerptBytes).toString('utf8');
  if (bytes.length > excerptBytes) text = dropTrailingTokenRun(text) + '…';
  let reason = entry.reason;
  if (reason.length > MAX_REASON_CHARS) reason = reason.slice(0, MAX_REASON_CHARS) + '…';
  return {
    at: entry.at,
    source: escapeControls(entry.source),
    origin: escapeControls(scrubText(entry.origin)),
    reason: escapeControls(scrubText(reason)),
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    truncated: entry.truncated === true,
    excerpt: looksLikeJson(text) ? escapeControls(scrubLine(text)) : WITHHELD,
  };
}

export interface FileDeadLetterSinkOptions {
  path: string;
  /** Buffered records are appended at most this long after `put` (default 200 ms). */
  flushIntervalMs?: number;
  /** `put` waits for a flush once this much is buffered (default 1 MiB). */
  maxBufferedBytes?: number;
  /** Excerpt length in bytes before scrubbing (default 64 KiB). */
  excerptBytes?: number;
  /** Records of a failed write are kept for the next one, up to this much (default 16 MiB). */
  maxHeldBytes?: number;
  /** After a failed write, try again this long later even if nothing new arrives (default 5 s). */
  retryMs?: number;
  /** Write failures (records kept for a retry, and any dropped beyond `maxHeldBytes` or at close). */
  onError?: (err: Error) => void;
}

export interface DeadLetterStats {
  /** Records written (or kept). */
  written: number;
  /** Records lost to write failures. */
  dropped: number;
  /** Failed writes. */
  errors: number;
}

/**
 * Appends one JSON record per line to a file (mode 0600, directory created 0700 if missing).
 * Records are buffered and appended together on a short timer, when the buffer is large, and on
 * close. Each flush opens the file in append mode, so a file removed or rotated by an operator is
 * simply re-created. A write failure is reported through `onError` and counted, and its records
 * are kept (bounded) for the next write; it never throws
 * out of `put` and never crashes the process.
 */
export class FileDeadLetterSink implements DeadLetterSink {
  readonly path: string;
  private readonly flushIntervalMs: number;
  private readonly maxBufferedBytes: number;
  private readonly excerptBytes: number;
  private readonly onError: (err: Error) => void;
  private readonly maxHeldBytes: number;
  private readonly retryMs: number;

  private buffer: string[] = [];
  /**
   * Records a failed write left, oldest first, written before anything newer; the first may be the
   * unwritten end of a record the disk cut short (finished, never repeated).
   */
  private held: Buffer[] = [];
  private bufferedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  private dirReady = false;
  private readonly counters: DeadLetterStats = { written: 0, dropped: 0, errors: 0 };

  constructor(options: FileDeadLetterSinkOptions) {
    this.path = options.path;
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.excerptBytes = options.excerptBytes ?? DEAD_LETTER_EXCERPT_BYTES;
    this.onError = options.onError ?? (() => undefined);
    this.maxHeldBytes = options.maxHeldBytes ?? 16 * 1024 * 1024;
    this.retryMs = options.retryMs ?? 5000;
  }

  async put(entry: DeadLetterEntry): Promise<void> {
    if (this.closed) throw new Error(`dead-letter sink ${this.path} is closed`);
    const line = JSON.stringify(toDeadLetterRecord(entry, this.excerptBytes)) + '\n';
    this.buffer.push(line);
    this.bufferedBytes += line.length;
    if (this.bufferedBytes >= this.maxBufferedBytes) {
      await this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushIntervalMs);
  }

  /** Write everything buffered so far; resolves when it is on disk (or failed and was counted). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0 && this.held.length === 0) return this.flushing;
    const lines = this.buffer;
    this.buffer = [];
    this.bufferedBytes = 0;
    this.flushing = this.flushing.then(() => {
      const all = this.held.concat(lines.map((l) => Buffer.from(l)));
      this.held = [];
      return this.write(all);
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.held.length > 0) {
      this.counters.dropped += this.held.length;
      this.onError(
        new Error(
          `dead-letter file ${this.path} still cannot be written: ${this.held.length} records dropped at close`,
        ),
      );
      this.held = [];
    }
  }

  stats(): DeadLetterStats {
    return { ...this.counters };
  }

  private async write(records: Buffer[]): Promise<void> {
    const data = Buffer.concat(records);
    let done = 0;
    try {
      if (!this.dirReady) {
        await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        this.dirReady = true;
      }
      const fh = await open(this.path, 'a', 0o600);
      try {
        while (done < data.length) done += (await fh.write(data, done)).bytesWritten;
      } finally {
        await fh.close();
      }
      this.counters.written += records.length;
    } catch (err) {
      this.dirReady = false;
      this.counters.errors++;
      // What was not written is kept in order for the next write (a record cut short keeps only
      // its unwritten end), as far as the cap allows; the newest beyond it are lost.
      const left: Buffer[] = [];
      let at = 0;
      for (const r of records) {
        if (at + r.length > done) left.push(at >= done ? r : r.subarray(done - at));
        else this.counters.written++;
        at += r.length;
      }
      let bytes = 0;
      let keep = 0;
      while (keep < left.length && bytes + (left[keep] as Buffer).length <= this.maxHeldBytes)
        bytes += (left[keep++] as Buffer).length;
      this.held = left.slice(0, keep);
      const lines = left;
      const dropped = lines.length - keep;
      this.counters.dropped += dropped;
      const e = err instanceof Error ? err : new Error(String(err));
      this.onError(
        new Error(
          `dead-letter write to ${this.path} failed (${keep} records kept for a retry${dropped ? `, ${dropped} dropped` : ''}): ${e.message}`,
        ),
      );
      if (!this.closed) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          void this.flush();
        }, this.retryMs);
        this.timer.unref?.();
      }
    }
  }
}

/** Keeps the stored form of every entry in memory (tests, `--dry-run`). */
export class MemoryDeadLetterSink implements DeadLetterSink {
  readonly records: DeadLetterRecord[] = [];
  private closed = false;

  async put(entry: DeadLetterEntry): Promise<void> {
    if (this.closed) throw new Error('dead-letter sink is closed');
    this.records.push(toDeadLetterRecord(entry));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** Discards entries, counting them. */
export class NullDeadLetterSink implements DeadLetterSink {
  count = 0;

  async put(_entry: DeadLetterEntry): Promise<void> {
    this.count++;
  }

  async close(): Promise<void> {}
}
