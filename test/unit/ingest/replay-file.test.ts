import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReplayFileSource, type ReplayProgress } from '../../../src/ingest/replay-file.js';
import { StdinSource } from '../../../src/ingest/stdin.js';
import { collect, gate, makeTempDir, settle, waitFor } from './helpers.js';

const lines = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `{"${prefix}":${i},"pad":"${'p'.repeat(i % 50)}"}`);
const text = (ls: string[]): string => ls.map((l) => l + '\n').join('');

describe('ReplayFileSource', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await makeTempDir());
  });
  afterEach(async () => {
    await cleanup();
  });

  it('reads a plain file once in bounded batches with back-pressure and progress', async () => {
    const path = join(dir, 'audit.log');
    const want = lines('plain', 20_000);
    const content = text(want) + '{"last":"no newline"}';
    await writeFile(path, content);
    const progress: ReplayProgress[] = [];
    const src = new ReplayFileSource({
      path,
      maxBatchRecords: 500,
      chunkBytes: 64 * 1024,
      onProgress: (p) => progress.push(p),
    });
    const c = collect();
    await src.start(c.handler);
    await src.finished;

    expect(c.lines()).toEqual([...want, '{"last":"no newline"}']);
    expect(c.maxConcurrent()).toBe(1);
    expect(Math.max(...c.batches.map((b) => b.records.length))).toBeLessThanOrEqual(500);
    expect(c.batches.every((b) => b.source === 'replay' && b.position === undefined)).toBe(true);
    const first = c.batches[0]?.records;
    expect(first?.[0]?.origin).toBe(`file:${path}:0`);
    expect(first?.[1]?.origin).toBe(`file:${path}:${Buffer.byteLength(want[0] + '\n')}`);

    const size = Buffer.byteLength(content);
    // Streamed: progress was reported many times on the way, never past the total.
    expect(progress.length).toBeGreaterThan(5);
    expect(progress.some((p) => p.bytesRead < size && p.records > 0)).toBe(true);
    expect(progress.every((p) => p.totalBytes === size && p.bytesRead <= size)).toBe(true);
    expect(progress.at(-1)).toEqual({
      bytesRead: size,
      totalBytes: size,
      records: want.length + 1,
      done: true,
    });
    expect(src.isReady()).toBe(false);
  });

  it('decompresses a .gz file, including several concatenated gzip members', async () => {
    const path = join(dir, 'audit.log.gz');
    const a = lines('a', 3000);
    const b = lines('b', 10);
    await writeFile(path, Buffer.concat([gzipSync(text(a)), gzipSync(text(b))]));
    const src = new ReplayFileSource({ path });
    const c = collect();
    await src.start(c.handler);
    await src.finished;
    expect(c.lines()).toEqual([...a, ...b]);
  });

  it('recognises gzip by its magic bytes whatever the name', async () => {
    const path = join(dir, 'audit.log.1');
    const want = lines('magic', 100);
    await writeFile(path, gzipSync(text(want)));
    const c = collect();
    const src = new ReplayFileSource({ path });
    await src.start(c.handler);
    await src.finished;
    expect(c.lines()).toEqual(want);
  });

  it('reads an empty file and an empty .gz name without error', async () => {
    for (const name of ['empty.log', 'empty.log.gz']) {
      const path = join(dir, name);
      await writeFile(path, '');
      const c = collect();
      const src = new ReplayFileSource({ path });
      await src.start(c.handler);
      await src.finished;
      expect(c.batches).toEqual([]);
    }
  });

  it('reads `-` from the given stdin stream, gzip detected by magic', async () => {
    for (const gz of [false, true]) {
      const input = new PassThrough();
      const want = lines(gz ? 'gz' : 'raw', 1000);
      const data = gz ? gzipSync(text(want)) : Buffer.from(text(want));
      const c = collect();
      const src = new ReplayFileSource({ path: '-', stdin: input });
      await src.start(c.handler);
      // Written in odd-sized pieces, the first one a single byte (split magic).
      input.write(data.subarray(0, 1));
      for (let i = 1; i < data.length; i += 777) input.write(data.subarray(i, i + 777));
      input.end();
      await src.finished;
      expect(c.lines()).toEqual(want);
      expect(c.batches[0]?.records[0]?.origin).toBe('stdin:0');
    }
  });

  it('rejects start() with a clear one-line message for a missing file or a directory', async () => {
    const missing = join(dir, 'nope', 'audit.log');
    const src = new ReplayFileSource({ path: missing });
    const err = await src.start(collect().handler).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err?.message).toBe(`cannot read ${missing}: no such file or directory (ENOENT)`);
    await src.finished;

    await mkdir(join(dir, 'adir'));
    const src2 = new ReplayFileSource({ path: join(dir, 'adir') });
    await expect(src2.start(collect().handler)).rejects.toThrow(
      /^cannot read .*adir: is a directory \(EISDIR\)$/,
    );
  });

  it('rejects finished with a one-line message for a corrupt gzip file', async () => {
    const path = join(dir, 'broken.log.gz');
    const gz = gzipSync(text(lines('x', 5000)));
    await writeFile(path, gz.subarray(0, Math.floor(gz.length / 2)));
    const src = new ReplayFileSource({ path });
    await src.start(collect().handler);
    const err = await src.finished.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(
      new RegExp(`^replay of ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} failed: .+`),
    );
    expect(err?.message).not.toContain('\n');

    const notGzip = join(dir, 'plain-text.gz');
    await writeFile(notGzip, text(lines('y', 3)));
    const src2 = new ReplayFileSource({ path: notGzip });
    await src2.start(collect().handler);
    await expect(src2.finished).rejects.toThrow(/^replay of .*plain-text\.gz failed: /);
  });

  it('passes a handler error through unchanged', async () => {
    const path = join(dir, 'audit.log');
    await writeFile(path, text(lines('h', 3)));
    const src = new ReplayFileSource({ path });
    const boom = new Error('handler exploded');
    await src.start(async () => {
      throw boom;
    });
    await expect(src.finished).rejects.toBe(boom);
  });

  it('stop() during a replay waits for the in-flight batch and resolves finished', async () => {
    const path = join(dir, 'audit.log');
    await writeFile(path, text(lines('s', 50_000)));
    const g = gate();
    const c = collect(g.wait);
    const src = new ReplayFileSource({ path, maxBatchRecords: 100 });
    await src.start(c.handler);
    await waitFor(() => g.waiting() === 1, 'first batch');
    let stopped = false;
    const stopping = src.stop().then(() => {
      stopped = true;
    });
    await settle();
    expect(stopped).toBe(false);
    g.open();
    await stopping;
    await src.finished;
    expect(c.batches.length).toBe(1);
    expect(c.lines()).toEqual(lines('s', 100));
  });
});

describe('StdinSource', () => {
  it('reads a stream until EOF, reassembling lines split across writes', async () => {
    const input = new PassThrough();
    const src = new StdinSource({ input });
    const c = collect();
    await src.start(c.handler);
    expect(src.isReady()).toBe(true);
    input.write('{"a":1}\n{"b":');
    await waitFor(() => c.lines().length === 1, 'first line delivered before EOF');
    input.write('2}\r\n\n{"c":3}');
    input.end();
    await src.finished;
    expect(c.lines()).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    expect(c.batches.every((b) => b.source === 'stdin')).toBe(true);
    expect(src.isReady()).toBe(false);
  });

  it('stop() ends intake without destroying the stream', async () => {
    const input = new PassThrough();
    const src = new StdinSource({ input, name: 'pipe' });
    const c = collect();
    await src.start(c.handler);
    input.write('{"x":1}\n');
    await waitFor(() => c.lines().length === 1, 'line');
    await src.stop();
    await src.finished;
    expect(input.destroyed).toBe(false);
    expect(c.batches[0]?.source).toBe('pipe');
  });

  it('rejects finished when the stream fails', async () => {
    const input = new PassThrough();
    const src = new StdinSource({ input });
    await src.start(collect().handler);
    input.destroy(new Error('EPIPE-ish'));
    await expect(src.finished).rejects.toThrow(/^reading stdin failed: EPIPE-ish$/);
  });
});
