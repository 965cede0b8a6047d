#!/usr/bin/env node
// A Vigil daemon with a Kafka source, in its own process, for crash tests (SIGKILL) and restarts.
// It is built from dist/ (the integration script runs `npm run build` first), exactly as a caller
// would wire it: the Daemon builds its Kafka source from the configuration, as `vigil run` does.
//
//   node test/integration/support/kafka-daemon.mjs <config.yaml> <status.json>
//
// Every 100 ms it replaces <status.json> with the source's counters, the pipeline's counters,
// readiness, the last checkpoint time and the last alert transition time, so a test can tell how
// far it got (and kill it while a transition is not yet covered by a checkpoint). SIGTERM/SIGINT stop it gracefully (final
// checkpoint, offset commit, leave the group) and exit 0.
import { renameSync, writeFileSync } from 'node:fs';
import { loadConfig } from '../../../dist/config/load.js';
import { Daemon } from '../../../dist/daemon.js';
import { createKafkaDeadLetterSink } from '../../../dist/ingest/kafka-dead-letter.js';
import { createLogger } from '../../../dist/ops/logger.js';

const [configFile, statusFile] = process.argv.slice(2);
if (!configFile || !statusFile) {
  console.error('usage: kafka-daemon.mjs <config.yaml> <status.json>');
  process.exit(2);
}

const { config } = loadConfig({ file: configFile, environment: 'development', env: {} });
const logger = createLogger({ level: config.log.level, name: 'vigil-test-daemon' });

/** Wall-clock time of the last alert transition handed to outputs (not a recovery re-offer). */
let lastTransitionAt = 0;
let transitions = 0;
const recorder = {
  name: 'test-recorder',
  async write(ts, recovering) {
    if (recovering) return;
    transitions += ts.length;
    lastTransitionAt = Date.now();
  },
  async flush() {},
  async close() {},
};

const deadLetter = createKafkaDeadLetterSink(config.sources.kafka, logger);
// The daemon builds its Kafka source from the configuration, as `vigil run` does; the dead-letter
// sink is passed in only so its counters can be reported.
const daemon = new Daemon({
  config,
  logger,
  extraSinks: [recorder],
  ...(deadLetter ? { deadLetter } : {}),
});
const kafka = daemon.kafka;
if (!kafka) throw new Error('the configuration must enable sources.kafka');

function writeStatus() {
  const s = kafka.stats();
  const status = {
    pid: process.pid,
    ready: daemon.readiness().ready,
    source: { records: s.records, batches: s.batches, skipped: s.skipped, position: s.position },
    counters: { ...daemon.pipeline.counters },
    deadLetter: deadLetter ? deadLetter.stats() : null,
    lastCheckpointAt: daemon.runner.status.lastCheckpointAt,
    transitions,
    lastTransitionAt,
  };
  const tmp = `${statusFile}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(status));
  renameSync(tmp, statusFile);
}

kafka.finished.catch((err) => {
  logger.fatal({ err }, 'kafka source failed');
  process.exit(1);
});

await daemon.start();
const timer = setInterval(writeStatus, 100);
writeStatus();

let stopping = false;
const stop = (signal) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  clearInterval(timer);
  daemon.stop().then(
    () => {
      writeStatus();
      logger.flush();
      process.exit(0);
    },
    (err) => {
      logger.error({ err }, 'stop failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
