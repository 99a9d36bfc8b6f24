// Which of an account's deployments become targets, in which gateway
// deployment, at which priority and capacity: a pure function of the ARM
// list and the endpoint's discovery config, so a reload that changes only
// the patterns applies at once, without asking ARM again.
import { matchesGlob } from 'node:path';
import { NAME, type DiscoveryConfig } from '../config/schema.ts';
import type { ArmDeployment } from './arm-client.ts';

export interface DiscoveredTarget {
  /** the gateway deployment it joins */
  deployment: string;
  /** its name on the endpoint */
  upstream: string;
  model: string | undefined;
  sku: string | undefined;
  priority: number;
  tpm: number | undefined;
  rpm: number | undefined;
}

export interface Selection {
  targets: DiscoveredTarget[];
  /** listed but not taken, with why */
  skipped: { name: string; reason: string }[];
}

/** Glob patterns without path separators: `*` and `?` stop at nothing in a deployment name. */
const matches = (value: string | undefined, patterns: readonly string[]) =>
  value !== undefined && patterns.some((p) => matchesGlob(value, p));

const validName = (s: string) => NAME.test(s) && !s.includes('..');

export function selectTargets(list: readonly ArmDeployment[], cfg: DiscoveryConfig): Selection {
  const targets: DiscoveredTarget[] = [];
  const skipped: Selection['skipped'] = [];
  const rule = typeof cfg.groupBy === 'object' ? new RegExp(cfg.groupBy.pattern) : undefined;
  for (const d of list) {
    const skip = (reason: string) => skipped.push({ name: d.name, reason });
    if (d.provisioningState !== undefined && d.provisioningState !== 'Succeeded') {
      skip(`provisioningState ${d.provisioningState}`);
      continue;
    }
    if (!(matches(d.name, cfg.include) || matches(d.model, cfg.include))) {
      skip('matches no include pattern');
      continue;
    }
    if (matches(d.name, cfg.exclude) || matches(d.model, cfg.exclude)) {
      skip('matches an exclude pattern');
      continue;
    }
    let deployment: string | undefined;
    if (cfg.groupBy === 'name') deployment = d.name;
    else if (cfg.groupBy === 'model') deployment = d.model;
    else deployment = rule?.exec(d.name)?.groups?.deployment;
    if (!deployment) {
      skip(cfg.groupBy === 'model' ? 'no model name' : 'the naming rule does not match');
      continue;
    }
    if (!validName(deployment) || !validName(d.name)) {
      skip('not a name the gateway can route (letters, digits, ".", "_", "-")');
      continue;
    }
    targets.push({
      deployment,
      upstream: d.name,
      model: d.model,
      sku: d.sku,
      priority: (d.sku !== undefined ? cfg.priority[d.sku] : undefined) ?? cfg.priority.default ?? 2,
      tpm: cfg.capacity ? d.tpm : undefined,
      rpm: cfg.capacity ? d.rpm : undefined,
    });
  }
  return { targets, skipped };
}
