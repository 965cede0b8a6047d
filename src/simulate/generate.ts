import { once } from 'node:events';
import { createWriteStream, statSync, writeFileSync, type WriteStream } from 'node:fs';
import { createGzip, type Gzip } from 'node:zlib';
import { BufferSink, createRenderer, type Access, type Flavor } from './audit-format.js';
import { labelsPathFor, SCENARIO_KINDS, type ScenarioKind, type SimLabels } from './labels.js';
import { buildPopulation } from './population.js';
import { Rng } from './rng.js';
import { planScenarios } from './scenarios.js';
import { HOUR, iso, parseStart } from './time.js';
import { World, type SimOptions } from './world.js';

/** Bump when the output for a given seed and parameters changes (evaluation caches key on it). */
export const GENERATOR_VERSION = 3;

export const DEFAULT_SIM_OPTIONS: Omit<SimOptions, 'warmupDays'> = {
  seed: 1,
  days: 21,
  identities: 300,
  start: parseStart('2026-01-05T00:00:00Z'),
  timeZone: 'Europe/Berlin',
  scenarios: [...SCENARIO_KINDS],
  intensity: 1,
  perKind: 4,
  flavor: 'vault',
};

export interface GenerateOptions extends Partial<SimOptions> {
  /** Output path; `.gz` means gzip. */
  out: string;
  /** gzip level (default 3: fast, ~8× smaller). */
  gzipLevel?: number;
  /** Called about once per simulated day. */
  onProgress?: (p: { simulatedUntil: number; lines: number; bytes: number }) => void;
}

export interface GenerateResult {
  labels: SimLabels;
  labelsPath: string;
  lines: number;
  /** Uncompressed bytes written. */
  bytes: number;
  /** Bytes on disk (compressed for .gz). */
  fileBytes: number;
  elapsedMs: number;
  /** Accesses a producer wrote too late for their time and had to be moved (always 0 unless buggy). */
  lateClamped: number;
}

/** Fill in defaults (warm-up: 7 days, or a third of shorter runs). */
export function resolveSimOptions(o: Partial<SimOptions>): SimOptions {
  const merged = { ...DEFAULT_SIM_OPTIONS, ...stripUndefined(o) } as Omit<SimOptions, 'warmupDays'> & {
    warmupDays?: number;
  };
  const warmupDays = merged.warmupDays ?? Math.min(7, merged.days / 3);
  return { ...merged, warmupDays };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

export function validateSimOptions(o: SimOptions): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(o.seed)) problems.push('seed must be an integer');
  if (!(o.days > 0 && o.days <= 366)) problems.push('days must be in (0, 366]');
  if (!(Number.isInteger(o.identities) && o.identities >= 1 && o.identities <= 100_000))
    problems.push('identities must be an integer in [1, 100000]');
  if (!(o.intensity >= 0 && o.intensity <= 1)) problems.push('intensity must be in [0, 1]');
  if (!(Number.isInteger(o.perKind) && o.perKind >= 0 && o.perKind <= 100))
    problems.push('instances per scenario kind must be an integer in [0, 100]');
  if (!(o.warmupDays >= 0 && o.warmupDays < o.days)) problems.push('warm-up must be shorter than the run');
  if (Number.isNaN(o.start)) problems.push('start is not a date');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: o.timeZone });
  } catch {
    problems.push(`unknown time zone "${o.timeZone}"`);
  }
  for (const k of o.scenarios)
    if (!(SCENARIO_KINDS as readonly string[]).includes(k)) problems.push(`unknown scenario kind "${k}"`);
  if (o.flavor !== 'vault' && o.flavor !== 'openbao') problems.push('flavor must be vault or openbao');
  return problems;
}

/** `all`, `none`, or a comma-separated list of kinds. */
export function parseScenarioList(text: string): ScenarioKind[] {
  const t = text.trim();
  if (t === 'all') return [...SCENARIO_KINDS];
  if (t === 'none' || t === '') return [];
  const kinds = t
    .split(',')
    .map((s) => s.trim().replace(/-/g, '_'))
    .filter(Boolean);
  const bad = kinds.filter((k) => !(SCENARIO_KINDS as readonly string[]).includes(k));
  if (bad.length)
    throw new Error(`unknown scenario kind(s): ${bad.join(', ')} (known: ${SCENARIO_KINDS.join(', ')})`);
  return kinds as ScenarioKind[];
}

/** The log file: rendered buffers go to disk, through gzip when the name ends in `.gz`. */
class Output {
  bytes = 0;
  readonly sink = new BufferSink();
  private readonly file: WriteStream;
  private readonly gzip: Gzip | undefined;
  private error: Error | undefined;

  constructor(path: string, gzipLevel: number) {
    this.file = createWriteStream(path, { highWaterMark: 64 << 20 });
    this.file.on('error', (e) => (this.error = e));
    if (path.endsWith('.gz')) {
      this.gzip = createGzip({ level: gzipLevel, chunkSize: 1 << 20 });
      this.gzip.on('error', (e) => (this.error = e));
      this.gzip.pipe(this.file);
    }
  }

  private readonly written: Buffer[] = [];

  async flush(all = false): Promise<void> {
    if (this.error) throw this.error;
    const target = this.gzip ?? this.file;
    for (const chunk of this.sink.take(all)) {
      this.bytes += chunk.length;
      const ok = target.write(chunk, (err) => {
        if (!err) this.written.push(chunk);
      });
      if (!ok) await once(target, 'drain');
      if (this.error) throw this.error;
    }
    this.sink.recycle(this.written.splice(0));
  }

  async close(): Promise<void> {
    await this.flush(true);
    const done = once(this.file, 'close');
    (this.gzip ?? this.file).end();
    await done;
    if (this.error) throw this.error;
  }
}

/** Responses waiting to be written, ordered by (response time, sequence): a binary min-heap. */
class ResponseHeap {
  private readonly items: Access[] = [];
  peek(): Access | undefined {
    return this.items[0];
  }
  push(a: Access): void {
    const h = this.items;
    h.push(a);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i] as Access, h[p] as Access)) break;
      const tmp = h[i] as Access;
      h[i] = h[p] as Access;
      h[p] = tmp;
      i = p;
    }
  }
  pop(): Access | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l] as Access, h[m] as Access)) m = l;
        if (r < h.length && before(h[r] as Access, h[m] as Access)) m = r;
        if (m === i) break;
        const tmp = h[i] as Access;
        h[i] = h[m] as Access;
        h[m] = tmp;
        i = m;
      }
    }
    return top;
  }
}

/** Response of `x` is written before the response of `y`. */
const before = (x: Access, y: Access) =>
  x.t + x.lat < y.t + y.lat || (x.t + x.lat === y.t + y.lat && x.seq < y.seq);
/** Requests in time order, ties in generation order. */
const byRequestTime = (x: Access, y: Access) => x.t - y.t || x.seq - y.seq;

/**
 * `ready` (in generation order, all at or after `floorUs` and within the hour) sorted by
 * (time, generation order). Packs both into one double per access — time offset in the hour
 * (< 2^32 µs) × 2^20 + position — and lets the typed array sort natively; falls back to a
 * comparator sort when the packing would not be exact.
 */
function sortByRequestTime(ready: Access[], floorUs: number): Access[] {
  const n = ready.length;
  let span = 0;
  for (const a of ready) span = Math.max(span, a.t - floorUs);
  if (n >= 1 << 20 || span >= 2 ** 32 || ready.some((a) => a.t < floorUs))
    return ready.slice().sort(byRequestTime);
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = ((ready[i] as Access).t - floorUs) * 1048576 + i;
  keys.sort();
  const out = new Array<Access>(n);
  for (let i = 0; i < n; i++) out[i] = ready[(keys[i] as number) % 1048576] as Access;
  return out;
}
/** The waiting response `r` is written before request `q` (equal times: lower sequence first). */
const responseFirst = (r: Access, q: Access) => r.t + r.lat < q.t || (r.t + r.lat === q.t && r.seq < q.seq);

/**
 * Simulate a run and stream its audit log to `out` (plus `<out>.labels.json`). Memory stays bounded:
 * time advances an hour at a time, and only accesses of the current hour (and a few planned ahead)
 * are held.
 */
export async function generate(opts: GenerateOptions): Promise<GenerateResult> {
  const started = Date.now();
  const { out, gzipLevel, onProgress, ...rest } = opts;
  const options = resolveSimOptions(rest);
  const problems = validateSimOptions(options);
  if (problems.length) throw new Error(problems.join('; '));

  const world = new World(options);
  const pop = buildPopulation(world);
  const scenarios = planScenarios(world, pop);
  const renderer = createRenderer(options.flavor, world.namespaceJson);
  const ids = Rng.derive(options.seed, 'render');
  const output = new Output(out, gzipLevel ?? 3);
  const sink = output.sink;
  const waiting = new ResponseHeap();

  let lines = 0;
  let accesses = 0;
  let attackAccesses = 0;
  let nextProgress = world.start;
  const endUs = world.end * 1000;
  try {
    for (let t = world.start; t < world.end;) {
      const until = Math.min(t + HOUR, world.end);
      const untilUs = until * 1000;
      const last = until >= world.end;
      for (const a of pop.actors) a.advance(until);
      for (const s of scenarios) s.advance(until);

      const ready: Access[] = [];
      const keep: Access[] = [];
      for (const a of world.buffer) {
        if (a.t >= untilUs && !last) {
          keep.push(a);
          continue;
        }
        // An access that would straddle the end of the run or a stream silence is not written at all.
        if (a.t + a.lat >= endUs || world.silenced(a)) {
          world.release(a);
          continue;
        }
        ready.push(a);
        accesses++;
        if (a.scenario >= 0) {
          attackAccesses++;
          world.scenarioCounts[a.scenario] = (world.scenarioCounts[a.scenario] ?? 0) + 1;
          if (!(a.t >= (world.scenarioFirst[a.scenario] ?? Infinity))) world.scenarioFirst[a.scenario] = a.t;
          if (!(a.t <= (world.scenarioLast[a.scenario] ?? -Infinity))) world.scenarioLast[a.scenario] = a.t;
          (world.scenarioAddresses[a.scenario] ??= new Set()).add(a.remote);
        } else if (a.actor >= 0) {
          world.actorCounts[a.actor] = (world.actorCounts[a.actor] ?? 0) + 1;
          const first = world.actorFirst[a.actor];
          if (first === undefined || a.t < first) world.actorFirst[a.actor] = a.t;
        }
      }
      world.buffer = keep;
      for (const a of sortByRequestTime(ready, world.floor * 1000)) {
        for (let r = waiting.peek(); r && responseFirst(r, a); r = waiting.peek()) {
          renderer.response(r, sink);
          world.release(waiting.pop() as Access);
          lines++;
        }
        a.id0 = ids.u32();
        a.id1 = ids.u32();
        a.id2 = ids.u32();
        a.id3 = ids.u32();
        a.port = 32768 + (ids.u32() % 28232);
        renderer.request(a, sink);
        lines++;
        waiting.push(a);
      }
      // Responses due before the end of this hour; later ones wait for the next hour's requests.
      for (let r = waiting.peek(); r && (last || r.t + r.lat < untilUs); r = waiting.peek()) {
        renderer.response(r, sink);
        world.release(waiting.pop() as Access);
        lines++;
      }
      world.floor = until;
      if (sink.pending) await output.flush();
      if (onProgress && until >= nextProgress) {
        onProgress({ simulatedUntil: until, lines, bytes: output.bytes });
        nextProgress = until + 24 * HOUR;
      }
      t = until;
    }
  } finally {
    await output.close();
  }

  const labels: SimLabels = {
    generator: { name: 'vigil-simulate', version: GENERATOR_VERSION },
    seed: options.seed,
    parameters: {
      seed: options.seed,
      days: options.days,
      identities: options.identities,
      start: iso(options.start),
      timeZone: options.timeZone,
      scenarios: options.scenarios,
      intensity: options.intensity,
      perKind: options.perKind,
      warmupDays: options.warmupDays,
      flavor: options.flavor,
      ...(options.namespace ? { namespace: options.namespace } : {}),
    },
    timeRange: { start: iso(world.start), end: iso(world.end) },
    warmupEnd: iso(world.warmupEnd),
    timeZone: options.timeZone,
    identities: pop.actors.map((a) => {
      const first = world.actorFirst[a.index];
      return {
        ...a.label,
        ...(first !== undefined ? { firstSeen: iso(Math.floor(first / 1000)) } : {}),
        accesses: world.actorCounts[a.index] ?? 0,
      };
    }),
    scenarios: scenarios.map((s) => {
      const first = world.scenarioFirst[s.index];
      const lastT = world.scenarioLast[s.index];
      const span =
        !s.fixedWindow && first !== undefined && lastT !== undefined
          ? { start: iso(Math.floor(first / 1000)), end: iso(Math.ceil(lastT / 1000)) }
          : {};
      // The addresses actually used (a service may have moved within its /24 since planning).
      const used = world.scenarioAddresses[s.index];
      const addresses = used && used.size > 0 ? { sourceAddresses: [...used] } : {};
      return { ...s.label, ...span, ...addresses, events: world.scenarioCounts[s.index] ?? 0 };
    }),
    benignEvents: world.benign.slice().sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0)),
    stats: {
      lines,
      accesses,
      benignAccesses: accesses - attackAccesses,
      attackAccesses,
      bytes: output.bytes,
    },
  };
  const labelsPath = labelsPathFor(out);
  writeFileSync(labelsPath, JSON.stringify(labels, null, 1) + '\n');
  return {
    labels,
    labelsPath,
    lines,
    bytes: output.bytes,
    fileBytes: statSync(out).size,
    elapsedMs: Date.now() - started,
    lateClamped: world.lateClamped,
  };
}

export type { Flavor, SimOptions };
