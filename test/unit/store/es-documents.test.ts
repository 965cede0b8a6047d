import { describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../../src/audit/event.js';
import {
  alertDocument,
  alertsIndexName,
  ecsCategory,
  ecsOutcome,
  ecsType,
  eventDocument,
  eventsIndexName,
  eventsIndexPattern,
  isNotable,
  parseIp,
  pathPrefix,
  pathTree,
  signalsByEvent,
} from '../../../src/store/elasticsearch/documents.js';
import { alert, accessEvent, lifecycle, signal } from './fixtures.js';

describe('eventDocument', () => {
  it('maps every field of a fully populated event', () => {
    const doc = eventDocument(accessEvent(), [
      signal(),
      signal({ detector: 'off-hours-activity', score: 3 }),
    ]);
    expect(doc).toEqual({
      '@timestamp': '2025-05-01T10:00:00.123Z',
      ecs: { version: '8.11.0' },
      event: {
        kind: 'event',
        module: 'vault',
        dataset: 'vault.audit',
        category: ['api'],
        type: ['access'],
        action: 'read',
        outcome: 'success',
        id: 'req-0001',
      },
      user: { id: 'ent-1', name: 'userpass-alice' },
      source: { address: '10.1.2.3', ip: '10.1.2.3', port: 51234 },
      user_agent: { original: 'vault-cli/1.17' },
      related: { ip: ['10.1.2.3'], user: ['ent-1', 'userpass-alice'] },
      vault: {
        path: 'secret/data/payments/db',
        path_prefix: 'secret/data/payments',
        path_tree: ['secret/', 'secret/data/', 'secret/data/payments/', 'secret/data/payments/db'],
        kind: 'secret_read',
        outcome: 'success',
        namespace: '',
        mount: { type: 'kv', point: 'secret/', class: 'secret' },
        identity: {
          key: 'entity:ent-1',
          entity_id: 'ent-1',
          display_name: 'userpass-alice',
          policies: ['default', 'payments-read'],
          root: false,
          anonymous: false,
          auth_method: 'userpass',
          auth_mount: 'userpass',
          token_type: 'service',
          metadata: { username: 'alice' },
        },
        token_ref: 'tr_0123456789abcdef',
        entries: 'pair',
      },
      vigil: { signals: ['mass-secret-reads', 'off-hours-activity'], score: 7.5, source: 'file' },
    });
  });

  it('maps a failed login: outcome, category, type, login user, error, no user', () => {
    const e = accessEvent({
      id: 'req-login',
      kind: 'login',
      operation: 'update',
      path: 'auth/userpass/login/mallory',
      outcome: 'invalid_credentials',
      errorClass: 'invalid_credentials',
      errorMessage: 'invalid username or password',
      loginUser: 'mallory',
      identity: { key: 'anon:10.9.9.9', policies: [], isRoot: false, anonymous: true, tokenType: 'default' },
      remoteAddress: '10.9.9.9',
    });
    const doc = eventDocument(e);
    expect(doc.event.category).toEqual(['authentication']);
    expect(doc.event.type).toEqual(['start', 'denied']);
    expect(doc.event.outcome).toBe('failure');
    expect(doc.vault.outcome).toBe('invalid_credentials');
    expect(doc.vault.error_class).toBe('invalid_credentials');
    expect(doc.vault.error_message).toBe('invalid username or password');
    expect(doc.vault.login_user).toBe('mallory');
    expect(doc.user).toBeUndefined();
    expect(doc.vault.token_ref).toBeUndefined();
    expect(doc.vault.identity).toEqual({
      key: 'anon:10.9.9.9',
      policies: [],
      root: false,
      anonymous: true,
      token_type: 'default',
    });
    expect(doc.related.user).toEqual(['mallory']);
    expect(doc.vigil).toEqual({ signals: [], source: 'file' });
  });

  it('maps what a login issued', () => {
    const doc = eventDocument(
      accessEvent({
        kind: 'login',
        operation: 'update',
        issued: {
          entityId: 'ent-2',
          displayName: 'approle-ci',
          policies: ['ci'],
          tokenType: 'batch',
          ttlSeconds: 3600,
          tokenRef: 'tr_ffffffffffffffff',
        },
      }),
    );
    expect(doc.vault.issued).toEqual({
      entity_id: 'ent-2',
      display_name: 'approle-ci',
      policies: ['ci'],
      token_type: 'batch',
      ttl_seconds: 3600,
      token_ref: 'tr_ffffffffffffffff',
    });
    expect(doc.related.user).toEqual(['ent-1', 'userpass-alice', 'ent-2', 'approle-ci']);
  });

  it('keeps a non-IP remote address in source.address only', () => {
    for (const address of [
      'vault-agent.internal',
      'unix:/run/vault.sock',
      'fe80::1%eth0',
      '[::1]',
      '10.0.0.1:8200',
    ]) {
      const doc = eventDocument(accessEvent({ remoteAddress: address }));
      expect(doc.source).toEqual({ address, port: 51234 });
      expect(doc.related.ip).toBeUndefined();
    }
    const v6 = eventDocument(accessEvent({ remoteAddress: '2001:db8::7' }));
    expect(v6.source?.ip).toBe('2001:db8::7');
    const none = eventDocument(accessEvent({ remoteAddress: undefined, remotePort: undefined }));
    expect(none.source).toBeUndefined();
  });

  it('omits optional parts that the event lacks', () => {
    const e: AccessEvent = {
      id: 'r',
      time: 0,
      namespace: 'team-a/',
      identity: { key: 'token:tr_1', policies: [], isRoot: true, anonymous: false, tokenRef: 'tr_1' },
      operation: 'update',
      path: 'sys/mounts/new',
      outcome: 'error',
      kind: 'sys',
      entries: 'request',
    };
    const doc = eventDocument(e);
    expect(doc.user).toBeUndefined();
    expect(doc.source).toBeUndefined();
    expect(doc.user_agent).toBeUndefined();
    expect(doc.related).toEqual({});
    expect(doc.vault.mount).toBeUndefined();
    expect(doc.vault.issued).toBeUndefined();
    expect(doc.vault.identity.root).toBe(true);
    expect(doc.vault.token_ref).toBe('tr_1');
    expect(doc.vault.namespace).toBe('team-a/');
    expect(doc.vault.entries).toBe('request');
    expect(doc.event.category).toEqual(['configuration']);
    expect(doc.event.type).toEqual(['change', 'error']);
    expect(doc.vigil).toEqual({ signals: [] });
    // JSON never carries `undefined` keys.
    expect(JSON.stringify(doc)).not.toContain('undefined');
  });

  it('only ever copies AccessEvent fields (no stray keys from extra properties)', () => {
    const e = {
      ...accessEvent(),
      client_token: 'hvs.SHOULD-NOT-APPEAR-000000000000',
      data: { password: 'x' },
    };
    const json = JSON.stringify(eventDocument(e as AccessEvent));
    expect(json).not.toContain('SHOULD-NOT-APPEAR');
    expect(json).not.toContain('password');
  });
});

describe('ECS helpers', () => {
  it('folds outcomes', () => {
    expect(ecsOutcome('success')).toBe('success');
    expect(ecsOutcome('unknown')).toBe('unknown');
    for (const o of ['denied', 'invalid_credentials', 'invalid_token', 'error'] as const)
      expect(ecsOutcome(o)).toBe('failure');
  });
  it('categorises kinds', () => {
    expect(ecsCategory('login')).toEqual(['authentication']);
    expect(ecsCategory('token')).toEqual(['iam']);
    expect(ecsCategory('sys')).toEqual(['configuration']);
    for (const k of ['secret_read', 'secret_write', 'secret_delete', 'list', 'other'] as const)
      expect(ecsCategory(k)).toEqual(['api']);
  });
  it('types operations', () => {
    const t = (operation: string, outcome: AccessEvent['outcome'] = 'success') =>
      ecsType({ kind: 'secret_write', operation, outcome });
    expect(t('create')).toEqual(['creation']);
    expect(t('update')).toEqual(['change']);
    expect(t('patch')).toEqual(['change']);
    expect(t('delete')).toEqual(['deletion']);
    expect(t('read')).toEqual(['access']);
    expect(t('list')).toEqual(['access']);
    expect(t('help')).toEqual(['info']);
    expect(t('read', 'denied')).toEqual(['access', 'denied']);
    expect(t('read', 'invalid_token')).toEqual(['access', 'denied']);
    expect(t('read', 'unknown')).toEqual(['access']);
  });
  it('parses IPs strictly', () => {
    expect(parseIp('192.168.0.1')).toBe('192.168.0.1');
    expect(parseIp(' 10.0.0.1 ')).toBe('10.0.0.1');
    expect(parseIp('::ffff:10.0.0.1')).toBe('::ffff:10.0.0.1');
    expect(parseIp('999.0.0.1')).toBeUndefined();
    expect(parseIp('')).toBeUndefined();
    expect(parseIp(undefined)).toBeUndefined();
  });
  it('derives path prefix and tree', () => {
    expect(pathPrefix('secret/data/a/b')).toBe('secret/data/a');
    expect(pathPrefix('sys/health')).toBe('sys');
    expect(pathPrefix('sys')).toBe('sys');
    expect(pathPrefix('secret/metadata/')).toBe('secret');
    expect(pathTree('sys/health')).toEqual(['sys/', 'sys/health']);
    expect(pathTree('secret/metadata/')).toEqual(['secret/', 'secret/metadata/']);
    expect(pathTree('a')).toEqual(['a']);
    expect(pathTree('')).toEqual([]);
    expect(pathTree('a//b')).toEqual(['a/', 'a//b']);
    const deep = Array.from({ length: 40 }, (_, i) => `p${i}`).join('/');
    const tree = pathTree(deep);
    expect(tree).toHaveLength(16);
    expect(tree[tree.length - 1]).toBe(deep);
  });
});

describe('event selection', () => {
  it('notable = failure, sys, token, or behind a signal', () => {
    expect(isNotable(accessEvent(), false)).toBe(false);
    expect(isNotable(accessEvent(), true)).toBe(true);
    expect(isNotable(accessEvent({ outcome: 'denied' }), false)).toBe(true);
    expect(isNotable(accessEvent({ outcome: 'unknown' }), false)).toBe(true);
    expect(isNotable(accessEvent({ kind: 'sys' }), false)).toBe(true);
    expect(isNotable(accessEvent({ kind: 'token' }), false)).toBe(true);
    expect(isNotable(accessEvent({ kind: 'login' }), false)).toBe(false);
  });
  it('indexes signals by event id, once per signal', () => {
    const s1 = signal({ eventIds: ['a', 'b', 'a'] });
    const s2 = signal({ detector: 'x', eventIds: ['b'] });
    const map = signalsByEvent([s1, s2]);
    expect(map.get('a')).toEqual([s1]);
    expect(map.get('b')).toEqual([s1, s2]);
    expect(map.has('c')).toBe(false);
  });
});

describe('alertDocument', () => {
  it('is the alert plus @timestamp, updatedAt, lastAction and transitions', () => {
    const [open, , resolve] = lifecycle();
    const doc = alertDocument(open);
    expect(doc).toEqual({
      ...open.alert,
      '@timestamp': '2025-05-01T10:05:00.000Z',
      updatedAt: '2025-05-01T10:05:00.000Z',
      lastAction: 'open',
      transitions: 1,
    });
    const r = alertDocument(resolve);
    expect(r.status).toBe('resolved');
    expect(r['@timestamp']).toBe(resolve.alert.openedAt);
    expect(r.updatedAt).toBe('2025-05-01T10:40:00.000Z');
    expect(r.resolvedAt).toBe('2025-05-01T10:40:00.000Z');
    expect(r.transitions).toBe(3);
    expect(r.lastAction).toBe('resolve');
  });
  it('does not mutate the alert', () => {
    const a = alert();
    const before = JSON.stringify(a);
    alertDocument({ action: 'open', at: a.openedAt, alert: a });
    expect(JSON.stringify(a)).toBe(before);
  });
});

describe('index names', () => {
  it('uses the UTC day of the event', () => {
    expect(eventsIndexName('vigil', Date.UTC(2025, 0, 9, 23, 59, 59))).toBe('vigil-events-2025.01.09');
    expect(eventsIndexName('vigil', Date.UTC(2025, 0, 10, 0, 0, 0))).toBe('vigil-events-2025.01.10');
    expect(eventsIndexPattern('v-1')).toBe('v-1-events-*');
    expect(alertsIndexName('v-1')).toBe('v-1-alerts');
  });
});
