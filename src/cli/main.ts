import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, PACKAGE_ROOT } from '../config/load.js';
import { DetectorLoadError } from '../detect/loader.js';
import { tokenRef } from '../audit/secrets.js';
import { EXIT, fail, UsageError } from './exit.js';
import { runCheck } from './check-command.js';
import { runDemo } from './demo-command.js';
import { runReplay } from './replay-command.js';
import { runKibanaImport } from '../store/kibana.js';
import { runSimulate } from '../simulate/command.js';
import { runDaemon } from './run-command.js';
import { silenceAdd, silenceExpire, silenceList } from './silence-command.js';

const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

const configOption = () =>
  new Option('-c, --config <file>', 'configuration file layered over the defaults (env: VIGIL_CONFIG)');
const envOption = () =>
  new Option('-e, --env <name>', 'environment overlay: development, staging, production (env: VIGIL_ENV)');

export function buildProgram(): Command {
  const program = new Command('vigil')
    .description('Access-anomaly detection and alerting for HashiCorp Vault and OpenBao audit logs')
    .version(version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) });

  program
    .command('run')
    .description('run the daemon: configured sources in, alerts out, until SIGINT/SIGTERM')
    .addOption(configOption())
    .addOption(envOption())
    .action(async (opts: { config?: string; env?: string }) => {
      process.exitCode = await runDaemon(opts);
    });

  program
    .command('replay')
    .description('run the full detection pipeline over a recorded audit log (plain, .gz, or - for stdin)')
    .argument('<audit-log>', 'audit log file, or - to read standard input')
    .addOption(configOption())
    .addOption(envOption())
    .option('-o, --alerts-out <file>', 'write every alert transition to this file as NDJSON')
    .option('--append', 'append to --alerts-out instead of replacing it')
    .option('--state-dir <dir>', 'continue from, and save to, this state directory (replay a log in parts)')
    .option('--dead-letter <file>', 'write malformed lines (scrubbed) to this file')
    .option('--print', 'print alert transitions as they happen')
    .option('--json', 'print the summary as JSON')
    .option('--no-progress', 'no progress line, even on a terminal')
    .action(async (input: string, opts) => {
      process.exitCode = await runReplay(input, opts);
    });

  program
    .command('check')
    .description("validate configuration, detector files and runbooks, and run the detectors' own tests")
    .addOption(configOption())
    .addOption(envOption())
    .option('--no-tests', 'skip the test cases in detector files')
    .option('-v, --verbose', 'list every detector test')
    .action((opts: { config?: string; env?: string; tests: boolean; verbose?: boolean }) => {
      process.exitCode = runCheck(opts);
    });

  program
    .command('demo')
    .description('feed a short Vault audit stream with attacks in it through a daemon and show the alerts')
    .option('--to <host:port>', "feed a running daemon's socket source instead of starting one")
    .addOption(configOption())
    .addOption(envOption())
    .option('--speed <factor>', 'play the stream faster (2 = twice as fast)', '1')
    .option('--keep', 'keep the temporary state and alert log')
    .action(async (opts) => {
      process.exitCode = await runDemo(opts);
    });

  const collect = (value: string, previous: string[] = []) => [...previous, value];
  const silence = program
    .command('silence')
    .description('silence alerts: they are still recorded and indexed, but not notified');
  silence
    .command('add')
    .description('add a time-bounded silence (at least one matcher)')
    .addOption(configOption())
    .addOption(envOption())
    .option('--detector <glob>', 'detector id (repeatable)', collect)
    .option('--identity <glob>', 'identity key, display name or entity id (repeatable)', collect)
    .option('--path <glob>', 'any alert path (repeatable)', collect)
    .option('--source-cidr <cidr>', 'any source address in this CIDR (repeatable)', collect)
    .option('--environment <name>', 'environment (repeatable)', collect)
    .option('-d, --duration <duration>', 'how long, e.g. 2h, 30m, 1d')
    .option('--until <time>', 'end time (ISO 8601) instead of --duration')
    .option('--author <name>', 'who silences (default: the current user)')
    .requiredOption('-r, --reason <text>', 'why (shown beside the silence)')
    .action((opts) => {
      process.exitCode = silenceAdd(opts);
    });
  silence
    .command('list')
    .description('list active silences')
    .addOption(configOption())
    .addOption(envOption())
    .option('--all', 'include expired and future silences')
    .option('--json', 'print as JSON')
    .action((opts) => {
      process.exitCode = silenceList(opts);
    });
  silence
    .command('expire')
    .description('end a silence now')
    .argument('<id>', 'silence id (sil-…)')
    .addOption(configOption())
    .addOption(envOption())
    .action((id: string, opts) => {
      process.exitCode = silenceExpire(id, opts);
    });

  program
    .command('simulate')
    .description(
      'generate realistic, labelled Vault audit traffic with injected attacks (for evaluation and benchmarks)',
    )
    .requiredOption(
      '-o, --out <file>',
      'audit log to write (.gz compresses); labels go to <file>.labels.json',
    )
    .option('--seed <n>', 'random seed (same seed, same bytes)', '1')
    .option('--days <n>', 'days of traffic', '21')
    .option('--identities <n>', 'identities in the population', '300')
    .option('--start <iso-date>', 'first day (default 2026-01-05, a Monday)')
    .option('--time-zone <iana>', 'time zone of human working hours', 'Europe/Berlin')
    .option('--scenarios <list>', 'attack scenarios: all, none, or a comma-separated list of kinds', 'all')
    .option('--intensity <0..1>', 'scales attack strength', '1')
    .option('--per-kind <n>', 'instances of each scenario kind')
    .option('--warmup-days <n>', 'days before any attack (alerts before are not scored)')
    .option('--flavor <vault|openbao>', 'audit entry key order and namespace style', 'vault')
    .option('--namespace <path>', 'namespace path for OpenBao-style entries')
    .option('--no-progress', 'no progress line')
    .action(async (opts) => {
      process.exitCode = await runSimulate(opts);
    });

  program
    .command('kibana')
    .description('Kibana saved objects for investigations')
    .command('import')
    .description("import Vigil's data views, saved searches and dashboard into Kibana")
    .requiredOption('--url <url>', 'Kibana base URL, e.g. http://localhost:5601')
    .option('--space <id>', 'Kibana space (default space when omitted)')
    .option('--file <ndjson>', 'saved objects file (default: the one shipped in kibana/)')
    .option('--index-prefix <prefix>', 'index prefix if not "vigil" (outputs.elasticsearch.index_prefix)')
    .option(
      '--username <user>',
      'basic auth user; the password comes from VIGIL_KIBANA_PASSWORD (or use VIGIL_KIBANA_API_KEY)',
    )
    .option('--no-overwrite', 'keep objects that already exist')
    .action(async (o) => {
      process.exitCode = await runKibanaImport(o);
    });

  program
    .command('token-ref')
    .description(
      'print the token reference Vigil shows for an audit-log value (an HMAC from `vault write sys/audit-hash/<device> input=<accessor>`)',
    )
    .argument('<value>', 'the value as it appears in the audit log, e.g. hmac-sha256:…')
    .action((value: string) => {
      console.log(tokenRef(value.trim()));
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const override = (cmd: Command): void => {
    cmd.exitOverride();
    for (const sub of cmd.commands) override(sub);
  };
  override(program);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return EXIT.OK;
      return EXIT.USAGE;
    }
    if (err instanceof UsageError) return fail(err.message, EXIT.USAGE);
    if (err instanceof ConfigError || err instanceof DetectorLoadError) return fail(err.message, EXIT.CONFIG);
    return fail((err as Error).message ?? String(err), EXIT.FAILURE);
  }
}
