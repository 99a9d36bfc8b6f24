// `aoai-gateway usage`: tokens, requests and errors from the ledger, grouped
// by consumer, deployment or endpoint, with an estimated cost where the
// config has prices.
import type { GroupBy } from '../ledger/records.ts';
import { summarise } from '../ledger/usage-report.ts';
import { parse, UsageError } from './args.ts';
import { parseCliDuration } from '../config/durations.ts';
import { withLedger } from './ledger-access.ts';
import { csv, table } from './table.ts';

export async function usage(args: string[]): Promise<number> {
  const o = parse(args, {
    config: { type: 'string', short: 'c' },
    by: { type: 'string', default: 'consumer' },
    since: { type: 'string', default: '24h' },
    json: { type: 'boolean' },
    csv: { type: 'boolean' },
  });
  const by = o.by as GroupBy;
  if (!['consumer', 'deployment', 'endpoint'].includes(by)) throw new UsageError('--by is consumer, deployment or endpoint');
  const since = Date.now() - parseCliDuration(o.since as string, '--since');
  return withLedger(o.config, async (ledger, config) => {
    const lines = summarise(by, await ledger.usage(by, since), config.prices);
    const columns = [by, 'requests', 'errors', 'promptTokens', 'completionTokens', 'totalTokens', 'cost'];
    if (o.json) process.stdout.write(`${JSON.stringify(lines)}\n`);
    else if (o.csv) process.stdout.write(csv(lines, columns));
    else {
      const shown = lines.map((l) => ({
        ...l,
        [by]: l[by] === '' ? '(none)' : l[by],
        promptTokens: l.promptTokens.toLocaleString('en-US'),
        completionTokens: l.completionTokens.toLocaleString('en-US'),
        totalTokens: l.totalTokens.toLocaleString('en-US'),
        cost: l.cost === null ? (Object.keys(config.prices).length ? 'no price' : '') : `$${l.cost.toFixed(4)}`,
      }));
      process.stdout.write(
        `usage by ${by} since ${new Date(since).toISOString()}\n\n` +
          (lines.length ? table(shown, columns, new Set(columns.slice(1))) : 'no requests\n'),
      );
    }
    return 0;
  });
}
