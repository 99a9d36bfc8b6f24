// `--profile`: aoai-gateway (everything on) under the concurrency-50 load,
// plain then streamed, with `node --cpu-prof`; the profile's functions by
// self time, so that what to make cheaper is named.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tempFile } from './processes.ts';
import { loadRun } from './compare-load.ts';
import type { Target, Upstreams } from './compare-targets.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  readonly fn: string;
  readonly where: string;
  readonly ms: number;
  readonly pct: number;
}

export async function profileGateway(target: Target, up: Upstreams, o: { durationMs: number; loadCpu: number; top: number }): Promise<{ file: string; top: SelfTime[] }> {
  const dir = tempFile(`cpu-profile-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  const running = await target.start(up, { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] });
  try {
    for (const stream of [false, true]) {
      await loadRun(
        { url: running.url, path: running.path, headers: running.headers, body: running.body(stream), concurrency: 50, durationMs: o.durationMs, warmupMs: 1000 },
        running.pid,
        o.loadCpu,
      );
    }
  } finally {
    // a clean exit writes the profile: SIGTERM, then the tree is killed if it lingers
    if (running.pid !== undefined) process.kill(running.pid, 'SIGTERM');
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline && !readdirSync(dir).some((f) => f.endsWith('.cpuprofile'))) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 1000));
    await running.stop();
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile was written to ${dir}`);
  return { file: `${dir}/${file}`, top: selfTimes(JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as CpuProfile, o.top) };
}

/** Self time per function (name + file:line), largest first, as shares of the busy time. */
export function selfTimes(p: CpuProfile, top: number): SelfTime[] {
  const byNode = new Map<number, ProfileNode>(p.nodes.map((n) => [n.id, n]));
  const us = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const n = byNode.get(p.samples[i]);
    const dt = p.timeDeltas[i] ?? 0;
    // idle time is the load's, not the gateway's: shares are of the time it was busy
    if (!n || n.callFrame.functionName === '(idle)') continue;
    total += dt;
    const cf = n.callFrame;
    const key = `${cf.functionName || '(anonymous)'}\t${cf.url.replace(/^file:\/\/.*?\/(src|node_modules)\//, '$1/')}:${cf.lineNumber + 1}`;
    us.set(key, (us.get(key) ?? 0) + dt);
  }
  return [...us]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, t]) => {
      const [fn, where] = key.split('\t');
      return { fn, where, ms: t / 1000, pct: (t / total) * 100 };
    });
}
