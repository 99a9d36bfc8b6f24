// Usage from the ledger as people read it: one line per consumer, deployment
// or endpoint, with an estimated cost where the config has prices. For the
// `usage` command and GET /admin/api/usage.
import type { Config } from '../config/schema.ts';
import type { GroupBy, UsageRow } from './records.ts';

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
