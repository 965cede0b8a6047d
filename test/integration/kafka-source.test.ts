/**
 * KafkaSource and KafkaDeadLetterSink against the real broker (scripts/services/up.sh): the daemon
 * in-process with the Kafka source plugged in through `extraSources`, the dead-letter topic, offset
 * commit/resume semantics, back-pressure and a rebalance between two members.
 */
import { randomBytes } from 'node:crypto';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import {
  createKafkaDeadLetterSink,
  ORIGIN_HEADER,
  REASON_HEADER,
} from '../../src/ingest/kafka-dead-letter.js';
import { KafkaSource, type KafkaSourceEvent } from '../../src/ingest/kafka.js';
import type { RecordBatch } from '../../src/ingest/source.js';
import { createLogger } from '../../src/ops/logger.js';
import {
  consumeTopic,
  createTopics,
  deleteCreatedTopics,
  fixtureAuditLines,
  highWatermarks,
  kafkaClient,
  loadTestConfig,
  opensByFingerprint,
  produce,
  producerOf,
  readAlertLog,
  tempDir,
  unique,
  waitFor,
  writeTestConfig,
  type OutMessage,
} from './support/kafka-helpers.js';
import { requireKafka } from './support/services.js';

const brokers = requireKafka();
const logger = createLogger({ level: process.env.VIGIL_TEST_LOG ?? 'warn', name: 'vigil-kafka-test' });

/** The key the compose shipper uses: entity id, else display name, else remote address. */
function identityKey(line: string): string | null {
  try {
    const e = JSON.parse(line) as {
      auth?: { entity_id?: string; display_name?: string };
      request?: { remote_address?: string };
    };
    return e.auth?.entity_id || e.auth?.display_name || e.request?.remote_address || null;
  } catch {
    return null;
  }
}

/** A daemon on its own topic(s) and temp dirs; it builds the Kafka source and dead-letter topic itself. */
function buildDaemon(topic: string, groupId: string, deadLetterTopic?: string) {
  const dir = tempDir('kafka');
  const paths = writeTestConfig(dir, { brokers: brokers ?? [], topic, groupId, deadLetterTopic });
  const config = loadTestConfig(paths.file);
  // Passed in only so the test can read its counters; the daemon would build the same one.
  const deadLetter = createKafkaDeadLetterSink(config.sources.kafka, logger);
  const daemon = new Daemon({ config, logger, ...(deadLetter ? { deadLetter } : {}) });
  const source = daemon.kafka;
  if (!source) throw new Error('the test configuration must enable sources.kafka');
  return { daemon, source, deadLetter, paths };
}

async function committedOffsets(
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of await admin.fetchOffsets({ groupId, topics: [topic] })) {
    for (const p of t.partitions) out[`${t.topic}/${p.partition}`] = Number(p.offset);
  }
  return out;
}

describe.skipIf(!brokers)('Kafka source (real broker)', () => {
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;

  beforeAll(async () => {
    kafka = kafkaClient(brokers ?? []);
    admin = kafka.admin();
    producer = producerOf(kafka);
    await admin.connect();
    await producer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect();
    if (admin) await deleteCreatedTopics(admin);
    await admin?.disconnect();
  });

  it('consumes audit lines from a topic, alerts on them, and commits everything on stop', async () => {
    const topic = unique('vigil-audit');
    const groupId = unique('vigil-group');
    await createTopics(admin, [topic], 3);
    const { daemon, source, paths } = buildDaemon(topic, groupId);
    await daemon.start();
    try {
      await waitFor(() => source.isReady(), 'the source to join its group');
      const lines = fixtureAuditLines();
      await produce(
        producer,
        topic,
        lines.map((value) => ({ key: identityKey(value), value })),
      );

      await waitFor(() => {
        const opens = opensByFingerprint(readAlertLog(paths.alertLog));
        const detectors = [...opens.keys()].map((f) => f.split(':')[0]);
        return detectors.includes('root-token-used') && detectors.includes('audit-device-disabled');
      }, 'root-token-used and audit-device-disabled alerts in the alert log');
      await waitFor(() => daemon.pipeline.counters.lines === lines.length, 'every line processed');
      expect(source.stats().records).toBe(lines.length);
      const lag = await source.lag();
      expect(Object.keys(lag).sort()).toEqual([0, 1, 2].map((p) => `${topic}/${p}`).sort());
      expect(Object.values(lag).every((n) => n === 0)).toBe(true);
      // The same figures reach /metrics through the kafka-lag job.
      await daemon.runJob('kafka-lag');
      const text = await daemon.metrics.text();
      for (const p of [0, 1, 2])
        expect(text).toContain(`vigil_kafka_consumer_lag{topic="${topic}",partition="${p}"} 0`);
    } finally {
      await daemon.stop();
    }

    // The final checkpoint's commit went through before the consumer left the group.
    expect(await committedOffsets(admin, groupId, topic)).toEqual(await highWatermarks(admin, topic));
    const [group] = (await admin.describeGroups([groupId])).groups;
    expect(group?.state).toBe('Empty');
    expect(source.isReady()).toBe(false);
    // Each alert opened exactly once.
    for (const [fingerprint, n] of opensByFingerprint(readAlertLog(paths.alertLog))) {
      expect(n, fingerprint).toBe(1);
    }
  });

  it('sends malformed messages to the dead-letter topic, scrubbed, with the reason header, and counts them', async () => {
    const topic = unique('vigil-audit');
    const dlt = unique('vigil-dead-letter');
    const groupId = unique('vigil-group');
    await createTopics(admin, [topic], 2);
    await createTopics(admin, [dlt], 1);
    const canary = `hvs.CANARY${randomBytes(18).toString('hex')}`;
    const good = fixtureAuditLines().slice(0, 2);
    // A Vault request entry with a secret in it, cut off after the secret (as a shipper that cut a
    // long line would deliver it).
    const full = (good[0] ?? '').replace(
      '"path":"secret/data/app/db"',
      `"path":"secret/data/app/db","data":{"password":"${canary}","note":"x"}`,
    );
    const truncated = full.slice(0, full.indexOf(canary) + canary.length + 12);
    const binary = Buffer.concat([
      Buffer.from([0xff, 0xfe, 0x00, 0x9b, 0x1b]),
      Buffer.from(` ${canary} `),
      randomBytes(64),
    ]);
    const messages: OutMessage[] = [
      { key: 'a', value: good[0] ?? '' },
      { key: 'a', value: truncated },
      { key: 'b', value: binary },
      { key: 'b', value: null },
      { key: 'a', value: good[1] ?? '' },
    ];

    const { daemon, source, deadLetter, paths } = buildDaemon(topic, groupId, dlt);
    expect(deadLetter).toBeDefined();
    await daemon.start();
    try {
      await waitFor(() => source.isReady(), 'the source to join its group');
      await produce(producer, topic, messages);
      await waitFor(() => daemon.pipeline.counters.lines === messages.length, 'every message processed');
      // A line may be dead-lettered when it is read, or (a request entry held for pairing) when it
      // expires unpaired: wait for all three.
      await waitFor(
        () => daemon.pipeline.counters.deadLettered === 3,
        () => `3 dead letters (have ${daemon.pipeline.counters.deadLettered})`,
        120_000,
      );
      expect(source.stats().nullValues).toBe(1);
      await daemon.runner.checkpoint();
      expect(deadLetter?.stats()).toMatchObject({ written: 3, dropped: 0 });
    } finally {
      await daemon.stop();
    }

    const letters = await consumeTopic(kafka, dlt, 3);
    expect(letters).toHaveLength(3);
    for (const m of letters) {
      const reason = m.headers[REASON_HEADER]?.toString() ?? '';
      const origin = m.headers[ORIGIN_HEADER]?.toString() ?? '';
      expect(reason.length).toBeGreaterThan(0);
      expect(origin).toMatch(new RegExp(`^kafka:${topic}/[01]@\\d+$`));
      const text = m.value?.toString('utf8') ?? '';
      expect(text).not.toContain(canary);
      expect(text).not.toContain(canary.slice(4, 24));
      expect(JSON.stringify(m.headers)).not.toContain(canary.slice(4, 24));
      const record = JSON.parse(text) as { source: string; sha256: string; bytes: number; excerpt: string };
      expect(record.source).toBe('kafka');
      expect(record.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    const reasons = letters.map((m) => m.headers[REASON_HEADER]?.toString() ?? '').sort();
    expect(reasons.some((r) => r.startsWith('invalid JSON'))).toBe(true);
    expect(reasons).toContain('invalid UTF-8');
    expect(reasons).toContain('empty line');
    // Nothing went to the local dead-letter file instead.
    expect(readAlertLog(paths.deadLetterFile)).toHaveLength(0);
  });

  it('resumes at a saved position ahead of the committed offset, and never below a newer committed one', async () => {
    const topic = unique('vigil-resume');
    const groupId = unique('vigil-group');
    await createTopics(admin, [topic], 1);
    await produce(
      producer,
      topic,
      Array.from({ length: 100 }, (_, i) => ({ key: null, value: `line ${i}` })),
    );
    const key = `${topic}/0`;

    // 1. Nothing committed, checkpoint says 60: offsets 0..59 are covered and must not come again.
    const seen1: number[] = [];
    const events: KafkaSourceEvent[] = [];
    const s1 = new KafkaSource({
      brokers: brokers ?? [],
      groupId,
      topics: [topic],
      fromBeginning: true,
      maxBatchRecords: 7,
      logger,
      onEvent: (e) => events.push(e),
    });
    const last1: { position?: unknown } = {};
    await s1.start(
      async (b: RecordBatch) => {
        for (const r of b.records) seen1.push(Number(r.origin.split('@')[1]));
        last1.position = b.position;
      },
      { [key]: 60 },
    );
    await waitFor(
      () => seen1.length >= 40,
      () => `offsets 60..99 (have ${seen1.length})`,
    );
    expect(seen1[0]).toBe(60);
    expect(seen1).toEqual(Array.from({ length: 40 }, (_, i) => 60 + i));
    expect(events.some((e) => e.type === 'seek' && e.to === 60)).toBe(true);
    expect(last1.position).toEqual({ [key]: 100 });
    expect(s1.stats().batches).toBe(Math.ceil(40 / 7));

    // commit() ignores partitions that are not assigned, and commits the assigned ones exactly.
    await s1.commit({ [key]: 100, [`${topic}/7`]: 5, 'other-topic/0': 3 });
    expect(await committedOffsets(admin, groupId, topic)).toEqual({ [key]: 100 });
    await s1.stop();
    await s1.close();

    // 2. Committed 100 is ahead of a stale saved position (50): start from the committed offset.
    await produce(
      producer,
      topic,
      Array.from({ length: 10 }, (_, i) => ({ key: null, value: `line ${100 + i}` })),
    );
    const seen2: number[] = [];
    const s2 = new KafkaSource({
      brokers: brokers ?? [],
      groupId,
      topics: [topic],
      fromBeginning: true,
      logger,
    });
    await s2.start(
      async (b) => {
        for (const r of b.records) seen2.push(Number(r.origin.split('@')[1]));
      },
      { [key]: 50 },
    );
    await waitFor(
      () => seen2.length >= 10,
      () => `offsets 100..109 (have ${seen2.length})`,
    );
    expect(seen2).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
    expect(s2.stats().skipped).toBe(0);
    // Stopping with nothing committed yet: the final commit (the runner's) commits and leaves.
    await s2.stop();
    await s2.commit({ [key]: 110 });
    expect(await committedOffsets(admin, groupId, topic)).toEqual({ [key]: 110 });
    expect(s2.stats().inGroup).toBe(false);
  });

  it('keeps its group membership through a handler call longer than the session timeout, pausing fetches', async () => {
    const topic = unique('vigil-slow');
    const groupId = unique('vigil-group');
    await createTopics(admin, [topic], 1);
    const events: KafkaSourceEvent[] = [];
    let calls = 0;
    let records = 0;
    const source = new KafkaSource({
      brokers: brokers ?? [],
      groupId,
      topics: [topic],
      fromBeginning: true,
      sessionTimeoutMs: 6000,
      heartbeatIntervalMs: 1000,
      slowHandlerMs: 300,
      logger,
      onEvent: (e) => events.push(e),
    });
    await source.start(async (b) => {
      calls++;
      records += b.records.length;
      if (calls === 1) await new Promise((r) => setTimeout(r, 9000));
    });
    try {
      await waitFor(() => source.isReady(), 'the source to join its group');
      await produce(producer, topic, [{ key: null, value: 'first' }]);
      await waitFor(() => calls === 1, 'the slow handler call');
      await waitFor(() => source.stats().paused, 'fetches paused while the handler is slow');
      await produce(producer, topic, [{ key: null, value: 'second' }]);
      await waitFor(() => records === 2, 'both records', 60_000);
      expect(source.stats().paused).toBe(false);
      expect(source.stats().pauses).toBeGreaterThanOrEqual(1);
      // No eviction: the member never had to rejoin.
      expect(source.stats().rebalances).toBe(0);
      expect(events.filter((e) => e.type === 'joined')).toHaveLength(1);
    } finally {
      await source.close();
    }
  });

  it('shares partitions between two members: onRevoke fires on rebalance and every message is delivered', async () => {
    const topic = unique('vigil-rebalance');
    const groupId = unique('vigil-group');
    const partitions = 4;
    await createTopics(admin, [topic], partitions);
    const total = 2000;
    const delivered = new Map<string, number>();
    const revokes: string[][] = [];
    const mk = (name: string) => {
      const s = new KafkaSource({
        name,
        brokers: brokers ?? [],
        groupId,
        topics: [topic],
        fromBeginning: true,
        sessionTimeoutMs: 10_000,
        logger,
        onRevoke: (p) => void revokes.push(p),
      });
      let position: unknown;
      const handler = async (b: RecordBatch) => {
        for (const r of b.records) delivered.set(r.origin, (delivered.get(r.origin) ?? 0) + 1);
        position = b.position;
        // Commit as the runner would after each checkpoint.
        await s.commit(position).catch(() => undefined);
      };
      return { s, handler };
    };
    const a = mk('kafka-a');
    const b = mk('kafka-b');
    await a.s.start(a.handler);
    try {
      await waitFor(() => a.s.isReady(), 'member a to join');
      await produce(
        producer,
        topic,
        Array.from({ length: total / 2 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
      );
      await waitFor(
        () => delivered.size >= total / 2,
        () => `first half (have ${delivered.size})`,
      );
      await b.s.start(b.handler);
      await waitFor(() => a.s.isReady() && b.s.isReady() && revokes.length > 0, 'the rebalance to settle');
      await waitFor(
        () => a.s.stats().assigned.length + b.s.stats().assigned.length === partitions,
        'all partitions assigned',
      );
      expect(a.s.stats().assigned.length).toBeGreaterThan(0);
      expect(b.s.stats().assigned.length).toBeGreaterThan(0);
      await produce(
        producer,
        topic,
        Array.from({ length: total / 2 }, (_, i) => ({ key: `k${i}`, value: `w${i}` })),
      );
      await waitFor(
        () => delivered.size >= total,
        () => `every message (have ${delivered.size})`,
      );
      expect(delivered.size).toBe(total);
    } finally {
      await Promise.all([a.s.close(), b.s.close()]);
    }
  });
});
