import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/load.js';
import { Daemon } from '../daemon.js';
import { demoSteps } from '../demo/stream.js';
import type { SocketSource } from '../ingest/socket.js';
import { createLogger } from '../ops/logger.js';
import { EXIT, UsageError } from './exit.js';

export interface DemoOptions {
  to?: string;
  config?: string;
  env?: string;
  speed?: string;
  keep?: boolean;
}

/**
 * `vigil demo`: feed a short realistic stream with attacks through the daemon. With `--to host:port`
 * it feeds a running daemon's socket source; otherwise it starts a daemon of its own (temporary
 * state, console output) and shows its alerts.
 */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const speed = Number(opts.speed ?? '1');
  if (!(speed > 0 && speed <= 100)) throw new UsageError('--speed must be a number between 0 and 100');
  if (opts.to) {
    const [host, port] = parseHostPort(opts.to);
    console.error(
      `vigil demo: sending a Vault audit stream to ${host}:${port} (watch the daemon's console or alert log)`,
    );
    await feed(host, port, speed);
    console.error('vigil demo: done');
    return EXIT.OK;
  }

  const dir = mkdtempSync(join(tmpdir(), 'vigil-demo-'));
  const base = loadConfig({
    ...(opts.config ? { file: opts.config } : {}),
    ...(opts.env ? { environment: opts.env } : {}),
  }).config;
  const config = {
    ...base,
    state: { ...base.state, dir: join(dir, 'state') },
    sources: {
      ...base.sources,
      file: { ...base.sources.file, enabled: false },
      socket: { ...base.sources.socket, enabled: true, host: '127.0.0.1', port: 0 },
      kafka: { ...base.sources.kafka, enabled: false },
      stdin: { enabled: false },
    },
    dead_letter: { ...base.dead_letter, path: join(dir, 'dead-letter.ndjson') },
    outputs: {
      ...base.outputs,
      alert_log: { ...base.outputs.alert_log, path: join(dir, 'alerts.ndjson') },
      console: 'always' as const,
    },
    http: { ...base.http, enabled: false },
    log: { ...base.log, level: 'warn' as const },
  };
  const logger = createLogger({ level: 'warn', pretty: Boolean(process.stderr.isTTY) });
  const daemon = new Daemon({ config, logger });
  await daemon.start();
  const socket = daemon.sources.find((s) => s.name === 'socket') as SocketSource;
  const { port } = socket.address();
  console.error(
    `vigil demo: a daemon is listening on 127.0.0.1:${port}; sending ~35 s of Vault audit traffic with attacks in it\n`,
  );
  await feed('127.0.0.1', port, speed);
  // Let the last lines through the pipeline and the console.
  await new Promise((r) => setTimeout(r, 1500));
  await daemon.stop();
  const transitions = readFileSync(config.outputs.alert_log.path, 'utf8').split('\n').filter(Boolean);
  const opened = transitions.filter((l) => (JSON.parse(l) as { action: string }).action === 'open').length;
  console.error(
    `\nvigil demo: ${opened} alerts opened; every transition is in ${config.outputs.alert_log.path}`,
  );
  if (!opts.keep) {
    console.error('(temporary files are removed; run with --keep to look at them)');
    rmSync(dir, { recursive: true, force: true });
  }
  return EXIT.OK;
}

async function feed(host: string, port: number, speed: number): Promise<void> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect({ host, port }, () => resolve(s));
    s.once('error', (err) => reject(new Error(`cannot connect to ${host}:${port}: ${err.message}`)));
  });
  const start = Date.now();
  for (const step of demoSteps(start)) {
    const wait = start + step.at / speed - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (step.label) console.error(`  → ${step.label}`);
    const ok = socket.write(step.lines.join('\n') + '\n');
    if (!ok) await new Promise((r) => socket.once('drain', r));
  }
  await new Promise<void>((resolve) => socket.end(() => resolve()));
}

function parseHostPort(text: string): [string, number] {
  const m = /^(.+):(\d+)$/.exec(text);
  if (!m) throw new UsageError(`--to expects host:port, got "${text}"`);
  return [m[1] as string, Number(m[2])];
}
