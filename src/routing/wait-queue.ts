// Requests waiting for a target of a deployment to come back (queue.maxWaitMs
// > 0): first in, first served. One timer wakes the line when the earliest
// waiter may be served; waiters are offered a target one after another in
// arrival order, and one that still cannot get one keeps its place.
import type { Choice, None } from './router.ts';

interface Waiter {
  readonly tryPick: (now: number) => Promise<Choice>;
  readonly giveBack: (c: Choice) => void;
  readonly deadline: number;
  nextAt: number;
  last: None;
  done: boolean;
  readonly resolve: (c: Choice) => void;
}

export class WaitQueue {
  /** requests that may wait at most (a reload may change it) */
  max: number;
  #waiters: Waiter[] = [];
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;
  #waking = false;

  constructor(maxQueued: number) {
    this.max = maxQueued;
  }

  get length(): number {
    return this.#waiters.length;
  }

  /**
   * Waits in line until `tryPick` yields a target, or until `deadline`, or
   * until `abort` is called. Resolves with the target's choice, or with the
   * last "none" (its backAt tells the client when to come back). A target
   * picked for a waiter that left meanwhile is handed to `giveBack`.
   */
  wait(
    tryPick: (now: number) => Promise<Choice>,
    giveBack: (c: Choice) => void,
    first: None,
    deadline: number,
  ): { choice: Promise<Choice>; abort: () => void } {
    if (this.#waiters.length >= this.max || first.backAt > deadline) {
      return { choice: Promise.resolve(first), abort: () => {} };
    }
    let waiter!: Waiter;
    const choice = new Promise<Choice>((resolve) => {
      waiter = { tryPick, giveBack, deadline, nextAt: first.backAt, last: first, done: false, resolve };
    });
    this.#waiters.push(waiter);
    this.#schedule();
    return { choice, abort: () => this.#finish(waiter, waiter.last) };
  }

  close(): void {
    clearTimeout(this.#timer);
    for (const w of [...this.#waiters]) this.#finish(w, w.last);
  }

  #finish(w: Waiter, c: Choice): void {
    if (w.done) return;
    w.done = true;
    const i = this.#waiters.indexOf(w);
    if (i !== -1) this.#waiters.splice(i, 1);
    w.resolve(c);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#waking) return;
    let at = Infinity;
    for (const w of this.#waiters) at = Math.min(at, w.nextAt, w.deadline);
    if (at === this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    if (at === Infinity) return;
    this.#timer = setTimeout(() => void this.#wake(), Math.max(0, at - Date.now()));
    this.#timer.unref();
  }

  async #wake(): Promise<void> {
    this.#timerAt = Infinity;
    this.#waking = true;
    try {
      for (const w of [...this.#waiters]) {
        if (w.done) continue;
        const now = Date.now();
        if (w.nextAt <= now) {
          const c = await w.tryPick(now);
          if (w.done) {
            // Left while its turn was being taken: the target it got goes back.
            if (c.target) w.giveBack(c);
            continue;
          }
          if (c.target) {
            this.#finish(w, c);
            continue;
          }
          w.last = c;
          w.nextAt = c.backAt;
        }
        if (w.deadline <= now || w.nextAt > w.deadline) this.#finish(w, w.last);
      }
    } finally {
      this.#waking = false;
      this.#schedule();
    }
  }
}
