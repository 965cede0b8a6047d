/**
 * Compact, exact, endian-independent encodings for typed-array state in snapshots (base64 of the
 * little-endian bytes). Node's Buffer does the base64 part.
 */

export function f32ToBase64(a: Float32Array): string {
  const bytes = new Uint8Array(a.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < a.length; i++) view.setFloat32(i * 4, a[i] ?? 0, true);
  return Buffer.from(bytes).toString('base64');
}

export function base64ToF32(s: unknown, length: number, what: string): Float32Array {
  if (typeof s !== 'string') throw new TypeError(`invalid snapshot: ${what} is not a string`);
  const bytes = Buffer.from(s, 'base64');
  if (bytes.length !== length * 4) {
    throw new RangeError(`invalid snapshot: ${what} holds ${bytes.length} bytes, expected ${length * 4}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const v = view.getFloat32(i * 4, true);
    if (!Number.isFinite(v)) throw new RangeError(`invalid snapshot: ${what}[${i}] is not finite`);
    out[i] = v;
  }
  return out;
}

export function u8ToBase64(a: Uint8Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

export function base64ToU8(s: unknown, length: number, what: string): Uint8Array {
  if (typeof s !== 'string') throw new TypeError(`invalid snapshot: ${what} is not a string`);
  const bytes = Buffer.from(s, 'base64');
  if (bytes.length !== length) {
    throw new RangeError(`invalid snapshot: ${what} holds ${bytes.length} bytes, expected ${length}`);
  }
  return new Uint8Array(bytes);
}

/** A finite number from an untrusted snapshot field, or a TypeError naming the field. */
export function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new TypeError(`invalid snapshot: ${what} is not a finite number`);
  }
  return v;
}

/** A finite number or null (null encodes −Infinity, "never", in snapshots). */
export function numOrNone(v: unknown, what: string): number {
  if (v === null) return Number.NEGATIVE_INFINITY;
  return num(v, what);
}

export function noneToNull(v: number): number | null {
  return v === Number.NEGATIVE_INFINITY ? null : v;
}
