import { createHash } from 'node:crypto';
import type { Rng } from './rng.js';

declare module 'node:buffer' {
  interface Buffer {
    /** Node's one-byte writer behind Buffer#write(..., 'latin1') (all Node versions; not in @types/node). */
    latin1Write(text: string, offset: number, length?: number): number;
  }
}

/**
 * Writing Vault/OpenBao audit entries fast. The shapes follow shared/reference/vault-audit-format.md
 * and test/fixtures/audit/make-fixtures.mjs: a request entry and a response entry per access sharing
 * `request.id`; every token, accessor and data string HMAC'd (`hmac-sha256:<64 hex>`); paths, mounts,
 * display names, policies, metadata and entity ids in clear. Constant parts (a token's `auth` object,
 * a mount's fields, a secret's response data) are serialised once and reused, so one line costs a
 * few string concatenations.
 */

export const DENIED_ERROR = '1 error occurred:\n\t* permission denied\n\n';
export const DENIED_ERROR_JSON = JSON.stringify(DENIED_ERROR);

export type Flavor = 'vault' | 'openbao';

/** Salted SHA-256 in Vault's `hmac-sha256:` shape; deterministic per salt and plaintext. */
export class Hmac {
  private readonly cache = new Map<string, string>();
  constructor(private readonly salt: string) {}

  of(plaintext: string): string {
    const hit = this.cache.get(plaintext);
    if (hit) return hit;
    const h = 'hmac-sha256:' + createHash('sha256').update(this.salt).update(plaintext).digest('hex');
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(plaintext, h);
    return h;
  }

  /** HMAC of a fresh random value (a new token, a generated password): random hex is indistinguishable. */
  fresh(rng: Rng): string {
    return 'hmac-sha256:' + rng.hex(32);
  }
}

export interface Mount {
  point: string;
  type: string;
  cls?: 'secret' | 'auth';
  accessor: string;
  version: string;
  /** `"mount_point":...,` fields of the request object (ends with a comma). */
  reqFields: string;
  /** Fields of the response object (no trailing comma). */
  respFields: string;
}

export function mount(
  point: string,
  type: string,
  cls: 'secret' | 'auth' | undefined,
  accessorSuffix: string,
): Mount {
  const accessor = `${type === 'kv' ? 'kv' : type === 'system' ? 'system' : type}_${accessorSuffix}`;
  const version =
    type === 'kv'
      ? 'v0.20.0+builtin'
      : type === 'database'
        ? 'v1.18.1+builtin.vault'
        : 'v1.18.1+builtin.vault';
  const clsField = cls ? `"mount_class":"${cls}",` : '';
  return {
    point,
    type,
    ...(cls ? { cls } : {}),
    accessor,
    version,
    reqFields:
      `"mount_point":"${point}","mount_type":"${type}","mount_accessor":"${accessor}",${clsField}` +
      `"mount_running_version":"${version}",`,
    respFields:
      `"mount_point":"${point}","mount_type":"${type}","mount_accessor":"${accessor}",${clsField}` +
      `"mount_running_plugin_version":"${version}"`,
  };
}

/** Text to write: a string, or its bytes when it is written often (encoded once). */
export type Text = string | Uint8Array;

/** Encode ASCII text once for repeated writes. */
export const bytes = (text: string): Uint8Array => Buffer.from(text, 'latin1');

/** Who makes a request, pre-serialised. */
export interface Caller {
  /** `auth` object of an allowed request. */
  readonly authAllowed: Uint8Array;
  /** `auth` object of a request the ACL refused (policy_results.allowed=false). */
  readonly authDenied: Uint8Array;
  /** Request-object text right after the id: `"` closing it, then `,"client_id":"..."` when there is an entity. */
  readonly afterId: Uint8Array;
  /** `"client_token":...,"client_token_accessor":...,` (may be empty). */
  readonly tokenFields: Uint8Array;
  /** The renderer's cache of combined pieces for this caller (owned by `createRenderer`). */
  renderSlot?: unknown;
}

export interface TokenSpec {
  displayName: string;
  policies: string[];
  tokenPolicies?: string[];
  identityPolicies?: string[];
  metadata?: Record<string, string>;
  entityId?: string;
  tokenType?: 'service' | 'batch';
  ttlSeconds: number;
  /** Issue time, epoch ms. */
  issuedAt: number;
  /** Policy named as granting in policy_results. */
  grantingPolicy: string;
  namespaceId?: string;
}

const ANON_AUTH = bytes('{"token_type":"default"}');
const QUOTE = bytes('"');

/** The anonymous caller of a login request (no token). */
export const LOGIN_CALLER: Caller = {
  authAllowed: ANON_AUTH,
  authDenied: ANON_AUTH,
  afterId: QUOTE,
  tokenFields: bytes(''),
};

/** A caller whose token Vault could not resolve (expired, revoked, garbage). */
export function badTokenCaller(clientTokenHmac: string): Caller {
  return {
    authAllowed: ANON_AUTH,
    authDenied: ANON_AUTH,
    afterId: QUOTE,
    tokenFields: bytes(`"client_token":"${clientTokenHmac}",`),
  };
}

/**
 * A token as Vault describes it: the caller blocks of requests made with it, the `response.auth`
 * block of the call that issued it, and what a lookup-self returns. Rarely used parts are built on
 * first use.
 */
export class Session implements Caller {
  /** HMAC of the token (what a request with this token carries in client_token). */
  readonly token: string;
  readonly accessor: string;
  readonly authAllowed: Uint8Array;
  readonly afterId: Uint8Array;
  readonly tokenFields: Uint8Array;
  /** `"auth":{...}` for the response object of the login / create call that issued it. */
  readonly issuedAuth: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  private readonly head: string;
  private readonly tail: string;
  private denied: Uint8Array | undefined;
  private lookup: Uint8Array | undefined;
  /** `token_issue_time` text (RFC 3339, seconds). */
  private readonly issueText: string;
  renderSlot?: unknown;

  constructor(
    private readonly spec: TokenSpec,
    private readonly hmac: Hmac,
    rng: Rng,
  ) {
    this.token = hmac.fresh(rng);
    this.accessor = hmac.fresh(rng);
    this.issueText = new Date(Math.floor(spec.issuedAt / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    const tokenPolicies = spec.tokenPolicies ?? spec.policies;
    const common =
      `"display_name":${JSON.stringify(spec.displayName)},"policies":${JSON.stringify(spec.policies)},` +
      `"token_policies":${JSON.stringify(tokenPolicies)},` +
      (spec.identityPolicies ? `"identity_policies":${JSON.stringify(spec.identityPolicies)},` : '') +
      (spec.metadata ? `"metadata":${JSON.stringify(spec.metadata)},` : '') +
      (spec.entityId ? `"entity_id":"${spec.entityId}",` : '');
    this.tail = `"token_type":"${spec.tokenType ?? 'service'}","token_ttl":${spec.ttlSeconds},"token_issue_time":"${this.issueText}"`;
    this.head = `{"client_token":"${this.token}","accessor":"${this.accessor}",${common}`;
    this.authAllowed = bytes(
      `${this.head}${this.tail},"policy_results":{"allowed":true,"granting_policies":[{"name":"${spec.grantingPolicy}",` +
        `"namespace_id":"${spec.namespaceId ?? 'root'}","type":"acl"}]}}`,
    );
    this.afterId = bytes(spec.entityId ? `","client_id":"${spec.entityId}"` : '"');
    this.tokenFields = bytes(`"client_token":"${this.token}","client_token_accessor":"${this.accessor}",`);
    this.issuedAuth = `"auth":{"client_token":"${this.token}","accessor":"${this.accessor}",${common}"num_uses":0,${this.tail}}`;
    this.issuedAt = spec.issuedAt;
    this.expiresAt = spec.issuedAt + spec.ttlSeconds * 1000;
  }

  get caller(): Caller {
    return this;
  }

  get authDenied(): Uint8Array {
    return (this.denied ??= bytes(`${this.head}${this.tail},"policy_results":{"allowed":false}}`));
  }

  /** `response.data` of a lookup-self with this token. */
  get lookupData(): Uint8Array {
    if (!this.lookup) {
      const { spec, hmac } = this;
      const issue = this.issueText;
      this.lookup = bytes(
        `"data":{"accessor":"${this.accessor}","creation_time":${Math.floor(spec.issuedAt / 1000)},` +
          `"creation_ttl":${spec.ttlSeconds},"display_name":"${hmac.of(spec.displayName)}",` +
          `"entity_id":"${hmac.of(spec.entityId ?? '')}",` +
          `"expire_time":"${hmac.of(issue + spec.ttlSeconds)}","explicit_max_ttl":0,"id":"${this.token}",` +
          `"issue_time":"${hmac.of(issue)}","num_uses":0,"orphan":true,"path":"${hmac.of('auth/' + spec.displayName)}",` +
          `"policies":${JSON.stringify(spec.policies.map((p) => hmac.of(p)))},"renewable":true,` +
          `"ttl":${spec.ttlSeconds},"type":"${hmac.of(spec.tokenType ?? 'service')}"}`,
      );
    }
    return this.lookup;
  }
}

export function newSession(spec: TokenSpec, hmac: Hmac, rng: Rng): Session {
  return new Session(spec, hmac, rng);
}

/**
 * One access (request + response) waiting to be written. Times are microseconds. Every field is
 * always assigned so all accesses share one hidden class.
 */
export interface Access {
  t: number;
  lat: number;
  /** Generation order; breaks ties in time so output order never depends on sort stability. */
  seq: number;
  caller: Caller;
  denied: boolean;
  op: string;
  path: string;
  mount: Mount;
  remote: string;
  /** `"headers":{...}` value. */
  headers: string;
  /** `"namespace":...,"path":"...",` already encoded (KV paths), else undefined. */
  pathPart: Uint8Array | undefined;
  /** Request `data` object (JSON) or ''. */
  reqData: Text;
  /** Extra response fields (`"data":{...}`, `"auth":{...}`, `"secret":{...}`) or ''. */
  respBody: Text;
  /** Top-level `error` of the request entry (JSON string literal) or ''. */
  reqError: string;
  /** Top-level `error` of the response entry (JSON string literal) or ''. */
  respError: string;
  /** Where the request object was written (the response entry repeats it). */
  reqBuf: Uint8Array | undefined;
  reqFrom: number;
  reqTo: number;
  /** Request id (four random 32-bit words, written as a UUID) and client port, set by the generator. */
  id0: number;
  id1: number;
  id2: number;
  id3: number;
  port: number;
  /** Who produced it (identity index, or -1 for attackers); used for labels and statistics. */
  actor: number;
  /** Scenario index or -1 for benign traffic. */
  scenario: number;
}

/** Where rendered entries go, piece by piece (no line is ever built as one string). */
export interface PieceSink {
  /** Append text (ASCII). */
  put(piece: Text): void;
  /** Append pre-encoded bytes (the fast path). */
  putBytes(piece: Uint8Array): void;
  /** Append `HH:MM:SS.ffffffnnn` for a second of the day, microseconds and nanoseconds. */
  putClock(secondOfDay: number, micros: number, nanos: number): void;
  /** The buffer being written and the offset of the next byte (to copy a written range later). */
  readonly current: Uint8Array;
  readonly offset: number;
  /** Append bytes already written at [from, to) of `buf` (a buffer this sink handed out earlier). */
  putRange(buf: Uint8Array, from: number, to: number): void;
  /** Append a non-negative integer, zero-padded to `width` digits (0: no padding). */
  putInt(n: number, width: number): void;
  /** Append a version-4 UUID made of four random 32-bit words. */
  putUuid(w0: number, w1: number, w2: number, w3: number): void;
  /** End of one entry (writes the newline). */
  endLine(): void;
}

export interface Renderer {
  request(a: Access, out: PieceSink): void;
  response(a: Access, out: PieceSink): void;
}

/**
 * Entries in Vault 1.18 key order (`time, auth, error, request, response, type`) or OpenBao's
 * (`time, type, auth, request, response, error`). Constant fragments (a mount with an operation, a
 * path, an address, a header) are cached as flat strings; per-access values (time, id, port) are
 * written as digits straight into the output.
 */
export function createRenderer(flavor: Flavor, namespace: string): Renderer {
  const bao = flavor === 'openbao';
  const nsPart = `"namespace":${namespace},"path":"`;
  const owner = {};
  const pathParts = new Map<string, Uint8Array>();
  const remoteParts = new Map<string, Uint8Array>();
  const headerParts = new Map<string, Uint8Array>();
  const respFields = new Map<Mount, Uint8Array>();
  const C = {
    id: bytes('{"id":"'),
    data: bytes('"data":'),
    comma: bytes(','),
    error: bytes(',"error":'),
    request: bytes(',"request":'),
    reqEnd: bytes(bao ? '}' : ',"type":"request"}'),
    response: bytes(',"response":{'),
    respEnd: bytes(bao ? '}}' : '},"type":"response"}'),
    respErr: bytes('},"error":'),
    close: bytes('}'),
  };
  const reqAuthHead = bao ? 'Z","type":"request","auth":' : 'Z","auth":';
  const respAuthHead = bao ? 'Z","type":"response","auth":' : 'Z","auth":';

  /** Per caller: `Z","auth":{...},"request":` for both entry types and ACL outcomes, and id-to-token pieces per mount and operation. */
  interface Slot {
    owner: object;
    req: Uint8Array;
    resp: Uint8Array;
    reqDenied: Uint8Array | undefined;
    respDenied: Uint8Array | undefined;
    ops: Map<Mount, Map<string, Uint8Array>>;
    /** Last address and user agent this caller used, encoded (a token mostly keeps both). */
    remote: string;
    remotePart: Uint8Array;
    headers: string;
    headersPart: Uint8Array;
  }
  const join = (...parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);
  const slotOf = (c: Caller): Slot => {
    const slot = c.renderSlot as Slot | undefined;
    if (slot && slot.owner === owner) return slot;
    const fresh: Slot = {
      owner,
      req: join(bytes(reqAuthHead), c.authAllowed, C.request),
      resp: join(bytes(respAuthHead), c.authAllowed, C.request),
      reqDenied: undefined,
      respDenied: undefined,
      ops: new Map(),
      remote: '',
      remotePart: C.comma,
      headers: '',
      headersPart: C.comma,
    };
    c.renderSlot = fresh;
    return fresh;
  };
  const authHead = (a: Access, response: boolean): Uint8Array => {
    const slot = slotOf(a.caller);
    if (!a.denied) return response ? slot.resp : slot.req;
    if (response) return (slot.respDenied ??= join(bytes(respAuthHead), a.caller.authDenied, C.request));
    return (slot.reqDenied ??= join(bytes(reqAuthHead), a.caller.authDenied, C.request));
  };
  const idToToken = (a: Access): Uint8Array => {
    const slot = slotOf(a.caller);
    let byOp = slot.ops.get(a.mount);
    if (!byOp) slot.ops.set(a.mount, (byOp = new Map()));
    let v = byOp.get(a.op);
    if (v === undefined) {
      v = join(a.caller.afterId, bytes(`,"operation":"${a.op}",${a.mount.reqFields}`), a.caller.tokenFields);
      byOp.set(a.op, v);
    }
    return v;
  };
  const cached = (map: Map<string, Uint8Array>, key: string, make: () => string): Uint8Array => {
    let v = map.get(key);
    if (v === undefined) {
      if (map.size > 200_000) map.clear();
      v = bytes(make());
      map.set(key, v);
    }
    return v;
  };
  /** `,"response":{` and the mount fields of the response object. */
  const respPart = (m: Mount): Uint8Array => {
    let v = respFields.get(m);
    if (!v) respFields.set(m, (v = join(C.response, bytes(m.respFields))));
    return v;
  };
  let stampDay = -1;
  let stampHead: Uint8Array = bytes('');
  let n = 0;
  const time = (us: number, out: PieceSink): void => {
    const sec = Math.floor(us / 1_000_000);
    const day = Math.floor(sec / 86_400);
    if (day !== stampDay) {
      stampDay = day;
      stampHead = bytes(`{"time":"${new Date(day * 86_400_000).toISOString().slice(0, 11)}`);
    }
    out.putBytes(stampHead);
    n++;
    out.putClock(sec - day * 86_400, us - sec * 1_000_000, (n * 7919) % 1000);
  };
  /** `Z","auth":...` up to and including `"request":`, with the error where each flavour puts it. */
  const head = (a: Access, response: boolean, out: PieceSink): void => {
    const error = response ? a.respError : a.reqError;
    if (!error || bao) {
      out.putBytes(authHead(a, response));
      return;
    }
    out.put(response ? respAuthHead : reqAuthHead);
    out.putBytes(a.denied ? a.caller.authDenied : a.caller.authAllowed);
    out.putBytes(C.error);
    out.put(error);
    out.putBytes(C.request);
  };
  const requestObject = (a: Access, out: PieceSink): void => {
    out.putBytes(C.id);
    out.putUuid(a.id0, a.id1, a.id2, a.id3);
    out.putBytes(idToToken(a));
    out.putBytes(a.pathPart ?? cached(pathParts, a.path, () => `${nsPart}${a.path}",`));
    if (a.reqData) {
      out.putBytes(C.data);
      out.put(a.reqData);
      out.putBytes(C.comma);
    }
    const slot = slotOf(a.caller);
    if (slot.remote !== a.remote) {
      slot.remote = a.remote;
      slot.remotePart = cached(remoteParts, a.remote, () => `"remote_address":"${a.remote}","remote_port":`);
    }
    out.putBytes(slot.remotePart);
    out.putInt(a.port, 0);
    if (slot.headers !== a.headers) {
      slot.headers = a.headers;
      slot.headersPart = cached(headerParts, a.headers, () => `,"headers":${a.headers}}`);
    }
    out.putBytes(slot.headersPart);
  };

  return {
    request(a: Access, out: PieceSink): void {
      time(a.t, out);
      head(a, false, out);
      const buf = out.current;
      a.reqFrom = out.offset;
      requestObject(a, out);
      a.reqTo = out.offset;
      a.reqBuf = buf === out.current ? buf : undefined;
      if (a.reqError && bao) {
        out.putBytes(C.error);
        out.put(a.reqError);
      }
      out.putBytes(C.reqEnd);
      out.endLine();
    },
    response(a: Access, out: PieceSink): void {
      time(a.t + a.lat, out);
      head(a, true, out);
      if (a.reqBuf) out.putRange(a.reqBuf, a.reqFrom, a.reqTo);
      else requestObject(a, out);
      a.reqBuf = undefined;
      out.putBytes(respPart(a.mount));
      if (a.respBody.length) {
        out.putBytes(C.comma);
        out.put(a.respBody);
      }
      if (a.respError && bao) {
        out.putBytes(C.respErr);
        out.put(a.respError);
        out.putBytes(C.close);
      } else out.putBytes(C.respEnd);
      out.endLine();
    },
  };
}

const HEX_CODES = Array.from({ length: 16 }, (_, i) => '0123456789abcdef'.charCodeAt(i));

/** Writes entries into large buffers; `take` hands over what is complete. */
export class BufferSink implements PieceSink {
  private buf: Buffer;
  /** The same memory as a plain Uint8Array (TypedArray#set is fastest on the base class). */
  private u8: Uint8Array;
  private off = 0;
  private readonly full: Buffer[] = [];
  /** Written buffers, reusable two hand-overs later (a waiting response may still copy from one). */
  private readonly spare: Buffer[] = [];
  private cooling: Buffer[] = [];
  private cooled: Buffer[] = [];

  constructor(private readonly chunkBytes = 8 << 20) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
    this.u8 = new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  private room(bytes: number): void {
    if (this.off + bytes > this.buf.length) {
      if (this.off > 0) this.full.push(this.buf.subarray(0, this.off));
      this.buf = this.fresh(bytes);
      this.u8 = new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.buf.length);
      this.off = 0;
    }
  }

  put(piece: Text): void {
    if (typeof piece !== 'string') return this.putBytes(piece);
    if (this.off + piece.length > this.buf.length) this.room(piece.length);
    // Everything the simulator writes is ASCII, so latin1 is a straight copy of the characters.
    this.off += this.buf.latin1Write(piece, this.off);
  }

  putBytes(piece: Uint8Array): void {
    const len = piece.length;
    if (this.off + len > this.buf.length) this.room(len);
    this.u8.set(piece, this.off);
    this.off += len;
  }

  putClock(secondOfDay: number, micros: number, nanos: number): void {
    if (this.off + 20 > this.buf.length) this.room(20);
    const b = this.u8;
    let o = this.off;
    const h = (secondOfDay / 3600) | 0;
    const m = ((secondOfDay - h * 3600) / 60) | 0;
    const sec = secondOfDay - h * 3600 - m * 60;
    const two = (v: number) => {
      const q = (v / 10) | 0;
      b[o++] = 48 + q;
      b[o++] = 48 + v - q * 10;
    };
    two(h);
    b[o++] = 58;
    two(m);
    b[o++] = 58;
    two(sec);
    b[o++] = 46;
    let x = micros;
    for (let i = 5; i >= 0; i--) {
      const q = (x / 10) | 0;
      b[o + i] = 48 + x - q * 10;
      x = q;
    }
    o += 6;
    x = nanos;
    for (let i = 2; i >= 0; i--) {
      const q = (x / 10) | 0;
      b[o + i] = 48 + x - q * 10;
      x = q;
    }
    this.off = o + 3;
  }

  putInt(n: number, width: number): void {
    if (this.off + 16 > this.buf.length) this.room(16);
    const buf = this.buf;
    let digits = 1;
    for (let x = n; x >= 10; x = (x / 10) | 0) digits++;
    const w = width > digits ? width : digits;
    let end = this.off + w;
    let x = n;
    for (let i = 0; i < w; i++) {
      const q = (x / 10) | 0;
      buf[--end] = 48 + x - q * 10;
      x = q;
    }
    this.off += w;
  }

  putUuid(w0: number, w1: number, w2: number, w3: number): void {
    if (this.off + 36 > this.buf.length) this.room(36);
    const b = this.u8;
    let o = this.off;
    const hex8 = (w: number) => {
      for (let s = 28; s >= 0; s -= 4) b[o++] = HEX_CODES[(w >>> s) & 15] as number;
    };
    hex8(w0);
    b[o++] = 45;
    for (let s = 28; s >= 16; s -= 4) b[o++] = HEX_CODES[(w1 >>> s) & 15] as number;
    b[o++] = 45;
    b[o++] = 52; // version 4
    for (let s = 8; s >= 0; s -= 4) b[o++] = HEX_CODES[(w1 >>> s) & 15] as number;
    b[o++] = 45;
    b[o++] = HEX_CODES[8 + ((w2 >>> 28) & 3)] as number; // variant 10xx
    for (let s = 24; s >= 16; s -= 4) b[o++] = HEX_CODES[(w2 >>> s) & 15] as number;
    b[o++] = 45;
    for (let s = 12; s >= 0; s -= 4) b[o++] = HEX_CODES[(w2 >>> s) & 15] as number;
    hex8(w3);
    this.off = o;
  }

  endLine(): void {
    if (this.off + 1 > this.buf.length) this.room(1);
    this.u8[this.off++] = 10;
  }

  get current(): Uint8Array {
    return this.u8;
  }

  get offset(): number {
    return this.off;
  }

  putRange(buf: Uint8Array, from: number, to: number): void {
    const len = to - from;
    if (this.off + len > this.buf.length) this.room(len);
    if (buf === this.u8) this.u8.copyWithin(this.off, from, to);
    else this.u8.set(buf.subarray(from, to), this.off);
    this.off += len;
  }

  private fresh(bytes: number): Buffer {
    if (bytes <= this.chunkBytes) {
      const b = this.spare.pop();
      if (b) return b;
    }
    return Buffer.allocUnsafe(Math.max(this.chunkBytes, bytes));
  }

  /**
   * Give back buffers handed out by `take` whose write has completed. They are reused two calls
   * later, because a waiting response entry may still copy its request object from one of them.
   */
  recycle(written: Buffer[]): void {
    for (const b of this.cooled) {
      if (b.byteOffset === 0 && b.buffer.byteLength === this.chunkBytes && this.spare.length < 8) {
        this.spare.push(Buffer.from(b.buffer, 0, this.chunkBytes));
      }
    }
    this.cooled = this.cooling;
    this.cooling = written;
  }

  /** Bytes waiting in completed buffers. */
  get pending(): number {
    return this.full.length;
  }

  /** Completed buffers (and, with `all`, the current partial one), emptied from the sink. */
  take(all = false): Buffer[] {
    if (all && this.off > 0) {
      this.full.push(this.buf.subarray(0, this.off));
      this.buf = this.fresh(0);
      this.u8 = new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.buf.length);
      this.off = 0;
    }
    return this.full.splice(0);
  }
}

/** A PieceSink collecting lines as strings (tests, small outputs). */
export class StringSink implements PieceSink {
  readonly lines: string[] = [];
  private readonly inner = new BufferSink(1 << 16);
  put(piece: Text): void {
    this.inner.put(piece);
  }
  putBytes(piece: Uint8Array): void {
    this.inner.putBytes(piece);
  }
  putClock(secondOfDay: number, micros: number, nanos: number): void {
    this.inner.putClock(secondOfDay, micros, nanos);
  }
  /** No range copies: every response entry renders its request object again. */
  readonly current = new Uint8Array(0);
  readonly offset = 0;
  putRange(): void {
    throw new Error('StringSink cannot copy ranges');
  }
  putInt(n: number, width: number): void {
    this.inner.putInt(n, width);
  }
  putUuid(w0: number, w1: number, w2: number, w3: number): void {
    this.inner.putUuid(w0, w1, w2, w3);
  }
  endLine(): void {
    const text = Buffer.concat(this.inner.take(true)).toString('latin1');
    this.lines.push(text);
  }
}

/** User agents as audited since Vault 1.18 (not HMAC'd). */
export const HEADERS = {
  vaultCli: '{"user-agent":["vault/1.18.1 (+https://www.vaultproject.io/; go1.22.7)"]}',
  vaultAgent: '{"user-agent":["Vault Agent/1.18.1 (+https://www.vaultproject.io/; go1.22.7)"]}',
  goSdk: '{"user-agent":["Go-http-client/1.1"]}',
  javaSdk: '{"user-agent":["Java/17.0.9 spring-vault/3.1.0"]}',
  pythonHvac: '{"user-agent":["python-requests/2.31.0"]}',
  browser:
    '{"user-agent":["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"]}',
  browserWin:
    '{"user-agent":["Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"]}',
  ciAction: '{"user-agent":["hashicorp/vault-action/3.0.0"]}',
  prometheus: '{"user-agent":["Prometheus/2.53.0"]}',
  curl: '{"user-agent":["curl/8.5.0"]}',
  python: '{"user-agent":["python-requests/2.32.3"]}',
  terraform: '{"user-agent":["Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-vault/4.5.0"]}',
} as const;
