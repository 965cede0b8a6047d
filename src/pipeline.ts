import type { AccessEvent } from './audit/event.js';
import { IGNORED, parseAuditLine, peekRequest } from './audit/entry.js';
import type { Preparsed } from './audit/parse-wire.js';
import { DEFAULT_PAIRER_OPTIONS, Pairer, type PairerOptions, type PairerSnapshot } from './audit/pairing.js';
import type { AlertTransition } from './alerts/alert.js';
import {
  AlertLifecycle,
  DEFAULT_LIFECYCLE_OPTIONS,
  type Decorate,
  type LifecycleOptions,
  type LifecycleSnapshot,
} from './alerts/lifecycle.js';
import type { AlertPolicy, PolicySnapshot } from './alerts/policy.js';
import { IdentityRegistry, type IdentityRegistrySnapshot } from './baseline/identities.js';
import type { AnalyzerEnv, Detector } from './detect/analyzer.js';
import { DetectionEngine, type EngineSnapshot } from './detect/engine.js';
import type { Signal } from './detect/signal.js';
import type { RawRecord } from './ingest/source.js';

export interface PipelineOptions {
  detectors: readonly Detector[];
  env: AnalyzerEnv;
  /** Event-time tick period: windows close, silence is noticed and quiet alerts resolve on ticks. */
  tickMs: number;
  pairer?: Partial<PairerOptions>;
  lifecycle?: Partial<LifecycleOptions>;
  decorate?: Decorate;
  /** Incidents, silences, maintenance windows and inhibition, applied to every transition. */
  policy?: AlertPolicy;
  /** Keep the access events of each step in the output (for indexing). */
  collectEvents?: boolean;
  /** Keep every signal (weak or not) in the output (for indexing and metrics). */
  collectSignals?: boolean;
  /** Sees every signal, weak or not, as it is produced (detector tests, evaluation). */
  observeSignal?: (signal: Signal) => void;
}

export interface DeadLetter {
  origin: string;
  reason: string;
  line: Buffer;
  truncated?: boolean;
}

/** What one step produced; the caller makes it durable. */
export interface StepOutput {
  transitions: AlertTransition[];
  deadLetters: DeadLetter[];
  events: AccessEvent[];
  signals: Signal[];
}

export function emptyOutput(): StepOutput {
  return { transitions: [], deadLetters: [], events: [], signals: [] };
}

export interface PipelineCounters {
  lines: number;
  entries: number;
  ignored: number;
  deadLettered: number;
  events: number;
  signals: number;
  opened: number;
  updated: number;
  resolved: number;
}

export interface PipelineSnapshot {
  version: 1;
  watermark: number | null;
  /** Time of the newest audit entry (the watermark also moves with the idle clock). */
  newestEntry?: number | null;
  nextTickAt: number | null;
  pairer: PairerSnapshot;
  engine: EngineSnapshot;
  lifecycle: LifecycleSnapshot;
  policy: PolicySnapshot | null;
  identities?: IdentityRegistrySnapshot;
  counters: PipelineCounters;
}

/** Past this many pending ticks in one gap, ticks are spaced out so a long silence costs bounded work. */
const MAX_TICKS_PER_GAP = 2_000;

/**
 * The pure core: raw lines in, alert transitions out. Parsing, pairing, detection and the alert
 * lifecycle all run in event time here; the daemon and `replay` differ only in the sources they
 * feed and in who calls `advanceTo` with the wall clock. No I/O happens in this class.
 */
export class Pipeline {
  readonly pairer: Pairer;
  readonly identities = new IdentityRegistry();
  engine: DetectionEngine;
  readonly lifecycle: AlertLifecycle;
  readonly counters: PipelineCounters = {
    lines: 0,
    entries: 0,
    ignored: 0,
    deadLettered: 0,
    events: 0,
    signals: 0,
    opened: 0,
    updated: 0,
    resolved: 0,
  };
  private watermark: number | undefined;
  private newestEntry = -Infinity;
  private nextTickAt: number | undefined;
  private detectorsById: Map<string, Detector>;
  private out: StepOutput = emptyOutput();
  private readonly expired: AccessEvent[] = [];
  private readonly onSignal = (signal: Signal): void => this.handleSignal(signal);
  private policy: AlertPolicy | undefined;

  constructor(private readonly options: PipelineOptions) {
    this.pairer = new Pairer({ ...DEFAULT_PAIRER_OPTIONS, ...options.pairer });
    this.pairer.onInvalid = (raw, origin, reason) => {
      // It was counted as an entry when it was recognised; it turned out not to be one.
      this.counters.entries--;
      this.deadLetter({ line: raw, origin }, reason);
    };
    this.engine = new DetectionEngine(options.detectors, { ...options.env, identities: this.identities });
    this.lifecycle = new AlertLifecycle(
      { ...DEFAULT_LIFECYCLE_OPTIONS, ...options.lifecycle },
      options.decorate,
    );
    this.detectorsById = new Map(options.detectors.map((d) => [d.id, d]));
    this.policy = options.policy;
  }

  /** Event time of the newest event seen, or where the idle clock moved it (undefined before the first). */
  get eventTime(): number | undefined {
    return this.watermark;
  }

  /** Time of the newest audit entry read; unlike eventTime, the idle clock does not move it. */
  get newestEntryTime(): number | undefined {
    return this.newestEntry === -Infinity ? undefined : this.newestEntry;
  }

  /**
   * Run a batch of raw lines through the pipeline, appending results to `out`. `preparsed`, when
   * given, holds each line's parse result worked out ahead (see ParseAhead); it is exactly what
   * the pipeline would have computed itself.
   */
  processRecords(records: readonly RawRecord[], out: StepOutput, preparsed?: readonly Preparsed[]): void {
    this.out = out;
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as RawRecord;
      this.counters.lines++;
      if (record.truncated) {
        this.deadLetter(record, 'line longer than the maximum line length');
        continue;
      }
      const pre = preparsed?.[i];
      // Request entries are kept raw: their responses carry everything (see peekRequest).
      const peek = pre ? (pre.kind === 'request' ? pre : undefined) : peekRequest(record.line);
      if (peek) {
        this.counters.entries++;
        if (this.watermark === undefined || peek.time > this.watermark) this.advance(peek.time);
        if (peek.time > this.newestEntry) this.newestEntry = peek.time;
        const event = this.pairer.pushRawRequest(peek.id, peek.time, record.line, record.origin);
        if (event) this.handleEvent(event);
        continue;
      }
      const parsed = pre?.kind === 'entry' ? pre.result : parseAuditLine(record.line);
      if (!parsed.ok) {
        if (parsed.reason === IGNORED) this.counters.ignored++;
        else this.deadLetter(record, parsed.reason);
        continue;
      }
      this.counters.entries++;
      const entryTime = parsed.entry.time;
      if (this.watermark === undefined || entryTime > this.watermark) this.advance(entryTime);
      if (entryTime > this.newestEntry) this.newestEntry = entryTime;
      const event = this.pairer.push(parsed.entry);
      if (event) this.handleEvent(event);
    }
    // Record lines are views into the source's read buffer, which it reuses after this step.
    this.pairer.detach();
  }

  /** Run one already-normalised event (detector tests, simulations). */
  processEvent(event: AccessEvent, out: StepOutput): void {
    this.out = out;
    if (this.watermark === undefined || event.time > this.watermark) this.advance(event.time);
    if (event.time > this.newestEntry) this.newestEntry = event.time;
    this.handleEvent(event);
  }

  /**
   * Move time forward without an event: the daemon calls this with the wall clock when the stream
   * is idle, replay calls it at the end of input. Requests still waiting for a response expire.
   */
  advanceTo(now: number, out: StepOutput): void {
    this.out = out;
    if (this.watermark === undefined || now > this.watermark) this.advance(now);
  }

  /** End of input (replay): account for every waiting request. */
  drain(out: StepOutput): void {
    this.out = out;
    this.expired.length = 0;
    this.pairer.flush(this.expired);
    for (const e of this.expired) this.handleEvent(e);
  }

  /**
   * Swap in new detector definitions (configuration reload). A detector keeps its learned state when
   * its analyzer type and parameters are unchanged; otherwise it starts afresh. Returns the ids that
   * started afresh.
   */
  replaceDetectors(detectors: readonly Detector[], env: AnalyzerEnv): string[] {
    const old = new Map(this.options.detectors.map((d) => [d.id, d]));
    const saved = this.engine.snapshot();
    const engine = new DetectionEngine(detectors, { ...env, identities: this.identities });
    const kept: EngineSnapshot = { detectors: {} };
    const fresh: string[] = [];
    for (const d of detectors) {
      const before = old.get(d.id);
      const same =
        before !== undefined &&
        before.analyzer.type === d.analyzer.type &&
        JSON.stringify(before.analyzer.params) === JSON.stringify(d.analyzer.params) &&
        before.groupBy.join() === d.groupBy.join();
      const state = saved.detectors[d.id];
      if (same && state) kept.detectors[d.id] = state;
      else if (d.enabled) fresh.push(d.id);
    }
    engine.restore(kept);
    this.engine = engine;
    this.options.detectors = detectors;
    this.options.env = env;
    this.detectorsById = new Map(detectors.map((d) => [d.id, d]));
    return fresh;
  }

  /**
   * Configuration reload: a new alert policy (maintenance windows, inhibition, incident window),
   * taking over the incidents and open alerts the old one knew, and new alert decoration.
   */
  reconfigure(next: { policy?: AlertPolicy; decorate?: Decorate }): void {
    if (next.policy) {
      if (this.policy) next.policy.restore(this.policy.snapshot());
      this.policy = next.policy;
    }
    if (next.decorate) this.lifecycle.setDecorate(next.decorate);
  }

  snapshot(): PipelineSnapshot {
    return {
      version: 1,
      watermark: this.watermark ?? null,
      newestEntry: this.newestEntryTime ?? null,
      nextTickAt: this.nextTickAt ?? null,
      pairer: this.pairer.snapshot(),
      engine: this.engine.snapshot(),
      lifecycle: this.lifecycle.snapshot(),
      policy: this.policy?.snapshot() ?? null,
      identities: this.identities.snapshot(),
      counters: { ...this.counters },
    };
  }

  restore(s: PipelineSnapshot): void {
    if (s.version !== 1) throw new Error(`unsupported state snapshot version ${String(s.version)}`);
    this.watermark = s.watermark ?? undefined;
    // Checkpoints from before the field: the watermark is the best estimate there is.
    this.newestEntry = s.newestEntry ?? s.watermark ?? -Infinity;
    this.nextTickAt = s.nextTickAt ?? undefined;
    this.pairer.restore(s.pairer);
    this.engine.restore(s.engine);
    this.lifecycle.restore(s.lifecycle);
    if (s.policy && this.policy) this.policy.restore(s.policy);
    if (s.identities) this.identities.restore(s.identities);
    Object.assign(this.counters, s.counters);
  }

  private advance(now: number): void {
    const tickMs = this.options.tickMs;
    if (this.nextTickAt === undefined) this.nextTickAt = Math.ceil(now / tickMs) * tickMs;
    if (now >= this.nextTickAt) {
      const pending = Math.floor((now - this.nextTickAt) / tickMs) + 1;
      // Deterministic spacing: depends only on where the gap starts and ends.
      const step = pending > MAX_TICKS_PER_GAP ? Math.ceil(pending / MAX_TICKS_PER_GAP) * tickMs : tickMs;
      while (this.nextTickAt <= now) {
        this.tick(this.nextTickAt);
        this.nextTickAt += step;
      }
      if (step !== tickMs) this.nextTickAt = Math.ceil((now + 1) / tickMs) * tickMs;
    }
    this.watermark = now;
  }

  private tick(at: number): void {
    this.expired.length = 0;
    this.pairer.expire(at, this.expired);
    for (const e of this.expired) this.handleEvent(e);
    this.identities.sweep(at);
    this.engine.tick(at, this.onSignal);
    const before = this.out.transitions.length;
    this.lifecycle.tick(at, this.out.transitions);
    this.finish(before);
  }

  private handleEvent(event: AccessEvent): void {
    this.counters.events++;
    this.identities.observe(event.identity.key, event.time);
    if (this.options.collectEvents) this.out.events.push(event);
    this.engine.process(event, this.onSignal);
  }

  private handleSignal(signal: Signal): void {
    this.counters.signals++;
    this.options.observeSignal?.(signal);
    if (this.options.collectSignals) this.out.signals.push(signal);
    if (signal.weak) return;
    const detector = this.detectorsById.get(signal.detector);
    if (!detector) return;
    const before = this.out.transitions.length;
    this.lifecycle.onSignal(signal, detector, this.out.transitions);
    this.finish(before);
  }

  /** Annotate (incident, silence, inhibition) and count the transitions appended since `from`. */
  private finish(from: number): void {
    const t = this.out.transitions;
    if (t.length === from) return;
    this.policy?.apply(t.slice(from));
    for (let i = from; i < t.length; i++) {
      const action = (t[i] as AlertTransition).action;
      if (action === 'open') this.counters.opened++;
      else if (action === 'update') this.counters.updated++;
      else this.counters.resolved++;
    }
  }

  private deadLetter(record: Pick<RawRecord, 'line' | 'origin' | 'truncated'>, reason: string): void {
    this.counters.deadLettered++;
    const letter: DeadLetter = { origin: record.origin, reason, line: record.line };
    if (record.truncated) letter.truncated = true;
    this.out.deadLetters.push(letter);
  }
}
