// The config the gateway runs: the file's, with the discovered targets
// joined in. The file wins: a deployment it writes keeps its strategy and
// its targets as written, and a discovered target it already lists (same
// endpoint and upstream name) is not added again. Discovered targets join
// after the written ones, in priority order; a gateway deployment only
// discovery knows is created with the endpoint's discovery.strategy.
import { configSchema, type Config, type DeploymentConfig } from '../config/schema.ts';
import type { DiscoveredTarget } from './select.ts';

/** Per endpoint (in the config), the targets its discovery selected. */
export type Discovered = ReadonlyMap<string, readonly DiscoveredTarget[]>;

export interface Merged {
  config: Config;
  /** `deployment ← endpoint/upstream` for every target discovery added */
  added: { deployment: string; target: string; priority: number; created: boolean }[];
}

export function mergeDiscovered(base: Config, found: Discovered): Merged {
  const joined = new Map<string, { strategy: string; targets: (DiscoveredTarget & { endpoint: string })[] }>();
  for (const endpoint of [...found.keys()].sort()) {
    const cfg = base.endpoints[endpoint]?.discovery;
    if (!cfg) continue;
    for (const t of found.get(endpoint) ?? []) {
      const written = base.deployments[t.deployment];
      if (written?.targets.some((w) => w.endpoint === endpoint && (w.deployment ?? t.deployment) === t.upstream)) continue;
      let entry = joined.get(t.deployment);
      if (!entry) joined.set(t.deployment, (entry = { strategy: written?.strategy ?? cfg.strategy, targets: [] }));
      if (entry.targets.some((o) => o.endpoint === endpoint && o.upstream === t.upstream)) continue;
      entry.targets.push({ ...t, endpoint });
    }
  }
  if (joined.size === 0) return { config: base, added: [] };

  // Parsed by the config's own schema, so discovered targets and deployments get every default a written one would.
  const raw: Record<string, unknown> = {};
  for (const [name, entry] of joined) {
    entry.targets.sort((a, b) => a.priority - b.priority || a.endpoint.localeCompare(b.endpoint) || a.upstream.localeCompare(b.upstream));
    raw[name] = {
      strategy: entry.strategy,
      targets: entry.targets.map((t) => ({
        endpoint: t.endpoint,
        deployment: t.upstream,
        priority: t.priority,
        ...(t.tpm !== undefined ? { tpm: t.tpm } : {}),
        ...(t.rpm !== undefined ? { rpm: t.rpm } : {}),
      })),
    };
  }
  const parsed = configSchema.shape.deployments.safeParse(raw);
  if (!parsed.success) throw new Error(`discovered deployments do not fit the config schema: ${parsed.error.issues[0]?.message ?? ''}`);

  const deployments: Record<string, DeploymentConfig> = { ...base.deployments };
  const added: Merged['added'] = [];
  for (const [name, dep] of Object.entries(parsed.data)) {
    const written = base.deployments[name];
    deployments[name] = written ? { ...written, targets: [...written.targets, ...dep.targets] } : dep;
    for (const t of dep.targets) added.push({ deployment: name, target: `${t.endpoint}/${t.deployment}`, priority: t.priority, created: !written });
  }
  return { config: { ...base, deployments }, added };
}
