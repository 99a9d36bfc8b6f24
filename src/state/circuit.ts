// A target's circuit: closed (traffic flows), open (none, until a time), and
// half-open (exactly one trial request decides). Calls and failures are
// counted over a running window of buckets. The same state machine runs in
// Redis (redis-scripts.ts); keep the two alike.
import { BucketWindow, type WindowSpec } from './window.ts';

export interface BreakerSpec {
  /** a count, or a share of calls in percent when `percent` is set */
  readonly threshold: number;
  readonly percent: boolean;
  readonly minimumCalls: number;
  readonly windowMs: number;
  readonly tripMs: number;
  readonly acceptRetryAfter: boolean;
  /** how long a half-open trial may run before another may start (its replica may have died) */
  readonly trialLeaseMs: number;
}

export type CircuitState = 'closed' | 'open' | 'half-open';

export class Circuit {
  state: CircuitState = 'closed';
  openUntil = 0;
  /** while a half-open trial runs: when its lease ends */
  trialUntil = 0;
  readonly #calls = new BucketWindow();
  readonly #failures = new BucketWindow();

  /** When a request may pass: now, or when the circuit opens up (or the running trial's lease ends). */
  availableAt(spec: BreakerSpec, now: number): { at: number; state: CircuitState } {
    if (this.state === 'open' && now >= this.openUntil) {
      this.state = 'half-open';
      this.trialUntil = 0;
    }
    if (this.state === 'open') return { at: this.openUntil, state: 'open' };
    if (this.state === 'half-open' && this.trialUntil > now) return { at: this.trialUntil, state: 'half-open' };
    return { at: now, state: this.state };
  }

  /** A request is sent: in half-open it becomes the trial. */
  onSend(spec: BreakerSpec, now: number): void {
    if (this.availableAt(spec, now).state === 'half-open') this.trialUntil = now + spec.trialLeaseMs;
  }

  /** Records a finished call ('abandoned': the client left, no verdict); `retryAfterMs` is what a failing answer asked for. */
  record(spec: BreakerSpec, outcome: 'success' | 'failure' | 'abandoned', now: number, retryAfterMs?: number): void {
    const { state } = this.availableAt(spec, now);
    if (state === 'open') return; // a call that started before the trip
    if (state === 'half-open') {
      this.trialUntil = 0;
      if (outcome === 'failure') this.#open(spec, now, retryAfterMs);
      else if (outcome === 'success') this.#close();
      return;
    }
    if (outcome === 'abandoned') return;
    const w: WindowSpec = { capacity: Infinity, windowMs: spec.windowMs };
    this.#calls.add(w, 1, now);
    if (outcome === 'success') return;
    this.#failures.add(w, 1, now);
    const failures = this.#failures.used(w, now);
    const calls = this.#calls.used(w, now);
    const tripped = spec.percent ? calls >= spec.minimumCalls && (failures * 100) / calls >= spec.threshold : failures >= spec.threshold;
    if (tripped) this.#open(spec, now, retryAfterMs);
  }

  #open(spec: BreakerSpec, now: number, retryAfterMs: number | undefined): void {
    this.state = 'open';
    this.openUntil = now + (spec.acceptRetryAfter && retryAfterMs !== undefined ? retryAfterMs : spec.tripMs);
    this.#reset();
  }

  #close(): void {
    this.state = 'closed';
    this.#reset();
  }

  #reset(): void {
    this.#calls.clear();
    this.#failures.clear();
  }
}
