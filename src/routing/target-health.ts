// What the gateway knows of one target, and whether it can take a request
// now: cooldown after a 429, circuit, passive rate-limit thresholds, its
// declared TPM/RPM budget, active probes and an operator's drain.
import type { IncomingHttpHeaders } from 'node:http';
import { SlidingWindow } from '../limits/sliding-window.ts';
import { CircuitBreaker, type BreakerConfig } from './circuit-breaker.ts';
import { remaining, retryDelayMs } from './retry-headers.ts';
import type { Target } from './target.ts';

/** Why a target is not available (or that it is). */
export type Condition = 'available' | 'cooling' | 'circuit-open' | 'half-open' | 'probe-failed' | 'passive' | 'over-budget' | 'drained';

/** Conditions that mean "throttled" (a client gets 429) rather than "broken" (503). */
export const THROTTLED: ReadonlySet<Condition> = new Set(['cooling', 'passive', 'over-budget']);

export interface HealthConfig {
  readonly cooldownDefaultMs: number;
  readonly cooldownMaxMs: number;
  readonly remainingRequestsBelow: number;
  readonly remainingTokensBelow: number;
  readonly breaker: BreakerConfig;
  /** statuses that count as failures for the circuit */
  readonly failureStatus: (status: number) => boolean;
}

/** The result of one attempt, as the target's health sees it. */
export type AttemptResult =
  | { readonly kind: 'response'; readonly status: number; readonly headers: IncomingHttpHeaders; readonly ttfbMs: number }
  | { readonly kind: 'failure' }
  /** a stream that broke after it started */
  | { readonly kind: 'broken' }
  /** the client left before an answer: no verdict */
  | { readonly kind: 'abandoned' };

/** Azure counts tokens over a running minute and requests over 10 s; the margin absorbs jitter between our clock and Azure's admission. */
const TOKEN_WINDOW_MS = 60_000;
const REQUEST_WINDOW_MS = 10_000;
const PACING_MARGIN_MS = 500;
const SHORT_WINDOW_MS = 10_000;
const LATENCY_ALPHA = 0.3;

export class TargetHealth {
  readonly target: Target;
  readonly #cfg: HealthConfig;
  readonly breaker: CircuitBreaker;
  readonly tokens: SlidingWindow | undefined;
  readonly requests: SlidingWindow | undefined;
  /** tokens in 10 s, for targets that spread their budget evenly (Target.smooth) */
  readonly evenly: SlidingWindow | undefined;
  cooldownUntil = 0;
  cooldownsTaken = 0;
  drained = false;
  inFlight = 0;
  lastRemainingRequests: number | undefined;
  lastRemainingTokens: number | undefined;
  passiveUntil = 0;
  probeDownUntil = 0;
  /** EWMA of time to first byte, ms */
  latencyMs: number | undefined;
  lastSuccessAt = 0;

  constructor(target: Target, cfg: HealthConfig) {
    this.target = target;
    this.#cfg = cfg;
    this.breaker = new CircuitBreaker(cfg.breaker);
    this.tokens = target.tpm ? new SlidingWindow(target.tpm, TOKEN_WINDOW_MS + PACING_MARGIN_MS) : undefined;
    this.requests = target.rpm ? new SlidingWindow(Math.max(1, Math.floor(target.rpm / 6)), REQUEST_WINDOW_MS + PACING_MARGIN_MS) : undefined;
    this.evenly = target.smooth && target.tpm ? new SlidingWindow(target.tpm / 6, SHORT_WINDOW_MS) : undefined;
  }

  /** When the target can take a request costing `cost` tokens (≤ now: it can now), and the reason it is waited for. */
  availability(now: number, cost: number): { at: number; condition: Condition } {
    if (this.drained) return { at: Infinity, condition: 'drained' };
    let at = now;
    let condition: Condition = 'available';
    const later = (t: number, c: Condition) => {
      if (t > at) {
        at = t;
        condition = c;
      }
    };
    const circuit = this.breaker.availableAt(now);
    later(circuit, circuit === Infinity ? 'half-open' : 'circuit-open');
    later(this.cooldownUntil, 'cooling');
    later(this.probeDownUntil, 'probe-failed');
    later(this.passiveUntil, 'passive');
    const wait = Math.max(this.tokens?.waitFor(cost, now) ?? 0, this.requests?.waitFor(1, now) ?? 0, this.evenly?.waitFor(cost, now) ?? 0);
    if (wait > 0) later(now + wait, 'over-budget');
    return { at, condition };
  }

  /** Tokens still to spend in the current window: declared budget left, or the last remaining-tokens upstream reported. */
  headroom(now: number): number | undefined {
    const budget = this.tokens ? this.tokens.capacity - this.tokens.used(now) : undefined;
    const reported = this.lastRemainingTokens;
    if (budget === undefined) return reported;
    return reported === undefined ? budget : Math.min(budget, reported);
  }

  /** A request is being sent: it holds its budget and a place in flight. */
  reserve(cost: number, now: number): void {
    this.inFlight++;
    this.tokens?.add(cost, now);
    this.requests?.add(1, now);
    this.evenly?.add(cost, now);
    this.breaker.onSend(now);
  }

  finish(result: AttemptResult, now: number): void {
    this.inFlight--;
    switch (result.kind) {
      case 'abandoned':
        this.breaker.onAbandon();
        return;
      case 'failure':
      case 'broken':
        this.breaker.record(true, now);
        return;
      case 'response': {
        const { status, headers } = result;
        this.#readRemaining(headers, now);
        const failed = this.#cfg.failureStatus(status);
        const delay = status === 429 || failed ? retryDelayMs(headers, now) : undefined;
        if (status === 429) this.cool(delay, now);
        this.breaker.record(failed, now, delay);
        if (status < 500 && status !== 429) {
          this.lastSuccessAt = now;
          this.latencyMs = this.latencyMs === undefined ? result.ttfbMs : this.latencyMs + LATENCY_ALPHA * (result.ttfbMs - this.latencyMs);
        }
      }
    }
  }

  /**
   * The result of an active probe (undefined: no answer in time). A target
   * that answers at all, short of a 5xx, is alive: even a 400 (a probe that
   * does not suit an embeddings model) shows that.
   */
  probed(answer: { status: number; headers: IncomingHttpHeaders; ms: number } | undefined, intervalMs: number, now: number): void {
    if (answer?.status === 429) {
      this.cool(retryDelayMs(answer.headers, now), now);
      return;
    }
    const alive = answer !== undefined && answer.status < 500 && answer.status !== 401 && answer.status !== 403 && answer.status !== 404;
    this.probeDownUntil = alive ? 0 : now + intervalMs;
    if (answer) this.#readRemaining(answer.headers, now);
  }

  /** Cools the target for `delayMs` (else the default), capped; a running longer cooldown is kept. */
  cool(delayMs: number | undefined, now: number): void {
    const ms = Math.min(delayMs ?? this.#cfg.cooldownDefaultMs, this.#cfg.cooldownMaxMs);
    const until = now + ms;
    if (until > this.cooldownUntil) this.cooldownUntil = until;
    this.cooldownsTaken++;
  }

  #readRemaining(headers: IncomingHttpHeaders, now: number): void {
    const req = remaining(headers, 'x-ratelimit-remaining-requests');
    const tok = remaining(headers, 'x-ratelimit-remaining-tokens');
    if (req !== undefined) this.lastRemainingRequests = req;
    if (tok !== undefined) this.lastRemainingTokens = tok;
    // What the gateway paces itself (a declared rpm/tpm) it does not also judge by the upstream's count.
    const low =
      (req !== undefined && !this.requests && req < this.#cfg.remainingRequestsBelow) ||
      (tok !== undefined && !this.tokens && tok < this.#cfg.remainingTokensBelow);
    if (!low) {
      if (req !== undefined || tok !== undefined) this.passiveUntil = 0;
      return;
    }
    // Out until its window resets: the reset header when there is one, else the default cooldown.
    this.passiveUntil = now + Math.min(retryDelayMs(headers, now) ?? this.#cfg.cooldownDefaultMs, this.#cfg.cooldownMaxMs);
  }
}
