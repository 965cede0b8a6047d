/**
 * The daemon with the Elasticsearch output plugged in the way `vigil run` is meant to wire it:
 * `eventSink` and `extraSinks` of DaemonOptions, `start()` before the daemon starts. Real audit
 * lines (test/fixtures/audit) go through the whole pipeline; the events and every alert (in its last
 * state) end up in the real node.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@elastic/elasticsearch';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertTransition } from '../../src/alerts/alert.js';
import { loadConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/ops/logger.js';
import {
  alertsTemplateName,
  createElasticsearchOutput,
  eventsTemplateName,
} from '../../src/store/elasticsearch/index.js';
import { requireElasticsearch } from './support/services.js';

const esUrl = requireElasticsearch();
const fixture = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/audit/vault-1.18.jsonl');

async function waitFor(pred: () => Promise<boolean> | boolean, what: string, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!esUrl)('daemon → Elasticsearch (real node)', () => {
  const client = new Client({
    node: esUrl ?? 'http://127.0.0.1:9200',
    maxRetries: 0,
    requestTimeout: 60_000,
  });
  const prefix = `vigil-it-daemon-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'vigil-es-daemon-'));

  afterAll(async () => {
    await client.indices
      .delete({ index: `${prefix}-*`, ignore_unavailable: true, allow_no_indices: true })
      .catch(() => undefined);
    for (const name of [eventsTemplateName(prefix), alertsTemplateName(prefix)])
      await client.indices.deleteIndexTemplate({ name }).catch(() => undefined);
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('indexes the events of real audit lines and every alert in its latest state', async () => {
    const auditLog = join(dir, 'audit.log');
    writeFileSync(auditLog, readFileSync(fixture));
    const alertLog = join(dir, 'alerts.ndjson');
    const file = join(dir, 'vigil.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        state: { dir: join(dir, 'state'), snapshot_interval: '1s' },
        sources: { file: { enabled: true, path: auditLog, start_at: 'beginning', poll_interval: '50ms' } },
        dead_letter: { path: join(dir, 'dead-letter.ndjson') },
        outputs: {
          alert_log: { path: alertLog },
          console: 'never',
          elasticsearch: {
            enabled: true,
            url: esUrl,
            index_prefix: prefix,
            events: 'all',
            flush_interval: '200ms',
          },
        },
        notify: { receivers: [], route: { receivers: [] } },
        http: { enabled: false },
        log: { level: 'warn', pretty: 'never' },
      }),
    );
    const { config } = loadConfig({ file, environment: 'development', env: {} });
    const logger = silentLogger();

    // The wiring for `vigil run` (see the report / src/store/elasticsearch/indexer.ts):
    const es = createElasticsearchOutput(config.outputs.elasticsearch, {
      logger,
      stateDir: config.state.dir,
    });
    const daemon = new Daemon({ config, logger, eventSink: es, extraSinks: [es] });
    await es.start();
    await daemon.start();
    try {
      await waitFor(() => daemon.pipeline.counters.lines >= 61, 'all fixture lines read');
      await waitFor(async () => {
        const n = daemon.pipeline.counters.events;
        if (n === 0) return false;
        await client.indices.refresh({ index: `${prefix}-events-*`, allow_no_indices: true });
        const c = await client.count({ index: `${prefix}-events-*`, allow_no_indices: true });
        return c.count === n;
      }, 'the events in Elasticsearch');
    } finally {
      await daemon.stop();
    }
    expect(es.stats().deadLettered).toBe(0);
    expect(es.stats().bufferDocs).toBe(0);

    // A denied read from the fixture, mapped and searchable.
    const denied = await client.search<{ event: { outcome: string }; vault: { outcome: string } }>({
      index: `${prefix}-events-*`,
      query: { term: { 'event.id': '5e1f0c2a-0000-4000-8000-000000000005' } },
    });
    expect(denied.hits.hits[0]?._source?.event.outcome).toBe('failure');
    expect(denied.hits.hits[0]?._source?.vault.outcome).toBe('denied');

    // Every alert of the alert log is one document, at its last transition.
    const transitions = readFileSync(alertLog, 'utf8')
      .trim()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as AlertTransition);
    expect(transitions.length).toBeGreaterThan(0);
    const last = new Map<string, AlertTransition>();
    for (const t of transitions) {
      const prev = last.get(t.alert.id);
      if (!prev || prev.alert.seq < t.alert.seq) last.set(t.alert.id, t);
    }
    await client.indices.refresh({ index: `${prefix}-alerts` });
    expect((await client.count({ index: `${prefix}-alerts` })).count).toBe(last.size);
    for (const [id, t] of last) {
      const doc = await client.get<{ status: string; seq: number; detector: string }>({
        index: `${prefix}-alerts`,
        id,
      });
      expect(doc._version).toBe(t.alert.seq);
      expect(doc._source).toMatchObject({
        status: t.alert.status,
        seq: t.alert.seq,
        detector: t.alert.detector,
      });
    }
  });
});
