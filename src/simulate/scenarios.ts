import { DENIED_ERROR_JSON, HEADERS, newSession, type Session } from './audit-format.js';
import { type Actor, emitLogin, type HumanActor, type ServiceActor } from './actors.js';
import {
  EXPECTED_FAMILIES,
  SCENARIO_KINDS,
  type ScenarioKind,
  type ScenarioLabel,
  type Speed,
} from './labels.js';
import type { Population } from './population.js';
import { Rng } from './rng.js';
import { HOUR, MINUTE, SECOND, iso } from './time.js';
import type { Producer, World } from './world.js';

/**
 * Injected attacks with ground truth. Each instance is planned up front (times, actors, counts)
 * from its own random stream, then written lazily as simulated time passes, so it can use the
 * victim's token of that moment. Labels record what identifies it; detection never sees them.
 */

interface Step {
  t: number;
  run: () => void;
}

export class Scenario implements Producer {
  private ptr = 0;
  constructor(
    readonly index: number,
    readonly label: ScenarioLabel,
    private readonly steps: Step[],
    /** The window is the labelled one (silence, stopped job), not the span of written events. */
    readonly fixedWindow: boolean,
  ) {
    steps.sort((a, b) => a.t - b.t);
  }

  advance(until: number): void {
    while (this.ptr < this.steps.length && (this.steps[this.ptr] as Step).t < until) {
      (this.steps[this.ptr] as Step).run();
      this.ptr++;
    }
  }
}

const COMMON_USERS = [
  'admin',
  'root',
  'test',
  'guest',
  'user',
  'oracle',
  'jenkins',
  'deploy',
  'backup',
  'support',
  'info',
  'postgres',
  'ubuntu',
  'ec2-user',
  'administrator',
  'dev',
  'ops',
  'vault',
  'sysadmin',
  'webmaster',
  'service',
  'ansible',
  'git',
  'demo',
  'operator',
  'monitor',
  'ftp',
  'mysql',
  'tomcat',
  'hadoop',
];
const GIVEN = [
  'michael',
  'sarah',
  'thomas',
  'laura',
  'daniel',
  'julia',
  'peter',
  'sandra',
  'markus',
  'katrin',
  'stefan',
  'nicole',
  'andreas',
  'sabine',
  'martin',
  'claudia',
  'frank',
  'petra',
  'tobias',
  'jessica',
];
const FAMILY = [
  'meier',
  'bauer',
  'huber',
  'wimmer',
  'berger',
  'gruber',
  'pichler',
  'steiner',
  'moser',
  'mayer',
  'hofer',
  'leitner',
  'fischer',
  'baumann',
  'winkler',
];
const PROBE_SYS = [
  'sys/policies/acl/vault-admin',
  'sys/auth',
  'sys/mounts',
  'sys/audit',
  'sys/raw/core/keyring',
  'sys/storage/raft/snapshot',
  'sys/config/auditing/request-headers',
  'sys/leases/lookup',
];

interface Ctx {
  world: World;
  pop: Population;
  rng: Rng;
  intensity: number;
  used: Set<number>;
  index: number;
  kind: ScenarioKind;
  n: number;
  /** Windows of earlier instances of the same kind (instances stay SAME_KIND_GAP apart). */
  avoid: [number, number][];
}

/**
 * Instances of one kind never overlap and keep this far apart, so each is scored on its own: an
 * alert grouped by detector (stuffing) or by a shared identity (root) would otherwise still be
 * open from the previous instance, and only alert openings count as detections.
 */
const SAME_KIND_GAP = 8 * HOUR;

interface Planned {
  speed: Speed;
  description: string;
  steps: Step[];
  entityIds: string[];
  sourceAddresses: string[];
  loginUsers: string[];
  displayNames: string[];
  identities: string[];
  paths: string[];
  params: Record<string, number | string | boolean>;
  /** Window override (silence, stopped rotation): no events mark it. */
  window?: [number, number];
}

/** Count drawn from [lo, hi] and scaled by intensity, never below `floor`. */
function count(c: Ctx, lo: number, hi: number, floor: number): number {
  return Math.max(floor, Math.round(c.rng.uniform(lo, hi) * c.intensity));
}

/** A start time after the warm-up leaving room for `duration`; undefined if the run is too short. */
function placeStart(c: Ctx, duration: number): number | undefined {
  const lo = c.world.warmupEnd + HOUR;
  const hi = c.world.end - duration - HOUR;
  if (hi <= lo) return undefined;
  for (let i = 0; i < 200; i++) {
    const start = c.rng.uniform(lo, hi);
    const end = start + duration;
    if (c.avoid.every(([a, b]) => end + SAME_KIND_GAP <= a || start >= b + SAME_KIND_GAP)) return start;
  }
  return undefined;
}

function fits(c: Ctx, duration: number): number {
  return Math.max(0, Math.min(duration, c.world.end - c.world.warmupEnd - 2 * HOUR - MINUTE));
}

function available<T extends Actor>(c: Ctx, list: T[]): T[] {
  return list.filter((a) => !c.pop.special.has(a.index) && !c.used.has(a.index));
}

function take<T extends Actor>(c: Ctx, list: T[]): T | undefined {
  const pool = available(c, list);
  if (pool.length === 0) return undefined;
  const a = c.rng.pick(pool);
  c.used.add(a.index);
  return a;
}

/** A service or a human (non-admin) acting as an insider / compromised identity. */
function takeInsider(c: Ctx): Actor | undefined {
  const preferHuman = c.rng.chance(0.4);
  return (
    (preferHuman ? take(c, c.pop.humans) : undefined) ?? take(c, c.pop.services) ?? take(c, c.pop.humans)
  );
}

/** How an insider gets a token and where it acts from: a service reuses its live token, a human logs in. */
function insiderAccess(
  c: Ctx,
  a: Actor,
  start: number,
  steps: Step[],
): { remote: () => string; headers: string; session: (t: number) => Session } {
  const scen = c.index;
  if (a.role === 'service') {
    // Where the service runs when the attack happens (deploys move it within its /24).
    const s = a as ServiceActor;
    return { remote: () => s.usualAddress(), headers: s.traits.headers, session: (t) => s.sessionAt(t) };
  }
  const h = a as HumanActor;
  const remote = h.usualAddress();
  let session: Session | undefined;
  const rng = Rng.derive(c.world.options.seed, `scenario-login/${c.kind}/${c.n}`);
  steps.push({
    t: start,
    run: () => {
      session = h.loginAt(start, remote, scen, rng).session;
    },
  });
  return {
    remote: () => remote,
    headers: h.traits.cli ? HEADERS.vaultCli : h.traits.browser,
    session: () => session as Session,
  };
}

function emitter(c: Ctx) {
  const w = c.world;
  const scen = c.index;
  return {
    kvRead(t: number, s: Session, logical: string, remote: string, headers: string) {
      w.emit(-1, scen, {
        t,
        latency: 'kvRead',
        caller: s.caller,
        op: 'read',
        path: w.kv.dataPath(logical),
        pathPart: w.kv.dataPathPart(logical),
        mount: w.mounts.kv,
        remote,
        headers,
        respBody: w.kv.readBody(logical),
      });
    },
    list(t: number, s: Session, dir: string, remote: string, headers: string, denied: boolean) {
      if (denied) {
        w.emit(-1, scen, {
          t,
          latency: 'denied',
          caller: s.caller,
          denied: true,
          op: 'list',
          path: `secret/metadata/${dir}`,
          mount: w.mounts.kv,
          remote,
          headers,
          reqError: DENIED_ERROR_JSON,
          respError: DENIED_ERROR_JSON,
          respBody: w.deniedBody,
        });
      } else {
        w.emit(-1, scen, {
          t,
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
    },
    denied(t: number, s: Session, path: string, op: string, remote: string, headers: string) {
      w.emit(-1, scen, {
        t,
        latency: 'denied',
        caller: s.caller,
        denied: true,
        op,
        path,
        mount: path.startsWith('sys/') ? w.mounts.sys : w.mounts.kv,
        remote,
        headers,
        reqError: DENIED_ERROR_JSON,
        respError: DENIED_ERROR_JSON,
        respBody: w.deniedBody,
      });
    },
    sys(t: number, s: Session, path: string, op: string, remote: string, headers: string, reqData = '') {
      w.emit(-1, scen, {
        t,
        latency: 'sys',
        caller: s.caller,
        op,
        path,
        mount: w.mounts.sys,
        remote,
        headers,
        reqData,
        respBody: op === 'read' || op === 'list' ? `"data":{"keys":["${w.hmac.of(path)}"]}` : '',
      });
    },
    lookupSelf(t: number, s: Session, remote: string, headers: string) {
      w.emit(-1, scen, {
        t,
        latency: 'lookup',
        caller: s.caller,
        op: 'read',
        path: 'auth/token/lookup-self',
        mount: w.mounts.token,
        remote,
        headers,
        respBody: s.lookupData,
      });
    },
  };
}

/** Usernames that do not exist in Vault. */
function inventedUsers(rng: Rng, n: number, taken: Set<string>): string[] {
  const out: string[] = [];
  let guard = 0;
  while (out.length < n && guard++ < n * 50) {
    const r = rng.next();
    const name =
      r < 0.3
        ? rng.pick(COMMON_USERS)
        : r < 0.7
          ? `${rng.pick(GIVEN)}.${rng.pick(FAMILY)}`
          : `${rng.pick(GIVEN)}${rng.int(1, 99)}`;
    if (taken.has(name)) continue;
    taken.add(name);
    out.push(name);
  }
  return out;
}

function sampleOf(paths: Iterable<string>, n = 20): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (out.length >= n) break;
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------

function credentialStuffing(c: Ctx): Planned | undefined {
  const { rng, world: w, pop } = c;
  const duration = fits(c, rng.uniform(10, 40) * MINUTE);
  const start = placeStart(c, duration);
  if (start === undefined) return undefined;
  const ips = Array.from({ length: count(c, 30, 150, 5) }, () => w.nets.publicAddress(rng));
  const realUsers = pop.humans.filter((h) => h.traits.method === 'userpass' && !pop.special.has(h.index));
  const nUsers = count(c, 40, 300, 8);
  const nReal = Math.min(realUsers.length, Math.round(nUsers * 0.3));
  const real = rng.sample(realUsers, nReal);
  const taken = new Set(pop.humans.concat(pop.admins).map((h) => h.traits.user));
  const fake = inventedUsers(rng, nUsers - nReal, taken);
  const successes = rng.sample(
    real.filter((h) => !c.used.has(h.index)),
    Math.min(real.length, rng.int(1, 3)),
  );
  for (const h of successes) c.used.add(h.index);
  const steps: Step[] = [];
  const ev = emitter(c);
  const usedIps = new Set<string>();
  const paths = new Set<string>();
  const attempt = (user: string, exists: boolean, victim?: HumanActor) => {
    const tries = rng.int(1, 3);
    const times = Array.from({ length: tries }, () => start + rng.next() * duration).sort((a, b) => a - b);
    times.forEach((t, k) => {
      const ip = rng.pick(ips);
      usedIps.add(ip);
      const success = victim !== undefined && k === tries - 1;
      if (success && victim) {
        const session = victim.issue(t, rng);
        const reads = rng.sample(victim.paths, rng.int(2, 6));
        for (const p of reads) paths.add(p);
        steps.push({
          t,
          run: () => {
            emitLogin(w, -1, c.index, {
              kind: 'userpass',
              t,
              remote: ip,
              headers: HEADERS.python,
              session,
              user,
            });
            let at = t + rng.uniform(2, 20) * SECOND;
            ev.lookupSelf(at, session, ip, HEADERS.python);
            for (const p of reads) {
              at += rng.uniform(3, 60) * SECOND;
              ev.kvRead(at, session, p, ip, HEADERS.python);
            }
          },
        });
      } else {
        steps.push({
          t,
          run: () =>
            void emitLogin(w, -1, c.index, {
              kind: 'userpass',
              t,
              remote: ip,
              headers: HEADERS.python,
              user,
              failure: exists ? 'wrong_password' : 'unknown_user',
            }),
        });
      }
    });
  };
  for (const h of real) attempt(h.traits.user, true, successes.includes(h) ? h : undefined);
  for (const u of fake) attempt(u, false);
  return {
    speed: 'fast',
    description: `credential stuffing against auth/userpass from ${usedIps.size} public addresses: ${nUsers} usernames (${nReal} real), 1–3 tries each, ${successes.length} successful logins followed by reads`,
    steps,
    entityIds: successes.map((h) => h.entityId as string),
    sourceAddresses: [...usedIps],
    loginUsers: [...real.map((h) => h.traits.user), ...fake],
    displayNames: [],
    identities: successes.map((h) => h.label.id),
    paths: sampleOf([...[...paths].map((p) => `secret/data/${p}`), 'auth/userpass/login/*']),
    params: {
      addresses: usedIps.size,
      usernames: nUsers,
      realUsers: nReal,
      successes: successes.length,
      durationMin: Math.round(duration / MINUTE),
    },
  };
}

function passwordSpraying(c: Ctx): Planned | undefined {
  const { rng, world: w, pop } = c;
  const slow = c.n % 2 === 1;
  const duration = fits(c, slow ? rng.uniform(3, 12) * HOUR : rng.uniform(3, 15) * MINUTE);
  const start = placeStart(c, duration);
  if (start === undefined) return undefined;
  const ip = rng.chance(0.7) ? w.nets.publicAddress(rng) : `${w.nets.unseenInternal(rng)}.${rng.int(2, 250)}`;
  const realUsers = pop.humans.concat(pop.admins).filter((h) => h.traits.method === 'userpass');
  const nUsers = count(c, 20, 200, 10);
  const nReal = Math.min(realUsers.length, Math.round(nUsers * 0.7));
  const real = rng.sample(realUsers, nReal).map((h) => h.traits.user);
  const taken = new Set(pop.humans.concat(pop.admins).map((h) => h.traits.user));
  const users = rng.shuffle([...real, ...inventedUsers(rng, nUsers - nReal, taken)]);
  const rounds = rng.int(1, 2);
  const total = users.length * rounds;
  const steps: Step[] = [];
  let k = 0;
  for (let r = 0; r < rounds; r++) {
    for (const user of users) {
      const t = start + ((k + rng.uniform(0, 0.8)) / total) * duration;
      k++;
      const exists = real.includes(user);
      steps.push({
        t,
        run: () =>
          void emitLogin(w, -1, c.index, {
            kind: 'userpass',
            t,
            remote: ip,
            headers: HEADERS.curl,
            user,
            failure: exists ? 'wrong_password' : 'unknown_user',
          }),
      });
    }
  }
  return {
    speed: slow ? 'slow' : 'fast',
    description: `${slow ? 'slow' : 'fast'} password spraying from ${ip}: ${nUsers} usernames × ${rounds} password(s) over ${Math.round(duration / MINUTE)} min`,
    steps,
    entityIds: [],
    sourceAddresses: [ip],
    loginUsers: users,
    displayNames: [],
    identities: [],
    paths: ['auth/userpass/login/*'],
    params: { usernames: nUsers, realUsers: nReal, rounds, durationMin: Math.round(duration / MINUTE) },
  };
}

function bruteForce(c: Ctx): Planned | undefined {
  const { rng, world: w, pop } = c;
  const victims = available(c, pop.humans).filter((h) => h.traits.method !== 'oidc');
  if (victims.length === 0) return undefined;
  const victim = rng.pick(victims);
  c.used.add(victim.index);
  const tries = count(c, 30, 300, 10);
  const duration = fits(c, rng.uniform(5, 20) * MINUTE);
  const start = placeStart(c, duration + 15 * MINUTE);
  if (start === undefined) return undefined;
  const ip = w.nets.publicAddress(rng);
  const kind = victim.traits.method === 'ldap' ? 'ldap' : 'userpass';
  const user = victim.traits.user;
  const steps: Step[] = [];
  const ev = emitter(c);
  for (let i = 0; i < tries; i++) {
    const t = start + (i / tries) * duration + rng.uniform(0, 0.5) * (duration / tries);
    steps.push({
      t,
      run: () =>
        void emitLogin(w, -1, c.index, {
          kind,
          t,
          remote: ip,
          headers: HEADERS.python,
          user,
          failure: 'wrong_password',
        }),
    });
  }
  const tOk = start + duration + rng.uniform(1, 10) * SECOND;
  const session = victim.issue(tOk, rng);
  const reads = rng.sample(victim.paths, rng.int(3, 10));
  steps.push({
    t: tOk,
    run: () => {
      emitLogin(w, -1, c.index, { kind, t: tOk, remote: ip, headers: HEADERS.python, user, session });
      let at = tOk + rng.uniform(2, 10) * SECOND;
      ev.lookupSelf(at, session, ip, HEADERS.python);
      for (const p of reads) {
        at += rng.uniform(5, 60) * SECOND;
        ev.kvRead(at, session, p, ip, HEADERS.python);
      }
    },
  });
  return {
    speed: 'fast',
    description: `brute force on ${kind} user ${user} from ${ip}: ${tries} wrong passwords in ${Math.round(duration / MINUTE)} min, then a successful login and ${reads.length} reads`,
    steps,
    entityIds: [victim.entityId as string],
    sourceAddresses: [ip],
    loginUsers: [user],
    displayNames: [],
    identities: [victim.label.id],
    paths: sampleOf([`auth/${kind}/login/${user}`, ...reads.map((p) => `secret/data/${p}`)]),
    params: { tries, durationMin: Math.round(duration / MINUTE), reads: reads.length },
  };
}

function tokenTheft(c: Ctx): Planned | undefined {
  const { rng, world: w, pop } = c;
  const victim = take(c, pop.services);
  if (!victim) return undefined;
  const duration = fits(c, rng.uniform(10, 60) * MINUTE);
  const start = placeStart(c, duration);
  if (start === undefined) return undefined;
  const publicIp = rng.chance(0.5);
  const ip = publicIp ? w.nets.publicAddress(rng) : `${w.nets.unseenInternal(rng)}.${rng.int(2, 250)}`;
  const n = count(c, 30, 200, 8);
  const teamPaths = pop.teams.find((t) => t.name === victim.team)?.paths ?? [];
  const fresh = rng.sample(
    teamPaths.filter((p) => !victim.paths.includes(p)),
    Math.ceil(n * 0.4),
  );
  const headers = rng.pick([HEADERS.curl, HEADERS.python]);
  const replica = rng.int(0, victim.replicas.length - 1);
  const steps: Step[] = [];
  const ev = emitter(c);
  const touched = new Set<string>();
  steps.push({ t: start, run: () => ev.lookupSelf(start, victim.sessionAt(start, replica), ip, headers) });
  for (let i = 0; i < n; i++) {
    const t = start + SECOND + rng.next() * duration;
    const p = fresh.length && rng.chance(0.4) ? rng.pick(fresh) : rng.pick(victim.paths);
    touched.add(p);
    steps.push({ t, run: () => ev.kvRead(t, victim.sessionAt(t, replica), p, ip, headers) });
  }
  return {
    speed: 'fast',
    description: `token of ${victim.traits.name} used from ${publicIp ? 'a public address' : 'an unfamiliar internal network'} ${ip} in parallel with the owner: ${n} reads (some of paths the owner never reads)`,
    steps,
    entityIds: [victim.entityId as string],
    sourceAddresses: [ip],
    loginUsers: [],
    displayNames: [],
    identities: [victim.label.id],
    paths: sampleOf([...touched].map((p) => `secret/data/${p}`)),
    params: { reads: n, publicAddress: publicIp, durationMin: Math.round(duration / MINUTE) },
  };
}

function massSecretRead(c: Ctx): Planned | undefined {
  const { rng, world: w } = c;
  const actor = takeInsider(c);
  if (!actor) return undefined;
  const n = count(c, 150, 800, 30);
  const duration = fits(c, rng.uniform(2, 10) * MINUTE);
  const start = placeStart(c, duration + MINUTE);
  if (start === undefined) return undefined;
  const steps: Step[] = [];
  const access = insiderAccess(c, actor, start, steps);
  const targets = rng.sample(
    w.kv.all().filter((p) => !actor.paths.includes(p)),
    n,
  );
  const ev = emitter(c);
  const t0 = start + (actor.role === 'service' ? 0 : 40 * SECOND);
  for (const p of targets) {
    const t = t0 + rng.next() * duration;
    steps.push({ t, run: () => ev.kvRead(t, access.session(t), p, access.remote(), access.headers) });
  }
  return {
    speed: 'fast',
    description: `${actor.label.id} reads ${targets.length} distinct secrets in ${Math.round(duration / MINUTE)} min from its usual address`,
    steps,
    entityIds: [actor.entityId as string],
    sourceAddresses: [access.remote()],
    loginUsers: actor.label.loginUser ? [actor.label.loginUser] : [],
    displayNames: [],
    identities: [actor.label.id],
    paths: sampleOf(targets.map((p) => `secret/data/${p}`)),
    params: { distinctPaths: targets.length, durationMin: Math.round(duration / MINUTE) },
  };
}

function enumeration(c: Ctx): Planned | undefined {
  const { rng, world: w } = c;
  const actor = takeInsider(c);
  if (!actor) return undefined;
  const dirs = w.kv.dirs();
  const n = Math.min(dirs.length, count(c, 100, 600, 30));
  const duration = fits(c, rng.uniform(2, 10) * MINUTE);
  const start = placeStart(c, duration + MINUTE);
  if (start === undefined) return undefined;
  const steps: Step[] = [];
  const access = insiderAccess(c, actor, start, steps);
  const targets = rng.sample(dirs, n);
  const ev = emitter(c);
  const t0 = start + (actor.role === 'service' ? 0 : 40 * SECOND);
  let denied = 0;
  for (const dir of targets) {
    const t = t0 + rng.next() * duration;
    const deny = !dir.startsWith(`${actor.team}/`) && rng.chance(0.3);
    if (deny) denied++;
    steps.push({ t, run: () => ev.list(t, access.session(t), dir, access.remote(), access.headers, deny) });
  }
  return {
    speed: 'fast',
    description: `${actor.label.id} lists ${targets.length} KV folders (${denied} denied) in ${Math.round(duration / MINUTE)} min`,
    steps,
    entityIds: [actor.entityId as string],
    sourceAddresses: [access.remote()],
    loginUsers: actor.label.loginUser ? [actor.label.loginUser] : [],
    displayNames: [],
    identities: [actor.label.id],
    paths: sampleOf(targets.map((d) => `secret/metadata/${d}`)),
    params: { lists: targets.length, denied, durationMin: Math.round(duration / MINUTE) },
  };
}

function privilegeEscalation(c: Ctx): Planned | undefined {
  const { rng, world: w } = c;
  const actor = takeInsider(c);
  if (!actor) return undefined;
  const n = count(c, 20, 80, 5);
  const duration = fits(c, rng.uniform(5, 30) * MINUTE);
  const start = placeStart(c, duration + 2 * MINUTE);
  if (start === undefined) return undefined;
  const steps: Step[] = [];
  const access = insiderAccess(c, actor, start, steps);
  const policy = actor.label.policies.find((p) => p !== 'default') ?? 'default';
  const ev = emitter(c);
  const t1 = start + (actor.role === 'service' ? 0 : 40 * SECOND) + rng.uniform(1, 20) * SECOND;
  const t2 = t1 + rng.uniform(5, 60) * SECOND;
  steps.push({
    t: t1,
    run: () =>
      ev.sys(t1, access.session(t1), `sys/policies/acl/${policy}`, 'read', access.remote(), access.headers),
  });
  steps.push({
    t: t2,
    run: () =>
      ev.sys(
        t2,
        access.session(t2),
        `sys/policies/acl/${policy}`,
        'update',
        access.remote(),
        access.headers,
        `{"policy":"${w.hmac.fresh(rng)}"}`,
      ),
  });
  const targets = rng.sample(
    w.kv.all().filter((p) => !p.startsWith(`${actor.team}/`)),
    n,
  );
  for (const p of targets) {
    const t = t2 + 10 * SECOND + rng.next() * duration;
    steps.push({ t, run: () => ev.kvRead(t, access.session(t), p, access.remote(), access.headers) });
  }
  return {
    speed: 'fast',
    description: `non-admin ${actor.label.id} rewrites its own policy ${policy} (sys/policies/acl/${policy}) and then reads ${targets.length} secrets of other teams`,
    steps,
    entityIds: [actor.entityId as string],
    sourceAddresses: [access.remote()],
    loginUsers: actor.label.loginUser ? [actor.label.loginUser] : [],
    displayNames: [],
    identities: [actor.label.id],
    paths: sampleOf([`sys/policies/acl/${policy}`, ...targets.map((p) => `secret/data/${p}`)]),
    params: { reads: targets.length, policy, durationMin: Math.round(duration / MINUTE) },
  };
}

function auditDisabled(c: Ctx): Planned | undefined {
  const { rng, world: w, pop } = c;
  const admin = take(c, pop.admins) ?? take(c, pop.humans);
  if (!admin) return undefined;
  const start = placeStart(c, 5 * MINUTE);
  if (start === undefined) return undefined;
  const unseen = rng.chance(0.5);
  const remote = unseen ? `${w.nets.unseenInternal(rng)}.${rng.int(2, 250)}` : admin.usualAddress();
  const device = rng.pick(['file', 'file-archive', 'syslog']);
  const steps: Step[] = [];
  const ev = emitter(c);
  const rngLogin = Rng.derive(w.options.seed, `scenario-login/${c.kind}/${c.n}`);
  let session: Session | undefined;
  const t1 = start + rng.uniform(20, 60) * SECOND;
  const t2 = t1 + rng.uniform(5, 40) * SECOND;
  steps.push({
    t: start,
    run: () => void (session = admin.loginAt(start, remote, c.index, rngLogin).session),
  });
  steps.push({
    t: t1,
    run: () => ev.sys(t1, session as Session, 'sys/audit', 'read', remote, HEADERS.vaultCli),
  });
  steps.push({
    t: t2,
    run: () => ev.sys(t2, session as Session, `sys/audit/${device}`, 'delete', remote, HEADERS.vaultCli),
  });
  return {
    speed: 'fast',
    description: `audit device ${device} disabled (DELETE sys/audit/${device}) with ${admin.label.id}'s credentials from ${unseen ? 'an unfamiliar network' : 'their usual address'} ${remote}`,
    steps,
    entityIds: [admin.entityId as string],
    sourceAddresses: [remote],
    loginUsers: admin.label.loginUser ? [admin.label.loginUser] : [],
    displayNames: [],
    identities: [admin.label.id],
    paths: ['sys/audit', `sys/audit/${device}`],
    params: { device, unseenNetwork: unseen },
  };
}

function rootToken(c: Ctx): Planned | undefined {
  const { rng, world: w } = c;
  const duration = fits(c, rng.uniform(5, 30) * MINUTE);
  const start = placeStart(c, duration);
  if (start === undefined) return undefined;
  const bastion = rng.chance(0.5);
  const remote = bastion ? `10.10.0.${rng.int(2, 30)}` : `${w.nets.unseenInternal(rng)}.${rng.int(2, 250)}`;
  if (bastion) w.nets.claim('10.10.0');
  const session = newSession(
    {
      displayName: 'root',
      policies: ['root'],
      ttlSeconds: 0,
      issuedAt: start - rng.uniform(1, 10) * MINUTE,
      grantingPolicy: 'root',
      namespaceId: 'root',
    },
    w.hmac,
    rng,
  );
  const n = count(c, 5, 40, 3);
  const ev = emitter(c);
  const steps: Step[] = [{ t: start, run: () => ev.lookupSelf(start, session, remote, HEADERS.vaultCli) }];
  const touched = new Set<string>(['auth/token/lookup-self']);
  for (let i = 0; i < n; i++) {
    const t = start + SECOND + rng.next() * duration;
    const r = rng.next();
    if (r < 0.45) {
      const p = rng.pick(w.kv.all());
      touched.add(`secret/data/${p}`);
      steps.push({ t, run: () => ev.kvRead(t, session, p, remote, HEADERS.vaultCli) });
    } else if (r < 0.9) {
      const [path, op] = rng.pick([
        ['sys/mounts', 'read'],
        ['sys/auth', 'read'],
        ['sys/policies/acl', 'list'],
        ['sys/audit', 'read'],
        ['sys/policies/acl/vault-admin', 'read'],
      ] as const);
      touched.add(path);
      steps.push({ t, run: () => ev.sys(t, session, path, op, remote, HEADERS.vaultCli) });
    } else {
      touched.add('auth/token/create');
      steps.push({
        t,
        run: () => {
          const child = newSession(
            { displayName: 'token', policies: ['root'], ttlSeconds: 0, issuedAt: t, grantingPolicy: 'root' },
            w.hmac,
            rng,
          );
          w.emit(-1, c.index, {
            t,
            latency: 'tokenCreate',
            caller: session.caller,
            op: 'update',
            path: 'auth/token/create',
            mount: w.mounts.token,
            remote,
            headers: HEADERS.vaultCli,
            reqData: `{"policies":["${w.hmac.of('root')}"]}`,
            respBody: child.issuedAuth,
          });
        },
      });
    }
  }
  return {
    speed: 'fast',
    description: `root token used from ${bastion ? 'the bastion' : 'an unfamiliar internal network'} ${remote}: ${n + 1} requests in ${Math.round(duration / MINUTE)} min`,
    steps,
    entityIds: [],
    sourceAddresses: [remote],
    loginUsers: [],
    displayNames: ['root'],
    identities: [],
    paths: sampleOf(touched),
    params: { requests: n + 1, bastion, durationMin: Math.round(duration / MINUTE) },
  };
}

function slowExfiltration(c: Ctx): Planned | undefined {
  const { rng, world: w, pop } = c;
  const victim = take(c, pop.services);
  if (!victim) return undefined;
  const duration = fits(c, rng.uniform(24, 48) * HOUR);
  if (duration < 4 * HOUR) return undefined;
  const start = placeStart(c, duration);
  if (start === undefined) return undefined;
  const perHour = Math.max(1, rng.uniform(1, 5) * c.intensity);
  const pool = rng.shuffle(w.kv.all().filter((p) => !victim.paths.includes(p)));
  const steps: Step[] = [];
  const ev = emitter(c);
  const touched: string[] = [];
  const addresses = new Set<string>();
  for (let h0 = start; h0 < start + duration; h0 += HOUR) {
    const k = Math.max(h0 === start ? 1 : 0, rng.poisson(perHour));
    for (let i = 0; i < k && pool.length; i++) {
      const t = h0 === start && i === 0 ? start : h0 + rng.next() * Math.min(HOUR, start + duration - h0);
      const p = pool.pop() as string;
      touched.push(p);
      const replica = rng.int(0, victim.replicas.length - 1);
      addresses.add(victim.replicaAddress(replica));
      steps.push({
        t,
        run: () =>
          ev.kvRead(
            t,
            victim.sessionAt(t, replica),
            p,
            victim.replicaAddress(replica),
            victim.traits.headers,
          ),
      });
    }
  }
  return {
    speed: 'slow',
    description: `${victim.traits.name} reads ~${perHour.toFixed(1)} never-read secrets per hour for ${(duration / HOUR).toFixed(0)} h (${touched.length} in all) alongside its normal traffic`,
    steps,
    entityIds: [victim.entityId as string],
    sourceAddresses: [...addresses],
    loginUsers: [],
    displayNames: [],
    identities: [victim.label.id],
    paths: sampleOf(touched.map((p) => `secret/data/${p}`)),
    params: {
      perHour: Number(perHour.toFixed(2)),
      reads: touched.length,
      durationHours: Math.round(duration / HOUR),
    },
  };
}

function deniedProbing(c: Ctx): Planned | undefined {
  const { rng, world: w } = c;
  const actor = takeInsider(c);
  if (!actor) return undefined;
  const n = count(c, 30, 200, 10);
  const duration = fits(c, rng.uniform(5, 20) * MINUTE);
  const start = placeStart(c, duration + MINUTE);
  if (start === undefined) return undefined;
  const steps: Step[] = [];
  const access = insiderAccess(c, actor, start, steps);
  const foreign = w.kv.all().filter((p) => !p.startsWith(`${actor.team}/`));
  const ev = emitter(c);
  const t0 = start + (actor.role === 'service' ? 0 : 40 * SECOND);
  const touched = new Set<string>();
  for (let i = 0; i < n; i++) {
    const t = t0 + rng.next() * duration;
    const r = rng.next();
    const [path, op] =
      r < 0.6 || foreign.length === 0
        ? [`secret/data/${foreign.length ? rng.pick(foreign) : 'platform/legacy/x'}`, 'read']
        : r < 0.8
          ? [`secret/metadata/${rng.pick(foreign).split('/')[0] as string}/`, 'list']
          : [rng.pick(PROBE_SYS), 'read'];
    touched.add(path);
    steps.push({ t, run: () => ev.denied(t, access.session(t), path, op, access.remote(), access.headers) });
  }
  return {
    speed: 'fast',
    description: `${actor.label.id} probes ${n} forbidden paths in ${Math.round(duration / MINUTE)} min (permission denied)`,
    steps,
    entityIds: [actor.entityId as string],
    sourceAddresses: [access.remote()],
    loginUsers: actor.label.loginUser ? [actor.label.loginUser] : [],
    displayNames: [],
    identities: [actor.label.id],
    paths: sampleOf(touched),
    params: { denied: n, durationMin: Math.round(duration / MINUTE) },
  };
}

function tokenCreationSpike(c: Ctx): Planned | undefined {
  const { rng, world: w, pop } = c;
  const victim = take(c, pop.services);
  if (!victim) return undefined;
  const n = count(c, 50, 500, 15);
  const duration = fits(c, rng.uniform(5, 15) * MINUTE);
  const start = placeStart(c, duration);
  if (start === undefined) return undefined;
  const steps: Step[] = [];
  const headers = victim.traits.headers;
  for (let i = 0; i < n; i++) {
    const t = i === 0 ? start : start + rng.next() * duration;
    steps.push({
      t,
      run: () => {
        const s = victim.sessionAt(t);
        const child = newSession(
          {
            displayName: 'token',
            policies: victim.label.policies,
            ...(victim.entityId ? { entityId: victim.entityId } : {}),
            ttlSeconds: 3600,
            issuedAt: t,
            grantingPolicy: victim.traits.policy,
            namespaceId: w.namespaceId,
          },
          w.hmac,
          rng,
        );
        w.emit(-1, c.index, {
          t,
          latency: 'tokenCreate',
          caller: s.caller,
          op: 'update',
          path: 'auth/token/create',
          mount: w.mounts.token,
          remote: victim.usualAddress(),
          headers,
          reqData: `{"policies":["${w.hmac.of(victim.traits.policy)}"],"ttl":"${w.hmac.of('1h')}"}`,
          respBody: child.issuedAuth,
        });
      },
    });
  }
  return {
    speed: 'fast',
    description: `${victim.traits.name} creates ${n} tokens (auth/token/create) in ${Math.round(duration / MINUTE)} min`,
    steps,
    entityIds: [victim.entityId as string],
    sourceAddresses: [victim.usualAddress()],
    loginUsers: [],
    displayNames: [],
    identities: [victim.label.id],
    paths: ['auth/token/create'],
    params: { creates: n, durationMin: Math.round(duration / MINUTE) },
  };
}

function streamSilence(c: Ctx, busy: [number, number][]): Planned | undefined {
  const { rng, world: w } = c;
  const duration = rng.uniform(30, 90) * MINUTE;
  for (let attempt = 0; attempt < 200; attempt++) {
    const start = placeStart(c, duration);
    if (start === undefined) return undefined;
    const end = start + duration;
    if (busy.some(([a, b]) => end > a - 30 * MINUTE && start < b + 3 * HOUR)) continue;
    w.silences.push([start, end]);
    busy.push([start, end]);
    return {
      speed: 'fast',
      description: `the audit stream stops for ${Math.round(duration / MINUTE)} min (no lines at all), then resumes`,
      steps: [],
      entityIds: [],
      sourceAddresses: [],
      loginUsers: [],
      displayNames: [],
      identities: [],
      paths: [],
      params: { durationMin: Math.round(duration / MINUTE) },
      window: [start, end],
    };
  }
  return undefined;
}

function stoppedRotation(c: Ctx): Planned | undefined {
  const { rng, world: w, pop } = c;
  const job = take(c, pop.rotation);
  if (!job) return undefined;
  const duration = rng.uniform(3.2, 5) * 24 * HOUR;
  const from = placeStart(c, duration);
  if (from === undefined) return undefined;
  const runs = job.runsBetween(from, from + duration);
  if (runs.length < 2) return undefined;
  w.suppress(job.index, from, from + duration);
  return {
    speed: 'slow',
    description: `rotation job ${job.label.id} silently stops for ${(duration / HOUR / 24).toFixed(1)} days (${runs.length} missed daily runs of database/rotate-role/${job.dbRole})`,
    steps: [],
    entityIds: [job.entityId as string],
    sourceAddresses: [],
    loginUsers: [],
    displayNames: [],
    identities: [job.label.id],
    paths: [`database/rotate-role/${job.dbRole}`, ...job.rotated.map((r) => `secret/data/${r.logical}`)],
    params: { missedRuns: runs.length, stoppedDays: Number((duration / HOUR / 24).toFixed(2)) },
    window: [runs[0] as number, runs[runs.length - 1] as number],
  };
}

const BUILDERS: Record<Exclude<ScenarioKind, 'stream_silence'>, (c: Ctx) => Planned | undefined> = {
  credential_stuffing: credentialStuffing,
  password_spraying: passwordSpraying,
  brute_force: bruteForce,
  token_theft: tokenTheft,
  mass_secret_read: massSecretRead,
  enumeration,
  privilege_escalation: privilegeEscalation,
  audit_disabled: auditDisabled,
  root_token: rootToken,
  slow_exfiltration: slowExfiltration,
  denied_probing: deniedProbing,
  token_creation_spike: tokenCreationSpike,
  stopped_rotation: stoppedRotation,
};

/** Plan every scenario instance of the run (silences last, clear of every other attack). */
export function planScenarios(world: World, pop: Population): Scenario[] {
  const { options } = world;
  const used = new Set<number>();
  const out: Scenario[] = [];
  const busy: [number, number][] = [];
  const kinds = SCENARIO_KINDS.filter((k) => options.scenarios.includes(k));
  const ordered = [
    ...kinds.filter((k) => k !== 'stream_silence'),
    ...kinds.filter((k) => k === 'stream_silence'),
  ];
  for (const kind of ordered) {
    const avoid: [number, number][] = [];
    for (let n = 0; n < options.perKind; n++) {
      const rng = Rng.derive(options.seed, `scenario/${kind}/${n}`);
      const c: Ctx = {
        world,
        pop,
        rng,
        intensity: options.intensity,
        used,
        index: out.length,
        kind,
        n,
        avoid,
      };
      const planned = kind === 'stream_silence' ? streamSilence(c, busy) : BUILDERS[kind](c);
      if (!planned) continue;
      let start: number;
      let end: number;
      if (planned.window) [start, end] = planned.window;
      else {
        if (planned.steps.length === 0) continue;
        start = Math.min(...planned.steps.map((s) => s.t));
        end = Math.max(...planned.steps.map((s) => s.t));
      }
      if (kind !== 'stream_silence') busy.push([start, end]);
      avoid.push([start, end]);
      const label: ScenarioLabel = {
        id: `${kind}-${n + 1}`,
        kind,
        speed: planned.speed,
        start: iso(Math.floor(start)),
        end: iso(Math.ceil(end)),
        description: planned.description,
        expected: EXPECTED_FAMILIES[kind],
        entityIds: planned.entityIds.filter(Boolean),
        sourceAddresses: planned.sourceAddresses,
        loginUsers: planned.loginUsers,
        displayNames: planned.displayNames,
        identities: planned.identities,
        paths: planned.paths,
        params: { ...planned.params, intensity: options.intensity },
        events: 0,
      };
      out.push(new Scenario(out.length, label, planned.steps, planned.window !== undefined));
    }
  }
  return out;
}
