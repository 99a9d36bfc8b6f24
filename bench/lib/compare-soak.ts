// The soak: aoai-gateway with everything on under a fixed arrival rate of
// mixed plain and streamed requests for a long run, its RSS sampled at a
// fixed step; RSS after the warm-up against RSS at the end, and every
// request that did not get a 200.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HAS_TASKSET } from './processes.ts';
import { Histogram } from './compare-histogram.ts';
import { treeRssBytes } from './compare-proc.ts';
import type { SoakClientOptions, SoakClientResult } from './compare-soak-client.ts';
import type { Target, Upstreams } from './compare-targets.ts';

export interface SoakPlan {
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly sampleMs: number;
  readonly ratePerSecond: number;
  readonly loadCpu: number;
}

export interface SoakResult {
  readonly target: string;
  readonly na?: string;
  plan?: SoakPlan;
  /** [seconds since start, MB] */
  samples?: [number, number][];
  rssAfterWarmupMB?: number;
  rssEndMB?: number;
  rssMaxMB?: number;
  growthPct?: number;
  sent?: number;
  statuses?: Record<string, number>;
  errors?: number;
  reasons?: string[];
  p50?: number;
  p99?: number;
}

const CLIENT = fileURLToPath(new URL('./compare-soak-client.ts', import.meta.url));

export async function runSoak(target: Target, up: Upstreams, plan: SoakPlan): Promise<SoakResult> {
  const out: SoakResult = { target: target.name, plan };
  if (target.na) return { ...out, na: target.na };
  const running = await target.start(up, {});
  const pid = running.pid!;
  const samples: [number, number][] = [];
  const t0 = Date.now();
  const sample = () => samples.push([Math.round((Date.now() - t0) / 1000), treeRssBytes(pid) / 2 ** 20]);
  sample();
  const sampler = setInterval(sample, plan.sampleMs);
  try {
    const opts: SoakClientOptions = {
      url: running.url,
      path: running.path,
      headers: running.headers,
      bodies: [running.body(false), running.body(true)],
      ratePerSecond: plan.ratePerSecond,
      durationMs: plan.durationMs,
      timeoutMs: 30_000,
    };
    const result = await new Promise<SoakClientResult>((resolve, reject) => {
      const child = fork(CLIENT, [JSON.stringify(opts)], {
        execPath: HAS_TASKSET ? 'taskset' : process.execPath,
        execArgv: HAS_TASKSET ? ['-c', String(plan.loadCpu), process.execPath] : [],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      let r: SoakClientResult | undefined;
      child.on('message', (m: { type: string; sent?: number; errors?: number; result?: SoakClientResult }) => {
        if (m.type === 'progress') {
          const last = samples[samples.length - 1];
          process.stderr.write(`soak ${Math.round((Date.now() - t0) / 1000)} s: ${m.sent} sent, ${m.errors} errors, RSS ${last[1].toFixed(1)} MB\n`);
        }
        if (m.type === 'result') r = m.result;
      });
      child.on('error', reject);
      child.on('exit', (code) => (r ? resolve(r) : reject(new Error(`soak client exited with ${code} and no result`))));
    });
    clearInterval(sampler);
    sample();
    const warm = samples.find(([s]) => s * 1000 >= plan.warmupMs) ?? samples[samples.length - 1];
    const end = samples[samples.length - 1];
    const latency = new Histogram();
    latency.merge(result.latency);
    const non200 = Object.entries(result.statuses).reduce((a, [s, n]) => (s === '200' ? a : a + n), 0);
    Object.assign(out, {
      samples,
      rssAfterWarmupMB: warm[1],
      rssEndMB: end[1],
      rssMaxMB: Math.max(...samples.map((s) => s[1])),
      growthPct: ((end[1] - warm[1]) / warm[1]) * 100,
      sent: result.sent,
      statuses: result.statuses,
      errors: result.errors + non200,
      reasons: result.reasons,
      p50: latency.quantile(0.5),
      p99: latency.quantile(0.99),
    });
  } finally {
    clearInterval(sampler);
    await running.stop();
  }
  return out;
}
