import { createHmac, timingSafeEqual } from 'node:crypto';
import { registerSecret, scrubText } from '../audit/secrets.js';
import type { DeliveryResult, Notification, Receiver, ReceiverMemory } from './notification.js';

/**
 * Generic signed JSON webhook, plus the small HTTP helpers the PagerDuty receiver shares with it.
 *
 * Request: `POST <url>` with body `{"version":1,"reason":...,"incident":{...},"transition":{...}}` and
 *
 *   Content-Type:      application/json
 *   X-Vigil-Timestamp: <unix seconds when the request was signed>
 *   X-Vigil-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *   Idempotency-Key:   <notification key, `${alert.id}#${alert.seq}@${receiver}`>
 *
 * How a receiving service verifies a request (see `verifyWebhook`, which does exactly this):
 *   1. Read the RAW body bytes (before any JSON parsing or re-serialisation).
 *   2. Reject when X-Vigil-Timestamp is missing, not an integer, or more than the replay window
 *      (5 minutes by default) away from its own clock: an old captured request cannot be replayed.
 *   3. Compute HMAC-SHA256 with the shared secret over `<timestamp>.<raw body>` and compare it with the
 *      hex after `sha256=` in constant time (crypto.timingSafeEqual / hmac.compare_digest).
 *   4. Deduplicate on Idempotency-Key: Vigil delivers at least once, so a retry after a lost response
 *      carries the same key (and a fresh timestamp and signature).
 *
 * Status handling: 2xx delivered; 408, 429 (Retry-After honoured) and 5xx and network errors are
 * retried; any other 4xx is a permanent failure. Neither the secret nor the URL (which may embed
 * credentials) ever appears in a result reason.
 */

export const WEBHOOK_VERSION = 1;
/** Default replay window for `verifyWebhook`. */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;
const DEFAULT_TIMEOUT_MS = 10_000;
/** At most this much of a response body is read (and it is only used, scrubbed, in reasons). */
const MAX_RESPONSE_CHARS = 2_000;

/** `sha256=<hex>` signature of `<timestamp>.<body>`. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

export interface VerifyWebhookOptions {
  /** Receiver's clock in unix seconds (default: now). */
  nowSeconds?: number;
  /** Accept timestamps at most this far from `nowSeconds` (default 300 s). */
  toleranceSeconds?: number;
}

export type WebhookVerification = { ok: true } | { ok: false; reason: string };

/**
 * Verify a Vigil webhook request as a receiving service would: `timestamp` and `signature` are the raw
 * X-Vigil-Timestamp and X-Vigil-Signature header values, `body` the raw request body.
 */
export function verifyWebhook(
  secret: string,
  timestamp: string | undefined,
  signature: string | undefined,
  body: string,
  options: VerifyWebhookOptions = {},
): WebhookVerification {
  if (!timestamp || !/^\d{1,12}$/.test(timestamp))
    return { ok: false, reason: 'missing or malformed timestamp' };
  if (!signature || !/^sha256=[0-9a-f]{64}$/.test(signature)) {
    return { ok: false, reason: 'missing or malformed signature' };
  }
  const ts = Number(timestamp);
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  if (Math.abs(now - ts) > tolerance) return { ok: false, reason: 'timestamp outside the replay window' };
  const expected = Buffer.from(signWebhook(secret, ts, body), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, reason: 'signature mismatch' };
  }
  return { ok: true };
}

/** The JSON document a webhook receives. */
export interface WebhookBody {
  version: typeof WEBHOOK_VERSION;
  reason: Notification['reason'];
  incident: Notification['incident'];
  transition: Notification['transition'];
}

export function buildWebhookBody(notification: Notification): string {
  const body: WebhookBody = {
    version: WEBHOOK_VERSION,
    reason: notification.reason,
    incident: notification.incident,
    transition: notification.transition,
  };
  // Alerts carry no secrets by contract; the scrubber is the second line of defence.
  return JSON.stringify(scrubDeep(body));
}

export interface WebhookReceiverOptions {
  name: string;
  url: string;
  secret: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /** Clock for the signature timestamp (ms). */
  now?: () => number;
}

export class WebhookReceiver implements Receiver {
  readonly name: string;
  readonly type = 'webhook' as const;
  private readonly url: string;
  private readonly secret: string;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  private readonly authorization: string | undefined;

  constructor(options: WebhookReceiverOptions) {
    this.name = options.name;
    const target = splitCredentials(options.url);
    this.url = target.url;
    this.authorization = target.authorization;
    this.secret = options.secret;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
  }

  async deliver(notification: Notification, _memory: ReceiverMemory): Promise<DeliveryResult> {
    const body = buildWebhookBody(notification);
    const timestamp = Math.floor(this.now() / 1000);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': 'vigil-webhook/1',
      'X-Vigil-Timestamp': String(timestamp),
      'X-Vigil-Signature': signWebhook(this.secret, timestamp, body),
      'Idempotency-Key': notification.key,
    };
    if (this.authorization) headers['Authorization'] = this.authorization;
    const response = await postJson(this.url, body, headers, this.timeoutMs);
    if (response.kind === 'error') {
      return { status: response.permanent ? 'failed' : 'retry', reason: `webhook: ${response.reason}` };
    }
    const { status } = response;
    if (status >= 200 && status < 300) return { status: 'delivered', detail: `HTTP ${status}` };
    const what = `webhook: HTTP ${status}${response.text ? ` ${oneLine(response.text)}` : ''}`;
    if (status === 408 || status === 429 || status >= 500) {
      return withRetryAfter({ status: 'retry', reason: what }, response.retryAfterMs);
    }
    return { status: 'failed', reason: what };
  }
}

// ---- Shared HTTP helpers (also used by the PagerDuty receiver) ----

export type HttpOutcome =
  | { kind: 'response'; status: number; text: string; retryAfterMs?: number }
  /** The request did not produce a response: network error, DNS, refused, reset, timeout. */
  | { kind: 'error'; reason: string; permanent?: boolean };

/**
 * POST a body with fetch and a timeout. Never throws. Reasons name the failure class and code, never the
 * URL or headers (a URL may embed credentials, headers carry tokens).
 */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<HttpOutcome> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'manual',
    });
  } catch (err) {
    // undici reports network failures as TypeError('fetch failed') with a cause; any other TypeError is a
    // request that can never be sent (malformed URL, header), which retrying cannot fix.
    const e = err as { name?: string; message?: string };
    if (e?.name === 'TypeError' && e.message !== 'fetch failed') {
      return {
        kind: 'error',
        reason: 'request rejected before sending (malformed URL or header)',
        permanent: true,
      };
    }
    return { kind: 'error', reason: describeFetchError(err, timeoutMs) };
  }
  let text = '';
  try {
    text = (await res.text()).slice(0, MAX_RESPONSE_CHARS);
  } catch (err) {
    // Headers arrived but the body did not: the status still tells us what happened.
    text = `(body unreadable: ${describeFetchError(err, timeoutMs)})`;
  }
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
  return retryAfterMs === undefined
    ? { kind: 'response', status: res.status, text }
    : { kind: 'response', status: res.status, text, retryAfterMs };
}

export function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as {
    name?: string;
    message?: string;
    code?: string;
    cause?: { code?: string; message?: string };
  };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  const code = e?.cause?.code ?? e?.code;
  if (code) return `network error ${code}`;
  return scrubText(`network error: ${e?.cause?.message ?? e?.message ?? String(err)}`);
}

/**
 * fetch refuses URLs with embedded credentials: move `user:password@` into a Basic Authorization header
 * (and teach the scrubber the password). A URL that does not parse is left for fetch to reject.
 */
export function splitCredentials(raw: string): { url: string; authorization?: string } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { url: raw };
  }
  if (!u.username && !u.password) return { url: raw };
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  registerSecret(password);
  u.username = '';
  u.password = '';
  return {
    url: u.toString(),
    authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64'),
  };
}

/** `Retry-After` as delay-seconds or an HTTP date, in ms (undefined when absent or unparseable). */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export function withRetryAfter(
  result: { status: 'retry'; reason: string },
  retryAfterMs: number | undefined,
): DeliveryResult {
  return retryAfterMs === undefined ? result : { ...result, retryAfterMs };
}

/** Collapse whitespace, cap and scrub a response body for use in a reason. */
export function oneLine(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return scrubText(flat.length > max ? flat.slice(0, max) + '…' : flat);
}

/** Copy of a JSON-like value with every string passed through the scrubber. */
export function scrubDeep<T>(value: T): T {
  return scrubValue(value, 0) as T;
}

function scrubValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object' || depth > 32) return value;
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrubValue(v, depth + 1);
  return out;
}
