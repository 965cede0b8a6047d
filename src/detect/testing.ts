import type { AccessEvent } from '../audit/event.js';
import type { AuditEntry } from '../audit/entry.js';
import { identityKey } from '../audit/entry.js';
import { toAccessEvent } from '../audit/classify.js';
import { OUTCOMES, type Outcome } from '../audit/event.js';
import { Pipeline, emptyOutput } from '../pipeline.js';
import type { AnalyzerEnv, Detector } from './analyzer.js';
import type { DetectorTest } from './schema.js';
import type { Signal } from './signal.js';

/** A Monday, 10:00 UTC: working hours, so off-hours detectors stay quiet unless a test says otherwise. */
const DEFAULT_START = Date.parse('2026-03-02T10:00:00.000Z');

export interface DetectorTestResult {
  detector: string;
  test: string;
  passed: boolean;
  /** Why it failed, in one line. */
  problem?: string;
  signals: number;
}

/**
 * Run the test cases a detector file carries. Each test runs the real pipeline with the detector
 * (and, for detectors that listen to other signals, the detectors they listen to) over the events
 * the test describes, then checks what the detector signalled.
 */
export function runDetectorTests(
  detector: Detector,
  all: readonly Detector[],
  env: AnalyzerEnv,
  tickMs = 10_000,
): DetectorTestResult[] {
  return detector.tests.map((test) => runOne(detector, all, env, tickMs, test));
}

function runOne(
  detector: Detector,
  all: readonly Detector[],
  env: AnalyzerEnv,
  tickMs: number,
  test: DetectorTest,
): DetectorTestResult {
  const signals: Signal[] = [];
  // Compound detectors need the weak signals of the others; everyone else runs alone.
  const detectors =
    detector.analyzer.type === 'risk' ? all.filter((d) => d.enabled || d === detector) : [detector];
  const pipeline = new Pipeline({
    detectors: detectors.map((d) => (d === detector ? { ...d, enabled: true } : d)),
    env,
    tickMs,
    observeSignal: (s) => {
      if (s.detector === detector.id) signals.push(s);
    },
  });
  const out = emptyOutput();
  const start = test.start ? Date.parse(test.start) : DEFAULT_START;
  if (Number.isNaN(start)) return fail(detector, test, `start "${test.start}" is not a date`, 0);
  // Each event is 1s after the previous one unless it says `after: <offset from start>`.
  let at = start - 1000;
  try {
    for (const spec of test.events) {
      const repeat = spec.repeat ?? 1;
      const every = spec.every ?? 1000;
      at = spec.after !== undefined ? start + spec.after : at + 1000;
      for (let i = 0; i < repeat; i++) {
        const time = at + i * every;
        if (typeof spec.line === 'string') {
          pipeline.processRecords([{ line: Buffer.from(spec.line), origin: `test:${test.name}` }], out);
        } else {
          pipeline.processEvent(eventFromSpec(spec, time, i), out);
        }
      }
      at += (repeat - 1) * every;
    }
    if (test.advance !== undefined) pipeline.advanceTo(at + test.advance, out);
  } catch (err) {
    return fail(detector, test, `error while running: ${(err as Error).message}`, signals.length);
  }
  const e = test.expect;
  const n = signals.length;
  if (e.signals !== undefined && n !== e.signals)
    return fail(detector, test, `expected ${e.signals} signal(s), got ${n}`, n);
  if (e.min_signals !== undefined && n < e.min_signals)
    return fail(detector, test, `expected at least ${e.min_signals} signal(s), got ${n}`, n);
  const weak = signals.filter((x) => x.weak).length;
  if (e.weak_signals !== undefined && weak !== e.weak_signals)
    return fail(detector, test, `expected ${e.weak_signals} weak signal(s), got ${weak}`, n);
  const s = signals[0];
  if (s && e.severity && s.severity !== e.severity)
    return fail(detector, test, `expected severity ${e.severity}, got ${s.severity}`, n);
  if (s && e.group && s.groupKey !== e.group)
    return fail(detector, test, `expected group "${e.group}", got "${s.groupKey}"`, n);
  if (s && e.summary_contains && !s.summary.includes(e.summary_contains))
    return fail(detector, test, `summary "${s.summary}" does not contain "${e.summary_contains}"`, n);
  return { detector: detector.id, test: test.name, passed: true, signals: n };
}

function fail(detector: Detector, test: DetectorTest, problem: string, signals: number): DetectorTestResult {
  return { detector: detector.id, test: test.name, passed: false, problem, signals };
}

type Spec = Record<string, unknown>;

/**
 * Build an AccessEvent from a test's short description: `{ operation, path, remote_address,
 * outcome, login_user, identity: { display_name, entity_id, policies, ... } }`. Values may use
 * `{i}`, replaced by the repetition number (distinct paths or users in a burst), or `{i%N}` (cycling
 * through N values).
 */
function expand(text: string, i: number): string {
  return text.replace(/\{i(?:%(\d+))?\}/g, (_m, n: string | undefined) => String(n ? i % Number(n) : i));
}

export function eventFromSpec(spec: Spec, time: number, i = 0): AccessEvent {
  const s = (key: string): string | undefined => {
    const v = spec[key];
    return typeof v === 'string' ? expand(v, i) : undefined;
  };
  const id = (spec['identity'] ?? {}) as Spec;
  const is = (key: string): string | undefined => {
    const v = id[key];
    return typeof v === 'string' ? expand(v, i) : undefined;
  };
  const policies = Array.isArray(id['policies']) ? (id['policies'] as string[]) : [];
  const anonymous =
    id['anonymous'] === true || (!is('display_name') && !is('entity_id') && policies.length === 0);
  const path = s('path') ?? 'secret/data/app/config';
  const entry: AuditEntry = {
    type: 'response',
    time,
    requestId: s('id') ?? `test-${time}-${i}`,
    namespace: s('namespace') ?? '',
    operation: s('operation') ?? 'read',
    path: path.replace(/^\/+/, ''),
    identity: { key: '', policies, isRoot: policies.includes('root'), anonymous },
    responseDataError: false,
  };
  const ident = entry.identity;
  if (is('entity_id')) ident.entityId = is('entity_id');
  if (is('display_name')) ident.displayName = is('display_name');
  if (is('token_type')) ident.tokenType = is('token_type');
  if (is('auth_method')) ident.authMethod = is('auth_method');
  if (is('auth_mount')) ident.authMount = is('auth_mount');
  if (is('token_ref')) ident.tokenRef = is('token_ref');
  ident.key = identityKey(ident, s('remote_address'));
  const mountType = s('mount_type');
  const mountPoint = s('mount_point');
  if (mountType) entry.mountType = mountType;
  if (mountPoint) entry.mountPoint = mountPoint;
  const addr = s('remote_address');
  if (addr) entry.remoteAddress = addr;

  const event = toAccessEvent(undefined, entry);
  const outcome = s('outcome');
  if (outcome) {
    if (!(OUTCOMES as readonly string[]).includes(outcome)) throw new Error(`unknown outcome "${outcome}"`);
    event.outcome = outcome as Outcome;
    const cls = s('error_class');
    if (cls) event.errorClass = cls as AccessEvent['errorClass'];
    else if (outcome === 'denied') event.errorClass = 'permission_denied';
    else if (outcome === 'invalid_token') event.errorClass = 'invalid_token';
    else if (outcome === 'invalid_credentials') event.errorClass = 'invalid_credentials';
    else if (outcome === 'error') event.errorClass = 'other';
  }
  const user = s('login_user');
  if (user) event.loginUser = user;
  const kind = s('kind');
  if (kind) event.kind = kind as AccessEvent['kind'];
  if (id['human'] === true && !ident.authMethod) event.identity.authMethod = 'userpass';
  return event;
}
