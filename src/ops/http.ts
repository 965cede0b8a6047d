import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface ReadinessCheck {
  ok: boolean;
  detail?: string;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, ReadinessCheck>;
}

export interface OpsServerOptions {
  host: string;
  port: number;
  metrics: Metrics;
  readiness: () => Readiness;
  /** Bring gauges up to date before `/metrics` is rendered. */
  beforeScrape?: () => void;
  logger: Logger;
}

export interface OpsServer {
  address(): { host: string; port: number };
  close(): Promise<void>;
}

/**
 * `/healthz` (the process answers), `/readyz` (sources connected, state restored, outputs reachable;
 * 503 with the failing checks otherwise) and `/metrics` (Prometheus text format). Bound to loopback by
 * default: it reveals operational detail, never secrets.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(body) + '\n');
    };
    if (url === '/healthz') return json(200, { status: 'ok' });
    if (url === '/readyz') {
      const r = options.readiness();
      options.metrics.ready.set(r.ready ? 1 : 0);
      return json(r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', checks: r.checks });
    }
    if (url === '/metrics') {
      const r = options.readiness();
      options.metrics.ready.set(r.ready ? 1 : 0);
      options.beforeScrape?.();
      options.metrics.text().then(
        (text) => {
          res.writeHead(200, { 'content-type': options.metrics.contentType });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (err: unknown) => {
          options.logger.error({ err }, 'metrics rendering failed');
          res.writeHead(500).end();
        },
      );
      return;
    }
    json(404, { error: 'not found', endpoints: ['/healthz', '/readyz', '/metrics'] });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  options.logger.info({ host: a.address, port: a.port }, 'health and metrics endpoint listening');
  return {
    address: () => ({ host: a.address, port: a.port }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
