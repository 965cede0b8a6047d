import { check } from '../check.js';
import { loadConfig } from '../config/load.js';
import { EXIT } from './exit.js';

export function runCheck(opts: { config?: string; env?: string; tests: boolean; verbose?: boolean }): number {
  const { config, files } = loadConfig({ file: opts.config, environment: opts.env });
  const report = check(config, { runTests: opts.tests });
  console.log(`configuration: ${files.join(' + ')} (environment ${config.environment}) is valid`);
  console.log(
    `detectors: ${report.detectors} loaded, ${report.enabled} enabled, from ${config.detectors.dir}`,
  );
  if (opts.tests) {
    const passed = report.tests.filter((t) => t.passed).length;
    console.log(`detector tests: ${passed}/${report.tests.length} passed`);
    if (opts.verbose) {
      for (const t of report.tests)
        console.log(
          `  ${t.passed ? 'ok  ' : 'FAIL'} ${t.detector}: ${t.test}${t.problem ? ` — ${t.problem}` : ''}`,
        );
    }
  }
  if (report.problems.length > 0) {
    console.error(`\n${report.problems.length} problem(s):`);
    for (const p of report.problems) console.error(`  ${p}`);
    return EXIT.CHECK_FAILED;
  }
  console.log('ok');
  return EXIT.OK;
}
