import { mkdtempSync, readFileSync } from 'node:fs';
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

function sink() {
  const path = join(mkdtempSync(join(tmpdir(), 'vigil-alertlog-')), 'alerts.ndjson');
  const errors: boolean[] = [];
  const log = new AlertLogSink(path, (_err, first) => errors.push(first));
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
    await log.write([transition(3)]);
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
