import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { transitionKey, type AlertTransition } from '../../../src/alerts/alert.js';
import { AlertLogSink } from '../../../src/notify/alert-log.js';
import { makeAlert } from './helpers.js';

/** The disk under the alert log fails on demand (full), or cuts the next write in half. */
const disk = vi.hoisted(() => ({ full: false, tearNext: false }));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  return {
    ...real,
    writeSync: (fd: number, buf: Buffer | string, ...rest: unknown[]) => {
      if (disk.full) throw enospc();
      if (disk.tearNext && Buffer.isBuffer(buf)) {
        disk.tearNext = false;
        disk.full = true;
        return real.writeSync(fd, buf.subarray(0, Math.floor(buf.length / 2)));
      }
      return (real.writeSync as (...a: unknown[]) => number)(fd, buf, ...rest);
    },
  };
});

afterEach(() => {
  disk.full = false;
  disk.tearNext = false;
});

const transition = (n: number): AlertTransition => ({
  action: 'open',
  at: new Date(Date.UTC(2026, 2, 2, 10, n)).toISOString(),
  alert: makeAlert({ id: `alert-${n}`, seq: 1 }),
});

const clock = { now: Date.parse('2026-03-02T10:00:00Z') };

function sink(
  path = join(mkdtempSync(join(tmpdir(), 'vigil-alertlog-')), 'alerts.ndjson'),
  maxHeldBytes?: number,
) {
  const errors: boolean[] = [];
  const log = new AlertLogSink(path, (_err, first) => errors.push(first), {
    now: () => clock.now,
    ...(maxHeldBytes ? { maxHeldBytes } : {}),
  });
  const keys = () =>
    readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => transitionKey(JSON.parse(l) as AlertTransition));
  return { path, log, errors, keys };
}

describe('AlertLogSink on a full disk', () => {
  it('never throws from write, holds the checkpoint back with flush, and catches up in order', async () => {
    const { log, errors, keys } = sink();
    await log.write([transition(1)]);
    disk.full = true;
    await expect(log.write([transition(2)])).resolves.toBeUndefined();
    // Within the second after a failure, not tried again; after it, tried.
    await log.write([transition(3)]);
    expect(errors).toEqual([true]);
    clock.now += 1000;
    await log.write([]);
    expect(errors).toEqual([true, false]);
    expect(log.writeFault()).toMatch(/ENOSPC/);
    await expect(log.flush()).rejects.toThrow(
      /cannot be written \(ENOSPC.*\); 2 transition\(s\) wait in memory/,
    );

    disk.full = false;
    await log.write([transition(4)]);
    await log.flush();
    expect(log.writeFault()).toBeUndefined();
    expect(keys()).toEqual([1, 2, 3, 4].map((n) => transitionKey(transition(n))));
  });

  it('holds checkpoints back for ten minutes at most, and memory to a bound', async () => {
    const lineBytes = JSON.stringify(transition(1)).length + 1;
    const { log } = sink(undefined, 3 * lineBytes);
    disk.full = true;
    // Each write a second apart, so each one is retried (and fails) before the next comes.
    for (let n = 1; n < 12; n++) {
      await log.write([transition(n)]);
      clock.now += 1000;
    }
    const [, waiting, dropped] =
      /\((\d+) waiting; (\d+) dropped beyond what memory holds\)/.exec(log.writeFault() ?? '') ?? [];
    expect(Number(waiting)).toBe(3);
    expect(Number(dropped)).toBe(8);
    await expect(log.flush()).rejects.toThrow(/cannot be written/);
    clock.now += 10 * 60_000;
    await expect(log.flush()).resolves.toBeUndefined();
    await expect(log.close()).rejects.toThrow(/still cannot be written .* lost from it/);
  });

  it('starts a new line after a torn last line left by a crash', async () => {
    const first = sink();
    await first.log.write([transition(1)]);
    await first.log.close();
    appendFileSync(first.path, '{"action":"open","at":"2026-03-02T10:0');
    const second = sink(first.path);
    await second.log.write([transition(2)]);
    await second.log.close();
    const lines = readFileSync(first.path, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(3);
    expect(transitionKey(JSON.parse(lines[2]!) as AlertTransition)).toBe(transitionKey(transition(2)));
  });

  it('finishes a line the disk cut short instead of writing it again', async () => {
    const { log, keys } = sink();
    disk.tearNext = true;
    await log.write([transition(1), transition(2)]);
    expect(log.writeFault()).toMatch(/ENOSPC/);
    disk.full = false;
    await log.write([transition(3)]);
    await log.close();
    expect(keys()).toEqual([1, 2, 3].map((n) => transitionKey(transition(n))));
  });
});
