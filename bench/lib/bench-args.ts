// The options every side-by-side benchmark takes: --duration (seconds per
// run), --concurrency, --rounds.
import { parseArgs } from 'node:util';

export function benchArgs(defaults: { duration: number }): { durationMs: number; concurrency: number; rounds: number } {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: String(defaults.duration) },
      concurrency: { type: 'string', default: '50' },
      rounds: { type: 'string', default: '3' },
    },
  });
  return { durationMs: Number(values.duration) * 1000, concurrency: Number(values.concurrency), rounds: Number(values.rounds) };
}
