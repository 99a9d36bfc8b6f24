// Picks a target for each attempt: the available targets of the deployment
// not tried yet, chosen by the deployment's strategy. Holds every target's
// health, by target id.
import type { ResilienceConfig } from '../config/schema.ts';
import { STRATEGY, type Candidate, type Chooser, type Random } from './strategies/index.ts';
import type { DeploymentPool, Target } from './target.ts';
import { TargetHealth, THROTTLED, type Condition, type HealthConfig } from './target-health.ts';
import { WaitQueue } from './wait-queue.ts';

export type Choice =
  | { readonly target: Target; readonly health: TargetHealth }
  | {
      readonly target: undefined;
      /** when the first target of the pool is back; Infinity when none will be by itself (drained) */
      readonly backAt: number;
      /** true when what keeps them out is throttling (429), false when they are broken or drained (503) */
      readonly throttled: boolean;
    };

export class Router {
  readonly #health = new Map<string, TargetHealth>();
  readonly #choosers = new Map<string, Chooser>();
  readonly #queues = new Map<string, WaitQueue>();
  readonly #maxQueued: number;
  readonly #cfg: HealthConfig;
  readonly #random: Random;

  constructor(resilience: ResilienceConfig, random: Random = Math.random) {
    this.#cfg = healthConfig(resilience);
    this.#random = random;
    this.#maxQueued = resilience.queue.maxQueued;
  }

  /** The health of a target, created on first use. */
  health(target: Target): TargetHealth {
    let h = this.#health.get(target.id);
    if (!h) {
      h = new TargetHealth(target, this.#cfg);
      this.#health.set(target.id, h);
    }
    return h;
  }

  healthById(id: string): TargetHealth | undefined {
    return this.#health.get(id);
  }

  /**
   * Chooses an available target of `pool` not in `tried` for a request
   * costing `cost` tokens, and reserves it (in flight, budget, circuit trial).
   */
  pick(pool: DeploymentPool, tried: ReadonlySet<Target>, cost: number, now = Date.now()): Choice {
    const candidates: Candidate[] = [];
    let backAt = Infinity;
    let throttled = false;
    let earliest: Condition = 'drained';
    for (const target of pool.targets) {
      const h = this.health(target);
      const { at, condition } = h.availability(now, cost);
      if (at <= now) {
        if (!tried.has(target)) candidates.push({ target, inFlight: h.inFlight, latencyMs: h.latencyMs, headroom: h.headroom(now) });
        else if (now < backAt) backAt = now;
        continue;
      }
      if (THROTTLED.has(condition)) throttled = true;
      if (at < backAt) {
        backAt = at;
        earliest = condition;
      }
    }
    if (candidates.length === 0) return { target: undefined, backAt, throttled: throttled || THROTTLED.has(earliest) };
    const chosen = candidates.length === 1 ? candidates[0] : this.#chooser(pool)(candidates);
    const health = this.health(chosen.target);
    health.reserve(cost, now);
    return { target: chosen.target, health };
  }

  /** When the first target of `pool` can take a request costing `cost` (now, if one can), reserving nothing. */
  outlook(pool: DeploymentPool, cost: number, now = Date.now()): Extract<Choice, { target: undefined }> {
    let backAt = Infinity;
    let throttled = false;
    for (const target of pool.targets) {
      const { at, condition } = this.health(target).availability(now, cost);
      if (THROTTLED.has(condition)) throttled = true;
      if (at < backAt) backAt = Math.max(at, now);
    }
    return { target: undefined, backAt, throttled };
  }

  /** The line of requests waiting for a target of `pool`. */
  queue(pool: DeploymentPool): WaitQueue {
    let q = this.#queues.get(pool.name);
    if (!q) {
      q = new WaitQueue(this.#maxQueued);
      this.#queues.set(pool.name, q);
    }
    return q;
  }

  close(): void {
    for (const q of this.#queues.values()) q.close();
  }

  /** Takes a target out of rotation until undrained. Returns false for an unknown target id. */
  drain(id: string, drained = true): boolean {
    const h = this.#health.get(id);
    if (!h) return false;
    h.drained = drained;
    return true;
  }

  #chooser(pool: DeploymentPool): Chooser {
    let c = this.#choosers.get(pool.name);
    if (!c) {
      c = STRATEGY[pool.strategy](this.#random);
      this.#choosers.set(pool.name, c);
    }
    return c;
  }
}

export function healthConfig(r: ResilienceConfig): HealthConfig {
  const cb = r.circuitBreaker;
  const percent = typeof cb.failures === 'string';
  const ranges = cb.statusRanges.map((s) => {
    const [lo, hi] = s.split('-').map(Number);
    return [lo, hi ?? lo] as const;
  });
  return {
    cooldownDefaultMs: r.cooldown.defaultSeconds * 1000,
    cooldownMaxMs: r.cooldown.maxSeconds * 1000,
    remainingRequestsBelow: r.passiveHealth.remainingRequestsBelow,
    remainingTokensBelow: r.passiveHealth.remainingTokensBelow,
    breaker: {
      threshold: percent ? parseFloat(cb.failures as string) : (cb.failures as number),
      percent,
      minimumCalls: cb.minimumCalls,
      windowMs: cb.windowSeconds * 1000,
      tripMs: cb.tripSeconds * 1000,
      acceptRetryAfter: cb.acceptRetryAfter,
    },
    failureStatus: (status) => ranges.some(([lo, hi]) => status >= lo && status <= hi),
  };
}
