/**
 * SIGKILL the daemon (a separate process: support/kafka-daemon.mjs, built from dist/) in the
 * middle of a Kafka stream, restart it on the same state directory, and check that nothing was
 * lost or counted twice and that every alert was opened exactly once.
 *
 * "Counted once" is checked on the pipeline's own counters in the final checkpoint: the state
 * restored after the crash is the last checkpoint, and the source resumes at that checkpoint's
 * positions, so lines/entries/events must equal exactly what was produced.
 *
 * The kill is timed to land after an alert transition that no checkpoint covers yet (the daemon
 * reports the wall-clock time of its last transition and of its last checkpoint), which is the
 * case where the restarted pipeline regenerates a transition the outputs already have. The
 * restarted member first waits for the group to drop the killed one (session timeout, 10 s here)
 * while periodic checkpoints keep running. Duration: about 25-35 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  accessStream,
  caughtUp,
  createTopics,
  deleteCreatedTopics,
  highWatermarks,
  kafkaClient,
  messagesOf,
  opensByFingerprint,
  produce,
  producerOf,
  readAlertLog,
  readCheckpoint,
  readStatus,
  tempDir,
  unique,
  waitFor,
  writeTestConfig,
} from './support/kafka-helpers.js';
import { requireKafka } from './support/services.js';

const brokers = requireKafka();
const DAEMON = fileURLToPath(new URL('./support/kafka-daemon.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/ingest/kafka.js', import.meta.url));

function spawnDaemon(configFile: string, statusFile: string, logFile: string): ChildProcess {
  const log = openSync(logFile, 'a');
  try {
    return spawn(process.execPath, [DAEMON, configFile, statusFile], { stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

const logTail = (file: string) =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-30).join('\n') : '';

describe.skipIf(!brokers)('Kafka source: crash and restart (real broker, separate process)', () => {
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(BUILT))
      throw new Error(`${BUILT} is missing: run \`npm run build\` before the integration tests`);
    kafka = kafkaClient(brokers ?? []);
    admin = kafka.admin();
    producer = producerOf(kafka);
    await admin.connect();
    await producer.connect();
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await producer?.disconnect();
    if (admin) await deleteCreatedTopics(admin);
    await admin?.disconnect();
  });

  it('processes every access at least once and opens each alert exactly once across a SIGKILL', async () => {
    const topic = unique('vigil-crash');
    const groupId = unique('vigil-group');
    await createTopics(admin, [topic], 3);
    const dir = tempDir('kafka-crash');
    const paths = writeTestConfig(dir, {
      brokers: brokers ?? [],
      topic,
      groupId,
      snapshotInterval: '2s',
      maxBatch: 200,
      logLevel: 'info',
    });
    const logFile = join(dir, 'daemon.log');

    const triggers = 8;
    const accesses = accessStream(3000, triggers, Date.now() - 10 * 60_000);
    const messages = messagesOf(accesses);
    const total = messages.length;

    // First run.
    const first = spawnDaemon(paths.file, paths.statusFile, logFile);
    children.push(first);
    await waitFor(
      () => readStatus(paths.statusFile)?.ready === true,
      () => `daemon ready\n${logTail(logFile)}`,
    );

    // Produce at a steady pace in the background while the daemon consumes.
    let producedCount = 0;
    const producing = (async () => {
      const chunk = 300;
      for (let i = 0; i < messages.length; i += chunk) {
        await produce(producer, topic, messages.slice(i, i + chunk));
        producedCount = Math.min(messages.length, i + chunk);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    // Kill it well into the stream, after a checkpoint, at a moment when an alert transition has
    // been journalled and written out that no checkpoint covers yet: the restarted daemon resumes
    // from an older state and regenerates that transition, which must not be emitted twice.
    await waitFor(
      () => {
        const s = readStatus(paths.statusFile);
        if (!s?.lastCheckpointAt || s.source.records < total / 4) return false;
        return s.lastTransitionAt > Date.parse(s.lastCheckpointAt);
      },
      () => `a quarter of the stream and an alert after the last checkpoint\n${logTail(logFile)}`,
    );
    first.kill('SIGKILL');
    expect((await exited(first)).signal).toBe('SIGKILL');
    const atKill = readStatus(paths.statusFile);
    // Keep what the crash left behind, for diagnosis when an assertion below fails.
    cpSync(paths.stateDir, join(dir, 'at-kill', 'state'), { recursive: true });
    if (existsSync(paths.alertLog)) cpSync(paths.alertLog, join(dir, 'at-kill', 'alerts.ndjson'));
    const producedAtKill = producedCount;
    await producing;

    // Second run on the same state directory.
    const second = spawnDaemon(paths.file, paths.statusFile, logFile);
    children.push(second);
    const highs = await highWatermarks(admin, topic);
    expect(Object.values(highs).reduce((a, b) => a + b, 0)).toBe(total);
    await waitFor(
      () => {
        const s = readStatus(paths.statusFile);
        return s !== undefined && s.pid === second.pid && caughtUp(s.source.position, highs);
      },
      () => `the restarted daemon to catch up\n${logTail(logFile)}`,
      120_000,
    );
    const afterRestart = readStatus(paths.statusFile);
    second.kill('SIGTERM');
    const end = await exited(second);
    expect(end, logTail(logFile)).toEqual({ code: 0, signal: null });

    console.log(
      `[kafka-crash] ${total} lines; killed after ${atKill?.source.records} delivered ` +
        `(${producedAtKill} produced at that time); restarted run delivered ${afterRestart?.source.records}, ` +
        `skipped ${afterRestart?.source.skipped} already-covered offsets`,
    );

    // Nothing lost, nothing counted twice: the state equals exactly what was produced.
    const checkpoint = readCheckpoint(paths.stateDir);
    expect(checkpoint).toBeDefined();
    const counters = checkpoint?.pipeline.counters;
    expect(counters?.lines).toBe(total);
    expect(counters?.entries).toBe(total);
    expect(counters?.deadLettered).toBe(0);
    expect(counters?.events).toBe(accesses.length);
    expect(checkpoint?.positions['kafka']).toEqual(highs);

    // The final commit covered everything.
    const committed: Record<string, number> = {};
    for (const t of await admin.fetchOffsets({ groupId, topics: [topic] })) {
      for (const p of t.partitions) committed[`${t.topic}/${p.partition}`] = Number(p.offset);
    }
    expect(committed).toEqual(highs);

    // Every alert opened exactly once; each trigger identity has its raft-snapshot alert.
    const transitions = readAlertLog(paths.alertLog);
    const opens = opensByFingerprint(transitions);
    for (const [fingerprint, n] of opens) expect(n, fingerprint).toBe(1);
    const raft = transitions.filter((t) => t.action === 'open' && t.alert.detector === 'raft-snapshot-taken');
    expect(raft).toHaveLength(triggers);
    const identities = new Set(raft.map((t) => t.alert.identity?.entityId ?? t.alert.identity?.displayName));
    expect(identities.size).toBe(triggers);
  });
});
