import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the Slack Web API, following its documented behaviour closely enough for the
 * official WebClient to talk to it unchanged:
 *
 * - `POST /api/<method>` with `Authorization: Bearer <token>` (or a `token` body field); bodies are
 *   form-encoded (what WebClient sends; nested values are JSON strings) or JSON.
 * - Always HTTP 200 with `{ok:true,...}` or `{ok:false,error}` — except rate limiting (HTTP 429 with
 *   `Retry-After: <seconds>`) and injected server errors.
 * - chat.postMessage → `{ok, channel:<id>, ts, message}`; accepts `#name` or the channel id; replies with
 *   `thread_ts`, `reply_broadcast`. chat.update needs the channel ID and an existing ts
 *   (`message_not_found` otherwise) → `{ok, channel, ts, text, message}`. auth.test → `{ok, user_id, ...}`.
 * - Validation: `no_text` without text and blocks, `msg_too_long` over 40 000 characters,
 *   `invalid_blocks` for more than 50 blocks, a header over 150 or section text over 3000 characters.
 */

export interface FakeSlackMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: unknown[];
  threadTs?: string;
  replyBroadcast: boolean;
  /** Number of chat.update calls applied. */
  edits: number;
  /** Earlier versions (text) before each edit. */
  history: string[];
}

export interface FakeSlackCall {
  method: string;
  status: number;
  /** Parsed body without the token. */
  body: Record<string, unknown>;
  /** Raw body as received (for "token never in a body" checks). */
  raw: string;
  authorization: string | undefined;
  response?: Record<string, unknown>;
}

export type SlackFault =
  | { kind: 'http429'; retryAfter?: number }
  | { kind: 'http'; status: number }
  | { kind: 'hang' }
  | { kind: 'error'; error: string };

export interface FakeSlackOptions {
  token?: string;
  /** Channel names (without #) to ids. Default: alerts → C0ALERTS, ops → C0OPS. */
  channels?: Record<string, string>;
}

export class FakeSlack {
  readonly token: string;
  readonly calls: FakeSlackCall[] = [];
  readonly messages = new Map<string, FakeSlackMessage>();
  private readonly channels: Map<string, string>;
  private readonly faults: Array<{ fault: SlackFault; methods?: string[] }> = [];
  private nextTs = 1_700_000_000_000_100;
  private constructor(
    private readonly server: Server,
    readonly url: string,
    options: FakeSlackOptions,
  ) {
    this.token = options.token ?? 'xoxb-fake-test-token';
    this.channels = new Map(Object.entries(options.channels ?? { alerts: 'C0ALERTS', ops: 'C0OPS' }));
  }

  static async start(options: FakeSlackOptions = {}): Promise<FakeSlack> {
    const holder: { instance?: FakeSlack } = {};
    const server = createServer((req, res) => {
      void holder.instance?.handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const instance = (holder.instance = new FakeSlack(server, `http://127.0.0.1:${port}/api/`, options));
    return instance;
  }

  /** The next `count` calls (optionally only of these methods) fail this way. */
  failNext(count: number, fault: SlackFault, methods?: string[]): void {
    for (let i = 0; i < count; i++) this.faults.push(methods ? { fault, methods } : { fault });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Top-level messages (not thread replies), in posting order. */
  topLevel(): FakeSlackMessage[] {
    return [...this.messages.values()].filter((m) => m.threadTs === undefined);
  }

  /** Replies in the thread of `ts`, in posting order. */
  replies(ts: string): FakeSlackMessage[] {
    return [...this.messages.values()].filter((m) => m.threadTs === ts);
  }

  callsOf(method: string): FakeSlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = url.pathname.replace(/^\/api\//, '');
    const body = parseBody(raw, String(req.headers['content-type'] ?? ''));
    const bodyToken = typeof body['token'] === 'string' ? body['token'] : undefined;
    delete body['token'];
    const call: FakeSlackCall = { method, status: 200, body, raw, authorization: req.headers.authorization };
    this.calls.push(call);

    if (req.method !== 'POST' || !url.pathname.startsWith('/api/'))
      return this.send(res, call, 404, { ok: false, error: 'unknown_method' });

    const i = this.faults.findIndex((f) => !f.methods || f.methods.includes(method));
    if (i >= 0) {
      const [{ fault }] = this.faults.splice(i, 1) as [{ fault: SlackFault }];
      switch (fault.kind) {
        case 'hang':
          call.status = 0;
          return; // never answer: the client's timeout fires
        case 'http429':
          return this.send(
            res,
            call,
            429,
            { ok: false, error: 'ratelimited' },
            fault.retryAfter === undefined ? {} : { 'Retry-After': String(fault.retryAfter) },
          );
        case 'http':
          return this.send(res, call, fault.status, { ok: false, error: 'internal_error' });
        case 'error':
          return this.send(res, call, 200, { ok: false, error: fault.error });
      }
    }

    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : bodyToken;
    if (!token) return this.send(res, call, 200, { ok: false, error: 'not_authed' });
    if (token !== this.token) return this.send(res, call, 200, { ok: false, error: 'invalid_auth' });

    switch (method) {
      case 'auth.test':
        return this.send(res, call, 200, {
          ok: true,
          url: 'https://fake.slack.test/',
          team: 'Fake',
          user: 'vigil',
          team_id: 'T0FAKE',
          user_id: 'U0VIGIL',
          bot_id: 'B0VIGIL',
        });
      case 'chat.postMessage':
        return this.postMessage(res, call, body);
      case 'chat.update':
        return this.update(res, call, body);
      default:
        return this.send(res, call, 200, { ok: false, error: 'unknown_method' });
    }
  }

  private postMessage(res: ServerResponse, call: FakeSlackCall, body: Record<string, unknown>): void {
    const channel = this.resolveChannel(body['channel'], true);
    if (!channel) return this.send(res, call, 200, { ok: false, error: 'channel_not_found' });
    const content = this.validateContent(body);
    if ('error' in content) return this.send(res, call, 200, { ok: false, error: content.error });
    const threadTs = typeof body['thread_ts'] === 'string' ? body['thread_ts'] : undefined;
    const ts = this.newTs();
    const msg: FakeSlackMessage = {
      channel,
      ts,
      text: content.text,
      blocks: content.blocks,
      replyBroadcast: body['reply_broadcast'] === true || body['reply_broadcast'] === 'true',
      edits: 0,
      history: [],
    };
    if (threadTs !== undefined) msg.threadTs = threadTs;
    this.messages.set(ts, msg);
    this.send(res, call, 200, {
      ok: true,
      channel,
      ts,
      message: {
        type: 'message',
        user: 'U0VIGIL',
        bot_id: 'B0VIGIL',
        text: msg.text,
        ts,
        ...(threadTs ? { thread_ts: threadTs } : {}),
      },
    });
  }

  private update(res: ServerResponse, call: FakeSlackCall, body: Record<string, unknown>): void {
    // chat.update requires the channel ID (a #name is not found).
    const channel = this.resolveChannel(body['channel'], false);
    if (!channel) return this.send(res, call, 200, { ok: false, error: 'channel_not_found' });
    const ts = typeof body['ts'] === 'string' ? body['ts'] : undefined;
    const msg = ts ? this.messages.get(ts) : undefined;
    if (!msg || msg.channel !== channel)
      return this.send(res, call, 200, { ok: false, error: 'message_not_found' });
    const content = this.validateContent(body);
    if ('error' in content) return this.send(res, call, 200, { ok: false, error: content.error });
    msg.history.push(msg.text);
    msg.text = content.text;
    msg.blocks = content.blocks;
    msg.edits++;
    this.send(res, call, 200, {
      ok: true,
      channel,
      ts: msg.ts,
      text: msg.text,
      message: { type: 'message', text: msg.text, edited: { user: 'U0VIGIL', ts: this.newTs() } },
    });
  }

  private resolveChannel(value: unknown, allowName: boolean): string | undefined {
    if (typeof value !== 'string' || !value) return undefined;
    if ([...this.channels.values()].includes(value)) return value;
    if (!allowName) return undefined;
    return this.channels.get(value.replace(/^#/, ''));
  }

  private validateContent(
    body: Record<string, unknown>,
  ): { text: string; blocks: unknown[] } | { error: string } {
    const text = typeof body['text'] === 'string' ? body['text'] : '';
    let blocks: unknown[] = [];
    const rawBlocks = body['blocks'];
    if (rawBlocks !== undefined) {
      try {
        blocks = (typeof rawBlocks === 'string' ? JSON.parse(rawBlocks) : rawBlocks) as unknown[];
      } catch {
        return { error: 'invalid_blocks_format' };
      }
      if (!Array.isArray(blocks)) return { error: 'invalid_blocks_format' };
      if (blocks.length > 50) return { error: 'invalid_blocks' };
      for (const b of blocks as Array<{
        type?: string;
        text?: { text?: string };
        fields?: Array<{ text?: string }>;
      }>) {
        if (b.type === 'header' && (b.text?.text?.length ?? 0) > 150) return { error: 'invalid_blocks' };
        if (b.type === 'section' && (b.text?.text?.length ?? 0) > 3000) return { error: 'invalid_blocks' };
        if (b.type === 'section' && (b.fields?.length ?? 0) > 10) return { error: 'invalid_blocks' };
        if (b.type === 'section' && b.fields?.some((f) => (f.text?.length ?? 0) > 2000))
          return { error: 'invalid_blocks' };
      }
    }
    if (!text && blocks.length === 0) return { error: 'no_text' };
    if (text.length > 40_000) return { error: 'msg_too_long' };
    return { text, blocks };
  }

  private newTs(): string {
    const n = this.nextTs++;
    return `${Math.floor(n / 1_000_000)}.${String(n % 1_000_000).padStart(6, '0')}`;
  }

  private send(
    res: ServerResponse,
    call: FakeSlackCall,
    status: number,
    body: Record<string, unknown>,
    headers: Record<string, string> = {},
  ): void {
    call.status = status;
    call.response = body;
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(raw: string, contentType: string): Record<string, unknown> {
  if (!raw) return {};
  if (contentType.includes('application/json')) {
    try {
      return JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return {};
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(raw)) out[k] = v;
  return out;
}
