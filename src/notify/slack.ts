import {
  ErrorCode,
  LogLevel,
  WebClient,
  type Block,
  type ChatPostMessageArguments,
  type ChatUpdateArguments,
  type Logger as SlackLogger,
} from '@slack/web-api';
import type { Alert } from '../alerts/alert.js';
import type { Severity } from '../audit/event.js';
import { scrubText } from '../audit/secrets.js';
import type { Logger } from '../ops/logger.js';
import type { DeliveryResult, Notification, Receiver, ReceiverMemory } from './notification.js';

/**
 * Slack receiver (Web API `chat.postMessage` / `chat.update` through the official WebClient).
 *
 * One message per alert, edited in place as the alert changes; every alert of an incident after the
 * first goes into the thread of the incident's first message. Escalations and resolutions also leave a
 * short reply in the thread (an edit does not notify anyone; a reply does). The outbox owns retries:
 * the client makes exactly one attempt per call and hands 429s back instead of sleeping on them.
 *
 * Memory (per receiver, survives restarts): `alert:<alert id>` and `incident:<incident id>` →
 * `{ channel, ts, threadTs, severity, eventCount }` (channel is the id Slack answered with: chat.update
 * needs the id, not the `#name` from configuration).
 */

// ---- Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks) ----
const MAX_HEADER = 150;
const MAX_SECTION = 3000;
const MAX_FIELD = 2000;
const MAX_FIELDS = 10;
const MAX_CONTEXT_ELEMENTS = 10;
const MAX_BLOCKS = 50;
/** The notification `text` is shown in push notifications and truncated by Slack long before 40k. */
const MAX_TEXT = 3000;
const MAX_LISTED = 5;

const DEFAULT_TIMEOUT_MS = 10_000;

const SEVERITY_EMOJI: Record<Severity, string> = {
  critical: '🔴',
  high: '🟠',
  medium: '🟡',
  low: '🔵',
  info: '⚪',
};

// ---- Message building (pure) ----

export interface SlackTextObject {
  type: 'plain_text' | 'mrkdwn';
  text: string;
  emoji?: boolean;
}

export type SlackBlock =
  | { type: 'header'; text: SlackTextObject }
  | { type: 'section'; text?: SlackTextObject; fields?: SlackTextObject[] }
  | { type: 'context'; elements: SlackTextObject[] }
  | { type: 'divider' };

export interface SlackMessage {
  /** Notification / fallback text (mrkdwn). */
  text: string;
  blocks: SlackBlock[];
}

export interface BuildSlackMessageOptions {
  /** Mentions added to critical, unresolved alerts (`<!here>`, `<@U123>`, `<!subteam^S123>`). */
  mentions?: readonly string[];
}

/**
 * The Block Kit message for a notification: the alert's "live" look for opened/escalated/updated, the
 * resolved look for resolved. Every piece of alert text is scrubbed, escaped and cut to Block Kit limits.
 */
export function buildSlackMessage(
  notification: Notification,
  options: BuildSlackMessageOptions = {},
): SlackMessage {
  const alert = notification.transition.alert;
  const resolved = notification.reason === 'resolved' || alert.status === 'resolved';
  const label = alert.severity.toUpperCase();
  const emoji = SEVERITY_EMOJI[alert.severity] ?? '⚪';
  const mentions = !resolved && alert.severity === 'critical' ? mentionText(options.mentions) : '';
  const blocks: SlackBlock[] = [];

  const headerText = resolved
    ? `✅ RESOLVED: ${clean(alert.title)}`
    : `${emoji} ${label}: ${clean(alert.title)}`;
  blocks.push({
    type: 'header',
    text: { type: 'plain_text', text: cut(headerText, MAX_HEADER), emoji: true },
  });

  if (resolved) {
    const was = `was ${emoji} ${label}`;
    const span = `${when(alert.firstEventAt)} → ${when(alert.lastEventAt)}`;
    blocks.push(
      mrkdwnSection(
        `*Resolved after ${plural(alert.eventCount, 'event')}* (${span}), ${was}.\n${esc(alert.summary)}`,
      ),
    );
    const fields = [field('Who', whoOf(alert)), field('Where', listOf(alert.sourceAddresses))];
    blocks.push({ type: 'section', fields });
  } else {
    const summary = `${mentions ? mentions + '\n' : ''}${esc(alert.summary)}`;
    blocks.push(mrkdwnSection(summary));
    const fields = [
      field('Who', whoOf(alert)),
      field('Where', listOf(alert.sourceAddresses)),
      field('What', listOf(alert.paths, true)),
      field(
        'When',
        `${when(alert.firstEventAt)} → ${when(alert.lastEventAt)}\n${plural(alert.eventCount, 'event')}`,
      ),
    ];
    const ev = alert.evidence ?? {};
    if (ev.observed !== undefined || ev.expected !== undefined || ev.window !== undefined) {
      const observed = ev.observed !== undefined ? esc(String(ev.observed)) : '?';
      const expected = ev.expected !== undefined ? esc(String(ev.expected)) : '?';
      const window = ev.window !== undefined ? ` in ${esc(String(ev.window))}` : '';
      fields.push(field('Observed vs expected', `*${observed}* vs ${expected}${window}`));
    }
    fields.push(field('Severity', `${emoji} ${label} · score ${formatScore(alert.score)}`));
    blocks.push({ type: 'section', fields: fields.slice(0, MAX_FIELDS) });
    if (alert.firstStep) blocks.push(mrkdwnSection(`*First step:* ${esc(alert.firstStep)}`));
  }

  const links = linksLine(alert);
  if (links) blocks.push(mrkdwnSection(links));

  blocks.push({ type: 'context', elements: contextElements(notification) });

  const text = resolved
    ? `✅ Resolved: ${esc(alert.title)} (after ${plural(alert.eventCount, 'event')})`
    : `${mentions ? mentions + ' ' : ''}${emoji} [${label}] ${esc(alert.title)}: ${esc(alert.summary)}`;
  return { text: cut(text, MAX_TEXT), blocks: blocks.slice(0, MAX_BLOCKS) };
}

/** Short thread reply for an escalation: what changed since the message was last written. */
export function buildEscalationNote(
  notification: Notification,
  previous: { severity?: Severity; eventCount?: number } | undefined,
  options: BuildSlackMessageOptions = {},
): string {
  const a = notification.transition.alert;
  const changes: string[] = [];
  if (previous?.severity && previous.severity !== a.severity) {
    changes.push(`severity ${previous.severity} → *${a.severity}*`);
  } else {
    changes.push(`severity now *${a.severity}*`);
  }
  if (previous?.eventCount !== undefined && previous.eventCount !== a.eventCount) {
    changes.push(`events ${previous.eventCount} → ${a.eventCount}`);
  }
  const ev = a.evidence ?? {};
  if (ev.observed !== undefined) changes.push(`observed ${esc(String(ev.observed))}`);
  const mentions = a.severity === 'critical' ? mentionText(options.mentions) : '';
  return cut(`${mentions ? mentions + ' ' : ''}⬆️ Escalated: ${changes.join(', ')}.`, MAX_TEXT);
}

/** Short thread reply for a resolution. */
export function buildResolvedNote(notification: Notification): string {
  const a = notification.transition.alert;
  return cut(
    `✅ Resolved after ${plural(a.eventCount, 'event')} (last event ${when(a.lastEventAt)}).`,
    MAX_TEXT,
  );
}

function mrkdwnSection(text: string): SlackBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: cut(text, MAX_SECTION) } };
}

function field(title: string, body: string): SlackTextObject {
  return { type: 'mrkdwn', text: cut(`*${title}*\n${body || '—'}`, MAX_FIELD) };
}

function whoOf(alert: Alert): string {
  const id = alert.identity;
  if (!id) return '—';
  const lines: string[] = [];
  if (id.displayName) lines.push(`*${esc(id.displayName)}*`);
  if (id.entityId) lines.push(`entity ${code(id.entityId)}`);
  if (id.tokenRef) lines.push(`token ref ${code(id.tokenRef)}`);
  if (id.authMount) lines.push(`via ${code(id.authMount)}`);
  if (lines.length === 0 && id.key) lines.push(code(id.key));
  return lines.join('\n') || '—';
}

function listOf(items: readonly string[], asCode = false): string {
  if (items.length === 0) return '—';
  const shown = items.slice(0, MAX_LISTED).map((s) => (asCode ? code(s) : esc(clean(s))));
  const more = items.length > MAX_LISTED ? `\n+${items.length - MAX_LISTED} more` : '';
  return shown.join(asCode ? '\n' : ', ') + more;
}

function linksLine(alert: Alert): string {
  const parts: string[] = [];
  const runbook = alert.links.runbook ?? alert.runbook;
  if (runbook)
    parts.push(isHttpUrl(runbook) ? `📘 ${link(runbook, 'Runbook')}` : `📘 Runbook: ${code(runbook)}`);
  if (alert.links.kibana && isHttpUrl(alert.links.kibana))
    parts.push(`🔎 ${link(alert.links.kibana, 'Investigate')}`);
  // A link is never cut in half: drop the ones that do not fit.
  let line = '';
  for (const p of parts) {
    const next = line ? `${line}   ·   ${p}` : p;
    if (next.length <= MAX_SECTION) line = next;
  }
  return line;
}

function contextElements(n: Notification): SlackTextObject[] {
  const a = n.transition.alert;
  const parts = [
    `detector ${code(a.detector)}`,
    `alert ${code(a.id)}`,
    `incident ${code(n.incident.id)}`,
    `env ${code(a.environment ?? 'unknown')}`,
  ];
  if (n.reason !== 'opened') parts.push(`${n.reason} ${when(n.transition.at)} (transition ${a.seq})`);
  const elements: SlackTextObject[] = [{ type: 'mrkdwn', text: cut(parts.join(' · '), MAX_FIELD) }];
  return elements.slice(0, MAX_CONTEXT_ELEMENTS);
}

function mentionText(mentions: readonly string[] | undefined): string {
  // Mentions come from configuration and are the only unescaped `<...>` in a message.
  return (mentions ?? []).filter((m) => /^<[!@#][^<>]*>$/.test(m)).join(' ');
}

/** Scrub secrets (before anything else touches the text). */
function clean(text: string): string {
  return scrubText(text);
}

/** Scrub, then escape for mrkdwn: alert text can never inject a `<!channel>` or a fake link. */
function esc(text: string): string {
  return clean(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function code(text: string): string {
  const t = esc(text).replace(/`/g, "'").replace(/\n/g, ' ');
  return '`' + (t.length > 300 ? cut(t, 300) : t) + '`';
}

function link(url: string, label: string): string {
  const safe = clean(url).replace(/\|/g, '%7C').replace(/</g, '%3C').replace(/>/g, '%3E');
  return `<${safe}|${label}>`;
}

/** Epoch-aware date token: Slack renders it in the reader's time zone; the fallback is UTC. */
function when(iso: string | undefined): string {
  if (!iso) return '?';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return esc(iso);
  const fallback = new Date(t)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
  return `<!date^${Math.floor(t / 1000)}^{date_short} {time_secs}|${fallback}>`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function formatScore(score: number): string {
  return Number.isInteger(score) ? String(score) : score.toFixed(2);
}

function isHttpUrl(value: string): boolean {
  return /^https?:\/\/\S+$/i.test(value);
}

/**
 * Cut text to `max` characters (with an ellipsis) without splitting a surrogate pair, an `&amp;`-style
 * entity or a `<...>` token (mention, link, date).
 */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  let head = text.slice(0, end);
  const amp = head.lastIndexOf('&');
  if (amp >= 0 && amp >= head.length - 5 && !head.slice(amp).includes(';')) head = head.slice(0, amp);
  const open = head.lastIndexOf('<');
  if (open > head.lastIndexOf('>')) head = head.slice(0, open);
  return head + '…';
}

// ---- The receiver ----

export interface SlackRef {
  channel: string;
  ts: string;
  /** Thread the alert's replies go to: its own ts when top-level, the incident's when it is a reply. */
  threadTs: string;
  severity?: Severity;
  eventCount?: number;
}

export interface SlackReceiverOptions {
  name: string;
  /** Channel id or `#name` from configuration. */
  channel: string;
  token: string;
  mentionOnCritical?: readonly string[];
  /** Web API base URL (tests point it at a local server). */
  apiUrl?: string;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  logger?: Logger;
}

/** Platform errors retrying cannot fix. Unknown errors are also treated as permanent. */
const PERMANENT_ERRORS = new Set([
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'no_permission',
  'missing_scope',
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'invalid_blocks',
  'invalid_blocks_format',
  'msg_too_long',
  'no_text',
  'too_many_attachments',
  'restricted_action',
  'cant_update_message',
  'edit_window_closed',
  'invalid_arguments',
]);
/** Platform errors that say "later". */
const TRANSIENT_ERRORS = new Set([
  'ratelimited',
  'rate_limited',
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
]);

class SlackCallError extends Error {
  constructor(
    readonly result: DeliveryResult,
    readonly slackError?: string,
  ) {
    super(result.status === 'delivered' ? 'delivered' : result.reason);
  }
}

export class SlackReceiver implements Receiver {
  readonly name: string;
  readonly type = 'slack' as const;
  private readonly client: WebClient;
  private readonly channel: string;
  private readonly mentions: readonly string[];
  private readonly logger: Logger | undefined;

  constructor(options: SlackReceiverOptions) {
    this.name = options.name;
    this.channel = options.channel;
    this.mentions = options.mentionOnCritical ?? [];
    this.logger = options.logger;
    this.client = new WebClient(options.token, {
      ...(options.apiUrl ? { slackApiUrl: options.apiUrl } : {}),
      // The outbox owns retries and backoff: one attempt per call, 429s come back as errors.
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      logger: quietSlackLogger(options.logger),
    });
  }

  async deliver(notification: Notification, memory: ReceiverMemory): Promise<DeliveryResult> {
    try {
      return await this.handle(notification, memory);
    } catch (err) {
      if (err instanceof SlackCallError) return err.result;
      return { status: 'retry', reason: scrubText(`slack: ${(err as Error)?.message ?? String(err)}`) };
    }
  }

  async digest(text: string): Promise<DeliveryResult> {
    try {
      const body = cut(scrubText(text), 3000);
      await this.call('chat.postMessage', () =>
        this.client.chat.postMessage({
          channel: this.channel,
          text: body,
          blocks: [{ type: 'section', text: { type: 'mrkdwn', text: body } }],
          unfurl_links: false,
        }),
      );
      return { status: 'delivered' };
    } catch (err) {
      if (err instanceof SlackCallError) return err.result;
      return { status: 'retry', reason: scrubText(`slack: ${(err as Error)?.message ?? String(err)}`) };
    }
  }

  async close(): Promise<void> {}

  private async handle(n: Notification, memory: ReceiverMemory): Promise<DeliveryResult> {
    const alert = n.transition.alert;
    const alertKey = `alert:${alert.id}`;
    const ref = memory.get<SlackRef>(alertKey);
    if (!ref) {
      // First notification of this alert (or its message reference was lost): post a new message.
      const posted = await this.postAlert(n, memory);
      if (n.reason === 'resolved') memory.delete(alertKey);
      return { status: 'delivered', detail: `posted ${posted.ts}` };
    }

    // The alert already has a message: edit it in place.
    const message = buildSlackMessage(n, { mentions: this.mentions });
    let target = ref;
    try {
      await this.call('chat.update', () =>
        this.client.chat.update({
          channel: ref.channel,
          ts: ref.ts,
          text: message.text,
          blocks: message.blocks as Block[],
        } as ChatUpdateArguments),
      );
    } catch (err) {
      if (!(err instanceof SlackCallError) || err.slackError !== 'message_not_found') throw err;
      this.logger?.info(
        { receiver: this.name, alertId: alert.id },
        'Slack message of the alert is gone; posting a new one',
      );
      memory.delete(alertKey);
      target = await this.postAlert(n, memory);
      if (n.reason === 'resolved') memory.delete(alertKey);
      return { status: 'delivered', detail: `reposted ${target.ts}` };
    }

    if (n.reason === 'escalated') {
      const note = buildEscalationNote(n, ref, { mentions: this.mentions });
      await this.postText(target.channel, target.threadTs, note, alert.severity === 'critical');
    } else if (n.reason === 'resolved') {
      await this.postText(target.channel, target.threadTs, buildResolvedNote(n), false);
    }
    if (n.reason === 'resolved') memory.delete(alertKey);
    else
      memory.set(alertKey, {
        ...target,
        severity: alert.severity,
        eventCount: alert.eventCount,
      } satisfies SlackRef);
    return { status: 'delivered', detail: `updated ${target.ts}` };
  }

  /** Post the alert's message: top level for an incident's first alert, else in the incident thread. */
  private async postAlert(n: Notification, memory: ReceiverMemory): Promise<SlackRef> {
    const alert = n.transition.alert;
    const incidentKey = `incident:${n.incident.id}`;
    const incident = memory.get<SlackRef>(incidentKey);
    const isFirst = n.incident.firstAlertId === alert.id;
    const threadTs = !isFirst && incident ? incident.threadTs : undefined;
    const channel = threadTs && incident ? incident.channel : this.channel;
    const message = buildSlackMessage(n, { mentions: this.mentions });
    const args: Record<string, unknown> = {
      channel,
      text: message.text,
      blocks: message.blocks,
      unfurl_links: false,
      unfurl_media: false,
    };
    if (threadTs) {
      args['thread_ts'] = threadTs;
      // A critical alert inside an incident thread is also shown in the channel.
      if (alert.severity === 'critical' && n.reason !== 'resolved') args['reply_broadcast'] = true;
    }
    const res = await this.call('chat.postMessage', () =>
      this.client.chat.postMessage(args as unknown as ChatPostMessageArguments),
    );
    const ts = typeof res.ts === 'string' ? res.ts : undefined;
    const postedChannel = typeof res.channel === 'string' ? res.channel : channel;
    if (!ts)
      throw new SlackCallError({ status: 'retry', reason: 'slack chat.postMessage: response without ts' });
    const ref: SlackRef = {
      channel: postedChannel,
      ts,
      threadTs: threadTs ?? ts,
      severity: alert.severity,
      eventCount: alert.eventCount,
    };
    memory.set(`alert:${alert.id}`, ref);
    // The first top-level message of an incident becomes its thread (unless one exists already).
    if (!threadTs && !incident)
      memory.set(incidentKey, { channel: postedChannel, ts, threadTs: ts } satisfies SlackRef);
    return ref;
  }

  private async postText(channel: string, threadTs: string, text: string, broadcast: boolean): Promise<void> {
    const args: Record<string, unknown> = { channel, thread_ts: threadTs, text, unfurl_links: false };
    if (broadcast) args['reply_broadcast'] = true;
    await this.call('chat.postMessage', () =>
      this.client.chat.postMessage(args as unknown as ChatPostMessageArguments),
    );
  }

  private async call<T>(method: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const { result, slackError } = classifySlackError(err, method);
      throw new SlackCallError(result, slackError);
    }
  }
}

/**
 * Map a WebClient error to a delivery result. Reasons name the method and Slack's error code only:
 * never the token, never request headers.
 */
export function classifySlackError(
  err: unknown,
  method: string,
): { result: DeliveryResult; slackError?: string } {
  const e = err as {
    code?: string;
    message?: string;
    retryAfter?: number;
    statusCode?: number;
    headers?: Record<string, string>;
    data?: { error?: string; response_metadata?: { retryAfter?: number } };
    original?: { code?: string; message?: string };
  };
  const prefix = `slack ${method}`;
  switch (e?.code) {
    case ErrorCode.RateLimitedError: {
      const result: DeliveryResult = { status: 'retry', reason: `${prefix}: rate limited (HTTP 429)` };
      if (typeof e.retryAfter === 'number' && e.retryAfter >= 0) result.retryAfterMs = e.retryAfter * 1000;
      return { result };
    }
    case ErrorCode.PlatformError: {
      const error = String(e.data?.error ?? 'unknown_error');
      const reason = scrubText(`${prefix}: ${error}`);
      if (TRANSIENT_ERRORS.has(error)) {
        const result: DeliveryResult = { status: 'retry', reason };
        const after = e.data?.response_metadata?.retryAfter;
        if (typeof after === 'number' && after >= 0) result.retryAfterMs = after * 1000;
        return { result, slackError: error };
      }
      // Documented permanent errors, and anything unknown: the same call would fail the same way.
      const why = PERMANENT_ERRORS.has(error) ? reason : `${reason} (unrecognised Slack error, not retried)`;
      return { result: { status: 'failed', reason: why }, slackError: error };
    }
    case ErrorCode.HTTPError: {
      const status = e.statusCode ?? 0;
      const reason = `${prefix}: HTTP ${status}`;
      if (status >= 500 || status === 408 || status === 429) {
        const result: DeliveryResult = { status: 'retry', reason };
        const after = Number.parseInt(e.headers?.['retry-after'] ?? '', 10);
        if (!Number.isNaN(after)) result.retryAfterMs = after * 1000;
        return { result };
      }
      return { result: { status: 'failed', reason } };
    }
    case ErrorCode.RequestError: {
      const code = e.original?.code;
      const timedOut =
        code === 'ECONNABORTED' || code === 'ETIMEDOUT' || /timeout/i.test(e.original?.message ?? '');
      const reason = timedOut ? `${prefix}: timed out` : `${prefix}: network error ${code ?? 'unknown'}`;
      return { result: { status: 'retry', reason } };
    }
    default: {
      const message = e?.message ?? String(err);
      // A 429 without a usable Retry-After comes back as a plain error from the client.
      if (/rate limit|retry header/i.test(message)) {
        return { result: { status: 'retry', reason: `${prefix}: rate limited (HTTP 429, no Retry-After)` } };
      }
      return { result: { status: 'retry', reason: scrubText(`${prefix}: ${message}`) } };
    }
  }
}

/**
 * The WebClient's own logger: silent except warnings and errors, which go to our logger at debug level,
 * scrubbed (its messages may quote request bodies; the token is in a header it redacts, and the
 * scrubber knows the token as a registered secret).
 */
function quietSlackLogger(logger: Logger | undefined): SlackLogger {
  let level = LogLevel.ERROR;
  const forward = (...msg: unknown[]) =>
    logger?.debug(
      { component: 'slack-web-api' },
      scrubText(msg.map((m) => (typeof m === 'string' ? m : safeJson(m))).join(' ')),
    );
  return {
    debug: () => {},
    info: () => {},
    warn: forward,
    error: forward,
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
