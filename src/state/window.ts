// A running window of amounts (tokens, requests, calls) kept in a fixed
// number of time buckets. An amount counts until its bucket's end plus the
// window has passed — never less than the window after it was added — so the
// window admits no more than an exact running window would. The same
// arithmetic runs in Redis (redis-scripts.ts); keep the two alike.

export const BUCKETS = 120;

export interface WindowSpec {
  readonly capacity: number;
  readonly windowMs: number;
}

export function bucketMs(spec: WindowSpec): number {
  return spec.windowMs / BUCKETS;
}

/** When what was added in bucket `b` leaves the window. */
export function expiry(b: number, spec: WindowSpec): number {
  return (b + 1) * bucketMs(spec) + spec.windowMs;
}

export class BucketWindow {
  readonly #slots = BUCKETS + 2;
  readonly #index = new Float64Array(this.#slots).fill(-1);
  readonly #amount = new Float64Array(this.#slots);

  used(spec: WindowSpec, now: number): number {
    let sum = 0;
    for (let i = 0; i < this.#slots; i++) {
      const b = this.#index[i];
      if (b >= 0 && expiry(b, spec) > now) sum += this.#amount[i];
    }
    return sum;
  }

  /** 0 when `amount` fits now, else ms until enough has left the window for it to fit. */
  waitFor(spec: WindowSpec, amount: number, now: number): number {
    const used = this.used(spec, now);
    if (used + amount <= spec.capacity) return 0;
    const live: number[] = [];
    for (let i = 0; i < this.#slots; i++) {
      const b = this.#index[i];
      if (b >= 0 && expiry(b, spec) > now && this.#amount[i] > 0) live.push(i);
    }
    live.sort((x, y) => this.#index[x] - this.#index[y]);
    let freed = 0;
    for (const i of live) {
      freed += this.#amount[i];
      if (used - freed + amount <= spec.capacity) return expiry(this.#index[i], spec) - now;
    }
    return spec.windowMs;
  }

  add(spec: WindowSpec, amount: number, at: number): void {
    const b = Math.floor(at / bucketMs(spec));
    const slot = b % this.#slots;
    if (this.#index[slot] !== b) {
      this.#index[slot] = b;
      this.#amount[slot] = 0;
    }
    this.#amount[slot] += amount;
  }

  clear(): void {
    this.#index.fill(-1);
    this.#amount.fill(0);
  }

  /** Corrects what was added at `at` (an estimate settled to its actual); a bucket already gone is left alone. */
  adjust(spec: WindowSpec, delta: number, at: number): void {
    const b = Math.floor(at / bucketMs(spec));
    const slot = b % this.#slots;
    if (this.#index[slot] === b) this.#amount[slot] = Math.max(0, this.#amount[slot] + delta);
  }
}
