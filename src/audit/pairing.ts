import type { AccessEvent } from './event.js';
import type { AuditEntry } from './entry.js';
import { toAccessEvent } from './classify.js';

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
  maxPending: 200_000,
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
 * A request and its response are one access. Requests wait here (keyed by request id) until their
 * response arrives; a response without a waiting request stands alone; a request whose response
 * never comes is accounted for after `responseTimeoutMs` of event time. Both maps are insertion-
 * ordered, so the oldest entries are at the front and expiry is a cheap scan from the head.
 */
export class Pairer {
  private readonly pending = new Map<string, AuditEntry>();
  private readonly done = new Map<string, number>();
  readonly stats: PairerStats = { pairs: 0, requestOnly: 0, responseOnly: 0, duplicates: 0 };

  constructor(private readonly options: PairerOptions = DEFAULT_PAIRER_OPTIONS) {}

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
      if (this.pending.size > this.options.maxPending) return this.evictOldest();
      return undefined;
    }
    const request = this.pending.get(id);
    this.remember(id, entry.time);
    if (request) {
      this.pending.delete(id);
      this.stats.pairs++;
      return toAccessEvent(request, entry);
    }
    this.stats.responseOnly++;
    return toAccessEvent(undefined, entry);
  }

  /** Account for requests older than the timeout at `watermark` (event time), oldest first. */
  expire(watermark: number, out: AccessEvent[]): void {
    const limit = watermark - this.options.responseTimeoutMs;
    for (const [id, request] of this.pending) {
      if (request.time > limit) break;
      this.pending.delete(id);
      this.remember(id, request.time);
      this.stats.requestOnly++;
      out.push(toAccessEvent(request, undefined));
    }
    const forget = watermark - this.options.rememberMs;
    for (const [id, at] of this.done) {
      if (at > forget) break;
      this.done.delete(id);
    }
  }

  /** Account for every waiting request now (end of a replay). */
  flush(out: AccessEvent[]): void {
    this.expire(Number.POSITIVE_INFINITY, out);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  snapshot(): PairerSnapshot {
    return { pending: [...this.pending.values()], done: [...this.done.entries()] };
  }

  restore(snapshot: PairerSnapshot): void {
    this.pending.clear();
    this.done.clear();
    for (const entry of snapshot.pending) this.pending.set(entry.requestId, entry);
    for (const [id, at] of snapshot.done) this.done.set(id, at);
  }

  private evictOldest(): AccessEvent | undefined {
    const first = this.pending.entries().next();
    if (first.done) return undefined;
    const [id, request] = first.value;
    this.pending.delete(id);
    this.remember(id, request.time);
    this.stats.requestOnly++;
    return toAccessEvent(request, undefined);
  }

  private remember(id: string, at: number): void {
    this.done.set(id, at);
    if (this.done.size > this.options.maxRemembered) {
      const oldest = this.done.keys().next();
      if (!oldest.done) this.done.delete(oldest.value);
    }
  }
}
