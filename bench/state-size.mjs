// Child of bench/run.mjs: run many identities through the pipeline and measure the state it keeps.
// Each identity: a login and ~20 accesses over 8 days (enough to pass warm-ups and fill baselines),
// reading a few paths of its own from its own /24, with a tenth of them people using userpass.
import { serialize } from 'node:v8';
import { loadConfig } from '../dist/config/load.js';
import { createPipeline, loadConfiguredDetectors } from '../dist/core.js';
import { eventFromSpec } from '../dist/detect/testing.js';
import { emptyOutput } from '../dist/pipeline.js';

const identities = Number(process.argv[2] ?? 100_000);
const { config } = loadConfig({ environment: 'development' });
const detectors = loadConfiguredDetectors(config);
const gc = globalThis.gc ?? (() => {});
gc();
const before = process.memoryUsage().heapUsed;
const pipeline = createPipeline(config, detectors);
const T0 = Date.parse('2026-01-05T00:00:00Z');
const DAY = 86_400_000;
const perIdentity = 20;
let events = 0;
// Events in time order: round r of every identity, then round r + 1 ...
for (let r = 0; r < perIdentity; r++) {
  const out = emptyOutput();
  for (let i = 0; i < identities; i++) {
    const human = i % 10 === 0;
    const t = T0 + Math.floor(((r + (i % 97) / 97) * 8 * DAY) / perIdentity);
    const spec = {
      operation: r === 0 ? 'update' : r % 7 === 0 ? 'list' : 'read',
      path:
        r === 0
          ? human
            ? `auth/userpass/login/user${i}`
            : 'auth/approle/login'
          : `secret/data/team-${i % 50}/svc-${i}/key-${r % 4}`,
      mount_point: r === 0 ? (human ? 'auth/userpass/' : 'auth/approle/') : 'secret/',
      mount_type: r === 0 ? (human ? 'userpass' : 'approle') : 'kv',
      remote_address: `10.${(i >> 8) & 255}.${i & 255}.${(r % 3) + 10}`,
      id: `req-${i}-${r}`,
      identity: {
        entity_id: `entity-${i}`,
        display_name: human ? `userpass-user${i}` : 'approle',
        policies: ['default', `team-${i % 50}`],
        // One live token per identity, as after a login: the per-token detectors hold state too.
        token_ref: `tok-${i}`,
      },
    };
    pipeline.processEvent(eventFromSpec(spec, t, 0), out);
    events++;
  }
}
gc();
const heapBytes = process.memoryUsage().heapUsed - before;
const checkpointBytes = serialize(pipeline.snapshot()).length;
console.log(
  JSON.stringify({
    identities,
    events,
    detectors: detectors.length,
    heapBytes,
    checkpointBytes,
    groups: pipeline.engine.sizes(),
  }),
);
