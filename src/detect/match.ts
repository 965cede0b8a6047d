import picomatch from 'picomatch';
import type { AccessEvent, Identity } from '../audit/event.js';
import { compileCidrs, inCidrs } from '../baseline/stats/network.js';
import type { MatchSpec } from './schema.js';

export type EventPredicate = (event: AccessEvent) => boolean;

/** Auth methods people log in with (as opposed to workloads). */
const HUMAN_METHODS = new Set(['userpass', 'ldap', 'oidc', 'okta', 'radius', 'github', 'saml']);
const HUMAN_PREFIX = /^(?:userpass|ldap|oidc|okta|radius|github|saml)-/;

/** Whether an identity is a person: by auth method when known, else by Vault's display-name convention. */
export function isHuman(identity: Identity): boolean {
  if (identity.authMethod) return HUMAN_METHODS.has(identity.authMethod);
  if (identity.displayName && HUMAN_PREFIX.test(identity.displayName)) return true;
  return identity.metadata?.['email'] !== undefined;
}

const globOptions = { dot: true, nonegate: false } as const;

/** One regular expression for a whole list of globs: a single test per event, however long the list. */
export function globs(patterns: string[]): (value: string | undefined) => boolean {
  const sources = patterns.map((p) => picomatch.makeRe(p, globOptions).source);
  const re = new RegExp(sources.map((s) => `(?:${s})`).join('|'));
  return (value) => value !== undefined && re.test(value);
}

/**
 * Compile a filter into one predicate. Cheap set lookups come first so most events are rejected
 * before a glob or CIDR is evaluated. An empty filter matches everything.
 */
export function compileMatch(spec: MatchSpec): EventPredicate {
  const checks: EventPredicate[] = [];
  const inSet = (values: string[] | undefined, get: (e: AccessEvent) => string | undefined) => {
    if (!values) return;
    const set = new Set(values);
    checks.push((e) => {
      const v = get(e);
      return v !== undefined && set.has(v);
    });
  };
  inSet(spec.kind, (e) => e.kind);
  inSet(spec.operation, (e) => e.operation);
  inSet(spec.outcome, (e) => e.outcome);
  inSet(spec.mount_type, (e) => e.mountType);
  inSet(spec.mount_point, (e) => e.mountPoint);
  inSet(spec.error_class, (e) => e.errorClass);

  const id = spec.identity;
  if (id) {
    if (id.root !== undefined) checks.push((e) => e.identity.isRoot === id.root);
    if (id.anonymous !== undefined) checks.push((e) => e.identity.anonymous === id.anonymous);
    if (id.human !== undefined) checks.push((e) => isHuman(e.identity) === id.human);
    if (id.policies) {
      const wanted = new Set(id.policies);
      checks.push((e) => e.identity.policies.some((p) => wanted.has(p)));
    }
    inSet(id.entity_id, (e) => e.identity.entityId);
    inSet(id.auth_method, (e) => e.identity.authMethod);
    inSet(id.token_type, (e) => e.identity.tokenType);
    if (id.key) {
      const m = globs(id.key);
      checks.push((e) => m(e.identity.key));
    }
    if (id.display_name) {
      const m = globs(id.display_name);
      checks.push((e) => m(e.identity.displayName));
    }
  }
  if (spec.path) {
    const m = globs(spec.path);
    checks.push((e) => m(e.path));
  }
  if (spec.namespace) {
    const m = globs(spec.namespace);
    checks.push((e) => m(e.namespace));
  }
  if (spec.login_user) {
    const m = globs(spec.login_user);
    checks.push((e) => m(e.loginUser));
  }
  if (spec.source_cidr) {
    const cidrs = compileCidrs(spec.source_cidr);
    checks.push((e) => e.remoteAddress !== undefined && inCidrs(e.remoteAddress, cidrs));
  }

  switch (checks.length) {
    case 0:
      return () => true;
    case 1:
      return checks[0] as EventPredicate;
    default:
      return (e) => {
        for (const check of checks) if (!check(e)) return false;
        return true;
      };
  }
}

/** An allowlist: true when any filter matches. */
export function compileAny(specs: MatchSpec[]): EventPredicate | undefined {
  if (specs.length === 0) return undefined;
  const predicates = specs.map(compileMatch);
  return (e) => predicates.some((p) => p(e));
}
