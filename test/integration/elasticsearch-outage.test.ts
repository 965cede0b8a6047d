/**
 * A node outage in the middle of a stream loses nothing: the real node is stopped
 * (`scripts/services/elasticsearch.sh stop`) while events keep arriving; they stay buffered and
 * flush() rejects (so the runner would not checkpoint); the node is started again with its data
 * (`ES_KEEP_DATA=1 ... start`), flush() succeeds and every document is there exactly once.
 *
 * The node is shared by every integration test, so it is always started again, even on failure.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client } from '@elastic/elasticsearch';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/ops/logger.js';
import {
  alertsTemplateName,
  createElasticsearchOutput,
  ElasticsearchFlushError,
  eventsTemplateName,
} from '../../src/store/elasticsearch/index.js';
import { accessEvent, alert, lifecycle } from '../unit/store/fixtures.js';
import { requireElasticsearch } from './support/services.js';

const esUrl = requireElasticsearch();
const run = promisify(execFile);
const script = resolve(dirname(fileURLToPath(import.meta.url)), '../../scripts/services/elasticsearch.sh');

async function service(command: 'start' | 'stop' | 'status'): Promise<boolean> {
  try {
    await run(script, [command], {
      env: { ...process.env, ES_KEEP_DATA: '1' },
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return true;
  } catch (err) {
    if (command === 'status') return false;
    throw err;
  }
}

async function ensureRunning(): Promise<void> {
  if (await service('status')) return;
  await service('start');
}

describe.skipIf(!esUrl)('Elasticsearch output through a node outage', () => {
  const client = new Client({
    node: esUrl ?? 'http://127.0.0.1:9200',
    maxRetries: 0,
    requestTimeout: 60_000,
  });
  const prefix = `vigil-it-outage-${randomUUID().slice(0, 8)}`;
  const stateDir = mkdtempSync(join(tmpdir(), 'vigil-es-outage-'));

  afterAll(async () => {
    await ensureRunning();
    await client.cluster.health({ wait_for_status: 'yellow', timeout: '60s' }).catch(() => undefined);
    await client.indices
      .delete({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true })
      .catch(() => undefined);
    for (const name of [eventsTemplateName(prefix), alertsTemplateName(prefix)])
      await client.indices.deleteIndexTemplate({ name }).catch(() => undefined);
    await client.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('buffers while the node is down, flush() rejects, and nothing is lost or duplicated after it returns', async () => {
    const out = createElasticsearchOutput(
      {
        enabled: true,
        url: esUrl ?? '',
        index_prefix: prefix,
        events: 'all',
        password_env: 'VIGIL_IT_NO_PASSWORD',
        api_key_env: 'VIGIL_IT_NO_API_KEY',
        flush_interval: 100,
        flush_bytes: 64 * 1024,
        retention: 0,
      },
      {
        logger: silentLogger(),
        stateDir,
        env: {},
        tuning: { flushTimeoutMs: 3_000, retryBaseMs: 100, retryMaxMs: 1_000, requestTimeoutMs: 10_000 },
      },
    );
    const t0 = Date.UTC(2025, 4, 1, 23, 50);
    // Spans two daily indices.
    const batch = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) =>
        accessEvent({ id: `out-${from + i}`, time: t0 + (from + i) * 10_000 }),
      );
    const [open, update, resolveT] = lifecycle(alert({ id: `alert-${prefix}` }));

    try {
      await out.start();
      for (let i = 0; i < 100; i += 20) await out.write(batch(i, 20), []);
      await out.write([open]);
      await out.flush();

      await service('stop');
      // The stream goes on: writes are accepted (the buffer is far from full), nothing is acknowledged.
      for (let i = 100; i < 200; i += 20) await out.write(batch(i, 20), []);
      await out.write([update]);
      await expect(out.flush()).rejects.toBeInstanceOf(ElasticsearchFlushError);
      expect(out.stats().bufferDocs).toBe(101);
      for (let i = 200; i < 250; i += 25) await out.write(batch(i, 25), []);
      // Re-delivery of events already indexed before the outage (a source re-reading after a crash).
      await out.write(batch(0, 10), []);
      await out.write([resolveT]);
      await expect(out.flush()).rejects.toBeInstanceOf(ElasticsearchFlushError);
    } finally {
      await ensureRunning();
    }

    // Checkpoint attempts keep calling flush(); it succeeds once the node has caught up.
    const deadline = Date.now() + 180_000;
    for (;;) {
      try {
        await out.flush();
        break;
      } catch (err) {
        if (!(err instanceof ElasticsearchFlushError) || Date.now() > deadline) throw err;
      }
    }
    const stats = out.stats();
    expect(stats.bufferDocs).toBe(0);
    expect(stats.deadLettered).toBe(0);
    expect(stats.bulkFailures).toBeGreaterThan(0);
    await out.close();

    await client.indices.refresh({ index: `${prefix}-*` });
    const res = await client.search({
      index: `${prefix}-events-*`,
      size: 1000,
      _source: false,
      track_total_hits: true,
    });
    const ids = res.hits.hits.map((h) => h._id);
    expect(ids).toHaveLength(250);
    expect(new Set(ids).size).toBe(250);
    expect(new Set(res.hits.hits.map((h) => h._index))).toEqual(
      new Set([`${prefix}-events-2025.05.01`, `${prefix}-events-2025.05.02`]),
    );
    const doc = await client.get<{ status: string }>({ index: `${prefix}-alerts`, id: `alert-${prefix}` });
    expect(doc._version).toBe(3);
    expect(doc._source?.status).toBe('resolved');
  });
});
