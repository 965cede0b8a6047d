import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Config } from '../config/schema.js';
import type { Alert } from './alert.js';
import { discoverLink } from './kibana-link.js';

/** Environment-specific decoration of alerts: environment name and links. Pure; set at emit time. */
export function alertDecorator(
  config: Pick<Config, 'environment' | 'runbooks' | 'kibana'>,
  extra?: (alert: Alert) => void,
) {
  const base = config.runbooks.base_url;
  const kibana = config.kibana;
  return (alert: Alert): void => {
    alert.environment = config.environment;
    // Without a base URL the runbook is linked where it is installed, which a terminal can open.
    alert.links.runbook = base
      ? joinUrl(base, alert.runbook)
      : pathToFileURL(join(config.runbooks.dir, basename(alert.runbook))).href;
    // Discover, filtered to the identity (or source) and the alert's time window.
    if (kibana.url) {
      const link = discoverLink({ kibanaUrl: kibana.url, dataViewId: kibana.events_data_view, alert });
      if (link) alert.links.kibana = link;
    }
    extra?.(alert);
  };
}

function joinUrl(base: string, path: string): string {
  return base.endsWith('/') ? base + path : `${base}/${path}`;
}
