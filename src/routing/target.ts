import type { CachePolicy } from '../cache/policy.ts';
import type { STRATEGIES } from '../config/schema.ts';
import type { TargetLimits } from '../state/store.ts';
import type { Endpoint } from '../upstream/endpoint.ts';

/** One upstream deployment a gateway deployment can send to. */
export interface Target {
  /** `endpoint/deployment`, unique in the config */
  readonly id: string;
  readonly endpoint: Endpoint;
  /** the deployment's name on its endpoint */
  readonly upstreamName: string;
  readonly priority: number;
  readonly weight: number;
  readonly tpm: number | undefined;
  readonly rpm: number | undefined;
  /** what the state store checks for it: budgets (tpm/rpm, and an even spread for a target that spills), circuit */
  readonly limits: TargetLimits;
}

/** A deployment as clients name it: a pool of targets. */
export interface DeploymentPool {
  readonly name: string;
  readonly strategy: (typeof STRATEGIES)[number];
  readonly targets: readonly Target[];
  /** whether a target declares tpm, so requests must be costed before one is picked */
  readonly paced: boolean;
  readonly defaultMaxTokens: number;
  /** the response cache's settings, when the deployment has one */
  readonly cache?: CachePolicy;
}
