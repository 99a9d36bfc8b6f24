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
export type Condition = TargetView['condition'] | 'passive' | 'probe-failed' | 'credential-failed';

/** How long the store's last word on a pool is good enough to choose by (the reservation checks it anyway). */
const VIEW_TTL_MS = 1000;

interface CachedViews {
  readonly at: number;
  readonly ids: readonly string[];
  readonly views: readonly TargetView[];
}

/** Conditions that mean "throttled" (a client gets 429) rather than "broken" (503). */
const THROTTLED: ReadonlySet<Condition> = new Set(['cooling', 'passive', 'over-budget']);

export type None = {
  readonly target: undefined;
  /** when the first target of the pool is back; Infinity when none will be by itself (drained) */
  readonly backAt: number;
  /** true when what keeps them out is throttling (429), false when they are broken or drained (503) */
  readonly throttled: boolean;
  /** true when every target is out because its endpoint has no Entra token */
  readonly credential?: boolean;
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
  /** what the store last said of each pool's targets, and when */
  readonly #views = new Map<string, CachedViews>();
  #cfg: LocalHealthConfig;
  #failureStatus: (status: number) => boolean;
  #maxQueued: number;
  readonly #random: Random;

  /** told when a 429 cools a target */
  onCooldown: ((target: Target) => void) | undefined;

  constructor(resilience: ResilienceConfig, store: StateStore, random: Random = Math.random) {
    this.store = store;
    this.#random = random;
    this.#cfg = localConfig(resilience);
    this.#failureStatus = failureStatus(resilience);
    this.#maxQueued = resilience.queue.maxQueued;
  }

  /**
   * A reloaded config: its thresholds apply from now; each target it still
   * has keeps what was observed of it (its shared state is in the store,
   * by target id); strategies and lines of deployments it still has go on.
   */
  configure(resilience: ResilienceConfig, pools: Iterable<DeploymentPool>): void {
    this.#cfg = localConfig(resilience);
    this.#failureStatus = failureStatus(resilience);
    this.#maxQueued = resilience.queue.maxQueued;
    const ids = new Set<string>();
    const names = new Set<string>();
    for (const pool of pools) {
      names.add(pool.name);
      for (const t of pool.targets) {
        ids.add(t.id);
        const h = this.#health.get(t.id);
        if (h) h.update(t, this.#cfg);
        else this.#health.set(t.id, new TargetHealth(t, this.#cfg));
      }
    }
    for (const id of this.#health.keys()) if (!ids.has(id)) this.#health.delete(id);
    for (const [name, q] of this.#queues) {
      if (names.has(name)) q.max = this.#maxQueued;
      else {
        q.close();
        this.#queues.delete(name);
      }
    }
    for (const name of this.#choosers.keys()) if (!names.has(name)) this.#choosers.delete(name);
    this.#views.clear();
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

  /** Every target this router knows, by id. */
  get targets(): ReadonlyMap<string, TargetHealth> {
    return this.#health;
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
    this.#remember(pool, now, views);
    return this.#combineAll(pool, views);
  }

  /**
   * Chooses an available target of `pool` not in `tried` for a request
   * costing `cost`, and reserves it (budget, circuit trial, in flight). The
   * choice is made from what the last reservation in this pool saw, when
   * that is recent: one round trip to the store, a second only if the state
   * changed meanwhile (another replica took the last of a budget, cooled a
   * target…).
   */
  async pick(pool: DeploymentPool, tried: ReadonlySet<Target>, cost: number, now = Date.now()): Promise<Choice> {
    const cached = this.#views.get(pool.name);
    let fromCache = cached !== undefined && now - cached.at < VIEW_TTL_MS;
    let statuses = fromCache ? this.#combineAll(pool, cached!.views) : await this.status(pool, cost, now);
    const limits = pool.targets.map((t) => t.limits);
    for (let round = 0; round <= pool.targets.length; round++) {
      const candidates: Candidate[] = [];
      for (const s of statuses) {
        if (s.at <= now && !tried.has(s.target)) {
          candidates.push({ target: s.target, inFlight: s.health.inFlight, latencyMs: s.health.latencyMs, headroom: headroom(s) });
        }
      }
      if (candidates.length === 0) {
        // Nothing, by what was seen before: look again before saying so.
        if (fromCache) {
          fromCache = false;
          statuses = await this.status(pool, cost, now);
          continue;
        }
        return none(statuses, now);
      }
      const chosen = candidates.length === 1 ? candidates[0] : this.#chooser(pool)(candidates);
      const i = pool.targets.indexOf(chosen.target);
      const r = await this.store.reserve(limits, i, cost, now);
      this.#remember(pool, now, r.views);
      fromCache = false;
      statuses = this.#combineAll(pool, r.views);
      if (r.reserved) {
        const health = statuses[i].health;
        health.inFlight++;
        return { target: chosen.target, health };
      }
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
    if (coolMs !== undefined) this.onCooldown?.(target);
    this.#forget(target.id);
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
    this.#forget(id, true);
    return true;
  }

  close(): void {
    for (const q of this.#queues.values()) q.close();
  }

  #remember(pool: DeploymentPool, at: number, views: readonly TargetView[]): void {
    this.#views.set(pool.name, { at, ids: pool.targets.map((t) => t.id), views });
  }

  /**
   * An outcome this process reported may have brought a target back (a
   * trial that closed its circuit); what was remembered of it as out is
   * forgotten, so the next choice asks the store.
   */
  #forget(id: string, always = false): void {
    for (const [name, c] of this.#views) {
      const i = c.ids.indexOf(id);
      if (i !== -1 && (always || c.views[i].condition !== 'available')) this.#views.delete(name);
    }
  }

  #combineAll(pool: DeploymentPool, views: readonly TargetView[]): TargetStatus[] {
    return pool.targets.map((target, i) => this.#combine(target, views[i]));
  }

  #combine(target: Target, view: TargetView): TargetStatus {
    const health = this.health(target);
    const local = health.localAvailability();
    const later = local.at > view.at;
    let at = later ? local.at : view.at;
    let condition: Condition = later ? local.condition : view.condition;
    // An endpoint without an Entra token cannot serve, whatever else is known of the target.
    const noToken = target.endpoint.credential.unavailableUntil?.() ?? 0;
    if (noToken > at) {
      at = noToken;
      condition = 'credential-failed';
    }
    return { target, health, at, condition, headroom: view.headroom };
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

function localConfig(r: ResilienceConfig): LocalHealthConfig {
  return {
    cooldownDefaultMs: r.cooldown.defaultSeconds * 1000,
    cooldownMaxMs: r.cooldown.maxSeconds * 1000,
    remainingRequestsBelow: r.passiveHealth.remainingRequestsBelow,
    remainingTokensBelow: r.passiveHealth.remainingTokensBelow,
  };
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
  let credential = statuses.length > 0;
  for (const s of statuses) {
    if (s.at > now && THROTTLED.has(s.condition)) throttled = true;
    if (s.at <= now || s.condition !== 'credential-failed') credential = false;
    backAt = Math.min(backAt, Math.max(s.at, now));
  }
  return { target: undefined, backAt, throttled, credential };
}
