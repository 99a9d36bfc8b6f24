import { formatIssues } from '../config/load.ts';
import { KeyVaultSecrets, loadConfigFileWithSecrets } from '../secrets/index.ts';
import { Gateway } from '../server/gateway.ts';
import { createLogger, flushLogsSync } from '../telemetry/access-log.ts';
import { configPath, parse, untilSignal } from './args.ts';

export async function serve(args: string[]): Promise<number> {
  const opts = parse(args, { config: { type: 'string', short: 'c' }, 'no-watch': { type: 'boolean' } });
  const path = configPath(opts.config);
  const logger = createLogger();
  // Key Vault values: kept across reloads, read again every secrets.keyvault.refreshSeconds.
  const secrets = new KeyVaultSecrets(logger);
  const loaded = await loadConfigFileWithSecrets(path, process.env, secrets);
  if (!loaded.ok) {
    flushLogsSync();
    process.stderr.write(`${path}: the config has ${loaded.issues.length} problem(s); nothing was started.\n${formatIssues(loaded.issues)}\n`);
    return 1;
  }
  const gateway = await Gateway.start(loaded.config, { logger, configPath: path, watch: !opts['no-watch'], secrets });
  secrets.watch(() => gateway.reload());
  logger.info({ url: gateway.url, admin: gateway.admin?.url, config: path }, 'aoai-gateway listening');
  logger.flush();
  // SIGHUP reads the config file again (as nginx and haproxy do).
  const onHup = () => void gateway.reload();
  process.on('SIGHUP', onHup);
  const signal = await untilSignal();
  process.off('SIGHUP', onHup);
  logger.info({ signal }, 'stopping');
  secrets.close();
  await gateway.close();
  logger.info('stopped');
  flushLogsSync();
  return 0;
}
