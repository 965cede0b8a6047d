import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DISCOVER_COLUMNS,
  discoverLink,
  discoverQuery,
  kqlQuote,
  parseDiscoverLink,
} from '../../src/alerts/kibana-link.js';
import { alert } from './store/fixtures.js';

const rison = createRequire(import.meta.url)('rison-node') as { decode(s: string): unknown };

/** Decode independently of parseDiscoverLink: split the fragment, URI-decode, rison-decode. */
function decode(url: string): { prefix: string; g: Record<string, unknown>; a: Record<string, unknown> } {
  const [prefix, fragment] = url.split('#') as [string, string];
  expect(fragment.startsWith('/?')).toBe(true);
  const params: Record<string, string> = {};
  for (const part of fragment.slice(2).split('&')) {
    const [k, v] = part.split('=') as [string, string];
    // Each state is one URI component: no raw separators that would break the fragment.
    expect(v).not.toMatch(/[ #&=?"%](?![0-9A-F]{2})/);
    params[k] = decodeURIComponent(v);
  }
  expect(Object.keys(params).sort()).toEqual(['_a', '_g']);
  return {
    prefix,
    g: rison.decode(params['_g'] as string) as Record<string, unknown>,
    a: rison.decode(params['_a'] as string) as Record<string, unknown>,
  };
}

describe('discoverLink', () => {
  it('links to the events data view, widened time range, filtered to the entity id', () => {
    const url = discoverLink({
      kibanaUrl: 'https://kibana.example/',
      dataViewId: 'vigil-events',
      alert: alert(),
    });
    expect(url).toBeDefined();
    const { prefix, g, a } = decode(url as string);
    expect(prefix).toBe('https://kibana.example/app/discover');
    expect(g).toEqual({
      filters: [],
      refreshInterval: { pause: true, value: 0 },
      time: { from: '2025-05-01T09:45:00.000Z', to: '2025-05-01T10:20:00.000Z' },
    });
    expect(a).toEqual({
      columns: [...DEFAULT_DISCOVER_COLUMNS],
      dataSource: { dataViewId: 'vigil-events', type: 'dataView' },
      filters: [],
      interval: 'auto',
      query: { language: 'kuery', query: 'user.id:"ent-1"' },
      sort: [['@timestamp', 'desc']],
    });
  });

  it('falls back to display name, token ref, then source addresses', () => {
    const base = alert();
    const q = (over: Partial<typeof base>) => discoverQuery({ ...base, ...over });
    expect(q({ identity: { key: 'name:userpass/bob', displayName: 'userpass-bob' } })).toBe(
      'user.name:"userpass-bob"',
    );
    expect(q({ identity: { key: 'token:tr_1', tokenRef: 'tr_1' } })).toBe('vault.token_ref:"tr_1"');
    expect(q({ identity: { key: 'anon:10.0.0.9' }, sourceAddresses: ['10.0.0.9'] })).toBe(
      'source.address:"10.0.0.9"',
    );
    expect(q({ identity: undefined, sourceAddresses: ['10.0.0.9', '10.0.0.10', '10.0.0.9'] })).toBe(
      'source.address:"10.0.0.9" or source.address:"10.0.0.10"',
    );
    expect(q({ identity: undefined, sourceAddresses: [] })).toBe('');
  });

  it('survives quotes, !, spaces, backslashes, # & = and non-ASCII in values', () => {
    const nasty = `o'brien "the boss" !x! \\ #1 & a=b ümlaut 日本 😀`;
    const url = discoverLink({
      kibanaUrl: 'https://kibana.example/s/sec ops',
      dataViewId: "vigil-events'!",
      alert: alert({ identity: { key: 'name:x', displayName: nasty } }),
    }) as string;
    const { a } = decode(url);
    const query = (a['query'] as { query: string }).query;
    expect(query).toBe(`user.name:${kqlQuote(nasty)}`);
    expect(query).toBe(`user.name:"o'brien \\"the boss\\" !x! \\\\ #1 & a=b ümlaut 日本 😀"`);
    expect(a['dataSource']).toEqual({ dataViewId: "vigil-events'!", type: 'dataView' });
    // The helper decodes to the same structure.
    const parsed = parseDiscoverLink(url);
    expect(parsed.a).toEqual(a);
    expect(parsed.base).toBe('https://kibana.example/s/sec ops');
  });

  it('uses the source address for unauthenticated alerts, with odd addresses intact', () => {
    const url = discoverLink({
      kibanaUrl: 'http://k:5601',
      dataViewId: 'dv',
      alert: alert({ identity: { key: 'anon:fe80::1%eth0' }, sourceAddresses: ['fe80::1%eth0'] }),
    }) as string;
    expect((decode(url).a['query'] as { query: string }).query).toBe('source.address:"fe80::1%eth0"');
  });

  it('handles reversed or missing times and an empty Kibana URL', () => {
    expect(discoverLink({ kibanaUrl: '', dataViewId: 'dv', alert: alert() })).toBeUndefined();
    expect(discoverLink({ kibanaUrl: '  ', dataViewId: 'dv', alert: alert() })).toBeUndefined();
    const swapped = decode(
      discoverLink({
        kibanaUrl: 'http://k',
        dataViewId: 'dv',
        alert: alert({ firstEventAt: '2025-05-01T11:00:00Z', lastEventAt: '2025-05-01T10:00:00Z' }),
        marginMs: 0,
      }) as string,
    );
    expect(swapped.g['time']).toEqual({ from: '2025-05-01T10:00:00.000Z', to: '2025-05-01T11:00:00.000Z' });
    const missing = decode(
      discoverLink({
        kibanaUrl: 'http://k',
        dataViewId: 'dv',
        alert: alert({ firstEventAt: 'garbage', lastEventAt: '', openedAt: '2025-05-01T12:00:00Z' }),
      }) as string,
    );
    expect(missing.g['time']).toEqual({ from: '2025-05-01T11:45:00.000Z', to: '2025-05-01T12:15:00.000Z' });
  });

  it('accepts custom columns', () => {
    const url = discoverLink({
      kibanaUrl: 'http://k',
      dataViewId: 'dv',
      alert: alert(),
      columns: ['vault.path'],
    }) as string;
    expect(decode(url).a['columns']).toEqual(['vault.path']);
  });
});
