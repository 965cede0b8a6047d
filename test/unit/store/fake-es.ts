import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A small stand-in for the Elasticsearch REST API, enough for the indexer's unit tests with the real
 * @elastic/elasticsearch client (it answers with `x-elastic-product: Elasticsearch`, which the
 * client's product check requires):
 *
 * - `PUT /_index_template/<name>`, `PUT /<index>/_mapping`, `GET /_cluster/health`;
 * - `POST /_bulk` with `index` operations: `_id`, `version` + `version_type: external` (409
 *   version_conflict_engine_exception when not newer), per-item results in order;
 * - `GET /_cat/indices/<pattern>?format=json`, `DELETE /<a>,<b>`.
 *
 * Faults: `requestFaults` (whole-request status codes or `reset` to destroy the socket) are consumed
 * one per request (`hang` never answers); `itemFault(op)` may return a status + error type for one bulk item; `down` makes
 * every request fail with a reset connection.
 */

export interface StoredDoc {
  index: string;
  id: string;
  version: number;
  source: Record<string, unknown>;
}

export interface BulkOp {
  index: string;
  id: string | undefined;
  version?: number;
  versionType?: string;
  source: Record<string, unknown>;
}

export type RequestFault = number | 'reset' | 'hang';

export class FakeElasticsearch {
  readonly docs = new Map<string, StoredDoc>();
  readonly templates = new Map<string, unknown>();
  readonly indices = new Set<string>();
  readonly requests: { method: string; path: string }[] = [];
  /** Every bulk request's operations, in order. */
  readonly bulks: BulkOp[][] = [];
  requestFaults: RequestFault[] = [];
  /** Faults for template/mapping requests only (start-up tests). */
  templateFaults: RequestFault[] = [];
  itemFault: ((op: BulkOp) => { status: number; type: string; reason?: string } | undefined) | undefined;
  down = false;
  /** Behave like a cluster without x-pack's `flattened` field type. */
  rejectFlattened = false;
  private autoId = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeElasticsearch> {
    const holder: { fake?: FakeElasticsearch } = {};
    const server = createServer((req, res) => {
      void (holder.fake as FakeElasticsearch).handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const fake = new FakeElasticsearch(server, `http://127.0.0.1:${port}`);
    holder.fake = fake;
    server.on('connection', (s) => {
      fake.sockets.add(s);
      s.on('close', () => fake.sockets.delete(s));
    });
    return fake;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Documents of one index, by id. */
  docsIn(index: string): StoredDoc[] {
    return [...this.docs.values()].filter((d) => d.index === index);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    this.requests.push({ method, path: url.pathname });
    if (this.down) {
      req.socket.destroy();
      return;
    }
    const isTemplate = url.pathname.startsWith('/_index_template/') || url.pathname.endsWith('/_mapping');
    const fault =
      isTemplate && this.templateFaults.length > 0 ? this.templateFaults.shift() : this.requestFaults.shift();
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault === 'hang') return; // never answers (stop() destroys the socket)
    if (typeof fault === 'number') {
      return this.send(res, fault, {
        error: {
          type: fault === 429 ? 'es_rejected_execution_exception' : 'fake_fault',
          reason: `injected ${fault}`,
        },
        status: fault,
      });
    }

    if (method === 'PUT' && url.pathname.startsWith('/_index_template/')) {
      if (this.rejectFlattened && body.includes('"flattened"')) {
        const reason =
          'The mapper type [flattened] declared on field [evidence] does not exist. It might have been created within a future version or requires a plugin to be installed. Check the documentation.';
        return this.send(res, 400, {
          error: {
            type: 'illegal_argument_exception',
            reason: 'template after composition is invalid',
            caused_by: { type: 'mapper_parsing_exception', reason },
          },
          status: 400,
        });
      }
      this.templates.set(
        decodeURIComponent(url.pathname.slice('/_index_template/'.length)),
        JSON.parse(body),
      );
      return this.send(res, 200, { acknowledged: true });
    }
    if (method === 'PUT' && url.pathname.endsWith('/_mapping'))
      return this.send(res, 200, { acknowledged: true });
    if (method === 'GET' && url.pathname === '/_cluster/health')
      return this.send(res, 200, { status: 'green' });
    if (method === 'POST' && url.pathname === '/_bulk') return this.bulk(body, res);
    if (method === 'GET' && url.pathname.startsWith('/_cat/indices')) {
      const pattern = decodeURIComponent(url.pathname.slice('/_cat/indices/'.length));
      const re = new RegExp('^' + pattern.split('*').map(escapeRe).join('.*') + '$');
      return this.send(
        res,
        200,
        [...this.indices].filter((i) => re.test(i)).map((index) => ({ index })),
      );
    }
    if (method === 'DELETE') {
      const names = decodeURIComponent(url.pathname.slice(1)).split(',');
      for (const n of names) {
        if (n.includes('*'))
          return this.send(res, 400, { error: { type: 'illegal_argument_exception', reason: 'wildcard' } });
        this.indices.delete(n);
        for (const [k, d] of this.docs) if (d.index === n) this.docs.delete(k);
      }
      return this.send(res, 200, { acknowledged: true });
    }
    this.send(res, 404, { error: { type: 'not_found', reason: `${method} ${url.pathname}` }, status: 404 });
  }

  private bulk(body: string, res: ServerResponse): void {
    const lines = body.split('\n').filter((l) => l !== '');
    const ops: BulkOp[] = [];
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const action = JSON.parse(lines[i] as string) as {
        index: { _index: string; _id?: string; version?: number; version_type?: string };
      };
      const a = action.index;
      ops.push({
        index: a._index,
        id: a._id,
        ...(a.version !== undefined ? { version: a.version } : {}),
        ...(a.version_type !== undefined ? { versionType: a.version_type } : {}),
        source: JSON.parse(lines[i + 1] as string) as Record<string, unknown>,
      });
    }
    this.bulks.push(ops);
    let errors = false;
    const items = ops.map((op) => {
      const fault = this.itemFault?.(op);
      if (fault) {
        errors = true;
        return {
          index: {
            _index: op.index,
            _id: op.id,
            status: fault.status,
            error: { type: fault.type, reason: fault.reason ?? fault.type },
          },
        };
      }
      const id = op.id ?? `auto-${++this.autoId}`;
      const key = `${op.index}/${id}`;
      const existing = this.docs.get(key);
      let version: number;
      if (op.versionType === 'external') {
        if (existing && existing.version >= (op.version ?? 0)) {
          errors = true;
          return {
            index: {
              _index: op.index,
              _id: id,
              status: 409,
              error: {
                type: 'version_conflict_engine_exception',
                reason: `[${id}]: version conflict, current version [${existing.version}] is higher or equal to the one provided [${op.version}]`,
              },
            },
          };
        }
        version = op.version ?? 1;
      } else version = (existing?.version ?? 0) + 1;
      this.indices.add(op.index);
      this.docs.set(key, { index: op.index, id, version, source: op.source });
      return {
        index: {
          _index: op.index,
          _id: id,
          status: existing ? 200 : 201,
          result: existing ? 'updated' : 'created',
        },
      };
    });
    this.send(res, 200, { took: 1, errors, items });
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'x-elastic-product': 'Elasticsearch',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
