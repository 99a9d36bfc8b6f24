// Child processes for benchmarks: started pinned to a CPU with taskset when
// the machine has it, their output sent to a file (not through a pipe this
// process would have to drain), and their CPU time read from /proc.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

export const HAS_TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const workdir = mkdtempSync(`${tmpdir()}/aoaigw-bench-`);
let counter = 0;

export interface Started {
  readonly proc: ChildProcess;
  readonly match: RegExpExecArray;
  readonly logFile: string;
  stop(): Promise<void>;
}

/** Starts `node args…` (pinned to `cpu`) and waits for `ready` to appear in its output. */
export async function startNode(args: string[], opts: { cpu?: number; ready: RegExp; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Started> {
  const logFile = `${workdir}/proc-${counter++}.log`;
  const fd = openSync(logFile, 'w');
  const argv = HAS_TASKSET && opts.cpu !== undefined ? ['taskset', '-c', String(opts.cpu), process.execPath, ...args] : [process.execPath, ...args];
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], env: { ...process.env, ...opts.env } });
  closeSync(fd);
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    const out = readFileSync(logFile, 'utf8');
    const match = opts.ready.exec(out);
    if (match) {
      return {
        proc,
        match,
        logFile,
        stop: () =>
          new Promise<void>((resolve) => {
            if (proc.exitCode !== null) return resolve();
            proc.once('exit', () => resolve());
            proc.kill('SIGKILL');
          }),
      };
    }
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`${args.join(' ')} did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** User + system CPU time a process has used, in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[11], fields[12]: utime, stime (the 14th and 15th of the whole line)
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / TICKS_PER_SECOND;
}

export function tempFile(name: string): string {
  return `${workdir}/${name}`;
}
