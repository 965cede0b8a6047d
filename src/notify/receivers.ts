import { readSecret } from '../config/load.js';
import type { ReceiverConfig } from '../config/schema.js';
import type { Logger } from '../ops/logger.js';
import type { Receiver } from './notification.js';
import { PagerDutyReceiver } from './pagerduty.js';
import { SlackReceiver } from './slack.js';
import { WebhookReceiver } from './webhook.js';

export interface CreateReceiversOptions {
  /** Where credentials are read from (default process.env); `NAME_FILE` works as in readSecret. */
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  /** Per-request timeout for every receiver (default 10 s). */
  timeoutMs?: number;
}

/**
 * Build the configured receivers. Each credential is read with `readSecret` (which registers it with
 * the scrubber). A receiver whose credential is missing or unreadable is not created and a warning
 * names the environment variable (never a value): without a Slack token nothing tries to reach Slack.
 * A second receiver with an already used name is skipped with a warning.
 */
export function createReceivers(
  configs: readonly ReceiverConfig[],
  options: CreateReceiversOptions,
): Receiver[] {
  const { logger } = options;
  const env = options.env ?? process.env;
  const out: Receiver[] = [];
  const names = new Set<string>();

  const credential = (receiver: ReceiverConfig, envName: string): string | undefined => {
    let value: string | undefined;
    try {
      value = readSecret(envName, env);
    } catch (err) {
      logger.warn(
        { receiver: receiver.name, type: receiver.type, env: envName, err: (err as Error).message },
        `receiver "${receiver.name}" disabled: cannot read its credential from ${envName}_FILE`,
      );
      return undefined;
    }
    if (!value) {
      logger.warn(
        { receiver: receiver.name, type: receiver.type, env: envName },
        `receiver "${receiver.name}" disabled: environment variable ${envName} (or ${envName}_FILE) is not set`,
      );
    }
    return value;
  };

  for (const rc of configs) {
    if (names.has(rc.name)) {
      logger.warn(
        { receiver: rc.name },
        `receiver "${rc.name}" is configured twice; the second one is ignored`,
      );
      continue;
    }
    let receiver: Receiver | undefined;
    switch (rc.type) {
      case 'slack': {
        if (!rc.channel) {
          logger.warn({ receiver: rc.name }, `receiver "${rc.name}" disabled: no Slack channel configured`);
          break;
        }
        const token = credential(rc, rc.token_env);
        if (token) {
          receiver = new SlackReceiver({
            name: rc.name,
            channel: rc.channel,
            token,
            mentionOnCritical: rc.mention_on_critical,
            ...(rc.api_url ? { apiUrl: rc.api_url } : {}),
            ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
            logger,
          });
        }
        break;
      }
      case 'pagerduty': {
        const routingKey = credential(rc, rc.routing_key_env);
        if (routingKey) {
          receiver = new PagerDutyReceiver({
            name: rc.name,
            routingKey,
            url: rc.url,
            ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
          });
        }
        break;
      }
      case 'webhook': {
        const secret = credential(rc, rc.secret_env);
        if (secret) {
          receiver = new WebhookReceiver({
            name: rc.name,
            url: rc.url,
            secret,
            ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
          });
        }
        break;
      }
    }
    if (receiver) {
      names.add(rc.name);
      out.push(receiver);
      logger.info({ receiver: rc.name, type: rc.type }, 'notification receiver enabled');
    }
  }
  return out;
}
