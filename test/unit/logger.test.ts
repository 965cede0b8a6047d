import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { clearRegisteredSecrets, registerSecret } from '../../src/audit/secrets.js';
import { createLogger } from '../../src/ops/logger.js';

/** A logger writing into a string, as Vigil's does to stderr. */
function capture(pretty: boolean) {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  const logger = createLogger({ pretty, destination });
  return { logger, text: () => text };
}

afterEach(clearRegisteredSecrets);

const TOKEN = 'hvs.CANARYloggertoken000000000001';
const HMAC = 'hmac-sha256:0123456789abcdef0123456789abcdef';

describe.each([
  ['JSON', false],
  ['pretty', true],
])('%s logs never carry a secret', (_name, pretty) => {
  it('cuts secret-named keys at any depth', () => {
    const { logger, text } = capture(pretty);
    logger.info(
      {
        config: { sasl: { mechanism: 'plain', password: 'p4ss-nested-deep' } },
        request: {
          data: { secret_id: 'approle-secret-id-value' },
          headers: { 'x-vault-token': 'xvt-value' },
        },
        receivers: [{ name: 'pager', routing_key: 'routing-key-value' }],
      },
      'configuration loaded',
    );
    logger.flush();
    const out = text();
    expect(out).toContain('configuration loaded');
    expect(out).toContain('plain');
    for (const secret of ['p4ss-nested-deep', 'approle-secret-id-value', 'xvt-value', 'routing-key-value'])
      expect(out).not.toContain(secret);
  });

  it('scrubs tokens, HMACs and configured credentials out of messages, errors and stacks', () => {
    const { logger, text } = capture(pretty);
    registerSecret('xoxb-configured-slack-credential');
    const err = new Error(`login failed for ${TOKEN} (${HMAC})`);
    logger.error({ err }, `delivery with xoxb-configured-slack-credential failed`);
    logger.warn(`token ${TOKEN} seen`);
    logger.flush();
    const out = text();
    expect(out).toContain('login failed for');
    expect(out).toContain('[REDACTED]');
    for (const secret of [TOKEN, HMAC, 'xoxb-configured-slack-credential']) expect(out).not.toContain(secret);
  });
});
