// The load tool behind `aoai-gateway bench`: options in, a Summary out.
import { LoadEngine } from './engine.ts';
import type { BenchOptions } from './options.ts';
import { Progress } from './progress.ts';
import { planRequests } from './request-plan.ts';
import { Recorder } from './stats.ts';
import { summarise, type Summary } from './summary.ts';

export { parseBenchOptions, BENCH_HELP, type BenchOptions } from './options.ts';
export { renderTable } from './report-table.ts';
export { renderHtml } from './report-html.ts';
export type { Summary, GroupSummary } from './summary.ts';

export interface BenchRun {
  readonly engine: LoadEngine;
  readonly done: Promise<Summary>;
}

/** Starts the load; `progress` draws the live line on stderr while it runs. */
export function startBench(o: BenchOptions, opts: { progress: boolean }): BenchRun {
  const recorder = new Recorder(new URL(o.origin).host);
  const engine = new LoadEngine(o, planRequests(o), recorder);
  const progress = opts.progress ? new Progress(engine, recorder, o.stop, o.warmupMs) : undefined;
  progress?.start();
  const done = engine.run().then(
    (run) => {
      progress?.stop();
      return summarise(o, recorder, run);
    },
    (err: unknown) => {
      progress?.stop();
      throw err;
    },
  );
  return { engine, done };
}

/** Requests that got an HTTP answer (a status), whatever it was. */
export function answered(s: Summary): number {
  const e = s.totals.errors;
  return s.totals.requests - e.connection - e.timeout - e.other;
}
