// Amounts (tokens, requests) reserved over a running window of time. Used by
// the gateway to pace what it sends each target, and by the simulator for
// Azure's running token minute.

export class SlidingWindow {
  readonly windowMs: number;
  readonly capacity: number;
  #times: number[] = [];
  #amounts: number[] = [];
  #head = 0;
  #used = 0;

  constructor(capacity: number, windowMs: number) {
    this.capacity = capacity;
    this.windowMs = windowMs;
  }

  /** What is reserved in the window at `now`. */
  used(now: number): number {
    this.#expire(now);
    return this.#used;
  }

  /** 0 when `amount` fits now, else ms until enough leaves the window for it to fit. */
  waitFor(amount: number, now: number): number {
    this.#expire(now);
    if (this.#used + amount <= this.capacity) return 0;
    if (amount > this.capacity) return this.windowMs;
    let freed = 0;
    for (let i = this.#head; i < this.#times.length; i++) {
      freed += this.#amounts[i];
      if (this.#used - freed + amount <= this.capacity) return this.#times[i] + this.windowMs - now;
    }
    return this.windowMs;
  }

  /** ms until the oldest reservation leaves the window (0 when empty). */
  nextExpiry(now: number): number {
    this.#expire(now);
    return this.#head < this.#times.length ? this.#times[this.#head] + this.windowMs - now : 0;
  }

  add(amount: number, now: number): void {
    this.#expire(now);
    this.#times.push(now);
    this.#amounts.push(amount);
    this.#used += amount;
  }

  reset(): void {
    this.#times = [];
    this.#amounts = [];
    this.#head = 0;
    this.#used = 0;
  }

  #expire(now: number): void {
    const cutoff = now - this.windowMs;
    while (this.#head < this.#times.length && this.#times[this.#head] <= cutoff) {
      this.#used -= this.#amounts[this.#head];
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#amounts = this.#amounts.slice(this.#head);
      this.#head = 0;
    }
  }
}
