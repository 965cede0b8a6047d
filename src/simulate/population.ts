import { HEADERS } from './audit-format.js';
import {
  type Actor,
  BatchActor,
  CiActor,
  HumanActor,
  MonitorActor,
  newRepo,
  RotationActor,
  ServiceActor,
  type HumanTraits,
  type RotatedSecret,
  type ServiceTraits,
} from './actors.js';
import type { IdentityLabel, Role } from './labels.js';
import { Rng } from './rng.js';
import { DAY, HOUR, iso } from './time.js';
import { cidr, type World } from './world.js';

const TEAMS = [
  'payments',
  'checkout',
  'search',
  'billing',
  'identity',
  'inventory',
  'shipping',
  'analytics',
  'marketing',
  'platform',
  'data',
  'mobile',
  'fraud',
  'ledger',
  'notifications',
  'catalog',
  'pricing',
  'support',
  'risk',
  'web',
];
const COMPONENTS = [
  'api',
  'worker',
  'web',
  'gateway',
  'scheduler',
  'consumer',
  'indexer',
  'sync',
  'cache',
  'auth',
  'reports',
  'exporter',
  'importer',
  'notifier',
  'engine',
  'router',
  'graphql',
  'ingest',
  'admin',
  'webhooks',
];
const SERVICE_SECRETS = [
  'db',
  'postgres',
  'mysql',
  'redis',
  'api-key',
  'stripe',
  'smtp',
  'jwt-signing',
  's3',
  'kafka',
  'oauth-client',
  'tls',
  'config',
  'sentry-dsn',
  'datadog',
  'elastic',
];
const SHARED_SECRETS = [
  'kafka',
  'smtp',
  'datadog',
  'sentry-dsn',
  's3',
  'slack-webhook',
  'signing-key',
  'elastic',
];
const BATCH_WORDS = [
  'nightly-report',
  'etl',
  'backup',
  'reindex',
  'cleanup',
  'sync',
  'billing-run',
  'export',
  'aggregate',
  'archive',
];
const FIRST = [
  'anna',
  'ben',
  'clara',
  'david',
  'eva',
  'felix',
  'greta',
  'hannah',
  'ivan',
  'julia',
  'karl',
  'lena',
  'max',
  'nina',
  'oscar',
  'paula',
  'quentin',
  'rosa',
  'sven',
  'tara',
  'uwe',
  'vera',
  'wim',
  'xenia',
  'yusuf',
  'zoe',
  'amir',
  'bea',
  'chen',
  'dana',
  'emil',
  'fatima',
  'george',
  'hugo',
  'ines',
  'jonas',
  'kim',
  'lars',
  'mia',
  'noah',
];
const LAST = [
  'schmidt',
  'mueller',
  'schneider',
  'fischer',
  'weber',
  'meyer',
  'wagner',
  'becker',
  'schulz',
  'hoffmann',
  'koch',
  'richter',
  'klein',
  'wolf',
  'neumann',
  'schwarz',
  'braun',
  'zimmermann',
  'krueger',
  'hartmann',
  'lange',
  'werner',
  'krause',
  'lehmann',
  'koehler',
  'walter',
  'maier',
  'kaiser',
  'fuchs',
  'peters',
  'lang',
  'scholz',
  'jung',
  'moeller',
  'garcia',
  'rossi',
  'nowak',
  'kowalski',
  'silva',
  'jensen',
  'novak',
  'dubois',
  'smith',
  'jones',
  'tanaka',
  'kim',
];
const MONITORS = [
  'prometheus-vault',
  'uptime-probe',
  'datadog-agent',
  'blackbox-exporter',
  'nagios',
  'zabbix-agent',
  'grafana-agent',
  'telegraf',
];

export interface Team {
  name: string;
  services: ServiceActor[];
  /** Every logical KV path of the team (read by someone or not). */
  paths: string[];
  shared: string[];
}

export interface Population {
  actors: Actor[];
  services: ServiceActor[];
  ci: CiActor[];
  batch: BatchActor[];
  rotation: RotationActor[];
  humans: HumanActor[];
  admins: HumanActor[];
  monitors: MonitorActor[];
  teams: Team[];
  /** Identities with planned benign oddities (dormant, new, on vacation): not used as attack victims. */
  special: Set<number>;
}

export function roleCounts(n: number): Record<Role, number> {
  const frac: Record<Role, number> = {
    service: 0.45,
    ci: 0.07,
    batch: 0.1,
    rotation: 0.04,
    human: 0.28,
    admin: 0.03,
    monitor: 0.03,
  };
  const order: Role[] = ['service', 'human', 'monitor', 'rotation', 'admin', 'ci', 'batch'];
  const counts = { service: 0, ci: 0, batch: 0, rotation: 0, human: 0, admin: 0, monitor: 0 } as Record<
    Role,
    number
  >;
  if (n < order.length) {
    for (let i = 0; i < n; i++) counts[order[i] as Role]++;
    return counts;
  }
  let used = 0;
  for (const r of order) {
    counts[r] = Math.max(1, Math.floor(frac[r] * n));
    used += counts[r];
  }
  // Rounding leftovers go to services and humans; overshoot (tiny n) comes off services.
  let i = 0;
  while (used < n) {
    counts[i++ % 3 === 2 ? 'human' : 'service']++;
    used++;
  }
  while (used > n && counts.service > 1) {
    counts.service--;
    used--;
  }
  return counts;
}

function label(
  role: Role,
  id: string,
  displayName: string,
  authMethod: string,
  team: string,
  policies: string[],
  homeNetworks: string[],
  entityId: string | undefined,
  start: number,
  loginUser?: string,
): IdentityLabel {
  return {
    id,
    role,
    key: entityId ? `entity:${entityId}` : `name:${displayName}`,
    ...(entityId ? { entityId } : {}),
    displayName,
    authMethod,
    team,
    policies,
    ...(loginUser ? { loginUser } : {}),
    homeNetworks,
    plannedStart: iso(start),
    accesses: 0,
  };
}

export function buildPopulation(world: World): Population {
  const { options } = world;
  const seed = options.seed;
  const rng = Rng.derive(seed, 'population');
  const counts = roleCounts(options.identities);
  const nTeams = Math.min(TEAMS.length, Math.max(2, Math.round(options.identities / 20)));
  const teams: Team[] = TEAMS.slice(0, nTeams).map((name) => ({ name, services: [], paths: [], shared: [] }));
  const actors: Actor[] = [];
  const idRng = (i: number) => Rng.derive(seed, `identity/${i}`);
  const kv = world.kv;
  const addPath = (team: Team, logical: string) => {
    kv.add(logical);
    team.paths.push(logical);
  };

  for (const team of teams) {
    for (const s of rng.sample(SHARED_SECRETS, rng.int(3, 6))) {
      addPath(team, `${team.name}/shared/${s}`);
      team.shared.push(`${team.name}/shared/${s}`);
    }
    const legacy = rng.int(5, 15);
    for (let i = 0; i < legacy; i++)
      addPath(team, `${team.name}/legacy/${rng.pick(SERVICE_SECRETS)}-${i + 1}`);
  }

  // Services --------------------------------------------------------------------------------------
  const services: ServiceActor[] = [];
  const usedNames = new Set<string>();
  for (let i = 0; i < counts.service; i++) {
    const index = actors.length;
    const r = idRng(index);
    const team = teams[i % teams.length] as Team;
    let name = `${team.name}-${r.pick(COMPONENTS)}`;
    for (let k = 2; usedNames.has(name); k++)
      name = `${team.name}-${r.pick(COMPONENTS)}${k > 4 ? `-${k}` : ''}`;
    usedNames.add(name);
    const method = r.chance(0.6) ? 'kubernetes' : 'approle';
    const net = world.nets.alloc(
      method === 'kubernetes' ? ['10.42', '10.43', '10.44', '10.45'] : ['10.20', '10.21', '10.22'],
    );
    const policy = name;
    const traits: ServiceTraits = {
      method,
      name,
      net,
      replicas: Math.min(4, Math.max(1, 1 + r.poisson(1))),
      scale: Math.min(200, Math.max(0.3, r.logNormal(6, 1.0))),
      amplitude: r.uniform(0.2, 0.8),
      peakHour: r.uniform(11, 16),
      weekendFactor: r.uniform(0.45, 0.95),
      growthPerWeek: 0,
      loginHours: r.pick([2, 4, 6]),
      transitScale: 0,
      headers: r.pick([HEADERS.goSdk, HEADERS.javaSdk, HEADERS.pythonHvac, HEADERS.vaultAgent]),
      policy,
    };
    if (r.chance(0.35)) traits.dbRole = `${name}-rw`;
    if (r.chance(0.12)) {
      traits.transitKey = name;
      traits.transitScale = traits.scale * r.uniform(1, 4);
    }
    if (r.chance(0.08)) traits.pkiRole = `${team.name}-internal`;
    const displayName = method === 'approle' ? 'approle' : `kubernetes-${team.name}-${name}`;
    const l = label(
      'service',
      `svc-${name}`,
      displayName,
      method,
      team.name,
      ['default', policy],
      [cidr(net)],
      r.uuid(),
      world.start,
    );
    const actor = new ServiceActor(world, index, r, l, traits);
    const own = r.sample(SERVICE_SECRETS, r.int(2, 8)).map((s) => `${team.name}/${name}/${s}`);
    for (const p of own) {
      addPath(team, p);
      addPath(team, p.replace(`/${name}/`, `/${name}/staging/`));
      addPath(team, p.replace(`/${name}/`, `/${name}/dev/`));
    }
    const shared = r.sample(team.shared, r.int(0, 2));
    actor.setPaths(r.shuffle([...own, ...shared]));
    team.services.push(actor);
    services.push(actor);
    actors.push(actor);
  }

  // CI runners ------------------------------------------------------------------------------------
  const pools = [world.nets.claim('10.30.1'), world.nets.claim('10.30.2')];
  const ci: CiActor[] = [];
  for (let i = 0; i < counts.ci; i++) {
    const index = actors.length;
    const r = idRng(index);
    const team = teams[i % teams.length] as Team;
    const suffix = i >= teams.length ? `-${Math.floor(i / teams.length) + 1}` : '';
    const role = `${team.name}-ci${suffix}`;
    const l = label(
      'ci',
      `ci-${team.name}${suffix}`,
      `jwt-${role}`,
      'jwt',
      team.name,
      ['default', role],
      pools.map(cidr),
      r.uuid(),
      world.start,
    );
    const actor = new CiActor(
      world,
      index,
      r,
      l,
      pools,
      Math.min(12, Math.max(0.5, r.logNormal(3, 0.5))),
      role,
      role,
    );
    const nRepos = r.int(1, 3);
    for (let k = 0; k < nRepos; k++) actor.addRepo(newRepo(world, team.name, r, k));
    for (const p of actor.paths) team.paths.push(p);
    ci.push(actor);
    actors.push(actor);
  }

  // Batch jobs ------------------------------------------------------------------------------------
  const batch: BatchActor[] = [];
  for (let i = 0; i < counts.batch; i++) {
    const index = actors.length;
    const r = idRng(index);
    const team = teams[i % teams.length] as Team;
    const job = `${team.name}-${r.pick(BATCH_WORDS)}${i >= teams.length ? `-${i}` : ''}`;
    const net = world.nets.alloc(['10.50', '10.51']);
    const hostOctet = r.int(10, 250);
    const nightly = r.chance(0.8);
    const period = nightly ? DAY : 6 * HOUR;
    const phase = nightly ? r.uniform(0.5, 4.5) * HOUR : r.uniform(0, 6) * HOUR;
    const l = label(
      'batch',
      `batch-${job}`,
      'approle',
      'approle',
      team.name,
      ['default', job],
      [cidr(net)],
      r.uuid(),
      world.start,
    );
    const actor = new BatchActor(
      world,
      index,
      r,
      l,
      net,
      hostOctet,
      period,
      phase,
      job,
      job,
      r.chance(0.4) ? `${team.name}-batch-ro` : undefined,
      r.chance(0.3),
    );
    const candidates = team.services.flatMap((s) => s.paths).concat(team.shared);
    actor.setPaths(r.sample(candidates.length ? candidates : team.paths, r.int(3, 15)));
    batch.push(actor);
    actors.push(actor);
  }

  // Rotation jobs ---------------------------------------------------------------------------------
  const rotation: RotationActor[] = [];
  for (let i = 0; i < counts.rotation; i++) {
    const index = actors.length;
    const r = idRng(index);
    const team = teams[i % teams.length] as Team;
    const suffix = i >= teams.length ? `-${Math.floor(i / teams.length) + 1}` : '';
    const job = `${team.name}-rotator${suffix}`;
    const net = world.nets.alloc(['10.52', '10.53']);
    const rotated: RotatedSecret[] = [];
    for (const s of r.sample(
      ['db-password', 'api-key', 'signing-key', 'service-account', 'smtp'],
      r.int(1, 3),
    )) {
      const periodDays = r.pick([1, 3, 7]);
      const logical = `${team.name}/rotated${suffix}/${s}`;
      addPath(team, logical);
      rotated.push({ logical, periodDays, phaseDays: r.int(0, periodDays - 1) });
    }
    const l = label(
      'rotation',
      `rot-${job}`,
      'approle',
      'approle',
      team.name,
      ['default', job],
      [cidr(net)],
      r.uuid(),
      world.start,
    );
    const actor = new RotationActor(
      world,
      index,
      r,
      l,
      net,
      r.int(10, 250),
      r.uniform(1, 4),
      `${team.name}-static${suffix}`,
      rotated,
      job,
      job,
    );
    actor.setPaths(rotated.map((x) => x.logical));
    rotation.push(actor);
    actors.push(actor);
  }

  // Humans and admins -----------------------------------------------------------------------------
  const nPeople = counts.human + counts.admin;
  const floors: string[] = [];
  for (let i = 0; i < Math.max(1, Math.ceil(nPeople / 25)); i++) floors.push(world.nets.alloc(['172.20']));
  const office2 = world.nets.alloc(['172.21']);
  const vpn1 = world.nets.claim('10.250.1');
  const vpnPools: { net: string; from: number }[] = [{ net: vpn1, from: -Infinity }];
  const benignRng = Rng.derive(seed, 'benign');
  const afterWarmup = (minDaysLeft: number): number | undefined => {
    const lo = world.warmupEnd + DAY;
    const hi = world.end - minDaysLeft * DAY;
    return hi > lo ? benignRng.uniform(lo, hi) : undefined;
  };
  const vpnAt = afterWarmup(3);
  if (vpnAt !== undefined) {
    const vpn2 = world.nets.claim('10.250.2');
    vpnPools.push({ net: vpn2, from: vpnAt });
    world.addBenign({
      kind: 'vpn_pool_added',
      at: vpnAt,
      description: `a second VPN address pool ${cidr(vpn2)} went live; remote workers now also get addresses there`,
      details: { network: cidr(vpn2) },
    });
  }
  const usedUsers = new Set<string>();
  const humans: HumanActor[] = [];
  const admins: HumanActor[] = [];
  for (let i = 0; i < nPeople; i++) {
    const index = actors.length;
    const r = idRng(index);
    const admin = i >= counts.human;
    const team = admin
      ? (teams.find((t) => t.name === 'platform') ?? (teams[0] as Team))
      : (teams[i % teams.length] as Team);
    const first = r.pick(FIRST);
    const last = r.pick(LAST);
    let user = `${first[0]}${last}`;
    for (let k = 2; usedUsers.has(user); k++) user = `${first[0]}${last}${k}`;
    usedUsers.add(user);
    const email = `${first}.${last}${user.match(/\d+$/)?.[0] ?? ''}@acme.example`;
    const m = r.next();
    const method: HumanTraits['method'] = m < 0.4 ? 'userpass' : m < 0.85 ? 'oidc' : 'ldap';
    const office = r.pick(floors);
    const hasOffice2 = r.chance(0.2);
    const traits: HumanTraits = {
      user,
      email,
      method,
      office,
      ...(hasOffice2 ? { office2 } : {}),
      officeProb: r.uniform(0.2, 0.85),
      rate: Math.min(6, Math.max(0.2, r.logNormal(1.3, 0.5))),
      cli: r.chance(admin ? 0.7 : 0.3),
      typo: r.uniform(0.02, 0.08),
      arrival: Math.min(10.5, Math.max(7, r.normal(8.7, 0.7))),
      workHours: r.normal(8.5, 0.6),
      admin,
      teamPolicy: `team-${team.name}`,
      browser: r.chance(0.7) ? HEADERS.browser : HEADERS.browserWin,
    };
    const displayName = method === 'oidc' ? `oidc-${email}` : `${method}-${user}`;
    const identityPolicies = admin ? ['vault-admin'] : [traits.teamPolicy];
    const nets = [office, ...(hasOffice2 ? [office2] : []), vpn1].map(cidr);
    const l = label(
      admin ? 'admin' : 'human',
      `${admin ? 'admin' : 'user'}-${user}`,
      displayName,
      method,
      team.name,
      ['default', ...identityPolicies],
      nets,
      r.uuid(),
      world.start,
      method === 'oidc' ? undefined : user,
    );
    const actor = new HumanActor(world, index, r, l, traits, vpnPools);
    const candidates = team.shared.concat(team.services.flatMap((s) => s.paths));
    actor.setPaths(r.sample(candidates.length ? candidates : team.paths, r.int(5, 25)));
    actor.otherDirs = teams.filter((t) => t !== team).map((t) => `${t.name}/`);
    if (admin) {
      actor.adminPolicies = [
        ...services.map((s) => s.traits.policy).slice(0, 40),
        ...teams.map((t) => `team-${t.name}`),
      ];
      admins.push(actor);
    } else humans.push(actor);
    actors.push(actor);
  }

  // Monitors --------------------------------------------------------------------------------------
  const monNet = world.nets.claim('10.5.0');
  kv.add('monitoring/canary');
  const monitors: MonitorActor[] = [];
  for (let i = 0; i < counts.monitor; i++) {
    const index = actors.length;
    const r = idRng(index);
    const name = `${MONITORS[i % MONITORS.length] as string}${i >= MONITORS.length ? `-${i}` : ''}`;
    const address = `${monNet}.${10 + i}`;
    const l = label(
      'monitor',
      `mon-${name}`,
      `token-${name}`,
      'token',
      'platform',
      ['default', 'monitoring'],
      [cidr(monNet)],
      undefined,
      world.start,
    );
    const headers = i % 3 === 0 ? HEADERS.prometheus : i % 3 === 1 ? HEADERS.curl : HEADERS.python;
    const actor = new MonitorActor(
      world,
      index,
      r,
      l,
      address,
      60_000,
      i === 0 ? 'monitoring/canary' : undefined,
      headers,
    );
    if (i === 0) actor.setPaths(['monitoring/canary']);
    monitors.push(actor);
    actors.push(actor);
  }

  // Benign changes --------------------------------------------------------------------------------
  const special = new Set<number>();
  const population: Population = {
    actors,
    services,
    ci,
    batch,
    rotation,
    humans,
    admins,
    monitors,
    teams,
    special,
  };
  planBenign(world, population, benignRng, afterWarmup);
  return population;
}

function planBenign(
  world: World,
  p: Population,
  rng: Rng,
  afterWarmup: (minDaysLeft: number) => number | undefined,
): void {
  const zone = world.zone;
  const weekdayAt = (t: number, hour: number): number => {
    let mid = zone.localMidnight(t);
    for (let i = 0; i < 7; i++) {
      const wd = zone.weekday(mid + 12 * HOUR);
      if (wd >= 1 && wd <= 5 && !world.isHoliday(mid)) break;
      mid = zone.localMidnight(mid + 36 * HOUR);
    }
    return zone.at(mid, hour);
  };

  // A public holiday on a weekday after the warm-up.
  const hol = afterWarmup(2);
  if (hol !== undefined) {
    const mid = zone.localMidnight(weekdayAt(hol, 12));
    world.holidays.add(mid);
    world.addBenign({
      kind: 'holiday',
      at: mid,
      end: zone.localMidnight(mid + 36 * HOUR),
      description: 'public holiday: humans stay home, CI mostly idle, services at ~75 %',
    });
  }

  const pool = <T extends Actor>(list: T[]): T[] => list.filter((a) => !p.special.has(a.index));

  // Gradual growth for some services.
  for (const s of p.services) {
    if (rng.chance(0.15)) {
      s.traits.growthPerWeek = rng.uniform(0.05, 0.2);
      world.addBenign({
        kind: 'growth',
        at: world.warmupEnd,
        identity: s.label.id,
        ...(s.entityId ? { entityId: s.entityId } : {}),
        description: `${s.traits.name} traffic grows ${(100 * s.traits.growthPerWeek).toFixed(0)} %/week after the warm-up`,
      });
    }
  }

  // A service that goes dormant for a few days and comes back.
  if (p.services.length >= 6) {
    const s = rng.pick(pool(p.services));
    const from = Math.max(world.start + DAY, world.warmupEnd - 2 * DAY + rng.uniform(0, 4) * DAY);
    const to = Math.min(world.end, from + rng.uniform(3, 6) * DAY);
    world.suppress(s.index, from, to);
    p.special.add(s.index);
    world.addBenign({
      kind: 'dormant',
      at: from,
      end: to,
      identity: s.label.id,
      ...(s.entityId ? { entityId: s.entityId } : {}),
      description: `${s.traits.name} is switched off and comes back ${((to - from) / DAY).toFixed(1)} days later`,
    });
  }

  // A new service deployed after the warm-up (cold start).
  const newSvcAt = afterWarmup(3);
  if (newSvcAt !== undefined && p.services.length >= 10) {
    const s = rng.pick(pool(p.services));
    const at = weekdayAt(newSvcAt, rng.uniform(10, 16));
    world.suppress(s.index, world.start, at);
    s.plannedStart = at;
    s.label.plannedStart = iso(at);
    p.special.add(s.index);
    world.addBenign({
      kind: 'new_service',
      at,
      identity: s.label.id,
      ...(s.entityId ? { entityId: s.entityId } : {}),
      description: `new service ${s.traits.name} goes live (no history: cold start)`,
    });
  }

  // Scale-ups: 2 → 6 replicas, more addresses in the subnet, proportionally more traffic.
  const nScale = Math.max(1, Math.round(p.services.length / 120));
  for (let i = 0; i < nScale; i++) {
    const t = afterWarmup(2);
    const candidates = pool(p.services).filter((s) => s.replicas.length <= 3 && !s.scaleUp);
    if (t === undefined || candidates.length === 0) break;
    const s = rng.pick(candidates);
    s.scaleUp = { at: weekdayAt(t, rng.uniform(10, 16)), to: 6 };
  }

  // New hires (cold start for a human) and a holiday-maker (dormant, then back).
  const people = pool(p.humans);
  const nHires = p.humans.length >= 8 ? (p.humans.length >= 40 ? 2 : 1) : 0;
  for (let i = 0; i < nHires; i++) {
    const t = afterWarmup(3);
    const candidates = pool(p.humans);
    if (t === undefined || candidates.length === 0) break;
    const h = rng.pick(candidates);
    const at = weekdayAt(t, 9);
    const mid = zone.localMidnight(at);
    world.suppress(h.index, world.start, mid);
    h.forcePresent.add(mid);
    h.plannedStart = mid;
    h.label.plannedStart = iso(mid);
    p.special.add(h.index);
    world.addBenign({
      kind: 'new_hire',
      at: mid,
      identity: h.label.id,
      ...(h.entityId ? { entityId: h.entityId } : {}),
      description: `${h.traits.user} joins team ${h.team} (first day, no history)`,
    });
  }
  if (people.length >= 6) {
    const h = rng.pick(pool(p.humans));
    const from = zone.localMidnight(Math.max(world.start + DAY, world.warmupEnd - rng.uniform(1, 4) * DAY));
    const to = Math.min(world.end, zone.localMidnight(from + rng.uniform(6, 10) * DAY + 12 * HOUR));
    world.suppress(h.index, from, to);
    p.special.add(h.index);
    world.addBenign({
      kind: 'vacation',
      at: from,
      end: to,
      identity: h.label.id,
      ...(h.entityId ? { entityId: h.entityId } : {}),
      description: `${h.traits.user} is on holiday and returns (dormant identity reactivates)`,
    });
  }
}
