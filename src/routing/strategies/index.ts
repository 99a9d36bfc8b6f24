import type { STRATEGIES } from '../../config/schema.ts';
import type { Chooser, Random } from './candidate.ts';
import { capacity } from './capacity.ts';
import { latency } from './latency.ts';
import { leastRequests } from './least-requests.ts';
import { powerOfTwo } from './power-of-two.ts';
import { priority } from './priority.ts';
import { random } from './random.ts';
import { roundRobin } from './round-robin.ts';
import { weightedRoundRobin } from './weighted-round-robin.ts';

export type { Candidate, Chooser, Random } from './candidate.ts';
export type StrategyName = (typeof STRATEGIES)[number];

/** One chooser per deployment: those with state keep it per deployment. */
export const STRATEGY: Record<StrategyName, (random: Random) => Chooser> = {
  priority,
  'round-robin': roundRobin,
  'weighted-round-robin': weightedRoundRobin,
  random,
  'least-requests': leastRequests,
  'power-of-two': powerOfTwo,
  latency,
  capacity,
};
