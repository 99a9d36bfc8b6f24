import { formatIssues } from '../config/load.ts';
import { loadConfigFileWithSecrets } from '../secrets/index.ts';
import { routingPlan } from '../config/plan.ts';
import { describeDiscovery } from '../discovery/describe.ts';
import { Discovery } from '../discovery/index.ts';
import { configPath, parse } from './args.ts';

export async function check(args: string[]): Promise<number> {
  const opts = parse(args, { config: { type: 'string', short: 'c' }, discover: { type: 'boolean' } });
  const path = configPath(opts.config);
  const loaded = await loadConfigFileWithSecrets(path);
  if (!loaded.ok) {
    process.stderr.write(`${path}: ${loaded.issues.length} problem(s)\n${formatIssues(loaded.issues)}\n`);
    return 1;
  }
  if (!opts.discover) {
    process.stdout.write(`${path}: OK\n\n${routingPlan(loaded.config)}`);
    return 0;
  }
  // --discover: ask Resource Manager once and print the plan the gateway would run.
  const { merged, reports } = await Discovery.once(loaded.config);
  process.stdout.write(`${path}: OK\n\n${describeDiscovery(reports, merged.added)}\n${routingPlan(merged.config)}`);
  return reports.some((r) => r.failing) ? 2 : 0;
}
