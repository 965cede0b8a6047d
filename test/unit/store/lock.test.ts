import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatOwner, parseOwner, StateLock, type ProcessTable } from '../../../src/store/lock.js';

let dir: string;
const children: ChildProcess[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-lock-'));
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A process table where pid 4242 runs, started at tick 900, on boot "boot-b". */
const table: ProcessTable = {
  alive: (pid) => pid === 4242 || pid === process.pid,
  bootId: () => 'boot-b',
  startTime: (pid) => (pid === 4242 ? '900' : pid === process.pid ? '100' : undefined),
};

function leftBy(owner: string): void {
  writeFileSync(join(dir, 'vigil.lock'), `${owner}\n`);
}

describe('StateLock', () => {
  it('refuses a directory whose owner still runs, and says which process holds it', () => {
    leftBy('4242 boot-b 900');
    expect(() => new StateLock(dir, table).acquire()).toThrow(/in use by process 4242/);
  });

  it('takes over a lock whose pid now belongs to another process (reused after a crash)', () => {
    leftBy('4242 boot-b 350');
    const lock = new StateLock(dir, table);
    lock.acquire();
    expect(parseOwner(readFileSync(lock.path, 'utf8'))).toEqual({
      pid: process.pid,
      boot: 'boot-b',
      started: '100',
    });
  });

  it('takes over a lock written before a reboot, whatever runs under that pid now', () => {
    leftBy('4242 boot-a 900');
    expect(() => new StateLock(dir, table).acquire()).not.toThrow();
  });

  it('takes over a lock whose pid is gone, and judges a lock of an older Vigil (pid only) by its pid', () => {
    leftBy('777 boot-b 900');
    expect(() => new StateLock(dir, table).acquire()).not.toThrow();
    rmSync(join(dir, 'vigil.lock'));
    leftBy('4242');
    expect(() => new StateLock(dir, table).acquire()).toThrow(/in use by process 4242/);
  });

  it('removes its own lock on release, and leaves one that another process has taken since', () => {
    const lock = new StateLock(dir, table);
    lock.acquire();
    lock.release();
    expect(existsSync(lock.path)).toBe(false);
    lock.acquire();
    leftBy('4242 boot-b 900');
    lock.release();
    expect(readFileSync(lock.path, 'utf8')).toBe('4242 boot-b 900\n');
  });

  // Linux only (CI runs Linux): elsewhere there is no /proc, and the pid alone decides (tested above).
  it.skipIf(!existsSync('/proc/self/stat'))(
    'reads boot id and start times from this Linux host: a live process holds, its stale twin does not',
    async () => {
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
      children.push(child);
      await new Promise((r) => child.once('spawn', r));
      const pid = child.pid as number;
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const started = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string;
      expect(started).toMatch(/^\d+$/);

      leftBy(formatOwner({ pid, boot, started }));
      expect(() => new StateLock(dir).acquire()).toThrow(new RegExp(`in use by process ${pid}`));
      leftBy(formatOwner({ pid, boot, started: String(Number(started) + 1) }));
      const lock = new StateLock(dir);
      lock.acquire();
      expect(parseOwner(readFileSync(lock.path, 'utf8'))?.pid).toBe(process.pid);
      lock.release();
    },
  );

  it('leaves no temporary files behind, and treats an empty lock (a crash while writing) as stale', () => {
    leftBy('');
    const lock = new StateLock(dir, table);
    lock.acquire();
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('parses what it writes, and rejects garbage', () => {
    expect(parseOwner(formatOwner({ pid: 12, boot: 'b', started: '5' }))).toEqual({
      pid: 12,
      boot: 'b',
      started: '5',
    });
    expect(parseOwner(formatOwner({ pid: 12 }))).toEqual({ pid: 12 });
    expect(parseOwner('')).toBeUndefined();
    expect(parseOwner('not-a-pid')).toBeUndefined();
    expect(parseOwner('-3')).toBeUndefined();
  });
});
