import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

/** The compiled `vigil` command (tests run after `npm run build`). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'dist/cli/bin.js');

export interface DaemonProcess {
  child: ChildProcess;
  /** Everything it wrote on stdout and stderr so far. */
  output(): string;
  exited: Promise<number | null>;
}

const running: ChildProcess[] = [];

/** Start `vigil run --config <file>` as a user would. */
export function startDaemon(configPath: string, env: NodeJS.ProcessEnv = {}): DaemonProcess {
  let out = '';
  const child = spawn(process.execPath, [BIN, 'run', '--config', configPath], {
    env: { ...process.env, VIGIL_ENV: 'development', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  running.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Kill every daemon a test left running (afterEach). */
export function killAll(): void {
  for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** Write a configuration file (YAML) and return its path. */
export function writeConfig(path: string, config: Record<string, unknown>): string {
  writeFileSync(path, stringify(config));
  return path;
}

/**
 * Wait until the daemon says it is running; if it does not, the error carries its exit status and the
 * end of its output, so a start that failed after a crash explains itself.
 */
export async function waitForStart(d: DaemonProcess, timeoutMs = 60_000): Promise<void> {
  try {
    await waitFor(
      'the daemon to start',
      () =>
        d.output().includes('vigil is running') || d.child.exitCode !== null || d.child.signalCode !== null,
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; its output ends:\n${d.output().slice(-4000)}`);
  }
  if (!d.output().includes('vigil is running'))
    throw new Error(
      `the daemon exited (${d.child.exitCode ?? d.child.signalCode}) before it started; its output ends:\n${d.output().slice(-4000)}`,
    );
}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface TransitionLine {
  action: 'open' | 'update' | 'resolve';
  at: string;
  alert: {
    id: string;
    detector: string;
    seq: number;
    fingerprint: string;
    silencedBy?: string;
    inhibitedBy?: string;
  };
}

export function readTransitions(path: string): TransitionLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TransitionLine);
}

/** GET a path of the daemon's HTTP endpoint; undefined when it does not answer. */
export async function httpGet(
  port: number,
  path: string,
): Promise<{ status: number; body: string } | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: r.status, body: await r.text() };
  } catch {
    return undefined;
  }
}

/** Sum of a Prometheus counter over the label sets matching `labels` (a regex on the label text). */
export function metricSum(text: string, name: string, labels = /.*/): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line);
    if (m && m[1] === name && labels.test(m[2] ?? '')) sum += Number(m[3]);
  }
  return sum;
}

export const freePort = (): number => 20000 + Math.floor(Math.random() * 25000);
