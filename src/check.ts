import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config/schema.js';
import { analyzerEnv, knownSchedules } from './core.js';
import { applySchedules } from './detect/schedules.js';
import type { Detector } from './detect/analyzer.js';
import { DetectorLoadError, loadDetectors } from './detect/loader.js';
import { runDetectorTests, type DetectorTestResult } from './detect/testing.js';

export interface CheckReport {
  detectors: number;
  enabled: number;
  problems: string[];
  tests: DetectorTestResult[];
}

/** Sections every runbook must have, so a responder always finds the same structure. */
export const RUNBOOK_SECTIONS = ['What it means', 'Triage', 'Contain', 'Recover', 'Clean up'];

/** Validate configuration (already loaded), detector files, runbook references, and run detector tests. */
export function check(config: Config, options: { runTests?: boolean } = {}): CheckReport {
  const problems: string[] = [];
  let detectors: Detector[] = [];
  try {
    detectors = loadDetectors(config.detectors.dir, { overrides: config.detectors.overrides });
  } catch (err) {
    if (err instanceof DetectorLoadError) problems.push(...err.problems);
    else problems.push((err as Error).message);
  }
  const known = new Set(detectors.map((d) => d.id));
  for (const id of Object.keys(config.detectors.overrides)) {
    if (!known.has(id)) problems.push(`configuration: detectors.overrides.${id}: no detector has this id`);
  }
  for (const d of detectors) problems.push(...checkRunbook(d, config.runbooks.dir));
  if (detectors.length > 0) {
    try {
      applySchedules(detectors, knownSchedules(config), config.time_zone);
    } catch (err) {
      problems.push(`configuration: ${(err as Error).message}`);
    }
  }

  const tests: DetectorTestResult[] = [];
  if (options.runTests !== false) {
    const env = analyzerEnv(config);
    for (const d of detectors) tests.push(...runDetectorTests(d, detectors, env, config.pipeline.tick));
  }
  for (const t of tests)
    if (!t.passed) problems.push(`detector ${t.detector}: test "${t.test}": ${t.problem}`);
  return { detectors: detectors.length, enabled: detectors.filter((d) => d.enabled).length, problems, tests };
}

function checkRunbook(d: Detector, runbooksDir: string): string[] {
  const path = join(runbooksDir, d.runbook.replace(/^runbooks\//, ''));
  if (!existsSync(path)) return [`${d.file}: runbook ${d.runbook} does not exist (looked for ${path})`];
  const text = readFileSync(path, 'utf8');
  const headings = new Set(
    [...text.matchAll(/^##\s+(.+?)\s*$/gm)].map((m) => (m[1] as string).toLowerCase()),
  );
  const missing = RUNBOOK_SECTIONS.filter((s) => !headings.has(s.toLowerCase()));
  return missing.length > 0
    ? [`${d.runbook}: missing section(s) ${missing.map((m) => `"## ${m}"`).join(', ')}`]
    : [];
}
