// A target's circuit: closed (traffic flows), open (none, until a time), and
// half-open (exactly one trial request decides). Failures are counted over a
// sliding window, as a count or as a share of calls.

export interface BreakerConfig {
  /** a count, or a share of calls in percent when `percent` is set */
  readonly threshold: number;
  readonly percent: boolean;
  readonly minimumCalls: number;
  readonly windowMs: number;
  readonly tripMs: number;
  readonly acceptRetryAfter: boolean;
}

export type CircuitState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  readonly #cfg: BreakerConfig;
  #state: CircuitState = 'closed';
  #openUntil = 0;
  #trial = false;
  /** call times and whether each failed, oldest first, within the window */
  #times: number[] = [];
  #failed: boolean[] = [];

  constructor(cfg: BreakerConfig) {
    this.#cfg = cfg;
  }

  state(now: number): CircuitState {
    if (this.#state === 'open' && now >= this.#openUntil) {
      this.#state = 'half-open';
      this.#trial = false;
    }
    return this.#state;
  }

  get openUntil(): number {
    return this.#openUntil;
  }

  /** When a request may pass: `now` if it may now, a later time if open, Infinity while a trial runs. */
  availableAt(now: number): number {
    const s = this.state(now);
    if (s === 'closed') return now;
    if (s === 'open') return this.#openUntil;
    return this.#trial ? Infinity : now;
  }

  /** A request was sent: in half-open it is the trial. */
  onSend(now: number): void {
    if (this.state(now) === 'half-open') this.#trial = true;
  }

  /** The trial ended without a verdict (the client left): another may try. */
  onAbandon(): void {
    this.#trial = false;
  }

  /** Records a finished call. `retryAfterMs` is what a failing answer asked for. */
  record(failed: boolean, now: number, retryAfterMs?: number): void {
    const s = this.state(now);
    if (s === 'open') return; // a call that started before the trip
    if (s === 'half-open') {
      this.#trial = false;
      if (failed) this.#open(now, retryAfterMs);
      else this.#close();
      return;
    }
    this.#times.push(now);
    this.#failed.push(failed);
    this.#expire(now);
    if (failed && this.#tripped()) this.#open(now, retryAfterMs);
  }

  #tripped(): boolean {
    const calls = this.#times.length;
    let failures = 0;
    for (const f of this.#failed) if (f) failures++;
    if (!this.#cfg.percent) return failures >= this.#cfg.threshold;
    return calls >= this.#cfg.minimumCalls && (failures * 100) / calls >= this.#cfg.threshold;
  }

  #open(now: number, retryAfterMs: number | undefined): void {
    const ms = this.#cfg.acceptRetryAfter && retryAfterMs !== undefined ? retryAfterMs : this.#cfg.tripMs;
    this.#state = 'open';
    this.#openUntil = now + ms;
    this.#times = [];
    this.#failed = [];
  }

  #close(): void {
    this.#state = 'closed';
    this.#times = [];
    this.#failed = [];
  }

  #expire(now: number): void {
    const cutoff = now - this.#cfg.windowMs;
    let drop = 0;
    while (drop < this.#times.length && this.#times[drop] <= cutoff) drop++;
    if (drop > 0) {
      this.#times.splice(0, drop);
      this.#failed.splice(0, drop);
    }
  }
}
