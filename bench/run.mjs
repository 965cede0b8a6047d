#!/usr/bin/env node
// npm run bench — Vigil's benchmarks. Prints figures; asserts nothing about time.
//
//   1. replay throughput on a generated audit log (≥ 1 M lines): bare JSON.parse, parse + pairing,
//      and the whole pipeline with every default detector; peak RSS of each (separate processes)
//   2. state bytes per identity with 100,000 identities
//   3. daemon detection latency: line written to the socket → alert written, at a sustained rate
//   4. resident memory over a long run (10 M events) once identities stop growing
//   5. Kafka end to end (bench/kafka.mjs) when a broker is reachable
//
// Options (environment): BENCH_ONLY=1,2,3,4,5 (subset), BENCH_LINES (target lines, 1,000,000),
// BENCH_RATE (daemon lines/s, 20,000), BENCH_SECONDS (daemon run, 30), BENCH_LONG_EVENTS (10,000,000).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const only = new Set((process.env.BENCH_ONLY ?? '1,2,3,4,5').split(',').map((s) => s.trim()));
const dir = join(ROOT, 'var', 'bench');
mkdirSync(dir, { recursive: true });

const child = (script, args = [], env = {}) => {
  const r = spawnSync(
    process.execPath,
    ['--max-old-space-size=4096', '--expose-gc', join(ROOT, 'bench', script), ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (r.status !== 0) throw new Error(`${script} ${args.join(' ')} failed (exit ${r.status})`);
  return JSON.parse(r.stdout.toString().trim().split('\n').pop());
};
const fmt = (n) => Math.round(n).toLocaleString('en');
const mib = (b) => `${(b / 1048576).toFixed(0)} MiB`;

console.log(`Vigil benchmarks — node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`);

if (only.has('1')) {
  const target = Number(process.env.BENCH_LINES ?? 1_000_000);
  const log = join(dir, `sim-${target}.jsonl`);
  if (!existsSync(log)) {
    const made = child('generate.mjs', [log, String(target)]);
    console.log(
      `\ngenerated ${fmt(made.lines)} lines (${mib(made.bytes)}) in ${(made.ms / 1000).toFixed(1)} s → ${log}`,
    );
  }
  console.log(`\n1. Replay throughput — ${log} (${mib(statSync(log).size)})`);
  // The machine's speed drifts between runs (shared virtual CPUs), so the modes run in turns, in
  // rounds; each figure is the median over rounds, and so is the ratio of runs taken side by side.
  const modes = ['json', 'parse', 'pipeline', 'inline'];
  const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
  const runs = Object.fromEntries(modes.map((m) => [m, []]));
  const ratios = [];
  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) runs[mode].push(child('throughput.mjs', [mode, log]));
    ratios.push(runs.pipeline[round].linesPerSec / runs.json[round].linesPerSec);
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const medianRun = (mode) => {
    const m = median(runs[mode].map((r) => r.linesPerSec));
    return runs[mode].reduce((a, b) => (Math.abs(b.linesPerSec - m) < Math.abs(a.linesPerSec - m) ? b : a));
  };
  const base = median(runs.json.map((r) => r.linesPerSec));
  console.log(`   ${rounds} rounds, median of each; CPU is user + system over all threads`);
  console.log('   mode                              lines/s   vs JSON.parse   peak RSS   CPU s / wall s');
  const label = {
    json: 'bare JSON.parse',
    parse: 'parse + pair (no detectors)',
    pipeline: 'whole pipeline, all detectors',
    inline: '  same, without the parse worker',
  };
  for (const mode of modes) {
    const r = medianRun(mode);
    console.log(
      `   ${label[mode].padEnd(33)} ${fmt(r.linesPerSec).padStart(8)}   ${(r.linesPerSec / base).toFixed(2).padStart(6)}         ${mib(r.maxRssBytes).padStart(7)}   ${r.cpuSeconds.toFixed(1)} / ${r.seconds.toFixed(1)}`,
    );
  }
  console.log(
    `   pipeline ÷ JSON.parse, run side by side: ${ratios.map((x) => x.toFixed(2)).join(', ')} → median ${median(ratios).toFixed(2)}`,
  );
  const p = medianRun('pipeline');
  console.log(`   pipeline: ${fmt(p.lines)} lines, ${fmt(p.events)} accesses, ${p.alerts} alerts opened`);
}

if (only.has('2')) {
  const r = child('state-size.mjs', ['100000']);
  console.log(
    `\n2. State per identity — ${fmt(r.identities)} identities, ${fmt(r.events)} events, ${r.detectors} detectors`,
  );
  console.log(
    `   checkpoint: ${mib(r.checkpointBytes)} → ${fmt(r.checkpointBytes / r.identities)} bytes per identity`,
  );
  console.log(
    `   heap:       ${mib(r.heapBytes)} → ${fmt(r.heapBytes / r.identities)} bytes per identity (after GC)`,
  );
  console.log(
    `   groups held: ${Object.entries(r.groups)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(', ')}`,
  );
}

if (only.has('3')) {
  const rate = Number(process.env.BENCH_RATE ?? 20_000);
  const seconds = Number(process.env.BENCH_SECONDS ?? 30);
  const r = child('latency.mjs', [String(rate), String(seconds)]);
  console.log(
    `\n3. Daemon detection latency — socket → alert written, ${fmt(r.sentLines)} lines in ${r.seconds.toFixed(1)} s (${fmt(r.achievedRate)} lines/s sustained, target ${fmt(rate)})`,
  );
  console.log(
    `   ${r.samples} probes: p50 ${r.p50.toFixed(1)} ms, p90 ${r.p90.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms; ${r.missing} not alerted`,
  );
  console.log(`   daemon processed ${fmt(r.processedLines)} lines; peak RSS ${mib(r.maxRssBytes)}`);
}

if (only.has('4')) {
  const events = Number(process.env.BENCH_LONG_EVENTS ?? 10_000_000);
  const r = child('long-run.mjs', [String(events)]);
  console.log(
    `\n4. Memory over a long run — ${fmt(r.events)} accesses (${fmt(r.lines)} lines), ${fmt(r.identities)} identities, ${r.seconds.toFixed(0)} s (${fmt(r.lines / r.seconds)} lines/s)`,
  );
  console.log('   progress   RSS        heap used');
  for (const s of r.samples)
    console.log(`   ${String(s.pct).padStart(5)} %   ${mib(s.rss).padStart(8)}   ${mib(s.heap).padStart(8)}`);
}

if (only.has('5')) {
  console.log('\n5. Kafka end to end (bench/kafka.mjs)');
  const r = spawnSync(process.execPath, [join(ROOT, 'bench', 'kafka.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) console.log('   skipped: no reachable broker (start one with scripts/services/up.sh)');
}
