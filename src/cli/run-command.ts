import { loadConfig } from '../config/load.js';
import { Daemon } from '../daemon.js';
import { createLogger, type Logger } from '../ops/logger.js';
import { EXIT, fail } from './exit.js';

/** `vigil run`: start the daemon and stop it gracefully on SIGINT/SIGTERM. */
export async function runDaemon(opts: { config?: string; env?: string }): Promise<number> {
  // Listening before anything else: Node's default for SIGHUP is to exit, and logrotate or an
  // operator may send one while the state is being restored. A reload asked for then runs once
  // the daemon runs.
  const live: { daemon?: Daemon; logger?: Logger } = {};
  let started = false;
  let reloadAsked = false;
  const onHangup = () => {
    if (!started || !live.daemon) {
      reloadAsked = true;
      live.logger?.info('SIGHUP while starting: the configuration is reloaded once the daemon runs');
      return;
    }
    live.logger?.info('SIGHUP: reloading configuration and detectors');
    void live.daemon.reload();
  };
  process.on('SIGHUP', onHangup);
  const configSource = {
    ...(opts.config ? { file: opts.config } : {}),
    ...(opts.env ? { environment: opts.env } : {}),
  };
  const { config, files } = loadConfig(configSource);
  const pretty =
    config.log.pretty === 'always' || (config.log.pretty === 'auto' && Boolean(process.stderr.isTTY));
  const log = createLogger({ level: config.log.level, pretty });
  live.logger = log;
  // Through the scrubbing logger, never Node's raw stack print on stderr.
  const die = (what: string) => (err: unknown) => {
    log.fatal({ err }, `${what}; exiting (state resumes from the last checkpoint)`);
    log.flush();
    process.exit(EXIT.FAILURE);
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled promise rejection'));
  log.info({ files, environment: config.environment }, 'configuration loaded');
  const running = new Daemon({ config, logger: log, configSource });
  live.daemon = running;
  try {
    await running.start();
    started = true;
    if (reloadAsked) onHangup();
  } catch (err) {
    log.error({ err }, 'could not start');
    log.flush();
    return fail((err as Error).message, EXIT.FAILURE);
  }
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn({ signal }, 'second signal: exiting without a final checkpoint');
        log.flush();
        process.exit(EXIT.FAILURE);
      }
      log.info({ signal }, 'shutting down: draining, flushing, saving state');
      running.stop().then(
        () => {
          log.flush();
          resolve(EXIT.OK);
        },
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          log.flush();
          resolve(EXIT.FAILURE);
        },
      );
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
  });
}
