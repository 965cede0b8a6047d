import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { scrubText } from '../audit/secrets.js';
import { PACKAGE_ROOT, readSecret } from '../config/load.js';

/**
 * Import Vigil's Kibana saved objects (data views, saved searches, dashboard) through Kibana's
 * saved-objects import API:
 *
 *   POST <kibana>[/s/<space>]/api/saved_objects/_import?overwrite=true
 *   kbn-xsrf: true
 *   multipart/form-data, field `file` = the NDJSON (file name must end in .ndjson)
 *   → { success, successCount, successResults?: [...], errors?: [...], warnings?: [...] }
 *
 * A 200 answer can still hold per-object errors (conflict, missing_references, unsupported_type,
 * unknown): `success` is what counts, not the HTTP status.
 */

export const DEFAULT_OBJECTS_FILE = join(PACKAGE_ROOT, 'kibana', 'objects.ndjson');
export const DEFAULT_KIBANA_PREFIX = 'vigil';

export interface SavedObject {
  type: string;
  id: string;
  attributes: Record<string, unknown>;
  references: { name: string; type: string; id: string }[];
  [key: string]: unknown;
}

export interface KibanaImportErrorItem {
  type: string;
  id: string;
  title?: string;
  meta?: { title?: string; icon?: string };
  error: {
    type: string;
    message?: string;
    statusCode?: number;
    references?: { type: string; id: string }[];
    [key: string]: unknown;
  };
}

export interface KibanaImportSuccessItem {
  type: string;
  id: string;
  destinationId?: string;
  /** Newer Kibanas spell it this way (destinationId is deprecated there). */
  destination_id?: string;
  overwrite?: boolean;
  meta?: { title?: string; icon?: string };
}

/** One line of the report: what happened to each object of the file. */
export interface ImportObjectResult {
  type: string;
  id: string;
  title?: string;
  success: boolean;
  overwritten?: boolean;
  /** Set when Kibana stored it under another id. */
  destinationId?: string;
  /** Why it failed (`conflict`, `missing_references: index-pattern/x`, ...). */
  error?: string;
}

export interface ImportSavedObjectsResult {
  success: boolean;
  successCount: number;
  errors: KibanaImportErrorItem[];
  successResults: KibanaImportSuccessItem[];
  warnings: unknown[];
  /** Per object of the file, in file order (objects Kibana did not mention are reported as failed). */
  objects: ImportObjectResult[];
}

export interface ImportSavedObjectsOptions {
  /** Kibana base URL (`https://kibana.example:5601`, may include a base path). */
  url: string;
  /** NDJSON file to import (default: the package's kibana/objects.ndjson). */
  file?: string;
  /** Kibana space id; default space when absent. */
  space?: string;
  /** Replace objects that exist (default true). */
  overwrite?: boolean;
  apiKey?: string;
  username?: string;
  password?: string;
  /** Rewrite the data views' index patterns for this index prefix (outputs.elasticsearch.index_prefix). */
  indexPrefix?: string;
  timeoutMs?: number;
  /** fetch implementation (tests); the global fetch of Node 20 otherwise. */
  fetch?: typeof fetch;
}

/** A request Kibana refused as a whole (bad URL, auth, xsrf, not Kibana ...). */
export class KibanaImportError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'KibanaImportError';
  }
}

/** Parse and check saved-objects NDJSON: one object per line with type, id, attributes, references. */
export function parseSavedObjects(text: string): SavedObject[] {
  const out: SavedObject[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new Error(`line ${i + 1}: not JSON (${(err as Error).message})`);
    }
    const o = value as Partial<SavedObject> | null;
    if (!o || typeof o !== 'object' || Array.isArray(o)) throw new Error(`line ${i + 1}: not an object`);
    if (typeof o.type !== 'string' || o.type === '') throw new Error(`line ${i + 1}: no type`);
    if (typeof o.id !== 'string' || o.id === '') throw new Error(`line ${i + 1}: no id`);
    if (!o.attributes || typeof o.attributes !== 'object') throw new Error(`line ${i + 1}: no attributes`);
    if (!Array.isArray(o.references)) throw new Error(`line ${i + 1}: no references array`);
    out.push(o as SavedObject);
  });
  return out;
}

/**
 * The shipped objects name the `vigil` prefix; for another prefix the data views' index patterns
 * (`vigil-events-*`, `vigil-alerts`) are rewritten. Ids stay the same, so links keep working.
 */
export function withIndexPrefix(objects: SavedObject[], prefix: string): SavedObject[] {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(prefix)) throw new Error(`invalid index prefix "${prefix}"`);
  return objects.map((o) => {
    if (o.type !== 'index-pattern') return o;
    const title = o.attributes['title'];
    if (typeof title !== 'string' || !title.startsWith(`${DEFAULT_KIBANA_PREFIX}-`)) return o;
    return {
      ...o,
      attributes: { ...o.attributes, title: prefix + title.slice(DEFAULT_KIBANA_PREFIX.length) },
    };
  });
}

/** `<url>[/s/<space>]/api/saved_objects/_import?overwrite=true` */
export function importUrl(url: string, space: string | undefined, overwrite: boolean): string {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new KibanaImportError(`not a URL: ${scrubText(url)}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new KibanaImportError(`Kibana URL must be http(s): ${scrubText(url)}`);
  }
  if (base.username !== '' || base.password !== '') {
    throw new KibanaImportError('do not put credentials in the Kibana URL; use the environment variables');
  }
  if (space !== undefined && space !== '' && !/^[a-z0-9_-]+$/.test(space)) {
    throw new KibanaImportError(`invalid space id "${space}" (lower-case letters, digits, _ and -)`);
  }
  const path = base.pathname.replace(/\/+$/, '');
  const spacePath = space && space !== 'default' ? `/s/${space}` : '';
  const q = overwrite ? '?overwrite=true' : '';
  return `${base.origin}${path}${spacePath}/api/saved_objects/_import${q}`;
}

function authHeader(options: ImportSavedObjectsOptions): string | undefined {
  if (options.apiKey) return `ApiKey ${options.apiKey}`;
  if (options.username) {
    return `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
  }
  return undefined;
}

function describeError(e: KibanaImportErrorItem['error']): string {
  switch (e.type) {
    case 'missing_references':
      return `missing_references: ${(e.references ?? []).map((r) => `${r.type}/${r.id}`).join(', ')}`;
    case 'unknown':
      return `unknown: ${e.message ?? ''}${e.statusCode !== undefined ? ` (${e.statusCode})` : ''}`.trim();
    default:
      return e.message ? `${e.type}: ${e.message}` : e.type;
  }
}

/** POST the NDJSON to Kibana's import API and report per object. */
export async function importSavedObjects(
  options: ImportSavedObjectsOptions,
): Promise<ImportSavedObjectsResult> {
  const file = options.file ?? DEFAULT_OBJECTS_FILE;
  const overwrite = options.overwrite ?? true;
  const url = importUrl(options.url, options.space, overwrite);
  let objects = parseSavedObjects(readFileSync(file, 'utf8'));
  if (options.indexPrefix !== undefined) objects = withIndexPrefix(objects, options.indexPrefix);
  const ndjson = objects.map((o) => JSON.stringify(o)).join('\n') + '\n';

  const form = new FormData();
  const name = basename(file).endsWith('.ndjson') ? basename(file) : 'objects.ndjson';
  form.append('file', new Blob([ndjson], { type: 'application/ndjson' }), name);
  const headers: Record<string, string> = { 'kbn-xsrf': 'true' };
  const auth = authHeader(options);
  if (auth) headers['authorization'] = auth;

  const doFetch = options.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(url, {
      method: 'POST',
      headers,
      body: form,
      signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new KibanaImportError(scrubText(`cannot reach Kibana at ${new URL(url).origin}: ${why}`));
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const message = (body as { message?: string } | undefined)?.message ?? text.slice(0, 300);
    throw new KibanaImportError(scrubText(`Kibana answered ${res.status}: ${message}`), res.status);
  }
  const b = body as Partial<ImportSavedObjectsResult> | undefined;
  if (!b || typeof b.success !== 'boolean' || typeof b.successCount !== 'number') {
    throw new KibanaImportError(
      `unexpected answer from ${new URL(url).origin} (is this Kibana?): ${scrubText(text.slice(0, 200))}`,
      res.status,
    );
  }
  const errors = Array.isArray(b.errors) ? b.errors : [];
  const successResults = Array.isArray(b.successResults) ? b.successResults : [];
  const report: ImportObjectResult[] = objects.map((o) => {
    const title = typeof o.attributes['title'] === 'string' ? o.attributes['title'] : undefined;
    const base = { type: o.type, id: o.id, ...(title !== undefined ? { title } : {}) };
    const err = errors.find((e) => e.type === o.type && e.id === o.id);
    if (err) return { ...base, success: false, error: describeError(err.error) };
    const ok = successResults.find((s) => s.type === o.type && s.id === o.id);
    if (ok) {
      const destinationId = ok.destinationId ?? ok.destination_id;
      return {
        ...base,
        success: true,
        ...(ok.overwrite ? { overwritten: true } : {}),
        ...(destinationId && destinationId !== o.id ? { destinationId } : {}),
      };
    }
    // Kibana < 7.12 has no successResults: trust `success` for objects it did not complain about.
    return b.success
      ? { ...base, success: true }
      : { ...base, success: false, error: 'not reported by Kibana' };
  });
  return {
    success: b.success && errors.length === 0,
    successCount: b.successCount,
    errors,
    successResults,
    warnings: Array.isArray(b.warnings) ? b.warnings : [],
    objects: report,
  };
}

export interface KibanaImportCommandOptions {
  url: string;
  space?: string;
  file?: string;
  /** Default true; `--no-overwrite` makes existing objects conflicts. */
  overwrite?: boolean;
  indexPrefix?: string;
  username?: string;
  /** Environment variable holding the password for `username` (default VIGIL_KIBANA_PASSWORD). */
  passwordEnv?: string;
  /** Environment variable holding an API key (default VIGIL_KIBANA_API_KEY); preferred over basic auth. */
  apiKeyEnv?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  out?: (line: string) => void;
  err?: (line: string) => void;
  fetch?: typeof fetch;
}

/**
 * `vigil kibana import --url <kibana> [--space <id>] [--file <ndjson>] [--index-prefix <p>]
 * [--username <u>] [--no-overwrite]`: import, print one line per object, return the exit code
 * (0 = every object imported, 1 = Kibana refused the request or any object failed, 2 = bad usage).
 */
export async function runKibanaImport(opts: KibanaImportCommandOptions): Promise<number> {
  const out = opts.out ?? ((line: string) => process.stdout.write(line + '\n'));
  const err = opts.err ?? ((line: string) => process.stderr.write(line + '\n'));
  const env = opts.env ?? process.env;
  let apiKey: string | undefined;
  let password: string | undefined;
  try {
    apiKey = readSecret(opts.apiKeyEnv ?? 'VIGIL_KIBANA_API_KEY', env);
    if (!apiKey && opts.username) password = readSecret(opts.passwordEnv ?? 'VIGIL_KIBANA_PASSWORD', env);
  } catch (e) {
    err(`vigil: ${scrubText((e as Error).message)}`);
    return 2;
  }
  if (opts.username && !apiKey && !password) {
    err(`vigil: --username given but ${opts.passwordEnv ?? 'VIGIL_KIBANA_PASSWORD'} is not set`);
    return 2;
  }
  const file = opts.file ?? DEFAULT_OBJECTS_FILE;
  let result: ImportSavedObjectsResult;
  try {
    result = await importSavedObjects({
      url: opts.url,
      file,
      ...(opts.space !== undefined ? { space: opts.space } : {}),
      overwrite: opts.overwrite ?? true,
      ...(apiKey ? { apiKey } : {}),
      ...(opts.username && password ? { username: opts.username, password } : {}),
      ...(opts.indexPrefix !== undefined ? { indexPrefix: opts.indexPrefix } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
  } catch (e) {
    const usage = e instanceof KibanaImportError && e.status === undefined && /URL|space id/.test(e.message);
    const fileProblem =
      (e as NodeJS.ErrnoException).code === 'ENOENT' || /^line \d+:|index prefix/.test((e as Error).message);
    err(`vigil: kibana import failed: ${scrubText((e as Error).message)}`);
    return usage || fileProblem ? 2 : 1;
  }
  const space = opts.space && opts.space !== '' ? opts.space : 'default';
  for (const o of result.objects) {
    const what = `${o.type} ${o.id}${o.title !== undefined ? ` "${o.title}"` : ''}`;
    if (o.success) {
      const notes = [
        o.overwritten ? 'overwritten' : 'created',
        o.destinationId ? `as ${o.destinationId}` : '',
      ]
        .filter((n) => n !== '')
        .join(', ');
      out(`  ok    ${what} (${notes})`);
    } else out(`  FAIL  ${what}: ${o.error ?? 'failed'}`);
  }
  const failed = result.objects.filter((o) => !o.success).length;
  const summary = `${result.successCount} of ${result.objects.length} saved objects imported into space "${space}"`;
  if (result.success && failed === 0) {
    out(summary);
    return 0;
  }
  err(`vigil: ${summary}; ${failed} failed`);
  return 1;
}
