// The targets a request about a stored object may go to, per config
// snapshot: a deployment's targets on one endpoint (a Responses turn that
// continues a response stored there), or the endpoint itself for calls that
// name no deployment (`GET /files/{id}`) — a target of its own, `east/*`,
// with its own circuit and cooldown, so a chat deployment's 429s do not shut
// out file downloads. Built on first use for each snapshot and dropped with
// it.
import type { Consumer } from '../auth/consumer-keys.ts';
import { mayUse } from '../auth/consumer-keys.ts';
import type { TargetConfig } from '../config/schema.ts';
import { breakerSpec, targetLimits } from '../routing/limits.ts';
import type { DeploymentPool, Target } from '../routing/target.ts';
import type { Runtime } from '../runtime/runtime.ts';

interface Index {
  /** endpoint → its own pool */
  readonly endpoints: Map<string, DeploymentPool>;
  /** `deployment@endpoint` → the deployment's targets there (null: none) */
  readonly subsets: Map<string, DeploymentPool | null>;
  /** consumer name → the endpoints its deployments have targets on */
  readonly reach: Map<string, ReadonlySet<string>>;
}

const indexes = new WeakMap<Runtime, Index>();

function indexOf(runtime: Runtime): Index {
  let i = indexes.get(runtime);
  if (!i) indexes.set(runtime, (i = { endpoints: new Map(), subsets: new Map(), reach: new Map() }));
  return i;
}

/** The pool of one target standing for the endpoint itself, for calls that name no deployment. */
export function endpointPool(runtime: Runtime, endpoint: string): DeploymentPool {
  const index = indexOf(runtime);
  let pool = index.endpoints.get(endpoint);
  if (!pool) {
    const id = `${endpoint}/*`;
    const cfg = { endpoint, priority: 1, weight: 1 } as TargetConfig;
    const target: Target = {
      id,
      endpoint: runtime.endpoints.get(endpoint)!,
      upstreamName: '',
      priority: 1,
      weight: 1,
      tpm: undefined,
      rpm: undefined,
      limits: targetLimits(id, cfg, breakerSpec(runtime.config.resilience), false),
    };
    pool = { name: `*@${endpoint}`, strategy: 'priority', targets: [target], paced: false, defaultMaxTokens: 1000 };
    index.endpoints.set(endpoint, pool);
  }
  return pool;
}

/**
 * The targets of `deployment` on `endpoint`: the deployment itself when all
 * of them are there, else a pool of its own name (`gpt-4o@east`, so the
 * router's per-pool memory is not mixed with the whole deployment's);
 * undefined when it has none there.
 */
export function poolOn(runtime: Runtime, deployment: DeploymentPool, endpoint: string): DeploymentPool | undefined {
  const index = indexOf(runtime);
  const name = `${deployment.name}@${endpoint}`;
  let pool = index.subsets.get(name);
  if (pool === undefined) {
    const targets = deployment.targets.filter((t) => t.endpoint.name === endpoint);
    pool =
      targets.length === 0
        ? null
        : targets.length === deployment.targets.length
          ? deployment
          : { ...deployment, name, targets, paced: targets.some((t) => t.tpm !== undefined) };
    index.subsets.set(name, pool);
  }
  return pool ?? undefined;
}

/** The endpoints a consumer may reach: those its allowed deployments have targets on. */
export function reachable(runtime: Runtime, consumer: Consumer): ReadonlySet<string> {
  const index = indexOf(runtime);
  let set = index.reach.get(consumer.name);
  if (!set) {
    const s = new Set<string>();
    for (const [name, pool] of runtime.deployments) {
      if (mayUse(consumer, name)) for (const t of pool.targets) s.add(t.endpoint.name);
    }
    index.reach.set(consumer.name, (set = s));
  }
  return set;
}
