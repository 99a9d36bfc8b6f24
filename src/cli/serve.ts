import { formatIssues, loadConfigFile } from '../config/load.ts';
import { Gateway } from '../server/gateway.ts';
import { createLogger, flushLogsSync } from '../telemetry/access-log.ts';
import { configPath, parse, untilSignal } from './args.ts';

export async function serve(args: string[]): Promise<number> {
  const opts = parse(args, { config: { type: 'string', short: 'c' } });
  const path = configPath(opts.config);
  const loaded = loadConfigFile(path);
  if (!loaded.ok) {
    process.stderr.write(`${path}: the config has ${loaded.issues.length} problem(s); nothing was started.\n${formatIssues(loaded.issues)}\n`);
    return 1;
  }
  const logger = createLogger();
  const gateway = await Gateway.start(loaded.config, { logger });
  logger.info({ url: gateway.url, config: path }, 'aoai-gateway listening');
  logger.flush();
  const signal = await untilSignal();
  logger.info({ signal }, 'stopping');
  await gateway.close();
  logger.info('stopped');
  flushLogsSync();
  return 0;
}
