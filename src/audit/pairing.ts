import type { AccessEvent } from './event.js';
import type { AuditEntry } from './entry.js';
import { parseAuditLine } from './entry.js';
import { toAccessEvent } from './classify.js';

/** A request entry kept unparsed until it turns out to be needed (its response never came). */
interface RawRequest {
  raw: Buffer;
  origin: string;
  time: number;
  requestId: string;
}

type Waiting = AuditEntry | RawRequest;

const isRaw = (w: Waiting): w is RawRequest => (w as RawRequest).raw !== undefined;

/** Receives a kept request line that turned out to be malformed when it was finally parsed. */
export type InvalidRequest = (raw: Buffer, origin: string, reason: string) => void;

export interface PairerOptions {
  /** How long (event time) a request waits for its response before it is accounted for alone. */
  responseTimeoutMs: number;
  /** How long ids of finished accesses are remembered, so a late or duplicated half is not counted twice. */
  rememberMs: number;
  /** Bound on waiting requests; the oldest are accounted for alone beyond it. */
  maxPending: number;
  /** Bound on remembered ids. */
  maxRemembered: number;
}

export const DEFAULT_PAIRER_OPTIONS: PairerOptions = {
  responseTimeoutMs: 60_000,
  rememberMs: 2 * 60_000,
  maxPending: 50_000,
  maxRemembered: 100_000,
};

export interface PairerStats {
  pairs: number;
  requestOnly: number;
  responseOnly: number;
  duplicates: number;
}

export interface PairerSnapshot {
  pending: AuditEntry[];
  /** [requestId, time] of finished accesses, oldest first. */
  done: [string, number][];
}

/**
 * First-in-first-out list of ids with the time each was added. Expiry pops from the head in O(1);
 * (a Map's insertion order would do the same, but deleting from a Map's front again and again makes
 * its iteration skip ever more holes until it rehashes.)
 */
class IdQueue {
  private ids: string[] = [];
  private times: number[] = [];
  private head = 0;

  push(id: string, at: number): void {
    this.ids.push(id);
    this.times.push(at);
  }

  get length(): number {
    return this.ids.length - this.head;
  }

  peekTime(): number | undefined {
    return this.head < this.ids.length ? this.times[this.head] : undefined;
  }

  shift(): string | undefined {
    if (this.head >= this.ids.length) return undefined;
    const id = this.ids[this.head];
    this.head++;
    if (this.head > 4096 && this.head * 2 > this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return id;
  }

  clear(): void {
    this.ids = [];
    this.times = [];
    this.head = 0;
  }
}

/**
 * A request and its response are one access. Requests wait here (keyed by request id) until their
 * response arrives; a response without a waiting request stands alone; a request whose response
 * never comes is accounted for after `responseTimeoutMs` of event time. Ids of finished accesses
 * are remembered for a while so that a duplicated or late half is not counted again.
 */
export class Pairer {
  private readonly pending = new Map<string, Waiting>();
  private readonly pendingOrder = new IdQueue();
  private readonly done = new Map<string, number>();
  private readonly doneOrder = new IdQueue();
  readonly stats: PairerStats = { pairs: 0, requestOnly: 0, responseOnly: 0, duplicates: 0 };

  /** Set by the pipeline: where kept request lines that fail to parse go (dead letter). */
  onInvalid: InvalidRequest = () => {};
  /** Raw requests whose line is still a view into the source's read buffer (see detach). */
  private views: RawRequest[] = [];

  constructor(private readonly options: PairerOptions = DEFAULT_PAIRER_OPTIONS) {}

  /**
   * A request entry recognised without parsing (see peekRequest): kept raw, since its response
   * normally carries everything; parsed only if the response never comes. `raw` may be a view into
   * a reused read buffer: call `detach()` before that buffer is reused.
   */
  pushRawRequest(id: string, time: number, raw: Buffer, origin: string): AccessEvent | undefined {
    if (this.done.has(id) || this.pending.has(id)) {
      this.stats.duplicates++;
      return undefined;
    }
    const waiting: RawRequest = { raw, origin, time, requestId: id };
    this.views.push(waiting);
    this.pending.set(id, waiting);
    this.pendingOrder.push(id, time);
    return this.pending.size > this.options.maxPending ? this.evictOldest() : undefined;
  }

  /** Feed one entry; returns the finished access, if this entry finished one. */
  push(entry: AuditEntry): AccessEvent | undefined {
    const id = entry.requestId;
    if (!id) {
      // Without an id nothing can be paired; count the half we have.
      if (entry.type === 'request') this.stats.requestOnly++;
      else this.stats.responseOnly++;
      return entry.type === 'request' ? toAccessEvent(entry, undefined) : toAccessEvent(undefined, entry);
    }
    if (this.done.has(id)) {
      this.stats.duplicates++;
      return undefined;
    }
    if (entry.type === 'request') {
      if (this.pending.has(id)) {
        this.stats.duplicates++;
        return undefined;
      }
      this.pending.set(id, entry);
      this.pendingOrder.push(id, entry.time);
      return this.pending.size > this.options.maxPending ? this.evictOldest() : undefined;
    }
    const request = this.pending.get(id);
    this.remember(id, entry.time);
    if (request) {
      this.pending.delete(id);
      this.stats.pairs++;
      if (!isRaw(request)) return toAccessEvent(request, entry);
      // The response repeats the request and its auth: it is all that is needed.
      const event = toAccessEvent(undefined, entry);
      event.entries = 'pair';
      return event;
    }
    this.stats.responseOnly++;
    return toAccessEvent(undefined, entry);
  }

  /**
   * Copy the lines of requests still waiting out of the source's buffer. Most requests meet their
   * response within the same batch and are never copied; the rest must not pin the read buffer.
   */
  detach(): void {
    for (const w of this.views) if (this.pending.get(w.requestId) === w) w.raw = Buffer.from(w.raw);
    this.views.length = 0;
  }

  /** Account for requests older than the timeout at `watermark` (event time), oldest first. */
  expire(watermark: number, out: AccessEvent[]): void {
    const limit = watermark - this.options.responseTimeoutMs;
    for (;;) {
      const t = this.pendingOrder.peekTime();
      if (t === undefined || t > limit) break;
      const id = this.pendingOrder.shift() as string;
      const request = this.pending.get(id);
      // Already paired (or evicted): nothing left to account for.
      if (!request || request.time !== t) continue;
      this.pending.delete(id);
      this.remember(id, request.time);
      const event = this.alone(request);
      if (event) out.push(event);
    }
    const forget = watermark - this.options.rememberMs;
    for (;;) {
      const t = this.doneOrder.peekTime();
      if (t === undefined || t > forget) break;
      this.forgetOne();
    }
  }

  /** Account for every waiting request now (end of a replay). */
  flush(out: AccessEvent[]): void {
    this.expire(Number.POSITIVE_INFINITY, out);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Waiting requests are saved parsed (raw lines hold HMACs and, with log_raw, secrets). */
  snapshot(): PairerSnapshot {
    const pending: AuditEntry[] = [];
    for (const w of this.pending.values()) {
      if (!isRaw(w)) pending.push(w);
      else {
        const parsed = parseAuditLine(w.raw);
        if (parsed.ok) pending.push(parsed.entry);
      }
    }
    return { pending, done: [...this.done.entries()] };
  }

  restore(snapshot: PairerSnapshot): void {
    this.pending.clear();
    this.done.clear();
    this.pendingOrder.clear();
    this.doneOrder.clear();
    for (const entry of snapshot.pending) {
      this.pending.set(entry.requestId, entry);
      this.pendingOrder.push(entry.requestId, entry.time);
    }
    for (const [id, at] of snapshot.done) {
      this.done.set(id, at);
      this.doneOrder.push(id, at);
    }
  }

  private evictOldest(): AccessEvent | undefined {
    while (this.pendingOrder.length > 0) {
      const t = this.pendingOrder.peekTime();
      const id = this.pendingOrder.shift() as string;
      const request = this.pending.get(id);
      if (!request || request.time !== t) continue;
      this.pending.delete(id);
      this.remember(id, request.time);
      return this.alone(request);
    }
    return undefined;
  }

  /** A request whose response never came, accounted for on its own. */
  private alone(request: Waiting): AccessEvent | undefined {
    let entry: AuditEntry;
    if (isRaw(request)) {
      const parsed = parseAuditLine(request.raw);
      if (!parsed.ok) {
        this.onInvalid(request.raw, request.origin, parsed.reason);
        return undefined;
      }
      entry = parsed.entry;
    } else {
      entry = request;
    }
    this.stats.requestOnly++;
    return toAccessEvent(entry, undefined);
  }

  private remember(id: string, at: number): void {
    this.done.set(id, at);
    this.doneOrder.push(id, at);
    while (this.done.size > this.options.maxRemembered && this.doneOrder.length > 0) this.forgetOne();
  }

  /** Forget the oldest remembered id (if it was not remembered again since). */
  private forgetOne(): void {
    const t = this.doneOrder.peekTime();
    const id = this.doneOrder.shift();
    if (id !== undefined && this.done.get(id) === t) this.done.delete(id);
  }
}
