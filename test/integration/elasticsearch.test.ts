/**
 * The Elasticsearch output against the real node started by scripts/services/up.sh (8.19, minimal
 * integ-test distribution: no ingest, ILM, data streams or painless; the output needs none of them).
 * Every test uses its own index prefix and deletes its indices and templates afterwards.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, type estypes } from '@elastic/elasticsearch';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../src/audit/event.js';
import { silentLogger } from '../../src/ops/logger.js';
import {
  alertsTemplateName,
  createElasticsearchOutput,
  deleteExpiredIndices,
  eventsTemplateName,
  installTemplates,
  type ElasticsearchOutput,
} from '../../src/store/elasticsearch/index.js';
import { accessEvent, alert, lifecycle, signal, transition } from '../unit/store/fixtures.js';
import { requireElasticsearch } from './support/services.js';

const esUrl = requireElasticsearch();

describe.skipIf(!esUrl)('Elasticsearch output against a real node', () => {
  const client = new Client({
    node: esUrl ?? 'http://127.0.0.1:9200',
    maxRetries: 0,
    requestTimeout: 60_000,
  });
  const prefixes: string[] = [];
  const outputs: ElasticsearchOutput[] = [];
  let stateDir: string;

  const newPrefix = () => {
    const p = `vigil-it-${randomUUID().slice(0, 8)}`;
    prefixes.push(p);
    return p;
  };

  function newOutput(
    prefix: string,
    extra: { events?: 'all' | 'notable' | 'none' } = {},
  ): ElasticsearchOutput {
    const o = createElasticsearchOutput(
      {
        enabled: true,
        url: esUrl ?? '',
        index_prefix: prefix,
        events: extra.events ?? 'all',
        password_env: 'VIGIL_IT_NO_PASSWORD',
        api_key_env: 'VIGIL_IT_NO_API_KEY',
        flush_interval: 200,
        flush_bytes: 5 * 1024 * 1024,
        retention: 0,
      },
      {
        logger: silentLogger(),
        stateDir,
        env: {},
        tuning: { flushTimeoutMs: 60_000, retryBaseMs: 100, retryMaxMs: 1_000 },
      },
    );
    outputs.push(o);
    return o;
  }

  async function cleanup(prefix: string): Promise<void> {
    await client.indices
      .delete({
        index: `${prefix}-*`,
        ignore_unavailable: true,
        allow_no_indices: true,
        expand_wildcards: 'all',
      })
      .catch(() => undefined);
    for (const name of [eventsTemplateName(prefix), alertsTemplateName(prefix)])
      await client.indices.deleteIndexTemplate({ name }).catch(() => undefined);
  }

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'vigil-es-it-'));
    const health = await client.cluster.health({ wait_for_status: 'yellow', timeout: '60s' });
    expect(['green', 'yellow']).toContain(health.status);
  });

  afterEach(async () => {
    for (const o of outputs.splice(0)) await o.close();
    for (const p of prefixes.splice(0)) await cleanup(p);
  });

  afterAll(async () => {
    await client.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  async function mappingOf(index: string): Promise<Record<string, { type?: string; properties?: unknown }>> {
    const res = await client.indices.getFieldMapping({ index, fields: '*' });
    const fields = Object.values(res)[0]?.mappings ?? {};
    const out: Record<string, { type?: string }> = {};
    for (const [name, m] of Object.entries(fields)) {
      const leaf = Object.values(m.mapping)[0] as { type?: string } | undefined;
      out[name] = { ...(leaf?.type !== undefined ? { type: leaf.type } : {}) };
    }
    return out;
  }

  it('installs the templates idempotently and indices get the intended field types', async () => {
    const prefix = newPrefix();
    const first = await installTemplates(client, { prefix });
    const second = await installTemplates(client, { prefix });
    expect(first.templates).toEqual([`${prefix}-events`, `${prefix}-alerts`]);
    expect(second.warnings).toEqual([]);
    const templates = await client.indices.getIndexTemplate({ name: `${prefix}-*` });
    expect(templates.index_templates.map((t) => t.name).sort()).toEqual([
      `${prefix}-alerts`,
      `${prefix}-events`,
    ]);
    const ev = templates.index_templates.find((t) => t.name === `${prefix}-events`)?.index_template;
    expect(ev?.index_patterns).toEqual([`${prefix}-events-*`]);
    expect(ev?.priority).toBeGreaterThan(0);
    expect(ev?.template?.settings?.index?.number_of_replicas).toBe('0');
    expect(ev?.template?.settings?.index?.number_of_shards).toBe('1');

    // Create one index of each through the templates and read the real mappings back.
    await client.indices.create({ index: `${prefix}-events-2025.05.01` });
    await client.indices.create({ index: `${prefix}-alerts` });
    const events = await mappingOf(`${prefix}-events-2025.05.01`);
    expect(events['@timestamp']?.type).toBe('date');
    expect(events['source.ip']?.type).toBe('ip');
    expect(events['related.ip']?.type).toBe('ip');
    expect(events['source.address']?.type).toBe('keyword');
    expect(events['source.port']?.type).toBe('long');
    expect(events['vault.path']?.type).toBe('keyword');
    expect(events['vault.path_tree']?.type).toBe('keyword');
    expect(events['user.name']?.type).toBe('keyword');
    expect(events['user.id']?.type).toBe('keyword');
    expect(events['event.outcome']?.type).toBe('keyword');
    expect(events['vault.error_message']?.type).toBe('text');
    expect(events['vault.error_message.keyword']?.type).toBe('keyword');
    expect(events['vault.identity.root']?.type).toBe('boolean');
    expect(events['vault.identity.metadata']?.type).toBe('flattened');
    expect(events['vigil.score']?.type).toBe('float');
    const alerts = await mappingOf(`${prefix}-alerts`);
    expect(alerts['score']?.type).toBe('float');
    expect(alerts['eventCount']?.type).toBe('long');
    expect(alerts['summary']?.type).toBe('text');
    expect(alerts['evidence']?.type).toBe('flattened'); // x-pack-core has it, even on the minimal node
    expect(alerts['labels']?.type).toBe('flattened');
    expect(alerts['openedAt']?.type).toBe('date');
    expect(alerts['@timestamp']?.type).toBe('date');
    expect(alerts['severity']?.type).toBe('keyword');
    const settings = await client.indices.getSettings({ index: `${prefix}-alerts` });
    expect(Object.values(settings)[0]?.settings?.index?.number_of_replicas).toBe('0');

    // Installing again with existing indices extends their mappings without complaint.
    const third = await installTemplates(client, { prefix, replicas: 0 });
    expect(third.warnings).toEqual([]);
  });

  it('indexes events and alerts that are searchable with the right field types', async () => {
    const prefix = newPrefix();
    const out = newOutput(prefix);
    await out.start();
    const t0 = Date.UTC(2025, 4, 1, 10, 0, 0);
    const evs: AccessEvent[] = [];
    for (let i = 0; i < 30; i++) {
      evs.push(
        accessEvent({
          id: `req-${i}`,
          time: t0 + i * 60_000,
          path: i % 3 === 0 ? 'secret/data/payments/db' : `secret/data/team-${i}/app`,
          remoteAddress: i % 2 === 0 ? `10.1.2.${i}` : `192.168.7.${i}`,
          outcome: i % 5 === 0 ? 'denied' : 'success',
          ...(i % 5 === 0
            ? {
                errorClass: 'permission_denied' as const,
                errorMessage: '1 error occurred:\n\t* permission denied',
              }
            : {}),
        }),
      );
    }
    // A remote address that is not an IP must not make its bulk item fail.
    evs.push(accessEvent({ id: 'req-host', time: t0, remoteAddress: 'vault-agent.internal' }));
    await out.write(evs, [signal({ eventIds: ['req-3'] })]);
    const [open] = lifecycle(alert({ id: `alert-${prefix}` }));
    await out.write([open]);
    await out.flush();
    expect(out.stats().deadLettered).toBe(0);
    await client.indices.refresh({ index: `${prefix}-*` });

    const index = `${prefix}-events-*`;
    const count = async (query: estypes.QueryDslQueryContainer) =>
      (await client.count({ index, query })).count;
    expect(await count({ match_all: {} })).toBe(31);
    expect(await count({ term: { 'vault.path': 'secret/data/payments/db' } })).toBe(11); // 10 + req-host
    expect(await count({ term: { 'vault.path_tree': 'secret/data/' } })).toBe(31);
    expect(
      await count({ range: { '@timestamp': { gte: '2025-05-01T10:10:00Z', lt: '2025-05-01T10:20:00Z' } } }),
    ).toBe(10);
    expect(await count({ term: { 'source.ip': '10.0.0.0/8' } })).toBe(15); // even i
    expect(await count({ term: { 'source.ip': '192.168.0.0/16' } })).toBe(15);
    expect(await count({ term: { 'source.address': 'vault-agent.internal' } })).toBe(1);
    expect(await count({ term: { 'user.name': 'userpass-alice' } })).toBe(31);
    expect(await count({ term: { 'vigil.signals': 'mass-secret-reads' } })).toBe(1);
    expect(await count({ match: { 'vault.error_message': 'permission' } })).toBe(6);

    const agg = await client.search({
      index,
      size: 0,
      aggs: { outcome: { terms: { field: 'event.outcome' } }, fine: { terms: { field: 'vault.outcome' } } },
    });
    const buckets = (name: string) =>
      Object.fromEntries(
        (agg.aggregations?.[name] as { buckets: { key: string; doc_count: number }[] }).buckets.map((b) => [
          b.key,
          b.doc_count,
        ]),
      );
    expect(buckets('outcome')).toEqual({ success: 25, failure: 6 });
    expect(buckets('fine')).toEqual({ success: 25, denied: 6 });

    const alerts = await client.search({
      index: `${prefix}-alerts`,
      query: {
        bool: {
          filter: [
            { term: { status: 'open' } },
            { range: { score: { gte: 7 } } },
            { term: { 'labels.team': 'payments' } },
            { term: { 'evidence.window': '5m' } },
          ],
        },
      },
    });
    expect(alerts.hits.hits.map((h) => h._id)).toEqual([`alert-${prefix}`]);
  });

  it("an alert's open → update → resolve is one document; an older transition does not regress it", async () => {
    const prefix = newPrefix();
    const out = newOutput(prefix);
    await out.start();
    const [open, update, resolve] = lifecycle(alert({ id: `alert-${prefix}` }));
    await out.write([open]);
    await out.flush();
    await out.write([update]);
    await out.flush();
    await out.write([resolve]);
    await out.flush();
    const get = () =>
      client.get<Record<string, unknown>>({ index: `${prefix}-alerts`, id: `alert-${prefix}` });
    let doc = await get();
    expect(doc._version).toBe(3);
    expect(doc._source?.['status']).toBe('resolved');
    expect(doc._source?.['seq']).toBe(3);
    expect(doc._source?.['transitions']).toBe(3);
    expect(doc._source?.['updatedAt']).toBe('2025-05-01T10:40:00.000Z');

    // Replay after a crash (recovering) and a late, older transition: refused by version, no regression.
    await out.write([open, update], true);
    await out.write([transition('update', { ...update.alert })]);
    await out.flush();
    doc = await get();
    expect(doc._version).toBe(3);
    expect(doc._source?.['status']).toBe('resolved');
    expect(out.stats().conflicts).toBe(3);
    expect(out.stats().deadLettered).toBe(0);
    await client.indices.refresh({ index: `${prefix}-alerts` });
    expect((await client.count({ index: `${prefix}-alerts` })).count).toBe(1);
  });

  it('dead-letters an item with a mapping error and indexes the rest of the batch', async () => {
    const prefix = newPrefix();
    const out = newOutput(prefix);
    await out.start();
    // A hand-built alert whose date field does not parse, in the same bulk as good documents.
    const good = lifecycle(alert({ id: `good-${prefix}` }))[0];
    const bad = transition('open', {
      ...alert({ id: `bad-${prefix}` }),
      firstEventAt: 'yesterday afternoon',
    });
    // And an index whose mapping was changed by hand so that a field clashes with our documents.
    await client.indices.create({
      index: `${prefix}-events-2025.05.03`,
      mappings: { properties: { vault: { properties: { login_user: { type: 'long' } } } } },
    });
    const day = Date.UTC(2025, 4, 3, 12);
    const evs = [
      accessEvent({ id: 'e-ok-1', time: day }),
      accessEvent({ id: 'e-clash', time: day, kind: 'login', loginUser: 'mallory' }),
      accessEvent({ id: 'e-ok-2', time: day }),
    ];
    await out.write([good, bad]);
    await out.write(evs, []);
    await out.flush();
    expect(out.stats().deadLettered).toBe(2);
    await client.indices.refresh({ index: `${prefix}-*` });
    expect((await client.count({ index: `${prefix}-alerts` })).count).toBe(1);
    const ids = (await client.search({ index: `${prefix}-events-*`, size: 10 })).hits.hits
      .map((h) => h._id)
      .sort();
    expect(ids).toEqual(['e-ok-1', 'e-ok-2']);
    const lines = readFileSync(out.deadLetterPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; status: number; reason: string; document: unknown });
    const mine = lines.filter((l) => l.id === `bad-${prefix}` || l.id === 'e-clash');
    expect(mine).toHaveLength(2);
    for (const l of mine) {
      expect(l.status).toBe(400);
      expect(l.reason).toMatch(/parsing_exception|failed to parse/);
      expect(l.document).toBeTypeOf('object');
    }
  });

  it('retention deletes only the old daily indices of the prefix', async () => {
    const prefix = newPrefix();
    await installTemplates(client, { prefix });
    const now = Date.now();
    const today = new Date(now).toISOString().slice(0, 10).replace(/-/g, '.');
    const names = [
      `${prefix}-events-2020.01.01`,
      `${prefix}-events-2020.01.02`,
      `${prefix}-events-${today}`,
      `${prefix}-events-archive`,
      `${prefix}-alerts`,
      `${prefix}x-events-2020.01.01`,
    ];
    prefixes.push(`${prefix}x`);
    for (const index of names) await client.indices.create({ index, settings: { number_of_replicas: 0 } });
    const deleted = await deleteExpiredIndices(client, prefix, 30 * 86_400_000, now);
    expect(deleted).toEqual([`${prefix}-events-2020.01.01`, `${prefix}-events-2020.01.02`]);
    const left = Object.keys(
      await client.indices.get({ index: `${prefix}*`, expand_wildcards: 'all' }),
    ).sort();
    expect(left).toEqual(
      [
        `${prefix}-alerts`,
        `${prefix}-events-${today}`,
        `${prefix}-events-archive`,
        `${prefix}x-events-2020.01.01`,
      ].sort(),
    );
    expect(await deleteExpiredIndices(client, prefix, 30 * 86_400_000, now)).toEqual([]);
  });

  it('events: notable indexes only failures, sys/token and signalled events', async () => {
    const prefix = newPrefix();
    const out = newOutput(prefix, { events: 'notable' });
    await out.start();
    await out.write(
      [
        accessEvent({ id: 'n-ok' }),
        accessEvent({ id: 'n-denied', outcome: 'denied' }),
        accessEvent({ id: 'n-sys', kind: 'sys', path: 'sys/policies/acl/admin', operation: 'update' }),
        accessEvent({ id: 'n-sig' }),
      ],
      [signal({ eventIds: ['n-sig'] })],
    );
    await out.flush();
    await client.indices.refresh({ index: `${prefix}-*` });
    const ids = (await client.search({ index: `${prefix}-events-*` })).hits.hits.map((h) => h._id).sort();
    expect(ids).toEqual(['n-denied', 'n-sig', 'n-sys']);
  });
});
