import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  FileDeadLetterSink,
  MemoryDeadLetterSink,
  NullDeadLetterSink,
  escapeControls,
  toDeadLetterRecord,
  type DeadLetterRecord,
} from '../../../src/ingest/dead-letter.js';
import { makeTempDir, waitFor } from './helpers.js';

const CANARY_TOKEN = 'hvs.CANARYCANARYCANARYCANARY12';
const CANARY_HMAC = 'hmac-sha256:' + 'c0ffee'.repeat(10) + 'abcd';

/** A broken audit line (truncated JSON) carrying secrets in several places. */
const SECRET_LINE = Buffer.from(
  `{"time":"2025-01-01T00:00:00Z","type":"request","auth":{"client_token":"${CANARY_TOKEN}",` +
    `"accessor":"${CANARY_HMAC}","display_name":"userpass-alice"},"request":{"path":"secret/data/x",` +
    `"headers":{"x-note":["${CANARY_TOKEN}"]},"remote_address":"10.0.0.1","note":"${CANARY_HMAC}"`,
);

const parseFile = async (path: string): Promise<DeadLetterRecord[]> =>
  (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as DeadLetterRecord);

describe('dead-letter sinks', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await makeTempDir());
  });
  afterEach(async () => {
    await cleanup();
  });

  it('writes hash, length and a scrubbed excerpt, never the secret; file 0600 in a created directory', async () => {
    const path = join(dir, 'state', 'dead', 'dead-letter.jsonl');
    const sink = new FileDeadLetterSink({ path });
    await sink.put({
      at: '2025-01-01T00:00:01.000Z',
      source: 'file',
      origin: 'file:/var/log/vault/audit.log:1234',
      reason: `Unexpected end of JSON input near "${CANARY_TOKEN}"`,
      line: SECRET_LINE,
    });
    await sink.close();

    const raw = await readFile(path, 'utf8');
    expect(raw).not.toContain(CANARY_TOKEN);
    expect(raw).not.toContain('CANARYCANARY');
    expect(raw).not.toContain(CANARY_HMAC);
    expect(raw).not.toContain('c0ffeec0ffee');
    expect(raw.endsWith('\n')).toBe(true);

    const [rec, ...rest] = await parseFile(path);
    expect(rest).toEqual([]);
    expect(rec).toMatchObject({
      at: '2025-01-01T00:00:01.000Z',
      source: 'file',
      origin: 'file:/var/log/vault/audit.log:1234',
      bytes: SECRET_LINE.length,
      sha256: createHash('sha256').update(SECRET_LINE).digest('hex'),
      truncated: false,
    });
    expect(rec?.reason).toContain('Unexpected end of JSON input');
    // Non-secret context survives for debugging.
    expect(rec?.excerpt).toContain('"display_name":"userpass-alice"');
    expect(rec?.excerpt).toContain('secret/data/x');

    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'state', 'dead'))).isDirectory()).toBe(true);
    expect(sink.stats()).toEqual({ written: 1, dropped: 0, errors: 0 });
  });

  it('hashes the original bytes of a long line, excerpts only 64 KiB, escapes control characters, keeps invalid UTF-8 visible', () => {
    const long = Buffer.concat([
      Buffer.from('{"x":"\u001b[31mred\u001b[0m\u009b2J\u202eevil\u0000", "bad":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('", "pad":"' + 'a'.repeat(200_000) + '"}'),
    ]);
    const rec = toDeadLetterRecord({
      at: 'now',
      source: 's',
      origin: 'o',
      reason: 'r',
      line: long,
      truncated: true,
    });
    expect(rec.bytes).toBe(long.length);
    expect(rec.sha256).toBe(createHash('sha256').update(long).digest('hex'));
    expect(rec.truncated).toBe(true);
    expect(rec.excerpt.length).toBeLessThanOrEqual(64 * 1024 + 1);
    expect(rec.excerpt.length).toBeGreaterThan(60 * 1024);
    // eslint-disable-next-line no-control-regex
    expect(rec.excerpt).not.toMatch(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202e]/);
    expect(rec.excerpt).toContain('\\u001b[31mred');
    expect(rec.excerpt).toContain('\\u009b2J');
    expect(rec.excerpt).toContain('\\u202eevil\\u0000');
    expect(rec.excerpt).toContain('\ufffd\ufffd');
    expect(rec.excerpt.endsWith('…')).toBe(true);
  });

  it('does not leak half a token cut at the excerpt boundary', () => {
    const prefix = '{"note":"' + 'n'.repeat(100 - 9 - 10 - 1) + ' ';
    const line = prefix + CANARY_TOKEN + '"}';
    // Cut in the middle of the token: the visible part is too short for the token pattern.
    const rec = toDeadLetterRecord({ at: 'a', source: 's', origin: 'o', reason: 'r', line }, 100);
    expect(rec.excerpt).not.toContain('hvs.CANARY');
    expect(rec.excerpt.startsWith('{"note":"nnn')).toBe(true);
  });

  it('accepts a string line (bytes and hash of its UTF-8 encoding)', () => {
    const line = '{"héllo":"✓"';
    const rec = toDeadLetterRecord({ at: 'a', source: 's', origin: 'o', reason: 'r', line });
    const bytes = Buffer.from(line, 'utf8');
    expect(rec.bytes).toBe(bytes.length);
    expect(rec.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(rec.excerpt).toBe(line);
  });

  it('keeps nothing of a line that is not JSON: its secrets could not be told apart', () => {
    const rec = toDeadLetterRecord({
      at: 'a',
      source: 's',
      origin: 'o',
      reason: 'r',
      line: 'garbage 9vx2Kc7ePq4Lz8Wm1Tn6Yb3R tail',
    });
    expect(rec.excerpt).toMatch(/^\[excerpt withheld/);
    expect(rec.bytes).toBe(37);
  });

  it('batches appends: flushed on a timer without close, and everything on close', async () => {
    const path = join(dir, 'dl.jsonl');
    const sink = new FileDeadLetterSink({ path, flushIntervalMs: 10 });
    for (let i = 0; i < 50; i++) {
      await sink.put({
        at: `t${i}`,
        source: 'socket',
        origin: 'socket:127.0.0.1:1',
        reason: 'bad json',
        line: `{"n":${i}`,
      });
    }
    await waitFor(async () => (await parseFile(path).catch(() => [])).length === 50, 'timer flush');
    for (let i = 50; i < 60; i++) {
      await sink.put({ at: `t${i}`, source: 'socket', origin: 'o', reason: 'bad json', line: `{"n":${i}` });
    }
    await sink.close();
    const recs = await parseFile(path);
    expect(recs.map((r) => r.at)).toEqual(Array.from({ length: 60 }, (_, i) => `t${i}`));
    expect(sink.stats().written).toBe(60);
    await expect(sink.put({ at: 'x', source: 's', origin: 'o', reason: 'r', line: 'x' })).rejects.toThrow(
      /closed/,
    );
  });

  it('surfaces write failures through onError and counts them, without throwing', async () => {
    const path = join(dir, 'is-a-dir');
    await mkdir(path);
    const errors: Error[] = [];
    const sink = new FileDeadLetterSink({ path, onError: (e) => errors.push(e) });
    await sink.put({
      at: 'a',
      source: 's',
      origin: 'o',
      reason: 'r',
      line: `{"client_token":"${CANARY_TOKEN}"`,
    });
    await sink.put({ at: 'b', source: 's', origin: 'o', reason: 'r', line: 'x' });
    await sink.close();
    // Kept for a retry, but the sink is closing: only then are they lost, and counted.
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/dead-letter write to .*is-a-dir failed \(2 records kept for a retry\)/),
      expect.stringMatching(/still cannot be written: 2 records dropped at close/),
    ]);
    expect(errors.map((e) => e.message).join()).not.toContain('CANARY');
    expect(sink.stats()).toEqual({ written: 0, dropped: 2, errors: 1 });
  });

  it('keeps the records of a failed write and writes them, first and in order, once it can', async () => {
    const blocker = join(dir, 'blocker');
    await writeFile(blocker, 'a file where the directory should be');
    const path = join(blocker, 'dead.ndjson');
    const errors: Error[] = [];
    const sink = new FileDeadLetterSink({ path, onError: (e) => errors.push(e), retryMs: 10 });
    await sink.put({ at: 'a', source: 's', origin: 'o1', reason: 'r', line: 'first' });
    await sink.flush();
    await sink.put({ at: 'b', source: 's', origin: 'o2', reason: 'r', line: 'second' });
    await sink.flush();
    expect(errors.length).toBeGreaterThan(0);
    await rm(blocker);
    // The retry runs on its own, without new records.
    await vi.waitFor(() => expect(sink.stats().written).toBe(2));
    await sink.put({ at: 'c', source: 's', origin: 'o3', reason: 'r', line: 'third' });
    await sink.close();
    const origins = (await readFile(path, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { origin: string }).origin);
    expect(origins).toEqual(['o1', 'o2', 'o3']);
    expect(sink.stats()).toMatchObject({ written: 3, dropped: 0 });
  });

  it('memory and null sinks', async () => {
    const mem = new MemoryDeadLetterSink();
    await mem.put({ at: 'a', source: 's', origin: 'o', reason: 'r', line: SECRET_LINE });
    expect(mem.records).toHaveLength(1);
    expect(JSON.stringify(mem.records)).not.toContain('CANARYCANARY');
    expect(mem.records[0]?.bytes).toBe(SECRET_LINE.length);
    await mem.close();
    await expect(mem.put({ at: 'a', source: 's', origin: 'o', reason: 'r', line: 'x' })).rejects.toThrow();

    const nul = new NullDeadLetterSink();
    await nul.put({ at: 'a', source: 's', origin: 'o', reason: 'r', line: 'x' });
    await nul.close();
    expect(nul.count).toBe(1);
  });

  it('escapeControls leaves ordinary text (and tabs) alone', () => {
    expect(escapeControls('plain\ttext ✓')).toBe('plain\ttext ✓');
    expect(escapeControls('a\nb\u007f')).toBe('a\\u000ab\\u007f');
  });
});
