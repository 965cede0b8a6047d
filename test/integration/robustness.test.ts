import { execFileSync, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize } from 'node:v8';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/simulate/generate.js';
import {
  BIN,
  freePort,
  httpGet,
  killAll,
  metricSum,
  readTransitions,
  startDaemon,
  waitFor,
  waitForStart,
  writeConfig,
} from '../support/daemon-process.js';
import { FakePagerDuty } from '../support/fake-pagerduty.js';
import { FakeSlack } from '../support/fake-slack.js';

afterEach(killAll);

/**
 * For a failed paging check: every PagerDuty call and every alert transition of the fingerprints
 * paged a different number of times than they were opened, in order, so a failure in CI explains itself.
 */
function pagingStory(alertLog: string, pd: FakePagerDuty, expected: string[]): string {
  const count = (keys: string[]) =>
    keys.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());
  const want = count(expected);
  const got = count(pd.incidents.map((i) => i.dedupKey));
  const odd = [...new Set([...want.keys(), ...got.keys()])].filter((k) => want.get(k) !== got.get(k));
  const transitions = readTransitions(alertLog);
  return odd
    .map((fp) => {
      const calls = pd.calls
        .filter((call) => call.body?.dedup_key === fp)
        .map(
          (call) =>
            `  pd ${call.status} ${String(call.body?.event_action)} ${String(call.body?.payload?.['timestamp'] ?? '')}`,
        );
      const alerts = transitions
        .filter((t) => t.alert.fingerprint === fp)
        .map(
          (t) =>
            `  alert ${t.alert.id}#${t.alert.seq} ${t.action} at ${t.at}` +
            `${t.alert.inhibitedBy ? ` inhibited by ${t.alert.inhibitedBy}` : ''}` +
            `${t.alert.silencedBy ? ` silenced by ${t.alert.silencedBy}` : ''}`,
        );
      return [`${fp}: opened ${want.get(fp) ?? 0}, incidents ${got.get(fp) ?? 0}`, ...alerts, ...calls].join(
        '\n',
      );
    })
    .join('\n');
}

/**
 * Faults a daemon must survive: kill -9 at random points, receivers down for a while, a state
 * directory that cannot be written. The reference for "nothing lost, nothing twice" is `vigil
 * replay` of the same log with the same configuration.
 */
describe('robustness of the daemon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-robust-'));
  const log = join(dir, 'audit.jsonl');
  let expectedOpens: string[] = [];
  let expectedEvents = 0;
  // Two copies of a 140 MB log: not left behind in /tmp.
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeAll(async () => {
    // Three days, a small population, every attack kind once: rules, guardrails and baselines fire.
    await generate({
      out: log,
      seed: 5,
      days: 3,
      identities: 25,
      perKind: 1,
      warmupDays: 1,
      start: Date.parse('2026-01-05T00:00:00Z'),
    });
    const alerts = join(dir, 'reference.ndjson');
    const r = spawnSync(
      process.execPath,
      [BIN, 'replay', log, '-o', alerts, '--json', '--state-dir', join(dir, 'reference-state')],
      {
        env: { ...process.env, VIGIL_ENV: 'development' },
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(0);
    expectedEvents = (JSON.parse(r.stdout) as { counters: { events: number } }).counters.events;
    expectedOpens = readTransitions(alerts)
      .filter((t) => t.action === 'open')
      .map((t) => t.alert.id);
    expect(expectedOpens.length).toBeGreaterThan(3);
  }, 180_000);

  function config(name: string, extra: Record<string, unknown> = {}) {
    const d = join(dir, name);
    return {
      dir: d,
      alerts: join(d, 'alerts.ndjson'),
      file: writeConfig(join(dir, `${name}.yaml`), {
        state: { dir: join(d, 'state'), snapshot_interval: '1s' },
        sources: { socket: { enabled: false }, file: { enabled: true, path: log, start_at: 'beginning' } },
        outputs: { alert_log: { path: join(d, 'alerts.ndjson') }, console: 'never' },
        dead_letter: { path: join(d, 'dead.ndjson') },
        log: { pretty: 'never' },
        // The reference replay stops at the log's last event; a daemon idle after it would let wall
        // time stand in for event time and (rightly) report the silence and overdue rotations.
        pipeline: { idle_advance_after: '7d' },
        ...extra,
      }),
    };
  }

  it('loses nothing and opens or pages nothing twice across ten SIGKILLs at random points', async () => {
    const pd = await FakePagerDuty.start();
    // The audit log grows while the daemon is killed and restarted (5,000 lines/s, about 17 s in
    // all), so a kill lands mid-processing, not on a daemon that has caught up with a static file.
    const stream = join(dir, 'crash-audit.jsonl');
    const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    writeFileSync(stream, '');
    let written = 0;
    const appender = setInterval(() => {
      const n = Math.min(250, lines.length - written);
      if (n <= 0) return;
      appendFileSync(stream, lines.slice(written, written + n).join('\n') + '\n');
      written += n;
    }, 50);
    try {
      const port = freePort();
      const c = config('crash', {
        sources: { socket: { enabled: false }, file: { enabled: true, path: stream, start_at: 'beginning' } },
        http: { enabled: true, port },
        notify: {
          receivers: [{ type: 'pagerduty', name: 'pager', url: pd.url }],
          route: { receivers: ['pager'] },
        },
      });
      const env = { VIGIL_PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0FTHECRASHTEST000000' };
      const phases: string[] = [];
      for (let trial = 0; trial < 10; trial++) {
        const d = startDaemon(c.file, env);
        if (trial % 2 === 0) {
          // Even trials: 0.1–1 s after spawn, mostly during start-up (lock, restore, journal re-offer).
          await new Promise((r) => setTimeout(r, 100 + Math.floor(Math.random() * 900)));
        } else {
          // Odd trials: 0.2–2.5 s into processing: before, between or during checkpoints.
          await waitForStart(d);
          await new Promise((r) => setTimeout(r, 200 + Math.floor(Math.random() * 2300)));
        }
        phases.push(d.output().includes('vigil is running') ? 'running' : 'starting');
        d.child.kill('SIGKILL');
        await d.exited;
      }
      console.log(
        `SIGKILL trials hit: ${phases.join(', ')}; ${written} of ${lines.length} lines written by then`,
      );
      await waitFor('the whole log to be written', () => written >= lines.length, 60_000);
      // Let the last run finish the file (its checkpoint counts every access), then stop it cleanly.
      const last = startDaemon(c.file, env);
      const checkpointed = () => {
        const cp = join(c.dir, 'state', 'checkpoint.v8');
        if (!statSync(cp, { throwIfNoEntry: false })) return 0;
        return (deserialize(readFileSync(cp)) as { pipeline: { counters: { events: number } } }).pipeline
          .counters.events;
      };
      await waitFor(
        'the whole log to be processed and checkpointed',
        () => checkpointed() >= expectedEvents,
        120_000,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}: ${checkpointed()} of ${expectedEvents}; output ends:\n${last.output().slice(-3000)}`,
        );
      });
      last.child.kill('SIGTERM');
      expect(await last.exited).toBe(0);

      const opens = readTransitions(c.alerts)
        .filter((t) => t.action === 'open')
        .map((t) => t.alert.id);
      // Every alert of the reference, each opened exactly once.
      expect(opens.length).toBe(new Set(opens).size);
      expect(new Set(opens)).toEqual(new Set(expectedOpens));
      // Every access counted exactly once in the restored state (positions and state move together).
      const checkpoint = deserialize(readFileSync(join(c.dir, 'state', 'checkpoint.v8'))) as {
        pipeline: { counters: { events: number } };
      };
      expect(checkpoint.pipeline.counters.events).toBe(expectedEvents);
      // No alert paged twice: one PagerDuty incident per opened alert (inhibited ones are not paged).
      const fingerprints = readTransitions(c.alerts)
        .filter((t) => t.action === 'open' && !t.alert.inhibitedBy)
        .map((t) => t.alert.fingerprint);
      await waitFor('pages to drain', () => pd.incidents.length >= fingerprints.length, 30_000).catch(
        () => undefined,
      );
      const incidentKeys = pd.incidents.map((i) => i.dedupKey);
      expect(incidentKeys.sort(), pagingStory(c.alerts, pd, fingerprints)).toEqual(fingerprints.sort());
    } finally {
      clearInterval(appender);
      await pd.close();
    }
  }, 300_000);

  it('keeps detecting while Slack and PagerDuty are down and the state directory and alert log are unwritable, reports it, and catches up', async () => {
    const chattr = spawnSync('chattr', ['--version']);
    expect(
      chattr.error,
      'chattr (e2fsprogs) is needed to make a directory unwritable for root',
    ).toBeUndefined();
    const slack = await FakeSlack.start({ token: 'xoxb-outage-test-token-000' });
    const pd = await FakePagerDuty.start();
    try {
      const port = freePort();
      // The stream grows during the fault: the first 40 % is there at the start, the rest (where the
      // attacks are, after the warm-up day) is appended while nothing can be delivered or written.
      const stream = join(dir, 'outage-audit.jsonl');
      const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
      const split = Math.floor(lines.length * 0.4);
      writeFileSync(stream, lines.slice(0, split).join('\n') + '\n');
      const c = config('outage', {
        sources: { socket: { enabled: false }, file: { enabled: true, path: stream, start_at: 'beginning' } },
        http: { enabled: true, port },
        notify: {
          receivers: [
            { type: 'slack', name: 'chat', channel: 'alerts', api_url: slack.url },
            { type: 'pagerduty', name: 'pager', url: pd.url },
          ],
          route: { receivers: ['chat', 'pager'] },
          stuck_after: '2s',
        },
      });
      const env = {
        VIGIL_SLACK_TOKEN: slack.token,
        VIGIL_PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0FTHEOUTAGETEST00000',
      };
      // Both receivers answer every call with an error for now.
      slack.failNext(1_000_000, { kind: 'http', status: 503 });
      pd.failNext(1_000_000, { kind: 'http', status: 500 });
      const d = startDaemon(c.file, env);
      await waitForStart(d);
      const stateDir = join(c.dir, 'state');
      await waitFor('a first checkpoint', () => readdirSync(stateDir).includes('checkpoint.v8'));
      // Every file in it too (checkpoint, transition journal, outbox log), and the alert log.
      execFileSync('chattr', ['-R', '+i', stateDir, c.alerts]);
      let openedBefore = 0;
      try {
        openedBefore = readTransitions(c.alerts).filter((t) => t.action === 'open').length;
        appendFileSync(stream, lines.slice(split).join('\n') + '\n');
        // Detection goes on: every alert of the reference is opened (the metrics say so, as the
        // alert log cannot be written) although nothing can be delivered or made durable.
        await waitFor(
          'every alert during the outage',
          async () => {
            const m = (await httpGet(port, '/metrics'))?.body;
            return (
              m !== undefined && metricSum(m, 'vigil_alerts_total', /action="open"/) >= expectedOpens.length
            );
          },
          120_000,
        );
        const ready = await waitFor(
          'readiness to report every fault',
          async () => {
            const r = await httpGet(port, '/readyz');
            if (!r || r.status !== 503) return undefined;
            const checks = (
              JSON.parse(r.body) as { checks: Record<string, { ok: boolean; detail?: string }> }
            ).checks;
            const state = checks['state']?.detail ?? '';
            return state.includes('last checkpoint failed') &&
              state.includes('journal not writable') &&
              state.includes('outbox not writable') &&
              checks['alert-log']?.ok === false &&
              checks['receiver:chat']?.ok === false &&
              checks['receiver:pager']?.ok === false &&
              checks['notifications']?.ok === false
              ? r
              : undefined;
          },
          30_000,
        );
        expect(JSON.parse(ready.body).checks.notifications.ok).toBe(false);
        expect(JSON.parse(ready.body).checks['receiver:chat'].detail).toMatch(
          /^failing for \d+ s \(.*503.*\); \d+ waiting$/,
        );
        const metrics = (await httpGet(port, '/metrics'))?.body ?? '';
        expect(metricSum(metrics, 'vigil_checkpoint_failures_total')).toBeGreaterThan(0);
        expect(metricSum(metrics, 'vigil_storage_write_failures_total', /store="journal"/)).toBeGreaterThan(
          0,
        );
        expect(metricSum(metrics, 'vigil_storage_write_failures_total', /store="outbox"/)).toBeGreaterThan(0);
        expect(metricSum(metrics, 'vigil_storage_write_failures_total', /store="alert-log"/)).toBeGreaterThan(
          0,
        );
        for (const receiver of ['chat', 'pager'])
          expect(
            metricSum(
              metrics,
              'vigil_notifications_total',
              new RegExp(`receiver="${receiver}".*result="retry"|result="retry".*receiver="${receiver}"`),
            ),
            receiver,
          ).toBeGreaterThan(0);
        expect(metricSum(metrics, 'vigil_outbox_depth')).toBeGreaterThan(0);
        const out = d.output();
        expect(out).toMatch(/could not write the state checkpoint|checkpoint held back/);
        expect(out).toMatch(/cannot write the alert transition journal/);
        expect(out).toMatch(/outbox: cannot write its log/);
        expect(out).toMatch(/cannot write the alert log/);
        expect(out).toMatch(/"receiver":"chat".*notification delivery failed/);
        expect(out).toMatch(/"receiver":"pager".*notification delivery failed/);
      } finally {
        execFileSync('chattr', ['-R', '-i', stateDir, c.alerts]);
      }
      // Alerts were opened from events that arrived during the fault, not only before it.
      expect(openedBefore).toBeLessThan(expectedOpens.length);
      slack.clearFaults();
      pd.clearFaults();
      await waitFor(
        'everything delivered and ready again',
        async () => {
          // Ready means nothing is stuck and the state directory is written again; the outbox may
          // still hold items being sent right now.
          const r = await httpGet(port, '/readyz');
          const m = (await httpGet(port, '/metrics'))?.body;
          return r?.status === 200 && m !== undefined && metricSum(m, 'vigil_outbox_depth') === 0;
        },
        120_000,
      );
      expect(d.output()).toMatch(/journal writable again/);
      expect(d.output()).toMatch(/outbox: log writable again/);
      d.child.kill('SIGTERM');
      expect(await d.exited).toBe(0);

      const transitions = readTransitions(c.alerts);
      const opened = transitions.filter((t) => t.action === 'open');
      expect(new Set(opened.map((t) => t.alert.id))).toEqual(new Set(expectedOpens));
      // Inhibited alerts are recorded but by design never notified.
      const notified = opened.filter((t) => !t.alert.inhibitedBy);
      expect(notified.length).toBeLessThan(opened.length);
      // One Slack message per alert: top-level for an incident's first alert, in its thread otherwise.
      const postedIds = () =>
        new Set(
          [...slack.messages.values()]
            .map((m) => /\b([0-9a-f]{20})\b/.exec(m.text + JSON.stringify(m.blocks))?.[1])
            .filter(Boolean),
        );
      for (const t of notified)
        expect(postedIds().has(t.alert.id), `alert ${t.alert.id} reached Slack`).toBe(true);
      // One PagerDuty incident per alert, none twice.
      const fingerprints = notified.map((t) => t.alert.fingerprint).sort();
      expect(pd.incidents.map((i) => i.dedupKey).sort(), pagingStory(c.alerts, pd, fingerprints)).toEqual(
        fingerprints,
      );

      // The logs rewritten after the fault are whole: a restart sends nothing again.
      const posts = slack.callsOf('chat.postMessage').filter((x) => x.status === 200).length;
      const pdCalls = pd.accepted().length;
      const again = startDaemon(c.file, env);
      await waitForStart(again);
      await new Promise((r) => setTimeout(r, 3000));
      again.child.kill('SIGTERM');
      expect(await again.exited).toBe(0);
      expect(slack.callsOf('chat.postMessage').filter((x) => x.status === 200)).toHaveLength(posts);
      expect(pd.accepted()).toHaveLength(pdCalls);
      expect(readTransitions(c.alerts)).toHaveLength(transitions.length);
    } finally {
      await slack.close();
      await pd.close();
    }
  }, 400_000);
});
