import { describe, expect, it } from 'vitest';
import { KnownSet } from '../../../../src/baseline/stats/known-set.js';

describe('KnownSet', () => {
  it('knows every value added (no false negatives) and few it never saw', () => {
    const s = new KnownSet();
    let added = 0;
    for (let i = 0; i < 3000; i++) if (s.add(`secret/data/team-${i % 40}/app-${i}`)) added++;
    // A new value that collides with known bits looks known: rare.
    expect(added).toBeGreaterThan(2985);
    for (let i = 0; i < 3000; i++) expect(s.has(`secret/data/team-${i % 40}/app-${i}`)).toBe(true);
    let falsePositives = 0;
    for (let i = 0; i < 20_000; i++) if (s.has(`secret/data/other-${i}/x`)) falsePositives++;
    // Below 0.1 % per filter, several filters: well under 1 %.
    expect(falsePositives / 20_000).toBeLessThan(0.01);
    expect(s.size).toBeGreaterThanOrEqual(2900);
  });

  it('reports a value as new once', () => {
    const s = new KnownSet();
    expect(s.add('a')).toBe(true);
    expect(s.add('a')).toBe(false);
    expect(s.has('b')).toBe(false);
  });

  it('grows with the values it holds, not before', () => {
    const small = new KnownSet();
    for (let i = 0; i < 10; i++) small.add(`v${i}`);
    const large = new KnownSet();
    for (let i = 0; i < 2000; i++) large.add(`v${i}`);
    const bytes = (s: KnownSet) => s.toJSON().f.reduce((a, b) => a + b.length, 0);
    expect(bytes(small)).toBeLessThan(100);
    expect(bytes(large)).toBeGreaterThan(10 * bytes(small));
    expect(bytes(large)).toBeLessThan(8000);
  });

  it('survives a snapshot exactly', () => {
    const s = new KnownSet();
    for (let i = 0; i < 500; i++) s.add(`p${i}`);
    const r = KnownSet.from(JSON.parse(JSON.stringify(s.toJSON())));
    for (let i = 0; i < 2000; i++) expect(r.has(`p${i}`)).toBe(s.has(`p${i}`));
    expect(r.size).toBe(s.size);
    expect(r.add('p1')).toBe(false);
  });
});
