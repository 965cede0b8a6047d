import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { generate, parseScenarioList, resolveSimOptions, validateSimOptions } from './generate.js';
import type { SimOptions } from './world.js';
import { parseStart } from './time.js';

/** Options of `vigil simulate` as commander hands them over (strings or already-parsed values). */
export interface SimulateCommandOptions {
  out: string;
  seed?: string | number;
  days?: string | number;
  identities?: string | number;
  start?: string;
  timeZone?: string;
  /** `all`, `none` or a comma-separated list of kinds. */
  scenarios?: string;
  intensity?: string | number;
  /** Instances per scenario kind (default 4). */
  perKind?: string | number;
  warmupDays?: string | number;
  flavor?: string;
  namespace?: string;
  /** Progress on stderr (default: when stderr is a terminal). */
  progress?: boolean;
}

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

function num(name: string, v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name}: "${String(v)}" is not a number`);
  return n;
}

/** Turn command options into generator options; throws with a one-line reason on bad input. */
export function simOptionsFrom(opts: SimulateCommandOptions): Partial<SimOptions> {
  const o: Partial<SimOptions> = {};
  const seed = num('seed', opts.seed);
  const days = num('days', opts.days);
  const identities = num('identities', opts.identities);
  const intensity = num('intensity', opts.intensity);
  const perKind = num('per-kind', opts.perKind);
  const warmupDays = num('warmup-days', opts.warmupDays);
  if (seed !== undefined) o.seed = seed;
  if (days !== undefined) o.days = days;
  if (identities !== undefined) o.identities = identities;
  if (intensity !== undefined) o.intensity = intensity;
  if (perKind !== undefined) o.perKind = perKind;
  if (warmupDays !== undefined) o.warmupDays = warmupDays;
  if (opts.start !== undefined) o.start = parseStart(opts.start);
  if (opts.timeZone !== undefined) o.timeZone = opts.timeZone;
  if (opts.scenarios !== undefined) o.scenarios = parseScenarioList(opts.scenarios);
  if (opts.flavor !== undefined) {
    if (opts.flavor !== 'vault' && opts.flavor !== 'openbao')
      throw new Error(`--flavor: use vault or openbao`);
    o.flavor = opts.flavor;
  }
  if (opts.namespace !== undefined && opts.namespace !== '') o.namespace = opts.namespace;
  return o;
}

const fmt = (n: number) => n.toLocaleString('en');
const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

/**
 * `vigil simulate`: write a labelled, realistic audit log (see src/simulate/README.md). Returns the
 * process exit code; prints what it wrote.
 */
export async function runSimulate(opts: SimulateCommandOptions): Promise<number> {
  if (!opts.out) {
    console.error('vigil: simulate needs --out <file>');
    return EXIT_USAGE;
  }
  let sim: SimOptions;
  try {
    sim = resolveSimOptions(simOptionsFrom(opts));
    const problems = validateSimOptions(sim);
    if (problems.length) throw new Error(problems.join('; '));
  } catch (err) {
    console.error(`vigil: simulate: ${(err as Error).message}`);
    return EXIT_USAGE;
  }
  const showProgress = opts.progress ?? Boolean(process.stderr.isTTY);
  try {
    mkdirSync(dirname(opts.out), { recursive: true });
    const result = await generate({
      ...sim,
      out: opts.out,
      ...(showProgress
        ? {
            onProgress: (p: { simulatedUntil: number; lines: number; bytes: number }) =>
              process.stderr.write(
                `\r\x1b[K  simulating… ${new Date(p.simulatedUntil).toISOString().slice(0, 16)}Z  ${fmt(p.lines)} lines`,
              ),
          }
        : {}),
    });
    if (showProgress) process.stderr.write('\r\x1b[K');
    const l = result.labels;
    const secs = Math.max(result.elapsedMs / 1000, 0.001);
    const byRole = new Map<string, number>();
    for (const i of l.identities) byRole.set(i.role, (byRole.get(i.role) ?? 0) + 1);
    const byKind = new Map<string, number>();
    for (const s of l.scenarios) byKind.set(s.kind, (byKind.get(s.kind) ?? 0) + 1);
    process.stdout.write(
      [
        `Wrote ${opts.out}: ${fmt(result.lines)} lines (${fmt(l.stats.accesses)} accesses), ${mib(result.bytes)}` +
          (result.fileBytes !== result.bytes ? ` (${mib(result.fileBytes)} on disk)` : '') +
          ` in ${secs.toFixed(1)} s (${fmt(Math.round(result.lines / secs))} lines/s)`,
        `  time range ${l.timeRange.start} → ${l.timeRange.end} (${sim.days} days), warm-up until ${l.warmupEnd}, working hours in ${l.timeZone}`,
        `  identities ${l.identities.length}: ${[...byRole].map(([r, n]) => `${n} ${r}`).join(', ')}`,
        `  scenarios ${l.scenarios.length} (${fmt(l.stats.attackAccesses)} malicious accesses, intensity ${sim.intensity}): ` +
          ([...byKind].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none'),
        `  benign changes ${l.benignEvents.length} (deploys, scale-ups, new hires, policy edits, …)`,
        `  labels ${result.labelsPath}`,
      ].join('\n') + '\n',
    );
    return EXIT_OK;
  } catch (err) {
    if (showProgress) process.stderr.write('\r\x1b[K');
    console.error(`vigil: simulate failed: ${(err as Error).message.split('\n')[0] ?? ''}`);
    return EXIT_FAILURE;
  }
}
