// Runs the load generator in its own process against a target and reads the
// target process's CPU time over exactly the measured phase.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadOptions, LoadResult } from './loadgen.ts';
import { cpuMicros, HAS_TASKSET } from './processes.ts';

export interface Measured extends LoadResult {
  /** CPU time of the measured process per request, µs */
  cpuPerRequestUs: number | undefined;
}

const LOADGEN = fileURLToPath(new URL('./loadgen-main.ts', import.meta.url));

export function measure(opts: LoadOptions, pid: number | undefined, cpu?: number): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const child = fork(LOADGEN, [JSON.stringify(opts)], {
      execPath: HAS_TASKSET && cpu !== undefined ? 'taskset' : process.execPath,
      execArgv: HAS_TASKSET && cpu !== undefined ? ['-c', String(cpu), process.execPath] : [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let cpuAtStart: number | undefined;
    child.on('message', (m: { type: string; result?: LoadResult }) => {
      if (m.type === 'measuring' && pid !== undefined) cpuAtStart = cpuMicros(pid);
      if (m.type === 'result' && m.result) {
        const cpuUsed = pid !== undefined && cpuAtStart !== undefined ? cpuMicros(pid) - cpuAtStart : undefined;
        // The CPU window ends a little after the request window (the result's trip over IPC): negligible at these durations.
        resolve({ ...m.result, cpuPerRequestUs: cpuUsed === undefined ? undefined : cpuUsed / m.result.requests });
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`load generator exited with ${code}`));
    });
  });
}
