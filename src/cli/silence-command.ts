import { userInfo } from 'node:os';
import { SilenceStore, silenceFromConfig, type Silence, type SilenceMatchers } from '../alerts/silences.js';
import { loadConfig } from '../config/load.js';
import { parseDuration } from '../util/duration.js';
import { EXIT, UsageError } from './exit.js';

interface Common {
  config?: string;
  env?: string;
}

function store(opts: Common): SilenceStore {
  const { config } = loadConfig({ file: opts.config, environment: opts.env });
  return new SilenceStore(config.state.dir, config.silences.map(silenceFromConfig));
}

export interface SilenceAddOptions extends Common {
  detector?: string[];
  identity?: string[];
  path?: string[];
  sourceCidr?: string[];
  environment?: string[];
  duration?: string;
  until?: string;
  author?: string;
  reason: string;
}

export function silenceAdd(opts: SilenceAddOptions): number {
  const matchers: SilenceMatchers = {};
  if (opts.detector?.length) matchers.detector = opts.detector;
  if (opts.identity?.length) matchers.identity = opts.identity;
  if (opts.path?.length) matchers.path = opts.path;
  if (opts.sourceCidr?.length) matchers.source_cidr = opts.sourceCidr;
  if (opts.environment?.length) matchers.environment = opts.environment;
  let endsAt: string;
  if (opts.until) {
    endsAt = opts.until;
  } else {
    const ms = parseDuration(opts.duration ?? '');
    if (ms === undefined || ms <= 0) throw new UsageError('give --duration (e.g. 2h) or --until <ISO time>');
    endsAt = new Date(Date.now() + ms).toISOString();
  }
  try {
    const s = store(opts).add({
      matchers,
      endsAt,
      author: opts.author ?? userInfo().username,
      reason: opts.reason,
    });
    console.log(`${s.id} silences ${describe(s)} until ${s.endsAt}`);
    return EXIT.OK;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function silenceList(opts: Common & { all?: boolean; json?: boolean }): number {
  const now = Date.now();
  const list = store(opts)
    .all()
    .filter((s) => opts.all || Date.parse(s.endsAt) > now);
  if (opts.json) {
    console.log(JSON.stringify(list, null, 2));
    return EXIT.OK;
  }
  if (list.length === 0) {
    console.log(opts.all ? 'no silences' : 'no active silences (--all shows expired ones)');
    return EXIT.OK;
  }
  for (const s of list) {
    const state =
      Date.parse(s.endsAt) <= now ? 'expired' : Date.parse(s.startsAt) > now ? 'pending' : 'active';
    console.log(
      `${s.id}  ${state.padEnd(7)}  until ${s.endsAt}  by ${s.author}${s.origin === 'config' ? ' (config)' : ''}`,
    );
    console.log(`    ${describe(s)} — ${s.reason}`);
  }
  return EXIT.OK;
}

export function silenceExpire(id: string, opts: Common): number {
  let s: Silence | undefined;
  try {
    s = store(opts).expire(id);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!s) throw new UsageError(`no silence with id ${id} (see vigil silence list --all)`);
  console.log(`${s.id} expired at ${s.endsAt}`);
  return EXIT.OK;
}

function describe(s: Silence): string {
  const m = s.matchers;
  const parts: string[] = [];
  if (m.detector) parts.push(`detector ${m.detector.join('|')}`);
  if (m.identity) parts.push(`identity ${m.identity.join('|')}`);
  if (m.path) parts.push(`path ${m.path.join('|')}`);
  if (m.source_cidr) parts.push(`source ${m.source_cidr.join('|')}`);
  if (m.environment) parts.push(`environment ${m.environment.join('|')}`);
  return parts.join(', ');
}
