import { loadConfig } from '../config/load.js';
import { Daemon } from '../daemon.js';
import { createLogger } from '../ops/logger.js';
import { EXIT, fail } from './exit.js';

/** `vigil run`: start the daemon and stop it gracefully on SIGINT/SIGTERM. */
export async function runDaemon(opts: { config?: string; env?: string }): Promise<number> {
  const configSource = {
    ...(opts.config ? { file: opts.config } : {}),
    ...(opts.env ? { environment: opts.env } : {}),
  };
  const { config, files } = loadConfig(configSource);
  const pretty =
    config.log.pretty === 'always' || (config.log.pretty === 'auto' && Boolean(process.stderr.isTTY));
  const logger = createLogger({ level: config.log.level, pretty });
  logger.info({ files, environment: config.environment }, 'configuration loaded');
  const daemon = new Daemon({ config, logger, configSource });
  try {
    await daemon.start();
  } catch (err) {
    logger.error({ err }, 'could not start');
    logger.flush();
    return fail((err as Error).message, EXIT.FAILURE);
  }
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        logger.warn({ signal }, 'second signal: exiting without a final checkpoint');
        logger.flush();
        process.exit(EXIT.FAILURE);
      }
      logger.info({ signal }, 'shutting down: draining, flushing, saving state');
      daemon.stop().then(
        () => {
          logger.flush();
          resolve(EXIT.OK);
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          logger.flush();
          resolve(EXIT.FAILURE);
        },
      );
    };
    process.on('SIGHUP', () => {
      logger.info('SIGHUP: reloading configuration and detectors');
      void daemon.reload();
    });
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
  });
}
