import {
  DENIED_ERROR_JSON,
  HEADERS,
  LOGIN_CALLER,
  badTokenCaller,
  newSession,
  type Session,
  type TokenSpec,
} from './audit-format.js';
import type { IdentityLabel, Role } from './labels.js';
import { Rng, zipfCumulative } from './rng.js';
import { DAY, HOUR, MINUTE, SECOND, WEEK, iso } from './time.js';
import { cidr, host, type AccessInit, type Producer, type World } from './world.js';

/**
 * The benign population: services, CI runners, batch and rotation jobs, humans, admins and
 * monitors. Each identity draws from its own random stream, so its traffic does not change when
 * attack scenarios are added or removed.
 */

/** Sessions an identity held over time (scenarios reuse a victim's token at a given instant). */
export class SessionLog {
  private readonly list: { at: number; s: Session }[] = [];
  add(at: number, s: Session): void {
    let i = this.list.length;
    while (i > 0 && (this.list[i - 1] as { at: number }).at > at) i--;
    this.list.splice(i, 0, { at, s });
    // Keep a few days of history.
    while (this.list.length > 64) this.list.shift();
  }
  at(t: number): Session | undefined {
    let found: Session | undefined;
    for (const e of this.list) {
      if (e.at <= t) found = e.s;
      else break;
    }
    return found;
  }
  get last(): Session | undefined {
    return this.list[this.list.length - 1]?.s;
  }
}

export type LoginKind = 'approle' | 'kubernetes' | 'jwt' | 'userpass' | 'ldap' | 'oidc';

export interface LoginOptions {
  kind: LoginKind;
  t: number;
  remote: string;
  headers: string;
  /** The session the login issues (absent for a failed login). */
  session?: Session;
  user?: string;
  role?: string;
  /** `wrong_password`: existing user, bad password; `unknown_user`: no such user. */
  failure?: 'wrong_password' | 'unknown_user';
}

/** Write a login as Vault audits it. Returns the time of its last request (OIDC takes two). */
export function emitLogin(w: World, actor: number, scenario: number, o: LoginOptions): number {
  const m = w.mounts;
  const fail = o.failure;
  const respBody = fail
    ? `"data":{"error":"${w.hmac.of('invalid username or password')}"}`
    : (o.session?.issuedAuth ?? '');
  const respError = fail === 'wrong_password' ? '"invalid credentials"' : '';
  const rng = w.aux;
  switch (o.kind) {
    case 'approle':
      w.emit(actor, scenario, {
        t: o.t,
        latency: 'loginApprole',
        caller: LOGIN_CALLER,
        op: 'update',
        path: 'auth/approle/login',
        mount: m.approle,
        remote: o.remote,
        headers: o.headers,
        reqData: `{"role_id":"${w.hmac.of(`role-id:${o.role ?? ''}`)}","secret_id":"${w.hmac.fresh(rng)}"}`,
        respBody: fail ? `"data":{"error":"${w.hmac.of('invalid role or secret ID')}"}` : respBody,
        respError: fail ? '"invalid credentials"' : '',
      });
      return o.t;
    case 'kubernetes':
    case 'jwt':
      w.emit(actor, scenario, {
        t: o.t,
        latency: o.kind === 'jwt' ? 'loginJwt' : 'loginK8s',
        caller: LOGIN_CALLER,
        op: 'update',
        path: `auth/${o.kind}/login`,
        mount: o.kind === 'jwt' ? m.jwt : m.kubernetes,
        remote: o.remote,
        headers: o.headers,
        reqData: `{"jwt":"${w.hmac.fresh(rng)}","role":"${w.hmac.of(o.role ?? '')}"}`,
        respBody: fail ? `"data":{"error":"${w.hmac.of('permission denied')}"}` : respBody,
        respError: fail ? '"permission denied"' : '',
      });
      return o.t;
    case 'userpass':
    case 'ldap':
      w.emit(actor, scenario, {
        t: o.t,
        latency: o.kind === 'ldap' ? 'loginLdap' : 'loginUserpass',
        caller: LOGIN_CALLER,
        op: 'update',
        path: `auth/${o.kind}/login/${o.user ?? 'unknown'}`,
        mount: o.kind === 'ldap' ? m.ldap : m.userpass,
        remote: o.remote,
        headers: o.headers,
        reqData: `{"password":"${w.hmac.fresh(rng)}"}`,
        respBody,
        respError,
      });
      return o.t;
    case 'oidc': {
      w.emit(actor, scenario, {
        t: o.t,
        latency: 'sys',
        caller: LOGIN_CALLER,
        op: 'update',
        path: 'auth/oidc/oidc/auth_url',
        mount: m.oidc,
        remote: o.remote,
        headers: o.headers,
        reqData: `{"redirect_uri":"${w.hmac.of('https://vault.acme.example/ui/vault/auth/oidc/oidc/callback')}","role":"${w.hmac.of('default')}"}`,
        respBody: `"data":{"auth_url":"${w.hmac.fresh(rng)}"}`,
      });
      const t2 = o.t + rng.uniform(4, 25) * SECOND;
      w.emit(actor, scenario, {
        t: t2,
        latency: 'oidcCallback',
        caller: LOGIN_CALLER,
        op: 'read',
        path: 'auth/oidc/oidc/callback',
        mount: m.oidc,
        remote: o.remote,
        headers: o.headers,
        reqData: `{"code":"${w.hmac.fresh(rng)}","state":"${w.hmac.fresh(rng)}"}`,
        respBody: fail ? `"data":{"error":"${w.hmac.of('permission denied')}"}` : respBody,
        respError: fail ? '"permission denied"' : '',
      });
      return t2;
    }
  }
}

export abstract class Actor implements Producer {
  horizon: number;
  readonly sessions = new SessionLog();
  /** Logical KV paths it reads in normal work. */
  paths: string[] = [];
  protected pathCum: number[] = [];
  /** Planned start (a new hire or service arrives mid-run). */
  plannedStart: number;

  constructor(
    readonly world: World,
    readonly index: number,
    readonly rng: Rng,
    readonly label: IdentityLabel,
  ) {
    this.horizon = world.start;
    this.plannedStart = world.start;
  }

  get role(): Role {
    return this.label.role;
  }

  get team(): string {
    return this.label.team;
  }

  get entityId(): string | undefined {
    return this.label.entityId;
  }

  abstract advance(until: number): void;
  abstract tokenSpec(issuedAt: number): TokenSpec;
  /** An address this identity normally uses. */
  abstract usualAddress(): string;

  /** A fresh session of this identity (scenarios: a stolen password, an insider logging in). */
  issue(at: number, rng: Rng): Session {
    return newSession(this.tokenSpec(at), this.world.hmac, rng);
  }

  setPaths(paths: string[]): void {
    this.paths = paths;
    this.pathCum = zipfCumulative(paths.length, 0.9);
  }

  protected pickPath(): string {
    return this.paths[this.rng.pickCumulative(this.pathCum)] as string;
  }

  protected emit(init: AccessInit): boolean {
    return this.world.emit(this.index, -1, init);
  }

  protected kvRead(t: number, s: Session, logical: string, remote: string, headers: string): void {
    this.emit({
      t,
      latency: 'kvRead',
      caller: s.caller,
      op: 'read',
      path: this.world.kv.dataPath(logical),
      pathPart: this.world.kv.dataPathPart(logical),
      mount: this.world.mounts.kv,
      remote,
      headers,
      respBody: this.world.kv.readBody(logical),
    });
  }

  protected deniedRead(
    t: number,
    s: Session,
    path: string,
    remote: string,
    headers: string,
    op = 'read',
  ): void {
    this.emit({
      t,
      latency: 'denied',
      caller: s.caller,
      denied: true,
      op,
      path,
      mount: path.startsWith('sys/') ? this.world.mounts.sys : this.world.mounts.kv,
      remote,
      headers,
      reqError: DENIED_ERROR_JSON,
      respError: DENIED_ERROR_JSON,
      respBody: this.world.deniedBody,
    });
  }

  protected tokenCall(
    t: number,
    s: Session,
    what: 'lookup-self' | 'renew-self' | 'revoke-self',
    remote: string,
    headers: string,
  ): void {
    this.emit({
      t,
      latency: what === 'lookup-self' ? 'lookup' : 'tokenCreate',
      caller: s.caller,
      op: what === 'lookup-self' ? 'read' : 'update',
      path: `auth/token/${what}`,
      mount: this.world.mounts.token,
      remote,
      headers,
      respBody: what === 'lookup-self' ? s.lookupData : what === 'renew-self' ? s.issuedAuth : '',
    });
  }

  /** Hours of a day (local) and weekday profile helpers. */
  protected localHour(t: number): number {
    return this.world.zone.hourOfDay(t);
  }
}

// ------------------------------------------------------------------------------------------------
// Services

interface Replica {
  net: string;
  hostOctet: number;
  sessions: SessionLog;
  current: Session | undefined;
  nextLogin: number;
  nextRenew: number;
  nextDb: number;
  nextPki: number;
  needLogin: boolean;
}

export interface ServiceTraits {
  method: 'approle' | 'kubernetes';
  name: string;
  net: string;
  replicas: number;
  /** Reads per hour per replica at profile 1. */
  scale: number;
  amplitude: number;
  peakHour: number;
  weekendFactor: number;
  growthPerWeek: number;
  loginHours: number;
  dbRole?: string;
  transitKey?: string;
  transitScale: number;
  pkiRole?: string;
  headers: string;
  policy: string;
}

export class ServiceActor extends Actor {
  readonly replicas: Replica[] = [];
  nextDeploy: number;
  scaleUp: { at: number; to: number } | undefined;
  private dayNoise = 1;
  private dayNoiseDay = -1;

  constructor(
    world: World,
    index: number,
    rng: Rng,
    label: IdentityLabel,
    readonly traits: ServiceTraits,
  ) {
    super(world, index, rng, label);
    const used = new Set<number>();
    for (let i = 0; i < traits.replicas; i++) this.replicas.push(this.newReplica(used));
    this.nextDeploy = this.drawDeploy(world.start);
  }

  private newReplica(used: Set<number>): Replica {
    let octet = this.rng.int(2, 250);
    while (used.has(octet)) octet = this.rng.int(2, 250);
    used.add(octet);
    return {
      net: this.traits.net,
      hostOctet: octet,
      sessions: new SessionLog(),
      current: undefined,
      nextLogin: -Infinity,
      nextRenew: Infinity,
      nextDb: this.world.start + this.rng.uniform(0, HOUR),
      nextPki: this.world.start + this.rng.uniform(0, DAY),
      needLogin: true,
    };
  }

  private drawDeploy(after: number): number {
    // Deploys on weekdays during working hours, every few days.
    let t = after + this.rng.exponential(3.5 * DAY) + HOUR;
    for (let i = 0; i < 14; i++) {
      const mid = this.world.zone.localMidnight(t);
      const wd = this.world.zone.weekday(mid + 12 * HOUR);
      if (wd >= 1 && wd <= 5 && !this.world.isHoliday(mid)) {
        return this.world.zone.at(mid, this.rng.uniform(9.5, 17));
      }
      t = mid + DAY + HOUR;
    }
    return Infinity;
  }

  usualAddress(): string {
    const r = this.replicas[0] as Replica;
    return host(r.net, r.hostOctet);
  }

  replicaAddress(i: number): string {
    const r = this.replicas[i % this.replicas.length] as Replica;
    return host(r.net, r.hostOctet);
  }

  /** The token replica `i` held at `t` (what a thief on that host would use). */
  sessionAt(t: number, i = 0): Session {
    const r = this.replicas[i % this.replicas.length] as Replica;
    return r.sessions.at(t) ?? r.sessions.last ?? this.issue(t, this.rng);
  }

  tokenSpec(issuedAt: number): TokenSpec {
    const l = this.label;
    return {
      displayName: l.displayName,
      policies: l.policies,
      metadata:
        this.traits.method === 'approle'
          ? { role_name: this.traits.name }
          : {
              role: this.traits.name,
              service_account_name: this.traits.name,
              service_account_namespace: l.team,
              service_account_uid: (l.entityId ?? '').replace(/^.{8}/, 'b1f0c2d4'),
            },
      ...(l.entityId ? { entityId: l.entityId } : {}),
      ttlSeconds: this.traits.loginHours * 3600,
      issuedAt,
      grantingPolicy: this.traits.policy,
      namespaceId: this.world.namespaceId,
    };
  }

  private login(r: Replica, t: number): void {
    const s = this.issue(t, this.rng);
    emitLogin(this.world, this.index, -1, {
      kind: this.traits.method,
      t,
      remote: host(r.net, r.hostOctet),
      headers: this.traits.headers,
      session: s,
      role: this.traits.name,
    });
    r.current = s;
    r.sessions.add(t, s);
    r.needLogin = false;
    const period = this.traits.loginHours * HOUR;
    r.nextLogin = t + period * this.rng.uniform(0.92, 1.0);
    r.nextRenew = t + period / 2 + this.rng.uniform(-60, 60) * SECOND;
  }

  /** Bring the replica's token up to date at `t` (logins and renewals due before it). */
  private catchUp(r: Replica, t: number, h0: number): Session {
    if (r.needLogin || !r.current) this.login(r, Math.max(h0, t - this.rng.uniform(0.05, 2) * SECOND));
    for (;;) {
      const next = Math.min(r.nextLogin, r.nextRenew);
      if (next > t) break;
      const at = Math.max(next, h0);
      if (r.nextLogin <= r.nextRenew) this.login(r, at);
      else {
        this.tokenCall(at, r.current as Session, 'renew-self', host(r.net, r.hostOctet), this.traits.headers);
        r.nextRenew = Infinity;
      }
    }
    return r.current as Session;
  }

  private rateFactor(t: number): number {
    const w = this.world;
    const h = this.localHour(t);
    const mid = w.zone.localMidnight(t);
    const wd = w.zone.weekday(mid + 12 * HOUR);
    const weekend = wd === 0 || wd === 6;
    let f = 1 + this.traits.amplitude * Math.cos((2 * Math.PI * (h - this.traits.peakHour)) / 24);
    if (weekend) f *= this.traits.weekendFactor;
    if (w.isHoliday(mid)) f *= 0.75;
    if (this.traits.growthPerWeek > 0)
      f *= Math.pow(1 + this.traits.growthPerWeek, Math.max(0, t - w.warmupEnd) / WEEK);
    const day = Math.floor((t - w.start) / DAY);
    if (day !== this.dayNoiseDay) {
      this.dayNoiseDay = day;
      this.dayNoise = this.rng.gammaNoise(12);
    }
    return f * this.dayNoise;
  }

  advance(until: number): void {
    while (this.horizon < until) {
      const h0 = this.horizon;
      const h1 = h0 + HOUR;
      this.hour(h0, h1);
      this.horizon = h1;
    }
  }

  private hour(h0: number, h1: number): void {
    const w = this.world;
    if (w.isSuppressed(this.index, h0) && w.isSuppressed(this.index, h1 - 1)) {
      for (const r of this.replicas) r.needLogin = true;
      // Keep the random stream position independent of how long the suppression lasts.
      return;
    }
    if (this.scaleUp && this.scaleUp.at >= h0 && this.scaleUp.at < h1)
      this.doScaleUp(this.scaleUp.at, this.scaleUp.to);
    if (this.nextDeploy >= h0 && this.nextDeploy < h1) {
      this.deploy(this.nextDeploy);
      this.nextDeploy = this.drawDeploy(this.nextDeploy);
    }
    const f = this.rateFactor(h0 + HOUR / 2) * this.rng.gammaNoise(40);
    const tr = this.traits;
    for (const r of this.replicas) {
      const remote = host(r.net, r.hostOctet);
      const n = this.rng.poisson(tr.scale * f);
      const times = new Float64Array(n);
      for (let i = 0; i < n; i++) times[i] = h0 + this.rng.next() * HOUR;
      times.sort();
      for (const t of times) {
        const s = this.catchUp(r, t, h0);
        if (this.rng.chance(0.0004)) {
          const other = this.rng.pick(this.world.kv.all());
          if (!this.paths.includes(other)) {
            this.deniedRead(t, s, `secret/data/${other}`, remote, tr.headers);
            continue;
          }
        }
        this.kvRead(t, s, this.pickPath(), remote, tr.headers);
      }
      if (tr.transitKey) {
        const k = this.rng.poisson(tr.transitScale * f);
        for (let i = 0; i < k; i++) {
          const t = h0 + this.rng.next() * HOUR;
          const s = this.catchUp(r, t, h0);
          const enc = this.rng.chance(0.5);
          this.emit({
            t,
            latency: 'transit',
            caller: s.caller,
            op: 'update',
            path: `transit/${enc ? 'encrypt' : 'decrypt'}/${tr.transitKey}`,
            mount: w.mounts.transit,
            remote,
            headers: tr.headers,
            reqData: enc
              ? `{"plaintext":"${w.hmac.fresh(this.rng)}"}`
              : `{"ciphertext":"${w.hmac.fresh(this.rng)}"}`,
            respBody: enc
              ? `"data":{"ciphertext":"${w.hmac.fresh(this.rng)}","key_version":1}`
              : `"data":{"plaintext":"${w.hmac.fresh(this.rng)}"}`,
          });
        }
      }
      while (tr.dbRole && r.nextDb < h1) {
        const t = Math.max(h0, r.nextDb);
        const s = this.catchUp(r, t, h0);
        this.emit({
          t,
          latency: 'dbCreds',
          caller: s.caller,
          op: 'read',
          path: `database/creds/${tr.dbRole}`,
          mount: w.mounts.database,
          remote,
          headers: tr.headers,
          respBody:
            `"secret":{"lease_id":"database/creds/${tr.dbRole}/${leaseId(this.rng)}"},` +
            `"data":{"password":"${w.hmac.fresh(this.rng)}","username":"${w.hmac.fresh(this.rng)}"}`,
        });
        r.nextDb = t + HOUR * this.rng.uniform(0.95, 1.02);
      }
      while (tr.pkiRole && r.nextPki < h1) {
        const t = Math.max(h0, r.nextPki);
        const s = this.catchUp(r, t, h0);
        this.emit({
          t,
          latency: 'pki',
          caller: s.caller,
          op: 'update',
          path: `pki/issue/${tr.pkiRole}`,
          mount: w.mounts.pki,
          remote,
          headers: tr.headers,
          reqData: `{"common_name":"${w.hmac.of(`${tr.name}.svc.cluster.local`)}","ttl":"${w.hmac.of('72h')}"}`,
          respBody:
            `"data":{"certificate":"${w.hmac.fresh(this.rng)}","expiration":${Math.floor(t / 1000) + 72 * 3600},` +
            `"issuing_ca":"${w.hmac.of('acme-internal-ca')}","private_key":"${w.hmac.fresh(this.rng)}",` +
            `"private_key_type":"${w.hmac.of('rsa')}","serial_number":"${w.hmac.fresh(this.rng)}"}`,
        });
        r.nextPki = t + DAY * this.rng.uniform(0.97, 1.0);
      }
      // Logins and renewals that fall due in a quiet hour.
      this.catchUp(r, h1 - 1, h0);
    }
  }

  /** A rolling deploy: every replica restarts on another address in the same /24 and logs in again. */
  private deploy(at: number): void {
    const w = this.world;
    const used = new Set(this.replicas.map((r) => r.hostOctet));
    const from: string[] = [];
    const to: string[] = [];
    let badToken = 0;
    this.replicas.forEach((r, i) => {
      const t = at + i * this.rng.uniform(20, 45) * SECOND;
      from.push(host(r.net, r.hostOctet));
      let octet = this.rng.int(2, 250);
      while (used.has(octet)) octet = this.rng.int(2, 250);
      used.add(octet);
      r.hostOctet = octet;
      to.push(host(r.net, r.hostOctet));
      const remote = host(r.net, r.hostOctet);
      // A restarted pod sometimes replays its revoked cached token before logging in.
      if (r.current && this.rng.chance(0.25)) {
        const n = this.rng.int(1, 3);
        for (let k = 0; k < n; k++) {
          badToken++;
          this.emit({
            t: t + k * this.rng.uniform(0.2, 2) * SECOND,
            latency: 'denied',
            caller: badTokenCaller(r.current.token),
            op: 'read',
            path: `secret/data/${this.pickPath()}`,
            mount: w.mounts.kv,
            remote,
            headers: this.traits.headers,
            reqError: '"permission denied"',
            respError: DENIED_ERROR_JSON,
            respBody: w.deniedBody,
          });
        }
        this.login(r, t + n * 2.5 * SECOND);
      } else {
        this.login(r, t + this.rng.uniform(1, 8) * SECOND);
      }
    });
    let newPath: string | undefined;
    if (this.rng.chance(0.25)) {
      const name = this.rng.pick(NEW_SECRET_NAMES);
      const logical = `${this.team}/${this.traits.name}/${name}`;
      if (!this.paths.includes(logical)) {
        w.kv.add(logical);
        this.setPaths([...this.paths, logical]);
        newPath = logical;
      }
    }
    w.addBenign({
      kind: 'deploy',
      at,
      identity: this.label.id,
      ...(this.entityId ? { entityId: this.entityId } : {}),
      description:
        `rolling deploy of ${this.traits.name}: ${this.replicas.length} replicas moved within ${cidr(this.traits.net)}` +
        (badToken ? `, ${badToken} calls with a revoked token` : '') +
        (newPath ? `, now reads secret/data/${newPath}` : ''),
      details: {
        from,
        to,
        badTokenCalls: badToken,
        ...(newPath ? { newPath: `secret/data/${newPath}` } : {}),
      },
    });
  }

  private doScaleUp(at: number, to: number): void {
    const used = new Set(this.replicas.map((r) => r.hostOctet));
    const added: string[] = [];
    while (this.replicas.length < to) {
      const r = this.newReplica(used);
      r.nextLogin = -Infinity;
      r.needLogin = true;
      r.nextDb = at + this.rng.uniform(0, HOUR);
      r.nextPki = at + this.rng.uniform(0, DAY);
      this.replicas.push(r);
      added.push(host(r.net, r.hostOctet));
    }
    this.world.addBenign({
      kind: 'scale_up',
      at,
      identity: this.label.id,
      ...(this.entityId ? { entityId: this.entityId } : {}),
      description: `${this.traits.name} scaled to ${to} replicas (new addresses in ${cidr(this.traits.net)}, proportionally more reads)`,
      details: { added },
    });
  }
}

const NEW_SECRET_NAMES = [
  'feature-flags',
  'oauth-client',
  'kafka',
  'sentry-dsn',
  'elastic',
  'slack-webhook',
  'signing-key',
];

function leaseId(rng: Rng): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < 24; i++) s += alphabet[rng.u32() % 62];
  return s;
}

// ------------------------------------------------------------------------------------------------
// CI runners

interface Repo {
  name: string;
  paths: string[];
}

export class CiActor extends Actor {
  readonly repos: Repo[] = [];
  private dayPlanned: number;

  constructor(
    world: World,
    index: number,
    rng: Rng,
    label: IdentityLabel,
    readonly pools: string[],
    /** Pipelines per working day. */
    readonly rate: number,
    readonly jwtRole: string,
    readonly policy: string,
  ) {
    super(world, index, rng, label);
    this.dayPlanned = world.zone.localMidnight(world.start);
  }

  usualAddress(): string {
    return host(this.pools[0] as string, 10 + (this.index % 200));
  }

  tokenSpec(issuedAt: number): TokenSpec {
    const l = this.label;
    return {
      displayName: l.displayName,
      policies: l.policies,
      metadata: { role: this.jwtRole },
      ...(l.entityId ? { entityId: l.entityId } : {}),
      tokenType: 'batch',
      ttlSeconds: 900,
      issuedAt,
      grantingPolicy: this.policy,
      namespaceId: this.world.namespaceId,
    };
  }

  addRepo(repo: Repo): void {
    this.repos.push(repo);
    this.setPaths(this.repos.flatMap((r) => r.paths));
  }

  advance(until: number): void {
    while (this.horizon < until) {
      const mid = this.dayPlanned;
      const next = this.world.zone.localMidnight(mid + 36 * HOUR);
      this.planDay(mid);
      this.dayPlanned = next;
      this.horizon = next;
    }
  }

  private planDay(mid: number): void {
    const w = this.world;
    const wd = w.zone.weekday(mid + 12 * HOUR);
    const weekend = wd === 0 || wd === 6;
    const holiday = w.isHoliday(mid);
    // Now and then a team starts a new repository: a new path prefix from then on.
    if (mid >= w.start && this.rng.chance(0.07)) {
      const repo = newRepo(w, this.team, this.rng, this.repos.length);
      this.addRepo(repo);
      w.addBenign({
        kind: 'new_ci_repo',
        at: mid + 8 * HOUR,
        identity: this.label.id,
        ...(this.entityId ? { entityId: this.entityId } : {}),
        description: `CI of ${this.team} builds a new repository ${repo.name} (new prefix secret/data/ci/${this.team}/${repo.name}/)`,
      });
    }
    const mean = this.rate * (weekend ? 0.08 : holiday ? 0.1 : 1);
    const n = this.rng.poisson(mean);
    const repoCum = zipfCumulative(this.repos.length, 1);
    for (let i = 0; i < n; i++) {
      // Working-hours profile (thinning): flat 9-17, shoulders 7-9 and 17-21.
      let h: number;
      for (;;) {
        h = this.rng.uniform(6, 22);
        const p = h < 7 || h > 21 ? 0.05 : h < 9 || h > 17 ? 0.45 : 1;
        if (this.rng.chance(p)) break;
      }
      const t0 = w.zone.at(mid, h);
      if (t0 < this.horizon) continue;
      const repo = this.repos[this.rng.pickCumulative(repoCum)] as Repo;
      this.pipeline(t0, repo);
    }
  }

  private pipeline(t0: number, repo: Repo): void {
    const w = this.world;
    const pool = this.rng.pick(this.pools);
    const remote = host(pool, this.rng.int(10, 250));
    const s = this.issue(t0, this.rng);
    this.sessions.add(t0, s);
    emitLogin(w, this.index, -1, {
      kind: 'jwt',
      t: t0,
      remote,
      headers: HEADERS.ciAction,
      session: s,
      role: this.jwtRole,
    });
    const jobs = this.rng.int(2, 4);
    const span = this.rng.uniform(20, 58) * SECOND;
    let last = t0;
    for (let j = 0; j < jobs; j++) {
      for (const p of repo.paths) {
        const t = t0 + 1 * SECOND + this.rng.next() * span;
        last = Math.max(last, t);
        this.kvRead(t, s, p, remote, HEADERS.ciAction);
      }
    }
    if (this.rng.chance(0.25)) {
      const t = t0 + this.rng.next() * span;
      this.emit({
        t,
        latency: 'dbCreds',
        caller: s.caller,
        op: 'read',
        path: `database/creds/${this.team}-migrate`,
        mount: w.mounts.database,
        remote,
        headers: HEADERS.ciAction,
        respBody:
          `"secret":{"lease_id":"database/creds/${this.team}-migrate/${leaseId(this.rng)}"},` +
          `"data":{"password":"${w.hmac.fresh(this.rng)}","username":"${w.hmac.fresh(this.rng)}"}`,
      });
    }
    this.tokenCall(last + this.rng.uniform(1, 20) * SECOND, s, 'revoke-self', remote, HEADERS.ciAction);
  }
}

const CI_SECRETS = [
  'github-token',
  'npm-token',
  'docker-registry',
  'signing-key',
  'slack-webhook',
  'api-key',
  's3',
  'datadog',
  'sentry-dsn',
  'config',
  'kubeconfig',
  'sonar-token',
  'codecov-token',
];
const CI_ENVS = ['prod', 'staging', 'dev', 'test'];
const REPO_WORDS = [
  'app',
  'service',
  'infra',
  'terraform',
  'frontend',
  'backend',
  'lib',
  'tools',
  'deploy',
  'mobile',
  'docs',
  'jobs',
];

export function newRepo(w: World, team: string, rng: Rng, n: number): Repo {
  const name = `${team}-${rng.pick(REPO_WORDS)}${n > 0 ? `-${n + 1}` : ''}`;
  const count = rng.int(10, 50);
  const all: string[] = [];
  for (const env of CI_ENVS) for (const s of CI_SECRETS) all.push(`ci/${team}/${name}/${env}/${s}`);
  const paths = rng.sample(all, count).sort();
  for (const p of paths) w.kv.add(p);
  return { name, paths };
}

// ------------------------------------------------------------------------------------------------
// Batch jobs and rotation jobs (exact period ± jitter)

export class BatchActor extends Actor {
  private nextRun: number;

  constructor(
    world: World,
    index: number,
    rng: Rng,
    label: IdentityLabel,
    readonly net: string,
    readonly hostOctet: number,
    readonly periodMs: number,
    readonly phaseMs: number,
    readonly job: string,
    readonly policy: string,
    readonly dbRole: string | undefined,
    readonly writesResult: boolean,
  ) {
    super(world, index, rng, label);
    this.nextRun = world.start + phaseMs;
  }

  usualAddress(): string {
    return host(this.net, this.hostOctet);
  }

  tokenSpec(issuedAt: number): TokenSpec {
    const l = this.label;
    return {
      displayName: l.displayName,
      policies: l.policies,
      metadata: { role_name: this.job },
      ...(l.entityId ? { entityId: l.entityId } : {}),
      ttlSeconds: 3600,
      issuedAt,
      grantingPolicy: this.policy,
      namespaceId: this.world.namespaceId,
    };
  }

  advance(until: number): void {
    while (this.horizon < until) {
      const h1 = this.horizon + HOUR;
      while (this.nextRun < h1) {
        const nominal = this.nextRun;
        const t = Math.max(this.horizon, nominal + this.rng.normal(0, 40) * SECOND);
        this.run(t);
        this.nextRun = nominal + this.periodMs;
      }
      this.horizon = h1;
    }
  }

  private run(t0: number): void {
    const w = this.world;
    const remote = this.usualAddress();
    const s = this.issue(t0, this.rng);
    this.sessions.add(t0, s);
    emitLogin(w, this.index, -1, {
      kind: 'approle',
      t: t0,
      remote,
      headers: HEADERS.pythonHvac,
      session: s,
      role: this.job,
    });
    let t = t0 + 0.3 * SECOND;
    for (const p of this.paths) {
      t += this.rng.uniform(0.05, 0.6) * SECOND;
      this.kvRead(t, s, p, remote, HEADERS.pythonHvac);
    }
    if (this.dbRole) {
      t += 0.2 * SECOND;
      this.emit({
        t,
        latency: 'dbCreds',
        caller: s.caller,
        op: 'read',
        path: `database/creds/${this.dbRole}`,
        mount: w.mounts.database,
        remote,
        headers: HEADERS.pythonHvac,
        respBody:
          `"secret":{"lease_id":"database/creds/${this.dbRole}/${leaseId(this.rng)}"},` +
          `"data":{"password":"${w.hmac.fresh(this.rng)}","username":"${w.hmac.fresh(this.rng)}"}`,
      });
    }
    const duration = this.rng.uniform(5, 40) * MINUTE;
    const extra = this.rng.poisson(duration / MINUTE / 5);
    for (let i = 0; i < extra; i++)
      this.kvRead(t + this.rng.next() * duration, s, this.pickPath(), remote, HEADERS.pythonHvac);
    const end = t + duration;
    if (this.writesResult) {
      const logical = `${this.team}/batch/${this.job}/last-run`;
      const { reqData, respBody } = w.kv.write(logical);
      this.emit({
        t: end,
        latency: 'kvWrite',
        caller: s.caller,
        op: 'update',
        path: w.kv.dataPath(logical),
        mount: w.mounts.kv,
        remote,
        headers: HEADERS.pythonHvac,
        reqData,
        respBody,
      });
    }
    this.tokenCall(end + 0.5 * SECOND, s, 'revoke-self', remote, HEADERS.pythonHvac);
  }
}

export interface RotatedSecret {
  logical: string;
  periodDays: number;
  phaseDays: number;
}

export class RotationActor extends Actor {
  constructor(
    world: World,
    index: number,
    rng: Rng,
    label: IdentityLabel,
    readonly net: string,
    readonly hostOctet: number,
    /** Daily run time, hours after UTC midnight. */
    readonly runHour: number,
    readonly dbRole: string,
    readonly rotated: RotatedSecret[],
    readonly job: string,
    readonly policy: string,
  ) {
    super(world, index, rng, label);
  }

  usualAddress(): string {
    return host(this.net, this.hostOctet);
  }

  /** Nominal run times in [from, to). */
  runsBetween(from: number, to: number): number[] {
    const out: number[] = [];
    const day0 = Math.floor((from - this.world.start) / DAY);
    for (let d = day0 - 1; ; d++) {
      const t = this.world.start + d * DAY + this.runHour * HOUR;
      if (t >= to) break;
      if (t >= from) out.push(t);
    }
    return out;
  }

  tokenSpec(issuedAt: number): TokenSpec {
    const l = this.label;
    return {
      displayName: l.displayName,
      policies: l.policies,
      metadata: { role_name: this.job },
      ...(l.entityId ? { entityId: l.entityId } : {}),
      ttlSeconds: 1800,
      issuedAt,
      grantingPolicy: this.policy,
      namespaceId: this.world.namespaceId,
    };
  }

  private nextDay = 0;

  advance(until: number): void {
    for (;;) {
      const nominal = this.world.start + this.nextDay * DAY + this.runHour * HOUR;
      if (nominal >= until) break;
      this.run(Math.max(this.horizon, nominal + this.rng.normal(0, 30) * SECOND), this.nextDay);
      this.nextDay++;
    }
    this.horizon = until;
  }

  private run(t0: number, day: number): void {
    const w = this.world;
    if (w.isSuppressed(this.index, t0)) return;
    const remote = this.usualAddress();
    const s = this.issue(t0, this.rng);
    this.sessions.add(t0, s);
    emitLogin(w, this.index, -1, {
      kind: 'approle',
      t: t0,
      remote,
      headers: HEADERS.goSdk,
      session: s,
      role: this.job,
    });
    let t = t0 + this.rng.uniform(0.2, 1) * SECOND;
    this.emit({
      t,
      latency: 'dbRotate',
      caller: s.caller,
      op: 'update',
      path: `database/rotate-role/${this.dbRole}`,
      mount: w.mounts.database,
      remote,
      headers: HEADERS.goSdk,
    });
    for (const r of this.rotated) {
      if ((day - r.phaseDays) % r.periodDays !== 0) continue;
      t += this.rng.uniform(0.3, 1.5) * SECOND;
      this.emit({
        t,
        latency: 'kvRead',
        caller: s.caller,
        op: 'read',
        path: `secret/metadata/${r.logical}`,
        mount: w.mounts.kv,
        remote,
        headers: HEADERS.goSdk,
        respBody: w.kv.metadataBody(r.logical),
      });
      t += this.rng.uniform(0.1, 0.5) * SECOND;
      const { reqData, respBody } = w.kv.write(r.logical);
      this.emit({
        t,
        latency: 'kvWrite',
        caller: s.caller,
        op: 'update',
        path: `secret/data/${r.logical}`,
        mount: w.mounts.kv,
        remote,
        headers: HEADERS.goSdk,
        reqData,
        respBody,
      });
    }
    this.tokenCall(t + 0.4 * SECOND, s, 'revoke-self', remote, HEADERS.goSdk);
  }
}

// ------------------------------------------------------------------------------------------------
// Humans and admins

export interface HumanTraits {
  user: string;
  email: string;
  method: 'userpass' | 'oidc' | 'ldap';
  office: string;
  office2?: string;
  officeProb: number;
  /** Bursts of activity per working hour. */
  rate: number;
  cli: boolean;
  typo: number;
  arrival: number;
  workHours: number;
  admin: boolean;
  teamPolicy: string;
  browser: string;
}

export class HumanActor extends Actor {
  private dayPlanned: number;
  private readonly sticky = new Map<string, number>();
  /** Local midnights on which the person is certainly at work. */
  readonly forcePresent = new Set<number>();
  /** Other teams' folders (for the occasional denied click). */
  otherDirs: string[] = [];
  adminPolicies: string[] = [];

  constructor(
    world: World,
    index: number,
    rng: Rng,
    label: IdentityLabel,
    readonly traits: HumanTraits,
    /** VPN pools, each active from a given time. */
    readonly vpnPools: { net: string; from: number }[],
  ) {
    super(world, index, rng, label);
    this.dayPlanned = world.zone.localMidnight(world.start);
  }

  private addr(net: string): string {
    let h = this.sticky.get(net);
    if (h === undefined) {
      h = this.rng.int(20, 250);
      this.sticky.set(net, h);
    }
    return host(net, h);
  }

  usualAddress(): string {
    return this.addr(this.traits.office);
  }

  private vpnAddress(t: number): string {
    const pools = this.vpnPools.filter((p) => p.from <= t);
    const pool =
      pools.length > 1 && this.rng.chance(0.5)
        ? (pools[pools.length - 1] as { net: string })
        : (pools[0] as { net: string });
    return host(pool.net, this.rng.int(10, 250));
  }

  tokenSpec(issuedAt: number): TokenSpec {
    const l = this.label;
    const tr = this.traits;
    const identityPolicies = tr.admin ? ['vault-admin'] : [tr.teamPolicy];
    return {
      displayName: l.displayName,
      policies: ['default', ...identityPolicies],
      tokenPolicies: ['default'],
      identityPolicies,
      metadata: tr.method === 'oidc' ? { role: 'default', email: tr.email } : { username: tr.user },
      ...(l.entityId ? { entityId: l.entityId } : {}),
      ttlSeconds: 8 * 3600,
      issuedAt,
      grantingPolicy: identityPolicies[0] as string,
      namespaceId: this.world.namespaceId,
    };
  }

  /** Log in (with the odd typo first); returns the session and when it is usable. */
  loginAt(
    t: number,
    remote: string,
    scenario = -1,
    rng: Rng = this.rng,
  ): { session: Session; ready: number } {
    const tr = this.traits;
    const headers = tr.method === 'oidc' || !tr.cli ? tr.browser : HEADERS.vaultCli;
    let at = t;
    if (tr.method !== 'oidc' && scenario < 0 && rng.chance(tr.typo)) {
      emitLogin(this.world, scenario < 0 ? this.index : -1, scenario, {
        kind: tr.method,
        t: at,
        remote,
        headers,
        user: tr.user,
        failure: 'wrong_password',
      });
      at += rng.uniform(4, 25) * SECOND;
    }
    const session = this.issue(at, rng);
    const done = emitLogin(this.world, scenario < 0 ? this.index : -1, scenario, {
      kind: tr.method,
      t: at,
      remote,
      headers,
      session,
      user: tr.user,
    });
    return { session, ready: done + rng.uniform(0.5, 3) * SECOND };
  }

  advance(until: number): void {
    while (this.horizon < until) {
      const mid = this.dayPlanned;
      const next = this.world.zone.localMidnight(mid + 36 * HOUR);
      this.planDay(mid, next);
      this.dayPlanned = next;
      this.horizon = next;
    }
  }

  private planDay(mid: number, next: number): void {
    const w = this.world;
    const tr = this.traits;
    const wd = w.zone.weekday(mid + 12 * HOUR);
    const weekend = wd === 0 || wd === 6;
    const holiday = w.isHoliday(mid);
    // Draw everything first so the stream position does not depend on presence.
    const presentDraw = this.rng.next();
    const arrive = this.rng.normal(tr.arrival, 0.45);
    const length = Math.min(11, Math.max(4, this.rng.normal(tr.workHours, 0.7)));
    const officeDraw = this.rng.next();
    const switchDraw = this.rng.next();
    const forced = this.forcePresent.has(mid);
    let from: number;
    let to: number;
    if (forced || (!weekend && !holiday && presentDraw < 0.93)) {
      from = arrive;
      to = arrive + length;
    } else if (presentDraw < 0.04) {
      from = this.rng.uniform(10, 19);
      to = from + this.rng.uniform(0.3, 1.5);
    } else {
      return;
    }
    const start = w.zone.at(mid, from);
    const end = Math.min(w.zone.at(mid, to), next - MINUTE);
    if (start < this.horizon || start >= w.end) return;
    const inOffice = !weekend && !holiday && officeDraw < tr.officeProb;
    const officeNet = tr.office2 && this.rng.chance(0.3) ? tr.office2 : tr.office;
    const switchAt = inOffice && switchDraw < 0.12 ? w.zone.at(mid, this.rng.uniform(13, 16.5)) : Infinity;
    const addressAt = (t: number) =>
      inOffice && t < switchAt ? this.addr(officeNet) : this.vpnAddressCached(mid, t);

    // Logins: on arrival, and again when the 8 h token runs out.
    let { session, ready } = this.loginAt(start, addressAt(start));
    this.sessions.add(start, session);
    this.uiStart(ready, session, addressAt(ready));
    let relogin = start + 8 * HOUR;

    // Activity bursts: non-homogeneous Poisson by thinning (lunch dip, busier first hour).
    const maxRate = tr.rate * 1.4;
    const n = this.rng.poisson(maxRate * ((end - ready) / HOUR));
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = ready + this.rng.next() * (end - ready);
      const h = this.localHour(t);
      const p = h >= 12 && h < 13.25 ? 0.22 : t - start < HOUR ? 1.0 : h >= 17 ? 0.55 : 0.75;
      if (this.rng.chance(p)) times.push(t);
    }
    times.sort((a, b) => a - b);
    for (const t of times) {
      if (t >= relogin) {
        ({ session, ready } = this.loginAt(t, addressAt(t)));
        this.sessions.add(t, session);
        relogin = t + 8 * HOUR;
        this.burst(ready, session, addressAt(ready));
      } else {
        this.burst(t, session, addressAt(t));
      }
    }
    if (tr.admin && !weekend && !holiday) this.adminWork(start, end, session, addressAt);
  }

  private vpnCache = { mid: -1, addr: '' };
  private vpnAddressCached(mid: number, t: number): string {
    if (this.vpnCache.mid !== mid) this.vpnCache = { mid, addr: this.vpnAddress(t) };
    return this.vpnCache.addr;
  }

  private headers(): string {
    return this.traits.cli ? HEADERS.vaultCli : this.traits.browser;
  }

  /** What the UI does right after a login. */
  private uiStart(t: number, s: Session, remote: string): void {
    const w = this.world;
    const headers = this.traits.method === 'oidc' ? this.traits.browser : this.headers();
    this.tokenCall(t, s, 'lookup-self', remote, headers);
    if (headers !== HEADERS.vaultCli) {
      this.emit({
        t: t + 0.15 * SECOND,
        latency: 'sys',
        caller: s.caller,
        op: 'read',
        path: 'sys/internal/ui/resultant-acl',
        mount: w.mounts.sys,
        remote,
        headers,
        respBody: `"data":{"exact_paths":{"${w.hmac.of('x')}":{}},"root":false}`,
      });
    }
  }

  /** One look at secrets: preflight, list the folder, read one to three secrets, sometimes write. */
  private burst(t: number, s: Session, remote: string): void {
    const w = this.world;
    const headers = this.headers();
    const logical = this.pickPath();
    const dir = logical.slice(0, logical.lastIndexOf('/') + 1);
    let at = t;
    this.emit({
      t: at,
      latency: 'sys',
      caller: s.caller,
      op: 'read',
      path: `sys/internal/ui/mounts/secret/${headers === HEADERS.vaultCli ? logical : dir}`,
      mount: w.mounts.sys,
      remote,
      headers,
      respBody: `"data":{"accessor":"${w.hmac.of(w.mounts.kv.accessor)}","options":{"version":"${w.hmac.of('2')}"},"path":"${w.hmac.of('secret/')}","type":"${w.hmac.of('kv')}"}`,
    });
    if (headers !== HEADERS.vaultCli) {
      at += this.rng.uniform(0.2, 1.5) * SECOND;
      this.emit({
        t: at,
        latency: 'list',
        caller: s.caller,
        op: 'list',
        path: `secret/metadata/${dir}`,
        mount: w.mounts.kv,
        remote,
        headers,
        respBody: w.kv.listBody(dir),
      });
    }
    const reads = headers === HEADERS.vaultCli ? 1 : this.rng.int(1, 3);
    for (let i = 0; i < reads; i++) {
      at += this.rng.uniform(0.3, 15) * SECOND;
      this.kvRead(at, s, i === 0 ? logical : this.pickPath(), remote, headers);
    }
    if (this.rng.chance(0.05)) {
      at += this.rng.uniform(10, 90) * SECOND;
      const { reqData, respBody } = w.kv.write(logical);
      this.emit({
        t: at,
        latency: 'kvWrite',
        caller: s.caller,
        op: 'update',
        path: w.kv.dataPath(logical),
        mount: w.mounts.kv,
        remote,
        headers,
        reqData,
        respBody,
      });
    }
    if (this.otherDirs.length > 0 && this.rng.chance(0.025)) {
      at += this.rng.uniform(1, 20) * SECOND;
      this.deniedRead(at, s, `secret/metadata/${this.rng.pick(this.otherDirs)}`, remote, headers, 'list');
    }
  }

  private adminWork(start: number, end: number, s: Session, addressAt: (t: number) => string): void {
    const w = this.world;
    const headers = HEADERS.vaultCli;
    if (this.rng.chance(0.6)) {
      let t = start + this.rng.next() * (end - start);
      const sysRead = (path: string, op = 'read') => {
        t += this.rng.uniform(1, 40) * SECOND;
        this.emit({
          t,
          latency: 'sys',
          caller: s.caller,
          op,
          path,
          mount: w.mounts.sys,
          remote: addressAt(t),
          headers,
          respBody: `"data":{"keys":["${w.hmac.of(path)}"]}`,
        });
      };
      sysRead('sys/mounts');
      if (this.rng.chance(0.5)) sysRead('sys/auth');
      sysRead('sys/policies/acl', 'list');
      const k = this.rng.int(0, 3);
      for (let i = 0; i < k && this.adminPolicies.length; i++)
        sysRead(`sys/policies/acl/${this.rng.pick(this.adminPolicies)}`);
      if (this.rng.chance(0.15)) sysRead('sys/audit');
    }
    // Routine policy edits, roughly one every two weeks per admin.
    if (this.adminPolicies.length && this.rng.chance(0.1)) {
      const t = start + this.rng.next() * (end - start);
      const policy = this.rng.pick(this.adminPolicies);
      this.emit({
        t,
        latency: 'sys',
        caller: s.caller,
        op: 'update',
        path: `sys/policies/acl/${policy}`,
        mount: w.mounts.sys,
        remote: addressAt(t),
        headers: this.rng.chance(0.5) ? HEADERS.terraform : headers,
        reqData: `{"policy":"${w.hmac.fresh(this.rng)}"}`,
      });
      w.addBenign({
        kind: 'policy_edit',
        at: t,
        identity: this.label.id,
        ...(this.entityId ? { entityId: this.entityId } : {}),
        description: `admin ${this.traits.user} updated ACL policy ${policy} (routine change)`,
      });
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Monitoring: a flat heartbeat

export class MonitorActor extends Actor {
  private session: Session;
  private next: number;
  private nextCanary: number;
  private nextRenew: number;

  constructor(
    world: World,
    index: number,
    rng: Rng,
    label: IdentityLabel,
    readonly address: string,
    readonly periodMs: number,
    readonly canary: string | undefined,
    readonly headers: string,
  ) {
    super(world, index, rng, label);
    const issued = world.start - rng.uniform(1, 20) * DAY;
    this.session = this.issue(issued, rng);
    this.sessions.add(issued, this.session);
    this.next = world.start + rng.uniform(0, periodMs);
    this.nextCanary = world.start + rng.uniform(0, 5 * MINUTE);
    this.nextRenew = world.start + rng.uniform(0, DAY);
  }

  usualAddress(): string {
    return this.address;
  }

  tokenSpec(issuedAt: number): TokenSpec {
    return {
      displayName: this.label.displayName,
      policies: this.label.policies,
      ttlSeconds: 768 * 3600,
      issuedAt,
      grantingPolicy: 'monitoring',
      namespaceId: this.world.namespaceId,
    };
  }

  advance(until: number): void {
    const w = this.world;
    while (this.next < until) {
      const t = this.next + this.rng.normal(0, 0.25) * SECOND;
      this.tokenCall(Math.max(this.horizon, t), this.session, 'lookup-self', this.address, this.headers);
      this.next += this.periodMs;
    }
    while (this.canary && this.nextCanary < until) {
      this.kvRead(
        Math.max(this.horizon, this.nextCanary + this.rng.normal(0, 0.5) * SECOND),
        this.session,
        this.canary,
        this.address,
        this.headers,
      );
      this.nextCanary += 5 * MINUTE;
    }
    while (this.nextRenew < until) {
      this.tokenCall(
        Math.max(this.horizon, this.nextRenew),
        this.session,
        'renew-self',
        this.address,
        this.headers,
      );
      this.nextRenew += DAY;
    }
    this.horizon = until;
    void w;
  }
}

export const ROLE_PREFIX: Record<Role, string> = {
  service: 'svc',
  ci: 'ci',
  batch: 'batch',
  rotation: 'rot',
  human: 'user',
  admin: 'admin',
  monitor: 'mon',
};

export { cidr, iso };
