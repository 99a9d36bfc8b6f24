// Smooth weighted round-robin (as nginx does it): each pick adds every
// candidate's weight to its running score, takes the highest and subtracts
// the total from it. Weights 5:1:1 give a,a,b,a,c,a,a — never a burst of five.
import type { Chooser } from './candidate.ts';

export function weightedRoundRobin(): Chooser {
  const current = new Map<string, number>();
  return (candidates) => {
    let total = 0;
    let best = candidates[0];
    let bestScore = -Infinity;
    for (const c of candidates) {
      const score = (current.get(c.target.id) ?? 0) + c.target.weight;
      current.set(c.target.id, score);
      total += c.target.weight;
      if (score > bestScore) {
        bestScore = score;
        best = c;
      }
    }
    current.set(best.target.id, bestScore - total);
    return best;
  };
}
