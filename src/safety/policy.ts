// Which checks apply to a request: its deployment's contentSafety policy and
// its consumer's, combined so that the stricter wins — every category either
// names, at the lower of the two thresholds; Prompt Shields if either asks;
// every blocklist of both. Compiled once per config snapshot.
import type { Config, ContentSafetyPolicyConfig } from '../config/schema.ts';
import { CATEGORIES, type Category } from './client.ts';

export interface SafetyPolicy {
  /** block at or above this severity; a category not here is not checked */
  readonly thresholds: ReadonlyMap<Category, number>;
  readonly promptShields: boolean;
  readonly blocklists: readonly string[];
}

export function compilePolicy(cfg: ContentSafetyPolicyConfig): SafetyPolicy {
  const thresholds = new Map<Category, number>();
  for (const c of CATEGORIES) {
    const t = cfg.categories[c];
    if (t !== undefined) thresholds.set(c, t);
  }
  return { thresholds, promptShields: cfg.promptShields, blocklists: [...new Set(cfg.blocklists)] };
}

/** The stricter of two policies, check by check. */
export function stricter(a: SafetyPolicy, b: SafetyPolicy): SafetyPolicy {
  const thresholds = new Map(a.thresholds);
  for (const [c, t] of b.thresholds) thresholds.set(c, Math.min(t, thresholds.get(c) ?? t));
  return { thresholds, promptShields: a.promptShields || b.promptShields, blocklists: [...new Set([...a.blocklists, ...b.blocklists])] };
}

export class PolicyIndex {
  readonly #deployments = new Map<string, SafetyPolicy>();
  readonly #consumers = new Map<string, SafetyPolicy>();
  /** combined policies, per consumer and deployment: bounded by the config's names */
  readonly #combined = new Map<string, SafetyPolicy | null>();

  constructor(config: Config) {
    for (const [name, d] of Object.entries(config.deployments)) if (d.contentSafety) this.#deployments.set(name, compilePolicy(d.contentSafety));
    for (const [name, c] of Object.entries(config.consumers)) if (c.contentSafety) this.#consumers.set(name, compilePolicy(c.contentSafety));
  }

  /** Whether any policy is configured at all. */
  get empty(): boolean {
    return this.#deployments.size === 0 && this.#consumers.size === 0;
  }

  policyFor(consumer: string, deployment: string): SafetyPolicy | undefined {
    const key = `${consumer}\n${deployment}`;
    let p = this.#combined.get(key);
    if (p === undefined) {
      const c = this.#consumers.get(consumer);
      const d = this.#deployments.get(deployment);
      p = c && d ? stricter(c, d) : (c ?? d ?? null);
      // discovered deployments come and go: keep the map bounded all the same
      if (this.#combined.size >= 10_000) this.#combined.clear();
      this.#combined.set(key, p);
    }
    return p ?? undefined;
  }
}
