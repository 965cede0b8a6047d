import type { AccessEvent, AccessKind, ErrorClass, Outcome } from './event.js';
import type { AuditEntry } from './entry.js';
import { identityKey } from './entry.js';
import { scrubText } from './secrets.js';

/**
 * Folding a request entry and/or its response entry into one AccessEvent: outcome, error class,
 * kind of access and the attempted login user. The rules follow the audit format research in
 * shared/reference/vault-audit-format.md §2 (failed access) and §3 (paths).
 */

/** Build the event from whichever halves were seen. At least one must be given. */
export function toAccessEvent(
  request: AuditEntry | undefined,
  response: AuditEntry | undefined,
): AccessEvent {
  const base = (response ?? request) as AuditEntry;
  const login = loginInfo(base);
  const { outcome, errorClass } = outcomeOf(request, response, login !== undefined);

  // A login's caller is anonymous; the identity that matters is the one the login produced.
  let identity = base.identity;
  const issued = response?.issued;
  if (identity.anonymous && issued && outcome === 'success' && (issued.entityId || issued.displayName)) {
    identity = {
      key: '',
      policies: issued.policies,
      isRoot: issued.policies.includes('root'),
      anonymous: false,
    };
    if (issued.entityId) identity.entityId = issued.entityId;
    if (issued.displayName) identity.displayName = issued.displayName;
    if (issued.tokenType) identity.tokenType = issued.tokenType;
    if (issued.tokenRef) identity.tokenRef = issued.tokenRef;
    identity.key = identityKey(identity, base.remoteAddress);
  }
  if (login) {
    if (!identity.authMount) identity = { ...identity, authMount: login.mount };
    if (base.mountType && !identity.authMethod) identity = { ...identity, authMethod: base.mountType };
  }

  const event: AccessEvent = {
    id: base.requestId || syntheticId(base),
    time: response ? response.time : base.time,
    namespace: base.namespace,
    identity,
    operation: base.operation,
    path: base.path,
    outcome,
    kind: kindOf(base, login !== undefined),
    entries: request && response ? 'pair' : request ? 'request' : 'response',
  };
  if (base.mountType) event.mountType = base.mountType;
  if (base.mountPoint) event.mountPoint = base.mountPoint;
  if (base.mountClass) event.mountClass = base.mountClass;
  if (base.remoteAddress) event.remoteAddress = base.remoteAddress;
  if (base.remotePort !== undefined) event.remotePort = base.remotePort;
  if (errorClass) event.errorClass = errorClass;
  const error = response?.error ?? request?.error;
  if (error) event.errorMessage = cleanError(error);
  if (login?.user) event.loginUser = login.user;
  if (issued) event.issued = issued;
  const ua = request?.userAgent ?? response?.userAgent;
  if (ua) event.userAgent = ua;
  return event;
}

/** `auth/<mount>/login[/<user>]`, or an OIDC/JWT callback: the mount and the user name when in the path. */
export function loginInfo(entry: AuditEntry): { mount: string; user?: string } | undefined {
  const path = entry.path;
  if (!path.startsWith('auth/') || path.startsWith('auth/token/')) return undefined;
  let mount: string;
  let rest: string;
  const mp = entry.mountPoint;
  if (mp && mp.startsWith('auth/') && path.startsWith(mp)) {
    mount = mp.slice(5).replace(/\/+$/, '');
    rest = path.slice(mp.length);
  } else {
    const slash = path.indexOf('/', 5);
    if (slash < 0) return undefined;
    mount = path.slice(5, slash);
    rest = path.slice(slash + 1);
  }
  if (rest === 'login' || rest.startsWith('login/')) {
    const user = rest.length > 6 ? rest.slice(6) : undefined;
    return user ? { mount, user } : { mount };
  }
  if (rest === 'oidc/callback' || rest.endsWith('/callback')) return { mount };
  return undefined;
}

function kindOf(entry: AuditEntry, isLogin: boolean): AccessKind {
  if (isLogin) return 'login';
  const path = entry.path;
  const op = entry.operation;
  if (path.startsWith('auth/token/') || entry.mountType === 'token') return 'token';
  if (op === 'list' || op === 'scan') return 'list';
  if (path.startsWith('sys/') || path === 'sys' || path.startsWith('identity/') || path.startsWith('auth/'))
    return 'sys';
  switch (op) {
    case 'read':
      return 'secret_read';
    case 'create':
    case 'update':
    case 'patch':
      return 'secret_write';
    case 'delete':
      return 'secret_delete';
    default:
      return 'other';
  }
}

function outcomeOf(
  request: AuditEntry | undefined,
  response: AuditEntry | undefined,
  isLogin: boolean,
): { outcome: Outcome; errorClass?: ErrorClass } {
  const entry = response ?? request;
  if (!entry) return { outcome: 'unknown', errorClass: 'no_response' };
  const error = response?.error ?? request?.error;
  const denied = entry.policyAllowed === false;

  if (!error && !denied) {
    if (!response) return { outcome: 'unknown', errorClass: 'no_response' };
    if (response.responseDataError) {
      // Failed logins often carry only an HMAC'd response.data.error (unknown user, bad role id).
      return isLogin
        ? { outcome: 'invalid_credentials', errorClass: 'invalid_credentials' }
        : { outcome: 'error', errorClass: 'invalid_request' };
    }
    return { outcome: 'success' };
  }
  const text = (error ?? '').toLowerCase();
  if (isLogin) {
    if (text.includes('rate limit')) return { outcome: 'error', errorClass: 'rate_limited' };
    if (text.includes('internal error')) return { outcome: 'error', errorClass: 'internal' };
    // Any refused login is a failed credential attempt; keep the finer class for explanations.
    return {
      outcome: 'invalid_credentials',
      errorClass: text.includes('permission denied') ? 'permission_denied' : 'invalid_credentials',
    };
  }
  if (text.includes('invalid token') || text.includes('missing client token') || text.includes('bad token'))
    return { outcome: 'invalid_token', errorClass: 'invalid_token' };
  if (denied || text.includes('permission denied')) {
    // Vault writes the same text for an ACL refusal and for a token it could not resolve; only the
    // latter leaves `auth` empty.
    return entry.identity.anonymous
      ? { outcome: 'invalid_token', errorClass: 'invalid_token' }
      : { outcome: 'denied', errorClass: 'permission_denied' };
  }
  if (text.includes('invalid credentials'))
    return { outcome: 'invalid_credentials', errorClass: 'invalid_credentials' };
  if (
    text.includes('unsupported path') ||
    text.includes('unsupported operation') ||
    text.includes('no handler')
  )
    return { outcome: 'error', errorClass: 'unsupported' };
  if (text.includes('rate limit')) return { outcome: 'error', errorClass: 'rate_limited' };
  if (text.includes('internal error')) return { outcome: 'error', errorClass: 'internal' };
  return { outcome: 'error', errorClass: 'other' };
}

/** Vault's go-multierror text ("1 error occurred:\n\t* permission denied\n\n") to "permission denied". */
export function cleanError(error: string): string {
  const items = error
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('* '))
    .map((l) => l.slice(2));
  const text = scrubText(items.length > 0 ? items.join('; ') : error.trim());
  return text.length > 300 ? text.slice(0, 300) + '…' : text;
}

function syntheticId(entry: AuditEntry): string {
  return `noid-${entry.time}-${entry.operation}-${entry.path}`.slice(0, 200);
}
