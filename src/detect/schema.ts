import { z } from 'zod';
import { ACCESS_KINDS, OUTCOMES, SEVERITIES } from '../audit/event.js';
import { duration } from '../util/duration.js';

/**
 * The shape of a detector file (`detectors/<id>.yaml`). Analyzer parameters are validated by the
 * analyzer's own schema once the file's `analyzer.type` is known (see ./analyzers/index.ts).
 */

const list = <T extends z.ZodTypeAny>(item: T) =>
  z.union([item, z.array(item).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]) as z.infer<T>[]);

export const identityFilterSchema = z.strictObject({
  /** The token carries the `root` policy. */
  root: z.boolean().optional(),
  /** No token was resolved (logins, bad tokens). */
  anonymous: z.boolean().optional(),
  /** Any of these policies. */
  policies: list(z.string()).optional(),
  /** Globs on the key (`entity:...`, `name:...`). */
  key: list(z.string()).optional(),
  entity_id: list(z.string()).optional(),
  /** Globs on the display name (`userpass-*`, `kubernetes-prod-*`). */
  display_name: list(z.string()).optional(),
  auth_method: list(z.string()).optional(),
  token_type: list(z.string()).optional(),
  /** Human identities: logged in through a method people use (userpass, ldap, oidc, okta...). */
  human: z.boolean().optional(),
});

export const matchSchema = z.strictObject({
  kind: list(z.enum(ACCESS_KINDS as [string, ...string[]])).optional(),
  operation: list(z.string()).optional(),
  /** Path globs (picomatch): `sys/audit/*`, `secret/data/**`. */
  path: list(z.string()).optional(),
  mount_type: list(z.string()).optional(),
  mount_point: list(z.string()).optional(),
  outcome: list(z.enum(OUTCOMES as [string, ...string[]])).optional(),
  error_class: list(z.string()).optional(),
  namespace: list(z.string()).optional(),
  /** Source addresses inside any of these CIDRs (`10.0.0.0/8`, `2001:db8::/32`). */
  source_cidr: list(z.string()).optional(),
  login_user: list(z.string()).optional(),
  identity: identityFilterSchema.optional(),
});
export type MatchSpec = z.infer<typeof matchSchema>;

export const GROUP_KEYS = [
  'identity',
  'source',
  'source_network',
  'path',
  'path_prefix',
  'login_user',
  'namespace',
  'mount',
  'operation',
  'detector',
] as const;
export type GroupKeyPart = (typeof GROUP_KEYS)[number];

const testEventSchema = z
  .object({
    /** A raw audit line (request or response entry) instead of a normalised event. */
    line: z.string().optional(),
    /** Offset from the test's start time for this event (`+0s`, `+90s`); defaults to 1s after the previous one. */
    after: duration.optional(),
    /** Repeat this event n times, `every` apart. */
    repeat: z.number().int().positive().max(100_000).optional(),
    every: duration.optional(),
  })
  .catchall(z.unknown());

export const detectorTestSchema = z.strictObject({
  name: z.string().min(1),
  /** Event time of the first event (ISO); defaults to a Monday 10:00 UTC. */
  start: z.string().optional(),
  events: z.array(testEventSchema).min(1),
  /** Advance event time to this offset after the last event (lets windows close and ticks run). */
  advance: duration.optional(),
  expect: z.strictObject({
    signals: z.number().int().nonnegative().optional(),
    min_signals: z.number().int().nonnegative().optional(),
    /** How many of the signals are weak (routine or below threshold: they feed identity risk only). */
    weak_signals: z.number().int().nonnegative().optional(),
    severity: z.enum(SEVERITIES as [string, ...string[]]).optional(),
    group: z.string().optional(),
    summary_contains: z.string().optional(),
  }),
});
export type DetectorTest = z.infer<typeof detectorTestSchema>;

export const detectorSchema = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/, 'use lower-case letters, digits and dashes (it names the runbook too)'),
  title: z.string().min(3),
  description: z.string().min(10),
  severity: z.enum(SEVERITIES as [string, ...string[]]),
  /** Detector family, for compound risk diversity and reporting. */
  family: z.enum([
    'privilege',
    'volume',
    'novelty',
    'network',
    'time',
    'auth',
    'cardinality',
    'availability',
    'hygiene',
    'risk',
  ]),
  enabled: z.boolean().default(true),
  /** Why it matters, one sentence appended to every alert summary. */
  why: z.string().min(10),
  /** The first containment step, shown in chat messages. */
  first_step: z.string().min(5).optional(),
  match: matchSchema.default({}),
  /** Allowlist: an event matching any of these filters is ignored by this detector. */
  exclude: z.array(matchSchema).default([]),
  group_by: list(z.enum(GROUP_KEYS)).default(['identity']),
  /** Depth of `path_prefix` in group_by (segments kept). */
  path_depth: z.number().int().min(1).max(16).default(3),
  analyzer: z.looseObject({ type: z.string().min(1) }),
  /** Signals are weak: they feed compound identity risk instead of alerting alone. */
  weak: z.boolean().default(false),
  /** Quiet period after which an open alert resolves. */
  resolve_after: duration.default(3_600_000),
  runbook: z.string().regex(/^runbooks\/[a-z0-9-]+\.md$/, 'a path like runbooks/<detector-id>.md'),
  labels: z.record(z.string(), z.string()).default({}),
  tests: z.array(detectorTestSchema).default([]),
});
export type DetectorFile = z.infer<typeof detectorSchema>;

/** Per-environment tuning from configuration, merged over the file. */
export const detectorOverrideSchema = z.strictObject({
  enabled: z.boolean().optional(),
  severity: z.enum(SEVERITIES as [string, ...string[]]).optional(),
  weak: z.boolean().optional(),
  resolve_after: duration.optional(),
  /** Merged over the file's analyzer parameters. */
  analyzer: z.record(z.string(), z.unknown()).optional(),
  /** Added to the file's allowlist. */
  exclude: z.array(matchSchema).optional(),
  labels: z.record(z.string(), z.string()).optional(),
});
export type DetectorOverride = z.infer<typeof detectorOverrideSchema>;
