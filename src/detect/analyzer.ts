import type { z } from 'zod';
import type { IdentityHistory } from '../baseline/identities.js';
import type { AccessEvent, Severity } from '../audit/event.js';
import type { EventPredicate } from './match.js';
import type { DetectorTest, GroupKeyPart } from './schema.js';
import type { Signal } from './signal.js';

/** A detector file after validation, overrides and compilation: what analyzers are given. */
export interface Detector {
  id: string;
  title: string;
  description: string;
  severity: Severity;
  family: string;
  /** Disabled detectors are loaded and validated but not run. */
  enabled: boolean;
  weak: boolean;
  why: string;
  firstStep?: string;
  runbook: string;
  labels: Record<string, string>;
  resolveAfterMs: number;
  groupBy: GroupKeyPart[];
  pathDepth: number;
  /** Analyzer type and its validated parameters. */
  analyzer: { type: string; params: unknown };
  matches: EventPredicate;
  /** The kinds and operations the match filter allows (undefined: any); lets the engine skip it cheaply. */
  kinds?: ReadonlySet<string>;
  operations?: ReadonlySet<string>;
  outcomes?: ReadonlySet<string>;
  excluded?: EventPredicate;
  groupKey(event: AccessEvent): string;
  tests: DetectorTest[];
  /** Where the detector came from, for messages. */
  file: string;
}

export type Emit = (signal: Signal) => void;

/**
 * A running detector: the analyzer's state for one detector file. Everything is a deterministic
 * function of the events and ticks it is given; none of it may read the clock or do I/O.
 */
export interface DetectorRuntime {
  /** Called for each event that passed the detector's match filter and allowlist. */
  onEvent?(event: AccessEvent, groupKey: string, emit: Emit): void;
  /** Called for every event, before matching (stream-level analyzers such as flatline). */
  observeAll?(event: AccessEvent): void;
  /** Event-time (replay) or wall-clock (daemon) tick; lets windows close and silence be noticed. */
  onTick?(now: number, emit: Emit): void;
  /** Weak signals from other detectors (compound risk). */
  onSignal?(signal: Signal, emit: Emit): void;
  /** Serialisable state; restored with `restore` after a restart. */
  snapshot?(): unknown;
  restore?(state: unknown): void;
  /** Number of groups (identities, sources...) this detector holds state for. */
  size?(): number;
  /** A summary for reports (the daily digest), e.g. rotation health. */
  report?(): unknown;
}

/** Services analyzers may use; all of them pure and event-time. */
export interface AnalyzerEnv {
  /** IANA time zone for seasonal profiles and working hours. */
  timeZone: string;
  /** Rotation policies from configuration (used by the rotation analyzer). */
  rotationPolicies: RotationPolicy[];
  /** When identities were first seen by any detector (set by the pipeline). */
  identities?: IdentityHistory;
}

export interface RotationPolicy {
  name: string;
  /** Path globs of the writes or rotate calls that count as a rotation. */
  paths: string[];
  operations: string[];
  /** Longest allowed time between rotations; null = learn it from the path's own cadence. */
  maxAgeMs: number | null;
}

export interface Analyzer<P = unknown> {
  readonly type: string;
  /** Validates `analyzer:` parameters in the detector file (after the type key is removed). */
  readonly params: z.ZodType<P>;
  create(detector: Detector, params: P, env: AnalyzerEnv): DetectorRuntime;
}
