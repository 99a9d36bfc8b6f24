// Processes of the side-by-side suite (bench/compare.ts): any program (node,
// nginx, haproxy) started pinned with taskset, with its open-files limit
// raised to the hard limit, its output in a file; readiness from a line of
// that output or from its port accepting; CPU and RSS summed over the whole
// process tree (nginx's master and worker, the gateway's primary and
// workers), read from /proc.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { HAS_TASKSET, tempFile } from './processes.ts';

const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const PAGE = Number(spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout.trim()) || 4096;

/** The hard limit on open files: what every child gets as its soft limit. */
export const FD_LIMIT = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim()) || 1024;

export interface Proc {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  /** the first match of `ready` in the output, when a regex was given */
  readonly match: RegExpExecArray | undefined;
  stop(): Promise<void>;
}

let counter = 0;

/**
 * Starts `argv` on `cpus` (e.g. "1" or "0,1"); ready when `ready` matches its
 * output, or when `port` accepts a connection. The shell `exec`s taskset,
 * which `exec`s the program: the pid is the program's.
 */
export async function startPinned(
  name: string,
  argv: string[],
  o: { cpus?: string; ready?: RegExp; port?: number; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string },
): Promise<Proc> {
  const logFile = tempFile(`${name}-${counter++}.log`);
  const fd = openSync(logFile, 'w');
  const pinned = HAS_TASKSET && o.cpus ? ['taskset', '-c', o.cpus, ...argv] : argv;
  const proc = spawn('sh', ['-c', `ulimit -n ${FD_LIMIT} 2>/dev/null; exec "$@"`, 'sh', ...pinned], {
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...o.env },
    cwd: o.cwd,
  });
  closeSync(fd);
  const stop = () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      // the whole tree: nginx's worker and the gateway's workers go with their parent
      for (const pid of treePids(proc.pid!).reverse()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  const deadline = Date.now() + (o.timeoutMs ?? 20_000);
  for (;;) {
    const out = readFileSync(logFile, 'utf8');
    const match = o.ready?.exec(out) ?? undefined;
    const up = match !== undefined || (o.port !== undefined && (await accepts(o.port)));
    if (up) return { proc, pid: proc.pid!, logFile, match, stop };
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not start (${argv.join(' ')}):\n${out.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A port nothing listens on now (for programs that cannot be told to take port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** `pid` and all its descendants, parents first. */
export function treePids(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (!f) continue;
    const ppid = Number(f[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** Fields of /proc/PID/stat after the command name (index 0 = state), or undefined when the process is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** User + system CPU of the process tree, µs. */
export function treeCpuMicros(pid: number): number {
  let ticks = 0;
  for (const p of treePids(pid)) {
    const f = statFields(p);
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks * 1e6) / TICKS;
}

/** Resident memory of the process tree, bytes. */
export function treeRssBytes(pid: number): number {
  let pages = 0;
  for (const p of treePids(pid)) {
    try {
      pages += Number(readFileSync(`/proc/${p}/statm`, 'utf8').split(' ')[1]);
    } catch {
      // gone
    }
  }
  return pages * PAGE;
}

/** Stops a process and removes its log (an access log at 10,000 req/s is large). */
export async function stopAndClean(p: Proc | undefined): Promise<void> {
  if (!p) return;
  await p.stop();
  rmSync(p.logFile, { force: true });
}
