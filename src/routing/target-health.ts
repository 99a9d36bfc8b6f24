// What this gateway process observes of one target: the rate-limit headers it
// last answered with, active probes, time to first byte, requests in flight.
// What every replica must agree on (cooldown, circuit, budget, drain) is in
// the state store (src/state).
import type { IncomingHttpHeaders } from 'node:http';
import { SlidingWindow } from '../limits/sliding-window.ts';
import { remaining, retryDelayMs } from './retry-headers.ts';
import type { Target } from './target.ts';

export interface LocalHealthConfig {
  readonly cooldownDefaultMs: number;
  readonly cooldownMaxMs: number;
  readonly remainingRequestsBelow: number;
  readonly remainingTokensBelow: number;
}

/** The result of one attempt, as the target's health sees it. */
export type AttemptResult =
  | { readonly kind: 'response'; readonly status: number; readonly headers: IncomingHttpHeaders; readonly ttfbMs: number }
  | { readonly kind: 'failure' }
  /** a stream that broke after it started */
  | { readonly kind: 'broken' }
  /** the client left before an answer: no verdict */
  | { readonly kind: 'abandoned' };

const LATENCY_ALPHA = 0.3;

export class TargetHealth {
  /** the target as the current config has it (a reload may replace it; what was observed stays) */
  target: Target;
  #cfg: LocalHealthConfig;
  /** tokens this process saw the target serve, over the last minute */
  readonly #served = new SlidingWindow(Infinity, 60_000);
  inFlight = 0;
  lastRemainingRequests: number | undefined;
  lastRemainingTokens: number | undefined;
  passiveUntil = 0;
  probeDownUntil = 0;
  /** EWMA of time to first byte, ms */
  latencyMs: number | undefined;
  lastSuccessAt = 0;

  constructor(target: Target, cfg: LocalHealthConfig) {
    this.target = target;
    this.#cfg = cfg;
  }

  /** Takes a reloaded config's view of the target and the thresholds. */
  update(target: Target, cfg: LocalHealthConfig): void {
    this.target = target;
    this.#cfg = cfg;
  }

  countTokens(n: number, now: number): void {
    if (n > 0) this.#served.add(n, now);
  }

  tokensLastMinute(now: number): number {
    return this.#served.used(now);
  }

  /** When this process's own observations let the target serve again (≤ now: they do). */
  localAvailability(): { at: number; condition: 'available' | 'passive' | 'probe-failed' } {
    if (this.probeDownUntil >= this.passiveUntil) return { at: this.probeDownUntil, condition: this.probeDownUntil > 0 ? 'probe-failed' : 'available' };
    return { at: this.passiveUntil, condition: 'passive' };
  }

  /** Updates what this process observed; returns how long the answer asks the target to cool down (a 429), capped. */
  observe(result: AttemptResult, now: number): number | undefined {
    if (result.kind !== 'response') return undefined;
    const { status, headers } = result;
    this.#readRemaining(headers, now);
    if (status < 500 && status !== 429) {
      this.lastSuccessAt = now;
      this.latencyMs = this.latencyMs === undefined ? result.ttfbMs : this.latencyMs + LATENCY_ALPHA * (result.ttfbMs - this.latencyMs);
    }
    return status === 429 ? this.coolMs(retryDelayMs(headers, now)) : undefined;
  }

  /** A cooldown's length: what upstream asked, else the default; at most the maximum. */
  coolMs(delayMs: number | undefined): number {
    return Math.min(delayMs ?? this.#cfg.cooldownDefaultMs, this.#cfg.cooldownMaxMs);
  }

  /**
   * The result of an active probe (undefined: no answer in time). A target
   * that answers at all, short of a 5xx or an auth/route error, is alive:
   * even a 400 (a probe that does not suit an embeddings model) shows it.
   * Returns a cooldown to apply for a 429.
   */
  probed(answer: { status: number; headers: IncomingHttpHeaders } | undefined, intervalMs: number, now: number): number | undefined {
    if (answer?.status === 429) return this.coolMs(retryDelayMs(answer.headers, now));
    const alive = answer !== undefined && answer.status < 500 && answer.status !== 401 && answer.status !== 403 && answer.status !== 404;
    this.probeDownUntil = alive ? 0 : now + intervalMs;
    if (answer) this.#readRemaining(answer.headers, now);
    return undefined;
  }

  #readRemaining(headers: IncomingHttpHeaders, now: number): void {
    const req = remaining(headers, 'x-ratelimit-remaining-requests');
    const tok = remaining(headers, 'x-ratelimit-remaining-tokens');
    if (req !== undefined) this.lastRemainingRequests = req;
    if (tok !== undefined) this.lastRemainingTokens = tok;
    // What the gateway paces itself (a declared rpm/tpm) it does not also judge by the upstream's count.
    const low =
      (req !== undefined && this.target.rpm === undefined && req < this.#cfg.remainingRequestsBelow) ||
      (tok !== undefined && this.target.tpm === undefined && tok < this.#cfg.remainingTokensBelow);
    if (!low) {
      if (req !== undefined || tok !== undefined) this.passiveUntil = 0;
      return;
    }
    // Out until its window resets: the reset header when there is one, else the default cooldown.
    this.passiveUntil = now + this.coolMs(retryDelayMs(headers, now));
  }
}
