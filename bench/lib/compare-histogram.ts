// Latencies in ms that child processes record and the parent merges: the
// bench command's histogram (src/loadtest/histogram.ts) counting
// microseconds, sent over IPC as its non-empty buckets.
import { Histogram as Log } from '../../src/loadtest/histogram.ts';

export interface SentHistogram {
  readonly buckets: [number, number][];
  readonly sumUs: number;
  readonly maxUs: number;
  readonly negative: number;
}

export class Histogram {
  readonly #us = new Log();
  /** below 0: the clocks of sender and receiver disagree (counted, not kept) */
  negative = 0;

  get count(): number {
    return this.#us.total;
  }

  /** ms */
  get max(): number {
    return this.#us.max / 1000;
  }

  add(ms: number): void {
    if (!(ms >= 0)) this.negative++;
    else this.#us.record(ms * 1000);
  }

  toJSON(): SentHistogram {
    return { buckets: this.#us.toSparse(), sumUs: this.#us.sum, maxUs: this.#us.max, negative: this.negative };
  }

  merge(h: SentHistogram): void {
    this.#us.addSparse(h.buckets, h.sumUs, h.maxUs);
    this.negative += h.negative;
  }

  /** ms; within 1.6% */
  quantile(q: number): number {
    return this.#us.quantile(q) / 1000;
  }
}
