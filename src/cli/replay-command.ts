import { loadConfig } from '../config/load.js';
import type { ReplayProgress } from '../ingest/replay-file.js';
import { replay, type ReplaySummary } from '../replay.js';
import { EXIT, fail } from './exit.js';

export interface ReplayCommandOptions {
  config?: string;
  env?: string;
  alertsOut?: string;
  append?: boolean;
  stateDir?: string;
  deadLetter?: string;
  print?: boolean;
  json?: boolean;
  progress?: boolean;
}

export async function runReplay(input: string, opts: ReplayCommandOptions): Promise<number> {
  const { config } = loadConfig({ file: opts.config, environment: opts.env });
  const showProgress = opts.progress !== false && Boolean(process.stderr.isTTY) && !opts.print;
  const progress = showProgress ? progressPrinter() : undefined;
  let summary: ReplaySummary;
  try {
    summary = await replay({
      config,
      input,
      ...(opts.alertsOut ? { alertsOut: opts.alertsOut } : {}),
      ...(opts.append ? { append: true } : {}),
      ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
      ...(opts.deadLetter ? { deadLetterOut: opts.deadLetter } : {}),
      ...(opts.print ? { print: true } : {}),
      ...(progress ? { onProgress: progress.update } : {}),
    });
  } catch (err) {
    progress?.clear();
    return fail((err as Error).message.split('\n')[0] ?? 'replay failed', EXIT.FAILURE);
  }
  progress?.clear();
  if (opts.json) console.log(JSON.stringify(summary, null, 2));
  else console.log(formatSummary(summary));
  return EXIT.OK;
}

function progressPrinter() {
  let last = 0;
  const started = Date.now();
  return {
    update(p: ReplayProgress) {
      const now = Date.now();
      if (!p.done && now - last < 200) return;
      last = now;
      const secs = Math.max((now - started) / 1000, 0.001);
      const pct = p.totalBytes ? ` ${((100 * p.bytesRead) / p.totalBytes).toFixed(1)}%` : '';
      const mb = (p.bytesRead / 1048576).toFixed(1);
      process.stderr.write(
        `\r\x1b[K  replaying… ${mb} MiB${pct}  ${p.records.toLocaleString('en')} lines  ${Math.round(p.records / secs).toLocaleString('en')} lines/s`,
      );
    },
    clear() {
      process.stderr.write('\r\x1b[K');
    },
  };
}

export function formatSummary(s: ReplaySummary): string {
  const c = s.counters;
  const lines = [
    `Replayed ${c.lines.toLocaleString('en')} lines in ${(s.elapsedMs / 1000).toFixed(2)} s` +
      ` (${Math.round(c.lines / Math.max(s.elapsedMs / 1000, 0.001)).toLocaleString('en')} lines/s)` +
      (s.lastEventAt ? `, event time up to ${s.lastEventAt}` : ''),
    `  accesses ${c.events.toLocaleString('en')} (paired ${s.pairs.pairs}, request only ${s.pairs.requestOnly}, response only ${s.pairs.responseOnly}, duplicates ${s.pairs.duplicates})`,
    `  malformed ${c.deadLettered} dead-lettered, ${c.ignored} ignored entries (not request/response)`,
    `  alerts opened ${c.opened}, updated ${c.updated}, resolved ${c.resolved}; ${s.openAlerts} still open at the end`,
  ];
  for (const [reason, n] of Object.entries(s.deadLetterReasons)) lines.push(`    ${n} × ${reason}`);
  const ids = Object.keys(s.detectors).sort();
  if (ids.length > 0) {
    const width = Math.max(...ids.map((i) => i.length), 8);
    lines.push('', `  ${'detector'.padEnd(width)}  signals  opened  updated  resolved`);
    for (const id of ids) {
      const d = s.detectors[id]!;
      lines.push(
        `  ${id.padEnd(width)}  ${String(d.signals).padStart(7)}  ${String(d.opened).padStart(6)}  ${String(d.updated).padStart(7)}  ${String(d.resolved).padStart(8)}`,
      );
    }
  } else {
    lines.push('', '  no detector signalled');
  }
  return lines.join('\n');
}
