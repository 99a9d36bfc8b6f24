// Azure's admission control for one deployment: a request costs its estimated
// tokens in a running 60-second window, and requests are counted in 10-second
// windows of RPM/6.
import { SlidingWindow } from '../limits/sliding-window.ts';

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
  readonly #tokens: SlidingWindow;
  #windowStart = 0;
  #windowCount = 0;

  constructor(tpm: number, rpm: number) {
    this.tpm = tpm;
    this.requestsPerWindow = Math.max(1, Math.floor(rpm / 6));
    this.#tokens = new SlidingWindow(tpm, TOKEN_WINDOW_MS);
  }

  admit(cost: number, now = Date.now()): Admission {
    const windowStart = now - (now % REQUEST_WINDOW_MS);
    if (windowStart !== this.#windowStart) {
      this.#windowStart = windowStart;
      this.#windowCount = 0;
    }
    const resetRequestsMs = windowStart + REQUEST_WINDOW_MS - now;
    const requestsFull = this.#windowCount >= this.requestsPerWindow;
    const tokensWait = this.#tokens.waitFor(cost, now);
    if (requestsFull || tokensWait > 0) {
      return {
        ok: false,
        reason: tokensWait > 0 ? 'tokens' : 'requests',
        retryAfterMs: Math.max(requestsFull ? resetRequestsMs : 0, tokensWait),
        resetRequestsMs,
        resetTokensMs: tokensWait > 0 ? tokensWait : this.#tokens.nextExpiry(now),
        remainingRequests: Math.max(0, this.requestsPerWindow - this.#windowCount),
        remainingTokens: Math.max(0, this.tpm - this.#tokens.used(now)),
      };
    }
    this.#windowCount++;
    this.#tokens.add(cost, now);
    return {
      ok: true,
      remainingRequests: this.requestsPerWindow - this.#windowCount,
      remainingTokens: this.tpm - this.#tokens.used(now),
    };
  }

  /** What is left in the current windows, without admitting anything. */
  remaining(now = Date.now()): { requests: number; tokens: number } {
    const inWindow = now - (now % REQUEST_WINDOW_MS) === this.#windowStart ? this.#windowCount : 0;
    return {
      requests: Math.max(0, this.requestsPerWindow - inWindow),
      tokens: Math.max(0, this.tpm - this.#tokens.used(now)),
    };
  }

  reset(): void {
    this.#tokens.reset();
    this.#windowCount = 0;
  }
}
