import { createHash, randomUUID } from 'node:crypto';

/**
 * A short, realistic Vault audit stream for `vigil demo`: a few identities going about their
 * business, then attacks that Vigil catches without any learned history (rules and absolute
 * guardrails): root-token use, a password-guessing burst that ends in a success, password spraying,
 * mass secret reads and enumeration with a stolen token, and an audit device being disabled.
 * Entries follow the shapes of test/fixtures/audit (request and response per access, HMAC'd values).
 */

export interface DemoStep {
  /** Milliseconds after the start of the demo. */
  at: number;
  /** What the step shows, printed as it is sent. */
  label?: string;
  lines: string[];
}

const salt = randomUUID();
const hmac = (v: string) => 'hmac-sha256:' + createHash('sha256').update(salt).update(v).digest('hex');

interface Who {
  auth: Record<string, unknown>;
  remote: string;
}

function token(
  displayName: string,
  policies: string[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    client_token: hmac(`token-${displayName}`),
    accessor: hmac(`accessor-${displayName}`),
    display_name: displayName,
    policies,
    token_policies: policies,
    token_type: 'service',
    token_ttl: 3600,
    ...extra,
  };
}

const IDS = {
  payments: {
    auth: token('approle', ['default', 'payments'], {
      entity_id: 'demo-payments-api',
      metadata: { role_name: 'payments-api' },
    }),
    remote: '10.20.1.15',
  },
  web: {
    auth: token('kubernetes-prod-web', ['default', 'web'], {
      entity_id: 'demo-web',
      metadata: { service_account_name: 'web' },
    }),
    remote: '10.42.3.17',
  },
  ci: {
    auth: token('jwt-github-actions', ['default', 'ci'], {
      entity_id: 'demo-ci',
      metadata: { role: 'deployer' },
    }),
    remote: '172.16.4.20',
  },
  alice: {
    auth: token('userpass-alice', ['default', 'app-read'], {
      entity_id: 'demo-alice',
      metadata: { username: 'alice' },
    }),
    remote: '10.6.8.36',
  },
  bob: {
    auth: token('oidc-ops-bob', ['default', 'vault-admin'], {
      entity_id: 'demo-bob',
      metadata: { email: 'bob@example.com' },
    }),
    remote: '10.0.0.9',
  },
  root: { auth: token('root', ['root']), remote: '10.0.0.5' },
} satisfies Record<string, Who>;

const ANON = { token_type: 'default' };
const DENIED = '1 error occurred:\n\t* permission denied\n\n';

interface AccessSpec {
  who: Who | { auth: Record<string, unknown>; remote: string };
  op: string;
  path: string;
  mount: { point: string; type: string; cls?: string };
  error?: string;
  responseError?: boolean;
  issued?: Record<string, unknown>;
}

/** One access as its request and response lines, stamped at `now`. */
export function access(spec: AccessSpec, now: number): string[] {
  const id = randomUUID();
  const request = {
    id,
    operation: spec.op,
    mount_point: spec.mount.point,
    mount_type: spec.mount.type,
    ...(spec.mount.cls ? { mount_class: spec.mount.cls } : {}),
    client_token: spec.who.auth['client_token'],
    client_token_accessor: spec.who.auth['accessor'],
    namespace: { id: 'root' },
    path: spec.path,
    remote_address: spec.who.remote,
    remote_port: 40000 + Math.floor(Math.random() * 20000),
    headers: { 'user-agent': ['vault/1.18.1 (+https://www.vaultproject.io/; go1.22.7)'] },
  };
  const t1 = new Date(now).toISOString().replace('Z', '123456Z');
  const t2 = new Date(now + 2).toISOString().replace('Z', '654321Z');
  const req: Record<string, unknown> = { time: t1, auth: spec.who.auth, request, type: 'request' };
  const response: Record<string, unknown> = { mount_point: spec.mount.point, mount_type: spec.mount.type };
  if (spec.responseError) response['data'] = { error: hmac('error') };
  if (spec.issued) response['auth'] = spec.issued;
  const resp: Record<string, unknown> = {
    time: t2,
    auth: spec.who.auth,
    request,
    response,
    type: 'response',
  };
  if (spec.error) resp['error'] = spec.error;
  return [JSON.stringify(req), JSON.stringify(resp)];
}

const KV = { point: 'secret/', type: 'kv', cls: 'secret' };
const SYS = { point: 'sys/', type: 'system' };
const USERPASS = { point: 'auth/userpass/', type: 'userpass', cls: 'auth' };

/** The demo script: steps with their offsets. Lines are stamped when the step is built. */
export function demoSteps(startAt: number): DemoStep[] {
  const steps: DemoStep[] = [];
  const step = (at: number, label: string | undefined, make: (now: number) => string[][]) =>
    steps.push({ at, ...(label ? { label } : {}), lines: make(startAt + at).flat() });

  // Ordinary traffic throughout.
  const everyday: [Who, string][] = [
    [IDS.payments, 'secret/data/payments/stripe'],
    [IDS.web, 'secret/data/web/session-key'],
    [IDS.ci, 'secret/data/ci/deploy-key'],
    [IDS.alice, 'secret/data/app/db'],
  ];
  for (let at = 0; at < 34_000; at += 250) {
    const [who, path] = everyday[(at / 250) % everyday.length] as [Who, string];
    step(at, undefined, (now) => [access({ who, op: 'read', path, mount: KV }, now)]);
  }

  step(3_000, 'a root token reads secrets', (now) => [
    access({ who: IDS.root, op: 'read', path: 'sys/mounts', mount: SYS }, now),
    access({ who: IDS.root, op: 'read', path: 'secret/data/payments/stripe', mount: KV }, now + 5),
  ]);

  step(6_000, 'twelve wrong passwords for alice from 203.0.113.7, then a success', (now) => {
    const attacker = { auth: ANON, remote: '203.0.113.7' };
    const out: string[][] = [];
    for (let i = 0; i < 12; i++) {
      out.push(
        access(
          {
            who: attacker,
            op: 'update',
            path: 'auth/userpass/login/alice',
            mount: USERPASS,
            error: 'invalid credentials',
            responseError: true,
          },
          now + i * 200,
        ),
      );
    }
    out.push(
      access(
        {
          who: attacker,
          op: 'update',
          path: 'auth/userpass/login/alice',
          mount: USERPASS,
          issued: IDS.alice.auth,
        },
        now + 2_600,
      ),
    );
    return out;
  });

  step(11_000, 'password spraying: 25 user names from 198.51.100.66', (now) => {
    const sprayer = { auth: ANON, remote: '198.51.100.66' };
    const users = [
      'admin',
      'root',
      'ops',
      'deploy',
      'jenkins',
      'backup',
      'test',
      'dev',
      'alice',
      'bob',
      'carol',
      'dave',
      'erin',
      'frank',
      'grace',
      'heidi',
      'ivan',
      'judy',
      'mallory',
      'oscar',
      'peggy',
      'trent',
      'victor',
      'walter',
      'sybil',
    ];
    return users.map((u, i) =>
      access(
        {
          who: sprayer,
          op: 'update',
          path: `auth/userpass/login/${u}`,
          mount: USERPASS,
          ...(i % 3 ? { responseError: true } : { error: 'invalid credentials', responseError: true }),
        },
        now + i * 100,
      ),
    );
  });

  step(15_000, "payments-api's token, stolen, reads 600 different secrets from 203.0.113.50", (now) => {
    const thief = { auth: IDS.payments.auth, remote: '203.0.113.50' };
    const out: string[][] = [];
    for (let i = 0; i < 600; i++) {
      out.push(
        access(
          { who: thief, op: 'read', path: `secret/data/team-${i % 12}/service-${i}/credentials`, mount: KV },
          now + i * 8,
        ),
      );
    }
    return out;
  });

  step(22_000, '... lists 350 paths to map the tree, and is refused on others', (now) => {
    const thief = { auth: IDS.payments.auth, remote: '203.0.113.50' };
    const out: string[][] = [];
    for (let i = 0; i < 350; i++)
      out.push(
        access({ who: thief, op: 'list', path: `secret/metadata/team-${i}/`, mount: KV }, now + i * 10),
      );
    for (let i = 0; i < 15; i++) {
      out.push(
        access(
          {
            who: thief,
            op: 'read',
            path: `secret/data/hr/payroll-${i}`,
            mount: KV,
            error: DENIED,
            responseError: true,
          },
          now + 3_600 + i * 20,
        ),
      );
    }
    return out;
  });

  step(28_000, 'an admin token disables the file audit device', (now) => [
    access({ who: IDS.bob, op: 'delete', path: 'sys/audit/file', mount: SYS }, now),
  ]);

  step(31_000, '... and writes itself a new policy', (now) => [
    access({ who: IDS.bob, op: 'update', path: 'sys/policies/acl/break-glass', mount: SYS }, now),
  ]);

  return steps.sort((a, b) => a.at - b.at);
}
