import type { Client } from '@elastic/elasticsearch';
import type { estypes } from '@elastic/elasticsearch';
import { alertsIndexName, eventsIndexPattern, KEYWORD_IGNORE_ABOVE, PATH_IGNORE_ABOVE } from './documents.js';

/**
 * Composable index templates for Vigil's indices, installed (PUT, so idempotently) at start:
 *
 * - `<prefix>-events`: daily event indices `<prefix>-events-YYYY.MM.DD` (by event time, UTC);
 * - `<prefix>-alerts`: the single alerts index `<prefix>-alerts`, one document per alert.
 *
 * Both use `dynamic: false`: a field Vigil adds later is kept in `_source` but not indexed until
 * the template (and, best effort, the existing indices' mappings) learn it, so it can never make a
 * bulk item fail. Only field types of the server core and x-pack-core are used (keyword, text with
 * the standard analyzer, ip, date, numbers, boolean, flattened), so the templates install on a
 * minimal node as well as on a full cluster.
 */

/** Bumped whenever a mapping changes; stored in the templates' `_meta`. */
export const TEMPLATE_VERSION = 1;
export const DEFAULT_TEMPLATE_PRIORITY = 200;

type Property = estypes.MappingProperty;

const keyword = (ignoreAbove = KEYWORD_IGNORE_ABOVE): Property => ({
  type: 'keyword',
  ignore_above: ignoreAbove,
});
const obj = (properties: Record<string, Property>): Property => ({ properties });

/**
 * A field with open-ended keys: `flattened` (x-pack-core; every leaf a keyword), or, on a cluster
 * without it, an object kept in _source only (`enabled: false`).
 */
function openEnded(flattened: boolean, extra: { depth_limit?: number } = {}): Property {
  return flattened
    ? { type: 'flattened', ignore_above: KEYWORD_IGNORE_ABOVE, ...extra }
    : { type: 'object', enabled: false };
}

/** Field mappings of the events indices (see documents.ts for what goes where). */
export function eventMappings(flattened = true): estypes.MappingTypeMapping {
  return {
    dynamic: false,
    _meta: { managed_by: 'vigil', template_version: TEMPLATE_VERSION },
    properties: {
      '@timestamp': { type: 'date' },
      ecs: obj({ version: keyword() }),
      event: obj({
        kind: keyword(),
        module: keyword(),
        dataset: keyword(),
        category: keyword(),
        type: keyword(),
        action: keyword(),
        outcome: keyword(),
        id: keyword(),
      }),
      user: obj({ id: keyword(), name: keyword() }),
      source: obj({
        address: keyword(),
        // Documents only carry source.ip when it parses; ignore_malformed is the second line of defence.
        ip: { type: 'ip', ignore_malformed: true },
        port: { type: 'long' },
      }),
      user_agent: obj({ original: { type: 'keyword', ignore_above: KEYWORD_IGNORE_ABOVE } }),
      related: obj({ ip: { type: 'ip', ignore_malformed: true }, user: keyword() }),
      vault: obj({
        path: keyword(PATH_IGNORE_ABOVE),
        path_prefix: keyword(PATH_IGNORE_ABOVE),
        path_tree: keyword(PATH_IGNORE_ABOVE),
        kind: keyword(),
        outcome: keyword(),
        namespace: keyword(),
        mount: obj({ type: keyword(), point: keyword(), class: keyword() }),
        error_class: keyword(),
        error_message: {
          type: 'text',
          fields: { keyword: { type: 'keyword', ignore_above: KEYWORD_IGNORE_ABOVE } },
        },
        identity: obj({
          key: keyword(),
          entity_id: keyword(),
          display_name: keyword(),
          policies: keyword(),
          root: { type: 'boolean' },
          anonymous: { type: 'boolean' },
          auth_method: keyword(),
          auth_mount: keyword(),
          token_type: keyword(),
          metadata: openEnded(flattened),
        }),
        token_ref: keyword(),
        login_user: keyword(),
        issued: obj({
          entity_id: keyword(),
          display_name: keyword(),
          policies: keyword(),
          token_type: keyword(),
          ttl_seconds: { type: 'long' },
          token_ref: keyword(),
        }),
        entries: keyword(),
      }),
      vigil: obj({ signals: keyword(), score: { type: 'float' }, source: keyword() }),
    },
  };
}

/**
 * Field mappings of the alerts index: every Alert field (names as in the alert log), plus
 * `@timestamp` (= openedAt), `updatedAt` (time of the last transition), `lastAction` and
 * `transitions`. `evidence` and `labels` have open-ended keys, so they are `flattened` (every leaf
 * indexed as a keyword; `labels.team: payments` works in KQL). `flattened` is part of x-pack-core
 * (present on the minimal test node; verified by the integration test).
 */
export function alertMappings(flattened = true): estypes.MappingTypeMapping {
  return {
    dynamic: false,
    _meta: { managed_by: 'vigil', template_version: TEMPLATE_VERSION },
    properties: {
      '@timestamp': { type: 'date' },
      updatedAt: { type: 'date' },
      lastAction: keyword(),
      transitions: { type: 'long' },
      id: keyword(),
      fingerprint: keyword(),
      detector: keyword(),
      severity: keyword(),
      score: { type: 'float' },
      title: { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: KEYWORD_IGNORE_ABOVE } } },
      summary: { type: 'text' },
      identity: obj({
        key: keyword(),
        entityId: keyword(),
        displayName: keyword(),
        tokenRef: keyword(),
        authMount: keyword(),
      }),
      sourceAddresses: keyword(),
      paths: keyword(PATH_IGNORE_ABOVE),
      firstEventAt: { type: 'date' },
      lastEventAt: { type: 'date' },
      eventCount: { type: 'long' },
      evidence: openEnded(flattened, { depth_limit: 20 }),
      runbook: keyword(),
      links: obj({
        runbook: { type: 'keyword', index: false, doc_values: false },
        kibana: { type: 'keyword', index: false, doc_values: false },
      }),
      status: keyword(),
      seq: { type: 'long' },
      openedAt: { type: 'date' },
      resolvedAt: { type: 'date' },
      family: keyword(),
      groupKey: keyword(),
      signalCount: { type: 'long' },
      eventIds: keyword(),
      firstStep: keyword(),
      labels: openEnded(flattened),
      environment: keyword(),
      previousAlertId: keyword(),
      incidentId: keyword(),
      silencedBy: keyword(),
      inhibitedBy: keyword(),
    },
  };
}

export interface TemplateOptions {
  prefix: string;
  /** Map open-ended fields as `flattened` (default true; installTemplates falls back on its own). */
  flattened?: boolean;
  /** Replicas per index (0 on a single node; raise it on a real cluster). */
  replicas?: number;
  /** Priority of the templates (must differ from any other template matching the same names). */
  priority?: number;
}

export function eventsTemplateName(prefix: string): string {
  return `${prefix}-events`;
}

export function alertsTemplateName(prefix: string): string {
  return `${prefix}-alerts`;
}

function settings(replicas: number): estypes.IndicesIndexSettings {
  return { number_of_shards: 1, number_of_replicas: replicas };
}

export function eventsTemplate(options: TemplateOptions): estypes.IndicesPutIndexTemplateRequest {
  return {
    name: eventsTemplateName(options.prefix),
    index_patterns: [eventsIndexPattern(options.prefix)],
    priority: options.priority ?? DEFAULT_TEMPLATE_PRIORITY,
    version: TEMPLATE_VERSION,
    _meta: { managed_by: 'vigil', description: 'Vigil access events (daily indices)' },
    template: {
      settings: settings(options.replicas ?? 0),
      mappings: eventMappings(options.flattened ?? true),
    },
  };
}

export function alertsTemplate(options: TemplateOptions): estypes.IndicesPutIndexTemplateRequest {
  return {
    name: alertsTemplateName(options.prefix),
    index_patterns: [alertsIndexName(options.prefix)],
    priority: options.priority ?? DEFAULT_TEMPLATE_PRIORITY,
    version: TEMPLATE_VERSION,
    _meta: { managed_by: 'vigil', description: 'Vigil alerts (one document per alert)' },
    template: {
      settings: settings(options.replicas ?? 0),
      mappings: alertMappings(options.flattened ?? true),
    },
  };
}

export interface InstallResult {
  templates: string[];
  /** False when the cluster has no `flattened` type and open-ended fields are kept unindexed. */
  flattened: boolean;
  /** Mapping updates of existing indices the cluster acknowledged (best effort). */
  updatedIndices: number;
  /** Problems while extending existing mappings (a type clash with an older mapping, ...). */
  warnings: string[];
}

function lacksFlattened(err: unknown): boolean {
  const e = err as { meta?: { statusCode?: number; body?: unknown }; message?: string };
  if (e.meta?.statusCode !== 400) return false;
  const text = JSON.stringify(e.meta.body ?? e.message ?? '');
  return /\[flattened\]/.test(text) && /does not exist|No handler for type/i.test(text);
}

/**
 * PUT both templates (idempotent), then add any new field to the mappings of existing indices of
 * the prefix (templates only apply to indices created after them). A mapping update that clashes
 * with an existing field type is reported, not thrown: the templates themselves are in place. A
 * cluster without the `flattened` type gets `object` + `enabled: false` for open-ended fields.
 */
export async function installTemplates(client: Client, options: TemplateOptions): Promise<InstallResult> {
  let flattened = options.flattened ?? true;
  const put = async () => {
    const templates = [eventsTemplate({ ...options, flattened }), alertsTemplate({ ...options, flattened })];
    for (const t of templates) await client.indices.putIndexTemplate(t);
    return templates.map((t) => t.name);
  };
  let names: string[];
  try {
    names = await put();
  } catch (err) {
    if (!flattened || !lacksFlattened(err)) throw err;
    flattened = false;
    names = await put();
  }
  const warnings: string[] = [];
  let updatedIndices = 0;
  const updates: [string, estypes.MappingTypeMapping][] = [
    [eventsIndexPattern(options.prefix), eventMappings(flattened)],
    [alertsIndexName(options.prefix), alertMappings(flattened)],
  ];
  for (const [index, mapping] of updates) {
    try {
      const res = await client.indices.putMapping({
        index,
        allow_no_indices: true,
        ignore_unavailable: true,
        expand_wildcards: 'open',
        properties: mapping.properties ?? {},
        dynamic: false,
        _meta: mapping._meta ?? {},
      });
      if (res.acknowledged) updatedIndices++;
    } catch (err) {
      warnings.push(`${index}: ${(err as Error).message}`);
    }
  }
  return { templates: names, flattened, updatedIndices, warnings };
}
