import type { RawRecord } from './source.js';

/**
 * Incremental newline splitter over Buffer chunks; the hot path of every source.
 *
 * - Lines end at `\n`; one `\r` right before it is dropped (`\r\n`). Empty lines are skipped.
 * - Lines that lie inside one chunk are returned as zero-copy `subarray`s of that chunk: callers must
 *   not reuse or mutate a chunk after pushing it. Only a line spanning chunks is copied (once).
 * - A line longer than `maxLineBytes` (content, without terminator) keeps its first `maxLineBytes`
 *   bytes and is marked `truncated`; the rest up to the next newline is counted and dropped, never
 *   accumulated.
 * - Bytes are never decoded: invalid UTF-8 passes through for the parser to report.
 * - The splitter tracks absolute byte offsets (from `offset` at construction/reset) so file sources can
 *   name a line by where it starts and resume after the last complete line.
 */

const LF = 10;
const CR = 13;

export const DEFAULT_MAX_LINE_BYTES = 4 * 1024 * 1024;

/** Builds a record's `origin` from the absolute offset where its line starts. */
export type OriginFn = (lineStart: number) => string;

export interface LineSplitterOptions {
  /** Longest line kept, in bytes, without terminator (default 4 MiB). */
  maxLineBytes?: number;
  /** Constant origin (`socket:1.2.3.4:5678`) or a function of the line's start offset (`file:...:<offset>`). */
  origin: string | OriginFn;
  /** Absolute offset of the first byte that will be pushed (default 0). */
  offset?: number;
}

export class LineSplitter {
  readonly maxLineBytes: number;
  private readonly originFn: OriginFn | undefined;
  private readonly originStr: string;

  /** Absolute offset of the next byte to be pushed. */
  private pos: number;
  /** Absolute offset where the pending (unterminated) line starts. */
  private pendingStart = 0;
  /** Kept pieces of the pending line (at most maxLineBytes + 1 bytes in total). */
  private parts: Buffer[] = [];
  private partLen = 0;
  /** The pending line went over the limit; further bytes up to the newline are dropped. */
  private overflow = false;
  /** Drop everything up to the next newline without emitting (started in the middle of a line). */
  private skipping = false;
  private droppedBytes = 0;
  /** Last byte dropped in overflow was `\r` (a terminator byte, not counted as dropped content). */
  private droppedCR = false;
  private truncatedLines = 0;

  constructor(options: LineSplitterOptions) {
    const max = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`maxLineBytes must be a positive integer, got ${max}`);
    this.maxLineBytes = max;
    if (typeof options.origin === 'function') {
      this.originFn = options.origin;
      this.originStr = '';
    } else {
      this.originFn = undefined;
      this.originStr = options.origin;
    }
    this.pos = options.offset ?? 0;
    this.pendingStart = this.pos;
  }

  /** Absolute offset of the next byte to be pushed (= bytes consumed so far, from the start offset). */
  get offset(): number {
    return this.pos;
  }

  /** Absolute offset just after the last line terminator seen: where a resume would start. */
  get lineStart(): number {
    return this.hasPending() ? this.pendingStart : this.pos;
  }

  /** Bytes of the current unterminated line received so far (including any dropped overflow). */
  get pendingBytes(): number {
    return this.hasPending() ? this.pos - this.pendingStart : 0;
  }

  /** Counters: bytes dropped from over-long lines, and how many lines were truncated. */
  get stats(): { droppedBytes: number; truncatedLines: number } {
    return { droppedBytes: this.droppedBytes, truncatedLines: this.truncatedLines };
  }

  /**
   * Forget any pending partial line and continue at absolute `offset`. With `skipPartialLine`, the
   * bytes up to the first newline are dropped silently (used when starting in the middle of a line).
   */
  reset(offset = 0, skipPartialLine = false): void {
    this.pos = offset;
    this.pendingStart = offset;
    this.parts = [];
    this.partLen = 0;
    this.overflow = false;
    this.skipping = skipPartialLine;
  }

  /**
   * Split `chunk`, appending complete lines to `out` (returned). When `ends` is given, the absolute
   * offset just after each emitted line's terminator is appended to it, parallel to `out`.
   */
  push(chunk: Buffer, out: RawRecord[] = [], ends?: number[]): RawRecord[] {
    const len = chunk.length;
    if (len === 0) return out;
    const base = this.pos;
    let p = 0;

    if (this.hasPending()) {
      const nl = chunk.indexOf(LF);
      if (nl === -1) {
        this.append(chunk);
        this.pos = base + len;
        return out;
      }
      if (nl > 0) this.append(chunk.subarray(0, nl));
      this.emitPending(out, ends, base + nl + 1);
      p = nl + 1;
    }

    const max = this.maxLineBytes;
    while (p < len) {
      const nl = chunk.indexOf(LF, p);
      if (nl === -1) {
        this.pendingStart = base + p;
        this.append(chunk.subarray(p));
        break;
      }
      let end = nl;
      if (end > p && chunk[end - 1] === CR) end--;
      if (end > p) {
        if (end - p > max) {
          this.droppedBytes += end - p - max;
          this.truncatedLines++;
          out.push({ line: chunk.subarray(p, p + max), origin: this.originAt(base + p), truncated: true });
        } else {
          out.push({ line: chunk.subarray(p, end), origin: this.originAt(base + p) });
        }
        if (ends) ends.push(base + nl + 1);
      }
      p = nl + 1;
    }
    this.pos = base + len;
    return out;
  }

  /**
   * End of input: the pending unterminated line, if non-empty, is emitted as a line. `end` is its
   * end offset in `ends` (no terminator follows it).
   */
  end(out: RawRecord[] = [], ends?: number[]): RawRecord[] {
    if (this.hasPending()) this.emitPending(out, ends, this.pos);
    return out;
  }

  private hasPending(): boolean {
    return this.partLen > 0 || this.overflow || this.skipping;
  }

  private originAt(start: number): string {
    return this.originFn ? this.originFn(start) : this.originStr;
  }

  /** Keep up to maxLineBytes + 1 bytes (the extra byte may be the `\r` of a `\r\n`). */
  private append(piece: Buffer): void {
    if (this.skipping) return;
    if (this.overflow) {
      this.droppedBytes += piece.length;
      this.droppedCR = piece[piece.length - 1] === CR;
      return;
    }
    const room = this.maxLineBytes + 1 - this.partLen;
    if (piece.length <= room) {
      this.parts.push(piece);
      this.partLen += piece.length;
      return;
    }
    if (room > 0) {
      this.parts.push(piece.subarray(0, room));
      this.partLen += room;
    }
    this.droppedBytes += piece.length - room;
    this.droppedCR = piece[piece.length - 1] === CR;
    this.overflow = true;
  }

  private emitPending(out: RawRecord[], ends: number[] | undefined, endOffset: number): void {
    const start = this.pendingStart;
    const skipping = this.skipping;
    let truncated = this.overflow;
    if (truncated && this.droppedCR && endOffset !== this.pos) this.droppedBytes--;
    this.droppedCR = false;
    let line: Buffer | undefined;
    if (!skipping && this.partLen > 0) {
      line = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.partLen);
    }
    this.parts = [];
    this.partLen = 0;
    this.overflow = false;
    this.skipping = false;
    this.pendingStart = endOffset;
    if (!line) return;

    if (!truncated && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (line.length > this.maxLineBytes) {
      this.droppedBytes += line.length - this.maxLineBytes;
      line = line.subarray(0, this.maxLineBytes);
      truncated = true;
    }
    if (line.length === 0) return;
    if (truncated) {
      this.truncatedLines++;
      out.push({ line, origin: this.originAt(start), truncated: true });
    } else {
      out.push({ line, origin: this.originAt(start) });
    }
    if (ends) ends.push(endOffset);
  }
}
