import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StepOutput } from '../pipeline.js';

/**
 * Prometheus metrics, one registry per daemon (tests run several). Names follow Prometheus
 * conventions: `_total` counters, `_seconds` durations, base units.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly events = this.counter('vigil_events_total', 'Accesses (request+response pairs) processed', [
    'source',
    'outcome',
  ]);
  readonly deadLettered = this.counter('vigil_dead_lettered_total', 'Malformed lines set aside', [
    'source',
    'reason',
  ]);
  readonly signals = this.counter('vigil_signals_total', 'Detector signals', ['detector', 'strength']);
  readonly alerts = this.counter('vigil_alerts_total', 'Alert transitions', [
    'action',
    'severity',
    'detector',
  ]);
  readonly notifications = this.counter('vigil_notifications_total', 'Notification attempts', [
    'receiver',
    'result',
  ]);
  readonly notificationLatency = new Histogram({
    name: 'vigil_notification_latency_seconds',
    help: 'From enqueue to successful delivery',
    labelNames: ['receiver'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly outboxDepth = this.gauge('vigil_outbox_depth', 'Notifications waiting for delivery', ['receiver']);
  readonly outboxDead = this.gauge(
    'vigil_outbox_dead_letters',
    'Notifications given up on (kept for inspection)',
    [],
  );
  readonly kafkaLag = this.gauge('vigil_kafka_consumer_lag', 'Messages behind the partition high watermark', [
    'topic',
    'partition',
  ]);
  readonly esBulkSeconds = new Histogram({
    name: 'vigil_elasticsearch_bulk_seconds',
    help: 'Elasticsearch bulk request latency',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly esFailures = this.counter(
    'vigil_elasticsearch_failures_total',
    'Elasticsearch documents or requests that failed',
    ['kind'],
  );
  readonly stateBytes = this.gauge('vigil_state_bytes', 'Size of the last state checkpoint', []);
  readonly stateGroups = this.gauge(
    'vigil_state_groups',
    'Groups (identities, sources...) each detector holds state for',
    ['detector'],
  );
  readonly openAlerts = this.gauge('vigil_open_alerts', 'Alerts currently open', []);
  readonly checkpointFailures = this.counter(
    'vigil_checkpoint_failures_total',
    'Checkpoints that could not be written',
    [],
  );
  readonly storageFailures = this.counter(
    'vigil_storage_write_failures_total',
    'Failed local writes by store (journal, outbox, alert-log, dead-letter); the daemon goes on from memory',
    ['store'],
  );
  readonly storageDropped = this.counter(
    'vigil_storage_dropped_total',
    'Records a store dropped because a failing disk held them in memory past its bound',
    ['store'],
  );
  readonly lastCheckpoint = this.gauge(
    'vigil_last_checkpoint_timestamp_seconds',
    'When the last checkpoint was written',
    [],
  );
  readonly eventTimeLag = this.gauge(
    'vigil_event_time_lag_seconds',
    'Wall clock minus the time of the newest audit entry read (grows while the audit stream is silent)',
    [],
  );
  readonly jobs = this.counter('vigil_jobs_total', 'Scheduled job runs', ['job', 'result']);
  readonly jobSeconds = new Histogram({
    name: 'vigil_job_seconds',
    help: 'Scheduled job duration',
    labelNames: ['job'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [this.registry],
  });
  readonly ready = this.gauge(
    'vigil_ready',
    '1 when the daemon is ready (sources connected, state restored, outputs reachable)',
    [],
  );

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics !== false)
      collectDefaultMetrics({ register: this.registry, prefix: 'vigil_' });
  }

  /** Count what one pipeline step produced. */
  recordStep(out: StepOutput, source: string | undefined): void {
    const src = source ?? 'clock';
    for (const e of out.events) this.events.inc({ source: src, outcome: e.outcome });
    for (const d of out.deadLetters) this.deadLettered.inc({ source: src, reason: reasonClass(d.reason) });
    for (const s of out.signals)
      this.signals.inc({ detector: s.detector, strength: s.weak ? 'weak' : 'alert' });
    for (const t of out.transitions) {
      this.alerts.inc({ action: t.action, severity: t.alert.severity, detector: t.alert.detector });
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }
}

/** Bounded label values for dead-letter reasons ("invalid JSON: unexpected token" → "invalid JSON"). */
export function reasonClass(reason: string): string {
  const head = reason.split(':')[0] ?? reason;
  return head.replace(/"[^"]*"/g, '…').slice(0, 60);
}
