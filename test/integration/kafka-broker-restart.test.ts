/**
 * The broker restarts under a running daemon: `scripts/services/kafka.sh stop`, then
 * `KAFKA_KEEP_DATA=1 scripts/services/kafka.sh start`. The Kafka source loses its connection,
 * kafkajs restarts the consumer with backoff until the broker is back, the member rejoins the
 * group and what is produced afterwards is processed (and nothing from before is counted twice).
 *
 * This stops the shared test broker for a few seconds (other suites using it at the same time see
 * connection errors). Duration: about 20-40 s, mostly the broker's own stop/start; the waits allow
 * minutes. If a step fails, afterAll starts the broker again (keeping its data).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon.js';
import type { KafkaSourceEvent } from '../../src/ingest/kafka.js';
import { createLogger } from '../../src/ops/logger.js';
import {
  accessStream,
  createTopics,
  deleteCreatedTopics,
  highWatermarks,
  kafkaClient,
  loadTestConfig,
  messagesOf,
  opensByFingerprint,
  produce,
  producerOf,
  readAlertLog,
  tempDir,
  unique,
  waitFor,
  writeTestConfig,
} from './support/kafka-helpers.js';
import { requireKafka } from './support/services.js';

const brokers = requireKafka();
const KAFKA_SH = fileURLToPath(new URL('../../scripts/services/kafka.sh', import.meta.url));
const logger = createLogger({
  level: process.env.VIGIL_TEST_LOG ?? 'error',
  name: 'vigil-kafka-restart-test',
});

function kafkaSh(command: 'start' | 'stop' | 'status', env: NodeJS.ProcessEnv = {}): Promise<number> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      [KAFKA_SH, command],
      { env: { ...process.env, ...env }, timeout: 180_000 },
      (err, _stdout, stderr) => {
        if (err && command !== 'status') console.error(`kafka.sh ${command} failed:\n${stderr}`);
        resolve(err ? (typeof err.code === 'number' ? err.code : 1) : 0);
      },
    );
  });
}

describe.skipIf(!brokers)('Kafka source: broker restart (real broker)', () => {
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;

  beforeAll(async () => {
    if ((await kafkaSh('status')) !== 0) {
      throw new Error(
        'this test restarts the broker with scripts/services/kafka.sh, which must be running it',
      );
    }
    kafka = kafkaClient(brokers ?? []);
    admin = kafka.admin();
    producer = producerOf(kafka);
    await admin.connect();
    await producer.connect();
  });

  afterAll(async () => {
    // Leave the shared broker running whatever happened.
    if ((await kafkaSh('status')) !== 0) await kafkaSh('start', { KAFKA_KEEP_DATA: '1' });
    await producer?.disconnect().catch(() => undefined);
    if (admin) await deleteCreatedTopics(admin);
    await admin?.disconnect().catch(() => undefined);
  });

  it('reconnects after the broker restarts and processes what is produced afterwards', async () => {
    const topic = unique('vigil-restart');
    const groupId = unique('vigil-group');
    await createTopics(admin, [topic], 2);
    const dir = tempDir('kafka-restart');
    const paths = writeTestConfig(dir, { brokers: brokers ?? [], topic, groupId });
    const config = loadTestConfig(paths.file);
    const events: KafkaSourceEvent[] = [];
    const daemon = new Daemon({
      config,
      logger,
      kafka: { reconnectInitialMs: 500, reconnectMaxMs: 5000, onEvent: (e) => events.push(e) },
    });
    const source = daemon.kafka;
    if (!source) throw new Error('the test configuration must enable sources.kafka');
    await daemon.start();
    try {
      await waitFor(() => source.isReady(), 'the source to join its group');
      const before = messagesOf(accessStream(500, 2, Date.now() - 5 * 60_000, 0));
      await produce(producer, topic, before);
      await waitFor(() => daemon.pipeline.counters.lines === before.length, 'the first batch processed');
      await daemon.runner.checkpoint();

      const t0 = Date.now();
      expect(await kafkaSh('stop')).toBe(0);
      await waitFor(() => !source.isReady(), 'the source to notice the broker is gone', 120_000);
      expect(await kafkaSh('start', { KAFKA_KEEP_DATA: '1' })).toBe(0);
      await waitFor(() => source.isReady(), 'the source to rejoin after the restart', 180_000, 250);
      const outage = Date.now() - t0;

      const after = messagesOf(accessStream(500, 2, Date.now() - 4 * 60_000, 100));
      await produce(producer, topic, after);
      const total = before.length + after.length;
      await waitFor(
        () => daemon.pipeline.counters.lines === total,
        () => `every line processed (have ${daemon.pipeline.counters.lines} of ${total})`,
        180_000,
      );
      expect(daemon.pipeline.counters.lines).toBe(total);
      expect(daemon.pipeline.counters.events).toBe(total / 2);
      const crashes = events.filter((e) => e.type === 'crash').length;
      const joins = events.filter((e) => e.type === 'joined').length;
      console.log(
        `[kafka-broker-restart] broker down and back in ${outage} ms; ${crashes} consumer crash event(s), ${joins} group joins`,
      );
      expect(joins).toBeGreaterThanOrEqual(2);
    } finally {
      await daemon.stop();
    }

    const committed: Record<string, number> = {};
    for (const t of await admin.fetchOffsets({ groupId, topics: [topic] })) {
      for (const p of t.partitions) committed[`${t.topic}/${p.partition}`] = Number(p.offset);
    }
    expect(committed).toEqual(await highWatermarks(admin, topic));
    const transitions = readAlertLog(paths.alertLog);
    for (const [fingerprint, n] of opensByFingerprint(transitions)) expect(n, fingerprint).toBe(1);
    const raft = transitions.filter((t) => t.action === 'open' && t.alert.detector === 'raft-snapshot-taken');
    expect(raft).toHaveLength(4);
  });
});
