import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../../src/audit/event.js';
import fc from 'fast-check';
import { parseAuditLine, parseTime, peekRequest } from '../../../src/audit/entry.js';
import { Pairer } from '../../../src/audit/pairing.js';
import { looksSecret } from '../../../src/audit/secrets.js';

const fixture = (name: string) => new URL(`../../fixtures/audit/${name}`, import.meta.url);
const scenarios: Record<string, string> = JSON.parse(readFileSync(fixture('scenarios.json'), 'utf8'));

function replay(name: string): { events: Map<string, AccessEvent>; pairer: Pairer; rejected: string[] } {
  const pairer = new Pairer();
  const events = new Map<string, AccessEvent>();
  const rejected: string[] = [];
  for (const line of readFileSync(fixture(name), 'utf8').split('\n')) {
    if (!line) continue;
    const parsed = parseAuditLine(Buffer.from(line));
    if (!parsed.ok) {
      rejected.push(parsed.reason);
      continue;
    }
    const event = pairer.push(parsed.entry);
    if (event) events.set(event.id, event);
  }
  const rest: AccessEvent[] = [];
  pairer.flush(rest);
  for (const e of rest) events.set(e.id, e);
  return { events, pairer, rejected };
}

const vault = replay('vault-1.18.jsonl');
const byScenario = (name: string): AccessEvent => {
  const id = scenarios[name];
  const event = id ? vault.events.get(id) : undefined;
  if (!event) throw new Error(`no event for scenario ${name}`);
  return event;
};

describe('Vault audit fixtures → AccessEvent', () => {
  it.each([
    ['kv-read-success', 'success', 'secret_read', undefined],
    ['kv-write-success', 'success', 'secret_write', undefined],
    ['kv-list', 'success', 'list', undefined],
    ['kv-delete', 'success', 'secret_delete', undefined],
    ['denied-read', 'denied', 'secret_read', 'permission_denied'],
    ['invalid-token', 'invalid_token', 'secret_write', 'invalid_token'],
    ['invalid-token-vault-1.17', 'invalid_token', 'secret_read', 'invalid_token'],
    ['login-success', 'success', 'login', undefined],
    ['login-wrong-password', 'invalid_credentials', 'login', 'invalid_credentials'],
    ['login-unknown-user', 'invalid_credentials', 'login', 'invalid_credentials'],
    ['approle-login-bad-secret', 'invalid_credentials', 'login', 'invalid_credentials'],
    ['kubernetes-login-denied', 'invalid_credentials', 'login', 'permission_denied'],
    ['root-token-read', 'success', 'sys', undefined],
    ['audit-device-disabled', 'success', 'sys', undefined],
    ['policy-written', 'success', 'sys', undefined],
    ['generate-root-attempt', 'success', 'sys', undefined],
    ['transit-key-exported', 'success', 'secret_read', undefined],
    ['token-create', 'success', 'token', undefined],
    ['database-creds', 'success', 'secret_read', undefined],
    ['database-rotate-root-failed', 'error', 'secret_write', 'other'],
    ['request-without-response', 'unknown', 'secret_read', 'no_response'],
    ['response-without-request', 'success', 'secret_read', undefined],
  ] as const)('%s → %s / %s', (name, outcome, kind, errorClass) => {
    const e = byScenario(name);
    expect(e.outcome).toBe(outcome);
    expect(e.kind).toBe(kind);
    expect(e.errorClass).toBe(errorClass);
  });

  it('counts a request and its response once, and says which halves it saw', () => {
    // 29 paired scenarios + one lone request + one lone response; the KMIP entry is not an access.
    expect(vault.events.size).toBe(31);
    expect(vault.pairer.stats).toMatchObject({ pairs: 29, requestOnly: 1, responseOnly: 1, duplicates: 0 });
    expect(byScenario('kv-read-success').entries).toBe('pair');
    expect(byScenario('request-without-response').entries).toBe('request');
    expect(byScenario('response-without-request').entries).toBe('response');
    expect(vault.rejected).toEqual(['ignored entry type']);
  });

  it('normalises identity, path, mount, address and time', () => {
    const e = byScenario('kv-read-success');
    expect(e).toMatchObject({
      operation: 'read',
      path: 'secret/data/app/db',
      mountType: 'kv',
      mountPoint: 'secret/',
      mountClass: 'secret',
      remoteAddress: '10.6.8.36',
      namespace: '',
      userAgent: 'vault/1.18.1 (+https://www.vaultproject.io/; go1.22.7)',
    });
    expect(e.identity).toMatchObject({
      key: 'entity:7d2e3a4b-aaaa-4c1d-9e8f-000000000001',
      displayName: 'userpass-alice',
      tokenType: 'service',
      policies: ['default', 'app-read'],
      isRoot: false,
      anonymous: false,
      metadata: { username: 'alice' },
    });
    expect(e.identity.tokenRef).toMatch(/^tr_[0-9a-f]{16}$/);
    // Nanosecond time is cut to milliseconds; the response time is the event time.
    expect(new Date(e.time).toISOString()).toBe('2026-03-02T14:00:01.503Z');
  });

  it('recognises root tokens by policy and keys them without an entity', () => {
    const e = byScenario('root-token-read');
    expect(e.identity.isRoot).toBe(true);
    expect(e.identity.key).toBe('name:root');
  });

  it('merges identity policies and keeps only clear metadata', () => {
    const e = byScenario('policy-written');
    expect(e.identity.policies).toEqual(['default', 'vault-admin']);
    expect(e.identity.metadata).toEqual({ role: 'ops', email: 'bob@example.com' });
  });

  it('attributes a successful login to the identity it produced, and keeps the attempted user', () => {
    const ok = byScenario('login-success');
    expect(ok.identity.key).toBe('entity:7d2e3a4b-aaaa-4c1d-9e8f-000000000001');
    expect(ok.identity.authMount).toBe('userpass');
    expect(ok.identity.authMethod).toBe('userpass');
    expect(ok.loginUser).toBe('alice');
    expect(ok.issued?.policies).toEqual(['default', 'app-read']);

    const bad = byScenario('login-unknown-user');
    expect(bad.identity.anonymous).toBe(true);
    expect(bad.identity.key).toBe('anon:203.0.113.7');
    expect(bad.loginUser).toBe('mallory');
    expect(byScenario('approle-login-bad-secret').loginUser).toBeUndefined();
  });

  it('keeps Vault error text readable and secret-free', () => {
    expect(byScenario('denied-read').errorMessage).toBe('permission denied');
    expect(byScenario('invalid-token-vault-1.17').errorMessage).toBe('permission denied; invalid token');
  });

  it('never carries a token, accessor, HMAC or data value into an event', () => {
    for (const event of vault.events.values()) {
      const text = JSON.stringify(event);
      expect(looksSecret(text), text).toBe(false);
      expect(text).not.toContain('hmac-sha256');
    }
  });
});

describe('OpenBao entries and line framing', () => {
  it('reads OpenBao key order, namespaces and the scan operation', () => {
    const { events, rejected } = replay('openbao-2.4.jsonl');
    expect(rejected).toEqual([]);
    const list = [...events.values()];
    expect(list).toHaveLength(3);
    expect(list[0]).toMatchObject({
      operation: 'scan',
      kind: 'list',
      namespace: 'team-a/',
      outcome: 'success',
    });
    expect(list[1]).toMatchObject({ path: 'sys/audit/to-stdout', operation: 'delete', kind: 'sys' });
    expect(list[1]?.identity.isRoot).toBe(true);
    expect(list[2]).toMatchObject({ outcome: 'invalid_token', namespace: 'team-a/' });
  });

  it('accepts a device prefix and a syslog header before the JSON', () => {
    const { events, rejected } = replay('prefixed.jsonl');
    expect(rejected).toEqual([]);
    // A request and a response of the same access: one event.
    expect(events.size).toBe(1);
  });
});

describe('bad input is a reason, never an exception', () => {
  const cases: [string, Buffer | string, RegExp][] = [
    ['truncated JSON', '{"time":"2026-03-02T14:00:00Z","type":"request","req', /invalid JSON/],
    ['array', '[1,2,3]', /not a JSON object/],
    ['wrong type for time', '{"time":5,"type":"request","request":{"path":"a","operation":"read"}}', /time/],
    [
      'unparseable time',
      '{"time":"yesterday","type":"request","request":{"path":"a","operation":"read"}}',
      /time/,
    ],
    ['missing request', '{"time":"2026-03-02T14:00:00Z","type":"request"}', /request/],
    [
      'path not a string',
      '{"time":"2026-03-02T14:00:00Z","type":"request","request":{"path":7,"operation":"read"}}',
      /path/,
    ],
    [
      'auth not an object',
      '{"time":"2026-03-02T14:00:00Z","type":"request","auth":"x","request":{"path":"a","operation":"read"}}',
      /auth/,
    ],
    [
      'error not a string',
      '{"time":"2026-03-02T14:00:00Z","type":"response","error":{},"request":{"path":"a","operation":"read"}}',
      /error/,
    ],
    ['unknown type', '{"time":"2026-03-02T14:00:00Z","type":"banana","request":{}}', /unknown entry type/],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), /UTF-8/],
    ['binary noise', Buffer.from([0, 1, 2, 3, 250, 13, 7]), /UTF-8|not a JSON/],
    ['empty', '', /empty/],
    ['deeply nested', '{"a":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}', /type|invalid JSON/],
  ];
  it.each(cases)('%s', (_name, line, reason) => {
    const result = parseAuditLine(line);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('never quotes the line in the reason: the text around a syntax error can be a secret', () => {
    // V8's own messages quote it ("... "password": hunter2-cle"... is not valid JSON").
    const secret = 'hunter2-clear-text-password';
    const lines = [
      `{"time":"2026-03-02T14:00:00Z","type":"request","request":{"data":{"password": ${secret}}}}`,
      `{"time":"2026-03-02T14:00:00Z","type":"request","request":{"data":{"password":"${secret}"}}} "${secret}"`,
      `{"time":"2026-03-02T14:00:00Z","request":{"data":{"password":"${secret}\\u00"}}}`,
      `{"time":"2026-03-02T14:00:00Z","request":{"data":{"password":"${secret}\n`,
      `{"time":"2026-03-02T14:00:00Z","request":{"data":{${secret}:1}}}`,
    ];
    const reasons = lines.map((l) => {
      const r = parseAuditLine(l);
      return r.ok ? 'parsed' : r.reason;
    });
    expect(reasons).toEqual([
      'invalid JSON: unexpected token',
      expect.stringMatching(/^invalid JSON: text after the JSON value at character \d+$/),
      expect.stringMatching(/^invalid JSON: bad escape in a string at character \d+$/),
      expect.stringMatching(/^invalid JSON: control character in a string at character \d+$/),
      expect.stringMatching(/^invalid JSON: (unexpected token|malformed object or array)/),
    ]);
    for (const reason of reasons) expect(reason).not.toMatch(/hunter|word|cle/);
  });

  it('tolerates missing optional fields', () => {
    const result = parseAuditLine(
      '{"time":"2026-03-02T14:00:00Z","type":"response","request":{"id":"x","path":"/secret/data/a","operation":"read"}}',
    );
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.entry.path).toBe('secret/data/a');
      expect(result.entry.identity.key).toBe('anon:unknown');
    }
  });
});

describe('request entries recognised without parsing', () => {
  const vaultLines = readFileSync(fixture('vault-1.18.jsonl'), 'utf8').split('\n').filter(Boolean);
  const baoLines = readFileSync(fixture('openbao-2.4.jsonl'), 'utf8').split('\n').filter(Boolean);

  it('finds the id and time of every Vault and OpenBao request entry, and only of those', () => {
    for (const line of [...vaultLines, ...baoLines]) {
      const parsed = parseAuditLine(line);
      const peek = peekRequest(Buffer.from(line));
      if (parsed.ok && parsed.entry.type === 'request') {
        expect(peek).toEqual({ id: parsed.entry.requestId, time: parsed.entry.time });
      } else {
        expect(peek).toBeUndefined();
      }
    }
  });

  it('leaves anything that does not have the exact shape to the full parser', () => {
    const line = vaultLines[0] as string;
    expect(peekRequest(Buffer.from(line.slice(0, -1)))).toBeUndefined(); // truncated
    expect(peekRequest(Buffer.from(' ' + line))).toBeUndefined(); // prefixed
    expect(peekRequest(Buffer.from(line.replace('"request":{"id":"', '"request":{"idx":"')))).toBeUndefined();
    expect(peekRequest(Buffer.from(line.replace(/"id":"[^"]+"/, '"id":"a\\\\"b"')))).toBeUndefined();
  });

  it('pairs a raw request with its response into one access, and parses it when the response never comes', () => {
    const pairer = new Pairer();
    const [req, resp] = vaultLines as [string, string];
    const peek = peekRequest(Buffer.from(req));
    expect(peek).toBeDefined();
    expect(pairer.pushRawRequest(peek!.id, peek!.time, Buffer.from(req), 'test')).toBeUndefined();
    const r = parseAuditLine(resp);
    const event = r.ok ? pairer.push(r.entry) : undefined;
    expect(event).toMatchObject({ entries: 'pair', outcome: 'success', path: 'secret/data/app/db' });

    const lonely = new Pairer();
    const invalid: string[] = [];
    lonely.onInvalid = (_raw, _origin, reason) => invalid.push(reason);
    lonely.pushRawRequest(peek!.id, peek!.time, Buffer.from(req), 'test');
    lonely.pushRawRequest(
      'broken',
      peek!.time,
      Buffer.from('{"time":"2026-03-02T14:00:00Z","x":[,"type":"request"}'),
      'test',
    );
    const out: AccessEvent[] = [];
    lonely.flush(out);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ entries: 'request', outcome: 'unknown', errorClass: 'no_response' });
    expect(invalid).toEqual([expect.stringMatching(/invalid JSON/)]);
  });
});

describe('entry times', () => {
  it.each([
    ['2026-01-05T00:00:00.196813919Z', Date.parse('2026-01-05T00:00:00.196Z')],
    ['2026-01-05T00:00:00Z', Date.parse('2026-01-05T00:00:00Z')],
    ['2026-01-05T23:59:59.9Z', Date.parse('2026-01-05T23:59:59.900Z')],
    ['2026-01-05T10:00:00.12Z', Date.parse('2026-01-05T10:00:00.120Z')],
    ['2026-01-05T10:00:00+02:00', Date.parse('2026-01-05T08:00:00Z')],
    ['2024-02-29T12:00:00Z', Date.parse('2024-02-29T12:00:00Z')],
  ])('%s', (text, ms) => expect(parseTime(text)).toBe(ms));

  it.each([
    '2026-02-31T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-01-05T25:00:00Z',
    '2026-01-05T10:00:00.Z',
    'yesterday',
    '2026-01-05T10:00:0xZ',
  ])('rejects %s', (text) => expect(parseTime(text)).toBeNaN());

  it('agrees with Date.parse on any millisecond of any day', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.parse('1990-01-01T00:00:00Z'), max: Date.parse('2100-01-01T00:00:00Z') }),
        fc.nat(999_999),
        (ms, nanos) => {
          const iso = new Date(ms).toISOString().replace('Z', `${String(nanos).padStart(6, '0')}Z`);
          expect(parseTime(iso)).toBe(ms);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
