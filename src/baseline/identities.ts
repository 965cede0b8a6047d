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

export class IdentityRegistry implements IdentityHistory {
  private readonly first = new Map<string, number>();
  private readonly last = new Map<string, number>();
  private lastSweep = 0;

  constructor(private readonly retentionMs = 90 * 86_400_000) {}

  observe(key: string, at: number): void {
    const first = this.first.get(key);
    if (first === undefined || at < first) this.first.set(key, at);
    const last = this.last.get(key);
    if (last === undefined || at > last) this.last.set(key, at);
  }

  firstSeen(key: string): number | undefined {
    return this.first.get(key);
  }

  get size(): number {
    return this.first.size;
  }

  /** Forget identities idle past the retention (at most once an hour of event time). */
  sweep(now: number): void {
    if (now - this.lastSweep < 3_600_000) return;
    this.lastSweep = now;
    for (const [key, last] of this.last) {
      if (last < now - this.retentionMs) {
        this.last.delete(key);
        this.first.delete(key);
      }
    }
  }

  snapshot(): IdentityRegistrySnapshot {
    return { ids: [...this.first].map(([k, f]) => [k, f, this.last.get(k) ?? f]), sweep: this.lastSweep };
  }

  restore(s: IdentityRegistrySnapshot): void {
    this.first.clear();
    this.last.clear();
    for (const [k, f, l] of s.ids) {
      this.first.set(k, f);
      this.last.set(k, l);
    }
    this.lastSweep = s.sweep;
  }
}
