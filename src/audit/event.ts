/**
 * The normalised form of one Vault/OpenBao access: a request entry and its response entry,
 * folded into a single event. Everything downstream (baselines, detectors, stores) sees only this.
 *
 * Secret hygiene: no field of an AccessEvent ever holds a client token, an accessor (HMAC'd or
 * not), request data or response data. Where an HMAC'd value is needed to tell callers apart, it
 * is replaced by a `tokenRef` (see ./secrets.ts), a one-way digest that cannot be reversed or
 * replayed against Vault.
 */

/** What the caller got back. `invalid_token` is a bad/expired/revoked token; `denied` is an ACL refusal. */
export type Outcome = 'success' | 'denied' | 'invalid_credentials' | 'invalid_token' | 'error' | 'unknown';

export const OUTCOMES: readonly Outcome[] = [
  'success',
  'denied',
  'invalid_credentials',
  'invalid_token',
  'error',
  'unknown',
];

/** What kind of access this was, from path, operation and mount. */
export type AccessKind =
  'login' | 'secret_read' | 'secret_write' | 'secret_delete' | 'list' | 'token' | 'sys' | 'other';

export const ACCESS_KINDS: readonly AccessKind[] = [
  'login',
  'secret_read',
  'secret_write',
  'secret_delete',
  'list',
  'token',
  'sys',
  'other',
];

/** Finer class of a failure, independent of the Vault version's wording. */
export type ErrorClass =
  | 'permission_denied'
  | 'invalid_token'
  | 'invalid_credentials'
  | 'invalid_request'
  | 'unsupported'
  | 'rate_limited'
  | 'internal'
  | 'no_response'
  | 'other';

export interface Identity {
  /**
   * Stable key for per-identity state: `entity:<id>`, `name:<mount>/<display name>`, `token:<ref>`,
   * or for unauthenticated attempts `anon:<source address>`.
   */
  key: string;
  entityId?: string;
  displayName?: string;
  /** `service`, `batch`, `default` (no token resolved), ... */
  tokenType?: string;
  policies: string[];
  isRoot: boolean;
  /** Auth method type (`userpass`, `approle`, `kubernetes`, ...) when it can be told. */
  authMethod?: string;
  /** Auth mount path without the `auth/` prefix or trailing slash, e.g. `userpass`, `k8s-prod`. */
  authMount?: string;
  /** Non-secret metadata Vault writes in clear (username, role_name, service account). */
  metadata?: Record<string, string>;
  /** One-way digest of the (HMAC'd) token accessor; never the accessor itself. */
  tokenRef?: string;
  /** True when no token was resolved (login requests, bad tokens). */
  anonymous: boolean;
}

export interface AccessEvent {
  /** Vault request id (shared by the request and response entries). */
  id: string;
  /** Event time in epoch milliseconds (request entry time, else response entry time). */
  time: number;
  /** Namespace path (`""` for root) as Vault reports it. */
  namespace: string;
  identity: Identity;
  /** Vault logical operation: create, read, update, patch, delete, list, scan, help, ... */
  operation: string;
  /** Request path without `/v1/` or a leading slash. */
  path: string;
  mountType?: string;
  mountPoint?: string;
  mountClass?: string;
  remoteAddress?: string;
  remotePort?: number;
  outcome: Outcome;
  errorClass?: ErrorClass;
  /** The top-level error text Vault wrote (never HMAC'd, never secret), trimmed. */
  errorMessage?: string;
  kind: AccessKind;
  /** User name attempted on `auth/<mount>/login/<user>` (in clear in the path). */
  loginUser?: string;
  /** A token this access issued (logins, token create): identity facts only, never the token. */
  issued?: {
    entityId?: string;
    displayName?: string;
    policies: string[];
    tokenType?: string;
    ttlSeconds?: number;
    tokenRef?: string;
  };
  /** Audited User-Agent header, when it is in clear. */
  userAgent?: string;
  /** Whether both halves of the access were seen, or only one of them. */
  entries: 'pair' | 'request' | 'response';
  /** The name of the source the event came from (e.g. `file`, `socket`, `kafka`). */
  source?: string;
}

/** Severity ladder shared by detectors, alerts, routes and notifiers. */
export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical'];
export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}
export function maxSeverity(a: Severity, b: Severity): Severity {
  return severityRank(a) >= severityRank(b) ? a : b;
}
