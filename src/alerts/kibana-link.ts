import { createRequire } from 'node:module';
import type { Alert } from './alert.js';

/**
 * Kibana Discover deep links for alerts: the events data view, the alert's time span widened by a
 * margin, filtered (KQL) to who or what the alert is about, newest first.
 *
 *   <kibana>/app/discover#/?_g=(filters:!(),refreshInterval:(pause:!t,value:0),time:(from:'…',to:'…'))
 *     &_a=(columns:!(…),dataSource:(dataViewId:'vigil-events',type:dataView),filters:!(),
 *          interval:auto,query:(language:kuery,query:'user.id:"…"'),sort:!(!('@timestamp',desc)))
 *
 * `_g` is Kibana's global state (time), `_a` Discover's app state. Both are rison-encoded
 * (rison-node) and then URI-encoded. `dataSource:(dataViewId,type:dataView)` is the 8.15+/9.x form;
 * older 8.x Kibanas used `index:'<id>'` in `_a` (legacy URLs are still redirected by newer ones).
 */

interface Rison {
  encode(value: unknown): string;
  decode(text: string): unknown;
}

// rison-node is CommonJS without type declarations: load it through require with our own types.
const rison = createRequire(import.meta.url)('rison-node') as Rison;

export const DEFAULT_DISCOVER_COLUMNS: readonly string[] = [
  'user.name',
  'event.action',
  'vault.path',
  'event.outcome',
  'source.address',
];

/** Minutes of context before the first and after the last event. */
export const DEFAULT_LINK_MARGIN_MS = 15 * 60_000;

/** How many source addresses an address-keyed link ORs together at most. */
const MAX_SOURCE_TERMS = 10;

export interface DiscoverLinkOptions {
  /** Kibana base URL, including a space (`https://kibana.example/s/security`) if any. */
  kibanaUrl: string;
  /** Id of the events data view (`kibana.events_data_view`, default `vigil-events`). */
  dataViewId: string;
  alert: Pick<Alert, 'identity' | 'sourceAddresses' | 'firstEventAt' | 'lastEventAt' | 'openedAt'>;
  marginMs?: number;
  columns?: readonly string[];
}

/** A KQL quoted string: `"` and `\` escaped with a backslash. */
export function kqlQuote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * The KQL that selects the alert's events: the entity id (`user.id`), else the display name
 * (`user.name`), else the token reference (`vault.token_ref`); for unauthenticated or source-keyed
 * alerts the source address(es) (`source.address`). Empty when the alert names none of these.
 */
export function discoverQuery(alert: DiscoverLinkOptions['alert']): string {
  const id = alert.identity;
  if (id?.entityId) return `user.id:${kqlQuote(id.entityId)}`;
  if (id?.displayName) return `user.name:${kqlQuote(id.displayName)}`;
  if (id?.tokenRef) return `vault.token_ref:${kqlQuote(id.tokenRef)}`;
  const addresses = [...new Set(alert.sourceAddresses.filter((a) => a !== ''))].slice(0, MAX_SOURCE_TERMS);
  if (addresses.length > 0) return addresses.map((a) => `source.address:${kqlQuote(a)}`).join(' or ');
  return '';
}

function parseTime(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const t = Date.parse(text);
  return Number.isFinite(t) ? t : undefined;
}

/** The Discover URL for an alert's events, or undefined without a Kibana URL. */
export function discoverLink(options: DiscoverLinkOptions): string | undefined {
  const base = options.kibanaUrl.trim().replace(/\/+$/, '');
  if (base === '') return undefined;
  const { alert } = options;
  const margin = options.marginMs ?? DEFAULT_LINK_MARGIN_MS;
  const opened = parseTime(alert.openedAt);
  const first = parseTime(alert.firstEventAt) ?? opened ?? Date.now();
  const last = parseTime(alert.lastEventAt) ?? opened ?? first;
  const from = new Date(Math.min(first, last) - margin).toISOString();
  const to = new Date(Math.max(first, last) + margin).toISOString();

  const g = {
    filters: [],
    refreshInterval: { pause: true, value: 0 },
    time: { from, to },
  };
  const a = {
    columns: [...(options.columns ?? DEFAULT_DISCOVER_COLUMNS)],
    dataSource: { dataViewId: options.dataViewId, type: 'dataView' },
    filters: [],
    interval: 'auto',
    query: { language: 'kuery', query: discoverQuery(alert) },
    sort: [['@timestamp', 'desc']],
  };
  return (
    `${base}/app/discover#/?_g=${encodeURIComponent(rison.encode(g))}` +
    `&_a=${encodeURIComponent(rison.encode(a))}`
  );
}

/** Decode a link made by discoverLink (tests, and anyone who wants to check one). */
export function parseDiscoverLink(url: string): { base: string; g: unknown; a: unknown } {
  const hash = url.indexOf('#');
  if (hash < 0) throw new Error('not a Discover link: no #');
  const base = url.slice(0, hash).replace(/\/app\/discover$/, '');
  const fragment = url.slice(hash + 1);
  const q = fragment.indexOf('?');
  if (q < 0) throw new Error('not a Discover link: no state');
  const params = new Map<string, string>();
  for (const part of fragment.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    if (eq > 0) params.set(part.slice(0, eq), decodeURIComponent(part.slice(eq + 1)));
  }
  const g = params.get('_g');
  const a = params.get('_a');
  if (g === undefined || a === undefined) throw new Error('not a Discover link: _g or _a missing');
  return { base, g: rison.decode(g), a: rison.decode(a) };
}
