// Picks a target for each attempt: among the deployment's targets that are
// available — by what every replica knows (the state store: cooldown,
// circuit, budget, drain) and by what this process observed (passive
// thresholds, probes) — and not tried yet, the one the deployment's strategy
// chooses; then reserves it in the store, which another replica may have
// beaten us to.
import type { ResilienceConfig } from '../config/schema.ts';
import type { StateStore, TargetView } from '../state/store.ts';
import { failureStatus } from './limits.ts';
import { retryDelayMs } from './retry-headers.ts';
import { STRATEGY, type Candidate, type Chooser, type Random } from './strategies/index.ts';
import type { DeploymentPool, Target } from './target.ts';
import { TargetHealth, type AttemptResult, type LocalHealthConfig } from './target-health.ts';
import { WaitQueue } from './wait-queue.ts';

/** Why a target is out (or that it is not). */
export type Condition = TargetView['condition'] | 'passive' | 'probe-failed';

/** Conditions that mean "throttled" (a client gets 429) rather than "broken" (503). */
const THROTTLED: ReadonlySet<Condition> = new Set(['cooling', 'passive', 'over-budget']);

export type None = {
  readonly target: undefined;
  /** when the first target of the pool is back; Infinity when none will be by itself (drained) */
  readonly backAt: number;
  /** true when what keeps them out is throttling (429), false when they are broken or drained (503) */
  readonly throttled: boolean;
};

export type Choice = { readonly target: Target; readonly health: TargetHealth } | None;

export interface TargetStatus {
  readonly target: Target;
  readonly health: TargetHealth;
  readonly at: number;
  readonly condition: Condition;
  readonly headroom: number | undefined;
}

export class Router {
  readonly store: StateStore;
  readonly #health = new Map<string, TargetHealth>();
  readonly #choosers = new Map<string, Chooser>();
  readonly #queues = new Map<string, WaitQueue>();
  readonly #cfg: LocalHealthConfig;
  readonly #failureStatus: (status: number) => boolean;
  readonly #maxQueued: number;
  readonly #random: Random;

  constructor(resilience: ResilienceConfig, store: StateStore, random: Random = Math.random) {
    this.store = store;
    this.#cfg = {
      cooldownDefaultMs: resilience.cooldown.defaultSeconds * 1000,
      cooldownMaxMs: resilience.cooldown.maxSeconds * 1000,
      remainingRequestsBelow: resilience.passiveHealth.remainingRequestsBelow,
      remainingTokensBelow: resilience.passiveHealth.remainingTokensBelow,
    };
    this.#failureStatus = failureStatus(resilience);
    this.#maxQueued = resilience.queue.maxQueued;
    this.#random = random;
  }

  /** What this process observed of a target, created on first use. */
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

  /** Every target of `pool` with when it can take a request costing `cost`, and why not. */
  async status(pool: DeploymentPool, cost: number, now = Date.now()): Promise<TargetStatus[]> {
    const views = await this.store.targets(
      pool.targets.map((t) => t.limits),
      cost,
      now,
    );
    return pool.targets.map((target, i) => this.#combine(target, views[i]));
  }

  /**
   * Chooses an available target of `pool` not in `tried` for a request
   * costing `cost`, and reserves it (budget, circuit trial, in flight).
   */
  async pick(pool: DeploymentPool, tried: ReadonlySet<Target>, cost: number, now = Date.now()): Promise<Choice> {
    const statuses = await this.status(pool, cost, now);
    for (let round = 0; round < pool.targets.length; round++) {
      const candidates: Candidate[] = [];
      for (const s of statuses) {
        if (s.at <= now && !tried.has(s.target)) {
          candidates.push({ target: s.target, inFlight: s.health.inFlight, latencyMs: s.health.latencyMs, headroom: headroom(s) });
        }
      }
      if (candidates.length === 0) return none(statuses, now);
      const chosen = candidates.length === 1 ? candidates[0] : this.#chooser(pool)(candidates);
      const i = pool.targets.indexOf(chosen.target);
      const view = await this.store.reserve(chosen.target.limits, cost, now);
      if (view.condition === 'available') {
        const health = statuses[i].health;
        health.inFlight++;
        return { target: chosen.target, health };
      }
      // Another replica took what was left: look again without it.
      statuses[i] = this.#combine(chosen.target, view);
    }
    return none(statuses, now);
  }

  /** When the first target of `pool` can take a request costing `cost` (now, if one can), reserving nothing. */
  async outlook(pool: DeploymentPool, cost: number, now = Date.now()): Promise<None> {
    return none(await this.status(pool, cost, now), now);
  }

  /** Records how an attempt on `target` ended, here and in the store. */
  finish(target: Target, result: AttemptResult, now = Date.now()): void {
    const h = this.health(target);
    h.inFlight--;
    const coolMs = h.observe(result, now);
    let outcome: 'success' | 'failure' | 'abandoned';
    let retryAfterMs: number | undefined;
    if (result.kind === 'abandoned') outcome = 'abandoned';
    else if (result.kind !== 'response') outcome = 'failure';
    else if (this.#failureStatus(result.status)) {
      outcome = 'failure';
      retryAfterMs = retryDelayMs(result.headers, now);
    } else outcome = 'success';
    void this.store.report(target.limits, { outcome, coolMs, retryAfterMs }, now).catch(() => {});
  }

  /** The result of an active probe. */
  probed(target: Target, answer: Parameters<TargetHealth['probed']>[0], intervalMs: number, now = Date.now()): void {
    const coolMs = this.health(target).probed(answer, intervalMs, now);
    if (coolMs !== undefined) void this.store.report(target.limits, { outcome: 'success', coolMs }, now).catch(() => {});
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

  /** Takes a target out of rotation on every replica, or puts it back. False for an unknown target id. */
  async drain(id: string, drained = true): Promise<boolean> {
    if (!this.#health.has(id)) return false;
    await this.store.drain(id, drained);
    return true;
  }

  close(): void {
    for (const q of this.#queues.values()) q.close();
  }

  #combine(target: Target, view: TargetView): TargetStatus {
    const health = this.health(target);
    const local = health.localAvailability();
    const later = local.at > view.at;
    return {
      target,
      health,
      at: later ? local.at : view.at,
      condition: later ? local.condition : view.condition,
      headroom: view.headroom,
    };
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

/** Tokens a target can still take: the store's count of its declared minute, or what it last reported, the lower. */
function headroom(s: TargetStatus): number | undefined {
  const reported = s.health.lastRemainingTokens;
  if (s.headroom === undefined) return reported;
  return reported === undefined ? s.headroom : Math.min(s.headroom, reported);
}

/** No target: when the first is back (a tried one that could serve counts as back now), and whether throttling or breakage keeps them out. */
function none(statuses: readonly TargetStatus[], now: number): None {
  let backAt = Infinity;
  let throttled = false;
  for (const s of statuses) {
    if (s.at > now && THROTTLED.has(s.condition)) throttled = true;
    backAt = Math.min(backAt, Math.max(s.at, now));
  }
  return { target: undefined, backAt, throttled };
}
