// Weighted random over every available target, priorities ignored.
import { weightedRandom, type Chooser, type Random } from './candidate.ts';

export function random(rand: Random): Chooser {
  return (candidates) => weightedRandom(candidates, rand);
}
