import { z } from 'zod';
import { SEVERITIES } from '../audit/event.js';
import { detectorOverrideSchema, matchSchema } from '../detect/schema.js';
import { duration } from '../util/duration.js';

/**
 * Vigil's configuration. Files never hold secrets: a credential is named by the environment
 * variable that carries it (`*_env` keys); the variable `<NAME>_FILE` may point at a file instead.
 * Unknown keys are errors, so a typo does not silently fall back to a default.
 */

const severity = z.enum(SEVERITIES as [string, ...string[]]);
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name (A-Z, 0-9, _)');
const bytes = z.number().int().positive();

const fileSourceSchema = z.strictObject({
  enabled: z.boolean().default(false),
  path: z.string().default('var/vault-audit.log'),
  start_at: z.enum(['end', 'beginning']).default('end'),
  poll_interval: duration.default(250),
});

const socketSourceSchema = z.strictObject({
  enabled: z.boolean().default(false),
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(9090),
  max_connections: z.number().int().positive().default(64),
});

const stdinSourceSchema = z.strictObject({ enabled: z.boolean().default(false) });

const saslSchema = z.strictObject({
  mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
  username: z.string(),
  password_env: envName.default('VIGIL_KAFKA_PASSWORD'),
});

const tlsSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** PEM file of the CA that signed the server certificate. */
  ca_file: z.string().optional(),
  /** Client certificate and key for mutual TLS. */
  cert_file: z.string().optional(),
  key_file: z.string().optional(),
  reject_unauthorized: z.boolean().default(true),
});

const kafkaSourceSchema = z.strictObject({
  enabled: z.boolean().default(false),
  brokers: z.array(z.string()).default(['127.0.0.1:9092']),
  client_id: z.string().default('vigil'),
  group_id: z.string().default('vigil'),
  topics: z.array(z.string()).min(1).default(['vault-audit']),
  from_beginning: z.boolean().default(false),
  dead_letter_topic: z.string().optional(),
  tls: tlsSchema.prefault({}),
  sasl: saslSchema.optional(),
  /** Most records handled per pipeline step (a Kafka batch is split into steps of this size). */
  max_batch: z.number().int().positive().default(5000),
  session_timeout: duration.default(30_000),
});

const elasticsearchSchema = z.strictObject({
  enabled: z.boolean().default(false),
  url: z.string().default('http://127.0.0.1:9200'),
  /** Index name prefix: `<prefix>-events-YYYY.MM.DD`, `<prefix>-alerts`. */
  index_prefix: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]*$/)
    .default('vigil'),
  /** Which access events are indexed: all, or only failures, sys/ operations and those behind a signal. */
  events: z.enum(['all', 'notable', 'none']).default('all'),
  username: z.string().optional(),
  password_env: envName.default('VIGIL_ES_PASSWORD'),
  api_key_env: envName.default('VIGIL_ES_API_KEY'),
  ca_file: z.string().optional(),
  flush_interval: duration.default(1000),
  flush_bytes: bytes.default(5 * 1024 * 1024),
  retention: duration.default(30 * 86_400_000),
});

const receiverSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('slack'),
    name: z.string(),
    channel: z.string(),
    token_env: envName.default('VIGIL_SLACK_TOKEN'),
    /** Mention these (`<!here>`, `<@U123>`, `<!subteam^S123>`) on critical alerts. */
    mention_on_critical: z.array(z.string()).default([]),
    /** API base URL (tests point it at a local server). */
    api_url: z.string().optional(),
  }),
  z.strictObject({
    type: z.literal('pagerduty'),
    name: z.string(),
    routing_key_env: envName.default('VIGIL_PAGERDUTY_ROUTING_KEY'),
    url: z.string().default('https://events.pagerduty.com/v2/enqueue'),
  }),
  z.strictObject({
    type: z.literal('webhook'),
    name: z.string(),
    url: z.string(),
    secret_env: envName.default('VIGIL_WEBHOOK_SECRET'),
  }),
]);

export interface RouteConfig {
  match?: {
    environment?: string[];
    severity?: string[];
    min_severity?: string;
    detector?: string[];
    family?: string[];
    labels?: Record<string, string>;
  };
  receivers?: string[];
  /** Stop at this route when it matches (default), or keep looking at later siblings. */
  continue?: boolean;
  routes?: RouteConfig[];
}

const routeSchema: z.ZodType<RouteConfig> = z.lazy(() =>
  z.strictObject({
    match: z
      .strictObject({
        environment: z.array(z.string()).optional(),
        severity: z.array(severity).optional(),
        min_severity: severity.optional(),
        detector: z.array(z.string()).optional(),
        family: z.array(z.string()).optional(),
        labels: z.record(z.string(), z.string()).optional(),
      })
      .optional(),
    receivers: z.array(z.string()).optional(),
    continue: z.boolean().optional(),
    routes: z.array(routeSchema).optional(),
  }),
);

const silenceSchema = z.strictObject({
  id: z.string().optional(),
  matchers: z.strictObject({
    detector: z.array(z.string()).optional(),
    identity: z.array(z.string()).optional(),
    path: z.array(z.string()).optional(),
    source_cidr: z.array(z.string()).optional(),
    environment: z.array(z.string()).optional(),
  }),
  starts_at: z.string().optional(),
  ends_at: z.string(),
  author: z.string(),
  reason: z.string().min(3),
});

const maintenanceSchema = z.strictObject({
  name: z.string(),
  /** Cron expression (5 fields) for when the window starts, in `time_zone`. */
  cron: z.string(),
  duration: duration,
  matchers: silenceSchema.shape.matchers.prefault({}),
});

const scheduleSchema = z.strictObject({
  name: z.string().min(1),
  /** Cron expression (5 fields, or 6 with seconds first) for when the window opens, in `time_zone`. */
  cron: z.string(),
  duration: duration,
  /** Which events the schedule covers (same shape as a detector's match), usually an identity. */
  match: matchSchema,
  /** Detector ids it exempts; absent = every baseline-driven detector. */
  detectors: z.array(z.string()).min(1).optional(),
});

const inhibitSchema = z.strictObject({
  /** While an alert of these detectors is open ... */
  source_detector: z.array(z.string()).min(1),
  /** ... alerts of these detectors are recorded but not notified. */
  target_detector: z.array(z.string()).min(1),
  /** Only when both alerts agree on these fields (`identity`, `namespace`); empty = always. */
  equal: z.array(z.enum(['identity', 'namespace', 'source'])).default([]),
});

const rotationPolicySchema = z.strictObject({
  name: z.string(),
  paths: z.array(z.string()).min(1),
  operations: z.array(z.string()).default(['create', 'update']),
  /** Longest allowed time between rotations, or `auto` to learn each path's cadence. */
  max_age: z.union([z.literal('auto'), duration]).default('auto'),
});

export const configSchema = z.strictObject({
  environment: z.string().default('development'),
  time_zone: z.string().default('UTC'),
  state: z
    .strictObject({
      dir: z.string().default('var/state'),
      snapshot_interval: duration.default(30_000),
    })
    .prefault({}),
  detectors: z
    .strictObject({
      dir: z.string().default('detectors'),
      overrides: z.record(z.string(), detectorOverrideSchema).prefault({}),
    })
    .prefault({}),
  runbooks: z
    .strictObject({
      dir: z.string().default('runbooks'),
      /** Base URL for runbook links; the detector's runbook path is appended. Empty: no link. */
      base_url: z.string().default(''),
    })
    .prefault({}),
  pipeline: z
    .strictObject({
      tick: duration.default(10_000),
      response_timeout: duration.default(60_000),
      update_interval: duration.default(300_000),
      max_line_bytes: bytes.default(1024 * 1024),
      /** Daemon: advance time with the wall clock after the stream has been idle this long. */
      idle_advance_after: duration.default(5_000),
      /**
       * Parse large batches on a worker thread, one batch ahead of detection (the results are the
       * same; throughput is higher on a machine with a spare core).
       */
      parse_worker: z.boolean().default(true),
    })
    .prefault({}),
  sources: z
    .strictObject({
      file: fileSourceSchema.prefault({}),
      socket: socketSourceSchema.prefault({}),
      stdin: stdinSourceSchema.prefault({}),
      kafka: kafkaSourceSchema.prefault({}),
    })
    .prefault({}),
  dead_letter: z
    .strictObject({
      path: z.string().default('var/dead-letter.ndjson'),
      /** Rotated by the retention job past this size; `keep` old files are kept. */
      max_bytes: bytes.default(64 * 1024 * 1024),
      keep: z.number().int().min(0).default(3),
    })
    .prefault({}),
  outputs: z
    .strictObject({
      alert_log: z
        .strictObject({
          path: z.string().default('var/alerts.ndjson'),
          /** Rotated by the retention job past this size; `keep` old files are kept. */
          max_bytes: bytes.default(256 * 1024 * 1024),
          keep: z.number().int().min(0).default(5),
        })
        .prefault({}),
      /** Pretty alert lines on the console: auto = when stdout is a terminal. */
      console: z.enum(['auto', 'always', 'never']).default('auto'),
      elasticsearch: elasticsearchSchema.prefault({}),
    })
    .prefault({}),
  kibana: z
    .strictObject({
      /** Base URL of Kibana for deep links in alerts (empty: no link). */
      url: z.string().default(''),
      events_data_view: z.string().default('vigil-events'),
    })
    .prefault({}),
  notify: z
    .strictObject({
      receivers: z.array(receiverSchema).default([]),
      route: routeSchema.prefault({}),
      /** Chat updates for an open alert at most this often, unless its severity rises. */
      update_throttle: duration.default(15 * 60_000),
      /** Alerts on one identity within this window share an incident thread. */
      incident_window: duration.default(30 * 60_000),
      /** A notification that still fails after this long goes to the dead-letter list. */
      give_up_after: duration.default(24 * 3_600_000),
      /** Readiness reports notifications as failing when one has waited longer than this. */
      stuck_after: duration.default(10 * 60_000),
    })
    .prefault({}),
  silences: z.array(silenceSchema).default([]),
  maintenance: z.array(maintenanceSchema).default([]),
  /** Known schedules: expected activity at known times, exempt from the baseline detectors then. */
  schedules: z.array(scheduleSchema).default([]),
  inhibit: z.array(inhibitSchema).default([]),
  rotation: z.strictObject({ policies: z.array(rotationPolicySchema).default([]) }).prefault({}),
  /** Scheduled jobs (cron, six fields allowed with seconds first; in `time_zone`). Empty disables one. */
  jobs: z
    .strictObject({
      /** Advance time while the stream is idle: quiet alerts resolve, silence and overdue rotations are noticed. */
      clock: z.string().default('*/2 * * * * *'),
      /** Daily digest to chat receivers. */
      digest: z.string().default('0 9 * * *'),
      /** Rotate local files, delete expired Elasticsearch indices, compact the outbox. */
      retention: z.string().default('17 3 * * *'),
    })
    .prefault({}),
  http: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(9464),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      /** Human-readable logs: auto = when stderr is a terminal. */
      pretty: z.enum(['auto', 'always', 'never']).default('auto'),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ReceiverConfig = z.infer<typeof receiverSchema>;
export type SilenceConfig = z.infer<typeof silenceSchema>;
export type MaintenanceConfig = z.infer<typeof maintenanceSchema>;
export type InhibitConfig = z.infer<typeof inhibitSchema>;
