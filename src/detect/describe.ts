import type { AccessEvent, Identity } from '../audit/event.js';
import type { Detector } from './analyzer.js';
import type { IdentityRef, Signal } from './signal.js';
import { MAX_SIGNAL_EVENT_IDS } from './signal.js';

/**
 * Plain-language pieces shared by analyzers, so every alert reads the same way:
 * who (identity), did what (operation + path), from where (source), why unusual (evidence).
 */

export function describeIdentity(identity: Identity | IdentityRef | undefined): string {
  if (!identity) return 'an unknown caller';
  if ('anonymous' in identity && identity.anonymous) return 'an unauthenticated caller';
  const name = identity.displayName;
  const isRoot = 'isRoot' in identity && identity.isRoot;
  if (isRoot) return name && name !== 'root' ? `${name} (root token)` : 'a root token';
  // AppRole tokens are all called "approle"; the role name (in clear metadata) says which one.
  const role = 'metadata' in identity ? identity.metadata?.['role_name'] : undefined;
  if (name && role && !name.includes(role)) return `${name} (role ${role})`;
  if (name) return name;
  if (identity.entityId) return `entity ${identity.entityId}`;
  if (identity.tokenRef) return `token ${identity.tokenRef}`;
  return 'an unknown caller';
}

export function identityRef(identity: Identity): IdentityRef {
  const ref: IdentityRef = { key: identity.key };
  if (identity.entityId) ref.entityId = identity.entityId;
  if (identity.displayName) ref.displayName = identity.displayName;
  if (identity.tokenRef) ref.tokenRef = identity.tokenRef;
  if (identity.authMount) ref.authMount = identity.authMount;
  return ref;
}

const VERBS: Record<string, string> = {
  read: 'read',
  list: 'listed',
  scan: 'scanned',
  create: 'created',
  update: 'wrote',
  patch: 'patched',
  delete: 'deleted',
  help: 'asked for help on',
};

export function verb(operation: string): string {
  return VERBS[operation] ?? operation;
}

export function describeSource(event: AccessEvent): string {
  return event.remoteAddress ? `from ${event.remoteAddress}` : 'from an unknown address';
}

/** Fill `{who}`, `{operation}`, `{verb}`, `{path}`, `{source}`, `{namespace}`, `{outcome}`, `{login_user}`, `{mount}`. */
export function fillTemplate(template: string, event: AccessEvent): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => {
    switch (key) {
      case 'who':
        return describeIdentity(event.identity);
      case 'operation':
        return event.operation;
      case 'verb':
        return verb(event.operation);
      case 'path':
        return event.path;
      case 'source':
        return event.remoteAddress ?? 'an unknown address';
      case 'namespace':
        return event.namespace || 'root';
      case 'outcome':
        return event.outcome.replace('_', ' ');
      case 'login_user':
        return event.loginUser ?? 'an unnamed user';
      case 'mount':
        return event.mountPoint ?? event.mountType ?? 'an unknown mount';
      default:
        return whole;
    }
  });
}

/** Join the analyzer's sentence and the detector's "why it matters". */
export function summarise(what: string, detector: Detector): string {
  const trimmed = what.trim();
  // Capitalise our own words ("a root token ..."), never an identifier ("oidc-ops-bob ...").
  const first = trimmed.split(' ', 1)[0] ?? '';
  const ours = ['a', 'an', 'the', 'entity', 'token', 'some', 'one'].includes(first);
  const sentence = (ours ? trimmed.charAt(0).toUpperCase() + trimmed.slice(1) : trimmed).replace(/\.?$/, '.');
  return `${sentence} ${detector.why.trim()}`;
}

/** A signal about exactly one event (rules, first-seen). */
export function signalForEvent(
  detector: Detector,
  event: AccessEvent,
  groupKey: string,
  fields: Pick<Signal, 'score' | 'evidence'> & { what: string; title?: string },
): Signal {
  const signal: Signal = {
    detector: detector.id,
    groupKey,
    at: event.time,
    score: fields.score,
    severity: detector.severity,
    title: fields.title ?? detector.title,
    summary: summarise(fields.what, detector),
    identity: identityRef(event.identity),
    sourceAddresses: event.remoteAddress ? [event.remoteAddress] : [],
    paths: [event.path],
    eventIds: [event.id],
    firstEventAt: event.time,
    lastEventAt: event.time,
    eventCount: 1,
    evidence: fields.evidence,
    family: detector.family,
  };
  if (detector.weak) signal.weak = true;
  return signal;
}

/** Push into a bounded list of distinct values (addresses, paths, event ids in evidence). */
export function pushCapped<T>(list: T[], value: T, cap = MAX_SIGNAL_EVENT_IDS): void {
  if (list.length < cap && !list.includes(value)) list.push(value);
}
