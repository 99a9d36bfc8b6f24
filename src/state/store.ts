// The state that changes with every request and that every replica must see
// the same: targets' cooldowns, circuits, budgets and drains, and consumers'
// windows, concurrency and quota. One small interface; an implementation in
// memory (one instance) and one in Redis (replicas). Callers pass the time,
// so the two behave alike under the same contract tests.
import type { BreakerSpec } from './circuit.ts';
import type { WindowSpec } from './window.ts';

export type { BreakerSpec } from './circuit.ts';
export type { WindowSpec } from './window.ts';

/** What the store needs to know of a target, from the config; passed with each call. */
export interface TargetLimits {
  readonly id: string;
  /** its declared tokens per minute (with the pacing margin) */
  readonly tokens: WindowSpec | undefined;
  /** its declared requests per 10 s */
  readonly requests: WindowSpec | undefined;
  /** tokens per 10 s, for a target that spreads its budget evenly */
  readonly evenly: WindowSpec | undefined;
  readonly breaker: BreakerSpec;
}

export type SharedCondition = 'available' | 'cooling' | 'circuit-open' | 'half-open' | 'over-budget' | 'drained';

export interface TargetView {
  /** when it can take the request (≤ now: now); Infinity when drained */
  readonly at: number;
  readonly condition: SharedCondition;
  /** tokens left in its declared minute, if it declares one */
  readonly headroom: number | undefined;
}

export interface Reservation {
  readonly reserved: boolean;
  /** every target of the pool, as it stood before the reservation */
  readonly views: TargetView[];
}

export interface TargetReport {
  /** the attempt's verdict for the circuit; 'abandoned': the client left, no verdict */
  readonly outcome: 'success' | 'failure' | 'abandoned';
  /** cool it down this long (after a 429); a running longer cooldown is kept */
  readonly coolMs?: number;
  /** what a failing answer asked for: the trip time when the breaker accepts it */
  readonly retryAfterMs?: number;
}

export interface ConsumerLimits {
  /** what the windows count under: the consumer, or one of its users, IPs… */
  readonly key: string;
  readonly rpm: number | undefined;
  readonly tpm: number | undefined;
  readonly concurrent: number | undefined;
  readonly quota: Quota | undefined;
}

export interface Quota {
  /** the consumer whose quota it is */
  readonly consumer: string;
  readonly limit: number;
  /** the calendar period, e.g. "2026-11" */
  readonly period: string;
  readonly start: number;
  readonly endsAt: number;
}

export type LimitReason = 'requests' | 'tokens' | 'concurrent' | 'quota';

export interface Admission {
  readonly ok: boolean;
  /** why not, when not */
  readonly reason: LimitReason | undefined;
  /** when it would be admitted (per-minute limits) */
  readonly retryAfterMs: number | undefined;
  /** what is left in the windows after this request (when admitted) */
  readonly remainingRequests: number | undefined;
  readonly remainingTokens: number | undefined;
  /** tokens of the quota used before this request */
  readonly quotaUsed: number | undefined;
}

export interface Settlement {
  readonly lease: string;
  /** when it was admitted: the window bucket its estimate went to */
  readonly admittedAt: number;
  readonly estimate: number;
  /** tokens it really used (the estimate when upstream never said) */
  readonly actual: number;
}

export interface StateStore {
  readonly kind: 'memory' | 'redis';
  targets(limits: readonly TargetLimits[], cost: number, now: number): Promise<TargetView[]>;
  /**
   * Takes `pool[index]` for a request if it still can (its budget, and the
   * trial of a half-open circuit), in the same round trip telling how every
   * target of the pool stood: a caller that lost a race chooses again from
   * fresh views, and one that won keeps them for its next choice.
   */
  reserve(pool: readonly TargetLimits[], index: number, cost: number, now: number): Promise<Reservation>;
  report(limits: TargetLimits, report: TargetReport, now: number): Promise<void>;
  drain(id: string, drained: boolean): Promise<void>;

  /** Admits a request under a consumer's limits, all or nothing: a request, its estimated tokens, a concurrency lease. */
  admit(limits: ConsumerLimits, tokens: number, lease: string, leaseMs: number, now: number): Promise<Admission>;
  /** Replaces the estimate by what was used, counts it against the quota, and ends the lease. */
  settle(limits: ConsumerLimits, s: Settlement, now: number): Promise<void>;
  /** Starts a quota's running count from the ledger, unless the store already has one. */
  seedQuota(quota: Quota, used: number): Promise<void>;

  /**
   * Values kept for a while and seen by every replica (which endpoint made
   * an object, a cached answer). `put` replaces; a value is gone `ttlMs`
   * after it was put. A memory store holds at most a bounded number and
   * forgets the oldest first.
   */
  getValue(key: string, now: number): Promise<string | undefined>;
  putValue(key: string, value: string, ttlMs: number, now: number): Promise<void>;

  /** Resolves when the store answers (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
