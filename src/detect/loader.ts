import { readdirSync, readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import type { AccessEvent, Severity } from '../audit/event.js';
import { pathPrefix } from '../audit/paths.js';
import { networkKey } from './analyzers/common.js';
import type { Detector } from './analyzer.js';
import { analyzers } from './analyzers/index.js';
import { compileAny, compileMatch } from './match.js';
import { formatIssues, parseYaml, positionOf, YamlSyntaxError, type YamlSource } from '../util/yaml.js';
import {
  detectorSchema,
  type DetectorFile,
  type DetectorOverride,
  type GroupKeyPart,
  type MatchSpec,
} from './schema.js';

export class DetectorLoadError extends Error {
  constructor(readonly problems: string[]) {
    super(`${problems.length} problem(s) in detector files:\n  ${problems.join('\n  ')}`);
    this.name = 'DetectorLoadError';
  }
}

export interface LoadOptions {
  overrides?: Record<string, DetectorOverride>;
  /** Directory paths in messages are shown relative to this. */
  cwd?: string;
}

/**
 * Load and validate every `*.yaml`/`*.yml` file in `dir`. All problems are collected and thrown
 * together, each as `file:line:column: where: what`, so one start-up shows everything to fix.
 */
export function loadDetectors(dir: string, options: LoadOptions = {}): Detector[] {
  const problems: string[] = [];
  const detectors: Detector[] = [];
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.yaml') || n.endsWith('.yml'))
      .sort();
  } catch (err) {
    throw new DetectorLoadError([`${dir}: cannot read the detectors directory (${(err as Error).message})`]);
  }
  const seen = new Map<string, string>();
  for (const name of names) {
    const path = join(dir, name);
    const shown = relative(options.cwd ?? process.cwd(), path) || path;
    const result = loadDetectorText(readFileSync(path, 'utf8'), shown, options.overrides);
    if (!result.ok) {
      problems.push(...result.problems);
      continue;
    }
    const d = result.detector;
    const expectedId = basename(name).replace(/\.ya?ml$/, '');
    if (d.id !== expectedId)
      problems.push(`${shown}:1:1: id "${d.id}" must match the file name "${expectedId}"`);
    const other = seen.get(d.id);
    if (other) problems.push(`${shown}:1:1: id "${d.id}" is also used by ${other}`);
    seen.set(d.id, shown);
    detectors.push(d);
  }
  if (problems.length > 0) throw new DetectorLoadError(problems);
  return detectors;
}

export type LoadResult = { ok: true; detector: Detector } | { ok: false; problems: string[] };

/** Validate one detector file's text. `file` names it in messages. */
export function loadDetectorText(
  text: string,
  file: string,
  overrides?: Record<string, DetectorOverride>,
): LoadResult {
  let source: YamlSource;
  try {
    source = parseYaml(text, file);
  } catch (err) {
    if (err instanceof YamlSyntaxError) return { ok: false, problems: err.problems };
    throw err;
  }
  const where = (path: (string | number)[]) => `${file}:${positionOf(source, path) ?? '1:1'}`;
  const parsed = detectorSchema.safeParse(source.doc.toJS());
  if (!parsed.success) return { ok: false, problems: formatIssues(parsed.error.issues, where) };
  const data = parsed.data;

  const override = overrides?.[data.id];
  const analyzer = analyzers.get(data.analyzer.type);
  if (!analyzer) {
    const known = [...analyzers.keys()].sort().join(', ');
    return {
      ok: false,
      problems: [
        `${where(['analyzer', 'type'])}: analyzer.type: unknown analyzer "${data.analyzer.type}" (known: ${known})`,
      ],
    };
  }
  const { type: _type, ...rawParams } = data.analyzer;
  const params = analyzer.params.safeParse({ ...rawParams, ...(override?.analyzer ?? {}) });
  if (!params.success) {
    return {
      ok: false,
      problems: formatIssues(params.error.issues, (p) => where(['analyzer', ...p]), 'analyzer.'),
    };
  }
  try {
    return { ok: true, detector: compileDetector(data, params.data, file, override) };
  } catch (err) {
    return { ok: false, problems: [`${where(['match'])}: ${(err as Error).message}`] };
  }
}

function compileDetector(
  data: DetectorFile,
  params: unknown,
  file: string,
  override: DetectorOverride | undefined,
): Detector {
  const exclude: MatchSpec[] = [...data.exclude, ...(override?.exclude ?? [])];
  const detector: Detector = {
    id: data.id,
    title: data.title,
    description: data.description.trim(),
    severity: (override?.severity ?? data.severity) as Severity,
    family: data.family,
    enabled: override?.enabled ?? data.enabled,
    weak: override?.weak ?? data.weak,
    why: data.why.trim(),
    runbook: data.runbook,
    labels: { ...data.labels, ...(override?.labels ?? {}) },
    resolveAfterMs: override?.resolve_after ?? data.resolve_after,
    groupBy: data.group_by,
    pathDepth: data.path_depth,
    analyzer: { type: data.analyzer.type, params },
    matches: compileMatch(data.match),
    ...(data.match.kind ? { kinds: new Set(data.match.kind) } : {}),
    ...(data.match.operation ? { operations: new Set(data.match.operation) } : {}),
    ...(data.match.outcome ? { outcomes: new Set(data.match.outcome) } : {}),
    groupKey: groupKeyFn(data.group_by, data.path_depth),
    tests: data.tests,
    file,
  };
  const excluded = compileAny(exclude);
  if (excluded) detector.excluded = excluded;
  if (data.first_step) detector.firstStep = data.first_step.trim();
  return detector;
}

export function groupKeyFn(parts: GroupKeyPart[], pathDepth: number): (e: AccessEvent) => string {
  const getters = parts.map((part): ((e: AccessEvent) => string) => {
    switch (part) {
      case 'identity':
        return (e) => e.identity.key;
      case 'source':
        return (e) => e.remoteAddress ?? '-';
      case 'source_network':
        return (e) => (e.remoteAddress ? networkKey(e.remoteAddress) : '-');
      case 'path':
        return (e) => e.path;
      case 'path_prefix':
        return (e) => pathPrefix(e.path, pathDepth);
      case 'login_user':
        return (e) => e.loginUser ?? '-';
      case 'namespace':
        return (e) => e.namespace || 'root';
      case 'mount':
        return (e) => e.mountPoint ?? '-';
      case 'operation':
        return (e) => e.operation;
      case 'detector':
        return () => '*';
    }
  });
  if (getters.length === 1) return getters[0] as (e: AccessEvent) => string;
  return (e) => getters.map((g) => g(e)).join('|');
}
