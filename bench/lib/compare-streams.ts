// Many concurrent slow streams through each proxy: bench/slow-stream-backend.ts
// sends a chunk every interval to every stream; client processes (pinned
// with the backend to the load CPU, a few thousand streams each) open the
// streams over a ramp and hold them all open together; this process samples
// the proxy tree's RSS every half second. Figures: streams that failed,
// the peak of streams open at once, peak RSS, relay latency per chunk
// (arrival − send) p50/p99/max, CPU per chunk relayed.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HAS_TASKSET } from './processes.ts';
import { Histogram } from './compare-histogram.ts';
import { startPinned, treeCpuMicros, treeRssBytes, type Proc } from './compare-proc.ts';
import type { StreamsClientOptions, StreamsClientResult } from './compare-streams-client.ts';
import type { Running, Target, Upstreams } from './compare-targets.ts';

export interface StreamsPlan {
  readonly streams: number;
  readonly rampMs: number;
  readonly chunks: number;
  readonly intervalMs: number;
  readonly loadCpu: number;
}

export interface StreamsRow {
  readonly id: string;
  readonly name: string;
  readonly na?: string;
  streams?: number;
  ok?: number;
  failed?: number;
  reasons?: string[];
  peakOpen?: number;
  rssIdleMB?: number;
  rssPeakMB?: number;
  relayP50?: number;
  relayP99?: number;
  relayMax?: number;
  cpuPerChunkUs?: number;
}

const BACKEND = fileURLToPath(new URL('../slow-stream-backend.ts', import.meta.url));
const CLIENT = fileURLToPath(new URL('./compare-streams-client.ts', import.meta.url));
const PER_CLIENT = 2500;

export async function startSlowBackend(plan: StreamsPlan): Promise<Proc & { url: string }> {
  const p = await startPinned('slow-backend', [process.execPath, BACKEND, '--chunks', String(plan.chunks), '--interval-ms', String(plan.intervalMs)], {
    cpus: String(plan.loadCpu),
    ready: /slow-stream backend (http:\/\/\S+)/,
  });
  return { ...p, url: p.match![1] };
}

function client(opts: StreamsClientOptions, loadCpu: number, onActive: (n: number) => void): Promise<StreamsClientResult> {
  return new Promise((resolve, reject) => {
    const child = fork(CLIENT, [JSON.stringify(opts)], {
      execPath: HAS_TASKSET ? 'taskset' : process.execPath,
      execArgv: HAS_TASKSET ? ['-c', String(loadCpu), process.execPath] : [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: StreamsClientResult | undefined;
    child.on('message', (m: { type: string; active?: number; result?: StreamsClientResult }) => {
      if (m.type === 'active') onActive(m.active!);
      if (m.type === 'result') result = m.result;
    });
    child.on('error', reject);
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`streams client exited with ${code} and no result`))));
  });
}

export async function runStreams(target: Target, backend: string, plan: StreamsPlan): Promise<StreamsRow> {
  const row: StreamsRow = { id: target.id, name: target.name };
  const up: Upstreams = { primary: backend, secondary: backend, key: 'any-key' };
  let running: Running;
  try {
    running = await target.start(up, { streams: true });
  } catch (err) {
    return { ...row, na: `n/a: did not start (${(err as Error).message.split('\n')[0].slice(0, 100)})` };
  }
  const pid = running.pid;
  const rssIdle = pid === undefined ? 0 : treeRssBytes(pid);
  let rssPeak = rssIdle;
  const sampler = setInterval(() => {
    if (pid !== undefined) rssPeak = Math.max(rssPeak, treeRssBytes(pid));
  }, 500);
  const cpu0 = pid === undefined ? 0 : treeCpuMicros(pid);
  const clients = Math.max(1, Math.ceil(plan.streams / PER_CLIENT));
  const active = new Array<number>(clients).fill(0);
  let peakOpen = 0;
  const streamMs = plan.chunks * plan.intervalMs;
  try {
    const results = await Promise.all(
      Array.from({ length: clients }, (_, i) => {
        const count = Math.floor(plan.streams / clients) + (i < plan.streams % clients ? 1 : 0);
        const opts: StreamsClientOptions = {
          url: running.url,
          path: running.path,
          headers: running.headers,
          body: running.body(true),
          count,
          rampMs: plan.rampMs,
          chunks: plan.chunks,
          timeoutMs: plan.rampMs + streamMs * 2 + 30_000,
        };
        return client(opts, plan.loadCpu, (n) => {
          active[i] = n;
          peakOpen = Math.max(peakOpen, active.reduce((a, b) => a + b, 0));
        });
      }),
    );
    const latency = new Histogram();
    for (const r of results) latency.merge(r.latency);
    const chunks = results.reduce((a, r) => a + r.chunks, 0);
    Object.assign(row, {
      streams: plan.streams,
      ok: results.reduce((a, r) => a + r.ok, 0),
      failed: results.reduce((a, r) => a + r.failed, 0),
      reasons: results.flatMap((r) => r.reasons).slice(0, 5),
      peakOpen,
      rssIdleMB: rssIdle / 2 ** 20,
      rssPeakMB: rssPeak / 2 ** 20,
      relayP50: latency.quantile(0.5),
      relayP99: latency.quantile(0.99),
      relayMax: latency.max,
      cpuPerChunkUs: pid === undefined || chunks === 0 ? undefined : (treeCpuMicros(pid) - cpu0) / chunks,
    });
  } finally {
    clearInterval(sampler);
    await running.stop();
  }
  process.stderr.write(
    `streams ${target.name.padEnd(40)} ok ${row.ok}/${row.streams}  peak open ${row.peakOpen}  RSS ${row.rssPeakMB?.toFixed(0)} MB  relay p50 ${row.relayP50?.toFixed(2)} p99 ${row.relayP99?.toFixed(2)} max ${row.relayMax?.toFixed(1)} ms${row.reasons?.length ? `  ${row.reasons.join('; ')}` : ''}\n`,
  );
  return row;
}
