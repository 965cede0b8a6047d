import { describe, expect, it } from 'vitest';
import { changedSettings, needingRestart } from '../../src/config/changes.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

const { config } = loadConfig({ environment: 'development' });
const edit = (fn: (c: Config) => void): Config => {
  const c = structuredClone(config);
  fn(c);
  return c;
};

describe('what a reload changes', () => {
  it('names changed settings one level into a section', () => {
    const after = edit((c) => {
      c.notify.route.receivers = ['chat'];
      c.notify.receivers = [{ type: 'webhook', name: 'hook', url: 'http://127.0.0.1:1/' } as never];
      c.time_zone = 'Europe/Paris';
      c.maintenance = [{ name: 'm', cron: '0 3 * * *', duration: 3_600_000, matchers: {} }];
    });
    expect(changedSettings(config, after).sort()).toEqual(
      ['maintenance', 'notify.receivers', 'notify.route', 'time_zone'].sort(),
    );
    expect(changedSettings(config, structuredClone(config))).toEqual([]);
  });

  it('says which changes wait for a restart, and only those', () => {
    expect(
      needingRestart([
        'detectors.overrides',
        'maintenance',
        'notify.route',
        'notify.receivers',
        'sources.file',
        'jobs.digest',
        'log.level',
        'log.pretty',
        'time_zone',
      ]),
    ).toEqual(['notify.receivers', 'sources.file', 'jobs.digest', 'log.pretty', 'time_zone']);
  });
});
