import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Config } from '../config/schema.js';
import type { Alert } from './alert.js';

/** Environment-specific decoration of alerts: environment name and links. Pure; set at emit time. */
export function alertDecorator(
  config: Pick<Config, 'environment' | 'runbooks'>,
  extra?: (alert: Alert) => void,
) {
  const base = config.runbooks.base_url;
  return (alert: Alert): void => {
    alert.environment = config.environment;
    // Without a base URL the runbook is linked where it is installed, which a terminal can open.
    alert.links.runbook = base
      ? joinUrl(base, alert.runbook)
      : pathToFileURL(join(config.runbooks.dir, basename(alert.runbook))).href;
    extra?.(alert);
  };
}

function joinUrl(base: string, path: string): string {
  return base.endsWith('/') ? base + path : `${base}/${path}`;
}
