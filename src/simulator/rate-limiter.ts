// Azure's admission control for one deployment: a request costs its estimated
// tokens in a running 60-second window, and requests are counted in 10-second
// windows of RPM/6.

const TOKEN_WINDOW_MS = 60_000;
const REQUEST_WINDOW_MS = 10_000;

export type Admission =
  | { readonly ok: true; readonly remainingRequests: number; readonly remainingTokens: number }
  | {
      readonly ok: false;
      readonly reason: 'tokens' | 'requests';
      /** when this request could be admitted */
      readonly retryAfterMs: number;
      readonly resetRequestsMs: number;
      readonly resetTokensMs: number;
      readonly remainingRequests: number;
      readonly remainingTokens: number;
    };

export class RateLimiter {
  readonly tpm: number;
  readonly requestsPerWindow: number;
  #times: number[] = [];
  #costs: number[] = [];
  #head = 0;
  #used = 0;
  #windowStart = 0;
  #windowCount = 0;

  constructor(tpm: number, rpm: number) {
    this.tpm = tpm;
    this.requestsPerWindow = Math.max(1, Math.floor(rpm / 6));
  }

  admit(cost: number, now = Date.now()): Admission {
    this.#expire(now);
    const windowStart = now - (now % REQUEST_WINDOW_MS);
    if (windowStart !== this.#windowStart) {
      this.#windowStart = windowStart;
      this.#windowCount = 0;
    }
    const resetRequestsMs = windowStart + REQUEST_WINDOW_MS - now;
    const requestsFull = this.#windowCount >= this.requestsPerWindow;
    const tokensFull = this.#used + cost > this.tpm;
    if (requestsFull || tokensFull) {
      const resetTokensMs = tokensFull ? this.#tokensFreeIn(cost, now) : 0;
      return {
        ok: false,
        reason: tokensFull ? 'tokens' : 'requests',
        retryAfterMs: Math.max(requestsFull ? resetRequestsMs : 0, resetTokensMs),
        resetRequestsMs,
        resetTokensMs: tokensFull ? resetTokensMs : this.#nextExpiryIn(now),
        remainingRequests: Math.max(0, this.requestsPerWindow - this.#windowCount),
        remainingTokens: Math.max(0, this.tpm - this.#used),
      };
    }
    this.#windowCount++;
    this.#times.push(now);
    this.#costs.push(cost);
    this.#used += cost;
    return {
      ok: true,
      remainingRequests: this.requestsPerWindow - this.#windowCount,
      remainingTokens: this.tpm - this.#used,
    };
  }

  /** What is left in the current windows, without admitting anything. */
  remaining(now = Date.now()): { requests: number; tokens: number } {
    this.#expire(now);
    const inWindow = now - (now % REQUEST_WINDOW_MS) === this.#windowStart ? this.#windowCount : 0;
    return { requests: Math.max(0, this.requestsPerWindow - inWindow), tokens: Math.max(0, this.tpm - this.#used) };
  }

  reset(): void {
    this.#times = [];
    this.#costs = [];
    this.#head = 0;
    this.#used = 0;
    this.#windowCount = 0;
  }

  #expire(now: number): void {
    const cutoff = now - TOKEN_WINDOW_MS;
    while (this.#head < this.#times.length && this.#times[this.#head] <= cutoff) {
      this.#used -= this.#costs[this.#head];
      this.#head++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#costs = this.#costs.slice(this.#head);
      this.#head = 0;
    }
  }

  /** ms until enough reservations leave the window for `cost` to fit. */
  #tokensFreeIn(cost: number, now: number): number {
    if (cost > this.tpm) return TOKEN_WINDOW_MS;
    let freed = 0;
    for (let i = this.#head; i < this.#times.length; i++) {
      freed += this.#costs[i];
      if (this.#used - freed + cost <= this.tpm) return this.#times[i] + TOKEN_WINDOW_MS - now;
    }
    return TOKEN_WINDOW_MS;
  }

  #nextExpiryIn(now: number): number {
    return this.#head < this.#times.length ? this.#times[this.#head] + TOKEN_WINDOW_MS - now : 0;
  }
}
