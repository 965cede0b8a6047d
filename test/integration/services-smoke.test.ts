/**
 * Smoke test for the real services started by scripts/services/up.sh: proves that the
 * client libraries Vigil depends on (kafkajs 2.2.4, @elastic/elasticsearch 8.19) work
 * against the broker and node we run in CI. No mocks.
 */
import { randomUUID } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import { Kafka, logLevel, Partitioners, type Consumer, type KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireElasticsearch, requireKafka } from './support/services.js';

const brokers = requireKafka();
const esUrl = requireElasticsearch();

interface Received {
  partition: number;
  offset: bigint;
  value: string;
}

/** What one consumer saw: the messages, and the offsets it has committed per partition. */
interface Sink {
  received: Received[];
  committed: Map<number, bigint>;
}

const sum = (values: Iterable<bigint>): bigint => [...values].reduce((a, b) => a + b, 0n);

/** Resolves once `predicate` holds, polling; rejects after `timeoutMs`. */
async function waitFor(predicate: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!brokers)('Kafka broker with kafkajs 2.2.4', () => {
  const kafka = new Kafka({
    clientId: 'vigil-smoke',
    brokers: brokers ?? [],
    logLevel: logLevel.WARN,
    retry: { retries: 8 },
  });
  const admin = kafka.admin();
  const topic = `vigil-smoke-${randomUUID()}`;
  const groupId = `vigil-smoke-${randomUUID()}`;
  const partitions = 3;

  /**
   * Consumes `topic` with a group using eachBatch and manual commits: every batch commits
   * (last offset + 1) for its partition once all its messages were recorded.
   */
  async function startConsumer(sink: Sink): Promise<Consumer> {
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      // Short long-poll: disconnect() waits for the in-flight fetch (default 5 s).
      maxWaitTimeInMs: 250,
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        let last: KafkaMessage | undefined;
        for (const message of batch.messages) {
          if (!isRunning() || isStale()) break;
          sink.received.push({
            partition: batch.partition,
            offset: BigInt(message.offset),
            value: message.value?.toString() ?? '',
          });
          resolveOffset(message.offset);
          last = message;
        }
        if (last) {
          const next = BigInt(last.offset) + 1n;
          await consumer.commitOffsets([{ topic, partition: batch.partition, offset: next.toString() }]);
          sink.committed.set(batch.partition, next);
        }
        await heartbeat();
      },
    });
    return consumer;
  }

  async function committedOffsets(): Promise<Map<number, bigint>> {
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((result?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  }

  async function produce(from: number, count: number): Promise<void> {
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    try {
      await producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: count }, (_, i) => ({
          key: `key-${(from + i) % 7}`,
          value: `message-${from + i}`,
        })),
      });
    } finally {
      await producer.disconnect();
    }
  }

  beforeAll(async () => {
    await admin.connect();
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    expect(created).toBe(true);
  });

  afterAll(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('creates the topic with the admin client', async () => {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(meta.topics[0]?.partitions).toHaveLength(partitions);
  });

  it('produces 100 messages, consumes them with a group via eachBatch and commits', async () => {
    await produce(0, 100);
    const sink: Sink = { received: [], committed: new Map() };
    const consumer = await startConsumer(sink);
    try {
      await waitFor(() => sink.received.length >= 100, '100 messages');
      await waitFor(() => sum(sink.committed.values()) >= 100n, 'commits of all 100 offsets');
    } finally {
      await consumer.disconnect();
    }
    expect(sink.received).toHaveLength(100);
    expect(new Set(sink.received.map((r) => r.value)).size).toBe(100);
    expect(new Set(sink.received.map((r) => r.partition)).size).toBeGreaterThan(1);

    // The broker's view: per partition, (last consumed offset + 1); they add up to 100.
    const committed = await committedOffsets();
    expect(committed).toEqual(sink.committed);
    expect(sum(committed.values())).toBe(100n);
  });

  it('a restarted consumer resumes from the committed offsets (no re-delivery)', async () => {
    const before = await committedOffsets();
    await produce(100, 20);
    const sink: Sink = { received: [], committed: new Map() };
    // Same group, subscribed fromBeginning: only the committed offsets keep it from re-reading.
    const consumer = await startConsumer(sink);
    try {
      await waitFor(() => sink.received.length >= 20, '20 new messages');
      // Give a stray re-delivery a chance to show up before we look.
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await consumer.disconnect();
    }
    expect(sink.received.map((r) => r.value).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `message-${100 + i}`).sort(),
    );
    for (const r of sink.received) {
      expect(r.offset).toBeGreaterThanOrEqual(before.get(r.partition) ?? 0n);
    }
    expect(sum((await committedOffsets()).values())).toBe(120n);
  });
});

describe.skipIf(!esUrl)('Elasticsearch node with @elastic/elasticsearch 8.19', () => {
  const client = new Client({ node: esUrl ?? 'http://127.0.0.1:9200' });
  const index = `vigil-smoke-${randomUUID()}`;

  afterAll(async () => {
    await client.indices.delete({ index, ignore_unavailable: true }).catch(() => undefined);
    await client.close();
  });

  // Note: GET / (client.info(), client.ping()) answers 405 on this node: the integ-test-zip
  // distribution lacks the rest-root module. Use cluster.health() or nodes.info() instead.
  it('answers as an 8.x Elasticsearch node', async () => {
    const nodes = await client.nodes.info({ filter_path: 'nodes.*.version' });
    const versions = Object.values(nodes.nodes).map((n) => n.version);
    expect(versions).toHaveLength(1);
    expect(versions[0]).toMatch(/^8\./);
  });

  it('creates an index, bulk-indexes, refreshes, counts, searches and aggregates', async () => {
    await client.indices.create({
      index,
      settings: { number_of_shards: 1, number_of_replicas: 0 },
      mappings: {
        properties: {
          '@timestamp': { type: 'date' },
          path: { type: 'keyword' },
          seq: { type: 'integer' },
        },
      },
    });
    const health = await client.cluster.health({ index, wait_for_status: 'green', timeout: '30s' });
    expect(health.status).toBe('green');

    const docs = Array.from({ length: 60 }, (_, i) => ({
      '@timestamp': new Date(Date.UTC(2025, 4, 1, 10, 0, i)).toISOString(),
      path: i % 3 === 0 ? 'secret/data/payments' : 'sys/health',
      seq: i,
    }));
    const bulk = await client.bulk({
      operations: docs.flatMap((doc) => [{ index: { _index: index, _id: `doc-${doc.seq}` } }, doc]),
    });
    expect(bulk.errors).toBe(false);
    expect(bulk.items).toHaveLength(60);

    await client.indices.refresh({ index });
    expect((await client.count({ index })).count).toBe(60);

    const search = await client.search<{ seq: number }>({
      index,
      size: 100,
      track_total_hits: true,
      query: { term: { path: 'secret/data/payments' } },
      sort: [{ seq: 'asc' }],
      aggs: { by_path: { terms: { field: 'path' } } },
    });
    const total = search.hits.total;
    expect(typeof total === 'number' ? total : total?.value).toBe(20);
    expect(search.hits.hits.map((h) => h._source?.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i * 3));
    // Aggregations run over the query's hits: one bucket, 20 docs.
    const buckets = (search.aggregations?.by_path as { buckets: { key: string; doc_count: number }[] })
      .buckets;
    expect(buckets).toEqual([{ key: 'secret/data/payments', doc_count: 20 }]);
  });
});
