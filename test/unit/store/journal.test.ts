import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { transitionKey, type AlertTransition } from '../../../src/alerts/alert.js';
import { FileJournal, type JournalFault } from '../../../src/store/journal.js';
import { makeAlert } from '../notify/helpers.js';

/**
 * The disk under the journal fails on demand: `failWrites` makes every write throw ENOSPC; `tearNext`
 * lets the next write put half its bytes down and then throws, as a filling disk does.
 */
const disk = vi.hoisted(() => ({ failWrites: false, tearNext: false, failTruncate: false }));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  return {
    ...real,
    writeSync: (fd: number, buf: Buffer, offset: number, length: number, position: number) => {
      if (disk.failWrites) throw enospc();
      if (disk.tearNext) {
        disk.tearNext = false;
        real.writeSync(fd, buf, offset, Math.floor(length / 2), position);
        throw enospc();
      }
      return real.writeSync(fd, buf, offset, length, position);
    },
    ftruncateSync: (fd: number, len?: number) => {
      if (disk.failTruncate) throw enospc();
      real.ftruncateSync(fd, len);
    },
  };
});

afterEach(() => {
  disk.failWrites = false;
  disk.tearNext = false;
  disk.failTruncate = false;
});

const transition = (n: number): AlertTransition => ({
  action: n % 2 ? 'open' : 'update',
  at: new Date(Date.UTC(2026, 2, 2, 10, n)).toISOString(),
  alert: makeAlert({ id: `alert-${n}`, seq: n }),
});

/** The journal's clock: while the disk refuses, it tries again at most once a second. */
const clock = { now: Date.parse('2026-03-02T10:00:00Z') };
const later = () => (clock.now += 1000);

function journal() {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-journal-'));
  const failures: boolean[] = [];
  const recovered: JournalFault[] = [];
  const j = new FileJournal(
    dir,
    (_err, first) => failures.push(first),
    (f) => recovered.push(f),
    () => clock.now,
  );
  return { dir, j, failures, recovered };
}

const keys = (ts: AlertTransition[]) => ts.map(transitionKey);

describe('FileJournal on a failing disk', () => {
  it('keeps transitions in memory while writes fail and writes them, in order, once they succeed', () => {
    const { dir, j, failures, recovered } = journal();
    j.append([transition(1)]);
    disk.failWrites = true;
    expect(() => j.append([transition(2), transition(3)])).not.toThrow();
    // Not tried again within the second ...
    j.append([transition(4)]);
    expect(failures).toEqual([true]);
    // ... but after it.
    later();
    j.append([transition(5)]);
    // Known for deduplication all the same, and reported as a fault.
    expect(j.has(transitionKey(transition(3)))).toBe(true);
    expect(j.fault()).toMatchObject({ error: expect.stringMatching(/^ENOSPC/), unsaved: 4 });
    expect(failures).toEqual([true, false]);

    disk.failWrites = false;
    later();
    j.append([transition(6)]);
    expect(j.fault()).toBeUndefined();
    expect(recovered).toHaveLength(1);
    expect(recovered[0]?.unsaved).toBe(5);
    // A restarted daemon reads all six back, in order.
    j.close();
    expect(keys(new FileJournal(dir).since(0))).toEqual(keys([1, 2, 3, 4, 5, 6].map(transition)));
  });

  it('leaves no torn bytes behind a write that failed half-way', () => {
    const { dir, j } = journal();
    j.append([transition(1)]);
    disk.tearNext = true;
    j.append([transition(2), transition(3)]);
    expect(j.fault()?.unsaved).toBe(2);
    // The file now ends in half a record ...
    expect(readFileSync(join(dir, 'journal.ndjson'), 'utf8').endsWith('\n')).toBe(false);
    // ... which the next successful write replaces.
    later();
    j.append([transition(4)]);
    j.close();
    const text = readFileSync(join(dir, 'journal.ndjson'), 'utf8');
    expect(text.trimEnd().split('\n')).toHaveLength(4);
    expect(keys(new FileJournal(dir).since(0))).toEqual(keys([1, 2, 3, 4].map(transition)));
  });

  it('a compaction that cannot empty the file empties it at the next write that can', () => {
    const { dir, j } = journal();
    j.append([transition(1), transition(2)]);
    disk.failTruncate = true;
    disk.failWrites = true;
    j.compact([transition(3)]);
    // Forgotten at once: the checkpoint covers them.
    expect(j.has(transitionKey(transition(1)))).toBe(false);
    expect(j.has(transitionKey(transition(3)))).toBe(true);
    disk.failTruncate = false;
    disk.failWrites = false;
    later();
    j.append([transition(4)]);
    j.close();
    expect(keys(new FileJournal(dir).since(0))).toEqual(keys([3, 4].map(transition)));
  });
});
