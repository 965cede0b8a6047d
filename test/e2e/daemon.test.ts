import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  killAll,
  metricSum,
  readTransitions as lines,
  ROOT,
  startDaemon,
  waitFor,
  waitForStart,
} from '../support/daemon-process.js';
import { FakePagerDuty } from '../support/fake-pagerduty.js';

/**
 * The `vigil` command as a user runs it (compiled JavaScript, plain Node): the daemon, a Vault line
 * on its socket, a crash with SIGKILL and a restart. `npm test` builds dist/ first.
 */
const FIXTURE = join(ROOT, 'test/fixtures/audit/vault-1.18.jsonl');

afterEach(killAll);

function start(configPath: string, env: NodeJS.ProcessEnv = {}) {
  const d = startDaemon(configPath, env);
  return { child: d.child, log: d.output, exited: d.exited, started: () => waitForStart(d) };
}

describe('vigil run', () => {
  it('alerts on a root-token request sent to the socket, and stops cleanly on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-e2e-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const config = join(dir, 'vigil.yaml');
    writeFileSync(
      config,
      [
        `state: { dir: ${dir}/state, snapshot_interval: 1s }`,
        `sources: { file: { enabled: false }, socket: { enabled: true, port: ${port} } }`,
        `outputs: { alert_log: { path: ${dir}/alerts.ndjson }, console: always }`,
        `dead_letter: { path: ${dir}/dead.ndjson }`,
        `http: { enabled: true, port: ${port + 1} }`,
        `pipeline: { idle_advance_after: 1s }`,
        `log: { pretty: never }`,
      ].join('\n'),
    );
    const { child, log, exited, started } = start(config);
    await started();
    const rootRead = readFileSync(FIXTURE, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"sys/mounts"'));
    expect(rootRead).toHaveLength(2);
    await new Promise<void>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () =>
        s.end(rootRead.join('\n') + '\n', () => resolve()),
      );
      s.once('error', reject);
    });
    const opened = await waitFor('the alert', () =>
      lines(join(dir, 'alerts.ndjson')).find((t) => t.action === 'open'),
    );
    expect(opened.alert.detector).toBe('root-token-used');
    expect(log()).toMatch(/HIGH\s+OPEN\s+Root token used/);
    // The stream is silent now and the idle clock moves event time along with the wall clock; the
    // lag still counts from the newest audit entry (March 2026), so a silent feed shows.
    const scrape = async () => (await fetch(`http://127.0.0.1:${port + 1}/metrics`)).text();
    const clockRuns = async () =>
      metricSum(await scrape(), 'vigil_jobs_total', /(?=.*job="clock")(?=.*result="ok")/);
    const runs = await clockRuns();
    const silentSince = Date.now();
    await waitFor('the idle clock to run three times', async () =>
      Date.now() - silentSince > 2000 && (await clockRuns()) >= runs + 3 ? true : undefined,
    );
    const lag = metricSum(await scrape(), 'vigil_event_time_lag_seconds');
    const entryTime = Date.parse((JSON.parse(rootRead[1]!) as { time: string }).time.slice(0, 23) + 'Z');
    expect(lag).toBeGreaterThanOrEqual((Date.now() - entryTime) / 1000 - 60);
    // The other families say what happened too.
    const text = await scrape();
    expect(metricSum(text, 'vigil_events_total', /source="socket"/)).toBe(1);
    expect(metricSum(text, 'vigil_signals_total', /detector="root-token-used"/)).toBeGreaterThanOrEqual(1);
    expect(
      metricSum(
        text,
        'vigil_alerts_total',
        /(?=.*action="open")(?=.*severity="high")(?=.*detector="root-token-used")/,
      ),
    ).toBe(1);
    expect(metricSum(text, 'vigil_state_bytes')).toBeGreaterThan(0);
    expect(metricSum(text, 'vigil_last_checkpoint_timestamp_seconds')).toBeGreaterThan(entryTime / 1000);
    expect(text).toMatch(/^vigil_checkpoint_failures_total 0$/m);
    expect(metricSum(text, 'vigil_jobs_total', /(?=.*job="snapshot")(?=.*result="ok")/)).toBeGreaterThan(0);
    expect(metricSum(text, 'vigil_ready')).toBe(1);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(join(dir, 'state/checkpoint.v8'))).toBe(true);
  }, 60_000);

  it('exits non-zero with a one-line reason on a broken configuration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-e2e-'));
    const config = join(dir, 'bad.yaml');
    writeFileSync(config, 'sources:\n  socket:\n    port: "ninety"\n');
    const { log, exited } = start(config);
    expect(await exited).toBe(3);
    expect(log()).toMatch(/bad\.yaml:3:\d+: sources\.socket\.port/);
  }, 30_000);

  it('after SIGKILL and a restart, replays the stream without opening or paging anything twice', async () => {
    const pd = await FakePagerDuty.start();
    try {
      const dir = mkdtempSync(join(tmpdir(), 'vigil-crash-'));
      const audit = join(dir, 'audit.log');
      writeFileSync(audit, readFileSync(FIXTURE));
      const config = join(dir, 'vigil.yaml');
      const httpPort = 20000 + Math.floor(Math.random() * 20000);
      writeFileSync(
        config,
        [
          // No checkpoint before the crash: the restart re-reads the whole file from the start.
          `state: { dir: ${dir}/state, snapshot_interval: 1h }`,
          `sources: { socket: { enabled: false }, file: { enabled: true, path: ${audit}, start_at: beginning } }`,
          `outputs: { alert_log: { path: ${dir}/alerts.ndjson }, console: never }`,
          `dead_letter: { path: ${dir}/dead.ndjson }`,
          `http: { enabled: true, port: ${httpPort} }`,
          `log: { pretty: never }`,
          `notify:`,
          `  receivers: [{ type: pagerduty, name: pager, url: "${pd.url}" }]`,
          `  route: { receivers: [pager] }`,
        ].join('\n'),
      );
      const env = { VIGIL_PAGERDUTY_ROUTING_KEY: 'R0UTINGKEYFORTESTS0000000000000' };
      const first = start(config, env);
      // Ten rule detectors fire on the fixture (nine high-risk rules and a failed rotation).
      await waitFor('ten pages', () => pd.accepted().length >= 10 && true);
      // A kill between PagerDuty's answer and the outbox's `done` record sends that page again after
      // the restart (same dedup key: PagerDuty keeps one incident). This test is about the replay
      // of the stream, so it kills once the deliveries are on disk.
      const outboxLog = join(dir, 'state', 'outbox', 'outbox.log');
      await waitFor('ten deliveries recorded', () =>
        existsSync(outboxLog)
          ? (readFileSync(outboxLog, 'utf8').match(/"t":"done"/g)?.length ?? 0) >= 10
          : false,
      );
      first.child.kill('SIGKILL');
      await first.exited;
      const before = lines(join(dir, 'alerts.ndjson'));
      expect(before.filter((t) => t.action === 'open')).toHaveLength(10);

      const second = start(config, env);
      await second.started();
      // It re-reads the whole file: the 30 completed accesses of the fixture are processed again.
      let metrics = '';
      await waitFor('the file to be processed again', () => {
        void fetch(`http://127.0.0.1:${httpPort}/metrics`)
          .then((r) => r.text())
          .then(
            (t) => (metrics = t),
            () => undefined,
          );
        const counts = [...metrics.matchAll(/vigil_events_total\{source="file",outcome="\w+"\} (\d+)/g)];
        return counts.reduce((sum, m) => sum + Number(m[1]), 0) >= 30;
      });
      await new Promise((r) => setTimeout(r, 1000));
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);

      const after = lines(join(dir, 'alerts.ndjson'));
      const opens = after.filter((t) => t.action === 'open').map((t) => t.alert.id);
      expect(new Set(opens).size).toBe(opens.length);
      expect(opens).toHaveLength(10);
      const triggers = pd.accepted().filter((c) => c.body?.event_action === 'trigger');
      const keys = triggers.map((c) => String(c.body?.dedup_key));
      expect(keys).toHaveLength(10);
      expect(new Set(keys).size).toBe(10);
      // The routing key is sent to PagerDuty and written nowhere else.
      expect(readFileSync(join(dir, 'alerts.ndjson'), 'utf8')).not.toContain(env.VIGIL_PAGERDUTY_ROUTING_KEY);
      expect(second.log() + first.log()).not.toContain(env.VIGIL_PAGERDUTY_ROUTING_KEY);
    } finally {
      await pd.close();
    }
  }, 90_000);
});

describe('vigil run reloads on SIGHUP', () => {
  it('applies new detectors and maintenance windows keeping its state, and rejects a broken configuration keeping the running one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-hup-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const config = join(dir, 'vigil.yaml');
    const base = [
      `state: { dir: ${dir}/state }`,
      `sources: { file: { enabled: false }, socket: { enabled: true, port: ${port} } }`,
      `outputs: { alert_log: { path: ${dir}/alerts.ndjson }, console: never }`,
      `dead_letter: { path: ${dir}/dead.ndjson }`,
      `http: { enabled: false }`,
      `log: { pretty: never }`,
    ];
    writeFileSync(config, base.join('\n'));
    const { child, log, exited, started } = start(config);
    await started();
    const fixture = readFileSync(FIXTURE, 'utf8').split('\n');
    // Lines on one connection are processed in order.
    const send = (...needles: string[]) =>
      new Promise<void>((resolve, reject) => {
        const picked = needles.flatMap((n) => fixture.filter((l) => l.includes(n)));
        const s = connect({ host: '127.0.0.1', port }, () =>
          s.end(picked.join('\n') + '\n', () => resolve()),
        );
        s.once('error', reject);
      });
    const opens = () => lines(join(dir, 'alerts.ndjson')).filter((t) => t.action === 'open');
    const opened = () => opens().map((t) => t.alert.detector);

    await send('"sys/mounts"');
    await waitFor('the root-token alert', () => opened().includes('root-token-used'));

    // Disable the raft-snapshot rule, add a maintenance window over the fixture's hour, reload.
    const tuned = [
      ...base,
      'detectors: { overrides: { raft-snapshot-taken: { enabled: false } } }',
      "maintenance: [{ name: upgrade, cron: '0 14 * * *', duration: 1h }]",
    ];
    writeFileSync(config, tuned.join('\n'));
    child.kill('SIGHUP');
    await waitFor('reload', () => log().includes('configuration reloaded'));
    await send('"sys/storage/raft/snapshot"', '"sys/mounts"', '"sys/audit/file"');
    const audit = await waitFor('the audit alert', () =>
      opens().find((t) => t.alert.detector === 'audit-device-disabled'),
    );
    expect(opened()).not.toContain('raft-snapshot-taken');
    // Maintenance applies at once; the open root-token alert was kept (the same root use again is
    // that alert, not a new one).
    expect(audit.alert.silencedBy).toBe('maintenance:upgrade');
    expect(opened().filter((d) => d === 'root-token-used')).toHaveLength(1);

    // A broken file is rejected; the running configuration stays.
    writeFileSync(
      config,
      [...tuned, 'detectors: { overrides: { no-such-detector-key: { enabld: true } } }'].join('\n'),
    );
    child.kill('SIGHUP');
    await waitFor('rejection', () => log().includes('configuration reload rejected'));
    await send('"sys/storage/raft/snapshot"', '"sys/generate-root/attempt"');
    await waitFor('the generate-root alert', () => opened().includes('generate-root-attempt'));
    expect(opened()).not.toContain('raft-snapshot-taken');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);

  it('survives a SIGHUP while it is starting, and reloads once it runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-hup-start-'));
    const port = 20000 + Math.floor(Math.random() * 20000);
    const config = join(dir, 'vigil.yaml');
    writeFileSync(
      config,
      [
        `state: { dir: ${dir}/state }`,
        `sources: { file: { enabled: false }, socket: { enabled: true, port: ${port} } }`,
        `outputs: { alert_log: { path: ${dir}/alerts.ndjson }, console: never }`,
        `http: { enabled: false }`,
        `log: { pretty: never }`,
      ].join('\n'),
    );
    const { child, log, exited, started } = start(config);
    await waitFor('the configuration to load', () => log().includes('configuration loaded'), 30_000);
    child.kill('SIGHUP');
    await started();
    await waitFor('the reload', () => log().includes('configuration reloaded'));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);
});
