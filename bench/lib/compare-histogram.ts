// A latency histogram of fixed size that child processes fill and the
// parent merges: 10 µs steps below 100 ms, 1 ms steps up to 10 minutes
// (beyond: counted in the last step). Sent over IPC as its non-empty steps.

const FINE_MS = 0.01;
const FINE_STEPS = 10_000; // 0 … 100 ms
const COARSE_MS = 1;
const COARSE_STEPS = 600_000 - 100; // 100 ms … 600 s

export type SparseHistogram = [step: number, count: number][];

export class Histogram {
  readonly #steps = new Uint32Array(FINE_STEPS + COARSE_STEPS);
  count = 0;
  max = 0;
  /** below 0: the clocks of sender and receiver disagree (counted, not kept) */
  negative = 0;

  add(ms: number): void {
    if (!(ms >= 0)) {
      this.negative++;
      return;
    }
    const i = ms < FINE_STEPS * FINE_MS ? Math.floor(ms / FINE_MS) : FINE_STEPS + Math.min(COARSE_STEPS - 1, Math.floor((ms - FINE_STEPS * FINE_MS) / COARSE_MS));
    this.#steps[i]++;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  toJSON(): { steps: SparseHistogram; max: number; negative: number } {
    const steps: SparseHistogram = [];
    for (let i = 0; i < this.#steps.length; i++) if (this.#steps[i]) steps.push([i, this.#steps[i]]);
    return { steps, max: this.max, negative: this.negative };
  }

  merge(h: { steps: SparseHistogram; max: number; negative: number }): void {
    for (const [i, c] of h.steps) {
      this.#steps[i] += c;
      this.count += c;
    }
    this.max = Math.max(this.max, h.max);
    this.negative += h.negative;
  }

  /** the upper edge of the step holding quantile q, ms */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const want = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.#steps.length; i++) {
      seen += this.#steps[i];
      if (seen >= want) return i < FINE_STEPS ? (i + 1) * FINE_MS : FINE_STEPS * FINE_MS + (i - FINE_STEPS + 1) * COARSE_MS;
    }
    return this.max;
  }
}
