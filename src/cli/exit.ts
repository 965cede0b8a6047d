import { scrubText } from '../audit/secrets.js';

/** Exit codes: 0 success, 1 runtime failure, 2 bad usage, 3 invalid configuration or detectors, 4 check found problems. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  CONFIG: 3,
  CHECK_FAILED: 4,
} as const;

/** A problem with how the command was called (exit 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Print a one-line (or, for lists of problems, multi-line) reason on stderr and return the code. */
export function fail(message: string, code: number): number {
  // Errors can quote what they failed on; that is scrubbed like any log line.
  console.error(`vigil: ${scrubText(message)}`);
  return code;
}
