import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SocketSource,
  type SocketSourceEvent,
  type SocketSourceOptions,
} from '../../../src/ingest/socket.js';
import type { BatchHandler, RecordBatch } from '../../../src/ingest/source.js';
import { collect, gate, settle, waitFor } from './helpers.js';

function client(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function send(s: Socket, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => s.write(data, (err) => (err ? reject(err) : resolve())));
}

function closed(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.closed) resolve();
    else s.once('close', () => resolve());
  });
}

/** Deterministic PRNG (mulberry32) so split points are random but reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const entry = (c: number, i: number): string =>
  JSON.stringify({
    type: 'response',
    client: c,
    n: i,
    path: `secret/data/app${i % 7}`,
    pad: 'z'.repeat((i * 13) % 90),
  });

describe('SocketSource', () => {
  const sources: SocketSource[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(sources.splice(0).map((s) => s.stop()));
  });

  async function listen(
    handler: BatchHandler,
    options: Partial<SocketSourceOptions> = {},
  ): Promise<{ src: SocketSource; port: number }> {
    const src = new SocketSource({ port: 0, ...options });
    sources.push(src);
    await src.start(handler);
    const { host, port } = src.address();
    expect(host).toBe('127.0.0.1');
    expect(port).toBeGreaterThan(0);
    return { src, port };
  }

  async function open(port: number): Promise<Socket> {
    const s = await client(port);
    sockets.push(s);
    return s;
  }

  it('3 concurrent clients, lines split at random byte boundaries: each line once, in order per connection', async () => {
    const c = collect();
    const { src, port } = await listen(c.handler);
    expect(src.isReady()).toBe(true);
    const perClient = 300;
    const clients = await Promise.all([0, 1, 2].map(() => open(port)));
    const localPorts = clients.map((s) => s.localPort);
    const payloads = clients.map((_, k) =>
      Buffer.from(
        Array.from({ length: perClient }, (_, i) => entry(k, i) + (i % 3 === 0 ? '\r\n' : '\n')).join(''),
      ),
    );
    const rand = rng(42);
    const offsets = [0, 0, 0];
    // Interleave small random pieces from the three connections.
    while (offsets.some((o, k) => o < (payloads[k] as Buffer).length)) {
      const k = Math.floor(rand() * 3);
      const buf = payloads[k] as Buffer;
      const off = offsets[k] as number;
      if (off >= buf.length) continue;
      const len = 1 + Math.floor(rand() * 200);
      await send(clients[k] as Socket, buf.subarray(off, off + len));
      offsets[k] = off + len;
      if (rand() < 0.3) await new Promise((r) => setImmediate(r));
    }
    for (const s of clients) s.end();
    await waitFor(() => c.lines().length === 3 * perClient, 'all lines');
    await Promise.all(clients.map(closed));
    await settle();

    const byOrigin = new Map<string, number[]>();
    for (const b of c.batches) {
      expect(b.source).toBe('socket');
      expect(b.position).toBeUndefined();
      for (const r of b.records) {
        const parsed = JSON.parse(r.line.toString()) as { client: number; n: number };
        const list = byOrigin.get(r.origin) ?? [];
        list.push(parsed.client * 100_000 + parsed.n);
        byOrigin.set(r.origin, list);
      }
    }
    expect(byOrigin.size).toBe(3);
    for (const [k, localPort] of localPorts.entries()) {
      const origin = `socket:127.0.0.1:${localPort}`;
      expect(byOrigin.get(origin)).toEqual(Array.from({ length: perClient }, (_, i) => k * 100_000 + i));
    }
    expect(c.maxConcurrent()).toBe(1);
  });

  it('micro-batches a burst into few batches', async () => {
    const c = collect();
    const { port } = await listen(c.handler, { maxBatchRecords: 10_000 });
    const s = await open(port);
    await send(s, Array.from({ length: 500 }, (_, i) => entry(0, i) + '\n').join(''));
    await waitFor(() => c.lines().length === 500, 'burst');
    expect(c.batches.length).toBeLessThan(50);
    // A single line on its own is delivered too (without waiting for more).
    await send(s, entry(0, 500) + '\n');
    await waitFor(() => c.lines().length === 501, 'single line');
  });

  it('bounds line length and delivers the remainder of a connection closed mid-line', async () => {
    const c = collect();
    const { port } = await listen(c.handler, { maxLineBytes: 1000 });
    const s = await open(port);
    const big = '{"big":"' + 'x'.repeat(200_000) + '"}';
    for (let i = 0; i < big.length; i += 10_000) await send(s, big.slice(i, i + 10_000));
    await send(s, '\n{"ok":1}\n{"cut":');
    s.end();
    await waitFor(() => c.lines().length === 3, 'three records');
    const recs = c.batches.flatMap((b) => b.records);
    expect(recs[0]?.truncated).toBe(true);
    expect(recs[0]?.line.toString()).toBe(big.slice(0, 1000));
    expect(recs[1]?.line.toString()).toBe('{"ok":1}');
    expect(recs[2]?.line.toString()).toBe('{"cut":');
  });

  it('pauses sockets when the queue is full and loses nothing once the handler catches up', async () => {
    const g = gate();
    const c = collect(g.wait);
    const { src, port } = await listen(c.handler, { maxQueuedBytes: 16 * 1024, maxBatchRecords: 200 });
    const s = await open(port);
    const n = 20_000;
    const payload = Array.from({ length: n }, (_, i) => entry(1, i) + '\n').join('');
    const written = send(s, payload);
    await waitFor(() => src.stats().paused, 'sockets paused');
    const queued = src.stats().queuedBytes;
    expect(queued).toBeGreaterThanOrEqual(16 * 1024);
    // Bounded: at most the threshold plus one socket read.
    expect(queued).toBeLessThan(16 * 1024 + 256 * 1024);
    g.open();
    await written;
    s.end();
    await waitFor(() => c.lines().length === n, 'all lines after resume');
    expect(c.lines()).toEqual(Array.from({ length: n }, (_, i) => entry(1, i)));
    expect(c.maxConcurrent()).toBe(1);
    expect(Math.max(...c.batches.map((b) => b.records.length))).toBeLessThanOrEqual(200);
    expect(src.stats().paused).toBe(false);
  });

  it('stop() closes everything after delivering every complete line received; a partial line is dropped', async () => {
    const g = gate();
    let handed = 0;
    const delivered: RecordBatch[] = [];
    const handler: BatchHandler = async (b) => {
      handed += b.records.length;
      await g.wait();
      delivered.push(b);
    };
    const { src, port } = await listen(handler);
    const s = await open(port);
    const n = 1000;
    await send(s, Array.from({ length: n }, (_, i) => entry(2, i) + '\n').join('') + '{"partial":');
    await waitFor(
      () => handed + src.stats().queuedRecords === n && src.stats().partialLineBytes > 0,
      'everything received',
    );

    let stopped = false;
    const stopping = src.stop().then(() => {
      stopped = true;
    });
    await closed(s);
    expect(src.isReady()).toBe(false);
    await settle();
    expect(stopped).toBe(false);
    g.open();
    await stopping;
    await src.finished;
    const got = delivered.flatMap((b) => b.records.map((r) => r.line.toString()));
    expect(got).toEqual(Array.from({ length: n }, (_, i) => entry(2, i)));
    expect(src.stats().partialLinesDiscarded).toBe(1);
    expect(() => src.address()).toThrow(/not listening/);
  });

  it('limits concurrent connections', async () => {
    const events: SocketSourceEvent[] = [];
    const c = collect();
    const { src, port } = await listen(c.handler, { maxConnections: 1, onEvent: (e) => events.push(e) });
    const first = await open(port);
    await waitFor(() => events.some((e) => e.type === 'connected'), 'first connection');
    const second = connect({ host: '127.0.0.1', port });
    second.on('error', () => undefined);
    sockets.push(second);
    await waitFor(() => events.some((e) => e.type === 'dropped'), 'second connection dropped');
    await closed(second);
    expect(src.stats().dropped).toBe(1);
    await send(first, '{"still":"working"}\n');
    await waitFor(() => c.lines().length === 1, 'line from the first connection');
    expect(c.lines()).toEqual(['{"still":"working"}']);
  });

  it('a failing handler closes the listener and rejects finished', async () => {
    const { src, port } = await listen(async () => {
      throw new Error('pipeline down');
    });
    const s = await open(port);
    await send(s, '{"a":1}\n');
    await expect(src.finished).rejects.toThrow('pipeline down');
    expect(src.isReady()).toBe(false);
    await closed(s);
  });

  it('rejects start() with a clear message when the port is taken', async () => {
    const { port } = await listen(collect().handler);
    const other = new SocketSource({ port });
    await expect(other.start(collect().handler)).rejects.toThrow(
      `cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`,
    );
    await other.finished;
  });
});
