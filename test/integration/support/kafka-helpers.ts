/**
 * Shared helpers for the Kafka integration tests: test configuration files, generated audit
 * lines, topic set-up, and readers for the alert log, the state checkpoint and a daemon's status.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize } from 'node:v8';
import { Kafka, logLevel, Partitioners, type Admin, type IHeaders, type Producer } from 'kafkajs';
import type { AlertTransition } from '../../../src/alerts/alert.js';
import { loadConfig } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import type { Checkpoint } from '../../../src/store/state-store.js';

export const FIXTURE = new URL('../../fixtures/audit/vault-1.18.jsonl', import.meta.url);

/** Resolves once `predicate` holds, polling; rejects after `timeoutMs` naming what it waited for. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `vigil-${prefix}-`));
}

export interface TestConfigOptions {
  brokers: string[];
  topic: string;
  groupId: string;
  deadLetterTopic?: string;
  /** Default 1s (whole seconds dividing a minute: the snapshot job is a cron schedule). */
  snapshotInterval?: string;
  maxBatch?: number;
  logLevel?: string;
}

/**
 * Writes a configuration file for a daemon on the given topic (file and socket sources off, a
 * temporary state dir and alert log, no receivers) and returns its path and directories. JSON is
 * YAML, so the file is what `loadConfig({ file })` and the subprocess daemon both read.
 */
export function writeTestConfig(
  dir: string,
  o: TestConfigOptions,
): { file: string; stateDir: string; alertLog: string; deadLetterFile: string; statusFile: string } {
  const stateDir = join(dir, 'state');
  const alertLog = join(dir, 'alerts.ndjson');
  const deadLetterFile = join(dir, 'dead-letter.ndjson');
  const config = {
    state: { dir: stateDir, snapshot_interval: o.snapshotInterval ?? '1s' },
    sources: {
      file: { enabled: false },
      socket: { enabled: false },
      stdin: { enabled: false },
      kafka: {
        enabled: true,
        brokers: o.brokers,
        client_id: 'vigil-test',
        group_id: o.groupId,
        topics: [o.topic],
        from_beginning: true,
        ...(o.deadLetterTopic ? { dead_letter_topic: o.deadLetterTopic } : {}),
        max_batch: o.maxBatch ?? 500,
        session_timeout: '10s',
      },
    },
    dead_letter: { path: deadLetterFile },
    outputs: { alert_log: { path: alertLog }, console: 'never' },
    notify: { receivers: [], route: { receivers: [] } },
    http: { enabled: false },
    log: { level: o.logLevel ?? 'warn', pretty: 'never' },
  };
  const file = join(dir, 'vigil.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, stateDir, alertLog, deadLetterFile, statusFile: join(dir, 'status.json') };
}

export function loadTestConfig(file: string): Config {
  return loadConfig({ file, environment: 'development', env: {} }).config;
}

export function kafkaClient(brokers: string[], clientId = 'vigil-test-client'): Kafka {
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
}

/** Topics created by `createTopics` in this test file, for `deleteCreatedTopics`. */
const created: string[] = [];

export async function createTopics(admin: Admin, topics: string[], partitions: number): Promise<void> {
  created.push(...topics);
  await admin.createTopics({
    waitForLeaders: true,
    topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
  });
}

/** Delete the topics this file created (best effort: the broker is shared). */
export async function deleteCreatedTopics(admin: Admin): Promise<void> {
  const topics = created.splice(0);
  if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => undefined);
}

export function producerOf(kafka: Kafka): Producer {
  return kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
}

export interface OutMessage {
  key: string | null;
  value: string | Buffer | null;
}

/** Produce in chunks (acks=-1), in order. */
export async function produce(
  producer: Producer,
  topic: string,
  messages: OutMessage[],
  chunk = 500,
): Promise<void> {
  for (let i = 0; i < messages.length; i += chunk) {
    await producer.send({ topic, acks: -1, messages: messages.slice(i, i + chunk) });
  }
}

// ---------------------------------------------------------------------------------------------
// Generated audit lines

type Json = Record<string, unknown>;

const fixtureLines = (): string[] => readFileSync(FIXTURE, 'utf8').split('\n').filter(Boolean);

export function fixtureAuditLines(): string[] {
  return fixtureLines();
}

function templatePair(requestId: string): [Json, Json] {
  const lines = fixtureLines()
    .map((l) => JSON.parse(l) as Json)
    .filter((e) => (e['request'] as Json | undefined)?.['id'] === requestId);
  const req = lines.find((e) => e['type'] === 'request');
  const res = lines.find((e) => e['type'] === 'response');
  if (!req || !res) throw new Error(`fixture pair ${requestId} not found`);
  return [req, res];
}

const KV_READ = '5e1f0c2a-0000-4000-8000-000000000001';
const RAFT_SNAPSHOT = '5e1f0c2a-0000-4000-8000-000000000024';

export interface Access {
  /** The Kafka key: the identity, as the compose shipper sets it. */
  key: string;
  lines: [string, string];
  requestId: string;
  identity: string;
}

function makePair(template: [Json, Json], i: number, identity: string, timeMs: number, gapMs = 3): Access {
  const requestId = randomUUID();
  const out = template.map((t, j) => {
    const e = structuredClone(t);
    e['time'] = new Date(timeMs + j * gapMs).toISOString();
    const auth = e['auth'] as Json;
    auth['entity_id'] = identity;
    auth['display_name'] = `userpass-${identity.slice(0, 12)}`;
    const req = e['request'] as Json;
    req['id'] = requestId;
    req['client_id'] = identity;
    req['remote_address'] = `10.20.${(i >> 8) & 255}.${i & 255}`;
    return JSON.stringify(e);
  }) as [string, string];
  return { key: identity, lines: out, requestId, identity };
}

/** A benign KV read (request + response) by one of `identities` identities. */
export function benignAccess(i: number, timeMs: number, identities = 40): Access {
  const identity = `benign-${String(i % identities).padStart(4, '0')}-aaaa-4c1d-9e8f-000000000000`;
  return makePair(templatePair(KV_READ), i, identity, timeMs);
}

/** A Raft snapshot download (fires raft-snapshot-taken) by a distinct identity per `n`. */
export function triggerAccess(n: number, timeMs: number): Access {
  const identity = `trigger-${String(n).padStart(4, '0')}-bbbb-4c1d-9e8f-000000000000`;
  return makePair(templatePair(RAFT_SNAPSHOT), n, identity, timeMs);
}

/**
 * `benign` benign accesses with `triggers` rule-triggering ones spread evenly through them, in
 * event-time order starting at `startMs`, 1 ms apart. Trigger identities are numbered from
 * `firstTrigger`, so two streams can have distinct alerts.
 */
export function accessStream(benign: number, triggers: number, startMs: number, firstTrigger = 0): Access[] {
  const out: Access[] = [];
  const every = Math.floor(benign / (triggers + 1));
  let n = 0;
  for (let i = 0; i < benign; i++) {
    out.push(benignAccess(i, startMs + out.length));
    if (n < triggers && (i + 1) % every === 0)
      out.push(triggerAccess(firstTrigger + n++, startMs + out.length));
  }
  while (n < triggers) out.push(triggerAccess(firstTrigger + n++, startMs + out.length));
  return out;
}

export function messagesOf(accesses: Access[]): OutMessage[] {
  return accesses.flatMap((a) => a.lines.map((value) => ({ key: a.key, value })));
}

// ---------------------------------------------------------------------------------------------
// Reading what a daemon produced

export function readAlertLog(path: string): AlertTransition[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AlertTransition);
}

/** Opens per fingerprint. */
export function opensByFingerprint(transitions: AlertTransition[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of transitions) {
    if (t.action === 'open') m.set(t.alert.fingerprint, (m.get(t.alert.fingerprint) ?? 0) + 1);
  }
  return m;
}

export function readCheckpoint(stateDir: string): Checkpoint | undefined {
  const path = join(stateDir, 'checkpoint.v8');
  if (!existsSync(path)) return undefined;
  return deserialize(readFileSync(path)) as Checkpoint;
}

/** What the subprocess daemon (support/kafka-daemon.mjs) writes to its status file. */
export interface DaemonStatus {
  pid: number;
  ready: boolean;
  source: { records: number; batches: number; skipped: number; position: Record<string, number> };
  counters: { lines: number; entries: number; events: number; deadLettered: number; opened: number };
  lastCheckpointAt?: string;
  /** Alert transitions handed to outputs in this run, and the wall-clock ms of the last one. */
  transitions: number;
  lastTransitionAt: number;
}

export function readStatus(file: string): DaemonStatus | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DaemonStatus;
  } catch {
    return undefined;
  }
}

/** Sum of the high watermarks of a topic's partitions (messages produced, when nothing is deleted). */
export async function highWatermarks(admin: Admin, topic: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const p of await admin.fetchTopicOffsets(topic)) out[`${topic}/${p.partition}`] = Number(p.high);
  return out;
}

/** True when `position` has reached every partition's high watermark. */
export function caughtUp(
  position: Record<string, number> | undefined,
  highs: Record<string, number>,
): boolean {
  if (!position) return false;
  return Object.entries(highs).every(([k, h]) => h === 0 || (position[k] ?? 0) >= h);
}

export interface ConsumedMessage {
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: IHeaders;
}

/** Read a whole topic from the beginning with a throwaway group until `count` messages arrived. */
export async function consumeTopic(
  kafka: Kafka,
  topic: string,
  count: number,
  timeoutMs = 60_000,
): Promise<ConsumedMessage[]> {
  const consumer = kafka.consumer({ groupId: unique('vigil-test-reader'), maxWaitTimeInMs: 250 });
  const got: ConsumedMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        got.push({
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value,
          headers: message.headers ?? {},
        });
      },
    });
    await waitFor(
      () => got.length >= count,
      () => `${count} messages on ${topic} (have ${got.length})`,
      timeoutMs,
    );
    return got;
  } finally {
    await consumer.disconnect();
  }
}
