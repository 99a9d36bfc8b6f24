// Two targets drawn at random (by weight); the one with fewer in flight wins.
import { weightedRandom, type Chooser, type Random } from './candidate.ts';

export function powerOfTwo(random: Random): Chooser {
  return (candidates) => {
    if (candidates.length === 1) return candidates[0];
    const a = weightedRandom(candidates, random);
    const b = weightedRandom(candidates.filter((c) => c !== a), random);
    return b.inFlight < a.inFlight ? b : a;
  };
}
