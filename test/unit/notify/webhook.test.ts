import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  parseRetryAfter,
  signWebhook,
  verifyWebhook,
  WebhookReceiver,
  type WebhookBody,
} from '../../../src/notify/webhook.js';
import { makeAlert, memoryMap, notify } from './helpers.js';

const SECRET = 'whsec-test-5f1e2d3c4b5a69788796';

describe('signWebhook / verifyWebhook', () => {
  const body = '{"version":1,"reason":"opened"}';
  const ts = 1_772_445_600;

  it('verifies a signature it made', () => {
    const sig = signWebhook(SECRET, ts, body);
    expect(sig).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhook(SECRET, String(ts), sig, body, { nowSeconds: ts + 10 })).toEqual({ ok: true });
  });

  it('rejects a tampered body, timestamp or signature, and the wrong secret', () => {
    const sig = signWebhook(SECRET, ts, body);
    const now = { nowSeconds: ts };
    expect(verifyWebhook(SECRET, String(ts), sig, body.replace('opened', 'resolved'), now)).toEqual({
      ok: false,
      reason: 'signature mismatch',
    });
    expect(verifyWebhook(SECRET, String(ts + 1), sig, body, now)).toMatchObject({ ok: false });
    const flipped = sig.slice(0, -1) + (sig.endsWith('0') ? '1' : '0');
    expect(verifyWebhook(SECRET, String(ts), flipped, body, now)).toMatchObject({ ok: false });
    expect(verifyWebhook('another-secret-value', String(ts), sig, body, now)).toMatchObject({ ok: false });
    expect(verifyWebhook(SECRET, String(ts), undefined, body, now)).toMatchObject({ ok: false });
    expect(verifyWebhook(SECRET, 'soon', sig, body, now)).toMatchObject({ ok: false });
  });

  it('rejects a replay outside the window', () => {
    const sig = signWebhook(SECRET, ts, body);
    expect(verifyWebhook(SECRET, String(ts), sig, body, { nowSeconds: ts + 301 })).toEqual({
      ok: false,
      reason: 'timestamp outside the replay window',
    });
    expect(
      verifyWebhook(SECRET, String(ts), sig, body, { nowSeconds: ts + 301, toleranceSeconds: 600 }),
    ).toEqual({ ok: true });
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('Mon, 02 Mar 2026 10:00:30 GMT', Date.parse('2026-03-02T10:00:00Z'))).toBe(30_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe('WebhookReceiver against a local server that verifies like a real consumer', () => {
  let server: Server;
  let url: string;
  const received: Array<{ headers: IncomingHttpHeaders; body: string; verified: boolean }> = [];
  const replies: Array<{ status: number; headers?: Record<string, string> }> = [];

  beforeEach(async () => {
    received.length = 0;
    replies.length = 0;
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const check = verifyWebhook(
          SECRET,
          req.headers['x-vigil-timestamp'] as string | undefined,
          req.headers['x-vigil-signature'] as string | undefined,
          body,
        );
        received.push({ headers: req.headers, body, verified: check.ok });
        const reply = replies.shift() ?? { status: check.ok ? 204 : 401 };
        res.writeHead(reply.status, reply.headers ?? {});
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/vigil`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('posts the signed JSON body with an idempotency key', async () => {
    const n = notify(makeAlert(), 'opened', { receiver: 'hook' });
    const result = await new WebhookReceiver({ name: 'hook', url, secret: SECRET }).deliver(n, memoryMap());
    expect(result).toEqual({ status: 'delivered', detail: 'HTTP 204' });
    expect(received).toHaveLength(1);
    const got = received[0]!;
    expect(got.verified).toBe(true);
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['idempotency-key']).toBe(n.key);
    const body = JSON.parse(got.body) as WebhookBody;
    expect(body).toEqual({ version: 1, reason: 'opened', incident: n.incident, transition: n.transition });
    expect(got.body).not.toContain(SECRET);
  });

  it('is rejected by the consumer when signed with another secret', async () => {
    const n = notify(makeAlert(), 'opened', { receiver: 'hook' });
    const result = await new WebhookReceiver({ name: 'hook', url, secret: 'not-the-shared-secret' }).deliver(
      n,
      memoryMap(),
    );
    expect(received[0]!.verified).toBe(false);
    expect(result).toEqual({ status: 'failed', reason: 'webhook: HTTP 401' });
  });

  it('retries 408, 429 (Retry-After), 5xx and network errors; fails other 4xx', async () => {
    const r = new WebhookReceiver({ name: 'hook', url, secret: SECRET, timeoutMs: 1000 });
    const n = notify(makeAlert(), 'opened', { receiver: 'hook' });
    replies.push(
      { status: 408 },
      { status: 429, headers: { 'Retry-After': '2' } },
      { status: 503 },
      { status: 410 },
    );
    expect(await r.deliver(n, memoryMap())).toMatchObject({ status: 'retry', reason: 'webhook: HTTP 408' });
    expect(await r.deliver(n, memoryMap())).toEqual({
      status: 'retry',
      reason: 'webhook: HTTP 429',
      retryAfterMs: 2000,
    });
    expect(await r.deliver(n, memoryMap())).toMatchObject({ status: 'retry', reason: 'webhook: HTTP 503' });
    expect(await r.deliver(n, memoryMap())).toEqual({ status: 'failed', reason: 'webhook: HTTP 410' });
    // Every attempt carries the same idempotency key and a valid signature.
    expect(new Set(received.map((x) => x.headers['idempotency-key']))).toEqual(new Set([n.key]));
    expect(received.every((x) => x.verified)).toBe(true);

    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const refused = new WebhookReceiver({
      name: 'hook',
      url: `http://127.0.0.1:${closedPort}/x`,
      secret: SECRET,
    });
    expect(await refused.deliver(n, memoryMap())).toEqual({
      status: 'retry',
      reason: 'webhook: network error ECONNREFUSED',
    });

    const malformed = new WebhookReceiver({ name: 'hook', url: 'not a url', secret: SECRET });
    expect(await malformed.deliver(n, memoryMap())).toMatchObject({ status: 'failed' });
  });

  it('sends credentials embedded in the URL as Basic auth, never in a reason', async () => {
    const withCreds = url.replace('http://', 'http://vigil:pw-in-url@');
    const r = new WebhookReceiver({ name: 'hook', url: withCreds, secret: SECRET });
    const n = notify(makeAlert(), 'opened', { receiver: 'hook' });
    expect(await r.deliver(n, memoryMap())).toMatchObject({ status: 'delivered' });
    expect(received[0]!.headers.authorization).toBe(
      'Basic ' + Buffer.from('vigil:pw-in-url').toString('base64'),
    );
    replies.push({ status: 500 });
    const failed = await r.deliver(n, memoryMap());
    expect(failed.status).toBe('retry');
    expect(JSON.stringify(failed)).not.toContain('pw-in-url');
  });
});
