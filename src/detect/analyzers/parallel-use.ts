import { z } from 'zod';
import type { AccessEvent } from '../../audit/event.js';
import { duration, formatDuration } from '../../util/duration.js';
import type { Analyzer } from '../analyzer.js';
import { buildSignal, fieldValue, GroupTable, who } from './common.js';

const params = z.strictObject({
  /** Both networks used by the token within this time of each other is "at once". */
  window: duration.default(15 * 60_000),
  /** Uses from its first network before another appears, so that the token has a home to leave. */
  min_home_events: z.number().int().min(1).default(3),
  /** A network unused by every token of the identity this long is new to it again. */
  network_memory: duration.default(30 * 86_400_000),
  /** Networks remembered per identity (least recently used forgotten first). */
  network_cap: z.number().int().min(1).default(32),
  /** History the identity needs (since Vigil first saw it) before a network can be new to it. */
  warmup: duration.default(86_400_000),
  /** A token unused this long is forgotten (its next use starts a new home). */
  token_idle: duration.default(3_600_000),
  /**
   * Tokens followed at most, across identities; the least recently used is forgotten first. CI jobs
   * and short-lived logins make many tokens an hour; this bounds the memory they take.
   */
  token_cap: z.number().int().min(1).default(100_000),
  /** Score of a finding (a rule: two parties hold one token). */
  score: z.number().positive().default(9),
});
type Params = z.infer<typeof params>;

/** Where one token has been used: its first network, and the latest other one. */
interface TokenUse {
  home: string;
  homeLast: number;
  homeEvents: number;
  other?: string;
  otherAddress?: string;
  otherFirst?: number;
  otherLast?: number;
  otherEvents?: number;
  /** Uses from home before the other network appeared. */
  homeBefore?: number;
  /** The other network was new to the identity when the token first used it. */
  otherNew?: boolean;
  signalled?: boolean;
  lastAt: number;
}

/** Networks any token of an identity used, with when they were last used. */
interface IdentityNetworks {
  networks: Record<string, number>;
  lastAt: number;
}

/**
 * One token used from two networks at once: a network new to the identity appears while the token
 * is still being used from the network it has worked from, and the two keep being used side by side.
 * That is a copy, not a move: a redeploy, a VPN reconnect or a new node stops using the old network,
 * and a workload that always spreads over several networks has them all known. Needs no baseline
 * beyond the identity's recent networks, so it fires within minutes of a stolen token's first use
 * alongside its owner, where a first-seen network alone scores low for a quiet identity.
 */
export const parallelUseAnalyzer: Analyzer<Params> = {
  type: 'parallel_use',
  params,
  create(detector, p, env) {
    const tokens = new GroupTable<TokenUse>(p.token_idle, Math.min(3_600_000, p.token_idle));
    const identities = new GroupTable<IdentityNetworks>(p.network_memory);

    const knownTo = (id: IdentityNetworks, network: string, t: number): boolean => {
      const last = id.networks[network];
      return last !== undefined && t - last <= p.network_memory;
    };
    const remember = (id: IdentityNetworks, network: string, t: number): void => {
      const added = id.networks[network] === undefined;
      id.networks[network] = t;
      // Only a new network can exceed the cap: the common case (a known one) costs one store.
      if (!added) return;
      const names = Object.keys(id.networks);
      if (names.length <= p.network_cap) return;
      let oldest = names[0] as string;
      for (const n of names) if ((id.networks[n] as number) < (id.networks[oldest] as number)) oldest = n;
      delete id.networks[oldest];
    };

    return {
      onEvent(event: AccessEvent, groupKey, emit) {
        const ref = event.identity.tokenRef;
        const network = fieldValue(event, 'source_network', 1);
        if (!ref || !network) return;
        const t = event.time;
        let id = identities.get(groupKey);
        if (!id) {
          id = { networks: {}, lastAt: t };
          identities.set(groupKey, id);
        }
        const since = env.identities?.firstSeen(event.identity.key) ?? t;
        const settled = t - since >= p.warmup;
        const isNew = settled && !knownTo(id, network, t);
        remember(id, network, t);
        id.lastAt = t;

        const key = `${groupKey}\u0000${ref}`;
        const u = tokens.get(key);
        // Re-inserted on every use, so the table's order is least recently used first.
        tokens.map.delete(key);
        if (!u) {
          tokens.set(key, { home: network, homeLast: t, homeEvents: 1, lastAt: t });
          if (tokens.size > p.token_cap) tokens.map.delete(tokens.map.keys().next().value as string);
          return;
        }
        tokens.set(key, u);
        u.lastAt = t;
        if (network === u.home) {
          u.homeLast = t;
          u.homeEvents++;
        } else {
          if (network !== u.other) {
            // The home went quiet for a whole window while the other was used: that was a move.
            if (u.other !== undefined && u.otherLast !== undefined && t - u.homeLast > p.window) {
              u.home = u.other;
              u.homeLast = u.otherLast;
              u.homeEvents = u.otherEvents ?? 1;
            }
            u.other = network;
            u.otherAddress = event.remoteAddress;
            u.otherFirst = t;
            u.otherEvents = 0;
            u.homeBefore = u.homeEvents;
            u.otherNew = isNew;
            u.signalled = false;
          }
          u.otherLast = t;
          u.otherEvents = (u.otherEvents ?? 0) + 1;
        }
        if (u.signalled || u.other === undefined || u.otherFirst === undefined || u.otherLast === undefined)
          return;
        const parallel =
          u.otherNew === true &&
          (u.homeBefore ?? 0) >= p.min_home_events &&
          u.homeLast > u.otherFirst &&
          Math.abs(u.homeLast - u.otherLast) <= p.window;
        if (!parallel) return;
        u.signalled = true;
        const overlap = formatDuration(Math.max(1000, Math.max(u.homeLast, u.otherLast) - u.otherFirst));
        emit(
          buildSignal(detector, event, groupKey, {
            score: p.score,
            strength: 'alert',
            what:
              `${who(event)}'s token was used from ${u.other}, a network new to this identity, while it was ` +
              `still in use from ${u.home}, where it had worked before (${u.homeBefore} requests); both ` +
              `networks used it within ${overlap}: two parties hold the same token`,
            headline: `one token used from ${u.home} and ${u.other} at once`,
            eventCount: (u.otherEvents ?? 0) + 1,
            firstEventAt: u.otherFirst,
            ...(u.otherAddress ? { sources: [u.otherAddress] } : {}),
            evidence: {
              observed: u.other,
              expected: `only ${u.home}, the token's network`,
              window: formatDuration(p.window),
              homeNetwork: u.home,
              newNetwork: u.other,
              requestsFromHome: u.homeEvents,
              requestsFromNewNetwork: u.otherEvents ?? 0,
              overlap,
            },
          }),
        );
      },
      onTick(now) {
        tokens.sweep(now);
        identities.sweep(now, (id, at) => {
          for (const [n, last] of Object.entries(id.networks))
            if (at - last > p.network_memory) delete id.networks[n];
        });
      },
      size: () => identities.size,
      snapshot: () => ({
        tokens: tokens.snapshot((u) => u),
        identities: identities.snapshot((i) => i),
      }),
      restore(state) {
        const s = state as {
          tokens: { sweep: number; groups: [string, TokenUse][] };
          identities: { sweep: number; groups: [string, IdentityNetworks][] };
        };
        tokens.restore(s.tokens, (u) => ({ ...u }));
        identities.restore(s.identities, (i) => ({ networks: { ...i.networks }, lastAt: i.lastAt }));
      },
    };
  },
};
