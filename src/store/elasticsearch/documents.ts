import { isIP } from 'node:net';
import type { Alert, AlertTransition } from '../../alerts/alert.js';
import type { AccessEvent, AccessKind, Outcome } from '../../audit/event.js';
import type { Signal } from '../../detect/signal.js';

/**
 * Pure mapping from Vigil's records to Elasticsearch documents.
 *
 * Event documents follow ECS where a field has an ECS meaning (the way Elastic's own
 * `hashicorp_vault` integration maps the audit log: `event.action` = operation, `event.id` = request
 * id, `source.ip`, `user_agent.original`, `related.*`), with two deliberate differences: `user.name`
 * carries the display name and `event.outcome` reflects Vigil's outcome classification (a failed login
 * without an `error` is still a failure). Everything Vault-specific lives under ONE namespace,
 * `vault.*`; Vigil's own annotations under `vigil.*`.
 *
 * Only fields of the AccessEvent are copied: the event holds no secret by construction (no token,
 * accessor, request or response data), and this module never adds anything else from elsewhere.
 */

export const ECS_VERSION = '8.11.0';

/** Keyword values longer than this are not indexed (still kept in _source). */
export const KEYWORD_IGNORE_ABOVE = 1024;
/** Paths are indexed up to this length. */
export const PATH_IGNORE_ABOVE = 4096;

export interface EventDocument {
  '@timestamp': string;
  ecs: { version: string };
  event: {
    kind: 'event';
    module: 'vault';
    dataset: 'vault.audit';
    category: string[];
    type: string[];
    action: string;
    outcome: 'success' | 'failure' | 'unknown';
    id: string;
  };
  user?: { id?: string; name?: string };
  source?: { address: string; ip?: string; port?: number };
  user_agent?: { original: string };
  related: { ip?: string[]; user?: string[] };
  vault: VaultFields;
  vigil: { signals: string[]; score?: number; source?: string };
}

export interface VaultFields {
  path: string;
  /** The path without its last segment (`secret/data/team`), for terms aggregations. */
  path_prefix: string;
  /** Every ancestor of the path and the path itself (`secret/`, `secret/data/`, ...). */
  path_tree: string[];
  kind: AccessKind;
  outcome: Outcome;
  namespace: string;
  mount?: { type?: string; point?: string; class?: string };
  error_class?: string;
  error_message?: string;
  identity: {
    key: string;
    entity_id?: string;
    display_name?: string;
    policies: string[];
    root: boolean;
    anonymous: boolean;
    auth_method?: string;
    auth_mount?: string;
    token_type?: string;
    metadata?: Record<string, string>;
  };
  token_ref?: string;
  login_user?: string;
  issued?: {
    entity_id?: string;
    display_name?: string;
    policies: string[];
    token_type?: string;
    ttl_seconds?: number;
    token_ref?: string;
  };
  entries: AccessEvent['entries'];
}

/** ECS `event.outcome`: Vigil's finer outcome folded into success | failure | unknown. */
export function ecsOutcome(outcome: Outcome): 'success' | 'failure' | 'unknown' {
  switch (outcome) {
    case 'success':
      return 'success';
    case 'unknown':
      return 'unknown';
    default:
      return 'failure';
  }
}

/** ECS `event.category` (allowed values of ECS 8.x) for an access kind. */
export function ecsCategory(kind: AccessKind): string[] {
  switch (kind) {
    case 'login':
      return ['authentication'];
    case 'token':
      return ['iam'];
    case 'sys':
      return ['configuration'];
    default:
      // Secret reads/writes/lists are API calls against Vault (ECS 8.7+ `api`).
      return ['api'];
  }
}

/** ECS `event.type`: what the operation did, plus `denied`/`error` for failures. */
export function ecsType(event: Pick<AccessEvent, 'kind' | 'operation' | 'outcome'>): string[] {
  const types: string[] = [];
  if (event.kind === 'login') types.push('start');
  else {
    switch (event.operation) {
      case 'create':
        types.push('creation');
        break;
      case 'update':
      case 'patch':
        types.push('change');
        break;
      case 'delete':
        types.push('deletion');
        break;
      case 'read':
      case 'list':
      case 'scan':
        types.push('access');
        break;
      default:
        types.push('info');
    }
  }
  if (
    event.outcome === 'denied' ||
    event.outcome === 'invalid_token' ||
    event.outcome === 'invalid_credentials'
  )
    types.push('denied');
  else if (event.outcome === 'error') types.push('error');
  return types;
}

/**
 * The address as an `ip` field accepts it, or undefined: `1.2.3.4`, `::1`, an IPv4-mapped IPv6
 * address; not host names, not `unix:` sockets, not addresses with an IPv6 zone (`fe80::1%eth0`),
 * brackets or a port.
 */
export function parseIp(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const a = address.trim();
  if (a.includes('%')) return undefined;
  return isIP(a) !== 0 ? a : undefined;
}

/** `secret/data/team/db` → `secret/data/team`; a single segment is its own prefix. */
export function pathPrefix(path: string): string {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  const cut = trimmed.lastIndexOf('/');
  return cut > 0 ? trimmed.slice(0, cut) : trimmed;
}

/**
 * `secret/data/team/db` → [`secret/`, `secret/data/`, `secret/data/team/`, `secret/data/team/db`]:
 * a term query on one entry finds everything below it, a terms aggregation with an `include`
 * pattern walks one level. (The path_hierarchy tokenizer would do this at index time, but it lives
 * in the analysis-common module, which minimal clusters lack; computing it here works everywhere.)
 */
export function pathTree(path: string, maxDepth = 16): string[] {
  const parts = path.split('/');
  const out: string[] = [];
  let acc = '';
  for (let i = 0; i < parts.length - 1 && out.length < maxDepth - 1; i++) {
    acc += `${parts[i] as string}/`;
    if (parts[i] === '') continue;
    out.push(acc);
  }
  if (path !== '' && out[out.length - 1] !== path) out.push(path);
  return out;
}

/** Ids of the events behind each signal: request id → the signals that name it. */
export function signalsByEvent(signals: readonly Signal[]): Map<string, Signal[]> {
  const map = new Map<string, Signal[]>();
  for (const s of signals) {
    for (const id of new Set(s.eventIds)) {
      const list = map.get(id);
      if (list) list.push(s);
      else map.set(id, [s]);
    }
  }
  return map;
}

/** Whether an event is indexed under `events: notable`. */
export function isNotable(event: AccessEvent, signalled: boolean): boolean {
  return signalled || event.outcome !== 'success' || event.kind === 'sys' || event.kind === 'token';
}

function uniq(values: (string | undefined)[]): string[] {
  const out: string[] = [];
  for (const v of values) if (v !== undefined && v !== '' && !out.includes(v)) out.push(v);
  return out;
}

/** The document indexed for one access event, given the signals (of the same step) that name it. */
export function eventDocument(event: AccessEvent, signalsForEvent: readonly Signal[] = []): EventDocument {
  const id = event.identity;
  const ip = parseIp(event.remoteAddress);
  const doc: EventDocument = {
    '@timestamp': new Date(event.time).toISOString(),
    ecs: { version: ECS_VERSION },
    event: {
      kind: 'event',
      module: 'vault',
      dataset: 'vault.audit',
      category: ecsCategory(event.kind),
      type: ecsType(event),
      action: event.operation,
      outcome: ecsOutcome(event.outcome),
      id: event.id,
    },
    related: {},
    vault: {
      path: event.path,
      path_prefix: pathPrefix(event.path),
      path_tree: pathTree(event.path),
      kind: event.kind,
      outcome: event.outcome,
      namespace: event.namespace,
      identity: {
        key: id.key,
        policies: [...id.policies],
        root: id.isRoot,
        anonymous: id.anonymous,
      },
      entries: event.entries,
    },
    vigil: { signals: uniq(signalsForEvent.map((s) => s.detector)) },
  };

  if (id.entityId !== undefined || id.displayName !== undefined) {
    doc.user = {};
    if (id.entityId !== undefined) doc.user.id = id.entityId;
    if (id.displayName !== undefined) doc.user.name = id.displayName;
  }
  if (event.remoteAddress !== undefined && event.remoteAddress !== '') {
    doc.source = { address: event.remoteAddress };
    if (ip !== undefined) doc.source.ip = ip;
    if (event.remotePort !== undefined) doc.source.port = event.remotePort;
  }
  if (event.userAgent !== undefined) doc.user_agent = { original: event.userAgent };
  if (ip !== undefined) doc.related.ip = [ip];
  const users = uniq([
    id.entityId,
    id.displayName,
    event.loginUser,
    event.issued?.entityId,
    event.issued?.displayName,
  ]);
  if (users.length > 0) doc.related.user = users;

  const v = doc.vault;
  if (event.mountType !== undefined || event.mountPoint !== undefined || event.mountClass !== undefined) {
    v.mount = {};
    if (event.mountType !== undefined) v.mount.type = event.mountType;
    if (event.mountPoint !== undefined) v.mount.point = event.mountPoint;
    if (event.mountClass !== undefined) v.mount.class = event.mountClass;
  }
  if (event.errorClass !== undefined) v.error_class = event.errorClass;
  if (event.errorMessage !== undefined) v.error_message = event.errorMessage;
  if (id.entityId !== undefined) v.identity.entity_id = id.entityId;
  if (id.displayName !== undefined) v.identity.display_name = id.displayName;
  if (id.authMethod !== undefined) v.identity.auth_method = id.authMethod;
  if (id.authMount !== undefined) v.identity.auth_mount = id.authMount;
  if (id.tokenType !== undefined) v.identity.token_type = id.tokenType;
  if (id.metadata !== undefined && Object.keys(id.metadata).length > 0)
    v.identity.metadata = { ...id.metadata };
  if (id.tokenRef !== undefined) v.token_ref = id.tokenRef;
  if (event.loginUser !== undefined) v.login_user = event.loginUser;
  if (event.issued) {
    const i = event.issued;
    v.issued = { policies: [...i.policies] };
    if (i.entityId !== undefined) v.issued.entity_id = i.entityId;
    if (i.displayName !== undefined) v.issued.display_name = i.displayName;
    if (i.tokenType !== undefined) v.issued.token_type = i.tokenType;
    if (i.ttlSeconds !== undefined) v.issued.ttl_seconds = i.ttlSeconds;
    if (i.tokenRef !== undefined) v.issued.token_ref = i.tokenRef;
  }

  if (signalsForEvent.length > 0) {
    doc.vigil.score = Math.max(...signalsForEvent.map((s) => (Number.isFinite(s.score) ? s.score : 0)));
  }
  if (event.source !== undefined) doc.vigil.source = event.source;
  return doc;
}

export type AlertDocument = Alert & {
  '@timestamp': string;
  /** Event time of the transition that produced this version of the document. */
  updatedAt: string;
  /** The action of that transition (open, update, resolve). */
  lastAction: AlertTransition['action'];
  /** How many transitions the alert has had (= seq). */
  transitions: number;
};

/**
 * The alerts index holds one document per alert (`_id` = alert id), replaced by every transition;
 * the transition's `seq` is its external version.
 */
export function alertDocument(transition: AlertTransition): AlertDocument {
  const alert = transition.alert;
  return {
    ...alert,
    '@timestamp': alert.openedAt,
    updatedAt: transition.at,
    lastAction: transition.action,
    transitions: alert.seq,
  };
}

/** Daily events index for an event time (UTC day): `<prefix>-events-YYYY.MM.DD`. */
export function eventsIndexName(prefix: string, time: number): string {
  const d = new Date(time);
  const yyyy = String(d.getUTCFullYear()).padStart(4, '0');
  const mm = String(d.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(d.getUTCDate()).padStart(2, '0');
  return `${prefix}-events-${yyyy}.${mm}.${dd}`;
}

export function alertsIndexName(prefix: string): string {
  return `${prefix}-alerts`;
}

export function eventsIndexPattern(prefix: string): string {
  return `${prefix}-events-*`;
}
