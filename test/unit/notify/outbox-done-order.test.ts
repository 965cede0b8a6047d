import { afterEach, beforeEach, expect, it, vi } from 'vitest';

// The outbox appends with `open(path, 'a')`. This file wraps it so a test can hold the next append
// open for as long as it likes: a slow disk, or a crash before the write lands.
const hold = vi.hoisted(() => ({
  armed: false,
  held: false,
  release: (): void => {},
}));
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof fs.open = async (...args: Parameters<typeof fs.open>) => {
    if (hold.armed && args[1] === 'a') {
      hold.armed = false;
      hold.held = true;
      await new Promise<void>((resolve) => (hold.release = resolve));
      hold.held = false;
    }
    return fs.open(...args);
  };
  return { ...fs, default: { ...fs, open }, open };
});

const { Outbox } = await import('../../../src/notify/outbox.js');
const { makeAlert, notify, ScriptedReceiver, settle, tempDir, waitFor } = await import('./helpers.js');

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  hold.release();
  await cleanup();
});

it("does not send an alert's next transition until the previous delivery is on disk as done", async () => {
  // If the resolve went out first and the daemon died before the trigger's `done` record landed, the
  // restart would resend the trigger after its resolve, and PagerDuty would open a second incident.
  const alert = makeAlert({ id: 'alert-A', fingerprint: 'det:aaaaaaaaaaaaaaaa' });
  const trigger = notify({ ...alert, seq: 1 }, 'opened', { receiver: 'r' });
  const resolve = notify({ ...alert, seq: 2, status: 'resolved' }, 'resolved', { receiver: 'r' });
  const r = new ScriptedReceiver('r', (n) => {
    // The next append after this delivery is its `done` record: hold it.
    if (n.key === trigger.key) hold.armed = true;
    return { status: 'delivered' };
  });
  // Several sends per receiver at once, so the only thing holding the resolve back is the record.
  const o = new Outbox({ dir, backoffBaseMs: 2, backoffCapMs: 20, idleWakeMs: 5, concurrencyPerReceiver: 4 });
  o.register(r);
  await o.enqueue([trigger, resolve]);
  o.start();
  try {
    await waitFor(() => hold.held, "the trigger's done record is being written");
    // Many idle wake-ups pass while the record is held; none of them may send the resolve.
    await settle(150);
    expect(r.attempts).toEqual([trigger.key]);

    hold.release();
    await waitFor(() => o.stats().delivered === 2, 'both delivered once the record is on disk');
    expect(r.delivered).toEqual([trigger.key, resolve.key]);
  } finally {
    hold.release(); // else stop() would wait on the held write for ever
    await o.stop();
  }
});
