import type { Endpoint } from '../upstream/endpoint.ts';
import type { STRATEGIES } from '../config/schema.ts';

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
  /**
   * Spread its tokens evenly (at most tpm/6 in any 10 s), not only within
   * the minute: set for targets of a `priority` deployment that have a lower
   * group to spill to, so the spill is steady rather than minute-long waves.
   */
  readonly smooth: boolean;
}

/** A deployment as clients name it: a pool of targets. */
export interface DeploymentPool {
  readonly name: string;
  readonly strategy: (typeof STRATEGIES)[number];
  readonly targets: readonly Target[];
  /** whether a target declares tpm, so requests must be costed before one is picked */
  readonly paced: boolean;
  readonly defaultMaxTokens: number;
}
