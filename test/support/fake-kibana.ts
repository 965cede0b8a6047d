import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for Kibana's saved-objects import API, following the documented behaviour
 * (POST /api/saved_objects/_import and /s/<space>/api/saved_objects/_import):
 *
 * - `kbn-xsrf` header required, else 400 "Request must contain a kbn-xsrf header.";
 * - body must be multipart/form-data (else 415) with a `file` field (else 400) whose file name ends
 *   in `.ndjson` (else 400 "Invalid file extension .x");
 * - `overwrite` and `createNewCopies` together: 400;
 * - an unknown space: 404; missing/wrong credentials when `auth` is configured: 401;
 * - per object: `unsupported_type` for types it does not know, `missing_references` when a
 *   reference names an object that is neither in the file nor already in the space, `conflict`
 *   when the object exists and `overwrite` is not set; otherwise it is stored;
 * - 200 `{ success, successCount, successResults: [{type,id,meta:{title,icon},overwrite?}],
 *   warnings: [], errors?: [{type,id,title,meta,error:{type,...}}] }` (`errors` only when there are some).
 */

export interface FakeKibanaObject {
  type: string;
  id: string;
  attributes: Record<string, unknown>;
  references: { name: string; type: string; id: string }[];
}

export interface FakeKibanaCall {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  status: number;
  fileName?: string;
  fileText?: string;
}

export interface FakeKibanaOptions {
  /** Spaces that exist besides `default`. */
  spaces?: string[];
  /** Require `Authorization: ApiKey <apiKey>` or basic credentials. */
  auth?: { apiKey?: string; username?: string; password?: string };
  /** Types it accepts (default: the common 8.x types). */
  types?: string[];
}

const DEFAULT_TYPES = [
  'index-pattern',
  'search',
  'visualization',
  'dashboard',
  'lens',
  'map',
  'tag',
  'config',
];

export class FakeKibana {
  readonly calls: FakeKibanaCall[] = [];
  /** Stored objects per space: `space → "type/id" → object`. */
  readonly spaces = new Map<string, Map<string, FakeKibanaObject>>();
  private readonly types: Set<string>;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly options: FakeKibanaOptions,
  ) {
    this.types = new Set(options.types ?? DEFAULT_TYPES);
    for (const s of ['default', ...(options.spaces ?? [])]) this.spaces.set(s, new Map());
  }

  static async start(options: FakeKibanaOptions = {}): Promise<FakeKibana> {
    const holder: { fake?: FakeKibana } = {};
    const server = createServer((req, res) => {
      void (holder.fake as FakeKibana).handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    holder.fake = new FakeKibana(server, `http://127.0.0.1:${port}`, options);
    return holder.fake;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  objects(space = 'default'): FakeKibanaObject[] {
    return [...(this.spaces.get(space)?.values() ?? [])];
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://x');
    const call: FakeKibanaCall = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      status: 0,
    };
    this.calls.push(call);
    const reply = (status: number, payload: unknown) => {
      call.status = status;
      const text = JSON.stringify(payload);
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    };
    const error = (status: number, name: string, message: string) =>
      reply(status, { statusCode: status, error: name, message });

    const m = /^(?:\/s\/([^/]+))?\/api\/saved_objects\/_import$/.exec(url.pathname);
    if (!m) return error(404, 'Not Found', 'Not Found');
    if (call.method !== 'POST') return error(404, 'Not Found', 'Not Found');
    if (!this.authorized(req.headers.authorization))
      return error(401, 'Unauthorized', '[security_exception]: unable to authenticate user');
    if (req.headers['kbn-xsrf'] === undefined)
      return error(400, 'Bad Request', 'Request must contain a kbn-xsrf header.');
    const space = m[1] ? decodeURIComponent(m[1]) : 'default';
    const store = this.spaces.get(space);
    if (!store) return error(404, 'Not Found', 'Not Found');
    const overwrite = url.searchParams.get('overwrite') === 'true';
    if (overwrite && url.searchParams.get('createNewCopies') === 'true')
      return error(400, 'Bad Request', 'cannot use [overwrite] with [createNewCopies]');
    const contentType = req.headers['content-type'] ?? '';
    if (!contentType.startsWith('multipart/form-data'))
      return error(415, 'Unsupported Media Type', 'Unsupported Media Type');

    let form: FormData;
    try {
      form = await new Request('http://x/', {
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
      }).formData();
    } catch (err) {
      return error(400, 'Bad Request', `invalid multipart payload: ${(err as Error).message}`);
    }
    const file = form.get('file');
    if (!file || typeof file === 'string')
      return error(
        400,
        'Bad Request',
        '[request body.file]: expected value of type [Stream] but got [undefined]',
      );
    const fileName = (file as File).name;
    call.fileName = fileName;
    const ext = fileName.includes('.') ? fileName.slice(fileName.lastIndexOf('.')) : '';
    if (ext !== '.ndjson') return error(400, 'Bad Request', `Invalid file extension ${ext}`);
    const text = await file.text();
    call.fileText = text;

    const objects: FakeKibanaObject[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        objects.push(JSON.parse(line) as FakeKibanaObject);
      } catch {
        return error(400, 'Bad Request', 'Unexpected token in JSON');
      }
    }
    const inFile = new Set(objects.map((o) => `${o.type}/${o.id}`));
    const errors: unknown[] = [];
    const successResults: unknown[] = [];
    for (const o of objects) {
      const title =
        typeof o.attributes?.['title'] === 'string' ? (o.attributes['title'] as string) : undefined;
      const meta = { ...(title !== undefined ? { title } : {}), icon: iconOf(o.type) };
      const key = `${o.type}/${o.id}`;
      const fail = (err: Record<string, unknown>) =>
        errors.push({ id: o.id, type: o.type, title, meta, error: err });
      if (!this.types.has(o.type)) {
        fail({ type: 'unsupported_type' });
        continue;
      }
      const missing = (o.references ?? []).filter(
        (r) => !inFile.has(`${r.type}/${r.id}`) && !store.has(`${r.type}/${r.id}`),
      );
      if (missing.length > 0) {
        fail({ type: 'missing_references', references: missing.map((r) => ({ type: r.type, id: r.id })) });
        continue;
      }
      const exists = store.has(key);
      if (exists && !overwrite) {
        fail({ type: 'conflict' });
        continue;
      }
      store.set(key, { type: o.type, id: o.id, attributes: o.attributes, references: o.references ?? [] });
      successResults.push({ type: o.type, id: o.id, meta, ...(exists ? { overwrite: true } : {}) });
    }
    reply(200, {
      success: errors.length === 0,
      successCount: successResults.length,
      successResults,
      warnings: [],
      ...(errors.length > 0 ? { errors } : {}),
    });
  }

  private authorized(header: string | undefined): boolean {
    const auth = this.options.auth;
    if (!auth) return true;
    if (auth.apiKey && header === `ApiKey ${auth.apiKey}`) return true;
    if (
      auth.username &&
      header === `Basic ${Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')}`
    )
      return true;
    return false;
  }
}

function iconOf(type: string): string {
  switch (type) {
    case 'index-pattern':
      return 'indexPatternApp';
    case 'search':
      return 'discoverApp';
    case 'dashboard':
      return 'dashboardApp';
    default:
      return 'visualizeApp';
  }
}
