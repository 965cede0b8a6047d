import type { Severity } from '../audit/event.js';

/** Who a signal or alert is about; only non-secret identity facts. */
export interface IdentityRef {
  /** Baseline key (`entity:...`, `name:...`, `token:tr_...`, `anon:...`). */
  key?: string;
  entityId?: string;
  displayName?: string;
  /** Non-secret reference to the token (see audit/secrets.ts tokenRef). */
  tokenRef?: string;
  authMount?: string;
}

/**
 * Why a score is what it is. `observed`/`expected`/`window` are the common vocabulary; analyzers add
 * their own keys (baselineSize, stddev, pValue, distinctUsers, ...). Never secrets.
 */
export interface Evidence {
  observed?: number | string;
  expected?: number | string;
  window?: string;
  [key: string]: unknown;
}

/** What a detector says about one group (identity, source, path...) at one point in event time. */
export interface Signal {
  /** Id of the detector file that produced it. */
  detector: string;
  /** The group this signal is about; with the detector id it makes the alert fingerprint. */
  groupKey: string;
  /** Event time (epoch ms) of the signal: the event or tick that produced it. */
  at: number;
  /** Strength of the signal: -log10 p for statistical analyzers, a fixed value for rules. */
  score: number;
  severity: Severity;
  title: string;
  /** One plain sentence a responder can act on: what, who, from where, why unusual. No secrets. */
  summary: string;
  /** A short phrase for lists (compound risk): "412 secret reads in 5m (usually 3)". */
  headline?: string;
  identity?: IdentityRef;
  sourceAddresses: string[];
  paths: string[];
  /** Ids of the access events that drove the signal (request ids), capped. */
  eventIds: string[];
  firstEventAt: number;
  lastEventAt: number;
  /**
   * Events this signal adds to its alert: those not already reported by an earlier signal of the same
   * group (a rule hit: 1; a window analyzer re-signalling a growing burst: the growth).
   */
  eventCount: number;
  evidence: Evidence;
  /**
   * Weak signals are not alerts by themselves: they feed the compound identity-risk detector, which
   * raises one alert when several coincide.
   */
  weak?: boolean;
  /** Detector family (privilege, volume, novelty, auth, cardinality, availability, hygiene). */
  family?: string;
  /** A signal that marks the end of the condition (e.g. stream recovered): resolves the alert. */
  clear?: boolean;
}

/** The most event ids a signal keeps (they go into alert records and Elasticsearch). */
export const MAX_SIGNAL_EVENT_IDS = 20;
