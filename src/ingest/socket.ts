import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { LineSplitter } from './line-splitter.js';
import type { BatchHandler, RawRecord, Source, SourcePosition } from './source.js';
import { batch, DEFAULT_MAX_BATCH_RECORDS, deferred, describeError, toError, type Deferred } from './util.js';

/**
 * TCP listener for Vault's `socket` audit device (`vault audit enable socket address=host:port
 * socket_type=tcp`). Vault writes one JSON entry per line and may open several connections
 * (reconnects, several nodes); each connection has its own line splitter, so lines split across
 * packets are reassembled per connection. Vault also writes a test entry when the device is enabled;
 * it is an ordinary line and needs nothing special here.
 *
 * Micro-batching: the first record into an empty queue arms a `batchDelayMs` timer; the batch goes
 * out when the timer fires or as soon as `maxBatchRecords` are queued, so a burst becomes one batch
 * and a lone line waits at most a few ms. Records that arrive while a batch is being handled are
 * delivered right after it.
 *
 * Back-pressure: the queue is bounded by bytes. While a batch is handled, sockets keep filling the
 * queue (reading overlaps handling); once it holds `maxQueuedBytes`, every socket is paused (TCP flow
 * control then pushes back on Vault, which blocks after its `write_timeout`) and resumed when the
 * queue is down to half. Memory is bounded by the queue, one batch in flight, one socket read per
 * connection and one partial line (≤ maxLineBytes) per connection.
 *
 * There is no resumable position: what Vault sent and we did not deliver before a crash is lost.
 */

export type SocketSourceEvent =
  | { type: 'connected'; origin: string; connections: number }
  | { type: 'disconnected'; origin: string; connections: number; partialLineBytes: number }
  | { type: 'dropped'; origin: string; reason: 'max-connections' | 'stopping' };

export interface SocketSourceOptions {
  /** Source instance name (default `socket`). */
  name?: string;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Listen port; 0 picks a free one (see `address()`). */
  port: number;
  /** Concurrent connections accepted (default 64); more are closed at once. */
  maxConnections?: number;
  /** Longest line kept (default 4 MiB). */
  maxLineBytes?: number;
  /** Records per batch (default 1000). */
  maxBatchRecords?: number;
  /** Longest wait for more records before delivering a partial batch (default 2 ms). */
  batchDelayMs?: number;
  /** Bytes queued before sockets are paused (default 16 MiB). */
  maxQueuedBytes?: number;
  /** Socket and server errors that do not stop the source. */
  onError?: (err: Error) => void;
  onEvent?: (event: SocketSourceEvent) => void;
}

interface Connection {
  socket: Socket;
  splitter: LineSplitter;
  origin: string;
}

export class SocketSource implements Source {
  readonly name: string;
  readonly finished: Promise<void>;

  private readonly host: string;
  private readonly port: number;
  private readonly maxConnections: number;
  private readonly maxLineBytes: number | undefined;
  private readonly maxBatchRecords: number;
  private readonly batchDelayMs: number;
  private readonly maxQueuedBytes: number;
  private readonly onError: (err: Error) => void;
  private readonly onEvent: (event: SocketSourceEvent) => void;
  private readonly done: Deferred<void>;

  private handler: BatchHandler | undefined;
  private server: Server | undefined;
  private listening = false;
  private started = false;
  private stopping = false;
  private failed = false;
  private stopped: Promise<void> | undefined;
  private readonly conns = new Set<Connection>();

  private queue: RawRecord[] = [];
  private head = 0;
  private queuedBytes = 0;
  private paused = false;
  private timer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;

  private accepted = 0;
  private dropped = 0;
  private partialLinesDiscarded = 0;

  constructor(options: SocketSourceOptions) {
    this.name = options.name ?? 'socket';
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port;
    this.maxConnections = options.maxConnections ?? 64;
    this.maxLineBytes = options.maxLineBytes;
    this.maxBatchRecords = options.maxBatchRecords ?? DEFAULT_MAX_BATCH_RECORDS;
    this.batchDelayMs = options.batchDelayMs ?? 2;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 16 * 1024 * 1024;
    this.onError = options.onError ?? (() => undefined);
    this.onEvent = options.onEvent ?? (() => undefined);
    this.done = deferred<void>(true);
    this.finished = this.done.promise;
  }

  /** Resolves once listening; rejects with `cannot listen on host:port: <reason>`. */
  async start(handler: BatchHandler, _resumeFrom?: SourcePosition): Promise<void> {
    if (this.started) throw new Error(`source ${this.name} already started`);
    this.started = true;
    this.handler = handler;
    const server = createServer((socket) => this.accept(socket));
    server.maxConnections = this.maxConnections;
    server.on('drop', (data) => {
      this.dropped++;
      this.onEvent({
        type: 'dropped',
        origin: formatOrigin(data?.remoteAddress, data?.remotePort),
        reason: 'max-connections',
      });
    });
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: this.host, port: this.port }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.stopping = true;
      this.done.resolve();
      throw new Error(`cannot listen on ${this.host}:${this.port}: ${describeError(err)}`);
    }
    server.on('error', (err) => this.onError(err));
    this.listening = true;
  }

  /** The bound address (after `start`); with port 0 this is where clients should connect. */
  address(): { host: string; port: number } {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a || typeof a !== 'object') throw new Error(`source ${this.name} is not listening`);
    return { host: a.address, port: a.port };
  }

  async commit(_position: SourcePosition): Promise<void> {}

  /**
   * Stop accepting, close every connection (an unterminated partial line is discarded: it was not
   * fully received), deliver every complete line already received, then resolve.
   */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  isReady(): boolean {
    return this.listening && !this.stopping;
  }

  stats(): {
    connections: number;
    accepted: number;
    dropped: number;
    queuedRecords: number;
    queuedBytes: number;
    paused: boolean;
    partialLineBytes: number;
    partialLinesDiscarded: number;
  } {
    let partialLineBytes = 0;
    for (const conn of this.conns) partialLineBytes += conn.splitter.pendingBytes;
    return {
      connections: this.conns.size,
      accepted: this.accepted,
      dropped: this.dropped,
      queuedRecords: this.queue.length - this.head,
      queuedBytes: this.queuedBytes,
      paused: this.paused,
      partialLineBytes,
      partialLinesDiscarded: this.partialLinesDiscarded,
    };
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.listening = false;
    if (!this.started) {
      this.done.resolve();
      return;
    }
    this.closeIntake();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (!this.failed) {
      if (this.pumping) await this.pumping;
      else if (this.queue.length > this.head) this.startPump();
      else break;
    }
    this.done.resolve();
  }

  private closeIntake(): void {
    const server = this.server;
    if (server?.listening) server.close(() => undefined);
    for (const conn of this.conns) {
      const pending = conn.splitter.pendingBytes;
      if (pending > 0) this.partialLinesDiscarded++;
      conn.socket.destroy();
    }
  }

  private accept(socket: Socket): void {
    const origin = formatOrigin(socket.remoteAddress, socket.remotePort);
    if (this.stopping) {
      this.dropped++;
      this.onEvent({ type: 'dropped', origin, reason: 'stopping' });
      socket.destroy();
      return;
    }
    this.accepted++;
    const conn: Connection = {
      socket,
      origin,
      splitter: new LineSplitter({
        origin,
        ...(this.maxLineBytes !== undefined ? { maxLineBytes: this.maxLineBytes } : {}),
      }),
    };
    this.conns.add(conn);
    if (this.paused) socket.pause();
    this.onEvent({ type: 'connected', origin, connections: this.conns.size });

    socket.on('data', (chunk: Buffer) => {
      if (this.stopping) return;
      const records = conn.splitter.push(chunk);
      if (records.length > 0) this.enqueue(records);
    });
    socket.on('error', (err) => {
      this.onError(new Error(`${origin}: ${describeError(err)}`));
    });
    socket.on('close', () => {
      this.conns.delete(conn);
      const partial = conn.splitter.pendingBytes;
      if (!this.stopping) {
        // The sender closed mid-line: hand over what we have (it will likely fail to parse and be dead-lettered).
        const rest = conn.splitter.end();
        if (rest.length > 0) this.enqueue(rest);
      }
      this.onEvent({ type: 'disconnected', origin, connections: this.conns.size, partialLineBytes: partial });
    });
  }

  private enqueue(records: RawRecord[]): void {
    let bytes = 0;
    for (const r of records) {
      this.queue.push(r);
      bytes += r.line.length;
    }
    this.queuedBytes += bytes;
    if (!this.paused && this.queuedBytes >= this.maxQueuedBytes) this.setPaused(true);
    this.schedule();
  }

  private schedule(): void {
    if (this.pumping || this.failed || this.stopping) return;
    const n = this.queue.length - this.head;
    if (n === 0) return;
    if (n >= this.maxBatchRecords) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.startPump();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.pumping) this.startPump();
      }, this.batchDelayMs);
    }
  }

  private startPump(): void {
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
      this.schedule();
    });
  }

  private async pump(): Promise<void> {
    const handler = this.handler as BatchHandler;
    while (!this.failed) {
      const n = this.queue.length - this.head;
      if (n === 0) return;
      const take = Math.min(n, this.maxBatchRecords);
      const records = this.queue.slice(this.head, this.head + take);
      this.head += take;
      if (this.head === this.queue.length) {
        this.queue = [];
        this.head = 0;
      } else if (this.head >= 4096 && this.head * 2 >= this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      let bytes = 0;
      for (const r of records) bytes += r.line.length;
      this.queuedBytes -= bytes;
      if (this.paused && !this.stopping && this.queuedBytes <= this.maxQueuedBytes / 2) this.setPaused(false);
      try {
        await handler(batch(this.name, records));
      } catch (err) {
        this.fail(err);
        return;
      }
    }
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    for (const conn of this.conns) {
      if (paused) conn.socket.pause();
      else conn.socket.resume();
    }
  }

  /** The handler failed: stop intake and reject `finished` with its error. */
  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.stopping = true;
    this.listening = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.closeIntake();
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.done.reject(toError(err));
  }
}

function formatOrigin(address: string | undefined, port: number | undefined): string {
  const host = address === undefined ? 'unknown' : address.includes(':') ? `[${address}]` : address;
  return `socket:${host}:${port ?? 0}`;
}
