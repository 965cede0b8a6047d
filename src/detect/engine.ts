import type { AccessEvent } from '../audit/event.js';
import type { AnalyzerEnv, Detector, DetectorRuntime, Emit } from './analyzer.js';
import { analyzers } from './analyzers/index.js';
import type { Signal } from './signal.js';

interface Running {
  detector: Detector;
  runtime: DetectorRuntime;
}

export interface EngineSnapshot {
  /** Analyzer state per detector id. A detector whose analyzer type changed starts afresh. */
  detectors: Record<string, { type: string; state: unknown }>;
}

/**
 * Runs every enabled detector over each event and tick. Weak signals are handed to detectors that
 * listen for signals (compound risk) before they are passed on, so a compound alert is raised in
 * the same step as the signal that tipped it.
 */
export class DetectionEngine {
  private readonly running: Running[];
  private readonly onEvent: Running[];
  private readonly observers: Running[];
  private readonly tickers: Running[];
  private readonly listeners: Running[];
  /**
   * Detectors that can match a given kind, operation and outcome (the cheap parts of their filters),
   * computed on first use: most events skip most detectors without calling their predicates.
   */
  private readonly candidates = new Map<string, Running[]>();
  private lastEmit: Emit | undefined;
  private lastWrapped: Emit | undefined;
  readonly signalCounts = new Map<string, number>();

  constructor(
    readonly detectors: readonly Detector[],
    env: AnalyzerEnv,
  ) {
    this.running = detectors
      .filter((d) => d.enabled)
      .map((detector) => {
        const analyzer = analyzers.get(detector.analyzer.type);
        if (!analyzer) throw new Error(`${detector.file}: unknown analyzer "${detector.analyzer.type}"`);
        return { detector, runtime: analyzer.create(detector, detector.analyzer.params, env) };
      });
    this.onEvent = this.running.filter((r) => r.runtime.onEvent);
    this.observers = this.running.filter((r) => r.runtime.observeAll);
    this.tickers = this.running.filter((r) => r.runtime.onTick);
    this.listeners = this.running.filter((r) => r.runtime.onSignal);
  }

  process(event: AccessEvent, emit: Emit): void {
    const out = this.wrap(emit);
    for (const r of this.observers) r.runtime.observeAll?.(event);
    // Kinds and outcomes are closed sets; operations come from the input, hence the bound.
    const key = event.operation.length <= 16 ? `${event.kind}|${event.outcome}|${event.operation}` : '';
    let candidates = key ? this.candidates.get(key) : undefined;
    if (!candidates) {
      candidates = this.onEvent.filter(
        ({ detector: d }) =>
          (!d.kinds || d.kinds.has(event.kind)) &&
          (!d.operations || d.operations.has(event.operation)) &&
          (!d.outcomes || d.outcomes.has(event.outcome)),
      );
      if (key && this.candidates.size < 4096) this.candidates.set(key, candidates);
    }
    for (const { detector, runtime } of candidates) {
      if (!detector.matches(event)) continue;
      if (detector.excluded?.(event)) continue;
      runtime.onEvent?.(event, detector.groupKey(event), out);
    }
  }

  tick(now: number, emit: Emit): void {
    const out = this.wrap(emit);
    for (const r of this.tickers) r.runtime.onTick?.(now, out);
  }

  /** Number of groups each detector holds state for (for metrics and the state-size benchmark). */
  sizes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.running) if (r.runtime.size) out[r.detector.id] = r.runtime.size();
    return out;
  }

  /** Reports of detectors that offer one, by detector id. */
  reports(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const r of this.running) if (r.runtime.report) out[r.detector.id] = r.runtime.report();
    return out;
  }

  snapshot(): EngineSnapshot {
    const detectors: EngineSnapshot['detectors'] = {};
    for (const { detector, runtime } of this.running) {
      if (runtime.snapshot)
        detectors[detector.id] = { type: detector.analyzer.type, state: runtime.snapshot() };
    }
    return { detectors };
  }

  restore(snapshot: EngineSnapshot): void {
    for (const { detector, runtime } of this.running) {
      const saved = snapshot.detectors[detector.id];
      if (saved && saved.type === detector.analyzer.type && runtime.restore) runtime.restore(saved.state);
    }
  }

  private wrap(emit: Emit): Emit {
    if (emit === this.lastEmit && this.lastWrapped) return this.lastWrapped;
    const deliver = (signal: Signal): void => {
      this.signalCounts.set(signal.detector, (this.signalCounts.get(signal.detector) ?? 0) + 1);
      if (signal.weak) {
        for (const r of this.listeners) {
          if (r.detector.id !== signal.detector) r.runtime.onSignal?.(signal, deliver);
        }
      }
      emit(signal);
    };
    this.lastEmit = emit;
    this.lastWrapped = deliver;
    return deliver;
  }
}
