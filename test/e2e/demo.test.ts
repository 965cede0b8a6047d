import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from '../support/daemon-process.js';
import { FakeSlack } from '../support/fake-slack.js';

/** `vigil demo` as the README tells a newcomer to run it, with and without Slack credentials. */
function demo(config: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(process.execPath, [BIN, 'demo', '--speed', '20', '--config', config], {
      env: {
        ...process.env,
        VIGIL_ENV: 'development',
        VIGIL_SLACK_TOKEN: '',
        VIGIL_SLACK_CHANNEL: '',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

describe('vigil demo', () => {
  it('posts its alerts to the Slack channel from the environment, and reaches no Slack without a token', async () => {
    const slack = await FakeSlack.start({ token: 'xoxb-demo-test-token-0000' });
    try {
      const dir = mkdtempSync(join(tmpdir(), 'vigil-demo-'));
      // The default receiver, pointed at a local Slack: channel and token come from the environment.
      const config = join(dir, 'demo.yaml');
      writeFileSync(
        config,
        `notify:\n  receivers:\n    - { type: slack, name: slack, channel: "\${VIGIL_SLACK_CHANNEL:-}", api_url: "${slack.url}" }\n`,
      );
      const without = await demo(config, {});
      expect(without.code).toBe(0);
      expect(Number(/(\d+) alerts opened/.exec(without.out)?.[1])).toBeGreaterThanOrEqual(8);
      expect(slack.calls).toHaveLength(0);

      const withSlack = await demo(config, { VIGIL_SLACK_TOKEN: slack.token, VIGIL_SLACK_CHANNEL: 'alerts' });
      expect(withSlack.code).toBe(0);
      expect(Number(/(\d+) alerts opened/.exec(withSlack.out)?.[1])).toBeGreaterThanOrEqual(8);
      const posted = slack.callsOf('chat.postMessage').filter((c) => c.status === 200);
      expect(posted.length).toBeGreaterThanOrEqual(8);
      // First messages name the channel; replies in threads use the id Slack returned for it.
      expect(posted.every((c) => ['alerts', 'C0ALERTS'].includes(String(c.body['channel'])))).toBe(true);
      expect([...slack.messages.values()].some((m) => m.text.includes('Audit device disabled'))).toBe(true);
    } finally {
      await slack.close();
    }
  }, 120_000);
});
