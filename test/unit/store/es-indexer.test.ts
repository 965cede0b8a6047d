import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@elastic/elasticsearch';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/ops/logger.js';
import {
  createElasticsearchOutput,
  ElasticsearchFlushError,
  ElasticsearchOutput,
  type ElasticsearchOutputOptions,
} from '../../../src/store/elasticsearch/indexer.js';
import type { EventSink } from '../../../src/runner.js';
import type { AlertSink } from '../../../src/notify/sink.js';
import { accessEvent, lifecycle, signal } from './fixtures.js';
import { FakeElasticsearch } from './fake-es.js';

let fake: FakeElasticsearch;
let dir: string;
const outputs: ElasticsearchOutput[] = [];
const clients: Client[] = [];

beforeEach(async () => {
  fake = await FakeElasticsearch.start();
  dir = mkdtempSync(join(tmpdir(), 'vigil-es-unit-'));
});

afterEach(async () => {
  fake.down = false;
  fake.requestFaults = [];
  fake.itemFault = undefined;
  for (const o of outputs.splice(0)) await o.close();
  for (const c of clients.splice(0)) await c.close();
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

function output(overrides: Partial<ElasticsearchOutputOptions> = {}): ElasticsearchOutput {
  const client = new Client({ node: fake.url, maxRetries: 0, requestTimeout: 5_000 });
  clients.push(client);
  const o = new ElasticsearchOutput({
    client,
    prefix: 'vt',
    events: 'all',
    logger: silentLogger(),
    deadLetterPath: join(dir, 'es-dead-letter.ndjson'),
    flushIntervalMs: 20,
    flushTimeoutMs: 2_000,
    retryBaseMs: 5,
    retryMaxMs: 40,
    ...overrides,
  });
  outputs.push(o);
  return o;
}

const day = 'vt-events-2025.05.01';
const events = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) =>
    accessEvent({ id: `req-${from + i}`, time: Date.UTC(2025, 4, 1, 10, 0, from + i) }),
  );

async function until(pred: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('ElasticsearchOutput', () => {
  it('is usable as both an EventSink and an AlertSink', async () => {
    const o = output();
    const asEvents: EventSink = o;
    const asAlerts: AlertSink = o;
    await o.start();
    await asEvents.write(events(2), []);
    await asAlerts.write([lifecycle()[0]]);
    await asAlerts.write([lifecycle()[0]], true);
    await o.flush();
    expect(
      fake
        .docsIn(day)
        .map((d) => d.id)
        .sort(),
    ).toEqual(['req-0', 'req-1']);
    expect(fake.docsIn('vt-alerts')).toHaveLength(1);
    expect(asAlerts.name).toBe('elasticsearch');
  });

  it('installs both templates before sending anything', async () => {
    const o = output();
    await o.write(events(1), []);
    await new Promise((r) => setTimeout(r, 60));
    expect(fake.bulks).toHaveLength(0);
    await o.start();
    await o.flush();
    expect([...fake.templates.keys()].sort()).toEqual(['vt-alerts', 'vt-events']);
    const firstBulk = fake.requests.findIndex((r) => r.path === '/_bulk');
    const lastTemplate = fake.requests.map((r) => r.path.startsWith('/_index_template/')).lastIndexOf(true);
    expect(firstBulk).toBeGreaterThan(lastTemplate);
    expect(fake.docsIn(day)).toHaveLength(1);
  });

  it('start() retries until the cluster answers', async () => {
    fake.templateFaults = ['reset', 503, 503];
    const o = output();
    await o.start();
    expect(o.stats().ready).toBe(true);
    expect(fake.templates.size).toBe(2);
    expect(o.stats().lastError).toBeDefined();
  });

  it('indexes events by request id into daily indices, annotated with their signals', async () => {
    const o = output();
    await o.start();
    const late = accessEvent({ id: 'req-late', time: Date.UTC(2025, 4, 2, 0, 0, 1) });
    await o.write([...events(2), late], [signal({ eventIds: ['req-1'] })]);
    await o.flush();
    const doc = fake.docs.get(`${day}/req-1`);
    expect(doc?.source['vigil']).toEqual({ signals: ['mass-secret-reads'], score: 7.5, source: 'file' });
    expect(fake.docs.get(`${day}/req-0`)?.source['vigil']).toEqual({ signals: [], source: 'file' });
    expect(fake.docs.get('vt-events-2025.05.02/req-late')).toBeDefined();
    // Indexing the same events again (a replay after a crash) changes nothing but versions.
    await o.write(events(2), []);
    await o.flush();
    expect(fake.docsIn(day)).toHaveLength(2);
    expect(o.stats().indexed).toBe(5);
  });

  it('events: notable indexes failures, sys/token and signalled events only; none indexes nothing', async () => {
    const notable = output({ events: 'notable' });
    await notable.start();
    const batch = [
      accessEvent({ id: 'ok' }),
      accessEvent({ id: 'denied', outcome: 'denied' }),
      accessEvent({ id: 'sys', kind: 'sys', path: 'sys/mounts' }),
      accessEvent({ id: 'token', kind: 'token', path: 'auth/token/create' }),
      accessEvent({ id: 'signalled' }),
    ];
    await notable.write(batch, [signal({ eventIds: ['signalled'] })]);
    await notable.flush();
    expect(
      fake
        .docsIn(day)
        .map((d) => d.id)
        .sort(),
    ).toEqual(['denied', 'signalled', 'sys', 'token']);
    expect(notable.stats().skipped).toBe(1);

    const none = output({ events: 'none', prefix: 'vn' });
    await none.start();
    await none.write(batch, []);
    await none.write([lifecycle()[0]]);
    await none.flush();
    expect(fake.docsIn('vn-events-2025.05.01')).toHaveLength(0);
    expect(fake.docsIn('vn-alerts')).toHaveLength(1); // alerts are always indexed
    expect(none.stats().skipped).toBe(5);
  });

  it('alerts: one document per alert, external versions; an older transition never overwrites', async () => {
    const o = output();
    await o.start();
    const [open, update, resolve] = lifecycle();
    await o.write([open]);
    await o.write([update]);
    await o.write([resolve]);
    await o.flush();
    const doc = fake.docs.get(`vt-alerts/${open.alert.id}`);
    expect(doc?.version).toBe(3);
    expect(doc?.source['status']).toBe('resolved');
    expect(doc?.source['transitions']).toBe(3);
    // Replays (recovering) and late older transitions: 409, counted as success.
    await o.write([open, update], true);
    await o.flush();
    expect(fake.docs.get(`vt-alerts/${open.alert.id}`)?.source['status']).toBe('resolved');
    expect(o.stats().conflicts).toBe(2);
    expect(o.stats().deadLettered).toBe(0);
    const sent = fake.bulks.flat().filter((op) => op.index === 'vt-alerts');
    expect(sent.every((op) => op.versionType === 'external' && op.version === op.source['seq'])).toBe(true);
  });

  it('batches by size and sends on the interval', async () => {
    const sized = output({ flushBytes: 4_000, flushIntervalMs: 60_000 });
    await sized.start();
    await sized.write(events(20), []);
    await sized.flush();
    expect(fake.bulks.length).toBeGreaterThan(2);
    expect(fake.bulks.flat()).toHaveLength(20);
    for (const b of fake.bulks) expect(b.length).toBeGreaterThan(0);

    const timed = output({ prefix: 'vtt', flushBytes: 10 * 1024 * 1024, flushIntervalMs: 30 });
    await timed.start();
    await timed.write(events(3), []);
    // No flush(): the interval alone sends them.
    await until(() => fake.docsIn('vtt-events-2025.05.01').length === 3, 'interval flush');
  });

  it('retries whole-request failures (503, 429, connection reset) with backoff and loses nothing', async () => {
    const bulkMs: number[] = [];
    const o = output({ onBulk: (ms, items, failures) => bulkMs.push(ms, items, failures) });
    await o.start();
    fake.requestFaults = [503, 429, 'reset', 502];
    await o.write(events(10), []);
    await o.flush();
    expect(fake.docsIn(day)).toHaveLength(10);
    const s = o.stats();
    expect(s.bulkFailures).toBe(4);
    expect(s.indexed).toBe(10);
    expect(s.bufferBytes).toBe(0);
    expect(s.bufferDocs).toBe(0);
    expect(s.lastSuccessAt).toBeDefined();
    expect(bulkMs.length).toBe(15); // 5 requests × (ms, items, failures)
  });

  it('retries 429/5xx items, dead-letters mapping errors, indexes the rest of the batch', async () => {
    const o = output();
    await o.start();
    let rejected = 0;
    fake.itemFault = (op) => {
      if (op.id === 'req-3')
        return {
          status: 400,
          type: 'document_parsing_exception',
          reason: 'failed to parse field [source.port] of type [long]',
        };
      if (op.id === 'req-5' && rejected++ < 2)
        return { status: 429, type: 'es_rejected_execution_exception' };
      return undefined;
    };
    await o.write(events(8), []);
    await o.flush();
    expect(
      fake
        .docsIn(day)
        .map((d) => d.id)
        .sort(),
    ).toEqual(['req-0', 'req-1', 'req-2', 'req-4', 'req-5', 'req-6', 'req-7']);
    const s = o.stats();
    expect(s.deadLettered).toBe(1);
    expect(s.retried).toBe(2);
    expect(s.failed).toBe(3);
    const lines = readFileSync(join(dir, 'es-dead-letter.ndjson'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(record).toMatchObject({ kind: 'event', index: day, id: 'req-3', status: 400 });
    expect(record['reason']).toContain('document_parsing_exception');
    expect((record['document'] as { event: { id: string } }).event.id).toBe('req-3');
  });

  it('dead-letters an item the cluster keeps refusing with 5xx after maxItemAttempts', async () => {
    const o = output({ maxItemAttempts: 3 });
    await o.start();
    fake.itemFault = (op) => (op.id === 'req-1' ? { status: 500, type: 'internal' } : undefined);
    await o.write(events(3), []);
    await o.flush();
    expect(o.stats().deadLettered).toBe(1);
    expect(fake.docsIn(day)).toHaveLength(2);
    expect(readFileSync(join(dir, 'es-dead-letter.ndjson'), 'utf8')).toContain('gave up after 3 attempts');
  });

  it('splits a batch the cluster refuses as a whole (413) and dead-letters the operation alone', async () => {
    const o = output();
    await o.start();
    fake.requestFaults = [413, 413, 413];
    await o.write(events(4), []);
    await o.flush();
    // 4 → 2 → 1: the single op refused is dead-lettered; the others go through.
    expect(o.stats().deadLettered).toBe(1);
    expect(fake.docsIn(day)).toHaveLength(3);
  });

  it('flush() rejects while the cluster is down, keeps everything, and succeeds once it is back', async () => {
    const o = output({ flushTimeoutMs: 200 });
    await o.start();
    await o.write(events(5), []);
    await o.flush();
    fake.down = true;
    await o.write(events(5, 5), []);
    await expect(o.flush()).rejects.toBeInstanceOf(ElasticsearchFlushError);
    await expect(o.flush()).rejects.toThrow(/5 document\(s\) not acknowledged/);
    expect(o.stats().bufferDocs).toBe(5);
    await o.write(events(5, 10), []);
    fake.down = false;
    await o.flush();
    const ids = fake.docsIn(day).map((d) => d.id);
    expect(ids).toHaveLength(15);
    expect(new Set(ids).size).toBe(15);
    expect(o.stats().bufferDocs).toBe(0);
  });

  it('flush() rejects before the templates could be installed', async () => {
    fake.down = true;
    const o = output({ flushTimeoutMs: 100 });
    void o.start();
    await o.write(events(1), []);
    await expect(o.flush()).rejects.toThrow(/templates not installed/);
    fake.down = false;
    await o.start();
    await o.flush();
    expect(fake.docsIn(day)).toHaveLength(1);
  });

  it('back-pressure: write() waits while the buffer is full and resumes when the cluster drains it', async () => {
    const o = output({ maxBufferBytes: 6_000, flushBytes: 2_000 });
    await o.start();
    fake.down = true;
    let done = false;
    const writing = o.write(events(20), []).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 150));
    expect(done).toBe(false);
    expect(o.stats().bufferBytes).toBeGreaterThan(6_000);
    fake.down = false;
    await writing;
    expect(o.stats().bufferBytes).toBeLessThanOrEqual(6_000);
    await o.flush();
    expect(fake.docsIn(day)).toHaveLength(20);
  });

  it('close() flushes, is idempotent, and never rejects', async () => {
    const o = output();
    await o.start();
    await o.write(events(3), []);
    await Promise.all([o.close(), o.close()]);
    expect(fake.docsIn(day)).toHaveLength(3);
    await expect(o.write(events(1), [])).rejects.toThrow(/closed/);

    const down = output({ prefix: 'vd', closeTimeoutMs: 100 });
    await down.start();
    fake.down = true;
    await down.write(events(2), []);
    await expect(down.close()).resolves.toBeUndefined();
    expect(down.stats().bufferDocs).toBe(2);
  });

  it('reports reachability and failures through its hooks', async () => {
    const failures: string[] = [];
    const o = output({ onFailure: (kind, n) => failures.push(`${kind}:${n}`), flushTimeoutMs: 300 });
    expect(o.reachable()).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/templates not installed/),
    });
    await o.start();
    expect(o.reachable()).toEqual({ ok: true });
    fake.down = true;
    await o.write(events(2), []);
    await expect(o.flush()).rejects.toThrow();
    expect(o.reachable()).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/failed bulk attempt.*2 document/),
    });
    fake.down = false;
    fake.itemFault = (op) =>
      op.id === 'req-0'
        ? { status: 400, type: 'mapper_parsing_exception' }
        : op.id === 'req-1' && !failures.includes('item:1')
          ? { status: 503, type: 'unavailable_shards_exception' }
          : undefined;
    await o.flush();
    expect(o.reachable()).toEqual({ ok: true });
    expect(failures).toContain('request:1');
    expect(failures).toContain('item:1');
    expect(failures).toContain('dead_letter:1');
  });

  it('offers retention as a scheduler job', async () => {
    fake.indices.add('vt-events-2020.01.01');
    const o = output({ retentionMs: 86_400_000, retentionIntervalMs: 0 });
    const job = o.retentionJob('17 3 * * *');
    expect(job.name).toBe('elasticsearch-retention');
    expect(job.schedule).toBe('17 3 * * *');
    expect(await job.run()).toEqual(['vt-events-2020.01.01']);
  });

  it('close() does not wait out the request timeout of a request the cluster never answers', async () => {
    const slowClient = new Client({ node: fake.url, maxRetries: 0, requestTimeout: 600_000 });
    clients.push(slowClient);
    const o = output({ client: slowClient, closeTimeoutMs: 100 });
    await o.start();
    fake.requestFaults = ['hang'];
    await o.write(events(2), []);
    await until(() => fake.requests.some((r) => r.path === '/_bulk'), 'the bulk request');
    await o.close(); // the test would time out if close waited for the 10-minute request timeout
    expect(o.stats().bufferDocs).toBe(2);
  });

  it('runs retention on the daily indices of its prefix only', async () => {
    for (const i of [
      'vt-events-2025.01.01',
      'vt-events-2025.05.01',
      'vt-alerts',
      'other-events-2020.01.01',
      'vt-events-x',
    ])
      fake.indices.add(i);
    const o = output({ retentionMs: 30 * 86_400_000, now: () => Date.UTC(2025, 4, 2) });
    expect(await o.runRetention()).toEqual(['vt-events-2025.01.01']);
    expect([...fake.indices].sort()).toEqual([
      'other-events-2020.01.01',
      'vt-alerts',
      'vt-events-2025.05.01',
      'vt-events-x',
    ]);
    expect(o.stats().retentionDeleted).toBe(1);
  });

  it('dead-letters an event that cannot be serialised (bad time) without blocking the rest', async () => {
    const o = output();
    await o.start();
    await o.write([accessEvent({ id: 'bad', time: Number.NaN }), ...events(1)], []);
    await o.flush();
    expect(o.stats().deadLettered).toBe(1);
    expect(fake.docsIn(day)).toHaveLength(1);
    expect(existsSync(join(dir, 'es-dead-letter.ndjson'))).toBe(true);
  });
});

describe('createElasticsearchOutput', () => {
  const base = {
    enabled: true,
    index_prefix: 'vf',
    events: 'all' as const,
    password_env: 'T_ES_PASSWORD',
    api_key_env: 'T_ES_API_KEY',
    flush_interval: 20,
    flush_bytes: 1024 * 1024,
    retention: 0,
  };

  it('builds a working output from the configuration, dead letters under the state dir', async () => {
    const o = createElasticsearchOutput(
      { ...base, url: fake.url },
      { logger: silentLogger(), stateDir: dir, env: {} },
    );
    outputs.push(o);
    expect(o.deadLetterPath).toBe(join(dir, 'es-dead-letter.ndjson'));
    await o.start();
    await o.write(events(1), []);
    await o.flush();
    expect(fake.docsIn('vf-events-2025.05.01')).toHaveLength(1);
  });

  it('refuses credentials in the URL and a username without a password', () => {
    expect(() =>
      createElasticsearchOutput(
        { ...base, url: 'http://elastic:hunter22@127.0.0.1:9200' },
        { logger: silentLogger(), stateDir: dir, env: {} },
      ),
    ).toThrow(/credentials in the URL/);
    expect(() =>
      createElasticsearchOutput(
        { ...base, url: fake.url, username: 'vigil' },
        { logger: silentLogger(), stateDir: dir, env: {} },
      ),
    ).toThrow(/no password/);
  });
});
