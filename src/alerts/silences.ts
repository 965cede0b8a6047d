import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import picomatch from 'picomatch';
import { z } from 'zod';
import { compileCidrs, inCidrs } from '../baseline/stats/network.js';
import type { SilenceConfig } from '../config/schema.js';
import { writeFileAtomicSync } from '../store/atomic.js';
import type { Alert } from './alert.js';

/** Who/what a silence applies to. Every given matcher must match; within a matcher, any value. */
export interface SilenceMatchers {
  /** Detector id globs. */
  detector?: string[];
  /** Globs on the identity key (`entity:...`, `name:...`) or display name. */
  identity?: string[];
  /** Globs on any of the alert's paths. */
  path?: string[];
  /** CIDRs containing any of the alert's source addresses. */
  source_cidr?: string[];
  environment?: string[];
}

export interface Silence {
  id: string;
  matchers: SilenceMatchers;
  startsAt: string;
  endsAt: string;
  author: string;
  reason: string;
  createdAt: string;
  /** `config` silences come from configuration files and cannot be expired from the CLI. */
  origin: 'cli' | 'config';
}

const silenceFileSchema = z.object({
  version: z.literal(1),
  silences: z.array(
    z.object({
      id: z.string(),
      matchers: z.object({
        detector: z.array(z.string()).optional(),
        identity: z.array(z.string()).optional(),
        path: z.array(z.string()).optional(),
        source_cidr: z.array(z.string()).optional(),
        environment: z.array(z.string()).optional(),
      }),
      startsAt: z.string(),
      endsAt: z.string(),
      author: z.string(),
      reason: z.string(),
      createdAt: z.string(),
      origin: z.enum(['cli', 'config']),
    }),
  ),
});

/** Compiled matcher: true when the silence applies to the alert (time is checked separately). */
export function compileMatchers(m: SilenceMatchers): (alert: Alert) => boolean {
  const checks: ((a: Alert) => boolean)[] = [];
  const glob = (patterns: string[]) => {
    const ms = patterns.map((p) => picomatch(p, { dot: true }));
    return (v: string | undefined) => v !== undefined && ms.some((fn) => fn(v));
  };
  if (m.detector?.length) {
    const g = glob(m.detector);
    checks.push((a) => g(a.detector));
  }
  if (m.identity?.length) {
    const g = glob(m.identity);
    checks.push((a) => g(a.identity?.key) || g(a.identity?.displayName) || g(a.identity?.entityId));
  }
  if (m.path?.length) {
    const g = glob(m.path);
    checks.push((a) => a.paths.some((p) => g(p)));
  }
  if (m.source_cidr?.length) {
    const cidrs = compileCidrs(m.source_cidr);
    checks.push((a) => a.sourceAddresses.some((s) => inCidrs(s, cidrs)));
  }
  if (m.environment?.length) {
    const set = new Set(m.environment);
    checks.push((a) => a.environment !== undefined && set.has(a.environment));
  }
  return (a) => checks.every((c) => c(a));
}

export function validateMatchers(m: SilenceMatchers): void {
  const keys = Object.values(m).filter((v) => Array.isArray(v) && v.length > 0);
  if (keys.length === 0)
    throw new Error(
      'a silence needs at least one matcher (detector, identity, path, source CIDR or environment)',
    );
  compileMatchers(m); // throws on a bad CIDR
}

export function silenceFromConfig(c: SilenceConfig): Silence {
  const body = JSON.stringify([c.matchers, c.starts_at, c.ends_at, c.author, c.reason]);
  return {
    id: c.id ?? `cfg-${createHash('sha256').update(body).digest('hex').slice(0, 10)}`,
    matchers: c.matchers,
    startsAt: c.starts_at ?? new Date(0).toISOString(),
    endsAt: c.ends_at,
    author: c.author,
    reason: c.reason,
    createdAt: c.starts_at ?? new Date(0).toISOString(),
    origin: 'config',
  };
}

/**
 * Silences in effect: those from configuration plus those created with `vigil silence add`, kept in
 * `<state>/silences.json` (written atomically, so the CLI and a running daemon can share it).
 */
export class SilenceStore {
  readonly path: string;
  private cli: Silence[] = [];
  private compiled = new Map<string, (a: Alert) => boolean>();
  private mtime = -1;

  constructor(
    stateDir: string,
    private fromConfig: Silence[] = [],
  ) {
    this.path = join(stateDir, 'silences.json');
    this.reload();
  }

  /** Re-read the file if it changed; returns true when it did. Invalid content keeps the old set. */
  reload(): boolean {
    if (!existsSync(this.path)) {
      const changed = this.cli.length > 0;
      this.cli = [];
      this.recompile();
      return changed;
    }
    const text = readFileSync(this.path, 'utf8');
    const parsed = silenceFileSchema.parse(JSON.parse(text));
    this.cli = parsed.silences as Silence[];
    this.recompile();
    return true;
  }

  /** Reload when the file's modification time changed since the last look. */
  reloadIfChanged(statMtimeMs: number): boolean {
    if (statMtimeMs === this.mtime) return false;
    this.mtime = statMtimeMs;
    return this.reload();
  }

  /** Configuration reload: replace the silences that come from configuration. */
  setConfigSilences(silences: Silence[]): void {
    this.fromConfig = silences;
    this.recompile();
  }

  all(): Silence[] {
    return [...this.fromConfig, ...this.cli];
  }

  /** The first silence active at `at` (event time) that matches the alert. */
  match(alert: Alert, at: number): Silence | undefined {
    for (const s of this.all()) {
      if (Date.parse(s.startsAt) > at || Date.parse(s.endsAt) <= at) continue;
      if (this.compiled.get(s.id)?.(alert)) return s;
    }
    return undefined;
  }

  add(
    input: { matchers: SilenceMatchers; startsAt?: string; endsAt: string; author: string; reason: string },
    now = Date.now(),
  ): Silence {
    validateMatchers(input.matchers);
    if (Number.isNaN(Date.parse(input.endsAt))) throw new Error(`end time "${input.endsAt}" is not a date`);
    const startsAt = input.startsAt ?? new Date(now).toISOString();
    if (Date.parse(input.endsAt) <= Date.parse(startsAt))
      throw new Error('a silence must end after it starts');
    if (input.reason.trim().length < 3) throw new Error('give a reason (at least 3 characters)');
    const silence: Silence = {
      id: `sil-${randomUUID().slice(0, 8)}`,
      matchers: input.matchers,
      startsAt,
      endsAt: new Date(Date.parse(input.endsAt)).toISOString(),
      author: input.author,
      reason: input.reason.trim(),
      createdAt: new Date(now).toISOString(),
      origin: 'cli',
    };
    this.cli.push(silence);
    this.save();
    return silence;
  }

  /** End a CLI silence now. Returns it, or undefined when no such silence exists. */
  expire(id: string, now = Date.now()): Silence | undefined {
    if (this.fromConfig.some((s) => s.id === id))
      throw new Error(`${id} comes from configuration; remove it there`);
    const s = this.cli.find((x) => x.id === id);
    if (!s) return undefined;
    s.endsAt = new Date(Math.min(now, Date.parse(s.endsAt))).toISOString();
    this.save();
    return s;
  }

  private save(): void {
    writeFileAtomicSync(this.path, JSON.stringify({ version: 1, silences: this.cli }, null, 2) + '\n');
    this.recompile();
  }

  private recompile(): void {
    this.compiled = new Map(this.all().map((s) => [s.id, compileMatchers(s.matchers)]));
  }
}
