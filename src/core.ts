import { alertDecorator } from './alerts/decorate.js';
import { AlertPolicy } from './alerts/policy.js';
import type { SilenceStore } from './alerts/silences.js';
import type { Config } from './config/schema.js';
import type { AnalyzerEnv, Detector } from './detect/analyzer.js';
import { loadDetectors } from './detect/loader.js';
import { applySchedules, type KnownSchedule } from './detect/schedules.js';
import { Pipeline } from './pipeline.js';

/** The analyzer environment a configuration describes. */
export function analyzerEnv(config: Config): AnalyzerEnv {
  return {
    timeZone: config.time_zone,
    rotationPolicies: config.rotation.policies.map((p) => ({
      name: p.name,
      paths: p.paths,
      operations: p.operations,
      maxAgeMs: p.max_age === 'auto' ? null : p.max_age,
    })),
  };
}

/** The detectors a configuration describes: files, per-environment overrides and known schedules. */
export function loadConfiguredDetectors(config: Config): Detector[] {
  return applySchedules(
    loadDetectors(config.detectors.dir, { overrides: config.detectors.overrides }),
    knownSchedules(config),
    config.time_zone,
  );
}

export function knownSchedules(config: Config): KnownSchedule[] {
  return config.schedules.map((s) => ({
    name: s.name,
    cron: s.cron,
    durationMs: s.duration,
    match: s.match,
    ...(s.detectors ? { detectors: s.detectors } : {}),
  }));
}

export interface CoreOptions {
  /** Silences in effect (the daemon's store in the state directory); none when absent. */
  silences?: Pick<SilenceStore, 'match'>;
  collectEvents?: boolean;
  collectSignals?: boolean;
}

/** Incidents, maintenance windows, inhibition and silences, as a configuration describes them. */
export function alertPolicy(config: Config, silences?: Pick<SilenceStore, 'match'>): AlertPolicy {
  return new AlertPolicy({
    incidentWindowMs: config.notify.incident_window,
    timeZone: config.time_zone,
    maintenance: config.maintenance,
    inhibit: config.inhibit,
    ...(silences ? { silences } : {}),
  });
}

/** The pure detection core for a configuration: the same for the daemon, replay and tests. */
export function createPipeline(
  config: Config,
  detectors: readonly Detector[],
  options: CoreOptions = {},
): Pipeline {
  return new Pipeline({
    detectors,
    env: analyzerEnv(config),
    tickMs: config.pipeline.tick,
    pairer: { responseTimeoutMs: config.pipeline.response_timeout },
    lifecycle: { updateIntervalMs: config.pipeline.update_interval },
    decorate: alertDecorator(config),
    policy: alertPolicy(config, options.silences),
    collectEvents: options.collectEvents ?? false,
    collectSignals: options.collectSignals ?? false,
  });
}
