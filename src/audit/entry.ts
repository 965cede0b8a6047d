import { isUtf8 } from 'node:buffer';
import type { Identity } from './event.js';
import { tokenRef } from './secrets.js';

/**
 * One Vault/OpenBao audit entry (request or response), reduced to the facts Vigil uses. Built
 * straight from the parsed JSON; nothing secret is copied (no tokens, accessors, data, wrap info).
 */
export interface AuditEntry {
  type: 'request' | 'response';
  /** Entry time, epoch ms. */
  time: number;
  requestId: string;
  namespace: string;
  operation: string;
  path: string;
  mountType?: string;
  mountPoint?: string;
  mountClass?: string;
  remoteAddress?: string;
  remotePort?: number;
  /** The caller, as the `auth` object describes it. */
  identity: Identity;
  /** Top-level `error` text (never HMAC'd by Vault). */
  error?: string;
  /** `response.data.error` was present (its value is HMAC'd and never read). */
  responseDataError: boolean;
  /** `auth.policy_results.allowed`, when Vault wrote it. */
  policyAllowed?: boolean;
  /** Identity facts of a token issued by this call (`response.auth`), never the token. */
  issued?: {
    entityId?: string;
    displayName?: string;
    policies: string[];
    tokenType?: string;
    ttlSeconds?: number;
    tokenRef?: string;
  };
  userAgent?: string;
}

export type ParseResult = { ok: true; entry: AuditEntry } | { ok: false; reason: string };

const TIME_PREFIX = Buffer.from('{"time":"');
const VAULT_REQUEST_END = Buffer.from(',"type":"request"}');
const BAO_REQUEST_TYPE = Buffer.from(',"type":"request",');
const REQUEST_ID = Buffer.from('"request":{"id":"');

/** Whether `line` holds exactly `bytes` at `at` (a plain loop: faster than Buffer#compare for a few bytes). */
function bytesAt(line: Buffer, at: number, bytes: Buffer): boolean {
  if (at < 0 || at + bytes.length > line.length) return false;
  for (let i = 0; i < bytes.length; i++) if (line[at + i] !== bytes[i]) return false;
  return true;
}

/**
 * Recognise a request entry without parsing it, from the fixed shape Vault and OpenBao write (Go's
 * encoder: compact JSON, fixed key order): `{"time":"…",` first, and `"type":"request"` last (Vault) or
 * right after the time (OpenBao). A request's response repeats its request and auth, so the request
 * entry itself is only needed when no response comes: it is kept raw and parsed then. Anything that
 * does not match exactly is parsed in full as usual.
 */
export function peekRequest(line: Buffer): { id: string; time: number } | undefined {
  if (line.length < 64 || !bytesAt(line, 0, TIME_PREFIX)) return undefined;
  const timeEnd = line.indexOf(34, TIME_PREFIX.length);
  if (timeEnd < 0 || timeEnd - TIME_PREFIX.length > 40) return undefined;
  const vault = bytesAt(line, line.length - VAULT_REQUEST_END.length, VAULT_REQUEST_END);
  if (!vault && !bytesAt(line, timeEnd + 1, BAO_REQUEST_TYPE)) return undefined;
  const at = line.indexOf(REQUEST_ID);
  if (at < 0) return undefined;
  const idStart = at + REQUEST_ID.length;
  const idEnd = line.indexOf(34, idStart);
  if (idEnd <= idStart || idEnd - idStart > 128) return undefined;
  const escaped = line.indexOf(92, idStart);
  if (escaped >= 0 && escaped < idEnd) return undefined;
  const time = parseTime(line.toString('latin1', TIME_PREFIX.length, timeEnd));
  if (Number.isNaN(time)) return undefined;
  return { id: line.toString('latin1', idStart, idEnd), time };
}

/** Entry types that are valid audit entries Vigil does not analyse (e.g. Enterprise KMIP). */
const IGNORED_TYPES = new Set(['kmip-request', 'kmip-response']);

export const IGNORED = 'ignored entry type';

/**
 * Parse one audit line. Tolerates a device `prefix` or a syslog header before the JSON object.
 * Returns a reason instead of throwing: bad input is data, not an exception.
 */
export function parseAuditLine(line: Buffer | string): ParseResult {
  let text: string;
  if (typeof line === 'string') {
    text = line;
  } else {
    if (!isUtf8(line)) return fail('invalid UTF-8');
    text = line.toString('utf8');
  }
  let start = 0;
  if (text.charCodeAt(0) !== 123 /* { */) {
    start = text.indexOf('{');
    if (start < 0) return fail(text.trim() === '' ? 'empty line' : 'not a JSON object');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(start === 0 ? text : text.slice(start));
  } catch (err) {
    return fail(jsonErrorReason(err));
  }
  return entryFromJson(raw);
}

/**
 * The reason for a line JSON.parse refused. V8's message quotes the input around the error, and
 * that text can be a secret logged in clear (a password in request data), so only the kind of error
 * and its position are kept.
 */
export function jsonErrorReason(err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  const position = /\bat position (\d+)/.exec(message)?.[1];
  const kinds: [RegExp, string][] = [
    [/^Unexpected end of JSON input/, 'unexpected end of input'],
    [/^Unexpected token/, 'unexpected token'],
    [/^Unexpected non-whitespace character after JSON/, 'text after the JSON value'],
    [/^Bad control character/, 'control character in a string'],
    [/^Unterminated string/, 'unterminated string'],
    [/^Bad (escaped character|Unicode escape)/, 'bad escape in a string'],
    [/^Expected/, 'malformed object or array'],
  ];
  const kind = kinds.find(([re]) => re.test(message))?.[1] ?? 'syntax error';
  return `invalid JSON: ${kind}${position ? ` at character ${position}` : ''}`;
}

/** Build an AuditEntry from an already-parsed JSON value (Kafka sources may hand us objects). */
export function entryFromJson(raw: unknown): ParseResult {
  if (!isObject(raw)) return fail('entry is not a JSON object');
  const type = raw['type'];
  if (type !== 'request' && type !== 'response') {
    if (typeof type === 'string' && IGNORED_TYPES.has(type)) return fail(IGNORED);
    return fail(typeof type === 'string' ? `unknown entry type "${truncate(type)}"` : 'missing "type"');
  }
  const timeText = raw['time'];
  if (typeof timeText !== 'string') return fail('missing or non-string "time"');
  const time = parseTime(timeText);
  if (Number.isNaN(time)) return fail('unparseable "time"');

  const request = raw['request'];
  if (!isObject(request)) return fail('missing "request" object');
  const path = request['path'];
  if (typeof path !== 'string') return fail('missing or non-string "request.path"');
  const operation = request['operation'];
  if (typeof operation !== 'string') return fail('missing or non-string "request.operation"');
  const id = request['id'];
  if (id !== undefined && typeof id !== 'string') return fail('non-string "request.id"');

  const auth = raw['auth'];
  if (auth !== undefined && auth !== null && !isObject(auth)) return fail('"auth" is not an object');
  const response = raw['response'];
  if (response !== undefined && response !== null && !isObject(response))
    return fail('"response" is not an object');
  const error = raw['error'];
  if (error !== undefined && error !== null && typeof error !== 'string') return fail('non-string "error"');

  const mountType = str(request['mount_type']) ?? (response ? str(response['mount_type']) : undefined);
  const mountPoint = str(request['mount_point']) ?? (response ? str(response['mount_point']) : undefined);
  const mountClass = str(request['mount_class']) ?? (response ? str(response['mount_class']) : undefined);
  const remoteAddress = str(request['remote_address']);
  const remotePort = request['remote_port'];

  const entry: AuditEntry = {
    type,
    time,
    requestId: id ?? '',
    namespace: namespaceOf(request['namespace']),
    operation,
    path: stripLeadingSlash(path),
    identity: identityOf(auth ?? undefined, remoteAddress),
    responseDataError: false,
  };
  if (mountType) entry.mountType = mountType;
  if (mountPoint) entry.mountPoint = mountPoint;
  if (mountClass) entry.mountClass = mountClass;
  if (remoteAddress) entry.remoteAddress = remoteAddress;
  if (typeof remotePort === 'number' && Number.isInteger(remotePort)) entry.remotePort = remotePort;
  if (typeof error === 'string' && error.length > 0) entry.error = error;

  if (isObject(auth)) {
    const results = auth['policy_results'];
    if (isObject(results) && typeof results['allowed'] === 'boolean')
      entry.policyAllowed = results['allowed'];
  }
  if (isObject(response)) {
    const data = response['data'];
    if (isObject(data) && data['error'] !== undefined) entry.responseDataError = true;
    const issued = response['auth'];
    if (isObject(issued)) entry.issued = issuedOf(issued);
  }
  const headers = request['headers'];
  if (isObject(headers)) {
    const ua = headers['user-agent'];
    const value = Array.isArray(ua) ? ua[0] : ua;
    if (typeof value === 'string' && !value.startsWith('hmac-')) entry.userAgent = truncate(value, 256);
  }
  return { ok: true, entry };
}

function identityOf(auth: Record<string, unknown> | undefined, remoteAddress: string | undefined): Identity {
  const policies = auth ? policiesOf(auth) : [];
  const entityId = auth ? str(auth['entity_id']) : undefined;
  const displayName = auth ? str(auth['display_name']) : undefined;
  const tokenType = auth ? str(auth['token_type']) : undefined;
  const accessor = auth ? str(auth['accessor']) : undefined;
  const clientToken = auth ? str(auth['client_token']) : undefined;
  // No policies and no name means Vault resolved no token: a login or a bad/missing token.
  const anonymous = policies.length === 0 && !displayName && !entityId;

  const identity: Identity = { key: '', policies, isRoot: policies.includes('root'), anonymous };
  if (entityId) identity.entityId = entityId;
  if (displayName) identity.displayName = displayName;
  if (tokenType) identity.tokenType = tokenType;
  if (accessor) identity.tokenRef = tokenRef(accessor);
  else if (clientToken && !anonymous) identity.tokenRef = tokenRef(clientToken);
  if (auth) {
    const metadata = auth['metadata'];
    if (isObject(metadata)) {
      const clear = clearMetadata(metadata);
      if (clear) identity.metadata = clear;
    }
  }
  identity.key = identityKey(identity, remoteAddress);
  return identity;
}

/** Stable baseline key: entity id, else display name, else token reference, else source address. */
export function identityKey(identity: Identity, remoteAddress: string | undefined): string {
  if (identity.entityId) return `entity:${identity.entityId}`;
  if (identity.displayName) return `name:${identity.displayName}`;
  if (identity.tokenRef && !identity.anonymous) return `token:${identity.tokenRef}`;
  return `anon:${remoteAddress ?? 'unknown'}`;
}

function issuedOf(auth: Record<string, unknown>): NonNullable<AuditEntry['issued']> {
  const issued: NonNullable<AuditEntry['issued']> = { policies: policiesOf(auth) };
  const entityId = str(auth['entity_id']);
  const displayName = str(auth['display_name']);
  const tokenType = str(auth['token_type']);
  const ttl = auth['token_ttl'];
  const accessor = str(auth['accessor']);
  if (entityId) issued.entityId = entityId;
  if (displayName) issued.displayName = displayName;
  if (tokenType) issued.tokenType = tokenType;
  if (typeof ttl === 'number' && Number.isFinite(ttl)) issued.ttlSeconds = ttl;
  if (accessor) issued.tokenRef = tokenRef(accessor);
  return issued;
}

function policiesOf(auth: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const key of ['policies', 'token_policies', 'identity_policies'] as const) {
    const list = auth[key];
    if (!Array.isArray(list)) continue;
    for (const p of list) if (typeof p === 'string' && !out.includes(p)) out.push(p);
  }
  return out;
}

/** Metadata keys Vault writes in clear that identify the caller; other keys are not copied. */
const METADATA_KEYS = [
  'username',
  'role_name',
  'role',
  'service_account_name',
  'service_account_namespace',
  'email',
];

function clearMetadata(metadata: Record<string, unknown>): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const key of METADATA_KEYS) {
    const v = metadata[key];
    if (typeof v === 'string' && v && !v.startsWith('hmac-')) (out ??= {})[key] = truncate(v, 128);
  }
  return out;
}

function namespaceOf(ns: unknown): string {
  if (!isObject(ns)) return '';
  const path = ns['path'];
  if (typeof path === 'string') return path;
  const id = ns['id'];
  return typeof id === 'string' && id !== 'root' ? id : '';
}

/**
 * RFC3339(Nano) to epoch ms. The common UTC form Vault writes (`2026-01-05T00:00:00.196813919Z`) is
 * read digit by digit (this runs for every entry); anything else goes through Date.parse, with fraction
 * digits beyond milliseconds trimmed first.
 */
export function parseTime(text: string): number {
  const n = text.length;
  if (n >= 20 && text.charCodeAt(n - 1) === 90 /* Z */ && text.charCodeAt(10) === 84 /* T */) {
    const fast = parseUtcFast(text, n);
    if (fast !== undefined) return fast;
  }
  return parseTimeSlow(text);
}

function digits(text: string, from: number, count: number): number {
  let v = 0;
  for (let i = from; i < from + count; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function parseUtcFast(text: string, n: number): number | undefined {
  if (
    text.charCodeAt(4) !== 45 ||
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(13) !== 58 ||
    text.charCodeAt(16) !== 58
  ) {
    return undefined;
  }
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  if (year < 0 || hour < 0 || minute < 0 || second < 0) return undefined;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return Number.NaN;
  let ms = 0;
  if (n > 20) {
    if (text.charCodeAt(19) !== 46 /* . */ || n < 22) return undefined;
    const fraction = n - 21;
    const take = Math.min(3, fraction);
    const f = digits(text, 20, take);
    if (f < 0 || digits(text, 20 + take, fraction - take) < 0) return undefined;
    ms = take === 3 ? f : take === 2 ? f * 10 : f * 100;
  } else if (n !== 20) {
    return undefined;
  }
  // Date.UTC would roll 31 February over into March: that date does not exist.
  if (day > 28 && day > daysInMonth(year, month)) return Number.NaN;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

function parseTimeSlow(text: string): number {
  const dot = text.indexOf('.');
  if (dot > 0) {
    let end = dot + 1;
    while (end < text.length && text.charCodeAt(end) >= 48 && text.charCodeAt(end) <= 57) end++;
    if (end - dot > 4) text = text.slice(0, dot + 4) + text.slice(end);
  }
  return Date.parse(text);
}

function stripLeadingSlash(p: string): string {
  return p.charCodeAt(0) === 47 ? p.replace(/^\/+/, '') : p;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function truncate(s: string, max = 64): string {
  return s.length > max ? s.slice(0, max) + '…' : s;
}

function fail(reason: string): ParseResult {
  return { ok: false, reason };
}
