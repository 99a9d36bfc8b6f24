// Throughput, latency and CPU per request of every target, plain and
// streamed, in interleaved rounds (every target once per round, rounds one
// after another): req/s and p50/p99 at concurrency 50, p50/p99 at
// concurrency 1, the proxy tree's CPU per request at concurrency 50. Added
// latency is taken against the direct run of the same round, then the
// median over rounds is kept.
import { median } from './rounds.ts';
import { loadRun, type LoadRun } from './compare-load.ts';
import type { Target, Upstreams } from './compare-targets.ts';

export interface RpsPlan {
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly rounds: number;
  readonly concurrency: number;
  readonly loadCpu: number;
}

export type Mode = 'plain' | 'stream';

interface One {
  loaded: LoadRun;
  single: LoadRun;
}

export interface RpsRow {
  readonly id: string;
  readonly name: string;
  readonly mode: Mode;
  na?: string;
  rps?: number;
  cpuUs?: number;
  /** absolute latency, ms */
  p50c1?: number;
  p99c1?: number;
  p50cN?: number;
  p99cN?: number;
  /** minus the direct run of the same round, median over rounds, ms */
  addedP50c1?: number;
  addedP99c1?: number;
  addedP50cN?: number;
  addedP99cN?: number;
  /** requests that did not get a 200, and transport errors, over all runs */
  bad?: number;
}

export async function runRps(list: readonly Target[], up: Upstreams, plan: RpsPlan): Promise<RpsRow[]> {
  const modes: Mode[] = ['plain', 'stream'];
  // runs[target][mode][round]
  const runs = list.map(() => modes.map((): (One | undefined)[] => []));
  const failures = new Map<string, string>();
  for (let round = 0; round < plan.rounds; round++) {
    for (const [ti, t] of list.entries()) {
      if (t.na || failures.has(t.id)) continue;
      let running;
      try {
        running = await t.start(up, {});
      } catch (err) {
        failures.set(t.id, `n/a: did not start (${(err as Error).message.split('\n')[0].slice(0, 100)})`);
        process.stderr.write(`${t.name}: ${(err as Error).message}\n`);
        continue;
      }
      try {
        for (const [mi, mode] of modes.entries()) {
          const opts = (concurrency: number, durationMs: number) => ({
            url: running.url,
            path: running.path,
            headers: running.headers,
            body: running.body(mode === 'stream'),
            concurrency,
            durationMs,
            warmupMs: plan.warmupMs,
          });
          const loaded = await loadRun(opts(plan.concurrency, plan.durationMs), running.pid, plan.loadCpu);
          const single = await loadRun(opts(1, plan.durationMs / 2), running.pid, plan.loadCpu);
          runs[ti][mi][round] = { loaded, single };
          const bad = badCount(loaded) + badCount(single);
          process.stderr.write(
            `round ${round + 1}/${plan.rounds} ${mode.padEnd(6)} ${t.name.padEnd(40)} ${loaded.rps.toFixed(0).padStart(6)} req/s  cpu ${loaded.cpuPerRequestUs?.toFixed(0) ?? '-'} µs/req  p50 c1 ${single.p50.toFixed(3)} ms  p99 c1 ${single.p99.toFixed(3)} ms${bad ? `  NOT 200: ${bad} ${JSON.stringify(loaded.statuses)} errors ${loaded.errors + single.errors}` : ''}\n`,
          );
        }
      } finally {
        await running.stop();
      }
    }
  }
  const directIndex = list.findIndex((t) => t.id === 'direct');
  const rows: RpsRow[] = [];
  for (const [ti, t] of list.entries()) {
    for (const [mi, mode] of modes.entries()) {
      const row: RpsRow = { id: t.id, name: t.name, mode, na: t.na ?? failures.get(t.id) };
      const mine = runs[ti][mi];
      const done = mine.filter((x): x is One => x !== undefined);
      if (!row.na && done.length) {
        const direct = runs[directIndex][mi];
        const m = (f: (x: One) => number) => median(done.map(f));
        const added = (f: (x: One) => number) => {
          const diffs = mine.flatMap((x, round) => (x && direct[round] ? [f(x) - f(direct[round]!)] : []));
          return diffs.length ? median(diffs) : NaN;
        };
        Object.assign(row, {
          rps: m((x) => x.loaded.rps),
          cpuUs: t.id === 'direct' ? undefined : m((x) => x.loaded.cpuPerRequestUs ?? NaN),
          p50c1: m((x) => x.single.p50),
          p99c1: m((x) => x.single.p99),
          p50cN: m((x) => x.loaded.p50),
          p99cN: m((x) => x.loaded.p99),
          addedP50c1: added((x) => x.single.p50),
          addedP99c1: added((x) => x.single.p99),
          addedP50cN: added((x) => x.loaded.p50),
          addedP99cN: added((x) => x.loaded.p99),
          bad: done.reduce((a, x) => a + badCount(x.loaded) + badCount(x.single), 0),
        });
      }
      rows.push(row);
    }
  }
  return rows;
}

function badCount(r: LoadRun): number {
  return r.errors + Object.entries(r.statuses).reduce((a, [s, n]) => (s === '200' ? a : a + n), 0);
}
