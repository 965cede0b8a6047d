/**
 * When each identity was first and last seen, across every detector. Detectors see only the events
 * their filter matches; this is how one of them can tell "an identity with weeks of history doing this
 * for the first time" (anomalous at volume) from "an identity that is new" (still learning).
 * One small entry per identity; identities idle past the retention are forgotten.
 */
export interface IdentityHistory {
  /** Event time the identity was first seen, or undefined. */
  firstSeen(key: string): number | undefined;
}

export interface IdentityRegistrySnapshot {
  /** [key, firstSeen, lastSeen] */
  ids: [string, number, number][];
  sweep: number;
}

interface Seen {
  first: number;
  last: number;
}

export class IdentityRegistry implements IdentityHistory {
  private readonly seen = new Map<string, Seen>();
  private lastSweep = 0;

  constructor(private readonly retentionMs = 90 * 86_400_000) {}

  observe(key: string, at: number): void {
    const s = this.seen.get(key);
    if (s === undefined) this.seen.set(key, { first: at, last: at });
    else if (at > s.last) s.last = at;
    else if (at < s.first) s.first = at;
  }

  firstSeen(key: string): number | undefined {
    return this.seen.get(key)?.first;
  }

  get size(): number {
    return this.seen.size;
  }

  /** Forget identities idle past the retention (at most once an hour of event time). */
  sweep(now: number): void {
    if (now - this.lastSweep < 3_600_000) return;
    this.lastSweep = now;
    for (const [key, s] of this.seen) if (s.last < now - this.retentionMs) this.seen.delete(key);
  }

  snapshot(): IdentityRegistrySnapshot {
    return { ids: [...this.seen].map(([k, s]) => [k, s.first, s.last]), sweep: this.lastSweep };
  }

  restore(snapshot: IdentityRegistrySnapshot): void {
    this.seen.clear();
    for (const [k, first, last] of snapshot.ids) this.seen.set(k, { first, last });
    this.lastSweep = snapshot.sweep;
  }
}
