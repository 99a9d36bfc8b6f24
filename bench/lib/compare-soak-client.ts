// Child process of bench/lib/compare-soak.ts: requests at a fixed arrival
// rate (evenly spaced, whatever happened to earlier ones), alternately
// plain and streamed, each read to its end; counts statuses and errors and
// keeps a latency histogram. Every request is bounded by `timeoutMs`.
import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';
import { Histogram } from './compare-histogram.ts';

export interface SoakClientOptions {
  url: string;
  path: string;
  headers: Record<string, string>;
  bodies: [plain: string, stream: string];
  ratePerSecond: number;
  durationMs: number;
  timeoutMs: number;
}

export interface SoakClientResult {
  sent: number;
  statuses: Record<string, number>;
  errors: number;
  reasons: string[];
  latency: ReturnType<Histogram['toJSON']>;
}

const o = JSON.parse(process.argv[2]) as SoakClientOptions;
const agent = new Agent({ connections: 1024, keepAliveTimeout: 10_000, headersTimeout: o.timeoutMs, bodyTimeout: o.timeoutMs });
const latency = new Histogram();
const statuses: Record<string, number> = {};
const reasons = new Map<string, number>();
let errors = 0;
let sent = 0;
const pending = new Set<Promise<void>>();

const start = performance.now();
const gap = 1000 / o.ratePerSecond;
while (sent * gap < o.durationMs) {
  const wait = sent * gap - (performance.now() - start);
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  const t0 = performance.now();
  const body = o.bodies[sent % 2];
  sent++;
  const p = agent
    .request({ origin: o.url, path: o.path, method: 'POST', headers: o.headers, body, signal: AbortSignal.timeout(o.timeoutMs) })
    .then(async (res) => {
      await res.body.dump({ limit: 10 * 1024 * 1024 });
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      latency.add(performance.now() - t0);
    })
    .catch((err: Error & { code?: string }) => {
      errors++;
      const why = err.code ?? err.name;
      reasons.set(why, (reasons.get(why) ?? 0) + 1);
    })
    .finally(() => pending.delete(p));
  pending.add(p);
  if (sent % Math.round(o.ratePerSecond * 10) === 0) process.send?.({ type: 'progress', sent, errors });
}
await Promise.all(pending);
await agent.close();
const result: SoakClientResult = { sent, statuses, errors, reasons: [...reasons].map(([w, n]) => `${w} (${n})`), latency: latency.toJSON() };
process.send?.({ type: 'result', result }, () => process.exit(0));
