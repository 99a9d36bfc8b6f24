// `aoai-gateway bench`: a load test against the gateway or any Azure OpenAI
// endpoint. Exit 0 when it ran (upstream errors are in the report), 2 on bad
// flags, 1 when no request got an answer.
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { answered, BENCH_HELP, parseBenchOptions, renderHtml, renderTable, startBench, type BenchOptions } from '../loadtest/index.ts';
import { UsageError } from './args.ts';

export async function bench(args: string[]): Promise<number> {
  let o: BenchOptions | 'help';
  try {
    o = parseBenchOptions(args);
    if (o !== 'help' && o.html !== undefined) checkWritable(o.html);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`aoai-gateway bench: ${err.message}\n`);
    return 2;
  }
  if (o === 'help') {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  if (o.key === undefined && !o.quiet) process.stderr.write('aoai-gateway bench: no --key and no $AOAIGW_BENCH_KEY: sending no credentials\n');

  const run = startBench(o, { progress: !o.quiet });
  // The first Ctrl-C stops the run and reports what was measured; a second one quits.
  const onSignal = () => {
    process.once('SIGINT', () => process.exit(130));
    run.engine.interrupt();
  };
  process.once('SIGINT', onSignal);
  const summary = await run.done.finally(() => process.off('SIGINT', onSignal));

  const none = answered(summary) === 0;
  if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else if (!none) process.stdout.write(renderTable(summary));
  if (o.html !== undefined) {
    writeFileSync(o.html, renderHtml(summary));
    if (!o.quiet) process.stderr.write(`report written to ${o.html}\n`);
  }
  if (none) {
    const e = summary.totals.errorExamples;
    const why = e.connection ?? e.timeout ?? e.other ?? 'no request was sent';
    const what = summary.stoppedEarly === 'unreachable' ? 'stopped: ' : '';
    process.stderr.write(`aoai-gateway bench: ${what}no request got an answer from ${summary.target.url} (${summary.totals.requests} tried; ${why})\n`);
    return 1;
  }
  return 0;
}

function checkWritable(file: string): void {
  const dir = dirname(resolve(file));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--html: the folder ${dir} does not exist`);
  if (existsSync(file) && statSync(file).isDirectory()) throw new UsageError(`--html: ${file} is a folder`);
}
