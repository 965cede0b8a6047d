import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the PagerDuty Events API v2 (`POST /v2/enqueue`), following the documented
 * behaviour:
 *
 * - 202 `{status:"success", message:"Event processed", dedup_key}` for a valid event.
 * - 400 `{status:"invalid event", message:"Event object is invalid", errors:[...]}` when routing_key or
 *   event_action is missing/invalid, a trigger lacks payload.summary/source/severity, severity is not
 *   critical|error|warning|info, summary exceeds 1024 characters, dedup_key exceeds 255 characters, a
 *   timestamp is not ISO 8601, a link has no href, or acknowledge/resolve lack a dedup_key.
 * - Alerts by dedup_key: a trigger opens one (or adds to the open one), acknowledge acknowledges,
 *   resolve resolves; a trigger after a resolve opens a new one.
 * - Fault injection: 429 (optionally with Retry-After), any 5xx, or a request that never gets an answer.
 */

export interface PdEvent {
  routing_key?: unknown;
  event_action?: unknown;
  dedup_key?: unknown;
  payload?: Record<string, unknown>;
  links?: unknown;
  [key: string]: unknown;
}

export interface FakePdIncident {
  dedupKey: string;
  status: 'triggered' | 'acknowledged' | 'resolved';
  /** Events applied to it, in order. */
  events: PdEvent[];
  severity: string;
  summary: string;
}

export interface FakePdCall {
  status: number;
  body: PdEvent | undefined;
  raw: string;
  response?: Record<string, unknown>;
}

export type PdFault =
  { kind: 'http429'; retryAfter?: number } | { kind: 'http'; status: number } | { kind: 'hang' };

const SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);
const ACTIONS = new Set(['trigger', 'acknowledge', 'resolve']);

export class FakePagerDuty {
  readonly calls: FakePdCall[] = [];
  /** Every incident ever opened, in order (several per dedup key when re-triggered after a resolve). */
  readonly incidents: FakePdIncident[] = [];
  private readonly faults: PdFault[] = [];
  private generated = 0;

  private constructor(
    private readonly server: Server,
    /** The enqueue URL (`http://127.0.0.1:<port>/v2/enqueue`). */
    readonly url: string,
  ) {}

  static async start(): Promise<FakePagerDuty> {
    const holder: { instance?: FakePagerDuty } = {};
    const server = createServer((req, res) => {
      void holder.instance?.handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const instance = (holder.instance = new FakePagerDuty(server, `http://127.0.0.1:${port}/v2/enqueue`));
    return instance;
  }

  failNext(count: number, fault: PdFault): void {
    for (let i = 0; i < count; i++) this.faults.push(fault);
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** The open (not resolved) incident for a dedup key, if any. */
  open(dedupKey: string): FakePdIncident | undefined {
    return this.incidents.find((i) => i.dedupKey === dedupKey && i.status !== 'resolved');
  }

  incidentsFor(dedupKey: string): FakePdIncident[] {
    return this.incidents.filter((i) => i.dedupKey === dedupKey);
  }

  /** Calls that were answered 202. */
  accepted(): FakePdCall[] {
    return this.calls.filter((c) => c.status === 202);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: PdEvent | undefined;
    try {
      body = JSON.parse(raw) as PdEvent;
    } catch {
      body = undefined;
    }
    const call: FakePdCall = { status: 0, body, raw };
    this.calls.push(call);

    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'POST' || url.pathname !== '/v2/enqueue') {
      return this.send(res, call, 404, { status: 'not found', message: 'Not Found' });
    }
    const fault = this.faults.shift();
    if (fault) {
      if (fault.kind === 'hang') return;
      if (fault.kind === 'http429') {
        const headers: Record<string, string> =
          fault.retryAfter === undefined ? {} : { 'Retry-After': String(fault.retryAfter) };
        return this.send(
          res,
          call,
          429,
          { status: 'throttle event', message: 'Requests for this service are arriving too quickly.' },
          headers,
        );
      }
      return this.send(res, call, fault.status, { status: 'error', message: 'Internal Server Error' });
    }

    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return this.invalid(res, call, ['Event object is not a valid JSON object']);
    }
    const errors = validate(body);
    if (errors.length > 0) return this.invalid(res, call, errors);

    const action = body.event_action as string;
    const dedupKey = typeof body.dedup_key === 'string' ? body.dedup_key : `generated-${++this.generated}`;
    const open = this.open(dedupKey);
    if (action === 'trigger') {
      const payload = body.payload as Record<string, unknown>;
      if (open) {
        open.events.push(body);
        open.severity = String(payload['severity']);
        open.summary = String(payload['summary']);
      } else {
        this.incidents.push({
          dedupKey,
          status: 'triggered',
          events: [body],
          severity: String(payload['severity']),
          summary: String(payload['summary']),
        });
      }
    } else if (open) {
      open.events.push(body);
      open.status = action === 'resolve' ? 'resolved' : 'acknowledged';
    }
    this.send(res, call, 202, { status: 'success', message: 'Event processed', dedup_key: dedupKey });
  }

  private invalid(res: ServerResponse, call: FakePdCall, errors: string[]): void {
    this.send(res, call, 400, { status: 'invalid event', message: 'Event object is invalid', errors });
  }

  private send(
    res: ServerResponse,
    call: FakePdCall,
    status: number,
    body: Record<string, unknown>,
    headers: Record<string, string> = {},
  ): void {
    call.status = status;
    call.response = body;
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }
}

function validate(e: PdEvent): string[] {
  const errors: string[] = [];
  if (typeof e.routing_key !== 'string' || e.routing_key.length === 0)
    errors.push("'routing_key' is missing or blank");
  if (typeof e.event_action !== 'string' || !ACTIONS.has(e.event_action)) {
    errors.push("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)");
  }
  if (e.dedup_key !== undefined && (typeof e.dedup_key !== 'string' || e.dedup_key.length > 255)) {
    errors.push("'dedup_key' must be a string of at most 255 characters");
  }
  if ((e.event_action === 'acknowledge' || e.event_action === 'resolve') && typeof e.dedup_key !== 'string') {
    errors.push("'dedup_key' is required for acknowledge and resolve events");
  }
  if (e.event_action === 'trigger') {
    const p = e.payload;
    if (!p || typeof p !== 'object') {
      errors.push("'payload' is missing");
    } else {
      if (typeof p['summary'] !== 'string' || p['summary'].length === 0)
        errors.push("'payload.summary' is missing or blank");
      else if (p['summary'].length > 1024) errors.push("'payload.summary' must be at most 1024 characters");
      if (typeof p['source'] !== 'string' || p['source'].length === 0)
        errors.push("'payload.source' is missing or blank");
      if (typeof p['severity'] !== 'string' || !SEVERITIES.has(p['severity'])) {
        errors.push("'payload.severity' is invalid (must be one of: critical, error, warning, info)");
      }
      if (
        p['timestamp'] !== undefined &&
        (typeof p['timestamp'] !== 'string' || Number.isNaN(Date.parse(p['timestamp'])))
      ) {
        errors.push("'payload.timestamp' must be an ISO 8601 timestamp");
      }
      if (
        p['custom_details'] !== undefined &&
        (typeof p['custom_details'] !== 'object' || p['custom_details'] === null)
      ) {
        errors.push("'payload.custom_details' must be an object");
      }
    }
    if (e.links !== undefined) {
      if (
        !Array.isArray(e.links) ||
        e.links.some((l) => !l || typeof (l as { href?: unknown }).href !== 'string')
      ) {
        errors.push("'links' must be an array of objects with an href");
      }
    }
  }
  return errors;
}
