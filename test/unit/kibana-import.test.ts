import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clearRegisteredSecrets, scrubText } from '../../src/audit/secrets.js';
import {
  DEFAULT_OBJECTS_FILE,
  importSavedObjects,
  importUrl,
  KibanaImportError,
  runKibanaImport,
} from '../../src/store/kibana.js';
import { FakeKibana } from '../support/fake-kibana.js';

let kibana: FakeKibana;
let dir: string;

beforeEach(async () => {
  kibana = await FakeKibana.start({ spaces: ['security'] });
  dir = mkdtempSync(join(tmpdir(), 'vigil-kibana-'));
});

afterEach(async () => {
  await kibana.stop();
  rmSync(dir, { recursive: true, force: true });
  clearRegisteredSecrets();
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

const line = (o: unknown) => JSON.stringify(o);
const dataView = { type: 'index-pattern', id: 'dv', attributes: { title: 'x-*' }, references: [] };

describe('importSavedObjects', () => {
  it('posts the shipped objects as multipart with kbn-xsrf and reports every object', async () => {
    const result = await importSavedObjects({ url: kibana.url });
    expect(result.success).toBe(true);
    expect(result.errors).toEqual([]);
    expect(result.objects.length).toBe(result.successCount);
    expect(result.objects.every((o) => o.success && !o.overwritten)).toBe(true);
    const call = kibana.calls[0];
    expect(call?.path).toBe('/api/saved_objects/_import');
    expect(call?.query).toEqual({ overwrite: 'true' });
    expect(call?.headers['kbn-xsrf']).toBe('true');
    expect(call?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(call?.fileName).toBe('objects.ndjson');
    expect(kibana.objects().map((o) => `${o.type}/${o.id}`)).toContain(
      'dashboard/vigil-secret-access-overview',
    );

    // Again: everything is overwritten.
    const again = await importSavedObjects({ url: kibana.url, file: DEFAULT_OBJECTS_FILE });
    expect(again.success).toBe(true);
    expect(again.objects.every((o) => o.overwritten)).toBe(true);
  });

  it('imports into a space, and refuses an unknown one', async () => {
    const r = await importSavedObjects({ url: `${kibana.url}/`, space: 'security' });
    expect(r.success).toBe(true);
    expect(kibana.calls[0]?.path).toBe('/s/security/api/saved_objects/_import');
    expect(kibana.objects('security').length).toBe(r.successCount);
    expect(kibana.objects('default')).toHaveLength(0);
    await expect(importSavedObjects({ url: kibana.url, space: 'nope' })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('reports partial failures per object (missing references, unsupported type, conflict)', async () => {
    const file = join(dir, 'mixed.ndjson');
    writeFileSync(
      file,
      [
        line(dataView),
        line({
          type: 'search',
          id: 's1',
          attributes: { title: 'ok' },
          references: [{ name: 'i', type: 'index-pattern', id: 'dv' }],
        }),
        line({
          type: 'search',
          id: 's2',
          attributes: { title: 'dangling' },
          references: [{ name: 'i', type: 'index-pattern', id: 'gone' }],
        }),
        line({ type: 'weird-type', id: 'w', attributes: { title: 'weird' }, references: [] }),
      ].join('\n') + '\n',
    );
    const r = await importSavedObjects({ url: kibana.url, file });
    expect(r.success).toBe(false);
    expect(r.successCount).toBe(2);
    expect(r.objects).toEqual([
      { type: 'index-pattern', id: 'dv', title: 'x-*', success: true },
      { type: 'search', id: 's1', title: 'ok', success: true },
      {
        type: 'search',
        id: 's2',
        title: 'dangling',
        success: false,
        error: 'missing_references: index-pattern/gone',
      },
      { type: 'weird-type', id: 'w', title: 'weird', success: false, error: 'unsupported_type' },
    ]);
    // Without overwrite, existing objects are conflicts.
    const again = await importSavedObjects({ url: kibana.url, file, overwrite: false });
    expect(kibana.calls.at(-1)?.query).toEqual({});
    expect(again.objects.find((o) => o.id === 'dv')).toMatchObject({ success: false, error: 'conflict' });
  });

  it('sends API key or basic credentials', async () => {
    await kibana.stop();
    kibana = await FakeKibana.start({
      auth: { apiKey: 'a2V5OnNlY3JldA==', username: 'vigil', password: 'pw-123456' },
    });
    await expect(importSavedObjects({ url: kibana.url })).rejects.toMatchObject({ status: 401 });
    expect((await importSavedObjects({ url: kibana.url, apiKey: 'a2V5OnNlY3JldA==' })).success).toBe(true);
    expect(
      (await importSavedObjects({ url: kibana.url, username: 'vigil', password: 'pw-123456' })).success,
    ).toBe(true);
  });

  it('rewrites the data views for another index prefix', async () => {
    await importSavedObjects({ url: kibana.url, indexPrefix: 'acme' });
    const dv = kibana.objects().find((o) => o.id === 'vigil-events');
    expect(dv?.attributes['title']).toBe('acme-events-*');
  });

  it('the fake enforces the documented request rules', async () => {
    const post = (init: RequestInit, path = '/api/saved_objects/_import') =>
      fetch(kibana.url + path, { method: 'POST', ...init });
    const form = (name: string) => {
      const f = new FormData();
      f.append('file', new Blob([line(dataView) + '\n']), name);
      return f;
    };
    let res = await post({ body: form('a.ndjson') });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toBe(
      'Request must contain a kbn-xsrf header.',
    );
    res = await post({ headers: { 'kbn-xsrf': 'true', 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(415);
    res = await post({ headers: { 'kbn-xsrf': 'true' }, body: form('a.json') });
    expect(((await res.json()) as { message: string }).message).toBe('Invalid file extension .json');
    const noFile = new FormData();
    noFile.append('other', 'x');
    res = await post({ headers: { 'kbn-xsrf': 'true' }, body: noFile });
    expect(res.status).toBe(400);
    res = await post(
      { headers: { 'kbn-xsrf': 'true' }, body: form('a.ndjson') },
      '/api/saved_objects/_import?overwrite=true&createNewCopies=true',
    );
    expect(res.status).toBe(400);
    res = await post({ headers: { 'kbn-xsrf': 'true' }, body: form('a.ndjson') });
    expect(await res.json()).toEqual({
      success: true,
      successCount: 1,
      successResults: [{ type: 'index-pattern', id: 'dv', meta: { title: 'x-*', icon: 'indexPatternApp' } }],
      warnings: [],
    });
  });

  it('builds import URLs and refuses bad ones', () => {
    expect(importUrl('https://k.example:5601/', undefined, true)).toBe(
      'https://k.example:5601/api/saved_objects/_import?overwrite=true',
    );
    expect(importUrl('https://k.example/kibana', 'ops', false)).toBe(
      'https://k.example/kibana/s/ops/api/saved_objects/_import',
    );
    expect(importUrl('https://k.example', 'default', true)).toBe(
      'https://k.example/api/saved_objects/_import?overwrite=true',
    );
    expect(() => importUrl('not a url', undefined, true)).toThrow(KibanaImportError);
    expect(() => importUrl('ftp://k', undefined, true)).toThrow(/http/);
    expect(() => importUrl('https://u:p@k', undefined, true)).toThrow(/credentials/);
    expect(() => importUrl('https://k', 'Bad Space', true)).toThrow(/space id/);
  });

  it('a server that is not Kibana, or not there, is an error', async () => {
    await expect(importSavedObjects({ url: 'http://127.0.0.1:1' })).rejects.toThrow(/cannot reach Kibana/);
    const notKibana: typeof fetch = async () => new Response('<html>hello</html>', { status: 200 });
    await expect(importSavedObjects({ url: kibana.url, fetch: notKibana })).rejects.toThrow(/is this Kibana/);
  });
});

describe('runKibanaImport', () => {
  it('prints one line per object and exits 0 when everything is imported', async () => {
    const { out, err, io } = capture();
    const code = await runKibanaImport({ url: kibana.url, env: {}, ...io });
    expect(code).toBe(0);
    expect(err).toEqual([]);
    expect(out.filter((l) => l.startsWith('  ok    '))).toHaveLength(kibana.objects().length);
    expect(out).toContain(
      '  ok    dashboard vigil-secret-access-overview "Secret access overview" (created)',
    );
    expect(out.at(-1)).toMatch(/^\d+ of \d+ saved objects imported into space "default"$/);
  });

  it('exits 1 and names the failures on a partial import', async () => {
    const file = join(dir, 'bad.ndjson');
    writeFileSync(
      file,
      line(dataView) +
        '\n' +
        line({
          type: 'search',
          id: 's',
          attributes: { title: 't' },
          references: [{ name: 'i', type: 'index-pattern', id: 'gone' }],
        }) +
        '\n',
    );
    const { out, err, io } = capture();
    expect(await runKibanaImport({ url: kibana.url, file, space: 'security', env: {}, ...io })).toBe(1);
    expect(out).toEqual([
      '  ok    index-pattern dv "x-*" (created)',
      '  FAIL  search s "t": missing_references: index-pattern/gone',
    ]);
    expect(err).toEqual(['vigil: 1 of 2 saved objects imported into space "security"; 1 failed']);
  });

  it('reads credentials from the environment and never prints them', async () => {
    await kibana.stop();
    kibana = await FakeKibana.start({ auth: { username: 'vigil', password: 'kibana-pw-42' } });
    const { out, err, io } = capture();
    expect(
      await runKibanaImport({
        url: kibana.url,
        username: 'vigil',
        env: { VIGIL_KIBANA_PASSWORD: 'kibana-pw-42' },
        ...io,
      }),
    ).toBe(0);
    expect([...out, ...err].join('\n')).not.toContain('kibana-pw-42');
    // The password is registered with the scrubber.
    expect(scrubText('x kibana-pw-42 y')).toBe('x [REDACTED] y');

    const denied = capture();
    expect(
      await runKibanaImport({
        url: kibana.url,
        username: 'vigil',
        env: { VIGIL_KIBANA_PASSWORD: 'wrong-pw-000' },
        ...denied.io,
      }),
    ).toBe(1);
    expect(denied.err.join('\n')).toMatch(/401/);
    expect(denied.err.join('\n')).not.toContain('wrong-pw-000');

    const missing = capture();
    expect(await runKibanaImport({ url: kibana.url, username: 'vigil', env: {}, ...missing.io })).toBe(2);
    expect(missing.err[0]).toMatch(/VIGIL_KIBANA_PASSWORD is not set/);

    await kibana.stop();
    kibana = await FakeKibana.start({ auth: { apiKey: 'QVBJS0VZOnNlY3JldA==' } });
    const key = capture();
    expect(
      await runKibanaImport({
        url: kibana.url,
        env: { MY_KEY: 'QVBJS0VZOnNlY3JldA==' },
        apiKeyEnv: 'MY_KEY',
        ...key.io,
      }),
    ).toBe(0);
  });

  it('exits 2 for bad usage and 1 when Kibana cannot be reached', async () => {
    const bad = capture();
    expect(await runKibanaImport({ url: 'nope', env: {}, ...bad.io })).toBe(2);
    const noFile = capture();
    expect(
      await runKibanaImport({ url: kibana.url, file: join(dir, 'missing.ndjson'), env: {}, ...noFile.io }),
    ).toBe(2);
    const down = capture();
    expect(await runKibanaImport({ url: 'http://127.0.0.1:1', env: {}, ...down.io })).toBe(1);
    expect(down.err[0]).toMatch(/cannot reach Kibana/);
  });
});
