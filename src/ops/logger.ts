import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { scrubLine } from '../audit/secrets.js';

export type { Logger } from 'pino';

/**
 * Keys that must never be logged whatever object they sit in. Redaction removes them; the
 * `streamWrite` hook then cuts secret-named keys out of the finished line at any depth and scrubs it
 * for anything token- or HMAC-shaped and for every configured credential, so a secret that slips
 * into a nested object, a message or an error text is still caught.
 */
export const REDACT_PATHS = [
  'token',
  'client_token',
  'accessor',
  'password',
  'secret',
  'data',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'config.headers.Authorization',
  '*.token',
  '*.client_token',
  '*.accessor',
  '*.password',
  '*.secret',
  '*.data',
  '*.authorization',
  '*.routing_key',
  '*.apiKey',
];

export interface LoggerOptions {
  level?: string;
  /** Human-readable output (development); JSON otherwise. */
  pretty?: boolean;
  destination?: DestinationStream | NodeJS.WritableStream;
  name?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const base = {
    name: options.name ?? 'vigil',
    level: options.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    // Every finished line: values of secret-named keys at any depth are cut out, and every string is
    // scrubbed for token- and HMAC-shaped text and configured credentials.
    hooks: { streamWrite: (line: string) => scrubLine(line) },
    serializers: { err: pino.stdSerializers.err },
  };
  if (options.pretty) {
    return pino(
      base,
      pretty({
        colorize: options.destination === undefined,
        destination: (options.destination as NodeJS.WritableStream | undefined) ?? 2,
        sync: true,
        translateTime: 'SYS:HH:MM:ss.l',
      }),
    );
  }
  return pino(
    base,
    (options.destination as DestinationStream | undefined) ?? pino.destination({ dest: 2, sync: false }),
  );
}

/** A logger that drops everything (tests and library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
