#!/usr/bin/env node
// Detection-quality evaluation: simulate a labelled Vault audit log (cached under var/eval/),
// replay it through Vigil in-process with the default configuration, and score the alerts.
//
//   npm run build && node scripts/eval.mjs [--seed 1] [--days 21] [--identities 300]
//                                          [--intensity 1] [--scenarios all|none|kind,kind]
//                                          [--per-kind 4] [--fresh] [--json]
//
// Detection only ever sees the audit file; the labels are read after the replay, for scoring.
import { parseArgs } from 'node:util';
import { formatReport, runEvaluation } from '../dist/simulate/evaluate.js';
import { parseScenarioList } from '../dist/simulate/generate.js';

const usage = `usage: node scripts/eval.mjs [--seed N] [--days N] [--identities N] [--intensity 0..1]
                         [--scenarios all|none|kind,...] [--per-kind N] [--fresh] [--json]`;

let args;
try {
  args = parseArgs({
    options: {
      seed: { type: 'string' },
      days: { type: 'string' },
      identities: { type: 'string' },
      intensity: { type: 'string' },
      scenarios: { type: 'string' },
      'per-kind': { type: 'string' },
      fresh: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }).values;
} catch (err) {
  console.error(`eval: ${err.message}\n${usage}`);
  process.exit(2);
}
if (args.help) {
  console.log(usage);
  process.exit(0);
}

const num = (name) => {
  const v = args[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) {
    console.error(`eval: --${name} "${v}" is not a number`);
    process.exit(2);
  }
  return n;
};

const tty = process.stderr.isTTY;
const log = (line) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`);
let lastProgress = 0;
const progress = (text) => {
  if (!tty) return;
  const now = Date.now();
  if (now - lastProgress < 250) return;
  lastProgress = now;
  process.stderr.write(`\r\x1b[K  ${text}`);
};

try {
  const options = {
    seed: num('seed'),
    days: num('days'),
    identities: num('identities'),
    intensity: num('intensity'),
    perKind: num('per-kind'),
    fresh: args.fresh,
    log,
    onGenerateProgress: (p) =>
      progress(
        `simulated up to ${new Date(p.simulatedUntil).toISOString().slice(0, 13)}h, ${p.lines.toLocaleString('en')} lines`,
      ),
    onReplayProgress: (p) =>
      progress(
        `replayed ${p.records.toLocaleString('en')} lines` +
          (p.totalBytes ? ` (${((100 * p.bytesRead) / p.totalBytes).toFixed(0)} %)` : ''),
      ),
  };
  if (args.scenarios !== undefined) options.scenarios = parseScenarioList(args.scenarios);
  for (const k of Object.keys(options)) if (options[k] === undefined) delete options[k];
  const { report } = await runEvaluation(options);
  if (tty) process.stderr.write('\r\x1b[K');
  if (args.json) console.log(JSON.stringify(report, null, 2));
  else console.log(formatReport(report));
} catch (err) {
  if (tty) process.stderr.write('\r\x1b[K');
  console.error(`eval: ${err.stack ?? err.message}`);
  process.exit(1);
}
