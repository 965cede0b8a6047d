import { readFileSync } from 'node:fs';
import { Client, type ClientOptions } from '@elastic/elasticsearch';
import { registerSecret } from '../../audit/secrets.js';
import { ConfigError, readSecret } from '../../config/load.js';

export interface ElasticsearchClientOptions {
  url: string;
  username?: string;
  /** Password for `username` (read with readSecret, so it is registered with the scrubber). */
  password?: string;
  /** API key (the base64 `id:key` form Elasticsearch returns as `encoded`). */
  apiKey?: string;
  /** PEM file of the CA that signed the cluster's certificate. */
  caFile?: string;
  /** Per-request timeout (default 30 s). */
  requestTimeoutMs?: number;
}

/**
 * A client for Vigil's outputs: no client-side retries (`maxRetries: 0`; the indexer owns retries,
 * with backoff and a deadline), no sniffing, compression off (loopback and LAN clusters), and a
 * bounded request timeout. Credentials in the URL are refused: they would end up in error messages.
 */
export function createElasticsearchClient(options: ElasticsearchClientOptions): Client {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new ConfigError([`outputs.elasticsearch.url: not a URL`]);
  }
  if (url.username !== '' || url.password !== '') {
    registerSecret(decodeURIComponent(url.password));
    throw new ConfigError([
      'outputs.elasticsearch.url: do not put credentials in the URL; use username + password_env or api_key_env',
    ]);
  }
  const clientOptions: ClientOptions = {
    node: options.url,
    maxRetries: 0,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    sniffOnStart: false,
    sniffOnConnectionFault: false,
    compression: false,
    name: 'vigil',
  };
  if (options.apiKey) clientOptions.auth = { apiKey: options.apiKey };
  else if (options.username) {
    if (!options.password) {
      throw new ConfigError([
        `outputs.elasticsearch.username is set but no password was found in the environment`,
      ]);
    }
    clientOptions.auth = { username: options.username, password: options.password };
  }
  if (options.caFile) {
    let ca: Buffer;
    try {
      ca = readFileSync(options.caFile);
    } catch (err) {
      throw new ConfigError([
        `outputs.elasticsearch.ca_file=${options.caFile}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      ]);
    }
    clientOptions.tls = { ca, rejectUnauthorized: true };
  }
  return new Client(clientOptions);
}

/** The credential settings of `outputs.elasticsearch`, resolved from the environment. */
export interface EsCredentialConfig {
  username?: string | undefined;
  password_env: string;
  api_key_env: string;
}

/** Read the password/API key named by the configuration (registering them with the scrubber). */
export function readCredentials(
  config: EsCredentialConfig,
  env: NodeJS.ProcessEnv = process.env,
): { username?: string; password?: string; apiKey?: string } {
  const apiKey = readSecret(config.api_key_env, env);
  if (apiKey) return { apiKey };
  if (config.username) {
    const password = readSecret(config.password_env, env);
    return password ? { username: config.username, password } : { username: config.username };
  }
  return {};
}

/** A short description of how the client authenticates, safe to log. */
export function describeAuth(options: Pick<ElasticsearchClientOptions, 'apiKey' | 'username'>): string {
  if (options.apiKey) return 'api key';
  if (options.username) return `basic (user ${options.username})`;
  return 'none';
}
