// The lowest priority number among the available targets, weighted at random
// inside that group: the next group is used only when the whole group above
// it is unavailable.
import { weightedRandom, type Chooser, type Random } from './candidate.ts';

export function priority(random: Random): Chooser {
  return (candidates) => {
    let best = Infinity;
    for (const c of candidates) if (c.target.priority < best) best = c.target.priority;
    const group = candidates.filter((c) => c.target.priority === best);
    return weightedRandom(group, random);
  };
}
