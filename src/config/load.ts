import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerSecret } from '../audit/secrets.js';
import {
  defines,
  formatIssues,
  parseYaml,
  positionOf,
  YamlSyntaxError,
  type YamlSource,
} from '../util/yaml.js';
import { configSchema, type Config } from './schema.js';

/** The installed package's root (holds config/, detectors/, runbooks/), from src/ or dist/ alike. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions {
  /** A user's configuration file, layered last. */
  file?: string;
  /** `development`, `staging`, `production` or any name with a `config/<name>.yaml`. */
  environment?: string;
  /** Where the shipped default.yaml and overlays live (tests point elsewhere). */
  configDir?: string;
  /** Relative paths in the configuration resolve against this directory. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfig {
  config: Config;
  /** The files layered, in order. */
  files: string[];
}

/**
 * default.yaml, then the environment's overlay, then the user's file: objects merge key by key,
 * lists and scalars replace. The environment is chosen by option, else VIGIL_ENV, else the user's
 * file, else `development`.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const configDir = options.configDir ?? join(PACKAGE_ROOT, 'config');
  const cwd = options.cwd ?? process.cwd();
  const userFile = options.file ?? env['VIGIL_CONFIG'];

  const sources: YamlSource[] = [];
  const read = (path: string): YamlSource => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError([
        `${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      ]);
    }
    try {
      return parseYaml(text, path);
    } catch (err) {
      if (err instanceof YamlSyntaxError) throw new ConfigError(err.problems);
      throw err;
    }
  };

  const base = read(join(configDir, 'default.yaml'));
  const user = userFile ? read(resolve(cwd, userFile)) : undefined;
  const userEnv = user ? (user.doc.toJS() as { environment?: unknown } | null)?.environment : undefined;
  const environment =
    options.environment ??
    env['VIGIL_ENV'] ??
    (typeof userEnv === 'string' ? userEnv : undefined) ??
    'development';
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(environment)) {
    throw new ConfigError([`environment "${environment}": use lower-case letters, digits, - and _`]);
  }
  sources.push(base);
  const overlayPath = join(configDir, `${environment}.yaml`);
  if (existsSync(overlayPath)) sources.push(read(overlayPath));
  else if (!user) {
    throw new ConfigError([
      `environment "${environment}": no ${overlayPath} and no --config file to describe it`,
    ]);
  }
  if (user) sources.push(user);

  let merged: unknown = {};
  for (const source of sources) merged = deepMerge(merged, source.doc.toJS() ?? {});
  (merged as Record<string, unknown>)['environment'] = environment;
  const unset: string[] = [];
  merged = interpolate(merged, env, unset);
  if (unset.length > 0) {
    throw new ConfigError(
      unset.map(
        (name) =>
          `\${${name}} is used in the configuration but ${name} is not set (write \${${name}:-default} for a fallback)`,
      ),
    );
  }

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const where = (path: (string | number)[]) => {
      // Name the last layered file that sets this key (or its nearest parent).
      for (let n = path.length; n > 0; n--) {
        for (let i = sources.length - 1; i >= 0; i--) {
          const s = sources[i] as YamlSource;
          if (defines(s, path.slice(0, n))) return `${s.file}:${positionOf(s, path.slice(0, n)) ?? '1:1'}`;
        }
      }
      return sources.map((s) => s.file).join(' + ');
    };
    throw new ConfigError(formatIssues(parsed.error.issues, where));
  }
  const config = resolvePaths(parsed.data, cwd);
  return { config, files: sources.map((s) => s.file) };
}

/**
 * `${NAME}` and `${NAME:-fallback}` in string values take their value from the environment, for
 * non-secret per-deployment settings such as a Slack channel. (Secrets use the `*_env` keys instead,
 * so that they are registered with the log scrubber.)
 */
export function interpolate(value: unknown, env: NodeJS.ProcessEnv, unset: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(
      /\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g,
      (_m, name: string, fallback: string | undefined) => {
        const v = env[name];
        if (v !== undefined && v !== '') return v;
        if (fallback !== undefined) return fallback;
        unset.push(name);
        return '';
      },
    );
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env, unset));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, unset);
    return out;
  }
  return value;
}

/** Objects merge recursively; anything else (lists included) replaces. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function resolvePaths(config: Config, cwd: string): Config {
  const at = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  // The shipped detectors and runbooks are found wherever Vigil is started from.
  const shipped = (p: string, name: string) => (p === name ? join(PACKAGE_ROOT, name) : at(p));
  return {
    ...config,
    state: { ...config.state, dir: at(config.state.dir) },
    detectors: { ...config.detectors, dir: shipped(config.detectors.dir, 'detectors') },
    runbooks: { ...config.runbooks, dir: shipped(config.runbooks.dir, 'runbooks') },
    sources: {
      ...config.sources,
      file: { ...config.sources.file, path: at(config.sources.file.path) },
    },
    dead_letter: { ...config.dead_letter, path: at(config.dead_letter.path) },
    outputs: {
      ...config.outputs,
      alert_log: { ...config.outputs.alert_log, path: at(config.outputs.alert_log.path) },
    },
  };
}

/**
 * Read a credential from the environment: `NAME`, or the file named by `NAME_FILE` (Docker and
 * Kubernetes secrets). The value is registered with the scrubber so it can never reach a log line.
 */
export function readSecret(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  let value = env[name];
  const file = env[`${name}_FILE`];
  if (!value && file) {
    try {
      value = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new ConfigError([
        `${name}_FILE=${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      ]);
    }
  }
  if (value) registerSecret(value);
  return value || undefined;
}
