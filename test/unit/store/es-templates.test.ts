import { Client } from '@elastic/elasticsearch';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  alertMappings,
  alertsTemplate,
  DEFAULT_TEMPLATE_PRIORITY,
  eventMappings,
  eventsTemplate,
  installTemplates,
} from '../../../src/store/elasticsearch/templates.js';
import { alertDocument, eventDocument } from '../../../src/store/elasticsearch/documents.js';
import { accessEvent, lifecycle, signal } from './fixtures.js';
import { FakeElasticsearch } from './fake-es.js';

/** Leaf paths of a document (arrays and flattened/object-disabled values count as leaves). */
function leafPaths(value: unknown, prefix = '', stopAt: Set<string> = new Set()): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || stopAt.has(prefix.slice(0, -1)))
    return [prefix.slice(0, -1)];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) =>
    leafPaths(v, `${prefix}${k}.`, stopAt),
  );
}

/** Mapped leaf paths and their types. */
function mappedTypes(properties: Record<string, unknown>, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, def] of Object.entries(properties)) {
    const d = def as { properties?: Record<string, unknown>; type?: string };
    if (d.properties) for (const [k, v] of mappedTypes(d.properties, `${prefix}${name}.`)) out.set(k, v);
    else out.set(prefix + name, d.type ?? 'object');
  }
  return out;
}

describe('index templates', () => {
  it('match the daily event indices and the alerts index, one shard, replicas configurable', () => {
    const ev = eventsTemplate({ prefix: 'vp' });
    expect(ev.name).toBe('vp-events');
    expect(ev.index_patterns).toEqual(['vp-events-*']);
    expect(ev.priority).toBe(DEFAULT_TEMPLATE_PRIORITY);
    expect(ev.template?.settings).toEqual({ number_of_shards: 1, number_of_replicas: 0 });
    const al = alertsTemplate({ prefix: 'vp', replicas: 1, priority: 321 });
    expect(al.index_patterns).toEqual(['vp-alerts']);
    expect(al.priority).toBe(321);
    expect(al.template?.settings).toEqual({ number_of_shards: 1, number_of_replicas: 1 });
    expect(ev.template?.mappings?.dynamic).toBe(false);
    expect(al.template?.mappings?.dynamic).toBe(false);
  });

  it('map every field an event document can have, with the intended types', () => {
    const types = mappedTypes(eventMappings().properties as Record<string, unknown>);
    const doc = eventDocument(
      accessEvent({
        errorClass: 'permission_denied',
        errorMessage: 'permission denied',
        loginUser: 'alice',
        issued: {
          entityId: 'e',
          displayName: 'd',
          policies: ['p'],
          tokenType: 'service',
          ttlSeconds: 1,
          tokenRef: 'tr_1',
        },
      }),
      [signal()],
    );
    for (const path of leafPaths(doc, '', new Set(['vault.identity.metadata']))) {
      expect(types.has(path), `unmapped event field ${path}`).toBe(true);
    }
    expect(types.get('@timestamp')).toBe('date');
    expect(types.get('source.ip')).toBe('ip');
    expect(types.get('vault.path')).toBe('keyword');
    expect(types.get('user.name')).toBe('keyword');
    expect(types.get('vault.identity.root')).toBe('boolean');
    expect(types.get('vault.error_message')).toBe('text');
    expect(types.get('vigil.score')).toBe('float');
  });

  it('map every field of an alert document', () => {
    const types = mappedTypes(alertMappings().properties as Record<string, unknown>);
    const [, , resolve] = lifecycle();
    const doc = alertDocument({
      ...resolve,
      alert: {
        ...resolve.alert,
        previousAlertId: 'p',
        incidentId: 'i',
        silencedBy: 's',
        inhibitedBy: 'h',
        firstStep: 'f',
        identity: { key: 'k', entityId: 'e', displayName: 'd', tokenRef: 't', authMount: 'a' },
        links: { runbook: 'r', kibana: 'k' },
      },
    });
    for (const path of leafPaths(doc, '', new Set(['evidence', 'labels']))) {
      expect(types.has(path), `unmapped alert field ${path}`).toBe(true);
    }
    expect(types.get('score')).toBe('float');
    expect(types.get('eventCount')).toBe('long');
    expect(types.get('evidence')).toBe('flattened');
    expect(types.get('summary')).toBe('text');
    expect(types.get('openedAt')).toBe('date');
  });

  describe('installTemplates', () => {
    let fake: FakeElasticsearch;
    let client: Client;
    beforeEach(async () => {
      fake = await FakeElasticsearch.start();
      client = new Client({ node: fake.url, maxRetries: 0 });
    });
    afterEach(async () => {
      await client.close();
      await fake.stop();
    });

    it('puts both templates and extends existing mappings', async () => {
      const res = await installTemplates(client, { prefix: 'vp' });
      expect(res).toEqual({
        templates: ['vp-events', 'vp-alerts'],
        flattened: true,
        updatedIndices: 2,
        warnings: [],
      });
      expect([...fake.templates.keys()].sort()).toEqual(['vp-alerts', 'vp-events']);
      expect(fake.requests.filter((r) => r.path.endsWith('/_mapping')).map((r) => r.path)).toEqual([
        '/vp-events-*/_mapping',
        '/vp-alerts/_mapping',
      ]);
    });

    it('falls back to unindexed objects on a cluster without the flattened type', async () => {
      fake.rejectFlattened = true;
      const res = await installTemplates(client, { prefix: 'vp' });
      expect(res.flattened).toBe(false);
      const alerts = fake.templates.get('vp-alerts') as {
        template: { mappings: { properties: Record<string, unknown> } };
      };
      expect(alerts.template.mappings.properties['evidence']).toEqual({ type: 'object', enabled: false });
      expect(alerts.template.mappings.properties['labels']).toEqual({ type: 'object', enabled: false });
    });

    it('throws other refusals', async () => {
      fake.templateFaults = [400];
      await expect(installTemplates(client, { prefix: 'vp' })).rejects.toMatchObject({
        meta: { statusCode: 400 },
      });
    });
  });
});
