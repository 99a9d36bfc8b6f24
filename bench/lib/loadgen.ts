// A closed-loop load generator: `concurrency` requests always in flight over
// keep-alive connections for `durationMs`, each read to its last byte.
// Run as its own process (bench/lib/loadgen-main.ts) so that its CPU is not
// the measured proxy's.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export interface LoadOptions {
  url: string;
  path: string;
  method?: string;
  headers: Record<string, string>;
  body?: string;
  concurrency: number;
  durationMs: number;
  warmupMs?: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  statuses: Record<string, number>;
  seconds: number;
  rps: number;
  /** latency to the last byte, ms */
  p50: number;
  p90: number;
  p99: number;
  /** time to the first byte, ms */
  ttfbP50: number;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const pool = new Pool(o.url, { connections: o.concurrency, pipelining: 1 });
  const latencies: number[] = [];
  const ttfbs: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let measuring = false;
  let stop = false;

  const one = async () => {
    const t0 = performance.now();
    try {
      const res = await pool.request({ path: o.path, method: (o.method ?? 'POST') as 'POST', headers: o.headers, body: o.body });
      const t1 = performance.now();
      for await (const _ of res.body);
      if (measuring) {
        latencies.push(performance.now() - t0);
        ttfbs.push(t1 - t0);
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      }
    } catch {
      if (measuring) errors++;
    }
  };
  const worker = async () => {
    while (!stop) await one();
  };
  const workers = Array.from({ length: o.concurrency }, worker);
  await new Promise((r) => setTimeout(r, o.warmupMs ?? 1000));
  measuring = true;
  const start = performance.now();
  process.send?.({ type: 'measuring' });
  await new Promise((r) => setTimeout(r, o.durationMs));
  measuring = false;
  const seconds = (performance.now() - start) / 1000;
  stop = true;
  await Promise.all(workers);
  await pool.close();
  latencies.sort((a, b) => a - b);
  ttfbs.sort((a, b) => a - b);
  const q = (arr: number[], p: number) => (arr.length ? arr[Math.min(arr.length - 1, Math.floor(p * arr.length))] : NaN);
  return {
    requests: latencies.length,
    errors,
    statuses,
    seconds,
    rps: latencies.length / seconds,
    p50: q(latencies, 0.5),
    p90: q(latencies, 0.9),
    p99: q(latencies, 0.99),
    ttfbP50: q(ttfbs, 0.5),
  };
}
