import { appendFile, copyFile, rename, stat, truncate, writeFile, mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  FileTailSource,
  type FilePosition,
  type FileTailEvent,
  type FileTailOptions,
} from '../../../src/ingest/file-tail.js';
import { collect, gate, makeTempDir, settle, waitFor } from './helpers.js';

const lines = (prefix: string, n: number, from = 0): string[] =>
  Array.from({ length: n }, (_, i) => `{"${prefix}":${from + i}}`);
const text = (ls: string[]): string => ls.map((l) => l + '\n').join('');

describe('FileTailSource', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const sources: FileTailSource[] = [];

  beforeEach(async () => {
    ({ dir, cleanup } = await makeTempDir());
  });
  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.stop()));
    await cleanup();
  });

  function tail(options: Omit<FileTailOptions, 'path'> & { path?: string }): FileTailSource {
    const src = new FileTailSource({ path: join(dir, 'audit.log'), pollIntervalMs: 20, ...options });
    sources.push(src);
    return src;
  }

  it('starts at the end by default and follows appends, including lines written in pieces', async () => {
    const path = join(dir, 'audit.log');
    await writeFile(path, text(lines('old', 5)));
    const src = tail({});
    const c = collect();
    await src.start(c.handler);
    expect(src.isReady()).toBe(true);

    await appendFile(path, text(lines('new', 3)));
    await waitFor(() => c.lines().length === 3, '3 appended lines');
    await appendFile(path, '{"piece":');
    await settle();
    await appendFile(path, '1}\r\n{"piece":2}\n');
    await waitFor(() => c.lines().length === 5, 'pieced lines');

    expect(c.lines()).toEqual([...lines('new', 3), '{"piece":1}', '{"piece":2}']);
    const all = c.batches.flatMap((b) => b.records);
    const size = (await stat(path)).size;
    const firstNew = Buffer.byteLength(text(lines('old', 5)));
    expect(all[0]?.origin).toBe(`file:${path}:${firstNew}`);
    const last = c.batches.at(-1)?.position as FilePosition;
    expect(last.offset).toBe(size);
    expect(last.path).toBe(path);
    expect(c.batches.every((b) => b.source === 'file')).toBe(true);
  });

  it('starts at the beginning when asked, in bounded batches, one handler call at a time', async () => {
    const path = join(dir, 'audit.log');
    const want = lines('l', 2500);
    await writeFile(path, text(want));
    const src = tail({ startAt: 'beginning', maxBatchRecords: 100, chunkBytes: 4096 });
    const c = collect();
    await src.start(c.handler);
    await waitFor(() => c.lines().length === want.length, 'all lines');
    expect(c.lines()).toEqual(want);
    expect(Math.max(...c.batches.map((b) => b.records.length))).toBeLessThanOrEqual(100);
    expect(c.maxConcurrent()).toBe(1);
    // Positions grow and each points just after its batch's last line.
    let prev = 0;
    for (const b of c.batches) {
      const pos = b.position as FilePosition;
      const lastOrigin = b.records.at(-1)?.origin ?? '';
      const lastStart = Number(lastOrigin.slice(lastOrigin.lastIndexOf(':') + 1));
      expect(pos.offset).toBe(lastStart + (b.records.at(-1)?.line.length ?? 0) + 1);
      expect(pos.offset).toBeGreaterThan(prev);
      prev = pos.offset;
    }
  });

  it('starting at the end in the middle of a line skips the rest of that line', async () => {
    const path = join(dir, 'audit.log');
    await writeFile(path, '{"done":1}\n{"half":');
    const src = tail({});
    const c = collect();
    await src.start(c.handler);
    await appendFile(path, '2}\n{"next":3}\n');
    await waitFor(() => c.lines().length >= 1, 'next line');
    await settle();
    expect(c.lines()).toEqual(['{"next":3}']);
  });

  it('follows a rename rotation: old file read to its end (even lines written after the rename), then the new one from its start', async () => {
    const path = join(dir, 'audit.log');
    const rotated = join(dir, 'audit.log.1');
    await writeFile(path, '');
    const events: FileTailEvent[] = [];
    const src = tail({ onEvent: (e) => events.push(e) });
    // Hold the pipeline inside the first batch while the whole rotation happens, so the source only
    // looks again once the new file exists and the old one got more lines behind its back.
    const g = gate();
    const c = collect(g.wait);
    await src.start(c.handler);

    const a = lines('a', 50);
    await appendFile(path, text(a));
    await waitFor(() => g.waiting() === 1, 'first batch in the handler');

    // Vault keeps writing to the renamed file until SIGHUP makes it reopen the path.
    const b = lines('b', 40);
    await appendFile(path, text(b));
    await rename(path, rotated);
    const bAfter = lines('b', 40, 40);
    await appendFile(rotated, text(bAfter) + '{"b":"no-newline-at-end"}');
    const d = lines('d', 30);
    await writeFile(path, text(d));
    g.open();
    await waitFor(() => c.lines().length === a.length + b.length + bAfter.length + 1 + d.length, 'all lines');
    await settle();

    expect(c.lines()).toEqual([...a, ...b, ...bAfter, '{"b":"no-newline-at-end"}', ...d]);
    expect(events.some((e) => e.type === 'rotated')).toBe(true);
    const newIno = (await stat(path)).ino;
    const last = c.batches.at(-1)?.position as FilePosition;
    expect(last.ino).toBe(newIno);
    expect(last.offset).toBe(Buffer.byteLength(text(d)));
    expect(c.batches.at(-1)?.records.at(0)?.origin.startsWith(`file:${path}:`)).toBe(true);
  });

  it('keeps following the renamed file while nothing is at the path yet', async () => {
    const path = join(dir, 'audit.log');
    await writeFile(path, '');
    const src = tail({});
    const c = collect();
    await src.start(c.handler);
    await rename(path, join(dir, 'audit.log.1'));
    await appendFile(join(dir, 'audit.log.1'), text(lines('x', 3)));
    await waitFor(() => c.lines().length === 3, 'lines from the renamed file');
    expect(c.lines()).toEqual(lines('x', 3));
  });

  it('restarts at 0 after copytruncate-style truncation', async () => {
    const path = join(dir, 'audit.log');
    await writeFile(path, '');
    const events: FileTailEvent[] = [];
    const src = tail({ onEvent: (e) => events.push(e) });
    const c = collect();
    await src.start(c.handler);

    const before = lines('before', 10);
    await appendFile(path, text(before));
    await waitFor(() => c.lines().length === 10, 'lines before truncation');
    await copyFile(path, join(dir, 'audit.log.1'));
    await truncate(path, 0);
    const after = lines('after', 2);
    await appendFile(path, text(after));
    await waitFor(() => c.lines().length === 12, 'lines after truncation');
    await settle();

    expect(c.lines()).toEqual([...before, ...after]);
    expect(events.some((e) => e.type === 'truncated')).toBe(true);
    expect((c.batches.at(-1)?.position as FilePosition).offset).toBe(Buffer.byteLength(text(after)));
  });

  it('resumes from a saved position with the same inode, and ignores it for another file', async () => {
    const path = join(dir, 'audit.log');
    const first = lines('one', 20);
    await writeFile(path, text(first));
    const src1 = tail({ startAt: 'beginning' });
    const c1 = collect();
    await src1.start(c1.handler);
    await waitFor(() => c1.lines().length === 20, 'first run');
    await src1.stop();
    await src1.finished;
    expect(src1.isReady()).toBe(false);
    const saved = c1.batches.at(-1)?.position as FilePosition;
    // The position is plain JSON, as stored in the pipeline's snapshot.
    const roundTripped = JSON.parse(JSON.stringify(saved)) as FilePosition;

    const second = lines('two', 5);
    await appendFile(path, text(second));
    const src2 = tail({ startAt: 'beginning' });
    const c2 = collect();
    await src2.start(c2.handler, roundTripped);
    await waitFor(() => c2.lines().length === 5, 'resumed lines');
    await settle();
    expect(c2.lines()).toEqual(second);
    await src2.stop();

    // The file was replaced while stopped: the saved position no longer applies.
    await rename(path, join(dir, 'audit.log.1'));
    const third = lines('three', 4);
    await writeFile(path, text(third));
    const c3 = collect();
    const src3 = tail({ startAt: 'end' });
    await src3.start(c3.handler, roundTripped);
    await appendFile(path, text(lines('four', 1)));
    await waitFor(() => c3.lines().length === 1, 'startAt rule after mismatch');
    expect(c3.lines()).toEqual(lines('four', 1));
    await src3.stop();

    const c4 = collect();
    const src4 = tail({ startAt: 'end', resumeMismatch: 'beginning' });
    await src4.start(c4.handler, roundTripped);
    await waitFor(() => c4.lines().length === 5, 'new file from its beginning');
    expect(c4.lines()).toEqual([...third, ...lines('four', 1)]);
  });

  it('ignores a saved position past the end of the same file (truncated while stopped)', async () => {
    const path = join(dir, 'audit.log');
    await writeFile(path, text(lines('x', 3)));
    const st = await stat(path);
    const c = collect();
    const src = tail({ startAt: 'beginning' });
    await src.start(c.handler, { path, dev: st.dev, ino: st.ino, offset: st.size + 100 });
    await waitFor(() => c.lines().length === 3, 'lines from the beginning');
    expect(c.lines()).toEqual(lines('x', 3));
  });

  it('waits for a file that does not exist yet (directory too) and reads it from its beginning', async () => {
    const path = join(dir, 'later', 'audit.log');
    const events: FileTailEvent[] = [];
    const src = tail({ path, onEvent: (e) => events.push(e) });
    const c = collect();
    await src.start(c.handler);
    expect(src.isReady()).toBe(false);
    expect(events.map((e) => e.type)).toEqual(['waiting']);

    await mkdir(join(dir, 'later'));
    await writeFile(path, text(lines('early', 3)));
    await waitFor(() => c.lines().length === 3, 'lines of the new file');
    await appendFile(path, text(lines('more', 2)));
    await waitFor(() => c.lines().length === 5, 'appended lines');
    expect(c.lines()).toEqual([...lines('early', 3), ...lines('more', 2)]);
    expect(src.isReady()).toBe(true);
  });

  it('works by polling alone (no fs.watch)', async () => {
    const path = join(dir, 'audit.log');
    await writeFile(path, '');
    const src = tail({ watch: false });
    const c = collect();
    await src.start(c.handler);
    await appendFile(path, text(lines('p', 7)));
    await waitFor(() => c.lines().length === 7, 'polled lines');
    await unlink(path);
    await writeFile(path, text(lines('q', 2)));
    await waitFor(() => c.lines().length === 9, 'lines of the re-created file');
    expect(c.lines()).toEqual([...lines('p', 7), ...lines('q', 2)]);
  });

  it('truncates over-long lines and keeps going', async () => {
    const path = join(dir, 'audit.log');
    await writeFile(path, '');
    const src = tail({ maxLineBytes: 100, chunkBytes: 1024 });
    const c = collect();
    await src.start(c.handler);
    await appendFile(path, '{"big":"' + 'x'.repeat(50_000) + '"}\n{"small":1}\n');
    await waitFor(() => c.lines().length === 2, 'both lines');
    const recs = c.batches.flatMap((b) => b.records);
    expect(recs[0]?.truncated).toBe(true);
    expect(recs[0]?.line.length).toBe(100);
    expect(recs[1]?.line.toString()).toBe('{"small":1}');
    expect(recs[1]?.truncated).toBeUndefined();
  });

  it('stop() waits for the in-flight handler, then resolves finished', async () => {
    const path = join(dir, 'audit.log');
    await writeFile(path, '');
    const g = gate();
    const c = collect(g.wait);
    const src = tail({});
    await src.start(c.handler);
    await appendFile(path, text(lines('s', 3)));
    await waitFor(() => g.waiting() === 1, 'handler to be called');

    let stopped = false;
    const stopping = src.stop().then(() => {
      stopped = true;
    });
    await settle();
    expect(stopped).toBe(false);
    g.open();
    await stopping;
    await src.finished;
    expect(c.lines()).toEqual(lines('s', 3));
    expect(src.isReady()).toBe(false);
  });

  it('a failing handler stops the source and rejects finished', async () => {
    const path = join(dir, 'audit.log');
    await writeFile(path, '');
    const src = tail({});
    await src.start(async () => {
      throw new Error('pipeline broke');
    });
    await appendFile(path, text(lines('f', 1)));
    await expect(src.finished).rejects.toThrow('pipeline broke');
    expect(src.isReady()).toBe(false);
  });

  it('rejects start() when the path is a directory', async () => {
    const src = tail({ path: dir });
    await expect(src.start(collect().handler)).rejects.toThrow(/not a regular file/);
    await src.finished;
  });
});
