// One closed-loop load run (bench/lib/loadgen.ts, in its own process pinned
// to the load CPU) and the CPU the proxy's whole process tree used over
// exactly the measured phase.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadOptions, LoadResult } from './loadgen.ts';
import { HAS_TASKSET } from './processes.ts';
import { treeCpuMicros } from './compare-proc.ts';

export interface LoadRun extends LoadResult {
  /** CPU of the proxy's process tree per request served, µs; undefined without a proxy */
  cpuPerRequestUs: number | undefined;
}

const LOADGEN = fileURLToPath(new URL('./loadgen-main.ts', import.meta.url));
/** a run that has not answered by then is stuck: its duration plus this */
const SLACK_MS = 60_000;

export function loadRun(opts: LoadOptions, proxyPid: number | undefined, loadCpu: number): Promise<LoadRun> {
  return new Promise((resolve, reject) => {
    const child = fork(LOADGEN, [JSON.stringify(opts)], {
      execPath: HAS_TASKSET ? 'taskset' : process.execPath,
      execArgv: HAS_TASKSET ? ['-c', String(loadCpu), process.execPath] : [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`load generator did not finish within ${(opts.durationMs + SLACK_MS) / 1000} s`));
    }, opts.durationMs + (opts.warmupMs ?? 1000) + SLACK_MS);
    let cpuAtStart: number | undefined;
    child.on('message', (m: { type: string; result?: LoadResult }) => {
      if (m.type === 'measuring' && proxyPid !== undefined) cpuAtStart = treeCpuMicros(proxyPid);
      if (m.type === 'result' && m.result) {
        clearTimeout(timer);
        const used = proxyPid !== undefined && cpuAtStart !== undefined ? treeCpuMicros(proxyPid) - cpuAtStart : undefined;
        resolve({ ...m.result, cpuPerRequestUs: used === undefined || m.result.requests === 0 ? undefined : used / m.result.requests });
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`load generator exited with ${code}`));
    });
  });
}
