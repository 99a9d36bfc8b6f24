// `aoai-gateway usage`: tokens, requests and errors from the ledger, grouped
// by consumer, deployment or endpoint, with an estimated cost where the
// config has prices.
import type { Config } from '../config/schema.ts';
import type { GroupBy, UsageRow } from '../ledger/records.ts';
import { parse, UsageError } from './args.ts';
import { parseCliDuration } from './durations.ts';
import { withLedger } from './ledger-access.ts';
import { csv, table } from './table.ts';

export interface UsageLine {
  [k: string]: string | number | null;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** null where some of the group's usage has no price */
  cost: number | null;
}

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

/** Rows per group and model, summed per group; cost from the prices of the deployment, else of the model. */
export function summarise(by: GroupBy, rows: readonly UsageRow[], prices: Config['prices']): UsageLine[] {
  const out = new Map<string, UsageLine>();
  for (const r of rows) {
    let line = out.get(r.group);
    if (!line) {
      line = { [by]: r.group, requests: 0, errors: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, cost: 0 };
      out.set(r.group, line);
    }
    line.requests += r.requests;
    line.errors += r.errors;
    line.promptTokens += r.promptTokens;
    line.completionTokens += r.completionTokens;
    line.totalTokens += r.totalTokens;
    const price = prices[r.deployment] ?? prices[r.model];
    if (!price) {
      if (r.totalTokens > 0) line.cost = null;
      continue;
    }
    if (line.cost !== null) {
      const cached = Math.min(r.cachedTokens, r.promptTokens);
      line.cost +=
        ((r.promptTokens - cached) * price.input + cached * (price.cachedInput ?? price.input) + r.completionTokens * price.output) / 1_000_000;
    }
  }
  return [...out.values()];
}
