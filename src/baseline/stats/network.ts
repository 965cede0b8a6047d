/**
 * Network keys and address classification for source-address novelty.
 *
 * Addresses are parsed strictly: IPv4 only in four-part decimal ("10.1.2.3"; not "10.1" or "0x0a.1.2.3"),
 * IPv6 in any RFC 4291 text form, optionally in [brackets] and with a %zone (dropped). IPv4-mapped IPv6
 * (::ffff:10.1.2.3) is treated as the IPv4 address; so is the deprecated IPv4-compatible text form
 * ::a.b.c.d, which ipaddr.js reads as mapped. A port is not accepted ("10.1.2.3:8200" is invalid).
 * Built on ipaddr.js.
 *
 * Memory: `compileCidrs` keeps 8 bytes per IPv4 range and 32 bytes per IPv6 range in typed arrays.
 */
import ipaddr from 'ipaddr.js';

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;

/** Parse an address strictly (see module doc); IPv4-mapped IPv6 becomes IPv4. undefined when invalid. */
export function parseAddress(address: string): IPv4 | IPv6 | undefined {
  if (typeof address !== 'string') return undefined;
  let s = address.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (s.includes(':')) {
    const pct = s.indexOf('%');
    if (pct >= 0) s = s.slice(0, pct);
    if (!ipaddr.IPv6.isValid(s)) return undefined;
    const v6 = ipaddr.IPv6.parse(s);
    return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
  }
  if (!ipaddr.IPv4.isValidFourPartDecimal(s)) return undefined;
  return ipaddr.IPv4.parse(s);
}

function checkPrefix(prefix: number, max: number, what: string): void {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    throw new RangeError(`${what} prefix must be an integer 0..${max} (got ${prefix})`);
  }
}

/** Canonical "a.b.c.d/len" of an IPv4 address masked to `prefix` bits. */
function v4Network(a: IPv4, prefix: number): string {
  const o = a.octets;
  const n = prefix === 0 ? 0 : (toU32(o) & (0xffffffff << (32 - prefix))) >>> 0;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${prefix}`;
}

/** Canonical RFC 5952 "x:y::/len" of an IPv6 address masked to `prefix` bits. */
function v6Network(a: IPv6, prefix: number): string {
  const parts = a.parts.slice();
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, prefix - 16 * i));
    const mask = keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff;
    parts[i] = (parts[i] ?? 0) & mask;
  }
  return `${new ipaddr.IPv6(parts).toRFC5952String()}/${prefix}`;
}

function toU32(o: number[]): number {
  return (((o[0] ?? 0) << 24) | ((o[1] ?? 0) << 16) | ((o[2] ?? 0) << 8) | (o[3] ?? 0)) >>> 0;
}

/**
 * Canonical network key of an address: "10.1.2.0/24" for IPv4 (and IPv4-mapped IPv6), "2001:db8:1:2::/64"
 * for IPv6 (RFC 5952 text). undefined for an invalid address. Throws RangeError for a bad prefix.
 */
export function networkOf(address: string, v4Prefix = 24, v6Prefix = 64): string | undefined {
  checkPrefix(v4Prefix, 32, 'IPv4');
  checkPrefix(v6Prefix, 128, 'IPv6');
  const a = parseAddress(address);
  if (a === undefined) return undefined;
  return a.kind() === 'ipv4' ? v4Network(a as IPv4, v4Prefix) : v6Network(a as IPv6, v6Prefix);
}

/** Canonical text of an address (IPv4 dotted, IPv6 RFC 5952, mapped → IPv4); undefined when invalid. */
export function canonicalAddress(address: string): string | undefined {
  const a = parseAddress(address);
  if (a === undefined) return undefined;
  return a.kind() === 'ipv4' ? a.toString() : (a as IPv6).toRFC5952String();
}

const PRIVATE_RANGES = new Set(['private', 'loopback', 'linkLocal', 'carrierGradeNat', 'uniqueLocal']);

/**
 * True for non-public addresses: RFC 1918 (10/8, 172.16/12, 192.168/16), loopback (127/8, ::1),
 * link-local (169.254/16, fe80::/10), CGNAT (100.64/10) and IPv6 ULA (fc00::/7). False when invalid.
 */
export function isPrivate(address: string): boolean {
  const a = parseAddress(address);
  return a !== undefined && PRIVATE_RANGES.has(a.range());
}

/** A validated list of CIDR ranges compiled for fast membership tests. */
export interface CompiledCidrs {
  /** The ranges in canonical form, in input order (for display). */
  readonly ranges: readonly string[];
  /** IPv4: [network, mask] pairs as unsigned 32-bit integers. */
  readonly v4: Uint32Array;
  /** IPv6: per range 4 network words then 4 mask words. */
  readonly v6: Uint32Array;
}

/**
 * Validate and compile CIDRs ("10.0.0.0/8", "2001:db8::/32"; a bare address is a host route; host bits
 * may be set and are masked off; IPv4-mapped IPv6 ranges with prefix ≥ 96 become IPv4 ranges).
 * Throws an Error naming the entry for anything else.
 */
export function compileCidrs(list: readonly string[]): CompiledCidrs {
  if (!Array.isArray(list)) throw new TypeError('CIDR list must be an array of strings');
  const ranges: string[] = [];
  const v4: number[] = [];
  const v6: number[] = [];
  list.forEach((entry, i) => {
    const fail = (why: string): never => {
      throw new Error(`invalid CIDR ${JSON.stringify(entry)} (entry ${i}): ${why}`);
    };
    if (typeof entry !== 'string') fail('not a string');
    const s = entry.trim();
    const slash = s.indexOf('/');
    const addrText = slash >= 0 ? s.slice(0, slash) : s;
    const prefixText = slash >= 0 ? s.slice(slash + 1) : undefined;
    let a: IPv4 | IPv6 | undefined;
    if (addrText.includes(':')) {
      if (addrText.includes('%')) fail('zone ids are not allowed in a CIDR');
      a = ipaddr.IPv6.isValid(addrText) ? ipaddr.IPv6.parse(addrText) : undefined;
    } else if (ipaddr.IPv4.isValidFourPartDecimal(addrText)) a = ipaddr.IPv4.parse(addrText);
    if (a === undefined) return fail('not an IPv4 (dotted quad) or IPv6 address');
    const max = a.kind() === 'ipv4' ? 32 : 128;
    let prefix = max;
    if (prefixText !== undefined) {
      if (!/^\d{1,3}$/.test(prefixText)) fail('the prefix length must be a decimal number');
      prefix = Number(prefixText);
      if (prefix > max) fail(`the prefix length must be 0..${max}`);
    }
    if (a.kind() === 'ipv6' && (a as IPv6).isIPv4MappedAddress()) {
      if (prefix < 96) fail('an IPv4-mapped range needs a prefix length ≥ 96');
      a = (a as IPv6).toIPv4Address();
      prefix -= 96;
    }
    if (a.kind() === 'ipv4') {
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      v4.push((toU32((a as IPv4).octets) & mask) >>> 0, mask);
      ranges.push(v4Network(a as IPv4, prefix));
    } else {
      const words = v6Words(a as IPv6);
      const masks: number[] = [];
      for (let w = 0; w < 4; w++) {
        const keep = Math.max(0, Math.min(32, prefix - 32 * w));
        masks.push(keep === 0 ? 0 : (0xffffffff << (32 - keep)) >>> 0);
      }
      for (let w = 0; w < 4; w++) v6.push(((words[w] ?? 0) & (masks[w] ?? 0)) >>> 0);
      v6.push(...masks);
      ranges.push(v6Network(a as IPv6, prefix));
    }
  });
  return Object.freeze({ ranges: Object.freeze(ranges), v4: Uint32Array.from(v4), v6: Uint32Array.from(v6) });
}

function v6Words(a: IPv6): number[] {
  const p = a.parts;
  const out: number[] = [];
  for (let w = 0; w < 4; w++) out.push((((p[2 * w] ?? 0) << 16) | (p[2 * w + 1] ?? 0)) >>> 0);
  return out;
}

/** True when `address` (parsed strictly; mapped IPv6 → IPv4) lies in one of the compiled ranges. */
export function inCidrs(address: string, cidrs: CompiledCidrs): boolean {
  const a = parseAddress(address);
  if (a === undefined) return false;
  if (a.kind() === 'ipv4') {
    const x = toU32((a as IPv4).octets);
    const r = cidrs.v4;
    for (let i = 0; i < r.length; i += 2) {
      if ((x & (r[i + 1] ?? 0)) >>> 0 === r[i]) return true;
    }
    return false;
  }
  const w = v6Words(a as IPv6);
  const r = cidrs.v6;
  for (let i = 0; i < r.length; i += 8) {
    let ok = true;
    for (let j = 0; j < 4 && ok; j++) ok = ((w[j] ?? 0) & (r[i + 4 + j] ?? 0)) >>> 0 === r[i + j];
    if (ok) return true;
  }
  return false;
}
