import {
  bytes,
  HEADERS,
  Hmac,
  LOGIN_CALLER,
  mount,
  type Access,
  type Caller,
  type Flavor,
  type Mount,
  type Text,
} from './audit-format.js';
import type { BenignEvent, ScenarioKind } from './labels.js';
import { Rng } from './rng.js';
import { DAY, ZoneClock, iso } from './time.js';

/** Everything a run is parameterised by (the labels file records it). */
export interface SimOptions {
  seed: number;
  days: number;
  identities: number;
  /** Run start, epoch ms. */
  start: number;
  /** IANA zone of human working hours. */
  timeZone: string;
  scenarios: ScenarioKind[];
  /** 0..1: scales attack counts and rates. */
  intensity: number;
  /** Instances per scenario kind. */
  perKind: number;
  warmupDays: number;
  flavor: Flavor;
  /** OpenBao/Enterprise-style namespace path (e.g. `team-a/`); root when absent. */
  namespace?: string;
}

export interface Mounts {
  kv: Mount;
  database: Mount;
  transit: Mount;
  pki: Mount;
  sys: Mount;
  token: Mount;
  approle: Mount;
  kubernetes: Mount;
  jwt: Mount;
  userpass: Mount;
  oidc: Mount;
  ldap: Mount;
}

function makeMounts(rng: Rng): Mounts {
  const sfx = () => rng.hex(4);
  return {
    kv: mount('secret/', 'kv', 'secret', sfx()),
    database: mount('database/', 'database', 'secret', sfx()),
    transit: mount('transit/', 'transit', 'secret', sfx()),
    pki: mount('pki/', 'pki', 'secret', sfx()),
    sys: mount('sys/', 'system', undefined, sfx()),
    token: mount('auth/token/', 'token', 'auth', sfx()),
    approle: mount('auth/approle/', 'approle', 'auth', sfx()),
    kubernetes: mount('auth/kubernetes/', 'kubernetes', 'auth', sfx()),
    jwt: mount('auth/jwt/', 'jwt', 'auth', sfx()),
    userpass: mount('auth/userpass/', 'userpass', 'auth', sfx()),
    oidc: mount('auth/oidc/', 'oidc', 'auth', sfx()),
    ldap: mount('auth/ldap/', 'ldap', 'auth', sfx()),
  };
}

const FIELDS: Record<string, string[]> = {
  db: ['host', 'password', 'username'],
  postgres: ['password', 'username'],
  mysql: ['password', 'username'],
  redis: ['password', 'url'],
  'api-key': ['api_key'],
  stripe: ['publishable_key', 'secret_key'],
  smtp: ['password', 'user'],
  'jwt-signing': ['private_key'],
  s3: ['access_key', 'secret_key'],
  kafka: ['sasl_password', 'sasl_user'],
  'oauth-client': ['client_id', 'client_secret'],
  tls: ['certificate', 'private_key'],
  config: ['value'],
  'sentry-dsn': ['dsn'],
  datadog: ['api_key', 'app_key'],
  elastic: ['password', 'username'],
  'github-token': ['token'],
  'npm-token': ['token'],
  'docker-registry': ['password', 'username'],
  'slack-webhook': ['url'],
  'signing-key': ['key'],
  kubeconfig: ['config'],
  'sonar-token': ['token'],
  'codecov-token': ['token'],
};

interface Secret {
  fields: string[];
  version: number;
  readBody: Uint8Array | undefined;
  dataPath: string;
  dataPathPart: Uint8Array | undefined;
}

/**
 * The KV v2 tree: every secret path, its HMAC'd fields and version, and the directory structure
 * for LIST. Logical paths have no mount and no `data/` (e.g. `payments/payments-api/db`).
 */
export class KvCatalog {
  private readonly secrets = new Map<string, Secret>();
  private readonly children = new Map<string, Set<string>>();
  private readonly listCache = new Map<string, Uint8Array>();

  constructor(
    private readonly hmac: Hmac,
    private readonly rng: Rng,
    /** The request namespace object (JSON), for pre-encoded path pieces. */
    private readonly namespaceJson: string,
  ) {}

  /** Encoded `"namespace":...,"path":"secret/data/<logical>",` of a request object. */
  dataPathPart(logical: string): Uint8Array | undefined {
    const s = this.secrets.get(logical);
    if (!s) return undefined;
    return (s.dataPathPart ??= bytes(`"namespace":${this.namespaceJson},"path":"${s.dataPath}",`));
  }

  add(logical: string): void {
    if (this.secrets.has(logical)) return;
    const name = logical.slice(logical.lastIndexOf('/') + 1);
    const fields = FIELDS[name] ?? ['value'];
    this.secrets.set(logical, {
      fields,
      version: this.rng.int(1, 12),
      readBody: undefined,
      dataPath: `secret/data/${logical}`,
      dataPathPart: undefined,
    });
    // Directory index for LIST responses.
    const parts = logical.split('/');
    let dir = '';
    for (let i = 0; i < parts.length; i++) {
      const child = i === parts.length - 1 ? (parts[i] as string) : `${parts[i] as string}/`;
      let set = this.children.get(dir);
      if (!set) this.children.set(dir, (set = new Set()));
      if (!set.has(child)) {
        set.add(child);
        this.listCache.delete(dir);
      }
      dir += child.endsWith('/') ? child : '';
    }
  }

  has(logical: string): boolean {
    return this.secrets.has(logical);
  }

  all(): string[] {
    return [...this.secrets.keys()];
  }

  /** Directories (logical, trailing slash; '' is the mount root). */
  dirs(): string[] {
    return [...this.children.keys()];
  }

  /** `secret/data/<logical>` (one string instance per path, so lookups keyed on it stay cheap). */
  dataPath(logical: string): string {
    return this.secrets.get(logical)?.dataPath ?? `secret/data/${logical}`;
  }

  /** `"data":{...}` of a KV v2 read. */
  readBody(logical: string): Uint8Array {
    let s = this.secrets.get(logical);
    if (!s) {
      this.add(logical);
      s = this.secrets.get(logical) as Secret;
    }
    if (s.readBody === undefined) {
      const h = this.hmac;
      const data = s.fields.map((f) => `"${f}":"${h.of(`${logical}#${f}@${s.version}`)}"`).join(',');
      s.readBody = bytes(
        `"data":{"data":{${data}},"metadata":{"created_time":"${h.of(`${logical}@${s.version}#created`)}",` +
          `"custom_metadata":null,"deletion_time":"${h.of('')}","destroyed":false,"version":${s.version}}}`,
      );
    }
    return s.readBody;
  }

  /** A KV v2 write: the new version's request data and response body. */
  write(logical: string): { reqData: string; respBody: string } {
    if (!this.secrets.has(logical)) this.add(logical);
    const s = this.secrets.get(logical) as Secret;
    s.version++;
    s.readBody = undefined;
    const h = this.hmac;
    const data = s.fields.map((f) => `"${f}":"${h.of(`${logical}#${f}@${s.version}`)}"`).join(',');
    return {
      reqData: `{"data":{${data}},"options":{}}`,
      respBody:
        `"data":{"created_time":"${h.of(`${logical}@${s.version}#created`)}","custom_metadata":null,` +
        `"deletion_time":"${h.of('')}","destroyed":false,"version":${s.version}}`,
    };
  }

  /** `"data":{"keys":[...]}` of a LIST on a directory (keys HMAC'd, as Vault does). */
  listBody(dir: string): Uint8Array {
    let body = this.listCache.get(dir);
    if (body === undefined) {
      const keys = [...(this.children.get(dir) ?? [])].sort().map((k) => `"${this.hmac.of(k)}"`);
      body = bytes(`"data":{"keys":[${keys.join(',')}]}`);
      this.listCache.set(dir, body);
    }
    return body;
  }

  /** Metadata read body (current version info). */
  metadataBody(logical: string): string {
    const s = this.secrets.get(logical);
    const v = s?.version ?? 1;
    const h = this.hmac;
    return (
      `"data":{"cas_required":false,"created_time":"${h.of(logical + '#meta-created')}",` +
      `"current_version":${v},"custom_metadata":null,"delete_version_after":"${h.of('0s')}",` +
      `"max_versions":0,"oldest_version":${Math.max(1, v - 9)},"updated_time":"${h.of(`${logical}@${v}#created`)}"}`
    );
  }
}

/** /24 allocation: every identity has home subnets that nobody else's traffic uses by accident. */
export class Networks {
  private readonly used = new Set<string>();
  private readonly next = new Map<string, number>();

  /** Claim the next free /24 under `a.b` (returns `a.b.c`). */
  alloc(prefixes: readonly string[]): string {
    for (const p of prefixes) {
      let c = this.next.get(p) ?? 1;
      while (c < 255 && this.used.has(`${p}.${c}`)) c++;
      if (c < 255) {
        this.next.set(p, c + 1);
        const net = `${p}.${c}`;
        this.used.add(net);
        return net;
      }
    }
    throw new Error(`no free /24 left under ${prefixes.join(', ')}`);
  }

  claim(net: string): string {
    this.used.add(net);
    return net;
  }

  isUsed(net: string): boolean {
    return this.used.has(net);
  }

  /** A 10.x /24 that no identity uses (an unfamiliar internal network). */
  unseenInternal(rng: Rng): string {
    for (;;) {
      const net = `10.${rng.int(100, 199)}.${rng.int(0, 255)}`;
      if (!this.used.has(net)) {
        this.used.add(net);
        return net;
      }
    }
  }

  /** A routable public address in blocks typical of hosting providers and consumer ISPs. */
  publicAddress(rng: Rng): string {
    const first = rng.pick(PUBLIC_FIRST_OCTETS);
    return `${first}.${rng.int(1, 254)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
  }
}

const PUBLIC_FIRST_OCTETS = [
  5, 23, 31, 37, 45, 46, 51, 62, 66, 77, 78, 79, 80, 81, 82, 85, 87, 88, 89, 91, 92, 93, 94, 95, 103, 104,
  109, 134, 139, 141, 146, 154, 158, 159, 162, 167, 176, 178, 185, 188, 193, 194, 195, 212, 213, 217,
];

export const cidr = (net: string): string => `${net}.0/24`;
export const host = (net: string, h: number): string => `${net}.${h}`;

/** Typical server-side latencies (ms) by kind of call; log-normal around these medians. */
export const LATENCY: Record<string, [number, number]> = {
  kvRead: [1.6, 0.5],
  kvWrite: [4, 0.5],
  list: [2, 0.5],
  sys: [1.2, 0.4],
  lookup: [0.6, 0.4],
  loginApprole: [18, 0.4],
  loginK8s: [45, 0.4],
  loginJwt: [35, 0.4],
  loginUserpass: [85, 0.3],
  loginLdap: [120, 0.5],
  oidcCallback: [260, 0.4],
  tokenCreate: [6, 0.4],
  dbCreds: [140, 0.5],
  dbRotate: [220, 0.5],
  transit: [1.8, 0.5],
  pki: [55, 0.4],
  denied: [0.5, 0.4],
};

export interface AccessInit {
  /** Request time, epoch ms (fractional allowed). */
  t: number;
  latency: keyof typeof LATENCY;
  caller: Caller;
  op: string;
  path: string;
  mount: Mount;
  remote: string;
  headers?: string;
  denied?: boolean;
  reqData?: Text;
  respBody?: Text;
  /** Encoded `"namespace":...,"path":"...",` when the caller has it (KV reads). */
  pathPart?: Uint8Array;
  reqError?: string;
  respError?: string;
}

function blankAccess(): Access {
  return {
    t: 0,
    lat: 0,
    seq: 0,
    caller: LOGIN_CALLER,
    denied: false,
    op: '',
    path: '',
    mount: undefined as unknown as Mount,
    remote: '',
    headers: '',
    reqData: '',
    respBody: '',
    reqError: '',
    respError: '',
    pathPart: undefined,
    reqBuf: undefined,
    reqFrom: 0,
    reqTo: 0,
    id0: 0,
    id1: 0,
    id2: 0,
    id3: 0,
    port: 0,
    actor: -1,
    scenario: -1,
  };
}

/** Something that writes accesses over time (an identity, an attack scenario). */
export interface Producer {
  /** Generate every access with request time < `until` (may generate later ones too). */
  advance(until: number): void;
}

/** Shared state and services of one simulation run. */
export class World {
  readonly hmac: Hmac;
  readonly zone: ZoneClock;
  readonly start: number;
  readonly end: number;
  readonly warmupEnd: number;
  readonly mounts: Mounts;
  readonly kv: KvCatalog;
  readonly nets: Networks;
  readonly namespaceJson: string;
  readonly namespaceId: string;
  /** Local-midnight UTC instants of public holidays (humans stay home, CI mostly idle). */
  readonly holidays = new Set<number>();
  readonly benign: BenignEvent[] = [];
  /** Whole-stream silences [from, to) in ms: nothing is written while they last. */
  readonly silences: [number, number][] = [];
  buffer: Access[] = [];
  /** Everything before this instant has been written; later accesses must not go before it. */
  floor: number;
  /** Accesses a producer generated too late for their time (a bug if ever non-zero; tests check). */
  lateClamped = 0;
  private seq = 0;
  /** Benign accesses per identity index; scenario accesses per scenario index. */
  readonly actorCounts: number[] = [];
  readonly actorFirst: number[] = [];
  readonly scenarioCounts: number[] = [];
  /** Request times (µs) of the first and last written access of each scenario. */
  readonly scenarioFirst: number[] = [];
  /** Source addresses each scenario's written accesses came from (in order of first use). */
  readonly scenarioAddresses: Set<string>[] = [];
  readonly scenarioLast: number[] = [];
  /** Suppressed windows per identity index ([from, to) ms): dormancy, stopped jobs, not-yet-hired. */
  readonly suppressed: [number, number][][] = [];
  private readonly latRng: Rng;
  /** Randomness nobody can observe the order of (fresh HMACs of logins, OIDC click delays). */
  readonly aux: Rng;

  constructor(readonly options: SimOptions) {
    const buildRng = Rng.derive(options.seed, 'world');
    this.hmac = new Hmac(`salt-${options.seed}-${buildRng.hex(8)}`);
    this.zone = new ZoneClock(options.timeZone);
    this.start = options.start;
    this.end = options.start + options.days * DAY;
    this.floor = options.start;
    this.warmupEnd = options.start + options.warmupDays * DAY;
    this.mounts = makeMounts(buildRng);
    this.nets = new Networks();
    this.latRng = Rng.derive(options.seed, 'latency');
    this.aux = Rng.derive(options.seed, 'aux');
    if (options.namespace) {
      const path = options.namespace.endsWith('/') ? options.namespace : `${options.namespace}/`;
      this.namespaceId = buildRng.hex(3).slice(0, 5);
      this.namespaceJson = `{"id":"${this.namespaceId}","path":${JSON.stringify(path)}}`;
    } else {
      this.namespaceId = 'root';
      this.namespaceJson = '{"id":"root"}';
    }
    this.kv = new KvCatalog(this.hmac, Rng.derive(options.seed, 'kv'), this.namespaceJson);
  }

  private deniedBytes: Uint8Array | undefined;
  /** `"data":{"error":...}` of a permission-denied response. */
  get deniedBody(): Uint8Array {
    return (this.deniedBytes ??= bytes(`"data":{"error":"${this.hmac.of('permission denied')}"}`));
  }

  isHoliday(localMidnight: number): boolean {
    return this.holidays.has(localMidnight);
  }

  isSuppressed(actor: number, t: number): boolean {
    const windows = this.suppressed[actor];
    if (!windows) return false;
    for (const [a, b] of windows) if (t >= a && t < b) return true;
    return false;
  }

  suppress(actor: number, from: number, to: number): void {
    (this.suppressed[actor] ??= []).push([from, to]);
  }

  /** Queue one access. `actor` is an identity index (or -1), `scenario` a scenario index (or -1). */
  emit(actor: number, scenario: number, a: AccessInit): boolean {
    if (a.t < this.start || a.t >= this.end) return false;
    if (scenario < 0 && actor >= 0 && this.isSuppressed(actor, a.t)) return false;
    let t = a.t;
    if (t < this.floor) {
      this.lateClamped++;
      t = this.floor;
    }
    const [median, sigma] = LATENCY[a.latency] as [number, number];
    const latMs = Math.min(20_000, this.latRng.logNormal(median, sigma));
    // Written accesses come back through `release`; reusing them keeps the old generation small.
    const access = this.pool.pop() ?? blankAccess();
    access.t = Math.round(t * 1000);
    access.lat = Math.max(30, Math.round(latMs * 1000));
    access.seq = this.seq++;
    access.caller = a.caller;
    access.denied = a.denied ?? false;
    access.op = a.op;
    access.path = a.path;
    access.pathPart = a.pathPart;
    access.mount = a.mount;
    access.remote = a.remote;
    access.headers = a.headers ?? HEADERS.goSdk;
    access.reqData = a.reqData ?? '';
    access.respBody = a.respBody ?? '';
    access.reqError = a.reqError ?? '';
    access.respError = a.respError ?? '';
    access.reqBuf = undefined;
    access.actor = actor;
    access.scenario = scenario;
    this.buffer.push(access);
    return true;
  }

  private readonly pool: Access[] = [];

  /** An access that was written (or dropped) and is referenced nowhere else any more. */
  release(a: Access): void {
    a.reqBuf = undefined;
    a.reqData = '';
    a.respBody = '';
    if (this.pool.length < 100_000) this.pool.push(a);
  }

  addBenign(event: Omit<BenignEvent, 'at' | 'end'> & { at: number; end?: number }): void {
    const { at, end, ...rest } = event;
    this.benign.push({ ...rest, at: iso(at), ...(end !== undefined ? { end: iso(end) } : {}) });
  }

  /** True when the access would fall (even partly) inside a stream silence. */
  silenced(a: Access): boolean {
    if (this.silences.length === 0) return false;
    const from = a.t / 1000;
    const to = (a.t + a.lat) / 1000;
    for (const [s, e] of this.silences) if (to >= s && from < e) return true;
    return false;
  }
}
