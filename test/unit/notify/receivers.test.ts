import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clearRegisteredSecrets, scrubText } from '../../../src/audit/secrets.js';
import { configSchema } from '../../../src/config/schema.js';
import { PagerDutyReceiver } from '../../../src/notify/pagerduty.js';
import { createReceivers } from '../../../src/notify/receivers.js';
import { SlackReceiver } from '../../../src/notify/slack.js';
import { WebhookReceiver } from '../../../src/notify/webhook.js';
import { FakeSlack } from '../../support/fake-slack.js';
import { captureLogger, makeAlert, memoryMap, notify, tempDir } from './helpers.js';

afterEach(() => clearRegisteredSecrets());

function receiversConfig(apiUrl = 'http://127.0.0.1:9/api/') {
  return configSchema.parse({
    notify: {
      receivers: [
        {
          type: 'slack',
          name: 'slack-oncall',
          channel: '#alerts',
          api_url: apiUrl,
          mention_on_critical: ['<!here>'],
        },
        { type: 'pagerduty', name: 'pd' },
        { type: 'webhook', name: 'soar', url: 'https://soar.example.com/hooks/vigil' },
      ],
    },
  }).notify.receivers;
}

describe('createReceivers', () => {
  it('creates nothing without credentials and names the missing variables (not values) in warnings', () => {
    const { logger, records } = captureLogger();
    const receivers = createReceivers(receiversConfig(), { env: {}, logger });
    expect(receivers).toEqual([]);
    const warnings = records().filter((r) => r['level'] === 40);
    expect(warnings.map((w) => w['env'])).toEqual([
      'VIGIL_SLACK_TOKEN',
      'VIGIL_PAGERDUTY_ROUTING_KEY',
      'VIGIL_WEBHOOK_SECRET',
    ]);
    expect(String(warnings[0]!['msg'])).toContain(
      'receiver "slack-oncall" disabled: environment variable VIGIL_SLACK_TOKEN',
    );
  });

  it('creates each receiver whose credential is set, registers the credentials with the scrubber', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const keyFile = join(dir, 'pd-key');
      writeFileSync(keyFile, 'pd-routing-key-from-file-0123\n');
      const { logger, lines } = captureLogger();
      const env = {
        VIGIL_SLACK_TOKEN: 'slack-token-value-abcdef',
        VIGIL_PAGERDUTY_ROUTING_KEY_FILE: keyFile,
        VIGIL_WEBHOOK_SECRET: 'webhook-secret-value-123456',
      };
      const receivers = createReceivers(receiversConfig(), { env, logger });
      expect(receivers.map((r) => [r.name, r.type])).toEqual([
        ['slack-oncall', 'slack'],
        ['pd', 'pagerduty'],
        ['soar', 'webhook'],
      ]);
      expect(receivers[0]).toBeInstanceOf(SlackReceiver);
      expect(receivers[1]).toBeInstanceOf(PagerDutyReceiver);
      expect(receivers[2]).toBeInstanceOf(WebhookReceiver);
      expect(
        scrubText('a slack-token-value-abcdef b pd-routing-key-from-file-0123 c webhook-secret-value-123456'),
      ).toBe('a [REDACTED] b [REDACTED] c [REDACTED]');
      const text = lines.join('\n');
      for (const value of Object.values(env)
        .slice(0, 1)
        .concat(['pd-routing-key-from-file-0123', 'webhook-secret-value-123456'])) {
        expect(text).not.toContain(value);
      }
    } finally {
      await cleanup();
    }
  });

  it('skips a receiver whose _FILE cannot be read, and a duplicate name', () => {
    const { logger, records } = captureLogger();
    const config = [
      ...receiversConfig(),
      {
        type: 'webhook' as const,
        name: 'soar',
        url: 'https://other.example.com',
        secret_env: 'OTHER_SECRET',
      },
    ];
    const receivers = createReceivers(config, {
      env: {
        VIGIL_SLACK_TOKEN_FILE: '/nonexistent/token',
        VIGIL_WEBHOOK_SECRET: 'webhook-secret-value-123456',
        OTHER_SECRET: 'other-secret-value-99',
      },
      logger,
    });
    expect(receivers.map((r) => r.name)).toEqual(['soar']);
    const messages = records().map((r) => String(r['msg']));
    expect(messages.some((m) => m.includes('cannot read its credential from VIGIL_SLACK_TOKEN_FILE'))).toBe(
      true,
    );
    expect(messages.some((m) => m.includes('"soar" is configured twice'))).toBe(true);
  });

  it('wires the Slack receiver to the configured API URL and channel', async () => {
    const slack = await FakeSlack.start({ token: 'slack-token-value-abcdef' });
    try {
      const { logger } = captureLogger();
      const [r] = createReceivers(receiversConfig(slack.url).slice(0, 1), {
        env: { VIGIL_SLACK_TOKEN: 'slack-token-value-abcdef' },
        logger,
      });
      const result = await r!.deliver(
        notify(makeAlert({ severity: 'critical' }), 'opened', { receiver: 'slack-oncall' }),
        memoryMap(),
      );
      expect(result.status).toBe('delivered');
      expect(slack.topLevel()).toHaveLength(1);
      expect(slack.topLevel()[0]!.text.startsWith('<!here> 🔴 [CRITICAL]')).toBe(true);
    } finally {
      await slack.close();
    }
  });
});
