import { formatIssues, loadConfigFile } from '../config/load.ts';
import { routingPlan } from '../config/plan.ts';
import { configPath, parse } from './args.ts';

export async function check(args: string[]): Promise<number> {
  const opts = parse(args, { config: { type: 'string', short: 'c' } });
  const path = configPath(opts.config);
  const loaded = loadConfigFile(path);
  if (!loaded.ok) {
    process.stderr.write(`${path}: ${loaded.issues.length} problem(s)\n${formatIssues(loaded.issues)}\n`);
    return 1;
  }
  process.stdout.write(`${path}: OK\n\n${routingPlan(loaded.config)}`);
  return 0;
}
