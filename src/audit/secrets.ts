import { createHash } from 'node:crypto';
import { memoize } from '../util/memo.js';

/**
 * Everything Vigil knows about what a secret looks like, in one place. The parser, the logger's
 * last-line scrubber, the dead-letter sink and every output go through these functions, so a new
 * secret shape is taught once.
 */

const TOKEN_REF_DOMAIN = 'vigil/token-ref/v1:';

/**
 * One-way, stable reference for a token or accessor value as it appears in the audit log (usually
 * `hmac-sha256:...`). Responders can compute the same reference from `vault write sys/audit-hash/<device>
 * input=<accessor>` output with `vigil token-ref`, so an alert can point at a token without carrying it.
 */
export const tokenRef: (value: string) => string = memoize(
  (value) => 'tr_' + createHash('sha256').update(TOKEN_REF_DOMAIN).update(value).digest('hex').slice(0, 16),
  50_000,
);

/** Patterns for secret-shaped substrings, checked by the scrubbers. */
const SECRET_PATTERNS: readonly RegExp[] = [
  // Vault audit HMACs.
  /hmac-sha256:[0-9a-fA-F]{8,}/g,
  // Vault service/batch/recovery tokens (1.10+ format) and legacy service/batch tokens.
  /\bhv[sbr]\.[A-Za-z0-9_-]{20,}/g,
  /\b[sb]\.[A-Za-z0-9]{24,}/g,
  // Slack bot/user/app tokens and signing secrets in URLs.
  /\bxox[abprse]-[A-Za-z0-9-]{8,}/g,
  /\bxapp-[A-Za-z0-9-]{8,}/g,
  // HTTP basic credentials in URLs and bearer values.
  /(?<=:\/\/[^\s/:@]{1,128}:)[^\s/@]{1,256}(?=@)/g,
  /\b[Bb]earer\s+[A-Za-z0-9._~+/=-]{8,}/g,
  /\bApiKey\s+[A-Za-z0-9._~+/=-]{8,}/g,
  // PEM private keys.
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
];

export const REDACTED = '[REDACTED]';

/** Literal secret values known at run time (configured credentials); scrubbed wherever they appear. */
const knownSecrets = new Set<string>();

/** Register a configured secret (Slack token, PagerDuty key, passwords) so it is scrubbed from all output. */
export function registerSecret(value: string | undefined): void {
  // Very short values would scrub ordinary words; they are not credentials anyway.
  if (value && value.length >= 6) knownSecrets.add(value);
}

/** Forget registered secrets (tests only). */
export function clearRegisteredSecrets(): void {
  knownSecrets.clear();
}

/** Replace every secret-shaped substring and every registered secret in `text`. */
export function scrubText(text: string): string {
  let out = text;
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  for (const pattern of SECRET_PATTERNS) {
    pattern.lastIndex = 0;
    if (pattern.test(out)) {
      pattern.lastIndex = 0;
      out = out.replace(pattern, REDACTED);
    }
  }
  return out;
}

/** True when the text still holds something secret-shaped (used by tests and the canary checks). */
export function looksSecret(text: string): boolean {
  for (const secret of knownSecrets) if (text.includes(secret)) return true;
  return SECRET_PATTERNS.some((p) => {
    p.lastIndex = 0;
    return p.test(text);
  });
}

/**
 * Keys whose values are secret in a Vault audit entry (or in anything resembling configuration):
 * tokens, accessors, request/response data, wrapping info, headers that may be HMAC'd, credentials.
 */
const SECRET_KEY =
  /^(?:client_token|client_token_accessor|accessor|wrapped_accessor|token|data|wrap_info|headers|secret|secret_id|role_id|password|passwd|pass|private_key|api_key|apikey|routing_key|authorization|cookie|key|keys|ciphertext|plaintext|signature|hmac|otp|x-vault-token)$/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/**
 * Redact a line that may not be valid JSON (for the dead-letter sink). Values of secret keys are cut
 * out with a tolerant scan that survives truncation and nesting; every other string goes through
 * the pattern scrubber. The result is safe to log and store.
 */
export function scrubLine(line: string): string {
  let out = '';
  let i = 0;
  const n = line.length;
  let lastKey: string | undefined;
  while (i < n) {
    const ch = line[i];
    if (ch === '"') {
      const end = scanString(line, i);
      const raw = line.slice(i, end);
      // A string followed by ':' is a key.
      let j = end;
      while (j < n && (line[j] === ' ' || line[j] === '\t')) j++;
      if (line[j] === ':') {
        lastKey = raw.length >= 2 ? raw.slice(1, -1) : raw;
        out += scrubText(raw);
        out += line.slice(end, j + 1);
        i = j + 1;
        if (isSecretKey(lastKey)) {
          while (i < n && (line[i] === ' ' || line[i] === '\t')) i++;
          i = skipValue(line, i);
          out += `"${REDACTED}"`;
        }
        continue;
      }
      out += scrubText(raw);
      i = end;
      continue;
    }
    out += ch;
    i++;
  }
  // Text outside strings (a line that is not JSON at all) can hold bare tokens too.
  return scrubText(out);
}

/** Index just past the string starting at `start` (a quote), or the end of input if unterminated. */
function scanString(s: string, start: number): number {
  let i = start + 1;
  while (i < s.length) {
    const c = s[i];
    if (c === '\\') i += 2;
    else if (c === '"') return i + 1;
    else i++;
  }
  return s.length;
}

/** Index just past the JSON value starting at `start`; tolerant of truncation (returns the end). */
function skipValue(s: string, start: number): number {
  const c = s[start];
  if (c === '"') return scanString(s, start);
  if (c === '{' || c === '[') {
    let depth = 0;
    let i = start;
    while (i < s.length) {
      const ch = s[i];
      if (ch === '"') {
        i = scanString(s, i);
        continue;
      }
      if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return s.length;
  }
  // Scalar: up to the next delimiter.
  let i = start;
  while (i < s.length && s[i] !== ',' && s[i] !== '}' && s[i] !== ']') i++;
  return i;
}
