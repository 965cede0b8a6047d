import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BatchHandler, RecordBatch } from '../../../src/ingest/source.js';

/** Poll `cond` until true; fails with `what` after a generous timeout. Never a fixed sleep. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what = 'condition',
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Let pending I/O callbacks and microtasks run (for "has not happened" checks). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

export interface Collector {
  batches: RecordBatch[];
  handler: BatchHandler;
  lines(): string[];
  /** Highest number of handler calls running at once (must stay 1). */
  maxConcurrent(): number;
}

/** Records every batch; `gate`, when given, is awaited inside each handler call (a slow pipeline). */
export function collect(gate?: () => Promise<void>): Collector {
  const batches: RecordBatch[] = [];
  let running = 0;
  let maxRunning = 0;
  return {
    batches,
    handler: async (batch) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      try {
        if (gate) await gate();
        batches.push(batch);
      } finally {
        running--;
      }
    },
    lines: () => batches.flatMap((b) => b.records.map((r) => r.line.toString('utf8'))),
    maxConcurrent: () => maxRunning,
  };
}

/** A gate that holds handler calls until opened. */
export function gate(): {
  wait: () => Promise<void>;
  open: () => void;
  close: () => void;
  waiting: () => number;
} {
  let openNow = false;
  let waiters: Array<() => void> = [];
  return {
    wait: () =>
      openNow
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            waiters.push(resolve);
          }),
    open: () => {
      openNow = true;
      const w = waiters;
      waiters = [];
      for (const resolve of w) resolve();
    },
    close: () => {
      openNow = false;
    },
    waiting: () => waiters.length,
  };
}

export async function makeTempDir(
  prefix = 'vigil-ingest-',
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
