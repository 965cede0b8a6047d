import type { Identity } from './event.js';
import { parseAuditLine, peekRequest, type AuditEntry, type ParseResult } from './entry.js';

/**
 * How a batch of parsed audit lines crosses from the parse worker to the pipeline thread.
 *
 * Parsing is the one stateless, expensive step of the pipeline, so it can run ahead on another
 * thread; but handing a parsed object across threads (structured clone) costs most of what parsing
 * it did. The batch therefore travels as one JSON string of compact results, and the caller's
 * identity, the largest and most repetitive part of an entry, is sent once and then referred to by
 * number. Decoding a batch costs a fraction of parsing its lines. Both sides are pure and tested
 * without threads; ./parse-worker.ts and ./parse-ahead.ts only move the messages.
 */

/** One line's result: a request recognised without parsing, a parsed entry, or why it is bad. */
export type Preparsed =
  { kind: 'request'; id: string; time: number } | { kind: 'entry'; result: ParseResult };

/** The wire form of one line's result. */
type WireResult =
  /** A request recognised by peekRequest: [request id, time]. */
  | [string, number]
  /** Not an audit entry Vigil can use: the reason. */
  | string
  /** A parsed entry whose `identity` is an index into the identity table. */
  | WireEntry;

type WireEntry = Omit<AuditEntry, 'identity'> & { identity: number };

export interface WireBatch {
  /** The receiver's identity table must be emptied before `identities` are added. */
  reset: boolean;
  /** Identities first seen in this batch, numbered on from the receiver's table. */
  identities: Identity[];
  /** JSON array of WireResult, one per line, in order. */
  results: string;
}

/** Sender side (the worker): parses lines and numbers identities. */
export class WireEncoder {
  /**
   * Identities sent so far under their baseline key and token: usually one, compared field by field
   * (cheaper than serialising every identity to look it up).
   */
  private readonly sent = new Map<string, { identity: Identity; n: number }[]>();
  private count = 0;

  /** At most this many identities are remembered; then both tables start afresh. */
  constructor(private readonly maxIdentities = 100_000) {}

  encode(lines: readonly Buffer[]): WireBatch {
    let reset = false;
    if (this.count >= this.maxIdentities) {
      this.sent.clear();
      this.count = 0;
      reset = true;
    }
    const identities: Identity[] = [];
    const results: WireResult[] = new Array<WireResult>(lines.length);
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as Buffer;
      const peek = peekRequest(line);
      if (peek) {
        results[i] = [peek.id, peek.time];
        continue;
      }
      const parsed = parseAuditLine(line);
      if (!parsed.ok) {
        results[i] = parsed.reason;
        continue;
      }
      const identity = parsed.entry.identity;
      const key = `${identity.key}\u0000${identity.tokenRef ?? ''}`;
      let known = this.sent.get(key);
      let n = known?.find((k) => sameValue(k.identity, identity))?.n;
      if (n === undefined) {
        n = this.count++;
        if (!known) this.sent.set(key, (known = []));
        known.push({ identity, n });
        identities.push(identity);
      }
      // The entry is this batch's own: it travels with its identity's number in place of the identity.
      (parsed.entry as unknown as WireEntry).identity = n;
      results[i] = parsed.entry as unknown as WireEntry;
    }
    return { reset, identities, results: JSON.stringify(results) };
  }
}

/** Receiver side (the pipeline thread): rebuilds each line's result. */
export class WireDecoder {
  private identities: Identity[] = [];

  decode(batch: WireBatch): Preparsed[] {
    if (batch.reset) this.identities = [];
    // Identities are shared by every entry that refers to them; nothing downstream mutates an
    // identity (classification copies before it changes one), and freezing makes sure of it.
    for (const identity of batch.identities) this.identities.push(deepFreeze(identity));
    const wire = JSON.parse(batch.results) as WireResult[];
    const out = new Array<Preparsed>(wire.length);
    for (let i = 0; i < wire.length; i++) {
      const r = wire[i] as WireResult;
      if (typeof r === 'string') {
        out[i] = { kind: 'entry', result: { ok: false, reason: r } };
      } else if (Array.isArray(r)) {
        out[i] = { kind: 'request', id: r[0], time: r[1] };
      } else {
        const identity = this.identities[r.identity];
        if (identity === undefined) throw new Error(`parse wire: unknown identity ${r.identity}`);
        const entry = r as unknown as AuditEntry;
        entry.identity = identity;
        out[i] = { kind: 'entry', result: { ok: true, entry } };
      }
    }
    return out;
  }
}

/** Structural equality of JSON-like values (identities: strings, booleans, arrays, small objects). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
