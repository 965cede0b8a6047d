import { severityRank, type Severity } from '../audit/event.js';
import type { RouteConfig } from '../config/schema.js';
import type { Alert } from './alert.js';

/**
 * The routing tree (in the spirit of Alertmanager's): a route matches on environment, severity,
 * detector, family and labels; the deepest matching routes decide the receivers. Children are tried
 * in order and the first match wins unless it says `continue: true`; when no child matches, the
 * route's own receivers apply. A route without `receivers` inherits its parent's; `receivers: []`
 * explicitly sends nowhere. The root route is the default for everything unmatched.
 */
export function receiversFor(alert: Alert, root: RouteConfig): string[] {
  const found = new Set<string>();
  walk(alert, root, found, []);
  return [...found];
}

function walk(alert: Alert, route: RouteConfig, found: Set<string>, inherited: string[]): boolean {
  if (!matches(alert, route)) return false;
  const own = route.receivers ?? inherited;
  let childMatched = false;
  for (const child of route.routes ?? []) {
    if (walk(alert, child, found, own)) {
      childMatched = true;
      if (!child.continue) break;
    }
  }
  if (!childMatched) for (const r of own) found.add(r);
  return true;
}

function matches(alert: Alert, route: RouteConfig): boolean {
  const m = route.match;
  if (!m) return true;
  if (m.environment && !(alert.environment !== undefined && m.environment.includes(alert.environment)))
    return false;
  if (m.severity && !m.severity.includes(alert.severity)) return false;
  if (m.min_severity && severityRank(alert.severity) < severityRank(m.min_severity as Severity)) return false;
  if (m.detector && !m.detector.includes(alert.detector)) return false;
  if (m.family && !(alert.family !== undefined && m.family.includes(alert.family))) return false;
  if (m.labels) {
    for (const [k, v] of Object.entries(m.labels)) if (alert.labels[k] !== v) return false;
  }
  return true;
}

/** Every receiver name a tree mentions (to check them against the configured receivers). */
export function receiverNames(route: RouteConfig, out = new Set<string>()): Set<string> {
  for (const r of route.receivers ?? []) out.add(r);
  for (const child of route.routes ?? []) receiverNames(child, out);
  return out;
}
