// The target with the fewest requests in flight; ties broken at random by weight.
import { weightedRandom, type Chooser, type Random } from './candidate.ts';

export function leastRequests(random: Random): Chooser {
  return (candidates) => {
    let fewest = Infinity;
    for (const c of candidates) if (c.inFlight < fewest) fewest = c.inFlight;
    return weightedRandom(candidates.filter((c) => c.inFlight === fewest), random);
  };
}
