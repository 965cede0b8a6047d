import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../../src/ingest/line-splitter.js';
import type { RawRecord } from '../../../src/ingest/source.js';

interface Expected {
  line: string;
  start: number;
  end: number;
  truncated: boolean;
}

/** Reference semantics, written the slow obvious way. */
function reference(input: Buffer, max: number, flushTail: boolean): Expected[] {
  const out: Expected[] = [];
  let start = 0;
  for (;;) {
    const nl = input.indexOf(10, start);
    if (nl === -1 && !flushTail) break;
    const stop = nl === -1 ? input.length : nl;
    if (nl === -1 && start >= input.length) break;
    let content = input.subarray(start, stop);
    // One \r before the terminator (or before end of input) belongs to the terminator.
    if (content.length > 0 && content[content.length - 1] === 13) content = content.subarray(0, -1);
    let truncated = false;
    if (content.length > max) {
      content = content.subarray(0, max);
      truncated = true;
    }
    if (content.length > 0) {
      out.push({
        line: content.toString('latin1'),
        start,
        end: nl === -1 ? input.length : nl + 1,
        truncated,
      });
    }
    if (nl === -1) break;
    start = nl + 1;
  }
  return out;
}

function run(chunks: Buffer[], max: number, flushTail = true, base = 0): Expected[] {
  const splitter = new LineSplitter({ maxLineBytes: max, origin: (s) => `o:${s}`, offset: base });
  const records: RawRecord[] = [];
  const ends: number[] = [];
  for (const c of chunks) splitter.push(c, records, ends);
  if (flushTail) splitter.end(records, ends);
  expect(ends).toHaveLength(records.length);
  return records.map((r, i) => ({
    line: r.line.toString('latin1'),
    start: Number(r.origin.slice(2)) - base,
    end: (ends[i] as number) - base,
    truncated: r.truncated === true,
  }));
}

function chunked(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(buf.length, c))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

const SAMPLE = Buffer.from(
  '{"type":"request","n":1}\n' +
    '{"type":"response","n":2}\r\n' +
    '\n' +
    '\r\n' +
    'ünïcödé ✓\n' +
    'x\n' +
    '\r' +
    '\n' +
    'carriage\rinside\n' +
    'last-without-newline',
  'utf8',
);

describe('LineSplitter', () => {
  it('splits LF and CRLF lines, skips empty lines, keeps a lone \\r inside a line', () => {
    const got = run([SAMPLE], 1024);
    expect(got.map((g) => Buffer.from(g.line, 'latin1').toString('utf8'))).toEqual([
      '{"type":"request","n":1}',
      '{"type":"response","n":2}',
      'ünïcödé ✓',
      'x',
      'carriage\rinside',
      'last-without-newline',
    ]);
    expect(got.every((g) => !g.truncated)).toBe(true);
  });

  it('gives the same lines, offsets and ends at every chunk boundary (one and two cuts)', () => {
    const expected = reference(SAMPLE, 1024, true);
    expect(expected).toHaveLength(6);
    for (let i = 0; i <= SAMPLE.length; i++) {
      expect(run(chunked(SAMPLE, [i]), 1024), `cut at ${i}`).toEqual(expected);
    }
    for (let i = 0; i <= SAMPLE.length; i += 3) {
      for (let j = i; j <= SAMPLE.length; j += 2) {
        expect(run(chunked(SAMPLE, [i, j]), 1024), `cuts at ${i},${j}`).toEqual(expected);
      }
    }
  });

  it('byte-at-a-time input with a small maximum matches the reference', () => {
    for (const max of [1, 3, 8, 25, 26]) {
      const bytes = [...SAMPLE].map((b) => Buffer.from([b]));
      expect(run(bytes, max), `max ${max}`).toEqual(reference(SAMPLE, max, true));
    }
  });

  it('matches the reference on random inputs, chunkings and maxima', () => {
    const byte = fc.constantFrom(10, 13, 10, 13, 32, 65, 66, 0xff, 0xc3);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }).chain((noise) =>
          fc.tuple(
            fc
              .array(byte, { minLength: 0, maxLength: 300 })
              .map((a) => Buffer.from(a.map((b, i) => (i % 7 === 3 ? (noise[i] ?? b) : b)))),
            fc.array(fc.nat(300), { maxLength: 12 }),
            fc.integer({ min: 1, max: 40 }),
            fc.boolean(),
          ),
        ),
        ([input, cuts, max, flush]) => {
          expect(run(chunked(input, cuts), max, flush, 1000)).toEqual(reference(input, max, flush));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('returns zero-copy views for lines inside one chunk and copies only lines spanning chunks', () => {
    const splitter = new LineSplitter({ origin: 'test' });
    const chunk = Buffer.from('first\nsecond\nspan');
    const recs = splitter.push(chunk);
    expect(recs.map((r) => r.line.toString())).toEqual(['first', 'second']);
    const [spanning] = splitter.push(Buffer.from('ning\n'));
    expect(spanning?.line.toString()).toBe('spanning');
    expect(spanning?.origin).toBe('test');
    // Views share memory with the chunk; the spanning line is a copy.
    chunk.fill(0x5f);
    expect(recs.map((r) => r.line.toString())).toEqual(['_____', '______']);
    expect(spanning?.line.toString()).toBe('spanning');
  });

  it('keeps at most maxLineBytes of a 10 MiB line, marks it truncated, and the next line is intact', () => {
    const max = 1000;
    const huge = Buffer.alloc(10 * 1024 * 1024, 0x61);
    huge[0] = 0x7b; // '{'
    const input = Buffer.concat([Buffer.from('before\n'), huge, Buffer.from('\r\n{"after":true}\n')]);

    // Fed in 64 KiB chunks: the line spans ~160 chunks.
    const splitter = new LineSplitter({ maxLineBytes: max, origin: (s) => `file:x:${s}` });
    const recs: RawRecord[] = [];
    const ends: number[] = [];
    for (let i = 0; i < input.length; i += 65536) splitter.push(input.subarray(i, i + 65536), recs, ends);
    expect(recs).toHaveLength(3);
    expect(recs[0]?.line.toString()).toBe('before');
    expect(recs[1]?.truncated).toBe(true);
    expect(recs[1]?.line.length).toBe(max);
    expect(recs[1]?.line.equals(huge.subarray(0, max))).toBe(true);
    expect(recs[1]?.origin).toBe('file:x:7');
    expect(ends[1]).toBe(7 + huge.length + 2);
    expect(recs[2]?.line.toString()).toBe('{"after":true}');
    expect(recs[2]?.truncated).toBeUndefined();
    expect(splitter.stats.truncatedLines).toBe(1);
    expect(splitter.stats.droppedBytes).toBe(huge.length - max);
    expect(splitter.pendingBytes).toBe(0);

    // In a single chunk: a zero-copy view of the first max bytes.
    const single = new LineSplitter({ maxLineBytes: max, origin: 'o' }).push(input);
    expect(single.map((r) => [r.line.length, r.truncated === true])).toEqual([
      [6, false],
      [max, true],
      [14, false],
    ]);
  });

  it('treats a line of exactly maxLineBytes plus CRLF as complete', () => {
    const max = 5;
    for (const parts of [['abcde\r\n'], ['abcde\r', '\n'], ['abc', 'de\r', '\n'], ['abcdef\n']]) {
      const splitter = new LineSplitter({ maxLineBytes: max, origin: 'o' });
      const recs = parts.flatMap((p) => splitter.push(Buffer.from(p)));
      expect(recs).toHaveLength(1);
      expect(recs[0]?.line.toString()).toBe('abcde');
      expect(recs[0]?.truncated === true).toBe(parts.join('') === 'abcdef\n');
    }
  });

  it('passes invalid UTF-8 through as bytes', () => {
    const bad = Buffer.from([0x7b, 0xff, 0xfe, 0xc3, 0x28, 0x80, 0x7d]);
    const splitter = new LineSplitter({ origin: 'o' });
    const recs = [
      ...splitter.push(bad.subarray(0, 3)),
      ...splitter.push(Buffer.concat([bad.subarray(3), Buffer.from('\n')])),
    ];
    expect(recs).toHaveLength(1);
    expect(recs[0]?.line.equals(bad)).toBe(true);
  });

  it('tracks offsets: lineStart, pendingBytes, and skipping a partial first line after reset', () => {
    const splitter = new LineSplitter({ origin: (s) => String(s), offset: 100 });
    splitter.push(Buffer.from('abc\ndef'));
    expect(splitter.offset).toBe(107);
    expect(splitter.lineStart).toBe(104);
    expect(splitter.pendingBytes).toBe(3);

    splitter.reset(50, true);
    const recs = [...splitter.push(Buffer.from('tail-of-a-line')), ...splitter.push(Buffer.from('\nnext\n'))];
    expect(recs.map((r) => [r.line.toString(), r.origin])).toEqual([['next', '65']]);
    expect(splitter.end()).toEqual([]);
  });

  it('end() emits a non-empty remainder once, and nothing for an empty one or a bare \\r', () => {
    const splitter = new LineSplitter({ origin: 'o' });
    splitter.push(Buffer.from('a\nrest'));
    expect(splitter.end().map((r) => r.line.toString())).toEqual(['rest']);
    expect(splitter.end()).toEqual([]);
    splitter.push(Buffer.from('\r'));
    expect(splitter.end()).toEqual([]);
  });

  it('rejects a non-positive maximum', () => {
    expect(() => new LineSplitter({ origin: 'o', maxLineBytes: 0 })).toThrow(RangeError);
  });
});
