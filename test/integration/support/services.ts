/**
 * Where the real Kafka broker and Elasticsearch node for integration tests are.
 *
 * Start them with `scripts/services/up.sh` (no Docker needed); it prints:
 *   export VIGIL_KAFKA_BROKERS=127.0.0.1:9092     (comma-separated host:port list)
 *   export VIGIL_ES_URL=http://127.0.0.1:9200
 *
 * Call these at the top level of a test file and gate the suite on the result:
 *
 *   const brokers = requireKafka();
 *   describe.skipIf(!brokers)('my kafka test', () => {
 *     const kafka = new Kafka({ clientId: 'x', brokers: brokers ?? [] });
 *   });
 *
 * When the variable is missing:
 *   - in CI (`CI=true`) they THROW, so the file fails instead of silently skipping;
 *   - elsewhere they return `undefined` and print the skip reason once.
 * They do not probe the service; a stopped service shows up as a connection error in the test.
 */

const HINT = 'run scripts/services/up.sh and export the variables it prints';
const warned = new Set<string>();

function missing(variable: string, service: string): undefined {
  const reason = `${variable} is not set: ${service} integration tests need a real ${service} (${HINT})`;
  if (process.env.CI === 'true') throw new Error(`${reason}. Refusing to skip in CI.`);
  if (!warned.has(variable)) {
    warned.add(variable);
    console.warn(`[skip] ${reason}`);
  }
  return undefined;
}

/** Kafka bootstrap brokers from VIGIL_KAFKA_BROKERS, e.g. `['127.0.0.1:9092']`. */
export function requireKafka(): string[] | undefined {
  const brokers = (process.env.VIGIL_KAFKA_BROKERS ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  return brokers.length > 0 ? brokers : missing('VIGIL_KAFKA_BROKERS', 'Kafka');
}

/** Elasticsearch base URL from VIGIL_ES_URL, e.g. `'http://127.0.0.1:9200'`. */
export function requireElasticsearch(): string | undefined {
  const url = process.env.VIGIL_ES_URL?.trim();
  return url ? url : missing('VIGIL_ES_URL', 'Elasticsearch');
}
