import type { Alert } from '../alerts/alert.js';
import type { Severity } from '../audit/event.js';
import { scrubText } from '../audit/secrets.js';
import type { DeliveryResult, Notification, Receiver, ReceiverMemory } from './notification.js';
import { oneLine, postJson, scrubDeep, withRetryAfter } from './webhook.js';

/**
 * PagerDuty Events API v2 (`POST https://events.pagerduty.com/v2/enqueue`).
 *
 * opened / escalated / updated → `trigger`; resolved → `resolve`; both with `dedup_key` = the alert's
 * fingerprint, so every transition of one alert lands on one PagerDuty alert and the resolve closes it.
 * 202 → delivered; 429, 5xx and network errors/timeouts → retry (Retry-After honoured when sent);
 * 400 (`invalid event`) and every other 4xx → failed, never retried.
 */

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';
const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_SUMMARY = 1024;
const MAX_DEDUP_KEY = 255;
const MAX_SOURCE = 255;
const MAX_LIST = 20;

export type PagerDutySeverity = 'critical' | 'error' | 'warning' | 'info';

export interface PagerDutyLink {
  href: string;
  text: string;
}

export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key: string;
  payload?: {
    summary: string;
    source: string;
    severity: PagerDutySeverity;
    timestamp?: string;
    component?: string;
    group?: string;
    class?: string;
    custom_details?: Record<string, unknown>;
  };
  links?: PagerDutyLink[];
  client?: string;
  client_url?: string;
}

const SEVERITY_MAP: Record<Severity, PagerDutySeverity> = {
  critical: 'critical',
  high: 'error',
  medium: 'warning',
  low: 'info',
  info: 'info',
};

export function pagerDutySeverity(severity: Severity): PagerDutySeverity {
  return SEVERITY_MAP[severity] ?? 'info';
}

/** The Events API v2 body for one notification (pure; the routing key is only placed, never logged). */
export function buildPagerDutyEvent(notification: Notification, routingKey: string): PagerDutyEvent {
  const alert = notification.transition.alert;
  const dedupKey = truncate(alert.fingerprint, MAX_DEDUP_KEY);
  if (notification.reason === 'resolved') {
    return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey };
  }
  const links = alertLinks(alert);
  const event: PagerDutyEvent = {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: dedupKey,
    payload: {
      summary: truncate(scrubText(`${alert.title}: ${alert.summary}`), MAX_SUMMARY),
      source: truncate(scrubText(sourceOf(alert)), MAX_SOURCE),
      severity: pagerDutySeverity(alert.severity),
      timestamp: isoOrUndefined(notification.transition.at) ?? isoOrUndefined(alert.lastEventAt),
      component: alert.detector,
      group: alert.family ?? 'vigil',
      class: alert.detector,
      custom_details: scrubDeep(customDetails(notification)),
    },
    client: 'Vigil',
  };
  if (links.length > 0) event.links = links;
  if (alert.links.kibana && isHttpUrl(alert.links.kibana)) event.client_url = alert.links.kibana;
  return event;
}

function sourceOf(alert: Alert): string {
  const who = alert.identity?.displayName ?? alert.identity?.entityId ?? alert.identity?.tokenRef;
  const where = alert.sourceAddresses[0];
  const subject = who && where ? `${who} from ${where}` : (who ?? where ?? alert.groupKey);
  return `${alert.environment ?? 'vigil'}: ${subject}`;
}

function customDetails(n: Notification): Record<string, unknown> {
  const a = n.transition.alert;
  const details: Record<string, unknown> = {
    alert_id: a.id,
    incident_id: n.incident.id,
    reason: n.reason,
    vigil_severity: a.severity,
    score: a.score,
    detector: a.detector,
    environment: a.environment,
    summary: a.summary,
    first_step: a.firstStep,
    evidence: a.evidence,
    event_count: a.eventCount,
    first_event_at: a.firstEventAt,
    last_event_at: a.lastEventAt,
    identity: a.identity
      ? {
          display_name: a.identity.displayName,
          entity_id: a.identity.entityId,
          // A one-way reference (tr_...), never the token itself.
          token_ref: a.identity.tokenRef,
          auth_mount: a.identity.authMount,
        }
      : undefined,
    source_addresses: capList(a.sourceAddresses),
    paths: capList(a.paths),
    runbook: a.links.runbook ?? a.runbook,
    investigate: a.links.kibana,
  };
  for (const k of Object.keys(details)) if (details[k] === undefined) delete details[k];
  return details;
}

function alertLinks(alert: Alert): PagerDutyLink[] {
  const links: PagerDutyLink[] = [];
  if (alert.links.runbook && isHttpUrl(alert.links.runbook))
    links.push({ href: alert.links.runbook, text: 'Runbook' });
  if (alert.links.kibana && isHttpUrl(alert.links.kibana)) {
    links.push({ href: alert.links.kibana, text: 'Investigate in Kibana' });
  }
  return links;
}

export interface PagerDutyReceiverOptions {
  name: string;
  routingKey: string;
  /** Events API URL (default https://events.pagerduty.com/v2/enqueue; tests point it at a local server). */
  url?: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

export class PagerDutyReceiver implements Receiver {
  readonly name: string;
  readonly type = 'pagerduty' as const;
  private readonly routingKey: string;
  private readonly url: string;
  private readonly timeoutMs: number;

  constructor(options: PagerDutyReceiverOptions) {
    this.name = options.name;
    this.routingKey = options.routingKey;
    this.url = options.url ?? PAGERDUTY_EVENTS_URL;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async deliver(notification: Notification, _memory: ReceiverMemory): Promise<DeliveryResult> {
    const event = buildPagerDutyEvent(notification, this.routingKey);
    const action = event.event_action;
    const response = await postJson(
      this.url,
      JSON.stringify(event),
      { 'Content-Type': 'application/json', 'User-Agent': 'vigil-pagerduty/1' },
      this.timeoutMs,
    );
    if (response.kind === 'error') {
      return {
        status: response.permanent ? 'failed' : 'retry',
        reason: `pagerduty ${action}: ${response.reason}`,
      };
    }
    const { status, text } = response;
    if (status >= 200 && status < 300) {
      return { status: 'delivered', detail: `pagerduty ${action} ${event.dedup_key}: HTTP ${status}` };
    }
    const what = `pagerduty ${action}: HTTP ${status} ${describeBody(text)}`.trim();
    if (status === 429 || status >= 500)
      return withRetryAfter({ status: 'retry', reason: what }, response.retryAfterMs);
    // 400 `invalid event` (and any other 4xx): the same event would be rejected again.
    return { status: 'failed', reason: what };
  }
}

/** `message: errors` from a PagerDuty error body, scrubbed (the routing key is a registered secret). */
function describeBody(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown; errors?: unknown };
    const errors = Array.isArray(body.errors) ? body.errors.map(String).join('; ') : '';
    const message = typeof body.message === 'string' ? body.message : '';
    return oneLine([message, errors].filter(Boolean).join(': '));
  } catch {
    return oneLine(text);
  }
}

function capList(list: readonly string[]): string[] {
  return list.length <= MAX_LIST
    ? [...list]
    : [...list.slice(0, MAX_LIST), `… ${list.length - MAX_LIST} more`];
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = max - 1;
  // Do not split a surrogate pair.
  const code = text.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return text.slice(0, cut) + '…';
}

function isoOrUndefined(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

export function isHttpUrl(value: string): boolean {
  return /^https?:\/\/\S+$/i.test(value);
}
