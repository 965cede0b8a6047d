import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createPipeline, loadConfiguredDetectors } from '../../src/core.js';
import { NullDeadLetterSink } from '../../src/ingest/dead-letter.js';
import type { BatchHandler, RawRecord, Source, SourcePosition } from '../../src/ingest/source.js';
import { AlertLogSink } from '../../src/notify/alert-log.js';
import { silentLogger } from '../../src/ops/logger.js';
import { Runner } from '../../src/runner.js';
import { FileJournal } from '../../src/store/journal.js';
import { StateStore } from '../../src/store/state-store.js';

/** A source the test feeds by hand; positions are line numbers, as a file source's would be. */
class ManualSource implements Source {
  readonly name = 'manual';
  readonly finished = new Promise<void>(() => {});
  handler: BatchHandler | undefined;
  resumedFrom: SourcePosition;
  async start(handler: BatchHandler, resumeFrom?: SourcePosition): Promise<void> {
    this.handler = handler;
    this.resumedFrom = resumeFrom;
  }
  async commit(): Promise<void> {}
  async stop(): Promise<void> {}
  isReady(): boolean {
    return true;
  }
  deliver(records: RawRecord[], position: number): Promise<void> {
    return (this.handler as BatchHandler)({ source: this.name, records, position });
  }
}

const { config } = loadConfig({ environment: 'development' });
const detectors = loadConfiguredDetectors(config);
const lines = readFileSync(new URL('../fixtures/audit/vault-1.18.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter(Boolean);
const raft = lines
  .filter((l) => l.includes('"sys/storage/raft/snapshot"'))
  .map((l, i) => ({ line: Buffer.from(l), origin: `t:${i}` }));

function runner(dir: string) {
  const source = new ManualSource();
  const alertLog = new AlertLogSink(join(dir, 'alerts.ndjson'));
  const r = new Runner({
    pipeline: createPipeline(config, detectors),
    sources: [source],
    sinks: [alertLog],
    deadLetter: new NullDeadLetterSink(),
    journal: new FileJournal(join(dir, 'state')),
    state: new StateStore(join(dir, 'state')),
    logger: silentLogger(),
  });
  return { r, source };
}

const opens = (dir: string) =>
  readFileSync(join(dir, 'alerts.ndjson'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"action":"open"')).length;

describe('runner recovery', () => {
  it('does not emit a transition twice when a checkpoint comes before the replay regenerates it', async () => {
    expect(raft).toHaveLength(2);
    const dir = mkdtempSync(join(tmpdir(), 'vigil-runner-'));
    // Run 1: the alert is journalled and written, then the process dies without a checkpoint.
    const first = runner(dir);
    await first.r.start();
    await first.source.deliver(raft, 2);
    expect(opens(dir)).toBe(1);

    // Run 2: restored from nothing, it checkpoints before the source re-delivers the same lines.
    const second = runner(dir);
    await second.r.start();
    expect(second.source.resumedFrom).toBeUndefined();
    await second.r.checkpoint();
    await second.source.deliver(raft, 2);
    await second.r.checkpoint();
    expect(opens(dir)).toBe(1);

    // Once regenerated, the recovered transition is no longer carried over.
    const third = runner(dir);
    await third.r.start();
    expect(third.source.resumedFrom).toBe(2);
  });
});

describe('runner idle time', () => {
  it('counts a fresh start as activity, so the idle clock waits for the sources to deliver', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-runner-'));
    const { r, source } = runner(dir);
    const before = Date.now();
    await r.start();
    // Nothing delivered yet: a clock job must not treat the time since the epoch as idleness.
    expect(r.lastStep).toBeGreaterThanOrEqual(before);
    const started = r.lastStep;
    await new Promise((resolve) => setTimeout(resolve, 5));
    await source.deliver(raft, 2);
    expect(r.lastStep).toBeGreaterThan(started);
  });
});
