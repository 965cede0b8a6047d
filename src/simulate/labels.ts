/**
 * The ground truth written beside a simulated audit log (`<output>.labels.json`). The evaluation
 * reads it only to score alerts, never to detect.
 */

export type Role = 'service' | 'ci' | 'batch' | 'rotation' | 'human' | 'admin' | 'monitor';

export const ROLES: readonly Role[] = ['service', 'ci', 'batch', 'rotation', 'human', 'admin', 'monitor'];

export const SCENARIO_KINDS = [
  'credential_stuffing',
  'password_spraying',
  'brute_force',
  'token_theft',
  'mass_secret_read',
  'enumeration',
  'privilege_escalation',
  'audit_disabled',
  'root_token',
  'slow_exfiltration',
  'denied_probing',
  'token_creation_spike',
  'stream_silence',
  'stopped_rotation',
] as const;

export type ScenarioKind = (typeof SCENARIO_KINDS)[number];

export type Family = 'privilege' | 'volume' | 'novelty' | 'auth' | 'cardinality' | 'availability' | 'hygiene';

export type Speed = 'fast' | 'slow';

export interface IdentityLabel {
  /** Simulator name of the identity (stable within a seed), e.g. `svc-payments-api`. */
  id: string;
  role: Role;
  /** The key Vigil's parser gives this identity (`entity:<id>` or `name:<display name>`). */
  key: string;
  entityId?: string;
  displayName: string;
  authMethod: string;
  team: string;
  policies: string[];
  /** Login user name in `auth/<mount>/login/<user>` (userpass, ldap). */
  loginUser?: string;
  /** Regular networks (CIDR) the identity uses. */
  homeNetworks: string[];
  /** Event time of the identity's first access in the log (ISO); absent if it never appeared. */
  firstSeen?: string;
  /** When the identity was planned to start (ISO): run start, or its arrival for a new hire/service. */
  plannedStart: string;
  /** Accesses written for this identity (benign traffic only). */
  accesses: number;
}

export interface ScenarioLabel {
  id: string;
  kind: ScenarioKind;
  speed: Speed;
  /** Event time of the first malicious event (ISO). */
  start: string;
  /** Event time of the last malicious event (ISO). */
  end: string;
  description: string;
  /** Detector families that should catch it. */
  expected: Family[];
  entityIds: string[];
  sourceAddresses: string[];
  loginUsers: string[];
  /** Display names of token-only actors (no entity), e.g. `root`. */
  displayNames: string[];
  /** Simulator identity ids involved (victims / insiders). */
  identities: string[];
  /** Sample of paths touched. */
  paths: string[];
  /** Parameters drawn for this instance (counts, durations, intensity). */
  params: Record<string, number | string | boolean>;
  /** Accesses written for it. */
  events: number;
}

export interface BenignEvent {
  kind: string;
  at: string;
  end?: string;
  identity?: string;
  entityId?: string;
  description: string;
  details?: Record<string, unknown>;
}

export interface SimLabels {
  generator: { name: 'vigil-simulate'; version: number };
  seed: number;
  parameters: Record<string, unknown>;
  timeRange: { start: string; end: string };
  warmupEnd: string;
  timeZone: string;
  identities: IdentityLabel[];
  scenarios: ScenarioLabel[];
  benignEvents: BenignEvent[];
  stats: { lines: number; accesses: number; benignAccesses: number; attackAccesses: number; bytes: number };
}

export const EXPECTED_FAMILIES: Record<ScenarioKind, Family[]> = {
  credential_stuffing: ['auth'],
  password_spraying: ['auth'],
  brute_force: ['auth'],
  token_theft: ['novelty'],
  mass_secret_read: ['volume', 'cardinality'],
  enumeration: ['cardinality', 'volume'],
  privilege_escalation: ['privilege', 'novelty'],
  audit_disabled: ['privilege'],
  root_token: ['privilege'],
  slow_exfiltration: ['novelty', 'volume', 'cardinality'],
  denied_probing: ['auth', 'cardinality'],
  token_creation_spike: ['volume'],
  stream_silence: ['availability'],
  stopped_rotation: ['hygiene'],
};

/** Kinds with no actor in the log (or a whole-stream effect): related by detector family instead. */
export const FAMILY_MATCHED_KINDS: ReadonlySet<ScenarioKind> = new Set([
  'stream_silence',
  'audit_disabled',
  'stopped_rotation',
]);

export function labelsPathFor(output: string): string {
  return `${output}.labels.json`;
}
