import { availableParallelism } from 'node:os';
import { formatIssues } from '../config/load.ts';
import { KeyVaultSecrets, loadConfigFileWithSecrets } from '../secrets/index.ts';
import { isWorker, Primary, runWorker, workerCount } from '../server/cluster.ts';
import { watchConfigFile } from '../server/config-watch.ts';
import { Gateway } from '../server/gateway.ts';
import { createLogger, flushLogsSync } from '../telemetry/access-log.ts';
import { configPath, parse, UsageError, untilSignal } from './args.ts';

export async function serve(args: string[]): Promise<number> {
  const opts = parse(args, { config: { type: 'string', short: 'c' }, 'no-watch': { type: 'boolean' }, workers: { type: 'string', short: 'w' } });
  const path = configPath(opts.config);
  if (isWorker()) return runWorker(path);
  const logger = createLogger();
  // Key Vault values: kept across reloads, read again every secrets.keyvault.refreshSeconds.
  const secrets = new KeyVaultSecrets(logger);
  const loaded = await loadConfigFileWithSecrets(path, process.env, secrets);
  if (!loaded.ok) {
    flushLogsSync();
    process.stderr.write(`${path}: the config has ${loaded.issues.length} problem(s); nothing was started.\n${formatIssues(loaded.issues)}\n`);
    return 1;
  }
  let workers: number;
  try {
    workers = workerCount(opts.workers, loaded.config, availableParallelism());
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  let reload: () => unknown;
  let close: () => Promise<void>;
  if (workers > 1) {
    const primary = new Primary(path, loaded.config, workers, logger, secrets);
    await primary.start();
    logger.info({ url: primary.url, admin: primary.admin?.url, config: path, workers }, 'aoai-gateway listening');
    const unwatch = opts['no-watch'] ? () => {} : watchConfigFile(path, () => void primary.reload());
    reload = () => primary.reload();
    close = async () => {
      unwatch();
      await primary.stop();
    };
  } else {
    const gateway = await Gateway.start(loaded.config, { logger, configPath: path, watch: !opts['no-watch'], secrets });
    secrets.watch(() => gateway.reload());
    logger.info({ url: gateway.url, admin: gateway.admin?.url, config: path }, 'aoai-gateway listening');
    reload = () => gateway.reload();
    close = () => gateway.close();
  }
  logger.flush();
  // SIGHUP reads the config file again (as nginx and haproxy do).
  const onHup = () => void reload();
  process.on('SIGHUP', onHup);
  const signal = await untilSignal();
  process.off('SIGHUP', onHup);
  logger.info({ signal }, 'stopping');
  secrets.close();
  await close();
  logger.info('stopped');
  flushLogsSync();
  return 0;
}
