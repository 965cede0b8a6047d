import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../../src/audit/event.js';
import { loadDetectors } from '../../../src/detect/loader.js';
import type { Signal } from '../../../src/detect/signal.js';
import { eventFromSpec } from '../../../src/detect/testing.js';
import { emptyOutput, Pipeline } from '../../../src/pipeline.js';

/**
 * Every analyzer's state must survive a checkpoint exactly: a run interrupted at any point, its
 * state serialised and restored into a fresh pipeline, must emit what the uninterrupted run emits.
 * Mixed random traffic (logins that fail and succeed, denials, reads, lists, token creation, sys
 * writes, rotations, new networks, silence) exercises every detector.
 */
const detectors = loadDetectors(fileURLToPath(new URL('../../../detectors', import.meta.url)));
const env = {
  timeZone: 'Europe/Berlin',
  rotationPolicies: [{ name: 'db', paths: ['**/rotate-role/*'], operations: ['update'], maxAgeMs: null }],
};
const newPipeline = (signals: string[]) =>
  new Pipeline({
    detectors,
    env,
    tickMs: 10_000,
    observeSignal: (s: Signal) =>
      signals.push(
        `${s.detector}|${s.groupKey}|${s.at}|${s.score}|${Boolean(s.weak)}|${Boolean(s.clear)}|${s.summary}`,
      ),
  });

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const failedLogin = (user: string, from: string) => ({
  operation: 'update',
  path: `auth/userpass/login/${user}`,
  mount_point: 'auth/userpass/',
  mount_type: 'userpass',
  outcome: 'invalid_credentials',
  remote_address: from,
});

function traffic(seed: number, n: number): AccessEvent[] {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const events: AccessEvent[] = [];
  let t = Date.parse('2026-01-05T00:00:00Z');
  let burst: { left: number; make: () => Record<string, unknown> } | null = null;
  for (let i = 0; i < n; i++) {
    if (burst) {
      // Attack episodes: many events seconds apart, so the stateful detectors fire too.
      t += 500 + Math.floor(r() * 3000);
      events.push(eventFromSpec(burst.make(), t, i));
      if (--burst.left === 0) burst = null;
      continue;
    }
    if (r() < 0.004) {
      const who = Math.floor(r() * 12);
      const identity = { entity_id: `e-${who}`, display_name: 'approle', policies: ['default'] };
      const attacker = `198.51.100.${Math.floor(r() * 200)}`;
      const episodes: Array<() => Record<string, unknown>> = [
        // Brute force on one account, spraying from one address, credential stuffing from many.
        () => failedLogin('alice', attacker),
        () => failedLogin(`u${Math.floor(r() * 500)}`, attacker),
        () => failedLogin(`u${Math.floor(r() * 500)}`, `198.51.100.${Math.floor(r() * 200)}`),
        () => ({
          operation: 'list',
          path: `secret/metadata/x${Math.floor(r() * 5000)}/`,
          identity,
          remote_address: attacker,
        }),
        () => ({
          operation: 'read',
          path: `secret/data/other-${Math.floor(r() * 5000)}/k`,
          identity,
          remote_address: attacker,
        }),
        () => ({
          operation: 'read',
          path: `secret/data/team-${Math.floor(r() * 12)}/k`,
          outcome: 'denied',
          identity,
          remote_address: attacker,
        }),
        () => ({
          operation: 'update',
          path: 'auth/token/create',
          mount_type: 'token',
          identity,
          remote_address: attacker,
        }),
      ];
      burst = { left: 20 + Math.floor(r() * 100), make: pick(episodes) };
      continue;
    }
    // Mostly seconds apart, sometimes a long gap (silence, days passing).
    t += r() < 0.002 ? 3 * 3_600_000 : Math.floor(r() * 120_000);
    const who = Math.floor(r() * 12);
    const identity = {
      entity_id: `e-${who}`,
      display_name: who % 4 === 0 ? `userpass-u${who}` : 'approle',
      policies: ['default'],
    };
    const kind = r();
    let spec: Record<string, unknown>;
    if (kind < 0.08) {
      const user = pick(['alice', 'bob', 'carol', 'dave', `u${Math.floor(r() * 40)}`]);
      spec = {
        operation: 'update',
        path: `auth/userpass/login/${user}`,
        mount_point: 'auth/userpass/',
        mount_type: 'userpass',
        outcome: r() < 0.7 ? 'invalid_credentials' : 'success',
        remote_address: `203.0.113.${Math.floor(r() * 8)}`,
        ...(r() < 0.3 ? { identity } : {}),
      };
    } else if (kind < 0.12) {
      spec = {
        operation: 'read',
        path: `secret/data/team-${Math.floor(r() * 9)}/x`,
        outcome: 'denied',
        identity,
        remote_address: '10.0.0.1',
      };
    } else if (kind < 0.15) {
      spec = {
        operation: 'read',
        path: 'secret/data/a',
        outcome: 'invalid_token',
        remote_address: `198.51.100.${Math.floor(r() * 3)}`,
      };
    } else if (kind < 0.2) {
      spec = {
        operation: 'list',
        path: `secret/metadata/t${Math.floor(r() * 60)}/`,
        identity,
        remote_address: `10.1.${who}.5`,
      };
    } else if (kind < 0.23) {
      spec = {
        operation: 'update',
        path: 'auth/token/create',
        mount_type: 'token',
        identity,
        remote_address: `10.1.${who}.5`,
      };
    } else if (kind < 0.25) {
      spec = {
        operation: 'update',
        path: pick(['sys/policies/acl/p', 'sys/leases/revoke-prefix/db', 'sys/audit/file', 'sys/mounts/kv']),
        identity,
        remote_address: `10.1.${who}.5`,
      };
    } else if (kind < 0.27) {
      spec = {
        operation: 'update',
        path: `database/rotate-role/r${who % 3}`,
        identity,
        remote_address: `10.1.${who}.5`,
        ...(r() < 0.2 ? { outcome: 'error' } : {}),
      };
    } else {
      const network = r() < 0.02 ? `192.0.2.${Math.floor(r() * 9)}` : `10.1.${who}.${Math.floor(r() * 200)}`;
      spec = {
        operation: 'read',
        path: `secret/data/team-${who}/k${Math.floor(r() * (r() < 0.05 ? 400 : 6))}`,
        identity,
        remote_address: network,
      };
    }
    events.push(eventFromSpec(spec, t, i));
  }
  return events;
}

describe('analyzer state across a checkpoint', () => {
  it.each([1, 2, 3, 4])(
    'seed %i: an interrupted run emits exactly what an uninterrupted one does',
    (seed) => {
      const events = traffic(seed, 6000);
      const whole: string[] = [];
      const a = newPipeline(whole);
      for (const e of events) a.processEvent(e, emptyOutput());
      a.advanceTo((events.at(-1) as AccessEvent).time + 86_400_000, emptyOutput());

      const parts: string[] = [];
      const cut = 1000 + Math.floor(rng(seed * 7)() * 4000);
      const b1 = newPipeline(parts);
      for (const e of events.slice(0, cut)) b1.processEvent(e, emptyOutput());
      const b2 = newPipeline(parts);
      b2.restore(deserialize(serialize(b1.snapshot())));
      for (const e of events.slice(cut)) b2.processEvent(e, emptyOutput());
      b2.advanceTo((events.at(-1) as AccessEvent).time + 86_400_000, emptyOutput());

      expect(whole.length).toBeGreaterThan(20);
      expect(new Set(whole.map((s) => s.split('|')[0])).size).toBeGreaterThan(10);
      expect(parts).toEqual(whole);
    },
  );
});
