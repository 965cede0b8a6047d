import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/config/load.js';
import {
  DEFAULT_OBJECTS_FILE,
  parseSavedObjects,
  withIndexPrefix,
  type SavedObject,
} from '../../src/store/kibana.js';
import { alertMappings, eventMappings } from '../../src/store/elasticsearch/templates.js';

/**
 * kibana/objects.ndjson: structurally valid saved objects for Kibana 8.x, every reference resolvable
 * inside the file, and every field they use exists in Vigil's mappings.
 */

const text = readFileSync(join(PACKAGE_ROOT, 'kibana', 'objects.ndjson'), 'utf8');
const objects = parseSavedObjects(text);
const byKey = new Map(objects.map((o) => [`${o.type}/${o.id}`, o]));
const find = (type: string, id: string) => byKey.get(`${type}/${id}`) as SavedObject;

/** Every field path a mapping defines (`vault.path`, `vault.error_message.keyword`, ...). */
function fieldsOf(properties: Record<string, unknown>, prefix = ''): Set<string> {
  const out = new Set<string>();
  for (const [name, def] of Object.entries(properties)) {
    const d = def as {
      properties?: Record<string, unknown>;
      fields?: Record<string, unknown>;
      type?: string;
    };
    const path = prefix + name;
    if (d.properties) for (const f of fieldsOf(d.properties, `${path}.`)) out.add(f);
    else out.add(path);
    if (d.fields) for (const sub of Object.keys(d.fields)) out.add(`${path}.${sub}`);
  }
  return out;
}
const eventFields = fieldsOf(eventMappings().properties as Record<string, unknown>);
const alertFields = fieldsOf(alertMappings().properties as Record<string, unknown>);

function searchSource(o: SavedObject): {
  query: { query: string; language: string };
  filter: unknown[];
  indexRefName?: string;
} {
  const meta = o.attributes['kibanaSavedObjectMeta'] as { searchSourceJSON: string };
  return JSON.parse(meta.searchSourceJSON) as ReturnType<typeof searchSource>;
}

function dataViewOf(o: SavedObject): string | undefined {
  const ref = searchSource(o).indexRefName;
  return ref === undefined ? undefined : o.references.find((r) => r.name === ref)?.id;
}

describe('kibana/objects.ndjson', () => {
  it('is the default file of the import command', () => {
    expect(DEFAULT_OBJECTS_FILE).toBe(join(PACKAGE_ROOT, 'kibana', 'objects.ndjson'));
  });

  it('holds one saved object per line, with unique type/id', () => {
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(objects.length);
    expect(text.endsWith('\n')).toBe(true);
    expect(byKey.size).toBe(objects.length);
    for (const o of objects) {
      expect(Object.keys(o)).toEqual(expect.arrayContaining(['type', 'id', 'attributes', 'references']));
      expect(typeof o.attributes['title']).toBe('string');
      for (const r of o.references) {
        expect(typeof r.name).toBe('string');
        expect(typeof r.type).toBe('string');
        expect(typeof r.id).toBe('string');
      }
    }
  });

  it('every reference resolves to an object in the file', () => {
    for (const o of objects) {
      for (const r of o.references) {
        expect(byKey.has(`${r.type}/${r.id}`), `${o.type}/${o.id} → ${r.type}/${r.id}`).toBe(true);
      }
    }
  });

  it('has the two data views on @timestamp', () => {
    expect(find('index-pattern', 'vigil-events').attributes).toMatchObject({
      title: 'vigil-events-*',
      timeFieldName: '@timestamp',
    });
    expect(find('index-pattern', 'vigil-alerts').attributes).toMatchObject({
      title: 'vigil-alerts',
      timeFieldName: '@timestamp',
    });
  });

  it('has the saved searches with their queries, columns and data views', () => {
    const expectations: [string, string, string, string][] = [
      ['vigil-failed-access', 'Vigil: failed access', 'event.outcome:failure', 'vigil-events'],
      ['vigil-sys-operations', 'Vigil: sys/ operations', 'vault.kind:sys', 'vigil-events'],
      ['vigil-identity-activity', 'Vigil: identity activity', '', 'vigil-events'],
      ['vigil-open-alerts', 'Vigil: open alerts', 'status:open', 'vigil-alerts'],
    ];
    for (const [id, title, query, dataView] of expectations) {
      const s = find('search', id);
      expect(s.attributes['title']).toBe(title);
      const src = searchSource(s);
      expect(src.query).toEqual({ query, language: 'kuery' });
      expect(Array.isArray(src.filter)).toBe(true);
      expect(dataViewOf(s)).toBe(dataView);
      expect(s.attributes['sort']).toEqual([['@timestamp', 'desc']]);
      const fields = dataView === 'vigil-events' ? eventFields : alertFields;
      for (const c of s.attributes['columns'] as string[])
        expect(fields.has(c), `${id}: column ${c}`).toBe(true);
    }
    expect(find('search', 'vigil-identity-activity').attributes['columns']).toEqual([
      'user.name',
      'event.action',
      'vault.path',
      'event.outcome',
      'source.ip',
    ]);
  });

  it('queries and aggregations only use mapped fields', () => {
    for (const o of objects) {
      if (!o.attributes['kibanaSavedObjectMeta']) continue;
      const dv = dataViewOf(o);
      const fields = dv === 'vigil-alerts' ? alertFields : eventFields;
      const q = searchSource(o).query.query;
      for (const m of q.matchAll(/([a-zA-Z_@][\w.@]*)\s*:/g))
        expect(fields.has(m[1] as string), `${o.id}: ${m[1]}`).toBe(true);
      if (typeof o.attributes['visState'] === 'string') {
        const vis = JSON.parse(o.attributes['visState']) as { aggs: { params: { field?: string } }[] };
        for (const agg of vis.aggs) if (agg.params.field) expect(fields.has(agg.params.field)).toBe(true);
      }
    }
  });

  it('has the dashboard, whose panels all have a reference', () => {
    const d = find('dashboard', 'vigil-secret-access-overview');
    expect(d.attributes['title']).toBe('Secret access overview');
    const panels = JSON.parse(d.attributes['panelsJSON'] as string) as {
      panelIndex: string;
      panelRefName: string;
      type: string;
      gridData: { x: number; y: number; w: number; h: number; i: string };
    }[];
    expect(panels.length).toBeGreaterThanOrEqual(4);
    const indexes = new Set<string>();
    for (const p of panels) {
      const ref = d.references.find((r) => r.name === p.panelRefName);
      expect(ref, p.panelRefName).toBeDefined();
      expect(ref?.type).toBe(p.type);
      expect(p.gridData.i).toBe(p.panelIndex);
      expect(p.gridData.x + p.gridData.w).toBeLessThanOrEqual(48);
      indexes.add(p.panelIndex);
    }
    expect(indexes.size).toBe(panels.length);
    const searches = d.references.filter((r) => r.type === 'search').map((r) => r.id);
    expect(searches.sort()).toEqual(
      ['vigil-failed-access', 'vigil-identity-activity', 'vigil-open-alerts', 'vigil-sys-operations'].sort(),
    );
    expect(() => JSON.parse(d.attributes['optionsJSON'] as string) as unknown).not.toThrow();
  });

  it('can be pointed at another index prefix (data view titles only; ids unchanged)', () => {
    const moved = withIndexPrefix(objects, 'acme-vigil');
    const ev = moved.find((o) => o.id === 'vigil-events');
    const al = moved.find((o) => o.id === 'vigil-alerts');
    expect(ev?.attributes['title']).toBe('acme-vigil-events-*');
    expect(al?.attributes['title']).toBe('acme-vigil-alerts');
    expect(moved.filter((o) => o.type !== 'index-pattern')).toEqual(
      objects.filter((o) => o.type !== 'index-pattern'),
    );
    expect(() => withIndexPrefix(objects, 'Bad Prefix')).toThrow(/invalid index prefix/);
  });

  it('parseSavedObjects rejects malformed lines with their line number', () => {
    expect(() =>
      parseSavedObjects('{"type":"x","id":"y","attributes":{},"references":[]}\nnot json\n'),
    ).toThrow(/line 2/);
    expect(() => parseSavedObjects('{"type":"x","attributes":{},"references":[]}')).toThrow(/line 1: no id/);
    expect(() => parseSavedObjects('{"type":"x","id":"y","attributes":{}}')).toThrow(/references/);
    expect(() => parseSavedObjects('[1]')).toThrow(/not an object/);
  });
});
