// The compiled, immutable form of a config that the request path reads.
// Built once per (re)load; nothing on the hot path looks at the raw config.
// A request keeps the snapshot it started with, so a reload never changes
// a request half-way.
import { isDeepStrictEqual } from 'node:util';
import { KeyIndex } from '../auth/consumer-keys.ts';
import { compileEntraConsumers, type EntraConsumers } from '../auth/entra-consumers.ts';
import { compileCachePolicy } from '../cache/policy.ts';
import { NetworkList } from '../auth/networks.ts';
import type { Config } from '../config/schema.ts';
import { breakerSpec, targetLimits } from '../routing/limits.ts';
import { Router } from '../routing/router.ts';
import type { DeploymentPool, Target } from '../routing/target.ts';
import { MemoryStore } from '../state/memory-store.ts';
import { Endpoint } from '../upstream/endpoint.ts';

export interface Runtime {
  readonly config: Config;
  readonly endpoints: ReadonlyMap<string, Endpoint>;
  readonly deployments: ReadonlyMap<string, DeploymentPool>;
  readonly keys: KeyIndex;
  /** apps authenticating with Entra ID tokens (the config's entra section); undefined without one */
  readonly entra: EntraConsumers | undefined;
  /** whose X-Forwarded-For is believed; undefined: no one's */
  readonly trustedProxies: NetworkList | undefined;
  /** target health and the choice among targets; outlives the snapshot */
  readonly router: Router;
  /** Closes the upstream pools; `force` aborts requests still running. */
  close(force?: boolean): Promise<void>;
}

/**
 * `router` carries target health across reloads (by default a fresh one on
 * an in-memory store). `previous`: the snapshot being replaced — its
 * endpoints whose config is unchanged are kept, connections and all.
 */
export function compileRuntime(config: Config, router: Router = new Router(config.resilience, new MemoryStore()), previous?: Runtime): Runtime {
  const breaker = breakerSpec(config.resilience);
  const endpoints = new Map<string, Endpoint>();
  const sameTimeouts = previous !== undefined && isDeepStrictEqual(previous.config.resilience.timeouts, config.resilience.timeouts);
  for (const [name, cfg] of Object.entries(config.endpoints)) {
    const old = previous?.endpoints.get(name);
    const keep = old && sameTimeouts && isDeepStrictEqual(previous!.config.endpoints[name], cfg);
    endpoints.set(name, keep ? old : new Endpoint(name, cfg, config.resilience.timeouts));
  }
  const deployments = new Map<string, DeploymentPool>();
  for (const [name, dep] of Object.entries(config.deployments)) {
    const lastGroup = Math.max(...dep.targets.map((t) => t.priority));
    const targets: Target[] = dep.targets.map((t) => {
      const upstreamName = t.deployment ?? name;
      const id = `${t.endpoint}/${upstreamName}`;
      return {
        id,
        endpoint: endpoints.get(t.endpoint) as Endpoint,
        upstreamName,
        priority: t.priority,
        weight: t.weight,
        tpm: t.tpm,
        rpm: t.rpm,
        limits: targetLimits(id, t, breaker, dep.strategy === 'priority' && t.priority < lastGroup),
      };
    });
    deployments.set(name, {
      name,
      strategy: dep.strategy,
      targets,
      paced: targets.some((t) => t.tpm !== undefined),
      defaultMaxTokens: dep.defaultMaxTokens,
      cache: compileCachePolicy(name, dep),
    });
  }
  router.configure(config.resilience, deployments.values());
  const keys = new KeyIndex(config.consumers);
  return {
    config,
    endpoints,
    deployments,
    keys,
    entra: compileEntraConsumers(config, keys, previous?.entra),
    trustedProxies: config.listen.trustedProxies.length ? new NetworkList(config.listen.trustedProxies) : undefined,
    router,
    async close(force = false) {
      await Promise.all([...endpoints.values()].map((e) => (force ? e.destroy() : e.close())));
    },
  };
}

/** The endpoints of `old` that `next` no longer uses: to close once their requests are done. */
export function retiredEndpoints(old: Runtime, next: Runtime): Endpoint[] {
  const kept = new Set(next.endpoints.values());
  return [...old.endpoints.values()].filter((e) => !kept.has(e));
}
