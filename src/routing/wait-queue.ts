// Requests waiting for a target of a deployment to come back (queue.maxWaitMs
// > 0): first in, first served. One timer wakes the line when the earliest
// waiter may be served; waiters are offered a target in arrival order, and
// one that still cannot get one keeps its place.
import type { Choice } from './router.ts';

type None = Extract<Choice, { target: undefined }>;

interface Waiter {
  readonly tryPick: (now: number) => Choice;
  readonly deadline: number;
  nextAt: number;
  last: None;
  readonly resolve: (c: Choice) => void;
}

export class WaitQueue {
  readonly #max: number;
  #waiters: Waiter[] = [];
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  constructor(maxQueued: number) {
    this.#max = maxQueued;
  }

  get length(): number {
    return this.#waiters.length;
  }

  /**
   * Waits in line until `tryPick` yields a target, or until `deadline`, or
   * until `abort` is called. Resolves with the target's choice, or with the
   * last "none" (its backAt tells the client when to come back).
   */
  wait(tryPick: (now: number) => Choice, first: None, deadline: number): { choice: Promise<Choice>; abort: () => void } {
    if (this.#waiters.length >= this.#max || first.backAt > deadline) {
      return { choice: Promise.resolve(first), abort: () => {} };
    }
    let waiter!: Waiter;
    const choice = new Promise<Choice>((resolve) => {
      waiter = { tryPick, deadline, nextAt: first.backAt, last: first, resolve };
    });
    this.#waiters.push(waiter);
    this.#schedule();
    return {
      choice,
      abort: () => {
        if (this.#remove(waiter)) waiter.resolve(waiter.last);
      },
    };
  }

  close(): void {
    clearTimeout(this.#timer);
    for (const w of this.#waiters) w.resolve(w.last);
    this.#waiters = [];
  }

  #remove(w: Waiter): boolean {
    const i = this.#waiters.indexOf(w);
    if (i === -1) return false;
    this.#waiters.splice(i, 1);
    this.#schedule();
    return true;
  }

  #schedule(): void {
    let at = Infinity;
    for (const w of this.#waiters) at = Math.min(at, w.nextAt, w.deadline);
    if (at === this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    if (at === Infinity) return;
    this.#timer = setTimeout(() => this.#wake(), Math.max(0, at - Date.now()));
    this.#timer.unref();
  }

  #wake(): void {
    this.#timerAt = Infinity;
    const now = Date.now();
    const keep: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.nextAt <= now) {
        const c = w.tryPick(now);
        if (c.target) {
          w.resolve(c);
          continue;
        }
        w.last = c;
        w.nextAt = c.backAt;
      }
      if (w.deadline <= now || w.nextAt > w.deadline) {
        w.resolve(w.last);
        continue;
      }
      keep.push(w);
    }
    this.#waiters = keep;
    this.#schedule();
  }
}
