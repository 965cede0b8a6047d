import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DetectorLoadError, loadDetectors, loadDetectorText } from '../../../src/detect/loader.js';
import { eventFromSpec } from '../../../src/detect/testing.js';

const valid = `id: demo-detector
title: Demo detector
description: A detector used by the loader tests.
severity: medium
family: privilege
why: Because the tests need one.
match:
  path: ["sys/audit/*"]
  operation: [delete]
analyzer:
  type: match
runbook: runbooks/demo-detector.md
`;

function problems(text: string): string[] {
  const r = loadDetectorText(text, 'detectors/demo-detector.yaml');
  if (r.ok) throw new Error('expected problems');
  return r.problems;
}

describe('detector files', () => {
  it('loads a valid file and compiles its filter', () => {
    const r = loadDetectorText(valid, 'detectors/demo-detector.yaml');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const d = r.detector;
    expect(d).toMatchObject({
      id: 'demo-detector',
      severity: 'medium',
      groupBy: ['identity'],
      resolveAfterMs: 3_600_000,
    });
    expect(d.matches(eventFromSpec({ operation: 'delete', path: 'sys/audit/file' }, 0))).toBe(true);
    expect(d.matches(eventFromSpec({ operation: 'read', path: 'sys/audit/file' }, 0))).toBe(false);
    expect(d.matches(eventFromSpec({ operation: 'delete', path: 'sys/mounts/x' }, 0))).toBe(false);
  });

  it('names file, line and column of a YAML syntax error', () => {
    const p = problems(valid.replace('severity: medium', 'severity: [medium'));
    expect(p[0]).toMatch(/^detectors\/demo-detector\.yaml:\d+:\d+: /);
  });

  it('names the line of a bad value and says what is allowed', () => {
    const p = problems(valid.replace('severity: medium', 'severity: urgent'));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^detectors\/demo-detector\.yaml:4:\d+: severity: /);
    expect(p[0]).toMatch(/critical/);
  });

  it('rejects unknown keys (typos) instead of ignoring them', () => {
    const p = problems(valid.replace('match:', 'matchh:\n  kind: [login]\nmatch:'));
    expect(p.some((x) => /unknown key\(s\) "matchh"/.test(x))).toBe(true);
  });

  it('validates analyzer parameters with the analyzer schema, at the parameter line', () => {
    const text = valid.replace('  type: match', '  type: rate_spike\n  window: 5 minutes');
    const p = problems(text);
    expect(p[0]).toMatch(
      /^detectors\/demo-detector\.yaml:12:\d+: analyzer\.window: "5 minutes" is not a duration/,
    );
  });

  it('rejects an unknown analyzer and lists the known ones', () => {
    const p = problems(valid.replace('type: match', 'type: magic'));
    expect(p[0]).toMatch(/unknown analyzer "magic" \(known: .*match.*rate_spike/);
  });

  it('rejects a bad CIDR in a filter', () => {
    const p = problems(
      valid.replace('  operation: [delete]', '  operation: [delete]\n  source_cidr: ["10.0.0.0/33"]'),
    );
    expect(p[0]).toMatch(/10\.0\.0\.0\/33/);
  });

  it('reports every broken file of a directory at once, and id/file-name mismatches', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-detectors-'));
    writeFileSync(join(dir, 'demo-detector.yaml'), valid);
    writeFileSync(join(dir, 'other.yaml'), valid);
    writeFileSync(join(dir, 'broken.yaml'), 'id: broken\ntitle: x\n');
    let error: unknown;
    try {
      loadDetectors(dir, { cwd: dir });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DetectorLoadError);
    const all = (error as DetectorLoadError).problems.join('\n');
    expect(all).toMatch(/broken\.yaml:\d+:\d+: title/);
    expect(all).toMatch(/other\.yaml:1:1: id "demo-detector" must match the file name "other"/);
  });

  it('applies per-environment overrides: severity, parameters and extra allowlist entries', () => {
    const r = loadDetectorText(valid, 'd.yaml', {
      'demo-detector': {
        severity: 'critical',
        exclude: [{ identity: { display_name: ['oidc-ops-*'] } }],
        labels: { team: 'sec' },
      },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.detector.severity).toBe('critical');
    expect(r.detector.labels).toEqual({ team: 'sec' });
    const admin = eventFromSpec(
      {
        operation: 'delete',
        path: 'sys/audit/file',
        identity: { display_name: 'oidc-ops-bob', policies: ['a'] },
      },
      0,
    );
    expect(r.detector.excluded?.(admin)).toBe(true);
  });

  it('rejects override parameters the analyzer does not know', () => {
    const r = loadDetectorText(valid, 'd.yaml', { 'demo-detector': { analyzer: { windw: '5m' } } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems[0]).toMatch(/unknown key\(s\) "windw"/);
  });
});
